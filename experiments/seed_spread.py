"""Seed spread of the headline figures -> reports/spread/.

    PYTHONPATH=. .venv/bin/python experiments/seed_spread.py --seeds 0,1,2,3,4 \\
        --cache .cache/features --jobs 1 --out reports/spread

For every seed (the ``random_state`` of :func:`ser_classic.pipeline.cross_validate`,
:func:`~ser_classic.pipeline.train` and :func:`~ser_classic.pipeline.distil`: augmented
copies, inner splits, the transfer set, the students' column elimination) and every
normalisation asked for:

- (a) the selected family's speaker-grouped CV on RAVDESS (``--family``, default
  ``linear`` and its members; 6 folds of 4 actors, inner tuning), UAR and accuracy;
- (b) its teacher (tuned parameters of ``--selection``) and compact int8 student
  (``--student``) trained on RAVDESS actors 1-20, scored on actors 21-24 (every class),
  on TESS and on EMOVO (closed set over the corpus's own labels, as
  :func:`ser_classic.evaluation.leave_one_corpus_out` scores a held-out corpus).
  ``--width N`` distils the compact students with N columns (default: the library's).

The report gives each figure's mean, min, max, range and std over the seeds next to the
95 % speaker-bootstrap CI of the first seed, the model ids of every seed, the columns the
students read (pairwise overlap) and the CV's per-fold tuned parameters. ``--student`` may
name several students to compare their spreads on the same teachers; ``NAME@clips`` and
``NAME@transfer`` distil a compact student with its columns chosen on the training clips
or on every transfer row (:class:`ser_classic.distill.StudentSpec` ``select_on``), e.g.
``--student compact_int8@transfer,compact_int8@clips``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ser_classic import data, evaluation, pipeline
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.recognizer import SpeakerStats, load
from ser_classic.reporting import write_text

HOLDOUT = ("ravdess_21", "ravdess_22", "ravdess_23", "ravdess_24")
TEST_SETS = ("ravdess_21-24", "tess", "emovo")


def _rows(manifest: pd.DataFrame, test_set: str) -> pd.DataFrame:
    if test_set == "ravdess_21-24":
        return manifest[manifest["speaker"].isin(HOLDOUT)].reset_index(drop=True)
    return manifest[manifest["corpus"] == test_set].reset_index(drop=True)


def test_features(manifest: pd.DataFrame, *, cache: str, n_jobs: int) -> dict:
    """Features, labels and speakers of each test set (cached extraction)."""
    out = {}
    for name in TEST_SETS:
        rows = _rows(manifest, name)
        X, _, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=FeatureConfig(),
                                cache_dir=cache, n_jobs=n_jobs)
        ok = ~np.isnan(X).any(axis=1)
        out[name] = (X[ok], rows["emotion"].to_numpy(dtype=str)[ok],
                     rows["speaker"].to_numpy(dtype=str)[ok])
    return out


def score(model_dir: Path, X: np.ndarray, labels: np.ndarray, speakers: np.ndarray, *,
          n_boot: int, random_state: int) -> dict:
    """Accuracy and UAR of a model directory on feature rows, closed set over the labels
    present (the model's classes those labels do not include are dropped), with 95 %
    speaker-bootstrap CIs."""
    rec = load(model_dir)
    proba = np.empty((len(X), len(rec.classes_)))
    for s in np.unique(speakers):
        idx = speakers == s
        stats = (SpeakerStats.from_features(X[idx]) if rec.normalization == "speaker_norm"
                 else None)
        proba[idx] = rec.proba_from_features(X[idx], speaker=stats)
    classes = [c for c in rec.classes_ if c in set(labels)]
    P = evaluation.closed_set_proba(proba, list(rec.classes_), classes)
    y = np.array([classes.index(c) for c in labels])
    pred = P.argmax(axis=1)
    m = evaluation.classification_metrics(y, pred, n_classes=len(classes))
    ci = evaluation.bootstrap_ci(y, pred, speakers, n_classes=len(classes), n_boot=n_boot,
                                 random_state=random_state)
    return {"accuracy": float(m["accuracy"]), "uar": float(m["uar"]),
            "accuracy_ci95": ci["accuracy"], "uar_ci95": ci["uar"], "n_clips": len(y),
            "classes": classes}


def cv_figures(manifest, *, family: str, norm: str, seed: int, cache: str, n_jobs: int
               ) -> dict:
    cv = pipeline.cross_validate(manifest, models=[family], split="group6",
                                 normalizations=[norm], random_state=seed, cache_dir=cache,
                                 n_jobs=n_jobs)
    models = cv.summary["models"]
    return {name: {"uar": m["uar"], "accuracy": m["accuracy"], "uar_ci95": m["uar_ci95"],
                   "accuracy_ci95": m["accuracy_ci95"], "params": m["params"]}
            for name, m in models.items()}


def _student_columns(model_dir: Path) -> list[int]:
    from ser_classic.artifact import load_artifact

    est = load_artifact(model_dir).estimator
    return [int(c) for c in est.named_steps["select"].columns_]


@contextlib.contextmanager
def _select_on(student: str, select_on: str):
    """The student's spec with its columns chosen on ``select_on`` rows ("clips" or
    "transfer"; "" leaves the registered spec) while the block runs."""
    from ser_classic.distill import parse_student, register_student, student_spec

    spec = parse_student(student)[0]
    if select_on:
        register_student(dataclasses.replace(spec, select_on=select_on), replace=True)
    try:
        yield
    finally:
        register_student(spec, replace=True)
        assert student_spec(spec.name) is spec


def run_seed(manifest, tests, *, seed: int, norm: str, family: str, students: list[str],
             selection, cache: str, n_jobs: int, work: Path, skip_cv: bool,
             skip_models: bool, n_boot: int, copies: int = 2,
             width: int | None = None) -> dict:
    out: dict = {"seed": seed, "normalization": norm, "copies": copies}
    t0 = time.perf_counter()
    if not skip_cv:
        out["cv"] = cv_figures(manifest, family=family, norm=norm, seed=seed, cache=cache,
                               n_jobs=n_jobs)
    t1 = time.perf_counter()
    out["models"] = {}
    if skip_models:
        out["seconds"] = {"cv": t1 - t0}
        return out
    base = work / norm / f"seed{seed}" / f"copies{copies}"
    teacher = pipeline.train(manifest, model=family, normalization=norm,
                             exclude_speakers=HOLDOUT, selection=selection,
                             random_state=seed, cache_dir=cache, n_jobs=n_jobs)
    teacher.save(base / "teacher")
    out["models"] = {"teacher": {"model_id": teacher.model_id}}
    for student in students:
        name, _, select_on = student.partition("@")
        with _select_on(name, select_on):
            model = pipeline.distil(base / "teacher", manifest, student=name, copies=copies,
                                    width=width, random_state=seed, cache_dir=cache,
                                    n_jobs=n_jobs)
        model.save(base / student)
        out["models"][student] = {"model_id": model.model_id,
                                  "columns": _student_columns(base / student),
                                  "linear_C": model.info.get("linear_C"),
                                  "width": model.info.get("width")}
    for name in out["models"]:
        for test, (X, labels, speakers) in tests.items():
            out["models"][name][test] = score(base / name, X, labels, speakers,
                                              n_boot=n_boot, random_state=0)
    out["seconds"] = {"cv": t1 - t0, "models": time.perf_counter() - t1}
    return out


# --------------------------------------------------------------------------- report
def _figures(runs: list[dict]) -> dict[str, list[float]]:
    """Figure name -> its value in each seed's run (same order)."""
    figs: dict[str, list[float]] = {}
    for run in runs:
        for name, m in run.get("cv", {}).items():
            for metric in ("uar", "accuracy"):
                figs.setdefault(f"cv group6 {name} {metric}", []).append(m[metric])
        for model, m in run["models"].items():
            for test in TEST_SETS:
                for metric in ("accuracy", "uar"):
                    figs.setdefault(f"{model} {test} {metric}", []).append(m[test][metric])
    return figs


def _ci_of_first(run: dict, figure: str) -> list[float] | None:
    parts = figure.split()
    if parts[0] == "cv":
        return run["cv"][parts[2]][f"{parts[3]}_ci95"]
    return run["models"][parts[0]][parts[1]][f"{parts[2]}_ci95"]


def spread_table(runs: list[dict]) -> list[dict]:
    rows = []
    for figure, values in _figures(runs).items():
        v = np.asarray(values)
        rows.append({"figure": figure, "values": v.tolist(), "mean": float(v.mean()),
                     "min": float(v.min()), "max": float(v.max()),
                     "range": float(v.max() - v.min()), "std": float(v.std(ddof=1))
                     if v.size > 1 else 0.0, "ci95_first_seed": _ci_of_first(runs[0], figure)})
    return rows


def column_overlap(runs: list[dict]) -> dict:
    """Per student: mean and min Jaccard overlap of its columns between pairs of seeds."""
    out = {}
    for student in runs[0]["models"]:
        if student in ("teacher",):
            continue
        sets = [set(r["models"][student]["columns"]) for r in runs]
        jac = [len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2)]
        out[student] = {"mean_jaccard": float(np.mean(jac)) if jac else 1.0,
                        "min_jaccard": float(np.min(jac)) if jac else 1.0,
                        "in_every_seed": len(set.intersection(*sets)),
                        "n_columns": len(sets[0])}
    return out


def _width_text(results: dict) -> str:
    """The compact students' width as each recorded it (``pipeline.distil``'s card info)."""
    widths = sorted({m["width"] for runs in results["runs"].values() for run in runs
                     for m in run["models"].values() if m.get("width")})
    if not widths:  # summaries written before the students recorded their width
        return "compact students at the library's width"
    return (f"compact students {', '.join(map(str, widths))} columns wide"
            + ("" if results.get("width") else " (the library's width)"))


def report(results: dict, *, command: str) -> str:
    lines = [f"# Seed spread of the headline figures\n\nProduced by `{command}`.\n",
             f"Seeds {results['seeds']}: each seed is the `random_state` of the CV, of the "
             "teacher's training and of the distillation (augmented copies, inner splits, "
             "transfer set, column elimination). Teacher: the family "
             f"`{results['family']}` with the tuned parameters of "
             f"`{results['selection']}`, trained on RAVDESS actors 1-20; students distilled "
             f"from it ({_width_text(results)}). Test sets: RAVDESS actors "
             "21-24 (every class), TESS and EMOVO "
             "(closed set over the corpus's own labels). Students' transfer set: the clips, "
             f"{results.get('copies', 2)} masked copies per clip and 2 MUNGE samples per "
             "clip. Range = max - min over the seeds; "
             "the CI is the 95 % speaker bootstrap of the first seed (it covers "
             "speaker-to-speaker variation, not the seed's).\n"]
    for norm, runs in results["runs"].items():
        lines += [f"## {norm}\n",
                  "| figure | mean | min | max | range | std | 95 % CI (seed "
                  f"{runs[0]['seed']}) | per seed |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in spread_table(runs):
            ci = row["ci95_first_seed"]
            lines.append(f"| {row['figure']} | {row['mean']:.3f} | {row['min']:.3f} | "
                         f"{row['max']:.3f} | {row['range']:.3f} | {row['std']:.3f} | "
                         f"[{ci[0]:.3f}, {ci[1]:.3f}] | "
                         + " ".join(f"{v:.3f}" for v in row["values"]) + " |")
        lines += ["", "Model ids per seed:", ""]
        for run in runs:
            ids = ", ".join(f"{k} `{m['model_id']}`" for k, m in run["models"].items())
            lines.append(f"- seed {run['seed']}: {ids or '(CV only)'}")
        overlap = column_overlap(runs)
        if overlap:
            lines += ["", "Columns the students read (pairwise Jaccard overlap between "
                      "seeds; columns read in every seed):", ""]
            for student, o in overlap.items():
                lines.append(f"- {student}: mean {o['mean_jaccard']:.3f}, min "
                             f"{o['min_jaccard']:.3f}; {o['in_every_seed']} of "
                             f"{o['n_columns']} in every seed")
        if "cv" in runs[0]:
            lines += ["", "CV tuned parameters per fold (seed: model -> folds):", ""]
            for run in runs:
                for name, m in run["cv"].items():
                    lines.append(f"- seed {run['seed']} {name}: `{json.dumps(m['params'])}`")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--normalizations", default="strict")
    p.add_argument("--family", default="linear")
    p.add_argument("--student", default="compact_int8",
                   help="students distilled from each teacher, comma-separated")
    p.add_argument("--selection", default="reports/cv/selection.json")
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--cache", default=".cache/features")
    p.add_argument("--work", default=".cache/spread")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--copies", type=int, default=2,
                   help="masked copies per clip in the students' transfer set (distil)")
    p.add_argument("--width", type=int, default=None,
                   help="columns of the compact students (default: the library's)")
    p.add_argument("--skip-cv", action="store_true", help="teacher and students only")
    p.add_argument("--skip-models", action="store_true", help="the CV only")
    p.add_argument("--out", default="reports/spread")
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite report.md from --out/summary.json")
    args = p.parse_args(argv)
    if args.report_only:
        results = json.loads((Path(args.out) / "summary.json").read_text())
        command = results["command"]
        command = command if command.startswith("python ") else f"python {command}"
        write_text(Path(args.out) / "report.md", report(results, command=command))
        return 0
    command = "python experiments/seed_spread.py " + " ".join(argv if argv is not None
                                                               else sys.argv[1:])
    seeds = [int(s) for s in args.seeds.split(",")]
    manifest = data.load_manifest(args.manifest)
    selection = pipeline.Selection.load(args.selection)
    tests = ({} if args.skip_models else
             test_features(manifest, cache=args.cache, n_jobs=args.jobs))
    out = Path(args.out)
    results = {"command": command, "seeds": seeds, "copies": args.copies,
               "width": args.width,
               "family": args.family,
               "selection": args.selection, "runs": {}}
    for norm in args.normalizations.split(","):
        runs = []
        for seed in seeds:
            print(f"[{time.strftime('%H:%M:%S')}] {norm} seed {seed}", flush=True)
            runs.append(run_seed(manifest, tests, seed=seed, norm=norm, family=args.family,
                                 students=args.student.split(","), selection=selection,
                                 cache=args.cache, n_jobs=args.jobs, work=Path(args.work),
                                 skip_cv=args.skip_cv, skip_models=args.skip_models,
                                 n_boot=args.n_boot, copies=args.copies,
                                 width=args.width))
            results["runs"][norm] = runs
            results["spread"] = {n: spread_table(r) for n, r in results["runs"].items()}
            write_text(out / "summary.json", json.dumps(results, indent=1) + "\n")
            write_text(out / "report.md", report(results, command=command))
            print(f"  {runs[-1]['seconds']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
