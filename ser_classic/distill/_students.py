"""Students as registered specs: how each kind is built, which descriptor groups and
columns it may read, how wide it is and how it is quantized.

A :class:`StudentSpec` names a builder (fits the student on the teacher's soft targets, or
on its log-probabilities), the descriptor groups it may read, the rule that picks the
columns it is offered, its width (columns kept by elimination, or every column offered)
and its quantizer. The built-in kinds are registered at import::

    tree          depth-8 tree on the ANOVA candidates of the given groups   -> tree_uint8
    mlp           one-hidden-layer MLP on every column of the given groups   -> mlp_int8
    lgbm          small LightGBM on the ANOVA candidates
    linear        multinomial logistic regression on every column            -> linear_int8
    compact       the same regression on its 340 columns of largest weight,
                  any group but the extended descriptors                    -> compact_int8
    compact_fast  ... any group but the extended and spectral-shape ones    -> compact_fast_int8
    logit         a linear map fitted to the teacher's log-probabilities
                  (logit matching), every column but the extended ones      -> logit_int8

``compact`` and ``compact_fast`` are two presets of one spec (they differ only in
``skip_groups``); a new preset is one :func:`register_student` call, e.g.
``register_student(replace(student_spec("compact"), name="compact_mfcc",
groups=("mfcc",), skip_groups=()))``. A name with the quantizer's suffix
(``compact_int8``, ``tree_uint8``) deploys the quantized variant (:func:`parse_student`).
"""

from __future__ import annotations

import copy as _copy
import dataclasses
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from sklearn.pipeline import Pipeline

from .._threads import one_blas_thread
from ..errors import ParameterError
from ..features import FeatureConfig
from ._estimators import ColumnSelector, LogitStudent, SoftmaxStudent
from ._groups import feature_groups
from ._quantize import quantize_dynamic_onnx, quantize_linear_onnx, quantize_tree
from ._transfer import soft_target_rows

__all__ = [
    "COMPACT_FAST_SKIPS",
    "COMPACT_FEATURES",
    "COMPACT_SKIPS",
    "INT8_STUDENTS",
    "LINEAR_C",
    "STUDENTS",
    "QuantizedStudent",
    "StudentParams",
    "StudentSpec",
    "allowed_columns",
    "candidate_columns",
    "eliminate_columns",
    "fit_label_tree",
    "fit_student",
    "offered_columns",
    "parse_student",
    "quantize_student",
    "quantized_onnx",
    "register_student",
    "student_names",
    "student_spec",
    "tune_linear_C",
]

# the compact student's inputs, a size budget: its weight-only int8 graph takes 16 bytes
# per input plus ~0.6 KB, so ~6.1 KB, under 1/50 of the deployed teacher's 310 KB ONNX file
COMPACT_FEATURES = 340
# groups the compact student skips by default: the extended descriptors are the costliest
# group to extract (about a fifth of the full extraction)
COMPACT_SKIPS = ("extended",)
# ... and the fast compact student skips the spectral-shape group too: about a quarter of
# the compact student's extraction time, for the discriminator's 200 clips/s on one core
COMPACT_FAST_SKIPS = ("extended", "spectral")
LINEAR_C = (0.01, 0.03, 0.1, 0.3)  # the linear student's grid (grouped inner CV)


# --------------------------------------------------------------------------- specs
@dataclass(frozen=True, kw_only=True)
class StudentParams:
    """Hyper-parameters a builder may read (each builder reads its own).

    Parameters
    ----------
    max_depth, min_samples_leaf : int
        Tree students.
    hidden : tuple of int
        Hidden layer sizes of the MLP student.
    C : float > 0
        Inverse L2 penalty of the regression students.
    max_features : int or None
        Width: columns kept by elimination (None: every column offered).
    """

    max_depth: int = 8
    min_samples_leaf: int = 5
    hidden: tuple[int, ...] = (64,)
    C: float = 0.01
    max_features: int | None = None


class QuantizedStudent(NamedTuple):
    """A quantized student: the scikit-learn model shipped with its graph (the float
    student when only the graph is quantized), the graph, and what was quantized."""

    estimator: Pipeline
    onnx: bytes
    report: dict


#: builder(X, y, sample_weight, *, columns, params, random_state) -> fitted Pipeline, on
#: the soft-target replicas (every class present); columns: the columns it is offered
Builder = Callable[..., Pipeline]
#: quantizer(student, *, X_fit, n_features, fp32) -> QuantizedStudent; X_fit: transfer rows
#: (None when not at hand), fp32: the student's float graph when already converted
Quantizer = Callable[..., QuantizedStudent]


@dataclass(frozen=True, kw_only=True)
class StudentSpec:
    """One kind of student.

    Parameters
    ----------
    name : str
        The kind's name (``distill(students=[name])``, ``distilled_<name>`` model names).
    build : callable
        ``build(X, y, sample_weight, *, columns, params, random_state)`` -> fitted
        ``Pipeline`` starting with a :class:`ColumnSelector` (the columns it reads).
    columns : {"candidates", "wide", "all"}
        Columns it is offered among the allowed ones: the ``n_candidates`` of largest
        ANOVA F against the teacher's labels; every one (or ``n_candidates_mlp`` of
        them when given); every one.
    groups : "given", "all" or tuple of str
        Descriptor groups it may read: those given to :func:`distill` (the cheap ones
        by default), every group, or these.
    skip_groups : tuple of str
        Groups it never reads (taken out of ``groups``).
    width : int or None
        Columns it keeps by elimination (``max_features`` of the builder; overridden by
        ``distill(compact_features=...)``); None: the builder uses what it is offered.
    tuned_C : bool
        Reads the ``C`` tuned for the linear student by grouped inner CV.
    select_on : {"clips", "transfer"}
        Rows the elimination of a student with a width ranks columns on: the training
        clips with the teacher's probabilities (the first ``n_clips`` transfer rows, no
        random row among them: the same columns whatever the seed, given the teacher), or
        every transfer row (random masked copies and MUNGE samples included: the columns
        change with the seed). The student's weights are fitted on every transfer row
        either way. Measured (``experiments/seed_spread.py``, reports/spread): ``clips``
        keeps the same columns in every seed, but the compact student's TESS accuracy
        then swings more and is lower on average than with ``transfer``, which the
        built-in presets keep.
    target : {"soft_targets", "logits"}
        What ``build`` fits: soft-target replicas of the transfer rows (``build(X, y,
        sample_weight, ...)``: every row once per class the teacher gives at least
        ``min_prob``, weighted by that probability), or the teacher's probabilities
        themselves (``build(X, P, None, ...)``, for logit matching).
    quantized : str or None
        Name of its quantized variant (``<name>_int8``, ``tree_uint8``).
    quantize : callable or None
        ``quantize(student, *, X_fit, n_features, fp32)`` -> :class:`QuantizedStudent`.
    description : str
    """

    name: str
    build: Builder
    columns: Literal["candidates", "wide", "all"]
    groups: Literal["given", "all"] | tuple[str, ...] = "given"
    skip_groups: tuple[str, ...] = ()
    width: int | None = None
    tuned_C: bool = False
    select_on: Literal["clips", "transfer"] = "transfer"
    target: Literal["soft_targets", "logits"] = "soft_targets"
    quantized: str | None = None
    quantize: Quantizer | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.isidentifier():
            raise ParameterError(f"a student name is an identifier, got {self.name!r}")
        if self.columns not in ("candidates", "wide", "all"):
            raise ParameterError(f"columns must be candidates, wide or all, got "
                                 f"{self.columns!r}")
        if isinstance(self.groups, str) and self.groups not in ("given", "all"):
            raise ParameterError(f"groups must be 'given', 'all' or a tuple of group "
                                 f"names, got {self.groups!r}")
        if self.width is not None and self.width < 1:
            raise ParameterError(f"width must be >= 1 or None, got {self.width}")
        if self.select_on not in ("clips", "transfer"):
            raise ParameterError(f"select_on must be clips or transfer, got "
                                 f"{self.select_on!r}")
        if self.target not in ("soft_targets", "logits"):
            raise ParameterError(f"target must be soft_targets or logits, got "
                                 f"{self.target!r}")
        if self.target == "logits" and self.width is not None:
            raise ParameterError("a logit-matching student reads every column offered "
                                 "(width None)")
        if (self.quantized is None) != (self.quantize is None):
            raise ParameterError("quantized and quantize go together")


_REGISTRY: dict[str, StudentSpec] = {}


def register_student(spec: StudentSpec, *, replace: bool = False) -> StudentSpec:
    """Register ``spec`` under its name (and its quantized variant's); returns it."""
    names = [spec.name] + ([spec.quantized] if spec.quantized else [])
    taken = [n for n in names if n in _deployable() and _deployable()[n][0].name != spec.name]
    if taken or (spec.name in _REGISTRY and not replace):
        raise ParameterError(f"student name {(taken or [spec.name])[0]!r} is registered "
                             f"already")
    _REGISTRY[spec.name] = spec
    return spec


def student_names(*, quantized: bool = True) -> tuple[str, ...]:
    """Registered student names (with the quantized variants' names when ``quantized``)."""
    return tuple(_deployable()) if quantized else tuple(_REGISTRY)


def student_spec(kind: str | StudentSpec) -> StudentSpec:
    """The registered spec named ``kind`` (a spec is returned as is).

    Raises :class:`ParameterError` listing the registered names for an unknown one.
    """
    if isinstance(kind, StudentSpec):
        return kind
    if kind not in _REGISTRY:
        raise ParameterError(f"unknown student {kind!r}; registered: "
                             f"{', '.join(student_names(quantized=False))}")
    return _REGISTRY[kind]


def parse_student(name: str) -> tuple[StudentSpec, bool]:
    """The spec behind a deployable name and whether its quantized variant is meant.

    ``"compact_int8"`` -> (compact spec, True); ``"compact"`` -> (compact spec, False).
    Raises :class:`ParameterError` listing every deployable name for an unknown one.
    """
    found = _deployable().get(name)
    if found is None:
        raise ParameterError(f"unknown student {name!r}; registered: "
                             f"{', '.join(student_names())}")
    return found


def _deployable() -> dict[str, tuple[StudentSpec, bool]]:
    out: dict[str, tuple[StudentSpec, bool]] = {}
    for spec in _REGISTRY.values():
        out[spec.name] = (spec, False)
        if spec.quantized:
            out[spec.quantized] = (spec, True)
    return out


# --------------------------------------------------------------------------- columns
def allowed_columns(spec: StudentSpec, *, config: FeatureConfig,
                    given: Sequence[str]) -> np.ndarray:
    """Mask [shape=(n_features,)] of the columns of the groups ``spec`` may read
    (``given``: the groups passed to :func:`distill`)."""
    all_groups = feature_groups(config=config)
    if spec.groups == "all":
        mask = np.ones(all_groups.size, dtype=bool)
    else:
        mask = np.isin(all_groups, list(given if spec.groups == "given" else spec.groups))
    if spec.skip_groups:
        mask &= ~np.isin(all_groups, list(spec.skip_groups))
    return mask


def offered_columns(spec: StudentSpec, X: np.ndarray, labels: np.ndarray, *,
                    allowed: np.ndarray, n_candidates: int,
                    n_candidates_mlp: int | None = None) -> np.ndarray:
    """Columns [sorted int] ``spec`` is offered: its ``columns`` rule over the
    ``allowed`` mask (ANOVA F of ``X`` [shape=(n, n_features)] against ``labels``)."""
    if spec.columns == "candidates":
        return candidate_columns(X, labels, allowed=allowed, k=n_candidates)
    if spec.columns == "wide" and n_candidates_mlp is not None:
        return candidate_columns(X, labels, allowed=allowed, k=n_candidates_mlp)
    return np.flatnonzero(allowed)


def candidate_columns(X: np.ndarray, labels: np.ndarray, *, allowed: np.ndarray,
                      k: int) -> np.ndarray:
    """The ``k`` allowed columns with the largest ANOVA F against ``labels``."""
    from sklearn.feature_selection import f_classif

    allowed = np.flatnonzero(allowed) if allowed.dtype == bool else np.asarray(allowed)
    if allowed.size == 0:
        raise ParameterError("no candidate feature columns")
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant columns score 0
        f, _ = f_classif(X[:, allowed], labels)
    f = np.nan_to_num(f, nan=0.0, posinf=0.0)
    return np.sort(allowed[np.argsort(-f, kind="stable")[:k]])


@one_blas_thread
def eliminate_columns(X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, *,
                      columns: np.ndarray, n_keep: int, C: float,
                      random_state: int = 0) -> np.ndarray:
    """Recursive elimination by weight: fit a :class:`SoftmaxStudent` on ``columns``, keep
    the half (at least ``n_keep``) with the largest weight norm over the classes (inputs
    standardised, so weights compare), refit, until ``n_keep`` are left.

    Returns
    -------
    columns : np.ndarray of int [shape=(min(n_keep, len(columns)),)], sorted
    """
    if n_keep < 1:
        raise ParameterError(f"n_keep must be >= 1, got {n_keep}")
    cols = np.sort(np.asarray(columns))
    while cols.size > n_keep:
        fit = SoftmaxStudent(C=C, random_state=random_state).fit(
            X[:, cols], y, sample_weight=sample_weight)
        keep = max(n_keep, cols.size // 2)
        norm = np.linalg.norm(fit.coef_, axis=0)
        cols = np.sort(cols[np.argsort(-norm, kind="stable")[:keep]])
    return cols


# --------------------------------------------------------------------------- builders
def _tree(max_depth: int, min_samples_leaf: int, random_state: int, **kw):
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                                  random_state=random_state, **kw)


def _used_tree_columns(pipe: Pipeline) -> np.ndarray:
    tree = pipe.named_steps["clf"].tree_
    local = np.unique(tree.feature[tree.feature >= 0])
    return pipe.named_steps["select"].columns_[local]


def _prune_tree(pipe: Pipeline, X, y, w, random_state) -> Pipeline:
    """Refit a tree on just the columns it used until it uses all it is given."""
    for _ in range(10):
        used = _used_tree_columns(pipe)
        if used.size == pipe.named_steps["select"].columns_.size:
            break
        clf = _copy.deepcopy(pipe.named_steps["clf"]).set_params(random_state=random_state)
        pipe = Pipeline([("select", ColumnSelector(used)), ("clf", clf)])
        pipe.fit(X, y, clf__sample_weight=w)
    return pipe


def _build_tree(X, y, sample_weight, *, columns, params: StudentParams,
                random_state: int) -> Pipeline:
    """Depth-``max_depth`` decision tree, refitted on the columns it uses."""
    pipe = Pipeline([("select", ColumnSelector(columns)),
                     ("clf", _tree(params.max_depth, params.min_samples_leaf,
                                   random_state))])
    pipe.fit(X, y, clf__sample_weight=sample_weight)
    return _prune_tree(pipe, X, y, sample_weight, random_state)


def _build_mlp(X, y, sample_weight, *, columns, params: StudentParams,
               random_state: int) -> Pipeline:
    """Standardised inputs -> one-hidden-layer MLP (``hidden`` units, 50 epochs)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    pipe = Pipeline([("select", ColumnSelector(columns)), ("scale", StandardScaler()),
                     ("clf", MLPClassifier(hidden_layer_sizes=params.hidden, alpha=1e-2,
                                           batch_size=256, learning_rate_init=2e-3,
                                           max_iter=50, random_state=random_state))])
    with warnings.catch_warnings():  # expected after max_iter epochs
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y, clf__sample_weight=sample_weight / sample_weight.mean())
    pipe.named_steps["clf"]._optimizer = None  # Adam's moments: 2/3 of the file, unused
    return pipe


def _build_lgbm(X, y, sample_weight, *, columns, params: StudentParams,
                random_state: int) -> Pipeline:
    """Small LightGBM: 60 rounds of 8-leaf trees."""
    from lightgbm import LGBMClassifier

    pipe = Pipeline([("select", ColumnSelector(columns)), ("clf", LGBMClassifier(
        n_estimators=60, num_leaves=8, learning_rate=0.1, subsample=0.8, subsample_freq=1,
        colsample_bytree=0.5, min_child_samples=10, n_jobs=1, random_state=random_state,
        verbose=-1))])
    return pipe.fit(X, y, clf__sample_weight=sample_weight)


def _build_softmax(X, y, sample_weight, *, columns, params: StudentParams,
                   random_state: int) -> Pipeline:
    """:class:`SoftmaxStudent` (inverse penalty ``C``) on the offered columns, or on the
    ``max_features`` of them of largest weight (:func:`eliminate_columns`)."""
    w = sample_weight / sample_weight.mean()
    if params.max_features is not None:
        columns = eliminate_columns(X, y, w, columns=columns, n_keep=params.max_features,
                                    C=params.C, random_state=random_state)
    pipe = Pipeline([("select", ColumnSelector(columns)),
                     ("clf", SoftmaxStudent(C=params.C, random_state=random_state))])
    return pipe.fit(X, y, clf__sample_weight=w)


def _build_logit(X, P, sample_weight, *, columns, params: StudentParams,
                 random_state: int) -> Pipeline:
    """:class:`LogitStudent` on the offered columns, fitted to the teacher's
    probabilities ``P`` (``params`` and ``random_state`` unused: a closed-form fit)."""
    pipe = Pipeline([("select", ColumnSelector(columns)), ("clf", LogitStudent())])
    return pipe.fit(X, P, clf__sample_weight=sample_weight)


# --------------------------------------------------------------------------- quantizers
def _to_onnx(estimator, n_features: int) -> bytes:
    from ..export import to_onnx_bytes

    return to_onnx_bytes(estimator, n_features=n_features)


def _quantize_inputs_uint8(student: Pipeline, *, X_fit: np.ndarray | None, n_features: int,
                           fp32: bytes | None = None) -> QuantizedStudent:
    """uint8 inputs and thresholds on the code grid (:func:`quantize_tree`)."""
    if X_fit is None:
        raise ParameterError("the uint8 tree quantizes its inputs over the transfer rows: "
                             "X_fit is needed")
    estimator, report = quantize_tree(student, X_fit)
    return QuantizedStudent(estimator, _to_onnx(estimator, n_features), report)


def _quantize_dynamic_int8(student: Pipeline, *, X_fit: np.ndarray | None = None,
                           n_features: int, fp32: bytes | None = None) -> QuantizedStudent:
    """onnxruntime's dynamic quantization of the float graph (:func:`quantize_dynamic_onnx`)."""
    onnx, report = quantize_dynamic_onnx(fp32 or _to_onnx(student, n_features))
    return QuantizedStudent(student, onnx, report)


def _quantize_weights_int8(student: Pipeline, *, X_fit: np.ndarray | None = None,
                           n_features: int, fp32: bytes | None = None) -> QuantizedStudent:
    """Weight-only int8 graph of a linear student (:func:`quantize_linear_onnx`)."""
    onnx, report = quantize_linear_onnx(student, n_features=n_features)
    return QuantizedStudent(student, onnx, report)


def quantize_student(kind: str | StudentSpec, student: Pipeline, *, n_features: int,
                     X_fit: np.ndarray | None = None,
                     fp32: bytes | None = None) -> QuantizedStudent:
    """The quantized variant of a fitted ``kind`` student (its spec's quantizer).

    Parameters
    ----------
    X_fit : np.ndarray [shape=(n, n_features)], optional
        Transfer rows (the uint8 tree spans its input codes over them).
    fp32 : bytes, optional
        The student's float graph, when already converted.
    """
    spec = student_spec(kind)
    if spec.quantize is None:
        raise ParameterError(f"no quantized variant of a {spec.name!r} student")
    return spec.quantize(student, X_fit=X_fit, n_features=n_features, fp32=fp32)


def quantized_onnx(kind: str | StudentSpec, student: Pipeline, *, n_features: int,
                   fp32: bytes | None = None) -> tuple[bytes, dict]:
    """The int8 graph of an MLP or linear student (onnxruntime's dynamic quantization of
    its fp32 graph ``fp32``, converted when not given) or of a compact student
    (weight-only int8, :func:`quantize_linear_onnx`): ``(onnx, report)``."""
    spec = student_spec(kind)
    if spec.quantized != f"{spec.name}_int8":
        raise ParameterError(f"no int8 graph for a {spec.name!r} student")
    q = quantize_student(spec, student, n_features=n_features, fp32=fp32)
    return q.onnx, q.report


# --------------------------------------------------------------------------- fitting
def _class_proba(estimator, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` spread over the integer class codes 0 .. n_classes-1."""
    P = np.zeros((len(X), n_classes))
    P[:, np.asarray(estimator.classes_, dtype=int)] = estimator.predict_proba(X)
    return P


@one_blas_thread
def fit_student(kind: str | StudentSpec, X: np.ndarray, P: np.ndarray, *,
                columns: np.ndarray, n_classes: int, max_depth: int = 8,
                min_samples_leaf: int = 5, hidden: tuple[int, ...] = (64,), C: float = 0.01,
                max_features: int | None = None, min_prob: float = 0.05,
                balanced: bool = True, n_clips: int | None = None,
                random_state: int = 0) -> Pipeline:
    """A student fitted on the teacher's probabilities ``P`` over transfer rows ``X``.

    Parameters
    ----------
    kind : str or StudentSpec
        A registered student (:func:`student_names`) or a spec.
    X : np.ndarray [shape=(n, n_features)]
        Full-width feature rows.
    P : np.ndarray [shape=(n, n_classes)]
    columns : np.ndarray of int
        Candidate columns the student may read.
    max_features : int, optional
        Width of a student that has one (the compact students; default: the spec's
        ``width``); ignored by the others.
    n_clips : int, optional
        The first ``n_clips`` rows of ``X`` are the training clips (the rest random
        copies and samples): a spec with ``select_on="clips"`` chooses its columns on
        them (default: every row of ``X`` counts as a clip).

    Returns
    -------
    student : Pipeline
        ``ColumnSelector`` (the columns actually read) -> [scaler ->] classifier;
        integer class codes 0 .. n_classes-1.
    """
    spec = student_spec(kind)
    if spec.target == "logits":
        return spec.build(np.asarray(X), np.asarray(P), None, columns=columns,
                          params=StudentParams(), random_state=random_state)
    width = None if spec.width is None else (max_features or spec.width)
    params = StudentParams(max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                           hidden=tuple(hidden), C=C, max_features=width)
    if width is not None and spec.select_on == "clips":
        n = len(X) if n_clips is None else n_clips
        if not 1 <= n <= len(X):
            raise ParameterError(f"n_clips must be in 1..{len(X)}, got {n_clips}")
        Xc, yc, wc = _replicas(X[:n], P[:n], n_classes, min_prob, balanced)
        columns = eliminate_columns(Xc, yc, wc / wc.mean(), columns=columns, n_keep=width,
                                    C=C, random_state=random_state)
        params = dataclasses.replace(params, max_features=None)  # chosen: fit them all
    Xr, yr, w = _replicas(X, P, n_classes, min_prob, balanced)
    return spec.build(Xr, yr, w, columns=columns, params=params, random_state=random_state)


def _replicas(X, P, n_classes, min_prob, balanced):
    """Soft-target replicas, every class present once more with a tiny weight (so
    ``classes_`` is always 0 .. n_classes-1)."""
    rows, yr, w = soft_target_rows(P, n_rows=len(X), min_prob=min_prob, balanced=balanced)
    rows = np.concatenate([rows, np.full(n_classes, rows[0])])  # one gather, no copy after
    return (np.asarray(X)[rows], np.concatenate([yr, np.arange(n_classes)]),
            np.concatenate([w, np.full(n_classes, 1e-6)]))


@one_blas_thread
def tune_linear_C(X: np.ndarray, y: np.ndarray, P: np.ndarray, groups: Sequence, *,
                  columns: np.ndarray, n_classes: int, Cs: Sequence[float] = LINEAR_C,
                  n_inner: int = 3, min_prob: float = 0.05, balanced: bool = True,
                  random_state: int = 0) -> tuple[float, dict]:
    """The linear student's ``C`` by speaker-grouped inner CV on the training clips.

    In each inner split the student learns the teacher's probabilities ``P`` of the
    inner-training clips and is scored by UAR against the labels of the held-out
    speakers' clips; the ``C`` with the best mean UAR wins.

    Returns
    -------
    C : float
    scores : dict
        ``C`` -> mean inner UAR.
    """
    from sklearn.model_selection import GroupKFold

    from ..evaluation import classification_metrics

    groups = np.asarray(groups)
    if np.unique(groups).size < n_inner:
        raise ParameterError(f"need >= {n_inner} speakers to tune the linear student")
    folds = list(GroupKFold(n_splits=n_inner).split(X, y, groups))
    scores = {}
    for C in Cs:
        uar = []
        for tr, va in folds:
            student = fit_student("linear", X[tr], P[tr], columns=columns,
                                  n_classes=n_classes, C=C, min_prob=min_prob,
                                  balanced=balanced, random_state=random_state)
            pred = _class_proba(student, X[va], n_classes).argmax(axis=1)
            uar.append(classification_metrics(y[va], pred, n_classes=n_classes)["uar"])
        scores[float(C)] = float(np.mean(uar))
    return max(scores, key=scores.get), scores


def fit_label_tree(X: np.ndarray, y: np.ndarray, *, columns: np.ndarray,
                   max_depth: int = 8, min_samples_leaf: int = 5, random_state: int = 0
                   ) -> Pipeline:
    """The baseline: the same tree fitted directly on the labels of the training clips."""
    from sklearn.utils.class_weight import compute_sample_weight

    pipe = Pipeline([("select", ColumnSelector(columns)),
                     ("clf", _tree(max_depth, min_samples_leaf, random_state))])
    w = compute_sample_weight("balanced", y)
    pipe.fit(X, y, clf__sample_weight=w)
    return _prune_tree(pipe, X, y, w, random_state)


# --------------------------------------------------------------------------- built-ins
for _spec in (
        StudentSpec(name="tree", build=_build_tree, columns="candidates",
                    quantized="tree_uint8", quantize=_quantize_inputs_uint8,
                    description="depth-8 decision tree"),
        StudentSpec(name="mlp", build=_build_mlp, columns="wide", quantized="mlp_int8",
                    quantize=_quantize_dynamic_int8,
                    description="one-hidden-layer MLP"),
        StudentSpec(name="lgbm", build=_build_lgbm, columns="candidates",
                    description="small LightGBM (8-leaf trees, 60 rounds)"),
        StudentSpec(name="linear", build=_build_softmax, columns="wide", tuned_C=True,
                    quantized="linear_int8", quantize=_quantize_dynamic_int8,
                    description="multinomial logistic regression"),
        StudentSpec(name="compact", build=_build_softmax, columns="all", groups="all",
                    skip_groups=COMPACT_SKIPS, width=COMPACT_FEATURES, tuned_C=True,
                    quantized="compact_int8", quantize=_quantize_weights_int8,
                    description="the regression on its columns of largest weight, any "
                                "group but the extended descriptors"),
        StudentSpec(name="compact_fast", build=_build_softmax, columns="all", groups="all",
                    skip_groups=COMPACT_FAST_SKIPS, width=COMPACT_FEATURES, tuned_C=True,
                    quantized="compact_fast_int8", quantize=_quantize_weights_int8,
                    description="the compact regression without the spectral-shape group "
                                "either"),
        StudentSpec(name="logit", build=_build_logit, columns="all", groups="all",
                    skip_groups=COMPACT_SKIPS, target="logits", quantized="logit_int8",
                    quantize=_quantize_weights_int8,
                    description="a linear map fitted to the teacher's log-probabilities "
                                "(logit matching) on every column but the extended "
                                "descriptors"),
):
    register_student(_spec)
del _spec

#: the built-in kinds (:func:`student_names` lists every registered one)
STUDENTS = tuple(_REGISTRY)
#: the built-in kinds with an int8 graph
INT8_STUDENTS = tuple(s.name for s in _REGISTRY.values() if s.quantized == f"{s.name}_int8")
