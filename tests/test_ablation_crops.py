"""Crops in the deployed teacher recipe (experiments/ablation_crops.py) and the extra
test sets of loco.fixed_params_loco it scores them with."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ser_classic.features import FeatureConfig, extract_batch

from .conftest import ROOT, experiment

crops = experiment("ablation_crops")
loco = experiment("loco")
bench = experiment("bench_conditions")


@pytest.fixture(scope="module")
def rows_and_features(ravdess_manifest, tess_manifest, feature_cache):
    """3 RAVDESS actors and 4 clips per emotion of each TESS speaker, 300 columns."""
    rows = pd.concat([
        ravdess_manifest[ravdess_manifest["speaker"].isin(
            ["ravdess_01", "ravdess_02", "ravdess_17"])],
        tess_manifest.groupby(["speaker", "emotion"]).head(4)], ignore_index=True)
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=FeatureConfig(),
                                 cache_dir=feature_cache)
    assert not errors
    return rows, X[:, :300]


@pytest.mark.parametrize("normalization", ["strict", "speaker_norm"])
def test_each_test_set_is_scored_with_its_own_speaker_statistics(rows_and_features,
                                                                 normalization):
    rows, X = rows_and_features
    shifted = X * 3.0 + 5.0  # another level per column: speaker statistics undo it
    result = loco.fixed_params_loco(
        X, [], rows, name="linear", normalization=normalization,
        params=bench.teacher_params(normalization), random_state=0,
        tests={"same": X, "shifted": shifted})
    for held in ("ravdess", "tess"):
        r = result["corpora"][held]
        assert r["tests"]["same"]["uar"] == pytest.approx(r["uar"])
        assert 0 <= r["tests"]["same"]["ece"] <= 1
        if normalization == "speaker_norm":
            assert r["tests"]["shifted"] == pytest.approx(r["tests"]["same"])
    if normalization == "strict":  # a strict model sees the shift
        assert any(result["corpora"][c]["tests"]["shifted"]["uar"]
                   != pytest.approx(result["corpora"][c]["uar"]) for c in ("ravdess", "tess"))


def test_groups_and_held_out_pick_what_is_held_out(rows_and_features):
    rows, X = rows_and_features
    groups = np.where(rows["speaker"] == "ravdess_17", "probe", "rest")
    result = loco.fixed_params_loco(
        X, [], rows, name="linear", normalization="strict",
        params=bench.teacher_params("strict"), random_state=0, groups=groups,
        held_out=["probe"])
    assert list(result["corpora"]) == ["probe"]
    # every clip of the held-out actor: the other two actors train calm too
    assert result["corpora"]["probe"]["n"] == int((rows["speaker"] == "ravdess_17").sum())
    assert "tests" not in result["corpora"]["probe"]


def _result(cut: float, whole: float, speakers: float) -> dict:
    tests = {str(L): {"uar": cut, "ece": 0.2} for L in crops.LENGTHS}
    corpora = {c: {"uar": whole, "tests": {**tests, crops.WHOLE: {"uar": whole, "ece": 0.1}}}
               for c in crops.CORPORA}
    probe = {crops.SPEAKERS: {"uar": speakers, "tests": {
        **tests, crops.WHOLE: {"uar": speakers, "ece": 0.1}}}}
    return {"loco": {"corpora": corpora}, "speakers": {"corpora": probe}}


def test_the_verdict_and_the_report():
    base, with_crops = crops.variants()
    results = {"strict": {base: _result(0.30, 0.40, 0.60), with_crops: _result(0.33, 0.395,
                                                                                0.58)},
               "speaker_norm": {base: _result(0.30, 0.50, 0.70),
                                with_crops: _result(0.32, 0.50, 0.70)}}
    v = crops.verdict(results)
    assert v["strict"]["cut gain"] == pytest.approx(0.03)
    assert not v["strict"]["lead"]  # actors 17-20 lose 0.02 on whole clips
    assert v["speaker_norm"]["lead"]
    summary = {"command": "c", "seconds": 1.0, "seed": 0, "results": results, "verdict": v}
    report = crops.render(summary)
    assert f"| strict | `{with_crops}` | " + "0.395 / 0.100 | " + "0.330 / 0.200 | " * 3 \
        + "0.330 / 0.200 |" in report
    assert "| speaker_norm | +0.020 | +0.000 | +0.000 | yes |" in report


def test_the_committed_report_renders_from_its_summary():
    summary = json.loads((ROOT / "reports/ablation_crops/summary.json").read_text())
    assert crops.render(summary) == (ROOT / "reports/ablation_crops/report.md").read_text()
    assert set(summary["verdict"]) == {"strict", "speaker_norm"}
