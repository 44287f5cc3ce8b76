"""experiments/corpus_alignment.py: CORAL, subspace alignment and the committed report."""

import json

import numpy as np
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


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/corpus_alignment/summary.json").read_text())
    assert ca.render(summary) == (ROOT / "reports/corpus_alignment/report.md").read_text()
    for per in summary["results"].values():
        assert set(per) == set(ca.CORPORA)
        assert all(len(v) == 2 + 2 * len(ca.LAMS) + 3 * len(ca.KS) for v in per.values())
