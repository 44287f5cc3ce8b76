"""HTTP service (FastAPI): ``POST /predict``, ``POST /predict/batch``, ``GET /health``,
``GET /model``; OpenAPI schema at ``/openapi.json`` and docs at ``/docs``.

A ``speaker_norm`` model scores a batch of one speaker by the batch's statistics
(``/predict/batch?speaker_norm=true``); a ``neutral_ref`` model scores a batch against
``reference`` files, neutral clips of the voice sent in the same request (at least 2; they
are not scored), to ``/predict`` as to ``/predict/batch``.

Bad input never gives a 500: empty upload -> 400, body over the size limit -> 413, audio
longer than the duration limit -> 413, undecodable (non-audio) -> 415, unusable audio
(silent, too short, non-finite) or a wrong/missing form field -> 422. Every error is JSON
``{"error": <short code>, "detail": <message>}``.

Memory and time are bounded by the limits, not by the input: the body is counted as it
arrives (chunked or not) and refused at the cap; audio is refused from its header, or
decoded in blocks that stop at the duration limit (:func:`ser_classic.data.decode_audio`);
at most ``max_concurrent_decodes`` requests decode and extract at a time; clients that
stall are dropped (:func:`server_config`).
"""

from __future__ import annotations

import io
import math
import threading
import time
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

from ._vocabulary import Grouping, grouping_help, resolve_groups
from .data import MIN_SAMPLE_RATE, check_waveform, decode_audio, resample
from .errors import AudioError, ParameterError
from .recognizer import _restrict

__all__ = ["MIN_SAMPLE_RATE", "ServiceError", "create_app", "server_config"]


_SpeakerNorm = Annotated[bool, Query(description="all files are one speaker: normalise with "
                                                "their statistics (models with "
                                                "normalization=speaker_norm need it, "
                                                "strict models refuse it)")]
_Reference = Annotated[list[UploadFile] | None,
                      File(description="neutral clips of the voice (>= 2): the statistics "
                                        "a neutral_ref model centres on; refused by other "
                                        "models")]
_Classes = Annotated[str | None, Query(description="comma-separated subset of the model's "
                                                   "classes (e.g. happy,sad,neutral): "
                                                   "probabilities renormalised over them")]
_Groups = Annotated[Grouping | None, Query(description="score groups of emotions as one "
                                                      f"class each: {grouping_help()}; "
                                                      "not with classes")]


class ServiceError(Exception):
    """A client error with its HTTP status."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class Prediction(BaseModel):
    filename: str | None = None
    emotion: str
    probabilities: dict[str, float]
    atypicality: float | None = None  # None: a model saved without training statistics
    atypical: bool = False
    duration_s: float
    model_id: str
    latency_ms: float


class BatchItem(BaseModel):
    filename: str | None = None
    emotion: str | None = None
    probabilities: dict[str, float] | None = None
    atypicality: float | None = None
    atypical: bool | None = None
    duration_s: float | None = None
    error: str | None = None
    detail: str | None = None


class BatchPrediction(BaseModel):
    results: list[BatchItem]
    model_id: str
    latency_ms: float


def _error(status: int, error: str, detail: str, *, close: bool = False) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail},
                        headers={"connection": "close"} if close else None)


def _decode(payload: bytes, name: str, *, max_bytes: int,
            max_duration: float) -> tuple[np.ndarray, int]:
    """Bytes of an uploaded file -> (mono samples [shape=(n,)], rate), bounded."""
    if not payload:
        raise ServiceError(400, "empty_upload", f"{name}: empty file (0 bytes)")
    if len(payload) > max_bytes:
        raise ServiceError(413, "upload_too_large",
                           f"{name}: {len(payload)} bytes > limit {max_bytes}")
    try:
        data, sr = decode_audio(io.BytesIO(payload), name=name, max_duration=max_duration)
    except AudioError as exc:
        if exc.problem.startswith("too long"):
            raise ServiceError(413, "audio_too_long", str(exc)) from None
        raise ServiceError(415, "not_audio", str(exc)) from None
    if sr < MIN_SAMPLE_RATE:
        raise ServiceError(422, "unusable_audio", f"{name}: sample rate {sr} Hz < "
                                                  f"{MIN_SAMPLE_RATE} Hz")
    return data, sr


class _DeclaredBodyLimit:
    """Pure ASGI middleware: a request whose Content-Length is over its route's body limit
    is answered 413 (JSON) before any of the body is read.

    Bodies without a Content-Length (chunked) are counted as they arrive by each route's
    ``max_body_size`` (Starlette's ``RequestBodyLimitMiddleware``).
    """

    def __init__(self, app, *, limits: dict[str, int], default: int) -> None:
        self.app, self.limits, self.default = app, limits, default

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            limit = self.limits.get(scope["path"].rstrip("/"), self.default)
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > limit:
                response = _error(413, "upload_too_large", f"request body {int(length)} "
                                                           f"bytes > limit {limit} bytes")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _audio_error(exc: AudioError) -> ServiceError:
    if exc.problem.startswith("too long"):
        return ServiceError(413, "audio_too_long", str(exc))
    return ServiceError(422, "unusable_audio", str(exc))


def _positive(value, name: str, *, integer: bool = False):
    kind = int if integer else (int, float)
    if (isinstance(value, bool) or not isinstance(value, kind)
            or not math.isfinite(value) or value <= 0):
        raise ParameterError(f"{name} must be a positive {'integer' if integer else 'number'}"
                             f", got {value!r}")
    return value


def create_app(recognizer, *, max_upload_bytes: int = 10_000_000,
               max_duration_s: float = 30.0, max_batch: int = 32,
               max_concurrent_decodes: int = 2) -> FastAPI:
    """The FastAPI application serving ``recognizer``.

    Parameters
    ----------
    recognizer : EmotionRecognizer
    max_upload_bytes : int
        Per file; a request body may hold one file (``/predict``; a ``neutral_ref`` model's,
        with its reference files, ``max_batch``) or ``max_batch`` files, plus 64 KiB of
        form overhead. Counted as the body arrives: a larger body, chunked
        or not, is refused with 413 at the cap and the connection closed.
    max_duration_s : float
        Longer audio is refused with 413, from the file's header when it gives the length,
        else as soon as decoding passes the limit. The recogniser's own limit is not used.
    max_batch : int
        Most files in one request, reference files included.
    max_concurrent_decodes : int
        Requests decoding and extracting features at a time; others wait their turn. Peak
        memory is about ``max_concurrent_decodes`` times that of one request at the limits.
    """
    _positive(max_upload_bytes, "max_upload_bytes", integer=True)
    _positive(max_duration_s, "max_duration_s")
    _positive(max_batch, "max_batch", integer=True)
    _positive(max_concurrent_decodes, "max_concurrent_decodes", integer=True)
    body_overhead = 65536  # multipart boundaries and part headers
    neutral_ref = recognizer.normalization == "neutral_ref"
    per_predict = max_batch if neutral_ref else 1  # the clip and its reference files
    body_limits = {"/predict": max_upload_bytes * per_predict + body_overhead,
                   "/predict/batch": max_upload_bytes * max_batch + body_overhead}
    app = FastAPI(title="ser_classic emotion recognition",
                  version=str(recognizer.card.get("libraries", {}).get("ser_classic")),
                  description=f"Model {recognizer.model_id} "
                              f"(normalization {recognizer.normalization})")
    app.add_middleware(_DeclaredBodyLimit, limits=body_limits, default=body_overhead)
    lock = threading.Lock()  # one inference at a time: BLAS thread limits are global
    decodes = threading.BoundedSemaphore(max_concurrent_decodes)
    classes = [str(c) for c in recognizer.classes_]
    speaker_normalised = recognizer.normalization == "speaker_norm"

    @app.exception_handler(ServiceError)
    async def service_error(_request, exc: ServiceError):
        return _error(exc.status, exc.error, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, exc: RequestValidationError):
        fields = [".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg"))
                  for e in exc.errors()]
        return _error(422, "invalid_request", "; ".join(fields) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        limit = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
        if exc.status_code == 413 and limit is not None:
            # the body limiter stopped reading at the cap: close rather than drain the rest
            return _error(413, "upload_too_large", f"request body > limit {limit} bytes "
                                                   f"(reading stopped at the limit)",
                          close=True)
        return _error(exc.status_code, "http_error", str(exc.detail))

    def _waveform(data: np.ndarray, sr: int, name: str) -> np.ndarray:
        try:
            y = check_waveform(data, sr, source=name, max_duration=max_duration_s)
            return resample(y, orig_sr=sr, target_sr=rate)
        except AudioError as exc:
            raise _audio_error(exc) from None
        except (ValueError, RuntimeError) as exc:  # e.g. a rate the resampler refuses
            raise ServiceError(422, "unusable_audio", f"{name}: {exc}") from None

    def _read(upload: UploadFile) -> tuple[np.ndarray, str]:
        name = upload.filename or "upload"
        payload = upload.file.read(max_upload_bytes + 1)
        data, sr = _decode(payload, name, max_bytes=max_upload_bytes,
                           max_duration=max_duration_s)
        del payload
        return _waveform(data, sr, name), name

    def _infer(waveforms: list[np.ndarray], speaker=None, groups=None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (of ``groups`` when given) and atypicality of the clips."""
        with lock:
            X = np.stack([recognizer.clip_features(y) for y in waveforms])
            try:
                return recognizer.proba_from_features(X, speaker=speaker, groups=groups,
                                                      return_atypicality=True)
            except ParameterError as exc:
                raise ServiceError(422, "speaker_statistics_required", str(exc)) from None

    def _atypicality(value: float) -> dict:
        """The ``atypicality`` / ``atypical`` fields of one clip (null: no statistics)."""
        if not np.isfinite(value):
            return {"atypicality": None, "atypical": False}
        return {"atypicality": float(value),
                "atypical": bool(recognizer.atypical(np.array([value]))[0])}

    def _subset(text: str | None, groups: Grouping | None = None
                ) -> tuple[np.ndarray | None, list[str]]:
        """Columns and names of ``?classes=`` (or the names of ``?groups=``); refused (422)
        before any audio is read."""
        if groups is not None:
            if text is not None:
                raise ServiceError(422, "classes_and_groups",
                                   "send classes or groups, not both")
            try:
                return None, list(resolve_groups(groups, recognizer.classes_)[0])
            except ParameterError as exc:
                raise ServiceError(422, "unknown_groups", str(exc)) from None
        if text is None:
            return None, classes
        try:
            columns, names = recognizer._class_subset([c.strip() for c in text.split(",")])
        except ParameterError as exc:
            raise ServiceError(422, "unknown_classes", str(exc)) from None
        return columns, list(names)

    def _check_statistics_request(speaker_norm: bool, reference, *,
                                  one_clip: bool = False) -> None:
        """Refuse a request whose speaker statistics (``speaker_norm``, ``reference``
        files) the model cannot use or lacks, before reading any audio (one clip cannot
        give a speaker's statistics)."""
        if neutral_ref and len(reference or ()) < 2:
            raise ServiceError(
                422, "reference_required",
                f"model {recognizer.model_id} is normalised by a neutral reference: send "
                f"at least 2 neutral clips of the voice as reference files")
        if reference and not neutral_ref:
            raise ServiceError(
                422, "reference_not_supported",
                f"model {recognizer.model_id} is {recognizer.normalization}, not "
                f"neutral_ref: send the request without reference files")
        if neutral_ref and speaker_norm:
            raise ServiceError(
                422, "speaker_norm_not_supported",
                f"model {recognizer.model_id} is normalised by a neutral reference, never "
                f"by the clips being scored: send reference files, not speaker_norm=true")
        if speaker_normalised and (one_clip or not speaker_norm):
            raise ServiceError(
                422, "speaker_statistics_required",
                f"model {recognizer.model_id} is speaker-normalised: send at least 2 clips "
                f"of one speaker to /predict/batch?speaker_norm=true")
        if recognizer.normalization == "strict" and speaker_norm:
            raise ServiceError(
                422, "speaker_norm_not_supported",
                f"model {recognizer.model_id} is not speaker-normalised (strict): send the "
                f"request without speaker_norm=true")

    def _check_batch_size(n_files: int) -> None:
        if n_files > max_batch:
            raise ServiceError(413, "batch_too_large", f"{n_files} files > {max_batch} "
                                                       f"(reference files included)")

    def _enrolled(reference: list[UploadFile]):
        """The voice's statistics from its reference files; one that cannot be used fails
        the request (422), naming it."""
        from .recognizer import SpeakerStats

        waves = []
        for upload in reference:
            try:
                waves.append(_read(upload)[0])
            except ServiceError as exc:
                raise ServiceError(exc.status, exc.error, f"reference {exc.detail}") from None
        with lock:
            return SpeakerStats.from_features(
                np.stack([recognizer.clip_features(y) for y in waves]))

    rate = recognizer.feature_config.sample_rate

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model_id": recognizer.model_id}

    @app.get("/model")
    def model() -> dict:
        return recognizer.card

    @app.post("/predict", response_model=Prediction,
              max_body_size=body_limits["/predict"])
    def predict(file: Annotated[UploadFile, File(description="an audio file (WAV/FLAC)")],
                reference: _Reference = None, speaker_norm: _SpeakerNorm = False,
                classes: _Classes = None, groups: _Groups = None):
        start = time.perf_counter()
        columns, names = _subset(classes, groups)
        _check_statistics_request(speaker_norm, reference, one_clip=True)
        _check_batch_size(1 + len(reference or ()))
        with decodes:
            speaker = _enrolled(reference) if neutral_ref else None
            y, name = _read(file)
            proba, atypicality = _infer([y], speaker=speaker, groups=groups)
            proba = _restrict(proba, columns)[0]
        return Prediction(filename=name, emotion=names[int(np.argmax(proba))],
                          probabilities=dict(zip(names, map(float, proba), strict=True)),
                          **_atypicality(atypicality[0]),
                          duration_s=y.size / rate, model_id=recognizer.model_id,
                          latency_ms=(time.perf_counter() - start) * 1000)

    @app.post("/predict/batch", response_model=BatchPrediction,
              max_body_size=body_limits["/predict/batch"])
    def predict_batch(files: Annotated[list[UploadFile], File(description="audio files")],
                      reference: _Reference = None, speaker_norm: _SpeakerNorm = False,
                      classes: _Classes = None, groups: _Groups = None):
        start = time.perf_counter()
        columns, names = _subset(classes, groups)
        _check_statistics_request(speaker_norm, reference)
        _check_batch_size(len(files) + len(reference or ()))
        items: list[BatchItem] = []
        good, waves = [], []
        with decodes:
            speaker = (_enrolled(reference) if neutral_ref
                       else "batch" if speaker_norm else None)
            for upload in files:
                try:
                    y, name = _read(upload)
                except ServiceError as exc:
                    items.append(BatchItem(filename=upload.filename, error=exc.error,
                                           detail=exc.detail))
                    continue
                good.append(len(items))
                items.append(BatchItem(filename=name, duration_s=y.size / rate))
                waves.append(y)
            if speaker_norm and len(waves) < 2:
                raise ServiceError(422, "speaker_statistics_required",
                                   f"speaker_norm=true needs at least 2 usable clips of "
                                   f"the speaker, got {len(waves)}")
            proba, atypicality = (_infer(waves, speaker=speaker, groups=groups) if waves
                                  else ([], []))
            proba = _restrict(proba, columns) if waves else []
        for i, p, a in zip(good, proba, atypicality, strict=True):
            items[i].emotion = names[int(np.argmax(p))]
            items[i].probabilities = dict(zip(names, map(float, p), strict=True))
            for field, value in _atypicality(a).items():
                setattr(items[i], field, value)
        return BatchPrediction(results=items, model_id=recognizer.model_id,
                               latency_ms=(time.perf_counter() - start) * 1000)

    return app


def _stall_protocol(header_timeout_s: float, body_timeout_s: float) -> type:
    """uvicorn's h11 protocol, dropping clients that stall on their request.

    uvicorn times out idle keep-alive connections only; this also closes a connection whose
    request line and headers are not complete ``header_timeout_s`` after the connection (or
    the request's first byte), and one whose body receives nothing for ``body_timeout_s``
    (answered 408 when no response has started).
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class StallTimeoutProtocol(H11Protocol):
        _stall_timer = None
        _stall_phase = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._watch(progress=False)

        def connection_lost(self, exc) -> None:
            self._set_timer(None)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch(progress=True)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch(progress=False)

        def _set_timer(self, phase, delay: float = 0.0) -> None:
            if self._stall_timer is not None:
                self._stall_timer.cancel()
            self._stall_timer = None if phase is None else self.loop.call_later(
                delay, self._stalled)
            self._stall_phase = phase

        def _watch(self, *, progress: bool) -> None:
            state = self.conn.their_state
            if self.transport.is_closing():
                self._set_timer(None)
            elif state is h11.IDLE and self.timeout_keep_alive_task is None:
                if self._stall_phase != "headers":  # a deadline: more bytes do not reset it
                    self._set_timer("headers", header_timeout_s)
            elif state is h11.SEND_BODY:
                if progress or self._stall_phase != "body":  # the longest gap between reads
                    self._set_timer("body", body_timeout_s)
            else:  # idle keep-alive (uvicorn's timer) or the request is all in
                self._set_timer(None)

        def _stalled(self) -> None:
            phase, self._stall_timer = self._stall_phase, None
            if self.transport.is_closing():
                return
            if phase == "body" and self.flow.read_paused:  # we are slow, not the client
                self._set_timer("body", body_timeout_s)
                return
            self.logger.info("%s:%s - dropped: request %s not received in time",
                             *(self.client or ("?", "?")), phase)
            if phase == "body" and self.cycle is not None and not self.cycle.response_started:
                self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n"
                                     b"connection: close\r\n\r\n")
            self.transport.close()

    return StallTimeoutProtocol


def server_config(app, *, host: str = "127.0.0.1", port: int = 8000,
                  header_timeout_s: float = 10.0, body_timeout_s: float = 15.0,
                  keep_alive_s: float = 5.0, **kwargs):
    """A ``uvicorn.Config`` serving ``app`` that drops stalled clients.

    Parameters
    ----------
    app : ASGI application (:func:`create_app`)
    host, port : str, int
    header_timeout_s : float
        Longest time from a connection (or a keep-alive request's first byte) to the end of
        the request's headers.
    body_timeout_s : float
        Longest wait for the next bytes of a request body.
    keep_alive_s : float
        Longest wait for the next request on an idle keep-alive connection.
    **kwargs
        Further ``uvicorn.Config`` parameters (``log_level``, ``limit_concurrency``...).

    Returns
    -------
    config : uvicorn.Config
        Run it with ``uvicorn.Server(config).run()``.
    """
    import uvicorn

    for value, name in ((header_timeout_s, "header_timeout_s"),
                        (body_timeout_s, "body_timeout_s"), (keep_alive_s, "keep_alive_s")):
        _positive(value, name)
    return uvicorn.Config(app, host=host, port=port, timeout_keep_alive=keep_alive_s,
                          http=_stall_protocol(header_timeout_s, body_timeout_s), **kwargs)
