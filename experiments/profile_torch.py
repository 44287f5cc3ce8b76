"""Where the torch discriminator's time goes: throughput against the batch size, and the
torch profiler's busiest operations at B = 32. Writes ``<out>/profile_<device>.md`` and
``.json`` (``profile_cpu_gpu_branches`` with ``--gpu-branches``: the branches written for
GPUs run on CPU tensors, for their operation counts where no GPU is).

1. Batch size: the clips of ``bench_torch.py``'s speed test (32 RAVDESS clips, the central
   3 s of each) repeated to B = ``--batches``; forward (no grad) and forward+backward
   (gradient of the mean penalty w.r.t. the waveforms), float32, best of ``--repeat``
   after a warm-up; the torch operations one forward dispatches (on a GPU most of them
   launch a kernel).
2. Profile: ``--profile-rounds`` forwards (and forwards+backwards) at B = 32 under
   ``torch.profiler``: per pass, the host time spent in torch operations (self CPU), the
   device time of the kernels and the kernel launches, next to the wall time of the same
   pass without the profiler (item 1); the busiest operations by host and by device time.
   The gap between the wall time and the torch operations' host time is the numpy
   decisions (trims, voicing) and Python.

Usage::

    python experiments/profile_torch.py --device cpu --out reports/torch
    python experiments/profile_torch.py --device cuda --out reports/torch   # ~1 min on a GPU
    python experiments/profile_torch.py --device cpu --gpu-branches --out reports/torch
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np


def _passes(disc, waves: np.ndarray, targets: list[str], device: str):
    import torch

    y = torch.from_numpy(waves).to(device)

    def forward():
        with torch.no_grad():
            disc(y, sr=16000)

    def backward():
        x = y.clone().requires_grad_(True)
        disc.loss(x, targets, sr=16000, kind="penalty").backward()

    return {"forward": forward, "forward+backward": backward}


def throughput(disc, waves, targets, *, device: str, batches, repeat: int) -> list[dict]:
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = []
    for b in batches:
        reps = -(-b // len(waves))
        passes = _passes(disc, np.tile(waves, (reps, 1))[:b], (targets * reps)[:b], device)
        row = {"batch": b}
        for name, fn in passes.items():
            fn()
            sync()
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                sync()
                best = min(best, time.perf_counter() - t0)
            row[name] = b / best
        row["ops"] = _operations(passes["forward"], sync)
        rows.append(row)
        print(f"B={b}: forward {row['forward']:.1f} clips/s, forward+backward "
              f"{row['forward+backward']:.1f} clips/s, {row['ops']} operations", flush=True)
    return rows


def _operations(fn, sync) -> int:
    """The torch operations (``aten::``, nested ones included) one call of ``fn``
    dispatches, as the profiler records them."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
        sync()
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))


def profile(disc, waves, targets, *, device: str, rounds: int, top: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    out = {}
    for name, fn in _passes(disc, waves, targets, device).items():
        fn()
        sync()
        with torch_profile(activities=activities) as prof:
            for _ in range(rounds):
                fn()
                sync()
        events = prof.key_averages()
        host = sum(e.self_cpu_time_total for e in events) / rounds / 1e3
        kernels = sum(getattr(e, "self_device_time_total", 0) for e in events) / rounds / 1e3
        launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel",
                                                            "cuLaunchKernel",
                                                            "cudaLaunchKernelExC")) / rounds
        ops = [{"op": e.key if len(e.key) <= 60 else e.key[:57] + "...", "calls": e.count / rounds,
                "host_ms": e.self_cpu_time_total / rounds / 1e3,
                "device_ms": getattr(e, "self_device_time_total", 0) / rounds / 1e3}
               for e in events]
        out[name] = {"torch_host_ms": host, "device_ms": kernels,
                     "launches": launches,
                     "by_host": sorted(ops, key=lambda o: -o["host_ms"])[:top],
                     "by_device": (sorted(ops, key=lambda o: -o["device_ms"])[:top]
                                   if cuda else [])}
    return out


def _markdown(result: dict) -> str:
    a = result["args"]
    where = a["device"] + (" (the branches written for GPUs)" if a.get("gpu_branches") else "")
    lines = [f"# Torch discriminator (`ser_classic.torch`) on {where}: where the time goes",
             "", f"Produced by: `{result['command']}`", "",
             f"Host: {result['host']}; torch {result['torch']}; device: "
             f"{result['device_name']}; model `{a['model']}` ({result['model_id']}); float32.",
             "", "## Throughput against the batch size", "",
             f"32 RAVDESS clips of 3 s repeated to B clips; best of {a['repeat']} after a "
             f"warm-up. Operations: the torch operations one forward dispatches (`aten::`, "
             f"nested ones included).", "",
             "| B | forward, clips/s | forward+backward, clips/s | operations per forward |",
             "|---|---|---|---|"]
    for r in result["throughput"]:
        lines.append(f"| {r['batch']} | {r['forward']:.1f} | {r['forward+backward']:.1f} | "
                     f"{r.get('ops', '-')} |")
    lines += ["", f"## Profile at B = 32 ({a['profile_rounds']} passes, per pass)", "",
              "Torch host time: self CPU time of every torch operation, summed over threads "
              "(dispatch, launches, host copies); the rest of the wall time is the numpy "
              "decisions (trims, voicing) and Python. Device time: the kernels' own time.",
              "",
              "| pass | wall without the profiler, ms | torch host, ms | device kernels, ms "
              "| kernel launches |", "|---|---|---|---|---|"]
    wall = {r["batch"]: r for r in result["throughput"]}.get(32)
    for name, p in result["profile"].items():
        ms = f"{32e3 / wall[name]:.1f}" if wall else "-"
        lines.append(f"| {name} | {ms} | {p['torch_host_ms']:.1f} | "
                     f"{p['device_ms']:.1f} | {p['launches']:.0f} |")
    for name, p in result["profile"].items():
        for key, label in (("by_host", "host"), ("by_device", "device")):
            if not p[key]:
                continue
            lines += ["", f"### {name}: busiest operations by {label} time", "",
                      "| operation | calls | host, ms | device, ms |", "|---|---|---|---|"]
            lines += [f"| `{o['op']}` | {o['calls']:.0f} | {o['host_ms']:.2f} | "
                      f"{o['device_ms']:.2f} |" for o in p[key]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="deployed")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, or auto")
    parser.add_argument("--out", default="reports/torch")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128, 512],
                        help="include 32 for the profile's wall time")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile-rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpu-branches", action="store_true",
                        help="on CPU, run the branches written for GPUs (their operation "
                             "counts, without a GPU)")
    args = parser.parse_args(argv)
    if args.gpu_branches and args.device != "cpu":
        parser.error("--gpu-branches runs on --device cpu")
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_torch import _speed_clips, run_header, write_report

    from ser_classic.torch import EmotionDiscriminator
    from ser_classic.torch import functional as F

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    waves, targets = _speed_clips(Path(args.data), args.seed)
    disc = EmotionDiscriminator(args.model).to(args.device)
    targets = [t if t in disc.classes else "neutral" for t in targets]
    result = run_header("profile_torch", args, argv)
    result.update(host=f"{result['host']}, {torch.get_num_threads()} torch threads",
                  model_id=disc.model_id)
    with F._device_generic() if args.gpu_branches else contextlib.nullcontext():
        result["throughput"] = throughput(disc, waves, targets, device=args.device,
                                          batches=args.batches, repeat=args.repeat)
        result["profile"] = profile(disc, waves[:32], targets[:32], device=args.device,
                                    rounds=args.profile_rounds, top=args.top)
    stem = f"profile_{args.device.replace(':', '')}" + ("_gpu_branches" if args.gpu_branches
                                                          else "")
    write_report(result, Path(args.out) / stem, _markdown(result))


if __name__ == "__main__":
    main()
