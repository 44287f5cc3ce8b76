"""The training sets and report of experiments/domain_shots.py."""

import numpy as np

from .conftest import experiment

shots = experiment("domain_shots")


def _corpora(rng, *, flip_first: bool = False):
    """Two training corpora whose classes live in column 0, and a third ("emovo", 4
    speakers) whose classes live in column 1 (flipped for emovo_01 with ``flip_first``)."""
    y, corpus, speaker, X = [], [], [], []
    for name, speakers, column in (("ravdess", 8, 0), ("tess", 2, 0), ("emovo", 4, 1)):
        for s in range(speakers):
            labels = np.repeat(["angry", "sad"], 30)
            sign = -1.0 if flip_first and (name, s) == ("emovo", 0) else 1.0
            F = rng.normal(size=(labels.size, 3))
            F[:, column] += 2.0 * sign * np.where(labels == "angry", 1.0, -1.0)
            y.append(labels)
            X.append(F)
            corpus += [name] * labels.size
            speaker += [f"{name}_{s + 1:02d}"] * labels.size
    return np.vstack(X), np.concatenate(y), np.array(speaker), np.array(corpus)


def test_labelled_clips_of_the_other_speakers_teach_the_new_corpus():
    X, y, speaker, corpus = _corpora(np.random.default_rng(0))
    out = shots.group_predictions(X, y, speaker, corpus, "emovo", np.array(["emovo_02"]),
                                  seed=0)
    assert set(speaker[out["test"]]) == {"emovo_02"}
    pred = out["predictions"]

    def score(key):
        return shots.uar(y[out["test"]], pred[key])

    assert score("no clip of the corpus") < 0.7  # column 0 says nothing here
    assert score("every other speaker|corpus-balanced") > 0.9
    assert score("20 per class|corpus-balanced|0") > score("no clip of the corpus") + 0.2
    assert score("the corpus alone") > 0.9
    # a test speaker's own clips are never trained on: emovo_01's flipped ones stay wrong
    X, y, speaker, corpus = _corpora(np.random.default_rng(0), flip_first=True)
    flipped = shots.group_predictions(X, y, speaker, corpus, "emovo",
                                      np.array(["emovo_01"]), seed=0)
    assert shots.uar(y[flipped["test"]], flipped["predictions"]["the corpus alone"]) < 0.2


def test_draws_are_nested_and_the_groups_follow_the_corpora():
    pool = np.arange(40)
    y = np.repeat(["a", "b"], 20)
    orders = shots.class_orders(pool, y, seed=1, draw=0)
    assert [set(y[o]) for o in orders] == [{"a"}, {"b"}]
    assert sorted(np.concatenate(orders)) == list(pool)
    speaker = np.array([f"ravdess_{i:02d}" for i in range(1, 25)] + ["tess_OAF", "tess_YAF"])
    corpus = np.array(["ravdess"] * 24 + ["tess"] * 2)
    groups = shots.test_groups(speaker, corpus, "ravdess")
    assert [list(g) for g in groups[:2]] == [[f"ravdess_{i:02d}" for i in range(1, 5)],
                                             [f"ravdess_{i:02d}" for i in range(5, 9)]]
    assert len(groups) == 6
    assert [list(g) for g in shots.test_groups(speaker, corpus, "tess")] == [["tess_OAF"],
                                                                             ["tess_YAF"]]


def test_report_lists_every_training_set_per_normalisation():
    names = shots.variant_names()
    cell = {n: {"uar": 0.4, "range": [0.4, 0.4]} for n in names}
    part = {"corpora": {c: cell for c in shots.CORPORA}, "mean": {n: 0.4 for n in names}}
    text = shots.render({"command": "c", "seconds": 1.0,
                         "results": {"strict": part, "speaker_norm": part}})
    assert text.startswith("# Labelled clips of a new corpus")
    assert "| 5 per class | corpus-balanced | 0.400 | 0.400 | 0.400 | 0.400 |" in text
    assert "| no clip of the corpus | - | 0.400 |" in text
    assert len(names) == 1 + 2 * (len(shots.SHOTS) + 1) + 1
