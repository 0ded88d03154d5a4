"""Batched training that records per-round histories, as NetTrain reports them.

:func:`train` runs M start points at once: one compiled program, called on blocks of
runs. They share the data
and the batch schedule (by design: a phase map compares start points under one and the
same sample order), and each has its own optimizer state.

How it is fast: the program takes the runs in blocks of :data:`BLOCK_SIZE` with the
runs along the last (contiguous) axis, so every operation is vectorised across runs;
the gradient is the chain rule written out, one tanh per hidden unit and example; and
blocks run in parallel on the CPU cores. Every block has the same width, so a run's
numbers never depend on how many runs share the call.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from singdyn.data import Dataset
from singdyn.losses import Loss
from singdyn.network import coordinate_names, unit_size
from singdyn.optim import ElementwiseTransformation

__all__ = ["BLOCK_SIZE", "History", "train", "trainable_mask"]

BLOCK_SIZE = 256
"""Runs per call of the compiled program; M is padded up to a multiple of it.

One fixed width gives every run the same machine code whatever M is, so a start point
gives bit-identical results alone or among thousands (the reductions of XLA's CPU
backend depend on the array width), and the same whether the data are shared or
given per run. 256 runs by 30 examples keep a block's working set in the L2
cache; wider blocks measured no faster on a 2-core machine, narrower ones a little
slower. The price: a single run costs a whole block (about 30 ms for Example 1's 200
rounds, against about 1 ms in a program of width 1).
"""


@dataclass(frozen=True)
class History:
    """What a batch of M training runs went through, round by round.

    Round 0 is the start; round r >= 1 is the end of the r-th epoch.

    Attributes:
        names: names of the flat xi coordinates (see ``coordinate_names``).
        params: ``(M, R + 1, p)`` parameters at the start and at the end of each round.
        round_loss: ``(M, R)`` NetTrain's round loss: the mean of the batch losses met
            during round r (each taken before its update), for r = 1..R.
        train_loss: ``(M, R + 1)`` loss over the whole training set at each round's end
            (index 0: at the start).
        validation_loss: ``(M, R + 1)`` the same on the validation set, or None.
    """

    names: tuple[str, ...]
    params: np.ndarray
    round_loss: np.ndarray
    train_loss: np.ndarray
    validation_loss: np.ndarray | None = None

    @property
    def rounds(self) -> int:
        """Number of rounds R."""
        return self.params.shape[1] - 1

    @property
    def size(self) -> int:
        """Number of runs M."""
        return self.params.shape[0]

    def coordinate(self, name: str) -> np.ndarray:
        """``(M, R + 1)`` history of one named xi coordinate."""
        if name not in self.names:
            raise KeyError(f"History: no coordinate {name!r}; have {self.names}")
        return self.params[..., self.names.index(name)]

    @property
    def final_params(self) -> np.ndarray:
        """``(M, p)`` parameters after the last round."""
        return self.params[:, -1]

    @property
    def best_round(self) -> np.ndarray | None:
        """``(M,)`` the round (1..R) of least validation loss, first on ties; the net
        NetTrain returns when given a validation set. None without one."""
        if self.validation_loss is None:
            return None
        return np.argmin(self.validation_loss[:, 1:], axis=1) + 1

    @property
    def best_params(self) -> np.ndarray | None:
        """``(M, p)`` parameters at :attr:`best_round`, or None without validation."""
        best = self.best_round
        if best is None:
            return None
        return self.params[np.arange(self.size), best]

    def take(self, index) -> History:
        """The runs selected by ``index`` along the leading axis, as a History."""
        index = np.atleast_1d(np.arange(self.size)[index])
        return History(
            names=self.names,
            params=self.params[index],
            round_loss=self.round_loss[index],
            train_loss=self.train_loss[index],
            validation_loss=None
            if self.validation_loss is None
            else self.validation_loss[index],
        )


def trainable_mask(names: tuple[str, ...], trainable) -> np.ndarray:
    """``(p,)`` float mask, 1 on the named trainable coordinates and 0 elsewhere.

    Raises:
        ValueError: if a name is not a coordinate or the list is empty.
    """
    trainable = list(trainable)
    unknown = [t for t in trainable if t not in names]
    if unknown:
        raise ValueError(
            f"trainable: every entry must be one of {list(names)}; got {unknown[0]!r}"
        )
    if not trainable:
        raise ValueError(f"trainable: name at least one of {list(names)}; got []")
    return np.array([n in trainable for n in names], dtype=np.float64)


def train(
    start_points,
    train_set: Dataset | Sequence[Dataset],
    schedule: np.ndarray,
    *,
    bias: bool,
    loss: Loss,
    optimizer: optax.GradientTransformation,
    trainable=("a", "b"),
    validation_set: Dataset | Sequence[Dataset] | None = None,
    dtype=np.float32,
) -> History:
    """Train M networks from M start points with one compiled program.

    Each update takes the batch of the schedule, the mean loss over it and its gradient
    with respect to the trainable xi coordinates; the others stay fixed exactly. The
    runs go through the program in blocks of :data:`BLOCK_SIZE`, spread over the CPU
    cores; a run's numbers do not depend on M, on the other runs or on whether the
    data are shared or given per run (bit for bit).

    Args:
        start_points: ``(M, p)`` or ``(p,)`` flat xi start points.
        train_set: the training data shared by all runs, or a sequence of M data sets
            of one size, one per run (a seed sweep).
        schedule: ``(R, batches, batch_size)`` indices into the training set shared by
            all runs (from :func:`singdyn.optim.nettrain_schedule`), or
            ``(M, R, batches, batch_size)``, one per run.
        bias: whether the hidden units have biases (sets p = 6 rather than 4).
        loss: the per-example loss.
        optimizer: an optax transformation, for example
            :func:`singdyn.optim.nettrain_adam`.
        trainable: names of the coordinates to train.
        validation_set: data whose loss is recorded at each round's end; shared, or
            one per run like ``train_set``.
        dtype: working precision; float32 as NetTrain's default.

    Returns:
        The :class:`History` of every run.

    Raises:
        ValueError: on a start point of the wrong size, non-finite values, an empty
            schedule or an index outside the training set.
    """
    names = coordinate_names(bias)
    starts = np.atleast_2d(np.asarray(start_points, dtype=np.float64))
    schedule = np.asarray(schedule)
    x, y = _stack(train_set, "train_set", len(starts))
    xv, yv = (
        (x, y)
        if validation_set is None
        else _stack(validation_set, "validation_set", len(starts))
    )
    _check_inputs(starts, names, x.shape[-1], schedule)
    mask = trainable_mask(names, trainable)

    # ---- cut the runs into blocks of BLOCK_SIZE; the last block repeats the last run
    runs = len(starts)
    blocks = -(-runs // BLOCK_SIZE)
    padded = np.minimum(np.arange(blocks * BLOCK_SIZE), runs - 1)

    def cast(array):
        return jnp.asarray(array, dtype=dtype)

    def block_inputs(block: int) -> tuple:
        rows = padded[block * BLOCK_SIZE : (block + 1) * BLOCK_SIZE]

        def per_run(array, shared_ndim):
            return array if array.ndim == shared_ndim else array[rows]

        return (
            cast(starts[rows]),
            cast(per_run(x, 1)),
            cast(per_run(y, 1)),
            cast(per_run(xv, 1)),
            cast(per_run(yv, 1)),
            jnp.asarray(per_run(schedule, 3), jnp.int32),
            cast(mask),
        )

    settings = dict(
        bias=bool(bias),
        loss=loss,
        optimizer=optimizer,
        validate=validation_set is not None,
    )
    outputs = _run_blocks(block_inputs, blocks, settings)

    # ---- join the blocks and drop the padding
    params, round_loss, train_loss, val_loss = (
        np.concatenate([out[i] for out in outputs])[:runs] for i in range(4)
    )
    return History(
        names=names,
        params=params,
        round_loss=round_loss,
        train_loss=train_loss,
        validation_loss=val_loss if validation_set is not None else None,
    )


def _run_blocks(block_inputs, blocks: int, settings: dict) -> list[tuple]:
    """Run every block through :func:`_program`, several at a time on the CPU cores.

    Programs called from separate Python threads run in parallel on JAX's CPU
    backend (it releases the GIL while a program runs); calls from one thread run one
    after the other. The program is compiled once, before the threads start.
    """
    if blocks == 1:
        return [_fetch(_program(*block_inputs(0), **settings))]
    compiled = _program.lower(*block_inputs(0), **settings).compile()

    def run(block: int) -> tuple[np.ndarray, ...]:
        return _fetch(compiled(*block_inputs(block)))

    with ThreadPoolExecutor(max_workers=min(blocks, _cpu_count())) as pool:
        return list(pool.map(run, range(blocks)))


def _fetch(outputs) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(o) for o in outputs)


def _cpu_count() -> int:
    """CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


# --------------------------------------------------------------------------------------
# The compiled program: one block of W runs, the runs along the last axis
# --------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("bias", "loss", "optimizer", "validate"))
def _program(starts, x, y, xv, yv, schedule, mask, *, bias, loss, optimizer, validate):
    """Train one block of W runs.

    Shapes in: starts (W, p); x, y (n,) shared or (W, n) one set per run; xv, yv
    likewise; schedule (R, nb, B) shared or (W, R, nb, B); mask (p,). Shapes out, in
    the layout of :class:`History`: params (W, R + 1, p), round loss (W, R), train
    and validation loss (W, R + 1). Without ``validate`` the validation loss is not
    computed (its output is all zeros).

    Inside, the W runs lie along the last axis: parameters (p, W), data (n, 1) or
    (n, W), a batch (B, 1) or (B, W). The runs are then contiguous in memory, so every
    operation is vectorised across runs.
    """
    x, y, xv, yv = (_runs_last(a) for a in (x, y, xv, yv))
    if schedule.ndim == 4:
        schedule = jnp.moveaxis(schedule, 0, -1)  # (R, nb, B, W)
    trainable = mask[:, None] != 0  # (p, 1)
    mask = mask[:, None].astype(starts.dtype)
    init, update = _over_runs(optimizer)

    def mean_loss(params, xs, ys):
        return _mean_loss(params, xs, ys, bias=bias, loss=loss)

    def validation_loss(params):
        if validate:
            return mean_loss(params, xv, yv)
        return jnp.zeros(params.shape[-1], params.dtype)

    def step(carry, batch):  # batch: (B,) or (B, W) indices
        params, state = carry
        batch_loss, grads = _loss_and_grad(
            params, _gather(x, batch), _gather(y, batch), bias=bias, loss=loss
        )
        updates, state = update(grads * mask, state, params)
        # Select rather than multiply: a frozen coordinate's update can be NaN
        # (ADAM's 0 / (0 + eps) with eps = 0), and NaN * 0 is NaN.
        params = jnp.where(trainable, params + updates, params)
        return (params, state), batch_loss

    def one_round(carry, batches):  # batches: (nb, B) or (nb, B, W)
        carry, batch_losses = jax.lax.scan(step, carry, batches)  # (nb, W)
        params = carry[0]
        record = (
            params,
            jnp.mean(batch_losses, axis=0),
            mean_loss(params, x, y),
            validation_loss(params),
        )
        return carry, record

    params0 = starts.T  # (p, W)
    _, (params, round_loss, end_loss, val_loss) = jax.lax.scan(
        one_round, (params0, init(params0)), schedule
    )
    params = jnp.concatenate([params0[None], params])  # (R + 1, p, W)
    end_loss = jnp.concatenate([mean_loss(params0, x, y)[None], end_loss])
    val_loss = jnp.concatenate([validation_loss(params0)[None], val_loss])
    return jnp.transpose(params, (2, 0, 1)), round_loss.T, end_loss.T, val_loss.T


def _runs_last(data):
    """``(n, 1)`` from shared ``(n,)`` data, ``(n, W)`` from per-run ``(W, n)``."""
    return data[:, None] if data.ndim == 1 else data.T


def _gather(data, index):
    """Rows of ``(n, 1)`` or ``(n, W)`` data at ``(B,)`` or ``(B, W)`` indices.

    Returns ``(B, 1)`` when both are shared, else ``(B, W)``.
    """
    if index.ndim == 1:
        return data[index]
    if data.shape[1] == 1:
        return data[index, 0]
    # Not take_along_axis: XLA compiled that gather into a program whose results
    # differed in the last bits from the shared-data program's (measured).
    return data[index, jnp.arange(data.shape[1])]


def _over_runs(optimizer):
    """``init`` and ``update`` acting on ``(p, W)`` parameters, each run on its own.

    An :class:`~singdyn.optim.ElementwiseTransformation` treats every entry on its
    own already, so it takes the whole block; any other transformation is mapped over
    the runs (the last axis of every array, its state included).
    """
    if isinstance(optimizer, ElementwiseTransformation):
        return optimizer.init, optimizer.update
    over_runs = functools.partial(jax.vmap, in_axes=-1, out_axes=-1)
    return over_runs(optimizer.init), over_runs(optimizer.update)


# --------------------------------------------------------------------------------------
# The batch-mean loss and its gradient in xi, by hand
# --------------------------------------------------------------------------------------


def _forward(params, xs, *, bias):
    """Hidden-unit outputs of W runs.

    ``params`` is ``(p, W)`` (flat xi per column), ``xs`` is ``(B, 1)`` or ``(B, W)``.
    Returns ``t1, t2`` (B, W), the hidden units' tanh outputs, and ``w31, w32`` (W,).
    """
    k = unit_size(bias)
    a, b, v, w = params[:k], params[k], params[k + 1 : 2 * k + 1], params[2 * k + 1]
    u1 = v + a * (b - 1) / 2  # (k, W)
    u2 = v + a * (b + 1) / 2
    w31 = w * (1 + b) / 2
    w32 = w * (1 - b) / 2
    return jnp.tanh(_preactivation(u1, xs)), jnp.tanh(_preactivation(u2, xs)), w31, w32


def _preactivation(u, xs):
    """``u . (x, 1)`` for ``u`` (k, W): ``(B, W)``."""
    out = u[0] * xs
    if u.shape[0] == 2:
        out = out + u[1]
    return out


def _mean_loss(params, xs, ys, *, bias, loss):
    """``(W,)`` mean loss over the ``B`` rows of ``xs, ys``."""
    t1, t2, w31, w32 = _forward(params, xs, bias=bias)
    return jnp.mean(loss.per_example(w31 * t1 + w32 * t2, ys), axis=0)


def _loss_and_grad(params, xs, ys, *, bias, loss):
    """Batch-mean loss of W runs and its gradient in the flat xi coordinates.

    The chain rule written out: with ``e = dl/df`` per example (from the loss, by
    autodiff of its per-example formula) and ``t_i = tanh(u_i . x~)``,

    .. math::

        \\partial_{w_{3i}} L = \\langle e\\, t_i \\rangle, \\quad
        \\partial_{u_i} L = w_{3i} \\langle e (1 - t_i^2) \\tilde x \\rangle,

    and through ``u1 = v + a (b - 1) / 2``, ``u2 = v + a (b + 1) / 2``,
    ``w31 = w (1 + b) / 2``, ``w32 = w (1 - b) / 2``:

    .. math::

        \\partial_a L = \\tfrac{b - 1}{2} \\partial_{u_1} L
            + \\tfrac{b + 1}{2} \\partial_{u_2} L, \\quad
        \\partial_v L = \\partial_{u_1} L + \\partial_{u_2} L,

        \\partial_b L = \\tfrac{a}{2} \\cdot (\\partial_{u_1} L + \\partial_{u_2} L)
            + \\tfrac{w}{2} (\\partial_{w_{31}} L - \\partial_{w_{32}} L), \\quad
        \\partial_w L = \\tfrac{1 + b}{2} \\partial_{w_{31}} L
            + \\tfrac{1 - b}{2} \\partial_{w_{32}} L,

    ``<.>`` the mean over the batch. Each tanh is computed once per example; the
    tests check the result against ``jax.grad``.

    Args:
        params: ``(p, W)`` flat xi of W runs, one per column.
        xs: ``(B, 1)`` inputs shared by the runs, or ``(B, W)``.
        ys: targets, shaped like ``xs``.
        bias: whether the hidden units have biases.
        loss: the per-example loss.

    Returns:
        ``(W,)`` mean losses and the ``(p, W)`` gradient.
    """
    k = unit_size(bias)
    a, b, w = params[:k], params[k], params[2 * k + 1]
    t1, t2, w31, w32 = _forward(params, xs, bias=bias)
    per_example, pullback = jax.vjp(
        lambda f: loss.per_example(f, ys), w31 * t1 + w32 * t2
    )
    (e,) = pullback(jnp.ones_like(per_example))  # (B, W)

    h1, h2 = e * (1 - t1 * t1), e * (1 - t2 * t2)
    inputs = [xs] if k == 1 else [xs, jnp.ones_like(xs)]  # the entries of x~
    products = [e * t1, e * t2, *(h1 * z for z in inputs), *(h2 * z for z in inputs)]
    means = _batch_means([per_example, *products])  # (3 + 2k, W)
    mean_loss, g31, g32 = means[0], means[1], means[2]  # g3i = dL/dw3i
    g1 = w31 * means[3 : 3 + k]  # dL/du1, (k, W)
    g2 = w32 * means[3 + k :]
    grads = (
        g1 * (b - 1) / 2 + g2 * (b + 1) / 2,  # a, (k, W)
        (jnp.sum((g1 + g2) * a, axis=0) / 2 + (g31 - g32) * w / 2)[None],  # b
        g1 + g2,  # v, (k, W)
        (g31 * (1 + b) / 2 + g32 * (1 - b) / 2)[None],  # w
    )
    return mean_loss, jnp.concatenate(grads)


def _batch_means(columns):
    """``(len(columns), W)`` means over the batch axis of ``(B, W)`` arrays.

    One matrix-vector product ``(1, B) @ (B, k W)`` over the arrays laid side by
    side: a quarter faster on XLA's CPU backend than k separate reductions.
    """
    width = max(c.shape[1] for c in columns)
    stacked = jnp.concatenate(
        [jnp.broadcast_to(c, (c.shape[0], width)) for c in columns], axis=1
    )  # (B, k W)
    ones = jnp.ones((1, stacked.shape[0]), stacked.dtype)
    return (ones @ stacked).reshape(len(columns), width) / stacked.shape[0]


def _stack(data, name: str, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` arrays of a shared data set, or ``(M, n)`` of one set per run."""
    if isinstance(data, Dataset):
        return data.x, data.y
    data = list(data)
    sizes = {d.size for d in data}
    if len(data) != runs or len(sizes) != 1:
        raise ValueError(
            f"train: {name} must be one Dataset or {runs} of one size (one per start "
            f"point); got {len(data)} with sizes {sorted(sizes)}"
        )
    return np.stack([d.x for d in data]), np.stack([d.y for d in data])


def _check_inputs(starts, names, n_train: int, schedule) -> None:
    if starts.ndim != 2 or starts.shape[1] != len(names) or starts.shape[0] == 0:
        raise ValueError(
            f"train: start_points must have shape (M, {len(names)}) for coordinates "
            f"{names}, M >= 1; got shape {starts.shape}"
        )
    if not np.all(np.isfinite(starts)):
        raise ValueError("train: start_points must be finite; got a NaN or infinity")
    per_run = schedule.ndim == 4 and schedule.shape[0] == starts.shape[0]
    if not (schedule.ndim == 3 or per_run) or schedule.size == 0:
        raise ValueError(
            "train: schedule must have shape (rounds, batches, batch_size) or "
            f"({starts.shape[0]}, rounds, batches, batch_size), all >= 1; got shape "
            f"{schedule.shape}"
        )
    if schedule.min() < 0 or schedule.max() >= n_train:
        raise ValueError(
            f"train: schedule indices must lie in [0, {n_train}); got "
            f"[{schedule.min()}, {schedule.max()}]"
        )
