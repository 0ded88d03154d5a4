"""The paper's section 3: overfitting (Example 2) and over-generalization (Example 3).

:func:`run_section3` runs both cases from their presets, judges them with
:mod:`singdyn.validation`, repeats each over data seeds and data sizes in one compiled
program per size, and writes their history files and figures 19 to 30. Nothing here
prints; a caller may pass ``progress`` to hear which step runs.

Seed sweeps: run ``s`` of a sweep draws its training and test sets from data seed ``s``
and its batch order from the same seed, for ``s = 0..seeds - 1`` (the experiment's own
``data.seed`` and ``train.seed`` are not used there); the test set has as many points
as the training set. The figures show the case's own run, from its preset's seeds (0
in both presets, so it is run 0 of the sweep at the preset's size).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from singdyn.experiments.config import FIGURES_DRAWN, Experiment, load_preset
from singdyn.network import predict_flat, unit_size
from singdyn.pipeline import (
    CaseResult,
    capped,
    case_record,
    flow_overlay,
    run_case,
    run_seed_sweep,
    write_history_csv,
)
from singdyn.train import History
from singdyn.validation import (
    Criteria,
    gap_rounds,
    judge,
    measures_record,
    over_generalization_measures,
    overfitting_measures,
)

__all__ = [
    "SECTION3",
    "DEFAULT_SIZES",
    "SweepResult",
    "criteria_of",
    "first_rounds",
    "round_loss_curve",
    "seed_sweep",
    "run_section3",
    "run_validation_case",
]

SECTION3 = ("example2_overfitting", "example3_over_generalization")
"""The presets of the paper's section 3, in the paper's order."""

DEFAULT_SIZES = (30, 100, 300, 1000)
"""Training-set sizes of the data-size table."""

Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class SweepResult:
    """Verdicts of one case over data seeds ``0..seeds - 1`` at one data size.

    Attributes:
        n_train: training points per run (the test set has as many).
        overfitting: ``(seeds,)`` the overfitting verdict per seed.
        over_generalization: ``(seeds,)`` the over-generalization verdict per seed.
        over_generalization_round_loss: ``(seeds,)`` the same verdict with NetTrain's
            round loss in place of the end-of-round training loss.
        history: the runs' :class:`History`, run ``s`` at index ``s``.
    """

    n_train: int
    overfitting: np.ndarray
    over_generalization: np.ndarray
    over_generalization_round_loss: np.ndarray
    history: History

    @property
    def best_round(self) -> np.ndarray:
        """``(seeds,)`` the round of least validation loss per seed."""
        return self.history.best_round

    @property
    def seeds(self) -> int:
        return int(self.overfitting.size)

    def counts(self) -> dict[str, int]:
        """How many seeds each verdict holds for."""
        return {
            "overfitting": int(self.overfitting.sum()),
            "over_generalization": int(self.over_generalization.sum()),
            "over_generalization_round_loss": int(
                self.over_generalization_round_loss.sum()
            ),
        }


def criteria_of(experiment: Experiment) -> Criteria:
    """The experiment's verdict thresholds (the defaults without ``[analysis]``)."""
    if experiment.analysis is None:
        return Criteria()
    settings = experiment.analysis.model_dump(exclude={"kind"})
    return Criteria(**settings)


def first_rounds(history: History, rounds: int) -> History:
    """The history of the first ``rounds`` rounds (all of it if it has fewer).

    A run's rounds are causal and its sample order is drawn once, before the first
    round, so these are exactly the history of a run of ``rounds`` rounds.
    """
    keep = min(int(rounds), history.rounds)
    return History(
        names=history.names,
        params=history.params[:, : keep + 1],
        round_loss=history.round_loss[:, :keep],
        train_loss=history.train_loss[:, : keep + 1],
        validation_loss=None
        if history.validation_loss is None
        else history.validation_loss[:, : keep + 1],
    )


def round_loss_curve(history: History) -> np.ndarray:
    """``(M, R + 1)`` NetTrain's round loss with the start's loss as round 0.

    The round loss has no round 0; the training loss at the start stands in, so the
    curve lines up with the validation loss. The verdicts never read round 0 of it.
    """
    return np.concatenate([history.train_loss[:, :1], history.round_loss], axis=1)


def seed_sweep(experiment: Experiment, *, n_train: int, seeds: int) -> SweepResult:
    """Train the case once per data seed ``0..seeds - 1``, in one compiled program.

    Args:
        experiment: a case with a validation set.
        n_train: training points per run; the test set has as many.
        seeds: number of seeds, at least 1.

    Returns:
        The :class:`SweepResult`.

    Raises:
        ValueError: if ``seeds`` or ``n_train`` is below 1.
    """
    for name, value in (("seeds", seeds), ("n_train", n_train)):
        if int(value) < 1:
            raise ValueError(f"seed_sweep: {name} must be >= 1; got {value!r}")
    history = run_seed_sweep(
        experiment, range(int(seeds)), n_train=n_train, n_test=n_train
    ).history
    criteria = criteria_of(experiment)
    verdicts = judge(history.train_loss, history.validation_loss, criteria=criteria)
    with_round_loss = over_generalization_measures(
        round_loss_curve(history), history.validation_loss, criteria=criteria
    )
    return SweepResult(
        n_train=int(n_train),
        overfitting=verdicts.overfitting,
        over_generalization=verdicts.over_generalization,
        over_generalization_round_loss=with_round_loss.over_generalization,
        history=history,
    )


def run_section3(
    stage: Path,
    *,
    max_rounds: int | None = None,
    seeds: int = 20,
    sizes: Sequence[int] = DEFAULT_SIZES,
    progress: Progress = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[dict]:
    """Run Examples 2 and 3, write their files under ``stage`` and return their records.

    For each case: ``stage/<name>/history.csv`` (one row per round) and
    ``stage/<name>/figures/figNN_*.png`` (the paper's figures 19 to 30).

    Args:
        stage: the output folder (existing or not).
        max_rounds: cap on every run's rounds (for quick runs); None keeps them all.
        seeds: data seeds per sweep, at least 1.
        sizes: training-set sizes of the data-size table, each at least 1.
        progress: called with a short description before each step.
        on_result: called with each case's own run (its CaseResult), for callers
            that draw more from it, such as the interactive report.

    Returns:
        The two case records for ``summary.json``, in the order of :data:`SECTION3`;
        the figure paths in them are relative to ``stage``.

    Raises:
        ValueError: on ``seeds``, a size or ``max_rounds`` below 1.

    Example:
        >>> records = run_section3(Path("out"), seeds=20, progress=print)
        >>> records[0]["seed_sweep"]["positive"]["overfitting"]
    """
    return [
        run_validation_case(
            capped(load_preset(name), max_rounds),
            stage,
            seeds=seeds,
            sizes=sizes,
            progress=progress,
            on_result=on_result,
        )
        for name in SECTION3
    ]


def run_validation_case(
    experiment: Experiment,
    stage: Path,
    *,
    seeds: int = 20,
    sizes: Sequence[int] = DEFAULT_SIZES,
    progress: Progress = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> dict:
    """Run one case with a validation set and an ``[analysis]`` section: its own run,
    its seed sweeps, its files under ``stage/<name>`` and its record.

    The seed sweep runs at the experiment's ``data.n_train``; the size table at each
    of ``sizes`` (a size already swept is not run twice). Figures are numbered by the
    experiment's ``paper_figures`` when it gives one number per figure (see
    :data:`singdyn.experiments.config.FIGURES_DRAWN`), and 1, 2, ... otherwise.

    Returns:
        The case's record for ``summary.json`` (figure paths relative to ``stage``).

    Raises:
        ValueError: on ``seeds`` or a size below 1, or an experiment without a
            validation set or without ``[analysis]``.
    """
    sizes = tuple(int(size) for size in sizes)
    if int(seeds) < 1 or not sizes or min(sizes) < 1:
        raise ValueError(
            "run_section3: seeds and every size must be >= 1 (and sizes non-empty); "
            f"got seeds = {seeds!r}, sizes = {sizes!r}"
        )
    if experiment.analysis is None or not experiment.train.validation:
        raise ValueError(
            f"{experiment.name}: needs train.validation = true and an [analysis] "
            f"section; got validation = {experiment.train.validation}, analysis = "
            f"{experiment.analysis}"
        )
    report = progress or (lambda description: None)
    name = experiment.name

    report(f"{name}: training")
    result = run_case(experiment)
    if on_result is not None:
        on_result(result)
    sweeps = {}
    for size in dict.fromkeys((experiment.data.n_train, *sizes)):
        report(f"{name}: {seeds} seeds at {size} training points")
        sweeps[size] = seed_sweep(experiment, n_train=size, seeds=int(seeds))

    report(f"{name}: figures")
    case_dir = Path(stage) / name
    (case_dir / "figures").mkdir(parents=True, exist_ok=True)
    write_history_csv(result, case_dir / "history.csv")
    figures = _write_figures(result, case_dir / "figures")
    relative = [str(path.relative_to(Path(stage))) for path in figures]
    return _record(result, relative, sweeps, sizes)


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------


def _record(
    result: CaseResult,
    figures: list[str],
    sweeps: dict[int, SweepResult],
    sizes: tuple[int, ...],
) -> dict:
    """The case's entry of ``summary.json``: :func:`case_record` and the verdicts."""
    experiment, history = result.experiment, result.history
    criteria = criteria_of(experiment)
    kind = experiment.analysis.kind

    record = case_record(result, figures)
    record.update(_judged(result, history, criteria))
    default = sweeps[experiment.data.n_train]
    record["claim"] = kind
    record["claim_verdict"] = record["verdicts"][kind]
    record["seed_sweep"] = {
        "seeds": default.seeds,
        "n_train": default.n_train,
        "n_test": default.n_train,
        "positive": default.counts(),
        "per_seed": {
            "overfitting": default.overfitting.tolist(),
            "over_generalization": default.over_generalization.tolist(),
            "best_round": default.best_round.tolist(),
        },
    }
    record["size_table"] = [
        {
            "n_train": size,
            "n_test": size,
            "seeds": sweeps[size].seeds,
            **sweeps[size].counts(),
        }
        for size in sizes
    ]
    if kind == "over_generalization" and history.rounds > criteria.early_rounds:
        view = first_rounds(history, criteria.early_rounds)
        record["early_view"] = {
            "rounds": view.rounds,
            "note": (
                f"the first {view.rounds} rounds of this run, which are exactly a "
                f"{view.rounds}-round run (the sample order is drawn once per run and "
                "rounds are causal)"
            ),
            **_judged(result, view, criteria),
        }
    record["settings"]["analysis"] = {
        "kind": kind,
        **criteria.__dict__,
        "seed_sweep": "run s uses data seed s and batch-order seed s, s = 0..seeds-1; "
        "the test set has as many points as the training set",
    }
    return record


def _judged(result: CaseResult, history: History, criteria: Criteria) -> dict:
    """Best and last nets, measures and verdicts of one run's history (M = 1)."""
    train_loss = history.train_loss[0]
    validation_loss = history.validation_loss[0]
    overfitting = overfitting_measures(train_loss, validation_loss, criteria=criteria)
    general = over_generalization_measures(
        train_loss, validation_loss, criteria=criteria
    )
    general_round = over_generalization_measures(
        round_loss_curve(history)[0], validation_loss, criteria=criteria
    )
    below, above = gap_rounds(train_loss, validation_loss, criteria=criteria)
    best = int(history.best_round[0])
    return {
        "best": _net(result, history, best),
        "last": _net(result, history, history.rounds),
        "measures": {
            "overfitting": measures_record(overfitting),
            "over_generalization": {
                **measures_record(general),
                "below_rounds": below,
                "above_rounds": above,
            },
            "over_generalization_round_loss": measures_record(general_round),
        },
        "verdicts": {
            "overfitting": bool(overfitting.overfitting),
            "over_generalization": bool(general.over_generalization),
        },
    }


def _net(result: CaseResult, history: History, round_: int) -> dict:
    names = history.names
    return {
        "round": int(round_),
        "params": {
            n: float(v) for n, v in zip(names, history.params[0, round_], strict=True)
        },
        "train_loss": float(history.train_loss[0, round_]),
        "validation_loss": float(history.validation_loss[0, round_]),
    }


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------

# The figures of each kind of case, in the order of the preset's paper_figures, are
# the experiment format's FIGURES_DRAWN[kind].


def _teacher_in_plane(experiment: Experiment) -> tuple[tuple[float, float] | None, str]:
    """Where the teacher sits in the (a, b) plane of the trained coordinates: its
    point to mark (or None) and a note for the title."""
    names = experiment.names
    teacher, start = experiment.teacher_flat(), experiment.start_flat()
    fixed = [i for i, n in enumerate(names) if n not in experiment.train.trainable]
    off = [names[i] for i in fixed if not np.isclose(teacher[i], start[i])]
    if off:
        values = ", ".join(f"{n} = {teacher[names.index(n)]:.3g}" for n in off)
        return None, f"the teacher is off this plane (its {values})"
    if np.allclose(teacher[: unit_size(experiment.model.bias)], 0):  # (a,) or (a, c)
        return None, "every point of a = 0 is the teacher"
    return (teacher[names.index("a")], teacher[names.index("b")]), "teacher marked"


def _write_figures(result: CaseResult, figures_dir: Path) -> list[Path]:
    """Draw the case's figures into ``figures_dir``; returns their paths."""
    from singdyn import plots
    from singdyn import plots_validation as pv

    experiment, history = result.experiment, result.history
    kind = experiment.analysis.kind
    parts = FIGURES_DRAWN[kind]
    numbers = list(experiment.paper_figures)
    if len(numbers) != len(parts):
        numbers = list(range(1, len(parts) + 1))
    number = dict(zip(parts, numbers, strict=True))
    criteria = criteria_of(experiment)
    data = result.data
    grid = np.linspace(*experiment.data.x_range, 400)
    teacher = _outputs(result, experiment.teacher_flat(), grid)
    run = f"data seed {experiment.data.seed}, n = {data.train.size}"
    paths = []

    def save(fig, part: str, stem: str) -> None:
        path = figures_dir / f"fig{number[part]:02d}_{stem}.png"
        plots.save(fig, path)
        paths.append(path)

    def title(part: str, text: str) -> str:
        return f"Figure {number[part]}. {experiment.title}; {text}"

    def losses_of(view: History) -> dict:
        return dict(
            train_loss=view.train_loss[0],
            validation_loss=view.validation_loss[0],
            best_round=int(view.best_round[0]),
        )

    def nets_of(view: History) -> dict[str, np.ndarray]:
        best, last = int(view.best_round[0]), view.rounds
        return {
            f"best validation (round {best})": _outputs(
                result, view.params[0, best], grid
            ),
            f"last (round {last})": _outputs(result, view.params[0, last], grid),
        }

    # ---- data (figures 19, 24)
    fig = pv.figure_datasets(
        data.train, data.test, grid, teacher, title=title("data", f"data ({run})")
    )
    save(fig, "data", "data")

    # ---- losses apart, together, before and after (20-21; 25-27 on the early view)
    view = history
    if kind == "over_generalization":
        view = first_rounds(history, criteria.early_rounds)
    rounds_text = f"{view.rounds} rounds"
    if view.rounds < history.rounds:
        rounds_text += f" (the first {view.rounds} of the {history.rounds}-round run)"
    realizable = kind == "overfitting"  # Example 3's teacher is out of reach
    fig = pv.figure_losses_apart(
        **losses_of(view),
        round_loss=None if realizable else view.round_loss[0],
        teacher_losses=(result.teacher_train_loss, result.teacher_test_loss)
        if realizable
        else None,
        share_y=not realizable,
        title=title("losses", f"training and validation loss, {rounds_text}"),
    )
    save(fig, "losses", "losses")
    if kind == "over_generalization":
        fig = pv.figure_losses_together(
            **losses_of(view),
            round_loss=view.round_loss[0],
            gap_margin=criteria.gap_margin,
            title=title("losses_together", f"both losses, {rounds_text}"),
        )
        save(fig, "losses_together", "losses_together")
        fig = pv.figure_before_after(
            data.test,
            grid,
            teacher,
            before=_outputs(result, history.params[0, 0], grid),
            after=nets_of(view),
            title=title("before_after", f"the network before and after {rounds_text}"),
        )
        save(fig, "before_after", "before_after")

    # ---- losses with the trained network (21, 29)
    datasets = {"training data": data.train, "test data": data.test}
    if kind == "over_generalization":
        datasets = {"test data": data.test}
    fig = pv.figure_losses_and_fit(
        **losses_of(history),
        datasets=datasets,
        grid=grid,
        teacher=teacher,
        nets=nets_of(history),
        round_loss=None if realizable else history.round_loss[0],
        gap_margin=None if realizable else criteria.gap_margin,
        relative=realizable,
        title=title("losses_fit", f"{history.rounds} rounds ({run})"),
    )
    save(fig, "losses_fit", "losses_fit")

    # ---- parameters and the critical lines (22, 28)
    surface = result.surface_train
    best = int(history.best_round[0])
    teacher_ab, note = _teacher_in_plane(experiment)
    fig = plots.figure_parameters(
        result.a,
        result.b,
        title=title("parameters", f"a and b, {history.rounds} rounds; {note}"),
        teacher_ab=teacher_ab,
        limits=((surface.a[0], surface.a[-1]), (surface.b[0], surface.b[-1])),
        overlay=flow_overlay(result),
    )
    pv.mark_best_on_parameters(fig, result.a, result.b, best)
    save(fig, "parameters", "parameters")

    # ---- the path on G and H (23, 30)
    fig = pv.figure_surfaces_with_maps(
        result.surface_train,
        result.surface_test,
        result.a,
        result.b,
        train_path_loss=history.train_loss[0],
        test_path_loss=history.validation_loss[0],
        best_round=best,
        title=title(
            "surfaces",
            f"the path on G (training) and H (validation), {history.rounds} rounds; "
            "c, v, d, w fixed",
        ),
    )
    save(fig, "surfaces", "surfaces")
    return sorted(paths)  # in the order of the figure numbers


def _outputs(result: CaseResult, params: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``(g,)`` the network with flat xi ``params`` on ``grid``, float64."""
    bias = result.experiment.model.bias
    return np.asarray(predict_flat(np.asarray(params, np.float64), grid, bias))
