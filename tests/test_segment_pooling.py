"""experiments/segment_pooling.py: the windows, their features, the pooling and the
committed report."""

import json

import numpy as np

from ser_classic.data import load_audio
from ser_classic.features import FeatureConfig, extract_features

from .conftest import RAVDESS, ROOT, experiment

sp = experiment("segment_pooling")


def test_windows_cover_the_clip_and_the_last_ends_at_its_end():
    assert sp.window_starts(100, length=160, hop=80) == [0]
    assert sp.window_starts(160, length=160, hop=80) == [0]
    assert sp.window_starts(400, length=160, hop=80) == [0, 80, 160, 240]
    assert sp.window_starts(410, length=160, hop=80) == [0, 80, 160, 240, 250]


def test_one_window_longer_than_the_clip_gives_the_clip_features():
    path = sorted(RAVDESS.rglob("*.flac"))[0]
    whole = sp.segment_features(str(path), length_s=60.0, hop_s=30.0)
    expected = extract_features(load_audio(path), config=FeatureConfig())
    np.testing.assert_array_equal(whole, expected[None])
    short = sp.segment_features(str(path), length_s=1.0, hop_s=0.5)
    assert short.shape[0] >= 2 and short.shape[1] == expected.size
    assert np.isfinite(short).all()
    assert not np.allclose(short[0], short[-1])


def test_pooling_is_the_normalised_mean_of_the_windows_log_probabilities():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=5)
    clip = np.array([0, 0, 1, 2, 2])
    pooled = sp.pooled_log_proba(np.log(p), clip, 3)
    np.testing.assert_allclose(np.exp(pooled).sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(pooled[1]), p[2])
    geometric = np.sqrt(p[0] * p[1])
    np.testing.assert_allclose(np.exp(pooled[0]), geometric / geometric.sum())


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/segment_pooling/summary.json").read_text())
    assert sp.render(summary) == (ROOT / "reports/segment_pooling/report.md").read_text()
    for variant in summary["results"].values():
        for per in variant["loco"].values():
            assert set(per) == set(sp.CORPORA)
            assert all(set(v) == set(sp.POOLINGS) for v in per.values())
