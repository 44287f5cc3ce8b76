"""Calibration under shift (issue 19, item 7) -> reports/calibration/.

The teacher is the deployed recipe: the selected ``linear`` family (ridge + logistic
regression, soft vote) with the stored teacher's parameters (tuned on the three corpora by
``make deploy-selected``; fixed here, not re-tuned per split), trained
on RAVDESS + TESS + EMOVO (7 emotions, calm excluded) with the stored teacher's
augmentation (``bench_conditions.RECIPE_AUGMENT``, one copy of each preset per clip),
feature version 3. Three probability outputs side by side:

uncalibrated         the teacher's own probabilities (what ``deploy-selected`` ships)
temperature          one T on 5 speaker-grouped out-of-fold folds of the training rows
corpus_temperature   one T on those pooled with leave-one-training-corpus-out folds
                     (each scheme weight 1/2; ``ser_classic.calibration.OutOfFold``)

Both temperatures come from the same out-of-fold predictions
(``ser_classic.calibration.trained_oof``, what ``ser-classic train --calibration ...``
runs), of the *training* rows of each outer split only.

Parts (``--parts``, each writes ``<part>.json``; the report is rebuilt from all of them):

ravdess     held-out RAVDESS speakers: 3 outer folds of 8 consecutive actors, each model
            trained on the other 16 actors + TESS + EMOVO.
corpus      each corpus held out (LOCO), the model trained on the other two.
conditions  the model of the ravdess fold holding out actors 17-24, on ``--condition-clips``
            clips of actors 21-24 under the degradations of
            ``experiments/bench_conditions.py`` (``ser_classic.conditions``).
noemotion   the same model on inputs with no emotion (noise, tones, music-like), numpy at
            fixed seeds: mean max p, share with max p > 0.5, without and with the
            atypicality shrink every scoring path applies (``ser_classic.typicality``).

Choice between the methods: per normalisation, the mean of (held-out RAVDESS speakers'
ECE, the mean ECE of the held-out corpora RAVDESS and EMOVO); TESS is reported as a
validation corpus and chooses nothing.

    .venv/bin/python experiments/calibration.py --out reports/calibration \\
        [--parts ravdess,corpus,conditions,noemotion] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import bench_conditions as bench  # the sibling script: its folder is sys.path[0]
import numpy as np

from ser_classic import data, evaluation
from ser_classic.artifact import train_model, used_feature_columns
from ser_classic.calibration import apply_temperature, calibration_metrics, trained_oof
from ser_classic.evaluation import normalized_inputs, reliability_curve
from ser_classic.features import FeatureConfig, extract_batch, extract_features
from ser_classic.pipeline import augmented_features
from ser_classic.reporting import plot_reliability, write_text
from ser_classic.typicality import Typicality

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
NORMS = ("strict", "speaker_norm")
METHODS = ("uncalibrated", "temperature", "corpus_temperature")
PARTS = ("ravdess", "corpus", "conditions", "noemotion")
CORPORA = ("emovo", "ravdess", "tess")
NO_EMOTIONS = ("calm",)
AUGMENT, COPIES = bench.RECIPE_AUGMENT, bench.RECIPE_COPIES
HOLDOUT = ("ravdess_21", "ravdess_22", "ravdess_23", "ravdess_24")
SELECTORS = ("ravdess", "emovo")  # held-out corpora that choose; TESS validates
TARGETS = {"held-out speakers": 0.05, "held-out corpus": 0.10, "condition": 0.10}
ABBR = {"strict": "strict", "speaker_norm": "spk-norm", "uncalibrated": "unc.",
        "temperature": "temp.", "corpus_temperature": "corpus temp."}


# --------------------------------------------------------------------------- helpers
def teacher_params(norm: str) -> dict:
    """The stored teacher's parameters (``make deploy-selected`` tuned them on the three
    corpora; here they are fixed, not re-tuned per split)."""
    return bench.teacher_params(norm)


def shipped_calibrations() -> str:
    """How the stored teachers and deployed students are calibrated, read off their cards:
    a sentence for the report."""
    def method(alias: str, *, student: bool) -> str:
        card = bench._stored_card(alias)
        info = (card["distillation"] if student else card["training"]).get("calibration")
        return f"`{info['method']}`" if info else "uncalibrated"

    def per_normalization(student: bool) -> str:
        return ", ".join(
            f"{norm} {method(alias, student=student)}" for norm, alias in
            (("strict", "deployed" if student else "teacher"),
             *((n, f"{'deployed' if student else 'teacher'}-{n}")
               for n in ("speaker_norm", "neutral_ref"))))

    return (f"As stored: the teachers {per_normalization(False)}; the deployed students "
            f"{per_normalization(True)}.")


class Data:
    """The recipe's clips (calm excluded), their features and augmented copies; ``jobs``
    parallel out-of-fold fits."""

    def __init__(self, manifest, config, cache, jobs: int = 1):
        self.jobs = jobs
        rows = manifest[manifest["corpus"].isin(CORPORA)
                        & ~manifest["emotion"].isin(NO_EMOTIONS)].reset_index(drop=True)
        self.rows = rows
        self.X = features(rows, config, cache)
        self.X_aug = augmented_features(AUGMENT, rows, config=config, copies=COPIES,
                                        cache_dir=cache)
        self.em = rows["emotion"].to_numpy()
        self.spk = rows["speaker"].to_numpy()
        self.corpus = rows["corpus"].to_numpy()
        self.classes = sorted(set(self.em))
        self.y = np.searchsorted(self.classes, self.em)


def fit_calibrated(d: Data, train: np.ndarray, norm: str) -> dict:
    """The teacher on the rows ``train`` and both temperatures from one set of
    out-of-fold predictions of those rows (nothing of the held-out rows)."""
    t0 = time.perf_counter()
    aug = [a[train] for a in d.X_aug]
    params = teacher_params(norm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est, classes = train_model(d.X[train], d.em[train], name="linear",
                                   speakers=d.spk[train], normalization=norm,
                                   params=params, X_aug=aug)
        oof = trained_oof(d.X[train], d.em[train], name="linear", speakers=d.spk[train],
                          corpora=d.corpus[train], normalization=norm,
                          params=params, X_aug=aug, n_jobs=d.jobs)
    temps = {m: oof.temperature(m) for m in METHODS[1:]}
    Xp = normalized_inputs(d.X[train], (), d.spk[train], normalization=norm)[0]
    typical = Typicality.fit(Xp, groups=d.spk[train],
                             columns=used_feature_columns(est, d.X.shape[1]))
    return {"est": est, "classes": classes, "T": temps, "typicality": typical,
            "oof": {m: oof.info(m, t) for m, t in temps.items()},
            "seconds": round(time.perf_counter() - t0, 1)}


def inputs(X, speakers, norm):
    return normalized_inputs(X, (), speakers, normalization=norm)[0]


def outputs(model: dict, Xt: np.ndarray) -> dict[str, np.ndarray]:
    P = model["est"].predict_proba(Xt)
    return {"uncalibrated": P, **{m: apply_temperature(P, temperature=t)
                                  for m, t in model["T"].items()}}


def scores(y, P) -> dict:
    m = calibration_metrics(y, P)
    m["uar"] = round(float(evaluation.classification_metrics(
        y, P.argmax(axis=1), n_classes=P.shape[1])["uar"]), 4)
    m["mean_max_p"] = round(float(P.max(axis=1).mean()), 4)
    return m


def features(rows, config, cache):
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                 cache_dir=cache, n_jobs=1)
    if errors:
        raise SystemExit(f"feature extraction failed: {errors[:3]}")
    return X


def temps_of(model: dict) -> dict:
    return {m: round(t, 4) for m, t in model["T"].items()}


# --------------------------------------------------------------------------- parts
_MODELS: dict = {}  # (norm, held-out block) -> fit_calibrated, shared by the parts


def part_ravdess(d: Data, out: Path) -> dict:
    rav = np.flatnonzero(d.corpus == "ravdess")
    blocks = [d.spk[rav][te] for _, te in
              evaluation.outer_splits(d.spk[rav], split="group6", n_folds=3)]
    blocks = [tuple(np.unique(b)) for b in blocks]
    result = {"n_clips": int(rav.size), "folds": [f"{b[0]}..{b[-1]}" for b in blocks],
              "runs": {}}
    for norm in NORMS:
        P = {m: np.zeros((rav.size, len(d.classes))) for m in METHODS}
        temps, oof = [], []
        for block in blocks:
            test = np.isin(d.spk, block)
            if (norm, block) not in _MODELS:
                _MODELS[norm, block] = fit_calibrated(d, ~test, norm)
            model = _MODELS[norm, block]
            where = np.isin(d.spk[rav], block)
            for m, p in outputs(model, inputs(d.X[test], d.spk[test], norm)).items():
                P[m][where] = p
            temps.append(temps_of(model))
            oof.append(model["oof"]["corpus_temperature"])
            print(f"ravdess {norm} {block[0]}..{block[-1]} T={temps[-1]} "
                  f"[{model['seconds']:.0f} s]", flush=True)
        y = d.y[rav]
        result["runs"][norm] = {"temperatures": temps, "inner_oof": oof,
                                "held_out": {m: scores(y, p) for m, p in P.items()}}
        plot_reliability({m: reliability_curve(y, p) for m, p in P.items()},
                         title=f"RAVDESS held-out speakers, {norm} (3 folds of 8 actors)",
                         path=out / f"reliability_ravdess_speakers_{norm}.png")
    return result


def part_corpus(d: Data, out: Path) -> dict:
    result = {"classes": d.classes, "runs": {}}
    for test_corpus in CORPORA:
        test = d.corpus == test_corpus
        for norm in NORMS:
            model = fit_calibrated(d, ~test, norm)
            P = outputs(model, inputs(d.X[test], d.spk[test], norm))
            key = f"{test_corpus} {norm}"
            result["runs"][key] = {
                "train": sorted(set(d.corpus[~test])), "test": test_corpus,
                "n_test": int(test.sum()), "temperatures": temps_of(model),
                "inner_oof": model["oof"]["corpus_temperature"],
                "held_out": {m: scores(d.y[test], p) for m, p in P.items()}}
            plot_reliability({m: reliability_curve(d.y[test], p) for m, p in P.items()},
                             title=f"held-out corpus {test_corpus.upper()}, {norm}",
                             path=out / f"reliability_{test_corpus}_{norm}.png")
            print(f"corpus {key}: T={temps_of(model)} [{model['seconds']:.0f} s]",
                  flush=True)
    return result


def holdout_model(d: Data, norm: str) -> dict:
    """The ravdess fold's model whose held-out actors include 21-24."""
    for (n, block), model in _MODELS.items():
        if n == norm and set(HOLDOUT) <= set(block):
            return model
    block = tuple(f"ravdess_{i:02d}" for i in range(17, 25))
    _MODELS[norm, block] = fit_calibrated(d, ~np.isin(d.spk, block), norm)
    return _MODELS[norm, block]


def part_conditions(d: Data, config, out: Path, *, n_clips: int, seed: int = 0) -> dict:
    models = {norm: holdout_model(d, norm) for norm in NORMS}
    held = np.flatnonzero(np.isin(d.spk, HOLDOUT))
    rng = np.random.default_rng(seed)
    n_clips = held.size if n_clips <= 0 else min(n_clips, held.size)
    pick = held[np.sort(rng.choice(held.size, n_clips, replace=False))]
    # babble talkers: clips of RAVDESS training actors (01-16) of the held-out model
    train_rav = np.flatnonzero((d.corpus == "ravdess") & ~np.isin(
        d.spk, [f"ravdess_{i:02d}" for i in range(17, 25)]))
    talk = train_rav[np.sort(rng.choice(train_rav.size, 40, replace=False))]
    clean = [data.load_audio(p, sr=SR).astype(np.float64) for p in d.rows["path"][pick]]
    talkers = [data.load_audio(p, sr=SR).astype(np.float64) for p in d.rows["path"][talk]]
    y, t_spk = d.y[pick], d.spk[pick]
    transforms = bench.condition_transforms(babble_talkers=talkers,
                                            rir=bench.room_impulse_response())
    result = {"n_clips": int(pick.size), "held_out_model": "actors 17-24 held out",
              "temperatures": {n: temps_of(m) for n, m in models.items()},
              "conditions": {}}
    for i, (cname, transform) in enumerate(transforms.items()):
        t0 = time.perf_counter()
        crng = np.random.default_rng([seed, 100 + i])
        Xc = np.array([extract_features(transform(c, crng)[0], config=config)
                       for c in clean])
        entry = {}
        for norm, model in models.items():
            Xt = inputs(Xc, t_spk, norm)  # speaker_norm: statistics of the same condition
            a = model["typicality"].statistic(Xt)
            for m, P in outputs(model, Xt).items():
                entry[f"{norm} {m}"] = scores(y, P)
            entry[f"{norm} atypical share"] = round(float(
                model["typicality"].atypical(a).mean()), 4)
        result["conditions"][cname] = entry
        print(f"condition {cname} [{time.perf_counter() - t0:.0f} s]", flush=True)
    return result


def no_emotion_clips(seed: int = 0, n: int = 12, seconds: float = 3.0) -> dict:
    """Inputs with no emotion to recognise, made with numpy at fixed seeds."""
    t = np.arange(int(SR * seconds)) / SR
    out: dict[str, list[np.ndarray]] = {}

    def level(x, rng, lo=-30.0, hi=-12.0):  # random RMS in dBFS, peaks below 0.9
        x = x / (np.sqrt(np.mean(x**2)) + 1e-12) * 10 ** (rng.uniform(lo, hi) / 20)
        return x * min(1.0, 0.9 / (np.abs(x).max() + 1e-12))

    def note(f0, rng, n_harm=6):
        env = np.minimum(1.0, t / 0.02) * np.exp(-t * rng.uniform(0.2, 1.0))
        return env * sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k**1.2
                         for k in range(1, n_harm + 1))

    def chords(rng):
        y = np.zeros_like(t)
        for start in np.arange(0, seconds, seconds / 4):  # four chords
            root = 110 * 2 ** (rng.integers(0, 24) / 12)
            seg = (t >= start) & (t < start + seconds / 4)
            for semis in (0, 4, 7, 12):
                y[seg] += note(root * 2 ** (semis / 12), rng)[: seg.sum()]
        return y

    def drums(rng):
        y = np.zeros_like(t)
        bpm = rng.uniform(90, 140)
        for beat in np.arange(0, seconds, 60 / bpm):
            i = int(beat * SR)
            n_ = min(int(0.25 * SR), t.size - i)
            tt = np.arange(n_) / SR
            kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 12)
            hat = rng.standard_normal(n_) * np.exp(-tt * 60) * 0.3
            y[i:i + n_] += kick + hat
        return y

    makers = {
        "white noise": lambda rng: bench.white_noise(t.size, rng=rng),
        "pink noise": lambda rng: bench.pink_noise(t.size, rng=rng),
        "chords (harmonic tones)": chords,
        "sustained tone with harmonics": lambda rng: note(
            rng.uniform(100, 400), rng, n_harm=10) * np.exp(t * 0.5),
        "drum-like pulse": drums,
        "chords over drums": lambda rng: chords(rng) + 0.7 * drums(rng),
        "silence with -60 dBFS noise": lambda rng: level(
            rng.standard_normal(t.size), rng, -60.0, -60.0),
    }
    for k, (name, make) in enumerate(makers.items()):
        rng = np.random.default_rng([seed, k])
        clips = []
        for _ in range(n):
            y = make(rng)
            if not name.startswith("silence"):
                y = level(y, rng)
            clips.append(bench.pcm16(y))
        out[name] = clips
    return out


def part_noemotion(d: Data, config, out: Path) -> dict:
    models = {norm: holdout_model(d, norm) for norm in NORMS}
    result = {"temperatures": {n: temps_of(m) for n, m in models.items()}, "inputs": {}}
    for name, clips in no_emotion_clips().items():
        Xc = np.array([extract_features(c, config=config) for c in clips])
        entry = {"n": len(clips)}
        for norm, model in models.items():
            # speaker_norm: the clips of one kind z-scored with their own statistics
            Xt = inputs(Xc, np.zeros(len(Xc)), norm)
            a = model["typicality"].statistic(Xt)
            for m, P in outputs(model, Xt).items():
                for shrink, Q in (("raw", P), ("shrunk", model["typicality"].shrink(P, a))):
                    entry[f"{norm} {m} {shrink}"] = {
                        "mean_max_p": round(float(Q.max(1).mean()), 4),
                        "share_max_p_over_0.5": round(float(np.mean(Q.max(1) > 0.5)), 4)}
            entry[f"{norm} atypical share"] = round(float(
                model["typicality"].atypical(a).mean()), 4)
        result["inputs"][name] = entry
        print(f"no-emotion {name}", flush=True)
    return result


# --------------------------------------------------------------------------- report
def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _f(x) -> str:
    return f"{x:.3f}"


def selection(results: dict) -> dict:
    """Per normalisation and method: held-out speakers' ECE, mean ECE of the selecting
    held-out corpora, their mean (the criterion), and the method it chooses."""
    out = {}
    for norm in NORMS:
        try:
            spk = results["ravdess"]["runs"][norm]["held_out"]
            loco = [results["corpus"]["runs"][f"{c} {norm}"]["held_out"] for c in SELECTORS]
        except KeyError:
            continue
        rows = {}
        for m in METHODS:
            corp = float(np.mean([h[m]["ece"] for h in loco]))
            rows[m] = {"speakers": spk[m]["ece"], "corpora": round(corp, 4),
                       "criterion": round((spk[m]["ece"] + corp) / 2, 4)}
        out[norm] = {"rows": rows,
                     "chosen": min(METHODS, key=lambda m: rows[m]["criterion"])}
    return out


def _targets_md(results: dict) -> list[str]:
    rows = []

    def add(setting, where, h, target, n=None):
        e = [h[m]["ece"] for m in METHODS]
        met = ["yes" if v <= target else "no" for v in e]
        rows.append(_row([setting, where, *map(_f, e), f"<= {target:.2f}",
                          " / ".join(met)]))

    for norm, run in results.get("ravdess", {}).get("runs", {}).items():
        add("held-out speakers", f"RAVDESS, {norm}", run["held_out"],
            TARGETS["held-out speakers"])
    for key, run in results.get("corpus", {}).get("runs", {}).items():
        c, norm = key.split(" ")
        add("held-out corpus", f"{c.upper()}{' (validation)' if c == 'tess' else ''}, "
            f"{norm}", run["held_out"], TARGETS["held-out corpus"])
    cond = results.get("conditions", {})
    for cname, e in cond.get("conditions", {}).items():
        for norm in NORMS:
            add(f"condition ({cond['n_clips']} clips)", f"{cname}, {norm}",
                {m: e[f"{norm} {m}"] for m in METHODS}, TARGETS["condition"])
    if not rows:
        return []
    met = {m: sum(r.split("|")[-2].strip().split(" / ")[i] == "yes" for r in rows)
           for i, m in enumerate(METHODS)}
    return ["## Targets (ECE, 15 bins)", "",
            "Settings meeting their target: " + ", ".join(
                f"{m} {k} of {len(rows)}" for m, k in met.items()) + ".", "",
            _row(["setting", "data", *[f"ECE {m}" for m in METHODS], "target",
                  "met (unc. / temp. / corpus_temp.)"]), _row(["---"] * 7), *rows, ""]


def _table(h: dict) -> list[str]:
    cols = ["accuracy", "uar", "ece", "brier", "nll", "mean_max_p"]
    return [_row(["method", *cols]), _row(["---"] * (len(cols) + 1)),
            *[_row([m, *[h[m][c] for c in cols]]) for m in METHODS]]


def write_report(results: dict, out: Path, command: str, part_commands: dict) -> None:
    runs = sorted(set(part_commands.values()))  # every part by one run: its command
    lines = ["# Calibration under shift (issue 19, item 7)", "",
             f"Command: `{runs[0] if len(runs) == 1 else command}`", "",
             "Wall-clock seconds per part (out-of-fold fits on the command's --jobs): " + ", ".join(
                 f"{p} {results[p]['seconds']:.0f}" for p in part_commands) + ".", "",
             *([f"- {p}: `{c}`" for p, c in part_commands.items()] + [""]
               if len(runs) > 1 else []),
             "Teacher: the deployed recipe (`linear` family, the stored teacher's "
             "parameters, tuned on the three corpora by `make deploy-selected` and fixed "
             "here; RAVDESS + TESS + EMOVO, 7 emotions, calm "
             f"excluded; `--augment {AUGMENT} --copies {COPIES}`; feature version 3). "
             "*temperature*: one T by NLL on 5 speaker-grouped out-of-fold folds of the "
             "training rows (`--calibration temperature`); *corpus_temperature*: one T on "
             "those pooled with leave-one-training-corpus-out folds, each scheme weighing "
             "1/2 and each held-out corpus equally within its scheme "
             "(`--calibration corpus_temperature`). Both from the same out-of-fold "
             "predictions of the training rows of each outer split "
             "(`ser_classic.calibration.trained_oof`); nothing of the held-out rows enters "
             "a temperature. ECE: 15 equal-width bins of the top-1 probability. "
             f"{shipped_calibrations()} A temperature growing with the clip's atypicality is "
             "measured on inner folds only in [atypical_temperature.md]"
             "(atypical_temperature.md) (`experiments/calibration_atypicality.py`; not "
             "shipped).", ""]
    sel = selection(results)
    if sel:
        lines += ["## Which method (chosen on held-out speakers and held-out corpora)", "",
                  "Criterion per normalisation: mean of the held-out RAVDESS speakers' ECE "
                  "and the mean ECE of the held-out corpora "
                  f"{' and '.join(c.upper() for c in SELECTORS)} (TESS is a validation "
                  "corpus: reported, never a selector; the conditions and no-emotion "
                  "inputs choose nothing either).", "",
                  _row(["normalisation", "method", "held-out speakers ECE",
                        "held-out corpora ECE (mean)", "criterion", "chosen"]),
                  _row(["---"] * 6)]
        for norm, s in sel.items():
            for m, r in s["rows"].items():
                lines.append(_row([norm, m, _f(r["speakers"]), _f(r["corpora"]),
                                   _f(r["criterion"]), "**yes**" if m == s["chosen"]
                                   else ""]))
        lines.append("")
    lines += _targets_md(results)
    if "ravdess" in results:
        r = results["ravdess"]
        lines += ["## 1. Held-out RAVDESS speakers", "",
                  f"{r['n_clips']} clips, 3 outer folds of 8 actors ({', '.join(r['folds'])}"
                  "), each model trained on the other 16 actors + TESS + EMOVO.", ""]
        for norm, run in r["runs"].items():
            lines += [f"### {norm}", "", f"Temperatures per fold: {run['temperatures']}",
                      "", *_table(run["held_out"]), "",
                      f"![reliability](reliability_ravdess_speakers_{norm}.png)", ""]
    if "corpus" in results:
        lines += ["## 2. Held-out corpus (trained on the other two)", "",
                  "Inner out-of-fold ECE of corpus_temperature's leave-one-corpus-out "
                  "folds (before -> after its T) in the JSON (`inner_oof`).", ""]
        for key, run in results["corpus"]["runs"].items():
            lines += [f"### {key} (n={run['n_test']}; T {run['temperatures']})", "",
                      *_table(run["held_out"]), "",
                      f"![{key}](reliability_{key.replace(' ', '_')}.png)", ""]
    if "conditions" in results:
        c = results["conditions"]
        lines += [f"## 3. Conditions ({c['n_clips']} clips of actors 21-24, model of the "
                  "fold holding out actors 17-24)", "",
                  f"Temperatures: {c['temperatures']}. speaker_norm z-scores each speaker "
                  "with the statistics of its clips under the same condition. With "
                  f"{c['n_clips']} clips, 15-bin ECE is biased upwards by sampling alone; "
                  "the clean row is the baseline. *atyp.*: share of clips over the "
                  "typicality threshold (shrunk towards uniform when scored).", "",
                  _row(["condition", *[f"{ABBR[n]} ECE {ABBR[m]}" for n in NORMS
                                       for m in METHODS],
                        "strict UAR", "spk-norm UAR", "atyp. strict / spk"]),
                  _row(["---"] * 10)]
        for cname, e in c["conditions"].items():
            lines.append(_row([cname, *[_f(e[f"{n} {m}"]["ece"]) for n in NORMS
                                        for m in METHODS],
                               e["strict uncalibrated"]["uar"],
                               e["speaker_norm uncalibrated"]["uar"],
                               f"{e['strict atypical share']} / "
                               f"{e['speaker_norm atypical share']}"]))
        lines.append("")
    if "noemotion" in results:
        n = results["noemotion"]
        lines += ["## 4. No-emotion inputs", "",
                  "12 clips of 3 s per kind, numpy at fixed seeds, RMS -30 to -12 dBFS, "
                  "16-bit; model of part 3. Mean max p over 7 classes (uniform: 0.143) / "
                  "share with max p > 0.5, *raw* (classifier, calibrated or not) and "
                  "*shrunk* (after the atypicality shrink every scoring path applies). "
                  "speaker_norm: the clips of one kind z-scored with their own statistics.",
                  "", _row(["input", "norm", *[f"{m} raw" for m in METHODS],
                            *[f"{m} shrunk" for m in METHODS], "atypical"]),
                  _row(["---"] * 9)]
        for name, e in n["inputs"].items():
            for norm in NORMS:
                cells = [f"{e[f'{norm} {m} {s}']['mean_max_p']:.2f} / "
                         f"{e[f'{norm} {m} {s}']['share_max_p_over_0.5']:.2f}"
                         for s in ("raw", "shrunk") for m in METHODS]
                lines.append(_row([name, norm, *cells, e[f"{norm} atypical share"]]))
        lines.append("")
    write_text(out / "report.md", "\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="reports/calibration")
    p.add_argument("--manifest", default=str(ROOT / "data/manifest.csv"))
    p.add_argument("--cache", default=str(ROOT / ".cache/features"))
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--condition-clips", type=int, default=0,
                   help="clips of actors 21-24 under each condition (a seeded subsample; "
                        "default 0: all)")
    p.add_argument("--jobs", type=int, default=1,
                   help="out-of-fold fits in parallel (the figures do not depend on it)")
    args = p.parse_args(argv)
    command = "python experiments/calibration.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = [s for s in args.parts.split(",") if s]  # none: the report from the JSONs
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown part(s) {unknown} (of {PARTS})")
    config = FeatureConfig()
    d = (Data(data.load_manifest(args.manifest), config, args.cache, jobs=args.jobs)
         if parts else None)
    for part in parts:
        start = time.perf_counter()
        if part == "ravdess":
            res = part_ravdess(d, out)
        elif part == "corpus":
            res = part_corpus(d, out)
        elif part == "conditions":
            res = part_conditions(d, config, out, n_clips=args.condition_clips)
        else:
            res = part_noemotion(d, config, out)
        res.update(command=command, augment=AUGMENT, copies=COPIES,
                   seconds=round(time.perf_counter() - start, 1))
        write_text(out / f"{part}.json", json.dumps(res, indent=1) + "\n")
    results = {p_: json.loads((out / f"{p_}.json").read_text()) for p_ in PARTS
               if (out / f"{p_}.json").is_file()}
    write_report(results, out, command, {p_: r["command"] for p_, r in results.items()})
    print(f"wrote {out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
