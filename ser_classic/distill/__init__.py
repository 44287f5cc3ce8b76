"""Distillation of a teacher into small students that read few, cheap features.

A student learns the teacher's class probabilities over an enlarged *transfer set*
(:mod:`._transfer`: the training clips, their augmented copies and MUNGE samples, fitted
as soft targets, or as log-probabilities by the logit-matching student). Each kind of
student is a registered :class:`StudentSpec` (:mod:`._students`: builder, descriptor
groups, column rule, width, quantizer); the built-in ones are ``tree``, ``mlp``,
``lgbm``, ``linear``, ``compact``, ``compact_fast`` and ``logit``, and
:func:`register_student` adds one. Quantization (:mod:`._quantize`) gives the deployed
graphs: uint8 inputs for the tree, weight-only int8 for the compact and logit
regressions (16 bytes per input), onnxruntime's dynamic int8 for the MLP and the linear
student.

Students start with a :class:`ColumnSelector`, so a model directory records the columns
they read (``used_features`` of the model card) and the recognizer computes only the
descriptor groups those need (``extract_features(select=...)``). Their ONNX converters
are registered by :mod:`ser_classic.export`, so ``export.to_onnx_bytes(student)`` works
in any process.

:func:`distill` fits the students on one training set; :func:`distill_cv` runs
everything inside speaker-grouped outer folds (the teacher tuned and fitted on the
training speakers only, the transfer set built from their clips only, every variant
scored on the held-out speakers); :func:`save_student` writes a model directory.
"""

from __future__ import annotations

from ..errors import ParameterError as ParameterError  # the one the tests name D.
from ._cv import DistillEvaluation, distill_cv
from ._estimators import ColumnSelector, FeatureQuantizer, LogitStudent, SoftmaxStudent
from ._fit import distill
from ._groups import CHEAP_GROUPS, feature_groups, groups_needed, measure_group_costs
from ._quantize import quantize_dynamic_onnx, quantize_linear_onnx, quantize_tree
from ._save import save_student
from ._students import (
    COMPACT_FAST_SKIPS,
    COMPACT_FEATURES,
    COMPACT_SKIPS,
    INT8_STUDENTS,
    LINEAR_C,
    STUDENTS,
    QuantizedStudent,
    StudentParams,
    StudentSpec,
    allowed_columns,
    candidate_columns,
    eliminate_columns,
    fit_label_tree,
    fit_student,
    offered_columns,
    parse_student,
    quantize_student,
    quantized_onnx,
    register_student,
    student_names,
    student_spec,
    tune_linear_C,
)
from ._transfer import TransferConfig, munge, soft_targets, transfer_set

__all__ = [
    "CHEAP_GROUPS",
    "COMPACT_FAST_SKIPS",
    "COMPACT_FEATURES",
    "COMPACT_SKIPS",
    "INT8_STUDENTS",
    "LINEAR_C",
    "STUDENTS",
    "ColumnSelector",
    "DistillEvaluation",
    "FeatureQuantizer",
    "LogitStudent",
    "QuantizedStudent",
    "SoftmaxStudent",
    "StudentParams",
    "StudentSpec",
    "TransferConfig",
    "allowed_columns",
    "candidate_columns",
    "distill",
    "distill_cv",
    "eliminate_columns",
    "feature_groups",
    "fit_label_tree",
    "fit_student",
    "groups_needed",
    "measure_group_costs",
    "munge",
    "offered_columns",
    "parse_student",
    "quantize_dynamic_onnx",
    "quantize_linear_onnx",
    "quantize_student",
    "quantize_tree",
    "quantized_onnx",
    "register_student",
    "save_student",
    "soft_targets",
    "student_names",
    "student_spec",
    "to_onnx",
    "transfer_set",
    "tune_linear_C",
]


def to_onnx(estimator, *, n_features: int) -> bytes:
    """:func:`ser_classic.export.to_onnx_bytes` (kept under its old name; the students'
    converters are registered by :mod:`ser_classic.export` itself)."""
    from ..export import to_onnx_bytes

    return to_onnx_bytes(estimator, n_features=n_features)
