"""Shift-aware temperature scaling (``calibration="corpus_temperature"``): the folds it
is fitted on, its fallback with one corpus, and the trained model through save, ONNX, the
API and the CLI. Real clips: four RAVDESS actors and a TESS subset."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ser_classic
from ser_classic import cli, data
from ser_classic.calibration import (
    CALIBRATIONS,
    TemperatureScaled,
    apply_temperature,
    fit_temperature,
    out_of_fold,
)
from ser_classic.errors import ParameterError
from ser_classic.features import FeatureConfig, extract_batch

LOGREG = {"clf__C": 0.1}


@pytest.fixture(scope="module")
def two_corpora(small_manifest, tess_manifest) -> pd.DataFrame:
    """RAVDESS actors 01-04 (240 clips, calm included) and 6 clips per TESS speaker and
    emotion (84 clips, no calm)."""
    tess = (tess_manifest.sort_values("path").groupby(["speaker", "emotion"]).head(6))
    return pd.concat([small_manifest, tess], ignore_index=True)


@pytest.fixture(scope="module")
def features(two_corpora, feature_cache):
    X, errors, _ = extract_batch(two_corpora["path"], sha256=two_corpora["sha256"],
                                 config=FeatureConfig(), cache_dir=feature_cache)
    assert not errors
    return (X[:, ::4], two_corpora["emotion"].to_numpy(), two_corpora["speaker"].to_numpy(),
            two_corpora["corpus"].to_numpy())


def _logreg():
    return make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=3000))


def test_folds_hold_out_whole_speakers_and_whole_corpora(features):
    """Every out-of-fold row is predicted by a model that never saw its speaker (speaker
    scheme) or its corpus (corpus scheme); a class the other corpus lacks (RAVDESS calm
    when TESS trains) gives NaN rows; the pooled weights give each scheme 1/2 and each
    held-out corpus 1/4."""
    X, emotions, speakers, corpora = features
    classes, y = np.unique(emotions, return_inverse=True)
    calls = []

    def fit_predict(tr, te):
        calls.append((tr, te))
        model = _logreg().fit(X[tr], y[tr])
        P = np.zeros((te.size, classes.size))
        P[:, model.classes_] = model.predict_proba(X[te])
        return P

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oof = out_of_fold(fit_predict, y, speakers, corpora, n_classes=classes.size,
                          n_splits=3, random_state=0)
    assert len(calls) == 3 + 2
    for tr, te in calls[:3]:
        assert not set(speakers[tr]) & set(speakers[te])
    for tr, te in calls[3:]:
        assert not set(corpora[tr]) & set(corpora[te])
        assert set(te) == set(np.flatnonzero(corpora == corpora[te[0]]))
    assert not np.isnan(oof.speaker).any()
    unusable = np.isnan(oof.corpus).any(axis=1)
    assert np.array_equal(unusable, emotions == "calm")  # only RAVDESS has calm
    proba, y_rows, w = oof.rows("corpus_temperature")
    n = len(y)
    assert proba.shape == (n + (~unusable).sum(), classes.size) and not np.isnan(proba).any()
    assert w[:n].sum() == pytest.approx(0.5)
    for corpus in ("ravdess", "tess"):
        rows = n + np.flatnonzero(corpora[~unusable] == corpus)
        assert w[rows].sum() == pytest.approx(0.25)
    assert oof.temperature("corpus_temperature") == pytest.approx(
        fit_temperature(proba, y_rows, sample_weight=w))
    assert oof.temperature("temperature") == pytest.approx(fit_temperature(oof.speaker, y))
    with pytest.raises(ParameterError, match="calibration method"):
        oof.temperature("platt")


def test_corpus_temperature_is_fitted_on_out_of_fold_rows(features):
    """TemperatureScaled(method="corpus_temperature"): its T is the one of the
    out-of-fold predictions above (not of in-sample ones), another T than the
    speaker-grouped one, with the per-corpus out-of-fold metrics on its card."""
    X, emotions, speakers, corpora = features
    classes, y = np.unique(emotions, return_inverse=True)
    base = _logreg()

    def fit_predict(tr, te):
        model = clone(base).fit(X[tr], y[tr])
        P = np.zeros((te.size, classes.size))
        P[:, model.classes_] = model.predict_proba(X[te])
        return P

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TemperatureScaled(base, method="corpus_temperature", n_splits=3).fit(
            X, emotions, groups=speakers, corpora=corpora)
        plain = TemperatureScaled(base, n_splits=3).fit(X, emotions, groups=speakers,
                                                        corpora=corpora)
        oof = out_of_fold(fit_predict, y, speakers, corpora, n_classes=classes.size,
                          n_splits=3, random_state=0)
    assert model.temperature_ == pytest.approx(oof.temperature("corpus_temperature"),
                                               rel=1e-6)
    assert plain.temperature_ == pytest.approx(oof.temperature("temperature"), rel=1e-6)
    in_sample = fit_temperature(model.estimator_.predict_proba(X), y)
    assert abs(model.temperature_ - in_sample) > 0.5  # in-sample: overconfidence unseen
    assert abs(model.temperature_ - plain.temperature_) > 0.05
    info = model.calibration_
    assert info["method"] == "corpus_temperature" and "fallback" not in info
    assert sorted(info["corpus_oof"]) == sorted(info["speaker_oof_by_corpus"]) == [
        "ravdess", "tess"]
    assert info["speaker_oof_by_corpus"]["tess"]["n"] == int(np.sum(corpora == "tess"))
    assert info["corpus_oof"]["ravdess"]["n"] == int(np.sum((corpora == "ravdess")
                                                            & (emotions != "calm")))
    assert np.allclose(model.predict_proba(X), apply_temperature(
        model.estimator_.predict_proba(X), temperature=model.temperature_))
    assert np.array_equal(model.predict(X), plain.predict(X))  # argmax unchanged


def test_one_corpus_falls_back_to_speaker_folds(features):
    X, emotions, speakers, corpora = features
    one = corpora == "ravdess"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shifted = TemperatureScaled(_logreg(), method="corpus_temperature", n_splits=4).fit(
            X[one], emotions[one], groups=speakers[one], corpora=corpora[one])
        plain = TemperatureScaled(_logreg(), n_splits=4).fit(
            X[one], emotions[one], groups=speakers[one])
    assert shifted.temperature_ == plain.temperature_
    assert "corpus_oof" not in shifted.calibration_
    assert shifted.calibration_["fallback"].startswith("one training corpus")
    assert shifted.calibration_["oof_after"] == plain.calibration_["oof_after"]
    with pytest.raises(ParameterError, match="calibration method"):
        TemperatureScaled(_logreg(), method="vector").fit(X[one], emotions[one],
                                                          groups=speakers[one])


def test_train_and_distil_with_corpus_temperature(two_corpora, feature_cache, tmp_path):
    """train(calibration="corpus_temperature") on two corpora: T and the per-corpus
    out-of-fold metrics on the card; saved, the ONNX graph and scikit-learn agree; the CLI
    with the same arguments gives the same T and model id; a student distilled from it
    gets its own corpus_temperature folded into its head."""
    assert "corpus_temperature" in CALIBRATIONS
    common = dict(model="logreg", params=LOGREG, augment="none", corpora=["ravdess", "tess"],
                  cache_dir=feature_cache, n_jobs=1)
    plain = ser_classic.train(two_corpora, calibration="temperature", **common)
    trained = ser_classic.train(two_corpora, calibration="corpus_temperature", **common)
    cal = trained.training["calibration"]
    assert cal["method"] == "corpus_temperature"
    assert cal["temperature"] == pytest.approx(trained.estimator.temperature_, rel=1e-5)
    assert sorted(cal["corpus_oof"]) == ["ravdess", "tess"]
    assert cal["temperature"] != plain.training["calibration"]["temperature"]
    assert trained.model_id != plain.model_id and trained.export.ok
    card = trained.save(tmp_path / "api")
    assert card["training"]["calibration"] == json.loads(json.dumps(cal))

    X, _, _ = extract_batch(two_corpora["path"][::20], sha256=two_corpora["sha256"][::20],
                            config=FeatureConfig(), cache_dir=feature_cache)
    p_sk = ser_classic.load(tmp_path / "api", backend="sklearn").proba_from_features(X)
    p_onnx = ser_classic.load(tmp_path / "api", backend="onnx").proba_from_features(X)
    assert np.abs(p_sk - p_onnx).max() < 1e-4
    plain.save(tmp_path / "plain")
    p_plain = ser_classic.load(tmp_path / "plain", backend="onnx").proba_from_features(X)
    assert np.abs(p_plain - p_onnx).max() > 1e-3  # another T in the graph

    manifest_csv = tmp_path / "manifest.csv"
    data.save_manifest(two_corpora, manifest_csv)
    assert cli.main(["train", "--model", "logreg", "--params", json.dumps(LOGREG),
                     "--manifest", str(manifest_csv), "--corpora", "ravdess,tess",
                     "--augment", "none", "--calibration", "corpus_temperature",
                     "--cache", str(feature_cache), "--jobs", "1",
                     "--out", str(tmp_path / "cli")]) == 0
    cli_card = json.loads((tmp_path / "cli" / "model.json").read_text())
    assert cli_card["training"]["calibration"]["temperature"] == cal["temperature"]
    assert cli_card["model_id"] == trained.model_id

    student = ser_classic.distil(tmp_path / "api", two_corpora, student="linear_int8",
                                 copies=0, munge=1, calibration="corpus_temperature",
                                 cache_dir=feature_cache)
    info = student.info["calibration"]
    assert info["method"] == "corpus_temperature" and info["temperature"] > 0
    assert sorted(info["corpus_oof"]) == ["ravdess", "tess"]
