"""Issue 19's targets read off the committed reports (experiments/targets.py)."""

import json
import shutil

from .conftest import ROOT, experiment

tg = experiment("targets")
READ = ("ab/corpus", "ab/corpus_speaker_norm", "loco_selected", "cv_selected_loso",
        "conditions")


def _copy_reports(tmp_path):
    for name in READ:
        (tmp_path / name).mkdir(parents=True)
        shutil.copy(ROOT / "reports" / name / "summary.json", tmp_path / name)
    return tmp_path


def _row(summary, target, model):
    return next(r for r in summary["rows"] if r["target"].startswith(target)
                and r["model"].startswith(model))


def test_the_rows_carry_the_reports_figures(tmp_path):
    reports = _copy_reports(tmp_path)
    summary = tg.collect(reports)
    ab = json.loads((reports / "ab/corpus/summary.json").read_text())
    deployed = ab["decision"]["deploy"]
    row = _row(summary, "LOCO UAR, mean", f"strict {deployed} (deployed)")
    assert row["measured"] == f"{ab['mean'][deployed]['uar']:.3f}"
    assert row["met"] == (ab["mean"][deployed]["uar"] >= 0.50)
    assert summary["met"] == sum(r["met"] for r in summary["rows"])
    assert {r["source"] for r in summary["rows"]} == set(READ)


def test_a_changed_figure_changes_the_verdict(tmp_path):
    reports = _copy_reports(tmp_path)
    path = reports / "cv_selected_loso/summary.json"
    cv = json.loads(path.read_text())
    run = cv["speaker_norm_run"]
    for uar, met in ((0.70, False), (0.75, True)):
        run["models"][run["selected"]]["uar"] = uar
        path.write_text(json.dumps(cv))
        row = _row(tg.collect(reports), "RAVDESS LOSO", "speaker_norm")
        assert (row["measured"], row["met"]) == (f"{uar:.3f}", met)


def test_report_lists_every_row_and_the_commands(tmp_path):
    summary = tg.collect(_copy_reports(tmp_path))
    text = tg.render(summary, "c")
    assert text.count("\n| ") == len(summary["rows"]) + 1  # the header too
    assert f"**{summary['met']} of {summary['total']} rows met.**" in text
    assert all(f"- `reports/{name}`: `" in text for name in READ)
