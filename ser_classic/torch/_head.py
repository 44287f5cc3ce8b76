"""A model's ONNX graph (the one it deploys) as torch operations."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ParameterError

__all__ = ["OnnxHead"]

_FLOAT_TYPES = {1, 10, 11, 16}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
_INT_TYPES = {2, 3, 4, 5, 6, 7, 12, 13}


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class OnnxHead(torch.nn.Module):
    """Evaluates the part of an ONNX graph that produces ``output`` with torch ops.

    Supported operators: Cast, Gather, Identity, Add, Sub, Mul, Div, MatMul, Gemm,
    Softmax, Sum, Constant and, of ``ai.onnx.ml``, Scaler, LinearClassifier and
    Normalizer: what linear models, their int8 weight-only graphs (the Cast of the int8
    weights is their exact dequantisation) and soft-voting ensembles of linear models
    export to. Any other operator on the path to ``output`` raises
    :class:`ParameterError` naming it. Weights are buffers in the working dtype.

    Parameters
    ----------
    onnx : bytes
        The serialized graph; its single input is the feature matrix.
    output : str
        The probabilities output.
    dtype : torch.dtype
    source : str
        Names the graph in error messages.
    """

    def __init__(self, onnx: bytes, *, output: str, dtype: torch.dtype, source: str) -> None:
        super().__init__()
        import onnx as onnx_lib
        from onnx import numpy_helper

        model = onnx_lib.load_from_string(onnx)
        graph = model.graph
        self.input_name = graph.input[0].name
        producers = {out: node for node in graph.node for out in node.output}
        if output not in producers:
            raise ParameterError(f"{source}: the graph has no output {output!r}")
        needed, stack = set(), [output]
        inits = {t.name for t in graph.initializer}
        while stack:  # the nodes on the path to the output, nothing else (no ArgMax/labels)
            name = stack.pop()
            node = producers.get(name)
            if node is None or id(node) in needed:
                continue
            needed.add(id(node))
            stack.extend(i for i in node.input if i and i not in inits)
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n))
                      for n in graph.node if id(n) in needed]
        unsupported = sorted({op for op, *_ in self.nodes if not hasattr(self, f"_op_{op}")})
        if unsupported:
            raise ParameterError(f"{source}: operator(s) {unsupported} of the model's graph "
                                 f"have no torch form here")
        self.output = output
        self._dtype = dtype
        self._names: dict[str, str] = {}
        for k, init in enumerate(graph.initializer):
            value = numpy_helper.to_array(init)
            tensor = (torch.as_tensor(value.astype(np.int64)) if value.dtype.kind in "iub"
                      else torch.as_tensor(value.astype(np.float64)).to(dtype))
            self._names[init.name] = f"init_{k}"
            self.register_buffer(f"init_{k}", tensor)
        last = producers[output]
        # log-probabilities straight from the logits when the graph ends in a Softmax
        self._logits = last.input[0] if last.op_type == "Softmax" else None

    @property
    def dtype(self) -> torch.dtype:
        """The working dtype: that of the floating weights."""
        for buf in self.buffers():
            if buf.is_floating_point():
                return buf.dtype
        return self._dtype

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Log-probabilities [shape=(B, n_classes)] of feature rows [shape=(B, n)]."""
        env = {name: getattr(self, buf) for name, buf in self._names.items()}
        env[self.input_name] = features
        for op, inputs, outputs, attrs in self.nodes:
            if self._logits is not None and outputs[0] == self.output:
                break
            result = getattr(self, f"_op_{op}")([env[i] if i else None for i in inputs],
                                                attrs)
            results = result if isinstance(result, tuple) else (result,)
            env.update(zip(outputs, results, strict=False))
        if self._logits is not None:
            axis = self.nodes[-1][3].get("axis", -1)
            return torch.log_softmax(env[self._logits], dim=axis)
        return torch.log(env[self.output].clamp_min(torch.finfo(features.dtype).tiny))

    # ------------------------------------------------------------------ operators
    def _op_Cast(self, x, a):
        (x,) = x
        if a["to"] in _FLOAT_TYPES:
            return x.to(self.dtype)
        if a["to"] in _INT_TYPES:
            return x.to(torch.int64)
        raise ParameterError(f"Cast to ONNX type {a['to']} has no torch form here")

    def _op_Identity(self, x, a):
        return x[0]

    def _op_Constant(self, x, a):
        from onnx import numpy_helper

        value = numpy_helper.to_array(a["value"])
        return torch.as_tensor(value.astype(np.float64)).to(self.dtype)

    def _op_Gather(self, x, a):
        data, idx = x
        return torch.index_select(data, a.get("axis", 0), idx.to(data.device).reshape(-1))

    def _op_Add(self, x, a):
        return x[0] + x[1]

    def _op_Sub(self, x, a):
        return x[0] - x[1]

    def _op_Mul(self, x, a):
        return x[0] * x[1]

    def _op_Div(self, x, a):
        return x[0] / x[1]

    def _op_MatMul(self, x, a):
        return torch.matmul(x[0], x[1])

    def _op_Gemm(self, x, a):
        A, B = x[0], x[1]
        A = A.T if a.get("transA", 0) else A
        B = B.T if a.get("transB", 0) else B
        out = a.get("alpha", 1.0) * (A @ B)
        return out + a.get("beta", 1.0) * x[2] if len(x) > 2 and x[2] is not None else out

    def _op_Softmax(self, x, a):
        return torch.softmax(x[0], dim=a.get("axis", -1))

    def _op_Sum(self, x, a):
        return torch.stack(torch.broadcast_tensors(*x)).sum(dim=0)

    def _vec(self, values, like):
        return torch.as_tensor(np.asarray(values, dtype=np.float64), device=like.device
                               ).to(self.dtype)

    def _op_Scaler(self, x, a):
        (x,) = x
        return (x - self._vec(a.get("offset", [0.0]), x)) * self._vec(a.get("scale", [1.0]), x)

    def _op_Normalizer(self, x, a):
        (x,) = x
        norm = a.get("norm", b"MAX")
        norm = norm.decode() if isinstance(norm, bytes) else norm
        if norm == "L1":
            return x / x.abs().sum(dim=1, keepdim=True)
        if norm == "L2":
            return x / torch.sqrt((x * x).sum(dim=1, keepdim=True))
        return x / x.amax(dim=1, keepdim=True)

    def _op_LinearClassifier(self, x, a):
        (x,) = x
        intercepts = self._vec(a.get("intercepts", [0.0]), x)
        coef = self._vec(a["coefficients"], x).reshape(intercepts.numel(), -1)
        scores = x @ coef.T + intercepts
        post = a.get("post_transform", b"NONE")
        post = post.decode() if isinstance(post, bytes) else post
        if post == "SOFTMAX":
            scores = torch.softmax(scores, dim=1)
        elif post == "LOGISTIC":
            scores = torch.sigmoid(scores)
        elif post != "NONE":
            raise ParameterError(f"LinearClassifier post_transform {post} has no torch "
                                 f"form here")
        return None, scores
