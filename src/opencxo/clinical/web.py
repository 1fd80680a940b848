"""HTML pages of clinical operations: studies, their sites and enrollment, imports.

Thin, like ``api.py``: every page reads and writes through ``opencxo.clinical.service`` (and
``importing`` for files). The study page shows the enrollment forecast of
``opencxo.clinical.forecasting`` (with and without disruptions); nothing here forecasts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from opencxo.clinical import forecasting, importing, service
from opencxo.clinical.importing import ImportRejected
from opencxo.clinical.models import SiteStatus, StudyPhase, StudyStatus
from opencxo.clinical.page_helpers import (
    deadline_trace,
    enrollment_layout,
    fan_traces,
    forecast_options,
    plan_trace,
    target_trace,
)
from opencxo.clinical.report import plan_on
from opencxo.clinical.schemas import (
    EnrollmentCreate,
    SiteCreate,
    SiteRead,
    SiteTransition,
    SiteUpdate,
    StudyCreate,
    StudyEnrollment,
    StudyForecastRead,
    StudyRead,
)
from opencxo.contracts import service as contracts
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Invalid, NotFound, OpenCXOError
from opencxo.core.geography import REGIONS, country_name, region_of
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import MAX_PAGE, MAX_SORT_LENGTH, Page, PageParams, paginate
from opencxo.core.types import utc_today
from opencxo.parties import service as parties
from opencxo.parties.models import DisruptionCause
from opencxo.parties.schemas import (
    DisruptionCreate,
    DisruptionEnd,
    DisruptionRead,
    DisruptionUpdate,
)
from opencxo.sourcing import service as sourcing
from opencxo.web.deps import FormData, PageUser, run_form
from opencxo.web.exports import XLSX, csv_response, xlsx_response
from opencxo.web.pages import PLOTLY_JS
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]
ENROLLMENT_HEADERS = ("Date", "Enrolled that date", "Cumulative enrolled", "Plan (straight line)")
TEMPLATE_KINDS = ("sites", "enrollment", "subjects")


def _can_write(principal: Principal, study: StudyRead) -> bool:
    own = study.sponsor_id if study.viewer_role == "sponsor" else study.provider_id
    return own is not None and principal.can(Permission.STUDIES_WRITE, own)


def _local(path: Any) -> str | None:
    if isinstance(path, str) and path.startswith("/") and not path.startswith("//"):
        return path
    return None


# --- studies list and creation -----------------------------------------------------------------


@router.get("/studies")
def studies_page(
    request: Request, session: DbSession, principal: PageUser, params: Pages, status: str = ""
) -> Response:
    chosen = StudyStatus(status) if status in {s.value for s in StudyStatus} else None
    page = service.list_studies(session, principal, params=params, status=chosen)
    kinds = {str(o.kind) for o in getattr(request.state, "organizations", [])}
    return render(
        request,
        "clinical/studies.html",
        {
            "page": page,
            "sort": params.sort or "",
            "status": chosen.value if chosen else "",
            "statuses": [s.value for s in StudyStatus],
            "is_sponsor": "sponsor" in kinds,
            "can_create": "sponsor" in kinds and principal.can(Permission.STUDIES_WRITE),
            "active": "studies",
        },
    )


def _new_study_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    everything = PageParams(page=1, page_size=100)
    programs = sourcing.list_programs(session, principal, params=everything).items
    work_orders = [
        w
        for w in contracts.list_work_orders(
            session, principal, status=None, params=everything
        ).items
        if w.status in ("active", "pending_signature", "draft", "completed")
    ]
    return render(
        request,
        "clinical/study_form.html",
        {
            "programs": programs,
            "work_orders": work_orders,
            "phases": [p.value for p in StudyPhase],
            "statuses": [s.value for s in StudyStatus],
            "errors": errors or {},
            "form": form or {},
            "active": "studies",
        },
        status_code=status_code,
    )


@router.get("/studies/new")
def new_study_page(request: Request, session: DbSession, principal: PageUser) -> Response:
    return _new_study_page(request, session, principal)


@router.post("/studies")
def create_study(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session, StudyCreate, form, lambda body: service.create_study(session, principal, body)
    )
    if outcome.result is None:
        return _new_study_page(
            request,
            session,
            principal,
            errors=outcome.errors,
            form=form,
            status_code=outcome.status_code,
        )
    flash(request, f"Study {outcome.result.code} created. Add its countries and sites next.")
    return RedirectResponse(f"/studies/{outcome.result.id}", status_code=303)


# --- the study page -----------------------------------------------------------------------------


def _enrollment_chart(study: StudyRead, enrollment: StudyEnrollment) -> dict[str, Any]:
    actual = enrollment.cumulative
    traces: list[dict[str, Any]] = []
    if actual:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": "#0d6efd", "width": 3},
                "name": "Enrolled (actual, cumulative)",
                "x": [p.on_date.isoformat() for p in actual],
                "y": [p.cumulative for p in actual],
                "hovertemplate": "%{x}<br>%{y} patients<extra></extra>",
            }
        )
    first, last = study.planned_first_patient_in, study.planned_last_patient_in
    dates = [p.on_date for p in actual]
    if first and last and last > first:
        traces.append(plan_trace(first, last, study.target_enrollment))
        dates += [first, last]
    start = min(dates) if dates else utc_today() - timedelta(days=30)
    end = max([*dates, utc_today()])
    traces.append(target_trace(study.target_enrollment, start, end))
    return {
        "data": traces,
        "layout": {
            **enrollment_layout(
                f"{study.code}: cumulative enrollment against plan and target", height=380
            ),
            "shapes": [
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": utc_today().isoformat(),
                    "x1": utc_today().isoformat(),
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#adb5bd", "dash": "dot"},
                }
            ],
        },
    }


def _enrollment_table(study: StudyRead, enrollment: StudyEnrollment) -> list[tuple[Any, ...]]:
    return [
        (p.on_date, p.enrolled, p.cumulative, plan_on(study, p.on_date))
        for p in enrollment.cumulative
    ]


FORECAST_HEADERS = (
    "Date",
    "Days after as-of",
    "With disruptions P10",
    "With disruptions P50",
    "With disruptions P90",
    "With disruptions mean",
    "Without disruptions P10",
    "Without disruptions P50",
    "Without disruptions P90",
    "Without disruptions mean",
)


def _run_forecast(
    session: Session, principal: Principal, study_id: uuid.UUID, options: dict[str, Any]
) -> tuple[StudyForecastRead | None, str | None]:
    try:
        return forecasting.study_forecast(session, principal, study_id, **options), None
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        return None, exc.message


def _forecast_table(result: StudyForecastRead) -> list[tuple[Any, ...]]:
    """One row per forecast day (the union of both runs' grids; blank where a run has none)."""
    with_ = {p.day: p for p in (result.with_disruptions or result.without_disruptions).cumulative}
    without = {p.day: p for p in result.without_disruptions.cumulative}
    rows = []
    for day in sorted(set(with_) | set(without)):
        point = with_.get(day) or without[day]
        a, b = with_.get(day), without.get(day)
        rows.append(
            (
                point.on_date,
                day,
                *((a.p10, a.p50, a.p90, round(a.mean, 1)) if a else (None,) * 4),
                *((b.p10, b.p50, b.p90, round(b.mean, 1)) if b else (None,) * 4),
            )
        )
    return rows


def _forecast_chart(
    study: StudyRead, enrollment: StudyEnrollment, result: StudyForecastRead
) -> dict[str, Any]:
    disrupted = result.with_disruptions or result.without_disruptions
    plain = result.without_disruptions
    traces: list[dict[str, Any]] = []
    if enrollment.cumulative:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": "#0d6efd", "width": 3},
                "name": "Enrolled (actual, cumulative)",
                "x": [p.on_date.isoformat() for p in enrollment.cumulative],
                "y": [p.cumulative for p in enrollment.cumulative],
                "hovertemplate": "%{x}<br>%{y} patients<extra></extra>",
            }
        )
    label = "with disruptions" if result.disruptions else "(no disruption declared)"
    traces += fan_traces(
        disrupted.cumulative,
        label,
        color="#fd7e14",
        fill="rgba(253, 126, 20, 0.2)",
        prefix="Forecast ",
    )
    traces += [
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"color": "#198754", "width": 2, "dash": "dash"},
            "name": "Forecast median without disruptions",
            "x": [p.on_date.isoformat() for p in plain.cumulative],
            "y": [p.p50 for p in plain.cumulative],
            "hovertemplate": "%{x}<br>median without disruptions: %{y:.0f} patients<extra></extra>",
        },
    ]
    dates = [p.on_date for p in enrollment.cumulative] + [
        p.on_date for p in disrupted.cumulative + plain.cumulative
    ]
    start = min(dates) if dates else result.as_of
    end = max([*dates, result.as_of])
    traces.append(target_trace(study.target_enrollment, start, end))
    if result.deadline is not None:
        traces.append(deadline_trace(result.deadline, study.target_enrollment))
    return {
        "data": traces,
        "layout": enrollment_layout(
            f"{study.code}: enrollment forecast as of {result.as_of.isoformat()} "
            f"(Poisson–gamma, {result.paths:,} paths)"
        ),
    }


# The sites table of the study page: sorted, filtered and paged in Python (a study has hundreds of
# sites at most, and their totals are computed anyway); ties keep the site-code order.
SITE_SORTS = ("code", "name", "country", "status", "enrolled", "planned_activation", "activated")
SITES_PAGE_SIZE = 25
FORECAST_KEYS = ("deadline", "paths", "seed")
SITE_TABLE_KEYS = ("sort", "page", "country", "status")
_STATUS_ORDER = {s.value: i for i, s in enumerate(SiteStatus)}
_SITE_KEYS: dict[str, Callable[[SiteRead], Any]] = {
    "code": lambda s: s.code.casefold(),
    "name": lambda s: s.name.casefold(),
    "country": lambda s: s.country,
    "status": lambda s: _STATUS_ORDER[s.status.value],  # the lifecycle order, not the alphabet
    "enrolled": lambda s: s.totals.enrolled,
    "planned_activation": lambda s: s.planned_activation_date,
    "activated": lambda s: s.actual_activation_date,
}


def _sorted_sites(sites: list[SiteRead], column: str, descending: bool) -> list[SiteRead]:
    """Sites by ``column``; ties in site-code order, sites without the date last either way."""
    key = _SITE_KEYS[column]
    by_code = sorted(sites, key=lambda s: s.code.casefold())
    known = [s for s in by_code if key(s) is not None]
    return sorted(known, key=key, reverse=descending) + [s for s in by_code if key(s) is None]


def _site_table(
    sites: list[SiteRead], params: PageParams, country: str, status: str
) -> dict[str, Any]:
    """The page of the sites table asked for, and what its header and filters show."""
    column, descending = params.sort_key(SITE_SORTS, "code")
    countries = sorted({s.country for s in sites})
    country = country.strip().upper() if country.strip().upper() in countries else ""
    status = status if status in _STATUS_ORDER else ""
    shown = [
        s
        for s in sites
        if (not country or s.country == country) and (not status or s.status.value == status)
    ]
    items, total = paginate(_sorted_sites(shown, column, descending), params)
    return {
        "sites_page": Page.of(items, total=total, params=params),
        "sites_total": len(sites),
        "sites_sort": f"-{column}" if descending else column,
        "sites_filter": {"country": country, "status": status},
        "site_countries": [(c, country_name(c)) for c in countries],
    }


def _hidden_params(request: Request, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """The page's query parameters among ``keys``, for the hidden fields of another GET form."""
    return [(k, v) for k, v in request.query_params.multi_items() if k in keys and v]


# The study page's disruptions: the viewer's own organisation's (disruptions are private to the
# organisation that declares them), written through the parties service.


def _side_of(study: StudyRead) -> uuid.UUID:
    """The organisation the viewer acts for on the study (its disruptions are the ones shown)."""
    own = study.sponsor_id if study.viewer_role == "sponsor" else study.provider_id
    assert own is not None  # a provider-side viewer is the study's CRO
    return own


@dataclass(frozen=True)
class StudyDisruption:
    """A disruption as the study page lists it (``state`` as on the disruptions pages)."""

    disruption: DisruptionRead
    state: str  # open (in force), upcoming (starts later) or ended

    @classmethod
    def of(cls, disruption: DisruptionRead, today: date) -> StudyDisruption:
        if disruption.ends_on is not None and disruption.ends_on < today:
            return cls(disruption, "ended")
        return cls(disruption, "upcoming" if disruption.starts_on > today else "open")


def _disruption_choices(study: StudyRead) -> dict[str, Any]:
    """The places a disruption of the study can be declared on: the study's countries (planned
    or with sites) and the regions they are in."""
    codes = [c.country for c in study.summary.by_country]
    countries = sorted(((c, country_name(c)) for c in codes), key=lambda c: c[1])
    regions = {region_of(c) for c in codes}
    return {
        "causes": [c.value for c in DisruptionCause],
        "disruption_countries": countries,
        "disruption_regions": [r for r in REGIONS if r in regions],
    }


def _new_disruption(study: StudyRead, today: date) -> dict[str, Any]:
    """The add form's first values: starting today, suspending enrollment and activations, on
    the study's country when it has only one."""
    codes = [c.country for c in study.summary.by_country]
    return {
        "starts_on": today.isoformat(),
        "enrollment_multiplier": 0,
        "freeze_activations": "on",
        "country": codes[0] if len(codes) == 1 else "",
    }


@router.get("/studies/{study_id}")
def study_page(
    request: Request,
    study_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    deadline: str = "",
    paths: str = "",
    seed: str = "",
    sort: Annotated[str, Query(max_length=MAX_SORT_LENGTH)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    country: str = "",
    status: str = "",
) -> Response:
    study = service.get_study(session, principal, study_id)
    sites = service.list_sites(session, principal, study_id)
    enrollment = service.study_enrollment(session, principal, study_id)
    disruptions = service.study_disruptions(session, principal, study_id)
    options, forecast_errors, forecast_form = forecast_options(
        deadline=deadline, paths=paths, seed=seed
    )
    result, forecast_problem = _run_forecast(session, principal, study_id, options)
    today = utc_today()
    site_params = PageParams(page=page, page_size=SITES_PAGE_SIZE, sort=sort or None)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(
        request,
        "clinical/study.html",
        {
            "study": study,
            **_site_table(sites, site_params, country, status),
            "site_table_params": _hidden_params(request, SITE_TABLE_KEYS),
            "forecast_params": _hidden_params(request, FORECAST_KEYS),
            "summary": study.summary,
            "plan_today": plan_on(study, utc_today()),
            "figure": _enrollment_chart(study, enrollment),
            "table": _enrollment_table(study, enrollment),
            "disruptions": disruptions,
            "disruption_rows": [StudyDisruption.of(d, today) for d in disruptions],
            "can_edit_disruptions": principal.can(Permission.DISRUPTIONS_WRITE, _side_of(study)),
            **_disruption_choices(study),
            "disruption_form": _new_disruption(study, today),
            "back": f"{here}#disruptions",
            "today": today,
            "forecast": result,
            "forecast_problem": forecast_problem,
            "forecast_errors": forecast_errors,
            "forecast_form": forecast_form,
            "forecast_query": urlencode(_hidden_params(request, FORECAST_KEYS)),
            "forecast_figure": _forecast_chart(study, enrollment, result) if result else None,
            "forecast_table": _forecast_table(result) if result else [],
            "forecast_defaults": {
                "paths": forecasting.DEFAULT_PATHS,
                "seed": forecasting.DEFAULT_SEED,
                "max_paths": forecasting.MAX_FORECAST_PATHS,
                "min_paths": forecasting.MIN_PATHS,
            },
            "site_statuses": [s.value for s in SiteStatus],
            "can_write": _can_write(principal, study),
            "plotly_js": PLOTLY_JS,
            "active": "studies",
        },
    )


def _forecast_export(
    session: Session,
    principal: Principal,
    study_id: uuid.UUID,
    deadline: str,
    paths: str,
    seed: str,
    *,
    excel: bool,
) -> Response:
    options, errors, _ = forecast_options(deadline=deadline, paths=paths, seed=seed)
    if errors:
        raise Invalid(
            "bad forecast options: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            field_errors=errors,
        )
    result = forecasting.study_forecast(session, principal, study_id, **options)
    rows = _forecast_table(result)
    name = f"{result.study_code}-forecast-{result.as_of.isoformat()}"
    if excel:
        return xlsx_response(f"{name}.xlsx", "Forecast", FORECAST_HEADERS, rows)
    return csv_response(f"{name}.csv", FORECAST_HEADERS, rows)


@router.get("/studies/{study_id}/forecast.csv")
def forecast_csv(
    study_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    deadline: str = "",
    paths: str = "",
    seed: str = "",
) -> Response:
    return _forecast_export(session, principal, study_id, deadline, paths, seed, excel=False)


@router.get("/studies/{study_id}/forecast.xlsx")
def forecast_xlsx(
    study_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    deadline: str = "",
    paths: str = "",
    seed: str = "",
) -> Response:
    return _forecast_export(session, principal, study_id, deadline, paths, seed, excel=True)


def _export(
    session: Session, principal: Principal, study_id: uuid.UUID, *, excel: bool
) -> Response:
    study = service.get_study(session, principal, study_id)
    rows = _enrollment_table(study, service.study_enrollment(session, principal, study_id))
    name = f"{study.code}-enrollment"
    if excel:
        return xlsx_response(f"{name}.xlsx", "Enrollment", ENROLLMENT_HEADERS, rows)
    return csv_response(f"{name}.csv", ENROLLMENT_HEADERS, rows)


@router.get("/studies/{study_id}/enrollment.csv")
def enrollment_csv(study_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    return _export(session, principal, study_id, excel=False)


@router.get("/studies/{study_id}/enrollment.xlsx")
def enrollment_xlsx(study_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    return _export(session, principal, study_id, excel=True)


# --- disruptions from the study page ------------------------------------------------------------
# The same parties use cases as /disruptions (their rules, versions, audit); these routes only scope
# them to the study: the viewer's side of the study declares, and only disruptions the study page
# shows (of that side, touching the study's countries) are edited, ended or deleted here.


def _writer(principal: Principal, study: StudyRead) -> uuid.UUID:
    """The organisation that declares the study's disruptions; 403 without disruptions:write."""
    organization_id = _side_of(study)
    principal.require(Permission.DISRUPTIONS_WRITE, organization_id)
    return organization_id


def _study_disruption(
    session: Session, principal: Principal, study_id: uuid.UUID, disruption_id: uuid.UUID
) -> tuple[StudyRead, DisruptionRead]:
    """The study and one of the disruptions its page shows (404 otherwise), for writing (403)."""
    study = service.get_study(session, principal, study_id)
    shown = service.study_disruptions(session, principal, study_id)
    disruption = next((d for d in shown if d.id == disruption_id), None)
    if disruption is None:
        raise NotFound("no such disruption")
    principal.require(Permission.DISRUPTIONS_WRITE, disruption.organization_id)
    return study, disruption


def _back_to(study_id: uuid.UUID, form: dict[str, Any]) -> str:
    """Where to return: the study page as it was (its forecast options, sites table)."""
    back = _local(form.pop("next", None))
    if back is None or not back.startswith(f"/studies/{study_id}"):
        return f"/studies/{study_id}#disruptions"
    return back


def _with_checkbox(form: dict[str, Any]) -> dict[str, Any]:
    """An unticked checkbox is not submitted: it means "no", not the schema's default."""
    return {**form, "freeze_activations": "on" if form.get("freeze_activations") else "off"}


def _where_it_shows(
    session: Session, principal: Principal, study_id: uuid.UUID, disruption: DisruptionRead
) -> str:
    """A note when a saved disruption no longer shows on (or applies to) the study."""
    if any(d.id == disruption.id for d in service.study_disruptions(session, principal, study_id)):
        return ""
    return (
        " It does not touch the study's countries during the study, so the forecast ignores it;"
        " it is listed on the disruptions page."
    )


def _disruption_form_page(
    request: Request,
    study: StudyRead,
    *,
    disruption: DisruptionRead | None = None,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    back: str,
    status_code: int = 200,
) -> Response:
    """Declaring a disruption for the study, or editing one, on a page of its own (where a form
    sent from the study page comes back with its errors)."""
    return render(
        request,
        "clinical/disruption_form.html",
        {
            "study": study,
            "disruption": disruption,
            "row": StudyDisruption.of(disruption, utc_today()) if disruption else None,
            "today": utc_today(),
            "form": form,
            "errors": errors or {},
            "back": back,
            **_disruption_choices(study),
            "active": "studies",
        },
        status_code=status_code,
    )


@router.get("/studies/{study_id}/disruptions/new")
def new_study_disruption_page(
    request: Request, study_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    study = service.get_study(session, principal, study_id)
    _writer(principal, study)
    return _disruption_form_page(
        request,
        study,
        form=_new_disruption(study, utc_today()),
        back=f"/studies/{study_id}#disruptions",
    )


@router.post("/studies/{study_id}/disruptions")
def declare_study_disruption(
    request: Request, study_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    study = service.get_study(session, principal, study_id)
    organization_id = _writer(principal, study)
    back = _back_to(study_id, form)
    outcome = run_form(
        session,
        DisruptionCreate,
        {**_with_checkbox(form), "organization_id": str(organization_id)},
        lambda body: parties.declare_disruption(session, principal, body),
    )
    if outcome.result is None:
        return _disruption_form_page(
            request, study, form=form, errors=outcome.errors, back=back,
            status_code=outcome.status_code,
        )  # fmt: skip
    note = _where_it_shows(session, principal, study_id, outcome.result)
    flash(request, f"Disruption “{outcome.result.title}” declared.{note}")
    return RedirectResponse(back, status_code=303)


@router.get("/studies/{study_id}/disruptions/{disruption_id}/edit")
def edit_study_disruption_page(
    request: Request,
    study_id: uuid.UUID,
    disruption_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
) -> Response:
    study, disruption = _study_disruption(session, principal, study_id, disruption_id)
    return _disruption_form_page(
        request,
        study,
        disruption=disruption,
        form=disruption.model_dump(mode="json"),
        back=f"/studies/{study_id}#disruptions",
    )


@router.post("/studies/{study_id}/disruptions/{disruption_id}/edit")
def update_study_disruption(
    request: Request,
    study_id: uuid.UUID,
    disruption_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    study, disruption = _study_disruption(session, principal, study_id, disruption_id)
    back = _back_to(study_id, form)
    outcome = run_form(
        session,
        DisruptionUpdate,
        _with_checkbox(form),
        lambda body: parties.update_disruption(session, principal, disruption_id, body),
    )
    if outcome.result is None:
        return _disruption_form_page(
            request, study, disruption=disruption, form=form, errors=outcome.errors, back=back,
            status_code=outcome.status_code,  # 409 for a stale version
        )  # fmt: skip
    note = _where_it_shows(session, principal, study_id, outcome.result)
    flash(request, f"Disruption “{outcome.result.title}” saved.{note}")
    return RedirectResponse(back, status_code=303)


@router.post("/studies/{study_id}/disruptions/{disruption_id}/end")
def end_study_disruption(
    request: Request,
    study_id: uuid.UUID,
    disruption_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    study, disruption = _study_disruption(session, principal, study_id, disruption_id)
    back = _back_to(study_id, form)
    outcome = run_form(
        session,
        DisruptionEnd,
        {"version": form.get("version", "")},
        lambda body: parties.end_disruption(session, principal, disruption_id, body),
    )
    if outcome.result is None:
        problem = "; ".join(outcome.errors.values())
        return _disruption_form_page(
            request, study, disruption=disruption, form=disruption.model_dump(mode="json"),
            errors={"form": f"“{disruption.title}” was not ended: {problem}"}, back=back,
            status_code=outcome.status_code,  # 409 for a stale version
        )  # fmt: skip
    flash(request, f"Disruption “{disruption.title}” ended today.")
    return RedirectResponse(back, status_code=303)


@router.post("/studies/{study_id}/disruptions/{disruption_id}/delete")
def delete_study_disruption(
    request: Request,
    study_id: uuid.UUID,
    disruption_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    _, disruption = _study_disruption(session, principal, study_id, disruption_id)
    parties.delete_disruption(session, principal, disruption_id)
    flash(request, f"Disruption “{disruption.title}” deleted.")
    return RedirectResponse(_back_to(study_id, form), status_code=303)


# --- sites --------------------------------------------------------------------------------------


def _site_form_page(
    request: Request,
    session: Session,
    principal: Principal,
    study: StudyRead,
    *,
    site: SiteRead | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    values = form if form is not None else (site.model_dump(mode="json") if site else {})
    return render(
        request,
        "clinical/site_form.html",
        {
            "study": study,
            "site": site,
            "form": values,
            "errors": errors or {},
            "statuses": [s.value for s in SiteStatus],
            "active": "studies",
        },
        status_code=status_code,
    )


@router.get("/studies/{study_id}/sites/new")
def new_site_page(
    request: Request, study_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    study = service.get_study(session, principal, study_id)
    return _site_form_page(request, session, principal, study)


@router.post("/studies/{study_id}/sites")
def create_site(
    request: Request, study_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        SiteCreate,
        form,
        lambda body: service.create_site(session, principal, study_id, body),
    )
    if outcome.result is None:
        study = service.get_study(session, principal, study_id)
        return _site_form_page(
            request, session, principal, study, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    flash(request, f"Site {outcome.result.code} ({outcome.result.name}) added.")
    return RedirectResponse(f"/studies/{study_id}#sites", status_code=303)


def _site_page(
    request: Request,
    session: Session,
    principal: Principal,
    site_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    site = service.get_site(session, principal, site_id)
    study = service.get_study(session, principal, site.study_id)
    return render(
        request,
        "clinical/site.html",
        {
            "study": study,
            "site": site,
            "records": list(reversed(service.list_enrollment(session, principal, site_id))),
            "can_write": _can_write(principal, study),
            "errors": errors or {},
            "form": form or {"on_date": utc_today().isoformat()},
            "today": utc_today().isoformat(),
            "active": "studies",
        },
        status_code=status_code,
    )


@router.get("/study-sites/{site_id}")
def site_page(
    request: Request, site_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _site_page(request, session, principal, site_id)


@router.get("/study-sites/{site_id}/edit")
def edit_site_page(
    request: Request, site_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    site = service.get_site(session, principal, site_id)
    study = service.get_study(session, principal, site.study_id)
    return _site_form_page(request, session, principal, study, site=site)


@router.post("/study-sites/{site_id}/edit")
def update_site(
    request: Request, site_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        SiteUpdate,
        form,
        lambda body: service.update_site(session, principal, site_id, body),
    )
    if outcome.result is None:
        site = service.get_site(session, principal, site_id)
        study = service.get_study(session, principal, site.study_id)
        return _site_form_page(
            request, session, principal, study, site=site, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    flash(request, f"Site {outcome.result.code} saved.")
    return RedirectResponse(f"/study-sites/{site_id}", status_code=303)


@router.post("/study-sites/{site_id}/status")
def change_site_status(
    request: Request, site_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    back = _local(form.pop("next", None)) or f"/study-sites/{site_id}"
    outcome = run_form(
        session,
        SiteTransition,
        form,
        lambda body: service.change_site_status(session, principal, site_id, body),
    )
    if outcome.result is None:
        problems = "; ".join(outcome.errors.values())
        flash(request, f"The site's status was not changed — {problems}", "danger")
    else:
        site = outcome.result
        flash(request, f"Site {site.code} is now {site.status.value.replace('_', ' ')}.")
    return RedirectResponse(back, status_code=303)


@router.post("/study-sites/{site_id}/enrollment")
def add_enrollment(
    request: Request, site_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        EnrollmentCreate,
        form,
        lambda body: service.add_enrollment(session, principal, site_id, body),
    )
    if outcome.result is None:
        return _site_page(
            request, session, principal, site_id, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    record = outcome.result
    flash(
        request,
        f"Recorded for {record.on_date.isoformat()}: {record.screened} screened, "
        f"{record.enrolled} enrolled, {record.screen_failed} screen failures, "
        f"{record.withdrawn} withdrawn.",
    )
    return RedirectResponse(f"/study-sites/{site_id}#enrollment", status_code=303)


# --- imports ------------------------------------------------------------------------------------


def _import_page(
    request: Request,
    study: StudyRead,
    *,
    problem: str | None = None,
    row_errors: list[Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "clinical/import.html",
        {
            "study": study,
            "problem": problem,
            "row_errors": row_errors or [],
            "columns": {k: importing.TEMPLATES[k][0] for k in TEMPLATE_KINDS},
            "active": "studies",
        },
        status_code=status_code,
    )


@router.get("/studies/{study_id}/import")
def import_page(
    request: Request, study_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _import_page(request, service.get_study(session, principal, study_id))


@router.post("/studies/{study_id}/import")
async def import_upload(
    request: Request, study_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    form = await request.form()
    upload = form.get("file")
    filename = upload.filename or "" if isinstance(upload, UploadFile) else ""
    content = await upload.read() if isinstance(upload, UploadFile) else b""
    # The import blocks on the database: in the thread pool, never on the event loop.
    return await run_in_threadpool(
        _import_upload, request, study_id, session, principal, filename, content
    )


def _import_upload(
    request: Request,
    study_id: uuid.UUID,
    session: Session,
    principal: Principal,
    filename: str,
    content: bytes,
) -> Response:
    """The synchronous half of an import upload."""
    try:
        result = importing.import_file(session, principal, study_id, filename, content)
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        study = service.get_study(session, principal, study_id)
        rows = exc.errors if isinstance(exc, ImportRejected) else []
        detail = exc.message
        if not rows and exc.field_errors:
            detail += " — " + "; ".join(exc.field_errors.values())
        return _import_page(
            request, study, problem=detail, row_errors=rows, status_code=exc.status_code
        )
    if result.kind == "sites":
        done = f"{result.sites_created} site(s) added and {result.sites_updated} updated"
    else:
        done = f"{result.records_created} enrollment record(s) added"
    flash(request, f"Imported {filename}: {done} from {result.rows} row(s).")
    return RedirectResponse(f"/studies/{study_id}", status_code=303)


@router.get("/clinical/templates/{name}")
def template(name: str, principal: PageUser) -> Response:
    """The import templates: sites / enrollment / subjects, as .csv or .xlsx."""
    kind, _, extension = name.partition(".")
    if kind not in TEMPLATE_KINDS or extension not in ("csv", "xlsx"):
        raise NotFound(f"no template {name}")
    filename = f"opencxo-clinical-{kind}.{extension}"
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if extension == "csv":
        return Response(
            importing.template_csv(kind), media_type="text/csv; charset=utf-8", headers=disposition
        )
    return Response(importing.template_xlsx(kind), media_type=XLSX, headers=disposition)
