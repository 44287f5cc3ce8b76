"""How many neutral clips a `neutral_ref` model needs -> reports/reference_size/.

Measurement only: nothing is trained, chosen or shipped. A `neutral_ref` model centres a
voice on the mean of the neutral clips it is enrolled on (`recognizer.enroll`); a user,
or a generator, decides how many to give. The fold models of the held-out-corpus A/B of
the shipped `neutral_ref` recipe (`make deploy-neutral_ref`, kept in
`.cache/models/ab-neutral_ref/<held-out corpus>/`: the teacher and its deployed student,
each trained on the other two corpora) score every clip of the corpus they did not see
(calm left out; closed set over its labels), each speaker enrolled on `k` of its neutral
clips drawn at random (a neutral clip on `k` of the others), `draws` times per `k`
(seeded); `all` is every other neutral clip (the A/B's own protocol). RAVDESS actors have
4 neutral clips, EMOVO speakers 14, TESS speakers 200, so a corpus has no figure where
`k` exceeds its clips less one. The strict recipe's fold models (`.cache/models/ab/`,
no reference) are the line to beat.

    .venv/bin/python experiments/reference_size.py [--draws 5]
        [--out reports/reference_size]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import report_head, write_summary

CORPORA = ("emovo", "ravdess", "tess")
SIZES = (2, 3, 5, 8, 13)
MODELS = {"neutral_ref teacher": ("ab-neutral_ref", "teacher"),
          "neutral_ref student (deployed)": ("ab-neutral_ref", "logit_int8"),
          "strict teacher": ("ab", "teacher"), "strict student (deployed)": ("ab", "logit_int8")}


def measure(manifest: pd.DataFrame, *, work: Path, cache: str | None, draws: int,
            seed: int, jobs: int) -> dict:
    """UAR and ECE per held-out corpus, model and reference size (mean and range over
    the draws)."""
    from ser_classic.artifact import load_artifact
    from ser_classic.deployment import _neutral_ref_proba
    from ser_classic.evaluation import (
        classification_metrics,
        closed_set_proba,
        expected_calibration_error,
    )
    from ser_classic.features import extract_batch
    from ser_classic.recognizer import EmotionRecognizer

    results: dict = {}
    for corpus in CORPORA:
        rows = manifest[(manifest["corpus"] == corpus) & (manifest["emotion"] != "calm")]
        rows = rows.reset_index(drop=True)
        results[corpus] = {}
        for name, (folder, kind) in MODELS.items():
            recognizer = EmotionRecognizer(load_artifact(work / folder / corpus / kind))
            X, _, _ = extract_batch(rows["path"], sha256=rows["sha256"],
                                    config=recognizer.feature_config, cache_dir=cache,
                                    n_jobs=jobs)
            classes = [c for c in recognizer.classes_ if c in set(rows["emotion"])]
            y = np.searchsorted(classes, rows["emotion"].to_numpy(dtype=str))
            speakers = rows["speaker"].to_numpy(dtype=str)
            emotions = rows["emotion"].to_numpy(dtype=str)
            sizes = ([None] if recognizer.normalization == "strict"
                     else [*SIZES, None])
            results[corpus][name] = {"model": recognizer.model_id, "sizes": {}}
            for k in sizes:
                runs = []
                for d in range(1 if k is None else draws):
                    rng = np.random.default_rng([seed, k or 0, d])
                    proba = (recognizer.proba_from_features(X)
                             if recognizer.normalization == "strict" else
                             _neutral_ref_proba(recognizer, X, speakers, emotions, k=k,
                                                rng=rng))
                    if proba is None:
                        break
                    proba = closed_set_proba(proba, recognizer.classes_, classes)
                    pred = proba.argmax(axis=1)
                    runs.append((classification_metrics(y, pred, n_classes=len(classes))
                                 ["uar"], expected_calibration_error(y, proba)))
                if runs:
                    uar, ece = np.array(runs).T
                    results[corpus][name]["sizes"]["all" if k is None else str(k)] = {
                        "uar": float(uar.mean()), "uar_range": [float(uar.min()),
                                                                float(uar.max())],
                        "ece": float(ece.mean()), "draws": len(runs)}
            print(f"{corpus}: {name} done", flush=True)
    return results


def render(summary: dict) -> str:
    res = summary["results"]
    lines = report_head("Reference size of the neutral_ref models (held-out corpora)",
                        summary, __doc__)
    columns = [*map(str, SIZES), "all"]
    lines += ["Models: " + "; ".join(
        f"{name}: " + ", ".join(f"{c} `{res[c][name]['model']}`" for c in CORPORA)
        for name in MODELS) + ".", "",
        f"UAR (mean over {summary['draws']} draws of the reference; the range in brackets) "
        f"/ ECE, per held-out corpus and neutral clips enrolled (strict models: no "
        f"reference, one figure):", ""]
    for corpus in CORPORA:
        lines += [f"### {corpus} held out", "",
                  "| model | " + " | ".join(f"k = {c}" for c in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for name in MODELS:
            sizes = res[corpus][name]["sizes"]
            if list(sizes) == ["all"]:
                s = sizes["all"]
                cells = [f"{s['uar']:.3f} / {s['ece']:.3f} (no reference)"] + [""] * (
                    len(columns) - 1)
            else:
                cells = [(f"{s['uar']:.3f} [{s['uar_range'][0]:.3f}, "
                          f"{s['uar_range'][1]:.3f}] / {s['ece']:.3f}"
                          if (s := sizes.get(c)) else "—") for c in columns]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Mean over the three held-out corpora (UAR / ECE), where every corpus has the "
              "size:", "", "| model | " + " | ".join(f"k = {c}" for c in columns) + " |",
              "|---|" + "---|" * len(columns)]
    for name in MODELS:
        strict = list(res[CORPORA[0]][name]["sizes"]) == ["all"]
        cells = []
        for c in columns[-1:] if strict else columns:
            per = [res[corpus][name]["sizes"].get(c) for corpus in CORPORA]
            cells.append("—" if None in per else
                         f"{np.mean([p['uar'] for p in per]):.3f} / "
                         f"{np.mean([p['ece'] for p in per]):.3f}")
        if strict:
            cells = [f"{cells[0]} (no reference)"] + [""] * (len(columns) - 1)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--cache", default=".cache/features")
    p.add_argument("--work", default=".cache/models")
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="reports/reference_size")
    args = p.parse_args(argv)
    from ser_classic import load_manifest

    start = time.time()
    results = measure(load_manifest(args.manifest), work=Path(args.work), cache=args.cache,
                      draws=args.draws, seed=args.seed, jobs=args.jobs)
    summary = {"command": "python experiments/reference_size.py" + "".join(
                   f" {a}" for a in (argv if argv is not None else sys.argv[1:])),
               "seconds": round(time.time() - start, 1), "draws": args.draws,
               "seed": args.seed, "results": results}
    write_summary(Path(args.out), summary, render(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
