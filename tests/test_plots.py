"""The critical lines on Example 1's figures, read from the matplotlib objects.

In xi coordinates the singular regions are the lines a = 0 (R0) and b = -1, b = +1
(R1), the paper's section 1; every (a, b) plane of the paper's section 2 draws them.
The figures of a short overlap run (3 rounds) are built as ``write_case`` builds them,
kept open instead of saved, and their Axes are inspected: no pixels are compared.
"""

from __future__ import annotations

import numpy as np
import pytest

from singdyn import plots
from singdyn.experiments.config import load_preset
from singdyn.pipeline import run_case, write_case

PIXEL = 1.0  # display units: a line drawn at a value lands within a pixel of it
# A label "beside" its line: within 10 points (the labels sit a few points off their
# lines; the critical lines are at least 40 points apart on these axes).
NEAR_POINTS = 10.0


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """``{file name: Figure}`` of write_case for the overlap case."""
    result = run_case(load_preset("overlap"), max_rounds=3)
    captured = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "save", lambda fig, path: captured.__setitem__(path, fig))
        out = tmp_path_factory.mktemp("case")
        write_case(result, out / "overlap", out_root=out)
    yield {path.name: fig for path, fig in captured.items()}
    for fig in captured.values():
        plots.plt.close(fig)


def _plane_axes(fig):
    """The 2D axes of the (a, b) plane: x labelled a, y labelled b."""
    axes = [
        ax
        for ax in fig.axes
        if ax.name == "rectilinear" and (ax.get_xlabel(), ax.get_ylabel()) == ("a", "b")
    ]
    assert len(axes) == 1, [ax.get_title() for ax in fig.axes]
    return axes[0]


def _display(line):
    xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
    return line.get_transform().transform(xy)


def _has_line(ax, axis: int, value: float) -> bool:
    """A line at x = ``value`` (``axis`` 0) or y = ``value`` (``axis`` 1) spanning
    the axes across the other direction."""
    at = ax.transData.transform((value, value))[axis]
    box = ax.bbox
    low, high = (box.y0, box.y1) if axis == 0 else (box.x0, box.x1)
    for line in ax.lines:
        points = _display(line)
        if (
            len(points) >= 2
            and np.all(np.abs(points[:, axis] - at) < PIXEL)
            and points[:, 1 - axis].min() <= low + PIXEL
            and points[:, 1 - axis].max() >= high - PIXEL
        ):
            return True
    return False


def _label_box(ax, fragment):
    """The drawn extent (display units) of the one text containing ``fragment``."""
    texts = [t for t in ax.texts if fragment in t.get_text()]
    assert len(texts) == 1, [t.get_text() for t in ax.texts]
    text = texts[0]
    assert text.get_visible()
    return text.get_window_extent(ax.figure.canvas.get_renderer())


def _gap(low, high, value):
    """Distance from ``value`` to the interval [low, high] (0 inside it)."""
    return max(0.0, low - value, value - high)


@pytest.mark.parametrize("kind", ["parameters", "loss"])
def test_planes_draw_and_label_the_critical_lines(figures, kind):
    (fig,) = [fig for name, fig in figures.items() if name.endswith(f"_{kind}.png")]
    ax = _plane_axes(fig)
    near = NEAR_POINTS * fig.dpi / 72  # in display units
    # The three lines lie inside the plotted ranges, so they are visible.
    (a_low, a_high), (b_low, b_high) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    assert a_low < 0 < a_high and b_low < -1 < 1 < b_high

    # Positions are read after drawing, once the layout has placed the axes.
    fig.canvas.draw()
    assert _has_line(ax, 0, 0.0)  # R0: a = 0
    assert _has_line(ax, 1, -1.0)  # R1: b = -1 (w31 = 0)
    assert _has_line(ax, 1, 1.0)  # R1: b = +1 (w32 = 0)

    # Each line is named by a label beside it, inside the axes: within NEAR_POINTS of
    # its line (a label put by the wrong line would be 100s of pixels off).
    box = ax.bbox
    x0 = ax.transData.transform((0.0, 0.0))[0]
    label = _label_box(ax, "a = 0")
    assert _gap(label.x0, label.x1, x0) < near
    assert box.y0 <= label.y0 and label.y1 <= box.y1 + PIXEL
    for b, fragment in ((-1.0, "b = -1"), (1.0, "b = +1")):
        y = ax.transData.transform((0.0, b))[1]
        label = _label_box(ax, fragment)
        assert _gap(label.y0, label.y1, y) < near
        assert box.x0 <= label.x0 and label.x1 <= box.x1 + PIXEL


def test_a_flat_surface_is_drawn_without_error():
    """A loss that does not depend on a and b (a data set on which the network is
    linear, say) leaves no positive excess over the minimum; the figure still draws."""
    from singdyn.surface import Surface

    grid = np.linspace(-1.0, 1.0, 5)
    flat = Surface(a=grid, b=grid, loss=np.full((5, 5), 0.92))
    path = np.zeros(4)
    fig = plots.figure_loss(
        np.full(3, 0.92), np.full(4, 0.92), path, path, flat, title="flat"
    )
    assert len(fig.axes) >= 3
    plots.plt.close(fig)
