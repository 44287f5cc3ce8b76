"""Shared fixtures: the real corpora (small subsets) and generated audio files."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_classic import data

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SER_CLASSIC_DATA", ROOT.parent / "shared" / "data"))
RAVDESS = DATA / "ravdess"
TESS = DATA / "tess"
# Features are keyed by (file sha256, config hash): sharing the project's cache is safe.
FEATURE_CACHE = Path(os.environ.get("SER_CLASSIC_CACHE", ROOT / ".cache" / "features"))


def experiment(name: str):
    """The script ``experiments/<name>.py`` as a module (it is not a package); its sibling
    scripts import as they do when it runs (its folder on ``sys.path``)."""
    if str(ROOT / "experiments") not in sys.path:
        sys.path.append(str(ROOT / "experiments"))
    spec = importlib.util.spec_from_file_location(name, ROOT / f"experiments/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fixed_model_summary(variants: dict[str, tuple[float, float]]) -> dict:
    """A fixed-model ablation's summary (``loco_variants.measure``'s): the baseline's LOCO
    mean 0.40 and each variant's ``(strict, speaker_norm)`` LOCO mean (every corpus at it),
    every group6 accuracy 0.6."""
    def rows(norm, i):
        return [{"normalization": norm, "variant": v, "loco mean": m, "group6 ridge": 0.6,
                 "group6 logreg": 0.6, **{f"loco {c}": m for c in
                                          ("emovo", "ravdess", "tess")}}
                for v, m in [("baseline", 0.40)] + [(v, m[i]) for v, m in variants.items()]]

    return {"command": "c", "seconds": 1.0,
            "results": rows("strict", 0) + rows("speaker_norm", 1)}


def added_columns_summary(added: str, alone: str, *, strict: float, speaker_norm: float
                          ) -> dict:
    """:func:`fixed_model_summary` of a new column family (``loco_variants.added_columns``):
    ``added`` at ``strict`` / ``speaker_norm``, ``alone`` at 0.2."""
    return fixed_model_summary({added: (strict, speaker_norm), alone: (0.2, 0.2)})


def pytest_sessionstart(session):
    if not RAVDESS.is_dir() or not TESS.is_dir():
        raise pytest.UsageError(f"the real corpora are needed at {DATA} (see data/README.md)")


@pytest.fixture(scope="session")
def ravdess_manifest() -> pd.DataFrame:
    return data.build_manifest(data.scan_ravdess(RAVDESS))


@pytest.fixture(scope="session")
def tess_manifest() -> pd.DataFrame:
    return data.build_manifest(data.scan_tess(TESS))


@pytest.fixture(scope="session")
def small_manifest(ravdess_manifest) -> pd.DataFrame:
    """Four actors (two male, two female): 240 clips."""
    keep = ["ravdess_01", "ravdess_02", "ravdess_03", "ravdess_04"]
    return ravdess_manifest[ravdess_manifest["speaker"].isin(keep)].reset_index(drop=True)


@pytest.fixture(scope="session")
def feature_cache() -> Path:
    return FEATURE_CACHE


@pytest.fixture(scope="session")
def fold_corpora(small_manifest, feature_cache):
    """The four actors of ``small_manifest`` (calm left out) relabelled as the three
    corpora of a held-out-corpus A/B's folds, and their features: ``(rows, X)``."""
    from ser_classic.features import FeatureConfig, extract_batch

    rows = small_manifest[small_manifest["emotion"] != "calm"].reset_index(drop=True)
    rows["corpus"] = rows["speaker"].map({"ravdess_01": "emovo", "ravdess_02": "ravdess",
                                          "ravdess_03": "tess", "ravdess_04": "tess"})
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=FeatureConfig(),
                                 cache_dir=feature_cache)
    assert not errors
    return rows, X


SIX = [f"ravdess_{i:02d}" for i in range(1, 7)]  # the actors of the six fixture


@pytest.fixture(scope="module")
def six(ravdess_manifest, feature_cache):
    """RAVDESS actors 1-6 (360 clips): features, one distillation copy (masks), integer
    labels of ``EMOTIONS``."""
    from ser_classic.augment import AugmentConfig
    from ser_classic.cli import DISTILL_AUGMENT
    from ser_classic.data import EMOTIONS
    from ser_classic.features import FeatureConfig, extract_batch

    rows = ravdess_manifest[ravdess_manifest["speaker"].isin(SIX)].reset_index(drop=True)
    X, errors, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=FeatureConfig(),
                                 cache_dir=feature_cache)
    aug = AugmentConfig(**DISTILL_AUGMENT)
    Xa, _, _ = extract_batch(rows["path"], sha256=rows["sha256"], config=FeatureConfig(),
                             cache_dir=feature_cache, augment=aug, copy=0, seed=0)
    assert not errors
    y = rows["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()
    return rows, X, Xa, y


def speechlike(sr: int, seconds: float, *, f0: float = 180.0, seed: int = 0) -> np.ndarray:
    """A voiced, vibrato, harmonic signal with a little noise, in [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(np.pi * t / seconds), 0, None)
    y = y * envelope + 0.01 * rng.standard_normal(t.size)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


@pytest.fixture
def audio_fixtures(tmp_path) -> dict[str, Path]:
    """Generated files: good ones at several rates/formats and broken ones."""
    out = {}

    def write(name, y, sr, **kw):
        path = tmp_path / name
        sf.write(path, y, sr, **kw)
        out[name] = path

    write("03-01-05-02-01-01-07.wav", speechlike(48000, 1.5), 48000)
    write("03-01-03-01-02-02-08.wav", speechlike(44100, 1.2, f0=220), 44100)
    write("stereo.wav", np.stack([speechlike(22050, 1.0), speechlike(22050, 1.0, seed=1)],
                                 axis=1), 22050)
    write("eight_bit.wav", speechlike(16000, 1.0), 16000, subtype="PCM_U8")
    write("silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    write("ten_ms.wav", speechlike(16000, 0.01), 16000)
    (tmp_path / "empty.wav").write_bytes(b"")
    out["empty.wav"] = tmp_path / "empty.wav"
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 20)
    out["notes.wav"] = tmp_path / "notes.wav"
    good = (tmp_path / "03-01-05-02-01-01-07.wav").read_bytes()
    (tmp_path / "corrupt.wav").write_bytes(good[:44] + bytes(range(256)) * 3)
    out["corrupt.wav"] = tmp_path / "corrupt.wav"
    (tmp_path / "truncated_header.flac").write_bytes(b"fLaC\x00\x00")
    out["truncated_header.flac"] = tmp_path / "truncated_header.flac"
    return out
