"""HTML pages of recovery plans and CRO site offers.

Thin, like ``recovery_api.py``: every page reads and writes through
:mod:`opencxo.clinical.recovery` (and the study through :mod:`opencxo.clinical.service`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from opencxo.clinical import recovery, service
from opencxo.clinical.page_helpers import (
    deadline_trace,
    enrollment_layout,
    fan_traces,
    target_trace,
)
from opencxo.clinical.recovery_schemas import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RECOVERY_PATHS,
    DEFAULT_RECOVERY_SEED,
    MAX_RECOVERY_PATHS,
    MIN_RECOVERY_PATHS,
    RecoveryDecision,
    RecoveryPlanRead,
    RecoveryRequest,
    SiteOfferCreate,
    SiteOfferRead,
    SiteOfferUpdate,
)
from opencxo.clinical.schemas import StudyRead
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Invalid
from opencxo.core.geography import country_name
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import PageParams
from opencxo.core.types import utc_today
from opencxo.web.deps import FormData, PageUser, run_form
from opencxo.web.exports import XlsxSheet, csv_response, xlsx_workbook_response
from opencxo.web.pages import PLOTLY_JS
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]

PLAN_HEADERS = (
    "Action",
    "Offer or site",
    "Provider",
    "Country",
    "Sites",
    "Expected patients by deadline",
    "Cost (saving negative)",
    "Currency",
)
DISTRIBUTION_HEADERS = (
    "Date",
    "Days after as-of",
    "Before P10",
    "Before P50",
    "Before P90",
    "Before mean",
    "After P10",
    "After P50",
    "After P90",
    "After mean",
)
HISTOGRAM_HEADERS = ("From", "To", "Share of paths before", "Share of paths after")


def _providers_i_write(request: Request, principal: Principal) -> list[Any]:
    return [
        o
        for o in getattr(request.state, "organizations", [])
        if str(o.kind) == "provider" and principal.can(Permission.STUDIES_WRITE, o.id)
    ]


def _is_sponsor(request: Request) -> bool:
    return any(str(o.kind) == "sponsor" for o in getattr(request.state, "organizations", []))


# --- site offers --------------------------------------------------------------------------------


def _flag(text: str) -> bool | None:
    return {"yes": True, "no": False}.get(text)


@router.get("/site-offers")
def offers_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    country: str = "",
    currency: str = "",
    active: str = "",
    therapeutic_area: str = "",
) -> Response:
    page = recovery.list_site_offers(
        session,
        principal,
        params=params,
        country=country.strip()[:2] or None,
        currency=currency.strip()[:3] or None,
        active=_flag(active),
        therapeutic_area=therapeutic_area.strip()[:100] or None,
    )
    writable = _providers_i_write(request, principal)
    return render(
        request,
        "clinical/offers.html",
        {
            "page": page,
            "sort": params.sort or "",
            "filters": {
                "country": country,
                "currency": currency,
                "active": active,
                "therapeutic_area": therapeutic_area,
            },
            "can_create": bool(writable),
            "writable_ids": {o.id for o in writable},
            "is_sponsor": _is_sponsor(request),
            "active": "site-offers",
        },
    )


def _offer_form_page(
    request: Request,
    principal: Principal,
    *,
    offer: SiteOfferRead | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    if form is not None:
        values = form
    elif offer is not None:
        values = offer.model_dump(mode="json")
        values["therapeutic_areas"] = ", ".join(offer.therapeutic_areas)
        values["active"] = "true" if offer.active else "false"
    else:
        values = {"currency": "USD", "capacity_sites": "1", "active": "true"}
    return render(
        request,
        "clinical/offer_form.html",
        {
            "offer": offer,
            "form": values,
            "errors": errors or {},
            "providers": _providers_i_write(request, principal),
            "active": "site-offers",
        },
        status_code=status_code,
    )


@router.get("/site-offers/new")
def new_offer_page(request: Request, principal: PageUser) -> Response:
    return _offer_form_page(request, principal)


@router.post("/site-offers")
def create_offer(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        SiteOfferCreate,
        form,
        lambda body: recovery.create_site_offer(session, principal, body),
    )
    if outcome.result is None:
        return _offer_form_page(
            request, principal, errors=outcome.errors, form=form, status_code=outcome.status_code
        )
    flash(request, f"Offer {outcome.result.name} published.")
    return RedirectResponse("/site-offers", status_code=303)


@router.get("/site-offers/{offer_id}/edit")
def edit_offer_page(
    request: Request, offer_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    offer = recovery.get_site_offer(session, principal, offer_id)
    return _offer_form_page(request, principal, offer=offer)


@router.post("/site-offers/{offer_id}/edit")
def update_offer(
    request: Request, offer_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        SiteOfferUpdate,
        form,
        lambda body: recovery.update_site_offer(session, principal, offer_id, body),
    )
    if outcome.result is None:
        offer = recovery.get_site_offer(session, principal, offer_id)
        return _offer_form_page(
            request, principal, offer=offer, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    done = "saved" if outcome.result.active else "saved and withdrawn from new plans"
    flash(request, f"Offer {outcome.result.name} {done}.")
    return RedirectResponse("/site-offers", status_code=303)


# --- the study's recovery page ------------------------------------------------------------------


def _can_propose(principal: Principal, study: StudyRead) -> bool:
    own = study.sponsor_id if study.viewer_role == "sponsor" else study.provider_id
    return own is not None and principal.can(Permission.STUDIES_WRITE, own)


def _recovery_page(
    request: Request,
    session: Session,
    principal: Principal,
    study_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    study = service.get_study(session, principal, study_id)
    plans = recovery.list_recovery_plans(session, principal, study_id)
    offers = recovery.list_site_offers(
        session, principal, params=PageParams(page=1, page_size=1), active=True
    )
    defaults = {
        "deadline": study.planned_last_patient_in.isoformat()
        if study.planned_last_patient_in
        else "",
        "confidence": str(DEFAULT_CONFIDENCE),
        "currency": "USD",
        "allow_closing": "true",
        "closing_cost_per_site": "0",
        "paths": str(DEFAULT_RECOVERY_PATHS),
        "seed": str(DEFAULT_RECOVERY_SEED),
    }
    return render(
        request,
        "clinical/recovery.html",
        {
            "study": study,
            "plans": plans,
            "offers_total": offers.total,
            "form": form if form is not None else defaults,
            "errors": errors or {},
            "can_propose": _can_propose(principal, study),
            "limits": {"min_paths": MIN_RECOVERY_PATHS, "max_paths": MAX_RECOVERY_PATHS},
            "today": utc_today().isoformat(),
            "active": "studies",
        },
        status_code=status_code,
    )


@router.get("/studies/{study_id}/recovery")
def recovery_page(
    request: Request, study_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _recovery_page(request, session, principal, study_id)


@router.post("/studies/{study_id}/recovery")
def propose(
    request: Request, study_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    # an unticked checkbox sends nothing: closing is allowed only when it is ticked
    form["allow_closing"] = "true" if form.get("allow_closing") else "false"
    if not str(form.get("closing_cost_per_site") or "").strip():  # left blank: no close-out cost
        form["closing_cost_per_site"] = "0"
    outcome = run_form(
        session,
        RecoveryRequest,
        form,
        lambda body: recovery.propose_recovery_plan(session, principal, study_id, body),
    )
    if outcome.result is None:
        return _recovery_page(
            request, session, principal, study_id, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    plan = outcome.result
    flash(
        request,
        f"Recovery plan proposed: {plan.sites_added} site(s) to add, {len(plan.closed)} to "
        f"close, P(target by {plan.deadline.isoformat()}) "
        f"{100 * plan.probability_before:.1f} % → {100 * plan.probability_after:.1f} %.",
    )
    return RedirectResponse(f"/recovery-plans/{plan.id}", status_code=303)


# --- the plan page ------------------------------------------------------------------------------


def _plan_chart(plan: RecoveryPlanRead) -> dict[str, Any]:
    before, after = plan.distribution.before, plan.distribution.after
    traces: list[dict[str, Any]] = []
    for label, points, color, fill in (
        ("before the plan", before, "#fd7e14", "rgba(253, 126, 20, 0.15)"),
        ("with the plan", after, "#198754", "rgba(25, 135, 84, 0.2)"),
    ):
        if not points:
            continue
        traces += fan_traces(points, label, color=color, fill=fill)
    dates = [p.on_date for p in before + after] or [plan.as_of, plan.deadline]
    start, end = min(dates), max([*dates, plan.deadline])
    traces.append(target_trace(plan.target, start, end))
    traces.append(deadline_trace(plan.deadline, plan.target))
    return {
        "data": traces,
        "layout": enrollment_layout(
            f"{plan.study_code}: cumulative enrollment before and with the plan "
            f"(as of {plan.as_of.isoformat()}, {plan.paths:,} paths)"
        ),
    }


def _histogram_chart(plan: RecoveryPlanRead) -> dict[str, Any] | None:
    bins = plan.distribution.histogram
    if not bins:
        return None
    centres = [(b.start + (b.end - b.start) / 2).isoformat() for b in bins]
    width_ms = [(b.end - b.start).days * 86_400_000 for b in bins]
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": name,
            "x": centres,
            "y": [round(100 * getattr(b, key), 3) for b in bins],
            "width": width_ms,
            "marker": {"color": color},
            "opacity": 0.6,
            "hovertemplate": "%{x}<br>%{y:.1f} % of paths<extra></extra>",
        }
        for key, name, color in (
            ("before", "Before the plan", "#fd7e14"),
            ("after", "With the plan", "#198754"),
        )
    ]
    return {
        "data": traces,
        "layout": {
            "title": {"text": f"{plan.study_code}: date the target is reached (simulated paths)"},
            "barmode": "overlay",
            "xaxis": {"title": {"text": "Date the target is reached"}, "type": "date"},
            "yaxis": {"title": {"text": "Share of paths (%)"}, "rangemode": "tozero"},
            "template": "plotly_white",
            "margin": {"t": 60, "l": 70, "r": 20, "b": 60},
            "height": 340,
            "legend": {"orientation": "h", "y": -0.25},
            "shapes": [
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": plan.deadline.isoformat(),
                    "x1": plan.deadline.isoformat(),
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#6f42c1", "dash": "dot"},
                }
            ],
        },
    }


def _can_decide(principal: Principal, plan: RecoveryPlanRead, study: StudyRead) -> bool:
    return (
        plan.status == "proposed"
        and plan.viewer_role == "sponsor"
        and principal.can(Permission.STUDIES_WRITE, study.sponsor_id)
    )


@router.get("/recovery-plans/{plan_id}")
def plan_page(
    request: Request, plan_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    plan = recovery.get_recovery_plan(session, principal, plan_id)
    study = service.get_study(session, principal, plan.study_id)
    return render(
        request,
        "clinical/recovery_plan.html",
        {
            "plan": plan,
            "study": study,
            "figure": _plan_chart(plan),
            "histogram": _histogram_chart(plan),
            "can_decide": _can_decide(principal, plan, study),
            "plotly_js": PLOTLY_JS,
            "active": "studies",
        },
    )


def _decide(
    request: Request,
    session: Session,
    principal: Principal,
    plan_id: uuid.UUID,
    form: dict[str, Any],
    *,
    accept: bool,
) -> Response:
    try:
        version = int(str(form.get("version", "")))
    except ValueError:
        raise Invalid("the form carries no plan version: reload the plan and try again") from None
    body = RecoveryDecision(version=version, reason=str(form.get("reason") or "")[:2000])
    act = recovery.accept_recovery_plan if accept else recovery.reject_recovery_plan
    plan = act(session, principal, plan_id, body)  # 409 (stale, decided) → the error page
    if accept:
        codes = [c for a in plan.added for c in a.site_codes]
        closed = [c.code for c in plan.closed]
        flash(
            request,
            "Plan accepted: "
            + (f"{len(codes)} site(s) added ({', '.join(codes)})" if codes else "no site added")
            + (f", closed {', '.join(closed)}" if closed else "")
            + ". The new sites are planned; activate them from the study page.",
        )
    else:
        flash(request, "Plan rejected. Nothing in the study changed.")
    return RedirectResponse(f"/recovery-plans/{plan_id}", status_code=303)


@router.post("/recovery-plans/{plan_id}/accept")
def accept(
    request: Request, plan_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _decide(request, session, principal, plan_id, form, accept=True)


@router.post("/recovery-plans/{plan_id}/reject")
def reject(
    request: Request, plan_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _decide(request, session, principal, plan_id, form, accept=False)


def plan_rows(plan: RecoveryPlanRead) -> list[tuple[Any, ...]]:
    """The plan as a table: sites to add, sites to close, then the totals."""
    rows: list[tuple[Any, ...]] = [
        ("add", a.offer_name, a.provider_name, country_name(a.country), a.sites,
         round(a.expected_patients_by_deadline, 1), a.cost, plan.currency)
        for a in plan.added
    ]  # fmt: skip
    rows += [
        ("close", f"{c.code} {c.name}", "", country_name(c.country), 1,
         -round(c.expected_patients_lost, 1), -c.saving, plan.currency)
        for c in plan.closed
    ]  # fmt: skip
    rows += [
        ("total added cost", "", "", "", plan.sites_added, "", plan.added_cost, plan.currency),
        ("total savings", "", "", "", len(plan.closed), "", -plan.savings, plan.currency),
        ("close-out cost per site", "", "", "", "", "", plan.closing_cost_per_site, plan.currency),
        ("net cost", "", "", "", "", "", plan.net_cost, plan.currency),
        ("P(target by deadline) before", "", "", "", "", "", plan.probability_before, ""),
        ("P(target by deadline) with the plan", "", "", "", "", "", plan.probability_after, ""),
    ]
    return rows


@router.get("/recovery-plans/{plan_id}/plan.csv")
def plan_csv(plan_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    plan = recovery.get_recovery_plan(session, principal, plan_id)
    name = f"{plan.study_code}-recovery-plan-{plan.created_at.date().isoformat()}.csv"
    return csv_response(name, PLAN_HEADERS, plan_rows(plan))


def distribution_rows(plan: RecoveryPlanRead, mean_digits: int | None = 1) -> list[tuple[Any, ...]]:
    """The cumulative bands before and with the plan, one row per day of either (the means
    rounded to ``mean_digits``; None: as stored)."""
    before = {p.day: p for p in plan.distribution.before}
    after = {p.day: p for p in plan.distribution.after}

    def mean(value: float) -> float:
        return value if mean_digits is None else round(value, mean_digits)

    rows: list[tuple[Any, ...]] = []
    for day in sorted(set(before) | set(after)):
        point = before.get(day) or after[day]
        b, a = before.get(day), after.get(day)
        rows.append(
            (
                point.on_date,
                day,
                *((b.p10, b.p50, b.p90, mean(b.mean)) if b else (None,) * 4),
                *((a.p10, a.p50, a.p90, mean(a.mean)) if a else (None,) * 4),
            )
        )
    return rows


def histogram_rows(plan: RecoveryPlanRead) -> list[tuple[Any, ...]]:
    return [(b.start, b.end, b.before, b.after) for b in plan.distribution.histogram]


@router.get("/recovery-plans/{plan_id}/distribution.csv")
def distribution_csv(plan_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    plan = recovery.get_recovery_plan(session, principal, plan_id)
    name = f"{plan.study_code}-recovery-forecast-{plan.created_at.date().isoformat()}.csv"
    return csv_response(name, DISTRIBUTION_HEADERS, distribution_rows(plan))


@router.get("/recovery-plans/{plan_id}/histogram.csv")
def histogram_csv(plan_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    plan = recovery.get_recovery_plan(session, principal, plan_id)
    name = f"{plan.study_code}-recovery-completion-{plan.created_at.date().isoformat()}.csv"
    return csv_response(name, HISTOGRAM_HEADERS, histogram_rows(plan))


# --- the plan as a workbook ---------------------------------------------------------------------

SUMMARY_HEADERS = ("Item", "Value", "Unit")
ADDED_HEADERS = (
    "Offer",
    "Provider",
    "Country",
    "Sites",
    "Patients / site / month",
    "Opens after (days)",
    "Start-up cost per site",
    "Monthly cost per site",
    "Cost per patient",
    "Expected patients by deadline",
    "Cost",
    "Study sites",
)
CLOSED_HEADERS = (
    "Site",
    "Name",
    "Country",
    "Expected patients lost by deadline",
    "Saving (net of close-out)",
)


def _money_cell(value: Decimal) -> float:
    """Money for Excel: a number (exact to the cent, as other exports write it)."""
    return float(value)


def _summary_rows(plan: RecoveryPlanRead) -> list[tuple[Any, ...]]:
    c = plan.currency

    def when(value: date | None) -> date | str:
        return value if value is not None else "beyond the 5-year horizon"

    rows: list[tuple[Any, ...]] = [
        ("Study", plan.study_code, ""),
        ("Status", plan.status.value, ""),
        ("Outcome", plan.outcome.value, ""),
        ("Message", plan.message, ""),
        ("Proposed by", plan.organization_name, plan.created_by_name or ""),
        ("Proposed on", plan.created_at.date(), ""),
        ("As of", plan.as_of, ""),
        ("Deadline", plan.deadline, ""),
        ("Confidence", plan.confidence, "probability"),
        ("Currency", c, ""),
        ("Target", plan.target, "patients"),
        ("Enrolled on the as-of date", plan.enrolled_to_date, "patients"),
        ("Closing sites allowed", "yes" if plan.allow_closing else "no", ""),
        ("Close-out cost per site", _money_cell(plan.closing_cost_per_site), c),
        ("P(target by deadline) before", plan.probability_before, "probability"),
        ("P(target by deadline) with the plan", plan.probability_after, "probability"),
        ("P(target by deadline), normal approximation", plan.probability_approximation,
         "probability"),
    ]  # fmt: skip
    for label, dates in (
        ("before", plan.completion_before),
        ("with the plan", plan.completion_after),
    ):
        rows += [
            (f"Target reached {p.upper()}, {label}", when(getattr(dates, p)), "")
            for p in ("p10", "p50", "p90")
        ]
    rows += [
        ("Sites added", plan.sites_added, "sites"),
        ("Sites closed", len(plan.closed), "sites"),
        ("Added cost", _money_cell(plan.added_cost), c),
        ("Savings (net of close-out)", _money_cell(plan.savings), c),
        ("Net cost", _money_cell(plan.net_cost), c),
        ("Offers considered", plan.offers_considered, "offers"),
        ("Offers left out for their currency", plan.offers_skipped_currency, "offers"),
        ("Paths", plan.paths, "per simulation"),
        ("Seed", plan.seed, ""),
    ]
    return rows


def _plan_sheet(plan: RecoveryPlanRead) -> XlsxSheet:
    """The summary, then the sites to add and the sites to close (each with its header)."""
    rows = _summary_rows(plan)
    bold: set[int] = set()

    def table(title: str, headers: Sequence[str], body: list[tuple[Any, ...]], empty: str) -> None:
        rows.append(())
        bold.update((len(rows), len(rows) + 1))
        rows.extend([(title,), tuple(headers)])
        rows.extend(body or [(empty,)])

    table(
        "Sites to add",
        ADDED_HEADERS,
        [
            (
                a.offer_name,
                a.provider_name,
                country_name(a.country),
                a.sites,
                a.expected_rate_per_site_per_month,
                a.activation_lag_days,
                _money_cell(a.startup_cost_per_site),
                _money_cell(a.monthly_cost_per_site),
                _money_cell(a.cost_per_patient),
                a.expected_patients_by_deadline,
                _money_cell(a.cost),
                ", ".join(a.site_codes),
            )
            for a in plan.added
        ],
        "none",
    )
    table(
        "Sites to close",
        CLOSED_HEADERS,
        [
            (
                c.code,
                c.name,
                country_name(c.country),
                c.expected_patients_lost,
                _money_cell(c.saving),
            )
            for c in plan.closed
        ],
        "none" if plan.allow_closing else "none (closing sites was not allowed)",
    )
    return XlsxSheet("Plan", SUMMARY_HEADERS, rows, frozenset(bold))


@router.get("/recovery-plans/{plan_id}/plan.xlsx")
def plan_xlsx(plan_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    """The plan in one workbook: the summary with the sites to add and to close ("Plan"), the
    forecast bands ("Distribution") and the completion dates ("Histogram")."""
    plan = recovery.get_recovery_plan(session, principal, plan_id)
    name = f"{plan.study_code}-recovery-plan-{plan.created_at.date().isoformat()}.xlsx"
    return xlsx_workbook_response(
        name,
        [
            _plan_sheet(plan),
            XlsxSheet(
                "Distribution", DISTRIBUTION_HEADERS, distribution_rows(plan, mean_digits=None)
            ),
            XlsxSheet("Histogram", HISTOGRAM_HEADERS, histogram_rows(plan)),
        ],
    )
