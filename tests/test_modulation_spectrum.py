"""Modulation spectral features (experiments/modulation_spectrum.py) on real clips."""

import numpy as np

from ser_classic import data
from ser_classic.features import FeatureConfig

from .conftest import DATA, experiment

modulation = experiment("modulation_spectrum")
floor = experiment("floor_ablation")
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
    def rows(norm, loco):
        return [{"normalization": norm, "variant": v, "loco mean": m, "group6 ridge": 0.6,
                 "group6 logreg": 0.6, **{f"loco {c}": m for c in floor.CORPORA}}
                for v, m in (("baseline", 0.40), (modulation.ADDED, loco),
                             ("modulation spectrum alone", 0.2))]

    summary = {"command": "c", "seconds": 1.0,
               "results": rows("strict", 0.41) + rows("speaker_norm", 0.405)}
    assert "not a lead" in modulation.render(summary)
    summary["results"] = rows("strict", 0.41) + rows("speaker_norm", 0.41)
    assert "a lead under both normalisations" in modulation.render(summary)
