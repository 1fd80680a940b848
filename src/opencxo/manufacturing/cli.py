"""``opencxo mfg``: manufacturing scheduling from the command line (no database needed).

Thin: files are read by :mod:`opencxo.manufacturing.engine.instances`, solved by
:func:`opencxo.manufacturing.engine.solve`; heavy imports wait until a command runs.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

mfg_app = typer.Typer(
    help="Manufacturing: CP-SAT scheduling of batches on plant units.", no_args_is_help=True
)


class Format(StrEnum):
    jssp = "jssp"
    fjsp = "fjsp"


@mfg_app.command("solve-instance")
def solve_instance(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="benchmark instance file")],
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            help="jssp: classic job shop (machines from 0); fjsp: Brandimarte flexible job "
            "shop (machines from 1)",
        ),
    ],
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="seconds", min=0.01, max=604_800)
    ] = 60.0,
    workers: Annotated[int, typer.Option(help="CP-SAT workers (threads)", min=1, max=256)] = 2,
    seed: Annotated[int, typer.Option(help="CP-SAT random seed", min=0)] = 0,
    schedule: Annotated[
        bool, typer.Option("--schedule", help="also print every operation's machine and times")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Minimise the makespan of a job-shop or flexible job-shop benchmark instance."""
    from opencxo.manufacturing.engine import InstanceFormatError, read_instance, solve

    try:
        problem = read_instance(file, fmt.value)
    except InstanceFormatError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    result = solve(problem, time_limit_s=time_limit, workers=workers, seed=seed)
    doc: dict[str, Any] = {
        "instance": problem.name,
        "format": fmt.value,
        "jobs": len(problem.jobs),
        "machines": problem.units,
        "operations": problem.operation_count,
        "status": result.status,
        "makespan": result.makespan,
        "lower_bound": result.makespan_bound,
        "gap": None if result.gap is None else round(result.gap, 6),
        "wall_time_s": result.wall_time_s,
        "time_limit_s": time_limit,
        "workers": workers,
        "seed": seed,
    }
    if result.reasons:
        doc["reasons"] = list(result.reasons)
    if schedule:
        # machines as in the file: from 0 for jssp, from 1 for fjsp
        offset = 1 if fmt is Format.fjsp else 0
        doc["schedule"] = [
            {
                "job": s.job,
                "operation": s.operation,
                "machine": s.unit + offset,
                "start": s.start,
                "end": s.end,
            }
            for s in result.operations
        ]
    if as_json:
        typer.echo(json.dumps(doc))
    else:
        typer.echo(
            f"{problem.name}: {len(problem.jobs)} jobs x {problem.units} machines "
            f"({problem.operation_count} operations)"
        )
        if result.makespan is None:
            typer.echo(f"status {result.status}: no schedule in {result.wall_time_s:.2f} s")
            for reason in result.reasons:
                typer.echo(f"  {reason}")
        else:
            gap = f", gap {100 * (result.gap or 0.0):.2f} %" if result.status != "OPTIMAL" else ""
            typer.echo(
                f"status {result.status}: makespan {result.makespan}, lower bound "
                f"{result.makespan_bound}{gap}, {result.wall_time_s:.2f} s "
                f"({workers} workers)"
            )
        if schedule:
            for row in doc["schedule"]:
                typer.echo(
                    f"  job {row['job']} op {row['operation']}: machine {row['machine']} "
                    f"[{row['start']}, {row['end']})"
                )
    if not result.has_schedule:
        raise typer.Exit(1)


def _register_subcommands() -> None:
    # Late import: the plant commands need the database layer, solve-instance does not.
    from opencxo.manufacturing import cli_batches, cli_data

    cli_data.register(mfg_app)
    cli_batches.register(mfg_app)


_register_subcommands()
