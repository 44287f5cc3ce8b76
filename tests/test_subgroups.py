"""Subgroups of the held-out corpora (experiments/subgroups.py)."""

import numpy as np

from .conftest import experiment

subgroups = experiment("subgroups")


def _clips():
    """Six speakers (f1-f3 female, m1-m3 male), 3 classes x 4 clips each; the female
    speakers' clips all right, the males' right only for class 0."""
    speaker = np.repeat([f"f{i}" for i in (1, 2, 3)] + [f"m{i}" for i in (1, 2, 3)], 12)
    truth = np.tile(np.repeat([0, 1, 2], 4), 6)
    pred = np.where(np.char.startswith(speaker, "f") | (truth == 0), truth, (truth + 1) % 3)
    return truth, pred, speaker, np.char.startswith(speaker, "f")


def test_each_side_and_the_difference_with_speaker_bootstrap_intervals():
    truth, pred, speaker, female = _clips()
    out = subgroups.split_ci(truth, pred, speaker, female, names=("female", "male"),
                             paired=False)
    assert out["uar"] == {"female": 1.0, "male": round(1 / 3, 4)}
    assert out["difference"] == round(1 - 1 / 3, 4)
    # every resample of either side has the same UAR: the intervals are points
    assert out["ci"]["female"] == [1.0, 1.0] and out["difference ci"][0] > 0.6
    # one male speaker right on every class widens the males' interval
    pred[speaker == "m1"] = truth[speaker == "m1"]
    out = subgroups.split_ci(truth, pred, speaker, female, names=("female", "male"),
                             paired=False)
    lo, hi = out["ci"]["male"]
    assert lo < out["uar"]["male"] < hi and lo <= 1 / 3 + 1e-9 and hi >= 1 - 1e-9


def test_a_paired_split_resamples_the_same_speakers_for_both_sides():
    truth, pred, speaker, _ = _clips()
    strong = np.tile([True, False], len(truth) // 2)  # every speaker on both sides
    out = subgroups.split_ci(truth, pred, speaker, strong, names=("strong", "normal"),
                             paired=True)
    assert out["difference"] == 0.0 and out["difference ci"] == [0.0, 0.0]


def test_the_report_lists_each_split():
    result = {"corpus": "ravdess", "model": "strict teacher", "split": "gender",
              "uar": {"female": 0.5, "male": 0.4}, "ci": {"female": [0.4, 0.6],
                                                          "male": [0.3, 0.5]},
              "difference": 0.1, "difference ci": [-0.05, 0.25],
              "p_true": {"female": 0.3, "male": 0.25}, "clips": {"female": 10, "male": 12}}
    summary = {"command": "c", "seconds": 1.0,
               "results": {"results": [result], "models": {
                   f"{c} {m}": "id" for c in ("emovo", "ravdess", "tess")
                   for m in subgroups.DEPLOYED}}}
    report = subgroups.render(summary)
    assert ("| ravdess | strict teacher | 10 / 12 | 0.500 [0.400, 0.600] | "
            "0.400 [0.300, 0.500] | +0.100 [-0.050, +0.250] | 0.300 / 0.250 |") in report
    assert "## Intensity" in report
