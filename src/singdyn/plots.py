"""Static figures (matplotlib), one builder per kind of figure.

Each builder draws on axes it is given or returns a new figure; none of them shows or
saves anything, so the caller decides the file and format. The critical lines are the
singular regions in xi coordinates: a = 0 (R0, the two hidden units coincide) and
b = -1, b = +1 (R1, w31 = 0 or w32 = 0).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from singdyn.surface import Surface  # noqa: E402

__all__ = [
    "draw_critical_lines",
    "draw_path",
    "inside_grid",
    "label_surface_axes",
    "map_legend",
    "plane_legend",
    "figure_parameters",
    "figure_loss",
    "figure_data",
    "figure_surfaces",
    "save",
]

A_COLOR = "tab:blue"
B_COLOR = "tab:orange"
PATH_COLOR = "crimson"
CRITICAL_COLOR = "0.25"
LABEL_BOX = dict(boxstyle="round,pad=0.25", fc="white", ec="none", alpha=0.8)
"""Behind text drawn over data (the critical lines' names): readable on any colour."""
LABEL_GAP = 4.0
"""Points between a critical line and its name, so the name's box leaves it visible."""


def draw_critical_lines(ax: Axes, *, labels: bool = True) -> None:
    """Draw and label a = 0 (R0) and b = -1, b = +1 (R1) on (a, b) axes.

    The names sit beside their lines (above b = +-1, right of a = 0) on a light box,
    so they read on a contour map or a phase map as well as on white. The names of
    b = +-1 start at the left edge, or end at the right one when a = 0 is near the
    left edge and would run through them: set the axes' a limits first.
    """
    style = dict(color=CRITICAL_COLOR, lw=1.0, ls="--", zorder=1)
    ax.axvline(0.0, **style)
    ax.axhline(-1.0, **style)
    ax.axhline(1.0, **style)
    if not labels:
        return
    text = dict(
        color="0.1",
        fontsize=8,
        zorder=5,
        bbox=LABEL_BOX,
        textcoords="offset points",
        clip_on=True,  # a line out of view leaves no name floating outside the axes
    )
    along_b = ax.get_yaxis_transform()  # x in axes fraction, y in data
    low, high = ax.get_xlim()
    zero_at = (0.0 - low) / (high - low)  # where a = 0 is, as a fraction of the width
    x, ha = (0.99, "right") if 0.0 < zero_at < 0.3 else (0.01, "left")
    for value, name in ((1.0, "b = +1 (w32 = 0)"), (-1.0, "b = -1 (w31 = 0)")):
        ax.annotate(
            name,
            (x, value),
            xycoords=along_b,
            xytext=(0, LABEL_GAP),
            va="bottom",
            ha=ha,
            **text,
        )
    ax.annotate(
        "a = 0 (u1 = u2)",
        (0.0, 0.99),
        xycoords=ax.get_xaxis_transform(),
        xytext=(LABEL_GAP, 0),
        va="top",
        ha="left",
        **text,
    )


def plane_legend(ax: Axes) -> None:
    """The legend of an (a, b) panel, outside it on the right: a path, its start and
    end and the teacher can be anywhere in the plane, so no corner is sure to be
    free."""
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        fontsize=7,
        frameon=False,
    )


def draw_path(
    ax: Axes,
    a: np.ndarray,
    b: np.ndarray,
    *,
    color: str = PATH_COLOR,
    label: str | None = "path",
    markers: bool = True,
) -> None:
    """Draw a path in the (a, b) plane with its start (circle) and end (square)."""
    ax.plot(a, b, "-", color=color, lw=1.4, label=label, zorder=3)
    ax.plot(a, b, ".", color=color, ms=2.5, zorder=3)
    if markers:
        ax.plot(a[0], b[0], "o", mfc="white", mec=color, ms=7, zorder=4, label="start")
        ax.plot(a[-1], b[-1], "s", color=color, ms=6, zorder=4, label="end")


FLOW_COLOR = "tab:cyan"
_FLOW_OUTLINE = [patheffects.withStroke(linewidth=2.4, foreground="k")]


def _draw_flow(ax: Axes, a: np.ndarray, b: np.ndarray) -> None:
    """The averaged gradient flow from the same start: a thin dashed line, outlined
    in black, ending in a small X, so a reader sees where the optimizer leaves it.

    The line is drawn over the path and the teacher's star: where the flow and the
    path coincide (fast convergence) the path shows between the dashes. The X is drawn
    over every mark, which still shows around it: a flow may end on the teacher or
    at the round of least validation loss.
    """
    ax.plot(
        a,
        b,
        color=FLOW_COLOR,
        lw=1.1,
        ls=(0, (4, 2.5)),
        path_effects=_FLOW_OUTLINE,
        zorder=6.5,
        label="averaged flow",
    )
    ax.plot(
        a[-1],
        b[-1],
        "X",
        color=FLOW_COLOR,
        mec="k",
        mew=0.6,
        ms=6,
        zorder=7.5,
        label="its end",
    )


def _mark_teacher(ax: Axes, teacher_ab: tuple[float, float] | None) -> None:
    if teacher_ab is None:
        return
    a, b = teacher_ab
    ax.plot(a, b, "*", color="gold", mec="k", ms=13, zorder=6, label="teacher")
    ax.plot(-a, -b, "*", color="white", mec="k", ms=11, zorder=6, label="its twin")


def figure_parameters(
    a: np.ndarray,
    b: np.ndarray,
    *,
    title: str,
    teacher_ab: tuple[float, float] | None = None,
    limits: tuple[tuple[float, float], tuple[float, float]] | None = None,
    overlay: tuple[np.ndarray, np.ndarray] | None = None,
) -> Figure:
    """a and b against rounds (left) and the path in the (a, b) plane (right).

    Args:
        a: ``(R + 1,)`` a per round (round 0 is the start).
        b: ``(R + 1,)`` b per round.
        title: the figure's title.
        teacher_ab: the teacher's (a, b), marked with its unit-swapped twin (-a, -b).
        limits: ``((a_low, a_high), (b_low, b_high))`` of the right panel.
        overlay: another path ``(a, b)`` to draw beside, such as the averaged flow.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3), layout="constrained")
    rounds = np.arange(len(a))
    left.plot(rounds, a, color=A_COLOR, label="a")
    left.plot(rounds, b, color=B_COLOR, label="b")
    left.axhline(0.0, color=A_COLOR, lw=0.8, ls=":")
    for level in (-1.0, 1.0):
        left.axhline(level, color=B_COLOR, lw=0.8, ls=":")
    left.set_xlabel("round")
    left.set_ylabel("parameter")
    left.set_title("a and b against rounds")
    left.legend(loc="best", fontsize=8)

    if limits is not None:
        right.set_xlim(*limits[0])
        right.set_ylim(*limits[1])
    draw_critical_lines(right)
    if overlay is not None:
        _draw_flow(right, *overlay)
    draw_path(right, a, b)
    _mark_teacher(right, teacher_ab)
    right.set_xlabel("a")
    right.set_ylabel("b")
    right.set_title("path against the critical lines")
    plane_legend(right)
    fig.suptitle(title)
    return fig


def figure_loss(
    round_loss: np.ndarray,
    train_loss: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    surface: Surface,
    *,
    title: str,
    teacher_loss: float | None = None,
    teacher_ab: tuple[float, float] | None = None,
    overlay: tuple[np.ndarray, np.ndarray] | None = None,
) -> Figure:
    """Training loss against rounds, and the path on the loss surface G(a, b) as a 3D
    surface and as a contour map.

    Args:
        round_loss: ``(R,)`` NetTrain's round loss, rounds 1..R.
        train_loss: ``(R + 1,)`` loss over the training set at each round's end.
        a: ``(R + 1,)`` a per round.
        b: ``(R + 1,)`` b per round.
        surface: G over the (a, b) grid.
        title: the figure's title.
        teacher_loss: the teacher's own loss on the same data, drawn as a line.
        teacher_ab: the teacher's (a, b), marked on the contour map.
        overlay: another path ``(a, b)`` drawn on the contour map, such as the
            averaged flow.
    """
    fig = plt.figure(figsize=(16, 4.6), layout="constrained")
    ax_loss = fig.add_subplot(1, 3, 1)
    ax_3d = fig.add_subplot(1, 3, 2, projection="3d")
    ax_map = fig.add_subplot(1, 3, 3)

    rounds = np.arange(len(train_loss))
    ax_loss.plot(rounds[1:], round_loss, color="tab:purple", label="round loss")
    ax_loss.plot(rounds, train_loss, color="k", lw=1.0, label="loss at round end")
    if teacher_loss is not None:
        ax_loss.axhline(teacher_loss, color="goldenrod", ls="--", label="teacher")
    ax_loss.set_xlabel("round")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title("training loss against rounds")
    ax_loss.ticklabel_format(axis="y", useOffset=True, style="sci", scilimits=(-3, 3))
    ax_loss.legend(fontsize=8)

    _surface_3d(ax_3d, surface, a, b, train_loss)
    ax_3d.set_title("path on the training-loss surface G")
    _surface_map(ax_map, surface, a, b, teacher_ab, overlay=overlay)
    ax_map.set_title("path on G (contours)")
    map_legend(fig, ax_map)
    fig.suptitle(title)
    return fig


def map_legend(fig: Figure, ax: Axes, *, loc: str = "lower right") -> None:
    """The legend of a contour map, below the figure's panels (under the map when it
    is the last one): the contours fill the map, so a legend inside would hide some.

    Args:
        fig: the figure (with the constrained layout, which makes room below).
        ax: the map, whose labelled lines and markers the legend lists.
        loc: ``"lower right"`` or ``"lower center"`` (under a row of maps).
    """
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc=f"outside {loc}",
        ncols=min(len(handles), 4),
        fontsize=8,
        frameon=False,
    )


def figure_surfaces(
    train_surface: Surface,
    test_surface: Surface,
    a: np.ndarray,
    b: np.ndarray,
    *,
    title: str,
    train_path_loss: np.ndarray,
    test_path_loss: np.ndarray,
) -> Figure:
    """The path on the training-loss surface G and the validation-loss surface H, side
    by side, each as a 3D surface."""
    fig = plt.figure(figsize=(13, 5), layout="constrained")
    for i, (surface, loss, name) in enumerate(
        (
            (train_surface, train_path_loss, "training loss G"),
            (test_surface, test_path_loss, "validation loss H"),
        )
    ):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        _surface_3d(ax, surface, a, b, loss, name=name[-1])
        ax.set_title(f"path on the {name}")
    fig.suptitle(title)
    return fig


def _surface_3d(ax, surface: Surface, a, b, path_loss, *, name: str = "G") -> None:
    # The loss varies by ~1e-5 along its valleys and by ~1e-1 over the grid: on a
    # linear axis the valleys, where the paths run, are flat. Draw log10 of the excess
    # over the lowest value met (grid or path) instead.
    floor = min(surface.loss.min(), np.min(path_loss))
    # Caps the depth of the wells; a flat surface gets any positive floor.
    tiny = max(1e-5 * (surface.loss.max() - floor), 1e-300)

    def height(values):
        return np.log10(np.maximum(values - floor, 0.0) + tiny)

    aa, bb = np.meshgrid(surface.a, surface.b)
    ax.plot_surface(aa, bb, height(surface.loss), cmap="viridis", alpha=0.7, lw=0)
    inside = inside_grid(surface, a, b)
    z = height(np.asarray(path_loss))
    ax.plot(a[inside], b[inside], z[inside], color=PATH_COLOR, lw=2.0, zorder=10)
    ax.scatter(a[0], b[0], z[0], color="white", edgecolor=PATH_COLOR, s=30)
    ax.scatter(a[-1], b[-1], z[-1], color=PATH_COLOR, marker="s", s=30)
    label_surface_axes(ax, f"log10({name} - min {name})")
    ax.view_init(elev=38, azim=-120)


def label_surface_axes(ax, zlabel: str) -> None:
    """Name the axes of a 3D loss surface over (a, b).

    At most six heights are ticked and the z name is set off from them, so it never
    sits on the tick numbers (long ones such as -0.25 included); the box is drawn a
    little smaller than the panel, so the name stays inside the panel too and off
    its neighbour.
    """
    ax.set_xlabel("a")
    ax.set_ylabel("b")
    ax.zaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    ax.set_zlabel(zlabel, labelpad=10)
    ax.set_box_aspect(None, zoom=0.9)


def _surface_map(ax: Axes, surface: Surface, a, b, teacher_ab, *, overlay=None) -> None:
    # Log-spaced levels of the excess over the grid minimum resolve the flat valleys.
    excess = surface.loss - surface.loss.min()
    positive = excess[excess > 0]
    top = positive.max(initial=0.0) or 1.0  # a flat surface: any positive scale
    low = max(positive.min(initial=top), top * 1e-6)
    if low >= top:  # one excess value only: one colour band
        low = top * 1e-6
    levels = np.geomspace(low, top, 25)
    contour = ax.contourf(
        surface.a,
        surface.b,
        np.maximum(excess, levels[0]),
        levels=levels,
        cmap="viridis",
        norm=matplotlib.colors.LogNorm(),
    )
    ax.figure.colorbar(contour, ax=ax, label="G - min G (log scale)", format="%.0e")
    ax.set_xlim(surface.a[0], surface.a[-1])
    ax.set_ylim(surface.b[0], surface.b[-1])
    draw_critical_lines(ax)
    if overlay is not None:
        _draw_flow(ax, *overlay)
    draw_path(ax, a, b)
    _mark_teacher(ax, teacher_ab)
    ax.set_xlabel("a")
    ax.set_ylabel("b")


def inside_grid(surface: Surface, a, b) -> np.ndarray:
    """Which points of a path lie inside the surface's grid."""
    return (
        (a >= surface.a[0])
        & (a <= surface.a[-1])
        & (b >= surface.b[0])
        & (b <= surface.b[-1])
    )


def figure_data(
    x: np.ndarray,
    y: np.ndarray,
    grid: np.ndarray,
    teacher: np.ndarray,
    *,
    title: str,
    label: str = "training data",
    curves: dict[str, np.ndarray] | None = None,
) -> Figure:
    """Data points with the teacher (and other named curves) drawn over them.

    Args:
        x: ``(n,)`` inputs.
        y: ``(n,)`` outputs.
        grid: ``(g,)`` inputs at which the curves are given.
        teacher: ``(g,)`` the teacher's outputs on ``grid``.
        title: the figure's title.
        label: the data's legend label.
        curves: further ``name -> (g,)`` outputs, such as a trained network.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4.3), layout="constrained")
    ax.plot(x, y, ".", color="tab:blue", ms=4, alpha=0.8, label=label)
    ax.plot(grid, teacher, color="goldenrod", lw=2.0, label="teacher")
    for name, values in (curves or {}).items():
        ax.plot(grid, values, lw=1.5, label=name)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def save(fig: Figure, path) -> None:
    """Write a figure as PNG (150 dpi) and close it."""
    fig.savefig(path, dpi=150)
    plt.close(fig)
