"""Any label set: a labelled folder with labels outside RAVDESS's 8 goes through the whole
pipeline (data, manifest, features, training, grouped CV, distillation, the recogniser),
and scoring can be restricted to a subset of a model's classes (issue 18, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_classic import data, evaluation
from ser_classic.artifact import save_artifact, train_model
from ser_classic.errors import AudioError, ParameterError
from ser_classic.export import to_onnx_bytes
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.recognizer import load

from .conftest import speechlike

SR = 16000
# the corpus's own labels (none of them is canonical but neutral), each a distinct voice
VOICES = {"excited": dict(f0=290.0, gain=1.0), "bored": dict(f0=105.0, gain=0.25),
          "neutral": dict(f0=180.0, gain=0.6)}
SPEAKERS = ("ann", "bob", "cid", "dee")
CLIPS = 3  # per speaker and label


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A labelled folder: WAVs, labels.csv (path,label,speaker) and labels.json."""
    root = tmp_path_factory.mktemp("voices")
    rows = ["path,label,speaker"]
    for s, speaker in enumerate(SPEAKERS):
        for label, voice in VOICES.items():
            for k in range(CLIPS):
                seed = 100 * s + 10 * k + len(label)
                f0 = voice["f0"] * (1 + 0.04 * (s - 1.5)) * (1 + 0.02 * k)
                y = voice["gain"] * speechlike(SR, 0.8 + 0.1 * k, f0=f0, seed=seed)
                name = f"{speaker}_{label}_{k}.wav"
                sf.write(root / name, y, SR)
                # spelled as a user would: mixed case, spaces, an alias of the corpus
                spelled = {"excited": " Excited", "bored": "BORED", "neutral": "calmo"}[label]
                rows.append(f"{name},{spelled},{speaker}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    (root / "labels.json").write_text(json.dumps(
        {"labels": ["excited", "bored", "neutral"], "aliases": {"calmo": "neutral"}}))
    return root


@pytest.fixture(scope="module")
def manifest(folder):
    return data.build_manifest(data.scan_corpus(folder))


@pytest.fixture(scope="module")
def features(manifest, tmp_path_factory):
    X, errors, _ = extract_batch(manifest["path"], sha256=manifest["sha256"],
                                 config=FeatureConfig(),
                                 cache_dir=tmp_path_factory.mktemp("cache"))
    assert not errors and not np.isnan(X).any()
    return X


@pytest.fixture(scope="module")
def model_dir(manifest, features, tmp_path_factory):
    estimator, classes = train_model(features, manifest["emotion"], name="logreg",
                                     params={"clf__C": 0.01})
    out = tmp_path_factory.mktemp("model")
    save_artifact(out, estimator=estimator, classes=classes, config=FeatureConfig(),
                  name="logreg", normalization="strict",
                  onnx=to_onnx_bytes(estimator, n_features=features.shape[1]),
                  training={"corpus": manifest["corpus"].iloc[0]})
    return out


# --------------------------------------------------------------------------- data
def test_a_declared_label_set_reaches_the_manifest(folder, manifest, tmp_path):
    assert set(manifest["corpus"]) == {folder.name}
    assert manifest["emotion"].value_counts().to_dict() == {
        "excited": 12, "bored": 12, "neutral": 12}
    assert set(manifest["speaker"]) == {f"{folder.name}_{s}" for s in SPEAKERS}
    path = tmp_path / "manifest.csv"
    data.save_manifest(manifest, path)  # validated on write and on read
    assert list(data.load_manifest(path)["emotion"]) == list(manifest["emotion"])
    assert data.label_order(manifest["emotion"]) == ("neutral", "bored", "excited")
    assert data.label_order(data.EMOTIONS[::-1]) == data.EMOTIONS


def test_labels_outside_the_declaration_are_refused(folder, tmp_path):
    csv = tmp_path / "labels.csv"
    wav = folder / "ann_bored_0.wav"
    csv.write_text(f"path,label\n{wav},bored\n{wav.with_name('x.wav')},exited\n")
    (tmp_path / "labels.json").write_text('{"labels": ["excited", "bored"]}')
    errors: list = []
    records = data.read_labelled_csv(csv, corpus="mine", errors=errors)
    assert [r["emotion"] for r in records] == ["bored"]
    assert errors[0][0] == f"{csv}:3"
    assert "unknown emotion label 'exited'; expected one of bored, excited" in errors[0][1]
    # declared: only the declared labels (a canonical alias stands for its name: Joy)
    with pytest.raises(AudioError, match=r"unknown emotion label 'bored'; expected one of "
                                         r"excited, happy$"):
        data.read_labelled_csv(csv, labels=["excited", "Joy"])
    # undeclared (no labels.json, labels=None): the canonical names and aliases only
    (tmp_path / "labels.json").unlink()
    with pytest.raises(AudioError, match=r"unknown emotion label 'bored'.*labels\.json"):
        data.read_labelled_csv(csv)
    # an explicit declaration; an alias declares its canonical name
    table = data.label_table(["Bored", "anger", "exited"])
    assert dict(table) == {"angry": "angry", "anger": "angry", "bored": "bored",
                           "exited": "exited"}
    assert [r["emotion"] for r in data.read_labelled_csv(csv, labels=table)] == [
        "bored", "exited"]


@pytest.mark.parametrize("spec, problem", [
    ('{"labels": "bored"}', "expected"),
    ('{"labels": []}', "at least one label"),
    ('{"labels": ["bored", " "]}', "non-empty"),
    ('{"labels": ["bored"], "aliases": {"b": "sleepy"}}', "'sleepy' is not a declared"),
    ('{"labels": ["bored"], "extra": 1}', "expected"),
    ("[1, 2", "not a label declaration"),
])
def test_bad_label_declarations_name_the_file(tmp_path, spec, problem):
    path = tmp_path / "labels.json"
    path.write_text(spec)
    with pytest.raises(ParameterError, match=problem) as info:
        data.read_label_declaration(path)
    assert str(info.value).startswith(str(path))


def test_known_corpora_stay_strict(manifest, tmp_path):
    with pytest.raises(AudioError, match="unknown emotion label 'exited'"):
        data.parse_tess_name("OAF_back_exited.wav")  # a typo in a TESS name
    with pytest.raises(AudioError, match="not in neu, gio"):
        data.parse_emovo_name("exc-f1-b1.wav")
    with pytest.raises(ParameterError, match="corpus 'tess' is read from its own file"):
        data.read_labelled_csv(tmp_path / "labels.csv", corpus="tess")
    cases = {  # (corpus, emotion) -> problem
        ("ravdess", "excited"): "not one of neutral, calm, happy, sad, angry, fearful, "
                                "disgust, surprised (corpus ravdess)",
        ("tess", "calm"): "not one of neutral, happy, sad, angry, fearful, disgust, "
                          "surprised (corpus tess)",
        ("emovo", "gio"): "not one of neutral, happy",
        ("mine", "Excited"): "not a normalised label",
        ("mine", " "): "empty",
        ("mine", None): "empty",
    }
    for (corpus, emotion), problem in cases.items():
        bad = manifest.copy()
        bad.loc[1, ["corpus", "emotion"]] = [corpus, emotion]
        with pytest.raises(ParameterError, match=r"line 3: field 'emotion': "
                                                 + problem.replace("(", r"\(")
                                                 .replace(")", r"\)")):
            data.validate_manifest(bad)
    good = manifest.copy()
    good.loc[1, ["corpus", "emotion"]] = ["tess", "surprised"]
    data.validate_manifest(good)


# --------------------------------------------------------------------------- training
def test_train_cross_validate_and_load_any_label_set(manifest, features, model_dir):
    _, classes = train_model(features, manifest["emotion"], name="ridge")
    assert classes == ["bored", "excited", "neutral"]
    classes = data.label_order(manifest["emotion"])
    y = np.array([classes.index(e) for e in manifest["emotion"]])
    ev = evaluation.cross_validate(features, y, manifest["speaker"], models=["logreg"],
                                   classes=classes, n_inner=2)
    m = ev.metrics("logreg")
    assert ev.classes == classes and m["confusion"].shape == (3, 3)
    assert m["uar"] > 0.9  # three distinct voices
    s = evaluation.summary_dict(ev, feature_config_hash="x", random_state=0)
    assert set(s["models"]["logreg"]["per_class_recall"]) == set(classes)

    model = load(model_dir)
    assert list(model.classes_) == ["bored", "excited", "neutral"]
    assert model.card["classes"] == ["bored", "excited", "neutral"]
    paths = list(manifest["path"])
    assert list(model.predict(paths)) == list(manifest["emotion"])
    onnx = load(model_dir, backend="onnx")
    np.testing.assert_allclose(onnx.predict_proba(paths), model.predict_proba(paths),
                               atol=1e-4)


def test_training_needs_two_classes(features):
    with pytest.raises(ParameterError, match="at least two classes"):
        train_model(features, ["bored"] * len(features), name="logreg")
    with pytest.raises(ParameterError, match="3 labels for 36 feature rows"):
        train_model(features, ["bored", "excited", "neutral"], name="logreg")


def test_distil_a_model_of_another_label_set(manifest, features):
    from ser_classic.distill import distill, quantized_onnx
    from ser_classic.export import onnx_predict_proba, onnx_session

    estimator, classes = train_model(features, manifest["emotion"], name="logreg",
                                     params={"clf__C": 0.01})
    y = np.searchsorted(classes, manifest["emotion"].to_numpy(dtype=str))
    fitted = distill(features, y, teacher=estimator, n_classes=len(classes),
                     config=FeatureConfig(), students=["compact"],
                     speakers=manifest["speaker"].to_numpy(), random_state=0)
    student = fitted["students"]["compact"]
    assert np.mean(student.predict(features) == y) > 0.9
    onnx, _ = quantized_onnx("compact", student, n_features=features.shape[1])
    P = onnx_predict_proba(onnx_session(onnx), features)
    assert P.shape == (len(features), 3) and np.mean(P.argmax(axis=1) == y) > 0.9


# --------------------------------------------------------------------------- subsets
def test_subset_scoring_renormalises(model_dir, manifest):
    model = load(model_dir)
    paths = list(manifest["path"])
    full = model.predict_proba(paths)
    subset = ["neutral", "bored"]  # the model's classes are bored, excited, neutral
    part = model.predict_proba(paths, classes=subset)
    assert part.shape == (len(paths), 2)
    np.testing.assert_allclose(part.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(part[:, 0] / part[:, 1], full[:, 2] / full[:, 0], rtol=1e-9)
    labels = model.predict(paths, classes=subset)
    assert set(labels) <= set(subset)
    expected = np.where(full[:, 2] >= full[:, 0], "neutral", "bored")
    assert list(labels) == list(expected)
    one = model.predict_proba(paths[0], classes=subset)
    np.testing.assert_allclose(one, part[0])

    waves = [sf.read(p, dtype="float32")[0] for p in paths[:6]]
    targets = list(manifest["emotion"][:6].replace("excited", "neutral"))
    scores = model.score(waves, sr=SR, targets=targets, classes=subset)
    assert scores.classes == ("neutral", "bored") and scores.proba.shape == (6, 2)
    cols = [subset.index(t) for t in targets]
    np.testing.assert_allclose(scores.p_target, scores.proba[np.arange(6), cols])
    np.testing.assert_allclose(scores.penalty, 1 - scores.p_target)
    whole = model.score(waves, sr=SR, targets=targets)
    assert whole.classes == ("bored", "excited", "neutral")
    assert np.all(scores.p_target >= whole.p_target - 1e-12)  # renormalised: never lower

    skipped = model.predict(paths[:3], classes=["excited", "neutral"], on_error="skip")
    assert skipped.classes == ("excited", "neutral") and skipped.proba.shape == (3, 2)


def test_subset_errors_name_the_classes(model_dir, manifest):
    model = load(model_dir)
    wave = sf.read(manifest["path"][0], dtype="float32")[0]
    with pytest.raises(ParameterError, match=r"\['happy'\] are not classes of .*the model "
                                             r"knows \['bored', 'excited', 'neutral'\]"):
        model.predict_proba(wave, sr=SR, classes=["bored", "happy"])
    with pytest.raises(ParameterError, match=r"target emotion\(s\) \['excited'\] not in "
                                             r"classes \['bored', 'neutral'\]"):
        model.score([wave], sr=SR, targets="excited", classes=["bored", "neutral"])
    for bad in ([], ["bored", "bored"], "bored"):
        with pytest.raises(ParameterError, match="classes must be"):
            model.predict_proba(wave, sr=SR, classes=bad)


def test_restrict_is_uniform_without_mass():
    from ser_classic.recognizer import _restrict

    P = np.array([[0.5, 0.5, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    out = _restrict(P, np.array([3, 2]))
    np.testing.assert_allclose(out, [[0.5, 0.5], [4 / 7, 3 / 7]])
    assert pd.isna(out).sum() == 0


def test_service_classes_query(model_dir, manifest):
    import httpx

    from ser_classic.service import create_app

    from .test_service import _serve

    model = load(model_dir)
    srv, thread, url = _serve(create_app(model))
    try:
        path = manifest["path"][0]
        files = {"file": ("a.wav", Path(path).read_bytes(), "audio/wav")}
        r = httpx.post(f"{url}/predict", params={"classes": "neutral, bored"}, files=files)
        assert r.status_code == 200, r.text
        expected = model.predict_proba(path, classes=["neutral", "bored"])
        got = r.json()["probabilities"]
        assert list(got) == ["neutral", "bored"]
        np.testing.assert_allclose(list(got.values()), expected, atol=1e-6)
        batch = [("files", (f"{i}.wav", Path(p).read_bytes(), "audio/wav"))
                 for i, p in enumerate(manifest["path"][:3])]
        r = httpx.post(f"{url}/predict/batch", params={"classes": "excited,neutral"},
                       files=batch)
        assert [set(x["probabilities"]) for x in r.json()["results"]] == [
            {"excited", "neutral"}] * 3
        r = httpx.post(f"{url}/predict", params={"classes": "bored,happy"}, files=files)
        assert r.status_code == 422 and r.json()["error"] == "unknown_classes"
        assert "the model knows ['bored', 'excited', 'neutral']" in r.json()["detail"]
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
