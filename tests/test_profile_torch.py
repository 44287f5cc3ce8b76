"""experiments/profile_torch.py on CPU: throughput per batch size and the profile tables,
on real RAVDESS clips and the shipped student."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from .conftest import DATA, experiment


def test_profile_writes_throughput_and_busiest_operations(tmp_path):
    profile = experiment("profile_torch")
    profile.main(["--device", "cpu", "--out", str(tmp_path), "--data", str(DATA),
                  "--batches", "2", "32", "--repeat", "1", "--profile-rounds", "1",
                  "--top", "5"])
    result = json.loads((tmp_path / "profile_cpu.json").read_text())
    assert [r["batch"] for r in result["throughput"]] == [2, 32]
    assert all(r["forward"] > 0 and r["forward+backward"] > 0 for r in result["throughput"])
    for name in ("forward", "forward+backward"):
        p = result["profile"][name]
        assert p["torch_host_ms"] > 0 and p["launches"] == 0  # no kernels on CPU
        assert len(p["by_host"]) == 5 and p["by_device"] == []
        host = [o["host_ms"] for o in p["by_host"]]
        assert host == sorted(host, reverse=True)
    report = (tmp_path / "profile_cpu.md").read_text()
    assert report.startswith("# Torch discriminator (`ser_classic.torch`) on cpu")
    assert "| 32 |" in report and "busiest operations by host time" in report


def test_gpu_branches_dispatch_as_many_operations_for_any_batch_size(tmp_path):
    """On the branches written for GPUs (run on CPU), one forward dispatches about the
    same number of torch operations for 2 clips as for 32: nothing runs clip by clip."""
    profile = experiment("profile_torch")
    profile.main(["--device", "cpu", "--gpu-branches", "--out", str(tmp_path), "--data",
                  str(DATA), "--batches", "2", "32", "--repeat", "1", "--profile-rounds", "1"])
    result = json.loads((tmp_path / "profile_cpu_gpu_branches.json").read_text())
    few, many = (r["ops"] for r in result["throughput"])
    assert 500 < few and abs(many - few) < 30
    assert "(the branches written for GPUs)" in (tmp_path / "profile_cpu_gpu_branches.md"
                                                 ).read_text().splitlines()[0]
    with pytest.raises(SystemExit):
        profile.main(["--device", "cuda", "--gpu-branches", "--out", str(tmp_path)])
