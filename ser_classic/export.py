"""ONNX export of fitted pipelines (skl2onnx + onnxmltools) and the parity check.

The graph takes ``features`` [float32, shape=(n, d)] and returns ``label`` and
``probabilities`` [float32, shape=(n, n_classes)] (no ZipMap). Every converter the
project needs is registered with skl2onnx here, once, on the first conversion: XGBoost
and LightGBM (onnxmltools), the ridge read-out of :mod:`ser_classic.models`, and the
students' estimators of :mod:`ser_classic.distill` (``ColumnSelector`` -> Gather,
``FeatureQuantizer`` -> Sub/QuantizeLinear/Cast, ``SoftmaxStudent`` ->
Sub/Mul/MatMul/Add/Softmax), and :class:`ser_classic.calibration.TemperatureScaled` (the
base's graph, then Max/Log/Mul/Softmax), so :func:`to_onnx_bytes` converts a student or a
calibrated model in any process.
Inputs are float32 for every model, and the scikit-learn backend of
:class:`ser_classic.recognizer.EmotionRecognizer` rounds its inputs to float32 too. Tree
thresholds are float32 in scikit-learn and XGBoost; LightGBM's double thresholds are
rounded *down* to float32 on export, so float32 inputs take the same branches.
"""

from __future__ import annotations

import functools

import numpy as np

from .errors import ParameterError

__all__ = [
    "INPUT_NAME",
    "PROBA_NAME",
    "check_parity",
    "onnx_predict_proba",
    "onnx_session",
    "to_onnx_bytes",
]

INPUT_NAME = "features"
PROBA_NAME = "probabilities"
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


@functools.lru_cache(maxsize=1)
def _register_converters() -> None:
    """Register onnxmltools' XGBoost / LightGBM converters and ours with skl2onnx."""
    from lightgbm import LGBMClassifier
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    from skl2onnx.operator_converters.linear_classifier import (
        convert_sklearn_linear_classifier,
    )
    from xgboost import XGBClassifier

    from .calibration import TemperatureScaled
    from .distill import ColumnSelector, FeatureQuantizer, LogitStudent, SoftmaxStudent
    from .models import Float32LogisticRegression, RidgeSoftmax

    options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    linear = {**options, "raw_scores": [True, False]}
    for model, alias, converter, opts in (
            (XGBClassifier, "XGBoostXGBClassifier", convert_xgboost, options),
            (LGBMClassifier, "LightGbmLGBMClassifier", _convert_lightgbm_float32, options),
            # a multinomial linear model: skl2onnx's linear converter, softmax read-out
            (RidgeSoftmax, "SerClassicRidgeSoftmax", convert_sklearn_linear_classifier,
             linear),
            # scikit-learn's LogisticRegression fitted on float32: its own converter
            (Float32LogisticRegression, "SerClassicFloat32LogisticRegression",
             convert_sklearn_linear_classifier, linear)):
        update_registered_converter(model, alias, calculate_linear_classifier_output_shapes,
                                    converter, options=opts)
    # the students' estimators (ser_classic.distill)
    update_registered_converter(ColumnSelector, "SerClassicColumnSelector",
                                _shape_column_selector, _convert_column_selector)
    for head, alias in ((SoftmaxStudent, "SerClassicSoftmaxStudent"),
                        (LogitStudent, "SerClassicLogitStudent")):  # the same graph
        update_registered_converter(head, alias, _shape_softmax_student,
                                    _convert_softmax_student,
                                    options={"zipmap": [False], "nocl": [True, False]})
    update_registered_converter(FeatureQuantizer, "SerClassicFeatureQuantizer",
                                _shape_feature_quantizer, _convert_feature_quantizer)
    # ser_classic.calibration: the base's graph, then Max(floor) -> Log -> Mul -> Softmax
    update_registered_converter(TemperatureScaled, "SerClassicTemperatureScaled",
                                _shape_temperature_scaled, _convert_temperature_scaled,
                                options={"zipmap": [False], "nocl": [True, False]})


def _shape_column_selector(operator):
    from skl2onnx.common.data_types import FloatTensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = FloatTensorType([n, len(operator.raw_operator.columns_)])


def _convert_column_selector(scope, operator, container):
    """``ColumnSelector`` -> Gather of its int32 column indices along axis 1."""
    from onnx import TensorProto

    op = operator.raw_operator
    idx = scope.get_unique_variable_name("columns")
    container.add_initializer(idx, TensorProto.INT32, [op.columns_.size],
                              op.columns_.tolist())  # int32: half the bytes of int64
    container.add_node("Gather", [operator.inputs[0].full_name, idx],
                       operator.outputs[0].full_name, axis=1,
                       name=scope.get_unique_operator_name("Gather"))


def _shape_feature_quantizer(operator):
    from skl2onnx.common.data_types import FloatTensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = FloatTensorType([n, operator.raw_operator.n_features_in_])


def _convert_feature_quantizer(scope, operator, container):
    """``FeatureQuantizer`` -> Sub(offset) -> QuantizeLinear(per-axis scale, uint8) -> Cast."""
    from onnx import TensorProto

    op = operator.raw_operator
    d = op.n_features_in_
    off, scale, zp = (scope.get_unique_variable_name(n) for n in ("q_offset", "q_scale",
                                                                  "q_zero"))
    container.add_initializer(off, TensorProto.FLOAT, [d], op.offset_.tolist())
    container.add_initializer(scale, TensorProto.FLOAT, [d], op.scale_.tolist())
    container.add_initializer(zp, TensorProto.UINT8, [d], [0] * d)
    shifted = scope.get_unique_variable_name("shifted")
    codes = scope.get_unique_variable_name("codes_uint8")
    container.add_node("Sub", [operator.inputs[0].full_name, off], shifted,
                       name=scope.get_unique_operator_name("Sub"))
    container.add_node("QuantizeLinear", [shifted, scale, zp], codes, axis=1,
                       op_version=13, name=scope.get_unique_operator_name("Quantize"))
    container.add_node("Cast", [codes], operator.outputs[0].full_name,
                       to=TensorProto.FLOAT, name=scope.get_unique_operator_name("Cast"))


def _shape_softmax_student(operator):
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = Int64TensorType([n])
    operator.outputs[1].type = FloatTensorType([n, operator.raw_operator.classes_.size])


def _convert_softmax_student(scope, operator, container):
    """``SoftmaxStudent`` -> Sub(mean) -> Mul(1/scale) -> MatMul -> Add -> Softmax (ArgMax)."""
    from onnx import TensorProto

    op = operator.raw_operator
    if not np.array_equal(op.classes_, np.arange(op.classes_.size)):
        raise ParameterError("SoftmaxStudent exports integer class codes 0..n-1 only")
    d, k = op.coef_.shape[1], op.coef_.shape[0]
    names = {n: scope.get_unique_variable_name(n) for n in (
        "sm_mean", "sm_inv_scale", "sm_weights", "sm_bias", "sm_centred", "sm_z",
        "sm_scores", "sm_logits")}
    container.add_initializer(names["sm_mean"], TensorProto.FLOAT, [d],
                              op.mean_.astype(np.float32).tolist())
    container.add_initializer(names["sm_inv_scale"], TensorProto.FLOAT, [d],
                              (1.0 / op.scale_).astype(np.float32).tolist())
    container.add_initializer(names["sm_weights"], TensorProto.FLOAT, [d, k],
                              op.coef_.T.astype(np.float32).ravel().tolist())
    container.add_initializer(names["sm_bias"], TensorProto.FLOAT, [k],
                              op.intercept_.astype(np.float32).tolist())
    x = operator.inputs[0].full_name
    for op_type, inputs, output in (
            ("Sub", [x, names["sm_mean"]], names["sm_centred"]),
            ("Mul", [names["sm_centred"], names["sm_inv_scale"]], names["sm_z"]),
            ("MatMul", [names["sm_z"], names["sm_weights"]], names["sm_scores"]),
            ("Add", [names["sm_scores"], names["sm_bias"]], names["sm_logits"])):
        container.add_node(op_type, inputs, output,
                           name=scope.get_unique_operator_name(op_type))
    container.add_node("Softmax", [names["sm_logits"]], operator.outputs[1].full_name,
                       axis=1, name=scope.get_unique_operator_name("Softmax"))
    container.add_node("ArgMax", [operator.outputs[1].full_name],
                       operator.outputs[0].full_name, axis=1, keepdims=0,
                       name=scope.get_unique_operator_name("ArgMax"))


def _shape_temperature_scaled(operator):
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = Int64TensorType([n])
    operator.outputs[1].type = FloatTensorType([n, operator.raw_operator.classes_.size])


def _convert_temperature_scaled(scope, operator, container):
    """``TemperatureScaled`` -> the base's probabilities -> Max(floor) -> Log ->
    Mul(1/T) -> Softmax (ArgMax: the label)."""
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
    from skl2onnx.algebra.onnx_ops import OnnxArgMax, OnnxLog, OnnxMax, OnnxMul, OnnxSoftmax
    from sklearn.pipeline import Pipeline

    from .calibration import PROBA_FLOOR

    op = operator.raw_operator
    if not np.array_equal(op.classes_, np.arange(op.classes_.size)):
        raise ParameterError("TemperatureScaled exports integer class codes 0..n-1 only")
    opv = container.target_opset
    steps = (op.estimator_.steps if isinstance(op.estimator_, Pipeline)
             else [("clf", op.estimator_)])
    x = operator.inputs[0]  # a Pipeline step by step (OnnxSubEstimator takes no Pipeline)
    for _, step in steps[:-1]:
        if step is not None and step != "passthrough":
            x = OnnxSubEstimator(step, x, op_version=opv)
    base = OnnxSubEstimator(_as_convertible(steps[-1][1]), x, op_version=opv,
                            options={"zipmap": False})
    floor = np.array([PROBA_FLOOR], dtype=np.float32)
    inv_t = np.array([1.0 / op.temperature_], dtype=np.float32)
    logits = OnnxMul(OnnxLog(OnnxMax(base[1], floor, op_version=opv), op_version=opv),
                     inv_t, op_version=opv)
    proba = OnnxSoftmax(logits, axis=1, op_version=opv, output_names=[operator.outputs[1]])
    proba.add_to(scope=scope, container=container)
    # the label: the argmax, which scaling leaves unchanged
    label = OnnxArgMax(base[1], axis=1, keepdims=0, op_version=opv,
                       output_names=[operator.outputs[0]])
    label.add_to(scope=scope, container=container)


def _round_down_thresholds(node: dict) -> None:
    """Numeric split thresholds -> the largest float32 not above them (in place).

    LightGBM compares ``x <= t`` in double; ONNX stores ``t`` as float32. Rounding to the
    nearest float32 sends a float32 input equal to the rounded value the other way;
    rounding down keeps ``x32 <= t  <=>  x32 <= t32`` for every float32 ``x32``.
    """
    stack = [node]
    while stack:
        n = stack.pop()
        th = n.get("threshold")
        if isinstance(th, int | float) and n.get("decision_type", "<=") == "<=":
            t32 = np.float32(th)
            if float(t32) > th:
                t32 = np.nextafter(t32, np.float32(-np.inf))
            n["threshold"] = float(t32)
        stack += [n[k] for k in ("left_child", "right_child") if isinstance(n.get(k), dict)]


def _convert_lightgbm_float32(scope, operator, container):
    """onnxmltools' LightGBM converter, with thresholds rounded down to float32."""
    from onnxmltools.convert.lightgbm.operator_converters import LightGbm

    dump = LightGbm.dump_booster_model

    def rounded_dump(booster, **kwargs):
        text, info = dump(booster, **kwargs)
        for tree in text.get("tree_info", []):
            _round_down_thresholds(tree["tree_structure"])
        return text, info

    LightGbm.dump_booster_model = rounded_dump
    try:
        LightGbm.convert_lightgbm(scope, operator, container)
    finally:
        LightGbm.dump_booster_model = dump


def _as_convertible(estimator):
    """The project's SoftVote as the equivalent fitted scikit-learn soft VotingClassifier."""
    try:
        from .models import SoftVote
    except ImportError:  # pragma: no cover - models.py ships with the package
        return estimator
    if not isinstance(estimator, SoftVote):
        return estimator
    from sklearn.ensemble import VotingClassifier
    from sklearn.preprocessing import LabelEncoder

    vote = VotingClassifier(list(estimator.estimators), voting="soft",
                            weights=None if estimator.weights is None else np.asarray(
                                estimator.weights, dtype=float), flatten_transform=False)
    vote.estimators_ = list(estimator.estimators_)
    vote.le_ = LabelEncoder().fit(estimator.classes_)
    vote.classes_ = vote.le_.classes_
    return vote


def to_onnx_bytes(estimator, *, n_features: int) -> bytes:
    """Serialised ONNX graph of a fitted classifier pipeline.

    Parameters
    ----------
    estimator : fitted scikit-learn classifier or pipeline (integer class codes)
    n_features : int
        Width of the feature vectors it takes.

    Returns
    -------
    onnx : bytes
        Input ``features`` [float32, shape=(None, n_features)], outputs ``label`` and
        ``probabilities`` [float32, shape=(None, n_classes)].
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    _register_converters()
    try:
        onx = convert_sklearn(
            _as_convertible(estimator),
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            options={"zipmap": False}, target_opset=TARGET_OPSET)
    except Exception as exc:  # skl2onnx raises many types for unsupported models
        raise ParameterError(f"cannot convert {type(estimator).__name__} to ONNX: "
                             f"{exc}") from exc
    outputs = [o.name for o in onx.graph.output]
    if PROBA_NAME not in outputs:
        raise ParameterError(f"ONNX graph has no {PROBA_NAME!r} output (got {outputs})")
    # skl2onnx names the graph with a random uuid; a fixed name makes the same model give
    # the same bytes, hence the same model id
    onx.graph.name = type(estimator).__name__
    # skl2onnx lists the operator sets in the iteration order of a set of (domain, version)
    # tuples, which changes with PYTHONHASHSEED: sorted by domain ("" first, the order of
    # every committed graph), the same model gives the same bytes in every process
    opsets = sorted((o.domain, o.version) for o in onx.opset_import)
    del onx.opset_import[:]
    for domain, version in opsets:
        onx.opset_import.add(domain=domain, version=version)
    return onx.SerializeToString()


def onnx_session(onnx: bytes, *, n_threads: int = 1, source: object = "ONNX graph"):
    """An onnxruntime CPU session (``n_threads`` intra-op threads).

    Raises :class:`ParameterError` naming ``source`` when onnxruntime cannot load the
    bytes (not an ONNX graph, truncated, unsupported operators).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = n_threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only (no notes about unused initializers)
    try:
        return ort.InferenceSession(onnx, sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own (pybind) exception types
        problem = (str(exc).strip().splitlines() or [repr(exc)])[-1][:300]
        raise ParameterError(f"{source}: not a loadable ONNX graph ({problem})") from None


def onnx_predict_proba(session, X: np.ndarray) -> np.ndarray:
    """Class probabilities of ``X`` [shape=(n, d)] through an ONNX session -> (n, k)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    (proba,) = session.run([PROBA_NAME], {INPUT_NAME: X})
    return np.asarray(proba, dtype=np.float64)


def check_parity(estimator, onnx: bytes, X: np.ndarray, *, atol: float = 1e-4) -> float:
    """Largest absolute difference of probabilities, scikit-learn vs ONNX, on ``X``.

    Raises :class:`ParameterError` when it exceeds ``atol``.
    """
    X = np.asarray(X, dtype=np.float32).astype(np.float64)  # the model input is float32
    ref = estimator.predict_proba(X)
    got = onnx_predict_proba(onnx_session(onnx), X)
    diff = float(np.max(np.abs(ref - got))) if X.size else 0.0
    if not diff <= atol:
        raise ParameterError(f"ONNX probabilities differ from scikit-learn by {diff:.2e} "
                             f"> {atol:.0e}")
    return diff
