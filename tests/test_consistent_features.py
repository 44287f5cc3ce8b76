"""experiments/consistent_features.py: the emotion x speaker consistency score."""

import json

import numpy as np

from .conftest import ROOT, experiment

cf = experiment("consistent_features")


def _rows(rng, n_speakers=6, per_cell=5):
    emotions = np.array(["angry", "happy", "sad"])
    y = np.repeat(np.tile(emotions, n_speakers), per_cell)
    speaker = np.repeat(np.arange(n_speakers).astype(str), emotions.size * per_cell)
    effect = {"angry": 1.0, "happy": 0.5, "sad": -1.5}
    shared = np.array([effect[e] for e in y])
    # a column whose emotion effect each speaker shows with its own sign and order
    own = {s: rng.permutation(3) - 1.0 for s in np.unique(speaker)}
    private = np.array([own[s][list(emotions).index(e)] * 1.5
                        for s, e in zip(speaker, y, strict=True)])
    level = np.array([float(s) * 3 for s in speaker])  # a speaker offset: not emotion
    X = np.column_stack([shared, private, np.zeros_like(shared)]) + level[:, None]
    return X + 0.3 * rng.standard_normal(X.shape), y, speaker


def test_a_shared_emotion_effect_outscores_a_speaker_specific_one():
    X, y, speaker = _rows(np.random.default_rng(0))
    score = cf.consistency(X, y, speaker)
    assert score.shape == (3,)
    assert score[0] > 10 * score[1]  # the speakers' offsets do not count against it
    assert score[2] < score[0] / 10  # noise alone
    assert list(cf.columns(X, y, speaker, 1)) == [0]
    assert list(cf.columns(X, y, speaker, None)) == [0, 1, 2]


def test_selection_reads_the_training_rows_only():
    rng = np.random.default_rng(1)
    X, y, speaker = _rows(rng)
    train = np.isin(speaker, ["0", "1", "2"])
    before = cf.columns(X[train], y[train], speaker[train], 1)
    X[~train] = rng.standard_normal(X[~train].shape)  # the test rows change
    assert np.array_equal(cf.columns(X[train], y[train], speaker[train], 1), before)
    assert 0.0 <= cf.fit_score(X, y, speaker, train, ~train, 1) <= 1.0


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/consistent_features/summary.json").read_text())
    assert cf.render(summary) == (ROOT / "reports/consistent_features/report.md").read_text()
    for res in summary["results"].values():  # nested: each corpus's own choice
        for c in cf.CORPORA:
            for key in ("nested", "nested_cv"):
                chosen = res[key][c]["chosen"]
                assert res[key][c]["uar"] == res["loco"][chosen][c]
                assert res[key][c]["inner"][chosen] == max(res[key][c]["inner"].values())
