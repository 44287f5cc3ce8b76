"""Speed of scoring ridge's grid in the inner CV: the Gram matrix kept along the path
(``RidgeSoftmax(warm_start=True)``, the registry's ``fast_params``) against one fit per
grid point (the previous version), in the same run -> reports/bench/tuning.md.

The rows are the deployed recipe's clean training clips (RAVDESS, TESS and EMOVO without
calm; strict features from the cache, no augmented copies); the splits are those of
``--tune speaker+corpus`` (3 speaker-grouped folds, then each corpus held out once). Per
split and repeat the two versions alternate, each timed as this process's CPU time on one
BLAS thread (the machine's speed drifts, so only the ratio within a repeat is read), and
their validation predictions must be equal at every grid point.

    .venv/bin/python experiments/bench_tuning.py --manifest data/manifest.csv \\
        --cache .cache/features
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ser_classic import data
from ser_classic.evaluation import inner_splits
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.models import MODELS, build_model
from ser_classic.reporting import write_text

CORPORA = ("emovo", "ravdess", "tess")
NO_EMOTIONS = ("calm",)
MODEL = "ridge"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=Path("data/manifest.csv"))
    p.add_argument("--cache", type=Path, default=Path(".cache/features"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("reports/bench"))
    return p.parse_args(argv)


def grid_path(X_tr, y_tr, X_va, *, warm: bool) -> tuple[float, list[np.ndarray]]:
    """CPU seconds and validation predictions of the grid, in its order."""
    spec = MODELS[MODEL]
    fast = {**spec.fast_params, "clf__warm_start": warm}
    start = time.process_time()
    est, preds = None, []
    for point in spec.param_grid():
        if est is None or not warm:
            est = build_model(MODEL, params={**point, **fast})
        else:
            est.set_params(**point)
        preds.append(est.fit(X_tr, y_tr).predict(X_va))
    return time.process_time() - start, preds


def main(argv=None) -> int:
    args = parse_args(argv)
    manifest = data.load_manifest(args.manifest)
    rows = manifest[manifest["corpus"].isin(CORPORA)
                    & ~manifest["emotion"].isin(NO_EMOTIONS)].reset_index(drop=True)
    X, _, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=FeatureConfig(),
                            cache_dir=args.cache)
    ok = ~np.isnan(X).any(axis=1)
    rows, X = rows[ok].reset_index(drop=True), X[ok].astype(np.float32)
    y = np.unique(rows["emotion"].to_numpy(dtype=str), return_inverse=True)[1]
    original = np.ones(len(y), dtype=bool)
    splits = {"speaker": inner_splits(rows["speaker"].to_numpy(dtype=str), original,
                                      n_splits=3),
              "corpus": inner_splits(rows["corpus"].to_numpy(dtype=str), original,
                                     n_splits=len(CORPORA))}
    results = []
    with threadpool_limits(limits=1, user_api="blas"):
        for grouping, group_splits in splits.items():
            for k, (tr, va) in enumerate(group_splits):
                for r in range(args.repeat):
                    t_sep, p_sep = grid_path(X[tr], y[tr], X[va], warm=False)
                    t_warm, p_warm = grid_path(X[tr], y[tr], X[va], warm=True)
                    if not all(np.array_equal(a, b) for a, b in zip(p_sep, p_warm, strict=True)):
                        raise SystemExit(f"{grouping} split {k}: predictions differ")
                    results.append({"split": f"{grouping} {k}", "rows": int(tr.size),
                                    "repeat": r, "separate_s": t_sep, "path_s": t_warm})
                    print(f"{grouping} {k} ({tr.size} rows) repeat {r}: separate "
                          f"{t_sep:.1f} s, path {t_warm:.1f} s", flush=True)
    ratios = [x["path_s"] / x["separate_s"] for x in results]
    summary = {"command": "python experiments/bench_tuning.py " + " ".join(
                   sys.argv[1:] if argv is None else argv),
               "machine": f"{platform.machine()}, one BLAS thread", "model": MODEL,
               "grid": MODELS[MODEL].param_grid(), "n_features": int(X.shape[1]),
               "results": results, "median_ratio": statistics.median(ratios)}
    lines = ["# Ridge's grid in the inner CV: one Gram matrix per split", "",
             f"Command: `{summary['command']}` ({summary['machine']}).", "",
             __doc__.split("\n\n")[1].replace("\n", " ").replace("``", "`"), "",
             f"Grid: alpha in {[p['clf__alpha'] for p in summary['grid']]}; "
             f"{X.shape[1]} features. Predictions equal at every grid point of every "
             "split.", "",
             "| split | training rows | one fit per point, CPU s | path, CPU s | ratio |",
             "|---|---|---|---|---|"]
    lines += [f"| {x['split']} (repeat {x['repeat']}) | {x['rows']} | {x['separate_s']:.1f} "
              f"| {x['path_s']:.1f} | {x['path_s'] / x['separate_s']:.2f} |" for x in results]
    lines += ["", f"Median ratio (path / one fit per point): **{summary['median_ratio']:.2f}**.",
              ""]
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "tuning.json", json.dumps(summary, indent=1) + "\n")
    write_text(args.out / "tuning.md", "\n".join(lines))
    print(f"wrote {args.out}/tuning.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
