"""Shared and corpus-specific weights (experiments/undo_bias.py)."""

import numpy as np

from .conftest import experiment, fixed_model_summary

undo = experiment("undo_bias")


def test_each_row_fills_the_shared_block_and_its_own_corpus_block():
    Z, domain = np.arange(6.0).reshape(3, 2), np.array([0.0, 1.0, 0.0])
    A = undo.augmented(Z, domain, np.array([0.0, 1.0]), scale=2.0)
    np.testing.assert_array_equal(A[1], [2, 3, 0, 0, 0, 4, 6, 2])
    np.testing.assert_array_equal(A[2], [4, 5, 8, 10, 2, 0, 0, 0])
    unseen = undo.augmented(Z, np.full(3, np.nan), np.array([0.0, 1.0]))
    np.testing.assert_array_equal(unseen[:, :2], Z)
    assert not unseen[:, 2:].any()


def test_what_one_corpus_alone_shows_leaves_the_shared_weights():
    rng = np.random.default_rng(0)
    n = 400
    y = np.tile(["angry", "sad"], n // 2)
    corpus = np.repeat([0.0, 1.0], n // 2)
    sign = np.where(y == "angry", 1.0, -1.0)
    X = rng.normal(size=(n, 4))
    X[:, 0] += sign                                        # the emotion, in both corpora
    X[:, 1] += np.where(corpus == 0, 3.0, -3.0) * sign     # opposite in the two corpora
    for name, make in undo.undo_bias_models().items():
        model = make().fit(np.column_stack([X, corpus]), y)
        shared = np.abs(model.model_.coef_.ravel()[:4])
        assert shared[0] > 5 * shared[1], name
        # scored by the shared block: the corpus code column is never read
        a = model.predict(np.column_stack([X, corpus]))
        assert (a == model.predict(np.column_stack([X, np.full(n, 7.0)]))).all()
        assert (a == y).mean() > 0.7, name


def test_the_verdict_follows_row_selections_rule():
    summary = fixed_model_summary({undo.VARIANT: (0.41, 0.405)})
    assert "No variant is a lead" in undo.render(summary)
    summary = fixed_model_summary({undo.VARIANT: (0.41, 0.41)})
    assert f"Leads by the rule: {undo.VARIANT}." in undo.render(summary)
