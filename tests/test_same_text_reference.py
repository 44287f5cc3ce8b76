"""The same-text neutral reference (experiments/same_text_reference.py)."""

import numpy as np

from .conftest import experiment

same_text = experiment("same_text_reference")
floor = experiment("floor_ablation")


def _voices():
    """Two speakers, statements "a" and "b" (speaker 2 has no neutral "b"); each row's
    value encodes speaker, statement and emotion."""
    speaker = np.array(["s1"] * 6 + ["s2"] * 4)
    statement = np.array(["a", "a", "a", "b", "b", "b", "a", "a", "b", "b"])
    emotion = np.array(["neutral", "neutral", "angry", "neutral", "sad", "angry",
                        "neutral", "sad", "sad", "angry"])
    X = np.arange(10, dtype=float)[:, None] * np.array([[1.0, 10.0]])
    return X, speaker, statement, emotion == "neutral"


def test_each_clip_is_centred_on_its_voices_neutral_clips_of_its_statement():
    X, speaker, statement, reference = _voices()
    Z = same_text.same_text_reference(X, speaker, statement, reference)
    np.testing.assert_allclose(Z[2], X[2] - X[[0, 1]].mean(axis=0))  # s1, "a": two clips
    np.testing.assert_allclose(Z[5], X[5] - X[3])                     # s1, "b": one clip
    np.testing.assert_allclose(Z[7], X[7] - X[6])                     # s2, "a"
    assert np.isnan(Z[[8, 9]]).all()                                  # s2 has no neutral "b"


def test_the_control_reads_another_statement_of_the_same_voice():
    X, speaker, statement, reference = _voices()
    Z = same_text.other_text_reference(X, speaker, statement, reference,
                                       rng=np.random.default_rng(0))
    np.testing.assert_allclose(Z[[0, 1, 2]], X[[0, 1, 2]] - X[3])        # s1 "a" <- "b"
    np.testing.assert_allclose(Z[[3, 4, 5]], X[[3, 4, 5]] - X[[0, 1]].mean(axis=0))
    np.testing.assert_allclose(Z[[8, 9]], X[[8, 9]] - X[6])               # s2 "b" <- "a"
    assert np.isnan(Z[[6, 7]]).all()  # s2's only other statement has no neutral clip


def test_every_protocol_keeps_the_rows_and_the_spread_is_the_speakers():
    X, speaker, statement, reference = _voices()
    X = X + np.random.default_rng(1).normal(size=X.shape)
    reference[7] = True  # the any-text reference needs 2 neutral clips per speaker
    F = same_text.protocols(X, speaker, statement, reference, rng=np.random.default_rng(0))
    assert list(F)[:2] == ["strict", "speaker_norm"] and same_text.OTHER_TEXT in F
    assert all(f.shape == X.shape for f in F.values())
    spread = same_text.speaker_spread(X, speaker)
    np.testing.assert_allclose(spread[0], X[:6].std(axis=0))
    np.testing.assert_allclose(F["same text, speaker's spread"][2],
                               F[same_text.SAME_TEXT][2] / X[:6].std(axis=0))


def test_the_verdict_follows_the_rule():
    def result(protocol, loco, group6=0.6):
        return {"protocol": protocol, "loco mean": loco, "group6 ridge": group6,
                "group6 logreg": group6, **{f"loco {c}": loco for c in floor.CORPORA}}

    results = [result("strict", 0.40), result("speaker_norm", 0.50),
               result(same_text.ANY_TEXT, 0.45), result(same_text.SAME_TEXT, 0.51),
               result(same_text.OTHER_TEXT, 0.44)]
    summary = {"command": "c", "seconds": 1.0, "results": results}
    report = same_text.render(summary)
    assert "is a lead by the rule" in report and "by +0.070 (same text" in report
    results[3] = result(same_text.SAME_TEXT, 0.51, group6=0.585)  # group6 falls 0.015
    assert "is not a lead" in same_text.render(summary)
    results[3] = result(same_text.SAME_TEXT, 0.505)  # 0.005 above speaker_norm
    assert "is not a lead" in same_text.render(summary)
