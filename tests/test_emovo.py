"""EMOVO as a third corpus: names, the real folder, the label maps, the channel policy."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import soundfile as sf

from ser_classic import data
from ser_classic.cli import main
from ser_classic.errors import AudioError, ParameterError
from ser_classic.features import (
    FeatureConfig,
    _cache_path,
    extract_batch,
    extract_features,
)

from .conftest import DATA, RAVDESS, TESS, speechlike

EMOVO = DATA / "emovo"
CONFIG = FeatureConfig()
DELAY_S = 0.0004  # EMOVO's two microphones are about 0.4 ms apart


@pytest.fixture(scope="module")
def emovo_records() -> list[dict]:
    assert EMOVO.is_dir(), f"the EMOVO corpus is needed at {EMOVO} (see data/README.md)"
    return data.scan_emovo(EMOVO)


def _stereo_original(path, *, seconds: float = 1.5, sr: int = 48000) -> np.ndarray:
    """Write a 48 kHz 16-bit two-channel file like EMOVO's originals: channel 1 is channel
    0 about 0.4 ms later plus its own noise. Returns the samples as stored (16-bit)."""
    left = speechlike(sr, seconds, f0=210.0, seed=3)
    lag = round(DELAY_S * sr)
    right = np.concatenate([np.zeros(lag, np.float32), left[:-lag]])
    right = right + 0.01 * np.random.default_rng(4).standard_normal(right.size)
    stereo = np.stack([left, right], axis=1).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, stereo, sr, subtype="PCM_16")
    return sf.read(path, dtype="float32")[0]


# --------------------------------------------------------------------------- names
def test_parse_emovo_name_fields():
    rec = data.parse_emovo_name("f1/dis-f1-b1.flac")
    assert rec == {"corpus": "emovo", "speaker": "emovo_f1", "gender": "female",
                   "emotion": "disgust", "intensity": None, "statement": "b1",
                   "repetition": None}
    rec = data.parse_emovo_name("/x/m3/gio-m3-n5.wav")
    assert (rec["speaker"], rec["gender"], rec["emotion"], rec["statement"]) == (
        "emovo_m3", "male", "happy", "n5")
    expected = {"neu": "neutral", "gio": "happy", "tri": "sad", "rab": "angry",
                "pau": "fearful", "dis": "disgust", "sor": "surprised"}
    for code, emotion in expected.items():
        assert data.parse_emovo_name(f"{code}-m2-l4.wav")["emotion"] == emotion


@pytest.mark.parametrize("name, problem", [
    ("cal-f1-b1.wav", "emotion 'cal' not in neu, gio, tri, rab, pau, dis, sor"),
    ("neu-f4-b1.wav", "speaker 'f4' not in f1, f2, f3, m1, m2, m3"),
    ("neu-f1-b4.wav", "sentence 'b4' not in b1, b2, b3, d1"),
    ("xxx-x1-z9.flac", "emotion 'xxx'.*; speaker 'x1'.*; sentence 'z9'"),
    ("neu-f1.wav", "not an EMOVO name"),
    ("neu_f1_b1.wav", "not an EMOVO name"),
    ("neu--f1-b1.wav", "not an EMOVO name"),
])
def test_malformed_emovo_names(name, problem):
    with pytest.raises(AudioError, match=problem) as info:
        data.parse_emovo_name(f"/x/{name}")
    assert name in str(info.value)


def test_scan_emovo_collects_bad_names(tmp_path):
    root = tmp_path / "emovo"
    good = root / "f2" / "rab-f2-d2.wav"
    bad = root / "f2" / "rab-f9-d2.wav"
    for path in (good, bad):
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, speechlike(16000, 0.5), 16000)
    errors: list = []
    records = data.scan_corpus(root, errors=errors)  # recognised by its speaker folders
    assert [r["path"] for r in records] == [str(good)]
    assert errors == [(str(bad), "EMOVO name has invalid field(s): speaker 'f9' not in "
                                 "f1, f2, f3, m1, m2, m3")]
    with pytest.raises(AudioError, match="speaker 'f9'"):  # without a list: raised
        data.scan_emovo(root)
    assert data.corpus_of_folder(root) == "emovo"
    assert data.corpus_of_folder(RAVDESS) == "ravdess"
    assert data.corpus_of_folder(TESS) == "tess"
    assert data.corpus_of_folder(tmp_path) is None
    with pytest.raises(ParameterError, match="not a folder of a known corpus"):
        data.scan_corpus(tmp_path)


# --------------------------------------------------------------------------- real corpus
def test_real_emovo_folder(emovo_records):
    recs = emovo_records
    assert len(recs) == 588
    assert {r["speaker"] for r in recs} == {f"emovo_{s}" for s in
                                            ("f1", "f2", "f3", "m1", "m2", "m3")}
    emotions = [r["emotion"] for r in recs]
    assert set(emotions) == set(data.EMOTIONS) - {"calm"}
    assert all(emotions.count(e) == 84 for e in set(emotions))
    assert all(sum(r["speaker"] == s for r in recs) == 98 for s in {r["speaker"] for r in recs})
    assert len({r["statement"] for r in recs}) == 14
    assert {r["gender"] for r in recs} == {"female", "male"}
    assert data.scan_corpus(EMOVO) == recs


def test_emovo_manifest_subset(emovo_records, tmp_path):
    subset = [r for r in emovo_records if r["speaker"] in ("emovo_f1", "emovo_m1")
              and r["emotion"] in ("neutral", "happy")]
    errors: list = []
    m = data.build_manifest(subset, errors=errors)
    assert errors == [] and len(m) == 56
    assert set(m["sample_rate"]) == {16000} and set(m["channels"]) == {1}
    assert m["duration_s"].between(1.0, 15.0).all()
    data.save_manifest(m, tmp_path / "manifest.csv")
    back = data.load_manifest(tmp_path / "manifest.csv")
    assert back["statement"].tolist() == m["statement"].tolist()
    assert back["path"].tolist() == m["path"].tolist()
    assert set(back["corpus"]) == {"emovo"}


# --------------------------------------------------------------------------- label maps
def test_label_maps_are_declared_and_complete():
    maps = data.LABEL_MAPS
    assert set(maps) == {*data.KNOWN_CORPORA, "labels"}
    for corpus, table in maps.items():  # EmoDB's boredom is its own label
        assert set(table.values()) - set(data.EMOTIONS) == ({"bored"} if corpus == "emodb"
                                                            else set())
    assert set(maps["ravdess"].values()) == set(data.EMOTIONS)
    assert set(maps["labels"].values()) == set(data.EMOTIONS)
    for corpus in ("tess", "emovo"):  # calm exists only in RAVDESS
        assert set(maps[corpus].values()) == set(data.EMOTIONS) - {"calm"}
        assert len(maps[corpus]) == 7
    with pytest.raises(TypeError):
        maps["emovo"]["gio"] = "sad"  # read-only
    assert data.canonical_emotion("gio", corpus="emovo") == "happy"
    assert data.canonical_emotion(" PS ", corpus="tess") == "surprised"
    assert data.canonical_emotion("Joy") == "happy"  # user CSV aliases, as before
    assert data.canonical_emotion("ps") == "surprised"
    assert data.canonical_emotion("02", corpus="ravdess") == "calm"
    with pytest.raises(AudioError, match="unknown emotion label 'gio'"):
        data.canonical_emotion("gio")  # corpus codes are not user labels
    with pytest.raises(AudioError, match="expected one of neu, gio"):
        data.canonical_emotion("calm", corpus="emovo")
    with pytest.raises(ParameterError, match="no label map for corpus 'crema'"):
        data.canonical_emotion("angry", corpus="crema")
    # the parsers read the same tables
    for code, emotion in maps["ravdess"].items():
        assert data.parse_ravdess_name(f"03-01-{code}-01-01-01-01.wav")["emotion"] == emotion
    for word, emotion in maps["tess"].items():
        assert data.parse_tess_name(f"OAF_back_{word}.wav")["emotion"] == emotion


# --------------------------------------------------------------------------- channels
def test_channel_policy_reads_channel_0_of_an_emovo_original(tmp_path):
    original = tmp_path / "emovo" / "f1" / "neu-f1-b1.wav"
    stereo = _stereo_original(original, seconds=6.0)  # 288000 frames: two decode blocks
    mono = tmp_path / "mono" / "neu-f2-b1.wav"  # channel 0 alone, as a mono file
    mono.parent.mkdir()
    sf.write(mono, stereo[:, 0], 48000, subtype="PCM_16")

    assert {c: k for c, k in data.CORPUS_CHANNELS.items() if k is not None} == {"emovo": 0}
    assert data.corpus_channel(original) == 0
    assert data.corpus_channel("Actor_01/03-01-05-01-01-01-01.wav") is None
    assert data.corpus_channel("OAF_back_angry.wav") is None
    assert data.corpus_channel("stereo.wav") is None

    first = data.load_audio(original, channel=0)
    assert np.array_equal(first, data.load_audio(mono))
    y, _ = data.decode_audio(original, channel=1)
    assert np.array_equal(y, stereo[:, 1])
    mean = data.load_audio(original)  # no policy given: the mean, as for any stereo input
    assert not np.allclose(mean, first, atol=1e-3)
    y, sr = data.decode_audio(io.BytesIO(original.read_bytes()), channel=0)
    assert sr == 48000 and np.array_equal(y, stereo[:, 0])
    y, _ = data.decode_audio(original)
    assert np.allclose(y, stereo.mean(axis=1), atol=1e-6)

    # the mean of the two microphones is a comb filter: a notch at 1 / (2 * 0.4 ms)
    spec_first = np.abs(np.fft.rfft(data.load_audio(original, channel=0, sr=48000)))
    spec_mean = np.abs(np.fft.rfft(data.load_audio(original, sr=48000)))
    freqs = np.fft.rfftfreq(6 * 48000, 1 / 48000)
    notch = (freqs > 1150) & (freqs < 1350)
    assert spec_mean[notch].sum() < 0.3 * spec_first[notch].sum()

    with pytest.raises(AudioError, match="has 2 channel\\(s\\), channel 2 was asked"):
        data.load_audio(original, channel=2)
    for bad in (-1, True, 0.0, "0"):
        with pytest.raises(ParameterError, match="channel must be None or an int"):
            data.decode_audio(original, channel=bad)
    assert np.array_equal(data.load_audio(mono, channel=0), data.load_audio(mono))


def test_features_and_cache_key_follow_the_channel_policy(tmp_path):
    original = tmp_path / "emovo" / "m1" / "tri-m1-l2.wav"
    stereo = _stereo_original(original)
    mono = tmp_path / "copy" / "tri-m2-l2.wav"
    mono.parent.mkdir()
    sf.write(mono, stereo[:, 0], 48000, subtype="PCM_16")
    cache = tmp_path / "cache"
    shas = [data.file_sha256(original), data.file_sha256(mono)]
    X, errors, n = extract_batch([original, mono], sha256=shas, config=CONFIG,
                                 cache_dir=cache)
    assert errors == [] and n == 2
    assert np.array_equal(X[0], X[1])  # the original is read as its channel 0
    assert not np.allclose(X[0], extract_features(data.load_audio(original), config=CONFIG))
    # the key gains the channel only for the multi-channel original
    assert data.channel_cache_tag(original, 0) == "channel=0"
    assert data.channel_cache_tag(mono, 0) is None
    assert data.channel_cache_tag(original, None) is None
    key_original = hashlib.sha256(f"{shas[0]}|{CONFIG.hash}|channel=0".encode()).hexdigest()
    key_mono = hashlib.sha256(f"{shas[1]}|{CONFIG.hash}".encode()).hexdigest()
    assert sorted(p.name for p in cache.rglob("*.npy")) == sorted(
        [f"{key_original}.npy", f"{key_mono}.npy"])
    assert _cache_path(cache, key_original).is_file()
    X2, _, n2 = extract_batch([original, mono], sha256=shas, config=CONFIG, cache_dir=cache)
    assert n2 == 0 and np.array_equal(X, X2)


def test_ravdess_and_tess_originals_keep_their_keys_and_values(tmp_path):
    """Mono originals at 48 kHz (RAVDESS) and 24.414 kHz (TESS), a stereo file with a
    RAVDESS name (no declared channel: the mean) and a real RAVDESS clip: the cache key
    is (sha256, config hash) as before and the features are those of load_audio."""
    rav = tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav"
    rav.parent.mkdir()
    sf.write(rav, speechlike(48000, 1.5), 48000, subtype="PCM_16")
    tess = tmp_path / "OAF_angry" / "OAF_back_angry.wav"
    tess.parent.mkdir()
    sf.write(tess, speechlike(24414, 1.5, f0=230.0), 24414, subtype="PCM_16")
    rav_stereo = tmp_path / "Actor_02" / "03-01-04-01-01-01-02.wav"
    _stereo_original(rav_stereo)
    real = next(RAVDESS.glob("Actor_01/*.flac"))
    paths = [rav, tess, rav_stereo, real]
    shas = [data.file_sha256(p) for p in paths]
    cache = tmp_path / "cache"
    X, errors, _ = extract_batch(paths, sha256=shas, config=CONFIG, cache_dir=cache)
    assert errors == []
    for i, path in enumerate(paths):
        assert data.corpus_channel(path) is None
        assert np.array_equal(X[i], extract_features(data.load_audio(path), config=CONFIG))
        key = hashlib.sha256(f"{shas[i]}|{CONFIG.hash}".encode()).hexdigest()
        assert _cache_path(cache, key).is_file()


# --------------------------------------------------------------------------- CLI
def test_cli_scan_gives_three_corpora(tmp_path, capsys):
    manifest = tmp_path / "manifest.csv"
    assert main(["data", "scan", "--data", str(DATA), "--manifest", str(manifest)]) == 0
    m = data.load_manifest(manifest)
    counts = m.groupby("corpus").agg(clips=("path", "size"), speakers=("speaker", "nunique"))
    assert counts.to_dict() == {"clips": {"emovo": 588, "ravdess": 1440, "tess": 2800},
                                "speakers": {"emovo": 6, "ravdess": 24, "tess": 2}}
    assert "emovo" in capsys.readouterr().out
    # `features --corpus emovo` on a small manifest (a generated original and real clips)
    original = tmp_path / "emovo" / "f3" / "sor-f3-n1.wav"
    _stereo_original(original)
    small = data.build_manifest(data.scan_emovo(tmp_path / "emovo")
                                + data.scan_emovo(EMOVO / "m2")[:3]
                                + data.scan_ravdess(RAVDESS / "Actor_01")[:2])
    data.save_manifest(small, tmp_path / "small.csv")
    assert main(["features", "--manifest", str(tmp_path / "small.csv"), "--corpus", "emovo",
                 "--cache", str(tmp_path / "cache"), "--jobs", "1"]) == 0
    assert "4 clips x" in capsys.readouterr().out
