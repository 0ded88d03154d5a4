"""Classify learning paths into the five kinds of dynamics of SPEC Definition 9.

The paper names five kinds of dynamics near the singular regions (after Guo, Wei, Ong
et al. 2018) but gives no numeric test for them. This module makes the test explicit.
A path is what one training run went through at rounds ``0..R``: the xi coordinates
``a(t)`` and ``b(t)`` and the full training loss at each round's end, together with the
teacher's own loss on the same data. With biases ``a`` is a vector and its size
``|a|`` is the Euclidean norm. Every threshold is a field of :class:`Criteria`.

Terms (``S``, ``L``, ``near_a``, ... are the fields of :class:`Criteria`):

- *excess*: loss minus ``min(final loss, teacher loss)``; the trained net may end
  below the teacher's loss, since it fits the noise. ``S`` is the excess at the start.
- *band*: loss within ``max(reach_abs, reach_fraction * S)`` of the teacher's loss or
  below it. The path *reaches* the teacher when its final loss is in the band; it
  *settles* at the round from which it stays in the band to the end.
- *plateau*: ``plateau_min_rounds`` consecutive rounds over which the loss stays out
  of the band and within a strip of height ``plateau_flat_fraction * S`` (it
  neither falls nor rises by more); overlapping windows join.
- *near R0*: ``|a| <= near_a``; *near R1*: ``|b + 1| <= near_b`` or
  ``|b - 1| <= near_b``. The path *crosses* a line ``b = +-1`` when it is found on
  both sides of it.
- *approach*: the rounds up to the settling round (all rounds if never reached). A
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
3     ``fast_convergence``    yes      in the band by round ``fast_rounds``; no
                                       plateau; visits neither R0 nor R1
4     ``cross_elimination``   yes      the approach crosses ``b = -1`` or ``b = +1``
                                       with a plateau round within ``near_b`` of it
5     ``near_elimination``    yes      a round of the approach after the start is
                                       within ``near_b`` of ``b = -1`` or ``b = +1``
                                       and the approach does not cross that line
6     ``other``               either   none of the above, or a non-finite value
====  ======================  =======  =============================================

Rules 3 to 5 exclude one another except 4 and 5 (a path may cross one line and come
near the other), so the order matters only between rules 1 and 2 and between 4 and 5.
Moves after the path settles (drifting along a valley of equally good nets) do not
count. The rules read only recorded rounds: a stall shorter than
``plateau_min_rounds`` rounds is not a plateau.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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

# The lines b = -1 (w31 = 0) and b = +1 (w32 = 0) that make up R1 (SPEC section 2).
R1_LINES = (-1.0, 1.0)


@dataclass(frozen=True)
class Criteria:
    """The numbers the classification rules use; see the module docstring.

    Losses here are close to one another (about 0.92 with differences near 1e-5 for
    the Gaussian NLL of Example 1), so loss thresholds are fractions of the path's
    own starting excess ``S``, with an absolute floor for paths that start at the
    teacher's loss.

    Attributes:
        reach_abs: smallest half-width of the band around the teacher's loss, in loss
            units. 1e-6 is ten times the rounding of a float32 mean loss near 1.
        reach_fraction: the band's half-width as a fraction of ``S``: a path reaches
            the teacher once 95% of its starting excess is gone.
        fast_rounds: a fast path is in the band by this round (the paper's fast
            case runs 5 rounds).
        plateau_min_rounds: least number of consecutive rounds a plateau lasts.
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

    Attributes:
        finite: all of the path's values and the teacher's loss are finite.
        reached: the final loss is in the band.
        reach_round: first round in the band, or -1 if none.
        settle_round: round from which the path stays in the band, or -1 if the
            final loss is not in it.
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
    settle_round: np.ndarray
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
    finite = (
        np.isfinite(a).all(axis=(1, 2))
        & np.isfinite(b).all(axis=1)
        & np.isfinite(loss).all(axis=1)
    )
    # Non-finite paths are labelled "other"; zeros keep the arithmetic quiet.
    a, b, loss = (np.where(_expand(finite, v), v, 0.0) for v in (a, b, loss))
    rounds = np.arange(loss.shape[1])

    # ---- loss: band, reaching, settling
    floor = np.minimum(loss[:, -1], teacher_loss)
    excess = loss - floor[:, None]
    start_excess = np.maximum(excess[:, 0], 0.0)
    band = np.maximum(criteria.reach_abs, criteria.reach_fraction * start_excess)
    inside = loss - teacher_loss[:, None] <= band[:, None]
    reached = inside[:, -1]
    reach_round = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    last_out = np.where(inside.all(axis=1), -1, _last_true(~inside))
    settle_round = np.where(reached, last_out + 1, -1)

    # ---- plateaus and where they lie
    plateau = _plateau_mask(excess, ~inside, start_excess, criteria)
    count = plateau.sum(axis=1)
    near_r0 = np.linalg.norm(a, axis=-1) <= criteria.near_a
    near_line = [np.abs(b - line) <= criteria.near_b for line in R1_LINES]
    near_r1 = near_line[0] | near_line[1]
    per_round = np.maximum(count, 1)

    # ---- the approach: rounds up to settling, or all of them
    end = np.where(reached, settle_round, loss.shape[1] - 1)
    approach = rounds[None, :] <= end[:, None]
    after_start = approach & (rounds[None, :] >= 1)
    crosses = [_crosses(b - line, approach) for line in R1_LINES]
    stalled_crossing = np.zeros_like(reached)
    near_uncrossed = np.zeros_like(reached)
    for cross, near in zip(crosses, near_line, strict=True):
        stalled_crossing |= cross & (plateau & near).any(axis=1)
        near_uncrossed |= ~cross & (after_start & near).any(axis=1)
    visits_r0 = (after_start & near_r0).any(axis=1) | _step_passes(
        a, approach, criteria.near_a
    )
    visits_r1 = (after_start & near_r1).any(axis=1) | crosses[0] | crosses[1]

    return PathFeatures(
        finite=finite,
        reached=reached & finite,
        reach_round=reach_round,
        settle_round=settle_round,
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
    # Count of out-of-band rounds in each window, from a running sum.
    running = np.concatenate([np.zeros((m, 1), np.int64), outside.cumsum(axis=1)], 1)
    out_count = running[:, width + 1 :] - running[:, : n - width]  # (M, n - width)
    spans = sliding_window_view(excess, width + 1, axis=1)  # (M, n - width, width + 1)
    height = spans.max(axis=2) - spans.min(axis=2)
    flat = height < criteria.plateau_flat_fraction * start_excess[:, None]
    window = flat & (out_count == width + 1)

    # Round s lies in a window starting at t for some t in [s - width, s].
    starts = np.concatenate([np.zeros((m, 1), np.int64), window.cumsum(axis=1)], 1)
    s = np.arange(n)
    low = np.clip(s - width, 0, n - width)
    high = np.clip(s + 1, 0, n - width)
    return starts[:, high] - starts[:, low] > 0


def _crosses(offset, mask) -> np.ndarray:
    """``(M,)`` True where ``offset`` takes both signs strictly on the masked rounds."""
    low = np.where(mask, offset, np.inf).min(axis=1)
    high = np.where(mask, offset, -np.inf).max(axis=1)
    return (low < 0) & (high > 0)


def _step_passes(a, approach, near) -> np.ndarray:
    """``(M,)`` True where a step between two rounds of the approach passes within
    ``near`` of ``a = 0`` at a point strictly between its rounds.

    ``a`` is ``(M, R + 1, k)``; a step goes from ``p = a[t - 1]`` to ``p + d`` and
    comes closest to the origin at ``p + s d`` with ``s = -p.d / d.d``.
    """
    p = a[:, :-1]
    d = a[:, 1:] - p  # (M, R, k)
    dd = np.einsum("mrk,mrk->mr", d, d)
    pd = np.einsum("mrk,mrk->mr", p, d)
    s = np.divide(-pd, dd, out=np.zeros_like(dd), where=dd > 0)
    closest = p + s[..., None] * d
    close = np.einsum("mrk,mrk->mr", closest, closest) <= near**2
    return ((s > 0) & (s < 1) & close & approach[:, 1:]).any(axis=1)


def _last_true(mask) -> np.ndarray:
    """``(M,)`` index of the last True along axis 1 (0 where there is none)."""
    return mask.shape[1] - 1 - mask[:, ::-1].argmax(axis=1)


def _expand(values, like) -> np.ndarray:
    """``values`` (M,) with trailing axes of length 1 to broadcast against ``like``."""
    return values.reshape(values.shape + (1,) * (like.ndim - 1))


def _check_paths(a, b, loss, teacher_loss):
    """Arrays as float64 with a as ``(M, R + 1, k)`` and the teacher loss as (M,)."""
    b = np.asarray(b, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
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
