"""Worst-group training weights (group DRO), with fixed linear models -> reports/group_dro/.

Measurement only: nothing is chosen or shipped, and the deployed recipe is unchanged. A
model that must hold on an unseen corpus can be trained for its worst training group
instead of the average clip: group distributionally robust optimisation (Sagawa et al.
2020) in its batch form for a convex model. Inside every fit, on its training rows only,
the group weights ``q`` start equal; ``STEPS`` times, the fixed logistic regression is
fitted with each row weighted ``q[g] / n[g]`` (classes balanced on those weights), each
group's mean log loss ``L[g]`` of its own labels is read on the training rows, and ``q``
is multiplied by ``exp(ETA * L[g])`` and renormalised. The last weights train the model
that is scored. Groups:
- ``corpus``: every training corpus (in RAVDESS's group6 folds there is one, so those
  cells are the baseline's);
- ``speaker``: every training speaker.
Static weights that give every corpus or speaker the same total were measured in
``reports/loco_variants`` (no gain); these follow the losses instead.

The cached default features are scored by ``floor_ablation``'s fixed models, as
``loco_variants`` scores its variants: RAVDESS group6 accuracy with ridge and with logistic
regression, leave-one-corpus-out UAR with the logistic regression. Rule
(``row_selection``'s, fixed before the first run, as were ``STEPS`` and ``ETA``): a
variant is a lead when it raises the LOCO mean by at least 0.010 under strict and
speaker_norm, with neither group6 accuracy more than 0.010 lower.

    .venv/bin/python experiments/group_dro.py [--out reports/group_dro]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import _models, class_balanced
from loco_variants import measure
from row_selection import verdict_report

from ser_classic.evaluation import speaker_normalize

STEPS = 5
ETA = 0.5
GROUPINGS = ("corpus", "speaker")


def dro_weights(X: np.ndarray, y: np.ndarray, groups: np.ndarray, *, steps: int = STEPS,
                eta: float = ETA) -> tuple[np.ndarray, dict]:
    """Row weights [shape=(n,)] after ``steps`` exponentiated updates of the group weights
    by each group's mean log loss, and the last group weights by group."""
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    q = np.full(names.size, 1.0 / names.size)
    for _ in range(steps):
        w = q[inverse] / counts[inverse]
        model = _models(balanced=False)["logreg"]()
        model.fit(X, y, logisticregression__sample_weight=class_balanced(w, y))
        proba = model.predict_proba(X)[np.arange(y.size), np.searchsorted(model.classes_, y)]
        loss = np.bincount(inverse, weights=-np.log(np.clip(proba, 1e-12, None))) / counts
        q = q * np.exp(eta * loss)
        q /= q.sum()
    return q[inverse] / counts[inverse], dict(zip(names.tolist(), q.round(4).tolist(),
                                                  strict=True))


def dro_weight_function(X: np.ndarray, y: np.ndarray, groups: np.ndarray):
    """A weight function of a fit's training row indices for
    ``floor_ablation.cv_and_loco``: :func:`dro_weights` on those rows, computed once per
    set of rows (ridge and the logistic regression of a fold read the same weights)."""
    memo: dict[bytes, np.ndarray] = {}

    def weights(rows: np.ndarray) -> np.ndarray:
        key = np.asarray(rows).tobytes()
        if key not in memo:
            memo[key] = dro_weights(X[rows], y[rows], groups[rows])[0]
        return memo[key]

    return weights


def variant_name(grouping: str) -> str:
    return f"group DRO over each {grouping}"


def variants(X: np.ndarray, rows):
    """``(normalisation, variant, features, weights)`` per variant."""
    y, speaker = rows["emotion"].to_numpy(), rows["speaker"].to_numpy()
    for norm in ("strict", "speaker_norm"):
        F = X if norm == "strict" else speaker_normalize(X, speaker)
        yield norm, "baseline", lambda F=F: F, None
        for grouping in GROUPINGS:
            yield (norm, variant_name(grouping), lambda F=F: F,
                   dro_weight_function(F, y, rows[grouping].to_numpy()))


def render(summary: dict) -> str:
    return verdict_report(summary, title="Worst-group training weights (group DRO): "
                                         "measured with fixed linear models",
                          doc=__doc__, names=[variant_name(g) for g in GROUPINGS])


def main(argv=None) -> int:
    return measure(argv, script="group_dro", doc=__doc__, variants=variants, render=render)


if __name__ == "__main__":
    raise SystemExit(main())
