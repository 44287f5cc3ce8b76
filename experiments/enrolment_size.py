"""How many enrolment clips a speaker-normalised model needs before the voice's own clean
speech stops looking atypical (``ser_classic.typicality``).

For 3 speakers of each corpus (the first by name), ``k`` seeded clips of the speaker give
its statistics and the next 20 of its clips are scored: the share flagged ``atypical``;
and, without enrolment, 20 of its clips scored with ``speaker="batch"``. Measurement only.
-> ``reports/atypical/enrolment.{md,json}``

Usage::

    python experiments/enrolment_size.py --manifest data/manifest.csv --out reports/atypical
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import pandas as pd

SIZES = (3, 5, 10, 20)
N_SCORED = 20


def measure(manifest: pd.DataFrame, *, model: str, corpora, n_speakers: int, seed: int
            ) -> list[dict]:
    import ser_classic
    from ser_classic.recognizer import SpeakerStats

    rec = ser_classic.load(model)
    rows = []
    for corpus in corpora:
        for speaker in sorted(manifest[manifest.corpus == corpus].speaker.unique())[
                :n_speakers]:
            clips = manifest[manifest.speaker == speaker].sample(frac=1, random_state=seed)
            X, _ = rec.features(list(clips.path[:max(SIZES) + N_SCORED]))
            for k in SIZES:
                stats = SpeakerStats.from_features(X[:k])
                a = rec.atypicality_from_features(X[k:k + N_SCORED], speaker=stats)
                rows.append({"corpus": corpus, "speaker": speaker, "k": k,
                             "flagged": float(rec.atypical(a).mean())})
            # no enrolment: the 20 clips after the largest k normalised by themselves
            a = rec.atypicality_from_features(X[max(SIZES):max(SIZES) + N_SCORED],
                                              speaker="batch")
            rows.append({"corpus": corpus, "speaker": speaker, "k": "batch",
                         "flagged": float(rec.atypical(a).mean())})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default="data/manifest.csv")
    parser.add_argument("--model", default="deployed-speaker_norm")
    parser.add_argument("--corpora", default="ravdess,emovo")
    parser.add_argument("--speakers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports/atypical")
    args = parser.parse_args(argv)
    from ser_classic.reporting import write_text

    command = shlex.join(["python", "experiments/enrolment_size.py",
                          *(sys.argv[1:] if argv is None else argv)])
    corpora = [c for c in args.corpora.split(",") if c]
    rows = measure(pd.read_csv(args.manifest), model=args.model, corpora=corpora,
                   n_speakers=args.speakers, seed=args.seed)
    table = pd.DataFrame(rows).groupby(["corpus", "k"], sort=False).flagged.mean()
    lines = ["# Enrolment size and atypicality (speaker-normalised models)", "",
             f"Command: `{command}`", "",
             f"`{args.model}`; {args.speakers} speakers per corpus (the first by name), "
             f"each enrolled on k of its clips (shuffled at seed {args.seed}) and its next "
             f"{N_SCORED} clips scored: the share flagged `atypical` (its probabilities "
             f"shrunk). Fewer clips give statistics that spread too little. Last column: "
             f"no enrolment, `speaker=\"batch\"` over the speaker's clips "
             f"{max(SIZES) + 1}-{max(SIZES) + N_SCORED}.", "",
             "| corpus | " + " | ".join(f"k = {k}" for k in SIZES) + " | batch |",
             "|---|" + "---|" * (len(SIZES) + 1)]
    for corpus in corpora:
        lines.append(f"| {corpus} | " + " | ".join(f"{table[(corpus, k)]:.2f}"
                                                  for k in (*SIZES, "batch")) + " |")
    out = Path(args.out)
    write_text(out / "enrolment.md", "\n".join(lines) + "\n")
    write_text(out / "enrolment.json", json.dumps({"command": command, "rows": rows},
                                                  indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
