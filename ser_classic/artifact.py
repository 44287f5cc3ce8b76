"""Model directories: ``model.joblib`` + ``model.onnx`` + ``model.json`` (the model card).

``save_artifact`` writes the three files atomically, the card last, with the sha256 of
each file; ``load_artifact`` refuses a directory whose files are missing, altered, from an
unknown format version, from another scikit-learn minor version (joblib backend), or whose
feature configuration no longer hashes to the recorded value (feature code changed).
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

import numpy as np

from . import __version__
from .data import atomic_write_bytes
from .errors import ParameterError
from .features import FeatureConfig, feature_names

__all__ = [
    "FORMAT_VERSION",
    "PROTOCOLS",
    "Artifact",
    "copy_artifact",
    "library_versions",
    "load_artifact",
    "manifest_hash",
    "save_artifact",
    "train_model",
    "used_feature_columns",
]

FORMAT_VERSION = 1
PROTOCOLS = ("strict", "speaker_norm")
_FILES = ("model.joblib", "model.onnx")
_LIBRARIES = ("numpy", "scipy", "scikit-learn", "librosa", "xgboost", "lightgbm", "onnx",
              "skl2onnx", "onnxmltools", "onnxruntime", "joblib", "soxr")


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
    """

    card: dict
    estimator: object
    onnx: bytes | None
    path: Path

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
                  name: str, protocol: str = "strict", onnx: bytes | None = None,
                  training: dict | None = None, cv_metrics: dict | None = None,
                  extra: dict | None = None) -> dict:
    """Write ``model.joblib``, ``model.onnx`` and ``model.json`` into ``model_dir``.

    Parameters
    ----------
    estimator : fitted pipeline taking features [shape=(n, n_features)] and integer codes
    classes : sequence of str
        Emotion of each class code, in code order.
    config : FeatureConfig
    name : str
        Registry name of the model.
    protocol : {"strict", "speaker_norm"}
        ``speaker_norm``: features are z-scored per speaker before the estimator.
    onnx : bytes, optional
        Converted graph (see :func:`ser_classic.export.to_onnx_bytes`); required.
    training, cv_metrics, extra : dict, optional
        Training data facts (manifest hash, speakers, counts), cross-validation metrics,
        anything else to record (e.g. ONNX parity). Must be JSON-serialisable.

    Returns
    -------
    card : dict
    """
    import joblib

    if protocol not in PROTOCOLS:
        raise ParameterError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
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
        "protocol": protocol,
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
        "created": created,
        **(extra or {}),
        "files": {fname: _sha(payload) for fname, payload in payloads.items()},
    }
    atomic_write_bytes(model_dir / "model.json",
                       (json.dumps(card, indent=2, default=_json_default) + "\n").encode())
    return card


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
        Unpickle ``model.joblib`` (the scikit-learn backend). Its sha256 is verified
        before unpickling, and the scikit-learn minor version must match the card's.

    Raises
    ------
    ParameterError
        Missing/unreadable card or file, sha256 mismatch, unknown format version,
        incompatible scikit-learn version, or a feature configuration that no longer
        hashes to the recorded value.
    """
    model_dir = Path(model_dir)
    card_path = model_dir / "model.json"
    if not model_dir.is_dir():
        raise ParameterError(f"{model_dir}: model directory not found")
    if not card_path.is_file():
        raise ParameterError(f"{model_dir}: no model.json (not a model directory?)")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"{card_path}: corrupt model card ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != "ser_classic.model":
        raise ParameterError(f"{card_path}: not a ser_classic model card")
    if card.get("format_version") != FORMAT_VERSION:
        raise ParameterError(f"{card_path}: format version {card.get('format_version')} is "
                             f"not supported (this ser_classic reads {FORMAT_VERSION})")
    payloads = {}
    for fname in _FILES:
        path = model_dir / fname
        if not path.is_file():
            raise ParameterError(f"{path}: missing model file")
        payload = path.read_bytes()
        expected = card.get("files", {}).get(fname)
        if _sha(payload) != expected:
            raise ParameterError(f"{path}: sha256 {_sha(payload)[:12]}… does not match the "
                                 f"model card ({str(expected)[:12]}…): file altered or "
                                 f"corrupt")
        payloads[fname] = payload
    try:
        config = FeatureConfig.from_dict(card["feature_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ParameterError(f"{card_path}: invalid feature config ({exc})") from None
    if config.hash != card.get("feature_config_hash"):
        raise ParameterError(f"{card_path}: feature config hash {config.hash} != recorded "
                             f"{card.get('feature_config_hash')}: the feature extraction "
                             f"code changed since the model was trained; retrain it")
    if _names_hash(config) != card.get("feature_names_hash"):
        raise ParameterError(f"{card_path}: the feature names changed since training")
    used = card.get("used_features")
    if used is not None and not (isinstance(used, list) and all(
            isinstance(i, int) and 0 <= i < card.get("n_features", 0) for i in used)):
        raise ParameterError(f"{card_path}: invalid used_features")
    if card.get("protocol") not in PROTOCOLS:
        raise ParameterError(f"{card_path}: unknown protocol {card.get('protocol')!r}")
    estimator = None
    if load_joblib:
        trained = card.get("libraries", {}).get("scikit-learn")
        here = library_versions()["scikit-learn"]
        if _minor(trained) != _minor(here):
            raise ParameterError(f"{model_dir}: trained with scikit-learn {trained}, this is "
                                 f"{here}; use backend='onnx' or retrain")
        import joblib

        try:
            estimator = joblib.load(io.BytesIO(payloads["model.joblib"]))
        except Exception as exc:  # unpickling errors have many types
            raise ParameterError(f"{model_dir / 'model.joblib'}: cannot load ({exc})") \
                from None
    return Artifact(card=card, estimator=estimator, onnx=payloads["model.onnx"],
                    path=model_dir)


def train_model(X: np.ndarray, emotions, *, name: str, speakers=None,
                protocol: str = "strict", params: dict | None = None,
                random_state: int = 0, X_aug: Sequence[np.ndarray] = ()):
    """Fit registry model ``name`` on feature rows and emotion labels.

    Parameters
    ----------
    X : np.ndarray [shape=(n_clips, n_features)]
    emotions : sequence of str [shape=(n_clips,)]
    name : str
        A name of :data:`ser_classic.models.MODELS` (ensembles included).
    speakers : sequence of str, optional
        Needed by ``protocol="speaker_norm"``.
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

    if protocol not in PROTOCOLS:
        raise ParameterError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if name not in MODELS:
        raise ParameterError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    X = np.asarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ParameterError("training features contain NaN rows (failed extractions)")
    X_aug = [np.asarray(a, dtype=np.float64) for a in X_aug]
    if any(a.shape != X.shape or not np.all(np.isfinite(a)) for a in X_aug):
        raise ParameterError("every X_aug array must have the shape of X, without NaN")
    if protocol == "speaker_norm":
        if speakers is None:
            raise ParameterError("protocol 'speaker_norm' needs the speaker of every clip")
        from .evaluation import protocol_inputs

        X, X_aug = protocol_inputs(X, X_aug, speakers, protocol=protocol)
    classes = sorted({str(e) for e in emotions})
    y = np.searchsorted(classes, np.asarray(emotions, dtype=str))
    params = dict(params or {})

    def fit(model: str, model_params: dict | None):
        est = build_model(model, random_state=random_state, params=model_params)
        if MODELS[model].augmented and X_aug:
            return est.fit(np.vstack([X, *X_aug]), np.tile(y, 1 + len(X_aug)))
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
    """Copy a verified model directory to ``dst`` (files replaced atomically, card last)."""
    src, dst = Path(src), Path(dst)
    load_artifact(src, load_joblib=False)  # refuse to deploy a corrupt directory
    for fname in (*_FILES, "model.json"):
        atomic_write_bytes(dst / fname, (src / fname).read_bytes())
    load_artifact(dst, load_joblib=False)
    return dst
