"""Distillation, quantization and the pruned extractor, on real RAVDESS features."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnx
import pytest

from ser_classic import distill as D
from ser_classic.artifact import train_model
from ser_classic.data import load_audio, save_manifest
from ser_classic.export import onnx_predict_proba, onnx_session
from ser_classic.features import FeatureConfig, extract_features, feature_names

from .conftest import SIX

CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def fitted(six):
    """Teacher (logistic regression) on actors 1-4, students distilled from it."""
    rows, X, Xa, y = six
    train = rows["speaker"].isin(SIX[:4]).to_numpy()
    teacher, _ = train_model(X[train], [f"{c:03d}" for c in y[train]], name="logreg")
    out = D.distill(X[train], y[train], teacher=teacher, n_classes=8, config=CONFIG,
                    X_copies=[Xa[train]],
                    students=("tree", "mlp", "linear", "compact", "compact_fast", "logit"),
                    n_candidates=150, n_candidates_mlp=200, compact_features=60,
                    transfer=D.TransferConfig(munge_rounds=1),
                    speakers=rows["speaker"][train].to_numpy())
    return teacher, out, X[~train]


def test_pruned_extractor_gives_the_full_values(ravdess_manifest, fitted):
    _, out, _ = fitted
    names = feature_names(config=CONFIG)
    groups = D.feature_groups(config=CONFIG)
    rng = np.random.default_rng(0)
    # the tree's own columns, and a mix from every group (deltas included)
    picks = [out["students"]["tree"].named_steps["select"].columns_,
             np.concatenate([rng.choice(np.flatnonzero(groups == g), 3, replace=False)
                             for g in np.unique(groups)])]
    for path in ravdess_manifest["path"].iloc[[0, 700, 1439]]:
        y = load_audio(path, sr=CONFIG.sample_rate)
        full = extract_features(y, config=CONFIG)
        for cols in picks:
            part = extract_features(y, config=CONFIG, select=[names[i] for i in cols])
            np.testing.assert_array_equal(part, full[cols])


def test_onnx_students_agree_with_sklearn(fitted):
    _, out, X_test = fitted
    d = X_test.shape[1]
    for name in ("tree", "tree_uint8", "mlp", "linear", "tree_labels"):
        student = out["students"][name]
        got = onnx_predict_proba(onnx_session(D.to_onnx(student, n_features=d)), X_test)
        ref = student.predict_proba(X_test)
        np.testing.assert_allclose(got, ref, atol=1e-5, err_msg=name)
    tree = out["students"]["tree"]
    assert tree.named_steps["clf"].get_depth() <= 8
    used = np.unique(tree.named_steps["clf"].tree_.feature)
    assert used[used >= 0].size == tree.named_steps["select"].columns_.size


def test_quantized_models_against_float_on_real_features(fitted):
    _, out, X_test = fitted
    d = X_test.shape[1]
    # uint8 tree: a QuantizeLinear with uint8 zero points feeds the tree
    q_onnx = D.to_onnx(out["students"]["tree_uint8"], n_features=d)
    graph = onnx.load_from_string(q_onnx).graph
    assert "QuantizeLinear" in [n.op_type for n in graph.node]
    assert any(t.data_type == onnx.TensorProto.UINT8 for t in graph.initializer)
    float_pred = out["students"]["tree"].predict(X_test)
    q_pred = onnx_predict_proba(onnx_session(q_onnx), X_test).argmax(axis=1)
    assert np.mean(q_pred == float_pred) >= 0.85
    report = out["quantization"]["tree_uint8"]
    assert report["thresholds"]["n_split_nodes"] > 0
    # int8 MLP and linear student: MatMul weights become int8, predictions stay close to
    # the float model
    for name in ("mlp", "linear"):
        f_onnx = D.to_onnx(out["students"][name], n_features=d)
        i8_onnx, rep = D.quantize_dynamic_onnx(f_onnx)
        assert rep["changed"] and rep["int8_tensors"]
        assert rep["bytes_after"] < 0.6 * rep["bytes_before"], name
        ops = {n.op_type for n in onnx.load_from_string(i8_onnx).graph.node}
        assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops, name
        p_float = onnx_predict_proba(onnx_session(f_onnx), X_test)
        p_int8 = onnx_predict_proba(onnx_session(i8_onnx), X_test)
        assert np.mean(p_float.argmax(1) == p_int8.argmax(1)) >= 0.97, name
        assert np.abs(p_float - p_int8).max() < 0.1, name


def test_compact_student_and_its_int8_weights(fitted):
    """The compact student keeps 60 columns of any group but the skipped ones (C of the
    linear student); its int8 graph computes exactly the int8-weight model and stays close
    to the float one."""
    _, out, X_test = fitted
    d = X_test.shape[1]
    compact = out["students"]["compact"]
    cols = compact.named_steps["select"].columns_
    assert cols.size == 60 and np.all(np.diff(cols) > 0)
    read = set(D.feature_groups(config=CONFIG)[cols])
    assert not read & set(D.COMPACT_SKIPS) and not read <= set(D.CHEAP_GROUPS)
    clf = compact.named_steps["clf"]
    assert clf.C == out["linear_C"]["C"] and clf.coef_.shape == (8, 60)

    i8_onnx, rep = D.quantize_linear_onnx(compact, n_features=d)
    graph = onnx.load_from_string(i8_onnx).graph
    dtypes = {t.name: t.data_type for t in graph.initializer}
    assert dtypes["weights_int8"] == onnx.TensorProto.INT8
    assert dtypes["columns_int16"] == onnx.TensorProto.INT16
    assert dtypes["offset_fp16"] == onnx.TensorProto.FLOAT16
    assert len(i8_onnx) == rep["bytes_after"] < 16 * 60 + 1000
    # the same model in float64 numpy: weights q[j] * w8[j], q[j] = max|W[j]| / 127
    W = clf.coef_.T
    q = np.abs(W).max(axis=1) / 127
    W_hat = q[:, None] * np.rint(W / q[:, None])
    logits = (X_test[:, cols] - clf.mean_) / clf.scale_ @ W_hat + clf.intercept_
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    got = onnx_predict_proba(onnx_session(i8_onnx), X_test)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    p_float = compact.predict_proba(X_test)
    assert np.mean(p_float.argmax(1) == got.argmax(1)) >= 0.97
    assert np.abs(p_float - got).max() < 0.05
    with pytest.raises(D.ParameterError, match="SoftmaxStudent"):
        D.quantize_linear_onnx(out["students"]["mlp"], n_features=d)


def test_logit_student_recovers_a_linear_teacher_off_its_rows(six):
    """Logit matching: a teacher whose log-odds are linear in the columns is recovered on
    rows it was not fitted on (held-out actors), which soft targets do not promise."""
    rows, X, _, _ = six
    train = rows["speaker"].isin(SIX[:4]).to_numpy()
    cols = np.arange(0, X.shape[1], X.shape[1] // 20)[:20]  # fewer columns than rows
    rng = np.random.default_rng(0)
    mean, sd = X[train][:, cols].mean(0), X[train][:, cols].std(0) + 1e-9
    W = rng.normal(size=(cols.size, 8)) / np.sqrt(cols.size)

    def teacher(Xr):
        z = (Xr[:, cols] - mean) / sd @ W
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    P = teacher(X[train])
    student = D.LogitStudent(alpha=1e-6).fit(X[train][:, cols], P)
    np.testing.assert_allclose(student.predict_proba(X[~train][:, cols]),
                               teacher(X[~train]), atol=1e-5)
    assert np.array_equal(student.classes_, np.arange(8))
    # integer weights fit as repeated rows (a vanishing penalty: the two standardise
    # their rows differently)
    reps = np.random.default_rng(1).integers(1, 4, size=train.sum())
    weighted = D.LogitStudent(alpha=1e-9).fit(X[train][:, cols], P, sample_weight=reps)
    repeated = D.LogitStudent(alpha=1e-9).fit(
        np.repeat(X[train][:, cols], reps, axis=0), np.repeat(P, reps, axis=0))
    np.testing.assert_allclose(weighted.predict_proba(X[~train][:, cols]),
                               repeated.predict_proba(X[~train][:, cols]), atol=1e-6)
    with pytest.raises(D.ParameterError, match="P must be"):
        D.LogitStudent().fit(X[train][:, cols], P[:, :2])
    with pytest.raises(D.ParameterError, match="non-negative"):
        D.LogitStudent().fit(X[train][:, cols], -P)
    with pytest.raises(D.ParameterError, match="width None"):
        replace(D.student_spec("logit"), width=100)


def test_logit_student_reads_every_offered_column_and_quantizes(fitted):
    """The logit student reads every column of its groups (no elimination), exports to
    ONNX as a softmax head and has the compact student's int8 graph."""
    teacher, out, X_test = fitted
    d = X_test.shape[1]
    logit = out["students"]["logit"]
    allowed = D.allowed_columns(D.student_spec("logit"), config=CONFIG, given=D.CHEAP_GROUPS)
    assert np.array_equal(logit.named_steps["select"].columns_, np.flatnonzero(allowed))
    assert isinstance(logit.named_steps["clf"], D.SoftmaxStudent)
    p_float = logit.predict_proba(X_test)
    np.testing.assert_allclose(onnx_predict_proba(onnx_session(D.to_onnx(logit, n_features=d)),
                                                  X_test), p_float, atol=1e-4)
    i8 = onnx_predict_proba(onnx_session(D.quantized_onnx("logit", logit, n_features=d)[0]),
                            X_test)
    assert np.mean(p_float.argmax(1) == i8.argmax(1)) >= 0.95
    # the student follows its teacher on actors it never heard
    agree = np.mean(p_float.argmax(1) == teacher.predict_proba(X_test).argmax(1))
    assert agree >= 0.8


def test_fast_compact_student_skips_the_spectral_group(fitted):
    """The fast compact student is the compact regression on every group but the extended
    and spectral-shape descriptors, with the same C; its int8 graph is the same kind."""
    _, out, X_test = fitted
    fast = out["students"]["compact_fast"]
    cols = fast.named_steps["select"].columns_
    read = set(D.feature_groups(config=CONFIG)[cols])
    assert cols.size == 60 and not read & set(D.COMPACT_FAST_SKIPS)
    assert set(D.COMPACT_SKIPS) < set(D.COMPACT_FAST_SKIPS)
    assert fast.named_steps["clf"].C == out["linear_C"]["C"]
    i8_onnx, rep = D.quantized_onnx("compact_fast", fast, n_features=X_test.shape[1])
    assert rep["bytes_after"] == len(i8_onnx) < 16 * 60 + 1000
    got = onnx_predict_proba(onnx_session(i8_onnx), X_test)
    assert np.mean(fast.predict_proba(X_test).argmax(1) == got.argmax(1)) >= 0.97


def test_elimination_keeps_the_largest_weights(six):
    _, X, _, y = six
    cols = np.arange(0, 400, 2)
    Xs = X[:120]
    w = np.ones(120)
    kept = D.eliminate_columns(Xs, y[:120], w, columns=cols, n_keep=50, C=0.1)
    assert kept.size == 50 and set(kept) <= set(cols)
    # one halving step (200 -> 100) keeps the 100 columns of largest weight norm
    fit = D.SoftmaxStudent(C=0.1).fit(Xs[:, cols], y[:120], sample_weight=w)
    top = np.sort(cols[np.argsort(-np.linalg.norm(fit.coef_, axis=0), kind="stable")[:100]])
    np.testing.assert_array_equal(
        D.eliminate_columns(Xs, y[:120], w, columns=cols, n_keep=100, C=0.1), top)
    np.testing.assert_array_equal(
        D.eliminate_columns(Xs, y[:120], w, columns=cols, n_keep=500, C=0.1), cols)


def test_student_standardises_its_inputs_as_numpy_does_bit_for_bit(six):
    # the shipped students' ids depend on it: SoftmaxStudent computes X.std a block of
    # columns at a time, in the input's memory order (a column selection, as the
    # elimination makes, is Fortran-ordered), and must get numpy's bits
    _, X, _, y = six
    rows = np.asarray(X[:200], dtype=np.float64)
    for Xs in (rows[:, :700], rows[:, np.arange(0, 1400, 2)]):
        fit = D.SoftmaxStudent(C=0.1).fit(Xs, y[:200])
        np.testing.assert_array_equal(fit.mean_, Xs.mean(axis=0))
        sd = Xs.std(axis=0)
        np.testing.assert_array_equal(fit.scale_, np.where(sd > 0, sd, 1.0))
        np.testing.assert_array_equal(fit.decision_function(Xs),
                                      ((Xs - Xs.mean(axis=0)) / fit.scale_) @ fit.coef_.T
                                      + fit.intercept_)
    assert rows[:, np.arange(0, 1400, 2)].flags.f_contiguous


def test_linear_student_is_tuned_on_training_speakers(fitted):
    """C comes from the grid by grouped inner CV; the fit is a softmax over standardised
    inputs of exactly the columns it selects."""
    _, out, X_test = fitted
    tuned = out["linear_C"]
    assert tuned["C"] in D.LINEAR_C and set(tuned["inner_uar"]) == set(D.LINEAR_C)
    assert tuned["inner_uar"][tuned["C"]] == max(tuned["inner_uar"].values())
    pipe = out["students"]["linear"]
    clf, cols = pipe.named_steps["clf"], pipe.named_steps["select"].columns_
    assert clf.C == tuned["C"] and clf.coef_.shape == (8, cols.size)
    scores = (X_test[:, cols] - clf.mean_) / clf.scale_ @ clf.coef_.T + clf.intercept_
    np.testing.assert_allclose(np.log(pipe.predict_proba(X_test)),
                               scores - np.log(np.exp(scores).sum(1, keepdims=True)),
                               atol=1e-9)
    with pytest.raises(D.ParameterError, match="speakers"):
        D.tune_linear_C(X_test, np.zeros(len(X_test), int), np.full((len(X_test), 8), 1 / 8),
                        ["a"] * len(X_test), columns=cols, n_classes=8)


def test_distillation_never_sees_test_speakers(six):
    rows, X, Xa, y = six
    speakers = rows["speaker"].to_numpy()
    # poison: augmented copies of the first fold's test speakers are NaN; any use of them
    # in that fold would make a fit fail (other folds drop them as failed extractions)
    first_test = ["ravdess_01", "ravdess_02"]
    Xa = Xa.copy()
    Xa[np.isin(speakers, first_test)] = np.nan
    ev = D.distill_cv(X, y, speakers, teacher="logreg", teacher_params={}, config=CONFIG,
                      X_aug=[Xa], split="group6", n_folds=3, students=("tree",),
                      n_candidates=100, transfer=D.TransferConfig(munge_rounds=1))
    assert ev.records[0]["test"] == first_test
    for rec in ev.records:
        assert not set(rec["test"]) & set(rec["teacher_train"])
        assert not set(rec["test"]) & set(rec["transfer"])
    assert sorted(s for r in ev.records for s in r["test"]) == SIX
    for name in ("teacher", "tree", "tree_uint8", "tree_labels"):
        assert np.allclose(ev.proba[name].sum(axis=1), 1.0)
        m = ev.metrics(name)
        assert 0.0 <= m["fidelity"] <= 1.0 and m["uar"] > 1 / 8


def test_distill_cv_gives_the_compact_students_the_width_asked(six):
    rows, X, Xa, y = six
    ev = D.distill_cv(X, y, rows["speaker"].to_numpy(), teacher="logreg", teacher_params={},
                      config=CONFIG, X_aug=[Xa], split="group6", n_folds=2,
                      students=("compact",), transfer=D.TransferConfig(munge_rounds=0),
                      compact_features=40)
    assert [len(c) for c in ev.used_columns["compact"]] == [40, 40]
    assert [len(c) for c in ev.used_columns["compact_int8"]] == [40, 40]


def _save_teacher(path, six, **fit):
    """A logistic-regression teacher of actors 1-4 saved at ``path``; its training mask."""
    from ser_classic.artifact import save_artifact
    from ser_classic.export import to_onnx_bytes

    rows, X, _, _ = six
    train = rows["speaker"].isin(SIX[:4]).to_numpy()
    teacher, classes = train_model(X[train], rows["emotion"][train], name="logreg", **fit)
    save_artifact(path, estimator=teacher, classes=classes, config=CONFIG, name="logreg",
                  onnx=to_onnx_bytes(teacher, n_features=X.shape[1]),
                  training={"corpus": "ravdess", "speakers": SIX[:4]})
    return train


def test_cli_distill_deploys_a_servable_student(tmp_path, six, feature_cache):
    from ser_classic import load
    from ser_classic.cli import main

    rows = six[0]
    train = _save_teacher(tmp_path / "teacher", six)
    save_manifest(rows, tmp_path / "manifest.csv")
    code = main(["distil", "--teacher", str(tmp_path / "teacher"), "--out",
                 str(tmp_path / "student"), "--manifest", str(tmp_path / "manifest.csv"),
                 "--cache", str(feature_cache), "--jobs", "1", "--copies", "1",
                 "--candidates", "100", "--student", "tree_uint8"])
    assert code == 0
    rec_sk = load(tmp_path / "student")
    rec_onnx = load(tmp_path / "student", backend="onnx")
    card = rec_sk.card
    select = card["distillation"]["select"]
    assert card["used_features"] is not None and len(card["used_features"]) == len(select)
    assert set(card["distillation"]["groups_needed"]) <= set(D.CHEAP_GROUPS)
    waves = [load_audio(p, sr=16000) for p in rows["path"][~train].iloc[:8]]
    p_sk = rec_sk.predict_proba(waves, sr=16000)
    np.testing.assert_allclose(rec_onnx.predict_proba(waves, sr=16000), p_sk, atol=1e-5)
    # the recognizer's pruned features are the full features at the columns read
    full = np.stack([extract_features(w, config=CONFIG) for w in waves])
    cols = np.asarray(card["used_features"])
    np.testing.assert_array_equal(rec_sk.features(waves, sr=16000)[0][:, cols],
                                  full[:, cols])


def test_logit_student_distils_with_a_temperature_and_serves(tmp_path, six, feature_cache):
    """``logit_int8`` through the API: its temperature folded into the head, the int8 graph
    served by both backends alike; it has no width to set."""
    from ser_classic import distil, load

    rows = six[0]
    train = _save_teacher(tmp_path / "teacher", six)
    with pytest.raises(D.ParameterError, match="width is for the compact students"):
        distil(tmp_path / "teacher", rows, student="logit_int8", width=100)
    student = distil(tmp_path / "teacher", rows, student="logit_int8", copies=1,
                     calibration="temperature", cache_dir=feature_cache)
    student.save(tmp_path / "student")
    card = load(tmp_path / "student").card
    assert card["name"] == "distilled_logit_int8" and "width" not in card["distillation"]
    assert card["distillation"]["calibration"]["temperature"] > 0
    assert len(card["used_features"]) == D.allowed_columns(
        D.student_spec("logit"), config=CONFIG, given=D.CHEAP_GROUPS).sum()
    waves = [load_audio(p, sr=16000) for p in rows["path"][~train].iloc[:6]]
    np.testing.assert_allclose(
        load(tmp_path / "student", backend="onnx").predict_proba(waves, sr=16000),
        load(tmp_path / "student").predict_proba(waves, sr=16000), atol=1e-5)


def test_cli_distill_refuses_compact_groups_for_another_student(tmp_path, capsys):
    from ser_classic.cli import main

    code = main(["distil", "--teacher", str(tmp_path / "missing"), "--out",
                 str(tmp_path / "student"), "--student", "compact_fast_int8",
                 "--compact-groups", "mel,mfcc"])
    assert code == 2
    assert "--compact-groups is for the compact student" in capsys.readouterr().err
    assert not (tmp_path / "student").exists()


def test_compact_width_through_the_api_and_the_cli(tmp_path, six, feature_cache):
    """``width`` sets the compact student's columns; the CLI's ``--width`` gives the same
    model; a student without a width refuses it before reading anything."""
    from ser_classic import load
    from ser_classic.cli import main
    from ser_classic.errors import ParameterError
    from ser_classic.pipeline import distil

    rows = six[0]
    _save_teacher(tmp_path / "teacher", six,
                  speakers=rows["speaker"][rows["speaker"].isin(SIX[:4])])
    save_manifest(rows, tmp_path / "manifest.csv")
    common = ["--teacher", str(tmp_path / "teacher"), "--manifest",
              str(tmp_path / "manifest.csv"), "--cache", str(feature_cache), "--jobs", "1",
              "--copies", "1", "--student", "compact_int8"]
    assert main(["distil", *common, "--width", "40", "--out", str(tmp_path / "w40")]) == 0
    card = load(tmp_path / "w40").card
    assert len(card["distillation"]["select"]) == 40 and card["distillation"]["width"] == 40
    api = distil(tmp_path / "teacher", rows, student="compact_int8", width=40, copies=1,
                 cache_dir=feature_cache)
    assert api.save(tmp_path / "api")["model_id"] == card["model_id"]
    with pytest.raises(ParameterError, match="width is for the compact students"):
        distil(tmp_path / "missing", rows, student="linear_int8", width=40)
    with pytest.raises(ParameterError, match="width must be >= 1"):
        distil(tmp_path / "missing", rows, student="compact", width=0)


def test_cli_distill_of_a_speaker_normalised_teacher(tmp_path, six, feature_cache):
    """The student learns from speaker-normalised features of its teacher's training clips
    (here: without calm) as its teacher did, is served on them, and refuses to predict
    without speaker statistics."""
    from ser_classic import load
    from ser_classic.artifact import save_artifact
    from ser_classic.cli import main
    from ser_classic.errors import ParameterError
    from ser_classic.export import to_onnx_bytes
    from ser_classic.recognizer import SpeakerStats

    rows, X, _, _ = six
    train = (rows["speaker"].isin(SIX[:4]) & (rows["emotion"] != "calm")).to_numpy()
    teacher, classes = train_model(X[train], rows["emotion"][train], name="logreg",
                                   speakers=rows["speaker"][train], normalization="speaker_norm")
    save_artifact(tmp_path / "teacher", estimator=teacher, classes=classes, config=CONFIG,
                  name="logreg", normalization="speaker_norm",
                  onnx=to_onnx_bytes(teacher, n_features=X.shape[1]),
                  training={"corpus": "ravdess", "speakers": SIX[:4],
                            "excluded_emotions": ["calm"]})
    save_manifest(rows, tmp_path / "manifest.csv")
    code = main(["distil", "--teacher", str(tmp_path / "teacher"), "--out",
                 str(tmp_path / "student"), "--manifest", str(tmp_path / "manifest.csv"),
                 "--cache", str(feature_cache), "--jobs", "1", "--copies", "1",
                 "--student", "compact"])
    assert code == 0
    student, teacher_rec = load(tmp_path / "student"), load(tmp_path / "teacher")
    assert student.normalization == "speaker_norm" and "calm" not in student.classes_
    assert student.card["distillation"]["transfer_rows"]["clip"] == train.sum()
    # trained on z-scored rows: centred near 0, unit spread (raw levels are far from it)
    clf = student.artifact.estimator.named_steps["clf"]
    assert np.abs(clf.mean_).max() < 0.5 and 0.5 < np.median(clf.scale_) < 1.5
    clips = list(rows["path"][rows["speaker"] == SIX[5]])
    with pytest.raises(ParameterError, match="speaker-normalised"):
        student.predict_proba(clips[:2])
    p_student = student.predict_proba(clips, speaker="batch")
    F = student.features(clips)[0]
    typical = ~student.atypical(student.atypicality_from_features(F, speaker="batch"))
    assert typical.mean() >= 0.9  # the others' probabilities are shrunk towards uniform
    np.testing.assert_allclose(p_student[typical], student.artifact.estimator.predict_proba(
        SpeakerStats.from_features(F).apply(F))[typical], atol=1e-6)
    p_teacher = teacher_rec.predict_proba(clips, speaker="batch")
    assert np.mean(p_student.argmax(1) == p_teacher.argmax(1)) >= 0.5


# --------------------------------------------------------------------------- student specs
def test_unknown_student_lists_the_registered_ones(fitted):
    _, out, X_test = fitted
    with pytest.raises(D.ParameterError, match="unknown student 'forest'") as exc:
        D.student_spec("forest")
    assert all(name in str(exc.value) for name in D.STUDENTS)
    with pytest.raises(D.ParameterError, match=r"compact_int8.*compact_fast_int8"):
        D.parse_student("compact_int16")
    with pytest.raises(D.ParameterError, match="registered: tree, mlp"):
        D.distill(X_test, np.zeros(len(X_test), int), teacher=None, n_classes=8,
                  config=CONFIG, students=["forest"])
    with pytest.raises(D.ParameterError, match="no int8 graph for a 'tree'"):
        D.quantized_onnx("tree", out["students"]["tree"], n_features=X_test.shape[1])
    with pytest.raises(D.ParameterError, match="registered already"):
        D.register_student(D.student_spec("compact"))


def test_deployable_names_decode_through_the_registry():
    assert D.parse_student("compact_int8") == (D.student_spec("compact"), True)
    assert D.parse_student("tree_uint8") == (D.student_spec("tree"), True)
    assert D.parse_student("lgbm") == (D.student_spec("lgbm"), False)
    assert len(D.student_names()) == 13 and set(D.STUDENTS) <= set(D.student_names())
    # pipeline lists them by hand (importing the registry there would slow its import)
    from ser_classic.pipeline import STUDENT_CHOICES

    assert STUDENT_CHOICES == D.student_names()
    # the two compact presets are one spec that differs only in the groups it skips
    compact, fast = D.student_spec("compact"), D.student_spec("compact_fast")
    assert replace(compact, name="compact_fast", skip_groups=D.COMPACT_FAST_SKIPS,
                   quantized="compact_fast_int8", description=fast.description) == fast
    groups = D.feature_groups(config=CONFIG)
    for spec, skips in ((compact, D.COMPACT_SKIPS), (fast, D.COMPACT_FAST_SKIPS)):
        allowed = D.allowed_columns(spec, config=CONFIG, given=D.CHEAP_GROUPS)
        assert set(groups[allowed]) == set(groups) - set(skips)
    tree = D.allowed_columns(D.student_spec("tree"), config=CONFIG, given=("mfcc",))
    assert set(groups[tree]) == {"mfcc"}


def test_a_spec_reads_only_its_allowed_groups(six):
    """An unregistered spec (a tree on two groups, a narrow compact preset) is fitted by
    distill as a registered one is, and reads only the groups it allows."""
    rows, X, _, y = six
    train = rows["speaker"].isin(SIX[:4]).to_numpy()
    teacher, _ = train_model(X[train], [f"{c:03d}" for c in y[train]], name="logreg")
    tree = replace(D.student_spec("tree"), name="tree_energy", groups=("energy", "chroma"),
                   quantized="tree_energy_uint8")
    narrow = replace(D.student_spec("compact"), name="compact_mel", groups=("mel",),
                     skip_groups=(), width=12, quantized="compact_mel_int8")
    out = D.distill(X[train], y[train], teacher=teacher, n_classes=8, config=CONFIG,
                    students=[tree, narrow], n_candidates=40,
                    transfer=D.TransferConfig(munge_rounds=0), random_state=1)
    groups = D.feature_groups(config=CONFIG)
    for name, allowed in (("tree_energy", {"energy", "chroma"}),
                          ("tree_energy_uint8", {"energy", "chroma"}),
                          ("compact_mel", {"mel"})):
        cols = out["students"][name].named_steps["select"].columns_
        assert set(groups[cols]) <= allowed, name
    assert out["students"]["compact_mel"].named_steps["select"].columns_.size == 12
    assert set(out["quantized"]) == {"tree_energy_uint8", "compact_mel_int8"}
    q = out["quantized"]["compact_mel_int8"]
    got = onnx_predict_proba(onnx_session(q.onnx), X[~train])
    assert np.mean(got.argmax(1) == q.estimator.predict(X[~train])) >= 0.95
    assert "linear_C" in out and out["linear_C"]["inner_uar"] is None  # no speakers given


def test_a_student_does_not_depend_on_the_blas_thread_count(six):
    """fit_student runs BLAS on one thread, as distill does: the recursive elimination
    follows near-ties to the last bit, and a product split over two threads rounds
    otherwise (12-07, on an AMD EPYC: 11 of 12 columns differed)."""
    from threadpoolctl import threadpool_limits

    rows, X, _, y = six
    train = rows["speaker"].isin(SIX[:4]).to_numpy()
    teacher, _ = train_model(X[train], [f"{c:03d}" for c in y[train]], name="logreg")
    P = teacher.predict_proba(X[train])
    mel = np.flatnonzero(D.feature_groups(config=CONFIG) == "mel")
    spec = replace(D.student_spec("compact"), groups=("mel",), skip_groups=(), width=12,
                   quantized=None, quantize=None)
    fitted = []
    for threads in (2, 1):
        with threadpool_limits(limits=threads, user_api="blas"):
            fitted.append(D.fit_student(spec, X[train], P, columns=mel, n_classes=8, C=0.01))
    for step, attr in (("select", "columns_"), ("clf", "coef_")):
        np.testing.assert_array_equal(getattr(fitted[0].named_steps[step], attr),
                                      getattr(fitted[1].named_steps[step], attr))


def test_columns_chosen_on_the_clips_do_not_change_with_the_seed(six):
    """select_on="clips": the compact student's columns come from the training clips and
    the teacher alone (the random copies and MUNGE rows change with the seed, its columns
    do not); its weights are still fitted on every transfer row."""
    rows, X, Xa, y = six
    train = rows["speaker"].isin(SIX[:4]).to_numpy()
    Xt, yt = X[train], y[train]
    teacher, _ = train_model(Xt, [f"{c:03d}" for c in yt], name="logreg")
    stable = replace(D.student_spec("compact"), name="compact_mel_clips", groups=("mel",),
                     skip_groups=(), width=12, quantized=None, quantize=None,
                     select_on="clips")
    cols, coefs = [], []
    for seed in (0, 1):
        out = D.distill(Xt, yt, teacher=teacher, n_classes=8, config=CONFIG,
                        X_copies=[Xa[train]], students=[stable], n_candidates=40,
                        transfer=D.TransferConfig(munge_rounds=1), random_state=seed)
        student = out["students"]["compact_mel_clips"]
        cols.append(student.named_steps["select"].columns_)
        coefs.append(student.named_steps["clf"].coef_)
    np.testing.assert_array_equal(cols[0], cols[1])
    assert cols[0].size == 12 and not np.allclose(coefs[0], coefs[1])  # other rows
    # the columns are those the elimination keeps on the clips' soft targets
    P = teacher.predict_proba(Xt)
    mel = np.flatnonzero(D.feature_groups(config=CONFIG) == "mel")
    on_clips = D.fit_student(replace(stable, select_on="transfer"), Xt, P, columns=mel,
                             n_classes=8, C=0.01)
    np.testing.assert_array_equal(on_clips.named_steps["select"].columns_, cols[0])
    with pytest.raises(D.ParameterError, match="n_clips"):
        D.fit_student(stable, Xt, P, columns=mel, n_classes=8, n_clips=0)
    with pytest.raises(D.ParameterError, match="select_on"):
        replace(stable, select_on="copies")


def test_shipped_students_regenerate_their_graphs_bit_for_bit():
    """Every shipped student's deployed graph is its spec's quantizer applied to its
    pickled float student: same bytes, hence the same model id."""
    import hashlib
    import json

    import joblib

    from ser_classic.store import SHIPPED

    cards = sorted(SHIPPED.glob("distilled_*/model.json"))
    assert cards
    for path in cards:
        card = json.loads(path.read_text())
        spec, quantized = D.parse_student(card["name"].removeprefix("distilled_"))
        student = joblib.load(path.parent / "model.joblib")
        onnx = (D.quantize_student(spec, student, n_features=card["n_features"]).onnx
                if quantized else D.to_onnx(student, n_features=card["n_features"]))
        assert onnx == (path.parent / "model.onnx").read_bytes(), card["model_id"]
        assert card["model_id"] == f"{card['name']}-{hashlib.sha256(onnx).hexdigest()[:10]}"


def test_fold_student_is_distilled_again_for_another_teacher_or_width(tmp_path, six,
                                                                    feature_cache):
    """The inner-fold ablations' cached student (``experiments/bench_conditions.py``) is
    reused only while its teacher and width are the ones asked; a held-out twin is a
    student of the stored one's kind and width."""
    from types import SimpleNamespace

    from ser_classic import load
    from ser_classic.artifact import save_artifact
    from ser_classic.export import to_onnx_bytes

    from .conftest import experiment

    bench = experiment("bench_conditions")
    rows, X, _, _ = six
    teachers = {}
    for name, speakers in {"a": SIX[:4], "b": SIX[1:5]}.items():
        train = rows["speaker"].isin(speakers).to_numpy()
        est, classes = train_model(X[train], rows["emotion"][train], name="logreg",
                                   speakers=rows["speaker"][train])
        teachers[name] = tmp_path / name
        save_artifact(teachers[name], estimator=est, classes=classes, config=CONFIG,
                      name="logreg", onnx=to_onnx_bytes(est, n_features=X.shape[1]),
                      training={"corpus": "ravdess", "speakers": speakers})
    args = SimpleNamespace(seed=0, cache=str(feature_cache), jobs=1)
    out = tmp_path / "student"

    def student(teacher: str, width: int) -> dict:
        bench.fold_student(args, rows, teachers[teacher], out, student="compact_int8",
                           calibration="none", command="test", width=width)
        return load(out).card

    first = student("a", 40)
    assert first["distillation"]["width"] == 40
    written = (out / "model.json").stat().st_mtime_ns
    assert student("a", 40) == first and (out / "model.json").stat().st_mtime_ns == written
    # one fitted by other code (another fit revision on its card) is distilled again
    older = {**first, "fit_revision": first["fit_revision"] - 1}
    (out / "model.json").write_text(json.dumps(older, indent=2))
    assert not bench.is_student(out, ["--student", "compact_int8", "--width", "40"])
    assert student("a", 40)["fit_revision"] == first["fit_revision"]
    assert (out / "model.json").stat().st_mtime_ns != written
    wider = student("a", 50)
    assert wider["distillation"]["width"] == 50 and len(wider["distillation"]["select"]) == 50
    assert "test --width 50" in json.dumps(wider)  # the card's command names the width
    other = student("b", 50)
    assert other["distillation"]["teacher"]["model_id"] == load(teachers["b"]).card["model_id"]
    assert other["model_id"] != wider["model_id"]
    # the held-out twins' check (bench_conditions.is_student) reads the width as well
    assert bench.is_student(out, ["--student", "compact_int8", "--width", "50"])
    assert not bench.is_student(out, ["--student", "compact_int8", "--width", "40"])
    assert not bench.is_student(out, ["--student", "compact_int8"])  # the library's width
    assert not bench.is_student(out, ["--student", "compact_fast_int8", "--width", "50"])
    # ... and the calibration (this one has none)
    assert bench.is_student(out, ["--student", "compact_int8", "--width", "50",
                                  "--calibration", "none"])
    assert not bench.is_student(out, ["--student", "compact_int8", "--width", "50",
                                      "--calibration", "temperature"])
    # one folder per kind, width and calibration beside the fold teacher; the library's
    # width and the shipped calibration keep the plain name (ablation_students' students)
    default = D.parse_student("compact_int8")[0].width
    folders = {bench.student_folder("compact_int8", w, c)
               for w in (None, default, 1200) for c in ("temperature", "none")}
    assert folders == {"compact_int8", "compact_int8-none", "compact_int8-w1200",
                       "compact_int8-w1200-none"}
