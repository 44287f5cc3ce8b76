"""The clip's long-term spectral shape divided out: accuracy against invariance and
microphone colourings -> reports/tilt_ablation/.

Measurement only: nothing is chosen or shipped. A microphone or a channel colours a
recording with a fixed filter, which multiplies every frame's power spectrum by the same
curve. `reports/colouring` found that the committed models change their answer for a
quarter of the clips under a 6 dB shelf (the spectral-shape descriptors move by more than
their spread), and `reports/corpus_spectra` that the corpora's neutral speech differs in
long-term spectral shape as much as emotions do. Training copies coloured at random
(`reports/ablation_eq`) bought little of either. This removes the shape by construction:
each variant takes the clip's long-term average power per frequency bin (over the frames
the silence trim keeps, the features' noise floor included), and divides every frame by
its smooth shape -- the first 4 coefficients of the DCT of its logarithm, less their mean
(a shelf or a tilt, not the formants) -- or by the whole long-term spectrum (every bin
flattened), before the noise floor is added back; every descriptor read off the
spectrogram then sees a clip whose long-term spectrum is flat or has no tilt. Those read
off the waveform (zero-crossing rate, pitch, voicing) are unchanged. The features of every
clip are extracted again in this process with no cache and scored as in `active_frames`
(`floor_ablation`'s fixed models; invariance and the colourings of `bench_conditions` on 40
clips of actors 17-20; accuracy under white noise on actors 17-20; actors 21-24 are not
read).

The variants and the rule were fixed before the first run: a variant is a lead for the
deployed recipe when the strict model's mean agreement over the five colourings rises by
at least 0.05, neither its mean LOCO UAR nor its RAVDESS group6 logistic-regression
accuracy drops by more than 0.005 in either normalisation, and it meets at least as many
invariance targets (strict and speaker_norm together) as the shipped features.

    .venv/bin/python experiments/tilt_ablation.py [--out reports/tilt_ablation]
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path

import numpy as np
import scipy.fft

sys.path.insert(0, str(Path(__file__).resolve().parent))
import extremes_ablation
from active_frames import (
    CLOSING,
    analysis_as,
    invariance_met,
    kept_accuracy,
    render_leads,
    reshaped_analysis,
)
from floor_ablation import ablation_parser, write_summary
from trim_ablation import measure_in_process

ROOT = Path(__file__).resolve().parents[1]
#: variant -> DCT coefficients of the log long-term spectrum divided out (None: shipped;
#: 0: every bin, the long-term spectrum flattened)
VARIANTS = {"shipped": None,
            "smooth long-term shape divided out (4 DCT coefficients)": 4,
            "long-term spectrum flattened (every bin)": 0}
COLOURING_GAIN = 0.05  # the rule's least rise of the strict mean colouring agreement
TITLE = ("The clip's long-term spectral shape divided out: accuracy against invariance "
         "and microphone colourings")


def long_term_shape(power: np.ndarray, n_coefficients: int) -> np.ndarray:
    """The log long-term average of ``power`` [shape=(bins, T)] per bin, smoothed to its
    first ``n_coefficients`` DCT coefficients (0: not smoothed), less its mean
    [shape=(bins,)]."""
    log_ltas = np.log(power.mean(axis=1, dtype=np.float64))
    if n_coefficients:
        c = scipy.fft.dct(log_ltas, norm="ortho")
        c[n_coefficients:] = 0.0
        log_ltas = scipy.fft.idct(c, norm="ortho")
    return log_ltas - log_ltas.mean()


def tilt_analysis(n_coefficients: int) -> type:
    """The features' analysis of one clip with its long-term shape divided out of every
    frame's power before the noise floor is added back."""
    def divided(power: np.ndarray, with_floor: np.ndarray) -> np.ndarray:
        shape = long_term_shape(with_floor, n_coefficients)
        return power * np.exp(-shape).astype(power.dtype)[:, None]

    return reshaped_analysis(divided)


def mean_colouring_agreement(variant: dict, normalization: str = "strict") -> float:
    return float(np.mean([r[normalization]["agreement"]
                          for r in variant["colouring"].values()]))


def leads(summary: dict) -> list[str]:
    """The variants that the rule of the module docstring calls a lead."""
    names = list(summary["variants"])
    base = summary["variants"][names[0]]
    return [n for n in names[1:]
            if mean_colouring_agreement(summary["variants"][n])
            >= mean_colouring_agreement(base) + COLOURING_GAIN
            and kept_accuracy(summary["variants"][n], base)
            and invariance_met(summary["variants"][n]) >= invariance_met(base)]


def colouring_table(summary: dict) -> list[str]:
    names = list(summary["variants"])
    return ["## Microphone colourings (agreement / mean |dp|, strict \\| speaker_norm; the "
            "same 40 clips and blind models as the invariance table)", "",
            "| colouring | " + " | ".join(names) + " |", "|---|" + "---|" * len(names),
            *extremes_ablation.invariance_rows(summary, "colouring"),
            "| **mean agreement, strict \\| speaker_norm** | " + " | ".join(
                f"**{mean_colouring_agreement(summary['variants'][n]):.3f} \\| "
                f"{mean_colouring_agreement(summary['variants'][n], 'speaker_norm'):.3f}**"
                for n in names) + " |"]


def render(summary: dict) -> str:
    return render_leads(summary, rule="By the rule fixed before the first run", title=TITLE,
                        doc=__doc__, closing=CLOSING, found=leads(summary),
                        tables=colouring_table(summary))


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/tilt_ablation", cached=False
                           ).parse_args(argv)
    variants = {name: ({"dct_coefficients": k},
                       contextlib.nullcontext if k is None else
                       functools.partial(analysis_as, tilt_analysis(k)))
                for name, k in VARIANTS.items()}
    summary = measure_in_process(args, argv, "tilt_ablation", variants, colouring=True)
    write_summary(ROOT / args.out, summary, render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
