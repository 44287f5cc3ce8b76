"""The strict lead of reports/active_frames under the deployed training recipe ->
reports/active_frames/recipe/.

Measurement only: nothing is chosen or shipped. `reports/active_frames` found one variant
that helps the strict plain models (frame-level functionals over the frames within 20 dB
of the clip's 95th-percentile frame, the extended and utterance descriptors over every
frame: white-noise accuracy at 20 dB 0.264 -> 0.433 with the LOCO UAR kept), but those
models learn from clean clips only, while the deployed strict teacher also learns from
VTLP and degraded-recording copies. This script runs `ablation_conditions`' condition
stage (the condition benchmark in 5 inner folds of RAVDESS actors 1-20; teachers of the
`linear` family with the stored strict teacher's parameters trained on the other actors'
clips and their `vtlp+conditions` copies, 2 per preset; 48 clips per fold under each
degradation, WORLD included) twice in one run, with the shipped features and with that
variant's (in this process), and sets the two side by side. The variant's features and
fold models go to their own folders (`--variant-cache`, `--work`), never the shared
feature cache: the variant does not change the features' hash. Actors 21-24 are not read.
(The shipped stage of the committed `reports/ablation_conditions`, made on another
machine, differs from a rerun here by up to 0.008 in accuracy: 2 of 240 clips.)

    .venv/bin/python experiments/active_frames_recipe.py [--out reports/active_frames/recipe]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ablation_conditions
import active_frames
from floor_ablation import write_summary

HYBRID = "functionals over active frames (20 dB), the rest over every frame"
WITHIN_DB, EVERY_FRAME = active_frames.VARIANTS[HYBRID]
VARIANT = "vtlp+conditions"
SETTING = f"{VARIANT} teacher"  # the fold teachers' name in the stage's tables


def compare(variant: dict, shipped: dict) -> list[dict]:
    """Per condition: accuracy and ECE of the shipped features' and the variant's fold
    teachers (mean over the inner folds)."""
    return [{"condition": c,
             "shipped": {k: shipped[c][SETTING][k] for k in ("accuracy", "ece")},
             "variant": {k: variant[c][SETTING][k] for k in ("accuracy", "ece")}}
            for c in variant]


def render(summary: dict) -> str:
    rows = summary["conditions"]
    clean = {k: next(r for r in rows if r["condition"] == "clean")[k]["accuracy"]
             for k in ("shipped", "variant")}
    lines = ["# The strict active-frame lead under the deployed training recipe", "",
             f"Command: `{summary['command']}` ({summary['seconds']:.0f} s).", "",
             __doc__.split("\n\n", 1)[1].split("\n\n    .venv")[0], "",
             "| condition | shipped: accuracy / ECE (share of clean) | variant: accuracy / "
             "ECE (share of clean) | accuracy change |", "|---|---|---|---|"]
    for r in rows:
        s, v = r["shipped"], r["variant"]
        lines.append(f"| {r['condition']} | {s['accuracy']:.3f} / {s['ece']:.3f} "
                     f"({s['accuracy'] / clean['shipped']:.0%}) | {v['accuracy']:.3f} / "
                     f"{v['ece']:.3f} ({v['accuracy'] / clean['variant']:.0%}) | "
                     f"{v['accuracy'] - s['accuracy']:+.3f} |")
    degraded = [r for r in rows if r["condition"] != "clean"]
    change = sum(r["variant"]["accuracy"] - r["shipped"]["accuracy"]
                 for r in degraded) / len(degraded)
    lines += ["", f"Mean accuracy change over the {len(degraded)} degradations: "
              f"{change:+.3f}; clean: {clean['variant'] - clean['shipped']:+.3f}.", ""]
    return "\n".join(lines)


def run_stage(args, features: str, rule, cache: str, jobs: int) -> dict:
    """``ablation_conditions``' condition stage under ``rule()``, its fold models and its
    own report (whose command does not show the rule) in ``--work``/``features`` -> the
    stage's per-condition means."""
    stage = Path(args.work).resolve() / features / "stage"
    with rule():
        ablation_conditions.main([
            "--manifest", str(Path(args.manifest).resolve()),
            "--data", str(Path(args.data).resolve()), "--cache", str(Path(cache).resolve()),
            "--work", str(Path(args.work).resolve() / features), "--jobs", str(jobs),
            "--world", "--variants", VARIANT, "--stages", "conditions", "--out", str(stage)])
    return json.loads((stage / "summary.json").read_text())["conditions"]["conditions"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--data", default="../shared/data/ravdess")
    p.add_argument("--cache", default=".cache/features", help="the shipped features' cache")
    p.add_argument("--jobs", type=int, default=2, help="the shipped features' extraction")
    p.add_argument("--variant-cache", default=".cache/active_frames_recipe/features")
    p.add_argument("--work", default=".cache/active_frames_recipe/models")
    p.add_argument("--out", default="reports/active_frames/recipe")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()  # the stages run from the repository root
    start = time.perf_counter()
    shipped = run_stage(args, "shipped", contextlib.nullcontext, args.cache, args.jobs)
    variant = run_stage(args, "variant", functools.partial(
        active_frames.active_only, WITHIN_DB, EVERY_FRAME), args.variant_cache, 1)
    summary = {"command": "python experiments/active_frames_recipe.py"
               + "".join(f" {a}" for a in (argv or sys.argv[1:])),
               "within_db": WITHIN_DB, "every_frame": list(EVERY_FRAME),
               "seconds": time.perf_counter() - start,
               "conditions": compare(variant, shipped)}
    write_summary(out, summary, render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
