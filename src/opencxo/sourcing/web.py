"""HTML pages of sourcing: programs, RFPs, sealed bids, comparison, award and notifications.

Thin, like ``api.py``: every page reads and writes through ``opencxo.sourcing.service``; the sponsor
and the invited provider each get a page of the same RFP that makes sense on its own.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from opencxo.contracts import service as contracts
from opencxo.core import files, notifications
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.auth.service import principal_for_user_id, session_is_current
from opencxo.core.errors import Invalid, NotFound, OpenCXOError
from opencxo.core.http import SESSION_USER_KEY, CsrfProtected, DbSession, attachment
from opencxo.core.pagination import MAX_PAGE_SIZE, PageParams
from opencxo.core.types import utcnow
from opencxo.parties import service as parties
from opencxo.parties.models import CertificationStandard, OrganizationKind
from opencxo.sourcing import service
from opencxo.sourcing.models import Modality, Phase, RfpStatus
from opencxo.sourcing.schemas import (
    AnswerCreate,
    AttachmentRead,
    AwardCreate,
    BidInput,
    BidRead,
    CancelRfp,
    Comparison,
    ExchangeRates,
    FinishAward,
    InvitationCreate,
    ProgramCreate,
    ProgramUpdate,
    QuestionCreate,
    RfpCreate,
    RfpRead,
    RfpUpdate,
    Transition,
)
from opencxo.sourcing.scope import scope_fields, validate_scope
from opencxo.web.deps import SESSION_GENERATION_KEY, FormData, PageUser, run_form, validate_form
from opencxo.web.exports import xlsx_response
from opencxo.web.rendering import environment, flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]
R = TypeVar("R")

CURRENCIES = ("USD", "EUR", "GBP", "CHF", "JPY", "CNY", "INR", "KRW", "CAD", "AUD", "SGD", "BRL")
TIME_ZONES = (
    "UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Zurich", "Europe/Warsaw",
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Sao_Paulo", "Asia/Kolkata", "Asia/Shanghai", "Asia/Singapore", "Asia/Seoul",
    "Asia/Tokyo", "Australia/Sydney",
)  # fmt: skip
WEIGHTS = (("price", "Price"), ("time", "Time"), ("quality", "Quality"), ("risk", "Risk"))
LINE_ROWS = 5  # empty price-line rows offered per lot
RATE_ROWS = 3  # empty exchange-rate rows offered
# Row numbers of the forms' repeated fields: at most four ASCII digits (a longer number is no
# row the page offered, and past 4,300 digits ``int()`` refuses it: a 500).
_LOT_KEY = re.compile(r"^lots\.([0-9]{1,4})\.")
_LINE_KEY = re.compile(r"^bid\.([0-9]{1,4})\.lines\.([0-9]{1,4})\.")
_RATE_KEY = re.compile(r"^rates\.([0-9]{1,4})\.")
_RATES_OPEN = (RfpStatus.DRAFT, RfpStatus.PUBLISHED, RfpStatus.CLOSED)
_DOCUMENTS_OPEN = (RfpStatus.DRAFT, RfpStatus.PUBLISHED)  # the sponsor adds documents


# --- small helpers ------------------------------------------------------------------------------


def _attempt(session: Session, action: Callable[[], R]) -> tuple[R | None, dict[str, str], int]:
    """Run a use case; a business error becomes messages for the form (as ``run_form`` does).

    Besides the field errors, ``errors["message"]`` keeps the service's own sentence.
    """
    try:
        return action(), {}, 200
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        errors = dict(exc.field_errors) or {"form": exc.message}
        errors["message"] = exc.message
        return None, errors, exc.status_code


def _countdown(deadline: datetime) -> str:
    """How long until the bid deadline, in words a person reads at a glance."""
    left = deadline - utcnow()
    if left <= timedelta(0):
        return "deadline passed"
    days, seconds = left.days, left.seconds
    hours, minutes = seconds // 3600, (seconds % 3600) // 60
    if days:
        return f"{days} d {hours} h left"
    if hours:
        return f"{hours} h {minutes} min left"
    return f"{max(minutes, 1)} min left"


def _soon(deadline: datetime) -> bool:
    """Less than a day to go: the list shows the countdown in red."""
    return deadline - utcnow() < timedelta(days=1)


def _codes(value: Any) -> list[str]:
    """Country codes typed as "US, DE PL" or sent as a list."""
    items = value if isinstance(value, list) else re.split(r"[,\s;]+", str(value or ""))
    return [str(item).strip().upper() for item in items if str(item).strip()]


def _as_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_sponsor_user(request: Request, principal: Principal) -> bool:
    organizations = getattr(request.state, "organizations", [])
    return principal.is_operator or any(o.kind == OrganizationKind.SPONSOR for o in organizations)


def _is_provider_user(request: Request) -> bool:
    organizations = getattr(request.state, "organizations", [])
    return any(o.kind == OrganizationKind.PROVIDER for o in organizations)


# --- notifications ------------------------------------------------------------------------------


@router.get("/notifications")
def notifications_page(request: Request, session: DbSession, principal: PageUser) -> Response:
    items = notifications.recent(session, principal.organization_ids, principal.user_id, limit=100)
    unread = sum(1 for n in items if n.read_at is None)
    return render(
        request,
        "sourcing/notifications.html",
        {"items": items, "unread": unread, "active": "notifications"},
    )


@router.post("/notifications/read")
def mark_notifications_read(request: Request, session: DbSession, principal: PageUser) -> Response:
    notifications.mark_read(session, principal.organization_ids, principal.user_id)
    flash(request, "All notifications marked as read.")
    return RedirectResponse("/notifications", status_code=303)


@router.get("/notifications/badge")
def notifications_badge(request: Request, session: DbSession) -> Response:
    """The bell with the unread count; the layout loads it with HTMX on every page.

    Without a session it answers 204 (HTMX keeps the plain bell) instead of redirecting to the
    login page, which HTMX would otherwise paste into the navigation bar.
    """
    raw = request.session.get(SESSION_USER_KEY)
    principal = None
    if raw:
        try:
            principal = principal_for_user_id(session, uuid.UUID(str(raw)))
        except ValueError:
            principal = None
    if principal is None or not session_is_current(
        session, principal.user_id, request.session.get(SESSION_GENERATION_KEY)
    ):
        return Response(status_code=204)  # logged out elsewhere: the plain bell
    count = notifications.unread_count(session, principal.organization_ids, principal.user_id)
    # Rendered bare, not with ``render``: that would consume the page's flash messages.
    fragment = environment.get_template("sourcing/_bell.html").render(count=count)
    return HTMLResponse(fragment, headers={"Cache-Control": "no-store"})


# --- programs -----------------------------------------------------------------------------------


def _program_choices() -> dict[str, Any]:
    return {
        "modalities": [m.value for m in Modality],
        "phases": [p.value for p in Phase],
        "currencies": CURRENCIES,
    }


def _sponsors(request: Request) -> list[Any]:
    return [o for o in request.state.organizations if o.kind == OrganizationKind.SPONSOR]


@router.get("/programs")
def programs_page(
    request: Request, session: DbSession, principal: PageUser, params: Pages
) -> Response:
    page = service.list_programs(session, principal, params=params)
    return render(
        request,
        "sourcing/programs.html",
        {
            "page": page,
            "sort": params.sort or "",
            "can_create": principal.can(Permission.PROGRAMS_WRITE)
            and _is_sponsor_user(request, principal),
            "active": "programs",
        },
    )


def _program_form_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "sourcing/program_form.html",
        {
            "errors": errors or {},
            "form": form or {"modality": "small_molecule", "phase": "preclinical"},
            "sponsors": _sponsors(request),
            "active": "programs",
            **_program_choices(),
        },
        status_code=status_code,
    )


@router.get("/programs/new")
def new_program_page(request: Request, principal: PageUser) -> Response:
    return _program_form_page(request)


@router.post("/programs")
def create_program(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session, ProgramCreate, form, lambda body: service.create_program(session, principal, body)
    )
    if outcome.result is not None:
        flash(request, f"Program {outcome.result.name} created. Create its first RFP next.")
        return RedirectResponse(f"/programs/{outcome.result.id}", status_code=303)
    return _program_form_page(
        request, errors=outcome.errors, form=form, status_code=outcome.status_code
    )


def _program_page(
    request: Request,
    session: Session,
    principal: Principal,
    program_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    program = service.get_program(session, principal, program_id)
    rfps = service.list_rfps(
        session,
        principal,
        status=None,
        program_id=program_id,
        params=PageParams(page=1, page_size=MAX_PAGE_SIZE),
    )
    return render(
        request,
        "sourcing/program.html",
        {
            "program": program,
            "rfps": rfps,
            "countdown": _countdown,
            "can_edit": principal.can(Permission.PROGRAMS_WRITE, program.sponsor_id),
            "can_create_rfp": principal.can(Permission.RFPS_WRITE, program.sponsor_id),
            "errors": errors or {},
            "form": form or program.model_dump(mode="json"),
            "editing": bool(errors),
            "active": "programs",
            **_program_choices(),
        },
        status_code=status_code,
    )


@router.get("/programs/{program_id}")
def program_page(
    request: Request, program_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _program_page(request, session, principal, program_id)


@router.post("/programs/{program_id}")
def update_program(
    request: Request,
    program_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        ProgramUpdate,
        form,
        lambda body: service.update_program(session, principal, program_id, body),
    )
    if outcome.result is not None:
        flash(request, f"Program {outcome.result.name} saved.")
        return RedirectResponse(f"/programs/{program_id}", status_code=303)
    return _program_page(
        request,
        session,
        principal,
        program_id,
        errors=outcome.errors,
        form=form,
        status_code=outcome.status_code,
    )


# --- RFP list -----------------------------------------------------------------------------------


@router.get("/rfps")
def rfps_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    status: str | None = None,
) -> Response:
    status_value = RfpStatus(status) if status in {s.value for s in RfpStatus} else None
    page = service.list_rfps(session, principal, status=status_value, params=params)
    is_sponsor = _is_sponsor_user(request, principal)
    return render(
        request,
        "sourcing/rfps.html",
        {
            "page": page,
            "sort": params.sort or "",
            "status": status_value.value if status_value else "",
            "statuses": [s.value for s in RfpStatus],
            "is_sponsor": is_sponsor,
            "is_provider": _is_provider_user(request),
            "can_create": is_sponsor and principal.can(Permission.RFPS_WRITE),
            "countdown": _countdown,
            "soon": _soon,
            "active": "rfps",
        },
    )


# --- RFP create / edit form ---------------------------------------------------------------------


def _scope_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _rfp_flat(rfp: RfpRead) -> dict[str, Any]:
    """The form's flat field names filled from a saved RFP (deadline shown in UTC)."""
    deadline = rfp.bid_deadline.astimezone(ZoneInfo("UTC"))
    flat: dict[str, Any] = {
        "program_id": str(rfp.program_id or ""),
        "version": rfp.version,
        "title": rfp.title,
        "background": rfp.background,
        "bid_deadline": deadline.strftime("%Y-%m-%dT%H:%M"),
        "bid_timezone": "UTC",
        "required_certifications": list(rfp.required_certifications),
        "allowed_countries": ", ".join(rfp.allowed_countries),
        "excluded_countries": ", ".join(rfp.excluded_countries),
        "budget_amount": "" if rfp.budget_amount is None else str(rfp.budget_amount),
        "budget_currency": rfp.budget_currency or "",
        "budget_shared": rfp.budget_shared,
        "base_currency": rfp.base_currency,
        **{f"weight_{name}": getattr(rfp.weights, name) for name, _ in WEIGHTS},
    }
    for lot in rfp.lots:
        flat[f"lots.{lot.number}.title"] = lot.title
        flat[f"lots.{lot.number}.service_code"] = lot.service_code
        for name, value in lot.scope.items():
            flat[f"lots.{lot.number}.scope.{name}"] = _scope_value(value)
    return flat


@cache
def _known_zones() -> frozenset[str]:
    """Every IANA time zone name of the tz database (the system's or the tzdata package's)."""
    return frozenset(available_timezones())


def _zone(name: str) -> ZoneInfo | None:
    """The time zone of an IANA name, None for any other text.

    ``ZoneInfo`` alone opens whatever file the name points at: a folder of the database
    (``Europe``) or an overlong name raises an ``OSError``, a data file that is no zone a
    ``ValueError``; only names the database lists get that far.
    """
    if name not in _known_zones():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _deadline(local: str, zone: str) -> tuple[datetime | None, dict[str, str]]:
    """A ``datetime-local`` value and a time zone name → an aware datetime."""
    tz = _zone(zone or "UTC")
    if tz is None:
        return None, {"bid_timezone": "choose a time zone from the list"}
    if _blank(local):
        return None, {"bid_deadline": "give the date and time bids are due"}
    try:
        naive = datetime.fromisoformat(local.strip())
    except ValueError:
        return None, {"bid_deadline": "use a date and time such as 2026-12-31 17:00"}
    return naive.replace(tzinfo=tz) if naive.tzinfo is None else naive, {}


def _rfp_form_parse(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The submitted RFP form → (the service payload, the flat form to re-render, early errors).

    Lots are renumbered 1..n in the order shown, blank lot slots are dropped, and only the scope
    fields of the lot's chosen service are kept (a changed service brings its own fields).
    """
    errors: dict[str, str] = {}
    slots = sorted({int(m.group(1)) for key in form if (m := _LOT_KEY.match(key))})
    lots: list[dict[str, Any]] = []
    for slot in slots:
        prefix = f"lots.{slot}."
        title = str(form.get(prefix + "title", "")).strip()
        code = str(form.get(prefix + "service_code", "")).strip()
        raw_scope = {
            key.removeprefix(prefix + "scope."): value
            for key, value in form.items()
            if key.startswith(prefix + "scope.")
        }
        if not title and not code and all(_blank(v) for v in raw_scope.values()):
            continue
        names = {f.name for f in scope_fields(code)} if code else set()
        scope = {k: v for k, v in raw_scope.items() if k in names and not _blank(v)}
        lots.append({"title": title, "service_code": code, "scope": scope})
    flat = {k: v for k, v in form.items() if not _LOT_KEY.match(k)}
    flat["required_certifications"] = _as_list(form.get("required_certifications"))
    flat["budget_shared"] = bool(form.get("budget_shared"))
    for number, lot in enumerate(lots, start=1):
        flat[f"lots.{number}.title"] = lot["title"]
        flat[f"lots.{number}.service_code"] = lot["service_code"]
        for name, value in lot["scope"].items():
            flat[f"lots.{number}.scope.{name}"] = value
    if not lots:
        errors["lots"] = "describe at least one lot: a title and a service"
    for number, lot in enumerate(lots, start=1):
        # The service checks the scope again; checking here shows every lot's errors at once.
        if lot["service_code"] and parties.catalog().get(lot["service_code"]) is not None:
            try:
                validate_scope(lot["service_code"], lot["scope"], lot=number)
            except Invalid as exc:
                errors.update(exc.field_errors)
    deadline, deadline_errors = _deadline(
        str(form.get("bid_deadline", "")), str(form.get("bid_timezone", "UTC"))
    )
    errors.update(deadline_errors)
    weights: dict[str, Any] = {}
    for name, label in WEIGHTS:
        raw = str(form.get(f"weight_{name}", "")).strip()
        if not re.fullmatch(r"-?[0-9]{1,6}", raw):  # not "²", nor 5,000 digits (int() fails)
            errors["weights"] = f"{label} weight: give a whole number from 0 to 100"
        else:
            weights[name] = int(raw)
    payload = {
        "program_id": form.get("program_id") or None,
        "version": form.get("version") or None,
        "title": str(form.get("title", "")).strip(),
        "background": str(form.get("background", "")),
        "bid_deadline": deadline,
        "weights": weights,
        "required_certifications": flat["required_certifications"],
        "allowed_countries": _codes(form.get("allowed_countries")),
        "excluded_countries": _codes(form.get("excluded_countries")),
        "budget_amount": None if _blank(form.get("budget_amount")) else form.get("budget_amount"),
        "budget_currency": form.get("budget_currency") or None,
        "budget_shared": flat["budget_shared"],
        "base_currency": form.get("base_currency") or "USD",
        "lots": lots,
    }
    return payload, flat, errors


def _pydantic_errors(exc: ValidationError, key: Callable[[tuple[Any, ...]], str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        errors.setdefault(key(tuple(error["loc"])), message)
    return errors


def _rfp_error_key(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "budget_currency"  # the only whole-form rule: a budget needs its currency
    head = str(loc[0])
    if head == "lots" and len(loc) > 1 and isinstance(loc[1], int):
        return ".".join(["lots", str(loc[1] + 1), *(str(p) for p in loc[2:])])
    if head in ("weights", "required_certifications", "allowed_countries", "excluded_countries"):
        return head
    return ".".join(str(p) for p in loc)


def _with_sentences(errors: dict[str, str]) -> dict[str, str]:
    """The service's own sentence beats its terse field note for the deadline."""
    if "bid_deadline" in errors and "message" in errors:
        errors["bid_deadline"] = errors["message"]
    return errors


def _validate_rfp(model: type[BaseModel], payload: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    try:
        return model.model_validate(payload), {}
    except ValidationError as exc:
        return None, _pydantic_errors(exc, _rfp_error_key)


def _rfp_form_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    rfp: RfpRead | None = None,
    extra_slot: bool = False,
    status_code: int = 200,
) -> Response:
    programs = service.list_programs(
        session, principal, params=PageParams(page=1, page_size=MAX_PAGE_SIZE)
    )
    numbers = sorted({int(m.group(1)) for key in form if (m := _LOT_KEY.match(key))})
    lot_count = max([*numbers, 1]) + (1 if extra_slot else 0)
    return render(
        request,
        "sourcing/rfp_form.html",
        {
            "rfp": rfp,
            "form": form,
            "errors": errors or {},
            "programs": programs.items,
            "lot_numbers": list(range(1, lot_count + 1)),
            "catalog": parties.catalog(),
            "scope_fields": scope_fields,
            "standards": [s.value for s in CertificationStandard],
            "currencies": CURRENCIES,
            "time_zones": TIME_ZONES,
            "weights": WEIGHTS,
            "active": "rfps",
        },
        status_code=status_code,
    )


@router.get("/rfps/new")
def new_rfp_page(
    request: Request, session: DbSession, principal: PageUser, program_id: str = ""
) -> Response:
    form: dict[str, Any] = {
        "program_id": program_id,
        "bid_timezone": "UTC",
        "base_currency": "USD",
        "weight_price": 40,
        "weight_time": 20,
        "weight_quality": 25,
        "weight_risk": 15,
        "required_certifications": [],
    }
    return _rfp_form_page(request, session, principal, form=form)


def _lot_context(number: int, form: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "n": number,
        "form": form,
        "errors": errors,
        "catalog": parties.catalog(),
        "scope_fields": scope_fields,
    }


@router.get("/rfp-form/lots/{number}")
def lot_slot(request: Request, number: int, principal: PageUser) -> Response:
    """One more lot slot for the RFP form (HTMX), with the next "Add lot" button out of band."""
    number = max(1, min(number, 20))
    return render(
        request, "sourcing/_lot.html", {**_lot_context(number, {}, {}), "add_next": number + 1}
    )


@router.get("/rfp-form/lots/{number}/scope")
def lot_scope_fields(request: Request, number: int, principal: PageUser) -> Response:
    """The scope fields of the service just chosen for a lot (HTMX swaps them in)."""
    code = request.query_params.get(f"lots.{number}.service_code", "")
    return render(
        request,
        "sourcing/_scope_fields.html",
        _lot_context(number, {f"lots.{number}.service_code": code}, {}),
    )


@router.post("/rfps")
def create_rfp(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    payload, flat, errors = _rfp_form_parse(form)
    if form.get("action") == "add_lot":  # the no-JavaScript "Add lot": one more slot, nothing saved
        return _rfp_form_page(request, session, principal, form=flat, extra_slot=True)
    body, schema_errors = _validate_rfp(RfpCreate, payload)
    errors = {**schema_errors, **errors}
    if not payload["program_id"]:
        errors["program_id"] = "choose one of your programs"
    if body is None or errors:
        return _rfp_form_page(
            request, session, principal, form=flat, errors=errors, status_code=422
        )
    created, errors, status_code = _attempt(
        session, lambda: service.create_rfp(session, principal, body)
    )
    if created is None:
        return _rfp_form_page(
            request,
            session,
            principal,
            form=flat,
            errors=_with_sentences(errors),
            status_code=status_code,
        )
    flash(request, f"RFP “{created.title}” saved as a draft. Invite providers, then publish it.")
    return RedirectResponse(f"/rfps/{created.id}", status_code=303)


@router.get("/rfps/{rfp_id}/edit")
def edit_rfp_page(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    rfp = service.get_rfp(session, principal, rfp_id)
    if rfp.viewer_role != "sponsor":
        raise NotFound("no such RFP")
    principal.require(Permission.RFPS_WRITE, rfp.sponsor_id)
    if rfp.status != RfpStatus.DRAFT:
        flash(request, f"This RFP is {rfp.status.value}; only a draft can be edited.", "warning")
        return RedirectResponse(f"/rfps/{rfp_id}", status_code=303)
    return _rfp_form_page(request, session, principal, form=_rfp_flat(rfp), rfp=rfp)


@router.post("/rfps/{rfp_id}/edit")
def update_rfp(
    request: Request,
    rfp_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    rfp = service.get_rfp(session, principal, rfp_id)
    if rfp.viewer_role != "sponsor":
        raise NotFound("no such RFP")
    payload, flat, errors = _rfp_form_parse(form)
    flat["program_id"] = str(rfp.program_id)
    if form.get("action") == "add_lot":
        return _rfp_form_page(request, session, principal, form=flat, rfp=rfp, extra_slot=True)
    body, schema_errors = _validate_rfp(RfpUpdate, payload)
    errors = {**schema_errors, **errors}
    if body is None or errors:
        return _rfp_form_page(
            request, session, principal, form=flat, rfp=rfp, errors=errors, status_code=422
        )
    updated, errors, status_code = _attempt(
        session, lambda: service.update_rfp(session, principal, rfp_id, body)
    )
    if updated is None:
        return _rfp_form_page(
            request,
            session,
            principal,
            form=flat,
            rfp=rfp,
            errors=_with_sentences(errors),
            status_code=status_code,
        )
    flash(request, f"RFP “{updated.title}” saved (version {updated.version}).")
    return RedirectResponse(f"/rfps/{rfp_id}", status_code=303)


# --- RFP detail: one page, two views -----------------------------------------------------------


def _bid_flat(bid: BidRead | None) -> dict[str, Any]:
    if bid is None:
        return {}
    flat: dict[str, Any] = {"version": bid.version, "notes": bid.notes}
    for offer in bid.lots:
        n = offer.lot_number
        flat[f"bid.{n}.start_date"] = offer.start_date.isoformat()
        flat[f"bid.{n}.duration_days"] = offer.duration_days
        flat[f"bid.{n}.assumptions"] = offer.assumptions
        for i, line in enumerate(offer.lines, start=1):
            for name in ("description", "deliverable", "currency", "due_offset_days"):
                flat[f"bid.{n}.lines.{i}.{name}"] = getattr(line, name)
            flat[f"bid.{n}.lines.{i}.amount"] = f"{line.amount:.2f}"
    return flat


def _line_rows(form: dict[str, Any], number: int) -> list[int]:
    """Row numbers of a lot's price lines: the filled ones and room for more (at least five).

    Only the rows sent are shown, not every number up to the highest: a form sent back with a
    row numbered 100000000 would otherwise render that many empty rows.
    """
    filled = {
        int(m.group(2))
        for key, value in form.items()
        if (m := _LINE_KEY.match(key))
        and int(m.group(1)) == number
        and not _blank(value)
        and key.endswith((".description", ".amount"))
    }
    top = max(filled, default=0)
    return sorted({*range(1, LINE_ROWS + 1), *filled, top + 1, top + 2})


def _rate_form(rfp: RfpRead, missing: list[str]) -> dict[str, Any]:
    """The exchange-rate rows: the rates stored, then the currencies still missing one."""
    rows = [*sorted(rfp.exchange_rates.items()), *((code, "") for code in missing)]
    return {
        f"rates.{n}.{part}": value
        for n, (code, rate) in enumerate(rows, start=1)
        for part, value in (("currency", code), ("rate", rate))
    }


def _rate_rows(rate_form: dict[str, Any]) -> list[int]:
    """The filled rows and three empty ones after them (only the rows sent: see ``_line_rows``)."""
    filled = {
        int(m.group(1)) for key, value in rate_form.items() if (m := _RATE_KEY.match(key)) and value
    }
    top = max(filled, default=0)
    return sorted({*filled, *range(top + 1, top + RATE_ROWS + 1)})


def _rfp_page(
    request: Request,
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    *,
    section: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    rfp = service.get_rfp(session, principal, rfp_id)
    questions = service.list_questions(session, principal, rfp_id)
    context: dict[str, Any] = {
        "rfp": rfp,
        "questions": questions,
        "section": section,
        "errors": errors or {},
        "form": form or {},
        "countdown": _countdown(rfp.bid_deadline),
        "scope_fields": scope_fields,
        "active": "rfps",
    }
    if rfp.viewer_role == "sponsor":
        open_for_invites = rfp.status in (RfpStatus.DRAFT, RfpStatus.PUBLISHED) and not (
            rfp.deadline_passed
        )
        can_write = principal.can(Permission.RFPS_WRITE, rfp.sponsor_id)
        suggestions = (
            service.suggest_providers(session, principal, rfp_id) if open_for_invites else []
        )
        invited = {i.provider_id for i in rfp.invitations or []}
        suggested = {s.provider_id for s in suggestions}
        others = parties.list_organizations(
            session,
            principal,
            kind=OrganizationKind.PROVIDER,
            q=None,
            params=PageParams(page=1, page_size=MAX_PAGE_SIZE),
        ).items
        rate_form = form if section == "rates" and form else _rate_form(rfp, [])
        invitable = {str(s.provider_id) for s in suggestions if s.can_invite} | {
            str(p.id) for p in others if p.id not in invited | suggested
        }
        unanswered = {str(q.id) for q in questions if q.answer is None}
        sec = section or ""
        shown = (
            sec in ("", "lifecycle", "cancel", "finish")
            or (sec == "rates" and can_write and rfp.status in _RATES_OPEN)
            or (sec == "documents" and can_write and rfp.status in _DOCUMENTS_OPEN)
            or (
                sec.startswith("invite-")
                and open_for_invites
                and can_write
                and sec.removeprefix("invite-") in invitable
            )
            or (
                sec.startswith("answer-")
                and can_write
                and rfp.status == RfpStatus.PUBLISHED
                and sec.removeprefix("answer-") in unanswered
            )
        )
        awards = service.list_awards(session, principal, rfp_id)
        context.update(
            template="sourcing/rfp_sponsor.html",
            can_write=can_write,
            can_award=principal.can(Permission.RFPS_AWARD, rfp.sponsor_id),
            open_for_invites=open_for_invites,
            suggestions=suggestions,
            manual_providers=[p for p in others if p.id not in invited | suggested],
            awards=awards,
            work_orders=contracts.work_orders_of_awards(session, principal, [a.id for a in awards]),
            can_contract=principal.can(Permission.CONTRACTS_WRITE, rfp.sponsor_id),
            rate_form=rate_form,
            rate_rows=_rate_rows(rate_form),
            can_compare=rfp.status in (RfpStatus.CLOSED, RfpStatus.AWARDED),
        )
    else:
        try:
            bid: BidRead | None = service.my_bid(session, principal, rfp_id)
        except NotFound:
            bid = None
        can_bid = (
            rfp.status == RfpStatus.PUBLISHED
            and not rfp.deadline_passed
            and principal.can(Permission.BIDS_WRITE)
        )
        bid_form = form if section == "bid" and form else _bid_flat(bid)
        outcomes = (
            {o.lot_number: o.outcome for o in service.my_outcome(session, principal, rfp_id)}
            if rfp.status in (RfpStatus.CLOSED, RfpStatus.AWARDED)
            else {}
        )
        can_ask = (
            rfp.status == RfpStatus.PUBLISHED
            and not rfp.deadline_passed
            and principal.can(Permission.BIDS_WRITE)
        )
        shown = (
            section in (None, "bid")
            or (section == "ask" and can_ask)
            or (section == "bid-documents" and can_bid and bid is not None)
        )
        context.update(
            template="sourcing/rfp_provider.html",
            bid=bid,
            can_bid=can_bid,
            can_ask=can_ask,
            bid_form=bid_form,
            line_rows={lot.number: _line_rows(bid_form, lot.number) for lot in rfp.lots},
            currencies=sorted({*CURRENCIES, rfp.base_currency}),
            outcomes=outcomes,
        )
    # The state may have moved on (a late answer, an RFP closed meanwhile): when the form that
    # failed is no longer on the page, its message goes to the top of the page instead.
    problems = errors or {}
    context["page_error"] = (
        None if shown else problems.get("message") or problems.get("form") or None
    )
    return render(request, context.pop("template"), context, status_code=status_code)


@router.get("/rfps/{rfp_id}")
def rfp_page(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _rfp_page(request, session, principal, rfp_id)


def _after(
    request: Request,
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    *,
    section: str,
    result: Any,
    errors: dict[str, str],
    status_code: int,
    form: dict[str, Any],
    done: str,
    anchor: str = "",
) -> Response:
    """Back to the RFP page: with a confirmation, or with the form's errors and input."""
    if result is not None:
        flash(request, done)
        return RedirectResponse(f"/rfps/{rfp_id}{anchor}", status_code=303)
    return _rfp_page(
        request,
        session,
        principal,
        rfp_id,
        section=section,
        errors=errors,
        form=form,
        status_code=status_code,
    )


@router.post("/rfps/{rfp_id}/publish")
def publish_rfp(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        Transition,
        form,
        lambda body: service.publish_rfp(session, principal, rfp_id, body),
    )
    done = "RFP published; the invited providers have been notified."
    return _after(
        request, session, principal, rfp_id, section="lifecycle", result=outcome.result,
        errors=outcome.errors, status_code=outcome.status_code, form=form, done=done,
    )  # fmt: skip


@router.post("/rfps/{rfp_id}/cancel")
def cancel_rfp(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session, CancelRfp, form, lambda body: service.cancel_rfp(session, principal, rfp_id, body)
    )
    return _after(
        request, session, principal, rfp_id, section="cancel", result=outcome.result,
        errors=outcome.errors, status_code=outcome.status_code, form=form, done="RFP cancelled.",
    )  # fmt: skip


@router.post("/rfps/{rfp_id}/finish-award")
def finish_award(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        FinishAward,
        form,
        lambda body: service.finish_award(session, principal, rfp_id, body),
    )
    done = "Award finished; the bidders on the lots left unawarded have been told."
    return _after(
        request, session, principal, rfp_id, section="finish", result=outcome.result,
        errors=outcome.errors, status_code=outcome.status_code, form=form, done=done,
    )  # fmt: skip


@router.post("/rfps/{rfp_id}/invitations")
def invite_provider(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    form["acknowledge_warning"] = bool(form.get("acknowledge_warning"))
    outcome = run_form(
        session,
        InvitationCreate,
        form,
        lambda body: service.invite(session, principal, rfp_id, body),
    )
    name = ""
    if outcome.result is not None:
        provider_id = str(form.get("provider_id"))
        name = next(
            (
                i.provider_name
                for i in outcome.result.invitations or []
                if str(i.provider_id) == provider_id
            ),
            "the provider",
        )
    return _after(
        request, session, principal, rfp_id, section=f"invite-{form.get('provider_id', '')}",
        result=outcome.result, errors=outcome.errors, status_code=outcome.status_code, form=form,
        done=f"{name} invited.", anchor="#invitations",
    )  # fmt: skip


@router.post("/rfps/{rfp_id}/exchange-rates")
def set_exchange_rates(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    rates: dict[str, str] = {}
    errors: dict[str, str] = {}
    numbers = sorted({int(m.group(1)) for k in form if (m := _RATE_KEY.match(k))})
    for n in numbers:
        code = str(form.get(f"rates.{n}.currency", "")).strip().upper()
        rate = str(form.get(f"rates.{n}.rate", "")).strip()
        if not code and not rate:
            continue
        if not code or not rate:
            errors[f"rates.{n}"] = "give both the currency and its rate"
            continue
        rates[code] = rate
    result = None
    status_code = 422
    if not errors:
        outcome = run_form(
            session,
            ExchangeRates,
            {"version": form.get("version"), "rates": rates},
            lambda body: service.set_exchange_rates(session, principal, rfp_id, body),
        )
        result, errors, status_code = outcome.result, outcome.errors, outcome.status_code
    target = str(form.get("next", ""))
    if result is not None and target == "comparison":
        flash(request, "Exchange rates saved.")
        return RedirectResponse(f"/rfps/{rfp_id}/comparison", status_code=303)
    return _after(
        request, session, principal, rfp_id, section="rates", result=result, errors=errors,
        status_code=status_code, form=form, done="Exchange rates saved.", anchor="#rates",
    )  # fmt: skip


@router.post("/rfps/{rfp_id}/questions")
def ask_question(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session, QuestionCreate, form, lambda body: service.ask(session, principal, rfp_id, body)
    )
    done = "Question sent. The sponsor answers every invitee without naming you."
    return _after(
        request, session, principal, rfp_id, section="ask", result=outcome.result,
        errors=outcome.errors, status_code=outcome.status_code, form=form, done=done,
        anchor="#questions",
    )  # fmt: skip


@router.post("/rfps/{rfp_id}/questions/{question_id}/answer")
def answer_question(
    request: Request,
    rfp_id: uuid.UUID,
    question_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        AnswerCreate,
        form,
        lambda body: service.answer(session, principal, rfp_id, question_id, body),
    )
    return _after(
        request, session, principal, rfp_id, section=f"answer-{question_id}",
        result=outcome.result, errors=outcome.errors, status_code=outcome.status_code, form=form,
        done="Answer sent to every invited provider.", anchor="#questions",
    )  # fmt: skip


# --- the provider's bid -------------------------------------------------------------------------


def _bid_parse(
    form: dict[str, Any], rfp: RfpRead
) -> tuple[dict[str, Any], list[tuple[int, list[int]]], dict[str, str]]:
    """The bid form → (BidInput payload, (lot number, row numbers) per offered lot, errors).

    A lot left blank is not offered; a price-line row left blank is skipped.
    """
    offers: list[dict[str, Any]] = []
    index: list[tuple[int, list[int]]] = []
    for lot in rfp.lots:
        n = lot.number
        rows = sorted(
            {
                int(m.group(2))
                for key in form
                if (m := _LINE_KEY.match(key)) and int(m.group(1)) == n
            }
        )
        lines, used = [], []
        for i in rows:
            prefix = f"bid.{n}.lines.{i}."
            values = {
                name: form.get(prefix + name, "")
                for name in ("description", "deliverable", "amount", "currency", "due_offset_days")
            }
            if all(
                _blank(values[k])
                for k in ("description", "deliverable", "amount", "due_offset_days")
            ):
                continue
            lines.append(
                {
                    "description": str(values["description"]).strip(),
                    "deliverable": str(values["deliverable"]).strip(),
                    "amount": None if _blank(values["amount"]) else str(values["amount"]).strip(),
                    "currency": str(values["currency"] or rfp.base_currency),
                    "due_offset_days": None
                    if _blank(values["due_offset_days"])
                    else values["due_offset_days"],
                }
            )
            used.append(i)
        fields = {
            name: form.get(f"bid.{n}.{name}", "")
            for name in ("start_date", "duration_days", "assumptions")
        }
        if not lines and all(_blank(v) for v in fields.values()):
            continue
        offers.append(
            {
                "lot_id": str(lot.id),
                "start_date": None if _blank(fields["start_date"]) else fields["start_date"],
                "duration_days": None
                if _blank(fields["duration_days"])
                else fields["duration_days"],
                "assumptions": str(fields["assumptions"]),
                "lines": lines,
            }
        )
        index.append((n, used))
    errors = (
        {}
        if offers
        else {"form": "fill in at least one lot: start date, duration and a price line"}
    )
    payload = {
        "version": form.get("version") or None,
        "notes": str(form.get("notes", "")),
        "lots": offers,
    }
    return payload, index, errors


def _bid_error_key(index: list[tuple[int, list[int]]]) -> Callable[[tuple[Any, ...]], str]:
    def key(loc: tuple[Any, ...]) -> str:
        if len(loc) >= 2 and loc[0] == "lots" and isinstance(loc[1], int) and loc[1] < len(index):
            number, rows = index[loc[1]]
            if (
                len(loc) >= 4
                and loc[2] == "lines"
                and isinstance(loc[3], int)
                and loc[3] < len(rows)
            ):
                return f"bid.{number}.lines.{rows[loc[3]]}." + ".".join(str(p) for p in loc[4:])
            if len(loc) >= 3 and loc[2] == "lines":
                return f"bid.{number}.lines"
            if len(loc) >= 3:
                return f"bid.{number}.{loc[2]}"
            return f"bid.{number}"
        return "form" if not loc or loc[0] in ("lots", "version") else str(loc[0])

    return key


@router.post("/rfps/{rfp_id}/bid")
def save_bid(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    rfp = service.get_rfp(session, principal, rfp_id)
    if rfp.viewer_role == "sponsor":
        raise NotFound("sponsors do not bid on their own RFPs")
    submit = form.get("action") == "submit"
    payload, index, errors = _bid_parse(form, rfp)
    body = None
    if not errors:
        try:
            body = BidInput.model_validate(payload)
        except ValidationError as exc:
            errors = _pydantic_errors(exc, _bid_error_key(index))
    if body is None:
        return _rfp_page(
            request,
            session,
            principal,
            rfp_id,
            section="bid",
            errors=errors,
            form=form,
            status_code=422,
        )

    def save() -> BidRead:
        assert body is not None
        bid = service.save_bid(session, principal, rfp_id, body)
        if submit and bid.status != "submitted":
            bid = service.submit_bid(session, principal, rfp_id, Transition(version=bid.version))
        return bid

    saved, errors, status_code = _attempt(session, save)
    if saved is None and not any(k.startswith("bid.") or k == "form" for k in errors):
        errors["form"] = errors.get("message", "the bid was not saved")
    if saved is None:
        return _rfp_page(
            request, session, principal, rfp_id, section="bid", errors=errors, form=form,
            status_code=status_code,
        )  # fmt: skip
    if saved.status == "submitted":
        done = (
            "Bid submitted. It stays sealed until the deadline; you may revise it until then."
            if submit
            else "Bid revised; the submitted bid now holds these figures."
        )
    else:
        done = "Bid saved as a draft. Submit it before the deadline."
    flash(request, done)
    return RedirectResponse(f"/rfps/{rfp_id}#bid", status_code=303)


@router.post("/rfps/{rfp_id}/bid/withdraw")
def withdraw_bid(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        Transition,
        form,
        lambda body: service.withdraw_bid(session, principal, rfp_id, body),
    )
    return _after(
        request, session, principal, rfp_id, section="bid", result=outcome.result,
        errors=outcome.errors, status_code=outcome.status_code, form={},
        done="Bid withdrawn. You may revise and submit it again before the deadline.", anchor="#bid",
    )  # fmt: skip


# --- comparison and award -----------------------------------------------------------------------


def _chart_json(comparison: Comparison) -> str:
    """A grouped bar chart of the weighted scores, one colour per lot (Plotly figure JSON)."""
    import plotly.graph_objects as go  # heavy-ish; only this page needs it

    figure = go.Figure()
    providers = {row.provider_name for lot in comparison.lots for row in lot.rows}
    for lot in comparison.lots:
        if not lot.rows:
            continue
        figure.add_bar(
            name=f"{lot.lot_number}: {lot.title}",
            x=[row.provider_name for row in lot.rows],
            y=[row.weighted_score for row in lot.rows],
            text=[f"{row.weighted_score:.2f}" for row in lot.rows],
            textposition="outside",
            hovertemplate="%{x}<br>%{y:.2f} points<extra>%{fullData.name}</extra>",
        )
    figure.update_layout(
        title={"text": "Weighted score per lot (0–100 points, higher is better)"},
        xaxis={"title": {"text": "Provider"}},
        yaxis={"title": {"text": "Weighted score (points, 0–100)"}, "range": [0, 110]},
        barmode="group",
        # Few bars stay slim instead of filling the width.
        bargap=0.7 if len(providers) <= 1 else (0.5 if len(providers) <= 3 else 0.25),
        template="plotly_white",
        colorway=["#0d6efd", "#1f7a3e", "#b7791f", "#5a3e9b", "#b42318", "#0aa2c0"],
        showlegend=True,
        legend={"orientation": "h", "y": -0.25, "title": {"text": "Lot"}},
        margin={"t": 60, "l": 60, "r": 20, "b": 40},
        height=380,
    )
    text: str = figure.to_json()
    # Safe inside a <script> element whatever a provider is called.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _comparison_page(
    request: Request,
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    *,
    section: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    rfp = service.get_rfp(session, principal, rfp_id)
    if rfp.viewer_role != "sponsor":
        raise NotFound("no such RFP")
    comparison, compare_errors, compare_status = _attempt(
        session, lambda: service.compare(session, principal, rfp_id)
    )
    if comparison is None and compare_status == 409:
        flash(request, compare_errors.get("message", "the bids are not ready"), "warning")
        return RedirectResponse(f"/rfps/{rfp_id}", status_code=303)
    if comparison is None:  # a missing exchange rate: the page offers the rates form
        rfp = service.get_rfp(session, principal, rfp_id)
    awards = {a.lot_id: a for a in service.list_awards(session, principal, rfp_id)}
    bids = service.received_bids(session, principal, rfp_id)
    lines = {b.id: b for b in bids if isinstance(b, BidRead)}
    currencies = sorted({line.currency for b in lines.values() for o in b.lots for line in o.lines})
    missing = [c for c in currencies if c != rfp.base_currency and c not in rfp.exchange_rates]
    rate_form = _rate_form(rfp, missing)
    return render(
        request,
        "sourcing/comparison.html",
        {
            "rfp": rfp,
            "comparison": comparison,
            "compare_error": compare_errors.get("message") if comparison is None else None,
            "chart_json": _chart_json(comparison) if comparison else None,
            "awards": awards,
            "bids": lines,
            "rate_form": rate_form,
            "rate_rows": _rate_rows(rate_form),
            "can_award": principal.can(Permission.RFPS_AWARD, rfp.sponsor_id)
            and rfp.status == RfpStatus.CLOSED,
            "section": section,
            "errors": errors or {},
            "form": form or {},
            "active": "rfps",
        },
        status_code=status_code,
    )


@router.get("/rfps/{rfp_id}/comparison")
def comparison_page(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _comparison_page(request, session, principal, rfp_id)


@router.get("/rfps/{rfp_id}/comparison.xlsx")
def comparison_export(rfp_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    """Every lot's ranked bids with the scores behind the chart, as a workbook."""
    comparison = service.compare(session, principal, rfp_id)
    headers = (
        "Lot", "Lot title", "Rank", "Provider", "Country", f"Price ({comparison.base_currency})",
        "Start date", "Duration (days)", "Qualification", "Price score", "Time score",
        "Quality score", "On time (%)", "First pass (%)", "Risk score", "Risk flags",
        "Weighted score", "Awarded",
    )  # fmt: skip
    rows = [
        (
            lot.lot_number,
            lot.title,
            row.rank,
            row.provider_name,
            row.country,
            float(row.price),
            row.start_date,
            row.duration_days,
            row.qualification_status or "not qualified",
            row.price_score,
            row.time_score,
            row.quality_score,
            row.on_time_percent,
            row.first_pass_percent,
            row.risk_score,
            row.risk_flags,
            row.weighted_score,
            "yes" if row.awarded else "no",
        )
        for lot in comparison.lots
        for row in lot.rows
    ]
    return xlsx_response(f"opencxo-rfp-{rfp_id}-comparison.xlsx", "Comparison", headers, rows)


@router.post("/rfps/{rfp_id}/lots/{lot_id}/award")
def award_lot(
    request: Request,
    rfp_id: uuid.UUID,
    lot_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    form.setdefault("meaning", "awarded")
    body, errors = validate_form(AwardCreate, form)
    award, status_code = None, 422
    if body is not None:
        award, errors, status_code = _attempt(
            session, lambda: service.award_lot(session, principal, rfp_id, lot_id, body)
        )
    if award is not None:
        signature = award.signature
        flash(
            request,
            f"Lot {award.lot_number} awarded to {award.provider_name} for "
            f"{award.amount:,.2f} {award.currency} — signed by {signature.signer_name} "
            f"({signature.meaning}) at {signature.signed_at:%Y-%m-%d %H:%M} UTC.",
        )
        return RedirectResponse(
            f"/rfps/{rfp_id}/comparison#lot-{award.lot_number}", status_code=303
        )
    if "password" in errors and "message" in errors:  # the service's sentence says what is wrong
        errors["password"] = errors["message"]
    form.pop("password", None)  # never echoed back
    return _comparison_page(
        request,
        session,
        principal,
        rfp_id,
        section=f"award-{lot_id}",
        errors=errors,
        form=form,
        status_code=status_code,
    )


def _money(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


# Amounts as "1,234,567.89" in the sourcing templates (kept if the layout defines its own).
environment.filters.setdefault("money", _money)


# --- documents: the RFP's and the bid's attachments ---------------------------------------------

# The upload forms name the limit the service enforces.
environment.globals.setdefault("max_upload_mib", files.MAX_FILE_BYTES // (1024 * 1024))


async def _upload(request: Request) -> tuple[str, str, bytes] | None:
    """The form's ``file`` (name, type, bytes), or None when none was chosen. Reading stops one
    byte past the limit: that is enough for the service to refuse it."""
    form = await request.form()
    item = form.get("file")
    # A file input left empty still sends a part, with no name and no bytes.
    if isinstance(item, UploadFile) and item.filename:
        content = await item.read(files.MAX_FILE_BYTES + 1)
        return item.filename, item.content_type or "", content
    return None


def _document_done(
    request: Request,
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    action: Callable[[], AttachmentRead],
    *,
    section: str,
    done: Callable[[AttachmentRead], str],
    anchor: str,
) -> Response:
    """Run an attach or remove: a confirmation and back to the page, or the page with the
    error next to the form (nothing changed)."""
    result, errors, status_code = _attempt(session, action)
    if result is None:
        return _rfp_page(
            request, session, principal, rfp_id, section=section, errors=errors,
            status_code=status_code,
        )  # fmt: skip
    flash(request, done(result))
    return RedirectResponse(f"/rfps/{rfp_id}{anchor}", status_code=303)


def _no_file(
    request: Request, session: Session, principal: Principal, rfp_id: uuid.UUID, section: str
) -> Response:
    errors = {"file": "choose a file to upload", "message": "choose a file to upload"}
    return _rfp_page(
        request, session, principal, rfp_id, section=section, errors=errors, status_code=422
    )


def _add_rfp_document(
    request: Request,
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    upload: tuple[str, str, bytes] | None,
) -> Response:
    if upload is None:
        return _no_file(request, session, principal, rfp_id, "documents")
    rfp = service.get_rfp(session, principal, rfp_id)

    def done(added: AttachmentRead) -> str:
        told = "; the invited providers were notified" if rfp.status == RfpStatus.PUBLISHED else ""
        return f"Document {added.filename} added (SHA-256 {added.sha256[:12]}…){told}."

    return _document_done(
        request, session, principal, rfp_id,
        lambda: service.add_rfp_attachment(session, principal, rfp_id, *upload),
        section="documents", done=done, anchor="#documents",
    )  # fmt: skip


@router.post("/rfps/{rfp_id}/attachments")
async def add_rfp_document(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    """The sponsor attaches a document to a draft or published RFP (multipart form)."""
    upload = await _upload(request)
    return await run_in_threadpool(_add_rfp_document, request, session, principal, rfp_id, upload)


@router.post("/rfps/{rfp_id}/attachments/{file_id}/remove")
def remove_rfp_document(
    request: Request,
    rfp_id: uuid.UUID,
    file_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    return _document_done(
        request, session, principal, rfp_id,
        lambda: service.remove_rfp_attachment(session, principal, rfp_id, file_id),
        section="documents", done=lambda removed: f"Document {removed.filename} removed.",
        anchor="#documents",
    )  # fmt: skip


@router.get("/rfps/{rfp_id}/attachments/{file_id}")
def download_rfp_document(
    rfp_id: uuid.UUID, file_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    """The document after its SHA-256 is checked again (an altered file answers a 409 page)."""
    stored, content = service.rfp_attachment(session, principal, rfp_id, file_id)
    return attachment(stored, content)


def _add_bid_document(
    request: Request,
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    upload: tuple[str, str, bytes] | None,
) -> Response:
    if upload is None:
        return _no_file(request, session, principal, rfp_id, "bid-documents")
    return _document_done(
        request, session, principal, rfp_id,
        lambda: service.add_bid_attachment(session, principal, rfp_id, *upload),
        section="bid-documents",
        done=lambda added: f"{added.filename} attached to your bid (SHA-256 {added.sha256[:12]}…); "
        "it stays sealed with the bid until the deadline.",
        anchor="#bid-documents",
    )  # fmt: skip


@router.post("/rfps/{rfp_id}/bid/attachments")
async def add_bid_document(
    request: Request, rfp_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    """The bidder attaches a document to its bid until the deadline (multipart form)."""
    upload = await _upload(request)
    return await run_in_threadpool(_add_bid_document, request, session, principal, rfp_id, upload)


@router.post("/rfps/{rfp_id}/bid/attachments/{file_id}/remove")
def remove_bid_document(
    request: Request,
    rfp_id: uuid.UUID,
    file_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    return _document_done(
        request, session, principal, rfp_id,
        lambda: service.remove_bid_attachment(session, principal, rfp_id, file_id),
        section="bid-documents",
        done=lambda removed: f"{removed.filename} removed from your bid.",
        anchor="#bid-documents",
    )  # fmt: skip


@router.get("/rfps/{rfp_id}/bids/{bid_id}/attachments/{file_id}")
def download_bid_document(
    rfp_id: uuid.UUID,
    bid_id: uuid.UUID,
    file_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
) -> Response:
    """A bid's document: for the bidder, and for the sponsor once the deadline passed."""
    stored, content = service.bid_attachment(session, principal, rfp_id, bid_id, file_id)
    return attachment(stored, content)
