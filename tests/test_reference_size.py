"""experiments/reference_size.py: neutral_ref models enrolled on k neutral clips, and the
committed report."""

import json

import numpy as np
import pytest

import ser_classic
from ser_classic.deployment import _neutral_ref_proba

from .conftest import RAVDESS, ROOT, experiment

rs = experiment("reference_size")


@pytest.fixture(scope="module")
def two_actors():
    """Features of two RAVDESS actors' neutral (4 each) and angry (2 each) clips, as the
    shipped deployed-neutral_ref reads them."""
    rec = ser_classic.load("deployed-neutral_ref")
    paths, speakers, emotions = [], [], []
    for actor in ("Actor_09", "Actor_10"):
        for code, emotion, n in (("01", "neutral", 4), ("05", "angry", 2)):
            found = sorted((RAVDESS / actor).glob(f"03-01-{code}-*.flac"))[:n]
            paths += [str(p) for p in found]
            speakers += [actor] * len(found)
            emotions += [emotion] * len(found)
    X, _ = rec.features(paths)
    return rec, X, np.array(speakers), np.array(emotions)


def test_all_other_neutral_clips_of_the_reference(two_actors):
    """Without k (the held-out-corpus A/B's protocol), each clip is centred on all of its
    speaker's neutral rows of the reference (here another recording: the rows scaled)
    but its own."""
    from ser_classic.recognizer import SpeakerStats

    rec, X, speakers, emotions = two_actors
    reference = X * 1.01
    got = _neutral_ref_proba(rec, X, speakers, emotions, reference=reference)
    for i in range(len(X)):
        pool = np.flatnonzero((speakers == speakers[i]) & (emotions == "neutral"))
        expected = rec.proba_from_features(
            X[[i]], speaker=SpeakerStats.from_features(reference[pool[pool != i]]))[0]
        np.testing.assert_allclose(got[i], expected, atol=1e-12)


def test_k_neutral_clips_never_the_scored_one(two_actors):
    """With k = 2, each neutral clip is centred on 2 of its speaker's 3 other neutral clips,
    and each other clip on 2 of the 4: its probabilities are those of one such reference."""
    rec, X, speakers, emotions = two_actors
    from itertools import combinations

    from ser_classic.recognizer import SpeakerStats

    got = _neutral_ref_proba(rec, X, speakers, emotions, k=2, rng=np.random.default_rng(3))
    for i in range(len(X)):
        pool = np.flatnonzero((speakers == speakers[i]) & (emotions == "neutral"))
        pool = pool[pool != i]
        candidates = [rec.proba_from_features(
            X[[i]], speaker=SpeakerStats.from_features(X[list(pair)]))[0]
            for pair in combinations(pool, 2)]
        assert min(np.abs(c - got[i]).max() for c in candidates) < 1e-12
    assert _neutral_ref_proba(rec, X, speakers, emotions, k=4,
                              rng=np.random.default_rng(0)) is None  # 3 others at most


def test_committed_report_renders_from_its_summary():
    out = ROOT / "reports" / "reference_size"
    summary = json.loads((out / "summary.json").read_text())
    assert rs.render(summary) == (out / "report.md").read_text()
    # k = all is the held-out-corpus A/B's own figure
    ab = json.loads((ROOT / "reports/ab/corpus_neutral_ref/summary.json").read_text())
    for corpus in rs.CORPORA:
        for name, kind in (("neutral_ref teacher", "teacher"),
                           ("neutral_ref student (deployed)", "logit_int8")):
            assert summary["results"][corpus][name]["sizes"]["all"]["uar"] == pytest.approx(
                ab["folds"][corpus][kind]["uar"], abs=1e-12)
