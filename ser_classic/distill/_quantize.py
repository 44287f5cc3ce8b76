"""Quantization of students: uint8 inputs for trees, int8 weights for linear students and
MLPs.

* :func:`quantize_tree` quantizes a tree's inputs (per-feature affine uint8 codes,
  :class:`FeatureQuantizer`) and snaps its thresholds to the code grid;
* :func:`quantize_linear_onnx` writes the weight-only int8 graph of a linear student
  (folded per-input scales, 16 bytes per input for eight classes);
* :func:`quantize_dynamic_onnx` runs onnxruntime's dynamic quantization (int8 weights of
  MatMul-type nodes) on any graph.
"""

from __future__ import annotations

import copy as _copy

import numpy as np
from sklearn.pipeline import Pipeline

from ..errors import ParameterError
from ._estimators import FeatureQuantizer, SoftmaxStudent

__all__ = ["quantize_dynamic_onnx", "quantize_linear_onnx", "quantize_tree"]


def quantize_tree(student: Pipeline, X_fit: np.ndarray) -> tuple[Pipeline, dict]:
    """uint8 inputs for a tree student: per-feature affine codes, thresholds on the grid.

    The inputs the tree reads are quantized to 256 levels spanning their range on
    ``X_fit`` (float32 -> uint8, ``FeatureQuantizer``); each split threshold ``t`` moves to
    ``round((t - offset) / scale) + 0.5`` in code units, so the tree compares codes. This
    is lossy: a value within half a step of a threshold can take the other branch.

    Returns
    -------
    quantized : Pipeline
        ``ColumnSelector`` -> ``FeatureQuantizer`` -> tree (new thresholds).
    report : dict
        What was quantized and to what.
    """
    select, tree = student.named_steps["select"], student.named_steps["clf"]
    quant = FeatureQuantizer().fit(select.transform(np.asarray(X_fit)))
    q_tree = _copy.deepcopy(tree)
    t = q_tree.tree_
    split = t.feature >= 0
    feat = t.feature[split]
    code = (t.threshold[split].astype(np.float32) - quant.offset_[feat]) / quant.scale_[feat]
    new = np.clip(np.rint(code), -1, 255) + 0.5
    thresholds = t.threshold  # a view: writing it changes the fitted tree
    thresholds[split] = new
    pipe = Pipeline([("select", select), ("quantize", quant), ("clf", q_tree)])
    report = {
        "method": "per-feature affine uint8 quantization of the inputs the tree reads; "
                  "split thresholds snapped to the uint8 grid",
        "inputs": {"n_features": int(quant.n_features_in_), "from": "float32",
                   "to": "uint8 (Sub offset -> QuantizeLinear per-axis scale -> Cast)"},
        "thresholds": {"n_split_nodes": int(split.sum()), "from": "float32 feature units",
                       "to": "uint8 code + 0.5 (float32 TreeEnsemble attribute)"},
        "leaves": "class probabilities unchanged (float32)",
    }
    return pipe, report


def _onnx_inventory(model) -> dict:
    from onnx import TensorProto

    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    tensors = {init.name: (TensorProto.DataType.Name(init.data_type), list(init.dims))
               for init in model.graph.initializer}
    return {"ops": counts, "initializers": tensors}


def quantize_dynamic_onnx(onnx: bytes) -> tuple[bytes, dict]:
    """onnxruntime dynamic quantization (int8 weights of MatMul/Gemm-type nodes, per
    output channel, reduced range).

    Returns
    -------
    quantized : bytes
    report : dict
        Node types before/after and every initializer whose type changed. A graph
        without MatMul-type nodes (trees, SVM, linear) comes back unchanged; one that
        onnxruntime refuses (no ``ai.onnx`` domain) too, with ``error`` set.
    """
    import logging
    import tempfile
    from pathlib import Path

    import onnx as onnx_lib
    from onnxruntime.quantization import QuantType, quantize_dynamic

    before = _onnx_inventory(onnx_lib.load_from_string(onnx))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
        src.write_bytes(onnx)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its advice to run shape pre-processing
        try:
            # per output channel, 7-bit range: full-range int8 weights saturate the
            # u8 x s8 int16 accumulation of x86 AVX2 kernels (deployed MLP, RAVDESS
            # features: argmax agreement with float 0.99; full-range per-channel 0.54,
            # full-range per-tensor 0.95)
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=True)
        except Exception as exc:  # e.g. a graph with only ai.onnx.ml operators
            return onnx, {"method": "onnxruntime.quantization.quantize_dynamic",
                          "changed": False, "error": f"{type(exc).__name__}: {exc}",
                          "ops_before": before["ops"], "ops_after": before["ops"],
                          "int8_tensors": {}, "bytes_before": len(onnx),
                          "bytes_after": len(onnx)}
        finally:
            root.setLevel(level)
        out = dst.read_bytes()
    after = _onnx_inventory(onnx_lib.load_from_string(out))
    new_tensors = {name: {"dtype": dtype, "shape": dims}
                   for name, (dtype, dims) in after["initializers"].items()
                   if name not in before["initializers"] and dtype in ("INT8", "UINT8")}
    changed = after["ops"] != before["ops"]
    return out, {"method": "onnxruntime.quantization.quantize_dynamic (QInt8 weights "
                           "per output channel, 7-bit range, activations quantized at run "
                           "time)",
                 "changed": changed, "ops_before": before["ops"], "ops_after": after["ops"],
                 "int8_tensors": new_tensors, "bytes_before": len(onnx),
                 "bytes_after": len(out)}


def quantize_linear_onnx(student: Pipeline, *, n_features: int) -> tuple[bytes, dict]:
    """Weight-only int8 graph of a linear student (``ColumnSelector`` -> ``SoftmaxStudent``).

    With ``W`` the weights over standardised inputs, each input row ``W[j]`` becomes
    ``q[j] * w8[j]`` (int8, symmetric, ``q[j] = max|W[j]| / 127``) and ``q[j] / scale[j]``
    folds into one float32 input multiplier. Inputs are centred on their mean rounded to
    float16 (the rounding is absorbed exactly by the bias, computed with the int8
    weights) and the column indices are stored as int16, so per input the file holds
    ``2 + 2 + 4 + n_classes`` bytes. Activations stay float32 (no run-time quantization)::

        features -> Gather -> Sub(offset) -> Mul(multiplier) -> MatMul(Cast(w8))
                 -> Add(bias) -> Softmax -> probabilities (ArgMax -> label)

    Returns
    -------
    onnx : bytes
    report : dict
        What was quantized and to what, and the file size.
    """
    from onnx import TensorProto, helper, numpy_helper

    from ..export import INPUT_NAME, PROBA_NAME, TARGET_OPSET

    select, clf = student.named_steps["select"], student.named_steps["clf"]
    if not isinstance(clf, SoftmaxStudent) or len(student.steps) != 2:
        raise ParameterError("quantize_linear_onnx takes ColumnSelector -> SoftmaxStudent")
    if n_features > np.iinfo(np.int16).max:
        raise ParameterError(f"int16 column indices hold < 32768 features, got {n_features}")
    W = clf.coef_.T  # (k, n_classes), standardised inputs
    q = np.abs(W).max(axis=1) / 127.0
    q = np.where(q > 0, q, 1.0)
    w8 = np.clip(np.rint(W / q[:, None]), -127, 127).astype(np.int8)
    W_hat = q[:, None] * w8
    offset = clf.mean_.astype(np.float16)
    if not np.all(np.isfinite(offset)):
        offset = np.zeros_like(offset)  # means beyond float16's range: no centring
    multiplier = (q / clf.scale_).astype(np.float32)
    bias = clf.intercept_ + ((offset.astype(np.float64) - clf.mean_) / clf.scale_) @ W_hat
    inits = [numpy_helper.from_array(select.columns_.astype(np.int16), "columns_int16"),
             numpy_helper.from_array(offset, "offset_fp16"),
             numpy_helper.from_array(multiplier, "multiplier"),
             numpy_helper.from_array(w8, "weights_int8"),
             numpy_helper.from_array(bias.astype(np.float32), "bias")]
    nodes = [helper.make_node("Cast", ["columns_int16"], ["columns"], to=TensorProto.INT32),
             helper.make_node("Cast", ["offset_fp16"], ["offset"], to=TensorProto.FLOAT),
             helper.make_node("Gather", [INPUT_NAME, "columns"], ["x"], axis=1),
             helper.make_node("Sub", ["x", "offset"], ["centred"]),
             helper.make_node("Mul", ["centred", "multiplier"], ["z"]),
             # a Cast, not DequantizeLinear: onnxruntime would fuse that with the MatMul
             # into a dynamically quantized (uint8-activation) product
             helper.make_node("Cast", ["weights_int8"], ["w"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["z", "w"], ["scores"]),
             helper.make_node("Add", ["scores", "bias"], ["logits"]),
             helper.make_node("Softmax", ["logits"], [PROBA_NAME], axis=1),
             helper.make_node("ArgMax", [PROBA_NAME], ["label"], axis=1, keepdims=0)]
    k, n_classes = W.shape
    graph = helper.make_graph(
        nodes, "linear_int8_weights", [helper.make_tensor_value_info(
            INPUT_NAME, TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info(PROBA_NAME, TensorProto.FLOAT, [None, n_classes])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", TARGET_OPSET[""])],
                              producer_name="ser_classic")
    out = model.SerializeToString()
    return out, {
        "method": "weight-only int8 (symmetric per-input-row scales folded into a float32 "
                  "input multiplier); float16 centring offsets and int16 column indices; "
                  "activations float32",
        "changed": True,
        "tensors": {"weights": f"float32 [{k}, {n_classes}] -> int8 (Cast to float32)",
                    "mean": f"float32 [{k}] -> float16 offset (rounding folded into bias)",
                    "1/scale": f"float32 [{k}] -> float32 multiplier (x int8 row scale)",
                    "column indices": f"int32 [{k}] -> int16 (Cast)"},
        "ops_after": _onnx_inventory(model)["ops"], "bytes_after": len(out)}
