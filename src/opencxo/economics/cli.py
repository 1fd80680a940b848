"""``opencxo econ``: R&D economics from published reference data.

Thin: numbers come from ``economics.reference`` (data files) and ``economics.engine``; heavy
imports wait until a command runs so the rest of the CLI starts fast.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from opencxo.core.errors import OpenCXOError

if TYPE_CHECKING:
    from opencxo.economics.engine.cost import CostPerApproval
    from opencxo.economics.reference import CostPreset

econ_app = typer.Typer(
    help="R&D economics: cost per approved drug and reference data.", no_args_is_help=True
)

F = TypeVar("F", bound=Callable[..., Any])


def _user_errors(func: F) -> F:
    """A user's mistake is one line on stderr and exit code 1, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (OpenCXOError, ValueError) as exc:
            message = exc.message if isinstance(exc, OpenCXOError) else str(exc)
            typer.echo(f"error: {' '.join(message.split())}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _musd(value: float) -> float:
    return round(value, 1)


def cost_report(
    preset: CostPreset, result: CostPerApproval, discount_rate: float
) -> dict[str, Any]:
    """The JSON document of ``econ cost-per-approval`` ($M to 0.1, probabilities to 4 places)."""
    report: dict[str, Any] = {
        "preset": preset.name,
        "currency": preset.currency,
        "discount_rate": discount_rate,
        "success_rate": round(result.success_rate, 4),
        "expected_clinical_cost_per_entrant_musd": _musd(
            result.expected_clinical_cost_per_entrant_musd
        ),
        "out_of_pocket_clinical_musd": _musd(result.out_of_pocket_clinical_musd),
        "out_of_pocket_preclinical_musd": _musd(result.out_of_pocket_preclinical_musd),
        "out_of_pocket_total_musd": _musd(result.out_of_pocket_total_musd),
        "capitalized_preclinical_musd": _musd(result.capitalized_preclinical_musd),
        "capitalized_clinical_musd": _musd(result.capitalized_clinical_musd),
        "capitalized_total_musd": _musd(result.capitalized_total_musd),
        "phases": [
            {
                "name": phase.name,
                "probability_of_reaching": round(phase.probability_of_reaching, 4),
                "expected_cost_per_entrant_musd": _musd(phase.expected_cost_per_entrant_musd),
                "out_of_pocket_per_approval_musd": _musd(phase.out_of_pocket_per_approval_musd),
                "capitalization_factor": round(phase.capitalization_factor, 4),
                "capitalized_per_approval_musd": _musd(phase.capitalized_per_approval_musd),
            }
            for phase in result.phases
        ],
        "citation": preset.citation,
    }
    if discount_rate == preset.inputs.discount_rate and preset.published_musd:
        report["published_musd"] = dict(preset.published_musd)
    return report


@econ_app.command("cost-per-approval")
@_user_errors
def cost_per_approval_command(
    preset: Annotated[str, typer.Option(help="published inputs to use: dimasi2016")] = "dimasi2016",
    discount_rate: Annotated[
        float | None,
        typer.Option(help="real annual cost of capital as a fraction (default: the preset's)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Out-of-pocket and capitalised cost per approved drug (DiMasi method), in $M."""
    from opencxo.economics.engine.cost import cost_per_approval
    from opencxo.economics.reference import cost_preset

    chosen = cost_preset(preset)
    inputs = chosen.inputs
    if discount_rate is not None:
        inputs = dataclasses.replace(inputs, discount_rate=discount_rate)
    report = cost_report(chosen, cost_per_approval(inputs), inputs.discount_rate)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    _print_cost(report)


def _print_cost(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    published = report.get("published_musd", {})
    rate = report["discount_rate"]
    summary = Table(
        title=(
            f"Cost per approved drug, preset {report['preset']} "
            f"({report['currency']}, $M, real rate {rate:.1%})"
        )
    )
    summary.add_column("")
    summary.add_column("ours", justify="right")
    summary.add_column("published", justify="right")
    summary.add_row("success rate", f"{report['success_rate']:.2%}", "")
    for label, key in (
        ("out of pocket, clinical", "out_of_pocket_clinical"),
        ("out of pocket, pre-human", "out_of_pocket_preclinical"),
        ("out of pocket, total", "out_of_pocket_total"),
        ("capitalised, pre-human", "capitalized_preclinical"),
        ("capitalised, clinical", "capitalized_clinical"),
        ("capitalised, total", "capitalized_total"),
    ):
        shown = published.get(key)
        summary.add_row(
            label, f"{report[key + '_musd']:,.1f}", "" if shown is None else f"{shown:,.1f}"
        )
    console.print(summary)

    phases = Table(title="By phase")
    for column in (
        "phase",
        "P(reach)",
        "expected per entrant",
        "out of pocket / approval",
        "factor",
        "capitalised / approval",
    ):
        phases.add_column(
            column, justify="left" if column == "phase" else "right", no_wrap=column == "phase"
        )
    for phase in report["phases"]:
        phases.add_row(
            phase["name"],
            f"{phase['probability_of_reaching']:.4f}",
            f"{phase['expected_cost_per_entrant_musd']:,.1f}",
            f"{phase['out_of_pocket_per_approval_musd']:,.1f}",
            f"{phase['capitalization_factor']:.3f}",
            f"{phase['capitalized_per_approval_musd']:,.1f}",
        )
    console.print(phases)
    console.print(f"Source: {report['citation']}", style="dim")


@econ_app.command("reference")
@_user_errors
def reference_command(
    area: Annotated[
        str, typer.Option(help="therapeutic area, e.g. oncology (an unknown one lists them all)")
    ] = "all_indications",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """BIO/Informa/QLS 2011–2020 phase transition probabilities, durations and LOA of an area."""
    from opencxo.economics import reference

    success = reference.phase_success(area)
    durations = (
        reference.phase_durations(area) if area in reference.phase_duration_areas() else None
    )
    report: dict[str, Any] = {
        "area": area,
        "transition_probabilities": {
            "p1_to_p2": success.p1_to_p2,
            "p2_to_p3": success.p2_to_p3,
            "p3_to_nda": success.p3_to_nda,
            "nda_to_approval": success.nda_to_approval,
        },
        "loa_from_p1": round(success.loa, 4),
        "published_loa_from_p1": success.published_loa,
        "durations_years": None
        if durations is None
        else {
            "phase1": durations.phase1_years,
            "phase2": durations.phase2_years,
            "phase3": durations.phase3_years,
            "regulatory": durations.regulatory_years,
            "total": durations.total_years,
        },
        "citation": success.citation,
        "durations_citation": None if durations is None else durations.citation,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"BIO 2011–2020, {area}")
    for column in ("transition", "probability", "mean duration (years)"):
        table.add_column(column, justify="left" if column == "transition" else "right")
    years = report["durations_years"] or {}
    for label, key, phase in (
        ("Phase I → II", "p1_to_p2", "phase1"),
        ("Phase II → III", "p2_to_p3", "phase2"),
        ("Phase III → NDA/BLA", "p3_to_nda", "phase3"),
        ("NDA/BLA → approval", "nda_to_approval", "regulatory"),
    ):
        shown = years.get(phase)
        table.add_row(
            label,
            f"{report['transition_probabilities'][key]:.1%}",
            "n/a" if shown is None else f"{shown:.1f}",
        )
    total = years.get("total")
    table.add_row(
        "LOA from Phase I",
        f"{success.loa:.2%} (published {success.published_loa:.1%})",
        "n/a" if total is None else f"{total:.1f}",
    )
    console = Console()
    console.print(table)
    if durations is None:
        console.print(f"No published durations for {area}.", style="dim")
    console.print(f"Source: {success.citation}", style="dim")
