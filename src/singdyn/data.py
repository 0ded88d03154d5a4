"""Teachers and the data sets sampled from them (the paper's teacher-student setting).

Inputs are uniform on an interval, outputs are the teacher's plus Gaussian noise; the
training and test sets are independent streams of one explicit seed, so the same seed
gives bit-identical data on every machine (NumPy's PCG64 generator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from singdyn.network import Xi, predict_xi

__all__ = ["Dataset", "DataSplit", "sample_data", "teacher_outputs"]


@dataclass(frozen=True)
class Dataset:
    """Inputs and outputs of one data set, float64.

    Attributes:
        x: ``(n,)`` inputs.
        y: ``(n,)`` noisy teacher outputs.
    """

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        if self.x.shape != self.y.shape or self.x.ndim != 1:
            raise ValueError(
                f"Dataset: x and y must be 1-D of one length; got shapes "
                f"{self.x.shape} and {self.y.shape}"
            )
        if self.x.size == 0:
            raise ValueError("Dataset: a data set needs at least 1 point; got 0")
        if not (np.all(np.isfinite(self.x)) and np.all(np.isfinite(self.y))):
            raise ValueError("Dataset: x and y must be finite; got a NaN or infinity")

    @property
    def size(self) -> int:
        return int(self.x.size)


@dataclass(frozen=True)
class DataSplit:
    """Independent training and test sets drawn from one teacher."""

    train: Dataset
    test: Dataset


def teacher_outputs(teacher: Xi, x: np.ndarray) -> np.ndarray:
    """Noise-free teacher outputs ``f(x; teacher)`` in float64, shape ``(n,)``."""
    return np.asarray(predict_xi(teacher, np.asarray(x, dtype=np.float64)))


def sample_data(
    teacher: Xi,
    *,
    n_train: int,
    n_test: int,
    noise_std: float,
    seed: int,
    x_low: float = -3.0,
    x_high: float = 3.0,
) -> DataSplit:
    """Draw independent training and test sets ``y = f(x; teacher) + noise``.

    Args:
        teacher: the teacher network, float64 NumPy arrays without leading axes.
        n_train: number of training points, at least 1.
        n_test: number of test points, at least 1.
        noise_std: standard deviation of the Gaussian noise, at least 0.
        seed: the seed; the training and test sets use two independent child streams.
        x_low: lower end of the input interval.
        x_high: upper end of the input interval, above ``x_low``.

    Returns:
        The two data sets, float64.

    Raises:
        ValueError: on a size below 1, negative noise or an empty interval.

    Example:
        >>> split = sample_data(
        ...     teacher, n_train=100, n_test=100, noise_std=0.05, seed=0
        ... )
    """
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if int(value) != value or int(value) < 1:
            raise ValueError(
                f"sample_data: {name} must be >= 1 and whole; got {value!r}"
            )
    if not np.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"sample_data: noise_std must be >= 0; got {noise_std!r}")
    if not x_low < x_high:
        raise ValueError(
            f"sample_data: x_low must be below x_high; got [{x_low!r}, {x_high!r}]"
        )

    train_seq, test_seq = np.random.SeedSequence(seed).spawn(2)
    sets = []
    for n, seq in ((n_train, train_seq), (n_test, test_seq)):
        rng = np.random.Generator(np.random.PCG64(seq))
        x = rng.uniform(x_low, x_high, size=int(n))
        noise = rng.standard_normal(int(n)) * noise_std
        sets.append(Dataset(x=x, y=teacher_outputs(teacher, x) + noise))
    return DataSplit(train=sets[0], test=sets[1])
