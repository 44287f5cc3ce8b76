"""How far the answer's arousal carries across corpora, with fixed linear models ->
reports/arousal/.

Measurement only: nothing is chosen or shipped. A discriminator's penalty for a target
emotion is ``1 - p(target)``; a coarser one is ``1 - p(the target's arousal group)``, the
sum of the probabilities of the emotions of the target's group. Cross-corpus studies
find arousal carries across corpora much better than the emotion itself (Schuller et al.
2010). Measured here with ``floor_ablation``'s fixed logistic regression on the cached
default features (calm excluded), strict and speaker_norm:
- ``emotion``: the 7-class UAR (the closed set of the held-out corpus);
- ``arousal of the emotion model``: the group of the 7-class model's top answer, the
  binary UAR of high against low (what a user reads from ``score``'s or
  ``predict_proba``'s output; the probabilities summed over a group would favour the
  larger group, 4 or 5 of the 7 emotions, wherever the answer is unsure);
- ``arousal model``: a logistic regression trained on high against low directly;
- ``arousal first``: that model's p(high) times a 7-class model trained within each group
  (``p(e) = p(group of e) p(e | group)``), scored as the 7-class UAR.

Two groupings, both conventions of the circumplex (Russell 1980), neither chosen here:
high = angry, happy, fearful, surprised, with disgust low or high; low = neutral, sad
and the rest. Cells: leave-one-corpus-out (train on two corpora, test on the third) and
RAVDESS group6 folds (6 folds of 4 consecutive actors).

    .venv/bin/python experiments/arousal.py [--out reports/arousal]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import (
    CORPORA,
    _models,
    ablation_parser,
    group6,
    report_on_known_emotions,
    uar,
)

from ser_classic.evaluation import speaker_normalize

HIGH = ("angry", "fearful", "happy", "surprised")
GROUPINGS = {"disgust low": frozenset(HIGH), "disgust high": frozenset((*HIGH, "disgust"))}
SCORES = ("emotion", "arousal of the emotion model", "arousal model", "arousal first")


def arousal_first(p_high: np.ndarray, within: dict, classes) -> np.ndarray:
    """``p(e) = p(group of e) p(e | group)`` over ``classes``, shape ``(n_rows, n_classes)``;
    ``within`` maps True (high) and False (low) to ``(group classes, p(e | group))``."""
    out = np.zeros((p_high.size, len(classes)))
    for is_high, (group, proba) in within.items():
        weight = p_high if is_high else 1.0 - p_high
        out[:, np.searchsorted(classes, group)] += weight[:, None] * proba
    return out


def scores(X, y, train, test, high) -> dict:
    """The four scores of the module docstring on the ``test`` rows, the models fitted on
    the ``train`` rows (index arrays)."""
    logreg = _models()["logreg"]
    flat = logreg().fit(X[train], y[train])
    classes = flat.classes_
    proba = flat.predict_proba(X[test])
    is_high = np.isin(y, list(high))
    binary = logreg().fit(X[train], is_high[train])
    p_high = binary.predict_proba(X[test])[:, list(binary.classes_).index(True)]
    within = {}
    for side in (True, False):
        rows = train[is_high[train] == side]
        model = logreg().fit(X[rows], y[rows])
        within[side] = (model.classes_, model.predict_proba(X[test]))
    return {"emotion": uar(y[test], classes[proba.argmax(axis=1)]),
            "arousal of the emotion model": uar(is_high[test],
                                                np.isin(classes[proba.argmax(axis=1)],
                                                        list(high))),
            "arousal model": uar(is_high[test], p_high > 0.5),
            "arousal first": uar(y[test], classes[arousal_first(p_high, within, classes)
                                                  .argmax(axis=1)])}


def measure(X, y, corpus, speaker, high) -> dict:
    """Every score under leave-one-corpus-out (per corpus and mean) and on RAVDESS group6
    folds (the mean over folds)."""
    out = {}
    for held in CORPORA:
        out[held] = scores(X, y, np.flatnonzero(corpus != held), corpus == held, high)
    out["loco mean"] = {k: float(np.mean([out[c][k] for c in CORPORA])) for k in SCORES}
    r = np.flatnonzero(corpus == "ravdess")
    fold = group6(speaker[r])
    per = [scores(X, y, r[fold != f], r[fold == f], high) for f in np.unique(fold)]
    out["group6"] = {k: float(np.mean([p[k] for p in per])) for k in SCORES}
    return out


def render(summary: dict) -> str:
    lines = ["# How far the answer's arousal carries across corpora", "",
             f"Command: `{summary['command']}` ({summary['seconds']:.0f} s).", "",
             __doc__.split("\n\n", 1)[1].split("\n\n    .venv")[0].replace("``", "`"), "",
             "UAR of each score (binary for the arousal rows: chance 0.5; 7 classes for "
             "`emotion` and `arousal first`: chance 0.14).", ""]
    for norm, per in summary["results"].items():
        lines += [f"## {norm}", "", "| grouping | score | EMOVO | RAVDESS | TESS | LOCO mean | "
                  "RAVDESS group6 |", "|---|---|---|---|---|---|---|"]
        for grouping, res in per.items():
            for k in SCORES:
                lines.append(f"| {grouping} | {k} | " + " | ".join(
                    f"{res[c][k]:.3f}" for c in (*CORPORA, "loco mean", "group6")) + " |")
        lines.append("")
    return "\n".join(lines)


def run(X, y, speaker, corpus) -> dict:
    """Every grouping's scores, strict and speaker_norm."""
    results = {}
    for norm, F in (("strict", X), ("speaker_norm", speaker_normalize(X, speaker))):
        results[norm] = {}
        for grouping, high in GROUPINGS.items():
            results[norm][grouping] = measure(F, y, corpus, speaker, high)
            print(f"{norm} {grouping}: " + ", ".join(
                f"{k} {results[norm][grouping]['loco mean'][k]:.3f}" for k in SCORES),
                flush=True)
    return results


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/arousal", seed=False).parse_args(argv)
    return report_on_known_emotions(args, "arousal", argv, run, render)


if __name__ == "__main__":
    raise SystemExit(main())
