"""The silence trim's edge-noise rule (experiments/trim_ablation.py)."""

import numpy as np
import pandas as pd

from ser_classic import augment, features
from ser_classic.conditions import pad
from ser_classic.data import load_audio

from .conftest import RAVDESS, experiment

ta = experiment("trim_ablation")
SHIPPED = next(iter(ta.VARIANTS.values()))  # the library's rule
TIGHT = ("loudest", 3.0, 6.0)
CLIP = RAVDESS / "Actor_17" / "03-01-05-01-01-01-17.flac"


def _quiet_padded() -> np.ndarray:
    """A real clip (peak -20 dBFS) 10 dB quieter, with 1 s of -60 dBFS white noise at both
    ends: the noise is within 20 dB of its loudest frame."""
    y = 10 ** (-10 / 20) * load_audio(CLIP, sr=16000).astype(np.float64)
    return pad(y, lead_s=1.0, trail_s=1.0, floor_dbfs=-60.0, rng=np.random.default_rng(0))


def _kept_seconds_of_padding(y: np.ndarray) -> float:
    s0, _, start, stop, _ = features._kept_spans(y, features.FeatureConfig())
    first, last = s0 + start, s0 + stop
    return (max(0, 16000 - first) + max(0, last - (y.size - 16000))) / 16000


def test_the_shipped_rule_is_the_librarys_and_the_library_is_restored():
    y = _quiet_padded()
    library_rule = augment._edge_threshold
    shipped = features._kept_spans(y, features.FeatureConfig())[:4]
    with ta.trim_rule(*SHIPPED):
        assert augment._edge_threshold is not library_rule
        assert features._kept_spans(y, features.FeatureConfig())[:4] == shipped
    assert augment._edge_threshold is library_rule


def test_a_tight_rule_cuts_the_padding_the_shipped_one_keeps():
    y = _quiet_padded()
    assert _kept_seconds_of_padding(y) > 1.5  # the headroom keeps the noise
    with ta.trim_rule(*TIGHT):
        assert _kept_seconds_of_padding(y) < 0.2
    assert _kept_seconds_of_padding(y) > 1.5


def test_padded_spans_compare_each_clip_with_itself():
    rows = pd.DataFrame({"path": [str(CLIP)] * 2})
    spans = ta.padded_spans(rows, np.array([0, 1]), features.FeatureConfig(), seed=0)
    assert spans["clips"] == 2 and 0 <= spans["identical"] <= 2
    assert spans["start_ms_max"] >= spans["start_ms_median"] >= 0


def test_report_has_every_variant_and_the_span_table():
    def variant(identical):
        acc = {"group6 ridge": 0.6, "group6 logreg": 0.6, "loco mean": 0.4,
               **{f"loco {c}": 0.4 for c in ("emovo", "ravdess", "tess")}}
        inv = {"t": {k: {"agreement": 1.0, "mean_abs_dp": 0.0}
                     for k in ("strict", "speaker_norm")}}
        return {"columns": 3, "accuracy": {"strict": acc, "speaker_norm": acc},
                "invariance": inv,
                "padded_spans": {"identical": identical, "clips": 40, "start_ms_median": 10.0,
                                 "start_ms_max": 20.0, "stop_ms_median": 30.0,
                                 "stop_ms_max": 40.0},
                "noise_accuracy": {"clean": {"strict": 0.5, "speaker_norm": 0.6},
                                   "white 20 dB": {"strict": 0.4, "speaker_norm": 0.5}}}

    text = ta.render({"command": "c", "seconds": 1.0,
                      "variants": {name: variant(i) for i, name in enumerate(ta.VARIANTS)}})
    for i, name in enumerate(ta.VARIANTS):
        assert f"| {name} | {i} / 40 | 10 / 20 | 30 / 40 |" in text
    assert "| clean | white 20 dB |" in text and "| 0.500 \\| 0.600 | 0.400 \\| 0.500 |" in text
    assert "a new feature version, every shipped model retrained" in text
