"""Training-row selection (experiments/row_selection.py): the confident-learning filter."""

import numpy as np

from .conftest import experiment

selection = experiment("row_selection")
floor = experiment("floor_ablation")


def _two_voices(rng, n=60):
    """Two well separated classes of 6 speakers, with the labels of 6 rows swapped."""
    y = np.repeat(["happy", "sad"], n // 2)
    X = rng.normal(size=(n, 4)) + np.where(y == "happy", 2.0, -2.0)[:, None]
    speaker = np.tile([f"s{i}" for i in range(6)], n // 6)
    flipped = np.r_[0:3, n - 3:n]
    y[flipped] = np.where(y[flipped] == "happy", "sad", "happy")
    return X, y, speaker, flipped


def test_the_filter_leaves_out_the_mislabelled_rows_and_a_share_of_each_label():
    X, y, speaker, flipped = _two_voices(np.random.default_rng(0))
    own = selection.own_label_proba(X, y, speaker)
    assert own[flipped].max() < np.delete(own, flipped).min()
    keep = selection.confident_rows(own, y, 0.1)
    assert not keep[flipped].any()
    assert [(~keep[y == label]).sum() for label in ("happy", "sad")] == [3, 3]


def test_the_weight_function_reads_only_the_rows_it_is_given():
    X, y, speaker, flipped = _two_voices(np.random.default_rng(1))
    weights = selection.confident_weights(selection.own_label_memo(X, y, speaker), y, 0.1)
    rows = np.flatnonzero(speaker != "s0")  # a fit's training rows
    w = weights(rows)
    assert w.shape == rows.shape and set(np.unique(w)) == {0.0, 1.0}
    assert np.array_equal(w, selection.confident_rows(
        selection.own_label_proba(X[rows], y[rows], speaker[rows]), y[rows], 0.1))
    assert not w[np.isin(rows, flipped)].any()
    balanced = floor.class_balanced(w, y[rows])  # what cv_and_loco fits with
    assert np.isclose(balanced[y[rows] == "happy"].sum(), balanced[y[rows] == "sad"].sum())


def test_a_lead_needs_the_loco_gain_under_both_normalisations():
    def rows(norm, loco, ridge=0.6, logreg=0.6):
        return [{"normalization": norm, "variant": "baseline", "loco mean": 0.40,
                 "group6 ridge": 0.6, "group6 logreg": 0.6},
                {"normalization": norm, "variant": "v", "loco mean": loco,
                 "group6 ridge": ridge, "group6 logreg": logreg}]

    assert selection.is_lead(rows("strict", 0.41) + rows("speaker_norm", 0.42), "v")
    assert not selection.is_lead(rows("strict", 0.42) + rows("speaker_norm", 0.405), "v")
    assert not selection.is_lead(rows("strict", 0.42, logreg=0.585) + rows("speaker_norm", 0.42),
                                 "v")
    summary = {"command": "c", "seconds": 1.0,
               "results": rows("strict", 0.42) + rows("speaker_norm", 0.42)}
    for r in summary["results"]:
        r.update({f"loco {c}": r["loco mean"] for c in floor.CORPORA})
    report = selection.render(summary)
    assert "| v | 0.600 | 0.600 | 0.420 (0.420 / 0.420 / 0.420) | +0.020 |" in report
    assert "- v: a lead under both normalisations" in report
