"""The shipped models (the package's model store, ``ser_classic/shipped``) load and predict
real clips as committed (hashes, feature config of this code, both backends), and their
aliases say how they relate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ser_classic
from ser_classic.distill import feature_groups
from ser_classic.features import FeatureConfig, feature_names
from ser_classic.store import read_index, resolve

ROOT = Path(__file__).resolve().parents[1]
INDEX = read_index()
STORED = sorted(INDEX.models)
SUFFIXES = ("", "-speaker_norm", "-neutral_ref")


def test_the_deployed_models_are_shipped():
    assert set(INDEX.aliases) == {f"{role}{suffix}" for role in ("deployed", "teacher", "student")
                                  for suffix in SUFFIXES}


@pytest.mark.parametrize("model_id", STORED)
def test_shipped_models_are_trained_on_every_corpus(model_id):
    """Issue 19: the deployed models know RAVDESS, TESS and EMOVO; calm (RAVDESS only) is
    left out of training, so the classes are the 7 emotions all three share."""
    card = ser_classic.load(model_id).card
    teacher = card if card.get("distillation") is None else card["distillation"]["teacher"]
    training = (teacher.get("training") or
                ser_classic.load(teacher["model_id"]).card["training"])
    assert training["corpora"] == ["emovo", "ravdess", "tess"]
    assert training["excluded_emotions"] == ["calm"]
    assert sorted(card["classes"]) == sorted(["neutral", "happy", "sad", "angry", "fearful",
                                              "disgust", "surprised"])


@pytest.mark.parametrize("model_id", STORED)
def test_shipped_model_predicts_real_clips_with_both_backends(model_id, ravdess_manifest):
    actor = ravdess_manifest[ravdess_manifest["speaker"] == "ravdess_05"]
    clips = actor["path"].iloc[::12]
    neutral = list(actor.loc[actor["emotion"] == "neutral", "path"])
    classes = INDEX.models[model_id].classes
    probas = {}
    for backend in ("sklearn", "onnx"):
        model = ser_classic.load(model_id, backend=backend)
        assert model.model_id == model_id and list(model.classes_) == classes
        speaker = {"strict": None, "speaker_norm": "batch",
                   "neutral_ref": model.enroll(neutral)}[model.normalization]
        probas[backend] = model.predict_proba(list(clips), speaker=speaker)
    p_sk, p_onnx = probas["sklearn"], probas["onnx"]
    assert p_sk.shape == (len(clips), len(classes))
    np.testing.assert_allclose(p_sk.sum(axis=1), 1.0, atol=1e-5)
    # float graphs agree to 1e-4; the int8 ONNX graphs of the students stay close to their
    # float (scikit-learn) models, and are what load() runs by default
    quantized = "int8" in model.card["name"]
    assert np.abs(p_sk - p_onnx).max() < (0.05 if quantized else 1e-4)
    assert np.mean(p_sk.argmax(1) == p_onnx.argmax(1)) >= (0.8 if quantized else 1.0)
    assert ser_classic.load(model_id).backend == ("onnx" if quantized else "sklearn")
    assert INDEX.models[model_id].backend == ser_classic.load(model_id).backend


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_student_is_small_and_skips_the_costliest_group(suffix):
    card = ser_classic.load(f"student{suffix}").card
    teacher = ser_classic.load(f"teacher{suffix}").card
    assert card["distillation"]["teacher"]["model_id"] == teacher["model_id"]
    assert INDEX.models[card["model_id"]].parent == teacher["model_id"]
    assert card["normalization"] == teacher["normalization"]
    size = (resolve(f"student{suffix}") / "model.onnx").stat().st_size
    assert size * 5 <= (resolve(f"teacher{suffix}") / "model.onnx").stat().st_size
    # the Makefile's STUDENT, chosen in reports/ablation_logit: logit matching on every
    # column of every group but the extended descriptors (the costliest to extract)
    assert card["name"] == "distilled_logit_int8"
    config = FeatureConfig()
    allowed = np.flatnonzero(feature_groups(config=config) != "extended")
    assert card["used_features"] == allowed.tolist()
    assert card["distillation"]["select"] == [feature_names(config=config)[j] for j in allowed]
    assert "extended" not in card["distillation"]["groups_needed"]
    assert "spectral" in card["distillation"]["groups_needed"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_deployed_model_is_the_winner_of_the_held_out_corpus_ab(suffix):
    """deployed* is the teacher or its student, as the held-out-corpus A/B decided
    (the report its alias names; each training corpus held out in turn)."""
    deployed = ser_classic.load(f"deployed{suffix}").model_id
    candidates = {ser_classic.load(f"{name}{suffix}").model_id
                  for name in ("teacher", "student")}
    assert deployed in candidates
    report = f"reports/ab/corpus{suffix.replace('-', '_')}"
    assert INDEX.aliases[f"deployed{suffix}"].report == report
    ab = json.loads((ROOT / report / "summary.json").read_text())
    assert ab["kind"] == "corpus_ab" and ab["corpora"] == ["emovo", "ravdess", "tess"]
    kind = ab["decision"]["deploy"]
    card = ser_classic.load(f"deployed{suffix}").card
    assert (card["name"] == f"distilled_{kind}") or (kind == "teacher"
                                                      and card.get("distillation") is None)


