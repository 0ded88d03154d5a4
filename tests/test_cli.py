"""End-to-end tests of the command line: `singdyn reproduce` and `singdyn run`."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from singdyn.cli import EXAMPLE1, app
from singdyn.experiments.config import preset_path
from singdyn.patterns import LABELS
from singdyn.section3 import SECTION3

runner = CliRunner()

CASE_KEYS = {
    "name",
    "paper_claim",
    "start",
    "rounds",
    "final",
    "final_train_loss",
    "teacher_train_loss",
    "figures",
}


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("reproduce") / "out"
    result = runner.invoke(
        app, ["reproduce", "--out", str(out), "--max-rounds", "3", "--seeds", "3"]
    )
    return out, result


@pytest.mark.slow
def test_reproduce_writes_summary_of_the_five_cases(reproduced):
    out, result = reproduced
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    names = [case["name"] for case in summary["cases"]]
    assert names == list(EXAMPLE1 + SECTION3)
    for case in summary["cases"]:
        assert set(case) >= CASE_KEYS
        assert case["rounds"] == 3  # every preset has more rounds than the cap
        for figure in case["figures"]:
            assert (out / figure).stat().st_size > 10_000
    for key in ("data", "optimizer"):
        assert key in summary
    assert summary["data"]["n_train"] >= 1
    assert summary["optimizer"]["learning_rate"] == 0.1
    assert (out / summary["teacher_figure"]).is_file()


@pytest.mark.slow
def test_reproduce_labels_each_case_and_counts_kinds_over_seeds(reproduced):
    out, _ = reproduced
    for case in _example1(out):
        assert case["observed_pattern"] in LABELS
        assert set(case["pattern_counts"]) == set(LABELS)
        assert sum(case["pattern_counts"].values()) == 3
        assert case["pattern_seeds"] == [0, 1, 2]


@pytest.mark.slow
def test_reproduce_history_matches_summary(reproduced):
    out, _ = reproduced
    summary = json.loads((out / "summary.json").read_text())
    for case in summary["cases"]:
        with open(out / case["name"] / "history.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert [int(r["round"]) for r in rows] == list(range(case["rounds"] + 1))
        assert rows[0]["round_loss"] == ""
        assert float(rows[0]["a"]) == pytest.approx(case["start"]["a"], abs=1e-7)
        assert float(rows[-1]["b"]) == case["final"]["b"]
        assert float(rows[-1]["train_loss"]) == case["final_train_loss"]
        # v and w are not trained: bit-identical in every row (float32 start values).
        assert {r["v"] for r in rows} == {rows[0]["v"]}
        assert {r["w"] for r in rows} == {rows[0]["w"]}


@pytest.mark.slow
def test_reproduce_prints_the_table(reproduced):
    _, result = reproduced
    for name in EXAMPLE1:
        assert name in result.output
    assert "teacher" in result.output


@pytest.mark.slow
def test_reproduce_teacher_loss_is_the_teachers_own(reproduced):
    """The reported teacher loss is the NLL of the noise-free teacher on the data:
    with noise sd 0.05 it is log(2 pi) / 2 + E[z^2] / 2, near 0.9189 + 0.00125."""
    out, _ = reproduced
    summary = json.loads((out / "summary.json").read_text())
    sigma = summary["data"]["noise_std"]
    expected = 0.5 * np.log(2 * np.pi) + 0.5 * sigma**2
    n = summary["data"]["n_train"]
    # The mean of z^2 over n points has sd sigma^2 sqrt(2 / n); allow 5 of them.
    tolerance = 5 * 0.5 * sigma**2 * np.sqrt(2 / n)
    for case in _example1(out):
        assert case["teacher_train_loss"] == pytest.approx(expected, abs=tolerance)


@pytest.mark.slow
def test_reproduce_judges_section3_over_seeds(reproduced):
    out, _ = reproduced
    summary = json.loads((out / "summary.json").read_text())
    section3 = {case["name"]: case for case in summary["cases"][len(EXAMPLE1) :]}
    assert set(section3) == set(SECTION3)
    for case in section3.values():
        assert set(case["verdicts"]) == {"overfitting", "over_generalization"}
        assert case["seed_sweep"]["seeds"] == 3
        assert 1 <= case["best"]["round"] <= case["rounds"]


def _example1(out: Path) -> list[dict]:
    summary = json.loads((out / "summary.json").read_text())
    return [case for case in summary["cases"] if case["name"] in EXAMPLE1]


def _preset_document() -> dict:
    return tomllib.loads(preset_path("overlap").read_text())


def _write_toml(path: Path, document: dict) -> Path:
    lines = []

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    for key, v in document.items():
        if not isinstance(v, dict):
            lines.append(f"{key} = {value(v)}")
    for key, v in document.items():
        if isinstance(v, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {value(x)}" for k, x in v.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_run_a_good_file(tmp_path):
    document = _preset_document()
    document["train"]["rounds"] = 4
    document["surface"]["resolution"] = 11
    path = _write_toml(tmp_path / "good.toml", document)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cases"][0]["rounds"] == 4
    assert (out / ".singdyn-output").is_file()
    assert "run: 1 case" in result.output


BAD_SETTINGS = [
    (("data", "unknown_key"), 1, r"data\.unknown_key: unknown setting.*n_train"),
    (("data", "n_train"), "100", r"data\.n_train: .*valid integer.*'100'"),
    (("data", "noise_std"), -0.1, r"data\.noise_std: accepted: .*>= 0; got -0\.1"),
    (("train", "batch_size"), 0, r"train\.batch_size: accepted: .*>= 1; got 0"),
    (("train", "rounds"), 0, r"train\.rounds: accepted: .*>= 1; got 0"),
    (("train", "trainable"), ["a", "q"], r"train\.trainable: accepted: .*'q'"),
    (
        ("train", "start"),
        {"theta": {"w11": 0.1, "w12": 0.2, "w31": 0.5, "w32": -0.5}},
        r"w31 \+ w32 must be non-zero.*w31 = 0\.5, w32 = -0\.5",
    ),
]


@pytest.mark.parametrize(("where", "value", "message"), BAD_SETTINGS)
def test_run_rejects_bad_settings_before_any_work(tmp_path, where, value, message):
    document = _preset_document()
    document[where[0]][where[1]] = value
    path = _write_toml(tmp_path / "bad.toml", document)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert _matches(message, result.output)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.toml"]


def test_run_rejects_missing_file(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(tmp_path / "nope.toml"), "--out", str(out)])
    assert result.exit_code == 2
    assert "cannot read the experiment file" in result.output
    assert not out.exists()


def _matches(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, " ".join(text.split())) is not None


@pytest.mark.slow
def test_theory_from_the_command_line(tmp_path):
    out = tmp_path / "theory"
    result = runner.invoke(
        app, ["theory", "--teacher", "a=0.2,b=0,v=0.3,w=0.5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    theory = json.loads((out / "theory.json").read_text())
    for key in ("v_star", "w_star", "H", "eigenvalues", "first_integral_drift"):
        assert key in theory
    assert set(theory["stability"]) >= {"b2_below_1", "b2_above_1"}
    # Example 1's teacher: H > 0, so R0 attracts where b^2 > 1 (the overlap case).
    assert theory["stability"]["b2_above_1"] == "stable"
    assert theory["stability"]["b2_below_1"] == "unstable"
    assert (out / "figures" / "first_integrals.png").stat().st_size > 10_000
    assert "unstable" in result.output
    assert "theory: v*, w*, H, flows, closed forms" in result.output  # the bar's label
    assert (out / ".singdyn-output").is_file()
    # The listed files are named relative to the folder, so they stay true when the
    # folder moves (it is written under another name and renamed at the end).
    assert sorted(theory["files"]) == ["figures/first_integrals.png", "theory.json"]
    assert all((out / name).is_file() for name in theory["files"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--teacher", "a=0.2,b=0,v=0.3"], r"--teacher: give exactly the coordinates"),
        (["--teacher", "a=0.2,b=0,v=0.3,w=x"], r"name=number pairs; got 'w=x'"),
        (["--teacher", "a=0.2,b=0,v=0.3,w=0"], r"w = w31 \+ w32 must be non-zero"),
        (
            ["--teacher", "a=0.2,b=0,v=0.3,w=1e-300"],
            r"--teacher.w: accepted: \|w\| >= 1e-6",
        ),
        (["--teacher", "a=2e6,b=0,v=0.3,w=0.5"], r"--teacher.a: accepted: a finite"),
        (
            ["--teacher", "a=nan,b=0,v=0.3,w=0.5"],
            r"a: accepted: a finite number; got 'nan'",
        ),
        (
            ["--teacher", "a=0.2,b=0,v=inf,w=0.5"],
            r"v: accepted: a finite number; got 'inf'",
        ),
        (
            ["--teacher", "a=0.2,a=0.3,b=0,v=0.3,w=0.5"],
            r"each coordinate once; got 'a' twice",
        ),
        (
            ["--teacher", "a=0.2,b=0,v=0.3,w=0.5", "--noise-std", "inf"],
            r"--noise-std.*accepted: a finite number >= 0.0; got inf",
        ),
        (
            ["--teacher", "a=0.2,b=0,v=0.3,w=0.5", "--noise-std", "-1"],
            r"--noise-std.*accepted: a finite number >= 0.0; got -1.0",
        ),
        ([], r"give an experiment file or --teacher, not both; got neither"),
    ],
)
def test_theory_rejects_bad_teachers(tmp_path, arguments, message):
    out = tmp_path / "theory"
    result = runner.invoke(app, ["theory", *arguments, "--out", str(out)])
    assert result.exit_code == 2
    assert _matches(message, result.output)
    assert not out.exists()


# ---- --out: what may be replaced -----------------------------------------------------

OUT_REFUSED = r"--out: accepted: a new folder, an empty folder, or a folder singdyn"


def _commands(tmp_path: Path, out: str) -> dict[str, list[str]]:
    """One invocation of every command that writes an output folder, into ``out``."""
    document = _preset_document()
    document["train"]["rounds"] = 2
    path = _write_toml(tmp_path / "good.toml", document)
    return {
        "reproduce": ["reproduce", "--out", out, "--max-rounds", "2", "--seeds", "0"],
        "run": ["run", str(path), "--out", out],
        "theory": ["theory", "--teacher", "a=0.2,b=0,v=0.3,w=0.5", "--out", out],
        "phase-map": ["phase-map", "--resolution", "2", "--rounds", "2", "--out", out],
    }


@pytest.fixture
def no_work(monkeypatch):
    """Make every kind of work fail loudly: a refused --out must stop before it."""
    from singdyn import phase_map, pipeline, section3, theory

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before --out was checked")

    for module, name in [
        (pipeline, "run_case"),
        (pipeline, "staged_output"),
        (section3, "run_section3"),
        (section3, "run_validation_case"),
        (theory, "write_theory"),
        (phase_map, "phase_map"),
    ]:
        monkeypatch.setattr(module, name, forbidden)


@pytest.mark.parametrize("command", ["reproduce", "run", "theory", "phase-map"])
def test_out_refuses_a_folder_holding_other_files(tmp_path, no_work, command):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    result = runner.invoke(app, _commands(tmp_path, str(out))[command])
    assert result.exit_code == 2, result.output
    assert _matches(OUT_REFUSED, result.output)
    assert str(out) in "".join(result.output.split())  # the path given, unwrapped
    assert (out / "notes.txt").read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.toml", "mine"]


@pytest.mark.parametrize("command", ["reproduce", "run", "theory", "phase-map"])
def test_out_refuses_an_existing_file(tmp_path, no_work, command):
    out = tmp_path / "notes.txt"
    out.write_text("my notes")
    result = runner.invoke(app, _commands(tmp_path, str(out))[command])
    assert result.exit_code == 2, result.output
    assert _matches(OUT_REFUSED + r".*a file", result.output)
    assert out.read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.toml", "notes.txt"]


@pytest.mark.parametrize("command", ["reproduce", "run", "theory", "phase-map"])
def test_out_refuses_a_path_inside_a_file(tmp_path, no_work, command):
    inside = tmp_path / "notes.txt"
    inside.write_text("my notes")
    out = inside / "sub" / "out"
    result = runner.invoke(app, _commands(tmp_path, str(out))[command])
    assert result.exit_code == 2, result.output
    assert _matches(OUT_REFUSED + r".*a path inside .*, which is a file", result.output)
    assert str(inside) in "".join(result.output.split())  # the file, unwrapped
    assert inside.read_text() == "my notes"


@pytest.mark.parametrize("out", [".", "..", "../.."])
@pytest.mark.parametrize("command", ["reproduce", "run", "theory", "phase-map"])
def test_out_refuses_the_current_folder_and_its_parents(
    tmp_path, monkeypatch, no_work, command, out
):
    # Even an empty current folder, or one singdyn wrote: the shell stands in it.
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    (here / ".singdyn-output").write_text("")
    monkeypatch.chdir(here)
    result = runner.invoke(app, _commands(tmp_path, out)[command])
    assert result.exit_code == 2, result.output
    assert _matches(OUT_REFUSED + r".*current folder", result.output)
    assert (here / ".singdyn-output").exists()


def test_out_refuses_the_root_and_the_home_folder(tmp_path, monkeypatch):
    from singdyn.pipeline import check_output

    home = tmp_path / "home" / "me"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^out: accepted: .*got '/'.*root"):
        check_output(Path("/"))
    for folder in (home, home.parent):
        with pytest.raises(ValueError, match=r"got '.*'.*home folder"):
            check_output(folder)
    result = runner.invoke(
        app, ["theory", "--teacher", "a=0.2,b=0,v=0.3,w=0.5", "--out", str(home)]
    )
    assert result.exit_code == 2
    assert _matches(OUT_REFUSED + r".*home folder", result.output)


def test_staged_output_writes_a_marker_and_replaces_only_its_own_folders(tmp_path):
    from singdyn.pipeline import OUTPUT_MARKER, check_output, staged_output

    out = tmp_path / "deep" / "out"
    with staged_output(out) as stage:
        (stage / "first.txt").write_text("1")
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARKER, "first.txt"]
    assert check_output(out) == out.resolve()
    with staged_output(out) as stage:  # singdyn wrote it: replaced
        (stage / "second.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARKER, "second.txt"]
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # nothing left beside

    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_output(empty) as stage:  # an empty folder: replaced
        (stage / "x.txt").write_text("x")
    assert (empty / "x.txt").is_file() and (empty / OUTPUT_MARKER).is_file()

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds other files"), staged_output(other):
        raise AssertionError("the body must not run")
    assert [p.name for p in other.iterdir()] == ["notes.txt"]

    (out / "my notes.txt").write_text("mine")  # added to a folder singdyn wrote
    with (
        pytest.raises(ValueError, match=r"singdyn wrote that now also holds 'my notes"),
        staged_output(out),
    ):
        raise AssertionError("the body must not run")
    assert sorted(p.name for p in out.iterdir()) == [
        OUTPUT_MARKER,
        "my notes.txt",
        "second.txt",
    ]


@pytest.mark.slow
def test_run_refuses_an_output_folder_holding_its_own_experiment_file(tmp_path):
    out = tmp_path / "out"
    quick = ["--max-rounds", "2", "--seeds", "0", "--out", str(out)]
    first = _write_toml(tmp_path / "first.toml", _preset_document())
    assert runner.invoke(app, ["run", str(first), *quick]).exit_code == 0
    inside = out / "again.toml"
    inside.write_text(first.read_text())

    result = runner.invoke(app, ["run", str(inside), *quick])
    assert result.exit_code == 2, result.output
    assert _matches(OUT_REFUSED + r".*now also holds 'again.toml'", result.output)
    assert inside.read_text() == first.read_text()


def test_staged_output_keeps_the_old_folder_when_the_work_fails(tmp_path):
    from singdyn.pipeline import OUTPUT_MARKER, staged_output

    out = tmp_path / "out"
    with staged_output(out) as stage:
        (stage / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="midway"), staged_output(out) as stage:
        (stage / "new.txt").write_text("new")
        raise RuntimeError("midway")
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARKER, "old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder

    fresh = tmp_path / "new" / "deeper"
    with pytest.raises(KeyboardInterrupt), staged_output(fresh):
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_output_refuses_a_folder_filled_during_the_work(tmp_path):
    from singdyn.pipeline import staged_output

    out = tmp_path / "out"
    out.mkdir()
    refused = pytest.raises(ValueError, match=r"holds other files")
    with refused, staged_output(out) as stage:
        (stage / "result.txt").write_text("r")
        (out / "notes.txt").write_text("written meanwhile")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.slow
def test_phase_map_writes_its_marker_and_reruns_into_its_own_folder(tmp_path):
    out = tmp_path / "map"
    arguments = ["phase-map", "--resolution", "2", "--rounds", "2", "--out", str(out)]
    for _ in range(2):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        ".singdyn-output",
        "phase_map.nc",
        "phase_map.png",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["map"]


# ---- text from the user and from messages is printed as it is ------------------------


def test_a_bracketed_name_is_printed_as_given(tmp_path):
    document = _preset_document()
    document["name"] = "[/b]"
    path = _write_toml(tmp_path / "bad.toml", document)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "MarkupError" not in result.output
    assert _matches(r"name: accepted: .*letters.*got '\[/b\]'", result.output)


def test_a_bracketed_message_is_printed_as_given(tmp_path):
    document = _preset_document()
    document["data"]["x_range"] = [3.0, -3.0]
    path = _write_toml(tmp_path / "bad.toml", document)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert _matches(
        r"data\.x_range: accepted: \[low, high\] with low < high; got \[3\.0, -3\.0\]",
        result.output,
    )


def test_help_keeps_its_brackets():
    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    assert "[analysis]" in result.output


def _record(name: str, claim: str, counts: dict | None) -> dict:
    point = {"a": 0.1, "b": -1.0}
    record = {
        "name": name,
        "paper_claim": claim,
        "start": point,
        "final": point,
        "final_train_loss": 0.92,
        "teacher_train_loss": 0.91,
        "final_excess_loss": 0.01,
        "observed_pattern": "overlap",
    }
    if counts is not None:
        record["pattern_counts"] = counts
    return record


@pytest.fixture
def printed(monkeypatch):
    """What the command line prints to its console, as plain text."""
    import io

    from rich.console import Console

    from singdyn import cli

    buffer = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buffer, width=200))
    return buffer


def test_results_table_prints_bracketed_claims_and_names(printed):
    from singdyn import cli

    claim = "Stalls where [a, b] is near [red] the line [/b]."
    cli._print_table([_record("my_case", claim, None)])
    assert claim in printed.getvalue()


def test_results_table_counts_the_paper_kind_only_for_the_five_kinds(printed):
    from singdyn import cli

    counts = {label: 0 for label in LABELS} | {"overlap": 2, "other": 3}
    cli._print_table(
        [_record("my_case", "mine", counts), _record("overlap", "paper", counts)]
    )
    rows = {
        line.split("│")[1].strip(): line
        for line in printed.getvalue().splitlines()
        if line.count("│") > 2
    }
    assert "seeds showing the paper's kind" in " ".join(printed.getvalue().split())
    assert rows["my_case"].rstrip("│ ").endswith("-")
    assert "0 of 5" not in rows["my_case"]
    assert rows["overlap"].rstrip("│ ").endswith("2 of 5")


# ---- phase-map and theory: every option is checked before any work -------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--flow-time", "0"], r"--flow-time.*accepted: a finite number > 0; got 0"),
        (["--flow-time", "-1"], r"--flow-time.*accepted: a finite number > 0; got -1"),
        (["--flow-time", "inf"], r"--flow-time.*a finite number > 0; got inf"),
        (["--flow-time", "nan"], r"--flow-time.*a finite number > 0; got nan"),
        (["--resolution", "1"], r"--resolution.*accepted: from 2 to 2001; got 1"),
        (["--resolution", "100000"], r"--resolution.*from 2 to 2001; got 100000"),
        (["--rounds", "1"], r"--rounds.*accepted: from 2 to 10000; got 1"),
        (["--chunk-size", "0"], r"--chunk-size.*accepted: >= 1; got 0"),
        (["--flow-resolution", "1"], r"--flow-resolution.*from 2 to 401; got 1"),
        (["--preset", "nope"], r"--preset: accepted: one of .*overlap.*got 'nope'"),
        (["--rounds", "10001"], r"--rounds.*accepted: from 2 to 10000; got 10001"),
    ],
)
def test_phase_map_checks_every_option_before_any_work(
    tmp_path, no_work, arguments, message
):
    out = tmp_path / "map"
    result = runner.invoke(app, ["phase-map", "--flow", *arguments, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert _matches(message, result.output.replace("│", " "))  # out of its box
    assert not out.exists()


def test_phase_map_help_states_the_accepted_flow_time():
    result = runner.invoke(app, ["phase-map", "--help"])
    text = " ".join(result.output.split())
    assert "x>=0.0" not in text
    assert "SPEC" not in text
    assert "> 0" in text


def test_top_level_help_has_one_line_per_command():
    result = runner.invoke(app, ["--help"], terminal_width=200)
    lines = [line for line in result.output.splitlines() if "phase-map" in line]
    assert len(lines) == 1
    assert "phase_map.png" in lines[0] or "grid" in lines[0]
    assert not any(
        line.strip("│ ").startswith("phase_map.png")
        for line in result.output.splitlines()
    )


@pytest.mark.parametrize(
    ("arguments", "given"),
    [
        (["--bias"], r"the option --bias applies .* and --bias True"),
        (["--loss", "mse"], r"the option --loss applies .* and --loss 'mse'"),
        (["--noise-std", "0.1"], r"the option --noise-std applies .*--noise-std 0\.1"),
        # the default given explicitly is still a contradiction
        (["--loss", "gaussian_nll"], r"--loss applies .* --loss 'gaussian_nll'"),
        (
            ["--bias", "--loss", "mse"],
            r"the options --bias, --loss apply .* and --bias True, --loss 'mse'",
        ),
    ],
)
def test_theory_rejects_teacher_options_with_a_file(
    tmp_path, no_work, arguments, given
):
    out = tmp_path / "theory"
    preset = str(preset_path("overlap"))
    result = runner.invoke(app, ["theory", preset, *arguments, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert _matches(r"appl(y|ies) only with --teacher .*got the file", result.output)
    assert _matches(given, result.output)
    assert not out.exists()


def test_progress_fits_in_80_columns():
    """A long label gives way, so the count and the elapsed time stay visible."""
    import io

    from rich.console import Console

    from singdyn import cli

    buffer = io.StringIO()
    console = Console(file=buffer, width=80)
    progress = cli._progress(console)
    label = "Section 3: example3_over_generalization: 20 seeds at 1000 training points"
    task = progress.add_task(label, total=100)
    progress.update(task, completed=100)
    console.print(progress.get_renderable())
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1
    assert len(lines[0]) <= 80
    assert lines[0].startswith("Section 3: example3")
    assert lines[0].rstrip().endswith("100/100 0:00:00")


@pytest.mark.slow
def test_reproduce_labels_its_progress(reproduced):
    _, result = reproduced
    assert "Example 1: 5 cases" in result.output
    assert "Section 3: 2 cases" in result.output
    assert "0/?" not in result.output


@pytest.mark.parametrize("command", ["reproduce", "run"])
def test_seeds_are_capped_before_any_work(tmp_path, no_work, command):
    out = tmp_path / "out"
    arguments = _commands(tmp_path, str(out))[command]
    result = runner.invoke(app, [*arguments, "--seeds", "1001"])
    assert result.exit_code == 2, result.output
    assert _matches(r"--seeds.*accepted: from 0 to 1000; got 1001", result.output)
    assert not out.exists()


def test_a_termination_signal_unwinds_and_leaves_no_staging_folder(tmp_path):
    import signal

    from singdyn.cli import _terminated
    from singdyn.pipeline import staged_output

    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped, staged_output(out) as stage:
        (stage / "half.txt").write_text("half")
        _terminated(signal.SIGTERM, None)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_json_has_null_where_a_run_diverged(tmp_path):
    from singdyn.pipeline import write_json

    path = tmp_path / "summary.json"
    write_json(path, {"a": float("nan"), "b": [1.0, np.inf], "c": np.float32("-inf")})
    text = path.read_text()
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": None}
    assert "NaN" not in text and "Infinity" not in text
