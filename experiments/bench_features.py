"""Speed of our features against openSMILE eGeMAPSv02 and ComParE_2016 functionals.

Each extractor runs in its own single-threaded process (OMP/BLAS threads = 1), on the same
clips, in the same run, under two allocator conditions: glibc defaults and "tuned"
(``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``/``MALLOC_TOP_PAD_`` = 256 MiB in
the child's environment, so big numpy temporaries are not mmap'ed and unmapped per call).
Every extractor gets the same condition. Two timings per extractor:

- "waveform -> features": the clips are decoded first (``load_audio``, 16 kHz mono) and
  only feature extraction is timed (our silence trim is part of it: it is our
  preprocessing);
- "file -> features": ``load_audio`` + extraction per file, i.e. decoding included.

openSMILE gets the same 16 kHz float32 waveform through ``Smile.process_signal`` (its
public API, which includes building a one-row DataFrame). Real-time factor (RTF) =
seconds of audio (untrimmed) / seconds of processing. The machine is shared, so the
headline figures use each worker's CPU time (user+sys; the worker is single-threaded, so
this is what one dedicated core takes); wall-clock figures are reported beside them.
Writes ``features.md`` and ``features.json`` (default ``reports/bench/``).

Usage::

    .venv/bin/python experiments/bench_features.py            # full RAVDESS
    .venv/bin/python experiments/bench_features.py --limit 100 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRACTORS = ("ours", "eGeMAPSv02", "ComParE_2016")
PROFILE_GROUPS = ("power", "logmel", "mfcc", "chroma", "contrast", "spectral", "energy", "acf",
                  "voicing", "pitch", "utterance")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
MALLOC_TUNED = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "268435456",
                "MALLOC_TOP_PAD_": "268435456"}
CONDITIONS = ("default", "tuned")
TARGET_RTF = 500.0
TARGET_RATIO_EGEMAPS = 7.0


# --------------------------------------------------------------------------- worker
def _paths(manifest: str, corpus: str, limit: int | None) -> list[str]:
    from ser_classic.data import load_manifest

    m = load_manifest(manifest)
    paths = [str(p) for p in m.loc[m["corpus"] == corpus, "path"]]
    return paths[:limit] if limit else paths


def _extractor(name: str):
    if name == "ours":
        from ser_classic.features import FeatureConfig, extract_features

        config = FeatureConfig()
        return lambda y: extract_features(y, config=config)
    from ser_classic.smile import smile_features

    return lambda y: smile_features(y, feature_set=name)


def _timed(fn) -> tuple[float, float, int]:
    """(wall s, cpu s, minor page faults) of ``fn()``."""
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0


def _profile(paths: list[str], load_audio) -> dict:
    """CPU ms per clip of each stage of our extractor (uses ser_classic.features internals)."""
    from ser_classic import features as F

    config = F.FeatureConfig()
    waves = [load_audio(p) for p in paths]
    F.extract_features(waves[0], config=config)
    cost: dict[str, float] = dict.fromkeys(["preprocess", "stft", *PROFILE_GROUPS,
                                            "summarise (deltas + functionals)", "total"], 0.0)
    clock = time.process_time
    for y in waves:
        t = clock()
        yp = F.preprocess(y, config=config)
        cost["preprocess"] += clock() - t
        t = clock()
        analysis = F._Analysis(F._stft(yp, config), yp, config)
        cost["stft"] += clock() - t
        for group in PROFILE_GROUPS:
            t = clock()
            analysis.get(group)
            cost[group] += clock() - t
        t = clock()
        F._summarise(analysis, config, None)
        cost["summarise (deltas + functionals)"] += clock() - t
        t = clock()
        F.extract_features(y, config=config)
        cost["total"] += clock() - t
    return {k: 1000 * v / len(waves) for k, v in cost.items()}


def _worker(args) -> None:
    from threadpoolctl import threadpool_limits

    from ser_classic.data import load_audio

    threadpool_limits(1)
    paths = _paths(args.manifest, args.corpus, args.limit)
    if args.worker == "profile":
        json.dump(_profile(paths, load_audio), sys.stdout)
        return
    extract = _extractor(args.worker)
    decode_wall, _, _ = _timed(lambda: [load_audio(p) for p in paths])
    waves = [load_audio(p) for p in paths]
    audio_s = sum(y.size for y in waves) / 16000.0
    n_features = extract(waves[0]).size  # warm-up: imports, filters, Smile config
    runs: dict[str, list[dict]] = {"waveform": [], "file": []}
    for _ in range(args.repeat):
        wall, cpu, faults = _timed(lambda: [extract(y) for y in waves])
        runs["waveform"].append({"wall_s": wall, "cpu_s": cpu, "minor_faults": faults})
        wall, cpu, faults = _timed(lambda: [extract(load_audio(p)) for p in paths])
        runs["file"].append({"wall_s": wall, "cpu_s": cpu, "minor_faults": faults})
    json.dump({"n_clips": len(paths), "audio_s": audio_s, "n_features": int(n_features),
               "decode_wall_s": decode_wall, "runs": runs,
               "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
              sys.stdout)


# --------------------------------------------------------------------------- driver
def _child(name: str, condition: str, args) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update({v: "1" for v in THREAD_VARS})
    if condition == "tuned":
        env.update(MALLOC_TUNED)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
           "--manifest", args.manifest, "--corpus", args.corpus,
           "--repeat", str(args.repeat)] + (["--limit", str(args.limit)] if args.limit else [])
    out = subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def _summary(res: dict) -> dict:
    """Figures per mode; headline figures use CPU time (see the module docstring)."""
    out = {}
    n, audio = res["n_clips"], res["audio_s"]
    for mode, runs in res["runs"].items():
        wall = [r["wall_s"] for r in runs]
        cpu = min(r["cpu_s"] for r in runs)
        out[mode] = {
            "cpu_s_best": cpu, "wall_s_best": min(wall),
            "wall_s_median": statistics.median(wall),
            "clips_per_s": n / cpu, "ms_per_clip": 1000 * cpu / n, "rtf": audio / cpu,
            "clips_per_s_wall": n / min(wall), "rtf_wall": audio / min(wall),
            "minor_faults_per_clip": min(r["minor_faults"] for r in runs) / n,
        }
    return out


def _table(results: dict, mode: str) -> list[str]:
    lines = ["| condition | extractor | dims | clips/s | ms/clip | RTF (x real time) "
             "| ours faster by | RTF by wall clock | page faults/clip |",
             "|---|---|---|---|---|---|---|---|---|"]
    for cond, by_name in results.items():
        ours = by_name["ours"]["summary"][mode]["clips_per_s"]
        for name, res in by_name.items():
            s = res["summary"][mode]
            ratio = "-" if name == "ours" else f"{ours / s['clips_per_s']:.1f}x"
            lines.append(f"| {cond} | {name} | {res['n_features']} | {s['clips_per_s']:.1f} "
                         f"| {s['ms_per_clip']:.2f} | {s['rtf']:.0f} | {ratio} "
                         f"| {s['rtf_wall']:.0f} | {s['minor_faults_per_clip']:.0f} |")
    return lines


def _report(results: dict, args, command: str, out_dir: Path,
            profile: dict | None = None) -> None:
    any_res = next(iter(next(iter(results.values())).values()))
    payload = {
        "command": command, "python": platform.python_version(),
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "corpus": args.corpus, "n_clips": any_res["n_clips"], "audio_s": any_res["audio_s"],
        "repeat": args.repeat, "threads": 1, "malloc_tuned_env": MALLOC_TUNED,
        "targets": {"rtf": TARGET_RTF, "ratio_vs_egemaps": TARGET_RATIO_EGEMAPS},
        "load_before": args.load_before, "load_after": os.getloadavg(),
        "results": results, "profile_ms_per_clip": profile,
    }
    best = {}
    for cond, by_name in results.items():
        if "eGeMAPSv02" not in by_name:
            continue
        for mode in ("waveform", "file"):
            ours = by_name["ours"]["summary"][mode]
            eg = by_name["eGeMAPSv02"]["summary"][mode]
            cp = by_name["ComParE_2016"]["summary"][mode]
            best[f"{cond}/{mode}"] = {
                "ours_rtf": ours["rtf"], "ours_clips_per_s": ours["clips_per_s"],
                "ratio_vs_egemaps": ours["clips_per_s"] / eg["clips_per_s"],
                "ratio_vs_compare": ours["clips_per_s"] / cp["clips_per_s"],
                "meets_rtf_target": ours["rtf"] >= TARGET_RTF,
                "meets_ratio_target": ours["clips_per_s"] / eg["clips_per_s"]
                >= TARGET_RATIO_EGEMAPS,
            }
    payload["headline"] = best
    out_dir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from ser_classic.data import atomic_write_bytes

    atomic_write_bytes(out_dir / "features.json", json.dumps(payload, indent=2).encode())
    lines = [
        "# Feature extraction speed: ours vs openSMILE", "",
        f"Command: `{command}`", "",
        f"{payload['n_clips']} {args.corpus} clips, {payload['audio_s']:.0f} s of audio "
        f"(16 kHz mono after `load_audio`); each extractor in its own process, 1 thread "
        f"(OMP/BLAS = 1), best of {args.repeat} run(s); Python {payload['python']}, "
        f"{payload['cpu_count']} cores shared with other jobs (load average "
        f"{payload['load_before'][0]:.1f} before, {payload['load_after'][0]:.1f} after).",
        "clips/s, ms/clip and RTF use the worker's CPU time (user+sys of a single-threaded "
        "process: what one dedicated core would take); wall-clock RTF is beside it and is "
        "lower when the shared machine is busy.",
        "Conditions: `default` = glibc malloc defaults; `tuned` = "
        + ", ".join(f"`{k}={v}`" for k, v in MALLOC_TUNED.items())
        + " in the child's environment (set before the process starts). Ratios compare "
        "extractors run under the same condition only.", "",
        "## Waveform -> features (decoding excluded; our silence trim included)", "",
        *_table(results, "waveform"), "",
        "## File -> features (`load_audio` decoding included)", "",
        *_table(results, "file"), "",
        f"## Targets (ours >= {TARGET_RTF:.0f}x real time, >= {TARGET_RATIO_EGEMAPS:.0f}x "
        "faster than openSMILE eGeMAPSv02)", "",
        "| condition/mode | ours RTF | vs eGeMAPSv02 | vs ComParE_2016 | RTF target "
        "| ratio target |", "|---|---|---|---|---|---|",
    ]
    for cond, by_name in results.items():
        if "eGeMAPSv02" in by_name:
            continue
        for mode in ("waveform", "file"):
            ours = by_name["ours"]["summary"][mode]
            lines.append(f"| {cond}/{mode} | {ours['rtf']:.0f} | (openSMILE not run) | - | "
                         f"{'met' if ours['rtf'] >= TARGET_RTF else 'NOT met'} | - |")
    for key, h in best.items():
        lines.append(f"| {key} | {h['ours_rtf']:.0f} | {h['ratio_vs_egemaps']:.1f}x "
                     f"| {h['ratio_vs_compare']:.1f}x | "
                     f"{'met' if h['meets_rtf_target'] else 'NOT met'} | "
                     f"{'met' if h['meets_ratio_target'] else 'NOT met'} |")
    lines += ["", "Decoding alone (`load_audio`, all clips, one pass): "
              + ", ".join(f"{cond}: {by['ours']['decode_wall_s']:.2f} s"
                          for cond, by in results.items()), ""]
    if profile:
        lines += ["## Our extractor by stage (CPU ms per clip, tuned allocator, same clips)",
                  "", "| stage | ms/clip | share of total |", "|---|---|---|"]
        lines += [f"| {k} | {v:.3f} | {100 * v / profile['total']:.0f}% |"
                  for k, v in profile.items()]
        lines.append("")
    atomic_write_bytes(out_dir / "features.md", "\n".join(lines).encode())
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--manifest", default="data/manifest.csv")
    p.add_argument("--corpus", default="ravdess")
    p.add_argument("--limit", type=int, default=None, help="first N clips only")
    p.add_argument("--repeat", type=int, default=1, help="timed runs per extractor")
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS,
                   help="allocator conditions for our extractor")
    p.add_argument("--smile-conditions", nargs="+", default=None, choices=CONDITIONS,
                   help="conditions in which openSMILE also runs (default: --conditions)")
    p.add_argument("--out", default="reports/bench")
    p.add_argument("--profile", action="store_true",
                   help="also time each stage of our extractor (tuned allocator)")
    p.add_argument("--worker", choices=[*EXTRACTORS, "profile"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.worker:
        _worker(args)
        return 0
    command = " ".join(["python", "experiments/bench_features.py",
                        *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    smile_conditions = set(args.smile_conditions or args.conditions)
    if not smile_conditions <= set(args.conditions):
        p.error("--smile-conditions must be among --conditions")
    args.load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for cond in args.conditions:
        results[cond] = {}
        for name in EXTRACTORS:
            if name != "ours" and cond not in smile_conditions:
                continue
            print(f"[{cond}] {name} ...", file=sys.stderr, flush=True)
            res = _child(name, cond, args)
            res["summary"] = _summary(res)
            results[cond][name] = res
            s = res["summary"]["waveform"]
            print(f"[{cond}] {name}: {s['clips_per_s']:.1f} clips/s, RTF {s['rtf']:.0f}",
                  file=sys.stderr, flush=True)
    profile = None
    if args.profile:
        try:
            profile = _child("profile", "tuned", args)
        except subprocess.CalledProcessError as exc:  # internals of features.py changed
            print(f"profile skipped: {exc.stderr[-500:]}", file=sys.stderr)
    _report(results, args, command, ROOT / args.out, profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
