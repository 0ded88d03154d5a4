"""Experiment files: the TOML format, its validation and the shipped presets.

An experiment file names a teacher, the data drawn from it, the loss, a start point,
the trainable coordinates and the optimizer. Every setting is checked here, before any
work, and a bad one fails with :class:`ConfigError` naming the setting, the accepted
values and the value given. The paper's experiments ship as presets in ``presets/``.

The upper bounds keep one run within a workstation (measured on 2 cores and 23 GB):

- sizes: ``n_train`` and ``n_test`` at most :data:`MAX_SAMPLES`, ``rounds`` at most
  :data:`MAX_ROUNDS` (a run keeps about 15 kB per round: 100,000 rounds of 100 points
  took 1.8 GB and 40 s), and ``rounds * n_train`` (with a validation set also
  ``rounds * n_test``) at most :data:`MAX_VISITS` (100,000 points for 1,000 rounds
  took 3 minutes);
- the two loss surfaces evaluate ``resolution**2 * n`` losses each, at most
  :data:`MAX_SURFACE_LOSSES` (81**2 * 100,000 took 2 GB and 16 s; 201**2 * 100,000
  took 13 GB and 3 minutes);
- real numbers (interval ends, the noise, the variance, every coordinate of the
  teacher and of the start, in xi and in theta) lie within :data:`MAX_MAGNITUDE`:
  beyond it the losses overflow float32, or the data, the noise or the variance
  swamp the network's part of the loss so that the surfaces come out flat;
- an interval is at least :data:`MIN_WIDTH` wide: on ``x_range = [0, 1e-5]`` the
  network is linear in x to float64 precision (f = w v x + O(x**3)), a and b drop
  out of the loss and its surface is flat;
- the output weight ``w = w31 + w32`` of the teacher and of the start is at least
  :data:`MIN_W` in magnitude: it scales the network's output, and a smaller one
  vanishes in float32 (``w = 1e-300`` is 0 there: the path never moves, and
  ``singdyn theory`` fails on a nan).

:func:`check_point` applies the checks of a point to coordinates from elsewhere, such
as the command line's ``--teacher``. The texts ``name``, ``title`` and ``paper_claim``
are one line each and hold no control character: they reach report.html, figure
titles and the terminal as given.
"""

from __future__ import annotations

import codecs
import math
import tomllib
import unicodedata
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from singdyn.network import (
    Theta,
    coordinate_names,
    theta_names,
    theta_to_flat,
    theta_to_xi,
    unit_size,
    xi_from_flat,
    xi_to_flat,
    xi_to_theta,
)

__all__ = [
    "FIGURES_DRAWN",
    "MAX_FILE_BYTES",
    "MAX_MAGNITUDE",
    "MAX_NAME_LENGTH",
    "MAX_RESOLUTION",
    "MAX_ROUNDS",
    "MAX_SAMPLES",
    "MAX_SEED",
    "MAX_SURFACE_LOSSES",
    "MAX_VISITS",
    "MIN_W",
    "MIN_WIDTH",
    "ConfigError",
    "Experiment",
    "check_point",
    "load_experiment",
    "parse_experiment",
    "preset_names",
    "load_preset",
    "preset_path",
]


MAX_SAMPLES = 10_000_000
"""Most points in the training set (``data.n_train``) and in the test set."""
MAX_ROUNDS = 100_000
"""Most rounds of one run (``train.rounds``)."""
MAX_VISITS = 100_000_000
"""Most ``rounds * n_train`` of one run, and ``rounds * n_test`` with validation."""
MAX_RESOLUTION = 1001
"""Most grid points along each axis of a loss surface."""
MAX_SURFACE_LOSSES = 1_000_000_000
"""Most ``resolution**2 * max(n_train, n_test)``: losses one surface evaluates."""
MAX_MAGNITUDE = 1e6
"""Largest magnitude of a real setting: interval ends, noise, variance, coordinates."""
MIN_WIDTH = 1e-3
"""Least width ``high - low`` of an interval."""
MIN_W = 1e-6
"""Least |w| of a point (teacher, start): its output weight ``w = w31 + w32``."""
MAX_SEED = 2**63 - 1
"""Largest seed: TOML's largest integer (numpy takes no negative seed)."""
MAX_NAME_LENGTH = 64
"""Longest experiment name (it names the run's folder)."""
MAX_FILE_BYTES = 1_000_000
"""Largest experiment file; one is a few kB."""

FIGURES_DRAWN: dict[str | None, tuple[str, ...]] = {
    None: ("parameters", "loss"),
    "overfitting": ("data", "losses", "losses_fit", "parameters", "surfaces"),
    "over_generalization": (
        "data",
        "losses",
        "losses_together",
        "before_after",
        "parameters",
        "losses_fit",
        "surfaces",
    ),
}
"""The figures a run draws, in the order ``paper_figures`` numbers them: a case
without ``[analysis]`` (:func:`singdyn.pipeline.write_case`) and each kind of
section-3 case (:func:`singdyn.section3.run_section3`)."""


def _accepts(accepted: str, test, note: str = "") -> AfterValidator:
    """A check that fails with ``accepted: <accepted>; got <value><note>``."""

    def check(value):
        if not test(value):
            raise ValueError(f"accepted: {accepted}; got {value!r}{note}")
        return value

    return AfterValidator(check)


def _finite(value) -> bool:
    return math.isfinite(value)


def _integer(low: int, high: int, note: str = "") -> AfterValidator:
    """An integer in ``[low, high]``."""
    return _accepts(
        f"an integer <= {high:,}{note} and >= {low}", lambda v: low <= v <= high
    )


def _real(low: float, high: float, low_text: str, high_text: str) -> AfterValidator:
    """A finite number in ``[low, high]``."""
    return _accepts(
        f"a finite number <= {high_text} and >= {low_text}",
        lambda v: _finite(v) and low <= v <= high,
    )


def _interval(value: list[float]) -> bool:
    low, high = value
    return (
        _finite(low)
        and _finite(high)
        and -MAX_MAGNITUDE <= low < high <= MAX_MAGNITUDE
        and high - low >= MIN_WIDTH
    )


Count = Annotated[int, _accepts("an integer >= 1", lambda v: v >= 1)]
"""A number of things: at least 1."""
Samples = Annotated[int, _integer(1, MAX_SAMPLES)]
Seed = Annotated[int, _integer(0, MAX_SEED, " (2**63 - 1)")]
NoiseStd = Annotated[float, _real(0.0, MAX_MAGNITUDE, "0", "1e6")]
Variance = Annotated[float, _real(1e-6, MAX_MAGNITUDE, "1e-6", "1e6")]
Positive = Annotated[
    float, _accepts("a finite number > 0", lambda v: _finite(v) and v > 0)
]
Fraction = Annotated[
    float, _accepts("a number in [0, 1)", lambda v: _finite(v) and 0 <= v < 1)
]
Pair = Annotated[
    list[float],
    Field(min_length=2, max_length=2),
    _accepts(
        "[low, high] with low < high",
        _interval,
        " (low and high finite, from -1e6 to 1e6, high - low >= 0.001)",
    ),
]
"""An interval ``[low, high]`` (TOML arrays are lists): finite ends within
:data:`MAX_MAGNITUDE`, at least :data:`MIN_WIDTH` apart."""


class ConfigError(ValueError):
    """A setting of an experiment file is missing, unknown or out of range."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ModelSettings(_Section):
    bias: bool = False
    """Whether the hidden units have biases (the paper's section 3) or not."""


class PointSettings(_Section):
    """A point of parameter space, in xi coordinates or in theta coordinates."""

    xi: dict[str, float] | None = None
    theta: dict[str, float] | None = None


class DataSettings(_Section):
    n_train: Samples = 100
    n_test: Samples = 100
    noise_std: NoiseStd = 0.05
    x_range: Pair = [-3.0, 3.0]
    seed: Seed = 0


class LossSettings(_Section):
    kind: Literal["gaussian_nll", "mse"] = "gaussian_nll"
    variance: Variance = 1.0
    """The Gaussian's variance: ``gaussian_nll`` only, refused with ``mse``."""


ADAM_ONLY = ("beta1", "beta2", "eps")
"""Optimizer settings of the two ADAMs, refused with ``sgd``."""


class OptimizerSettings(_Section):
    name: Literal["nettrain_adam", "adam", "sgd"] = "nettrain_adam"
    learning_rate: Positive = 0.1
    beta1: Fraction = 0.9
    beta2: Fraction = 0.999
    eps: Positive = 1e-5
    """Above 0: ADAM divides by ``sqrt(v) + eps``, and v is 0 where no gradient was."""


class TrainSettings(_Section):
    start: PointSettings
    trainable: list[str] = ["a", "b"]
    rounds: Annotated[int, _integer(1, MAX_ROUNDS)]
    batch_size: Samples = 30
    """At most ``data.n_train``."""
    validation: bool = False
    precision: Literal["float32", "float64"] = "float32"
    seed: Seed | None = None
    """Seed of the batch permutation; the data seed when not given."""


class SurfaceSettings(_Section):
    a_range: Pair = [-1.0, 1.0]
    b_range: Pair = [-2.5, 2.5]
    resolution: Annotated[int, _integer(2, MAX_RESOLUTION)] = 81


class AnalysisSettings(_Section):
    """What a section-3 case is about and the thresholds of its verdicts (see
    :class:`singdyn.validation.Criteria`, whose defaults these are)."""

    kind: Literal["overfitting", "over_generalization"]
    early_rounds: Count = 20
    rise_margin: Fraction = 1e-3
    fall_margin: Fraction = 1e-5
    gap_margin: Fraction = 0.01


class Experiment(_Section):
    """One experiment: a teacher, its data, a loss, a start point and how to train.

    Build it with :func:`load_experiment` or :func:`parse_experiment`, which check the
    settings that depend on each other (coordinate names, the start's w31 + w32).
    """

    name: str
    title: str = ""
    paper_claim: str = ""
    paper_figures: list[int] = []
    model: ModelSettings = ModelSettings()
    teacher: PointSettings
    data: DataSettings = DataSettings()
    loss: LossSettings = LossSettings()
    optimizer: OptimizerSettings = OptimizerSettings()
    train: TrainSettings
    surface: SurfaceSettings = SurfaceSettings()
    analysis: AnalysisSettings | None = None
    """Optional: the section-3 verdicts of a run with a validation set."""

    @field_validator("name", "title", "paper_claim")
    @classmethod
    def _one_line(cls, value: str) -> str:
        """No control character (Unicode category Cc: escape codes, NUL, newlines,
        tabs): the texts reach report.html, figure titles and the terminal as given."""
        for index, char in enumerate(value):
            if unicodedata.category(char) == "Cc":
                raise ValueError(
                    "accepted: text without control characters (one line, shown in "
                    f"report.html, figures and the terminal); got {char!r} at "
                    f"position {index}"
                )
        return value

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        too_long = len(value) > MAX_NAME_LENGTH
        if not value or too_long or not all(ch.isalnum() or ch in "_-" for ch in value):
            raise ValueError(
                f"accepted: a non-empty name of at most {MAX_NAME_LENGTH} letters, "
                "digits, '_' and '-' (it names the run's folder); got "
                + (
                    f"{value[:MAX_NAME_LENGTH]!r}... ({len(value)} characters)"
                    if too_long
                    else repr(value)
                )
            )
        return value

    @property
    def names(self) -> tuple[str, ...]:
        """The flat xi coordinate names of this experiment's model."""
        return coordinate_names(self.model.bias)

    def teacher_flat(self) -> np.ndarray:
        """``(p,)`` the teacher as a flat xi vector, float64."""
        return _point_to_flat(self.teacher, self.model.bias, "teacher")

    def start_flat(self) -> np.ndarray:
        """``(p,)`` the start point as a flat xi vector, float64."""
        return _point_to_flat(self.train.start, self.model.bias, "train.start")

    @property
    def schedule_seed(self) -> int:
        return self.data.seed if self.train.seed is None else self.train.seed


def _point_to_flat(point: PointSettings, bias: bool, where: str) -> np.ndarray:
    """Check one point's coordinates and return it as a flat xi vector."""
    if (point.xi is None) == (point.theta is None):
        raise ConfigError(
            f"{where}: give exactly one of 'xi' or 'theta'; got "
            f"{'both' if point.xi is not None else 'neither'}"
        )
    form, values = ("xi", point.xi) if point.xi is not None else ("theta", point.theta)
    return check_point(values, bias=bias, setting=f"{where}.{form}", form=form)


def check_point(
    values: Mapping[str, float],
    *,
    bias: bool,
    setting: str,
    form: Literal["xi", "theta"] = "xi",
) -> np.ndarray:
    """Check a point of parameter space as an experiment file's teacher and start are.

    The checks, in this order: exactly the coordinate names of ``form`` for ``bias``;
    each a finite number within :data:`MAX_MAGNITUDE`; ``w = w31 + w32`` non-zero;
    every coordinate of the point in the other form finite and within
    :data:`MAX_MAGNITUDE`; ``|w| >=`` :data:`MIN_W`.

    Args:
        values: coordinate name -> number, e.g. ``{"a": 0.2, "b": 0.0, "v": 0.3,
            "w": 0.5}`` (any order).
        bias: whether the hidden units have biases (xi has c and d, theta w21, w22).
        setting: the name the messages give the point, e.g. ``"teacher.xi"`` or
            ``"--teacher"``; a coordinate's message names ``f"{setting}.{name}"``.
        form: ``"xi"`` (the default) or ``"theta"``: the coordinates ``values`` holds.

    Returns:
        ``(p,)`` the point as a flat xi vector, float64, in the order of
        :func:`singdyn.network.coordinate_names`.

    Raises:
        ConfigError: ``"<setting>[.<name>]: accepted: ...; got ..."`` for the first
            failed check.
    """
    names = coordinate_names(bias) if form == "xi" else theta_names(bias)
    _check_keys(setting, values, names)
    for key, value in values.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and abs(value) <= MAX_MAGNITUDE):
            raise ConfigError(
                f"{setting}.{key}: accepted: a finite number <= 1e6 and >= -1e6; "
                f"got {value!r}"
            )
    flat = np.array([values[n] for n in names], dtype=np.float64)
    why = ">= 1e-6 (w = w31 + w32 scales the output; below 1e-6 it vanishes in float32)"
    if form == "theta":
        k = unit_size(bias)
        theta = Theta(u1=flat[0:k], u2=flat[k : 2 * k], w31=flat[2 * k], w32=flat[-1])
        given = f"w31 = {float(theta.w31)!r}, w32 = {float(theta.w32)!r}"
        if theta.w31 + theta.w32 == 0:
            raise ConfigError(
                f"{setting}: w31 + w32 must be non-zero (xi is undefined there); "
                f"got {given}"
            )
        flat = np.asarray(xi_to_flat(theta_to_xi(theta)), dtype=np.float64)
        _check_both_forms(flat, bias, setting, form, values)
        if abs(flat[-1]) < MIN_W:
            raise ConfigError(
                f"{setting}: accepted: |w31 + w32| {why}; got {given} "
                f"(w = {float(flat[-1])!r})"
            )
        return flat
    if values["w"] == 0:
        raise ConfigError(
            f"{setting}.w: w = w31 + w32 must be non-zero (b is undefined there); got 0"
        )
    _check_both_forms(flat, bias, setting, form, values)
    if abs(flat[-1]) < MIN_W:
        raise ConfigError(f"{setting}.w: accepted: |w| {why}; got {values['w']!r}")
    return flat


def _check_both_forms(
    flat: np.ndarray, bias: bool, setting: str, form: str, values: Mapping
) -> None:
    """Every coordinate of the point, in xi and in theta, finite and within
    :data:`MAX_MAGNITUDE` (the given ones are; the converted ones may not be)."""
    with np.errstate(all="ignore"):
        theta = theta_to_flat(xi_to_theta(xi_from_flat(flat[None], bias)))[0]
    for other, coordinates, names in (
        ("xi", flat, coordinate_names(bias)),
        ("theta", np.asarray(theta), theta_names(bias)),
    ):
        for name, value in zip(names, coordinates.tolist(), strict=True):
            if not (math.isfinite(value) and abs(value) <= MAX_MAGNITUDE):
                hint = (
                    " (w31 + w32 near 0 makes xi's b and v large)"
                    if form == "theta"
                    else ""
                )
                raise ConfigError(
                    f"{setting}: accepted: a point whose xi and theta coordinates "
                    f"are all finite, <= 1e6 and >= -1e6{hint}; got {form} = "
                    f"{dict(values)!r}, whose {other} {name} = {value!r}"
                )


def _check_keys(where: str, values: Mapping, names: tuple[str, ...]) -> None:
    unknown = sorted(set(values) - set(names))
    missing = [n for n in names if n not in values]
    if unknown:
        raise ConfigError(
            f"{where}: unknown coordinate {unknown[0]!r}; accepted: {list(names)}"
        )
    if missing:
        raise ConfigError(
            f"{where}: missing coordinate {missing[0]!r}; give all of {list(names)}"
        )


def parse_experiment(document: dict, *, source: str = "<experiment>") -> Experiment:
    """Validate a parsed TOML document into an :class:`Experiment`.

    Raises:
        ConfigError: naming the first bad setting, what is accepted and what was given.
    """
    try:
        experiment = Experiment.model_validate(document)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None
    try:
        _check_together(experiment)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return experiment


def _check_together(experiment: Experiment) -> None:
    """The checks of settings that depend on each other, in this order.

    Raises:
        ConfigError: naming the first bad setting (without the source).
    """
    _check_figures(experiment)
    _check_loss_and_optimizer(experiment)
    _check_trainable(experiment)
    if experiment.analysis is not None and not experiment.train.validation:
        raise ConfigError(
            "analysis: accepted only with train.validation = true (the verdicts read "
            "the validation loss); got train.validation = false"
        )
    experiment.teacher_flat()
    experiment.start_flat()
    _check_sizes(experiment)


def _check_figures(experiment: Experiment) -> None:
    """``paper_figures``: none, or one distinct number >= 1 per figure drawn."""
    kind = experiment.analysis.kind if experiment.analysis is not None else None
    parts = FIGURES_DRAWN[kind]
    numbers = list(experiment.paper_figures)
    if numbers and (
        len(numbers) != len(parts)
        or min(numbers) < 1
        or len(set(numbers)) != len(numbers)
    ):
        case = (
            "a case without [analysis]"
            if kind is None
            else f"a case with analysis.kind = {kind!r}"
        )
        raise ConfigError(
            f"paper_figures: accepted: [] or {len(parts)} distinct figure numbers "
            f">= 1, one per figure drawn ({case} draws {len(parts)}: "
            f"{', '.join(parts)}); got {numbers}"
        )


def _check_loss_and_optimizer(experiment: Experiment) -> None:
    """Settings given that the chosen loss or optimizer does not use are refused."""
    loss = experiment.loss
    if loss.kind != "gaussian_nll" and "variance" in loss.model_fields_set:
        raise ConfigError(
            "loss.variance: accepted only with loss.kind = 'gaussian_nll' (the mean "
            "squared error has no variance: leave it out); got variance = "
            f"{loss.variance!r} with kind = {loss.kind!r}"
        )
    optimizer = experiment.optimizer
    if optimizer.name == "sgd":
        for key in ADAM_ONLY:
            if key in optimizer.model_fields_set:
                raise ConfigError(
                    f"optimizer.{key}: accepted only with optimizer.name = "
                    "'nettrain_adam' or 'adam' (sgd has no beta1, beta2 or eps: leave "
                    f"it out); got {key} = {getattr(optimizer, key)!r} with name = "
                    "'sgd'"
                )


def _check_trainable(experiment: Experiment) -> None:
    names = experiment.names
    trainable = list(experiment.train.trainable)
    unknown = [t for t in trainable if t not in names]
    repeated = [t for t in dict.fromkeys(trainable) if trainable.count(t) > 1]
    if unknown or repeated or not trainable:
        note = ""
        if repeated and not unknown:
            note = f" ({repeated[0]!r} {trainable.count(repeated[0])} times)"
        raise ConfigError(
            "train.trainable: accepted: a non-empty list of distinct names from "
            f"{list(names)}; got {trainable}{note}"
        )


def _check_sizes(experiment: Experiment) -> None:
    """The batch within the training set; the work of a run within a workstation."""
    data, train = experiment.data, experiment.train
    if train.batch_size > data.n_train:
        raise ConfigError(
            f"train.batch_size: accepted: an integer from 1 to data.n_train = "
            f"{data.n_train:,} (a larger batch repeats training points within itself); "
            f"got {train.batch_size}"
        )
    sets = [("n_train", data.n_train, " (the run trains on every point each round)")]
    if train.validation:
        sets.append(
            (
                "n_test",
                data.n_test,
                " with train.validation = true (the run takes the validation loss "
                "over every test point each round)",
            )
        )
    for key, n, note in sets:
        if train.rounds * n > MAX_VISITS:
            raise ConfigError(
                f"train.rounds: accepted: train.rounds * data.{key} <= {MAX_VISITS:,}"
                f"{note}; got {train.rounds} * {n} = {train.rounds * n:,}"
            )
    resolution, n = experiment.surface.resolution, max(data.n_train, data.n_test)
    if resolution**2 * n > MAX_SURFACE_LOSSES:
        raise ConfigError(
            "surface.resolution: accepted: surface.resolution**2 * max(data.n_train, "
            f"data.n_test) <= {MAX_SURFACE_LOSSES:,} (the losses one surface "
            f"evaluates); got {resolution}**2 * {n} = {resolution**2 * n:,}"
        )


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file.

    Raises:
        ConfigError: if the file is missing, not TOML or has a bad setting.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError(
            f"{path}: cannot read the experiment file ({error})"
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path}: accepted: an experiment file of at most {MAX_FILE_BYTES:,} "
            "bytes; got more"
        )
    try:
        # "utf-8-sig" drops the byte-order mark some editors write, which TOML refuses.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # The error counts from after the mark; the offset given counts the file.
        offset = error.start + (len(codecs.BOM_UTF8) * raw.startswith(codecs.BOM_UTF8))
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[offset]:02x} at offset "
            f"{offset}); save the experiment file as UTF-8"
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    return parse_experiment(document, source=str(path))


def _describe(error: ValidationError, source: str) -> str:
    """One line per problem: the setting's dotted name, what is accepted, the value."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "<top level>"
        if item["type"] == "extra_forbidden":
            accepted = _accepted_keys(item["loc"][:-1])
            lines.append(
                f"{where}: unknown setting (got {item['input']!r}); accepted keys "
                f"here: {accepted}"
            )
        elif item["type"] == "missing":
            lines.append(f"{where}: missing; this setting is required")
        else:
            message = item["msg"].removeprefix("Value error, ")
            if "got" not in message:
                message = f"{message}; got {item['input']!r}"
            lines.append(f"{where}: {message}")
    return f"{source}: " + "\n  ".join(lines)


def _accepted_keys(loc) -> list[str]:
    """The keys a section accepts, found by walking the models along ``loc``."""
    model = Experiment
    for part in loc:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            annotation = next(
                a for a in getattr(annotation, "__args__", ()) if a is not type(None)
            )
        model = annotation
    return list(model.model_fields)


_PRESETS = "singdyn.experiments.presets"


def preset_names() -> list[str]:
    """Names of the shipped presets (file names without ``.toml``), sorted."""
    files = resources.files(_PRESETS).iterdir()
    return sorted(f.name[: -len(".toml")] for f in files if f.name.endswith(".toml"))


def preset_path(name: str):
    """The resource path of a shipped preset."""
    if name not in preset_names():
        raise ConfigError(f"preset: accepted: one of {preset_names()}; got {name!r}")
    return resources.files(_PRESETS) / f"{name}.toml"


def load_preset(name: str) -> Experiment:
    """Load one shipped preset by name."""
    path = preset_path(name)
    return parse_experiment(tomllib.loads(path.read_text("utf-8")), source=name)
