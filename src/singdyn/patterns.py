"""Classify learning paths into the five kinds of dynamics of the paper's Definition 9.

The paper names five kinds of dynamics near the singular regions (after Guo, Wei, Ong
et al. 2018) but gives no numeric test for them. This module makes the test explicit.
A path is what one training run went through at rounds ``0..R``: the xi coordinates
``a(t)`` and ``b(t)`` and the full training loss at each round's end, together with the
teacher's own loss on the same data. With biases ``a`` is a vector and its size
``|a|`` is the Euclidean norm. Every threshold is a field of :class:`Criteria`.

Terms (besides ``S``, names in code font are fields of :class:`Criteria`):

- *excess*: loss minus ``min(final loss, teacher loss)``; the trained net may end
  below the teacher's loss, since it fits the noise. ``S`` is the excess at the start.
- *band*: loss at most ``max(reach_abs, reach_fraction * S)`` above the teacher's.
- *plateau*: ``plateau_min_rounds`` consecutive rounds over which the loss stays out
  of the band and within a strip of height ``plateau_flat_fraction * S`` (it
  neither falls nor rises by more); overlapping windows join.
- *reaches*: the path reaches the teacher at its first round in the band after its
  last plateau round (its first round in the band if it has no plateau); without
  such a round it never does. Optimizer jitter that later throws the loss out of
  the band again does not undo reaching.
- *near R0*: ``|a| <= near_a``; *near R1*: ``|b + 1| <= near_b`` or
  ``|b - 1| <= near_b``. The path *crosses* a line ``b = +-1`` when it is found on
  both sides of it.
- *approach*: the rounds up to the reaching round (all rounds if never reached). A
  path *visits* R0 or R1 when a round of its approach after the start is near it, or
  a step between two rounds passes within reach of it (a jump across a line counts).

The first rule that holds gives the label:

====  ======================  =======  =============================================
rule  label                   reached  and
====  ======================  =======  =============================================
1     ``overlap``             no       a plateau, at least ``near_fraction`` of its
                                       rounds near R0
2     ``output_weight_zero``  no       a plateau, at least ``near_fraction`` of its
                                       rounds near R1
3     ``fast_convergence``    yes      by round ``fast_rounds``; no plateau;
                                       visits neither R0 nor R1
4     ``cross_elimination``   yes      the approach crosses ``b = -1`` or ``b = +1``
                                       with a plateau round within ``near_b`` of it
5     ``near_elimination``    yes      a round of the approach after the start is
                                       within ``near_b`` of ``b = -1`` or ``b = +1``
                                       and the approach does not cross that line
6     ``other``               either   none of the above, or a non-finite value
====  ======================  =======  =============================================

Rules 3 to 5 exclude one another except 4 and 5 (a path may cross one line and come
near the other), so the order matters only between rules 1 and 2 and between 4 and 5.
Moves after the path reaches the teacher (drifting along a valley of equally good
nets) do not count. The rules read only recorded rounds: a stall shorter than
``plateau_min_rounds`` rounds is not a plateau.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

__all__ = [
    "LABELS",
    "Criteria",
    "PathFeatures",
    "classify_history",
    "classify_path",
    "classify_paths",
    "label_codes",
    "label_names",
    "path_features",
]

LABELS = (
    "overlap",
    "cross_elimination",
    "fast_convergence",
    "near_elimination",
    "output_weight_zero",
    "other",
)
"""Label names; a label's code is its index here."""

OVERLAP, CROSS_ELIMINATION, FAST_CONVERGENCE, NEAR_ELIMINATION = 0, 1, 2, 3
OUTPUT_WEIGHT_ZERO, OTHER = 4, 5
_CODE = {name: code for code, name in enumerate(LABELS)}

# Paths handled per vectorised pass: about 3 MB per float64 (paths, 201) array.
_CHUNK_PATHS = 2048

# The lines b = -1 (w31 = 0) and b = +1 (w32 = 0) that make up R1 in xi coordinates.
R1_LINES = (-1.0, 1.0)


@dataclass(frozen=True)
class Criteria:
    """The numbers the classification rules use; see the module docstring.

    Losses here are close to one another (about 0.92 with differences near 1e-5 for
    the Gaussian NLL of Example 1), so loss thresholds are fractions of the path's
    own starting excess ``S``, with an absolute floor for paths that start at the
    teacher's loss.

    Attributes:
        reach_abs: least height of the band above the teacher's loss, in loss units:
            well above the float32 spacing of a loss near 1 (6e-8) and well below
            the loss differences of Example 1 (1e-5).
        reach_fraction: height of the band above the teacher's loss as a fraction
            of ``S``: by default a path reaches the teacher once 95% of its starting
            excess is gone.
        fast_rounds: a fast path reaches the teacher by this round (the paper's
            fast case runs 5 rounds).
        plateau_min_rounds: least number L of rounds a plateau lasts: it covers the
            recorded rounds ``t..t + L`` for some t.
        plateau_flat_fraction: over a plateau's rounds the loss moves (highest minus
            lowest) by less than this fraction of ``S``.
        near_a: ``|a|`` at or below this is near the overlap singularity R0.
        near_b: ``|b + 1|`` or ``|b - 1|`` at or below this is near the elimination
            singularity R1.
        near_fraction: a plateau lies on R0 (or R1) when at least this fraction of
            its rounds are near it.
    """

    reach_abs: float = 1e-6
    reach_fraction: float = 0.05
    fast_rounds: int = 10
    plateau_min_rounds: int = 5
    plateau_flat_fraction: float = 0.1
    near_a: float = 0.05
    near_b: float = 0.1
    near_fraction: float = 0.5

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "int":
                low = 1 if field.name == "plateau_min_rounds" else 0
                if isinstance(value, bool) or int(value) != value or value < low:
                    raise ValueError(
                        f"Criteria: {field.name} must be an integer >= {low}; "
                        f"got {value!r}"
                    )
            elif not (np.isfinite(value) and value > 0):
                raise ValueError(
                    f"Criteria: {field.name} must be finite and > 0; got {value!r}"
                )
        if self.reach_fraction >= 1 or self.near_fraction > 1:
            raise ValueError(
                "Criteria: reach_fraction must be < 1 and near_fraction <= 1; got "
                f"{self.reach_fraction!r} and {self.near_fraction!r}"
            )


class PathFeatures(NamedTuple):
    """What the rules read off each of M paths; every field has shape ``(M,)``.

    For a path with a non-finite value only ``finite`` and ``reached`` (False) mean
    anything.

    Attributes:
        finite: all of the path's values are finite.
        reached: the path reaches the teacher.
        reach_round: the round at which it does, or -1 if it does not.
        plateau_rounds: number of rounds that belong to a plateau.
        plateau_near_r0: fraction of the plateau rounds near R0 (0 without one).
        plateau_near_r1: fraction of the plateau rounds near R1 (0 without one).
        visits_r0: the approach after the start visits R0.
        visits_r1: the approach after the start visits R1.
        stalled_crossing: the approach crosses a line ``b = +-1`` and a plateau round
            lies within ``near_b`` of that line.
        near_uncrossed: a round of the approach after the start lies within
            ``near_b`` of a line ``b = +-1`` that the approach does not cross.
    """

    finite: np.ndarray
    reached: np.ndarray
    reach_round: np.ndarray
    plateau_rounds: np.ndarray
    plateau_near_r0: np.ndarray
    plateau_near_r1: np.ndarray
    visits_r0: np.ndarray
    visits_r1: np.ndarray
    stalled_crossing: np.ndarray
    near_uncrossed: np.ndarray


def label_names(codes) -> np.ndarray:
    """Label names of integer codes, as a string array of the codes' shape.

    Raises:
        ValueError: on a code outside ``0..len(LABELS) - 1``.
    """
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() >= len(LABELS)):
        raise ValueError(
            f"label_names: codes must lie in [0, {len(LABELS) - 1}]; got "
            f"[{codes.min()}, {codes.max()}]"
        )
    return np.asarray(LABELS)[codes]


def label_codes(names) -> np.ndarray:
    """Integer codes of label names (one name or an array of them).

    Raises:
        ValueError: on a name not in :data:`LABELS`.
    """
    names = np.asarray(names)
    unknown = [n for n in names.ravel().tolist() if n not in _CODE]
    if unknown:
        raise ValueError(f"label_codes: names must be in {LABELS}; got {unknown[0]!r}")
    return np.vectorize(_CODE.__getitem__, otypes=[np.int64])(names)


def classify_paths(
    a, b, loss, teacher_loss, *, criteria: Criteria | None = None
) -> np.ndarray:
    """Label M learning paths at once with the rules of the module docstring.

    Args:
        a: ``(M, R + 1)`` xi coordinate a at rounds ``0..R``, or ``(M, R + 1, k)``
            when a is a vector (a network with biases: ``(a, c)``).
        b: ``(M, R + 1)`` xi coordinate b.
        loss: ``(M, R + 1)`` full training loss at each round's end (index 0: the
            start), as ``History.train_loss``.
        teacher_loss: the teacher's loss on the same data: a scalar or ``(M,)``.
        criteria: the thresholds; ``Criteria()`` when None.

    Returns:
        ``(M,)`` int64 label codes, indices into :data:`LABELS`.

    Raises:
        ValueError: on inconsistent shapes, fewer than 2 rounds or a non-finite
            teacher loss.

    Example:
        >>> codes = classify_paths(h.coordinate("a"), h.coordinate("b"),
        ...                        h.train_loss, teacher_loss)
        >>> label_names(codes)
    """
    criteria = Criteria() if criteria is None else criteria
    return _decide(path_features(a, b, loss, teacher_loss, criteria=criteria), criteria)


def classify_path(a, b, loss, teacher_loss, *, criteria: Criteria | None = None) -> str:
    """Label one learning path; see :func:`classify_paths`.

    Args:
        a: ``(R + 1,)`` xi coordinate a, or ``(R + 1, k)`` when a is a vector.
        b: ``(R + 1,)`` xi coordinate b.
        loss: ``(R + 1,)`` full training loss at each round's end.
        teacher_loss: the teacher's loss on the same data.
        criteria: the thresholds; ``Criteria()`` when None.

    Returns:
        One of :data:`LABELS`.

    Raises:
        ValueError: as :func:`classify_paths`.
    """
    a, b, loss = (np.asarray(v)[None] for v in (a, b, loss))
    code = classify_paths(a, b, loss, np.float64(teacher_loss), criteria=criteria)
    return LABELS[int(code[0])]


def classify_history(
    history, teacher_loss, *, criteria: Criteria | None = None
) -> np.ndarray:
    """Label every run of a :class:`singdyn.train.History` by its training loss.

    With biases the vector a is ``(a, c)``.

    Returns:
        ``(M,)`` int64 label codes, indices into :data:`LABELS`.
    """
    a = history.coordinate("a")
    if "c" in history.names:
        a = np.stack([a, history.coordinate("c")], axis=-1)
    return classify_paths(
        a, history.coordinate("b"), history.train_loss, teacher_loss, criteria=criteria
    )


def path_features(
    a, b, loss, teacher_loss, *, criteria: Criteria | None = None
) -> PathFeatures:
    """Measure what the classification rules read, for M paths at once.

    Args and raises as :func:`classify_paths`.

    Returns:
        The :class:`PathFeatures` of every path.
    """
    criteria = Criteria() if criteria is None else criteria
    a, b, loss, teacher_loss = _check_paths(a, b, loss, teacher_loss)
    # Chunks of paths keep the working arrays small enough to stay in cache.
    parts = [
        _chunk_features(
            a[i : i + _CHUNK_PATHS],
            b[i : i + _CHUNK_PATHS],
            loss[i : i + _CHUNK_PATHS],
            teacher_loss[i : i + _CHUNK_PATHS],
            criteria,
        )
        for i in range(0, max(loss.shape[0], 1), _CHUNK_PATHS)
    ]
    return PathFeatures(*(np.concatenate(field) for field in zip(*parts, strict=True)))


def _chunk_features(a, b, loss, teacher_loss, criteria: Criteria) -> PathFeatures:
    """:func:`path_features` of ``(m, R + 1)`` arrays, a as ``(m, R + 1, k)``."""
    a, b, loss = (np.asarray(v, dtype=np.float64) for v in (a, b, loss))
    finite = (
        np.isfinite(a).all(axis=(1, 2))
        & np.isfinite(b).all(axis=1)
        & np.isfinite(loss).all(axis=1)
    )
    if not finite.all():
        # Non-finite paths are labelled "other"; zeros keep the arithmetic quiet.
        a, b, loss = (np.where(_expand(finite, v), v, 0.0) for v in (a, b, loss))
    last = loss.shape[1] - 1

    # ---- loss: band and plateaus
    floor = np.minimum(loss[:, -1], teacher_loss)
    excess = loss - floor[:, None]
    start_excess = np.maximum(excess[:, 0], 0.0)
    band = np.maximum(criteria.reach_abs, criteria.reach_fraction * start_excess)
    inside = loss - teacher_loss[:, None] <= band[:, None]
    plateau = _plateau_mask(excess, ~inside, start_excess, criteria)

    # ---- reaching: the first round in the band after the last plateau round
    last_stall = last - _first_true(plateau[:, ::-1])  # -1 without a plateau
    after_stall = np.arange(last + 1)[None, :] > last_stall[:, None]
    reach_round = _first_true(inside & after_stall)
    reached = (reach_round <= last) & finite
    reach_round = np.where(reached, reach_round, -1)

    # ---- where the plateaus lie
    count = plateau.sum(axis=1)
    near_r0 = _size(a) <= criteria.near_a
    offsets = [b - line for line in R1_LINES]
    near_line = [np.abs(offset) <= criteria.near_b for offset in offsets]
    near_r1 = near_line[0] | near_line[1]
    per_round = np.maximum(count, 1)

    # ---- the approach: rounds 0..end, end the reaching round (R if never reached)
    end = np.where(reached, reach_round, last)
    crosses = [_crosses(offset, end) for offset in offsets]
    stalled_crossing = np.zeros_like(reached)
    near_uncrossed = np.zeros_like(reached)
    for cross, near in zip(crosses, near_line, strict=True):
        stalled_crossing |= cross & (plateau & near).any(axis=1)
        near_uncrossed |= ~cross & _near_after_start(near, end)
    visits_r0 = _near_after_start(near_r0, end) | _step_passes(a, end, criteria.near_a)
    visits_r1 = _near_after_start(near_r1, end) | crosses[0] | crosses[1]

    return PathFeatures(
        finite=finite,
        reached=reached,
        reach_round=reach_round,
        plateau_rounds=count,
        plateau_near_r0=(plateau & near_r0).sum(axis=1) / per_round,
        plateau_near_r1=(plateau & near_r1).sum(axis=1) / per_round,
        visits_r0=visits_r0,
        visits_r1=visits_r1,
        stalled_crossing=stalled_crossing,
        near_uncrossed=near_uncrossed,
    )


def _decide(features: PathFeatures, criteria: Criteria) -> np.ndarray:
    """``(M,)`` label codes from features, the first rule that holds winning."""
    f = features
    stalled = f.plateau_rounds > 0
    unreached = f.finite & ~f.reached
    fast = (
        f.reached
        & (f.reach_round <= criteria.fast_rounds)
        & ~stalled
        & ~f.visits_r0
        & ~f.visits_r1
    )
    rules = [
        unreached & stalled & (f.plateau_near_r0 >= criteria.near_fraction),
        unreached & stalled & (f.plateau_near_r1 >= criteria.near_fraction),
        fast,
        f.reached & f.stalled_crossing,
        f.reached & f.near_uncrossed,
    ]
    codes = [
        OVERLAP,
        OUTPUT_WEIGHT_ZERO,
        FAST_CONVERGENCE,
        CROSS_ELIMINATION,
        NEAR_ELIMINATION,
    ]
    return np.select(rules, codes, default=OTHER).astype(np.int64)


def _plateau_mask(excess, outside, start_excess, criteria: Criteria) -> np.ndarray:
    """``(M, R + 1)`` True on rounds inside a plateau window.

    A window covers rounds ``t..t + L`` (L = ``plateau_min_rounds``); it is flat when
    every one of its rounds is out of the band and its highest and lowest loss differ
    by less than ``plateau_flat_fraction * S``.
    """
    width = criteria.plateau_min_rounds
    m, n = excess.shape
    if n <= width:
        return np.zeros((m, n), dtype=bool)
    # Each (M, n - width) array below holds one entry per window start t.
    height = _window_reduce(excess, width + 1, np.maximum) - _window_reduce(
        excess, width + 1, np.minimum
    )
    flat = height < criteria.plateau_flat_fraction * start_excess[:, None]
    window = flat & _window_reduce(outside, width + 1, np.logical_and)

    # Round s lies in a window starting at t for some t in [s - width, s].
    padding = np.zeros((m, width), dtype=bool)
    padded = np.concatenate([padding, window, padding], axis=1)  # (M, n + width)
    return _window_reduce(padded, width + 1, np.logical_or)


def _window_reduce(values, length, op) -> np.ndarray:
    """``op`` over every run of ``length`` consecutive columns: ``(M, n - length + 1)``.

    ``op`` is an idempotent binary ufunc (maximum, minimum, logical and/or), so two
    overlapping runs of a power-of-two length cover any run; this takes
    ``log2(length)`` passes instead of ``length``.
    """
    n = values.shape[1]
    out, span = values, 1  # out[:, t] = op over columns t .. t + span - 1
    while 2 * span <= length:
        out = op(out[:, :-span], out[:, span:])
        span *= 2
    starts = n - length + 1
    return op(out[:, :starts], out[:, length - span : length - span + starts])


def _first_true(mask) -> np.ndarray:
    """``(M,)`` column of the first True in each row; the row length where none."""
    first = mask.argmax(axis=1)
    hit = np.take_along_axis(mask, first[:, None], axis=1)[:, 0]
    return np.where(hit, first, mask.shape[1])


def _near_after_start(near, end) -> np.ndarray:
    """``(M,)`` True where ``near`` holds at a round in ``1..end``."""
    return _first_true(near[:, 1:]) + 1 <= end


def _crosses(offset, end) -> np.ndarray:
    """``(M,)`` True where ``offset`` takes both signs strictly on rounds ``0..end``."""
    return (_first_true(offset > 0) <= end) & (_first_true(offset < 0) <= end)


def _size(a) -> np.ndarray:
    """``(M, R + 1)`` Euclidean norm of ``a`` given as ``(M, R + 1, k)``."""
    if a.shape[2] == 1:
        return np.abs(a[..., 0])
    return np.sqrt((a * a).sum(axis=2))


def _step_passes(a, end, near) -> np.ndarray:
    """``(M,)`` True where a step between rounds ``t - 1`` and ``t <= end`` passes
    within ``near`` of ``a = 0`` at a point strictly between the two rounds.

    ``a`` is ``(M, R + 1, k)``; a step goes from ``p = a[t - 1]`` to ``p + d`` and
    comes closest to the origin at ``p + s d`` with ``s = -p.d / d.d``. For a scalar
    a that point lies strictly inside the step exactly when a changes sign, and it
    is then the origin itself.
    """
    if a.shape[2] == 1:
        passes = a[:, :-1, 0] * a[:, 1:, 0] < 0
    else:
        p = a[:, :-1]
        d = a[:, 1:] - p  # (M, R, k)
        dd = (d * d).sum(axis=2)
        s = np.divide(-(p * d).sum(axis=2), dd, where=dd > 0, out=np.zeros_like(dd))
        closest = p + s[..., None] * d
        close = (closest * closest).sum(axis=2) <= near * near
        passes = (s > 0) & (s < 1) & close
    return _first_true(passes) + 1 <= end


def _expand(values, like) -> np.ndarray:
    """``values`` (M,) with trailing axes of length 1 to broadcast against ``like``."""
    return values.reshape(values.shape + (1,) * (like.ndim - 1))


def _check_paths(a, b, loss, teacher_loss):
    """Checked arrays, a as ``(M, R + 1, k)`` and the teacher loss as float64 (M,)."""
    a, b, loss = (np.asarray(v) for v in (a, b, loss))
    for name, value in (("a", a), ("b", b), ("loss", loss)):
        if value.dtype.kind not in "fiub":
            raise ValueError(
                f"classify_paths: {name} must hold real numbers; got {value.dtype}"
            )
    if loss.ndim != 2 or loss.shape[1] < 2:
        raise ValueError(
            "classify_paths: loss must have shape (M, R + 1) with R >= 1; got shape "
            f"{loss.shape}"
        )
    if b.shape != loss.shape:
        raise ValueError(
            f"classify_paths: b must have the shape of loss {loss.shape}; got {b.shape}"
        )
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[:2] != loss.shape or a.shape[2] == 0:
        raise ValueError(
            f"classify_paths: a must have shape {loss.shape} or {loss.shape} + (k,); "
            f"got {a.shape}"
        )
    teacher = np.asarray(teacher_loss, dtype=np.float64)
    if teacher.ndim > 1 or (teacher.ndim == 1 and teacher.shape != loss.shape[:1]):
        raise ValueError(
            f"classify_paths: teacher_loss must be a scalar or of shape "
            f"({loss.shape[0]},); got shape {teacher.shape}"
        )
    if not np.all(np.isfinite(teacher)):
        raise ValueError("classify_paths: teacher_loss must be finite; got a NaN")
    return a, b, loss, np.broadcast_to(teacher, loss.shape[:1])
