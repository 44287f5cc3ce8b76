"""How much speech a clip needs (experiments/clip_duration.py)."""

import json

import numpy as np
import pytest

import ser_classic
from ser_classic.data import load_audio
from ser_classic.features import FeatureConfig, extract_features

from .conftest import experiment

duration = experiment("clip_duration")


def test_each_cut_starts_where_the_speech_starts(ravdess_manifest):
    path = ravdess_manifest["path"].iloc[0]
    config = FeatureConfig()
    X, speech = duration.speech_cuts(path, lengths=(0.5, 1.0, 30.0), config=config)
    y = load_audio(path, sr=config.sample_rate)
    assert 0.5 < speech < len(y) / config.sample_rate  # leading and trailing silence cut
    assert X.shape == (3, len(extract_features(y, config=config)))
    assert np.isfinite(X).all() and not np.allclose(X[0], X[1])
    # the first half second of speech, not of the file (RAVDESS clips open with silence)
    np.testing.assert_raises(AssertionError, np.testing.assert_allclose, X[0],
                             extract_features(y[:8000], config=config))


def test_a_speaker_normalised_model_reads_each_speakers_own_rows():
    model = ser_classic.load("deployed-speaker_norm")
    X = np.random.default_rng(0).normal(size=(8, model.card["n_features"]))
    speaker = np.array(["a"] * 5 + ["b"] * 3)
    proba, atypical = duration.score(model, X, speaker)
    np.testing.assert_allclose(proba[:5], model.proba_from_features(X[:5], speaker="batch"))
    np.testing.assert_allclose(proba[5:], model.proba_from_features(X[5:], speaker="batch"))
    assert atypical.all()  # noise rows are nothing like speech
    strict = ser_classic.load("deployed")
    proba, atypical = duration.score(strict, X, speaker)
    np.testing.assert_allclose(proba, strict.proba_from_features(X))
    assert atypical.all()


def test_the_report_shows_every_model_and_length():
    results = [{"corpus": c, "model": m, "length": L, "uar": 0.4, "ece": 0.1,
                "top probability": 0.5, "agreement": 1.0 if L == duration.WHOLE else 0.8,
                "atypical": 0.1,
                "scored whole": 0.25}
               for c in ("emovo", "ravdess", "tess") for m in duration.DEPLOYED
               for L in (duration.WHOLE, *duration.LENGTHS)]
    summary = {"command": "c", "seconds": 1.0,
               "results": {"results": results,
                           "models": {f"{c} {m}": "id" for c in ("emovo", "ravdess", "tess")
                                      for m in duration.DEPLOYED},
                           "speech seconds": {c: [1.0, 2.0, 3.0]
                                              for c in ("emovo", "ravdess", "tess")}}}
    report = duration.render(summary)
    row = ("| strict teacher | 0.400 / 0.100 / 0.50 / 1.00 / 0.10 |"
           + " 0.400 / 0.100 / 0.50 / 0.80 / 0.10 |" * 4)
    assert row in report
    assert "| ravdess | 0.25 | 0.25 | 0.25 | 0.25 |" in report
    with pytest.raises(KeyError):
        duration.render({**summary, "results": {**summary["results"], "results": []}})


def test_the_report_shows_only_the_models_scored():
    strict = [m for m in duration.DEPLOYED if m.startswith("strict")]
    results = [{"corpus": c, "model": m, "length": L, "uar": 0.3, "ece": 0.2,
                "top probability": 0.5, "agreement": 1.0, "atypical": 0.0,
                "scored whole": 0.0}
               for c in ("emovo", "ravdess", "tess") for m in strict
               for L in (duration.WHOLE, *duration.LENGTHS)]
    summary = {"command": "c", "seconds": 1.0,
               "results": {"results": results,
                           "models": {f"{c} {m}": "id" for c in ("emovo", "ravdess", "tess")
                                      for m in strict},
                           "speech seconds": {c: [1.0, 2.0, 3.0]
                                              for c in ("emovo", "ravdess", "tess")}}}
    report = duration.render(summary)
    assert all(f"| {m} |" in report for m in strict)
    assert "speaker_norm" not in report.split("Models:")[1]


@pytest.mark.parametrize("folder", ["clip_duration", "clip_duration_crops"])
def test_the_committed_reports_render_from_their_summaries(folder):
    from .conftest import ROOT

    summary = json.loads((ROOT / "reports" / folder / "summary.json").read_text())
    assert duration.render(summary) == (ROOT / "reports" / folder / "report.md").read_text()
    assert ("Fold models read from" in duration.render(summary)) == (folder != "clip_duration")
