"""Inner-fold diagnostics of the calibration (issue 19, item 7): the temperature each
corpus asks for alone, and a temperature that grows with atypicality (an experiment, not
shipped) -> reports/calibration/atypical_temperature.md.

``T(a) = T0 * (1 + beta * max(0, a - a0))``, ``a`` the clip's atypicality
(:class:`ser_classic.typicality.Typicality` of each fold's training rows, as every scoring
path computes it), against one ``T`` (``corpus_temperature``). Both are fitted by weighted
NLL on the out-of-fold predictions of the deployed teacher recipe on RAVDESS + TESS + EMOVO
(5 speaker-grouped folds + leave-one-corpus-out folds, weights of
``ser_classic.calibration.OutOfFold.rows``), then compared by leave-one-corpus-out over
those rows: fitted on the rows of two corpora, scored on the third corpus's rows (its
cross-corpus rows, and its speaker-grouped rows). No outer test data is read.

    .venv/bin/python experiments/calibration_atypicality.py --out reports/calibration
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import calibration as cal  # the sibling script: its folder is sys.path[0]
import numpy as np
from scipy.optimize import minimize

from ser_classic import data
from ser_classic.artifact import train_model, used_feature_columns
from ser_classic.calibration import (
    PROBA_FLOOR,
    OutOfFold,
    calibration_metrics,
    corpus_oof_proba,
    fit_temperature,
    grouped_oof_proba,
)
from ser_classic.evaluation import normalized_inputs
from ser_classic.features import FeatureConfig
from ser_classic.reporting import write_text
from ser_classic.typicality import Typicality


def scaled(proba: np.ndarray, T: np.ndarray) -> np.ndarray:
    z = np.log(np.maximum(proba, PROBA_FLOOR)) / T[:, None]
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def t_of(params, a: np.ndarray) -> np.ndarray:
    log_t0, log_beta, a0 = params
    return np.exp(log_t0) * (1 + np.exp(log_beta) * np.maximum(0.0, a - a0))


def fit_atypical(proba, y, a, w) -> np.ndarray:
    """(log T0, log beta, a0) minimising the weighted NLL (Nelder-Mead from T0 = the
    constant T, beta = 0.1, a0 = the median atypicality)."""
    w = w / w.sum()

    def loss(params):
        P = scaled(proba, t_of(params, a))
        return -np.sum(w * np.log(np.maximum(P[np.arange(y.size), y], PROBA_FLOOR)))

    t0 = fit_temperature(proba, y, sample_weight=w)
    start = np.array([np.log(t0), np.log(0.1), float(np.median(a))])
    return minimize(loss, start, method="Nelder-Mead",
                    options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 2000}).x


def oof_with_atypicality(d, norm: str):
    """OutOfFold of the recipe's training rows and the atypicality of every row in each
    scheme (Typicality of the fold's training rows)."""
    params = cal.teacher_params(norm)
    atyp = {"speaker": np.full(len(d.y), np.nan), "corpus": np.full(len(d.y), np.nan)}

    def make(scheme):
        def fit_predict(tr, te):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est, fold_classes = train_model(
                    d.X[tr], d.em[tr], name="linear", speakers=d.spk[tr],
                    normalization=norm, params=params, X_aug=[a[tr] for a in d.X_aug])
            Xp = normalized_inputs(d.X[tr], (), d.spk[tr], normalization=norm)[0]
            typ = Typicality.fit(Xp, groups=d.spk[tr],
                                 columns=used_feature_columns(est, d.X.shape[1]))
            Xt = normalized_inputs(d.X[te], (), d.spk[te], normalization=norm)[0]
            atyp[scheme][te] = typ.statistic(Xt)
            P = np.zeros((te.size, len(d.classes)))
            P[:, np.searchsorted(d.classes, fold_classes)] = est.predict_proba(Xt)
            print(f"{norm} {scheme} fold [{time.perf_counter() - t0:.0f} s]", flush=True)
            return P
        return fit_predict

    t0 = time.perf_counter()
    speaker = grouped_oof_proba(make("speaker"), d.y, d.spk, n_classes=len(d.classes),
                                n_splits=5, random_state=0)
    corpus = corpus_oof_proba(make("corpus"), d.y, d.corpus, n_classes=len(d.classes))
    oof = OutOfFold(y=d.y, speaker=speaker, corpus=corpus, corpora=d.corpus)
    return oof, atyp


def compare(oof: OutOfFold, atyp: dict) -> dict:
    n = oof.y.size
    proba, y, w = oof.rows("corpus_temperature")
    usable = ~np.isnan(oof.corpus).any(axis=1)
    a = np.concatenate([atyp["speaker"], atyp["corpus"][usable]])
    corp = np.concatenate([oof.corpora, oof.corpora[usable]])
    scheme = np.array(["speaker"] * n + ["corpus"] * int(usable.sum()))
    out = {"all rows": {}, "held_out": {}}
    T = fit_temperature(proba, y, sample_weight=w)
    params = fit_atypical(proba, y, a, w)
    # one T per corpus and scheme: what each kind of held-out data asks for on its own
    out["T_alone"] = {
        str(c): {s: round(fit_temperature(proba[r], y[r]), 4)
                 for s in ("speaker", "corpus")
                 if (r := (corp == c) & (scheme == s)).any()}
        for c in np.unique(oof.corpora)}
    out["all rows"] = {"T": round(T, 4), "T0": round(float(np.exp(params[0])), 4),
                       "beta": round(float(np.exp(params[1])), 4),
                       "a0": round(float(params[2]), 4),
                       "atypicality_median": {s: round(float(np.median(a[scheme == s])), 4)
                                              for s in ("speaker", "corpus")}}
    for c in np.unique(oof.corpora):
        fit_rows = corp != c
        T_c = fit_temperature(proba[fit_rows], y[fit_rows], sample_weight=w[fit_rows])
        p_c = fit_atypical(proba[fit_rows], y[fit_rows], a[fit_rows], w[fit_rows])
        entry = {"T": round(T_c, 4), "T0": round(float(np.exp(p_c[0])), 4),
                 "beta": round(float(np.exp(p_c[1])), 4), "a0": round(float(p_c[2]), 4)}
        for s in ("corpus", "speaker"):
            rows = (corp == c) & (scheme == s)
            entry[s] = {"constant T": calibration_metrics(
                            y[rows], scaled(proba[rows], np.full(rows.sum(), T_c))),
                        "T(a)": calibration_metrics(
                            y[rows], scaled(proba[rows], t_of(p_c, a[rows])))}
        out["held_out"][str(c)] = entry
    return out


def write_report(results: dict, out: Path, command: str) -> None:
    lines = ["# Inner-fold temperatures: per corpus, and growing with atypicality (not "
             "shipped)", "",
             f"Command: `{command}`", "",
             "`T(a) = T0 * (1 + beta * max(0, a - a0))` against one T, both fitted by the "
             "weighted NLL of `corpus_temperature` on the out-of-fold predictions of the "
             "deployed teacher recipe (RAVDESS + TESS + EMOVO, calm excluded, "
             f"`{cal.AUGMENT}` copies; 5 speaker-grouped folds + leave-one-corpus-out "
             "folds; atypicality from "
             "each fold's training rows). Each corpus in turn: both fitted on the "
             "out-of-fold rows of the other two corpora, scored on that corpus's "
             "cross-corpus rows (*corpus*: predicted by a model of the other corpora) and "
             "its speaker-grouped rows (*speaker*).", ""]
    lines += ["## One temperature per corpus and scheme", "",
              "T fitted (NLL) on one corpus's out-of-fold rows alone: *speaker*, its rows "
              "in the 5 speaker-grouped folds over the speakers of all three corpora; *corpus*, "
              "its rows predicted by a model of the other two corpora.", "",
              "| normalisation | corpus | T speaker-grouped rows | T cross-corpus rows |",
              "| --- | --- | --- | --- |"]
    for norm, r in results["runs"].items():
        for c, t in r["T_alone"].items():
            lines.append(f"| {norm} | {c} | {t.get('speaker', 'n/a')} | "
                         f"{t.get('corpus', 'n/a')} |")
    lines.append("")
    for norm, r in results["runs"].items():
        lines += [f"## {norm}: one T against T(a)", "",
                  f"Fitted on every row: {r['all rows']}", "",
                  "| corpus scored | rows | ECE one T | ECE T(a) | NLL one T | NLL T(a) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for c, e in r["held_out"].items():
            for s in ("corpus", "speaker"):
                m = e[s]
                lines.append(f"| {c} | {s} | {m['constant T']['ece']} | {m['T(a)']['ece']}"
                             f" | {m['constant T']['nll']} | {m['T(a)']['nll']} |")
        lines.append("")
    write_text(out / "atypical_temperature.md", "\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="reports/calibration")
    p.add_argument("--manifest", default=str(cal.ROOT / "data/manifest.csv"))
    p.add_argument("--cache", default=str(cal.ROOT / ".cache/features"))
    p.add_argument("--normalizations", default="strict,speaker_norm")
    args = p.parse_args(argv)
    command = "python experiments/calibration_atypicality.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = cal.Data(data.load_manifest(args.manifest), FeatureConfig(), args.cache)
    results = {"command": command, "runs": {}}
    for norm in [s for s in args.normalizations.split(",") if s]:
        oof, atyp = oof_with_atypicality(d, norm)
        results["runs"][norm] = compare(oof, atyp)
    write_text(out / "atypical_temperature.json", json.dumps(results, indent=1) + "\n")
    write_report(results, out, command)
    print(f"wrote {out}/atypical_temperature.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
