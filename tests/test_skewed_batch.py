"""Speaker statistics from a skewed batch (experiments/skewed_batch.py)."""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ser_classic.evaluation import speaker_normalize

from .conftest import experiment

skewed = experiment("skewed_batch")
floor = experiment("floor_ablation")

EMOTIONS = np.array(["angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"])


def test_a_batch_follows_its_shares_and_is_cut_at_each_emotions_clips():
    emotion = np.repeat(EMOTIONS, [8, 8, 8, 8, 4, 8, 8])
    rng = np.random.default_rng(0)
    for setting in skewed.SETTINGS:
        rows = skewed.draw_batch(emotion, setting, 20, rng)
        assert len(np.unique(rows)) == len(rows) <= 20
    # one emotion asked for more often than it has clips: cut at its 4 clips
    many = [skewed.draw_batch(emotion, 0.01, 20, np.random.default_rng(s)) for s in range(40)]
    assert min(len(r) for r in many) <= 8 and all(len(r) >= 1 for r in many)
    assert all(len(r) <= 4 for r in many if set(emotion[r]) == {"neutral"})
    equal = skewed.draw_batch(emotion, skewed.EQUAL, 20, np.random.default_rng(1))
    assert len(set(emotion[equal])) >= 5


def test_equal_weights_are_the_batchs_own_statistics():
    X = np.random.default_rng(0).normal(size=(12, 4)) * [1, 2, 3, 0]
    np.testing.assert_allclose(skewed.weighted_zscore(X, np.ones(12)),
                               speaker_normalize(X, np.zeros(12)))


def test_balanced_statistics_undo_a_batch_of_mostly_one_emotion():
    rng = np.random.default_rng(0)
    means = dict(zip(EMOTIONS, rng.normal(0, 2, (7, 5)), strict=True))
    X, y, speaker = [], [], []
    for s in range(7):
        offset = rng.normal(0, 4, 5)
        for e in EMOTIONS:
            for _ in range(12):
                X.append(offset + means[e] + rng.normal(0, 0.5, 5))
                y.append(e)
                speaker.append(s)
    X, y, speaker = np.array(X), np.array(y), np.array(speaker)
    train = speaker < 6
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(speaker_normalize(X, speaker)[train], y[train])
    # the new voice's batch: its 12 angry clips and one clip of each other emotion
    mine = np.flatnonzero(~train)
    batch = np.concatenate([mine[y[mine] == "angry"],
                            [mine[y[mine] == e][0] for e in EMOTIONS if e != "angry"]])
    plain = model.predict(skewed.weighted_zscore(X[batch], np.ones(len(batch))))
    balanced = model.predict(skewed.balanced_zscore(model, X[batch]))
    assert (balanced == y[batch]).mean() > (plain == y[batch]).mean()
    assert (balanced[:12] == "angry").sum() > (plain[:12] == "angry").sum()


def test_the_verdict_follows_the_rule_at_every_seed():
    def results(seed, skewed_gain, equal_gain):
        out = []
        for setting in ("alpha 0.3", "alpha 1", "alpha 3", skewed.EQUAL):
            gain = {"alpha 0.3": skewed_gain, skewed.EQUAL: equal_gain}.get(setting, 0.0)
            for p, m in (("strict", 0.4), ("speaker_norm", 0.45), ("balanced", 0.45 + gain)):
                out.append({"seed": seed, "setting": setting, "protocol": p, "loco mean": m,
                            **{f"loco {c}": m for c in floor.CORPORA}})
        return out

    def summary(*gains):
        return {"command": "c", "seconds": 1.0, "batch": 20, "draws": 10,
                "seeds": list(range(len(gains))),
                "results": {"fixed": [r for seed, g in enumerate(gains)
                                      for r in results(seed, *g)],
                            "deployed": [], "models": {}}}

    report = skewed.render(summary((0.02, -0.005), (0.015, 0.0)))
    assert "at 2 of 2 seeds: a lead." in report and "| 1 | +0.0150 |" in report
    assert "at 1 of 2 seeds: not a lead." in skewed.render(summary((0.02, 0.0), (0.005, 0.0)))
    assert "at 0 of 1 seeds" in skewed.render(summary((0.02, -0.015)))


def test_balance_weights_equalise_the_predicted_classes():
    # six clips predicted angry, one sad, one happy: each class carries the same total
    P = np.eye(3)[[0, 0, 0, 0, 0, 0, 1, 2]]
    w = skewed.balance_weights(P)
    np.testing.assert_allclose([w[:6].sum(), w[6], w[7]], [8.0, 8.0, 8.0])


def test_the_deployed_part_scores_library_models_on_the_same_batches(tmp_path):
    from ser_classic.store import resolve

    for folder, suffix in (("ab-speaker_norm", "-speaker_norm"), ("ab", "")):
        for corpus in floor.CORPORA:
            for kind, alias in (("teacher", "teacher"), ("logit_int8", "deployed")):
                (tmp_path / folder / corpus).mkdir(parents=True, exist_ok=True)
                (tmp_path / folder / corpus / kind).symlink_to(resolve(alias + suffix))
    rng = np.random.default_rng(0)
    n = 2 * len(EMOTIONS) * 3 * len(floor.CORPORA)
    corpus = np.repeat(floor.CORPORA, n // 3)
    speaker = np.array([f"{c}_{i // (n // 6)}" for i, c in enumerate(corpus)])
    y = np.tile(np.repeat(EMOTIONS, 3), 6)
    X = rng.normal(size=(n, 3083))
    results, ids = skewed.deployed_recipe(X, y, speaker, corpus, work=tmp_path, seeds=[0, 1],
                                          batch=6, draws=2)
    assert len(ids) == 12 and all(ids.values())
    statistics = {(r["model"], r["statistics"]) for r in results}
    assert statistics == {(m, s) for m in skewed.DEPLOYED
                          for s in (("none",) if m.startswith("strict") else
                                    ("plain", "balanced", "target-balanced"))}
    # every corpus, seed and setting; UAR and ECE in [0, 1]
    assert len(results) == 3 * 2 * 4 * 8
    assert all(0 <= r["uar"] <= 1 and 0 <= r["ece"] <= 1 for r in results)
    gains = skewed.student_gains(results, 0)
    assert set(gains) == {"alpha 0.3", "alpha 1", "alpha 3", skewed.EQUAL}
