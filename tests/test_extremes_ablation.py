"""The column sets and report of experiments/extremes_ablation.py."""

from ser_classic.features import FeatureConfig, feature_names

from .conftest import experiment

extremes = experiment("extremes_ablation")


def test_the_variants_drop_the_functionals_of_one_frame_by_name():
    names = feature_names(config=FeatureConfig())
    minima = extremes.kept_columns(names, ("min",))
    both = extremes.kept_columns(names, ("min", "max"))
    assert extremes.kept_columns(names, ()).all()
    assert (~minima).sum() == 202 and (~both).sum() == 404
    kept = {n for n, k in zip(names, both, strict=True) if k}
    assert {"contrast3_p10", "voicing_p90", "mfcc0_d_p50", "rms_db_slope"} <= kept
    assert not {"contrast3_min", "voicing_d_max", "mfcc0_max"} & kept


def test_report_marks_missed_targets_and_counts_the_met():
    def inv(agreement):
        return {"gain": {k: {"agreement": agreement, "mean_abs_dp": 0.01}
                         for k in ("strict", "speaker_norm")},
                "floor": {"strict": {"agreement": 1.0, "mean_abs_dp": 0.2},
                          "speaker_norm": {"agreement": 1.0, "mean_abs_dp": 0.0}}}

    acc = {"group6 ridge": 0.6, "group6 logreg": 0.6, "loco emovo": 0.3,
           "loco ravdess": 0.4, "loco tess": 0.5, "loco mean": 0.4}
    summary = {"command": "c", "seconds": 1.0, "variants": {
        v: {"columns": c, "accuracy": {"strict": acc, "speaker_norm": acc},
            "invariance": inv(a)}
        for v, c, a in (("every column", 10, 0.9), ("minima dropped", 8, 0.97))}}
    text = extremes.render(summary)
    assert "| gain | 0.90 / 0.010 ✗ \\| 0.90 / 0.010 ✗ | 0.97 / 0.010 \\| 0.97 / 0.010 |" in text
    assert "| floor | 1.00 / 0.200 ✗ \\| 1.00 / 0.000 |" in text
    assert "**0 \\| 1 of 2** | **1 \\| 2 of 2**" in text
    assert "minima dropped: LOCO mean +0.000 / +0.000, targets met +1 / +1" in text
    assert "| minima dropped | 8 | strict | 0.600 | 0.600 | 0.400 (0.300 / 0.400 / 0.500) |" in text
