"""The torch discriminator: values of the numpy/ONNX path, gradients, batching, edge cases."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ser_classic  # noqa: E402
from ser_classic import data  # noqa: E402
from ser_classic.errors import ArtifactError, ParameterError  # noqa: E402
from ser_classic.features import extract_features, feature_names  # noqa: E402
from ser_classic.recognizer import SpeakerStats  # noqa: E402
from ser_classic.torch import DiscriminatorLoss, EmotionDiscriminator, emotion_loss  # noqa: E402
from ser_classic.torch import functional as F  # noqa: E402

from .conftest import DATA, experiment  # noqa: E402

SR = 16000


def _clip(path) -> np.ndarray:
    return data.load_audio(path, sr=SR, channel=data.corpus_channel(path))


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    """Two real clips of each corpus (RAVDESS, TESS, EMOVO)."""
    paths = (sorted((DATA / "ravdess" / "Actor_03").glob("*.flac"))[::30]
             + sorted((DATA / "tess").glob("*/*.flac"))[::1400]
             + sorted((DATA / "emovo" / "m2").glob("*.flac"))[::40][:2])
    assert len(paths) == 6
    return [_clip(p) for p in paths]


@pytest.fixture(scope="module")
def deployed():
    return ser_classic.load("deployed")


@pytest.fixture(scope="module")
def disc64():
    return EmotionDiscriminator("deployed", dtype=torch.float64)


def _batch(clips, n=SR * 2):
    """Clips cut/padded to ``n`` samples (a batch tensor and its numpy rows)."""
    rows = np.stack([np.resize(y, n) for y in clips]).astype(np.float32)
    return torch.from_numpy(rows), rows


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-3), (torch.float32, 1e-2)])
def test_probabilities_match_the_onnx_path(clips, deployed, dtype, tol):
    disc = EmotionDiscriminator("deployed", dtype=dtype)
    assert disc.classes == tuple(deployed.classes_)
    for y in clips:  # each at its own length
        expected = deployed.predict_proba(y, sr=SR)
        got = disc(torch.from_numpy(y)[None], sr=SR).exp()[0]
        assert got.dtype == dtype
        np.testing.assert_allclose(got.double().numpy(), expected, atol=tol, rtol=0)


def test_speaker_normalised_model_matches(clips):
    recognizer = ser_classic.load("deployed-speaker_norm")
    disc = EmotionDiscriminator("deployed-speaker_norm", dtype=torch.float64)
    speaker = recognizer.enroll(clips, sr=SR)
    batch, rows = _batch(clips)
    expected = recognizer.predict_proba(rows, sr=SR, speaker=speaker)
    got = disc(batch, sr=SR, speaker=speaker).exp().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)
    expected = recognizer.predict_proba(rows, sr=SR, speaker="batch")
    got = disc(batch, sr=SR, speaker="batch").exp().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)
    with pytest.raises(ParameterError, match="speaker-normalised"):
        disc(batch, sr=SR)
    with pytest.raises(ParameterError, match="without speaker"):
        EmotionDiscriminator("deployed")(batch, sr=SR, speaker=speaker)
    with pytest.raises(ParameterError, match="features"):
        disc(batch, sr=SR, speaker=SpeakerStats(mean=np.zeros(3), std=np.ones(3),
                                                n_clips=2))


def test_shipped_neutral_ref_model_matches_enrolled_on_a_voices_neutral_clips(clips):
    """The discriminator for a generator's voice known by its neutral speech: the shipped
    deployed-neutral_ref, enrolled on RAVDESS actor 3's neutral clips (emotion code 01)."""
    recognizer = ser_classic.load("deployed-neutral_ref")
    disc = EmotionDiscriminator("deployed-neutral_ref", dtype=torch.float64)
    neutral = sorted((DATA / "ravdess" / "Actor_03").glob("03-01-01-*.flac"))
    assert len(neutral) == 4
    voice = recognizer.enroll([str(p) for p in neutral])
    batch, rows = _batch(clips)
    expected = recognizer.predict_proba(rows, sr=SR, speaker=voice)
    got = disc(batch, sr=SR, speaker=voice).exp().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)
    with pytest.raises(ParameterError, match="neutral reference"):
        disc(batch, sr=SR, speaker="batch")


def test_features_match_every_group(clips):
    """All ported groups (not only the deployed model's columns) at rounding level."""
    config = ser_classic.FeatureConfig(extended=False)
    names = feature_names(config=config)
    for y in clips[::2]:
        expected = extract_features(y, config=config)
        got = F.extract_features(torch.from_numpy(y).double()[None], config=config)[0]
        scale = np.maximum(np.abs(expected), 1.0)
        err = np.abs(got.numpy() - expected) / scale
        # contrast peaks/valleys of the top band sit at float32 FFT rounding noise
        worst = np.argsort(err)[::-1][:3]
        assert err.max() < 2e-2, [(names[i], expected[i], float(got[i])) for i in worst]
        assert np.median(err) < 1e-6


def test_float32_spectral_group_matches_numpy(clips):
    """A float32 run takes its own moments (about 2 kHz) and numpy's roll-off search."""
    config = ser_classic.FeatureConfig(extended=False)
    names = feature_names(config=config)
    select = tuple(n for n in names if n.split("_")[0] in (
        "centroid", "bandwidth", "rolloff", "flux", "skewness", "kurtosis"))
    assert len(select) == 6 * 24
    columns = [names.index(n) for n in select]
    for y in clips:
        expected = extract_features(y, config=config)[columns]
        got = F.extract_features(torch.from_numpy(y)[None], config=config, select=select)[0]
        assert got.dtype == torch.float32
        err = np.abs(got.double().numpy() - expected) / np.maximum(np.abs(expected), 1.0)
        assert err.max() < 1e-3, select[int(err.argmax())]
        assert np.median(err) < 1e-5


def test_shifted_moments_equal_raw_moments():
    """The float32 path's moment formula: numpy's values and a correct gradient."""
    config = ser_classic.FeatureConfig()
    y = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 4096)))
    S = F.spectrogram(y, torch.tensor([4096]), config=config)[0]
    dist = (S / S.sum(dim=2, keepdim=True)).requires_grad_(True)
    raw = F.spectral(S * S, S, config=config, rows=[0, 1, 7, 8])[0][[0, 1, 7, 8]]
    shifted = torch.stack(F._shifted_moments(dist, config))[:, 0]
    assert torch.allclose(shifted, raw, rtol=1e-9, atol=1e-9)
    assert torch.autograd.gradcheck(lambda d: F._shifted_moments(d, config), (dist,),
                                    fast_mode=True)


def test_gradients_agree_with_finite_differences(clips):
    """Directional derivatives of p(target) on real clips (central differences).

    The direction is a random relative gain (``v = noise * y``): no sample crosses zero,
    so the zero-crossing rate, a step function of 16-bit audio's exact zeros, stays put;
    the step is small enough that no order statistic swaps.
    """
    disc = EmotionDiscriminator("deployed", dtype=torch.float64)
    rng = np.random.default_rng(0)
    for y in (clips[0], clips[4]):
        y = torch.from_numpy(y[:SR]).double()[None]
        v = torch.from_numpy(rng.standard_normal(y.shape)) * y
        x = y.clone().requires_grad_(True)
        p = disc(x, sr=SR).exp()[0, 2]
        p.backward()
        analytic = float((x.grad * v).sum())
        h = 1e-7
        with torch.no_grad():
            numeric = float(disc(y + h * v, sr=SR).exp()[0, 2]
                            - disc(y - h * v, sr=SR).exp()[0, 2]) / (2 * h)
        assert analytic == pytest.approx(numeric, rel=1e-3, abs=1e-8)


@pytest.mark.skipif(not F._invariant(), reason="level normalisation: feature version >= 3")
def test_a_gain_has_no_gradient(clips):
    """Features normalised to the clip's level: the gradient is orthogonal to the clip."""
    config = ser_classic.FeatureConfig(extended=False)
    y = torch.from_numpy(clips[3]).double()[None].requires_grad_(True)
    x = F.extract_features(y, config=config)
    weights = torch.from_numpy(np.random.default_rng(0).standard_normal(x.shape[1]))
    (x[0] * weights).sum().backward()
    grad, y = y.grad, y.detach()
    cosine = float((grad * y).sum() / (grad.norm() * y.norm()))
    assert abs(cosine) < 1e-9


def test_gradcheck_of_the_feature_functions():
    """torch.autograd.gradcheck of the smooth parts on a short signal."""
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((2, 3, 9))).requires_grad_(True)
    n = torch.tensor([9, 6])
    assert torch.autograd.gradcheck(lambda t: F.functionals(t, n, frame_rate=100.0), (x,))
    assert torch.autograd.gradcheck(lambda t: F.delta(t, n), (x,))
    y = torch.from_numpy(rng.standard_normal((1, 2048))).requires_grad_(True)
    config = ser_classic.FeatureConfig()
    assert torch.autograd.gradcheck(
        lambda t: F.spectral(*F.spectrogram(t, torch.tensor([2048]), config=config)[:2][::-1],
                             config=config), (y,), fast_mode=True)


def test_batch_equals_single_clips(clips, disc64):
    """Rows of a batch (zero-padded clips of different lengths, ``lengths=``) equal the
    clips scored alone."""
    n = max(y.size for y in clips)
    batch = torch.zeros(len(clips), n)
    for i, y in enumerate(clips):
        batch[i, :y.size] = torch.from_numpy(y)
    lengths = torch.tensor([y.size for y in clips])
    together = disc64(batch, sr=SR, lengths=lengths)
    for i, y in enumerate(clips):
        alone = disc64(torch.from_numpy(y)[None], sr=SR)
        torch.testing.assert_close(together[i:i + 1], alone, atol=1e-10, rtol=0)
    with pytest.raises(ParameterError, match="lengths"):
        disc64(batch, sr=SR, lengths=lengths[:2])


def test_clip_shorter_than_the_analysis_window(clips, disc64, deployed):
    y = clips[0][SR // 2:SR // 2 + 400]  # 25 ms: shorter than the 40 ms window
    config = deployed.feature_config
    expected = extract_features(y, config=config, select=disc64.select)
    got = F.extract_features(torch.from_numpy(y).double()[None], config=config,
                             select=disc64.select)[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
    x = torch.from_numpy(y).double()[None].requires_grad_(True)
    disc64.loss(x, "angry", sr=SR).backward()
    assert torch.isfinite(x.grad).all()


def test_silence_gives_finite_values_and_gradients(disc64):
    for y in (torch.zeros(2, SR, dtype=torch.float64),
              torch.zeros(1, 100, dtype=torch.float64)):
        x = y.clone().requires_grad_(True)
        log_proba = disc64(x, sr=SR)
        assert torch.isfinite(log_proba).all()
        torch.testing.assert_close(log_proba.exp().sum(dim=1),
                                   torch.ones(y.shape[0], dtype=torch.float64))
        disc64.loss(x, "neutral", sr=SR, kind="penalty").backward()
        assert torch.isfinite(x.grad).all()


def test_loss_matches_recognizer_scores(clips, disc64, deployed):
    batch, rows = _batch(clips)
    targets = ["happy", "sad", "angry", "neutral", "happy", "sad"]
    scores = deployed.score(rows, sr=SR, targets=targets)
    nll = disc64.loss(batch, targets, sr=SR, reduction="none")
    penalty = disc64.loss(batch, targets, sr=SR, kind="penalty", reduction="none")
    np.testing.assert_allclose((-nll).exp().numpy(), scores.p_target, atol=1e-3)
    np.testing.assert_allclose(penalty.numpy(), scores.penalty, atol=1e-3)
    subset = ["angry", "happy", "neutral", "sad"]
    scores = deployed.score(rows, sr=SR, targets=targets, classes=subset)
    loss = DiscriminatorLoss(disc64, kind="penalty", classes=subset, reduction="none")
    np.testing.assert_allclose(loss(batch, targets, sr=SR).numpy(), scores.penalty,
                               atol=1e-3)
    assert float(disc64.loss(batch, targets, sr=SR)) == pytest.approx(float(nll.mean()))
    with pytest.raises(ParameterError, match="not in"):
        loss(batch, "calm", sr=SR)
    with pytest.raises(ParameterError, match="targets for"):
        disc64.loss(batch, ["happy"], sr=SR)
    with pytest.raises(ParameterError, match="kind"):
        emotion_loss(nll[:, None], torch.zeros(6, dtype=torch.int64), kind="hinge")


def test_resampled_input_close_to_the_soxr_path(clips, deployed, disc64):
    y = clips[2]
    y48 = data.resample(y, orig_sr=SR, target_sr=48000)
    expected = deployed.predict_proba(y48, sr=48000)
    got = disc64(torch.from_numpy(y48)[None], sr=48000).exp()[0].numpy()
    np.testing.assert_allclose(got, expected, atol=0.05)  # another filter than soxr's


def test_dtype_and_device_handling(clips):
    disc = EmotionDiscriminator("deployed")
    assert disc.dtype == torch.float32
    assert not any(p.requires_grad for p in disc.parameters())
    y = torch.from_numpy(clips[1][:SR])[None]
    assert disc(y.double(), sr=SR).dtype == torch.float32  # inputs follow the module
    disc.double()
    assert disc.dtype == torch.float64
    assert disc(y, sr=SR).dtype == torch.float64
    assert disc(y[0], sr=SR).shape == (1, len(disc.classes))  # one clip: a batch of one
    with pytest.raises(ParameterError, match="floating"):
        disc((y * 32767).to(torch.int16), sr=SR)
    broken = torch.cat([y, y, y]).clone()
    broken[1, 100], broken[2, 5] = float("nan"), float("inf")
    with pytest.raises(ParameterError, match=r"NaN or infinite samples in row\(s\) \[1, 2\]"):
        disc(broken, sr=SR)  # scored, it gave finite probabilities and NaN gradients
    assert disc(y[:0], sr=SR).shape == (0, len(disc.classes))  # as EmotionRecognizer
    with pytest.raises(ParameterError, match="sample rate"):
        disc(y, sr=0)
    with pytest.raises(ParameterError, match=r"16 Hz is below 8000 Hz .*sr=16000"):
        disc(y, sr=16)
    with pytest.raises(ParameterError, match="dtype"):
        EmotionDiscriminator("deployed", dtype=torch.float16)
    if torch.cuda.is_available():
        cuda = EmotionDiscriminator("deployed", dtype=torch.float64).to("cuda")
        out = cuda(y.cuda(), sr=SR)
        assert out.device.type == "cuda"
        torch.testing.assert_close(out.cpu(), disc(y, sr=SR), atol=1e-8, rtol=0)


def test_loading_by_alias_and_directory():
    from ser_classic.store import resolve

    by_alias = EmotionDiscriminator("deployed")
    by_path = EmotionDiscriminator(resolve("deployed"))
    assert by_alias.model_id == by_path.model_id == ser_classic.load("deployed").model_id
    with pytest.raises(ArtifactError):
        EmotionDiscriminator("no-such-model")
    assert EmotionDiscriminator("teacher").model_id == ser_classic.load("teacher").model_id


# --------------------------------------------------------------------------- extended group
def _extended_names(config):
    from ser_classic.features import _name_table

    names, where = _name_table(config)
    return tuple(n for n in names if where[n][0] == "extended")


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-5), (torch.float32, 1e-4)])
def test_extended_features_match(clips, dtype, tol):
    """The extended group (voiced statistics, contour functionals, rhythm) of real clips of
    every corpus, each at its own length and all in one zero-padded batch."""
    config = ser_classic.FeatureConfig()
    names = _extended_names(config)
    assert len(names) == 723
    expected = np.stack([extract_features(y, config=config, select=names) for y in clips])
    n = max(y.size for y in clips)
    batch = torch.zeros(len(clips), n, dtype=dtype)
    for i, y in enumerate(clips):
        batch[i, :y.size] = torch.from_numpy(y)
    lengths = torch.tensor([y.size for y in clips])
    got = F.extract_features(batch, config=config, select=names, lengths=lengths)
    assert got.dtype == dtype
    err = np.abs(got.double().numpy() - expected) / np.maximum(np.abs(expected), 1.0)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() < tol, (names[worst[1]], expected[worst], float(got[worst]))


def test_float64_contour_decisions_are_numpy_s():
    """Peak counts decide between near-equal frames: a float64 run takes them on the
    numpy path's own contours, so they are exact (on these clips, deciding on the
    float32-rounded torch contours counted other peaks)."""
    config = ser_classic.FeatureConfig()
    names = tuple(n for n in _extended_names(config) if "_peak_" in n)
    clips = [_clip(DATA / p) for p in (
        "emovo/f2/dis-f2-b1.flac", "emovo/f2/gio-f2-l3.flac",
        "ravdess/Actor_02/03-01-02-02-02-01-02.flac",
        "ravdess/Actor_03/03-01-07-02-01-01-03.flac")]
    expected = np.stack([extract_features(y, config=config, select=names) for y in clips])
    batch = torch.zeros(len(clips), max(y.size for y in clips), dtype=torch.float64)
    for i, y in enumerate(clips):
        batch[i, :y.size] = torch.from_numpy(y)
    lengths = torch.tensor([y.size for y in clips])
    for chunk in (None, 3):
        got = F.extract_features(batch, config=config, select=names, lengths=lengths,
                                 chunk=chunk)
        np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-9)


def test_extended_functions_match_numpy_on_edge_cases():
    """Contour functionals, voiced statistics and rhythm against the numpy functions on
    rows of 0-9 valid frames (fewer than 3: zeros; fewer than 2: zeros), with ties."""
    from ser_classic import features as NF
    from ser_classic.torch import _extended as E

    rng = np.random.default_rng(3)
    t, rate = 9, 100.0
    x = np.round(rng.standard_normal((10, 4, t)), 1)  # rounded: ties and flat steps
    n = np.arange(10)
    voiced = rng.random((10, t)) > 0.4
    got_c = E.contour_functionals(torch.from_numpy(x), torch.from_numpy(n), frame_rate=rate)
    got_v = E.voiced_stats(torch.from_numpy(x), torch.from_numpy(voiced))
    got_r = E.rhythm(torch.from_numpy(voiced), torch.from_numpy(n), frame_rate=rate)
    for i in range(10):
        np.testing.assert_allclose(got_c[i].numpy(), NF._contour_functionals(
            x[i, :, :n[i]], rate), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got_v[i].numpy(), NF._voiced_stats(x[i][:, voiced[i]]),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got_r[i].numpy(), NF._rhythm(voiced[i, :n[i]], rate),
                                   rtol=1e-12, atol=1e-12)
    smooth = torch.from_numpy(rng.standard_normal((2, 3, t))).requires_grad_(True)
    lengths = torch.tensor([t, 6])
    keep = torch.from_numpy(voiced[:2])
    assert torch.autograd.gradcheck(
        lambda v: E.contour_functionals(v, lengths, frame_rate=rate), (smooth,))
    assert torch.autograd.gradcheck(lambda v: E.voiced_stats(v, keep), (smooth,))


def test_extended_falls_back_to_all_frames_without_voicing():
    """A clip (noise) with fewer than 2 voiced frames: voiced statistics over all frames,
    pitch contour zeros (as numpy)."""
    config = ser_classic.FeatureConfig()
    names = _extended_names(config)
    y = np.random.default_rng(4).standard_normal(SR // 2) * 0.1
    expected = extract_features(y, config=config, select=names)
    got = F.extract_features(torch.from_numpy(y)[None], config=config, select=names)[0]
    f0 = [i for i, name in enumerate(names) if name.startswith("f0_")]
    assert not expected[f0].any()
    err = np.abs(got.numpy() - expected) / np.maximum(np.abs(expected), 1.0)
    assert err.max() < 1e-5, names[int(np.argmax(err))]


@pytest.mark.parametrize("model", ["teacher", "teacher-speaker_norm"])
def test_teacher_probabilities_match(clips, model):
    """The teachers (which read the extended group) against their numpy path."""
    recognizer = ser_classic.load(model)
    batch, rows = _batch(clips)
    speaker = recognizer.enroll(clips, sr=SR) if model.endswith("speaker_norm") else None
    expected = recognizer.predict_proba(rows, sr=SR, speaker=speaker)
    for dtype, tol in ((torch.float64, 1e-3), (torch.float32, 1e-2)):
        disc = EmotionDiscriminator(model, dtype=dtype)
        got = disc(batch, sr=SR, speaker=speaker).exp().double().numpy()
        np.testing.assert_allclose(got, expected, atol=tol, rtol=0)


def test_teacher_gradients_agree_with_finite_differences(clips):
    """Directional derivative of p(class) through the teacher (extended group included)
    along a random relative gain, against central differences."""
    disc = EmotionDiscriminator("teacher", dtype=torch.float64)
    rng = np.random.default_rng(0)
    y = torch.from_numpy(clips[4][:SR]).double()[None]
    v = torch.from_numpy(rng.standard_normal(y.shape)) * y
    x = y.clone().requires_grad_(True)
    disc(x, sr=SR).exp()[0, 2].backward()
    analytic = float((x.grad * v).sum())
    h = 1e-7
    with torch.no_grad():
        numeric = float(disc(y + h * v, sr=SR).exp()[0, 2]
                        - disc(y - h * v, sr=SR).exp()[0, 2]) / (2 * h)
    assert abs(analytic) > 1e-3  # a direction that moves the probability
    assert analytic == pytest.approx(numeric, rel=1e-4)


def test_teacher_on_silence_and_a_short_clip_is_finite(clips):
    """Silence, 100 samples of silence and 25 ms of a real clip (shorter than the 40 ms
    window; the extended group's fallbacks): finite log-probabilities and gradients."""
    disc = EmotionDiscriminator("teacher", dtype=torch.float64)
    short = torch.from_numpy(clips[0][SR // 2:SR // 2 + 400]).double()[None]
    for y in (torch.zeros(2, SR, dtype=torch.float64),
              torch.zeros(1, 100, dtype=torch.float64), short):
        x = y.clone().requires_grad_(True)
        log_proba = disc(x, sr=SR)
        assert torch.isfinite(log_proba).all()
        disc.loss(x, "angry", sr=SR, kind="penalty").backward()
        assert torch.isfinite(x.grad).all()


@pytest.mark.skipif(not F._invariant(), reason="DC removal: feature version >= 3")
def test_dc_removal_on_cpu_equals_its_torch_form(clips):
    """The CPU DC removal (the numpy preprocessing's values, an explicit backward) gives
    the values and vector-Jacobian products of its batched torch form (the GPU branch)."""
    config = ser_classic.FeatureConfig()
    rows = np.zeros((2, 12000))
    rows[0, 1000:11000] = clips[0][:10000] + 0.01  # digital silence around, a DC offset
    rows[1, :7000] = clips[4][:7000] - 0.02
    rows[1, 3000:3100] = 0.0  # exact zeros inside
    y = torch.from_numpy(rows).requires_grad_(True)
    kept = F._kept_spans(y, torch.tensor([12000, 7000]), config)
    cpu, rowwise = F._RemoveDc.apply(y, kept), F._remove_dc_rows(y, kept)
    assert cpu.shape == rowwise.shape
    assert torch.allclose(cpu, rowwise, rtol=0, atol=1e-12)
    g = torch.from_numpy(np.random.default_rng(2).standard_normal(cpu.shape))
    (vjp_cpu,) = torch.autograd.grad(cpu, y, g)
    (vjp_rows,) = torch.autograd.grad(rowwise, y, g)
    assert torch.allclose(vjp_cpu, vjp_rows, rtol=0, atol=1e-12)
    s0 = kept[0][0]  # before the span (leading zeros in whole hops): no gradient
    assert 0 < s0 <= 1000 and float(vjp_cpu[0, :s0].abs().max()) == 0.0


@pytest.mark.parametrize("model", ["deployed", "deployed-speaker_norm", "teacher",
                                   "teacher-speaker_norm"])
def test_gpu_branches_match_the_numpy_path(clips, model):
    """The branches written for GPUs (torch FFTs, sorts and searches, batched DC
    removal, one pass per batch), run on CPU tensors: CI has no GPU. A zero-padded batch
    with ``lengths`` against the numpy path of each clip."""
    recognizer = ser_classic.load(model)
    speaker = recognizer.enroll(clips, sr=SR) if model.endswith("speaker_norm") else None
    expected = np.stack([recognizer.predict_proba(y, sr=SR, speaker=speaker) for y in clips])
    batch, lengths = experiment("bench_torch")._padded(clips)  # zero-padded
    for dtype, tol in ((torch.float64, 1e-3), (torch.float32, 1e-2)):
        disc = EmotionDiscriminator(model, dtype=dtype)
        with F._device_generic():
            assert not F._on_host(batch)
            got = disc(batch, sr=SR, speaker=speaker, lengths=lengths).exp()
        assert F._on_host(batch)  # restored
        np.testing.assert_allclose(got.double().numpy(), expected, atol=tol, rtol=0)


@pytest.mark.parametrize("model", ["deployed", "teacher"])
def test_gpu_branches_gradients_agree_with_finite_differences(clips, model):
    """Directional derivative of p(class) through the GPU branches (run on CPU), along a
    random relative gain, against central differences and the CPU branches' gradient."""
    disc = EmotionDiscriminator(model, dtype=torch.float64)
    rng = np.random.default_rng(1)
    y = torch.from_numpy(clips[2][:SR]).double()[None]
    v = torch.from_numpy(rng.standard_normal(y.shape)) * y
    grads = []
    for generic in (True, False):
        x = y.clone().requires_grad_(True)
        with F._device_generic() if generic else contextlib.nullcontext():
            disc(x, sr=SR).exp()[0, 3].backward()
        grads.append(x.grad)
    analytic = float((grads[0] * v).sum())
    h = 1e-7
    with torch.no_grad(), F._device_generic():
        numeric = float(disc(y + h * v, sr=SR).exp()[0, 3]
                        - disc(y - h * v, sr=SR).exp()[0, 3]) / (2 * h)
    assert abs(analytic) > 1e-4  # a direction that moves the probability
    assert analytic == pytest.approx(numeric, rel=1e-3)
    assert torch.allclose(grads[0], grads[1], rtol=1e-6, atol=1e-9 * float(
        grads[1].abs().max()))
