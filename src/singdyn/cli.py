"""The ``singdyn`` command line: the only part of singdyn that prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from singdyn.experiments.config import ConfigError, Experiment, load_experiment
from singdyn.experiments.config import load_preset as _load_preset

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

OutOption = Annotated[Path, typer.Option("--out", help="Output folder (replaced).")]
MaxRoundsOption = Annotated[
    int | None,
    typer.Option(
        "--max-rounds", min=1, help="Cap every case's rounds (for a quick look)."
    ),
]


SeedsOption = Annotated[
    int,
    typer.Option(
        "--seeds",
        min=0,
        help="Data seeds over which to count the kinds of dynamics (0: none).",
    ),
]


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


@app.command()
def reproduce(
    out: OutOption = Path("out"),
    max_rounds: MaxRoundsOption = None,
    seeds: SeedsOption = 20,
) -> None:
    """Run the paper's experiments and write figures, summary.json and history files."""
    from singdyn.pipeline import staged_output, write_json
    from singdyn.report import interactive_data, write_report
    from singdyn.section3 import SECTION3, run_section3

    experiments = [_load_preset(name) for name in EXAMPLE1]
    interactive: dict = {}
    with staged_output(out) as stage:
        records = _run_cases(
            experiments,
            stage,
            max_rounds=max_rounds,
            seeds=seeds,
            interactive=interactive,
        )
        with _progress() as progress:
            task = progress.add_task("section 3", total=None)
            section3 = run_section3(
                stage,
                max_rounds=max_rounds,
                seeds=max(seeds, 1),
                progress=lambda text: progress.update(task, description=text),
                on_result=lambda result: interactive.update(
                    {result.experiment.name: interactive_data(result)}
                ),
            )
            progress.update(task, description="section 3 done", total=1, completed=1)
        summary = _summary(records + section3, experiments)
        summary["theory"] = _stability_of(experiments[0])
        write_json(stage / "summary.json", summary)
        write_report(stage, summary, interactive=interactive)
    _print_table(records)
    _print_section3_table(section3)
    console.print(
        f"Wrote [bold]{out}[/]: report.html, summary.json, one folder per case "
        f"({', '.join(EXAMPLE1 + SECTION3)})."
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
            min=0,
            help="Data seeds to sweep: kinds of dynamics counted, or verdicts of a "
            "file with an [analysis] section (at least 1 there).",
        ),
    ] = 0,
) -> None:
    """Run one experiment from a TOML file."""
    from singdyn.pipeline import staged_output, write_json
    from singdyn.report import interactive_data, write_report

    try:
        experiment = load_experiment(experiment_file)
    except ConfigError as error:
        _fail(str(error))
    interactive: dict = {}
    with staged_output(out) as stage:
        if experiment.analysis is not None:
            from singdyn.pipeline import capped
            from singdyn.section3 import run_validation_case

            with _progress() as progress:
                task = progress.add_task(experiment.name, total=None)
                records = [
                    run_validation_case(
                        capped(experiment, max_rounds),
                        stage,
                        seeds=max(seeds, 1),
                        sizes=(experiment.data.n_train,),
                        progress=lambda text: progress.update(task, description=text),
                        on_result=lambda result: interactive.update(
                            {result.experiment.name: interactive_data(result)}
                        ),
                    )
                ]
        else:
            records = _run_cases(
                [experiment],
                stage,
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
    console.print(f"Wrote [bold]{out}[/].")


def _run_cases(
    experiments: list[Experiment],
    stage: Path,
    *,
    max_rounds: int | None,
    seeds: int = 0,
    interactive: dict | None = None,
) -> list[dict]:
    """Run, draw and summarise each experiment; with ``seeds`` > 0 also count the
    kinds of dynamics over data seeds 0..seeds-1 (one batched run per case). The
    report's data of each case goes into ``interactive`` when given."""
    from singdyn import pipeline
    from singdyn.report import interactive_data

    records = []
    with _progress() as progress:
        task = progress.add_task("cases", total=len(experiments))
        for experiment in experiments:
            progress.update(task, description=f"training {experiment.name}")
            result = pipeline.run_case(experiment, max_rounds=max_rounds)
            progress.update(task, description=f"drawing {experiment.name}")
            figures = pipeline.write_case(
                result, stage / experiment.name, out_root=stage
            )
            if not records:
                pipeline.write_teacher_figure(result, stage / "teacher.png")
            record = pipeline.case_record(result, figures)
            if interactive is not None:
                interactive[experiment.name] = interactive_data(result)
            if seeds > 0:
                progress.update(
                    task, description=f"{experiment.name} over {seeds} seeds"
                )
                sweep = pipeline.run_seed_sweep(
                    experiment, range(seeds), max_rounds=max_rounds
                )
                record["pattern_counts"] = pipeline.pattern_counts(sweep)
                record["pattern_seeds"] = sweep.seeds.tolist()
            records.append(record)
            progress.advance(task)
        progress.update(task, description="done")
    return records


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
        float, typer.Option("--noise-std", min=0.0, help="With --teacher.")
    ] = 0.05,
) -> None:
    """The theory side for one teacher: (v*, w*), H, Theorem 7, first integrals."""
    from singdyn.pipeline import staged_output
    from singdyn.theory import write_theory

    settings = _theory_settings(experiment_file, teacher, bias, loss, noise_std)
    with staged_output(out) as stage, _progress() as progress:
        task = progress.add_task("fit, H, flows, closed forms", total=None)
        summary = write_theory(stage, **settings)
        progress.update(task, description="done", total=1, completed=1)
    _print_theory(summary)
    console.print(f"Wrote [bold]{out}[/]: theory.json, figures/first_integrals.png.")


def _theory_settings(experiment_file, teacher, bias, loss, noise_std) -> dict:
    """The teacher and settings of `singdyn theory`, from a file or the options."""
    from singdyn.network import coordinate_names

    if (experiment_file is None) == (teacher is None):
        _fail(
            "theory: give an experiment file or --teacher, not both; got "
            + ("both" if teacher is not None else "neither")
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
        try:
            values[key.strip()] = float(value)
        except ValueError:
            _fail(f"--teacher: accepted: name=number pairs; got {item.strip()!r}")
    if sorted(values) != sorted(names):
        _fail(f"--teacher: give exactly the coordinates {list(names)}; got {teacher!r}")
    if values["w"] == 0:
        _fail("--teacher: w = w31 + w32 must be non-zero (b is undefined there); got 0")
    return {
        "teacher_flat": [values[n] for n in names],
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
        table.add_row(*row)
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
    table = Table(title="singdyn: the paper's claims and what we observe")
    for column in ("case", "the paper's claim", "start (a, b)", "end (a, b)"):
        table.add_column(column, overflow="fold")
    table.add_column("final loss - teacher's", justify="right")
    table.add_column("observed kind", overflow="fold")
    table.add_column("paper's kind over seeds", justify="right")
    for record in records:
        start, final = record["start"], record["final"]
        counts = record.get("pattern_counts")
        share = "-"
        if counts is not None:
            share = f"{counts.get(record['name'], 0)} of {sum(counts.values())}"
        table.add_row(
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
        table.add_row(
            record["name"],
            record["paper_claim"],
            verdicts,
            str(record["best"]["round"]),
            shown,
        )
    console.print(table)


# ---- singdyn phase-map -------------------------------------------------------------


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
        int, typer.Option("--resolution", min=2, help="Grid points along a and b.")
    ] = 201,
    rounds: Annotated[
        int, typer.Option("--rounds", min=2, help="Rounds from each start point.")
    ] = 200,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size",
            min=1,
            help="Start points trained at a time (bounds the memory, not the result).",
        ),
    ] = 4096,
    flow: Annotated[
        bool,
        typer.Option(
            "--flow/--no-flow",
            help="Also label the averaged gradient flow (SPEC 6) on its own grid.",
        ),
    ] = False,
    flow_resolution: Annotated[
        int,
        typer.Option("--flow-resolution", min=2, help="Grid points of the flow map."),
    ] = 51,
    flow_time: Annotated[
        float,
        typer.Option("--flow-time", min=0.0, help="End time of the flow, eta t."),
    ] = 1e4,
) -> None:
    """Label the kind of dynamics from every start point of an (a, b) grid and draw
    phase_map.png, with the labels and final points in phase_map.nc."""
    import time

    import numpy as np

    from singdyn import phase_map as phase
    from singdyn.patterns import LABELS
    from singdyn.pipeline import staged_output

    try:
        experiment = _load_preset(preset)
    except ConfigError as error:
        _fail(str(error))
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
        table.add_row(name, *(f"{share[code]:.1%}" for share in shares))
    console.print(table)
    console.print(
        f"Wrote [bold]{out}[/]: phase_map.png, phase_map.nc "
        f"({time.perf_counter() - started:.1f} s)."
    )


def main() -> None:  # pragma: no cover - console entry point
    app()
