"""The condition benchmark on every inner-fold clip (experiments/speaker_conditions.py)."""

import numpy as np
import pytest

from .conftest import experiment

sc = experiment("speaker_conditions")
CLASSES = ["angry", "happy", "sad"]


def _fold(rng, labels, columns):
    """One fold's `run_conditions` output: probabilities per condition and column."""
    proba = {c: {col: rng.dirichlet(np.ones(3), size=len(labels)) for col in columns}
             for c in ("clean", "white 20 dB")}
    return {"proba": proba, "models": {col.split(" [")[0]: {"classes": CLASSES}
                                       for col in columns}}


def test_pooled_scores_every_folds_clips_together():
    rng = np.random.default_rng(0)
    columns = ["strict teacher", "speaker_norm teacher [clean]"]
    labels = [np.array(["angry", "sad", "happy", "sad"]), np.array(["happy", "angry"])]
    folds = [_fold(rng, y, columns) for y in labels]
    y = np.concatenate(labels)
    out = sc.pooled(folds, y)
    for c in ("clean", "white 20 dB"):
        for col in columns:
            P = np.vstack([f["proba"][c][col] for f in folds])
            assert out[c][col] == sc.bench.scores(P, y, np.array(CLASSES))
            assert out[c][col]["n"] == 6
    # pooled is not the mean of the folds' accuracies (4 and 2 clips)
    P = [f["proba"]["clean"]["strict teacher"] for f in folds]
    hits = [np.array(CLASSES)[p.argmax(1)] == t for p, t in zip(P, labels, strict=True)]
    assert out["clean"]["strict teacher"]["accuracy"] == pytest.approx(
        np.concatenate(hits).mean())


def test_report_marks_the_targets_and_item_8():
    def s(acc, ece):
        return {"accuracy": acc, "uar": acc, "ece": ece, "confidence": acc + 0.1,
                "top_class": "sad", "top_class_share": 0.3, "n": 1040}

    per = {"clean": {"strict teacher": s(0.60, 0.05), "strict student": s(0.58, 0.07)},
           "white 20 dB": {"strict teacher": s(0.55, 0.08), "strict student": s(0.45, 0.12)}}
    gap = {"gap": -0.1, "ci": [-0.14, -0.06], "n": 1040, "verdict": "missed"}
    results = {"folds": [["a"]], "models": [{"strict teacher": "t", "strict student": "s"}],
               "fold_seconds": [1.0], "n_clips": 1040, "n_speakers": 20,
               "calibrated": {"mean": 0.038, "q95": 0.053}, "conditions": per,
               "student_gaps": {"strict student": {
                   "per_condition": {"clean": {**gap, "gap": -0.02, "ci": [-0.04, 0.0],
                                               "verdict": "unresolved"},
                                     "white 20 dB": gap}, "mean": gap}}}
    text = sc.render({"command": "c", "seconds": 1.0, "machine": "2 CPUs",
                      "results": results})
    assert "1040 clips of 20 speakers per condition" in text
    assert "| white 20 dB | 0.55 / 0.55 / 0.08" in text
    assert "0.45 / 0.45 / 0.12+ (78%) ✗" in text  # below 85 % of clean, ECE above 0.10
    assert "strict teacher 0 of 1; strict student 1 of 1" in text
    assert "| white 20 dB | -0.100 [-0.140, -0.060] ✗ |" in text
