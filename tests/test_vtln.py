"""experiments/vtln.py: the warp choice (its report: tests/test_test_time_views.py)."""

import numpy as np

from .conftest import experiment

vtln = experiment("vtln")


def test_nearest_warp_takes_the_row_nearest_the_reference_in_z_scores():
    rng = np.random.default_rng(0)
    # feature 0 spread 1, feature 1 spread 100: distances are counted in spreads
    reference = rng.normal(size=(500, 2)) * [1.0, 100.0] + [5.0, 50.0]
    mean, scale = reference.mean(axis=0), reference.std(axis=0)
    candidates = np.array([
        [mean + [3.0, 0.0] * scale, mean + [0.5, 0.5] * scale, mean + [0.0, 2.0] * scale],
        [mean + [0.0, 1.5] * scale, mean + [1.0, 1.0] * scale, mean + [0.2, 0.0] * scale],
    ])
    np.testing.assert_array_equal(vtln.nearest_warp(candidates, reference), [1, 2])
    # a constant feature (spread 0) neither decides nor breaks the choice
    flat = np.concatenate([reference, np.zeros((500, 1))], axis=1)
    padded = np.concatenate([candidates, np.zeros((2, 3, 1))], axis=2)
    np.testing.assert_array_equal(vtln.nearest_warp(padded, flat), [1, 2])
