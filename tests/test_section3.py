"""Section 3 of the paper end to end: presets, the [analysis] settings, run_section3's
files and records, the 20-round view and the seed sweeps.

Runs are shortened (25 rounds, 3 seeds, one size) to keep this file fast; the counts of
the full sweep are reported by ``singdyn reproduce``, not asserted here.
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from singdyn.experiments.config import (
    AnalysisSettings,
    ConfigError,
    load_preset,
    parse_experiment,
    preset_path,
)
from singdyn.optim import nettrain_schedule
from singdyn.pipeline import capped, run_case
from singdyn.section3 import (
    SECTION3,
    first_rounds,
    run_section3,
    run_validation_case,
    seed_sweep,
)
from singdyn.validation import Criteria

ROUNDS, SEEDS, SIZES = 25, 3, (30,)

RECORD_KEYS = {
    "name",
    "title",
    "paper_claim",
    "paper_figures",
    "start",
    "teacher",
    "rounds",
    "final",
    "final_train_loss",
    "teacher_train_loss",
    "best",
    "last",
    "measures",
    "verdicts",
    "claim",
    "claim_verdict",
    "seed_sweep",
    "size_table",
    "settings",
    "figures",
}


# --------------------------------------------------------------------------------------
# Presets and the [analysis] settings
# --------------------------------------------------------------------------------------


def test_presets_hold_the_papers_settings():
    two, three = (load_preset(name) for name in SECTION3)
    for experiment in (two, three):
        assert experiment.model.bias
        assert experiment.loss.kind == "mse"
        assert experiment.train.validation
        assert experiment.train.trainable == ["a", "b"]
        assert experiment.analysis.early_rounds == 20
    names = two.names  # (a, c, b, v, d, w)
    assert dict(zip(names, two.teacher_flat(), strict=True)) == {
        "a": 0.0, "c": 0.0, "b": 0.0, "v": 3.0, "d": 0.0, "w": 0.5
    }  # fmt: skip
    assert_array_equal(two.start_flat(), [0.2, 0.0, 0.0, 3.0, 0.0, 0.5])
    assert two.train.rounds == 300
    assert two.analysis.kind == "overfitting"
    assert_array_equal(three.start_flat(), [0.2, -18.0, 0.11, 4.88, -4.44, 0.9])
    assert three.train.rounds == 70
    assert three.analysis.kind == "over_generalization"
    # The theta teacher 0.5 tanh(4.8 x) + 0.4 tanh(5 x - 10) in xi coordinates.
    assert_allclose(
        three.teacher_flat(), [0.2, -10.0, 1 / 9, 44 / 9, -40 / 9, 0.9], rtol=1e-14
    )


def _document(name="example3_over_generalization") -> dict:
    return tomllib.loads(preset_path(name).read_text())


BAD_ANALYSIS = [
    ("kind", "underfitting", r"analysis\.kind: .*'overfitting'.*'over_generalization'"),
    ("early_rounds", 0, r"analysis\.early_rounds: accepted: an integer >= 1; got 0"),
    ("rise_margin", -0.1, r"analysis\.rise_margin: accepted: .*\[0, 1\); got -0\.1"),
    ("gap_margin", 1.0, r"analysis\.gap_margin: accepted: .*\[0, 1\); got 1\.0"),
    ("fall_margin", float("inf"), r"analysis\.fall_margin: accepted: .*got inf"),
    ("margin", 0.1, r"analysis\.margin: unknown setting.*early_rounds"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_ANALYSIS)
def test_bad_analysis_settings_are_refused(key, value, message):
    document = _document()
    document["analysis"][key] = value
    with pytest.raises(ConfigError, match=message):
        parse_experiment(document, source="case.toml")


def test_analysis_defaults_are_the_criteria_defaults():
    settings = AnalysisSettings(kind="overfitting").model_dump(exclude={"kind"})
    assert Criteria(**settings) == Criteria()


def test_analysis_needs_a_validation_set():
    document = _document()
    document["train"]["validation"] = False
    with pytest.raises(ConfigError, match=r"analysis: accepted only with train\.valid"):
        parse_experiment(document)


def test_analysis_is_optional_and_kind_is_required():
    document = _document()
    del document["analysis"]
    document["paper_figures"] = []  # without [analysis] it would draw 2, not 7
    assert parse_experiment(document).analysis is None
    document = _document()
    del document["analysis"]["kind"]
    with pytest.raises(ConfigError, match=r"analysis\.kind: missing"):
        parse_experiment(document)


# --------------------------------------------------------------------------------------
# run_section3: files and records
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def section3(tmp_path_factory):
    stage = tmp_path_factory.mktemp("section3")
    steps = []
    records = run_section3(
        stage, max_rounds=ROUNDS, seeds=SEEDS, sizes=SIZES, progress=steps.append
    )
    return stage, records, steps


def test_records_have_the_documented_keys(section3):
    _, records, _ = section3
    assert [r["name"] for r in records] == list(SECTION3)
    for record in records:
        assert set(record) >= RECORD_KEYS
        assert record["rounds"] == ROUNDS
        assert set(record["verdicts"]) == {"overfitting", "over_generalization"}
        assert all(isinstance(v, bool) for v in record["verdicts"].values())
        assert record["claim_verdict"] == record["verdicts"][record["claim"]]
        json.dumps(record)  # plain JSON values only
    assert "early_view" not in records[0]
    view = records[1]["early_view"]
    assert view["rounds"] == 20
    assert 1 <= view["best"]["round"] <= 20


def test_figures_are_written_and_numbered_like_the_papers(section3):
    stage, records, _ = section3
    numbers = []
    for record in records:
        for figure in record["figures"]:
            path = stage / figure
            assert path.parent == stage / record["name"] / "figures"
            assert path.stat().st_size > 10_000
            numbers.append(int(path.name[3:5]))
    assert numbers == list(range(19, 31))


def test_best_and_last_nets_match_the_history_file(section3):
    stage, records, _ = section3
    for record in records:
        with open(stage / record["name"] / "history.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == ROUNDS + 1
        validation = [float(row["validation_loss"]) for row in rows]
        best = record["best"]["round"]
        assert best == 1 + int(np.argmin(validation[1:]))
        assert record["best"]["validation_loss"] == validation[best]
        assert record["validation"]["best_round"] == best
        last = record["last"]
        assert last["round"] == ROUNDS
        assert last["params"] == record["final"]
        assert last["train_loss"] == float(rows[-1]["train_loss"])
        for name, value in record["best"]["params"].items():
            assert value == float(rows[best][name])


def test_frozen_coordinates_stay_exactly_fixed_with_biases(section3):
    """Only a and b train: c, v, d and w keep their float32 start values in all rows."""
    stage, records, _ = section3
    for record in records:
        with open(stage / record["name"] / "history.csv") as handle:
            rows = list(csv.DictReader(handle))
        for name in ("c", "v", "d", "w"):
            assert {row[name] for row in rows} == {rows[0][name]}
            assert float(rows[0][name]) == pytest.approx(record["start"][name], 1e-7)
        assert len({row["a"] for row in rows}) > 1


def test_measures_agree_with_the_verdicts(section3):
    _, records, _ = section3
    for record in records:
        measures = record["measures"]
        assert (
            measures["overfitting"]["overfitting"] == record["verdicts"]["overfitting"]
        )
        general = measures["over_generalization"]
        assert (
            general["over_generalization"]
            == (record["verdicts"]["over_generalization"])
        )
        assert general["window"] == 20
        assert len(general["below_rounds"]) == general["rounds_below"]
        assert len(general["above_rounds"]) == general["rounds_above"]
        if general["first_below_round"] is not None:
            assert general["first_below_round"] == general["below_rounds"][0]
        assert set(measures) == {
            "overfitting",
            "over_generalization",
            "over_generalization_round_loss",
        }


def test_seed_sweep_and_size_table_have_the_documented_shape(section3):
    _, records, _ = section3
    for record in records:
        sweep = record["seed_sweep"]
        assert sweep["seeds"] == SEEDS
        assert sweep["n_train"] == 100  # the presets' size
        for verdict in ("overfitting", "over_generalization"):
            per_seed = sweep["per_seed"][verdict]
            assert len(per_seed) == SEEDS
            assert sweep["positive"][verdict] == sum(per_seed)
        assert 0 <= sweep["positive"]["over_generalization_round_loss"] <= SEEDS
        (row,) = record["size_table"]
        assert row["n_train"] == row["n_test"] == 30
        assert row["seeds"] == SEEDS
        assert 0 <= row["overfitting"] <= SEEDS
        assert 0 <= row["over_generalization"] <= SEEDS


def test_progress_hears_every_step(section3):
    _, _, steps = section3
    for name in SECTION3:
        assert f"{name}: training" in steps
        assert f"{name}: {SEEDS} seeds at 100 training points" in steps
        assert f"{name}: {SEEDS} seeds at 30 training points" in steps
        assert f"{name}: figures" in steps


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(seeds=0), r"seeds and every size must be >= 1.*seeds = 0"),
        (dict(sizes=()), r"sizes = \(\)"),
        (dict(sizes=(30, 0)), r"sizes = \(30, 0\)"),
    ],
)
def test_run_section3_refuses_bad_options(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        run_section3(tmp_path, **options)
    assert list(tmp_path.iterdir()) == []


def test_a_case_without_analysis_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"overlap: needs train\.validation = true"):
        run_validation_case(load_preset("overlap"), tmp_path)


# --------------------------------------------------------------------------------------
# The 20-round view and the sweep's runs
# --------------------------------------------------------------------------------------


def test_the_first_20_rounds_are_the_20_round_run_bit_for_bit():
    """NetTrain draws a run's sample order once, before round 1, and later rounds do
    not change earlier ones: a 70-round run's first 20 rounds are a 20-round run."""
    experiment = load_preset("example3_over_generalization")
    n, batch = experiment.data.n_train, experiment.train.batch_size
    assert_array_equal(
        nettrain_schedule(n, batch, 20, seed=0),
        nettrain_schedule(n, batch, 70, seed=0)[:20],
    )
    long = run_case(experiment).history
    short = run_case(capped(experiment, 20)).history
    view = first_rounds(long, 20)
    assert long.rounds == 70 and view.rounds == short.rounds == 20
    for field in ("params", "round_loss", "train_loss", "validation_loss"):
        assert_array_equal(getattr(view, field), getattr(short, field))
    assert_array_equal(view.best_round, short.best_round)


def test_sweep_seed_0_is_the_cases_own_run():
    """Run 0 of the sweep at the preset's size has the preset's data and sample order.
    It is the same float32 program batched with vmap; XLA may order sums differently
    in a batch, so allow a few float32 steps (2e-6 relative)."""
    experiment = capped(load_preset("example2_overfitting"), 10)
    own = run_case(experiment).history
    sweep = seed_sweep(experiment, n_train=experiment.data.n_train, seeds=2)
    batched = sweep.history.take(0)
    for field in ("params", "train_loss", "validation_loss"):
        assert_allclose(getattr(batched, field), getattr(own, field), rtol=2e-6)
    assert sweep.seeds == 2


def test_first_rounds_keeps_everything_when_asked_for_more(section3):
    experiment = capped(load_preset("example3_over_generalization"), 3)
    history = run_case(experiment).history
    view = first_rounds(history, 20)
    assert view.rounds == 3
    assert_array_equal(view.params, history.params)


def test_outputs_land_only_under_the_stage(section3):
    stage, records, _ = section3
    written = {p.relative_to(stage) for p in Path(stage).rglob("*") if p.is_file()}
    expected = {Path(f) for r in records for f in r["figures"]}
    expected |= {Path(r["name"]) / "history.csv" for r in records}
    assert written == expected
