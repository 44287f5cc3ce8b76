"""Which members of the `linear` teacher are fitted on the augmented copies (issue 19,
item 4) -> reports/ablation_members/.

The teacher family ``linear`` is a soft vote of ridge and logreg. Ridge has always been
fitted on the training clips' augmented copies too; logreg was fitted on the original
clips only (a choice of the VTLP-only era). With the degraded-recording copies of the
deployed recipe (the stored teacher's augmentation; ``vtlp+conditions``, 1 copy each, when
the committed report ran) this ablation compares, for each
normalisation, logreg on the originals only against logreg on the originals and copies,
with the deployed recipe otherwise unchanged (RAVDESS + TESS + EMOVO, no calm, the
stored teacher's parameters, fixed). RAVDESS actors 21-24, the held-out speakers of
``experiments/bench_conditions.py``'s report, are read by no measurement:

(a) leave one corpus out: trained on two corpora (and their copies, babble talkers from
    the same corpus), closed-set UAR on the third; mean over the three corpora;
(b) speaker-grouped CV on RAVDESS actors 1-20 (5 folds of 4 consecutive actors, the
    family's members tuned in each fold, copies of training speakers only): UAR;
(c) the condition benchmark in inner folds: RAVDESS actors 1-20 in 5 folds of 4
    consecutive actors; per fold, the recipe trained without the fold's actors and
    scored on ``--fold-clips`` of their clips under the benchmark's 13 degradations
    (14 with ``--world``; its transforms and seeds; babble talkers from the fold's
    training speakers; speaker-normalised teachers with each speaker's statistics from
    the same condition): accuracy on the clean clips and mean accuracy over the
    degradations, averaged over the folds.

Rule, per normalisation: the setting with the larger mean of (a), (b) and the mean
degraded accuracy of (c). The registry (``ser_classic.models``) holds the outcome: logreg's
``augmented=("strict",)``. The settings are imposed here by replacing logreg's registry
entry in this process, so the CV runs its folds in-process (``n_jobs=1``).

    PYTHONPATH=. .venv/bin/python experiments/ablation_members.py \\
        --out reports/ablation_members
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

import bench_conditions as bench  # sibling scripts: their folder is sys.path[0]
import loco
import numpy as np

from ser_classic import models, pipeline
from ser_classic.features import FeatureConfig, extract_batch

CORPORA, NO_EMOTIONS = bench.RECIPE_CORPORA, bench.RECIPE_NO_EMOTIONS
AUGMENT, COPIES = bench.RECIPE_AUGMENT, bench.RECIPE_COPIES
SETTINGS = {"logreg on originals": False, "logreg on originals + copies": True}


def parse_args(argv=None):
    p = bench.ablation_parser(__doc__, name="ablation_members")
    p.add_argument("--fold-clips", type=int, default=48,
                   help="clips of each inner fold's actors under the degradations")
    return p.parse_args(argv)


@contextlib.contextmanager
def logreg_on_copies(on: bool):
    """The registry's logreg fitted on the copies (``on``) or on the originals only."""
    spec = models.MODELS["logreg"]
    models.MODELS["logreg"] = dataclasses.replace(spec, augmented=on)
    try:
        yield
    finally:
        models.MODELS["logreg"] = spec


def run_loco(args, manifest, norm: str) -> dict:
    rows = manifest[~manifest["emotion"].isin(NO_EMOTIONS)].reset_index(drop=True)
    config = FeatureConfig()
    X, _, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                            cache_dir=args.cache, n_jobs=args.jobs)
    X_aug = pipeline.augmented_features(AUGMENT, rows, config=config, copies=COPIES,
                                        cache_dir=args.cache, random_state=args.seed,
                                        n_jobs=args.jobs, groups=rows["corpus"].to_numpy())
    params = bench.teacher_params(norm)
    out = {}
    for setting, on in SETTINGS.items():
        with logreg_on_copies(on):
            out[setting] = loco.fixed_params_loco(X, X_aug, rows, name="linear",
                                                  normalization=norm, params=params,
                                                  random_state=args.seed,
                                                  label=f"{norm} {setting}")
    return out


def run_cv(args, manifest, norm: str) -> dict:
    ravdess = manifest[manifest["corpus"] == "ravdess"].reset_index(drop=True)
    n_folds = len(bench.inner_folds(ravdess["speaker"]))
    out = {}
    for setting, on in SETTINGS.items():
        with logreg_on_copies(on):
            cv = pipeline.cross_validate(ravdess, models=["linear"], split="group6",
                                         n_folds=n_folds, normalizations=[norm],
                                         augment=AUGMENT, copies=COPIES,
                                         random_state=args.seed, cache_dir=args.cache,
                                         n_jobs=1)
        m = cv.summary["models"]
        out[setting] = {"uar": m["linear"]["uar"], "uar_ci95": m["linear"]["uar_ci95"],
                        "logreg_uar": m["logreg"]["uar"], "n_folds": n_folds,
                        "augmented_models": cv.summary["augmented_models"]}
        print(f"cv {norm} {setting}: {m['linear']['uar']:.3f}", flush=True)
    return out


def run_inner_conditions(args, manifest, norm: str) -> dict:
    params = bench.teacher_params(norm)

    def train(k: int, actors: list[str]) -> dict[str, Path]:
        paths = {}
        for setting, on in SETTINGS.items():
            out = (Path(args.work) / f"{norm}-{'copies' if on else 'originals'}"
                   / f"fold{k}")
            if not bench.trained_with(out, params, augment=AUGMENT, copies=COPIES,
                                      seed=args.seed):
                with logreg_on_copies(on):
                    pipeline.train(manifest, model="linear", normalization=norm,
                                   corpora=CORPORA, exclude_emotions=NO_EMOTIONS,
                                   exclude_speakers=actors,
                                   params=params,
                                   augment=AUGMENT, copies=COPIES, random_state=args.seed,
                                   cache_dir=args.cache, n_jobs=args.jobs,
                                   command=f"ablation_members --setting {setting!r} "
                                           f"--fold {k}").save(out)
            paths[setting] = out
        return paths

    records = bench.inner_records(args.data, exclude_emotions=NO_EMOTIONS)
    inner = bench.inner_conditions(train, records, n=args.fold_clips, seed=args.seed,
                                   world=args.world)
    cond = inner["conditions"]
    out = {}
    for setting in SETTINGS:
        column = bench.teacher_column(cond, setting)
        out[setting] = {
            "clean_accuracy": cond["clean"][column]["accuracy"],
            "mean_degraded_accuracy": bench.mean_degraded(cond, column),
            "mean_degraded_ece": bench.mean_degraded(cond, column, "ece"),
            "per_condition": {c: cond[c][column] for c in cond},
            "n_folds": len(inner["folds"]), "n_clips_per_fold": args.fold_clips}
        print(f"conditions {norm} {setting}: {out[setting]['mean_degraded_accuracy']:.3f}",
              flush=True)
    return out


def rule_scores(res: dict) -> dict[str, float]:
    """The rule's score of each setting of one normalisation's results: the mean of (a),
    (b) and (c)'s mean degraded accuracy (the larger is chosen)."""
    return {s: float(np.mean([res["loco"][s]["mean_uar"], res["cv"][s]["uar"],
                              res["conditions"][s]["mean_degraded_accuracy"]]))
            for s in res["loco"]}


def write_report(summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    folds = summary["inner_folds"]
    lines = ["# Which members of the `linear` teacher fit the augmented copies (issue 19, "
             "item 4)", "", f"Command: `{summary['command']}` ({summary['seconds']:.0f} s on "
             f"{summary['machine']}).", "",
             "The deployed recipe (`linear`: soft vote of ridge and logreg; RAVDESS + TESS + "
             f"EMOVO without calm; `--augment {summary['augment']} --copies "
             f"{summary['copies']}`; the stored "
             "teacher's parameters, fixed) with logreg fitted on the original clips only "
             "or on the originals and their copies; ridge is fitted on both in every "
             "setting. RAVDESS actors 21-24, the held-out speakers of "
             "`reports/conditions/`, are read by no measurement. Measured on the training "
             "corpora: (a) leave one corpus out, mean closed-set UAR over RAVDESS (actors "
             "1-20), TESS and EMOVO (trained on the other two; TESS is one of the three "
             "corpora, as in every LOCO figure); (b) RAVDESS actors 1-20, speaker-grouped "
             f"CV in {len(folds)} folds of {bench.INNER_FOLD_ACTORS} consecutive actors "
             "(members tuned in each fold), UAR over 8 emotions; (c) the condition benchmark of "
             "`experiments/bench_conditions.py` in the same inner folds: per fold, the "
             "recipe trained without the fold's actors, "
             f"{summary['fold_clips']} of their clips (7 trained emotions) under its "
             f"{bench.degradation_count(world=summary.get('world', False))} "
             "degradations (its transforms and seeds; speaker_norm: statistics of the same "
             "condition), averaged over the folds. Rule, per normalisation: the larger "
             "mean of (a), (b) and (c)'s mean degraded accuracy.", "",
             "Inner folds: " + "; ".join(", ".join(f) for f in folds) + ".", ""]
    for norm, res in summary["normalizations"].items():
        lines += [f"## {norm}", "",
                  "| setting | (a) LOCO mean UAR (EMOVO / RAVDESS / TESS) | (b) CV UAR "
                  "[95 % CI] | (c) clean accuracy | (c) mean degraded accuracy / ECE | "
                  "rule score |", "|---|---|---|---|---|---|"]
        for setting in SETTINGS:
            a, b, c = (res["loco"][setting], res["cv"][setting], res["conditions"][setting])
            lo, hi = b["uar_ci95"]
            per = " / ".join(f"{a['corpora'][k]['uar']:.3f}" for k in CORPORA)
            mark = " **chosen**" if res["chosen"] == setting else ""
            lines.append(
                f"| {setting}{mark} | {a['mean_uar']:.3f} ({per}) | {b['uar']:.3f} "
                f"[{lo:.3f}, {hi:.3f}] | {c['clean_accuracy']:.3f} | "
                f"{c['mean_degraded_accuracy']:.3f} / {c['mean_degraded_ece']:.3f} | "
                f"{res['score'][setting]:.3f} |")
        lines += ["", "Accuracy / ECE per condition (c), mean over the inner folds:", "",
                  "| condition | " + " | ".join(SETTINGS) + " |",
                  "|---|" + "---|" * len(SETTINGS)]
        for cname in res["conditions"][next(iter(SETTINGS))]["per_condition"]:
            cells = [res["conditions"][s]["per_condition"][cname] for s in SETTINGS]
            lines.append(f"| {cname} | " + " | ".join(
                f"{x['accuracy']:.2f} / {x['ece']:.2f}" for x in cells) + " |")
        lines.append("")
    lines += ["The registry holds the choice: `ser_classic.models.MODELS['logreg'].augmented` "
              f"= {models.MODELS['logreg'].augmented!r}."]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    manifest, header = bench.start_ablation(args, script="ablation_members.py",
                                            argv=argv)
    summary = {**header, "fold_clips": args.fold_clips,
               "inner_folds": bench.inner_folds(manifest["speaker"]), "normalizations": {}}
    for norm in ("strict", "speaker_norm"):
        res = {"loco": run_loco(args, manifest, norm),
               "cv": run_cv(args, manifest, norm),
               "conditions": run_inner_conditions(args, manifest, norm)}
        res["score"] = rule_scores(res)
        res["chosen"] = max(SETTINGS, key=res["score"].get)
        summary["normalizations"][norm] = res
    summary["seconds"] = time.perf_counter() - start
    write_report(summary, Path(args.out))
    print(f"wrote {args.out}/summary.md ({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
