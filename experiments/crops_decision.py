"""Whether the deployed strict recipe adds the `crops` augmentation ->
reports/crops_decision/.

Applies the rule of `reports/crops_decision/rule.md` (fixed before its runs) to the
reports the runs wrote; trains and scores nothing. The candidate is the deployed strict
preset with one crop copy per clip added (`+crops`: a span of 0.5-2 s of the clip's
speech, `features.speech_crop`), parameters retuned inside every fold of R1 and R3;
R2's stage trains with the stored strict teacher's parameters, as that stage always does
(`rule.md` names the stage without saying so):

- R1: RAVDESS leave-one-speaker-out UAR of the selected family, with crops at least the
  deployed preset's less 0.010 and at least 0.651 (`--loso`, `--loso-crops`: two runs of
  `ser-classic evaluate --split loso`);
- R2: the condition benchmark in inner folds of RAVDESS actors 1-20 (`--conditions`:
  `ablation_conditions.py --stages conditions`, the stored teacher's parameters): mean
  accuracy over the degradations, and clean accuracy, each at least the deployed preset's
  less 0.010;
- R3 (seen before the rule): the held-out-corpus A/B folds (`--clip-duration`,
  `--clip-duration-crops`): whole-clip mean UAR of the teacher and the deployed student at
  least the deployed preset's less 0.010, and the student's mean UAR over the cuts at least
  0.020 above.

Which corpora chose: R1 and R2 read RAVDESS actors 1-24 and 1-20; R3 reads every corpus
held out in turn (TESS and EMOVO included), and was seen before the rule was written.

    .venv/bin/python experiments/crops_decision.py [--out reports/crops_decision]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import write_summary
from short_clips import CUT_GAIN, WHOLE_LOSS  # the rule's margins are short_clips'
from targets import LOSO_AT_FILING, LOSO_SLACK

#: issue 19: the strict LOSO UAR of the day it was filed less 2 points
LOSO_TARGET = LOSO_AT_FILING["strict"] - LOSO_SLACK
BASE = "vtlp_eq+conditions_eq+pitch_eq"
CROPS = f"{BASE}+crops"
MODELS = ("strict teacher", "strict student (deployed)")


def read(path: str) -> dict:
    return json.loads(Path(path).read_text())


def loso_uar(summary: dict) -> dict:
    """Strict and speaker_norm UAR of the selected family in an ``evaluate`` summary."""
    name = summary["selected"]
    return {"strict": summary["models"][name]["uar"],
            "speaker_norm": summary["speaker_norm_run"]["models"][name]["uar"],
            "augment": summary["augment"], "model": name}


def condition_accuracy(summary: dict) -> dict:
    """Per preset: clean accuracy and the mean accuracy over the degradations (and the
    clips scored: ``n clips``)."""
    part = summary["conditions"]
    table = part["conditions"]
    out = {"n clips": part["n_clips_per_fold"] * len(part["folds"])}
    for v in (BASE, CROPS):
        acc = {c: table[c][f"{v} teacher"]["accuracy"] for c in table}
        out[v] = {"clean": acc["clean"],
                  "degraded mean": float(np.mean([a for c, a in acc.items()
                                                  if c != "clean"])),
                  "per condition": acc}
    return out


def duration_means(summary: dict) -> dict:
    """Per model and length: the mean UAR over the held-out corpora."""
    rows = summary["results"]["results"]
    out = {}
    for m in MODELS:
        lengths = {str(r["length"]) for r in rows if r["model"] == m}
        out[m] = {L: float(np.mean([r["uar"] for r in rows
                                    if r["model"] == m and str(r["length"]) == L]))
                  for L in sorted(lengths)}
    return out


def decide(loso: dict, loso_crops: dict, conditions: dict, base_cuts: dict,
           crops_cuts: dict) -> dict:
    """The rule's figures and verdicts."""
    tol = 1e-9
    r1_change = loso_crops["strict"] - loso["strict"]
    r1 = r1_change >= -WHOLE_LOSS - tol and loso_crops["strict"] >= LOSO_TARGET - tol
    clean_change = conditions[CROPS]["clean"] - conditions[BASE]["clean"]
    degraded_change = conditions[CROPS]["degraded mean"] - conditions[BASE]["degraded mean"]
    r2 = clean_change >= -WHOLE_LOSS - tol and degraded_change >= -WHOLE_LOSS - tol
    whole = {m: crops_cuts[m]["whole"] - base_cuts[m]["whole"] for m in MODELS}
    student = MODELS[1]
    cuts = [L for L in base_cuts[student] if L != "whole"]
    cut_gain = float(np.mean([crops_cuts[student][L] - base_cuts[student][L] for L in cuts]))
    r3 = all(w >= -WHOLE_LOSS - tol for w in whole.values()) and cut_gain >= CUT_GAIN - tol
    return {"R1": {"loso strict": loso["strict"], "loso strict crops": loso_crops["strict"],
                   "change": round(r1_change, 4), "met": bool(r1)},
            "R2": {"clean change": round(clean_change, 4),
                   "degraded mean change": round(degraded_change, 4), "met": bool(r2)},
            "R3": {"whole change": {m: round(w, 4) for m, w in whole.items()},
                   "student cut gain": round(cut_gain, 4), "met": bool(r3)},
            "adopted": bool(r1 and r2 and r3)}


def render(summary: dict) -> str:
    d, loso, loso_c = summary["decision"], summary["loso"], summary["loso crops"]
    cond = summary["conditions"]
    yes = {True: "yes", False: "**no**"}
    lines = ["# Crops in the deployed strict recipe: the decision", "",
             f"Command: `{summary['command']}` (reads the reports below; trains nothing).",
             "", __doc__.split("\n\n", 1)[1].split("\n\n    .venv")[0].replace("``", "`"),
             "", "Inputs: " + ", ".join(f"`{p}`" for p in summary["inputs"].values()) + ".",
             "", "## R1: RAVDESS leave-one-speaker-out (24 folds, inner tuning)", "",
             "| preset | strict UAR | speaker_norm UAR (not in the rule) |", "|---|---|---|",
             f"| `{loso['augment']}` | {loso['strict']:.3f} | {loso['speaker_norm']:.3f} |",
             f"| `{loso_c['augment']}` | {loso_c['strict']:.3f} | "
             f"{loso_c['speaker_norm']:.3f} |", "",
             f"Change {d['R1']['change']:+.3f} (>= -{WHOLE_LOSS:.3f}); with crops "
             f"{loso_c['strict']:.3f} against the target {LOSO_TARGET:.3f}: met "
             f"{yes[d['R1']['met']]}.", "",
             "## R2: condition benchmark, inner folds of RAVDESS actors 1-20 (accuracy)", "",
             f"{cond['n clips']} clips (5 folds of 4 actors, the benchmark's own seeds), "
             "scored by teachers with the stored strict teacher's parameters (not retuned "
             "per fold), trained without the fold's actors.", "",
             "| condition | " + " | ".join(f"`{v}`" for v in (BASE, CROPS)) + " |",
             "|---|---|---|"]
    for c in cond[BASE]["per condition"]:
        lines.append(f"| {c} | " + " | ".join(f"{cond[v]['per condition'][c]:.3f}"
                                             for v in (BASE, CROPS)) + " |")
    lines += ["| mean of the degradations | " + " | ".join(
                  f"{cond[v]['degraded mean']:.3f}" for v in (BASE, CROPS)) + " |", "",
              f"Clean {d['R2']['clean change']:+.3f}, degradations' mean "
              f"{d['R2']['degraded mean change']:+.3f} (each >= -{WHOLE_LOSS:.3f}): met "
              f"{yes[d['R2']['met']]}.", "",
              "## R3: held-out-corpus A/B folds, retuned (seen before the rule)", "",
              "Mean UAR over the held-out corpora:", "",
              "| model | preset | " + " | ".join(summary["cuts"][BASE][MODELS[0]]) + " |",
              "|---|---|" + "---|" * len(summary["cuts"][BASE][MODELS[0]])]
    for m in MODELS:
        for v in (BASE, CROPS):
            lines.append(f"| {m} | `{v}` | " + " | ".join(
                f"{u:.3f}" for u in summary["cuts"][v][m].values()) + " |")
    whole = d["R3"]["whole change"]
    lines += ["", "Whole clips: " + ", ".join(f"{m} {w:+.3f}" for m, w in whole.items())
              + f" (each >= -{WHOLE_LOSS:.3f}); the student's mean over the cuts "
              f"{d['R3']['student cut gain']:+.3f} (>= +{CUT_GAIN:.3f}): met "
              f"{yes[d['R3']['met']]}.", "", "## Decision", "",
              ("**Adopted**: the deployed strict recipe adds `crops`."
               if d["adopted"] else
               "**Not adopted**: the deployed strict recipe stays as it is; `crops` stays an "
               "opt-in preset (README, 'Score whole utterances').")]
    clean = d["R2"]["clean change"] * cond["n clips"]
    lines += ["", f"The rule decides, not a test: R2's clean change is {clean:+.0f} of "
              f"{cond['n clips']} clips, and R1's {d['R1']['change']:+.3f} lies within "
              "the LOSO's confidence intervals."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loso", default="reports/crops_decision/loso/summary.json")
    p.add_argument("--loso-crops", default="reports/crops_decision/loso_crops/summary.json")
    p.add_argument("--conditions", default="reports/crops_decision/conditions/summary.json")
    p.add_argument("--clip-duration", default="reports/clip_duration/summary.json")
    p.add_argument("--clip-duration-crops",
                   default="reports/clip_duration_crops/summary.json")
    p.add_argument("--out", default="reports/crops_decision")
    args = p.parse_args(argv)
    inputs = {k: getattr(args, k) for k in ("loso", "loso_crops", "conditions",
                                            "clip_duration", "clip_duration_crops")}
    loso, loso_crops = loso_uar(read(args.loso)), loso_uar(read(args.loso_crops))
    if (loso["augment"], loso_crops["augment"]) != (BASE, CROPS):
        raise SystemExit(f"LOSO presets {loso['augment']!r} / {loso_crops['augment']!r}, "
                         f"expected {BASE!r} / {CROPS!r}")
    conditions = condition_accuracy(read(args.conditions))
    cuts = {BASE: duration_means(read(args.clip_duration)),
            CROPS: duration_means(read(args.clip_duration_crops))}
    summary = {"command": "python experiments/crops_decision.py" + "".join(
                   f" {a}" for a in (argv or sys.argv[1:])),
               "inputs": inputs, "loso": loso, "loso crops": loso_crops,
               "conditions": conditions, "cuts": cuts,
               "decision": decide(loso, loso_crops, conditions, cuts[BASE], cuts[CROPS])}
    write_summary(Path(args.out), summary, render(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
