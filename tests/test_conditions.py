"""Recording-condition transforms (ser_classic.conditions) and the multi-condition training
copies, on real audio."""

import dataclasses
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.signal

from ser_classic import conditions as C
from ser_classic.augment import AugmentConfig
from ser_classic.data import load_audio
from ser_classic.errors import ParameterError
from ser_classic.features import FeatureConfig

from .conftest import experiment

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared/data/ravdess/Actor_21/03-01-05-02-01-01-21.flac"


@pytest.fixture(scope="module")
def bench():
    return experiment("bench_conditions")


@pytest.fixture(scope="module")
def clip():
    if not CLIP.exists():
        pytest.skip("shared RAVDESS corpus not available")
    return load_audio(CLIP, sr=16000).astype(np.float64)


def _band_power(y, lo, hi, sr=16000):
    f, p = scipy.signal.welch(y, fs=sr, nperseg=1024)
    return p[(f >= lo) & (f < hi)].sum()


def test_bench_uses_the_library_transforms(bench):
    for name in ("gain", "white_noise", "pink_noise", "babble", "mix_at_snr", "telephone",
                 "codec_round_trip", "room_impulse_response", "reverberate", "griffin_lim",
                 "world_resynthesis", "zero_floor", "pcm16"):
        assert getattr(bench, name) is getattr(C, name)


@pytest.mark.parametrize("kind", ["white", "pink"])
@pytest.mark.parametrize("snr", [20.0, 10.0])
def test_noise_reaches_its_snr(clip, kind, snr):
    rng = np.random.default_rng(0)
    noise = (C.white_noise if kind == "white" else C.pink_noise)(clip.size, rng=rng)
    noisy = C.mix_at_snr(clip, noise, snr)
    assert noisy.shape == clip.shape
    assert C.snr_db(clip, noisy) == pytest.approx(snr, abs=0.05)


def test_pink_noise_falls_3_db_per_octave():
    x = C.pink_noise(2**16, rng=np.random.default_rng(1))
    low, high = _band_power(x, 500, 1000), _band_power(x, 2000, 4000)
    # equal power per octave for 1/f noise
    assert 10 * np.log10(high / low) == pytest.approx(0.0, abs=1.0)


def test_babble_is_unit_variance_and_seeded(clip):
    talkers = [clip[::-1], clip * 0.1, np.roll(clip, 5000)]
    a = C.babble(clip.size, talkers=talkers, rng=np.random.default_rng(2))
    b = C.babble(clip.size, talkers=talkers, rng=np.random.default_rng(2))
    assert np.array_equal(a, b) and a.std() == pytest.approx(1.0)
    with pytest.raises(ParameterError):
        C.babble(clip.size, talkers=[], rng=np.random.default_rng(2))


def test_telephone_band_limits_and_length(clip):
    tel = C.telephone(clip)
    assert tel.shape == clip.shape
    # energy above 3.4 kHz and below 300 Hz is removed (tens of dB), the band is kept
    in_band = _band_power(tel, 500, 3000) / _band_power(clip, 500, 3000)
    assert 0.5 < in_band < 2.0
    assert _band_power(tel, 4200, 8000) < 1e-3 * _band_power(clip, 4200, 8000)
    assert _band_power(tel, 0, 150) < 0.1 * _band_power(clip, 0, 150)


def test_band_limit_through_pedalboard(clip):
    pytest.importorskip("pedalboard")  # the augment extra
    out = C.band_limit(clip, low_hz=300.0, high_hz=3000.0)
    assert out.shape == clip.shape
    assert _band_power(out, 6000, 8000) < 0.05 * _band_power(clip, 6000, 8000)
    assert 0.5 < _band_power(out, 800, 2000) / _band_power(clip, 800, 2000) < 1.5
    with pytest.raises(ParameterError):
        C.band_limit(clip, low_hz=3000.0, high_hz=300.0)


def test_codec_round_trip_keeps_length(bench, clip):
    y, kbps = C.codec_round_trip(clip, format="MP3", subtype="MPEG_LAYER_III",
                                 compression_level=bench.MP3_LEVEL, bitrate_mode="CONSTANT")
    assert y.shape == clip.shape and 28 < kbps < 36
    assert np.corrcoef(y, clip)[0, 1] > 0.5 or np.max(np.abs(
        scipy.signal.correlate(y, clip, mode="full"))) > 0.5 * np.sum(clip**2)


def test_mp3_through_lame_is_lossy_aligned_and_keeps_length(clip):
    pytest.importorskip("pedalboard")
    good, poor = (C.mp3_round_trip(clip, vbr_quality=q) for q in (2.0, 9.0))
    assert good.shape == poor.shape == clip.shape
    lag = np.argmax(scipy.signal.correlate(poor, clip, mode="full")) - (clip.size - 1)
    assert lag == 0  # pedalboard removes the encoder delay
    # lossy (a coding error tens of dB down), more so at the lower quality
    assert 10.0 < C.snr_db(clip, poor) < C.snr_db(clip, good) < 40.0


def test_gain_padding_and_floor(clip):
    quiet = C.gain(clip, -20.0)
    assert np.all(quiet * 32768 == np.round(quiet * 32768))  # 16-bit values
    assert np.sqrt(np.mean(quiet**2) / np.mean(clip**2)) == pytest.approx(0.1, rel=0.01)
    padded = C.pad(clip, lead_s=1.0, trail_s=0.5)
    assert padded.size == clip.size + 24000 and not padded[:16000].any()
    assert np.array_equal(padded[16000:-8000], clip)
    zeroed = C.zero_floor(clip)
    assert np.all((zeroed == 0) | (np.abs(clip) >= C.ZERO_THRESHOLD))


def test_reverb_and_vocoders_keep_length_and_level(clip):
    pytest.importorskip("pyroomacoustics")  # the bench and augment extras
    y = clip[:16000]
    rir = C.room_impulse_response()
    outs = [C.reverberate(y, rir=rir), C.griffin_lim(y, rng=np.random.default_rng(3), n_iter=4)]
    if importlib.util.find_spec("pyworld") is not None:
        outs.append(C.world_resynthesis(y))
    for out in outs:
        assert out.shape == y.shape
        assert np.sqrt(np.mean(out**2) / np.mean(y**2)) == pytest.approx(1.0, rel=0.05)


def test_an_unreadable_talker_costs_no_other_clip_its_copy(ravdess_manifest, tmp_path):
    """A corrupt file in the manifest fails alone: the conditions copies that drew it as a
    babble talker are babble of the other talkers, not failures (which would drop their
    clips from training)."""
    pytest.importorskip("pedalboard")
    pytest.importorskip("pyroomacoustics")
    from ser_classic.features import _augment_rng
    from ser_classic.pipeline import augmented_features

    rows = ravdess_manifest.groupby("speaker").head(10)
    rows = rows[rows["speaker"].isin(["ravdess_01", "ravdess_02"])]
    bad = tmp_path / "corrupt.flac"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    rows = pd.concat([rows, pd.DataFrame([{
        "path": str(bad), "speaker": "ravdess_02", "emotion": "sad",
        "sha256": hashlib.sha256(bad.read_bytes()).hexdigest()}])], ignore_index=True)
    copies = augmented_features("conditions", rows, config=FeatureConfig(), copies=2)
    drew_it = 0
    for k, X in enumerate(copies):
        assert np.flatnonzero(np.isnan(X).any(axis=1)).tolist() == [len(rows) - 1]
        talkers = C.babble_talkers(rows["sha256"], rows["speaker"].to_numpy(), copy=k)
        drew_it += sum(len(rows) - 1 in t and C.ConditionChain().draw(
            rng=_augment_rng(sha, 0, k)).uses_talkers
            for sha, t in zip(rows["sha256"], talkers, strict=True))
    assert drew_it > 0  # the case this test is about


def test_training_rooms_are_seeded_and_not_the_benchmarks():
    pytest.importorskip("pyroomacoustics")
    rooms = C.training_rooms(n_rooms=3, seed=5)
    again = C.training_rooms.__wrapped__(n_rooms=3, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(rooms, again, strict=True))
    bench_room = C.room_impulse_response()
    assert not any(r.size == bench_room.size and np.allclose(r, bench_room) for r in rooms)


def test_chain_plans_are_reproducible_and_cover_every_step(clip):
    pytest.importorskip("pedalboard")
    chain = C.ConditionChain()
    plans = [chain.draw(rng=np.random.default_rng([0, k])) for k in range(300)]
    assert plans == [chain.draw(rng=np.random.default_rng([0, k])) for k in range(300)]
    assert {p.vocoder for p in plans} == {None, "griffin_lim", "world"}
    assert {p.noise for p in plans} == {None, "white", "pink", "babble"}
    assert {p.codec for p in plans} == {None, "mp3", "opus"}
    assert any(p.telephone for p in plans) and any(p.band for p in plans)
    assert any(p.room is not None for p in plans)
    snrs = [p.snr_db for p in plans if p.noise]
    assert min(snrs) >= 5.0 and max(snrs) <= 30.0
    # the same plan and rng give the same waveform; noise at the planned SNR
    plan = C.ConditionPlan(noise="white", snr_db=12.0)
    a = C.apply_conditions(clip, plan=plan, rng=np.random.default_rng(1))
    b = C.apply_conditions(clip, plan=plan, rng=np.random.default_rng(1))
    assert np.array_equal(a, b) and a.shape == clip.shape
    assert C.snr_db(clip, a) == pytest.approx(12.0, abs=0.1)
    with pytest.raises(ParameterError):
        C.ConditionChain(p_noise=1.5)


def test_babble_talkers_are_other_speakers_of_the_same_group():
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(12)]
    speakers = np.repeat(["a", "b", "c", "d"], 3)
    groups = np.array([0] * 6 + [1] * 6)  # a, b leave training together; c, d too
    talkers = C.babble_talkers(shas, speakers, groups=groups, n_talkers=2, seed=0, copy=1)
    for i, t in enumerate(talkers):
        assert len(t) == 2
        assert all(speakers[j] != speakers[i] and groups[j] == groups[i] for j in t)
    assert talkers == C.babble_talkers(shas, speakers, groups=groups, n_talkers=2, seed=0,
                                       copy=1)
    assert talkers != C.babble_talkers(shas, speakers, groups=groups, n_talkers=2, seed=0,
                                       copy=2)
    # leave one speaker out: a group is one speaker, no talkers
    assert all(t == () for t in C.babble_talkers(shas, speakers, groups=speakers))


def test_augment_config_hash_only_changes_with_conditions():
    vtlp = dict(max_shift_s=0.0, n_freq_masks=0, max_freq_width_hz=0.0, n_time_masks=0,
                max_time_width_s=0.0, warp_factors=(0.9, 1.1, 0.95, 1.05))
    # the cached VTLP copies keep their keys (hash of the preset before this field)
    assert AugmentConfig(n_copies=4, **vtlp).hash == "f405408431b1"
    assert AugmentConfig(n_copies=4, conditions=True).hash != AugmentConfig(n_copies=4).hash
    # the conditions copies of the deployed recipe keep their keys; another chain does not
    from ser_classic.pipeline import AUGMENT_VARIANTS

    conditions = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS["conditions"])
    assert conditions.hash == "762e5e4a0201"
    vocoder = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS["conditions_vocoder"])
    assert vocoder.hash != conditions.hash
    assert vocoder.condition_chain == C.ConditionChain(p_vocoder=0.5)
    # louder gains only: every other step of every copy is drawn as before
    loud = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS["conditions_loud"])
    assert loud.condition_chain == C.ConditionChain(gain_db=(-35.0, 20.0))
    assert loud.hash not in (conditions.hash, vocoder.hash)
    for seed in range(20):
        a = conditions.condition_chain.draw(rng=np.random.default_rng(seed))
        b = loud.condition_chain.draw(rng=np.random.default_rng(seed))
        assert a.gain_db <= 12.0 and b.gain_db <= 20.0
        assert dataclasses.replace(b, gain_db=a.gain_db) == a
    # the clipping, zeros and colouring steps: drawn after every other step, only when on
    for name in ("conditions_clip", "conditions_zeros", "conditions_eq"):
        chain = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS[name]).condition_chain
        assert chain.hash != conditions.condition_chain.hash
        plans = [chain.draw(rng=np.random.default_rng(seed)) for seed in range(40)]
        for seed, b in enumerate(plans):
            a = conditions.condition_chain.draw(rng=np.random.default_rng(seed))
            assert dataclasses.replace(b, clip_db=None, zeros=False, eq=None) == a
        on = sum(b.clip_db is not None or b.zeros or b.eq is not None for b in plans)
        assert 0 < on <= 40 and (on == 40) == (name == "conditions_eq")
    # the floor step, drawn last: the coloured chain's plans otherwise unchanged
    eq = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS["conditions_eq"]).condition_chain
    floor = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS["conditions_floor"]).condition_chain
    assert floor.hash != eq.hash
    plans = [floor.draw(rng=np.random.default_rng(seed)) for seed in range(40)]
    for seed, b in enumerate(plans):
        assert dataclasses.replace(b, floor_dbfs=None) == eq.draw(
            rng=np.random.default_rng(seed))
    levels = [b.floor_dbfs for b in plans if b.floor_dbfs is not None]
    assert 10 < len(levels) < 30 and all(-75 <= x <= -45 for x in levels)
    with pytest.raises(ParameterError, match="unknown ConditionChain field"):
        AugmentConfig(conditions=True, chain=(("p_vocodr", 0.5),))
    with pytest.raises(ParameterError, match="p_vocoder"):
        AugmentConfig(conditions=True, chain=(("p_vocoder", 1.5),))


def test_a_clipped_copy_reaches_full_scale_and_a_zeroed_one_has_exact_zeros(clip):
    """Real audio through the chain's optional last steps: the clipping gain puts the peak
    above full scale (so 16-bit rounding clips a run of samples); the zeros step leaves
    the rest of the copy as the plain gain makes it."""
    plain = C.ConditionPlan(gain_db=-6.0)
    clipped = C.apply_conditions(clip, plan=dataclasses.replace(plain, clip_db=6.0),
                                 rng=np.random.default_rng(0))
    assert np.sum(np.abs(clipped) >= 32767 / 32768) > 10
    quiet = C.apply_conditions(clip, plan=plain, rng=np.random.default_rng(0))
    zeroed = C.apply_conditions(clip, plan=dataclasses.replace(plain, zeros=True),
                                rng=np.random.default_rng(0))
    small = np.abs(quiet) < C.ZERO_THRESHOLD
    assert np.any(small & (quiet != 0)) and np.all(zeroed[small] == 0)
    np.testing.assert_array_equal(zeroed[~small], quiet[~small])


def test_a_floored_copy_has_the_drawn_noise_floor_in_its_pauses(clip):
    """The floor step on real audio: white noise of the drawn RMS after the gain, then
    16-bit rounding; the speech is the plain gain's."""
    plain = C.ConditionPlan(gain_db=-6.0)
    quiet = C.apply_conditions(clip, plan=plain, rng=np.random.default_rng(0))
    floored = C.apply_conditions(clip, plan=dataclasses.replace(plain, floor_dbfs=-50.0),
                                 rng=np.random.default_rng(0))
    added = floored - quiet
    assert abs(20 * np.log10(np.sqrt(np.mean(added ** 2))) + 50.0) < 0.5
    assert abs(np.corrcoef(added[:-1], added[1:])[0, 1]) < 0.05  # white
    assert np.all(np.round(floored * 32768) == floored * 32768)  # 16-bit


def test_a_coloured_copy_has_the_drawn_shelves_and_the_rest_of_its_chain(clip):
    """The colouring step on real audio: a high shelf of +8 dB lifts the band above it by
    about 8 dB and leaves the low band; its draws stay in their ranges; it comes before
    the noise, so the noise is not coloured."""
    lifted = C.equalize(clip, low_hz=200.0, low_db=0.0, high_hz=3000.0, high_db=8.0,
                        peak_hz=1000.0, peak_db=0.0, peak_q=1.0)
    assert lifted.shape == clip.shape
    high = 10 * np.log10(_band_power(lifted, 4500, 7500) / _band_power(clip, 4500, 7500))
    low = 10 * np.log10(_band_power(lifted, 100, 600) / _band_power(clip, 100, 600))
    assert 7.0 < high < 8.5 and abs(low) < 0.3
    chain = C.ConditionChain(p_eq=1.0, eq_db=(-6.0, 6.0))
    for seed in range(20):
        low_hz, low_db, high_hz, high_db, peak_hz, peak_db, q = chain.draw(
            rng=np.random.default_rng(seed)).eq
        assert 100 <= low_hz <= 400 and 1500 <= high_hz <= 5000 and 300 <= peak_hz <= 6000
        assert all(-6 <= d <= 6 for d in (low_db, high_db, peak_db)) and 0.7 <= q <= 2.0
    plan = C.ConditionPlan(noise="white", snr_db=10.0, eq=(200.0, 0.0, 3000.0, -8.0,
                                                           1000.0, 0.0, 1.0))
    out = C.apply_conditions(clip, plan=plan, rng=np.random.default_rng(0))
    darker = C.apply_conditions(clip, plan=dataclasses.replace(plan, noise=None),
                                rng=np.random.default_rng(0))
    noise = out - darker  # white: as much power in the two 3 kHz bands
    ratio = _band_power(noise, 4500, 7500) / _band_power(noise, 1000, 4000)
    assert 0.8 < ratio < 1.25


def test_coloured_vtlp_and_pitch_copies_draw_their_own_colouring(clip):
    """``colour_db`` colours a VTLP or pitch copy's waveform from a stream of its own: the
    member's other draws are those of the plain preset (the same semitones), the two
    members of a union draw different colourings for the same clip and copy, the plain
    presets keep their hashes, and the copy is the features of the coloured waveform."""
    pytest.importorskip("pedalboard")
    from ser_classic.features import _augment_rng, _colour_rng, augmented_features, extract_features
    from ser_classic.pipeline import AUGMENT_VARIANTS

    def config(name):
        return AugmentConfig(n_copies=4, **AUGMENT_VARIANTS[name])

    vtlp, vtlp_eq, pitch, pitch_eq = map(config, ("vtlp", "vtlp_eq", "pitch", "pitch_eq"))
    assert (vtlp.hash, pitch.hash) == ("f405408431b1", "7827366d3811")
    assert len({vtlp.hash, vtlp_eq.hash, pitch.hash, pitch_eq.hash}) == 4
    sha = hashlib.sha256(b"clip").hexdigest()
    draws = [C._draw_colouring(rng=_colour_rng(_augment_rng(sha, 0, 0), member))
             for member in (vtlp_eq, pitch_eq)]
    assert draws[0] != draws[1]
    assert all(-8 <= d <= 8 for d in draws[0][1:6:2])
    features = FeatureConfig()
    for plain, coloured in ((vtlp, vtlp_eq), (pitch, pitch_eq)):
        rng = _augment_rng(sha, 0, 1)
        colouring = C._draw_colouring(rng=_colour_rng(rng, coloured))
        a = augmented_features(clip, config=features, augment=coloured, rng=rng,
                               warp=coloured.warp_of(1))
        b = augmented_features(clip, config=features, augment=plain,
                               rng=_augment_rng(sha, 0, 1), warp=plain.warp_of(1))
        assert np.abs(a - b).max() > 0.1
        if plain.pitch_steps:  # the plain preset's semitones, then the colouring
            steps = plain.pitch_steps
            shifted = C.pitch_shift(clip, semitones=steps[int(_augment_rng(
                sha, 0, 1).integers(len(steps)))])
            np.testing.assert_allclose(a, extract_features(C._colour(
                shifted, colouring=colouring), config=features), rtol=1e-5, atol=1e-3)
        else:  # a VTLP copy: the coloured waveform, warped
            c = augmented_features(C._colour(clip, colouring=colouring), config=features,
                                   augment=plain, rng=_augment_rng(sha, 0, 1),
                                   warp=plain.warp_of(1))
            np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-6)
    with pytest.raises(ParameterError, match="colour_db"):
        AugmentConfig(conditions=True, colour_db=(-8.0, 8.0))
    with pytest.raises(ParameterError, match="colour_db"):
        AugmentConfig(colour_db=(8.0, -8.0))


def test_the_configs_chain_draws_the_copies(clip):
    """A chain that always vocodes (and does nothing else) draws a vocoder for every copy,
    and its copy is the vocoded waveform's features."""
    from ser_classic.features import _augment_rng, augmented_features, extract_features

    steps_off = dict(max_shift_s=0.0, n_freq_masks=0, n_time_masks=0, conditions=True)
    augment = AugmentConfig(n_copies=1, chain=(("p_vocoder", 1.0), ("p_noise", 0.0),
                                               ("p_codec", 0.0), ("p_reverb", 0.0),
                                               ("p_band", 0.0), ("p_gain", 0.0)),
                            **steps_off)
    plans = [augment.condition_chain.draw(rng=_augment_rng(str(k), 0, 0)) for k in range(20)]
    assert all(p.vocoder in ("griffin_lim", "world") for p in plans)
    assert all(p.noise is None and p.codec is None and p.room is None for p in plans)
    config = FeatureConfig()
    rng = np.random.default_rng(0)
    plan = augment.condition_chain.draw(rng=rng)
    assert C.ConditionChain().draw(rng=np.random.default_rng(0)).vocoder is None
    vocoded = C.apply_conditions(clip, plan=plan, rng=rng, chain=augment.condition_chain)
    copy = augmented_features(clip, config=config, augment=augment,
                              rng=np.random.default_rng(0))
    # the float32 spectrogram path against the float64 one
    np.testing.assert_allclose(copy, extract_features(vocoded, config=config), rtol=1e-5,
                               atol=1e-3)
    plain = extract_features(C.pcm16(clip), config=config)
    assert np.abs(copy - plain).max() > 0.1


def test_pitch_shift_moves_a_tone_and_keeps_length():
    pytest.importorskip("pedalboard")
    sr = 16000
    t = np.arange(2 * sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 200.0 * t)
    for semitones in (-2.0, 2.0):
        out = C.pitch_shift(tone, sr=sr, semitones=semitones)
        assert out.shape == tone.shape
        f, p = scipy.signal.welch(out[sr // 4:-sr // 4], fs=sr, nperseg=8192)
        assert f[p.argmax()] == pytest.approx(200.0 * 2 ** (semitones / 12), rel=0.025)
    assert np.array_equal(C.pitch_shift(tone, sr=sr, semitones=0.0), tone)
    with pytest.raises(ParameterError):
        C.pitch_shift(tone, sr=sr, semitones=13.0)


@pytest.mark.parametrize("preset, field, library, transform", [
    ("pitch", "pitch_steps", "pedalboard",
     lambda clip, step: C.pitch_shift(clip, semitones=step)),
    ("voice_eq", "voice_factors", "pyworld",
     lambda clip, factor: C.voice_change(clip, factor=factor)),
])
def test_pitch_and_voice_copies_are_the_changed_voice(clip, preset, field, library,
                                                      transform):
    """A pitch (voice) copy is the clip shifted by one of the preset's steps (changed by
    one of its factors), drawn from the copy's rng; out-of-range values are refused. The
    presets' hashes are new and the older presets' unchanged by the new fields."""
    pytest.importorskip(library)
    from ser_classic.features import augmented_features, extract_features
    from ser_classic.pipeline import AUGMENT_VARIANTS

    augment = AugmentConfig(n_copies=4, **dict(AUGMENT_VARIANTS[preset], colour_db=None))
    assert augment.hash not in ("762e5e4a0201", "f405408431b1")
    assert AugmentConfig(**AUGMENT_VARIANTS["pitch_eq"]).hash == "2888d427d123"
    config = FeatureConfig()
    drawn = set()
    for seed in range(3):
        value = getattr(augment, field)[np.random.default_rng(seed).integers(4)]
        drawn.add(value)
        copy = augmented_features(clip, config=config, augment=augment,
                                  rng=np.random.default_rng(seed))
        changed = extract_features(transform(clip, value), config=config)
        np.testing.assert_allclose(copy, changed, rtol=1e-5, atol=1e-3)
        assert np.abs(copy - extract_features(clip, config=config)).max() > 0.1
    assert len(drawn) > 1
    with pytest.raises(ParameterError, match=field):
        AugmentConfig(**{field: (20.0,)})


def test_conditions_copies_are_cached_and_keyed_by_their_talkers(small_manifest, tmp_path):
    pytest.importorskip("pedalboard")
    pytest.importorskip("pyroomacoustics")
    from ser_classic.pipeline import augmented_features

    rows = small_manifest.iloc[::20].reset_index(drop=True)  # 12 clips, 4 speakers
    config = FeatureConfig()
    first = augmented_features("conditions", rows, config=config, copies=2,
                               cache_dir=tmp_path)
    entries = sorted(tmp_path.rglob("*.npy"))
    assert len(first) == 2 and len(entries) == 2 * len(rows)
    again = augmented_features("conditions", rows, config=config, copies=2,
                               cache_dir=tmp_path)
    assert sorted(tmp_path.rglob("*.npy")) == entries  # all read from the cache
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.isnan(first[0]).any() and not np.array_equal(first[0], first[1])
    # other talker groups change exactly the copies that drew babble
    groups = (rows["speaker"].isin(["ravdess_01", "ravdess_02"])).to_numpy().astype(int)
    other = augmented_features("conditions", rows, config=config, copies=2,
                               cache_dir=tmp_path, groups=groups)
    plans = []
    from ser_classic.features import _augment_rng

    for k in range(2):
        plans.append([C.ConditionChain().draw(rng=_augment_rng(s, 0, k))
                      for s in rows["sha256"]])
    for k in range(2):
        babble = np.array([p.uses_talkers for p in plans[k]])
        same = np.all(first[k] == other[k], axis=1)
        assert np.array_equal(same, ~babble)
    union = augmented_features("vtlp+conditions", rows, config=config, copies=1,
                               cache_dir=tmp_path)
    assert len(union) == 2 and np.array_equal(union[1], first[0])


def test_condition_rows_keep_test_and_talker_speakers_apart(bench):
    records = [{"path": f"{s}/{i}.flac", "speaker": s, "emotion": e}
               for s in ("a", "b", "c", "d") for i, e in enumerate(["happy", "sad"] * 10)]
    rows, talkers = bench.condition_rows(records, speakers=("a", "b"), n=12, seed=3,
                                         emotions={"happy"})
    assert len(rows) == 12 and {r["speaker"] for r in rows} <= {"a", "b"}
    assert {r["emotion"] for r in rows} == {"happy"}
    assert len(talkers) == 40 and {r["speaker"] for r in talkers} == {"c", "d"}  # all
    again = bench.condition_rows(records, speakers=("a", "b"), n=12, seed=3,
                                 emotions={"happy"})
    assert again == (rows, talkers)
    every, _ = bench.condition_rows(records, speakers=("a",), n=0, seed=3)
    assert len(every) == 20


def test_inner_folds_never_hold_the_held_out_actors(bench):
    speakers = [f"ravdess_{i:02d}" for i in range(1, 25)] + ["tess_OAF", "emovo_f1"]
    folds = bench.inner_folds(speakers * 2)
    assert [len(f) for f in folds] == [4] * 5
    flat = [s for f in folds for s in f]
    assert flat == sorted(set(flat)) and not set(flat) & set(bench.HOLDOUT)
    assert all(s.startswith("ravdess_") for s in flat)
    with pytest.raises(RuntimeError, match="held-out"):
        bench.inner_conditions(lambda k, actors: {}, [{"speaker": "ravdess_21"}], n=1,
                               seed=0)


def test_invariance_scores_speaker_norm_models_with_both_references(bench):
    """Real clips and shipped models: a speaker_norm model gets a clean-reference and a
    [same chain] column (a strict one only its own); an exact identity keeps both at
    agreement 1, the -60 dBFS floor moves the clean-reference column more."""
    actors = {s: sorted((ROOT.parent / f"shared/data/ravdess/Actor_{s}").glob("*.flac"))
              for s in ("21", "22")}
    rows = [{"path": str(p), "speaker": f"ravdess_{s}"} for s, ps in actors.items()
            for p in ps[:12]]
    inv = bench.run_invariance([Path("models/student"), Path("models/student-speaker_norm")],
                               rows, seed=0, names=["strict", "speaker_norm"])
    chain = f"speaker_norm {bench.SAME_CHAIN}"  # keyed by the names given
    assert set(inv["models"]) == {"strict", "speaker_norm", chain}
    for per in inv["transforms"].values():
        assert set(per) == set(inv["models"])
    identity = inv["transforms"]["PCM16 int16 array"]
    assert all(r["agreement"] == 1.0 and r["mean_abs_dp"] < 0.01 for r in identity.values())
    floor = inv["transforms"]["-60 dBFS white noise floor (16-bit)"]
    assert floor[chain]["mean_abs_dp"] < floor["speaker_norm"]["mean_abs_dp"]


def test_colourings_tilt_the_clip_as_named_and_are_scored_in_their_place(bench, clip):
    """The microphone colourings on a real clip: each shelf moves its band by about its
    gain, the output is 16-bit; ``run_invariance(transforms=)`` scores those and no
    others."""
    colourings = bench.colouring_transforms()
    rng = np.random.default_rng(0)

    def change_db(name, lo, hi):
        out, sr = colourings[name](clip, rng)
        assert sr == 16000 and out.shape == clip.shape
        np.testing.assert_array_equal(out, C.pcm16(out))
        return 10 * np.log10(_band_power(out, lo, hi) / _band_power(clip, lo, hi))

    assert change_db("high shelf +6 dB at 2 kHz (brighter)", 4000, 7500) > 5.0
    assert change_db("high shelf -6 dB at 2 kHz (darker)", 4000, 7500) < -5.0
    assert abs(change_db("high shelf -6 dB at 2 kHz (darker)", 100, 500)) < 0.5
    assert change_db("low shelf -6 dB at 200 Hz (thinner)", 60, 120) < -4.0
    rows = [{"path": str(p), "speaker": "ravdess_21"} for p in sorted(
        (ROOT.parent / "shared/data/ravdess/Actor_21").glob("*.flac"))[:4]]
    inv = bench.run_invariance([Path("models/student")], rows, seed=0, names=["strict"],
                               transforms=colourings)
    assert list(inv["transforms"]) == list(colourings)


def test_each_clip_is_normalised_by_its_speakers_other_clips(bench):
    """The invariance's speaker statistics leave the scored clip out: the library's own
    path, enrolled on the speaker's other clips."""
    import ser_classic

    paths = [str(p) for p in sorted(
        (ROOT.parent / "shared/data/ravdess/Actor_23").glob("*.flac"))[:5]]
    rec = ser_classic.load("deployed-speaker_norm")
    X = np.vstack([rec.features(load_audio(p), sr=16000)[0] for p in paths])
    P = bench._leave_one_out_proba(rec, X, X, np.array(["a"] * 5))
    for i, path in enumerate(paths):
        voice = rec.enroll(paths[:i] + paths[i + 1:])
        np.testing.assert_allclose(P[i], rec.predict_proba([path], speaker=voice)[0],
                                   atol=1e-6)


def test_benchmark_vocodes_with_world_last_and_others_keep_their_seeds(bench, clip):
    """The benchmark's WORLD condition comes after the others, which keep their order (and
    so their seeds) and are those the calibration and atypicality reports measured; it
    resynthesises the clip (same rate, length and level, other samples) and is held to the
    vocoded target."""
    pytest.importorskip("pyworld")  # the augment extra
    y = clip[:16000]
    args = {"babble_talkers": [clip[16000:32000]] * 4, "rir": C.room_impulse_response()}
    plain = bench.condition_transforms(**args)
    every = bench.condition_transforms(**args, world=True)
    assert list(every) == [*plain, bench.WORLD]
    out, sr = every[bench.WORLD](y, np.random.default_rng(0))
    assert sr == 16000 and out.shape == y.shape
    assert np.sqrt(np.mean(out**2) / np.mean(y**2)) == pytest.approx(1.0, rel=0.05)
    assert np.abs(out - y).max() > 0.01 * np.abs(y).max()
    assert bench._target_of(bench.WORLD) == bench.TARGETS["vocoded"]


def test_inner_folds_score_world_when_asked(bench, small_manifest, feature_cache, tmp_path):
    """``--world`` of the inner-fold ablations: a real model (trained on actors 1-4) scored
    in the inner folds of actors 5-12 under the benchmark's 15 conditions, WORLD last; the
    reports name 13 or 14 degradations, and runs that differ in it are not merged."""
    pytest.importorskip("pyworld")
    import ser_classic

    model = ser_classic.train(small_manifest, model="logreg", corpora="ravdess",
                              augment="none", params={"clf__C": 0.01},
                              cache_dir=feature_cache)
    model.save(tmp_path / "logreg")
    actors = {f"ravdess_{i:02d}" for i in range(5, 13)}
    records = [r for r in bench.inner_records(ROOT.parent / "shared/data/ravdess")
               if r["speaker"] in actors]
    inner = bench.inner_conditions(lambda k, fold: {"logreg": tmp_path / "logreg"},
                                   records, n=1, seed=0, world=True)
    assert len(inner["folds"]) == 2 and len(inner["models"]) == 2
    names = list(inner["conditions"])
    assert names[0] == "clean" and names[-1] == bench.WORLD
    assert len(names) == 1 + bench.degradation_count(world=True) == 15
    assert bench.degradation_count() == 13
    for entry in inner["conditions"].values():
        assert 0.0 <= entry["logreg teacher"]["accuracy"] <= 1.0
    parser = bench.ablation_parser("doc", name="x")
    assert not parser.parse_args([]).world and parser.parse_args(["--world"]).world
    run = {"seed": 0, "inner_folds": inner["folds"], "command": "c", "seconds": 1.0,
           "normalizations": {"strict": {}}}
    with pytest.raises(RuntimeError, match="WORLD"):
        bench.merge_runs([{**run, "world": True}, {**run, "world": False,
                          "normalizations": {"speaker_norm": {}}}], command="c")


def test_agreement_intervals_say_which_misses_40_clips_cannot_resolve(bench):
    def inv(*agreements):
        return {"n_clips": 40, "transforms": {f"t{i}": {"m": {"agreement": a}}
                                              for i, a in enumerate(agreements)}}

    text = bench._agreement_intervals(inv(37 / 40, 20 / 40, 1.0))
    assert "37 / 40 (0.93): [0.801, 0.974]" in text and "20 / 40" in text
    assert "The interval of 0.93 still reaches 0.95" in text  # 0.50 does not
    assert "The intervals of 0.93 and 0.90 still reach" in bench._agreement_intervals(
        inv(37 / 40, 36 / 40))
    assert bench._agreement_intervals(inv(20 / 40)).endswith("beyond doubt.")
    assert bench._agreement_intervals(inv(1.0, 0.95)).startswith("Every agreement meets")


def test_student_gaps_say_which_item8_misses_the_clips_resolve(bench):
    """Student minus teacher accuracy on the same clips, with a paired bootstrap CI: on
    200 clips a gap of 0.20 is resolved, one of 0.04 is not, equal hits are within the
    margin; the mean over the conditions is the gap of each clip's mean hit."""
    teacher = np.arange(200) % 10 < 6  # 0.60
    far = teacher & (np.arange(200) % 10 < 4)  # 0.40: -0.20
    near = teacher.copy()
    near[np.flatnonzero(teacher)[::15]] = False  # -0.04, 8 scattered clips
    gaps = bench.student_gaps({"clean": {"t": teacher, "far": far, "near": near},
                               "noise": {"t": teacher, "far": teacher, "near": teacher}},
                              {"far": "t", "near": "t"}, seed=0)
    far_clean, near_clean = (gaps[s]["per_condition"]["clean"] for s in ("far", "near"))
    assert far_clean["verdict"] == "missed" and far_clean["gap"] == pytest.approx(-0.20)
    assert near_clean["verdict"] == "unresolved" and near_clean["gap"] == pytest.approx(-0.04)
    assert gaps["far"]["per_condition"]["noise"]["verdict"] == "met"
    assert gaps["far"]["mean"]["gap"] == pytest.approx(-0.10)  # of the clips' mean hits
    table = "\n".join(bench.student_gaps_md(gaps))
    assert "| clean | -0.200 [" in table and "✗" in table and "?" in table


def test_student_gap_over_speakers_resamples_whole_speakers(bench):
    """With ``groups`` the bootstrap draws whole speakers: one clip per speaker gives the
    clips' CI; a loss concentrated in one of 10 speakers gives a wider one."""
    teacher = np.ones(200, dtype=bool)
    student = teacher.copy()
    student[:10] = False  # -0.05, all of it on the first speaker's clips
    clips = bench.student_gap(teacher, student, seed=0)
    assert bench.student_gap(teacher, student, seed=0, groups=np.arange(200)) == clips
    speakers = np.repeat(np.arange(10), 20)
    over = bench.student_gap(teacher, student, seed=0, groups=speakers)
    assert over["gap"] == clips["gap"] == pytest.approx(-0.05)
    assert over["ci"][0] < clips["ci"][0] and over["ci"][1] >= clips["ci"][1]
    assert over["ci"][1] == 0.0  # resamples without the first speaker lose nothing


def test_held_out_teachers_are_retrained_when_the_stored_parameters_change(bench):
    stored = bench._stored_training("teacher")  # the shipped teacher's card
    assert set(stored["params"]) == {"logreg", "ridge"}
    cached = {**stored, "excluded_speakers": list(bench.HOLDOUT)}
    assert not bench.is_stale(cached, stored)
    assert bench.is_stale(None, stored)
    assert bench.is_stale({**cached, "excluded_speakers": ["ravdess_21"]}, stored)
    assert bench.is_stale({**cached, "augment": {"variant": "none"}}, stored)
    # fixed parameters (a selection file's): a twin must have the same ones
    fixed = {**stored, "params_source": {"selection_command": "evaluate"}}
    assert not bench.is_stale({**fixed, "excluded_speakers": list(bench.HOLDOUT)}, fixed)
    assert bench.is_stale({**fixed, "excluded_speakers": list(bench.HOLDOUT),
                           "params": {**stored["params"], "logreg": {"clf__C": 1e-4}}},
                          fixed)
    # parameters tuned on the training rows: a twin's own grid points, the same tuning
    tuned = {**stored, "params_source": {"tuned": "speaker+corpus"}}
    twin = {**tuned, "excluded_speakers": list(bench.HOLDOUT),
            "params": {"logreg": {"clf__C": 1e-4}, "ridge": {"clf__alpha": 1.0}}}
    assert not bench.is_stale(twin, tuned)
    assert bench.is_stale({**twin, "params_source": {"tuned": "corpus"}}, tuned)
    assert bench.is_stale(twin, {**tuned, "params_source": {}})
    assert bench.recipe_differs({**tuned, "corpora": ["emovo"]}, tuned)
    assert not bench.recipe_differs({**tuned, "corpora": ["emovo"]}, tuned,
                                    ignore=("corpora",))
    assert bench.teacher_params("strict") == stored["params"]
    assert bench.teacher_params("speaker_norm") == bench._stored_training(
        "teacher-speaker_norm")["params"]
    train_args, _ = bench._recipe("teacher")
    assert ("--tune" in train_args) == bool(stored.get("params_source", {}).get("tuned"))


def test_cached_fold_models_are_retrained_when_the_recipe_changes(bench, tmp_path):
    from ser_classic.store import resolve

    shipped = resolve("teacher")
    params = bench.teacher_params("strict")
    recipe = dict(augment=bench.RECIPE_AUGMENT, copies=bench.RECIPE_COPIES)
    assert bench.trained_with(shipped, params, **recipe)
    assert bench.trained_with(shipped, params, **recipe, seed=0, normalization="strict")
    assert not bench.trained_with(shipped, {"logreg": {"clf__C": 1.0}}, **recipe)
    assert not bench.trained_with(tmp_path / "missing", params, **recipe)
    # other augmentation, copies, seed or normalisation retrain a fold model
    assert not bench.trained_with(shipped, params, augment="vtlp", copies=1)
    assert not bench.trained_with(shipped, params, augment=bench.RECIPE_AUGMENT, copies=2)
    assert not bench.trained_with(shipped, params, **recipe, seed=1)
    assert not bench.trained_with(shipped, params, **recipe, normalization="speaker_norm")


def test_cached_models_fitted_by_other_code_are_refitted(bench, tmp_path):
    """A cached model whose card names another fit revision (or none: saved before cards
    recorded it) is not reused, whatever its recipe facts; the shipped models record the
    library's."""
    import json
    import shutil

    from ser_classic.artifact import FIT_REVISION, load_artifact
    from ser_classic.store import resolve

    shipped = resolve("teacher")
    assert load_artifact(shipped, load_joblib=False).card["fit_revision"] == FIT_REVISION
    assert bench.fitted_card(shipped)["model_id"] == load_artifact(
        shipped, load_joblib=False).card["model_id"]
    assert bench.fitted_card(tmp_path / "missing") is None
    params = bench.teacher_params("strict")
    recipe = dict(augment=bench.RECIPE_AUGMENT, copies=bench.RECIPE_COPIES)
    for revision in (FIT_REVISION - 1, None):
        older = tmp_path / f"older{revision}"
        shutil.copytree(shipped, older)
        card = json.loads((older / "model.json").read_text())
        if revision is None:
            del card["fit_revision"]
        else:
            card["fit_revision"] = revision
        (older / "model.json").write_text(json.dumps(card, indent=2))
        load_artifact(older, load_joblib=False)  # still valid: outside the integrity hash
        assert bench.fitted_card(older) is None
        assert not bench.trained_with(older, params, **recipe)


def test_the_inner_fold_recipe_is_the_stored_teachers_and_the_makefiles(bench):
    """The inner-fold ablations retrain the stored teachers' augmentation, which is the
    Makefile's AUGMENT and COPIES (a redeployment with another preset moves all three)."""
    import json
    import re

    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^AUGMENT \?= (\S+)$", makefile, re.M)[1] == bench.RECIPE_AUGMENT
    assert int(re.search(r"^COPIES \?= (\d+)$", makefile, re.M)[1]) == bench.RECIPE_COPIES
    for alias in ("teacher", "teacher-speaker_norm", "student", "student-speaker_norm"):
        augment = bench._stored_training(alias)["augment"]
        assert (augment["variant"], augment["copies"]) == (bench.RECIPE_AUGMENT,
                                                          bench.RECIPE_COPIES)
    # the family's committed RAVDESS CVs (make run, make loso-selected) train that recipe
    for report in ("cv_selected", "cv_selected_loso"):
        summary = json.loads((ROOT / "reports" / report / "summary.json").read_text())
        assert summary["augment"] == bench.RECIPE_AUGMENT, report
        assert f"--augment {bench.RECIPE_AUGMENT} --copies {bench.RECIPE_COPIES}" in (
            summary["command"])


def test_a_stage_left_out_is_kept_from_the_same_run(bench, tmp_path):
    """``--stages`` of the inner-fold ablations: a stage not run is taken from the report
    at --out, only when that report is of the same candidates, folds and training copies,
    and the report names the commands that made it."""
    import json

    stages = {"conditions": ("conditions", "gaps"), "loco": ("loco",)}
    same = ("students", "fold_clips", "seed")
    header = {"students": ["a", "b"], "fold_clips": 104, "seed": 0,
              "augment": "vtlp+conditions", "copies": 1}
    previous = {**header, "command": "merged", "runs": {
        "strict": {"command": "run strict", "seconds": 1.0},
        "speaker_norm": {"command": "run sn", "seconds": 1.0}},
        "normalizations": {n: {"conditions": f"old {n}", "gaps": 1, "loco": f"loco {n}",
                               "decision": "x"} for n in ("strict", "speaker_norm")}}
    (tmp_path / "summary.json").write_text(json.dumps(previous))

    summary = dict(header)
    kept = bench.kept_stages(summary, ["strict"], out=tmp_path, run=["conditions"],
                             stages=stages, same=same)
    assert kept == {"strict": {"loco": "loco strict"}}
    assert summary["stage_commands"] == {"loco": ["run strict", "run sn"]}
    assert bench.kept_lines(summary) == [
        "Stage `loco` kept from an earlier run: `run strict`; `run sn`.\n"]
    assert bench.kept_stages(dict(header), ["strict"], out=tmp_path,
                             run=["conditions", "loco"], stages=stages, same=same) == {}
    for other, norms, run in (({**header, "fold_clips": 48}, ["strict"], ["conditions"]),
                              ({**header, "augment": "vtlp+conditions+pitch"}, ["strict"],
                               ["conditions"]),
                              ({**header, "copies": 2}, ["strict"], ["conditions"]),
                              (header, ["neutral_ref"], ["conditions"]),
                              (header, ["strict"], ["world"]),
                              (header, ["strict"], [])):
        with pytest.raises(SystemExit):
            bench.kept_stages(dict(other), norms, out=tmp_path, run=run, stages=stages,
                              same=same)
    with pytest.raises(SystemExit, match="holds no run"):
        bench.kept_stages(dict(header), ["strict"], out=tmp_path / "none", run=["loco"],
                          stages=stages, same=same)


def test_a_chain_drawn_per_voice_is_the_voice_plan_and_the_clip_stream(small_manifest,
                                                                        tmp_path):
    pytest.importorskip("pedalboard")
    pytest.importorskip("pyroomacoustics")
    from ser_classic.features import _augment_rng, _voice_rng, augmented_features, extract_batch
    from ser_classic.pipeline import AUGMENT_VARIANTS
    from ser_classic.pipeline import augmented_features as copies_of

    per_clip = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS["conditions_eq"])
    per_voice = AugmentConfig(n_copies=4, **AUGMENT_VARIANTS["conditions_voice"])
    assert per_clip.hash == "be38645c8219"  # the deployed copies keep their cache keys
    assert per_voice.hash != per_clip.hash
    with pytest.raises(ParameterError, match="conditions copies"):
        AugmentConfig(chain_per="voice")
    with pytest.raises(ParameterError, match="chain_per"):
        AugmentConfig(conditions=True, chain_per="speaker")

    rows = small_manifest.iloc[::40].reset_index(drop=True)  # 6 clips of 4 actors
    config = FeatureConfig()
    groups = rows["speaker"].to_numpy()  # no babble talkers: pink noise instead
    (X,) = copies_of("conditions_voice", rows, config=config, copies=1, cache_dir=tmp_path,
                     groups=groups)
    chain = per_voice.condition_chain
    plans = {}
    for i, row in rows.iterrows():  # the voice's plan, every other draw the clip's
        rng = _augment_rng(row["sha256"], 0, 0)
        chain.draw(rng=rng)
        plans[row["speaker"]] = chain.draw(rng=_voice_rng(row["speaker"], 0, 0))
        expected = augmented_features(load_audio(row["path"], sr=16000), config=config,
                                      augment=per_voice, rng=rng, plan=plans[row["speaker"]])
        np.testing.assert_array_equal(X[i], expected)
    assert len({repr(p) for p in plans.values()}) == len(plans)  # one plan per voice
    # the voice is part of the cache key: other names, other copies
    renamed = rows.assign(speaker=rows["speaker"] + "_b")
    (X_b,) = copies_of("conditions_voice", renamed, config=config, copies=1,
                       cache_dir=tmp_path, groups=groups)
    assert len(list(tmp_path.rglob("*.npy"))) == 2 * len(rows)
    assert not np.any(np.all(X == X_b, axis=1))
    with pytest.raises(ParameterError, match="voices"):
        extract_batch(rows["path"], sha256=rows["sha256"], config=config, augment=per_voice)


def test_warp_envelope_moves_a_peak_by_its_factor():
    bins = np.arange(513, dtype=np.float64)
    sp = np.exp(-0.5 * ((bins - 100.0) / 4.0) ** 2)[None, :].repeat(3, axis=0) + 1e-6
    for factor in (1.12, 1 / 1.12):
        warped = C.warp_envelope(sp, factor=factor)
        assert warped.shape == sp.shape and warped.flags.c_contiguous
        assert np.argmax(warped[0]) == pytest.approx(100.0 * factor, abs=1)
    assert np.array_equal(C.warp_envelope(sp, factor=1.0), sp)
    with pytest.raises(ParameterError, match="factor"):
        C.warp_envelope(sp, factor=0.0)


def test_voice_change_moves_f0_and_formants_together(clip):
    """Another voice of a real clip: the re-estimated F0 moves by the factor, and the
    stretch of the log envelope below 4 kHz that best matches the new one is the factor;
    length and RMS are kept."""
    pyworld = pytest.importorskip("pyworld")

    def analysis(y):
        f0, sp, _ = pyworld.wav2world(np.ascontiguousarray(y), 16000, frame_period=5.0)
        return f0, sp

    f0, sp = analysis(clip)
    stretches = np.round(np.arange(0.80, 1.25, 0.01), 2)
    for factor in (1.12, 1 / 1.12):
        out = C.voice_change(clip, factor=factor)
        assert out.shape == clip.shape and out.dtype == np.float64
        assert np.sqrt(np.mean(out**2)) == pytest.approx(np.sqrt(np.mean(clip**2)), rel=1e-6)
        f0_out, sp_out = analysis(out)
        both = (f0 > 0) & (f0_out > 0)  # frames voiced before and after
        assert both.sum() > 200
        assert np.median(f0_out[both] / f0[both]) == pytest.approx(factor, rel=0.02)
        before, after = np.log(sp[both].mean(axis=0)), np.log(sp_out[both].mean(axis=0))
        band = slice(0, sp.shape[1] // 2)  # below 4 kHz
        fit = [np.corrcoef(C.warp_envelope(before[None], factor=w)[0][band], after[band])[0, 1]
               for w in stretches]
        assert stretches[int(np.argmax(fit))] == pytest.approx(factor, abs=0.015)
    with pytest.raises(ParameterError, match="factor"):
        C.voice_change(clip, factor=3.0)
