"""The two-hidden-unit tanh network in theta and xi coordinates.

The network (the paper's model) is

.. math::

    f(x; \\theta) = w_{31} \\tanh(u_1 \\cdot \\tilde x)
                  + w_{32} \\tanh(u_2 \\cdot \\tilde x)

where :math:`u_i` is the weight vector of hidden unit ``i``: the scalar input weight
``w1i`` for a network without biases, or ``(w1i, w2i)`` acting on
:math:`\\tilde x = (x, 1)` for a network with biases. The xi coordinates of Wei, Zhang,
Cousseau, Ozeki and Amari (2008) are

.. math::

    a = u_2 - u_1, \\quad b = \\frac{w_{31} - w_{32}}{w_{31} + w_{32}}, \\quad
    v = \\frac{w_{31} u_1 + w_{32} u_2}{w_{31} + w_{32}}, \\quad w = w_{31} + w_{32},

so that the overlap singularity R0 is the line ``a = 0`` and the elimination
singularity R1 is the pair of lines ``b = -1`` (``w31 = 0``) and ``b = +1``
(``w32 = 0``).

Parameters travel through training as flat vectors whose entries are named by
:func:`coordinate_names`: ``(a, b, v, w)`` without biases and
``(a, c, b, v, d, w)`` with them, where ``(a, c)`` is the vector a and ``(v, d)``
the vector v (the paper's section 3 names).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = [
    "Theta",
    "Xi",
    "coordinate_names",
    "theta_names",
    "unit_size",
    "xi_from_flat",
    "xi_to_flat",
    "theta_from_flat",
    "theta_to_flat",
    "xi_to_theta",
    "theta_to_xi",
    "predict_theta",
    "predict_xi",
    "predict_flat",
    "swap_units",
]

_XI_NAMES = {False: ("a", "b", "v", "w"), True: ("a", "c", "b", "v", "d", "w")}
_THETA_NAMES = {
    False: ("w11", "w12", "w31", "w32"),
    True: ("w11", "w21", "w12", "w22", "w31", "w32"),
}


class Xi(NamedTuple):
    """A point in xi coordinates; leading axes (``...``) batch several points.

    Attributes:
        a: ``(..., k)`` difference of the hidden units' weight vectors, ``u2 - u1``.
        b: ``(...)`` output-weight asymmetry ``(w31 - w32) / (w31 + w32)``.
        v: ``(..., k)`` output-weighted mean of the weight vectors.
        w: ``(...)`` total output weight ``w31 + w32``.

    ``k`` is 1 without biases and 2 with them.
    """

    a: Array
    b: Array
    v: Array
    w: Array


class Theta(NamedTuple):
    """A point in theta coordinates; leading axes (``...``) batch several points.

    Attributes:
        u1: ``(..., k)`` weight vector of unit 1, ``(w11,)`` or ``(w11, w21)``.
        u2: ``(..., k)`` weight vector of unit 2, ``(w12,)`` or ``(w12, w22)``.
        w31: ``(...)`` output weight of unit 1.
        w32: ``(...)`` output weight of unit 2.
    """

    u1: Array
    u2: Array
    w31: Array
    w32: Array


def coordinate_names(bias: bool) -> tuple[str, ...]:
    """Names of the flat xi vector's entries, in order.

    Args:
        bias: whether the hidden units have biases.

    Returns:
        ``("a", "b", "v", "w")`` or ``("a", "c", "b", "v", "d", "w")``.
    """
    return _XI_NAMES[bool(bias)]


def theta_names(bias: bool) -> tuple[str, ...]:
    """Names of the flat theta vector's entries, in order (see theta_to_flat)."""
    return _THETA_NAMES[bool(bias)]


def unit_size(bias: bool) -> int:
    """Size ``k`` of a hidden unit's weight vector: 2 with biases, 1 without."""
    return 2 if bias else 1


def xi_from_flat(flat: Array, bias: bool) -> Xi:
    """Split ``(..., 2k + 2)`` flat vectors into an :class:`Xi` (order of
    :func:`coordinate_names`)."""
    k = unit_size(bias)
    return Xi(
        a=flat[..., 0:k],
        b=flat[..., k],
        v=flat[..., k + 1 : 2 * k + 1],
        w=flat[..., 2 * k + 1],
    )


def xi_to_flat(xi: Xi) -> Array:
    """Join an :class:`Xi` into ``(..., 2k + 2)`` flat vectors."""
    xp = _namespace(xi)
    return xp.concatenate([xi.a, xi.b[..., None], xi.v, xi.w[..., None]], axis=-1)


def theta_from_flat(flat: Array, bias: bool) -> Theta:
    """Split ``(..., 2k + 2)`` flat vectors ``(u1, u2, w31, w32)`` into a Theta."""
    k = unit_size(bias)
    return Theta(
        u1=flat[..., 0:k],
        u2=flat[..., k : 2 * k],
        w31=flat[..., 2 * k],
        w32=flat[..., 2 * k + 1],
    )


def theta_to_flat(theta: Theta) -> Array:
    """Join a Theta into ``(..., 2k + 2)`` flat vectors ``(u1, u2, w31, w32)``."""
    xp = _namespace(theta)
    return xp.concatenate(
        [theta.u1, theta.u2, theta.w31[..., None], theta.w32[..., None]], axis=-1
    )


def xi_to_theta(xi: Xi) -> Theta:
    """Map xi to theta (the paper's xi coordinates); defined everywhere.

    ``u1 = v + a (b - 1) / 2``, ``u2 = v + a (b + 1) / 2``, ``w31 = w (1 + b) / 2``,
    ``w32 = w (1 - b) / 2``.
    """
    b = xi.b[..., None]
    return Theta(
        u1=xi.v + xi.a * (b - 1) / 2,
        u2=xi.v + xi.a * (b + 1) / 2,
        w31=xi.w * (1 + xi.b) / 2,
        w32=xi.w * (1 - xi.b) / 2,
    )


def theta_to_xi(theta: Theta) -> Xi:
    """Map theta to xi (the paper's xi coordinates).

    Raises:
        ValueError: if ``w31 + w32 = 0`` at any point given as concrete values; the
            xi coordinates b and v are undefined there. Traced values (inside ``jit``)
            are not checked.
    """
    w = theta.w31 + theta.w32
    if not _is_traced(w):
        bad = np.asarray(w) == 0
        if np.any(bad):
            raise ValueError(
                "theta_to_xi: w31 + w32 must be non-zero (b and v divide by it); got "
                f"w31 = {float(np.asarray(theta.w31)[bad].ravel()[0])!r}, "
                f"w32 = {float(np.asarray(theta.w32)[bad].ravel()[0])!r}"
            )
    return Xi(
        a=theta.u2 - theta.u1,
        b=(theta.w31 - theta.w32) / w,
        v=(theta.w31[..., None] * theta.u1 + theta.w32[..., None] * theta.u2)
        / w[..., None],
        w=w,
    )


def _preactivation(u: Array, x: Array) -> Array:
    """``u . (x, 1)`` (with bias) or ``u x`` (without), broadcast over ``x``."""
    out = u[..., 0:1] * x
    if u.shape[-1] == 2:
        out = out + u[..., 1:2]
    return out


def predict_theta(theta: Theta, x: Array) -> Array:
    """Network output ``f(x; theta)``.

    Args:
        theta: parameters with leading axes ``(...)``.
        x: inputs ``(n,)``.

    Returns:
        ``(..., n)`` outputs.
    """
    h1 = jnp.tanh(_preactivation(theta.u1, x))
    h2 = jnp.tanh(_preactivation(theta.u2, x))
    return theta.w31[..., None] * h1 + theta.w32[..., None] * h2


def predict_xi(xi: Xi, x: Array) -> Array:
    """Network output ``f(x; xi)`` computed in xi coordinates, as the paper's
    network is built: ``w (1 + b) / 2 tanh((v + a (b - 1) / 2) . x~) + ...``.

    Args:
        xi: parameters with leading axes ``(...)``.
        x: inputs ``(n,)``.

    Returns:
        ``(..., n)`` outputs.
    """
    return predict_theta(xi_to_theta(xi), x)


def predict_flat(flat: Array, x: Array, bias: bool) -> Array:
    """``f(x; xi)`` for ``(..., 2k + 2)`` flat xi vectors and inputs ``(n,)``."""
    return predict_xi(xi_from_flat(flat, bias), x)


def swap_units(xi: Xi) -> Xi:
    """The same function with the hidden units swapped.

    ``(a, b, v, w) -> (-a, -b, v, w)``.
    """
    return Xi(a=-xi.a, b=-xi.b, v=xi.v, w=xi.w)


def _is_traced(value) -> bool:
    from jax.core import Tracer

    return isinstance(value, Tracer)


def _namespace(params):
    """``numpy`` for NumPy inputs, ``jax.numpy`` otherwise."""
    return np if all(isinstance(p, np.ndarray) for p in params) else jnp
