"""The ``singdyn`` command line: the only part of singdyn that prints.

Text from an experiment file (a name, a title, a claim), a path and every message are
printed as they are, never read as rich markup: they may hold square brackets.
"""

from __future__ import annotations

import math
import signal
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table
from rich.text import Text

from singdyn.experiments.config import (
    ConfigError,
    Experiment,
    check_point,
    load_experiment,
)
from singdyn.experiments.config import load_preset as _load_preset

MAX_SEEDS = 1000
"""Most data seeds of a sweep; each is a whole run of its case."""

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Learning dynamics of a two-hidden-unit tanh network near its singular "
    "regions: reproduce the paper, run your own experiments.",
)
console = Console()
if not console.is_terminal:  # a log file or CI: wide enough for the results table
    console = Console(width=160)
errors = Console(stderr=True)

EXAMPLE1 = (
    "overlap",
    "cross_elimination",
    "fast_convergence",
    "near_elimination",
    "output_weight_zero",
)
"""The five cases of the paper's Example 1, in the paper's order."""

OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        help="Output folder: a new one, an empty one, or one singdyn wrote before "
        "and that holds nothing else (replaced whole); anything else is refused "
        "before any work.",
    ),
]


def _within(low: float, high: float | None = None):
    """A typer callback that refuses values outside ``[low, high]`` and says which
    value it got (typer's own bounds leave the value out)."""
    accepted = f">= {low}" if high is None else f"from {low} to {high}"
    if isinstance(low, float):
        accepted = f"a finite number {accepted}"

    def check(value):
        if value is None:
            return value
        if not (math.isfinite(value) and value >= low) or (
            high is not None and value > high
        ):
            raise typer.BadParameter(f"accepted: {accepted}; got {value!r}")
        return value

    return check


MaxRoundsOption = Annotated[
    int | None,
    typer.Option(
        "--max-rounds",
        callback=_within(1),
        help="Cap every case's rounds (for a quick look).",
    ),
]


SeedsOption = Annotated[
    int,
    typer.Option(
        "--seeds",
        callback=_within(0, MAX_SEEDS),
        help="Data seeds over which to count the kinds of dynamics (0: none).",
    ),
]


def _progress(on: Console | None = None) -> Progress:
    """A progress display on one line: a label, a bar of 20 columns, the count and
    the elapsed time. The label is cut (with an ellipsis) to leave the 40 columns the
    rest needs, so all of it fits in a terminal of 80 columns.

    Args:
        on: the console to draw on; the command line's own when None.

    Returns:
        The :class:`rich.progress.Progress`, not started.
    """
    on = console if on is None else on
    label = Column(no_wrap=True, overflow="ellipsis", max_width=max(10, on.width - 40))
    return Progress(
        TextColumn(
            "{task.description}", style="bold", markup=False, table_column=label
        ),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=on,
        transient=False,
    )


def _fail(message: str) -> NoReturn:
    errors.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
    raise typer.Exit(code=2)


def _check_out(out: Path) -> None:
    """Stop with a message, before any work, when ``--out`` may not be replaced."""
    from singdyn.pipeline import check_output

    try:
        check_output(out, setting="--out")
    except ValueError as error:
        _fail(str(error))


def _wrote(out: Path, what: str = "") -> None:
    console.print(Text.assemble("Wrote ", (str(out), "bold"), what or "."))


@app.command()
def reproduce(
    out: OutOption = Path("out"),
    max_rounds: MaxRoundsOption = None,
    seeds: SeedsOption = 20,
) -> None:
    """Run the paper's experiments and write figures, summary.json and history files."""
    from singdyn.pipeline import staged_output, write_json
    from singdyn.report import interactive_data, write_report
    from singdyn.section3 import DEFAULT_SIZES, SECTION3, run_section3

    _check_out(out)
    experiments = [_load_preset(name) for name in EXAMPLE1]
    interactive: dict = {}
    with staged_output(out) as stage:
        records = _run_cases(
            experiments,
            stage,
            title="Example 1",
            max_rounds=max_rounds,
            seeds=seeds,
            interactive=interactive,
        )
        steps = _validation_steps([_load_preset(name) for name in SECTION3])
        with _progress() as progress, _Steps(progress, "Section 3", steps) as step:
            section3 = run_section3(
                stage,
                max_rounds=max_rounds,
                seeds=max(seeds, 1),
                sizes=DEFAULT_SIZES,
                progress=step,
                on_result=lambda result: interactive.update(
                    {result.experiment.name: interactive_data(result)}
                ),
            )
        summary = _summary(records + section3, experiments)
        summary["theory"] = _stability_of(experiments[0])
        write_json(stage / "summary.json", summary)
        write_report(stage, summary, interactive=interactive)
    _print_table(records)
    _print_section3_table(section3)
    _wrote(
        out,
        ": report.html, summary.json, teacher.png, one folder per case "
        f"({', '.join(EXAMPLE1 + SECTION3)}).",
    )


@app.command()
def run(
    experiment_file: Annotated[
        Path, typer.Argument(help="An experiment TOML file (see the presets).")
    ],
    out: OutOption = Path("out-run"),
    max_rounds: MaxRoundsOption = None,
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds",
            callback=_within(0, MAX_SEEDS),
            help=escape(
                "Data seeds to sweep: kinds of dynamics counted, or verdicts of a "
                "file with an [analysis] section (at least 1 there)."
            ),
        ),
    ] = 0,
) -> None:
    """Run one experiment from a TOML file."""
    from singdyn.pipeline import staged_output, write_json
    from singdyn.report import interactive_data, write_report

    _check_out(out)
    try:
        experiment = load_experiment(experiment_file)
    except ConfigError as error:
        _fail(str(error))
    interactive: dict = {}
    with staged_output(out) as stage:
        if experiment.analysis is not None:
            from singdyn.pipeline import capped
            from singdyn.section3 import run_validation_case

            sizes = (experiment.data.n_train,)
            steps = _validation_steps([experiment], sizes)
            with _progress() as progress, _Steps(progress, "run", steps) as step:
                records = [
                    run_validation_case(
                        capped(experiment, max_rounds),
                        stage,
                        seeds=max(seeds, 1),
                        sizes=sizes,
                        progress=step,
                        on_result=lambda result: interactive.update(
                            {result.experiment.name: interactive_data(result)}
                        ),
                    )
                ]
        else:
            records = _run_cases(
                [experiment],
                stage,
                title="run",
                max_rounds=max_rounds,
                seeds=seeds,
                interactive=interactive,
            )
        summary = _summary(records, [experiment])
        write_json(stage / "summary.json", summary)
        write_report(stage, summary, interactive=interactive)
    if experiment.analysis is not None:
        _print_section3_table(records)
    else:
        _print_table(records)
    _wrote(out, ": report.html, summary.json, teacher.png, " + experiment.name + "/.")


def _run_cases(
    experiments: list[Experiment],
    stage: Path,
    *,
    title: str,
    max_rounds: int | None,
    seeds: int = 0,
    interactive: dict | None = None,
) -> list[dict]:
    """Run, draw and summarise each experiment; with ``seeds`` > 0 also count the
    kinds of dynamics over data seeds 0..seeds-1 (one batched run per case). The
    report's data of each case goes into ``interactive`` when given; the progress
    bar is labelled ``title: <case> (<step>)``, and ``title: N cases`` at the end."""
    from singdyn import pipeline
    from singdyn.report import interactive_data

    records = []
    with _progress() as progress:
        task = progress.add_task(title, total=len(experiments))
        for experiment in experiments:

            def step(text: str, name: str = experiment.name) -> None:
                progress.update(task, description=f"{title}: {name} ({text})")

            step("training")
            result = pipeline.run_case(experiment, max_rounds=max_rounds)
            step("drawing")
            figures = pipeline.write_case(
                result, stage / experiment.name, out_root=stage
            )
            if not records:
                pipeline.write_teacher_figure(result, stage / "teacher.png")
            record = pipeline.case_record(result, figures)
            if interactive is not None:
                interactive[experiment.name] = interactive_data(result)
            if seeds > 0:
                step(f"{seeds} seeds")
                sweep = pipeline.run_seed_sweep(
                    experiment, range(seeds), max_rounds=max_rounds
                )
                record["pattern_counts"] = pipeline.pattern_counts(sweep)
                record["pattern_seeds"] = sweep.seeds.tolist()
            records.append(record)
            progress.advance(task)
        progress.update(task, description=f"{title}: {_cases(len(records))}")
    return records


def _cases(count: int) -> str:
    return f"{count} case" + ("" if count == 1 else "s")


def _validation_steps(
    experiments: list[Experiment], sizes: tuple[int, ...] | None = None
) -> int:
    """The steps :func:`singdyn.section3.run_validation_case` reports for these
    experiments: training, one seed sweep per distinct data size, figures."""
    from singdyn.section3 import DEFAULT_SIZES

    sizes = DEFAULT_SIZES if sizes is None else sizes
    return sum(
        2 + len(dict.fromkeys((experiment.data.n_train, *sizes)))
        for experiment in experiments
    )


class _Steps:
    """A progress task of ``total`` steps labelled ``title: <step>``, for library
    code that reports each step by its description; ``title: N cases`` at the end.

    Used as a context manager, it yields the callback to pass as ``progress``.
    """

    def __init__(self, progress: Progress, title: str, total: int) -> None:
        self.progress, self.title, self.total = progress, title, total
        self.task = progress.add_task(title, total=total)
        self.done = -1
        self.cases: set[str] = set()

    def __call__(self, text: str) -> None:
        self.done += 1
        self.cases.add(text.partition(":")[0])
        self.progress.update(
            self.task,
            description=f"{self.title}: {text}",
            completed=min(self.done, self.total),
        )

    def __enter__(self):
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.progress.update(
                self.task,
                description=f"{self.title}: {_cases(len(self.cases))}",
                completed=self.total,
            )


def _stability_of(experiment: Experiment) -> dict:
    """Theorem 7 for the experiment's teacher, labelled with that teacher."""
    from singdyn.theory import stability_summary

    stability = stability_summary(
        experiment.teacher_flat(),
        bias=experiment.model.bias,
        x_range=tuple(experiment.data.x_range),
    )
    teacher = dict(
        zip(experiment.names, experiment.teacher_flat().tolist(), strict=True)
    )
    return {"teacher": teacher, **stability}


@app.command()
def theory(
    ctx: typer.Context,
    experiment_file: Annotated[
        Path | None,
        typer.Argument(help="An experiment TOML file whose teacher to analyse."),
    ] = None,
    out: OutOption = Path("out-theory"),
    teacher: Annotated[
        str | None,
        typer.Option(
            "--teacher",
            help="A teacher in xi coordinates instead of a file, as "
            "'a=0.2,b=0,v=0.3,w=0.5' (with --bias: 'a=..,c=..,b=..,v=..,d=..,w=..').",
        ),
    ] = None,
    bias: Annotated[
        bool, typer.Option("--bias", help="With --teacher: the units have biases.")
    ] = False,
    loss: Annotated[
        str, typer.Option("--loss", help="With --teacher: gaussian_nll or mse.")
    ] = "gaussian_nll",
    noise_std: Annotated[
        float,
        typer.Option("--noise-std", callback=_within(0.0), help="With --teacher."),
    ] = 0.05,
) -> None:
    """The theory side for one teacher: (v*, w*), H, Theorem 7, first integrals."""
    from singdyn import theory as side
    from singdyn.pipeline import staged_output

    _check_out(out)
    given = {
        f"--{name.replace('_', '-')}": value
        for name, value in (("bias", bias), ("loss", loss), ("noise_std", noise_std))
        if ctx.get_parameter_source(name).name != "DEFAULT"
    }
    settings = _theory_settings(experiment_file, teacher, given, bias, loss, noise_std)
    with staged_output(out) as stage, _progress() as progress:
        task = progress.add_task("theory: computing v*, w*, H, flows", total=1)
        summary = side.write_theory(stage, **settings)
        progress.update(
            task, description="theory: v*, w*, H, flows, closed forms", completed=1
        )
    _print_theory(summary)
    _wrote(out, ": theory.json, figures/first_integrals.png.")


def _theory_settings(experiment_file, teacher, given, bias, loss, noise_std) -> dict:
    """The teacher and settings of `singdyn theory`, from a file or the options;
    ``given`` holds the teacher options given on the command line."""
    from singdyn.network import coordinate_names

    if (experiment_file is None) == (teacher is None):
        _fail(
            "theory: give an experiment file or --teacher, not both; got "
            + ("both" if teacher is not None else "neither")
        )
    if experiment_file is not None and given:
        options = (
            f"the options {', '.join(given)} apply"
            if len(given) > 1
            else f"the option {next(iter(given))} applies"
        )
        _fail(
            f"theory: {options} only with --teacher (an experiment file gives its "
            "own model, loss and noise); got the file "
            f"{str(experiment_file)!r} and "
            + ", ".join(f"{name} {value!r}" for name, value in given.items())
        )
    if experiment_file is not None:
        try:
            experiment = load_experiment(experiment_file)
        except ConfigError as error:
            _fail(str(error))
        return {
            "teacher_flat": experiment.teacher_flat(),
            "bias": experiment.model.bias,
            "loss_kind": experiment.loss.kind,
            "variance": experiment.loss.variance,
            "noise_std": experiment.data.noise_std,
            "x_range": tuple(experiment.data.x_range),
        }
    names = coordinate_names(bias)
    if loss not in ("gaussian_nll", "mse"):
        _fail(f"--loss: accepted: gaussian_nll or mse; got {loss!r}")
    values = {}
    for item in teacher.split(","):
        key, _, value = item.partition("=")
        key = key.strip()
        try:
            number = float(value)
        except ValueError:
            _fail(f"--teacher: accepted: name=number pairs; got {item.strip()!r}")
        if key in values:
            _fail(f"--teacher: each coordinate once; got {key!r} twice in {teacher!r}")
        if not math.isfinite(number):
            _fail(f"--teacher: {key}: accepted: a finite number; got {value.strip()!r}")
        values[key] = number
    if sorted(values) != sorted(names):
        _fail(f"--teacher: give exactly the coordinates {list(names)}; got {teacher!r}")
    try:  # the bounds of an experiment file's teacher
        flat = check_point(values, bias=bias, setting="--teacher")
    except ConfigError as error:
        _fail(str(error))
    return {
        "teacher_flat": flat.tolist(),
        "bias": bias,
        "loss_kind": loss,
        "noise_std": noise_std,
    }


def _print_theory(summary: dict) -> None:
    table = Table(title="Theorem 7: the stability of the overlap line R0 (a = 0)")
    table.add_column("quantity")
    table.add_column("value", overflow="fold")
    stability = summary["stability"]
    rows = [
        ("v*", _numbers(summary["v_star"])),
        ("w*", f"{summary['w_star']:.6g}"),
        ("H(v*, w*)", _numbers(summary["H"])),
        ("eigenvalues of H", _numbers(summary["eigenvalues"])),
        ("R0 where b^2 < 1", stability["b2_below_1"]),
        ("R0 where b^2 > 1", stability["b2_above_1"]),
        ("case", stability["case"]),
    ]
    for row in rows:
        table.add_row(*map(Text, row))
    console.print(table)


def _numbers(values) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_numbers(v) for v in values) + "]"
    return f"{values:.6g}"


def _summary(records: list[dict], experiments: list[Experiment]) -> dict:
    from singdyn.pipeline import settings_record

    first = settings_record(experiments[0])
    return {
        "data": first["data"],
        "loss": first["loss"],
        "optimizer": first["optimizer"],
        "train": {k: first["train"][k] for k in ("batch_size", "precision")},
        "teacher_figure": "teacher.png",
        "cases": records,
    }


def _print_table(records: list[dict]) -> None:
    """The table of runs labelled by kind of dynamics. The last column counts the
    seeds showing the paper's kind, for a case named by one of the five kinds; any
    other case has no paper claim to count and shows '-'."""
    from singdyn.patterns import LABELS

    kinds = [label for label in LABELS if label != "other"]
    table = Table(title="singdyn: the paper's claims and what we observe")
    for column in ("case", "the paper's claim", "start (a, b)", "end (a, b)"):
        table.add_column(column, overflow="fold")
    table.add_column("final loss - teacher's", justify="right")
    table.add_column("observed kind", overflow="fold")
    table.add_column("seeds showing the paper's kind", justify="right")
    for record in records:
        start, final = record["start"], record["final"]
        counts = record.get("pattern_counts")
        share = "-"
        if counts is not None and record["name"] in kinds:
            share = f"{counts.get(record['name'], 0)} of {sum(counts.values())}"
        _add_row(
            table,
            record["name"],
            record["paper_claim"],
            f"({start['a']:+.3f}, {start['b']:+.3f})",
            f"({final['a']:+.3f}, {final['b']:+.3f})",
            f"{record['final_train_loss']:.6f} - {record['teacher_train_loss']:.6f}"
            f" = {record['final_excess_loss']:+.2e}",
            record["observed_pattern"],
            share,
        )
    console.print(table)


def _add_row(table: Table, *cells: str) -> None:
    """Add a row of plain text: square brackets in a cell are printed as they are."""
    table.add_row(*(Text(str(cell)) for cell in cells))


def _print_section3_table(records: list[dict]) -> None:
    table = Table(title="singdyn: overfitting and over-generalization")
    for column in ("case", "the paper's claim", "verdicts (seed shown)"):
        table.add_column(column, overflow="fold")
    table.add_column("best round", justify="right")
    table.add_column("seeds showing the claim", justify="right")
    for record in records:
        claim = record.get("claim")
        sweep = record["seed_sweep"]
        verdicts = ", ".join(
            f"{name}: {'yes' if value else 'no'}"
            for name, value in record["verdicts"].items()
        )
        shown = "-"
        if claim is not None:
            shown = f"{sweep['positive'][claim]} of {sweep['seeds']}"
        _add_row(
            table,
            record["name"],
            record["paper_claim"],
            verdicts,
            str(record["best"]["round"]),
            shown,
        )
    console.print(table)


# ---- singdyn phase-map -------------------------------------------------------------


def _positive_time(value: float) -> float:
    """Check ``--flow-time`` when the command line is read, before any work."""
    if not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"accepted: a finite number > 0; got {value!r}")
    return value


@app.command("phase-map")
def phase_map_command(
    out: OutOption = Path("out-phase-map"),
    preset: Annotated[
        str,
        typer.Option(
            "--preset", help="Preset giving the teacher, data, loss and optimizer."
        ),
    ] = "overlap",
    resolution: Annotated[
        int,
        typer.Option(
            "--resolution",
            callback=_within(2, 2001),
            help="Grid points along a and b, 2 to 2001.",
        ),
    ] = 201,
    rounds: Annotated[
        int,
        typer.Option(
            "--rounds",
            callback=_within(2, 10_000),
            help="Rounds from each start point, 2 to 10,000.",
        ),
    ] = 200,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size",
            callback=_within(1),
            help="Start points trained at a time (bounds the memory, not the result).",
        ),
    ] = 4096,
    flow: Annotated[
        bool,
        typer.Option(
            "--flow/--no-flow",
            help="Also label the paths of the paper's averaged learning equation "
            "(the gradient flow of the averaged loss) on its own grid.",
        ),
    ] = False,
    flow_resolution: Annotated[
        int,
        typer.Option(
            "--flow-resolution",
            callback=_within(2, 401),
            help="Grid points of the flow map, 2 to 401.",
        ),
    ] = 51,
    flow_time: Annotated[
        float,
        typer.Option(
            "--flow-time",
            callback=_positive_time,
            help="End time of the flow, eta t: a finite number > 0.",
        ),
    ] = 1e4,
) -> None:
    """Label the kind of dynamics from every point of an (a, b) grid of starts.

    Writes phase_map.png, and the labels and final points in phase_map.nc.
    """
    import time

    import numpy as np

    from singdyn import phase_map as phase
    from singdyn.patterns import LABELS
    from singdyn.pipeline import staged_output

    _check_out(out)
    try:
        experiment = _load_preset(preset)
    except ConfigError as error:
        _fail(f"--{error}")  # the setting is the option --preset
    started = time.perf_counter()
    with _progress() as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        try:
            result = phase.phase_map(
                experiment,
                resolution=resolution,
                rounds=rounds,
                chunk_size=chunk_size,
                flow=flow,
                flow_resolution=flow_resolution,
                flow_time=flow_time,
                progress=report,
            )
        except ValueError as error:
            _fail(str(error))
    with staged_output(out) as stage:
        phase.write_phase_map(result, stage)

    table = Table(title=f"phase map: {resolution} x {resolution} start points")
    table.add_column("kind of dynamics")
    table.add_column("share (ADAM)", justify="right")
    grids = [result.labels] + ([] if result.flow is None else [result.flow.labels])
    if result.flow is not None:
        table.add_column("share (averaged flow)", justify="right")
    shares = [np.bincount(g.ravel(), minlength=len(LABELS)) / g.size for g in grids]
    for code, name in enumerate(LABELS):
        _add_row(table, name, *(f"{share[code]:.1%}" for share in shares))
    console.print(table)
    _wrote(
        out,
        f": phase_map.png, phase_map.nc ({time.perf_counter() - started:.1f} s).",
    )


def main() -> None:  # pragma: no cover - console entry point
    app()


@app.callback()
def _on_start() -> None:
    """Before any command: a termination signal unwinds like Ctrl-C, so no staging
    folder is left behind."""
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, frame) -> NoReturn:
    raise SystemExit(128 + signum)
