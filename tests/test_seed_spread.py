"""The seed-spread experiment (experiments/seed_spread.py) and the 1-vs-2-workers check's
tree comparison (experiments/check_reproducible.py), on real models and small trees."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser_classic import abtest, data, distill
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.recognizer import load

from .conftest import TESS, experiment
from .deploy_models import tiny_model

TEST_SETS = ("ravdess_21-24", "tess", "emovo")


@pytest.fixture(scope="module")
def spread():
    return experiment("seed_spread")


def test_closed_set_score_on_tess(spread, small_manifest, feature_cache):
    """An 8-class model scored on TESS clips: calm is dropped from the decision, the
    figures match the recogniser's own probabilities renormalised over TESS's labels."""
    model = tiny_model(small_manifest, feature_cache)
    rows = data.build_manifest(data.scan_tess(TESS)).iloc[::70].reset_index(drop=True)
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=FeatureConfig(),
                                 cache_dir=feature_cache)
    assert not errors
    labels = rows["emotion"].to_numpy(dtype=str)
    speakers = rows["speaker"].to_numpy(dtype=str)
    got = spread.score(model, X, labels, speakers, n_boot=100, random_state=0)
    assert "calm" not in got["classes"] and set(got["classes"]) == set(labels)
    rec = load(model)
    proba = rec.proba_from_features(X)
    keep = [list(rec.classes_).index(c) for c in got["classes"]]
    pred = np.asarray(got["classes"])[proba[:, keep].argmax(axis=1)]
    assert got["accuracy"] == pytest.approx(np.mean(pred == labels))
    assert got["accuracy_ci95"][0] <= got["accuracy"] <= got["accuracy_ci95"][1]
    assert got["n_clips"] == len(rows)


def _run(seed, acc, cols):
    m = {t: {"accuracy": acc, "uar": acc - 0.01, "accuracy_ci95": [acc - 0.1, acc + 0.1],
             "uar_ci95": [acc - 0.11, acc + 0.09]} for t in TEST_SETS}
    return {"seed": seed, "models": {
        "teacher": {"model_id": "linear-1", **m},
        "compact_int8": {"model_id": f"distilled_compact_int8-{seed}", "columns": cols, **m}}}


def test_spread_table_overlap_and_margin(spread):
    runs = [_run(0, 0.50, [1, 2, 3, 4]), _run(1, 0.56, [1, 2, 3, 5]),
            _run(2, 0.53, [1, 2, 3, 4])]
    rows = {r["figure"]: r for r in spread.spread_table(runs)}
    tess = rows["compact_int8 tess accuracy"]
    assert tess["values"] == [0.50, 0.56, 0.53]
    assert tess["range"] == pytest.approx(0.06) and tess["mean"] == pytest.approx(0.53)
    assert tess["std"] == pytest.approx(np.std([0.50, 0.56, 0.53], ddof=1))
    assert tess["ci95_first_seed"] == [0.4, 0.6]
    overlap = spread.column_overlap(runs)["compact_int8"]
    assert overlap["in_every_seed"] == 3 and overlap["min_jaccard"] == pytest.approx(3 / 5)
    # the A/B rule reads the margin from the summary the script writes
    summary = {"spread": {"strict": spread.spread_table(runs)}}
    assert abtest.spread_margin(summary, ["compact_int8 tess accuracy",
                                          "teacher tess accuracy"]) == pytest.approx(0.06)
    text = spread.report({"seeds": [0, 1, 2], "family": "linear", "selection": "s.json",
                          "runs": {"strict": runs}}, command="x")
    assert "| compact_int8 tess accuracy | 0.530 | 0.500 | 0.560 | 0.060 |" in text
    assert "compact students at the library's width" in text  # no width recorded
    for run in runs:
        run["models"]["compact_int8"]["width"] = 1200
    text = spread.report({"seeds": [0, 1, 2], "family": "linear", "selection": "s.json",
                          "width": 1200, "runs": {"strict": runs}}, command="x")
    assert "(compact students 1200 columns wide)" in text


def test_select_on_is_restored(spread):
    spec = distill.student_spec("compact")
    with pytest.raises(RuntimeError), spread._select_on("compact_int8", "clips"):
        assert distill.student_spec("compact").select_on == "clips"
        raise RuntimeError
    assert distill.student_spec("compact") is spec and spec.select_on == "transfer"


def test_compare_reports_model_ids_and_ignores_timing_and_workers(tmp_path):
    check = experiment("check_reproducible")
    for tag, model_id, seconds, jobs in (("a", "m-1", 1.0, " --jobs 1"), ("b", "m-1", 2.0, "")):
        card = tmp_path / tag / ".cache/models/teacher/model.json"
        card.parent.mkdir(parents=True)
        card.write_text(json.dumps({"model_id": model_id, "fit_seconds": seconds}))
        report = tmp_path / tag / "reports/cv_quick/summary.json"
        report.parent.mkdir(parents=True)
        report.write_text(json.dumps({"uar": 0.5, "snr_flip": [float("nan"), 40.0],
                                      "seconds": seconds,
                                      "out": str(tmp_path / tag / "reports"),
                                      "command": f"ser-classic evaluate{jobs} --seed 0"}))
    assert check.model_ids(tmp_path / "a") == {".cache/models/teacher": "m-1"}
    assert check.compare(tmp_path / "a", tmp_path / "b") == []
    card = tmp_path / "b/.cache/models/teacher/model.json"
    card.write_text(json.dumps({"model_id": "m-2", "fit_seconds": 2.0}))
    diffs = check.compare(tmp_path / "a", tmp_path / "b")
    assert diffs == [".cache/models/teacher/model.json/model_id: \"m-1\" != \"m-2\""]
    # a NaN figure equals NaN (json writes it as NaN) and differs from a number
    report = tmp_path / "b/reports/cv_quick/summary.json"
    report.write_text(report.read_text().replace("NaN", "41.0"))
    assert check.compare(tmp_path / "a", tmp_path / "b")[1:] == [
        "reports/cv_quick/summary.json/snr_flip[0]: NaN != 41.0"]
