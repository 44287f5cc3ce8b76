"""The out-of-fold soft targets of experiments/oof_targets.py, on real RAVDESS features."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ser_classic import distill as D
from ser_classic.data import EMOTIONS
from ser_classic.features import FeatureConfig

from .conftest import experiment

oof = experiment("oof_targets")
CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def data(six):
    rows, X, copy, y = six
    return SimpleNamespace(rows=rows, X=X, X_copies=[copy], y=y, classes=EMOTIONS)


def test_every_transfer_row_gets_the_probability_of_a_teacher_blind_to_its_speaker(data):
    fitted = []

    def fit(idx):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=500))
        fitted.append((set(data.rows["speaker"][idx]), model.fit(data.X[idx], data.y[idx])))
        return model

    k = len(EMOTIONS)
    table = oof.out_of_fold_table(data, np.arange(len(data.X)), fit, k)
    assert len(fitted) == 3
    speakers = data.rows["speaker"].to_numpy()
    for i in range(0, len(data.X), 37):
        blind = [m for seen, m in fitted if speakers[i] not in seen]
        assert len(blind) == 1
        for rows in (data.X, data.X_copies[0]):
            expected = blind[0].predict_proba(rows[i:i + 1])[0]
            assert np.allclose(table[rows[i].tobytes()], expected)
    # distill looks up every row of its transfer set (clips, copies, MUNGE samples)
    student = D.distill(data.X, data.y, teacher=oof._RowTable(table, k), n_classes=k,
                        config=CONFIG, X_copies=data.X_copies, students=["linear"],
                        linear_C=0.01, random_state=0)["students"]["linear"]
    assert student.predict_proba(data.X[:5]).shape == (5, k)
    with pytest.raises(KeyError):  # another seed draws other MUNGE samples
        D.distill(data.X, data.y, teacher=oof._RowTable(table, k), n_classes=k,
                  config=CONFIG, X_copies=data.X_copies, students=["linear"],
                  linear_C=0.01, random_state=1)
