"""The features' time and frequency resolution on leave-one-corpus-out
-> reports/resolution_loco/.

Measurement only: nothing is shipped, and the features stay as they are. The library
reads one STFT of 40 ms Hann frames every 10 ms (`FeatureConfig.win_length` 640) through
40 mel bands under 20 cepstra (`n_mels` 40); this asks whether the usual 25 ms MFCC frame
(`win_length` 400: faster spectral change followed) or 64 mel bands (`n_mels` 64, the
cepstra still 20: formants resolved more finely) carries emotion across corpora better,
one field changed at a time. The features are extracted anew for each (through the
shared cache). The protocol is `bandwidth_loco`'s A: `smile_loco`'s nested protocol (for
every corpus held out in turn, calm left out, each set scored by the ridge classifier
with alpha chosen on the two training corpora by the teachers' inner criterion, and the
set chosen per fold by the same criterion; strict and speaker_norm), with
`floor_ablation`'s fixed-model RAVDESS group6 accuracies beside.

Rule, fixed before the run (`reports/resolution_loco/rule.md`): a lead when the nested
choice's mean LOCO UAR is at least the default's + 0.010 under both normalisations.

    .venv/bin/python experiments/resolution_loco.py [--out reports/resolution_loco]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bandwidth_loco import (
    extracted,
    loco_and_fixed,
    loco_and_fixed_md,
    nested_verdict_md,
    protocol_a_verdict,
)
from floor_ablation import ablation_parser, report_head, report_on_known_emotions

from ser_classic.features import FeatureConfig

#: The feature sets: the default (``librosa``) and one field changed in each other.
CONFIGS = {"librosa": FeatureConfig(), "win 25 ms": FeatureConfig(win_length=400),
           "mel 64": FeatureConfig(n_mels=64)}


def render(summary: dict) -> str:
    default = CONFIGS["librosa"]
    lines = report_head("The features' time and frequency resolution on "
                        "leave-one-corpus-out (issue 19; not shipped)", summary, __doc__)
    lines += [f"`librosa` is the library's features as they are (win_length "
              f"{default.win_length}, n_mels {default.n_mels}, n_mfcc {default.n_mfcc}, "
              f"hop_length {default.hop_length}, n_fft {default.n_fft}).", "",
              *loco_and_fixed_md(summary["results"]), "", "## Verdict", "",
              nested_verdict_md(summary["verdict"]), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/resolution_loco", seed=False).parse_args(argv)

    def run(X, y, speaker, corpus, *, rows):
        sets = extracted(X, rows, CONFIGS, cache=args.cache, jobs=args.jobs)
        return loco_and_fixed(sets, y, speaker, corpus)

    return report_on_known_emotions(
        args, "resolution_loco", argv, run, render, with_rows=True,
        verdict=lambda summary: protocol_a_verdict(summary["results"]))


if __name__ == "__main__":
    raise SystemExit(main())
