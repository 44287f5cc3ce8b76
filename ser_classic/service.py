"""HTTP service (FastAPI): ``POST /predict``, ``POST /predict/batch``, ``GET /health``,
``GET /model``; OpenAPI schema at ``/openapi.json`` and docs at ``/docs``.

Bad input never gives a 500: empty upload -> 400, body over the size limit -> 413, audio
longer than the duration limit -> 413, undecodable (non-audio) -> 415, unusable audio
(silent, too short, non-finite) or a wrong/missing form field -> 422. Every error is JSON
``{"error": <short code>, "detail": <message>}``.
"""

from __future__ import annotations

import io
import re
import threading
import time
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import AudioError, ParameterError

__all__ = ["MIN_SAMPLE_RATE", "ServiceError", "create_app"]

MIN_SAMPLE_RATE = 8000


class ServiceError(Exception):
    """A client error with its HTTP status."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class Prediction(BaseModel):
    filename: str | None = None
    emotion: str
    probabilities: dict[str, float]
    duration_s: float
    model_id: str
    latency_ms: float


class BatchItem(BaseModel):
    filename: str | None = None
    emotion: str | None = None
    probabilities: dict[str, float] | None = None
    duration_s: float | None = None
    error: str | None = None
    detail: str | None = None


class BatchPrediction(BaseModel):
    results: list[BatchItem]
    model_id: str
    latency_ms: float


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail})


def _decode(payload: bytes, name: str, *, max_bytes: int) -> tuple[np.ndarray, int]:
    """Bytes of an uploaded file -> (mono samples [shape=(n,)], rate)."""
    import soundfile as sf

    if not payload:
        raise ServiceError(400, "empty_upload", f"{name}: empty file (0 bytes)")
    if len(payload) > max_bytes:
        raise ServiceError(413, "upload_too_large",
                           f"{name}: {len(payload)} bytes > limit {max_bytes}")
    try:
        data, sr = sf.read(io.BytesIO(payload), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types for non-audio
        reason = re.sub(r"Error opening <[^>]*>: ", "", str(exc))[:200]
        raise ServiceError(415, "not_audio", f"{name}: not a readable audio file "
                                              f"({reason})") from None
    if sr < MIN_SAMPLE_RATE:
        raise ServiceError(422, "unusable_audio", f"{name}: sample rate {sr} Hz < "
                                                  f"{MIN_SAMPLE_RATE} Hz")
    return data.mean(axis=1), int(sr)  # soundfile gives (frames, channels): mix down


def _audio_error(exc: AudioError) -> ServiceError:
    if exc.problem.startswith("too long"):
        return ServiceError(413, "audio_too_long", str(exc))
    return ServiceError(422, "unusable_audio", str(exc))


def create_app(recognizer, *, max_upload_bytes: int = 10_000_000,
               max_duration_s: float = 30.0, max_batch: int = 32) -> FastAPI:
    """The FastAPI application serving ``recognizer``.

    Parameters
    ----------
    recognizer : EmotionRecognizer
    max_upload_bytes : int
        Per request body (checked on Content-Length before reading) and per file.
    max_duration_s : float
        Longer audio is refused with 413.
    max_batch : int
        Most files in one ``/predict/batch`` request.
    """
    app = FastAPI(title="ser_classic emotion recognition",
                  version=str(recognizer.card.get("libraries", {}).get("ser_classic")),
                  description=f"Model {recognizer.model_id} ({recognizer.protocol})")
    lock = threading.Lock()  # one inference at a time: BLAS thread limits are global
    classes = [str(c) for c in recognizer.classes_]

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        batch_limit = max_upload_bytes * (max_batch if request.url.path.endswith("batch")
                                          else 1) + 65536
        if length is not None and length.isdigit() and int(length) > batch_limit:
            return _error(413, "upload_too_large",
                          f"request body {length} bytes > limit {batch_limit}")
        return await call_next(request)

    @app.exception_handler(ServiceError)
    async def service_error(_request, exc: ServiceError):
        return _error(exc.status, exc.error, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, exc: RequestValidationError):
        fields = [".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg"))
                  for e in exc.errors()]
        return _error(422, "invalid_request", "; ".join(fields) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):
        return _error(exc.status_code, "http_error", str(exc.detail))

    def _waveform(data: np.ndarray, sr: int, name: str) -> np.ndarray:
        try:
            return recognizer.waveform(data, sr=sr, source=name)
        except AudioError as exc:
            raise _audio_error(exc) from None
        except (ValueError, RuntimeError) as exc:  # e.g. a rate the resampler refuses
            raise ServiceError(422, "unusable_audio", f"{name}: {exc}") from None

    def _read(upload: UploadFile) -> tuple[np.ndarray, str]:
        name = upload.filename or "upload"
        payload = upload.file.read(max_upload_bytes + 1)
        data, sr = _decode(payload, name, max_bytes=max_upload_bytes)
        return _waveform(data, sr, name), name

    def _infer(waveforms: list[np.ndarray], speaker=None) -> np.ndarray:
        with lock:
            X = np.stack([recognizer.clip_features(y) for y in waveforms])
            try:
                return recognizer.proba_from_features(X, speaker=speaker)
            except ParameterError as exc:
                raise ServiceError(422, "speaker_statistics_required", str(exc)) from None

    rate = recognizer.feature_config.sample_rate

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model_id": recognizer.model_id}

    @app.get("/model")
    def model() -> dict:
        return recognizer.card

    @app.post("/predict", response_model=Prediction)
    def predict(file: Annotated[UploadFile, File(description="an audio file (WAV/FLAC)")]):
        start = time.perf_counter()
        y, name = _read(file)
        if y.size / rate > max_duration_s:
            raise ServiceError(413, "audio_too_long",
                               f"{name}: {y.size / rate:.1f} s > limit {max_duration_s} s")
        if recognizer.protocol == "speaker_norm":
            raise ServiceError(422, "speaker_statistics_required",
                               "this model is speaker-normalised: send several clips of "
                               "one speaker to /predict/batch?speaker_norm=true")
        proba = _infer([y])[0]
        return Prediction(filename=name, emotion=classes[int(np.argmax(proba))],
                          probabilities=dict(zip(classes, map(float, proba), strict=True)),
                          duration_s=y.size / rate, model_id=recognizer.model_id,
                          latency_ms=(time.perf_counter() - start) * 1000)

    @app.post("/predict/batch", response_model=BatchPrediction)
    def predict_batch(files: Annotated[list[UploadFile], File(description="audio files")],
                      speaker_norm: Annotated[bool, Query(
                          description="all files are one speaker: normalise with their "
                                      "statistics")] = False):
        start = time.perf_counter()
        if len(files) > max_batch:
            raise ServiceError(413, "batch_too_large", f"{len(files)} files > {max_batch}")
        items: list[BatchItem] = []
        good, waves = [], []
        for upload in files:
            try:
                y, name = _read(upload)
                if y.size / rate > max_duration_s:
                    raise ServiceError(413, "audio_too_long", f"{name}: {y.size / rate:.1f}"
                                                              f" s > {max_duration_s} s")
            except ServiceError as exc:
                items.append(BatchItem(filename=upload.filename, error=exc.error,
                                       detail=exc.detail))
                continue
            good.append(len(items))
            items.append(BatchItem(filename=name, duration_s=y.size / rate))
            waves.append(y)
        if waves:
            if speaker_norm and len(waves) < 2:
                raise ServiceError(422, "speaker_statistics_required",
                                   "speaker_norm needs at least 2 usable clips")
            proba = _infer(waves, speaker="batch" if speaker_norm else None)
            for i, p in zip(good, proba, strict=True):
                items[i].emotion = classes[int(np.argmax(p))]
                items[i].probabilities = dict(zip(classes, map(float, p), strict=True))
        return BatchPrediction(results=items, model_id=recognizer.model_id,
                               latency_ms=(time.perf_counter() - start) * 1000)

    return app
