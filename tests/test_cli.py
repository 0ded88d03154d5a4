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
        ([], r"give an experiment file or --teacher, not both; got neither"),
    ],
)
def test_theory_rejects_bad_teachers(tmp_path, arguments, message):
    out = tmp_path / "theory"
    result = runner.invoke(app, ["theory", *arguments, "--out", str(out)])
    assert result.exit_code == 2
    assert _matches(message, result.output)
    assert not out.exists()
