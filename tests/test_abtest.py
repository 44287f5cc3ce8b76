"""A/B harness: label mapping, decision rule, a small real run through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser_classic import abtest, cli
from ser_classic.errors import ParameterError

from .conftest import RAVDESS, TESS
from .deploy_models import tiny_model


@pytest.fixture(scope="module")
def models(small_manifest, feature_cache):
    a = tiny_model(small_manifest, feature_cache)
    b = tiny_model(small_manifest, feature_cache, params={"clf__C": 0.3})
    return a, b


def test_label_mapping_declares_calm():
    classes = ["angry", "calm", "neutral", "sad"]
    tess = ["angry", "neutral", "sad", "surprised"]
    assert abtest.label_mapping(classes, tess)["calm"] == "neutral"
    assert abtest.label_mapping(classes, tess, calm_as="wrong")["calm"] is None
    assert abtest.label_mapping(classes, [*tess, "calm"])["calm"] == "calm"
    with pytest.raises(ParameterError):
        abtest.label_mapping(classes, tess, calm_as="sad")


def _summary(acc_a, acc_b, p, ci, p50_a, p50_b):
    model = {"model_id": "m", "path": "p"}
    return {"models": {"a": {**model, "model_id": "A", "accuracy": acc_a,
                             "latency": {"p50_ms": p50_a}},
                       "b": {**model, "model_id": "B", "accuracy": acc_b,
                             "latency": {"p50_ms": p50_b}}},
            "comparison": {"accuracy_diff": acc_a - acc_b, "accuracy_diff_ci": ci,
                           "mcnemar": {"p_value": p}}}


def test_decision_rule_quality_first_speed_breaks_ties():
    assert abtest.decide(_summary(0.6, 0.5, 0.001, [0.05, 0.15], 9, 1))["winner"] == "a"
    assert abtest.decide(_summary(0.5, 0.6, 0.001, [-0.15, -0.05], 1, 9))["winner"] == "b"
    tie = abtest.decide(_summary(0.6, 0.58, 0.3, [-0.01, 0.05], 9, 1))
    assert tie["winner"] == "b" and tie["reason"].startswith("tie on quality")
    assert abtest.decide(_summary(0.5, 0.6, 0.3, [-0.2, 0.01], 1, 9))["winner"] == "a"
    assert abtest.decide(_summary(0.5, 0.6, 0.3, [-0.2, 0.01], 10, 9.7))["winner"] == "a"
    # significant McNemar but a CI touching 0 is still a tie
    assert abtest.decide(_summary(0.6, 0.5, 0.01, [-0.001, 0.2], 2, 1))["winner"] == "b"


def test_decision_rule_min_difference_is_the_seed_spread():
    """B, significantly better by 0.04, replaces A only when the seed spread is smaller."""
    summary = _summary(0.50, 0.54, 0.001, [-0.07, -0.01], 1, 9)  # CI half-width 0.03
    assert abtest.decide(summary)["winner"] == "b"  # no spread given: as before
    within = abtest.decide({**summary, "min_difference": 0.06})
    assert within["winner"] == "a" and "within the seed spread" in within["reason"]
    assert within["quality_threshold"] == {
        "statistical": pytest.approx(0.03), "min_difference": 0.06,
        "applied": "min_difference", "significant": True, "beyond_spread": False,
        "passed": False}
    beyond = abtest.decide({**summary, "min_difference": 0.02})
    assert beyond["winner"] == "b" and beyond["quality_threshold"]["passed"]
    assert beyond["quality_threshold"]["applied"] == "statistical"
    assert abtest.decide({**summary, "min_difference": 0.035})["winner"] == "b"
    # the spread only ever removes quality wins: a non-significant B still ties
    noisy = _summary(0.50, 0.60, 0.3, [-0.2, 0.01], 9, 1)
    bar = abtest.decide({**noisy, "min_difference": 0.01})["quality_threshold"]
    assert not bar["significant"] and bar["beyond_spread"] and not bar["passed"]
    for bad in (-0.01, float("nan")):
        with pytest.raises(ParameterError, match="min_difference"):
            abtest.quality_threshold(summary["comparison"], min_difference=bad)


def test_spread_margin_reads_the_seed_spread_summary(tmp_path):
    spread = {"spread": {"strict": [
        {"figure": "teacher tess accuracy", "range": 0.012},
        {"figure": "compact_int8 tess accuracy", "range": 0.064}]}}
    figures = ["teacher tess accuracy", "compact_int8 tess accuracy"]
    assert abtest.spread_margin(spread, figures) == 0.064
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(spread))
    assert abtest.spread_margin(path, figures[:1]) == 0.012
    with pytest.raises(ParameterError, match="no figure"):
        abtest.spread_margin(spread, ["teacher emovo accuracy"])
    with pytest.raises(ParameterError, match="speaker_norm"):
        abtest.spread_margin(spread, figures, normalization="speaker_norm")


def test_ab_test_min_difference_on_real_models(models, tmp_path):
    """Two real models on 30 TESS clips: with a spread of 1 no difference decides on
    quality, the result names the bar that applied and the report says so."""
    from ser_classic import data, pipeline
    from ser_classic.recognizer import load

    rec_a, rec_b = (load(m) for m in models)
    records = data.scan_corpus(TESS)
    result = pipeline.ab_test(rec_a, rec_b, records, limit=30, n_boot=200,
                              min_difference=1.0)
    bar = result.quality_threshold
    assert bar["applied"] == "min_difference" and bar["min_difference"] == 1.0
    assert not bar["passed"] and result.summary["min_difference"] == 1.0
    assert result.summary["decision"]["reason"].startswith("tie on quality")
    assert result.summary["decision"] == abtest.decide(result.summary)
    result.write_report(tmp_path / "ab", command="test")
    report = (tmp_path / "ab" / "report.md").read_text()
    assert "min_difference 1.000 (seed spread) — the min difference one applies" in report
    plain = pipeline.ab_test(rec_a, rec_b, records, limit=30, n_boot=200)
    assert plain.quality_threshold["min_difference"] == 0.0
    assert plain.quality_threshold["applied"] == "statistical"
    assert plain.summary["comparison"] == result.summary["comparison"]
    with pytest.raises(ParameterError, match="min_difference"):
        pipeline.ab_test(rec_a, rec_b, records, limit=30, min_difference=-0.1)


def test_bootstrap_and_uar():
    y = np.array(["a", "a", "b", "b"])
    assert abtest.uar(y, np.array(["a", "b", "b", "b"]), labels=["a", "b"]) == 0.75
    lo, hi = abtest.bootstrap_ci(lambda idx: float(np.mean(idx < 50)), 100, n_boot=500,
                                 rng=np.random.default_rng(0))
    assert lo < 0.5 < hi


def test_cli_ab_on_tess(models, tmp_path, capsys):
    a, b = models
    out = tmp_path / "ab"
    code = cli.main(["ab", "--a", str(a), "--b", str(b), "--data", str(TESS), "--out",
                     str(out), "--limit", "40", "--boot", "200", "--deploy-to",
                     str(tmp_path / "deployed")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"].startswith("ser-classic ab --a")
    assert summary["n_clips"] == 40 and "calm" not in summary["labels"]
    assert summary["models"]["a"]["label_mapping"]["calm"] == "neutral"
    for k in ("a", "b"):
        m = summary["models"][k]
        assert 0 <= m["accuracy_ci"][0] <= m["accuracy"] <= m["accuracy_ci"][1] <= 1
        assert m["latency"]["p50_ms"] <= m["latency"]["p95_ms"] <= m["latency"]["p99_ms"]
        assert set(m["recall"]) == set(summary["labels"])
    comp = summary["comparison"]
    pa = np.array(summary["per_clip"]["pred_a"])
    pb = np.array(summary["per_clip"]["pred_b"])
    assert comp["agreement"] == pytest.approx(np.mean(pa == pb))
    assert 0 <= comp["mcnemar"]["p_value"] <= 1
    assert summary["decision"] == abtest.decide(summary)
    report = (out / "report.md").read_text()
    assert report.splitlines()[2].startswith("Produced by: `ser-classic ab")
    assert abtest.DECISION_RULE[:40] in report.replace("\n", " ")
    assert (out / "confusion.png").stat().st_size > 0 and (out / "recall.png").is_file()
    deployed = json.loads((tmp_path / "deployed" / "model.json").read_text())
    assert deployed["model_id"] == summary["decision"]["winner_model"]


def test_cli_ab_refuses_training_speakers(models, tmp_path, capsys):
    a, b = models
    code = cli.main(["ab", "--a", str(a), "--b", str(b), "--data", str(RAVDESS),
                     "--speakers", "ravdess_01", "--out", str(tmp_path / "x")])
    assert code == 2 and "trained on test speaker" in capsys.readouterr().err


def test_cli_ab_on_held_out_ravdess_without_calm(models, tmp_path, capsys):
    """Held-out actors' clips of the 7 emotions shared with TESS: calm clips left out, a
    calm prediction counted as neutral."""
    a, b = models
    out = tmp_path / "ab"
    code = cli.main(["ab", "--a", str(a), "--b", str(b), "--data", str(RAVDESS),
                     "--speakers", "ravdess_05", "--exclude-emotions", "calm", "--out",
                     str(out), "--boot", "100"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_clips"] == 52 and "calm" not in summary["labels"]
    assert summary["models"]["a"]["label_mapping"]["calm"] == "neutral"
    assert summary["speakers"] == ["ravdess_05"]
    # a quality bar above any possible difference: B can win on speed only
    assert cli.main(["ab", "--a", str(a), "--b", str(b), "--data", str(RAVDESS),
                     "--speakers", "ravdess_05", "--exclude-emotions", "calm", "--out",
                     str(tmp_path / "bar"), "--boot", "100", "--min-difference", "1.0"]) == 0
    bar = json.loads((tmp_path / "bar" / "summary.json").read_text())["decision"]
    assert bar["quality_threshold"]["min_difference"] == 1.0
    assert bar["reason"].startswith("tie on quality")
    assert cli.main(["ab", "--a", str(a), "--b", str(b), "--data", str(RAVDESS),
                     "--speakers", "ravdess_05", "--exclude-emotions", "clam", "--out",
                     str(tmp_path / "x")]) == 2
    assert "exclude_emotions: no such emotion(s) in" in capsys.readouterr().err
