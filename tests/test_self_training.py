"""Self-training on an unlabelled batch (experiments/self_training.py)."""

import numpy as np

from .conftest import experiment

st = experiment("self_training")


def test_confident_per_class_takes_the_top_share_of_every_predicted_class():
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.8, 0.2],
                      [0.2, 0.8], [0.45, 0.55]])
    assert np.flatnonzero(st.confident_per_class(proba, 0.5)).tolist() == [0, 3, 4]
    assert st.confident_per_class(proba, 0.01).sum() == 2  # one per predicted class


def _shifted_corpora(rng, n=300, classes=3):
    """A source and a target whose class clusters are moved by a shift the source never
    shows: the source's model errs on the target, the target's own clusters are clear."""
    def corpus(shift):
        y = np.tile(np.arange(classes), n // classes)
        X = 2.5 * np.eye(classes)[y] + rng.normal(scale=0.6, size=(n, classes))
        return X + shift, y.astype(str)
    return corpus(0.0), corpus(np.array([1.3, 0.0, 0.0]))


def test_self_training_rounds_adapt_to_a_shifted_batch_and_round_zero_is_the_source_model():
    rng = np.random.default_rng(0)
    (Xs, ys), (Xt, yt) = _shifted_corpora(rng)
    classes, probas = st.self_train(Xs, ys, Xt, frac=0.5, rounds=3)
    assert len(probas) == 4 and classes.tolist() == ["0", "1", "2"]
    source_only = st._models()["logreg"]().fit(Xs, ys).predict_proba(Xt)
    assert np.allclose(probas[0], source_only)
    uars = [st.uar_ece(yt, classes, p)["uar"] for p in probas]
    assert uars[-1] > uars[0] + 0.02


def test_choice_is_made_on_the_training_corpora_and_prefers_fewer_rounds_on_ties():
    rng = np.random.default_rng(1)
    (Xa, ya), (Xb, yb) = _shifted_corpora(rng)
    X, y = np.vstack([Xa, Xb]), np.concatenate([ya, yb])
    corpus = np.repeat(["a", "b"], len(ya))
    inner, (frac, rounds) = st.choose(X, y, corpus)
    assert set(inner) == set(st.FRACS) and all(len(v) == st.ROUNDS + 1 for v in inner.values())
    assert inner[frac][rounds] == max(max(v) for v in inner.values())
    assert rounds == min(r for f in st.FRACS for r, u in enumerate(inner[f])
                         if u == inner[frac][rounds])


def test_report_gives_each_fold_its_choice_and_the_means_of_both_arms():
    def row(held, before, after):
        return {"held_out": held, "trained_on": ["x", "y"], "chosen": {"frac": 0.2, "rounds": 2},
                "inner": {"0.2": [0.3, 0.35, 0.4, 0.38], "0.5": [0.3, 0.3, 0.3, 0.3]},
                "no_self_training": {"uar": before, "ece": 0.1},
                "self_trained": {"uar": after, "ece": 0.3}}

    rows = [row("emovo", 0.3, 0.3), row("tess", 0.5, 0.62)]
    text = st.render({"command": "c", "seconds": 1.0,
                      "results": {"strict": rows, "speaker_norm": rows}})
    assert ("| tess | x + y | 0.2: 0.300 0.350 0.400 0.380; 0.5: 0.300 0.300 0.300 0.300 "
            "| 0.2 x 2 | 0.500 / 0.100 | 0.620 / 0.300 |") in text
    assert "| **mean** | | | | **0.400** / 0.100 | **0.460 (+0.060)** / 0.300 |" in text
    assert "strict 0.400 (0.100) -> 0.460 (0.300)" in text
