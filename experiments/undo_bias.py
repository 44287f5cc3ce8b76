"""Shared and corpus-specific weights ("undoing dataset bias"), with fixed linear models
-> reports/undo_bias/.

Measurement only: nothing is chosen or shipped, and the deployed recipe is unchanged. A
linear model trained on several corpora can be split into weights shared by every corpus
and a correction per corpus (Daumé 2007's feature augmentation; Khosla et al. 2012,
"Undoing the damage of dataset bias"): each training row's standardised features ``z``
become ``[z, z * [c == A], 1 * [c == A], z * [c == B], 1 * [c == B], ...]`` for its corpus
``c``, one block (features and a constant, so a class prior too) per training corpus, all
under the model's one L2 penalty; what only one corpus shows is cheaper to put in its own
block than in the shared weights. An unseen corpus is scored by the shared weights alone
(its corpus blocks are zero). The specific blocks are scaled by ``SCALE`` (1: Daumé's).
In RAVDESS's group6 folds there is one corpus, so the model is the baseline's with its
penalty spread over two copies of the features (a weaker penalty).

The cached default features are scored by ``floor_ablation``'s fixed models, as
``loco_variants`` scores its variants: RAVDESS group6 accuracy with ridge and with logistic
regression, leave-one-corpus-out UAR with the logistic regression. Rule
(``row_selection``'s, fixed before the first run, as was ``SCALE``): a variant is a lead
when it raises the LOCO mean by at least 0.010 under strict and speaker_norm, with neither
group6 accuracy more than 0.010 lower.

    .venv/bin/python experiments/undo_bias.py [--out reports/undo_bias]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import _models
from loco_variants import measure
from row_selection import verdict_report

from ser_classic.evaluation import speaker_normalize

SCALE = 1.0
VARIANT = "shared and corpus-specific weights"


def augmented(Z: np.ndarray, domain: np.ndarray, domains: np.ndarray, *,
              scale: float = SCALE) -> np.ndarray:
    """``[Z, block(domains[0]), block(domains[1]), ...]`` [shape=(n, d + len(domains) *
    (d + 1))], each block ``scale * [Z, 1]`` on its domain's rows and 0 elsewhere (all 0 for
    a domain not in ``domains``)."""
    blocks = [Z]
    for d in domains:
        on = (domain == d)[:, None] * scale
        blocks += [Z * on, on.astype(np.float64)]
    return np.hstack(blocks)


class UndoBias(ClassifierMixin, BaseEstimator):
    """``make()``'s pipeline (its scaler left out) on :func:`augmented` features. The last
    column of ``X`` is the row's domain code, read in ``fit`` only; ``predict`` scores
    every row by the shared block."""

    def __init__(self, make, *, scale: float = SCALE):
        self.make = make
        self.scale = scale

    def fit(self, X, y):
        from sklearn.preprocessing import StandardScaler

        X = np.asarray(X, dtype=np.float64)
        self.scaler_ = StandardScaler().fit(X[:, :-1])
        self.domains_ = np.unique(X[:, -1])
        self.model_ = self.make()[-1]
        self.model_.fit(augmented(self.scaler_.transform(X[:, :-1]), X[:, -1], self.domains_,
                                  scale=self.scale), y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=np.float64)
        unseen = np.full(X.shape[0], np.nan)  # matches no domain: every block 0
        return self.model_.predict(augmented(self.scaler_.transform(X[:, :-1]), unseen,
                                             self.domains_, scale=self.scale))


def undo_bias_models() -> dict:
    """``floor_ablation``'s fixed models under :class:`UndoBias`."""
    return {name: (lambda make=make: UndoBias(make)) for name, make in _models().items()}


def variants(X: np.ndarray, rows):
    """``(normalisation, variant, features, weights[, {"models": ...}])`` per variant; the
    variant's features carry the corpus code as their last column."""
    speaker = rows["speaker"].to_numpy()
    code = np.unique(rows["corpus"].to_numpy(), return_inverse=True)[1].astype(np.float64)
    for norm in ("strict", "speaker_norm"):
        F = X if norm == "strict" else speaker_normalize(X, speaker)
        yield norm, "baseline", lambda F=F: F, None
        yield (norm, VARIANT, lambda F=F: np.column_stack([F, code]), None,
               {"models": undo_bias_models()})


def render(summary: dict) -> str:
    return verdict_report(summary, title="Shared and corpus-specific weights: measured "
                                         "with fixed linear models",
                          doc=__doc__, names=[VARIANT])


def main(argv=None) -> int:
    return measure(argv, script="undo_bias", doc=__doc__, variants=variants, render=render)


if __name__ == "__main__":
    raise SystemExit(main())
