"""One-STFT librosa-style descriptors summarised by functionals, with an on-disk cache.

Every clip goes through ``preprocess`` (DC removal, silence trim, optional pad/trim to a
fixed duration, level normalisation), then ONE magnitude STFT; all low-level descriptors
(LLDs) are read off that spectrogram below ``FeatureConfig.fmax_hz``, with a noise floor
``FeatureConfig.floor_db`` below the clip's reference level added to every power bin
(zero-crossing rate off the waveform, with a dead zone at that floor): gain, DC offset,
digital silence vs 16-bit rounding, and the input's sample rate change (almost) nothing.
Each LLD and its delta is summarised by
the same functionals (for level-like LLDs relative to the clip's mean, see
``FeatureConfig.relative_levels``); the extended descriptors add statistics over voiced
frames, contour functionals and rhythm. ``extract_features(..., select=names)`` computes
only the groups and rows the given feature names need, with exactly the values of the full
extraction. Two per-frame searches (spectral roll-off, autocorrelation peak) are small
numba kernels that repeat the float32 arithmetic of the NumPy expressions they replace, so
they change the speed, not the values.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import json
import os
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import joblib
import librosa
import numba
import numpy as np
import scipy.fft

from ._parallel import run_jobs
from .augment import (
    AugmentConfig,
    _cumulative_energy,
    _frame_powers,
    _trim_silence,
    mask_spectrogram,
    pad_trim,
    random_shift,
    spectrogram,
    warp_frequencies,
)
from .data import (
    atomic_write_bytes,
    channel_cache_tag,
    corpus_channel,
    file_sha256,
    load_audio,
)
from .errors import AudioError, ParameterError

__all__ = [
    "CONTOUR_FUNCTIONALS",
    "FUNCTIONALS",
    "RHYTHM",
    "VOICED_STATS",
    "FeatureConfig",
    "augmented_features",
    "extract_batch",
    "extract_features",
    "feature_names",
    "preprocess",
    "run_batch",
    "speech_crop",
]

FUNCTIONALS = ("mean", "std", "skew", "kurt", "min", "p10", "p25", "p50", "p75", "p90",
               "max", "slope")
_QUANTILES = np.array([0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 1.0])
_BAND_EDGES_HZ = (0, 250, 650, 1000, 2000, 4000, 8000)


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that determines the features; hashable, travels with every model.

    Parameters
    ----------
    sample_rate : int
        Audio is resampled to this rate before anything else.
    n_fft, win_length, hop_length : int
        The one STFT (zero-padded FFT of ``win_length`` Hann frames).
    n_mels, n_mfcc : int
        Mel bands (log energies are features) and cepstral coefficients.
    trim_top_db : float or None
        Leading/trailing silence quieter than this below the peak is cut (preprocessing).
    duration_s : float or None
        Pad or cut every clip to this duration after trimming (preprocessing).
    fmin_f0, fmax_f0 : float
        Search range of the autocorrelation pitch track.
    relative_levels : bool
        For level-like LLDs (MFCC, log-mel, band energies, RMS level, F0) the order
        statistics are taken relative to the clip's mean and the mean itself is left out:
        the shape of the contour, not the speaker's or the channel's absolute level.
    extended : bool
        Add the extended descriptors: statistics over voiced frames only
        (:data:`VOICED_STATS`), unvoiced MFCC means, ComParE-style contour functionals
        (:data:`CONTOUR_FUNCTIONALS`) and rhythm (:data:`RHYTHM`).
    fmax_hz : float
        Every spectral descriptor reads the spectrum up to this frequency only, a guard
        band below Nyquist: audio resampled from another rate (whose anti-aliasing filter
        removes the top few hundred Hz) gives the same features. The top band of the
        band energies and of the spectral contrast ends here.
    floor_db : float
        Noise floor, in dB below the clip's reference level, added to every power
        spectrum bin (and the dead zone of the zero-crossing count) before any log,
        ratio or normalisation: content below it (digital silence, 16-bit rounding, a
        faint noise floor) is not seen. The clip is scaled to its reference level in
        :func:`preprocess`, so gain changes nothing.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 640
    hop_length: int = 160
    n_mels: int = 40
    n_mfcc: int = 20
    trim_top_db: float | None = 40.0
    duration_s: float | None = None
    fmin_f0: float = 60.0
    fmax_f0: float = 500.0
    relative_levels: bool = True
    extended: bool = True
    fmax_hz: float = 7000.0
    floor_db: float = 30.0

    def __post_init__(self) -> None:
        for name in ("trim_top_db", "duration_s", "fmin_f0", "fmax_f0", "fmax_hz",
                     "floor_db"):  # 65 == 65.0: one hash
            value = getattr(self, name)
            if type(value) is int:
                object.__setattr__(self, name, float(value))
        if self.sample_rate < 8000:
            raise ParameterError(f"sample_rate must be >= 8000, got {self.sample_rate}")
        if not 0 < self.win_length <= self.n_fft or self.hop_length <= 0:
            raise ParameterError("need 0 < win_length <= n_fft and hop_length > 0")
        if not 0 < self.n_mfcc <= self.n_mels:
            raise ParameterError("need 0 < n_mfcc <= n_mels")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ParameterError(f"duration_s must be > 0 or None, got {self.duration_s}")
        if self.sample_rate / self.fmax_f0 < 2 or 2 * self.sample_rate / self.fmin_f0 > \
                self.n_fft:
            raise ParameterError("pitch range needs n_fft >= 2 * sample_rate / fmin_f0")
        if not 4000.0 < self.fmax_hz <= self.sample_rate / 2:
            raise ParameterError(f"need 4000 < fmax_hz <= sample_rate / 2, got "
                                 f"{self.fmax_hz}")
        if self.floor_db <= 0:
            raise ParameterError(f"floor_db must be > 0, got {self.floor_db}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FeatureConfig:
        return cls(**values)

    @property
    def hash(self) -> str:
        """Short stable hash (also keys the feature cache)."""
        blob = json.dumps({"v": _FEATURE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


_FEATURE_VERSION = 3  # bump when the extraction code changes its output


# --------------------------------------------------------------------------- names
def _lld_groups(config: FeatureConfig) -> dict[str, list[str]]:
    bands = [f"band{lo}_{hi}" for lo, hi in itertools.pairwise(_BAND_EDGES_HZ)]
    return {
        "mfcc": [f"mfcc{i}" for i in range(config.n_mfcc)],
        "mel": [f"mel{i}" for i in range(config.n_mels)],
        "chroma": [f"chroma{i}" for i in range(12)],
        "contrast": [f"contrast{i}" for i in range(7)],
        "spectral": ["centroid", "bandwidth", "rolloff", "flatness", "flux", "entropy",
                     "slope", "skewness", "kurtosis", "alpha_ratio", "hammarberg", *bands],
        "energy": ["rms_db", "zcr"],
        "voicing": ["voicing", "hnr"],
        "pitch": ["f0"],
    }


_UTTERANCE = ("duration", "voiced_ratio", "jitter", "shimmer")
_LEVEL_GROUPS = ("mfcc", "mel", "pitch")
_LOCATION = tuple(FUNCTIONALS.index(f) for f in ("min", "p10", "p25", "p50", "p75", "p90",
                                                  "max"))
VOICED_STATS = ("mean", "std", "p10", "p50", "p90")
CONTOUR_FUNCTIONALS = ("up25", "up50", "up75", "up90", "rise_ratio", "linreg_err",
                       "quadratic", "peak_rate", "peak_dist", "rise_slope", "fall_slope")
RHYTHM = ("voiced_segment_rate", "voiced_segment_mean", "voiced_segment_std", "pause_mean",
          "pause_std")
_N_CONTOUR_MFCC, _N_CONTOUR_SPECTRAL = 13, 11


def _level_rows(group: str, llds: list[str]) -> set[int]:
    """Rows of a group whose LLD is a level (log energy, cepstrum, pitch)."""
    if group in _LEVEL_GROUPS:
        return set(range(len(llds)))
    return {i for i, lld in enumerate(llds)
            if lld == "rms_db" or (lld.startswith("band") and lld[4].isdigit())}


def _extended_names(config: FeatureConfig) -> list[str]:
    groups = _lld_groups(config)
    voiced_llds = groups["mfcc"] + groups["mel"] + groups["spectral"] + groups["energy"]
    names = [f"{lld}_voiced_{stat}" for lld in voiced_llds for stat in VOICED_STATS]
    names += [f"{lld}_unvoiced_mean" for lld in groups["mfcc"]]
    names += [f"{lld}_voiced_minus_unvoiced" for lld in groups["spectral"]]
    contour = ["f0", "rms_db", *groups["mfcc"][:_N_CONTOUR_MFCC],
               *groups["spectral"][:_N_CONTOUR_SPECTRAL]]
    names += [f"{lld}_{func}" for lld in contour for func in CONTOUR_FUNCTIONALS]
    return names + list(RHYTHM)


@functools.lru_cache(maxsize=8)
def _name_table(config: FeatureConfig) -> tuple[tuple[str, ...], dict]:
    """All names, and for each (group, delta) the row index of every named feature."""
    names: list[str] = []
    where: dict[str, tuple[str, bool, int, int]] = {}
    mean = FUNCTIONALS.index("mean")
    for group, llds in _lld_groups(config).items():
        levels = _level_rows(group, llds) if config.relative_levels else set()
        for delta in (False, True):
            for row, lld in enumerate(llds):
                for k, func in enumerate(FUNCTIONALS):
                    if k == mean and not delta and row in levels:
                        continue  # relative levels: the contour's shape, not its level
                    name = f"{lld}{'_d' if delta else ''}_{func}"
                    where[name] = (group, delta, row, k)
                    names.append(name)
    scalars = [("utterance", _UTTERANCE)]
    if config.extended:
        scalars.append(("extended", _extended_names(config)))
    for group, group_names in scalars:
        for k, name in enumerate(group_names):
            where[name] = (group, False, k, 0)
            names.append(name)
    return tuple(names), where


def feature_names(*, config: FeatureConfig) -> list[str]:
    """Names of the features, in the column order of :func:`extract_features`."""
    return list(_name_table(config)[0])


# --------------------------------------------------------------------------- filters
@functools.lru_cache(maxsize=8)
def _filters(config: FeatureConfig) -> dict[str, np.ndarray]:
    sr, n_fft = config.sample_rate, config.n_fft
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr).astype(np.float32)
    n_bins = int(np.searchsorted(freqs, np.float32(config.fmax_hz), side="right"))
    freqs = freqs[:n_bins]  # the guard band: bins above fmax_hz are never read
    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=config.n_mels,
                              fmax=config.fmax_hz).astype(np.float32)[:, :n_bins]
    chroma = librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=0.0).astype(np.float32)
    chroma = np.ascontiguousarray(chroma[:, :n_bins])
    dct = scipy.fft.dct(np.eye(config.n_mels), type=2, norm="ortho", axis=0)
    dct = dct[: config.n_mfcc].astype(np.float32)
    band_idx = np.searchsorted(freqs, np.asarray(_BAND_EDGES_HZ, dtype=np.float32))
    band_idx[-1] = freqs.size
    f64 = freqs.astype(np.float64)
    freq_powers = np.stack([f64, f64**2, f64**3, f64**4])
    fc = f64 - f64.mean()
    # slope of the dB spectrum (20 log10 S = 10 log10 P) against frequency, per kHz
    slope_row = (fc / float(fc @ fc) * 10.0 / np.log(10.0) * 1000.0).astype(np.float32)
    split_bins = np.searchsorted(freqs, [1000.0, 2000.0, 5000.0])
    octaves = 200.0 * 2.0 ** np.arange(7)
    edges = [0, *np.searchsorted(freqs, octaves[octaves < config.fmax_hz]), freqs.size]
    contrast_bands = [(a, max(b, a + 1)) for a, b in itertools.pairwise(edges)]
    contrast_bands = (contrast_bands + [contrast_bands[-1]] * 7)[:7]
    starts, stops = np.array(contrast_bands).T
    counts = np.maximum(1, np.round(0.02 * (stops - starts))).astype(np.int64)
    win = np.zeros(n_fft, dtype=np.float64)
    start = (n_fft - config.win_length) // 2
    win[start:start + config.win_length] = np.hanning(config.win_length + 1)[:-1]
    win_acf = np.fft.irfft(np.abs(np.fft.rfft(win)) ** 2)
    lag_min = int(np.floor(sr / config.fmax_f0))
    lag_max = int(np.ceil(sr / config.fmin_f0))
    # the floor: a white noise floor_db below the reference level (mean square 1 after
    # preprocess) puts sum(window**2) * 10**(-floor_db / 10) in each power bin
    floor = float(np.sum(win**2)) * 10.0 ** (-config.floor_db / 10.0)
    return {"n_bins": n_bins, "floor": np.float32(floor),
            "zcr_dead_zone": np.float32(10.0 ** ((10.0 - config.floor_db) / 20.0)),
            "freqs": freqs, "mel": mel, "chroma": chroma, "dct": dct,
            "band_idx": band_idx, "freq_powers": freq_powers, "slope_row": slope_row,
            "split_bins": split_bins, "contrast_bands": (starts, stops, counts),
            "win_acf": np.maximum((win_acf / win_acf[0]).astype(np.float32)[:lag_max + 2],
                                  np.float32(1e-3)),
            "lags": np.array([lag_min, lag_max])}


# --------------------------------------------------------------------------- LLDs
def _delta(x: np.ndarray) -> np.ndarray:
    """Regression delta over +-2 frames with edge padding."""
    if x.shape[1] < 2:
        return np.zeros_like(x)
    first, last = x[:, :1], x[:, -1:]
    p = np.concatenate([first, first, x, last, last], axis=1)
    return (p[:, 3:-1] - p[:, 1:-3] + 2.0 * (p[:, 4:] - p[:, :-4])) / 10.0


def _functionals(x: np.ndarray, frame_rate: float) -> np.ndarray:
    """Functionals of each row of ``x`` [shape=(k, T)] -> [shape=(k, len(FUNCTIONALS))].

    Every statistic is computed row by row (no BLAS), so a row's values do not depend
    on which other rows are summarised with it. Statistics are computed in float64;
    order statistics are read off ``x`` in its own dtype (the same values, sorted faster).
    """
    k, t = x.shape
    if t == 0:
        return np.zeros((k, len(FUNCTIONALS)), dtype=np.float64)
    ordered = np.sort(x, axis=1)
    centred = x.astype(np.float64)  # a copy, centred in place
    mean = centred.mean(axis=1)
    centred -= mean[:, None]
    sq = centred * centred
    var = sq.mean(axis=1)
    std = np.sqrt(var)
    ok = var > 1e-12
    safe = np.where(ok, var, 1.0)
    # one scratch array for the remaining products: fresh large temporaries cost page
    # faults; the values are those of the plain expressions
    scratch = np.multiply(sq, centred)
    skew = np.where(ok, scratch.mean(axis=1) / safe**1.5, 0.0)
    kurt = np.where(ok, np.multiply(sq, sq, out=scratch).mean(axis=1) / safe**2 - 3.0, 0.0)
    lo, hi, frac, tc, denom = _frame_weights(t)
    q = ordered[:, lo] * (1.0 - frac) + ordered[:, hi] * frac
    slope = np.multiply(centred, tc, out=scratch).sum(axis=1) / denom * frame_rate
    return np.column_stack([mean, std, skew, kurt, q, slope])


@numba.njit(cache=True, nogil=True)
def _band_extremes(S, starts, stops, counts):  # pragma: no cover - compiled
    """Per band and frame, the mean of the ``n`` largest and of the ``n`` smallest values.

    ``S`` [shape=(n_bins, T)], band ``k`` = rows ``starts[k]:stops[k]`` and
    ``n = counts[k]`` -> [shape=(2, n_bands, T)] (peaks, valleys) in the dtype of ``S``.
    Each sum adds its ``n`` values in ascending order, sequentially in that dtype: exactly
    summing the first/last ``n`` rows of ``np.sort(band, axis=0)`` one after another.
    """
    n_bands, t = starts.size, S.shape[1]
    out = np.empty((2, n_bands, t), dtype=S.dtype)
    for k in range(n_bands):
        n = counts[k]
        top = np.empty(n, dtype=S.dtype)  # ascending: top[0] is the smallest kept
        low = np.empty(n, dtype=S.dtype)  # ascending: low[n - 1] is the largest kept
        for j in range(t):
            if n == 1:  # the common case, in registers
                peak = valley = S[starts[k], j]
                for i in range(starts[k] + 1, stops[k]):
                    v = S[i, j]
                    peak = max(peak, v)
                    valley = min(valley, v)
                out[0, k, j] = peak
                out[1, k, j] = valley
                continue
            for m in range(n):
                top[m] = -np.inf
                low[m] = np.inf
            for i in range(starts[k], stops[k]):  # spectra fall with frequency: few
                v = S[i, j]                       # values enter the top going up
                if v > top[0]:
                    m = 0
                    while m + 1 < n and top[m + 1] < v:
                        top[m] = top[m + 1]
                        m += 1
                    top[m] = v
            for i in range(stops[k] - 1, starts[k] - 1, -1):  # and few the bottom going down
                v = S[i, j]
                if v < low[n - 1]:
                    m = n - 1
                    while m > 0 and low[m - 1] > v:
                        low[m] = low[m - 1]
                        m -= 1
                    low[m] = v
            peak, valley = top[0], low[0]
            for m in range(1, n):
                peak += top[m]
                valley += low[m]
            out[0, k, j] = peak / S.dtype.type(n)
            out[1, k, j] = valley / S.dtype.type(n)
    return out


@numba.njit(cache=True, nogil=True)
def _acf_peaks(acf, win, lag_min, lag_max):  # pragma: no cover - compiled
    """Per frame: energy, best lag and peak of the window-corrected normalised ACF.

    ``acf`` [shape=(>= lag_max + 2, T), float32], ``win`` [shape=(lag_max + 2,)] the
    window's own normalised ACF (floored at 1e-3). Returns ``r0`` (lag-0 value + 1e-10),
    the arg-max lag offset from ``lag_min``, the peak value and the parabolic-interpolation
    shift of the peak, all in the float32 arithmetic of the NumPy expressions they replace.
    """
    t, n = acf.shape[1], lag_max + 2
    eps, two, half = np.float32(1e-10), np.float32(2.0), np.float32(0.5)
    tiny = np.float32(1e-9)
    r0 = np.empty(t, dtype=np.float32)
    best = np.empty(t, dtype=np.int64)
    peak = np.empty(t, dtype=np.float32)
    shift = np.zeros(t, dtype=np.float32)
    for j in range(t):
        r = acf[0, j] + eps
        r0[j] = r
        top, where = acf[lag_min, j] / r / win[lag_min], lag_min
        for lag in range(lag_min + 1, lag_max + 1):
            v = acf[lag, j] / r / win[lag]
            if v > top:  # first maximum, as np.argmax
                top, where = v, lag
        best[j] = where - lag_min
        peak[j] = top
        if 0 < where < n - 1:
            a = acf[where - 1, j] / r / win[where - 1]
            c = acf[where + 1, j] / r / win[where + 1]
            den = a - two * top + c
            if abs(den) > tiny:
                shift[j] = half * (a - c) / den
    return r0, best, peak, shift


@numba.njit(cache=True, nogil=True)
def _rolloff_bins(P, fraction):  # pragma: no cover - compiled
    """First bin whose cumulative power reaches ``fraction`` of the frame's total.

    ``P`` [shape=(n_bins, T)] -> [shape=(T,), int64]; the running sums are sequential in
    the dtype of ``P``, exactly ``np.cumsum(P, axis=0)``; ``fraction`` has that dtype too.
    """
    t = P.shape[1]
    out = np.zeros(t, dtype=np.int64)
    for j in range(t):
        total = P.dtype.type(0.0)
        for i in range(P.shape[0]):
            total += P[i, j]
        threshold = fraction * total
        running = P.dtype.type(0.0)
        for i in range(P.shape[0]):
            running += P[i, j]
            if running >= threshold:
                out[j] = i
                break
    return out


@functools.lru_cache(maxsize=256)
def _frame_weights(t: int):
    """Quantile interpolation indices/weights and centred frame times for ``t`` frames."""
    pos = _QUANTILES * (t - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    tc = np.arange(t, dtype=np.float64) - (t - 1) / 2.0
    return lo, hi, pos - lo, tc, float(np.sum(tc**2)) or 1.0


def _zero_crossing_rate(y: np.ndarray, n_frames: int, config: FeatureConfig,
                        dead_zone: float) -> np.ndarray:
    """Zero-crossing rate [shape=(n_frames,), float64] of centred ``win_length`` frames of
    a preprocessed clip (feature version >= 3; shared by the torch path, where it has no
    gradient)."""
    half = config.win_length // 2
    padded = np.zeros(y.size + 2 * half, dtype=y.dtype)
    padded[half:half + y.size] = y
    starts = np.arange(n_frames) * config.hop_length
    starts = np.minimum(starts, max(padded.size - config.win_length, 0))
    # a sign change counts only between samples out of the dead zone around 0 (the
    # floor's level + 10 dB): digital silence, 16-bit rounding and a faint noise floor
    # cross nothing; each sample in the zone takes the sign of the last one out of it
    held = np.where(np.abs(padded) > dead_zone, np.arange(padded.size), 0)
    np.maximum.accumulate(held, out=held)
    signs = np.signbit(padded)[held]
    changes = np.empty(signs.size, dtype=np.int32)  # sign changes up to each sample
    changes[0] = 0
    np.cumsum(signs[1:] != signs[:-1], out=changes[1:])
    end = np.minimum(starts + config.win_length - 1, padded.size - 1)
    return (changes[end] - changes[starts]) / float(config.win_length)


class _Analysis:
    """Lazily computed LLD groups of one clip (each at most once)."""

    def __init__(self, S: np.ndarray, y: np.ndarray, config: FeatureConfig) -> None:
        self.f = _filters(config)
        # the guard band and the noise floor, before any descriptor reads the spectrum
        P = np.square(S[:self.f["n_bins"]])
        P += self.f["floor"]
        self.P, self.S, self.y, self.config = P, np.sqrt(P), y, config
        self._cache: dict[str, object] = {}

    def get(self, key: str):
        if key not in self._cache:
            self._cache[key] = getattr(self, f"_{key}")()
        return self._cache[key]

    def _power(self):
        return self.P

    def _logmel(self):
        return np.log(self.f["mel"] @ self.get("power") + 1e-10)

    def _mfcc(self):
        return self.f["dct"] @ self.get("logmel")

    def _mel(self):
        return self.get("logmel")

    def _chroma(self):
        c = self.f["chroma"] @ self.get("power")
        return c / np.maximum(c.max(axis=0, keepdims=True), 1e-10)

    def _contrast(self):
        """Spectral contrast in 6 octave bands from 200 Hz plus the rest (as librosa)."""
        starts, stops, counts = self.f["contrast_bands"]
        logs = np.log10(_band_extremes(self.S, starts, stops, counts) + 1e-10)
        return logs[0] - logs[1]

    def _spectral(self):
        S, P, freqs = self.S, self.get("power"), self.f["freqs"]
        eps = 1e-10
        # in-place ufuncs on the fresh arrays (fresh large temporaries cost page faults);
        # the values are those of the plain expressions
        scratch = S / (S.sum(axis=0) + eps)
        dist = scratch.astype(np.float64)
        log_p = np.add(P, eps, out=scratch)  # same shape, dtype and layout as P + eps
        np.log(log_p, out=log_p)
        p_sum = P.sum(axis=0) + eps
        m1, m2, m3, m4 = self.f["freq_powers"] @ dist
        var = np.maximum(m2 - m1**2, 0.0)
        centroid = m1
        bandwidth = np.sqrt(var)
        skewness = (m3 - 3 * m1 * m2 + 2 * m1**3) / (var**1.5 + eps)
        kurtosis = (m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4) / (var**2 + eps)
        rolloff = freqs[_rolloff_bins(P, P.dtype.type(0.85))]
        mean_log_p = log_p.mean(axis=0)
        flatness = np.exp(mean_log_p) / (p_sum / P.shape[0])
        slope = self.f["slope_row"] @ log_p
        p_log_p = np.multiply(P, log_p, out=log_p)  # log_p is not read after this
        entropy = (np.log(p_sum) - p_log_p.sum(axis=0) / p_sum) / np.log(P.shape[0])
        flux = np.zeros(dist.shape[1])
        step = dist[:, 1:] - dist[:, :-1]
        flux[1:] = np.sqrt(np.sum(np.square(step, out=step), axis=0))
        idx = self.f["band_idx"]
        band_db = 10 * np.log10(np.add.reduceat(P, idx[:-1], axis=0) + eps)
        i1k, i2k, i5k = self.f["split_bins"]
        alpha = 10 * np.log10((P[1:i1k].sum(axis=0) + eps) / (P[i1k:i5k].sum(axis=0) + eps))
        hammarberg = 10 * np.log10((P[:i2k].max(axis=0) + eps) / (P[i2k:i5k].max(axis=0) + eps))
        return np.vstack([centroid, bandwidth, rolloff, flatness, flux, entropy, slope,
                          skewness, kurtosis, alpha, hammarberg, band_db])

    def _energy(self):
        P, cfg = self.get("power"), self.config
        rms_db = 10 * np.log10(P.sum(axis=0) / cfg.win_length + 1e-10)
        zcr = _zero_crossing_rate(self.y, P.shape[1], cfg, self.f["zcr_dead_zone"])
        return np.vstack([rms_db, zcr]).astype(np.float32)

    def _acf(self):
        """Normalised autocorrelation peak (voicing) and its lag for every frame."""
        P = self.get("power")
        lag_min, lag_max = self.f["lags"]
        acf = scipy.fft.irfft(P, n=self.config.n_fft, axis=0)
        r0, best, peak, shift = _acf_peaks(acf, self.f["win_acf"], lag_min, lag_max)
        peak = np.clip(peak, 0.0, 0.999)
        lag = (best + lag_min).astype(np.float64) + np.clip(shift, -0.5, 0.5)
        energy_ok = 10 * np.log10(r0) > 10 * np.log10(r0.max()) - 35.0
        voiced = (peak > 0.45) & energy_ok
        return peak, lag, voiced

    def _voicing(self):
        peak, _, _ = self.get("acf")
        hnr = 10 * np.log10(peak / (1 - peak) + 1e-6)
        return np.vstack([peak, hnr]).astype(np.float32)

    def _pitch(self):
        _, lag, voiced = self.get("acf")
        f0 = self.config.sample_rate / lag[voiced]
        return (12 * np.log2(f0 / 27.5))[None, :].astype(np.float32)

    def _utterance(self):
        _, lag, voiced = self.get("acf")
        n = voiced.size
        duration = self.y.size / self.config.sample_rate
        ratio = float(voiced.mean()) if n else 0.0
        both = voiced[1:] & voiced[:-1]
        if both.sum() >= 2:
            period = lag / self.config.sample_rate
            jitter = float(np.mean(np.abs(np.diff(period))[both]) / np.mean(period[voiced]))
            rms_db = self.get("energy")[0]
            shimmer = float(np.mean(np.abs(np.diff(rms_db))[both]))
        else:
            jitter = shimmer = 0.0
        return np.array([duration, ratio, jitter, shimmer], dtype=np.float64)


    def _extended(self):
        """The extended descriptors, in the order of :func:`_extended_names`."""
        frame_rate = self.config.sample_rate / self.config.hop_length
        _, _, voiced = self.get("acf")
        mfcc, spectral, energy = self.get("mfcc"), self.get("spectral"), self.get("energy")
        vox = voiced if voiced.sum() >= 2 else np.ones_like(voiced)
        unv = ~voiced if (~voiced).sum() >= 2 else np.ones_like(voiced)
        # one call: every statistic is row-wise (no BLAS) and computed in float64, and
        # the order statistics of float32 rows are the same numbers in float64
        parts = [_voiced_stats(np.vstack([mfcc, self.get("mel"), spectral, energy],
                                         dtype=np.float64)[:, vox]).ravel()]
        parts.append(mfcc[:, unv].mean(axis=1))
        parts.append(spectral[:, vox].mean(axis=1) - spectral[:, unv].mean(axis=1))
        f0 = self.get("pitch")
        parts.append(_contour_functionals(f0 - np.median(f0), frame_rate).ravel()
                     if f0.size >= 3 else np.zeros(len(CONTOUR_FUNCTIONALS)))
        contours = [energy[:1], mfcc[:_N_CONTOUR_MFCC], spectral[:_N_CONTOUR_SPECTRAL]]
        parts.append(_contour_functionals(
            np.vstack([c.astype(np.float64) for c in contours]), frame_rate,
            blocks=[c.shape[0] for c in contours]).ravel())
        parts.append(_rhythm(voiced, frame_rate))
        return np.concatenate([np.asarray(x, dtype=np.float64) for x in parts])


def _voiced_stats(x: np.ndarray) -> np.ndarray:
    """Mean, std and 10/50/90th percentiles of each row [shape=(k, T)] -> (k, 5)."""
    t = x.shape[1]
    if t < 2:
        return np.zeros((x.shape[0], len(VOICED_STATS)))
    ordered = np.sort(x, axis=1)
    pos = np.array([0.1, 0.5, 0.9]) * (t - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    q = ordered[:, lo] * (1.0 - (pos - lo)) + ordered[:, hi] * (pos - lo)
    x = x.astype(np.float64, copy=False)
    return np.column_stack([x.mean(axis=1), x.std(axis=1), q])


@functools.lru_cache(maxsize=256)
def _quadratic_fit(t: int, frame_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares projector onto (1, t, t^2) and the centred frame times, in seconds."""
    tc = np.arange(t) / frame_rate
    tc = tc - tc.mean()
    return np.linalg.pinv(np.column_stack([np.ones(t), tc, tc**2])), tc


def _contour_functionals(x: np.ndarray, frame_rate: float,
                         blocks: Sequence[int] | None = None) -> np.ndarray:
    """ComParE-style contour functionals of each row [shape=(k, T)] -> (k, 11).

    Up-level time at 25/50/75/90 % of the range, rising-frame ratio, linear-regression
    error, quadratic coefficient, peak rate and mean peak distance, mean rising and
    falling slope (names in :data:`CONTOUR_FUNCTIONALS`). ``blocks`` (row counts summing
    to k) splits the two matrix products: a BLAS product's rounding may depend on how
    many rows it multiplies, so each block gets the values it has when summarised alone;
    every other statistic is row-wise.
    """
    k, t = x.shape
    if t < 3:
        return np.zeros((k, len(CONTOUR_FUNCTIONALS)))
    x = x.astype(np.float64, copy=False)
    low = x.min(axis=1, keepdims=True)
    rel = (x - low) / np.maximum(x.max(axis=1, keepdims=True) - low, 1e-9)
    up = [np.mean(rel > a, axis=1) for a in (0.25, 0.5, 0.75, 0.9)]
    d = np.diff(x, axis=1)
    # a step counts as rising/falling beyond 0.1 % of the range: flat stretches at the
    # noise floor count as neither, whatever tiny fluctuation they carry
    tol = 1e-3 * (x.max(axis=1, keepdims=True) - low)
    rising, falling = d > tol, d < -tol
    projector, tc = _quadratic_fit(t, frame_rate)
    mean = x.mean(axis=1, keepdims=True)
    bounds = np.cumsum([0, *(blocks or [k])])
    quadratic = np.concatenate([(projector @ x[a:b].T)[2]
                                for a, b in itertools.pairwise(bounds)])
    slope = np.concatenate([(x[a:b] - mean[a:b]) @ tc
                            for a, b in itertools.pairwise(bounds)]) / (tc @ tc)
    linreg_err = np.sqrt(np.mean((x - mean - slope[:, None] * tc) ** 2, axis=1))
    peaks = (x[:, 1:-1] > x[:, :-2]) & (x[:, 1:-1] >= x[:, 2:]) & (rel[:, 1:-1] > 0.5)
    n_peaks = peaks.sum(axis=1)
    first = peaks.argmax(axis=1)
    last = peaks.shape[1] - 1 - peaks[:, ::-1].argmax(axis=1)
    peak_dist = np.where(n_peaks > 1, (last - first) / np.maximum(n_peaks - 1, 1), 0.0)
    rise_slope = np.where(rising, d, 0).sum(axis=1) / np.maximum(rising.sum(axis=1), 1)
    fall_slope = np.where(falling, d, 0).sum(axis=1) / np.maximum(falling.sum(axis=1), 1)
    return np.column_stack([*up, rising.mean(axis=1), linreg_err, quadratic,
                            n_peaks / (t / frame_rate), peak_dist / frame_rate,
                            rise_slope * frame_rate, fall_slope * frame_rate])


def _rhythm(voiced: np.ndarray, frame_rate: float) -> np.ndarray:
    """Voiced segments per second, their mean/std length and mean/std pause (seconds)."""
    edges = np.diff(np.concatenate([[0], voiced.astype(int), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    segments = (ends - starts) / frame_rate
    pauses = (starts[1:] - ends[:-1]) / frame_rate if starts.size > 1 else np.zeros(1)
    duration = max(voiced.size / frame_rate, 1e-3)
    return np.array([starts.size / duration,
                     segments.mean() if segments.size else 0.0,
                     segments.std() if segments.size else 0.0,
                     pauses.mean(), pauses.std()])


_TRIM_NOISE_MARGIN_DB = 10.0  # silence trim: also cut edges within 10 dB of a steady noise
_TRIM_FRAME_LENGTH = 512  # silence trim's frames (trim_silence's default)
_REFERENCE_PERCENTILE = 95.0  # the clip's reference level: this percentile of frame power


def preprocess(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """The preprocessing of training AND inference: DC removal, silence trim, optional
    fixed duration, level normalisation.

    Leading (in whole hops) and trailing digital silence (exact zeros) is dropped and
    the mean of the other samples subtracted from them (a DC offset changes nothing,
    digital silence stays silence); leading/trailing frames are cut when quieter than
    ``trim_top_db`` below the loudest frame, than the features' noise floor (``floor_db``
    below the reference level), or within 10 dB of a steady noise at that end
    (:func:`ser_classic.augment.trim_silence`); the clip is then scaled so that its
    reference level (the 95th percentile of the mean square of its ``win_length``
    frames) is 1: the features do not depend on the recording's gain, and the noise
    floor of :class:`FeatureConfig` is relative to that level.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] at ``config.sample_rate``

    Returns
    -------
    y : np.ndarray [shape=(m,), dtype=float32]
    """
    *_, start, stop, y = _kept_spans(np.asarray(y, dtype=np.float64), config)
    return _level_normalised(y[start:stop], config)


def _speech_span(y: np.ndarray, config: FeatureConfig) -> tuple[int, int]:
    """Where the clip's speech starts and stops in ``y`` (samples): :func:`preprocess`'s
    trim decision."""
    s0, _, start, stop, _ = _kept_spans(np.asarray(y, dtype=np.float64), config)
    return s0 + start, s0 + stop


def speech_crop(y: np.ndarray, *, rng: np.random.Generator, seconds: tuple[float, float],
                config: FeatureConfig) -> np.ndarray:
    """A random span of the clip's speech: of a length uniform in ``seconds`` (the whole
    speech when shorter), at a uniform position inside the span :func:`preprocess`
    keeps. Training only (``AugmentConfig.crop_s``); the crop is then preprocessed as
    any input, as a short clip is at inference.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] at ``config.sample_rate``
    rng : np.random.Generator
        Two draws: the length, then the position.
    seconds : (float, float)
        The lowest and highest length.

    Returns
    -------
    crop : np.ndarray [shape=(m,)], a view of ``y``
    """
    begin, end = _speech_span(y, config)
    n = min(round(rng.uniform(*seconds) * config.sample_rate), end - begin)
    first = begin + int(rng.integers(0, end - begin - n + 1))
    return y[first:first + n]


def _level_normalised(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """:func:`preprocess` after the trims, of the kept span less its DC [float64]:
    optional fixed duration, level normalisation -> float32."""
    if config.duration_s is not None:
        y = pad_trim(y, length=round(config.duration_s * config.sample_rate))
    ref = float(np.sqrt(np.percentile(_frame_power(y, config), _REFERENCE_PERCENTILE)))
    return (y / (ref if ref > 1e-12 else 1.0)).astype(np.float32)


def _kept_spans(y: np.ndarray, config: FeatureConfig
                ) -> tuple[int, int, int, int, np.ndarray]:
    """The preprocessing's decisions on ``y`` [shape=(n,), float64]: the span
    ``s0:e0`` left without the edge zeros, that span less its DC (``y1``), and in ``y1``
    the span ``start:stop`` that the silence trim keeps -> ``(s0, e0, start, stop, y1)``.
    (The torch port takes these decisions from here.)"""
    stripped = _strip_zeros(y, config.hop_length)
    s0 = _offset(stripped, y)
    y1 = _remove_dc(stripped)
    if config.trim_top_db is None:
        return s0, s0 + stripped.size, 0, y1.size, y1
    energy = _cumulative_energy(y1)  # one cumulative sum for the frame powers and the trim
    power = _frame_power(y1, config, energy=energy)  # edges below the floor are cut too
    top_db = config.trim_top_db
    if power.max() > 0:
        top_db = min(top_db, config.floor_db + 10 * np.log10(
            power.max() / np.percentile(power, _REFERENCE_PERCENTILE)))
    kept = _trim_silence(y1, energy, top_db=top_db, frame_length=_TRIM_FRAME_LENGTH,
                         hop_length=config.hop_length, noise_margin_db=_TRIM_NOISE_MARGIN_DB)
    start = _offset(kept, y1)
    return s0, s0 + stripped.size, start, start + kept.size, y1


def _offset(view: np.ndarray, base: np.ndarray) -> int:
    """Where the 1-D slice ``view`` of ``base`` starts (the trims return views)."""
    return (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) \
        // base.itemsize


def _strip_zeros(y: np.ndarray, hop_length: int) -> np.ndarray:
    """``y`` without its trailing exact zeros (digital silence) and its leading ones in
    whole hops (the frame grid keeps its phase: a clip and its zero-padded or offset
    copy are framed alike)."""
    sounding = y != 0
    first = int(sounding.argmax())
    if not sounding[first]:
        return y
    return y[first // hop_length * hop_length:y.size - int(sounding[::-1].argmax())]


def _remove_dc(y: np.ndarray) -> np.ndarray:
    """``y`` less the mean of its samples that are not exactly 0: a DC offset is removed
    and digital silence stays digital silence (a zero padding changes nothing)."""
    sounding = y != 0.0
    if sounding.any():
        y = np.subtract(y, y[sounding].mean(), out=y.copy(), where=sounding)
    return y


def _frame_power(y: np.ndarray, config: FeatureConfig, *,
                 energy: np.ndarray | None = None) -> np.ndarray:
    """Mean square of each ``win_length`` frame, every ``hop_length`` samples (``energy``:
    the :func:`ser_classic.augment._cumulative_energy` of ``y``, when already taken)."""
    n = config.win_length
    if y.size < n:
        return np.array([np.mean(np.square(y)) if y.size else 0.0])
    return _frame_powers(_cumulative_energy(y) if energy is None else energy,
                         frame_length=n, hop_length=config.hop_length)


def _stft(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    return spectrogram(y, n_fft=config.n_fft, win_length=config.win_length,
                       hop_length=config.hop_length)


_SCALAR_GROUPS = ("utterance", "extended")  # one value per row, not functionals


@functools.lru_cache(maxsize=64)
def _plan(config: FeatureConfig, select: tuple[str, ...] | None):
    """Blocks (group, delta, rows) to compute; where each wanted value sits in the blocks'
    concatenated summaries; and there, the positions of the level rows' location
    functionals and of their means (relative levels: the first minus the second)."""
    names, where = _name_table(config)
    wanted = names if select is None else select
    unknown = [n for n in wanted if n not in where]
    if unknown:
        raise ParameterError(f"unknown feature name(s): {unknown[:5]}")
    rows: dict[tuple[str, bool], set[int]] = {}
    for name in wanted:
        group, delta, row, _ = where[name]
        rows.setdefault((group, delta), set()).add(row)
    groups = _lld_groups(config)
    mean = FUNCTIONALS.index("mean")
    blocks, offsets, start, located, means = [], {}, 0, [], []
    for (group, delta), members in rows.items():
        order = sorted(members)
        width = 1 if group in _SCALAR_GROUPS else len(FUNCTIONALS)
        blocks.append((group, delta, tuple(order)))
        relative = config.relative_levels and not delta and group not in _SCALAR_GROUPS
        levels = _level_rows(group, groups[group]) if relative else set()
        for i, row in enumerate(order):
            offsets[(group, delta, row)] = start + i * width
            if row in levels:
                located += [start + i * width + k for k in _LOCATION]
                means += [start + i * width + mean] * len(_LOCATION)
        start += len(order) * width
    gather = np.array([offsets[where[n][:3]] + where[n][3] for n in wanted])
    return tuple(blocks), gather, np.array(located, dtype=int), np.array(means, dtype=int)


def _summarise(analysis: _Analysis, config: FeatureConfig,
               select: Sequence[str] | None) -> np.ndarray:
    blocks, gather, located, means = _plan(config, None if select is None else tuple(select))
    frame_rate = config.sample_rate / config.hop_length
    # Rows that share frame count and dtype are summarised in one call, and their deltas
    # taken in one call (both row-wise: a row's values do not depend on the other rows).
    stacks: dict[tuple[int, np.dtype], tuple[list, list]] = {}
    spans = []
    for group, delta, rows in blocks:
        values = analysis.get(group)
        sub = values if len(rows) == values.shape[0] else values[list(rows)]
        if group in _SCALAR_GROUPS:
            spans.append((None, delta, sub))
            continue
        key = (sub.shape[1], sub.dtype)
        members = stacks.setdefault(key, ([], []))[delta]
        spans.append((key, delta, len(members)))
        members.append(sub)
    pieces = {}
    for key, (plain, deltas) in stacks.items():
        stacked = plain + ([_delta(np.vstack(deltas))] if deltas else [])
        table = _functionals(np.vstack(stacked) if len(stacked) > 1 else stacked[0],
                             frame_rate)
        cuts = np.cumsum([0, *(m.shape[0] for m in plain + deltas)])
        rows = [table[a:b].ravel() for a, b in itertools.pairwise(cuts)]
        pieces[key] = (rows[:len(plain)], rows[len(plain):])
    flat = np.concatenate([member if key is None else pieces[key][delta][member]
                           for key, delta, member in spans])
    flat[located] -= flat[means]
    out = flat[gather]
    out[~np.isfinite(out)] = 0.0
    return out


@functools.lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread():
    """BLAS on one thread: matrix products then round identically in every process."""
    return _blas_controller().limit(limits=1, user_api="blas")


def extract_features(y: np.ndarray, *, config: FeatureConfig,
                     select: Sequence[str] | None = None) -> np.ndarray:
    """Features of one waveform (already at ``config.sample_rate``), inference path.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    config : FeatureConfig
    select : sequence of str, optional
        Only these features (names from :func:`feature_names`), in this order; only the
        descriptors they need are computed.

    Returns
    -------
    x : np.ndarray [shape=(n_features,), dtype=float64]
    """
    y = preprocess(y, config=config)
    with _one_blas_thread():
        return _summarise(_Analysis(_stft(y, config), y, config), config, select)


def augmented_features(y: np.ndarray, *, config: FeatureConfig, augment: AugmentConfig,
                       rng: np.random.Generator, warp: float = 1.0, plan=None,
                       talkers: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Features of one augmented copy: [crop,] [pitch shift,] [voice change,]
    [colouring,] [conditions,] preprocess, random shift, STFT, warp, masks, features.

    Training only. With ``augment.conditions`` the waveform first goes through ``plan``
    (:meth:`ser_classic.conditions.ConditionChain.draw`; drawn from ``rng`` when None) with
    ``talkers`` (other speakers' clips at ``config.sample_rate``) for babble. The warp and
    the masks act on the spectrogram every descriptor reads, so the augmentation reaches
    the features.

    Returns
    -------
    x : np.ndarray [shape=(n_features,), dtype=float64]
    """
    if augment.crop_s is not None:  # first: the other steps work on the crop
        y = speech_crop(y, rng=rng, seconds=augment.crop_s, config=config)
    if augment.pitch_steps:  # one of the steps per copy, drawn from rng
        from .conditions import pitch_shift

        steps = augment.pitch_steps
        y = pitch_shift(y, sr=config.sample_rate,
                        semitones=float(steps[int(rng.integers(len(steps)))]))
    if augment.voice_factors:  # one of the factors per copy, drawn from rng
        from .conditions import voice_change

        factors = augment.voice_factors
        y = voice_change(y, sr=config.sample_rate,
                         factor=float(factors[int(rng.integers(len(factors)))]))
    if augment.colour_db is not None:
        from .conditions import _colour, _draw_colouring

        y = _colour(y, sr=config.sample_rate, colouring=_draw_colouring(
            rng=_colour_rng(rng, augment), gain_db=augment.colour_db))
    if augment.conditions:
        from .conditions import apply_conditions

        chain = augment.condition_chain
        plan = chain.draw(rng=rng) if plan is None else plan
        y = apply_conditions(y, plan=plan, rng=rng, sr=config.sample_rate, talkers=talkers,
                             chain=chain)
    y = preprocess(y, config=config)
    y = random_shift(y, rng=rng, max_shift=round(augment.max_shift_s * config.sample_rate))
    S = warp_frequencies(_stft(y, config), alpha=warp, sample_rate=config.sample_rate)
    hz_per_bin = config.sample_rate / config.n_fft
    S = mask_spectrogram(
        S, rng=rng, n_freq_masks=augment.n_freq_masks,
        max_freq_width=round(augment.max_freq_width_hz / hz_per_bin),
        n_time_masks=augment.n_time_masks,
        max_time_width=round(augment.max_time_width_s * config.sample_rate
                             / config.hop_length),
        value=augment.mask_value)
    with _one_blas_thread():
        return _summarise(_Analysis(S, y, config), config, None)


# --------------------------------------------------------------------------- batch + cache
def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / f"{key}.npy"


def _save_npy(path: Path, x: np.ndarray) -> None:
    if _orphaned():  # a worker whose batch's process is gone writes nothing more
        os._exit(1)
    buf = io.BytesIO()
    np.save(buf, x)
    atomic_write_bytes(path, buf.getvalue())


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}


def _read_npy(path: Path, *, n_features: int) -> tuple[np.ndarray | None, str | None]:
    """A cache entry, read without pickle: ``(x, None)``, or ``(None, problem)`` when it
    is not a finite float64 vector of ``n_features`` values (empty, garbage, truncated,
    another shape or dtype)."""
    expected = np.dtype(np.float64)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version not in _NPY_HEADERS:
                return None, f".npy format version {version} is not written by this cache"
            shape, _fortran, dtype = _NPY_HEADERS[version](fh)
            if dtype != expected or shape != (n_features,):
                return None, f"holds {dtype} {shape}, expected float64 ({n_features},)"
            payload = fh.read(expected.itemsize * n_features + 1)
    except (OSError, ValueError, TypeError, EOFError) as exc:
        return None, f"unreadable ({exc})"
    if len(payload) != expected.itemsize * n_features:
        return None, (f"{len(payload)} data bytes, expected "
                      f"{expected.itemsize * n_features}")
    x = np.frombuffer(payload, dtype=expected).copy()
    if not np.all(np.isfinite(x)):
        return None, "non-finite values"
    return x, None


# The pid of the process that runs the batch, in its worker processes (None elsewhere).
_batch_parent: int | None = None


def _orphaned() -> bool:
    return _batch_parent is not None and os.getppid() != _batch_parent


def _watch_parent(parent: int) -> None:
    """In a worker process of ``parent``: exit as soon as ``parent`` is gone.

    Checked at each job and before each cache write, and by a daemon thread that polls
    ``os.getppid()`` (an orphan is re-parented), so workers end with their parent even
    when it is SIGKILLed. A no-op in the parent itself (``n_jobs=1``, threads).
    """
    global _batch_parent
    if parent == os.getpid():
        return
    if os.getppid() != parent:
        os._exit(1)
    if _batch_parent != parent:
        _batch_parent = parent
        threading.Thread(target=_poll_parent, args=(parent,), daemon=True,
                         name="ser-classic-parent-watch").start()


def _poll_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)


def _guarded(parent: int, func, args, kwargs):
    _watch_parent(parent)
    return func(*args, **kwargs)


def _augment_rng(sha: str, seed: int, copy: int) -> np.random.Generator:
    return np.random.default_rng([seed, copy, int(sha[:15], 16)])


def _voice_rng(voice: str, seed: int, copy: int) -> np.random.Generator:
    """The stream of a voice's condition plan (``AugmentConfig.chain_per="voice"``)."""
    key = int(hashlib.sha256(voice.encode()).hexdigest()[:15], 16)
    return np.random.default_rng([seed, copy, key])


def _colour_rng(rng: np.random.Generator, augment: AugmentConfig) -> np.random.Generator:
    """A copy's colouring stream: a child of ``rng``'s seed keyed by the preset member's
    hash, so that it leaves ``rng``'s draws as they are and differs between the members of
    a union preset (which share ``rng``'s seed)."""
    seed = rng.bit_generator.seed_seq
    return np.random.default_rng(np.random.SeedSequence(
        seed.entropy, spawn_key=(*seed.spawn_key, int(augment.hash, 16))))


def _one(path: str, sha: str | None, config: FeatureConfig, augment: AugmentConfig | None,
         seed: int, copy: int, cache_dir: Path | None, n_features: int,
         talkers: Sequence[tuple[str, str]] = (), voice: str | None = None, *,
         cached_only: bool = False):
    """``(x, error, computed, repaired)``: repaired is ``(entry, problem)`` when an
    unreadable cache entry was recomputed and replaced. ``talkers``: ``(path, sha256)`` of
    the babble talkers of a conditions copy; ``voice``: its voice when the chain is drawn
    per voice. ``cached_only``: a readable cache entry's
    result, else None (nothing computed, reported or written)."""
    try:
        key, repaired = None, None
        channel = corpus_channel(path)  # the corpus's channel policy (EMOVO: 0)
        rng = plan = None
        if augment is not None:
            rng = _augment_rng(sha or "0", seed, copy)
            if augment.conditions:  # drawn first: whether the talkers decide the copy
                plan = augment.condition_chain.draw(rng=rng)
                if augment.chain_per == "voice":  # the clip's draw kept: its stream goes on
                    plan = augment.condition_chain.draw(rng=_voice_rng(voice, seed, copy))
        babble = plan is not None and plan.uses_talkers and len(talkers) > 0
        if cache_dir is not None:
            sha = sha or file_sha256(path)
            parts = [sha, config.hash]
            if augment is not None:
                parts += [augment.hash, str(seed), str(copy)]
            if babble:  # the talkers' clips decide the copy
                parts.append("babble:" + ",".join(s for _, s in talkers))
            if augment is not None and augment.chain_per == "voice":
                parts.append("voice:" + voice)
            tag = channel_cache_tag(path, channel)  # None for one-channel files
            if tag is not None:
                parts.append(tag)
            key = hashlib.sha256("|".join(parts).encode()).hexdigest()
            cached = _cache_path(cache_dir, key)
            if cached.is_file():
                x, problem = _read_npy(cached, n_features=n_features)
                if x is not None:
                    return x, None, False, None
                repaired = (str(cached), problem)
        if cached_only:
            return None
        y = load_audio(path, sr=config.sample_rate, channel=channel)
        if augment is None:
            x = extract_features(y, config=config)
        else:
            waves = _talker_waves(talkers, sr=config.sample_rate) if babble else []
            x = augmented_features(y, config=config, augment=augment, rng=rng,
                                   warp=augment.warp_of(copy), plan=plan, talkers=waves)
        if key is not None:
            _save_npy(_cache_path(cache_dir, key), x)
        return x, None, True, repaired
    except AudioError as exc:
        return None if cached_only else (None, (exc.source, exc.problem), False, None)


def _talker_waves(talkers: Sequence[tuple[str, str]], *, sr: int) -> list[np.ndarray]:
    """The babble talkers' clips that load: an unreadable talker is reported as its own
    clip's failure, and the copy is babble of the others (pink noise if none loads), so
    that it never costs another clip its copy."""
    waves = []
    for path, _ in talkers:
        try:
            waves.append(load_audio(path, sr=sr, channel=corpus_channel(path)))
        except AudioError:
            continue
    return waves


def extract_batch(paths: Sequence[str | os.PathLike], *, config: FeatureConfig,
                  sha256: Sequence[str] | None = None, cache_dir: str | os.PathLike | None
                  = None, augment: AugmentConfig | None = None, copy: int = 0,
                  seed: int = 0, n_jobs: int | None = None, progress: bool = False,
                  cache_errors: list | None = None,
                  talkers: Sequence[Sequence[tuple[str, str]]] | None = None,
                  voices: Sequence[str] | None = None
                  ) -> tuple[np.ndarray, list[tuple[str, str]], int]:
    """Features of many files, in parallel, through an on-disk cache.

    The cache key is (file sha256, feature-config hash[, augmentation hash, seed, copy]
    [, channel]), so a second run extracts nothing and a changed config misses. Each file
    is read as its corpus declares (:func:`ser_classic.data.corpus_channel`: channel 0 of
    EMOVO's multi-channel originals, which alone add the channel to the key; every other
    file is mixed to mono as before). Entries are read without pickle; an unreadable one
    (empty, garbage, truncated, wrong shape or dtype) is a miss: recomputed, replaced
    atomically and reported once (``cache_errors``).

    Parameters
    ----------
    n_jobs : int, optional
        Files extracted at a time by the active joblib backend: loky worker processes
        by default; None takes the enclosing ``joblib.parallel_config``'s (1 outside
        one). Inside ``joblib.parallel_config(backend="dask")`` the files go to the Dask
        cluster's workers and its size decides (they must reach the paths and the cache).
    cache_errors : list, optional
        Unreadable entries that were replaced are appended as ``(entry path, problem)``;
        without a list each is reported by a :class:`RuntimeWarning`.
    talkers : sequence of sequence of (path, sha256), optional
        Per file, the babble talkers of its copy when ``augment.conditions`` (see
        :func:`ser_classic.conditions.babble_talkers`); a copy that draws babble adds its
        talkers' sha256 to its cache key (without talkers it uses pink noise).

    Returns
    -------
    X : np.ndarray [shape=(n_files, n_features)]
        Rows of files that failed are NaN.
    errors : list of (path, problem)
    n_extracted : int
        How many files were computed rather than read from the cache.
    """
    paths = [str(p) for p in paths]
    shas = list(sha256) if sha256 is not None else [None] * len(paths)
    if len(shas) != len(paths):
        raise ParameterError("sha256 must have one entry per path")
    if augment is not None and sha256 is None:
        raise ParameterError("augmented extraction needs sha256 to seed each clip")
    talkers = [()] * len(paths) if talkers is None else [tuple(t) for t in talkers]
    if len(talkers) != len(paths):
        raise ParameterError("talkers must have one entry per path")
    if augment is not None and augment.chain_per == "voice":
        if voices is None or len(voices) != len(paths):
            raise ParameterError("a chain drawn per voice needs voices, one per path")
        voices = [str(v) for v in voices]
    else:
        voices = [None] * len(paths)
    cache = Path(cache_dir) if cache_dir is not None else None
    n_features = len(feature_names(config=config))
    args = [(p, s, config, augment, seed, copy, cache, n_features, t, v)
            for p, s, t, v in zip(paths, shas, talkers, voices, strict=True)]
    # cache hits of known sha256 are read here: a batch found in the cache starts no
    # worker (a file without one is hashed once, by its job)
    ready = {} if cache is None else {i: r for i, a in enumerate(args) if a[1] is not None
                                      and (r := _one(*a, cached_only=True)) is not None}
    jobs = [joblib.delayed(_one)(*a) for i, a in enumerate(args) if i not in ready]
    return run_batch(jobs, n_features=n_features, n_jobs=n_jobs, progress=progress,
                     desc="features", cache_errors=cache_errors, ready=ready)


def _owns_worker_processes() -> bool:
    """Whether the active joblib backend runs jobs in processes this one starts.

    Only those (loky, multiprocessing) are guarded by :func:`_watch_parent`: the worker
    of another backend, e.g. a Dask worker (``joblib.parallel_config(backend="dask")``),
    has its own parent (its nanny) and outlives this process by design.
    """
    from joblib._parallel_backends import LokyBackend, MultiprocessingBackend
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    return isinstance(backend, LokyBackend | MultiprocessingBackend)


def run_batch(jobs: list, *, n_features: int, n_jobs: int | None = None,
              progress: bool = False, desc: str = "features",
              cache_errors: list | None = None, ready: dict[int, tuple] | None = None
              ) -> tuple[np.ndarray, list[tuple[str, str]], int]:
    """Run per-file jobs returning ``(x, error, computed[, repaired])``; stack the results.

    Returns ``(X, errors, n_extracted)`` as :func:`extract_batch` does and reports the
    repaired cache entries as it does; shared by every cached batch extractor (ours and
    openSMILE's). ``ready``: results already known, by row (cache hits); the jobs fill
    the other rows in order. The jobs run on the active joblib backend (loky processes by
    default; Dask workers inside ``joblib.parallel_config(backend="dask")``, where
    ``n_jobs`` is the cluster's). Worker processes this process starts end with it
    (:func:`_watch_parent`).
    """
    ready = ready or {}
    n_rows = len(ready) + len(jobs)
    if _owns_worker_processes():
        parent = os.getpid()
        jobs = [joblib.delayed(_guarded)(parent, func, args, kwargs)
                for func, args, kwargs in jobs]
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, total=len(jobs), desc=desc, unit="clip")
    fresh = iter(run_jobs(jobs, n_jobs=n_jobs, batch_size=16) if n_rows > len(ready) else ())
    results = [ready[i] if i in ready else next(fresh) for i in range(n_rows)]
    X = np.full((len(results), n_features), np.nan)
    errors = []
    repaired: dict[str, str] = {}
    n_extracted = 0
    for i, (x, err, computed, *rest) in enumerate(results):
        if rest and rest[0] is not None:
            repaired.setdefault(*rest[0])
        if err is not None:
            errors.append(err)
        else:
            X[i] = x
            n_extracted += computed
    for entry, problem in repaired.items():
        if cache_errors is not None:
            cache_errors.append((entry, problem))
        else:
            warnings.warn(f"{entry}: unreadable feature-cache entry ({problem}); "
                          f"recomputed and replaced", RuntimeWarning, stacklevel=2)
    return X, errors, n_extracted
