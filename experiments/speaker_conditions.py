"""The condition benchmark on every inner-fold clip -> reports/speaker_conditions/.

Measurement only: nothing is chosen or shipped. `reports/conditions` scores the teachers
and the deployed students under each degradation on the 208 clips of RAVDESS actors
21-24: four speakers, and an ECE that a perfectly calibrated model averages 0.085 on
(`reports/targets`), so neither the ECE targets (<= 0.05 clean, <= 0.10 degraded) nor
item 8's (each student within 3 points of its teacher) can be told there. This scores
the same recipes, `speaker_ece`'s inner-fold models (the stored teacher's parameters and
augmentation, the deployed student's kind, width and calibration, each trained without
one fold of 4 consecutive actors of RAVDESS 1-20), on every clip of their fold's actors
but calm under the benchmark's conditions (`bench_conditions.run_conditions`: the same
transformations, babble from 40 clips of the other actors, seeds per fold), pooled: 1040
clips of 20 speakers per condition. Speaker-normalised models: [same condition] reads
each speaker's statistics from that speaker's clips of the same condition, [clean] from
its clean clips. Item 8's gaps carry a paired bootstrap 95 % CI over the 20 speakers
(whole speakers resampled). Actors 21-24 are read by nothing.

Caveat: `student_calibration` chose each student's calibration on 48 clips per fold and
condition of these folds, so the students' ECEs here are not blind to that choice.

    .venv/bin/python experiments/speaker_conditions.py [--world] [--out reports/speaker_conditions]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import bench_conditions as bench  # sibling scripts: their folder is sys.path[0]
import numpy as np
from speaker_ece import measure, recipe_student, student_recipe
from targets import calibrated_ece


def parse_args(argv=None):
    # the fold teachers and students are ablation_students' (speaker_ece's)
    p = bench.ablation_parser(__doc__, name="ablation_students")
    p.set_defaults(out="reports/speaker_conditions")
    p.add_argument("--normalizations", default="strict,speaker_norm")
    return p.parse_args(argv)


def fold_models(args, manifest, k: int, actors, norms) -> dict[str, dict[str, Path]]:
    """``{normalisation: {"teacher": path, "student": path}}`` of inner fold ``k``: the
    teacher recipe and the deployed student, trained without ``actors`` (reused from the
    work folder when there)."""
    out = {}
    for norm in norms:
        recipe = student_recipe(norm)
        teacher = bench.fold_teacher(args, manifest, norm, k, actors,
                                     command=f"speaker_conditions --fold {k}")
        out[norm] = {"teacher": teacher, "student": recipe_student(
            args, manifest, teacher, norm, k, recipe, recipe["calibration"],
            script="speaker_conditions")}
    return out


def pooled(results: list[dict], labels: np.ndarray) -> dict:
    """Each condition's and column's scores on every fold's probabilities pooled."""
    first = results[0]
    classes = {col: np.array(first["models"][col.split(" [")[0]]["classes"])
               for col in first["proba"]["clean"]}
    return {c: {col: bench.scores(np.vstack([r["proba"][c][col] for r in results]),
                                  labels, classes[col])
                for col in classes}
            for c in first["proba"]}


def run(args, manifest) -> dict:
    norms = args.normalizations.split(",")
    records = bench.inner_records(args.data, exclude_emotions=bench.RECIPE_NO_EMOTIONS)
    folds = bench.inner_folds(r["speaker"] for r in records)
    results, labels, speakers, models, seconds = [], [], [], [], []
    for k, actors in enumerate(folds):
        start = time.perf_counter()
        paths = fold_models(args, manifest, k, actors, norms)
        rows, talkers = bench.condition_rows(records, speakers=actors, n=0,
                                             seed=args.seed + k)
        res = bench.run_conditions(paths, rows, talker_rows=talkers, seed=args.seed + k,
                                   world=args.world)
        results.append(res)
        labels += [r["emotion"] for r in rows]
        speakers += [r["speaker"] for r in rows]
        models.append({name: m["model_id"] for name, m in res["models"].items()})
        seconds.append(round(time.perf_counter() - start, 1))
        print(f"fold {k} ({', '.join(actors)}): {len(rows)} clips [{seconds[-1]:.0f} s]",
              flush=True)
    y, groups = np.array(labels), np.array(speakers)
    correct = {c: {col: np.concatenate([r["correct"][c][col] for r in results])
                   for col in results[0]["correct"][c]}
               for c in results[0]["correct"]}
    mean, q95 = calibrated_ece(len(y))
    return {"folds": folds, "models": models, "fold_seconds": seconds,
            "n_clips": len(y), "n_speakers": len(set(speakers)),
            "calibrated": {"mean": mean, "q95": q95},
            "conditions": pooled(results, y),
            "student_gaps": bench.student_gaps(correct, bench.student_pairs(correct["clean"]),
                                               seed=args.seed, groups=groups)}


def render(summary: dict) -> str:
    r = summary["results"]
    doc = __doc__.split("\n\n", 1)[1].split("\n\n    .venv")[0].replace("``", "`")
    per = r["conditions"]
    names = list(per["clean"])
    over = {n: [c for c in per if c != "clean" and per[c][n]["ece"] > bench.TARGETS["ece"]]
            for n in names}
    lines = ["# The condition benchmark on every inner-fold clip", "",
             f"Command: `{summary['command']}` ({summary['seconds']:.0f} s on "
             f"{summary['machine']}).", "", doc, "",
             f"{r['n_clips']} clips of {r['n_speakers']} speakers per condition. A perfectly "
             f"calibrated model shows an ECE of {r['calibrated']['mean']:.3f} on as many "
             f"clips (95th percentile {r['calibrated']['q95']:.3f}; `targets.calibrated_ece`)."
             " Cells: accuracy / UAR / ECE (15 bins; + over-confident, - under-confident) "
             "and accuracy as a share of clean; ✗ where the issue's target for the "
             "condition or its ECE target is missed.", ""]
    lines += bench._conditions_md({"conditions": per})
    lines += ["", "Degradations whose ECE is above 0.10: " + "; ".join(
        f"{n} {len(over[n])} of {len(per) - 1}" for n in names) + ".", "",
        "## Item 8: each student against its teacher", "",
        "Student minus teacher accuracy on the same clips, paired bootstrap 95 % CI over "
        "the speakers (2000 resamples of whole speakers). ✗: the whole CI more than 0.03 "
        "below the teacher; ?: these clips cannot tell.", ""]
    lines += bench.student_gaps_md(r["student_gaps"])
    lines += ["", "Models per fold: " + "; ".join(
        f"fold {k}: " + ", ".join(f"{n} {m}" for n, m in ms.items())
        for k, ms in enumerate(r["models"])), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    results = measure(parse_args(argv), argv, script="speaker_conditions.py", compute=run,
                      render=render)
    print(json.dumps({n: s["ece"] for n, s in results["conditions"]["clean"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
