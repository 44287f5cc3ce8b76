"""Calibration of the teacher (issue 19, item 7) -> reports/calibration/.

The teacher is the selected ``linear`` family (ridge + logistic regression, soft vote) with
the tuned parameters of ``reports/cv/selection.json``. "temperature" is
:func:`ser_classic.calibration.calibrate_trained` (what ``ser-classic train --calibration
temperature`` ships): one temperature fitted on 5 speaker-grouped out-of-fold folds of the
*training* speakers only, then applied to the held-out ones.

Parts (``--parts``, each writes ``<part>.json``; the report is rebuilt from all of them):

ravdess     group6 outer folds over RAVDESS speakers (as ``pipeline.cross_validate``):
            ECE (15 bins), Brier, NLL of the uncalibrated and the temperature-scaled
            teacher on the held-out speakers, strict and speaker_norm (T of fold k
            cross-fitted on the other folds' out-of-fold probabilities); the ``linear``
            student distilled from the calibrated teacher (transfer set: clips + MUNGE).
corpus      a held-out corpus: train RAVDESS+EMOVO test TESS, train RAVDESS+TESS test
            EMOVO, the 7 shared emotions (calm dropped), no augmentation.
conditions  the teacher trained without RAVDESS actors 21-24, on 40 of their clips under
            the degradations of ``experiments/bench_conditions.py``.
noemotion   the held-out teachers of ``conditions`` on no-emotion inputs made with
            numpy at fixed seeds (white/pink noise, chords,
            tones with harmonics, a drum-like pulse, chords over drums, silence with a
            -60 dBFS noise floor): mean max probability, share with max p > 0.5, entropy;
            and an out-of-distribution score on the feature z-scores (a "reject" flag).

    .venv/bin/python experiments/calibration.py --out reports/calibration \\
        [--parts ravdess,corpus,conditions,noemotion] [--jobs 1]
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

from ser_classic import data, distill, evaluation
from ser_classic.artifact import train_model
from ser_classic.calibration import (
    apply_temperature,
    calibrate_trained,
    calibration_metrics,
    fit_temperature,
    with_temperature,
)
from ser_classic.evaluation import normalized_inputs, reliability_curve
from ser_classic.features import FeatureConfig, extract_batch, extract_features
from ser_classic.pipeline import augmented_features
from ser_classic.reporting import plot_reliability, write_text

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
NORMS = ("strict", "speaker_norm")
PARTS = ("ravdess", "corpus", "conditions", "noemotion")
HOLDOUT = ("ravdess_21", "ravdess_22", "ravdess_23", "ravdess_24")
TARGETS = {"held-out speakers": 0.05, "held-out corpus": 0.10, "condition": 0.10}
Z_CLIP = 10.0  # |z| clipped before the RMS of the OOD score (one degenerate feature)
OOD_QUANTILE = 0.99  # the reject threshold: this quantile of held-out RAVDESS speakers


# --------------------------------------------------------------------------- helpers
def teacher_params(norm: str) -> dict:
    sel = json.loads((ROOT / "reports/cv/selection.json").read_text())
    return sel["runs"][norm]["params"]["linear"]


def fit_pair(X, emotions, speakers, norm, X_aug=()):
    """The uncalibrated teacher and its temperature-scaled version (training rows only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est, classes = train_model(X, emotions, name="linear", speakers=speakers,
                                   normalization=norm, params=teacher_params(norm),
                                   X_aug=X_aug)
        cal = calibrate_trained(est, X, emotions, name="linear", speakers=speakers,
                                normalization=norm, params=teacher_params(norm),
                                X_aug=X_aug)
    return est, cal, classes


def inputs(X, speakers, norm):
    return normalized_inputs(X, (), speakers, normalization=norm)[0]


def entropy(P: np.ndarray) -> np.ndarray:
    return -(P * np.log(np.maximum(P, 1e-12))).sum(axis=1)


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


def ood_score(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """RMS over features of the clipped z-scores against the training rows' statistics."""
    z = np.clip((X - mean) / scale, -Z_CLIP, Z_CLIP)
    return np.sqrt(np.mean(z**2, axis=1))


def train_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sd = X.std(axis=0)
    return X.mean(axis=0), np.where(sd > 0, sd, 1.0)


# --------------------------------------------------------------------------- parts
def part_ravdess(manifest, config, cache, out: Path) -> dict:
    """Outer group6 folds; the temperature of fold k is fitted on the out-of-fold
    probabilities of the other five folds (cross-fitting: fold k's labels never enter its
    own T), the cheap equivalent of calibrate_trained's inner folds on a shared 2-core
    machine (one teacher fit per outer fold instead of six)."""
    rows = manifest[manifest["corpus"] == "ravdess"].reset_index(drop=True)
    X = features(rows, config, cache)
    X_aug = augmented_features("vtlp", rows, config=config, copies=4, cache_dir=cache)
    em, spk = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    classes = sorted(set(em))
    y = np.searchsorted(classes, em)
    splits = evaluation.outer_splits(spk, split="group6", n_folds=6)
    fold = np.zeros(len(rows), dtype=int)
    for k, (_, te) in enumerate(splits):
        fold[te] = k
    result = {"n_clips": len(rows), "folds": len(splits), "runs": {}}
    for norm in NORMS:
        P = {k: np.zeros((len(rows), len(classes))) for k in
             ("uncalibrated", "temperature", "student of temperature")}
        student_temps: list[float] = []
        teachers = []
        for k, (tr, te) in enumerate(splits):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est, _ = train_model(X[tr], em[tr], name="linear", speakers=spk[tr],
                                     normalization=norm, params=teacher_params(norm),
                                     X_aug=[a[tr] for a in X_aug])
            teachers.append(est)
            P["uncalibrated"][te] = est.predict_proba(inputs(X[te], spk[te], norm))
            print(f"ravdess {norm} teacher {k + 1} [{time.perf_counter() - t0:.0f} s]",
                  flush=True)
        temps = []
        for k, (tr, te) in enumerate(splits):
            T = fit_temperature(P["uncalibrated"][fold != k], y[fold != k])
            temps.append(T)
            P["temperature"][te] = apply_temperature(P["uncalibrated"][te], temperature=T)
            # the student of the calibrated teacher, distilled on the training speakers
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = distill.distill(
                    inputs(X[tr], spk[tr], norm), y[tr],
                    teacher=with_temperature(teachers[k], T), n_classes=len(classes),
                    config=config, students=["linear"], speakers=spk[tr], random_state=0)
            P["student of temperature"][te] = fitted["students"]["linear"].predict_proba(
                inputs(X[te], spk[te], norm))
            print(f"ravdess {norm} student {k + 1} [{time.perf_counter() - t0:.0f} s]",
                  flush=True)
        # the student's own temperature, cross-fitted as the teacher's
        P["student, own temperature"] = np.zeros_like(P["student of temperature"])
        for k, (_, te) in enumerate(splits):
            T = fit_temperature(P["student of temperature"][fold != k], y[fold != k])
            student_temps.append(T)
            P["student, own temperature"][te] = apply_temperature(
                P["student of temperature"][te], temperature=T)
        result["runs"][norm] = {
            "temperatures": [round(t, 4) for t in temps],
            "student_temperatures": [round(t, 4) for t in student_temps],
            "held_out": {name: scores(y, p) for name, p in P.items()},
            "neutral_clips_confident_emotion": {
                name: round(float(np.mean((p.argmax(1) != classes.index("neutral"))
                                          & (p.max(1) > 0.5) & (em == "neutral"))
                                  / np.mean(em == "neutral")), 4)
                for name, p in P.items()}}
        plot_reliability({n: reliability_curve(y, p) for n, p in P.items()},
                         title=f"RAVDESS held-out speakers, {norm} (group6 folds)",
                         path=out / f"reliability_ravdess_{norm}.png")
    return result


def part_corpus(manifest, config, cache, out: Path) -> dict:
    rows = manifest[manifest["emotion"] != "calm"].reset_index(drop=True)
    X = features(rows, config, cache)
    result = {"classes": sorted(set(rows["emotion"])), "runs": {}}
    for test in ("tess", "emovo"):
        tr = (rows["corpus"] != test).to_numpy()
        te = ~tr
        em, spk = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
        classes = sorted(set(em[tr]))
        y = np.searchsorted(classes, em[te])
        for norm in NORMS:
            t0 = time.perf_counter()
            est, cal, _ = fit_pair(X[tr], em[tr], spk[tr], norm)
            Xt = inputs(X[te], spk[te], norm)
            P = {"uncalibrated": est.predict_proba(Xt), "temperature": cal.predict_proba(Xt)}
            key = f"{test} {norm}"
            result["runs"][key] = {
                "train": sorted(set(rows["corpus"][tr])), "test": test,
                "n_test": int(te.sum()), "temperature": round(cal.temperature_, 4),
                "inner_oof": cal.calibration_,
                "held_out": {n: scores(y, p) for n, p in P.items()}}
            plot_reliability({n: reliability_curve(y, p) for n, p in P.items()},
                             title=f"held-out corpus {test.upper()}, {norm}",
                             path=out / f"reliability_{test}_{norm}.png")
            print(f"corpus {key}: T={cal.temperature_:.3f} "
                  f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    return result


_HOLDOUT_MODELS: dict = {}


def holdout_models(manifest, config, cache):
    """The teachers trained without actors 21-24 (uncalibrated, temperature-scaled) per
    normalisation, fitted once per process (conditions and noemotion share them)."""
    if not _HOLDOUT_MODELS:
        rows = manifest[manifest["corpus"] == "ravdess"].reset_index(drop=True)
        held = rows["speaker"].isin(HOLDOUT).to_numpy()
        X = features(rows, config, cache)
        X_aug = augmented_features("vtlp", rows, config=config, copies=4, cache_dir=cache)
        em, spk = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
        for norm in NORMS:
            t0 = time.perf_counter()
            _HOLDOUT_MODELS[norm] = fit_pair(X[~held], em[~held], spk[~held], norm,
                                             [a[~held] for a in X_aug])[:2]
            print(f"held-out teacher {norm} [{time.perf_counter() - t0:.0f} s]", flush=True)
        _HOLDOUT_MODELS["rows"] = (rows, held, X)
    return _HOLDOUT_MODELS


def part_conditions(manifest, config, cache, out: Path, *, n_clips: int = 40,
                    seed: int = 0) -> dict:
    fitted = holdout_models(manifest, config, cache)
    rows, held, X = fitted["rows"]
    em = rows["emotion"].to_numpy()
    classes = sorted(set(em))
    rng = np.random.default_rng(seed)
    test = rows[held].iloc[np.sort(rng.choice(held.sum(), n_clips, replace=False))]
    talk = rows[~held].iloc[np.sort(rng.choice((~held).sum(), 40, replace=False))]
    clean = [data.load_audio(p, sr=SR).astype(np.float64) for p in test["path"]]
    talkers = [data.load_audio(p, sr=SR).astype(np.float64) for p in talk["path"]]
    y = np.searchsorted(classes, test["emotion"].to_numpy())
    t_spk = test["speaker"].to_numpy()
    models = {norm: fitted[norm] for norm in NORMS}
    mean, scale = train_stats(X[~held])
    transforms = bench.condition_transforms(babble_talkers=talkers,
                                            rir=bench.room_impulse_response())
    result = {"n_clips": n_clips, "temperatures": {n: round(m[1].temperature_, 4)
                                                   for n, m in models.items()},
              "conditions": {}}
    for i, (cname, transform) in enumerate(transforms.items()):
        t0 = time.perf_counter()
        crng = np.random.default_rng([seed, 100 + i])
        Xc = np.array([extract_features(transform(c, crng)[0], config=config)
                       for c in clean])
        entry = {"ood_score_median": round(float(np.median(ood_score(Xc, mean, scale))), 4),
                 "_ood_scores": ood_score(Xc, mean, scale).tolist()}
        for norm, (est, cal) in models.items():
            Xt = inputs(Xc, t_spk, norm)  # speaker_norm: statistics of the same condition
            for name, m in (("uncalibrated", est), ("temperature", cal)):
                P = m.predict_proba(Xt)
                values, counts = np.unique(P.argmax(1), return_counts=True)
                entry[f"{norm} {name}"] = {**scores(y, P), "top_class_share": round(
                    float(counts.max() / len(P)), 3), "top_class": classes[values[
                        counts.argmax()]]}
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


def ood_threshold_of(X, speakers) -> tuple[float, np.ndarray]:
    """The reject threshold: the OOD_QUANTILE of held-out speakers' scores (group6 folds,
    statistics of the training speakers), and those scores."""
    scores_in = np.zeros(len(X))
    for tr, te in evaluation.outer_splits(speakers, split="group6", n_folds=6):
        scores_in[te] = ood_score(X[te], *train_stats(X[tr]))
    return float(np.quantile(scores_in, OOD_QUANTILE)), scores_in


def part_noemotion(manifest, config, cache, out: Path) -> dict:
    fitted = holdout_models(manifest, config, cache)
    rows, held, X_all = fitted["rows"]
    X = X_all[~held]
    ood_threshold, scores_in = ood_threshold_of(X, rows["speaker"].to_numpy()[~held])
    models = {norm: fitted[norm] for norm in NORMS}
    mean, scale = train_stats(X)
    held_scores = ood_score(X_all[held], mean, scale)
    result = {"temperatures": {n: round(m[1].temperature_, 4) for n, m in models.items()},
              "ood_threshold": round(ood_threshold, 4),
              "ood_in_distribution_median": round(float(np.median(scores_in)), 4),
              "held_out_actors_flagged": round(float(np.mean(held_scores > ood_threshold)),
                                               4),
              "inputs": {}}
    # speech from the other corpora: the reject flag's false alarms
    others = manifest[manifest["corpus"] != "ravdess"].reset_index(drop=True)
    Xo = features(others, config, cache)
    for corpus in ("tess", "emovo"):
        m = (others["corpus"] == corpus).to_numpy()
        s = ood_score(Xo[m], mean, scale)
        result.setdefault("speech", {})[corpus] = {
            "n": int(m.sum()), "ood_score_median": round(float(np.median(s)), 4),
            "flagged": round(float(np.mean(s > ood_threshold)), 4)}
    for name, clips in no_emotion_clips().items():
        Xc = np.array([extract_features(c, config=config) for c in clips])
        s = ood_score(Xc, mean, scale)
        entry = {"n": len(clips), "ood_score_median": round(float(np.median(s)), 4),
                 "flagged": round(float(np.mean(s > ood_threshold)), 4)}
        for norm, (est, cal) in models.items():
            # speaker_norm: the clips of one kind z-scored with their own statistics
            Xt = inputs(Xc, np.zeros(len(Xc)), norm)
            for mname, model in (("uncalibrated", est), ("temperature", cal)):
                P = model.predict_proba(Xt)
                entry[f"{norm} {mname}"] = {
                    "mean_max_p": round(float(P.max(1).mean()), 4),
                    "share_max_p_over_0.5": round(float(np.mean(P.max(1) > 0.5)), 4),
                    "mean_entropy_nats": round(float(entropy(P).mean()), 4),
                    "max_entropy_nats": round(float(np.log(P.shape[1])), 4)}
        result["inputs"][name] = entry
        print(f"no-emotion {name}", flush=True)
    return result


# --------------------------------------------------------------------------- report
def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _targets_md(results: dict) -> list[str]:
    """ECE against the issue's targets, uncalibrated -> temperature, per setting."""
    rows = []

    def add(setting, where, unc, cal, target):
        ok = "yes" if cal <= target else "no"
        rows.append(_row([setting, where, f"{unc:.3f}", f"{cal:.3f}", f"<= {target:.2f}",
                          ok]))

    for norm, run in results.get("ravdess", {}).get("runs", {}).items():
        h = run["held_out"]
        add("held-out speakers", f"RAVDESS, {norm}", h["uncalibrated"]["ece"],
            h["temperature"]["ece"], TARGETS["held-out speakers"])
        add("held-out speakers", f"RAVDESS, {norm}, linear student (teacher's T -> "
            "own T)", h["student of temperature"]["ece"],
            h["student, own temperature"]["ece"], TARGETS["held-out speakers"])
    for key, run in results.get("corpus", {}).get("runs", {}).items():
        h = run["held_out"]
        add("held-out corpus", key.replace(" ", ", ").upper().replace("_NORM", "_norm")
            .replace("STRICT", "strict").replace("SPEAKER", "speaker"),
            h["uncalibrated"]["ece"], h["temperature"]["ece"], TARGETS["held-out corpus"])
    for cname, e in results.get("conditions", {}).get("conditions", {}).items():
        for norm in NORMS:
            add("condition (40 clips)", f"{cname}, {norm}", e[f"{norm} uncalibrated"]["ece"],
                e[f"{norm} temperature"]["ece"], TARGETS["condition"])
    if not rows:
        return []
    met = sum(r.endswith("| yes |") for r in rows)
    return ["## Targets (ECE, 15 bins)", "", f"{met} of {len(rows)} settings meet their "
            "target after temperature scaling. With 40 clips (conditions) an ECE of 15 "
            "bins is biased upwards by sampling alone (two or three clips per bin); read "
            "those rows for their direction, and the clean row as their baseline.", "",
            _row(["setting", "data", "ECE uncalibrated", "ECE temperature", "target",
                  "met"]), _row(["---"] * 6), *rows, ""]


def write_report(results: dict, out: Path, command: str) -> None:
    lines = ["# Calibration of the teacher (issue 19, item 7)", "",
             f"Command: `{command}`", "",
             "Each part was run by the command in its JSON (`<part>.json`):", "",
             *[f"- {p}: `{r['command']}` ({r['seconds']:.0f} s)" for p, r in results.items()],
             "",
             "Teacher: the selected `linear` family (ridge + logistic regression) with the "
             "tuned parameters of reports/cv/selection.json. *temperature*: one T fitted "
             "by NLL on 5 speaker-grouped out-of-fold folds of the training speakers "
             "(`ser_classic.calibration.calibrate_trained`, i.e. `ser-classic train "
             "--calibration temperature`), applied to held-out data. ECE: 15 equal-width "
             "bins of the top-1 probability. Targets: ECE <= 0.05 on held-out speakers, "
             "<= 0.10 on a held-out corpus and under each condition.", ""]
    cols = ["accuracy", "uar", "ece", "brier", "nll", "mean_max_p"]
    lines += _targets_md(results)
    if "ravdess" in results:
        r = results["ravdess"]
        lines += ["## 1. RAVDESS held-out speakers (group6 outer folds)", "",
                  f"{r['n_clips']} clips, {r['folds']} folds, the teacher with its 4 vtlp "
                  "copies per clip. The temperature of fold k is fitted on the out-of-fold "
                  "probabilities of the other five folds (cross-fitting: fold k's labels "
                  "never enter its T; one teacher fit per fold instead of the six of "
                  "`calibrate_trained`, whose T on all 24 actors is in part 4). Student: "
                  "the `linear` student (`ser_classic.distill`, transfer set: clips + "
                  "MUNGE, C tuned by grouped inner CV) distilled from the calibrated "
                  "teacher of the fold; *student, own temperature*: its T cross-fitted on "
                  "the other folds' student probabilities (what `distil(calibration="
                  "\"temperature\")` does with inner folds).", ""]
        for norm, run in r["runs"].items():
            lines += [f"### {norm}", "",
                      f"Temperatures per fold: {run['temperatures']}; the student's own: "
                      f"{run.get('student_temperatures')}", "",
                      _row(["model", *cols]), _row(["---"] * (len(cols) + 1))]
            lines += [_row([n, *[m[c] for c in cols]]) for n, m in run["held_out"].items()]
            lines += ["", "Held-out neutral clips given another emotion with max p > 0.5: "
                      + ", ".join(f"{n} {v:.3f}" for n, v in
                                  run["neutral_clips_confident_emotion"].items()), "",
                      f"![reliability](reliability_ravdess_{norm}.png)", ""]
    if "corpus" in results:
        lines += ["## 2. Held-out corpus (7 shared emotions, calm dropped, no augmentation)",
                  "", _row(["test corpus", "normalisation", "T", "model", *cols]),
                  _row(["---"] * (len(cols) + 4))]
        for run_key, run in results["corpus"]["runs"].items():
            test, norm = run_key.split()
            for n, m in run["held_out"].items():
                lines.append(_row([test, norm, run["temperature"], n,
                                   *[m[c] for c in cols]]))
        lines += [""] + [f"![{k}](reliability_{k.replace(' ', '_')}.png)"
                         for k in results["corpus"]["runs"]] + [""]
    if "conditions" in results:
        c = results["conditions"]
        lines += ["## 3. Conditions (teacher trained without actors 21-24; "
                  f"{c['n_clips']} of their clips)", "",
                  f"Temperatures: {c['temperatures']}. speaker_norm z-scores each speaker "
                  "with the statistics of its clips under the same condition.", "",
                  _row(["condition", "strict ECE unc.", "strict ECE temp.", "strict UAR",
                        "strict top-class share", "spk-norm ECE unc.", "spk-norm ECE temp.",
                        "spk-norm UAR", "OOD flagged"]), _row(["---"] * 9)]
        thr = results.get("noemotion", {}).get("ood_threshold")
        for cname, e in c["conditions"].items():
            flagged = ("n/a" if thr is None else
                       f"{np.mean(np.array(e['_ood_scores']) > thr):.2f}")
            lines.append(_row([
                cname, e["strict uncalibrated"]["ece"], e["strict temperature"]["ece"],
                e["strict temperature"]["uar"],
                f"{e['strict temperature']['top_class_share']} "
                f"({e['strict temperature']['top_class']})",
                e["speaker_norm uncalibrated"]["ece"], e["speaker_norm temperature"]["ece"],
                e["speaker_norm temperature"]["uar"], flagged]))
        lines.append("")
    if "noemotion" in results:
        n = results["noemotion"]
        lines += ["## 4. No-emotion inputs", "",
                  "12 clips of 3 s per kind, numpy at fixed seeds, random RMS -30 to -12 "
                  "dBFS (peaks kept below 0.9), 16-bit. mean max p / share with max p > "
                  "0.5 / mean entropy (nats; uniform "
                  f"over 8 classes: {np.log(8):.3f}). speaker_norm: the clips of one kind "
                  "z-scored with their own statistics (as one enrolled 'speaker').", "",
                  "Models: the teachers of part 3 (trained without actors 21-24), "
                  f"temperatures {n['temperatures']}.", "",
                  "**Reject flag** (proposed, not a class): RMS over features of the "
                  f"z-scores (clipped at {Z_CLIP:g}) against the training rows' mean and "
                  f"sd; flagged above the {OOD_QUANTILE:.0%} quantile of held-out "
                  "speakers' scores (group6 folds over the 20 training actors, "
                  "statistics of each fold's training actors): threshold "
                  f"{n['ood_threshold']}; clean clips of the held-out actors 21-24 "
                  f"flagged: {n['held_out_actors_flagged']}.", "",
                  _row(["input", "strict unc.", "strict temp.", "spk-norm unc.",
                        "spk-norm temp.", "OOD score (median)", "flagged"]),
                  _row(["---"] * 7)]

        def fmt(m):
            return (f"{m['mean_max_p']:.2f} / {m['share_max_p_over_0.5']:.2f} / "
                    f"{m['mean_entropy_nats']:.2f}")

        for name, e in n["inputs"].items():
            lines.append(_row([name, fmt(e["strict uncalibrated"]),
                               fmt(e["strict temperature"]),
                               fmt(e["speaker_norm uncalibrated"]),
                               fmt(e["speaker_norm temperature"]), e["ood_score_median"],
                               e["flagged"]]))
        lines += ["", "Speech of other corpora against the reject flag (false alarms): "
                  + ", ".join(f"{k.upper()} median score {v['ood_score_median']}, flagged "
                              f"{v['flagged']}" for k, v in n["speech"].items()), ""]
    write_text(out / "report.md", "\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="reports/calibration")
    p.add_argument("--manifest", default=str(ROOT / "data/manifest.csv"))
    p.add_argument("--cache", default=str(ROOT / ".cache/features"))
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--jobs", type=int, default=1, help="accepted for symmetry; runs on one")
    args = p.parse_args(argv)
    command = "python experiments/calibration.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = [s for s in args.parts.split(",") if s]  # none: the report from the JSONs
    manifest = data.load_manifest(args.manifest) if parts else None
    config, cache = FeatureConfig(), args.cache
    for part in parts:
        start = time.perf_counter()
        if part == "ravdess":
            res = part_ravdess(manifest, config, cache, out)
        elif part == "corpus":
            res = part_corpus(manifest, config, cache, out)
        elif part == "conditions":
            res = part_conditions(manifest, config, cache, out)
        elif part == "noemotion":
            res = part_noemotion(manifest, config, cache, out)
        else:
            raise SystemExit(f"unknown part {part!r} (one of {PARTS})")
        res["command"] = command
        res["seconds"] = round(time.perf_counter() - start, 1)
        write_text(out / f"{part}.json", json.dumps(res, indent=1) + "\n")
    results = {p_: json.loads((out / f"{p_}.json").read_text()) for p_ in PARTS
               if (out / f"{p_}.json").is_file()}
    write_report(results, out, command)
    print(f"wrote {out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
