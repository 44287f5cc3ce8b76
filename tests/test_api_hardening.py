"""The Python API keeps the good clips' results and refuses what it cannot read.

Per-clip errors (``on_error="skip"``), empty batches, integer PCM, ``sr=`` and ``targets=``
validation and the length check before any copy, with both backends of the committed
deployed models.
"""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import ser_classic
from ser_classic import data
from ser_classic.errors import AudioError, ParameterError
from ser_classic.recognizer import ClipError, DiscriminatorScores, Predictions

from .conftest import TESS, speechlike

MODELS = Path(__file__).resolve().parents[1] / "models"
BACKENDS = ("sklearn", "onnx")
BAD = 17  # position of the bad clip in the 50-clip batch


@pytest.fixture(scope="module", params=BACKENDS)
def rec(request):
    return ser_classic.load(MODELS / "deployed", backend=request.param)


@pytest.fixture(scope="module", params=BACKENDS)
def norm_rec(request):
    return ser_classic.load(MODELS / "deployed-speaker_norm", backend=request.param)


@pytest.fixture(scope="module")
def batch() -> list[np.ndarray]:
    """49 good clips of varied pitch and length, and a silent one at ``BAD``."""
    waves = [speechlike(16000, 0.4 + 0.01 * i, f0=110 + 6 * i, seed=i) for i in range(50)]
    waves[BAD] = np.zeros(8000, dtype=np.float32)
    return waves


def good(waves):
    return [w for i, w in enumerate(waves) if i != BAD]


# ---------------------------------------------------------------- per-clip errors
def test_skip_keeps_the_good_clips_in_order(rec, batch):
    with pytest.raises(AudioError, match=r"waveform\[17\]: silent"):
        rec.predict_proba(batch, sr=16000)  # the default is unchanged
    expected = rec.predict_proba(good(batch), sr=16000)
    got = rec.predict_proba(batch, sr=16000, on_error="skip")
    assert isinstance(got, Predictions)
    np.testing.assert_array_equal(got.index, [i for i in range(50) if i != BAD])
    np.testing.assert_allclose(got.proba, expected, atol=1e-12)
    np.testing.assert_array_equal(got.labels, rec.predict(good(batch), sr=16000))
    assert got.errors == (ClipError(index=BAD, source=f"waveform[{BAD}]",
                                    problem="silent: peak amplitude below 1e-4"),)
    assert got.classes == tuple(rec.classes_)
    labels = rec.predict(batch, sr=16000, on_error="skip")
    np.testing.assert_array_equal(labels.labels, got.labels)
    np.testing.assert_array_equal(labels.index, got.index)
    # a good batch gives the same rows either way; a single bad clip gives no rows
    all_good = rec.predict_proba(good(batch), sr=16000, on_error="skip")
    assert all_good.errors == () and np.array_equal(all_good.index, np.arange(49))
    alone = rec.predict_proba(batch[BAD], sr=16000, on_error="skip")
    assert alone.proba.shape == (0, 7) and alone.errors[0].index == 0


def test_skip_reports_every_kind_of_bad_clip(rec, audio_fixtures):
    clips = sorted(TESS.glob("OAF_angry/*"))[:3]
    broken = ["empty.wav", "notes.wav", "corrupt.wav", "silent.wav", "ten_ms.wav"]
    paths = [str(clips[0]), *(str(audio_fixtures[b]) for b in broken), *map(str, clips[1:])]
    got = rec.predict_proba(paths, on_error="skip")
    np.testing.assert_array_equal(got.index, [0, 6, 7])
    np.testing.assert_allclose(got.proba, rec.predict_proba([str(c) for c in clips]),
                               atol=1e-12)
    assert [e.index for e in got.errors] == [1, 2, 3, 4, 5]
    for error, name in zip(got.errors, broken, strict=True):
        assert error.source.endswith(name) and error.problem
    waves = [speechlike(16000, 0.5), np.full(8000, np.nan), np.ones((2, 3, 4)),
             np.ones(16000 * 61, np.float32), speechlike(16000, 0.02), [],
             np.array(["a", "b"]), speechlike(16000, 0.5, seed=1)]
    got = rec.predict_proba(waves, sr=16000, on_error="skip")
    np.testing.assert_array_equal(got.index, [0, 7])
    problems = [e.problem for e in got.errors]
    for problem, expected in zip(problems, ["NaN", "1-D or 2-D", "too long", "too short",
                                            "no audio samples", "not numbers"], strict=True):
        assert expected in problem


def test_score_skip_keeps_targets_aligned(rec, batch):
    targets = [rec.classes_[i % len(rec.classes_)] for i in range(50)]
    with pytest.raises(AudioError, match="silent"):
        rec.score(batch, sr=16000, targets=targets)
    s = rec.score(batch, sr=16000, targets=targets, on_error="skip")
    keep = [i for i in range(50) if i != BAD]
    np.testing.assert_array_equal(s.index, keep)
    assert [e.index for e in s.errors] == [BAD]
    ref = rec.score(good(batch), sr=16000, targets=[targets[i] for i in keep])
    np.testing.assert_array_equal(ref.index, np.arange(49))
    assert ref.errors == ()
    for name in ("penalty", "nll", "p_target", "proba"):
        np.testing.assert_allclose(getattr(s, name), getattr(ref, name), atol=1e-12)
    cols = [list(rec.classes_).index(targets[i]) for i in keep]
    np.testing.assert_allclose(s.p_target, s.proba[np.arange(49), cols])


def test_speaker_batch_statistics_come_from_the_good_clips(norm_rec, batch):
    waves = batch[10:30]  # the bad clip is at position 7
    expected = norm_rec.predict_proba(waves[:7] + waves[8:], sr=16000, speaker="batch")
    got = norm_rec.predict_proba(waves, sr=16000, speaker="batch", on_error="skip")
    np.testing.assert_array_equal(got.index, [i for i in range(20) if i != 7])
    np.testing.assert_allclose(got.proba, expected, atol=1e-12)
    s = norm_rec.score(waves, sr=16000, targets="sad", speaker="batch", on_error="skip")
    np.testing.assert_allclose(s.proba, expected, atol=1e-12)
    # a lone usable clip cannot be normalised with its own statistics: an error too
    lone = norm_rec.predict_proba([waves[7], waves[0]], sr=16000, speaker="batch",
                                  on_error="skip")
    assert lone.proba.shape == (0, 7)
    assert [e.index for e in lone.errors] == [0, 1] and "at least 2" in lone.errors[1].problem
    with pytest.raises(ParameterError, match="speaker-normalised"):
        norm_rec.predict_proba(waves, sr=16000, on_error="skip")


def test_on_error_is_checked(rec, batch):
    for method in (rec.predict_proba, rec.predict):
        with pytest.raises(ParameterError, match="on_error"):
            method(batch, sr=16000, on_error="ignore")
    with pytest.raises(ParameterError, match="on_error"):
        rec.score(batch, sr=16000, targets="sad", on_error="nan")


# ---------------------------------------------------------------- empty batches
@pytest.mark.parametrize("empty", [[], (), np.zeros((0, 16000), np.float32)],
                         ids=["list", "tuple", "array"])
def test_empty_batch_gives_empty_results(rec, norm_rec, empty):
    proba = rec.predict_proba(empty, sr=16000)
    assert proba.shape == (0, 7) and proba.dtype == np.float64
    labels = rec.predict(empty, sr=16000)
    assert labels.shape == (0,)
    s = rec.score(empty, sr=16000, targets="sad")
    assert isinstance(s, DiscriminatorScores) and s.proba.shape == (0, 7)
    assert s.penalty.shape == s.nll.shape == s.p_target.shape == s.index.shape == (0,)
    skipped = rec.predict_proba(empty, sr=16000, on_error="skip")
    assert skipped.proba.shape == (0, 7) and skipped.labels.shape == (0,)
    assert skipped.errors == ()
    assert norm_rec.predict_proba(empty, sr=16000, speaker="batch").shape == (0, 7)
    assert rec.predict_proba(empty).shape == (0, 7)  # no waveform: sr not needed


# ---------------------------------------------------------------- integer PCM
def _pcm(y: np.ndarray, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    offset = 128 if dtype == np.uint8 else 0
    full = 128 if info.bits == 8 else 2 ** (info.bits - 1)
    return np.clip(np.round(y * full + offset), info.min, info.max).astype(dtype)


@pytest.mark.parametrize(("dtype", "atol"), [(np.int16, 1e-4), (np.int32, 1e-4),
                                             (np.uint8, 0.05), (np.int8, 0.05)])
def test_integer_pcm_is_scaled_by_its_full_scale(rec, dtype, atol):
    y = speechlike(22050, 1.0, f0=210)
    expected = rec.predict_proba(y, sr=22050)
    pcm = _pcm(y, dtype)
    np.testing.assert_allclose(rec.predict_proba(pcm, sr=22050), expected, atol=atol)
    assert rec.predict(pcm, sr=22050) == rec.predict(y, sr=22050)
    # the same scaling for a 2-D batch and for (n, channels) audio
    stereo = np.stack([pcm, pcm], axis=1)
    np.testing.assert_allclose(rec.predict_proba([stereo], sr=22050)[0],
                               rec.predict_proba(pcm, sr=22050), atol=1e-6)
    np.testing.assert_allclose(rec.predict_proba(np.stack([pcm, pcm]), sr=22050),
                               np.stack([expected, expected]), atol=atol)


def test_check_waveform_scales_pcm_exactly():
    for dtype, scale, offset in [(np.int8, 2**7, 0), (np.int16, 2**15, 0),
                                 (np.int32, 2**31, 0), (np.uint8, 128, 128)]:
        info = np.iinfo(dtype)
        y = np.tile(np.array([info.min, 0, info.max // 2, info.max], dtype=dtype), 1000)
        expected = ((y.astype(np.float64) - offset) / scale).astype(np.float32)
        got = data.check_waveform(y, 16000)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
        assert got.min() >= -1.0 and got.max() <= 1.0
    big_endian = np.tile(np.array([-16384, 16384], dtype=">i2"), 1000)
    np.testing.assert_array_equal(data.check_waveform(big_endian, 16000)[:2], [-0.5, 0.5])


@pytest.mark.parametrize(("dtype", "problem"), [
    (bool, "boolean samples"), (np.complex64, "complex samples"),
    (np.complex128, "complex samples"), (np.int64, "int64 samples have no PCM full scale"),
    (np.uint16, "uint16 samples have no PCM full scale"), (object, "not numbers"),
    (str, "not numbers"),
])
def test_non_audio_dtypes_refused(rec, dtype, problem):
    y = np.ones(16000, dtype=dtype)
    with pytest.raises(AudioError, match=problem):
        data.check_waveform(y, 16000, source="clip")
    with pytest.raises(AudioError, match=rf"waveform\[0\]: .*{problem}"):
        rec.predict_proba(y, sr=16000)
    with pytest.raises(AudioError, match=rf"waveform\[0\]: .*{problem}"):
        rec.score([y], sr=16000, targets="sad")


# ---------------------------------------------------------------- sr and targets
@pytest.mark.parametrize("sr", [1.9, "abc", math.nan, math.inf, 0, -1, -16000.0, True,
                                np.bool_(True), np.float64(2.5), "16000", [16000]])
def test_bad_sr_is_a_parameter_error(rec, sr):
    y = speechlike(16000, 0.5)
    with pytest.raises(ParameterError, match=r"^sr must be a positive integer") as info:
        rec.predict_proba(y, sr=sr)
    assert repr(sr) in str(info.value)
    for call in (lambda: rec.predict([y, y], sr=sr, on_error="skip"),
                 lambda: rec.score([y], sr=sr, targets="sad", on_error="skip"),
                 lambda: rec.waveform(y, sr=sr)):
        with pytest.raises(ParameterError, match=r"^sr must be"):
            call()


def test_a_rate_below_telephone_speech_is_refused(rec, tmp_path):
    """sr in kHz (``sr=16``) read as Hz made a 0.5 s clip 8 minutes long ("too long");
    below 8 kHz the refusal says so, and 8 kHz itself (telephone speech) is scored."""
    y = speechlike(16000, 0.5)
    with pytest.raises(ParameterError, match=r"^sample rate 16 Hz is below 8000 Hz \(a rate "
                                             r"in kHz\? pass sr=16000\)"):
        rec.predict_proba(y, sr=16)
    with pytest.raises(ParameterError, match=r"^sample rate 4000 Hz is below 8000 Hz$"):
        rec.score([y[:8000]], sr=4000, targets="sad", on_error="skip")
    with pytest.raises(AudioError, match=r"^clip\.raw: sample rate 16 Hz is below 8000 Hz"):
        data.check_waveform(y, 16, source="clip.raw")
    assert rec.predict_proba(y[::2], sr=8000).shape == (len(rec.classes_),)  # one clip
    slow = tmp_path / "slow.wav"  # a file's own rate: the same refusal, naming the file
    sf.write(slow, speechlike(4000, 1.0), 4000, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"slow\.wav: sample rate 4000 Hz is below 8000 Hz"):
        rec.predict_proba(str(slow))


def test_missing_sr_is_a_parameter_error(rec):
    y = speechlike(16000, 0.5)
    with pytest.raises(ParameterError, match="sr="):
        rec.predict_proba(y)
    with pytest.raises(ParameterError, match="sr="):
        rec.score([y], sr=None, targets="sad")


def test_a_list_of_samples_is_not_taken_for_a_batch(rec):
    y = speechlike(16000, 0.5)
    for api in (rec.predict_proba, rec.predict):
        with pytest.raises(ParameterError, match=r"holds 8000 numbers: pass one waveform "
                                                 r"as an array"):
            api(y.tolist(), sr=16000)
    with pytest.raises(ParameterError, match="holds 8000 numbers"):
        rec.score(list(y), sr=16000, targets="sad")
    np.testing.assert_allclose(rec.predict_proba([y.tolist()], sr=16000),
                               rec.predict_proba([y], sr=16000))


def test_integral_sample_rates_accepted(rec):
    y = speechlike(16000, 0.5)
    expected = rec.predict_proba(y, sr=16000)
    for sr in (16000.0, np.int64(16000), np.float32(16000), np.uint16(16000)):
        np.testing.assert_array_equal(rec.predict_proba(y, sr=sr), expected)


@pytest.mark.parametrize(("targets", "match"), [
    (None, "targets must be"), (3, "targets must be"), (b"sad", "targets must be"),
    (["sad"], "1 targets for 2 clips"), (["sad"] * 3, "3 targets for 2 clips"),
    ([1, 2], r"unknown target emotion\(s\) \['1', '2'\]"),
    (["sad", None], r"unknown target emotion\(s\) \['None'\]"),
    ("bored", r"unknown target emotion\(s\) \['bored'\]"),
])
def test_bad_targets_are_parameter_errors(rec, targets, match):
    waves = [speechlike(16000, 0.5), speechlike(16000, 0.5, seed=1)]
    with pytest.raises(ParameterError, match=match):
        rec.score(waves, sr=16000, targets=targets)


def test_targets_as_an_array(rec):
    waves = np.stack([speechlike(16000, 0.5), speechlike(16000, 0.5, seed=1)])
    s = rec.score(waves, sr=16000, targets=np.array(["sad", "happy"]))
    assert s.p_target.shape == (2,)


# ---------------------------------------------------------------- length before copies
def test_too_long_arrays_are_refused_before_any_copy(rec):
    hour = np.zeros(3600 * 16000)  # float64, 461 MB of (untouched) address space
    stereo = np.broadcast_to(np.float64(0.1), (3600 * 48000, 2))  # 2.8 GB without memory
    # tracemalloc sees numpy's allocations: a float32 copy of one minute shows up
    tracemalloc.start()
    try:
        hour[:60 * 16000].astype(np.float32)
        assert tracemalloc.get_traced_memory()[1] >= 60 * 16000 * 4
        tracemalloc.reset_peak()
        with pytest.raises(AudioError, match=r"waveform\[0\]: too long: 3600.0 s > 60.0 s"):
            rec.predict_proba(hour, sr=16000)
        with pytest.raises(AudioError, match=r"too long: 3600.0 s"):
            rec.predict_proba([stereo], sr=48000)  # one (n, channels) clip
        with pytest.raises(ParameterError, match=r"looks like one clip .* pass it in a list"):
            rec.predict_proba(stereo, sr=48000)  # a 2-D array is a batch
        with pytest.raises(AudioError, match=r"too long: 3600.0 s"):
            data.check_waveform(stereo.T, 48000)  # (channels, n) layout
        got = rec.predict_proba([speechlike(16000, 0.5), hour], sr=16000, on_error="skip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.index.tolist() == [0] and "too long" in got.errors[0].problem
    assert peak < 20e6, f"{peak / 1e6:.0f} MB allocated while refusing an hour of audio"
