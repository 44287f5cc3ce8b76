"""The rule and the merged report of experiments/student_calibration.py."""

import json

import pytest

from .conftest import experiment

stucal = experiment("student_calibration")
CONDITIONS = ("clean", "white 20 dB", "telephone")


def _result(ece: dict[str, float]) -> dict:
    """One normalisation's result: ``ece[calibration]`` everywhere, the teacher's 0.1."""
    inner = {name: {c: {"accuracy": 0.6, "uar": 0.6, "ece": e} for c in CONDITIONS}
             for name, e in {"teacher": 0.1, **ece}.items()}
    loco = {cal: {"mean_uar": 0.4, "mean_ece": e,
                  "corpora": {c: {"uar": 0.4, "ece": e} for c in stucal.CORPORA}}
            for cal, e in ece.items()}
    loco["teacher"] = {"mean_uar": 0.41, "mean_ece": 0.2}
    return {"inner": inner, "loco": loco, "decision": stucal.decide(inner, loco)}


def test_rule_takes_the_lowest_mean_of_the_three_eces():
    res = _result({"none": 0.3, "temperature": 0.12, "corpus_temperature": 0.1})
    assert res["decision"]["chosen"] == "corpus_temperature"
    scores = res["decision"]["scores"]["temperature"]
    assert scores == {"clean": 0.12, "degraded": 0.12, "corpora": 0.12, "mean": 0.12}
    inner = res["inner"]
    inner["corpus_temperature"]["clean"]["ece"] = 0.5  # held-out speakers worse
    assert stucal.decide(inner, res["loco"])["chosen"] == "temperature"


def test_runs_of_one_normalisation_each_merge_into_one_report(tmp_path):
    paths = []
    for norm, best in (("strict", "corpus_temperature"), ("speaker_norm", "temperature")):
        ece = {"none": 0.3, "temperature": 0.12, "corpus_temperature": 0.1}
        ece[best] = 0.05
        summary = {"command": "python experiments/student_calibration.py --width 1200 "
                              f"--normalizations {norm} --out /tmp/{norm}",
                   "machine": "2 CPUs", "seed": 0, "seconds": 60.0, "fold_clips": 48,
                   "augment": "vtlp+pitch", "copies": 2,
                   "width": 1200, "inner_folds": [["ravdess_01"]],
                   "normalizations": {norm: _result(ece)}}
        paths.append(tmp_path / f"{norm}.json")
        paths[-1].write_text(json.dumps(summary))
    out = tmp_path / "merged"
    assert stucal.main(["--merge", ",".join(map(str, paths)), "--out", str(out)]) == 0
    text = (out / "summary.md").read_text()
    merged = json.loads((out / "summary.json").read_text())
    assert merged["command"] == ("python experiments/student_calibration.py --width 1200 "
                                 f"--out {out}")
    assert list(merged["normalizations"]) == ["strict", "speaker_norm"]
    assert merged["seconds"] == 120.0
    assert "strict: `python experiments/student_calibration.py" in text
    assert "(`linear`, `--augment vtlp+pitch --copies 2`)" in text
    assert text.count("| (b) held-out corpus: UAR / ECE | `teacher` | `none` | "
                      "`temperature` | `corpus_temperature` |\n|---|---|---|---|---|") == 2
    assert "Chosen: **`corpus_temperature`**." in text
    assert "Chosen: **`temperature`**." in text


def test_runs_of_other_training_copies_do_not_merge(tmp_path):
    paths = []
    for norm, augment in (("strict", "vtlp+conditions"), ("speaker_norm", "vtlp+pitch")):
        summary = {"command": f"python experiments/student_calibration.py --normalizations "
                              f"{norm}", "machine": "2 CPUs", "seed": 0, "seconds": 1.0,
                   "fold_clips": 48, "augment": augment, "copies": 1, "width": 1200,
                   "inner_folds": [["ravdess_01"]],
                   "normalizations": {norm: _result({"none": 0.3, "temperature": 0.1,
                                                     "corpus_temperature": 0.2})}}
        paths.append(tmp_path / f"{norm}.json")
        paths[-1].write_text(json.dumps(summary))
    with pytest.raises(RuntimeError, match="training copies"):
        stucal.main(["--merge", ",".join(map(str, paths)), "--out", str(tmp_path / "m")])
    assert not (tmp_path / "m").exists()
