"""Loss surfaces over (a, b) grids."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from singdyn.data import sample_data
from singdyn.losses import make_loss
from singdyn.network import Xi, predict_flat
from singdyn.surface import loss_surface

TEACHER = Xi(a=np.array([0.2]), b=np.array(0.0), v=np.array([0.3]), w=np.array(0.5))


@pytest.fixture(scope="module")
def data():
    return sample_data(TEACHER, n_train=40, n_test=10, noise_std=0.05, seed=0).train


def _direct(point, data, bias, loss):
    return float(np.mean(loss.per_example(predict_flat(point, data.x, bias), data.y)))


@pytest.mark.parametrize(
    ("bias", "kind", "base"),
    [
        (False, "gaussian_nll", [9.0, 9.0, 0.3, 0.5]),
        (True, "mse", [9.0, -1.5, 9.0, 0.4, 0.2, 0.9]),
    ],
)
def test_grid_points_are_the_loss_at_that_point(data, bias, kind, base):
    loss = make_loss(kind)
    surface = loss_surface(
        np.array(base),
        data,
        bias=bias,
        loss=loss,
        a_range=(-1.0, 0.5),
        b_range=(-2.0, 2.5),
        resolution=5,
    )
    # Rows follow b, columns follow a, as an image.
    assert surface.loss.shape == (5, 5)
    assert_array_equal(surface.a, np.linspace(-1.0, 0.5, 5))
    assert_array_equal(surface.b, np.linspace(-2.0, 2.5, 5))

    names = ("a", "c", "b", "v", "d", "w") if bias else ("a", "b", "v", "w")
    for i, b in enumerate(surface.b):
        for j, a in enumerate(surface.a):
            point = np.array(base)
            point[names.index("a")] = a
            point[names.index("b")] = b
            # The same float64 mean of 40 terms, possibly summed in another order.
            assert_allclose(
                surface.loss[i, j], _direct(point, data, bias, loss), rtol=1e-13
            )


def test_the_overlap_line_is_flat_along_b(data):
    loss = make_loss("mse")
    surface = loss_surface(
        np.array([0.0, 0.0, 0.3, 0.5]),
        data,
        bias=False,
        loss=loss,
        a_range=(0.0, 1.0),
        b_range=(-1.0, 1.0),
        resolution=3,
    )
    # On the line a = 0 the units coincide and f = w tanh(v x) whatever b is: the
    # first column is constant down the rows (up to rounding of the same sums).
    assert_allclose(surface.loss[:, 0], surface.loss[0, 0], rtol=1e-14)
    # Away from a = 0 the rows differ, so the layout is not transposed by accident.
    assert not np.allclose(surface.loss[:, 2], surface.loss[0, 2], rtol=1e-6)


def test_bad_resolution_raises(data):
    with pytest.raises(ValueError, match=r"resolution must be >= 2; got 1"):
        loss_surface(
            np.array([0.0, 0.0, 0.3, 0.5]),
            data,
            bias=False,
            loss=make_loss(),
            resolution=1,
        )
