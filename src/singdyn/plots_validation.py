"""Figures of the paper's section 3 (figures 19 to 30): runs with a validation set.

Builders in the manner of :mod:`singdyn.plots`: each returns a figure (or draws on axes
it is given) and saves nothing. Loss curves are given per round ``0..R`` (index 0: the
start), as ``History.train_loss`` and ``History.validation_loss`` hold them; the round
of least validation loss (the net NetTrain returns) is marked on every loss curve.
"""

from __future__ import annotations

from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from singdyn.data import Dataset  # noqa: E402
from singdyn.plots import (  # noqa: E402
    PATH_COLOR,
    draw_critical_lines,
    draw_path,
    inside_grid,
    label_surface_axes,
    map_legend,
    plane_legend,
)
from singdyn.surface import Surface  # noqa: E402

__all__ = [
    "draw_losses",
    "draw_fit",
    "figure_datasets",
    "figure_losses_apart",
    "figure_losses_together",
    "figure_losses_and_fit",
    "figure_before_after",
    "figure_surfaces_with_maps",
    "mark_best_on_parameters",
]

TRAIN_COLOR = "k"
VALIDATION_COLOR = "tab:red"
ROUND_LOSS_COLOR = "tab:purple"
TEACHER_COLOR = "goldenrod"
BEST_COLOR = "tab:green"
LAST_COLOR = "crimson"
START_COLOR = "tab:gray"
BELOW_COLOR = "tab:green"
ABOVE_COLOR = "tab:red"


def _plot_round_loss(ax, round_loss) -> None:
    """The round loss (rounds 1..R) as a thin dotted line, when there is one."""
    if round_loss is None:
        return
    ax.plot(
        np.arange(1, len(round_loss) + 1),
        round_loss,
        color=ROUND_LOSS_COLOR,
        lw=0.9,
        ls=":",
        label="round loss (mean of the round's batch losses)",
    )


def _mark_best(ax: Axes, best_round: int, loss: np.ndarray | None = None) -> None:
    """A vertical line at the best round and, given a curve, a diamond on it."""
    ax.axvline(best_round, color=BEST_COLOR, lw=1.0, ls=":", zorder=1)
    if loss is not None:
        ax.plot(
            best_round,
            loss[best_round],
            "D",
            color=BEST_COLOR,
            mec="k",
            ms=6,
            zorder=5,
            label=f"least validation loss (round {best_round})",
        )


def _loss_axis(ax: Axes) -> None:
    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.ticklabel_format(axis="y", useOffset=False, style="sci", scilimits=(-3, 3))
    ax.grid(alpha=0.3)


def draw_losses(
    ax: Axes,
    train_loss: np.ndarray,
    validation_loss: np.ndarray,
    *,
    best_round: int,
    round_loss: np.ndarray | None = None,
    gap_margin: float | None = None,
    relative: bool = False,
    legend_outside: bool = False,
) -> None:
    """Training and validation loss on one axes, the best round marked.

    Args:
        ax: the axes.
        train_loss: ``(R + 1,)`` training loss at the end of rounds ``0..R``.
        validation_loss: ``(R + 1,)`` validation loss at the same rounds.
        best_round: the round of least validation loss.
        round_loss: ``(R,)`` NetTrain's round loss for rounds ``1..R``, drawn dotted
            (not with ``relative``).
        gap_margin: when given, shade the rounds where the validation loss is below
            (green) or above (red) the training loss by more than this fraction of it.
        relative: draw each loss as its change since the best round, in percent:
            two curves at levels far apart whose changes are small (overfitting)
            then show both trends on one axis.
        legend_outside: put the legend right of the axes, where it can hide no
            curve and not the best round's line; else where matplotlib finds the
            least data under it.
    """
    rounds = np.arange(len(train_loss))
    if relative:
        train_loss = 100 * (train_loss / train_loss[best_round] - 1)
        validation_loss = 100 * (validation_loss / validation_loss[best_round] - 1)
        round_loss = gap_margin = None
        ax.axhline(0.0, color="0.5", lw=0.8)
    if gap_margin is not None:
        for where, color, label in (
            (validation_loss < train_loss * (1 - gap_margin), BELOW_COLOR, "below"),
            (validation_loss > train_loss * (1 + gap_margin), ABOVE_COLOR, "above"),
        ):
            ax.fill_between(
                rounds,
                train_loss,
                validation_loss,
                where=where,
                color=color,
                alpha=0.18,
                lw=0,
                interpolate=True,
                label=f"validation {label} training by > {gap_margin:.0%}",
            )
    _plot_round_loss(ax, round_loss)
    ax.plot(rounds, train_loss, color=TRAIN_COLOR, lw=1.3, label="training loss")
    ax.plot(
        rounds, validation_loss, color=VALIDATION_COLOR, lw=1.3, label="validation loss"
    )
    _mark_best(ax, best_round, validation_loss)
    _loss_axis(ax)
    if relative:
        ax.set_ylabel(f"change since round {best_round} (%)")
    else:
        ax.set_ylabel("mean squared error")
    if legend_outside:
        ax.legend(
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            frameon=False,
        )
    else:
        ax.legend(fontsize=7, loc="best")


_NET_STYLES = (
    dict(color=BEST_COLOR, lw=1.6),
    dict(color=LAST_COLOR, lw=1.3, ls="--"),
    dict(color=START_COLOR, lw=1.3, ls="-."),
)


def draw_fit(
    ax: Axes,
    datasets: dict[str, Dataset],
    grid: np.ndarray,
    teacher: np.ndarray,
    nets: dict[str, np.ndarray],
    *,
    styles: tuple[dict, ...] = _NET_STYLES,
) -> None:
    """Data points, the teacher and trained networks over them.

    Args:
        ax: the axes.
        datasets: ``label -> data set`` drawn as points (at most two).
        grid: ``(g,)`` inputs at which the curves are given.
        teacher: ``(g,)`` the teacher's outputs.
        nets: ``label -> (g,)`` outputs of networks, drawn in the order given.
        styles: line styles of the networks, in the same order.
    """
    markers = [("o", "tab:blue"), ("x", "tab:orange")]
    for (label, data), (marker, color) in zip(datasets.items(), markers, strict=False):
        ax.plot(
            data.x, data.y, marker, color=color, ms=3, alpha=0.6, ls="", label=label
        )
    ax.plot(grid, teacher, color=TEACHER_COLOR, lw=2.4, label="teacher")
    for (label, values), style in zip(nets.items(), styles, strict=False):
        ax.plot(grid, values, label=label, **style)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")


def _draw_differences(
    ax: Axes, grid: np.ndarray, teacher: np.ndarray, nets: dict[str, np.ndarray]
) -> None:
    """Each network minus the teacher: what the fit panel above cannot resolve."""
    ax.axhline(0.0, color=TEACHER_COLOR, lw=2.0)
    for (label, values), style in zip(nets.items(), _NET_STYLES, strict=False):
        ax.plot(grid, values - teacher, label=label, **style)
    ax.set_xlabel("x")
    ax.set_ylabel("network - teacher")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.grid(alpha=0.3)


def figure_datasets(
    train: Dataset, test: Dataset, grid: np.ndarray, teacher: np.ndarray, *, title: str
) -> Figure:
    """The training data (left) and the test data (right) with the teacher."""
    fig, axes = plt.subplots(
        1, 2, figsize=(11, 4.2), layout="constrained", sharex=True, sharey=True
    )
    for ax, data, name in (
        (axes[0], train, "training data"),
        (axes[1], test, "test data (the validation set)"),
    ):
        draw_fit(ax, {name: data}, grid, teacher, {})
        ax.set_title(f"{name}, n = {data.size}")
    fig.suptitle(title)
    return fig


def figure_losses_apart(
    train_loss: np.ndarray,
    validation_loss: np.ndarray,
    *,
    best_round: int,
    title: str,
    round_loss: np.ndarray | None = None,
    teacher_losses: tuple[float, float] | None = None,
    share_y: bool = False,
) -> Figure:
    """Training loss (left) and validation loss (right) against rounds, apart.

    Args:
        train_loss: ``(R + 1,)`` training loss at the end of rounds ``0..R``.
        validation_loss: ``(R + 1,)`` validation loss at the same rounds.
        best_round: the round of least validation loss, marked on both.
        title: the figure's title.
        round_loss: ``(R,)`` NetTrain's round loss, drawn dotted on the left.
        teacher_losses: the teacher's own loss on the training and on the test set,
            drawn as dashed lines.
        share_y: one y axis for both panels, so their levels compare.
    """
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(11, 4.2), layout="constrained", sharey=share_y
    )
    rounds = np.arange(len(train_loss))
    _plot_round_loss(left, round_loss)
    left.plot(rounds, train_loss, color=TRAIN_COLOR, lw=1.3, label="at round end")
    right.plot(
        rounds, validation_loss, color=VALIDATION_COLOR, lw=1.3, label="at round end"
    )
    _mark_best(left, best_round, train_loss)
    _mark_best(right, best_round, validation_loss)
    if teacher_losses is not None:
        for ax, value in zip((left, right), teacher_losses, strict=True):
            ax.axhline(value, color=TEACHER_COLOR, ls="--", lw=1.2, label="teacher")
    for ax, name in ((left, "training loss G"), (right, "validation loss H")):
        _loss_axis(ax)
        ax.set_ylabel(name)
        ax.set_title(f"{name} against rounds")
        ax.margins(y=0.08)
        ax.legend(fontsize=7, loc="best")
    right.yaxis.set_tick_params(labelleft=True)
    fig.suptitle(title)
    return fig


def figure_losses_together(
    train_loss: np.ndarray,
    validation_loss: np.ndarray,
    *,
    best_round: int,
    title: str,
    round_loss: np.ndarray | None = None,
    gap_margin: float | None = None,
) -> Figure:
    """Training and validation loss on one axes (see :func:`draw_losses`)."""
    fig, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")
    draw_losses(
        ax,
        train_loss,
        validation_loss,
        best_round=best_round,
        round_loss=round_loss,
        gap_margin=gap_margin,
        legend_outside=True,
    )
    fig.suptitle(title)
    return fig


def figure_losses_and_fit(
    train_loss: np.ndarray,
    validation_loss: np.ndarray,
    *,
    best_round: int,
    datasets: dict[str, Dataset],
    grid: np.ndarray,
    teacher: np.ndarray,
    nets: dict[str, np.ndarray],
    title: str,
    round_loss: np.ndarray | None = None,
    gap_margin: float | None = None,
    relative: bool = False,
) -> Figure:
    """Both losses together (left); the trained networks over the data (right, top)
    and their difference from the teacher (right, bottom).

    See :func:`draw_losses` for ``round_loss``, ``gap_margin`` and ``relative``.
    """
    fig = plt.figure(figsize=(12.5, 5.2), layout="constrained")
    grid_spec = fig.add_gridspec(2, 2, height_ratios=(2.6, 1.0))
    left = fig.add_subplot(grid_spec[:, 0])
    top = fig.add_subplot(grid_spec[0, 1])
    bottom = fig.add_subplot(grid_spec[1, 1], sharex=top)
    draw_losses(
        left,
        train_loss,
        validation_loss,
        best_round=best_round,
        round_loss=round_loss,
        gap_margin=gap_margin,
        relative=relative,
    )
    left.set_title("training and validation loss")
    draw_fit(top, datasets, grid, teacher, nets)
    top.set_xlabel("")
    top.set_title("the trained network over the data")
    _draw_differences(bottom, grid, teacher, nets)
    fig.suptitle(title)
    return fig


def figure_before_after(
    data: Dataset,
    grid: np.ndarray,
    teacher: np.ndarray,
    *,
    before: np.ndarray,
    after: dict[str, np.ndarray],
    title: str,
    data_label: str = "test data",
) -> Figure:
    """The network before training (left) and after it (right) over the data."""
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(11, 4.2), layout="constrained", sharex=True, sharey=True
    )
    draw_fit(
        left,
        {data_label: data},
        grid,
        teacher,
        {"before training (the start)": before},
        styles=(_NET_STYLES[2],),
    )
    left.set_title("before training")
    draw_fit(right, {data_label: data}, grid, teacher, after)
    right.set_title("after training")
    fig.suptitle(title)
    return fig


def mark_best_on_parameters(
    fig: Figure, a: np.ndarray, b: np.ndarray, best_round: int
) -> None:
    """Mark the best round on a :func:`singdyn.plots.figure_parameters` figure: a
    line on its left panel, a diamond on the path in its right panel."""
    left, right = fig.axes[:2]
    left.axvline(best_round, color=BEST_COLOR, lw=1.0, ls=":")
    _mark_best_on_plane(right, a, b, best_round)
    plane_legend(right)


def _mark_best_on_plane(ax: Axes, a: np.ndarray, b: np.ndarray, best_round: int):
    """A diamond at the path's point of least validation loss in the (a, b) plane."""
    ax.plot(
        a[best_round],
        b[best_round],
        "D",
        color=BEST_COLOR,
        mec="k",
        ms=7,
        zorder=7,
        label=f"least validation loss (round {best_round})",
    )


def figure_surfaces_with_maps(
    train_surface: Surface,
    test_surface: Surface,
    a: np.ndarray,
    b: np.ndarray,
    *,
    train_path_loss: np.ndarray,
    test_path_loss: np.ndarray,
    best_round: int,
    title: str,
) -> Figure:
    """The path on the training-loss surface G (left) and the validation-loss surface
    H (right): as 3D surfaces (top) and contour maps (bottom).

    Heights and colours are ``log10`` of the excess over the least value met on the
    grid or the path, resolved down to 2% of the range the path spans and cut off
    above three times the path's highest excess: the losses along the path can vary
    a million times less than over the grid (Example 2), and a scale set by the
    whole grid would show the path's neighbourhood in one colour.

    Args:
        train_surface: G over the (a, b) grid.
        test_surface: H over the same grid.
        a: ``(R + 1,)`` a per round.
        b: ``(R + 1,)`` b per round.
        train_path_loss: ``(R + 1,)`` G along the path (the training loss).
        test_path_loss: ``(R + 1,)`` H along the path (the validation loss).
        best_round: the round of least validation loss, marked with a diamond.
        title: the figure's title.
    """
    fig = plt.figure(figsize=(13, 10), layout="constrained")
    panels = (
        (train_surface, train_path_loss, "G", "training loss G"),
        (test_surface, test_path_loss, "H", "validation loss H"),
    )
    for column, (surface, path_loss, symbol, name) in enumerate(panels):
        scale = _ExcessScale.of(surface, np.asarray(path_loss))
        ax3d = fig.add_subplot(2, 2, column + 1, projection="3d")
        _surface_3d(ax3d, surface, a, b, path_loss, scale, best_round)
        label_surface_axes(ax3d, f"log10({symbol} - min {symbol})")
        ax3d.set_title(f"path on the {name}")
        ax_map = fig.add_subplot(2, 2, column + 3)
        _surface_map(ax_map, surface, a, b, scale, best_round, symbol)
        ax_map.set_title(f"path on {symbol} (contours)")
    # The same marks on both maps: one legend, under the pair.
    map_legend(fig, ax_map, loc="lower center")
    fig.suptitle(title)
    return fig


class _ExcessScale(NamedTuple):
    """``log10(clip(loss - floor, 0, top) + tiny)``: the scale of a surface figure."""

    floor: float
    tiny: float
    top: float

    @classmethod
    def of(cls, surface: Surface, path_loss: np.ndarray) -> _ExcessScale:
        floor = min(surface.loss.min(), path_loss.min())
        grid_top = surface.loss.max() - floor
        span = path_loss.max() - path_loss.min()
        tiny = 0.02 * span if span > 0 else 1e-6 * grid_top
        top = min(grid_top, 3 * (path_loss.max() - floor))
        return cls(floor=floor, tiny=max(tiny, 1e-300), top=max(top, 10 * tiny))

    def height(self, loss) -> np.ndarray:
        excess = np.clip(np.asarray(loss) - self.floor, 0.0, self.top)
        return np.log10(excess + self.tiny)


def _surface_3d(ax, surface: Surface, a, b, path_loss, scale, best_round) -> None:
    aa, bb = np.meshgrid(surface.a, surface.b)
    z = scale.height(surface.loss)
    ax.plot_surface(aa, bb, z, cmap="viridis", alpha=0.65, lw=0, rcount=60, ccount=60)
    inside = inside_grid(surface, a, b)
    path_z = scale.height(path_loss)
    ax.plot(a[inside], b[inside], path_z[inside], color=PATH_COLOR, lw=2.0, zorder=10)
    ax.scatter(a[0], b[0], path_z[0], color="white", edgecolor=PATH_COLOR, s=30)
    ax.scatter(a[-1], b[-1], path_z[-1], color=PATH_COLOR, marker="s", s=30)
    ax.scatter(
        a[best_round],
        b[best_round],
        path_z[best_round],
        color=BEST_COLOR,
        edgecolor="k",
        marker="D",
        s=40,
    )
    ax.view_init(elev=38, azim=-120)


def _surface_map(ax: Axes, surface: Surface, a, b, scale, best_round, symbol) -> None:
    levels = np.geomspace(scale.tiny, scale.top + scale.tiny, 25)
    contour = ax.contourf(
        surface.a,
        surface.b,
        np.clip(surface.loss - scale.floor, 0, scale.top) + scale.tiny,
        levels=levels,
        cmap="viridis",
        norm=LogNorm(),
    )
    ax.figure.colorbar(
        contour,
        ax=ax,
        label=f"{symbol} - min {symbol} (log scale, cut off at the top)",
        format="%.0e",
    )
    ax.set_xlim(surface.a[0], surface.a[-1])
    ax.set_ylim(surface.b[0], surface.b[-1])
    draw_critical_lines(ax)
    draw_path(ax, a, b)
    _mark_best_on_plane(ax, a, b, best_round)
    ax.set_xlabel("a")
    ax.set_ylabel("b")
