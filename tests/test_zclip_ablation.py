"""The clipped standardised features and report of experiments/zclip_ablation.py."""

import numpy as np

from .conftest import experiment

zclip = experiment("zclip_ablation")
floor = experiment("floor_ablation")


def test_a_clipped_model_reads_no_feature_beyond_the_bound():
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 40)
    X = rng.normal(size=(y.size, 5)) + (y == "a")[:, None]
    for name in ("ridge", "logreg"):
        clipped = floor._models(clip=3.0)[name]().fit(X, y)
        plain = floor._models()[name]().fit(X, y)
        at_bound, far = X[:1].copy(), X[:1].copy()
        scale = clipped.steps[0][1]
        at_bound[0, 2] = scale.mean_[2] + 3.0 * scale.scale_[2]
        far[0, 2] = scale.mean_[2] + 300.0 * scale.scale_[2]
        np.testing.assert_array_equal(clipped.decision_function(far),
                                      clipped.decision_function(at_bound))
        assert not np.allclose(plain.decision_function(far), plain.decision_function(at_bound))
        # a bound no training row reaches: the plain model's fit and answers within it
        loose = floor._models(clip=10.0)[name]().fit(X, y)
        np.testing.assert_allclose(loose.decision_function(X), plain.decision_function(X),
                                   rtol=1e-6)


def test_report_compares_the_bounds_against_the_unclipped_models():
    acc = {"group6 ridge": 0.6, "group6 logreg": 0.6, "loco emovo": 0.3,
           "loco ravdess": 0.4, "loco tess": 0.5, "loco mean": 0.4}

    def inv(agreement):
        return {"floor": {k: {"agreement": agreement, "mean_abs_dp": 0.01}
                          for k in ("strict", "speaker_norm")}}

    summary = {"command": "c", "seconds": 1.0, "variants": {
        v: {"columns": 3, "accuracy": {"strict": acc, "speaker_norm": acc},
            "invariance": inv(a)}
        for v, a in (("unclipped", 0.5), ("clipped at 5", 0.97))}}
    text = zclip.render(summary)
    assert text.startswith("# Standardised features clipped to a bound")
    assert "Against unclipped: clipped at 5: LOCO mean +0.000 / +0.000, targets met +1 / +1" \
        in text
    assert "| floor | 0.50 / 0.010 ✗ \\| 0.50 / 0.010 ✗ | 0.97 / 0.010 \\| 0.97 / 0.010 |" \
        in text
    assert "a bound that keeps the accuracy" in text
    assert set(zclip.VARIANTS.values()) == {None, 10.0, 5.0, 3.0}
