"""openSMILE functionals as a comparison feature extractor (optional ``bench`` extra).

The feature sets are an :class:`~enum.Enum` (as in opensmile-python); audio is read with
:func:`ser_classic.data.load_audio` (any rate, mono, resampled to ``sample_rate``) and
handed to ``opensmile.Smile.process_signal``, so every corpus and rate we read works.
Batch extraction has the contract of :func:`ser_classic.features.extract_batch`: failing
files give NaN rows and ``(path, problem)`` errors; results are cached on disk under a key
of (file sha256, feature set, opensmile version, sample rate, trim).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np

from .augment import trim_silence
from .data import channel_cache_tag, corpus_channel, file_sha256, load_audio
from .errors import AudioError, ParameterError
from .features import _cache_path, _read_npy, _save_npy, run_batch

__all__ = [
    "SmileFeatureSet",
    "extract_smile_batch",
    "smile_cache_tag",
    "smile_feature_names",
    "smile_features",
]

_SMILE_CACHE_VERSION = 1  # bump when this module changes what it stores


class SmileFeatureSet(enum.Enum):
    """openSMILE feature sets supported here (functionals level)."""

    eGeMAPSv02 = "eGeMAPSv02"
    ComParE_2016 = "ComParE_2016"


def _import_opensmile():
    try:
        import opensmile
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "openSMILE features need the optional package 'opensmile': "
            "pip install 'ser_classic[bench]' (or pip install opensmile)") from None
    return opensmile


def _as_feature_set(feature_set: SmileFeatureSet | str) -> SmileFeatureSet:
    try:
        return SmileFeatureSet(feature_set)
    except ValueError:
        options = ", ".join(f.value for f in SmileFeatureSet)
        raise ParameterError(f"unknown openSMILE feature set {feature_set!r}; "
                             f"expected one of {options}") from None


@functools.lru_cache(maxsize=4)
def _smile(feature_set: SmileFeatureSet):
    """One ``opensmile.Smile`` per feature set and process (building it parses a config)."""
    opensmile = _import_opensmile()
    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set.value),
                           feature_level=opensmile.FeatureLevel.Functionals)


def smile_feature_names(feature_set: SmileFeatureSet | str) -> list[str]:
    """Names of the functionals of ``feature_set``, in column order (88 or 6373)."""
    return list(_smile(_as_feature_set(feature_set)).feature_names)


def smile_cache_tag(feature_set: SmileFeatureSet | str, *, sample_rate: int = 16000,
                    trim_top_db: float | None = None) -> str:
    """The part of the cache key that is not the file: set, opensmile version, rate, trim."""
    opensmile = _import_opensmile()
    fs = _as_feature_set(feature_set)
    return (f"opensmile-{opensmile.__version__}|{fs.value}|func|sr{sample_rate}"
            f"|trim{trim_top_db}|v{_SMILE_CACHE_VERSION}")


def smile_features(y: np.ndarray, *, feature_set: SmileFeatureSet | str,
                   sample_rate: int = 16000, source: object = "waveform") -> np.ndarray:
    """openSMILE functionals of one mono waveform.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono waveform at ``sample_rate``.
    feature_set : SmileFeatureSet or str
    sample_rate : int
    source : object
        Names the input in errors.

    Returns
    -------
    x : np.ndarray [shape=(n_features,), dtype=float64]

    Raises
    ------
    AudioError
        openSMILE failed on the signal or returned non-finite values.
    """
    smile = _smile(_as_feature_set(feature_set))
    try:
        frame = smile.process_signal(np.asarray(y, dtype=np.float32), sample_rate)
    except Exception as exc:  # opensmile raises plain RuntimeError/ValueError
        raise AudioError(source, f"openSMILE failed ({exc})") from None
    x = frame.to_numpy(dtype=np.float64).reshape(-1)
    if x.size != len(smile.feature_names) or not np.all(np.isfinite(x)):
        raise AudioError(source, "openSMILE returned missing or non-finite values")
    return x


def _one(path: str, sha: str | None, feature_set: SmileFeatureSet, tag: str,
         sample_rate: int, trim_top_db: float | None, cache_dir: Path | None,
         n_features: int):
    try:
        key, repaired = None, None
        channel = corpus_channel(path)  # the corpus's channel policy (EMOVO: 0)
        if cache_dir is not None:
            sha = sha or file_sha256(path)
            channel_tag = channel_cache_tag(path, channel)  # None for one-channel files
            key = hashlib.sha256(f"{sha}|{tag}".encode() if channel_tag is None
                                 else f"{sha}|{tag}|{channel_tag}".encode()).hexdigest()
            cached = _cache_path(cache_dir, key)
            if cached.is_file():
                x, problem = _read_npy(cached, n_features=n_features)
                if x is not None:
                    return x, None, False, None
                repaired = (str(cached), problem)
        y = load_audio(path, sr=sample_rate, channel=channel)
        if trim_top_db is not None:
            y = trim_silence(y, top_db=trim_top_db, hop_length=160)
        x = smile_features(y, feature_set=feature_set, sample_rate=sample_rate, source=path)
        if key is not None:
            _save_npy(_cache_path(cache_dir, key), x)
        return x, None, True, repaired
    except AudioError as exc:
        return None, (exc.source, exc.problem), False, None


def extract_smile_batch(paths: Sequence[str | os.PathLike], *,
                        feature_set: SmileFeatureSet | str,
                        sha256: Sequence[str] | None = None,
                        cache_dir: str | os.PathLike | None = None,
                        sample_rate: int = 16000, trim_top_db: float | None = None,
                        n_jobs: int | None = None, progress: bool = False
                        ) -> tuple[np.ndarray, list[tuple[str, str]], int]:
    """openSMILE functionals of many files, in parallel, through an on-disk cache.

    Same contract as :func:`ser_classic.features.extract_batch`. The cache key is
    sha256(file sha256 | :func:`smile_cache_tag`), so another feature set, opensmile
    version, rate or trim misses.

    Parameters
    ----------
    paths : sequence of path-like
    feature_set : SmileFeatureSet or str
    sha256 : sequence of str, optional
        File hashes (e.g. the manifest's); computed when missing and a cache is used.
    cache_dir : path-like, optional
    sample_rate : int
        Audio is resampled to this rate before openSMILE.
    trim_top_db : float or None
        Trim leading/trailing silence quieter than this below the peak (None: no trim).
    n_jobs : int, optional
        Files at a time on the active joblib backend (see
        :func:`ser_classic.features.extract_batch`).
    progress : bool

    Returns
    -------
    X : np.ndarray [shape=(n_files, n_features)]
        Rows of files that failed are NaN.
    errors : list of (path, problem)
    n_extracted : int
        How many files were computed rather than read from the cache.
    """
    fs = _as_feature_set(feature_set)
    paths = [str(p) for p in paths]
    shas = list(sha256) if sha256 is not None else [None] * len(paths)
    if len(shas) != len(paths):
        raise ParameterError("sha256 must have one entry per path")
    tag = smile_cache_tag(fs, sample_rate=sample_rate, trim_top_db=trim_top_db)
    n_features = len(smile_feature_names(fs))
    cache = Path(cache_dir) if cache_dir is not None else None
    jobs = [joblib.delayed(_one)(p, s, fs, tag, sample_rate, trim_top_db, cache, n_features)
            for p, s in zip(paths, shas, strict=True)]
    return run_batch(jobs, n_features=n_features, n_jobs=n_jobs, progress=progress,
                     desc=f"openSMILE {fs.value}")
