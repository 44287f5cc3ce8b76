"""A temperature that grows with a clip's atypicality -> reports/typicality_temperature/.

Measurement only: nothing is shipped. One temperature cannot calibrate both unseen voices
of the training corpora and unseen corpora (issue 19, item 7; `reports/student_calibration`:
the strict student's `corpus_temperature` leaves it under-confident on held-out speakers).
A model already measures how far a clip lies from its training rows, its atypicality
(`ser_classic.typicality`). If clips of a new corpus lie further out than new voices of
a known one, a temperature that grows with it, ``log T = b0 + b1 u`` with ``u`` the
clip's atypicality above the model's threshold in widths (clipped to [-3, 6]), could
serve both. Compared, each fitted on out-of-fold predictions of the outer training rows
only (their speakers in 3 grouped folds, and each of their corpora held out once):

- `none`: the model's own probabilities;
- `temperature`: one T on the speaker-grouped folds;
- `corpus_temperature`: one T on those pooled with the corpus-held-out folds (the
  library's weights: each scheme 1/2, each held-out corpus equally within its scheme);
- `typicality_temperature`: ``b0, b1`` on the same pooled, weighted rows (NLL), each
  row's ``u`` from the model of its own fold.

Outer splits: each corpus held out (trained on the other two), and RAVDESS actors 1-10
and 11-20 held out in turn (trained on every other clip but actors 21-24, which no
split reads). Model: `floor_ablation`'s fixed logistic regression (C 0.003,
standardised, balanced), strict and speaker-normalised (each speaker's own statistics;
its atypicality the larger of the normalised and the raw statistic, as the library
computes it; `keep` 0.8, the library's default, where a shipped model chooses its own);
calm left out first. ECE of 15 bins. The rule, fixed before the run: the
lowest mean of the held-out-speaker mean ECE and the held-out-corpus mean ECE.
`reports/calibration/atypical_temperature` (`experiments/calibration_atypicality.py`,
whose per-row scaling this script calls) asked a similar question before: another form,
``T0 (1 + beta max(0, a - a0))``, fitted on the deployed teacher recipe's out-of-fold rows
and compared by leave-one-corpus-out over those rows only.

    .venv/bin/python experiments/typicality_temperature.py [--out reports/typicality_temperature]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration_atypicality import scaled
from floor_ablation import _models, ablation_parser, report_head, report_on_known_emotions

from ser_classic._parallel import run_jobs
from ser_classic.calibration import (
    PROBA_FLOOR,
    OutOfFold,
    apply_temperature,
    fit_temperature,
)
from ser_classic.evaluation import expected_calibration_error, speaker_normalize
from ser_classic.typicality import Typicality

CALIBRATIONS = ("none", "temperature", "corpus_temperature", "typicality_temperature")
U_RANGE = (-3.0, 6.0)
SPEAKER_SPLITS = {"ravdess 1-10": range(1, 11), "ravdess 11-20": range(11, 21)}
UNREAD = tuple(f"ravdess_{i}" for i in range(21, 25))
N_SPEAKER_FOLDS = 3


def log_temperature(u: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b0 + b1 u`` with ``u`` clipped to :data:`U_RANGE`."""
    return b[0] + b[1] * np.clip(u, *U_RANGE)


def fit_typicality_temperature(proba: np.ndarray, y: np.ndarray, u: np.ndarray, *,
                               sample_weight: np.ndarray | None = None) -> np.ndarray:
    """``(b0, b1)`` minimising the (weighted) mean NLL of ``y`` under
    ``scaled(proba, exp(b0 + b1 u))``, from one temperature's ``(log T, 0)`` (deterministic)."""
    from scipy.optimize import minimize

    rows = np.arange(y.size)
    w = np.full(y.size, 1.0 / y.size) if sample_weight is None else \
        np.asarray(sample_weight, dtype=np.float64) / np.sum(sample_weight)

    def nll(b):
        return -np.sum(w * np.log(np.maximum(
            scaled(proba, np.exp(log_temperature(u, b)))[rows, y], PROBA_FLOOR)))

    start = [np.log(fit_temperature(proba, y, sample_weight=sample_weight)), 0.0]
    return minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-6,
                                                                "fatol": 1e-9}).x


def fit_predict(X: np.ndarray, raw: np.ndarray | None, y: np.ndarray, speaker: np.ndarray,
                train: np.ndarray, test: np.ndarray, n_classes: int) -> dict:
    """The fixed logistic regression and a :class:`Typicality` of ``train``: the
    probabilities of ``test`` over every class and their ``u``."""
    model = _models()["logreg"]().fit(X[train], y[train])
    proba = np.full((test.size, n_classes), PROBA_FLOOR)
    proba[:, model.classes_] = model.predict_proba(X[test])
    proba /= proba.sum(axis=1, keepdims=True)
    typicality = Typicality.fit(X[train], groups=speaker[train],
                                raw=None if raw is None else raw[train])
    a = typicality.statistic(X[test], raw=None if raw is None else raw[test])
    return {"test": test, "proba": proba, "u": (a - typicality.threshold) / typicality.width}


def inner_splits(train: np.ndarray, speaker: np.ndarray, corpus: np.ndarray) -> list:
    """``(kind, train, test)`` of the calibration folds inside ``train``."""
    voices = np.unique(speaker[train])
    np.random.default_rng(0).shuffle(voices)
    splits = []
    for f in range(N_SPEAKER_FOLDS):
        held = np.isin(speaker[train], voices[f::N_SPEAKER_FOLDS])
        splits.append(("speaker", train[~held], train[held]))
    for name in np.unique(corpus[train]):
        held = corpus[train] == name
        splits.append(("corpus", train[~held], train[held]))
    return splits


def outer_splits(speaker: np.ndarray, corpus: np.ndarray) -> list:
    """``(kind, name, train, test)``: each corpus held out; RAVDESS actor groups held out
    (actors 21-24 in neither)."""
    splits = [("corpus", name, np.flatnonzero(corpus != name), np.flatnonzero(corpus == name))
              for name in np.unique(corpus)]
    unread = np.isin(speaker, UNREAD)
    for name, actors in SPEAKER_SPLITS.items():
        held = np.isin(speaker, [f"ravdess_{i:02d}" for i in actors])
        splits.append(("speakers", name, np.flatnonzero(~held & ~unread),
                       np.flatnonzero(held)))
    return splits


def inner_oof(fits: list[dict], y: np.ndarray, corpus: np.ndarray, key: str = "proba"
              ) -> tuple[OutOfFold, np.ndarray]:
    """The inner ``fits`` as the library's :class:`ser_classic.calibration.OutOfFold` and
    ``key`` of its pooled rows (``OutOfFold.rows("corpus_temperature")``' order: the
    speaker-grouped rows, then the corpus-held-out ones)."""
    rows = np.sort(np.concatenate([f["test"] for f in fits if f["kind"] == "speaker"]))

    def assembled(kind: str, name: str) -> np.ndarray:
        chosen = [f for f in fits if f["kind"] == kind]
        values = np.concatenate([f[name] for f in chosen])
        out = np.empty((rows.size, *values.shape[1:]))
        out[np.searchsorted(rows, np.concatenate([f["test"] for f in chosen]))] = values
        return out

    oof = OutOfFold(y=y[rows], speaker=assembled("speaker", "proba"),
                    corpus=assembled("corpus", "proba"), corpora=corpus[rows],
                    n_splits=N_SPEAKER_FOLDS)
    return oof, np.concatenate([assembled("speaker", key), assembled("corpus", key)])


def temperatures(oof: OutOfFold, proba: np.ndarray) -> dict:
    """``none``, ``temperature`` and ``corpus_temperature`` of the library (``oof``'s
    temperatures: ``corpus_temperature`` weighs each scheme 1/2 and each held-out corpus
    equally within its scheme) applied to ``proba``: ``{calibration: (proba, parameters)}``."""
    out = {"none": (proba, {})}
    for method in ("temperature", "corpus_temperature"):
        t = oof.temperature(method)
        out[method] = (apply_temperature(proba, temperature=t), {"T": round(t, 3)})
    return out


def calibrated(fits: list[dict], y: np.ndarray, corpus: np.ndarray, outer: dict) -> dict:
    """Every calibration fitted on the inner ``fits`` and applied to ``outer``:
    ``{calibration: (proba, parameters)}``: :func:`temperatures`, and
    ``typicality_temperature`` fitted on ``corpus_temperature``'s rows and weights."""
    oof, u_pooled = inner_oof(fits, y, corpus, key="u")
    pooled, codes, weight = oof.rows("corpus_temperature")
    b = fit_typicality_temperature(pooled, codes, u_pooled, sample_weight=weight)
    proba, u = outer["proba"], outer["u"]
    return {**temperatures(oof, proba),
            "typicality_temperature": (scaled(proba, np.exp(log_temperature(u, b))),
                                       {"b0": round(float(b[0]), 3),
                                        "b1": round(float(b[1]), 3)})}


def run(X, y, speaker, corpus, *, jobs: int = 2, calibrate=calibrated) -> dict:
    """Accuracy, each calibration's ECE and parameters, per normalisation and split
    (``calibrate``: :func:`calibrated` or another of its signature; a calibration that
    changes an argmax also gets its own accuracy)."""
    import joblib

    classes = np.unique(y)
    codes = np.searchsorted(classes, y)
    inputs = {"strict": (X, None), "speaker_norm": (speaker_normalize(X, speaker), X)}
    splits = outer_splits(speaker, corpus)
    tasks = []
    for norm in inputs:
        for _, name, train, test in splits:
            tasks.append((norm, name, "outer", train, test))
            tasks += [(norm, name, inner, tr, te)
                      for inner, tr, te in inner_splits(train, speaker, corpus)]
    fits = list(run_jobs((joblib.delayed(fit_predict)(*inputs[norm], codes, speaker, tr, te,
                                                      classes.size)
                          for norm, _, _, tr, te in tasks), n_jobs=jobs))
    for (norm, name, kind, _, _), fit in zip(tasks, fits, strict=True):
        fit.update(norm=norm, split=name, kind=kind)
    out = {}
    for norm in inputs:
        rows = []
        for kind, name, _, _ in splits:
            mine = [f for f in fits if (f["norm"], f["split"]) == (norm, name)]
            outer = next(f for f in mine if f["kind"] == "outer")
            t = codes[outer["test"]]
            row = {"split": kind, "held_out": name,
                   "accuracy": round(float(np.mean(outer["proba"].argmax(axis=1) == t)), 4),
                   "u_median": round(float(np.median(outer["u"])), 3),
                   "inner_speaker_u_median": round(float(np.median(np.concatenate(
                       [f["u"] for f in mine if f["kind"] == "speaker"]))), 3)}
            for calibration, (proba, params) in calibrate(
                    [f for f in mine if f["kind"] != "outer"], codes, corpus, outer).items():
                row[calibration] = {"ece": round(float(expected_calibration_error(t, proba)),
                                                 4), **params}
                if not np.array_equal(proba.argmax(axis=1), outer["proba"].argmax(axis=1)):
                    row[calibration]["accuracy"] = round(float(np.mean(
                        proba.argmax(axis=1) == t)), 4)
            rows.append(row)
        out[norm] = rows
    return out


def rule_scores(rows: list[dict], calibrations: tuple = CALIBRATIONS) -> dict:
    """Per calibration: mean ECE of the held-out speakers, of the held-out corpora, and
    their mean (the rule's score)."""
    scores = {}
    for calibration in calibrations:
        speakers = np.mean([r[calibration]["ece"] for r in rows if r["split"] == "speakers"])
        corpora = np.mean([r[calibration]["ece"] for r in rows if r["split"] == "corpus"])
        scores[calibration] = (float(speakers), float(corpora), float(speakers + corpora) / 2)
    return scores


def _params(cell: dict) -> str:
    return ", ".join(f"{k} {v + 0.0:g}" for k, v in cell.items() if k != "ece")  # no "-0"


def calibration_tables(results: dict, calibrations: tuple = CALIBRATIONS, *,
                       atypicality: bool = True) -> list[str]:
    """Per normalisation, every split's accuracy and each calibration's ECE (its fitted
    parameters in brackets), then the rule's scores and the lowest."""
    lines = []
    for norm, rows in results.items():
        lines += [f"## {norm}", "",
                  "| held out | accuracy | "
                  + ("u median (inner held-out speakers) | " if atypicality else "")
                  + " | ".join(f"ECE `{c}`" for c in calibrations) + " |",
                  "|---|---|" + "---|" * (len(calibrations) + atypicality)]
        for r in rows:
            lines.append(
                f"| {r['held_out']} | {r['accuracy']:.3f} | "
                + (f"{r['u_median']:.2f} ({r['inner_speaker_u_median']:.2f}) | "
                   if atypicality else "") + " | ".join(
                    f"{r[c]['ece']:.3f}" + (f" ({_params(r[c])})" if len(r[c]) > 1 else "")
                    for c in calibrations) + " |")
        scores = rule_scores(rows, calibrations)
        lowest = min(calibrations, key=lambda c: scores[c][2])
        lines += ["", "| rule: mean ECE | held-out speakers | held-out corpora | mean |",
                  "|---|---|---|---|"]
        lines += [f"| `{c}` | {s:.3f} | {k:.3f} | {m:.3f} |"
                  for c, (s, k, m) in scores.items()]
        lines += ["", f"Lowest: **`{lowest}`**.", ""]
    return lines


def render(summary: dict) -> str:
    lines = report_head("A temperature that grows with atypicality (fixed logistic "
                        "regression; not shipped)", summary, __doc__)
    lines += calibration_tables(summary["results"])
    summaries = []
    for norm, rows in summary["results"].items():
        scores = rule_scores(rows)
        slopes = [r["typicality_temperature"]["b1"] for r in rows
                  if "b1" in r["typicality_temperature"]]
        corpora = [r for r in rows if r["split"] == "corpus"]
        summaries.append(
            f"{norm}: rule score {scores['typicality_temperature'][2]:.3f} against "
            f"{scores['corpus_temperature'][2]:.3f} for `corpus_temperature` and "
            f"{scores['none'][2]:.3f} uncalibrated; fitted b1 "
            f"{min(slopes, default=0):+.2f} to {max(slopes, default=0):+.2f}; median u of "
            "the held-out corpus against the inner held-out speakers' " + ", ".join(
                f"{r['held_out']} {r['u_median']:.2f} ({r['inner_speaker_u_median']:.2f})"
                for r in corpora))
    lines += ["; ".join(summaries) + ". Read with `reports/student_calibration` (the "
              "shipped students' choice, the same conflict).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/typicality_temperature",
                           seed=False).parse_args(argv)
    return report_on_known_emotions(args, "typicality_temperature", argv,
                                    lambda *a: run(*a, jobs=args.jobs), render)


if __name__ == "__main__":
    raise SystemExit(main())
