"""Per-clip vocal-tract-length normalisation (VTLN) for the teacher recipe -> reports/vtln/.

VTLN is the classical speaker-independent answer to voices of other sizes (Lee & Rose
1998): each utterance is warped along frequency by the factor that fits it best to a
canonical model. Here a clip's warp is one of 1 and the deployed VTLP factors (0.9, 0.95,
1.05, 1.1, on the spectrogram every descriptor reads; the views of
`experiments/test_time_views.py`, no shift, no masks): the one whose feature row lies
nearest the mean of the training clips' rows (the least mean squared z-score, z by the
training clips' unwarped rows; a model needs no speaker statistics for it). Two variants
against the clip as it is:

- `vtln test`: the teacher recipe trained on the clips as they are, the held-out clips
  normalised;
- `vtln both`: the training clips normalised too (their copies as they are), so that
  training and inference read the same normalisation.

The model is the deployed teachers' recipe (`linear`, the deployed preset's copies, 1 per
member, grid points by the best mean inner score), tuned and fitted per fold on the rows
the variant trains on, under (a) leave one corpus out (RAVDESS actors 1-20, TESS, EMOVO;
``speaker+corpus`` tuning) and (b) RAVDESS actors 1-20 in 5 inner folds (``speaker``
tuning). Every choice (the warps, the reference) is made on the fold's training clips.
RAVDESS actors 21-24 are read by none.

Rule, fixed before the first run (`experiments/test_time_views.py`'s): a variant is a
lead in a normalisation when its LOCO mean UAR is at least 0.010 above the clip's, its CV
UAR at most 0.010 below, and its mean held-out-corpus ECE not higher; the deployed recipe
would change only with a lead under strict and speaker_norm. (The strict figures were
first seen in a scratch run of the same code; the speaker_norm ones were not.)

    PYTHONPATH=. .venv/bin/python experiments/vtln.py [--out reports/vtln]
"""

from __future__ import annotations

import sys
import time

import numpy as np
from test_time_views import WARPS, fit_teacher, is_lead, parser, run_folds, views_rows, write_report
from tuning_rule import head

from ser_classic import evaluation

NORMALIZATIONS = ("strict", "speaker_norm")
CANDIDATES = (1.0, *WARPS)  # the clip, then its views' warps
VARIANTS = ("clip", "vtln test", "vtln both")


def nearest_warp(candidates: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Index of each clip's candidate row nearest the reference rows' mean.

    Parameters
    ----------
    candidates : np.ndarray [shape=(n_clips, n_candidates, n_features)]
    reference : np.ndarray [shape=(n_reference, n_features)]
        The rows that define the mean and the spread of every feature.

    Returns
    -------
    index : np.ndarray [shape=(n_clips,), dtype=int]
        The candidate with the least mean squared z-score.
    """
    mean, scale = reference.mean(axis=0), reference.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (((candidates - mean) / scale) ** 2).mean(axis=2).argmin(axis=1)


def fold(C, X_aug, rows, tr, te, *, tune, normalization, seed, n_jobs):
    """The teacher recipe per variant, tuned and fitted on ``tr`` -> ``(y, n_classes,
    {variant: probabilities}, warp index of every clip)`` on the ``te`` clips of the
    training classes (closed set)."""
    emotion, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    X = C[:, 0]
    k = nearest_warp(C, X[tr])
    normalised = C[np.arange(len(C)), k]
    fitted = {trained: fit_teacher(F, X_aug, rows, tr, tune=tune,
                                   normalization=normalization, seed=seed, n_jobs=n_jobs)
              for trained, F in (("clip", X), ("vtln", normalised))}
    classes = fitted["clip"][0]
    held = [c for c in classes if c in set(emotion[te])]
    te = te & np.isin(emotion, held)
    P = {}
    for variant, trained, test_rows in (("clip", "clip", X), ("vtln test", "clip", normalised),
                                        ("vtln both", "vtln", normalised)):
        _, est, model_classes = fitted[trained]
        X_te = evaluation.normalized_inputs(test_rows[te], (), speaker[te],
                                            normalization=normalization,
                                            labels=emotion[te])[0]
        P[variant] = evaluation.closed_set_proba(est.predict_proba(X_te), model_classes,
                                                 held)
    return np.searchsorted(held, emotion[te]), len(held), P, k[te]


def run(args, rows, C, X_aug, normalization) -> dict:
    def fold_of(tr, te, tune):
        return fold(C, X_aug, rows, tr, te, tune=tune, normalization=normalization,
                    seed=args.seed, n_jobs=args.jobs)

    def shares(_, k):
        return {"warp_shares": (np.bincount(k, minlength=len(CANDIDATES)) / k.size).tolist()}

    return run_folds(rows, fold_of, normalization=normalization, variants=VARIANTS,
                     annotate=shares)


def render(summary: dict) -> str:
    lines = [*head("Per-clip vocal-tract-length normalisation (VTLN)", summary, __doc__),
             f"The deployed preset's copies (`{summary['augment']}`, 1 per member), seed "
             f"{summary['seed']}. Warp shares: how often each candidate warp ("
             + ", ".join(f"{w:g}" for w in CANDIDATES) + ") was chosen for the held-out "
             "clips.", ""]
    verdicts = []
    for norm, res in summary["results"].items():
        lines += [f"## {norm}", "",
                  "| held-out corpus | clips | " + " | ".join(
                      f"{v}: UAR / ECE" for v in VARIANTS) + " | warp shares |",
                  "|---|---|" + "---|" * len(VARIANTS) + "---|"]
        for held, f in res["loco"].items():
            lines.append(f"| {held} | {f['n']} | " + " | ".join(
                f"{f[v]['uar']:.3f} / {f[v]['ece']:.3f}" for v in VARIANTS) + " | "
                + " / ".join(f"{s:.2f}" for s in f["warp_shares"]) + " |")
        lines += ["", "| variant | LOCO mean UAR | LOCO mean ECE | CV UAR (actors 1-20) | "
                  "CV ECE | verdict |", "|---|---|---|---|---|---|"]
        for v in VARIANTS:
            r = res[v]
            verdict = ""
            if v != "clip":
                verdicts.append((v, norm, is_lead(res, v)))
                verdict = "**a lead**" if is_lead(res, v) else "not a lead"
            lines.append(f"| {v} | {r['loco_mean_uar']:.3f} | {r['loco_mean_ece']:.3f} | "
                         f"{r['cv_uar']:.3f} | {r['cv_ece']:.3f} | {verdict} |")
        lines.append("")
    lines += ["## Verdict", ""]
    for v in VARIANTS[1:]:
        leads = [norm for variant, norm, lead in verdicts if variant == v and lead]
        if len(leads) == len(NORMALIZATIONS):
            verdict = "a lead under both normalisations: the recipe would change."
        elif leads:
            verdict = f"a lead under {', '.join(leads)} only; the deployed recipe is unchanged."
        else:
            verdict = "not a lead under either normalisation."
        lines.append(f"- {v}: {verdict}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parser(__doc__, out="reports/vtln").parse_args(argv)
    start = time.perf_counter()
    rows, X, X_aug, V = views_rows(args)
    C = np.concatenate([X[:, None], V[:, :len(WARPS)]], axis=1)
    results = {norm: run(args, rows, C, X_aug, norm) for norm in NORMALIZATIONS}
    write_report(args, argv, "vtln", start, render, results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
