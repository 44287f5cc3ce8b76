"""Pure torch functions: the numpy feature extraction of :mod:`ser_classic.features`
written as batched, differentiable tensor operations.

A batch is a padded tensor ``y`` [shape=(B, n)] with ``lengths`` [shape=(B,)] valid
samples per clip; every per-frame descriptor is [shape=(B, k, T)] with ``n_frames``
[shape=(B,)] valid frames. The values are those of the numpy path (up to floating-point
rounding); the steps with no exact derivative keep their exact forward value and take
the gradient defined almost everywhere:

* silence trimming, voicing decisions, the autocorrelation's best lag, the roll-off bin
  and the zero-crossing count are decided on detached values (zero gradient; the
  trimmed samples themselves carry the gradient);
* order statistics (quantiles, min/max, the spectral-contrast peaks and valleys) take the
  gradient of the values at the chosen indices (that of ``torch.sort``);
* square roots and logs are guarded so that exact zeros (digital silence) give finite
  gradients.

With the invariant extraction (feature version >= 3: DC removal, noise-aware trim, level
normalisation, guard band, noise floor, ZCR dead zone) the spans kept by the
preprocessing are decided by the numpy functions themselves on the detached samples;
DC removal and the level normalisation are differentiable (a gain gets no gradient).
On CPU the decisions without a gradient (the kept spans, the zero-crossing rate, the
best autocorrelation lag) are the numpy path's own functions, clip by clip on a thread
pool, and the FFT-based steps are scipy's transforms in blocks of frames that stay in
cache, as autograd functions with their adjoints.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..errors import ParameterError
from ..features import _QUANTILES, _SCALAR_GROUPS, FUNCTIONALS, FeatureConfig, _filters

__all__ = [
    "acf_pitch",
    "check_waveforms",
    "chroma",
    "compact",
    "contrast",
    "crop",
    "delta",
    "energy",
    "extract_features",
    "functionals",
    "logmel",
    "mfcc",
    "preprocess",
    "resample",
    "spectral",
    "spectrogram",
    "trim_bounds",
]

_EPS = 1e-10
_FFT_BLOCK = 256  # frames per scipy FFT call on CPU (input and output stay in cache)
_GENERIC = False  # set by _device_generic


def _on_host(x: torch.Tensor) -> bool:
    """Whether ``x`` takes the CPU branches (numpy/scipy helpers, the numpy path's own
    compiled searches); tensors on other devices take the torch branches."""
    return x.device.type == "cpu" and not _GENERIC


@contextlib.contextmanager
def _device_generic() -> Iterator[None]:
    """CPU tensors take the branches written for other devices (GPUs): the tests run
    them where no GPU is (not thread-safe; for tests)."""
    global _GENERIC
    previous, _GENERIC = _GENERIC, True
    try:
        yield
    finally:
        _GENERIC = previous


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """``sqrt(x)`` with a zero (not infinite) gradient where ``x <= 0``."""
    pos = x > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, x, torch.ones_like(x))),
                       torch.zeros_like(x))


def _sort_values(x: torch.Tensor) -> torch.Tensor:
    """``torch.sort(x, dim=-1).values`` with the gradient of the values at the chosen
    indices. On CPU the order comes from numpy's vectorised sort, several times faster
    than ``torch.sort`` on rows of a few hundred frames (the values are the same)."""
    if not _on_host(x):
        return torch.sort(x, dim=-1).values
    host = x.detach().numpy()
    if not (torch.is_grad_enabled() and x.requires_grad):
        return torch.from_numpy(np.sort(host, axis=-1))
    return torch.gather(x, -1, torch.from_numpy(np.argsort(host, axis=-1)))


def _dct1_blocks(x: np.ndarray, *, size: int, keep: int, scale: np.ndarray | float
                 ) -> np.ndarray:
    """``DCT-I(x zero-padded to size)[:, :keep] * scale`` of rows [shape=(r, k)], a few
    hundred rows per scipy call (input and output stay in cache)."""
    import scipy.fft

    out = np.empty((x.shape[0], keep), dtype=x.dtype)
    workers = torch.get_num_threads()
    for i in range(0, x.shape[0], _FFT_BLOCK):
        block = scipy.fft.dct(x[i:i + _FFT_BLOCK], type=1, n=size, axis=-1,
                              workers=workers)
        np.multiply(block[:, :keep], scale, out=out[i:i + _FFT_BLOCK])
    return out


class _Autocorrelation(torch.autograd.Function):
    """``irfft(power, n=n_fft)[..., :n_lags]`` of the first ``F`` bins of a power
    spectrum (the others 0) as scipy's unnormalised DCT-I of the ``n_fft // 2 + 1`` bins
    divided by ``n_fft`` (equal for a real even spectrum); the backward is its adjoint,
    ``c * DCT-I(g / c) / n_fft`` (``c``: 1 at both ends, 2 inside) cut to ``F`` bins."""

    @staticmethod
    def forward(power: torch.Tensor, n_fft: int, n_lags: int) -> torch.Tensor:
        host = power.detach().numpy()
        rows = host.reshape(-1, host.shape[-1])
        out = _dct1_blocks(rows, size=n_fft // 2 + 1, keep=n_lags,
                           scale=host.dtype.type(1.0 / n_fft))
        return torch.from_numpy(out.reshape(*host.shape[:-1], n_lags))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        power, ctx.n_fft, _ = inputs
        ctx.n_bins = power.shape[-1]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple:
        size = ctx.n_fft // 2 + 1
        c = np.full(size, 2.0)
        c[0] = c[-1] = 1.0
        host = grad.detach().contiguous().numpy()
        rows = host.reshape(-1, host.shape[-1])
        rows = rows / c[:rows.shape[1]].astype(rows.dtype)
        out = _dct1_blocks(rows, size=size, keep=ctx.n_bins,
                           scale=(c[:ctx.n_bins] / ctx.n_fft).astype(rows.dtype))
        return torch.from_numpy(out.reshape(*host.shape[:-1], ctx.n_bins)), None, None


class _PowerSpectrum(torch.autograd.Function):
    """The STFT power ``P = |rfft(w * frame, n=n_fft)[..., :n_bins]|**2 + floor`` and
    ``sqrt(P)`` [shape=(B, T, n_bins)] of padded signals [shape=(B, L)], frames of
    ``len(w)`` samples every ``hop``, with scipy's FFT (CPU): each block of a few hundred
    frames is cut, windowed and transformed in cache (no frames tensor). The backward is
    ``n_fft * irfft(g * X)`` (DC and Nyquist bins counted twice) cut to the frame, times
    the window, overlap-added; ``g`` the gradient of ``P`` plus that of ``sqrt(P)`` over
    ``2 sqrt(P)``."""

    @staticmethod
    def forward(y: torch.Tensor, window: np.ndarray, hop: int, n_fft: int, n_bins: int,
                floor: float) -> tuple:
        import scipy.fft

        host = y.detach().numpy()
        width = window.size
        win = window.astype(host.dtype)
        t = 1 + (host.shape[1] - width) // hop
        power = np.empty((host.shape[0], t, n_bins), dtype=host.dtype)
        magnitude = np.empty_like(power)
        keep = y.requires_grad  # the spectrum is kept only for a backward
        spec = np.empty(power.shape if keep else (0, 0, n_bins),
                        dtype=np.result_type(host.dtype, np.complex64))
        workers = torch.get_num_threads()
        for row, clip in enumerate(host):
            frames = np.lib.stride_tricks.as_strided(
                clip, shape=(t, width), strides=(clip.strides[0] * hop, clip.strides[0]),
                writeable=False)
            for i in range(0, t, _FFT_BLOCK):
                block = scipy.fft.rfft(frames[i:i + _FFT_BLOCK] * win, n=n_fft, axis=-1,
                                       workers=workers)[:, :n_bins]
                out = power[row, i:i + _FFT_BLOCK]
                np.square(block.real, out=out)
                out += np.square(block.imag)
                out += out.dtype.type(floor)
                np.sqrt(out, out=magnitude[row, i:i + _FFT_BLOCK])
                if keep:
                    spec[row, i:i + _FFT_BLOCK] = block
        return torch.from_numpy(power), torch.from_numpy(magnitude), torch.from_numpy(spec)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        y, ctx.window, ctx.hop, ctx.n_fft, _, _ = inputs
        ctx.length = y.shape[1]
        ctx.save_for_backward(output[1], output[2])
        ctx.mark_non_differentiable(output[2])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_power, grad_magnitude, _grad_spec) -> tuple:
        import scipy.fft

        magnitude, spec = (v.numpy() for v in ctx.saved_tensors)
        g_power = grad_power.detach().numpy()
        g_mag = grad_magnitude.detach().numpy()
        b, t, n_bins = spec.shape
        hop, width = ctx.hop, ctx.window.size
        win = (ctx.window * ctx.n_fft).astype(g_power.dtype)
        # one extra hop: the segments of the last frames may reach past the signal
        out = np.zeros((b, max(ctx.length, (t + -(-width // hop)) * hop)), g_power.dtype)
        half = g_power.dtype.type(0.5)
        workers = torch.get_num_threads()
        for row in range(b):
            for i in range(0, t, _FFT_BLOCK):
                rows = slice(i, i + _FFT_BLOCK)
                m = magnitude[row, rows]
                # g + g_mag / (2 sqrt(P)); sqrt(P) = 0 (no floor, silence): no gradient
                total = np.divide(g_mag[row, rows], m, out=np.zeros_like(m), where=m > 0)
                total *= half
                total += g_power[row, rows]
                z = spec[row, rows] * total
                z[:, 0] *= 2
                if n_bins == ctx.n_fft // 2 + 1:
                    z[:, -1] *= 2
                frames = scipy.fft.irfft(z, n=ctx.n_fft, axis=-1, workers=workers)[:, :width]
                frames *= win
                count = frames.shape[0]
                for k in range(0, width, hop):  # overlap-add, one hop of every frame at once
                    seg = min(hop, width - k)
                    start = i * hop + k
                    out[row, start:start + count * hop].reshape(count, hop)[:, :seg] += \
                        frames[:, k:k + seg]
        return (torch.from_numpy(out[:, :ctx.length]), None, None, None, None, None)


def _power_spectrum(y: torch.Tensor, *, window: np.ndarray, hop: int, n_fft: int,
                    n_bins: int, floor: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``P = |rfft(window * frame, n=n_fft)|**2 + floor`` of the first ``n_bins`` bins and
    ``sqrt(P)`` [shape=(B, T, n_bins)] of the frames of ``len(window)`` samples every
    ``hop`` of padded signals ``y`` [shape=(B, L)]; on CPU through scipy's FFT (faster
    than torch's for these sizes; as many workers as torch has threads)."""
    if not _on_host(y):
        frames = y.unfold(1, window.size, hop) * torch.as_tensor(window, dtype=y.dtype,
                                                                   device=y.device)
        spec = torch.fft.rfft(frames, n=n_fft, dim=-1)[..., :n_bins]
        power = spec.real.square() + spec.imag.square() + floor
        return power, _safe_sqrt(power)
    power, magnitude, _ = _PowerSpectrum.apply(y, window, hop, n_fft, n_bins, floor)
    return power, magnitude


def _autocorrelation(power: torch.Tensor, *, n_fft: int, n_lags: int) -> torch.Tensor:
    """``irfft(power, n=n_fft)[..., :n_lags]`` of a power spectrum [shape=(..., F)]
    holding the first ``F <= n_fft // 2 + 1`` bins (the others 0). On CPU through
    scipy's DCT-I, which equals it for a real even spectrum and runs several times faster
    than ``torch.fft.irfft``."""
    if not _on_host(power):
        return torch.fft.irfft(power, n=n_fft, dim=-1)[..., :n_lags]
    return _Autocorrelation.apply(power, n_fft, n_lags)


# --------------------------------------------------------------------------- resampling
@functools.lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, width: int, rolloff: float, beta: float
                 ) -> tuple[np.ndarray, int]:
    """Polyphase windowed-sinc kernel [shape=(new, 1, taps)] (Kaiser window)."""
    base = min(orig, new) * rolloff
    pad = math.ceil(width * orig / base)
    idx = np.arange(-pad, pad + orig, dtype=np.float64)[None, :] / orig
    t = np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + idx
    t = np.clip(t * base, -width, width)
    window = np.i0(beta * np.sqrt(1 - (t / width) ** 2)) / np.i0(beta)
    kernel = np.sinc(t) * window * base / orig
    return kernel[:, None, :], pad


def resample(y: torch.Tensor, *, orig_sr: int, target_sr: int, width: int = 16,
             rolloff: float = 0.945, beta: float = 14.77) -> torch.Tensor:
    """Band-limited (Kaiser-windowed sinc) resampling along the last axis.

    Parameters
    ----------
    y : torch.Tensor [shape=(B, n)]
    orig_sr, target_sr : int
    width, rolloff, beta : zero crossings of the sinc per side, cut-off as a fraction of
        the lower Nyquist rate, Kaiser window shape.

    Returns
    -------
    y_resampled : torch.Tensor [shape=(B, ceil(n * target_sr / orig_sr))]

    Not bit-equal to the numpy path's soxr (a different filter): features of resampled
    audio agree approximately, not to rounding.
    """
    if orig_sr == target_sr:
        return y
    g = math.gcd(int(orig_sr), int(target_sr))
    orig, new = int(orig_sr) // g, int(target_sr) // g
    kernel, pad = _sinc_kernel(orig, new, width, rolloff, beta)
    kernel = torch.as_tensor(kernel, dtype=y.dtype, device=y.device)
    n = y.shape[-1]
    x = torch.nn.functional.pad(y[:, None, :], (pad, pad + orig))
    out = torch.nn.functional.conv1d(x, kernel, stride=orig)  # (B, new, n_blocks)
    out = out.transpose(1, 2).reshape(y.shape[0], -1)
    return out[:, : math.ceil(new * n / orig)]


# --------------------------------------------------------------------------- preprocessing
def trim_bounds(y: torch.Tensor, lengths: torch.Tensor, *, top_db: float,
                frame_length: int = 512, hop_length: int = 160
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and stop sample of :func:`ser_classic.augment.trim_silence` for each clip.

    A decision (no gradient): computed on detached float64 values exactly as numpy does.

    Returns
    -------
    start, stop : torch.Tensor [shape=(B,), int64]
    """
    with torch.no_grad():
        b, n = y.shape
        energy = torch.zeros(b, n + 1, dtype=torch.float64, device=y.device)
        energy[:, 1:] = torch.cumsum(y.detach().to(torch.float64) ** 2, dim=1)
        n_frames = 1 + (lengths - frame_length).clamp_min(0) // hop_length
        t_max = max(1, 1 + max(n - frame_length, 0) // hop_length)
        frames = torch.arange(t_max, device=y.device)
        starts = (hop_length * frames).clamp_max(max(n - frame_length, 0))
        ends = (starts + frame_length).clamp_max(n)
        power = (energy[:, ends] - energy[:, starts]) / frame_length
        db = 10.0 * torch.log10(power.clamp_min(1e-20))
        valid = frames[None, :] < n_frames[:, None]
        db = torch.where(valid, db, torch.full_like(db, -math.inf))
        loud = (db > db.amax(dim=1, keepdim=True) - top_db) & valid
        first = torch.argmax(loud.to(torch.int8), dim=1)
        last = t_max - 1 - torch.argmax(loud.flip(1).to(torch.int8), dim=1)
        start = first * hop_length
        stop = torch.minimum(lengths, last * hop_length + frame_length)
        short = lengths < frame_length  # trim_silence leaves such clips alone
        start = torch.where(short, torch.zeros_like(start), start)
        stop = torch.where(short, lengths, stop)
    return start, stop


def crop(y: torch.Tensor, start: torch.Tensor, stop: torch.Tensor, *,
         length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``start:stop`` of each clip, left-aligned and zero-padded.

    With ``length``, each segment is then centred-cut or centred-zero-padded to exactly
    ``length`` samples (:func:`ser_classic.augment.pad_trim`).

    Returns
    -------
    y_cropped : torch.Tensor [shape=(B, m)]
    lengths : torch.Tensor [shape=(B,), int64]
    """
    n = stop - start
    if length is None:
        src, dst, count = start, torch.zeros_like(start), n
        width = max(int(n.max()), 1) if n.numel() else 1
    else:
        longer = n >= length
        src = torch.where(longer, start + (n - length) // 2, start)
        dst = torch.where(longer, torch.zeros_like(n), (length - n) // 2)
        count = torch.where(longer, torch.full_like(n, length), n)
        width = length
    i = torch.arange(width, device=y.device)[None, :]
    rel = i - dst[:, None]
    valid = (rel >= 0) & (rel < count[:, None])
    idx = (src[:, None] + rel).clamp(0, y.shape[1] - 1)
    out = torch.where(valid, torch.gather(y, 1, idx), torch.zeros((), dtype=y.dtype,
                                                                   device=y.device))
    return out, (count if length is None else torch.full_like(n, length))


# --------------------------------------------------------------------------- STFT
@functools.lru_cache(maxsize=8)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    win = np.zeros(n_fft, dtype=np.float64)
    start = (n_fft - win_length) // 2
    win[start:start + win_length] = np.hanning(win_length + 1)[:-1]
    return win


def spectrogram(y: torch.Tensor, lengths: torch.Tensor, *, config: FeatureConfig
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Magnitude and power of the one STFT (centred Hann frames, zero padding)
    [shape=(B, T, F)] (frames first: every spectral reduction runs over contiguous
    memory) and the valid frames per clip, ``1 + length // hop_length``
    (:func:`ser_classic.augment.spectrogram`). With feature version >= 3 the spectrum every
    descriptor reads: bins up to ``fmax_hz``, power plus the noise floor.

    Frames are cut and transformed frames-first: the values of ``torch.stft`` without
    its bins-first layout, which would cost a transposed copy. Only the window's support
    is cut (zero-padded to ``n_fft`` by the FFT): a circular shift of the frame, which
    leaves its magnitude spectrum unchanged."""
    n_fft, width = config.n_fft, config.win_length
    lo = (n_fft - width) // 2
    window = _window(n_fft, width)[lo:lo + width]
    padded = torch.nn.functional.pad(y, (n_fft // 2 - lo, lo + width - n_fft // 2))
    f = _filter_arrays(config)
    n_frames = 1 + lengths // config.hop_length
    if "floor" in f:  # feature version >= 3: the guard band and the noise floor
        power, magnitude = _power_spectrum(padded, window=window, hop=config.hop_length,
                                           n_fft=n_fft, n_bins=int(f["n_bins"]),
                                           floor=float(f["floor"]))
        return magnitude, power, n_frames
    frames = padded.unfold(1, width, config.hop_length) * torch.as_tensor(
        window, dtype=y.dtype, device=y.device)
    magnitude = torch.fft.rfft(frames, n=n_fft, dim=-1).abs()  # gradient 0 at exact zeros
    return magnitude, magnitude * magnitude, n_frames


def _frame_mask(n_frames: torch.Tensor, t: int) -> torch.Tensor:
    return torch.arange(t, device=n_frames.device)[None, :] < n_frames[:, None]


# --------------------------------------------------------------------------- LLDs
# Spectra are [shape=(B, T, F)]; descriptors come out [shape=(B, k, T)].
@functools.lru_cache(maxsize=8)
def _filter_arrays(config: FeatureConfig) -> dict:
    return _filters(config)


_CONSTANTS: dict = {}


def _const(x: np.ndarray, like: torch.Tensor, dtype=None) -> torch.Tensor:
    """``x`` as a tensor on ``like``'s device (and dtype), converted once per
    (array, dtype, device)."""
    dtype = dtype or like.dtype
    key = (id(x), dtype, like.device)
    hit = _CONSTANTS.get(key)
    if hit is None or hit[0] is not x:
        hit = (x, torch.as_tensor(np.asarray(x), dtype=dtype, device=like.device))
        _CONSTANTS[key] = hit  # keeps x alive: its id is not reused while cached
    return hit[1]


def logmel(power: torch.Tensor, *, config: FeatureConfig) -> torch.Tensor:
    """Log mel energies [shape=(B, n_mels, T)] of a power spectrogram [shape=(B, T, F)]."""
    mel = _const(_filter_arrays(config)["mel"], power)
    return torch.log(torch.matmul(power, mel.T) + _EPS).transpose(1, 2)


def mfcc(logmel_: torch.Tensor, *, config: FeatureConfig) -> torch.Tensor:
    """Cepstral coefficients [shape=(B, n_mfcc, T)] of the log mel energies."""
    return torch.matmul(_const(_filter_arrays(config)["dct"], logmel_), logmel_)


def chroma(power: torch.Tensor, *, config: FeatureConfig) -> torch.Tensor:
    """Chroma [shape=(B, 12, T)], each frame scaled by its maximum."""
    c = torch.matmul(power, _const(_filter_arrays(config)["chroma"], power).T)
    return (c / c.amax(dim=2, keepdim=True).clamp_min(_EPS)).transpose(1, 2)


def contrast(magnitude: torch.Tensor, *, config: FeatureConfig) -> torch.Tensor:
    """Spectral contrast [shape=(B, 7, T)]: log10 of the mean of the ``n`` largest over the
    mean of the ``n`` smallest magnitudes of each band (gradient of the chosen values)."""
    starts, stops, counts = _filter_arrays(config)["contrast_bands"]
    rows = []
    for a, b, n in zip(starts.tolist(), stops.tolist(), counts.tolist(), strict=True):
        ordered = _sort_values(magnitude[:, :, a:b])
        peak, valley = ordered[..., -n:].mean(dim=-1), ordered[..., :n].mean(dim=-1)
        rows.append(torch.log10(peak + _EPS) - torch.log10(valley + _EPS))
    return torch.stack(rows, dim=1)


_MOMENT_SHIFT_HZ = 2000.0  # near speech's spectral centroid


@functools.lru_cache(maxsize=8)
def _khz_powers(config: FeatureConfig) -> np.ndarray:
    """Powers 1-4 of the bin frequencies less ``_MOMENT_SHIFT_HZ``, in kHz [shape=(4, F)]."""
    x = (_filter_arrays(config)["freqs"].astype(np.float64) - _MOMENT_SHIFT_HZ) / 1000.0
    return np.stack([x, x**2, x**3, x**4])


def _shifted_moments(dist: torch.Tensor, config: FeatureConfig):
    """Centroid, bandwidth, skewness and kurtosis of a float32 run: numpy's raw moments
    cancel in float32, so the moments are taken about 2 kHz in kHz, made central, then
    scaled to Hz (the same values within float32 rounding)."""
    s1, s2, s3, s4 = torch.matmul(dist, _const(_khz_powers(config), dist).T).unbind(2)
    var = (s2 - s1**2).clamp_min(0.0)
    mu3 = s3 - 3 * s1 * s2 + 2 * s1**3
    mu4 = s4 - 4 * s1 * s3 + 6 * s1**2 * s2 - 3 * s1**4
    var_hz = var * 1e6
    return (s1 * 1000.0 + _MOMENT_SHIFT_HZ, _safe_sqrt(var_hz),
            mu3 * 1e9 / (var_hz**1.5 + _EPS), mu4 * 1e12 / (var_hz**2 + _EPS))


SPECTRAL = ("centroid", "bandwidth", "rolloff", "flatness", "flux", "entropy", "slope",
            "skewness", "kurtosis", "alpha_ratio", "hammarberg", "bands")


def spectral(power: torch.Tensor, magnitude: torch.Tensor, *, config: FeatureConfig,
             rows: Sequence[int] | None = None, exact: bool = False) -> torch.Tensor:
    """The 17 spectral descriptors [shape=(B, 17, T)] in the order of ``features``
    (``rows``: only these are computed, the others are 0).

    The moments are numpy's raw moments in float64 for a float64 run or ``exact``
    (the contours whose peaks the extended group counts), else central moments about
    2 kHz in the run's dtype (:func:`_shifted_moments`); the roll-off is a bin decision
    (zero gradient).
    """
    f = _filter_arrays(config)
    eps = _EPS
    P, S = power, magnitude
    b, t, n_bins = P.shape
    want = set(range(17)) if rows is None else set(rows)
    out: list = [None] * 17
    if want & {0, 1, 4, 7, 8}:
        dist = S / (S.sum(dim=2, keepdim=True) + eps)  # numpy's float32 values
        if exact:
            dist = dist.to(torch.float64)
        if want & {0, 1, 7, 8} and dist.dtype == torch.float64:
            m1, m2, m3, m4 = torch.matmul(dist, _const(f["freq_powers"], dist).T).unbind(2)
            var = (m2 - m1**2).clamp_min(0.0)
            out[0] = m1
            out[1] = _safe_sqrt(var)
            out[7] = (m3 - 3 * m1 * m2 + 2 * m1**3) / (var**1.5 + eps)
            out[8] = (m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4) / (var**2 + eps)
        elif want & {0, 1, 7, 8}:  # float32
            out[0], out[1], out[7], out[8] = _shifted_moments(dist, config)
        if 4 in want:
            step = dist[:, 1:] - dist[:, :-1]
            out[4] = torch.nn.functional.pad(_safe_sqrt((step * step).sum(dim=2)), (1, 0))
    if 2 in want:
        with torch.no_grad():
            if _on_host(P):  # the numpy path's own compiled float32 search
                from ..features import _rolloff_bins

                flat = P.detach().reshape(-1, n_bins).to(torch.float32).numpy()
                first = torch.from_numpy(_rolloff_bins(flat.T, np.float32(0.85)))
                first = first.reshape(b, t)
            else:
                cum = torch.cumsum(P, dim=2)
                first = torch.argmax((cum >= 0.85 * cum[:, :, -1:]).to(torch.int8), dim=2)
            out[2] = _const(f["freqs"], P)[first]
    if want & {3, 5, 6}:
        log_p = torch.log_(P + eps)  # in place: a fresh large temporary costs page faults
        p_sum = P.sum(dim=2) + eps
        out[3] = torch.exp(log_p.mean(dim=2)) / (p_sum / n_bins)
        out[5] = (torch.log(p_sum) - (P * log_p).sum(dim=2) / p_sum) / math.log(n_bins)
        out[6] = torch.matmul(log_p, _const(f["slope_row"], P))
    i1k, i2k, i5k = f["split_bins"].tolist()
    if 9 in want:
        out[9] = 10 * torch.log10((P[:, :, 1:i1k].sum(dim=2) + eps)
                                  / (P[:, :, i1k:i5k].sum(dim=2) + eps))
    if 10 in want:
        out[10] = 10 * torch.log10((P[:, :, :i2k].amax(dim=2) + eps)
                                   / (P[:, :, i2k:i5k].amax(dim=2) + eps))
    idx = f["band_idx"].tolist()
    for k, (lo, hi) in enumerate(itertools.pairwise(idx)):
        if 11 + k in want:
            out[11 + k] = 10 * torch.log10(P[:, :, lo:hi].sum(dim=2) + eps)
    zero = P.new_zeros((b, t))
    return torch.stack([zero if v is None else v.to(P.dtype) for v in out], dim=1)


def energy(power: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor, *,
           config: FeatureConfig) -> torch.Tensor:
    """RMS level in dB and zero-crossing rate [shape=(B, 2, T)] (the rate: zero gradient)."""
    rms_db = 10 * torch.log10(power.sum(dim=2) / config.win_length + _EPS)
    t = power.shape[1]
    dead_zone = _filter_arrays(config).get("zcr_dead_zone")
    if dead_zone is not None and _on_host(y):
        # feature version >= 3: the numpy function itself, clip by clip
        from ..features import _zero_crossing_rate

        zcr = np.zeros((y.shape[0], t))
        clips = list(zip(zcr, y.detach().numpy(), lengths.tolist(), strict=True))

        def rate(clip) -> None:
            out, values, n = clip
            count = min(t, 1 + n // config.hop_length)
            out[:count] = _zero_crossing_rate(values[:n], count, config, dead_zone)

        _per_clip(rate, clips)
        return torch.stack([rms_db, torch.from_numpy(zcr).to(rms_db.dtype)], dim=1)
    with torch.no_grad():
        half = config.win_length // 2
        padded = torch.nn.functional.pad(y.detach(), (half, half))
        signs = torch.signbit(padded)
        if dead_zone is not None:  # feature version >= 3: a change only out of the zone
            i = torch.arange(padded.shape[1], device=y.device).expand_as(padded)
            held = torch.where(padded.abs() > float(dead_zone), i, torch.zeros_like(i))
            signs = torch.gather(signs, 1, torch.cummax(held, dim=1).values)
        changes = torch.zeros(padded.shape, dtype=torch.int64, device=y.device)
        changes[:, 1:] = torch.cumsum((signs[:, 1:] != signs[:, :-1]).to(torch.int64), dim=1)
        size = (lengths + 2 * half)[:, None]
        starts = torch.arange(t, device=y.device)[None, :] * config.hop_length
        starts = torch.minimum(starts, (size - config.win_length).clamp_min(0))
        ends = torch.minimum(starts + config.win_length - 1, size - 1)
        top = padded.shape[1] - 1
        zcr = (torch.gather(changes, 1, ends.clamp(0, top))
               - torch.gather(changes, 1, starts.clamp(0, top))) / float(config.win_length)
    return torch.stack([rms_db, zcr.to(rms_db.dtype)], dim=1)


def acf_pitch(power: torch.Tensor, n_frames: torch.Tensor, *, config: FeatureConfig
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Autocorrelation voicing: peak [shape=(B, T)], lag in samples, voiced [bool].

    The best lag and the voicing decision are taken on detached values; the peak and the
    parabolic refinement of the lag carry the gradient of the chosen ACF values.
    """
    f = _filter_arrays(config)
    lag_min, lag_max = (int(v) for v in f["lags"])
    acf = _autocorrelation(power, n_fft=config.n_fft, n_lags=lag_max + 2)
    r0 = acf[:, :, 0] + _EPS
    win = _const(f["win_acf"], power)
    if _on_host(acf):  # the numpy path's own (compiled) search, clip by clip
        from ..features import _acf_peaks

        best = np.full(acf.shape[:2], lag_min, dtype=np.int64)

        def search(clip) -> None:
            out, values, n = clip
            out[:n] += _acf_peaks(values[:n].T, f["win_acf"], lag_min, lag_max)[1]

        _per_clip(search, list(zip(best, acf.detach().numpy(),
                                   n_frames.clamp_max(acf.shape[1]).tolist(), strict=True)))
        best = torch.from_numpy(best)
    else:
        with torch.no_grad():  # the first maximum of the normalised ACF
            best = lag_min + torch.argmax(acf[:, :, lag_min:lag_max + 1] / r0[:, :, None]
                                          / win[lag_min:lag_max + 1], dim=2)

    def pick(offset: int) -> torch.Tensor:  # the normalised ACF at best + offset
        lag = best + offset
        return torch.gather(acf, 2, lag[..., None])[..., 0] / r0 / win[lag]

    top, a, c = pick(0), pick(-1), pick(1)
    den = a - 2 * top + c
    ok = den.abs() > 1e-9
    shift = torch.where(ok, 0.5 * (a - c) / torch.where(ok, den, torch.ones_like(den)),
                        torch.zeros_like(den))
    peak = top.clamp(0.0, 0.999)
    lag = best.to(power.dtype) + shift.clamp(-0.5, 0.5)
    with torch.no_grad():
        mask = _frame_mask(n_frames, power.shape[1])
        level = 10 * torch.log10(r0.detach())
        loudest = torch.where(mask, level, torch.full_like(level, -math.inf)).amax(
            dim=1, keepdim=True)
        voiced = (peak.detach() > 0.45) & (level > loudest - 35.0) & mask
    return peak, lag, voiced


def compact(x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The frames ``keep`` [shape=(B, T), bool] of ``x`` [shape=(B, k, T)], in order,
    left-aligned; returns them and their count per clip."""
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices
    idx = order[:, None, :].expand(-1, x.shape[1], -1)
    return torch.gather(x, 2, idx), keep.sum(dim=1)


# --------------------------------------------------------------------------- functionals
def delta(x: torch.Tensor, n_frames: torch.Tensor) -> torch.Tensor:
    """Regression delta over +-2 frames with edge padding at each clip's own last frame."""
    t = x.shape[2]
    i = torch.arange(t, device=x.device)[None, :]
    last = (n_frames[:, None] - 1).clamp_min(0)

    def at(offset: int) -> torch.Tensor:
        idx = torch.minimum((i + offset).clamp_min(0), last).clamp_max(t - 1)
        return torch.gather(x, 2, idx[:, None, :].expand(-1, x.shape[1], -1))

    return (at(1) - at(-1) + 2.0 * (at(2) - at(-2))) / 10.0


def functionals(x: torch.Tensor, n_frames: torch.Tensor, *, frame_rate: float
                ) -> torch.Tensor:
    """The functionals of :data:`ser_classic.features.FUNCTIONALS` of each row over each
    clip's valid frames: [shape=(B, k, T)] -> [shape=(B, k, 12)] (zeros without frames).

    Quantiles are linear interpolations between sorted values (gradient of the values
    at the chosen indices).
    """
    b, k, t = x.shape
    if t == 0:
        return x.new_zeros((b, k, len(FUNCTIONALS)))
    mask = _frame_mask(n_frames, t)[:, None, :]
    count = n_frames.clamp_min(1).to(x.dtype)[:, None]
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    xm = torch.where(mask, x, zero)
    mean = xm.sum(dim=2) / count
    centred = torch.where(mask, x - mean[..., None], zero)
    sq = centred * centred
    var = sq.sum(dim=2) / count
    std = _safe_sqrt(var)
    ok = var > 1e-12
    safe = torch.where(ok, var, torch.ones_like(var))
    skew = torch.where(ok, (sq * centred).sum(dim=2) / count / safe**1.5, zero)
    kurt = torch.where(ok, (sq * sq).sum(dim=2) / count / safe**2 - 3.0, zero)
    ordered = _sort_values(torch.where(mask, x, torch.full((), math.inf, dtype=x.dtype,
                                                           device=x.device)))
    pos = _const(_QUANTILES, x)[None, :] * (n_frames.clamp_min(1) - 1).to(x.dtype)[:, None]
    lo = torch.floor(pos)
    frac = (pos - lo)[:, None, :]
    lo = lo.long()
    hi = torch.minimum(lo + 1, (n_frames.clamp_min(1) - 1)[:, None])
    gather = lambda i: torch.gather(ordered, 2, i[:, None, :].expand(-1, k, -1))  # noqa: E731
    lo_v, hi_v = gather(lo), gather(hi)
    q = torch.where(frac > 0, lo_v * (1.0 - frac) + hi_v * frac, lo_v)
    q = torch.where(torch.isfinite(q), q, zero)
    tc = torch.arange(t, device=x.device, dtype=x.dtype)[None, :] - \
        (n_frames.to(x.dtype)[:, None] - 1) / 2.0
    tc = torch.where(mask[:, 0], tc, zero)
    denom = (tc * tc).sum(dim=1)
    denom = torch.where(denom > 0, denom, torch.ones_like(denom))
    slope = (centred * tc[:, None, :]).sum(dim=2) / denom[:, None] * frame_rate
    out = torch.cat([mean[..., None], std[..., None], skew[..., None], kurt[..., None], q,
                     slope[..., None]], dim=2)
    return torch.where((n_frames > 0)[:, None, None], out, zero)


def check_waveforms(y: torch.Tensor) -> torch.Tensor:
    """A batch [shape=(B, n)] (or one clip [shape=(n,)]) as a 2-D floating tensor."""
    if not isinstance(y, torch.Tensor):
        raise ParameterError(f"waveforms must be a torch.Tensor, got {type(y).__name__}")
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or y.shape[1] == 0:
        raise ParameterError(f"waveforms must have shape (batch, samples), got "
                             f"{tuple(y.shape)}")
    if not y.is_floating_point():
        raise ParameterError(f"waveforms must be floating point (full scale 1), got "
                             f"{y.dtype}")
    return y


def _check_finite(y: torch.Tensor) -> None:
    """Refuse a batch [shape=(B, n)] with a NaN or infinite sample (padding included),
    naming its rows, as the numpy path refuses such a waveform (scored, it would give
    finite probabilities and NaN gradients). A row's sum is non-finite whenever one of
    its samples is; only such rows are read sample by sample (a sum can also overflow)."""
    suspect = torch.nonzero(~torch.isfinite(y.sum(dim=1))).flatten()
    if suspect.numel() == 0:
        return
    rows = suspect[~torch.isfinite(y[suspect]).all(dim=1)].tolist()
    if rows:
        raise ParameterError(f"waveforms hold NaN or infinite samples in row(s) "
                             f"{rows[:10]}{' ...' if len(rows) > 10 else ''}")



# --------------------------------------------------------------------------- features
_PORTED = ("mfcc", "mel", "chroma", "contrast", "spectral", "energy", "voicing", "pitch",
           "utterance", "extended")


@functools.lru_cache(maxsize=32)
def _feature_plan(config: FeatureConfig, select: tuple[str, ...] | None):
    """The blocks to compute, ``(group, delta, rows, level positions)``, and where each
    wanted value sits in their concatenated tables (functionals only of used rows)."""
    from ..features import _level_rows, _lld_groups, _name_table

    names, where = _name_table(config)
    wanted = names if select is None else select
    unknown = [n for n in wanted if n not in where]
    if unknown:
        raise ParameterError(f"unknown feature name(s): {unknown[:5]}")
    missing = sorted({where[n][0] for n in wanted} - set(_PORTED))
    if missing:
        raise ParameterError(f"feature group(s) {missing} have no torch port (the model "
                             f"reads {sum(where[n][0] in missing for n in wanted)} such "
                             f"features); ported: {list(_PORTED)}")
    llds = _lld_groups(config)
    width = len(FUNCTIONALS)
    rows: dict[tuple[str, bool], set[int]] = {}
    for n in wanted:
        g, is_delta, row, _ = where[n]
        rows.setdefault((g, is_delta), set()).add(row)
    blocks, offsets, start = [], {}, 0
    for g in _PORTED:
        for is_delta in (False, True):
            if (g, is_delta) not in rows:
                continue
            order = sorted(rows[(g, is_delta)])
            levels = (_level_rows(g, llds[g]) if config.relative_levels and not is_delta
                      and g not in _SCALAR_GROUPS else set())
            blocks.append((g, is_delta, tuple(order),
                           tuple(i for i, r in enumerate(order) if r in levels)))
            for i, r in enumerate(order):
                offsets[(g, is_delta, r)] = start + i * (1 if g in _SCALAR_GROUPS else width)
            start += len(order) * (1 if g in _SCALAR_GROUPS else width)
    gather = [offsets[where[n][:3]] + (0 if where[n][0] in _SCALAR_GROUPS else where[n][3])
              for n in wanted]
    return tuple(blocks), np.array(gather, dtype=np.int64)


def _utterance_names() -> tuple[str, ...]:
    from ..features import _UTTERANCE

    return _UTTERANCE


def _invariant() -> bool:
    """Whether the numpy extraction is the invariant one (feature version >= 3: DC
    removal, noise-aware trim, level normalisation, guard band, noise floor)."""
    from .. import features

    return hasattr(features, "_remove_dc")


def _masked_quantile(x: torch.Tensor, n: torch.Tensor, q: float) -> torch.Tensor:
    """Linear-interpolation quantile (``np.percentile``) of each row's first ``n`` values."""
    t = x.shape[1]
    valid = torch.arange(t, device=x.device)[None, :] < n[:, None]
    ordered = _sort_values(torch.where(valid, x, torch.full((), math.inf, dtype=x.dtype,
                                                           device=x.device)))
    pos = q * (n.clamp_min(1) - 1).to(x.dtype)
    lo = torch.floor(pos).long()
    hi = torch.minimum(lo + 1, n.clamp_min(1) - 1)
    frac = pos - lo.to(x.dtype)
    lo_v = torch.gather(ordered, 1, lo[:, None])[:, 0]
    hi_v = torch.gather(ordered, 1, hi[:, None])[:, 0]
    return torch.where(frac > 0, lo_v * (1 - frac) + hi_v * frac, lo_v)


def _frame_power(y: torch.Tensor, lengths: torch.Tensor, config: FeatureConfig
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean square of each ``win_length`` frame every ``hop_length`` samples (no
    padding; one frame of the whole clip when shorter) and the frames per clip."""
    w, hop = config.win_length, config.hop_length
    n = y.shape[1]
    t = max(1, 1 + max(n - w, 0) // hop)
    square = y * y
    if w % hop == 0 and n >= w:  # sums over hops, then over the w // hop hops of a frame
        hops = torch.nn.functional.pad(square, (0, -n % hop)).reshape(
            y.shape[0], -1, hop).sum(dim=2)
        power = hops.unfold(1, w // hop, 1)[:, :t].sum(dim=2) / w
    else:
        energy = torch.nn.functional.pad(torch.cumsum(square, dim=1), (1, 0))
        starts = torch.arange(t, device=y.device) * hop
        ends = (starts + w).clamp_max(n)
        power = (energy[:, ends] - energy[:, starts.clamp_max(n)]) / w
    short = lengths < w
    whole = square.sum(dim=1) / lengths.clamp_min(1).to(y.dtype)  # zero-padded rows
    power = torch.where(short[:, None], whole[:, None].expand(-1, t), power)
    count = torch.where(short, torch.ones_like(lengths), 1 + (lengths - w).clamp_min(0) // hop)
    return power, count


def _kept_spans(y: torch.Tensor, lengths: torch.Tensor, config: FeatureConfig
                ) -> list[tuple[int, int, int, int, np.ndarray]]:
    """:func:`ser_classic.features._kept_spans` of each clip (its decisions on the
    detached samples, one host copy of the batch, and the kept span less its DC, in
    float64), on as many threads as torch uses (numpy releases the GIL in its loops)."""
    from .. import features

    def kept(clip: np.ndarray) -> tuple[int, int, int, int, np.ndarray]:
        s0, e0, start, stop, y1 = features._kept_spans(clip, config)
        return s0, e0, start, stop, y1[start:stop]

    host = y.detach().to("cpu", torch.float64).numpy()
    clips = [values[:n] for values, n in zip(host, lengths.tolist(), strict=True)]
    return _per_clip(kept, clips)


def _remove_dc_rows(y: torch.Tensor, kept: list) -> torch.Tensor:
    """:class:`_RemoveDc` as torch operations on the whole batch (on devices other than
    CPU; a fixed number of kernels, whatever the batch size)."""
    s0, e0, start, stop = torch.tensor([k[:4] for k in kept], dtype=torch.int64,
                                       device=y.device).T
    pos = torch.arange(y.shape[1], device=y.device)
    span = (pos >= s0[:, None]) & (pos < e0[:, None])
    # the mean of the span's non-zeros
    dc = torch.where(span, y, 0).sum(dim=1) / (span & (y != 0)).sum(dim=1).clamp_min(1)
    j = torch.arange(max(k[3] - k[2] for k in kept), device=y.device)
    valid = j < (stop - start)[:, None]
    piece = torch.gather(y, 1, torch.where(valid, (s0 + start)[:, None] + j, 0))
    piece = torch.where(piece != 0, piece - dc[:, None], piece)  # zeros stay zeros
    return torch.where(valid, piece, 0)


class _RemoveDc(torch.autograd.Function):
    """Each clip's kept span less its DC, left-aligned and zero-padded [shape=(B, m)]:
    the values the numpy preprocessing computed (:func:`_kept_spans`, CPU). The backward
    is the adjoint of ``where(x != 0, x - dc, x)`` of ``x = y[s0 + start:s0 + stop]``
    with ``dc = sum(y[s0:e0]) / count_nonzero(y[s0:e0])`` (digital silence stays 0)."""

    @staticmethod
    def forward(y: torch.Tensor, kept: list) -> torch.Tensor:
        out = np.zeros((len(kept), max(1, max(k[4].size for k in kept))),
                       dtype=y.detach().numpy().dtype)
        for row, (*_, piece) in enumerate(kept):
            out[row, :piece.size] = piece
        return torch.from_numpy(out)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        y, ctx.kept = inputs
        ctx.save_for_backward(y)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple:
        (y,) = ctx.saved_tensors
        host, g = y.detach().numpy(), grad.detach().numpy()
        out = np.zeros_like(host)
        for row, (s0, e0, start, stop, _) in enumerate(ctx.kept):
            a, n = s0 + start, stop - start
            out[row, a:a + n] = g[row, :n]
            sounding = host[row, s0:e0] != 0
            if sounding.any():
                dc = g[row, :n][host[row, a:a + n] != 0].sum() / np.count_nonzero(sounding)
                out[row, s0:e0] -= dc
        return torch.from_numpy(out), None


@functools.lru_cache(maxsize=4)
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="ser_classic")


def _per_clip(fn, items: Sequence) -> list:
    """``[fn(item) for item in items]``, on as many threads as torch uses (for numpy
    and numba work that releases the GIL)."""
    threads = min(torch.get_num_threads(), len(items))
    if threads < 2:
        return [fn(item) for item in items]
    return list(_pool(threads).map(fn, items))


def preprocess(y: torch.Tensor, lengths: torch.Tensor, *, config: FeatureConfig,
               kept: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The preprocessing of :func:`ser_classic.features.preprocess`: (feature version >= 3)
    exact zeros at the edges dropped, DC removed, silence trimmed, optional fixed
    duration, level normalised to the clip's reference level; (before) silence trim and
    optional fixed duration.

    The spans kept are decisions (no gradient), taken by the numpy preprocessing
    (``features._kept_spans``) on the detached samples (one host copy of the batch);
    DC removal and the level normalisation (the 95th percentile of frame power:
    gradient of the chosen values) are differentiable, so a global gain has (almost) no
    gradient, as it has no effect.

    ``kept``: :func:`_kept_spans` of these clips when already taken.

    Returns the preprocessed clips, left-aligned and zero-padded [shape=(B, m)], and their
    lengths.
    """
    length = None if config.duration_s is None else round(config.duration_s
                                                          * config.sample_rate)
    if not _invariant():
        if config.trim_top_db is not None:
            start, stop = trim_bounds(y, lengths, top_db=config.trim_top_db,
                                      hop_length=config.hop_length)
        else:
            start, stop = torch.zeros_like(lengths), lengths
        return crop(y, start, stop, length=length)
    from .. import features

    kept = _kept_spans(y, lengths, config) if kept is None else kept
    n = torch.as_tensor([k[3] - k[2] for k in kept], dtype=torch.int64, device=y.device)
    y = _RemoveDc.apply(y, kept) if _on_host(y) else _remove_dc_rows(y, kept)
    if length is not None:
        y, n = crop(y, torch.zeros_like(n), n, length=length)
    power, count = _frame_power(y, n, config)
    ref = _safe_sqrt(_masked_quantile(power, count, features._REFERENCE_PERCENTILE / 100))
    ok = ref > 1e-12
    return y / torch.where(ok, ref, torch.ones_like(ref))[:, None], n


def _utterance(lag, voiced, rms_db, lengths, n_frames, config):
    dt = lag.dtype
    zero = torch.zeros((), dtype=dt, device=lag.device)
    duration = lengths.to(dt) / config.sample_rate
    ratio = voiced.sum(dim=1).to(dt) / n_frames.clamp_min(1).to(dt)
    both = voiced[:, 1:] & voiced[:, :-1]
    n_both = both.sum(dim=1)
    period = lag / config.sample_rate
    d_period = torch.where(both, (period[:, 1:] - period[:, :-1]).abs(), zero)
    mean_period = torch.where(voiced, period, zero).sum(dim=1) / voiced.sum(dim=1).clamp_min(1)
    jitter = d_period.sum(dim=1) / n_both.clamp_min(1) / torch.where(
        mean_period > 0, mean_period, torch.ones_like(mean_period))
    d_level = torch.where(both, (rms_db[:, 1:] - rms_db[:, :-1]).abs(), zero)
    shimmer = d_level.sum(dim=1) / n_both.clamp_min(1)
    enough = n_both >= 2
    return torch.stack([duration, ratio, torch.where(enough, jitter, zero),
                        torch.where(enough, shimmer, zero)], dim=1)


def extract_features(y: torch.Tensor, *, config: FeatureConfig,
                     select: tuple[str, ...] | None = None,
                     lengths: torch.Tensor | None = None,
                     chunk: int | None = None) -> torch.Tensor:
    """Features of a batch of waveforms at ``config.sample_rate``, as
    :func:`ser_classic.features.extract_features` computes them clip by clip.

    Parameters
    ----------
    y : torch.Tensor [shape=(B, n)]
    config : FeatureConfig
    select : tuple of str, optional
        Only these features (names from :func:`ser_classic.features.feature_names`), in
        this order; only the descriptor groups they need are computed.
    lengths : torch.Tensor [shape=(B,)], optional
        Valid samples of each row (default: all).
    chunk : int, optional
        Describe the preprocessed clips this many at a time, grouped by length (less
        padding; on CPU their spectra stay in cache); default: all at once. The values
        do not depend on it.

    Returns
    -------
    x : torch.Tensor [shape=(B, n_features)] in the dtype of ``y``
    """
    y = check_waveforms(y)
    _check_finite(y)
    blocks, gather = _feature_plan(config, select)
    if lengths is None:
        lengths = torch.full((y.shape[0],), y.shape[1], dtype=torch.int64, device=y.device)
    kept = decide = None
    if (y.dtype == torch.float64 and _invariant()
            and any(g == "extended" for g, *_ in blocks)):
        # exact contour decisions in float64 on every device (a CUDA run's own contours
        # split near-ties otherwise: peak rates up to 0.33 off, reports/torch/bench_cuda.md)
        from ._extended import numpy_contours

        kept = _kept_spans(y, lengths, config)
        decide = numpy_contours([k[4] for k in kept], config)
    y, lengths = preprocess(y, lengths, config=config, kept=kept)
    if chunk is None or chunk >= y.shape[0]:
        return _describe(y, lengths, config, blocks, gather, decide)
    order = torch.argsort(lengths, stable=True)
    parts = []
    # one reordering of the batch, then views: one scatter in the backward, not one
    # batch-sized scatter per chunk
    for rows, block in zip(order.split(chunk), y[order].split(chunk), strict=True):
        n = lengths[rows]
        parts.append(_describe(block[:, :int(n.max())], n, config, blocks, gather,
                               None if decide is None else [decide[j] for j in rows.tolist()]))
    return torch.cat(parts)[torch.argsort(order)]


def _describe(y: torch.Tensor, lengths: torch.Tensor, config: FeatureConfig, blocks,
              gather, decide=None) -> torch.Tensor:
    """The features of preprocessed clips (:func:`extract_features` after
    :func:`preprocess`)."""
    magnitude, power, n_frames = spectrogram(y, lengths, config=config)
    frame_rate = config.sample_rate / config.hop_length
    with_extended = any(g == "extended" for g, *_ in blocks)
    # the extended group reads all 17 rows, with numpy's float64 moments
    spectral_rows = (list(range(17)) if with_extended else
                     sorted({r for g, _, rows, _ in blocks if g == "spectral" for r in rows}))
    location = [FUNCTIONALS.index(f) for f in ("min", "p10", "p25", "p50", "p75", "p90",
                                                "max")]
    cache: dict[str, object] = {}

    def lld(g):
        if g in cache:
            return cache[g]
        counts = n_frames
        if g == "logmel":
            x = logmel(power, config=config)
        elif g == "mel":
            x = lld("logmel")
        elif g == "mfcc":
            x = mfcc(lld("logmel"), config=config)
        elif g == "chroma":
            x = chroma(power, config=config)
        elif g == "contrast":
            x = contrast(magnitude, config=config)
        elif g == "spectral":
            x = spectral(power, magnitude, config=config, rows=spectral_rows,
                         exact=with_extended)
        elif g == "energy":
            x = energy(power, y, lengths, config=config)
        elif g == "acf":
            x = acf_pitch(power, n_frames, config=config)
        elif g == "voicing":
            peak = lld("acf")[0]
            hnr = 10 * torch.log10(peak / (1 - peak) + 1e-6)
            x = torch.stack([peak, hnr], dim=1)
        elif g == "pitch":  # the voiced frames' F0 in semitones, in order
            _, lag, voiced = lld("acf")
            f0 = 12 * torch.log2(config.sample_rate / lag / 27.5)
            x, counts = compact(f0[:, None, :], voiced)
        elif g == "extended":  # reads all 17 spectral rows
            from ._extended import extended
            x = extended(mfcc=lld("mfcc")[0], mel=lld("mel")[0], energy=lld("energy")[0],
                         spectral=lld("spectral")[0], f0=lld("pitch")[0],
                         n_f0=lld("pitch")[1], voiced=lld("acf")[2], n_frames=n_frames,
                         frame_rate=frame_rate, decide=decide)
        else:  # utterance
            _, lag, voiced = lld("acf")
            x = _utterance(lag, voiced, lld("energy")[0][:, 0], lengths, n_frames, config)
        cache[g] = x if g in ("logmel", "acf", "utterance", "extended") else (x, counts)
        return cache[g]

    # one delta and one functionals pass per frame count (every block but the voiced
    # frames' pitch shares the STFT's): fewer, larger operations
    tables: list = [None] * len(blocks)
    passes: dict[int, list] = {}
    for j, (g, is_delta, rows, _) in enumerate(blocks):
        if g in _SCALAR_GROUPS:
            tables[j] = lld(g)[:, list(rows)]
            continue
        x, counts = lld(g)
        x = x[:, list(rows)] if len(rows) < x.shape[1] else x
        passes.setdefault(id(counts), [counts, [], []])[1 + is_delta].append((j, x))
    for counts, plain, deltas in passes.values():
        if deltas:
            joined = delta(torch.cat([x for _, x in deltas], dim=1), counts)
            deltas = list(zip([j for j, _ in deltas],
                              joined.split([x.shape[1] for _, x in deltas], dim=1),
                              strict=True))
        members = plain + deltas
        joined = functionals(torch.cat([x for _, x in members], dim=1), counts,
                             frame_rate=frame_rate)
        for (j, _), table in zip(members, joined.split([x.shape[1] for _, x in members],
                                                       dim=1), strict=True):
            levels = blocks[j][3]
            if levels:
                idx = torch.as_tensor(levels, device=y.device)
                sub = table[:, idx]
                sub = torch.cat([sub[..., :location[0]], sub[..., location] - sub[..., :1],
                                 sub[..., location[-1] + 1:]], dim=2)
                table = table.index_copy(1, idx, sub)
            tables[j] = table.reshape(y.shape[0], -1)
    flat = torch.cat(tables, dim=1)
    out = flat[:, torch.as_tensor(gather, device=y.device)]
    return torch.where(torch.isfinite(out), out, torch.zeros((), dtype=out.dtype,
                                                              device=out.device))
