"""Which members of the `linear` teacher are fitted on the augmented copies (issue 19,
item 4) -> reports/ablation_members/.

The teacher family ``linear`` is a soft vote of ridge and logreg. Ridge has always been
fitted on the training clips' augmented copies too; logreg was fitted on the original
clips only (a choice of the VTLP-only era). With the degraded-recording copies of the
deployed recipe (``vtlp+conditions``, 1 copy each) this ablation compares, for each
normalisation, logreg on the originals only against logreg on the originals and copies,
with the deployed recipe otherwise unchanged (RAVDESS + TESS + EMOVO, no calm, the
parameters of ``--selection``), on three measurements of the training corpora:

(a) leave one corpus out: trained on two corpora (and their copies, babble talkers from
    the same corpus), closed-set UAR on the third; mean over the three corpora;
(b) speaker-grouped CV on RAVDESS (split ``group6``, the family's members tuned in each
    fold, copies of training speakers only): UAR;
(c) RAVDESS actors 21-24 held out (``experiments/bench_conditions.py``'s condition
    benchmark and seeds): accuracy on the clean clips and mean accuracy over its 13
    degradations; speaker-normalised teachers with each speaker's statistics from the
    same condition; plus the invariance table's agreement with the clean clip under a
    -60 dBFS white-noise floor (40 clips).

Rule, per normalisation: the setting with the larger mean of (a), (b) and the mean
degraded accuracy of (c). The registry (``ser_classic.models``) holds the outcome: logreg's
``augmented=("strict",)``. The settings are imposed here by replacing logreg's registry
entry in this process, so the CV runs its folds in-process (``n_jobs=1``).

    PYTHONPATH=. .venv/bin/python experiments/ablation_members.py \\
        --out reports/ablation_members
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

import bench_conditions as bench  # the sibling script: its folder is sys.path[0]
import numpy as np

from ser_classic import evaluation, models, pipeline
from ser_classic.artifact import train_model
from ser_classic.data import EMOTIONS, load_manifest, scan_corpus
from ser_classic.features import FeatureConfig, extract_batch

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ["emovo", "ravdess", "tess"]
NO_EMOTIONS = ["calm"]
AUGMENT, COPIES = "vtlp+conditions", 1
SETTINGS = {"logreg on originals": False, "logreg on originals + copies": True}
FLOOR = "-60 dBFS white noise floor (16-bit)"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--data", default="../shared/data/ravdess")
    p.add_argument("--cache", default=".cache/features")
    p.add_argument("--selection", default="reports/cv/selection.json")
    p.add_argument("--work", default=".cache/models/ablation_members")
    p.add_argument("--jobs", type=int, default=1, help="feature extraction only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reports/ablation_members")
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


def run_loco(args, manifest, selection, norm: str) -> dict:
    rows = manifest[~manifest["emotion"].isin(NO_EMOTIONS)].reset_index(drop=True)
    config = FeatureConfig()
    X, _, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                            cache_dir=args.cache, n_jobs=args.jobs)
    corpora = rows["corpus"].to_numpy()
    X_aug = pipeline.augmented_features(AUGMENT, rows, config=config, copies=COPIES,
                                        cache_dir=args.cache, random_state=args.seed,
                                        n_jobs=args.jobs, groups=corpora)
    classes = [e for e in EMOTIONS if e in set(rows["emotion"])]
    params = selection.run(norm).params["linear"]
    out = {}
    for setting, on in SETTINGS.items():
        per = {}
        with logreg_on_copies(on):
            for held in CORPORA:
                tr, te = corpora != held, corpora == held
                est, model_classes = train_model(
                    X[tr], rows["emotion"][tr], name="linear", speakers=rows["speaker"][tr],
                    normalization=norm, params=params, random_state=args.seed,
                    X_aug=[a[tr] for a in X_aug])
                X_te = evaluation.normalized_inputs(X[te], (), rows["speaker"][te],
                                                    normalization=norm)[0]
                held_classes = [c for c in classes if c in set(rows["emotion"][te])]
                proba = evaluation.closed_set_proba(est.predict_proba(X_te), model_classes,
                                                    held_classes)
                y = rows["emotion"][te].map({c: i for i, c in enumerate(held_classes)})
                m = evaluation.classification_metrics(y.to_numpy(), proba.argmax(1),
                                                      n_classes=len(held_classes))
                per[held] = float(m["uar"])
        out[setting] = {"corpora": per, "mean_uar": float(np.mean(list(per.values())))}
        print(f"loco {norm} {setting}: {out[setting]['mean_uar']:.3f}", flush=True)
    return out


def run_cv(args, manifest, norm: str) -> dict:
    ravdess = manifest[manifest["corpus"] == "ravdess"].reset_index(drop=True)
    out = {}
    for setting, on in SETTINGS.items():
        with logreg_on_copies(on):
            cv = pipeline.cross_validate(ravdess, models=["linear"], split="group6",
                                         normalizations=[norm], augment=AUGMENT,
                                         copies=COPIES, random_state=args.seed,
                                         cache_dir=args.cache, n_jobs=1)
        m = cv.summary["models"]
        out[setting] = {"uar": m["linear"]["uar"], "uar_ci95": m["linear"]["uar_ci95"],
                        "logreg_uar": m["logreg"]["uar"],
                        "augmented_models": cv.summary["augmented_models"]}
        print(f"cv {norm} {setting}: {m['linear']['uar']:.3f}", flush=True)
    return out


def run_holdout(args, manifest, selection, norm: str) -> dict:
    paths = {}
    for setting, on in SETTINGS.items():
        out = Path(args.work) / f"{norm}-{'copies' if on else 'originals'}"
        if not (out / "model.json").exists():
            with logreg_on_copies(on):
                pipeline.train(manifest, model="linear", normalization=norm,
                               corpora=CORPORA, exclude_emotions=NO_EMOTIONS,
                               exclude_speakers=bench.HOLDOUT, selection=selection,
                               augment=AUGMENT, copies=COPIES, random_state=args.seed,
                               cache_dir=args.cache, n_jobs=args.jobs,
                               command=f"ablation_members --setting {setting!r}").save(out)
        paths[setting] = out
    records = sorted(scan_corpus(args.data), key=lambda r: r["path"])
    held = [r for r in records if r["speaker"] in bench.HOLDOUT]
    known = [r for r in held if r["emotion"] not in NO_EMOTIONS]
    rows = bench._sample(known, 0, np.random.default_rng(args.seed + 1))
    talkers = bench._sample([r for r in records if r["speaker"] not in bench.HOLDOUT], 40,
                            np.random.default_rng(args.seed + 2))
    cond = bench.run_conditions({s: {"teacher": p} for s, p in paths.items()}, rows,
                                talker_rows=talkers, seed=args.seed)["conditions"]
    inv_rows = bench._sample(held, 40, np.random.default_rng(args.seed))
    chosen = {r["path"] for r in inv_rows}
    enroll = {s: [r for r in held if r["speaker"] == s and r["path"] not in chosen]
              for s in bench.HOLDOUT}
    inv = bench.run_invariance(list(paths.values()), inv_rows, enroll_rows=enroll,
                               seed=args.seed)["transforms"]
    out = {}
    for setting, path in paths.items():
        column = next(n for n in cond["clean"] if n.startswith(setting + " teacher")
                      and "[clean]" not in n)
        degraded = [c for c in cond if c != "clean"]
        out[setting] = {
            "clean_accuracy": cond["clean"][column]["accuracy"],
            "mean_degraded_accuracy": float(np.mean([cond[c][column]["accuracy"]
                                                     for c in degraded])),
            "mean_degraded_ece": float(np.mean([cond[c][column]["ece"] for c in degraded])),
            "per_condition": {c: cond[c][column] for c in cond},
            "floor_agreement": inv[FLOOR][path.name]["agreement"],
            "floor_mean_abs_dp": inv[FLOOR][path.name]["mean_abs_dp"],
            "n_clips": len(rows)}
        print(f"holdout {norm} {setting}: {out[setting]['mean_degraded_accuracy']:.3f}",
              flush=True)
    return out


def write_report(summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    lines = ["# Which members of the `linear` teacher fit the augmented copies (issue 19, "
             "item 4)", "", f"Command: `{summary['command']}` ({summary['seconds']:.0f} s on "
             f"{summary['machine']}).", "",
             "The deployed recipe (`linear`: soft vote of ridge and logreg; RAVDESS + TESS + "
             "EMOVO without calm; `--augment vtlp+conditions --copies 1`; the parameters of "
             "`reports/cv/selection.json`) with logreg fitted on the original clips only "
             "(before) or on the originals and their copies; ridge is fitted on both in "
             "every setting. Measured on the training corpora only: (a) leave one corpus "
             "out, mean closed-set UAR over RAVDESS, TESS and EMOVO (trained on the other "
             "two); (b) RAVDESS speaker-grouped CV (`group6`, members tuned in each fold), "
             "UAR over 8 emotions; (c) RAVDESS actors 21-24 held out, "
             f"{summary['n_holdout_clips']} clips of the 7 trained emotions under the 13 "
             "degradations of `experiments/bench_conditions.py` (same seeds; speaker_norm: "
             "statistics of the same condition), and the agreement with the clean clip "
             "under a -60 dBFS white-noise floor (its invariance table, 40 clips). Rule, "
             "per normalisation: the larger mean of (a), (b) and (c)'s mean degraded "
             "accuracy. TESS is one of the three LOCO corpora, as in every LOCO figure.", ""]
    for norm, res in summary["normalizations"].items():
        lines += [f"## {norm}", "",
                  "| setting | (a) LOCO mean UAR (EMOVO / RAVDESS / TESS) | (b) group6 UAR "
                  "[95 % CI] | (c) clean accuracy | (c) mean degraded accuracy / ECE | "
                  "-60 dBFS floor agreement / mean abs dp | rule score |",
                  "|---|---|---|---|---|---|---|"]
        for setting in SETTINGS:
            a, b, c = (res["loco"][setting], res["cv"][setting], res["holdout"][setting])
            lo, hi = b["uar_ci95"]
            per = " / ".join(f"{a['corpora'][k]:.3f}" for k in CORPORA)
            mark = " **chosen**" if res["chosen"] == setting else ""
            lines.append(
                f"| {setting}{mark} | {a['mean_uar']:.3f} ({per}) | {b['uar']:.3f} "
                f"[{lo:.3f}, {hi:.3f}] | {c['clean_accuracy']:.3f} | "
                f"{c['mean_degraded_accuracy']:.3f} / {c['mean_degraded_ece']:.3f} | "
                f"{c['floor_agreement']:.2f} / {c['floor_mean_abs_dp']:.3f} | "
                f"{res['score'][setting]:.3f} |")
        lines += ["", "Accuracy / ECE per condition (c):", "",
                  "| condition | " + " | ".join(SETTINGS) + " |",
                  "|---|" + "---|" * len(SETTINGS)]
        for cname in res["holdout"][next(iter(SETTINGS))]["per_condition"]:
            cells = [res["holdout"][s]["per_condition"][cname] for s in SETTINGS]
            lines.append(f"| {cname} | " + " | ".join(
                f"{x['accuracy']:.2f} / {x['ece']:.2f}" for x in cells) + " |")
        lines.append("")
    lines += ["The registry holds the choice: `ser_classic.models.MODELS['logreg'].augmented` "
              f"= {models.MODELS['logreg'].augmented!r}."]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    warnings.filterwarnings("ignore", category=UserWarning)
    start = time.perf_counter()
    manifest = load_manifest(args.manifest)
    selection = pipeline.Selection.load(args.selection)
    summary = {"command": "python experiments/ablation_members.py"
               + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])),
               "machine": f"{os.cpu_count()} CPUs, {platform.machine()}",
               "seed": args.seed, "normalizations": {}}
    for norm in ("strict", "speaker_norm"):
        res = {"loco": run_loco(args, manifest, selection, norm),
               "cv": run_cv(args, manifest, norm),
               "holdout": run_holdout(args, manifest, selection, norm)}
        res["score"] = {s: float(np.mean([res["loco"][s]["mean_uar"], res["cv"][s]["uar"],
                                          res["holdout"][s]["mean_degraded_accuracy"]]))
                        for s in SETTINGS}
        res["chosen"] = max(SETTINGS, key=res["score"].get)
        summary["normalizations"][norm] = res
        summary["n_holdout_clips"] = res["holdout"][next(iter(SETTINGS))]["n_clips"]
    summary["seconds"] = time.perf_counter() - start
    write_report(summary, Path(args.out))
    print(f"wrote {args.out}/summary.md ({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
