"""A batch's own speaker statistics weighted by its targets (score(speaker="batch"))."""

import warnings

import numpy as np
import pytest
import torch

import ser_classic
from ser_classic import data
from ser_classic.errors import ParameterError
from ser_classic.recognizer import SpeakerStats, label_balanced_weights
from ser_classic.torch import DiscriminatorLoss, EmotionDiscriminator

from .conftest import DATA

SR = 16000


@pytest.fixture(scope="module")
def voice() -> list[np.ndarray]:
    """Eight real clips of one RAVDESS actor."""
    paths = sorted((DATA / "ravdess" / "Actor_05").glob("*.flac"))[::7][:8]
    assert len(paths) == 8
    return [data.load_audio(p, sr=SR) for p in paths]


@pytest.fixture(scope="module")
def model():
    return ser_classic.load("deployed-speaker_norm")


def test_weighted_statistics():
    X = np.random.default_rng(0).normal(size=(6, 4))
    plain = SpeakerStats.from_features(X)
    equal = SpeakerStats.from_features(X, weights=np.full(6, 3.0))
    np.testing.assert_allclose(equal.mean, plain.mean)
    np.testing.assert_allclose(equal.std, plain.std)
    # weights 2:1 are the statistics of the first row counted twice
    w = np.array([2.0, 1, 1, 1, 1, 1])
    twice = SpeakerStats.from_features(np.vstack([X[:1], X]))
    weighted = SpeakerStats.from_features(X, weights=w)
    np.testing.assert_allclose(weighted.mean, twice.mean)
    np.testing.assert_allclose(weighted.std, twice.std)
    np.testing.assert_allclose(label_balanced_weights(["a", "a", "a", "b"]),
                               [1 / 3, 1 / 3, 1 / 3, 1.0])
    for bad in (np.zeros(6), -w, w[:5], np.r_[np.nan, w[1:]]):
        with pytest.raises(ParameterError, match="weights"):
            SpeakerStats.from_features(X, weights=bad)


def test_a_skewed_batch_is_normalised_with_every_target_weighing_alike(model, voice):
    targets = ["angry"] * 6 + ["sad", "neutral"]
    scores = model.score(voice, sr=SR, targets=targets, speaker="batch")
    X, _ = model.features(voice, sr=SR)
    stats = SpeakerStats.from_features(X, weights=label_balanced_weights(targets))
    np.testing.assert_allclose(scores.proba, model.proba_from_features(X, speaker=stats),
                               atol=1e-6)
    plain = model.predict_proba(voice, sr=SR, speaker="batch")
    assert np.abs(scores.proba - plain).max() > 0.01  # not the unweighted statistics
    # balanced targets weigh alike: the batch's plain statistics
    even = model.score(voice, sr=SR, targets=["angry", "sad"] * 4, speaker="batch")
    np.testing.assert_allclose(even.proba, plain, atol=1e-6)


def test_a_failing_clip_leaves_the_others_balanced(model, voice):
    batch = [*voice[:3], np.zeros(SR), *voice[3:]]
    targets = ["angry", "angry", "angry", "sad", "sad", "neutral", "happy", "happy", "sad"]
    scores = model.score(batch, sr=SR, targets=targets, speaker="batch", on_error="skip")
    assert [e.index for e in scores.errors] == [3]
    usable = [t for i, t in enumerate(targets) if i != 3]
    X, _ = model.features(voice, sr=SR)
    stats = SpeakerStats.from_features(X, weights=label_balanced_weights(usable))
    np.testing.assert_allclose(scores.proba, model.proba_from_features(X, speaker=stats),
                               atol=1e-6)


def test_one_target_for_the_whole_batch_warns(model, voice):
    with pytest.warns(UserWarning, match="one target for every clip"):
        scores = model.score(voice, sr=SR, targets="happy", speaker="batch")
    np.testing.assert_allclose(scores.proba,
                               model.predict_proba(voice, sr=SR, speaker="batch"), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.score(voice[:2], sr=SR, targets=["happy", "sad"], speaker="batch")
        ser_classic.load("deployed").score(voice, sr=SR, targets="happy")


def test_the_torch_loss_weighs_the_batch_as_score_does(model, voice):
    disc = EmotionDiscriminator("deployed-speaker_norm", dtype=torch.float64)
    rows = np.stack([np.resize(y, 2 * SR) for y in voice]).astype(np.float32)
    targets = ["angry"] * 6 + ["sad", "neutral"]
    scores = model.score(rows, sr=SR, targets=targets, speaker="batch")
    loss = DiscriminatorLoss(disc, kind="penalty", reduction="none")
    got = loss(torch.from_numpy(rows), targets, sr=SR, speaker="batch")
    np.testing.assert_allclose(got.numpy(), scores.penalty, atol=1e-3)
    with pytest.warns(UserWarning, match="one target for every clip"):
        loss(torch.from_numpy(rows), "sad", sr=SR, speaker="batch")


def test_the_weighted_batch_statistics_keep_the_gradient_finite(voice):
    disc = EmotionDiscriminator("deployed-speaker_norm")
    rows = np.stack([np.resize(y, 2 * SR) for y in voice]).astype(np.float32)
    x = torch.from_numpy(rows).requires_grad_(True)
    loss = DiscriminatorLoss(disc)(x, ["angry"] * 6 + ["sad", "neutral"], sr=SR,
                                   speaker="batch")
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() > 0


def test_enrolment_on_labelled_clips_weighs_each_emotion_alike(model, voice):
    labels = ["angry"] * 6 + ["sad", "neutral"]
    stats = model.enroll(voice, sr=SR, labels=labels)
    X, _ = model.features(voice, sr=SR)
    expected = SpeakerStats.from_features(X, weights=label_balanced_weights(labels))
    np.testing.assert_allclose(stats.mean, expected.mean)
    np.testing.assert_allclose(stats.std, expected.std)
    assert stats.n_clips == 8
    # a clip left out leaves the others' labels balanced among themselves
    with pytest.warns(UserWarning, match="left out"):
        skipped = model.enroll([*voice[:3], np.zeros(SR), *voice[3:]], sr=SR,
                               labels=[*labels[:3], "happy", *labels[3:]], on_error="skip")
    np.testing.assert_allclose(skipped.mean, expected.mean)
    with pytest.raises(ParameterError, match="labels for"):
        model.enroll(voice, sr=SR, labels=labels[:5])
    with pytest.raises(ParameterError, match="previous"):
        model.enroll(voice, sr=SR, labels=labels, previous=stats)
    with pytest.raises(ParameterError, match="one label per clip"):
        model.enroll(voice, sr=SR, labels="angry")
    with pytest.raises(ParameterError, match="neutral_ref"):
        ser_classic.load("deployed-neutral_ref").enroll(voice, sr=SR, labels=labels)
