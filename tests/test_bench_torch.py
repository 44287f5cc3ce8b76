"""experiments/bench_torch.py on CPU, small: value parity, the feature-level parity of every
ported group, the gradient check and the speed table, on real clips and the shipped
student."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from .conftest import DATA, experiment


def test_bench_writes_parity_gradients_and_speed(tmp_path):
    bench = experiment("bench_torch")
    bench.main(["--device", "cpu", "--out", str(tmp_path), "--data", str(DATA),
                "--model", "deployed", "--clips", "3", "--grad-clips", "3",
                "--feature-clips", "1", "--repeat", "1", "--threads", "1"])
    result = json.loads((tmp_path / "bench_cpu.json").read_text())
    assert [r["corpus"] for r in result["parity"]] == ["ravdess", "tess", "emovo"]
    for row in result["parity"]:
        assert row["clips"] == 3 and row["max_dp_float64"] <= 1e-3
        assert row["max_dp_float32"] <= 1e-2
    groups = {r["group"] for r in result["features"]}
    assert {"mfcc", "mel", "pitch", "extended"} <= groups
    (grads,) = result["gradients"].values()
    assert len(grads) == 3 and all(g["rel_err"] < 1e-3 for g in grads)
    paths = [r["path"] for r in result["speed"]["deployed"]]
    assert paths[0].startswith("numpy scorer") and len(paths) == 3
    assert result["speed"]["deployed"][0]["vs_numpy"] == 1.0
    report = (tmp_path / "bench_cpu.md").read_text()
    assert report.startswith("# Torch discriminator (`ser_classic.torch`) on cpu")
    assert "Produced by: `python experiments/bench_torch.py --device cpu" in report
