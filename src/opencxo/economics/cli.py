"""``opencxo econ``: R&D economics from published reference data.

Thin: numbers come from ``economics.reference`` (data files) and ``economics.engine``; heavy
imports wait until a command runs so the rest of the CLI starts fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from opencxo.cli_progress import native_output_to_stderr, progress_bar
from opencxo.core.errors import OpenCXOError

if TYPE_CHECKING:
    from opencxo.economics.engine.cost import CostPerApproval
    from opencxo.economics.reference import CostPreset

econ_app = typer.Typer(
    help="R&D economics: cost per approved drug, rNPV with the patent cliff, outsourcing "
    "comparisons, portfolio choice, reference data.",
    no_args_is_help=True,
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
    from opencxo.economics import service

    chosen, result = service.cost_per_approval_of(preset, discount_rate)
    rate = chosen.inputs.discount_rate if discount_rate is None else discount_rate
    report = cost_report(chosen, result, rate)
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


# --- valuation: rNPV, comparison, sensitivity, portfolio ---------------------------------------

ScenarioFile = Annotated[
    Path, typer.Argument(help="scenario file (YAML or JSON; see docs/economics-scenarios.md)")
]
Trials = Annotated[int, typer.Option(help="Monte Carlo trials", min=1_000, max=10_000_000)]
Seed = Annotated[int, typer.Option(help="random seed: the same seed gives the same answer", min=0)]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def _dump(model: Any) -> None:
    typer.echo(model.model_dump_json(indent=2))


def _m(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


@econ_app.command("rnpv")
@_user_errors
def rnpv_command(
    scenario: ScenarioFile,
    trials: Trials = 100_000,
    seed: Seed = 2026,
    as_json: AsJson = False,
) -> None:
    """Risk-adjusted NPV of one program by Monte Carlo, with the patent cliff ($M)."""
    from opencxo.economics import service
    from opencxo.economics.schemas import ValuationRequest

    spec = service.load_scenario(scenario)
    with progress_bar(f"Valuing {spec.name}") as progress:
        report = service.value_scenario(
            spec, ValuationRequest(trials=trials, seed=seed), progress=progress
        )
    if as_json:
        _dump(report)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.scenario}: rNPV ({report.trials:,} trials, seed {report.seed})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = (
        ("rNPV mean, $M", f"{_m(report.rnpv_mean_musd)} ± {report.rnpv_standard_error_musd:.1f}"),
        ("rNPV P5 / P50 / P95, $M", " / ".join(_m(v) for v in (report.rnpv_p05_musd, report.rnpv_p50_musd, report.rnpv_p95_musd))),
        ("probability of approval", f"{report.probability_of_approval:.1%} (analytic {report.analytic_probability_of_approval:.1%})"),
        ("expected development cost, $M", f"{_m(report.expected_cost_musd)} (PV {_m(report.expected_cost_pv_musd)})"),
        ("launch P50 (if approved)", str(report.launch_date_p50 or "—")),
        ("exclusivity ends, years from now", f"{report.exclusivity_ends_years:.1f}"),
        ("expected years of protected sales", f"{report.expected_protected_years:.2f}"),
    )  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    console = Console()
    console.print(table)
    for phase in report.phases:
        console.print(f"{phase.name}: " + "; ".join(phase.sources), style="dim")


@econ_app.command("compare")
@_user_errors
def compare_command(
    base: ScenarioFile,
    alternative: ScenarioFile,
    trials: Trials = 100_000,
    seed: Seed = 2026,
    as_json: AsJson = False,
) -> None:
    """Two scenarios of one program on the same random draws: deltas with 95 % intervals."""
    from opencxo.economics import service
    from opencxo.economics.schemas import ValuationRequest

    first, second = service.load_scenario(base), service.load_scenario(alternative)
    with progress_bar(f"Comparing {first.name} and {second.name}") as progress:
        report = service.compare_scenarios(
            first, second, ValuationRequest(trials=trials, seed=seed), progress=progress
        )
    if as_json:
        _dump(report)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.alternative} vs {report.base} ({report.trials:,} paired trials)")
    for column in ("measure", "base", "alternative", "difference", "95 % interval"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for d in report.deltas:
        table.add_row(
            f"{d.name} ({d.unit})",
            f"{d.base:,.3f}",
            f"{d.alternative:,.3f}",
            f"{d.difference:+,.3f}",
            f"[{d.ci_low:,.3f}, {d.ci_high:,.3f}]",
        )
    Console().print(table)


@econ_app.command("tornado")
@_user_errors
def tornado_command(
    scenario: ScenarioFile,
    trials: Trials = 20_000,
    seed: Seed = 2026,
    swing: Annotated[
        float, typer.Option(help="± share for scalar inputs", min=0.01, max=0.9)
    ] = 0.2,
    as_json: AsJson = False,
) -> None:
    """One-at-a-time sensitivity of the rNPV to every input, widest first."""
    from opencxo.economics import service
    from opencxo.economics.schemas import ValuationRequest

    spec = service.load_scenario(scenario)
    with progress_bar(f"Sensitivity of {spec.name}") as progress:
        report = service.sensitivity(
            spec, ValuationRequest(trials=trials, seed=seed), swing=swing, progress=progress
        )
    if as_json:
        _dump(report)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.scenario}: rNPV {report.base_rnpv_musd:,.1f} $M — tornado")
    for column in ("input", "low → high", "rNPV low", "rNPV high", "range"):
        table.add_column(column, justify="left" if column == "input" else "right")
    for bar in report.bars:
        table.add_row(
            bar.label,
            f"{bar.low_value:g} → {bar.high_value:g}",
            _m(bar.rnpv_low_musd),
            _m(bar.rnpv_high_musd),
            _m(bar.range_musd),
        )
    Console().print(table)


@econ_app.command("portfolio")
@_user_errors
def portfolio_command(
    portfolio: Annotated[Path, typer.Argument(help="portfolio file (YAML or JSON)")],
    as_json: AsJson = False,
) -> None:
    """Which programs to fund, and how, within the yearly budgets (an exact MILP)."""
    from opencxo.economics import service

    spec = service.load_portfolio(portfolio)
    with progress_bar(f"Valuing the options of {spec.name}") as progress, native_output_to_stderr():
        report = service.portfolio(spec, progress=progress)
    if as_json:
        _dump(report)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{report.name}: {report.status}, expected value {report.objective_musd:,.1f} $M"
    )
    for column in ("program", "option", "rNPV", "P(approval)", "funded"):
        table.add_column(column, justify="left" if column in ("program", "option") else "right")
    for option in report.options:
        table.add_row(
            option.program,
            option.option,
            _m(option.rnpv_mean_musd),
            f"{option.probability_of_approval:.1%}",
            "✔" if option.chosen else "",
        )
    console = Console()
    console.print(table)
    spend = ", ".join(
        f"y{i + 1} {s:,.1f}/{b:,.1f}"
        for i, (s, b) in enumerate(
            zip(report.spend_by_year_musd, report.budget_by_year_musd, strict=True)
        )
    )
    console.print(f"Spend / budget by year ($M): {spend}")
    console.print(f"Expected approvals: {report.expected_approvals:.2f}")
