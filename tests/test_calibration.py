"""Temperature scaling on held-out speakers (ser_classic.calibration), the calibration
metrics and reliability curve, the ONNX graph of a scaled model, and train(calibration=)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ser_classic
from ser_classic._threads import one_blas_thread
from ser_classic.calibration import (
    TemperatureScaled,
    apply_temperature,
    fit_temperature,
    grouped_oof_proba,
    out_of_fold,
    with_temperature,
)
from ser_classic.errors import ParameterError
from ser_classic.evaluation import (
    expected_calibration_error,
    negative_log_likelihood,
    reliability_curve,
)
from ser_classic.export import check_parity, to_onnx_bytes
from ser_classic.features import FeatureConfig, extract_batch
from ser_classic.reporting import plot_reliability


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_fit_temperature_recovers_the_overconfidence():
    """Labels drawn from softmax(z); a model reporting softmax(2.5 z) is fixed by T=2.5."""
    rng = np.random.default_rng(0)
    z = rng.normal(scale=2.0, size=(20000, 5))
    true_p = _softmax(z)
    y = np.array([rng.choice(5, p=p) for p in true_p])
    over = _softmax(2.5 * z)
    T = fit_temperature(over, y)
    assert T == pytest.approx(2.5, rel=0.05)
    fixed = apply_temperature(over, temperature=T)
    assert np.allclose(fixed, true_p, atol=0.02)
    assert expected_calibration_error(y, fixed) < 0.015 < expected_calibration_error(y, over)
    assert negative_log_likelihood(y, fixed) < negative_log_likelihood(y, over)
    assert np.array_equal(fixed.argmax(axis=1), over.argmax(axis=1))  # argmax unchanged
    assert np.allclose(apply_temperature(true_p, temperature=1.0), true_p)
    assert fit_temperature(over, y) == T  # deterministic
    with pytest.raises(ParameterError, match="temperature"):
        apply_temperature(over, temperature=0.0)
    with pytest.raises(ParameterError, match="column index"):
        fit_temperature(over, np.full(len(y), 5))


def test_reliability_curve_by_hand():
    proba = np.array([[0.95, 0.05], [0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.5, 0.5]])
    y = np.array([0, 1, 1, 0, 0])
    curve = reliability_curve(y, proba, n_bins=5)
    # bins of width 0.2: 0.5 -> bin 2, 0.6 -> bin 3 (0.6 * 5 = 3.0), 0.7 -> bin 3,
    # 0.9/0.95 -> bin 4
    assert curve.counts.tolist() == [0, 0, 1, 2, 2]
    assert np.isnan(curve.accuracy[0]) and np.isnan(curve.confidence[1])
    assert curve.accuracy[2:].tolist() == [1.0, 0.5, 0.5]
    assert curve.confidence[2:] == pytest.approx([0.5, 0.65, 0.925])
    by_hand = (1 * 0.5 + 2 * 0.15 + 2 * 0.425) / 5
    assert curve.ece == pytest.approx(by_hand)
    assert expected_calibration_error(y, proba, n_bins=5) == pytest.approx(by_hand)
    assert negative_log_likelihood(y, proba) == pytest.approx(
        -np.mean(np.log([0.95, 0.1, 0.6, 0.3, 0.5])))
    # (the case experiments/bench_conditions.py's own ece was tested on) 0.9 -> accuracy
    # 0.5 (gap 0.4), 0.6 -> accuracy 1 (gap 0.4); a label the model lacks (-1) is wrong
    four = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    assert expected_calibration_error([0, 1, 0, 0], four) == pytest.approx(0.4)
    assert expected_calibration_error([0, -1, 0, 0], four) == pytest.approx(0.4)


@pytest.fixture(scope="module")
def features(small_manifest, feature_cache):
    """Four RAVDESS actors, every 4th feature column (as tests/test_export.py)."""
    X, _, _ = extract_batch(small_manifest["path"], sha256=small_manifest["sha256"],
                            config=FeatureConfig(), cache_dir=feature_cache)
    cols = np.arange(0, X.shape[1], 4)
    return X[:, cols], small_manifest["emotion"].to_numpy(), small_manifest["speaker"].to_numpy()


def test_grouped_folds_hold_out_whole_speakers(features):
    _, emotions, speakers = features
    y = np.unique(emotions, return_inverse=True)[1]
    seen = []

    def fit_predict(tr, te):
        assert not set(speakers[tr]) & set(speakers[te])
        seen.append(te)
        return np.full((te.size, 8), 1 / 8)

    oof = grouped_oof_proba(fit_predict, y, speakers, n_classes=8, n_splits=4,
                            random_state=0)
    assert not np.isnan(oof).any() and len(seen) == 4
    assert sorted(np.concatenate(seen).tolist()) == list(range(len(y)))
    with pytest.raises(ParameterError, match="n_splits"):
        grouped_oof_proba(fit_predict, y, speakers, n_classes=8, n_splits=5)


def test_folds_in_parallel_jobs_give_what_one_job_gives(features):
    """n_jobs runs the folds as joblib worker processes: the out-of-fold probabilities of
    a real model fitted on one BLAS thread (as the library's fitters are) are the
    single-process ones, bit for bit, for both fold schemes."""
    X, emotions, speakers = features
    y = np.unique(emotions, return_inverse=True)[1]
    pseudo_corpora = np.where(np.isin(speakers, speakers[:1]), "a", "b")

    @one_blas_thread
    def fit_predict(tr, te):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=300))
        P = np.zeros((te.size, 8))
        P[:, np.unique(y[tr])] = model.fit(X[tr], y[tr]).predict_proba(X[te])
        return P

    one = out_of_fold(fit_predict, y, speakers, pseudo_corpora, n_classes=8, n_splits=3)
    two = out_of_fold(fit_predict, y, speakers, pseudo_corpora, n_classes=8, n_splits=3,
                      n_jobs=2)
    assert not np.isnan(one.speaker).any()
    np.testing.assert_array_equal(one.speaker, two.speaker)
    np.testing.assert_array_equal(one.corpus, two.corpus)


def test_temperature_scaled_on_real_features(features, tmp_path):
    """An overconfident logistic regression (weak penalty) gets T > 1, a lower held-out
    ECE and NLL, the same predictions, and an ONNX graph with the same probabilities."""
    X, emotions, speakers = features
    base = make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=3000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TemperatureScaled(base, n_splits=4, random_state=0).fit(
            X, emotions, groups=speakers)
    info = model.calibration_
    assert model.temperature_ > 1.5
    assert info["oof_after"]["ece"] < info["oof_before"]["ece"]
    assert info["oof_after"]["nll"] < info["oof_before"]["nll"]
    assert info["oof_after"]["accuracy"] == info["oof_before"]["accuracy"]
    assert list(model.classes_) == sorted(set(emotions))
    assert np.array_equal(model.predict(X), model.classes_[
        model.estimator_.predict_proba(X).argmax(axis=1)])
    assert np.allclose(model.predict_proba(X), apply_temperature(
        model.estimator_.predict_proba(X), temperature=model.temperature_))
    with pytest.raises(TypeError):
        model.fit(X, emotions)  # groups (speakers) are required

    # ONNX: the base's graph + Log/Mul/Softmax, within 1e-4 (class codes 0..k-1)
    codes = np.unique(emotions, return_inverse=True)[1]
    coded = with_temperature(base.fit(X, codes), model.temperature_)
    onnx = to_onnx_bytes(coded, n_features=X.shape[1])
    assert check_parity(coded, onnx, X[::3], atol=1e-4) < 1e-4
    uncalibrated = to_onnx_bytes(base, n_features=X.shape[1])
    assert onnx != uncalibrated

    curves = {"uncalibrated": reliability_curve(codes, base.predict_proba(X)),
              "temperature": reliability_curve(codes, coded.predict_proba(X))}
    path = plot_reliability(curves, title="test", path=tmp_path / "rel.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_with_temperature(small_manifest, feature_cache, tmp_path):
    """train(calibration="temperature"): another model id, T and the out-of-fold ECE on
    the card, ONNX and scikit-learn backends agreeing after load."""
    common = dict(model="logreg", params={"clf__C": 0.1}, augment="none",
                  cache_dir=feature_cache, n_jobs=1)
    plain = ser_classic.train(small_manifest, **common)
    scaled = ser_classic.train(small_manifest, calibration="temperature", **common)
    assert scaled.model_id != plain.model_id and scaled.name == plain.name
    cal = scaled.training["calibration"]
    assert cal["temperature"] == pytest.approx(scaled.estimator.temperature_, rel=1e-5)
    assert cal["oof_after"]["nll"] <= cal["oof_before"]["nll"]
    assert "calibration" not in plain.training
    assert scaled.export.ok
    card = scaled.save(tmp_path / "scaled")
    assert card["training"]["calibration"]["oof_before"]["ece"] == cal["oof_before"]["ece"]
    X, _, _ = extract_batch(small_manifest["path"][:12], sha256=small_manifest["sha256"][:12],
                            config=FeatureConfig(), cache_dir=feature_cache)
    p_sk = ser_classic.load(tmp_path / "scaled", backend="sklearn").proba_from_features(X)
    p_onnx = ser_classic.load(tmp_path / "scaled", backend="onnx").proba_from_features(X)
    assert np.abs(p_sk - p_onnx).max() < 1e-4
    with pytest.raises(ParameterError, match="calibration"):
        ser_classic.train(small_manifest, calibration="platt", **common)


def test_distil_with_temperature(small_manifest, feature_cache, tmp_path):
    """distil(calibration="temperature"): the student's own T, from students distilled
    again per speaker-grouped fold, folded into its softmax head: the int8 graph has the
    same operators, the probabilities are softmax(log p / T) of the plain student's."""
    import onnx

    from ser_classic.calibration import calibrate_student

    teacher = ser_classic.train(small_manifest, model="logreg", params={"clf__C": 0.1},
                                augment="none", cache_dir=feature_cache, n_jobs=1)
    teacher.save(tmp_path / "teacher")
    common = dict(student="linear_int8", copies=0, munge=1, cache_dir=feature_cache)
    plain = ser_classic.distil(tmp_path / "teacher", small_manifest, **common)
    scaled = ser_classic.distil(tmp_path / "teacher", small_manifest,
                                calibration="temperature", **common)
    cal = scaled.info["calibration"]
    assert cal["n_splits"] == 3 and cal["temperature"] > 0
    assert cal["oof_after"]["nll"] <= cal["oof_before"]["nll"]
    assert "calibration" not in plain.info and scaled.model_id != plain.model_id

    def ops(graph: bytes) -> list[str]:
        return [n.op_type for n in onnx.load_from_string(graph).graph.node]

    assert ops(scaled.onnx) == ops(plain.onnx) and abs(len(scaled.onnx) - len(plain.onnx)) < 64
    X = plain.parity_rows[:5]
    T = cal["temperature"]
    assert np.allclose(scaled.student.predict_proba(X), apply_temperature(
        plain.student.predict_proba(X), temperature=T), atol=1e-6)
    with pytest.raises(ParameterError, match="softmax head"):
        calibrate_student(scaled.student.steps[0][1], X, [0] * 5, speakers=[0] * 5,
                          distill_kwargs={"n_classes": 8}, kind="tree")


@pytest.mark.parametrize("normalization", ["strict", "speaker_norm"])
def test_student_temperature_folds_refit_the_teacher(small_manifest, feature_cache, tmp_path,
                                                     normalization):
    """The student's temperature folds distil from the teacher's recipe refitted on the
    fold's training rows (its copies, parameters, normalisation, seed): on every row that
    refit is the teacher itself; without a speaker it is another model."""
    from ser_classic.artifact import load_artifact
    from ser_classic.pipeline import _fold_teacher, teacher_training_data

    rows = small_manifest[small_manifest["speaker"].isin(
        ["ravdess_01", "ravdess_02", "ravdess_03"])
        & small_manifest["emotion"].isin(["neutral", "happy", "sad", "angry"])]
    ser_classic.train(rows, model="logreg", params={"clf__C": 0.1},
                      normalization=normalization, augment="seed", copies=1,
                      cache_dir=feature_cache, n_jobs=1).save(tmp_path / "teacher")
    teacher = load_artifact(tmp_path / "teacher")
    data = teacher_training_data(teacher, rows, transfer="teacher", cache_dir=feature_cache)
    assert len(data.X_copies_raw) == 1
    refit = _fold_teacher(teacher, data, data.X_copies_raw)
    everyone = refit(np.arange(data.y.size))
    assert np.allclose(everyone.predict_proba(data.X), teacher.estimator.predict_proba(data.X),
                       atol=1e-9)
    without = refit(np.flatnonzero(data.rows["speaker"] != "ravdess_03"))
    assert np.abs(without.predict_proba(data.X)
                  - teacher.estimator.predict_proba(data.X)).max() > 1e-3
    scaled = ser_classic.distil(tmp_path / "teacher", rows, student="linear_int8",
                                transfer="teacher", calibration="temperature", munge=1,
                                cache_dir=feature_cache)
    assert "refitted on each fold" in scaled.info["calibration"]["folds"]
