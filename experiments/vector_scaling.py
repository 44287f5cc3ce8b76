"""Vector scaling against one temperature -> reports/vector_scaling/.

Measurement only: nothing is shipped. Issue 19, item 7 asks for "temperature or vector
scaling fitted on held-out training speakers"; the library ships temperatures
(`reports/calibration`, `reports/student_calibration`), and one temperature cannot suit
both unseen voices of the training corpora and unseen corpora. Vector scaling (Guo et
al., 2017) gives every class its own scale and bias, ``softmax(a * log p + b)``; its
biases can also undo a class the model over-predicts away from its training corpora, so,
unlike a temperature, it can change the answer. Compared, each fitted by (weighted) NLL on
the out-of-fold predictions of the outer training rows only (their speakers in 3 grouped
folds, and each of their corpora held out once; `typicality_temperature`'s splits and
fixed model):

- `none`, `temperature`, `corpus_temperature`: as in `typicality_temperature` (the
  library's temperatures and weights);
- `vector_scaling`: ``a`` and ``b`` (7 + 6 values; the first class's bias is 0) on the
  speaker-grouped rows;
- `corpus_vector_scaling`: the same on the rows and weights of `corpus_temperature`;
- `corpus_class_bias`: one scale for every class and the class biases, on those rows.

Outer splits: each corpus held out (trained on the other two), and RAVDESS actors 1-10
and 11-20 held out in turn (trained on every other clip but actors 21-24, which no split
reads). Model: `floor_ablation`'s fixed logistic regression, strict and
speaker-normalised; calm left out first. ECE of 15 bins; a calibration that changes an
answer shows its own accuracy. The rule, written after a scratch run of the same
comparison and before this one: among the calibrations whose mean accuracy over the five
held-out splits is within 0.005 of the model's own, the one with the lowest mean of the
held-out-speaker mean ECE and the held-out-corpus mean ECE (`typicality_temperature`'s
score). A vector scaling chosen by it is a lead, to be measured under the deployed recipe
(`experiments/student_calibration.py`) before anything ships.

    .venv/bin/python experiments/vector_scaling.py [--out reports/vector_scaling]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import typicality_temperature as tt
from floor_ablation import ablation_parser, report_head, report_on_known_emotions

from ser_classic.calibration import PROBA_FLOOR, fit_temperature

CALIBRATIONS = ("none", "temperature", "corpus_temperature", "vector_scaling",
                "corpus_vector_scaling", "corpus_class_bias")
ACCURACY_TOLERANCE = 0.005
_SCALE_BOUNDS = (1 / 20.0, 1 / 0.05)  # the library's temperature bounds, inverted


def apply_vector_scaling(proba: np.ndarray, *, scale: np.ndarray, bias: np.ndarray
                         ) -> np.ndarray:
    """``softmax(scale * log max(p, PROBA_FLOOR) + bias)`` row by row; ``scale`` and
    ``bias`` of shape ``(k,)`` (a temperature ``T``: every scale ``1 / T``, biases 0)."""
    z = np.log(np.maximum(proba, PROBA_FLOOR)) * scale + bias
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_vector_scaling(proba: np.ndarray, y: np.ndarray, *,
                       sample_weight: np.ndarray | None = None, shared_scale: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, bias)`` minimising the (weighted) mean NLL of ``y`` under
    :func:`apply_vector_scaling`, from the fitted temperature (L-BFGS-B; the first class's
    bias fixed at 0; ``shared_scale``: one scale for every class)."""
    from scipy.optimize import minimize

    k = proba.shape[1]
    rows = np.arange(y.size)
    w = np.full(y.size, 1.0 / y.size) if sample_weight is None else \
        np.asarray(sample_weight, dtype=np.float64) / np.sum(sample_weight)
    log_p = np.log(np.maximum(proba, PROBA_FLOOR))
    n_scales = 1 if shared_scale else k

    def unpack(theta):
        return np.broadcast_to(theta[:n_scales], (k,)), np.r_[0.0, theta[n_scales:]]

    def nll(theta):
        scale, bias = unpack(theta)
        z = log_p * scale + bias
        top = z.max(axis=1)
        return -np.sum(w * (z[rows, y] - top - np.log(np.exp(z - top[:, None]).sum(axis=1))))

    start = np.r_[np.full(n_scales, 1 / fit_temperature(proba, y, sample_weight=sample_weight)),
                  np.zeros(k - 1)]
    bounds = [_SCALE_BOUNDS] * n_scales + [(None, None)] * (k - 1)
    scale, bias = unpack(minimize(nll, start, method="L-BFGS-B", bounds=bounds).x)
    return np.array(scale), bias


def _summary(scale: np.ndarray, bias: np.ndarray) -> dict:
    return {"scale min": round(float(scale.min()), 3), "scale max": round(float(scale.max()), 3),
            "largest bias": round(float(np.abs(bias).max()), 3)}


def calibrated(fits: list[dict], y: np.ndarray, corpus: np.ndarray, outer: dict) -> dict:
    """Every calibration of :data:`CALIBRATIONS` fitted on the inner ``fits`` and applied to
    ``outer`` (``typicality_temperature.calibrated``'s form)."""
    oof, _ = tt.inner_oof(fits, y, corpus)
    proba = outer["proba"]
    out = tt.temperatures(oof, proba)
    for name, method, shared in (("vector_scaling", "temperature", False),
                                 ("corpus_vector_scaling", "corpus_temperature", False),
                                 ("corpus_class_bias", "corpus_temperature", True)):
        rows, codes, weight = oof.rows(method)
        scale, bias = fit_vector_scaling(rows, codes, sample_weight=weight,
                                         shared_scale=shared)
        out[name] = (apply_vector_scaling(proba, scale=scale, bias=bias),
                     _summary(scale, bias))
    return out


def mean_accuracy(rows: list[dict], calibration: str) -> float:
    """Mean accuracy over the held-out splits after ``calibration``."""
    return float(np.mean([r[calibration].get("accuracy", r["accuracy"]) for r in rows]))


def chosen(rows: list[dict]) -> str:
    """The rule: the lowest score of ``typicality_temperature.rule_scores`` among the
    calibrations within :data:`ACCURACY_TOLERANCE` of the model's mean accuracy."""
    scores = tt.rule_scores(rows, CALIBRATIONS)
    own = mean_accuracy(rows, "none")
    kept = [c for c in CALIBRATIONS if mean_accuracy(rows, c) >= own - ACCURACY_TOLERANCE]
    return min(kept, key=lambda c: scores[c][2])


def render(summary: dict) -> str:
    lines = report_head("Vector scaling against one temperature (fixed logistic regression; "
                        "not shipped)", summary, __doc__)
    lines += tt.calibration_tables(summary["results"], CALIBRATIONS, atypicality=False)
    lines += ["## The rule", "",
              "| normalisation | " + " | ".join(f"`{c}`" for c in CALIBRATIONS)
              + " | chosen |", "|---|" + "---|" * (len(CALIBRATIONS) + 1)]
    for norm, rows in summary["results"].items():
        scores = tt.rule_scores(rows, CALIBRATIONS)
        lines.append(f"| {norm} | " + " | ".join(
            f"{scores[c][2]:.3f}, accuracy {mean_accuracy(rows, c):.3f}"
            for c in CALIBRATIONS) + f" | **`{chosen(rows)}`** |")
    lines += ["", "Cells: the rule's score (the mean of the held-out-speaker and "
              "held-out-corpus mean ECE, the tables' \"mean\" column), and the mean "
              "accuracy over the five held-out splits. A calibration more than "
              f"{ACCURACY_TOLERANCE} below `none`'s accuracy is not chosen, even where its "
              "score is the lowest of its table.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = ablation_parser(__doc__, out="reports/vector_scaling", seed=False).parse_args(argv)
    return report_on_known_emotions(
        args, "vector_scaling", argv,
        lambda *a: tt.run(*a, jobs=args.jobs, calibrate=calibrated), render)


if __name__ == "__main__":
    raise SystemExit(main())
