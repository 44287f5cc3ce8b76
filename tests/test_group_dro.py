"""Worst-group training weights (experiments/group_dro.py)."""

import numpy as np

from .conftest import experiment, fixed_model_summary

dro = experiment("group_dro")


def _easy_and_hard(rng, n=300):
    """Three labels; column 0 separates them clearly in group "easy", barely in "hard"."""
    y = np.tile(["a", "b", "c"], n // 3)
    group = np.repeat(["easy", "hard"], n // 2)
    X = rng.normal(size=(n, 20))
    X[:, 0] += np.where(group == "easy", 3.0, 0.3) * (np.searchsorted(["a", "b", "c"], y) - 1)
    return X, y, group


def test_the_group_the_model_fits_worse_gains_weight():
    X, y, group = _easy_and_hard(np.random.default_rng(0))
    w, q = dro.dro_weights(X, y, group)
    assert set(q) == {"easy", "hard"} and q["hard"] > q["easy"]
    np.testing.assert_allclose([w[group == g].sum() for g in ("easy", "hard")],
                               [q["easy"], q["hard"]], atol=1e-4)
    # no step: equal group weights, each spread over its rows
    w0, q0 = dro.dro_weights(X, y, group, steps=0)
    assert q0 == {"easy": 0.5, "hard": 0.5} and np.allclose(w0, 1 / y.size)


def test_the_weights_are_computed_on_the_fits_rows_once():
    X, y, group = _easy_and_hard(np.random.default_rng(1))
    weights = dro.dro_weight_function(X, y, group)
    rows = np.flatnonzero(group == "hard")
    w = weights(rows)
    assert w.shape == (rows.size,) and np.allclose(w, 1 / rows.size)  # one group
    assert weights(rows) is w  # memoised: ridge and logreg of a fold read the same
    both = np.arange(y.size)
    np.testing.assert_allclose(weights(both), dro.dro_weights(X, y, group)[0])


def test_the_verdict_follows_row_selections_rule():
    names = [dro.variant_name(g) for g in dro.GROUPINGS]
    summary = fixed_model_summary(dict.fromkeys(names, (0.41, 0.405)))
    assert "No variant is a lead" in dro.render(summary)
    summary = fixed_model_summary(dict.fromkeys(names, (0.41, 0.41)))
    assert ("Leads by the rule: group DRO over each corpus, group DRO over each speaker."
            in dro.render(summary))
