"""Which feature columns to learn from, with fixed linear models ->
reports/feature_selection/.

Measurement only: nothing is chosen or shipped, and the deployed recipe is unchanged. The
default set has 3083 columns for a few thousand clips; columns whose class means differ
in one corpus but not in another carry that corpus's speakers, words and channel, not
the emotion. Two univariate filters keep the ``k`` best columns, each chosen inside
every fit on its training rows only (the held-out corpus or speakers are never read):
- ``pooled F``: the ANOVA F statistic of the emotion labels over all training rows
  (scikit-learn's ``f_classif``, as ``SelectKBest`` does);
- ``cross-corpus F``: the smallest of the F statistics computed within each training
  corpus, so that a column is kept only when it separates the emotions in every corpus
  (a univariate form of invariant feature selection). In a fit on one corpus (RAVDESS's
  group6 folds) it is the pooled F.

The cached default features are scored by ``floor_ablation``'s fixed models, as
``loco_variants`` scores its variants: RAVDESS group6 accuracy with ridge and with logistic
regression, leave-one-corpus-out UAR with the logistic regression. Rule
(``row_selection``'s, set after a scratch run of the LOCO cells on 12-07: strict +0.023
and speaker_norm +0.016 for pooled F at 1000 columns, +0.015 and +0.014 for cross-corpus
F at 2000, most of either gain on TESS): a variant is a lead when it raises the LOCO mean
by at least 0.010 under strict and speaker_norm, with neither group6 accuracy more than
0.010 lower.

    .venv/bin/python experiments/feature_selection.py [--out reports/feature_selection]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loco_variants import measure
from row_selection import verdict_report

from ser_classic.evaluation import speaker_normalize

KS = (1000, 2000)


def f_statistic(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ANOVA F of every column [shape=(n_columns,)]; a constant column gets 0."""
    from sklearn.feature_selection import f_classif

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", UserWarning)  # "Features [...] are constant."
        return np.nan_to_num(f_classif(X, y)[0])


def cross_corpus_f(X: np.ndarray, y: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """The smallest per-corpus F of every column [shape=(n_columns,)]."""
    return np.min([f_statistic(X[corpus == c], y[corpus == c]) for c in np.unique(corpus)],
                  axis=0)


def top_columns(score, k: int, X: np.ndarray, y: np.ndarray, corpus: np.ndarray):
    """A ``columns`` function for ``cv_and_loco``: a fit's ``k`` columns of highest
    ``score`` (``"pooled"`` or ``"cross-corpus"``) on its training rows."""
    def columns(rows: np.ndarray) -> np.ndarray:
        F = (f_statistic(X[rows], y[rows]) if score == "pooled"
             else cross_corpus_f(X[rows], y[rows], corpus[rows]))
        return np.sort(np.argsort(-F, kind="stable")[:k])
    return columns


def variant_name(score: str, k: int) -> str:
    return f"{score} F, {k} columns"


def variants(X: np.ndarray, rows):
    """``(normalisation, variant, features, weights, {"columns": ...})`` per variant."""
    y, corpus = rows["emotion"].to_numpy(), rows["corpus"].to_numpy()
    speaker = rows["speaker"].to_numpy()
    for norm in ("strict", "speaker_norm"):
        F = X if norm == "strict" else speaker_normalize(X, speaker)
        yield norm, "baseline", lambda F=F: F, None
        for score in ("pooled", "cross-corpus"):
            for k in KS:
                yield (norm, variant_name(score, k), lambda F=F: F, None,
                       {"columns": top_columns(score, k, F, y, corpus)})


def render(summary: dict) -> str:
    return verdict_report(
        summary, title="Feature selection: measured with fixed linear models", doc=__doc__,
        names=[variant_name(s, k) for s in ("pooled", "cross-corpus") for k in KS],
        lead_note=" A lead is a candidate for the deployed recipe only with its number of "
                  "columns chosen by inner CV on the training corpora, measured again under "
                  "nested LOCO.", none_note="the deployed recipe keeps every column.")


def main(argv=None) -> int:
    return measure(argv, script="feature_selection", doc=__doc__, variants=variants,
                   render=render)


if __name__ == "__main__":
    raise SystemExit(main())
