"""Recording conditions: degradations of a waveform, and random chains of them for training.

Pure functions with an explicit ``rng`` (librosa style, keyword-only): gain and 16-bit
rounding, white / pink / babble noise mixed at an SNR, a telephone channel, codec round
trips (libsndfile; MP3 through pedalboard), reverberation with simulated room impulse
responses (pyroomacoustics), vocoder resynthesis (Griffin-Lim through librosa; WORLD
through pyworld). ``experiments/bench_conditions.py`` scores held-out speakers under fixed
settings of them; :class:`ConditionChain` draws a random chain per augmented copy for
multi-condition training (training rows only, copies keep their speaker: the
``"conditions"`` preset of :data:`ser_classic.pipeline.AUGMENT_VARIANTS`).

The optional libraries (``pip install 'ser_classic[augment]'``: pedalboard, pyworld,
pyroomacoustics) are imported where used.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import scipy.signal
import soundfile as sf

from .errors import ParameterError

__all__ = [
    "ConditionChain",
    "ConditionPlan",
    "apply_conditions",
    "babble",
    "babble_talkers",
    "band_limit",
    "codec_round_trip",
    "equalize",
    "gain",
    "griffin_lim",
    "mix_at_snr",
    "mp3_round_trip",
    "pad",
    "pcm16",
    "pink_noise",
    "pitch_shift",
    "reverberate",
    "room_impulse_response",
    "snr_db",
    "telephone",
    "to_int16",
    "training_rooms",
    "voice_change",
    "warp_envelope",
    "white_noise",
    "world_resynthesis",
    "zero_floor",
]

SR = 16000
#: The issue's "near-silence": ``|y|`` below this set to exactly 0 (:func:`zero_floor`).
ZERO_THRESHOLD = 3e-4


# --------------------------------------------------------------------------- level
def pcm16(y: np.ndarray) -> np.ndarray:
    """Round to 16-bit PCM (clipped to full scale) and back to float64."""
    return np.clip(np.round(np.asarray(y, dtype=np.float64) * 32768.0), -32768, 32767) / 32768.0


def to_int16(y: np.ndarray) -> np.ndarray:
    """The int16 PCM array of ``y`` (clipped to full scale)."""
    return np.clip(np.round(np.asarray(y, dtype=np.float64) * 32768.0), -32768,
                   32767).astype(np.int16)


def gain(y: np.ndarray, db: float, *, sixteen_bit: bool = True) -> np.ndarray:
    """``y`` scaled by ``db`` decibels, then rounded to 16 bits (clipping at full scale)."""
    out = np.asarray(y, dtype=np.float64) * 10.0 ** (db / 20.0)
    return pcm16(out) if sixteen_bit else out


def zero_floor(y: np.ndarray, *, threshold: float = ZERO_THRESHOLD) -> np.ndarray:
    """Near-silence as exact digital zeros: samples with ``|y| < threshold`` set to 0."""
    out = np.array(y, dtype=np.float64)
    out[np.abs(out) < threshold] = 0.0
    return out


def pad(y: np.ndarray, *, lead_s: float, trail_s: float, sr: int = SR,
        floor_dbfs: float | None = None, rng: np.random.Generator | None = None
        ) -> np.ndarray:
    """``y`` with ``lead_s`` / ``trail_s`` seconds of silence: exact zeros, or white noise of
    RMS ``floor_dbfs`` dBFS (needs ``rng``) then 16-bit rounding."""
    lead, trail = np.zeros(round(lead_s * sr)), np.zeros(round(trail_s * sr))
    if floor_dbfs is not None:
        if rng is None:
            raise ParameterError("pad: a noise floor needs rng")
        level = 10.0 ** (floor_dbfs / 20.0)
        lead, trail = (level * rng.standard_normal(lead.size),
                       level * rng.standard_normal(trail.size))
    out = np.concatenate([lead, np.asarray(y, dtype=np.float64), trail])
    return out if floor_dbfs is None else pcm16(out)


# --------------------------------------------------------------------------- noise
def white_noise(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian white noise [shape=(n,)]."""
    return rng.standard_normal(n)


def pink_noise(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance pink (1/f power) noise [shape=(n,)]: white noise shaped in frequency."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spectrum / np.sqrt(f), n=n)
    return (x - x.mean()) / x.std()


def babble(n: int, *, talkers: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Babble [shape=(n,)]: the talkers' clips, each at unit RMS and a random circular offset
    (tiled to ``n`` samples), summed; unit variance."""
    if not talkers:
        raise ParameterError("babble needs at least one talker")
    out = np.zeros(n)
    for t in talkers:
        t = np.asarray(t, dtype=np.float64)
        t = np.tile(t, int(np.ceil(n / t.size)))[:n] if t.size < n else t[:n]
        out += np.roll(t / (np.sqrt(np.mean(t**2)) + 1e-12), int(rng.integers(n)))
    return out / (out.std() + 1e-12)


def mix_at_snr(y: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``y + a * noise`` with ``a`` set so that power(y) / power(a * noise) is ``snr_db``.

    Powers are over the whole clip (its pauses included), so the SNR within speech is
    higher than ``snr_db``. Rounded to 16 bits.
    """
    y = np.asarray(y, dtype=np.float64)
    p_y, p_n = np.mean(y**2), np.mean(noise**2)
    return pcm16(y + noise * np.sqrt(p_y / (p_n * 10.0 ** (snr_db / 10.0))))


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """The SNR of ``noisy`` against ``clean`` in dB (whole-clip powers)."""
    clean = np.asarray(clean, dtype=np.float64)
    return float(10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2)))


# --------------------------------------------------------------------------- channels
def _optional(module: str):
    """Import an optional dependency of the augment extra, or say how to install it."""
    import importlib
    import warnings

    try:
        with warnings.catch_warnings():  # pyworld 0.3's import of pkg_resources
            warnings.simplefilter("ignore", UserWarning)
            return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is needed for this recording condition: pip install "
                          f"'ser_classic[augment]' ({exc})") from exc


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if y.size >= n else np.pad(y, (0, n - y.size))


def telephone(y: np.ndarray, *, sr: int = SR, low_hz: float = 300.0,
              high_hz: float = 3400.0) -> np.ndarray:
    """Narrow-band telephone channel: 8 kHz, ``low_hz``-``high_hz`` band-pass (4th-order
    Butterworth, zero phase), G.711 mu-law (libsndfile's WAV ULAW) and back to ``sr``; same
    length, 16-bit."""
    from .data import resample

    y = np.asarray(y, dtype=np.float64)
    y8 = resample(y.astype(np.float32), orig_sr=sr, target_sr=8000)
    sos = scipy.signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=8000, output="sos")
    y8 = np.clip(scipy.signal.sosfiltfilt(sos, y8.astype(np.float64)), -1.0, 1.0)
    y8 = codec_round_trip(y8, sr=8000, format="WAV", subtype="ULAW")[0]
    out = resample(y8.astype(np.float32), orig_sr=8000, target_sr=sr)
    return pcm16(_fit_length(out.astype(np.float64), y.size))


def band_limit(y: np.ndarray, *, sr: int = SR, low_hz: float, high_hz: float) -> np.ndarray:
    """Band-limited copy: pedalboard's high-pass at ``low_hz`` then low-pass at ``high_hz``
    (12 dB/octave each); same length, 16-bit."""
    pedalboard = _optional("pedalboard")
    if not 0 < low_hz < high_hz < sr / 2:
        raise ParameterError(f"band_limit needs 0 < low_hz < high_hz < {sr / 2:g}, got "
                             f"{low_hz:g}, {high_hz:g}")
    board = pedalboard.Pedalboard([pedalboard.HighpassFilter(cutoff_frequency_hz=low_hz),
                                   pedalboard.LowpassFilter(cutoff_frequency_hz=high_hz)])
    return pcm16(board(np.asarray(y, dtype=np.float32), sr).astype(np.float64))


def equalize(y: np.ndarray, *, sr: int = SR, low_hz: float, low_db: float, high_hz: float,
             high_db: float, peak_hz: float, peak_db: float, peak_q: float) -> np.ndarray:
    """A microphone's or a channel's colouring: a low shelf, a high shelf and one peak
    (pedalboard's biquads: ``LowShelfFilter``, ``HighShelfFilter``, ``PeakFilter``) with
    gains in dB at cutoffs in Hz; same length, float64 (not rounded)."""
    pedalboard = _optional("pedalboard")
    board = pedalboard.Pedalboard([
        pedalboard.LowShelfFilter(cutoff_frequency_hz=low_hz, gain_db=low_db),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=high_hz, gain_db=high_db),
        pedalboard.PeakFilter(cutoff_frequency_hz=peak_hz, gain_db=peak_db, q=peak_q)])
    out = board(np.asarray(y, dtype=np.float32), sr)
    return _fit_length(np.asarray(out, dtype=np.float64).reshape(-1), len(y))


def pitch_shift(y: np.ndarray, *, sr: int = SR, semitones: float) -> np.ndarray:
    """The voice ``semitones`` higher (lower when negative), at the same tempo and length:
    pedalboard's ``PitchShift`` (Rubber Band). Formants move with the pitch."""
    pedalboard = _optional("pedalboard")
    if not -12.0 <= semitones <= 12.0:
        raise ParameterError(f"semitones must be in [-12, 12], got {semitones:g}")
    if semitones == 0.0:
        return np.asarray(y, dtype=np.float64)
    out = pedalboard.PitchShift(semitones=semitones)(np.asarray(y, dtype=np.float32), sr)
    return _fit_length(out.astype(np.float64), len(y))


def codec_round_trip(y: np.ndarray, *, sr: int = SR, format: str, subtype: str,
                     compression_level: float | None = None,
                     bitrate_mode: str | None = None) -> tuple[np.ndarray, float]:
    """Encode ``y`` with libsndfile (``soundfile.write`` into memory) and decode it.

    Returns the decoded waveform (trimmed or zero-padded to ``len(y)``: the codec's delay
    is left in) and the encoded size in kbit/s.
    """
    buf = io.BytesIO()
    kwargs = {}
    if compression_level is not None:
        kwargs["compression_level"] = compression_level
    if bitrate_mode is not None:
        kwargs["bitrate_mode"] = bitrate_mode
    sf.write(buf, np.clip(np.asarray(y, dtype=np.float64), -1.0, 1.0), sr, format=format,
             subtype=subtype, **kwargs)
    kbps = 8 * buf.tell() / 1000 / (y.size / sr)
    buf.seek(0)
    out, _ = sf.read(buf, dtype="float64")
    return _fit_length(out, y.size), kbps


def mp3_round_trip(y: np.ndarray, *, sr: int = SR, vbr_quality: float) -> np.ndarray:
    """MP3 (LAME, variable bitrate ``vbr_quality`` in [0, 10), larger is smaller) through
    pedalboard's ``MP3Compressor``; same length, 16-bit."""
    pedalboard = _optional("pedalboard")
    out = pedalboard.MP3Compressor(vbr_quality=vbr_quality)(
        np.clip(np.asarray(y, dtype=np.float32), -1.0, 1.0), sr)
    return pcm16(_fit_length(np.asarray(out, dtype=np.float64).reshape(-1), y.size))


# --------------------------------------------------------------------------- rooms
def room_impulse_response(*, sr: int = SR, rt60: float = 0.5,
                          room: Sequence[float] = (6.0, 5.0, 3.0),
                          source: Sequence[float] = (2.0, 3.5, 1.6),
                          mic: Sequence[float] = (4.0, 2.0, 1.2)) -> np.ndarray:
    """Impulse response of a shoe-box room (pyroomacoustics image source method, wall
    absorption from Sabine's formula for ``rt60``); deterministic."""
    pra = _optional("pyroomacoustics")
    absorption, max_order = pra.inverse_sabine(rt60, list(room))
    shoebox = pra.ShoeBox(list(room), fs=sr, materials=pra.Material(absorption),
                          max_order=max_order)
    shoebox.add_source(list(source))
    shoebox.add_microphone(list(mic))
    shoebox.compute_rir()
    return np.asarray(shoebox.rir[0][0], dtype=np.float64)


@functools.lru_cache(maxsize=4)
def training_rooms(*, n_rooms: int = 8, seed: int = 19, sr: int = SR
                   ) -> tuple[np.ndarray, ...]:
    """``n_rooms`` impulse responses of random shoe-box rooms drawn at ``seed``: sides
    3-9 x 3-7 x 2.4-3.6 m, RT60 0.2-0.8 s, source and microphone at least 0.5 m from the
    walls (the condition benchmark's room, 6 x 5 x 3 m at RT60 0.5 s, is not among them at
    the default seed)."""
    rng = np.random.default_rng([seed, n_rooms])
    out = []
    for _ in range(n_rooms):
        room = rng.uniform([3.0, 3.0, 2.4], [9.0, 7.0, 3.6])
        source, mic = (rng.uniform(0.5, room - 0.5) for _ in range(2))
        out.append(room_impulse_response(sr=sr, rt60=float(rng.uniform(0.2, 0.8)),
                                         room=room.tolist(), source=source.tolist(),
                                         mic=mic.tolist()))
    return tuple(out)


def reverberate(y: np.ndarray, *, rir: np.ndarray) -> np.ndarray:
    """``y`` convolved with ``rir`` (same length, direct path aligned), at ``y``'s RMS."""
    y = np.asarray(y, dtype=np.float64)
    delay = int(np.argmax(np.abs(rir)))
    wet = scipy.signal.fftconvolve(y, rir)[delay:delay + y.size]
    wet *= np.sqrt(np.mean(y**2) / (np.mean(wet**2) + 1e-20))
    return pcm16(wet)


# --------------------------------------------------------------------------- vocoders
def griffin_lim(y: np.ndarray, *, sr: int = SR, n_mels: int = 80, n_fft: int = 1024,
                hop_length: int = 256, n_iter: int = 32,
                rng: np.random.Generator) -> np.ndarray:
    """Vocoded copy: Griffin-Lim resynthesis from an ``n_mels``-band power mel spectrogram
    (librosa; linear magnitudes from the mel basis' pseudo-inverse); same length and RMS,
    16-bit."""
    import librosa

    y = np.asarray(y, dtype=np.float64)
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length,
                                         n_mels=n_mels)
    # the mel basis' pseudo-inverse, clipped at 0 (librosa's own mel_to_stft solves a
    # non-negative least-squares problem: about 5 s per clip, 250x slower)
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    stft = np.sqrt(np.maximum(np.linalg.pinv(basis) @ mel, 0.0))
    out = librosa.griffinlim(stft, n_iter=n_iter, hop_length=hop_length, n_fft=n_fft,
                             length=y.size, random_state=rng)
    out *= np.sqrt(np.mean(y**2) / (np.mean(out**2) + 1e-20))
    return pcm16(out)


def world_resynthesis(y: np.ndarray, *, sr: int = SR, frame_period_ms: float = 5.0
                      ) -> np.ndarray:
    """Vocoded copy: WORLD analysis (DIO + StoneMask F0, CheapTrick, D4C) and synthesis
    through pyworld; same length and RMS, 16-bit (:func:`voice_change` with the voice
    kept)."""
    return pcm16(voice_change(y, sr=sr, factor=1.0, frame_period_ms=frame_period_ms))


def warp_envelope(sp: np.ndarray, *, factor: float) -> np.ndarray:
    """A WORLD envelope (or aperiodicity) stretched along frequency by ``factor``: the
    value at bin ``b`` is the input's at ``b / factor`` (linear interpolation; the top
    bin's value above the input's range). ``factor > 1``: formants up, a shorter vocal
    tract.

    Parameters
    ----------
    sp : np.ndarray [shape=(n_frames, n_bins)]
    factor : float > 0

    Returns
    -------
    warped : np.ndarray [shape=sp.shape, dtype=float64]
    """
    if factor <= 0:
        raise ParameterError(f"factor must be > 0, got {factor:g}")
    sp = np.ascontiguousarray(sp, dtype=np.float64)
    if factor == 1.0:
        return sp
    bins = np.arange(sp.shape[1], dtype=np.float64)
    source = np.minimum(bins / factor, bins[-1])
    return np.ascontiguousarray(np.stack([np.interp(source, bins, frame) for frame in sp]))


def voice_change(y: np.ndarray, *, sr: int = SR, factor: float,
                 frame_period_ms: float = 5.0) -> np.ndarray:
    """The same utterance in another voice: WORLD analysis (as :func:`world_resynthesis`),
    the spectral envelope and aperiodicity stretched along frequency by ``factor``
    (:func:`warp_envelope`) and F0 multiplied by it, then synthesis; same length and RMS,
    float64 (not rounded). ``factor`` 1.12 is about 2 semitones up with formants 12 %
    higher: an adult voice turned into another adult's, timing and prosody kept."""
    if not 0.5 <= factor <= 2.0:
        raise ParameterError(f"factor must be in [0.5, 2], got {factor:g}")
    pyworld = _optional("pyworld")
    x = np.ascontiguousarray(y, dtype=np.float64)
    f0, sp, ap = pyworld.wav2world(x, sr, frame_period=frame_period_ms)
    out = pyworld.synthesize(f0 * factor, warp_envelope(sp, factor=factor),
                             warp_envelope(ap, factor=factor), sr,
                             frame_period=frame_period_ms)
    out = _fit_length(out, x.size)
    return out * np.sqrt(np.mean(x**2) / (np.mean(out**2) + 1e-20))


# --------------------------------------------------------------------------- random chains
#: The chain's steps that are off by default: their probability field -> their range
#: fields (all left out of the hash while the step is off).
_OFF_BY_DEFAULT = {"p_clip": ("clip_db",), "p_zeros": (), "p_eq": ("eq_db",),
                   "p_floor": ("floor_dbfs",)}
#: The colouring step's cutoff ranges in Hz (drawn log-uniform) and its peak's Q range.
_EQ_LOW_HZ = (100.0, 400.0)
_EQ_HIGH_HZ = (1500.0, 5000.0)
_EQ_PEAK_HZ = (300.0, 6000.0)
_EQ_PEAK_Q = (0.7, 2.0)


def _log_uniform(bounds: tuple[float, float], u: float) -> float:
    lo, hi = bounds
    return lo * (hi / lo) ** u


def _draw_colouring(*, rng: np.random.Generator, p: float = 1.0,
                   gain_db: tuple[float, float] = (-8.0, 8.0)) -> tuple[float, ...] | None:
    """A random microphone colouring, with probability ``p`` (else None): :func:`equalize`'s
    ``(low_hz, low_db, high_hz, high_db, peak_hz, peak_db, peak_q)`` with a low shelf at
    100-400 Hz, a high shelf at 1.5-5 kHz and a peak at 0.3-6 kHz (Q 0.7-2; cutoffs
    log-uniform), each gain uniform in ``gain_db``. Always consumes 8 uniform draws."""
    w = rng.uniform(size=8)
    if w[0] >= p:
        return None
    lo, hi = gain_db
    db = lo + w[1:4] * (hi - lo)
    q_lo, q_hi = _EQ_PEAK_Q
    return tuple(float(v) for v in (
        _log_uniform(_EQ_LOW_HZ, w[4]), db[0], _log_uniform(_EQ_HIGH_HZ, w[5]), db[1],
        _log_uniform(_EQ_PEAK_HZ, w[6]), db[2], q_lo + (q_hi - q_lo) * w[7]))


def _colour(y: np.ndarray, *, sr: int = SR, colouring: tuple[float, ...] | None
           ) -> np.ndarray:
    """``y`` through :func:`equalize` with a :func:`_draw_colouring` tuple (None: ``y``)."""
    if colouring is None:
        return y
    low_hz, low_db, high_hz, high_db, peak_hz, peak_db, peak_q = colouring
    return equalize(y, sr=sr, low_hz=low_hz, low_db=low_db, high_hz=high_hz,
                    high_db=high_db, peak_hz=peak_hz, peak_db=peak_db, peak_q=peak_q)


@dataclass(frozen=True)
class ConditionPlan:
    """The draws of one augmented copy (:meth:`ConditionChain.draw`); ``None``: step off."""

    vocoder: str | None = None  # "griffin_lim" or "world"
    n_mels: int = 80
    room: int | None = None  # index into training_rooms()
    noise: str | None = None  # "white", "pink" or "babble"
    snr_db: float = 0.0
    band: tuple[float, float] | None = None  # band-limit edges in Hz
    telephone: bool = False
    codec: str | None = None  # "mp3" or "opus"
    codec_level: float = 0.0  # LAME VBR quality, or libsndfile's Opus compression level
    gain_db: float = 0.0
    clip_db: float | None = None  # instead of gain_db: the peak this far above full scale
    zeros: bool = False  # near-silence set to exact zeros last
    # equalize()'s (low_hz, low_db, high_hz, high_db, peak_hz, peak_db, peak_q)
    eq: tuple[float, ...] | None = None
    floor_dbfs: float | None = None  # a white noise floor of this RMS added after the gain

    @property
    def uses_talkers(self) -> bool:
        return self.noise == "babble"


@dataclass(frozen=True)
class ConditionChain:
    """A random degradation chain per copy: vocoder, room, noise, channel, codec, gain.

    Each step is on with its probability; the order is that of a recording: resynthesis
    (Griffin-Lim or WORLD), reverberation (one of :func:`training_rooms`), additive noise
    at an SNR uniform in ``snr_db`` (white, pink or babble of other talkers, equally
    likely), band limiting (half of the time the telephone channel, else a band with
    edges uniform in ``low_hz`` / ``high_hz``), a codec (MP3 through LAME at VBR quality
    uniform in ``mp3_quality``, or Opus through libsndfile at a compression level uniform
    in ``opus_level``), then a gain uniform in ``gain_db`` and 16-bit rounding.

    Four steps are off by default (and then leave the draws and the hash as they were):
    with probability ``p_clip`` the gain puts the copy's peak ``clip_db`` (uniform) above
    full scale instead, so that 16-bit rounding clips it; with probability ``p_zeros``
    near-silence (:func:`zero_floor`) becomes exact zeros last, as in a generator's output;
    with probability ``p_eq`` a microphone's colouring (:func:`equalize`) after the room and
    before the noise: a low shelf at 100-400 Hz, a high shelf at 1.5-5 kHz and a peak at
    0.3-6 kHz (Q 0.7-2; cutoffs log-uniform), each gain uniform in ``eq_db``; with
    probability ``p_floor`` a white noise floor of RMS uniform in ``floor_dbfs`` dBFS after
    the gain (before the near-silence step), as a quiet recording chain adds to every pause.
    """

    p_vocoder: float = 0.2
    p_reverb: float = 0.25
    p_noise: float = 0.6
    snr_db: tuple[float, float] = (5.0, 30.0)
    p_band: float = 0.25
    low_hz: tuple[float, float] = (100.0, 400.0)
    high_hz: tuple[float, float] = (3000.0, 6000.0)
    p_codec: float = 0.25
    mp3_quality: tuple[float, float] = (2.0, 9.0)
    opus_level: tuple[float, float] = (0.5, 1.0)
    p_gain: float = 1.0
    gain_db: tuple[float, float] = (-35.0, 12.0)
    n_rooms: int = 8
    room_seed: int = 19
    p_clip: float = 0.0
    clip_db: tuple[float, float] = (0.0, 12.0)
    p_zeros: float = 0.0
    p_eq: float = 0.0
    eq_db: tuple[float, float] = (-8.0, 8.0)
    p_floor: float = 0.0
    floor_dbfs: tuple[float, float] = (-75.0, -45.0)

    def __post_init__(self) -> None:
        for name in ("p_vocoder", "p_reverb", "p_noise", "p_band", "p_codec", "p_gain",
                     "p_clip", "p_zeros", "p_eq", "p_floor"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ParameterError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("snr_db", "low_hz", "high_hz", "mp3_quality", "opus_level", "gain_db",
                     "clip_db", "eq_db", "floor_dbfs"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ParameterError(f"{name} must be (low, high), got {(lo, hi)}")
        if self.n_rooms < 1:
            raise ParameterError(f"n_rooms must be >= 1, got {self.n_rooms}")

    @property
    def hash(self) -> str:
        """Short stable hash of the chain's parameters (the off steps' fields left out, so
        that chains without them keep their hashes)."""
        fields = asdict(self)
        for p, ranges in _OFF_BY_DEFAULT.items():
            if not getattr(self, p):
                for name in (p, *ranges):
                    del fields[name]
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def draw(self, *, rng: np.random.Generator) -> ConditionPlan:
        """One copy's plan. Always consumes the same draws, so a step's on/off does not
        shift the others (and babble without talkers falls back to pink noise at apply
        time, not here)."""
        u = rng.uniform(size=6)
        vocoder = ("griffin_lim", "world")[int(rng.integers(2))]
        n_mels = int((64, 80, 128)[int(rng.integers(3))])
        room = int(rng.integers(self.n_rooms))
        noise = ("white", "pink", "babble")[int(rng.integers(3))]
        snr = float(rng.uniform(*self.snr_db))
        tel = bool(rng.integers(2))
        band = (float(rng.uniform(*self.low_hz)), float(rng.uniform(*self.high_hz)))
        codec = ("mp3", "opus")[int(rng.integers(2))]
        level = float(rng.uniform(*(self.mp3_quality if codec == "mp3" else self.opus_level)))
        gain_db = float(rng.uniform(*self.gain_db))
        on_band = bool(u[3] < self.p_band)
        clip_db, zeros = None, False
        if self.p_clip or self.p_zeros:  # drawn last, and only then: the others' draws stay
            v = rng.uniform(size=3)
            if v[0] < self.p_clip:
                clip_db = float(self.clip_db[0] + v[1] * (self.clip_db[1] - self.clip_db[0]))
            zeros = bool(v[2] < self.p_zeros)
        eq = None
        if self.p_eq:  # after those, and only then
            eq = _draw_colouring(rng=rng, p=self.p_eq, gain_db=self.eq_db)
        floor = None
        if self.p_floor:  # after those, and only then
            v = rng.uniform(size=2)
            if v[0] < self.p_floor:
                floor = float(self.floor_dbfs[0]
                              + v[1] * (self.floor_dbfs[1] - self.floor_dbfs[0]))
        return ConditionPlan(
            vocoder=vocoder if u[0] < self.p_vocoder else None, n_mels=n_mels,
            room=room if u[1] < self.p_reverb else None,
            noise=noise if u[2] < self.p_noise else None, snr_db=snr,
            band=band if on_band and not tel else None, telephone=on_band and tel,
            codec=codec if u[4] < self.p_codec else None, codec_level=level,
            gain_db=gain_db if u[5] < self.p_gain else 0.0, clip_db=clip_db, zeros=zeros,
            eq=eq, floor_dbfs=floor)


def apply_conditions(y: np.ndarray, *, plan: ConditionPlan, rng: np.random.Generator,
                     sr: int = SR, talkers: Sequence[np.ndarray] = (),
                     chain: ConditionChain | None = None) -> np.ndarray:
    """``y`` through the steps of ``plan`` (see :class:`ConditionChain`); same length, 16-bit.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] at ``sr``
    plan : ConditionPlan
        From :meth:`ConditionChain.draw` with ``chain``.
    rng : np.random.Generator
        Noise samples, babble offsets, Griffin-Lim's initial phase.
    talkers : sequence of np.ndarray
        Clips of other speakers for babble (at ``sr``); without any, babble is pink noise.
    chain : ConditionChain, optional
        The chain that drew ``plan`` (its rooms); default ``ConditionChain()``.

    Returns
    -------
    y_out : np.ndarray [shape=(n,), dtype=float64]
    """
    chain = ConditionChain() if chain is None else chain
    out = pcm16(y)
    if out.size == 0 or not np.any(out):
        return out
    if plan.vocoder == "griffin_lim":
        out = griffin_lim(out, sr=sr, n_mels=plan.n_mels, n_iter=16, rng=rng)
    elif plan.vocoder == "world":
        out = world_resynthesis(out, sr=sr)
    if plan.room is not None:
        out = reverberate(out, rir=training_rooms(n_rooms=chain.n_rooms,
                                                  seed=chain.room_seed, sr=sr)[plan.room])
    out = _colour(out, sr=sr, colouring=plan.eq)
    if plan.noise is not None:
        if plan.noise == "white":
            noise = white_noise(out.size, rng=rng)
        elif plan.noise == "babble" and len(talkers):
            noise = babble(out.size, talkers=talkers, rng=rng)
        else:
            noise = pink_noise(out.size, rng=rng)
        out = mix_at_snr(out, noise, plan.snr_db)
    if plan.telephone:
        out = telephone(out, sr=sr)
    elif plan.band is not None:
        out = band_limit(out, sr=sr, low_hz=plan.band[0], high_hz=min(plan.band[1],
                                                                      0.45 * sr))
    if plan.codec == "mp3":
        out = mp3_round_trip(out, sr=sr, vbr_quality=plan.codec_level)
    elif plan.codec == "opus":
        out = pcm16(codec_round_trip(out, sr=sr, format="OGG", subtype="OPUS",
                                     compression_level=plan.codec_level)[0])
    if plan.clip_db is not None and np.any(out):  # the peak placed clip_db above full scale
        out = gain(out, plan.clip_db - 20.0 * np.log10(np.max(np.abs(out))))
    else:
        out = gain(out, plan.gain_db)
    if plan.floor_dbfs is not None:
        out = pcm16(out + 10.0 ** (plan.floor_dbfs / 20.0) * rng.standard_normal(out.size))
    return zero_floor(out) if plan.zeros else out


def babble_talkers(sha256: Sequence[str], speakers: Sequence, *, groups: Sequence | None
                   = None, n_talkers: int = 4, seed: int = 0, copy: int = 0
                   ) -> list[tuple[int, ...]]:
    """Babble talkers of every clip's copy ``copy``: indices of ``n_talkers`` other clips.

    The talkers of clip ``i`` are drawn (without replacement, at ``[seed, copy, sha]``)
    from the clips of the same group (``groups[i]``; default: all clips) whose speaker is
    not ``speakers[i]``, in sha256 order. With the groups of an outer cross-validation
    split (the clips that leave training together), every talker is a training clip of
    each fold the copy is trained in; under leave-one-speaker-out a group is one speaker
    and no clip has talkers (its babble falls back to pink noise).

    Returns
    -------
    talkers : list of tuple of int, one per clip (empty where no other speaker is found)
    """
    sha256, speakers = list(sha256), np.asarray(speakers)
    if len(sha256) != speakers.size:
        raise ParameterError("sha256 and speakers must have one entry per clip")
    groups = np.zeros(speakers.size, dtype=int) if groups is None else np.asarray(groups)
    if groups.shape != speakers.shape:
        raise ParameterError("groups must have one entry per clip")
    order = np.argsort(np.asarray(sha256), kind="stable")
    out = []
    for i, sha in enumerate(sha256):
        pool = order[(groups[order] == groups[i]) & (speakers[order] != speakers[i])]
        if pool.size == 0:
            out.append(())
            continue
        rng = np.random.default_rng([seed, copy, int(sha[:15], 16), 7])
        pick = rng.choice(pool.size, size=min(n_talkers, pool.size), replace=False)
        out.append(tuple(int(j) for j in pool[np.sort(pick)]))
    return out
