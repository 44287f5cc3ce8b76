"""Calibrated class probabilities: temperature scaling fitted on held-out speakers.

A discriminator's penalty ``1 - p(target)`` is only meaningful when ``p`` is a calibrated
probability. Temperature scaling (Guo et al., 2017) rescales the log-probabilities of a
fitted classifier, ``p_T = softmax(log p / T)``, with one ``T > 0`` that minimises the
negative log-likelihood of *out-of-fold* probabilities: the folds are speaker-grouped
(:class:`sklearn.model_selection.StratifiedGroupKFold`, seeded), so ``T`` is fitted on
voices the model did not hear, then the model is refitted on every row. The argmax, hence
accuracy and UAR, is unchanged.

==========================  ==================================================
:func:`fit_temperature`     ``T`` minimising the NLL of probabilities
                            (deterministic)
:func:`apply_temperature`   ``softmax(log p / T)``
:func:`grouped_oof_proba`   out-of-fold probabilities over speaker-grouped folds
:class:`TemperatureScaled`  the meta-estimator (any base with ``predict_proba``)
:func:`with_temperature`    a fitted base and a fitted ``T`` -> a fitted
                            :class:`TemperatureScaled` (the training job's path)
:func:`calibrate_trained`   ``T`` of a registry model, refitted per fold with
                            :func:`ser_classic.artifact.train_model` (augmented
                            copies of the training rows only, per-speaker
                            normalisation)
:func:`calibrate_student`   ``T`` of a distilled student, distilled again per
                            fold, folded into its softmax head (same graph, same
                            int8 graph)
==========================  ==================================================

:class:`TemperatureScaled` exports to ONNX as the base's graph followed by
Max(eps) -> Log -> Mul(1/T) -> Softmax (:mod:`ser_classic.export`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from .errors import ParameterError

__all__ = [
    "CALIBRATIONS",
    "PROBA_FLOOR",
    "TemperatureScaled",
    "apply_temperature",
    "calibrate_student",
    "calibrate_trained",
    "calibration_metrics",
    "fit_temperature",
    "grouped_oof_proba",
    "with_temperature",
]

#: Values of ``calibration=`` (:func:`ser_classic.train`, ``--calibration``).
CALIBRATIONS = ("none", "temperature")
#: Probabilities are floored here before the log (float32-representable, as in ONNX).
PROBA_FLOOR = 1e-12
_LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))


def _check_proba(proba) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2 or not np.all(np.isfinite(proba)):
        raise ParameterError(f"proba must be finite with shape (n, k >= 2), got "
                             f"{proba.shape}")
    return proba


def apply_temperature(proba: np.ndarray, *, temperature: float) -> np.ndarray:
    """``softmax(log max(p, PROBA_FLOOR) / temperature)`` row by row.

    Parameters
    ----------
    proba : np.ndarray [shape=(n, k)]
        Class probabilities.
    temperature : float > 0
        ``> 1`` softens, ``< 1`` sharpens; 1 leaves ``proba`` (up to the floor).

    Returns
    -------
    proba : np.ndarray [shape=(n, k)]
    """
    proba = _check_proba(proba)
    if not temperature > 0:
        raise ParameterError(f"temperature must be > 0, got {temperature}")
    z = np.log(np.maximum(proba, PROBA_FLOOR)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(proba: np.ndarray, y: Sequence[int]) -> float:
    """The temperature minimising the negative log-likelihood of ``y`` under
    ``apply_temperature(proba, temperature=T)`` (bounded scalar search over ``log T`` in
    ``[log 0.05, log 20]``; deterministic).

    Parameters
    ----------
    proba : np.ndarray [shape=(n, k)]
        Out-of-fold probabilities (in-sample ones give a too-small ``T``).
    y : sequence of int [shape=(n,)]
        Column of the true class.

    Returns
    -------
    temperature : float > 0
    """
    from scipy.optimize import minimize_scalar

    proba = _check_proba(proba)
    y = np.asarray(y, dtype=int)
    if y.shape != (proba.shape[0],) or y.size == 0 or y.min() < 0 or y.max() >= proba.shape[1]:
        raise ParameterError(f"y must hold one column index < {proba.shape[1]} per row of "
                             f"proba ({proba.shape[0]}), got shape {y.shape}")
    log_p = np.log(np.maximum(proba, PROBA_FLOOR))

    def loss(log_t: float) -> float:
        z = log_p / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return float(-np.mean(z[np.arange(y.size), y] - np.log(np.exp(z).sum(axis=1))))

    res = minimize_scalar(loss, bounds=_LOG_T_BOUNDS, method="bounded",
                          options={"xatol": 1e-6})
    return float(np.exp(res.x))


def calibration_metrics(y: Sequence[int], proba: np.ndarray) -> dict:
    """ECE (15 bins), Brier score, NLL and accuracy of probabilities (rounded floats)."""
    from .evaluation import brier_score, expected_calibration_error, negative_log_likelihood

    y = np.asarray(y, dtype=int)
    proba = _check_proba(proba)
    return {"ece": round(expected_calibration_error(y, proba, n_bins=15), 4),
            "brier": round(brier_score(y, proba), 4),
            "nll": round(negative_log_likelihood(y, proba, floor=PROBA_FLOOR), 4),
            "accuracy": round(float(np.mean(proba.argmax(axis=1) == y)), 4)}


def grouped_oof_proba(fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                      y: Sequence[int], groups: Sequence, *, n_classes: int,
                      n_splits: int = 5, random_state: int = 0) -> np.ndarray:
    """Out-of-fold probabilities over speaker-grouped, class-stratified folds.

    Parameters
    ----------
    fit_predict : callable ``(train_idx, test_idx) -> np.ndarray [shape=(len(test_idx),
        n_classes)]``
        Fits a model on the rows ``train_idx`` and returns its probabilities of the rows
        ``test_idx`` (never a speaker of ``train_idx``).
    y : sequence of int [shape=(n,)]
    groups : sequence [shape=(n,)]
        The speaker of every row.
    n_classes : int
    n_splits : int >= 2
        At most the number of speakers.
    random_state : int
        Seeds the shuffled :class:`~sklearn.model_selection.StratifiedGroupKFold`.

    Returns
    -------
    proba : np.ndarray [shape=(n, n_classes)]
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y, dtype=int)
    groups = np.asarray(groups)
    if groups.shape != y.shape:
        raise ParameterError(f"groups must have one entry per row ({y.size}), got "
                             f"{groups.shape}")
    n_groups = np.unique(groups).size
    if not 2 <= n_splits <= n_groups:
        raise ParameterError(f"n_splits must be in 2..{n_groups} (the speakers), got "
                             f"{n_splits}")
    out = np.full((y.size, n_classes), np.nan)
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    for train_idx, test_idx in cv.split(np.zeros((y.size, 1)), y, groups):
        if np.unique(y[train_idx]).size != n_classes:
            raise ParameterError("a calibration fold lacks a class in its training rows "
                                 "(too few speakers per class for n_splits)")
        out[test_idx] = fit_predict(train_idx, test_idx)
    return out


class TemperatureScaled(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are temperature-scaled on held-out speakers.

    ``fit`` gets out-of-fold probabilities of clones of ``estimator`` over
    speaker-grouped folds (:func:`grouped_oof_proba`), fits one temperature on them
    (:func:`fit_temperature`), then fits ``estimator`` on every row.
    ``predict_proba(X) = softmax(log p(X) / temperature_)``; ``predict`` is the base's
    argmax.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
    n_splits : int >= 2
        Speaker-grouped folds of the out-of-fold probabilities.
    random_state : int
        Seeds the folds.

    Attributes
    ----------
    estimator_ : the fitted base
    temperature_ : float
    classes_ : np.ndarray
    calibration_ : dict
        ``temperature``, ``n_splits``, ``random_state``, and the out-of-fold
        :func:`calibration_metrics` ``before`` and ``after`` scaling (the latter
        in-sample for ``T`` itself: one parameter).
    """

    def __init__(self, estimator, *, n_splits: int = 5, random_state: int = 0):
        self.estimator = estimator
        self.n_splits = n_splits
        self.random_state = random_state

    def fit(self, X, y, *, groups, **fit_params):
        """Fit on rows ``X`` [shape=(n, d)] with labels ``y`` and the speaker of every
        row in ``groups`` (required: the folds are speaker-grouped)."""
        if not hasattr(self.estimator, "predict_proba"):
            raise ParameterError(f"{type(self.estimator).__name__} has no predict_proba")
        X = np.asarray(X)
        classes, codes = np.unique(np.asarray(y), return_inverse=True)
        if classes.size < 2:
            raise ParameterError("TemperatureScaled needs at least two classes")

        def fit_predict(tr, te):
            return clone(self.estimator).fit(X[tr], codes[tr], **fit_params).predict_proba(
                X[te])

        oof = grouped_oof_proba(fit_predict, codes, groups, n_classes=classes.size,
                                n_splits=self.n_splits, random_state=self.random_state)
        base = clone(self.estimator).fit(X, codes, **fit_params)
        self._set_fitted(base, fit_temperature(oof, codes), oof_proba=oof, y=codes)
        self.classes_ = classes
        return self

    def _set_fitted(self, estimator, temperature, *, oof_proba, y) -> None:
        if not temperature > 0:
            raise ParameterError(f"temperature must be > 0, got {temperature}")
        self.estimator_ = estimator
        self.temperature_ = float(temperature)
        self.classes_ = np.asarray(estimator.classes_)
        if getattr(estimator, "n_features_in_", None) is not None:
            self.n_features_in_ = estimator.n_features_in_
        info = {"method": "temperature", "temperature": round(float(temperature), 6),
                "n_splits": self.n_splits, "random_state": self.random_state,
                "folds": "StratifiedGroupKFold over speakers (shuffled, seeded)"}
        if oof_proba is not None and y is not None:
            info["oof_before"] = calibration_metrics(y, oof_proba)
            info["oof_after"] = calibration_metrics(
                y, apply_temperature(oof_proba, temperature=temperature))
        self.calibration_ = info

    def predict_proba(self, X):
        return apply_temperature(self.estimator_.predict_proba(X),
                                 temperature=self.temperature_)

    def predict(self, X):
        return self.classes_[np.argmax(self.estimator_.predict_proba(X), axis=1)]


def with_temperature(estimator, temperature: float, *, oof_proba: np.ndarray | None = None,
                     y: Sequence[int] | None = None, n_splits: int | None = None,
                     random_state: int = 0) -> TemperatureScaled:
    """A fitted :class:`TemperatureScaled` of a fitted ``estimator`` and a temperature
    (fitted by the caller on out-of-fold probabilities ``oof_proba`` of labels ``y``,
    whose metrics before and after scaling go to ``calibration_``)."""
    model = TemperatureScaled(estimator, n_splits=n_splits or 5, random_state=random_state)
    model._set_fitted(estimator, temperature, oof_proba=oof_proba, y=y)
    return model


def calibrate_trained(estimator, X: np.ndarray, emotions, *, name: str, speakers,
                      normalization: str, params: dict | None = None,
                      random_state: int = 0, X_aug: Sequence[np.ndarray] = (),
                      n_splits: int = 5) -> TemperatureScaled:
    """Temperature-scale a registry model fitted by
    :func:`ser_classic.artifact.train_model` on these rows.

    Each fold refits the model with ``train_model`` on its training speakers' rows (their
    augmented copies only, the same parameters and normalisation) and predicts its
    held-out speakers; ``T`` is fitted on the out-of-fold probabilities.

    Parameters
    ----------
    estimator : fitted estimator
        ``train_model(X, emotions, ...)``'s, on every row (the model shipped).
    X : np.ndarray [shape=(n, d)]
        Features as extracted (normalised inside, as ``train_model`` does).
    emotions, speakers : sequence [shape=(n,)]
    name, normalization, params, random_state, X_aug
        As given to ``train_model``.
    n_splits : int
        Speaker-grouped folds (at most the number of speakers).

    Returns
    -------
    TemperatureScaled (fitted; ``calibration_`` holds ``T`` and the out-of-fold metrics)
    """
    from .artifact import train_model
    from .evaluation import normalized_inputs

    X = np.asarray(X, dtype=np.float64)
    emotions = np.asarray(emotions, dtype=str)
    speakers = np.asarray(speakers)
    classes = sorted(set(emotions.tolist()))
    y = np.searchsorted(classes, emotions)
    n_splits = min(n_splits, np.unique(speakers).size)

    def fit_predict(tr, te):
        est, _ = train_model(  # every class: grouped_oof_proba checked it
            X[tr], emotions[tr], name=name, speakers=speakers[tr],
            normalization=normalization, params=params, random_state=random_state,
            X_aug=[np.asarray(a)[tr] for a in X_aug])
        Xt = normalized_inputs(X[te], (), speakers[te], normalization=normalization,
                               labels=emotions[te])[0]
        return est.predict_proba(Xt)

    oof = grouped_oof_proba(fit_predict, y, speakers, n_classes=len(classes),
                            n_splits=n_splits, random_state=random_state)
    return with_temperature(estimator, fit_temperature(oof, y), oof_proba=oof, y=y,
                            n_splits=n_splits, random_state=random_state)


def _softmax_head(student):
    """The :class:`ser_classic.distill.SoftmaxStudent` ending ``student`` (or None)."""
    from .distill import SoftmaxStudent

    head = student.steps[-1][1] if hasattr(student, "steps") else student
    return head if isinstance(head, SoftmaxStudent) else None


def calibrate_student(student, X: np.ndarray, y: Sequence[int], *, speakers,
                      distill_kwargs: dict, kind: str, n_splits: int = 3,
                      random_state: int = 0):
    """A distilled student's own temperature, folded into its softmax head.

    The student is distilled again (:func:`ser_classic.distill.distill` with
    ``distill_kwargs``, the same teacher) on the clips of the training speakers of each
    speaker-grouped fold and predicts the held-out speakers; ``T`` minimises the NLL of
    their true labels. ``softmax(log p / T)`` of a softmax head is ``softmax(z / T)``: the
    head's weights and bias are divided by ``T``, so the float and int8 graphs keep their
    shape.

    Parameters
    ----------
    student : fitted Pipeline ending with a SoftmaxStudent
        The student distilled on every clip.
    X : np.ndarray [shape=(n, d)]
        The teacher's training clips as it reads them; ``distill_kwargs["X_copies"]``
        row-aligned copies (subset per fold).
    y : sequence of int [shape=(n,)]
        Class codes (true labels).
    speakers : sequence [shape=(n,)]
    distill_kwargs : dict
        Everything else given to ``distill`` (``teacher``, ``n_classes``, ``config``, ...).
    kind : str
        The student kind (``distill(students=[kind])``).
    n_splits : int >= 2
        Speaker-grouped folds; each costs one distillation on ``(n_splits - 1) / n_splits``
        of the clips.

    Returns
    -------
    student : a calibrated copy
    info : dict
        ``temperature`` and the out-of-fold metrics before/after.
    """
    import copy

    from .distill import distill

    if _softmax_head(student) is None:
        raise ParameterError(f"calibration of a {kind!r} student: only students with a "
                             f"softmax head (linear, compact, compact_fast) can fold a "
                             f"temperature into their graph")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    speakers = np.asarray(speakers)
    n_classes = int(distill_kwargs["n_classes"])
    copies = distill_kwargs.get("X_copies", ())

    def fit_predict(tr, te):
        kw = {**distill_kwargs, "X_copies": [np.asarray(c)[tr] for c in copies],
              "speakers": speakers[tr], "students": [kind]}
        fold_student = distill(X[tr], y[tr], **kw)["students"][kind]
        P = np.zeros((te.size, n_classes))
        P[:, np.asarray(fold_student.classes_, dtype=int)] = fold_student.predict_proba(X[te])
        return P

    n_splits = min(n_splits, np.unique(speakers).size)
    oof = grouped_oof_proba(fit_predict, y, speakers, n_classes=n_classes,
                            n_splits=n_splits, random_state=random_state)
    temperature = fit_temperature(oof, y)
    scaled = copy.deepcopy(student)
    head = _softmax_head(scaled)
    head.coef_ = head.coef_ / temperature
    head.intercept_ = head.intercept_ / temperature
    info = {"method": "temperature", "temperature": round(temperature, 6),
            "n_splits": n_splits, "random_state": random_state,
            "folds": "StratifiedGroupKFold over speakers (shuffled, seeded); the student "
                     "distilled again per fold from the same teacher",
            "oof_before": calibration_metrics(y, oof),
            "oof_after": calibration_metrics(y, apply_temperature(
                oof, temperature=temperature))}
    return scaled, info
