"""Throughput of discriminator scoring on one core, end to end (features included).

``EmotionRecognizer.score(waveforms, sr=16000, targets=...)`` on 3-second clips (the
central 3 s of RAVDESS recordings, zero-padded when shorter), measured in the same run
against its peers on the same clips:

- ``batched sklearn``: batches of ``--batch`` clips, scikit-learn backend (the headline);
- ``batched onnx``: the same batches through ONNX Runtime;
- ``per-clip sklearn``: one ``score`` call per clip.

Several ``--model`` directories are measured in the same run (e.g. the deployed model and
its optimised student), so their throughputs compare on the same clips and machine state.

Every variant runs in a child process pinned to one CPU (``sched_setaffinity``) with
BLAS/OpenMP threads = 1, under two allocator conditions: glibc defaults and "tuned"
(``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``/``MALLOC_TOP_PAD_`` = 256 MiB, so
numpy temporaries are not mmap'ed and unmapped per call). The machine is shared, so clips/s
are given from CPU time (user+sys of the single-threaded child = one dedicated core) and
from wall-clock time. The whole set of models x variants x allocator conditions is run
``--rounds`` times, interleaved, because the machine's speed drifts from minute to minute;
each figure is the median over rounds (of each round's best of ``--repeat`` passes), with
the rounds' range beside it. Writes ``discriminator.md`` / ``discriminator.json`` (default
``reports/bench/``). Target: >= 200 clips/s.

Usage::

    .venv/bin/python experiments/bench_discriminator.py --model models/NAME
    .venv/bin/python experiments/bench_discriminator.py --model models/NAME --clips 64
    .venv/bin/python experiments/bench_discriminator.py --model models/deployed models/optimized
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

TUNED = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
         "MALLOC_TOP_PAD_": str(256 << 20)}
VARIANTS = ("batched sklearn", "batched onnx", "per-clip sklearn")
TARGET = 200.0


def _clips(data_dir: Path, n: int, seed: int):
    import numpy as np

    from ser_classic.data import EMOTIONS, load_audio, scan_ravdess

    records = scan_ravdess(data_dir / "ravdess")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(records), size=n, replace=len(records) < n)
    length = 3 * 16000
    waves = []
    for i in pick:
        y = load_audio(records[i]["path"], sr=16000)
        start = max(0, (y.size - length) // 2)
        waves.append(np.pad(y[start:start + length], (0, max(0, length - y.size))))
    targets = [EMOTIONS[k] for k in rng.integers(0, len(EMOTIONS), n)]
    return np.stack(waves).astype(np.float32), targets


def _child(args) -> None:
    """Measure one variant in this (pinned, single-threaded) process; print JSON."""
    import ser_classic

    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    waves, targets = _clips(Path(args.data), args.clips, args.seed)
    backend = "onnx" if "onnx" in args.child else "sklearn"
    rec = ser_classic.load(args.model[0], backend=backend)
    # a target the model does not know (calm, for a 7-emotion model) is its neutral, as the
    # A/Bs count a calm prediction
    targets = [t if t in rec.classes_ else "neutral" for t in targets]
    speaker = "batch" if rec.normalization == "speaker_norm" else None
    batch = 1 if args.child.startswith("per-clip") else args.batch
    if speaker and batch < 2:
        batch = 2  # a running speaker estimate needs two clips

    def run():
        out = []
        for i in range(0, len(waves), batch):
            out.append(rec.score(waves[i:i + batch], sr=16000, targets=targets[i:i + batch],
                                 speaker=speaker).penalty)
        return out

    run()  # warm-up
    best_wall = best_cpu = float("inf")
    for _ in range(args.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        run()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    print(json.dumps({"variant": args.child, "clips": len(waves), "batch": batch,
                      "cpu_clips_per_s": len(waves) / best_cpu,
                      "wall_clips_per_s": len(waves) / best_wall,
                      "model": args.model[0], "model_id": rec.model_id,
                      "normalization": rec.normalization}))


def _median_rounds(runs: list[dict]) -> list[dict]:
    """One row per (model, malloc, variant): the median clips/s over rounds and the range."""
    import numpy as np

    keys = list(dict.fromkeys((r["model"], r["malloc"], r["variant"]) for r in runs))
    out = []
    for key in keys:
        rows = [r for r in runs if (r["model"], r["malloc"], r["variant"]) == key]
        cpu = [r["cpu_clips_per_s"] for r in rows]
        row = {k: v for k, v in rows[0].items() if k != "round"}
        row.update(cpu_clips_per_s=float(np.median(cpu)), cpu_min=min(cpu), cpu_max=max(cpu),
                   wall_clips_per_s=float(np.median([r["wall_clips_per_s"] for r in rows])),
                   rounds=len(rows))
        out.append(row)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, nargs="+",
                        help="model directories, measured in the same run")
    parser.add_argument("--data", default=os.environ.get("SER_CLASSIC_DATA", "../shared/data"))
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="best of N timed passes")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds over every model and variant (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports/bench")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.model = [args.only]
        _child(args)
        return 0
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    runs = []
    for round_ in range(args.rounds):
        for condition in ("default", "tuned"):
            env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1"}
            if condition == "tuned":
                env.update(TUNED)
            else:
                for key in TUNED:
                    env.pop(key, None)
            for variant in VARIANTS:
                for model in args.model:  # interleaved: drift of the machine hits all alike
                    proc = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--child",
                                           variant, "--only", model], env=env,
                                          capture_output=True, text=True, check=False)
                    if proc.returncode != 0:
                        print(proc.stderr, file=sys.stderr)
                        return 1
                    row = json.loads(proc.stdout.strip().splitlines()[-1])
                    row.update(malloc=condition, round=round_)
                    runs.append(row)
                    print(f"round {round_ + 1}/{args.rounds} {model} {condition:8s} "
                          f"{variant:18s} {row['cpu_clips_per_s']:7.1f} clips/s (CPU) "
                          f"{row['wall_clips_per_s']:7.1f} clips/s (wall)", flush=True)
    results = _median_rounds(runs)
    models = ", ".join(f"`{m}` ({next(r['model_id'] for r in results if r['model'] == m)}, "
                       f"{next(r['normalization'] for r in results if r['model'] == m)})"
                       for m in args.model)
    lines = [f"# Discriminator scoring throughput: {models}", "",
             f"Produced by: `{command}`", "",
             f"{args.clips} clips of 3 s at 16 kHz, one core (pinned, 1 BLAS thread), "
             f"best of {args.repeat} passes; median of {args.rounds} interleaved rounds "
             f"(range: the rounds' lowest and highest); features included; every model and "
             f"variant in this run on the same clips. Target >= {TARGET:.0f} clips/s. "
             f"Host: {platform.machine()}, Python {platform.python_version()}, "
             f"{os.cpu_count()} CPUs shared.", "",
             "| model | malloc | variant | batch | clips/s (CPU time) | range (CPU) | "
             f"clips/s (wall) | vs per-clip (CPU) | vs `{args.model[0]}` (CPU) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(results, key=lambda r: args.model.index(r["model"])):
        peer = next(r for r in results if r["model"] == row["model"] and
                    r["malloc"] == row["malloc"] and r["variant"] == "per-clip sklearn")
        first = next(r for r in results if r["model"] == args.model[0] and
                     r["malloc"] == row["malloc"] and r["variant"] == row["variant"])
        lines.append(f"| `{row['model']}` | {row['malloc']} | {row['variant']} | "
                     f"{row['batch']} | {row['cpu_clips_per_s']:.1f} | "
                     f"{row['cpu_min']:.1f}-{row['cpu_max']:.1f} | "
                     f"{row['wall_clips_per_s']:.1f} | "
                     f"{row['cpu_clips_per_s'] / peer['cpu_clips_per_s']:.2f}x | "
                     f"{row['cpu_clips_per_s'] / first['cpu_clips_per_s']:.2f}x |")
    lines.append("")
    for model in args.model:
        for cond in ("default", "tuned"):
            sk = next(r for r in results if r["model"] == model and r["malloc"] == cond
                      and r["variant"] == "batched sklearn")
            ox = next(r for r in results if r["model"] == model and r["malloc"] == cond
                      and r["variant"] == "batched onnx")
            lines.append(f"- `{model}`, {cond} malloc: ONNX / sklearn throughput ratio (CPU) "
                         f"{ox['cpu_clips_per_s'] / sk['cpu_clips_per_s']:.2f}; headline "
                         f"batched sklearn {sk['cpu_clips_per_s']:.1f} clips/s (rounds "
                         f"{sk['cpu_min']:.1f}-{sk['cpu_max']:.1f}): "
                         f"{'meets' if sk['cpu_clips_per_s'] >= TARGET else 'misses'} the "
                         f"{TARGET:.0f} clips/s target")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "discriminator.md").write_text("\n".join(lines) + "\n")
    (out / "discriminator.json").write_text(json.dumps({"command": command,
                                                         "results": results, "runs": runs},
                                                        indent=2))
    print("\n".join(line for line in lines if line.startswith("- ")))
    print(f"wrote {out / 'discriminator.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
