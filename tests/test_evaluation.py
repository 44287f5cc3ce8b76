"""Speaker-grouped evaluation: splits, nested tuning, augmentation, metrics, summary schema.

Real RAVDESS features of 6 actors through the shared feature cache (free after the first
run); small grids and 3 folds keep the file fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from ser_classic import Normalization, evaluation
from ser_classic.augment import AugmentConfig
from ser_classic.cli import main
from ser_classic.data import EMOTIONS, build_manifest, load_manifest, scan_ravdess
from ser_classic.errors import ParameterError
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.models import MODELS, register

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SER_CLASSIC_CACHE", ROOT / ".cache" / "features"))
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"
N_SPEAKERS = 6
AUG = AugmentConfig(n_copies=4, max_shift_s=0.0, n_freq_masks=1, max_freq_width_hz=500.0,
                    n_time_masks=1, max_time_width_s=0.2)


@pytest.fixture(scope="module")
def subset():
    """Manifest rows, features, one augmented copy, labels and speakers of 6 actors."""
    path = ROOT / "data" / "manifest.csv"
    if path.is_file():
        manifest = load_manifest(path)
        manifest = manifest[manifest["corpus"] == "ravdess"]
    else:
        if not RAVDESS.is_dir():
            pytest.skip("RAVDESS not available")
        manifest = build_manifest(scan_ravdess(RAVDESS))
    speakers = sorted(manifest["speaker"].unique())[:N_SPEAKERS]
    manifest = manifest[manifest["speaker"].isin(speakers)].reset_index(drop=True)
    manifest["path"] = [str(p) if Path(p).is_absolute() else str(ROOT / p)
                        for p in manifest["path"]]
    config = FeatureConfig()
    X, errors, _ = extract_batch(manifest["path"], sha256=manifest["sha256"], config=config,
                                 cache_dir=CACHE, n_jobs=2)
    assert not errors
    X_aug, _, _ = extract_batch(manifest["path"], sha256=manifest["sha256"], config=config,
                                cache_dir=CACHE, augment=AUG, copy=0, seed=0, n_jobs=2)
    y = manifest["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()
    return {"manifest": manifest, "X": X, "X_aug": X_aug, "y": y,
            "speakers": manifest["speaker"].to_numpy(), "config": config}


@pytest.fixture(scope="module")
def evaluated(subset):
    """Nested CV (3 folds of 2 actors, 2 inner folds) of logistic regression, with one
    augmented copy per training clip."""
    return evaluation.cross_validate(
        subset["X"], subset["y"], subset["speakers"], models=["logreg"], classes=EMOTIONS,
        split="group6", n_folds=3, X_aug=[subset["X_aug"]], n_inner=2, n_jobs=2)


def test_check_disjoint_refuses_shared_speaker():
    evaluation.check_disjoint(["a", "b"], ["c"])
    with pytest.raises(ParameterError, match="both sides"):
        evaluation.check_disjoint(["a", "b"], ["b", "c"])


@pytest.mark.parametrize("split", ["loso", "group6"])
def test_outer_splits_disjoint_and_cover_every_clip_once(subset, split):
    speakers = subset["speakers"]
    splits = evaluation.outer_splits(speakers, split=split, n_folds=3)
    assert len(splits) == (N_SPEAKERS if split == "loso" else 3)
    tested = np.concatenate([te for _, te in splits])
    assert np.array_equal(np.sort(tested), np.arange(speakers.size))
    for tr, te in splits:
        assert not set(speakers[tr]) & set(speakers[te])
        assert tr.size + te.size == speakers.size
    if split == "group6":  # more folds than speakers: says how many speakers there are
        with pytest.raises(ParameterError, match=rf"speakers \({N_SPEAKERS}\), got 7"):
            evaluation.outer_splits(speakers, split=split, n_folds=N_SPEAKERS + 1)


def test_training_rows_with_augmentation_keep_test_speakers_out(subset):
    X, y, speakers, X_aug = subset["X"], subset["y"], subset["speakers"], subset["X_aug"]
    for tr, te in evaluation.outer_splits(speakers, split="loso"):
        _, y_tr, g_tr, orig = evaluation.training_rows(X, y, speakers, tr, te,
                                                       X_aug=[X_aug, X_aug])
        assert not set(g_tr) & set(speakers[te])
        assert orig.sum() == tr.size and (~orig).sum() == 2 * tr.size
        assert np.array_equal(y_tr[~orig][: tr.size], y[tr])  # copies keep their label
        assert np.array_equal(g_tr[~orig][: tr.size], speakers[tr])  # ... and speaker
        with pytest.raises(ParameterError):  # a test clip in training is refused
            evaluation.training_rows(X, y, speakers, np.concatenate([tr, te[:1]]), te)


def test_inner_splits_keep_copies_on_training_side():
    speakers = np.array(["a", "a", "b", "b", "c", "c", "a", "b", "c"])
    original = np.array([True] * 6 + [False] * 3)
    for tr, va in evaluation.inner_splits(speakers, original, n_splits=3):
        assert original[va].all()
        assert not set(speakers[tr]) & set(speakers[va])


def test_inner_cv_sees_no_test_speaker(evaluated, subset):
    speakers = subset["speakers"]
    assert evaluated.n_augmented > 0
    for k, record in evaluated.inner_record.items():
        test_speakers = set(speakers[evaluated.fold == k])
        assert record, "the logreg grid must be tuned by inner CV"
        for train_speakers, val_speakers in record:
            assert not (train_speakers | val_speakers) & test_speakers
            assert not train_speakers & val_speakers


def test_oof_predictions_cover_every_clip_once(evaluated, subset):
    frame = evaluation.oof_frame(evaluated, "logreg", paths=subset["manifest"]["path"])
    assert len(frame) == len(subset["manifest"])
    assert frame["path"].is_unique
    proba = frame[[f"p_{c}" for c in EMOTIONS]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    assert (frame["predicted"] == np.asarray(EMOTIONS)[proba.argmax(axis=1)]).all()
    assert sorted(frame["fold"].unique()) == [0, 1, 2]


def test_one_class_predictor_scores_uar_one_eighth(subset):
    y = subset["y"]
    m = evaluation.classification_metrics(y, np.zeros_like(y), n_classes=len(EMOTIONS))
    assert m["uar"] == pytest.approx(1 / 8)
    # ... and through the registry, the CV and the summary
    register("constant", default=False, description="always neutral")(
        lambda random_state: DummyClassifier(strategy="constant", constant=0))
    try:
        ev = evaluation.cross_validate(subset["X"], y, subset["speakers"], models=["constant"],
                                       classes=EMOTIONS, split="group6", n_folds=3)
        summary = evaluation.summary_dict(ev, feature_config_hash="x", n_boot=50)
    finally:
        del MODELS["constant"]
    assert summary["models"]["constant"]["uar"] == pytest.approx(1 / 8)
    assert summary["models"]["constant"]["fold_uar"] == pytest.approx([1 / 8] * 3)


def test_speaker_normalize_uses_each_speakers_own_statistics():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(5, 2, (20, 3)), rng.normal(-3, 0.5, (10, 3))])
    speakers = np.array(["a"] * 20 + ["b"] * 10)
    Z = evaluation.speaker_normalize(X, speakers)
    for s in "ab":
        np.testing.assert_allclose(Z[speakers == s].mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(Z[speakers == s].std(axis=0), 1, atol=1e-12)
    one = evaluation.SpeakerNormalizer().fit(X[speakers == "b"])
    np.testing.assert_allclose(one.transform(X[speakers == "b"]), Z[speakers == "b"])


def test_evaluate_cli_writes_summary_with_schema(subset, tmp_path):
    out = tmp_path / "cv"
    manifest_path = tmp_path / "manifest.csv"
    subset["manifest"].to_csv(manifest_path, index=False)
    code = main(["evaluate", "--manifest", str(manifest_path), "--cache", str(CACHE),
                 "--split", "group6", "--folds", "3", "--models", "logreg,svm",
                 "--inner", "2", "--feature-sets", "", "--jobs", "2", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"] in ("loso", "group6")
    assert summary["normalization"] == "strict"
    assert summary["n_folds"] == 3 and summary["n_speakers"] == N_SPEAKERS
    assert summary["n_clips"] == len(subset["manifest"])
    assert summary["feature_config_hash"] == subset["config"].hash
    assert summary["selected"] in summary["models"]
    for m in summary["models"].values():
        for key in ("accuracy", "uar", "macro_f1"):
            assert 0.0 <= m[key] <= 1.0
        lo, hi = m["uar_ci95"]
        assert lo <= m["uar"] <= hi
        assert len(m["fold_uar"]) == 3
    normed = summary["speaker_norm_run"]
    assert normed["normalization"] == "speaker_norm" and normed["selected"] in normed["models"]
    assert "Produced by `ser-classic" in (out / "report.md").read_text()
    for name in ("confusion_strict.png", "recall_vs_human.png", "fold_uar_box.png",
                 "model_comparison.png", "oof_strict_logreg.csv"):
        assert (out / name).is_file()


def test_only_models_registered_as_augmented_train_on_copies(subset):
    """Copies change ridge (augmented) and strict logreg, never the SVM or the
    speaker-normalised logreg."""
    from threadpoolctl import threadpool_limits

    from ser_classic.artifact import train_model

    with threadpool_limits(limits=1):  # as in the evaluation's folds
        _check_copies_reach_only_augmented_models(subset, train_model)


def _check_copies_reach_only_augmented_models(subset, train_model):

    X, y, speakers = subset["X"], subset["y"], subset["speakers"]
    assert MODELS["ridge"].fits_copies("speaker_norm") and not MODELS["svm"].augmented
    assert MODELS["logreg"].fits_copies(Normalization.STRICT)
    assert not MODELS["logreg"].fits_copies("speaker_norm")
    X_all = np.vstack([X, subset["X_aug"]])
    y_all, g_all = np.concatenate([y, y]), np.concatenate([speakers, speakers])
    orig = np.arange(y_all.size) < y.size
    probe = X[::5]
    for name, norm, changes in (("svm", "strict", False), ("ridge", "strict", True),
                                ("logreg", "strict", True), ("logreg", "speaker_norm", False)):
        plain, _ = evaluation.tune_and_fit(name, X, y, speakers, n_inner=2)
        with_copies, _ = evaluation.tune_and_fit(name, X_all, y_all, g_all,
                                                 is_original=orig, n_inner=2,
                                                 normalization=norm)
        same = np.allclose(plain.predict_proba(probe), with_copies.predict_proba(probe))
        assert same != changes, name
    emotions = np.asarray(EMOTIONS)[y]
    base, _ = train_model(X, emotions, name="ridge", params={"clf__alpha": 3000.0})
    aug, _ = train_model(X, emotions, name="ridge", params={"clf__alpha": 3000.0},
                         X_aug=[subset["X_aug"]])
    assert not np.allclose(base.predict_proba(probe), aug.predict_proba(probe))
    # speaker_norm: the logreg member of `linear` sees the originals only, ridge the copies
    params = {"ridge": {"clf__alpha": 3000.0}, "logreg": {"clf__C": 0.001}}
    fitted = {}
    for norm in ("strict", "speaker_norm"):
        for copies in ((), [subset["X_aug"]]):
            vote, _ = train_model(X, emotions, name="linear", params=params, speakers=speakers,
                                  normalization=norm, X_aug=copies)
            fitted[norm, len(copies)] = dict(vote.estimators)
    for norm, member, changes in (("strict", "logreg", True), ("speaker_norm", "logreg", False),
                                  ("speaker_norm", "ridge", True)):
        a, b = fitted[norm, 0][member], fitted[norm, 1][member]
        assert b["scale"].n_samples_seen_ == (2 if changes else 1) * len(X), (norm, member)
        assert np.allclose(a.predict_proba(probe), b.predict_proba(probe)) != changes
    with pytest.raises(ParameterError):
        train_model(X, emotions, name="ridge", X_aug=[subset["X_aug"][:5]])


def test_speaker_normalised_copies_use_their_own_statistics():
    """A set of (e.g. warped) copies of a speaker is normalised as a speaker of its own."""
    rng = np.random.default_rng(0)
    speakers = np.repeat(["a", "b"], 20)
    copies = rng.normal(loc=5.0, size=(40, 3))
    copies[3] = np.nan  # a failed copy stays NaN and does not spoil the statistics
    Z = evaluation.speaker_normalize(copies, speakers)
    assert np.isnan(Z[3]).all()
    for spk in ("a", "b"):
        rows = (speakers == spk) & ~np.isnan(Z).any(axis=1)
        np.testing.assert_allclose(Z[rows].mean(axis=0), 0.0, atol=1e-12)
