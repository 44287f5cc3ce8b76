"""A temperature that grows with atypicality (experiments/typicality_temperature.py)."""

import numpy as np

from ser_classic.calibration import apply_temperature

from .conftest import experiment

tt = experiment("typicality_temperature")


def _overconfident_where_atypical(n: int, rng: np.random.Generator):
    """Rows whose true temperature is 1 where ``u < 0`` and 4 where ``u > 0``."""
    y = rng.integers(0, 4, size=n)
    u = rng.choice([-2.0, 2.0], size=n)
    logits = 2.0 * np.eye(4)[y] + rng.normal(size=(n, 4))
    calibrated = np.exp(2 * logits)  # the posterior of y given these logits
    calibrated /= calibrated.sum(axis=1, keepdims=True)
    sharpened = tt.scaled(calibrated, np.where(u > 0, 0.25, 1.0))
    return sharpened, y, u


def test_one_temperature_is_the_library_temperature():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(5), size=50)
    assert np.allclose(tt.scaled(proba, np.full(50, 2.5)),
                       apply_temperature(proba, temperature=2.5), atol=1e-12)


def test_the_fit_finds_a_temperature_that_grows_with_atypicality():
    rng = np.random.default_rng(1)
    proba, y, u = _overconfident_where_atypical(4000, rng)
    b = tt.fit_typicality_temperature(proba, y, u)
    t_typical, t_atypical = np.exp(tt.log_temperature(np.array([-2.0, 2.0]), b))
    assert abs(t_typical - 1.0) < 0.15 and abs(t_atypical - 4.0) < 0.6
    flat = tt.fit_typicality_temperature(proba, y, np.zeros_like(u))
    assert abs(flat[1]) < 1e-3  # no atypicality, no slope


def test_splits_never_read_the_condition_benchmarks_speakers():
    speaker = np.array([f"ravdess_{i:02d}" for i in range(1, 25)] + ["tess_OAF", "tess_YAF"]
                       + [f"emovo_{s}" for s in ("f1", "m1")])
    corpus = np.array([s.split("_")[0] for s in speaker])
    held_back = np.isin(speaker, tt.UNREAD)
    for kind, _, train, test in tt.outer_splits(speaker, corpus):
        assert not np.intersect1d(train, test).size
        if kind == "speakers":
            assert not held_back[train].any() and not held_back[test].any()
            inner = tt.inner_splits(train, speaker, corpus)
            assert [k for k, _, _ in inner] == ["speaker"] * 3 + ["corpus"] * 3
            for _, tr, te in inner:
                assert np.isin(np.concatenate([tr, te]), train).all()


def test_report_scores_the_rule_and_names_the_lowest():
    def row(split, name, eces):
        r = {"split": split, "held_out": name, "accuracy": 0.5, "u_median": 0.0,
             "inner_speaker_u_median": -1.0}
        return r | {c: {"ece": e} for c, e in zip(tt.CALIBRATIONS, eces, strict=True)}

    rows = [row("corpus", "emovo", (0.4, 0.3, 0.2, 0.1)),
            row("speakers", "ravdess 1-10", (0.1, 0.1, 0.2, 0.1))]
    text = tt.render({"command": "c", "seconds": 1.0,
                      "results": {"strict": rows, "speaker_norm": rows}})
    assert "| `typicality_temperature` | 0.100 | 0.100 | 0.100 |" in text
    assert "Lowest: **`typicality_temperature`**." in text


def test_equal_weights_fit_as_no_weights_and_weights_choose_the_rows():
    rng = np.random.default_rng(2)
    proba, y, u = _overconfident_where_atypical(2000, rng)
    plain = tt.fit_typicality_temperature(proba, y, u)
    assert np.allclose(tt.fit_typicality_temperature(proba, y, u,
                                                     sample_weight=np.full(y.size, 3.0)),
                       plain, atol=1e-4)
    flat = np.zeros_like(u)  # one temperature: the weighted rows decide it

    def temperature(weight):
        b = tt.fit_typicality_temperature(proba, y, flat, sample_weight=weight)
        return float(np.exp(tt.log_temperature(np.zeros(1), b))[0])

    assert abs(temperature((u < 0).astype(float)) - 1.0) < 0.15
    assert abs(temperature((u > 0).astype(float)) - 4.0) < 0.6
