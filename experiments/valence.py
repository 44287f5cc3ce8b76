"""Valence against arousal on corpora the model has never heard -> reports/valence/.

Measurement only: nothing is chosen or shipped. The library's ``groups=`` scores groups of
emotions as one class: ``"arousal"`` (high: angry, happy, fearful, surprised; low: the
rest) and ``"valence"`` (positive: happy, surprised, calm; neutral; negative: angry,
fearful, sad, disgust). A discriminator can penalise a generated clip's group instead of
its emotion; how far each grouping carries to an unseen corpus decides which is worth it.

The deployed recipe's own held-out-corpus models are read: the teacher and student of
each fold of a held-out-corpus A/B (``corpus-ab --work``: `make run` makes
``.cache/models/ab``, `make deploy-selected` ``ab-speaker_norm`` and ``ab-neutral_ref``),
each scored on its held-out corpus as that A/B scores it (speaker statistics, neutral
references), through ``groups=`` as a user calls it (an atypical clip's group
probabilities shrunk towards uniform over the groups). Per model and held-out corpus:
- ``emotion``: the closed-set 7-class UAR of the top answer (chance 0.14);
- ``arousal``: the binary UAR of ``groups="arousal"``'s top group (chance 0.5);
- ``valence``: the 3-group UAR of ``groups="valence"``'s top group (chance 0.33);
- ``valence, valenced clips``: positive against negative on the clips of those groups
  (``groups=`` a mapping of the two, neutral left out and the rest renormalised): binary,
  so comparable with arousal (chance 0.5).
Each with its ECE over the groups (15 bins of the top probability).

    .venv/bin/python experiments/valence.py --folds .cache/models/ab ... [--out reports/valence]
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arousal import fold_models, folds_md
from floor_ablation import CORPORA, ablation_parser, report_head, report_on_known_emotions, uar

from ser_classic import Grouping
from ser_classic._vocabulary import GROUPINGS

# the models are trained without calm, which only RAVDESS has
VALENCED = {g: [c for c in GROUPINGS[Grouping.VALENCE][g] if c != "calm"]
            for g in ("positive", "negative")}
SCORES = ("emotion", "arousal", "valence", "valence, valenced clips")


def group_score(truth: np.ndarray, proba: np.ndarray) -> dict:
    """UAR of the top group and ECE, ``truth`` the column of each row's group."""
    from ser_classic.evaluation import expected_calibration_error

    return {"uar": uar(truth, proba.argmax(axis=1)),
            "ece": float(expected_calibration_error(truth, proba))}


def model_scores(rec, classes, held_out_rows) -> dict:
    """The module docstring's four scores of one model on its held-out clips."""
    from ser_classic._vocabulary import group_targets, resolve_groups
    from ser_classic.deployment import _held_out_proba
    from ser_classic.evaluation import closed_set_proba

    y = held_out_rows[2]
    proba = closed_set_proba(_held_out_proba(rec, *held_out_rows), rec.classes_, classes)
    out = {"emotion": group_score(np.searchsorted(classes, y), proba)}
    for name, groups, rows in (
            ("arousal", Grouping.AROUSAL, np.ones(y.size, dtype=bool)),
            ("valence", Grouping.VALENCE, np.ones(y.size, dtype=bool)),
            ("valence, valenced clips", VALENCED, np.isin(
                y, [c for members in VALENCED.values() for c in members]))):
        group_of = group_targets(*resolve_groups(groups, rec.classes_), rec.classes_)
        grouped = _held_out_proba(rec, *held_out_rows, groups=groups)
        out[name] = group_score(np.array([group_of[e] for e in y[rows]]), grouped[rows])
    return out


def folder_scores(X, rows, folds: Path) -> dict:
    """:func:`model_scores` of every model of an A/B work folder, per held-out corpus and
    their mean; ``{}`` when the folder holds none."""
    out: dict = {}
    for held, name, model_id, rec, classes, held_out_rows in fold_models(X, rows, folds):
        entry = out.setdefault(name, {"models": {}})
        entry["models"][held] = model_id
        entry[held] = model_scores(rec, classes, held_out_rows)
    for entry in out.values():
        entry["mean"] = {s: {m: float(np.mean([entry[c][s][m] for c in CORPORA]))
                             for m in ("uar", "ece")} for s in SCORES}
    return out


def score_table(models: dict) -> list[str]:
    """The section of :func:`folder_scores`' models of one A/B work folder."""
    lines = ["| model | score | EMOVO UAR / ECE | RAVDESS UAR / ECE | TESS UAR / ECE | "
             "mean UAR / ECE |", "|---|---|---|---|---|---|"]
    for name, entry in models.items():
        for s in SCORES:
            lines.append(f"| {name} | {s} | " + " | ".join(
                f"{entry[c][s]['uar']:.3f} / {entry[c][s]['ece']:.3f}"
                for c in (*CORPORA, "mean")) + " |")
    return lines


def render(summary: dict) -> str:
    return "\n".join([*report_head("Valence against arousal on corpora the model has never "
                                   "heard", summary, __doc__),
                      *folds_md(summary["results"], score_table)])


def run(X, y, speaker, corpus, *, rows, folds) -> dict:
    """:func:`folder_scores` of each A/B work folder of ``folds``."""
    results = {str(f): folder_scores(X, rows, Path(f)) for f in folds}
    for folder, models in results.items():
        for name, entry in models.items():
            print(f"{folder} {name}: " + ", ".join(
                f"{s} {entry['mean'][s]['uar']:.3f}" for s in SCORES), flush=True)
    return results


def main(argv=None) -> int:
    p = ablation_parser(__doc__, out="reports/valence", seed=False)
    p.add_argument("--folds", nargs="+", required=True,
                   help="held-out-corpus A/B work folders (corpus-ab --work)")
    args = p.parse_args(argv)
    return report_on_known_emotions(args, "valence", argv, partial(run, folds=args.folds),
                                    render, with_rows=True)


if __name__ == "__main__":
    raise SystemExit(main())
