"""The seed's processing: fixed duration, random shift, spectrogram, frequency/time masks.

``trim_silence`` and ``pad_trim`` are preprocessing and run at inference too;
``random_shift``, ``mask_spectrogram`` and ``warp_frequencies`` (vocal-tract-length
perturbation) are training-time augmentation only (the evaluation applies them to training
rows of each fold, never at prediction time).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import scipy.fft

from .errors import ParameterError

__all__ = [
    "AugmentConfig",
    "mask_spectrogram",
    "pad_trim",
    "random_shift",
    "spectrogram",
    "trim_silence",
    "warp_frequencies",
]


def trim_silence(y: np.ndarray, *, top_db: float = 40.0, frame_length: int = 512,
                 hop_length: int = 160, noise_margin_db: float | None = None) -> np.ndarray:
    """Cut leading and trailing frames quieter than ``top_db`` below the loudest frame.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    top_db : float > 0
    noise_margin_db : float > 0, optional
        Also cut leading (trailing) frames within this margin of a steady noise at the
        start (end): when the first (last) 10 frames that are not digital silence lie
        within 6 dB of each other, their median level is a noise floor, and frames up
        to ``noise_margin_db`` above it (at most 20 dB below the loudest frame) are cut,
        so that a padding of steady noise is trimmed like one of digital silence. A clip
        that starts and ends in digital silence, or in a noise far below ``top_db``, is
        trimmed as without it.

    Returns
    -------
    y_trimmed : np.ndarray [shape=(m,)], m <= n
    """
    return _trim_silence(y, None, top_db=top_db, frame_length=frame_length,
                         hop_length=hop_length, noise_margin_db=noise_margin_db)


def _cumulative_energy(y: np.ndarray) -> np.ndarray:
    """``[0, cumsum(y**2)]`` in float64 [shape=(n + 1,)]: the energy of ``y[a:b]`` is
    ``energy[b] - energy[a]`` (the silence trim and the frame powers share one)."""
    energy = np.empty(y.size + 1)
    energy[0] = 0.0
    np.cumsum(np.square(y, dtype=np.float64), out=energy[1:])
    return energy


def _frame_powers(energy: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """Mean square of each whole frame of ``frame_length`` samples, every ``hop_length``,
    of a signal of at least one frame, from its :func:`_cumulative_energy`."""
    starts = hop_length * np.arange(1 + (energy.size - 1 - frame_length) // hop_length)
    return (energy[starts + frame_length] - energy[starts]) / frame_length


def _trim_silence(y: np.ndarray, energy: np.ndarray | None, *, top_db: float,
                  frame_length: int, hop_length: int, noise_margin_db: float | None
                  ) -> np.ndarray:
    """:func:`trim_silence`, given the :func:`_cumulative_energy` of ``y`` when already
    taken (None: taken here)."""
    if top_db <= 0:
        raise ParameterError(f"top_db must be > 0, got {top_db}")
    if noise_margin_db is not None and noise_margin_db <= 0:
        raise ParameterError(f"noise_margin_db must be > 0, got {noise_margin_db}")
    if y.size < frame_length:
        return y
    if energy is None:
        energy = _cumulative_energy(y)
    power = _frame_powers(energy, frame_length=frame_length, hop_length=hop_length)
    db = 10.0 * np.log10(np.maximum(power, 1e-20))
    base = db.max() - top_db
    lead = tail = base
    if noise_margin_db is not None:
        sounding = db[power > 0.0]  # digital silence is no noise floor
        lead = _edge_threshold(sounding[:_EDGE_FRAMES], base, db.max(), noise_margin_db)
        tail = _edge_threshold(sounding[-_EDGE_FRAMES:], base, db.max(), noise_margin_db)
    loud_lead, loud_tail = np.flatnonzero(db > lead), np.flatnonzero(db > tail)
    if loud_lead.size == 0 or loud_tail.size == 0 or loud_lead[0] > loud_tail[-1]:
        return y  # nothing stands out of the edges' noise
    start = loud_lead[0] * hop_length
    stop = min(y.size, loud_tail[-1] * hop_length + frame_length)
    return y[start:stop]


_EDGE_FRAMES = 10  # frames at each end that may be a steady noise floor
_EDGE_SPREAD_DB = 6.0  # their largest spread in level for a steady noise
_EDGE_HEADROOM_DB = 20.0  # a noise-floor threshold stays this far below the loudest frame


def _edge_threshold(edge_db: np.ndarray, base: float, peak: float, margin: float, *,
                    level: str = "median", headroom: float = _EDGE_HEADROOM_DB) -> float:
    """Trim threshold at one end: ``base``, raised to ``margin`` dB above a steady noise
    at that end (its ``level``: the ``"median"`` or ``"loudest"`` edge frame), at most
    ``headroom`` dB below the loudest frame (``experiments/trim_ablation.py`` varies
    ``level`` and ``headroom``)."""
    if edge_db.size < _EDGE_FRAMES or np.ptp(edge_db) > _EDGE_SPREAD_DB:
        return base
    noise = float(np.median(edge_db) if level == "median" else edge_db.max())
    return max(base, min(noise + margin, peak - headroom))


def pad_trim(y: np.ndarray, *, length: int, align: Literal["start", "center"] = "center"
             ) -> np.ndarray:
    """Zero-pad or cut ``y`` to exactly ``length`` samples.

    Returns
    -------
    y_fixed : np.ndarray [shape=(length,)]
    """
    if length <= 0:
        raise ParameterError(f"length must be > 0, got {length}")
    if align not in ("start", "center"):
        raise ParameterError(f"align must be 'start' or 'center', got {align!r}")
    n = y.size
    if n >= length:
        start = (n - length) // 2 if align == "center" else 0
        return y[start:start + length]
    out = np.zeros(length, dtype=y.dtype)
    start = (length - n) // 2 if align == "center" else 0
    out[start:start + n] = y
    return out


def random_shift(y: np.ndarray, *, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Shift ``y`` by a uniform random number of samples in [-max_shift, max_shift].

    The vacated samples are zero; the length is kept.
    """
    if max_shift < 0:
        raise ParameterError(f"max_shift must be >= 0, got {max_shift}")
    shift = int(rng.integers(-max_shift, max_shift + 1)) if max_shift else 0
    if shift == 0:
        return y.copy()
    out = np.zeros_like(y)
    if shift > 0:
        out[shift:] = y[:-shift]
    else:
        out[:shift] = y[-shift:]
    return out


def spectrogram(y: np.ndarray, *, n_fft: int = 1024, win_length: int = 640,
                hop_length: int = 160) -> np.ndarray:
    """Magnitude STFT with a centred Hann window (the one STFT every feature reads).

    Returns
    -------
    S : np.ndarray [shape=(1 + n_fft // 2, 1 + n // hop_length), dtype=float32]
    """
    if not 0 < win_length <= n_fft:
        raise ParameterError(f"need 0 < win_length <= n_fft, got {win_length}, {n_fft}")
    half = n_fft // 2
    padded = np.zeros(y.size + 2 * half, dtype=np.float32)
    padded[half:half + y.size] = y
    n_frames = 1 + (padded.size - n_fft) // hop_length
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, n_fft), strides=(padded.strides[0] * hop_length,
                                                  padded.strides[0]))
    # only the window's support is multiplied; the zero-padding stays zero
    lo = (n_fft - win_length) // 2
    support = slice(lo, lo + win_length)
    windowed = np.zeros((n_frames, n_fft), dtype=np.float32)
    np.multiply(frames[:, support], _window(n_fft, win_length)[support],
                out=windowed[:, support])
    return np.abs(scipy.fft.rfft(windowed, axis=1, overwrite_x=True)).T


_WINDOWS: dict[tuple[int, int], np.ndarray] = {}


def _window(n_fft: int, win_length: int) -> np.ndarray:
    key = (n_fft, win_length)
    if key not in _WINDOWS:
        win = np.zeros(n_fft, dtype=np.float32)
        start = (n_fft - win_length) // 2
        win[start:start + win_length] = np.hanning(win_length + 1)[:-1]
        _WINDOWS[key] = win
    return _WINDOWS[key]


def mask_spectrogram(S: np.ndarray, *, rng: np.random.Generator, n_freq_masks: int = 1,
                     max_freq_width: int = 27, n_time_masks: int = 1,
                     max_time_width: int = 20,
                     value: Literal["zero", "mean"] = "mean") -> np.ndarray:
    """SpecAugment frequency and time masks on a copy of ``S``.

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames)]
    n_freq_masks, n_time_masks : int >= 0
        How many bands / frame spans to mask.
    max_freq_width, max_time_width : int >= 0
        Widths are drawn uniformly from [0, max].
    value : "zero" or "mean"
        Fill with zeros or with the spectrogram's mean.

    Returns
    -------
    S_masked : np.ndarray [shape=S.shape]
    """
    if value not in ("zero", "mean"):
        raise ParameterError(f"value must be 'zero' or 'mean', got {value!r}")
    if min(n_freq_masks, n_time_masks, max_freq_width, max_time_width) < 0:
        raise ParameterError("mask counts and widths must be >= 0")
    out = S.copy()
    fill = 0.0 if value == "zero" else float(S.mean())
    n_bins, n_frames = S.shape
    for axis, count, max_width, size in ((0, n_freq_masks, max_freq_width, n_bins),
                                         (1, n_time_masks, max_time_width, n_frames)):
        for _ in range(count):
            width = int(rng.integers(0, min(max_width, size) + 1))
            start = int(rng.integers(0, size - width + 1))
            if axis == 0:
                out[start:start + width, :] = fill
            else:
                out[:, start:start + width] = fill
    return out


def warp_frequencies(S: np.ndarray, *, alpha: float, sample_rate: int,
                     boundary_hz: float = 4800.0) -> np.ndarray:
    """Vocal-tract-length perturbation: piecewise-linear warp of the frequency axis.

    Frequencies below the boundary are scaled by ``alpha`` (a shorter or longer vocal
    tract), the rest is mapped linearly so that Nyquist stays Nyquist; magnitudes are
    interpolated linearly between bins.

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames)]
        Magnitude spectrogram, bins from 0 Hz to Nyquist.
    alpha : float > 0
        Warp factor; 1 returns ``S`` unchanged.
    sample_rate : int
    boundary_hz : float
        Upper end of the scaled range (for ``alpha <= 1``; scaled down for ``alpha > 1``).

    Returns
    -------
    S_warped : np.ndarray [shape=S.shape, dtype=S.dtype]
    """
    if alpha <= 0:
        raise ParameterError(f"alpha must be > 0, got {alpha}")
    if alpha == 1.0:
        return S
    n_bins = S.shape[0]
    nyquist = sample_rate / 2.0
    freqs = np.linspace(0.0, nyquist, n_bins)
    edge = boundary_hz * min(alpha, 1.0) / alpha  # boundary in source frequencies
    warped_edge = alpha * edge
    source = np.where(freqs <= warped_edge, freqs / alpha,
                      edge + (freqs - warped_edge) * (nyquist - edge) / (nyquist - warped_edge))
    pos = source / nyquist * (n_bins - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, n_bins - 1)
    hi = np.clip(lo + 1, 0, n_bins - 1)
    frac = (pos - lo)[:, None]
    return (S[lo] * (1 - frac) + S[hi] * frac).astype(S.dtype)


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation: ``n_copies`` shifted, masked or warped copies per clip.

    Widths are in seconds / Hz so that they do not depend on the STFT settings. Copy ``k``
    is frequency-warped by ``warp_factors[k % len(warp_factors)]`` (none when empty). With
    ``conditions``, each copy's waveform first goes through a random recording-condition
    chain (:class:`ser_classic.conditions.ConditionChain`: vocoder, room, noise, channel,
    codec, gain); ``chain`` names the chain's fields that differ from its defaults, as
    ``(name, value)`` pairs. With ``pitch_steps``, each copy is first pitch-shifted by
    one of them (semitones, drawn at random per copy;
    :func:`ser_classic.conditions.pitch_shift`). With ``voice_factors``, each copy is
    first given another voice: envelope and F0 scaled by one of them, drawn at random per
    copy (:func:`ser_classic.conditions.voice_change`, WORLD). With ``colour_db``, each
    copy's waveform is then coloured as by a random microphone (a low shelf, a high shelf
    and a peak, each gain uniform in ``colour_db``; :func:`ser_classic.conditions.equalize`),
    drawn from a stream of its own; a conditions copy is coloured by its chain instead (``p_eq``).
    ``chain_per="voice"`` draws the chain's plan once per voice (speaker) and copy number
    instead of per clip, as if each voice had been recorded through one chain: a
    speaker-normalised model then sees a copy against statistics of the same chain, as
    at inference (the plan only; noise samples and the rest stay the clip's). With
    ``crop_s`` (low, high), each copy is first cut to a span of the clip's speech (the
    preprocessing's own trim decision) of a length uniform in it, at a uniform position
    (the whole speech when shorter): a model for short inputs, e.g. a generator's crops
    (:func:`ser_classic.features.speech_crop`).
    """

    n_copies: int = 2
    max_shift_s: float = 0.25
    n_freq_masks: int = 1
    max_freq_width_hz: float = 500.0
    n_time_masks: int = 1
    max_time_width_s: float = 0.2
    mask_value: Literal["zero", "mean"] = "mean"
    warp_factors: tuple[float, ...] = ()
    conditions: bool = False
    chain: tuple[tuple[str, float | tuple[float, float]], ...] = ()
    pitch_steps: tuple[float, ...] = ()
    voice_factors: tuple[float, ...] = ()
    colour_db: tuple[float, float] | None = None
    chain_per: Literal["clip", "voice"] = "clip"
    crop_s: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.n_copies < 0 or self.max_shift_s < 0:
            raise ParameterError("n_copies and max_shift_s must be >= 0")
        if any(a <= 0 for a in self.warp_factors):
            raise ParameterError(f"warp_factors must be > 0, got {self.warp_factors}")
        if self.mask_value not in ("zero", "mean"):
            raise ParameterError(f"mask_value must be 'zero' or 'mean', got "
                                 f"{self.mask_value!r}")
        if any(not -12.0 <= s <= 12.0 for s in self.pitch_steps):
            raise ParameterError(f"pitch_steps must be in [-12, 12], got {self.pitch_steps}")
        if any(not 0.5 <= f <= 2.0 for f in self.voice_factors):
            raise ParameterError(f"voice_factors must be in [0.5, 2], got "
                                 f"{self.voice_factors}")
        if self.chain_per not in ("clip", "voice"):
            raise ParameterError(f"chain_per must be 'clip' or 'voice', got "
                                 f"{self.chain_per!r}")
        if self.chain_per == "voice" and not self.conditions:
            raise ParameterError("chain_per='voice' is for conditions copies")
        if self.crop_s is not None and (len(self.crop_s) != 2
                                        or not 0 < self.crop_s[0] <= self.crop_s[1]):
            raise ParameterError(f"crop_s must be (low, high) seconds with 0 < low <= "
                                 f"high, got {self.crop_s}")
        if self.chain:
            self.condition_chain  # noqa: B018 - validates the chain's fields
        if self.colour_db is not None:
            if self.conditions:
                raise ParameterError("colour_db is for copies without conditions; a "
                                     "conditions copy is coloured by its chain (p_eq)")
            if len(self.colour_db) != 2 or self.colour_db[0] > self.colour_db[1]:
                raise ParameterError(f"colour_db must be (low, high), got {self.colour_db}")

    @property
    def condition_chain(self):
        """The :class:`ser_classic.conditions.ConditionChain` of the ``conditions`` copies."""
        from .conditions import ConditionChain

        try:
            return ConditionChain(**dict(self.chain))
        except TypeError as error:
            raise ParameterError(f"chain names an unknown ConditionChain field: {error}"
                                 ) from None

    def warp_of(self, copy: int) -> float:
        """Frequency-warp factor of copy number ``copy`` (1.0: no warp)."""
        return self.warp_factors[copy % len(self.warp_factors)] if self.warp_factors else 1.0

    @property
    def hash(self) -> str:
        """Short stable hash of the configuration."""
        fields = asdict(self)
        if not self.warp_factors:  # hashes of configurations without warps stay as they were
            del fields["warp_factors"]
        else:
            fields["warp_factors"] = list(self.warp_factors)
        for name in ("pitch_steps", "voice_factors"):  # absent when empty: older hashes
            if getattr(self, name):
                fields[name] = list(getattr(self, name))
            else:
                del fields[name]
        del fields["conditions"], fields["chain"]  # so that older hashes stay unchanged
        if self.colour_db is None:
            del fields["colour_db"]
        else:
            fields["colour_db"] = list(self.colour_db)
        if self.conditions:
            fields["conditions"] = self.condition_chain.hash
        if self.chain_per == "clip":
            del fields["chain_per"]
        if self.crop_s is None:  # absent when off: older hashes
            del fields["crop_s"]
        else:
            fields["crop_s"] = list(self.crop_s)
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]
