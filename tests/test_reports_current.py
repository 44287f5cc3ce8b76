"""Reports that only read other reports are regenerated with them: the committed text is
what their script writes from the committed summaries today (a rerun A/B or CV without
its readers fails here)."""

import json

from .conftest import ROOT, experiment


def test_related_work_reads_the_committed_summaries():
    related = experiment("related_work")
    assert related.render() == (ROOT / "reports/related_work.md").read_text()


def test_targets_read_the_committed_summaries():
    targets = experiment("targets")
    committed = json.loads((ROOT / "reports/targets/summary.json").read_text())
    summary = targets.collect(ROOT / "reports")
    assert (summary["met"], summary["total"]) == (committed["met"], committed["total"])
    assert summary["rows"] == committed["rows"]
    assert targets.render(summary, committed["command"]) == (
        ROOT / "reports/targets/report.md").read_text()


def test_ablation_reports_render_from_their_summaries(tmp_path):
    # a report's prose (the recipe its models trained on, say) comes from its summary,
    # not from what the script's constants are today
    for script, report in (("ablation_members", "ablation_members"),
                           ("ablation_students", "ablation_students"),
                           ("ablation_students", "ablation_width"),
                           ("ablation_students", "ablation_logit"),
                           ("student_calibration", "student_calibration"),
                           ("student_calibration", "student_calibration/neutral_ref"),
                           ("student_solver", "student_solver")):
        summary = json.loads((ROOT / f"reports/{report}/summary.json").read_text())
        experiment(script).write_report(summary, tmp_path / report)
        assert (tmp_path / report / "summary.md").read_text() == (
            ROOT / f"reports/{report}/summary.md").read_text(), report


def test_choice_audit_reads_the_committed_summaries(tmp_path):
    audit = experiment("choice_audit")
    audit.write_report(audit.audit(ROOT / "reports"), tmp_path)
    for name in ("summary.json", "summary.md"):
        assert (tmp_path / name).read_text() == (
            ROOT / "reports/choice_audit" / name).read_text(), name


def test_held_out_corpus_ab_reports_render_from_their_summaries():
    # the A/B's prose (how held-out clips were scored, say) is what corpus-ab writes today
    from ser_classic.deployment import _markdown

    for name in ("corpus", "corpus_speaker_norm", "corpus_neutral_ref"):
        report = (ROOT / f"reports/ab/{name}/report.md").read_text()
        summary = json.loads((ROOT / f"reports/ab/{name}/summary.json").read_text())
        command = report.splitlines()[2].removeprefix("Command: `").removesuffix("`")
        assert _markdown(summary, command) == report, name


def test_calibration_report_renders_from_its_parts(tmp_path):
    # its prose names how the stored models are calibrated, read off their cards
    calibration = experiment("calibration")
    out = ROOT / "reports/calibration"
    results = {p: json.loads((out / f"{p}.json").read_text()) for p in calibration.PARTS}
    calibration.write_report(results, tmp_path, "unused",
                             {p: r["command"] for p, r in results.items()})
    assert (tmp_path / "report.md").read_text() == (out / "report.md").read_text()
