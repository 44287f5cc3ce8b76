"""Corpora, audio loading and the manifest.

Parsers turn the corpora's own file names into labelled records; ``build_manifest`` adds
audio facts (duration, rate, channels, sha256); ``add_recordings`` merges new recordings
into an existing manifest. Every bad input raises :class:`AudioError` naming the file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from .errors import AudioError, ParameterError

__all__ = [
    "AUDIO_SUFFIXES",
    "EMOTIONS",
    "MANIFEST_COLUMNS",
    "AddReport",
    "add_recordings",
    "atomic_write_bytes",
    "build_manifest",
    "check_waveform",
    "file_sha256",
    "load_audio",
    "load_manifest",
    "parse_ravdess_name",
    "parse_tess_name",
    "read_labelled_csv",
    "save_manifest",
    "scan_corpus",
    "scan_ravdess",
    "scan_tess",
]

EMOTIONS: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised",
)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MANIFEST_COLUMNS = (
    "path", "corpus", "speaker", "gender", "emotion", "intensity", "statement",
    "repetition", "duration_s", "sample_rate", "channels", "sha256",
)

# Aliases accepted for labels of other corpora and of user CSVs.
_EMOTION_ALIASES = {
    "neutral": "neutral", "calm": "calm", "happy": "happy", "happiness": "happy",
    "joy": "happy", "sad": "sad", "sadness": "sad", "angry": "angry", "anger": "angry",
    "fear": "fearful", "fearful": "fearful", "disgust": "disgust", "disgusted": "disgust",
    "surprise": "surprised", "surprised": "surprised", "ps": "surprised",
}

_RAVDESS_FIELDS = ("modality", "vocal_channel", "emotion", "intensity", "statement",
                   "repetition", "actor")

MIN_DURATION_S = 0.1
MAX_DURATION_S = 60.0
SILENCE_PEAK = 1e-4


def canonical_emotion(label: str, *, source: object = "label") -> str:
    """Map a label (or alias such as TESS ``ps``) to the canonical emotion set."""
    key = str(label).strip().lower()
    if key not in _EMOTION_ALIASES:
        raise AudioError(source, f"unknown emotion label {label!r}; expected one of "
                                 f"{', '.join(EMOTIONS)}")
    return _EMOTION_ALIASES[key]


# --------------------------------------------------------------------------- names
def parse_ravdess_name(path: str | os.PathLike) -> dict:
    """Parse ``MM-VV-EE-II-SS-RR-AA.ext`` (any rate, .wav or .flac, speech or song).

    Returns a dict with corpus, speaker, gender, emotion, intensity, statement, repetition
    and vocal_channel. Raises :class:`AudioError` on any malformed field.
    """
    path = Path(path)
    parts = path.stem.split("-")
    if len(parts) != 7 or not all(len(p) == 2 and p.isdigit() for p in parts):
        raise AudioError(path, "not a RAVDESS name: expected 7 two-digit fields "
                               "MM-VV-EE-II-SS-RR-AA")
    f = dict(zip(_RAVDESS_FIELDS, (int(p) for p in parts), strict=True))
    checks = {
        "modality": f["modality"] in (1, 2, 3), "vocal_channel": f["vocal_channel"] in (1, 2),
        "emotion": 1 <= f["emotion"] <= 8, "intensity": f["intensity"] in (1, 2),
        "statement": f["statement"] in (1, 2), "repetition": f["repetition"] in (1, 2),
        "actor": 1 <= f["actor"] <= 24,
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise AudioError(path, "RAVDESS name has invalid field(s): "
                         + ", ".join(f"{k}={f[k]:02d}" for k in bad))
    if f["emotion"] == 1 and f["intensity"] == 2:
        raise AudioError(path, "RAVDESS name has strong intensity for neutral")
    return {
        "corpus": "ravdess",
        "speaker": f"ravdess_{f['actor']:02d}",
        "gender": "male" if f["actor"] % 2 else "female",
        "emotion": EMOTIONS[f["emotion"] - 1],
        "intensity": "normal" if f["intensity"] == 1 else "strong",
        "statement": f["statement"],
        "repetition": f["repetition"],
        "vocal_channel": "speech" if f["vocal_channel"] == 1 else "song",
    }


def parse_tess_name(path: str | os.PathLike) -> dict:
    """Parse ``<SPK>_<word>_<emotion>.ext`` of TESS (``ps`` -> surprised)."""
    path = Path(path)
    parts = path.stem.split("_")
    if len(parts) != 3 or not all(parts):
        raise AudioError(path, "not a TESS name: expected <speaker>_<word>_<emotion>")
    spk, word, emo = parts
    spk = spk.upper()
    if spk == "OA":  # one file of the original release is named OA_bite_neutral
        spk = "OAF"
    if spk not in ("OAF", "YAF"):
        raise AudioError(path, f"TESS speaker {spk!r} is not OAF or YAF")
    return {
        "corpus": "tess", "speaker": f"tess_{spk}", "gender": "female",
        "emotion": canonical_emotion(emo, source=path), "intensity": None,
        "statement": word.lower(), "repetition": None,
    }


def _audio_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise ParameterError(f"corpus folder not found: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def scan_ravdess(root: str | os.PathLike, *, speech_only: bool = True) -> list[dict]:
    """Records of every RAVDESS file under ``root`` (speech only by default)."""
    records = []
    for p in _audio_files(Path(root)):
        rec = parse_ravdess_name(p)
        if speech_only and rec["vocal_channel"] != "speech":
            continue
        del rec["vocal_channel"]
        records.append({"path": str(p), **rec})
    return records


def scan_tess(root: str | os.PathLike) -> list[dict]:
    """Records of every TESS file under ``root``."""
    return [{"path": str(p), **parse_tess_name(p)} for p in _audio_files(Path(root))]


def read_labelled_csv(csv_path: str | os.PathLike, *, corpus: str = "custom") -> list[dict]:
    """Records from a CSV with columns ``path, label[, speaker]`` (paths relative to it).

    Unknown labels raise :class:`AudioError` naming the row's file.
    """
    csv_path = Path(csv_path)
    table = pd.read_csv(csv_path, dtype=str)
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise ParameterError(f"{csv_path}: missing column(s) {sorted(missing)}")
    records = []
    for row in table.itertuples(index=False):
        path = Path(row.path)
        if not path.is_absolute():
            path = csv_path.parent / path
        speaker = getattr(row, "speaker", None)
        speaker = None if pd.isna(speaker) else str(speaker)
        records.append({
            "path": str(path), "corpus": corpus,
            "speaker": f"{corpus}_{speaker}" if speaker else None,
            "gender": getattr(row, "gender", None) if "gender" in table.columns else None,
            "emotion": canonical_emotion(row.label, source=path),
            "intensity": None, "statement": None, "repetition": None,
        })
    return records


def scan_corpus(root: str | os.PathLike) -> list[dict]:
    """Records of a corpus folder: RAVDESS or TESS by layout, else ``labels.csv`` inside."""
    root = Path(root)
    if (root / "labels.csv").is_file():
        return read_labelled_csv(root / "labels.csv", corpus=root.name)
    if any(root.glob("Actor_*")):
        return scan_ravdess(root)
    if any(root.glob("*AF_*")):
        return scan_tess(root)
    raise ParameterError(f"{root}: not a RAVDESS or TESS folder and no labels.csv inside")


# --------------------------------------------------------------------------- audio
def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")


def _audio_info(path: Path) -> sf._SoundFileInfo:
    _check_file(path)
    try:
        return sf.info(str(path))
    except Exception as exc:  # libsndfile's messages differ by format and version
        raise AudioError(path, f"not a readable audio file ({exc})") from None


def check_waveform(y: np.ndarray, sr: int, *, source: object = "waveform",
                   min_duration: float = MIN_DURATION_S,
                   max_duration: float = MAX_DURATION_S) -> np.ndarray:
    """Validate a mono or (n, channels) waveform; return it as mono float32.

    Raises :class:`AudioError` for empty, non-finite, silent, too short or too long audio.
    """
    y = np.asarray(y)
    if not isinstance(sr, int | np.integer) or sr <= 0:
        raise AudioError(source, f"invalid sample rate {sr!r}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2:
        y = y.mean(axis=1) if y.shape[1] <= 8 else y.mean(axis=0)
    if y.ndim != 1:
        raise AudioError(source, f"waveform must be 1-D or 2-D, got shape {y.shape}")
    if y.size == 0:
        raise AudioError(source, "no audio samples")
    y = y.astype(np.float32, copy=False)
    top, bottom = float(y.max()), float(y.min())  # NaN and inf reach the extremes
    if not (np.isfinite(top) and np.isfinite(bottom)):
        raise AudioError(source, "waveform contains NaN or infinite samples")
    duration = y.size / sr
    if duration < min_duration:
        raise AudioError(source, f"too short: {duration * 1000:.0f} ms < "
                                 f"{min_duration * 1000:.0f} ms")
    if duration > max_duration:
        raise AudioError(source, f"too long: {duration:.1f} s > {max_duration:.1f} s")
    if max(top, -bottom) < SILENCE_PEAK:
        raise AudioError(source, "silent: peak amplitude below 1e-4")
    return y


def load_audio(path: str | os.PathLike, *, sr: int = 16000,
               min_duration: float = MIN_DURATION_S,
               max_duration: float = MAX_DURATION_S) -> np.ndarray:
    """Read any-rate WAV/FLAC/OGG, mix to mono, resample to ``sr``.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
    """
    path = Path(path)
    _check_file(path)
    try:
        audio = sf.SoundFile(str(path))
    except Exception as exc:  # libsndfile's messages differ by format and version
        raise AudioError(path, f"not a readable audio file ({exc})") from None
    with audio:
        try:
            data, native_sr = audio.read(dtype="float32", always_2d=True), audio.samplerate
        except Exception as exc:
            raise AudioError(path, f"cannot decode audio ({exc})") from None
    y = check_waveform(data, int(native_sr), source=path, min_duration=min_duration,
                       max_duration=max_duration)
    return resample(y, orig_sr=int(native_sr), target_sr=sr)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono waveform (soxr high quality); no-op when the rates match."""
    if orig_sr == target_sr:
        return y
    import soxr

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


# --------------------------------------------------------------------------- manifest
def _describe(record: dict) -> dict:
    path = Path(record["path"])
    info = _audio_info(path)
    if info.frames == 0:
        raise AudioError(path, "no audio frames")
    return {**record, "duration_s": info.frames / info.samplerate,
            "sample_rate": int(info.samplerate), "channels": int(info.channels),
            "sha256": file_sha256(path)}


def build_manifest(records: Iterable[dict], *, errors: list | None = None) -> pd.DataFrame:
    """A manifest DataFrame (columns ``MANIFEST_COLUMNS``) from parsed records.

    A file that cannot be read is appended to ``errors`` as ``(path, message)`` and
    skipped when ``errors`` is a list; otherwise its :class:`AudioError` is raised.
    """
    rows = []
    for rec in records:
        try:
            rows.append(_describe(rec))
        except AudioError as exc:
            if errors is None:
                raise
            errors.append((exc.source, exc.problem))
    return _manifest_frame(rows)


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_manifest(manifest: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a manifest as CSV, atomically."""
    atomic_write_bytes(path, manifest.to_csv(index=False).encode())


def load_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest written by :func:`save_manifest`."""
    frame = pd.read_csv(path, dtype={"statement": "string", "speaker": "string",
                                     "gender": "string", "intensity": "string"})
    missing = set(MANIFEST_COLUMNS) - set(frame.columns)
    if missing:
        raise ParameterError(f"{path}: not a manifest, missing {sorted(missing)}")
    return frame.astype({"repetition": "Int64"})


@dataclass
class AddReport:
    """What :func:`add_recordings` did."""

    added: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (new, existing)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)


def add_recordings(manifest: pd.DataFrame, records: Sequence[dict], *,
                   check_audio: bool = True) -> tuple[pd.DataFrame, AddReport]:
    """Merge new labelled recordings into ``manifest``.

    Content duplicates (same sha256 as a manifest row or an earlier new file) are skipped
    and reported; unreadable files are reported and skipped; speakers are kept.
    """
    report = AddReport()
    seen = dict(zip(manifest["sha256"], manifest["path"], strict=True))
    new_rows = []
    for rec in records:
        try:
            row = _describe(rec)
            if check_audio:
                load_audio(row["path"])
        except AudioError as exc:
            report.errors.append((exc.source, exc.problem))
            continue
        if row["sha256"] in seen:
            report.duplicates.append((row["path"], seen[row["sha256"]]))
            continue
        if not row.get("speaker"):
            row["speaker"] = f"{row['corpus']}_unknown"
        seen[row["sha256"]] = row["path"]
        new_rows.append(row)
        report.added.append(row["path"])
    if not new_rows:
        return manifest.copy(), report
    merged = pd.concat([manifest, _manifest_frame(new_rows)], ignore_index=True)
    return merged, report


def _manifest_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    return frame.astype({"statement": "string", "repetition": "Int64",
                         "intensity": "string", "gender": "string"})
