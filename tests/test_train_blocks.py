"""The fast path of train(): the hand-written gradient, blocks of runs, threads."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from singdyn.data import sample_data
from singdyn.losses import make_loss
from singdyn.network import Xi, predict_flat
from singdyn.optim import ElementwiseTransformation, make_optimizer, nettrain_schedule
from singdyn.train import BLOCK_SIZE, _loss_and_grad, train

TEACHER = Xi(a=np.array([0.2]), b=np.array(0.0), v=np.array([0.3]), w=np.array(0.5))
TEACHER_BIAS = Xi(
    a=np.array([0.2, -0.3]), b=np.array(0.1), v=np.array([1.0, 0.2]), w=np.array(0.8)
)
LOSSES = [
    make_loss("gaussian_nll"),
    make_loss("gaussian_nll", variance=2.0),
    make_loss("mse"),
]


def _starts(count, bias, seed=0):
    """``(count, p)`` start points spread over the region the phase map covers."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (count, 2 if bias else 1))
    b = rng.uniform(-2.5, 2.5, (count, 1))
    v = rng.uniform(-1, 1, (count, 2 if bias else 1))
    w = rng.uniform(0.3, 1.5, (count, 1))
    return np.concatenate([a, b, v, w], axis=1)


@functools.partial(jax.jit, static_argnames=("bias", "loss"))
def _autodiff(starts, xs, ys, *, bias, loss):
    """Batch-mean losses and gradients of M runs by jax.grad through predict_flat.

    Shapes: starts (M, p); xs, ys (B, 1) shared or (B, M). Returns (M,), (M, p).
    """

    def one(params, x, y):
        return jax.value_and_grad(lambda p: loss.mean(predict_flat(p, x, bias), y))(
            params
        )

    in_axes = (0, None, None) if xs.shape[1] == 1 else (0, 1, 1)
    if xs.shape[1] == 1:
        xs, ys = xs[:, 0], ys[:, 0]
    return jax.vmap(one, in_axes=in_axes)(starts, xs, ys)


# --------------------------------------------------------------------------------------
# The hand-written gradient against jax.grad
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize(
    "loss", LOSSES, ids=lambda loss: f"{loss.kind}-{loss.variance}"
)
@pytest.mark.parametrize("per_run", [False, True])
def test_gradient_equals_jax_grad_in_float64(bias, loss, per_run):
    starts = _starts(9, bias)  # (W, p)
    rng = np.random.default_rng(1)
    shape = (30, 9) if per_run else (30, 1)
    xs, ys = rng.uniform(-3, 3, shape), rng.normal(0, 0.5, shape)
    value, grads = _loss_and_grad(
        jnp.asarray(starts.T), jnp.asarray(xs), jnp.asarray(ys), bias=bias, loss=loss
    )
    want_value, want_grads = _autodiff(starts, xs, ys, bias=bias, loss=loss)
    # The same float64 sums taken in another order and through other, equal
    # formulas: a few ulp of terms of size O(1), so 1e-13 absolute has a margin.
    assert_allclose(value, want_value, rtol=1e-14)
    assert_allclose(grads.T, want_grads, rtol=0, atol=1e-13)


@pytest.mark.parametrize("bias", [False, True])
def test_gradient_in_float32_is_as_close_to_float64_as_autodiffs(bias):
    loss = make_loss()
    starts = _starts(64, bias, seed=2)
    rng = np.random.default_rng(3)
    xs, ys = rng.uniform(-3, 3, (30, 1)), rng.normal(0, 0.5, (30, 1))
    exact = _autodiff(starts, xs, ys, bias=bias, loss=loss)[1].T
    f32 = functools.partial(jnp.asarray, dtype=jnp.float32)
    _, ours = _loss_and_grad(f32(starts.T), f32(xs), f32(ys), bias=bias, loss=loss)
    theirs = _autodiff(f32(starts), f32(xs), f32(ys), bias=bias, loss=loss)[1].T
    # Rounding error of a 30-term float32 mean of O(1) terms: a few times
    # 30 * 6e-8 ~ 2e-6 at worst. Both routes must stay within 1e-5 of float64, and
    # ours no farther than twice autodiff's own worst error (plus one float32 ulp).
    ours_error = np.abs(np.asarray(ours, np.float64) - exact).max()
    theirs_error = np.abs(np.asarray(theirs, np.float64) - exact).max()
    assert ours_error < 1e-5
    assert ours_error <= 2 * theirs_error + 6e-8


# --------------------------------------------------------------------------------------
# Blocks and threads: a run's numbers do not depend on the other runs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_run_is_bit_identical_alone_or_among_many(dtype):
    # 300 runs fill two blocks (the second padded) that run on two threads.
    assert BLOCK_SIZE < 300
    data = sample_data(TEACHER, n_train=100, n_test=10, noise_std=0.05, seed=0).train
    schedule = nettrain_schedule(100, 30, 15, seed=0)
    starts = _starts(300, bias=False, seed=4)
    starts[:, 2:] = [0.3, 0.5]
    settings = dict(
        bias=False, loss=make_loss(), optimizer=make_optimizer(), dtype=dtype
    )
    many = train(starts, data, schedule, **settings)
    picked = [0, 7, 255, 256, 299]
    few = train(starts[picked[::-1]], data, schedule, **settings).take(
        slice(None, None, -1)
    )
    for name in ("params", "round_loss", "train_loss"):
        assert_array_equal(
            getattr(few, name), getattr(many, name)[picked], err_msg=name
        )
    alone = train(starts[256], data, schedule, **settings)
    assert_array_equal(alone.params[0], many.params[256])


def test_per_run_data_runs_are_bit_identical_alone_and_as_shared_data():
    seeds = range(5)
    splits = [
        sample_data(TEACHER_BIAS, n_train=70, n_test=20, noise_std=0.05, seed=s)
        for s in seeds
    ]
    schedules = np.stack([nettrain_schedule(70, 30, 5, seed=s) for s in seeds])
    starts = _starts(5, bias=True, seed=5)
    settings = dict(bias=True, loss=make_loss("mse"), optimizer=make_optimizer())
    many = train(
        starts,
        [s.train for s in splits],
        schedules,
        validation_set=[s.test for s in splits],
        **settings,
    )
    for m in (0, 3):
        alone = train(
            starts[m : m + 1],
            [splits[m].train],
            schedules[m : m + 1],
            validation_set=[splits[m].test],
            **settings,
        )
        assert_array_equal(alone.params[0], many.params[m])
        assert_array_equal(alone.validation_loss[0], many.validation_loss[m])
        shared = train(
            starts[m],
            splits[m].train,
            schedules[m],
            validation_set=splits[m].test,
            **settings,
        )
        assert_array_equal(shared.params[0], many.params[m])
        assert_array_equal(shared.validation_loss[0], many.validation_loss[m])


# --------------------------------------------------------------------------------------
# Optimizers: the elementwise shortcut and the mapped general path
# --------------------------------------------------------------------------------------


def _mapped(optimizer):
    """The same transformation without the elementwise mark (a fresh update function,
    so the compiled-program cache cannot hand back the elementwise program)."""
    return optax.GradientTransformation(
        optimizer.init,
        lambda updates, state, params=None: optimizer.update(updates, state, params),
    )


@pytest.mark.parametrize("name", ["nettrain_adam", "adam", "sgd"])
def test_elementwise_and_mapped_optimizers_agree_exactly(name):
    optimizer = make_optimizer(name, learning_rate=0.05)
    assert isinstance(optimizer, ElementwiseTransformation)
    assert isinstance(optimizer, optax.GradientTransformation)
    data = sample_data(TEACHER, n_train=60, n_test=10, noise_std=0.05, seed=1).train
    schedule = nettrain_schedule(60, 30, 6, seed=1)
    starts = _starts(4, bias=False, seed=6)
    settings = dict(bias=False, loss=make_loss(), dtype=np.float32)
    fast = train(starts, data, schedule, optimizer=optimizer, **settings)
    mapped = train(starts, data, schedule, optimizer=_mapped(optimizer), **settings)
    # Elementwise arithmetic in both, only laid out differently: bit for bit.
    assert_array_equal(fast.params, mapped.params)
    assert_array_equal(fast.round_loss, mapped.round_loss)


def test_a_coupling_optimizer_still_treats_each_run_on_its_own():
    # Clipping by the global norm couples the entries of one run; mapped over the
    # runs, one run's clipping must not see another run's gradient.
    optimizer = optax.chain(optax.clip_by_global_norm(1e-3), optax.sgd(1.0))
    # One batch per round, so each round is one step.
    data = sample_data(TEACHER, n_train=30, n_test=10, noise_std=0.05, seed=2).train
    schedule = nettrain_schedule(30, 30, 3, seed=2)
    starts = _starts(3, bias=False, seed=7)
    settings = dict(bias=False, loss=make_loss(), optimizer=optimizer)
    together = train(starts, data, schedule, dtype=np.float64, **settings)
    for m in range(3):
        alone = train(starts[m], data, schedule, dtype=np.float64, **settings)
        assert_array_equal(alone.params[0], together.params[m])
        # Each step moved exactly the clipped length (the gradients here exceed it).
        steps = np.linalg.norm(np.diff(alone.params[0][:, :2], axis=0), axis=1)
        assert_allclose(steps, 1e-3, rtol=1e-9)


# --------------------------------------------------------------------------------------
# Against the general autodiff program (the implementation before the fast path)
# --------------------------------------------------------------------------------------


def _reference_train(starts, xs, ys, xv, yv, schedules, mask, bias, loss, optimizer):
    """Per-run loops of jax.grad through predict_flat, vmapped over runs: the general
    program the fast path replaced. Shapes: starts (M, p), data (M, n), schedules
    (M, R, nb, B)."""

    def mean_loss(params, x, y):
        return loss.mean(predict_flat(params, x, bias), y)

    def run(params, x, y, xv, yv, schedule):
        state = optimizer.init(params)
        path, round_losses, val = [params], [], [mean_loss(params, xv, yv)]
        for batches in schedule:
            losses = []
            for batch in batches:
                value, grads = jax.value_and_grad(mean_loss)(params, x[batch], y[batch])
                updates, state = optimizer.update(grads * mask, state, params)
                params = jnp.where(mask != 0, params + updates, params)
                losses.append(value)
            path.append(params)
            round_losses.append(jnp.mean(jnp.stack(losses)))
            val.append(mean_loss(params, xv, yv))
        return jnp.stack(path), jnp.stack(round_losses), jnp.stack(val)

    return jax.jit(jax.vmap(run))(starts, xs, ys, xv, yv, schedules)


def test_matches_the_autodiff_program_with_biases_in_float64():
    seeds = range(3)
    splits = [
        sample_data(TEACHER_BIAS, n_train=65, n_test=20, noise_std=0.05, seed=s)
        for s in seeds
    ]
    schedules = np.stack([nettrain_schedule(65, 30, 5, seed=s) for s in seeds])
    starts = _starts(3, bias=True, seed=8)
    loss, optimizer = make_loss("mse"), make_optimizer()
    trainable = ("a", "c", "b", "d")
    history = train(
        starts,
        [s.train for s in splits],
        schedules,
        bias=True,
        loss=loss,
        optimizer=optimizer,
        trainable=trainable,
        validation_set=[s.test for s in splits],
        dtype=np.float64,
    )
    mask = jnp.asarray([1.0, 1.0, 1.0, 0.0, 1.0, 0.0])

    def stack(part, field):
        return jnp.asarray(np.stack([getattr(getattr(s, part), field) for s in splits]))

    path, round_loss, val = _reference_train(
        jnp.asarray(starts),
        stack("train", "x"),
        stack("train", "y"),
        stack("test", "x"),
        stack("test", "y"),
        jnp.asarray(schedules),
        mask,
        True,
        loss,
        optimizer,
    )
    # 15 ADAM steps in float64 through the same formulas in another order: ADAM
    # divides by sqrt(v) and can raise a gradient's rounding to a step's, but 5
    # rounds stay far below 1e-12 (measured: 1e-13).
    assert_allclose(history.params, path, rtol=0, atol=1e-12)
    assert_allclose(history.round_loss, round_loss, rtol=1e-12)
    assert_allclose(history.validation_loss, val, rtol=1e-12)
    assert np.abs(path[:, -1] - path[:, 0]).max() > 0.05  # the runs did move
