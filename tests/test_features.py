from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ser_classic import data
from ser_classic.augment import AugmentConfig, mask_spectrogram, spectrogram
from ser_classic.errors import ParameterError
from ser_classic.features import (
    FeatureConfig,
    _acf_peaks,
    _band_extremes,
    _filters,
    _rolloff_bins,
    augmented_features,
    extract_batch,
    extract_features,
    feature_names,
)

from .conftest import speechlike

CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def clips(small_manifest):
    return small_manifest.iloc[::20].reset_index(drop=True)  # 12 clips, 4 actors


def test_names_match_vector_and_are_finite(clips):
    names = feature_names(config=CONFIG)
    assert len(names) == len(set(names)) > 2000
    x = extract_features(data.load_audio(clips.loc[0, "path"]), config=CONFIG)
    assert x.shape == (len(names),) and np.all(np.isfinite(x))
    assert {"mfcc0_d_mean", "f0_p50", "voicing_mean", "centroid_d_std", "jitter",
            "mfcc0_voiced_mean", "f0_up50", "pause_mean"} <= set(names)


def test_relative_levels_and_extended_descriptors(clips):
    """Level LLDs lose their mean and their order statistics become relative to it."""
    plain = FeatureConfig(relative_levels=False, extended=False)
    assert plain.hash != CONFIG.hash
    y = data.load_audio(clips.loc[1, "path"])
    absolute = dict(zip(feature_names(config=plain), extract_features(y, config=plain),
                        strict=True))
    relative = dict(zip(feature_names(config=CONFIG), extract_features(y, config=CONFIG),
                        strict=True))
    for lld in ("mfcc3", "mel10", "band250_650", "rms_db", "f0"):
        assert f"{lld}_mean" not in relative
        for func in ("min", "p50", "max"):
            assert relative[f"{lld}_{func}"] == pytest.approx(
                absolute[f"{lld}_{func}"] - absolute[f"{lld}_mean"], abs=1e-9)
        assert relative[f"{lld}_std"] == absolute[f"{lld}_std"]
    for name in ("bandwidth_mean", "centroid_mean", "mfcc3_d_mean", "zcr_mean"):
        assert relative[name] == absolute[name]  # not levels, or deltas: unchanged
    extended = set(relative) - set(absolute)
    assert len(extended) == len(relative) - len(absolute) + 20 + 40 + 6 + 1 + 1 == 723
    assert 0 < relative["voiced_segment_rate"] < 20 and relative["f0_up25"] <= 1


def test_training_path_equals_inference_path(clips, feature_cache):
    """Cached, parallel batch extraction gives exactly the single-clip inference values."""
    X, errors, _ = extract_batch(clips["path"], sha256=clips["sha256"], config=CONFIG,
                                 cache_dir=feature_cache, n_jobs=2)
    assert errors == []
    for i in (0, 5, 11):
        x = extract_features(data.load_audio(clips.loc[i, "path"]), config=CONFIG)
        np.testing.assert_array_equal(X[i], x)


def test_pruned_extractor_gives_exact_values(clips):
    names = feature_names(config=CONFIG)
    y = data.load_audio(clips.loc[3, "path"])
    full = extract_features(y, config=CONFIG)
    rng = np.random.default_rng(0)
    for size in (1, 7, 40):
        pick = [names[i] for i in rng.choice(len(names), size=size, replace=False)]
        sub = extract_features(y, config=CONFIG, select=pick)
        np.testing.assert_array_equal(sub, full[[names.index(n) for n in pick]])
    with pytest.raises(ParameterError, match="unknown feature name"):
        extract_features(y, config=CONFIG, select=["nope_mean"])


def test_cache_hit_miss_and_invalidation(tmp_path, clips):
    cache = tmp_path / "cache"
    paths, shas = clips["path"][:4], clips["sha256"][:4]
    X1, _, n1 = extract_batch(paths, sha256=shas, config=CONFIG, cache_dir=cache)
    X2, _, n2 = extract_batch(paths, sha256=shas, config=CONFIG, cache_dir=cache)
    assert (n1, n2) == (4, 0)
    np.testing.assert_array_equal(X1, X2)
    # adding files extracts only those
    _, _, n3 = extract_batch(clips["path"][:6], sha256=clips["sha256"][:6], config=CONFIG,
                             cache_dir=cache)
    assert n3 == 2
    # a changed config misses
    other = FeatureConfig(n_mfcc=13)
    assert other.hash != CONFIG.hash
    X4, _, n4 = extract_batch(paths, sha256=shas, config=other, cache_dir=cache)
    assert n4 == 4 and X4.shape[1] == len(feature_names(config=other)) < X1.shape[1]
    # a file's content, not its name, keys the cache
    renamed = tmp_path / "renamed.flac"
    shutil.copy(paths.iloc[0], renamed)
    X5, _, n5 = extract_batch([renamed], config=CONFIG, cache_dir=cache)
    assert n5 == 0
    np.testing.assert_array_equal(X5[0], X1[0])
    assert not list(cache.rglob("*.tmp"))


def test_batch_keeps_good_rows_when_a_file_fails(tmp_path, clips, audio_fixtures):
    paths = [clips.loc[0, "path"], str(audio_fixtures["notes.wav"]), clips.loc[1, "path"]]
    X, errors, n = extract_batch(paths, config=CONFIG, n_jobs=2)
    assert n == 2 and np.isnan(X[1]).all() and np.isfinite(X[[0, 2]]).all()
    assert errors[0][0] == str(audio_fixtures["notes.wav"])
    assert "not a readable audio file" in errors[0][1]


def test_augmentation_reaches_features_and_is_seeded(clips):
    y = data.load_audio(clips.loc[2, "path"])
    clean = extract_features(y, config=CONFIG)
    aug = AugmentConfig(n_freq_masks=2, max_freq_width_hz=800)
    a = augmented_features(y, config=CONFIG, augment=aug, rng=np.random.default_rng(1))
    b = augmented_features(y, config=CONFIG, augment=aug, rng=np.random.default_rng(1))
    c = augmented_features(y, config=CONFIG, augment=aug, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, clean)
    names = feature_names(config=CONFIG)
    mel = [names.index(f"mel{i}_min") for i in range(CONFIG.n_mels)]
    # a frequency or time mask flattens the minimum of some mel bands
    assert np.sum(a[mel] != clean[mel]) > 0


def test_augmented_batch_is_cached_per_copy(tmp_path, clips):
    aug = AugmentConfig()
    kw = dict(sha256=clips["sha256"][:3], config=CONFIG, cache_dir=tmp_path, augment=aug)
    A0, _, n0 = extract_batch(clips["path"][:3], copy=0, **kw)
    A0b, _, n0b = extract_batch(clips["path"][:3], copy=0, **kw)
    A1, _, n1 = extract_batch(clips["path"][:3], copy=1, **kw)
    assert (n0, n0b, n1) == (3, 0, 3)
    np.testing.assert_array_equal(A0, A0b)
    assert not np.array_equal(A0, A1)


def test_fixed_duration_and_config_round_trip():
    cfg = FeatureConfig(duration_s=2.0)
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg and hash(cfg) == hash(
        FeatureConfig(duration_s=2.0))
    assert FeatureConfig(duration_s=2).hash == cfg.hash  # an int is the same duration
    short = extract_features(speechlike(16000, 0.8), config=cfg)
    names = feature_names(config=cfg)
    assert short[names.index("duration")] == pytest.approx(2.0)
    with pytest.raises(ParameterError):
        FeatureConfig(n_mfcc=50)
    with pytest.raises(AttributeError):
        cfg.n_mels = 10  # frozen


def test_pitch_tracks_a_known_f0():
    cfg = FeatureConfig(trim_top_db=None, relative_levels=False)
    names = feature_names(config=cfg)
    for f0 in (110.0, 220.0):
        x = extract_features(speechlike(16000, 1.0, f0=f0), config=cfg)
        semitones = x[names.index("f0_p50")]
        assert 27.5 * 2 ** (semitones / 12) == pytest.approx(f0, rel=0.03)
        assert x[names.index("voiced_ratio")] > 0.6


@pytest.mark.parametrize("n", [1, 2, 4, 5, 9])
def test_band_extremes_equal_sorted_slices(n):
    """The contrast kernel adds exactly what a full sort's first/last n rows add, in order."""
    rng = np.random.default_rng(n)
    S = rng.random((60, 50), dtype=np.float32)
    S[:, 3] = 0.5  # ties
    S[10:47:5, 7] = 0.25
    bands = (np.array([0, 10, 13]), np.array([10, 47, 60]), np.array([1, n, 2]))
    for layout in (S, np.asfortranarray(S), S.astype(np.float64)):
        out = _band_extremes(layout, *bands)
        assert out.shape == (2, 3, 50) and out.dtype == layout.dtype
        for k, (lo, hi, count) in enumerate(zip(*bands, strict=True)):
            ordered = np.sort(layout[lo:hi], axis=0)
            peak, valley = ordered[-count], ordered[0]
            for m in range(1, count):  # one row after another, in the array's dtype
                peak = peak + ordered[m - count]
                valley = valley + ordered[m]
            assert np.array_equal(out[0, k], peak / layout.dtype.type(count))
            assert np.array_equal(out[1, k], valley / layout.dtype.type(count))


@pytest.fixture(scope="module")
def real_spectra(clips):
    """Power spectra of real clips: F-ordered (inference) and C-ordered (masked copies)."""
    out = []
    for k, path in enumerate(clips["path"][:4]):
        S = spectrogram(data.load_audio(path), n_fft=CONFIG.n_fft,
                        win_length=CONFIG.win_length, hop_length=CONFIG.hop_length)
        masked = mask_spectrogram(S, rng=np.random.default_rng(k), n_freq_masks=2,
                                  max_freq_width=20, n_time_masks=2, max_time_width=20)
        out += [S**2, masked**2, (S**2).astype(np.float64)]
    return out


def test_rolloff_kernel_equals_numpy_cumsum(real_spectra):
    """Exactly the first bin where np.cumsum reaches 85 %, for either layout and dtype."""
    for P in real_spectra:
        cum = np.cumsum(P, axis=0)
        expected = np.argmax(cum >= 0.85 * cum[-1:], axis=0)
        assert np.array_equal(_rolloff_bins(P, P.dtype.type(0.85)), expected)
    silent = np.zeros((513, 3), dtype=np.float32)
    assert np.array_equal(_rolloff_bins(silent, np.float32(0.85)), [0, 0, 0])


def test_acf_kernel_equals_numpy_peak_search(real_spectra):
    """Peak lag, peak value and parabolic shift as the NumPy expressions compute them."""
    import scipy.fft

    f = _filters(CONFIG)
    lag_min, lag_max = f["lags"]
    for P in real_spectra[:2]:
        acf = scipy.fft.irfft(P, n=CONFIG.n_fft, axis=0)
        r0, best, peak, shift = _acf_peaks(acf, f["win_acf"], lag_min, lag_max)
        norm = acf[: lag_max + 2] / (acf[0] + 1e-10) / f["win_acf"][:, None]
        search = norm[lag_min:lag_max + 1]
        cols = np.arange(P.shape[1])
        i = search.argmax(axis=0) + lag_min
        a, b, c = norm[i - 1, cols], norm[i, cols], norm[i + 1, cols]
        den = a - 2 * b + c
        expected = np.where(np.abs(den) > 1e-9, 0.5 * (a - c) / np.where(
            np.abs(den) > 1e-9, den, 1.0), 0.0)
        assert np.array_equal(r0, acf[0] + 1e-10)
        assert np.array_equal(best, search.argmax(axis=0))
        assert np.array_equal(peak, search.max(axis=0))
        assert np.array_equal(shift, expected)


REFERENCE = Path(__file__).parent / "data" / "reference_features.npz"
REFERENCE_CLIPS = ("ravdess/Actor_01/03-01-05-01-01-01-01.flac",
                   "ravdess/Actor_12/03-01-04-02-02-01-12.flac",
                   "tess/YAF_happy/YAF_back_happy.flac")


def _reference_clip_features() -> np.ndarray:
    """Features of the reference clips by the current extraction code [shape=(3, d)]."""
    from .conftest import DATA

    return np.stack([extract_features(data.load_audio(DATA / p, sr=CONFIG.sample_rate),
                                      config=CONFIG) for p in REFERENCE_CLIPS])


def test_features_equal_the_reference_values_of_this_feature_version():
    """Stored values of real clips: a change in the extraction code that moves any value
    fails here (then bump ``_FEATURE_VERSION`` and regenerate: ``python -m
    tests.test_features``, cached features and every report).

    Another CPU rounds float32 sums differently. On an AMD EPYC machine, 1320 of the 9249
    values moved, by at most 1.3e-6: a few float32 steps of the quantities they come from
    (log energies of order 1-10), which is large beside a value near 0 (a band's median log
    energy, -0.0029 beside -4.2 in another clip; medians of deltas). The absolute
    tolerance is 4e-6 or 1e-5 of the feature's largest value over the reference clips,
    whichever is larger; a code change moves values by far more."""
    from ser_classic.features import _FEATURE_VERSION

    ref = np.load(REFERENCE)
    assert int(ref["version"]) == _FEATURE_VERSION
    names = feature_names(config=CONFIG)
    assert list(ref["names"]) == names
    expected = ref["values"]
    got = _reference_clip_features()
    atol = np.maximum(4e-6, 1e-5 * np.abs(expected).max(axis=0))
    moved = np.abs(got - expected) > atol + 1e-5 * np.abs(expected)
    assert not moved.any(), [(REFERENCE_CLIPS[i], names[j], got[i, j], expected[i, j])
                             for i, j in np.argwhere(moved)[:10]]


if __name__ == "__main__":  # writes the reference of the current extraction code
    from ser_classic.features import _FEATURE_VERSION

    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, version=_FEATURE_VERSION, values=_reference_clip_features(),
                        names=np.array(feature_names(config=CONFIG)))
    print(f"wrote {REFERENCE}")
