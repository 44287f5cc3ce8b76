"""experiments/vtln.py: the warp choice and the committed report."""

import json

import numpy as np

from .conftest import ROOT, experiment

vtln = experiment("vtln")
views = experiment("test_time_views")


def test_nearest_warp_takes_the_row_nearest_the_reference_in_z_scores():
    rng = np.random.default_rng(0)
    # feature 0 spread 1, feature 1 spread 100: distances are counted in spreads
    reference = rng.normal(size=(500, 2)) * [1.0, 100.0] + [5.0, 50.0]
    mean, scale = reference.mean(axis=0), reference.std(axis=0)
    candidates = np.array([
        [mean + [3.0, 0.0] * scale, mean + [0.5, 0.5] * scale, mean + [0.0, 2.0] * scale],
        [mean + [0.0, 1.5] * scale, mean + [1.0, 1.0] * scale, mean + [0.2, 0.0] * scale],
    ])
    np.testing.assert_array_equal(vtln.nearest_warp(candidates, reference), [1, 2])
    # a constant feature (spread 0) neither decides nor breaks the choice
    flat = np.concatenate([reference, np.zeros((500, 1))], axis=1)
    padded = np.concatenate([candidates, np.zeros((2, 3, 1))], axis=2)
    np.testing.assert_array_equal(vtln.nearest_warp(padded, flat), [1, 2])


def test_report_renders_from_its_summary():
    """reports/vtln: the committed report is its summary rendered, and each verdict
    follows the rule fixed before the run."""
    folder = ROOT / "reports" / "vtln"
    summary = json.loads((folder / "summary.json").read_text())
    text = vtln.render(summary)
    assert text == (folder / "report.md").read_text()
    for norm, res in summary["results"].items():
        section = text.split(f"## {norm}")[1].split("## ")[0]
        for variant in ("vtln test", "vtln both"):
            base, new = res["clip"], res[variant]
            lead = (new["loco_mean_uar"] - base["loco_mean_uar"] >= 0.010
                    and new["cv_uar"] - base["cv_uar"] >= -0.010
                    and new["loco_mean_ece"] <= base["loco_mean_ece"])
            assert lead == views.is_lead(res, variant)
            row = next(line for line in section.splitlines()
                       if line.startswith(f"| {variant} |"))
            assert ("**a lead**" in row) == lead
        for f in res["loco"].values():
            assert abs(sum(f["warp_shares"]) - 1) < 1e-9 and f["n"] > 0
