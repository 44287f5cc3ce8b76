"""Iterative feature normalisation: a voice's neutral reference estimated from its unlabelled
clips, with fixed linear models -> reports/iterative_normalization/.

Measurement only: nothing is chosen or shipped. Issue 19's item 6 names iterative
normalisation beside the neutral reference (Busso, Metallinou & Narayanan 2011,
"Iterative feature normalization for emotional speech detection", ICASSP). The model is
trained on features centred on each training speaker's labelled neutral clips
(`neutral_ref`'s normalisation); a new voice's neutral clips carry no label, so they are
estimated from a batch of its clips: the batch is first centred on all its clips; the
share 1/K of them (K classes, at least 2 clips) with the highest neutral score (the
logistic regression's p(neutral), the ridge's neutral decision value) becomes the
reference; the batch is centred on that reference (each reference clip on the others, as
`neutral_ref` does), and again, until the reference stops changing or after 5 rounds. A
generator can supply such a batch: many clips of the voice, any emotions, no labels.

Protocols, on the cached default features, 7 emotions (calm left out; the neutral clips
are scored too):
- `strict`: features as extracted;
- `speaker_norm`: z-scored with the statistics of all the speaker's clips;
- `neutral_ref`: centred on the speaker's labelled neutral clips (the reference the
  iteration estimates; an oracle for a voice without labels);
- `iterative`: trained as `neutral_ref`, each held-out speaker's clips (one batch)
  centred on the estimated reference;
- the one-emotion batch, one discriminator call for one target: each held-out speaker's
  clips of one emotion are the batch. `speaker_norm, one-emotion batch`: trained as
  `speaker_norm`, each batch z-scored by itself; `iterative, one-emotion batch`: the
  iteration run on each batch.

Cells: RAVDESS group6 accuracy with `floor_ablation`'s fixed ridge and logistic
regression, and leave-one-corpus-out UAR with the logistic regression (closed set of 7,
chance 0.14), as `loco_variants` scores its variants; for the iterative protocols also
the share of truly neutral clips in the estimated references of the held-out corpora
(the labels are read for this only, after scoring) and the mean number of rounds.

Rule, fixed before the first run: the iterative reference is a lead for a
generator-facing protocol when its LOCO mean is at least 0.010 above `speaker_norm`'s
(the mixed-batch protocol it would replace), with neither group6 accuracy more than
0.010 below `speaker_norm`'s.

    .venv/bin/python experiments/iterative_normalization.py [--out reports/iterative_normalization]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_ablation import (
    ablation_parser,
    beats,
    cv_and_loco,
    protocol_table,
    report_head,
    report_on_known_emotions,
)

from ser_classic._vocabulary import REFERENCE_LABEL
from ser_classic.evaluation import reference_normalize, speaker_normalize

ROUNDS = 5
ITERATIVE = "iterative"
ONE_EMOTION = "one-emotion batch"


def neutral_score(model, Z: np.ndarray) -> np.ndarray:
    """Each row's neutral score [shape=(n,)]: p(neutral), or the neutral decision value
    of a model without probabilities."""
    column = list(model.classes_).index(REFERENCE_LABEL)
    if hasattr(model, "predict_proba"):
        return model.predict_proba(Z)[:, column]
    return model.decision_function(Z)[:, column]


def iterative_reference(model, X: np.ndarray, *, rounds: int = ROUNDS
                        ) -> tuple[np.ndarray, np.ndarray, int]:
    """One batch of a voice's rows [shape=(n, d)] centred on its estimated neutral
    reference -> ``(Z, reference, rounds used)``; ``reference`` [shape=(n,)] marks the
    rows of the last reference."""
    one_voice = np.zeros(len(X))
    k = max(2, math.ceil(len(X) / len(model.classes_)))
    reference = np.ones(len(X), dtype=bool)
    for used in range(1, rounds + 1):
        Z = reference_normalize(X, one_voice, reference)
        top = np.argsort(-neutral_score(model, Z), kind="stable")[:k]
        new = np.zeros(len(X), dtype=bool)
        new[top] = True
        if (new == reference).all():
            return Z, reference, used
        reference = new
    return reference_normalize(X, one_voice, reference), reference, rounds


class IterativeTest:
    """A ``test_features`` for :func:`floor_ablation.cv_and_loco`: each ``batch`` of the
    held-out rows centred on its estimated reference; records the truly neutral share
    of each reference and its rounds (``y`` is read for that only)."""

    def __init__(self, X: np.ndarray, batch: np.ndarray, y: np.ndarray):
        self.X, self.batch, self.y = X, batch, y
        self.neutral_share: list[float] = []
        self.rounds: list[int] = []

    def __call__(self, model, test) -> np.ndarray:
        test = np.asarray(test)
        test = np.flatnonzero(test) if test.dtype == bool else test
        Z = np.empty((test.size, self.X.shape[1]))
        for b in np.unique(self.batch[test]):
            mine = self.batch[test] == b
            Z[mine], reference, used = iterative_reference(model, self.X[test[mine]])
            self.neutral_share.append(float(np.mean(self.y[test[mine]][reference]
                                                    == REFERENCE_LABEL)))
            self.rounds.append(used)
        return Z


def batch_zscored(X: np.ndarray, batch: np.ndarray):
    """A ``test_features`` that z-scores each ``batch`` of the held-out rows by itself."""
    return lambda model, test: speaker_normalize(X[test], batch[test])


def run(X, y, speaker, corpus) -> list[dict]:
    one_emotion = np.array([f"{s}/{e}" for s, e in zip(speaker, y, strict=True)])
    neutral_centred = reference_normalize(X, speaker, y == REFERENCE_LABEL)
    speaker_z = speaker_normalize(X, speaker)
    iterative = IterativeTest(X, speaker, y)
    iterative_one = IterativeTest(X, one_emotion, y)
    protocols = {
        "strict": (X, None, None),
        "speaker_norm": (speaker_z, None, None),
        "neutral_ref": (neutral_centred, None, None),
        ITERATIVE: (neutral_centred, iterative, iterative),
        f"speaker_norm, {ONE_EMOTION}": (speaker_z, batch_zscored(X, one_emotion), None),
        f"{ITERATIVE}, {ONE_EMOTION}": (neutral_centred, iterative_one, iterative_one),
    }
    results = []
    for name, (F, test_features, record) in protocols.items():
        scores = cv_and_loco(F, y, corpus, speaker, test_features=test_features)
        result = {"protocol": name, **{k: round(v, 4) for k, v in scores.items()}}
        if record is not None:
            # the LOCO folds come last: one batch per held-out speaker (or emotion) each
            n_loco = len(np.unique(record.batch))
            result["reference neutral share"] = round(
                float(np.mean(record.neutral_share[-n_loco:])), 4)
            result["rounds"] = round(float(np.mean(record.rounds[-n_loco:])), 2)
        results.append(result)
        print(f"{name}: LOCO mean {scores['loco mean']:.3f}", flush=True)
    return results


def is_lead(results: list[dict]) -> bool:
    """The rule of the module docstring."""
    by = {r["protocol"]: r for r in results}
    return beats(by[ITERATIVE], by["speaker_norm"])


def render(summary: dict) -> str:
    results = summary["results"]
    lines = [*report_head("Iterative feature normalisation: an estimated neutral reference",
                          summary, __doc__),
             *protocol_table(results, extra={
                 "reference neutral share": lambda r: (
                     f"{r['reference neutral share']:.2f}" if "rounds" in r else "-"),
                 "rounds": lambda r: f"{r['rounds']:.1f}" if "rounds" in r else "-"})]
    lines += ["", "## Verdict", "",
              "The iterative reference is a lead by the rule." if is_lead(results) else
              "The iterative reference is not a lead by the rule.", ""]
    by = {r["protocol"]: r for r in results}
    if "neutral_ref" in by:
        est = by[ITERATIVE]
        lines += [f"Against the labelled neutral clips (`neutral_ref`), the estimated "
                  f"reference moves the LOCO mean by "
                  f"{est['loco mean'] - by['neutral_ref']['loco mean']:+.3f}, with "
                  f"{est['reference neutral share']:.0%} of its clips truly neutral.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/iterative_normalization",
                           seed=False).parse_args(argv)
    return report_on_known_emotions(args, "iterative_normalization", argv, run, render)


if __name__ == "__main__":
    raise SystemExit(main())
