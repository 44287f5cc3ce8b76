"""experiments/student_solver.py: the float64 twin of the student's fit."""

import numpy as np
import pytest

from ser_classic import artifact
from ser_classic.distill import SoftmaxStudent, _estimators
from ser_classic.store import resolve

from .conftest import experiment


def test_float64_fits_change_only_the_solvers_dtype_and_are_undone():
    solver = experiment("student_solver")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 6)) * [1, 10, 100, 1, 1, 1]
    y = np.repeat(["a", "b", "c"], 30)
    X[y == "b", 0] += 2.0
    revision, fitter = artifact.FIT_REVISION, _estimators.Float32LogisticRegression
    shipped = SoftmaxStudent(C=1.0).fit(X, y)
    shipped_card = resolve("student")  # fitted at revision 2
    assert solver.bench.fitted_card(shipped_card) is not None
    with pytest.raises(RuntimeError), solver.float64_fits():
        assert artifact.FIT_REVISION is None  # its cards record no revision
        # so a cached float32 student is never reused as a float64 twin
        assert solver.bench.fitted_card(shipped_card) is None
        twin = SoftmaxStudent(C=1.0).fit(X, y)
        raise RuntimeError("restored on the way out too")
    assert (artifact.FIT_REVISION, _estimators.Float32LogisticRegression) == (revision, fitter)
    # the same model to the solver's tolerance, fitted on other inputs
    np.testing.assert_allclose(twin.predict_proba(X), shipped.predict_proba(X), atol=2e-3)
    assert not np.array_equal(twin.coef_, shipped.coef_)
    assert np.array_equal(SoftmaxStudent(C=1.0).fit(X, y).coef_, shipped.coef_)
