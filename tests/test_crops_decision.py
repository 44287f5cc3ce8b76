"""The crops decision (experiments/crops_decision.py): its rule and the committed report."""

from __future__ import annotations

import json

from .conftest import ROOT, experiment

decision = experiment("crops_decision")
OUT = ROOT / "reports" / "crops_decision"


def test_the_committed_report_renders_from_the_committed_inputs(tmp_path):
    inputs = {k: str(ROOT / v) for k, v in
              json.loads((OUT / "summary.json").read_text())["inputs"].items()}
    args = [a for k, v in inputs.items() for a in (f"--{k.replace('_', '-')}", v)]
    assert decision.main([*args, "--out", str(tmp_path)]) == 0
    committed = json.loads((OUT / "summary.json").read_text())
    fresh = json.loads((tmp_path / "summary.json").read_text())
    assert fresh["decision"] == committed["decision"]
    assert _body(tmp_path / "report.md").replace(str(ROOT) + "/", "") == _body(
        OUT / "report.md")


def _body(report):
    """A report's text after its command line."""
    return report.read_text().split("\n", 3)[3]


def _inputs(*, loso_change=0.0, clean_change=0.0, degraded_change=0.0, whole_change=0.0,
            cut_gain=0.03):
    base, crops = decision.BASE, decision.CROPS
    loso, loso_crops = {"strict": 0.666}, {"strict": 0.666 + loso_change}
    conditions = {base: {"clean": 0.66, "degraded mean": 0.57},
                  crops: {"clean": 0.66 + clean_change,
                          "degraded mean": 0.57 + degraded_change}}
    lengths = {"0.5": 0.2, "1.0": 0.3, "whole": 0.41}
    base_cuts = {m: dict(lengths) for m in decision.MODELS}
    crops_cuts = {m: {L: u + (whole_change if L == "whole" else cut_gain)
                      for L, u in lengths.items()} for m in decision.MODELS}
    return loso, loso_crops, conditions, base_cuts, crops_cuts


def test_the_rule_adopts_only_within_every_margin():
    assert decision.decide(*_inputs())["adopted"]
    assert decision.decide(*_inputs(loso_change=-0.009, clean_change=-0.009,
                                    degraded_change=-0.009, whole_change=-0.009,
                                    cut_gain=0.021))["adopted"]
    for miss in ({"loso_change": -0.011}, {"clean_change": -0.011},
                 {"degraded_change": -0.011}, {"whole_change": -0.011},
                 {"cut_gain": 0.019}):
        assert not decision.decide(*_inputs(**miss))["adopted"], miss


def test_the_loso_target_binds_even_without_a_loss():
    loso, loso_crops, *rest = _inputs()
    loso["strict"] = loso_crops["strict"] = 0.64
    assert not decision.decide(loso, loso_crops, *rest)["R1"]["met"]
