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


FRESH = """
import sys
import joblib
import numpy as np
from ser_classic.export import check_parity, to_onnx_bytes

X = np.load(sys.argv[1])
for path in sys.argv[2:]:
    student = joblib.load(path)
    onnx = to_onnx_bytes(student, n_features=X.shape[1])
    print(path, check_parity(student, onnx, X, atol=1e-5))
"""


def test_students_convert_in_a_fresh_process(features, tmp_path):
    """The students' estimators (ColumnSelector, SoftmaxStudent, FeatureQuantizer) convert
    through export alone, in a process where no distillation function ran; pickled
    students name the public ser_classic.distill."""
    import pickle
    import subprocess
    import sys

    import joblib
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    from ser_classic.distill import ColumnSelector, SoftmaxStudent, quantize_tree

    X, y, Xt = features
    codes = np.unique(np.asarray(y), return_inverse=True)[1]
    cols = np.arange(0, X.shape[1], 7)
    linear = Pipeline([("select", ColumnSelector(cols)), ("clf", SoftmaxStudent(C=0.1))])
    tree = Pipeline([("select", ColumnSelector(cols)),
                     ("clf", DecisionTreeClassifier(max_depth=5, random_state=0))])
    tree_uint8, _ = quantize_tree(tree.fit(X, codes), X)
    paths = []
    for name, student in (("linear", linear.fit(X, codes)), ("tree_uint8", tree_uint8)):
        joblib.dump(student, tmp_path / f"{name}.joblib")
        paths.append(str(tmp_path / f"{name}.joblib"))
        assert b"ser_classic.distill._" not in pickle.dumps(student)
    np.save(tmp_path / "X.npy", np.vstack([X[::10], Xt]).astype(np.float32))
    done = subprocess.run([sys.executable, "-c", FRESH, str(tmp_path / "X.npy"), *paths],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count(".joblib") == 2
