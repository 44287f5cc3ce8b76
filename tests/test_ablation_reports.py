"""experiments/ablation_conditions.py: committed reports render from their summaries."""

import json

import pytest

from .conftest import ROOT, experiment

ablation = experiment("ablation_conditions")


@pytest.mark.parametrize("folder", ["ablation_voice_change/strict",
                                    "ablation_voice_change/speaker_norm"])
def test_voice_change_reports_render_from_their_summaries(folder, tmp_path):
    committed = ROOT / "reports" / folder
    summary = json.loads((committed / "summary.json").read_text())
    assert {"conditions", "cv", "loco", "invariance", "voice"} <= set(summary)
    ablation.write_report(summary, tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert text == (committed / "summary.md").read_text()
    assert "## (f) Voice changes" in text and "| voice x1.15 (WORLD) |" in text
    assert "`voice_eq`: each copy given another voice" in text


def test_the_crops_cv_report_renders_from_its_summary(tmp_path):
    committed = ROOT / "reports" / "ablation_crops" / "cv"
    summary = json.loads((committed / "summary.json").read_text())
    assert set(summary["cv"]) == {"vtlp_eq+conditions_eq+pitch_eq",
                                  "vtlp_eq+conditions_eq+pitch_eq+crops"}
    ablation.write_report(summary, tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert text == (committed / "summary.md").read_text()
    assert "`crops`: each copy a span of 0.5-2 s of the clip's speech" in text
