"""The scikit-learn estimators students are made of.

Their ONNX converters are registered with skl2onnx by :mod:`ser_classic.export`, so a
student converts in any process. Each class sets ``__module__`` to the public
``ser_classic.distill`` (as numpy's ``set_module`` does): pickled students (the
``model.joblib`` of a model directory) name the public path, which does not move when the
private modules do.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_selection import SelectorMixin

from ..errors import ParameterError
from ..models import Float32LogisticRegression, SoftmaxReadout

__all__ = ["ColumnSelector", "FeatureQuantizer", "LogitStudent", "SoftmaxStudent"]

_PUBLIC = "ser_classic.distill"


class ColumnSelector(SelectorMixin, BaseEstimator):
    """Keep fixed feature columns (the first step of every student).

    Parameters
    ----------
    columns : sequence of int
        Column indices to keep; kept in increasing order.
    """

    __module__ = _PUBLIC

    def __init__(self, columns=()):
        self.columns = columns

    def fit(self, X, y=None):
        X = np.asarray(X)
        cols = np.unique(np.asarray(self.columns, dtype=int))
        if cols.size == 0 or cols[0] < 0 or cols[-1] >= X.shape[1]:
            raise ParameterError(f"columns must be non-empty indices < {X.shape[1]}")
        self.columns_ = cols
        self.n_features_in_ = X.shape[1]
        return self

    def _get_support_mask(self):
        mask = np.zeros(self.n_features_in_, dtype=bool)
        mask[self.columns_] = True
        return mask


class FeatureQuantizer(TransformerMixin, BaseEstimator):
    """Per-feature affine uint8 quantization: ``code = clip(rint((x - offset) / scale))``.

    ``offset`` and ``scale`` span each feature's range on the fitting data (255 steps);
    values outside saturate at 0 / 255. Arithmetic is float32, as in the ONNX graph
    (``Sub`` -> ``QuantizeLinear`` -> ``Cast``). Output: the codes as float32.
    """

    __module__ = _PUBLIC

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float32)
        lo, hi = X.min(axis=0), X.max(axis=0)
        self.offset_ = lo.astype(np.float32)
        self.scale_ = np.maximum((hi - lo) / np.float32(255.0), np.float32(1e-12)).astype(
            np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ParameterError(f"expected {self.n_features_in_} features, got {X.shape}")
        return np.clip(np.rint((X - self.offset_) / self.scale_), 0, 255).astype(np.float32)


def standardised(X: np.ndarray, block: int = 256, *, dtype=np.float64
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means, standard deviations (1 where 0) and ``(X - mean) / scale``.

    Bit for bit ``X.mean(axis=0)``, ``X.std(axis=0)`` and that quotient (computed in
    float64, stored as ``dtype``), with one array the size of ``X``: the deviations are
    summed ``block`` columns at a time in ``X``'s own memory order (numpy sums a
    Fortran-ordered column pairwise, a C-ordered one row by row), and the result is
    C-ordered, as solvers want it (a column selection of a C-ordered matrix is
    Fortran-ordered).

    Returns
    -------
    mean, scale : np.ndarray [shape=(d,)], float64
    Z : np.ndarray [shape=(n, d)], C order, ``dtype``
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    sums = [np.square(X[:, j:j + block] - mean[j:j + block]).sum(axis=0)
            for j in range(0, X.shape[1], block)]
    sd = np.sqrt((np.concatenate(sums) if sums else np.zeros(0)) / len(X))
    scale = np.where(sd > 0, sd, 1.0)
    Z = np.empty(X.shape, dtype=dtype)
    rows = max(1, (1 << 22) // max(1, X.shape[1]))  # float64 blocks of ~32 MB
    for i in range(0, len(X), rows):
        Z[i:i + rows] = (X[i:i + rows] - mean) / scale
    return mean, scale, Z


class SoftmaxStudent(SoftmaxReadout, ClassifierMixin, BaseEstimator):
    """Multinomial logistic regression on standardised inputs, one matrix product.

    ``predict_proba(X) = softmax(((X - mean_) / scale_) @ coef_.T + intercept_)``; it
    exports to ONNX as Sub -> Mul -> MatMul -> Add -> Softmax, so
    :func:`quantize_dynamic_onnx` turns its weights into int8.

    Parameters
    ----------
    C : float > 0
        Inverse L2 penalty (as scikit-learn's ``LogisticRegression``).
    max_iter : int
    random_state : int
    """

    __module__ = _PUBLIC

    def __init__(self, C: float = 0.01, *, max_iter: int = 300, random_state: int = 0):
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        from sklearn.exceptions import ConvergenceWarning

        if self.C <= 0:
            raise ParameterError(f"C must be > 0, got {self.C}")
        if np.unique(y).size < 3:  # two classes would give a binary (one-row) model
            raise ParameterError("SoftmaxStudent needs at least three classes")
        # standardised straight into float32, the solver's input (no float64 copy)
        self.mean_, self.scale_, Z = standardised(X, dtype=np.float32)
        clf = Float32LogisticRegression(C=self.C, max_iter=self.max_iter, tol=1e-3,
                                        random_state=self.random_state)
        with warnings.catch_warnings():  # lbfgs stops at max_iter on the widest inputs
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Z, y, sample_weight=sample_weight)
        self.classes_, self.coef_, self.intercept_ = clf.classes_, clf.coef_, clf.intercept_
        self.n_features_in_ = Z.shape[1]
        return self

    def decision_function(self, X):
        Z = np.asarray(X, dtype=np.float64) - self.mean_
        Z /= self.scale_
        return Z @ self.coef_.T + self.intercept_


class LogitStudent(SoftmaxStudent):
    """A :class:`SoftmaxStudent` fitted by *logit matching* (Ba & Caruana, 2014): a ridge
    regression of the teacher's centred log-probabilities on standardised inputs.

    A soft-target student learns the teacher's probabilities where the transfer rows
    lie; a linear map fitted to the teacher's log-odds follows the teacher's own linear
    maps, so it also agrees with the teacher off those rows (held-out voices, degraded
    audio). ``fit(X, P)`` takes the teacher's probabilities, not labels; the fitted model
    is a :class:`SoftmaxStudent` (same graph, same int8 quantization, same temperature
    folding).

    Parameters
    ----------
    alpha : float > 0
        L2 penalty of the ridge regression (inputs standardised).
    floor : float in (0, 1)
        Probabilities are floored here before the log (a guard against log 0: the
        teacher's log-probabilities are matched as they are).
    """

    __module__ = _PUBLIC

    def __init__(self, alpha: float = 10.0, *, floor: float = 1e-8):
        self.alpha = alpha
        self.floor = floor

    def fit(self, X, P, sample_weight=None):
        """Fit on rows ``X`` [shape=(n, d)] and the teacher's probabilities ``P``
        [shape=(n, n_classes)] (rows summing to 1; class codes 0 .. n_classes-1)."""
        from scipy.linalg import solve

        if self.alpha <= 0:
            raise ParameterError(f"alpha must be > 0, got {self.alpha}")
        if not 0 < self.floor < 1:
            raise ParameterError(f"floor must be in (0, 1), got {self.floor}")
        P = np.asarray(P, dtype=np.float64)
        if P.ndim != 2 or P.shape[1] < 3 or len(P) != len(X):
            raise ParameterError(f"P must be (n rows, >= 3 classes) probabilities, got "
                                 f"{P.shape} for {len(X)} rows")
        if not np.all(np.isfinite(P)) or np.any(P < 0):
            raise ParameterError("P must hold finite, non-negative probabilities")
        T = np.log(np.maximum(P, self.floor))
        T -= T.mean(axis=1, keepdims=True)  # log-odds are defined up to a row constant
        w = (np.ones(len(T)) if sample_weight is None
             else np.asarray(sample_weight, dtype=np.float64))
        self.mean_, self.scale_, Z = standardised(X)
        # weighted rows: scaled by sqrt(w) (a copy of Z only when weights are given)
        root = np.sqrt(w / w.mean())[:, None]
        A = Z if sample_weight is None else Z * root
        z_mean, t_mean = w @ Z / w.sum(), w @ T / w.sum()
        gram = A.T @ A
        if sample_weight is not None:  # centred on the weighted means (Z's are 0)
            gram -= len(w) * np.outer(z_mean, z_mean)
        gram[np.diag_indices_from(gram)] += self.alpha
        rhs = A.T @ ((T - t_mean) * root)
        coef = solve(gram, rhs, assume_a="pos")
        self.coef_ = coef.T
        self.intercept_ = t_mean - z_mean @ coef
        self.classes_ = np.arange(P.shape[1])
        self.n_features_in_ = Z.shape[1]
        return self
