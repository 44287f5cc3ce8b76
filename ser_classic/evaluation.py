"""Speaker-independent evaluation: grouped CV, nested tuning, metrics, selection.

Split schemes (:class:`ser_classic.SplitScheme`)
------------------------------------------------
- ``"loso"``: leave one speaker out (one fold per speaker).
- ``"group6"``: ``n_folds`` folds of consecutive speakers (RAVDESS: 6 x 4 actors,
  alternately male and female, as in EmoBox).
- :func:`leave_one_corpus_out`: one fold per corpus; the model family and its parameters
  are chosen on the other corpora only, the held-out corpus is scored closed-set.

Every split goes through :func:`check_disjoint`, which refuses a speaker on both sides.
Hyper-parameters (and the in-pipeline feature selection) are chosen by grouped inner CV on
the training speakers of each outer fold only. Augmented copies join the training rows of a
fold (and of each inner split) with the speaker of their clip, never a validation or test
side. The ``speaker_norm`` normalisation (:class:`ser_classic.Normalization`) standardises
every speaker's features with the statistics of that speaker's own clips
(:class:`SpeakerNormalizer`, no labels); ``neutral_ref`` centres them on the mean of the
speaker's neutral clips (:func:`reference_normalize`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from ._parallel import run_jobs
from ._threads import one_blas_thread
from ._vocabulary import (
    REFERENCE_LABEL,
    Normalization,
    SplitScheme,
    normalization_of,
    split_of,
)
from .errors import ParameterError
from .models import MODELS, SoftVote, build_model

__all__ = [
    "CVResult",
    "Evaluation",
    "LocoFold",
    "LocoResult",
    "ModelResult",
    "ReliabilityCurve",
    "SpeakerNormalizer",
    "bootstrap_ci",
    "brier_score",
    "check_disjoint",
    "classification_metrics",
    "closed_set_proba",
    "cross_validate",
    "expected_calibration_error",
    "fold_scores",
    "fuse",
    "inner_splits",
    "leave_one_corpus_out",
    "mcnemar_test",
    "negative_log_likelihood",
    "normalized_inputs",
    "oof_frame",
    "outer_splits",
    "paired_comparison",
    "reference_normalize",
    "reliability_curve",
    "select_model",
    "speaker_normalize",
    "summary_dict",
    "training_rows",
    "tune_and_fit",
    "tune_params",
    "wilcoxon_test",
]


# --------------------------------------------------------------------------- normalisation
#: Speaker standard deviations at or below this divide by 1 (constant features).
SCALE_EPS = 1e-8


def _nonzero_scale(std: np.ndarray, eps: float = SCALE_EPS) -> np.ndarray:
    """A speaker's normalisation scale: ``std``, 1 where it is at most ``eps``."""
    return np.where(std > eps, std, 1.0)


class SpeakerNormalizer(TransformerMixin, BaseEstimator):
    """Standardise features with the statistics of one speaker's own (unlabelled) clips.

    Fit on the clips of one speaker, transform clips of the same speaker. No labels.

    Parameters
    ----------
    with_std : bool
        Also divide by the speaker's standard deviation (else only centre).
    eps : float
        Standard deviations below this count as 1 (constant features).
    """

    def __init__(self, *, with_std: bool = True, eps: float = SCALE_EPS):
        self.with_std = with_std
        self.eps = eps

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 1:
            raise ParameterError(f"X must be 2-D with >= 1 row, got shape {X.shape}")
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = _nonzero_scale(std, self.eps) if self.with_std else np.ones_like(std)
        self.n_features_in_ = X.shape[1]
        self.n_samples_seen_ = X.shape[0]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ParameterError(f"expected {self.n_features_in_} features, got shape {X.shape}")
        return (X - self.mean_) / self.scale_


def speaker_normalize(X: np.ndarray, speakers: Sequence, *, with_std: bool = True
                      ) -> np.ndarray:
    """Standardise each speaker's rows with that speaker's own statistics.

    Rows holding NaN (failed extractions, e.g. of an augmented copy) stay NaN and take no
    part in the statistics.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
    speakers : sequence [shape=(n,)]
    with_std : bool

    Returns
    -------
    Z : np.ndarray [shape=(n, d)]
    """
    X = np.asarray(X, dtype=np.float64)
    speakers = np.asarray(speakers)
    if speakers.shape != (X.shape[0],):
        raise ParameterError("speakers must have one entry per row of X")
    Z = np.full_like(X, np.nan)
    ok = ~np.isnan(X).any(axis=1)
    for spk in np.unique(speakers[ok]):
        rows = ok & (speakers == spk)
        Z[rows] = SpeakerNormalizer(with_std=with_std).fit(X[rows]).transform(X[rows])
    return Z


def reference_normalize(X: np.ndarray, speakers: Sequence, reference: Sequence[bool], *,
                        on_missing: str = "raise") -> np.ndarray:
    """Centre each speaker's rows on the mean of that speaker's reference rows.

    The normalisation of ``Normalization.NEUTRAL_REF`` (the reference: a speaker's neutral
    clips). A reference row is centred on the mean of the speaker's *other* reference rows,
    as a clip scored against an enrolled voice never belongs to the enrolment. Rows
    holding NaN stay NaN and take no part in the means.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
    speakers : sequence [shape=(n,)]
    reference : sequence of bool [shape=(n,)]
        True for the rows whose mean centres their speaker.
    on_missing : {"raise", "nan"}
        A speaker with fewer than 2 usable reference rows: ParameterError naming it, or
        (``"nan"``, e.g. for a set of augmented copies) NaN rows.

    Returns
    -------
    Z : np.ndarray [shape=(n, d)]
    """
    X = np.asarray(X, dtype=np.float64)
    speakers = np.asarray(speakers)
    reference = np.asarray(reference, dtype=bool)
    if speakers.shape != (X.shape[0],) or reference.shape != (X.shape[0],):
        raise ParameterError("speakers and reference must have one entry per row of X")
    if on_missing not in ("raise", "nan"):
        raise ParameterError(f"on_missing must be 'raise' or 'nan', got {on_missing!r}")
    Z = np.full_like(X, np.nan)
    ok = ~np.isnan(X).any(axis=1)
    for spk in np.unique(speakers[ok]):
        rows = ok & (speakers == spk)
        ref = rows & reference
        n = int(ref.sum())
        if n < 2:
            if on_missing == "nan":
                continue
            raise ParameterError(
                f"speaker {spk!r} has {n} usable {REFERENCE_LABEL!r} clip(s): "
                f"normalization 'neutral_ref' needs at least 2 per speaker")
        total = X[ref].sum(axis=0)
        Z[rows] = X[rows] - total / n
        Z[ref] = X[ref] - (total - X[ref]) / (n - 1)  # leave-one-out
    return Z


def normalized_inputs(X: np.ndarray, X_aug: Sequence[np.ndarray], speakers: Sequence, *,
                      normalization: str, labels: Sequence[str] | None = None
                      ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Feature rows as a model trained with ``normalization`` reads them.

    ``"speaker_norm"``: :func:`speaker_normalize` of the clips, and of every set of
    augmented copies with the copies' own statistics; ``"neutral_ref"``:
    :func:`reference_normalize` with the clips labelled :data:`REFERENCE_LABEL` as the
    reference (a speaker's copies by its copies of those clips; a speaker without 2 usable
    copies of them loses its copies); ``"strict"``: unchanged.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
    X_aug : sequence of np.ndarray [shape=(n, d)]
    speakers : sequence [shape=(n,)]
    normalization : Normalization or {"strict", "speaker_norm", "neutral_ref"}
    labels : sequence of str [shape=(n,)], optional
        The label of every clip; required by ``"neutral_ref"``.

    Returns
    -------
    X [shape=(n, d)], X_aug : list of [shape=(n, d)]
    """
    normalization = normalization_of(normalization)
    if normalization == Normalization.STRICT:
        return X, list(X_aug)
    if normalization == Normalization.SPEAKER_NORM:
        _check_speaker_clips(X, speakers)
        return (speaker_normalize(X, speakers),
                [speaker_normalize(a, speakers) for a in X_aug])
    if labels is None:
        raise ParameterError("normalization 'neutral_ref' needs the label of every clip "
                             f"(its {REFERENCE_LABEL!r} clips are the speaker's reference)")
    reference = np.asarray(labels).astype(str) == REFERENCE_LABEL
    return (reference_normalize(X, speakers, reference),
            [reference_normalize(a, speakers, reference, on_missing="nan") for a in X_aug])


def _check_speaker_clips(X: np.ndarray, speakers: Sequence) -> None:
    """Raise unless every speaker with a usable row of ``X`` has at least 2: one clip's
    statistics would normalise it to zeros (and enrolment needs 2 clips too)."""
    ok = ~np.isnan(np.asarray(X, dtype=np.float64)).any(axis=1)
    names, counts = np.unique(np.asarray(speakers)[ok], return_counts=True)
    few = names[counts < 2]
    if few.size:
        raise ParameterError(
            f"speaker(s) {[str(s) for s in few[:5]]}{' ...' if few.size > 5 else ''} "
            f"have 1 usable clip: normalization 'speaker_norm' needs at least 2 per "
            f"speaker (the speaker's statistics)")


# --------------------------------------------------------------------------- splits
def check_disjoint(train_speakers: Sequence, test_speakers: Sequence) -> None:
    """Raise ParameterError if any speaker is on both sides of a split."""
    shared = (set(np.asarray(train_speakers).tolist())
              & set(np.asarray(test_speakers).tolist()))
    if shared:
        raise ParameterError(f"speaker(s) on both sides of a split: {sorted(shared)[:5]}")


def outer_splits(speakers: Sequence, *, split: str = SplitScheme.LOSO, n_folds: int = 6
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Speaker-grouped outer folds.

    Parameters
    ----------
    speakers : sequence [shape=(n,)]
        Speaker of every row.
    split : SplitScheme or {"loso", "group6"}
    n_folds : int
        Number of folds of consecutive (sorted) speakers for ``"group6"``.

    Returns
    -------
    splits : list of (train_idx, test_idx)
    """
    speakers = np.asarray(speakers)
    distinct = np.unique(speakers)
    if split_of(split) == SplitScheme.LOSO:
        blocks = [[s] for s in distinct]
    else:
        if not 2 <= n_folds <= distinct.size:
            raise ParameterError(f"n_folds must be between 2 and the number of speakers "
                                 f"({distinct.size}), got {n_folds}")
        blocks = [list(b) for b in np.array_split(distinct, n_folds)]
    if len(blocks) < 2:
        raise ParameterError("need at least 2 speakers")
    splits = []
    for block in blocks:
        test = np.isin(speakers, block)
        train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
        check_disjoint(speakers[train_idx], speakers[test_idx])
        splits.append((train_idx, test_idx))
    return splits


def inner_splits(speakers: Sequence, is_original: Sequence[bool], *, n_splits: int = 3
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Speaker-grouped inner folds over training rows: copies only ever on the training side.

    Parameters
    ----------
    speakers : sequence [shape=(n,)]
        Speaker of every training row (originals and augmented copies); the
        leave-one-corpus-out evaluation with ``inner="corpus"`` passes the corpus instead.
    is_original : sequence of bool [shape=(n,)]
        False for augmented copies.
    n_splits : int
        Speakers are dealt into this many folds (sorted, round robin).

    Returns
    -------
    splits : list of (train_idx, validation_idx)
    """
    speakers = np.asarray(speakers)
    is_original = np.asarray(is_original, dtype=bool)
    distinct = np.unique(speakers[is_original])
    n_splits = min(n_splits, distinct.size)
    if n_splits < 2:
        raise ParameterError("inner CV needs at least 2 training speakers")
    splits = []
    for k in range(n_splits):
        held = distinct[k::n_splits]
        val_speaker = np.isin(speakers, held)
        train_idx = np.flatnonzero(~val_speaker)
        val_idx = np.flatnonzero(val_speaker & is_original)
        check_disjoint(speakers[train_idx], speakers[val_idx])
        splits.append((train_idx, val_idx))
    return splits


# --------------------------------------------------------------------------- metrics
def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], *, n_classes: int
                           ) -> dict:
    """Accuracy, UAR, macro-F1, per-class recall and the row-normalised confusion matrix.

    Classes absent from ``y_true`` are left out of UAR and macro-F1.

    Returns
    -------
    metrics : dict
        ``accuracy``, ``uar``, ``macro_f1`` (float), ``recall`` [shape=(n_classes,)] (NaN
        for absent classes), ``confusion`` [shape=(n_classes, n_classes)] counts,
        ``confusion_norm`` (rows sum to 1).
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ParameterError("y_true and y_pred must be non-empty and of equal length")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return _metrics_from_confusion(cm)


def _metrics_from_confusion(cm: np.ndarray) -> dict:
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm).astype(np.float64)
    present = support > 0
    recall = np.where(present, tp / np.maximum(support, 1), np.nan)
    precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
    denom = precision + np.nan_to_num(recall)
    f1 = np.where(denom > 0, 2 * precision * np.nan_to_num(recall) / np.where(denom > 0,
                                                                              denom, 1), 0.0)
    return {
        "accuracy": float(tp.sum() / cm.sum()),
        "uar": float(np.mean(recall[present])),
        "macro_f1": float(np.mean(f1[present])),
        "recall": recall,
        "confusion": cm,
        "confusion_norm": cm / np.maximum(support[:, None], 1),
    }


def _speaker_confusions(y_true, y_pred, speakers, n_classes):
    distinct = np.unique(speakers)
    cms = np.zeros((distinct.size, n_classes, n_classes), dtype=np.int64)
    index = np.searchsorted(distinct, speakers)
    np.add.at(cms, (index, y_true, y_pred), 1)
    return distinct, cms


def bootstrap_ci(y_true: Sequence[int], y_pred: Sequence[int], speakers: Sequence, *,
                 n_classes: int, n_boot: int = 2000, alpha: float = 0.05,
                 random_state: int = 0) -> dict:
    """Percentile bootstrap confidence intervals, resampling speakers with replacement.

    Returns
    -------
    ci : dict
        ``{"accuracy": [lo, hi], "uar": [lo, hi], "macro_f1": [lo, hi]}``
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    speakers = np.asarray(speakers)
    _, cms = _speaker_confusions(y_true, y_pred, speakers, n_classes)
    rng = np.random.default_rng(random_state)
    n_spk = cms.shape[0]
    counts = rng.multinomial(n_spk, np.full(n_spk, 1.0 / n_spk), size=n_boot)
    totals = np.tensordot(counts, cms, axes=1)  # (n_boot, C, C)
    values: dict[str, list[float]] = {"accuracy": [], "uar": [], "macro_f1": []}
    for cm in totals:
        m = _metrics_from_confusion(cm)
        for key in values:
            values[key].append(m[key])
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    return {k: [float(v) for v in np.percentile(vals, q)] for k, vals in values.items()}


def fold_scores(y_true, y_pred, fold, *, n_classes: int) -> dict:
    """Accuracy, UAR and macro-F1 of every outer fold (lists in fold order)."""
    y_true, y_pred, fold = (np.asarray(a) for a in (y_true, y_pred, fold))
    out: dict[str, list[float]] = {"accuracy": [], "uar": [], "macro_f1": []}
    for k in np.unique(fold):
        m = classification_metrics(y_true[fold == k], y_pred[fold == k], n_classes=n_classes)
        for key in out:
            out[key].append(m[key])
    return out


def wilcoxon_test(scores_a: Sequence[float], scores_b: Sequence[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test on paired per-speaker scores."""
    from scipy.stats import wilcoxon

    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if np.allclose(a, b):
        return {"statistic": 0.0, "p_value": 1.0, "n": int(a.size)}
    res = wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    return {"statistic": float(res.statistic), "p_value": float(res.pvalue), "n": int(a.size)}


def mcnemar_test(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict:
    """Exact McNemar test on paired per-clip correctness."""
    from scipy.stats import binomtest

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_a + only_b
    p = 1.0 if n == 0 else float(binomtest(only_a, n, 0.5).pvalue)
    return {"only_a_correct": only_a, "only_b_correct": only_b, "p_value": p}


# --------------------------------------------------------------------------- tuning
def _silence():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", FutureWarning)
    warnings.filterwarnings("ignore", message=".*lbfgs failed to converge.*")
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    return ctx


def _fit(est, X, y):
    ctx = _silence()
    try:
        return est.fit(X, y)
    finally:
        ctx.__exit__(None, None, None)


def _score(y_true, y_pred, scoring: str, n_classes: int) -> float:
    m = classification_metrics(y_true, y_pred, n_classes=n_classes)
    return m["uar"] if scoring == "uar" else m["accuracy"]


def tune_and_fit(name: str, X: np.ndarray, y: np.ndarray, speakers: Sequence, *,
                 is_original: Sequence[bool] | None = None, n_inner: int = 3,
                 scoring: str = "uar", n_classes: int | None = None, random_state: int = 0,
                 record: list | None = None, normalization: str = Normalization.STRICT
                 ) -> tuple[BaseEstimator, dict]:
    """Choose the grid point of model ``name`` by grouped inner CV, refit on all rows.

    Parameters
    ----------
    name : str
        A registered model (an ensemble tunes each member and soft-votes them).
    X : np.ndarray [shape=(n, d)]
    y : np.ndarray [shape=(n,)] integer class codes
    speakers : sequence [shape=(n,)]
        Speaker of every row.
    is_original : sequence of bool, optional
        False marks augmented copies (training side only).
    n_inner : int
        Grouped inner folds.
    scoring : "uar" or "accuracy"
    n_classes : int, optional
        Number of classes of the codes (default: ``max(y) + 1``); any label set.
    record : list, optional
        Receives ``(train_speakers, validation_speakers)`` of every inner split.
    normalization : Normalization or str
        How ``X`` was normalised: whether a model fits the copies can depend on it
        (:meth:`ser_classic.models.ModelSpec.fits_copies`).

    Returns
    -------
    estimator : fitted estimator
    params : dict
        The chosen parameters (per member for an ensemble).
    """
    spec = MODELS.get(name)
    if spec is None:
        raise ParameterError(f"unknown model {name!r}")
    if scoring not in ("uar", "accuracy"):
        raise ParameterError(f"scoring must be 'uar' or 'accuracy', got {scoring!r}")
    if n_classes is None:
        n_classes = int(np.max(y)) + 1
    if spec.members:
        members, params = [], {}
        for member in spec.members:
            est, p = tune_and_fit(member, X, y, speakers, is_original=is_original,
                                  n_inner=n_inner, scoring=scoring, n_classes=n_classes,
                                  random_state=random_state, record=record,
                                  normalization=normalization)
            members.append((member, est))
            params[member] = p
        vote = SoftVote([(n, e) for n, e in members])
        vote.estimators_ = [e for _, e in members]
        vote.classes_ = members[0][1].classes_
        return vote, params
    if not spec.fits_copies(normalization) and is_original is not None:  # originals only
        keep = np.asarray(is_original, dtype=bool)
        X, y, speakers, is_original = X[keep], y[keep], np.asarray(speakers)[keep], None
    best = _choose_params(name, X, y, speakers, is_original=is_original, n_inner=n_inner,
                          scoring=scoring, n_classes=n_classes, random_state=random_state,
                          record=record)
    est = build_model(name, random_state=random_state, params=best)
    return _fit(est, X, y), best


def _choose_params(name, X, y, speakers, *, is_original, n_inner, scoring, n_classes,
                   random_state, record):
    spec = MODELS[name]
    grid = spec.param_grid()
    if len(grid) == 1:
        return grid[0]
    speakers = np.asarray(speakers)
    if is_original is None:
        is_original = np.ones(len(y), dtype=bool)
    splits = inner_splits(speakers, is_original, n_splits=n_inner)
    if record is not None:
        record.extend((set(speakers[tr].tolist()), set(speakers[va].tolist()))
                      for tr, va in splits)
    scores = _grid_scores(name, X, y, splits, scoring=scoring, n_classes=n_classes,
                          random_state=random_state)
    return grid[int(np.argmax(scores))]


def _grid_scores(name, X, y, splits, *, scoring, n_classes, random_state,
                 n_jobs: int = 1) -> np.ndarray:
    """Summed validation score of every grid point of ``name`` over ``splits``.

    Splits run as ``n_jobs`` joblib jobs, each fit on one BLAS thread (the scores do not
    depend on the machine's thread count).
    """
    return np.sum(_scores_per_split(name, X, y, splits, scoring=scoring,
                                    n_classes=n_classes, random_state=random_state,
                                    n_jobs=n_jobs), axis=0)


def _scores_per_split(name, X, y, splits, *, scoring, n_classes, random_state,
                      n_jobs: int = 1) -> list[np.ndarray]:
    """:func:`_split_scores` of every split, in the order of ``splits``."""
    import joblib

    jobs = (joblib.delayed(_split_scores)(name, X, y, tr, va, scoring=scoring,
                                          n_classes=n_classes, random_state=random_state)
            for tr, va in splits)
    return list(run_jobs(jobs, n_jobs=n_jobs))


@one_blas_thread
def _split_scores(name, X, y, tr, va, *, scoring, n_classes, random_state) -> np.ndarray:
    """Validation score of every grid point of ``name`` on one split.

    A model whose ``fast_params`` set ``warm_start`` is fitted once and refitted at each
    next grid point from the previous solution (the grid's order is the path); a Pipeline's
    steps before the estimator, whose parameters the grid does not change, are fitted once.
    """
    spec = MODELS[name]
    grid = spec.param_grid()
    warm = any(key.endswith("warm_start") and value
               for key, value in spec.fast_params.items())
    X_tr, y_tr, X_va = X[tr], y[tr], X[va]
    scores = np.zeros(len(grid))
    est = X_steps = None
    for i, params in enumerate(grid):
        if est is None or not warm:
            est = build_model(name, random_state=random_state,
                              params={**params, **spec.fast_params})
            _fit(est, X_tr, y_tr)
        else:
            est.set_params(**params)
            if isinstance(est, Pipeline) and all(  # only the final step's parameters move
                    key.startswith(f"{est.steps[-1][0]}__") for key in params):
                if X_steps is None:
                    X_steps = est[:-1].transform(X_tr)
                _fit(est[-1], X_steps, y_tr)
            else:
                _fit(est, X_tr, y_tr)
        scores[i] = _score(y[va], est.predict(X_va), scoring, n_classes)
    return scores


#: The inner CVs :func:`tune_params` can maximise: speaker-grouped folds, one fold per
#: training corpus, or the mean of the two (issue 19: choices on the mean of LOSO and LOCO).
TUNINGS = ("speaker", "corpus", "speaker+corpus")
#: How :func:`tune_params` picks a grid point from its inner scores: the best mean
#: (``"best"``), or the most regularised point within one standard error of the best
#: (``"one_se"``, Hastie, Tibshirani & Friedman, ESL 7.10: near-ties go to the simpler
#: model instead of to the noise).
TUNING_RULES = ("best", "one_se")


def _rule_choice(mean: np.ndarray, se: np.ndarray, *, rule: str,
                 simplest_first: bool) -> int:
    """Index of the grid point ``rule`` picks from the mean inner scores and the standard
    error of each (``simplest_first``: index 0 is the most regularised)."""
    best = int(np.argmax(mean))
    if rule == "best":
        return best
    within = np.flatnonzero(mean >= mean[best] - se[best])
    return int(within.min() if simplest_first else within.max())


def _member_choice(per: dict, member: str, *, rule: str) -> dict:
    """The grid point of ``member`` that ``rule`` picks from its :func:`tune_params` scores
    (``per``: the grid, each grouping's mean scores, the standard errors)."""
    mean = np.mean([per[g] for g in ("speaker", "corpus") if g in per], axis=0)
    return per["grid"][_rule_choice(mean, np.asarray(per["se"]), rule=rule,
                                    simplest_first=MODELS[member].simplest_first)]


def tune_params(name: str, X: np.ndarray, y: np.ndarray, *, speakers: Sequence,
                corpora: Sequence, tune: str = "speaker+corpus",
                X_aug: Sequence[np.ndarray] = (), n_inner: int = 3, scoring: str = "uar",
                n_classes: int | None = None, random_state: int = 0,
                normalization: str = Normalization.STRICT, rule: str = "best",
                n_jobs: int = 1) -> tuple[dict, dict]:
    """Choose the grid point of registry model ``name`` by grouped inner CV on its own
    training rows (no refit).

    Copies (``X_aug``) are added to the training side of every inner fold only, for the
    models that fit them, and keep their clip's speaker and corpus.

    Parameters
    ----------
    name : str
        A registered model; an ensemble's members are tuned one by one.
    X : np.ndarray [shape=(n, d)]
        Features as the model reads them (already normalised).
    y : np.ndarray [shape=(n,)]
        Integer class codes.
    speakers, corpora : sequence [shape=(n,)]
    tune : {"speaker", "corpus", "speaker+corpus"}
        ``"speaker"``: ``n_inner`` speaker-grouped folds over every corpus; ``"corpus"``:
        every training corpus held out once (at least two corpora);
        ``"speaker+corpus"``: the mean of the two scores.
    X_aug : sequence of np.ndarray [shape=(n, d)]
        Augmented copies, row ``i`` a copy of clip ``i``.
    n_inner : int
        Speaker-grouped inner folds.
    scoring : "uar" or "accuracy"
    normalization : Normalization or str
        How ``X`` was normalised (decides which members fit the copies).
    rule : {"best", "one_se"}
        The best mean score, or the most regularised grid point within one standard error
        of it (:data:`TUNING_RULES`; the standard error over the inner folds, of each
        grouping's mean, combined as the mean of the groupings is).
    n_jobs : int
        Inner folds fitted in parallel (joblib jobs of one BLAS thread each; the scores
        do not depend on it).

    Returns
    -------
    params : dict
        The chosen grid point (``{member: point}`` for an ensemble).
    scores : dict
        ``{model: {grouping: [mean validation score per grid point]}}`` with the grid
        points under ``"grid"`` and the standard error of each point's score under
        ``"se"``.
    """
    spec = MODELS.get(name)
    if spec is None:
        raise ParameterError(f"unknown model {name!r}")
    if tune not in TUNINGS:
        raise ParameterError(f"tune must be one of {TUNINGS}, got {tune!r}")
    if scoring not in ("uar", "accuracy"):
        raise ParameterError(f"scoring must be 'uar' or 'accuracy', got {scoring!r}")
    if rule not in TUNING_RULES:
        raise ParameterError(f"rule must be one of {TUNING_RULES}, got {rule!r}")
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=int)  # float32: faster fits
    groups = {"speaker": np.asarray(speakers).astype(str),
              "corpus": np.asarray(corpora).astype(str)}
    if tune != "speaker" and np.unique(groups["corpus"]).size < 2:
        raise ParameterError(f"tune={tune!r} needs at least two training corpora")
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    params, scores = {}, {}
    for member in spec.members or (name,):
        grid = MODELS[member].param_grid()
        copies = list(X_aug) if MODELS[member].fits_copies(normalization) else []
        X_all = np.vstack([X, *(np.asarray(a, dtype=np.float32) for a in copies)])
        y_all = np.tile(y, 1 + len(copies))
        original = np.arange(len(y_all)) < len(y)
        keep = ~np.isnan(X_all).any(axis=1)
        splits = {}
        for grouping in tune.split("+"):
            g_all = np.tile(groups[grouping], 1 + len(copies))[keep]
            n_splits = n_inner if grouping == "speaker" else np.unique(groups[grouping]).size
            splits[grouping] = inner_splits(g_all, original[keep], n_splits=n_splits)
        scored = iter(_scores_per_split(member, X_all[keep], y_all[keep],
                                        [s for g in splits.values() for s in g],
                                        scoring=scoring, n_classes=n_classes,
                                        random_state=random_state, n_jobs=n_jobs))
        per, variance = {"grid": grid}, []
        for grouping, group_splits in splits.items():
            split_scores = np.array([next(scored) for _ in group_splits])
            per[grouping] = (np.sum(split_scores, axis=0) / len(group_splits)).tolist()
            variance.append(split_scores.var(axis=0, ddof=1) / len(group_splits))
        per["se"] = (np.sqrt(np.sum(variance, axis=0)) / len(variance)).tolist()
        params[member] = _member_choice(per, member, rule=rule)
        scores[member] = per
    return (params if spec.members else params[name]), scores


# --------------------------------------------------------------------------- outer CV
@dataclass
class ModelResult:
    """Out-of-fold outcome of one model."""

    name: str
    proba: np.ndarray  # (n, n_classes)
    pred: np.ndarray  # (n,)
    params: list  # chosen parameters per fold
    seconds: float  # fit + predict time summed over folds


@dataclass
class Evaluation:
    """Everything one speaker-grouped cross-validation produced.

    ``split`` and ``normalization`` are :class:`ser_classic.SplitScheme` and
    :class:`ser_classic.Normalization` members; ``speakers`` the speaker of every clip.
    """

    split: SplitScheme
    normalization: Normalization
    classes: tuple[str, ...]
    y: np.ndarray
    speakers: np.ndarray
    fold: np.ndarray  # outer fold of every clip
    models: dict[str, ModelResult] = field(default_factory=dict)
    inner_record: dict[int, list] = field(default_factory=dict)
    n_augmented: int = 0
    seconds: float = 0.0

    def metrics(self, name: str) -> dict:
        return classification_metrics(self.y, self.models[name].pred,
                                      n_classes=len(self.classes))


CVResult = Evaluation


def training_rows(X: np.ndarray, y: np.ndarray, speakers: np.ndarray, train_idx: np.ndarray,
                  test_idx: np.ndarray, *, X_aug: Sequence[np.ndarray] = ()):
    """Training rows of one outer fold: its clips plus their augmented copies.

    Copies keep the speaker of their clip; only copies of training clips are added, and
    the result is checked against the test speakers.

    Returns
    -------
    X_train [shape=(m, d)], y_train [shape=(m,)], speakers_train [shape=(m,)],
    is_original [shape=(m,)] (False for copies)
    """
    check_disjoint(speakers[train_idx], speakers[test_idx])
    X_tr, y_tr, g_tr = X[train_idx], y[train_idx], speakers[train_idx]
    orig = np.ones(train_idx.size, dtype=bool)
    for Xa in X_aug:
        rows = train_idx[~np.isnan(Xa[train_idx]).any(axis=1)]
        X_tr = np.vstack([X_tr, Xa[rows]])
        y_tr = np.concatenate([y_tr, y[rows]])
        g_tr = np.concatenate([g_tr, speakers[rows]])
        orig = np.concatenate([orig, np.zeros(rows.size, dtype=bool)])
    check_disjoint(g_tr, speakers[test_idx])
    return X_tr, y_tr, g_tr, orig


def _run_fold(k, train_idx, test_idx, X, y, speakers, X_aug, names, n_inner, scoring,
              n_classes, random_state, normalization):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        X_tr, y_tr, g_tr, orig = training_rows(X, y, speakers, train_idx, test_idx,
                                               X_aug=X_aug)
        X_tr, X_te = X_tr.astype(np.float32), X[test_idx].astype(np.float32)  # faster fits
        out, record = {}, []
        for name in names:
            spec = MODELS[name]
            start = time.perf_counter()
            if spec.members:  # soft vote of the members already fitted on this fold
                proba = np.mean([out[m][0] for m in spec.members], axis=0)
                out[name] = (proba, {m: out[m][1] for m in spec.members},
                             time.perf_counter() - start)
                continue
            est, params = tune_and_fit(name, X_tr, y_tr, g_tr, is_original=orig,
                                       n_inner=n_inner, scoring=scoring,
                                       n_classes=n_classes, random_state=random_state,
                                       record=record, normalization=normalization)
            proba = np.zeros((test_idx.size, n_classes))
            proba[:, est.classes_] = est.predict_proba(X_te)
            out[name] = (proba, params, time.perf_counter() - start)
        return k, out, record, int((~orig).sum())


def _expand(names: Sequence[str]) -> list[str]:
    """Members before the ensembles that vote them."""
    order: list[str] = []
    for name in names:
        if name not in MODELS:
            raise ParameterError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
        for member in MODELS[name].members:
            if member not in order:
                order.append(member)
        if name not in order:
            order.append(name)
    return order


def cross_validate(X: np.ndarray, y: Sequence[int], speakers: Sequence, *,
                   models: Sequence[str], classes: Sequence[str],
                   split: str = SplitScheme.LOSO, n_folds: int = 6,
                   normalization: str = Normalization.STRICT,
                   X_aug: Sequence[np.ndarray] = (), n_inner: int = 3,
                   scoring: str = "uar", random_state: int = 0, n_jobs: int | None = None,
                   progress: Callable[[str], None] | None = None) -> Evaluation:
    """Nested speaker-grouped cross-validation of registered models on the same folds.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        Features of the clips (no NaN rows).
    y : sequence of int [shape=(n,)]
        Class codes, indices into ``classes``.
    speakers : sequence [shape=(n,)]
        Speaker of every clip.
    models : sequence of str
        Registered model names; an ensemble's members are evaluated too.
    classes : sequence of str
    split : SplitScheme or {"loso", "group6"}
    n_folds : int
        Folds of ``"group6"``.
    normalization : Normalization or {"strict", "speaker_norm", "neutral_ref"}
        ``"speaker_norm"``: standardise every speaker's rows by its own clips' statistics
        (each set of copies of a speaker by the statistics of those copies);
        ``"neutral_ref"``: centre them on the mean of its ``"neutral"`` clips
        (:func:`normalized_inputs`).
    X_aug : sequence of np.ndarray [shape=(n, d)]
        Augmented copies, row i a copy of clip i (NaN rows are skipped); used only as
        training rows, with the speaker of their clip.
    n_inner : int
        Grouped inner folds for tuning.
    scoring : "uar" or "accuracy"
        What the inner CV maximises.
    n_jobs : int, optional
        Outer folds at a time on the active joblib backend (loky processes by default,
        one BLAS thread each); None takes the enclosing ``joblib.parallel_config``'s (1
        outside one). Inside ``parallel_config(backend="dask")`` the folds run on the
        Dask cluster's workers, with the same results.
    progress : callable, optional
        Called with a line of text after every outer fold.

    Returns
    -------
    Evaluation
    """
    import joblib

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    speakers = np.asarray(speakers)
    split, normalization = split_of(split), normalization_of(normalization)
    n_classes = len(classes)
    if X.ndim != 2 or X.shape[0] != y.size or speakers.shape != y.shape:
        raise ParameterError("X, y and speakers must have the same number of rows")
    if np.isnan(X).any():
        raise ParameterError("X has NaN rows; drop failed clips first")
    if y.min() < 0 or y.max() >= n_classes:
        raise ParameterError("y must hold class codes 0 .. len(classes)-1")
    X_aug = [np.asarray(a, dtype=np.float64) for a in X_aug]
    if any(a.shape != X.shape for a in X_aug):
        raise ParameterError("every X_aug array must have the shape of X")
    names = _expand(models)
    # speaker-normalised: a set of copies of a speaker is a speaker of its own (e.g. a
    # warped voice)
    X, X_aug = normalized_inputs(X, X_aug, speakers, normalization=normalization,
                                 labels=np.asarray(classes)[y])
    splits = outer_splits(speakers, split=split, n_folds=n_folds)
    fold = np.empty(y.size, dtype=int)
    for k, (_, test_idx) in enumerate(splits):
        fold[test_idx] = k
    start = time.perf_counter()
    jobs = (joblib.delayed(_run_fold)(k, tr, te, X, y, speakers, X_aug, names, n_inner,
                                      scoring, n_classes, random_state, normalization)
            for k, (tr, te) in enumerate(splits))
    results = run_jobs(jobs, n_jobs=n_jobs, unordered=True)
    proba = {n: np.zeros((y.size, n_classes)) for n in names}
    params: dict[str, list] = {n: [None] * len(splits) for n in names}
    seconds = dict.fromkeys(names, 0.0)
    ev = Evaluation(split=split, normalization=normalization, classes=tuple(classes), y=y,
                    speakers=speakers, fold=fold)
    done = 0
    for k, out, record, n_aug in results:
        test_idx = splits[k][1]
        for name, (p, prm, sec) in out.items():
            proba[name][test_idx] = p
            params[name][k] = prm
            seconds[name] += sec
        ev.inner_record[k] = record
        ev.n_augmented = max(ev.n_augmented, n_aug)
        done += 1
        if progress is not None:
            spk = ",".join(sorted(set(speakers[test_idx].tolist())))
            accs = " ".join(f"{n}={np.mean(out[n][0].argmax(1) == y[test_idx]):.2f}"
                            f"/{out[n][2]:.0f}s" for n in names)
            progress(f"fold {done}/{len(splits)} [{spk}] {accs} "
                     f"({time.perf_counter() - start:.0f} s)")
    for name in names:
        ev.models[name] = ModelResult(name=name, proba=proba[name],
                                      pred=proba[name].argmax(axis=1), params=params[name],
                                      seconds=seconds[name])
    ev.seconds = time.perf_counter() - start
    return ev


def fuse(ev: Evaluation, members: dict[str, ModelResult], *, name: str = "fusion"
         ) -> Evaluation:
    """Late fusion: the mean class probabilities of results on the same folds and clips.

    Returns an :class:`Evaluation` like ``ev`` holding one model ``name``.
    """
    probs = [res.proba for res in members.values()]
    if any(p.shape != probs[0].shape for p in probs):
        raise ParameterError("fused results must cover the same clips and classes")
    proba = np.mean(probs, axis=0)
    out = Evaluation(split=ev.split, normalization=ev.normalization, classes=ev.classes,
                     y=ev.y, speakers=ev.speakers, fold=ev.fold)
    out.models[name] = ModelResult(name=name, proba=proba, pred=proba.argmax(axis=1),
                                   params=[list(members)] * int(ev.fold.max() + 1),
                                   seconds=0.0)
    return out


# --------------------------------------------------------------------------- selection
def select_model(ev: Evaluation) -> tuple[str, str | None]:
    """The model with the highest accuracy (UAR breaks ties) and the runner-up."""
    ranked = sorted(ev.models, key=lambda n: (ev.metrics(n)["accuracy"], ev.metrics(n)["uar"]),
                    reverse=True)
    return ranked[0], (ranked[1] if len(ranked) > 1 else None)


def paired_comparison(ev: Evaluation, a: str, b: str, *, alpha: float = 0.05) -> dict:
    """Wilcoxon over per-fold accuracies and McNemar over clips, with a sentence."""
    n_classes = len(ev.classes)
    fa = fold_scores(ev.y, ev.models[a].pred, ev.fold, n_classes=n_classes)
    fb = fold_scores(ev.y, ev.models[b].pred, ev.fold, n_classes=n_classes)
    wil = wilcoxon_test(fa["accuracy"], fb["accuracy"])
    mcn = mcnemar_test(ev.models[a].pred == ev.y, ev.models[b].pred == ev.y)
    acc_a, acc_b = ev.metrics(a)["accuracy"], ev.metrics(b)["accuracy"]
    significant = wil["p_value"] < alpha and mcn["p_value"] < alpha
    either = wil["p_value"] < alpha or mcn["p_value"] < alpha
    verdict = ("significant under both tests" if significant else
               "significant under one test only" if either else "not significant")
    sentence = (f"{a} (accuracy {acc_a:.3f}) vs {b} ({acc_b:.3f}): difference "
                f"{acc_a - acc_b:+.3f}, Wilcoxon over {wil['n']} folds p = "
                f"{wil['p_value']:.3g}, McNemar over clips p = {mcn['p_value']:.3g}: "
                f"{verdict} at alpha = {alpha}.")
    return {"a": a, "b": b, "accuracy_difference": acc_a - acc_b, "wilcoxon": wil,
            "mcnemar": mcn, "significant": bool(significant), "sentence": sentence}


def oof_frame(ev: Evaluation, name: str, *, paths: Sequence[str]) -> pd.DataFrame:
    """Out-of-fold predictions: path, speaker, fold, true, predicted, p_<class>..."""
    res = ev.models[name]
    classes = np.asarray(ev.classes)
    frame = pd.DataFrame({"path": list(paths), "speaker": ev.speakers, "fold": ev.fold,
                          "true": classes[ev.y], "predicted": classes[res.pred]})
    for j, c in enumerate(ev.classes):
        frame[f"p_{c}"] = np.round(res.proba[:, j], 6)
    return frame


def summary_dict(ev: Evaluation, *, feature_config_hash: str, n_boot: int = 2000,
                 random_state: int = 0, extra: dict | None = None) -> dict:
    """The ``summary.json`` content of one evaluation (schema of issue 3)."""
    n_classes = len(ev.classes)
    models = {}
    for name, res in ev.models.items():
        m = ev.metrics(name)
        ci = bootstrap_ci(ev.y, res.pred, ev.speakers, n_classes=n_classes, n_boot=n_boot,
                          random_state=random_state)
        folds = fold_scores(ev.y, res.pred, ev.fold, n_classes=n_classes)
        models[name] = {
            "accuracy": m["accuracy"], "uar": m["uar"], "macro_f1": m["macro_f1"],
            "accuracy_ci95": ci["accuracy"], "uar_ci95": ci["uar"],
            "macro_f1_ci95": ci["macro_f1"],
            "fold_accuracy": folds["accuracy"], "fold_uar": folds["uar"],
            "per_class_recall": dict(zip(ev.classes, map(float, m["recall"]), strict=True)),
            "confusion": m["confusion"].tolist(),
            "params": _jsonable(res.params),
            "seconds": res.seconds,
            "description": MODELS[name].description if name in MODELS else "late fusion",
        }
    selected, runner_up = select_model(ev)
    out = {
        "split": ev.split.value,
        "normalization": ev.normalization.value,
        "n_folds": int(ev.fold.max() + 1),
        "n_clips": int(ev.y.size),
        "n_speakers": int(np.unique(ev.speakers).size),
        "classes": list(ev.classes),
        "models": models,
        "selected": selected,
        "runner_up": runner_up,
        "comparison": paired_comparison(ev, selected, runner_up) if runner_up else None,
        "feature_config_hash": feature_config_hash,
        "n_augmented_rows_per_fold": ev.n_augmented,
        "seconds": ev.seconds,
    }
    if extra:
        out.update(extra)
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


# --------------------------------------------------------------------------- leave one corpus out
INNER_GROUPINGS = ("speaker", "corpus")


def closed_set_proba(proba: np.ndarray, model_classes: Sequence, classes: Sequence
                     ) -> np.ndarray:
    """Class probabilities restricted to ``classes`` and renormalised (closed-set decision).

    Columns of classes outside ``classes`` (e.g. ``calm`` for a corpus without calm) are
    dropped and every row is rescaled to sum to 1.

    Parameters
    ----------
    proba : np.ndarray [shape=(n, len(model_classes))]
        Probabilities in the column order of ``model_classes``.
    model_classes : sequence [shape=(k,)]
        The classes the model knows (e.g. ``estimator.classes_``).
    classes : sequence [shape=(m,)], m >= 1
        The closed set, every one in ``model_classes``; the output's column order.

    Returns
    -------
    proba : np.ndarray [shape=(n, m)]
    """
    proba = np.asarray(proba, dtype=np.float64)
    model_classes = list(np.asarray(model_classes).tolist())
    classes = list(np.asarray(classes).tolist())
    if proba.ndim != 2 or proba.shape[1] != len(model_classes):
        raise ParameterError(f"proba must have one column per model class "
                             f"({len(model_classes)}), got shape {proba.shape}")
    unknown = [c for c in classes if c not in model_classes]
    if not classes or unknown:
        raise ParameterError(f"classes must be a non-empty subset of the model's classes; "
                             f"unknown: {unknown}")
    out = proba[:, [model_classes.index(c) for c in classes]]
    total = out.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ParameterError("a row has no probability mass on the closed set")
    return out / total


def expected_calibration_error(y_true: Sequence[int], proba: np.ndarray, *,
                               n_bins: int = 15) -> float:
    """Expected calibration error of the top-1 prediction over equal-width bins.

    ``ECE = sum_b (n_b / n) |accuracy_b - mean confidence_b|``, the confidence of a row
    being its largest probability and the bins ``n_bins`` equal parts of [0, 1] (a
    confidence of exactly 1 falls in the last bin).

    Parameters
    ----------
    y_true : sequence of int [shape=(n,)]
        Column of the true class in ``proba``.
    proba : np.ndarray [shape=(n, k)]
        Class probabilities, rows summing to 1.
    n_bins : int >= 1

    Returns
    -------
    ece : float in [0, 1]
    """
    confidence, correct, bins = _top1(y_true, proba, n_bins)
    gap = np.bincount(bins, weights=correct - confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / bins.size)


def _top1(y_true, proba, n_bins: int):
    """(confidence, correct, bin of every row) of the top-1 prediction."""
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=int)
    if proba.ndim != 2 or y_true.shape != (proba.shape[0],) or y_true.size == 0:
        raise ParameterError(f"need y_true of shape (n,) and proba of shape (n, k), n >= 1; "
                             f"got {y_true.shape} and {proba.shape}")
    if n_bins < 1:
        raise ParameterError(f"n_bins must be >= 1, got {n_bins}")
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    return confidence, correct, bins


@dataclass(frozen=True)
class ReliabilityCurve:
    """Accuracy against confidence of the top-1 prediction, per equal-width bin.

    Attributes
    ----------
    edges : np.ndarray [shape=(n_bins + 1,)]
        Bin edges, 0 to 1.
    confidence, accuracy : np.ndarray [shape=(n_bins,)]
        Mean confidence and accuracy of the rows in each bin (NaN: empty bin).
    counts : np.ndarray [shape=(n_bins,)]
    ece : float
        ``sum_b (counts_b / n) |accuracy_b - confidence_b|``
        (:func:`expected_calibration_error`).
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    ece: float


def reliability_curve(y_true: Sequence[int], proba: np.ndarray, *, n_bins: int = 15
                      ) -> ReliabilityCurve:
    """The reliability diagram's data (:class:`ReliabilityCurve`) of top-1 predictions.

    Parameters
    ----------
    y_true : sequence of int [shape=(n,)]
        Column of the true class in ``proba`` (-1 or any absent column: never correct).
    proba : np.ndarray [shape=(n, k)]
    n_bins : int >= 1
        Equal-width confidence bins (a confidence of exactly 1 falls in the last).
    """
    confidence, correct, bins = _top1(y_true, proba, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(bins, weights=confidence, minlength=n_bins) / counts
        acc = np.bincount(bins, weights=correct, minlength=n_bins) / counts
    return ReliabilityCurve(edges=np.linspace(0.0, 1.0, n_bins + 1), confidence=conf,
                            accuracy=acc, counts=counts,
                            ece=expected_calibration_error(y_true, proba, n_bins=n_bins))


def negative_log_likelihood(y_true: Sequence[int], proba: np.ndarray, *,
                            floor: float = 1e-12) -> float:
    """Mean of ``-log max(p[y], floor)`` over rows (natural log).

    Parameters
    ----------
    y_true : sequence of int [shape=(n,)]
        Column of the true class in ``proba``.
    proba : np.ndarray [shape=(n, k)]
    """
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=int)
    if (proba.ndim != 2 or y_true.shape != (proba.shape[0],) or y_true.size == 0
            or y_true.min() < 0 or y_true.max() >= proba.shape[1]):
        raise ParameterError(f"need y_true of shape (n,) indexing the columns of proba "
                             f"(n, k); got {y_true.shape} and {proba.shape}")
    p = proba[np.arange(y_true.size), y_true]
    return float(-np.mean(np.log(np.maximum(p, floor))))


def brier_score(y_true: Sequence[int], proba: np.ndarray) -> float:
    """Multi-class Brier score: mean over rows of ``sum_k (p_k - [k == y])^2`` (0 to 2).

    Parameters
    ----------
    y_true : sequence of int [shape=(n,)]
        Column of the true class in ``proba``.
    proba : np.ndarray [shape=(n, k)], k >= 2
    """
    from sklearn.metrics import brier_score_loss

    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise ParameterError(f"proba must have shape (n, k >= 2), got {proba.shape}")
    return float(brier_score_loss(np.asarray(y_true, dtype=int), proba,
                                  labels=np.arange(proba.shape[1]), scale_by_half=False))


@dataclass
class LocoFold:
    """One held-out corpus: what chose the model, and how it scored on that corpus.

    ``classes`` is the closed set the held-out corpus is scored on: its own classes that
    the training corpora have. Clips of a class no training corpus has
    (``unscored_classes``) are counted in ``n_unscored`` and left out of every metric.
    """

    held_out: str
    trained_on: tuple[str, ...]
    model: str  # chosen by inner CV on ``trained_on`` only
    params: dict
    inner_scores: dict[str, float]  # best mean inner-CV score of every candidate
    inner_groups: list[tuple[list, list]]  # (training, validation) groups per inner split
    train_speakers: tuple[str, ...]
    test_speakers: tuple[str, ...]
    classes: tuple[str, ...]
    unscored_classes: tuple[str, ...]
    index: np.ndarray  # rows of the input scored (clips of ``classes``)
    y: np.ndarray  # true class, index into ``classes``
    speakers: np.ndarray
    proba: np.ndarray  # closed-set probabilities [shape=(n_scored, len(classes))]
    n_unscored: int
    metrics: dict  # uar, accuracy, macro_f1, recall, ece, brier, uar_ci95, accuracy_ci95
    seconds: float

    @property
    def pred(self) -> np.ndarray:
        return self.proba.argmax(axis=1)


@dataclass
class LocoResult:
    """Leave-one-corpus-out evaluation under one normalisation."""

    normalization: Normalization
    inner: str
    scoring: str
    candidates: tuple[str, ...]
    random_state: int
    folds: list[LocoFold] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mean_uar(self) -> float:
        """Unweighted mean of the held-out corpora's closed-set UARs."""
        return float(np.mean([f.metrics["uar"] for f in self.folds]))

    def summary(self) -> dict:
        """JSON-ready figures and choices (no per-clip arrays)."""
        folds = []
        for f in self.folds:
            folds.append({
                "held_out": f.held_out, "trained_on": list(f.trained_on), "model": f.model,
                "params": _jsonable(f.params), "inner_scores": f.inner_scores,
                "inner_groups": [[list(a), list(b)] for a, b in f.inner_groups],
                "n_train_speakers": len(f.train_speakers),
                "test_speakers": list(f.test_speakers), "classes": list(f.classes),
                "unscored_classes": list(f.unscored_classes), "n_scored": int(f.y.size),
                "n_unscored": f.n_unscored, "seconds": f.seconds,
                **_jsonable(f.metrics),
            })
        return {"normalization": str(self.normalization), "inner": self.inner,
                "scoring": self.scoring, "candidates": list(self.candidates),
                "random_state": self.random_state, "mean_uar": self.mean_uar,
                "min_uar": float(min(f.metrics["uar"] for f in self.folds)),
                "folds": folds, "seconds": self.seconds}


def _loco_fold(corpus, X, y, speakers, corpora, names, classes, inner, n_inner, scoring,
               n_bins, n_boot, random_state):
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    test = corpora == corpus
    train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
    check_disjoint(speakers[train_idx], speakers[test_idx])
    groups = speakers[train_idx] if inner == "speaker" else corpora[train_idx]
    X_tr, y_tr = X[train_idx].astype(np.float32), y[train_idx]  # float32: faster fits
    n_classes = len(classes)
    with threadpool_limits(limits=1):
        splits = inner_splits(groups, np.ones(train_idx.size, dtype=bool), n_splits=n_inner)
        best: dict[str, tuple[dict, float]] = {}
        for name in names:
            scores = _grid_scores(name, X_tr, y_tr, splits, scoring=scoring,
                                  n_classes=n_classes, random_state=random_state)
            i = int(np.argmax(scores))
            best[name] = (MODELS[name].param_grid()[i], float(scores[i] / len(splits)))
        chosen = max(names, key=lambda n: best[n][1])  # ties: the first candidate
        est = _fit(build_model(chosen, random_state=random_state, params=best[chosen][0]),
                   X_tr, y_tr)
        proba = est.predict_proba(X[test_idx].astype(np.float32))
    model_classes = np.asarray(est.classes_)
    test_codes = np.unique(y[test_idx])
    known = np.isin(test_codes, model_classes)
    keep = test_codes[known]
    scored = np.isin(y[test_idx], keep)
    P = closed_set_proba(proba[scored], model_classes, keep)
    y_s = np.searchsorted(keep, y[test_idx][scored])
    spk_s = speakers[test_idx][scored]
    names_kept = tuple(classes[c] for c in keep)
    m = classification_metrics(y_s, P.argmax(axis=1), n_classes=keep.size)
    ci = bootstrap_ci(y_s, P.argmax(axis=1), spk_s, n_classes=keep.size, n_boot=n_boot,
                      random_state=random_state)
    metrics = {"uar": m["uar"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
               "recall": dict(zip(names_kept, map(float, m["recall"]), strict=True)),
               "ece": expected_calibration_error(y_s, P, n_bins=n_bins),
               "brier": brier_score(y_s, P), "uar_ci95": ci["uar"],
               "accuracy_ci95": ci["accuracy"]}
    return LocoFold(
        held_out=str(corpus), trained_on=tuple(sorted(set(corpora[train_idx].tolist()))),
        model=chosen, params=best[chosen][0],
        inner_scores={n: s for n, (_, s) in best.items()},
        inner_groups=[(sorted(set(groups[a].tolist())), sorted(set(groups[b].tolist())))
                      for a, b in splits],
        train_speakers=tuple(sorted(set(speakers[train_idx].tolist()))),
        test_speakers=tuple(sorted(set(speakers[test_idx].tolist()))),
        classes=names_kept, unscored_classes=tuple(classes[c] for c in test_codes[~known]),
        index=test_idx[scored], y=y_s, speakers=spk_s, proba=P,
        n_unscored=int((~scored).sum()), metrics=metrics,
        seconds=time.perf_counter() - start)


def leave_one_corpus_out(X: np.ndarray, y: Sequence[int], speakers: Sequence,
                         corpora: Sequence, *, classes: Sequence[str],
                         models: Sequence[str] = ("logreg", "ridge"),
                         normalization: str = Normalization.STRICT, inner: str = "speaker",
                         n_inner: int = 3, scoring: str = "uar", n_bins: int = 15,
                         n_boot: int = 2000, random_state: int = 0, n_jobs: int = 1,
                         progress: Callable[[str], None] | None = None) -> LocoResult:
    """Leave one corpus out: choose and fit on the other corpora, test on the held-out one.

    For every corpus, the model family (among ``models``) and its grid point are chosen
    by grouped inner CV over the rows of the *other* corpora only (grouped by speaker, or
    by corpus with ``inner="corpus"``), refitted on all of those rows and scored on the
    held-out corpus as a closed-set decision over its own classes
    (:func:`closed_set_proba`): UAR, accuracy, per-class recall, ECE, Brier score and
    bootstrap CIs over its speakers.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        Features of the clips (no NaN rows).
    y : sequence of int [shape=(n,)]
        Class codes, indices into ``classes``.
    speakers : sequence [shape=(n,)]
        Speaker of every clip; no speaker may belong to two corpora.
    corpora : sequence [shape=(n,)]
        Corpus of every clip; at least two corpora.
    classes : sequence of str
    models : sequence of str
        Registered non-ensemble models, the candidates.
    normalization : Normalization or {"strict", "speaker_norm", "neutral_ref"}
        ``"speaker_norm"``: every speaker's rows z-scored with that speaker's own
        statistics (:func:`speaker_normalize`, no labels) before anything else;
        ``"neutral_ref"``: centred on the mean of its ``"neutral"`` clips.
    inner : "speaker" or "corpus"
        Groups of the inner CV (``n_inner`` folds, at most one per group).
    scoring : "uar" or "accuracy"
        What the inner CV maximises.
    n_bins : int
        Bins of the expected calibration error.
    n_boot : int
        Bootstrap resamples of the held-out corpus's speakers.
    n_jobs : int
        Held-out corpora in parallel (processes, one BLAS thread each).
    progress : callable, optional
        Called with a line of text after every held-out corpus.

    Returns
    -------
    LocoResult
    """
    import joblib

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    speakers = np.asarray(speakers).astype(str)
    corpora = np.asarray(corpora).astype(str)
    classes = tuple(classes)
    if X.ndim != 2 or not (X.shape[0] == y.size == speakers.size == corpora.size):
        raise ParameterError("X, y, speakers and corpora must have the same number of rows")
    if np.isnan(X).any():
        raise ParameterError("X has NaN rows; drop failed clips first")
    if y.size == 0 or y.min() < 0 or y.max() >= len(classes):
        raise ParameterError("y must hold class codes 0 .. len(classes)-1")
    normalization = normalization_of(normalization)
    if inner not in INNER_GROUPINGS:
        raise ParameterError(f"inner must be one of {INNER_GROUPINGS}, got {inner!r}")
    if scoring not in ("uar", "accuracy"):
        raise ParameterError(f"scoring must be 'uar' or 'accuracy', got {scoring!r}")
    names = list(dict.fromkeys(models))
    for name in names:
        if name not in MODELS:
            raise ParameterError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
        if MODELS[name].members:
            raise ParameterError(f"{name!r} is an ensemble; LOCO candidates are single models")
    if not names:
        raise ParameterError("models must name at least one candidate")
    held = sorted(set(corpora.tolist()))
    if len(held) < 2:
        raise ParameterError("leave-one-corpus-out needs at least 2 corpora")
    if inner == "corpus" and len(held) < 3:
        raise ParameterError("inner='corpus' needs at least 3 corpora (2 to train on)")
    for corpus in held:
        check_disjoint(speakers[corpora == corpus], speakers[corpora != corpus])
    X = normalized_inputs(X, (), speakers, normalization=normalization,
                          labels=np.asarray(classes)[y])[0]
    start = time.perf_counter()
    jobs = (joblib.delayed(_loco_fold)(c, X, y, speakers, corpora, names, classes, inner,
                                       n_inner, scoring, n_bins, n_boot, random_state)
            for c in held)
    result = LocoResult(normalization=normalization, inner=inner, scoring=scoring,
                        candidates=tuple(names), random_state=random_state)
    folds = {}
    for fold in run_jobs(jobs, n_jobs=n_jobs, unordered=True):
        folds[fold.held_out] = fold
        if progress is not None:
            progress(f"{normalization}: held out {fold.held_out} (trained on "
                     f"{'+'.join(fold.trained_on)}): {fold.model} {fold.params} UAR "
                     f"{fold.metrics['uar']:.3f} ({time.perf_counter() - start:.0f} s)")
    result.folds = [folds[c] for c in held]
    result.seconds = time.perf_counter() - start
    return result
