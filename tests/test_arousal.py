"""Arousal from the emotion probabilities (experiments/arousal.py)."""

import numpy as np

from .conftest import experiment

arousal = experiment("arousal")

CLASSES = np.array(["angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"])


def _group_proba(proba, high):
    return proba[:, np.isin(CLASSES, list(high))].sum(axis=1)


def test_groupings_put_disgust_low_or_high():
    low, high = arousal.GROUPINGS["disgust low"], arousal.GROUPINGS["disgust high"]
    assert high - low == {"disgust"} and not {"neutral", "sad"} & high
    assert low == set(arousal.HIGH) and set(arousal.HIGH) <= set(CLASSES)


def test_arousal_first_is_a_distribution_that_follows_the_group_probability():
    high = arousal.GROUPINGS["disgust low"]
    high_classes = np.array(sorted(high))
    low_classes = np.array(sorted(set(CLASSES) - high))
    within = {True: (high_classes, np.tile([0.7, 0.1, 0.1, 0.1], (2, 1))),
              False: (low_classes, np.tile([0.2, 0.2, 0.6], (2, 1)))}
    out = arousal.arousal_first(np.array([0.9, 0.2]), within, CLASSES)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(_group_proba(out, high), [0.9, 0.2])
    assert list(CLASSES[out.argmax(axis=1)]) == ["angry", "sad"]


def test_scores_on_separable_arousal_and_the_report():
    rng = np.random.default_rng(0)
    y = np.repeat(CLASSES, 12)
    X = rng.normal(size=(y.size, 3))
    X[:, 0] += np.where(np.isin(y, list(arousal.HIGH)), 4.0, -4.0)  # arousal only
    train, test = np.arange(0, y.size, 2), np.arange(1, y.size, 2)
    s = arousal.scores(X, y, train, test, arousal.GROUPINGS["disgust low"])
    assert s["arousal model"] == 1.0 and s["arousal of the emotion model"] == 1.0
    assert s["emotion"] < 0.5  # the emotion within a group is noise here
    per = {c: s for c in (*arousal.CORPORA, "loco mean", "group6")}
    report = arousal.render({"command": "c", "seconds": 1.0,
                             "results": {"strict": {"disgust low": per}}})
    assert "| disgust low | arousal model | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 |" in report
