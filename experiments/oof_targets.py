"""Distil the student on the teacher's out-of-fold soft targets? -> reports/oof_targets/.

The deployed student learns the teacher's probabilities on the teacher's own training rows,
where the teacher is more confident than on a new voice; its temperature then corrects the
confidence globally, and one temperature is a compromise between held-out speakers and
held-out corpora (`reports/student_calibration`). Learning instead each training row's
probability from a teacher that did not see that row's speaker (3 speaker-grouped inner
folds; augmented copies and MUNGE samples take their source clip's fold) might teach the
student the teacher's held-out confidence, voice by voice.

Measurement only (nothing is chosen or shipped). The stored strict teacher's recipe (its
parameters, `vtlp+conditions` copies; RAVDESS + TESS + EMOVO, calm excluded) and the
deployed student (`compact`, width 1200, the stored student's C; float, before int8
quantization), with RAVDESS actors 21-24 left out of everything. Outer folds: 3
speaker-grouped folds over the speakers of all three corpora, and each corpus held out.
Per outer fold: the teacher fitted on its training rows, a student distilled on the
teacher's in-sample probabilities (the shipped recipe) and one on its out-of-fold
probabilities; every model uncalibrated, scored on the held-out rows (ECE: 15 bins).
"One T" (a diagnostic, fitted on these held-out rows themselves, each scheme weighted 1/2):
what a single temperature could reach at best.

    .venv/bin/python experiments/oof_targets.py --jobs 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ser_classic import distill as D
from ser_classic.artifact import load_artifact
from ser_classic.calibration import (
    _speaker_folds,
    apply_temperature,
    calibration_metrics,
    fit_temperature,
)
from ser_classic.distill._students import _class_proba
from ser_classic.distill._transfer import munge
from ser_classic.pipeline import _fold_teacher, teacher_training_data
from ser_classic.reporting import write_text
from ser_classic.store import resolve

HOLDOUT = tuple(f"ravdess_{a}" for a in (21, 22, 23, 24))
CORPORA = ("emovo", "ravdess", "tess")
ARMS = ("teacher", "student_in_sample", "student_out_of_fold")
TRANSFER = D.TransferConfig()  # the students' transfer set (distill's default)
SEED = 0  # the folds' and the students' random_state


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--cache", default=".cache/features")
    p.add_argument("--teacher", default="teacher")
    p.add_argument("--student", default="student",
                   help="alias whose C and width the students take")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="reports/oof_targets")
    return p.parse_args(argv)


def _key(row: np.ndarray) -> bytes:
    return np.ascontiguousarray(row).tobytes()


class _RowTable:
    """``predict_proba`` of rows looked up by their bytes (the transfer set's rows)."""

    def __init__(self, table: dict, n_classes: int):
        self.table, self.classes_ = table, np.arange(n_classes)

    def predict_proba(self, X):
        return np.stack([self.table[_key(r)] for r in X])


def speaker_folds(data, idx: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """3 speaker-grouped folds of the rows ``idx`` (as the students' calibration folds),
    as rows of ``data``."""
    folds = _speaker_folds(data.y[idx], data.rows["speaker"].to_numpy()[idx],
                           n_classes=len(data.classes), n_splits=3, random_state=SEED)
    return [(idx[tr], idx[te]) for tr, te in folds]


def outer_folds(data, keep: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    idx = np.flatnonzero(keep)
    corpus = data.rows["corpus"].to_numpy()
    folds = [(f"speakers{k}", tr, te) for k, (tr, te) in enumerate(speaker_folds(data, idx))]
    return folds + [(f"loco_{c}", idx[corpus[idx] != c], idx[corpus[idx] == c])
                    for c in CORPORA]


def out_of_fold_table(data, tr: np.ndarray, fit, n_classes: int) -> dict:
    """Row bytes -> probability of the inner-fold teacher that did not see its speaker."""
    P = np.zeros((len(data.X), n_classes))  # rows of data; only those of tr are set
    P_copies = [np.full((len(data.X), n_classes), np.nan) for _ in data.X_copies]
    for inner_tr, inner_te in speaker_folds(data, tr):
        inner = fit(inner_tr)
        P[inner_te] = _class_proba(inner, data.X[inner_te], n_classes)
        for c, Pc in zip(data.X_copies, P_copies, strict=True):
            ok = inner_te[~np.isnan(c[inner_te]).any(axis=1)]
            Pc[ok] = _class_proba(inner, c[ok], n_classes)
    table = {_key(r): p for r, p in zip(data.X[tr], P[tr], strict=True)}
    for c, Pc in zip(data.X_copies, P_copies, strict=True):
        table.update((_key(r), p) for r, p in zip(c[tr], Pc[tr], strict=True)
                     if not np.isnan(r).any())
    # distill draws its MUNGE samples first from default_rng(random_state): the same ones
    Xm, source = munge(data.X[tr], n_rounds=TRANSFER.munge_rounds, p=TRANSFER.munge_p,
                       s=TRANSFER.munge_s, rng=np.random.default_rng(SEED))
    table.update((_key(r), P[tr[s]]) for r, s in zip(Xm, source, strict=True))
    return table


_SHARED: dict = {}  # data, teacher, C, width: set before the workers fork (an ONNX session
#                     does not pickle)


def run_fold(name, tr, te) -> tuple[str, dict]:
    data, teacher = _SHARED["data"], _SHARED["teacher"]
    C, width = _SHARED["C"], _SHARED["width"]
    k = len(data.classes)
    fit = _fold_teacher(teacher, data, data.X_copies_raw)

    def student(soft):
        return D.distill(data.X[tr], data.y[tr], teacher=soft, n_classes=k,
                         config=teacher.feature_config,
                         X_copies=[c[tr] for c in data.X_copies], students=["compact"],
                         transfer=TRANSFER, compact_features=width, linear_C=C,
                         random_state=SEED)["students"]["compact"]

    start = time.perf_counter()
    fold_teacher = fit(tr)
    models = {"teacher": fold_teacher, "student_in_sample": student(fold_teacher),
              "student_out_of_fold": student(_RowTable(out_of_fold_table(data, tr, fit, k),
                                                       k))}
    proba = {a: _class_proba(m, data.X[te], k) for a, m in models.items()}
    print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    return name, {"test": te, "proba": proba}


def summarise(data, folds: dict) -> dict:
    corpus = data.rows["corpus"].to_numpy()
    schemes = {"speakers": [f for f in folds if f.startswith("speakers")],
               "corpus": [f for f in folds if f.startswith("loco")]}
    rows = {s: np.concatenate([folds[f]["test"] for f in names])
            for s, names in schemes.items()}
    proba = {s: {a: np.vstack([folds[f]["proba"][a] for f in names]) for a in ARMS}
             for s, names in schemes.items()}
    out = {}
    for arm in ARMS:
        P = np.vstack([proba[s][arm] for s in schemes])
        y = np.concatenate([data.y[rows[s]] for s in schemes])
        w = np.concatenate([np.full(len(rows[s]), len(y) / (2 * len(rows[s])))
                            for s in schemes])
        T = fit_temperature(P, y, sample_weight=w)
        out[arm] = {"one_T": round(float(T), 4), "scores": {}}
        for s in schemes:
            for c in CORPORA:
                m = corpus[rows[s]] == c
                yc, pc = data.y[rows[s]][m], proba[s][arm][m]
                out[arm]["scores"][f"{s}/{c}"] = {
                    "n": int(m.sum()), "uncalibrated": calibration_metrics(yc, pc),
                    "one_T": calibration_metrics(yc, apply_temperature(pc, temperature=T))}
    return out


def write_report(summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    res = summary["arms"]
    lines = ["# Out-of-fold soft targets for the student (issue 19, item 7; not shipped)", "",
             f"Command: `{summary['command']}` ({summary['seconds']:.0f} s on 2 CPUs).", "",
             " ".join(__doc__.split("\n\n")[2].split()), "",
             "Corpora: every measurement is on the training corpora (TESS is a validation "
             "corpus); RAVDESS actors 21-24 are read by nothing. Nothing is chosen here.", "",
             "| held out | clips | " + " | ".join(
                 f"`{a}` accuracy / ECE / ECE at one T" for a in ARMS) + " |",
             "|---|---|" + "---|" * len(ARMS)]
    for key in res[ARMS[0]]["scores"]:
        cells = []
        for a in ARMS:
            s = res[a]["scores"][key]
            cells.append(f"{s['uncalibrated']['accuracy']:.3f} / "
                         f"{s['uncalibrated']['ece']:.3f} / {s['one_T']['ece']:.3f}")
        scheme, corpus = key.split("/")
        label = f"{corpus} speakers" if scheme == "speakers" else f"{corpus} corpus"
        lines.append(f"| {label} | {res[ARMS[0]]['scores'][key]['n']} | "
                     + " | ".join(cells) + " |")
    lines += ["", "One T: " + ", ".join(f"`{a}` {res[a]['one_T']:.2f}" for a in ARMS) + ".",
              "", "## Reading", "", summary["reading"], ""]
    write_text(out / "summary.md", "\n".join(lines))


def reading(arms: dict) -> str:
    def mean(arm, metric, scheme, kind="uncalibrated"):
        return float(np.mean([v[kind][metric] for k, v in arms[arm]["scores"].items()
                              if k.startswith(scheme)]))

    i, o = "student_in_sample", "student_out_of_fold"
    calibrated = {a: (mean(a, "ece", "sp", "one_T") + mean(a, "ece", "co", "one_T")) / 2
                  for a in (i, o)}
    return (f"Mean over the corpora, held-out speakers: accuracy {mean(i, 'accuracy', 'sp'):.3f}"
            f" (in-sample targets) vs {mean(o, 'accuracy', 'sp'):.3f} (out-of-fold), "
            f"uncalibrated ECE {mean(i, 'ece', 'sp'):.3f} vs {mean(o, 'ece', 'sp'):.3f}, at "
            f"one T {mean(i, 'ece', 'sp', 'one_T'):.3f} vs {mean(o, 'ece', 'sp', 'one_T'):.3f};"
            f" held-out corpora: accuracy {mean(i, 'accuracy', 'co'):.3f} vs "
            f"{mean(o, 'accuracy', 'co'):.3f}, ECE at one T "
            f"{mean(i, 'ece', 'co', 'one_T'):.3f} vs {mean(o, 'ece', 'co', 'one_T'):.3f}. "
            "With a temperature fitted, the mean of those two ECEs is "
            f"{calibrated[i]:.3f} for in-sample targets and {calibrated[o]:.3f} for "
            f"out-of-fold ones ({'in-sample' if calibrated[i] <= calibrated[o] else 'out-of-fold'}"
            " lower). The shipped students use in-sample targets; this report measures and "
            "ships nothing.")


def main(argv=None) -> int:
    from joblib import Parallel, delayed

    args = parse_args(argv)
    start = time.perf_counter()
    teacher = load_artifact(resolve(args.teacher))
    distilled = load_artifact(resolve(args.student), load_joblib=False).card["distillation"]
    C, width = distilled["linear_C"]["C"], distilled["width"]
    data = teacher_training_data(teacher, pd.read_csv(args.manifest), transfer="teacher",
                                 cache_dir=args.cache, n_jobs=args.jobs)
    if teacher.card["normalization"] != "strict":
        raise SystemExit("the probe reads features as extracted: a strict teacher only")
    keep = ~data.rows["speaker"].isin(HOLDOUT).to_numpy()
    _SHARED.update(data=data, teacher=teacher, C=C, width=width)
    folds = dict(Parallel(n_jobs=args.jobs, backend="multiprocessing")(
        delayed(run_fold)(name, tr, te) for name, tr, te in outer_folds(data, keep)))
    arms = summarise(data, folds)
    summary = {"command": "python experiments/oof_targets.py " + " ".join(
                   sys.argv[1:] if argv is None else argv),
               "seconds": time.perf_counter() - start,
               "teacher": teacher.card["model_id"], "student_C": C, "width": width,
               "arms": arms, "reading": reading(arms)}
    write_report(summary, Path(args.out))
    print(summary["reading"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
