"""Invariance of the features to recording conditions, on real clips (issue 19, item 3).

Each check compares the features of real RAVDESS clips with those of a transformed copy,
in units of each feature's spread across the clean clips. The extraction of feature
version 2 fails every one of them (gain and DC moved the level-like descriptors,
16-bit rounding and exact zeros the flatness, spectral contrast and entropy of quiet
frames, a 48 kHz source the descriptors reading the top few hundred Hz).
"""

from __future__ import annotations

import numpy as np
import pytest

from ser_classic import data
from ser_classic.augment import trim_silence
from ser_classic.errors import ParameterError
from ser_classic.features import FeatureConfig, extract_features, preprocess

CONFIG = FeatureConfig()


def pcm16(y: np.ndarray) -> np.ndarray:
    return np.clip(np.round(y * 32768.0), -32768, 32767) / 32768.0


def via_48k(y: np.ndarray) -> np.ndarray:
    """A float 48 kHz source: resampled up, then read back as any 48 kHz input is."""
    up = data.resample(y.astype(np.float32), orig_sr=16000, target_sr=48000)
    return data.resample(up, orig_sr=48000, target_sr=16000)


@pytest.fixture(scope="module")
def clean(small_manifest):
    """12 clips of 4 actors (float64) and their features [shape=(12, d)]."""
    ys = [data.load_audio(p).astype(np.float64) for p in small_manifest.path.iloc[::20]]
    return ys, np.array([extract_features(y, config=CONFIG) for y in ys])


def shifts(clean, transform) -> np.ndarray:
    """Per feature: mean |change| over the clips, in units of the clean clips' spread."""
    ys, X0 = clean
    X = np.array([extract_features(transform(y), config=CONFIG) for y in ys])
    spread = X0.std(axis=0)
    varies = spread > 1e-6 * (np.abs(X0).mean(axis=0) + 1e-12)
    return (np.abs(X - X0)[:, varies] / spread[varies]).mean(axis=0)


EXACT = {  # same features up to float rounding
    "gain +20 dB (float)": lambda y: y * 10.0,
    "gain -20 dB (float)": lambda y: y / 10.0,
    "DC offset +0.01": lambda y: y + 0.01,
    "DC offset +0.05": lambda y: y + 0.05,
    "float source at 48 kHz": via_48k,
    "1 s zeros both ends": lambda y: np.concatenate([np.zeros(16000), y, np.zeros(16000)]),
}
BELOW_FLOOR = {  # content changed only below the noise floor
    "gain -20 dB (16-bit)": lambda y: pcm16(y / 10.0),
    "near-silence as exact zeros": lambda y: np.where(np.abs(y) < 3e-4, 0.0, y),
}


@pytest.mark.parametrize("name", list(EXACT))
def test_gain_dc_rate_and_padding_change_nothing(clean, name):
    z = shifts(clean, EXACT[name])
    assert np.percentile(z, 99) < 0.05 and z.max() < 0.5, (name, z.max())


@pytest.mark.parametrize("name", list(BELOW_FLOOR))
def test_rounding_and_digital_silence_below_the_floor_barely_move_features(clean, name):
    z = shifts(clean, BELOW_FLOOR[name])
    assert z.mean() < 0.2 and np.percentile(z, 99) < 1.5, (name, z.mean())


def test_preprocess_removes_dc_and_normalises_the_level(clean):
    y = clean[0][0]
    a, b = preprocess(y, config=CONFIG), preprocess(0.01 * y + 0.02, config=CONFIG)
    assert a.dtype == np.float32 and abs(float(a.mean())) < 1e-3
    np.testing.assert_allclose(a, b, atol=1e-3)  # where y was exactly 0: 0 vs ~1e-4
    frames = np.lib.stride_tricks.sliding_window_view(a.astype(np.float64), CONFIG.win_length)
    power = np.mean(frames[::CONFIG.hop_length] ** 2, axis=1)
    assert np.percentile(power, 95) == pytest.approx(1.0, rel=1e-3)


def test_trim_cuts_a_noise_padding_like_digital_silence(clean):
    y = clean[0][0]
    noise = 1e-3 * np.abs(y).max() * np.random.default_rng(0).standard_normal(16000)
    padded = np.concatenate([noise, y, noise])
    assert trim_silence(padded, top_db=80.0).size > y.size  # 80 dB: the noise is kept
    kept = trim_silence(padded, top_db=80.0, noise_margin_db=10.0)
    offset = (kept.__array_interface__["data"][0]
              - padded.__array_interface__["data"][0]) // padded.itemsize
    assert 16000 - 512 <= offset and offset + kept.size <= 16000 + y.size + 512
    assert kept.size > 0.5 * trim_silence(y, top_db=40.0).size  # the speech is kept
    with pytest.raises(ParameterError, match="noise_margin_db"):
        trim_silence(y, noise_margin_db=0.0)


def test_guard_band_and_floor_are_validated():
    assert FeatureConfig(fmax_hz=7000).hash == CONFIG.hash  # 7000 == 7000.0: one hash
    assert FeatureConfig(floor_db=40.0).hash != CONFIG.hash
    with pytest.raises(ParameterError, match="fmax_hz"):
        FeatureConfig(fmax_hz=9000.0)
    with pytest.raises(ParameterError, match="floor_db"):
        FeatureConfig(floor_db=0.0)
