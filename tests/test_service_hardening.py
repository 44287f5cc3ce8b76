"""Memory and time bounded by the limits, not by the input (issue 17).

Decompression bombs (minutes of digital silence in a few hundred KB of FLAC, with and
without a length in the header), chunked oversize uploads, clients that stall, the CLI's
limits, and speaker-normalisation refusals, against a real uvicorn server on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import uvicorn

import ser_classic
from ser_classic.data import decode_audio, load_audio
from ser_classic.errors import AudioError, ParameterError
from ser_classic.service import create_app, server_config

from .conftest import ROOT, TESS, speechlike
from .deploy_models import tiny_model

CLIP = sorted(TESS.glob("OAF_angry/*"))[0]
TIMEOUT_S = 1.0  # the stall timeouts of the test server


def _silence_flac(path: Path, *, sr: int, channels: int, seconds: int) -> Path:
    """Digital silence written 10 s at a time (a few hundred KB for many minutes)."""
    block = np.zeros((sr * 10, channels), dtype=np.int16)
    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, format="FLAC") as f:
        for _ in range(seconds // 10):
            f.write(block)
    return path


def _unknown_length(path: Path, out: Path) -> Path:
    """The FLAC with 0 ("unknown") total samples and no MD5 in its STREAMINFO."""
    b = bytearray(path.read_bytes())
    assert b[:4] == b"fLaC" and b[4] & 0x7F == 0  # STREAMINFO first
    b[21] &= 0xF0  # total samples: the low 4 bits of byte 21 and bytes 22-25
    b[22:26] = bytes(4)
    b[26:42] = bytes(16)
    out.write_bytes(bytes(b))
    return out


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("bombs")
    hour = _silence_flac(tmp / "hour_48k_2ch.flac", sr=48000, channels=2, seconds=3600)
    wide = _silence_flac(tmp / "2min_192k_8ch.flac", sr=192000, channels=8, seconds=120)
    return {"hour": hour, "wide": wide,
            "hour_unknown": _unknown_length(hour, tmp / "hour_unknown.flac"),
            "wide_unknown": _unknown_length(wide, tmp / "wide_unknown.flac")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, app, **timeouts) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(server_config(app, port=self.port, log_level="warning",
                                                   **timeouts))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def strict_model(small_manifest, feature_cache) -> Path:
    return tiny_model(small_manifest, feature_cache)


@pytest.fixture(scope="module")
def server(strict_model):
    app = create_app(ser_classic.load(strict_model), max_upload_bytes=1_000_000,
                     max_duration_s=5.0, max_batch=4)
    with _Server(app, header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S,
                 keep_alive_s=TIMEOUT_S) as srv:
        yield srv


def _wav(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


# --------------------------------------------------------------------------- decoder
def test_decoder_matches_a_full_read(tmp_path):
    y = np.stack([speechlike(22050, 1.3), speechlike(22050, 1.3, seed=1)], axis=1)
    path = tmp_path / "stereo.flac"
    sf.write(path, y, 22050)
    got, sr = decode_audio(path)
    full, _ = sf.read(path, dtype="float32", always_2d=True)
    assert sr == 22050 and got.dtype == np.float32
    np.testing.assert_array_equal(got, full.mean(axis=1))
    # no length in the header: the same samples, decoded block by block
    unknown, _ = decode_audio(_unknown_length(path, tmp_path / "unknown.flac"))
    np.testing.assert_array_equal(unknown, got)
    # a streamed WAV (RIFF and data sizes 0xFFFFFFFF) of more than one block
    wav = bytearray(_wav(speechlike(16000, 40.0), 16000))
    assert wav[36:40] == b"data"
    wav[4:8] = wav[40:44] = b"\xff\xff\xff\xff"
    streamed, _ = decode_audio(io.BytesIO(bytes(wav)), name="streamed.wav")
    assert streamed.size == 16000 * 40


def test_decoder_refuses_from_the_header_or_at_the_limit(bombs):
    with pytest.raises(AudioError, match=r"too long: 3600\.0 s > limit 60\.0 s") as info:
        load_audio(bombs["hour"])
    assert info.value.source == str(bombs["hour"])
    with pytest.raises(AudioError, match=r"too long: 120\.0 s > limit 2\.5 s"):
        decode_audio(bombs["wide"], max_duration=2.5)
    for key in ("hour_unknown", "wide_unknown"):
        with pytest.raises(AudioError, match=r"too long: .*> limit 2\.0 s"):
            decode_audio(io.BytesIO(bombs[key].read_bytes()), name="up.flac",
                         max_duration=2.0)
    with pytest.raises(AudioError, match=r"^up\.wav: not a readable audio file"):
        decode_audio(io.BytesIO(b"not audio" * 100), name="up.wav")


def test_decoder_refuses_an_absurd_sample_rate(tmp_path):
    """A header's rate bounds the decode's memory (limit x rate): it is bounded too."""
    path = tmp_path / "fast.wav"
    sf.write(path, np.zeros(1000, dtype=np.int16), 1_000_000, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"fast\.wav: sample rate 1000000 Hz outside"):
        decode_audio(path)


_RSS_CHILD = """
import json, sys
import ser_classic
from ser_classic.data import decode_audio
from ser_classic.errors import AudioError

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
model, clip, bombs = sys.argv[1], sys.argv[2], sys.argv[3:]
rec = ser_classic.load(model)
rec.predict(clip)  # warm: lazy imports, first allocations
idle = status("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # peak RSS := current RSS
errors = []
for path in bombs:
    for call in (lambda: rec.predict(path), lambda: decode_audio(path)):
        try:
            call()
        except AudioError as exc:
            errors.append(exc.problem)
print(json.dumps({"idle": idle, "peak": status("VmHWM"), "errors": errors}))
"""


def test_bomb_memory_is_bounded_by_the_limit(bombs, strict_model):
    """A subprocess's peak RSS while refusing each bomb, by path: < idle + 150 MB."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc/self/clear_refs")
    paths = [str(bombs[k]) for k in ("hour", "wide", "hour_unknown", "wide_unknown")]
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(strict_model), str(CLIP),
                          *paths], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["errors"]) == 8
    assert all(e.startswith("too long") and "limit 60.0 s" in e for e in result["errors"])
    # decoded in full, the hour at 48 kHz stereo alone is 1.4 GB of float32
    print(f"peak RSS - idle: {(result['peak'] - result['idle']) / 2**20:.1f} MB")
    assert result["peak"] - result["idle"] < 150 * 2**20, result


# --------------------------------------------------------------------------- service
@pytest.mark.parametrize("key", ["hour", "wide", "hour_unknown", "wide_unknown"])
def test_bombs_get_413_naming_the_limit(server, bombs, key):
    payload = bombs[key].read_bytes()
    assert len(payload) < 1_000_000  # within the upload limit: the decoder must refuse
    r = httpx.post(f"{server.url}/predict", files={"file": ("bomb.flac", payload)},
                   timeout=60)
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "audio_too_long"
    assert r.json()["detail"].startswith("bomb.flac: too long")
    assert "limit 5.0 s" in r.json()["detail"]
    files = [("files", ("bomb.flac", payload)), ("files", (CLIP.name, CLIP.read_bytes()))]
    r = httpx.post(f"{server.url}/predict/batch", files=files, timeout=60)
    assert r.status_code == 200, r.text
    assert [x["error"] for x in r.json()["results"]] == ["audio_too_long", None]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (10 s at most)."""
    sock.settimeout(10)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open; received {received[:200]!r}")
    return received


def test_chunked_oversize_upload_refused_at_the_cap(server):
    """No Content-Length: the body is counted as it arrives; 413 and the connection closed
    long before the 300 MB are sent."""
    head = (b"--XX\r\ncontent-disposition: form-data; name=\"file\"; filename=\"big.wav\""
            b"\r\ncontent-type: audio/wav\r\n\r\n")
    block, sent, answer = bytes(65536), 0, b""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked"
                     b"\r\ncontent-type: multipart/form-data; boundary=XX\r\n\r\n"
                     + _chunk(head))
        sock.settimeout(0.001)
        try:
            while sent < 300_000_000 and not answer:
                sock.sendall(_chunk(block))
                sent += len(block)
                try:
                    answer = sock.recv(65536)
                except TimeoutError:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed at the cap while we were still sending
        answer += _read_until_closed(sock)
    assert sent < 300_000_000
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413"), answer[:300]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"] == "upload_too_large" and "limit 1065536 bytes" in body["detail"]


def test_declared_oversize_refused_before_reading(server):
    r = httpx.post(f"{server.url}/predict/batch",
                   files={"files": ("a.wav", bytes(4_200_000))})
    assert r.status_code == 413 and r.json()["error"] == "upload_too_large"
    assert "limit 4065536 bytes" in r.json()["detail"]


@pytest.mark.parametrize("sent", [
    b"",  # connects and says nothing
    b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-",  # partial headers
    b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-length: 5000\r\ncontent-type: "
    b"multipart/form-data; boundary=XX\r\n\r\n--XX\r\n",  # partial body
])
def test_stalled_clients_are_dropped(server, sent):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(sent)
        answer = _read_until_closed(sock)
    assert answer in (b"", b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n"
                           b"connection: close\r\n\r\n")


def test_idle_keep_alive_connection_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in answer


def test_limits_are_validated(strict_model):
    rec = ser_classic.load(strict_model)
    for bad in ({"max_concurrent_decodes": 0}, {"max_duration_s": float("nan")},
                {"max_upload_bytes": -1}, {"max_batch": 1.5}):
        with pytest.raises(ParameterError, match=next(iter(bad))):
            create_app(rec, **bad)
    with pytest.raises(ParameterError, match="header_timeout_s"):
        server_config(create_app(rec), header_timeout_s=0)


def test_one_decode_at_a_time_serves_concurrent_requests(strict_model):
    rec = ser_classic.load(strict_model)
    clips = sorted(TESS.glob("YAF_happy/*"))[:3]
    expected = {p.name: rec.predict(str(p)) for p in clips}
    with _Server(create_app(rec, max_concurrent_decodes=1)) as srv:
        def one(i):
            p = clips[i % len(clips)]
            r = httpx.post(f"{srv.url}/predict", files={"file": (p.name, p.read_bytes())},
                           timeout=60)
            return p.name, r.status_code, r.json()

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(one, range(12)))
    assert all(code == 200 for _, code, _ in results)
    assert all(body["emotion"] == expected[name] for name, _, body in results)


def test_cli_max_duration_is_the_limit_applied_and_named(strict_model, tmp_path):
    """serve --max-duration 120 (the recogniser's own default is 60 s): 90 s is accepted,
    130 s refused naming 120."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ser_classic.cli", "serve", "--model", str(strict_model),
         "--port", str(port), "--max-duration", "120"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"serve did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/predict"
        r = httpx.post(url, files={"file": ("90s.wav", _wav(speechlike(8000, 90.0), 8000))},
                       timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["duration_s"] == pytest.approx(90.0, abs=0.1)
        r = httpx.post(url, files={"file": ("130s.wav", _wav(speechlike(8000, 130.0), 8000))},
                       timeout=120)
        assert r.status_code == 413, r.text
        assert r.json()["detail"] == "130s.wav: too long: 130.0 s > limit 120.0 s"
    finally:
        server.terminate()
        server.wait(timeout=20)


# --------------------------------------------------------------------------- speakers
def test_speaker_norm_refusals_come_before_decoding(small_manifest, feature_cache, server,
                                                   bombs):
    """Bombs and garbage sent with the wrong speaker_norm get the speaker_norm error, not
    a decoding error: the request is refused before any audio is read."""
    garbage = [("files", ("a.wav", b"garbage" * 100)), ("files", ("b.flac",
                                                                  bombs["hour"].read_bytes()))]
    # a strict model given speaker_norm=true
    r = httpx.post(f"{server.url}/predict/batch", params={"speaker_norm": "true"},
                   files=garbage)
    assert r.status_code == 422 and r.json()["error"] == "speaker_norm_not_supported"
    assert "speaker_norm=true" in r.json()["detail"]
    r = httpx.post(f"{server.url}/predict", params={"speaker_norm": "true"},
                   files={"file": garbage[0][1]})
    assert r.status_code == 422 and r.json()["error"] == "speaker_norm_not_supported"
    # a speaker-normalised model without speaker_norm=true
    rec = ser_classic.load(tiny_model(small_manifest, feature_cache,
                                      normalization="speaker_norm"))
    with _Server(create_app(rec, max_upload_bytes=1_000_000)) as srv:
        for path, files in (("/predict", {"file": garbage[1][1]}),
                            ("/predict/batch", garbage)):
            r = httpx.post(f"{srv.url}{path}", files=files)
            assert r.status_code == 422, r.text
            body = r.json()
            assert body["error"] == "speaker_statistics_required"
            assert "speaker_norm=true" in body["detail"]
            assert "SpeakerStats" not in body["detail"] and "speaker=" not in body["detail"]
        r = httpx.post(f"{srv.url}/predict/batch", params={"speaker_norm": "true"},
                       files=[garbage[0], ("files", (CLIP.name, CLIP.read_bytes()))])
        assert r.status_code == 422 and "at least 2 usable clips" in r.json()["detail"]
        r = httpx.post(f"{srv.url}/predict/batch", params={"speaker_norm": "maybe"},
                       files=garbage)
        assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_serve_flags():
    from ser_classic.cli import build_parser

    args = build_parser().parse_args(["serve", "--model", "m"])
    assert (args.max_duration, args.max_concurrent_decodes, args.header_timeout,
            args.body_timeout, args.keep_alive, args.max_batch) == (30.0, 2, 10.0, 15.0,
                                                                    5.0, 32)
    assert os.fspath(args.model) == "m"
