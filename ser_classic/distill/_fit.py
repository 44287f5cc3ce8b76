"""One distillation: the transfer set, the teacher's soft targets, every student asked
for (and its quantized variant), and the label-trained baseline tree."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .._threads import one_blas_thread
from ..features import FeatureConfig
from ._groups import CHEAP_GROUPS
from ._students import (
    StudentSpec,
    _class_proba,
    allowed_columns,
    candidate_columns,
    fit_label_tree,
    fit_student,
    offered_columns,
    student_spec,
    tune_linear_C,
)
from ._transfer import TransferConfig, transfer_set

__all__ = ["distill"]

_TRANSFER = TransferConfig()  # the default transfer set (frozen)


@one_blas_thread
def distill(X: np.ndarray, y: np.ndarray, *, teacher, n_classes: int, config: FeatureConfig,
            X_copies: Sequence[np.ndarray] = (),
            students: Sequence[str | StudentSpec] = ("tree", "mlp"),
            groups: Sequence[str] = CHEAP_GROUPS, n_candidates: int = 300,
            n_candidates_mlp: int | None = None, max_depth: int = 8,
            hidden: tuple[int, ...] = (64,), transfer: TransferConfig = _TRANSFER,
            speakers: Sequence | None = None, compact_features: int | None = None,
            compact_groups: Sequence[str] | None = None, linear_C: float | None = None,
            random_state: int = 0) -> dict:
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
    students : sequence of str or StudentSpec
        Registered student names (:func:`student_names`) or specs.
    groups : sequence of str
        Descriptor groups students may read (see :func:`feature_groups`), for the specs
        whose ``groups`` is ``"given"`` (the compact students read every group but their
        ``skip_groups``).
    n_candidates, n_candidates_mlp : int
        Columns (best ANOVA F against the teacher's labels) offered to the trees / MLP
        (None: the MLP reads every column of the allowed groups; once a group is
        computed, its columns cost little more). The linear student reads them all too.
    speakers : sequence [shape=(n,)], optional
        Speaker of every training clip: the linear student's ``C`` is tuned by grouped
        inner CV over them (:func:`tune_linear_C`; the compact students use the same
        ``C``); without them it is 0.01.
    compact_features : int, optional
        Columns a student with a width keeps (default: its spec's, 340 for the compact
        students).
    linear_C : float, optional
        The linear and compact students' ``C``, given instead of tuned (e.g. the ``C`` a
        distillation on every clip chose, for its refits on subsets).
    compact_groups : sequence of str, optional
        Groups the ``compact`` student may read (default: all but :data:`COMPACT_SKIPS`;
        it is optimised for size, with the ``C`` tuned for the linear student). The
        ``compact_fast`` student reads all but :data:`COMPACT_FAST_SKIPS`.

    Returns
    -------
    fitted : dict
        ``students`` (name -> Pipeline; ``tree_uint8`` included when a tree is fitted),
        ``quantized`` (quantized variant name -> :class:`QuantizedStudent`: the model,
        its graph and report, for every student whose spec has a quantizer),
        ``quantization`` (name -> report of the quantized estimators among ``students``),
        ``candidates``, ``n_transfer``, ``transfer_X``, ``linear_C`` (chosen ``C`` and
        inner scores, when a student reads it).
    """
    specs = [student_spec(s) for s in students]
    if compact_groups is not None:
        specs = [dataclasses.replace(s, groups=tuple(compact_groups), skip_groups=())
                 if s.name == "compact" else s for s in specs]
    rng = np.random.default_rng(random_state)
    X = np.asarray(X, dtype=np.float64)
    Xt, kind = transfer_set(X, X_copies=X_copies, config=transfer, rng=rng)
    P = _class_proba(teacher, Xt, n_classes)
    labels = P.argmax(axis=1)
    d = X.shape[1]
    linear = student_spec("linear")
    given = allowed_columns(linear, config=config, given=groups)
    cand = candidate_columns(Xt, labels, allowed=given, k=n_candidates)
    # (rule, allowed mask) -> columns: specs with the same rule and groups share them
    offered: dict = {("candidates", given.tobytes()): cand}

    def offer(spec: StudentSpec, allowed: np.ndarray) -> np.ndarray:
        key = (spec.columns, allowed.tobytes())
        if key not in offered:
            offered[key] = offered_columns(spec, Xt, labels, allowed=allowed,
                                           n_candidates=n_candidates,
                                           n_candidates_mlp=n_candidates_mlp)
        return offered[key]

    out: dict[str, object] = {}
    quantized: dict = {}
    quant: dict[str, dict] = {}
    given_C = linear_C
    linear_C = {"C": 0.01 if given_C is None else float(given_C), "inner_uar": None}
    tuned = any(s.tuned_C for s in specs)
    if speakers is not None and tuned and given_C is None:
        # one C for all: tuned for the dense regression on the given groups (the clips
        # are the first rows of Xt)
        C, scores = tune_linear_C(X, y, P[: len(X)], speakers, columns=offer(linear, given),
                                  n_classes=n_classes, min_prob=transfer.min_prob,
                                  balanced=transfer.balanced, random_state=random_state)
        linear_C = {"C": C, "inner_uar": scores}
    for spec in specs:
        cols = offer(spec, allowed_columns(spec, config=config, given=groups))
        student = fit_student(spec, Xt, P, columns=cols, n_classes=n_classes,
                              max_depth=max_depth, hidden=hidden, C=linear_C["C"],
                              max_features=compact_features, min_prob=transfer.min_prob,
                              balanced=transfer.balanced, n_clips=len(X),
                              random_state=random_state)
        out[spec.name] = student
        if spec.quantize is not None:
            q = spec.quantize(student, X_fit=Xt, n_features=d, fp32=None)
            quantized[spec.quantized] = q
            if q.estimator is not student:  # a quantized estimator (the uint8 tree)
                out[spec.quantized], quant[spec.quantized] = q.estimator, q.report
    # the baseline picks its candidates from the labels, as a tree without a teacher would
    cand_labels = candidate_columns(X, y, allowed=given, k=n_candidates)
    out["tree_labels"] = fit_label_tree(X, y, columns=cand_labels, max_depth=max_depth,
                                        random_state=random_state)
    counts = {k: int((kind == k).sum()) for k in ("clip", "augmented", "munge")}
    result = {"students": out, "quantized": quantized, "quantization": quant,
              "candidates": cand, "n_transfer": counts, "transfer_X": Xt}
    if tuned:
        result["linear_C"] = linear_C
    return result
