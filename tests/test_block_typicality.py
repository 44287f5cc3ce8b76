"""A per-block atypicality beside the model's own (experiments/block_typicality.py)."""

import numpy as np
import pytest

from .conftest import experiment

block_typicality = experiment("block_typicality")


def test_the_blocks_cover_every_feature_once():
    from ser_classic.features import FeatureConfig, feature_names

    config = FeatureConfig()
    index = block_typicality.blocks(config)
    assert len(index) == 18
    columns = np.sort(np.concatenate(list(index.values())))
    assert np.array_equal(columns, np.arange(len(feature_names(config=config))))
    names = feature_names(config=config)
    assert all("_d_" in names[i] for i in index["mfcc_d"])
    assert not any("_d_" in names[i] for i in index["mfcc"])


def test_one_block_far_out_is_flagged_where_the_mean_over_every_feature_is_not(
        fold_corpora):
    rows, X = fold_corpora
    X = X.astype(np.float64)
    speakers = rows["speaker"].to_numpy()
    index = block_typicality.blocks(block_typicality.FeatureConfig())
    fitted = block_typicality.checks(X, speakers, index)
    clip = X[:1].copy()
    center, scale = fitted["block"].center, fitted["block"].scale
    columns = index["pitch_d"]  # 12 of 3083 columns moved 20 standard deviations
    clip[0, columns] = center[columns] + 20 * scale[columns]
    r = block_typicality.flagged(fitted, clip)
    assert (r["own"], r["block"], r["combined"]) == (0.0, 1.0, 1.0)
    assert r["blocks"] == {"pitch_d": 1}
    assert block_typicality.flagged(fitted, X[:1])["block"] == 0.0  # a training row


def results(*, neutral: float, extra: float, alarms: float) -> dict:
    corpus = {"n": 10, "own": 0.1, "block": 0.0, "combined": 0.1 + extra, "blocks": {}}
    return {"espeak": {"neutral": {"combined": neutral}},
            "held_out_corpus": {c: dict(corpus) for c in ("emovo", "ravdess", "tess")},
            "held_out_speakers": {"combined": alarms}}


@pytest.mark.parametrize(("neutral", "extra", "alarms", "lead"), [
    (0.5, 0.10, 0.03, True), (0.475, 0.0, 0.0, False), (1.0, 0.101, 0.0, False),
    (1.0, 0.0, 0.031, False)])
def test_the_rule_at_its_margins(neutral, extra, alarms, lead):
    v = block_typicality.verdict(results(neutral=neutral, extra=extra, alarms=alarms))
    assert v["lead"] is lead
    assert v["corpus_extra"]["tess"] == pytest.approx(extra)


def test_the_committed_report_renders_from_its_summary():
    import json

    from .conftest import ROOT

    out = ROOT / "reports" / "block_typicality"
    committed = json.loads((out / "summary.json").read_text())
    assert committed["verdict"] == block_typicality.verdict(committed["results"])
    assert block_typicality.render(committed) == (out / "report.md").read_text()
