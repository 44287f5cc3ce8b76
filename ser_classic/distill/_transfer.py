"""The transfer set a student learns its teacher on, and the soft targets it fits.

The transfer set is the training clips, their augmented copies (spectrogram masks, cached
by :func:`ser_classic.features.extract_batch`) and MUNGE samples drawn in feature space
(Bucilă et al., 2006). Soft targets are fitted exactly by replicating every row once per
class with the teacher's probability as sample weight (the Gini / log-loss of the
weighted replicas is that of the soft distribution).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ._estimators import standardised

__all__ = ["TransferConfig", "munge", "soft_targets", "transfer_set"]


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
    _, _, Z = standardised(X)
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
    rows, cls, w = soft_target_rows(P, n_rows=len(X), min_prob=min_prob, balanced=balanced)
    return np.asarray(X)[rows], cls, w


def soft_target_rows(P: np.ndarray, *, n_rows: int, min_prob: float = 0.05,
                     balanced: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`soft_targets` as row indices: ``X_rep = X[rows]``."""
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != n_rows:
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
    return rows, cls, w
