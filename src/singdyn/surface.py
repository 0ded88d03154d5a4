"""Loss surfaces over grids of (a, b) with the other coordinates fixed.

G(a, b) is the loss on the training set and H(a, b) the loss on the test set.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from singdyn.data import Dataset
from singdyn.losses import Loss
from singdyn.network import coordinate_names, predict_flat

__all__ = ["Surface", "loss_surface"]


@dataclass(frozen=True)
class Surface:
    """A loss surface on a grid.

    Attributes:
        a: ``(na,)`` grid values of a.
        b: ``(nb,)`` grid values of b.
        loss: ``(nb, na)`` loss at ``(a[j], b[i])`` (rows follow b, as an image).
    """

    a: np.ndarray
    b: np.ndarray
    loss: np.ndarray


def loss_surface(
    base,
    data: Dataset,
    *,
    bias: bool,
    loss: Loss,
    a_range=(-1.0, 1.0),
    b_range=(-2.5, 2.5),
    resolution: int = 101,
) -> Surface:
    """The mean loss over ``data`` on a grid of (a, b), other coordinates from ``base``.

    Args:
        base: ``(p,)`` flat xi point giving the fixed coordinates (v, w, and c, d with
            biases); its a and b are replaced by the grid.
        data: the data set (training set for G, test set for H).
        bias: whether the hidden units have biases.
        loss: the per-example loss.
        a_range: ``(low, high)`` of a.
        b_range: ``(low, high)`` of b.
        resolution: grid points along each axis, at least 2.

    Returns:
        The :class:`Surface`, computed in float64.
    """
    if int(resolution) < 2:
        raise ValueError(f"loss_surface: resolution must be >= 2; got {resolution!r}")
    names = coordinate_names(bias)
    base = np.asarray(base, dtype=np.float64)
    a = np.linspace(*a_range, int(resolution))
    b = np.linspace(*b_range, int(resolution))
    bb, aa = np.meshgrid(b, a, indexing="ij")  # (nb, na)
    points = np.broadcast_to(base, bb.shape + base.shape).copy()
    points[..., names.index("a")] = aa
    points[..., names.index("b")] = bb
    values = _mean_loss(
        jnp.asarray(points),
        jnp.asarray(data.x),
        jnp.asarray(data.y),
        bias=bool(bias),
        loss=loss,
    )
    return Surface(a=a, b=b, loss=np.asarray(values))


@functools.partial(jax.jit, static_argnames=("bias", "loss"))
def _mean_loss(points, x, y, *, bias, loss):
    return loss.mean(predict_flat(points, x, bias), y)
