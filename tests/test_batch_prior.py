"""Class biases matched to a batch's emotion mix (experiments/batch_prior.py)."""

import numpy as np

from .conftest import experiment

bp = experiment("batch_prior")


def test_matched_probabilities_have_the_mix_as_their_mean_and_keep_each_rows_ratios():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([5.0, 1.0, 1.0], size=200)  # leans to class 0
    mix = np.array([0.2, 0.5, 0.3])
    q = bp.match_mix(proba, mix)
    assert np.allclose(q.mean(axis=0), mix, atol=1e-6) and np.allclose(q.sum(axis=1), 1)
    w = q / proba  # one weight per class, the same in every row (up to the row's scale)
    w /= w[:, :1]
    assert np.allclose(w, w[0], rtol=1e-6)


def test_a_biased_batch_regains_its_classes_and_a_one_class_batch_is_wrecked():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 100)
    logits = 3.0 * np.eye(3)[y] + rng.normal(size=(300, 3)) + np.array([2.5, 0.0, 0.0])
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    before = np.mean(proba.argmax(1) == y)
    assert np.allclose(bp.mix_of(y, 3), 1 / 3)
    assert np.mean(bp.match_mix(proba, bp.mix_of(y, 3)).argmax(1) == y) > before + 0.1
    speaker = np.tile(np.arange(6), 50)
    assert np.mean(bp.other_half(proba, y, speaker).argmax(1) == y) > before + 0.1
    assert np.mean(bp.per_batch(proba, speaker, y).argmax(1) == y) > before + 0.1
    one = bp.per_batch(proba, y)  # every class a batch of its own, given a uniform mix
    assert np.mean(one.argmax(1) == y) < 0.5 < before


def test_report_gives_every_arm_and_the_changes_of_the_voice_arms():
    def row(held, uars):
        r = {"held_out": held, "one-emotion batches accuracy": {"as scored": 0.4,
                                                                "matched": 0.14}}
        return r | {arm: {"uar": u, "ece": 0.1} for arm, u in zip(bp.ARMS, uars, strict=True)}

    rows = [row("emovo", (0.3, 0.35, 0.28, 0.4)), row("tess", (0.5, 0.55, 0.48, 0.6))]
    text = bp.render({"command": "c", "seconds": 1.0,
                      "results": {"strict": rows, "speaker_norm": rows}})
    assert ("| tess | 0.500 / 0.100 | 0.550 / 0.100 | 0.480 / 0.100 | 0.600 / 0.100 | "
            "0.400 -> 0.140 |") in text
    assert "strict 0.400 -> 0.450 -> 0.380 -> 0.500" in text
    assert "other voices of the held-out corpus change the mean UAR by strict -0.020" in text
    assert "own batch by strict +0.100" in text
