"""How typical a clip's feature row is of a model's training rows, and what that does to
its probabilities.

Noise, music, tones and other non-speech get confident emotions from a classifier that
only ever saw speech. A model trained by :func:`ser_classic.train` or
:func:`ser_classic.distil` stores a :class:`Typicality` of its training rows (the clean
clips, as the classifier reads them: after speaker normalisation for a speaker-normalised
model); every scoring path (:class:`ser_classic.EmotionRecognizer`, the CLI, the HTTP
service, :class:`ser_classic.torch.EmotionDiscriminator`) then

* computes the **atypicality** of each clip (about 0.55 for training speech): the root
  mean square of its z-scores against the training rows' per-feature mean and standard
  deviation, over the features the model reads, leaving out the largest 20 %
  (``keep = 0.8``): a degraded recording of speech (noise at 10-20 dB SNR, a telephone
  band) moves a few features far, noise, tones and music move most of them;
* shrinks its probabilities towards uniform as the atypicality passes the **threshold**:
  ``p' = (1 - r) p + r / K`` with ``u = max(0, a - threshold) / width`` and
  ``r = u**2 / (1 + u**2)``: 0 (probabilities untouched) up to the threshold, 0.5 one
  ``width`` above it, then towards 1 without reaching it (the most probable class is
  kept; the penalty ``1 - p(target)`` keeps a gradient). A clip is **atypical** when its
  atypicality exceeds the threshold.

Both are chosen on the training rows only: the threshold is the ``quantile`` (0.99) of
the atypicalities of training speakers held out of the mean and standard deviation
(speaker-grouped folds: unseen voices are what the model scores), the width half the
distance from their median to that threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ParameterError

__all__ = ["DEFAULT_KEEP", "DEFAULT_QUANTILE", "Typicality", "n_kept", "shrink_weight"]

#: The quantile of held-out training speakers' atypicality where shrinking starts.
DEFAULT_QUANTILE = 0.99
#: The share of a row's z-scores (the smallest) the atypicality reads.
DEFAULT_KEEP = 0.8
_N_FOLDS = 5
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


def _rms_z(X: np.ndarray, center: np.ndarray, scale: np.ndarray, keep: float
           ) -> np.ndarray:
    z = (X - center) / scale
    z2 = np.sort(z * z, axis=1)[:, :n_kept(X.shape[1], keep)]
    return np.sqrt(np.mean(z2, axis=1))


def shrink_weight(atypicality: np.ndarray, *, threshold: float, width: float
                  ) -> np.ndarray:
    """``r = u**2 / (1 + u**2)``, ``u = max(0, atypicality - threshold) / width``
    [shape=(n,)], in [0, 1)."""
    u = np.maximum(np.asarray(atypicality, dtype=np.float64) - threshold, 0.0) / width
    return u * u / (1.0 + u * u)


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
    """

    columns: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    threshold: float
    width: float
    quantile: float = DEFAULT_QUANTILE
    keep: float = DEFAULT_KEEP

    @classmethod
    def fit(cls, X: np.ndarray, *, groups=None, columns=None,
            quantile: float = DEFAULT_QUANTILE, keep: float = DEFAULT_KEEP) -> Typicality:
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
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2 or not np.all(np.isfinite(X)):
            raise ParameterError(f"typicality needs >= 2 finite training rows, got "
                                 f"shape {X.shape}")
        if not 0.5 < quantile < 1:
            raise ParameterError(f"quantile must be in (0.5, 1), got {quantile}")
        if not 0 < keep <= 1:
            raise ParameterError(f"keep must be in (0, 1], got {keep}")
        columns = (np.arange(X.shape[1]) if columns is None
                   else np.asarray(columns, dtype=np.intp))
        X = X[:, columns]
        center, scale = _moments(X)
        held_out = _rms_z(X, center, scale, keep)
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (X.shape[0],):
                raise ParameterError(f"{groups.size} groups for {X.shape[0]} rows")
            names = np.unique(groups)
            if names.size >= 2:
                fold = dict(zip(names, np.arange(names.size) % min(_N_FOLDS, names.size),
                                strict=True))
                k = np.array([fold[g] for g in groups])
                for f in np.unique(k):
                    c, s = _moments(X[k != f])
                    held_out[k == f] = _rms_z(X[k == f], c, s, keep)
        threshold = float(np.quantile(held_out, quantile))
        width = max((threshold - float(np.median(held_out))) / 2, 1e-3)
        return cls(columns=columns, center=center, scale=scale,
                   threshold=float(f"{threshold:.{_DIGITS}g}"),
                   width=float(f"{width:.{_DIGITS}g}"), quantile=float(quantile),
                   keep=float(keep))

    def statistic(self, X: np.ndarray) -> np.ndarray:
        """Atypicality of feature rows [shape=(n, n_features)] -> [shape=(n,)]."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ParameterError(f"features must be 2-D (n, n_features), got {X.shape}")
        return _rms_z(X[:, self.columns], self.center, self.scale, self.keep)

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
        return {"statistic": "trimmed_rms_z", "keep": self.keep,
                "center": self.center.tolist(), "scale": self.scale.tolist(),
                "threshold": self.threshold, "width": self.width, "quantile": self.quantile,
                "rule": "threshold: quantile of held-out training speakers' atypicality "
                        "(speaker-grouped folds); width: (threshold - their median) / 2"}

    @classmethod
    def from_card(cls, card: dict) -> Typicality | None:
        """The card's typicality (None for a model saved without one)."""
        entry = card.get("typicality")
        if entry is None:
            return None
        used = card.get("used_features")
        columns = (np.arange(card["n_features"]) if used is None
                   else np.asarray(used, dtype=np.intp))
        center = np.asarray(entry["center"], dtype=np.float64)
        scale = np.asarray(entry["scale"], dtype=np.float64)
        if center.shape != columns.shape or scale.shape != columns.shape:
            raise ParameterError(f"typicality has {center.size} centre and {scale.size} "
                                 f"scale values for {columns.size} feature columns")
        if not (np.all(np.isfinite(center)) and np.all(scale > 0)
                and math.isfinite(entry["threshold"]) and entry["width"] > 0):
            raise ParameterError("typicality values must be finite, scales and width > 0")
        return cls(columns=columns, center=center, scale=scale,
                   threshold=float(entry["threshold"]), width=float(entry["width"]),
                   quantile=float(entry["quantile"]), keep=float(entry["keep"]))
