"""experiments/synthetic_speech.py: eSpeak NG through its C API, the shipped models on it,
and the committed report."""

import json

import numpy as np

import ser_classic

from .conftest import ROOT, experiment
from .deploy_models import tiny_model

ss = experiment("synthetic_speech")


def test_settings_follow_the_rule_table():
    assert ss.settings("neutral") == ss.DEFAULTS
    assert ss.settings("angry") == {"rate": 201, "pitch": 80, "range": 68}  # +15 %, +60, +35
    assert ss.settings("disgust") == {"rate": 70, "pitch": 20, "range": 58}
    for rule in ss.RULES:
        assert all(0 <= v <= 99 for k, v in ss.settings(rule).items() if k != "rate")


def test_espeak_speaks_at_the_rate_and_pitch_it_is_given():
    import librosa

    tts = ss.Espeak()
    text = ss.SENTENCES["de"][0]
    clips = {rule: tts.say(text, voice="de", **ss.settings(rule))
             for rule in ("sad", "neutral", "fearful")}
    assert all(c.dtype == np.int16 and c.size > ss.SAMPLE_RATE for c in clips.values())
    seconds = {r: c.size / ss.SAMPLE_RATE for r, c in clips.items()}
    assert seconds["fearful"] < seconds["neutral"] < seconds["sad"]  # faster, slower
    f0 = {r: np.nanmedian(librosa.pyin(c / 32768.0, fmin=60, fmax=500, sr=ss.SAMPLE_RATE)[0])
          for r, c in clips.items()}
    assert f0["sad"] < f0["neutral"] < f0["fearful"]  # lower, higher
    again = tts.say(text, voice="de", **ss.settings("sad"))
    assert abs(again.size - clips["sad"].size) < 0.01 * again.size  # the same prosody
    try:
        tts.say(text, voice="xx-nonexistent", **ss.DEFAULTS)
    except ValueError as exc:
        assert "xx-nonexistent" in str(exc)
    else:
        raise AssertionError("an unknown voice was accepted")


def test_shipped_models_score_the_synthetic_clips():
    clips, meta = ss.synthesise(languages=("en", "fr"), variants=("",),
                                rules=("neutral", "sad", "fearful"), sentences=2)
    assert len(clips) == len(meta) == 12
    for name in ("deployed", "deployed-speaker_norm"):
        scored = ss.score(clips, meta, name)
        np.testing.assert_allclose(scored["proba"].sum(axis=1), 1.0, atol=1e-5)
        assert np.isfinite(scored["atypicality"]).all()
        summary = ss.summarise(scored, meta)
        assert summary["neutral"]["clips"] == 4 and set(summary["rules"]) == {"sad", "fearful"}
        assert set(summary["languages"]) == {"en", "fr"}
        for rule in summary["rules"].values():
            assert 0.0 <= rule["p rises over neutral"] <= 1.0
            assert np.isclose(sum(rule["mean p"].values()), 1.0, atol=0.01)
        # the arousal columns are the library's groups="arousal" of the same clips
        rec = ser_classic.load(name)
        if rec.normalization == "strict":
            np.testing.assert_allclose(scored["arousal"], rec.predict_proba(
                clips, sr=ss.SAMPLE_RATE, groups="arousal"), atol=1e-6)
        assert [summary["rules"][r]["arousal"]["group"] for r in ("sad", "fearful")] == [
            "low", "high"]


def test_a_neutral_ref_model_hears_each_neutral_rendering_against_the_others(
        small_manifest, feature_cache):
    import ser_classic

    train = small_manifest[small_manifest["speaker"].isin(["ravdess_01", "ravdess_02"])]
    model = tiny_model(train.reset_index(drop=True), feature_cache,
                       normalization="neutral_ref", name="logreg", params={"clf__C": 0.003})
    clips, meta = ss.synthesise(languages=("en",), variants=("",), rules=("neutral", "sad"),
                                sentences=3)
    scored = ss.score(clips, meta, "tiny-neutral_ref", str(model))
    recognizer = ser_classic.load(model)
    others = recognizer.enroll(clips[1:3], sr=ss.SAMPLE_RATE)
    np.testing.assert_allclose(scored["proba"][0], recognizer.predict_proba(
        clips[0], sr=ss.SAMPLE_RATE, speaker=others), atol=1e-6)
    every = recognizer.enroll(clips[:3], sr=ss.SAMPLE_RATE)
    np.testing.assert_allclose(scored["proba"][3:], recognizer.predict_proba(
        clips[3:], sr=ss.SAMPLE_RATE, speaker=every), atol=1e-6)
    assert scored["normalization"] == "neutral_ref"


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/synthetic_speech/summary.json").read_text())
    assert ss.render(summary) == (ROOT / "reports/synthetic_speech/report.md").read_text()
    assert set(summary["results"]) == {*ss.MODELS, "teacher-neutral_ref"}
    assert set(summary["other voices"]) == set(summary["results"])
    for per_voice in summary["other voices"].values():
        assert set(per_voice) == set(ss.OTHER_VARIANTS)
        assert all(v["neutral"]["clips"] == 20 for v in per_voice.values())
    for result in summary["results"].values():
        assert result["neutral"]["clips"] == 40
        assert set(result["rules"]) == set(ss.RULES) - {"neutral"}
        assert set(result["languages"]) == set(ss.SENTENCES)
