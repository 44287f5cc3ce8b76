"""The model store: each shipped model stored once, aliases that resolve from any working
directory, the evaluated backend by default, ``ser-classic models`` list and add."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ser_classic
from ser_classic.cli import main
from ser_classic.errors import ArtifactError, ParameterError
from ser_classic.store import (
    INDEX_FILE,
    SHIPPED,
    ModelIndex,
    add_model,
    format_models,
    read_index,
    resolve,
    write_index,
)

from .deploy_models import tiny_model

ROOT = Path(__file__).resolve().parents[1]
INDEX = read_index()


def test_each_shipped_model_is_stored_once_and_indexed():
    dirs = sorted(p for p in SHIPPED.iterdir() if (p / "model.json").is_file())
    assert sorted(e.path for e in INDEX.models.values()) == [d.name for d in dirs]
    onnx = {hashlib.sha256((d / "model.onnx").read_bytes()).hexdigest(): d for d in dirs}
    assert len(onnx) == len(dirs)  # no two directories hold the same ONNX graph
    for model_id, entry in INDEX.models.items():
        card = json.loads((SHIPPED / entry.path / "model.json").read_text())
        assert card["model_id"] == model_id == entry.path
        assert card["files"]["model.onnx"] == entry.onnx_sha256
        assert (entry.normalization, entry.classes) == (card["normalization"], card["classes"])
        assert entry.size_bytes == (SHIPPED / entry.path / "model.onnx").stat().st_size
        assert entry.command and entry.command.startswith("ser-classic ")
        assert INDEX.aliases_of(model_id)  # every stored model has a name
    # models/ of the checkout holds no shipped model (any left there is a local one)
    local = [p.parent for p in (ROOT / "models").glob("*/model.json")]
    assert not {hashlib.sha256((d / "model.onnx").read_bytes()).hexdigest()
                for d in local} & set(onnx)


@pytest.mark.parametrize("alias", sorted(INDEX.aliases))
def test_every_alias_resolves(alias):
    model_id = INDEX.aliases[alias].model
    path = resolve(alias)
    assert path == SHIPPED / INDEX.models[model_id].path
    assert resolve(f"models/{alias}") == path == resolve(ROOT / "models" / alias)
    assert json.loads((path / "model.json").read_text())["model_id"] == model_id
    report = INDEX.aliases[alias].report
    if report is not None:  # the report that decided it names this model
        summary = json.loads((ROOT / report / "summary.json").read_text())
        named = (summary["candidate_models"].values() if summary.get("kind") == "corpus_ab"
                 else [m["model_id"] for m in summary["models"].values()])
        assert model_id in set(named)


def test_load_deployed_from_another_directory(tmp_path, ravdess_manifest):
    """From a working directory without models/: the shipped alias, the evaluated backend
    (the int8 ONNX graph the model id hashes), the model id the A/B report deployed."""
    clips = list(ravdess_manifest[ravdess_manifest["speaker"] == "ravdess_07"]["path"][:3])
    script = ("import json, sys, ser_classic\n"
              "m = ser_classic.load('deployed')\n"
              "p = m.predict_proba(sys.argv[1:])\n"
              "print(json.dumps({'id': m.model_id, 'backend': m.backend,"
              " 'path': str(m.artifact.path), 'p': p.tolist()}))\n")
    out = subprocess.run([sys.executable, "-c", script, *map(str, clips)], cwd=tmp_path,
                         capture_output=True, text=True, check=True, timeout=300)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    stored = ser_classic.load(resolve("deployed"), backend="onnx")
    assert got["backend"] == "onnx" and Path(got["path"]) == resolve("deployed")
    np.testing.assert_array_equal(np.array(got["p"]), stored.predict_proba(clips))
    ab = json.loads((ROOT / INDEX.aliases["deployed"].report / "summary.json").read_text())
    assert got["id"] == ab["decision"]["winner_model"] == stored.model_id


def test_backend_on_request_and_cli_default(ravdess_manifest, capsys):
    clip = str(ravdess_manifest["path"].iloc[0])
    assert ser_classic.load("deployed", backend="sklearn").backend == "sklearn"
    assert ser_classic.load("teacher").backend == "sklearn"  # float graph: as evaluated
    assert main(["predict", clip, "--model", "deployed", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)["predictions"][0]
    rec = ser_classic.load("deployed")
    p = rec.predict_proba(clip)
    assert [row[f"p_{c}"] for c in rec.classes_] == [round(float(v), 4) for v in p]


def test_models_lists_every_model(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + len(INDEX.models)  # a header, one line per stored model
    for model_id in INDEX.models:
        (line,) = [ln for ln in lines if ln.rstrip().endswith(model_id)]
        for alias in INDEX.aliases_of(model_id):
            assert alias in line
    assert main(["models", "--format", "markdown"]) == 0
    table = capsys.readouterr().out
    assert table.count("\n| ") == len(INDEX.models) and "held-out corpora uar" in table


def test_models_add_to_a_store(tmp_path, small_manifest, feature_cache, capsys):
    store = tmp_path / "store"
    model = tiny_model(small_manifest, feature_cache)
    model_id = json.loads((model / "model.json").read_text())["model_id"]
    assert main(["models", "add", str(model), "--alias", "mine", "--store", str(store)]) == 0
    assert (store / model_id / "model.onnx").is_file() and (store / INDEX_FILE).is_file()
    # an A/B that deploys it: stored once more? no: one directory, a second alias
    report = tmp_path / "ab"
    report.mkdir()
    (report / "summary.json").write_text(json.dumps({
        "data": "../shared/data/tess", "n_clips": 10, "speakers": ["tess_OAF"],
        "models": {"a": {"model_id": model_id, "backend": "sklearn", "accuracy": 0.5,
                         "uar": 0.4},
                   "b": {"model_id": "other-0123456789", "accuracy": 0.3, "uar": 0.3}},
        "decision": {"winner": "a", "winner_model": model_id, "winner_path": str(model)}}))
    assert main(["models", "add", "--report", str(report), "--alias", "deployed",
                 "--role", "deployed", "--store", str(store)]) == 0
    index = read_index(store)
    assert list(index.models) == [model_id] and index.aliases_of(model_id) == ["mine",
                                                                               "deployed"]
    fig, fig_uar = index.models[model_id].figures
    assert (fig.metric, fig.value, fig.data) == ("accuracy", 0.5, "tess (10 clips)")
    assert (fig_uar.metric, fig_uar.value) == ("uar", 0.4)
    assert ser_classic.load(resolve("deployed", store=store)).model_id == model_id
    capsys.readouterr()
    assert main(["models", "--store", str(store)]) == 0
    assert "mine, deployed" in capsys.readouterr().out
    # another model under "mine": the alias moves; the first model keeps "deployed"
    other = tiny_model(small_manifest, feature_cache, params={"clf__C": 3.0})
    entry = add_model(other, store=store, alias="mine", role="model")
    index = read_index(store)
    assert index.aliases["mine"].model == entry.path != model_id
    assert index.aliases_of(model_id) == ["deployed"]
    # ... and "deployed" too: the first model has no name left and leaves the store
    add_model("mine", store=store, alias="deployed", role="deployed")
    assert list(read_index(store).models) == [entry.path]
    assert not (store / model_id).exists()
    # a model that another stored model names as its parent stays without an alias
    add_model(model, store=store, alias="teacher", role="teacher")
    add_model(other, store=store, alias="student", role="student", parent="teacher")
    add_model(other, store=store, alias="teacher", role="teacher")
    index = read_index(store)
    assert index.models[entry.path].parent == model_id and not index.aliases_of(model_id)
    assert model_id in index.models and (store / model_id / "model.onnx").is_file()
    capsys.readouterr()
    assert main(["models", "--store", str(store)]) == 0
    assert model_id in capsys.readouterr().out
    with pytest.raises(ParameterError, match="alias must be"):
        add_model(other, store=store, alias="a/b", role="model")
    with pytest.raises(ParameterError, match="role must be"):
        add_model(other, store=store, alias="x", role="boss")


def test_a_replaced_teacher_leaves_with_its_last_student(tmp_path, small_manifest,
                                                         feature_cache):
    """make run's order: teacher, then student; the old pair leaves the store."""
    store = tmp_path / "store"
    t1, s1, t2, s2 = (tiny_model(small_manifest, feature_cache, params={"clf__C": c})
                      for c in (0.1, 0.3, 1.0, 3.0))
    ids = [json.loads((d / "model.json").read_text())["model_id"] for d in (t1, s1, t2, s2)]
    assert len(set(ids)) == 4
    add_model(t1, store=store, alias="teacher", role="teacher")
    add_model(s1, store=store, alias="student", role="student", parent="teacher")
    add_model(t2, store=store, alias="teacher", role="teacher")
    assert len(read_index(store).models) == 3  # t1 stays: s1 derives from it
    add_model(s2, store=store, alias="student", role="student", parent="teacher")
    index = read_index(store)
    assert sorted(index.models) == sorted(ids[2:])
    assert sorted(p.name for p in store.iterdir() if p.is_dir()) == sorted(ids[2:])


def test_index_errors_name_the_file_and_field(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    raw = INDEX.model_dump()
    raw["aliases"]["deployed"]["role"] = "boss"
    (store / INDEX_FILE).write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=r"index\.json: field 'aliases\.deployed\.role'"):
        read_index(store)
    raw = INDEX.model_dump()
    raw["aliases"]["deployed"]["model"] = "gone-0000000000"
    (store / INDEX_FILE).write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=r"field 'aliases\.deployed\.model'.*not hold"):
        read_index(store)
    raw = INDEX.model_dump()
    first, second = list(raw["models"])[:2]
    raw["models"][second]["onnx_sha256"] = raw["models"][first]["onnx_sha256"]
    (store / INDEX_FILE).write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=rf"field 'models\.{second}'.*same ONNX"):
        read_index(store)
    raw = INDEX.model_dump()
    del raw["models"][first]["size_bytes"]
    (store / INDEX_FILE).write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=rf"field 'models\.{first}\.size_bytes'"):
        read_index(store)
    (store / INDEX_FILE).write_text("{")
    with pytest.raises(ArtifactError, match="corrupt model index"):
        read_index(store)
    with pytest.raises(ArtifactError, match="same ONNX"):
        write_index(ModelIndex(models={"a": INDEX.models[first], "b": INDEX.models[first]
                                       .model_copy(update={"path": "b"})}), tmp_path / "w")
    assert not (tmp_path / "w" / INDEX_FILE).exists()
    with pytest.raises(ArtifactError, match="not found, nor an alias"):
        ser_classic.load("no-such-model")


def test_readme_table_is_generated_from_the_index():
    readme = (ROOT / "README.md").read_text()
    assert format_models(INDEX, fmt="markdown") in readme


def test_same_graph_with_another_card_refreshes_the_stored_copy(tmp_path):
    """A retrained model with the same ONNX graph but a new card (typicality statistics
    added) replaces the stored card: the store never keeps stale metadata."""
    from ser_classic.artifact import copy_artifact, load_artifact, set_typicality
    from ser_classic.typicality import Typicality

    src = resolve("student")
    card = load_artifact(src, load_joblib=False).card
    rng = np.random.default_rng(0)
    dirs = []
    for name in ("first", "second"):
        model = copy_artifact(src, tmp_path / name)
        X = rng.normal(size=(12, card["n_features"]))
        set_typicality(model, Typicality.fit(X, columns=card.get("used_features")))
        dirs.append(model)
    store = tmp_path / "store"
    add_model(dirs[0], store=store, alias="a", role="model")
    entry = add_model(dirs[1], store=store, alias="b", role="model")
    stored = load_artifact(store / entry.path, load_joblib=False).card
    second = load_artifact(dirs[1], load_joblib=False).card
    assert entry.path == card["model_id"]
    assert stored["typicality"] == second["typicality"]
    assert len(read_index(store).models) == 1
