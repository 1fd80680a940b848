"""HTML pages of economics: valuation scenarios (list, new, valuation page with its charts),
the comparison of two scenarios, portfolios, and the card on a program's page.

Thin, like ``api.py``: every page reads and writes through ``opencxo.economics.stored``. Each
chart has a title, axis units and the table behind it as CSV / Excel downloads.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Invalid, NotFound, OpenCXOError
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import PageParams
from opencxo.economics import reference, service, stored
from opencxo.economics.records import (
    MAX_SEED,
    MAX_TRIALS,
    CompareRequest,
    PortfolioCreate,
    PortfolioRead,
    RunRequest,
    ScenarioCreate,
    ScenarioRead,
    ScenarioUpdate,
    TornadoRequest,
    ValuationRead,
    VariantCreate,
)
from opencxo.economics.schemas import (
    PHASE_ORDER,
    ComparisonReport,
    MoleculeType,
    PhaseName,
    PortfolioInput,
    ScenarioInput,
    TornadoReport,
    ValuationReport,
)
from opencxo.web.charts import plotly_figure as _figure
from opencxo.web.deps import FormData, PageUser, run_form
from opencxo.web.exports import csv_response, xlsx_response
from opencxo.web.pages import PLOTLY_JS
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]

PHASE_LABELS = service.PHASE_LABELS
HISTOGRAM_BINS = 40
DEFAULT_TRIALS = 20_000
DELTA_LABELS = {
    "rnpv_musd": "rNPV",
    "probability_of_approval": "Probability of approval",
    "expected_cost_musd": "Expected development cost",
    "expected_cost_pv_musd": "Expected development cost (present value)",
    "expected_protected_years": "Expected years of protected sales",
    "expected_protected_sales_musd": "Expected protected sales (undiscounted)",
    "launch_years": "Launch (years from the valuation date, approved trials)",
}
UNIT_LABELS = {"$M": "$M", "probability": "", "years": "years"}
TABLES = ("npv", "cash-flow", "launch", "phases", "cost", "tornado")
FORMATS = ("csv", "xlsx")


# --- helpers ------------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _table_response(
    name: str, fmt: str, title: str, headers: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> Response:
    if fmt == "xlsx":
        return xlsx_response(f"{name}.xlsx", title, headers, rows)
    return csv_response(f"{name}.csv", headers, rows)


def _split_name(name: str) -> tuple[str, str]:
    table, _, fmt = name.rpartition(".")
    if fmt not in FORMATS:
        raise NotFound(f"no such download: {name}")
    return table, fmt


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:60] or "scenario"


# --- tables behind the charts -------------------------------------------------------------------


def npv_bins(report: ValuationReport) -> list[tuple[float, float, int, float]]:
    """The NPV sample in equal bins: (from $M, to $M, trials, share of the sample)."""
    sample = report.npv_sample_musd
    if not sample:
        return []
    low, high = min(sample), max(sample)
    if high <= low:
        return [(low, high, len(sample), 1.0)]
    width = (high - low) / HISTOGRAM_BINS
    counts = [0] * HISTOGRAM_BINS
    for value in sample:
        counts[min(HISTOGRAM_BINS - 1, int((value - low) / width))] += 1
    return [
        (low + i * width, low + (i + 1) * width, c, c / len(sample)) for i, c in enumerate(counts)
    ]


def _npv_table(report: ValuationReport) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    headers = ("NPV from ($M)", "NPV to ($M)", "Trials", "Share of sampled trials")
    rows = [(round(a, 3), round(b, 3), c, round(s, 6)) for a, b, c, s in npv_bins(report)]
    return headers, rows


def _fan_table(report: ValuationReport) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    headers = (
        "Year",
        "Calendar year",
        "Mean net cash flow ($M)",
        "P10 ($M)",
        "Median ($M)",
        "P90 ($M)",
        "Expected development cost ($M)",
    )
    start = report.valuation_date.year
    costs = report.expected_cost_by_year_musd
    rows = [
        (
            b.year + 1,
            start + b.year,
            round(b.mean_musd, 4),
            round(b.p10_musd, 4),
            round(b.p50_musd, 4),
            round(b.p90_musd, 4),
            round(costs[b.year], 4) if b.year < len(costs) else None,
        )
        for b in report.cash_flow_fan
    ]
    return headers, rows


def _launch_table(report: ValuationReport) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    headers = (
        "Years from valuation date",
        "Calendar year",
        "Approved trials",
        "Share of all trials",
    )
    start = report.valuation_date.year
    rows = [
        (f"{k}–{k + 1}", start + k, count, round(count / report.trials, 6))
        for k, count in enumerate(report.launch_year_histogram)
    ]
    return headers, rows


def _phases_table(report: ValuationReport) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    headers = (
        "Phase",
        "Success probability",
        "Duration low (years)",
        "Duration mode (years)",
        "Duration high (years)",
        "Cost low ($M)",
        "Cost mode ($M)",
        "Cost high ($M)",
        "Sources",
    )
    rows = [
        (
            PHASE_LABELS.get(p.name, p.name),
            p.success_probability,
            p.duration_years.low,
            p.duration_years.mode,
            p.duration_years.high,
            p.cost_musd.low,
            p.cost_musd.mode,
            p.cost_musd.high,
            "; ".join(p.sources),
        )
        for p in report.phases
    ]
    return headers, rows


def _cost_table(report: ValuationReport) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    headers = ("Year", "Calendar year", "Expected development cost ($M)")
    start = report.valuation_date.year
    rows = [
        (k + 1, start + k, round(v, 4)) for k, v in enumerate(report.expected_cost_by_year_musd)
    ]
    return headers, rows


def _tornado_table(report: TornadoReport) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    headers = (
        "Input",
        "Base value",
        "Low value",
        "High value",
        "rNPV at low ($M)",
        "rNPV at high ($M)",
        "Range ($M)",
    )
    rows = [
        (
            b.label,
            b.base_value,
            b.low_value,
            b.high_value,
            round(b.rnpv_low_musd, 4),
            round(b.rnpv_high_musd, 4),
            round(b.range_musd, 4),
        )
        for b in report.bars
    ]
    return headers, rows


# --- charts -------------------------------------------------------------------------------------


def npv_chart(report: ValuationReport) -> dict[str, Any]:
    bins = npv_bins(report)
    sample = len(report.npv_sample_musd)
    lines = [
        ("P5", report.rnpv_p05_musd, "#6c757d", "dot"),
        ("Mean (rNPV)", report.rnpv_mean_musd, "#dc3545", "solid"),
        ("P95", report.rnpv_p95_musd, "#6c757d", "dot"),
    ]
    return _figure(
        f"NPV across trials ({sample:,} of {report.trials:,} trials shown)",
        "NPV of the program ($M, valuation date)",
        "Share of trials (%)",
        [
            {
                "type": "bar",
                "name": "Trials",
                "x": [(a + b) / 2 for a, b, _, _ in bins],
                "y": [s * 100 for _, _, _, s in bins],
                "width": [(b - a) * 0.95 for a, b, _, _ in bins],
                "marker": {"color": "#0d6efd"},
                "hovertemplate": "NPV ≈ %{x:,.0f} $M<br>%{y:.2f} % of trials<extra></extra>",
            },
            *[
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{label}: {value:,.1f} $M",
                    "x": [value, value],
                    "y": [0, max((s * 100 for *_, s in bins), default=1)],
                    "line": {"color": color, "dash": dash},
                }
                for label, value, color, dash in lines
            ],
        ],
        yaxis={"rangemode": "tozero"},
    )


def fan_chart(report: ValuationReport) -> dict[str, Any]:
    start = report.valuation_date.year
    years = [start + b.year for b in report.cash_flow_fan]
    fan = report.cash_flow_fan
    return _figure(
        "Net cash flow per year (P10–P90, median, mean)",
        "Calendar year",
        "Net cash flow ($M per year, undiscounted)",
        [
            {
                "type": "scatter",
                "mode": "lines",
                "name": "P10",
                "x": years,
                "y": [b.p10_musd for b in fan],
                "line": {"width": 0, "color": "rgba(13,110,253,0.3)"},
                "showlegend": False,
                "hovertemplate": "%{x}: P10 %{y:,.1f} $M<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "P10–P90 band",
                "x": years,
                "y": [b.p90_musd for b in fan],
                "fill": "tonexty",
                "fillcolor": "rgba(13,110,253,0.18)",
                "line": {"width": 0, "color": "rgba(13,110,253,0.3)"},
                "hovertemplate": "%{x}: P90 %{y:,.1f} $M<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Median",
                "x": years,
                "y": [b.p50_musd for b in fan],
                "line": {"color": "#0d6efd"},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Mean",
                "x": years,
                "y": [b.mean_musd for b in fan],
                "line": {"color": "#dc3545", "dash": "dash"},
            },
        ],
    )


def launch_chart(report: ValuationReport) -> dict[str, Any]:
    start = report.valuation_date.year
    counts = report.launch_year_histogram
    return _figure(
        "When the drug launches (approved trials)",
        "Calendar year of launch",
        "Share of all trials (%)",
        [
            {
                "type": "bar",
                "name": "Launches",
                "x": [start + k for k in range(len(counts))],
                "y": [c / report.trials * 100 for c in counts],
                "marker": {"color": "#198754"},
                "hovertemplate": "%{x}: %{y:.2f} % of trials<extra></extra>",
            }
        ],
        yaxis={"rangemode": "tozero"},
        showlegend=False,
    )


def tornado_chart(report: TornadoReport) -> dict[str, Any]:
    bars = sorted(report.bars, key=lambda b: b.range_musd)  # the widest on top
    base = report.base_rnpv_musd
    labels = [b.label for b in bars]
    return _figure(
        f"What moves the rNPV: each input ±{report.swing:.0%} (base {base:,.1f} $M)",
        "rNPV ($M)",
        "",
        [
            {
                "type": "bar",
                "orientation": "h",
                "name": "Input at its low value",
                "y": labels,
                "x": [b.rnpv_low_musd - base for b in bars],
                "base": base,
                "marker": {"color": "#dc3545"},
                "customdata": [[b.low_value, b.rnpv_low_musd] for b in bars],
                "hovertemplate": "%{y}<br>at %{customdata[0]:.4g}: %{customdata[1]:,.1f} $M"
                "<extra></extra>",
            },
            {
                "type": "bar",
                "orientation": "h",
                "name": "Input at its high value",
                "y": labels,
                "x": [b.rnpv_high_musd - base for b in bars],
                "base": base,
                "marker": {"color": "#198754"},
                "customdata": [[b.high_value, b.rnpv_high_musd] for b in bars],
                "hovertemplate": "%{y}<br>at %{customdata[0]:.4g}: %{customdata[1]:,.1f} $M"
                "<extra></extra>",
            },
        ],
        barmode="overlay",
        height=max(360, 28 * len(bars) + 140),
        margin={"l": 260},
        yaxis={"automargin": True},
    )


def compare_chart(report: ComparisonReport) -> dict[str, Any]:
    wanted = ("rnpv_musd", "expected_protected_sales_musd", "expected_cost_pv_musd")
    deltas = [d for d in report.deltas if d.name in wanted and math.isfinite(d.difference)]
    return _figure(
        f"{report.alternative} minus {report.base}, with {report.confidence:.0%} confidence intervals",
        "",
        "Difference ($M)",
        [
            {
                "type": "bar",
                "name": "Difference",
                "x": [DELTA_LABELS.get(d.name, d.name) for d in deltas],
                "y": [d.difference for d in deltas],
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [d.ci_high - d.difference for d in deltas],
                    "arrayminus": [d.difference - d.ci_low for d in deltas],
                },
                "marker": {
                    "color": ["#198754" if d.difference >= 0 else "#dc3545" for d in deltas]
                },
                "hovertemplate": "%{x}<br>%{y:,.2f} $M<extra></extra>",
            }
        ],
        showlegend=False,
    )


def spend_chart(report: PortfolioRead) -> dict[str, Any]:
    assert report.report is not None
    result = report.report
    years = [f"Year {k + 1}" for k in range(len(result.budget_by_year_musd))]
    return _figure(
        "Expected spend of the funded options vs budget, per year",
        "Plan year",
        "$M per year (undiscounted)",
        [
            {
                "type": "bar",
                "name": "Expected spend",
                "x": years,
                "y": result.spend_by_year_musd,
                "marker": {"color": "#0d6efd"},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Budget",
                "x": years,
                "y": result.budget_by_year_musd,
                "line": {"color": "#dc3545", "dash": "dash"},
            },
        ],
        yaxis={"rangemode": "tozero"},
    )


def approvals_chart(report: PortfolioRead) -> dict[str, Any]:
    assert report.report is not None
    pmf = report.report.approvals_pmf
    return _figure(
        f"How many approvals the funded portfolio brings (mean {report.report.expected_approvals:.2f})",
        "Number of approvals",
        "Probability (%)",
        [
            {
                "type": "bar",
                "name": "Probability",
                "x": list(range(len(pmf))),
                "y": [p * 100 for p in pmf],
                "marker": {"color": "#198754"},
                "hovertemplate": "%{x} approvals: %{y:.1f} %<extra></extra>",
            }
        ],
        xaxis={"dtick": 1},
        yaxis={"rangemode": "tozero"},
        showlegend=False,
    )


# --- the scenario form --------------------------------------------------------------------------


class ScenarioForm(BaseModel):
    """The few inputs of a scenario a person types; the rest takes the published defaults."""

    name: str = Field(min_length=1, max_length=200)
    program_id: uuid.UUID | None = None
    current_phase: PhaseName
    therapeutic_area: str = Field("all_indications", min_length=1)
    molecule_type: MoleculeType = "small_molecule"
    valuation_date: date | None = None
    patent_expiry: date | None = None
    loss_years_from_now: float | None = Field(None, ge=0)
    extension_years: float = Field(0.0, ge=0)
    peak_low: float = Field(ge=0)
    peak_mode: float = Field(ge=0)
    peak_high: float = Field(ge=0)
    years_to_peak: float = Field(5.0, gt=0)
    cogs_percent: float = Field(15.0, ge=0, lt=100)
    tax_percent: float = Field(21.0, ge=0, lt=100)
    discount_percent: float = Field(10.5, ge=0, le=100)
    launch_cost_musd: float = Field(0.0, ge=0)


# A field of the scenario file → the form field its error is shown next to.
FORM_FIELDS = {
    "name": "name",
    "program_id": "program_id",
    "current_phase": "current_phase",
    "therapeutic_area": "therapeutic_area",
    "molecule_type": "molecule_type",
    "valuation_date": "valuation_date",
    "exclusivity": "patent_expiry",
    "exclusivity.patent_expiry": "patent_expiry",
    "exclusivity.loss_years_from_now": "loss_years_from_now",
    "exclusivity.extension_years": "extension_years",
    "revenue": "peak_mode",
    "revenue.peak_sales_musd": "peak_mode",
    "revenue.years_to_peak": "years_to_peak",
    "cogs_share": "cogs_percent",
    "tax_rate": "tax_percent",
    "discount_rate": "discount_percent",
    "launch_cost_musd": "launch_cost_musd",
}


def _form_errors(errors: dict[str, str]) -> dict[str, str]:
    """Errors named after the scenario file's fields, moved next to the form's fields."""
    out: dict[str, str] = {}
    for field, message in errors.items():
        if field in ScenarioForm.model_fields:  # the form's own validation
            out.setdefault(field, message)
            continue
        key = field.removeprefix("spec.")
        target = FORM_FIELDS.get(key)
        if target is None:
            prefix = next((k for k in FORM_FIELDS if key.startswith(k + ".")), None)
            target = FORM_FIELDS[prefix] if prefix else None
        if target is None and key.startswith("revenue.peak_sales_musd"):
            target = "peak_mode"
        if target is None:
            out.setdefault("form", f"{key}: {message}" if key not in ("form", "file") else message)
        else:
            out.setdefault(target, message)
    return out


def spec_of_form(form: ScenarioForm) -> dict[str, Any]:
    """The scenario file a form describes (plain data, validated by the caller)."""
    exclusivity: dict[str, Any] = {"extension_years": form.extension_years}
    if form.patent_expiry is not None:
        exclusivity["patent_expiry"] = form.patent_expiry.isoformat()
    if form.loss_years_from_now is not None:
        exclusivity["loss_years_from_now"] = form.loss_years_from_now
    peak: Any = form.peak_mode
    if not form.peak_low == form.peak_mode == form.peak_high:
        peak = {"low": form.peak_low, "mode": form.peak_mode, "high": form.peak_high}
    data: dict[str, Any] = {
        "name": form.name,
        "therapeutic_area": form.therapeutic_area,
        "molecule_type": form.molecule_type,
        "current_phase": form.current_phase,
        "revenue": {"peak_sales_musd": peak, "years_to_peak": form.years_to_peak},
        "exclusivity": exclusivity,
        "cogs_share": form.cogs_percent / 100,
        "tax_rate": form.tax_percent / 100,
        "discount_rate": form.discount_percent / 100,
        "launch_cost_musd": form.launch_cost_musd,
    }
    if form.program_id is not None:
        data["program_id"] = str(form.program_id)
    if form.valuation_date is not None:
        data["valuation_date"] = form.valuation_date.isoformat()
    return data


def _create_from_form(session: Session, principal: Principal, form: ScenarioForm) -> ScenarioRead:
    spec = service.parse(ScenarioInput, spec_of_form(form), what="the scenario")
    return stored.create_scenario(session, principal, ScenarioCreate(spec=spec))


def _form_choices(session: Session, principal: Principal) -> dict[str, Any]:
    return {
        "programs": stored.my_programs(session, principal),
        "phases": [(p, PHASE_LABELS[p]) for p in PHASE_ORDER],
        "areas": reference.phase_success_areas(),
        "molecule_types": [("small_molecule", "Small molecule"), ("biologic", "Biologic")],
    }


FORM_DEFAULTS = {
    "current_phase": "phase_2",
    "therapeutic_area": "all_indications",
    "molecule_type": "small_molecule",
    "extension_years": "0",
    "years_to_peak": "5",
    "cogs_percent": "15",
    "tax_percent": "21",
    "discount_percent": "10.5",
    "launch_cost_musd": "0",
}


def _new_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    upload_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "economics/new_scenario.html",
        {
            "form": {**FORM_DEFAULTS, **(form or {})},
            "errors": errors or {},
            "upload_errors": upload_errors or {},
            "active": "scenarios",
            **_form_choices(session, principal),
        },
        status_code=status_code,
    )


# --- scenarios: list, new -----------------------------------------------------------------------


@router.get("/scenarios")
def scenarios_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    program_id: str = "",
) -> Response:
    program = uuid.UUID(program_id) if _is_uuid(program_id) else None
    page = stored.list_scenarios(session, principal, params=params, program_id=program)
    programs = dict(stored.my_programs(session, principal))
    return render(
        request,
        "economics/scenarios.html",
        {
            "page": page,
            "sort": params.sort or "",
            "program_id": str(program) if program else "",
            "programs": programs,
            "can_write": principal.can(Permission.PROGRAMS_WRITE),
            "active": "scenarios",
        },
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@router.get("/scenarios/new")
def new_scenario_page(
    request: Request, session: DbSession, principal: PageUser, program_id: str = ""
) -> Response:
    form: dict[str, Any] = {}
    if _is_uuid(program_id):
        form = _program_prefill(session, principal, uuid.UUID(program_id))
    return _new_page(request, session, principal, form=form)


def _program_prefill(
    session: Session, principal: Principal, program_id: uuid.UUID
) -> dict[str, Any]:
    defaults = stored.program_defaults(session, principal, program_id)
    form = {k: v for k, v in defaults.items() if v not in ("", None)}
    form.setdefault("name", f"{defaults['program_name']} base case")
    return form


@router.get("/scenarios/new/program-fields")
def program_fields(
    request: Request, session: DbSession, principal: PageUser, program_id: str = ""
) -> Response:
    """The fields a program pre-fills (HTMX swaps them in when the program changes)."""
    form: dict[str, Any] = dict(FORM_DEFAULTS)
    if _is_uuid(program_id):
        prefill = _program_prefill(session, principal, uuid.UUID(program_id))
        prefill.pop("name", None)
        form.update(prefill)
    return render(
        request,
        "economics/_program_fields.html",
        {"form": form, "errors": {}, **_form_choices(session, principal)},
    )


@router.post("/scenarios")
def create_scenario(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session, ScenarioForm, form, lambda body: _create_from_form(session, principal, body)
    )
    if outcome.result is not None:
        flash(
            request,
            f"Scenario {outcome.result.name} saved. Run its valuation below; the inputs you left "
            "out take the published defaults shown in the phases table.",
        )
        return RedirectResponse(f"/scenarios/{outcome.result.id}", status_code=303)
    return _new_page(
        request,
        session,
        principal,
        form=form,
        errors=_form_errors(outcome.errors),
        status_code=outcome.status_code,
    )


async def _upload(request: Request) -> tuple[bytes, str]:
    data = await request.form()
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        message = "choose a YAML or JSON scenario file"
        raise Invalid(message, field_errors={"file": message})
    return await upload.read(), upload.filename


def _upload_errors(error: OpenCXOError, filename: str) -> dict[str, str]:
    if error.field_errors:
        listing = {k.removeprefix("spec."): v for k, v in error.field_errors.items()}
        return {"file": f"{filename} is not valid", **{f"field:{k}": v for k, v in listing.items()}}
    return {"file": error.message}


async def _read_upload(request: Request) -> tuple[bytes, str] | Invalid:
    """The uploaded file, or the refusal of a form without one (raised later, in the thread
    pool, with the rest of the use case)."""
    try:
        return await _upload(request)
    except Invalid as error:
        return error


def _uploaded(upload: tuple[bytes, str] | Invalid) -> tuple[bytes, str]:
    if isinstance(upload, Invalid):
        raise upload
    return upload


@router.post("/scenarios/upload")
async def upload_scenario(request: Request, session: DbSession, principal: PageUser) -> Response:
    # Only the upload is read on the event loop; the use case blocks on the database and runs
    # in the thread pool (on the loop it would stall every request, the lock holder's too).
    upload = await _read_upload(request)
    return await run_in_threadpool(_upload_scenario, request, session, principal, upload)


def _upload_scenario(
    request: Request, session: Session, principal: Principal, upload: tuple[bytes, str] | Invalid
) -> Response:
    filename = "the file"
    try:
        content, filename = _uploaded(upload)
        data = stored.parse_upload(content, filename)
        spec = service.parse(ScenarioInput, data, what=filename)
        created = stored.create_scenario(session, principal, ScenarioCreate(spec=spec))
    except OpenCXOError as error:
        if error.status_code in (401, 403, 404):
            raise
        session.rollback()
        return _new_page(
            request,
            session,
            principal,
            upload_errors=_upload_errors(error, filename),
            status_code=error.status_code,
        )
    flash(request, f"Scenario {created.name} uploaded from {filename}. Run its valuation below.")
    return RedirectResponse(f"/scenarios/{created.id}", status_code=303)


# --- compare ------------------------------------------------------------------------------------


def _run_params(trials: str, seed: str) -> tuple[dict[str, str], RunRequest | None, dict[str, str]]:
    values = {"trials": trials or str(DEFAULT_TRIALS), "seed": seed or "2026"}
    try:
        return values, RunRequest.model_validate(values), {}
    except ValueError as error:
        errors: dict[str, str] = {}
        for item in getattr(error, "errors", lambda: [])():
            errors.setdefault(str(item["loc"][0]), str(item["msg"]))
        return values, None, errors or {"form": str(error)}


@router.get("/scenarios/compare")
def compare_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    base: str = "",
    alternative: str = "",
    trials: str = "",
    seed: str = "",
) -> Response:
    everything = PageParams(page=1, page_size=100, sort="name")
    scenarios = stored.list_scenarios(session, principal, params=everything).items
    values, run, errors = _run_params(trials, seed)
    report: ComparisonReport | None = None
    status_code = 200
    if _is_uuid(base) and _is_uuid(alternative) and run is not None:
        try:
            report = stored.compare(
                session,
                principal,
                CompareRequest(
                    base_id=uuid.UUID(base),
                    alternative_id=uuid.UUID(alternative),
                    trials=run.trials,
                    seed=run.seed,
                ),
            )
        except Invalid as error:
            errors = {"form": error.message}
            status_code = 422
    elif run is None:
        status_code = 422
    return render(
        request,
        "economics/compare.html",
        {
            "scenarios": scenarios,
            "base": base,
            "alternative": alternative,
            "values": values,
            "errors": errors,
            "report": report,
            "labels": DELTA_LABELS,
            "units": UNIT_LABELS,
            "compare_figure": compare_chart(report) if report else None,
            "plotly_js": PLOTLY_JS,
            "max_trials": MAX_TRIALS,
            "active": "compare",
        },
        status_code=status_code,
    )


@router.get("/scenarios/compare/{name}")
def compare_export(
    name: str,
    session: DbSession,
    principal: PageUser,
    base: uuid.UUID,
    alternative: uuid.UUID,
    trials: Annotated[int, Query(ge=1_000, le=MAX_TRIALS)] = DEFAULT_TRIALS,
    seed: Annotated[int, Query(ge=0, le=MAX_SEED)] = 2026,
) -> Response:
    table, fmt = _split_name(name)
    if table != "deltas":
        raise NotFound(f"no such download: {name}")
    report = stored.compare(
        session,
        principal,
        CompareRequest(base_id=base, alternative_id=alternative, trials=trials, seed=seed),
    )
    headers = (
        "Quantity",
        "Unit",
        report.base,
        report.alternative,
        "Difference",
        "Standard error",
        "CI low (95 %)",
        "CI high (95 %)",
    )
    rows = [
        (
            DELTA_LABELS.get(d.name, d.name),
            d.unit,
            _finite(d.base),
            _finite(d.alternative),
            _finite(d.difference),
            _finite(d.standard_error),
            _finite(d.ci_low),
            _finite(d.ci_high),
        )
        for d in report.deltas
    ]
    return _table_response(
        f"opencxo-compare-{_slug(report.base)}-vs-{_slug(report.alternative)}",
        fmt,
        "Comparison",
        headers,
        rows,
    )


# --- the valuation page -------------------------------------------------------------------------


def _valuation_page(
    request: Request,
    session: Session,
    principal: Principal,
    scenario_id: uuid.UUID,
    *,
    run_form_values: dict[str, Any] | None = None,
    run_errors: dict[str, str] | None = None,
    tornado: TornadoReport | None = None,
    variant_form: dict[str, Any] | None = None,
    variant_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    scenario = stored.get_scenario(session, principal, scenario_id)
    valuation = stored.latest_valuation(session, principal, scenario_id)
    report = valuation.report if valuation else None
    # The phases as they would be valued now (defaults filled in), even before a first run.
    try:
        _, context = service.build(scenario.spec)
        phases_now = context.phases
        build_error = None
    except Invalid as error:
        phases_now, build_error = [], error.message
    charts: dict[str, Any] = {}
    if report is not None:
        charts = {
            "npv": npv_chart(report),
            "fan": fan_chart(report),
            "launch": launch_chart(report),
        }
    return render(
        request,
        "economics/scenario.html",
        {
            "scenario": scenario,
            "valuation": valuation,
            "report": report,
            "phases_now": phases_now,
            "build_error": build_error,
            "phase_labels": PHASE_LABELS,
            "charts": charts,
            "tornado": tornado,
            "tornado_chart": tornado_chart(tornado) if tornado else None,
            "run_form": run_form_values
            or {"trials": valuation.trials if valuation else DEFAULT_TRIALS, "seed": 2026},
            "run_errors": run_errors or {},
            "max_trials": MAX_TRIALS,
            "can_write": principal.can(Permission.PROGRAMS_WRITE, scenario.sponsor_id),
            "stale": valuation is not None and valuation.scenario_version != scenario.version,
            "yaml": stored.to_yaml(scenario.spec),
            "variant_phases": PHASE_ORDER[PHASE_ORDER.index(scenario.spec.current_phase) :],
            "variant_form": variant_form or {"name": f"{scenario.name} with a CRO"[:200]},
            "variant_errors": variant_errors or {},
            "plotly_js": PLOTLY_JS,
            "active": "scenarios",
        },
        status_code=status_code,
    )


@router.get("/scenarios/{scenario_id}")
def scenario_page(
    request: Request, scenario_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _valuation_page(request, session, principal, scenario_id)


@router.post("/scenarios/{scenario_id}/valuations")
def run_valuation(
    request: Request,
    scenario_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        RunRequest,
        form,
        lambda body: stored.run_valuation(session, principal, scenario_id, body),
    )
    valuation: ValuationRead | None = outcome.result
    if valuation is not None:
        flash(
            request,
            f"Valued with {valuation.trials:,} trials (seed {valuation.seed}): rNPV "
            f"{valuation.rnpv_mean_musd:,.1f} $M, probability of approval "
            f"{valuation.probability_of_approval:.1%}.",
        )
        return RedirectResponse(f"/scenarios/{scenario_id}#results", status_code=303)
    errors = dict(outcome.errors)
    if "trials" in errors and "less than or equal" in errors["trials"]:
        errors["trials"] = f"at most {MAX_TRIALS:,} trials here; use the CLI for more"
    return _valuation_page(
        request,
        session,
        principal,
        scenario_id,
        run_form_values=form,
        run_errors=errors,
        status_code=outcome.status_code,
    )


# --- an outsourced variant ----------------------------------------------------------------------

VARIANT_NUMBERS = ("cost_multiplier", "fixed_cost_avoided_musd", "months_saved")


def variant_body(form: dict[str, Any], phases: Sequence[str]) -> dict[str, Any]:
    """The variant form's flat fields (``phase_2.months_saved`` …) as a :class:`VariantCreate`
    body: a phase counts when its box is ticked; blank numbers take the schema's defaults."""
    outsourcing: dict[str, dict[str, str]] = {}
    for phase in phases:
        if form.get(f"{phase}.outsource"):
            terms = {k: form[f"{phase}.{k}"] for k in VARIANT_NUMBERS if form.get(f"{phase}.{k}")}
            outsourcing[phase] = terms
    body: dict[str, Any] = {"name": form.get("name", ""), "outsourcing": outsourcing}
    if form.get("vendors"):
        body["several_vendors"] = {
            "coordination_overhead_share": form.get("coordination_overhead_share") or None,
            "handoff_delay_months": form.get("handoff_delay_months") or None,
        }
    return body


@router.post("/scenarios/{scenario_id}/variant")
def create_variant(
    request: Request,
    scenario_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    """Copy the scenario with phases run by a CRO/CDMO, then compare the two."""
    scenario = stored.get_scenario(session, principal, scenario_id)
    phases = PHASE_ORDER[PHASE_ORDER.index(scenario.spec.current_phase) :]
    outcome = run_form(
        session,
        VariantCreate,
        variant_body(form, phases),
        lambda body: stored.create_variant(session, principal, scenario_id, body),
    )
    variant: ScenarioRead | None = outcome.result
    if variant is not None:
        flash(request, f"Scenario {variant.name} created; compared with {scenario.name} below.")
        return RedirectResponse(
            f"/scenarios/compare?base={scenario_id}&alternative={variant.id}", status_code=303
        )
    return _valuation_page(
        request,
        session,
        principal,
        scenario_id,
        variant_form=form,
        variant_errors=_variant_errors(outcome.errors),
        status_code=outcome.status_code,
    )


def _variant_errors(errors: dict[str, str]) -> dict[str, str]:
    """Errors keyed by the form's field names (``outsourcing.phase_2.months_saved`` →
    ``phase_2.months_saved``; engine errors on a phase's terms → that phase)."""
    named: dict[str, str] = {}
    for key, message in errors.items():
        field = key.removeprefix("outsourcing.")
        if key == "outsourcing" and "phase '" in message:
            phase = message.split("phase '", 1)[1].split("'", 1)[0]
            field = (
                f"{phase}.months_saved"
                if "months_saved" in message
                else f"{phase}.fixed_cost_avoided_musd"
            )
        elif key.startswith("several_vendors."):
            field = key.removeprefix("several_vendors.")
        named.setdefault(field, message)
    return named


@router.get("/scenarios/{scenario_id}/tornado")
def tornado_view(
    request: Request,
    scenario_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    trials: Annotated[int, Query(ge=1_000, le=MAX_TRIALS)] = 10_000,
    seed: Annotated[int, Query(ge=0, le=MAX_SEED)] = 2026,
    swing: Annotated[float, Query(gt=0, lt=1)] = 0.2,
) -> Response:
    """The tornado, computed on demand (not stored): a fragment for HTMX, else the whole page."""
    report = stored.tornado(
        session, principal, scenario_id, TornadoRequest(trials=trials, seed=seed, swing=swing)
    )
    if request.headers.get("HX-Request"):
        return render(
            request,
            "economics/_tornado.html",
            {
                "tornado": report,
                "tornado_chart": tornado_chart(report),
                "scenario_id": scenario_id,
            },
        )
    return _valuation_page(request, session, principal, scenario_id, tornado=report)


@router.get("/scenarios/{scenario_id}/tables/{name}")
def scenario_table(
    scenario_id: uuid.UUID,
    name: str,
    session: DbSession,
    principal: PageUser,
    trials: Annotated[int, Query(ge=1_000, le=MAX_TRIALS)] = 10_000,
    seed: Annotated[int, Query(ge=0, le=MAX_SEED)] = 2026,
    swing: Annotated[float, Query(gt=0, lt=1)] = 0.2,
) -> Response:
    """The table behind a chart of the valuation page, as CSV or Excel."""
    table, fmt = _split_name(name)
    if table not in TABLES:
        raise NotFound(f"no such download: {name}")
    scenario = stored.get_scenario(session, principal, scenario_id)
    file = f"opencxo-{_slug(scenario.name)}-{table}"
    if table == "tornado":
        request = TornadoRequest(trials=trials, seed=seed, swing=swing)
        headers, rows = _tornado_table(stored.tornado(session, principal, scenario_id, request))
        return _table_response(file, fmt, "Tornado", headers, rows)
    valuation = stored.latest_valuation(session, principal, scenario_id)
    if valuation is None:
        raise NotFound("this scenario has not been valued yet; run its valuation first")
    build = {
        "npv": (_npv_table, "NPV histogram"),
        "cash-flow": (_fan_table, "Cash flow by year"),
        "launch": (_launch_table, "Launch years"),
        "phases": (_phases_table, "Phases used"),
        "cost": (_cost_table, "Development cost by year"),
    }
    make, title = build[table]
    headers, rows = make(valuation.report)
    return _table_response(file, fmt, title, headers, rows)


@router.get("/scenarios/{scenario_id}/file.yaml")
def scenario_file(scenario_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    scenario = stored.get_scenario(session, principal, scenario_id)
    return Response(
        stored.to_yaml(scenario.spec),
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_slug(scenario.name)}.yaml"'},
    )


@router.post("/scenarios/{scenario_id}/file")
async def replace_scenario_file(
    request: Request, scenario_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    """Replace the scenario with an edited file (the version guards against a lost update)."""
    data = await request.form()
    version = str(data.get("version") or "")
    upload = await _read_upload(request)
    return await run_in_threadpool(
        _replace_scenario_file, request, scenario_id, session, principal, version, upload
    )


def _replace_scenario_file(
    request: Request,
    scenario_id: uuid.UUID,
    session: Session,
    principal: Principal,
    version: str,
    upload: tuple[bytes, str] | Invalid,
) -> Response:
    filename = "the file"
    try:
        content, filename = _uploaded(upload)
        spec = service.parse(ScenarioInput, stored.parse_upload(content, filename), what=filename)
        body = ScenarioUpdate(version=int(version) if version.isdigit() else 1, spec=spec)
        updated = stored.update_scenario(session, principal, scenario_id, body)
    except OpenCXOError as error:
        if error.status_code in (401, 403, 404):
            raise
        session.rollback()
        errors = _upload_errors(error, filename)
        flash(request, "The scenario was not replaced — " + "; ".join(errors.values()), "danger")
        # The scenario page as it was, with the message, answering the error's status.
        return _valuation_page(
            request, session, principal, scenario_id, status_code=error.status_code
        )
    flash(request, f"Scenario {updated.name} replaced from {filename}; run its valuation again.")
    return RedirectResponse(f"/scenarios/{scenario_id}", status_code=303)


@router.post("/scenarios/{scenario_id}/delete")
def delete_scenario(
    request: Request,
    scenario_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    scenario = stored.get_scenario(session, principal, scenario_id)
    return _delete(
        request,
        session,
        lambda version: stored.delete_scenario(session, principal, scenario_id, version=version),
        form=form,
        noun="scenario",
        page=f"/scenarios/{scenario_id}",
        done=f"Scenario {scenario.name} and its valuations deleted.",
        listing="/scenarios",
    )


def _delete(
    request: Request,
    session: Session,
    action: Callable[[int | None], object],
    *,
    form: dict[str, Any],
    noun: str,
    page: str,
    done: str,
    listing: str,
) -> Response:
    """Delete at the form's version; a refusal (stale version …) flashes and returns to the page."""
    version = str(form.get("version") or "")
    try:
        action(int(version) if version.isdigit() else None)
    except OpenCXOError as error:
        if error.status_code in (401, 403, 404):
            raise
        session.rollback()
        flash(request, f"The {noun} was not deleted — {error.message}", "danger")
        return RedirectResponse(page, status_code=303)
    flash(request, done)
    return RedirectResponse(listing, status_code=303)


# --- the card on a program's page ---------------------------------------------------------------


@router.get("/programs/{program_id}/valuation-scenarios")
def program_scenarios_card(
    request: Request, program_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    """A small card listing the program's valuation scenarios (loaded by HTMX on its page)."""
    scenarios = stored.scenarios_of_program(session, principal, program_id)
    return render(
        request,
        "economics/_program_card.html",
        {
            "scenarios": scenarios,
            "program_id": program_id,
            "can_write": principal.can(Permission.PROGRAMS_WRITE),
        },
    )


# --- portfolios ---------------------------------------------------------------------------------


def _portfolios_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    upload_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "economics/portfolios.html",
        {
            "portfolios": stored.list_portfolios(session, principal),
            "upload_errors": upload_errors or {},
            "can_write": principal.can(Permission.PROGRAMS_WRITE),
            "max_trials": MAX_TRIALS,
            "active": "portfolios",
        },
        status_code=status_code,
    )


@router.get("/portfolios")
def portfolios_page(request: Request, session: DbSession, principal: PageUser) -> Response:
    return _portfolios_page(request, session, principal)


@router.post("/portfolios")
async def upload_portfolio(request: Request, session: DbSession, principal: PageUser) -> Response:
    upload = await _read_upload(request)
    return await run_in_threadpool(_upload_portfolio, request, session, principal, upload)


def _upload_portfolio(
    request: Request, session: Session, principal: Principal, upload: tuple[bytes, str] | Invalid
) -> Response:
    filename = "the file"
    try:
        content, filename = _uploaded(upload)
        data = stored.parse_upload(content, filename)
        spec = service.parse(PortfolioInput, data, what=filename)
        created = stored.create_portfolio(session, principal, PortfolioCreate(spec=spec))
    except OpenCXOError as error:
        if error.status_code in (401, 403, 404):
            raise
        session.rollback()
        return _portfolios_page(
            request,
            session,
            principal,
            upload_errors=_upload_errors(error, filename),
            status_code=error.status_code,
        )
    flash(request, f"Portfolio {created.name} uploaded. Run it to choose what to fund.")
    return RedirectResponse(f"/portfolios/{created.id}", status_code=303)


@router.get("/portfolios/{portfolio_id}")
def portfolio_page(
    request: Request, portfolio_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    portfolio = stored.get_portfolio(session, principal, portfolio_id)
    charts: dict[str, Any] = {}
    if portfolio.report is not None:
        charts = {"spend": spend_chart(portfolio), "approvals": approvals_chart(portfolio)}
    return render(
        request,
        "economics/portfolio.html",
        {
            "portfolio": portfolio,
            "report": portfolio.report,
            "charts": charts,
            "can_write": principal.can(Permission.PROGRAMS_WRITE, portfolio.sponsor_id),
            "yaml": stored.to_yaml(portfolio.spec),
            "plotly_js": PLOTLY_JS,
            "active": "portfolios",
        },
    )


@router.post("/portfolios/{portfolio_id}/run")
def run_portfolio(
    request: Request, portfolio_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    try:
        result = stored.run_portfolio(session, principal, portfolio_id)
    except OpenCXOError as error:
        if error.status_code in (401, 403, 404):
            raise
        session.rollback()
        flash(request, f"The portfolio did not run — {error.message}", "danger")
        return RedirectResponse(f"/portfolios/{portfolio_id}", status_code=303)
    assert result.report is not None
    funded = sum(1 for v in result.report.funded.values() if v)
    flash(
        request,
        f"Portfolio run ({result.report.status}): {funded} of {len(result.report.funded)} "
        f"programs funded, expected value {result.report.objective_musd:,.1f} $M.",
    )
    return RedirectResponse(f"/portfolios/{portfolio_id}#results", status_code=303)


@router.post("/portfolios/{portfolio_id}/delete")
def delete_portfolio(
    request: Request,
    portfolio_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    portfolio = stored.get_portfolio(session, principal, portfolio_id)
    return _delete(
        request,
        session,
        lambda version: stored.delete_portfolio(session, principal, portfolio_id, version=version),
        form=form,
        noun="portfolio",
        page=f"/portfolios/{portfolio_id}",
        done=f"Portfolio {portfolio.name} deleted.",
        listing="/portfolios",
    )


@router.get("/portfolios/{portfolio_id}/tables/{name}")
def portfolio_table(
    portfolio_id: uuid.UUID, name: str, session: DbSession, principal: PageUser
) -> Response:
    table, fmt = _split_name(name)
    portfolio = stored.get_portfolio(session, principal, portfolio_id)
    report = portfolio.report
    if report is None:
        raise NotFound("this portfolio has not been run yet; run it first")
    file = f"opencxo-{_slug(portfolio.name)}-{table}"
    if table == "options":
        years = len(report.budget_by_year_musd)
        headers: tuple[str, ...] = (
            "Program",
            "Option",
            "Funded",
            "rNPV ($M)",
            "Probability of approval",
            "Expected development cost ($M)",
            *(f"Spend year {k + 1} ($M)" for k in range(years)),
        )
        rows: list[tuple[Any, ...]] = [
            (
                o.program,
                o.option,
                "yes" if o.chosen else "no",
                round(o.rnpv_mean_musd, 4),
                round(o.probability_of_approval, 6),
                round(o.expected_cost_musd, 4),
                *(round(v, 4) for v in o.spend_by_year_musd),
            )
            for o in report.options
        ]
        return _table_response(file, fmt, "Options", headers, rows)
    if table == "spend":
        headers = ("Plan year", "Budget ($M)", "Expected spend of funded options ($M)")
        rows = [
            (k + 1, b, round(s, 4))
            for k, (b, s) in enumerate(
                zip(report.budget_by_year_musd, report.spend_by_year_musd, strict=False)
            )
        ]
        return _table_response(file, fmt, "Spend vs budget", headers, rows)
    if table == "approvals":
        headers = ("Approvals", "Probability")
        rows = [(k, round(p, 6)) for k, p in enumerate(report.approvals_pmf)]
        return _table_response(file, fmt, "Approvals", headers, rows)
    raise NotFound(f"no such download: {name}")
