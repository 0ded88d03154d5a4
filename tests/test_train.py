"""Batched training and its per-round records, against a plain loop."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from singdyn.data import Dataset, sample_data
from singdyn.losses import make_loss
from singdyn.network import Xi
from singdyn.optim import make_optimizer, nettrain_adam, nettrain_schedule
from singdyn.train import History, train, trainable_mask

TEACHER = Xi(a=np.array([0.2]), b=np.array(0.0), v=np.array([0.3]), w=np.array(0.5))
# The five Example-1 start points of the paper's Example 1, with v = 0.3, w = 0.5.
STARTS = np.array(
    [
        [0.15, -1.8, 0.3, 0.5],
        [0.15, -1.5, 0.3, 0.5],
        [0.05, 0.0, 0.3, 0.5],
        [0.7, -0.6, 0.3, 0.5],
        [0.7, -0.8, 0.3, 0.5],
    ]
)
NLL = make_loss("gaussian_nll")
ADAM = nettrain_adam(0.1, 0.9, 0.999, 1e-5)


def _data(n, seed=0, n_test=50):
    return sample_data(TEACHER, n_train=n, n_test=n_test, noise_std=0.05, seed=seed)


# --------------------------------------------------------------------------------------
# An independent plain NumPy trainer for Example 1 (no biases, Gaussian NLL)
# --------------------------------------------------------------------------------------


def _np_loss_and_grad(params, x, y):
    """Mean of 0.5 (y - f)^2 + 0.5 log(2 pi) over the batch and its gradient in
    (a, b, v, w), by the chain rule through u1 = v + a (b - 1) / 2,
    u2 = v + a (b + 1) / 2, w31 = w (1 + b) / 2, w32 = w (1 - b) / 2."""
    a, b, v, w = params
    u1, u2 = v + a * (b - 1) / 2, v + a * (b + 1) / 2
    w31, w32 = w * (1 + b) / 2, w * (1 - b) / 2
    t1, t2 = np.tanh(u1 * x), np.tanh(u2 * x)
    s1, s2 = 1 - t1**2, 1 - t2**2  # tanh' = sech^2
    f = w31 * t1 + w32 * t2
    r = f - y
    df = {  # df / d(coordinate), per example
        "a": w31 * s1 * x * (b - 1) / 2 + w32 * s2 * x * (b + 1) / 2,
        "b": w / 2 * (t1 - t2) + (w31 * s1 + w32 * s2) * x * a / 2,
        "v": w31 * s1 * x + w32 * s2 * x,
        "w": (1 + b) / 2 * t1 + (1 - b) / 2 * t2,
    }
    loss = np.mean(0.5 * r**2) + 0.5 * math.log(2 * math.pi)
    grad = np.array([np.mean(r * df[k]) for k in ("a", "b", "v", "w")])
    return loss, grad


def _np_train(start, data, schedule, trainable, lr=0.1, b1=0.9, b2=0.999, eps=1e-5):
    """Plain loop: NetTrain's ADAM on the trainable coordinates, per-round records."""
    params = np.array(start, dtype=float)
    on = np.array([name in trainable for name in ("a", "b", "v", "w")])
    m, v = np.zeros(4), np.zeros(4)
    t = 0
    history, round_losses, end_losses = [params.copy()], [], []
    end_losses.append(_np_loss_and_grad(params, data.x, data.y)[0])
    for batches in schedule:
        batch_losses = []
        for batch in batches:
            t += 1
            loss, g = _np_loss_and_grad(params, data.x[batch], data.y[batch])
            batch_losses.append(loss)
            for i in np.flatnonzero(on):
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                params[i] -= (
                    lr
                    * math.sqrt(1 - b2**t)
                    / (1 - b1**t)
                    * m[i]
                    / (math.sqrt(v[i]) + eps)
                )
        history.append(params.copy())
        round_losses.append(sum(batch_losses) / len(batch_losses))
        end_losses.append(_np_loss_and_grad(params, data.x, data.y)[0])
    return np.array(history), np.array(round_losses), np.array(end_losses)


def test_numpy_gradient_is_the_chain_rule():
    # Guard the reference itself: central differences with h = 1e-6 have truncation
    # h^2 |L'''| / 6 ~ 1e-12 and rounding eps |L| / h ~ 1e-10; 1e-8 leaves a margin.
    data = _data(40).train
    params = np.array([0.4, -0.7, 0.3, 0.5])
    _, grad = _np_loss_and_grad(params, data.x, data.y)
    h = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        up = _np_loss_and_grad(params + e, data.x, data.y)[0]
        down = _np_loss_and_grad(params - e, data.x, data.y)[0]
        assert abs((up - down) / (2 * h) - grad[i]) < 1e-8


@pytest.mark.parametrize("n", [100, 200])  # 4 batches (fixed order), 7 (reshuffled)
def test_matches_a_plain_numpy_loop_in_float64(n):
    data = _data(n).train
    rounds = 4
    schedule = nettrain_schedule(n, 30, rounds, seed=3)
    starts = STARTS[[1, 3]]
    history = train(
        starts, data, schedule, bias=False, loss=NLL, optimizer=ADAM, dtype=np.float64
    )
    assert history.params.shape == (2, rounds + 1, 4)
    assert history.round_loss.shape == (2, rounds)
    assert history.train_loss.shape == (2, rounds + 1)
    assert history.names == ("a", "b", "v", "w")

    for run, start in enumerate(starts):
        params, round_loss, end_loss = _np_train(start, data, schedule, ("a", "b"))
        # Both sides do the same float64 arithmetic in different orders: each step is
        # off by a few ulp, and 4 rounds of at most 7 ADAM steps of size <= 0.1 do not
        # amplify that past 1e-14; 1e-12 leaves a margin.
        assert_allclose(history.params[run], params, rtol=0, atol=1e-12)
        assert_allclose(history.round_loss[run], round_loss, rtol=1e-12, atol=0)
        assert_allclose(history.train_loss[run], end_loss, rtol=1e-12, atol=0)
        # The parameters did move, so the comparison is not vacuous.
        assert np.max(np.abs(params[-1] - params[0])) > 0.05


def test_round_loss_is_the_mean_of_batch_losses_before_each_update():
    # With one batch per round, the round loss is the loss at the round's start, i.e.
    # the previous round's end-of-round loss on that batch (here: the whole set).
    data = _data(30).train
    schedule = nettrain_schedule(30, 30, 3, seed=0)
    history = train(
        STARTS[0],
        data,
        schedule,
        bias=False,
        loss=NLL,
        optimizer=ADAM,
        dtype=np.float64,
    )
    # The same mean over the same 30 points, summed in a possibly different order.
    assert_allclose(history.round_loss[0], history.train_loss[0, :-1], rtol=1e-14)


@pytest.mark.parametrize(
    ("bias", "trainable", "eps", "dtype"),
    [
        (False, ("a", "b"), 1e-5, np.float32),
        (False, ("v",), 1e-5, np.float64),
        (True, ("a", "c", "d"), 1e-5, np.float32),
        # eps = 0 is an accepted setting: frozen coordinates see 0 / (0 + 0) in ADAM.
        (False, ("a", "b"), 0.0, np.float64),
        (True, ("b", "w"), 0.0, np.float32),
    ],
)
def test_only_trainable_coordinates_change(bias, trainable, eps, dtype):
    data = _data(60).train
    schedule = nettrain_schedule(60, 30, 3, seed=1)
    start = (
        np.array([0.4, 0.1, -0.6, 0.3, -0.2, 0.5])
        if bias
        else np.array([0.4, -0.6, 0.3, 0.5])
    )
    history = train(
        start,
        data,
        schedule,
        bias=bias,
        loss=NLL,
        optimizer=make_optimizer(eps=eps),
        trainable=trainable,
        dtype=dtype,
    )
    assert history.params.dtype == dtype
    assert np.all(np.isfinite(history.params))
    start_cast = start.astype(dtype)
    for i, name in enumerate(history.names):
        path = history.params[0, :, i]
        if name in trainable:
            assert np.all(path[1:] != start_cast[i]), name
        else:
            assert_array_equal(path, np.full_like(path, start_cast[i]), err_msg=name)


def test_trainable_mask():
    assert trainable_mask(("a", "b", "v", "w"), ["b", "w"]).tolist() == [0, 1, 0, 1]
    with pytest.raises(ValueError, match=r"one of \['a', 'b', 'v', 'w'\]; got 'q'"):
        trainable_mask(("a", "b", "v", "w"), ["a", "q"])
    with pytest.raises(ValueError, match=r"name at least one of .*; got \[\]"):
        trainable_mask(("a", "b", "v", "w"), [])


def test_batched_runs_equal_separate_runs_in_float32():
    data = _data(100).train
    schedule = nettrain_schedule(100, 30, 6, seed=0)
    settings = dict(bias=False, loss=NLL, optimizer=ADAM, dtype=np.float32)
    batched = train(STARTS, data, schedule, **settings)
    assert batched.size == 5 and batched.rounds == 6
    for m, start in enumerate(STARTS):
        alone = train(start[None], data, schedule, **settings)
        # Each run is the same float32 program; only the vectorization over M differs,
        # which may change a reduction's order: allow 4 ulp (float32 ulp ~ 6e-8 near 1).
        np.testing.assert_array_max_ulp(batched.params[m], alone.params[0], maxulp=4)
        np.testing.assert_array_max_ulp(
            batched.round_loss[m], alone.round_loss[0], maxulp=4
        )
        np.testing.assert_array_max_ulp(
            batched.train_loss[m], alone.train_loss[0], maxulp=4
        )


def test_per_run_data_and_schedules_equal_separate_runs():
    seeds = [0, 1, 2]
    sets = [_data(90, seed=s).train for s in seeds]
    schedules = np.stack([nettrain_schedule(90, 30, 4, seed=s) for s in seeds])
    validation = [_data(90, seed=s).test for s in seeds]
    starts = STARTS[:3]
    settings = dict(bias=False, loss=NLL, optimizer=ADAM, dtype=np.float64)
    assert schedules.shape == (3, 4, 3, 30)

    batched = train(starts, sets, schedules, validation_set=validation, **settings)
    for m in range(3):
        alone = train(
            starts[m], sets[m], schedules[m], validation_set=validation[m], **settings
        )
        # float64, same program per run: the vectorization can only reorder sums,
        # a few ulp per step; 1e-13 bounds it over 12 steps.
        assert_allclose(batched.params[m], alone.params[0], rtol=0, atol=1e-13)
        assert_allclose(batched.round_loss[m], alone.round_loss[0], rtol=1e-13)
        assert_allclose(
            batched.validation_loss[m], alone.validation_loss[0], rtol=1e-13
        )
    # The runs really saw different data.
    assert not np.allclose(batched.params[0, -1], batched.params[1, -1])


def _np_mean_loss(params, data):
    return _np_loss_and_grad(params, data.x, data.y)[0]


def test_validation_loss_and_best_round():
    split = _data(60, n_test=40)
    schedule = nettrain_schedule(60, 30, 8, seed=2)
    history = train(
        STARTS[[0, 3]],
        split.train,
        schedule,
        bias=False,
        loss=NLL,
        optimizer=ADAM,
        validation_set=split.test,
        dtype=np.float64,
    )
    assert history.validation_loss.shape == (2, 9)
    for m in range(2):
        want = [_np_mean_loss(p, split.test) for p in history.params[m]]
        # The loss at recorded parameters, summed in another order: a few ulp.
        assert_allclose(history.validation_loss[m], want, rtol=1e-13)
        best = 1 + int(np.argmin(want[1:]))
        assert history.best_round[m] == best
        assert_array_equal(history.best_params[m], history.params[m, best])

    without = train(
        STARTS[0], split.train, schedule, bias=False, loss=NLL, optimizer=ADAM
    )
    assert without.validation_loss is None
    assert without.best_round is None and without.best_params is None


def test_best_round_takes_the_first_minimum_and_skips_the_start():
    params = np.arange(2 * 5 * 4, dtype=float).reshape(2, 5, 4)
    history = History(
        names=("a", "b", "v", "w"),
        params=params,
        round_loss=np.zeros((2, 4)),
        train_loss=np.zeros((2, 5)),
        # Run 0: the start (round 0) is lowest but is not a round; rounds 2 and 4 tie.
        # Run 1: the last round is lowest.
        validation_loss=np.array(
            [[0.0, 3.0, 1.0, 2.0, 1.0], [5.0, 4.0, 3.0, 2.0, 1.0]]
        ),
    )
    assert history.best_round.tolist() == [2, 4]
    assert_array_equal(history.best_params, params[[0, 1], [2, 4]])
    assert_array_equal(history.final_params, params[:, -1])
    assert_array_equal(history.coordinate("v"), params[..., 2])
    taken = history.take(1)
    assert taken.size == 1 and taken.best_round.tolist() == [4]
    with pytest.raises(KeyError, match=r"no coordinate 'c'"):
        history.coordinate("c")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            dict(start_points=np.zeros(5)),
            r"start_points must have shape \(M, 4\).*\(1, 5\)",
        ),
        (
            dict(start_points=np.array([0.1, np.nan, 0.3, 0.5])),
            r"start_points must be finite; got a NaN",
        ),
        (dict(trainable=("a", "q")), r"trainable: every entry must be one of .*'q'"),
        (
            dict(schedule=np.full((2, 1, 30), 30)),
            r"schedule indices must lie in \[0, 30\); got \[30, 30\]",
        ),
        (
            dict(schedule=np.full((2, 1, 30), -1)),
            r"schedule indices must lie in \[0, 30\); got \[-1, -1\]",
        ),
        (dict(schedule=np.zeros((2, 30), int)), r"schedule must have shape.*got shape"),
        (dict(schedule=np.zeros((3, 2, 1, 30), int)), r"schedule must have shape"),
        (
            dict(train_set=[Dataset(np.zeros(30), np.zeros(30))] * 2),
            r"train_set must be one Dataset or 1 .*got 2",
        ),
    ],
)
def test_bad_inputs_raise(change, message):
    arguments = dict(
        start_points=STARTS[0],
        train_set=_data(30).train,
        schedule=nettrain_schedule(30, 30, 2, seed=0),
        trainable=("a", "b"),
    )
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        train(
            arguments.pop("start_points"),
            arguments.pop("train_set"),
            arguments.pop("schedule"),
            bias=False,
            loss=NLL,
            optimizer=ADAM,
            **arguments,
        )
