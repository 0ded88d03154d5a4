"""Per-example losses and their conventions."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import norm

from singdyn.losses import Loss, gaussian_nll, make_loss, mse

F = np.array([-1.3, 0.0, 0.25, 2.0, 0.7])
Y = np.array([0.4, 0.0, -0.5, 2.0, 3.1])


@pytest.mark.parametrize("variance", [1.0, 0.37, 4.0])
def test_gaussian_nll_is_minus_log_normal_pdf(variance):
    got = np.asarray(gaussian_nll(F, Y, variance=variance))
    want = -norm.logpdf(Y, loc=F, scale=math.sqrt(variance))
    # Both are (y - f)^2 / (2 s^2) + log(2 pi s^2) / 2 with a few roundings in different
    # order; the terms are O(1), so 1e-14 relative covers them.
    assert_allclose(got, want, rtol=1e-14, atol=0)
    by_loss = np.asarray(make_loss("gaussian_nll", variance=variance).per_example(F, Y))
    assert_allclose(by_loss, want, rtol=1e-14, atol=0)


def test_gaussian_nll_default_is_variance_one():
    # At y = f only the constant log(2 pi) / 2 = 0.9189385332046727 remains.
    assert float(gaussian_nll(0.5, 0.5)) == pytest.approx(0.9189385332046727, rel=1e-15)


def test_mse_has_no_one_half():
    # (3 - 1)^2 = 4, not 2: exact in binary.
    assert float(mse(1.0, 3.0)) == 4.0
    assert np.array_equal(np.asarray(mse(F, Y)), (Y - F) ** 2)
    assert np.array_equal(np.asarray(make_loss("mse").per_example(F, Y)), (Y - F) ** 2)


def test_mean_is_over_the_last_axis():
    batch = np.stack([F, 2 * F])  # (2, 5)
    got = np.asarray(make_loss("mse").mean(batch, Y))
    want = np.array([np.mean((Y - F) ** 2), np.mean((Y - 2 * F) ** 2)])
    # Five-term means of O(1) values: a few ulp.
    assert_allclose(got, want, rtol=1e-15, atol=0)


def test_equal_settings_give_equal_hashable_losses():
    # jit treats the loss as a static argument: equal settings must hash alike.
    assert make_loss("mse") == Loss(kind="mse")
    assert hash(make_loss("gaussian_nll", variance=2.0)) == hash(Loss(variance=2.0))


@pytest.mark.parametrize(
    ("kind", "variance", "message"),
    [
        ("l1", 1.0, r"kind must be one of \('gaussian_nll', 'mse'\); got 'l1'"),
        ("gaussian_nll", 0.0, r"variance must be > 0; got 0\.0"),
        ("gaussian_nll", -1.0, r"variance must be > 0; got -1\.0"),
        ("gaussian_nll", float("nan"), r"variance must be > 0; got nan"),
        ("gaussian_nll", float("inf"), r"variance must be > 0; got inf"),
    ],
)
def test_bad_settings_raise(kind, variance, message):
    with pytest.raises(ValueError, match=message):
        make_loss(kind, variance=variance)
