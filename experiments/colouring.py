"""Microphone colourings and the models: does a model keep its answer, and its accuracy,
when the same clip is recorded through a brighter, darker, thinner or closer microphone?
(Issue 19, beside its invariance list and its conditions; measurement only.)

``bench_conditions``' colouring transformations (high shelf +-6 dB at 2 kHz, low shelf
+-6 dB at 200 Hz, a +6 dB presence peak at 3 kHz; pedalboard's biquads, then 16-bit
rounding) on every clip of RAVDESS actors 21-24, measured twice with its machinery:

1. invariance: every committed model against its own answer for the untransformed clip,
   held to the issue's invariance targets (agreement >= 0.95, mean |dp| <= 0.05);
   speaker-normalised models read each clip's statistics from its speaker's other clips,
   clean and ``[same chain]``;
2. accuracy: the condition benchmark's held-out teachers and students (the deployed
   recipes retrained without actors 21-24, ``--work``; trained when missing), accuracy /
   UAR / ECE per colouring and as a share of clean, as ``reports/conditions`` has them for
   the issue's conditions.

Usage::

    python experiments/colouring.py --out reports/colouring
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import bench_conditions as bench
import numpy as np

from ser_classic.data import scan_corpus
from ser_classic.reporting import write_text
from ser_classic.store import read_index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/ravdess")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=".cache/models/conditions",
                        help="the held-out models (bench_conditions' --work)")
    parser.add_argument("--normalizations", default="strict,speaker_norm")
    parser.add_argument("--out", type=Path, default=Path("reports/colouring"))
    args = parser.parse_args(argv)
    command = "python experiments/colouring.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    os.chdir(bench.ROOT)
    warnings.filterwarnings("ignore", category=UserWarning)
    start = time.perf_counter()
    records = sorted(scan_corpus(args.data), key=lambda r: r["path"])
    rows = [r for r in records if r["speaker"] in bench.HOLDOUT]
    models = [Path("models") / alias for alias in sorted(read_index().aliases)]
    colourings = bench.colouring_transforms()
    inv = {"n_clips": len(rows), **bench.run_invariance(models, rows, seed=args.seed,
                                                        transforms=colourings)}
    holdout = bench.ensure_holdout_models(Path(args.work), args.normalizations.split(","),
                                          retrain=False)
    held, talkers = bench.holdout_rows(records, holdout, n=0, seed=args.seed)
    cond = bench.run_conditions(holdout, held, talker_rows=talkers, seed=args.seed,
                                transforms={"clean": lambda y, rng: (y, bench.SR),
                                            **colourings})
    del cond["correct"], cond["proba"]
    seconds = time.perf_counter() - start
    lines = ["# Microphone colourings: do the committed models keep their answer? "
             "(issue 19; measurement only)", "",
             f"Command: `{command.strip()}` ({seconds:.0f} s).", "",
             f"{inv['n_clips']} clips of RAVDESS actors 21-24 (float at 16 kHz), each through "
             "a fixed colouring (pedalboard's biquads: a high shelf of +-6 dB at 2 kHz, a low "
             "shelf of +-6 dB at 200 Hz, a +6 dB presence peak at 3 kHz, Q 1) and 16-bit "
             "rounding, scored by every committed model. Cells: top-1 agreement with the "
             "model's answer for the untransformed clip / mean |dp|; ✗ where issue 19's "
             "invariance targets (agreement >= 0.95, mean |dp| <= 0.05) are missed; they are "
             "not in its list, and are held to its targets here. The committed models were "
             "trained on all 24 actors: this measures agreement, not accuracy. "
             "Speaker-normalised models: each clip's statistics from its speaker's other "
             "clips, untransformed, or `[same chain]` through the same colouring. The "
             f"committed teachers train with `{bench.RECIPE_AUGMENT}` copies "
             "(`reports/ablation_eq/` compares the colouring of none, some or all of "
             "them).", "", "## 1. Invariance of the committed models", "",
             *bench._invariance_md(inv), "", bench._agreement_intervals(inv), "",
             "## 2. Accuracy of the held-out models", "",
             f"{len(held)} clips of actors 21-24 (the emotions every model knows), scored by "
             "the deployed recipes retrained without actors 21-24 (`bench_conditions`' "
             "held-out teachers and students; a speaker-normalised model reads each "
             "speaker's statistics from its clips of the same colouring, or of the clean "
             "clips). Cells: accuracy / UAR / ECE (15 bins), the accuracy as a share of "
             "clean in brackets; ✗ where the ECE exceeds issue 19's 0.10 for a condition "
             "(0.05 clean). The issue sets no accuracy target for a colouring.", "",
             *bench._conditions_md(cond), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "report.md", "\n".join(lines))
    write_text(args.out / "summary.json", json.dumps(
        {"command": command.strip(), "seed": args.seed, "seconds": round(seconds, 1),
         "augment": bench.RECIPE_AUGMENT, "copies": bench.RECIPE_COPIES,
         "invariance": inv, "conditions": {"n_clips": len(held), **cond}}, indent=1,
        default=lambda o: np.asarray(o).tolist()) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
