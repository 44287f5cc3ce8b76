"""Distillation inside speaker-grouped folds: every student and its quantized variant
scored on the held-out speakers, the teacher tuned and the transfer set built from the
training speakers only."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError
from ..features import FeatureConfig
from ._fit import distill
from ._groups import CHEAP_GROUPS
from ._students import StudentSpec, _class_proba
from ._transfer import TransferConfig

__all__ = ["DistillEvaluation", "distill_cv"]

_TRANSFER = TransferConfig()  # the default transfer set (frozen)


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
    speakers: np.ndarray
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
        from ..evaluation import classification_metrics

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
    from ..export import onnx_predict_proba, onnx_session

    return onnx_predict_proba(onnx_session(onnx), X)


def distill_cv(X: np.ndarray, y: np.ndarray, speakers: Sequence, *, teacher: str,
               config: FeatureConfig, X_aug: Sequence[np.ndarray] = (),
               split: str = "group6", n_folds: int = 6, n_inner: int = 3,
               students: Sequence[str | StudentSpec] = ("tree", "mlp"),
               student_groups: Sequence[str] = CHEAP_GROUPS, n_candidates: int = 300,
               n_candidates_mlp: int | None = None, max_depth: int = 8,
               hidden: tuple[int, ...] = (64,), teacher_params: dict | None = None,
               transfer: TransferConfig = _TRANSFER, n_classes: int = 8,
               compact_features: int | None = None,
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
    speakers : sequence [shape=(n,)]
        Speaker of every clip.
    X_aug : sequence of np.ndarray [shape=(n, n_features)]
        Augmented copies of every clip (row-aligned with ``X``); only copies of training
        clips are used in a fold.
    split : SplitScheme or {"loso", "group6"}
        Outer folds (``n_folds`` of them for ``"group6"``).
    student_groups : sequence of str
        Descriptor groups the students may read.
    teacher_params : dict, optional
        Fixed teacher hyper-parameters; by default they are tuned by grouped inner CV on
        the training speakers of each fold.
    compact_features : int, optional
        Columns a student with a width keeps (see :func:`distill`).

    Returns
    -------
    DistillEvaluation
    """
    from threadpoolctl import threadpool_limits

    from ..evaluation import outer_splits, training_rows, tune_and_fit

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    speakers = np.asarray(speakers)
    splits = outer_splits(speakers, split=split, n_folds=n_folds)
    fold = np.zeros(len(y), dtype=int)
    ev = DistillEvaluation(y=y, speakers=speakers, fold=fold, n_classes=n_classes,
                           teacher=teacher)
    log = progress or (lambda _msg: None)
    for k, (train_idx, test_idx) in enumerate(splits):
        fold[test_idx] = k
        start = time.perf_counter()
        with threadpool_limits(limits=1):
            X_tr, y_tr, g_tr, orig = training_rows(X, y, speakers, train_idx, test_idx,
                                                   X_aug=X_aug)
            t0 = time.perf_counter()
            if teacher_params is None:
                est, params = tune_and_fit(teacher, X_tr[orig], y_tr[orig], g_tr[orig],
                                           n_inner=n_inner, n_classes=n_classes,
                                           random_state=random_state)
            else:
                from ..artifact import train_model

                params = teacher_params  # train_model handles ensembles and warnings
                est = _fit_teacher(train_model, teacher, X_tr[orig], y_tr[orig], params,
                                   random_state)
            results = {"teacher": _class_proba(est, X[test_idx], n_classes)}
            secs = {"teacher": time.perf_counter() - t0}
            t0 = time.perf_counter()
            fitted = distill(X_tr[orig], y_tr[orig], teacher=est, n_classes=n_classes,
                             config=config, X_copies=[X_tr[~orig]], students=students,
                             groups=student_groups, n_candidates=n_candidates,
                             n_candidates_mlp=n_candidates_mlp, max_depth=max_depth,
                             hidden=hidden, transfer=transfer, speakers=g_tr[orig],
                             compact_features=compact_features,
                             random_state=random_state + k)
            secs["students"] = time.perf_counter() - t0
            for name, student in fitted["students"].items():
                results[name] = _class_proba(student, X[test_idx], n_classes)
                ev.used_columns.setdefault(name, []).append(
                    student.named_steps["select"].columns_)
            # quantized variants through their ONNX graph (what is deployed)
            for name, q in fitted["quantized"].items():
                results[name] = _onnx_proba(q.onnx, X[test_idx])
                if name not in fitted["students"]:
                    ev.used_columns.setdefault(name, []).append(
                        q.estimator.named_steps["select"].columns_)
            if "linear_C" in fitted:
                ev.linear_C.append(fitted["linear_C"])
        for name, P in results.items():
            ev.proba.setdefault(name, np.zeros((len(y), n_classes)))[test_idx] = P
        ev.records.append({
            "test": sorted(set(speakers[test_idx].tolist())),
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
