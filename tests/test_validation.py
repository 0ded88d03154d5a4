"""Overfitting and over-generalization measures on constructed loss curves.

Every curve here is built so that the answer is known by hand: where the validation
loss is least, whether it rose by more than the margin, in which rounds it lies below
or above the training loss. Borderline cases sit exactly on a margin (strict
comparisons: not counted) and one float64 step past it (counted); the margins used
there are powers of two so that ``1 + margin`` is exact.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from singdyn.validation import (
    Criteria,
    gap_rounds,
    judge,
    measures_record,
    over_generalization_measures,
    overfitting_measures,
)

# --------------------------------------------------------------------------------------
# Overfitting
# --------------------------------------------------------------------------------------


def _u_shaped(rounds=30, best=10, depth=0.1, rise=0.05):
    """Validation falls to 1 at ``best`` then rises linearly by ``rise``; training falls
    all the way from 2 to 1."""
    r = np.arange(rounds + 1)
    train = 2.0 - r / rounds
    val = np.where(
        r <= best,
        1.0 + depth * (best - r) / best,
        1.0 + rise * (r - best) / (rounds - best),
    )
    return train, val


def test_overfitting_found_on_a_u_shaped_validation_curve():
    train, val = _u_shaped()
    m = overfitting_measures(train, val)
    assert int(m.best_round) == 10
    assert float(m.best_validation_loss) == 1.0
    assert float(m.validation_rise) == pytest.approx(0.05, rel=1e-12)
    assert float(m.train_fall) == pytest.approx(1 - 1.0 / (2.0 - 10 / 30), rel=1e-12)
    assert bool(m.overfitting)


def test_no_overfitting_when_both_losses_keep_falling():
    r = np.arange(21)
    m = overfitting_measures(1 + np.exp(-r), 1.5 + np.exp(-r / 3))
    assert int(m.best_round) == 20
    assert float(m.validation_rise) == 0.0
    assert not bool(m.overfitting)


def test_no_overfitting_when_training_rises_with_validation():
    train, val = _u_shaped()
    train = train[::-1].copy()  # rising training loss
    assert not bool(overfitting_measures(train, val).overfitting)


def test_best_round_skips_the_start_and_takes_the_first_tie():
    # Least value at round 0 (the start) does not count: NetTrain returns the net of a
    # round, 1..R. Rounds 2 and 4 tie; the first wins.
    val = np.array([0.5, 1.0, 0.8, 0.9, 0.8, 1.2])
    train = np.linspace(2, 1, 6)
    m = overfitting_measures(train, val)
    assert int(m.best_round) == 2
    assert float(m.validation_rise) == pytest.approx(1.2 / 0.8 - 1, rel=1e-15)


def test_rise_exactly_at_the_margin_is_not_overfitting():
    criteria = Criteria(rise_margin=0.125, fall_margin=0.0)
    train = np.array([3.0, 2.0, 1.0])
    at_margin = np.array([2.0, 1.0, 1.125])  # exactly 1 * (1 + 0.125)
    past = at_margin.copy()
    past[-1] = np.nextafter(1.125, 2.0)
    assert not bool(
        overfitting_measures(train, at_margin, criteria=criteria).overfitting
    )
    assert bool(overfitting_measures(train, past, criteria=criteria).overfitting)


def test_fall_exactly_at_the_margin_is_not_overfitting():
    criteria = Criteria(rise_margin=0.0, fall_margin=0.25)
    val = np.array([2.0, 1.0, 1.5])
    at_margin = np.array([3.0, 1.0, 0.75])  # exactly 1 * (1 - 0.25)
    past = at_margin.copy()
    past[-1] = np.nextafter(0.75, 0.0)
    assert not bool(overfitting_measures(at_margin, val, criteria=criteria).overfitting)
    assert bool(overfitting_measures(past, val, criteria=criteria).overfitting)


def test_default_margins_separate_a_float32_wobble_from_a_real_rise():
    """A validation curve that moves by float32 rounding only (relative 1e-7) is not
    overfitting at the default margins; a 0.2% rise with a 0.2% fall is."""
    r = np.arange(101)
    train = 2.6e-3 * (1 - 2e-3 * r / 100)
    flat = np.full(101, 2.5e-3) * (1 + 1e-7 * np.sin(r))
    rising = 2.5e-3 * (1 + 2e-3 * r / 100)
    assert not bool(overfitting_measures(train, flat).overfitting)
    assert bool(overfitting_measures(train, rising).overfitting)


# --------------------------------------------------------------------------------------
# Over-generalization
# --------------------------------------------------------------------------------------


def _gap_curve(gaps, train=0.05):
    """A flat training loss and a validation loss ``train * (1 + gap)`` per round."""
    gaps = np.asarray(gaps, dtype=np.float64)
    return np.full(gaps.shape, train), train * (1 + gaps)


def test_below_early_then_above_is_over_generalization():
    #         round: 0    1    2     3    4    5    6    7    8
    train, val = _gap_curve([0.0, 0.1, 0.0, -0.2, -0.1, 0.0, 0.0, 0.0, 0.3])
    m = over_generalization_measures(train, val, criteria=Criteria(early_rounds=5))
    assert int(m.window) == 5
    assert int(m.first_below_round) == 3
    assert int(m.first_above_round) == 8
    assert int(m.least_early_gap_round) == 3
    assert float(m.least_early_gap) == pytest.approx(-0.2, abs=1e-15)
    assert int(m.greatest_gap_round) == 8
    assert int(m.rounds_below) == 2
    assert int(m.rounds_above) == 2  # rounds 1 and 8
    assert bool(m.over_generalization)


def test_gap_rounds_lists_the_rounds_on_each_side():
    #         round: 0     1    2     3     4      5    6    7    8
    train, val = _gap_curve([-0.5, 0.1, 0.0, -0.2, -0.1, 0.005, 0.0, 0.0, 0.3])
    below, above = gap_rounds(train, val)
    assert below == [3, 4]  # round 0 is the start, not counted; 0.5% is inside 1%
    assert above == [1, 8]
    m = over_generalization_measures(train, val)
    assert (len(below), len(above)) == (int(m.rounds_below), int(m.rounds_above))


def test_gap_rounds_needs_one_run():
    with pytest.raises(ValueError, match=r"one run; got curves of shape \(2, 3\)"):
        gap_rounds(np.ones((2, 3)), np.ones((2, 3)))


def test_below_only_after_the_early_window_does_not_count():
    train, val = _gap_curve([0.0, 0.0, 0.0, 0.0, -0.2, 0.3])
    m = over_generalization_measures(train, val, criteria=Criteria(early_rounds=3))
    assert int(m.first_below_round) == -1
    assert int(m.first_above_round) == -1
    assert not bool(m.over_generalization)


def test_below_without_a_later_rise_above_does_not_count():
    train, val = _gap_curve([0.0, -0.3, -0.1, 0.005, -0.2])  # 0.5% is within 1%
    m = over_generalization_measures(train, val)
    assert int(m.first_below_round) == 1
    assert int(m.first_above_round) == -1
    assert not bool(m.over_generalization)


def test_above_before_below_only_does_not_count():
    train, val = _gap_curve([0.0, 0.4, 0.4, -0.2, -0.2])
    m = over_generalization_measures(train, val)
    assert int(m.first_below_round) == 3
    assert not bool(m.over_generalization)


def test_below_at_the_start_alone_does_not_count():
    """Round 0 is the start, before any training: it is reported, not judged."""
    train, val = _gap_curve([-0.5, 0.0, 0.0, 0.2])
    m = over_generalization_measures(train, val)
    assert float(m.gap_at_start) == pytest.approx(-0.5)
    assert not bool(m.over_generalization)


def test_gap_exactly_at_the_margin_is_not_below_or_above():
    criteria = Criteria(gap_margin=0.25)
    train = np.ones(4)
    on = np.array([1.0, 0.75, 1.0, 1.25])  # exactly 1 -+ 0.25
    m = over_generalization_measures(train, on, criteria=criteria)
    assert not bool(m.over_generalization)
    # Each comparison on its own: a round exactly on the margin is neither below nor
    # above (the verdict alone would miss a non-strict "below", since nothing is above).
    assert (int(m.first_below_round), int(m.first_above_round)) == (-1, -1)
    assert (int(m.rounds_below), int(m.rounds_above)) == (0, 0)
    assert gap_rounds(train, on, criteria=criteria) == ([], [])

    past = on.copy()
    past[1] = np.nextafter(0.75, 0.0)
    past[3] = np.nextafter(1.25, 2.0)
    m = over_generalization_measures(train, past, criteria=criteria)
    assert (int(m.first_below_round), int(m.first_above_round)) == (1, 3)
    assert (int(m.rounds_below), int(m.rounds_above)) == (1, 1)
    assert bool(m.over_generalization)
    assert gap_rounds(train, past, criteria=criteria) == ([1], [3])


def test_window_is_cut_to_the_rounds_there_are():
    train, val = _gap_curve([0.0, -0.1, 0.1])
    m = over_generalization_measures(train, val, criteria=Criteria(early_rounds=20))
    assert int(m.window) == 2
    assert bool(m.over_generalization)


# --------------------------------------------------------------------------------------
# Batches, records, bad input
# --------------------------------------------------------------------------------------


def test_batched_measures_equal_one_run_at_a_time():
    rng = np.random.default_rng(0)
    train = 0.05 + 0.01 * rng.random((7, 31))
    val = 0.05 + 0.01 * rng.random((7, 31))
    criteria = Criteria(early_rounds=10)
    for measure in (overfitting_measures, over_generalization_measures):
        batched = measure(train, val, criteria=criteria)
        for i in range(7):
            single = measure(train[i], val[i], criteria=criteria)
            for got, want in zip(batched, single, strict=True):
                assert_array_equal(np.asarray(got)[i], want)
    verdicts = judge(train, val, criteria=criteria)
    assert verdicts.overfitting.shape == verdicts.over_generalization.shape == (7,)


def test_measures_record_is_plain_json_with_none_for_no_round():
    train, val = _gap_curve([0.0, 0.0, 0.0])
    record = measures_record(over_generalization_measures(train, val))
    assert record["first_below_round"] is None
    assert record["over_generalization"] is False
    assert isinstance(record["rounds_below"], int)
    with pytest.raises(ValueError, match=r"one run; window has shape \(2,\)"):
        measures_record(over_generalization_measures(np.ones((2, 3)), np.ones((2, 3))))


BAD_CURVES = [
    (np.ones(3), np.ones(4), r"one shape.*\(3,\) and \(4,\)"),
    (np.ones(1), np.ones(1), r"R >= 1; got \(1,\)"),
    (np.ones((2, 2, 2)), np.ones((2, 2, 2)), r"got \(2, 2, 2\)"),
    (np.array([1.0, 0.0]), np.ones(2), r"train_loss must be finite and > 0.*0\.0"),
    (np.ones(2), np.array([1.0, np.nan]), r"validation_loss must be finite.*nan"),
]


@pytest.mark.parametrize(("train", "val", "message"), BAD_CURVES)
def test_bad_curves_are_refused(train, val, message):
    for measure in (overfitting_measures, over_generalization_measures):
        with pytest.raises(ValueError, match=message):
            measure(train, val)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("rise_margin", -0.1, r"rise_margin must be a number in \[0, 1\); got -0\.1"),
        ("gap_margin", 1.0, r"gap_margin must be a number in \[0, 1\); got 1\.0"),
        ("fall_margin", float("nan"), r"fall_margin must be .*got nan"),
        ("early_rounds", 0, r"early_rounds must be an integer >= 1; got 0"),
        ("early_rounds", 2.5, r"early_rounds must be an integer >= 1; got 2\.5"),
    ],
)
def test_bad_criteria_are_refused(setting, value, message):
    with pytest.raises(ValueError, match=message):
        Criteria(**{setting: value})
