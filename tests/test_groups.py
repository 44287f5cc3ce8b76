"""Groups of emotions scored as one class (``groups=``): the arousal penalty."""

from __future__ import annotations

import numpy as np
import pytest

import ser_classic
from ser_classic import Grouping, data
from ser_classic.errors import ParameterError

from .conftest import DATA

SR = 16000
HIGH = ["angry", "happy", "fearful", "surprised"]


@pytest.fixture(scope="module")
def deployed():
    return ser_classic.load("deployed")


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    """Eight real clips of RAVDESS actor 22 and one of white noise (atypical)."""
    paths = sorted((DATA / "ravdess" / "Actor_22").glob("*.flac"))[::7][:8]
    noise = np.random.default_rng(0).normal(0.0, 0.1, 2 * SR)
    return [data.load_audio(p, sr=SR) for p in paths] + [noise]


def test_group_probabilities_are_sums_of_the_class_probabilities(deployed, clips):
    proba = deployed.predict_proba(clips, sr=SR)
    grouped = deployed.predict_proba(clips, sr=SR, groups=Grouping.AROUSAL)
    high = np.isin(deployed.classes_, HIGH)
    result = deployed.predict_proba(clips, sr=SR, groups="arousal", on_error="skip")
    atypical = result.atypical
    assert result.classes == ("high", "low")
    assert atypical[-1] and not atypical[:-1].all()
    np.testing.assert_allclose(grouped.sum(axis=1), 1.0)
    np.testing.assert_allclose(grouped[~atypical, 0], proba[~atypical][:, high].sum(axis=1),
                               atol=1e-6)
    # an atypical clip is shrunk towards uniform over the groups, not over the classes
    summed = proba[-1, high].sum()
    assert abs(grouped[-1, 0] - 0.5) < abs(summed - 0.5)
    np.testing.assert_array_equal(
        deployed.predict(clips, sr=SR, groups="arousal"),
        np.where(grouped[:, 0] > grouped[:, 1], "high", "low"))
    np.testing.assert_array_equal(result.labels, deployed.predict(clips, sr=SR,
                                                                  groups="arousal"))


def test_a_failing_clip_keeps_the_others_group_scores(deployed, clips):
    batch = [clips[0], np.zeros(SR), clips[1]]  # digital silence cannot be scored
    scores = deployed.score(batch, sr=SR, targets=["high", "low", "low"], groups="arousal",
                            on_error="skip")
    assert list(scores.index) == [0, 2] and [e.index for e in scores.errors] == [1]
    expected = deployed.predict_proba([clips[0], clips[1]], sr=SR, groups="arousal")
    np.testing.assert_allclose(scores.p_target, [expected[0, 0], expected[1, 1]])


def test_score_against_a_group(deployed, clips):
    targets = ["high", "low"] * 4 + ["high"]
    scores = deployed.score(clips, sr=SR, targets=targets, groups="arousal")
    grouped = deployed.predict_proba(clips, sr=SR, groups="arousal")
    expected = grouped[np.arange(len(clips)), [0 if t == "high" else 1 for t in targets]]
    np.testing.assert_allclose(scores.p_target, expected)
    np.testing.assert_allclose(scores.penalty, 1.0 - expected)
    assert scores.classes == ("high", "low") and scores.proba.shape == (len(clips), 2)
    # an emotion target stands for its group: a generator's targets need no mapping
    emotions = ["happy", "sad"] * 4 + ["angry"]
    same = deployed.score(clips, sr=SR, targets=emotions, groups="arousal")
    np.testing.assert_array_equal(same.p_target, scores.p_target)
    # an emotion the grouping places but the model lacks (trained without calm) too
    assert "calm" not in deployed.classes_
    np.testing.assert_array_equal(
        deployed.score(clips, sr=SR, targets="calm", groups="arousal").p_target,
        grouped[:, 1])
    with pytest.raises(ParameterError, match="neither among the groups"):
        deployed.score(clips, sr=SR, targets="bored", groups="arousal")  # placed nowhere
    with pytest.raises(ParameterError, match="neither among the groups"):
        deployed.score(clips, sr=SR, targets="calm", groups={"high": ["angry"],
                                                             "low": ["sad"]})
    with pytest.raises(ParameterError, match="ambiguous"):
        deployed.score(clips, sr=SR, targets="sad",
                       groups={"sad": ["angry"], "other": ["sad", "neutral"]})


def test_valence_has_three_groups_and_an_emotion_target_stands_for_its_group(deployed,
                                                                            clips):
    proba = deployed.predict_proba(clips[:8], sr=SR)
    grouped = deployed.predict_proba(clips[:8], sr=SR, groups=Grouping.VALENCE)
    classes = list(deployed.classes_)
    for column, members in enumerate((["happy", "surprised"], ["neutral"],
                                      ["angry", "fearful", "sad", "disgust"])):
        np.testing.assert_allclose(grouped[:, column], proba[:, [
            classes.index(c) for c in members]].sum(axis=1), atol=1e-6)
    emotions = ["surprised", "neutral", "disgust", "happy"] * 2
    scores = deployed.score(clips[:8], sr=SR, targets=emotions, groups="valence")
    assert scores.classes == ("positive", "neutral", "negative")
    np.testing.assert_allclose(scores.p_target, grouped[np.arange(8), [0, 1, 2, 0] * 2])


def test_a_mapping_that_leaves_classes_out_renormalises_over_the_others(deployed, clips):
    groups = {"loud": ["angry", "happy"], "quiet": ["sad", "neutral"]}
    grouped = deployed.predict_proba(clips[:8], sr=SR, groups=groups)
    subset = deployed.predict_proba(clips[:8], sr=SR, classes=["angry", "happy", "sad",
                                                               "neutral"])
    np.testing.assert_allclose(grouped, np.c_[subset[:, :2].sum(1), subset[:, 2:].sum(1)],
                               atol=1e-6)
    X, _ = deployed.features(clips[:8], sr=SR)
    np.testing.assert_allclose(deployed.proba_from_features(X, groups=groups), grouped)


@pytest.mark.parametrize(("groups", "problem"), [
    ("dominance", "must be one of 'arousal', 'valence'"),
    ({"a": ["angry"]}, "at least 2 groups"),
    ({"a": ["angry"], "b": ["angry", "sad"]}, "more than one place"),
    ({"a": ["angry"], "b": ["calm"]}, "not classes of the model"),
    ({"a": "angry", "b": ["sad"]}, "non-empty sequence"),
    (["angry", "sad"], "a Grouping or a mapping"),
])
def test_bad_groups_are_refused(deployed, clips, groups, problem):
    with pytest.raises(ParameterError, match=problem):
        deployed.predict_proba(clips[0], sr=SR, groups=groups)


def test_groups_and_classes_together_are_refused(deployed, clips):
    with pytest.raises(ParameterError, match="not both"):
        deployed.predict_proba(clips[0], sr=SR, groups="arousal", classes=["sad", "angry"])


def test_the_torch_discriminator_gives_the_same_group_penalty(deployed, clips):
    torch = pytest.importorskip("torch")
    from ser_classic.torch import DiscriminatorLoss, EmotionDiscriminator

    disc = EmotionDiscriminator("deployed", dtype=torch.float64)
    rows = np.stack([np.resize(y, 2 * SR) for y in clips]).astype(np.float32)
    targets = ["high", "low"] * 4 + ["low"]
    expected = deployed.score(rows, sr=SR, targets=targets, groups="arousal")
    x = torch.from_numpy(rows).double().requires_grad_(True)
    loss = DiscriminatorLoss(disc, kind="penalty", groups="arousal", reduction="none")
    penalty = loss(x, targets, sr=SR)
    np.testing.assert_allclose(penalty.detach().numpy(), expected.penalty, atol=1e-4)
    emotions = ["angry", "calm"] * 4 + ["neutral"]  # the same groups, named by an emotion
    np.testing.assert_allclose(loss(x, emotions, sr=SR).detach().numpy(),
                               penalty.detach().numpy())
    penalty.sum().backward()
    assert torch.isfinite(x.grad).all() and bool((x.grad != 0).any())
    assert disc.group_names("arousal") == ("high", "low")
    valence = ["positive", "neutral", "negative"] * 3
    expected = deployed.score(rows, sr=SR, targets=valence, groups="valence")
    np.testing.assert_allclose(DiscriminatorLoss(
        disc, kind="penalty", groups="valence", reduction="none")(x, valence, sr=SR)
        .detach().numpy(), expected.penalty, atol=1e-4)
    with pytest.raises(ParameterError, match="not both"):
        DiscriminatorLoss(disc, groups="arousal", classes=["sad", "angry"])


def test_a_speaker_normalised_model_scores_groups_with_the_batchs_statistics(clips):
    model = ser_classic.load("deployed-speaker_norm")
    voice = clips[:8]
    proba = model.predict_proba(voice, sr=SR, speaker="batch")
    scores = model.score(voice, sr=SR, speaker="batch", targets="low", groups="arousal")
    assert not scores.atypical.any()
    np.testing.assert_allclose(scores.p_target,
                               proba[:, ~np.isin(model.classes_, HIGH)].sum(axis=1), atol=1e-6)


def test_the_cli_gives_the_apis_group_probabilities(capsys):
    import json

    from ser_classic.cli import main

    paths = sorted((DATA / "ravdess" / "Actor_22").glob("*.flac"))[:3]
    assert main(["predict", *map(str, paths), "--model", "deployed", "--groups", "arousal",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["predictions"]
    expected = ser_classic.load("deployed").predict_proba([str(p) for p in paths],
                                                          groups="arousal")
    assert [[r["p_high"], r["p_low"]] for r in rows] == np.round(expected, 4).tolist()
    assert [r["emotion"] for r in rows] == ["high" if p[0] > p[1] else "low"
                                            for p in expected]
