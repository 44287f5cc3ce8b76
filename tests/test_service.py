"""The HTTP service under real HTTP: a uvicorn server on 127.0.0.1 in a thread."""

from __future__ import annotations

import io
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf
import uvicorn

import ser_classic
from ser_classic.service import create_app

from .conftest import DATA, TESS, speechlike
from .deploy_models import tiny_model

CLIP = sorted(TESS.glob("OAF_angry/*"))[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app):
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", limit_concurrency=64))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(small_manifest, feature_cache):
    rec = ser_classic.load(tiny_model(small_manifest, feature_cache))
    app = create_app(rec, max_upload_bytes=300_000, max_duration_s=5.0, max_batch=8)
    srv, thread, url = _serve(app)
    yield url, rec
    srv.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()


def _wav(y: np.ndarray, sr: int, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt)
    return buf.getvalue()


def test_health_model_and_openapi(server):
    url, rec = server
    assert httpx.get(f"{url}/health").json() == {"status": "ok", "model_id": rec.model_id}
    card = httpx.get(f"{url}/model").json()
    assert card["model_id"] == rec.model_id and card["classes"] == list(rec.classes_)
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"/predict", "/predict/batch", "/health", "/model"} <= set(paths)


def test_good_upload_matches_python_api(server):
    url, rec = server
    r = httpx.post(f"{url}/predict", files={"file": (CLIP.name, CLIP.read_bytes(),
                                                     "audio/wav")})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = rec.predict_proba(str(CLIP))
    got = np.array([body["probabilities"][c] for c in rec.classes_])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert body["emotion"] == rec.classes_[np.argmax(expected)]
    assert body["model_id"] == rec.model_id and body["latency_ms"] > 0
    # another rate and format: 44.1 kHz FLAC
    flac = _wav(speechlike(44100, 1.5), 44100, "FLAC")
    r = httpx.post(f"{url}/predict", files={"file": ("x.flac", flac, "audio/flac")})
    assert r.status_code == 200 and r.json()["duration_s"] == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize(("payload", "status", "error"), [
    (b"", 400, "empty_upload"),
    (b"hello, this is a text file and not audio\n" * 50, 415, "not_audio"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64), 415, "not_audio"),
    ("oversize", 413, "upload_too_large"),
    ("long", 413, "audio_too_long"),
    ("silent", 422, "unusable_audio"),
    ("4 kHz", 422, "unusable_audio"),
])
def test_bad_uploads_get_json_4xx(server, payload, status, error):
    url, _ = server
    if payload == "oversize":
        payload = _wav(speechlike(16000, 4.0, seed=3), 16000)  # 4 s float... as PCM_16
        payload = payload + bytes(400_000)
    elif payload == "long":
        payload = _wav(speechlike(8000, 8.0), 8000)  # 8 s > 5 s, 128 kB < 300 kB
    elif payload == "silent":
        payload = _wav(np.zeros(16000, dtype=np.float32), 16000)
    elif payload == "4 kHz":  # below telephone speech (ser_classic.data.MIN_SAMPLE_RATE)
        payload = _wav(speechlike(4000, 1.0), 4000)
    r = httpx.post(f"{url}/predict", files={"file": ("clip.wav", payload, "audio/wav")})
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and r.json()["detail"]


def test_wrong_field_and_method(server):
    url, _ = server
    r = httpx.post(f"{url}/predict", files={"audio": ("a.wav", CLIP.read_bytes())})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    assert "file" in r.json()["detail"]
    r = httpx.post(f"{url}/predict", data={"file": "not a file"})
    assert r.status_code == 422
    r = httpx.get(f"{url}/predict")
    assert r.status_code == 405 and r.json()["error"] == "http_error"
    r = httpx.post(f"{url}/predict", content=b"raw body",
                   headers={"content-type": "application/octet-stream"})
    assert r.status_code == 422


def test_batch_reports_bad_files_and_predicts_the_rest(server):
    url, rec = server
    files = [("files", (p.name, p.read_bytes(), "audio/wav"))
             for p in sorted(TESS.glob("YAF_sad/*"))[:3]]
    files.insert(1, ("files", ("bad.wav", b"garbage" * 10, "audio/wav")))
    r = httpx.post(f"{url}/predict/batch", files=files)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["error"] for x in results] == [None, "not_audio", None, None]
    assert all(x["emotion"] in rec.classes_ for x in results if x["error"] is None)
    r = httpx.post(f"{url}/predict/batch", files=[files[0]] * 9)
    assert r.status_code == 413 and r.json()["error"] == "batch_too_large"


def test_groups_of_emotions_over_http(server):
    url, rec = server
    clips = sorted(TESS.glob("YAF_sad/*"))[:2]
    files = [("files", (p.name, p.read_bytes(), "audio/wav")) for p in clips]
    r = httpx.post(f"{url}/predict/batch", params={"groups": "arousal"}, files=files)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    expected = rec.predict_proba([str(p) for p in clips], groups="arousal")
    np.testing.assert_allclose([[x["probabilities"][g] for g in ("high", "low")]
                                for x in results], expected, atol=1e-6)
    assert [x["emotion"] for x in results] == list(np.array(["high", "low"])[
        expected.argmax(axis=1)])
    r = httpx.post(f"{url}/predict", params={"groups": "arousal"}, files={"file": files[0][1]})
    assert r.status_code == 200 and set(r.json()["probabilities"]) == {"high", "low"}
    r = httpx.post(f"{url}/predict", params={"groups": "valence"}, files={"file": files[0][1]})
    assert r.status_code == 200 and list(r.json()["probabilities"]) == [
        "positive", "neutral", "negative"]
    for params, error in (({"groups": "arousal", "classes": "sad,happy"}, "classes_and_groups"),
                          ({"groups": "dominance"}, "invalid_request")):
        r = httpx.post(f"{url}/predict/batch", params=params, files=files)
        assert r.status_code == 422 and r.json()["error"] == error, r.text


def test_concurrent_requests(server):
    url, rec = server
    clips = sorted(TESS.glob("OAF_happy/*"))[:4]
    expected = {p.name: rec.predict(str(p)) for p in clips}

    def one(i):
        p = clips[i % len(clips)]
        with httpx.Client(timeout=60) as client:
            r = client.post(f"{url}/predict", files={"file": (p.name, p.read_bytes())})
        return p.name, r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(16)))
    assert all(code == 200 for _, code, _ in results)
    assert all(body["emotion"] == expected[name] for name, _, body in results)


def test_speaker_normalised_model_over_http(small_manifest, feature_cache):
    rec = ser_classic.load(tiny_model(small_manifest, feature_cache,
                                      normalization="speaker_norm"))
    srv, thread, url = _serve(create_app(rec))
    try:
        clips = sorted(TESS.glob("YAF_fear/*"))[:3]
        r = httpx.post(f"{url}/predict", files={"file": (clips[0].name, clips[0].read_bytes())})
        assert r.status_code == 422 and r.json()["error"] == "speaker_statistics_required"
        files = [("files", (p.name, p.read_bytes())) for p in clips]
        r = httpx.post(f"{url}/predict/batch", files=files)
        assert r.status_code == 422
        r = httpx.post(f"{url}/predict/batch", params={"speaker_norm": "true"}, files=files)
        assert r.status_code == 200, r.text
        got = np.array([[x["probabilities"][c] for c in rec.classes_]
                        for x in r.json()["results"]])
        expected = rec.predict_proba([str(p) for p in clips], speaker="batch")
        np.testing.assert_allclose(got, expected, atol=1e-6)
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_neutral_ref_model_scores_against_reference_files(tmp_path):
    """The shipped deployed-neutral_ref over HTTP: a batch scored against the voice's
    neutral clips sent as reference files, as the API does with those clips enrolled;
    requests without a usable reference, and references sent to other models, refused."""
    rec = ser_classic.load("deployed-neutral_ref")
    actor = DATA / "ravdess" / "Actor_07"
    neutral = sorted(actor.glob("03-01-01-*.flac"))
    scored = sorted(actor.glob("03-01-05-*.flac"))[:3]  # angry
    files = [("files", (p.name, p.read_bytes())) for p in scored]
    reference = [("reference", (p.name, p.read_bytes())) for p in neutral]
    srv, thread, url = _serve(create_app(rec, max_batch=8))
    try:
        r = httpx.post(f"{url}/predict/batch", files=files + reference)
        assert r.status_code == 200, r.text
        got = np.array([[x["probabilities"][c] for c in rec.classes_]
                        for x in r.json()["results"]])
        voice = rec.enroll([str(p) for p in neutral])
        expected = rec.predict_proba([str(p) for p in scored], speaker=voice)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert [x["filename"] for x in r.json()["results"]] == [p.name for p in scored]
        for request, error in (
                (dict(files=files), "reference_required"),
                (dict(files=files + reference[:1]), "reference_required"),
                (dict(files=files + reference, params={"speaker_norm": "true"}),
                 "speaker_norm_not_supported"),
                (dict(files=[*files, ("reference", ("bad.wav", b"not audio")),
                             *reference]), "not_audio")):
            r = httpx.post(f"{url}/predict/batch", **request)
            assert r.status_code in (415, 422) and r.json()["error"] == error, r.text
        assert "reference bad.wav" in r.json()["detail"]
        # one clip against its reference: the batch's answer for that clip
        r = httpx.post(f"{url}/predict", files=[("file", files[0][1]), *reference])
        assert r.status_code == 200, r.text
        np.testing.assert_allclose([r.json()["probabilities"][c] for c in rec.classes_],
                                   expected[0], atol=1e-6)
        r = httpx.post(f"{url}/predict", files={"file": (scored[0].name,
                                                         scored[0].read_bytes())})
        assert r.status_code == 422 and r.json()["error"] == "reference_required"
        r = httpx.post(f"{url}/predict", files=[("file", files[0][1]), *reference * 2])
        assert r.status_code == 413 and r.json()["error"] == "batch_too_large"
        r = httpx.post(f"{url}/predict/batch", files=files * 2 + reference)
        assert r.status_code == 413 and r.json()["error"] == "batch_too_large"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
    srv, thread, url = _serve(create_app(ser_classic.load("deployed")))
    try:
        r = httpx.post(f"{url}/predict/batch", files=files + reference)
        assert r.status_code == 422 and r.json()["error"] == "reference_not_supported"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
