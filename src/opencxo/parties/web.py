"""HTML pages of the parties capability: organisations, the provider directory, qualifications."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from opencxo.core.auth.permissions import Permission
from opencxo.core.errors import OpenCXOError
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import PageParams
from opencxo.parties import service
from opencxo.parties.geography import REGIONS
from opencxo.parties.models import (
    AuditOutcome,
    CertificationStandard,
    OrganizationKind,
    QualificationStatus,
    ServiceLine,
)
from opencxo.parties.schemas import QualificationCreate, QualificationUpdate
from opencxo.web.deps import FormData, PageUser, validate_form
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
        {"page": page, "kind": kind or "", "q": q or "", "active": "organizations"},
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


def _directory_context(
    session: DbSession, principal: PageUser, params: PageParams, filters: dict[str, str]
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    page = None
    try:
        page = service.search_directory(
            session,
            principal,
            q=filters["q"] or None,
            service_code=filters["service_code"] or None,
            country=filters["country"] or None,
            region=filters["region"] or None,
            certification=filters["certification"] or None,
            service_line=filters["service_line"] or None,
            params=params,
        )
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
    }
    context = _directory_context(session, principal, params, filters)
    # HTMX asks only for the results when a filter changes.
    template = (
        "parties/_directory_results.html"
        if request.headers.get("HX-Request")
        else "parties/directory.html"
    )
    return render(request, template, context)


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
    can_qualify = any(principal.can(Permission.QUALIFICATIONS_WRITE, s.id) for s in sponsors)
    return render(
        request,
        "parties/provider.html",
        {
            "profile": profile,
            "qualifications": qualifications,
            "can_qualify": can_qualify,
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
            "status": status or "",
            "statuses": [s.value for s in QualificationStatus],
            "active": "qualifications",
        },
    )


@router.get("/qualifications/new")
def new_qualification_page(
    request: Request, session: DbSession, principal: PageUser, provider_id: str = ""
) -> Response:
    context = _qualification_form_context(
        request, session, principal, form={"provider_id": provider_id}
    )
    return render(request, "parties/qualification_form.html", context)


@router.post("/qualifications")
def create_qualification(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    body, errors = validate_form(QualificationCreate, form)
    if body is not None:
        try:
            created = service.create_qualification(session, principal, body)
        except OpenCXOError as exc:
            session.rollback()
            errors = exc.field_errors or {"form": exc.message}
        else:
            flash(
                request, f"Qualification of {created.provider_name} recorded as {created.status}."
            )
            return RedirectResponse(f"/qualifications/{created.id}", status_code=303)
    context = _qualification_form_context(request, session, principal, errors=errors, form=form)
    return render(request, "parties/qualification_form.html", context, status_code=422)


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
    body, errors = validate_form(QualificationUpdate, form)
    if body is not None:
        try:
            updated = service.update_qualification(session, principal, qualification_id, body)
        except OpenCXOError as exc:
            if exc.status_code in (403, 404):
                raise
            session.rollback()
            errors = exc.field_errors or {"form": exc.message}
        else:
            flash(
                request,
                f"Qualification of {updated.provider_name} saved (version {updated.version}).",
            )
            return RedirectResponse(f"/qualifications/{qualification_id}", status_code=303)
    return _qualification_page(
        request, session, principal, qualification_id, errors=errors, form=form, status_code=422
    )
