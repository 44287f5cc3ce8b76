"""experiments/choice_audit.py: each committed rule rerun without one corpus's LOCO score."""

import json
import shutil

import pytest

from .conftest import ROOT, experiment

audit = experiment("choice_audit")


def _committed_choice(name: str, norm: str) -> str:
    summary = json.loads((ROOT / "reports" / name / "summary.json").read_text())
    if summary.get("kind") == "corpus_ab":
        return summary["decision"]["deploy"]
    if "normalizations" not in summary:  # ablation_conditions: its report's **best**
        md = (ROOT / "reports" / name / "summary.md").read_text()
        return next(line.split(" **best**")[0].strip("| ") for line in md.splitlines()
                    if "**best**" in line)
    res = summary["normalizations"][norm]
    return res["decision"]["chosen"] if "decision" in res else res["chosen"]


def test_every_rule_chooses_as_its_committed_report_did():
    summary = audit.audit(ROOT / "reports")
    assert len(summary["rows"]) >= 15
    assert {"ab/corpus", "ab/corpus_speaker_norm"} <= {r["report"] for r in summary["rows"]}
    for row in summary["rows"]:
        assert row["chosen"] == _committed_choice(row["report"], row["normalization"]), row
    # a corpus-blind LOCO mean of an unchanged choice is the committed one
    for row in summary["rows"]:
        if all(e["chosen"] == row["chosen"] for e in row["without"].values()):
            assert row["mean"]["blind"] == pytest.approx(row["mean"]["committed"])


def test_leaving_a_corpus_out_averages_the_others():
    loco = {"a": {"mean_uar": 0.5, "mean_ece": 0.2,
                  "corpora": {"emovo": {"uar": 0.2, "ece": 0.4},
                              "ravdess": {"uar": 0.5, "ece": 0.1},
                              "tess": {"uar": 0.8, "ece": 0.1}}},
            "teacher": {"mean_uar": 0.6}}
    left = audit.without(loco, "emovo")
    assert left["a"]["mean_uar"] == pytest.approx(0.65)
    assert left["a"]["mean_ece"] == pytest.approx(0.1)
    assert left["teacher"] == {"mean_uar": 0.6}
    assert audit.without(loco, None) == loco


def test_a_choice_made_by_one_corpus_is_reported(tmp_path):
    """The calibration whose EMOVO ECE alone is good is chosen with EMOVO and not without
    it; the report names the change and EMOVO's figure under both."""
    shutil.copytree(ROOT / "reports/student_calibration", tmp_path / "student_calibration")
    path = tmp_path / "student_calibration/summary.json"
    summary = json.loads(path.read_text())
    res = summary["normalizations"]["strict"]
    for cal in ("none", "temperature", "corpus_temperature"):
        for e in res["inner"][cal].values():
            e["ece"] = 0.2
        good = 0.0 if cal == "none" else 0.9
        res["loco"][cal]["corpora"] = {
            "emovo": {"uar": 0.3, "ece": good},
            "ravdess": {"uar": 0.4, "ece": 0.5 if cal == "none" else 0.1},
            "tess": {"uar": 0.5, "ece": 0.5 if cal == "none" else 0.1}}
        res["loco"][cal]["mean_ece"] = sum(
            v["ece"] for v in res["loco"][cal]["corpora"].values()) / 3
    path.write_text(json.dumps(summary))
    result = audit.audit(tmp_path)
    row = next(r for r in result["rows"] if r["normalization"] == "strict")
    assert row["chosen"] == "none"  # mean ECE 1/3 against 0.367
    emovo = row["without"]["emovo"]
    assert emovo["chosen"] == "temperature"  # the first of the tied ones
    assert emovo["held_out"] == {"none": 0.0, "temperature": 0.9}
    assert row["without"]["tess"]["chosen"] == "none"
    assert row["mean"]["blind"] == pytest.approx((0.9 + 0.5 + 0.5) / 3)
    audit.write_report(result, tmp_path / "out")
    md = (tmp_path / "out/summary.md").read_text()
    assert "**temperature** (emovo ECE 0.000 -> 0.900)" in md
