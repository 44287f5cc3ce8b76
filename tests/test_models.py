"""The project's own estimators: RidgeSoftmax and the soft votes of registry members."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, RidgeClassifier

from ser_classic.errors import ParameterError
from ser_classic.models import Float32LogisticRegression, RidgeSoftmax


def _blobs(rng, n=240, d=30, k=4):
    y = rng.integers(0, k, n)
    centres = rng.normal(size=(k, d))
    return centres[y] + rng.normal(scale=2.0, size=(n, d)), y


def test_ridge_softmax_scores_are_ridge_classifier_scores():
    X, y = _blobs(np.random.default_rng(0))
    X_test, _ = _blobs(np.random.default_rng(1))
    model = RidgeSoftmax(alpha=10.0).fit(X, y)
    reference = RidgeClassifier(alpha=10.0, class_weight="balanced").fit(X, y)
    np.testing.assert_allclose(model.decision_function(X_test) / model.temperature_,
                               reference.decision_function(X_test), atol=1e-8)
    np.testing.assert_array_equal(model.predict(X_test), reference.predict(X_test))
    P = model.predict_proba(X_test)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert model.temperature_ > 0 and RidgeSoftmax(alpha=10.0, calibrate=False).fit(
        X, y).temperature_ == 1.0


def test_float32_logistic_regression_is_the_float64_fit_to_solver_tolerance():
    X, y = _blobs(np.random.default_rng(3), n=400, d=60, k=5)
    X_test, _ = _blobs(np.random.default_rng(4), n=400, d=60, k=5)
    kw = {"C": 0.05, "max_iter": 2000, "tol": 1e-8, "class_weight": "balanced"}
    fast = Float32LogisticRegression(**kw).fit(X, y)
    reference = LogisticRegression(**kw).fit(X, y)
    assert fast.coef_.dtype == fast.intercept_.dtype == np.float64
    assert fast.get_params() == reference.get_params()
    # float32 gradients stop lbfgs earlier (33 iterations against 56 here); how far from
    # the float64 optimum depends on the CPU's kernels (1.05e-4 on an AMD EPYC family 26,
    # under 1e-4 on the machine this test was written on): 0.1 % of the largest weight
    np.testing.assert_allclose(fast.coef_, reference.coef_,
                               atol=1e-3 * np.abs(reference.coef_).max())
    np.testing.assert_allclose(fast.predict_proba(X_test), reference.predict_proba(X_test),
                               atol=1e-3)


def test_ridge_softmax_temperature_is_not_fitted_in_sample():
    """Leave-one-out scores: with more features than rows the training fit is perfect,
    yet the temperature stays moderate (an in-sample fit would push it to the bound)."""
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(60, 200)), rng.integers(0, 3, 60)  # pure noise
    model = RidgeSoftmax(alpha=1.0).fit(X, y)
    assert np.mean(model.predict(X) == y) == 1.0
    assert model.predict_proba(rng.normal(size=(50, 200))).max(axis=1).mean() < 0.6


def test_ridge_softmax_warm_start_reuses_the_gram_only_for_the_same_rows():
    """A path over alpha gives exactly the separate fits' coefficients and temperatures;
    other rows, labels or weights are never fitted from the kept Gram matrix."""
    import pickle

    X, y = _blobs(np.random.default_rng(0))
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    path = RidgeSoftmax(warm_start=True)
    for alpha in (1.0, 10.0, 100.0):
        for weights in (None, w):
            fitted = path.set_params(alpha=alpha).fit(X, y, sample_weight=weights)
            alone = RidgeSoftmax(alpha=alpha).fit(X, y, sample_weight=weights)
            np.testing.assert_array_equal(fitted.coef_, alone.coef_)
            assert fitted.temperature_ == alone.temperature_
    for X2, y2 in ((X + 1e-3, y), (X, np.roll(y, 1))):
        np.testing.assert_array_equal(path.fit(X2, y2).coef_,
                                      RidgeSoftmax(alpha=100.0).fit(X2, y2).coef_)
    assert "_gram_memo" in vars(path)
    assert "_gram_memo" not in vars(pickle.loads(pickle.dumps(path)))  # not shipped
    assert "_gram_memo" not in vars(RidgeSoftmax().fit(X, y))


def test_ridge_softmax_validates_in_fit():
    X, y = _blobs(np.random.default_rng(0))
    with pytest.raises(ParameterError):
        RidgeSoftmax(alpha=0.0).fit(X, y)
    with pytest.raises(ParameterError):
        RidgeSoftmax(class_weight="auto").fit(X, y)
    with pytest.raises(ParameterError):
        RidgeSoftmax().fit(X, np.zeros(len(y)))


def test_linear_vote_averages_members_each_on_its_own_rows():
    """'linear' = mean probabilities of ridge (originals + copies) and logreg (strict:
    originals + copies; speaker_norm: originals)."""
    from ser_classic.artifact import train_model

    rng = np.random.default_rng(3)
    X, y = _blobs(rng)
    emotions = np.array(["angry", "calm", "happy", "sad"])[y]
    copies = [X + rng.normal(scale=0.5, size=X.shape)]
    vote, _ = train_model(X, emotions, name="linear", X_aug=copies,
                          params={"ridge": {"clf__alpha": 30.0}, "logreg": {"clf__C": 0.1}})
    ridge, logreg = vote.estimators_
    assert ridge.named_steps["scale"].n_samples_seen_ == 2 * len(X)
    assert logreg.named_steps["scale"].n_samples_seen_ == 2 * len(X)
    normed, _ = train_model(X, emotions, name="linear", X_aug=copies,
                            speakers=np.arange(len(X)) % 4, normalization="speaker_norm",
                            params={"ridge": {"clf__alpha": 30.0}, "logreg": {"clf__C": 0.1}})
    assert [m.named_steps["scale"].n_samples_seen_ for m in normed.estimators_] == [
        2 * len(X), len(X)]
    X_test, _ = _blobs(np.random.default_rng(4))
    np.testing.assert_allclose(vote.predict_proba(X_test), (ridge.predict_proba(X_test)
                               + logreg.predict_proba(X_test)) / 2)
