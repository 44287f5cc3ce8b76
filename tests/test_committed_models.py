"""The shipped models (the package's model store, ``ser_classic/shipped``) load and predict
real clips as committed (hashes, feature config of this code, both backends), and their
aliases say how they relate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ser_classic
from ser_classic.store import read_index, resolve

ROOT = Path(__file__).resolve().parents[1]
INDEX = read_index()
STORED = sorted(INDEX.models)


def test_the_deployed_models_are_shipped():
    assert {"deployed", "deployed-speaker_norm", "teacher", "teacher-speaker_norm",
            "optimized", "optimized-compact", "optimized-compact-speaker_norm",
            "optimized-compact-fast", "optimized-compact-fast-speaker_norm",
            "teacher-7emotions", "teacher-7emotions-speaker_norm", "deployed-7emotions",
            "deployed-7emotions-speaker_norm"} <= set(INDEX.aliases)


@pytest.mark.parametrize("model_id", STORED)
def test_shipped_model_predicts_real_clips_with_both_backends(model_id, ravdess_manifest):
    clips = ravdess_manifest[ravdess_manifest["speaker"] == "ravdess_05"]["path"].iloc[::12]
    classes = INDEX.models[model_id].classes
    probas = {}
    for backend in ("sklearn", "onnx"):
        model = ser_classic.load(model_id, backend=backend)
        assert model.model_id == model_id and list(model.classes_) == classes
        speaker = "batch" if model.normalization == "speaker_norm" else None
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


@pytest.mark.parametrize("suffix", ["", "-speaker_norm"])
@pytest.mark.parametrize("compact", ["optimized-compact", "optimized-compact-fast"])
def test_compact_model_is_small_and_reads_few_features(compact, suffix):
    card = ser_classic.load(f"{compact}{suffix}").card
    teacher = ser_classic.load(f"teacher{suffix}").card
    assert card["distillation"]["teacher"]["model_id"] == teacher["model_id"]
    assert INDEX.models[card["model_id"]].parent == teacher["model_id"]
    assert card["normalization"] == teacher["normalization"]
    size = (resolve(f"{compact}{suffix}") / "model.onnx").stat().st_size
    assert size * 50 <= (resolve(f"teacher{suffix}") / "model.onnx").stat().st_size
    assert len(card["distillation"]["select"]) == 340
    skipped = {"extended"} | ({"spectral"} if compact.endswith("fast") else set())
    assert not skipped & set(card["distillation"]["groups_needed"])


@pytest.mark.parametrize("suffix", ["", "-speaker_norm"])
def test_deployed_model_is_the_teacher_or_a_compact_student(suffix):
    """deployed* is a model of its A/Bs, the last one's winner (the report its alias names)."""
    deployed = ser_classic.load(f"deployed{suffix}").model_id
    candidates = {ser_classic.load(f"{name}{suffix}").model_id
                  for name in ("teacher", "optimized-compact", "optimized-compact-fast")}
    assert deployed in candidates
    report = f"reports/ab/deployed_vs_compact_fast{suffix.replace('-', '_')}"
    assert INDEX.aliases[f"deployed{suffix}"].report == report
    ab = json.loads((ROOT / report / "summary.json").read_text())
    assert ab["decision"]["winner_model"] == deployed


@pytest.mark.parametrize("suffix", ["", "-speaker_norm"])
def test_seven_emotion_models_are_their_teachers_without_calm(suffix):
    """The 7-emotion teacher is the 8-emotion teacher's registry model and parameters
    trained without calm; the deployed 7-emotion model is the winner of its TESS A/B."""
    teacher7 = ser_classic.load(f"teacher-7emotions{suffix}").card
    teacher = ser_classic.load(f"teacher{suffix}").card
    assert ((teacher7["name"], teacher7["normalization"])
            == (teacher["name"], teacher["normalization"]))
    assert INDEX.models[teacher7["model_id"]].parent == teacher["model_id"]
    assert teacher7["training"]["params"] == teacher["training"]["params"]
    assert teacher7["training"]["excluded_emotions"] == ["calm"]
    assert teacher7["cv_metrics"] is None  # the CV measured 8 emotions
    deployed = ser_classic.load(f"deployed-7emotions{suffix}").card
    assert "calm" not in deployed["classes"]
    assert deployed["normalization"] == teacher["normalization"]
    report = f"reports/ab/7emotions/teacher_vs_compact{suffix.replace('-', '_')}"
    assert INDEX.aliases[f"deployed-7emotions{suffix}"].report == report
    ab = json.loads((ROOT / report / "summary.json").read_text())
    assert ab["decision"]["winner_model"] == deployed["model_id"]
