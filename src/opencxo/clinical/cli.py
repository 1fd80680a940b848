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

from opencxo.cli_progress import progress_bar

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
