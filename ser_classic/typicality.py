"""How typical a clip's feature row is of a model's training rows, and what that does to
its probabilities.

Noise, music, tones and other non-speech get confident emotions from a classifier that
only ever saw speech. A model trained by :func:`ser_classic.train` or
:func:`ser_classic.distil` stores a :class:`Typicality` of its training rows (the clean
clips, as the classifier reads them: after speaker normalisation for a speaker-normalised
model, and, for such a model, also before it); every scoring path
(:class:`ser_classic.EmotionRecognizer`, the CLI, the HTTP service,
:class:`ser_classic.torch.EmotionDiscriminator`) then

* computes the **atypicality** of each clip (about 0.55 for training speech): the root
  mean square of its z-scores against the training rows' per-feature mean and standard
  deviation, over the features the model reads, leaving out the largest ones (the model's
  ``keep``, the share read, chosen in training: :func:`choose_keep`): a degraded
  recording of speech (noise at 10-20 dB SNR, a telephone band) moves a few features far,
  noise, tones and music move most of them. A speaker-normalised model computes it twice,
  on the normalised rows and on the rows before normalisation (a batch of non-speech
  normalised by its own statistics, ``speaker="batch"``, looks typical once normalised),
  and reports the larger, the second mapped onto the first's scale (its threshold onto the
  threshold, its width onto the width): a clip is atypical when either exceeds its own
  threshold, and the shrink reads the larger excess in widths. A ``speaker_norm`` model
  also checks that the voice's statistics fit the clip's channel (:class:`ReferenceCheck`:
  a clip scored with statistics of clean recordings of its voice moves a few features by
  hundreds of the voice's standard deviations), mapped and compared the same way;
* shrinks its probabilities towards uniform as the atypicality passes the **threshold**:
  ``p' = (1 - r) p + r / K`` with ``u = max(0, a - threshold) / width`` and
  ``r = u**2 / (1 + u**2)``: 0 (probabilities untouched) up to the threshold, 0.5 one
  ``width`` above it, then towards 1 without reaching it (the most probable class is
  kept; the penalty ``1 - p(target)`` keeps a gradient). A clip is **atypical** when its
  atypicality exceeds the threshold.

All of it is chosen on the training rows only: each threshold is the ``quantile`` (0.99)
of the atypicalities of training speakers held out of the mean and standard deviation
(speaker-grouped folds: unseen voices are what the model scores), the width half the
distance from their median to that threshold; ``keep`` the share of a grid that best
separates those held-out speakers' clips from non-speech generated from the training
clips (:func:`synthetic_nonspeech`, :func:`training_typicality`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .errors import ParameterError

__all__ = ["DEFAULT_KEEP", "DEFAULT_QUANTILE", "KEEP_GRID", "NONSPEECH_KINDS",
           "REFERENCE_SHARE", "ReferenceCheck", "Typicality", "choose_keep", "n_kept",
           "shrink_weight", "synthetic_nonspeech", "training_typicality"]

#: The share of a row's z-scores, the largest, that :class:`ReferenceCheck` reads.
REFERENCE_SHARE = 0.02
#: The quantile of held-out training speakers' atypicality where shrinking starts.
DEFAULT_QUANTILE = 0.99
#: The share of a row's z-scores (the smallest) the atypicality reads, when not chosen.
DEFAULT_KEEP = 0.8
#: The shares :func:`choose_keep` chooses among.
KEEP_GRID = (0.6, 0.7, 0.8, 0.9, 1.0)
#: The non-speech :func:`synthetic_nonspeech` makes of a speech clip.
NONSPEECH_KINDS = ("spectrum-matched noise", "modulated noise", "white noise", "clicks",
                   "tone")
#: Clips of generated non-speech that choose ``keep`` (:func:`training_typicality`).
N_NONSPEECH = 40
_N_FOLDS = 5
_CRITERION = ("score: the share of the non-speech flagged by each statistic on its own (the "
              "smallest share over the statistics) at the 0.99 quantile of held-out "
              "training speakers (speaker-grouped folds); the smallest keep within one "
              "non-speech clip of the best score (fewest features read)")
_EPS = 1e-8
_DIGITS = 7  # stored values: float32 precision (the ONNX graphs read float32)


def _rounded(x: np.ndarray) -> np.ndarray:
    return np.array([float(f"{v:.{_DIGITS}g}") for v in np.asarray(x, dtype=np.float64)])


def _moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    center = _rounded(X.mean(axis=0))
    std = X.std(axis=0)
    return center, _rounded(np.where(std > _EPS, std, 1.0))


def n_kept(n_columns: int, keep: float) -> int:
    """How many of a row's ``n_columns`` smallest squared z-scores the statistic reads."""
    return max(1, math.ceil(keep * n_columns))


def _sorted_z2(X: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (X - center) / scale
    return np.sort(z * z, axis=1)


def _rms_kept(z2: np.ndarray, keep: float) -> np.ndarray:
    return np.sqrt(np.mean(z2[:, :n_kept(z2.shape[1], keep)], axis=1))


def _rms_z(X: np.ndarray, center: np.ndarray, scale: np.ndarray, keep: float
           ) -> np.ndarray:
    return _rms_kept(_sorted_z2(X, center, scale), keep)


def _folds(groups: np.ndarray) -> np.ndarray | None:
    """The fold (0 .. 4) of each row, whole groups per fold; None for < 2 groups."""
    names = np.unique(groups)
    if names.size < 2:
        return None
    fold = dict(zip(names, np.arange(names.size) % min(_N_FOLDS, names.size), strict=True))
    return np.array([fold[g] for g in groups])


def _threshold_width(held_out: np.ndarray, quantile: float) -> tuple[float, float]:
    threshold = float(np.quantile(held_out, quantile))
    return threshold, max((threshold - float(np.median(held_out))) / 2, 1e-3)


def _checked_groups(groups, n: int) -> np.ndarray | None:
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ParameterError(f"{groups.size} groups for {n} rows")
    return groups


def shrink_weight(atypicality: np.ndarray, *, threshold: float, width: float
                  ) -> np.ndarray:
    """``r = u**2 / (1 + u**2)``, ``u = max(0, atypicality - threshold) / width``
    [shape=(n,)], in [0, 1)."""
    u = np.maximum(np.asarray(atypicality, dtype=np.float64) - threshold, 0.0) / width
    return u * u / (1.0 + u * u)


def _within_speaker(R: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's deviation from its speaker's mean, and its speaker's scale."""
    from .evaluation import _nonzero_scale

    dev, scale = np.empty_like(R), np.empty_like(R)
    for g in np.unique(groups):
        m = groups == g
        dev[m] = R[m] - R[m].mean(axis=0)
        scale[m] = _nonzero_scale(R[m].std(axis=0))
    return dev, scale


@dataclass(frozen=True)
class ReferenceCheck:
    """Whether a voice's statistics fit a clip's channel (``speaker_norm`` models).

    A speaker-normalised model reads ``(x - mean) / scale`` with the voice's statistics.
    Statistics of clean recordings leave a clip through noise or a telephone band far out
    in a few features (spectral-contrast minima: tens to hundreds of the voice's standard
    deviations), which the trimmed statistic leaves out; a few clips give standard
    deviations too small in many features. The check reads each feature's deviation in
    the larger of the voice's standard deviation and the training speakers' pooled
    within-speaker one, ``z = (x - mean) / max(scale, pooled_scale)``, and the RMS of the
    largest share ``share`` of them.

    Attributes
    ----------
    pooled_scale : np.ndarray [shape=(m,)]
        Pooled within-speaker standard deviation of the training rows before
        normalisation (the typicality's columns).
    threshold, width : float
        Of held-out training speakers, each normalised by its own clips, as
        :meth:`Typicality.fit` sets them.
    share : float
        In (0, 1]: the share of each row's z-scores, the largest, read.
    """

    pooled_scale: np.ndarray
    threshold: float
    width: float
    share: float = REFERENCE_SHARE

    @classmethod
    def fit(cls, raw: np.ndarray, groups: np.ndarray, *, quantile: float,
            share: float = REFERENCE_SHARE) -> ReferenceCheck:
        """Of training rows before normalisation [shape=(n, m)] and their speakers (held
        out in up to 5 speaker-grouped folds: the pooled scale of the others)."""
        from .evaluation import _nonzero_scale

        dev, scale = _within_speaker(raw, groups)

        def pooled(rows):
            return _rounded(_nonzero_scale(np.sqrt(np.mean(dev[rows] ** 2, axis=0))))

        k = _folds(groups)
        held_out = np.empty(raw.shape[0])
        for f in ([None] if k is None else np.unique(k)):  # None: in-sample
            test = np.ones(raw.shape[0], bool) if f is None else k == f
            others = test if f is None else ~test
            held_out[test] = _rms_largest(
                dev[test] / np.maximum(scale[test], pooled(others)), share)
        threshold, width = _threshold_width(held_out, quantile)
        return cls(pooled_scale=pooled(np.ones(raw.shape[0], bool)),
                   threshold=float(f"{threshold:.{_DIGITS}g}"),
                   width=float(f"{width:.{_DIGITS}g}"), share=float(share))

    def statistic(self, X: np.ndarray, speaker_scale: np.ndarray) -> np.ndarray:
        """Of normalised rows [shape=(n, m)] and the scale they were normalised with
        [shape=(m,) or (n, m)] -> [shape=(n,)]."""
        return _rms_largest(X * np.minimum(1.0, speaker_scale / self.pooled_scale),
                            self.share)


def _rms_largest(z: np.ndarray, share: float) -> np.ndarray:
    """RMS of the largest ``share`` of each row's squared values."""
    z2 = -np.sort(-(z * z), axis=1)
    return np.sqrt(np.mean(z2[:, :n_kept(z.shape[1], share)], axis=1))


@dataclass(frozen=True)
class Typicality:
    """Per-feature statistics of a model's training rows and its shrink rule.

    Attributes
    ----------
    columns : np.ndarray of int [shape=(m,)]
        The feature columns the statistic reads (the model's).
    center, scale : np.ndarray [shape=(m,)]
        Mean and standard deviation (1 where <= 1e-8) of the training rows.
    threshold, width : float
        Where shrinking starts, and how far above it the shrink is half.
    quantile : float
        The quantile of held-out training speakers' atypicality that is ``threshold``.
    keep : float
        The share of each row's squared z-scores, the smallest, that the statistic reads.
    raw : Typicality or None
        For a speaker-normalised model, the same statistics of its training rows before
        normalisation (same columns, quantile and keep): :meth:`statistic` reads both.
        None: one statistic (strict models, models saved before it existed).
    reference : ReferenceCheck or None
        For a ``speaker_norm`` model, whether the voice's statistics fit the clip's
        channel: :meth:`statistic` reads it too (None: other models, models saved
        before it existed).
    keep_choice : dict or None
        How ``keep`` was chosen (:func:`choose_keep`); None: :data:`DEFAULT_KEEP` or the
        caller's.
    """

    columns: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    threshold: float
    width: float
    quantile: float = DEFAULT_QUANTILE
    keep: float = DEFAULT_KEEP
    raw: Typicality | None = None
    reference: ReferenceCheck | None = None
    keep_choice: dict | None = None

    @classmethod
    def fit(cls, X: np.ndarray, *, groups=None, columns=None,
            quantile: float = DEFAULT_QUANTILE, keep: float = DEFAULT_KEEP,
            raw: np.ndarray | None = None, reference: bool = False) -> Typicality:
        """Statistics of training rows, threshold and width from held-out groups.

        Parameters
        ----------
        X : np.ndarray [shape=(n_rows, n_features)]
            Training rows as the classifier reads them (no NaN).
        groups : sequence [shape=(n_rows,)], optional
            The speaker of each row: the threshold is the ``quantile`` of the atypicality
            of each speaker against the other speakers' statistics (up to 5
            speaker-grouped folds). Default, or fewer than 2 speakers: in-sample.
        columns : sequence of int, optional
            Feature columns to read (default: all).
        quantile : float
            In (0.5, 1).
        keep : float
            In (0, 1]: the share of each row's squared z-scores, the smallest, read.
        raw : np.ndarray [shape=(n_rows, n_features)], optional
            The same rows before speaker normalisation (speaker-normalised models): a
            second statistic (:attr:`raw`), its own threshold and width.
        reference : bool
            With ``raw`` and ``groups`` (a ``speaker_norm`` model: ``X`` is ``raw``
            normalised by each speaker's own rows): also :attr:`reference`.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2 or not np.all(np.isfinite(X)):
            raise ParameterError(f"typicality needs >= 2 finite training rows, got "
                                 f"shape {X.shape}")
        if not 0.5 < quantile < 1:
            raise ParameterError(f"quantile must be in (0.5, 1), got {quantile}")
        if not 0 < keep <= 1:
            raise ParameterError(f"keep must be in (0, 1], got {keep}")
        if raw is not None and np.shape(raw) != X.shape:
            raise ParameterError(f"raw rows must have the shape of X {X.shape}, got "
                                 f"{np.shape(raw)}")
        columns = (np.arange(X.shape[1]) if columns is None
                   else np.asarray(columns, dtype=np.intp))
        groups = _checked_groups(groups, X.shape[0])
        Xc = X[:, columns]
        center, scale = _moments(Xc)
        held_out = _rms_z(Xc, center, scale, keep)
        k = None if groups is None else _folds(groups)
        if k is not None:
            for f in np.unique(k):
                c, s = _moments(Xc[k != f])
                held_out[k == f] = _rms_z(Xc[k == f], c, s, keep)
        threshold, width = _threshold_width(held_out, quantile)
        return cls(columns=columns, center=center, scale=scale,
                   threshold=float(f"{threshold:.{_DIGITS}g}"),
                   width=float(f"{width:.{_DIGITS}g}"), quantile=float(quantile),
                   keep=float(keep),
                   raw=None if raw is None else cls.fit(raw, groups=groups, columns=columns,
                                                        quantile=quantile, keep=keep),
                   reference=ReferenceCheck.fit(
                       np.asarray(raw, np.float64)[:, columns], groups, quantile=quantile)
                   if reference and raw is not None and groups is not None else None)

    def _own(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ParameterError(f"features must be 2-D (n, n_features), got {X.shape}")
        return _rms_z(X[:, self.columns], self.center, self.scale, self.keep)

    def statistic(self, X: np.ndarray, *, raw: np.ndarray | None = None,
                  speaker_scale: np.ndarray | None = None) -> np.ndarray:
        """Atypicality of feature rows [shape=(n, n_features)] -> [shape=(n,)].

        ``raw``: the same rows before speaker normalisation, needed when the statistics
        hold :attr:`raw`; ``speaker_scale`` [shape=(n_features,) or (n, n_features)]: the
        scale they were normalised with, needed when they hold :attr:`reference`. The
        atypicality is the largest of the statistics, each mapped onto this one's scale
        (threshold to threshold, width to width).
        """
        a = self._own(X)
        if self.reference is not None:
            if speaker_scale is None:
                raise ParameterError("this model's typicality checks the speaker's "
                                     "statistics: pass their scale as speaker_scale=")
            scale = np.broadcast_to(np.asarray(speaker_scale, np.float64), np.shape(X))
            a = np.maximum(a, self._mapped(self.reference, self.reference.statistic(
                np.asarray(X, np.float64)[:, self.columns], scale[:, self.columns])))
        if self.raw is None:
            return a
        if raw is None:
            raise ParameterError("this model's typicality also reads the feature rows "
                                 "before speaker normalisation: pass them as raw=")
        if np.shape(raw) != np.shape(X):
            raise ParameterError(f"raw rows must have the shape of X {np.shape(X)}, got "
                                 f"{np.shape(raw)}")
        return np.maximum(a, self._mapped(self.raw, self.raw._own(raw)))

    def _mapped(self, other, values):
        """``other``'s statistic ``values`` (numpy or torch) on this one's scale."""
        return self.threshold + self.width * (values - other.threshold) / other.width

    def weight(self, atypicality: np.ndarray) -> np.ndarray:
        """Shrink weight ``r`` [shape=(n,)] of atypicalities (:func:`shrink_weight`)."""
        return shrink_weight(atypicality, threshold=self.threshold, width=self.width)

    def shrink(self, proba: np.ndarray, atypicality: np.ndarray) -> np.ndarray:
        """``(1 - r) p + r / K`` per row [shape=(n, K)]; rows with r = 0 unchanged."""
        proba = np.asarray(proba, dtype=np.float64)
        r = self.weight(atypicality)[:, None]
        return proba * (1.0 - r) + r / proba.shape[1]

    def atypical(self, atypicality: np.ndarray) -> np.ndarray:
        """True where the atypicality exceeds the threshold [shape=(n,)] (NaN: False)."""
        return np.asarray(atypicality) > self.threshold

    # ------------------------------------------------------------------ card
    def to_dict(self) -> dict:
        """The card's ``typicality`` entry (columns are the card's ``used_features``)."""
        entry = {"statistic": "trimmed_rms_z", "keep": self.keep,
                 "center": self.center.tolist(), "scale": self.scale.tolist(),
                 "threshold": self.threshold, "width": self.width,
                 "quantile": self.quantile,
                 "rule": "threshold: quantile of held-out training speakers' atypicality "
                         "(speaker-grouped folds); width: (threshold - their median) / 2"}
        if self.raw is not None:
            entry["raw"] = {"center": self.raw.center.tolist(),
                            "scale": self.raw.scale.tolist(),
                            "threshold": self.raw.threshold, "width": self.raw.width,
                            "rule": "the training rows before speaker normalisation; "
                                    "atypicality = max(normalised, threshold + width * "
                                    "(raw - raw threshold) / raw width)"}
        if self.reference is not None:
            entry["reference"] = {
                "scale": self.reference.pooled_scale.tolist(),
                "threshold": self.reference.threshold, "width": self.reference.width,
                "share": self.reference.share,
                "rule": "RMS of the largest share of (x - speaker mean) / max(speaker "
                        "scale, this scale), the pooled within-speaker standard deviation "
                        "of the training rows; atypicality = max(..., threshold + width * "
                        "(reference - reference threshold) / reference width)"}
        if self.keep_choice is not None:
            entry["keep_choice"] = self.keep_choice
        return entry

    @staticmethod
    def _arrays(entry: dict, columns: np.ndarray) -> dict:
        center = np.asarray(entry["center"], dtype=np.float64)
        scale = np.asarray(entry["scale"], dtype=np.float64)
        if center.shape != columns.shape or scale.shape != columns.shape:
            raise ParameterError(f"typicality has {center.size} centre and {scale.size} "
                                 f"scale values for {columns.size} feature columns")
        if not (np.all(np.isfinite(center)) and np.all(scale > 0)
                and math.isfinite(entry["threshold"]) and entry["width"] > 0):
            raise ParameterError("typicality values must be finite, scales and width > 0")
        return {"columns": columns, "center": center, "scale": scale,
                "threshold": float(entry["threshold"]), "width": float(entry["width"])}

    @classmethod
    def from_card(cls, card: dict) -> Typicality | None:
        """The card's typicality (None for a model saved without one)."""
        entry = card.get("typicality")
        if entry is None:
            return None
        used = card.get("used_features")
        columns = (np.arange(card["n_features"]) if used is None
                   else np.asarray(used, dtype=np.intp))
        common = {"quantile": float(entry["quantile"]), "keep": float(entry["keep"])}
        raw = (None if entry.get("raw") is None
               else cls(**cls._arrays(entry["raw"], columns), **common))
        ref = entry.get("reference")
        reference = None
        if ref is not None:
            checked = cls._arrays({**ref, "center": np.zeros(columns.size)}, columns)
            if not 0 < ref["share"] <= 1:
                raise ParameterError(f"typicality reference share must be in (0, 1], got "
                                     f"{ref['share']}")
            reference = ReferenceCheck(pooled_scale=checked["scale"],
                                       threshold=checked["threshold"],
                                       width=checked["width"], share=float(ref["share"]))
        return cls(**cls._arrays(entry, columns), **common, raw=raw, reference=reference,
                   keep_choice=entry.get("keep_choice"))


# --------------------------------------------------------------------------- keep
def choose_keep(X: np.ndarray, nonspeech: np.ndarray, *, groups, nonspeech_groups,
                columns=None, raw: np.ndarray | None = None,
                nonspeech_raw: np.ndarray | None = None,
                quantile: float = DEFAULT_QUANTILE, grid=KEEP_GRID) -> tuple[float, dict]:
    """The ``keep`` of a grid that best separates held-out training speakers' clips
    from non-speech, in speaker-grouped folds.

    In each of up to 5 folds the statistics of the other speakers' rows score the
    fold's rows and the non-speech made from the fold's speakers' clips. Per ``keep``,
    each statistic (the normalised one and, with ``raw``, the one before normalisation)
    gets the threshold of :meth:`Typicality.fit` (the ``quantile`` of the held-out speech:
    about 1 % of it flagged) and flags a share of the non-speech; the score is the smaller
    of those shares (``speaker="batch"`` leaves only the raw statistic to see non-speech).
    The smallest keep within one non-speech clip of the best score is chosen: at equal
    detection, the statistic that reads fewer features is the least moved by a
    degradation that moves a few of a speech clip's features.

    Parameters
    ----------
    X : np.ndarray [shape=(n, n_features)]
        Training rows as the classifier reads them.
    nonspeech : np.ndarray [shape=(m, n_features)]
        Non-speech rows, normalised as the classifier reads them.
    groups : sequence [shape=(n,)]
        The speaker of each training row (>= 2 speakers).
    nonspeech_groups : sequence [shape=(m,)]
        The speaker whose clip each non-speech row was made from (one of ``groups``).
    columns : sequence of int, optional
    raw, nonspeech_raw : np.ndarray, optional
        The same rows before speaker normalisation (speaker-normalised models).
    quantile : float
    grid : sequence of float
        Candidate shares in (0, 1].

    Returns
    -------
    keep : float
    record : dict
        Per keep: the score, the share of the non-speech flagged by each statistic and
        by either, the share of held-out speech flagged by either, the mean shrink weight
        ``r`` of the non-speech, the AUROC of speech against non-speech.
    """
    from sklearn.metrics import roc_auc_score

    grid = [float(g) for g in grid]
    if not grid or not all(0 < g <= 1 for g in grid):
        raise ParameterError(f"keep grid must hold shares in (0, 1], got {grid}")
    X, nonspeech = np.asarray(X, dtype=np.float64), np.asarray(nonspeech, np.float64)
    groups = _checked_groups(groups, X.shape[0])
    ns_groups = _checked_groups(nonspeech_groups, nonspeech.shape[0])
    if groups is None or ns_groups is None:
        raise ParameterError("choose_keep needs the speaker of every row")
    unknown = set(ns_groups.tolist()) - set(groups.tolist())
    k = _folds(groups)
    if k is None or unknown or nonspeech.shape[0] == 0:
        raise ParameterError("choose_keep needs >= 2 speakers and non-speech made from "
                             "their clips")
    fold = dict(zip(groups.tolist(), k.tolist(), strict=False))
    k_ns = np.array([fold[g] for g in ns_groups.tolist()])
    columns = (np.arange(X.shape[1]) if columns is None
               else np.asarray(columns, dtype=np.intp))
    pairs = [(X, nonspeech)]
    if raw is not None:
        pairs.append((np.asarray(raw, np.float64), np.asarray(nonspeech_raw, np.float64)))
    sorted_z2 = []  # per statistic: held-out speech and non-speech, squared z sorted
    for S, N in pairs:
        S, N = S[:, columns], N[:, columns]
        zs, zn = np.empty_like(S), np.empty_like(N)
        for f in np.unique(k):
            c, s = _moments(S[k != f])
            zs[k == f] = _sorted_z2(S[k == f], c, s)
            zn[k_ns == f] = _sorted_z2(N[k_ns == f], c, s)
        sorted_z2.append((zs, zn))
    rows = []
    for keep in grid:
        excess_s, excess_n = [], []
        for zs, zn in sorted_z2:
            a_s, a_n = _rms_kept(zs, keep), _rms_kept(zn, keep)
            threshold, width = _threshold_width(a_s, quantile)
            excess_s.append((a_s - threshold) / width)
            excess_n.append((a_n - threshold) / width)
        e_s, e_n = np.max(excess_s, axis=0), np.max(excess_n, axis=0)
        u = np.maximum(e_n, 0.0)
        truth = np.r_[np.zeros(e_s.size), np.ones(e_n.size)]
        each = [round(float(np.mean(e > 0)), 4) for e in excess_n]
        rows.append({"keep": keep, "score": min(each), "nonspeech_flagged_each": each,
                     "nonspeech_flagged": round(float(np.mean(e_n > 0)), 4),
                     "speech_flagged": round(float(np.mean(e_s > 0)), 4),
                     "nonspeech_mean_r": round(float(np.mean(u * u / (1 + u * u))), 4),
                     "auroc": round(float(roc_auc_score(truth, np.r_[e_s, e_n])), 4)})
    best = max(r["score"] for r in rows)
    chosen = min(r["keep"] for r in rows if r["score"] >= best - 1 / nonspeech.shape[0] - 1e-9)
    return chosen, {"grid": grid, "criterion": _CRITERION, "per_keep": rows}


# --------------------------------------------------------------------------- non-speech
def synthetic_nonspeech(y: np.ndarray, *, kind: str, sr: int, rng: np.random.Generator
                        ) -> np.ndarray:
    """Non-speech made from a speech clip: its length and level, none of its speech.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A speech clip.
    kind : str
        One of :data:`NONSPEECH_KINDS`: ``"spectrum-matched noise"`` (the clip's magnitude
        spectrum with random phases: stationary noise of its long-term spectrum),
        ``"modulated noise"`` (that noise under the clip's 50 ms RMS envelope),
        ``"white noise"``, ``"clicks"`` (2-20 per second), ``"tone"`` (100-1000 Hz).
    sr : int
    rng : np.random.Generator

    Returns
    -------
    np.ndarray [shape=(n,)]
        RMS equal to the clip's (clicks: peak equal to the clip's).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or y.size < 2:
        raise ParameterError(f"a speech clip must be 1-D with >= 2 samples, got {y.shape}")
    n = y.size
    rms = float(np.sqrt(np.mean(y * y))) or 1e-4
    if kind in ("spectrum-matched noise", "modulated noise"):
        spectrum = np.abs(np.fft.rfft(y)) * np.exp(2j * np.pi * rng.random(n // 2 + 1))
        out = np.fft.irfft(spectrum, n)
        if kind == "modulated noise":
            hop = max(1, int(0.05 * sr))
            frames = np.sqrt(np.add.reduceat(y * y, np.arange(0, n, hop))
                             / np.diff(np.r_[np.arange(0, n, hop), n]))
            out *= np.interp(np.arange(n), np.arange(frames.size) * hop + hop / 2, frames)
    elif kind == "white noise":
        out = rng.standard_normal(n)
    elif kind == "clicks":
        out = np.zeros(n)
        count = max(1, int(rng.uniform(2, 20) * n / sr))
        at = rng.integers(0, max(1, n - 32), count)
        click = np.exp(-np.arange(32) / 4.0) * np.sin(2 * np.pi * rng.uniform(500, 4000)
                                                      * np.arange(32) / sr + np.pi / 2)
        for i in at:
            out[i:i + 32] += click[:n - i]
        return out / (np.max(np.abs(out)) or 1.0) * float(np.max(np.abs(y)))
    elif kind == "tone":
        out = np.sin(2 * np.pi * rng.uniform(100, 1000) * np.arange(n) / sr
                     + rng.uniform(0, 2 * np.pi))
    else:
        raise ParameterError(f"kind must be one of {NONSPEECH_KINDS}, got {kind!r}")
    return out * rms / (float(np.sqrt(np.mean(out * out))) or 1.0)


def training_typicality(rows, X_raw: np.ndarray, X: np.ndarray, *, normalization,
                        config, columns=None, random_state: int = 0,
                        quantile: float = DEFAULT_QUANTILE, grid=KEEP_GRID,
                        n_nonspeech: int = N_NONSPEECH) -> Typicality:
    """The :class:`Typicality` a model stores: of its training clips, ``keep`` chosen in
    their speaker-grouped folds against non-speech made from them.

    ``n_nonspeech`` training clips (drawn at ``random_state``) each give one clip of
    :func:`synthetic_nonspeech` (the kinds in turn, ``rng = default_rng([random_state,
    19, i])``), normalised as the classifier reads them with the statistics of the
    speaker it was made from (its training rows; for ``"neutral_ref"`` its neutral
    ones); :func:`choose_keep` picks ``keep``, :meth:`Typicality.fit` the rest (with the
    rows before normalisation as :attr:`Typicality.raw` for a speaker-normalised model).
    No test corpus, no held-out condition: the training clips only.

    Parameters
    ----------
    rows : pd.DataFrame
        The training clips (``path``, ``speaker``, ``emotion``), one per row of ``X``.
    X_raw, X : np.ndarray [shape=(n, n_features)]
        Their features before and after the model's normalisation (no NaN).
    normalization : Normalization or str
    config : FeatureConfig
    columns : sequence of int, optional
        The feature columns the model reads (default: all).
    random_state : int
    quantile : float
    grid : sequence of float
    n_nonspeech : int
        0: no choice, ``keep`` = :data:`DEFAULT_KEEP`.
    """
    from ._vocabulary import REFERENCE_LABEL, Normalization, normalization_of
    from .data import load_audio
    from .features import extract_features, feature_names
    from .recognizer import SpeakerStats

    normalization = normalization_of(normalization)
    X_raw, X = np.asarray(X_raw, np.float64), np.asarray(X, np.float64)
    speakers = rows["speaker"].to_numpy()
    columns = (np.arange(X.shape[1]) if columns is None
               else np.asarray(columns, dtype=np.intp))
    raw = None if normalization == Normalization.STRICT else X_raw
    check_reference = normalization == Normalization.SPEAKER_NORM  # ReferenceCheck
    n = min(int(n_nonspeech), len(rows))
    if n <= 0 or np.unique(speakers).size < 2:
        return Typicality.fit(X, groups=speakers, columns=columns, quantile=quantile,
                              raw=raw, reference=check_reference)
    names = feature_names(config=config)
    select = None if columns.size == len(names) else [names[i] for i in columns]
    picked = np.sort(np.random.default_rng(random_state).choice(len(rows), n, replace=False))
    ns_raw = np.zeros((n, X.shape[1]))
    for i, j in enumerate(picked):
        y = load_audio(rows["path"].iloc[j], sr=config.sample_rate)
        kind = NONSPEECH_KINDS[i % len(NONSPEECH_KINDS)]
        wave = synthetic_nonspeech(y, kind=kind, sr=config.sample_rate,
                                   rng=np.random.default_rng([random_state, 19, i]))
        ns_raw[i, columns] = extract_features(wave, config=config, select=select)
    ns_speakers = speakers[picked]
    ns = ns_raw.copy()
    if normalization != Normalization.STRICT:
        reference = (np.ones(len(rows), bool) if normalization == Normalization.SPEAKER_NORM
                     else rows["emotion"].to_numpy(dtype=str) == REFERENCE_LABEL)
        for s in np.unique(ns_speakers):
            stats = SpeakerStats.from_features(X_raw[(speakers == s) & reference])
            ns[ns_speakers == s] = stats.apply(ns_raw[ns_speakers == s],
                                               normalization=normalization)
    keep, record = choose_keep(X, ns, groups=speakers, nonspeech_groups=ns_speakers,
                               columns=columns, raw=raw, nonspeech_raw=ns_raw,
                               quantile=quantile, grid=grid)
    record["nonspeech"] = {"clips": n, "kinds": list(NONSPEECH_KINDS),
                           "made_from": "training clips drawn at random_state "
                                        f"{random_state}, rng [random_state, 19, i]"}
    typ = Typicality.fit(X, groups=speakers, columns=columns, quantile=quantile, keep=keep,
                         raw=raw, reference=check_reference)
    return dataclasses.replace(typ, keep_choice=record)
