"""NetTrain's batch schedule and its ADAM (the paper's sections 2.1 and 3.1)."""

import math
from collections import Counter

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from numpy.testing import assert_allclose

from singdyn.optim import (
    RESHUFFLE_ABOVE_BATCHES,
    batches_per_round,
    make_optimizer,
    nettrain_adam,
    nettrain_schedule,
)

# --------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------


def _batch_sets(round_batches):
    """The batches of one round as sorted tuples (a batch is a multiset of rows)."""
    return [tuple(sorted(batch.tolist())) for batch in round_batches]


def _check_padded_cover(round_batches, n, pad):
    """Every index 0..n-1 appears, and exactly ``pad`` extra copies pad the round."""
    counts = Counter(round_batches.ravel().tolist())
    assert set(counts) == set(range(n))
    assert sum(c - 1 for c in counts.values()) == pad


def test_seven_examples_in_batches_of_three():
    # Worked by hand: ceil(7 / 3) = 3 batches of 3 = 9 slots, so 2 duplicates; 3 <= 4
    # batches, so every round repeats round 1 in the same order.
    schedule = nettrain_schedule(7, 3, 5, seed=1)
    assert schedule.shape == (5, 3, 3)
    assert schedule.dtype == np.int32
    for r in range(5):
        _check_padded_cover(schedule[r], n=7, pad=2)
        assert np.array_equal(schedule[r], schedule[0])
    # The padding draws without replacement: two different indices appear twice.
    counts = Counter(schedule[0].ravel().tolist())
    assert sorted(counts.values()) == [1] * 5 + [2] * 2


def test_two_hundred_examples_reshuffle_the_batch_order():
    # ceil(200 / 30) = 7 batches > 4: same 7 batches every round, order reshuffled.
    rounds = 12
    schedule = nettrain_schedule(200, 30, rounds, seed=4)
    assert schedule.shape == (rounds, 7, 30)
    base = _batch_sets(schedule[0])
    for r in range(rounds):
        _check_padded_cover(schedule[r], n=200, pad=10)
        assert sorted(_batch_sets(schedule[r])) == sorted(base)
        # A batch's rows keep their order too: only whole batches move.
        for batch in schedule[r]:
            assert any(np.array_equal(batch, b) for b in schedule[0])
    orders = {tuple(_batch_sets(schedule[r])) != tuple(base) for r in range(1, rounds)}
    # Some later round differs from round 1 (11 draws of 7! orders all equal to the
    # identity would have probability (1 / 5040)^11).
    assert True in orders

    # Round 1 is the base order: it does not depend on how many rounds follow, and a
    # longer run starts with the shorter one.
    assert np.array_equal(nettrain_schedule(200, 30, 1, seed=4)[0], schedule[0])
    assert np.array_equal(nettrain_schedule(200, 30, 5, seed=4), schedule[:5])


def test_exactly_four_batches_never_reshuffle():
    schedule = nettrain_schedule(120, 30, 6, seed=2)
    assert schedule.shape == (6, 4, 30)
    assert batches_per_round(120, 30) == RESHUFFLE_ABOVE_BATCHES == 4
    for r in range(6):
        assert sorted(schedule[r].ravel().tolist()) == list(range(120))  # no padding
        assert np.array_equal(schedule[r], schedule[0])


def test_five_batches_reshuffle():
    schedule = nettrain_schedule(121, 30, 8, seed=2)
    assert schedule.shape == (8, 5, 30)
    for r in range(8):
        _check_padded_cover(schedule[r], n=121, pad=29)
        assert sorted(_batch_sets(schedule[r])) == sorted(_batch_sets(schedule[0]))
    # 7 reshuffles of 5 batches all giving the identity: probability (1 / 120)^7.
    assert any(not np.array_equal(schedule[r], schedule[0]) for r in range(1, 8))


def test_schedule_is_reproducible_and_seeded():
    assert np.array_equal(
        nettrain_schedule(200, 30, 4, seed=9), nettrain_schedule(200, 30, 4, seed=9)
    )
    assert not np.array_equal(
        nettrain_schedule(200, 30, 4, seed=9), nettrain_schedule(200, 30, 4, seed=10)
    )


def test_batch_larger_than_data_pads_with_replacement():
    # 2 examples, batch 5: 3 padding slots from 2 indices need replacement.
    schedule = nettrain_schedule(2, 5, 2, seed=0)
    assert schedule.shape == (2, 1, 5)
    _check_padded_cover(schedule[0], n=2, pad=3)


# Padding, over many seeds. The paper's section 2.1 builds the batches with NetTrain,
# which pads the indices up to a multiple of the batch size with randomly chosen
# duplicates and shuffles the padded list once. Two consequences, checked on seeds
# 0..SEEDS-1 of a round (fixed seeds: the test is deterministic; the bounds say why it
# would not fail for other seeds either):
# - every index is equally likely to be duplicated, with probability pad / n per seed;
# - every position is equally likely to hold a copy of a duplicated index, so each batch
#   holds on average 1 / batches of those copies.
SEEDS = 2000
PADDED = [(7, 3), (50, 30), (100, 30)]  # (n, batch size): pads of 2, 10 and 20


def _padding_per_seed(n, batch_size):
    """Per seed: which indices are duplicated ``(SEEDS, n)``, and the fraction of the
    copies of duplicated indices that lie in each batch ``(SEEDS, batches)``."""
    batches = batches_per_round(n, batch_size)
    duplicated = np.empty((SEEDS, n), dtype=bool)
    fractions = np.empty((SEEDS, batches))
    for seed in range(SEEDS):
        flat = nettrain_schedule(n, batch_size, 1, seed=seed)[0].ravel()
        duplicated[seed] = np.bincount(flat, minlength=n) > 1
        copies = duplicated[seed][flat].reshape(batches, batch_size)
        fractions[seed] = copies.sum(axis=1) / copies.sum()
    return duplicated, fractions


@pytest.mark.parametrize(("n", "batch_size"), PADDED)
def test_padding_duplicates_randomly_chosen_indices(n, batch_size):
    pad = batches_per_round(n, batch_size) * batch_size - n
    duplicated, _ = _padding_per_seed(n, batch_size)
    assert np.all(duplicated.sum(axis=1) == pad)  # pad <= n: no index thrice
    # Each index is duplicated in a seed with probability p = pad / n, here 0.2 to
    # 2 / 7. It is never duplicated in SEEDS seeds with probability
    # (1 - p)^SEEDS <= 0.8^2000 < 1e-190, and (Hoeffding) in more than p + 0.2 of them
    # with probability exp(-2 SEEDS 0.2^2) < 1e-69; over at most 100 indices both stay
    # far below 1e-9.
    # Padding with the fixed indices 0..pad-1 puts index 0 in every seed and never
    # duplicates index n - 1.
    frequency = duplicated.mean(axis=0)
    assert np.all(frequency > 0)
    assert np.all(frequency < pad / n + 0.2)


@pytest.mark.parametrize(("n", "batch_size"), PADDED)
def test_padded_duplicates_are_spread_over_the_batches(n, batch_size):
    batches = batches_per_round(n, batch_size)
    _, fractions = _padding_per_seed(n, batch_size)
    # The padded list is shuffled as a whole, so each batch holds on average
    # 1 / batches of the copies. A per-seed fraction lies in [0, 1]; by Hoeffding the
    # mean over SEEDS seeds is off by 0.1 or more with probability
    # <= 2 exp(-2 SEEDS 0.1^2) < 1e-17 per batch. Appending the duplicates after a
    # shuffled 0..n-1 instead puts them all in the last batch (the pad is shorter than
    # a batch): its mean fraction becomes (1 + (batch_size - pad) / n) / 2 >= 0.55, at
    # least 0.2 above 1 / batches here.
    assert_allclose(fractions.mean(axis=0), 1 / batches, rtol=0, atol=0.1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 30, 5), r"n must be >= 1 and whole; got 0"),
        ((100, 0, 5), r"batch_size must be >= 1 and whole; got 0"),
        ((100, 30, 0), r"rounds must be >= 1 and whole; got 0"),
        ((100, -1, 5), r"batch_size must be >= 1 and whole; got -1"),
        ((100, 2.5, 5), r"batch_size must be >= 1 and whole; got 2\.5"),
    ],
)
def test_schedule_rejects_bad_sizes(args, message):
    with pytest.raises(ValueError, match=message):
        nettrain_schedule(*args, seed=0)


# --------------------------------------------------------------------------------------
# ADAM
# --------------------------------------------------------------------------------------


def _hand_adam(grads, lr, b1, b2, eps):
    """NetTrain's ADAM worked in plain Python floats, one coordinate at a time."""
    size = len(grads[0])
    m, v, steps = [0.0] * size, [0.0] * size, []
    for t, g in enumerate(grads, start=1):
        step = []
        for i in range(size):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            scale = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            step.append(-scale * m[i] / (math.sqrt(v[i]) + eps))
        steps.append(step)
    return steps


def _run(optimizer, grads):
    params = jnp.zeros(len(grads[0]), dtype=jnp.float64)
    state = optimizer.init(params)
    out = []
    for g in grads:
        updates, state = optimizer.update(jnp.asarray(g, jnp.float64), state, params)
        out.append(np.asarray(updates))
    return out


def test_nettrain_adam_two_steps_by_hand():
    grads = [[0.3, -2.0, 1e-3], [-0.7, 0.5, 2e-3]]
    settings = dict(lr=0.1, b1=0.9, b2=0.999, eps=1e-5)
    want = _hand_adam(grads, **settings)
    got = _run(nettrain_adam(0.1, 0.9, 0.999, 1e-5), grads)

    # The same float64 operations in nearly the same order: both sides get beta^t
    # from a (near) correctly rounded power, 0.999^t for t <= 2 being equal on both,
    # and the dozen roundings that follow leave a few ulp; 1e-15 is ~4.5 ulp. (If the
    # powers ever differed by one ulp, 1 - beta2^t would amplify it ~500 times.)
    for g, w in zip(got, want, strict=True):
        assert_allclose(g, w, rtol=1e-15, atol=0)

    # The first step has a closed form: m = 0.1 g, v = 0.001 g^2, so
    # step = -0.1 sqrt(0.001) / 0.1 * 0.1 g / (sqrt(0.001) |g| + eps). In float64
    # 1 - 0.999 and 1 - 0.9 are 0.001 and 0.1 only to ~1e-15 relative; 1e-13 is ample.
    g1 = np.array(grads[0])
    first = -0.1 * np.sqrt(0.001) * g1 / (np.sqrt(0.001) * np.abs(g1) + 1e-5)
    assert_allclose(got[0], first, rtol=1e-13, atol=0)


def test_nettrain_adam_differs_from_optax_adam_on_tiny_gradients():
    tiny = [[1e-6], [1e-6]]
    ours = _run(nettrain_adam(0.1, 0.9, 0.999, 1e-5), tiny)
    theirs = _run(optax.adam(0.1, b1=0.9, b2=0.999, eps=1e-5), tiny)
    # NetTrain adds eps to sqrt(v) before bias correction: with sqrt(v1) = 3.2e-8 << eps
    # the first step is about 0.0316 * 1e-7 / 1e-5 = 3.2e-4. optax adds eps to the
    # corrected sqrt(v_hat) = 1e-6: step 0.1 * 1e-6 / 1.1e-5 = 9.1e-3. A factor ~29.
    assert_allclose(ours[0], [-3.152e-4], rtol=1e-3)
    assert_allclose(theirs[0], [-0.1 / 11], rtol=1e-12)
    assert abs(theirs[0][0]) > 20 * abs(ours[0][0])

    # With gradients of size 1 eps hardly matters and the two agree: relative gaps
    # eps / sqrt(v) ~ 3e-4 (ours) and eps / sqrt(v_hat) = 1e-5 (optax).
    unit = [[1.0], [-0.5]]
    assert_allclose(
        _run(nettrain_adam(0.1, 0.9, 0.999, 1e-5), unit)[0],
        _run(optax.adam(0.1, b1=0.9, b2=0.999, eps=1e-5), unit)[0],
        rtol=5e-4,
    )


def test_nettrain_adam_keeps_float32():
    optimizer = nettrain_adam(0.1, 0.9, 0.999, 1e-5)
    params = jnp.zeros(3, jnp.float32)
    updates, state = optimizer.update(jnp.ones(3, jnp.float32), optimizer.init(params))
    assert updates.dtype == jnp.float32 and state.mu.dtype == jnp.float32
    assert int(state.count) == 1


def test_make_optimizer_by_name():
    assert make_optimizer() is nettrain_adam(0.1, 0.9, 0.999, 1e-5)
    sgd = make_optimizer("sgd", learning_rate=0.5)
    (update,) = _run(sgd, [[2.0]])
    assert update.tolist() == [-1.0]  # -0.5 * 2, exact


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(learning_rate=0.0), r"learning_rate must be > 0; got 0\.0"),
        (dict(learning_rate=float("nan")), r"learning_rate must be > 0; got nan"),
        (dict(beta1=1.0), r"beta1 must be in \[0, 1\); got 1\.0"),
        (dict(beta2=-0.1), r"beta2 must be in \[0, 1\); got -0\.1"),
        (dict(eps=-1e-8), r"eps must be >= 0; got -1e-08"),
        (dict(eps=float("inf")), r"eps must be >= 0; got inf"),
    ],
)
@pytest.mark.parametrize("name", ["nettrain_adam", "adam"])
def test_bad_adam_settings_raise(name, settings, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer(name, **settings)


def test_bad_optimizer_name_and_sgd_rate_raise():
    with pytest.raises(
        ValueError, match=r"name must be one of .*'sgd'.*; got 'rmsprop'"
    ):
        make_optimizer("rmsprop")
    with pytest.raises(ValueError, match=r"learning_rate must be > 0; got -0\.1"):
        make_optimizer("sgd", learning_rate=-0.1)
