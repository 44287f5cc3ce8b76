"""Load test of the HTTP service with hostile inputs (issue 17; not part of ``make test``).

Starts ``ser-classic serve`` (a subprocess, ``--model``, default ``models/deployed``) on
127.0.0.1 and sends ``--requests`` requests from ``--concurrency`` concurrent clients:
good clips (real TESS and RAVDESS files, one per ``/predict``, some as a
``/predict/batch`` of three), about 20 % bad inputs (empty, text, a truncated WAV header,
garbage after a valid WAV header (it decodes as noise: 200), random bytes, silence, 10 ms,
audio over the duration limit, a declared body over the size limit, a chunked body over
it) and about 10 % decompression bombs (an hour of
48 kHz stereo silence in ~660 KB of FLAC, two minutes of 192 kHz / 8-channel silence, and
both again with no length in the header). Prints 2xx/4xx/5xx counts (and transport
errors), p50/p95 latency by input class, and the server's RSS before (idle, after one
warm-up request), at its peak (``VmHWM``) and after (``/proc/PID/status``).

Target: no 5xx and peak RSS < idle + 150 MB x ``--max-concurrent-decodes``.

Usage::

    .venv/bin/python experiments/load_service.py
    .venv/bin/python experiments/load_service.py --requests 600 --concurrency 16
    .venv/bin/python experiments/load_service.py --out reports/service/load.md
"""

from __future__ import annotations

import argparse
import io
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SER_CLASSIC_DATA", ROOT.parent / "shared" / "data"))


def _status_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wav(y: np.ndarray, sr: int, **kw) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", **kw)
    return buf.getvalue()


def _silence_flac(sr: int, channels: int, seconds: int, *, unknown_length: bool) -> bytes:
    buf = io.BytesIO()
    block = np.zeros((sr * 10, channels), dtype=np.int16)
    with sf.SoundFile(buf, "w", samplerate=sr, channels=channels, format="FLAC") as f:
        for _ in range(seconds // 10):
            f.write(block)
    b = bytearray(buf.getvalue())
    if unknown_length:  # STREAMINFO total samples (36 bits) and MD5 := 0
        b[21] &= 0xF0
        b[22:42] = bytes(20)
    return bytes(b)


def _inputs(max_duration: float, max_upload: int) -> dict[str, list[tuple[str, bytes]]]:
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    good = [(p.name, p.read_bytes()) for p in
            sorted((DATA / "tess").rglob("*.*"))[::40]
            + sorted((DATA / "ravdess").rglob("*.*"))[::40]]
    header = _wav(tone, 16000)
    bad = [
        ("empty.wav", b""),
        ("notes.wav", b"this is not audio\n" * 200),
        ("truncated.wav", header[:30]),
        ("corrupt.wav", header[:44] + bytes(range(256)) * 40),
        ("random.flac", rng.bytes(50_000)),
        ("silent.wav", _wav(np.zeros(16000, dtype=np.float32), 16000)),
        ("ten_ms.wav", _wav(tone[:160], 16000)),
        ("too_long.wav", _wav(np.tile(tone, int(max_duration // 3) + 2), 8000,
                              subtype="PCM_U8")),
        ("declared_oversize.wav", header + bytes(max_upload)),
        ("chunked_oversize.wav", b""),  # streamed by _post
    ]
    bombs = [
        ("hour_48k_2ch.flac", _silence_flac(48000, 2, 3600, unknown_length=False)),
        ("2min_192k_8ch.flac", _silence_flac(192000, 8, 120, unknown_length=False)),
        ("hour_48k_2ch_nolength.flac", _silence_flac(48000, 2, 3600, unknown_length=True)),
        ("2min_192k_8ch_nolength.flac", _silence_flac(192000, 8, 120, unknown_length=True)),
    ]
    return {"good": good, "bad": bad, "bomb": bombs}


def _post(client: httpx.Client, url: str, kind: str, name: str, payload: bytes,
          batch: list | None, max_upload: int) -> int:
    if name == "chunked_oversize.wav":
        def body():
            yield (b"--XX\r\ncontent-disposition: form-data; name=\"file\"; "
                   b"filename=\"big.wav\"\r\n\r\n")
            for _ in range(max_upload // 65536 * 4):
                yield bytes(65536)
        return client.post(f"{url}/predict", content=body(), headers={
            "content-type": "multipart/form-data; boundary=XX"}).status_code
    if batch is not None:
        return client.post(f"{url}/predict/batch",
                           files=[("files", item) for item in batch]).status_code
    return client.post(f"{url}/predict", files={"file": (name, payload)}).status_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/deployed")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-concurrent-decodes", type=int, default=2)
    parser.add_argument("--max-duration", type=float, default=30.0)
    parser.add_argument("--max-upload-mb", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the figures to this markdown report")
    args = parser.parse_args(argv)
    max_upload = int(args.max_upload_mb * 1e6)
    inputs = _inputs(args.max_duration, max_upload)
    rng = random.Random(args.seed)
    plan = []
    for _ in range(args.requests):
        u = rng.random()
        kind = "good" if u < 0.7 else "bad" if u < 0.9 else "bomb"
        name, payload = rng.choice(inputs[kind])
        batch = rng.sample(inputs["good"], 3) if kind == "good" and rng.random() < 0.1 else None
        plan.append((kind, name, payload, batch))

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "ser_classic.cli", "serve", "--model", args.model,
               "--port", str(port), "--max-duration", str(args.max_duration),
               "--max-upload-mb", str(args.max_upload_mb),
               "--max-concurrent-decodes", str(args.max_concurrent_decodes)]
    log = tempfile.TemporaryFile("w+")
    server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"serve did not start:\n{log.read()[-3000:]}") from None
                time.sleep(0.2)
        name, payload = inputs["good"][0]
        httpx.post(f"{url}/predict", files={"file": (name, payload)}, timeout=60)
        before = _status_kb(server.pid)["VmRSS"]

        latencies: dict[str, list[float]] = defaultdict(list)
        codes: Counter = Counter()
        by_kind: Counter = Counter()

        def one(item):
            kind, name, payload, batch = item
            with httpx.Client(timeout=120) as client:
                start = time.perf_counter()
                try:
                    code = _post(client, url, kind, name, payload, batch, max_upload)
                except httpx.TransportError as exc:
                    return kind, name, f"transport error ({type(exc).__name__})", 0.0
                return kind, name, code, time.perf_counter() - start

        wall = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            for kind, name, code, seconds in pool.map(one, plan):
                group = f"{code // 100}xx" if isinstance(code, int) else code
                codes[group] += 1
                named = kind == "bad" or group not in ("2xx", "4xx")
                by_kind[kind, f"{name} {group}" if named else group] += 1
                if seconds:
                    latencies[kind].append(seconds)
                    latencies["all"].append(seconds)
        wall = time.perf_counter() - wall
        time.sleep(1.0)
        status = _status_kb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    lines: list[str] = []

    def say(line: str) -> None:
        print(line)
        lines.append(line)

    say(f"{args.requests} requests, {args.concurrency} concurrent clients, "
          f"--max-concurrent-decodes {args.max_concurrent_decodes}, model {args.model}, "
          f"{wall:.1f} s")
    say("responses: " + ", ".join(f"{k} {codes.get(k, 0)}" for k in
                                     ("2xx", "4xx", "5xx"))
          + "".join(f", {k} {v}" for k, v in codes.items() if not k[0].isdigit()))
    for kind in ("good", "bad", "bomb"):
        counts = ", ".join(f"{g} {n}" for (k, g), n in sorted(by_kind.items()) if k == kind)
        say(f"  {kind:5s}: {counts}")
    for kind in ("all", "good", "bad", "bomb"):
        if latencies[kind]:
            p50, p95 = np.percentile(np.array(latencies[kind]) * 1000, [50, 95])
            say(f"latency {kind:5s}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
                  f"(n={len(latencies[kind])})")
    peak, after = status["VmHWM"], status["VmRSS"]
    budget = 150 * 1024 * args.max_concurrent_decodes
    say(f"server RSS: before {before / 1024:.0f} MB, peak {peak / 1024:.0f} MB "
          f"(+{(peak - before) / 1024:.0f} MB), after {after / 1024:.0f} MB; "
          f"target peak < before + {budget / 1024:.0f} MB")
    ok = codes.get("5xx", 0) == 0 and peak - before < budget
    say("target met" if ok else "TARGET MISSED")
    if args.out:
        from ser_classic.reporting import write_text

        command = "python experiments/load_service.py " + " ".join(sys.argv[1:])
        write_text(Path(args.out), "# HTTP service under hostile load (issue 17)\n\n"
                   f"Command: `{command}`\n\n" + "```\n" + "\n".join(lines) + "\n```\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
