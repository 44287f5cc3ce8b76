"""Calibrated class probabilities: temperature scaling fitted on held-out speakers and
held-out training corpora.

A discriminator's penalty ``1 - p(target)`` is only meaningful when ``p`` is a calibrated
probability. Temperature scaling (Guo et al., 2017) rescales the log-probabilities of a
fitted classifier, ``p_T = softmax(log p / T)``, with one ``T > 0`` that minimises the
negative log-likelihood of *out-of-fold* probabilities, then the model is refitted on
every row. The argmax, hence accuracy and UAR, is unchanged. Two methods
(:data:`CALIBRATIONS`), differing only in the folds ``T`` is fitted on:

``"temperature"``
    speaker-grouped folds (:class:`sklearn.model_selection.StratifiedGroupKFold`,
    seeded): ``T`` is fitted on voices the model did not hear.
``"corpus_temperature"``
    those folds pooled with leave-one-training-corpus-out folds (each training corpus
    predicted by a model of the others), the two schemes weighted equally (each held-out
    corpus equally within its scheme): one ``T`` that balances in-corpus and cross-corpus
    confidence. With a single training corpus it is ``"temperature"``.

==========================  ==================================================
:func:`fit_temperature`     ``T`` minimising the NLL of probabilities
                            (deterministic)
:func:`apply_temperature`   ``softmax(log p / T)``
:func:`grouped_oof_proba`   out-of-fold probabilities over speaker-grouped folds
:func:`corpus_oof_proba`    out-of-fold probabilities over leave-one-corpus-out
                            folds
:func:`out_of_fold`         both schemes of one fit-predict -> :class:`OutOfFold`
:class:`OutOfFold`          both schemes' probabilities; ``temperature(method)``
:func:`trained_oof`         :class:`OutOfFold` of a registry model refitted per
                            fold with :func:`ser_classic.artifact.train_model`
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
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from ._parallel import run_jobs
from .errors import ParameterError

__all__ = [
    "CALIBRATIONS",
    "PROBA_FLOOR",
    "OutOfFold",
    "TemperatureScaled",
    "apply_temperature",
    "calibrate_student",
    "calibrate_trained",
    "calibration_metrics",
    "corpus_oof_proba",
    "fit_temperature",
    "grouped_oof_proba",
    "out_of_fold",
    "trained_oof",
    "with_temperature",
]

#: Values of ``calibration=`` (:func:`ser_classic.train`, ``--calibration``).
CALIBRATIONS = ("none", "temperature", "corpus_temperature")
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


def fit_temperature(proba: np.ndarray, y: Sequence[int], *,
                    sample_weight: Sequence[float] | None = None) -> float:
    """The temperature minimising the (weighted) mean negative log-likelihood of ``y``
    under ``apply_temperature(proba, temperature=T)`` (bounded scalar search over ``log T``
    in ``[log 0.05, log 20]``; deterministic).

    Parameters
    ----------
    proba : np.ndarray [shape=(n, k)]
        Out-of-fold probabilities (in-sample ones give a too-small ``T``).
    y : sequence of int [shape=(n,)]
        Column of the true class.
    sample_weight : sequence of float >= 0 [shape=(n,)], optional
        Weight of every row's NLL (default: equal).

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
    if sample_weight is None:
        w = None  # the plain mean (bit-identical temperatures to the unweighted fit)
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != y.shape or not np.all(np.isfinite(w)) or w.min() < 0 or w.sum() <= 0:
            raise ParameterError(f"sample_weight must be {y.size} finite weights >= 0 with "
                                 f"a positive sum, got shape {w.shape}")
        w = w / w.sum()
    log_p = np.log(np.maximum(proba, PROBA_FLOOR))

    def loss(log_t: float) -> float:
        z = log_p / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        ll = z[np.arange(y.size), y] - np.log(np.exp(z).sum(axis=1))
        return float(-(np.mean(ll) if w is None else np.sum(w * ll)))

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
                      n_splits: int = 5, random_state: int = 0,
                      n_jobs: int = 1) -> np.ndarray:
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
    n_jobs : int
        Folds run as parallel joblib jobs (``fit_predict`` must pickle).

    Returns
    -------
    proba : np.ndarray [shape=(n, n_classes)]
    """
    y = np.asarray(y, dtype=int)
    folds = _speaker_folds(y, groups, n_classes=n_classes, n_splits=n_splits,
                           random_state=random_state)
    return _assemble(fit_predict, folds, y.size, n_classes, n_jobs=n_jobs)


def _speaker_folds(y: np.ndarray, groups: Sequence, *, n_classes: int, n_splits: int,
                   random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_idx, test_idx)`` of shuffled, seeded, class-stratified folds grouped by
    speaker (``groups``), every class in every fold's training rows."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups = np.asarray(groups)
    if groups.shape != y.shape:
        raise ParameterError(f"groups must have one entry per row ({y.size}), got "
                             f"{groups.shape}")
    n_groups = np.unique(groups).size
    if not 2 <= n_splits <= n_groups:
        raise ParameterError(f"n_splits must be in 2..{n_groups} (the speakers), got "
                             f"{n_splits}")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    folds = list(cv.split(np.zeros((y.size, 1)), y, groups))
    if any(np.unique(y[train_idx]).size != n_classes for train_idx, _ in folds):
        raise ParameterError("a calibration fold lacks a class in its training rows "
                             "(too few speakers per class for n_splits)")
    return folds


def _assemble(fit_predict, folds, n_rows: int, n_classes: int, *, n_jobs: int) -> np.ndarray:
    """``fit_predict`` of every ``(train_idx, test_idx)`` fold, as joblib jobs, placed at
    the test rows (NaN elsewhere)."""
    import joblib

    out = np.full((n_rows, n_classes), np.nan)
    proba = run_jobs((joblib.delayed(fit_predict)(tr, te) for tr, te in folds), n_jobs=n_jobs)
    for (_, test_idx), P in zip(folds, proba, strict=True):
        out[test_idx] = P
    return out


def corpus_oof_proba(fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     y: Sequence[int], corpora: Sequence, *, n_classes: int,
                     n_jobs: int = 1) -> np.ndarray:
    """Out-of-fold probabilities over leave-one-corpus-out folds of the training corpora.

    Parameters
    ----------
    fit_predict : callable ``(train_idx, test_idx) -> np.ndarray [shape=(len(test_idx),
        n_classes)]``
        Fits a model on the rows ``train_idx`` (every corpus but one) and returns its
        probabilities of the rows ``test_idx`` (that corpus).
    y : sequence of int [shape=(n,)]
    corpora : sequence [shape=(n,)]
        The corpus of every row; at least two distinct.
    n_classes : int
    n_jobs : int
        Folds run as parallel joblib jobs.

    Returns
    -------
    proba : np.ndarray [shape=(n, n_classes)]
        NaN rows: a class the other corpora lack (no evidence about ``T``).
    """
    y = np.asarray(y, dtype=int)
    corpora = np.asarray(corpora)
    if corpora.shape != y.shape:
        raise ParameterError(f"corpora must have one entry per row ({y.size}), got "
                             f"{corpora.shape}")
    names = np.unique(corpora)
    if names.size < 2:
        raise ParameterError(f"leave-one-corpus-out folds need >= 2 corpora, got "
                             f"{names.tolist()}")
    folds = [(np.flatnonzero(corpora != name), np.flatnonzero(corpora == name))
             for name in names]
    out = _assemble(fit_predict, folds, y.size, n_classes, n_jobs=n_jobs)
    for train_idx, test_idx in folds:
        out[test_idx[~np.isin(y[test_idx], y[train_idx])]] = np.nan
    return out


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold probabilities of a training set under both calibration schemes.

    Attributes
    ----------
    y : np.ndarray [shape=(n,)]
        Class codes.
    speaker : np.ndarray [shape=(n, k)]
        Speaker-grouped folds (:func:`grouped_oof_proba`).
    corpus : np.ndarray [shape=(n, k)] or None
        Leave-one-corpus-out folds (:func:`corpus_oof_proba`; NaN rows: a class the
        other corpora lack); None when not computed or with one corpus.
    corpora : np.ndarray [shape=(n,)] or None
        The corpus of every row.
    n_splits, random_state : int
        Of the speaker-grouped folds.
    """

    y: np.ndarray
    speaker: np.ndarray
    corpus: np.ndarray | None = None
    corpora: np.ndarray | None = None
    n_splits: int = 5
    random_state: int = 0

    def rows(self, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(proba, y, weight)`` the temperature of ``method`` is fitted on: the
        speaker-grouped rows (equal weights: ``None``), plus for ``"corpus_temperature"`` the
        leave-one-corpus-out rows, each scheme weighing 1/2 and each held-out corpus
        equally within its scheme."""
        _check_method(method)
        n = self.y.size
        if method == "temperature" or self.corpus is None:
            return self.speaker, self.y, None  # equal weights: the plain mean
        usable = ~np.isnan(self.corpus).any(axis=1)
        names = np.unique(self.corpora[usable])
        w = np.zeros(n)
        for name in names:
            rows = usable & (self.corpora == name)
            w[rows] = 0.5 / names.size / rows.sum()
        return (np.vstack([self.speaker, self.corpus[usable]]),
                np.concatenate([self.y, self.y[usable]]),
                np.concatenate([np.full(n, 0.5 / n), w[usable]]))

    def temperature(self, method: str) -> float:
        """The temperature of ``method`` (:func:`fit_temperature` of :meth:`rows`)."""
        proba, y, w = self.rows(method)
        return fit_temperature(proba, y, sample_weight=w)

    def info(self, method: str, temperature: float) -> dict:
        """The card's ``calibration``: method, ``T``, folds, out-of-fold metrics before and
        after scaling (``oof_*``: speaker-grouped; with corpus folds also
        ``speaker_oof_by_corpus``, the speaker-grouped rows of each corpus, and
        ``corpus_oof``, each held-out corpus)."""
        _check_method(method)
        shifted = method == "corpus_temperature" and self.corpus is not None
        info = {"method": method, "temperature": round(float(temperature), 6),
                "n_splits": self.n_splits, "random_state": self.random_state,
                "folds": "StratifiedGroupKFold over speakers (shuffled, seeded)"
                         + (" + leave-one-training-corpus-out, each scheme weighted 1/2, "
                            "each held-out corpus equally within its scheme"
                            if shifted else "")}
        if method == "corpus_temperature" and not shifted:
            info["fallback"] = "one training corpus: speaker-grouped folds only"
        info["oof_before"] = calibration_metrics(self.y, self.speaker)
        info["oof_after"] = calibration_metrics(
            self.y, apply_temperature(self.speaker, temperature=temperature))
        if shifted:
            info["speaker_oof_by_corpus"] = {
                str(c): {"n": int(r.sum()),
                         "before": calibration_metrics(self.y[r], self.speaker[r]),
                         "after": calibration_metrics(self.y[r], apply_temperature(
                             self.speaker[r], temperature=temperature))}
                for c in np.unique(self.corpora) if (r := self.corpora == c).any()}
            usable = ~np.isnan(self.corpus).any(axis=1)
            info["corpus_oof"] = {
                str(c): {"n": int((usable & (self.corpora == c)).sum()),
                         "before": calibration_metrics(self.y[r], self.corpus[r]),
                         "after": calibration_metrics(self.y[r], apply_temperature(
                             self.corpus[r], temperature=temperature))}
                for c in np.unique(self.corpora)
                if (r := usable & (self.corpora == c)).any()}
        return info


def _check_method(method: str) -> None:
    if method not in CALIBRATIONS[1:]:
        raise ParameterError(f"calibration method must be one of {CALIBRATIONS[1:]}, got "
                             f"{method!r}")


def out_of_fold(fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                y: Sequence[int], speakers: Sequence, corpora: Sequence | None = None, *,
                n_classes: int, n_splits: int = 5, random_state: int = 0,
                n_jobs: int = 1) -> OutOfFold:
    """:class:`OutOfFold` of one ``fit_predict`` (as :func:`grouped_oof_proba`): the
    speaker-grouped folds, and the leave-one-corpus-out folds when ``corpora`` holds at
    least two corpora."""
    y = np.asarray(y, dtype=int)
    speaker = grouped_oof_proba(fit_predict, y, speakers, n_classes=n_classes,
                                n_splits=n_splits, random_state=random_state, n_jobs=n_jobs)
    corpus = None
    if corpora is not None:
        corpora = np.asarray(corpora).astype(str)
        if np.unique(corpora).size >= 2:
            corpus = corpus_oof_proba(fit_predict, y, corpora, n_classes=n_classes,
                                      n_jobs=n_jobs)
    return OutOfFold(y=y, speaker=speaker, corpus=corpus, corpora=corpora,
                     n_splits=n_splits, random_state=random_state)


class TemperatureScaled(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are temperature-scaled on held-out speakers (and
    held-out training corpora).

    ``fit`` gets out-of-fold probabilities of clones of ``estimator`` (:func:`out_of_fold`:
    speaker-grouped folds, and leave-one-corpus-out folds for ``"corpus_temperature"``
    with ``corpora`` of >= 2 corpora), fits one temperature on them
    (:meth:`OutOfFold.temperature`), then fits ``estimator`` on every row.
    ``predict_proba(X) = softmax(log p(X) / temperature_)``; ``predict`` is the base's
    argmax.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
    method : {"temperature", "corpus_temperature"}
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
        :meth:`OutOfFold.info`: method, ``temperature``, folds and the out-of-fold
        :func:`calibration_metrics` ``before`` and ``after`` scaling (the latter
        in-sample for ``T`` itself: one parameter).
    """

    def __init__(self, estimator, *, method: str = "temperature", n_splits: int = 5,
                 random_state: int = 0):
        self.estimator = estimator
        self.method = method
        self.n_splits = n_splits
        self.random_state = random_state

    def fit(self, X, y, *, groups, corpora=None, **fit_params):
        """Fit on rows ``X`` [shape=(n, d)] with labels ``y``, the speaker of every row in
        ``groups`` (required: the folds are speaker-grouped) and its corpus in
        ``corpora`` (used by ``"corpus_temperature"``)."""
        _check_method(self.method)
        if not hasattr(self.estimator, "predict_proba"):
            raise ParameterError(f"{type(self.estimator).__name__} has no predict_proba")
        X = np.asarray(X)
        classes, codes = np.unique(np.asarray(y), return_inverse=True)
        if classes.size < 2:
            raise ParameterError("TemperatureScaled needs at least two classes")

        def fit_predict(tr, te):
            fold = clone(self.estimator).fit(X[tr], codes[tr], **fit_params)
            P = np.zeros((te.size, classes.size))
            P[:, np.asarray(fold.classes_, dtype=int)] = fold.predict_proba(X[te])
            return P

        oof = out_of_fold(fit_predict, codes, groups,
                          corpora if self.method == "corpus_temperature" else None,
                          n_classes=classes.size, n_splits=self.n_splits,
                          random_state=self.random_state)
        base = clone(self.estimator).fit(X, codes, **fit_params)
        self._set_fitted(base, oof.temperature(self.method), oof=oof)
        self.classes_ = classes
        return self

    def _set_fitted(self, estimator, temperature, *, oof: OutOfFold | None = None,
                    oof_proba=None, y=None) -> None:
        if not temperature > 0:
            raise ParameterError(f"temperature must be > 0, got {temperature}")
        self.estimator_ = estimator
        self.temperature_ = float(temperature)
        self.classes_ = np.asarray(estimator.classes_)
        if getattr(estimator, "n_features_in_", None) is not None:
            self.n_features_in_ = estimator.n_features_in_
        if oof is None and oof_proba is not None and y is not None:
            oof = OutOfFold(y=np.asarray(y, dtype=int), speaker=_check_proba(oof_proba),
                            n_splits=self.n_splits, random_state=self.random_state)
        if oof is not None:
            self.calibration_ = oof.info(self.method, temperature)
        else:
            self.calibration_ = {"method": self.method,
                                 "temperature": round(float(temperature), 6),
                                 "n_splits": self.n_splits,
                                 "random_state": self.random_state}

    def predict_proba(self, X):
        return apply_temperature(self.estimator_.predict_proba(X),
                                 temperature=self.temperature_)

    def predict(self, X):
        return self.classes_[np.argmax(self.estimator_.predict_proba(X), axis=1)]


def with_temperature(estimator, temperature: float, *, method: str = "temperature",
                     oof: OutOfFold | None = None, oof_proba: np.ndarray | None = None,
                     y: Sequence[int] | None = None, n_splits: int | None = None,
                     random_state: int = 0) -> TemperatureScaled:
    """A fitted :class:`TemperatureScaled` of a fitted ``estimator`` and a temperature
    (fitted by the caller on out-of-fold probabilities: ``oof``, or speaker-grouped
    ``oof_proba`` of labels ``y``, whose metrics before and after scaling go to
    ``calibration_``)."""
    if oof is not None:
        n_splits, random_state = oof.n_splits, oof.random_state
    model = TemperatureScaled(estimator, method=method, n_splits=n_splits or 5,
                              random_state=random_state)
    model._set_fitted(estimator, temperature, oof=oof, oof_proba=oof_proba, y=y)
    return model


def trained_oof(X: np.ndarray, emotions, *, name: str, speakers, corpora=None,
                normalization: str, params: dict | None = None, random_state: int = 0,
                X_aug: Sequence[np.ndarray] = (), n_splits: int = 5,
                n_jobs: int = 1) -> OutOfFold:
    """:class:`OutOfFold` of a registry model refitted per fold with
    :func:`ser_classic.artifact.train_model` (each fold's training rows with their
    augmented copies only, the same parameters and normalisation; the held-out rows
    normalised as at inference).

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        Features as extracted.
    emotions, speakers : sequence [shape=(n,)]
    corpora : sequence [shape=(n,)], optional
        The corpus of every row: leave-one-corpus-out folds too when >= 2 corpora.
    name, normalization, params, random_state, X_aug
        As given to ``train_model``.
    n_splits : int
        Speaker-grouped folds (at most the number of speakers).
    n_jobs : int
        Folds fitted in parallel (joblib jobs; the result does not depend on it).
    """
    from .artifact import train_model
    from .evaluation import normalized_inputs

    X = np.asarray(X, dtype=np.float64)
    emotions = np.asarray(emotions, dtype=str)
    speakers = np.asarray(speakers)
    classes = sorted(set(emotions.tolist()))
    y = np.searchsorted(classes, emotions)

    def fit_predict(tr, te):
        est, fold_classes = train_model(
            X[tr], emotions[tr], name=name, speakers=speakers[tr],
            normalization=normalization, params=params, random_state=random_state,
            X_aug=[np.asarray(a)[tr] for a in X_aug])
        Xt = normalized_inputs(X[te], (), speakers[te], normalization=normalization,
                               labels=emotions[te])[0]
        P = np.zeros((te.size, len(classes)))
        P[:, np.searchsorted(classes, fold_classes)] = est.predict_proba(Xt)
        return P

    return out_of_fold(fit_predict, y, speakers, corpora, n_classes=len(classes),
                       n_splits=min(n_splits, np.unique(speakers).size),
                       random_state=random_state, n_jobs=n_jobs)


def calibrate_trained(estimator, X: np.ndarray, emotions, *, name: str, speakers,
                      normalization: str, params: dict | None = None,
                      random_state: int = 0, X_aug: Sequence[np.ndarray] = (),
                      n_splits: int = 5, method: str = "temperature",
                      corpora=None) -> TemperatureScaled:
    """Temperature-scale a registry model fitted by
    :func:`ser_classic.artifact.train_model` on these rows.

    Each fold refits the model with ``train_model`` on its training rows (their
    augmented copies only, the same parameters and normalisation) and predicts its
    held-out rows (:func:`trained_oof`); ``T`` is fitted on the out-of-fold probabilities
    of ``method``.

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
    method : {"temperature", "corpus_temperature"}
        ``"corpus_temperature"``: leave-one-corpus-out folds of ``corpora`` pooled with
        the speaker-grouped ones (:meth:`OutOfFold.rows`).
    corpora : sequence [shape=(n,)], optional
        The corpus of every row (read by ``"corpus_temperature"``).

    Returns
    -------
    TemperatureScaled (fitted; ``calibration_`` holds ``T`` and the out-of-fold metrics)
    """
    _check_method(method)
    oof = trained_oof(X, emotions, name=name, speakers=speakers,
                      corpora=corpora if method == "corpus_temperature" else None,
                      normalization=normalization, params=params,
                      random_state=random_state, X_aug=X_aug, n_splits=n_splits)
    return with_temperature(estimator, oof.temperature(method), method=method, oof=oof)


def _softmax_head(student):
    """The :class:`ser_classic.distill.SoftmaxStudent` ending ``student`` (or None)."""
    from .distill import SoftmaxStudent

    head = student.steps[-1][1] if hasattr(student, "steps") else student
    return head if isinstance(head, SoftmaxStudent) else None


def calibrate_student(student, X: np.ndarray, y: Sequence[int], *, speakers,
                      distill_kwargs: dict, kind: str, n_splits: int = 3,
                      random_state: int = 0, method: str = "temperature", corpora=None,
                      fold_teacher: Callable[[np.ndarray], object] | None = None,
                      n_jobs: int = 1):
    """A distilled student's own temperature, folded into its softmax head.

    The student is distilled again (:func:`ser_classic.distill.distill` with
    ``distill_kwargs``) on the clips of the training rows of each fold (speaker-grouped;
    for ``"corpus_temperature"`` also each training corpus left out, :func:`out_of_fold`)
    from a teacher that never saw the held-out rows (``fold_teacher``), and predicts the
    held-out rows; ``T`` minimises the NLL of their true labels
    (:meth:`OutOfFold.temperature`). A student distilled from the teacher of every row
    would copy what that teacher learnt of the held-out speakers: its out-of-fold
    predictions would be too good and ``T`` too low. ``softmax(log p / T)`` of a softmax head
    is ``softmax(z / T)``: the head's weights and bias are divided by ``T``, so the float
    and int8 graphs keep their shape.

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
        of the clips (and each leave-one-corpus-out fold one on the other corpora).
    method : {"temperature", "corpus_temperature"}
    corpora : sequence [shape=(n,)], optional
        The corpus of every row (read by ``"corpus_temperature"``).
    fold_teacher : callable ``train_idx -> fitted classifier``, optional
        The teacher's recipe fitted on the training rows of a fold (``classes_``: codes
        of ``y``); None: ``distill_kwargs["teacher"]`` in every fold (optimistic).
    n_jobs : int
        Folds distilled in parallel (joblib jobs; the result does not depend on it).

    Returns
    -------
    student : a calibrated copy
    info : dict
        :meth:`OutOfFold.info`: ``temperature`` and the out-of-fold metrics before/after.
    """
    import copy

    from .distill import distill

    _check_method(method)
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
        kw = {**distill_kwargs, "speakers": speakers[tr], "students": [kind]}
        if fold_teacher is not None:  # before the fold's copies are gathered: a lower peak
            kw["teacher"] = fold_teacher(tr)
        kw["X_copies"] = [np.asarray(c)[tr] for c in copies]
        fold_student = distill(X[tr], y[tr], **kw)["students"][kind]
        P = np.zeros((te.size, n_classes))
        P[:, np.asarray(fold_student.classes_, dtype=int)] = fold_student.predict_proba(X[te])
        return P

    oof = out_of_fold(fit_predict, y, speakers,
                      corpora if method == "corpus_temperature" else None,
                      n_classes=n_classes, n_splits=min(n_splits, np.unique(speakers).size),
                      random_state=random_state, n_jobs=n_jobs)
    temperature = oof.temperature(method)
    scaled = copy.deepcopy(student)
    head = _softmax_head(scaled)
    head.coef_ = head.coef_ / temperature
    head.intercept_ = head.intercept_ / temperature
    info = oof.info(method, temperature)
    info["folds"] += ("; the teacher's recipe refitted on each fold's training rows, the "
                      "student distilled again from it" if fold_teacher is not None else
                      "; the student distilled again per fold from the same teacher")
    return scaled, info
