"""Modulation spectral features beside the default set, with fixed linear models ->
reports/modulation_spectrum/.

Measurement only: nothing is shipped. The default descriptors are frame-level spectra
and their functionals; how fast each band's energy rises and falls (the modulation
spectrum: syllable rate, tremor, abrupt onsets) is seen only through deltas and rhythm
functionals. Modulation spectral features (Wu, Falk & Chan 2011) add it directly, and
with a per-band log-envelope whose mean is removed they do not depend on the recording's
gain or on a fixed spectral colouring. Each clip, after the library's preprocessing
(:func:`ser_classic.features.preprocess`, as in training and inference), gives the log
energy of ``N_BANDS`` mel bands every 10 ms; each band's envelope, less its mean, is
Hann-windowed and its power spectrum summed over the octave modulation bands
``MOD_EDGES_HZ``. Columns: each acoustic band's log total modulation power
(``N_BANDS``) and its share in each modulation band (``N_BANDS x 5``), 48 in all,
appended to the 3083 default columns.

Variants, strict and speaker_norm, with ``loco_variants``' fixed models (ridge alpha
3000, logistic regression C 0.003, standardised features): the default set (baseline),
the default set plus the modulation columns, and the modulation columns alone (to see
what they carry by themselves). Rule, fixed before the first run (``row_selection``'s):
a lead when adding the columns raises the mean LOCO UAR by at least 0.010 under both
normalisations, with neither RAVDESS group6 accuracy more than 0.010 lower.

    .venv/bin/python experiments/modulation_spectrum.py [--out reports/modulation_spectrum]
"""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import librosa
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loco_variants import added_columns, clip_columns, measure, variant_report_head
from row_selection import variant_verdicts

from ser_classic.features import FeatureConfig, preprocess

N_BANDS = 8
MOD_EDGES_HZ = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
N_FFT_FRAMES = 1024  # zero-padded envelope length (10.24 s at 100 frames/s)
CACHE = Path(".cache/modulation_spectrum")
ADDED = "default + modulation spectrum (48 columns)"


def modulation_features(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """The 48 modulation columns of one clip [shape=(n,)] at ``config.sample_rate``."""
    y = preprocess(y, config=config).astype(np.float64)
    mel = librosa.feature.melspectrogram(
        y=y, sr=config.sample_rate, n_fft=config.n_fft, win_length=config.win_length,
        hop_length=config.hop_length, n_mels=N_BANDS, center=False)
    envelope = np.log(mel + 1e-6)
    envelope -= envelope.mean(axis=1, keepdims=True)
    envelope *= np.hanning(envelope.shape[1])
    power = np.abs(np.fft.rfft(envelope, n=max(N_FFT_FRAMES, envelope.shape[1]))) ** 2
    freqs = np.fft.rfftfreq(max(N_FFT_FRAMES, envelope.shape[1]),
                            config.hop_length / config.sample_rate)
    bands = np.stack([power[:, (freqs >= lo) & (freqs < hi)].sum(axis=1)
                      for lo, hi in pairwise(MOD_EDGES_HZ)],
                     axis=1)
    total = bands.sum(axis=1, keepdims=True) + 1e-12
    return np.concatenate([np.log(total[:, 0] / envelope.shape[1] + 1e-12),
                           (bands / total).ravel()])


def modulation_matrix(rows) -> np.ndarray:
    """The modulation columns of every manifest row (cached by the files' sha256)."""
    return clip_columns(rows, cache=CACHE, params=(N_BANDS, MOD_EDGES_HZ, N_FFT_FRAMES),
                        columns_of=modulation_features)


def variants(X: np.ndarray, rows):
    """``(normalisation, variant, features, weights)`` per variant, as ``loco_variants``'."""
    return added_columns(X, modulation_matrix(rows), rows, added=ADDED,
                         alone="modulation spectrum alone")


def render(summary: dict) -> str:
    lines = [*variant_report_head(summary, title="Modulation spectral features: measured with "
                                         "fixed linear models", doc=__doc__, cells=(
        "Cells: RAVDESS group6 accuracy (6 folds of 4 consecutive actors, 8 classes) and "
        "leave-one-corpus-out UAR of the logistic regression (calm excluded, closed set). "
        "The change is the LOCO mean against the baseline of the same normalisation.")),
             "## Verdict", "",
             *variant_verdicts(summary["results"], [ADDED],
                               unchanged="the default feature set is unchanged."), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    return measure(argv, script="modulation_spectrum", doc=__doc__, variants=variants,
                   render=render)


if __name__ == "__main__":
    raise SystemExit(main())
