"""Model directories, the EmotionRecognizer (both backends), discriminator scoring, CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

import ser_classic
from ser_classic import cli, data
from ser_classic.artifact import load_artifact
from ser_classic.errors import AudioError, ParameterError
from ser_classic.recognizer import SpeakerStats

from .conftest import TESS
from .deploy_models import tiny_model

TESS_FILES = sorted(TESS.glob("OAF_angry/*"))[:3] + sorted(TESS.glob("YAF_sad/*"))[:3]


@pytest.fixture(scope="module")
def model_dir(small_manifest, feature_cache):
    return tiny_model(small_manifest, feature_cache)


@pytest.fixture(scope="module")
def norm_dir(small_manifest, feature_cache):
    return tiny_model(small_manifest, feature_cache, normalization="speaker_norm")


@pytest.fixture(scope="module")
def waves():
    return [data.load_audio(p, sr=16000) for p in TESS_FILES]


def test_card_describes_the_model(model_dir):
    card = json.loads((model_dir / "model.json").read_text())
    assert card["classes"] == sorted(data.EMOTIONS)
    assert card["normalization"] == "strict" and card["sample_rate"] == 16000
    assert set(card["files"]) == {"model.joblib", "model.onnx"}
    assert card["libraries"]["scikit-learn"] and card["training"]["manifest_sha256"]
    assert card["feature_config_hash"] == ser_classic.FeatureConfig().hash


def test_round_trip_backends_agree(model_dir, waves):
    sk = ser_classic.load(model_dir)
    ox = ser_classic.load(model_dir, backend="onnx")
    files = [str(p) for p in TESS_FILES]
    p_sk, p_ox = sk.predict_proba(files), ox.predict_proba(files)
    assert p_sk.shape == (6, 8)
    np.testing.assert_allclose(p_sk, p_ox, atol=1e-4)
    np.testing.assert_allclose(p_sk.sum(axis=1), 1.0, atol=1e-5)
    # waveforms at another rate, single and batched; a 2-D array is a batch of clips
    import soxr

    y44 = soxr.resample(waves[0], 16000, 44100)
    single = sk.predict_proba(y44, sr=44100)
    assert single.shape == (8,)
    np.testing.assert_allclose(single, ox.predict_proba(y44, sr=44100), atol=1e-4)
    np.testing.assert_allclose(single, p_sk[0], atol=0.05)  # resampling round trip
    assert isinstance(sk.predict(files[0]), str)
    equal = np.stack([w[:16000] for w in waves])
    assert sk.predict(equal, sr=16000).shape == (6,)
    np.testing.assert_allclose(sk.predict_proba(list(equal), sr=16000),
                               sk.predict_proba(equal, sr=16000))


def test_tampered_or_incompatible_directories_rejected(model_dir, tmp_path):
    def copy(name):
        dst = tmp_path / name
        shutil.copytree(model_dir, dst)
        return dst

    bad = copy("tampered")
    blob = bytearray((bad / "model.onnx").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (bad / "model.onnx").write_bytes(bytes(blob))
    with pytest.raises(ParameterError, match=r"sha256 .* does not match"):
        ser_classic.load(bad)

    missing = copy("missing")
    (missing / "model.joblib").unlink()
    with pytest.raises(ParameterError, match="missing model file"):
        ser_classic.load(missing)

    corrupt = copy("corrupt_card")
    (corrupt / "model.json").write_text("{not json")
    with pytest.raises(ParameterError, match="corrupt model card"):
        ser_classic.load(corrupt)

    def edit(name, change):
        d = copy(name)
        card = json.loads((d / "model.json").read_text())
        change(card)
        (d / "model.json").write_text(json.dumps(card))
        return d

    old = edit("old_sklearn", lambda c: c["libraries"].update({"scikit-learn": "0.24.2"}))
    with pytest.raises(ParameterError, match=r"scikit-learn 0\.24\.2"):
        ser_classic.load(old)
    assert ser_classic.load(old, backend="onnx").backend == "onnx"  # ONNX needs no pickle
    feat = edit("features", lambda c: c["feature_config"].update({"n_mfcc": 13}))
    with pytest.raises(ParameterError, match="feature config hash"):
        ser_classic.load(feat)
    fmt = edit("future", lambda c: c.update({"format_version": 99}))
    with pytest.raises(ParameterError, match="format version 99"):
        load_artifact(fmt)
    with pytest.raises(ParameterError, match="not found"):
        ser_classic.load(tmp_path / "nowhere")


def test_discriminator_scores(model_dir, waves):
    rec = ser_classic.load(model_dir)
    batch = np.stack([np.pad(w, (0, 48000))[:48000] for w in waves])
    targets = ["angry"] * 3 + ["sad"] * 3
    s = rec.score(batch, sr=16000, targets=targets)
    cols = [list(rec.classes_).index(t) for t in targets]
    np.testing.assert_allclose(s.p_target, s.proba[np.arange(6), cols])
    np.testing.assert_allclose(s.penalty, 1 - s.p_target)
    np.testing.assert_allclose(s.nll, -np.log(s.p_target))
    assert s.classes == tuple(rec.classes_)
    np.testing.assert_allclose(s.proba, rec.predict_proba(batch, sr=16000))
    with pytest.raises(ParameterError, match="unknown target"):
        rec.score(batch, sr=16000, targets="bored")
    with pytest.raises(ParameterError, match="targets for"):
        rec.score(batch, sr=16000, targets=["sad"])
    with pytest.raises(ParameterError, match="not file paths"):
        rec.score([str(TESS_FILES[0])], sr=16000, targets="sad")
    with pytest.raises(AudioError, match=r"waveform\[1\].*silent"):
        rec.score(np.stack([batch[0], np.zeros(48000)]), sr=16000, targets="sad")


def test_speaker_normalised_model_needs_speaker_stats(norm_dir, model_dir, waves):
    rec = ser_classic.load(norm_dir)
    assert rec.normalization == "speaker_norm"
    with pytest.raises(ParameterError, match="speaker-normalised"):
        rec.predict_proba(waves, sr=16000)
    with pytest.raises(ParameterError, match="speaker-normalised"):
        rec.score(waves, sr=16000, targets="sad")
    enrolled = rec.enroll(waves, sr=16000)
    assert isinstance(enrolled, SpeakerStats) and enrolled.n_clips == 6
    running = rec.enroll(waves[3:], sr=16000, previous=rec.enroll(waves[:3], sr=16000))
    np.testing.assert_allclose(running.mean, enrolled.mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(running.scale, enrolled.scale, rtol=1e-7, atol=1e-9)
    broken = [*waves, np.zeros(16000)]  # one unusable clip among the voice's
    with pytest.raises(AudioError, match=r"waveform\[6\]: silent"):
        rec.enroll(broken, sr=16000)
    with pytest.warns(UserWarning, match=r"left out waveform\[6\]: silent"):
        kept = rec.enroll(broken, sr=16000, on_error="skip")
    assert kept.n_clips == 6
    np.testing.assert_allclose(kept.mean, enrolled.mean)
    by_stats = rec.predict_proba(waves, sr=16000, speaker=enrolled)
    np.testing.assert_allclose(by_stats, rec.predict_proba(waves, sr=16000, speaker="batch"))
    onnx = ser_classic.load(norm_dir, backend="onnx")
    np.testing.assert_allclose(by_stats, onnx.predict_proba(waves, sr=16000, speaker=enrolled),
                               atol=1e-4)
    s = rec.score(waves, sr=16000, targets="sad", speaker=enrolled)
    np.testing.assert_allclose(s.proba, by_stats)
    with pytest.raises(ParameterError, match="without speaker normalisation"):
        ser_classic.load(model_dir).predict_proba(waves, sr=16000, speaker=enrolled)


def test_cli_predict_folder_with_a_broken_file(model_dir, tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    for p in TESS_FILES[:3]:
        y, sr = sf.read(p)
        sf.write(folder / f"{p.stem}.flac", y, sr)
    (folder / "broken.wav").write_text("not audio at all\n" * 10)
    (folder / "readme.txt").write_text("ignored: not an audio suffix")
    code = cli.main(["predict", str(folder), "--model", str(model_dir), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in out["predictions"]}
    assert len(rows) == 4 and "not a readable audio file" in rows["broken.wav"]["error"]
    good = [r for r in rows.values() if "emotion" in r]
    assert len(good) == 3 and all(abs(sum(v for k, v in r.items() if k.startswith("p_")) - 1)
                                  < 1e-3 for r in good)
    code = cli.main(["predict", str(folder), "--model", str(model_dir), "--format", "csv",
                     "--backend", "onnx"])
    csv_out = capsys.readouterr()
    assert code == 1 and csv_out.out.count("\n") == 5 and "broken.wav" in csv_out.err
    assert cli.main(["predict", str(folder / "missing.wav"), "--model", str(model_dir)]) == 1
    assert "file not found" in capsys.readouterr().err


def test_cli_predict_speaker_norm(norm_dir, model_dir, tmp_path, capsys):
    files = [str(p) for p in TESS_FILES]
    assert cli.main(["predict", *files, "--model", str(norm_dir)]) == 2
    assert "--normalization speaker_norm" in capsys.readouterr().err
    code = cli.main(["predict", *files, "--model", str(norm_dir), "--normalization",
                     "speaker_norm",
                     "--speaker-regex", "^(OAF|YAF)_", "--format", "json"])
    out = json.loads(capsys.readouterr().out)["predictions"]
    assert code == 0 and {r["speaker"] for r in out} == {"OAF", "YAF"}
    assert cli.main(["predict", *files, "--model", str(model_dir), "--normalization",
                     "speaker_norm"]) == 2
    assert "not speaker-normalised (strict)" in capsys.readouterr().err


def _selection(path, *, config=None, classes=data.EMOTIONS, n_speakers=4):
    """A selection file (the evaluation's hand-off): svm tuned per fold 10, 3, 3."""
    from ser_classic.pipeline import Selection, selection_from_cv_summary

    summary = {
        "speaker_normalized": False, "selected": "svm", "runner_up": "logreg",
        "classes": list(classes), "n_speakers": n_speakers,
        "models": {"svm": {"params": [{"clf__C": 10.0}, {"clf__C": 3.0}, {"clf__C": 3.0}],
                           "accuracy": 0.5, "uar": 0.45}},
        "speaker_normalized_run": {"speaker_normalized": True, "selected": "logreg",
                                   "models": {"logreg": {"params": [{"clf__C": 1.0}]}}}}
    if config is not None:
        summary["feature_config"] = config
    selection = selection_from_cv_summary(summary)
    selection.save(path)
    assert Selection.load(path) == selection
    return path


def test_cli_train_writes_a_loadable_model(tmp_path, capsys, small_manifest):
    manifest = tmp_path / "manifest.csv"
    data.save_manifest(small_manifest, manifest)
    out = tmp_path / "models" / "svm"
    sel = _selection(tmp_path / "selection.json")
    code = cli.main(["train", "--model", "@selected", "--manifest", str(manifest), "--out",
                     str(out), "--jobs", "1", "--selection", str(sel)])
    assert code == 0, capsys.readouterr().err
    card = json.loads((out / "model.json").read_text())
    assert card["name"] == "svm" and card["training"]["params"] == {"clf__C": 3.0}
    assert card["cv_metrics"]["accuracy"] == 0.5  # the CV's 4 speakers are its data
    assert card["training"]["speakers"] == ["ravdess_01", "ravdess_02", "ravdess_03",
                                            "ravdess_04"]
    assert card["onnx_parity"]["ok"] and card["onnx_parity"]["max_abs_diff"] < 1e-4
    assert ser_classic.load(out).predict(str(TESS_FILES[0])) in card["classes"]
    # without some speakers: the CV's parameters, not its metrics (other data)
    out2 = tmp_path / "models" / "svm2"
    assert cli.main(["train", "--model", "@selected", "--manifest", str(manifest), "--out",
                     str(out2), "--exclude-speakers", "ravdess_03,ravdess_04", "--jobs", "1",
                     "--selection", str(sel)]) == 0
    card2 = json.loads((out2 / "model.json").read_text())
    assert card2["training"]["speakers"] == ["ravdess_01", "ravdess_02"]
    assert card2["cv_metrics"] is None and card2["training"]["params"] == {"clf__C": 3.0}
    # the 7 emotions RAVDESS shares with TESS, as the model in `out` (a model directory
    # names its registry model): the CV's parameters, not its 8-class metrics
    out7 = tmp_path / "models" / "svm7"
    assert cli.main(["train", "--model", str(out), "--manifest", str(manifest), "--out",
                     str(out7), "--exclude-emotions", "calm", "--jobs", "1",
                     "--selection", str(sel)]) == 0
    card7 = json.loads((out7 / "model.json").read_text())
    assert card7["name"] == "svm" and "calm" not in card7["classes"]
    assert card7["cv_metrics"] is None and card7["training"]["params"] == {"clf__C": 3.0}
    assert card7["training"]["params_tuned_with_emotions"] == list(data.EMOTIONS)
    with pytest.raises(ParameterError, match=r"unknown target emotion\(s\) \['calm'\]; the model "
                       r"knows \['angry', 'disgust',"):
        ser_classic.load(out7).score(np.zeros((1, 16000)), sr=16000, targets="calm")
    # another front end: its own features, and the CV's metrics (another front end) left out
    sel = _selection(tmp_path / "selection.json", config=ser_classic.FeatureConfig().to_dict())
    out512 = tmp_path / "models" / "svm512"
    assert cli.main(["train", "--model", "svm", "--manifest", str(manifest), "--out",
                     str(out512), "--jobs", "1", "--selection", str(sel), "--feature-config",
                     '{"n_fft": 512, "win_length": 512, "fmin_f0": 65}']) == 0
    card512 = json.loads((out512 / "model.json").read_text())
    assert card512["feature_config"]["n_fft"] == 512 and card512["cv_metrics"] is None
    assert card512["training"]["params"] == {"clf__C": 3.0}
    assert card512["training"]["params_tuned_on_feature_config"]["n_fft"] == 1024
    rec512 = ser_classic.load(out512)
    assert rec512.feature_config.hash == ser_classic.FeatureConfig(
        n_fft=512, win_length=512, fmin_f0=65.0).hash
    assert rec512.predict(str(TESS_FILES[0])) in card512["classes"]
    for bad, problem in (('{"n_fft": 512', "not JSON"), ('{"nfft": 512}', "unknown field"),
                         ('{"n_fft": 256, "win_length": 256}', "pitch range needs n_fft")):
        assert cli.main(["train", "--model", "svm", "--manifest", str(manifest), "--out",
                         str(tmp_path / "x"), "--feature-config", bad]) == 2
        assert problem in capsys.readouterr().err
    assert cli.main(["train", "--model", "nope", "--manifest", str(manifest),
                     "--out", str(tmp_path / "x")]) == 2
    assert cli.main(["train", "--model", "@runner_up", "--normalization", "speaker_norm",
                     "--manifest", str(manifest), "--selection", str(sel)]) == 2
    assert "no 'runner_up' in the speaker_norm run" in capsys.readouterr().err
    assert cli.main(["train", "--model", "@selected", "--manifest", str(manifest),
                     "--selection", str(tmp_path / "missing.json")]) == 2
    assert "run `ser-classic evaluate` first" in capsys.readouterr().err


def test_cli_train_as_a_model_directory_takes_its_normalisation(tmp_path, capsys,
                                                                small_manifest, norm_dir):
    """`train --model DIR` trains as that model: its normalisation unless stated, and a
    contradicting one is refused (never silently strict)."""
    manifest = tmp_path / "manifest.csv"
    data.save_manifest(small_manifest, manifest)
    norm_card = json.loads((norm_dir / "model.json").read_text())
    assert norm_card["normalization"] == "speaker_norm"
    out = tmp_path / "again"
    assert cli.main(["train", "--model", str(norm_dir), "--manifest", str(manifest), "--out",
                     str(out), "--exclude-speakers", "ravdess_04", "--jobs", "1",
                     "--augment", "none", "--selection", str(tmp_path / "none.json")]) == 0
    card = json.loads((out / "model.json").read_text())
    assert card["normalization"] == "speaker_norm" and card["name"] == norm_card["name"]
    assert cli.main(["train", "--model", str(norm_dir), "--normalization", "strict",
                     "--manifest", str(manifest), "--out", str(tmp_path / "x"), "--jobs",
                     "1"]) == 2
    assert "contradicts it" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_selected_features_only_computed_and_same_result(small_manifest, feature_cache,
                                                         waves):
    from ser_classic.features import FeatureConfig, extract_features

    sel_dir = tiny_model(small_manifest, feature_cache, name="xgboost",
                         params={"select__k": 200, "clf__n_estimators": 20})
    card = json.loads((sel_dir / "model.json").read_text())
    assert len(card["used_features"]) == 200
    rec = ser_classic.load(sel_dir)
    X_full = np.stack([extract_features(w, config=FeatureConfig()) for w in waves])
    expected = rec.artifact.estimator.predict_proba(X_full)
    np.testing.assert_allclose(rec.predict_proba(waves, sr=16000), expected, atol=1e-12)
    np.testing.assert_allclose(ser_classic.load(sel_dir, backend="onnx").predict_proba(
        waves, sr=16000), expected, atol=1e-4)


def test_speaker_stats_are_the_evaluation_normaliser():
    from ser_classic.evaluation import speaker_normalize

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 5)) * [1, 2, 0, 3, 1e-12] + 4
    np.testing.assert_allclose(SpeakerStats.from_features(X).apply(X),
                               speaker_normalize(X, ["s"] * 30))
    a = SpeakerStats.from_features(X[:7]).update(X[7:20]).update(X[20:])
    np.testing.assert_allclose(a.apply(X), speaker_normalize(X, ["s"] * 30), atol=1e-9)
    with pytest.raises(ParameterError, match="at least 2 clips"):
        SpeakerStats.from_features(X[:1])


def test_cli_features_fills_the_copies_train_reads(tmp_path, capsys, small_manifest):
    """`features --augment` extracts the training copies `train` then reads from the cache
    (make run fills it once before its parallel trainings)."""
    rows = small_manifest.groupby(["speaker", "emotion"]).head(1).reset_index(drop=True)
    manifest, cache = tmp_path / "manifest.csv", tmp_path / "cache"
    data.save_manifest(rows, manifest)
    common = ["--manifest", str(manifest), "--cache", str(cache), "--jobs", "1"]

    def entries():
        return sorted(p.name for p in cache.rglob("*") if p.is_file())

    assert cli.main(["features", *common]) == 0
    clean = entries()
    assert len(clean) == len(rows)
    assert cli.main(["features", *common, "--exclude-emotions", "calm", "--augment",
                     "vtlp+conditions", "--copies", "1"]) == 0
    n_train = int((rows["emotion"] != "calm").sum())
    assert f"{n_train} training clips x 2 vtlp+conditions copies: failed 0" in (
        capsys.readouterr().out)
    filled = entries()
    assert len(filled) == len(clean) + 2 * n_train
    trained = ser_classic.pipeline.train(
        rows, model="ridge", params={"clf__alpha": 3000.0}, exclude_emotions=["calm"],
        augment="vtlp+conditions", copies=1, typicality=False, cache_dir=cache)
    assert trained.training["n_clips"] == n_train and entries() == filled  # all cached
    # another seed is another set of copies: train would extract them itself
    ser_classic.pipeline.train(rows, model="ridge", params={"clf__alpha": 3000.0},
                               exclude_emotions=["calm"], augment="vtlp+conditions",
                               copies=1, typicality=False, cache_dir=cache, random_state=1)
    assert len(entries()) == len(filled) + 2 * n_train
    assert cli.main(["features", *common, "--exclude-emotions", "bored", "--augment",
                     "vtlp", "--copies", "1"]) == 2
    assert "exclude_emotions: no such emotion(s) in ravdess: ['bored']" in (
        capsys.readouterr().err)
