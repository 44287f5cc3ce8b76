"""Test-time views: class probabilities averaged over warped and pitch-shifted views of a
clip against the clip alone -> reports/test_time_views/.

Test-time augmentation is the textbook answer to a model that is confident on one
rendering of a clip and not on its neighbours. Here the views are the training copies'
own transformations without their randomness: the four VTLP warps of the deployed
preset (0.9, 0.95, 1.05, 1.1, on the spectrogram every descriptor reads) and, as a second
variant, those plus pitch shifts of -2, -1, +1 and +2 semitones (the `pitch` copies'
steps). No shift, no masks. A view's features come from the library's own copy path
(``features.augmented_features`` with the shift and the masks off), so the identity view
is the inference path's features. The probabilities of the clip and its views are
averaged (one vote each); a speaker-normalised model reads each view with that view's own
speaker statistics, as its training copies are read.

The model is the deployed teachers' recipe: family `linear`, the deployed preset's copies
(1 per member), grid points by ``tune_params(rule="best")``, fitted once per fold; all
variants score the same fitted model.

(a) leave one corpus out: for each corpus (RAVDESS actors 1-20, TESS, EMOVO), tuned
    (``speaker+corpus``) and fitted on the other corpora, scored on the held-out one
    (closed-set UAR, ECE over 15 bins);
(b) RAVDESS actors 1-20 in the 5 inner folds of 4 actors (``speaker`` tuning; UAR and ECE
    of the pooled out-of-fold predictions).

RAVDESS actors 21-24 are read by none. Rule, fixed before the first run: a variant is a
lead in a normalisation when its LOCO mean UAR is at least 0.010 above the clip alone's,
its CV UAR at most 0.010 below, and its mean held-out-corpus ECE not higher; it would
become an inference option of the shipped models only when a lead under strict and
speaker_norm.

    PYTHONPATH=. .venv/bin/python experiments/test_time_views.py [--out reports/test_time_views]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import bench_conditions as bench  # sibling scripts: their folder is sys.path[0]
import numpy as np
from tuning_rule import FAMILY, head, inner_scores, recipe_rows

from ser_classic import evaluation, pipeline
from ser_classic.artifact import train_model
from ser_classic.augment import AugmentConfig
from ser_classic.data import load_audio
from ser_classic.evaluation import expected_calibration_error
from ser_classic.features import FeatureConfig, _save_npy, augmented_features
from ser_classic.reporting import write_text

NORMALIZATIONS = ("strict", "speaker_norm")
#: The views' warps: the copies of the `vtlp` preset (no shift, no masks), in order.
WARPS = tuple(sorted(pipeline.AUGMENT_VARIANTS["vtlp"]["warp_factors"]))
PITCH_STEPS = (-2.0, -1.0, 1.0, 2.0)
VIEWS = tuple(("warp", a) for a in WARPS) + tuple(("pitch", s) for s in PITCH_STEPS)
VARIANTS = {"clip": 0, "vtlp views": len(WARPS), "vtlp+pitch views": len(VIEWS)}
_PLAIN = AugmentConfig(n_copies=1, max_shift_s=0.0, n_freq_masks=0, n_time_masks=0)


def parser(doc: str, *, out: str) -> argparse.ArgumentParser:
    """The options of a script that reads the views (``doc``: its docstring)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--cache", default=".cache/features")
    p.add_argument("--work", default=".cache/models/test_time_views",
                   help="where the pitch views' feature rows are kept between runs")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--augment", default=bench.RECIPE_AUGMENT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out)
    return p


def view_features(y: np.ndarray, *, config: FeatureConfig, views=VIEWS) -> np.ndarray:
    """Feature rows of ``views`` of one waveform, shape ``(len(views), n_features)``:
    ``("warp", a)`` the spectrogram warped by ``a``, ``("pitch", s)`` the waveform shifted
    by ``s`` semitones; no shift, no masks (the rng draws nothing that matters)."""
    rng = np.random.default_rng(0)
    return np.array([
        augmented_features(y, config=config, augment=_PLAIN, rng=rng, warp=value)
        if kind == "warp" else
        augmented_features(y, config=config, augment=replace(_PLAIN, pitch_steps=(value,)),
                           rng=rng)
        for kind, value in views])


def _pitch_views(path: str, config: FeatureConfig) -> np.ndarray:
    return view_features(load_audio(path, sr=config.sample_rate).astype(np.float64),
                         config=config, views=VIEWS[len(WARPS):])


def all_views(manifest, *, config: FeatureConfig, cache: str, work: Path,
              n_jobs: int) -> np.ndarray:
    """Every clip's view rows ``(n_clips, len(VIEWS), n_features)``: the warps are the
    `vtlp` preset's copies (the library's copy path and its feature cache ``cache``), the
    pitch views are kept in ``work`` under a key of the clips' hashes, the configuration
    and the steps."""
    from joblib import Parallel, delayed

    copies = pipeline.augmented_features("vtlp", manifest, config=config, copies=len(WARPS),
                                         cache_dir=cache, n_jobs=n_jobs)
    order = np.argsort(pipeline.AUGMENT_VARIANTS["vtlp"]["warp_factors"])
    pitched = VIEWS[len(WARPS):]
    key = hashlib.sha256(json.dumps([list(manifest["sha256"]), config.hash,
                                     list(pitched)]).encode()).hexdigest()[:12]
    path = work / f"pitch-views-{key}.npy"
    if path.exists():
        P = np.load(path)
    else:
        P = np.stack(Parallel(n_jobs=n_jobs, batch_size=8)(
            delayed(_pitch_views)(p, config) for p in manifest["path"]))
        _save_npy(path, P)
    return np.concatenate([np.stack([copies[k] for k in order], axis=1), P], axis=1)


def _scores(y: np.ndarray, P: np.ndarray, n_classes: int) -> dict:
    pred = P.argmax(axis=1)
    return {"uar": float(evaluation.classification_metrics(y, pred, n_classes=n_classes)
                         ["uar"]),
            "ece": float(expected_calibration_error(y, P)),
            "confidence": float(P.max(axis=1).mean())}


def fit_teacher(X, X_aug, rows, tr, *, tune, normalization, seed, n_jobs):
    """The teacher recipe on the ``tr`` rows of ``X`` (copies ``X_aug``), its grid points
    by the best mean inner score -> ``(training classes, estimator, its classes)``."""
    emotion, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    classes, scores = inner_scores(X, X_aug, rows, tr, tune=tune, normalization=normalization,
                                   seed=seed, n_jobs=n_jobs)
    params = {member: evaluation._member_choice(per, member, rule="best")
              for member, per in scores.items()}
    est, model_classes = train_model(X[tr], emotion[tr], name=FAMILY, speakers=speaker[tr],
                                     normalization=normalization, params=params,
                                     random_state=seed, X_aug=[a[tr] for a in X_aug])
    return classes, est, model_classes


def fold(X, X_aug, V, rows, tr, te, *, tune, normalization, seed, n_jobs):
    """The teacher recipe tuned and fitted on ``tr`` -> ``(y, n_classes, {variant:
    probabilities}, None)`` on the ``te`` clips of the training classes (closed set)."""
    emotion, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    classes, est, model_classes = fit_teacher(X, X_aug, rows, tr, tune=tune,
                                              normalization=normalization, seed=seed,
                                              n_jobs=n_jobs)
    held = [c for c in classes if c in set(emotion[te])]
    te = te & np.isin(emotion, held)
    X_te, V_te = evaluation.normalized_inputs(
        X[te], [V[te, k] for k in range(V.shape[1])], speaker[te],
        normalization=normalization, labels=emotion[te])
    P = [evaluation.closed_set_proba(est.predict_proba(F), model_classes, held)
         for F in [X_te, *V_te]]
    return (np.searchsorted(held, emotion[te]), len(held),
            {name: np.mean(P[:1 + n], axis=0) for name, n in VARIANTS.items()}, None)


def run_folds(rows, fold_of, *, normalization: str, variants, annotate) -> dict:
    """Every variant under (a) leave one corpus out and (b) RAVDESS actors 1-20 in 5
    inner folds, with the means the rule reads.

    ``fold_of(tr, te, tune) -> (y, n_classes, {variant: probabilities}, info)``;
    ``annotate(probabilities, info)`` gives a held-out corpus's extra entries (a
    variant's name: added to that variant's scores)."""
    corpora, speaker = rows["corpus"].to_numpy(), rows["speaker"].to_numpy()
    loco = {}
    for held in sorted(set(corpora)):
        start = time.perf_counter()
        y, n, P, info = fold_of(corpora != held, corpora == held, "speaker+corpus")
        extra = annotate(P, info)
        loco[held] = {"n": int(y.size), **{k: v for k, v in extra.items() if k not in P},
                      **{v: {**_scores(y, P[v], n), **extra.get(v, {})} for v in variants}}
        print(f"{normalization} loco {held}: " + ", ".join(
            f"{v} {loco[held][v]['uar']:.3f}/{loco[held][v]['ece']:.3f}" for v in variants)
            + f" ({time.perf_counter() - start:.0f} s)", flush=True)
    ravdess = corpora == "ravdess"
    ys, Ps = [], {v: [] for v in variants}
    for actors in bench.inner_folds(speaker[ravdess]):
        te = ravdess & np.isin(speaker, actors)
        y, n, P, _ = fold_of(ravdess & ~te, te, "speaker")
        ys.append(y)
        for v in variants:
            Ps[v].append(P[v])
    cv = {v: _scores(np.concatenate(ys), np.vstack(Ps[v]), n) for v in variants}
    print(f"{normalization} cv: " + ", ".join(f"{v} {cv[v]['uar']:.3f}" for v in variants),
          flush=True)
    return {"loco": loco, "cv": cv, **{v: {
        "loco_mean_uar": float(np.mean([loco[c][v]["uar"] for c in loco])),
        "loco_mean_ece": float(np.mean([loco[c][v]["ece"] for c in loco])),
        "cv_uar": cv[v]["uar"], "cv_ece": cv[v]["ece"]} for v in variants}}


def run(args, rows, X, X_aug, V, normalization) -> dict:
    def fold_of(tr, te, tune):
        return fold(X, X_aug, V, rows, tr, te, tune=tune, normalization=normalization,
                    seed=args.seed, n_jobs=args.jobs)

    def agreement(P, _):
        return {v: {"agreement": float((p.argmax(1) == P["clip"].argmax(1)).mean())}
                for v, p in P.items()}

    return run_folds(rows, fold_of, normalization=normalization, variants=list(VARIANTS),
                     annotate=agreement)


def is_lead(res: dict, variant: str) -> bool:
    """The rule fixed before the first run (module docstring)."""
    base, new = res["clip"], res[variant]
    return (new["loco_mean_uar"] - base["loco_mean_uar"] >= 0.010 - 1e-12
            and new["cv_uar"] - base["cv_uar"] >= -0.010 - 1e-12
            and new["loco_mean_ece"] <= base["loco_mean_ece"] + 1e-12)


def render(summary: dict) -> str:
    views = ", ".join(f"{k} {v:g}" for k, v in summary["views"])
    lines = [*head("Test-time views: probabilities averaged over warped and pitch-shifted "
                   "views", summary, __doc__),
             f"Views: {views}. The deployed preset's copies (`{summary['augment']}`, 1 per "
             f"member), seed {summary['seed']}. `agreement`: the share of held-out clips "
             "whose answer the views leave unchanged.", ""]
    verdicts = {}
    for norm, res in summary["results"].items():
        lines += [f"## {norm}", "",
                  "| held-out corpus | clips | " + " | ".join(
                      f"{v}: UAR / ECE / mean confidence" for v in VARIANTS)
                  + " | agreement with the clip alone |",
                  "|---|---|" + "---|" * len(VARIANTS) + "---|"]
        for held, f in res["loco"].items():
            lines.append(f"| {held} | {f['n']} | " + " | ".join(
                f"{f[v]['uar']:.3f} / {f[v]['ece']:.3f} / {f[v]['confidence']:.2f}"
                for v in VARIANTS) + " | " + " / ".join(
                f"{f[v]['agreement']:.2f}" for v in VARIANTS if v != "clip") + " |")
        lines += ["", "| variant | LOCO mean UAR | LOCO mean ECE | CV UAR (actors 1-20) | "
                  "CV ECE | verdict |", "|---|---|---|---|---|---|"]
        for v in VARIANTS:
            r = res[v]
            verdict = "" if v == "clip" else ("**a lead**" if is_lead(res, v)
                                              else "not a lead")
            if v != "clip":
                verdicts.setdefault(v, []).append(is_lead(res, v))
            lines.append(f"| {v} | {r['loco_mean_uar']:.3f} | {r['loco_mean_ece']:.3f} | "
                         f"{r['cv_uar']:.3f} | {r['cv_ece']:.3f} | {verdict} |")
        lines.append("")
    lines += ["## Verdict", ""]
    for v, leads in verdicts.items():
        lines.append(f"- {v}: " + ("a lead under both normalisations: it would become an "
                                   "inference option." if all(leads) else
                                   "not a lead under both normalisations; not shipped."))
    return "\n".join(lines) + "\n"


def views_rows(args) -> tuple:
    """The clips of :func:`tuning_rule.recipe_rows` whose rows and views are all usable
    -> ``(rows, X, X_aug, V)``, ``V`` their views' rows ``(n, len(VIEWS), n_features)``."""
    manifest, X, X_aug, ok = recipe_rows(args.manifest, cache=args.cache,
                                         augment=args.augment, copies=1, seed=args.seed,
                                         n_jobs=args.jobs)
    V = all_views(manifest, config=FeatureConfig(), cache=args.cache, work=Path(args.work),
                  n_jobs=args.jobs)
    ok &= ~np.isnan(V).any(axis=(1, 2))
    return (manifest[ok].reset_index(drop=True), X[ok], [a[ok] for a in X_aug], V[ok])


def write_report(args, argv, script: str, start: float, render, **fields) -> None:
    """``fields`` with the command, the machine and the time as ``args.out``'s
    summary.json, and ``render`` of it as its report.md."""
    summary = {"command": f"python experiments/{script}.py " + shlex.join(
                   sys.argv[1:] if argv is None else argv),
               "machine": f"{os.cpu_count()} CPUs, {platform.machine()}",
               "seconds": time.perf_counter() - start, "augment": args.augment,
               "seed": args.seed, **fields}
    out = Path(args.out)
    write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    write_text(out / "report.md", render(summary))
    print(f"wrote {out}/report.md ({summary['seconds']:.0f} s)")


def main(argv=None) -> int:
    args = parser(__doc__, out="reports/test_time_views").parse_args(argv)
    start = time.perf_counter()
    rows, X, X_aug, V = views_rows(args)
    print(f"views {V.shape} ({time.perf_counter() - start:.0f} s)", flush=True)
    results = {norm: run(args, rows, X, X_aug, V, norm) for norm in NORMALIZATIONS}
    write_report(args, argv, "test_time_views", start, render,
                 views=[list(v) for v in VIEWS], results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
