"""The clip's long-term spectral shape divided out (experiments/tilt_ablation.py)."""

import numpy as np
import scipy.fft

from ser_classic import features
from ser_classic.data import load_audio

from .conftest import RAVDESS, experiment

ta = experiment("tilt_ablation")
bench = experiment("bench_conditions")
CLIP = RAVDESS / "Actor_17" / "03-01-05-01-01-01-17.flac"


def test_a_smooth_colouring_is_all_the_shape_and_the_formants_are_not():
    rng = np.random.default_rng(0)
    power = rng.exponential(size=(300, 80)) * np.exp(np.sin(np.arange(300) / 7.0))[:, None]
    basis = scipy.fft.idct(np.eye(300)[2], norm="ortho")  # a smooth curve (DCT term 2)
    coloured = power * np.exp(5.0 * basis)[:, None]
    moved = ta.long_term_shape(coloured, 4) - ta.long_term_shape(power, 4)
    np.testing.assert_allclose(moved, 5.0 * (basis - basis.mean()), atol=1e-9)
    # the fine structure (a ripple of period 44 bins) is not part of the smooth shape
    assert np.ptp(ta.long_term_shape(power, 4)) < 0.5 * np.ptp(ta.long_term_shape(power, 0))
    flat = power * np.exp(-ta.long_term_shape(power, 0))[:, None]
    assert np.ptp(np.log(flat.mean(axis=1))) < 1e-9


def test_a_shelf_moves_the_shape_free_features_less_and_the_library_is_restored():
    config = features.FeatureConfig()
    y = load_audio(CLIP, sr=16000).astype(np.float64)
    brighter = bench.colouring_transforms()["high shelf +6 dB at 2 kHz (brighter)"]
    yc = brighter(y, np.random.default_rng(0))[0]
    names = features.feature_names(config=config)
    shape = [names.index(n) for n in ("centroid_p50", "slope_p50", "alpha_ratio_p50",
                                      "hammarberg_p50")]

    def change() -> np.ndarray:
        x0, x1 = (features.extract_features(w, config=config) for w in (y, yc))
        return np.abs(x1 - x0)[shape]

    shipped_analysis, shipped = features._Analysis, change()
    with ta.analysis_as(ta.tilt_analysis(4)):
        assert features._Analysis is not shipped_analysis
        smoothed = change()
    assert features._Analysis is shipped_analysis
    assert np.all(smoothed < 0.7 * shipped)


def test_a_lead_gains_colouring_agreement_and_keeps_the_rest():
    def variant(colour: float, loco: float = 0.40, met: int = 2) -> dict:
        acc = {"group6 ridge": 0.6, "group6 logreg": 0.6, "loco mean": loco}
        inv = {f"t{i}": {k: {"agreement": 1.0 if i < met else 0.5, "mean_abs_dp": 0.0}
                         for k in ("strict", "speaker_norm")} for i in range(4)}
        col = {f"c{i}": {k: {"agreement": colour, "mean_abs_dp": 0.1}
                         for k in ("strict", "speaker_norm")} for i in range(5)}
        return {"accuracy": {"strict": acc, "speaker_norm": acc}, "invariance": inv,
                "colouring": col}

    summary = {"variants": {"shipped": variant(0.80), "lead": variant(0.86),
                            "small": variant(0.84), "costly": variant(0.9, loco=0.39),
                            "fewer": variant(0.9, met=1)}}
    assert ta.leads(summary) == ["lead"]
    assert "| **mean agreement" in "\n".join(ta.colouring_table(summary))
