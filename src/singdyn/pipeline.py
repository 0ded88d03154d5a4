"""From a validated experiment to its results and its output folder.

``Experiment -> sampled data -> train() -> History -> surfaces -> files``. The functions
here print nothing; the command line reports progress around them.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from singdyn.data import Dataset, DataSplit, sample_data
from singdyn.experiments.config import Experiment
from singdyn.losses import Loss
from singdyn.network import predict_flat, xi_from_flat
from singdyn.optim import make_optimizer, nettrain_schedule
from singdyn.patterns import LABELS, classify_history, label_names
from singdyn.surface import Surface, loss_surface
from singdyn.train import History, train

if TYPE_CHECKING:
    from singdyn.theory import Flow

__all__ = [
    "CaseResult",
    "SeedSweep",
    "run_case",
    "run_seed_sweep",
    "pattern_counts",
    "flow_overlay",
    "flow_record",
    "case_record",
    "settings_record",
    "write_case",
    "staged_output",
    "check_output",
    "OUTPUT_MARKER",
    "loss_of",
    "data_of",
]


@dataclass(frozen=True)
class CaseResult:
    """One experiment's run.

    Attributes:
        experiment: the settings it ran with (rounds possibly capped).
        data: the training and test sets.
        history: the run's :class:`History` (M = 1).
        teacher_train_loss: the teacher's own loss on the training set.
        teacher_test_loss: the teacher's own loss on the test set.
        surface_train: G(a, b), the training loss over the experiment's grid.
        surface_test: H(a, b), the test loss over the same grid.
        flow: the averaged gradient flow from the same start (see
            :func:`averaged_flow_of`), or None.
    """

    experiment: Experiment
    data: DataSplit
    history: History
    teacher_train_loss: float
    teacher_test_loss: float
    surface_train: Surface
    surface_test: Surface
    flow: Flow | None = None

    @property
    def a(self) -> np.ndarray:
        """``(R + 1,)`` a per round (the first component of the vector a)."""
        return self.history.coordinate("a")[0]

    @property
    def b(self) -> np.ndarray:
        """``(R + 1,)`` b per round."""
        return self.history.coordinate("b")[0]


def loss_of(experiment: Experiment) -> Loss:
    """The experiment's per-example loss."""
    return Loss(kind=experiment.loss.kind, variance=experiment.loss.variance)


def data_of(experiment: Experiment, *, seed: int | None = None) -> DataSplit:
    """The experiment's training and test sets (from its own seed unless given)."""
    teacher = xi_from_flat(experiment.teacher_flat(), experiment.model.bias)
    settings = experiment.data
    return sample_data(
        teacher,
        n_train=settings.n_train,
        n_test=settings.n_test,
        noise_std=settings.noise_std,
        seed=settings.seed if seed is None else seed,
        x_low=settings.x_range[0],
        x_high=settings.x_range[1],
    )


def capped(experiment: Experiment, max_rounds: int | None) -> Experiment:
    """The experiment with its rounds capped at ``max_rounds`` (when given)."""
    if max_rounds is None or experiment.train.rounds <= max_rounds:
        return experiment
    if max_rounds < 1:
        raise ValueError(f"max_rounds: accepted: an integer >= 1; got {max_rounds!r}")
    train_settings = experiment.train.model_copy(update={"rounds": int(max_rounds)})
    return experiment.model_copy(update={"train": train_settings})


FLOW_T1 = (1e6, 1e5, 1e4)
"""End times tried, in turn, for the averaged flows drawn beside the paths (in units
of 1 / eta): the longest the solver completes. A flow near its end can be so stiff
that the step budget runs out; a shorter span then still shows the path."""

FLOW_MAX_STEPS = 20_000
"""Solver steps allowed per flow; the paper's flows need a few hundred to a few
thousand."""


def averaged_flow_of(experiment: Experiment) -> Flow:
    """The averaged (population) gradient flow from the experiment's start point.

    The same trainable coordinates and loss as its training, the expectation taken
    over the input distribution by quadrature; saved at log-spaced times, since near
    the singular regions its speed spans decades. The end time is the first of
    :data:`FLOW_T1` the solver completes (check ``success``: none may).
    """
    from singdyn.theory import averaged_flow

    for t1 in FLOW_T1:
        flow = averaged_flow(
            experiment.start_flat()[None],
            experiment.teacher_flat(),
            bias=experiment.model.bias,
            t1=t1,
            n_points=300,
            trainable=tuple(experiment.train.trainable),
            loss=loss_of(experiment),
            x_range=tuple(experiment.data.x_range),
            log_times=True,
            max_steps=FLOW_MAX_STEPS,
        )
        if flow.success[0]:
            break
    return flow


def run_case(
    experiment: Experiment, *, max_rounds: int | None = None, flow: bool = True
) -> CaseResult:
    """Sample the data, train from the start point and compute the loss surfaces.

    Args:
        experiment: a validated experiment.
        max_rounds: cap on the number of rounds (for quick runs); None keeps them all.
        flow: also solve the averaged gradient flow from the same start.

    Returns:
        The :class:`CaseResult`.
    """
    experiment = capped(experiment, max_rounds)
    bias, loss = experiment.model.bias, loss_of(experiment)
    data = data_of(experiment)
    settings = experiment.train
    schedule = nettrain_schedule(
        data.train.size,
        settings.batch_size,
        settings.rounds,
        seed=experiment.schedule_seed,
    )
    optimizer = make_optimizer(**experiment.optimizer.model_dump())
    history = train(
        experiment.start_flat()[None],
        data.train,
        schedule,
        bias=bias,
        loss=loss,
        optimizer=optimizer,
        trainable=tuple(settings.trainable),
        validation_set=data.test if settings.validation else None,
        dtype=np.float32 if settings.precision == "float32" else np.float64,
    )
    teacher = experiment.teacher_flat()
    grid = dict(
        bias=bias,
        loss=loss,
        a_range=tuple(experiment.surface.a_range),
        b_range=tuple(experiment.surface.b_range),
        resolution=experiment.surface.resolution,
    )
    base = experiment.start_flat()
    return CaseResult(
        experiment=experiment,
        data=data,
        history=history,
        teacher_train_loss=_loss_on(teacher, data.train, bias, loss),
        teacher_test_loss=_loss_on(teacher, data.test, bias, loss),
        surface_train=loss_surface(base, data.train, **grid),
        surface_test=loss_surface(base, data.test, **grid),
        flow=averaged_flow_of(experiment) if flow else None,
    )


@dataclass(frozen=True)
class SeedSweep:
    """One experiment run over several data seeds, batched.

    Attributes:
        seeds: ``(S,)`` the data seeds (each also seeds its batch permutation).
        history: the :class:`History` of the S runs, one per seed.
        teacher_train_loss: ``(S,)`` the teacher's loss on each seed's training set.
        teacher_test_loss: ``(S,)`` the same on each test set.
    """

    seeds: np.ndarray
    history: History
    teacher_train_loss: np.ndarray
    teacher_test_loss: np.ndarray


def run_seed_sweep(
    experiment: Experiment,
    seeds,
    *,
    max_rounds: int | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
) -> SeedSweep:
    """Run one experiment from its start point on the data of several seeds.

    All seeds run in one compiled program (one data set and one batch permutation per
    seed). Each seed's data equals what the experiment draws with that seed.

    Args:
        experiment: a validated experiment.
        seeds: the data seeds, at least one.
        max_rounds: cap on the number of rounds.
        n_train: training-set size in place of the experiment's.
        n_test: test-set size in place of the experiment's.

    Returns:
        The :class:`SeedSweep`.
    """
    experiment = capped(experiment, max_rounds)
    seeds = np.asarray(list(seeds), dtype=np.int64)
    if seeds.size == 0:
        raise ValueError("run_seed_sweep: seeds must name at least one seed; got []")
    sizes = {}
    if n_train is not None:
        sizes["n_train"] = int(n_train)
    if n_test is not None:
        sizes["n_test"] = int(n_test)
    if sizes:
        data_settings = experiment.data.model_copy(update=sizes)
        experiment = experiment.model_copy(update={"data": data_settings})

    bias, loss, settings = experiment.model.bias, loss_of(experiment), experiment.train
    splits = [data_of(experiment, seed=int(seed)) for seed in seeds]
    schedules = np.stack(
        [
            nettrain_schedule(
                split.train.size, settings.batch_size, settings.rounds, seed=int(seed)
            )
            for seed, split in zip(seeds, splits, strict=True)
        ]
    )
    history = train(
        np.repeat(experiment.start_flat()[None], seeds.size, axis=0),
        [split.train for split in splits],
        schedules,
        bias=bias,
        loss=loss,
        optimizer=make_optimizer(**experiment.optimizer.model_dump()),
        trainable=tuple(settings.trainable),
        validation_set=[split.test for split in splits]
        if settings.validation
        else None,
        dtype=np.float32 if settings.precision == "float32" else np.float64,
    )
    teacher = experiment.teacher_flat()
    return SeedSweep(
        seeds=seeds,
        history=history,
        teacher_train_loss=np.array(
            [_loss_on(teacher, split.train, bias, loss) for split in splits]
        ),
        teacher_test_loss=np.array(
            [_loss_on(teacher, split.test, bias, loss) for split in splits]
        ),
    )


def _loss_on(params: np.ndarray, data: Dataset, bias: bool, loss: Loss) -> float:
    return float(loss.mean(predict_flat(params, data.x, bias), data.y))


def settings_record(experiment: Experiment) -> dict:
    """The settings a reader needs to redo the run: data, loss, optimizer, training."""
    train_settings = experiment.train.model_dump(exclude={"start"})
    train_settings["schedule_seed"] = experiment.schedule_seed
    return {
        "model": experiment.model.model_dump(),
        "data": experiment.data.model_dump(),
        "loss": experiment.loss.model_dump(),
        "optimizer": experiment.optimizer.model_dump(),
        "train": train_settings,
    }


def case_record(result: CaseResult, figures: list[str]) -> dict:
    """The case's entry of ``summary.json`` (plain JSON types only)."""
    experiment, history = result.experiment, result.history
    names = experiment.names
    final = history.final_params[0]
    record = {
        "name": experiment.name,
        "title": experiment.title,
        "paper_claim": experiment.paper_claim,
        "paper_figures": list(experiment.paper_figures),
        "start": _named(names, experiment.start_flat()),
        "teacher": _named(names, experiment.teacher_flat()),
        "rounds": history.rounds,
        "final": _named(names, final),
        "final_train_loss": float(history.train_loss[0, -1]),
        "final_round_loss": float(history.round_loss[0, -1]),
        "teacher_train_loss": result.teacher_train_loss,
        "teacher_test_loss": result.teacher_test_loss,
        "final_excess_loss": float(history.train_loss[0, -1])
        - result.teacher_train_loss,
        "observed_pattern": str(
            label_names(classify_history(history, result.teacher_train_loss))[0]
        ),
        "settings": settings_record(experiment),
        "figures": figures,
    }
    if result.flow is not None:
        record["flow_overlay"] = flow_record(result.flow)
    if history.validation_loss is not None:
        best = int(history.best_round[0])
        record["validation"] = {
            "best_round": best,
            "best": _named(names, history.params[0, best]),
            "best_validation_loss": float(history.validation_loss[0, best]),
            "final_validation_loss": float(history.validation_loss[0, -1]),
        }
    return record


def flow_overlay(result: CaseResult) -> tuple[np.ndarray, np.ndarray] | None:
    """The averaged flow's ``(a, b)`` path to draw beside the run, or None if it was
    not solved or did not finish."""
    flow = result.flow
    if flow is None or not flow.success[0]:
        return None
    path = flow.path[0]
    return path[:, flow.names.index("a")], path[:, flow.names.index("b")]


def flow_record(flow: Flow) -> dict:
    """The averaged flow's path in the (a, b) plane for ``summary.json``."""
    path = flow.path[0]
    path = path[np.all(np.isfinite(path), axis=1)]  # a failed solve pads with inf
    names = flow.names
    return {
        "t1": float(flow.times[-1]),
        "success": bool(flow.success[0]),
        "message": flow.message[0],
        "a": [round(float(v), 6) for v in path[:, names.index("a")]],
        "b": [round(float(v), 6) for v in path[:, names.index("b")]],
        "final": _named(names, path[-1]) if len(path) else None,
    }


def pattern_counts(sweep: SeedSweep) -> dict[str, int]:
    """How many seeds of a sweep show each kind of dynamics (every label listed)."""
    codes = classify_history(sweep.history, sweep.teacher_train_loss)
    counts = np.bincount(codes, minlength=len(LABELS))
    return {label: int(count) for label, count in zip(LABELS, counts, strict=True)}


def _named(names, values) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, np.asarray(values), strict=True)}


def write_history_csv(result: CaseResult, path: Path) -> None:
    """One row per round: round, every xi coordinate, round loss, end-of-round loss
    (and validation loss when there is a validation set). Round 0 has no round loss."""
    history = result.history
    names = list(history.names)
    header = ["round", *names, "round_loss", "train_loss"]
    has_val = history.validation_loss is not None
    if has_val:
        header.append("validation_loss")
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in range(history.rounds + 1):
            row = [r, *(repr(float(v)) for v in history.params[0, r])]
            row.append("" if r == 0 else repr(float(history.round_loss[0, r - 1])))
            row.append(repr(float(history.train_loss[0, r])))
            if has_val:
                row.append(repr(float(history.validation_loss[0, r])))
            writer.writerow(row)


def write_case(result: CaseResult, case_dir: Path, *, out_root: Path) -> list[str]:
    """Write ``history.csv`` and the case's figures under ``case_dir``.

    Returns:
        The figure paths, relative to ``out_root``.
    """
    from singdyn import plots

    experiment = result.experiment
    figures_dir = case_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    write_history_csv(result, case_dir / "history.csv")

    numbers = list(experiment.paper_figures) or [0, 0]
    title = f"{experiment.title or experiment.name}: start (a, b) = " + (
        f"({result.a[0]:g}, {result.b[0]:g}), {result.history.rounds} rounds"
    )
    teacher = experiment.teacher_flat()
    names = experiment.names
    teacher_ab = (teacher[names.index("a")], teacher[names.index("b")])
    surface = result.surface_train
    limits = ((surface.a[0], surface.a[-1]), (surface.b[0], surface.b[-1]))
    overlay = flow_overlay(result)
    paths = []

    fig = plots.figure_parameters(
        result.a,
        result.b,
        title=f"Figure {numbers[0]}. {title}",
        teacher_ab=teacher_ab,
        limits=limits,
        overlay=overlay,
    )
    paths.append(_save(fig, figures_dir / f"fig{numbers[0]:02d}_parameters.png"))
    fig = plots.figure_loss(
        result.history.round_loss[0],
        result.history.train_loss[0],
        result.a,
        result.b,
        surface,
        title=f"Figure {numbers[-1]}. {title}",
        teacher_loss=result.teacher_train_loss,
        teacher_ab=teacher_ab,
        overlay=overlay,
    )
    paths.append(_save(fig, figures_dir / f"fig{numbers[-1]:02d}_loss.png"))
    return [str(Path(p).relative_to(out_root)) for p in paths]


def write_teacher_figure(result: CaseResult, path: Path) -> None:
    """The teacher drawn over the training data."""
    from singdyn import plots

    experiment = result.experiment
    grid = np.linspace(*experiment.data.x_range, 400)
    teacher = np.asarray(
        predict_flat(experiment.teacher_flat(), grid, experiment.model.bias)
    )
    fig = plots.figure_data(
        result.data.train.x,
        result.data.train.y,
        grid,
        teacher,
        title=f"Teacher over the training data (n = {result.data.train.size}, "
        f"noise sd = {experiment.data.noise_std:g})",
    )
    _save(fig, path)


def _save(fig, path: Path) -> Path:
    from singdyn import plots

    plots.save(fig, path)
    return path


def write_json(path: Path, document: dict) -> None:
    """Write ``document`` as indented JSON; a NaN or infinite number (a run that
    diverged) becomes null, since JSON has no such numbers."""
    text = json.dumps(
        _finite(document), indent=2, default=_json_default, allow_nan=False
    )
    path.write_text(text + "\n")


def _finite(value):
    """``value`` with every non-finite float, also inside arrays, made None."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    return value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


OUTPUT_MARKER = ".singdyn-output"
"""The file singdyn writes into every output folder it fills. An existing output folder
is replaced only when it is empty or holds this file."""

_MARKER_TEXT = (
    "This folder was written by singdyn. A later run given this folder as its output\n"
    "replaces it, but only while it holds nothing but what singdyn wrote, listed\n"
    "below; a folder without this file is never replaced.\n"
)


def _write_marker(folder: Path) -> None:
    """Write :data:`OUTPUT_MARKER` into ``folder``, listing its entries."""
    names = sorted(p.name for p in folder.iterdir())
    (folder / OUTPUT_MARKER).write_text(_MARKER_TEXT + "".join(f"{n}\n" for n in names))


def _foreign_entries(folder: Path) -> list[str]:
    """The entries of a marked ``folder`` that its marker does not list."""
    listed = (folder / OUTPUT_MARKER).read_text().splitlines()
    written = set(listed[_MARKER_TEXT.count("\n") :])
    return sorted(
        p.name for p in folder.iterdir() if p.name not in written | {OUTPUT_MARKER}
    )


def check_output(out: Path, *, setting: str = "out") -> Path:
    """Check that ``out`` may become an output folder, before any work is done.

    Accepted: a path that does not exist yet, an empty folder, or a folder holding
    :data:`OUTPUT_MARKER` (singdyn wrote it) and nothing that the marker does not
    list (a file added later, such as notes or the experiment file being run, would
    be lost). Refused, since replacing them would
    destroy what they hold: a file, any other folder, the current folder or one that
    holds it, the filesystem root, and the home folder or one that holds it.

    Args:
        out: the output folder, as given.
        setting: how the caller names the setting in its message (``"--out"``).

    Returns:
        ``out`` made absolute, with symbolic links resolved.

    Raises:
        ValueError: naming ``setting``, what it accepts, the path given and why it is
            refused.
    """
    resolved = Path(out).resolve()
    reason = _refusal(resolved)
    if reason is None:
        return resolved
    shown = repr(str(out))
    if str(resolved) != str(out):
        shown += f" ({resolved})"
    raise ValueError(
        f"{setting}: accepted: a new folder, an empty folder, or a folder singdyn "
        f"wrote before and that holds nothing else (its {OUTPUT_MARKER} lists what "
        f"singdyn wrote); got {shown}: {reason}"
    )


def _refusal(out: Path) -> str | None:
    """Why the absolute path ``out`` may not be replaced, or None when it may."""
    if out.parent == out:
        return "the filesystem root"
    try:
        here = Path.cwd().resolve()
    except FileNotFoundError:  # the current folder was removed: nothing to protect
        here = None
    if here is not None and (out == here or out in here.parents):
        return "the current folder or a folder holding it"
    try:
        home = Path.home().resolve()
    except (KeyError, RuntimeError):  # no home folder known
        home = None
    if home is not None and (out == home or out in home.parents):
        return "the home folder or a folder holding it"
    if not out.exists() and not out.is_symlink():
        return _unwritable(out)
    if not out.is_dir():
        return "a file, not a folder"
    if next(out.iterdir(), None) is None:
        return None
    if (out / OUTPUT_MARKER).is_file():
        foreign = _foreign_entries(out)
        if not foreign:
            return None
        shown = ", ".join(repr(n) for n in foreign[:3]) + (", ..." * (len(foreign) > 3))
        return f"a folder singdyn wrote that now also holds {shown}, which it did not"
    return "a folder that holds other files and that singdyn did not write"


def _unwritable(out: Path) -> str | None:
    """Why a new folder cannot be made at the absolute path ``out``, or None."""
    existing = next(p for p in out.parents if p.exists() or p.is_symlink())
    if not existing.is_dir():
        return f"a path inside {str(existing)!r}, which is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{str(existing)!r} cannot be written to"
    return None


@contextmanager
def staged_output(out: Path):
    """Yield a fresh staging folder beside ``out``; on success it replaces ``out``.

    ``out`` is checked by :func:`check_output` before anything is written and again
    just before it is replaced. The finished folder holds :data:`OUTPUT_MARKER`. On an
    error the staging folder (and any parent folder made for it) is removed and ``out``
    is left as it was, so no run leaves a half-written output folder behind.

    Args:
        out: the output folder.

    Yields:
        The staging folder to write into.

    Raises:
        ValueError: from :func:`check_output`, when ``out`` may not be replaced.
    """
    out = check_output(out)
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp's 0700 is for secrets, not for results
    try:
        yield stage
        _write_marker(stage)
        check_output(out)  # something may have been written there meanwhile
        _replace(out, stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for folder in made:  # innermost first; only the ones still empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _replace(out: Path, stage: Path) -> None:
    """Rename ``stage`` to ``out``; an old ``out`` is moved aside and then removed,
    or put back if the rename fails."""
    if not out.exists():
        stage.rename(out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old = aside / out.name
    out.rename(old)
    try:
        stage.rename(out)
    except BaseException:
        old.rename(out)
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)
