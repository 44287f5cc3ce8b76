"""The features' noise floor (``FeatureConfig.floor_db``) against accuracy and invariance
-> reports/floor_ablation/.

Measurement only (nothing is chosen or shipped): the features are extracted at each floor
(through the shared cache) and scored with fixed linear models, so that the floor is the
only thing that changes:

1. RAVDESS 6-fold speaker-grouped CV (folds of 4 consecutive actors, 8 classes): ridge
   (alpha 3000) and logistic regression (C 0.003), strict and speaker-normalised; accuracy.
2. Leave one corpus out (RAVDESS, TESS, EMOVO; calm excluded): logistic regression, UAR of
   the held-out corpus as a closed set.
3. Invariance: the same logistic regressions trained without RAVDESS actors 17-24, on 40
   clips of actors 17-20 (actors 21-24, the condition benchmark's held-out speakers, are
   not read) through the invariance transformations of ``bench_conditions`` that keep
   16 kHz float input; top-1 agreement with the clean clip and mean |dp|; a
   speaker-normalised model reads each speaker's statistics from that speaker's clean clips.

    .venv/bin/python experiments/floor_ablation.py [--floors 30,45,60] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_conditions
from loco import corpus_features, load_rows

from ser_classic.data import load_audio
from ser_classic.evaluation import speaker_normalize
from ser_classic.features import FeatureConfig, extract_batch, extract_features
from ser_classic.recognizer import SpeakerStats
from ser_classic.reporting import write_text

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ("emovo", "ravdess", "tess")
PROBE = tuple(f"ravdess_{i}" for i in (17, 18, 19, 20))
BLIND = PROBE + bench_conditions.HOLDOUT  # never trained on by the invariance models


def _models(*, balanced: bool = True, clip: float | None = None, alpha: float = 3000.0,
            C: float = 0.003):
    """The fixed ridge (``alpha``) and logistic regression (``C``) on standardised features
    (clipped to +-``clip`` when given)."""
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    weight = "balanced" if balanced else None

    def scaled(classifier):
        def make():  # new steps for every model: fitted pipelines share nothing
            steps = [StandardScaler()]
            if clip is not None:
                steps.append(FunctionTransformer(np.clip,
                                                 kw_args={"a_min": -clip, "a_max": clip}))
            return make_pipeline(*steps, classifier())
        return make

    return {"ridge": scaled(lambda: RidgeClassifier(alpha=alpha, class_weight=weight)),
            "logreg": scaled(lambda: LogisticRegression(C=C, max_iter=3000,
                                                        class_weight=weight))}


def group6(speakers) -> np.ndarray:
    """RAVDESS's group6 fold of each ``ravdess_NN`` speaker: 4 consecutive actors each."""
    return (np.array([int(s.split("_")[1]) for s in speakers]) - 1) // 4


def uar(y_true, y_pred) -> float:
    """Unweighted average recall (macro recall over the classes of ``y_true`` and
    ``y_pred``)."""
    from sklearn.metrics import recall_score
    return float(recall_score(y_true, y_pred, average="macro"))


def uar_ece(y, classes: np.ndarray, proba: np.ndarray) -> dict:
    """UAR of the argmax of ``proba`` (columns ``classes``) and its ECE (15 bins),
    rounded to 4 decimals."""
    from ser_classic.evaluation import expected_calibration_error
    return {"uar": round(uar(y, classes[proba.argmax(axis=1)]), 4),
            "ece": round(float(expected_calibration_error(np.searchsorted(classes, y), proba)),
                         4)}


def class_balanced(weights: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``weights`` rescaled so that every class carries the same total, with mean 1 (of
    equal weights: the models' balanced class weights)."""
    w = np.asarray(weights, dtype=np.float64).copy()
    for label in np.unique(y):
        w[y == label] /= w[y == label].sum()
    return w / w.mean()


def cv_and_loco(X: np.ndarray, y, corpus, speaker, *, weights=None,
                clip: float | None = None, columns=None, models=None,
                test_features=None) -> dict:
    """Group6 accuracy per model on RAVDESS and LOCO UAR per corpus (one normalisation).

    ``weights``: training weight of every row (classes balanced on the weighted counts by
    :func:`class_balanced`) in place of the models' balanced class weights, or a function
    of a fit's training row indices giving their weights (computed inside each fold);
    ``clip``: the standardised features clipped to +-``clip``; ``columns``: a function of
    a fit's training row indices giving the feature columns it uses (chosen inside each
    fold); ``models``: ``{"ridge": make, "logreg": make}`` in place of :func:`_models`'
    (each ``make()`` a new unfitted estimator); ``test_features``: a function of a fitted
    model and held-out row indices giving those rows' features in place of ``X``'s (a
    normalisation that needs the model, e.g. an estimated reference; ``X`` then serves
    the training rows only)."""
    from sklearn.metrics import accuracy_score

    out = {}
    if test_features is not None and columns is not None:
        raise ValueError("test_features and columns go one at a time")
    if models is None:
        models = _models(balanced=weights is None, clip=clip)

    def fit(make, rows: np.ndarray):
        """A predict function of held-out rows' indices for a model fitted on ``rows``."""
        model = make()
        w = weights(rows) if callable(weights) else None if weights is None else weights[rows]
        extra = {} if w is None else {f"{model.steps[-1][0]}__sample_weight":
                                      class_balanced(w, y[rows])}
        cols = slice(None) if columns is None else columns(rows)
        model.fit(X[rows][:, cols], y[rows], **extra)
        if test_features is not None:
            return lambda test: model.predict(test_features(model, test))
        return lambda test: model.predict(X[test][:, cols])

    r = np.flatnonzero(corpus == "ravdess")
    fold = group6(speaker[r])
    for name, make in models.items():
        pred = np.empty(r.size, dtype=object)
        for f in np.unique(fold):
            test = fold == f
            pred[test] = fit(make, r[~test])(r[test])
        out[f"group6 {name}"] = float(accuracy_score(y[r], pred.astype(str)))
    for held in CORPORA:
        train = np.flatnonzero((corpus != held) & (y != "calm"))
        test = (corpus == held) & (y != "calm")
        pred = fit(models["logreg"], train)(test)
        out[f"loco {held}"] = uar(y[test], pred)
    out["loco mean"] = float(np.mean([out[f"loco {c}"] for c in CORPORA]))
    return out


def probe_rows(rows, *, seed: int) -> np.ndarray:
    """40 clips of actors 17-20 (calm excluded), drawn at ``seed``, sorted."""
    y, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    probe = np.flatnonzero(np.isin(speaker, PROBE) & (y != "calm"))
    return np.sort(np.random.default_rng(seed).choice(probe, 40, replace=False))


def transformed_features(config: FeatureConfig, rows, probe: np.ndarray, *, seed: int,
                         transforms: dict | None = None
                         ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Feature rows of the ``probe`` clips, clean and through every transformation
    (``transforms``, default the invariance transformations of ``bench_conditions``) that
    keeps 16 kHz float input (other rates and integer arrays are the recogniser's input
    path, not this) -> ``(clean, {name: rows})``.
    """
    clean = [load_audio(rows["path"][i], sr=bench_conditions.SR).astype(np.float64)
             for i in probe]
    X0 = np.array([extract_features(c, config=config) for c in clean])
    out = {}
    if transforms is None:
        transforms = bench_conditions.invariance_transforms()
    for i, (name, transform) in enumerate(transforms.items()):
        rng = np.random.default_rng([seed, i])
        waves = [transform(c, rng) for c in clean]
        if any(sr != bench_conditions.SR or w.dtype.kind != "f" for w, sr in waves):
            continue
        out[name] = np.array([extract_features(w, config=config) for w, _ in waves])
    return X0, out


def blind_models(X: np.ndarray, X_speaker: np.ndarray, rows, *,
                 clip: float | None = None) -> dict:
    """The logistic regressions blind to actors 17-24 (calm left out), strict on ``X`` and
    speaker-normalised on ``X_speaker`` (``clip`` as in :func:`cv_and_loco`)."""
    y, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    train = ~np.isin(speaker, BLIND) & (y != "calm")
    logreg = _models(clip=clip)["logreg"]
    return {"strict": logreg().fit(X[train], y[train]),
            "speaker_norm": logreg().fit(X_speaker[train], y[train])}


def invariance_scores(X: np.ndarray, X_speaker: np.ndarray, rows, probe: np.ndarray,
                      clean: np.ndarray, transformed: dict[str, np.ndarray], *,
                      clip: float | None = None, fitted: dict | None = None) -> dict:
    """Agreement / mean |dp| per transformation of logistic regressions blind to actors
    17-24 (``X`` strict rows, ``X_speaker`` the same rows normalised per speaker; the
    probe clips' rows ``clean`` and ``transformed`` have ``X``'s columns; ``clip`` as in
    :func:`cv_and_loco`; ``fitted``: those :func:`blind_models`, when already fitted); a
    speaker-normalised model reads each speaker's statistics from its clean clips."""
    speaker = rows["speaker"].to_numpy()
    stats = {s: SpeakerStats.from_features(X[speaker == s]) for s in set(speaker[probe])}

    def normalised(F):
        return np.vstack([stats[s].apply(f[None])
                          for f, s in zip(F, speaker[probe], strict=True)])

    fitted = blind_models(X, X_speaker, rows, clip=clip) if fitted is None else fitted

    def proba(F):
        return {"strict": fitted["strict"].predict_proba(F),
                "speaker_norm": fitted["speaker_norm"].predict_proba(normalised(F))}

    P0 = proba(clean)
    out = {}
    for name, F in transformed.items():
        P = proba(F)
        out[name] = {k: {"agreement": float(np.mean(P[k].argmax(1) == P0[k].argmax(1))),
                         "mean_abs_dp": float(np.mean(np.abs(P[k] - P0[k]).max(1)))}
                     for k in P}
    return out


def invariance(config: FeatureConfig, X: np.ndarray, X_speaker: np.ndarray, rows, *,
               seed: int) -> dict:
    """Agreement / mean |dp| per transformation of models blind to actors 17-24 (``X``
    strict rows, ``X_speaker`` the same rows normalised per speaker)."""
    probe = probe_rows(rows, seed=seed)
    clean, transformed = transformed_features(config, rows, probe, seed=seed)
    return invariance_scores(X, X_speaker, rows, probe, clean, transformed)


def accuracy_row(label: str, norm: str, r: dict) -> str:
    """A table row of :func:`cv_and_loco`'s results ``r``: ``label``, the normalisation,
    both group6 accuracies and the LOCO mean with each corpus's UAR."""
    return (f"| {label} | {norm} | {r['group6 ridge']:.3f} | {r['group6 logreg']:.3f} | "
            f"{r['loco mean']:.3f} (" + " / ".join(f"{r[f'loco {c}']:.3f}" for c in CORPORA)
            + ") |")


def render(summary: dict) -> str:
    floors = list(summary["floors"])
    lines = ["# The features' noise floor: accuracy against invariance", "",
             f"Command: `{summary['command']}` ({summary['seconds']:.0f} s).", "",
             " ".join(" ".join(__doc__.split("\n\n")[1:3]).split()), "",
             "Actors 17-20 stand in for held-out speakers in part 3, so the invariance "
             "figures are those of plain models with no augmentation (the shipped models' "
             "are in reports/conditions/).", "",
             "## Accuracy (fixed models)", "",
             "| floor_db | normalisation | RAVDESS group6 ridge | RAVDESS group6 logreg | "
             "LOCO mean (EMOVO / RAVDESS / TESS) |", "|---|---|---|---|---|"]
    for f in floors:
        for norm, r in summary["floors"][f]["accuracy"].items():
            lines.append(accuracy_row(f, norm, r))
    lines += ["", "## Invariance (agreement / mean |dp|, strict | speaker_norm; targets "
              ">= 0.95 and <= 0.05)", "",
              "| transformation | " + " | ".join(f"floor {f}" for f in floors) + " |",
              "|---|" + "---|" * len(floors)]
    names = list(summary["floors"][floors[0]]["invariance"])
    for name in names:
        cells = []
        for f in floors:
            r = summary["floors"][f]["invariance"][name]
            cells.append(" \\| ".join(f"{r[k]['agreement']:.2f} / {r[k]['mean_abs_dp']:.3f}"
                                      for k in ("strict", "speaker_norm")))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    met = {f: {k: sum(bench_conditions._meets(r[k])
                      for r in summary["floors"][f]["invariance"].values())
               for k in ("strict", "speaker_norm")} for f in floors}
    lines.append("| **meeting both targets** | " + " | ".join(
        f"**{met[f]['strict']} \\| {met[f]['speaker_norm']} of {len(names)}**"
        for f in floors) + " |")
    return "\n".join(lines) + "\n"


def ablation_parser(doc: str, *, out: str, seed: bool = True, cached: bool = True
                    ) -> argparse.ArgumentParser:
    """The options of the fixed-model ablations (this one, ``extremes_ablation`` and,
    without ``--seed``, ``descriptor_groups``; without ``--cache`` and ``--jobs``, those
    that extract their features anew in one process)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--data", default="../shared/data")
    if cached:
        p.add_argument("--cache", default=".cache/features")
        p.add_argument("--jobs", type=int, default=2)
    if seed:
        p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out)
    return p


def corpus_rows(args) -> tuple:
    """``(rows, emotion, corpus, speaker)`` of the three corpora of ``args.manifest``."""
    rows = load_rows(Path(args.manifest), Path(args.data), list(CORPORA))
    return (rows, rows["emotion"].to_numpy(), rows["corpus"].to_numpy(),
            rows["speaker"].to_numpy())


def write_summary(out: Path, summary: dict, report: str) -> None:
    """``summary.json`` and ``report.md`` in ``out``."""
    write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    write_text(out / "report.md", report)
    print(f"wrote {out}/report.md")


def report_head(title: str, summary: dict, doc: str) -> list[str]:
    """A measurement report's first lines: its title, the command that made it and the
    script's docstring from its second paragraph to the usage line, in Markdown."""
    return [f"# {title}", "", f"Command: `{summary['command']}` ({summary['seconds']:.0f} s).",
            "", doc.split("\n\n", 1)[1].split("\n\n    .venv")[0].replace("``", "`"), ""]


def beats(candidate: dict, base: dict) -> bool:
    """The fixed-model ablations' rule for a lead: ``candidate``'s LOCO mean at least 0.010
    above ``base``'s, with neither group6 accuracy more than 0.010 below."""
    return (candidate["loco mean"] - base["loco mean"] >= 0.010 - 1e-9
            and all(candidate[g] - base[g] >= -0.010 - 1e-9
                    for g in ("group6 ridge", "group6 logreg")))


def protocol_table(results: list[dict], *, extra: dict | None = None) -> list[str]:
    """A table of fixed-model protocols (``protocol`` of each result): group6 accuracies,
    LOCO mean and per corpus, then ``extra`` columns (``{name: cell(result) -> str}``)."""
    extra = extra or {}
    lines = ["| protocol | group6 ridge | group6 logreg | LOCO mean | "
             + " | ".join(f"LOCO {c}" for c in CORPORA) + "".join(f" | {n}" for n in extra)
             + " |", "|---|---|---|---|" + "---|" * (len(CORPORA) + len(extra))]
    for r in results:
        lines.append(f"| {r['protocol']} | {r['group6 ridge']:.3f} | {r['group6 logreg']:.3f}"
                     f" | {r['loco mean']:.3f} | "
                     + " | ".join(f"{r[f'loco {c}']:.3f}" for c in CORPORA)
                     + "".join(f" | {cell(r)}" for cell in extra.values()) + " |")
    return lines


def report_on_known_emotions(args, name: str, argv, run, render, *, with_rows: bool = False,
                             verdict=None, **fields) -> int:
    """The cached default features of the three corpora, calm left out first (as
    ``--exclude-emotions calm``), given to ``run(X, y, speaker, corpus)`` (and
    ``rows=``, the manifest rows, ``with_rows``); its results written with ``fields`` as
    ``experiments/{name}.py``'s summary and report, with the summary's ``verdict`` (a
    function of the summary) when given."""
    start = time.time()
    rows, X = corpus_features(args.manifest, args.data, list(CORPORA), cache=args.cache,
                              jobs=args.jobs)
    known = (rows["emotion"] != "calm").to_numpy()
    rows, X = rows[known].reset_index(drop=True), X[known]
    results = run(X, rows["emotion"].to_numpy(), rows["speaker"].to_numpy(),
                  rows["corpus"].to_numpy(), **({"rows": rows} if with_rows else {}))
    summary = {"command": f"python experiments/{name}.py" + "".join(
                   f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])),
               "seconds": round(time.time() - start, 1), **fields, "results": results}
    if verdict is not None:
        summary["verdict"] = verdict(summary)
    write_summary(Path(args.out), summary, render(summary))
    return 0


def main(argv=None) -> int:
    p = ablation_parser(__doc__, out="reports/floor_ablation")
    p.add_argument("--floors", default="30,45,60")
    args = p.parse_args(argv)
    start = time.perf_counter()
    rows, y, corpus, speaker = corpus_rows(args)
    summary = {"command": "python experiments/floor_ablation.py"
               + "".join(f" {a}" for a in (argv or sys.argv[1:])), "floors": {}}
    for floor in (float(f) for f in args.floors.split(",")):
        config = FeatureConfig(floor_db=floor)
        X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                     cache_dir=args.cache, n_jobs=args.jobs)
        if errors:
            raise SystemExit(f"{len(errors)} clips failed at floor_db {floor}: {errors[:3]}")
        X_speaker = speaker_normalize(X, speaker)
        summary["floors"][f"{floor:g}"] = {
            "feature_config": config.hash,
            "accuracy": {"strict": cv_and_loco(X, y, corpus, speaker),
                         "speaker_norm": cv_and_loco(X_speaker, y, corpus, speaker)},
            "invariance": invariance(config, X, X_speaker, rows, seed=args.seed)}
        print(f"floor_db {floor:g} done ({time.perf_counter() - start:.0f} s)", flush=True)
    summary["seconds"] = time.perf_counter() - start
    write_summary(ROOT / args.out, summary, render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
