"""``opencxo clinical``: enrollment forecasts from a sites file (no database needed).

Thin: the CSV is read by :mod:`opencxo.clinical.sites_csv`, the numbers come from
:mod:`opencxo.clinical.engine`; heavy imports wait until a command runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from opencxo.cli_progress import native_output_to_stderr, progress_bar

clinical_app = typer.Typer(
    help="Clinical operations: Poisson–gamma enrollment forecasts.", no_args_is_help=True
)

F = TypeVar("F", bound=Callable[..., Any])


def _user_errors(func: F) -> F:
    """A user's mistake is one line on stderr and exit code 1, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ValueError as exc:
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{option} {value!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


@clinical_app.command("forecast")
@_user_errors
def forecast_command(
    sites_csv: Annotated[
        Path,
        typer.Argument(
            metavar="SITES.csv",
            help="site_id,country,activation_date,enrolled[,planned_activation_date][,region]",
        ),
    ],
    target: Annotated[int, typer.Option(help="total patients to enroll (all sites)", min=1)],
    as_of: Annotated[
        str | None, typer.Option(help="date of the enrollment counts, YYYY-MM-DD (default today)")
    ] = None,
    deadline: Annotated[
        str | None, typer.Option(help="date the target should be reached, YYYY-MM-DD")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same answer)", min=0)] = 2026,
    paths: Annotated[int, typer.Option(help="Monte Carlo paths", min=100, max=10_000_000)] = 20_000,
    horizon_years: Annotated[float, typer.Option(help="years simulated", min=0.1, max=50)] = 5.0,
    alpha: Annotated[
        float | None,
        typer.Option(help="fix the site-rate shape α instead of estimating it"),
    ] = None,
    prior_rate_per_month: Annotated[
        float | None,
        typer.Option(
            help="design stage: mean patients per site per month (used when nobody has "
            "enrolled yet, with α from --alpha or 2)"
        ),
    ] = None,
    plug_in: Annotated[
        bool,
        typer.Option(
            "--plug-in", help="ignore the parameters' uncertainty (narrower, under-covers)"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Forecast the date the enrollment target is reached (Poisson–gamma model)."""
    from opencxo.clinical.engine.fit import FitError
    from opencxo.clinical.engine.forecast import forecast
    from opencxo.clinical.forecast_inputs import build_forecast_inputs
    from opencxo.clinical.sites_csv import read_sites_csv

    table = read_sites_csv(sites_csv)
    as_of_date = _parse_date(as_of, "--as-of") or datetime.now().astimezone().date()
    deadline_date = _parse_date(deadline, "--deadline")
    sites = table.sites(as_of_date)
    enrolled_to_date = sum(s.enrolled for s in sites)
    if enrolled_to_date >= target:
        raise ValueError(f"--target {target}: {enrolled_to_date} patients are enrolled already")
    active = [s for s in sites if s.is_active]
    try:
        inputs, fit = build_forecast_inputs(
            sites,
            as_of=as_of_date,
            target=target,
            deadline_day=None
            if deadline_date is None
            else float((deadline_date - as_of_date).days),
            horizon_days=horizon_years * 365.25,
            alpha=alpha,
            prior_rate_per_month=prior_rate_per_month,
            plug_in=plug_in,
        )
    except FitError as exc:
        raise ValueError(f"{exc} (--prior-rate-per-month)") from None
    with progress_bar("Forecasting enrollment") as progress:
        result = forecast(inputs, paths, seed, progress=progress)
    c = result.completion
    report: dict[str, Any] = {
        "as_of": as_of_date.isoformat(),
        "target": target,
        "enrolled_to_date": enrolled_to_date,
        "sites_open": len(active),
        "sites_planned": len(sites) - len(active),
        "alpha": round(result.alpha, 6),
        "beta": round(result.beta_days, 6),
        "beta_unit": "days",
        "mean_rate_per_site_per_month": round(result.alpha / result.beta_days * 365.25 / 12, 6),
        "alpha_standard_error": None if fit is None else round(fit.alpha_standard_error, 6),
        "beta_standard_error": None if fit is None else round(fit.beta_standard_error_days, 6),
        "alpha_at_bound": None if fit is None else fit.alpha_at_bound,
        "parameter_uncertainty": result.parameter_uncertainty,
        "completion_date_p10": _iso(result.date_of(c.p10_days)),
        "completion_date_p50": _iso(result.date_of(c.p50_days)),
        "completion_date_p90": _iso(result.date_of(c.p90_days)),
        "completion_date_mean": _iso(result.date_of(c.mean_days)),
        "fraction_not_reached_within_horizon": round(c.fraction_not_reached, 6),
        "horizon_date": _iso(result.date_of(inputs.horizon_days)),
        "paths": paths,
        "seed": seed,
    }
    if deadline_date is not None:
        report["deadline"] = deadline_date.isoformat()
        assert result.probability_by_deadline is not None
        report["probability_by_deadline"] = round(result.probability_by_deadline, 6)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table_out = Table(
        title=f"Enrollment forecast as of {report['as_of']} "
        f"({paths:,} paths, seed {seed}; target {target})"
    )
    table_out.add_column("measure")
    table_out.add_column("value", justify="right")
    for key, value in report.items():
        if key in ("as_of", "paths", "seed", "target", "beta_unit"):
            continue
        shown = "—" if value is None else str(value)
        if key == "beta":
            shown += " days"
        table_out.add_row(key.replace("_", " "), shown)
    Console().print(table_out)


@clinical_app.command("recover")
@_user_errors
def recover_command(
    sites_csv: Annotated[
        Path,
        typer.Argument(
            metavar="SITES.csv",
            help="as for 'forecast', optionally with monthly_cost,cost_per_patient columns",
        ),
    ],
    offers_csv: Annotated[
        Path,
        typer.Argument(
            metavar="OFFERS.csv",
            help="offer_id,country,expected_rate_per_site_per_month,activation_lag_days,"
            "startup_cost_per_site,monthly_cost_per_site,cost_per_patient,capacity_sites"
            "[,name][,region][,currency]",
        ),
    ],
    target: Annotated[int, typer.Option(help="total patients to enroll (all sites)", min=1)],
    deadline: Annotated[str, typer.Option(help="date the target should be reached, YYYY-MM-DD")],
    confidence: Annotated[
        float, typer.Option(help="required P(target by the deadline)", min=0.5, max=0.99)
    ] = 0.8,
    as_of: Annotated[
        str | None, typer.Option(help="date of the enrollment counts, YYYY-MM-DD (default today)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same plan)", min=0)] = 2026,
    paths: Annotated[
        int, typer.Option(help="Monte Carlo paths per verification", min=1_000, max=1_000_000)
    ] = 20_000,
    no_closing: Annotated[
        bool, typer.Option("--no-closing", help="only add sites, never close one")
    ] = False,
    closing_cost: Annotated[
        float,
        typer.Option(
            "--closing-cost",
            metavar="AMOUNT",
            help="one-off cost of closing a site (close-out visit, archiving), in the offers' "
            "currency: a closure saves its costs to the deadline less this",
            min=0.0,
            max=10_000_000.0,
        ),
    ] = 0.0,
    alpha: Annotated[
        float | None, typer.Option(help="fix the site-rate shape α instead of estimating it")
    ] = None,
    prior_rate_per_month: Annotated[
        float | None,
        typer.Option(help="design stage: mean patients per site per month (nobody enrolled)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Plan the cheapest sites to add (from OFFERS.csv) and to close so that P(target by the
    deadline) reaches the confidence, verified by simulation."""
    from dataclasses import replace

    from opencxo.clinical.engine.fit import FitError
    from opencxo.clinical.engine.recovery import RecoveryProblem, plan_recovery
    from opencxo.clinical.forecast_inputs import build_forecast_inputs
    from opencxo.clinical.recovery_csv import read_offers_csv, read_site_costs
    from opencxo.clinical.sites_csv import read_sites_csv

    table = read_sites_csv(sites_csv)
    costs = tuple(replace(c, closing_cost=closing_cost) for c in read_site_costs(sites_csv))
    offers = read_offers_csv(offers_csv)
    as_of_date = _parse_date(as_of, "--as-of") or datetime.now().astimezone().date()
    deadline_date = _parse_date(deadline, "--deadline")
    assert deadline_date is not None
    if deadline_date <= as_of_date:
        raise ValueError(
            f"--deadline {deadline_date.isoformat()} is not after the as-of date "
            f"{as_of_date.isoformat()}"
        )
    sites = table.sites(as_of_date)
    enrolled_to_date = sum(s.enrolled for s in sites)
    if enrolled_to_date >= target:
        raise ValueError(f"--target {target}: {enrolled_to_date} patients are enrolled already")
    try:
        inputs, _ = build_forecast_inputs(
            sites,
            as_of=as_of_date,
            target=target,
            deadline_day=float((deadline_date - as_of_date).days),
            alpha=alpha,
            prior_rate_per_month=prior_rate_per_month,
        )
    except FitError as exc:
        raise ValueError(f"{exc} (--prior-rate-per-month)") from None
    problem = RecoveryProblem(
        inputs=inputs,
        offers=offers.offers,
        site_costs=costs,
        confidence=confidence,
        allow_closing=not no_closing,
    )
    with progress_bar("Planning the recovery") as progress, native_output_to_stderr():
        plan = plan_recovery(
            problem,
            paths=paths,
            rng=seed,
            progress=None if progress is None else (lambda done, total, _: progress(done, total)),
        )

    def dates(result: Any) -> dict[str, str | None]:
        c = result.completion
        return {f"p{p}": _iso(result.date_of(getattr(c, f"p{p}_days"))) for p in (10, 50, 90)}

    report: dict[str, Any] = {
        "status": plan.status,
        "message": plan.message,
        "as_of": as_of_date.isoformat(),
        "deadline": deadline_date.isoformat(),
        "target": target,
        "enrolled_to_date": enrolled_to_date,
        "confidence": confidence,
        "currency": offers.currency,
        "closing_cost_per_site": round(closing_cost, 2),
        "added": [
            {
                "offer_id": a.offer_id,
                "name": offers.names[a.offer_id],
                "country": next(o.country for o in offers.offers if o.offer_id == a.offer_id),
                "sites": a.sites,
                "expected_patients_by_deadline": round(a.expected_patients_by_deadline, 3),
                "cost": round(a.cost, 2),
            }
            for a in plan.added
            if a.sites > 0
        ],
        "closed": [
            {
                "site_id": c.site_id,
                "expected_patients_lost": round(c.expected_patients_lost, 3),
                "saving": round(c.saving, 2),
            }
            for c in plan.closed
        ],
        "sites_added": sum(a.sites for a in plan.added),
        "added_cost": round(plan.added_cost, 2),
        "savings": round(plan.savings, 2),
        "net_cost": round(plan.net_cost, 2),
        "probability_before": round(plan.probability_before, 6),
        "probability_after": round(plan.probability_after, 6),
        "probability_approximation": round(plan.probability_approximation, 6),
        "completion_before": dates(plan.before),
        "completion_after": dates(plan.after),
        "rounds": plan.rounds,
        "paths": paths,
        "seed": seed,
        "wall_time_s": round(plan.wall_time_s, 3),
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{plan.status}[/bold]: {plan.message}")
    unit = f" {offers.currency}" if offers.currency else ""
    added = Table(title="Sites to add")
    for column in ("offer", "country", "sites", "expected patients by deadline", "cost"):
        added.add_column(column, justify="right" if column != "offer" else "left")
    for a in report["added"]:
        added.add_row(
            a["name"], a["country"], str(a["sites"]),
            f"{a['expected_patients_by_deadline']:.1f}", f"{a['cost']:,.2f}{unit}",
        )  # fmt: skip
    console.print(added)
    if report["closed"]:
        note = f" (savings net of a close-out cost of {closing_cost:,.2f}{unit} per site)"
        closed = Table(title="Sites to close" + (note if closing_cost else ""))
        for column in ("site", "expected patients lost", "saving"):
            closed.add_column(column, justify="right" if column != "site" else "left")
        for c in report["closed"]:
            closed.add_row(
                c["site_id"], f"{c['expected_patients_lost']:.1f}", f"{c['saving']:,.2f}{unit}"
            )
        console.print(closed)
    summary = Table(title=f"Before and with the plan ({paths:,} paths, seed {seed})")
    summary.add_column("measure")
    summary.add_column("before", justify="right")
    summary.add_column("with the plan", justify="right")
    summary.add_row(
        f"P({target} by {report['deadline']})",
        f"{report['probability_before']:.3f}",
        f"{report['probability_after']:.3f}",
    )
    for p in ("p10", "p50", "p90"):
        summary.add_row(
            f"completion {p.upper()}",
            report["completion_before"][p] or "—",
            report["completion_after"][p] or "—",
        )
    summary.add_row("net cost", "", f"{report['net_cost']:,.2f}{unit}")
    console.print(summary)
