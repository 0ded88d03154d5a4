"""Experiment files: the TOML format, its validation and the shipped presets.

An experiment file names a teacher, the data drawn from it, the loss, a start point,
the trainable coordinates and the optimizer. Every setting is checked here, before any
work, and a bad one fails with :class:`ConfigError` naming the setting, the accepted
values and the value given. The paper's experiments ship as presets in ``presets/``.
"""

from __future__ import annotations

import math
import tomllib
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
    theta_to_xi,
    unit_size,
    xi_to_flat,
)

__all__ = [
    "ConfigError",
    "Experiment",
    "load_experiment",
    "parse_experiment",
    "preset_names",
    "load_preset",
    "preset_path",
]


def _accepts(accepted: str, test) -> AfterValidator:
    """A check that fails with ``accepted: <accepted>; got <value>``."""

    def check(value):
        if not test(value):
            raise ValueError(f"accepted: {accepted}; got {value!r}")
        return value

    return AfterValidator(check)


def _finite(value) -> bool:
    return math.isfinite(value)


Count = Annotated[int, _accepts("an integer >= 1", lambda v: v >= 1)]
"""A number of things: at least 1."""
NonNegative = Annotated[
    float, _accepts("a finite number >= 0", lambda v: _finite(v) and v >= 0)
]
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
        lambda v: _finite(v[0]) and _finite(v[1]) and v[0] < v[1],
    ),
]
"""An interval ``[low, high]`` (TOML arrays are lists)."""


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
    n_train: Count = 100
    n_test: Count = 100
    noise_std: NonNegative = 0.05
    x_range: Pair = [-3.0, 3.0]
    seed: int = 0


class LossSettings(_Section):
    kind: Literal["gaussian_nll", "mse"] = "gaussian_nll"
    variance: Positive = 1.0


class OptimizerSettings(_Section):
    name: Literal["nettrain_adam", "adam", "sgd"] = "nettrain_adam"
    learning_rate: Positive = 0.1
    beta1: Fraction = 0.9
    beta2: Fraction = 0.999
    eps: NonNegative = 1e-5


class TrainSettings(_Section):
    start: PointSettings
    trainable: list[str] = ["a", "b"]
    rounds: Count
    batch_size: Count = 30
    validation: bool = False
    precision: Literal["float32", "float64"] = "float32"
    seed: int | None = None
    """Seed of the batch permutation; the data seed when not given."""


class SurfaceSettings(_Section):
    a_range: Pair = [-1.0, 1.0]
    b_range: Pair = [-2.5, 2.5]
    resolution: Annotated[
        int, _accepts("an integer in [2, 1001]", lambda v: 2 <= v <= 1001)
    ] = 81


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

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not value or not all(ch.isalnum() or ch in "_-" for ch in value):
            raise ValueError(
                "accepted: a non-empty name of letters, digits, '_' and '-'; "
                f"got {value!r}"
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
    names = coordinate_names(bias) if form == "xi" else theta_names(bias)
    _check_keys(f"{where}.{form}", values, names)
    for key, value in values.items():
        if not math.isfinite(value):
            raise ConfigError(
                f"{where}.{form}.{key}: accepted: a finite number; got {value!r}"
            )
    flat = np.array([values[n] for n in names], dtype=np.float64)
    if form == "theta":
        k = unit_size(bias)
        theta = Theta(u1=flat[0:k], u2=flat[k : 2 * k], w31=flat[2 * k], w32=flat[-1])
        if theta.w31 + theta.w32 == 0:
            raise ConfigError(
                f"{where}.theta: w31 + w32 must be non-zero (xi is undefined there); "
                f"got w31 = {float(theta.w31)!r}, w32 = {float(theta.w32)!r}"
            )
        return np.asarray(xi_to_flat(theta_to_xi(theta)), dtype=np.float64)
    if values["w"] == 0:
        raise ConfigError(
            f"{where}.xi.w: w = w31 + w32 must be non-zero (b is undefined there); "
            "got 0"
        )
    return flat


def _check_keys(where: str, values: dict, names: tuple[str, ...]) -> None:
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

    names = experiment.names
    unknown = [t for t in experiment.train.trainable if t not in names]
    if unknown or not experiment.train.trainable:
        raise ConfigError(
            f"{source}: train.trainable: accepted: a non-empty list of {list(names)}; "
            f"got {list(experiment.train.trainable)}"
        )
    if experiment.analysis is not None and not experiment.train.validation:
        raise ConfigError(
            f"{source}: analysis: accepted only with train.validation = true (the "
            "verdicts read the validation loss); got train.validation = false"
        )
    try:
        experiment.teacher_flat()
        experiment.start_flat()
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return experiment


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file.

    Raises:
        ConfigError: if the file is missing, not TOML or has a bad setting.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"{path}: cannot read the experiment file ({error})"
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
