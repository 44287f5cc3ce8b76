"""The library's jobs (ser_classic.pipeline) end to end on a generated labelled folder whose
labels are not RAVDESS's, and the CLI giving the same model ids for the same arguments."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import ser_classic
from ser_classic import cli, data, pipeline
from ser_classic.errors import ParameterError
from ser_classic.models import MODELS

from .conftest import speechlike

LABELS = ("bored", "excited", "neutral")
SPEAKERS = ("spk_a", "spk_b", "spk_c")
#: each label a voice of its own: pitch and vibrato depth
VOICE = {"bored": 110.0, "excited": 260.0, "neutral": 170.0}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A labelled folder: 3 speakers x 3 labels x 4 clips, labels.csv + labels.json."""
    root = tmp_path_factory.mktemp("mine")
    lines = ["path,label,speaker"]
    for s, spk in enumerate(SPEAKERS):
        for label in LABELS:
            for k in range(4):
                y = speechlike(16000, 0.8 + 0.1 * k, f0=VOICE[label] * (1 + 0.06 * s),
                               seed=100 * s + k)
                name = f"{spk}/{label}_{k}.wav"
                (root / spk).mkdir(exist_ok=True)
                sf.write(root / name, y, 16000)
                lines.append(f"{name},{label},{spk}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    (root / "labels.json").write_text(json.dumps({"labels": list(LABELS)}))
    return root


@pytest.fixture(scope="module")
def manifest(folder):
    records = data.read_labelled_csv(folder / "labels.csv", corpus="mine")
    frame = data.build_manifest(records)
    assert sorted(set(frame["emotion"])) == sorted(LABELS) and len(frame) == 36
    return frame


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


CV = dict(models=["logreg"], split="group6", n_folds=3, normalizations=("strict",),
          augment="none", n_inner=2, corpus="mine", random_state=0, n_jobs=1)
CV_ARGS = ["--corpus", "mine", "--models", "logreg", "--split", "group6", "--folds", "3",
           "--normalization", "strict", "--augment", "none", "--inner", "2",
           "--feature-sets", "", "--jobs", "1"]


def test_api_and_cli_give_the_same_models(manifest, cache, tmp_path, capsys):
    # ---- cross-validate: typed result, report and the selection (the hand-off)
    cv = ser_classic.cross_validate(manifest, cache_dir=cache, **CV)
    assert isinstance(cv, pipeline.CrossValidation)
    assert cv.selection.classes == ("neutral", "bored", "excited")  # data.label_order
    run = cv.selection.run("strict")
    assert run.selected == "logreg" and run.params["logreg"] is not None
    oof = cv.oof("logreg")
    assert len(oof) == 36 and set(oof["true"]) == set(LABELS)
    assert {"p_bored", "p_excited", "p_neutral"} <= set(oof.columns)
    lo, hi = cv.summary["models"]["logreg"]["uar_ci95"]
    assert lo <= cv.summary["models"]["logreg"]["uar"] <= hi
    written = cv.write_report(tmp_path / "cv_api", command="api")
    assert written and (tmp_path / "cv_api" / "report.md").is_file()
    selection = pipeline.Selection.load(tmp_path / "cv_api" / pipeline.SELECTION_FILE)
    assert selection == cv.selection

    # the CLI's evaluate: the same selection
    manifest_csv = tmp_path / "manifest.csv"
    data.save_manifest(manifest, manifest_csv)
    assert cli.main(["evaluate", "--manifest", str(manifest_csv), "--cache", str(cache),
                     *CV_ARGS, "--out", str(tmp_path / "cv_cli")]) == 0
    cli_selection = pipeline.Selection.load(tmp_path / "cv_cli" / pipeline.SELECTION_FILE)
    assert cli_selection.runs == selection.runs
    assert cli_selection.command.startswith("ser-classic evaluate")

    # ---- train @selected with the tuned parameters of the selection
    trained = ser_classic.train(manifest, model="@selected", selection=selection,
                                corpora="mine", augment="none", cache_dir=cache)
    assert isinstance(trained, pipeline.TrainedModel)
    assert trained.classes == LABELS and trained.name == "logreg"
    assert trained.training["params"] == run.params["logreg"]
    assert trained.cv_metrics["accuracy"] == cv.summary["models"]["logreg"]["accuracy"]
    assert trained.export.ok
    card = trained.save(tmp_path / "api_model")
    assert card["model_id"] == trained.model_id
    cli_model = tmp_path / "cli_model"
    assert cli.main(["train", "--model", "@selected", "--manifest", str(manifest_csv),
                     "--corpora", "mine", "--augment", "none", "--cache", str(cache),
                     "--jobs", "1", "--selection", str(tmp_path / "cv_cli" / "selection.json"),
                     "--out", str(cli_model)]) == 0
    assert json.loads((cli_model / "model.json").read_text())["model_id"] == trained.model_id
    # export is the same step: the same graph from the same estimator
    X = trained.export
    again = pipeline.export_onnx(trained.estimator, X_parity=np.zeros((2, card["n_features"])))
    assert again.onnx == X.onnx

    rec = ser_classic.load(tmp_path / "api_model")
    clip = sorted(manifest["path"])[0]
    assert rec.predict([clip])[0] in LABELS

    # ---- distil (transfer set of the teacher's clips, quantized student)
    student = ser_classic.distil(tmp_path / "api_model", manifest, student="tree_uint8",
                                 copies=1, candidates=100, cache_dir=cache)
    assert isinstance(student, pipeline.DistilledModel)
    assert student.classes == LABELS and student.normalization == "strict"
    assert student.info["transfer_rows"]["clip"] == 36
    student.save(tmp_path / "api_student")
    assert cli.main(["distil", "--teacher", str(tmp_path / "api_model"), "--manifest",
                     str(manifest_csv), "--student", "tree_uint8", "--copies", "1",
                     "--candidates", "100", "--cache", str(cache), "--jobs", "1", "--out",
                     str(tmp_path / "cli_student")]) == 0
    cli_card = json.loads((tmp_path / "cli_student" / "model.json").read_text())
    assert cli_card["model_id"] == student.model_id
    assert ser_classic.load(tmp_path / "api_student").predict([clip])[0] in LABELS
    capsys.readouterr()


def test_the_manifests_row_order_does_not_change_the_models(manifest, cache, tmp_path):
    """The same clips in another row order give the same teacher and student ids, and the
    same cross-validated figures: rows are fitted in content order."""
    shuffled = manifest.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert list(shuffled["path"]) != list(manifest["path"])
    kw = dict(model="logreg", corpora="mine", augment="masks", copies=1, cache_dir=cache,
              params={"clf__C": 0.3})
    a, b = pipeline.train(manifest, **kw), pipeline.train(shuffled, **kw)
    assert a.model_id == b.model_id
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    students = [pipeline.distil(tmp_path / t, m, student="linear_int8", copies=1,
                                candidates=50, cache_dir=cache)
                for t, m in (("a", manifest), ("b", shuffled))]
    assert students[0].model_id == students[1].model_id
    cv = [pipeline.cross_validate(m, cache_dir=cache, **CV).summary["models"]["logreg"]
          for m in (manifest, shuffled)]
    assert cv[0]["uar"] == cv[1]["uar"] and cv[0]["params"] == cv[1]["params"]


def test_train_as_a_model_directory_and_the_cards_figures(manifest, cache, tmp_path):
    """A model directory gives its registry model and normalisation; a model trained on
    other data than the CV's (fewer speakers, fewer labels) carries no CV metrics."""
    cv = pipeline.cross_validate(manifest, cache_dir=cache, **CV)
    norm = pipeline.train(manifest, model="logreg", normalization="speaker_norm",
                          corpora="mine", augment="none", cache_dir=cache,
                          selection=cv.selection)
    norm.save(tmp_path / "norm")
    again = pipeline.train(manifest, model=tmp_path / "norm", corpora="mine", augment="none",
                           cache_dir=cache, exclude_speakers=["mine_spk_c"],
                           selection=cv.selection)
    assert again.normalization == "speaker_norm" and again.cv_metrics is None
    with pytest.raises(ParameterError, match="contradicts it"):
        pipeline.train(manifest, model=tmp_path / "norm", normalization="strict",
                       corpora="mine", augment="none", cache_dir=cache)
    two = pipeline.train(manifest, model="@selected", selection=cv.selection, corpora="mine",
                         augment="none", cache_dir=cache, exclude_emotions=["bored"])
    assert two.classes == ("excited", "neutral") and two.cv_metrics is None
    assert two.training["params_tuned_with_emotions"] == ["neutral", "bored", "excited"]
    with pytest.raises(ParameterError, match="no such speaker"):
        pipeline.train(manifest, model="logreg", corpora="mine", exclude_speakers=["nobody"])


def test_selection_migrates_a_cv_summary_and_refuses_other_files(tmp_path):
    summary = {"protocol": "loso", "speaker_normalized": False, "selected": "ridge",
               "runner_up": "linear", "classes": list(data.EMOTIONS), "n_speakers": 24,
               "feature_config_hash": "66c8de0d5588",
               "models": {"ridge": {"params": [{"clf__alpha": 1.0}, {"clf__alpha": 3.0},
                                               {"clf__alpha": 3.0}, {"clf__alpha": 1.0}],
                                    "accuracy": 0.6, "uar": 0.55, "fold_uar": [0.5]}},
               "speaker_normalized_run": {"speaker_normalized": True, "selected": "ridge",
                                          "runner_up": None,
                                          "models": {"ridge": {"params": None}}}}
    sel = pipeline.selection_from_cv_summary(summary)
    # the most frequent per-fold choice; a tie goes to the first seen
    assert sel.run("strict").params["ridge"] == {"clf__alpha": 1.0}
    assert sel.run("strict").metrics["ridge"] == {"accuracy": 0.6, "uar": 0.55}
    assert sel.resolve("@runner_up", normalization="strict") == "linear"
    with pytest.raises(ParameterError, match="no 'runner_up' in the speaker_norm run"):
        sel.resolve("@runner_up", normalization="speaker_norm")
    path = sel.save(tmp_path / "selection.json")
    assert pipeline.Selection.load(path) == sel
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ParameterError, match="not a ser_classic selection"):
        pipeline.Selection.load(tmp_path / "summary.json")
    # the same summary in today's words gives the same selection
    today = {**{k: v for k, v in summary.items()
                if k not in ("protocol", "speaker_normalized", "speaker_normalized_run")},
             "split": "loso", "normalization": "strict",
             "speaker_norm_run": {**summary["speaker_normalized_run"],
                                  "normalization": "speaker_norm"}}
    del today["speaker_norm_run"]["speaker_normalized"]
    assert pipeline.selection_from_cv_summary(today) == sel


def test_one_vocabulary_enums_and_strings():
    """Normalization and SplitScheme members and their strings are interchangeable; other
    spellings are refused with the choices named."""
    from ser_classic import Normalization, SplitScheme
    from ser_classic.evaluation import outer_splits

    assert Normalization.SPEAKER_NORM == "speaker_norm" and SplitScheme.GROUP6 == "group6"
    speakers = np.repeat(["a", "b", "c", "d"], 2)
    assert [t.tolist() for _, t in outer_splits(speakers, split=SplitScheme.GROUP6,
                                                n_folds=2)] == \
        [t.tolist() for _, t in outer_splits(speakers, split="group6", n_folds=2)]
    for bad, match in (("speaker", "normalization must be one of 'strict', 'speaker_norm'"),
                       (True, "normalization must be one of")):
        with pytest.raises(ParameterError, match=match):
            pipeline.Selection(runs={}, split="loso", corpus="c", classes=(), n_speakers=0,
                               feature_config={}, feature_config_hash="").run(bad)
    with pytest.raises(ParameterError, match="split must be one of 'loso', 'group6'"):
        outer_splits(speakers, split="protocol")


def test_committed_teachers_are_the_selected_family_tuned_on_their_training_corpora():
    """reports/cv/selection.json names the family; the shipped teachers' parameters are the
    grid points with the best mean of the speaker- and corpus-grouped inner CVs recorded on
    their cards (Makefile TUNE), over the corpora they were trained on."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sel = pipeline.Selection.load(root / "reports" / "cv" / pipeline.SELECTION_FILE)
    assert sel.split == "loso" and sel.n_speakers == 24 and sel.corpus == "ravdess"
    for alias, normalization in (("teacher", "strict"),
                                 ("teacher-speaker_norm", "speaker_norm")):
        assert sel.resolve("@selected", normalization=normalization) == "linear"
        training = ser_classic.load(alias).card["training"]
        source = training["params_source"]
        assert source["tuned"] == "speaker+corpus"
        assert source["corpora"] == training["corpora"] == ["emovo", "ravdess", "tess"]
        for member, scores in source["inner_scores"].items():
            mean = (np.asarray(scores["speaker"]) + np.asarray(scores["corpus"])) / 2
            assert training["params"][member] == scores["grid"][int(np.argmax(mean))]


def test_corpus_ab_holds_out_each_training_corpus(folder, manifest, cache, tmp_path):
    from ser_classic.deployment import corpus_ab

    # a second corpus: the same labels spoken by the same generated voices, other speakers
    other = manifest.assign(corpus="theirs",
                            speaker=manifest["speaker"].str.replace("spk", "other"))
    both = pd.concat([manifest, other], ignore_index=True)
    result = corpus_ab(both, model="logreg", corpora=["theirs", "mine"],
                       students=("tree_uint8",), augment="none", n_boot=50, cache_dir=cache)
    summary = result.summary
    assert list(summary["folds"]) == ["mine", "theirs"]
    assert summary["folds"]["mine"]["trained_on"] == ["theirs"]
    for fold in summary["folds"].values():
        assert fold["teacher"]["n"] == 36
        assert 0 <= fold["tree_uint8"]["uar"] <= 1
        assert "p_value" in fold["tree_uint8"]["mcnemar_vs_teacher"]
    loss = summary["mean"]["teacher"]["uar"] - summary["mean"]["tree_uint8"]["uar"]
    assert result.deploy == ("tree_uint8" if loss <= 0.03 else "teacher")
    strict = corpus_ab(both, model="logreg", corpora=["theirs", "mine"],
                       students=("tree_uint8",), augment="none", n_boot=50, max_loss=-0.0,
                       cache_dir=cache)
    assert strict.deploy == ("tree_uint8" if loss <= 0 else "teacher")
    for fold in summary["folds"].values():
        for n in ("teacher", "tree_uint8"):
            # per-class recall is the confusion counts' diagonal over their rows; the
            # reliability bins hold every clip, and their ECE is the one reported
            cm = np.array(fold[n]["confusion"])
            assert cm.sum() == fold[n]["n"] and cm.shape == (len(fold["classes"]),) * 2
            assert [fold[n]["recall"][c] for c in fold["classes"]] == pytest.approx(
                list(np.diag(cm) / cm.sum(axis=1)))
            assert np.trace(cm) / cm.sum() == pytest.approx(fold[n]["accuracy"])
            bins = fold[n]["reliability"]
            assert sum(bins["counts"]) == fold[n]["n"] and len(bins["counts"]) == 15
            gap = sum(k * abs(a - c) for k, a, c in zip(
                bins["counts"], bins["accuracy"], bins["confidence"], strict=True) if k)
            assert gap / fold[n]["n"] == pytest.approx(fold[n]["ece"])
    written = result.write_report(tmp_path / "corpus_ab", command="api")
    report = (tmp_path / "corpus_ab" / "report.md").read_text()
    assert "Deployed: **" in report and "## Per-class recall" in report
    recall = summary["folds"]["mine"]["tree_uint8"]["recall"]  # every class present
    assert "| mine | tree_uint8 | " + " | ".join(
        f"{recall[c]:.2f}" for c in data.label_order(recall)) + " |" in report
    assert json.loads(written[0].read_text())["decision"]["deploy"] == result.deploy
    assert {p.name for p in written} >= {"reliability_mine.png", "reliability_theirs.png",
                                         "confusion_mine_teacher.png",
                                         "confusion_theirs_tree_uint8.png"}
    assert all(p.stat().st_size > 1000 for p in written)
    with pytest.raises(ParameterError, match="at least 2 corpora"):
        corpus_ab(both, model="logreg", corpora=["mine"])
    assert summary["tune"] is None and "the selection file's, fixed" in (
        tmp_path / "corpus_ab" / "report.md").read_text()
    # tuned in every fold on that fold's training corpus alone (speaker-grouped)
    tuned = corpus_ab(both, model="logreg", corpora=["theirs", "mine"], students=(),
                      augment="none", n_boot=20, tune="speaker", cache_dir=cache)
    grid = MODELS["logreg"].param_grid()
    for fold in tuned.summary["folds"].values():
        assert fold["teacher_params"] in grid
    tuned.write_report(tmp_path / "tuned", command="api")
    assert "`--tune speaker`) on that fold's training corpora only" in (
        tmp_path / "tuned" / "report.md").read_text()


def test_corpus_ab_scores_a_neutral_ref_recipe_with_each_speakers_other_neutral_clips(
        manifest, cache, tmp_path):
    """A neutral_ref fold teacher scores each held-out clip as the public API does with the
    speaker's neutral clips enrolled (a neutral clip: the other ones, never itself)."""
    from ser_classic.artifact import load_artifact
    from ser_classic.deployment import corpus_ab
    from ser_classic.evaluation import brier_score, closed_set_proba
    from ser_classic.recognizer import EmotionRecognizer

    other = manifest.assign(corpus="theirs",
                            speaker=manifest["speaker"].str.replace("spk", "other"))
    both = pd.concat([manifest, other], ignore_index=True)
    result = corpus_ab(both, model="logreg", corpora=["theirs", "mine"], students=(),
                       normalization="neutral_ref", augment="none", n_boot=20,
                       cache_dir=cache, work_dir=tmp_path / "work")
    fold = result.summary["folds"]["mine"]
    rec = EmotionRecognizer(load_artifact(tmp_path / "work" / "mine" / "teacher"),
                            backend="sklearn")
    rows = manifest.reset_index(drop=True)
    proba = np.empty((len(rows), len(rec.classes_)))
    for i, row in rows.iterrows():
        reference = rows[(rows["speaker"] == row["speaker"]) & (rows["emotion"] == "neutral")
                         & (rows.index != i)]
        proba[i] = rec.predict_proba(row["path"], speaker=rec.enroll(list(reference["path"])))
    y = np.searchsorted(fold["classes"], rows["emotion"].to_numpy(dtype=str))
    proba = closed_set_proba(proba, rec.classes_, fold["classes"])
    assert fold["teacher"]["accuracy"] == pytest.approx(float(np.mean(proba.argmax(1) == y)))
    assert fold["teacher"]["brier"] == pytest.approx(brier_score(y, proba), abs=1e-9)
    result.write_report(tmp_path / "report", command="api")
    assert "centred on the mean of its neutral clips" in (
        tmp_path / "report" / "report.md").read_text()
    few = both.drop(both.index[(both["corpus"] == "mine") & (both["emotion"] == "neutral")
                               & both["path"].str.endswith(("_0.wav", "_1.wav"))])
    with pytest.raises(ParameterError, match=r"spk.*2 neutral clips.*at least 3"):
        corpus_ab(few, model="logreg", corpora=["theirs", "mine"], students=(),
                  normalization="neutral_ref", augment="none", n_boot=20, cache_dir=cache,
                  work_dir=tmp_path / "work")


def test_corpus_ab_distils_the_compact_students_at_the_width_asked(manifest, cache,
                                                                    tmp_path):
    from ser_classic.deployment import corpus_ab

    other = manifest.assign(corpus="theirs",
                            speaker=manifest["speaker"].str.replace("spk", "other"))
    both = pd.concat([manifest, other], ignore_index=True)
    result = corpus_ab(both, model="logreg", corpora=["theirs", "mine"],
                       students=("compact_int8", "tree_uint8"), augment="none", n_boot=20,
                       width=12, cache_dir=cache)
    summary = result.summary
    assert summary["width"] == 12
    result.write_report(tmp_path, command="api")
    assert "compact students' width 12" in (tmp_path / "report.md").read_text()
    for fold in summary["folds"].values():
        assert fold["compact_int8"]["n_columns"] == 12
        assert fold["tree_uint8"]["n_columns"] >= 1  # every student says what it reads
    with pytest.raises(ParameterError, match="width is for the compact students"):
        corpus_ab(both, model="logreg", corpora=["theirs", "mine"],
                  students=("tree_uint8",), width=12)


def test_corpus_ab_trains_a_fold_teacher_once_per_recipe_in_its_work_dir(folder, manifest,
                                                                         cache, tmp_path):
    """With ``work_dir``, A/Bs of other students of one teacher reuse its fold teachers
    (the same figures as a fresh one), the same A/B reuses its students too; another recipe
    or other rows train it again. The CLI's ``--work`` is the same."""
    import shutil

    from ser_classic.cli import main
    from ser_classic.deployment import corpus_ab
    from ser_classic.features import FeatureConfig

    # a second corpus: copies of the same clips under other files and speakers
    shutil.copytree(folder, tmp_path / "theirs")
    other = data.build_manifest(data.read_labelled_csv(tmp_path / "theirs" / "labels.csv",
                                                       corpus="theirs"))
    both = pd.concat([manifest, other], ignore_index=True)
    work = tmp_path / "work"
    common = dict(model="logreg", corpora=["theirs", "mine"], augment="none", n_boot=20,
                  cache_dir=cache)

    def cards() -> dict[str, int]:
        return {c: (work / c / "teacher" / "model.json").stat().st_mtime_ns
                for c in ("mine", "theirs")}

    fresh = corpus_ab(both, students=("linear_int8",), **common).summary
    first = corpus_ab(both, students=("linear_int8",), work_dir=work, **common).summary
    written = cards()
    recipe = json.loads((work / "mine" / "teacher" / "recipe.json").read_text())
    assert recipe["features"] == FeatureConfig().hash and recipe["corpora"] == ["theirs"]
    second = corpus_ab(both, students=("tree_uint8",), work_dir=work, **common).summary
    assert cards() == written  # reused
    # the first A/B again with candidates: its students are reused too, only scored
    students = {c: (work / c / "linear_int8" / "model.json").stat().st_mtime_ns
                for c in ("mine", "theirs")}
    named = corpus_ab(both, students=("linear_int8",), work_dir=work, **common,
                      candidates={"teacher": work / "mine" / "teacher",
                                  "linear_int8": work / "mine" / "linear_int8"}).summary
    assert {c: (work / c / "linear_int8" / "model.json").stat().st_mtime_ns
            for c in ("mine", "theirs")} == students
    assert named["folds"] == first["folds"] and "winner_path" in named["decision"]
    for corpus in ("mine", "theirs"):
        assert first["folds"][corpus]["teacher"] == fresh["folds"][corpus]["teacher"]
        assert second["folds"][corpus]["teacher"] == fresh["folds"][corpus]["teacher"]
    corpus_ab(both, students=(), work_dir=work, **{**common, "n_boot": 10},
              random_state=1)  # another recipe
    again = cards()
    assert all(again[c] != written[c] for c in again)
    # one clip fewer of "theirs": other rows for the fold that holds out "mine" only
    fewer = both.drop(index=both.index[both["corpus"] == "theirs"][0]).reset_index(drop=True)
    corpus_ab(fewer, students=(), work_dir=work, **common, random_state=1)
    last = cards()
    assert last["mine"] != again["mine"] and last["theirs"] == again["theirs"]
    # the CLI with the same arguments: the same recipe, nothing trained
    data.save_manifest(fewer, tmp_path / "fewer.csv")
    assert main(["corpus-ab", "--manifest", str(tmp_path / "fewer.csv"), "--cache",
                 str(cache), "--model", "logreg", "--selection", str(tmp_path / "none.json"),
                 "--corpora", "theirs,mine", "--students", "", "--augment", "none",
                 "--boot", "20", "--seed", "1", "--work", str(work), "--jobs", "1",
                 "--out", str(tmp_path / "cli")]) == 0
    assert cards() == last


def test_corpus_ab_folds_made_apart_are_the_ones_the_ab_scores(folder, manifest, cache,
                                                               tmp_path, capsys):
    """``corpus_ab_folds`` (the CLI's ``--held-out``: make's one job per fold) makes only
    the folds named; the A/B then keeps them and gives a fresh A/B's figures."""
    import shutil

    from ser_classic.cli import main
    from ser_classic.deployment import corpus_ab, corpus_ab_folds

    shutil.copytree(folder, tmp_path / "theirs")
    other = data.build_manifest(data.read_labelled_csv(tmp_path / "theirs" / "labels.csv",
                                                       corpus="theirs"))
    both = pd.concat([manifest, other], ignore_index=True)
    data.save_manifest(both, tmp_path / "both.csv")
    work = tmp_path / "work"
    common = dict(model="logreg", corpora=["theirs", "mine"], students=("linear_int8",),
                  augment="none", cache_dir=cache)
    made = corpus_ab_folds(both, held_out=["mine"], work_dir=work, **common)
    assert made == {"mine": work / "mine"} and not (work / "theirs").exists()
    cli = ["corpus-ab", "--manifest", str(tmp_path / "both.csv"), "--cache", str(cache),
           "--model", "logreg", "--selection", str(tmp_path / "none.json"), "--corpora",
           "theirs,mine", "--students", "linear_int8", "--augment", "none", "--jobs", "1"]
    assert main([*cli, "--work", str(work), "--held-out", "theirs"]) == 0
    assert f"made {work / 'theirs'} (held out: theirs)" in capsys.readouterr().out
    written = {p: p.stat().st_mtime_ns for p in work.rglob("model.json")}
    assert len(written) == 4  # a teacher and a student per fold
    kept = corpus_ab(both, work_dir=work, n_boot=20, **common).summary
    assert {p: p.stat().st_mtime_ns for p in work.rglob("model.json")} == written
    fresh = corpus_ab(both, n_boot=20, **common).summary
    assert kept["folds"] == fresh["folds"] and kept["decision"] == fresh["decision"]
    with pytest.raises(ParameterError, match=r"held_out: \['emovo'\] must be among"):
        corpus_ab_folds(both, held_out=["emovo"], work_dir=work, **common)
    assert main([*cli, "--held-out", "mine"]) == 2  # no --work
    assert main([*cli, "--work", str(work), "--held-out", "mine", "--out",
                 str(tmp_path / "r")]) == 2
    assert main([*cli, "--work", str(work)]) == 2  # neither --held-out nor --out
    assert "--out is required" in capsys.readouterr().err


def test_corpus_ab_scores_the_students_with_their_own_calibration(manifest, cache):
    from ser_classic.deployment import corpus_ab

    other = manifest.assign(corpus="theirs",
                            speaker=manifest["speaker"].str.replace("spk", "other"))
    both = pd.concat([manifest, other], ignore_index=True)
    runs = {c: corpus_ab(both, model="logreg", corpora=["theirs", "mine"],
                         students=("linear_int8",), augment="none", n_boot=20,
                         student_calibration=c, cache_dir=cache).summary
            for c in ("none", "temperature")}
    assert runs["temperature"]["calibration"] == "none"
    assert runs["temperature"]["student_calibration"] == "temperature"
    for corpus in ("mine", "theirs"):
        uncal, scaled = (runs[c]["folds"][corpus] for c in ("none", "temperature"))
        assert scaled["teacher"] == uncal["teacher"]  # the teacher is not recalibrated
        assert scaled["linear_int8"]["uar"] == uncal["linear_int8"]["uar"]  # same argmax
        assert scaled["linear_int8"]["ece"] != uncal["linear_int8"]["ece"]


def test_distil_refuses_a_manifest_that_is_not_the_teachers_training_set(manifest, cache,
                                                                         tmp_path, capsys):
    """The teacher's clips are found by its card's corpora and speakers, and checked against
    its ``manifest_sha256``: a clip missing, relabelled or added is refused by name, in
    distil, add_typicality and the CLI; the manifest it was trained with passes."""
    pipeline.train(manifest, model="logreg", corpora="mine", augment="none",
                   params={"clf__C": 0.3}, cache_dir=cache).save(tmp_path / "teacher")
    teacher = tmp_path / "teacher"
    short = manifest.iloc[1:]
    relabelled = manifest.copy()
    relabelled.loc[0, "emotion"] = next(e for e in LABELS if e != manifest["emotion"][0])
    assert len(pipeline.teacher_training_data(ser_classic.artifact.load_artifact(teacher),
                                              manifest, copies=0, cache_dir=cache).rows) == 36
    sf.write(tmp_path / "reversed.wav", sf.read(manifest["path"][0])[0][::-1], 16000)
    extra = pd.concat([manifest, manifest.iloc[:1].assign(
        path=str(tmp_path / "reversed.wav"),
        sha256=hashlib.sha256((tmp_path / "reversed.wav").read_bytes()).hexdigest())],
        ignore_index=True)
    for rows, found in ((short, 35), (relabelled, 36), (extra, 37)):
        with pytest.raises(ParameterError, match=rf"teacher: the manifest's clips .* not the "
                           rf"clips it was trained on \({found} clips found, 36 trained on"):
            pipeline.distil(teacher, rows, student="linear_int8", copies=1, cache_dir=cache)
        with pytest.raises(ParameterError, match="not the clips it was trained on"):
            pipeline.add_typicality(teacher, rows, out=tmp_path / "typical", cache_dir=cache)
    data.save_manifest(short, tmp_path / "short.csv")
    capsys.readouterr()  # `distill`: the command's former name, still accepted
    assert cli.main(["distill", "--teacher", str(teacher), "--manifest",
                     str(tmp_path / "short.csv"), "--student", "linear_int8", "--cache",
                     str(cache), "--out", str(tmp_path / "student")]) == 2
    assert "35 clips found, 36 trained on" in capsys.readouterr().err
    assert not (tmp_path / "student").exists() and not (tmp_path / "typical").exists()


def test_speaker_norm_names_a_speaker_with_one_usable_clip(small_manifest, feature_cache):
    """One clip's statistics would normalise it to zeros: training refuses it by name, as
    neutral_ref refuses a speaker without 2 neutral clips; with 2 clips it trains."""
    three = small_manifest[small_manifest["speaker"] != "ravdess_04"]
    lone = small_manifest[small_manifest["speaker"] == "ravdess_04"]
    args = dict(model="logreg", corpora="ravdess", normalization="speaker_norm",
                augment="none", params={"clf__C": 0.01}, cache_dir=feature_cache)
    with pytest.raises(ParameterError, match=r"\['ravdess_04'\] have 1 usable clip"):
        ser_classic.train(pd.concat([three, lone.head(1)], ignore_index=True), **args)
    model = ser_classic.train(pd.concat([three, lone.head(2)], ignore_index=True), **args)
    assert "ravdess_04" in model.training["speakers"]
