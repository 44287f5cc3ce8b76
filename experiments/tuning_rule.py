"""The inner tuning rule: best mean score against one standard error -> reports/tuning_rule/.

The deployed teachers' grid points are chosen by the best mean inner-CV score
(``tune_params(rule="best")``). Those choices are near ties: `make run` on another CPU
flipped 9 of its 24 inner choices (README). The textbook answer to near ties is the
one-standard-error rule (the most regularised grid point within one standard error of
the best; Hastie, Tibshirani & Friedman, ESL 7.10): ``tune_params(rule="one_se")``.
Here both rules are applied to the same inner scores of the `linear` family (ridge +
logreg, each member tuned) with the deployed preset's copies, 1 per member:

(a) leave one corpus out, as `ablation_conditions`' (b) but with the inner choice: for each
    corpus (RAVDESS actors 1-20, TESS, EMOVO), the members tuned on the other corpora
    (``--tune``, default speaker+corpus, as the deployed teachers), fitted and scored on
    the held-out corpus (closed-set UAR);
(b) RAVDESS actors 1-20 in the 5 inner folds of 4 actors: the members tuned on the other
    actors (``tune="speaker"``), fitted and scored on the fold's (UAR of the pooled
    out-of-fold predictions).

RAVDESS actors 21-24 are read by none. Rule, fixed before the run: ``one_se`` is a lead in
a normalisation when its LOCO mean UAR is at least 0.010 above ``best``'s (twice the seed
spread) and its CV UAR at most 0.010 below; it would become the deployed teachers' rule
only when a lead under strict and speaker_norm.

    PYTHONPATH=. .venv/bin/python experiments/tuning_rule.py [--out reports/tuning_rule]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import bench_conditions as bench  # sibling scripts: their folder is sys.path[0]
import numpy as np

from ser_classic import evaluation, pipeline
from ser_classic.artifact import train_model
from ser_classic.data import load_manifest
from ser_classic.evaluation import TUNING_RULES, _member_choice, tune_params
from ser_classic.features import FeatureConfig, extract_batch

FAMILY = "linear"
NORMALIZATIONS = ("strict", "speaker_norm")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--cache", default=".cache/features")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--augment", default=bench.RECIPE_AUGMENT)
    p.add_argument("--copies", type=int, default=1)
    p.add_argument("--tune", default="speaker+corpus")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reports/tuning_rule")
    return p.parse_args(argv)


def choices(scores: dict) -> dict[str, dict]:
    """``{rule: {member: grid point}}`` from :func:`tune_params`' scores."""
    return {rule: {member: _member_choice(per, member, rule=rule)
                   for member, per in scores.items()} for rule in TUNING_RULES}


def inner_scores(X, X_aug, rows, tr, *, tune, normalization, seed, n_jobs
                 ) -> tuple[list[str], dict]:
    """The training classes of the ``tr`` rows and :func:`tune_params`' inner scores of
    the `linear` family on them (``X_aug``: the copies' rows, as ``X``)."""
    emotion, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    classes = sorted(set(emotion[tr]))
    Xn, Xn_aug = evaluation.normalized_inputs(X[tr], [a[tr] for a in X_aug], speaker[tr],
                                              normalization=normalization,
                                              labels=emotion[tr])
    _, scores = tune_params(FAMILY, Xn, np.searchsorted(classes, emotion[tr]),
                            speakers=speaker[tr], corpora=rows["corpus"].to_numpy()[tr],
                            tune=tune, X_aug=Xn_aug, n_classes=len(classes),
                            random_state=seed, normalization=normalization, n_jobs=n_jobs)
    return classes, scores


def fold(X, X_aug, rows, tr, te, *, tune, normalization, seed, n_jobs) -> dict:
    """Both rules' choices on the ``tr`` rows and each choice's closed-set scores on ``te``."""
    emotion, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    classes, scores = inner_scores(X, X_aug, rows, tr, tune=tune, normalization=normalization,
                                   seed=seed, n_jobs=n_jobs)
    held_classes = [c for c in classes if c in set(emotion[te])]
    te = te & np.isin(emotion, held_classes)
    X_te = evaluation.normalized_inputs(X[te], (), speaker[te], labels=emotion[te],
                                        normalization=normalization)[0]
    out = {"scores": scores, "rules": {}}
    fitted = {}
    for rule, params in choices(scores).items():
        key = json.dumps(params, sort_keys=True)
        if key not in fitted:
            est, model_classes = train_model(
                X[tr], emotion[tr], name=FAMILY, speakers=speaker[tr],
                normalization=normalization, params=params, random_state=seed,
                X_aug=[a[tr] for a in X_aug])
            proba = evaluation.closed_set_proba(est.predict_proba(X_te), model_classes,
                                                held_classes)
            fitted[key] = [held_classes[i] for i in proba.argmax(1)]
        out["rules"][rule] = {"params": params, "pred": fitted[key]}
    out["true"] = emotion[te].tolist()
    out["classes"] = held_classes
    return out


def uar(true, pred, classes) -> float:
    y = np.array([classes.index(t) for t in true])
    p = np.array([classes.index(t) for t in pred])
    return float(evaluation.classification_metrics(y, p, n_classes=len(classes))["uar"])


def run(args, rows, X, X_aug, normalization) -> dict:
    corpora = rows["corpus"].to_numpy()
    speaker = rows["speaker"].to_numpy()
    loco = {}
    for held in sorted(set(corpora)):
        start = time.perf_counter()
        f = fold(X, X_aug, rows, corpora != held, corpora == held, tune=args.tune,
                 normalization=normalization, seed=args.seed, n_jobs=args.jobs)
        loco[held] = {"scores": f["scores"], "n": len(f["true"]), **{
            rule: {"params": r["params"], "uar": uar(f["true"], r["pred"], f["classes"])}
            for rule, r in f["rules"].items()}}
        print(f"{normalization} loco {held}: " + ", ".join(
            f"{rule} {loco[held][rule]['uar']:.3f} {loco[held][rule]['params']}"
            for rule in TUNING_RULES) + f" ({time.perf_counter() - start:.0f} s)", flush=True)
    ravdess = corpora == "ravdess"
    cv = {"folds": [], **{rule: {"true": [], "pred": []} for rule in TUNING_RULES}}
    classes = None
    for actors in bench.inner_folds(speaker[ravdess]):
        te = ravdess & np.isin(speaker, actors)
        f = fold(X, X_aug, rows, ravdess & ~te, te, tune="speaker",
                 normalization=normalization, seed=args.seed, n_jobs=args.jobs)
        classes = f["classes"]
        cv["folds"].append({"actors": actors, **{rule: r["params"]
                                                 for rule, r in f["rules"].items()}})
        for rule, r in f["rules"].items():
            cv[rule]["true"] += f["true"]
            cv[rule]["pred"] += r["pred"]
    for rule in TUNING_RULES:
        cv[rule] = {"uar": uar(cv[rule]["true"], cv[rule]["pred"], classes)}
    print(f"{normalization} cv: " + ", ".join(f"{rule} {cv[rule]['uar']:.3f}"
                                              for rule in TUNING_RULES), flush=True)
    return {"loco": loco, "cv": cv, **{
        rule: {"loco_mean_uar": float(np.mean([loco[c][rule]["uar"] for c in loco])),
               "cv_uar": cv[rule]["uar"]} for rule in TUNING_RULES}}


def _fmt(params: dict) -> str:
    return ", ".join(f"{m} {next(iter(p.values())):g}" for m, p in params.items())


def head(title: str, summary: dict, doc: str) -> list[str]:
    """A report's first lines: its title, the command that made it (its time, the
    machine) and ``doc`` from its second paragraph to the usage line."""
    return [f"# {title}", "", f"Command: `{summary['command']}` ({summary['seconds']:.0f} s "
            f"on {summary['machine']}).", "",
            doc.split("\n\n", 1)[1].split("\n    PYTHONPATH")[0].strip(), ""]


def render(summary: dict) -> str:
    lines = [*head("The inner tuning rule: best mean against one standard error", summary,
                   __doc__),
             f"Family `{FAMILY}`, the deployed preset's copies (`{summary['augment']}`, "
             f"{summary['copies']} per member), seed {summary['seed']}. Grids: logreg C "
             "0.001 / 0.003 / 0.01 (most regularised first), ridge alpha 3000 / 10000 / "
             "30000 (most regularised last). The standard error is over the inner folds "
             "(3 speaker-grouped folds and one fold per training corpus, combined as the "
             "mean of the two groupings is).", ""]
    verdicts = {}
    for norm, res in summary["results"].items():
        lines += [f"## {norm}", "",
                  "| held-out corpus | inner score per grid point (speaker / corpus), ± SE "
                  "| best: chosen | UAR | one_se: chosen | UAR |", "|---|---|---|---|---|---|"]
        for held, f in res["loco"].items():
            inner = "; ".join(
                f"{m}: " + " ".join(f"{(a + b) / 2:.3f}±{s:.3f}" for a, b, s in zip(
                    per["speaker"], per["corpus"], per["se"], strict=True))
                for m, per in f["scores"].items())
            lines.append(f"| {held} | {inner} | {_fmt(f['best']['params'])} | "
                         f"{f['best']['uar']:.3f} | {_fmt(f['one_se']['params'])} | "
                         f"{f['one_se']['uar']:.3f} |")
        d_loco = res["one_se"]["loco_mean_uar"] - res["best"]["loco_mean_uar"]
        d_cv = res["one_se"]["cv_uar"] - res["best"]["cv_uar"]
        lead = d_loco >= 0.010 - 1e-12 and d_cv >= -0.010 - 1e-12
        verdicts[norm] = lead
        lines += ["", "one_se minus best, per held-out corpus: " + ", ".join(
            f"{held} {f['one_se']['uar'] - f['best']['uar']:+.3f}"
            for held, f in res["loco"].items()) + ".", "",
                  "RAVDESS actors 1-20, 5 inner folds (members tuned by speaker-grouped "
                  "inner CV on the other actors): chosen per fold "
                  + "; ".join(f"{'+'.join(a[-2:] for a in fo['actors'])}: best "
                              f"{_fmt(fo['best'])}, one_se {_fmt(fo['one_se'])}"
                              for fo in res["cv"]["folds"]) + ".", "",
                  "| rule | LOCO mean UAR | CV UAR (actors 1-20) |", "|---|---|---|",
                  *(f"| {rule} | {res[rule]['loco_mean_uar']:.3f} | {res[rule]['cv_uar']:.3f} |"
                    for rule in TUNING_RULES), "",
                  f"one_se against best: LOCO {d_loco:+.3f}, CV {d_cv:+.3f}: "
                  f"{'**a lead**' if lead else 'not a lead'}.", ""]
    lines += ["## Verdict", "",
              ("one_se is a lead under both normalisations: it would become the deployed "
               "teachers' rule." if all(verdicts.values()) else
               "one_se is not a lead under both normalisations: the deployed teachers keep "
               "the best mean (`rule=\"best\"`)."), ""]
    return "\n".join(lines)


def recipe_rows(manifest: str, *, cache: str, augment: str, copies: int, seed: int,
                n_jobs: int):
    """The manifest's clips but RAVDESS actors 21-24, their clean feature rows and their
    copies' (``augment``, ``copies`` per clip) -> ``(manifest, X, X_aug, ok)``, ``ok``
    marking the clips whose rows are all usable."""
    manifest = load_manifest(manifest)
    manifest = manifest[~manifest["speaker"].isin(bench.HOLDOUT)].reset_index(drop=True)
    config = FeatureConfig()
    X, _, _ = extract_batch(manifest["path"], sha256=manifest["sha256"], config=config,
                            cache_dir=cache, n_jobs=n_jobs)
    # the ablation's LOCO copies: babble talkers from the clip's own corpus
    X_aug = pipeline.augmented_features(augment, manifest, config=config, copies=copies,
                                        cache_dir=cache, random_state=seed, n_jobs=n_jobs,
                                        groups=manifest["corpus"].to_numpy())
    ok = ~np.isnan(X).any(axis=1)
    for a in X_aug:
        ok &= ~np.isnan(a).any(axis=1)
    return manifest, X, X_aug, ok


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    manifest, X, X_aug, ok = recipe_rows(args.manifest, cache=args.cache,
                                         augment=args.augment, copies=args.copies,
                                         seed=args.seed, n_jobs=args.jobs)
    rows, X, X_aug = manifest[ok].reset_index(drop=True), X[ok], [a[ok] for a in X_aug]
    results = {norm: run(args, rows, X, X_aug, norm) for norm in NORMALIZATIONS}
    summary = {"command": "python experiments/tuning_rule.py " + shlex.join(
                   sys.argv[1:] if argv is None else argv),
               "machine": f"{os.cpu_count()} CPUs, {platform.machine()}",
               "seconds": time.perf_counter() - start, "augment": args.augment,
               "copies": args.copies, "seed": args.seed, "tune": args.tune,
               "results": results}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "report.md").write_text(render(summary))
    print(f"wrote {out}/report.md ({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
