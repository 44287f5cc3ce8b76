"""Modulation spectral features (experiments/modulation_spectrum.py) on real clips."""

import numpy as np

from ser_classic import data
from ser_classic.features import FeatureConfig

from .conftest import DATA, added_columns_summary, experiment

modulation = experiment("modulation_spectrum")
CONFIG = FeatureConfig()


def _clip(actor: str, index: int) -> np.ndarray:
    path = sorted((DATA / "ravdess" / actor).glob("*.flac"))[index]
    return data.load_audio(path, sr=CONFIG.sample_rate)


def test_columns_are_shares_of_each_bands_modulation_and_do_not_depend_on_gain():
    y = _clip("Actor_01", 0)
    f = modulation.modulation_features(y, config=CONFIG)
    n = modulation.N_BANDS
    assert f.shape == (n * len(modulation.MOD_EDGES_HZ),) and np.isfinite(f).all()
    np.testing.assert_allclose(f[n:].reshape(n, -1).sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(modulation.modulation_features(0.05 * y, config=CONFIG), f,
                               atol=1e-4)
    # a pure tone has a flat envelope: its modulation power is far below speech's
    t = np.arange(CONFIG.sample_rate * 2) / CONFIG.sample_rate
    tone = modulation.modulation_features(0.1 * np.sin(2 * np.pi * 440 * t), config=CONFIG)
    assert tone[:n].max() < f[:n].min()


def test_a_slow_and_a_fast_tremor_fill_different_modulation_bands():
    t = np.arange(CONFIG.sample_rate * 3) / CONFIG.sample_rate
    noise = np.random.default_rng(0).normal(size=t.size)
    n = modulation.N_BANDS
    share = {}
    for rate in (3.0, 12.0):
        y = 0.1 * noise * (1.1 + np.sin(2 * np.pi * rate * t))
        f = modulation.modulation_features(y, config=CONFIG)
        share[rate] = f[n:].reshape(n, -1).mean(axis=0)  # over the acoustic bands
    assert share[3.0].argmax() == 1 and share[12.0].argmax() == 3  # 2-4 Hz, 8-16 Hz


def test_the_verdict_follows_row_selections_rule():
    def report(strict, speaker_norm):
        summary = added_columns_summary(modulation.ADDED, "modulation spectrum alone",
                                        strict=strict, speaker_norm=speaker_norm)
        return modulation.render(summary)

    assert "not a lead" in report(0.41, 0.405)
    assert "a lead under both normalisations" in report(0.41, 0.41)
