from __future__ import annotations

import numpy as np
import pytest

from ser_classic.augment import (
    AugmentConfig,
    mask_spectrogram,
    pad_trim,
    random_shift,
    spectrogram,
    trim_silence,
    warp_frequencies,
)
from ser_classic.errors import ParameterError

from .conftest import speechlike


def test_pad_trim_lengths():
    y = np.arange(10, dtype=np.float32) + 1
    assert pad_trim(y, length=6).tolist() == [3, 4, 5, 6, 7, 8]
    assert pad_trim(y, length=6, align="start").tolist() == [1, 2, 3, 4, 5, 6]
    padded = pad_trim(y, length=14)
    assert padded.size == 14 and padded[:2].tolist() == [0, 0] and padded[2] == 1
    with pytest.raises(ParameterError, match="length must be > 0"):
        pad_trim(y, length=0)


def test_trim_silence_cuts_leading_and_trailing_silence():
    voice = speechlike(16000, 1.0)
    y = np.concatenate([np.zeros(8000, np.float32), voice, np.zeros(16000, np.float32)])
    trimmed = trim_silence(y, top_db=40)
    assert 15000 < trimmed.size < 17500


def test_shift_same_seed_same_output_and_keeps_length():
    y = speechlike(16000, 1.0)
    a = random_shift(y, rng=np.random.default_rng(3), max_shift=4000)
    b = random_shift(y, rng=np.random.default_rng(3), max_shift=4000)
    c = random_shift(y, rng=np.random.default_rng(4), max_shift=4000)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.size == y.size
    impulse = np.zeros(16000, np.float32)
    impulse[8000] = 1.0
    moved = random_shift(impulse, rng=np.random.default_rng(3), max_shift=4000)
    shift = int(np.flatnonzero(moved)[0]) - 8000
    assert moved.sum() == 1.0 and 0 < abs(shift) <= 4000
    np.testing.assert_array_equal(a[max(shift, 0):16000 + min(shift, 0)],
                                  y[max(-shift, 0):16000 - max(shift, 0)])


@pytest.mark.parametrize("value", ["zero", "mean"])
def test_masks_really_mask_bands_and_frames(value):
    S = spectrogram(speechlike(16000, 1.0), n_fft=1024, win_length=640, hop_length=160)
    masked = mask_spectrogram(S, rng=np.random.default_rng(0), n_freq_masks=2,
                              max_freq_width=30, n_time_masks=2, max_time_width=15,
                              value=value)
    fill = 0.0 if value == "zero" else S.mean()
    rows = np.all(np.isclose(masked, fill), axis=1)
    cols = np.all(np.isclose(masked, fill), axis=0)
    assert rows.sum() > 0 and cols.sum() > 0
    untouched = ~rows[:, None] & ~cols[None, :]
    assert np.array_equal(masked[untouched], S[untouched])
    again = mask_spectrogram(S, rng=np.random.default_rng(0), n_freq_masks=2,
                             max_freq_width=30, n_time_masks=2, max_time_width=15,
                             value=value)
    assert np.array_equal(masked, again)


def test_spectrogram_matches_librosa_stft():
    import librosa

    y = speechlike(16000, 0.5)
    ours = spectrogram(y, n_fft=1024, win_length=640, hop_length=160)
    ref = np.abs(librosa.stft(y, n_fft=1024, win_length=640, hop_length=160,
                              pad_mode="constant"))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-4 * ref.max())


def test_augment_config_validation_and_hash():
    assert AugmentConfig().hash == AugmentConfig().hash
    assert AugmentConfig(n_copies=3).hash != AugmentConfig().hash
    with pytest.raises(ParameterError):
        AugmentConfig(mask_value="noise")
    warped = AugmentConfig(warp_factors=(0.9, 1.1))
    assert warped.hash != AugmentConfig().hash
    assert [warped.warp_of(k) for k in range(3)] == [0.9, 1.1, 0.9]
    assert AugmentConfig().warp_of(1) == 1.0
    with pytest.raises(ParameterError):
        AugmentConfig(warp_factors=(0.0,))


@pytest.mark.parametrize("alpha", [0.9, 1.1])
def test_warp_moves_a_formant_by_alpha_and_keeps_nyquist(alpha):
    n_bins, sr = 513, 16000
    S = np.full((n_bins, 4), 1e-3, dtype=np.float32)
    S[64] = 1.0  # a peak at 1000 Hz, below the warp boundary
    W = warp_frequencies(S, alpha=alpha, sample_rate=sr)
    assert W.shape == S.shape and W.dtype == S.dtype
    hz_per_bin = sr / 2 / (n_bins - 1)
    assert abs(W[:, 0].argmax() * hz_per_bin - 1000 * alpha) <= hz_per_bin
    np.testing.assert_allclose(W[[0, -1]], S[[0, -1]])  # 0 Hz and Nyquist stay put
    assert warp_frequencies(S, alpha=1.0, sample_rate=sr) is S
    with pytest.raises(ParameterError):
        warp_frequencies(S, alpha=-1.0, sample_rate=sr)
