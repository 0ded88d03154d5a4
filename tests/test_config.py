"""Experiment files: presets, defaults and the errors bad settings raise."""

import copy
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from singdyn.experiments.config import (
    MIN_W,
    ConfigError,
    Experiment,
    check_point,
    load_experiment,
    load_preset,
    parse_experiment,
    preset_names,
    preset_path,
)
from singdyn.network import Theta, theta_to_xi, xi_to_flat

# A small valid document: Example 1's teacher and its "cross elimination" start.
BASE = {
    "name": "probe",
    "teacher": {"xi": {"a": 0.2, "b": 0.0, "v": 0.3, "w": 0.5}},
    "train": {
        "start": {"xi": {"a": 0.15, "b": -1.5, "v": 0.3, "w": 0.5}},
        "rounds": 10,
    },
}

# The paper's section 2.2, Example 1: start (a, b) and rounds of each case.
EXAMPLE1 = {
    "overlap": ((0.15, -1.8), 200),
    "cross_elimination": ((0.15, -1.5), 100),
    "fast_convergence": ((0.05, 0.0), 5),
    "near_elimination": ((0.7, -0.6), 200),
    "output_weight_zero": ((0.7, -0.8), 100),
}


def _document(edit=None):
    document = copy.deepcopy(BASE)
    if edit is not None:
        edit(document)
    return document


# --------------------------------------------------------------------------------------
# Presets and good documents
# --------------------------------------------------------------------------------------


def test_presets_are_shipped():
    assert set(EXAMPLE1) <= set(preset_names())


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads(name):
    experiment = load_preset(name)
    assert isinstance(experiment, Experiment)
    assert experiment.name == name
    p = len(experiment.names)
    assert experiment.teacher_flat().shape == (p,)
    assert experiment.start_flat().shape == (p,)
    assert np.all(np.isfinite(experiment.start_flat()))
    assert set(experiment.train.trainable) <= set(experiment.names)
    # The file on disk reads back the same through load_experiment.
    assert load_experiment(preset_path(name)) == experiment


@pytest.mark.parametrize("name", sorted(EXAMPLE1))
def test_example1_presets_follow_the_spec_table(name):
    (a, b), rounds = EXAMPLE1[name]
    experiment = load_preset(name)
    assert experiment.model.bias is False
    assert experiment.loss.kind == "gaussian_nll"
    assert experiment.optimizer.name == "nettrain_adam"
    assert experiment.optimizer.learning_rate == 0.1
    assert experiment.train.batch_size == 30
    assert experiment.train.rounds == rounds
    assert experiment.train.trainable == ["a", "b"]
    assert experiment.data.noise_std == 0.05
    assert experiment.data.x_range == [-3.0, 3.0]
    assert_array_equal(experiment.teacher_flat(), [0.2, 0.0, 0.3, 0.5])
    assert_array_equal(experiment.start_flat(), [a, b, 0.3, 0.5])


# The paper's section 3 (Examples 2 and 3): biases, MSE, the test set as validation set.
SECTION3 = ("example2_overfitting", "example3_over_generalization")


def test_every_preset_is_example1_or_section3():
    assert set(preset_names()) == set(EXAMPLE1) | set(SECTION3)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_trains_as_the_papers_nettrain(name):
    """NetTrain's settings as the paper's sections 2.1 and 3.1 use them: ADAM with
    learning rate 0.1 and NetTrain's defaults beta1 = 0.9, beta2 = 0.999, eps = 1e-5,
    batches of 30, single precision; the data of sections 2 and 3 (noise sd 0.05,
    x in [-3, 3]); only a and b train. The numbers are read from decimal literals in
    the files, so they equal the same literals here bit for bit."""
    experiment = load_preset(name)
    optimizer = experiment.optimizer
    assert optimizer.name == "nettrain_adam"
    assert optimizer.learning_rate == 0.1
    assert optimizer.beta1 == 0.9
    assert optimizer.beta2 == 0.999
    assert optimizer.eps == 1e-5
    assert experiment.train.batch_size == 30
    assert experiment.train.precision == "float32"
    assert experiment.data.noise_std == 0.05
    assert experiment.data.x_range == [-3.0, 3.0]
    assert experiment.train.trainable == ["a", "b"]
    if name in SECTION3:
        assert experiment.loss.kind == "mse"
        assert experiment.train.validation is True
    else:
        assert experiment.loss.kind == "gaussian_nll"
        assert experiment.loss.variance == 1.0
        assert experiment.train.validation is False


def test_defaults_of_a_minimal_document():
    experiment = parse_experiment(_document())
    assert experiment.names == ("a", "b", "v", "w")
    assert experiment.train.batch_size == 30
    assert experiment.train.trainable == ["a", "b"]
    assert experiment.train.precision == "float32"
    assert experiment.optimizer.eps == 1e-5
    assert experiment.schedule_seed == experiment.data.seed
    assert_array_equal(experiment.start_flat(), [0.15, -1.5, 0.3, 0.5])


def test_start_given_in_theta_is_converted_to_xi():
    theta = {"w11": 4.8, "w21": 0.0, "w12": 5.0, "w22": -10.0, "w31": 0.5, "w32": 0.4}

    def edit(document):
        document["model"] = {"bias": True}
        document["teacher"] = {"theta": theta}
        document["train"]["start"] = {
            "xi": {"a": 0.2, "c": -18.0, "b": 0.11, "v": 4.88, "d": -4.44, "w": 0.9}
        }

    experiment = parse_experiment(_document(edit))
    want = xi_to_flat(
        theta_to_xi(
            Theta(
                u1=np.array([4.8, 0.0]),
                u2=np.array([5.0, -10.0]),
                w31=np.array(0.5),
                w32=np.array(0.4),
            )
        )
    )
    # The same float64 conversion on both sides: bit-identical.
    assert_array_equal(experiment.teacher_flat(), want)
    # Order (a, c, b, v, d, w); b = 1/9 and v = 4.4 / 0.9 to rounding of values <= 10.
    assert_allclose(
        experiment.teacher_flat(),
        [0.2, -10.0, 1 / 9, 4.4 / 0.9, -4.0 / 0.9, 0.9],
        rtol=0,
        atol=1e-14,
    )


def test_integers_are_accepted_for_numbers():
    # TOML distinguishes 0 from 0.0; a float setting takes either.
    def edit(document):
        document["data"] = {"noise_std": 0}
        document["train"]["start"]["xi"]["a"] = 1

    experiment = parse_experiment(_document(edit))
    assert experiment.data.noise_std == 0.0
    assert experiment.start_flat()[0] == 1.0


# --------------------------------------------------------------------------------------
# Bad settings: each message names the setting, what is accepted and what was given
# --------------------------------------------------------------------------------------


def _set(*path, value):
    def edit(document):
        node = document
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return edit


def _drop(*path):
    def edit(document):
        node = document
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


def _sets(*settings):
    """Several settings at once: ``((path, ...), value)`` pairs."""

    def edit(document):
        for path, value in settings:
            _set(*path, value=value)(document)

    return edit


THETA_OPPOSED = {"w11": 1.0, "w12": 2.0, "w31": 0.4, "w32": -0.4}
THETA_HUGE = {"w11": 1.0, "w12": 2.0, "w31": 1e308, "w32": 1e308}
THETA_NEAR_OPPOSED = {"w11": 1.0, "w12": 2.0, "w31": 0.5, "w32": -0.4999999}
THETA_TINY = {"w11": 1.0, "w12": 2.0, "w31": 1e-300, "w32": 1e-300}
# Escape codes, a bell and a NUL: what a terminal or report.html must never receive raw.
CONTROL = "a\u001b[31mred\u0007\u0000x"

BAD = {
    "unknown top-level key": (
        _set("colour", value="red"),
        ["colour: unknown setting", "accepted keys here: [", "'train'", "'red'"],
    ),
    "unknown nested key": (
        _set("data", "nosie_std", value=0.1),
        ["data.nosie_std: unknown setting", "'noise_std'", "got 0.1"],
    ),
    "unknown key in a point": (
        _set("train", "start", "foo", value=1),
        ["train.start.foo: unknown setting", "['xi', 'theta']", "got 1"],
    ),
    "string for n_train": (
        _set("data", "n_train", value="100"),
        ["data.n_train", "valid integer", "got '100'"],
    ),
    "negative noise": (
        _set("data", "noise_std", value=-0.1),
        ["data.noise_std", "a finite number <= 1e6 and >= 0", "got -0.1"],
    ),
    "batch size 0": (
        _set("train", "batch_size", value=0),
        ["train.batch_size", "an integer <= 10,000,000 and >= 1", "got 0"],
    ),
    "rounds 0": (
        _set("train", "rounds", value=0),
        ["train.rounds", "an integer <= 100,000 and >= 1", "got 0"],
    ),
    "trainable not a coordinate": (
        _set("train", "trainable", value=["a", "q"]),
        ["train.trainable", "['a', 'b', 'v', 'w']", "got ['a', 'q']"],
    ),
    "start with xi w = 0": (
        _set("train", "start", "xi", "w", value=0.0),
        ["train.start.xi.w", "must be non-zero", "got 0"],
    ),
    "start in theta with w31 + w32 = 0": (
        _set("train", "start", value={"theta": THETA_OPPOSED}),
        ["train.start.theta", "w31 + w32 must be non-zero", "w31 = 0.4, w32 = -0.4"],
    ),
    "both xi and theta": (
        _set("train", "start", "theta", value=THETA_OPPOSED),
        ["train.start", "exactly one of 'xi' or 'theta'", "got both"],
    ),
    "neither xi nor theta": (
        _set("train", "start", value={}),
        ["train.start", "exactly one of 'xi' or 'theta'", "got neither"],
    ),
    "missing coordinate": (
        _drop("train", "start", "xi", "v"),
        ["train.start.xi", "missing coordinate 'v'", "['a', 'b', 'v', 'w']"],
    ),
    "unknown coordinate": (
        _set("teacher", "xi", "z", value=1.0),
        ["teacher.xi", "unknown coordinate 'z'", "['a', 'b', 'v', 'w']"],
    ),
    "non-finite start": (
        _set("train", "start", "xi", "a", value=float("nan")),
        ["train.start.xi.a", "a finite number", "got nan"],
    ),
    "non-finite teacher": (
        _set("teacher", "xi", "b", value=float("inf")),
        ["teacher.xi.b", "a finite number", "got inf"],
    ),
    "infinite noise": (
        _set("data", "noise_std", value=float("inf")),
        ["data.noise_std", "a finite number <= 1e6 and >= 0", "got inf"],
    ),
    "missing section": (_drop("train"), ["train: missing", "required"]),
    "bad loss kind": (
        _set("loss", "kind", value="l1"),
        ["loss.kind", "'gaussian_nll' or 'mse'", "got 'l1'"],
    ),
    "bad optimizer": (
        _set("optimizer", "name", value="rmsprop"),
        ["optimizer.name", "'nettrain_adam', 'adam' or 'sgd'", "got 'rmsprop'"],
    ),
    "beta1 of 1": (
        _set("optimizer", "beta1", value=1.0),
        ["optimizer.beta1", "in [0, 1)", "got 1.0"],
    ),
    "empty interval": (
        _set("data", "x_range", value=[3.0, -3.0]),
        ["data.x_range", "low < high", "got [3.0, -3.0]"],
    ),
    "bias switched on without c and d": (
        _set("model", "bias", value=True),
        ["teacher.xi", "missing coordinate 'c'", "['a', 'c', 'b', 'v', 'd', 'w']"],
    ),
    "bad resolution": (
        _set("surface", "resolution", value=1),
        ["surface.resolution", "an integer <= 1,001 and >= 2", "got 1"],
    ),
    # ---- seeds: numpy takes no negative seed; TOML's integers end at 2**63 - 1
    "data seed -1": (
        _set("data", "seed", value=-1),
        ["data.seed", "an integer <= 9,223,372,036,854,775,807 (2**63 - 1)", "got -1"],
    ),
    "train seed -5": (
        _set("train", "seed", value=-5),
        ["train.seed", "an integer <= 9,223,372,036,854,775,807", ">= 0; got -5"],
    ),
    "data seed 2**63": (
        _set("data", "seed", value=2**63),
        ["data.seed", "(2**63 - 1) and >= 0", "got 9223372036854775808"],
    ),
    # ---- sizes that would not fit in memory or would run for ever
    "n_train 10**14": (
        _set("data", "n_train", value=10**14),
        ["data.n_train", "an integer <= 10,000,000 and >= 1", "got 100000000000000"],
    ),
    "n_test 10**8": (
        _set("data", "n_test", value=10**8),
        ["data.n_test", "an integer <= 10,000,000 and >= 1", "got 100000000"],
    ),
    "rounds 10**20": (
        _set("train", "rounds", value=10**20),
        ["train.rounds", "an integer <= 100,000 and >= 1", "got 100000000000000000000"],
    ),
    "batch size 10**8": (
        _set("train", "batch_size", value=10**8),
        ["train.batch_size", "an integer <= 10,000,000 and >= 1", "got 100000000"],
    ),
    "rounds times n_train": (
        _sets((("data", "n_train"), 1_000_000), (("train", "rounds"), 1000)),
        [
            "train.rounds",
            "train.rounds * data.n_train <= 100,000,000",
            "got 1000 * 1000000 = 1,000,000,000",
        ],
    ),
    "rounds times n_test with validation": (
        _sets(
            (("data", "n_test"), 2_000_000),
            (("train", "rounds"), 100),
            (("train", "validation"), True),
            (("surface", "resolution"), 2),
        ),
        [
            "train.rounds",
            "train.rounds * data.n_test <= 100,000,000 with train.validation = true",
            "got 100 * 2000000 = 200,000,000",
        ],
    ),
    "surface over a large data set": (
        _set("data", "n_train", value=1_000_000),
        [
            "surface.resolution",
            "surface.resolution**2 * max(data.n_train, data.n_test) <= 1,000,000,000",
            "got 81**2 * 1000000 = 6,561,000,000",
        ],
    ),
    "noise 1e300": (
        _set("data", "noise_std", value=1e300),
        ["data.noise_std", "a finite number <= 1e6 and >= 0", "got 1e+300"],
    ),
    "variance 1e300": (
        _set("loss", "variance", value=1e300),
        ["loss.variance", "a finite number <= 1e6 and >= 1e-6", "got 1e+300"],
    ),
    # ---- intervals: finite, within +-1e6, at least 1e-3 wide; the value as repr
    "x_range overflowing": (
        _set("data", "x_range", value=[-1e308, 1e308]),
        ["data.x_range", "from -1e6 to 1e6", "got [-1e+308, 1e+308]"],
    ),
    "x_range of one subnormal": (
        _set("data", "x_range", value=[0.0, 5e-324]),
        ["data.x_range", "high - low >= 0.001", "got [0.0, 5e-324]"],
    ),
    "x_range starting at nan": (
        _set("data", "x_range", value=[float("nan"), 3.0]),
        ["data.x_range", "low and high finite", "got [nan, 3.0]"],
    ),
    "a_range infinite": (
        _set("surface", "a_range", value=[float("-inf"), 1.0]),
        ["surface.a_range", "low and high finite", "got [-inf, 1.0]"],
    ),
    "b_range too narrow": (
        _set("surface", "b_range", value=[-1.0, -0.9999]),
        ["surface.b_range", "high - low >= 0.001", "got [-1.0, -0.9999]"],
    ),
    # ---- points whose other coordinates overflow or are out of range
    "teacher in theta with w31 = w32 = 1e308": (
        _set("teacher", value={"theta": THETA_HUGE}),
        ["teacher.theta.w31", "a finite number <= 1e6 and >= -1e6", "got 1e+308"],
    ),
    "start in theta with w31 + w32 near 0": (
        _set("train", "start", value={"theta": THETA_NEAR_OPPOSED}),
        [
            "train.start.theta",
            "xi and theta coordinates are all finite, <= 1e6 and >= -1e6",
            "got theta = {'w11': 1.0, 'w12': 2.0, 'w31': 0.5, 'w32': -0.4999999}",
            "whose xi b = 99999",
        ],
    ),
    "start in xi whose theta is out of range": (
        _set("train", "start", "xi", value={"a": 1e6, "b": 1e6, "v": 0.3, "w": 0.5}),
        ["train.start.xi", "xi and theta coordinates", "whose theta w11 = 4999995"],
    ),
    "start in xi overflowing theta": (
        _set("train", "start", "xi", "a", value=1e200),
        ["train.start.xi.a", "a finite number <= 1e6 and >= -1e6", "got 1e+200"],
    ),
    # ---- w = w31 + w32 scales the output: a tiny one vanishes in float32
    "teacher with xi w = 1e-300": (
        _set("teacher", "xi", "w", value=1e-300),
        [
            "teacher.xi.w",
            "accepted: |w| >= 1e-6 (w = w31 + w32 scales the output; below 1e-6 it "
            "vanishes in float32",
            "got 1e-300",
        ],
    ),
    "start with xi w = -1e-7": (
        _set("train", "start", "xi", "w", value=-1e-7),
        ["train.start.xi.w", "accepted: |w| >= 1e-6", "got -1e-07"],
    ),
    "start with xi w just below 1e-6": (
        _set("train", "start", "xi", "w", value=9.999999e-7),
        ["train.start.xi.w", "accepted: |w| >= 1e-6", "got 9.999999e-07"],
    ),
    "teacher in theta with w31 = w32 = 1e-300": (
        _set("teacher", value={"theta": THETA_TINY}),
        [
            "teacher.theta",
            "accepted: |w31 + w32| >= 1e-6 (w = w31 + w32 scales the output; below "
            "1e-6 it vanishes in float32",
            "got w31 = 1e-300, w32 = 1e-300 (w = 2e-300)",
        ],
    ),
    "start in theta with w31 = w32 = 1e-300": (
        _set("train", "start", value={"theta": THETA_TINY}),
        ["train.start.theta", "|w31 + w32| >= 1e-6", "(w = 2e-300)"],
    ),
    # ---- one-line texts: no control character reaches report.html or a terminal
    "name with control characters": (
        _set("name", value=CONTROL),
        [
            "name",
            "accepted: text without control characters",
            "got '\\x1b' at position 1",
        ],
    ),
    "title with control characters": (
        _set("title", value=CONTROL),
        [
            "title",
            "accepted: text without control characters",
            "got '\\x1b' at position 1",
        ],
    ),
    "paper_claim with control characters": (
        _set("paper_claim", value=CONTROL),
        [
            "paper_claim",
            "accepted: text without control characters",
            "got '\\x1b' at position 1",
        ],
    ),
    "title with a newline": (
        _set("title", value="Cross\nelimination"),
        ["title", "without control characters", "got '\\n' at position 5"],
    ),
    "paper_claim with a newline": (
        _set("paper_claim", value="One sentence.\nAnd another."),
        ["paper_claim", "without control characters", "got '\\n' at position 13"],
    ),
    "title with a tab": (
        _set("title", value="a\tb"),
        ["title", "without control characters", "got '\\t' at position 1"],
    ),
    "title with DEL": (
        _set("title", value="ab\x7f"),
        ["title", "without control characters", "got '\\x7f' at position 2"],
    ),
    "paper_claim with a C1 control (NEL)": (
        _set("paper_claim", value="x\x85"),
        ["paper_claim", "without control characters", "got '\\x85' at position 1"],
    ),
    # ---- the name is a folder name
    "name of 300 characters": (
        _set("name", value="a" * 300),
        ["name", "at most 64 letters, digits, '_' and '-'", "(300 characters)"],
    ),
    # ---- settings that contradict each other or mean nothing
    "variance given with mse": (
        _set("loss", value={"kind": "mse", "variance": 2.0}),
        [
            "loss.variance",
            "accepted only with loss.kind = 'gaussian_nll'",
            "got variance = 2.0 with kind = 'mse'",
        ],
    ),
    "variance 1 given with mse": (
        _set("loss", value={"kind": "mse", "variance": 1.0}),
        ["loss.variance", "leave it out", "got variance = 1.0 with kind = 'mse'"],
    ),
    "beta1 given with sgd": (
        _set("optimizer", value={"name": "sgd", "beta1": 0.9}),
        [
            "optimizer.beta1",
            "accepted only with optimizer.name = 'nettrain_adam' or 'adam'",
            "got beta1 = 0.9 with name = 'sgd'",
        ],
    ),
    "eps given with sgd": (
        _set("optimizer", value={"name": "sgd", "eps": 1e-8}),
        ["optimizer.eps", "sgd has no beta1, beta2 or eps", "got eps = 1e-08"],
    ),
    "trainable twice": (
        _set("train", "trainable", value=["a", "a"]),
        ["train.trainable", "distinct names", "got ['a', 'a'] ('a' 2 times)"],
    ),
    "batch larger than the training set": (
        _sets((("data", "n_train"), 20), (("train", "batch_size"), 30)),
        [
            "train.batch_size",
            "an integer from 1 to data.n_train = 20",
            "got 30",
        ],
    ),
    "eps 0": (
        _set("optimizer", "eps", value=0.0),
        ["optimizer.eps", "a finite number > 0", "got 0.0"],
    ),
    "one figure number for two figures": (
        _set("paper_figures", value=[5]),
        [
            "paper_figures",
            "[] or 2 distinct figure numbers >= 1",
            "a case without [analysis] draws 2: parameters, loss",
            "got [5]",
        ],
    ),
    "three figure numbers for two figures": (
        _set("paper_figures", value=[5, 6, 7]),
        ["paper_figures", "2 distinct figure numbers", "got [5, 6, 7]"],
    ),
    "a figure number twice": (
        _set("paper_figures", value=[5, 5]),
        ["paper_figures", "2 distinct figure numbers >= 1", "got [5, 5]"],
    ),
    "figure number 0": (
        _set("paper_figures", value=[0, 6]),
        ["paper_figures", "2 distinct figure numbers >= 1", "got [0, 6]"],
    ),
    "two figure numbers for an overfitting case": (
        _sets(
            (("paper_figures",), [19, 20]),
            (("train", "validation"), True),
            (("analysis", "kind"), "overfitting"),
        ),
        [
            "paper_figures",
            "[] or 5 distinct figure numbers >= 1",
            "analysis.kind = 'overfitting' draws 5: data, losses, losses_fit,",
            "got [19, 20]",
        ],
    ),
    "five figure numbers for an over-generalization case": (
        _sets(
            (("paper_figures",), [24, 25, 26, 27, 28]),
            (("train", "validation"), True),
            (("analysis", "kind"), "over_generalization"),
        ),
        ["paper_figures", "[] or 7 distinct", "got [24, 25, 26, 27, 28]"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_setting_raises_a_config_error_naming_it(case):
    edit, parts = BAD[case]
    # The message starts with the source and the setting's dotted name; the accepted
    # values and the value given follow in the setting's own words.
    with pytest.raises(
        ConfigError, match=rf"^probe\.toml: {re.escape(parts[0])}"
    ) as info:
        parse_experiment(_document(edit), source="probe.toml")
    for part in parts[1:]:
        assert part in str(info.value)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_the_largest_seed_and_sizes_are_accepted():
    def edit(document):
        document["data"] = {"seed": 2**63 - 1, "n_train": 10_000_000, "n_test": 1}
        document["train"].update(seed=0, rounds=10, batch_size=10_000_000)
        document["surface"] = {"resolution": 10}

    experiment = parse_experiment(_document(edit))
    assert experiment.data.seed == 2**63 - 1
    assert experiment.schedule_seed == 0


def test_the_widest_and_narrowest_intervals_are_accepted():
    def edit(document):
        document["data"] = {"x_range": [-1e6, 1e6]}
        document["surface"] = {"a_range": [0.5, 0.501], "b_range": [-1e6, -999999.999]}

    experiment = parse_experiment(_document(edit))
    assert experiment.data.x_range == [-1e6, 1e6]


def test_adam_settings_and_variance_where_they_apply():
    # sgd without the ADAM settings, mse without a variance: accepted as before.
    def edit(document):
        document["optimizer"] = {"name": "sgd", "learning_rate": 0.01}
        document["loss"] = {"kind": "mse"}

    experiment = parse_experiment(_document(edit))
    assert experiment.optimizer.name == "sgd"
    assert experiment.loss.kind == "mse"
    # And optax's ADAM takes them.
    document = _document(
        _set("optimizer", value={"name": "adam", "beta1": 0.8, "eps": 1e-8})
    )
    assert parse_experiment(document).optimizer.eps == 1e-8


def test_w_of_magnitude_1e_minus_6_is_accepted():
    # The bound is inclusive, on |w|, in xi and in theta (w31 + w32 = 1e-6 exactly).
    assert MIN_W == 1e-6

    def edit(document):
        document["teacher"]["xi"]["w"] = 1e-6
        document["train"]["start"]["xi"]["w"] = -1e-6

    experiment = parse_experiment(_document(edit))
    assert experiment.teacher_flat()[-1] == 1e-6
    assert experiment.start_flat()[-1] == -1e-6
    theta = {"w11": 1.0, "w12": 2.0, "w31": 5e-7, "w32": 5e-7}
    experiment = parse_experiment(_document(_set("teacher", value={"theta": theta})))
    assert experiment.teacher_flat()[-1] == 1e-6


def test_one_line_texts_in_any_script_are_accepted():
    # Only control characters are refused: letters of any script, symbols, spaces
    # (also no-break ones) and punctuation pass unchanged.
    def edit(document):
        document["name"] = "caf\u00e9_\u03be-2"
        document["title"] = "\u00dcber \u03be \u2192 0:\u00a0cross elimination \u2713"
        document["paper_claim"] = (
            "The path crosses R0 (a = 0) at \u03c4 \u2248 1; see Fig. 5."
        )

    experiment = parse_experiment(_document(edit))
    assert experiment.name == "caf\u00e9_\u03be-2"
    assert experiment.title.startswith("\u00dcber")
    assert experiment.paper_claim.endswith("Fig. 5.")


def test_batch_as_large_as_the_training_set_is_accepted():
    document = _document(
        _sets((("data", "n_train"), 30), (("train", "batch_size"), 30))
    )
    assert parse_experiment(document).train.batch_size == 30


def test_early_rounds_beyond_rounds_are_accepted():
    # Documented: the early window is cut at the last round.
    def edit(document):
        document["train"]["validation"] = True
        document["analysis"] = {"kind": "over_generalization", "early_rounds": 50}

    experiment = parse_experiment(_document(edit))
    assert experiment.analysis.early_rounds == 50 > experiment.train.rounds


def test_figure_counts_are_those_the_code_draws():
    from singdyn.experiments.config import FIGURES_DRAWN

    assert FIGURES_DRAWN[None] == ("parameters", "loss")  # pipeline.write_case
    for name in preset_names():
        experiment = load_preset(name)
        kind = experiment.analysis.kind if experiment.analysis else None
        assert len(experiment.paper_figures) == len(FIGURES_DRAWN[kind])


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


GOOD_TOML = """
name = "probe"
[teacher]
xi = { a = 0.2, b = 0.0, v = 0.3, w = 0.5 }
[train]
start = { xi = { a = 0.15, b = -1.5, v = 0.3, w = 0.5 } }
rounds = 10
"""


def test_load_a_file(tmp_path):
    path = tmp_path / "probe.toml"
    path.write_text(GOOD_TOML, encoding="utf-8")
    assert load_experiment(path) == parse_experiment(_document())


def test_bad_setting_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "probe.toml"
    path.write_text(GOOD_TOML.replace("rounds = 10", "rounds = 0"), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: train\.rounds"):
        load_experiment(path)


def test_bad_toml_raises(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "probe"\n[train\nrounds = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML \("):
        load_experiment(path)


def test_a_file_that_is_not_utf8_raises(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(GOOD_TOML.replace("probe", "caf\u00e9").encode("latin-1"))
    with pytest.raises(
        ConfigError,
        match=rf"^{re.escape(str(path))}: not UTF-8 text \(byte 0xe9 at offset \d+\)",
    ):
        load_experiment(path)


def test_a_file_too_large_for_an_experiment_raises(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text(GOOD_TOML + "#" * 2_000_000 + "\n", encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=rf"^{re.escape(str(path))}: accepted: an experiment file of at most "
        r"1,000,000 bytes; got more",
    ):
        load_experiment(path)


def test_the_readme_example_loads(tmp_path):
    # The example in README.md, "Running your own experiment", as printed there.
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running your own experiment", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "my_experiment.toml"
    path.write_text(block, encoding="utf-8")
    experiment = load_experiment(path)
    assert experiment.name == "my_case"
    assert experiment.paper_figures == [5, 6]


def test_a_file_with_a_byte_order_mark_loads(tmp_path):
    # Some editors start UTF-8 files with the byte-order mark EF BB BF.
    path = tmp_path / "probe.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_TOML.encode("utf-8"))
    assert load_experiment(path) == parse_experiment(_document())


def test_a_bad_byte_after_a_byte_order_mark_is_placed_in_the_file(tmp_path):
    # The offset counts the mark's three bytes: it is where the byte is in the file.
    path = tmp_path / "latin1.toml"
    raw = b"\xef\xbb\xbf" + GOOD_TOML.replace("probe", "caf\u00e9").encode("latin-1")
    path.write_bytes(raw)
    with pytest.raises(
        ConfigError,
        match=rf"^{re.escape(str(path))}: not UTF-8 text \(byte 0xe9 at offset "
        rf"{raw.index(0xE9)}\)",
    ):
        load_experiment(path)


def test_missing_file_raises(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(
        ConfigError, match=r"absent\.toml: cannot read the experiment file"
    ):
        load_experiment(path)


def test_unknown_preset_raises():
    with pytest.raises(ConfigError, match=r"preset: accepted: one of \[.*'overlap'.*"):
        preset_path("nonexistent")
    with pytest.raises(ConfigError, match=r"got 'nonexistent'"):
        load_preset("nonexistent")


# --------------------------------------------------------------------------------------
# check_point: the point checks, for points that come from elsewhere (the command line)
# --------------------------------------------------------------------------------------


def test_check_point_returns_the_flat_xi_vector():
    flat = check_point(
        {"w": 0.5, "v": 0.3, "b": 0.0, "a": 0.2}, bias=False, setting="--teacher"
    )
    assert flat.dtype == np.float64
    assert_array_equal(flat, [0.2, 0.0, 0.3, 0.5])
    theta = {"w11": 1.0, "w12": 2.0, "w31": 0.5, "w32": 0.4}
    flat = check_point(theta, bias=False, setting="teacher.theta", form="theta")
    # v = (w31 u1 + w32 u2) / w = (0.5 + 0.8) / 0.9.
    assert_allclose(flat, [1.0, 0.1 / 0.9, 1.3 / 0.9, 0.9], rtol=1e-15)


XI = {"a": 0.2, "b": 0.0, "v": 0.3, "w": 0.5}

CHECK_POINT_BAD = {
    "w = 1e-300": (
        {**XI, "w": 1e-300},
        [
            "--teacher.w: accepted: |w| >= 1e-6 (w = w31 + w32 scales the output; "
            "below 1e-6 it vanishes in float32",
            "got 1e-300",
        ],
    ),
    "w = -5e-7": (
        {**XI, "w": -5e-7},
        ["--teacher.w: accepted: |w| >= 1e-6", "got -5e-07"],
    ),
    "w = 0": (
        {**XI, "w": 0.0},
        ["--teacher.w: w = w31 + w32 must be non-zero", "got 0"],
    ),
    "nan": (
        {**XI, "a": float("nan")},
        ["--teacher.a: accepted: a finite number <= 1e6 and >= -1e6", "got nan"],
    ),
    "infinity": (
        {**XI, "v": float("-inf")},
        ["--teacher.v: accepted: a finite number", "got -inf"],
    ),
    "beyond 1e6": (
        {**XI, "b": 2e6},
        ["--teacher.b: accepted: a finite number <= 1e6 and >= -1e6", "got 2000000.0"],
    ),
    "theta out of range": (
        {"a": 1e6, "b": 1e6, "v": 0.3, "w": 0.5},
        [
            "--teacher: accepted: a point whose xi and theta coordinates are all "
            "finite, <= 1e6 and >= -1e6",
            "whose theta w11 = 4999995",
        ],
    ),
    "theta w31 beyond 1e6": (
        {"a": 0.0, "b": 2.0, "v": 0.3, "w": 1e6},
        [
            "--teacher: accepted: a point whose xi and theta",
            "whose theta w31 = 1500000.0",
        ],
    ),
    "missing coordinate": (
        {"a": 0.2, "b": 0.0, "w": 0.5},
        ["--teacher: missing coordinate 'v'", "['a', 'b', 'v', 'w']"],
    ),
    "unknown coordinate": (
        {**XI, "c": 1.0},
        ["--teacher: unknown coordinate 'c'", "accepted: ['a', 'b', 'v', 'w']"],
    ),
    "not a number": (
        {**XI, "a": "0.2"},
        ["--teacher.a: accepted: a finite number", "got '0.2'"],
    ),
}


@pytest.mark.parametrize("case", sorted(CHECK_POINT_BAD))
def test_check_point_refuses_what_a_file_refuses(case):
    values, parts = CHECK_POINT_BAD[case]
    with pytest.raises(ConfigError, match=rf"^{re.escape(parts[0])}") as info:
        check_point(values, bias=False, setting="--teacher")
    for part in parts[1:]:
        assert part in str(info.value)


def test_check_point_with_biases_and_in_theta():
    with pytest.raises(ConfigError, match=r"^t\.xi: missing coordinate 'c'"):
        check_point(XI, bias=True, setting="t.xi")
    with pytest.raises(
        ConfigError,
        match=r"^teacher\.theta: accepted: \|w31 \+ w32\| >= 1e-6 .* got w31 = "
        r"1e-300, w32 = 1e-300 \(w = 2e-300\)$",
    ):
        check_point(THETA_TINY, bias=False, setting="teacher.theta", form="theta")


def test_check_point_is_the_check_of_a_file():
    # The same message, after the setting, from a file and from check_point.
    document = _document(_set("teacher", "xi", "w", value=1e-300))
    with pytest.raises(ConfigError) as from_file:
        parse_experiment(document, source="probe.toml")
    with pytest.raises(ConfigError) as direct:
        check_point({**XI, "w": 1e-300}, bias=False, setting="teacher.xi")
    assert str(from_file.value) == f"probe.toml: {direct.value}"
