"""Leave-one-corpus-out evaluation on a small real subset of RAVDESS, TESS and EMOVO."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ser_classic import data, evaluation
from ser_classic.data import EMOTIONS
from ser_classic.errors import ParameterError
from ser_classic.features import FeatureConfig, extract_batch

from .conftest import DATA

N_COLUMNS = 300  # a slice of the real feature vector keeps every fit fast
MODELS = ("logreg", "ridge")


@pytest.fixture(scope="module")
def subset(ravdess_manifest, tess_manifest, feature_cache):
    """2 RAVDESS actors (every emotion, calm included), 3 clips per emotion of each TESS
    speaker, and 2 clips per emotion of 3 EMOVO speakers when EMOVO is there."""
    parts = [ravdess_manifest[ravdess_manifest["speaker"].isin(["ravdess_01", "ravdess_02"])],
             tess_manifest.groupby(["speaker", "emotion"]).head(3)]
    if hasattr(data, "scan_emovo") and (DATA / "emovo").is_dir():
        emovo = data.build_manifest(data.scan_emovo(DATA / "emovo"))
        emovo = emovo[emovo["speaker"].isin(["emovo_f1", "emovo_m1", "emovo_m2"])]
        parts.append(emovo.groupby(["speaker", "emotion"]).head(2))
    rows = pd.concat(parts, ignore_index=True)
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=FeatureConfig(),
                                 cache_dir=feature_cache)
    assert not errors
    y = rows["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()
    return X[:, :N_COLUMNS], y, rows["speaker"].to_numpy(), rows["corpus"].to_numpy()


def _loco(subset, **kw):
    X, y, speakers, corpora = subset
    return evaluation.leave_one_corpus_out(X, y, speakers, corpora, classes=EMOTIONS,
                                           models=MODELS, n_boot=200, **kw)


def _timeless(summary: dict) -> dict:
    folds = [{k: v for k, v in f.items() if k != "seconds"} for f in summary["folds"]]
    return {**{k: v for k, v in summary.items() if k != "seconds"}, "folds": folds}


@pytest.fixture(scope="module")
def strict(subset):
    return _loco(subset, normalization="strict")


@pytest.fixture(scope="module")
def speaker_norm(subset):
    return _loco(subset, normalization="speaker_norm")


@pytest.mark.parametrize("which", ["strict", "speaker_norm"])
def test_held_out_corpus_never_trains_or_tunes(request, subset, which):
    res = request.getfixturevalue(which)
    _, _, speakers, corpora = subset
    assert [f.held_out for f in res.folds] == sorted(set(corpora))
    for fold in res.folds:
        held = set(speakers[corpora == fold.held_out])
        assert fold.held_out not in fold.trained_on
        assert set(fold.test_speakers) == held
        assert set(fold.train_speakers) == set(speakers[corpora != fold.held_out])
        assert len(fold.inner_groups) >= 2
        for train, validation in fold.inner_groups:
            assert not (set(train) | set(validation)) & held
            assert not set(train) & set(validation)
            assert set(train) | set(validation) <= set(fold.train_speakers)
        assert set(corpora[fold.index]) == {fold.held_out}
        assert fold.model in MODELS and set(fold.inner_scores) == set(MODELS)


def test_held_out_labels_cannot_change_its_own_fold(subset, strict):
    """Scrambling the held-out corpus's labels changes nothing the model saw for it."""
    X, y, speakers, corpora = subset
    rng = np.random.default_rng(0)
    y2 = y.copy()
    tess = np.flatnonzero(corpora == "tess")
    y2[tess] = rng.permutation(y[tess])
    other = _loco((X, y2, speakers, corpora), normalization="strict")
    a = next(f for f in strict.folds if f.held_out == "tess")
    b = next(f for f in other.folds if f.held_out == "tess")
    assert (a.model, a.params, a.inner_scores) == (b.model, b.params, b.inner_scores)
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_allclose(a.proba, b.proba)


def test_closed_set_columns_are_the_held_out_corpus_classes(subset, strict):
    _, y, _, corpora = subset
    for fold in strict.folds:
        own = {EMOTIONS[c] for c in np.unique(y[corpora == fold.held_out])}
        assert set(fold.classes) | set(fold.unscored_classes) == own
        assert fold.proba.shape == (fold.y.size, len(fold.classes))
        np.testing.assert_allclose(fold.proba.sum(axis=1), 1.0)
        assert set(fold.metrics["recall"]) == set(fold.classes)
        if fold.held_out != "ravdess":
            assert "calm" not in fold.classes and not fold.unscored_classes
    ravdess = next(f for f in strict.folds if f.held_out == "ravdess")
    # no other corpus has calm: its clips cannot be predicted and are counted, not scored
    assert ravdess.unscored_classes == ("calm",)
    n_calm = int(np.sum((corpora == "ravdess") & (y == EMOTIONS.index("calm"))))
    assert ravdess.n_unscored == n_calm > 0
    assert ravdess.y.size + n_calm == int(np.sum(corpora == "ravdess"))


def test_closed_set_proba_drops_and_renormalises():
    proba = np.array([[0.1, 0.5, 0.2, 0.2], [0.4, 0.2, 0.3, 0.1]])
    out = evaluation.closed_set_proba(proba, [0, 1, 2, 3], [0, 2, 3])  # 1 (calm) dropped
    np.testing.assert_allclose(out, [[0.2, 0.4, 0.4], [0.5, 0.375, 0.125]])
    with pytest.raises(ParameterError):
        evaluation.closed_set_proba(proba, [0, 1, 2, 3], [0, 7])


def test_expected_calibration_error_on_hand_made_probabilities():
    # calibrated: 10 rows at confidence 0.8, 8 of them right; 10 at 0.6, 6 right
    p = np.array([[0.8, 0.2]] * 10 + [[0.4, 0.6]] * 10)
    y = np.array([0] * 8 + [1] * 2 + [1] * 6 + [0] * 4)
    assert evaluation.expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)
    # over-confident: confidence 1.0, half right -> |0.5 - 1.0|
    p = np.array([[1.0, 0.0, 0.0]] * 4)
    assert evaluation.expected_calibration_error(np.array([0, 0, 1, 2]), p) == 0.5
    # two bins: confidence 0.9 all right (gap 0.1), confidence 0.5 none right (gap 0.5)
    p = np.array([[0.9, 0.1]] * 2 + [[0.5, 0.5]] * 2)
    y = np.array([0, 0, 1, 1])
    assert evaluation.expected_calibration_error(y, p) == pytest.approx(0.3)
    with pytest.raises(ParameterError):
        evaluation.expected_calibration_error(y, p, n_bins=0)


def test_brier_score_on_hand_made_probabilities():
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    # row 1: 0; row 2: (0.5 - 0)^2 + (0.5 - 1)^2 = 0.5
    assert evaluation.brier_score([0, 1], p) == pytest.approx(0.25)


def test_metrics_and_determinism(subset, speaker_norm):
    again = _loco(subset, normalization="speaker_norm")
    assert _timeless(again.summary()) == _timeless(speaker_norm.summary())
    for a, b in zip(speaker_norm.folds, again.folds, strict=True):
        np.testing.assert_array_equal(a.proba, b.proba)
        m = a.metrics
        assert 0 <= m["uar"] <= 1 and 0 <= m["ece"] <= 1 and 0 <= m["brier"] <= 2
        assert m["uar_ci95"][0] <= m["uar_ci95"][1]
    assert speaker_norm.mean_uar == pytest.approx(
        np.mean([f.metrics["uar"] for f in speaker_norm.folds]))


def test_refuses_ensembles_and_shared_speakers(subset):
    X, y, speakers, corpora = subset
    with pytest.raises(ParameterError, match="ensemble"):
        evaluation.leave_one_corpus_out(X, y, speakers, corpora, classes=EMOTIONS,
                                        models=["linear"])
    shared = speakers.copy()
    shared[corpora == "tess"] = "ravdess_01"
    with pytest.raises(ParameterError, match="both sides"):
        evaluation.leave_one_corpus_out(X, y, shared, corpora, classes=EMOTIONS,
                                        models=["logreg"])
