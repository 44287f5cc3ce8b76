"""Column selection (experiments/feature_selection.py): chosen inside each fit."""

import numpy as np

from .conftest import experiment, fixed_model_summary

selection = experiment("feature_selection")


def _two_corpora(rng, n=400):
    """Column 0 separates the labels in both corpora; column 1 strongly in corpus "a",
    barely in "b" (so more strongly over both pooled); column 2 in neither; column 3 is
    constant."""
    y = np.tile(["happy", "sad"], n // 2)
    corpus = np.repeat(["a", "b"], n // 2)
    sign = np.where(y == "happy", 1.0, -1.0)
    X = rng.normal(size=(n, 4))
    X[:, 0] += 1.0 * sign
    X[:, 1] += np.where(corpus == "a", 4.0, 0.5) * sign
    X[:, 3] = 1.0
    return X, y, corpus


def test_cross_corpus_f_keeps_the_column_that_separates_every_corpus():
    X, y, corpus = _two_corpora(np.random.default_rng(0))
    pooled = selection.f_statistic(X, y)
    assert pooled.argmax() == 1 and pooled[3] == 0.0  # a constant column scores 0
    assert selection.cross_corpus_f(X, y, corpus).argmax() == 0
    everything = np.arange(y.size)
    assert list(selection.top_columns("pooled", 1, X, y, corpus)(everything)) == [1]
    assert list(selection.top_columns("cross-corpus", 1, X, y, corpus)(everything)) == [0]


def test_the_columns_are_chosen_on_the_training_rows_alone():
    X, y, corpus = _two_corpora(np.random.default_rng(1))
    X[corpus == "b", 2] += 6.0 * np.where(y[corpus == "b"] == "happy", 1.0, -1.0)
    # held out "b": the fit sees corpus "a", where column 2 is noise
    train = np.flatnonzero(corpus == "a")
    for score in ("pooled", "cross-corpus"):
        assert 2 not in selection.top_columns(score, 2, X, y, corpus)(train)
    # fitted on "b", its strong column comes first
    for score in ("pooled", "cross-corpus"):
        assert selection.top_columns(score, 1, X, y, corpus)(np.flatnonzero(corpus == "b")
                                                             ).tolist() == [2]


def test_the_verdict_names_the_leads_by_row_selections_rule():
    names = [selection.variant_name(s, k) for s in ("pooled", "cross-corpus")
             for k in selection.KS]
    summary = fixed_model_summary(dict.fromkeys(names, (0.41, 0.405)))
    assert "No variant is a lead" in selection.render(summary)
    summary = fixed_model_summary(dict.fromkeys(names, (0.41, 0.41)))
    report = selection.render(summary)
    assert "Leads by the rule: pooled F, 1000 columns, pooled F, 2000 columns" in report
