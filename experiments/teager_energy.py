"""Teager energy operator features beside the default set, with fixed linear models ->
reports/teager_energy/.

Measurement only: nothing is shipped. The Teager energy operator
``psi[x](n) = x(n)^2 - x(n-1) x(n+1)`` follows the energy of the source that makes a
band-limited signal; emotional and stressed speech changes the airflow's non-linear
vortices, which its autocorrelation shows. TEO-CB-Auto-Env (Zhou, Hansen & Kaiser 2001)
was built for stress classification and is reported to hold under noise: each critical
band of the speech (after the library's preprocessing,
:func:`ser_classic.features.preprocess`, as in training and inference) is filtered out,
its Teager energy cut into the features' 25 ms frames every 10 ms, and each frame's
normalised autocorrelation summarised by the area under its upper envelope (1/2 for
a steady energy, as the biased autocorrelation falls linearly; less for a modulated
one). Every band's frames give the mean, standard deviation and 10th and 90th
percentiles of that area: ``len(BANDS_HZ) - 1`` bands x 4, 64 columns, appended to the
3083 default columns. The normalised autocorrelation does not depend on the gain.

Variants, strict and speaker_norm, with ``loco_variants``' fixed models (ridge alpha
3000, logistic regression C 0.003, standardised features): the default set (baseline),
the default set plus the Teager columns, and the Teager columns alone. Rule, fixed
before the first run (``row_selection``'s): a lead when adding the columns raises the
mean LOCO UAR by at least 0.010 under both normalisations, with neither RAVDESS group6
accuracy more than 0.010 lower.

    .venv/bin/python experiments/teager_energy.py [--out reports/teager_energy]
"""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loco_variants import added_columns, clip_columns, measure, variant_report_head
from row_selection import variant_verdicts

from ser_classic.features import FeatureConfig, preprocess

#: Edges of the critical bands (Hz) of Zhou et al.'s filter bank up to 4 kHz.
BANDS_HZ = (100, 200, 300, 400, 510, 630, 770, 920, 1080, 1270, 1480, 1720, 2000, 2320,
            2700, 3150, 3700)
CACHE = Path(".cache/teager_energy")
ADDED = "default + Teager energy (64 columns)"


def teager(x: np.ndarray) -> np.ndarray:
    """``x(n)^2 - x(n-1) x(n+1)`` [shape=(n - 2,)]."""
    return x[1:-1] ** 2 - x[:-2] * x[2:]


def envelope_areas(psi: np.ndarray, *, frame: int, hop: int) -> np.ndarray:
    """Per frame of ``psi``: the mean of the upper envelope (the running maximum from the
    largest lag down) of its normalised autocorrelation over lags ``0 .. frame - 1``."""
    n = 1 + max(0, psi.size - frame) // hop
    frames = np.lib.stride_tricks.sliding_window_view(
        np.pad(psi, (0, max(0, frame - psi.size))), frame)[::hop][:n]
    spectrum = np.abs(np.fft.rfft(frames, n=2 * frame, axis=1)) ** 2
    r = np.fft.irfft(spectrum, axis=1)[:, :frame]
    r = r / np.maximum(r[:, :1], 1e-20)
    envelope = np.maximum.accumulate(r[:, ::-1], axis=1)[:, ::-1]
    return envelope.mean(axis=1)


def teager_features(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """The 64 Teager columns of one clip [shape=(n,)] at ``config.sample_rate``."""
    from scipy.signal import butter, sosfilt

    y = preprocess(y, config=config).astype(np.float64)
    out = []
    for lo, hi in pairwise(BANDS_HZ):
        sos = butter(4, (lo, hi), btype="bandpass", fs=config.sample_rate, output="sos")
        area = envelope_areas(teager(sosfilt(sos, y)), frame=config.win_length,
                              hop=config.hop_length)
        out += [area.mean(), area.std(), *np.percentile(area, (10, 90))]
    return np.array(out)


def teager_matrix(rows) -> np.ndarray:
    """The Teager columns of every manifest row (cached by the files' sha256)."""
    config = FeatureConfig()
    return clip_columns(rows, cache=CACHE, params=(BANDS_HZ, config.win_length,
                                                   config.hop_length),
                        columns_of=teager_features)


def variants(X: np.ndarray, rows):
    """``(normalisation, variant, features, weights)`` per variant, as ``loco_variants``'."""
    return added_columns(X, teager_matrix(rows), rows, added=ADDED, alone="Teager energy alone")


def render(summary: dict) -> str:
    lines = [*variant_report_head(summary, title="Teager energy features: measured with fixed "
                                         "linear models", doc=__doc__), "## Verdict", "",
             *variant_verdicts(summary["results"], [ADDED],
                               unchanged="the default feature set is unchanged."), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    return measure(argv, script="teager_energy", doc=__doc__, variants=variants,
                   render=render)


if __name__ == "__main__":
    raise SystemExit(main())
