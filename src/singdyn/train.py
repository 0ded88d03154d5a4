"""Batched training that records per-round histories, as NetTrain reports them.

:func:`train` runs M start points at once in one compiled program. They share the data
and the batch schedule (by design: a phase map compares start points under one and the
same sample order), and each has its own optimizer state.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from singdyn.data import Dataset
from singdyn.losses import Loss
from singdyn.network import coordinate_names, predict_flat

__all__ = ["History", "train", "trainable_mask"]


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
    with respect to the trainable xi coordinates; the others stay fixed exactly.

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

    def cast(a):
        return jnp.asarray(a, dtype=dtype)

    out = _program(
        cast(starts),
        cast(x),
        cast(y),
        cast(xv),
        cast(yv),
        jnp.asarray(schedule, jnp.int32),
        cast(mask),
        bias=bool(bias),
        loss=loss,
        optimizer=optimizer,
        validate=validation_set is not None,
    )
    params, round_loss, train_loss, val_loss = (np.asarray(o) for o in out)
    return History(
        names=names,
        params=params,
        round_loss=round_loss,
        train_loss=train_loss,
        validation_loss=val_loss if validation_set is not None else None,
    )


@functools.partial(jax.jit, static_argnames=("bias", "loss", "optimizer", "validate"))
def _program(starts, x, y, xv, yv, schedule, mask, *, bias, loss, optimizer, validate):
    """Shapes: starts (M, p); x, y (n,) or (M, n); xv, yv (n_val,) or (M, n_val);
    schedule (R, nb, B) or (M, R, nb, B). Shared arrays are not batched. Without
    ``validate`` the validation loss is not computed (its output is all zeros)."""

    def mean_loss(params, xs, ys):
        return loss.mean(predict_flat(params, xs, bias), ys)

    grad_fn = jax.value_and_grad(mean_loss)

    def run(params0, x, y, xv, yv, schedule):
        def validation_loss(params):
            if validate:
                return mean_loss(params, xv, yv)
            return jnp.zeros((), params.dtype)

        def update(carry, batch):  # batch: (B,) indices
            params, state = carry
            batch_loss, grads = grad_fn(params, x[batch], y[batch])
            updates, state = optimizer.update(grads * mask, state, params)
            # Select rather than multiply: a frozen coordinate's update can be NaN
            # (ADAM's 0 / (0 + eps) with eps = 0), and NaN * 0 is NaN.
            params = jnp.where(mask != 0, params + updates, params)
            return (params, state), batch_loss

        def one_round(carry, batches):  # batches: (nb, B)
            carry, batch_losses = jax.lax.scan(update, carry, batches)
            params = carry[0]
            record = (
                params,
                jnp.mean(batch_losses),
                mean_loss(params, x, y),
                validation_loss(params),
            )
            return carry, record

        carry = (params0, optimizer.init(params0))
        _, (params, round_loss, end_loss, val_loss) = jax.lax.scan(
            one_round, carry, schedule
        )
        params = jnp.concatenate([params0[None], params])
        end_loss = jnp.concatenate([mean_loss(params0, x, y)[None], end_loss])
        val_loss = jnp.concatenate([validation_loss(params0)[None], val_loss])
        return params, round_loss, end_loss, val_loss

    def axis(array, shared_ndim):
        return None if array.ndim == shared_ndim else 0

    in_axes = (0, axis(x, 1), axis(y, 1), axis(xv, 1), axis(yv, 1), axis(schedule, 3))
    return jax.vmap(run, in_axes=in_axes)(starts, x, y, xv, yv, schedule)


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
