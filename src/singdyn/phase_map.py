"""Phase map: the kind of dynamics (the paper's Definition 9) reached from every
start point of an (a, b) grid.

Each grid point is a start point whose a and b are the grid's and whose other xi
coordinates are the experiment's start point's. All of them train on the experiment's
data with one batch schedule and NetTrain's ADAM (:func:`singdyn.train.train`), and
:func:`singdyn.patterns.classify_paths` labels each path from its a, b and
end-of-round training loss against the teacher's loss on the same data.

The grid goes through in chunks: a chunk's paths are labelled as soon as it is trained
and then dropped, and only four numbers per grid point are kept (the label, the final a
and b, the final loss). Memory therefore does not grow with the number of rounds times
the number of points, only with the chunk. ``train`` gives every run the same numbers
whatever else it runs with, so the chunk size does not change the result.

Optionally the same grid (or a coarser one) is labelled under the averaged learning
equation of the paper, :func:`singdyn.theory.averaged_flow`, with the averaged
loss in place of the training loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from singdyn import __version__
from singdyn.experiments.config import Experiment, load_preset
from singdyn.network import predict_flat, unit_size
from singdyn.optim import make_optimizer, nettrain_schedule
from singdyn.patterns import LABELS, Criteria, classify_history, classify_paths
from singdyn.pipeline import data_of, loss_of

__all__ = [
    "A_RANGE",
    "B_RANGE",
    "CHUNK_SIZE",
    "EXAMPLE1_CASES",
    "FLOW_CHUNK_SIZE",
    "FLOW_TIME",
    "LABEL_COLORS",
    "PhaseMap",
    "FlowMap",
    "phase_map",
    "flow_map",
    "to_dataset",
    "figure_phase_map",
    "write_phase_map",
]

A_RANGE = (-1.0, 1.0)
B_RANGE = (-2.5, 2.5)
CHUNK_SIZE = 4096
"""Start points trained and labelled at a time: 16 of train's blocks of 256; about
14 MB of float32 history at 200 rounds."""

CHUNK_ROUNDS = 2_560_000
"""Most start points times rounds trained at once: longer runs train in smaller
chunks, down to one of train's blocks of 256, so memory stays flat. A chunk holds
about 85 bytes per start point and round (the float32 history, its float64 copies
for the classifier); 256 x 10,000 rounds measured 0.35 GB above the 0.43 GB a
small map takes."""

MAX_ROUNDS = 10_000
"""Most rounds per path: one block at this length stays within :data:`CHUNK_ROUNDS`."""

MAX_RESOLUTION = 2001
"""Most grid points along a and b (4 million start points); the results, the NetCDF
file and the figure of a 4001 x 4001 grid took 1.9 GB on their own."""

FLOW_CHUNK_SIZE = 512
"""Start points solved at a time under the averaged flow (at most): the batched solver
holds work arrays per point for its 200 quadrature nodes. The default flow map
(2,601 points) peaked at 3.0 GB in one chunk and at 1.0 GB in chunks of 512."""

FLOW_TIME = 1e4
"""Default end time of the averaged flow, in units of ``eta t`` (so 1e4 is 1e5
updates at eta = 0.1); by then most flow paths from the default grid have settled."""

EXAMPLE1_CASES = (
    "overlap",
    "cross_elimination",
    "fast_convergence",
    "near_elimination",
    "output_weight_zero",
)
"""The presets of the paper's Example 1, whose start points the map marks."""

LABEL_COLORS = {
    "overlap": "#d1495b",
    "cross_elimination": "#edae49",
    "fast_convergence": "#66a182",
    "near_elimination": "#2e86ab",
    "output_weight_zero": "#8e6c8a",
    "other": "#d9d9d9",
}
"""One colour per label of :data:`singdyn.patterns.LABELS`."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: grid points done of ``total`` in ``stage``."""


@dataclass(frozen=True)
class FlowMap:
    """Labels of the averaged learning equation over a grid.

    Attributes:
        a: ``(na,)`` grid values of a.
        b: ``(nb,)`` grid values of b.
        labels: ``(nb, na)`` label codes, indices into :data:`singdyn.patterns.LABELS`.
        final_a: ``(nb, na)`` a at the end time.
        final_b: ``(nb, na)`` b at the end time.
        teacher_loss: the teacher's averaged loss.
        time: the end time ``t1`` (units of ``eta t``).
        success: ``(nb, na)`` whether the solver reached ``t1``.
    """

    a: np.ndarray
    b: np.ndarray
    labels: np.ndarray
    final_a: np.ndarray
    final_b: np.ndarray
    teacher_loss: float
    time: float
    success: np.ndarray


@dataclass(frozen=True)
class PhaseMap:
    """Labels of NetTrain-ADAM paths from every start point of an (a, b) grid.

    Arrays over the grid have shape ``(nb, na)``: row i is ``b[i]``, column j is
    ``a[j]``.

    Attributes:
        a: ``(na,)`` grid values of a.
        b: ``(nb,)`` grid values of b.
        labels: label codes, indices into :data:`singdyn.patterns.LABELS`.
        final_a: a after the last round (the first component of the vector a with
            biases).
        final_b: b after the last round.
        final_loss: training-set loss after the last round.
        teacher_loss: the teacher's loss on the same training data.
        teacher_ab: the teacher's (a, b).
        marks: the paper's Example 1 start points, name to (a, b); empty when the
            experiment's teacher is not Example 1's.
        settings: what a reader needs to redo the map (plain numbers and strings).
        flow: the averaged flow's labels, when asked for.
    """

    a: np.ndarray
    b: np.ndarray
    labels: np.ndarray
    final_a: np.ndarray
    final_b: np.ndarray
    final_loss: np.ndarray
    teacher_loss: float
    teacher_ab: tuple[float, float]
    marks: dict[str, tuple[float, float]] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    flow: FlowMap | None = None

    def shares(self) -> dict[str, float]:
        """Fraction of the grid with each label, every label listed."""
        counts = np.bincount(self.labels.ravel(), minlength=len(LABELS))
        shares = counts / self.labels.size
        return {name: float(share) for name, share in zip(LABELS, shares, strict=True)}


def phase_map(
    experiment: Experiment | str = "overlap",
    *,
    resolution: int = 201,
    a_range: tuple[float, float] = A_RANGE,
    b_range: tuple[float, float] = B_RANGE,
    rounds: int = 200,
    chunk_size: int = CHUNK_SIZE,
    criteria: Criteria | None = None,
    flow: bool = False,
    flow_resolution: int = 51,
    flow_time: float = FLOW_TIME,
    progress: Progress | None = None,
) -> PhaseMap:
    """Train from every point of a ``resolution x resolution`` (a, b) grid and label
    each path with :func:`singdyn.patterns.classify_paths`.

    Args:
        experiment: an :class:`~singdyn.experiments.config.Experiment` or a preset
            name; it gives the teacher, the data, the loss, the optimizer, the batch
            size, the trainable coordinates, the precision and the coordinates other
            than a and b of every start point.
        resolution: grid points along a and along b, at least 2.
        a_range: ``(low, high)`` of a, low < high.
        b_range: ``(low, high)`` of b, low < high.
        rounds: rounds per path (in place of the experiment's), at least 2.
        chunk_size: start points trained and labelled at a time, at least 1; it
            bounds the memory and does not change the result.
        criteria: the classifier's thresholds; ``Criteria()`` when None.
        flow: also label the averaged learning equation's paths (:func:`flow_map`).
        flow_resolution: grid points along a and b for the flow, at least 2.
        flow_time: end time of the flow (units of ``eta t``), above 0.
        progress: called after each chunk as ``progress(stage, done, total)`` with
            stage ``"training"`` or ``"averaged flow"``.

    Returns:
        The :class:`PhaseMap`.

    Raises:
        ValueError: on a bad setting, naming it, what it accepts and what it got.
        ConfigError: on an unknown preset name.

    Example:
        >>> result = phase_map("overlap", resolution=21, rounds=50)
        >>> result.shares()["fast_convergence"]
    """
    experiment = load_preset(experiment) if isinstance(experiment, str) else experiment
    criteria = Criteria() if criteria is None else criteria
    _check_grid(resolution, a_range, b_range, "resolution")
    _check_whole("rounds", rounds, 2, MAX_ROUNDS)
    _check_whole("chunk_size", chunk_size, 1)

    # ---- the setting: data, schedule, optimizer, the base start point
    bias, loss = experiment.model.bias, loss_of(experiment)
    names = experiment.names
    data = data_of(experiment).train
    settings = experiment.train
    schedule = nettrain_schedule(
        data.size, settings.batch_size, rounds, seed=experiment.schedule_seed
    )
    optimizer = make_optimizer(**experiment.optimizer.model_dump())
    teacher = experiment.teacher_flat()
    teacher_loss = float(loss.mean(predict_flat(teacher, data.x, bias), data.y))
    dtype = np.float32 if settings.precision == "float32" else np.float64
    grid_a = np.linspace(*a_range, int(resolution))
    grid_b = np.linspace(*b_range, int(resolution))

    # ---- train and label chunk by chunk; keep four numbers per grid point
    from singdyn.train import BLOCK_SIZE, train

    chunk_size = min(int(chunk_size), max(BLOCK_SIZE, CHUNK_ROUNDS // int(rounds)))

    total = grid_a.size * grid_b.size
    labels = np.empty(total, dtype=np.int8)
    final = np.empty((3, total))
    for begin in range(0, total, int(chunk_size)):
        index = np.arange(begin, min(begin + int(chunk_size), total))
        starts = _grid_starts(experiment.start_flat(), names, grid_a, grid_b, index)
        history = train(
            starts,
            data,
            schedule,
            bias=bias,
            loss=loss,
            optimizer=optimizer,
            trainable=tuple(settings.trainable),
            dtype=dtype,
        )
        labels[index] = classify_history(history, teacher_loss, criteria=criteria)
        final[0, index] = history.final_params[:, names.index("a")]
        final[1, index] = history.final_params[:, names.index("b")]
        final[2, index] = history.train_loss[:, -1]
        del history
        if progress is not None:
            progress("training", int(index[-1]) + 1, total)

    shape = (grid_b.size, grid_a.size)
    result = PhaseMap(
        a=grid_a,
        b=grid_b,
        labels=labels.reshape(shape),
        final_a=final[0].reshape(shape),
        final_b=final[1].reshape(shape),
        final_loss=final[2].reshape(shape),
        teacher_loss=teacher_loss,
        teacher_ab=(float(teacher[names.index("a")]), float(teacher[names.index("b")])),
        marks=_example1_marks(experiment),
        settings=_settings(experiment, rounds, resolution, a_range, b_range, criteria),
    )
    if not flow:
        return result
    flow_result = flow_map(
        experiment,
        resolution=flow_resolution,
        a_range=a_range,
        b_range=b_range,
        time=flow_time,
        save_points=rounds + 1,
        chunk_size=chunk_size,
        criteria=criteria,
        progress=progress,
    )
    settings = dict(result.settings, flow_resolution=int(flow_resolution))
    settings["flow_time"] = float(flow_time)
    return PhaseMap(
        **{f.name: getattr(result, f.name) for f in fields(result)}
        | {"flow": flow_result, "settings": settings}
    )


def flow_map(
    experiment: Experiment | str = "overlap",
    *,
    resolution: int = 51,
    a_range: tuple[float, float] = A_RANGE,
    b_range: tuple[float, float] = B_RANGE,
    time: float = FLOW_TIME,
    save_points: int = 201,
    chunk_size: int = CHUNK_SIZE,
    criteria: Criteria | None = None,
    progress: Progress | None = None,
) -> FlowMap:
    """Label the paths of the averaged learning equation from an (a, b) grid.

    The equation is ``xi_T' = -eta <dl/dxi_T>`` on the experiment's trainable
    coordinates T, averaged over the true distribution (the paper's averaged learning
    equation), solved by :func:`singdyn.theory.averaged_flow` with time in units of
    ``eta t``. Each path is saved at ``save_points`` equally spaced times from 0 to
    ``time`` and labelled by
    the same rules as a training path, the save points in place of rounds and the
    averaged loss in place of the training loss.

    Args:
        experiment: an Experiment or a preset name (teacher, loss, noise, trainable
            coordinates and the other start coordinates).
        resolution: grid points along a and b, at least 2.
        a_range: ``(low, high)`` of a.
        b_range: ``(low, high)`` of b.
        time: end time, above 0.
        save_points: saved points per path, at least 3.
        chunk_size: start points solved at a time, at least 1 (at most
            :data:`FLOW_CHUNK_SIZE` are).
        criteria: the classifier's thresholds; ``Criteria()`` when None.
        progress: called after each chunk as ``progress("averaged flow", done,
            total)``.

    Returns:
        The :class:`FlowMap`.

    Raises:
        ValueError: on a bad setting.
    """
    from singdyn import theory

    experiment = load_preset(experiment) if isinstance(experiment, str) else experiment
    criteria = Criteria() if criteria is None else criteria
    _check_grid(resolution, a_range, b_range, "flow_resolution")
    if not (math.isfinite(time) and time > 0):
        raise ValueError(f"flow_time: accepted: a finite number > 0; got {time!r}")
    _check_whole("save_points", save_points, 3)
    _check_whole("chunk_size", chunk_size, 1)

    bias, loss, names = experiment.model.bias, loss_of(experiment), experiment.names
    teacher = experiment.teacher_flat()
    average = dict(
        bias=bias,
        loss=loss,
        noise_std=experiment.data.noise_std,
        x_range=tuple(experiment.data.x_range),
    )
    teacher_loss = float(theory.averaged_loss(teacher, teacher, **average))
    grid_a = np.linspace(*a_range, int(resolution))
    grid_b = np.linspace(*b_range, int(resolution))

    total = grid_a.size * grid_b.size
    labels = np.empty(total, dtype=np.int8)
    final = np.empty((2, total))
    success = np.empty(total, dtype=bool)
    k = unit_size(bias)
    # One chunk length throughout (the last chunk padded with its last point), so
    # the batched solver compiles once.
    size = min(int(chunk_size), FLOW_CHUNK_SIZE, total)
    for begin in range(0, total, size):
        index = np.arange(begin, min(begin + size, total))
        padded = np.concatenate([index, np.full(size - index.size, index[-1])])
        starts = _grid_starts(experiment.start_flat(), names, grid_a, grid_b, padded)
        solved = theory.averaged_flow(
            starts,
            teacher,
            bias=bias,
            t1=float(time),
            n_points=int(save_points),
            trainable=tuple(experiment.train.trainable),
            loss=loss,
            x_range=tuple(experiment.data.x_range),
            rtol=1e-8,
            atol=1e-8,
        )
        path = solved.path[: index.size]  # (m, T, p)
        path_loss = np.asarray(theory.averaged_loss(path, teacher, **average))
        a = path[..., :k] if k > 1 else path[..., 0]
        b = path[..., names.index("b")]
        labels[index] = classify_paths(a, b, path_loss, teacher_loss, criteria=criteria)
        final[0, index] = path[:, -1, names.index("a")]
        final[1, index] = path[:, -1, names.index("b")]
        success[index] = solved.success[: index.size]
        if progress is not None:
            progress("averaged flow", int(index[-1]) + 1, total)

    shape = (grid_b.size, grid_a.size)
    return FlowMap(
        a=grid_a,
        b=grid_b,
        labels=labels.reshape(shape),
        final_a=final[0].reshape(shape),
        final_b=final[1].reshape(shape),
        teacher_loss=teacher_loss,
        time=float(time),
        success=success.reshape(shape),
    )


def _grid_starts(base, names, grid_a, grid_b, index) -> np.ndarray:
    """``(len(index), p)`` start points of the flat grid indices (row-major: b, a)."""
    row, column = np.divmod(index, grid_a.size)
    starts = np.repeat(np.asarray(base, dtype=np.float64)[None], index.size, axis=0)
    starts[:, names.index("a")] = grid_a[column]
    starts[:, names.index("b")] = grid_b[row]
    return starts


def _example1_marks(experiment: Experiment) -> dict[str, tuple[float, float]]:
    """The five Example 1 start points, when the experiment has Example 1's teacher."""
    reference = load_preset(EXAMPLE1_CASES[0])
    same_model = experiment.model.bias == reference.model.bias
    if not (
        same_model and np.allclose(experiment.teacher_flat(), reference.teacher_flat())
    ):
        return {}
    marks = {}
    for name in EXAMPLE1_CASES:
        start = load_preset(name).start_flat()
        marks[name] = (float(start[0]), float(start[1]))
    return marks


def _settings(experiment, rounds, resolution, a_range, b_range, criteria) -> dict:
    """The settings of a phase map as flat, NetCDF-friendly attributes."""
    names = experiment.names
    start, teacher = experiment.start_flat(), experiment.teacher_flat()
    settings = {
        "singdyn_version": __version__,
        "preset": experiment.name,
        "rounds": int(rounds),
        "resolution": int(resolution),
        "a_range": [float(v) for v in a_range],
        "b_range": [float(v) for v in b_range],
        "bias": int(experiment.model.bias),
        "n_train": experiment.data.n_train,
        "noise_std": experiment.data.noise_std,
        "x_range": list(experiment.data.x_range),
        "data_seed": experiment.data.seed,
        "schedule_seed": experiment.schedule_seed,
        "batch_size": experiment.train.batch_size,
        "trainable": " ".join(experiment.train.trainable),
        "precision": experiment.train.precision,
        "loss": experiment.loss.kind,
        "loss_variance": experiment.loss.variance,
    }
    for key, value in experiment.optimizer.model_dump().items():
        settings[f"optimizer_{key}"] = value
    for i, name in enumerate(names):
        settings[f"teacher_{name}"] = float(teacher[i])
        if name not in ("a", "b"):
            settings[f"start_{name}"] = float(start[i])
    for item in fields(criteria):
        settings[f"criteria_{item.name}"] = getattr(criteria, item.name)
    return settings


def _check_grid(resolution, a_range, b_range, name: str) -> None:
    _check_whole(name, resolution, 2, MAX_RESOLUTION)
    for label, (low, high) in (("a_range", a_range), ("b_range", b_range)):
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(
                f"{label}: accepted: (low, high) with low < high, both finite; got "
                f"({low!r}, {high!r})"
            )


def _check_whole(name: str, value, least: int, most: int | None = None) -> None:
    if (
        isinstance(value, bool)
        or int(value) != value
        or int(value) < least
        or (most is not None and int(value) > most)
    ):
        accepted = f">= {least}" if most is None else f"from {least} to {most:,}"
        raise ValueError(f"{name}: accepted: an integer {accepted}; got {value!r}")


# --------------------------------------------------------------------------------------
# Output: NetCDF and the figure
# --------------------------------------------------------------------------------------


def to_dataset(result: PhaseMap):
    """The phase map as an :class:`xarray.Dataset` over the grid ``(b, a)``.

    Variables ``label`` (int8 codes, CF flag attributes naming them), ``final_a``,
    ``final_b``, ``final_loss``; with the flow also ``flow_label``, ``flow_final_a``,
    ``flow_final_b`` and ``flow_success`` over their own grid ``(flow_b, flow_a)``.
    The settings are attributes of the dataset.
    """
    import xarray as xr

    flags = {
        "flag_values": np.arange(len(LABELS), dtype=np.int8),
        "flag_meanings": " ".join(LABELS),
    }
    grid = ("b", "a")
    variables = {
        "label": (grid, result.labels.astype(np.int8), flags),
        "final_a": (grid, result.final_a, {"long_name": "a after the last round"}),
        "final_b": (grid, result.final_b, {"long_name": "b after the last round"}),
        "final_loss": (
            grid,
            result.final_loss,
            {"long_name": "training-set loss after the last round"},
        ),
    }
    coords = {
        "a": ("a", result.a, {"long_name": "start a"}),
        "b": ("b", result.b, {"long_name": "start b"}),
    }
    attrs = {**result.settings, "teacher_loss": result.teacher_loss}
    if result.flow is not None:
        flow, flow_grid = result.flow, ("flow_b", "flow_a")
        variables["flow_label"] = (flow_grid, flow.labels.astype(np.int8), flags)
        variables["flow_final_a"] = (flow_grid, flow.final_a)
        variables["flow_final_b"] = (flow_grid, flow.final_b)
        variables["flow_success"] = (flow_grid, flow.success.astype(np.int8))
        coords["flow_a"] = ("flow_a", flow.a)
        coords["flow_b"] = ("flow_b", flow.b)
        attrs["flow_teacher_loss"] = flow.teacher_loss
    attrs = {key: _attribute(value) for key, value in attrs.items()}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _attribute(value):
    """A NetCDF attribute: numbers, strings or number lists (bools as 0/1)."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, list | tuple):
        return np.asarray(value, dtype=np.float64)
    return value


def write_phase_map(result: PhaseMap, folder: Path) -> list[Path]:
    """Write ``phase_map.nc`` (NetCDF, h5netcdf engine) and ``phase_map.png`` into an
    existing folder; return their paths."""
    from singdyn import plots

    folder = Path(folder)
    data_path, figure_path = folder / "phase_map.nc", folder / "phase_map.png"
    to_dataset(result).to_netcdf(data_path, engine="h5netcdf")
    plots.save(figure_phase_map(result), figure_path)
    return [data_path, figure_path]


def figure_phase_map(result: PhaseMap):
    """The labels over the grid as colours, with the critical lines, the teacher and
    its unit-swapped twin and the paper's Example 1 start points; a second panel for
    the averaged flow when present."""
    import matplotlib.pyplot as plt

    panels = [(result.a, result.b, result.labels)]
    titles = [
        f"NetTrain ADAM, {result.settings.get('rounds')} rounds "
        f"({result.labels.shape[1]} x {result.labels.shape[0]} start points)"
    ]
    if result.flow is not None:
        flow = result.flow
        panels.append((flow.a, flow.b, flow.labels))
        titles.append(
            f"averaged gradient flow to eta t = {flow.time:g} "
            f"({flow.labels.shape[1]} x {flow.labels.shape[0]} start points)"
        )
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(6.4 * len(panels) + 3.6, 6.9),
        squeeze=False,
        layout="constrained",
    )
    for ax, (a, b, labels), title in zip(axes[0], panels, titles, strict=True):
        _draw_labels(ax, a, b, labels, title)
        point_handles = _draw_points(ax, result)

    fig.legend(
        handles=_label_handles([labels for _, _, labels in panels]),
        loc="outside right upper",
        title="kind of dynamics\n(share of the start points"
        + (": ADAM / flow)" if result.flow is not None else ")"),
        fontsize=9,
        title_fontsize=9,
        frameon=False,
    )
    fig.legend(
        handles=point_handles,
        loc="outside right lower",
        title="marked points (a, b)",
        fontsize=8.5,
        title_fontsize=9,
        frameon=False,
    )
    fig.suptitle(_suptitle(result), fontsize=10.5)
    return fig


def _draw_labels(ax, a, b, labels, title: str) -> None:
    from matplotlib.colors import BoundaryNorm, ListedColormap

    from singdyn import plots

    colors = ListedColormap([LABEL_COLORS[name] for name in LABELS])
    norm = BoundaryNorm(np.arange(len(LABELS) + 1) - 0.5, len(LABELS))
    # One cell per start point, centred on it; the grid is uniform, so an image is
    # exact and stays light at a million points (a mesh of quads does not).
    half_a, half_b = (a[1] - a[0]) / 2, (b[1] - b[0]) / 2
    extent = (a[0] - half_a, a[-1] + half_a, b[0] - half_b, b[-1] + half_b)
    ax.imshow(
        labels,
        cmap=colors,
        norm=norm,
        origin="lower",
        extent=extent,
        aspect="auto",
        interpolation="nearest",
        zorder=0,
    )
    ax.set_xlim(extent[:2])
    ax.set_ylim(extent[2:])
    plots.draw_critical_lines(ax)  # after the limits: it places its names by them
    ax.set_xlabel("start a")
    ax.set_ylabel("start b")
    ax.set_title(title, fontsize=10)


def _label_handles(label_grids) -> list:
    """One legend entry per label with its share of each grid."""
    from matplotlib.patches import Patch

    shares = [
        np.bincount(labels.ravel(), minlength=len(LABELS)) / labels.size
        for labels in label_grids
    ]
    handles = []
    for code, name in enumerate(LABELS):
        text = " / ".join(f"{share[code]:.1%}" for share in shares)
        handles.append(
            Patch(facecolor=LABEL_COLORS[name], edgecolor="0.4", lw=0.5,
                  label=f"{name.replace('_', ' ')}: {text}")
        )  # fmt: skip
    return handles


def _draw_points(ax, result: PhaseMap) -> list:
    """Mark the teacher, its unit-swapped twin and the Example 1 start points;
    return legend handles for them."""
    from matplotlib.lines import Line2D

    ta, tb = result.teacher_ab
    ta, tb = ta + 0.0, tb + 0.0  # no "-0" in the labels
    star = dict(marker="*", mec="black", ls="none")
    ax.plot(ta, tb, ms=18, mfc="gold", zorder=6, **star)
    ax.plot(-ta, -tb, ms=18, mfc="white", zorder=6, **star)
    handles = [
        Line2D([], [], ms=13, mfc="gold", label=f"teacher ({ta:g}, {tb:g})", **star),
        Line2D([], [], ms=13, mfc="white",
               label=f"teacher, units swapped ({-ta + 0.0:g}, {-tb + 0.0:g})",
               **star),
    ]  # fmt: skip
    for number, (name, (a, b)) in enumerate(result.marks.items(), start=1):
        ax.plot(a, b, marker="o", ms=14, mfc="white", mec="black", ls="none", zorder=7)
        ax.text(a, b, str(number), ha="center", va="center", fontsize=8, zorder=8)
        handles.append(
            Line2D([], [], marker=f"${number}$", ms=7, color="black", ls="none",
                   label=f"paper: {name.replace('_', ' ')} ({a:g}, {b:g})")
        )  # fmt: skip
    return handles


def _suptitle(result: PhaseMap) -> str:
    s = result.settings
    fixed = ", ".join(
        f"{key.removeprefix('start_')} = {value:g}"
        for key, value in s.items()
        if key.startswith("start_")
    )
    return (
        f"Kind of dynamics from each start point (a, b), {fixed} fixed\n"
        f"preset {s.get('preset')}: n = {s.get('n_train')} "
        f"(noise {s.get('noise_std'):g}, seed {s.get('data_seed')}), "
        f"batch {s.get('batch_size')}, lr "
        f"{s.get('optimizer_learning_rate'):g}, {s.get('precision')}"
    )
