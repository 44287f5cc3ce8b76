"""Model directories are validated at load (one schema, cross-checks against the model
files, an integrity hash), and the ONNX backend deploys without any pickle."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

import ser_classic
from ser_classic import cli
from ser_classic.artifact import (
    card_integrity,
    copy_artifact,
    load_artifact,
    seal_card,
)
from ser_classic.errors import ArtifactError, ParameterError
from ser_classic.store import read_index, resolve

from .conftest import speechlike
from .deploy_models import tiny_model

MODELS = Path(__file__).resolve().parents[1] / "models"  # models/ALIAS resolves (store)
COMMITTED = sorted(read_index().models)  # the shipped models, by model id


@pytest.fixture(scope="module")
def model_dir(small_manifest, feature_cache):
    return tiny_model(small_manifest, feature_cache)


@pytest.fixture
def copy(model_dir, tmp_path):
    def copy_(name: str = "model") -> Path:
        return Path(shutil.copytree(model_dir, tmp_path / name))
    return copy_


def edit_card(d: Path, change, *, reseal: bool = False) -> Path:
    """Apply ``change`` to the card; ``reseal``: recompute its integrity (as an editor who
    knows the format would)."""
    card = json.loads((d / "model.json").read_text())
    change(card)
    if reseal:
        card["integrity"] = card_integrity(card)
    (d / "model.json").write_text(json.dumps(card))
    return d


def refused(d: Path, field: str | None, *, backends=("sklearn", "onnx"), match: str = ""
            ) -> ArtifactError:
    """Both backends refuse ``d`` with an ArtifactError naming the card and ``field``."""
    for backend in backends:
        with pytest.raises(ArtifactError, match=match) as exc:
            ser_classic.load(d, backend=backend)
        assert exc.value.field == field
        if field is not None:
            assert exc.value.path == str(d / "model.json")
            assert str(d / "model.json") in str(exc.value) and repr(field) in str(exc.value)
    return exc.value


def test_saved_card_is_sealed_and_valid(model_dir):
    card = json.loads((model_dir / "model.json").read_text())
    assert card["integrity"] == card_integrity(card)
    artifact = load_artifact(model_dir, load_joblib=False)
    assert artifact.estimator is None and artifact.session is not None
    assert artifact.session.get_outputs()[1].shape[-1] == len(card["classes"])
    # the integrity hash covers prediction fields only: notes may change
    assert card_integrity({**card, "created": "x", "cv_metrics": {"a": 1}, "notes": "y"}) \
        == card["integrity"]
    for field in ("classes", "normalization", "used_features", "n_features", "files"):
        assert card_integrity({**card, field: [0]}) != card["integrity"]


@pytest.mark.parametrize(("change", "field", "match"), [
    (lambda c: c.update(classes=c["classes"][:-1]), "classes", r"7 names.*outputs 8"),
    (lambda c: c.update(classes=c["classes"] + ["bored"]), "classes", r"9 names"),
    (lambda c: c.update(classes="angry,calm"), "classes", "valid list"),
    (lambda c: c.pop("classes"), "classes", "Field required"),
    (lambda c: c["classes"].__setitem__(1, "angry"), "classes", r"unique.*'angry'"),
    (lambda c: c["classes"].__setitem__(1, 3), "classes.1", "valid string"),
    (lambda c: c.update(normalization="speaker-norm"), "normalization",
     "'strict', 'speaker_norm' or 'neutral_ref'"),
    (lambda c: c.update(used_features=[5, 3]), "used_features", "sorted and unique"),
    (lambda c: c.update(used_features=[1, 1]), "used_features", "sorted and unique"),
    (lambda c: c.update(used_features=[0, 99999]), "used_features", "out of range"),
    (lambda c: c.update(used_features=[0.0, 1.0]), "used_features.0", "valid integer"),
    (lambda c: c.update(used_features=[]), "used_features", "at least 1"),
    (lambda c: c.update(n_features="3083"), "n_features", "valid integer"),
    (lambda c: c.update(n_features=c["n_features"] + 1), "n_features", "number of features"),
    (lambda c: c.update(sample_rate=22050), "sample_rate", "feature config"),
    (lambda c: c.update(feature_names_hash="0" * 16), "feature_names_hash", "names changed"),
    (lambda c: c.update(feature_config_hash="abc"), "feature_config_hash", "should match"),
    (lambda c: c["files"].update({"model.onnx": 42}), "files.model.onnx", "valid string"),
    (lambda c: c.update(files={}), "files.model.onnx", "Field required"),
    (lambda c: c.update(libraries=None), "libraries", "valid dictionary"),
    (lambda c: c.update(name=""), "name", "at least 1 character"),
    (lambda c: c.pop("integrity"), "integrity", "seal_card"),
    (lambda c: c.update(integrity="0" * 64), "integrity", "was edited"),
    (lambda c: c.update(format_version=True), "format_version", "not supported"),
])
def test_invalid_card_refused_naming_file_and_field(copy, change, field, match):
    refused(edit_card(copy(), change), field, match=match)


def test_edited_prediction_fields_refused(copy):
    # today's silent failures: an edited used_features or normalization predicted wrong values
    d = edit_card(copy("used"), lambda c: c.update(used_features=[0, 1, 2]))
    refused(d, "integrity", backends=("onnx",), match="was edited")
    refused(d, "used_features", backends=("sklearn",), match="columns model.joblib reads")
    d = edit_card(copy("normalization"), lambda c: c.update(normalization="speaker_norm"))
    refused(d, "integrity", match="was edited")
    # resealed by someone who knows the format: what the model files tell still refuses
    d = edit_card(copy("resealed"), lambda c: c.update(used_features=[0, 1, 2]),
                  reseal=True)
    refused(d, "used_features", backends=("sklearn",), match="columns model.joblib reads")


def test_garbage_onnx_with_matching_hash(copy):
    d = copy()
    garbage = b"\x08\x07not an onnx graph" * 50
    (d / "model.onnx").write_bytes(garbage)
    edit_card(d, lambda c: c["files"].update(
        {"model.onnx": hashlib.sha256(garbage).hexdigest()}), reseal=True)
    for backend in ("sklearn", "onnx"):
        with pytest.raises(ArtifactError, match="not a loadable ONNX graph") as exc:
            ser_classic.load(d, backend=backend)
        assert exc.value.path == str(d / "model.onnx")
    # an ONNX graph of another width (the sklearn file stays the right one)
    other = copy("other")
    sub = ser_classic.load(MODELS / "teacher", backend="onnx").artifact.onnx
    (other / "model.onnx").write_bytes(sub)
    edit_card(other, lambda c: c["files"].update(
        {"model.onnx": hashlib.sha256(sub).hexdigest()}), reseal=True)
    refused(other, "classes", match=r"8 names.*outputs 7")


def test_artifact_error_is_a_parameter_error_and_pickles():
    err = ArtifactError("m/model.json", "bad", field="classes")
    assert isinstance(err, ParameterError) and str(err) == "m/model.json: field 'classes': bad"
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.field, back.path) == (str(err), "classes", "m/model.json")


class _Evil:
    """Unpickling it creates ``marker`` (any code could run instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_onnx_backend_needs_no_pickle(copy, model_dir, tmp_path, capsys):
    waves = [speechlike(16000, 1.2, f0=f) for f in (140.0, 220.0)]
    reference = ser_classic.load(model_dir, backend="onnx").predict_proba(waves, sr=16000)

    onnx_only = copy("onnx_only")
    (onnx_only / "model.joblib").unlink()
    rec = ser_classic.load(onnx_only, backend="onnx")
    assert rec.artifact.estimator is None
    np.testing.assert_array_equal(rec.predict_proba(waves, sr=16000), reference)
    with pytest.raises(ArtifactError, match="missing model file") as exc:
        ser_classic.load(onnx_only)
    assert exc.value.path == str(onnx_only / "model.joblib")
    # the CLI's predict --backend onnx runs from it too
    clip = tmp_path / "clip.wav"
    import soundfile as sf

    sf.write(clip, waves[0], 16000)
    assert cli.main(["predict", str(clip), "--model", str(onnx_only), "--backend", "onnx",
                     "--format", "json"]) == 0
    assert rec.predict(str(clip)) in capsys.readouterr().out

    # a malicious model.joblib: the hash refuses it before unpickling, either backend
    marker = tmp_path / "pwned"
    evil = copy("evil")
    (evil / "model.joblib").write_bytes(pickle.dumps(_Evil(marker)))
    for backend in ("sklearn", "onnx"):
        with pytest.raises(ArtifactError, match=r"sha256 .* does not match"):
            ser_classic.load(evil, backend=backend)
    # whoever edits the pickle can edit the card too: the ONNX backend still never
    # unpickles it
    payload = (evil / "model.joblib").read_bytes()
    edit_card(evil, lambda c: c["files"].update(
        {"model.joblib": hashlib.sha256(payload).hexdigest()}), reseal=True)
    rec = ser_classic.load(evil, backend="onnx")
    np.testing.assert_array_equal(rec.predict_proba(waves, sr=16000), reference)
    copy_artifact(evil, tmp_path / "evil_copy")
    ser_classic.load(tmp_path / "evil_copy", backend="onnx")
    assert not marker.exists()


def test_copy_artifact_without_joblib(copy, tmp_path):
    src = copy("src")
    (src / "model.joblib").unlink()
    dst = copy("dst")  # an earlier full deployment
    copy_artifact(src, dst)
    assert sorted(p.name for p in dst.iterdir()) == ["model.json", "model.onnx"]
    assert ser_classic.load(dst, backend="onnx").model_id == \
        json.loads((src / "model.json").read_text())["model_id"]
    with pytest.raises(ArtifactError, match="integrity"):
        copy_artifact(edit_card(copy("edited"), lambda c: c.update(normalization="speaker_norm")),
                      tmp_path / "never")
    assert not (tmp_path / "never" / "model.json").exists()


def test_seal_card_adds_the_field_once_validated(copy):
    d = edit_card(copy(), lambda c: c.pop("integrity"))
    card = seal_card(d)
    assert card["integrity"] == card_integrity(card)
    assert ser_classic.load(d).model_id == card["model_id"]
    # a directory that fails another check is not sealed
    bad = edit_card(copy("bad"), lambda c: (c.pop("integrity"),
                                            c.update(classes=c["classes"][:-1])))
    with pytest.raises(ArtifactError, match="7 names"):
        seal_card(bad)
    assert "integrity" not in json.loads((bad / "model.json").read_text())


def _as_version_1(card: dict) -> None:
    """``card`` as format version 1 wrote it: the normalisation under ``protocol``."""
    v1 = {("protocol" if k == "normalization" else k): v for k, v in card.items()}
    v1["format_version"] = 1
    card.clear()
    card.update(v1)


def test_version_1_card_is_read_and_sealed_as_version_2(copy, model_dir):
    """A version-1 card (``protocol``) loads as version 2 (``normalization``), is checked
    against its own integrity hash, and seal_card rewrites it as version 2, same model id."""
    v2 = json.loads((model_dir / "model.json").read_text())
    d = edit_card(copy(), _as_version_1, reseal=True)
    assert json.loads((d / "model.json").read_text())["protocol"] == v2["normalization"]
    rec = ser_classic.load(d)
    assert rec.card["format_version"] == 2 and rec.normalization == v2["normalization"]
    assert "protocol" not in rec.card and rec.model_id == v2["model_id"]
    card = seal_card(d)
    on_disk = json.loads((d / "model.json").read_text())
    assert on_disk == card and card["format_version"] == 2 and "protocol" not in card
    assert {k: v for k, v in card.items() if k != "created"} == \
        {k: v for k, v in v2.items() if k != "created"}
    # a version-1 card edited after saving is refused (its own hash), naming its field
    edited = edit_card(copy("edited"), lambda c: (_as_version_1(c), c.update(
        protocol="speaker_norm")))
    refused(edited, "integrity", match="edited")
    bad = edit_card(copy("bad"), lambda c: (_as_version_1(c), c.update(protocol="x")),
                    reseal=True)
    refused(bad, "protocol", match="'strict', 'speaker_norm' or 'neutral_ref'")


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_models_validate_with_both_backends(name):
    card = json.loads((resolve(name) / "model.json").read_text())
    assert card["integrity"] == card_integrity(card)
    onnx = (resolve(name) / "model.onnx").read_bytes()
    assert card["model_id"] == f"{card['name']}-{hashlib.sha256(onnx).hexdigest()[:10]}"
    for backend in ("sklearn", "onnx"):
        rec = ser_classic.load(name, backend=backend)
        assert rec.model_id == card["model_id"] and len(rec.classes_) == len(card["classes"])
