"""The LOCO variants' weights and normalisations (experiments/loco_variants.py)."""

import numpy as np
from sklearn.utils.class_weight import compute_sample_weight

from ser_classic.evaluation import speaker_normalize
from ser_classic.features import FeatureConfig, feature_names

from .conftest import experiment

variants = experiment("loco_variants")
floor = experiment("floor_ablation")


def test_group_balanced_gives_every_group_the_same_total():
    groups = np.array(["tess"] * 6 + ["emovo"] * 2 + ["ravdess"] * 3)
    w = variants.group_balanced(groups)
    assert np.allclose([w[groups == g].sum() for g in ("tess", "emovo", "ravdess")], 1.0)


def test_class_balanced_of_equal_weights_is_sklearns_balanced_weighting():
    y = np.array(["a"] * 5 + ["b"] * 2 + ["c"] * 9)
    assert np.allclose(floor.class_balanced(np.ones(y.size), y),
                       compute_sample_weight("balanced", y))
    w = floor.class_balanced(variants.group_balanced(np.array(list("xxxxxyyyyyyyyyyy"))), y)
    assert np.allclose([w[y == c].sum() for c in "abc"], w.sum() / 3) and np.isclose(w.mean(), 1)


def test_variance_floor_zero_is_the_speaker_z_score_and_a_floor_shrinks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)) * np.array([1.0, 1e-3, 5.0, 1.0, 1.0]) + 3.0
    speakers = np.repeat(["s1", "s2"], 20)
    assert np.allclose(variants.variance_floored(X, speakers, 0.0),
                       speaker_normalize(X, speakers), atol=1e-9)
    floored = variants.variance_floored(X, speakers, 0.5)
    assert np.all(np.abs(floored).max(axis=0) < np.abs(speaker_normalize(X, speakers)).max(axis=0))
    centred = speaker_normalize(X, speakers, with_std=False)  # the "centred only" rows
    assert np.allclose(centred[speakers == "s1"].mean(axis=0), 0.0)


def test_normal_scores_ignore_a_monotone_distortion_per_speaker_and_are_bounded():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    speakers = np.repeat(["s1", "s2", "s3"], 20)
    distorted = X.copy()
    distorted[speakers == "s2"] = np.exp(3.0 * X[speakers == "s2"]) + 100.0
    scores = variants.speaker_normal_scores(X, speakers)
    np.testing.assert_allclose(variants.speaker_normal_scores(distorted, speakers), scores)
    assert np.abs(scores).max() < 2.0  # 20 clips: the extreme rank's quantile, 1.96
    assert not np.allclose(speaker_normalize(distorted, speakers), speaker_normalize(X, speakers))


def test_absolute_levels_are_the_extended_blocks_non_relative_spectral_levels():
    names = feature_names(config=FeatureConfig())
    absolute = [n for n in names if variants.ABSOLUTE.fullmatch(n)]
    assert len(absolute) == 284
    assert "mfcc3_voiced_p50" in absolute and "mfcc3_unvoiced_mean" in absolute
    assert not {"mfcc3_p50", "mfcc3_voiced_std", "band0_250_voiced_minus_unvoiced"} & set(absolute)


def test_report_names_the_largest_change_and_what_it_means():
    def summary(gain):
        return {"command": "c", "seconds": 1.0, "results": [
            {"normalization": n, "variant": v, "group6 ridge": 0.6, "group6 logreg": 0.6,
             "loco emovo": 0.3, "loco ravdess": 0.4, "loco tess": 0.5, "loco mean": 0.4 + d}
            for n in ("strict", "speaker_norm") for v, d in (("baseline", 0.0), ("w", gain))]}

    assert "No variant raises the mean LOCO UAR" in variants.render(summary(0.004))
    text = variants.render(summary(0.02))
    assert "strict w (+0.020)" in text and "A lead to choose by inner CV" in text
    assert "| w | 0.600 | 0.600 | 0.420 (0.300 / 0.400 / 0.500) | +0.020 |" in text
