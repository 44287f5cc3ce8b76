"""experiments/corpus_alignment.py: CORAL, subspace alignment and the committed report."""

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA

from .conftest import ROOT, experiment

ca = experiment("corpus_alignment")


def test_coral_gives_the_other_rows_covariance():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4000, 3)) @ np.array([[2, 0, 0], [1, 1, 0], [0, 0, 0.1]]) + 5
    B = rng.standard_normal((3000, 3)) @ np.array([[1, 0.5, 0], [0, 3, 0], [0, 0, 1]])
    aligned = ca.coral(A, B, lam=0.0)
    np.testing.assert_allclose(aligned.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(np.cov(aligned, rowvar=False), np.cov(B, rowvar=False),
                               atol=1e-8)
    shrunk = np.cov(ca.coral(A, B, lam=30.0), rowvar=False)
    assert not np.allclose(shrunk, np.cov(B, rowvar=False), atol=0.1)


def test_subspace_alignment_of_the_source_is_its_own_projection():
    rng = np.random.default_rng(1)
    S = rng.standard_normal((500, 6)) * np.arange(6, 0, -1)
    pca = PCA(3, random_state=0).fit(S)
    np.testing.assert_allclose(ca.subspace_alignment(pca.components_, S, k=3),
                               pca.transform(S), atol=1e-8)
    # axes of another sign are mapped back onto the source's
    np.testing.assert_allclose(ca.subspace_alignment(-pca.components_, S, k=3),
                               -pca.transform(S), atol=1e-8)


def test_nuisance_directions_are_the_speakers_departures_not_the_emotions():
    rng = np.random.default_rng(2)
    y = np.repeat(np.tile(["angry", "sad"], 5), 20)
    speaker = np.repeat(np.arange(5), 40)
    X = 0.05 * rng.standard_normal((y.size, 4))
    X[:, 0] += np.where(y == "angry", 3.0, -3.0)  # the emotion, alike for every speaker
    X[:, 1] += np.array([-2.0, -1.0, 0.0, 1.0, 2.0])[speaker] * np.where(y == "angry", 1, -1)
    X[:, 2] += 0.5 * speaker  # a speaker's offset
    V = ca.nuisance_directions(X, y, speaker, k=2)
    assert V.shape == (2, 4)
    in_span = np.linalg.norm(V, axis=0)  # how much of each column the two directions hold
    np.testing.assert_allclose(in_span, [0, 1, 1, 0], atol=0.05)
    np.testing.assert_allclose(np.abs(V[0]), [0, 1, 0, 0], atol=0.05)  # the larger first


def test_experts_average_one_model_per_group_and_need_every_class():
    rng = np.random.default_rng(3)
    y = np.tile(["angry", "happy", "sad"], 40)
    X = rng.standard_normal((y.size, 5)) + (y == "angry")[:, None]
    groups = np.repeat(["a", "b"], 60)
    classes = np.unique(y)
    P = ca.experts_proba(X, y, groups, X[:7], classes)
    alone = [ca._models()["logreg"]().fit(X[groups == g], y[groups == g]).predict_proba(X[:7])
             for g in ("a", "b")]
    np.testing.assert_allclose(P, np.mean(alone, axis=0))
    with pytest.raises(ValueError, match="training group a lacks some of the classes"):
        ca.experts_proba(X, y, np.where(y == "sad", "b", groups), X[:7], classes)


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/corpus_alignment/summary.json").read_text())
    assert ca.render(summary) == (ROOT / "reports/corpus_alignment/report.md").read_text()
    for per in summary["results"].values():
        assert set(per) == {*ca.CORPORA, ca.IN_DOMAIN}
        assert set(per[ca.IN_DOMAIN]) == {"pooled", "experts per training corpus"}
        assert all(len(v) == 3 + 2 * len(ca.LAMS) + 3 * len(ca.KS) + len(ca.NUISANCE_KS)
                   for c, v in per.items() if c != ca.IN_DOMAIN)
