"""What training on the other corpora costs a corpus's own unseen speakers, with fixed
linear models -> reports/training_cost/.

Measurement only: nothing is chosen or shipped. The deployed models are trained on every
corpus, because that carries them further to a corpus they have never heard
(`reports/training_corpora`); this measures the other side, RAVDESS speakers held out
from a model trained with or without TESS and EMOVO. RAVDESS's group6 folds (6 folds of 4
consecutive actors), calm left out everywhere (as the deployed recipe leaves it out; 7
classes), the cached default features and ``floor_ablation``'s fixed ridge and logistic
regression. Training rows of every fold:
- ``RAVDESS only``: the fold's 20 training actors;
- ``with TESS and EMOVO``: those and every clip of the other two corpora (classes
  balanced over all the rows, as the deployed recipe trains);
- ``with TESS and EMOVO, corpora balanced``: the same, every corpus weighing as much as
  the others (classes balanced within), as ``balance_corpora`` would approach it.
Cells: accuracy and UAR on the held-out actors' clips, pooled over the folds. The
models' penalties are fixed (ridge alpha 3000, logistic regression C 0.003), not tuned
again for the larger training set.

    .venv/bin/python experiments/training_cost.py [--out reports/training_cost]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import (
    _models,
    ablation_parser,
    class_balanced,
    group6,
    report_head,
    report_on_known_emotions,
    uar,
)
from loco_variants import group_balanced

from ser_classic.evaluation import speaker_normalize

SETS = ("RAVDESS only", "with TESS and EMOVO", "with TESS and EMOVO, corpora balanced")


def fold_scores(F: np.ndarray, y: np.ndarray, corpus: np.ndarray, speaker: np.ndarray,
                training: str) -> dict:
    """Group6 accuracy and UAR of each fixed model on RAVDESS, trained on ``training``."""
    r = np.flatnonzero(corpus == "ravdess")
    other = np.flatnonzero(corpus != "ravdess")
    fold = group6(speaker[r])
    out = {}
    for name, make in _models(balanced=training != SETS[2]).items():
        pred = np.empty(r.size, dtype=object)
        for f in np.unique(fold):
            train = r[fold != f] if training == SETS[0] else np.concatenate([r[fold != f],
                                                                            other])
            model = make()
            extra = {} if training != SETS[2] else {
                f"{model.steps[-1][0]}__sample_weight":
                    class_balanced(group_balanced(corpus[train]), y[train])}
            pred[fold == f] = model.fit(F[train], y[train], **extra).predict(F[r[fold == f]])
        out[name] = {"accuracy": round(float((pred == y[r]).mean()), 4),
                     "uar": round(uar(y[r], pred.astype(str)), 4)}
    return out


def run(X, y, speaker, corpus) -> list[dict]:
    results = []
    for norm in ("strict", "speaker_norm"):
        F = X if norm == "strict" else speaker_normalize(X, speaker)
        for training in SETS:
            results.append({"normalization": norm, "training": training,
                            **fold_scores(F, y, corpus, speaker, training)})
            print(norm, training, results[-1], flush=True)
    return results


def change(rows: dict, training: str, model: str) -> float:
    """``model``'s UAR trained on ``training`` less its UAR trained on RAVDESS only."""
    return rows[training][model]["uar"] - rows[SETS[0]][model]["uar"]


def render(summary: dict) -> str:
    lines = [*report_head("What training on the other corpora costs RAVDESS's unseen "
                          "speakers", summary, __doc__),
             "| normalisation | training rows | ridge accuracy | ridge UAR | logreg accuracy "
             "| logreg UAR |", "|---|---|---|---|---|---|"]
    for r in summary["results"]:
        lines.append(f"| {r['normalization']} | {r['training']} | "
                     f"{r['ridge']['accuracy']:.3f} | {r['ridge']['uar']:.3f} | "
                     f"{r['logreg']['accuracy']:.3f} | {r['logreg']['uar']:.3f} |")
    lines.append("")
    for norm in ("strict", "speaker_norm"):
        rows = {r["training"]: r for r in summary["results"] if r["normalization"] == norm}
        changes = [f"{change(rows, s, 'ridge'):+.3f} (ridge) / "
                   f"{change(rows, s, 'logreg'):+.3f} (logreg) {label}"
                   for label, s in (("as they come", SETS[1]), ("corpora balanced", SETS[2]))]
        lines.append(f"- {norm}: TESS and EMOVO in training change RAVDESS's held-out UAR "
                     f"by " + "; ".join(changes) + ".")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/training_cost", seed=False).parse_args(argv)
    return report_on_known_emotions(args, "training_cost", argv, run, render)


if __name__ == "__main__":
    raise SystemExit(main())
