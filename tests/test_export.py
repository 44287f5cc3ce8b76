"""Every registry model converts to ONNX with probabilities within 1e-4 of scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ser_classic.artifact import train_model
from ser_classic.export import check_parity, onnx_session, to_onnx_bytes
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.models import MODELS


@pytest.fixture(scope="module")
def features(small_manifest, tess_manifest, feature_cache):
    config = FeatureConfig()
    X, _, _ = extract_batch(small_manifest["path"], sha256=small_manifest["sha256"],
                            config=config, cache_dir=feature_cache)
    test = tess_manifest.iloc[::20]
    Xt, _, _ = extract_batch(test["path"], sha256=test["sha256"], config=config,
                             cache_dir=feature_cache)
    # every 4th feature keeps fitting fast and the selectors (k=400) meaningful
    cols = np.arange(0, X.shape[1], 4)
    return X[:, cols], small_manifest["emotion"], Xt[:, cols]


FEW_TREES = {"rf": {"clf__n_estimators": 40}, "xgboost": {"clf__n_estimators": 40},
             "lightgbm": {"clf__n_estimators": 40}}


def _fast_params(name: str) -> dict:
    """Fewer trees (same structure) to keep the test quick."""
    spec = MODELS[name]
    if spec.members:
        return {m: FEW_TREES.get(m, {}) for m in spec.members}
    return FEW_TREES.get(name, {})


@pytest.mark.parametrize("name", list(MODELS))
def test_registry_model_exports_with_parity(name, features):
    X, y, Xt = features
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est, _ = train_model(X, y, name=name, params=_fast_params(name))
        onnx = to_onnx_bytes(est, n_features=X.shape[1])
    assert check_parity(est, onnx, np.vstack([X[::10], Xt]), atol=1e-4) < 1e-4
    outputs = [o.name for o in onnx_session(onnx).get_outputs()]
    assert outputs == ["label", "probabilities"]  # no ZipMap
