"""Teager energy operator features (experiments/teager_energy.py) on real clips."""

import numpy as np

from ser_classic import data
from ser_classic.features import FeatureConfig

from .conftest import DATA, added_columns_summary, experiment

teo = experiment("teager_energy")
CONFIG = FeatureConfig()
SR = CONFIG.sample_rate


def test_the_operator_tracks_a_tones_energy():
    # psi of A sin(w n) is A^2 sin(w)^2 at every sample
    n = np.arange(2000)
    psi = teo.teager(0.5 * np.sin(0.1 * n))
    np.testing.assert_allclose(psi, 0.25 * np.sin(0.1) ** 2, rtol=1e-9)


def test_columns_do_not_depend_on_gain_and_a_modulated_energy_has_less_area():
    y = data.load_audio(sorted((DATA / "ravdess" / "Actor_01").glob("*.flac"))[0], sr=SR)
    f = teo.teager_features(y, config=CONFIG)
    assert f.shape == (4 * (len(teo.BANDS_HZ) - 1),) and np.isfinite(f).all()
    np.testing.assert_allclose(teo.teager_features(0.05 * y, config=CONFIG), f, atol=1e-6)
    # a steady energy: 1/2 (the biased autocorrelation falls linearly); a 40 Hz
    # on-off modulation inside each 25 ms frame brings the envelope down
    psi = np.ones(16000)
    steady = teo.envelope_areas(psi, frame=CONFIG.win_length, hop=CONFIG.hop_length)
    np.testing.assert_allclose(steady, 0.5, atol=0.01)
    t = np.arange(16000) / SR
    gated = psi * (np.sin(2 * np.pi * 40 * t) > 0)
    assert teo.envelope_areas(gated, frame=CONFIG.win_length,
                              hop=CONFIG.hop_length).mean() < 0.45


def test_the_verdict_follows_row_selections_rule():
    def report(strict, speaker_norm):
        summary = added_columns_summary(teo.ADDED, "Teager energy alone", strict=strict,
                                        speaker_norm=speaker_norm)
        return teo.render(summary)

    assert "not a lead" in report(0.41, 0.405)
    assert "a lead under both normalisations" in report(0.41, 0.41)
