"""Figures of the theory side: first integrals in the (b, a) plane and averaged flows.

Every builder returns a matplotlib Figure (Agg backend) and draws nothing on screen;
:func:`overlay_flow` and :func:`draw_critical_lines` draw on an Axes the caller owns, so
the experiment plots can put the averaged flow over a simulated path.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from singdyn import theory  # noqa: E402
from singdyn.network import coordinate_names, unit_size  # noqa: E402
from singdyn.plots import LABEL_BOX, LABEL_GAP  # noqa: E402

__all__ = [
    "close",
    "draw_critical_lines",
    "first_integral_levels",
    "first_integrals_figure",
    "first_integrals_figure_for",
    "flow_vs_path_figure",
    "overlay_flow",
    "plane_coordinates",
]

INTEGRAL_TITLES = {
    "theorem8_r0": "Theorem 8 (1): h - (2w*²/3) log((b²+3)²/|b|)",
    "theorem8_r0_r1": "Theorem 8 (2): h - w*² log(|b| + 1/|b|)",
    "xi_gradient": "plain gradient in (a, b), the networks' flow: h - (b²/2 - log|b|)",
}
PATH_COLORS = plt.get_cmap("tab10").colors


def close(figure) -> None:
    """Release a figure's memory (figures are not shown)."""
    plt.close(figure)


def plane_coordinates(path, *, bias: bool, x: str = "b", y: str = "a"):
    """Pick two plotted coordinates from flat xi paths.

    Args:
        path: ``(..., p)`` flat xi points (or a :class:`~singdyn.theory.Flow`).
        bias: whether the hidden units have biases.
        x: name of the horizontal coordinate (see ``coordinate_names``).
        y: name of the vertical coordinate, or ``"|a|"`` for the norm of the vector a.

    Returns:
        ``(x_values, y_values)``, each ``(...)``.

    Raises:
        ValueError: on an unknown name.
    """
    path = np.asarray(path.path if isinstance(path, theory.Flow) else path)
    names = coordinate_names(bias)

    def pick(name):
        if name == "|a|":
            return np.linalg.norm(path[..., : unit_size(bias)], axis=-1)
        if name not in names:
            raise ValueError(
                f"coordinate must be one of {names} or '|a|'; got {name!r}"
            )
        return path[..., names.index(name)]

    return pick(x), pick(y)


def draw_critical_lines(ax, *, x: str = "b", y: str = "a", label: bool = True) -> None:
    """Draw the critical lines ``a = 0`` (R0) and ``b = -1``, ``b = +1`` (R1).

    Only the lines whose coordinate is on an axis are drawn (``"|a|"`` counts as a).

    Args:
        ax: the matplotlib Axes.
        x: the horizontal coordinate's name.
        y: the vertical coordinate's name.
        label: whether to write the lines' names next to them.
    """
    style = {"color": "0.35", "lw": 0.9, "ls": ":", "zorder": 1}
    # The names sit beside their lines on a light box, readable over level curves.
    text = {
        "textcoords": "offset points",
        "fontsize": 7,
        "color": "0.1",
        "bbox": LABEL_BOX,
        "zorder": 6,
        "clip_on": True,
    }
    for name, vertical in ((x, True), (y, False)):
        values = {"a": (0.0,), "|a|": (0.0,), "b": (-1.0, 1.0)}.get(name, ())
        for value in values:
            (ax.axvline if vertical else ax.axhline)(value, **style)
            if not label:
                continue
            words = "R0: a = 0" if name in ("a", "|a|") else f"R1: b = {value:+g}"
            if vertical:
                ax.annotate(
                    words,
                    (value, 1),
                    xycoords=("data", "axes fraction"),
                    xytext=(LABEL_GAP, -LABEL_GAP),
                    rotation=90,
                    va="top",
                    ha="left",
                    **text,
                )
            else:
                ax.annotate(
                    words,
                    (1, value),
                    xycoords=("axes fraction", "data"),
                    xytext=(-LABEL_GAP, LABEL_GAP),
                    ha="right",
                    va="bottom",
                    **text,
                )


def overlay_flow(
    ax,
    flow_path,
    *,
    bias: bool,
    x: str = "b",
    y: str = "a",
    label: str | None = "averaged flow",
    color=None,
    mark_start: bool = True,
    **line_kwargs,
):
    """Draw averaged-flow paths on an Axes in the plane of two coordinates.

    Args:
        ax: the matplotlib Axes (for example one showing an ADAM path in the (b, a)
            plane).
        flow_path: ``(T, p)`` or ``(M, T, p)`` flat xi paths, or a
            :class:`~singdyn.theory.Flow`.
        bias: whether the hidden units have biases.
        x: horizontal coordinate's name.
        y: vertical coordinate's name, or ``"|a|"``.
        label: legend label of the first path (None: no legend entry).
        color: one color for every path; None cycles through tab10.
        mark_start: whether to put a circle at each start and an arrow head at each end.
        **line_kwargs: passed to ``ax.plot``.

    Returns:
        The list of drawn ``Line2D`` objects.
    """
    xs, ys = plane_coordinates(flow_path, bias=bias, x=x, y=y)
    xs, ys = np.atleast_2d(xs), np.atleast_2d(ys)  # (M, T)
    style = {"lw": 1.6, "ls": "--", "zorder": 4} | line_kwargs
    lines = []
    for i, (px, py) in enumerate(zip(xs, ys, strict=True)):
        tint = color if color is not None else PATH_COLORS[i % len(PATH_COLORS)]
        keep = np.isfinite(px) & np.isfinite(py)
        px, py = px[keep], py[keep]
        if px.size == 0:
            continue
        (line,) = ax.plot(px, py, color=tint, label=label if i == 0 else None, **style)
        lines.append(line)
        if mark_start:
            ax.plot(px[0], py[0], "o", color=tint, ms=4, zorder=5)
            if px.size > 1:
                ax.annotate(
                    "",
                    (px[-1], py[-1]),
                    (px[-2], py[-2]),
                    arrowprops={"arrowstyle": "-|>", "color": tint, "lw": 1.2},
                    zorder=5,
                )
    return lines


def first_integral_levels(
    ax,
    name: str,
    w_star: float,
    *,
    b_range: Sequence[float] = (-2.5, 2.5),
    a_range: Sequence[float] = (-1.0, 1.0),
    levels: int | Sequence[float] = 24,
    resolution: int = 301,
    **contour_kwargs,
):
    """Draw level curves of one first integral ``h(a) - F(b)`` in the (b, a) plane.

    Args:
        ax: the matplotlib Axes.
        name: one of :data:`singdyn.theory.FIRST_INTEGRALS`.
        w_star: ``w*``.
        b_range: ``(low, high)`` of b (horizontal).
        a_range: ``(low, high)`` of a (vertical; for ``|a|`` use a range from 0).
        levels: number of levels or their values.
        resolution: grid points per axis.
        **contour_kwargs: passed to ``ax.contour``.

    Returns:
        The matplotlib ContourSet.
    """
    b = np.linspace(*b_range, resolution)
    b = b[b != 0]  # F(b) has log|b|
    a = np.linspace(*a_range, resolution)
    bb, aa = np.meshgrid(b, a)
    values = theory.first_integral(name, aa[..., None], bb, w_star)
    if isinstance(levels, int):
        # Spread the levels over the window, leaving out the log|b| spike near b = 0.
        away = values[:, np.abs(b) > 0.1 * (b_range[1] - b_range[0])]
        levels = np.linspace(*np.percentile(away, [1, 99]), levels)
    style = {"colors": "0.65", "linewidths": 0.6, "linestyles": "solid", "zorder": 2}
    return ax.contour(bb, aa, values, levels=levels, **(style | contour_kwargs))


def first_integrals_figure(
    flow,
    w_star: float,
    *,
    bias: bool,
    b_range: Sequence[float] = (-2.5, 2.5),
    a_range: Sequence[float] | None = None,
    title: str | None = None,
):
    """Level curves of each first integral with averaged-flow paths on top.

    One panel per first integral. Grey: level curves; dashed in a path's colour: the
    level curve through that path's start, which the path would follow if the integral
    were conserved by the flow; solid: the flow path itself.

    Args:
        flow: the averaged flow (:class:`~singdyn.theory.Flow`), v and w fixed.
        w_star: ``w*``.
        bias: whether the hidden units have biases (with biases the vertical axis
            is ``|a|``).
        b_range: ``(low, high)`` of b.
        a_range: ``(low, high)`` of the vertical axis; from the paths by default.
        title: the figure's title.

    Returns:
        The Figure.
    """
    y = "|a|" if bias else "a"
    _, ys = plane_coordinates(flow, bias=bias, x="b", y=y)
    if a_range is None:
        top = 1.15 * np.nanmax(np.abs(ys[np.isfinite(ys)]))
        a_range = (0.0, top) if bias else (-top, top)
    k = unit_size(bias)
    a0, b0 = flow.path[:, 0, :k], flow.path[:, 0, k]
    figure, axes = plt.subplots(
        1, 3, figsize=(15, 5.2), sharey=True, layout="constrained"
    )
    for ax, name in zip(axes, theory.FIRST_INTEGRALS, strict=True):
        first_integral_levels(ax, name, w_star, b_range=b_range, a_range=a_range)
        for i, level in enumerate(theory.first_integral(name, a0, b0, w_star)):
            first_integral_levels(
                ax,
                name,
                w_star,
                b_range=b_range,
                a_range=a_range,
                levels=[level],
                colors=[PATH_COLORS[i % len(PATH_COLORS)]],
                linewidths=0.9,
                linestyles="--",
            )
        overlay_flow(ax, flow, bias=bias, y=y, label="averaged flow", ls="-", lw=1.8)
        draw_critical_lines(ax, x="b", y=y)
        ax.set_xlim(*b_range)
        ax.set_ylim(*a_range)
        ax.set_title(INTEGRAL_TITLES[name], fontsize=9)
        ax.set_xlabel("b")
    axes[0].set_ylabel(y)
    # Below the panels: the level curves fill them, so a legend inside hides some.
    # The flows have one colour each, so the entries are drawn in a neutral one.
    key = {"color": "0.2"}
    handles = [
        Line2D([], [], ls="-", lw=1.8, marker="o", ms=4, markevery=[0], **key),
        Line2D([], [], ls="--", lw=0.9, **key),
        Line2D([], [], ls="-", lw=0.6, color="0.65"),
        Line2D([], [], ls=":", lw=0.9, color="0.35"),
    ]
    labels = [
        "averaged flow from a start (dot), arrow at its end; one colour per start",
        "level curve through that start (same colour)",
        "level curves",
        "critical lines",
    ]
    figure.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=len(handles),
        fontsize=8,
        frameon=False,
    )
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def first_integrals_figure_for(
    teacher,
    fit,
    h,
    *,
    bias: bool,
    loss="gaussian_nll",
    x_range=theory.X_RANGE,
    n_nodes: int = theory.N_NODES,
    a_starts: Sequence[float] = (0.2, 0.5),
    b_starts: Sequence[float] = (-1.8, -0.6, 0.4, 1.5),
    t1: float | None = None,
):
    """:func:`first_integrals_figure` for a teacher, with its own averaged flows.

    The flows are the networks' own (``"xi"`` form, only a and b move, ``(v*, w*)``
    fixed), from ``a = a_start`` times the first eigenvector of H and each b start.

    Args:
        teacher: the teacher, flat xi.
        fit: its :class:`~singdyn.theory.OneUnitFit`.
        h: ``H(v*, w*)``.
        bias, loss, x_range, n_nodes: as for :func:`singdyn.theory.averaged_flow`.
        a_starts: ``|a|`` at the starts.
        b_starts: b at the starts.
        t1: end time; by default 20 over the slowest start's initial a-rate, at most
            ``1e7``.

    Returns:
        The Figure.
    """
    k = unit_size(bias)
    eigenvalues, vectors = np.linalg.eigh(np.asarray(h))
    direction = vectors[:, 0] if np.any(eigenvalues) else np.eye(k)[0]
    starts = np.array([fit.xi(a * direction, b) for a in a_starts for b in b_starts])
    trainable = ("a", "c", "b") if bias else ("a", "b")
    if t1 is None:
        field = [
            theory.flow_field(
                s,
                teacher,
                bias=bias,
                trainable=trainable,
                loss=loss,
                x_range=x_range,
                n_nodes=n_nodes,
            )
            for s in starts
        ]
        rates = [
            abs(np.dot(s[:k], f[:k])) / np.dot(s[:k], s[:k])
            for s, f in zip(starts, field, strict=True)
        ]
        t1 = min(20.0 / max(min(rates), 1e-300), 1e7)
    flow = theory.averaged_flow(
        starts,
        teacher,
        bias=bias,
        t1=t1,
        n_points=801,
        trainable=trainable,
        loss=loss,
        x_range=x_range,
        n_nodes=n_nodes,
    )
    title = (
        f"averaged flow of a, b (v*, w* fixed; t1 = {t1:.3g}); "
        f"w* = {fit.w:.4g}, eig H = {np.array2string(eigenvalues, precision=3)}"
    )
    return first_integrals_figure(flow, fit.w, bias=bias, title=title)


def flow_vs_path_figure(
    flow_path,
    path,
    *,
    bias: bool,
    path_label: str = "ADAM",
    flow_label: str = "averaged flow",
    x: str = "b",
    y: str = "a",
    title: str | None = None,
):
    """An averaged-flow path against a simulated path (for example ADAM's), in a plane.

    Args:
        flow_path: ``(T, p)`` or ``(M, T, p)`` flat xi flow paths, or a ``Flow``.
        path: ``(R, p)`` or ``(M, R, p)`` flat xi simulated paths (round by round);
            path i is drawn in the colour of flow path i (solid, against dashed).
        bias: whether the hidden units have biases.
        path_label: legend label of the simulated path.
        flow_label: legend label of the flow.
        x: horizontal coordinate's name.
        y: vertical coordinate's name, or ``"|a|"``.
        title: the axes title.

    Returns:
        The Figure.
    """
    figure, ax = plt.subplots(figsize=(6.4, 4.8))
    px, py = plane_coordinates(path, bias=bias, x=x, y=y)
    flows = np.asarray(
        flow_path.path if isinstance(flow_path, theory.Flow) else flow_path
    )
    flows = flows.reshape((-1,) + flows.shape[-2:])  # (M, T, p)
    for i, (sx, sy) in enumerate(
        zip(np.atleast_2d(px), np.atleast_2d(py), strict=True)
    ):
        tint = PATH_COLORS[i % len(PATH_COLORS)]
        ax.plot(
            sx,
            sy,
            "-",
            color=tint,
            lw=0.8,
            alpha=0.7,
            marker=".",
            ms=2,
            label=path_label if i == 0 else None,
            zorder=3,
        )
        if i < len(flows):
            overlay_flow(
                ax,
                flows[i],
                bias=bias,
                x=x,
                y=y,
                color=tint,
                label=flow_label if i == 0 else None,
            )
    draw_critical_lines(ax, x=x, y=y)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure
