"""The phase map: grid, chunking, the NetCDF file, the figure and the command."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from numpy.testing import assert_array_equal
from typer.testing import CliRunner

import singdyn.train
from singdyn.cli import app
from singdyn.experiments.config import ConfigError, load_preset
from singdyn.patterns import LABELS, classify_history
from singdyn.phase_map import (
    EXAMPLE1_CASES,
    flow_map,
    phase_map,
    to_dataset,
    write_phase_map,
)
from singdyn.pipeline import run_case

runner = CliRunner()
SMALL = dict(resolution=7, rounds=20)


@pytest.fixture(scope="module")
def small_map():
    """A 7 x 7 map of 20 rounds, all 49 start points in one chunk."""
    return phase_map("overlap", chunk_size=49, **SMALL)


def test_grid_coordinates_shapes_and_labels(small_map):
    result = small_map
    assert_array_equal(result.a, np.linspace(-1.0, 1.0, 7))
    assert_array_equal(result.b, np.linspace(-2.5, 2.5, 7))
    for name in ("labels", "final_a", "final_b", "final_loss"):
        assert getattr(result, name).shape == (7, 7), name
    assert result.labels.min() >= 0 and result.labels.max() < len(LABELS)
    assert np.all(np.isfinite(result.final_loss))
    assert result.teacher_ab == (0.2, 0.0)
    assert list(result.marks) == list(EXAMPLE1_CASES)
    assert result.marks["overlap"] == (0.15, -1.8)
    assert sum(result.shares().values()) == pytest.approx(1.0)
    assert result.settings["rounds"] == 20 and result.settings["resolution"] == 7


def test_the_map_is_symmetric_under_swapping_the_units(small_map):
    # (a, b) -> (-a, -b) swaps the hidden units and leaves the network's function
    # unchanged, so mirrored starts take mirrored paths. The grid's mirrored points
    # are equal only to rounding, which a chaotic boundary may amplify: allow 1 in 20.
    labels = small_map.labels
    assert (labels == labels[::-1, ::-1]).mean() >= 0.95


def test_chunking_gives_identical_results(small_map, monkeypatch):
    sizes, reports = [], []
    original = singdyn.train.train

    def recording_train(starts, *args, **kwargs):
        sizes.append(len(starts))
        return original(starts, *args, **kwargs)

    monkeypatch.setattr(singdyn.train, "train", recording_train)
    chunked = phase_map(
        "overlap",
        chunk_size=10,
        progress=lambda stage, done, total: reports.append((stage, done, total)),
        **SMALL,
    )
    # Memory-flat: no call trains more than a chunk, and every point is trained once.
    assert sizes == [10, 10, 10, 10, 9]
    assert reports == [("training", d, 49) for d in (10, 20, 30, 40, 49)]
    for name in ("labels", "final_a", "final_b", "final_loss"):
        assert_array_equal(getattr(chunked, name), getattr(small_map, name), name)


def test_a_grid_point_takes_the_same_path_as_the_single_run_from_it():
    # The map's corner (0.15, -1.8) is the overlap case's own start; with the same
    # data, schedule and rounds its label and end point must be those of run_case.
    case = run_case(load_preset("overlap"), max_rounds=60, flow=False)
    result = phase_map(
        "overlap", resolution=2, rounds=60, a_range=(0.15, 0.35), b_range=(-1.8, -1.6)
    )
    assert (result.a[0], result.b[0]) == (0.15, -1.8)
    history = case.history
    assert result.final_a[0, 0] == history.final_params[0, 0]
    assert result.final_b[0, 0] == history.final_params[0, 1]
    assert result.final_loss[0, 0] == history.train_loss[0, -1]
    label = classify_history(history, case.teacher_train_loss)[0]
    assert result.labels[0, 0] == label


def test_dataset_and_files(small_map, tmp_path):
    paths = write_phase_map(small_map, tmp_path)
    assert [p.name for p in paths] == ["phase_map.nc", "phase_map.png"]
    assert (tmp_path / "phase_map.png").stat().st_size > 20_000
    with xr.open_dataset(tmp_path / "phase_map.nc", engine="h5netcdf") as data:
        assert data.label.dims == ("b", "a")
        assert_array_equal(data.a, small_map.a)
        assert_array_equal(data.b, small_map.b)
        assert_array_equal(data.label, small_map.labels)
        assert_array_equal(data.final_loss, small_map.final_loss)
        assert data.label.attrs["flag_meanings"].split() == list(LABELS)
        assert data.attrs["rounds"] == 20
        assert data.attrs["preset"] == "overlap"
        assert data.attrs["teacher_loss"] == small_map.teacher_loss
        assert list(data.attrs["b_range"]) == [-2.5, 2.5]


def test_flow_map_and_its_variables(small_map):
    flow = flow_map("overlap", resolution=3, time=50.0, save_points=21)
    assert flow.labels.shape == (3, 3) and flow.success.all()
    assert flow.labels.min() >= 0 and flow.labels.max() < len(LABELS)
    # Starts on a = 0 stay on it: the line is invariant (both units are one, the
    # gradient in a vanishes); float64 rounding leaves them within 1e-15 of it.
    assert np.abs(flow.final_a[:, 1]).max() < 1e-15
    with_flow = type(small_map)(**{**small_map.__dict__, "flow": flow})
    data = to_dataset(with_flow)
    assert data.flow_label.dims == ("flow_b", "flow_a")
    assert_array_equal(data.flow_a, np.linspace(-1.0, 1.0, 3))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            dict(resolution=1),
            r"resolution: accepted: an integer from 2 to 2,001; got 1",
        ),
        (dict(resolution=2002), r"resolution: accepted: .* to 2,001; got 2002"),
        (dict(rounds=1), r"rounds: accepted: an integer from 2 to 10,000; got 1"),
        (dict(rounds=10_001), r"rounds: accepted: .* to 10,000; got 10001"),
        (dict(chunk_size=0), r"chunk_size: accepted: an integer >= 1; got 0"),
        (dict(a_range=(1.0, -1.0)), r"a_range: accepted: .*got \(1.0, -1.0\)"),
        (dict(flow=True, flow_time=-1.0), r"flow_time: accepted: .*> 0; got -1.0"),
    ],
)
def test_bad_settings_raise(change, message):
    settings = {**SMALL, **change}
    with pytest.raises(ValueError, match=message):
        phase_map("overlap", **settings)


def test_unknown_preset_raises():
    with pytest.raises(ConfigError, match=r"preset: accepted: one of .*got 'nope'"):
        phase_map("nope", **SMALL)


def test_command_writes_the_figure_and_the_data(tmp_path):
    out = tmp_path / "map"
    arguments = ["phase-map", "--out", str(out), "--resolution", "5", "--rounds", "10"]
    result = runner.invoke(app, [*arguments, "--chunk-size", "7"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        ".singdyn-output",
        "phase_map.nc",
        "phase_map.png",
    ]
    assert "fast_convergence" in result.output
    with xr.open_dataset(out / "phase_map.nc", engine="h5netcdf") as data:
        assert data.label.shape == (5, 5)
        assert data.attrs["rounds"] == 10

    # A second run replaces the folder; a bad preset fails before touching it.
    assert runner.invoke(app, arguments).exit_code == 0
    bad = runner.invoke(app, [*arguments, "--preset", "nope"])
    assert bad.exit_code == 2
    assert (out / "phase_map.png").is_file()
