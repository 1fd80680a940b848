"""HTML pages of the parties capability: organisations, the provider directory, qualifications."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Annotated, Any

import pycountry
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from opencxo.core.auth.permissions import Permission
from opencxo.core.errors import NotPermitted, OpenCXOError
from opencxo.core.geography import REGIONS, country_name
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import MAX_PAGE_SIZE, MAX_SORT_LENGTH, Page, PageParams, paginate
from opencxo.core.types import utc_today
from opencxo.parties import service
from opencxo.parties.models import (
    AuditOutcome,
    CertificationStandard,
    DisruptionCause,
    InspectionOutcome,
    OrganizationKind,
    QualificationStatus,
    ServiceLine,
    SiteType,
    SponsorKind,
)
from opencxo.parties.schemas import (
    INSPECTION_AUTHORITIES,
    CapabilityCreate,
    CertificationCreate,
    DirectoryHit,
    DisruptionCreate,
    DisruptionEnd,
    DisruptionRead,
    DisruptionUpdate,
    InspectionCreate,
    OrganizationCreate,
    OrganizationSummary,
    OrganizationUpdate,
    QualificationCreate,
    QualificationUpdate,
    SiteCreate,
)
from opencxo.web.deps import FormData, FormOutcome, PageUser, run_form
from opencxo.web.exports import xlsx_response
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]


@router.get("/organizations")
def organizations_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    kind: str | None = None,
    q: str | None = None,
) -> Response:
    kind_value = OrganizationKind(kind) if kind in {k.value for k in OrganizationKind} else None
    page = service.list_organizations(
        session, principal, kind=kind_value, q=q or None, params=params
    )
    return render(
        request,
        "parties/organizations.html",
        {
            "page": page,
            "kind": kind or "",
            "q": q or "",
            "sort": params.sort or "",
            "active": "organizations",
        },
    )


# --- registering an organisation (platform operator) --------------------------------------------


def _new_organization_page(
    request: Request,
    principal: PageUser,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    if not principal.is_operator:
        raise NotPermitted("only a platform operator registers organisations")
    return render(
        request,
        "parties/organization_new.html",
        {
            "errors": errors or {},
            "form": form or {"kind": "sponsor"},
            "regions": REGIONS,
            "service_lines": [s.value for s in ServiceLine],
            "sponsor_kinds": [k.value for k in SponsorKind],
            "active": "organizations",
        },
        status_code=status_code,
    )


@router.get("/organizations/new")
def new_organization_page(request: Request, principal: PageUser) -> Response:
    return _new_organization_page(request, principal)


@router.post("/organizations")
def create_organization(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    form["service_lines"] = _as_list(form.get("service_lines"))
    form["regions_served"] = _as_list(form.get("regions_served"))
    outcome = run_form(
        session,
        OrganizationCreate,
        form,
        lambda body: service.create_organization(session, principal, body),
    )
    if outcome.result is not None:
        flash(request, f"{outcome.result.name} registered. Add its first user under Users.")
        return RedirectResponse(f"/organizations/{outcome.result.id}/manage", status_code=303)
    return _new_organization_page(
        request, principal, errors=outcome.errors, form=form, status_code=outcome.status_code
    )


@router.get("/organizations/{organization_id}")
def organization_page(
    request: Request, organization_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    organization = service.get_organization(session, principal, organization_id)
    if organization.kind == OrganizationKind.PROVIDER:
        return RedirectResponse(f"/providers/{organization_id}", status_code=303)
    history = service.organization_history(session, principal, organization_id)
    return render(
        request,
        "parties/organization.html",
        {"organization": organization, "history": history, "active": "organizations"},
    )


DIRECTORY_FILTERS = ("q", "service_code", "country", "region", "certification", "service_line")


def _search(
    session: DbSession,
    principal: PageUser,
    filters: dict[str, str],
    params: PageParams,
    *,
    unpaged: bool = False,
) -> Page[DirectoryHit]:
    """The directory search behind the page, its HTMX fragment and its export."""
    return service.search_directory(
        session,
        principal,
        **{name: filters.get(name) or None for name in DIRECTORY_FILTERS},
        params=params,
        unpaged=unpaged,
    )


def _directory_context(
    session: DbSession, principal: PageUser, params: PageParams, filters: dict[str, str]
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    page = None
    try:
        page = _search(session, principal, filters, params)
    except OpenCXOError as exc:
        errors = exc.field_errors or {"form": exc.message}
    return {
        "page": page,
        "filters": filters,
        "errors": errors,
        "catalog": service.catalog(),
        "regions": REGIONS,
        "standards": [s.value for s in CertificationStandard],
        "service_lines": [s.value for s in ServiceLine],
        "active": "providers",
    }


@router.get("/providers")
def directory_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    q: str = "",
    service_code: str = "",
    country: str = "",
    region: str = "",
    certification: str = "",
    service_line: str = "",
) -> Response:
    filters = {
        "q": q,
        "service_code": service_code,
        "country": country,
        "region": region,
        "certification": certification,
        "service_line": service_line,
        "sort": params.sort or "",
    }
    context = _directory_context(session, principal, params, filters)
    # HTMX asks only for the results when a filter changes.
    template = (
        "parties/_directory_results.html"
        if request.headers.get("HX-Request")
        else "parties/directory.html"
    )
    return render(request, template, context)


@router.get("/providers.xlsx")
def directory_export(
    session: DbSession,
    principal: PageUser,
    q: str = "",
    service_code: str = "",
    country: str = "",
    region: str = "",
    certification: str = "",
    service_line: str = "",
    sort: Annotated[str, Query(max_length=MAX_SORT_LENGTH)] = "",
) -> Response:
    """Every provider matching the filters (not only the page on screen), as a workbook."""
    filters = {
        "q": q,
        "service_code": service_code,
        "country": country,
        "region": region,
        "certification": certification,
        "service_line": service_line,
    }
    params = PageParams(page=1, page_size=MAX_PAGE_SIZE, sort=sort or None)
    page = _search(session, principal, filters, params, unpaged=True)
    rows = [
        (
            hit.organization.name,
            hit.organization.service_lines,
            country_name(hit.organization.country),
            hit.organization.city,
            hit.valid_certifications,
            hit.capability_codes,
            hit.latest_inspection.authority if hit.latest_inspection else None,
            hit.latest_inspection.inspected_on if hit.latest_inspection else None,
            hit.latest_inspection.outcome.value if hit.latest_inspection else None,
            hit.score,
        )
        for hit in page.items
    ]
    headers = (
        "Provider", "Service lines", "Country", "City", "Valid certificates", "Services",
        "Latest inspection authority", "Latest inspection date", "Latest inspection outcome", "Score",
    )  # fmt: skip
    return xlsx_response("opencxo-providers.xlsx", "Providers", headers, rows)


@router.get("/providers/{provider_id}")
def provider_page(
    request: Request, provider_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    profile = service.provider_profile(session, principal, provider_id)
    sponsors = [o for o in request.state.organizations if o.kind == OrganizationKind.SPONSOR]
    qualifications = [
        q
        for sponsor in sponsors
        if (q := service.qualification_of(session, principal, sponsor.id, provider_id)) is not None
    ]
    can_qualify = _can_qualify(request, principal)
    history = service.organization_history(session, principal, provider_id)
    return render(
        request,
        "parties/provider.html",
        {
            "profile": profile,
            "qualifications": qualifications,
            "can_qualify": can_qualify,
            "history": history,
            "can_manage": principal.can(Permission.ORGANIZATIONS_WRITE, provider_id),
            "catalog": service.catalog(),
            "active": "providers",
        },
    )


def _qualification_form_context(
    request: Request, session: DbSession, principal: PageUser, **extra: Any
) -> dict[str, Any]:
    providers = service.list_organizations(
        session,
        principal,
        kind=OrganizationKind.PROVIDER,
        q=None,
        params=PageParams(page=1, page_size=100),
    )
    return {
        "providers": providers.items,
        "statuses": [s.value for s in QualificationStatus],
        "audit_outcomes": [o.value for o in AuditOutcome],
        "sponsors": [o for o in request.state.organizations if o.kind == OrganizationKind.SPONSOR],
        "active": "qualifications",
        "errors": {},
        "form": {},
        **extra,
    }


@router.get("/qualifications")
def qualifications_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    status: str | None = None,
) -> Response:
    status_value = (
        QualificationStatus(status) if status in {s.value for s in QualificationStatus} else None
    )
    page = service.list_qualifications(session, principal, status=status_value, params=params)
    return render(
        request,
        "parties/qualifications.html",
        {
            "page": page,
            "sort": params.sort or "",
            "status": status or "",
            "statuses": [s.value for s in QualificationStatus],
            "can_qualify": _can_qualify(request, principal),
            "active": "qualifications",
        },
    )


@router.get("/qualifications.xlsx")
def qualifications_export(
    session: DbSession, principal: PageUser, status: str | None = None
) -> Response:
    status_value = (
        QualificationStatus(status) if status in {s.value for s in QualificationStatus} else None
    )
    page = service.list_qualifications(
        session,
        principal,
        status=status_value,
        params=PageParams(page=1, page_size=MAX_PAGE_SIZE),
        unpaged=True,
    )
    headers = (
        "Provider", "Status", "CDA signed", "MSA signed", "Quality agreement signed", "Last audit",
        "Audit outcome", "Audit findings", "Expires", "Expired", "Notes",
    )  # fmt: skip
    rows = [
        (
            q.provider_name,
            q.status.value,
            q.cda_signed_on,
            q.msa_signed_on,
            q.quality_agreement_signed_on,
            q.last_audit_on,
            q.last_audit_outcome.value if q.last_audit_outcome else None,
            q.audit_findings,
            q.expires_on,
            "yes" if q.expired else "no",
            q.notes,
        )
        for q in page.items
    ]
    return xlsx_response("opencxo-qualifications.xlsx", "Qualifications", headers, rows)


def _can_qualify(request: Request, principal: PageUser) -> bool:
    """Whether the user may record qualifications: qualifications:write in one of their sponsors."""
    return any(
        principal.can(Permission.QUALIFICATIONS_WRITE, o.id)
        for o in request.state.organizations
        if o.kind == OrganizationKind.SPONSOR
    )


@router.get("/qualifications/new")
def new_qualification_page(
    request: Request, session: DbSession, principal: PageUser, provider_id: str = ""
) -> Response:
    # Refused before the form is filled in, not after (a viewer, a provider, the operator).
    if not _can_qualify(request, principal):
        raise NotPermitted(
            "recording a qualification needs qualifications:write in a sponsor organisation"
        )
    context = _qualification_form_context(
        request, session, principal, form={"provider_id": provider_id}
    )
    return render(request, "parties/qualification_form.html", context)


@router.post("/qualifications")
def create_qualification(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        QualificationCreate,
        form,
        lambda body: service.create_qualification(session, principal, body),
    )
    if outcome.result is not None:
        created = outcome.result
        flash(request, f"Qualification of {created.provider_name} recorded as {created.status}.")
        return RedirectResponse(f"/qualifications/{created.id}", status_code=303)
    context = _qualification_form_context(
        request, session, principal, errors=outcome.errors, form=form
    )
    return render(
        request, "parties/qualification_form.html", context, status_code=outcome.status_code
    )


def _qualification_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    qualification_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    qualification = service.get_qualification(session, principal, qualification_id)
    history = service.qualification_history(session, principal, qualification_id)
    context = _qualification_form_context(
        request,
        session,
        principal,
        qualification=qualification,
        history=history,
        can_edit=principal.can(Permission.QUALIFICATIONS_WRITE, qualification.sponsor_id),
        errors=errors or {},
        form=form or qualification.model_dump(mode="json"),
    )
    return render(request, "parties/qualification.html", context, status_code=status_code)


@router.get("/qualifications/{qualification_id}")
def qualification_page(
    request: Request, qualification_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _qualification_page(request, session, principal, qualification_id)


@router.post("/qualifications/{qualification_id}")
def update_qualification(
    request: Request,
    qualification_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        QualificationUpdate,
        form,
        lambda body: service.update_qualification(session, principal, qualification_id, body),
    )
    if outcome.result is not None:
        updated = outcome.result
        flash(
            request, f"Qualification of {updated.provider_name} saved (version {updated.version})."
        )
        return RedirectResponse(f"/qualifications/{qualification_id}", status_code=303)
    return _qualification_page(
        request,
        session,
        principal,
        qualification_id,
        errors=outcome.errors,
        form=form,
        status_code=outcome.status_code,  # 409 for a stale version
    )


# --- managing one's own organisation profile ----------------------------------------------------

_MANAGE_SECTIONS = ("profile", "site", "capability", "certification", "inspection")


def _manage_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    organization_id: uuid.UUID,
    *,
    section: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    organization = service.get_organization(session, principal, organization_id)
    if not principal.can(Permission.ORGANIZATIONS_WRITE, organization_id):
        raise NotPermitted("your role does not grant organizations:write for this organisation")
    profile = (
        service.provider_profile(session, principal, organization_id)
        if organization.kind == OrganizationKind.PROVIDER
        else None
    )
    return render(
        request,
        "parties/manage.html",
        {
            "organization": organization,
            "profile": profile,
            "section": section,
            "errors": errors or {},
            "form": form or {},
            "catalog": service.catalog(),
            "regions": REGIONS,
            "standards": [s.value for s in CertificationStandard],
            "service_lines": [s.value for s in ServiceLine],
            "site_types": [t.value for t in SiteType],
            "outcomes": [o.value for o in InspectionOutcome],
            "authorities": INSPECTION_AUTHORITIES,
            "active": "my-org",
        },
        status_code=status_code,
    )


@router.get("/organizations/{organization_id}/manage")
def manage_page(
    request: Request, organization_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _manage_page(request, session, principal, organization_id)


def _as_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _manage_action(
    request: Request,
    session: DbSession,
    principal: PageUser,
    organization_id: uuid.UUID,
    section: str,
    outcome: FormOutcome[Any],
    form: dict[str, Any],
    done: str,
) -> Response:
    """Come back to the manage page: with a confirmation, or with the form's errors."""
    if outcome.result is not None:
        flash(request, done)
        return RedirectResponse(
            f"/organizations/{organization_id}/manage#{section}", status_code=303
        )
    return _manage_page(
        request,
        session,
        principal,
        organization_id,
        section=section,
        errors=outcome.errors,
        form=form,
        status_code=outcome.status_code,
    )


@router.post("/organizations/{organization_id}/profile")
def update_profile(
    request: Request,
    organization_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    form["service_lines"] = _as_list(form.get("service_lines"))
    form["regions_served"] = _as_list(form.get("regions_served"))
    outcome = run_form(
        session,
        OrganizationUpdate,
        form,
        lambda body: service.update_organization(session, principal, organization_id, body),
    )
    return _manage_action(
        request, session, principal, organization_id, "profile", outcome, form, "Profile saved."
    )


@router.post("/organizations/{organization_id}/sites")
def add_site(
    request: Request,
    organization_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        SiteCreate,
        form,
        lambda body: service.add_site(session, principal, organization_id, body),
    )
    return _manage_action(
        request, session, principal, organization_id, "site", outcome, form, "Site added."
    )


@router.post("/sites/{site_id}/remove")
def remove_site(
    request: Request, site_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    organization_id = service.remove_site(session, principal, site_id)
    flash(request, "Site removed.")
    return RedirectResponse(f"/organizations/{organization_id}/manage#site", status_code=303)


@router.post("/providers/{provider_id}/capabilities")
def add_capability(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    form["site_ids"] = _as_list(form.get("site_ids"))
    form["standards"] = _as_list(form.get("standards"))
    outcome = run_form(
        session,
        CapabilityCreate,
        form,
        lambda body: service.add_capability(session, principal, provider_id, body),
    )
    return _manage_action(
        request, session, principal, provider_id, "capability", outcome, form, "Capability added."
    )


@router.post("/capabilities/{capability_id}/remove")
def remove_capability(
    request: Request, capability_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    provider_id = service.remove_capability(session, principal, capability_id)
    flash(request, "Capability removed.")
    return RedirectResponse(f"/organizations/{provider_id}/manage#capability", status_code=303)


@router.post("/providers/{provider_id}/certifications")
def add_certification(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        CertificationCreate,
        form,
        lambda body: service.add_certification(session, principal, provider_id, body),
    )
    return _manage_action(
        request,
        session,
        principal,
        provider_id,
        "certification",
        outcome,
        form,
        "Certificate added.",
    )


@router.post("/providers/{provider_id}/inspections")
def add_inspection(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        InspectionCreate,
        form,
        lambda body: service.add_inspection(session, principal, provider_id, body),
    )
    return _manage_action(
        request,
        session,
        principal,
        provider_id,
        "inspection",
        outcome,
        form,
        "Inspection recorded.",
    )


# --- disruptions: declared events on a country or a region (private to the organisation) -------

DISRUPTION_SORTS = ("title", "cause", "place", "starts_on", "ends_on", "multiplier")
DISRUPTION_STATES = ("open", "upcoming", "ended")


@cache
def _countries() -> tuple[tuple[str, str], ...]:
    """Every ISO 3166-1 country as (alpha-2 code, common name), by name."""
    codes = (str(c.alpha_2) for c in pycountry.countries)
    return tuple(sorted(((code, country_name(code)) for code in codes), key=lambda c: c[1]))


def multiplier_label(multiplier: float) -> str:
    """The enrollment multiplier in words: "suspended", "50 % of normal", "unaffected"."""
    if multiplier <= 0:
        return "suspended"
    if multiplier >= 1:
        return "unaffected"
    return f"{round(multiplier * 100, 1):g} % of normal"


@dataclass(frozen=True)
class DisruptionRow:
    """A disruption as the page shows it."""

    disruption: DisruptionRead
    place: str  # a country's name, or a region's
    is_region: bool
    state: str  # open (in force), upcoming (starts later) or ended
    multiplier: str

    @classmethod
    def of(cls, disruption: DisruptionRead, today: date) -> DisruptionRow:
        if disruption.ends_on is not None and disruption.ends_on < today:
            state = "ended"
        elif disruption.starts_on > today:
            state = "upcoming"
        else:
            state = "open"
        return cls(
            disruption=disruption,
            place=country_name(disruption.country) if disruption.country else disruption.place,
            is_region=disruption.country is None,
            state=state,
            multiplier=multiplier_label(disruption.enrollment_multiplier),
        )


def _sorted_rows(rows: list[DisruptionRow], params: PageParams) -> list[DisruptionRow]:
    column, descending = params.sort_key(DISRUPTION_SORTS, "-starts_on")
    keys: dict[str, Any] = {
        "title": lambda r: r.disruption.title.casefold(),
        "cause": lambda r: r.disruption.cause.value,
        "place": lambda r: r.place.casefold(),
        "starts_on": lambda r: r.disruption.starts_on,
        "ends_on": lambda r: r.disruption.ends_on or date.max,  # open-ended: the latest end
        "multiplier": lambda r: r.disruption.enrollment_multiplier,
    }
    by_title = sorted(rows, key=lambda r: r.disruption.title.casefold())
    return sorted(by_title, key=keys[column], reverse=descending)


def _disruption_writers(request: Request, principal: PageUser) -> list[OrganizationSummary]:
    """The user's organisations in which their role may declare disruptions."""
    return [
        o for o in request.state.organizations if principal.can(Permission.DISRUPTIONS_WRITE, o.id)
    ]


def _disruption_form_context(request: Request, principal: PageUser) -> dict[str, Any]:
    writers = _disruption_writers(request, principal)
    return {
        "causes": [c.value for c in DisruptionCause],
        "regions": REGIONS,
        "countries": _countries(),
        "writers": writers,
        "can_write": bool(writers),
        "today": utc_today(),
        "active": "disruptions",
    }


_NEW_DISRUPTION = {"enrollment_multiplier": 0, "freeze_activations": "on"}


def _disruption_form(form: dict[str, Any]) -> dict[str, Any]:
    """An unticked checkbox is not submitted: it means "no", not the schema's default."""
    form["freeze_activations"] = "on" if form.get("freeze_activations") else "off"
    return form


def _disruptions_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: PageParams,
    state: str = "",
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    today = utc_today()
    rows = [DisruptionRow.of(d, today) for d in service.list_disruptions(session, principal)]
    state = state if state in DISRUPTION_STATES else ""
    shown = _sorted_rows([r for r in rows if not state or r.state == state], params)
    items, total = paginate(shown, params)
    return render(
        request,
        "parties/disruptions.html",
        {
            **_disruption_form_context(request, principal),
            "page": Page.of(items, total=total, params=params),
            "declared": len(rows),
            "sort": params.sort or "",
            "state": state,
            "states": DISRUPTION_STATES,
            "errors": errors or {},
            "form": form or _NEW_DISRUPTION | {"starts_on": today.isoformat()},
        },
        status_code=status_code,
    )


@router.get("/disruptions")
def disruptions_page(
    request: Request, session: DbSession, principal: PageUser, params: Pages, state: str = ""
) -> Response:
    return _disruptions_page(request, session, principal, params, state)


@router.post("/disruptions")
def declare_disruption(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        DisruptionCreate,
        _disruption_form(form),
        lambda body: service.declare_disruption(session, principal, body),
    )
    if outcome.result is not None:
        declared = outcome.result
        flash(request, f"Disruption “{declared.title}” declared.")
        return RedirectResponse(f"/disruptions/{declared.id}", status_code=303)
    return _disruptions_page(
        request,
        session,
        principal,
        PageParams(),
        errors=outcome.errors,
        form=form,
        status_code=outcome.status_code,
    )


def _disruption_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    disruption_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    disruption = service.get_disruption(session, principal, disruption_id)
    context = _disruption_form_context(request, principal)
    return render(
        request,
        "parties/disruption.html",
        {
            **context,
            "row": DisruptionRow.of(disruption, context["today"]),
            "can_write": principal.can(Permission.DISRUPTIONS_WRITE, disruption.organization_id),
            "errors": errors or {},
            "form": form or disruption.model_dump(mode="json"),
        },
        status_code=status_code,
    )


@router.get("/disruptions/{disruption_id}")
def disruption_page(
    request: Request, disruption_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _disruption_page(request, session, principal, disruption_id)


@router.post("/disruptions/{disruption_id}")
def update_disruption(
    request: Request,
    disruption_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        DisruptionUpdate,
        _disruption_form(form),
        lambda body: service.update_disruption(session, principal, disruption_id, body),
    )
    if outcome.result is not None:
        flash(request, f"Disruption “{outcome.result.title}” saved.")
        return RedirectResponse(f"/disruptions/{disruption_id}", status_code=303)
    return _disruption_page(
        request,
        session,
        principal,
        disruption_id,
        errors=outcome.errors,
        form=form,
        status_code=outcome.status_code,  # 409 for a stale version
    )


@router.post("/disruptions/{disruption_id}/end")
def end_disruption(
    request: Request,
    disruption_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    """The quick action: the same disruption, ending today (an update of ``ends_on``)."""
    current = service.get_disruption(session, principal, disruption_id)
    outcome = run_form(
        session,
        DisruptionEnd,
        {"version": form.get("version", "")},
        lambda body: service.end_disruption(session, principal, disruption_id, body),
    )
    if outcome.result is not None:
        flash(request, f"Disruption “{current.title}” ended today.")
    else:
        problem = "; ".join(outcome.errors.values())
        flash(request, f"“{current.title}” was not ended: {problem}", "danger")
    back = "/disruptions" if form.get("back") == "list" else f"/disruptions/{disruption_id}"
    return RedirectResponse(back, status_code=303)


@router.post("/disruptions/{disruption_id}/delete")
def delete_disruption(
    request: Request, disruption_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    title = service.get_disruption(session, principal, disruption_id).title
    service.delete_disruption(session, principal, disruption_id)
    flash(request, f"Disruption “{title}” deleted.")
    return RedirectResponse("/disruptions", status_code=303)
