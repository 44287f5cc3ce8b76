"""What the other corpora cost RAVDESS's unseen speakers (experiments/training_cost.py)."""

import numpy as np

from .conftest import experiment

cost = experiment("training_cost")


def _corpora(rng, *, flipped: bool):
    """24 RAVDESS actors whose column 0 gives the label, and a second corpus in which it
    gives the other label (``flipped``) or the same one."""
    speaker = np.concatenate([np.repeat([f"ravdess_{i:02d}" for i in range(1, 25)], 10),
                              np.repeat(["tess_OAF", "tess_YAF"], 300)])
    corpus = np.where(np.char.startswith(speaker, "ravdess"), "ravdess", "tess")
    y = np.tile(["angry", "sad"], speaker.size // 2)
    sign = np.where(y == "angry", 1.0, -1.0)
    if flipped:
        sign = np.where(corpus == "tess", -sign, sign)
    X = rng.normal(size=(y.size, 3))
    X[:, 0] += 1.5 * sign
    return X, y, corpus, speaker


def test_the_other_corpus_enters_training_only_where_named():
    X, y, corpus, speaker = _corpora(np.random.default_rng(0), flipped=True)
    alone = cost.fold_scores(X, y, corpus, speaker, cost.SETS[0])
    for training in cost.SETS[1:]:
        mixed = cost.fold_scores(X, y, corpus, speaker, training)
        for model in ("ridge", "logreg"):
            assert mixed[model]["uar"] < alone[model]["uar"] - 0.2, (training, model)
    assert alone["logreg"]["accuracy"] > 0.8
    # a corpus that agrees costs nothing
    X, y, corpus, speaker = _corpora(np.random.default_rng(0), flipped=False)
    agree = cost.fold_scores(X, y, corpus, speaker, cost.SETS[1])
    assert agree["logreg"]["uar"] >= alone["logreg"]["uar"] - 0.03


def test_the_report_states_each_change_against_ravdess_alone():
    def row(norm, training, u):
        return {"normalization": norm, "training": training,
                **{m: {"accuracy": u, "uar": u} for m in ("ridge", "logreg")}}

    results = [row(n, s, u) for n in ("strict", "speaker_norm")
               for s, u in zip(cost.SETS, (0.65, 0.62, 0.60), strict=True)]
    report = cost.render({"command": "c", "seconds": 1.0, "results": results})
    assert ("- strict: TESS and EMOVO in training change RAVDESS's held-out UAR by -0.030 "
            "(ridge) / -0.030 (logreg) as they come; -0.050 (ridge) / -0.050 (logreg) "
            "corpora balanced.") in report
