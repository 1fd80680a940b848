"""``opencxo mfg``: manufacturing scheduling from the command line (``solve-instance`` needs no
database; ``plan`` and ``schedule`` act on the plant's rows as ``--as EMAIL``).

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


@mfg_app.command("plan")
def plan_command(
    order_id: Annotated[str, typer.Argument(metavar="ORDER_ID", help="production order id")],
    as_email: Annotated[str, typer.Option("--as", help="e-mail of the acting user")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Plan an order's batches (its product and the intermediates of its bill of materials)."""
    import uuid

    from opencxo.cli_support import acting_principal, fail, unit_of_work_from_settings
    from opencxo.core.errors import OpenCXOError
    from opencxo.manufacturing import planning

    try:
        oid = uuid.UUID(order_id)
    except ValueError:
        raise fail(f"ORDER_ID {order_id!r} is not a UUID") from None
    try:
        with unit_of_work_from_settings() as session:
            batches = planning.plan_order(session, acting_principal(session, as_email), oid)
    except OpenCXOError as exc:
        raise fail(exc.message) from None
    rows = [b.model_dump(mode="json") for b in batches]
    if as_json:
        typer.echo(json.dumps({"order_id": order_id, "batches": rows}))
        return
    typer.echo(f"{len(rows)} batches:")
    for b in batches:
        typer.echo(
            f"  {b.batch_number:<16} {b.product_code:<10} {b.planned_quantity} {b.unit} ({b.status})"
        )


@mfg_app.command("schedule")
def schedule_command(
    plant_id: Annotated[str, typer.Argument(metavar="PLANT_ID", help="plant (site) id")],
    as_email: Annotated[str, typer.Option("--as", help="e-mail of the acting user")],
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="seconds (1 to 600)", min=1, max=600)
    ] = 30.0,
    workers: Annotated[int, typer.Option(help="CP-SAT workers (threads)", min=1, max=8)] = 2,
    warm_start: Annotated[
        bool, typer.Option("--warm-start/--no-warm-start", help="start from the current schedule")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Solve the plant's schedule here and now (the same job the web UI queues) and store it."""
    import threading
    import time
    import uuid

    from opencxo.cli_progress import native_output_to_stderr, progress_bar
    from opencxo.cli_support import acting_principal, fail, unit_of_work_from_settings
    from opencxo.core.db import get_engine, session_factory
    from opencxo.core.errors import OpenCXOError
    from opencxo.manufacturing import scheduling
    from opencxo.manufacturing.schedule_schemas import ScheduleRequest

    try:
        pid = uuid.UUID(plant_id)
    except ValueError:
        raise fail(f"PLANT_ID {plant_id!r} is not a UUID") from None
    body = ScheduleRequest(time_limit_s=time_limit, workers=workers, warm_start=warm_start)
    try:
        with unit_of_work_from_settings() as session:
            principal = acting_principal(session, as_email)
            queued = scheduling.request_schedule(session, principal, pid, body)
    except OpenCXOError as exc:
        raise fail(exc.message) from None
    latest: dict[str, Any] = {}

    def listener(_elapsed: float, item: dict[str, Any]) -> None:
        latest.update(item)

    done = threading.Event()
    with progress_bar(f"solving (limit {time_limit:g} s)") as update:
        ticker = None
        if update is not None:
            started = time.monotonic()

            def tick() -> None:
                while not done.wait(0.2):
                    elapsed = min(time_limit, time.monotonic() - started)
                    update(int(elapsed * 10), int(time_limit * 10))

            ticker = threading.Thread(target=tick, daemon=True)
            ticker.start()
        try:
            with native_output_to_stderr():
                scheduling.run_schedule(queued.id, session_factory(get_engine()), listener=listener)
        finally:
            done.set()
            if ticker is not None:
                ticker.join()
    with unit_of_work_from_settings() as session:
        result = scheduling.get_schedule(session, acting_principal(session, as_email), queued.id)
    doc = {
        "schedule_id": str(result.id),
        "status": result.status,
        "solver_status": result.solver_status,
        "objective_name": result.objective_name,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "makespan_hours": result.makespan_hours,
        "weighted_tardiness": result.weighted_tardiness,
        "wall_time_s": result.wall_time_s,
        "operations": result.operation_count,
        "is_current": result.is_current,
        "late_orders": [o.model_dump(mode="json") for o in result.late_orders],
        "reasons": result.reasons,
        "message": result.message,
    }
    if as_json:
        typer.echo(json.dumps(doc))
    else:
        typer.echo(f"schedule {result.id}: {result.status}, solver {result.solver_status}")
        if result.objective is not None:
            typer.echo(
                f"  objective ({result.objective_name}) {result.objective:g}, bound "
                f"{result.bound:g}, gap {100 * (result.gap or 0):.2f} %"
            )
            typer.echo(
                f"  makespan {result.makespan_hours:g} h, weighted tardiness "
                f"{result.weighted_tardiness:g} priority x h, {result.wall_time_s:.2f} s"
            )
        for o in result.late_orders:
            typer.echo(f"  late: {o.order_number} due {o.due_date}, {o.days_late:g} days late")
        for reason in result.reasons:
            typer.echo(f"  {reason}")
        if result.message:
            typer.echo(f"  {result.message}")
    if result.status == "failed" or result.solver_status not in ("OPTIMAL", "FEASIBLE"):
        raise typer.Exit(1)


def _register_subcommands() -> None:
    # Late import: the plant commands need the database layer, solve-instance does not.
    from opencxo.manufacturing import cli_batches, cli_data

    cli_data.register(mfg_app)
    cli_batches.register(mfg_app)


_register_subcommands()
