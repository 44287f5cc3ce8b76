"""experiments/test_time_views.py and vtln.py: the views' features and the committed
reports."""

import json

import numpy as np
import pytest

from ser_classic.data import load_audio
from ser_classic.features import FeatureConfig, extract_features

from .conftest import ROOT, experiment

views = experiment("test_time_views")


def test_views_are_the_copy_path_without_its_randomness(small_manifest):
    """The identity views are the inference path's features (to float32 rounding); a
    warp and a pitch step each move them, and the same clip gives the same rows twice."""
    config = FeatureConfig()
    y = load_audio(small_manifest["path"][0], sr=config.sample_rate).astype(np.float64)
    chosen = (("warp", 1.0), ("pitch", 0.0), ("warp", 1.1), ("pitch", 2.0))
    V = views.view_features(y, config=config, views=chosen)
    x = extract_features(y, config=config)
    assert V.shape == (4, x.size)
    np.testing.assert_allclose(V[0], x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(V[1], x, rtol=1e-4, atol=1e-5)
    for moved in V[2:]:
        assert np.abs(moved - x).max() > 1e-2 * np.abs(x).max()
    np.testing.assert_array_equal(V, views.view_features(y, config=config, views=chosen))


@pytest.mark.parametrize("name, variants", [
    ("test_time_views", ("vtlp views", "vtlp+pitch views")),
    ("vtln", ("vtln test", "vtln both"))])
def test_reports_render_from_their_summaries(name, variants):
    """reports/test_time_views and reports/vtln: each committed report is its summary
    rendered, and each verdict follows the rule fixed before the run."""
    folder = ROOT / "reports" / name
    summary = json.loads((folder / "summary.json").read_text())
    text = experiment(name).render(summary)
    assert text == (folder / "report.md").read_text()
    for norm, res in summary["results"].items():
        section = text.split(f"## {norm}")[1].split("## ")[0]
        for variant in variants:
            base, new = res["clip"], res[variant]
            lead = (new["loco_mean_uar"] - base["loco_mean_uar"] >= 0.010
                    and new["cv_uar"] - base["cv_uar"] >= -0.010
                    and new["loco_mean_ece"] <= base["loco_mean_ece"])
            assert lead == views.is_lead(res, variant)
            row = next(line for line in section.splitlines()
                       if line.startswith(f"| {variant} |"))
            assert ("**a lead**" in row) == lead
        assert set(res["loco"]) == {"emovo", "ravdess", "tess"}
        for f in res["loco"].values():
            assert f["n"] > 0
            if name == "vtln":
                assert abs(sum(f["warp_shares"]) - 1) < 1e-9
