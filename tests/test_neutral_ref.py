"""``Normalization.NEUTRAL_REF``: training centred on each speaker's neutral clips, inference
on a voice enrolled from its neutral speech (issue 19, item 6)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import ser_classic
from ser_classic import cli, data, evaluation
from ser_classic.artifact import card_integrity, load_artifact, train_model
from ser_classic.errors import ParameterError
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.recognizer import SpeakerStats
from ser_classic.store import resolve

from .deploy_models import tiny_model

TRAIN = ["ravdess_01", "ravdess_02", "ravdess_03"]
HELD_OUT = "ravdess_04"


@pytest.fixture(scope="module")
def features(small_manifest, feature_cache):
    X, errors, _ = extract_batch(small_manifest["path"], sha256=small_manifest["sha256"],
                                 config=FeatureConfig(), cache_dir=feature_cache, n_jobs=1)
    assert not errors
    return X


@pytest.fixture(scope="module")
def ref_dir(small_manifest, feature_cache):
    """A logistic regression trained neutral_ref on three actors (actor 4 held out)."""
    train = small_manifest[small_manifest["speaker"].isin(TRAIN)].reset_index(drop=True)
    return tiny_model(train, feature_cache, normalization="neutral_ref", name="logreg",
                      params={"clf__C": 0.003})


def test_reference_normalize_centres_on_the_other_neutral_clips(small_manifest, features):
    speakers = small_manifest["speaker"].to_numpy()
    emotions = small_manifest["emotion"].to_numpy()
    Z = evaluation.normalized_inputs(features, (), speakers, normalization="neutral_ref",
                                     labels=emotions)[0]
    for spk in TRAIN:
        own = np.flatnonzero(speakers == spk)
        ref = own[emotions[own] == "neutral"]
        assert ref.size == 4
        others = own[emotions[own] != "neutral"]
        np.testing.assert_allclose(Z[others], features[others] - features[ref].mean(axis=0))
        for i in ref:  # a reference clip never centres itself
            rest = ref[ref != i]
            np.testing.assert_allclose(Z[i], features[i] - features[rest].mean(axis=0))
    # one speaker without enough neutral clips: named, not silently normalised
    labels = emotions.copy()
    labels[np.flatnonzero((speakers == "ravdess_02") & (emotions == "neutral"))[1:]] = "calm"
    with pytest.raises(ParameterError, match=r"'ravdess_02' has 1 usable 'neutral' clip"):
        evaluation.normalized_inputs(features, (), speakers, normalization="neutral_ref",
                                     labels=labels)
    with pytest.raises(ParameterError, match="needs the label of every clip"):
        evaluation.normalized_inputs(features, (), speakers, normalization="neutral_ref")
    with pytest.raises(ParameterError, match="needs the speaker of every clip"):
        train_model(features, emotions, name="logreg", normalization="neutral_ref")


def test_enrolled_on_neutral_clips_the_model_reads_training_inputs(ref_dir, small_manifest,
                                                                   features):
    rec = ser_classic.load(ref_dir)
    assert rec.normalization == "neutral_ref"
    assert json.loads((ref_dir / "model.json").read_text())["normalization"] == "neutral_ref"
    rows = small_manifest[small_manifest["speaker"] == HELD_OUT]
    neutral = rows[rows["emotion"] == "neutral"]
    scored = rows[rows["emotion"] != "neutral"]
    voice = rec.enroll(list(neutral["path"]))
    assert voice.n_clips == 4
    proba = rec.predict_proba(list(scored["path"]), speaker=voice)
    # the same preprocessing as training: features centred on the voice's neutral mean
    idx = scored.index.to_numpy()
    X = features[idx] - features[neutral.index.to_numpy()].mean(axis=0)
    est = load_artifact(ref_dir).estimator
    np.testing.assert_allclose(proba, est.predict_proba(X.astype(np.float32)), atol=1e-6)
    onnx = ser_classic.load(ref_dir, backend="onnx")
    np.testing.assert_allclose(onnx.predict_proba(list(scored["path"]), speaker=voice), proba,
                               atol=1e-4)
    # an unseen actor, 7 emotions scored, 8 classes: well above chance (0.125)
    truth = scored["emotion"].to_numpy()
    assert np.mean(rec.classes_[proba.argmax(axis=1)] == truth) > 0.3
    # a score call for one target with the enrolled voice
    waves = [data.load_audio(p, sr=16000) for p in scored["path"][:4]]
    s = rec.score(waves, sr=16000, targets="happy", speaker=voice)
    np.testing.assert_allclose(s.proba, proba[:4], atol=1e-9)


def test_neutral_ref_refuses_a_missing_reference_and_the_batch(ref_dir, small_manifest,
                                                               feature_cache):
    rec = ser_classic.load(ref_dir)
    paths = list(small_manifest[small_manifest["speaker"] == HELD_OUT]["path"][:6])
    with pytest.raises(ParameterError, match="neutral reference: pass speaker=recognizer"):
        rec.predict_proba(paths)
    with pytest.raises(ParameterError, match="never the clips being scored"):
        rec.predict_proba(paths, speaker="batch")
    with pytest.raises(ParameterError, match="at least 2 clips"):
        rec.enroll(paths[:1])
    with pytest.raises(ParameterError, match="without speaker normalisation"):
        ser_classic.load(tiny_model(small_manifest, feature_cache)).predict_proba(
            paths, speaker=rec.enroll(paths))


def test_cli_predict_with_a_neutral_reference(ref_dir, small_manifest, capsys):
    rows = small_manifest[small_manifest["speaker"] == HELD_OUT]
    neutral = list(rows[rows["emotion"] == "neutral"]["path"])
    scored = list(rows[rows["emotion"] == "angry"]["path"])
    model = ["--model", str(ref_dir)]
    assert cli.main(["predict", *scored, *model]) == 2
    assert "--normalization neutral_ref --reference" in capsys.readouterr().err
    assert cli.main(["predict", *scored, *model, "--normalization", "neutral_ref"]) == 2
    assert "--reference (the voice's neutral clips) is required" in capsys.readouterr().err
    code = cli.main(["predict", *scored, *model, "--normalization", "neutral_ref",
                     "--reference", *neutral, "--format", "json"])
    out = json.loads(capsys.readouterr().out)["predictions"]
    rec = ser_classic.load(ref_dir)
    expected = rec.predict(scored, speaker=rec.enroll(neutral))
    assert code == 0 and [r["emotion"] for r in out] == list(expected)


def test_torch_discriminator_centres_on_the_enrolled_voice(small_manifest, tmp_path):
    """The torch path normalises a neutral_ref model as the numpy path does. A shipped
    student relabelled neutral_ref stands in for a torch-portable neutral_ref model (its
    graph does not depend on the normalisation; the tiny models read the extended
    descriptors, which have no torch port)."""
    torch = pytest.importorskip("torch")
    from ser_classic.torch import EmotionDiscriminator

    model = Path(shutil.copytree(resolve("deployed-speaker_norm"), tmp_path / "student"))
    card = json.loads((model / "model.json").read_text())
    card["normalization"] = "neutral_ref"
    card["integrity"] = card_integrity(card)
    (model / "model.json").write_text(json.dumps(card))
    rec = ser_classic.load(model)
    rows = small_manifest[small_manifest["speaker"] == HELD_OUT]
    voice = rec.enroll(list(rows[rows["emotion"] == "neutral"]["path"]))
    clips = [data.load_audio(p, sr=16000) for p in rows[rows["emotion"] == "sad"]["path"][:3]]
    n = min(len(c) for c in clips)
    batch = np.stack([c[:n] for c in clips])
    X, _ = rec.features(batch, sr=16000)
    expected = rec.proba_from_features(X, speaker=voice)
    np.testing.assert_allclose(  # centring only: the speaker_norm original with unit spread
        expected, ser_classic.load("deployed-speaker_norm").proba_from_features(
            X, speaker=SpeakerStats(mean=voice.mean, std=np.ones_like(voice.std),
                                    n_clips=4)))
    disc = EmotionDiscriminator(model, dtype=torch.float64)
    got = disc(torch.from_numpy(batch), sr=16000, speaker=voice).exp().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)
    with pytest.raises(ParameterError, match="never the clips being scored"):
        disc(torch.from_numpy(batch), sr=16000, speaker="batch")
