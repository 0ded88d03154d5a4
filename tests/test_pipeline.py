"""run_case's loss surfaces and averaged-flow overlay, against direct computations.

Two short runs (3 rounds): Example 1's overlap case (no biases, Gaussian NLL) and
Example 3 (biases, MSE, the test set as validation set; the paper's sections 2 and 3).
The surfaces are recomputed point by point in plain NumPy from the model's formula in
theta coordinates (the paper's section 1), and the overlay is checked against the
start and the trainable coordinates of the experiment.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from singdyn.experiments.config import load_preset
from singdyn.pipeline import flow_overlay, run_case

CASES = ("overlap", "example3_over_generalization")


@pytest.fixture(scope="module", params=CASES)
def result(request):
    return run_case(load_preset(request.param), max_rounds=3)


def _numpy_loss(point: dict, x: np.ndarray, y: np.ndarray, experiment) -> float:
    """The experiment's mean loss at a named xi point, in NumPy from theta:
    f = w31 tanh(u1 . x~) + w32 tanh(u2 . x~), u1 = v + a (b - 1) / 2,
    u2 = v + a (b + 1) / 2, w31 = w (1 + b) / 2, w32 = w (1 - b) / 2."""
    a, b, v, w = point["a"], point["b"], point["v"], point["w"]
    c, d = (point["c"], point["d"]) if experiment.model.bias else (0.0, 0.0)
    u1 = (v + a * (b - 1) / 2, d + c * (b - 1) / 2)
    u2 = (v + a * (b + 1) / 2, d + c * (b + 1) / 2)
    f = w * (1 + b) / 2 * np.tanh(u1[0] * x + u1[1])
    f = f + w * (1 - b) / 2 * np.tanh(u2[0] * x + u2[1])
    residual = y - f
    if experiment.loss.kind == "mse":
        return float(np.mean(residual**2))
    variance = experiment.loss.variance
    return float(
        np.mean(residual**2 / (2 * variance) + 0.5 * math.log(2 * math.pi * variance))
    )


# A few grid points (row i follows b, column j follows a): corners and inner points.
GRID_POINTS = [(0, 0), (0, -1), (-1, 0), (-1, -1), (40, 40), (13, 57), (70, 5)]


def test_surfaces_are_the_losses_over_the_training_and_the_test_set(result):
    """G is the mean loss over the training set and H (the validation surface, when
    the case has one) over the test set, at (a, b) of the grid with every other
    coordinate at the start. Both routes are float64 means of 100 terms, each correct
    to a few ulp (tanh implementations differ by an ulp or two); summation order
    changes the mean by about n eps = 2e-14 relative: rtol 1e-12."""
    experiment = result.experiment
    start = dict(zip(experiment.names, experiment.start_flat(), strict=True))
    data = result.data
    grid = experiment.surface
    for surface in (result.surface_train, result.surface_test):
        assert np.array_equal(surface.a, np.linspace(*grid.a_range, grid.resolution))
        assert np.array_equal(surface.b, np.linspace(*grid.b_range, grid.resolution))
    for i, j in GRID_POINTS:
        point = {**start, "a": result.surface_test.a[j], "b": result.surface_test.b[i]}
        on_train = _numpy_loss(point, data.train.x, data.train.y, experiment)
        on_test = _numpy_loss(point, data.test.x, data.test.y, experiment)
        assert result.surface_train.loss[i, j] == pytest.approx(on_train, rel=1e-12)
        assert result.surface_test.loss[i, j] == pytest.approx(on_test, rel=1e-12)
        # The two sets are independent draws: the losses differ far beyond 1e-12, so
        # a surface computed on the wrong set cannot pass.
        assert abs(on_train - on_test) > 1e-8 * abs(on_test)


def test_flow_overlay_starts_at_the_start_and_moves_only_the_trainable(result):
    experiment = result.experiment
    flow = result.flow
    assert flow is not None and flow.success[0]
    start = experiment.start_flat()
    path = flow.path[0]  # (T, p)
    assert flow.names == experiment.names

    # Saved at t = 0, where the solver's interpolant returns its initial value: the
    # start to rounding (1e-12 absolute on values of size <= 18).
    np.testing.assert_allclose(path[0], start, rtol=0, atol=1e-12)
    a, b = flow_overlay(result)
    assert len(a) == len(b) == len(path)
    assert a[0] == pytest.approx(start[experiment.names.index("a")], abs=1e-12)
    assert b[0] == pytest.approx(start[experiment.names.index("b")], abs=1e-12)

    # Frozen coordinates have a field of exactly 0 (masked), so every Runge-Kutta
    # stage and the interpolant add 0 to them: they keep their start values exactly.
    trainable = set(experiment.train.trainable)
    assert trainable == {"a", "b"}
    for k, name in enumerate(experiment.names):
        if name in trainable:
            continue
        assert np.all(path[:, k] == start[k]), name
    # And the trainable ones do move (the overlay is not a point).
    assert np.ptp(a) > 1e-3 or np.ptp(b) > 1e-3
