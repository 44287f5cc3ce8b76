"""experiments/voice_chain.py: conditions copies with one chain per voice, and the committed
report."""

import json

import numpy as np

from ser_classic.augment import AugmentConfig
from ser_classic.pipeline import AUGMENT_VARIANTS, augmented_features

from .conftest import ROOT, experiment

vc = experiment("voice_chain")
CHAIN = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS[vc.PRESET]).condition_chain


def test_a_voice_has_one_plan_per_seed():
    plan = vc.voice_plan(CHAIN, "ravdess_01", seed=0)
    assert plan == vc.voice_plan(CHAIN, "ravdess_01", seed=0)
    assert plan != vc.voice_plan(CHAIN, "ravdess_01", seed=1)
    assert len({repr(vc.voice_plan(CHAIN, f"ravdess_{i:02d}", seed=0))
                for i in range(1, 9)}) == 8


def test_voice_copies_are_deterministic_and_not_the_per_clip_copies(small_manifest):
    from ser_classic.features import FeatureConfig, feature_names

    rows = small_manifest[small_manifest["speaker"].isin(["ravdess_01", "ravdess_02"])]
    rows = rows.iloc[::20].reset_index(drop=True)  # 6 clips of 2 voices
    first = vc.voice_copies(rows, seed=0, n_jobs=1)
    assert first.shape == (len(rows), len(feature_names(config=FeatureConfig())))
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, vc.voice_copies(rows, seed=0, n_jobs=1))
    per_clip = augmented_features(vc.PRESET, rows, config=FeatureConfig(), copies=1)[0]
    assert not np.allclose(first, per_clip)


def test_committed_report_renders_from_its_summary():
    out = ROOT / "reports" / "voice_chain"
    summary = json.loads((out / "summary.json").read_text())
    assert vc.render(summary) == (out / "report.md").read_text()
    assert set(summary["results"]) == set(vc.NORMALIZATIONS)
