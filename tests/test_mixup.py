"""Mixup of training clips' features (experiments/mixup.py)."""

import numpy as np

from .conftest import experiment, fixed_model_summary

mixup = experiment("mixup")
floor = experiment("floor_ablation")


def test_each_mixed_row_carries_both_labels_at_their_shares():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), np.tile(["angry", "sad", "happy"], 20)
    Xa, ya, wa = mixup.mixed_rows(X, y, alpha=1.0, rng=np.random.default_rng(1))
    n = y.size
    assert Xa.shape == (3 * n, 4) and ya.shape == wa.shape == (3 * n,)
    np.testing.assert_array_equal(Xa[:n], X)
    np.testing.assert_array_equal(ya[:n], y)
    assert (wa[:n] == 1).all()
    np.testing.assert_array_equal(Xa[n:2 * n], Xa[2 * n:])  # the same mixed rows twice
    np.testing.assert_allclose(wa[n:2 * n] + wa[2 * n:], 1.0)
    np.testing.assert_array_equal(ya[n:2 * n], y)
    # every mixed row lies between its two rows: lam x_i + (1 - lam) x_j
    lam = wa[n:2 * n]
    for i in range(n):
        between = np.isclose(lam[i] * X[i] + (1 - lam[i]) * X, Xa[n + i]).all(axis=1)
        assert (between & (y == ya[2 * n + i])).any()  # a partner with the second label


def test_a_near_zero_alpha_adds_copies_of_training_rows_with_their_labels():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(50, 3)), np.tile(["angry", "sad"], 25)
    Xa, ya, wa = mixup.mixed_rows(X, y, alpha=1e-4, rng=np.random.default_rng(3))
    n = y.size
    for i in range(n, 3 * n):  # the heavier label of a mixed row is that of its near copy
        nearest = np.abs(X - Xa[i]).max(axis=1).argmin()
        assert np.allclose(Xa[i], X[nearest], atol=0.05)
        heavy = i if wa[i] > 0.5 else (i + n if i < 2 * n else i - n)
        assert ya[heavy] == y[nearest]


def test_the_models_fit_on_the_mixed_rows():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 6))
    y = np.tile(["angry", "sad", "happy"], 40)
    X[:, 0] += (np.searchsorted(["angry", "happy", "sad"], y) - 1) * 2.0
    for name, make in mixup.mixup_models(1.0, seed=0).items():
        mixed = make().fit(X, y)
        plain = floor._models()[name]().fit(X, y)
        assert list(mixed.classes_) == sorted(set(y))
        assert (mixed.predict(X) == plain.predict(X)).mean() >= 0.8, name
        assert not np.allclose(mixed.model_[-1].coef_, plain[-1].coef_), name


def test_the_verdict_follows_row_selections_rule():
    names = [mixup.variant_name(a) for a in mixup.ALPHAS]
    summary = fixed_model_summary(dict.fromkeys(names, (0.41, 0.405)))
    assert "No variant is a lead" in mixup.render(summary)
    summary = fixed_model_summary(dict.fromkeys(names, (0.41, 0.41)))
    assert "Leads by the rule: mixup (alpha 0.2), mixup (alpha 1)." in mixup.render(summary)
