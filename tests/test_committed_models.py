"""The model directories committed under models/ load and predict real clips as committed
(hashes, feature config of this code, both backends)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ser_classic
from ser_classic.data import EMOTIONS

MODELS = Path(__file__).resolve().parents[1] / "models"
COMMITTED = sorted(p.name for p in MODELS.iterdir() if (p / "model.json").exists())


def test_the_deployed_models_are_committed():
    assert {"deployed", "deployed-speaker_norm", "teacher", "teacher-speaker_norm",
            "optimized", "optimized-compact", "optimized-compact-speaker_norm",
            "optimized-compact-fast", "optimized-compact-fast-speaker_norm",
            "teacher-7emotions", "teacher-7emotions-speaker_norm", "deployed-7emotions",
            "deployed-7emotions-speaker_norm"} <= set(COMMITTED)


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_model_predicts_real_clips_with_both_backends(name, ravdess_manifest):
    clips = ravdess_manifest[ravdess_manifest["speaker"] == "ravdess_05"]["path"].iloc[::12]
    classes = sorted(set(EMOTIONS) - ({"calm"} if "7emotions" in name else set()))
    probas = {}
    for backend in ("sklearn", "onnx"):
        model = ser_classic.load(MODELS / name, backend=backend)
        assert list(model.classes_) == classes
        speaker = "batch" if model.protocol == "speaker_norm" else None
        probas[backend] = model.predict_proba(list(clips), speaker=speaker)
    p_sk, p_onnx = probas["sklearn"], probas["onnx"]
    assert p_sk.shape == (len(clips), len(classes))
    np.testing.assert_allclose(p_sk.sum(axis=1), 1.0, atol=1e-5)
    # float graphs agree to 1e-4; the int8 ONNX graphs of the students stay close to their
    # float (scikit-learn) models
    quantized = "int8" in model.card["name"]
    assert np.abs(p_sk - p_onnx).max() < (0.05 if quantized else 1e-4)
    assert np.mean(p_sk.argmax(1) == p_onnx.argmax(1)) >= (0.8 if quantized else 1.0)


@pytest.mark.parametrize("suffix", ["", "-speaker_norm"])
@pytest.mark.parametrize("compact", ["optimized-compact", "optimized-compact-fast"])
def test_compact_model_is_small_and_reads_few_features(compact, suffix):
    card = ser_classic.load(MODELS / f"{compact}{suffix}").card
    teacher = ser_classic.load(MODELS / f"teacher{suffix}").card
    assert card["distillation"]["teacher"]["model_id"] == teacher["model_id"]
    assert card["protocol"] == teacher["protocol"]
    size = (MODELS / f"{compact}{suffix}" / "model.onnx").stat().st_size
    assert size * 50 <= (MODELS / f"teacher{suffix}" / "model.onnx").stat().st_size
    assert len(card["distillation"]["select"]) == 340
    skipped = {"extended"} | ({"spectral"} if compact.endswith("fast") else set())
    assert not skipped & set(card["distillation"]["groups_needed"])


@pytest.mark.parametrize("suffix", ["", "-speaker_norm"])
def test_deployed_model_is_the_teacher_or_a_compact_student(suffix):
    """models/deployed* is a verified copy of a model of its A/Bs, the last one's winner."""
    deployed = ser_classic.load(MODELS / f"deployed{suffix}").card["model_id"]
    candidates = {ser_classic.load(MODELS / f"{name}{suffix}").card["model_id"]
                  for name in ("teacher", "optimized-compact", "optimized-compact-fast")}
    assert deployed in candidates
    report = f"deployed_vs_compact_fast{suffix.replace('-', '_')}"
    ab = json.loads((MODELS.parent / "reports" / "ab" / report / "summary.json").read_text())
    assert ab["decision"]["winner_model"] == deployed


@pytest.mark.parametrize("suffix", ["", "-speaker_norm"])
def test_seven_emotion_models_are_their_teachers_without_calm(suffix):
    """The 7-emotion teacher is the 8-emotion teacher's registry model and parameters
    trained without calm; the deployed 7-emotion model is the winner of its TESS A/B."""
    teacher7 = ser_classic.load(MODELS / f"teacher-7emotions{suffix}").card
    teacher = ser_classic.load(MODELS / f"teacher{suffix}").card
    assert (teacher7["name"], teacher7["protocol"]) == (teacher["name"], teacher["protocol"])
    assert teacher7["training"]["params"] == teacher["training"]["params"]
    assert teacher7["training"]["excluded_emotions"] == ["calm"]
    assert teacher7["cv_metrics"] is None  # the CV measured 8 emotions
    deployed = ser_classic.load(MODELS / f"deployed-7emotions{suffix}").card
    assert "calm" not in deployed["classes"] and deployed["protocol"] == teacher["protocol"]
    report = f"teacher_vs_compact{suffix.replace('-', '_')}"
    ab = json.loads((MODELS.parent / "reports" / "ab" / "7emotions" / report /
                     "summary.json").read_text())
    assert ab["decision"]["winner_model"] == deployed["model_id"]
