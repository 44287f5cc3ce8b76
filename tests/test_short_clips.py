"""Training on short crops for short inputs (experiments/short_clips.py)."""

import json

import numpy as np
import pytest

from ser_classic.data import load_audio
from ser_classic.features import FeatureConfig, extract_features

from .conftest import ROOT, experiment

short = experiment("short_clips")
duration = experiment("clip_duration")


def test_crops_lie_inside_the_speech_and_cuts_are_clip_durations(ravdess_manifest):
    path = ravdess_manifest["path"].iloc[0]
    config = FeatureConfig()
    cuts, crops = short.clip_rows(path, rng=np.random.default_rng(0), config=config)
    expected_cuts, _ = duration.speech_cuts(path, config=config)
    np.testing.assert_array_equal(cuts, expected_cuts)
    assert crops.shape == (short.N_CROPS, cuts.shape[1]) and np.isfinite(crops).all()
    assert not np.allclose(crops[0], crops[1])
    again = short.clip_rows(path, rng=np.random.default_rng(0), config=config)[1]
    np.testing.assert_array_equal(crops, again)  # the crops come from the rng alone
    # a crop is neither the whole clip nor its first seconds
    whole = extract_features(load_audio(path, sr=config.sample_rate), config=config)
    assert not any(np.allclose(c, whole) for c in crops)


def test_a_clip_shorter_than_the_crop_gives_its_whole_speech(tmp_path):
    import soundfile as sf

    config = FeatureConfig()
    sr = config.sample_rate
    t = np.arange(int(0.4 * sr)) / sr
    speech = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t))
    y = np.concatenate([np.zeros(sr // 2), speech, np.zeros(sr // 2)])
    sf.write(tmp_path / "short.wav", y, sr, subtype="PCM_16")
    _, crops = short.clip_rows(str(tmp_path / "short.wav"), rng=np.random.default_rng(1),
                               config=config)
    np.testing.assert_allclose(crops[0], crops[1])  # both crops are the whole speech


def test_crop_weights_balance_classes_and_sum_to_the_whole_clips():
    rng = np.random.default_rng(0)
    views = {short.WHOLE: rng.normal(size=(6, 3))}
    crop_view = rng.normal(size=(12, 3))
    crop_clip = np.repeat(np.arange(6), short.N_CROPS)
    y = np.array(list("aabbcc"))
    corpus = np.array(["emovo"] * 2 + ["tess"] * 4)
    held = corpus == "emovo"
    X, labels, w, tests = short._fold_rows(views, crop_view, crop_clip, y, corpus,
                                           "loco emovo", "whole+crops, crop weight 0.25",
                                           held)
    assert X.shape == (4 + 8, 3) and list(labels[:4]) == list("bbcc")
    np.testing.assert_allclose(w, [2 / 3] * 4 + [1 / 6] * 8)  # a crop weighs 0.25 a clip
    assert w.sum() == pytest.approx(4)  # as much as the whole clips: the same penalty
    _, _, w_equal, _ = short._fold_rows(views, crop_view, crop_clip, y, corpus,
                                        "loco emovo", "whole+crops", held)
    np.testing.assert_allclose(w_equal, 1 / 3)
    assert tests[short.WHOLE].shape == (2, 3)
    _, _, w_plain, _ = short._fold_rows(views, crop_view, crop_clip, y, corpus,
                                        "loco emovo", "whole", held)
    assert w_plain is None


def test_the_verdict_needs_both_normalisations_and_whole_clips_kept():
    def scores(cut: float, whole: float, group6: float) -> dict:
        per = {f"loco {c}": {str(L): {"uar": cut, "ece": 0.1} for L in short.LENGTHS}
               for c in short.CORPORA}
        for c in short.CORPORA:
            per[f"loco {c}"][short.WHOLE] = {"uar": whole, "ece": 0.1}
        per["group6"] = {short.WHOLE: {"uar": group6, "ece": 0.1}}
        return per

    base = scores(0.30, 0.40, 0.60)
    results = {"strict": {"whole": base, "whole+crops": scores(0.33, 0.395, 0.60)},
               "speaker_norm": {"whole": base, "whole+crops": scores(0.33, 0.40, 0.58)}}
    v = short.verdict(results)["whole+crops"]
    assert v["strict"]["holds"] and not v["speaker_norm"]["holds"] and not v["lead"]
    results["speaker_norm"]["whole+crops"] = scores(0.32, 0.391, 0.595)
    assert short.verdict(results)["whole+crops"]["lead"]


def test_the_report_gives_the_rule_at_other_seeds():
    def verdicts(holds: bool) -> dict:
        row = {"cut gain": 0.03, "whole loco": -0.02, "whole group6": 0.0, "holds": holds}
        return {p: {"strict": row, "speaker_norm": row, "lead": holds}
                for p in short.CANDIDATES}

    committed = json.loads((ROOT / "reports/short_clips/summary.json").read_text())
    summary = {**committed, "results": {k: v for k, v in committed["results"].items()
                                        if k != "more seeds"}}
    assert "other seeds" not in short.render(summary)
    summary["results"]["more seeds"] = {"7": verdicts(False), "8": verdicts(True)}
    report = short.render(summary)
    assert "| 7 | strict | " + " | ".join(["+0.030 / -0.020 / +0.000"] * 3) + " |" in report
    assert "| 8 | speaker_norm | " + " | ".join(["**+0.030 / -0.020 / +0.000**"] * 3) \
        + " |" in report
    assert f"Leads at another seed: {', '.join(sorted(short.CANDIDATES))}." in report


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/short_clips/summary.json").read_text())
    assert short.render(summary) == (ROOT / "reports/short_clips/report.md").read_text()
    assert set(summary["results"]["verdict"]) == set(short.CANDIDATES)
