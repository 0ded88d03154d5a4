"""Per-example losses and their conventions.

Both losses take the network output ``f`` and the target ``y`` and return the loss of
each example; a batch's loss is the mean over its examples, as NetTrain reports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
from jax import Array

__all__ = ["Loss", "gaussian_nll", "mse", "make_loss", "LOSS_KINDS"]

LOSS_KINDS = ("gaussian_nll", "mse")


def gaussian_nll(f: Array, y: Array, *, variance: float = 1.0) -> Array:
    """Negative log-likelihood of ``y`` under ``Normal(f, variance)``, per example.

    ``(y - f)^2 / (2 variance) + log(2 pi variance) / 2``: the paper's section-2 loss
    (``-Log[PDF[NormalDistribution[f, 1], y]]``) at ``variance = 1``.
    """
    return 0.5 * (y - f) ** 2 / variance + 0.5 * math.log(2 * math.pi * variance)


def mse(f: Array, y: Array) -> Array:
    """Squared error ``(y - f)^2`` per example, with no 1/2 (the paper's section 3)."""
    return (y - f) ** 2


@dataclass(frozen=True)
class Loss:
    """A per-example loss with its settings.

    Attributes:
        kind: ``"gaussian_nll"`` or ``"mse"``.
        variance: the Gaussian's variance (used by ``gaussian_nll`` only), above 0.
    """

    kind: str = "gaussian_nll"
    variance: float = 1.0

    def __post_init__(self):
        if self.kind not in LOSS_KINDS:
            raise ValueError(
                f"Loss: kind must be one of {LOSS_KINDS}; got {self.kind!r}"
            )
        if not (math.isfinite(self.variance) and self.variance > 0):
            raise ValueError(f"Loss: variance must be > 0; got {self.variance!r}")

    @property
    def per_example(self) -> Callable[[Array, Array], Array]:
        """``(f, y) -> loss`` per example."""
        if self.kind == "mse":
            return mse
        variance = self.variance
        return lambda f, y: gaussian_nll(f, y, variance=variance)

    def mean(self, f: Array, y: Array) -> Array:
        """Mean loss over the last axis."""
        return jnp.mean(self.per_example(f, y), axis=-1)


def make_loss(kind: str = "gaussian_nll", *, variance: float = 1.0) -> Loss:
    """Build a :class:`Loss`; see its attributes for the accepted values."""
    return Loss(kind=kind, variance=variance)
