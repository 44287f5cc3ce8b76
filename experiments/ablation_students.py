"""Which student kind keeps the teacher's robustness (issue 19, item 8) ->
reports/ablation_students/.

The deployed model is a student distilled from the `linear` teacher; item 8 asks that it
stay within 3 points of its teacher in every condition of the benchmark and on leave one
corpus out. Each candidate kind is distilled as the main job distils it (``--transfer
teacher --calibration temperature``, the deployed recipe's teacher: RAVDESS + TESS +
EMOVO without calm, the stored teacher's augmentation (``vtlp+conditions+pitch`` with
1 copy when the committed report ran); parameters: the stored teacher's in
the inner folds, tuned in every fold as the main job's A/B tunes them in LOCO),
per normalisation, and measured on the training corpora only; RAVDESS actors 21-24, the
held-out speakers of ``experiments/bench_conditions.py``'s report, are read by nothing:

(a) leave one corpus out (:func:`ser_classic.corpus_ab`, the main job's A/B with every
    kind): closed-set UAR on each corpus of teacher and students trained on the other two;
(b) the condition benchmark in inner folds (RAVDESS actors 1-20, 5 folds of 4
    consecutive actors; per fold, the teacher trained without the fold's actors and every
    kind distilled from it, scored on ``--fold-clips`` of their clips under the clean
    condition and the 13 degradations, 14 with ``--world``): accuracy per condition,
    mean over the folds.

Rule, per normalisation (fixed before this run; the kinds are listed fastest first by
``reports/optimization``'s end-to-end time): the first kind whose mean LOCO UAR and
whose accuracy in every condition of (b) are at most 0.03 below the teacher's; when none
is, the kind with the fewest conditions more than 0.03 below the teacher (ties: the
smaller mean gap over the conditions), and the report says item 8 is missed.

    PYTHONPATH=. .venv/bin/python experiments/ablation_students.py \\
        --out reports/ablation_students

``--world --stages conditions`` reruns the inner folds alone and keeps (a) from the report
at ``--out`` (WORLD changes only the inner folds' conditions).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import bench_conditions as bench  # sibling scripts: their folder is sys.path[0]
import numpy as np

from ser_classic.deployment import MAX_LOSS, corpus_ab
from ser_classic.distill import parse_student

CORPORA, NO_EMOTIONS = bench.RECIPE_CORPORA, bench.RECIPE_NO_EMOTIONS
AUGMENT, COPIES = bench.RECIPE_AUGMENT, bench.RECIPE_COPIES
# fastest first: end-to-end ms per clip in reports/optimization (2.0, 2.5, 3.2)
STUDENTS = "linear_int8,compact_fast_int8,compact_int8"
# (b) and (a) of the module docstring: stage -> its results in a normalisation's summary
STAGES = {"conditions": ("conditions", "gaps", "fold_models"), "loco": ("loco",)}


def parse_args(argv=None):
    p = bench.ablation_parser(__doc__, name="ablation_students", per_normalization=True)
    p.add_argument("--students", default=STUDENTS, help="kinds, fastest first")
    p.add_argument("--widths", default="",
                   help="the compact kinds' widths, narrowest first (empty: the library's)")
    p.add_argument("--fold-clips", type=int, default=48,
                   help="clips of each inner fold's actors under the degradations")
    p.add_argument("--stages", default=",".join(STAGES),
                   help="stages to run; a stage left out is kept from the summary.json at "
                        "--out (same candidates, normalisations and folds), its command "
                        "named in the report")
    return p.parse_args(argv)


def candidates(kinds: list[str], widths: list[int]) -> dict[str, tuple[str, int | None]]:
    """Label -> (kind, width): each compact kind at every one of ``widths`` (none: the
    library's), the other kinds once, in the order given."""
    out = {}
    for kind in kinds:
        for w in (widths if widths and parse_student(kind)[0].width is not None else [None]):
            out[kind if w is None else f"{kind} (width {w})"] = (kind, w)
    return out


def run_loco(args, manifest, norm: str, cands: dict) -> dict:
    alias = bench.teacher_alias(norm)
    tune = bench.tuning(bench._stored_training(alias))
    if tune is None:
        raise RuntimeError(f"the stored {alias}'s parameters were not tuned on its corpora "
                           f"(make deploy-selected tunes them)")
    out = {}
    # one A/B per width (corpus_ab distils at one width), of the same fold teachers (kept in
    # the work folder)
    for width in dict.fromkeys(w for _, w in cands.values()):
        labels = {label: kind for label, (kind, w) in cands.items() if w == width}
        ab = corpus_ab(manifest, model="linear", corpora=CORPORA,
                       students=list(labels.values()), width=width,
                       normalization=norm, tune=tune, exclude_emotions=NO_EMOTIONS,
                       augment=AUGMENT, copies=COPIES, transfer="teacher",
                       calibration="temperature", random_state=args.seed,
                       cache_dir=args.cache, work_dir=Path(args.work) / norm / "loco",
                       n_jobs=args.jobs,
                       progress=lambda m: print(f"loco {norm} {m}", flush=True))
        s = ab.summary
        for label, n in {"teacher": "teacher", **labels}.items():
            out.setdefault(label, {
                "mean_uar": s["mean"][n]["uar"], "mean_ece": s["mean"][n]["ece"],
                "corpora": {c: {"uar": s["folds"][c][n]["uar"], "ece": s["folds"][c][n]["ece"]}
                            for c in CORPORA}})
    return out


def run_inner_conditions(args, manifest, norm: str, cands: dict) -> dict:
    def train(k: int, actors: list[str]) -> dict[str, Path]:
        teacher = bench.fold_teacher(args, manifest, norm, k, actors,
                                     command=f"ablation_students --fold {k}")
        return {"teacher": teacher, **{label: bench.fold_student(
            args, manifest, teacher, teacher.parent / bench.student_folder(kind, width),
            student=kind, calibration="temperature", width=width,
            command=f"ablation_students --fold {k} --student {kind}")
            for label, (kind, width) in cands.items()}}
    kinds = list(cands)

    records = bench.inner_records(args.data, exclude_emotions=NO_EMOTIONS)
    inner = bench.inner_conditions(train, records, n=args.fold_clips, seed=args.seed,
                                   gaps={kind: "teacher" for kind in kinds},
                                   world=args.world)
    cond = inner["conditions"]
    out = bench.settings_table(cond, ["teacher", *kinds])
    gaps = {kind: inner["student_gaps"][bench.teacher_column(cond, kind)] for kind in kinds}
    return {"per_condition": out, "gaps": gaps, "folds": inner["folds"],
            "models": inner["models"]}


def decide(loco: dict, conditions: dict, kinds: list[str]) -> dict:
    """The rule of the module docstring."""
    teacher = conditions["teacher"]

    def missed(gap: float) -> bool:
        return gap > MAX_LOSS + 1e-12  # more than 3 points below the teacher

    verdict = {}
    for kind in kinds:
        gaps = {c: teacher[c]["accuracy"] - conditions[kind][c]["accuracy"] for c in teacher}
        loco_gap = loco["teacher"]["mean_uar"] - loco[kind]["mean_uar"]
        verdict[kind] = {"loco_gap": loco_gap, "loco_missed": missed(loco_gap), "gaps": gaps,
                         "conditions_missed": sorted(c for c, g in gaps.items() if missed(g)),
                         "mean_gap": float(np.mean(list(gaps.values())))}
        verdict[kind]["meets"] = not (verdict[kind]["loco_missed"]
                                      or verdict[kind]["conditions_missed"])
    chosen = next((k for k in kinds if verdict[k]["meets"]), None)
    met = chosen is not None
    if not met:
        chosen = min(kinds, key=lambda k: (len(verdict[k]["conditions_missed"])
                                           + verdict[k]["loco_missed"], verdict[k]["mean_gap"]))
    return {"chosen": chosen, "item8_met": met, "verdict": verdict}


def write_report(summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    kinds = summary["students"]
    lines = ["# Which student keeps the teacher's robustness (issue 19, item 8)", "",
             f"Command: `{summary['command']}` ({summary['seconds']:.0f} s on "
             f"{summary['machine']}).", "", *bench.runs_lines(summary),
             *bench.kept_lines(summary),
             "Candidates (fastest first, end-to-end time in `reports/optimization`"
             + ("; a compact kind at each width, narrowest first: the columns its "
                "elimination keeps, `ser-classic distil --width`" if summary.get("widths")
                else "") + "): "
             + ", ".join(f"`{k}`" for k in kinds) + ". "
             + "Each is distilled as the main job distils its student (`--transfer teacher "
             "--calibration temperature`) from the "
             "deployed teacher recipe (`linear`; RAVDESS + TESS + EMOVO without calm; "
             f"`--augment {summary['augment']} --copies {summary['copies']}`; in the inner "
             "folds the stored teacher's parameters, fixed; in leave one corpus out tuned "
             "in every fold as the main job's A/B tunes them). RAVDESS actors 21-24, the "
             "held-out speakers of `reports/conditions/`, are read by no measurement. (a) "
             "Leave one corpus out: closed-set UAR on each corpus (RAVDESS: actors 1-20) "
             "of the teacher and its "
             "students trained on the other two (`ser_classic.corpus_ab`; TESS is one of "
             "the three corpora, as in every LOCO figure). (b) The condition benchmark of "
             "`experiments/bench_conditions.py` in inner folds of RAVDESS actors 1-20 "
             f"({len(summary['inner_folds'])} folds of {bench.INNER_FOLD_ACTORS} consecutive "
             "actors): per fold the teacher is trained without the fold's actors and every "
             f"kind distilled from it; {summary['fold_clips']} of the fold's clips, clean and "
             f"under each of the {bench.degradation_count(world=summary.get('world', False))} "
             "degradations (speaker_norm: each speaker's statistics from the same "
             "condition); "
             "accuracy, mean over the folds.", "",
             "Rule, per normalisation, fixed before the run: the first kind whose mean LOCO "
             f"UAR and whose accuracy in every condition of (b) are at most {MAX_LOSS:.2f} "
             "below the teacher's (item 8); when none is, the kind with the fewest misses "
             "(ties: the smaller mean gap over the conditions).", ""]
    n_pooled = summary["fold_clips"] * len(summary["inner_folds"])
    for norm, res in summary["normalizations"].items():
        v = res["decision"]["verdict"]
        names = ["teacher", *kinds]
        lines += [f"## {norm}", "",
                  "| | " + " | ".join(f"`{n}`" for n in names) + " |",
                  "|---|" + "---|" * len(names),
                  "| (a) LOCO mean UAR (EMOVO / RAVDESS / TESS) | " + " | ".join(
                      f"{res['loco'][n]['mean_uar']:.3f} (" + " / ".join(
                          f"{res['loco'][n]['corpora'][c]['uar']:.3f}" for c in CORPORA)
                      + ")" for n in names) + " |",
                  "| (a) LOCO mean ECE | " + " | ".join(
                      f"{res['loco'][n]['mean_ece']:.3f}" for n in names) + " |"]
        for c in res["conditions"]["teacher"]:
            cells = []
            for n in names:
                acc = res["conditions"][n][c]["accuracy"]
                mark = " ✗" if n != "teacher" and c in v[n]["conditions_missed"] else ""
                cells.append(f"{acc:.3f}{mark}")
            lines.append(f"| (b) {c} | " + " | ".join(cells) + " |")
        lines += ["| (b) mean gap to the teacher | | " + " | ".join(
                      f"{v[k]['mean_gap']:+.3f}" for k in kinds) + " |",
                  "| conditions more than 0.03 below the teacher | | " + " | ".join(
                      f"{len(v[k]['conditions_missed'])} / "
                      f"{len(res['conditions']['teacher'])}" for k in kinds) + " |",
                  "| LOCO within 0.03 | | " + " | ".join(
                      "no" if v[k]["loco_missed"] else "yes"
                      for k in kinds) + " |", ""]
        if "gaps" in res:  # reports made before the paired CIs were stored lack them
            lines += [f"(b) student minus teacher accuracy on the same {n_pooled} clips "
                      "(every fold's pooled), paired percentile bootstrap 95 % CI over the "
                      f"clips; ✗: the whole CI more than {MAX_LOSS:g} below the teacher; ?: "
                      "these clips cannot tell:", "", *bench.student_gaps_md(res["gaps"]), ""]
        d = res["decision"]
        lines += [f"Chosen: **`{d['chosen']}`** "
                  + ("(meets item 8 in these folds)." if d["item8_met"] else
                     "(no kind meets item 8 in these folds: the fewest misses)."), ""]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.merge:
        return bench.merge_reports(args.merge, out=args.out, write=write_report)
    start = time.perf_counter()
    cands = candidates([k for k in args.students.split(",") if k],
                       [int(w) for w in args.widths.split(",") if w])
    kinds = list(cands)
    manifest, header = bench.start_ablation(args, script="ablation_students.py",
                                            argv=argv)
    summary = {**header, "fold_clips": args.fold_clips, "students": kinds,
               "widths": sorted({w for _, w in cands.values() if w is not None}),
               "inner_folds": bench.inner_folds(manifest["speaker"]), "normalizations": {}}
    stages = [s for s in args.stages.split(",") if s]
    norms = [n for n in args.normalizations.split(",") if n]
    kept = bench.kept_stages(summary, norms, out=args.out, run=stages, stages=STAGES,
                             same=("students", "widths", "fold_clips", "inner_folds", "seed"))
    for norm in norms:
        res = dict(kept.get(norm, {}))
        if "conditions" in stages:
            inner = run_inner_conditions(args, manifest, norm, cands)
            res.update(conditions=inner["per_condition"], gaps=inner["gaps"],
                       fold_models=inner["models"])
        if "loco" in stages:
            res["loco"] = run_loco(args, manifest, norm, cands)
        res["decision"] = decide(res["loco"], res["conditions"], kinds)
        summary["normalizations"][norm] = res
        print(f"{norm}: chosen {res['decision']['chosen']}", flush=True)
    return bench.finish_ablation(summary, start=start, out=args.out, write=write_report)


if __name__ == "__main__":
    sys.exit(main())
