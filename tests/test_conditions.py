"""The condition benchmark's transformations (experiments/bench_conditions.py) on real audio."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from ser_classic.data import load_audio

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared/data/ravdess/Actor_21/03-01-05-02-01-01-21.flac"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_conditions", ROOT / "experiments/bench_conditions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def clip():
    if not CLIP.exists():
        pytest.skip("shared RAVDESS corpus not available")
    return load_audio(CLIP, sr=16000).astype(np.float64)


def _band_power(y, lo, hi, sr=16000):
    f, p = scipy.signal.welch(y, fs=sr, nperseg=1024)
    return p[(f >= lo) & (f < hi)].sum()


@pytest.mark.parametrize("kind", ["white", "pink"])
@pytest.mark.parametrize("snr", [20.0, 10.0])
def test_noise_reaches_its_snr(bench, clip, kind, snr):
    rng = np.random.default_rng(0)
    noise = (bench.white_noise if kind == "white" else bench.pink_noise)(clip.size, rng=rng)
    noisy = bench.mix_at_snr(clip, noise, snr)
    assert noisy.shape == clip.shape
    assert bench.snr_db(clip, noisy) == pytest.approx(snr, abs=0.05)


def test_pink_noise_falls_3_db_per_octave(bench):
    x = bench.pink_noise(2**16, rng=np.random.default_rng(1))
    low, high = _band_power(x, 500, 1000), _band_power(x, 2000, 4000)
    # equal power per octave for 1/f noise
    assert 10 * np.log10(high / low) == pytest.approx(0.0, abs=1.0)


def test_babble_is_unit_variance_and_seeded(bench, clip):
    talkers = [clip[::-1], clip * 0.1, np.roll(clip, 5000)]
    a = bench.babble(clip.size, talkers=talkers, rng=np.random.default_rng(2))
    b = bench.babble(clip.size, talkers=talkers, rng=np.random.default_rng(2))
    assert np.array_equal(a, b) and a.std() == pytest.approx(1.0)


def test_telephone_band_limits_and_length(bench, clip):
    tel = bench.telephone(clip)
    assert tel.shape == clip.shape
    # energy above 3.4 kHz and below 300 Hz is removed (tens of dB), the band is kept
    in_band = _band_power(tel, 500, 3000) / _band_power(clip, 500, 3000)
    assert 0.5 < in_band < 2.0
    assert _band_power(tel, 4200, 8000) < 1e-3 * _band_power(clip, 4200, 8000)
    assert _band_power(tel, 0, 150) < 0.1 * _band_power(clip, 0, 150)


def test_codec_round_trip_keeps_length(bench, clip):
    y, kbps = bench.codec_round_trip(clip, format="MP3", subtype="MPEG_LAYER_III",
                                     compression_level=bench.MP3_LEVEL,
                                     bitrate_mode="CONSTANT")
    assert y.shape == clip.shape and 28 < kbps < 36
    assert np.corrcoef(y, clip)[0, 1] > 0.5 or np.max(np.abs(
        scipy.signal.correlate(y, clip, mode="full"))) > 0.5 * np.sum(clip**2)


def test_gain_padding_and_floor(bench, clip):
    quiet = bench.gain(clip, -20.0)
    assert np.all(quiet * 32768 == np.round(quiet * 32768))  # 16-bit values
    assert np.sqrt(np.mean(quiet**2) / np.mean(clip**2)) == pytest.approx(0.1, rel=0.01)
    padded = bench.pad(clip, lead_s=1.0, trail_s=0.5)
    assert padded.size == clip.size + 24000 and not padded[:16000].any()
    assert np.array_equal(padded[16000:-8000], clip)
    zeroed = bench.zero_floor(clip)
    assert np.all((zeroed == 0) | (np.abs(clip) >= bench.ZERO_THRESHOLD))


def test_reverb_and_griffin_lim_keep_length_and_level(bench, clip):
    pytest.importorskip("pyroomacoustics")  # the bench extra
    y = clip[:16000]
    rir = bench.room_impulse_response()
    for out in (bench.reverberate(y, rir=rir),
                bench.griffin_lim(y, rng=np.random.default_rng(3), n_iter=4)):
        assert out.shape == y.shape
        assert np.sqrt(np.mean(out**2) / np.mean(y**2)) == pytest.approx(1.0, rel=0.05)


def test_ece(bench):
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    correct = np.array([True, False, True, True])
    # bins: 0.9 -> accuracy 0.5 (gap 0.4), 0.6 -> accuracy 1 (gap 0.4)
    assert bench.ece(proba, correct) == pytest.approx(0.4)
