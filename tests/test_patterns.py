"""The classifier of learning paths into the kinds of the paper's Definition 9.

Synthetic paths of each kind come from simple formulas (exponential decay, a plateau
that drops, a plateau that never drops); every criterion is then moved just across
the value a path shows, and the label must flip as the module docstring says. A plain
loop over rounds, written from the docstring, checks the vectorised code on random
paths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from singdyn.patterns import (
    LABELS,
    Criteria,
    classify_history,
    classify_path,
    classify_paths,
    label_codes,
    label_names,
    path_features,
)
from singdyn.train import History

TEACHER_LOSS = 0.92  # about Example 1's Gaussian NLL with noise sigma = 0.05
ROUNDS = 100
T = np.arange(ROUNDS + 1, dtype=np.float64)
# Relative nudge that moves a threshold across a measured value; far above the
# float64 rounding (1e-16) of the quantities compared, far below the path's scale.
NUDGE = 1e-9


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _stall_forever(a, b):
    """Loss falling from 1e-4 to 3e-5 above the teacher's and staying: never reached."""
    return dict(a=a, b=b, loss=TEACHER_LOSS + 3e-5 + 7e-5 * np.exp(-T / 2))


def overlap_path():
    """a falls to 0 and stays; b stays far from +-1."""
    return _stall_forever(a=0.15 * np.exp(-T / 3), b=-1.8 + 0.3 * (1 - np.exp(-T / 30)))


def output_weight_zero_path():
    """b falls onto -1 and stays; a stays near 0.6."""
    return _stall_forever(a=0.6 + 0.1 * np.exp(-T / 10), b=-1 + 0.2 * np.exp(-T / 3))


def stalled_drop_loss(drop_round=50.0):
    """Plateau 5e-5 above the teacher's loss, then a drop to 1e-5 below it."""
    level = 6e-5 + 5e-5 * np.exp(-T / 2)
    return TEACHER_LOSS - 1e-5 + level * _sigmoid((drop_round - T) / 2)


def cross_elimination_path():
    """b crosses -1 slowly (round 25) during a plateau, then the loss drops."""
    return dict(a=np.full_like(T, 0.3), b=-1.5 + 0.02 * T, loss=stalled_drop_loss())


def near_elimination_path():
    """b comes to -0.95 at round 3 and leaves again while the loss falls."""
    return dict(
        a=0.3 + 0.4 * np.exp(-T / 5),
        b=-0.6 - 0.35 * (T / 3) * np.exp(1 - T / 3),
        loss=TEACHER_LOSS - 1e-5 + 2.1e-4 * np.exp(-T / 1.5),
    )


def stalled_near_elimination_path():
    """b waits at -0.95 through a plateau, then leaves without crossing -1."""
    b = np.interp(T, [0, 10, 45, 60, ROUNDS], [-0.6, -0.95, -0.95, -0.5, 0.0])
    return dict(a=np.full_like(T, 0.4), b=b, loss=stalled_drop_loss())


def fast_convergence_path():
    """The loss is in the band by round 2; a leaves 0.05 at once, b stays near 0."""
    return dict(
        a=0.25 - 0.2 * np.exp(-T),
        b=0.8 * (1 - np.exp(-T / 20)),
        loss=TEACHER_LOSS - 1e-5 + 1.1e-4 * np.exp(-T),
    )


def slow_convergence_path():
    """Reaches the teacher only at round 60, away from R0 and R1.

    A decay this slow (30 rounds per factor e) moves less than 0.1 S in 5 rounds
    from round 13 on: the criteria count it as a stall, so the path is not fast.
    """
    return dict(
        a=np.full_like(T, 0.5),
        b=np.zeros_like(T),
        loss=TEACHER_LOSS - 1e-5 + 1.1e-4 * np.exp(-T / 30),
    )


def stuck_elsewhere_path():
    """Never reaches the teacher, stalled away from R0 and R1."""
    return _stall_forever(a=np.full_like(T, 0.5), b=np.zeros_like(T))


KNOWN = [
    (overlap_path, "overlap"),
    (output_weight_zero_path, "output_weight_zero"),
    (cross_elimination_path, "cross_elimination"),
    (near_elimination_path, "near_elimination"),
    (stalled_near_elimination_path, "near_elimination"),
    (fast_convergence_path, "fast_convergence"),
    (slow_convergence_path, "other"),
    (stuck_elsewhere_path, "other"),
]


def _label(path, **criteria):
    return classify_path(
        **path, teacher_loss=TEACHER_LOSS, criteria=Criteria(**criteria)
    )


def _features(path, **criteria):
    """The path's :class:`PathFeatures` as plain scalars."""
    one = {k: np.asarray(v)[None] for k, v in path.items()}
    found = path_features(
        **one, teacher_loss=TEACHER_LOSS, criteria=Criteria(**criteria)
    )
    return {name: value[0].item() for name, value in found._asdict().items()}


def _excess_scale(path):
    """S: the start's loss minus min(final loss, teacher's loss)."""
    loss = path["loss"]
    return loss[0] - min(loss[-1], TEACHER_LOSS)


# ---- one path of each kind


@pytest.mark.parametrize(("build", "expected"), KNOWN)
def test_synthetic_path_gets_its_label(build, expected):
    assert _label(build()) == expected


def test_synthetic_paths_show_the_features_their_labels_rest_on():
    overlap = _features(overlap_path())
    assert not overlap["reached"] and overlap["plateau_rounds"] > 80
    assert overlap["plateau_near_r0"] > 0.9 and overlap["plateau_near_r1"] == 0

    cross = _features(cross_elimination_path())
    assert cross["reached"] and cross["stalled_crossing"]
    # In the band once 6e-5 sigmoid((50 - t) / 2) - 1e-5 <= 0.05 S = 5.5e-6, that is
    # once sigmoid <= 0.258, t >= 52.1.
    assert cross["reach_round"] == 53

    fast = _features(fast_convergence_path())
    assert fast["reach_round"] == 2 and fast["plateau_rounds"] == 0
    assert not (fast["visits_r0"] or fast["visits_r1"])


def test_vectorised_form_labels_a_mixed_batch_in_order():
    paths = [build() for build, _ in KNOWN]
    stacked = {k: np.stack([p[k] for p in paths]) for k in ("a", "b", "loss")}
    codes = classify_paths(**stacked, teacher_loss=TEACHER_LOSS)
    assert codes.dtype == np.int64 and codes.shape == (len(KNOWN),)
    assert list(label_names(codes)) == [label for _, label in KNOWN]


def test_batches_larger_than_one_chunk_keep_their_order():
    # 40401 paths = the 201 x 201 phase map; the work is split into chunks inside.
    paths = [build() for build, _ in KNOWN]
    order = np.arange(40401) % len(KNOWN)
    stacked = {k: np.stack([p[k] for p in paths])[order] for k in ("a", "b", "loss")}
    codes = classify_paths(**stacked, teacher_loss=TEACHER_LOSS)
    expected = label_codes([label for _, label in KNOWN])[order]
    assert np.array_equal(codes, expected)


def test_per_path_teacher_losses_are_used_per_path():
    path = fast_convergence_path()
    stacked = {k: np.stack([v, v]) for k, v in path.items()}
    # A teacher 1e-4 lower puts the second copy's final loss far out of the band.
    codes = classify_paths(**stacked, teacher_loss=[TEACHER_LOSS, TEACHER_LOSS - 1e-4])
    assert list(label_names(codes)) == ["fast_convergence", "other"]


def test_float32_histories_get_the_same_labels():
    # Training records float32; its rounding (6e-8 near 0.92) is far below the
    # synthetic paths' margins to every threshold.
    for build, expected in KNOWN:
        path = {k: v.astype(np.float32) for k, v in build().items()}
        assert _label(path) == expected


# ---- each criterion, just inside and just outside


def _ends_above_the_teacher(offset=2e-6):
    """Fast path: the excess falls tenfold per two rounds, then holds ``offset`` from
    round 3 on."""
    excess = np.where(T >= 3, offset, 1e-4 * np.exp(-T * np.log(10) / 2))
    return dict(fast_convergence_path(), loss=TEACHER_LOSS + excess)


def test_reach_fraction_decides_reaching():
    path = _ends_above_the_teacher()
    ratio = (path["loss"][-1] - TEACHER_LOSS) / _excess_scale(path)
    assert ratio == pytest.approx(0.02, rel=1e-9)
    assert _label(path, reach_fraction=ratio * (1 + NUDGE)) == "fast_convergence"
    # Out of the band, the flat tail is a plateau away from R0 and R1.
    assert _label(path, reach_fraction=ratio * (1 - NUDGE)) == "other"


def test_reach_abs_decides_reaching_when_the_fraction_is_smaller():
    path = _ends_above_the_teacher()
    excess = path["loss"][-1] - TEACHER_LOSS
    tiny = dict(reach_fraction=1e-9)
    assert _label(path, reach_abs=excess, **tiny) == "fast_convergence"
    assert _label(path, reach_abs=np.nextafter(excess, 0), **tiny) == "other"


def test_a_path_below_the_teachers_loss_has_reached_it():
    # Noise lets a trained net end below the teacher's own training loss.
    path = fast_convergence_path()
    assert path["loss"][-1] < TEACHER_LOSS
    assert _features(path)["reached"]


def test_fast_rounds_decides_fast_convergence():
    path = fast_convergence_path()
    first = _features(path)["reach_round"]
    assert _label(path, fast_rounds=first) == "fast_convergence"
    assert _label(path, fast_rounds=first - 1) == "other"


def test_plateau_min_rounds_decides_a_stall():
    # Start 1e-4 above the teacher, hold 6e-5 through rounds 1..7 (6 rounds), then
    # fall by steps of 2e-5 (twice 0.1 S: not flat) to an unreached 2e-5.
    excess = np.array([10, 6, 6, 6, 6, 6, 6, 6, 4, 2]) * 1e-5
    path = dict(a=np.full(10, 0.01), b=np.full(10, -1.8), loss=TEACHER_LOSS + excess)
    assert _label(path, plateau_min_rounds=6) == "overlap"
    assert _label(path, plateau_min_rounds=7) == "other"


def test_plateau_flat_fraction_decides_a_stall():
    # After round 0 the loss falls 1e-6 per round: a window of 5 rounds moves 5e-6.
    excess = np.concatenate([[1e-4], 5e-5 - 1e-6 * np.arange(30)])
    path = dict(a=np.full(31, 0.01), b=np.full(31, -1.8), loss=TEACHER_LOSS + excess)
    moved = excess[1] - excess[6]  # the same up to 1e-16 for every window
    share = moved / _excess_scale(path)
    assert _label(path, plateau_flat_fraction=share * (1 + 1e-6)) == "overlap"
    assert _label(path, plateau_flat_fraction=share * (1 - 1e-6)) == "other"


def test_a_plateau_ends_where_the_loss_enters_the_band():
    # The converged tail of a path is flat, but it is in the band: no plateau.
    assert _features(fast_convergence_path())["plateau_rounds"] == 0
    # Flat from the window at round 4 on: 7e-5 exp(-t / 2) (1 - exp(-2.5)) < 0.1 S.
    assert _features(overlap_path())["plateau_rounds"] == ROUNDS - 3  # rounds 4..100


def test_near_a_is_inclusive():
    path = overlap_path()
    path["a"] = np.where(T >= 3, 0.03, path["a"])
    assert _label(path, near_a=0.03) == "overlap"
    assert _label(path, near_a=np.nextafter(0.03, 0)) == "other"


def test_near_b_is_inclusive():
    path = output_weight_zero_path()
    path["b"] = np.where(T >= 3, -0.92, path["b"])
    gap = abs(-0.92 - -1.0)  # 0.08 as the classifier computes it
    assert _label(path, near_b=gap) == "output_weight_zero"
    assert _label(path, near_b=np.nextafter(gap, 0)) == "other"


def test_near_fraction_is_inclusive():
    path = output_weight_zero_path()
    # b sits on -1 for 47 of the 97 plateau rounds (4..100): rounds 4..50.
    path["b"] = np.where(T <= 50, -1.0, 0.0)
    share = _features(path)["plateau_near_r1"]
    assert share == 47 / 97
    assert _label(path, near_fraction=share) == "output_weight_zero"
    assert _label(path, near_fraction=np.nextafter(share, 1)) == "other"


def test_the_norm_of_a_vector_a_decides_near_r0():
    path = overlap_path()
    # Each component below 0.05 but the norm above it: (0.04, 0.04) has 0.0566.
    for component, expected in ((0.03, "overlap"), (0.04, "other")):
        vector = np.stack([path["a"], np.full_like(T, component)], axis=-1)
        vector[T >= 3] = component
        assert _label(dict(path, a=vector)) == expected


def test_touching_b_equal_minus_one_is_not_crossing():
    path = cross_elimination_path()
    for peak, expected in (
        (-1.0, "near_elimination"),
        (-1 + 1e-12, "cross_elimination"),
    ):
        # b rises to the peak by round 25, holds it through the plateau, then falls.
        b = np.interp(T, [0, 25, 40, ROUNDS], [-1.5, peak, peak, -1.5])
        assert _label(dict(path, b=b)) == expected


def test_crossing_without_a_stall_near_the_line_is_other():
    path = fast_convergence_path()
    path["b"] = np.where(T >= 1, -1.5, -0.6)  # jumps across -1 in round 1
    assert _label(path) == "other"
    # A stall far from the line it crosses is no stalled crossing either.
    path = cross_elimination_path()
    path["b"] = np.where(T < 46, -1.5, -0.5)  # stalls at -1.5, crosses at round 46
    found = _features(path)
    assert found["reached"] and found["plateau_rounds"] > 0
    assert not found["stalled_crossing"]
    assert _label(path) == "other"


# ---- the start, the steps between rounds, and what follows reaching


def test_starting_near_r0_does_not_spoil_fast_convergence():
    path = fast_convergence_path()
    assert path["a"][0] == pytest.approx(0.05) and path["a"][1] > 0.05
    assert _label(path) == "fast_convergence"
    path["a"] = np.where(T == 1, 0.05, path["a"])
    assert _label(path) == "other"


def test_a_jump_across_a_equal_zero_visits_r0():
    path = fast_convergence_path()
    path["a"] = np.where(T >= 1, -0.2, 0.2)
    assert _features(path)["visits_r0"]
    assert _label(path) == "other"


@pytest.mark.parametrize(
    ("offset", "expected"), [(0.04, "other"), (0.06, "fast_convergence")]
)
def test_a_vector_step_passing_the_origin_visits_r0(offset, expected):
    # The step from (0.2, c) to (-0.2, c) passes the origin at distance c.
    path = fast_convergence_path()
    first = np.where(T >= 1, -0.2, 0.2)
    path["a"] = np.stack([first, np.full_like(T, offset)], axis=-1)
    assert _label(path) == expected


def test_drifting_near_r1_after_reaching_does_not_count():
    path = fast_convergence_path()
    path["b"] = np.where(T >= 20, 0.95, path["b"])
    assert _features(path)["reach_round"] == 2
    assert _label(path) == "fast_convergence"


def test_jitter_out_of_the_band_after_reaching_does_not_undo_it():
    path = fast_convergence_path()
    # Kicked 1e-4 up at rounds 30 and 100 (the last): too short for a plateau.
    path["loss"] = np.where(np.isin(T, [30, ROUNDS]), TEACHER_LOSS + 1e-4, path["loss"])
    path["b"] = np.where(T == 30, -1.0, path["b"])  # after reaching: does not count
    assert _features(path)["reach_round"] == 2
    assert _label(path) == "fast_convergence"


def test_a_stall_after_reaching_undoes_it():
    # Reached by round 2, then thrown onto a = 0 where it stalls to the end.
    path = fast_convergence_path()
    late = T >= 60
    path["loss"] = np.where(late, TEACHER_LOSS + 3e-5, path["loss"])
    path["a"] = np.where(late, 0.0, path["a"])
    found = _features(path)
    assert not found["reached"] and found["reach_round"] == -1
    assert _label(path) == "overlap"


def test_an_early_dip_into_the_band_does_not_end_the_approach():
    # In the band at round 1 only, then the stalled crossing of the cross path.
    path = cross_elimination_path()
    path["loss"] = np.where(T == 1, TEACHER_LOSS, path["loss"])
    found = _features(path)
    assert found["reach_round"] == 53 and found["stalled_crossing"]
    assert _label(path) == "cross_elimination"


# ---- precedence


def test_a_plateau_near_both_regions_is_overlap():
    path = overlap_path()
    path["b"] = np.full_like(T, -1.0)
    found = _features(path)
    assert found["plateau_near_r0"] > 0.5 and found["plateau_near_r1"] == 1.0
    assert _label(path) == "overlap"


def test_a_stalled_crossing_of_one_line_beats_nearing_the_other():
    path = cross_elimination_path()
    path["b"] = np.where(T == 48, 0.95, path["b"])
    found = _features(path)
    assert found["stalled_crossing"] and found["near_uncrossed"]
    assert _label(path) == "cross_elimination"


def test_a_non_finite_path_is_other_and_leaves_the_others_alone():
    bad = overlap_path()
    bad["loss"] = np.where(T == 40, np.nan, bad["loss"])
    paths = [bad, fast_convergence_path()]
    stacked = {k: np.stack([p[k] for p in paths]) for k in ("a", "b", "loss")}
    codes = classify_paths(**stacked, teacher_loss=TEACHER_LOSS)
    assert list(label_names(codes)) == ["other", "fast_convergence"]


# ---- labels, inputs and the History helper


def test_label_codes_round_trip():
    codes = np.arange(len(LABELS))
    assert tuple(label_names(codes)) == LABELS
    assert np.array_equal(label_codes(LABELS), codes)
    assert label_codes("other") == LABELS.index("other")
    assert label_names(label_codes(np.array([["overlap"], ["other"]]))).shape == (2, 1)


def test_bad_labels_raise():
    with pytest.raises(ValueError, match="label_names: codes must lie in"):
        label_names([0, 6])
    with pytest.raises(ValueError, match="label_codes: names must be in"):
        label_codes(["overlap", "plateau"])


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        (dict(reach_abs=0.0), "reach_abs must be finite and > 0"),
        (dict(near_b=float("nan")), "near_b must be finite and > 0"),
        (dict(plateau_min_rounds=0), "plateau_min_rounds must be an integer >= 1"),
        (dict(fast_rounds=2.5), "fast_rounds must be an integer >= 0"),
        (dict(reach_fraction=1.0), "reach_fraction must be < 1"),
        (dict(near_fraction=1.5), "near_fraction <= 1"),
    ],
)
def test_bad_criteria_raise(setting, match):
    with pytest.raises(ValueError, match=match):
        Criteria(**setting)


def test_bad_inputs_raise():
    path = fast_convergence_path()
    one = {k: v[None] for k, v in path.items()}
    with pytest.raises(ValueError, match="loss must have shape"):
        classify_paths(one["a"], one["b"], one["loss"][:, :1], TEACHER_LOSS)
    with pytest.raises(ValueError, match="b must have the shape of loss"):
        classify_paths(one["a"], one["b"][:, :-1], one["loss"], TEACHER_LOSS)
    with pytest.raises(ValueError, match="a must have shape"):
        classify_paths(one["a"][:, :-1], one["b"], one["loss"], TEACHER_LOSS)
    with pytest.raises(ValueError, match="teacher_loss must be a scalar or of shape"):
        classify_paths(**one, teacher_loss=[TEACHER_LOSS] * 2)
    with pytest.raises(ValueError, match="teacher_loss must be finite"):
        classify_paths(**one, teacher_loss=float("nan"))
    with pytest.raises(ValueError, match="a must hold real numbers"):
        classify_paths(one["a"].astype(complex), one["b"], one["loss"], TEACHER_LOSS)


def test_no_paths_give_no_labels():
    empty = np.zeros((0, ROUNDS + 1))
    assert classify_paths(empty, empty, empty, TEACHER_LOSS).shape == (0,)


@pytest.mark.parametrize("bias", [False, True])
def test_classify_history_reads_a_b_and_the_training_loss(bias):
    paths = [build() for build, _ in KNOWN]
    names = ("a", "c", "b", "v", "d", "w") if bias else ("a", "b", "v", "w")
    params = np.zeros((len(paths), ROUNDS + 1, len(names)))
    params[..., names.index("a")] = np.stack([p["a"] for p in paths])
    params[..., names.index("b")] = np.stack([p["b"] for p in paths])
    if bias:  # c = 0.03 moves every |a| = norm(a, c) off its scalar value
        params[..., names.index("c")] = 0.03
    history = History(
        names=names,
        params=params,
        round_loss=np.zeros((len(paths), ROUNDS)),
        train_loss=np.stack([p["loss"] for p in paths]),
    )
    a = params[..., [names.index(n) for n in ("a", "c")]] if bias else params[..., 0]
    expected = classify_paths(
        a, params[..., names.index("b")], history.train_loss, TEACHER_LOSS
    )
    assert np.array_equal(classify_history(history, TEACHER_LOSS), expected)


# ---- an independent route: a plain loop over rounds, from the module docstring


def _reference_label(a, b, loss, teacher, criteria: Criteria) -> str:
    """The rules of the module docstring, one path, one round at a time."""
    a = np.asarray(a, dtype=np.float64).reshape(len(loss), -1)
    b, loss = (np.asarray(v, dtype=np.float64) for v in (b, loss))
    if not all(np.isfinite(v).all() for v in (a, b, loss)):
        return "other"
    last = len(loss) - 1
    rounds = range(last + 1)

    # Loss and band.
    floor = min(loss[last], teacher)
    excess = [loss[t] - floor for t in rounds]
    scale = max(excess[0], 0.0)
    band = max(criteria.reach_abs, criteria.reach_fraction * scale)
    inside = [loss[t] - teacher <= band for t in rounds]

    # Plateaus.
    width = criteria.plateau_min_rounds
    plateau = [False] * (last + 1)
    for t in range(last + 1 - width):
        span = excess[t : t + width + 1]
        flat = max(span) - min(span) < criteria.plateau_flat_fraction * scale
        if flat and not any(inside[t : t + width + 1]):
            plateau[t : t + width + 1] = [True] * (width + 1)

    # Reaching: first round in the band after the last plateau round.
    last_stall = max((t for t in rounds if plateau[t]), default=-1)
    reach = next((t for t in rounds if t > last_stall and inside[t]), None)
    reached = reach is not None
    end = reach if reached else last

    # Nearness, crossings and visits on the approach (rounds 0..end).
    def size(v):
        return abs(v[0]) if len(v) == 1 else math.sqrt(sum(x * x for x in v))

    near_r0 = [size(a[t]) <= criteria.near_a for t in rounds]
    near = {
        line: [abs(b[t] - line) <= criteria.near_b for t in rounds] for line in (-1, 1)
    }
    near_r1 = [near[-1][t] or near[1][t] for t in rounds]
    approach = range(end + 1)
    after_start = range(1, end + 1)
    crosses = {
        line: any(b[t] - line > 0 for t in approach)
        and any(b[t] - line < 0 for t in approach)
        for line in (-1, 1)
    }

    def step_passes(p, q):
        d = q - p
        dd = sum(x * x for x in d)
        if dd == 0:
            return False
        s = -sum(x * y for x, y in zip(p, d, strict=True)) / dd
        closest = p + s * d
        within = sum(x * x for x in closest) <= criteria.near_a * criteria.near_a
        return 0 < s < 1 and within

    visits_r0 = any(near_r0[t] for t in after_start) or any(
        step_passes(a[t - 1], a[t]) for t in after_start
    )
    visits_r1 = any(near_r1[t] for t in after_start) or any(crosses.values())

    def stalled_near(flags):
        return sum(p and f for p, f in zip(plateau, flags, strict=True))

    # The rules, in order.
    stalled = sum(plateau)
    share_r0 = stalled_near(near_r0) / max(stalled, 1)
    share_r1 = stalled_near(near_r1) / max(stalled, 1)
    if not reached and stalled and share_r0 >= criteria.near_fraction:
        return "overlap"
    if not reached and stalled and share_r1 >= criteria.near_fraction:
        return "output_weight_zero"
    if not reached:
        return "other"
    fast = reach <= criteria.fast_rounds and not (stalled or visits_r0 or visits_r1)
    if fast:
        return "fast_convergence"
    if any(crosses[line] and stalled_near(near[line]) for line in (-1, 1)):
        return "cross_elimination"
    if any(
        not crosses[line] and any(near[line][t] for t in after_start)
        for line in (-1, 1)
    ):
        return "near_elimination"
    return "other"


# Values near the thresholds of the default criteria, so random paths meet them.
A_VALUES = st.sampled_from([0.0, 0.03, -0.05, 0.05, 0.07, -0.2]) | st.floats(
    -0.3, 0.3, allow_subnormal=False
)
B_VALUES = st.sampled_from([-1.2, -1.1, -1.0, -0.9, 0.0, 0.9, 1.0, 1.05]) | st.floats(
    -1.5, 1.5, allow_subnormal=False
)
B_STEPS = st.sampled_from([0.0, 0.0, 0.04, -0.04, 0.3, -0.3])
# Per-round loss changes: flat, small, and large falls and rises, in units of 1e-5.
LOSS_STEPS = st.sampled_from([0.0, 0.0, 0.0, -0.2, 0.5, -1.0, -4.0, 3.0])


@st.composite
def random_paths(draw):
    m = draw(st.integers(1, 4))
    n = draw(st.integers(2, 16))
    k = draw(st.sampled_from([None, 1, 2]))
    shape_a = (m, n) if k is None else (m, n, k)
    a = draw(arrays(np.float64, shape_a, elements=A_VALUES))
    b = draw(arrays(np.float64, (m, n), elements=B_VALUES))
    if draw(st.booleans()):  # a walk, so that b lingers near and crosses +-1
        b = b[:, :1] + np.cumsum(draw(arrays(np.float64, (m, n), elements=B_STEPS)), 1)
    steps = draw(arrays(np.float64, (m, n), elements=LOSS_STEPS)) * 1e-5
    start = draw(
        arrays(np.float64, (m, 1), elements=st.sampled_from([0.0, 1e-6, 1e-4]))
    )
    loss = TEACHER_LOSS + start + np.cumsum(steps, axis=1)
    if draw(st.booleans()):
        loss[draw(st.integers(0, m - 1)), draw(st.integers(0, n - 1))] = np.nan
    criteria = Criteria(
        plateau_min_rounds=draw(st.integers(1, 4)),
        fast_rounds=draw(st.integers(0, 6)),
        near_fraction=draw(st.sampled_from([0.25, 0.5, 1.0])),
    )
    return a, b, loss, criteria


@settings(max_examples=300, deadline=None)
@given(random_paths())
def test_vectorised_and_one_path_forms_agree_with_a_plain_loop(case):
    a, b, loss, criteria = case
    codes = classify_paths(a, b, loss, TEACHER_LOSS, criteria=criteria)
    one_by_one = [
        classify_path(a[i], b[i], loss[i], TEACHER_LOSS, criteria=criteria)
        for i in range(len(loss))
    ]
    looped = [
        _reference_label(a[i], b[i], loss[i], TEACHER_LOSS, criteria)
        for i in range(len(loss))
    ]
    assert list(label_names(codes)) == one_by_one == looped
