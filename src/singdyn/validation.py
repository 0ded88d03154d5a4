"""Overfitting and over-generalization read off loss curves (the paper's Examples 2
and 3).

The paper calls a run *overfitting* when its training loss falls while its validation
loss rises, and *over-generalizing* when early in training the validation loss falls
below the training loss and later rises above it. It gives no numbers for either. This
module makes both tests explicit, as pure functions of the loss curves; every threshold
is a field of :class:`Criteria`.

Curves are given per round ``0..R`` (index 0: the start, index r: the end of round r),
as ``History.train_loss`` and ``History.validation_loss`` hold them, one run as
``(R + 1,)`` arrays or M runs as ``(M, R + 1)``. Which training loss to compare: the
validation loss of round r is that of the net at the round's end, so the fair partner
is the training loss of the same net over the whole training set (``train_loss``), not
NetTrain's round loss, the mean of batch losses met while the net still moved during
the round (lagging behind, and counting padded duplicates). The round loss can be
passed too, to see what a reading of NetTrain's round-loss plot would conclude.

Terms (``rise_margin``, ... are the fields of :class:`Criteria`):

- *best round*: the round in ``1..R`` of least validation loss, first on ties: the net
  NetTrain returns when given a validation set.
- *overfitting*: from the best round to the end, the validation loss rose by more than
  ``rise_margin`` of its least value, and the training loss fell by more than
  ``fall_margin`` of its value at the best round.
- *below* / *above* at round r: the validation loss is below
  ``(1 - gap_margin) * train`` / above ``(1 + gap_margin) * train`` at that round.
- *over-generalization*: the validation loss is below the training loss at some round
  of the early window ``1..min(early_rounds, R)`` and above it at some later round (up
  to R).

All comparisons are strict, so a curve exactly at a margin does not count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "Criteria",
    "OverfittingMeasures",
    "OverGeneralizationMeasures",
    "Verdicts",
    "overfitting_measures",
    "over_generalization_measures",
    "judge",
    "gap_rounds",
    "measures_record",
]


@dataclass(frozen=True)
class Criteria:
    """The thresholds of the two verdicts; see the module docstring.

    Losses here are mean squared errors near the noise variance (0.0025 in Example 2)
    or well above it (0.03 to 0.2 in Example 3), so every margin is relative to a loss.

    Attributes:
        rise_margin: the validation loss at the end must exceed its least value by
            more than this fraction of it. 1e-3 lies far above float32 rounding of a
            mean loss (about 1e-6 relative) and below the rise that fitting the noise
            with two trained coordinates gives at 100 points (about 2 p / n = 4%).
        fall_margin: the training loss must fall by more than this fraction of its
            value at the best round: a fall float32 rounding cannot produce.
        gap_margin: the validation loss is below (above) the training loss when it
            is under (over) it by more than this fraction of the training loss: 1%
            keeps two curves drawn on top of each other from counting as a crossing.
        early_rounds: the window ``1..early_rounds`` in which the validation loss
            must go below the training loss (the paper's 20-round run).
    """

    rise_margin: float = 1e-3
    fall_margin: float = 1e-5
    gap_margin: float = 0.01
    early_rounds: int = 20

    def __post_init__(self):
        for name in ("rise_margin", "fall_margin", "gap_margin"):
            value = getattr(self, name)
            if not (np.isfinite(value) and 0 <= value < 1):
                raise ValueError(
                    f"Criteria: {name} must be a number in [0, 1); got {value!r}"
                )
        value = self.early_rounds
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(
                f"Criteria: early_rounds must be an integer >= 1; got {value!r}"
            )


class OverfittingMeasures(NamedTuple):
    """Measures of overfitting; each field has shape ``()`` for one run, ``(M,)`` for M.

    Attributes:
        best_round: round in ``1..R`` of least validation loss (first on ties).
        best_validation_loss: the validation loss there.
        final_validation_loss: the validation loss at round R.
        validation_rise: ``final / best - 1`` of the validation loss.
        best_train_loss: the training loss at the best round.
        final_train_loss: the training loss at round R.
        train_fall: ``1 - final / best`` of the training loss.
        overfitting: the verdict.
    """

    best_round: np.ndarray
    best_validation_loss: np.ndarray
    final_validation_loss: np.ndarray
    validation_rise: np.ndarray
    best_train_loss: np.ndarray
    final_train_loss: np.ndarray
    train_fall: np.ndarray
    overfitting: np.ndarray


class OverGeneralizationMeasures(NamedTuple):
    """Measures of over-generalization; fields ``()`` for one run, ``(M,)`` for M.

    The *gap* at round r is ``validation / train - 1``: negative when the validation
    loss is the lower one.

    Attributes:
        window: the early window's last round, ``min(early_rounds, R)``.
        gap_at_start: the gap at round 0 (not part of the verdict).
        least_early_gap: the least gap over rounds ``1..window``.
        least_early_gap_round: its round.
        greatest_gap: the greatest gap over rounds ``1..R``.
        greatest_gap_round: its round.
        final_gap: the gap at round R.
        rounds_below: number of rounds in ``1..R`` with the validation loss below.
        rounds_above: number of rounds in ``1..R`` with the validation loss above.
        first_below_round: first round of the window with the validation loss
            below, or -1.
        first_above_round: first round after that with the validation loss above,
            or -1.
        over_generalization: the verdict.
    """

    window: np.ndarray
    gap_at_start: np.ndarray
    least_early_gap: np.ndarray
    least_early_gap_round: np.ndarray
    greatest_gap: np.ndarray
    greatest_gap_round: np.ndarray
    final_gap: np.ndarray
    rounds_below: np.ndarray
    rounds_above: np.ndarray
    first_below_round: np.ndarray
    first_above_round: np.ndarray
    over_generalization: np.ndarray


class Verdicts(NamedTuple):
    """Both verdicts: bool arrays of shape ``()`` for one run or ``(M,)`` for M."""

    overfitting: np.ndarray
    over_generalization: np.ndarray


def overfitting_measures(
    train_loss, validation_loss, *, criteria: Criteria | None = None
) -> OverfittingMeasures:
    """Overfitting from the best-validation round to the end.

    Args:
        train_loss: ``(R + 1,)`` or ``(M, R + 1)`` training loss at the end of rounds
            ``0..R`` (``History.train_loss``).
        validation_loss: the validation loss, same shape.
        criteria: the thresholds; ``Criteria()`` when None.

    Returns:
        The :class:`OverfittingMeasures`.

    Raises:
        ValueError: on shapes that differ, fewer than 1 round, or a loss that is not
            finite and > 0.

    Example:
        >>> m = overfitting_measures([3.0, 2.0, 1.5], [3.0, 1.0, 2.0])
        >>> int(m.best_round), bool(m.overfitting)
        (1, True)
    """
    criteria = Criteria() if criteria is None else criteria
    train, val, single = _curves(train_loss, validation_loss)
    runs = np.arange(train.shape[0])

    best = np.argmin(val[:, 1:], axis=1) + 1
    best_val, final_val = val[runs, best], val[:, -1]
    best_train, final_train = train[runs, best], train[:, -1]
    rose = final_val > best_val * (1 + criteria.rise_margin)
    fell = final_train < best_train * (1 - criteria.fall_margin)

    measures = OverfittingMeasures(
        best_round=best,
        best_validation_loss=best_val,
        final_validation_loss=final_val,
        validation_rise=final_val / best_val - 1,
        best_train_loss=best_train,
        final_train_loss=final_train,
        train_fall=1 - final_train / best_train,
        overfitting=rose & fell,
    )
    return _unbatch(measures, single)


def over_generalization_measures(
    train_loss, validation_loss, *, criteria: Criteria | None = None
) -> OverGeneralizationMeasures:
    """Validation loss below the training loss early, above it later.

    Args:
        train_loss: ``(R + 1,)`` or ``(M, R + 1)`` training loss at the end of rounds
            ``0..R`` (``History.train_loss``; see the module docstring for why not
            the round loss).
        validation_loss: the validation loss, same shape.
        criteria: the thresholds; ``Criteria()`` when None.

    Returns:
        The :class:`OverGeneralizationMeasures`.

    Raises:
        ValueError: on shapes that differ, fewer than 1 round, or a loss that is not
            finite and > 0.

    Example:
        >>> m = over_generalization_measures([1.0, 1.0, 1.0], [1.0, 0.9, 1.1])
        >>> int(m.first_below_round), int(m.first_above_round)
        (1, 2)
    """
    criteria = Criteria() if criteria is None else criteria
    train, val, single = _curves(train_loss, validation_loss)
    rounds = np.arange(train.shape[1])  # 0..R
    window = min(criteria.early_rounds, train.shape[1] - 1)
    in_window = (rounds >= 1) & (rounds <= window)

    gap = val / train - 1  # (M, R + 1)
    below, above = _sides(train, val, criteria)
    first_below = _first(below & in_window)
    # Rounds after the first below; none when there is no such round.
    after = np.where(first_below < 0, rounds[-1], first_below)[:, None]
    first_above = _first(above & (rounds[None, :] > after))

    early_gap = np.where(in_window, gap, np.inf)
    late_gap = np.where(rounds >= 1, gap, -np.inf)
    measures = OverGeneralizationMeasures(
        window=np.full(train.shape[0], window),
        gap_at_start=gap[:, 0],
        least_early_gap=early_gap.min(axis=1),
        least_early_gap_round=early_gap.argmin(axis=1),
        greatest_gap=late_gap.max(axis=1),
        greatest_gap_round=late_gap.argmax(axis=1),
        final_gap=gap[:, -1],
        rounds_below=below[:, 1:].sum(axis=1),
        rounds_above=above[:, 1:].sum(axis=1),
        first_below_round=first_below,
        first_above_round=first_above,
        over_generalization=first_above >= 0,
    )
    return _unbatch(measures, single)


def gap_rounds(
    train_loss, validation_loss, *, criteria: Criteria | None = None
) -> tuple[list[int], list[int]]:
    """The rounds of one run where the validation loss is below, and above, the
    training loss by more than ``gap_margin`` of it.

    Round 0, the start, is left out as in :func:`over_generalization_measures`.

    Args:
        train_loss: ``(R + 1,)`` training loss at the end of rounds ``0..R``.
        validation_loss: the validation loss, same shape.
        criteria: the thresholds; ``Criteria()`` when None.

    Returns:
        Two increasing lists of rounds in ``1..R``: below, then above.

    Raises:
        ValueError: on curves of more than one run, or as
            :func:`over_generalization_measures`.

    Example:
        >>> gap_rounds([1.0, 1.0, 1.0, 1.0], [1.0, 0.9, 1.0, 1.1])
        ([1], [3])
    """
    criteria = Criteria() if criteria is None else criteria
    train, val, single = _curves(train_loss, validation_loss)
    if not single:
        raise ValueError(
            f"gap_rounds: needs the curves of one run; got curves of shape "
            f"{train.shape}"
        )
    below, above = _sides(train[0, 1:], val[0, 1:], criteria)
    rounds = np.arange(1, train.shape[1])  # 1..R
    return rounds[below].tolist(), rounds[above].tolist()


def judge(train_loss, validation_loss, *, criteria: Criteria | None = None) -> Verdicts:
    """Both verdicts for one run (``(R + 1,)`` curves) or M runs (``(M, R + 1)``)."""
    overfitting = overfitting_measures(train_loss, validation_loss, criteria=criteria)
    general = over_generalization_measures(
        train_loss, validation_loss, criteria=criteria
    )
    return Verdicts(
        overfitting=overfitting.overfitting,
        over_generalization=general.over_generalization,
    )


def measures_record(measures: NamedTuple) -> dict:
    """One run's measures as plain JSON values; a round of -1 ("none") becomes None.

    Raises:
        ValueError: if the measures hold more than one run.
    """
    record = {}
    for name, value in measures._asdict().items():
        value = np.asarray(value)
        if value.ndim != 0:
            raise ValueError(
                f"measures_record: needs the measures of one run; {name} has shape "
                f"{value.shape}"
            )
        value = value.item()
        if name.endswith("_round") and value == -1:
            value = None
        record[name] = value
    return record


def _curves(train_loss, validation_loss) -> tuple[np.ndarray, np.ndarray, bool]:
    """Check two curves and return them as ``(M, R + 1)`` float64 and whether the
    input was one run."""
    train = np.asarray(train_loss, dtype=np.float64)
    val = np.asarray(validation_loss, dtype=np.float64)
    if train.shape != val.shape or train.ndim not in (1, 2) or train.shape[-1] < 2:
        raise ValueError(
            "loss curves: train_loss and validation_loss must have one shape, (R + 1,)"
            f" or (M, R + 1) with R >= 1; got {train.shape} and {val.shape}"
        )
    for name, curve in (("train_loss", train), ("validation_loss", val)):
        if not np.all(np.isfinite(curve) & (curve > 0)):
            bad = curve[~(np.isfinite(curve) & (curve > 0))].ravel()[0]
            raise ValueError(
                f"loss curves: {name} must be finite and > 0 (the measures are "
                f"relative); got {bad!r}"
            )
    single = train.ndim == 1
    return np.atleast_2d(train), np.atleast_2d(val), single


def _sides(train, val, criteria: Criteria) -> tuple[np.ndarray, np.ndarray]:
    """Where the validation loss is below, and above, the training loss by more
    than ``gap_margin`` of it (strictly)."""
    below = val < train * (1 - criteria.gap_margin)
    above = val > train * (1 + criteria.gap_margin)
    return below, above


def _first(mask: np.ndarray) -> np.ndarray:
    """``(M,)`` index of the first True along the last axis, or -1."""
    return np.where(mask.any(axis=-1), mask.argmax(axis=-1), -1)


def _unbatch(measures: NamedTuple, single: bool):
    if not single:
        return measures
    return type(measures)(*(np.asarray(value)[0] for value in measures))
