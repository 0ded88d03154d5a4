"""Tests of the HTML report: the verdict rules, the page's parts, and the page itself
opened in a headless Chromium.

The browser test drives Debian's ``chromium`` over the DevTools protocol through one
websocket (``websocket-client``); it needs no driver binary and downloads nothing. When
``/usr/bin/chromium`` is missing it is skipped, and it tries no other browser.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from singdyn.experiments.config import load_preset
from singdyn.pipeline import case_record, run_case, write_case
from singdyn.report import (
    REACH_TOLERANCE,
    VERDICTS,
    case_verdict,
    interactive_data,
    write_report,
)

CHROMIUM = Path("/usr/bin/chromium")
PAGE_LIMIT = 10_000_000  # bytes; plotly.js alone is about 4.8 MB


# --------------------------------------------------------------------------------------
# Verdict rules on constructed records
# --------------------------------------------------------------------------------------


def test_pattern_rule_agrees_when_the_observed_pattern_is_the_papers():
    case = {"name": "overlap", "observed_pattern": "overlap", "final_excess_loss": 1.0}
    verdict = case_verdict(case)
    assert (verdict.verdict, verdict.rule) == ("agrees", "pattern")


def test_pattern_rule_partly_when_only_other_seeds_show_it():
    case = {
        "name": "cross_elimination",
        "observed_pattern": "near_elimination",
        "pattern_counts": {"cross_elimination": 3, "near_elimination": 17},
    }
    verdict = case_verdict(case)
    assert verdict.verdict == "partly"
    assert "3 of 20 seeds" in verdict.reason


@pytest.mark.parametrize(
    "counts", [None, {"overlap": 20}, {"overlap": 19, "output_weight_zero": 0}]
)
def test_pattern_rule_disagrees_when_no_seed_shows_it(counts):
    case = {"name": "output_weight_zero", "observed_pattern": "overlap"}
    if counts is not None:
        case["pattern_counts"] = counts
    assert case_verdict(case).verdict == "disagrees"


def test_pattern_rule_outranks_the_final_loss_rule():
    # The final loss alone would say "disagrees" (overlap never reaches the teacher).
    case = {
        "name": "overlap",
        "observed_pattern": "overlap",
        "final_excess_loss": -1e-5,
    }
    assert case_verdict(case).verdict == "agrees"


@pytest.mark.parametrize(
    ("name", "shown", "positive", "expected"),
    [
        ("example2_overfitting", True, 0, "agrees"),
        ("example2_overfitting", False, 4, "partly"),
        ("example2_overfitting", False, 0, "disagrees"),
        ("example3_over_generalization", True, 0, "agrees"),
        ("example3_over_generalization", False, 1, "partly"),
        ("example3_over_generalization", False, 0, "disagrees"),
    ],
)
def test_phenomenon_rule(name, shown, positive, expected):
    key = "overfitting" if "overfitting" in name else "over_generalization"
    other = "over_generalization" if key == "overfitting" else "overfitting"
    case = {
        "name": name,
        # The other phenomenon is set the opposite way: it must not be read.
        "verdicts": {key: shown, other: not shown},
        "seed_sweep": {"seeds": list(range(20)), "positive": {key: positive, other: 9}},
    }
    verdict = case_verdict(case)
    assert (verdict.verdict, verdict.rule) == (expected, "phenomenon")
    assert f"{positive} of 20 seeds" in verdict.reason


def test_phenomenon_rule_reads_a_seed_count_as_well_as_a_seed_list():
    case = {
        "name": "example2_overfitting",
        "verdicts": {"overfitting": False},
        "seed_sweep": {"seeds": 12, "positive": {"overfitting": 5}},
    }
    verdict = case_verdict(case)
    assert verdict.verdict == "partly"
    assert "5 of 12 seeds" in verdict.reason


@pytest.mark.parametrize(
    ("name", "excess", "expected"),
    [
        # The paper: these two never reach the teacher.
        ("overlap", 1e-4, "agrees"),
        ("overlap", -2e-5, "disagrees"),
        ("output_weight_zero", 2 * REACH_TOLERANCE, "agrees"),
        ("output_weight_zero", REACH_TOLERANCE, "disagrees"),  # the band is closed
        # The paper: these three reach it.
        ("fast_convergence", -1.8e-5, "agrees"),
        ("cross_elimination", REACH_TOLERANCE, "agrees"),
        ("near_elimination", 3e-6, "disagrees"),
    ],
)
def test_final_loss_rule(name, excess, expected):
    verdict = case_verdict({"name": name, "final_excess_loss": excess})
    assert (verdict.verdict, verdict.rule) == (expected, "final loss")
    assert "not on the path" in verdict.reason


@pytest.mark.parametrize(
    "case",
    [
        {"name": "my_case", "final_excess_loss": 0.0},  # not one of the paper's labels
        {"name": "overlap"},  # nothing measured
        {"name": "my_case", "observed_pattern": "overlap"},
        {"name": "example2_overfitting", "final_excess_loss": 0.0},
        {"name": "example2_overfitting", "verdicts": {"over_generalization": True}},
    ],
)
def test_not_assessed_when_no_rule_applies(case):
    verdict = case_verdict(case)
    assert (verdict.verdict, verdict.rule) == ("not assessed", "none")


def test_non_finite_final_loss_is_not_assessed():
    verdict = case_verdict({"name": "overlap", "final_excess_loss": float("nan")})
    assert (verdict.verdict, verdict.rule) == ("not assessed", "final loss")


def test_every_verdict_is_a_known_one():
    cases = [
        {"name": "overlap", "observed_pattern": "other"},
        {"name": "overlap", "final_excess_loss": 0.0},
        {"name": "x"},
    ]
    assert {case_verdict(case).verdict for case in cases} <= set(VERDICTS)


# --------------------------------------------------------------------------------------
# The page's parts from a minimal summary (no runs)
# --------------------------------------------------------------------------------------


def _minimal_case(name: str, **extra) -> dict:
    return {
        "name": name,
        "title": name.replace("_", " ").capitalize(),
        "paper_claim": f"The paper's claim about {name}.",
        "paper_figures": [5, 6],
        "figures": [f"{name}/figures/fig05_parameters.png"],
        "final_excess_loss": 1e-4,
        **extra,
    }


def test_page_without_optional_keys_has_no_plotly_and_no_theory(tmp_path):
    summary = {"cases": [_minimal_case("overlap"), _minimal_case("my_case")]}
    page = write_report(tmp_path, summary).read_text()
    assert "plotly-graph-div" not in page
    assert len(page) < 50_000  # plotly.js is left out when nothing uses it
    assert 'id="theory"' not in page
    assert "Seed sweep" not in page
    # Verdicts computed: overlap by the final loss, my_case by no rule.
    assert page.count('class="badge agrees"') == 2  # overview table and section
    assert page.count('class="badge not-assessed"') == 2
    # The PNG is linked by its relative path, and flagged when missing.
    assert 'src="overlap/figures/fig05_parameters.png"' in page
    assert "(file missing)" in page


def test_page_shows_theory_sweep_and_escapes_text(tmp_path):
    case = _minimal_case(
        "overlap",
        observed_pattern="overlap",
        pattern_counts={"overlap": 12, "other": 8},
        paper_claim="a < b & <script>",
    )
    summary = {
        "cases": [case],
        "theory": {
            "v_star": 0.31,
            "w_star": 0.49,
            "H": [[-0.0012]],
            "eigenvalues": [-0.0012],
            "stability": {"b2_below_1": "stable", "b2_above_1": "unstable"},
        },
    }
    page = write_report(tmp_path, summary).read_text()
    assert 'id="theory"' in page
    assert "-0.0012" in page and "stable" in page and "unstable" in page
    assert "over 20 seeds" in page
    assert "a &lt; b &amp; &lt;script&gt;" in page
    assert "<script>" not in page


def test_write_report_rejects_a_summary_without_cases(tmp_path):
    with pytest.raises(ValueError, match=r"summary\['cases'\] must be a list"):
        write_report(tmp_path, {"data": {}})


# --------------------------------------------------------------------------------------
# A real page: two short runs of the presets
# --------------------------------------------------------------------------------------

ROUNDS = 40


@pytest.fixture(scope="module")
def runs():
    """overlap as shipped, and near_elimination with a validation set (so H is drawn),
    each capped at ROUNDS rounds."""
    near = load_preset("near_elimination")
    near = near.model_copy(
        update={"train": near.train.model_copy(update={"validation": True})}
    )
    return [
        run_case(load_preset("overlap"), max_rounds=ROUNDS),
        run_case(near, max_rounds=ROUNDS),
    ]


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    """A report over the runs, with the keys later analyses add made up, so that every
    part of the page is drawn."""
    stage = tmp_path_factory.mktemp("report")
    cases = []
    for result in runs:
        figures = write_case(result, stage / result.experiment.name, out_root=stage)
        cases.append(case_record(result, figures))
    cases[0]["observed_pattern"] = "overlap"
    cases[0]["pattern_counts"] = {"overlap": 14, "near_elimination": 6}
    t = np.linspace(0.0, 1.0, 30)
    cases[0]["flow_overlay"] = {
        "a": (0.15 * (1 - t)).tolist(),
        "b": (-1.8 + 2 * t).tolist(),
        "drift": 0.01,
    }
    summary = {
        "cases": cases,
        "theory": {
            "v_star": 0.3,
            "w_star": 0.5,
            "H": [[-0.001]],
            "eigenvalues": [-0.001],
            "stability": {"b2_below_1": "stable", "b2_above_1": "unstable"},
        },
    }
    interactive = {r.experiment.name: interactive_data(r) for r in runs}
    return write_report(stage, summary, interactive=interactive), interactive


def test_interactive_data_shapes_and_rounding(runs):
    plain, validated = (interactive_data(result) for result in runs)
    for data in (plain, validated):
        assert len(data["a"]) == len(data["b"]) == len(data["loss"]) == ROUNDS + 1
        surface = data["surface"]
        # The presets' 81 x 81 grid is cut to 61 x 61, keeping both ends.
        assert len(surface["a"]) == len(surface["b"]) == 61
        assert np.shape(surface["G"]) == (61, 61)
        assert surface["a"][0] == -1.0 and surface["a"][-1] == 1.0
        json.dumps(data)  # plain JSON types only
    assert plain["surface"]["H"] is None and plain["validation_loss"] is None
    assert np.shape(validated["surface"]["H"]) == (61, 61)
    assert len(validated["validation_loss"]) == ROUNDS + 1
    # The losses keep 9 significant digits: enough for differences of 1e-5 at 0.92.
    np.testing.assert_allclose(
        plain["loss"], runs[0].history.train_loss[0], rtol=1e-8, atol=0
    )
    assert plain["teacher"] == [0.2, 0.0]


def test_interactive_data_rejects_a_grid_of_one_point(runs):
    with pytest.raises(ValueError, match="max_points accepted: an integer >= 2; got 1"):
        interactive_data(runs[0], max_points=1)


def _with_teacher(experiment, **xi):
    teacher = experiment.teacher.model_copy(
        update={"xi": {**experiment.teacher.xi, **xi}}
    )
    return experiment.model_copy(update={"teacher": teacher})


def test_teacher_is_marked_only_where_it_is_one_point_of_the_plane(runs):
    experiment = runs[0].experiment  # teacher (a, b, v, w) = (0.2, 0, 0.3, 0.5)
    result = dataclasses.replace(runs[0], experiment=_with_teacher(experiment, b=0.4))
    assert interactive_data(result)["teacher"] == [0.2, 0.4]
    # v is held at 0.3 on the plane: a teacher with v = 0.35 is off it.
    result = dataclasses.replace(runs[0], experiment=_with_teacher(experiment, v=0.35))
    assert interactive_data(result)["teacher"] is None
    # With a = 0 every point of the line a = 0 is the teacher.
    result = dataclasses.replace(runs[0], experiment=_with_teacher(experiment, a=0.0))
    assert interactive_data(result)["teacher"] is None


def test_a_flow_overlay_without_run_data_still_gets_its_plane(tmp_path):
    case = _minimal_case("overlap", flow_overlay={"a": [0.1, 0.0], "b": [-2.0, 0.5]})
    page = write_report(tmp_path, {"cases": [case]}).read_text()
    assert page.count("Plotly.newPlot(") == 1
    assert "averaged flow" in page


def test_page_is_one_offline_file_under_the_size_limit(report):
    path, _ = report
    page = path.read_text()
    assert path.stat().st_size < PAGE_LIMIT
    assert page.count("Plotly.newPlot(") == 5  # the two planes, G twice, H once
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1  # the bundle, once
    # No resource is fetched from the network: no http(s) script or stylesheet.
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?:", page)


def _setting_values(row_text: str) -> dict[str, str]:
    """``{key: text}`` from a settings row ``"k1 = v1, k2 = [x, y], k3 = v3"``."""
    pairs = re.findall(r"(?:^|, )(\w+) = (\[[^\]]*\]|[^,]*)", html.unescape(row_text))
    return dict(pairs)


def _settings_rows(part: str) -> dict[str, dict[str, str]]:
    """The first settings table in ``part``: ``{group: {key: text}}``."""
    table = re.search(r'<table class="keyvalue">(.*?)</table>', part, re.S)
    assert table is not None, "no settings table"
    rows = re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", table.group(1))
    return {html.unescape(group): _setting_values(text) for group, text in rows}


def _check_listed(rows: dict, settings: dict, wanted: dict) -> None:
    """Each ``wanted`` group's keys are listed with the summary's values. Numbers are
    printed to 6 significant digits: equal to 5e-6 relative."""
    for group, keys in wanted.items():
        for key in keys:
            value = settings[group][key]
            assert key in rows.get(group, {}), (group, key, rows)
            text = rows[group][key]
            if isinstance(value, str):
                assert text == value
            else:
                assert float(text) == pytest.approx(value, rel=5e-6, abs=0)


SHOWN_SETTINGS = {
    "data": ("n_train", "noise_std", "seed"),
    "optimizer": ("name", "learning_rate", "beta1", "beta2", "eps"),
}


def test_settings_section_lists_the_data_and_the_optimizer(runs, report):
    path, _ = report
    page = path.read_text()
    # The summary's settings: case_record's, as in the fixture's summary. The two
    # runs share their data and optimizer settings, so the shared table holds them.
    settings = [case_record(result, [])["settings"] for result in runs]
    for group in SHOWN_SETTINGS:
        assert settings[0][group] == settings[1][group]
    section = re.search(r'<section id="settings">(.*?)</section>', page, re.S)
    assert section is not None
    _check_listed(_settings_rows(section.group(1)), settings[0], SHOWN_SETTINGS)
    # Each case lists its own settings too, training ones included.
    own = dict(SHOWN_SETTINGS, train=("rounds", "batch_size", "precision"))
    for result, case_settings in zip(runs, settings, strict=True):
        name = result.experiment.name
        case = re.search(
            rf'<section class="case" id="case-{name}">(.*?)</section>', page, re.S
        )
        assert case is not None and "<h3>Settings</h3>" in case.group(1)
        part = case.group(1).split("<h3>Settings</h3>", 1)[1]
        _check_listed(_settings_rows(part), case_settings, own)


def _plotly_traces(page: str, div_id: str) -> list[dict]:
    """The trace list passed to ``Plotly.newPlot`` for the div ``div_id``."""
    match = re.search(rf'Plotly\.newPlot\(\s*"{re.escape(div_id)}",\s*', page)
    assert match is not None, f"no plot {div_id}"
    traces, _ = json.JSONDecoder().raw_decode(page, match.end())
    return traces


def _values(entry):
    """A plotly data array: a JSON list, or a typed array ``{dtype, bdata, shape}``."""
    if isinstance(entry, dict) and "bdata" in entry:
        flat = np.frombuffer(base64.b64decode(entry["bdata"]), dtype=entry["dtype"])
        shape = entry.get("shape")
        if isinstance(shape, str):
            shape = [int(n) for n in shape.split(",")]
        return flat.reshape(shape) if shape else flat
    return np.asarray(entry, dtype=float)


def test_plane_hover_shows_the_round_and_the_loss(runs, report):
    """Hovering a point of the path shows its round and its training loss G: the
    hovertemplate reads them from the point's customdata."""
    path, interactive = report
    page = path.read_text()
    for result in runs:
        name = result.experiment.name
        data = interactive[name]
        traces = _plotly_traces(page, f"plot-{name}-plane")
        paths = [
            t
            for t in traces
            if len(_values(t.get("x", []))) == ROUNDS + 1
            and np.array_equal(_values(t["x"]), data["a"])
        ]
        assert len(paths) == 1, [t.get("name") for t in traces]
        trace = paths[0]
        template = trace.get("hovertemplate")
        assert template, "the path has no hovertemplate"
        assert "round" in template and "G" in template
        fields = [int(k) for k in re.findall(r"%\{customdata\[(\d+)\]", template)]
        customdata = _values(trace["customdata"])
        assert customdata.shape[0] == ROUNDS + 1
        loss = result.history.train_loss[0]
        for r in (0, 1, ROUNDS // 2, ROUNDS):
            shown = [customdata[r][k] for k in fields]
            assert r in shown  # the round, exactly
            # The loss, kept to 9 significant digits on the page: 1e-8 relative.
            assert any(v == pytest.approx(loss[r], rel=1e-8, abs=0) for v in shown)


# --------------------------------------------------------------------------------------
# The page in a headless Chromium
# --------------------------------------------------------------------------------------

# What the page holds once drawn: per plotly figure whether it is 3D, how many main
# svgs, drawn canvases and trace groups it has; per image whether it loaded.
_RENDERED_JS = """
(() => {
  const plots = [...document.querySelectorAll('div.plotly-graph-div')].map(d => {
    const layout = d._fullLayout || {};
    return {
      id: d.id,
      drawn: !!d._fullLayout,
      gl3d: Object.keys(layout).some(k => /^scene\\d*$/.test(k)),
      svgs: d.querySelectorAll('svg.main-svg').length,
      canvases: [...d.querySelectorAll('canvas')]
        .filter(c => c.width > 0 && c.height > 0).length,
      traces: d.querySelectorAll('svg.main-svg g.trace').length,
    };
  });
  const images = [...document.images].map(i => ({
    src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
  }));
  return JSON.stringify({plots, images, height: document.body.scrollHeight});
})()
"""


class Chromium:
    """A headless Chromium driven over the DevTools protocol through one websocket.

    Collects the page's script errors and error-level log entries in ``errors``.
    """

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # WebGL (the 3D plots) in software; Chromium no longer falls back to it alone.
        "--enable-unsafe-swiftshader",
        "--hide-scrollbars",
        "--window-size=1280,900",
        "--remote-debugging-port=0",
    )

    def __init__(self, binary: Path, profile: Path, *, timeout: float = 60.0):
        self.binary, self.profile, self.timeout = binary, profile, timeout
        self.errors: list[str] = []
        self._next_id = 0

    def __enter__(self) -> Chromium:
        import websocket

        self.process = subprocess.Popen(
            [str(self.binary), *self.FLAGS, f"--user-data-dir={self.profile}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, ended as one in __exit__
        )
        port, browser_path = self._devtools_address()
        self.socket = websocket.create_connection(
            f"ws://127.0.0.1:{port}{browser_path}",
            timeout=self.timeout,
            suppress_origin=True,  # Chromium refuses unknown origins
        )
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.socket.close()
        finally:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def _devtools_address(self) -> tuple[str, str]:
        # Chromium writes its port and browser endpoint here once it listens.
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            lines = active.read_text().split() if active.is_file() else []
            if len(lines) >= 2:
                return lines[0], lines[1]
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def call(self, method: str, params: dict | None = None, *, session=False) -> dict:
        """Send one command and return its result, keeping events met meanwhile."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def wait_for(self, event: str) -> None:
        while self._receive().get("method") != event:
            pass

    def _receive(self) -> dict:
        message = json.loads(self.socket.recv())
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details["text"]
            self.errors.append(f"script error: {text}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"log error: {entry['text']} {entry.get('url', '')}")
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            args = " ".join(
                str(a.get("value", a.get("description"))) for a in params["args"]
            )
            self.errors.append(f"console.error: {args}")
        return message

    def open(self, url: str) -> None:
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, height: int) -> None:
        """The whole page, ``height`` CSS pixels tall, as a PNG."""
        shot = self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1},
            },
            session=True,
        )
        path.write_bytes(base64.b64decode(shot["data"]))


def _plot_drawn(plot: dict) -> bool:
    if not plot["drawn"]:
        return False
    if plot["gl3d"]:
        return plot["canvases"] > 0
    return plot["svgs"] > 0 and plot["traces"] > 0


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, or a skip with the reason (no other browser is tried). Of
    the widest scope, it is set up first, so a skip comes before the page is built."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's chromium package "
            "(apt-get install -y chromium) to run the browser test"
        )
    return CHROMIUM


def test_page_renders_in_headless_chromium(chromium, report, tmp_path):
    path, interactive = report
    with Chromium(chromium, tmp_path / "profile") as browser:
        browser.open(path.as_uri())
        deadline = time.monotonic() + 60
        while True:  # plotly draws the 3D scenes after the load event
            state = json.loads(browser.evaluate(_RENDERED_JS))
            if all(map(_plot_drawn, state["plots"])) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        time.sleep(0.5)  # let the last WebGL frames reach the screen
        shot = tmp_path / "report.png"
        browser.screenshot(shot, height=state["height"])
        errors = list(browser.errors)

    if os.environ.get("SINGDYN_SCREENSHOT_DIR"):
        target = Path(os.environ["SINGDYN_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / shot.name)
    print(f"screenshot: {shot}")

    assert errors == []
    plots = state["plots"]
    # Per case: the (a, b) plane and G; H for the case with a validation set.
    expected = 2 * len(interactive) + sum(
        data["surface"]["H"] is not None for data in interactive.values()
    )
    assert len(plots) == expected
    assert [p["id"] for p in plots if not _plot_drawn(p)] == []
    assert sum(p["gl3d"] for p in plots) == expected - len(interactive)
    assert state["images"] and all(image["ok"] for image in state["images"])
    assert shot.stat().st_size > 50_000
