"""Issue 19's targets read off the committed reports (experiments/targets.py)."""

import json
import shutil

from .conftest import ROOT, experiment

tg = experiment("targets")
READ = ("ab/corpus", "ab/corpus_speaker_norm", "ab/corpus_neutral_ref", "loco_selected",
        "cv_selected_loso", "conditions", "calibration", "speaker_ece", "speaker_conditions",
        "student_calibration")


def _copy_reports(tmp_path):
    for name, file in tg.SOURCES.items():
        (tmp_path / name).mkdir(parents=True)
        shutil.copy(ROOT / "reports" / name / file, tmp_path / name)
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
        run["models"]["linear"]["uar"] = uar
        path.write_text(json.dumps(cv))
        row = _row(tg.collect(reports), "RAVDESS LOSO", "speaker_norm")
        assert (row["measured"], row["met"]) == (f"{uar:.3f}", met)


def test_loso_reads_the_deployed_family_not_the_best_member(tmp_path):
    """The CV's own pick is the best-scoring model on its test folds; the target row reads
    the family the stored teachers are, whatever a member scored."""
    reports = _copy_reports(tmp_path)
    path = reports / "cv_selected_loso/summary.json"
    cv = json.loads(path.read_text())
    run = cv["speaker_norm_run"]
    run["models"]["linear"]["uar"], run["models"]["ridge"]["uar"] = 0.70, 0.99
    run["selected"] = "ridge"
    path.write_text(json.dumps(cv))
    row = _row(tg.collect(reports), "RAVDESS LOSO", "speaker_norm")
    assert row["model"].startswith("speaker_norm linear (")
    assert (row["measured"], row["met"]) == ("0.700", False)


def test_report_lists_every_row_and_the_commands(tmp_path):
    summary = tg.collect(_copy_reports(tmp_path))
    text = tg.render(summary, "c")
    assert text.count("\n| ") == len(summary["rows"]) + 1  # the header too
    assert f"**{summary['met']} of {summary['total']} rows met.**" in text
    assert all(f"- `reports/{name}`: `" in text for name in READ)


def test_rows_of_a_report_made_on_another_recipe_are_marked(tmp_path):
    """A report that measured another teacher augmentation than the shipped teachers' (or
    does not record one) marks its rows and names the recipe it measured."""
    reports = _copy_reports(tmp_path)
    path = reports / "speaker_ece/summary.json"
    ece = json.loads(path.read_text())
    ece["augment"] = "vtlp"
    path.write_text(json.dumps(ece))
    summary = tg.collect(reports)
    assert summary["recipes"]["speaker_ece"] == "vtlp"
    assert summary["recipes"]["loco_selected"] == "none"
    earlier = tg.earlier_recipe(summary)
    assert earlier["speaker_ece"] == "vtlp" and "loco_selected" not in earlier
    text = tg.render(summary, "c")
    marked = [line for line in text.splitlines() if line.endswith("`reports/speaker_ece` † |")]
    assert len(marked) == sum(r["source"] == "speaker_ece" for r in summary["rows"]) > 0
    assert "`reports/speaker_ece` measured `vtlp`" in text
    summary["recipes"] = {name: summary["shipped_augment"] for name in summary["recipes"]}
    assert tg.earlier_recipe(summary) == {} and "†" not in tg.render(summary, "c")


def test_a_calibrated_models_ece_shrinks_with_the_clips_it_is_scored_on():
    """The sampling floor the ECE rows quote: 15 bins over 208 clips put a calibrated
    model near the 0.05 target's double; it falls about as 1 / sqrt(n)."""
    small, large = tg.calibrated_ece(208, draws=400), tg.calibrated_ece(2800, draws=400)
    assert 0.07 < small[0] < small[1] < 0.13
    assert 0.015 < large[0] < large[1] < 0.04
    assert 2.5 < small[0] / large[0] < 4.5  # sqrt(2800 / 208) = 3.7


def test_the_ece_rows_quote_the_sampling_floor_at_their_clip_count(tmp_path):
    summary = tg.collect(_copy_reports(tmp_path))
    clean = _row(summary, "ECE on held-out speakers, clean", "strict teacher")
    mean, q95 = tg.calibrated_ece(208)
    assert clean["measured"].endswith(f"(calibrated on 208: {mean:.3f}, 95 % <= {q95:.3f})")
    every = _row(summary, "ECE on held-out speakers, clean, 1248", "strict teacher")
    calibration = json.loads((tmp_path / "calibration/ravdess.json").read_text())
    ece = calibration["runs"]["strict"]["held_out"]["uncalibrated"]["ece"]
    assert every["measured"].startswith(f"{ece:.3f} (calibrated on 1248: ")
    assert every["met"] == (ece <= 0.05)
    floor = summary["sampling_floor"]  # a calibrated model on those 208 clips
    assert floor["clips"] == 208 and floor["clean"] < 0.1 < 0.5 < floor["degraded"] < 0.95
    assert floor["every_degradation"] == floor["degraded"] ** floor["degradations"]
    assert f"clean target (<= 0.05) in {floor['clean']:.1%} of draws" in tg.render(summary, "c")
