"""experiments/training_corpora.py: the training sets and the committed report."""

import json

import numpy as np

from .conftest import ROOT, experiment

tc = experiment("training_corpora")


def _clips():
    """RAVDESS's 24, TESS's 2 and EMOVO's 6 speakers, three clips each."""
    speakers = ([f"ravdess_{i:02d}" for i in range(1, 25)] + ["tess_OAF", "tess_YAF"]
                + [f"emovo_{s}" for s in ("f1", "f2", "f3", "m1", "m2", "m3")])
    speaker = np.repeat(speakers, 3)
    return speaker, np.array([s.split("_")[0] for s in speaker])


def test_training_sets_hold_out_the_corpus_and_keep_the_speaker_counts():
    speaker, corpus = _clips()
    for held in tc.CORPORA:
        sets = tc.training_sets(speaker, corpus, held, seed=0)
        assert len(sets) == 5
        counts = {name: {c: int(np.isin(s, np.unique(speaker[corpus == c])).sum())
                         for c in tc.CORPORA} for name, s in sets.items()}
        for name, by_corpus in counts.items():
            assert by_corpus[held] == 0, name
        others = [c for c in tc.CORPORA if c != held]
        full = {c: np.unique(speaker[corpus == c]).size for c in others}
        assert counts[tc.BOTH] == {**{c: full[c] for c in others}, held: 0}
        swap = next(n for n in sets if "in place of" in n)
        big, small = swap.split(" with ")[0], swap.split(" with ")[1].split(" in ")[0]
        assert full[big] >= full[small]
        assert counts[swap][small] == full[small]  # every speaker of the smaller corpus
        assert sum(counts[swap].values()) == full[big]  # as many as the larger alone
        assert counts[tc.HALF] == {**{c: max(1, full[c] // 2) for c in others}, held: 0}
    draws = [tc.training_sets(speaker, corpus, "emovo", seed=s)[tc.HALF] for s in (0, 1)]
    assert not np.array_equal(*draws)  # the seed draws other speakers
    np.testing.assert_array_equal(
        draws[0], tc.training_sets(speaker, corpus, "emovo", seed=0)[tc.HALF])


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/training_corpora/summary.json").read_text())
    assert tc.render(summary) == (ROOT / "reports/training_corpora/report.md").read_text()
    for per in summary["results"].values():
        assert set(per) == set(tc.CORPORA)
        for rows in per.values():
            assert len(rows) == 5
            assert all(len(draws) == (len(tc.SEEDS) if tc._drawn(name) else 1)
                       for name, draws in rows.items())
