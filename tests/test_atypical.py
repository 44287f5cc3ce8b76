"""Atypical inputs (noise, tones, music-like signals): typicality statistics stored at
training, probabilities shrunk towards uniform in every scoring path, old models
unchanged."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import ser_classic
from ser_classic.artifact import load_artifact, set_typicality
from ser_classic.errors import ArtifactError, ParameterError
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.recognizer import SpeakerStats
from ser_classic.store import resolve
from ser_classic.typicality import Typicality, shrink_weight

from .conftest import DATA

SR = 16000
HELD_OUT = "ravdess_05"  # never in small_manifest's training actors (1-4)


def _noises(seed: int = 0) -> dict[str, np.ndarray]:
    """Real non-speech: white, pink and brown noise, a tone, a chord, a music-like signal."""
    rng = np.random.default_rng(seed)
    n = 3 * SR
    spectrum, f = np.fft.rfft(rng.standard_normal(n)), np.fft.rfftfreq(n)
    f[0] = f[1]
    t = np.arange(n) / SR
    out = {"white": rng.standard_normal(n),
           "pink": np.fft.irfft(spectrum / np.sqrt(f), n),
           "brown": np.fft.irfft(spectrum / f, n),
           "tone": np.sin(2 * np.pi * 440 * t),
           "chord": sum(np.sin(2 * np.pi * 220 * r * t) for r in (1, 1.26, 1.5))}
    notes = np.zeros(n)
    for k, start in enumerate(range(0, n, SR // 4)):  # a note every 250 ms
        tt = t[:min(SR // 4, n - start)]
        notes[start:start + tt.size] = np.exp(-6 * tt) * np.sin(
            2 * np.pi * 220 * 2 ** ((k * 5 % 12) / 12) * tt)
    out["music-like"] = notes
    return {k: 0.3 * y / np.max(np.abs(y)) for k, y in out.items()}


def _held_out_clips(n: int = 12) -> list[np.ndarray]:
    paths = sorted((DATA / "ravdess" / "Actor_05").glob("*.flac"))[::5][:n]
    return [ser_classic.load_audio(p, sr=SR) for p in paths]


@pytest.fixture(scope="module")
def trained(small_manifest, feature_cache, tmp_path_factory):
    """A logistic regression trained by ``ser_classic.train`` on four actors."""
    model = ser_classic.train(small_manifest, model="logreg", corpora="ravdess",
                              augment="none", params={"clf__C": 0.01},
                              cache_dir=feature_cache)
    out = tmp_path_factory.mktemp("atypical") / "logreg"
    model.save(out)
    return model, out


@pytest.fixture(scope="module")
def deployed_typ(small_manifest, feature_cache, tmp_path_factory):
    """The shipped student with typicality statistics of four actors' clips."""
    rec = ser_classic.load("deployed")
    X, errors, _ = extract_batch(small_manifest["path"], sha256=small_manifest["sha256"],
                                 config=rec.feature_config, cache_dir=feature_cache)
    assert not errors
    out = tmp_path_factory.mktemp("atypical") / "deployed"
    shutil.copytree(resolve("deployed"), out)
    set_typicality(out, Typicality.fit(X, groups=small_manifest["speaker"],
                                       columns=rec.card["used_features"]))
    return out


def test_training_stores_the_statistics_of_its_rows(trained, small_manifest, feature_cache):
    model, out = trained
    typ = model.typicality
    card = json.loads((out / "model.json").read_text())
    assert card["typicality"]["threshold"] == typ.threshold and typ.width > 0
    X, _, _ = extract_batch(small_manifest["path"], sha256=small_manifest["sha256"],
                            config=FeatureConfig(), cache_dir=feature_cache)
    np.testing.assert_allclose(typ.center, X.mean(axis=0), rtol=1e-6, atol=1e-9)
    a = typ.statistic(X)
    assert 0.4 < np.median(a) < 0.8  # the training rows themselves (trimmed RMS z)
    assert np.mean(a > typ.threshold) < 0.05  # threshold from held-out training speakers
    assert ser_classic.load(out).typicality.threshold == typ.threshold


def test_noise_and_music_get_no_confident_emotion(trained):
    _, out = trained
    rec = ser_classic.load(out)
    noises = _noises()
    scores = rec.score(list(noises.values()), sr=SR, targets="happy")
    k = len(rec.classes_)
    assert scores.atypical.all(), dict(zip(noises, scores.atypicality, strict=True))
    assert scores.proba.max(axis=1).max() <= 0.35, scores.proba.max(axis=1)
    assert np.all(scores.penalty >= 1 - 0.35)
    raw = rec.artifact.estimator.predict_proba(
        rec.features(list(noises.values()), sr=SR)[0].astype(np.float32))
    assert raw.max(axis=1).max() > 0.5  # the classifier alone is confident about some
    np.testing.assert_array_equal(raw.argmax(axis=1), scores.proba.argmax(axis=1))
    assert np.all(scores.proba.max(axis=1) > 1 / k)


def test_held_out_speech_is_unchanged_within_tolerance(trained):
    _, out = trained
    rec = ser_classic.load(out)
    clips = _held_out_clips()
    X, _ = rec.features(clips, sr=SR)
    shrunk = rec.proba_from_features(X)
    raw = rec.artifact.estimator.predict_proba(X.astype(np.float32).astype(np.float64))
    a = rec.atypicality_from_features(X)
    typical = ~rec.atypical(a)
    assert typical.mean() >= 0.75, a
    np.testing.assert_allclose(shrunk[typical], raw[typical], atol=1e-12)
    assert np.abs(shrunk - raw).max(axis=1).mean() <= 0.05
    np.testing.assert_array_equal(shrunk.argmax(axis=1), raw.argmax(axis=1))


def test_the_shrink_rule():
    a = np.array([0.5, 1.0, 2.0, 3.0, 30.0, 3000.0])
    r = shrink_weight(a, threshold=1.0, width=1.0)
    np.testing.assert_array_equal(r[:2], 0.0)
    assert r[2] == pytest.approx(0.5) and np.all(np.diff(r[1:]) > 0) and r[-1] < 1
    typ = Typicality(columns=np.arange(2), center=np.zeros(2), scale=np.ones(2),
                     threshold=1.0, width=1.0)
    proba = np.array([[0.9, 0.05, 0.05]] * a.size)
    shrunk = typ.shrink(proba, a)
    np.testing.assert_allclose(shrunk.sum(axis=1), 1.0)
    np.testing.assert_array_equal(shrunk[:2], proba[:2])
    assert np.all(shrunk.argmax(axis=1) == 0) and shrunk[-1, 0] == pytest.approx(1 / 3)
    with pytest.raises(ParameterError):
        Typicality.fit(np.ones((1, 3)))


def test_models_saved_without_statistics_are_unchanged(small_manifest, feature_cache):
    from .deploy_models import tiny_model

    path = tiny_model(small_manifest, feature_cache)
    rec = ser_classic.load(path)
    assert rec.typicality is None and "typicality" not in rec.card
    clips = _held_out_clips(4) + list(_noises().values())[:2]
    out = rec.predict_proba(clips, sr=SR, on_error="skip")
    X, _ = rec.features(clips, sr=SR)
    expected = rec.artifact.estimator.predict_proba(X.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(out.proba, expected)
    assert np.isnan(out.atypicality).all() and not out.atypical.any()
    shipped = ser_classic.load("deployed")  # make run stores the statistics, sealed
    assert shipped.typicality is not None
    scores = shipped.score(clips, sr=SR, targets="sad")
    assert not scores.atypical[:4].any() and scores.atypical[4:].all()  # speech, noise


def test_edited_statistics_are_refused(trained, tmp_path):
    _, out = trained
    edited = tmp_path / "edited"
    shutil.copytree(out, edited)
    card = json.loads((edited / "model.json").read_text())
    card["typicality"]["threshold"] = 1e9  # would switch the shrink off
    (edited / "model.json").write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="integrity"):
        load_artifact(edited, load_joblib=False)
    card["typicality"]["scale"] = card["typicality"]["scale"][:-1]
    (edited / "model.json").write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="typicality"):
        load_artifact(edited, load_joblib=False)


def test_cli_predict_reports_atypicality(trained, tmp_path):
    import soundfile as sf

    _, out = trained
    sf.write(tmp_path / "pink.wav", _noises()["pink"], SR)
    sf.write(tmp_path / "speech.wav", _held_out_clips(1)[0], SR)
    run = subprocess.run([sys.executable, "-m", "ser_classic.cli", "predict", str(tmp_path),
                          "--model", str(out), "--format", "json"],
                         capture_output=True, text=True, check=True)
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(run.stdout)["predictions"]}
    assert rows["pink.wav"]["atypical"] is True
    assert rows["pink.wav"]["atypicality"] > rows["speech.wav"]["atypicality"]
    assert max(v for k, v in rows["pink.wav"].items() if k.startswith("p_")) <= 0.35


def test_service_reports_atypicality(deployed_typ):
    import httpx

    from ser_classic.service import create_app

    from .test_service import _serve, _wav

    server, thread, url = _serve(create_app(ser_classic.load(deployed_typ)))
    try:
        tone, speech = _wav(_noises()["tone"], SR), _wav(_held_out_clips(1)[0], SR)
        body = httpx.post(f"{url}/predict", files={"file": ("tone.wav", tone)},
                          timeout=120).json()
        assert body["atypical"] is True and body["atypicality"] > 2
        assert max(body["probabilities"].values()) <= 0.35
        batch = httpx.post(f"{url}/predict/batch", files=[
            ("files", ("tone.wav", tone)), ("files", ("speech.wav", speech))],
            timeout=120).json()
        flags = [r["atypical"] for r in batch["results"]]
        assert flags[0] is True and batch["results"][1]["atypicality"] < body["atypicality"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_torch_discriminator_shrinks_as_the_numpy_scorer(deployed_typ):
    torch = pytest.importorskip("torch")
    from ser_classic.torch import EmotionDiscriminator

    rec = ser_classic.load(deployed_typ)
    disc = EmotionDiscriminator(deployed_typ, dtype=torch.float64)
    clips = [np.resize(y, 2 * SR) for y in _held_out_clips(3)]
    clips += [y[:2 * SR] for y in _noises().values()]
    expected = rec.score(clips, sr=SR, targets="happy")
    assert expected.atypical.sum() >= 5 and (~expected.atypical).sum() >= 2
    y = torch.tensor(np.stack(clips), requires_grad=True)
    log_proba = disc(y, sr=SR)
    np.testing.assert_allclose(log_proba.exp().detach().numpy(), expected.proba, atol=1e-4)
    np.testing.assert_allclose(disc.atypicality(y.detach(), sr=SR).numpy(),
                               expected.atypicality, rtol=1e-4)
    log_proba[:, list(disc.classes).index("happy")].sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_shrink_in_log_space_has_finite_gradients():
    torch = pytest.importorskip("torch")
    from ser_classic.torch._modules import shrink_log_proba

    log_p = torch.log_softmax(torch.tensor([[8.0, 0.0, -4.0]] * 4, dtype=torch.float64),
                              dim=1).requires_grad_()
    a = torch.tensor([0.5, 1.5, 40.0, 1e5], dtype=torch.float64, requires_grad=True)
    out = shrink_log_proba(log_p, a, threshold=1.0, width=0.5)
    typ = Typicality(columns=np.arange(1), center=np.zeros(1), scale=np.ones(1),
                     threshold=1.0, width=0.5)
    np.testing.assert_allclose(out.exp().detach().numpy(),
                               typ.shrink(log_p.exp().detach().numpy(), a.detach().numpy()),
                               rtol=1e-12)
    out[:, 0].sum().backward()
    assert torch.isfinite(log_p.grad).all() and torch.isfinite(a.grad).all()
    assert a.grad[0] == 0 and a.grad[1] < 0  # more atypical: less confident
    assert torch.autograd.gradcheck(
        lambda lp, x: shrink_log_proba(lp, x, threshold=1.0, width=0.5),
        (log_p.detach().requires_grad_(), torch.tensor([1.2, 2.0, 5.0, 9.0],
                                                       dtype=torch.float64,
                                                       requires_grad=True)))


# --------------------------------------------------------------------------- speaker="batch"
@pytest.fixture(scope="module")
def deployed_sn_typ(small_manifest, feature_cache, tmp_path_factory):
    """The shipped speaker-normalised student with the statistics ``train`` / ``distil``
    store (normalised and raw rows, keep chosen in-fold) of four actors' clips."""
    from ser_classic.evaluation import normalized_inputs
    from ser_classic.typicality import training_typicality

    rec = ser_classic.load("deployed-speaker_norm")
    X, errors, _ = extract_batch(small_manifest["path"], sha256=small_manifest["sha256"],
                                 config=rec.feature_config, cache_dir=feature_cache)
    assert not errors
    Xn = normalized_inputs(X, (), small_manifest["speaker"], normalization="speaker_norm")[0]
    typ = training_typicality(small_manifest, X, Xn, normalization="speaker_norm",
                              config=rec.feature_config, columns=rec.card["used_features"],
                              n_nonspeech=20)
    out = tmp_path_factory.mktemp("atypical") / "deployed_sn"
    shutil.copytree(resolve("deployed-speaker_norm"), out)
    set_typicality(out, typ)
    return out, typ


def test_training_typicality_chooses_keep_in_its_folds(deployed_sn_typ, trained):
    _, typ = deployed_sn_typ
    choice = typ.keep_choice
    assert typ.keep in choice["grid"] and typ.raw is not None and typ.raw.keep == typ.keep
    assert [r["keep"] for r in choice["per_keep"]] == choice["grid"]
    assert choice["nonspeech"]["clips"] == 20
    for r in choice["per_keep"]:  # each threshold flags about 1 % of held-out speech
        assert r["speech_flagged"] <= 0.05 and 0.5 <= r["auroc"] <= 1
        assert len(r["nonspeech_flagged_each"]) == 2
    card_typ = ser_classic.load(deployed_sn_typ[0]).typicality
    assert card_typ.keep_choice == choice and card_typ.raw.threshold == typ.raw.threshold
    np.testing.assert_array_equal(card_typ.raw.center, typ.raw.center)
    strict = trained[0].typicality  # a strict model: one statistic, keep chosen too
    assert strict.raw is None and strict.keep in strict.keep_choice["grid"]
    assert all(len(r["nonspeech_flagged_each"]) == 1 for r in strict.keep_choice["per_keep"])


def test_choose_keep_sees_when_nothing_separates(small_manifest, feature_cache):
    """Non-speech rows that are in fact speech of the same speakers: little is flagged."""
    from ser_classic.typicality import choose_keep

    X, _, _ = extract_batch(small_manifest["path"], sha256=small_manifest["sha256"],
                            config=FeatureConfig(), cache_dir=feature_cache)
    speakers = small_manifest["speaker"].to_numpy()
    fake = np.arange(len(X)) % 6 == 0
    keep, record = choose_keep(X[~fake], X[fake], groups=speakers[~fake],
                               nonspeech_groups=speakers[fake], grid=(0.5, 1.0))
    assert keep in (0.5, 1.0)
    assert all(r["score"] <= 0.2 and r["auroc"] < 0.8 for r in record["per_keep"])
    with pytest.raises(ParameterError):
        choose_keep(X[~fake], X[fake], groups=speakers[~fake],
                    nonspeech_groups=np.full(fake.sum(), "nobody"))


def test_batch_of_noise_is_flagged_by_a_speaker_normalised_model(deployed_sn_typ, tmp_path):
    out, typ = deployed_sn_typ
    rec = ser_classic.load(out)
    noises = list(_noises().values())
    scores = rec.score(noises, sr=SR, targets="happy", speaker="batch")
    assert scores.atypical.all(), scores.atypicality
    assert scores.proba.max(axis=1).max() <= 0.35, scores.proba.max(axis=1)
    speech = rec.score(_held_out_clips(), sr=SR, targets="happy", speaker="batch")
    assert speech.atypical.mean() <= 0.25, speech.atypicality
    # the statistic: the largest of the normalised one, the raw one and the check of the
    # speaker statistics, each on the first's scale
    X, _ = rec.features(noises, sr=SR)
    Xn = rec._normalise(X, "batch")[0].astype(np.float32).astype(np.float64)
    a_norm = dataclasses.replace(typ, raw=None, reference=None).statistic(Xn)
    a_raw = typ.raw.statistic(X.astype(np.float32).astype(np.float64))
    scale = SpeakerStats.from_features(X).scale
    a_ref = typ.reference.statistic(Xn[:, typ.columns], scale[typ.columns])
    np.testing.assert_allclose(scores.atypicality, np.maximum.reduce([
        a_norm, typ.threshold + typ.width * (a_raw - typ.raw.threshold) / typ.raw.width,
        typ.threshold + typ.width * (a_ref - typ.reference.threshold) / typ.reference.width]))
    assert not np.any(a_norm > typ.threshold)  # normalised by itself, noise looks typical
    with pytest.raises(ParameterError, match="speaker_scale="):
        typ.statistic(Xn, raw=X)
    with pytest.raises(ParameterError, match="raw="):
        typ.statistic(Xn, speaker_scale=scale)
    # an old card (no raw statistics) behaves as before: the noise batch goes unflagged
    old = tmp_path / "old"
    shutil.copytree(out, old)
    set_typicality(old, dataclasses.replace(typ, raw=None, reference=None, keep_choice=None))
    assert "raw" not in json.loads((old / "model.json").read_text())["typicality"]
    before = ser_classic.load(old).score(noises, sr=SR, targets="happy", speaker="batch")
    np.testing.assert_allclose(before.atypicality, a_norm)
    assert not before.atypical.any()


def test_torch_matches_numpy_with_raw_statistics(deployed_sn_typ):
    torch = pytest.importorskip("torch")
    from ser_classic.torch import EmotionDiscriminator

    out, _ = deployed_sn_typ
    rec = ser_classic.load(out)
    disc = EmotionDiscriminator(out, dtype=torch.float64)
    clips = [np.resize(y, 2 * SR) for y in _held_out_clips(4)]
    noise = [y[:2 * SR] for y in _noises().values()]
    voice = rec.enroll(_held_out_clips(12)[4:], sr=SR)
    for batch, speaker in ((noise, "batch"), (clips + noise, voice), (clips, "batch")):
        expected = rec.score(batch, sr=SR, targets="happy", speaker=speaker)
        y = torch.tensor(np.stack(batch), requires_grad=True)
        log_proba = disc(y, sr=SR, speaker=speaker)
        np.testing.assert_allclose(log_proba.exp().detach().numpy(), expected.proba,
                                   atol=1e-4)
        np.testing.assert_allclose(disc.atypicality(y.detach(), sr=SR, speaker=speaker)
                                   .numpy(), expected.atypicality, rtol=1e-4)
        log_proba[:, list(disc.classes).index("happy")].sum().backward()
        assert torch.isfinite(y.grad).all()
    assert expected.atypical.sum() <= 1
    X = disc.features(torch.tensor(np.stack(noise)), sr=SR)
    with pytest.raises(ParameterError, match="scale="):
        disc.classify(X, raw=X)
    with pytest.raises(ParameterError, match="raw="):
        disc.classify(X, scale=torch.ones(X.shape[1], dtype=X.dtype))


def test_a_voice_enrolled_on_another_channel_is_flagged(deployed_sn_typ, tmp_path):
    """The check of the speaker statistics: clips under white noise scored with their
    voice enrolled on clean clips are flagged and lose their confidence; enrolled on clips
    through the same noise, or on as few as 5 clean clips for clean clips, they are not.
    Without the check the mismatched clips keep a confident answer."""
    from ser_classic.conditions import mix_at_snr, white_noise

    out, typ = deployed_sn_typ
    card = ser_classic.load(out).typicality
    assert (card.reference.threshold, card.reference.width) == (
        typ.reference.threshold, typ.reference.width)
    np.testing.assert_array_equal(card.reference.pooled_scale, typ.reference.pooled_scale)
    rng = np.random.default_rng(0)
    clean = _held_out_clips(12)
    noisy = [mix_at_snr(y, white_noise(y.size, rng=rng), 20.0) for y in clean]
    rec = ser_classic.load(out)
    mismatched = rec.score(noisy[:4], sr=SR, targets="happy",
                           speaker=rec.enroll(clean[4:], sr=SR))
    matched = rec.score(noisy[:4], sr=SR, targets="happy",
                        speaker=rec.enroll(noisy[4:], sr=SR))
    few = rec.score(clean[:4], sr=SR, targets="happy", speaker=rec.enroll(clean[4:9], sr=SR))
    assert mismatched.atypical.all() and mismatched.proba.max(axis=1).max() < 0.3
    assert not matched.atypical.any() and not few.atypical.any()
    without = tmp_path / "without"
    shutil.copytree(out, without)
    set_typicality(without, dataclasses.replace(typ, reference=None))
    assert "reference" not in json.loads((without / "model.json").read_text())["typicality"]
    old = ser_classic.load(without).score(noisy[:4], sr=SR, targets="happy",
                                          speaker=rec.enroll(clean[4:], sr=SR))
    assert old.proba.max(axis=1).min() > 0.5 and not old.atypical.all()


def test_reference_check_reads_deviations_in_the_larger_scale():
    """The largest share of (x - speaker mean) / max(speaker scale, pooled within-speaker
    scale): about 1 % of held-out speakers' rows above the threshold, a row far out in
    one feature of fifty above it, and a voice's scale too small (a few clips) floored by
    the pooled one."""
    from ser_classic.typicality import ReferenceCheck

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(8), 60)
    raw = rng.normal(size=(480, 50)) * rng.uniform(0.5, 2, size=(8, 1))[groups] \
        + rng.normal(scale=5, size=(8, 50))[groups]
    check = ReferenceCheck.fit(raw, groups, quantile=0.99, share=0.1)
    assert check.share == 0.1 and np.all((check.pooled_scale > 0.9)
                                         & (check.pooled_scale < 1.6))

    def largest(z):  # the RMS of each row's 5 largest |z| of 50
        return np.sqrt(np.mean(np.sort(z * z, axis=1)[:, -5:], axis=1))

    mean, std = raw[groups == 0].mean(0), raw[groups == 0].std(0)
    rows = raw[groups == 0]
    a = check.statistic((rows - mean) / std, std)
    np.testing.assert_allclose(a, largest((rows - mean) / np.maximum(std, check.pooled_scale)))
    assert np.mean(a > check.threshold) <= 0.05
    far = rows[:1].copy()
    far[0, 3] += 50 * std[3]
    assert check.statistic((far - mean) / std, std)[0] > check.threshold + 5 * check.width
    tiny = std / 10  # statistics of a few clips: the pooled scale bounds the z-scores
    floored = check.statistic((rows - mean) / tiny, tiny)
    np.testing.assert_allclose(floored, largest((rows - mean) / check.pooled_scale))
    assert np.all(floored < 0.3 * largest((rows - mean) / tiny))  # not tenfold
    typ = Typicality.fit(raw, raw=raw, reference=True)  # no speakers: no check
    assert typ.reference is None
