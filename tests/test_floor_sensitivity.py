"""experiments/floor_sensitivity.py: the floor, its SNR, the feature parts, and the
committed report."""

import json

import numpy as np

from ser_classic.features import FeatureConfig, feature_names

from .conftest import ROOT, experiment

fs = experiment("floor_sensitivity")


def test_the_floor_is_minus_60_dbfs_and_its_snr_is_measured_against_the_clip():
    y = np.zeros(16000)
    y[4000:8000] = 0.1 * np.sin(np.arange(4000) * 0.1)  # a quarter of loud frames
    noise = fs.floored(y, np.random.default_rng(0)) - y
    assert abs(20 * np.log10(np.sqrt(np.mean(noise ** 2))) + 60.0) < 0.3
    whole, loud = fs.floor_snr_db(y)
    tone = 10 * np.log10(0.1 ** 2 / 2 / 1e-6)  # the tone's SNR against the floor
    assert abs(loud - tone) < 1.0 and abs(whole - (tone - 10 * np.log10(4))) < 0.5


def test_a_relative_floor_sits_that_far_below_the_loud_frames():
    y = np.zeros(16000)
    y[4000:8000] = 0.1 * np.sin(np.arange(4000) * 0.1)
    noise = fs.relative_floor(y, 40.0, np.random.default_rng(0)) - y
    level = 10 * np.log10(fs.loud_power(y) / np.mean(noise ** 2))
    assert abs(level - 40.0) < 0.3


def test_every_feature_has_one_family_and_one_functional():
    names = feature_names(config=FeatureConfig())
    keys = fs.parts(names)
    assert {"mfcc", "mel", "band", "f0", "chroma", "contrast", "rms"} <= set(keys["family"])
    assert {"std", "min", "d_p50"} <= set(keys["functional"])
    assert all(len(v) == len(names) for v in keys.values())


def test_committed_report_renders_from_its_summary():
    out = ROOT / "reports" / "floor_sensitivity"
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "report.md").read_text() == fs.render(summary)
    for m in summary["models"].values():
        assert 0.0 <= m["agreement"] <= 1.0 and len(m["family"]) > 10


def test_putting_every_feature_back_restores_every_answer():
    import ser_classic
    from ser_classic.data import load_audio
    from ser_classic.features import extract_features

    rec = ser_classic.load("teacher")
    clips = sorted((ROOT.parent / "shared/data/ravdess/Actor_03").glob("*.flac"))[:4]
    clean = [load_audio(p, sr=16000).astype(np.float64) for p in clips]
    X0 = np.stack([extract_features(y, config=rec.feature_config) for y in clean])
    X1 = np.stack([extract_features(fs.floored(y, np.random.default_rng(i)),
                                    config=rec.feature_config) for i, y in enumerate(clean)])
    assert not np.allclose(X0, X1)
    whole = fs.restored(rec, X0, X1, np.zeros(X0.shape[1], dtype=int))
    assert whole == {"0": {"n": X0.shape[1], "agreement": 1.0}}
