"""``opencxo chem``: route metrics from route files, and the organisation's stored routes.

The file commands (``atom-economy``, ``evaluate``, ``compare``, ``sensitivity``, ``schema``) need no
database; the stored ones (``import``, ``routes``, ``export`` …) act as a user (``--as EMAIL``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from opencxo.cli_support import user_errors
from opencxo.process_chemistry import cli_stored

if TYPE_CHECKING:
    from pydantic import BaseModel

    from opencxo.process_chemistry.schemas import ComparisonReport, EvaluationReport

# RDKit loads when a command runs (``service``), so the rest of the CLI starts fast.
DEFAULT_YIELD_CHANGE = 0.05  # as service.DEFAULT_YIELD_CHANGE
DEFAULT_PRICE_CHANGE = 0.2  # as service.DEFAULT_PRICE_CHANGE

chem_app = typer.Typer(
    help="Process chemistry: atom economy, PMI, E-factor, cost of goods and sensitivity of "
    "synthetic routes; compare routes; the stored route library.",
    no_args_is_help=True,
)

RouteArgument = Annotated[
    Path, typer.Argument(help="route file (.yaml, .yml or .json)", exists=False, dir_okay=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def dump(model: BaseModel) -> str:
    """A report as JSON: decimals as numbers (money to 1/100 of a cent)."""
    return json.dumps(model.model_dump(mode="python"), indent=2, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


@chem_app.command("atom-economy")
@user_errors
def atom_economy_command(
    reaction_smiles: Annotated[
        str, typer.Argument(help="reactants>>products; the first product is the desired one")
    ],
    as_json: JsonOption = False,
) -> None:
    """Atom economy of one reaction: MW(first product) ÷ Σ MW(everything left of '>>')."""
    from opencxo.process_chemistry import service

    report = service.atom_economy(reaction_smiles)
    if as_json:
        typer.echo(dump(report))
        return
    typer.echo(
        f"atom economy {report.atom_economy_percent:.1f} % — "
        f"{report.desired_product_formula} {report.product_weight_g_per_mol:.2f} g/mol from "
        f"{report.reactants_weight_g_per_mol:.2f} g/mol of reactants"
    )


@chem_app.command("evaluate")
@user_errors
def evaluate_command(
    route_file: RouteArgument,
    production_kg: Annotated[
        float | None,
        typer.Option(min=0.001, help="kg of final product to size raw materials for"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """PMI, E-factor, atom economy, yield, longest linear sequence and cost of goods of a route."""
    from opencxo.process_chemistry import service

    route = service.load_route(route_file)
    quantity = Decimal(repr(production_kg)) if production_kg is not None else None
    report = service.evaluate(route, production_kg=quantity)
    if as_json:
        typer.echo(dump(report))
        return
    _print_evaluation(report)


def _print_evaluation(report: EvaluationReport) -> None:
    console = Console()
    console.print(f"[bold]{report.name}[/bold] {report.product}")
    summary = Table(show_header=False, box=None)
    for label, value in (
        ("PMI", f"{report.pmi:.1f} kg/kg"),
        (
            "E-factor (without water)",
            f"{report.e_factor:.1f} ({report.e_factor_without_water:.1f})",
        ),
        ("Atom economy (net equation)", _pct(report.atom_economy_percent)),
        ("Overall yield (LLS)", f"{report.overall_yield * 100:.1f} %"),
        (
            "Steps / longest linear sequence",
            f"{report.step_count} / {report.longest_linear_sequence}",
        ),
        ("Cost of goods", f"{report.cogs_per_kg:,.2f} {report.currency}/kg"),
    ):
        summary.add_row(label, value)
    console.print(summary)
    steps = Table("step", "yield", "AE", "PMI step", "PMI cum.", f"cost {report.currency}/kg")
    for step in report.steps:
        steps.add_row(
            step.name,
            f"{step.yield_fraction * 100:.0f} %",
            _pct(step.atom_economy_percent),
            f"{step.pmi_step:.1f}",
            f"{step.pmi_cumulative:.1f}",
            f"{step.raw_material_cost_per_kg + step.conversion_cost_per_kg:,.2f}",
        )
    console.print(steps)


@chem_app.command("compare")
@user_errors
def compare_command(
    route_files: Annotated[list[Path], typer.Argument(help="two or more route files")],
    as_json: JsonOption = False,
) -> None:
    """Routes side by side: PMI, E-factor, atom economy, steps, yield, cost of goods."""
    from opencxo.process_chemistry import service

    report = service.compare_files([service.load_route(path) for path in route_files])
    if as_json:
        typer.echo(dump(report))
        return
    _print_comparison(report)


def _print_comparison(report: ComparisonReport) -> None:
    table = Table("metric", *[r.name for r in report.routes])
    for row in report.rows:
        cells = []
        for i, value in enumerate(row.values):
            text = "—" if value is None else f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
            cells.append(f"[bold]{text}[/bold]" if i in row.best else text)
        table.add_row(f"{row.label} ({row.unit})" if row.unit else row.label, *cells)
    Console().print(table)


@chem_app.command("sensitivity")
@user_errors
def sensitivity_command(
    route_file: RouteArgument,
    yield_change: Annotated[
        float, typer.Option(help="absolute change of each step's yield (0.05 = 5 points)")
    ] = DEFAULT_YIELD_CHANGE,
    price_change: Annotated[
        float, typer.Option(help="relative change of each price (0.2 = ±20 %)")
    ] = DEFAULT_PRICE_CHANGE,
    as_json: JsonOption = False,
) -> None:
    """Tornado: how COGS and PMI move with each step's yield and each material's price."""
    from opencxo.process_chemistry import service

    report = service.sensitivity(
        service.load_route(route_file), yield_change=yield_change, price_change=price_change
    )
    if as_json:
        typer.echo(dump(report))
        return
    table = Table("input", "low", "high", f"COGS at low ({report.currency}/kg)", "COGS at high")
    for bar in report.bars:
        table.add_row(
            bar.label,
            f"{bar.low_value:.4g}",
            f"{bar.high_value:.4g}",
            f"{bar.cogs_at_low:,.2f}",
            f"{bar.cogs_at_high:,.2f}",
        )
    Console().print(table)


@chem_app.command("schema")
def schema_command() -> None:
    """The JSON Schema of a route file."""
    from opencxo.process_chemistry import service

    typer.echo(json.dumps(service.route_schema(), indent=2, ensure_ascii=False))


cli_stored.register(chem_app)
