"""The corpora's long-term spectra (experiments/corpus_spectra.py), on real clips and
signals with a known spectrum."""

import numpy as np
import pandas as pd

from .conftest import experiment

cs = experiment("corpus_spectra")


def test_band_levels_follow_a_known_spectrum_and_ignore_level_and_pauses():
    rng = np.random.default_rng(0)
    white = rng.normal(scale=0.1, size=32000)  # the same power per Hz in every band
    levels = cs.band_levels(white)
    assert levels.shape == (len(cs.BANDS),) and np.all(np.abs(levels) < 1.0)
    t = np.arange(32000) / cs.SR
    tone = 0.3 * np.sin(2 * np.pi * 1000 * t) + white * 0.01
    tone[-1600:] *= np.hanning(3200)[1600:]  # faded out: no click at the pause
    assert cs.BANDS[int(np.argmax(cs.band_levels(tone)))] == "800-1600"
    quiet_pause = np.concatenate([tone, 0.003 * rng.normal(size=16000)])  # 37 dB down
    np.testing.assert_allclose(cs.band_levels(0.1 * quiet_pause), cs.band_levels(tone),
                               atol=0.2)


def test_report_sets_corpora_against_emotions(small_manifest):
    rows = small_manifest.groupby("emotion").head(2)
    per_clip = cs.measure(rows)
    assert list(per_clip.columns[-len(cs.BANDS):]) == cs.BANDS
    assert np.isfinite(per_clip[cs.BANDS].to_numpy()).all()
    other = per_clip.assign(corpus="other", speaker="other_1")
    other[cs.BANDS] += 3.0  # a brighter corpus, emotion for emotion
    text, summary = cs.render(pd.concat([per_clip, other], ignore_index=True),
                              command="corpus_spectra", seconds=1.0)
    assert "| neutral, span over corpora | 3.0 | 3.0" in text
    assert summary["neutral_nearest_other_corpus"]["other"][0][0] == "ravdess/neutral"
