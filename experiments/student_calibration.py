"""Should the deployed student ship with a temperature (issue 19, item 7)? ->
reports/student_calibration/.

The compact student is distilled from the teacher's probabilities and then, by default
(``--calibration temperature``), divided by one temperature fitted on speaker-grouped
out-of-fold predictions of all its training rows, 60 % of which are TESS's two speakers.
This compares that with no temperature (the student's own softmax of the teacher's soft
targets) and with ``corpus_temperature`` (T on those predictions pooled with
leave-one-corpus-out ones, as ``reports/calibration`` fits the teachers'), the deployed
recipe otherwise (``linear`` teacher, RAVDESS + TESS + EMOVO
without calm, the stored teacher's augmentation (``vtlp+conditions`` with 1 copy when
the committed report ran), ``compact_int8``, ``--transfer
teacher``), on the training corpora only; RAVDESS actors 21-24 are read by nothing:

(a) held-out speakers: inner folds of RAVDESS actors 1-20 (5 folds of 4), the teacher
    trained without the fold's actors (the stored teacher's parameters, as
    ``experiments/ablation_students.py``, whose fold teachers it shares) and a student
    distilled from it with each calibration; ECE (15 bins) and accuracy on
    ``--fold-clips`` of the fold's clips, clean and under the 13 degradations (14 with
    ``--world``) of ``experiments/bench_conditions.py``, mean over the folds;
(b) held-out corpora: the main job's held-out-corpus A/B (:func:`ser_classic.corpus_ab`,
    parameters tuned in each fold) with each student calibration; ECE per corpus.

Rule, per normalisation, fixed before the run: the calibration with the lower mean of
three ECEs: (a) clean, (a) mean over the degradations, (b) mean over the corpora.

    PYTHONPATH=. .venv/bin/python experiments/student_calibration.py \\
        --out reports/student_calibration

``--world --stages inner`` reruns the inner folds alone and keeps (b) from the report
at ``--out`` (WORLD changes only the inner folds' conditions).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import bench_conditions as bench  # sibling scripts: their folder is sys.path[0]
import numpy as np

from ser_classic.deployment import corpus_ab

CORPORA, NO_EMOTIONS = bench.RECIPE_CORPORA, bench.RECIPE_NO_EMOTIONS
AUGMENT, COPIES = bench.RECIPE_AUGMENT, bench.RECIPE_COPIES
STUDENT = "compact_int8"  # the default; a summary without "student" measured it
CALIBRATIONS = ("none", "temperature", "corpus_temperature")
# (a) and (b) of the module docstring: stage -> its results in a normalisation's summary
STAGES = {"inner": ("inner", "fold_models"), "loco": ("loco",)}


def parse_args(argv=None):
    # the fold teachers are ablation_students' (same recipe, same folds)
    p = bench.ablation_parser(__doc__, name="ablation_students", per_normalization=True)
    p.set_defaults(out="reports/student_calibration")
    p.add_argument("--fold-clips", type=int, default=48,
                   help="clips of each inner fold's actors under each condition")
    p.add_argument("--student", default=STUDENT,
                   help="the student's kind, as `ser-classic distil --student`; the "
                        "Makefile passes the deployed STUDENT")
    p.add_argument("--width", type=int, default=None,
                   help="the student's columns, as `ser-classic distil --width` (default: "
                        "the library's); the Makefile passes the deployed WIDTH")
    p.add_argument("--stages", default=",".join(STAGES),
                   help="stages to run; a stage left out is kept from the summary.json at "
                        "--out (same width, fold clips, normalisations and folds), its "
                        "command named in the report")
    return p.parse_args(argv)


def run_inner(args, manifest, norm: str) -> dict:
    def train(k: int, actors: list[str]) -> dict[str, Path]:
        teacher = bench.fold_teacher(args, manifest, norm, k, actors,
                                     command=f"student_calibration --fold {k}")
        # ablation_students' student (of the same width) is the temperature one: shared
        return {"teacher": teacher, **{cal: bench.fold_student(
            args, manifest, teacher,
            teacher.parent / bench.student_folder(args.student, args.width, cal),
            student=args.student, calibration=cal, width=args.width,
            command=f"student_calibration --fold {k} --calibration {cal}")
            for cal in CALIBRATIONS}}

    records = bench.inner_records(args.data, exclude_emotions=NO_EMOTIONS)
    # a neutral reference needs each speaker's neutral clips: every clip of the fold's
    # actors (4 neutral each) instead of --fold-clips drawn ones
    inner = bench.inner_conditions(train, records,
                                   n=0 if norm == "neutral_ref" else args.fold_clips,
                                   seed=args.seed, world=args.world)
    out = bench.settings_table(inner["conditions"], ["teacher", *CALIBRATIONS])
    return {"per_condition": out, "folds": inner["folds"], "models": inner["models"]}


def run_loco(args, manifest, norm: str) -> dict:
    tune = bench.tuning(bench._stored_training(bench.teacher_alias(norm)))
    out = {}
    for cal in CALIBRATIONS:
        ab = corpus_ab(manifest, model="linear", corpora=CORPORA, students=[args.student],
                       normalization=norm, tune=tune, exclude_emotions=NO_EMOTIONS,
                       augment=AUGMENT, copies=COPIES, transfer="teacher",
                       student_calibration=cal, width=args.width, random_state=args.seed,
                       cache_dir=args.cache, n_jobs=args.jobs,
                       # one teacher per fold for every calibration (an uncalibrated
                       # one: not ablation_students' "loco" teachers)
                       work_dir=Path(args.work) / norm / "loco-student_calibration",
                       progress=lambda m, cal=cal: print(f"loco {norm} {cal} {m}", flush=True))
        s = ab.summary
        kind = args.student
        out[cal] = {"mean_uar": s["mean"][kind]["uar"], "mean_ece": s["mean"][kind]["ece"],
                    "corpora": {c: {"uar": s["folds"][c][kind]["uar"],
                                    "ece": s["folds"][c][kind]["ece"]} for c in CORPORA}}
        out.setdefault("teacher", {"mean_uar": s["mean"]["teacher"]["uar"],
                                   "mean_ece": s["mean"]["teacher"]["ece"]})
    return out


def decide(inner: dict, loco: dict) -> dict:
    """The rule of the module docstring."""
    scores = {}
    for cal in CALIBRATIONS:
        per = inner[cal]
        degraded = [per[c]["ece"] for c in per if c != "clean"]
        parts = {"clean": per["clean"]["ece"], "degraded": float(np.mean(degraded)),
                 "corpora": loco[cal]["mean_ece"]}
        scores[cal] = {**parts, "mean": float(np.mean(list(parts.values())))}
    return {"chosen": min(CALIBRATIONS, key=lambda c: scores[c]["mean"]), "scores": scores}


def write_report(summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    lines = ["# Should the deployed student ship with a temperature? (issue 19, item 7)", "",
             f"Command: `{summary['command']}` ({summary['seconds']:.0f} s on "
             f"{summary['machine']}).", "",
             *bench.runs_lines(summary), *bench.kept_lines(summary),
             f"`{_student(summary)}` ({_width(summary)}) distilled from the deployed teacher "
             "recipe "
             f"(`linear`, `--augment {summary['augment']} --copies {summary['copies']}`) "
             "with `--calibration none` (the student's own softmax), `temperature` (one T "
             "on its speaker-grouped out-of-fold predictions, "
             "what both students shipped with before this run) or `corpus_temperature` (one "
             "T on those pooled with its leave-one-corpus-out predictions). The Makefile's "
             "`STUDENT_CALIBRATION_<normalisation>` ships each choice. Chosen on the "
             "training corpora only: (a) inner folds of RAVDESS actors 1-20 "
             f"({len(summary['inner_folds'])} folds of {bench.INNER_FOLD_ACTORS} actors; per "
             "fold the teacher trained without them and every student distilled from it; "
             f"{summary['fold_clips']} of their clips per condition; speaker_norm: each "
             "speaker's statistics from the same condition"
             + ("; neutral_ref: every clip of the fold's actors, each speaker centred on "
                "its neutral clips of the same condition, a neutral clip on the others"
                if "neutral_ref" in summary["normalizations"] else "")
             + "), mean over the folds; (b) the "
             "held-out-corpus A/B (each of RAVDESS, TESS, EMOVO held out; RAVDESS: actors "
             "1-20, so its figures are not `reports/ab/corpus`'s; TESS is a validation "
             "corpus, not a blind test). RAVDESS actors 21-24 are read by no measurement. "
             "ECE: 15 equal-width bins of the top-1 probability.", "",
             "Rule, fixed before the run: the calibration with the lower mean of three "
             "ECEs: (a) clean, (a) mean over the "
             f"{bench.degradation_count(world=summary.get('world', False))} degradations, "
             "(b) mean over the corpora.", "",
             "Resolution: an ECE of 15 bins over the few clips of one fold is biased "
             "upwards (the teacher's clean ECE in (a) is far above its 0.07 on the 208 clips "
             "of actors 21-24 in `reports/conditions/`), so (a) tells the calibrations "
             "apart only where they differ by much; (b) scores 588 to 2800 clips per "
             "corpus.", ""]
    for norm, res in summary["normalizations"].items():
        names = ["teacher", *CALIBRATIONS]
        inner = res["inner"]
        lines += [f"## {norm}", "",
                  "| (a) held-out speakers: accuracy / ECE | " + " | ".join(
                      f"`{n}`" for n in names) + " |", "|---|" + "---|" * len(names)]
        for c in inner["teacher"]:
            lines.append(f"| {c} | " + " | ".join(
                f"{inner[n][c]['accuracy']:.3f} / {inner[n][c]['ece']:.3f}" for n in names)
                + " |")
        loco = res["loco"]
        lines += ["", "| (b) held-out corpus: UAR / ECE | `teacher` | " + " | ".join(
                      f"`{n}`" for n in CALIBRATIONS) + " |", "|---|" + "---|" * len(names),
                  "| mean | " + f"{loco['teacher']['mean_uar']:.3f} / "
                  f"{loco['teacher']['mean_ece']:.3f} | " + " | ".join(
                      f"{loco[n]['mean_uar']:.3f} / {loco[n]['mean_ece']:.3f}"
                      for n in CALIBRATIONS) + " |"]
        for c in CORPORA:
            lines.append(f"| {c} | | " + " | ".join(
                f"{loco[n]['corpora'][c]['uar']:.3f} / {loco[n]['corpora'][c]['ece']:.3f}"
                for n in CALIBRATIONS) + " |")
        d = res["decision"]
        lines += ["", "| rule: ECE | (a) clean | (a) degraded | (b) corpora | mean |",
                  "|---|---|---|---|---|"]
        lines += [f"| `{n}` | {s['clean']:.3f} | {s['degraded']:.3f} | {s['corpora']:.3f} | "
                  f"{s['mean']:.3f} |" for n, s in d["scores"].items()]
        lines += ["", f"Chosen: **`{d['chosen']}`**.", ""]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def _student(summary: dict) -> str:
    return summary.get("student", STUDENT)


def _width(summary: dict) -> str:
    width = bench.student_width(_student(summary), summary.get("width"))
    if width is None:
        return "every column it is offered"
    return f"width {width}" + ("" if summary.get("width") else ", the library's")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.merge:
        return bench.merge_reports(args.merge, out=args.out, write=write_report)
    start = time.perf_counter()
    manifest, header = bench.start_ablation(args, script="student_calibration.py", argv=argv)
    summary = {**header, "student": args.student, "fold_clips": args.fold_clips,
               "width": args.width,
               "inner_folds": bench.inner_folds(manifest["speaker"]), "normalizations": {}}
    stages = [s for s in args.stages.split(",") if s]
    norms = [n for n in args.normalizations.split(",") if n]
    kept = bench.kept_stages(summary, norms, out=args.out, run=stages, stages=STAGES,
                             same=("student", "width", "fold_clips", "inner_folds",
                                   "seed"))
    for norm in norms:
        res = dict(kept.get(norm, {}))
        if "inner" in stages:
            inner = run_inner(args, manifest, norm)
            res.update(inner=inner["per_condition"], fold_models=inner["models"])
        if "loco" in stages:
            res["loco"] = run_loco(args, manifest, norm)
        res["decision"] = decide(res["inner"], res["loco"])
        summary["normalizations"][norm] = res
        print(f"{norm}: chosen {res['decision']['chosen']}", flush=True)
    return bench.finish_ablation(summary, start=start, out=args.out, write=write_report)


if __name__ == "__main__":
    sys.exit(main())
