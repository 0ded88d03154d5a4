"""The theory side of the paper, in float64.

Everything here averages over the true distribution: inputs ``x ~ Uniform[x_low,
x_high]`` and outputs ``y = f(x; teacher) + Z`` with ``Z ~ Normal(0, noise_std^2)``.
The average over ``x`` is a Gauss-Legendre sum (:func:`population`); the average over
the noise is done by hand, since both losses are quadratic in ``y``.

Conventions, stated once (they matter for every sign below):

* ``L_half(xi) = <(y - f(x; xi))^2> / 2`` is the paper's error function
  ``l = e^2 / 2`` averaged. Both of our losses are ``c * L_half + constant`` with
  the *loss scale* ``c = 1 / variance`` for the Gaussian NLL and ``c = 2`` for MSE
  (which has no 1/2); see :func:`loss_scale`. Gradient flows of a loss therefore run
  ``c`` times as fast as those of ``L_half``; their paths are the same.
* The paper's ``l_x`` (``l_v, l_w, l_a, l_b``) are *minus* the gradient of ``L_half``:
  ``l_x = <e df/dx>``, the gradient of the log-likelihood at unit variance (Amari's
  school writes ``l`` for the log-likelihood). With this reading every formula of the
  paper's Definition 6 holds exactly, with ``xi' = eta J J^T l_xi``
  (:func:`paper_rates`).
* ``H(v*, w*) = (w* / 4) <e d^2 phi / dv dv^T>`` (:func:`h_matrix`) is defined for
  ``L_half``. The Hessian of ``L_half`` in ``a`` on R0 is ``-(1 - b^2) H`` (the paper's
  ``+(1 - b^2) H`` is the Hessian of the log-likelihood); for a loss it is
  ``-c (1 - b^2) H``.

Flat xi vectors follow :func:`singdyn.network.coordinate_names`: ``(a, b, v, w)``
without biases and ``(a, c, b, v, d, w)`` with them (``a = (a, c)``, ``v = (v, d)``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax import Array

from singdyn.losses import Loss, make_loss
from singdyn.network import (
    Xi,
    coordinate_names,
    predict_flat,
    predict_theta,
    theta_from_flat,
    theta_names,
    theta_to_flat,
    theta_to_xi,
    unit_size,
    xi_from_flat,
    xi_to_flat,
    xi_to_theta,
)

__all__ = [
    "FIRST_INTEGRALS",
    "FLOW_FORMS",
    "N_NODES",
    "REDUCED_VARIANTS",
    "X_RANGE",
    "Flow",
    "OneUnitFit",
    "Population",
    "Stability",
    "averaged_flow",
    "averaged_loss",
    "averaged_loss_grad",
    "best_one_unit_fit",
    "check_closed_forms",
    "first_integral",
    "first_integral_drift",
    "first_integral_study",
    "flow_field",
    "h_matrix",
    "loss_hessian_in_a",
    "loss_scale",
    "metric_autodiff",
    "metric_closed_form",
    "paper_rates",
    "population",
    "reduced_field",
    "reduced_flow",
    "stability_by_flow",
    "stability_summary",
    "teacher_flat",
    "theorem7_verdict",
    "theory_summary",
    "write_theory",
]

X_RANGE = (-3.0, 3.0)
# 200 Gauss-Legendre nodes integrate polynomials of degree 399 exactly. Our integrands
# are analytic except at the poles of tanh(u x + d), at distance pi / (2 |u|) from the
# real axis, and the error of n nodes falls like rho^(-2n), rho the Bernstein ellipse
# through the nearest pole: on [-3, 3], rho^(-400) is below 1e-9 for |u| <= 10 and
# below 1e-16 for |u| <= 5 (the paper's teachers). A test checks 200 against 400 nodes.
N_NODES = 200
FLOW_FORMS = ("xi", "theta", "paper")


# -------------------------------------------------------------------------------------
# The true distribution and the averaged loss
# -------------------------------------------------------------------------------------


class Population(NamedTuple):
    """The true distribution, discretised for averaging over ``x``.

    Attributes:
        nodes: ``(n,)`` Gauss-Legendre nodes on ``[x_low, x_high]``.
        weights: ``(n,)`` their weights for the *mean* over x (they sum to 1).
        targets: ``(n,)`` noise-free teacher outputs ``f(node; teacher)``.
        noise_std: standard deviation of the output noise.
    """

    nodes: np.ndarray
    weights: np.ndarray
    targets: np.ndarray
    noise_std: float


def teacher_flat(teacher, bias: bool) -> np.ndarray:
    """The teacher as a ``(p,)`` float64 flat xi vector.

    Args:
        teacher: an :class:`~singdyn.network.Xi` or a flat xi vector.
        bias: whether the hidden units have biases.

    Returns:
        ``(p,)`` with ``p = 4`` (no biases) or 6.

    Raises:
        ValueError: on the wrong size or a non-finite entry.
    """
    flat = xi_to_flat(teacher) if isinstance(teacher, Xi) else teacher
    flat = np.asarray(flat, dtype=np.float64)
    names = coordinate_names(bias)
    if flat.shape != (len(names),):
        raise ValueError(
            f"teacher: expected a flat xi vector {names} of shape ({len(names)},); "
            f"got shape {flat.shape}"
        )
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"teacher: entries must be finite; got {flat.tolist()}")
    return flat


def population(
    teacher,
    *,
    bias: bool,
    noise_std: float = 0.05,
    x_range: Sequence[float] = X_RANGE,
    n_nodes: int = N_NODES,
) -> Population:
    """Discretise the true distribution with Gauss-Legendre quadrature.

    Args:
        teacher: the teacher, an ``Xi`` or a flat xi vector.
        bias: whether the hidden units have biases.
        noise_std: standard deviation of the output noise, at least 0.
        x_range: ``(x_low, x_high)`` of the uniform input distribution.
        n_nodes: number of quadrature nodes, at least 2 (see :data:`N_NODES`).

    Returns:
        The :class:`Population`.

    Raises:
        ValueError: on a bad teacher, negative noise, an empty range or too few nodes.

    Example:
        >>> pop = population((0.2, 0.0, 0.3, 0.5), bias=False)
        >>> float(pop.weights.sum())
        1.0
    """
    flat = teacher_flat(teacher, bias)
    if not (math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"population: noise_std must be >= 0; got {noise_std!r}")
    x_low, x_high = (float(x) for x in x_range)
    if not x_low < x_high:
        raise ValueError(
            f"population: x_range must satisfy x_low < x_high; got {tuple(x_range)!r}"
        )
    if int(n_nodes) < 2:
        raise ValueError(f"population: n_nodes must be >= 2; got {n_nodes!r}")

    unit_nodes, unit_weights = np.polynomial.legendre.leggauss(int(n_nodes))
    nodes = 0.5 * (x_high - x_low) * unit_nodes + 0.5 * (x_high + x_low)
    weights = 0.5 * unit_weights  # the uniform density 1/(x_high - x_low) folded in
    targets = np.asarray(predict_flat(flat, nodes, bias))
    return Population(nodes, weights, targets, float(noise_std))


def _as_loss(loss) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        return make_loss(loss)
    raise ValueError(f"loss: expected a Loss or a kind string; got {loss!r}")


def loss_scale(loss) -> float:
    """The factor ``c`` with ``loss = c * e^2 / 2 + constant`` per example.

    Args:
        loss: a :class:`~singdyn.losses.Loss` or its kind, ``"gaussian_nll"`` or
            ``"mse"``.

    Returns:
        ``1 / variance`` for the Gaussian NLL, 2 for MSE.
    """
    loss = _as_loss(loss)
    return 2.0 if loss.kind == "mse" else 1.0 / loss.variance


def _loss_constant(loss: Loss, noise_std: float) -> float:
    """What the noise and the normalisation add to ``c * L_half`` in the mean loss.

    ``<(f0 + Z - f)^2> = (f0 - f)^2 + sigma^2``, so the noise adds ``c sigma^2 / 2``;
    the NLL adds its ``log(2 pi variance) / 2`` too.
    """
    constant = 0.5 * loss_scale(loss) * noise_std**2
    if loss.kind == "gaussian_nll":
        constant += 0.5 * math.log(2 * math.pi * loss.variance)
    return constant


def _half_error(params: Array, pop: Population, bias: bool) -> Array:
    """``L_half`` of ``(..., p)`` flat xi points, noise excluded; shape ``(...)``."""
    residual = pop.targets - predict_flat(params, pop.nodes, bias)  # (..., n)
    return 0.5 * jnp.sum(pop.weights * residual**2, axis=-1)


def _half_error_theta(params: Array, pop: Population, bias: bool) -> Array:
    """``L_half`` of ``(..., p)`` flat theta points, noise excluded."""
    residual = pop.targets - predict_theta(theta_from_flat(params, bias), pop.nodes)
    return 0.5 * jnp.sum(pop.weights * residual**2, axis=-1)


def averaged_loss(
    params_flat,
    teacher,
    *,
    bias: bool,
    loss="gaussian_nll",
    noise_std: float = 0.05,
    x_range: Sequence[float] = X_RANGE,
    n_nodes: int = N_NODES,
) -> Array:
    """The expected loss over the true distribution (input and noise).

    ``c <(f0(x) - f(x; xi))^2>_x / 2 + c sigma^2 / 2 (+ log(2 pi variance) / 2 for the
    NLL)``; the x-average by :func:`population`'s quadrature.

    Args:
        params_flat: ``(..., p)`` flat xi points.
        teacher: the teacher, an ``Xi`` or a flat xi vector.
        bias: whether the hidden units have biases.
        loss: a :class:`~singdyn.losses.Loss` or its kind.
        noise_std: standard deviation of the output noise.
        x_range: ``(x_low, x_high)`` of the inputs.
        n_nodes: quadrature nodes.

    Returns:
        ``(...)`` expected losses, float64.

    Example:
        >>> averaged_loss(np.array([0.2, 0.0, 0.3, 0.5]), (0.2, 0.0, 0.3, 0.5),
        ...               bias=False, loss="mse", noise_std=0.05)  # = 0.05^2
    """
    loss = _as_loss(loss)
    pop = population(
        teacher, bias=bias, noise_std=noise_std, x_range=x_range, n_nodes=n_nodes
    )
    params = jnp.asarray(params_flat, dtype=jnp.float64)
    return loss_scale(loss) * _half_error(params, pop, bias) + _loss_constant(
        loss, noise_std
    )


def averaged_loss_grad(
    params_flat,
    teacher,
    *,
    bias: bool,
    loss="gaussian_nll",
    noise_std: float = 0.05,
    x_range: Sequence[float] = X_RANGE,
    n_nodes: int = N_NODES,
) -> Array:
    """Gradient of :func:`averaged_loss` in the flat xi coordinates (by ``jax.grad``).

    Args:
        params_flat: ``(..., p)`` flat xi points.
        teacher, bias, loss, noise_std, x_range, n_nodes: as for :func:`averaged_loss`.

    Returns:
        ``(..., p)`` gradients, float64.
    """
    pop = population(
        teacher, bias=bias, noise_std=noise_std, x_range=x_range, n_nodes=n_nodes
    )
    params = jnp.asarray(params_flat, dtype=jnp.float64)
    grad = jax.grad(_half_error)
    for _ in range(params.ndim - 1):
        grad = jax.vmap(grad, in_axes=(0, None, None))
    return loss_scale(loss) * grad(params, pop, bias)


# -------------------------------------------------------------------------------------
# The metric J J^T and the averaged learning equations
# -------------------------------------------------------------------------------------


def _theta_flat_of(xi_flat: Array, bias: bool) -> Array:
    return theta_to_flat(xi_to_theta(xi_from_flat(xi_flat, bias)))


def _xi_flat_of(theta_flat: Array, bias: bool) -> Array:
    return xi_to_flat(theta_to_xi(theta_from_flat(theta_flat, bias)))


def metric_autodiff(xi_flat, bias: bool) -> Array:
    """``J J^T`` with ``J = d xi / d theta^T`` by automatic differentiation.

    Args:
        xi_flat: ``(p,)`` a flat xi point with ``w != 0``.
        bias: whether the hidden units have biases.

    Returns:
        ``(p, p)`` the metric in the flat xi order.
    """
    xi_flat = jnp.asarray(xi_flat, dtype=jnp.float64)
    theta = _theta_flat_of(xi_flat, bias)
    jac = jax.jacfwd(_xi_flat_of)(theta, bias)  # (p xi rows, p theta columns)
    return jac @ jac.T


def metric_closed_form(xi_flat, bias: bool) -> Array:
    """``J J^T`` in closed form (derived by hand; checked against autodiff).

    With ``k x k`` identity ``I``, in the block order ``(a, b, v, w)``::

        [ 2 I      0                    -b I                              0     ]
        [ 0        2(1+b^2)/w^2         -(1+b^2)/w^2 a^T                  -2b/w ]
        [ -b I     -(1+b^2)/w^2 a       (1+b^2)/2 (I + a a^T / w^2)       b a/w ]
        [ 0        -2b/w                b a^T / w                         2     ]

    Args:
        xi_flat: ``(p,)`` a flat xi point with ``w != 0``.
        bias: whether the hidden units have biases.

    Returns:
        ``(p, p)`` the metric in the flat xi order.
    """
    xi = xi_from_flat(jnp.asarray(xi_flat, dtype=jnp.float64), bias)
    a, b, w = xi.a, xi.b, xi.w
    k = a.shape[-1]
    eye = jnp.eye(k)
    s = 1 + b**2
    col = a[:, None]  # (k, 1)
    rows = [
        [2 * eye, jnp.zeros((k, 1)), -b * eye, jnp.zeros((k, 1))],
        [
            jnp.zeros((1, k)),
            jnp.full((1, 1), 2 * s / w**2),
            -s / w**2 * col.T,
            jnp.full((1, 1), -2 * b / w),
        ],
        [-b * eye, -s / w**2 * col, s / 2 * (eye + col @ col.T / w**2), b / w * col],
        [
            jnp.zeros((1, k)),
            jnp.full((1, 1), -2 * b / w),
            b / w * col.T,
            jnp.full((1, 1), 2.0),
        ],
    ]
    return jnp.block(rows)  # the block order (a, b, v, w) is the flat order


def paper_rates(xi_flat, l_flat, bias: bool) -> Array:
    """The paper's Definition 6 closed forms for ``(v', w', a', b')``.

    ``v' = (b^2+1)/2 l_v + (b^2+1)/(2w^2) a a^T l_v + (b/w) a l_w - b l_a
    - (b^2+1)/w^2 a l_b``, ``w' = (b/w) a^T l_v + 2 l_w - (2b/w) l_b``,
    ``a' = -b l_v + 2 l_a``, ``b' = -(b^2+1)/w^2 a^T l_v - (2b/w) l_w
    + 2(b^2+1)/w^2 l_b``. They equal ``J J^T l_xi`` exactly, so they are the averaged
    learning equation with ``eta = 1`` when ``l_x = -<d l / dx>`` (module notes).

    Args:
        xi_flat: ``(p,)`` the point.
        l_flat: ``(p,)`` the ``l_x`` in flat xi order.
        bias: whether the hidden units have biases.

    Returns:
        ``(p,)`` the rates in flat xi order.
    """
    xi = xi_from_flat(jnp.asarray(xi_flat, dtype=jnp.float64), bias)
    ell = xi_from_flat(jnp.asarray(l_flat, dtype=jnp.float64), bias)
    a, b, w = xi.a, xi.b, xi.w
    l_a, l_b, l_v, l_w = ell.a, ell.b, ell.v, ell.w
    s = b**2 + 1
    v_dot = (
        s / 2 * l_v
        + s / (2 * w**2) * a * (a @ l_v)
        + b / w * a * l_w
        - b * l_a
        - s / w**2 * a * l_b
    )
    w_dot = b / w * (a @ l_v) + 2 * l_w - 2 * b / w * l_b
    a_dot = -b * l_v + 2 * l_a
    b_dot = -s / w**2 * (a @ l_v) - 2 * b / w * l_w + 2 * s / w**2 * l_b
    return xi_to_flat(Xi(a=a_dot, b=b_dot, v=v_dot, w=w_dot))


def _mask(names: tuple[str, ...], trainable, setting: str) -> np.ndarray:
    """``(p,)`` 1.0 on the trainable names, 0.0 elsewhere; all ones for None."""
    if trainable is None:
        return np.ones(len(names))
    trainable = [trainable] if isinstance(trainable, str) else list(trainable)
    unknown = [t for t in trainable if t not in names]
    if unknown or not trainable:
        raise ValueError(
            f"{setting}: trainable must name some of {list(names)}; got {trainable!r}"
        )
    return np.array([n in trainable for n in names], dtype=np.float64)


def _field(y: Array, mask: Array, rate: Array, pop, bias: bool, form: str) -> Array:
    """The right-hand side of one averaged learning equation at one point ``y``."""
    if form == "theta":
        return -rate * mask * jax.grad(_half_error_theta)(y, pop, bias)
    grad = jax.grad(_half_error)(y, pop, bias)
    if form == "paper":
        grad = metric_autodiff(y, bias) @ grad
    return -rate * mask * grad


def flow_field(
    params_flat,
    teacher,
    *,
    bias: bool,
    form: str = "xi",
    trainable=None,
    learning_rate: float = 1.0,
    loss="gaussian_nll",
    x_range: Sequence[float] = X_RANGE,
    n_nodes: int = N_NODES,
) -> Array:
    """The vector field of an averaged learning equation of the paper.

    Forms, for the loss ``c L_half`` and learning rate ``eta``:

    * ``"xi"``: ``xi_T' = -eta <dl/dxi_T>`` on the trainable xi coordinates ``T``, the
      rest fixed: what the paper's networks (and :func:`singdyn.train.train`) do.
    * ``"theta"``: ``theta' = -eta <dl/dtheta>``; ``params_flat`` is then a flat theta
      vector ``(u1, u2, w31, w32)`` and ``trainable`` names theta coordinates.
    * ``"paper"``: the rows ``T`` of ``xi' = -eta J J^T <dl/dxi>`` (Definition 6), the
      rest fixed. With every coordinate trainable this is the push-forward of the theta
      flow; with a subset it is the paper's reduced analysis, which keeps the rows of
      a and b (with their l_v, l_w terms) while holding v, w fixed.

    Args:
        params_flat: ``(p,)`` the point (flat xi; flat theta for ``"theta"``).
        teacher: the teacher, an ``Xi`` or a flat xi vector.
        bias: whether the hidden units have biases.
        form: ``"xi"``, ``"theta"`` or ``"paper"``.
        trainable: names of the coordinates that move, or None for all.
        learning_rate: ``eta``, above 0.
        loss: a :class:`~singdyn.losses.Loss` or its kind; sets ``c``.
        x_range: ``(x_low, x_high)`` of the inputs.
        n_nodes: quadrature nodes.

    Returns:
        ``(p,)`` the rate of change.

    Raises:
        ValueError: on an unknown form, a bad trainable list or learning rate.
    """
    mask, rate = _flow_settings(
        form, trainable, learning_rate, loss, bias, "flow_field"
    )
    pop = population(teacher, bias=bias, x_range=x_range, n_nodes=n_nodes)
    return _field(jnp.asarray(params_flat, jnp.float64), mask, rate, pop, bias, form)


def _flow_settings(form, trainable, learning_rate, loss, bias, caller):
    """Check the settings of a flow once; return its ``(mask, c * eta)``."""
    if form not in FLOW_FORMS:
        raise ValueError(f"{caller}: form must be one of {FLOW_FORMS}; got {form!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"{caller}: learning_rate must be > 0; got {learning_rate!r}")
    names = theta_names(bias) if form == "theta" else coordinate_names(bias)
    mask = jnp.asarray(_mask(names, trainable, caller))
    rate = jnp.asarray(learning_rate * loss_scale(loss))
    return mask, rate


class Flow(NamedTuple):
    """Paths of an averaged learning equation from M start points.

    Attributes:
        times: ``(T,)`` save times, from 0 to ``t1``.
        path: ``(M, T, p)`` flat xi points at those times (theta flows are mapped to
            xi; entries are inf or NaN after a path crosses ``w = 0``).
        success: ``(M,)`` whether each solve reached ``t1``.
        message: ``(M,)`` the solver's message per path, ``"success"`` when it did.
        names: names of the flat xi coordinates.
        form: the form of the equation (see :func:`flow_field`).
    """

    times: np.ndarray
    path: np.ndarray
    success: np.ndarray
    message: tuple[str, ...]
    names: tuple[str, ...]
    form: str

    def coordinate(self, name: str) -> np.ndarray:
        """``(M, T)`` the path of one named xi coordinate."""
        return self.path[..., self.names.index(name)]


def averaged_flow(
    starts,
    teacher,
    *,
    bias: bool,
    t1: float,
    n_points: int = 201,
    trainable=None,
    form: str = "xi",
    learning_rate: float = 1.0,
    loss="gaussian_nll",
    x_range: Sequence[float] = X_RANGE,
    n_nodes: int = N_NODES,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 1_000_000,
    stiff: bool = False,
    log_times: bool = False,
) -> Flow:
    """Solve an averaged learning equation from M start points in one batched solve.

    The M solves run under one ``jax.vmap`` of ``diffrax.diffeqsolve`` (Tsit5, or the
    implicit Kvaerno5 when ``stiff``; PID step-size control with the given
    tolerances); the noise does not enter (it adds a constant to the averaged loss).
    Flows in which v and w move are stiff near R0 (their relaxation is fast, a's
    motion slow): over long times ``stiff=True`` takes far fewer steps.

    Args:
        starts: ``(M, p)`` or ``(p,)`` flat xi start points (also for ``"theta"``).
        teacher: the teacher, an ``Xi`` or a flat xi vector.
        bias: whether the hidden units have biases.
        t1: end time, above 0 (time in units where one unit is ``1 / eta`` steps).
        n_points: save points from 0 to ``t1``, at least 2.
        trainable: names that move (xi names; theta names for ``"theta"``); None: all.
        form: ``"xi"``, ``"theta"`` or ``"paper"`` (see :func:`flow_field`).
        learning_rate: ``eta``, above 0.
        loss: a :class:`~singdyn.losses.Loss` or its kind; sets ``c``.
        x_range: ``(x_low, x_high)`` of the inputs.
        n_nodes: quadrature nodes.
        rtol: relative tolerance of the step-size controller.
        atol: absolute tolerance of the step-size controller.
        max_steps: step budget per path.
        stiff: use the implicit Kvaerno5 solver rather than Tsit5.
        log_times: save at 0 and at ``n_points - 1`` log-spaced times from
            ``t1 * 1e-6`` to ``t1`` (paths whose speed spans decades, as near the
            singular regions); evenly spaced otherwise.

    Returns:
        The :class:`Flow`; check ``success``.

    Raises:
        ValueError: on bad starts, times, forms or trainable names.

    Example:
        >>> flow = averaged_flow([[0.15, -1.8, 0.3, 0.5]], (0.2, 0.0, 0.3, 0.5),
        ...                      bias=False, t1=100.0, trainable=("a", "b"))
    """
    names = coordinate_names(bias)
    starts = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    if starts.ndim != 2 or starts.shape[1] != len(names):
        raise ValueError(
            f"averaged_flow: starts must have shape (M, {len(names)}) for {names}; "
            f"got {starts.shape}"
        )
    if not np.all(np.isfinite(starts)):
        raise ValueError("averaged_flow: starts must be finite; got a NaN or infinity")
    if not (math.isfinite(t1) and t1 > 0):
        raise ValueError(f"averaged_flow: t1 must be > 0; got {t1!r}")
    if int(n_points) < 2:
        raise ValueError(f"averaged_flow: n_points must be >= 2; got {n_points!r}")
    mask, rate = _flow_settings(
        form, trainable, learning_rate, loss, bias, "averaged_flow"
    )
    pop = population(teacher, bias=bias, x_range=x_range, n_nodes=n_nodes)

    y0 = starts if form != "theta" else np.asarray(_theta_flat_of(starts, bias))
    times, path, success, message = _run(
        _averaged_field(bool(bias), form),
        y0,
        t1,
        (mask, rate, pop),
        n_points=n_points,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        stiff=stiff,
        log_times=bool(log_times),
    )
    if form == "theta":
        path = _xi_flat_of(path, bias)
    return Flow(times, np.asarray(path), success, message, names, form)


@functools.partial(
    jax.jit, static_argnames=("field", "n_points", "max_steps", "stiff", "log_times")
)
def _solve(
    field,
    y0,
    t1,
    args,
    rtol,
    atol,
    *,
    n_points,
    max_steps,
    stiff=False,
    log_times=False,
):
    """Solve ``y' = field(y, args)`` from each row of ``y0``.

    Shapes: y0 (M, p) -> path (M, n_points, p) and a batched diffrax result.
    ``field`` is static (a module-level function or a cached partial of one).
    """
    term = diffrax.ODETerm(lambda t, y, args: field(y, args))
    if log_times:
        ts = jnp.concatenate([jnp.zeros(1), jnp.geomspace(t1 * 1e-6, t1, n_points - 1)])
    else:
        ts = jnp.linspace(0.0, t1, n_points)

    def one(start):
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Kvaerno5() if stiff else diffrax.Tsit5(),
            t0=0.0,
            t1=t1,
            dt0=None,
            y0=start,
            args=args,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            max_steps=max_steps,
            throw=False,
        )
        return sol.ys, sol.result

    return jax.vmap(one)(y0)


@functools.cache
def _averaged_field(bias: bool, form: str):
    """``(y, (mask, rate, pop)) -> y'``: one function object per setting, so the
    compiled solve is reused."""

    def field(y, args):
        mask, rate, pop = args
        return _field(y, mask, rate, pop, bias, form)

    return field


def _run(
    field,
    y0,
    t1,
    args,
    *,
    n_points,
    rtol,
    atol,
    max_steps,
    stiff=False,
    log_times=False,
):
    """Solve and unpack: ``(times, path, success, message)`` as NumPy."""
    path, result = _solve(
        field,
        jnp.asarray(y0),
        jnp.asarray(float(t1)),
        args,
        jnp.asarray(rtol),
        jnp.asarray(atol),
        n_points=int(n_points),
        max_steps=int(max_steps),
        stiff=bool(stiff),
        log_times=bool(log_times),
    )
    codes = np.asarray(result._value).reshape(-1)
    success = np.asarray(result == diffrax.RESULTS.successful).reshape(-1)
    message = tuple(
        "success" if ok else diffrax.RESULTS._index_to_message[int(c)]
        for ok, c in zip(success, codes, strict=True)
    )
    if log_times:
        times = np.concatenate([[0.0], np.geomspace(t1 * 1e-6, t1, int(n_points) - 1)])
    else:
        times = np.linspace(0.0, float(t1), int(n_points))
    return times, path, success, message


# -------------------------------------------------------------------------------------
# The best one-hidden-unit fit (v*, w*), H(v*, w*) and Theorem 7
# -------------------------------------------------------------------------------------


class OneUnitFit(NamedTuple):
    """The best fit of one hidden unit ``w tanh(v . x~)`` to the teacher.

    Attributes:
        v: ``(k,)`` the weight vector ``v*`` (``(v,)`` or ``(v, d)``).
        w: the output weight ``w*``.
        residual_rms: ``sqrt(<(f0 - w* tanh(v* . x~))^2>_x)``, noise excluded.
        teacher_rms: ``sqrt(<f0^2>_x)``, the scale of the teacher.
        on_singularity: whether the teacher is itself one unit (the residual is below
            ``1e-7`` of the teacher's scale), as Theorem 7's first case asks.
        gradient_norm: the largest entry of the gradient of ``L_half`` at the fit.
        success: whether scipy reported convergence and the gradient is below 1e-9.
        message: scipy's message.
    """

    v: np.ndarray
    w: float
    residual_rms: float
    teacher_rms: float
    on_singularity: bool
    gradient_norm: float
    success: bool
    message: str

    def xi(self, a, b) -> np.ndarray:
        """``(p,)`` the flat xi point ``(a, b, v*, w*)``."""
        a = np.atleast_1d(np.asarray(a, dtype=np.float64))
        return np.concatenate([a, [b], self.v, [self.w]])


ON_SINGULARITY_TOL = 1e-7


def _one_unit(params: Array, nodes: Array, k: int) -> Array:
    """``w tanh(v . x~)`` at the nodes for ``params = (v..., w)``; shape ``(n,)``."""
    pre = params[0] * nodes + (params[1] if k == 2 else 0.0)
    return params[k] * jnp.tanh(pre)


def best_one_unit_fit(
    teacher,
    *,
    bias: bool,
    x_range: Sequence[float] = X_RANGE,
    n_nodes: int = N_NODES,
    starts=None,
) -> OneUnitFit:
    """Minimise ``L_half`` over one hidden unit: the point ``(v*, w*)`` on R0.

    The minimiser does not depend on the loss kind or the noise (both only scale
    ``L_half`` and add a constant). A least-squares solve (scipy's trust-region
    reflective method, tolerances 1e-15, exact Jacobian) runs from every start; the
    lowest residual wins and a few Newton steps polish it (gradient below 1e-12).

    Args:
        teacher: the teacher, an ``Xi`` or a flat xi vector.
        bias: whether the hidden units have biases.
        x_range: ``(x_low, x_high)`` of the inputs.
        n_nodes: quadrature nodes.
        starts: ``(S, k + 1)`` start points ``(v..., w)``; by default the teacher's own
            ``(v, w)`` and each of its hidden units alone.

    Returns:
        The :class:`OneUnitFit`.

    Example:
        >>> fit = best_one_unit_fit((0.2, 0.0, 0.3, 0.5), bias=False)
    """
    flat = teacher_flat(teacher, bias)
    pop = population(flat, bias=bias, x_range=x_range, n_nodes=n_nodes)
    k = unit_size(bias)
    starts = _fit_starts(flat, bias) if starts is None else np.atleast_2d(starts)
    root_w = np.sqrt(pop.weights)

    def residual(params):
        return root_w * (pop.targets - _one_unit(params, pop.nodes, k))

    jacobian = jax.jit(jax.jacfwd(residual))
    residual = jax.jit(residual)
    best = None
    for start in starts:
        result = scipy.optimize.least_squares(
            lambda p: np.asarray(residual(p)),
            np.asarray(start, dtype=np.float64),
            jac=lambda p: np.asarray(jacobian(p)),
            xtol=1e-15,
            ftol=1e-15,
            gtol=1e-15,
            max_nfev=10_000,
        )
        if best is None or result.cost < best.cost:
            best = result

    params, cost, gradient = _newton_polish(residual, jacobian, best.x)
    residual_rms = math.sqrt(2 * cost)
    teacher_rms = math.sqrt(float(np.sum(pop.weights * pop.targets**2)))
    return OneUnitFit(
        v=params[:k].copy(),
        w=float(params[k]),
        residual_rms=residual_rms,
        teacher_rms=teacher_rms,
        on_singularity=residual_rms <= ON_SINGULARITY_TOL * teacher_rms,
        gradient_norm=float(gradient),
        success=bool(best.success and gradient < 1e-9),
        message=str(best.message),
    )


def _newton_polish(residual, jacobian, params, steps: int = 3):
    """A few Newton steps on ``L_half`` (exact Hessian) after the least-squares solve,
    which stops near 1e-10 in the gradient; a step is kept only if it lowers the
    gradient. Returns ``(params, L_half, max |gradient|)``."""

    def half_error(p):
        return 0.5 * jnp.sum(residual(p) ** 2)

    grad = jax.grad(half_error)
    hess = jax.hessian(half_error)
    g = np.asarray(grad(params))
    for _ in range(steps):
        trial = params - np.linalg.solve(np.asarray(hess(params)), g)
        g_trial = np.asarray(grad(trial))
        if not np.max(np.abs(g_trial)) < np.max(np.abs(g)):
            break
        params, g = trial, g_trial
    return params, float(half_error(params)), float(np.max(np.abs(g)))


def _fit_starts(flat: np.ndarray, bias: bool) -> np.ndarray:
    """The teacher's ``(v, w)`` and each of its units ``(u_i, w3i)`` alone."""
    xi = xi_from_flat(flat, bias)
    theta = xi_to_theta(xi)
    starts = [np.concatenate([xi.v, [xi.w]])]
    for u, weight in ((theta.u1, theta.w31), (theta.u2, theta.w32)):
        if weight != 0:
            starts.append(np.concatenate([u, [weight]]))
    return np.array(starts)


def _tanh_derivatives(s: Array) -> tuple[Array, Array, Array, Array]:
    """``tanh`` and its first three derivatives at ``s``."""
    t = jnp.tanh(s)
    sech2 = 1 - t**2
    return t, sech2, -2 * t * sech2, -2 * sech2 * (1 - 3 * t**2)


def _design(nodes: Array, k: int) -> Array:
    """``(n, k)`` the augmented inputs ``x~``: ``(x,)`` or ``(x, 1)``."""
    columns = [nodes] if k == 1 else [nodes, jnp.ones_like(nodes)]
    return jnp.stack(columns, axis=-1)


def h_matrix(v, w: float, teacher, *, bias: bool, x_range=X_RANGE, n_nodes=N_NODES):
    """``H(v, w) = (w / 4) <e(y, x) d^2 phi(x, v) / dv dv^T>`` on R0 (the paper's H).

    ``e = y - w phi(x, v)``; the noise has mean 0, so ``<e g(x)> = <(f0 - w phi) g>``.
    ``d^2 phi / dv dv^T = tanh''(v . x~) x~ x~^T``. H belongs to ``L_half``; see the
    module notes for the factor ``c`` of a loss.

    Args:
        v: ``(k,)`` the unit's weight vector, normally ``v*``.
        w: the output weight, normally ``w*``.
        teacher: the teacher, an ``Xi`` or a flat xi vector.
        bias: whether the hidden units have biases.
        x_range: ``(x_low, x_high)`` of the inputs.
        n_nodes: quadrature nodes.

    Returns:
        ``(k, k)`` symmetric NumPy array.
    """
    pop = population(teacher, bias=bias, x_range=x_range, n_nodes=n_nodes)
    k = unit_size(bias)
    v = jnp.asarray(v, dtype=jnp.float64)
    x_tilde = _design(pop.nodes, k)  # (n, k)
    t, _, t2, _ = _tanh_derivatives(x_tilde @ v)
    error = pop.targets - w * t  # (n,)
    weight = pop.weights * error * t2
    return np.asarray(w / 4 * (x_tilde.T * weight) @ x_tilde)


class Stability(NamedTuple):
    """Theorem 7's verdict on the two parts of R0.

    Attributes:
        b2_below_1: ``"stable"`` or ``"unstable"`` for the part with ``b^2 < 1``
            (``"undetermined"`` when H has a zero eigenvalue and no positive one, or
            no negative one: second order cannot decide).
        b2_above_1: the same for ``b^2 > 1``.
        case: which case of the theorem applies.
    """

    b2_below_1: str
    b2_above_1: str
    case: str


def theorem7_verdict(
    eigenvalues, *, on_singularity: bool, zero_tol: float = 0.0
) -> Stability:
    """Apply Theorem 7 to the eigenvalues of ``H(v*, w*)``.

    The averaged ``a``-dynamics near R0 is ``a' = c (1 - b^2) H a`` (times 2 in the
    paper's form), so R0 attracts where ``(1 - b^2) H`` is negative definite.

    Args:
        eigenvalues: ``(k,)`` eigenvalues of H.
        on_singularity: whether the teacher is itself one unit (then R0 is stable).
        zero_tol: eigenvalues with ``|lambda| <= zero_tol`` count as zero.

    Returns:
        The :class:`Stability`.
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    if on_singularity:
        return Stability("stable", "stable", "teacher on the singularity")
    positive = bool(np.any(eigenvalues > zero_tol))
    negative = bool(np.any(eigenvalues < -zero_tol))
    if positive and negative:
        return Stability("unstable", "unstable", "eigenvalues of both signs")
    if negative and np.all(eigenvalues < -zero_tol):
        return Stability("stable", "unstable", "all eigenvalues negative")
    if positive and np.all(eigenvalues > zero_tol):
        return Stability("unstable", "stable", "all eigenvalues positive")
    return Stability("undetermined", "undetermined", "a zero eigenvalue")


def loss_hessian_in_a(
    fit: OneUnitFit,
    b: float,
    teacher,
    *,
    bias: bool,
    loss="gaussian_nll",
    noise_std: float = 0.05,
    x_range=X_RANGE,
    n_nodes=N_NODES,
) -> np.ndarray:
    """``d^2 <loss> / da da^T`` at ``(a = 0, b, v*, w*)`` by automatic differentiation.

    Theorem 7 says it is ``-c (1 - b^2) H(v*, w*)`` for a loss ``c L_half + const``
    (the paper states ``+(1 - b^2) H`` for the log-likelihood).

    Args:
        fit: the :class:`OneUnitFit` giving ``(v*, w*)``.
        b: the point on R0.
        teacher, bias, loss, noise_std, x_range, n_nodes: as for :func:`averaged_loss`.

    Returns:
        ``(k, k)`` NumPy array.
    """
    k = unit_size(bias)
    base = jnp.asarray(fit.xi(np.zeros(k), b))

    def of_a(a):
        return averaged_loss(
            base.at[:k].set(a),
            teacher,
            bias=bias,
            loss=loss,
            noise_std=noise_std,
            x_range=x_range,
            n_nodes=n_nodes,
        )

    return np.asarray(jax.hessian(of_a)(jnp.zeros(k)))


# -------------------------------------------------------------------------------------
# Reduced dynamics near R0 and the first integrals of Theorem 8
# -------------------------------------------------------------------------------------

REDUCED_VARIANTS = ("stated", "r0_r1", "xi_gradient")
FIRST_INTEGRALS = ("theorem8_r0", "theorem8_r0_r1", "xi_gradient")


def reduced_field(a, b, h, w_star: float, *, variant: str = "stated"):
    """Right-hand sides of reduced dynamics near R0, for ``L_half`` and ``eta = 1``.

    * ``"stated"`` (the paper's two b-terms summed):
      ``a' = 2 (1 - b^2) H a``, ``b' = -(b (b^2 + 3) / w*^2) a^T H a``.
    * ``"r0_r1"``: the same ``a'`` with ``b' = -(2 b (b^2 + 1) / w*^2) a^T H a`` (the
      l_b term alone; it agrees with ``"stated"`` at ``b^2 = 1``). Theorem 8 (2) is its
      exact first integral.
    * ``"xi_gradient"``: ``a' = (1 - b^2) H a``, ``b' = -b a^T H a``, the leading order
      of the paper's networks' own flow (plain gradient in a and b, v and w fixed).

    Multiply by ``c eta`` for a loss ``c L_half`` and learning rate ``eta``.

    Args:
        a: ``(..., k)`` the vector a.
        b: ``(...)`` the coordinate b.
        h: ``(k, k)`` the matrix ``H(v*, w*)``.
        w_star: ``w*``.
        variant: one of :data:`REDUCED_VARIANTS`.

    Returns:
        ``(a', b')`` with the shapes of ``a`` and ``b``.
    """
    if variant not in REDUCED_VARIANTS:
        raise ValueError(f"variant must be one of {REDUCED_VARIANTS}; got {variant!r}")
    h_a = a @ jnp.asarray(h).T  # (..., k)
    quad = jnp.sum(a * h_a, axis=-1)  # a^T H a
    if variant == "xi_gradient":
        return (1 - b**2)[..., None] * h_a, -b * quad
    a_dot = 2 * (1 - b**2)[..., None] * h_a
    if variant == "stated":
        return a_dot, -b * (b**2 + 3) / w_star**2 * quad
    return a_dot, -2 * b * (b**2 + 1) / w_star**2 * quad


@functools.cache
def _reduced_vector_field(variant: str):
    def field(y, args):
        h, w_star = args
        a_dot, b_dot = reduced_field(y[:-1], y[-1], h, w_star, variant=variant)
        return jnp.concatenate([a_dot, b_dot[None]])

    return field


def reduced_flow(
    starts,
    h,
    w_star: float,
    *,
    t1: float,
    n_points: int = 201,
    variant: str = "stated",
    rtol: float = 1e-12,
    atol: float = 1e-14,
    max_steps: int = 1_000_000,
):
    """Solve a reduced dynamics (:func:`reduced_field`) from M starts ``(a..., b)``.

    Args:
        starts: ``(M, k + 1)`` or ``(k + 1,)`` start points ``(a..., b)``.
        h: ``(k, k)`` the matrix ``H(v*, w*)``.
        w_star: ``w*``.
        t1: end time in ``L_half`` units (divide by ``c eta`` for a loss).
        n_points: save points.
        variant: one of :data:`REDUCED_VARIANTS`.
        rtol: relative tolerance.
        atol: absolute tolerance.
        max_steps: step budget per path.

    Returns:
        ``(times (T,), path (M, T, k + 1), success (M,))``.
    """
    starts = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    args = (jnp.asarray(h, dtype=jnp.float64), jnp.asarray(float(w_star)))
    times, path, success, _ = _run(
        _reduced_vector_field(variant),
        starts,
        t1,
        args,
        n_points=n_points,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    return times, np.asarray(path), success


def _integral_term(name: str, b, w_star):
    """The b-part ``F(b)`` of a first integral ``h(a) - F(b)``."""
    xp = jnp if isinstance(b, jax.Array) else np
    b_abs = xp.abs(b)
    if name == "theorem8_r0":
        return 2 * w_star**2 / 3 * xp.log((b**2 + 3) ** 2 / b_abs)
    if name == "theorem8_r0_r1":
        return w_star**2 * xp.log(b_abs + 1 / b_abs)
    if name == "xi_gradient":
        return b**2 / 2 - xp.log(b_abs)
    raise ValueError(f"first integral must be one of {FIRST_INTEGRALS}; got {name!r}")


def first_integral(name: str, a, b, w_star: float):
    """``h(a) - F(b)`` with ``h(a) = a^T a / 2``; constant along its reduced dynamics.

    * ``"theorem8_r0"``: ``F = (2 w*^2 / 3) log((b^2 + 3)^2 / |b|)`` (Theorem 8 (1)),
      conserved by the ``"stated"`` reduced dynamics.
    * ``"theorem8_r0_r1"``: ``F = w*^2 log(|b| + 1 / |b|)`` (Theorem 8 (2)), conserved
      by the ``"r0_r1"`` reduced dynamics.
    * ``"xi_gradient"``: ``F = b^2 / 2 - log|b|``, conserved by the ``"xi_gradient"``
      reduced dynamics (``dh/db = -(1 - b^2) / b``); it does not involve ``w*`` or H.

    Args:
        name: one of :data:`FIRST_INTEGRALS`.
        a: ``(..., k)`` the vector a.
        b: ``(...)`` the coordinate b (not 0).
        w_star: ``w*``.

    Returns:
        ``(...)`` values.
    """
    xp = jnp if isinstance(a, jax.Array) or isinstance(b, jax.Array) else np
    return 0.5 * xp.sum(a * a, axis=-1) - _integral_term(name, b, w_star)


def first_integral_drift(path, bias: bool, w_star: float) -> dict[str, np.ndarray]:
    """How far each first integral moves along paths, relative to ``h(a)`` at the start.

    Args:
        path: ``(M, T, p)`` flat xi paths (or ``(M, T, k + 1)`` reduced paths
            ``(a..., b)``).
        bias: whether the hidden units have biases.
        w_star: ``w*``.

    Returns:
        For each name of :data:`FIRST_INTEGRALS`, ``(M,)`` values of
        ``max_t |I(t) - I(0)| / h(a(0))``.
    """
    path = np.asarray(path)
    k = unit_size(bias)
    a, b = path[..., :k], path[..., k]
    h0 = 0.5 * np.sum(a[:, 0] ** 2, axis=-1)
    out = {}
    for name in FIRST_INTEGRALS:
        values = first_integral(name, a, b, w_star)  # (M, T)
        out[name] = np.max(np.abs(values - values[:, :1]), axis=1) / h0
    return out


# -------------------------------------------------------------------------------------
# Checks of the theory against the averaged flow
# -------------------------------------------------------------------------------------


def _start_rate(start, teacher, *, bias, form, loss, x_range, n_nodes) -> float:
    """``|a . a'| / |a|^2`` at a start with only a and b moving: the a-growth rate."""
    mask, rate = _flow_settings(form, _AB[bias], 1.0, loss, bias, "_start_rate")
    pop = population(teacher, bias=bias, x_range=x_range, n_nodes=n_nodes)
    return float(_a_rate(jnp.asarray(start), mask, rate, pop, bias=bias, form=form))


@functools.partial(jax.jit, static_argnames=("bias", "form"))
def _a_rate(start, mask, rate, pop, *, bias, form):
    k = unit_size(bias)
    a = start[:k]
    field = _field(start, mask, rate, pop, bias, form)
    return jnp.abs(a @ field[:k]) / (a @ a)


_AB = {False: ("a", "b"), True: ("a", "c", "b")}
_MAX_T1 = 1e12
# The full flow has fast (v, w) modes and, when H is small, a very slow a: it is
# solved with the implicit Kvaerno5 and stopped at this time (reported as t1).
_MAX_T1_FULL = 1e6


def stability_by_flow(
    fit: OneUnitFit,
    h,
    teacher,
    *,
    bias: bool,
    loss="gaussian_nll",
    b_values: Sequence[float] = (0.5, -0.5, 1.8, -1.8),
    a_size: float = 1e-3,
    log_change: float = 1.0,
    x_range=X_RANGE,
    n_nodes=N_NODES,
) -> list[dict]:
    """Check Theorem 7 on the averaged flow itself.

    From ``(a, b, v*, w*)`` with ``|a| = a_size`` along each eigenvector of H, only a
    and b move (the ``"xi"`` form, as the paper's networks train). The runs at one b
    last ``log_change / r``, with ``r = |a . a'| / |a|^2`` the slowest initial a-rate of
    the flow among the directions (near R0 ``r = c |(1 - b^2) lambda|``; it also sets
    a time when H = 0, where the decay is of higher order).

    Args:
        fit: the best one-unit fit.
        h: ``(k, k)`` the matrix ``H(v*, w*)``.
        teacher, bias, loss, x_range, n_nodes: as for :func:`averaged_flow`.
        b_values: the points of R0 to start next to (not 0 or +-1).
        a_size: ``|a|`` at the start.
        log_change: the target change of ``log|a|``.

    Returns:
        One record per b: ``b``, ``t1``, ``eigenvalues``, ``ratios`` (``|a(t1)| /
        |a(0)|`` per eigenvector), ``linear_ratios`` (``exp(c (1 - b^2) lambda t1)``),
        ``observed`` (``"stable"`` when every ``|a|`` shrinks), ``predicted`` (from
        :func:`theorem7_verdict`) and ``agree``.
    """
    k = unit_size(bias)
    eigenvalues, vectors = np.linalg.eigh(np.asarray(h))
    verdict = theorem7_verdict(eigenvalues, on_singularity=fit.on_singularity)
    scale = loss_scale(loss)
    records = []
    for b in b_values:
        starts = np.array([fit.xi(a_size * vectors[:, i], b) for i in range(k)])
        rates = [
            _start_rate(
                s,
                teacher,
                bias=bias,
                form="xi",
                loss=loss,
                x_range=x_range,
                n_nodes=n_nodes,
            )
            for s in starts
        ]
        t1 = min(log_change / max(min(rates), 1e-300), _MAX_T1)
        flow = averaged_flow(
            starts,
            teacher,
            bias=bias,
            t1=t1,
            n_points=101,
            trainable=_AB[bias],
            loss=loss,
            x_range=x_range,
            n_nodes=n_nodes,
        )
        norms = np.linalg.norm(flow.path[..., :k], axis=-1)  # (k, 2)
        ratios = norms[:, -1] / norms[:, 0]
        observed = "stable" if np.all(ratios < 1) else "unstable"
        predicted = verdict.b2_below_1 if b**2 < 1 else verdict.b2_above_1
        linear = np.exp(scale * (1 - b**2) * eigenvalues * t1)
        records.append(
            {
                "b": float(b),
                "t1": float(t1),
                "eigenvalues": eigenvalues.tolist(),
                "ratios": ratios.tolist(),
                "linear_ratios": linear.tolist(),
                "observed": observed,
                "predicted": predicted,
                "agree": observed == predicted and bool(np.all(flow.success)),
            }
        )
    return records


def first_integral_study(
    fit: OneUnitFit,
    h,
    teacher,
    *,
    bias: bool,
    loss="gaussian_nll",
    a_sizes: Sequence[float] = (1e-3, 1e-2, 1e-1),
    b_values: Sequence[float] = (0.5, -0.5, 1.8, -1.8),
    log_change: float = 1.0,
    x_range=X_RANGE,
    n_nodes=N_NODES,
    n_points: int = 401,
) -> dict:
    """Drift of each first integral along exact averaged flows and reduced dynamics.

    Starts are ``(a, b, v*, w*)`` with ``a = a_size`` times the first eigenvector of H
    (the unit vector e1 when H = 0). Flows:

    * ``"xi_ab"``: the exact averaged flow of the paper's networks: only a and b move,
      plain gradient (form ``"xi"``), v and w fixed at ``(v*, w*)``;
    * ``"theta"``: the exact averaged flow with every coordinate moving (the theta
      gradient flow, equal to the paper's ``J J^T`` form);
    * ``"reduced_<variant>"``: each reduced dynamics of :func:`reduced_field` (left
      out when H = 0, where they are trivial).

    Each runs until the a-rate at its start (``|a . a'| / |a|^2``) has acted for
    ``log_change`` units of ``log|a|`` (the full flow stops at ``t1 = 1e6`` at most).
    Drifts are ``max_t |I(t) - I(0)| / h(a(0))``; ``h_change`` is
    ``max_t |h(t) - h(0)| / h(a(0))``, the scale a drift is small against.

    Args:
        fit: the best one-unit fit.
        h: ``(k, k)`` the matrix ``H(v*, w*)``.
        teacher, bias, loss, x_range, n_nodes: as for :func:`averaged_flow`.
        a_sizes: ``|a|`` at the starts.
        b_values: b at the starts (not 0 or +-1).
        log_change: how long each run lasts, in units of ``log|a|`` at the start rate.
        n_points: save points per path.

    Returns:
        ``{"starts": [[a..., b], ...], "flows": {flow: {"t1": [...], "success": [...],
        "h_change": [...], "drift": {integral: [...]}}}}``, JSON-ready.
    """
    k = unit_size(bias)
    eigenvalues, vectors = np.linalg.eigh(np.asarray(h))
    direction = vectors[:, 0] if np.any(eigenvalues != 0) else np.eye(k)[0]
    starts = [fit.xi(size * direction, b) for size in a_sizes for b in b_values]
    flows: dict[str, dict] = {}

    for name, form, trainable in (("xi_ab", "xi", _AB[bias]), ("theta", "paper", None)):
        records = []
        for start in starts:
            rate = _start_rate(
                start,
                teacher,
                bias=bias,
                form=form,
                loss=loss,
                x_range=x_range,
                n_nodes=n_nodes,
            )
            cap = _MAX_T1 if name == "xi_ab" else _MAX_T1_FULL
            t1 = min(log_change / max(rate, 1e-300), cap)
            flow = averaged_flow(
                start,
                teacher,
                bias=bias,
                t1=t1,
                n_points=n_points,
                trainable=trainable,
                form="theta" if name == "theta" else form,
                stiff=name == "theta",
                loss=loss,
                x_range=x_range,
                n_nodes=n_nodes,
            )
            records.append((t1, flow.success[0], flow.path))
        flows[name] = _drift_record(records, bias, fit.w)

    reduced_starts = [np.append(s[:k], s[k]) for s in starts]
    for variant in REDUCED_VARIANTS if np.any(eigenvalues != 0) else ():
        records = []
        gain = 1.0 if variant == "xi_gradient" else 2.0
        for start in reduced_starts:
            b = start[-1]
            rate = gain * abs(1 - b**2) * np.max(np.abs(eigenvalues))
            t1 = min(log_change / rate, _MAX_T1)
            _, path, ok = reduced_flow(
                start, h, fit.w, t1=t1, n_points=n_points, variant=variant
            )
            records.append((t1, ok[0], path))
        flows[f"reduced_{variant}"] = _drift_record(records, bias, fit.w)

    return {"starts": [r.tolist() for r in reduced_starts], "flows": flows}


def _drift_record(records, bias: bool, w_star: float) -> dict:
    """Collect ``(t1, success, path (1, T, p))`` runs into a JSON-ready record."""
    k = unit_size(bias)
    out = {"t1": [], "success": [], "h_change": [], "drift": {}}
    for t1, ok, path in records:
        drift = first_integral_drift(path, bias, w_star)
        energy = 0.5 * np.sum(path[0, :, :k] ** 2, axis=-1)
        out["t1"].append(float(t1))
        out["success"].append(bool(ok))
        out["h_change"].append(float(np.max(np.abs(energy - energy[0])) / energy[0]))
        for name in FIRST_INTEGRALS:
            out["drift"].setdefault(name, []).append(_finite(drift[name][0]))
    return out


def _finite(value) -> float | None:
    """A float for JSON, or None for NaN or infinity."""
    value = float(value)
    return value if math.isfinite(value) else None


# -------------------------------------------------------------------------------------
# The paper's closed forms against automatic differentiation
# -------------------------------------------------------------------------------------

IDENTITY_RTOL = 1e-10  # float64 identities: rounding leaves about 1e-14
ORDER_SLACK = 0.3  # an expansion holds if its remainder's fitted order >= claim - slack


@functools.partial(jax.jit, static_argnames="bias")
def _expansion_terms(xi_flat: Array, pop: Population, bias: bool, h) -> dict:
    """The paper's small-a formulas at one point, in ``L_half`` units (``z = b``).

    ``phi = tanh(s)``, ``s = v . x~``; ``d phi/dv = tanh'(s) x~``,
    ``a^T (d^2 phi/dv dv^T) a = tanh''(s) (a . x~)^2``, ``D = tanh'''(s) (a . x~)^3``,
    ``Q = <e tanh'''(s) (a . x~)^2 x~>``. Keys ending in ``_opt`` are the forms at
    ``(v*, w*)`` (``h`` is ``H(v*, w*)``); ``_fixed`` marks our corrected forms.
    """
    k = unit_size(bias)
    xi = xi_from_flat(xi_flat, bias)
    a, b, w = xi.a, xi.b, xi.w
    x_t = _design(pop.nodes, k)  # (n, k)
    t, t1, t2, t3 = _tanh_derivatives(x_t @ xi.v)
    ax = x_t @ a  # (n,)
    e = pop.targets - predict_flat(xi_flat, pop.nodes, bias)

    def mean(values):  # average over x of (n,) or (n, k) values
        return jnp.tensordot(pop.weights, values, axes=1)

    g = 1 - b**2
    quad_phi = t2 * ax**2  # a^T phi_vv a at each node
    q = mean((e * t3 * ax**2)[:, None] * x_t)
    d_term = w * b * g / 24 * mean((3 * e * t3 * ax**2)[:, None] * x_t)
    h_a = jnp.asarray(h) @ a
    a_h_a = a @ h_a
    extra_w = mean(t * quad_phi)  # a^T <phi phi_vv> a
    return {
        "l_v": w * mean((e * t1)[:, None] * x_t) + w / 8 * g * q,
        "l_w": mean(e * t) + g / 8 * mean(e * quad_phi),
        "l_a": w / 4 * g * mean((e * t2 * ax)[:, None] * x_t) + d_term,
        "l_b": -w * b / 4 * mean(e * quad_phi),
        "l_v_opt": w / 8 * g * q,
        "l_v_opt_fixed": w / 8 * g * (q - w * mean((t1 * quad_phi)[:, None] * x_t)),
        "l_w_opt": g / (2 * w) * a_h_a,
        "l_w_opt_fixed": g * (a_h_a / (2 * w) - w / 8 * extra_w),
        "l_a_opt": g * h_a + d_term,
        "l_b_opt": -b * a_h_a,
        "a_dot_opt": 2 * g * h_a,
        "b_dot_opt": -b * (b**2 + 3) / w**2 * a_h_a,
        "b_dot_opt_fixed": -b * (b**2 + 3) / w**2 * a_h_a + b * g / 4 * extra_w,
        "a_dot_xi_opt": g * h_a,
        "b_dot_xi_opt": -b * a_h_a,
    }


@functools.partial(jax.jit, static_argnames="bias")
def _exact_terms(xi_flat: Array, pop: Population, bias: bool) -> dict:
    """The same quantities from automatic differentiation: ``l = -grad L_half``."""
    ell = -jax.grad(_half_error)(xi_flat, pop, bias)
    rates = paper_rates(xi_flat, ell, bias)
    parts = xi_from_flat(ell, bias)
    rate_parts = xi_from_flat(rates, bias)
    return {
        "l_v": parts.v,
        "l_w": parts.w,
        "l_a": parts.a,
        "l_b": parts.b,
        "a_dot": rate_parts.a,
        "b_dot": rate_parts.b,
    }


# name: (exact key, formula key, claimed remainder order, at (v*, w*), note)
_EXPANSIONS = {
    "l_v_small_a": ("l_v", "l_v", 3, False, "general xi; z read as b"),
    "l_w_small_a": ("l_w", "l_w", 3, False, "general xi"),
    "l_a_small_a": ("l_a", "l_a", 3, False, "general xi; <e a phi_vv> read phi_vv a"),
    "l_b_small_a": ("l_b", "l_b", 3, False, "general xi"),
    "l_v_at_optimum": (
        "l_v",
        "l_v_opt",
        3,
        True,
        "drops w <e dphi/dv>, which is O(a^2) at (v*, w*): e moves by O(a^2)",
    ),
    "l_v_at_optimum_corrected": (
        "l_v",
        "l_v_opt_fixed",
        3,
        True,
        "(w/8)(1-b^2)[Q - w <dphi/dv a^T phi_vv a>]",
    ),
    "l_w_at_optimum": (
        "l_w",
        "l_w_opt",
        3,
        True,
        "drops <e phi> = -(w/8)(1-b^2) a^T <phi phi_vv> a + O(a^3) at (v*, w*)",
    ),
    "l_w_at_optimum_corrected": (
        "l_w",
        "l_w_opt_fixed",
        3,
        True,
        "(1-b^2)[a^T H a / (2w) - (w/8) a^T <phi phi_vv> a]",
    ),
    "l_a_at_optimum": ("l_a", "l_a_opt", 3, True, "(1-b^2) H a + D term"),
    "l_b_at_optimum": ("l_b", "l_b_opt", 3, True, "-b a^T H a"),
    "reduced_a_dot": (
        "a_dot",
        "a_dot_opt",
        2,
        True,
        "a-row of J J^T l at (v*, w*): 2 (1-b^2) H a, next order O(a^2)",
    ),
    "reduced_b_dot": (
        "b_dot",
        "b_dot_opt",
        3,
        True,
        "b-row of J J^T l at (v*, w*) against -(b(b^2+3)/w^2) a^T H a; the error is "
        "the l_w term missing above",
    ),
    "reduced_b_dot_corrected": (
        "b_dot",
        "b_dot_opt_fixed",
        3,
        True,
        "-(b(b^2+3)/w^2) a^T H a + (b(1-b^2)/4) a^T <phi phi_vv> a",
    ),
    "reduced_xi_a_dot": (
        "l_a",
        "a_dot_xi_opt",
        2,
        True,
        "the networks' own flow: a' = (1-b^2) H a",
    ),
    "reduced_xi_b_dot": (
        "l_b",
        "b_dot_xi_opt",
        3,
        True,
        "the networks' own flow: b' = -b a^T H a",
    ),
}


def check_closed_forms(
    teacher,
    *,
    bias: bool,
    loss="gaussian_nll",
    noise_std: float = 0.05,
    x_range=X_RANGE,
    n_nodes=N_NODES,
    fit: OneUnitFit | None = None,
    seed: int = 0,
    n_points: int = 3,
    a_scale: float = 0.005,
) -> dict[str, dict]:
    """Check each closed form of the paper's theory against automatic differentiation.

    Identities (the metric ``J J^T``, Definition 6's four rates, the push-forward,
    Theorem 7's Hessian, the sum of the paper's two b-terms, Theorem 8's ``dh/db``) hold
    when the largest error is below ``1e-10`` of the compared values. Small-a
    expansions hold when the remainder, measured at ``|a| = a_scale * 2^-j``,
    ``j = 0..3``, falls at least at the claimed order (the slope of log remainder
    against log |a| over the three smallest, ``>= claim - 0.3``).
    Every entry is in ``L_half`` units (``l_x = -d L_half / dx``) except Theorem 7's,
    which uses the loss.

    Args:
        teacher: the teacher, an ``Xi`` or a flat xi vector.
        bias: whether the hidden units have biases.
        loss: a :class:`~singdyn.losses.Loss` or its kind (for Theorem 7).
        noise_std: the noise (for Theorem 7's loss).
        x_range: ``(x_low, x_high)`` of the inputs.
        n_nodes: quadrature nodes.
        fit: the best one-unit fit; computed when None.
        seed: seed of the random test points.
        n_points: random points per check, 1 to 4.
        a_scale: the largest ``|a|`` of the expansion checks.

    Returns:
        For each named formula: ``holds`` (bool), ``max_rel_error`` (for expansions, at
        the smallest ``|a|``), ``order`` (fitted remainder order, expansions only),
        ``claimed_order`` and ``note``.

    Raises:
        ValueError: on ``n_points`` outside 1 to 4 or a bad teacher.
    """
    if not 1 <= int(n_points) <= 4:
        raise ValueError(
            f"check_closed_forms: n_points must be 1 to 4; got {n_points!r}"
        )
    flat = teacher_flat(teacher, bias)
    pop = population(flat, bias=bias, x_range=x_range, n_nodes=n_nodes)
    if fit is None:
        fit = best_one_unit_fit(flat, bias=bias, x_range=x_range, n_nodes=n_nodes)
    h = h_matrix(fit.v, fit.w, flat, bias=bias, x_range=x_range, n_nodes=n_nodes)
    rng = np.random.default_rng(seed)
    k = unit_size(bias)
    out = {}

    # --- identities at generic points -------------------------------------------------
    generic = [_random_xi(rng, k) for _ in range(n_points)]
    out.update(_identity_checks(generic, pop, bias))

    # --- small-a expansions -----------------------------------------------------------
    b_values = rng.choice([0.3, -0.6, 1.5, -1.7], size=n_points, replace=False)
    directions = [_unit(rng.normal(size=k)) for _ in range(n_points)]
    # (b, v, w) parts of points, each with a direction for a
    general = [(_random_xi(rng, k)[k:], d) for d in directions]
    optimum = [
        (fit.xi(np.zeros(k), b)[k:], d)
        for b, d in zip(b_values, directions, strict=True)
    ]
    for name, (exact_key, formula_key, order, at_opt, note) in _EXPANSIONS.items():
        points = optimum if at_opt else general
        out[name] = _expansion_check(
            points, pop, bias, h, exact_key, formula_key, order, a_scale
        ) | {"note": note}

    # --- Theorem 7 and Theorem 8 ------------------------------------------------------
    out.update(
        _theorem7_checks(
            fit, h, flat, b_values, bias, loss, noise_std, x_range, n_nodes
        )
    )
    out.update(_theorem8_checks(h, fit.w, rng, k, n_points))
    return out


def _random_xi(rng, k: int) -> np.ndarray:
    """A generic flat xi point: a, v normal; b in (-2, 2); |w| in (0.3, 1.3)."""
    w = rng.uniform(0.3, 1.3) * rng.choice([-1.0, 1.0])
    return np.concatenate(
        [rng.normal(size=k), [rng.uniform(-2, 2)], rng.normal(size=k), [w]]
    )


def _unit(vector):
    return vector / np.linalg.norm(vector)


def _relative(exact, approx, floor: float = 0.0) -> float:
    exact, approx = np.asarray(exact), np.asarray(approx)
    scale = max(np.max(np.abs(exact)), np.max(np.abs(approx)), floor, 1e-300)
    return float(np.max(np.abs(exact - approx)) / scale)


def _identity(errors, note: str) -> dict:
    worst = float(max(errors))
    return {
        "holds": worst <= IDENTITY_RTOL,
        "max_rel_error": worst,
        "order": None,
        "claimed_order": None,
        "note": note,
    }


@functools.partial(jax.jit, static_argnames="bias")
def _identity_fields(xi: Array, pop: Population, bias: bool):
    """At one point: the metric both ways, the paper field, Definition 6's rates with
    both signs of l, and the push-forward of the theta field (L_half, eta = 1)."""
    grad = jax.grad(_half_error)(xi, pop, bias)
    auto = metric_autodiff(xi, bias)
    theta = _theta_flat_of(xi, bias)
    jac = jax.jacfwd(_xi_flat_of)(theta, bias)
    push = jac @ -jax.grad(_half_error_theta)(theta, pop, bias)
    rates = paper_rates(xi, -grad, bias)
    wrong = paper_rates(xi, grad, bias)
    return auto, metric_closed_form(xi, bias), -(auto @ grad), rates, wrong, push


def _identity_checks(points, pop: Population, bias: bool) -> dict:
    metric, rates, wrong_sign, push = [], [], [], []
    for point in points:
        auto, closed, field, good, wrong, pushed = _identity_fields(
            jnp.asarray(point), pop, bias
        )
        metric.append(_relative(auto, closed))
        rates.append(_relative(field, good))
        wrong_sign.append(_relative(field, wrong))
        push.append(_relative(field, pushed))
    return {
        "metric_JJT": _identity(
            metric, "closed form of J J^T (see metric_closed_form)"
        ),
        "definition6_rates": _identity(
            rates,
            "v', w', a', b' of Definition 6 = J J^T l exactly, with l_x = -<dl/dx> "
            "(log-likelihood gradient) and eta = 1, i.e. xi' = -eta J J^T <dl/dxi>",
        ),
        "definition6_rates_with_gradient": _identity(
            wrong_sign,
            "the same formulas with l_x = +<dl/dx>: the sign is then wrong",
        ),
        "paper_form_is_pushforward": _identity(
            push,
            "-J J^T <dl/dxi> = J (-<dl/dtheta>): the paper's form is the theta flow",
        ),
    }


def _expansion_check(points, pop, bias, h, exact_key, formula_key, order, a_scale):
    scales = a_scale * 0.5 ** np.arange(4)
    orders, errors = [], []
    for tail, direction in points:
        residuals, sizes = [], []
        for s in scales:
            xi = jnp.asarray(np.concatenate([s * direction, tail]))
            exact = _exact_terms(xi, pop, bias)[exact_key]
            approx = _expansion_terms(xi, pop, bias, h)[formula_key]
            residuals.append(float(np.max(np.abs(np.asarray(exact - approx)))))
            sizes.append(float(np.max(np.abs(np.asarray(exact)))))
        residuals = np.array(residuals)
        if np.all(residuals <= 1e-15 * max(max(sizes), 1e-300)):
            orders.append(np.inf)  # exact to rounding
        else:
            slope = np.polyfit(np.log(scales[1:]), np.log(residuals[1:] + 1e-300), 1)
            orders.append(float(slope[0]))
        errors.append(residuals[-1] / max(sizes[-1], 1e-300))
    fitted = float(min(orders))
    return {
        "holds": fitted >= order - ORDER_SLACK,
        "max_rel_error": float(max(errors)),
        "order": fitted if math.isfinite(fitted) else None,
        "claimed_order": order,
    }


def _theorem7_checks(fit, h, flat, b_values, bias, loss, noise_std, x_range, n_nodes):
    c = loss_scale(loss)
    stated, signed = [], []
    for b in b_values:
        hess = loss_hessian_in_a(
            fit,
            b,
            flat,
            bias=bias,
            loss=loss,
            noise_std=noise_std,
            x_range=x_range,
            n_nodes=n_nodes,
        )
        floor = 1e-4 * c * fit.teacher_rms**2  # rounding scale when H = 0
        signed.append(_relative(hess, -c * (1 - b**2) * h, floor))
        stated.append(_relative(hess, (1 - b**2) * h, floor))
    return {
        "theorem7_hessian": _identity(
            signed,
            "d^2 <loss>/da da^T at a = 0 equals -c (1-b^2) H (c = 1/variance for the "
            "NLL, 2 for MSE); the paper's +(1-b^2) H is the log-likelihood's Hessian",
        ),
        "theorem7_hessian_as_stated": _identity(
            stated, "the loss Hessian against +(1-b^2) H (true only when H = 0)"
        ),
    }


def _theorem8_checks(h, w_star: float, rng, k: int, n_points: int) -> dict:
    h = np.asarray(h)
    if not np.any(h):  # H = 0: the algebra is checked with a random symmetric H
        m = rng.normal(size=(k, k))
        h = (m + m.T) / 2
    points = [
        (rng.normal(size=k), rng.choice([-1, 1]) * rng.uniform(0.2, 2.5))
        for _ in range(n_points)
    ]

    def conservation(variant, name):
        errors = []
        for a, b in points:
            a_dot, b_dot = reduced_field(
                jnp.asarray(a), jnp.asarray(b), h, w_star, variant=variant
            )
            slope = jax.grad(lambda bb: _integral_term(name, bb, w_star))(
                jnp.asarray(b)
            )
            errors.append(_relative(a @ a_dot, slope * b_dot))
        return errors

    def simplification():
        errors = []
        for a, b in points:
            q = a @ h @ a
            two_terms = (
                -b * (1 - b**2) / w_star**2 * q - 2 * b * (b**2 + 1) / w_star**2 * q
            )
            errors.append(_relative(two_terms, -b * (b**2 + 3) / w_star**2 * q))
        return errors

    return {
        "reduced_b_dot_simplification": _identity(
            simplification(), "-(b(1-b^2) + 2b(b^2+1))/w^2 = -b(b^2+3)/w^2"
        ),
        "theorem8_r0": _identity(
            conservation("stated", "theorem8_r0"),
            "h - (2w^2/3) log((b^2+3)^2/|b|) is a first integral of the stated reduced "
            "dynamics (dh/db = 2w^2(b^2-1)/(b(b^2+3)))",
        ),
        "theorem8_r0_r1": _identity(
            conservation("stated", "theorem8_r0_r1"),
            "h - w^2 log(|b| + 1/|b|) along the stated reduced dynamics: not conserved "
            "except where b^2 = 1",
        ),
        "theorem8_r0_r1_l_b_only": _identity(
            conservation("r0_r1", "theorem8_r0_r1"),
            "h - w^2 log(|b| + 1/|b|) is the first integral of a' = 2(1-b^2) H a, "
            "b' = -(2b(b^2+1)/w^2) a^T H a (the l_b term alone)",
        ),
        "xi_gradient_first_integral": _identity(
            conservation("xi_gradient", "xi_gradient"),
            "h - (b^2/2 - log|b|) is the first integral of the networks' own reduced "
            "flow a' = (1-b^2) H a, b' = -b a^T H a",
        ),
    }


# -------------------------------------------------------------------------------------
# Summary for the command line
# -------------------------------------------------------------------------------------


def theory_summary(
    teacher_flat,
    *,
    bias: bool,
    loss_kind: str = "gaussian_nll",
    noise_std: float = 0.05,
    x_range: Sequence[float] = X_RANGE,
    variance: float = 1.0,
    n_nodes: int = N_NODES,
) -> dict:
    """Everything the theory says about one teacher, JSON-serialisable.

    Args:
        teacher_flat: the teacher, a flat xi vector (or an ``Xi``).
        bias: whether the hidden units have biases.
        loss_kind: ``"gaussian_nll"`` or ``"mse"``.
        noise_std: standard deviation of the output noise.
        x_range: ``(x_low, x_high)`` of the inputs.
        variance: the NLL's variance.
        n_nodes: quadrature nodes.

    Returns:
        A dict with ``settings``, ``v_star``, ``w_star``, ``fit`` (residual, success),
        ``H`` (for ``L_half = <e^2>/2``; the loss's own is ``loss_scale`` times it),
        ``eigenvalues``, ``stability`` (``b2_below_1``, ``b2_above_1``, ``case``),
        ``stability_by_flow``, ``first_integral_drift`` (see
        :func:`first_integral_study`) and ``closed_forms`` (see
        :func:`check_closed_forms`).

    Raises:
        ValueError: on a bad teacher or setting.
    """
    return _analyse(
        teacher_flat,
        bias=bias,
        loss_kind=loss_kind,
        noise_std=noise_std,
        x_range=x_range,
        variance=variance,
        n_nodes=n_nodes,
    )["summary"]


def _analyse(teacher, *, bias, loss_kind, noise_std, x_range, variance, n_nodes):
    """The summary and the objects the figures need."""
    flat = teacher_flat(teacher, bias)
    loss = make_loss(loss_kind, variance=variance)
    common = {"bias": bias, "x_range": tuple(x_range), "n_nodes": n_nodes}
    population(flat, noise_std=noise_std, **common)  # validates the settings

    fit, h, stability = _stability(flat, **common)
    by_flow = stability_by_flow(fit, h, flat, loss=loss, **common)
    drift = first_integral_study(fit, h, flat, loss=loss, **common)
    closed = check_closed_forms(flat, loss=loss, noise_std=noise_std, fit=fit, **common)

    summary = {
        "settings": {
            "teacher": dict(zip(coordinate_names(bias), flat.tolist(), strict=True)),
            "bias": bool(bias),
            "loss_kind": loss.kind,
            "variance": loss.variance,
            "loss_scale": loss_scale(loss),
            "noise_std": float(noise_std),
            "x_range": [float(x) for x in x_range],
            "n_nodes": int(n_nodes),
            "conventions": (
                "H is for L_half = <e^2>/2; a loss is loss_scale * L_half + const. "
                "Flows use eta = 1 and time in those units."
            ),
        },
        **stability,
        "stability_by_flow": by_flow,
        "first_integral_drift": drift,
        "closed_forms": closed,
    }
    return {
        "summary": _json_ready(summary),
        "fit": fit,
        "h": h,
        "loss": loss,
        "teacher": flat,
    }


def stability_summary(
    teacher, *, bias: bool, x_range: Sequence[float] = X_RANGE, n_nodes: int = N_NODES
) -> dict:
    """Theorem 7 alone, JSON-serialisable: the best one-unit fit (v*, w*), H(v*, w*),
    its eigenvalues and the stability of each part of R0 (a few seconds; the
    flows and closed forms of :func:`theory_summary` take far longer).

    Returns:
        A dict with ``v_star``, ``w_star``, ``fit``, ``H``, ``eigenvalues`` and
        ``stability`` (``b2_below_1``, ``b2_above_1``, ``case``).
    """
    flat = teacher_flat(teacher, bias)
    return _json_ready(
        _stability(flat, bias=bias, x_range=tuple(x_range), n_nodes=n_nodes)[2]
    )


def _stability(flat, *, bias, x_range, n_nodes):
    """``(fit, H, summary)`` of Theorem 7 for one teacher."""
    common = {"bias": bias, "x_range": tuple(x_range), "n_nodes": n_nodes}
    fit = best_one_unit_fit(flat, **common)
    h = h_matrix(fit.v, fit.w, flat, **common)
    eigenvalues = np.linalg.eigvalsh(h)
    verdict = theorem7_verdict(eigenvalues, on_singularity=fit.on_singularity)
    summary = {
        "v_star": fit.v.tolist(),
        "w_star": fit.w,
        "fit": {
            "residual_rms": fit.residual_rms,
            "teacher_rms": fit.teacher_rms,
            "on_singularity": bool(fit.on_singularity),
            "gradient_norm": fit.gradient_norm,
            "success": bool(fit.success),
            "message": fit.message,
        },
        "H": h.tolist(),
        "eigenvalues": eigenvalues.tolist(),
        "stability": verdict._asdict(),
    }
    return fit, h, summary


def _json_ready(value):
    """Plain Python types, with non-finite floats as None."""
    if isinstance(value, dict):
        return {key: _json_ready(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        return _finite(value)
    return value


def write_theory(
    out_dir,
    teacher_flat,
    *,
    bias: bool,
    loss_kind: str = "gaussian_nll",
    noise_std: float = 0.05,
    x_range: Sequence[float] = X_RANGE,
    variance: float = 1.0,
    n_nodes: int = N_NODES,
) -> dict:
    """Write ``theory.json`` and the theory figures for one teacher.

    Files: ``<out_dir>/theory.json`` (:func:`theory_summary`) and
    ``<out_dir>/figures/first_integrals.png`` (level curves of each first integral with
    averaged-flow paths; see :mod:`singdyn.theory_plots`).

    Args:
        out_dir: the output folder (created if missing).
        teacher_flat, bias, loss_kind, noise_std, x_range, variance, n_nodes: as for
            :func:`theory_summary`.

    Returns:
        The summary dict, with ``files`` listing what was written, relative to
        ``out_dir``.
    """
    import json
    from pathlib import Path

    from singdyn import theory_plots

    analysis = _analyse(
        teacher_flat,
        bias=bias,
        loss_kind=loss_kind,
        noise_std=noise_std,
        x_range=x_range,
        variance=variance,
        n_nodes=n_nodes,
    )
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    figure = theory_plots.first_integrals_figure_for(
        analysis["teacher"],
        analysis["fit"],
        analysis["h"],
        bias=bias,
        loss=analysis["loss"],
        x_range=x_range,
        n_nodes=n_nodes,
    )
    names = ["figures/first_integrals.png", "theory.json"]
    figure.savefig(out / names[0], dpi=130)
    theory_plots.close(figure)
    summary = analysis["summary"] | {"files": names}
    (out / names[1]).write_text(json.dumps(summary, indent=2, allow_nan=False))
    return summary
