"""Valence against arousal on each fold's held-out corpus (experiments/valence.py)."""

import numpy as np

from .conftest import experiment

valence = experiment("valence")


def test_folder_scores_read_the_librarys_groups_on_each_held_out_corpus(fold_corpora,
                                                                         tmp_path):
    """The shipped student as the model of three folds whose held-out corpora are actors
    of RAVDESS."""
    import ser_classic
    from ser_classic.artifact import copy_artifact
    from ser_classic.store import resolve

    rows, X = fold_corpora
    for corpus in valence.CORPORA:
        copy_artifact(resolve("deployed"), tmp_path / corpus / "logit_int8")
    entry = valence.folder_scores(X, rows, tmp_path)["logit_int8"]
    student = ser_classic.load("deployed")
    y = rows["emotion"].to_numpy()
    tess = (rows["corpus"] == "tess").to_numpy()
    three = student.proba_from_features(X[tess], groups="valence")
    truth = np.select([np.isin(y[tess], ["happy", "surprised"]), y[tess] == "neutral"],
                      [0, 1], 2)
    assert entry["tess"]["valence"]["uar"] == valence.uar(truth, three.argmax(axis=1))
    # positive against negative, on the clips of those groups only
    valenced = y[tess] != "neutral"
    two = student.proba_from_features(X[tess], groups=valence.VALENCED)
    assert entry["tess"]["valence, valenced clips"]["uar"] == valence.uar(
        (truth[valenced] == 2).astype(int), two[valenced].argmax(axis=1))
    assert set(entry["tess"]) == set(valence.SCORES)
    assert entry["mean"]["arousal"]["uar"] == np.mean(
        [entry[c]["arousal"]["uar"] for c in valence.CORPORA])
    summary = {"command": "c", "seconds": 1.0, "results": {
        "made": {"logit_int8": entry}, "absent": valence.folder_scores(X, rows, tmp_path / "x")}}
    report = valence.render(summary)
    assert "| logit_int8 | valence | " in report and "Not made" in report
