"""A voice's neutral rendering of the same text as its reference, with fixed linear models
-> reports/same_text_reference/.

Measurement only: nothing is chosen or shipped. A speech generator can render any text
neutrally in the voice it is scoring, so a discriminator could compare each clip with the
neutral rendering of the same words by the same voice instead of with the voice's neutral
speech in general (``neutral_ref``). That reference shares the clip's speaker, words,
language and recording chain, which are what differ between corpora. The three corpora
allow the comparison: every speaker says every statement neutrally (RAVDESS twice, TESS
and EMOVO once). Protocols, each on the cached default features:
- ``strict``: features as extracted;
- ``speaker_norm``: z-scored with the statistics of all the speaker's clips;
- ``neutral reference, any text``: centred on the mean of the speaker's neutral clips
  (``neutral_ref``'s normalisation);
- ``neutral reference, same text``: centred on the mean of the speaker's neutral clips of
  the clip's statement;
- ``same text, speaker's spread``: that difference divided by the standard deviation of
  the speaker's clips (``speaker_norm``'s scale);
- ``neutral reference, another text``: a control added after the first run, which found
  the same-text reference below the any-text one. As the same-text reference, but each
  (speaker, statement) centred on the speaker's neutral clips of another statement
  (drawn at ``--seed``): as many clips as the same-text reference has (RAVDESS 2, TESS
  and EMOVO 1), other words. Against it the same-text reference shows what the words
  are worth at the same reference size.

The neutral clips are the references, so they are neither trained on nor scored (a
clip's own same-text reference is itself in TESS and EMOVO): every protocol is measured
on the six other emotions (angry, disgust, fearful, happy, sad, surprised; calm left
out), a closed set of 6 (chance 0.17). Cells: RAVDESS group6 accuracy with
``floor_ablation``'s fixed ridge and logistic regression, and leave-one-corpus-out UAR
with the logistic regression, as ``loco_variants`` scores its variants.

Rule, fixed before the first run: the same-text reference is a lead for a
generator-facing protocol when its LOCO mean is at least 0.010 above both
``speaker_norm``'s and the any-text reference's, with neither group6 accuracy more than
0.010 below the any-text reference's.

    .venv/bin/python experiments/same_text_reference.py [--out reports/same_text_reference]
"""

from __future__ import annotations

import sys
from functools import partial
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
from ser_classic.evaluation import (
    SpeakerNormalizer,
    reference_normalize,
    speaker_normalize,
)

ANY_TEXT = "neutral reference, any text"
SAME_TEXT = "neutral reference, same text"
OTHER_TEXT = "neutral reference, another text"


def same_text_reference(X: np.ndarray, speaker: np.ndarray, statement: np.ndarray,
                        reference: np.ndarray) -> np.ndarray:
    """Each row less the mean of its speaker's ``reference`` rows of its statement
    [shape=(n, d)]; NaN where the speaker has none of that statement."""
    Z = np.full_like(X, np.nan, dtype=np.float64)
    for key in set(zip(speaker, statement, strict=True)):
        rows = (speaker == key[0]) & (statement == key[1])
        if (rows & reference).any():
            Z[rows] = X[rows] - X[rows & reference].mean(axis=0)
    return Z


def other_text_reference(X: np.ndarray, speaker: np.ndarray, statement: np.ndarray,
                         reference: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """As :func:`same_text_reference`, each (speaker, statement) centred on the speaker's
    ``reference`` rows of another statement drawn by ``rng`` [shape=(n, d)]."""
    Z = np.full_like(X, np.nan, dtype=np.float64)
    for key in sorted(set(zip(speaker, statement, strict=True))):
        own = speaker == key[0]
        others = sorted(set(statement[own & reference]) - {key[1]})
        if others:
            other = others[rng.integers(len(others))]
            Z[own & (statement == key[1])] = (
                X[own & (statement == key[1])]
                - X[own & reference & (statement == other)].mean(axis=0))
    return Z


def speaker_spread(X: np.ndarray, speaker: np.ndarray) -> np.ndarray:
    """Each row's speaker's scale [shape=(n, d)], as ``speaker_norm`` divides by it
    (``SpeakerNormalizer.scale_``)."""
    S = np.empty_like(X, dtype=np.float64)
    for s in np.unique(speaker):
        rows = speaker == s
        S[rows] = SpeakerNormalizer().fit(X[rows]).scale_
    return S


def protocols(X: np.ndarray, speaker: np.ndarray, statement: np.ndarray,
              reference: np.ndarray, *, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The feature rows of every protocol of the module docstring, all rows."""
    same = same_text_reference(X, speaker, statement, reference)
    return {"strict": X, "speaker_norm": speaker_normalize(X, speaker),
            ANY_TEXT: reference_normalize(X, speaker, reference),
            SAME_TEXT: same,
            "same text, speaker's spread": same / speaker_spread(X, speaker),
            OTHER_TEXT: other_text_reference(X, speaker, statement, reference, rng=rng)}


def run(X, y, speaker, corpus, *, rows, seed: int = 0) -> list[dict]:
    statement = rows["statement"].astype(str).to_numpy()
    reference = y == REFERENCE_LABEL
    scored = ~reference
    results = []
    features = protocols(X, speaker, statement, reference, rng=np.random.default_rng(seed))
    for name, F in features.items():
        if np.isnan(F[scored]).any():
            raise SystemExit(f"{name}: a scored clip has no reference")
        scores = cv_and_loco(F[scored], y[scored], corpus[scored], speaker[scored])
        results.append({"protocol": name, **{k: round(v, 4) for k, v in scores.items()}})
        print(f"{name}: LOCO mean {scores['loco mean']:.3f}", flush=True)
    return results


def is_lead(results: list[dict]) -> bool:
    """The rule of the module docstring."""
    by = {r["protocol"]: r for r in results}
    same = by[SAME_TEXT]
    return (beats(same, by[ANY_TEXT])
            and same["loco mean"] - by["speaker_norm"]["loco mean"] >= 0.010 - 1e-9)


def render(summary: dict) -> str:
    results = summary["results"]
    lines = [*report_head("A voice's neutral rendering of the same text as its reference",
                          summary, __doc__), *protocol_table(results)]
    lines += ["", "## Verdict", "",
              "The same-text reference is a lead by the rule." if is_lead(results) else
              "The same-text reference is not a lead by the rule.", ""]
    by = {r["protocol"]: r for r in results}
    if OTHER_TEXT in by:
        words = by[SAME_TEXT]["loco mean"] - by[OTHER_TEXT]["loco mean"]
        size = by[ANY_TEXT]["loco mean"] - by[OTHER_TEXT]["loco mean"]
        lines += [f"At the same reference size, the same words move the LOCO mean by "
                  f"{words:+.3f} (same text against another text); every neutral clip of "
                  f"the voice instead of as few as the same text has moves it by "
                  f"{size:+.3f} (any text against another text).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/same_text_reference").parse_args(argv)
    return report_on_known_emotions(args, "same_text_reference", argv,
                                    partial(run, seed=args.seed), render, with_rows=True,
                                    seed=args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
