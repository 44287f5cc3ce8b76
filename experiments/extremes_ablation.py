"""The functionals of one frame (min, max): accuracy against invariance ->
reports/extremes_ablation/.

Measurement only: nothing is chosen or shipped. ``min`` and ``max`` are the only
functionals decided by a single frame: the quietest frame of a clip sets its minima, and a
noise floor, exact digital silence or the 16-bit rounding of a quiet clip moves that frame
most. The cached default features are scored with every column, without the minima and
without both extremes, by the fixed models and measurements of ``floor_ablation``:

1. RAVDESS 6-fold speaker-grouped CV accuracy (ridge and logistic regression) and
   leave-one-corpus-out UAR (logistic regression), strict and speaker-normalised;
2. invariance: logistic regressions trained without RAVDESS actors 17-24, on 40 clips of
   actors 17-20 through the invariance transformations of ``bench_conditions`` that keep
   16 kHz float input; top-1 agreement with the clean clip and mean |dp| (targets >= 0.95
   and <= 0.05). Actors 21-24, the condition benchmark's held-out speakers, are not read.

The column sets are fixed by the functional's name, not by any measured shift.

    .venv/bin/python experiments/extremes_ablation.py [--out reports/extremes_ablation]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conditions import TARGETS
from bench_conditions import _meets as meets
from floor_ablation import (
    CORPORA,
    ablation_parser,
    corpus_rows,
    cv_and_loco,
    invariance_scores,
    probe_rows,
    report_head,
    transformed_features,
    write_summary,
)

from ser_classic.evaluation import speaker_normalize
from ser_classic.features import FeatureConfig, extract_batch, feature_names

ROOT = Path(__file__).resolve().parents[1]
#: variant -> the functionals it leaves out (by the name's last part)
VARIANTS = {"every column": (), "minima dropped": ("min",),
            "minima and maxima dropped": ("min", "max")}
TITLE = "The functionals of one frame (min, max): accuracy against invariance"
CLOSING = ("Nothing is chosen here: a column set that keeps the accuracy and the LOCO UAR "
           "and meets more invariance targets is a lead for the deployed recipe, to be "
           "chosen by the inner folds of the training corpora (as "
           "`reports/ablation_conditions`) before it ships.")


def kept_columns(names, dropped: tuple[str, ...]) -> np.ndarray:
    """Boolean mask of the columns whose functional (the name's last part) is not in
    ``dropped``."""
    return np.array([n.rsplit("_", 1)[-1] not in dropped for n in names])


def invariance_rows(summary: dict, key: str = "invariance") -> list[str]:
    """Table rows of every variant's ``key`` results (transformation -> strict and
    speaker_norm agreement / mean |dp|; ✗: a target missed) and how many meet both."""
    names = list(summary["variants"])

    def cell(r: dict) -> str:
        return f"{r['agreement']:.2f} / {r['mean_abs_dp']:.3f}{'' if meets(r) else ' ✗'}"

    first = summary["variants"][names[0]][key]
    lines = [f"| {t} | " + " | ".join(
        " \\| ".join(cell(summary["variants"][n][key][t][k])
                     for k in ("strict", "speaker_norm")) for n in names) + " |"
        for t in first]
    met = {n: {k: sum(meets(r[k]) for r in summary["variants"][n][key].values())
               for k in ("strict", "speaker_norm")} for n in names}
    lines.append("| **meeting both targets** | " + " | ".join(
        f"**{met[n]['strict']} \\| {met[n]['speaker_norm']} of {len(first)}**"
        for n in names) + " |")
    return lines


def render(summary: dict, *, title: str = TITLE, doc: str = __doc__,
           closing: str = CLOSING) -> str:
    """The report of :func:`measure_variants`' summary (``doc`` from its second paragraph
    to the usage line as its introduction, ``closing`` as its last paragraph)."""
    lines = report_head(title, summary, doc)
    lines += ["## Accuracy (fixed models)", "",
              "| variant | columns | normalisation | RAVDESS group6 ridge | RAVDESS group6 "
              "logreg | LOCO mean (EMOVO / RAVDESS / TESS) |", "|---|---|---|---|---|---|"]
    for name, v in summary["variants"].items():
        for norm, a in v["accuracy"].items():
            per = " / ".join(f"{a[f'loco {c}']:.3f}" for c in CORPORA)
            lines.append(f"| {name} | {v['columns']} | {norm} | {a['group6 ridge']:.3f} | "
                         f"{a['group6 logreg']:.3f} | {a['loco mean']:.3f} ({per}) |")
    names = list(summary["variants"])
    lines += ["", "## Invariance (agreement / mean |dp|, strict \\| speaker_norm; ✗: a "
              f"target missed, agreement >= {TARGETS['agreement']} and mean |dp| <= "
              f"{TARGETS['mean_abs_dp']})", "", "| transformation | " + " | ".join(names) + " |",
              "|---|" + "---|" * len(names)]

    lines += invariance_rows(summary)
    met = {n: {k: sum(meets(r[k]) for r in summary["variants"][n]["invariance"].values())
               for k in ("strict", "speaker_norm")} for n in names}
    base = summary["variants"][names[0]]
    lines += ["", f"Against {names[0]}: " + "; ".join(
        f"{n}: LOCO mean " + " / ".join(
            f"{v['accuracy'][k]['loco mean'] - base['accuracy'][k]['loco mean']:+.3f}"
            for k in ("strict", "speaker_norm"))
        + ", targets met " + " / ".join(f"{met[n][k] - met[names[0]][k]:+d}"
                                        for k in ("strict", "speaker_norm"))
        + " (strict / speaker_norm)"
        for n, v in list(summary["variants"].items())[1:]) + "."]
    lines += ["", closing, ""]
    return "\n".join(lines)


def measure_variants(args, argv, name: str,
                     variants: dict[str, tuple[tuple[str, ...], float | None]],
                     render) -> int:
    """``experiments/{name}.py``'s summary and report: every variant, ``(functionals
    left out, standardised features clipped to +-clip or None)``, scored by
    ``floor_ablation``'s fixed models (accuracy, LOCO) and invariance measurement."""
    start = time.perf_counter()
    rows, y, corpus, speaker = corpus_rows(args)
    config = FeatureConfig()
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                 cache_dir=args.cache, n_jobs=args.jobs)
    if errors:
        raise SystemExit(f"{len(errors)} clips failed: {errors[:3]}")
    probe = probe_rows(rows, seed=args.seed)
    clean, transformed = transformed_features(config, rows, probe, seed=args.seed)
    names = feature_names(config=config)
    summary = {"command": f"python experiments/{name}.py"
               + "".join(f" {a}" for a in (argv or sys.argv[1:])),
               "feature_config": config.hash, "variants": {}}
    for variant, (dropped, clip) in variants.items():
        keep = kept_columns(names, dropped)
        Xk = X[:, keep]
        Xk_speaker = speaker_normalize(Xk, speaker)
        summary["variants"][variant] = {
            "dropped": list(dropped), **({} if clip is None else {"clip": clip}),
            "columns": int(keep.sum()),
            "accuracy": {"strict": cv_and_loco(Xk, y, corpus, speaker, clip=clip),
                         "speaker_norm": cv_and_loco(Xk_speaker, y, corpus, speaker,
                                                     clip=clip)},
            "invariance": invariance_scores(
                Xk, Xk_speaker, rows, probe, clean[:, keep],
                {t: F[:, keep] for t, F in transformed.items()}, clip=clip)}
        print(f"{variant} done ({time.perf_counter() - start:.0f} s)", flush=True)
    summary["seconds"] = time.perf_counter() - start
    write_summary(ROOT / args.out, summary, render(summary))
    return 0


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/extremes_ablation").parse_args(argv)
    return measure_variants(args, argv, "extremes_ablation",
                            {v: (dropped, None) for v, dropped in VARIANTS.items()}, render)


if __name__ == "__main__":
    sys.exit(main())
