"""Registry of scikit-learn pipelines, each with a small hyper-parameter grid.

Adding a model is one registration::

    @register("knn", grid={"clf__n_neighbors": (5, 15)}, description="k nearest neighbours")
    def _knn(random_state):
        return Pipeline([("scale", StandardScaler()), ("clf", KNeighborsClassifier())])

Every builder returns an *unfitted* pipeline that takes features ``X`` and integer class
codes ``y`` (0 .. n_classes-1). Ensembles name their ``members``: they are not tuned
themselves; the evaluation tunes each member and soft-votes the tuned members.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from .errors import ParameterError

__all__ = [
    "MODELS",
    "Float32LogisticRegression",
    "ModelSpec",
    "RidgeSoftmax",
    "SoftVote",
    "SoftmaxReadout",
    "build_model",
    "model_names",
    "register",
]


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes
    ----------
    name : str
    build : callable ``random_state -> Pipeline``
    grid : dict of parameter name -> tuple of values
        Searched by grouped inner cross-validation (the full product).
    description : str
    members : tuple of str
        Non-empty for a soft-voting ensemble of other registered models.
    default : bool
        Part of the default evaluation.
    fast_params : dict
        Set while scoring grid points in the inner CV only (e.g. no probability
        calibration, a looser tolerance), never in the refitted model; with
        ``warm_start`` the grid, in its order, is scored as one path per split.
    augmented : bool or tuple of str
        Trained on the augmented copies of the training clips too, when there are any:
        always (True), never (False: the original clips only), or under the
        normalisations named (``("strict",)``); see :meth:`fits_copies`.
    simplest_first : bool
        The grid runs from the most regularised point to the least (False: the other way,
        as ridge's ``alpha``); the one-standard-error tuning rule reads it.
    """

    name: str
    build: Callable[[int], BaseEstimator]
    grid: dict = field(default_factory=dict)
    description: str = ""
    members: tuple[str, ...] = ()
    default: bool = True
    fast_params: dict = field(default_factory=dict)
    augmented: bool | tuple[str, ...] = False
    simplest_first: bool = True

    def fits_copies(self, normalization="strict") -> bool:
        """Whether this model is fitted on the augmented copies under ``normalization``
        (a :class:`~ser_classic.Normalization` or its value)."""
        if isinstance(self.augmented, bool):
            return self.augmented
        return str(getattr(normalization, "value", normalization)) in self.augmented

    def param_grid(self) -> list[dict]:
        """All parameter combinations of the grid (one empty dict for no grid)."""
        combos: list[dict] = [{}]
        for key, values in self.grid.items():
            combos = [{**c, key: v} for c in combos for v in values]
        return combos


MODELS: dict[str, ModelSpec] = {}


def register(name: str, *, grid: dict | None = None, description: str = "",
             members: Sequence[str] = (), default: bool = True,
             fast_params: dict | None = None,
             augmented: bool | Sequence[str] = False, simplest_first: bool = True):
    """Decorator registering ``build(random_state) -> estimator`` under ``name``."""

    def deco(build: Callable[[int], BaseEstimator]):
        MODELS[name] = ModelSpec(name=name, build=build, grid=dict(grid or {}),
                                 description=description, members=tuple(members),
                                 default=default, fast_params=dict(fast_params or {}),
                                 augmented=(augmented if isinstance(augmented, bool)
                                            else tuple(augmented)),
                                 simplest_first=simplest_first)
        return build

    return deco


def model_names(*, default_only: bool = False) -> list[str]:
    """Registered model names (in registration order)."""
    return [n for n, s in MODELS.items() if s.default or not default_only]


def build_model(name: str, *, random_state: int = 0, params: dict | None = None
                ) -> BaseEstimator:
    """An unfitted pipeline of model ``name`` with ``params`` set."""
    if name not in MODELS:
        raise ParameterError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    spec = MODELS[name]
    if spec.members:
        raise ParameterError(f"{name!r} is an ensemble; build it with SoftVote")
    est = spec.build(random_state)
    if params:
        est.set_params(**params)
    return est


class SoftVote(ClassifierMixin, BaseEstimator):
    """Average of the class probabilities of already configured estimators.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Cloned and fitted on the same data by :meth:`fit`.
    weights : sequence of float, optional
    """

    def __init__(self, estimators, *, weights=None):
        self.estimators = estimators
        self.weights = weights

    def fit(self, X, y):
        if not self.estimators:
            raise ParameterError("SoftVote needs at least one estimator")
        self.estimators_ = [clone(est).fit(X, y) for _, est in self.estimators]
        self.classes_ = self.estimators_[0].classes_
        return self

    def predict_proba(self, X):
        w = np.ones(len(self.estimators_)) if self.weights is None else np.asarray(
            self.weights, dtype=float)
        probs = np.stack([est.predict_proba(X) for est in self.estimators_])
        return np.tensordot(w / w.sum(), probs, axes=1)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class SoftmaxReadout:
    """Multinomial read-out of a linear model: ``softmax(decision_function(X))`` with
    ``decision_function(X) = X @ coef_.T + intercept_`` (override it to transform X)."""

    def decision_function(self, X):
        return np.asarray(X) @ self.coef_.T + self.intercept_

    def predict_proba(self, X):
        z = self.decision_function(X)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


class RidgeSoftmax(SoftmaxReadout, ClassifierMixin, BaseEstimator):
    """Ridge regression on +-1 class indicators, read out as softmax probabilities.

    The scores of scikit-learn's ``RidgeClassifier`` scaled by a temperature that
    minimises the log-loss of the *leave-one-out* scores (closed form for ridge), so
    ``predict_proba`` is the multinomial logistic model
    ``softmax(X @ coef_.T + intercept_)`` (and exports as one to ONNX).

    Parameters
    ----------
    alpha : float > 0
        L2 penalty of the ridge regression.
    class_weight : "balanced" or None
        Balanced: every class carries the same total weight.
    calibrate : bool
        Fit the temperature (False: 1; enough when only the argmax is scored).
    warm_start : bool
        Keep the Gram matrix for the next fit and reuse it when ``X``, ``y`` and
        ``sample_weight`` are unchanged: a path over ``alpha`` costs one Gram matrix and
        gives exactly the coefficients of separate fits.
    """

    def __init__(self, alpha: float = 3000.0, *, class_weight: str | None = "balanced",
                 calibrate: bool = True, warm_start: bool = False):
        self.alpha = alpha
        self.class_weight = class_weight
        self.calibrate = calibrate
        self.warm_start = warm_start

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_gram_memo", None)  # a fitting aid, not part of the model
        return state

    @staticmethod
    def _normal_equations(X, target, w):
        """Weighted means, the centred Gram matrix (no penalty) and right-hand side.

        The Gram matrix is ``A.T @ A`` with ``A = sqrt(w) * (X - mean)``: numpy computes
        that product of a matrix with itself as a symmetric rank-k update, half the
        multiplications of a general product.
        """
        x_mean, t_mean = w @ X / w.sum(), w @ target / w.sum()
        root_w = np.sqrt(w)[:, None]
        A = np.subtract(X, x_mean)
        A *= root_w
        return x_mean, t_mean, A.T @ A, A.T @ ((target - t_mean) * root_w)

    def fit(self, X, y, sample_weight=None):
        from scipy.linalg import cho_factor, cho_solve, solve_triangular
        from scipy.optimize import minimize_scalar

        if self.alpha <= 0:
            raise ParameterError(f"alpha must be > 0, got {self.alpha}")
        if self.class_weight not in ("balanced", None):
            raise ParameterError(f"class_weight must be 'balanced' or None, got "
                                 f"{self.class_weight!r}")
        X = np.asarray(X, dtype=np.float64)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if self.classes_.size < 2:
            raise ParameterError("RidgeSoftmax needs at least two classes")
        w = np.ones(codes.size) if sample_weight is None else np.asarray(
            sample_weight, dtype=np.float64)
        if self.class_weight == "balanced":
            counts = np.bincount(codes)
            w = w * (codes.size / (counts.size * counts))[codes]
        target = -np.ones((codes.size, self.classes_.size))
        target[np.arange(codes.size), codes] = 1.0
        memo = getattr(self, "_gram_memo", None) if self.warm_start else None
        key = None
        if self.warm_start:
            digest = hashlib.sha256()  # hardware-accelerated: twice blake2b's speed here
            for part in (X, codes, w):
                digest.update(np.ascontiguousarray(part).data)
            key = (X.shape, digest.hexdigest())
        if memo is not None and memo[0] == key:
            x_mean, t_mean, gram, rhs = memo[1]
            gram = gram.copy()
        else:
            x_mean, t_mean, gram, rhs = self._normal_equations(X, target, w)
            self.__dict__.pop("_gram_memo", None)
            if self.warm_start:
                self._gram_memo = (key, (x_mean, t_mean, gram.copy(), rhs))
        gram[np.diag_indices_from(gram)] += self.alpha
        factor = cho_factor(gram, lower=False)
        coef = cho_solve(factor, rhs).T
        intercept = t_mean - coef @ x_mean
        self.temperature_ = 1.0
        if self.calibrate:
            scores = X @ coef.T + intercept
            # x' (U'U)^-1 x = |U'^-1 x|^2: one triangular solve
            half = solve_triangular(factor[0], (X - x_mean).T, trans="T", lower=False,
                                    overwrite_b=True, check_finite=False)
            leverage = w * np.einsum("ij,ij->j", half, half) + w / w.sum()
            del half
            loo = target - (target - scores) / np.maximum(1.0 - leverage, 1e-6)[:, None]

            def loss(log_t):
                z = np.exp(log_t) * loo
                z = z - z.max(axis=1, keepdims=True)
                log_p = z[np.arange(codes.size), codes] - np.log(np.exp(z).sum(axis=1))
                return -np.average(log_p, weights=w)

            self.temperature_ = float(np.exp(minimize_scalar(
                loss, bounds=(-4.0, 6.0), method="bounded").x))
        self.coef_ = self.temperature_ * coef
        self.intercept_ = self.temperature_ * intercept
        self.n_features_in_ = X.shape[1]
        return self


class Float32LogisticRegression(LogisticRegression):
    """scikit-learn's ``LogisticRegression`` fitted on float32 inputs.

    lbfgs spends its time in products of ``X`` with the coefficients; on float32 inputs
    they read half the memory and take about half the time. The coefficients are stored
    as float64; the ONNX graph computes in float32 either way. Same parameters as
    ``LogisticRegression``.
    """

    def fit(self, X, y, sample_weight=None):
        super().fit(np.asarray(X, dtype=np.float32), y, sample_weight=sample_weight)
        self.coef_ = self.coef_.astype(np.float64)
        self.intercept_ = self.intercept_.astype(np.float64)
        return self


# --------------------------------------------------------------------------- registrations
def _scaled(clf) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", clf)])


@register("logreg", grid={"clf__C": (0.001, 0.003, 0.01)}, augmented=("strict",),
          fast_params={"clf__tol": 1e-3, "clf__warm_start": True},
          description="standardised features, multinomial logistic regression (L2), "
                      "balanced class weights; also fitted on the augmented copies when "
                      "strict (speaker-normalised: the original clips)")
def _logreg(random_state: int) -> Pipeline:
    return _scaled(Float32LogisticRegression(C=0.003, max_iter=2000, class_weight="balanced",
                                      random_state=random_state))


@register("ridge", grid={"clf__alpha": (3000.0, 10000.0, 30000.0)}, augmented=True,
          simplest_first=False,
          fast_params={"clf__calibrate": False, "clf__warm_start": True},
          description="standardised features, ridge regression on class indicators read "
                      "out as softmax probabilities, balanced class weights; also fitted on "
                      "the augmented copies")
def _ridge(random_state: int) -> Pipeline:
    return _scaled(RidgeSoftmax(alpha=3000.0))


@register("svm", grid={"clf__C": (10.0,)}, fast_params={"clf__probability": False},
          description="standardised features, RBF SVM (gamma 'scale'), balanced class "
                      "weights, Platt probabilities")
def _svm(random_state: int) -> Pipeline:
    return _scaled(SVC(C=10.0, kernel="rbf", gamma="scale", probability=True,
                       class_weight="balanced", random_state=random_state))


@register("rf", grid={"clf__max_features": ("sqrt",)},
          description="random forest, 150 trees, sqrt(d) features per split, balanced "
                      "subsample weights")
def _rf(random_state: int) -> Pipeline:
    from sklearn.ensemble import RandomForestClassifier

    return Pipeline([("clf", RandomForestClassifier(
        n_estimators=150, class_weight="balanced_subsample", min_samples_leaf=1,
        n_jobs=1, random_state=random_state))])


@register("xgboost", grid={"clf__max_depth": (3,)},
          description="the 300 best ANOVA features, gradient-boosted trees (XGBoost, "
                      "hist), 100 rounds of depth 3")
def _xgboost(random_state: int) -> Pipeline:
    from xgboost import XGBClassifier

    return Pipeline([("select", SelectKBest(f_classif, k=300)), ("clf", XGBClassifier(
        n_estimators=100, max_depth=3, learning_rate=0.15, subsample=0.8,
        colsample_bytree=0.5, tree_method="hist", n_jobs=1, random_state=random_state,
        verbosity=0))])


@register("lightgbm", grid={"clf__num_leaves": (15,)},
          description="the 300 best ANOVA features, LightGBM, 100 rounds of 15 leaves")
def _lightgbm(random_state: int) -> Pipeline:
    from lightgbm import LGBMClassifier

    return Pipeline([("select", SelectKBest(f_classif, k=300)), ("clf", LGBMClassifier(
        n_estimators=100, num_leaves=15, learning_rate=0.1, subsample=0.8,
        subsample_freq=1, colsample_bytree=0.5, min_child_samples=10,
        class_weight="balanced", n_jobs=1, random_state=random_state, verbose=-1))])


@register("ensemble", members=("svm", "logreg", "lightgbm"),
          description="soft vote (mean probabilities) of the tuned SVM, logistic "
                      "regression and LightGBM")
def _ensemble(random_state: int) -> SoftVote:
    return SoftVote([])


@register("linear", members=("ridge", "logreg"),
          description="soft vote (mean probabilities) of the tuned ridge and logistic "
                      "regression; each member trained on its own rows (ridge also on the "
                      "augmented copies, logreg too when strict)")
def _linear(random_state: int) -> SoftVote:
    return SoftVote([])
