"""Teachers and sampled data sets."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from singdyn.data import Dataset, sample_data, teacher_outputs
from singdyn.network import Xi

# Example 1's teacher, f0(x) = 0.25 tanh(0.2 x) + 0.25 tanh(0.4 x).
TEACHER = Xi(a=np.array([0.2]), b=np.array(0.0), v=np.array([0.3]), w=np.array(0.5))


def _sample(**overrides):
    settings = dict(n_train=50, n_test=40, noise_std=0.05, seed=11)
    settings.update(overrides)
    return sample_data(TEACHER, **settings)


def test_same_seed_gives_bit_identical_data():
    first, second = _sample(), _sample()
    for one, other in ((first.train, second.train), (first.test, second.test)):
        assert np.array_equal(one.x, other.x)
        assert np.array_equal(one.y, other.y)
        assert one.x.dtype == np.float64 and one.y.dtype == np.float64


def test_different_seeds_give_different_data():
    first, second = _sample(seed=11), _sample(seed=12)
    assert not np.array_equal(first.train.x, second.train.x)
    assert not np.array_equal(first.test.x, second.test.x)
    assert not np.array_equal(first.train.y, second.train.y)


def test_train_and_test_are_independent_streams():
    split = _sample(n_train=40, n_test=40)
    assert not np.array_equal(split.train.x, split.test.x)
    assert not np.array_equal(split.train.y, split.test.y)

    # Changing the test set's size leaves the training set as it was, and vice versa.
    bigger_test = _sample(n_train=40, n_test=400)
    assert np.array_equal(bigger_test.train.x, split.train.x)
    assert np.array_equal(bigger_test.train.y, split.train.y)
    bigger_train = _sample(n_train=400, n_test=40)
    assert np.array_equal(bigger_train.test.x, split.test.x)
    assert np.array_equal(bigger_train.test.y, split.test.y)


def test_sizes_and_inputs_inside_the_interval():
    split = _sample(n_train=500, n_test=300, x_low=-1.0, x_high=2.0)
    assert split.train.size == 500 and split.test.size == 300
    for data in (split.train, split.test):
        assert np.all(data.x >= -1.0) and np.all(data.x < 2.0)
        # And they fill it: with n >= 300 uniform points on a width of 3, the chance
        # that none falls within 0.1 of one end is (1 - 0.1 / 3)^300 < 5e-5.
        assert data.x.min() < -0.9 and data.x.max() > 1.9


def test_noise_free_outputs_are_the_teacher():
    split = _sample(noise_std=0.0)
    x = split.train.x
    want = 0.25 * np.tanh(0.2 * x) + 0.25 * np.tanh(0.4 * x)
    # u1 = 0.3 - 0.1 is 2.8e-17 off 0.2 and tanh is good to a couple of ulp: 1e-15.
    assert_allclose(split.train.y, want, rtol=0, atol=1e-15)
    assert_allclose(teacher_outputs(TEACHER, x), want, rtol=0, atol=1e-15)


def test_noise_has_the_requested_spread():
    sigma, n = 0.05, 40_000
    split = _sample(n_train=n, n_test=1, noise_std=sigma, seed=5)
    noise = split.train.y - teacher_outputs(TEACHER, split.train.x)
    # For Gaussian noise the sample mean has standard error sigma / sqrt(n) = 2.5e-4 and
    # the sample standard deviation sigma / sqrt(2 (n - 1)) = 1.8e-4. Five standard
    # errors fail by chance with probability below 1e-6; the seed is fixed anyway.
    assert abs(noise.mean()) < 5 * sigma / np.sqrt(n)
    assert abs(noise.std(ddof=1) - sigma) < 5 * sigma / np.sqrt(2 * (n - 1))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(n_train=0), r"n_train must be >= 1 and whole; got 0"),
        (dict(n_test=-3), r"n_test must be >= 1 and whole; got -3"),
        (dict(noise_std=-0.1), r"noise_std must be >= 0; got -0\.1"),
        (dict(noise_std=float("nan")), r"noise_std must be >= 0; got nan"),
        (
            dict(x_low=1.0, x_high=1.0),
            r"x_low must be below x_high; got \[1\.0, 1\.0\]",
        ),
        (
            dict(x_low=2.0, x_high=-2.0),
            r"x_low must be below x_high; got \[2\.0, -2\.0",
        ),
    ],
)
def test_sample_data_rejects_bad_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        _sample(**overrides)


def test_dataset_rejects_bad_arrays():
    with pytest.raises(ValueError, match=r"finite; got a NaN"):
        Dataset(x=np.array([0.0, np.nan]), y=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"finite; got a NaN or infinity"):
        Dataset(x=np.array([0.0, 1.0]), y=np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match=r"at least 1 point; got 0"):
        Dataset(x=np.array([]), y=np.array([]))
    with pytest.raises(ValueError, match=r"one length; got shapes \(2,\) and \(3,\)"):
        Dataset(x=np.zeros(2), y=np.zeros(3))
    with pytest.raises(ValueError, match=r"1-D.*got shapes \(2, 2\)"):
        Dataset(x=np.zeros((2, 2)), y=np.zeros((2, 2)))
