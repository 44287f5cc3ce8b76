"""Model directories: ``model.joblib`` + ``model.onnx`` + ``model.json`` (the model card).

``save_artifact`` writes the three files atomically, the card last, with the sha256 of
each file and an integrity hash over the card fields that decide predictions;
``load_artifact`` validates the card against one schema (:class:`ModelCard`) and refuses
a directory whose files are missing, altered, from an unknown format version, from another
scikit-learn minor version (joblib backend), whose feature configuration no longer hashes
to the recorded value (feature code changed), whose card disagrees with its model files
(class count, input width, feature selection) or whose prediction fields were edited.

``model.joblib`` is a pickle: unpickling runs code chosen by whoever wrote it, and a card
hash cannot prevent that. ``load_artifact(..., load_joblib=False)`` never reads it, and
a directory of ``model.onnx`` + ``model.json`` alone is a complete deployment.

Card format versions: 2 (written) records the feature normalisation as ``normalization``;
1 called it ``protocol``. A version-1 card is read as version 2 (``protocol`` ->
``normalization``, verified against its own integrity hash first); :func:`seal_card`
rewrites it as version 2 (the model id, a hash of the ONNX bytes, does not change).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from . import __version__
from ._threads import one_blas_thread
from ._vocabulary import Normalization, normalization_of
from .data import atomic_write_bytes
from .errors import ArtifactError, ParameterError
from .features import FeatureConfig, feature_names

__all__ = [
    "FIT_REVISION",
    "FORMAT_VERSION",
    "INTEGRITY_FIELDS",
    "NORMALIZATIONS",
    "OPTIONAL_INTEGRITY_FIELDS",
    "Artifact",
    "ModelCard",
    "card_integrity",
    "copy_artifact",
    "fitted_by_this_library",
    "library_versions",
    "load_artifact",
    "manifest_hash",
    "save_artifact",
    "seal_card",
    "set_typicality",
    "train_model",
    "used_feature_columns",
]

FORMAT_VERSION = 2
#: Revision of the library's fitting code, recorded on each card as ``fit_revision``. It is
#: raised when a change moves what a fit returns beyond its solver's tolerance (2: lbfgs on
#: float32 inputs), so that a cached model fitted by other code can be told apart
#: (:func:`fitted_by_this_library`); cards saved before it have none.
FIT_REVISION = 2
#: Card format versions :func:`load_artifact` reads (older ones are upgraded in memory).
_READABLE_VERSIONS = (1, FORMAT_VERSION)
#: The values of :class:`ser_classic.Normalization`, as cards store them.
NORMALIZATIONS = tuple(m.value for m in Normalization)
_FILES = ("model.joblib", "model.onnx")
#: Card fields that decide predictions; ``integrity`` is the sha256 of their canonical JSON
#: (not ``created``, ``training``, ``cv_metrics`` or other notes).
INTEGRITY_FIELDS = ("format_version", "name", "model_id", "classes", "normalization",
                    "sample_rate", "feature_config", "feature_config_hash", "n_features",
                    "feature_names_hash", "used_features", "files")
#: Prediction fields of newer cards, covered by the integrity hash only when present (a
#: card saved without them keeps its hash).
OPTIONAL_INTEGRITY_FIELDS = ("typicality",)
#: Version 1 named the normalisation ``protocol``.
_V1_FIELD = {"normalization": "protocol"}
_V2_FIELD = {v: k for k, v in _V1_FIELD.items()}
_V1_INTEGRITY_FIELDS = tuple(_V1_FIELD.get(f, f) for f in INTEGRITY_FIELDS)
_LIBRARIES = ("numpy", "scipy", "scikit-learn", "librosa", "xgboost", "lightgbm", "onnx",
              "skl2onnx", "onnxmltools", "onnxruntime", "joblib", "soxr")


_Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
_Name = Annotated[str, StringConstraints(min_length=1)]


class _Files(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    onnx: _Sha256 = Field(alias="model.onnx")
    joblib: _Sha256 | None = Field(default=None, alias="model.joblib")


class _TypicalityEntry(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")

    statistic: Literal["trimmed_rms_z"]
    keep: Annotated[float, Field(gt=0, le=1)]
    center: Annotated[list[float], Field(min_length=1)]
    scale: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)]
    threshold: float
    width: Annotated[float, Field(gt=0)]
    quantile: Annotated[float, Field(gt=0.5, lt=1)]


class ModelCard(BaseModel):
    """The schema of ``model.json`` (fields not listed are free-form notes).

    ``classes`` is the emotion of each output column (unique); ``used_features`` the sorted
    indices, below ``n_features``, of the feature columns the model reads (``None``: all);
    ``files`` the sha256 of each model file; ``typicality`` (optional) the training rows'
    statistics that shrink atypical clips' probabilities
    (:class:`ser_classic.typicality.Typicality`); ``fit_revision`` (optional) the
    :data:`FIT_REVISION` of the code that fitted the model; ``integrity`` the sha256 of the
    :data:`INTEGRITY_FIELDS` and the :data:`OPTIONAL_INTEGRITY_FIELDS` it has
    (:func:`card_integrity`). Checks that need the model files
    (output width, feature selection) are made by :func:`load_artifact`.
    """

    model_config = ConfigDict(strict=True, extra="allow")

    format: Literal["ser_classic.model"]
    format_version: Literal[FORMAT_VERSION]
    name: _Name
    model_id: _Name
    classes: Annotated[list[_Name], Field(min_length=2)]
    normalization: Literal[NORMALIZATIONS]
    sample_rate: Annotated[int, Field(gt=0)]
    feature_config: dict[str, Any]
    feature_config_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{12}$")]
    n_features: Annotated[int, Field(gt=0)]
    feature_names_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
    used_features: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] | None
    libraries: dict[str, str | None]
    fit_revision: Annotated[int, Field(ge=1)] | None = None
    files: _Files
    typicality: _TypicalityEntry | None = None
    integrity: _Sha256 | None = None

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, value: list[str]) -> list[str]:
        dup = sorted({c for c in value if value.count(c) > 1})
        if dup:
            raise ValueError(f"class names must be unique; repeated: {dup}")
        return value

    @field_validator("used_features")
    @classmethod
    def _sorted_in_range(cls, value: list[int] | None, info: ValidationInfo):
        if value is None:
            return value
        if value != sorted(set(value)):
            raise ValueError("feature indices must be sorted and unique")
        n = info.data.get("n_features")
        if n is not None and value[-1] >= n:
            raise ValueError(f"feature index {value[-1]} out of range (n_features {n})")
        return value


@dataclass
class Artifact:
    """A loaded model directory.

    Attributes
    ----------
    card : dict
        The model card (``model.json``).
    estimator : fitted pipeline or None
        From ``model.joblib`` (None when only the ONNX graph was loaded).
    onnx : bytes or None
        The ONNX graph.
    path : Path
    session : onnxruntime.InferenceSession or None
        The graph's session, created (and checked against the card) at load.
    """

    card: dict
    estimator: object
    onnx: bytes | None
    path: Path
    session: object = None

    @property
    def feature_config(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.card["feature_config"])


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model's behaviour depends on."""
    out = {"python": platform.python_version(), "ser_classic": __version__}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def fitted_by_this_library(card: dict) -> bool:
    """Whether the model of ``card`` was fitted by this library's fitting code (its
    ``fit_revision`` is :data:`FIT_REVISION`): a cached model that was not must be refitted
    before it stands for what this code fits."""
    return card.get("fit_revision") == FIT_REVISION


def manifest_hash(sha256: list[str], labels: list[str]) -> str:
    """Order-free hash of the (file sha256, label) pairs a model was trained on."""
    pairs = sorted(f"{s}:{lab}" for s, lab in zip(sha256, labels, strict=True))
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()


def used_feature_columns(estimator, n_features: int) -> np.ndarray:
    """Indices of the feature columns ``estimator`` reads (all, unless it selects).

    Pipelines whose steps before a selector are per-feature (scalers) read only the
    selector's support; a soft vote reads the union of its members' columns.
    """
    from sklearn.feature_selection import SelectorMixin
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    every = np.arange(n_features)
    members = getattr(estimator, "estimators_", None)
    if members is not None and not isinstance(estimator, Pipeline):
        cols = [used_feature_columns(m, n_features) for m in members]
        return np.unique(np.concatenate(cols)) if cols else every
    if not isinstance(estimator, Pipeline):
        return every
    for _, step in estimator.steps:
        if isinstance(step, SelectorMixin):
            support = step.get_support()
            return np.flatnonzero(support) if support.size == n_features else every
        if not isinstance(step, StandardScaler | MinMaxScaler | MaxAbsScaler | RobustScaler):
            return every
    return every


def _sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _names_hash(config: FeatureConfig) -> str:
    return _sha("\n".join(feature_names(config=config)).encode())[:16]


def save_artifact(model_dir: str | os.PathLike, *, estimator, classes, config: FeatureConfig,
                  name: str, normalization: str = Normalization.STRICT,
                  onnx: bytes | None = None,
                  training: dict | None = None, cv_metrics: dict | None = None,
                  extra: dict | None = None, typicality=None) -> dict:
    """Write ``model.joblib``, ``model.onnx`` and ``model.json`` into ``model_dir``.

    Parameters
    ----------
    estimator : fitted pipeline taking features [shape=(n, n_features)] and integer codes
    classes : sequence of str
        Emotion of each class code, in code order.
    config : FeatureConfig
    name : str
        Registry name of the model.
    normalization : Normalization or {"strict", "speaker_norm", "neutral_ref"}
        ``speaker_norm``: features are z-scored per speaker before the estimator;
        ``neutral_ref``: centred on the speaker's neutral clips.
    onnx : bytes, optional
        Converted graph (see :func:`ser_classic.export.to_onnx_bytes`); required.
    training, cv_metrics, extra : dict, optional
        Training data facts (manifest hash, speakers, counts), cross-validation metrics,
        anything else to record (e.g. ONNX parity). Must be JSON-serialisable.
    typicality : Typicality, optional
        Statistics of the training rows (:meth:`ser_classic.typicality.Typicality.fit`
        over the columns the model reads): probabilities of atypical clips are shrunk
        towards uniform at inference. None: a model without (probabilities as the
        classifier gives them).

    Returns
    -------
    card : dict
    """
    import joblib

    normalization = normalization_of(normalization)
    if onnx is None:
        raise ParameterError("an artifact needs its ONNX graph (export.to_onnx_bytes)")
    classes = [str(c) for c in classes]
    n_classes = len(getattr(estimator, "classes_", classes))
    if n_classes != len(classes):
        raise ParameterError(f"estimator has {n_classes} classes, got {len(classes)} names")
    buf = io.BytesIO()
    joblib.dump(estimator, buf, compress=3)
    payloads = {"model.joblib": buf.getvalue(), "model.onnx": onnx}
    model_dir = Path(model_dir)
    for fname, payload in payloads.items():
        atomic_write_bytes(model_dir / fname, payload)
    n_features = len(feature_names(config=config))
    used = used_feature_columns(estimator, n_features)
    created = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    card = {
        "format": "ser_classic.model",
        "format_version": FORMAT_VERSION,
        "name": name,
        "model_id": f"{name}-{_sha(payloads['model.onnx'])[:10]}",
        "classes": classes,
        "normalization": normalization.value,
        "sample_rate": config.sample_rate,
        "feature_config": config.to_dict(),
        "feature_config_hash": config.hash,
        "n_features": n_features,
        "feature_names_hash": _names_hash(config),
        "used_features": None if used.size == n_features else used.tolist(),
        "duration_policy": {
            "trim_top_db": config.trim_top_db, "duration_s": config.duration_s,
            "note": "leading/trailing silence trimmed; no fixed length"
            if config.duration_s is None else "trimmed, then padded/cut to duration_s"},
        "training": training or {},
        "cv_metrics": cv_metrics,
        "libraries": library_versions(),
        "fit_revision": FIT_REVISION,
        "created": created,
        **(extra or {}),
        "files": {fname: _sha(payload) for fname, payload in payloads.items()},
    }
    if typicality is not None:
        _check_typicality_columns(typicality, used)
        card["typicality"] = typicality.to_dict()
    return _write_card(model_dir, card)


def _check_typicality_columns(typicality, used: np.ndarray) -> None:
    if not np.array_equal(typicality.columns, used):
        raise ParameterError(f"typicality reads {typicality.columns.size} feature columns, "
                             f"the model {used.size}: fit it on the columns the model reads")


def set_typicality(model_dir: str | os.PathLike, typicality) -> dict:
    """Store (or replace) a model directory's typicality statistics
    (:class:`ser_classic.typicality.Typicality` over the columns it reads); the model
    files are unchanged (same model id), the card is rewritten with a renewed integrity
    hash after the directory is verified.

    Returns
    -------
    card : dict
    """
    model_dir = Path(model_dir)
    card = load_artifact(model_dir, load_joblib=False).card
    used = card.get("used_features")
    _check_typicality_columns(typicality, np.arange(card["n_features"]) if used is None
                              else np.asarray(used))
    card = _write_card(model_dir, {**card, "typicality": typicality.to_dict()})
    load_artifact(model_dir, load_joblib=False)
    return card


def _write_card(model_dir: Path, card: dict) -> dict:
    """Write ``card`` (JSON types only) with its integrity hash as ``model_dir/model.json``."""
    card = json.loads(json.dumps(card, default=_json_default))
    card.pop("integrity", None)
    card["integrity"] = card_integrity(card)
    atomic_write_bytes(model_dir / "model.json", (json.dumps(card, indent=2) + "\n").encode())
    return card


def card_integrity(card: dict) -> str:
    """sha256 of the canonical JSON of the card's :data:`INTEGRITY_FIELDS`.

    Detects an edit of a field that decides predictions (a checksum, not a signature:
    whoever can edit the card can recompute it). A version-1 card's hash covers its
    ``protocol`` field in place of ``normalization``.
    """
    names = _V1_INTEGRITY_FIELDS if card.get("format_version") == 1 else INTEGRITY_FIELDS
    names += tuple(k for k in OPTIONAL_INTEGRITY_FIELDS if k in card)
    fields = {k: card.get(k) for k in names}
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_json_default)
    return _sha(blob.encode())


def _json_default(obj):
    if isinstance(obj, np.integer | np.floating):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _minor(version: str | None) -> tuple[str, ...]:
    return tuple((version or "").split(".")[:2])


def load_artifact(model_dir: str | os.PathLike, *, load_joblib: bool = True) -> Artifact:
    """Read and verify a model directory.

    Parameters
    ----------
    model_dir : path
    load_joblib : bool
        Unpickle ``model.joblib`` (the scikit-learn backend), after verifying its sha256
        and that the scikit-learn minor version matches the card's. With False it is
        never unpickled and may be absent (``model.onnx`` + ``model.json`` suffice); when
        present, its sha256 is still verified.

    Returns
    -------
    artifact : Artifact
        With the ONNX session, whose input and output widths match the card.

    Raises
    ------
    ArtifactError
        A :class:`ParameterError` naming the file and, where one is at fault, the card
        field: missing/unreadable card or file, a card that does not match
        :class:`ModelCard`, sha256 mismatch, unknown format version, incompatible
        scikit-learn version, a feature configuration that no longer hashes to the
        recorded value, a card that disagrees with its model files, or an edited card
        (integrity hash).
    """
    return _load(Path(model_dir), load_joblib=load_joblib, verify_integrity=True)


def _read_card(model_dir: Path) -> dict:
    card_path = model_dir / "model.json"
    if not model_dir.is_dir():
        raise ArtifactError(model_dir, "model directory not found")
    if not card_path.is_file():
        raise ArtifactError(model_dir, "no model.json (not a model directory?)")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(card_path, f"corrupt model card ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != "ser_classic.model":
        raise ArtifactError(card_path, "not a ser_classic model card")
    version = card.get("format_version")
    if type(version) is not int or version not in _READABLE_VERSIONS:
        readable = " and ".join(map(str, _READABLE_VERSIONS))
        raise ArtifactError(card_path, f"format version {version!r} is not "
                                       f"supported (this ser_classic reads {readable})",
                            field="format_version")
    card = _upgrade(card)
    try:
        ModelCard.model_validate(card)
    except ValidationError as exc:
        # name the field as a version-1 card spells it
        raise _schema_error(exc, card_path,
                            rename=_V1_FIELD if version == 1 else None) from None
    return card


def _upgrade(card: dict) -> dict:
    """A version-1 card as version 2: ``protocol`` renamed ``normalization`` (same place in
    the field order); in the notes, ``cv_metrics``' ``protocol`` / ``speaker_normalized``
    become ``split`` / ``normalization`` and a recorded command's ``--protocol`` flag
    ``--normalization`` (the flag of the same meaning today). Its integrity hash is renewed
    only when the version-1 hash holds; otherwise the old one is kept, and the integrity
    check refuses the card."""
    if card.get("format_version") != 1:
        return card
    valid = card.get("integrity") is not None and card["integrity"] == card_integrity(card)
    out = {_V2_FIELD.get(k, k): v for k, v in card.items()}
    out["format_version"] = FORMAT_VERSION
    cv = out.get("cv_metrics")
    if isinstance(cv, dict) and ("protocol" in cv or "speaker_normalized" in cv):
        # notes in the version-1 words: the split scheme, a bool for the normalisation
        out["cv_metrics"] = {
            ("split" if k == "protocol" else "normalization" if k == "speaker_normalized"
             else k): ((Normalization.SPEAKER_NORM if v else Normalization.STRICT).value
                       if k == "speaker_normalized" and isinstance(v, bool) else v)
            for k, v in cv.items()}
    for notes in ("training", "distillation"):  # recorded commands, in today's flags
        command = (out.get(notes) or {}).get("command")
        if isinstance(command, str) and " --protocol " in command:
            out[notes] = {**out[notes],
                          "command": command.replace(" --protocol ", " --normalization ")}
    if valid:
        out["integrity"] = card_integrity(out)
    return out


def _schema_error(exc: ValidationError, path: Path, *, rename: dict | None = None
                  ) -> ArtifactError:
    """The first error of a pydantic validation as an :class:`ArtifactError` naming the
    file and the field (``rename``: field names to report under another name)."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    if rename:
        field = rename.get(field, field)
    problem = err["msg"].removeprefix("Value error, ")
    if err["type"] != "missing":
        problem += f" (got {_short(err.get('input'))})"
    return ArtifactError(path, problem, field=field)


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _load(model_dir: Path, *, load_joblib: bool, verify_integrity: bool) -> Artifact:
    card_path = model_dir / "model.json"
    card = _read_card(model_dir)
    payloads = {}
    for fname in _FILES:
        path = model_dir / fname
        if not path.is_file():
            if fname == "model.joblib" and not load_joblib:
                continue  # the ONNX backend needs no pickle
            raise ArtifactError(path, "missing model file")
        expected = card["files"].get(fname)
        if expected is None:
            raise ArtifactError(card_path, f"no sha256 for {fname}", field="files")
        payload = path.read_bytes()
        if _sha(payload) != expected:
            raise ArtifactError(path, f"sha256 {_sha(payload)[:12]}… does not match the "
                                      f"model card ({expected[:12]}…): file altered or "
                                      f"corrupt")
        payloads[fname] = payload
    try:
        config = FeatureConfig.from_dict(card["feature_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(card_path, f"invalid feature config ({exc})",
                            field="feature_config") from None
    if config.hash != card["feature_config_hash"]:
        raise ArtifactError(card_path, f"feature config hash {config.hash} != recorded "
                                       f"{card['feature_config_hash']}: the feature "
                                       f"extraction code changed since the model was "
                                       f"trained; retrain it", field="feature_config_hash")
    if _names_hash(config) != card["feature_names_hash"]:
        raise ArtifactError(card_path, "the feature names changed since training",
                            field="feature_names_hash")
    n_names = len(feature_names(config=config))
    if card["n_features"] != n_names:
        raise ArtifactError(card_path, f"{card['n_features']} != {n_names}, the number of "
                                       f"features of its feature config", field="n_features")
    if card["sample_rate"] != config.sample_rate:
        raise ArtifactError(card_path, f"{card['sample_rate']} != the feature config's "
                                       f"{config.sample_rate}", field="sample_rate")
    if card.get("typicality") is not None:
        from .typicality import Typicality

        try:
            Typicality.from_card(card)
        except ParameterError as exc:
            raise ArtifactError(card_path, str(exc), field="typicality") from None
    session = _check_onnx(payloads["model.onnx"], card, path=model_dir / "model.onnx")
    estimator = None
    if load_joblib:
        estimator = _load_estimator(payloads["model.joblib"], card, model_dir=model_dir)
    if verify_integrity:
        if card.get("integrity") is None:
            raise ArtifactError(card_path, "no integrity hash (a card written before "
                                           "ser_classic checked them): check the card, then "
                                           "add it with ser_classic.artifact.seal_card",
                                field="integrity")
        if card["integrity"] != card_integrity(card):
            raise ArtifactError(card_path, f"does not match the card: one of "
                                           f"{', '.join(INTEGRITY_FIELDS)} (or "
                                           f"typicality) was edited after "
                                           f"the model was saved", field="integrity")
    return Artifact(card=card, estimator=estimator, onnx=payloads["model.onnx"],
                    path=model_dir, session=session)


def _check_onnx(onnx: bytes, card: dict, *, path: Path):
    """The graph's session; its input width must be n_features, its output len(classes)."""
    from .export import INPUT_NAME, PROBA_NAME, onnx_session

    try:
        session = onnx_session(onnx, source=path)
    except ParameterError as exc:
        raise ArtifactError(path, str(exc).removeprefix(f"{path}: ")) from None
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if INPUT_NAME not in inputs or PROBA_NAME not in outputs:
        raise ArtifactError(path, f"not a ser_classic graph: needs input {INPUT_NAME!r} and "
                                  f"output {PROBA_NAME!r}, has {sorted(inputs)} -> "
                                  f"{sorted(outputs)}")
    n_in = inputs[INPUT_NAME][-1] if len(inputs[INPUT_NAME]) == 2 else None
    if isinstance(n_in, int) and n_in != card["n_features"]:
        raise ArtifactError(path.with_name("model.json"),
                            f"{card['n_features']}, but model.onnx reads {n_in} features",
                            field="n_features")
    n_out = outputs[PROBA_NAME][-1] if len(outputs[PROBA_NAME]) == 2 else None
    if not isinstance(n_out, int):  # symbolic width: run one row
        from .export import onnx_predict_proba

        try:
            n_out = onnx_predict_proba(session, np.zeros((1, card["n_features"]))).shape[-1]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ArtifactError(path, f"cannot run the graph ({exc})") from None
    if n_out != len(card["classes"]):
        raise ArtifactError(path.with_name("model.json"),
                            f"{len(card['classes'])} names, but model.onnx outputs {n_out} "
                            f"class probabilities", field="classes")
    return session


def _load_estimator(payload: bytes, card: dict, *, model_dir: Path):
    """Unpickle model.joblib (already sha256-verified) and check it against the card."""
    card_path = model_dir / "model.json"
    trained = card["libraries"].get("scikit-learn")
    here = library_versions()["scikit-learn"]
    if _minor(trained) != _minor(here):
        raise ArtifactError(model_dir, f"trained with scikit-learn {trained}, this is "
                                       f"{here}; use backend='onnx' or retrain")
    import joblib

    try:
        estimator = joblib.load(io.BytesIO(payload))
    except Exception as exc:  # unpickling errors have many types
        raise ArtifactError(model_dir / "model.joblib", f"cannot load ({exc})") from None
    n_classes = len(getattr(estimator, "classes_", card["classes"]))
    if n_classes != len(card["classes"]):
        raise ArtifactError(card_path, f"{len(card['classes'])} names, but model.joblib has "
                                       f"{n_classes} classes", field="classes")
    n_in = getattr(estimator, "n_features_in_", card["n_features"])
    if n_in != card["n_features"]:
        raise ArtifactError(card_path, f"{card['n_features']}, but model.joblib reads {n_in} "
                                       f"features", field="n_features")
    used = used_feature_columns(estimator, card["n_features"])
    used = None if used.size == card["n_features"] else used.tolist()
    if used != card["used_features"]:
        raise ArtifactError(card_path, "differs from the columns model.joblib reads "
                                       f"({_short(used)})", field="used_features")
    return estimator


def seal_card(model_dir: str | os.PathLike) -> dict:
    """Add (or renew) the integrity hash of a model card, after validating the directory.

    For cards written before :func:`save_artifact` recorded one, after a deliberate edit of
    a prediction field, and to migrate a card of an older format version (written as
    :data:`FORMAT_VERSION`; the model id does not change). Every other check of
    :func:`load_artifact` must pass (with the scikit-learn backend's checks when
    ``model.joblib`` is present; it is unpickled, so seal only trusted directories).

    Returns
    -------
    card : dict
    """
    model_dir = Path(model_dir)
    has_joblib = (model_dir / "model.joblib").is_file()
    card = _load(model_dir, load_joblib=has_joblib, verify_integrity=False).card
    on_disk = json.loads((model_dir / "model.json").read_text())
    if card.get("integrity") != card_integrity(card) or card != on_disk:
        card = _write_card(model_dir, card)
    _load(model_dir, load_joblib=False, verify_integrity=True)
    return card


@one_blas_thread
def train_model(X: np.ndarray, emotions, *, name: str, speakers=None,
                normalization: str = Normalization.STRICT, params: dict | None = None,
                random_state: int = 0, X_aug: Sequence[np.ndarray] = ()):
    """Fit registry model ``name`` on feature rows and emotion labels.

    The low-level fitter: exactly the rows, copies and parameters given, nothing added.
    :func:`ser_classic.train` (``ser-classic train``) is the job: it reads a corpus's clips,
    adds the augmentation preset's copies and the evaluation's tuned parameters, then fits
    through this function, exports the ONNX graph and writes the card.

    Parameters
    ----------
    X : np.ndarray [shape=(n_clips, n_features)]
    emotions : sequence of str [shape=(n_clips,)]
        Labels of any label set (at least two distinct); the classes are their sorted
        distinct values.
    name : str
        A name of :data:`ser_classic.models.MODELS` (ensembles included).
    speakers : sequence of str, optional
        Needed by ``normalization="speaker_norm"`` and ``"neutral_ref"``.
    normalization : Normalization or {"strict", "speaker_norm", "neutral_ref"}
        ``"neutral_ref"``: every speaker centred on its ``"neutral"`` clips' mean
        (:func:`ser_classic.evaluation.normalized_inputs`).
    params : dict, optional
        Hyper-parameters; for an ensemble, ``{member: {param: value}}``.
    X_aug : sequence of np.ndarray [shape=(n_clips, n_features)]
        Augmented copies (row i a copy of clip i, same label and speaker); used by the
        models registered with ``augmented=True``.

    Returns
    -------
    estimator : fitted pipeline (integer class codes)
    classes : list of str
        Emotion of each class code.
    """
    from .models import MODELS, SoftVote, build_model

    normalization = normalization_of(normalization)
    if name not in MODELS:
        raise ParameterError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    X = np.asarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ParameterError("training features contain NaN rows (failed extractions)")
    X_aug = [np.asarray(a, dtype=np.float64) for a in X_aug]
    if any(a.shape != X.shape or not np.all(np.isfinite(a)) for a in X_aug):
        raise ParameterError("every X_aug array must have the shape of X, without NaN")
    emotions = np.asarray(emotions, dtype=str)
    if emotions.shape != (X.shape[0],):
        raise ParameterError(f"{emotions.size} labels for {X.shape[0]} feature rows")
    if normalization != Normalization.STRICT:
        if speakers is None:
            raise ParameterError(f"normalization {normalization.value!r} needs the speaker "
                                 f"of every clip")
        from .evaluation import normalized_inputs

        X, X_aug = normalized_inputs(X, X_aug, speakers, normalization=normalization,
                                     labels=emotions)
    classes = sorted(set(emotions.tolist()))  # any label set: the labels the data has
    if len(classes) < 2:
        raise ParameterError(f"training needs at least two classes, got {classes}")
    y = np.searchsorted(classes, emotions)
    params = dict(params or {})

    def fit(model: str, model_params: dict | None):
        est = build_model(model, random_state=random_state, params=model_params)
        if MODELS[model].fits_copies(normalization) and X_aug:
            X_all, y_all = np.vstack([X, *X_aug]), np.tile(y, 1 + len(X_aug))
            keep = ~np.isnan(X_all).any(axis=1)  # neutral_ref: copies without a reference
            return est.fit(X_all[keep], y_all[keep])
        return est.fit(X, y)

    spec = MODELS[name]
    if not spec.members:
        return fit(name, params), classes
    members = [(m, fit(m, params.get(m))) for m in spec.members]
    vote = SoftVote(members)
    vote.estimators_ = [est for _, est in members]
    vote.classes_ = members[0][1].classes_
    return vote, classes


def copy_artifact(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy a verified model directory to ``dst`` (files replaced atomically, card last).

    Nothing is unpickled. ``model.joblib`` is copied when ``src`` has it; otherwise a
    ``model.joblib`` left in ``dst`` by an earlier model is removed.
    """
    src, dst = Path(src), Path(dst)
    load_artifact(src, load_joblib=False)  # refuse to deploy a corrupt directory
    for fname in (*_FILES, "model.json"):
        if (src / fname).is_file():
            atomic_write_bytes(dst / fname, (src / fname).read_bytes())
        elif fname == "model.joblib":
            (dst / fname).unlink(missing_ok=True)
    load_artifact(dst, load_joblib=False)
    return dst
