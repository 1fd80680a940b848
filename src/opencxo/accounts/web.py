"""HTML pages: log in and out, my API tokens, my organisation's users, the audit log."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from opencxo.accounts import service
from opencxo.core.auth import service as auth
from opencxo.core.auth.permissions import Permission, Role
from opencxo.core.errors import OpenCXOError
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import MAX_PAGE_SIZE, PageParams
from opencxo.core.schemas import MemberAdd, RoleChange
from opencxo.parties import service as parties
from opencxo.web.deps import FormData, PageUser, run_form, start_session, validate_form
from opencxo.web.exports import csv_response
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect a login to another host.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(
        request, "accounts/login.html", {"next": _safe_next(next), "errors": {}, "email": ""}
    )


@router.post("/login")
def login(request: Request, session: DbSession, form: FormData) -> Response:
    email = str(form.get("email", ""))
    target = _safe_next(form.get("next"))
    outcome = auth.authenticate(session, email=email, password=str(form.get("password", "")))
    # The failed attempt must be counted even though we refuse the login.
    session.commit()
    if outcome.error is not None or outcome.user is None:
        message = outcome.error.message if outcome.error else "log in failed"
        status = outcome.error.status_code if outcome.error else 401
        return render(
            request,
            "accounts/login.html",
            {"next": target, "errors": {"form": message}, "email": email},
            status_code=status,
        )
    start_session(request, outcome.user.id, outcome.user.session_generation)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, session: DbSession, principal: PageUser) -> Response:
    # Ends every session of the user on the server, not only this browser's cookie.
    auth.log_out(session, principal)
    request.session.clear()
    flash(request, "You have logged out of every browser session.", "info")
    return RedirectResponse("/login", status_code=303)


def _password_page(
    request: Request, *, errors: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    return render(
        request,
        "accounts/password.html",
        {"active": "password", "errors": errors or {}},
        status_code=status_code,
    )


@router.get("/account/password")
def password_page(request: Request, principal: PageUser) -> Response:
    return _password_page(request)


@router.post("/account/password")
def change_password(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = auth.change_password(
        session,
        principal,
        current_password=str(form.get("current_password", "")),
        new_password=str(form.get("new_password", "")),
        new_password_again=str(form.get("new_password_again", "")),
    )
    # A wrong current password is counted like a failed login, even though the change fails.
    session.commit()
    if outcome.error is not None or outcome.user is None:
        error = outcome.error
        errors = (error.field_errors or {"form": error.message}) if error else {"form": "failed"}
        return _password_page(
            request, errors=errors, status_code=error.status_code if error else 422
        )
    # This browser stays signed in with a new cookie; every other session has ended.
    start_session(request, outcome.user.id, outcome.user.session_generation)
    flash(request, "Password changed. Your other browser sessions have ended.")
    return RedirectResponse("/account/password", status_code=303)


@router.get("/account/tokens")
def tokens_page(request: Request, session: DbSession, principal: PageUser) -> Response:
    tokens = auth.list_tokens(session, principal)
    return render(
        request, "accounts/tokens.html", {"tokens": tokens, "active": "tokens", "errors": {}}
    )


@router.post("/account/tokens")
def create_token(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    try:
        token, plain = auth.create_token(session, principal, name=str(form.get("name", "")))
    except OpenCXOError as exc:
        session.rollback()
        tokens = auth.list_tokens(session, principal)
        return render(
            request,
            "accounts/tokens.html",
            {
                "tokens": tokens,
                "active": "tokens",
                "errors": exc.field_errors or {"name": exc.message},
            },
            status_code=exc.status_code,
        )
    tokens = auth.list_tokens(session, principal)
    page = render(
        request,
        "accounts/tokens.html",
        {
            "tokens": tokens,
            "active": "tokens",
            "errors": {},
            "new_token": plain,
            "new_name": token.name,
        },
        status_code=201,
    )
    page.headers["Cache-Control"] = "no-store"  # the page shows the plain token, once
    return page


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    token = auth.revoke_token(session, principal, token_id)
    flash(request, f"Token “{token.name}” revoked; it no longer works.")
    return RedirectResponse("/account/tokens", status_code=303)


def _members_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    organization_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    members, inactive = service.members_and_inactive(session, principal, organization_id)
    # Looked up, not taken from the layout's list: an operator manages organisations they do
    # not belong to (without it the add-user form posted to "/organizations//members").
    organization = parties.get_organization(session, principal, organization_id)
    return render(
        request,
        "accounts/members.html",
        {
            "members": members,
            "organization": organization,
            "roles": list(Role),
            "can_manage": principal.can(Permission.USERS_MANAGE, organization_id),
            "inactive": inactive,
            "errors": errors or {},
            "form": form or {},
            "active": "members",
        },
        status_code=status_code,
    )


@router.get("/organizations/{organization_id}/members")
def members_page(
    request: Request, organization_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _members_page(request, session, principal, organization_id)


@router.post("/organizations/{organization_id}/members")
def add_member(
    request: Request,
    organization_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    # Without users:manage the page has no form to show a message in: run_form raises 403/404.
    outcome = run_form(
        session,
        MemberAdd,
        form,
        lambda body: service.add_member(session, principal, organization_id, body),
    )
    if outcome.result is not None:
        flash(request, f"{outcome.result.email} added as {outcome.result.role}.")
        return RedirectResponse(f"/organizations/{organization_id}/members", status_code=303)
    form.pop("password", None)
    return _members_page(
        request,
        session,
        principal,
        organization_id,
        errors=outcome.errors,
        form=form,
        status_code=outcome.status_code,
    )


@router.post("/memberships/{membership_id}/role")
def change_role(
    request: Request,
    membership_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    body, errors = validate_form(RoleChange, form)
    if body is None:
        flash(request, "; ".join(errors.values()), "danger")
        return RedirectResponse(request.headers.get("referer", "/"), status_code=303)
    member = service.change_role(session, principal, membership_id, body)
    flash(request, f"{member.email} is now {member.role}.")
    return RedirectResponse(f"/organizations/{member.organization_id}/members", status_code=303)


@router.post("/memberships/{membership_id}/remove")
def remove_member(
    request: Request, membership_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    auth.remove_member(session, principal, membership_id)
    flash(request, "Member removed.")
    return RedirectResponse(request.headers.get("referer", "/"), status_code=303)


def _set_active(
    request: Request,
    session: DbSession,
    principal: PageUser,
    user_id: uuid.UUID,
    form: FormData,
    *,
    active: bool,
) -> Response:
    target = _safe_next(form.get("next"))
    try:
        user = auth.set_active(session, principal, user_id, active=active)
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        # A button, not a form: "not yourself" or "already done" comes back as a message.
        session.rollback()
        flash(request, exc.message, "danger")
        return RedirectResponse(target, status_code=303)
    flash(
        request,
        f"{user.email} reactivated; they can log in again."
        if active
        else f"{user.email} deactivated; their sessions and API tokens no longer work.",
    )
    return RedirectResponse(target, status_code=303)


@router.post("/users/{user_id}/deactivate")
def deactivate_user(
    request: Request, user_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    """The platform operator deactivates a user everywhere (an organisation's admin removes
    the membership instead)."""
    return _set_active(request, session, principal, user_id, form, active=False)


@router.post("/users/{user_id}/activate")
def activate_user(
    request: Request, user_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _set_active(request, session, principal, user_id, form, active=True)


@router.get("/audit.csv")
def audit_export(
    session: DbSession,
    principal: PageUser,
    entity_type: str | None = None,
    action: str | None = None,
) -> Response:
    """The filtered audit trail, every event, for an auditor's spreadsheet."""
    page = service.audit_log(
        session,
        principal,
        params=PageParams(page=1, page_size=MAX_PAGE_SIZE),
        entity_type=entity_type or None,
        action=action or None,
        unpaged=True,
    )
    headers = (
        "sequence", "occurred_at_utc", "actor", "organization_id", "action", "entity_type",
        "entity_id", "before", "after", "reason", "previous_hash", "hash",
    )  # fmt: skip
    rows = [
        (
            e.sequence,
            e.occurred_at.isoformat(),
            e.actor_label,
            e.organization_id,
            e.action,
            e.entity_type,
            e.entity_id,
            json.dumps(e.before) if e.before else "",
            json.dumps(e.after) if e.after else "",
            e.reason or "",
            e.previous_hash,
            e.hash,
        )
        for e in page.items
    ]
    return csv_response("opencxo-audit.csv", headers, rows)


@router.get("/audit")
def audit_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Annotated[PageParams, Query()],
    entity_type: str | None = None,
    action: str | None = None,
) -> Response:
    page = service.audit_log(
        session, principal, params=params, entity_type=entity_type or None, action=action or None
    )
    return render(
        request,
        "accounts/audit.html",
        {"page": page, "entity_type": entity_type or "", "action": action or "", "active": "audit"},
    )
