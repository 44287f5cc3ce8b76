"""Exploratory variants for strict normalisation, nested grouped CV on the same folds.

Each variant is one registration in the model registry (or a column subset of the
features), evaluated with :func:`ser_classic.evaluation.cross_validate` on the same outer
folds (default: 6 folds of 4 actors, cheaper than LOSO) and written to
``reports/cv/experiments.md``.

    .venv/bin/python experiments/strict_variants.py [--split group6] [--jobs 2]
        [--variants base,quantile,kbest1000,...] [--out reports/cv/experiments.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from ser_classic import evaluation
from ser_classic.data import EMOTIONS, load_manifest
from ser_classic.features import FeatureConfig, _name_table, extract_batch, feature_names
from ser_classic.models import register
from ser_classic.reporting import write_text

LR_GRID = {"clf__C": (0.003, 0.01, 0.03)}


def _lr(random_state):
    return LogisticRegression(C=0.01, max_iter=3000, class_weight="balanced",
                              random_state=random_state)


@register("x_quantile", grid=LR_GRID, default=False,
          description="rank-Gauss (quantile) transform, then logistic regression")
def _quantile(random_state):
    return Pipeline([("q", QuantileTransformer(output_distribution="normal",
                                               n_quantiles=200)),
                     ("scale", StandardScaler()), ("clf", _lr(random_state))])


def _kbest(k):
    def build(random_state):
        return Pipeline([("var", VarianceThreshold(1e-12)), ("scale", StandardScaler()),
                         ("select", SelectKBest(f_classif, k=k)), ("clf", _lr(random_state))])
    return build


register("x_kbest1000", grid=LR_GRID, default=False,
         description="1000 best ANOVA features, logistic regression")(_kbest(1000))
register("x_kbest500", grid=LR_GRID, default=False,
         description="500 best ANOVA features, logistic regression")(_kbest(500))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="data/manifest.csv")
    parser.add_argument("--cache", default=".cache/features")
    parser.add_argument("--split", default="group6", choices=("loso", "group6"))
    parser.add_argument("--variants", default="base,quantile,kbest1000,kbest500,groups")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="reports/cv/experiments.md")
    args = parser.parse_args(argv)
    command = "python experiments/strict_variants.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    m = load_manifest(args.manifest)
    m = m[m["corpus"] == "ravdess"].reset_index(drop=True)
    config = FeatureConfig()
    X, _, _ = extract_batch(m["path"], sha256=m["sha256"], config=config,
                            cache_dir=args.cache, n_jobs=args.jobs)
    y = m["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()
    speakers = m["speaker"].to_numpy()
    names = feature_names(config=config)
    where = _name_table(config)[1]
    lld_group = np.array([where[n][0] for n in names])
    runs = []  # (label, columns, model)
    for v in args.variants.split(","):
        if v == "base":
            runs.append(("all features, logreg", None, "logreg"))
        elif v == "groups":
            for grp in dict.fromkeys(lld_group):
                runs.append((f"without {grp}", np.flatnonzero(lld_group != grp), "logreg"))
        else:
            runs.append((f"x_{v}", None, f"x_{v}"))
    lines = [f"# Strict-normalisation variants ({args.split}, nested)", "",
             f"Produced by `{command}`.", "",
             "Logistic regression variants on the same outer folds; C tuned by 3-fold "
             "grouped inner CV on the training speakers.", "",
             "| variant | dims | accuracy | UAR | UAR 95 % CI | time, s |",
             "|---|---|---|---|---|---|"]
    for label, cols, model in runs:
        start = time.perf_counter()
        Xv = X if cols is None else X[:, cols]
        ev = evaluation.cross_validate(Xv, y, speakers, models=[model], classes=EMOTIONS,
                                       split=args.split, n_jobs=args.jobs)
        met = ev.metrics(model)
        ci = evaluation.bootstrap_ci(y, ev.models[model].pred, speakers, n_classes=8)
        row = (f"| {label} | {Xv.shape[1]} | {met['accuracy']:.3f} | {met['uar']:.3f} | "
               f"{ci['uar'][0]:.3f}-{ci['uar'][1]:.3f} | {time.perf_counter() - start:.0f} |")
        print(row, flush=True)
        lines.append(row)
    write_text(Path(args.out), "\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
