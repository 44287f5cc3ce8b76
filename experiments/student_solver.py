"""Did fitting the student on float32 inputs cost it robustness? -> reports/student_solver/.

Since ``FIT_REVISION`` 2 (c71d1e8) the student's lbfgs runs on float32 inputs (the
``make run`` time budget). Later the shipped student lost ground against its teacher in
the inner folds (``reports/ablation_width``, ``reports/speaker_conditions``); the recipe's
coloured copies changed at the same time. This measurement separates the two: on the same
inner-fold teachers (the deployed recipe, RAVDESS actors 1-20, 5 folds of 4 actors; the
work folder of ``ablation_students``, whose teachers and 1200-wide students are reused
when cached) the deployed student (``compact_int8``, width 1200, ``--calibration
temperature``) is distilled twice, as this library fits it and with the solver's inputs
in float64 as the code before revision 2 fitted it (cards saved with no
``fit_revision``), and both are scored on ``ablation_width``'s benchmark (104 clips per
fold, every degradation, WORLD included). RAVDESS actors 21-24 are read by nothing.

It chooses nothing: it reports each student's gap to the teacher per condition and the
float64 student's gap to the float32 one (paired bootstrap over the pooled clips).

    PYTHONPATH=. .venv/bin/python experiments/student_solver.py --world
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import bench_conditions as bench  # sibling scripts: their folder is sys.path[0]
import numpy as np

from ser_classic.deployment import MAX_LOSS

KIND, WIDTH, FOLD_CLIPS = "compact_int8", 1200, 104
SETTINGS = ("float32", "float64")


def parse_args(argv=None):
    p = bench.ablation_parser(__doc__, name="student_solver", per_normalization=True)
    p.set_defaults(work=".cache/models/ablation_students")
    return p.parse_args(argv)


@contextlib.contextmanager
def float64_fits():
    """The student's lbfgs on float64 inputs, as before ``FIT_REVISION`` 2; the cards
    saved inside record no revision, as that code's did."""
    from sklearn.linear_model import LogisticRegression

    from ser_classic import artifact
    from ser_classic.distill import _estimators

    saved = (_estimators.Float32LogisticRegression, _estimators.standardised,
             artifact.FIT_REVISION)
    standardised = saved[1]
    _estimators.Float32LogisticRegression = LogisticRegression
    _estimators.standardised = lambda X, dtype=None: standardised(X, dtype=np.float64)
    artifact.FIT_REVISION = None
    try:
        yield
    finally:
        (_estimators.Float32LogisticRegression, _estimators.standardised,
         artifact.FIT_REVISION) = saved


def float64_student(args, manifest, teacher: Path) -> Path:
    """The float64 twin of the fold's deployed student, beside it: :func:`bench.fold_student`
    inside :func:`float64_fits`, where only a cached card with no revision counts as
    fitted by this code (reused), so a float32 student is never taken for its twin."""
    with float64_fits():
        return bench.fold_student(
            args, manifest, teacher,
            teacher.parent / f"{bench.student_folder(KIND, WIDTH)}-float64", student=KIND,
            calibration="temperature", width=WIDTH, command="student_solver --float64")


def run(args, manifest, norm: str) -> dict:
    def train(k: int, actors: list[str]) -> dict[str, Path]:
        teacher = bench.fold_teacher(args, manifest, norm, k, actors,
                                     command=f"ablation_students --fold {k}")
        float32 = bench.fold_student(
            args, manifest, teacher, teacher.parent / bench.student_folder(KIND, WIDTH),
            student=KIND, calibration="temperature", width=WIDTH,
            command=f"ablation_students --fold {k} --student {KIND}")
        return {"teacher": teacher, "float32": float32,
                "float64": float64_student(args, manifest, teacher)}

    records = bench.inner_records(args.data, exclude_emotions=bench.RECIPE_NO_EMOTIONS)
    inner = bench.inner_conditions(train, records, n=FOLD_CLIPS, seed=args.seed,
                                   gaps={"float32": "teacher", "float64": "float32"},
                                   world=args.world)
    cond = inner["conditions"]
    gaps = {s: inner["student_gaps"][bench.teacher_column(cond, s)] for s in SETTINGS}
    return {"conditions": bench.settings_table(cond, ["teacher", *SETTINGS]),
            "gaps": gaps, "fold_models": inner["models"]}


def write_report(summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    n_pooled = FOLD_CLIPS * len(summary["inner_folds"])
    lines = ["# Did the float32 solver cost the student robustness?", "",
             f"Command: `{summary['command']}` ({summary['seconds']:.0f} s on "
             f"{summary['machine']}).", "", *bench.runs_lines(summary),
             f"The deployed student (`{KIND}`, width {WIDTH}, `--calibration temperature`) "
             "distilled from the same inner-fold teachers (the deployed recipe, `--augment "
             f"{summary['augment']} --copies {summary['copies']}`; RAVDESS actors 1-20 in "
             f"{len(summary['inner_folds'])} folds; actors 21-24 unread) twice: `float32`, "
             "as the library fits it (lbfgs on float32 inputs, `FIT_REVISION` 2), and "
             "`float64`, with the solver's inputs in float64 as before revision 2. "
             f"{FOLD_CLIPS} clips of each fold's actors, clean and under each of the "
             f"{bench.degradation_count(world=summary['world'])} degradations; accuracy, "
             "mean over the folds. A measurement: it chooses nothing.", ""]
    for norm, res in summary["normalizations"].items():
        c = res["conditions"]
        gap = {s: {k: c[s][k]["accuracy"] - c["teacher"][k]["accuracy"] for k in c["teacher"]}
               for s in SETTINGS}
        lines += [f"## {norm}", "",
                  "| condition | teacher | `float32` (shipped) | `float64` |",
                  "|---|---|---|---|"]
        lines += [f"| {k} | {c['teacher'][k]['accuracy']:.3f} | "
                  + " | ".join(f"{c[s][k]['accuracy']:.3f} ({gap[s][k]:+.3f})"
                               for s in SETTINGS) + " |" for k in c["teacher"]]
        lines += ["| mean gap to the teacher | | " + " | ".join(
                      f"{np.mean(list(gap[s].values())):+.3f}" for s in SETTINGS) + " |",
                  f"| conditions more than {MAX_LOSS:g} below the teacher | | " + " | ".join(
                      f"{sum(g < -MAX_LOSS - 1e-12 for g in gap[s].values())} / {len(gap[s])}"
                      for s in SETTINGS) + " |", "",
                  f"Paired differences on the same {n_pooled} clips (every fold's pooled), "
                  "percentile bootstrap 95 % CI over the clips: `float32` minus the teacher, "
                  "and `float64` minus `float32` (✗ / ? read against "
                  f"-{MAX_LOSS:g} as in `reports/ablation_width`):", "",
                  *bench.student_gaps_md(res["gaps"]), ""]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.merge:
        return bench.merge_reports(args.merge, out=args.out, write=write_report)
    start = time.perf_counter()
    manifest, header = bench.start_ablation(args, script="student_solver.py", argv=argv)
    summary = {**header, "inner_folds": bench.inner_folds(manifest["speaker"]),
               "normalizations": {}}
    for norm in [n for n in args.normalizations.split(",") if n]:
        summary["normalizations"][norm] = run(args, manifest, norm)
    return bench.finish_ablation(summary, start=start, out=args.out, write=write_report)


if __name__ == "__main__":
    sys.exit(main())
