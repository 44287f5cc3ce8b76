"""Mixup of training clips' features, with fixed linear models -> reports/mixup/.

Measurement only: nothing is chosen or shipped, and the deployed recipe is unchanged.
Mixup (Zhang et al. 2018), one of the domain-generalisation baselines of DomainBed
(Gulrajani & Lopez-Paz 2021), trains on convex combinations of pairs of training examples
and of their labels, which asks the model to behave linearly between them, between
corpora too. Inside every fit, on its training rows only: each row is paired with a row
drawn at random from the fit's rows (most pairs join two speakers, and in a
leave-one-corpus-out fit often two corpora), mixed with ``lam ~ Beta(alpha, alpha)``, and
the mixed row is added twice, labelled with the first row's emotion at weight ``lam`` and
with the second's at ``1 - lam`` (a soft label as two weighted rows); the original rows
keep weight 1, and the classes are balanced on the weights. ``alpha`` 0.2 (DomainBed's
default: most ``lam`` near 0 or 1) and 1 (``lam`` uniform). The pairs and ``lam`` are drawn
at seed 0, the same in every fit of as many rows.

The cached default features are scored by ``floor_ablation``'s fixed models, as
``loco_variants`` scores its variants: RAVDESS group6 accuracy with ridge and with logistic
regression, leave-one-corpus-out UAR with the logistic regression. Rule
(``row_selection``'s, fixed before the first run, as were the two ``alpha``): a variant is a
lead when it raises the LOCO mean by at least 0.010 under strict and speaker_norm, with
neither group6 accuracy more than 0.010 lower.

    .venv/bin/python experiments/mixup.py [--out reports/mixup]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import _models, class_balanced
from loco_variants import measure
from row_selection import verdict_report

from ser_classic.evaluation import speaker_normalize

ALPHAS = (0.2, 1.0)


def mixed_rows(X: np.ndarray, y: np.ndarray, *, alpha: float, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training set with its mixed rows: ``(X, y, weight)`` with ``3 n`` rows (the
    originals at weight 1, then each mixed row with the first label at ``lam``, then with
    the second at ``1 - lam``)."""
    n = y.size
    partner = rng.integers(n, size=n)
    lam = rng.beta(alpha, alpha, size=n)
    mixed = lam[:, None] * X + (1.0 - lam[:, None]) * X[partner]
    return (np.vstack([X, mixed, mixed]), np.concatenate([y, y, y[partner]]),
            np.concatenate([np.ones(n), lam, 1.0 - lam]))


class Mixup(ClassifierMixin, BaseEstimator):
    """``make()``'s pipeline fitted on :func:`mixed_rows` of its training set (classes
    balanced on the weights)."""

    def __init__(self, make, *, alpha: float = 0.2, seed: int = 0):
        self.make = make
        self.alpha = alpha
        self.seed = seed

    def fit(self, X, y):
        Xa, ya, wa = mixed_rows(np.asarray(X), np.asarray(y), alpha=self.alpha,
                                rng=np.random.default_rng(self.seed))
        self.model_ = self.make()
        self.model_.fit(Xa, ya, **{f"{self.model_.steps[-1][0]}__sample_weight":
                                   class_balanced(wa, ya)})
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


def mixup_models(alpha: float, seed: int) -> dict:
    """``floor_ablation``'s fixed models (classes balanced by weight) under :class:`Mixup`."""
    return {name: (lambda make=make: Mixup(make, alpha=alpha, seed=seed))
            for name, make in _models(balanced=False).items()}


def variant_name(alpha: float) -> str:
    return f"mixup (alpha {alpha:g})"


def variants(X: np.ndarray, rows, *, seed: int = 0):
    """``(normalisation, variant, features, weights, {"models": ...})`` per variant."""
    speaker = rows["speaker"].to_numpy()
    for norm in ("strict", "speaker_norm"):
        F = X if norm == "strict" else speaker_normalize(X, speaker)
        yield norm, "baseline", lambda F=F: F, None
        for alpha in ALPHAS:
            yield (norm, variant_name(alpha), lambda F=F: F, None,
                   {"models": mixup_models(alpha, seed)})


def render(summary: dict) -> str:
    return verdict_report(summary, title="Mixup of training clips: measured with fixed "
                                         "linear models",
                          doc=__doc__, names=[variant_name(a) for a in ALPHAS])


def main(argv=None) -> int:
    return measure(argv, script="mixup", doc=__doc__, variants=variants, render=render)


if __name__ == "__main__":
    raise SystemExit(main())
