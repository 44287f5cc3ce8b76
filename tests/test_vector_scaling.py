"""Vector scaling against one temperature (experiments/vector_scaling.py)."""

import numpy as np

from ser_classic.calibration import apply_temperature, fit_temperature

from .conftest import experiment

vs = experiment("vector_scaling")


def _miscalibrated(n: int, rng: np.random.Generator, scale, bias):
    """Rows whose posterior is ``apply_vector_scaling(proba, scale, bias)``, with ``y``
    drawn from it."""
    proba = rng.dirichlet(np.full(4, 0.6), size=n)
    posterior = vs.apply_vector_scaling(proba, scale=np.asarray(scale), bias=np.asarray(bias))
    y = np.array([rng.choice(4, p=p) for p in posterior])
    return proba, y


def test_a_temperature_is_a_shared_scale_without_biases():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(5), size=40)
    assert np.allclose(vs.apply_vector_scaling(proba, scale=np.full(5, 1 / 2.5),
                                               bias=np.zeros(5)),
                       apply_temperature(proba, temperature=2.5), atol=1e-12)


def test_the_fit_recovers_class_scales_and_biases():
    rng = np.random.default_rng(1)
    scale, bias = np.array([0.5, 0.8, 0.4, 0.6]), np.array([0.0, 0.7, -0.5, 0.2])
    proba, y = _miscalibrated(6000, rng, scale, bias)
    fitted_scale, fitted_bias = vs.fit_vector_scaling(proba, y)
    assert np.allclose(fitted_scale, scale, atol=0.1)
    assert np.allclose(fitted_bias, bias, atol=0.15) and fitted_bias[0] == 0.0
    # one shared scale, no true bias: the library's temperature, up to the optimiser
    proba, y = _miscalibrated(6000, rng, np.full(4, 0.5), np.zeros(4))
    shared, b = vs.fit_vector_scaling(proba, y, shared_scale=True)
    assert np.ptp(shared) == 0 and np.abs(b).max() < 0.1
    assert abs(1 / shared[0] - fit_temperature(proba, y)) < 0.05


def test_weights_choose_the_rows_the_biases_follow():
    rng = np.random.default_rng(2)
    a = _miscalibrated(3000, rng, np.full(4, 1.0), np.array([0.0, 1.0, 0.0, 0.0]))
    b = _miscalibrated(3000, rng, np.full(4, 1.0), np.array([0.0, -1.0, 0.0, 0.0]))
    proba, y = np.vstack([a[0], b[0]]), np.concatenate([a[1], b[1]])
    only_a = np.r_[np.ones(3000), np.zeros(3000)]
    assert vs.fit_vector_scaling(proba, y, sample_weight=only_a)[1][1] > 0.7
    assert vs.fit_vector_scaling(proba, y, sample_weight=1 - only_a)[1][1] < -0.7


def test_the_rule_passes_over_a_calibration_that_costs_accuracy():
    def row(split, name, accuracy, eces, accuracies):
        r = {"split": split, "held_out": name, "accuracy": accuracy}
        for c, e, acc in zip(vs.CALIBRATIONS, eces, accuracies, strict=True):
            r[c] = {"ece": e} | ({} if acc is None else {"accuracy": acc})
        return r

    same = (None,) * 3
    rows = [row("corpus", "emovo", 0.40, (0.3, 0.2, 0.15, 0.05, 0.10, 0.12),
                (*same, 0.30, 0.40, 0.398)),
            row("speakers", "ravdess 1-10", 0.60, (0.05, 0.1, 0.2, 0.05, 0.08, 0.09),
                (*same, 0.50, 0.60, 0.60))]
    # vector_scaling scores lowest but loses 0.10 of accuracy; corpus_vector_scaling is next
    assert vs.chosen(rows) == "corpus_vector_scaling"
    text = vs.render({"command": "c", "seconds": 1.0,
                      "results": {"strict": rows, "speaker_norm": rows}})
    assert "| strict |" in text and "**`corpus_vector_scaling`** |" in text
    assert "0.050, accuracy 0.400" in text  # vector_scaling's score and mean accuracy
