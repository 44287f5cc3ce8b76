"""Distillation of a teacher into small students that read few, cheap features.

A student learns the teacher's class probabilities over an enlarged *transfer set*: the
training clips, their augmented copies (spectrogram masks, cached by
:func:`ser_classic.features.extract_batch`) and MUNGE samples drawn in feature space
(Bucilă et al., 2006). Soft targets are fitted exactly by replicating every row once per
class with the teacher's probability as sample weight (the Gini / log-loss of the
weighted replicas is that of the soft distribution).

The linear student (:class:`SoftmaxStudent`, a multinomial logistic regression whose
``C`` is tuned by speaker-grouped inner CV) is one matrix product, so onnxruntime's dynamic
quantization turns its weights into int8 as it does an MLP's. The compact student is the
same regression on the :data:`COMPACT_FEATURES` columns of largest weight (recursive
elimination); its weights are stored as int8 with folded per-input scales
(:func:`quantize_linear_onnx`), 16 bytes per input.

Students start with a :class:`ColumnSelector`, so a model directory records the columns
they read (``used_features`` of the model card) and the recognizer computes only the
descriptor groups those need (``extract_features(select=...)``). The candidate columns
are restricted to cheap groups (:data:`CHEAP_GROUPS`): the STFT is always computed, but
the autocorrelation pitch track, the spectral-shape group or the extended descriptors cost
several times more.

:func:`distill_cv` runs everything inside speaker-grouped outer folds: the teacher is
tuned and fitted on the training speakers only, the transfer set is built from their clips
only, and every variant is scored on the held-out speakers.
"""

from __future__ import annotations

import copy as _copy
import functools
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_selection import SelectorMixin
from sklearn.pipeline import Pipeline

from .errors import ParameterError
from .features import FeatureConfig, feature_names
from .models import SoftmaxReadout

__all__ = [
    "CHEAP_GROUPS",
    "COMPACT_FAST_SKIPS",
    "COMPACT_FEATURES",
    "COMPACT_SKIPS",
    "INT8_STUDENTS",
    "STUDENTS",
    "ColumnSelector",
    "DistillEvaluation",
    "FeatureQuantizer",
    "SoftmaxStudent",
    "TransferConfig",
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
    "quantize_dynamic_onnx",
    "quantize_linear_onnx",
    "quantize_tree",
    "quantized_onnx",
    "save_student",
    "soft_targets",
    "to_onnx",
    "transfer_set",
]

CHEAP_GROUPS = ("mel", "mfcc", "energy", "chroma", "contrast")
STUDENTS = ("tree", "mlp", "lgbm", "linear", "compact", "compact_fast")
_COMPACT = ("compact", "compact_fast")  # the regression on few columns (weight-only int8)
INT8_STUDENTS = ("mlp", "linear", *_COMPACT)  # the students with an int8 graph
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
# descriptor groups that share an intermediate: computing one computes the others' base
_NEEDS = {"pitch": ("acf",), "voicing": ("acf",), "utterance": ("acf", "energy"),
          "mfcc": ("logmel",), "mel": ("logmel",)}


# --------------------------------------------------------------------------- feature groups
def feature_groups(*, config: FeatureConfig) -> np.ndarray:
    """Descriptor group of every feature column.

    Returns
    -------
    groups : np.ndarray [shape=(n_features,), dtype=str]
        One of mfcc, mel, chroma, contrast, spectral, energy, voicing, pitch, utterance.
    """
    from .features import _name_table  # the extractor's own name -> (group, ...) table

    where = _name_table(config)[1]
    return np.array([where[n][0] for n in feature_names(config=config)])


def groups_needed(columns: Sequence[int], *, config: FeatureConfig) -> list[str]:
    """Sorted descriptor groups that the feature ``columns`` need computed."""
    groups = feature_groups(config=config)
    return sorted({str(groups[i]) for i in np.asarray(columns, dtype=int)})


def measure_group_costs(waveforms: Sequence[np.ndarray], *, config: FeatureConfig,
                        repeats: int = 3) -> dict:
    """Time of the feature extraction per clip: the floor and each group's increment.

    Parameters
    ----------
    waveforms : sequence of np.ndarray [shape=(n,)] at ``config.sample_rate``
    repeats : int
        The best of ``repeats`` passes is kept (least disturbed by other processes).

    Returns
    -------
    costs : dict
        ``floor_ms`` (preprocessing + STFT), ``full_ms`` (all features) and ``groups``:
        group -> extra milliseconds per clip of computing that group alone.
    """
    from .augment import spectrogram
    from .features import extract_features, preprocess

    if not waveforms:
        raise ParameterError("measure_group_costs needs at least one waveform")
    names = feature_names(config=config)
    groups = feature_groups(config=config)

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for y in waveforms:
                fn(y)
            times.append((time.perf_counter() - start) / len(waveforms))
        return 1e3 * min(times)

    floor = best(lambda y: spectrogram(preprocess(y, config=config), n_fft=config.n_fft,
                                       win_length=config.win_length,
                                       hop_length=config.hop_length))
    full = best(lambda y: extract_features(y, config=config))
    out = {}
    for g in dict.fromkeys(groups.tolist()):
        sel = [names[i] for i in np.flatnonzero(groups == g)]
        out[g] = max(0.0, best(lambda y, s=sel: extract_features(y, config=config,
                                                                  select=s)) - floor)
    return {"floor_ms": floor, "full_ms": full, "groups": out}


# --------------------------------------------------------------------------- estimators
class ColumnSelector(SelectorMixin, BaseEstimator):
    """Keep fixed feature columns (the first step of every student).

    Parameters
    ----------
    columns : sequence of int
        Column indices to keep; kept in increasing order.
    """

    def __init__(self, columns=()):
        self.columns = columns

    def fit(self, X, y=None):
        X = np.asarray(X)
        cols = np.unique(np.asarray(self.columns, dtype=int))
        if cols.size == 0 or cols[0] < 0 or cols[-1] >= X.shape[1]:
            raise ParameterError(f"columns must be non-empty indices < {X.shape[1]}")
        self.columns_ = cols
        self.n_features_in_ = X.shape[1]
        return self

    def _get_support_mask(self):
        mask = np.zeros(self.n_features_in_, dtype=bool)
        mask[self.columns_] = True
        return mask


class FeatureQuantizer(TransformerMixin, BaseEstimator):
    """Per-feature affine uint8 quantization: ``code = clip(rint((x - offset) / scale))``.

    ``offset`` and ``scale`` span each feature's range on the fitting data (255 steps);
    values outside saturate at 0 / 255. Arithmetic is float32, as in the ONNX graph
    (``Sub`` -> ``QuantizeLinear`` -> ``Cast``). Output: the codes as float32.
    """

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float32)
        lo, hi = X.min(axis=0), X.max(axis=0)
        self.offset_ = lo.astype(np.float32)
        self.scale_ = np.maximum((hi - lo) / np.float32(255.0), np.float32(1e-12)).astype(
            np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ParameterError(f"expected {self.n_features_in_} features, got {X.shape}")
        return np.clip(np.rint((X - self.offset_) / self.scale_), 0, 255).astype(np.float32)


class SoftmaxStudent(SoftmaxReadout, ClassifierMixin, BaseEstimator):
    """Multinomial logistic regression on standardised inputs, one matrix product.

    ``predict_proba(X) = softmax(((X - mean_) / scale_) @ coef_.T + intercept_)``; it
    exports to ONNX as Sub -> Mul -> MatMul -> Add -> Softmax, so
    :func:`quantize_dynamic_onnx` turns its weights into int8.

    Parameters
    ----------
    C : float > 0
        Inverse L2 penalty (as scikit-learn's ``LogisticRegression``).
    max_iter : int
    random_state : int
    """

    def __init__(self, C: float = 0.01, *, max_iter: int = 300, random_state: int = 0):
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        if self.C <= 0:
            raise ParameterError(f"C must be > 0, got {self.C}")
        if np.unique(y).size < 3:  # two classes would give a binary (one-row) model
            raise ParameterError("SoftmaxStudent needs at least three classes")
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        sd = X.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        clf = LogisticRegression(C=self.C, max_iter=self.max_iter, tol=1e-3,
                                 random_state=self.random_state)
        with warnings.catch_warnings():  # lbfgs stops at max_iter on the widest inputs
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit((X - self.mean_) / self.scale_, y, sample_weight=sample_weight)
        self.classes_, self.coef_, self.intercept_ = clf.classes_, clf.coef_, clf.intercept_
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X):
        Z = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        return Z @ self.coef_.T + self.intercept_


# --------------------------------------------------------------------------- ONNX
@functools.lru_cache(maxsize=1)
def _register_converters() -> None:
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    def shape_select(operator):
        n = operator.inputs[0].type.shape[0]
        operator.outputs[0].type = FloatTensorType([n, len(operator.raw_operator.columns_)])

    def convert_select(scope, operator, container):
        op = operator.raw_operator
        idx = scope.get_unique_variable_name("columns")
        container.add_initializer(idx, TensorProto.INT32, [op.columns_.size],
                                  op.columns_.tolist())  # int32: half the bytes of int64
        container.add_node("Gather", [operator.inputs[0].full_name, idx],
                           operator.outputs[0].full_name, axis=1,
                           name=scope.get_unique_operator_name("Gather"))

    def shape_quant(operator):
        n = operator.inputs[0].type.shape[0]
        operator.outputs[0].type = FloatTensorType([n, operator.raw_operator.n_features_in_])

    def convert_quant(scope, operator, container):
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

    def shape_softmax(operator):
        n = operator.inputs[0].type.shape[0]
        operator.outputs[0].type = Int64TensorType([n])
        operator.outputs[1].type = FloatTensorType([n, operator.raw_operator.classes_.size])

    def convert_softmax(scope, operator, container):
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

    update_registered_converter(ColumnSelector, "SerClassicColumnSelector", shape_select,
                                convert_select)
    update_registered_converter(SoftmaxStudent, "SerClassicSoftmaxStudent", shape_softmax,
                                convert_softmax, options={"zipmap": [False],
                                                          "nocl": [True, False]})
    update_registered_converter(FeatureQuantizer, "SerClassicFeatureQuantizer", shape_quant,
                                convert_quant)


def to_onnx(estimator, *, n_features: int) -> bytes:
    """:func:`ser_classic.export.to_onnx_bytes` with the students' converters registered."""
    from .export import to_onnx_bytes

    _register_converters()
    return to_onnx_bytes(estimator, n_features=n_features)


# --------------------------------------------------------------------------- transfer set
@dataclass(frozen=True)
class TransferConfig:
    """How the transfer set is enlarged and how soft targets are fitted.

    Parameters
    ----------
    munge_rounds : int
        MUNGE samples per training clip.
    munge_p : float
        Probability that an attribute is resampled towards the nearest neighbour.
    munge_s : float
        Local spread: the resampled value has standard deviation ``|a - b| / s``.
    min_prob : float
        Classes below this teacher probability are not replicated (mass renormalised).
    balanced : bool
        Reweight so that every class carries the same total teacher mass.
    """

    munge_rounds: int = 2
    munge_p: float = 0.5
    munge_s: float = 1.0
    min_prob: float = 0.05
    balanced: bool = True

    def __post_init__(self) -> None:
        if self.munge_rounds < 0 or not 0 <= self.munge_p <= 1 or self.munge_s <= 0:
            raise ParameterError("need munge_rounds >= 0, 0 <= munge_p <= 1, munge_s > 0")
        if not 0 <= self.min_prob < 1:
            raise ParameterError("min_prob must be in [0, 1)")


def munge(X: np.ndarray, *, n_rounds: int, p: float = 0.5, s: float = 1.0,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """MUNGE samples: each row moves attribute-wise towards its nearest neighbour.

    For every row ``e`` and its nearest neighbour ``e'`` (Euclidean, standardised
    features), each attribute is, with probability ``p``, drawn from
    ``N(e'_a, |e_a - e'_a| / s)``; otherwise kept.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
    n_rounds : int
    rng : np.random.Generator

    Returns
    -------
    X_new : np.ndarray [shape=(n_rounds * n, d)]
    source : np.ndarray [shape=(n_rounds * n,)]
        Row of ``X`` each sample was drawn from (its neighbour is a row of ``X`` too).
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if n < 2 or n_rounds == 0:
        return np.empty((0, X.shape[1])), np.empty(0, dtype=int)
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    sq = np.einsum("ij,ij->i", Z, Z)
    dist = sq[:, None] + sq[None, :] - 2.0 * Z @ Z.T
    np.fill_diagonal(dist, np.inf)
    nn = np.argmin(dist, axis=1)
    out = []
    for _ in range(n_rounds):
        swap = rng.random(X.shape) < p
        spread = np.abs(X - X[nn]) / s
        out.append(np.where(swap, rng.normal(X[nn], spread), X))
    return np.vstack(out), np.tile(np.arange(n), n_rounds)


def transfer_set(X_train: np.ndarray, *, X_copies: Sequence[np.ndarray] = (),
                 config: TransferConfig = TransferConfig(), rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The rows a student learns the teacher on.

    Parameters
    ----------
    X_train : np.ndarray [shape=(n, d)]
        Feature rows of the training clips (the only source of MUNGE samples).
    X_copies : sequence of np.ndarray [shape=(m_k, d)]
        Augmented copies of training clips (NaN rows are dropped).

    Returns
    -------
    X : np.ndarray [shape=(N, d)]
    kind : np.ndarray [shape=(N,)] of str
        ``"clip"``, ``"augmented"`` or ``"munge"`` for every row.
    """
    parts, kinds = [np.asarray(X_train, dtype=np.float64)], [["clip"] * len(X_train)]
    for Xc in X_copies:
        Xc = np.asarray(Xc, dtype=np.float64)
        Xc = Xc[~np.isnan(Xc).any(axis=1)]
        parts.append(Xc)
        kinds.append(["augmented"] * len(Xc))
    Xm, _ = munge(X_train, n_rounds=config.munge_rounds, p=config.munge_p,
                  s=config.munge_s, rng=rng)
    parts.append(Xm)
    kinds.append(["munge"] * len(Xm))
    return np.vstack(parts), np.concatenate([np.asarray(k, dtype=object) for k in kinds]
                                            ).astype(str)


def soft_targets(X: np.ndarray, P: np.ndarray, *, min_prob: float = 0.05,
                 balanced: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows replicated per class with the teacher's probability as weight.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
    P : np.ndarray [shape=(n, n_classes)]
        Teacher probabilities (rows sum to 1).

    Returns
    -------
    X_rep [shape=(m, d)], y_rep [shape=(m,)], weight [shape=(m,)]
    """
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != len(X):
        raise ParameterError("P must have shape (n_rows, n_classes)")
    keep = P >= min_prob
    keep[np.arange(len(P)), P.argmax(axis=1)] = True
    Pk = np.where(keep, P, 0.0)
    Pk /= Pk.sum(axis=1, keepdims=True)
    rows, cls = np.nonzero(keep)
    w = Pk[rows, cls]
    if balanced:
        mass = Pk.sum(axis=0)
        present = mass > 0
        scale = np.where(present, Pk.sum() / (present.sum() * np.maximum(mass, 1e-12)), 0.0)
        w = w * scale[cls]
    return np.asarray(X)[rows], cls, w


# --------------------------------------------------------------------------- students
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


def fit_student(kind: str, X: np.ndarray, P: np.ndarray, *, columns: np.ndarray,
                n_classes: int, max_depth: int = 8, min_samples_leaf: int = 5,
                hidden: tuple[int, ...] = (64,), C: float = 0.01,
                max_features: int = COMPACT_FEATURES, min_prob: float = 0.05,
                balanced: bool = True, random_state: int = 0) -> Pipeline:
    """A student fitted on the teacher's probabilities ``P`` over transfer rows ``X``.

    Parameters
    ----------
    kind : {"tree", "mlp", "lgbm", "linear", "compact", "compact_fast"}
        Depth-``max_depth`` decision tree; one-hidden-layer MLP (``hidden`` units);
        small LightGBM (8-leaf trees, 60 rounds); multinomial logistic regression
        (:class:`SoftmaxStudent`, inverse penalty ``C``); the same regression on its
        ``max_features`` columns of largest weight (:func:`eliminate_columns`; both
        compact kinds, which differ only in the ``columns`` they are offered).
    X : np.ndarray [shape=(n, n_features)]
        Full-width feature rows.
    P : np.ndarray [shape=(n, n_classes)]
    columns : np.ndarray of int
        Candidate columns the student may read.

    Returns
    -------
    student : Pipeline
        ``ColumnSelector`` (the columns actually read) -> [scaler ->] classifier;
        integer class codes 0 .. n_classes-1.
    """
    if kind not in STUDENTS:
        raise ParameterError(f"student kind must be one of {STUDENTS}, got {kind!r}")
    # every class present once with a tiny weight, so classes_ is always 0 .. n-1
    Xr, yr, w = soft_targets(X, P, min_prob=min_prob, balanced=balanced)
    pad = np.repeat(Xr[:1], n_classes, axis=0)
    Xr = np.vstack([Xr, pad])
    yr = np.concatenate([yr, np.arange(n_classes)])
    w = np.concatenate([w, np.full(n_classes, 1e-6)])
    select = ColumnSelector(columns)
    if kind in ("linear", *_COMPACT):
        w = w / w.mean()
        if kind in _COMPACT:
            select = ColumnSelector(eliminate_columns(
                Xr, yr, w, columns=columns, n_keep=max_features, C=C,
                random_state=random_state))
        pipe = Pipeline([("select", select),
                         ("clf", SoftmaxStudent(C=C, random_state=random_state))])
        return pipe.fit(Xr, yr, clf__sample_weight=w)
    if kind == "tree":
        pipe = Pipeline([("select", select),
                         ("clf", _tree(max_depth, min_samples_leaf, random_state))])
        pipe.fit(Xr, yr, clf__sample_weight=w)
        return _prune_tree(pipe, Xr, yr, w, random_state)
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier
        from sklearn.preprocessing import StandardScaler

        pipe = Pipeline([("select", select), ("scale", StandardScaler()),
                         ("clf", MLPClassifier(hidden_layer_sizes=hidden, alpha=1e-2,
                                               batch_size=256, learning_rate_init=2e-3,
                                               max_iter=50, random_state=random_state))])
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():  # expected after max_iter epochs
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(Xr, yr, clf__sample_weight=w / w.mean())
        pipe.named_steps["clf"]._optimizer = None  # Adam's moments: 2/3 of the file, unused
        return pipe
    from lightgbm import LGBMClassifier

    pipe = Pipeline([("select", select), ("clf", LGBMClassifier(
        n_estimators=60, num_leaves=8, learning_rate=0.1, subsample=0.8, subsample_freq=1,
        colsample_bytree=0.5, min_child_samples=10, n_jobs=1, random_state=random_state,
        verbose=-1))])
    return pipe.fit(Xr, yr, clf__sample_weight=w)


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

    from .evaluation import classification_metrics

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
            pred = _student_proba(student, X[va], n_classes).argmax(axis=1)
            uar.append(classification_metrics(y[va], pred, n_classes=n_classes)["uar"])
        scores[float(C)] = float(np.mean(uar))
    return max(scores, key=scores.get), scores


def fit_label_tree(X: np.ndarray, y: np.ndarray, *, columns: np.ndarray,
                   max_depth: int = 8, min_samples_leaf: int = 5, random_state: int = 0
                   ) -> Pipeline:
    """The baseline: the same tree fitted directly on the labels of the training clips."""
    pipe = Pipeline([("select", ColumnSelector(columns)),
                     ("clf", _tree(max_depth, min_samples_leaf, random_state))])
    from sklearn.utils.class_weight import compute_sample_weight

    w = compute_sample_weight("balanced", y)
    pipe.fit(X, y, clf__sample_weight=w)
    return _prune_tree(pipe, X, y, w, random_state)


# --------------------------------------------------------------------------- quantization
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

    from .export import INPUT_NAME, PROBA_NAME, TARGET_OPSET

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


def quantized_onnx(kind: str, student: Pipeline, *, n_features: int,
                   fp32: bytes | None = None) -> tuple[bytes, dict]:
    """The int8 graph of an MLP or linear student (onnxruntime's dynamic quantization of
    its fp32 graph ``fp32``, converted when not given) or of the compact student
    (weight-only int8, :func:`quantize_linear_onnx`)."""
    if kind in _COMPACT:
        return quantize_linear_onnx(student, n_features=n_features)
    if kind not in ("mlp", "linear"):
        raise ParameterError(f"no int8 graph for a {kind!r} student")
    return quantize_dynamic_onnx(fp32 or to_onnx(student, n_features=n_features))


# --------------------------------------------------------------------------- full fit
def _teacher_proba(teacher, X: np.ndarray, n_classes: int) -> np.ndarray:
    P = np.zeros((len(X), n_classes))
    P[:, np.asarray(teacher.classes_, dtype=int)] = teacher.predict_proba(X)
    return P


def _student_proba(student, X: np.ndarray, n_classes: int) -> np.ndarray:
    P = np.zeros((len(X), n_classes))
    P[:, np.asarray(student.classes_, dtype=int)] = student.predict_proba(X)
    return P


def distill(X: np.ndarray, y: np.ndarray, *, teacher, n_classes: int, config: FeatureConfig,
            X_copies: Sequence[np.ndarray] = (), students: Sequence[str] = ("tree", "mlp"),
            groups: Sequence[str] = CHEAP_GROUPS, n_candidates: int = 300,
            n_candidates_mlp: int | None = None, max_depth: int = 8,
            hidden: tuple[int, ...] = (64,), transfer: TransferConfig = TransferConfig(),
            speakers: Sequence | None = None, compact_features: int = COMPACT_FEATURES,
            compact_groups: Sequence[str] | None = None, random_state: int = 0) -> dict:
    """Fit every student (and the label-trained baseline tree) on one training set.

    Parameters
    ----------
    X : np.ndarray [shape=(n, n_features)]
        Training clips (full-width features).
    y : np.ndarray [shape=(n,)]
        Integer labels (only the baseline tree uses them).
    teacher : fitted classifier with ``predict_proba`` over the same columns
    X_copies : sequence of np.ndarray [shape=(n, n_features)]
        Augmented copies of the training clips (NaN rows skipped).
    groups : sequence of str
        Descriptor groups students may read (see :func:`feature_groups`).
    n_candidates, n_candidates_mlp : int
        Columns (best ANOVA F against the teacher's labels) offered to the trees / MLP
        (None: the MLP reads every column of the allowed groups; once a group is
        computed, its columns cost little more). The linear student reads them all too.
    speakers : sequence [shape=(n,)], optional
        Speaker of every training clip: the linear student's ``C`` is tuned by grouped
        inner CV over them (:func:`tune_linear_C`; the compact student uses the same
        ``C``); without them it is 0.01.
    compact_features : int
        Columns the compact student keeps.
    compact_groups : sequence of str, optional
        Groups the compact student may read (default: all but :data:`COMPACT_SKIPS`; it
        is optimised for size, with the ``C`` tuned for the linear student). The
        ``compact_fast`` student reads all but :data:`COMPACT_FAST_SKIPS`.

    Returns
    -------
    fitted : dict
        ``students`` (name -> Pipeline; ``tree_uint8`` included when a tree is fitted),
        ``quantization`` (name -> report), ``candidates``, ``n_transfer``,
        ``linear_C`` (chosen ``C`` and inner scores, when a linear student is fitted).
    """
    rng = np.random.default_rng(random_state)
    X = np.asarray(X, dtype=np.float64)
    Xt, kind = transfer_set(X, X_copies=X_copies, config=transfer, rng=rng)
    P = _teacher_proba(teacher, Xt, n_classes)
    allowed = np.isin(feature_groups(config=config), list(groups))
    cand = candidate_columns(Xt, P.argmax(axis=1), allowed=allowed, k=n_candidates)
    wide = np.flatnonzero(allowed) if n_candidates_mlp is None else candidate_columns(
        Xt, P.argmax(axis=1), allowed=allowed, k=n_candidates_mlp)
    out: dict[str, object] = {}
    quant: dict[str, dict] = {}
    all_groups = feature_groups(config=config)
    compact_cols = np.flatnonzero(
        np.isin(all_groups, list(compact_groups)) if compact_groups is not None
        else ~np.isin(all_groups, list(COMPACT_SKIPS)))
    fast_cols = np.flatnonzero(~np.isin(all_groups, list(COMPACT_FAST_SKIPS)))
    linear_C = {"C": 0.01, "inner_uar": None}
    if speakers is not None and {"linear", *_COMPACT} & set(students):
        # one C for both: tuned for the dense regression on the allowed groups (the clips
        # are the first rows of Xt)
        C, scores = tune_linear_C(X, y, P[: len(X)], speakers, columns=wide,
                                  n_classes=n_classes, min_prob=transfer.min_prob,
                                  balanced=transfer.balanced, random_state=random_state)
        linear_C = {"C": C, "inner_uar": scores}
    for name in students:
        cols = {"mlp": wide, "linear": wide, "compact": compact_cols,
                "compact_fast": fast_cols}.get(name, cand)
        out[name] = fit_student(name, Xt, P, columns=cols, n_classes=n_classes,
                                max_depth=max_depth, hidden=hidden, C=linear_C["C"],
                                max_features=compact_features, min_prob=transfer.min_prob,
                                balanced=transfer.balanced, random_state=random_state)
        if name == "tree":
            out["tree_uint8"], quant["tree_uint8"] = quantize_tree(out["tree"], Xt)
    # the baseline picks its candidates from the labels, as a tree without a teacher would
    cand_labels = candidate_columns(X, y, allowed=allowed, k=n_candidates)
    out["tree_labels"] = fit_label_tree(X, y, columns=cand_labels, max_depth=max_depth,
                                        random_state=random_state)
    counts = {k: int((kind == k).sum()) for k in ("clip", "augmented", "munge")}
    result = {"students": out, "quantization": quant, "candidates": cand,
              "n_transfer": counts, "transfer_X": Xt}
    if {"linear", *_COMPACT} & set(students):
        result["linear_C"] = linear_C
    return result


# --------------------------------------------------------------------------- CV
@dataclass
class DistillEvaluation:
    """Out-of-fold probabilities of the teacher and every student variant.

    Attributes
    ----------
    proba : dict of name -> np.ndarray [shape=(n, n_classes)]
    used_columns : dict of name -> list (per fold) of column index arrays
    records : list of dict
        Per fold: test speakers and the speakers behind the teacher's training rows and
        the transfer set (for the leakage check).
    linear_C : list of dict
        Per fold: the linear student's ``C`` chosen by the inner CV, and its inner scores.
    """

    y: np.ndarray
    groups: np.ndarray
    fold: np.ndarray
    n_classes: int
    teacher: str
    proba: dict = field(default_factory=dict)
    used_columns: dict = field(default_factory=dict)
    records: list = field(default_factory=list)
    teacher_params: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    n_transfer: list = field(default_factory=list)
    linear_C: list = field(default_factory=list)

    def pred(self, name: str) -> np.ndarray:
        return self.proba[name].argmax(axis=1)

    def metrics(self, name: str) -> dict:
        """Accuracy, UAR, macro-F1 and fidelity (agreement with the teacher) of ``name``."""
        from .evaluation import classification_metrics

        m = classification_metrics(self.y, self.pred(name), n_classes=self.n_classes)
        return {"accuracy": m["accuracy"], "uar": m["uar"], "macro_f1": m["macro_f1"],
                "fidelity": float(np.mean(self.pred(name) == self.pred("teacher"))),
                "per_class_recall": [float(r) for r in m["recall"]]}


def _fit_teacher(train_model, name, X, y, params, random_state):
    with warnings.catch_warnings():  # as the evaluation: convergence, deprecations
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.filterwarnings("ignore", message=".*lbfgs failed to converge.*")
        # train_model sorts class names: names that sort like the codes keep the codes
        est, _ = train_model(X, [f"{c:03d}" for c in y], name=name, params=params,
                             random_state=random_state)
    if not np.array_equal(est.classes_, np.arange(len(np.unique(y)))) or len(
            np.unique(y)) != y.max() + 1:
        raise ParameterError("every class must occur in the teacher's training rows")
    return est


def _onnx_proba(onnx: bytes, X: np.ndarray) -> np.ndarray:
    from .export import onnx_predict_proba, onnx_session

    return onnx_predict_proba(onnx_session(onnx), X)


def distill_cv(X: np.ndarray, y: np.ndarray, groups: Sequence, *, teacher: str,
               config: FeatureConfig, X_aug: Sequence[np.ndarray] = (),
               protocol: str = "group6", n_group_folds: int = 6, n_inner: int = 3,
               students: Sequence[str] = ("tree", "mlp"),
               student_groups: Sequence[str] = CHEAP_GROUPS, n_candidates: int = 300,
               n_candidates_mlp: int | None = None, max_depth: int = 8,
               hidden: tuple[int, ...] = (64,), teacher_params: dict | None = None,
               transfer: TransferConfig = TransferConfig(), n_classes: int = 8,
               random_state: int = 0, progress=None) -> DistillEvaluation:
    """Distillation inside speaker-grouped folds, every variant scored on held-out speakers.

    In each outer fold: the teacher (registry model ``teacher``) is tuned by grouped inner
    CV and fitted on the training speakers' clips; the transfer set is built from those
    clips, their augmented copies and MUNGE samples; students, their quantized versions
    (uint8 tree through ONNX, int8 MLP through ONNX) and the label-trained tree are fitted;
    all are scored on the held-out speakers.

    Parameters
    ----------
    X : np.ndarray [shape=(n, n_features)]
    y : np.ndarray [shape=(n,)] integer class codes
    groups : sequence [shape=(n,)]
        Speaker of every clip.
    X_aug : sequence of np.ndarray [shape=(n, n_features)]
        Augmented copies of every clip (row-aligned with ``X``); only copies of training
        clips are used in a fold.
    teacher_params : dict, optional
        Fixed teacher hyper-parameters; by default they are tuned by grouped inner CV on
        the training speakers of each fold.

    Returns
    -------
    DistillEvaluation
    """
    from threadpoolctl import threadpool_limits

    from .evaluation import outer_splits, training_rows, tune_and_fit

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    groups = np.asarray(groups)
    splits = outer_splits(groups, protocol=protocol, n_group_folds=n_group_folds)
    fold = np.zeros(len(y), dtype=int)
    ev = DistillEvaluation(y=y, groups=groups, fold=fold, n_classes=n_classes,
                           teacher=teacher)
    log = progress or (lambda _msg: None)
    for k, (train_idx, test_idx) in enumerate(splits):
        fold[test_idx] = k
        start = time.perf_counter()
        with threadpool_limits(limits=1):
            X_tr, y_tr, g_tr, orig = training_rows(X, y, groups, train_idx, test_idx,
                                                   X_aug=X_aug)
            t0 = time.perf_counter()
            if teacher_params is None:
                est, params = tune_and_fit(teacher, X_tr[orig], y_tr[orig], g_tr[orig],
                                           n_inner=n_inner, n_classes=n_classes,
                                           random_state=random_state)
            else:
                from .artifact import train_model

                params = teacher_params  # train_model handles ensembles and warnings
                est = _fit_teacher(train_model, teacher, X_tr[orig], y_tr[orig], params,
                                   random_state)
            results = {"teacher": _teacher_proba(est, X[test_idx], n_classes)}
            secs = {"teacher": time.perf_counter() - t0}
            t0 = time.perf_counter()
            fitted = distill(X_tr[orig], y_tr[orig], teacher=est, n_classes=n_classes,
                             config=config, X_copies=[X_tr[~orig]], students=students,
                             groups=student_groups, n_candidates=n_candidates,
                             n_candidates_mlp=n_candidates_mlp, max_depth=max_depth,
                             hidden=hidden, transfer=transfer, speakers=g_tr[orig],
                             random_state=random_state + k)
            secs["students"] = time.perf_counter() - t0
            for name, student in fitted["students"].items():
                results[name] = _student_proba(student, X[test_idx], n_classes)
                ev.used_columns.setdefault(name, []).append(
                    student.named_steps["select"].columns_)
            d = X.shape[1]
            if "tree_uint8" in fitted["students"]:  # the ONNX graph is what is deployed
                onnx = to_onnx(fitted["students"]["tree_uint8"], n_features=d)
                results["tree_uint8"] = _onnx_proba(onnx, X[test_idx])
            for name in INT8_STUDENTS:  # through ONNX
                if name in fitted["students"]:
                    q = quantized_onnx(name, fitted["students"][name], n_features=d)[0]
                    results[f"{name}_int8"] = _onnx_proba(q, X[test_idx])
                    ev.used_columns.setdefault(f"{name}_int8", []).append(
                        fitted["students"][name].named_steps["select"].columns_)
            if "linear_C" in fitted:
                ev.linear_C.append(fitted["linear_C"])
        for name, P in results.items():
            ev.proba.setdefault(name, np.zeros((len(y), n_classes)))[test_idx] = P
        ev.records.append({
            "test": sorted(set(groups[test_idx].tolist())),
            "teacher_train": sorted(set(g_tr[orig].tolist())),
            "transfer": sorted(set(g_tr.tolist())),
        })
        ev.teacher_params.append(params)
        ev.n_transfer.append(fitted["n_transfer"])
        for key, s in secs.items():
            ev.seconds[key] = ev.seconds.get(key, 0.0) + s
        log(f"fold {k + 1}/{len(splits)} ({', '.join(ev.records[-1]['test'])}): "
            + ", ".join(f"{n} {np.mean(P.argmax(1) == y[test_idx]):.3f}"
                        for n, P in results.items())
            + f" [{time.perf_counter() - start:.0f} s]")
    return ev


# --------------------------------------------------------------------------- artifacts
def save_student(model_dir, *, student, name: str, classes: Sequence[str],
                 config: FeatureConfig, teacher_card: dict, onnx: bytes | None = None,
                 parity_rows: np.ndarray | None = None, info: dict | None = None,
                 cv_metrics: dict | None = None, training: dict | None = None,
                 protocol: str = "strict") -> dict:
    """Write a student as a model directory servable by ``ser_classic.load``.

    The card records the teacher, the feature names the student reads (``select``; the
    recognizer computes only those, via ``used_features``) and the groups they need.

    Parameters
    ----------
    model_dir : path
    student : fitted Pipeline starting with a :class:`ColumnSelector`
    onnx : bytes, optional
        The graph to ship (default: converted from ``student``); pass a quantized graph
        to deploy it (the joblib model then stays the float student).
    parity_rows : np.ndarray [shape=(m, n_features)], optional
        Rows on which the ONNX and scikit-learn probabilities are compared.
    protocol : {"strict", "speaker_norm"}
        The teacher's: a student of a speaker-normalised teacher reads speaker-normalised
        features and needs speaker statistics at inference as its teacher does.

    Returns
    -------
    card : dict
    """
    from .artifact import save_artifact
    from .export import onnx_predict_proba, onnx_session

    d = len(feature_names(config=config))
    graph = to_onnx(student, n_features=d) if onnx is None else onnx
    columns = student.named_steps["select"].columns_
    names = feature_names(config=config)
    parity = None
    if parity_rows is not None and len(parity_rows):
        ref = student.predict_proba(parity_rows)
        got = onnx_predict_proba(onnx_session(graph), parity_rows)
        parity = {"max_abs_diff": float(np.max(np.abs(ref - got))),
                  "argmax_agreement": float(np.mean(ref.argmax(1) == got.argmax(1))),
                  "n_rows": len(parity_rows), "atol": 1e-4}
        parity["ok"] = parity["max_abs_diff"] <= 1e-4
    extra = {
        "distillation": {
            "teacher": {"model_id": teacher_card.get("model_id"),
                        "name": teacher_card.get("name")},
            "student": name,
            "select": [names[i] for i in columns],
            "groups_needed": groups_needed(columns, config=config),
            **(info or {}),
        },
        "onnx_parity": parity,
    }
    return save_artifact(model_dir, estimator=student, classes=classes, config=config,
                         name=name, protocol=protocol, onnx=graph,
                         training=training or teacher_card.get("training", {}),
                         cv_metrics=cv_metrics, extra=extra)
