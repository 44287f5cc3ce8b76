"""Functionals over active frames only (experiments/active_frames.py)."""

import numpy as np

from ser_classic import features
from ser_classic.conditions import pad
from ser_classic.data import load_audio

from .conftest import RAVDESS, experiment

af = experiment("active_frames")
CLIP = RAVDESS / "Actor_17" / "03-01-05-01-01-01-17.flac"


def test_frames_near_the_floor_are_left_out_unless_too_few_remain():
    power = np.full((5, 10), 1e-3)
    power[:, [2, 3, 7]] = 1.0  # three loud frames, the rest 30 dB below them
    assert af.active_frames(power, 20.0).tolist() == [2, 3, 7]
    assert af.active_frames(power, 40.0).tolist() == list(range(10))
    power[:, 7] = 1e-3  # two loud frames: too few, every frame is kept
    assert af.active_frames(power, 20.0).tolist() == list(range(10))


def test_padding_noise_moves_the_active_features_less_and_the_library_is_restored():
    config = features.FeatureConfig()
    y = load_audio(CLIP, sr=16000).astype(np.float64)
    padded = pad(y, lead_s=1.0, trail_s=1.0, floor_dbfs=-60.0, rng=np.random.default_rng(0))

    def change() -> float:
        x0, x1 = (features.extract_features(w, config=config) for w in (y, padded))
        return float(np.median(np.abs(x1 - x0) / (np.abs(x0) + 1e-3)))

    shipped_analysis, shipped = features._Analysis, change()
    with af.active_only(25.0):
        assert features._Analysis is not shipped_analysis
        active = change()
        x = features.extract_features(y, config=config)
    assert features._Analysis is shipped_analysis
    assert active < 0.8 * shipped
    assert np.isfinite(x).all() and x.shape == (len(features.feature_names(config=config)),)
    # the duration descriptor counts the active frames only
    duration = features.feature_names(config=config).index("duration")
    shipped_x = features.extract_features(y, config=config)
    assert x[duration] < shipped_x[duration]
    # groups named to read every frame keep the shipped values; the others do not
    with af.active_only(25.0, ("utterance",)):
        mixed = features.extract_features(y, config=config)
    assert mixed[duration] == shipped_x[duration]
    assert np.array_equal(mixed[:duration], x[:duration])


def test_a_lead_meets_more_targets_and_keeps_the_accuracy():
    def variant(met: int, loco: float) -> dict:
        acc = {"group6 ridge": 0.6, "group6 logreg": 0.6, "loco mean": loco}
        inv = {f"t{i}": {k: {"agreement": 1.0 if i < met else 0.5, "mean_abs_dp": 0.0}
                         for k in ("strict", "speaker_norm")} for i in range(4)}
        return {"accuracy": {"strict": acc, "speaker_norm": acc}, "invariance": inv}

    summary = {"variants": {"shipped": variant(2, 0.40), "better": variant(3, 0.396),
                            "costly": variant(4, 0.39), "same": variant(2, 0.42)}}
    assert af.leads(summary) == ["better"]
