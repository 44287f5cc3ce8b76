"""The features' bandwidth on LOCO and the telephone band (experiments/bandwidth_loco.py)."""

import numpy as np
import pytest

from .conftest import experiment

bandwidth_loco = experiment("bandwidth_loco")


def test_telephone_scores_of_real_clips(ravdess_manifest, feature_cache):
    import pandas as pd

    from ser_classic.features import FeatureConfig, extract_batch

    known = ravdess_manifest[ravdess_manifest["emotion"] != "calm"]
    train = known[known["speaker"].isin([f"ravdess_{i:02d}" for i in range(1, 7)])]
    probe = known[known["speaker"].isin(bandwidth_loco.PROBE)].groupby("speaker").head(6)
    rows = pd.concat([train, probe], ignore_index=True)
    sets = {}
    for fmax in (7000.0, 4500.0):
        config = FeatureConfig(fmax_hz=fmax)
        X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=config,
                                     cache_dir=feature_cache)
        assert not errors
        sets[bandwidth_loco.set_name(fmax)] = (config, X)
    assert list(sets) == ["librosa", "fmax 4500"]
    assert not np.allclose(sets["librosa"][1], sets["fmax 4500"][1])
    out = bandwidth_loco.telephone_scores(sets, rows)
    assert out["clips"] == 24
    for name in sets:
        for norm in bandwidth_loco.NORMALIZATIONS:
            r = out["sets"][name][norm]
            assert 0 < r["clean"] <= 1 and 0 <= r["telephone"] <= 1
            assert r["share"] == pytest.approx(r["telephone"] / r["clean"], abs=1e-4)


def summary(*, nested: dict, telephone: dict, loco: dict, group6: dict) -> dict:
    """A summary whose ``librosa`` holds 0.4 LOCO UAR everywhere, 0.6 group6 accuracy and
    telephone share 0.5; ``fmax 4500`` is chosen in every fold and holds ``nested``
    (normalisation -> its held-out UAR) in protocol A, and ``telephone``, ``loco``,
    ``group6`` (normalisation -> change) in B's checks."""
    def loco_rows(norm):
        sets = {"librosa": {"alpha": 1.0, "inner": 0.4, "held_out": 0.4},
                "fmax 4500": {"alpha": 1.0, "inner": 0.5, "held_out": 0.4 + loco[norm]},
                "fmax 5500": {"alpha": 1.0, "inner": 0.6, "held_out": 0.4 + nested[norm]}}
        return [{"held_out": c, "trained_on": ["x", "y"], "sets": sets, "chosen": "fmax 5500"}
                for c in ("emovo", "ravdess", "tess")]

    def fixed(name):
        return {norm: {"group6 ridge": 0.6 + (group6[norm] if name == "fmax 4500" else 0),
                       "group6 logreg": 0.6}
                for norm in bandwidth_loco.NORMALIZATIONS}

    def tel(name):
        return {norm: {"clean": 0.6, "telephone": 0.3,
                       "share": 0.5 + (telephone[norm] if name == "fmax 4500" else 0)}
                for norm in bandwidth_loco.NORMALIZATIONS}

    names = ("librosa", "fmax 4500", "fmax 5500")
    return {"results": {"loco": {n: loco_rows(n) for n in bandwidth_loco.NORMALIZATIONS},
                        "fixed": {name: fixed(name) for name in names},
                        "telephone": {"clips": 208, "sets": {name: tel(name) for name in names}}}}


BOTH = {"strict": 0.0, "speaker_norm": 0.0}


@pytest.mark.parametrize(("nested", "lead"), [((0.010, 0.010), True), ((0.011, 0.009), False),
                                              ((0.009, 0.030), False)])
def test_lead_a_needs_both_normalisations(nested, lead):
    s = summary(nested=dict(zip(bandwidth_loco.NORMALIZATIONS, nested, strict=True)),
                telephone=BOTH, loco=BOTH, group6=BOTH)
    v = bandwidth_loco.verdict(s)
    assert v["a"]["lead"] is lead
    assert v["a"]["gain"]["strict"] == pytest.approx(nested[0])


@pytest.mark.parametrize(("telephone", "loco", "group6", "lead"), [
    (0.05, -0.005, -0.010, True),
    (0.049, 0.0, 0.0, False),
    (0.10, -0.006, 0.0, False),
    (0.10, 0.0, -0.011, False),
])
def test_lead_b_at_its_margins(telephone, loco, group6, lead):
    def one(x):
        return {"strict": x, "speaker_norm": x}

    s = summary(nested=BOTH, telephone=one(telephone), loco=one(loco), group6=one(group6))
    v = bandwidth_loco.verdict(s)
    assert v["b"]["fmax 4500"]["lead"] is lead
    assert v["b"]["fmax 5500"]["lead"] is False  # no telephone gain
    checks = v["b"]["fmax 4500"]["checks"]["speaker_norm"]
    assert checks == pytest.approx({"telephone": telephone, "loco": loco, "group6": group6})


def test_lead_b_needs_both_normalisations():
    s = summary(nested=BOTH, telephone={"strict": 0.2, "speaker_norm": 0.04}, loco=BOTH,
                group6=BOTH)
    assert bandwidth_loco.verdict(s)["b"]["fmax 4500"]["lead"] is False


def test_the_committed_report_renders_from_its_summary():
    import json

    from .conftest import ROOT

    out = ROOT / "reports" / "bandwidth_loco"
    committed = json.loads((out / "summary.json").read_text())
    assert committed["verdict"] == bandwidth_loco.verdict(committed)
    assert bandwidth_loco.render(committed) == (out / "report.md").read_text()
