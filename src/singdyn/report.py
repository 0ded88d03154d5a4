"""The HTML report: the paper's claims beside our runs, on one page that works offline.

:func:`write_report` writes ``report.html`` into an output folder, beside the files
that :func:`singdyn.pipeline.write_case` wrote there. For every case of
``summary.json`` the page has one section with

- the paper's claim, in one sentence;
- the verdict (agrees, partly, disagrees, or not assessed), computed from the summary
  by the rules below and never typed in;
- the seed sweep (how often each kind of dynamics, or each phenomenon, shows over
  seeds) and the size table, where the summary has them;
- our figures under the paper's figure numbers: thumbnails of the PNG files beside
  the page, each a link to its file (the PNGs are referenced, never copied in);
- interactive figures, where :func:`interactive_data` supplied the paths and
  surfaces: the path in the (a, b) plane against the critical lines ``a = 0`` and
  ``b = -1``, ``b = +1`` (hover: round, a, b, loss), and the path on the loss
  surfaces G (and H where the case had a validation set) in 3D;
- the final numbers, and the settings the case ran with.

When the summary has a ``theory`` entry the page adds H(v*, w*), its eigenvalues and
Theorem 7's stability verdicts, and a case's ``flow_overlay`` (an averaged-flow path
``{"a": [...], "b": [...]}``, with any scalar measures beside it) is drawn over the
path. Every part is written only when its key exists; nothing else is assumed. plotly.js
is embedded once, inline, so the page needs no network; a page with no interactive
figure leaves it out.

Verdict rules
-------------

The first rule whose keys the case record holds decides:

1. *Pattern* (Example 1): the record has ``observed_pattern`` and its ``name`` is one
   of the five kinds of dynamics (the case is named by the paper's label).
   ``agrees`` when ``observed_pattern == name``; ``partly`` when not, but the paper's
   pattern shows for some seeds (``pattern_counts[name] > 0``); ``disagrees``
   otherwise.
2. *Phenomenon* (section 3): the record has ``verdicts`` and names the phenomenon
   the paper claims, as ``claim`` or as one of the keys of ``verdicts``
   (``overfitting``, ``over_generalization``) that occurs in ``name``. ``agrees`` when
   ``verdicts[key]`` is true; ``partly`` when not, but the phenomenon shows for some
   seeds (``seed_sweep["positive"][key] > 0``); ``disagrees`` otherwise.
3. *Final loss* (Example 1 before the pattern labels exist): the name is one of the
   five kinds and the record has ``final_excess_loss``, the final training loss minus
   the teacher's own loss on the same data. The paper says ``overlap`` and
   ``output_weight_zero`` never reach the teacher and the other three do (the
   paper's Definition 9). The run reaches the teacher when ``final_excess_loss <=``
   :data:`REACH_TOLERANCE`. ``agrees`` when that matches the claim, ``disagrees``
   otherwise. This rule reads half of the claim only (where the path went is not
   judged), and the page says so; a non-finite loss is ``not assessed``.
4. Otherwise ``not assessed``. A case of one's own (its name is none of the five
   kinds) has no paper claim to judge; when the record has ``observed_pattern`` the
   reason still names the kind observed and the seed counts of ``pattern_counts``.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from singdyn.pipeline import CaseResult

__all__ = [
    "REACHES_TEACHER",
    "REACH_TOLERANCE",
    "SURFACE_POINTS",
    "VERDICTS",
    "Verdict",
    "case_verdict",
    "interactive_data",
    "write_report",
]

VERDICTS = ("agrees", "partly", "disagrees", "not assessed")
"""The verdicts a case can get."""

REACHES_TEACHER = {
    "overlap": False,
    "cross_elimination": True,
    "fast_convergence": True,
    "near_elimination": True,
    "output_weight_zero": False,
}
"""Does each kind of dynamics (the paper's Definition 9) reach the teacher?"""

REACH_TOLERANCE = 1e-6
"""Largest final excess loss that counts as reaching the teacher. It is the loss band
of ``patterns.Criteria.reach_abs``: far above the float32 spacing near a loss of 1
(6e-8), far below the loss differences between the cases of Example 1 (about 1e-5)."""

SURFACE_POINTS = 61
"""Largest number of grid points per axis that :func:`interactive_data` keeps."""

# Significant digits kept in the page's data. Losses need many: the cases of Example 1
# differ by 1e-5 on a loss of 0.92, and the surfaces are drawn as log10 of the excess
# over their minimum, resolved down to 1e-7.
COORDINATE_DIGITS = 6
LOSS_DIGITS = 9
HEIGHT_DIGITS = 4

PATH_COLOR = "crimson"  # as in plots.py
CRITICAL_COLOR = "#404040"
FLOW_COLOR = "#2ca02c"
BEST_MARKER = dict(
    symbol="diamond", size=10, color="#2ca02c", line=dict(width=1, color="black")
)
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

FIGURE_KINDS = {
    "parameters": "a and b against rounds; the path against the critical lines",
    "loss": "the training loss against rounds; the path on the training-loss surface G",
    "surfaces": "the path on the training-loss surface G and the validation-loss "
    "surface H",
    "data": "the data and the teacher",
    "losses": "the training and validation losses against rounds",
    "losses_together": "the training and validation losses on one axis",
    "losses_fit": "the losses and the trained network over the data",
    "before_after": "the network before and after training",
}
"""Captions of our figures by the last word of their file name (``figNN_<kind>``)."""


# --------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------


class Verdict(NamedTuple):
    """A case's verdict and what it rests on.

    Attributes:
        verdict: one of :data:`VERDICTS`.
        rule: the rule that decided: ``"pattern"``, ``"phenomenon"``,
            ``"final loss"`` or ``"none"``.
        reason: one sentence with the numbers the rule read.
    """

    verdict: str
    rule: str
    reason: str


def case_verdict(case: Mapping) -> Verdict:
    """The verdict on one case record of ``summary.json`` (rules in the module notes).

    Args:
        case: the case's record, as :func:`singdyn.pipeline.case_record` writes it,
            with whatever keys later analyses added.

    Returns:
        The :class:`Verdict`.

    Example:
        >>> case_verdict({"name": "overlap", "observed_pattern": "overlap"}).verdict
        'agrees'
    """
    for rule in (_pattern_verdict, _phenomenon_verdict, _loss_verdict):
        verdict = rule(case)
        if verdict is not None:
            return verdict
    return Verdict("not assessed", "none", _unjudged_reason(case))


def _unjudged_reason(case: Mapping) -> str:
    """What the record shows when no rule judges it: the kind of dynamics observed
    and its seed counts, where the record has them."""
    observed = case.get("observed_pattern")
    if observed is None:
        return "The summary holds nothing to judge it by."
    reason = (
        "No paper claim to judge it by (its name is none of the five kinds); our run "
        f"shows {_label(observed)}"
    )
    counts = case.get("pattern_counts") or {}
    if counts:
        seen = sorted(
            ((int(n), label) for label, n in counts.items() if n), reverse=True
        )
        shown = ", ".join(f"{_label(label)} {n}" for n, label in seen)
        reason += f"; over {sum(counts.values())} seeds: {shown}"
    return reason + "."


def _pattern_verdict(case: Mapping) -> Verdict | None:
    name, observed = case.get("name"), case.get("observed_pattern")
    if observed is None or name not in REACHES_TEACHER:
        return None
    counts = case.get("pattern_counts") or {}
    seen = int(counts.get(name, 0))
    reason = f"Our run shows {_label(observed)}"
    if counts:
        reason += f"; {_label(name)} shows in {seen} of {sum(counts.values())} seeds"
    reason += "."
    if observed == name:
        return Verdict("agrees", "pattern", reason)
    return Verdict("partly" if seen > 0 else "disagrees", "pattern", reason)


def _phenomenon_verdict(case: Mapping) -> Verdict | None:
    verdicts = case.get("verdicts")
    if not isinstance(verdicts, Mapping):
        return None
    key = _claimed_phenomenon(case, verdicts)
    if key is None:
        return None
    seen, seeds = _sweep_count(case, key)
    shown = bool(verdicts[key])
    reason = f"Our run {'shows' if shown else 'does not show'} {_label(key)}"
    if seeds is not None:
        reason += f"; it shows in {seen} of {seeds} seeds"
    reason += "."
    if shown:
        return Verdict("agrees", "phenomenon", reason)
    return Verdict("partly" if seen else "disagrees", "phenomenon", reason)


def _claimed_phenomenon(case: Mapping, verdicts: Mapping) -> str | None:
    """The phenomenon the paper claims for a case: the record's ``claim`` when it
    names one of ``verdicts``, else the longest key of ``verdicts`` in its name."""
    if case.get("claim") in verdicts:
        return str(case["claim"])
    keys = [key for key in verdicts if key in str(case.get("name", ""))]
    return max(keys, key=len) if keys else None


def _sweep_count(case: Mapping, key: str) -> tuple[int, int | None]:
    """(seeds showing ``key``, seeds run) from ``seed_sweep``; (0, None) without one."""
    sweep = case.get("seed_sweep")
    if not isinstance(sweep, Mapping):
        return 0, None
    seeds = sweep.get("seeds")
    runs = len(seeds) if isinstance(seeds, Sequence) else seeds
    positive = sweep.get("positive") or {}
    return int(positive.get(key, 0)), None if runs is None else int(runs)


def _loss_verdict(case: Mapping) -> Verdict | None:
    name, excess = case.get("name"), case.get("final_excess_loss")
    if name not in REACHES_TEACHER or excess is None:
        return None
    if not math.isfinite(excess):
        return Verdict("not assessed", "final loss", f"The final loss is {excess}.")
    reached = excess <= REACH_TOLERANCE
    claim = REACHES_TEACHER[name]
    side = "below" if excess < 0 else "above"
    reason = (
        f"Our final training loss is {abs(excess):.2e} {side} the teacher's: it "
        f"{'reaches' if reached else 'does not reach'} the teacher (at most "
        f"{_tolerance()} above); the paper says it {'does' if claim else 'never does'}."
        " Judged on the final loss only, not on the path."
    )
    return Verdict("agrees" if reached == claim else "disagrees", "final loss", reason)


def _tolerance() -> str:
    """:data:`REACH_TOLERANCE` as ``1e-6``."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{REACH_TOLERANCE:.0e}")


def _label(name: str) -> str:
    """``over_generalization`` as ``over-generalization``, other names with spaces."""
    return str(name).replace("over_", "over-").replace("_", " ")


# --------------------------------------------------------------------------------------
# Interactive data from a run
# --------------------------------------------------------------------------------------


def interactive_data(result: CaseResult, *, max_points: int = SURFACE_POINTS) -> dict:
    """What the interactive figures of one case need, from its run, as plain lists.

    Args:
        result: the case's :class:`singdyn.pipeline.CaseResult` (M = 1).
        max_points: grid points kept per surface axis, at least 2; the surfaces are
            subsampled (end points kept) to at most this many.

    Returns:
        A dict, ``R`` the number of rounds and ``nb, na`` the kept grid sizes::

            {"a": (R + 1,), "b": (R + 1,),           # the path, round 0 first
             "loss": (R + 1,),                       # training loss at round ends
             "validation_loss": (R + 1,) or None,    # without a validation set None
             "teacher": [a, b] or None,              # None: off the plane, or a line
             "surface": {"a": (na,), "b": (nb,),
                         "G": (nb, na),              # rows follow b
                         "H": (nb, na) or None}}     # None without a validation set

        a and b keep 6 significant digits and the losses 9; non-finite values are
        None.

    Raises:
        ValueError: if ``max_points`` is below 2.

    Example:
        >>> result = run_case(load_preset("overlap"))
        >>> interactive_data(result)["surface"]["H"] is None  # no validation set
        True
    """
    if int(max_points) < 2:
        raise ValueError(
            "interactive_data: max_points accepted: an integer >= 2; "
            f"got {max_points!r}"
        )
    history, experiment = result.history, result.experiment
    train, test = result.surface_train, result.surface_test
    rows = _subsample(len(train.b), int(max_points))
    cols = _subsample(len(train.a), int(max_points))
    validation = history.validation_loss

    def grid(values: np.ndarray) -> list:
        return _rounded(values[np.ix_(rows, cols)], LOSS_DIGITS)

    return {
        "a": _rounded(result.a, COORDINATE_DIGITS),
        "b": _rounded(result.b, COORDINATE_DIGITS),
        "loss": _rounded(history.train_loss[0], LOSS_DIGITS),
        "validation_loss": None
        if validation is None
        else _rounded(validation[0], LOSS_DIGITS),
        "teacher": _teacher_in_plane(experiment),
        "surface": {
            "a": _rounded(train.a[cols], COORDINATE_DIGITS),
            "b": _rounded(train.b[rows], COORDINATE_DIGITS),
            "G": grid(train.loss),
            "H": None if validation is None else grid(test.loss),
        },
    }


def _teacher_in_plane(experiment) -> list[float] | None:
    """The teacher's (a, b) when it is one point of the plane the path moves in: None
    when a coordinate held fixed differs from the teacher's (the teacher is off the
    plane) or when the teacher's vector a is 0 (every point of a = 0 is the teacher).
    """
    names = experiment.names
    teacher, start = experiment.teacher_flat(), experiment.start_flat()
    fixed = [i for i, name in enumerate(names) if name not in ("a", "b")]
    vector_a = [names.index(name) for name in ("a", "c") if name in names]
    if not np.allclose(teacher[fixed], start[fixed]) or np.allclose(
        teacher[vector_a], 0.0
    ):
        return None
    return [float(teacher[names.index("a")]), float(teacher[names.index("b")])]


def _subsample(size: int, most: int) -> np.ndarray:
    """At most ``most`` indices of ``range(size)``, evenly spread, both ends kept."""
    return np.unique(np.linspace(0, size - 1, min(size, most)).round().astype(int))


def _rounded(values, digits: int) -> list:
    """``values`` as nested lists of floats with ``digits`` significant digits; None
    where not finite."""
    array = np.asarray(values, dtype=np.float64)
    flat = [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in array.flat]
    return np.array(flat, dtype=object).reshape(array.shape).tolist()


# --------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------


def write_report(
    stage: Path, summary: Mapping, *, interactive: Mapping | None = None
) -> Path:
    """Write ``stage/report.html``: the paper side by side with our runs.

    Args:
        stage: the output folder; the figure paths of the summary are relative to it.
        summary: the contents of ``summary.json``.
        interactive: case name -> :func:`interactive_data` of its run; cases without
            an entry get no interactive figures.

    Returns:
        The path of the page.

    Raises:
        ValueError: if the summary has no ``cases`` list.

    Example:
        >>> result = run_case(load_preset("overlap"))
        >>> # ... write_case, case_record and summary.json as `singdyn reproduce` does
        >>> data = {"overlap": interactive_data(result)}
        >>> write_report(out, summary, interactive=data)
        PosixPath('out/report.html')
    """
    cases = summary.get("cases")
    if not isinstance(cases, Sequence) or isinstance(cases, str):
        raise ValueError(
            "write_report: summary['cases'] must be a list of case records"
        )
    stage = Path(stage)
    interactive = interactive or {}
    sections = [
        _case_html(stage, case, interactive.get(case["name"])) for case in cases
    ]
    body = [
        _header_html(cases),
        _settings_html(stage, summary, cases),
        _theory_html(stage, summary.get("theory")),
        *sections,
        _rules_html(),
    ]
    # A case gets plots from its run's data or from an averaged flow alone.
    plots = any(
        interactive.get(case["name"]) is not None
        or _flow_path(case.get("flow_overlay")) is not None
        for case in cases
    )
    page = _PAGE.format(
        css=_CSS,
        plotlyjs=_plotlyjs_tag() if plots else "",
        body="\n".join(part for part in body if part),
    )
    path = stage / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _plotlyjs_tag() -> str:
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript">{get_plotlyjs()}</script>'


def _header_html(cases: Sequence[Mapping]) -> str:
    rows = []
    for case in cases:
        verdict = case_verdict(case)
        rows.append(
            "<tr>"
            f'<td><a href="#case-{_e(case["name"])}">{_e(_title(case))}</a></td>'
            f"<td>{_e(_numbers(case.get('paper_figures')))}</td>"
            f"<td>{_e(case.get('paper_claim', ''))}</td>"
            f"<td>{_badge(verdict.verdict)}</td>"
            f"<td class=small>{_e(verdict.reason)}</td>"
            "</tr>"
        )
    return (
        "<header><h1>singdyn: the paper and our runs</h1>"
        "<p>Washino and Takahashi, <i>On the analysis of singularity structure in "
        "learning</i>, reproduced with singdyn. For each experiment: the paper's "
        "claim, the verdict on it computed from <code>summary.json</code> (rules at "
        "the end of the page), our figures under the paper's figure numbers (click "
        "a thumbnail for the full PNG) and interactive views to turn and hover.</p>"
        '<table class="overview"><thead><tr><th>experiment</th><th>paper figures</th>'
        "<th>the paper's claim</th><th>verdict</th><th>on what</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></header>"
    )


def _settings_html(stage: Path, summary: Mapping, cases: Sequence[Mapping]) -> str:
    shared = _shared_settings(cases)
    if shared is None:  # no case lists its settings: the summary's own, if any
        shared = {
            key: summary[key]
            for key in ("data", "loss", "optimizer", "train")
            if isinstance(summary.get(key), Mapping)
        }
        note = "The settings of the runs."
    else:
        note = "The settings every case shares; each case lists all of its own."
    teacher = summary.get("teacher_figure")
    if not shared and not teacher:
        return ""
    parts = ['<section id="settings"><h2>Settings</h2>']
    if shared:
        parts.append(f"<p>{note}</p>")
        parts.append(_settings_table(shared))
    if teacher:
        caption = "The teacher of the first case over its training data."
        parts.append(
            '<div class="thumbs">' + _thumbnail(stage, teacher, caption) + "</div>"
        )
    parts.append("</section>")
    return "".join(parts)


def _shared_settings(cases: Sequence[Mapping]) -> dict | None:
    """The settings equal in every case, group by group; None when a case has none."""
    settings = [case.get("settings") for case in cases]
    if not settings or not all(isinstance(s, Mapping) for s in settings):
        return None
    shared = {}
    for group, values in settings[0].items():
        if not isinstance(values, Mapping):
            continue
        same = {
            key: value
            for key, value in values.items()
            if all(
                isinstance(other.get(group), Mapping)
                and key in other[group]
                and other[group][key] == value
                for other in settings[1:]
            )
        }
        if same:
            shared[group] = same
    return shared


def _theory_html(stage: Path, theory) -> str:
    if not isinstance(theory, Mapping) or not theory:
        return ""
    if "H" in theory:
        blocks = {"": theory}
    else:  # one block per model (without and with biases), when keyed that way
        blocks = {k: v for k, v in theory.items() if isinstance(v, Mapping)}
    parts = [
        '<section id="theory"><h2>Theory: the stability of R0 (Theorem 7)</h2>',
        "<p>With (v, w) at (v*, w*), the best one-unit fit to the teacher, the Hessian "
        "of the averaged loss on the overlap line a = 0 is (1 - b<sup>2</sup>) times "
        "H(v*, w*) up to sign and scale; the signs of H's eigenvalues decide which "
        "part of R0 attracts.</p>",
    ]
    for label, block in blocks.items():
        if label:
            parts.append(f"<h3>{_e(_label(label))}</h3>")
        parts.append(_theory_table(stage, block))
    parts.append("</section>")
    return "".join(parts)


def _theory_table(stage: Path, theory: Mapping) -> str:
    named = {
        "v_star": "v* (best one-unit fit)",
        "w_star": "w*",
        "H": "H(v*, w*)",
        "eigenvalues": "eigenvalues of H",
    }
    rows = [
        (text, _matrix_html(theory[key]) if key == "H" else _e(_value(theory[key])))
        for key, text in named.items()
        if key in theory
    ]
    stability = theory.get("stability")
    if isinstance(stability, Mapping):
        for key, text in (
            ("b2_below_1", "R0 where b<sup>2</sup> &lt; 1"),
            ("b2_above_1", "R0 where b<sup>2</sup> &gt; 1"),
        ):
            if key in stability:
                rows.append((text, f"<b>{_e(stability[key])}</b>"))
        if "case" in stability:
            rows.append(("Theorem 7 case", _e(stability["case"])))
    cells = "".join(f"<tr><th>{head}</th><td>{cell}</td></tr>" for head, cell in rows)
    # Everything else the theory side wrote (its settings, the fit, the checks of
    # its closed forms, ...), each folded under its name.
    others = "".join(
        f"<details><summary>{_e(_label(key))}</summary>"
        f"{_data_html(value, stage)}</details>"
        for key, value in theory.items()
        if key not in named and key != "stability"
    )
    return f'<table class="keyvalue">{cells}</table>{others}'


def _matrix_html(value) -> str:
    array = np.atleast_2d(np.asarray(value, dtype=np.float64))
    rows = "".join(
        "<tr>" + "".join(f"<td>{x:.6g}</td>" for x in row) + "</tr>" for row in array
    )
    return f'<table class="matrix">{rows}</table>'


def _case_html(stage: Path, case: Mapping, data: Mapping | None) -> str:
    name = str(case["name"])
    verdict = case_verdict(case)
    parts = [
        f'<section class="case" id="case-{_e(name)}">',
        f"<h2>{_e(_title(case))} <span class=small>(paper figures "
        f"{_e(_numbers(case.get('paper_figures')))}; case <code>{_e(name)}</code>)"
        "</span></h2>",
        f'<p class="claim"><b>The paper:</b> {_e(case.get("paper_claim", ""))}</p>',
        f'<p class="verdict">{_badge(verdict.verdict)} {_e(verdict.reason)} '
        f"<span class=small>(rule: {_e(verdict.rule)})</span></p>",
        _sweep_html(stage, case),
        _size_table_html(stage, case.get("size_table")),
        _figures_html(stage, case),
        _interactive_html(stage, case, data),
        _outcome_html(case),
        "<h3>Settings</h3>" + _settings_table(case["settings"])
        if isinstance(case.get("settings"), Mapping)
        else "",
        "</section>",
    ]
    return "\n".join(part for part in parts if part)


def _sweep_html(stage: Path, case: Mapping) -> str:
    parts = []
    counts = case.get("pattern_counts")
    if isinstance(counts, Mapping) and counts:
        total = sum(counts.values()) or 1
        rows = []
        for label, count in sorted(counts.items(), key=lambda item: -item[1]):
            marks = [
                mark
                for mark, hit in (
                    ("the paper's", label == case.get("name")),
                    ("our run", label == case.get("observed_pattern")),
                )
                if hit
            ]
            rows.append(
                f"<tr><td>{_e(_label(label))}</td><td>{count}</td>"
                f'<td><div class="bar" style="width:{100 * count / total:.0f}%">'
                f"</div></td><td class=small>{_e(', '.join(marks))}</td></tr>"
            )
        seeds = case.get("pattern_seeds")
        which = ""
        if isinstance(seeds, Sequence) and seeds:
            which = f" (data seeds {_ranges(seeds)})"
        parts.append(
            f"<h3>Seed sweep: the kind of dynamics over {sum(counts.values())} "
            f"seeds{_e(which)}</h3>"
            '<table class="sweep"><thead><tr><th>kind</th><th>seeds</th><th></th>'
            f"<th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    verdicts = case.get("verdicts")
    if isinstance(verdicts, Mapping) and verdicts:
        items = []
        for key, shown in verdicts.items():
            seen, seeds = _sweep_count(case, key)
            text = f"{_label(key)}: {'yes' if shown else 'no'} in our run"
            if seeds is not None:
                text += f", in {seen} of {seeds} seeds"
            items.append(f"<li>{_e(text)}</li>")
        early = case.get("early_view")
        if isinstance(early, Mapping) and isinstance(early.get("verdicts"), Mapping):
            shown = ", ".join(
                f"{_label(key)}: {'yes' if value else 'no'}"
                for key, value in early["verdicts"].items()
            )
            text = f"in the first {early.get('rounds')} rounds: {shown}"
            items.append(f"<li>{_e(text)}</li>")
        parts.append(f"<h3>Phenomena</h3><ul>{''.join(items)}</ul>")
        if isinstance(case.get("measures"), Mapping):
            parts.append(
                "<details><summary>The measures behind these verdicts</summary>"
                f"{_data_html(case['measures'], stage)}</details>"
            )
    return "".join(parts)


def _size_table_html(stage: Path, table) -> str:
    if not table:
        return ""
    return "<h3>How the outcome depends on the data size</h3>" + _data_html(
        table, stage
    )


def _data_html(value, stage: Path, depth: int = 0) -> str:
    """Any JSON value as HTML: records (a list of mappings, or a mapping of them) as a
    table with a row each; another mapping as a two-column table whose values are drawn
    the same way, three levels deep; a ``.png`` path as a thumbnail; the rest as text.
    """
    if isinstance(value, str) and value.endswith(".png"):
        return _thumbnail(stage, value, "")
    if depth < 3 and _is_records(value):
        if isinstance(value, Mapping):
            rows = [{"": key, **row} for key, row in value.items()]
        else:
            rows = list(value)
        columns = list(dict.fromkeys(key for row in rows for key in row))
        head = "".join(f"<th>{_e(_label(c))}</th>" for c in columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{_e(_value(row.get(c, '')))}</td>" for c in columns)
            + "</tr>"
            for row in rows
        )
        return (
            f'<table class="grid"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )
    if depth < 3 and isinstance(value, Mapping):
        cells = "".join(
            f"<tr><th>{_e(_label(k))}</th><td>{_data_html(v, stage, depth + 1)}</td>"
            "</tr>"
            for k, v in value.items()
        )
        return f'<table class="keyvalue">{cells}</table>'
    return _e(_value(value))


def _is_records(value) -> bool:
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = list(value)
    else:
        return False
    return bool(items) and all(isinstance(item, Mapping) for item in items)


def _figures_html(stage: Path, case: Mapping) -> str:
    figures = case.get("figures") or []
    numbers = list(case.get("paper_figures") or [])
    thumbs = []
    for index, path in enumerate(figures):
        number, kind = _figure_name(path)
        if number is None and index < len(numbers):
            number = numbers[index]
        caption = f"Figure {number}: " if number is not None else ""
        caption += FIGURE_KINDS.get(kind, _label(kind)) + "."
        thumbs.append(_thumbnail(stage, path, caption))
    if not thumbs:
        return ""
    return "<h3>Our figures, numbered as the paper's</h3>" + (
        f'<div class="thumbs">{"".join(thumbs)}</div>'
    )


def _figure_name(path: str) -> tuple[int | None, str]:
    match = re.match(r"fig(\d+)_(.+)$", Path(path).stem)
    if match is None:
        return None, Path(path).stem
    return int(match.group(1)), match.group(2)


def _thumbnail(stage: Path, path: str, caption: str) -> str:
    href = quote(str(path))
    missing = "" if (stage / path).is_file() else " <b>(file missing)</b>"
    return (
        f'<figure><a href="{href}"><img src="{href}" alt="{_e(caption)}"></a>'
        f'<figcaption>{_e(caption)}{missing} <a href="{href}">{_e(path)}</a>'
        "</figcaption></figure>"
    )


def _interactive_html(stage: Path, case: Mapping, data: Mapping | None) -> str:
    overlay = case.get("flow_overlay")
    flow = _flow_path(overlay)
    figures = []
    name = str(case["name"])
    numbers = {
        kind: number
        for number, kind in map(_figure_name, case.get("figures") or [])
        if number is not None
    }
    if data is not None or flow is not None:
        figure = _plane_figure(data, flow)
        figures.append(
            (_plotly_div(figure, f"plot-{name}-plane"), numbers.get("parameters"))
        )
    surface = (data or {}).get("surface") or {}
    for key, loss_key in (("G", "loss"), ("H", "validation_loss")):
        if surface.get(key) is None or data.get(loss_key) is None:
            continue
        figure = _surface_figure(data, key, loss_key)
        number = numbers.get("surfaces") or (
            numbers.get("loss") if key == "G" else None
        )
        figures.append((_plotly_div(figure, f"plot-{name}-{key}"), number))
    parts = []
    if figures:
        parts.append(
            "<h3>Interactive: drag to turn, hover for values, double-click to reset"
            "</h3><div class=plots>"
        )
        for div, number in figures:
            note = f"<p class=small>Interactive form of figure {number}.</p>"
            parts.append(f"<div>{div}{note if number else ''}</div>")
        parts.append("</div>")
    parts.append(_overlay_html(stage, overlay))
    return "".join(parts)


def _flow_path(overlay) -> tuple[list, list] | None:
    if isinstance(overlay, Mapping) and "a" in overlay and "b" in overlay:
        return list(overlay["a"]), list(overlay["b"])
    return None


def _overlay_html(stage: Path, overlay) -> str:
    if not overlay:
        return ""
    if isinstance(overlay, str):
        return _thumbnail(stage, overlay, "The averaged flow over the path.")
    if not isinstance(overlay, Mapping):
        return ""
    scalars = {
        key: value
        for key, value in overlay.items()
        if key not in ("a", "b")
        and (isinstance(value, str) or not isinstance(value, Sequence | Mapping))
    }
    if not scalars:
        return ""
    return "<h3>Averaged flow</h3>" + _data_html(scalars, stage)


VALIDATION_KEYS = {
    "best_round": "round of least validation loss",
    "best": "the net at that round",
    "best_validation_loss": "least validation loss",
    "final_validation_loss": "final validation loss",
}


def _outcome_html(case: Mapping) -> str:
    rows = []
    for key, text in (("start", "start"), ("final", "after the last round")):
        if isinstance(case.get(key), Mapping):
            rows.append((text, _point(case[key])))
    if "rounds" in case:
        rows.append(("rounds", str(case["rounds"])))
    for key, text in (
        ("final_train_loss", "final training loss"),
        ("teacher_train_loss", "the teacher's training loss"),
        ("final_excess_loss", "final minus the teacher's"),
    ):
        if isinstance(case.get(key), (int, float)):
            fmt = "+.3e" if key == "final_excess_loss" else ".8f"
            rows.append((text, format(case[key], fmt)))
    validation = case.get("validation")
    if isinstance(validation, Mapping):
        for key, value in validation.items():
            if isinstance(value, Mapping):
                text = _point(value)
            elif isinstance(value, float) and key.endswith("_loss"):
                text = f"{value:.8f}"  # losses differ in their 5th decimal
            else:
                text = _value(value)
            rows.append((VALIDATION_KEYS.get(key, _label(key)), text))
    if not rows:
        return ""
    cells = "".join(f"<tr><th>{_e(h)}</th><td>{_e(c)}</td></tr>" for h, c in rows)
    return f'<h3>Our run</h3><table class="keyvalue">{cells}</table>'


def _settings_table(settings: Mapping) -> str:
    rows = []
    for group, values in settings.items():
        if isinstance(values, Mapping):
            text = ", ".join(f"{k} = {_value(v)}" for k, v in values.items())
        else:
            text = _value(values)
        rows.append(f"<tr><th>{_e(group)}</th><td>{_e(text)}</td></tr>")
    return f'<table class="keyvalue">{"".join(rows)}</table>'


# --------------------------------------------------------------------------------------
# Interactive figures (plotly)
# --------------------------------------------------------------------------------------


def _plotly_div(figure: go.Figure, div_id: str) -> str:
    import plotly.io as pio

    return pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=PLOT_CONFIG,
        default_height="470px",
    )


def _layout(title: str, **extra) -> dict:
    return dict(
        title=dict(text=title, font=dict(size=14), x=0.02),
        template="none",
        font=dict(family="sans-serif", size=12),
        margin=dict(l=55, r=20, t=45, b=45),
        height=470,
        **extra,
    )


def _plane_figure(data: Mapping | None, flow: tuple[list, list] | None) -> go.Figure:
    """The path in the (a, b) plane with the critical lines; hover: round, a, b, G."""
    import plotly.graph_objects as go

    fig = go.Figure()
    # Axes span the surface grid, else the path or the flow (the flow alone when the
    # case has no interactive data).
    surface = (data or {}).get("surface") or {}
    path = (data["a"], data["b"]) if data is not None else flow
    a_range = _span(surface.get("a") or path[0], (-1.0, 1.0))
    b_range = _span(surface.get("b") or path[1], (-2.5, 2.5))
    line = dict(color=CRITICAL_COLOR, width=1, dash="dash")
    fig.add_trace(
        go.Scatter(
            x=[0, 0],
            y=list(b_range),
            mode="lines",
            line=line,
            name="a = 0 (u1 = u2)",
            hoverinfo="name",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[*a_range, None, *a_range],
            y=[-1, -1, None, 1, 1],
            mode="lines",
            line=line,
            name="b = -1, +1 (w31 = 0, w32 = 0)",
            hoverinfo="name",
        )
    )
    if flow is not None:
        fig.add_trace(
            go.Scatter(
                x=flow[0],
                y=flow[1],
                mode="lines",
                name="averaged flow",
                line=dict(color=FLOW_COLOR, width=2),
                hoverinfo="name",
            )
        )
    if data is not None:
        _add_plane_path(fig, data)
    fig.update_layout(
        **_layout(
            "The path in the (a, b) plane",
            xaxis=dict(title="a", range=list(a_range), zeroline=False),
            yaxis=dict(title="b", range=list(b_range), zeroline=False),
            legend=dict(orientation="h", x=0, y=-0.16, font=dict(size=11)),
        )
    )
    fig.update_layout(margin=dict(b=95))
    return fig


def _add_plane_path(fig: go.Figure, data: Mapping) -> None:
    import plotly.graph_objects as go

    a, b, loss = data["a"], data["b"], data["loss"]
    rounds = list(range(len(a)))
    fig.add_trace(
        go.Scatter(
            x=a,
            y=b,
            mode="lines+markers",
            name="path (colour: round)",
            line=dict(color=PATH_COLOR, width=1.5),
            marker=dict(
                size=5,
                color=rounds,
                colorscale="Viridis",
                colorbar=dict(title=dict(text="round"), thickness=12, len=0.75),
            ),
            customdata=[[r, g] for r, g in zip(rounds, loss, strict=True)],
            hovertemplate="round %{customdata[0]}<br>a = %{x:.5f}<br>b = %{y:.5f}"
            "<br>G = %{customdata[1]:.8f}<extra></extra>",
        )
    )
    ends = (("start", 0, "circle-open", 11), ("end", -1, "square", 9))
    for label, i, symbol, size in ends:
        fig.add_trace(
            go.Scatter(
                x=[a[i]],
                y=[b[i]],
                mode="markers",
                name=label,
                marker=dict(
                    symbol=symbol,
                    size=size,
                    color=PATH_COLOR,
                    line=dict(width=2, color=PATH_COLOR),
                ),
                hovertemplate=f"{label}: round {rounds[i]}<br>G = {loss[i]}"
                "<extra></extra>",
            )
        )
    best = _best_round(data.get("validation_loss"))
    if best is not None:
        fig.add_trace(
            go.Scatter(
                x=[a[best]],
                y=[b[best]],
                mode="markers",
                name=f"least validation loss (round {best})",
                marker=BEST_MARKER,
                hovertemplate=f"least validation loss: round {best}<br>H = "
                f"{data['validation_loss'][best]}<extra></extra>",
            )
        )
    teacher = data.get("teacher")
    if teacher is not None:
        ta, tb = teacher
        fig.add_trace(
            go.Scatter(
                x=[ta, -ta],
                y=[tb, -tb],
                mode="markers",
                name="teacher, its twin",
                marker=dict(
                    symbol="star",
                    size=15,
                    color=["gold", "white"],
                    line=dict(width=1, color="black"),
                ),
                text=["teacher", "teacher with the units swapped"],
                hovertemplate="%{text}<br>a = %{x}, b = %{y}<extra></extra>",
            )
        )


def _span(values, default: tuple[float, float]) -> tuple[float, float]:
    values = [v for v in values or [] if v is not None]
    if not values:
        return default
    return float(min(values)), float(max(values))


def _surface_figure(data: Mapping, key: str, loss_key: str) -> go.Figure:
    """The path on the surface ``key`` (G or H) in 3D, drawn as log10 of the excess.

    As in :mod:`singdyn.plots`: the loss varies by ~1e-5 along its valleys and by
    ~1e-1 over the grid, so a linear height axis hides the valleys where the paths
    run; the height is log10 of the excess over the lowest value met (grid or path),
    with a floor that caps the depth of the wells. Hover shows the loss itself.
    """
    import plotly.graph_objects as go

    surface = data["surface"]
    grid = _array(surface[key])  # (nb, na)
    path_loss = _array(data[loss_key])
    floor = np.nanmin([np.nanmin(grid), np.nanmin(path_loss)])
    tiny = 1e-5 * (np.nanmax(grid) - floor)

    def height(values):
        return np.log10(np.maximum(values - floor, 0.0) + tiny)

    a, b = _array(data["a"]), _array(data["b"])
    sa, sb = _array(surface["a"]), _array(surface["b"])
    inside = (a >= sa[0]) & (a <= sa[-1]) & (b >= sb[0]) & (b <= sb[-1])
    z = np.where(inside, height(path_loss), np.nan)
    rounds = list(range(len(a)))
    what = "training loss G" if key == "G" else "validation loss H"
    fig = go.Figure()
    fig.add_trace(
        go.Surface(
            x=surface["a"],
            y=surface["b"],
            z=_rounded(height(grid), HEIGHT_DIGITS),
            customdata=surface[key],
            colorscale="Viridis",
            opacity=0.7,
            showscale=False,
            name=key,
            hovertemplate=f"a = %{{x:.3f}}<br>b = %{{y:.3f}}<br>{key} = "
            "%{customdata:.8f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter3d(
            x=data["a"],
            y=data["b"],
            z=_rounded(z, HEIGHT_DIGITS),
            mode="lines+markers",
            name="path",
            line=dict(color=PATH_COLOR, width=5),
            marker=dict(size=2, color=PATH_COLOR),
            customdata=[[r, g] for r, g in zip(rounds, data[loss_key], strict=True)],
            hovertemplate="round %{customdata[0]}<br>a = %{x:.5f}<br>b = %{y:.5f}"
            f"<br>{key} = %{{customdata[1]:.8f}}<extra></extra>",
        )
    )
    best = _best_round(data.get("validation_loss"))
    if best is not None and inside[best]:
        fig.add_trace(
            go.Scatter3d(
                x=[data["a"][best]],
                y=[data["b"][best]],
                z=_rounded(z[best : best + 1], HEIGHT_DIGITS),
                mode="markers",
                marker=dict(BEST_MARKER, size=6),
                hovertemplate=f"least validation loss: round {best}<extra></extra>",
            )
        )
    scene = dict(
        xaxis=dict(title="a"),
        yaxis=dict(title="b"),
        zaxis=dict(title=f"log10({key} - min {key})"),
        camera=dict(eye=dict(x=-0.75, y=-1.45, z=1.5), center=dict(x=0, y=0, z=-0.1)),
        aspectmode="manual",
        aspectratio=dict(x=1, y=1.3, z=0.7),
    )
    fig.update_layout(
        **_layout(f"The path on the {what}", scene=scene, showlegend=False)
    )
    return fig


def _best_round(validation_loss) -> int | None:
    """The round (1..R) of least validation loss, first on ties, as
    :attr:`singdyn.train.History.best_round`; None without a validation loss."""
    if validation_loss is None or len(validation_loss) < 2:
        return None
    values = _array(validation_loss)[1:]
    if np.all(np.isnan(values)):
        return None
    return int(np.nanargmin(values)) + 1


def _array(values) -> np.ndarray:
    return np.array(values, dtype=np.float64)  # None -> nan


# --------------------------------------------------------------------------------------
# Small HTML helpers
# --------------------------------------------------------------------------------------


def _rules_html() -> str:
    return (
        '<section id="rules"><h2>How the verdicts are computed</h2><ol>'
        "<li><b>Pattern</b> (Example 1): our run's kind of dynamics, by the explicit "
        "criteria of <code>singdyn.patterns</code>, against the paper's. Agrees when "
        "they are the same; partly when not, but the paper's kind shows for some "
        "seeds of the seed sweep; disagrees otherwise.</li>"
        "<li><b>Phenomenon</b> (section 3): overfitting or over-generalization, by the "
        "measures of the summary. Agrees when our run shows the paper's phenomenon; "
        "partly when not, but some seeds do; disagrees otherwise.</li>"
        "<li><b>Final loss</b> (Example 1, where no kind of dynamics was measured): "
        "whether the final training loss reaches the teacher's own loss on the same "
        f"data (at most {_tolerance()} above it), against the paper's reaches or never "
        "reaches. It reads half of the claim only.</li>"
        "<li>Otherwise <b>not assessed</b>: a case of your own, whose name is none of "
        "the five kinds, is shown with the kind of dynamics observed and its seed "
        "counts, unjudged.</li></ol></section>"
    )


def _ranges(values: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0 to 2, 5``."""
    values = sorted(int(v) for v in values)
    runs = [[values[0], values[0]]]
    for value in values[1:]:
        if value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in runs)


def _badge(verdict: str) -> str:
    kind = verdict.replace(" ", "-")
    return f'<span class="badge {kind}">{_e(verdict)}</span>'


def _title(case: Mapping) -> str:
    return str(case.get("title") or _label(case["name"]))


def _numbers(numbers) -> str:
    return ", ".join(str(n) for n in numbers or []) or "none"


def _point(point: Mapping) -> str:
    return ", ".join(f"{k} = {_value(v)}" for k, v in point.items())


def _value(value) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "none"}[value]
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return _point(value)
    return str(value)


def _e(text) -> str:
    return html.escape(str(text), quote=True)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>singdyn report: the paper and our runs</title>
<style>{css}</style>
{plotlyjs}
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""

_CSS = """
body { font-family: system-ui, sans-serif; color: #1a1a1a; margin: 0;
       background: #fafafa; line-height: 1.45; }
main { max-width: 1240px; margin: 0 auto; padding: 1.2rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin: 0.4rem 0; }
h2 { font-size: 1.3rem; margin: 0 0 0.5rem; }
h3 { font-size: 1.02rem; margin: 1.1rem 0 0.4rem; }
section { background: white; border: 1px solid #ddd; border-radius: 6px;
          padding: 1rem 1.3rem; margin: 1.2rem 0; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { text-align: left; vertical-align: top; padding: 0.25rem 0.6rem;
         border-bottom: 1px solid #eee; }
table.overview { width: 100%; background: white; }
table.keyvalue th { font-weight: 600; white-space: nowrap; color: #333; }
table.matrix td { border: none; font-family: monospace; padding: 0 0.6rem; }
table.sweep td:nth-child(3) { width: 240px; }
.bar { height: 0.8rem; background: #6a8fc7; min-width: 1px; }
.small { font-size: 0.85rem; color: #555; }
.claim { font-size: 1.05rem; }
.badge { display: inline-block; padding: 0.05rem 0.55rem; border-radius: 1rem;
         font-weight: 600; font-size: 0.9rem; white-space: nowrap; }
.agrees { background: #d7f0d4; color: #1d5e16; }
.partly { background: #fbe9c4; color: #7a5200; }
.disagrees { background: #f7d2d0; color: #8a1c14; }
.not-assessed { background: #e6e6e6; color: #444; }
/* auto-fill keeps empty tracks: a plot drawn before its neighbour arrives gets the
   width it keeps (plotly sizes a figure once, when it is drawn). */
.thumbs { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr));
          gap: 0.8rem; }
figure { margin: 0; }
figure img { width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85rem; color: #444; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
         gap: 0.8rem; }
.plots > div, .thumbs > figure { min-width: 0; }
code { background: #f0f0f0; padding: 0 0.2rem; border-radius: 3px; }
details { margin: 0.3rem 0; }
summary { cursor: pointer; font-weight: 600; }
table.grid td, table.keyvalue td { overflow-wrap: anywhere; }
table.grid td:first-child { white-space: nowrap; }
"""
