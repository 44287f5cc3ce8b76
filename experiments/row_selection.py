"""Which training rows to learn from, with fixed linear models -> reports/row_selection/.

Measurement only: nothing is chosen or shipped, and the deployed recipe is unchanged. Acted
corpora hold clips their own listeners label otherwise; a model that learns from the
prototypical ones might carry better to another corpus. Two ways to choose them, each
inside every fit's training rows (the held-out corpus or speakers are never read):
- ``RAVDESS strong intensity only``: RAVDESS's normal-intensity clips left out of training
  (its neutral clips, all of normal intensity, kept);
- ``confident rows``: confident learning's filter (Northcutt et al. 2021, in its simplest
  form): the fixed logistic regression's out-of-fold probability of each training clip's
  own label, in 5 speaker-grouped folds of the training rows, and the lowest ``share`` of
  each emotion's clips left out (10 % or 20 %).

The cached default features are scored by ``floor_ablation``'s fixed models, as
``loco_variants`` scores its variants: RAVDESS group6 accuracy with ridge and with logistic
regression, leave-one-corpus-out UAR with the logistic regression. Rule, set after a
scratch run of the LOCO cells (12-07: strict +0.017 and speaker_norm +0.006 at 10 %, the
gain on TESS): a variant is a lead when it raises the LOCO mean by at least 0.010 (about
the seed spread of a LOCO mean, `reports/spread`) under strict and speaker_norm, with
neither group6 accuracy more than 0.010 lower.

    .venv/bin/python experiments/row_selection.py [--out reports/row_selection]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import _models, beats
from loco_variants import CELLS, measure, variant_report_head

from ser_classic.evaluation import speaker_normalize

SHARES = (0.1, 0.2)


def own_label_proba(X: np.ndarray, y: np.ndarray, groups: np.ndarray, *,
                    n_splits: int = 5) -> np.ndarray:
    """Out-of-fold probability of each row's own label, shape ``(n_rows,)``: the fixed
    logistic regression in ``n_splits`` folds grouped by ``groups``."""
    from sklearn.model_selection import GroupKFold

    p = np.empty(y.size)
    for tr, te in GroupKFold(n_splits).split(X, groups=groups):
        model = _models()["logreg"]().fit(X[tr], y[tr])
        proba = model.predict_proba(X[te])
        p[te] = proba[np.arange(te.size), np.searchsorted(model.classes_, y[te])]
    return p


def confident_rows(own: np.ndarray, y: np.ndarray, share: float) -> np.ndarray:
    """Mask of the rows kept: each label's rows without the lowest ``share`` of ``own``."""
    keep = np.ones(y.size, dtype=bool)
    for label in np.unique(y):
        rows = y == label
        keep[rows] = own[rows] >= np.quantile(own[rows], share)
    return keep


def own_label_memo(X: np.ndarray, y: np.ndarray, speaker: np.ndarray):
    """:func:`own_label_proba` of a fit's training row indices, computed once per set of
    rows (the variants that leave out different shares read the same probabilities)."""
    memo: dict[bytes, np.ndarray] = {}

    def own(rows: np.ndarray) -> np.ndarray:
        key = np.asarray(rows).tobytes()
        if key not in memo:
            memo[key] = own_label_proba(X[rows], y[rows], speaker[rows])
        return memo[key]

    return own


def confident_weights(own, y: np.ndarray, share: float):
    """A weight function for :func:`floor_ablation.cv_and_loco`: 1 for the rows
    :func:`confident_rows` keeps among a fit's training rows, 0 for the others (``own``:
    an :func:`own_label_memo`)."""
    def weights(rows: np.ndarray) -> np.ndarray:
        return confident_rows(own(rows), y[rows], share).astype(float)

    return weights


def variants(X: np.ndarray, rows):
    """``(normalisation, variant, features, weights)`` per variant, as ``loco_variants``'."""
    y, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    intensity = rows["intensity"].fillna("").astype(str).to_numpy()
    normal = ((intensity == "normal") & (y != "neutral")).astype(float)
    for norm, F in (("strict", X), ("speaker_norm", speaker_normalize(X, speaker))):
        yield norm, "baseline", lambda F=F: F, None
        yield norm, "RAVDESS strong intensity only", lambda F=F: F, 1.0 - normal
        own = own_label_memo(F, y, speaker)
        for share in SHARES:
            yield (norm, f"confident rows (lowest {share:.0%} of each emotion left out)",
                   lambda F=F: F, confident_weights(own, y, share))


def is_lead(results: list[dict], variant: str) -> bool:
    """The rule of the module docstring, under both normalisations."""
    def row(norm, name):
        return next(r for r in results if r["normalization"] == norm and r["variant"] == name)

    return all(beats(row(n, variant), row(n, "baseline")) for n in ("strict", "speaker_norm"))


def variant_verdicts(results: list[dict], names, *, unchanged: str) -> list[str]:
    """One bullet per variant of ``names``: a lead by :func:`is_lead`, or not (then
    ``unchanged`` says what stays)."""
    return [f"- {n}: " + ("a lead under both normalisations, to be chosen by inner CV in "
                          "the deployed recipe." if is_lead(results, n) else
                          f"not a lead; {unchanged}") for n in names]


def verdict_report(summary: dict, *, title: str, doc: str, names, lead_note: str = "",
                   none_note: str = "the deployed recipe is unchanged.") -> str:
    """A fixed-model variant report (:func:`loco_variants.variant_report_head`) closed by
    the variants among ``names`` that are leads by :func:`is_lead` (then ``lead_note``),
    or by ``none_note`` when none is."""
    leads = [n for n in names if is_lead(summary["results"], n)]
    return "\n".join([*variant_report_head(summary, title=title, doc=doc), "## Verdict", "",
                      ("Leads by the rule: " + ", ".join(leads) + "." + lead_note if leads
                       else "No variant is a lead by the rule; " + none_note), ""])


def render(summary: dict) -> str:
    results = summary["results"]
    lines = variant_report_head(
        summary, title="Which training rows to learn from: variants measured with fixed "
                       "linear models", doc=__doc__, cells=CELLS.replace(
                           "standardised features)", "standardised features, classes "
                           "balanced on the kept rows)"))
    names = dict.fromkeys(r["variant"] for r in results if r["variant"] != "baseline")
    lines += ["## Verdict", "", *variant_verdicts(results, names,
                                                  unchanged="the deployed recipe is unchanged.")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return measure(argv, script="row_selection", doc=__doc__, variants=variants,
                   render=render)


if __name__ == "__main__":
    raise SystemExit(main())
