"""NetTrain's batching and its form of ADAM.

NetTrain pads the sample indices up to a multiple of the batch size with randomly
chosen duplicates, shuffles them once per run and cuts them into fixed batches; after
each round it reshuffles only the order of the batches, and only when there are more
than 4 of them. Its ADAM adds epsilon to the square root of the uncorrected second
moment and folds the bias correction into the step size.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

__all__ = [
    "RESHUFFLE_ABOVE_BATCHES",
    "batches_per_round",
    "nettrain_schedule",
    "ElementwiseTransformation",
    "NetTrainAdamState",
    "nettrain_adam",
    "make_optimizer",
    "OPTIMIZERS",
]

RESHUFFLE_ABOVE_BATCHES = 4
"""NetTrain reshuffles the batch order between rounds only above this many batches."""

OPTIMIZERS = ("nettrain_adam", "adam", "sgd")


def batches_per_round(n: int, batch_size: int) -> int:
    """Updates per round: ``ceil(n / batch_size)``."""
    return -(-int(n) // int(batch_size))


def nettrain_schedule(n: int, batch_size: int, rounds: int, *, seed: int) -> np.ndarray:
    """The sample indices NetTrain feeds to each update of a run.

    Args:
        n: number of training examples, at least 1.
        batch_size: examples per update, at least 1.
        rounds: number of rounds (epochs), at least 1.
        seed: seed of this run's permutation and batch reshuffles.

    Returns:
        ``(rounds, batches, batch_size)`` int32 indices into the training set, where
        ``batches = ceil(n / batch_size)``. Every round holds the same batches; their
        order changes from round to round only when ``batches > 4``.

    Example:
        >>> nettrain_schedule(7, 3, 2, seed=0).shape
        (2, 3, 3)
    """
    for name, value in (("n", n), ("batch_size", batch_size), ("rounds", rounds)):
        if int(value) != value or int(value) < 1:
            raise ValueError(
                f"nettrain_schedule: {name} must be >= 1 and whole; got {value!r}"
            )
    rng = np.random.Generator(np.random.PCG64(seed))
    nb = batches_per_round(n, batch_size)
    pad = nb * batch_size - n

    # One padded permutation per run, cut into fixed batches.
    extra = rng.choice(n, size=pad, replace=pad > n)
    batches = rng.permutation(np.concatenate([np.arange(n), extra]))
    batches = batches.reshape(nb, batch_size)  # (batches, batch_size)

    # Round 1 takes the batches in order; each later round reshuffles their order.
    orders = [np.arange(nb)]
    for _ in range(rounds - 1):
        if nb > RESHUFFLE_ABOVE_BATCHES:
            orders.append(rng.permutation(nb))
        else:
            orders.append(np.arange(nb))
    return batches[np.stack(orders)].astype(np.int32)


class ElementwiseTransformation(optax.GradientTransformation):
    """An optax transformation that treats every parameter entry on its own.

    The state and the update of one entry depend on that entry alone and on a step
    count shared by all, so one call can update many runs stacked along any axis.
    :func:`singdyn.train.train` uses this to update a block of runs without a
    ``vmap`` (which would keep, and raise to a power, one step count per run). The
    optimizers of :func:`make_optimizer` are all of this kind.
    """

    __slots__ = ()


class NetTrainAdamState(NamedTuple):
    """State of :func:`nettrain_adam`.

    Attributes:
        count: updates made so far, int32.
        mu: first moment (uncorrected), like the parameters.
        nu: second moment (uncorrected), like the parameters.
    """

    count: Array
    mu: Array
    nu: Array


@functools.lru_cache(maxsize=64)
def nettrain_adam(
    learning_rate: float = 0.1,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-5,
) -> optax.GradientTransformation:
    """ADAM as NetTrain runs it.

    .. math::

        m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g_t, \\quad
        v_t = \\beta_2 v_{t-1} + (1 - \\beta_2) g_t^2,

        \\Delta_t = -\\eta \\frac{\\sqrt{1 - \\beta_2^t}}{1 - \\beta_1^t}
        \\frac{m_t}{\\sqrt{v_t} + \\epsilon}

    with ``eta = learning_rate`` and ``t`` counting updates over the whole run. The
    scalar factor is computed in double precision and applied in the parameters'
    precision. Cached, so equal settings give the same object (and one compilation).

    Args:
        learning_rate: eta, above 0.
        beta1: first-moment decay in [0, 1).
        beta2: second-moment decay in [0, 1).
        eps: added to the square root of the uncorrected second moment, >= 0.

    Returns:
        An optax gradient transformation; add its updates to the parameters.
    """
    _check_adam(learning_rate, beta1, beta2, eps)

    def init(params):
        zeros = jnp.zeros_like(params)
        return NetTrainAdamState(count=jnp.zeros((), jnp.int32), mu=zeros, nu=zeros)

    def update(grads, state, params=None):
        del params
        count = state.count + 1
        mu = beta1 * state.mu + (1 - beta1) * grads
        nu = beta2 * state.nu + (1 - beta2) * grads * grads
        t = count.astype(jnp.float64)
        scale = learning_rate * jnp.sqrt(1 - beta2**t) / (1 - beta1**t)
        step = scale.astype(grads.dtype) * mu / (jnp.sqrt(nu) + eps)
        return -step, NetTrainAdamState(count=count, mu=mu, nu=nu)

    return ElementwiseTransformation(init, update)


@functools.lru_cache(maxsize=64)
def make_optimizer(
    name: str = "nettrain_adam",
    *,
    learning_rate: float = 0.1,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-5,
) -> optax.GradientTransformation:
    """An optimizer by name: ``nettrain_adam`` (the default, NetTrain's ADAM),
    ``adam`` (optax's, eps inside the bias-corrected denominator) or ``sgd``."""
    if name == "nettrain_adam":
        return nettrain_adam(learning_rate, beta1, beta2, eps)
    if name == "adam":
        _check_adam(learning_rate, beta1, beta2, eps)
        adam = optax.adam(learning_rate, b1=beta1, b2=beta2, eps=eps)
        return ElementwiseTransformation(adam.init, adam.update)
    if name == "sgd":
        _check_positive("learning_rate", learning_rate)
        sgd = optax.sgd(learning_rate)
        return ElementwiseTransformation(sgd.init, sgd.update)
    raise ValueError(f"make_optimizer: name must be one of {OPTIMIZERS}; got {name!r}")


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"optimizer: {name} must be > 0; got {value!r}")


def _check_adam(learning_rate, beta1, beta2, eps) -> None:
    _check_positive("learning_rate", learning_rate)
    for name, value in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= value < 1:
            raise ValueError(f"optimizer: {name} must be in [0, 1); got {value!r}")
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"optimizer: eps must be >= 0; got {eps!r}")
