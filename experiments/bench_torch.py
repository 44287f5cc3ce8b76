"""The torch discriminator (``ser_classic.torch``) next to the numpy/ONNX path: values,
gradients, speed. One command per device; writes ``<out>/bench_<device>.md`` and ``.json``.

1. Value parity: on ``--clips`` real clips of every corpus (RAVDESS, TESS, EMOVO; a seeded
   sample, each clip at its own length, batches of ``--batch`` with ``lengths=``), the
   probabilities of ``EmotionDiscriminator`` in float64 and float32 against
   ``EmotionRecognizer.predict_proba`` of the same model (its evaluated backend: the ONNX
   graph of a quantized student). Speaker-normalised models get the statistics of the
   corpus sample (``SpeakerStats`` of the numpy features): one set for both paths.
   Targets: max |dp| <= 1e-3 (float64), <= 1e-2 (float32).
2. Gradient check: on ``--grad-clips`` real clips (1 s, float64), the directional
   derivative of p(class) along a random relative gain (``v = noise * y``: no sample
   crosses zero) against central differences (step 1e-8: the features are piecewise
   smooth, order statistics swap within 1e-7 of a relative gain on some clips).
   Feature-level parity of every ported group (no model needed): numpy
   ``extract_features`` against the torch port on ``--feature-clips`` clips per corpus.
3. Speed: 32 clips of 3 s (the central 3 s of RAVDESS recordings), the numpy scorer
   (``EmotionRecognizer.score``, CPU, one thread) and the torch module on ``--device``
   (float32; each of ``--threads`` CPU thread counts): forward (no grad) and
   forward+backward (gradient of the mean penalty w.r.t. the waveforms), best of
   ``--repeat`` rounds after a warm-up, the paths timed in turn in each round; CPU time
   and wall time (the machine may be shared). Target: torch CPU forward >= the numpy scorer.

Usage::

    python experiments/bench_torch.py --device cpu --out reports/torch
    python experiments/bench_torch.py --device cuda --out reports/torch   # < 3 min on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

CORPORA = ("ravdess", "tess", "emovo")


def _records(data_dir: Path, corpus: str, n: int, seed: int) -> list[dict]:
    from ser_classic.data import scan_corpus

    records = scan_corpus(data_dir / corpus)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(records), size=min(n, len(records)), replace=False)
    return [records[i] for i in sorted(pick)]


def _load(record: dict) -> np.ndarray:
    from ser_classic.data import corpus_channel, load_audio

    return load_audio(record["path"], sr=16000, channel=corpus_channel(record["path"]))


def _padded(waves: list[np.ndarray]):
    import torch

    n = max(w.size for w in waves)
    batch = np.zeros((len(waves), n), dtype=np.float32)
    for i, w in enumerate(waves):
        batch[i, :w.size] = w
    return torch.from_numpy(batch), torch.tensor([w.size for w in waves])


def parity(model: str, data_dir: Path, *, clips: int, batch: int, seed: int, device: str
           ) -> list[dict]:
    import torch

    import ser_classic
    from ser_classic.recognizer import SpeakerStats
    from ser_classic.torch import EmotionDiscriminator

    rec = ser_classic.load(model)
    discs = {dt: EmotionDiscriminator(model, dtype=dt).to(device)
             for dt in (torch.float64, torch.float32)}
    rows = []
    for corpus in CORPORA:
        waves = [_load(r) for r in _records(data_dir, corpus, clips, seed)]
        X, _ = rec.features(waves, sr=16000)
        speaker = None
        if rec.normalization == "speaker_norm":
            speaker = SpeakerStats.from_features(X)
        expected = rec.proba_from_features(X, speaker=speaker)
        row = {"model": model, "model_id": rec.model_id, "corpus": corpus,
               "clips": len(waves)}
        for dt, disc in discs.items():
            got = []
            with torch.no_grad():
                for i in range(0, len(waves), batch):
                    y, lengths = _padded(waves[i:i + batch])
                    got.append(disc(y.to(device), sr=16000, speaker=speaker,
                                    lengths=lengths.to(device)).exp().double().cpu().numpy())
            dp = np.abs(np.concatenate(got) - expected)
            name = str(dt).removeprefix("torch.")
            row[f"max_dp_{name}"] = float(dp.max())
            row[f"p99_dp_{name}"] = float(np.quantile(dp.max(axis=1), 0.99))
            row[f"argmax_agree_{name}"] = float(np.mean(
                np.concatenate(got).argmax(axis=1) == expected.argmax(axis=1)))
        rows.append(row)
    return rows


def feature_parity(data_dir: Path, *, clips: int, seed: int, device: str) -> list[dict]:
    """Relative error |torch - numpy| / max(|numpy|, 1) of every ported feature, per group."""
    import torch

    from ser_classic import FeatureConfig
    from ser_classic.features import _name_table, extract_features
    from ser_classic.torch import functional as F

    config = FeatureConfig()
    names, where = _name_table(config)
    group = np.array([where[n][0] for n in names])
    errs = {torch.float64: [], torch.float32: []}
    for corpus in CORPORA:
        for record in _records(data_dir, corpus, clips, seed + 2):
            y = _load(record)
            expected = extract_features(y, config=config)
            for dt in errs:
                with torch.no_grad():
                    got = F.extract_features(torch.from_numpy(y).to(device, dt)[None],
                                             config=config)[0].double().cpu().numpy()
                errs[dt].append(np.abs(got - expected) / np.maximum(np.abs(expected), 1.0))
    rows = []
    for g in dict.fromkeys(group):
        row = {"group": g, "features": int((group == g).sum())}
        for dt, e in errs.items():
            e = np.stack(e)[:, group == g]
            name = str(dt).removeprefix("torch.")
            row[f"max_{name}"] = float(e.max())
            row[f"median_{name}"] = float(np.median(e))
        rows.append(row)
    return rows


def gradient_check(model: str, data_dir: Path, *, clips: int, seed: int, device: str
                   ) -> list[dict]:
    import torch

    from ser_classic.torch import EmotionDiscriminator

    disc = EmotionDiscriminator(model, dtype=torch.float64).to(device)
    if disc.normalization == "speaker_norm":
        return []
    rng = np.random.default_rng(seed)
    out = []
    per = max(1, clips // len(CORPORA))
    for corpus in CORPORA:
        for record in _records(data_dir, corpus, per, seed + 1):
            y0 = _load(record)
            start = max(0, (y0.size - 16000) // 2)
            y = torch.from_numpy(y0[start:start + 16000]).double()[None].to(device)
            v = torch.from_numpy(rng.standard_normal(y.shape)).to(device) * y
            k = int(rng.integers(len(disc.classes)))
            x = y.clone().requires_grad_(True)
            disc(x, sr=16000).exp()[0, k].backward()
            analytic = float((x.grad * v).sum())
            h = 1e-8
            with torch.no_grad():
                numeric = float(disc(y + h * v, sr=16000).exp()[0, k]
                                - disc(y - h * v, sr=16000).exp()[0, k]) / (2 * h)
            out.append({"corpus": corpus, "file": Path(record["path"]).name,
                        "class": disc.classes[k], "analytic": analytic, "numeric": numeric,
                        "abs_err": abs(analytic - numeric),
                        "rel_err": abs(analytic - numeric) / max(abs(numeric), 1e-12)})
    return out


def _speed_clips(data_dir: Path, seed: int, n: int = 32):
    from ser_classic.data import EMOTIONS

    records = _records(data_dir, "ravdess", n, seed)
    length = 3 * 16000
    waves = []
    for r in records:
        y = _load(r)
        start = max(0, (y.size - length) // 2)
        waves.append(np.pad(y[start:start + length], (0, max(0, length - y.size))))
    rng = np.random.default_rng(seed)
    return np.stack(waves).astype(np.float32), [EMOTIONS[k] for k in
                                                rng.integers(0, len(EMOTIONS), n)]


def _interleaved(paths: dict, repeat: int) -> dict[str, tuple[float, float]]:
    """Best wall and CPU time of each path, the paths timed in turn within each of
    ``repeat`` rounds (after a warm-up of each): a drift of the machine's speed over
    the run reaches every path alike. ``paths``: name -> (fn, sync, setup) where
    ``setup`` is a context manager factory (thread settings) around each call."""
    for fn, sync, setup in paths.values():
        with setup():
            fn()
            sync()
    best = {name: (float("inf"), float("inf")) for name in paths}
    for _ in range(repeat):
        for name, (fn, sync, setup) in paths.items():
            with setup():
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                sync()
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def speed(model: str, data_dir: Path, *, device: str, threads: Sequence[int], repeat: int,
          seed: int) -> list[dict]:
    import contextlib

    import torch
    from threadpoolctl import threadpool_limits

    import ser_classic
    from ser_classic.torch import EmotionDiscriminator

    waves, targets = _speed_clips(data_dir, seed)
    n = len(waves)
    rec = ser_classic.load(model)
    targets = [t if t in rec.classes_ else "neutral" for t in targets]
    speaker = "batch" if rec.normalization == "speaker_norm" else None
    disc = EmotionDiscriminator(model).to(device)
    y = torch.from_numpy(waves).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def forward():
        with torch.no_grad():
            disc(y, sr=16000, speaker=speaker)

    def backward():
        x = y.clone().requires_grad_(True)
        disc.loss(x, targets, sr=16000, kind="penalty", speaker=speaker).backward()

    @contextlib.contextmanager
    def torch_threads(count: int):
        previous = torch.get_num_threads()
        torch.set_num_threads(count)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    numpy_path = f"numpy scorer ({rec.backend}), CPU, 1 thread"
    paths = {numpy_path: (lambda: rec.score(waves, sr=16000, targets=targets,
                                            speaker=speaker),
                          lambda: None, lambda: threadpool_limits(1))}
    for count in threads if device == "cpu" else threads[:1]:
        where = f"torch, {device}" + (f", {count} thread(s)" if device == "cpu" else "")
        for name, fn in (("forward", forward), ("forward+backward", backward)):
            paths[f"{where}, {name}"] = (fn, sync, lambda c=count: torch_threads(c))
    best = _interleaved(paths, repeat)
    numpy_wall = best[numpy_path][0]
    return [{"path": name, "batch": n, "wall_clips_per_s": n / wall,
             "cpu_clips_per_s": n / cpu, "vs_numpy": numpy_wall / wall}
            for name, (wall, cpu) in best.items()]


def run_header(script: str, args: argparse.Namespace, argv: list[str] | None) -> dict:
    """The command, arguments, host, torch version and device of a run of ``script``."""
    import torch

    return {"command": f"python experiments/{script}.py "
                       + shlex.join(sys.argv[1:] if argv is None else argv),
            "args": vars(args),
            "host": f"{platform.machine()}, Python {platform.python_version()}",
            "torch": torch.__version__,
            "device_name": (torch.cuda.get_device_name(args.device)
                            if args.device.startswith("cuda") else platform.processor()
                            or "CPU")}


def write_report(result: dict, stem: Path, markdown: str) -> None:
    """``<stem>.json`` and ``<stem>.md``, each written atomically; the report printed."""
    from ser_classic.data import atomic_write_bytes

    atomic_write_bytes(stem.with_suffix(".json"), json.dumps(result, indent=1).encode())
    atomic_write_bytes(stem.with_suffix(".md"), markdown.encode())
    print(markdown)


def _markdown(result: dict) -> str:
    a = result["args"]
    lines = [f"# Torch discriminator (`ser_classic.torch`) on {a['device']}: values, "
             f"gradients, speed", "",
             f"Produced by: `{result['command']}`", "",
             f"Host: {result['host']}; torch {result['torch']}; device: "
             f"{result['device_name']}. Feature extraction: version "
             f"{result['feature_version']}.", ""]
    lines += ["## Value parity with the numpy/ONNX path", "",
              f"{a['clips']} seeded clips per corpus at their own lengths, batches of "
              f"{a['batch']} (zero-padded, `lengths=`). |dp|: absolute difference of a "
              f"class probability; max over clips and classes, and the 99th percentile over "
              f"clips of each clip's max. Targets: float64 <= 1e-3, float32 <= 1e-2.", "",
              "| model | corpus | clips | max dp float64 | p99 float64 | max dp float32 | "
              "p99 float32 | argmax agreement float32 |", "|---|---|---|---|---|---|---|---|"]
    for r in result["parity"]:
        lines.append(f"| `{r['model']}` ({r['model_id']}) | {r['corpus']} | {r['clips']} | "
                     f"{r['max_dp_float64']:.2e} | {r['p99_dp_float64']:.2e} | "
                     f"{r['max_dp_float32']:.2e} | {r['p99_dp_float32']:.2e} | "
                     f"{r['argmax_agree_float32']:.3f} |")
    lines += ["", "## Feature-level parity of every ported group", "",
              f"{a['feature_clips']} seeded clips per corpus; relative error "
              f"|torch - numpy| / max(|numpy|, 1) of each feature (all functionals of the "
              f"group), max and median over clips and features.", "",
              "| group | features | max float64 | median float64 | max float32 | "
              "median float32 |", "|---|---|---|---|---|---|"]
    for r in result["features"]:
        lines.append(f"| {r['group']} | {r['features']} | {r['max_float64']:.1e} | "
                     f"{r['median_float64']:.1e} | {r['max_float32']:.1e} | "
                     f"{r['median_float32']:.1e} |")
    lines += ["", "## Gradient check (central differences, float64)", "",
              "Directional derivative of p(class) along a random relative gain "
              "(`v = noise * y`), 1 s of each clip, step 1e-8.", "",
              "| model | corpus | file | class | autograd | finite difference | abs. error | "
              "rel. error |", "|---|---|---|---|---|---|---|---|"]
    for model, rows in result["gradients"].items():
        for r in rows:
            lines.append(f"| `{model}` | {r['corpus']} | {r['file']} | {r['class']} | "
                         f"{r['analytic']:.6g} | {r['numeric']:.6g} | {r['abs_err']:.1e} | "
                         f"{r['rel_err']:.1e} |")
    lines += ["", "## Speed: 32 clips of 3 s", "",
              f"Best of {a['repeat']} rounds after a warm-up, each round timing every path "
              "in turn (a drift of the machine's speed reaches all paths alike); float32; "
              "the numpy scorer "
              f"on one thread (BLAS limited to 1). CPU time counts every thread of the "
              f"process; wall time depends on the machine's load. Speed ratio: the numpy "
              f"scorer's wall time over the path's, measured in the same run (the target "
              f"is torch CPU forward >= 1). The numpy scorer scores clip by clip in one "
              f"process, on one core; torch parallelises within operations with its "
              f"threads.", "",
              "| model | path | clips/s (wall) | clips/s (CPU time) | speed ratio vs numpy |",
              "|---|---|---|---|---|"]
    for model, rows in result["speed"].items():
        for r in rows:
            lines.append(f"| `{model}` | {r['path']} | {r['wall_clips_per_s']:.1f} | "
                         f"{r['cpu_clips_per_s']:.1f} | {r['vs_numpy']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["deployed", "deployed-speaker_norm"])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, or auto")
    parser.add_argument("--out", default="reports/torch")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--clips", type=int, default=100, help="parity clips per corpus")
    parser.add_argument("--grad-clips", type=int, default=6)
    parser.add_argument("--feature-clips", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, os.cpu_count()}),
                        help="torch CPU thread counts to time (default: 1 and every core)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-speed", action="store_true", help="values and gradients only")
    args = parser.parse_args(argv)
    import torch

    from ser_classic import features

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    data_dir = Path(args.data)
    result = {**run_header("bench_torch", args, argv),
              "feature_version": features._FEATURE_VERSION,
              "parity": [], "gradients": {}, "speed": {}}
    t0 = time.perf_counter()
    result["features"] = feature_parity(data_dir, clips=args.feature_clips, seed=args.seed,
                                        device=args.device)
    for model in args.model:
        result["parity"] += parity(model, data_dir, clips=args.clips, batch=args.batch,
                                   seed=args.seed, device=args.device)
        result["gradients"][model] = gradient_check(model, data_dir, clips=args.grad_clips,
                                                    seed=args.seed, device=args.device)
        result["speed"][model] = [] if args.no_speed else speed(
            model, data_dir, device=args.device, threads=args.threads, repeat=args.repeat,
            seed=args.seed)
        print(f"{model}: done after {time.perf_counter() - t0:.0f} s", flush=True)
    write_report(result, Path(args.out) / f"bench_{args.device.replace(':', '')}",
                 _markdown(result))


if __name__ == "__main__":
    main()
