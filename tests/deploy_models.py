"""Tiny trained model directories shared by the deployment tests (built once per session).

An RBF SVM on the cached features of four RAVDESS actors (240 clips): about 3 s to fit
and export.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from ser_classic.artifact import manifest_hash, save_artifact, train_model
from ser_classic.export import to_onnx_bytes
from ser_classic.features import FeatureConfig, extract_batch

__all__ = ["tiny_model"]

_BUILT: dict[str, Path] = {}
_ROOT = Path(tempfile.mkdtemp(prefix="ser_classic_models_"))


def tiny_model(manifest, cache_dir, *, normalization: str = "strict", name: str = "svm",
               params: dict | None = None) -> Path:
    """A model directory trained on ``manifest`` (cached across tests)."""
    key = f"{name}-{normalization}-{sorted((params or {}).items())}"
    if key in _BUILT:
        return _BUILT[key]
    config = FeatureConfig()
    X, errors, _ = extract_batch(manifest["path"], sha256=manifest["sha256"], config=config,
                                 cache_dir=cache_dir, n_jobs=1)
    assert not errors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est, classes = train_model(X, manifest["emotion"], name=name,
                                   speakers=manifest["speaker"], normalization=normalization,
                                   params=params)
        onnx = to_onnx_bytes(est, n_features=X.shape[1])
    out = _ROOT / f"{name}_{normalization}_{len(_BUILT)}"
    save_artifact(out, estimator=est, classes=classes, config=config, name=name,
                  normalization=normalization, onnx=onnx,
                  training={"corpus": "ravdess",
                            "speakers": sorted(np.unique(manifest["speaker"])),
                            "manifest_sha256": manifest_hash(list(manifest["sha256"]),
                                                             list(manifest["emotion"]))})
    _BUILT[key] = out
    return out
