"""A fitted student written as a model directory servable by ``ser_classic.load``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..features import FeatureConfig, feature_names
from ._groups import groups_needed

__all__ = ["save_student"]


def save_student(model_dir, *, student, name: str, classes: Sequence[str],
                 config: FeatureConfig, teacher_card: dict, onnx: bytes | None = None,
                 parity_rows: np.ndarray | None = None, info: dict | None = None,
                 cv_metrics: dict | None = None, training: dict | None = None,
                 normalization: str = "strict", typicality=None) -> dict:
    """Write a student as a model directory servable by ``ser_classic.load``.

    The card records the teacher, the feature names the student reads (``select``; the
    recognizer computes only those, via ``used_features``) and the groups they need.

    Parameters
    ----------
    model_dir : path
    student : fitted Pipeline starting with a :class:`ColumnSelector`
    onnx : bytes, optional
        The graph to ship (default: converted from ``student``); pass a quantized graph
        to deploy it (the joblib model then stays the float student).
    parity_rows : np.ndarray [shape=(m, n_features)], optional
        Rows on which the ONNX and scikit-learn probabilities are compared.
    normalization : Normalization or {"strict", "speaker_norm", "neutral_ref"}
        The teacher's: a student of a speaker-normalised teacher reads speaker-normalised
        features and needs speaker statistics at inference as its teacher does.
    typicality : Typicality, optional
        Training rows' statistics over the columns the student reads
        (:func:`ser_classic.artifact.save_artifact`).

    Returns
    -------
    card : dict
    """
    from ..artifact import save_artifact
    from ..export import onnx_predict_proba, onnx_session, to_onnx_bytes

    d = len(feature_names(config=config))
    graph = to_onnx_bytes(student, n_features=d) if onnx is None else onnx
    columns = student.named_steps["select"].columns_
    names = feature_names(config=config)
    parity = None
    if parity_rows is not None and len(parity_rows):
        ref = student.predict_proba(parity_rows)
        got = onnx_predict_proba(onnx_session(graph), parity_rows)
        parity = {"max_abs_diff": float(np.max(np.abs(ref - got))),
                  "argmax_agreement": float(np.mean(ref.argmax(1) == got.argmax(1))),
                  "n_rows": len(parity_rows), "atol": 1e-4}
        parity["ok"] = parity["max_abs_diff"] <= 1e-4
    extra = {
        "distillation": {
            "teacher": {"model_id": teacher_card.get("model_id"),
                        "name": teacher_card.get("name")},
            "student": name,
            "select": [names[i] for i in columns],
            "groups_needed": groups_needed(columns, config=config),
            **(info or {}),
        },
        "onnx_parity": parity,
    }
    return save_artifact(model_dir, estimator=student, classes=classes, config=config,
                         name=name, normalization=normalization, onnx=graph,
                         training=training or teacher_card.get("training", {}),
                         cv_metrics=cv_metrics, extra=extra, typicality=typicality)
