"""HTML pages of contracts and money: work orders, milestones and deliverables, change orders,
invoices and payments, and the spend view.

Thin, like ``api.py``: every page reads and writes through ``opencxo.contracts.service``. The
sponsor and the provider each get a page of the same work order that makes sense on its own: what
they signed, what waits for them, and the forms only they may use.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from opencxo.contracts import service
from opencxo.contracts.models import (
    ChangeOrderStatus,
    InvoiceStatus,
    MilestoneStatus,
    WorkOrderStatus,
)
from opencxo.contracts.schemas import (
    ChangeOrderCreate,
    ChangeOrderRead,
    InvoiceIssue,
    InvoiceRead,
    MilestoneChange,
    MilestoneDecision,
    PaymentCreate,
    SignIn,
    SpendReport,
    Terminate,
    Transition,
    WorkOrderFromAward,
    WorkOrderRead,
)
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Invalid, OpenCXOError
from opencxo.core.http import CsrfProtected, DbSession, attachment
from opencxo.core.pagination import Page, PageParams, paginate
from opencxo.core.types import utc_today
from opencxo.parties import service as parties
from opencxo.parties.models import OrganizationKind
from opencxo.web.deps import FormData, FormOutcome, PageUser, run_form, validate_form
from opencxo.web.exports import csv_response, xlsx_response
from opencxo.web.pages import PLOTLY_JS
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]
R = TypeVar("R")
B = TypeVar("B")

CONTRACT_MEANINGS = ("executed", "approved", "reviewed")
CHANGE_MEANINGS = ("approved", "executed", "reviewed")
ADD_ROWS = 2  # empty "add a milestone" rows offered by the change-order form
SPEND_LABELS = {
    "program": "Program",
    "provider": "Provider",
    "sponsor": "Client",
    "stage": "Stage",
    "country": "Provider country",
}
# A provider sees no sponsor's program names and is the provider of every row: its revenue
# splits by client and stage.
PROVIDER_SPEND = ("sponsor", "stage")
SPONSOR_SPEND = ("program", "provider", "stage", "country")
INVOICE_SORTS = ("due_on", "number", "work_order", "amount", "outstanding", "status")


# --- small helpers ------------------------------------------------------------------------------


def _kinds(request: Request) -> set[str]:
    """The kinds (sponsor, provider) of the organisations the signed-in user belongs to."""
    return {str(o.kind) for o in getattr(request.state, "organizations", [])}


def _provider_only(request: Request) -> bool:
    kinds = _kinds(request)
    return OrganizationKind.PROVIDER.value in kinds and OrganizationKind.SPONSOR.value not in kinds


def _side(work_order: WorkOrderRead) -> uuid.UUID:
    """The organisation the viewer acts for on this work order."""
    return work_order.sponsor_id if work_order.viewer_role == "sponsor" else work_order.provider_id


def _friendly(errors: dict[str, str]) -> dict[str, str]:
    """Plain-language messages for the few pydantic messages a person meets on these forms."""
    out = dict(errors)
    if out.get("password", "").startswith("String should have at least"):
        out["password"] = "enter your password to sign"
    if out.get("changes", "").startswith("List should have at least"):
        out["changes"] = "choose at least one change: add, change or remove a milestone"
    return out


def _signing(action: Callable[[B], R]) -> Callable[[B], R]:
    """An e-signing use case whose refused password is said as such next to the password field.

    The signature service names the field with "enter your password to sign", which fits an empty
    field; a wrong password gets the service's own sentence ("the password is wrong …").
    """

    def run(body: B) -> R:
        try:
            return action(body)
        except Invalid as exc:
            if "password" in exc.field_errors:
                exc.field_errors["password"] = exc.message
            raise

    return run


def _without_secrets(form: dict[str, Any]) -> dict[str, Any]:
    """The submitted values to show again after an error (never the password)."""
    return {k: v for k, v in form.items() if k != "password"}


def _local(path: Any) -> str | None:
    """A same-site path to come back to, or None (no open redirects)."""
    if isinstance(path, str) and path.startswith("/") and not path.startswith("//"):
        return path
    return None


def _figure(
    title: str, x_title: str, y_title: str, traces: list[dict[str, Any]], **layout: Any
) -> dict[str, Any]:
    """A Plotly figure (data and layout) with a title and both axes named with their unit."""
    return {
        "data": traces,
        "layout": {
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}},
            "yaxis": {"title": {"text": y_title}, "tickformat": ",.2f", "rangemode": "tozero"},
            "template": "plotly_white",
            "margin": {"t": 60, "l": 90, "r": 20, "b": 60},
            "height": 340,
            "legend": {"orientation": "h", "y": -0.25},
            **layout,
        },
    }


# --- work orders --------------------------------------------------------------------------------


@router.get("/work-orders")
def work_orders_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    status: str = "",
) -> Response:
    status_value = WorkOrderStatus(status) if status in {s.value for s in WorkOrderStatus} else None
    page = service.list_work_orders(session, principal, status=status_value, params=params)
    kinds = _kinds(request)
    return render(
        request,
        "contracts/work_orders.html",
        {
            "page": page,
            "sort": params.sort or "",
            "status": status_value.value if status_value else "",
            "statuses": [s.value for s in WorkOrderStatus],
            "show_sponsor": OrganizationKind.SPONSOR.value not in kinds or len(kinds) > 1,
            "show_provider": OrganizationKind.PROVIDER.value not in kinds or len(kinds) > 1,
            "provider_only": _provider_only(request),
            "active": "work-orders",
        },
    )


@router.post("/work-orders/from-award")
def create_from_award(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    """Draft the work order of an award (the sponsor's button on the RFP comparison page)."""
    back = _local(form.pop("next", None)) or "/work-orders"
    if form.get("payment_terms_days") in ("", None):
        form.pop("payment_terms_days", None)  # the schema's default: net 30
    outcome = run_form(
        session,
        WorkOrderFromAward,
        form,
        lambda body: service.create_from_award(session, principal, body),
    )
    created = outcome.result
    if created is None:
        problems = "; ".join(
            message if field == "form" else f"{field.replace('_', ' ')}: {message}"
            for field, message in outcome.errors.items()
        )
        flash(request, f"The work order was not drafted — {problems}", "danger")
        return RedirectResponse(back, status_code=303)
    flash(
        request,
        f"Work order {created.number} drafted from the award: {len(created.milestones)} "
        f"milestone(s), {created.total_value:,.2f} {created.currency}, net "
        f"{created.payment_terms_days} days. Check it, then send it for signature.",
    )
    return RedirectResponse(f"/work-orders/{created.id}", status_code=303)


def _value_chart(work_order: WorkOrderRead) -> dict[str, Any] | None:
    points = work_order.value_history
    if len(points) < 2:
        return None
    currency = work_order.currency
    return _figure(
        f"Contract value of {work_order.number} over time ({currency})",
        "Date (UTC)",
        f"Contract value ({currency})",
        [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "line": {"shape": "hv"},
                "name": "Contract value",
                "x": [p.at.isoformat() for p in points],
                "y": [float(p.value) for p in points],
                "text": [p.change for p in points],
                "hovertemplate": "%{text}<br>%{y:,.2f} " + currency + "<extra></extra>",
            }
        ],
        showlegend=False,
        height=300,
    )


def _work_order_page(
    request: Request,
    session: Session,
    principal: Principal,
    work_order_id: uuid.UUID,
    *,
    section: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    work_order = service.get_work_order(session, principal, work_order_id)
    change_orders = service.list_change_orders(session, principal, work_order_id)
    side = _side(work_order)
    entry = parties.catalog().get(work_order.service_code)
    pending_change = next((c for c in change_orders if c.status == ChangeOrderStatus.PENDING), None)
    return render(
        request,
        "contracts/work_order.html",
        {
            "wo": work_order,
            "role": work_order.viewer_role,
            "side": side,
            "names": {
                work_order.sponsor_id: work_order.sponsor_name,
                work_order.provider_id: work_order.provider_name,
            },
            "service_name": entry.name if entry else work_order.service_code,
            "change_orders": list(reversed(change_orders)),
            "pending_change": pending_change,
            "changeable": [
                m
                for m in work_order.milestones
                if m.status in (MilestoneStatus.PLANNED, MilestoneStatus.REJECTED)
            ],
            "i_signed": any(s.organization_id == side for s in work_order.signatures),
            "can_write": principal.can(Permission.CONTRACTS_WRITE, side),
            "can_sign": principal.can(Permission.CONTRACTS_SIGN, side),
            "all_accepted": all(
                m.status == MilestoneStatus.ACCEPTED for m in work_order.milestones
            ),
            "contract_meanings": CONTRACT_MEANINGS,
            "change_meanings": CHANGE_MEANINGS,
            "add_rows": range(ADD_ROWS),
            "value_chart": _value_chart(work_order),
            "plotly_js": PLOTLY_JS,
            "section": section,
            "errors": _friendly(errors or {}),
            "form": _without_secrets(form or {}),
            "active": "work-orders",
        },
        status_code=status_code,
    )


@router.get("/work-orders/{work_order_id}")
def work_order_page(
    request: Request, work_order_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _work_order_page(request, session, principal, work_order_id)


def _after(
    request: Request,
    session: Session,
    principal: Principal,
    work_order_id: uuid.UUID,
    outcome: FormOutcome[R],
    *,
    section: str,
    form: dict[str, Any],
    done: Callable[[R], str],
    anchor: str = "",
) -> Response:
    """Back to the work order: with a confirmation, or with the form's errors and its input."""
    if outcome.result is not None:
        flash(request, done(outcome.result))
        return RedirectResponse(f"/work-orders/{work_order_id}{anchor}", status_code=303)
    return _work_order_page(
        request,
        session,
        principal,
        work_order_id,
        section=section,
        errors=outcome.errors,
        form=form,
        status_code=outcome.status_code,
    )


def _signed_message(work_order: WorkOrderRead) -> str:
    signature = work_order.signatures[-1]
    text = (
        f"{work_order.number} signed by {signature.signer_name} ({signature.meaning}) at "
        f"{signature.signed_at:%Y-%m-%d %H:%M} UTC."
    )
    if work_order.status == WorkOrderStatus.ACTIVE:
        return text + " Both parties have signed: the work order is active."
    return text + " Awaiting signature from " + ", ".join(work_order.awaiting_signature_from) + "."


@router.post("/work-orders/{work_order_id}/send-for-signature")
def send_for_signature(
    request: Request,
    work_order_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        Transition,
        form,
        lambda body: service.send_for_signature(session, principal, work_order_id, body),
    )
    return _after(
        request, session, principal, work_order_id, outcome, section="send", form=form,
        done=lambda wo: f"{wo.number} sent for signature to {wo.sponsor_name} and {wo.provider_name}.",
        anchor="#signatures",
    )  # fmt: skip


@router.post("/work-orders/{work_order_id}/sign")
def sign_work_order(
    request: Request,
    work_order_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        SignIn,
        form,
        _signing(lambda body: service.sign_work_order(session, principal, work_order_id, body)),
    )
    return _after(
        request, session, principal, work_order_id, outcome, section="sign", form=form,
        done=_signed_message, anchor="#signatures",
    )  # fmt: skip


@router.post("/work-orders/{work_order_id}/terminate")
def terminate(
    request: Request,
    work_order_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        Terminate,
        form,
        lambda body: service.terminate(session, principal, work_order_id, body),
    )
    return _after(
        request, session, principal, work_order_id, outcome, section="terminate", form=form,
        done=lambda wo: f"{wo.number} terminated: {wo.termination_reason}",
    )  # fmt: skip


@router.post("/work-orders/{work_order_id}/complete")
def complete(
    request: Request,
    work_order_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        Transition,
        form,
        lambda body: service.complete(session, principal, work_order_id, body),
    )
    return _after(
        request, session, principal, work_order_id, outcome, section="complete", form=form,
        done=lambda wo: f"{wo.number} completed: every milestone is accepted.",
    )  # fmt: skip


# --- milestones and deliverables ----------------------------------------------------------------


def _submit(
    request: Request,
    session: Session,
    principal: Principal,
    work_order_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    version: str,
    note: str,
    uploads: list[tuple[str, str, bytes]],
) -> Response:
    """The synchronous half of a milestone submission (run in the thread pool)."""
    section = f"submit-{milestone_id}"
    form = {"note": note}
    errors: dict[str, str] = {}
    if not re.fullmatch(r"[0-9]{1,18}", version):  # str.isdigit() takes "²", which int() refuses
        errors["form"] = "this form is incomplete; reload the page and try again"
    if len(note) > 5000:
        errors["note"] = "at most 5,000 characters"
    if errors:
        return _work_order_page(
            request, session, principal, work_order_id,
            section=section, errors=errors, form=form, status_code=422,
        )  # fmt: skip
    try:
        milestone = service.submit_milestone(
            session, principal, milestone_id, version=int(version), note=note, uploads=uploads
        )
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        return _work_order_page(
            request, session, principal, work_order_id, section=section,
            errors=exc.field_errors or {"form": exc.message}, form=form,
            status_code=exc.status_code,
        )  # fmt: skip
    files = ", ".join(f"{d.filename} (SHA-256 {d.sha256[:12]}…)" for d in milestone.deliverables)
    flash(
        request,
        f"Milestone {milestone.position} submitted for the sponsor's review with {files}.",
    )
    return RedirectResponse(
        f"/work-orders/{work_order_id}#milestone-{milestone.position}", status_code=303
    )


@router.post("/work-orders/{work_order_id}/milestones/{milestone_id}/submit")
async def submit_milestone(
    request: Request,
    work_order_id: uuid.UUID,
    milestone_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
) -> Response:
    """The provider reports a milestone complete with its deliverable files (multipart form)."""
    form = await request.form()
    uploads: list[tuple[str, str, bytes]] = []
    for item in form.getlist("files"):
        # A file input left empty still sends a part, with no name and no bytes.
        if isinstance(item, UploadFile) and item.filename:
            uploads.append((item.filename, item.content_type or "", await item.read()))
    version, note = form.get("version"), form.get("note")
    return await run_in_threadpool(
        _submit,
        request,
        session,
        principal,
        work_order_id,
        milestone_id,
        version=version if isinstance(version, str) else "",
        note=note if isinstance(note, str) else "",
        uploads=uploads,
    )


@router.post("/work-orders/{work_order_id}/milestones/{milestone_id}/decision")
def decide_milestone(
    request: Request,
    work_order_id: uuid.UUID,
    milestone_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        MilestoneDecision,
        form,
        _signing(lambda body: service.decide_milestone(session, principal, milestone_id, body)),
    )
    if outcome.status_code == 422 and form.get("accept") == "false" and "form" in outcome.errors:
        # The schema's "say why" rule has no field of its own: it belongs next to the reason.
        errors = dict(outcome.errors)
        errors.setdefault("reason", errors.pop("form"))
        outcome = FormOutcome(None, errors, 422)

    def done(milestone: Any) -> str:
        if milestone.status == MilestoneStatus.ACCEPTED:
            signature = milestone.signatures[-1]
            return (
                f"Milestone {milestone.position} accepted and signed by {signature.signer_name} "
                f"at {signature.signed_at:%Y-%m-%d %H:%M} UTC. Its invoice of "
                f"{milestone.amount:,.2f} {milestone.currency} is drafted for the provider to issue."
            )
        return f"Milestone {milestone.position} rejected: {milestone.rejection_reason}"

    return _after(
        request, session, principal, work_order_id, outcome,
        section=f"decide-{milestone_id}", form=form, done=done, anchor="#milestones",
    )  # fmt: skip


@router.get("/deliverables/{deliverable_id}/download")
def download_deliverable(
    deliverable_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    """The file after its SHA-256 is checked again (an altered file answers a 409 page)."""
    stored, content = service.download_deliverable(session, principal, deliverable_id)
    return attachment(stored, content)


# --- change orders ------------------------------------------------------------------------------


def _proposed_changes(
    form: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    """The change-order form's rows as the schema's changes, the row key of each change, and the
    errors of single rows (keyed ``<row>.<field>``).

    Rows: ``ms.<milestone id>.action`` (keep, change, remove) with optional new ``amount``,
    ``due_date`` and ``description``; ``add.<n>.description|deliverable|amount|due_date``.
    """
    changes: list[dict[str, Any]] = []
    keys: list[str] = []
    errors: dict[str, str] = {}

    def filled(prefix: str, *names: str) -> dict[str, Any]:
        values = {n: form.get(f"{prefix}.{n}") for n in names}
        return {n: v.strip() for n, v in values.items() if isinstance(v, str) and v.strip()}

    milestone_ids = sorted(
        {k.split(".")[1] for k in form if k.startswith("ms.") and k.endswith(".action")}
    )
    rows: list[tuple[str, dict[str, Any]]] = []
    for milestone_id in milestone_ids:
        prefix = f"ms.{milestone_id}"
        action = form.get(f"{prefix}.action")
        if action in ("change", "remove"):
            row: dict[str, Any] = {"action": action, "milestone_id": milestone_id}
            if action == "change":
                row |= filled(prefix, "description", "amount", "due_date")
                if len(row) == 2:
                    errors[prefix] = "give a new amount, due date or description"
                    continue
            rows.append((prefix, row))
    for n in range(ADD_ROWS):
        prefix = f"add.{n}"
        values = filled(prefix, "description", "deliverable", "amount", "due_date")
        if values:
            rows.append((prefix, {"action": "add", **values}))
    for prefix, row in rows:
        _, row_errors = validate_form(MilestoneChange, row)
        for field, message in row_errors.items():
            errors[prefix if field == "form" else f"{prefix}.{field}"] = message
        changes.append(row)
        keys.append(prefix)
    return changes, keys, errors


@router.post("/work-orders/{work_order_id}/change-orders")
def propose_change(
    request: Request,
    work_order_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    changes, keys, row_errors = _proposed_changes(form)
    if row_errors:
        outcome: FormOutcome[ChangeOrderRead] = FormOutcome(None, row_errors, 422)
    else:
        body = {
            "version": form.get("version"),
            "reason": form.get("reason", ""),
            "changes": changes,
        }
        outcome = run_form(
            session,
            ChangeOrderCreate,
            body,
            lambda data: service.propose_change(session, principal, work_order_id, data),
        )
        # The service names a change by its 1-based position: point at the form's row instead.
        errors: dict[str, str] = {}
        for field, message in outcome.errors.items():
            parts = field.split(".")
            if parts[0] == "changes" and len(parts) == 3 and parts[1].isdigit():
                index = int(parts[1]) - 1
                errors[keys[index] if 0 <= index < len(keys) else "changes"] = message
            else:
                errors[field] = message
        outcome = FormOutcome(outcome.result, errors, outcome.status_code)
    return _after(
        request, session, principal, work_order_id, outcome, section="propose", form=form,
        done=lambda co: f"Change order {co.number} proposed: value {co.value_before:,.2f} → "
        f"{co.value_after:,.2f}. It applies once both parties have signed it.",
        anchor="#change-orders",
    )  # fmt: skip


@router.post("/work-orders/{work_order_id}/change-orders/{change_order_id}/withdraw")
def withdraw_change_order(
    request: Request,
    work_order_id: uuid.UUID,
    change_order_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        Transition,
        form,
        lambda body: service.withdraw_change(session, principal, change_order_id, body),
    )
    return _after(
        request, session, principal, work_order_id, outcome,
        section=f"co-withdraw-{change_order_id}", form=form,
        done=lambda co: f"Change order {co.number} withdrawn; a new one may be proposed.",
        anchor="#change-orders",
    )  # fmt: skip


@router.post("/work-orders/{work_order_id}/change-orders/{change_order_id}/sign")
def sign_change_order(
    request: Request,
    work_order_id: uuid.UUID,
    change_order_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    outcome = run_form(
        session,
        SignIn,
        form,
        _signing(lambda body: service.sign_change_order(session, principal, change_order_id, body)),
    )

    def done(change: ChangeOrderRead) -> str:
        signature = change.signatures[-1]
        text = (
            f"Change order {change.number} signed by {signature.signer_name} ({signature.meaning})."
        )
        if change.status == ChangeOrderStatus.APPLIED:
            return (
                text
                + f" Both parties have signed: applied, the value is now {change.value_after:,.2f}."
            )
        return text + " Awaiting signature from " + ", ".join(change.awaiting_signature_from) + "."

    return _after(
        request, session, principal, work_order_id, outcome,
        section=f"co-sign-{change_order_id}", form=form, done=done, anchor="#change-orders",
    )  # fmt: skip


# --- invoices and payments ----------------------------------------------------------------------


def _invoice_sort_key(column: str) -> Callable[[InvoiceRead], Any]:
    keys: dict[str, Callable[[InvoiceRead], Any]] = {
        "due_on": lambda i: (i.due_on or date.max, i.work_order_number),
        "number": lambda i: (i.number or "", i.work_order_number),
        "work_order": lambda i: (i.work_order_number, i.milestone),
        "amount": lambda i: (i.currency, i.amount),
        "outstanding": lambda i: (i.currency, i.outstanding),
        "status": lambda i: (i.status.value, i.due_on or date.max),
    }
    return keys[column]


@router.get("/invoices")
def invoices_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    status: str = "",
) -> Response:
    status_value = InvoiceStatus(status) if status in {s.value for s in InvoiceStatus} else None
    rows = service.list_invoices(session, principal, status=status_value)
    if status == "overdue":
        rows = [r for r in rows if r.overdue]
    column, descending = params.sort_key(INVOICE_SORTS, "due_on")
    rows = sorted(rows, key=_invoice_sort_key(column), reverse=descending)
    outstanding: dict[str, Decimal] = defaultdict(Decimal)
    overdue: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row.status == InvoiceStatus.ISSUED:
            outstanding[row.currency] += row.outstanding
            if row.overdue:
                overdue[row.currency] += row.outstanding
    shown, total = paginate(rows, params)
    return render(
        request,
        "contracts/invoices.html",
        {
            "page": Page.of(shown, total=total, params=params),
            "status": status if status_value or status == "overdue" else "",
            "statuses": [s.value for s in InvoiceStatus],
            "sort": params.sort or "",
            "outstanding": dict(sorted(outstanding.items())),
            "overdue": dict(sorted(overdue.items())),
            "provider_only": _provider_only(request),
            "active": "invoices",
        },
    )


def _invoice_page(
    request: Request,
    session: Session,
    principal: Principal,
    invoice_id: uuid.UUID,
    *,
    section: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    invoice = service.get_invoice(session, principal, invoice_id)
    work_order = service.get_work_order(session, principal, invoice.work_order_id)
    role = work_order.viewer_role
    today = utc_today()
    return render(
        request,
        "contracts/invoice.html",
        {
            "invoice": invoice,
            "wo": work_order,
            "role": role,
            "can_issue": role == "provider"
            and invoice.status == InvoiceStatus.DRAFT
            and principal.can(Permission.CONTRACTS_WRITE, work_order.provider_id),
            "can_pay": role == "sponsor"
            and invoice.status == InvoiceStatus.ISSUED
            and principal.can(Permission.PAYMENTS_WRITE, work_order.sponsor_id),
            "section": section,
            "errors": errors or {},
            "form": form or {},
            "issue_defaults": {"issued_on": today.isoformat()},
            "pay_defaults": {"amount": f"{invoice.outstanding:.2f}", "paid_on": today.isoformat()},
            "active": "invoices",
        },
        status_code=status_code,
    )


@router.get("/invoices/{invoice_id}")
def invoice_page(
    request: Request, invoice_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    return _invoice_page(request, session, principal, invoice_id)


def _after_invoice(
    request: Request,
    session: Session,
    principal: Principal,
    invoice_id: uuid.UUID,
    outcome: FormOutcome[InvoiceRead],
    *,
    section: str,
    form: dict[str, Any],
    done: Callable[[InvoiceRead], str],
) -> Response:
    if outcome.result is not None:
        flash(request, done(outcome.result))
        return RedirectResponse(f"/invoices/{invoice_id}", status_code=303)
    return _invoice_page(
        request,
        session,
        principal,
        invoice_id,
        section=section,
        errors=outcome.errors,
        form=form,
        status_code=outcome.status_code,
    )


@router.post("/invoices/{invoice_id}/issue")
def issue_invoice(
    request: Request, invoice_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        InvoiceIssue,
        form,
        lambda body: service.issue_invoice(session, principal, invoice_id, body),
    )
    return _after_invoice(
        request, session, principal, invoice_id, outcome, section="issue", form=form,
        done=lambda i: f"Invoice {i.number} issued for {i.amount:,.2f} {i.currency}, "
        f"due on {i.due_on}.",
    )  # fmt: skip


@router.post("/invoices/{invoice_id}/payments")
def record_payment(
    request: Request, invoice_id: uuid.UUID, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        PaymentCreate,
        form,
        lambda body: service.record_payment(session, principal, invoice_id, body),
    )

    def done(invoice: InvoiceRead) -> str:
        paid = invoice.payments[-1].amount
        if invoice.status == InvoiceStatus.PAID:
            return f"Payment of {paid:,.2f} {invoice.currency} recorded; invoice {invoice.number} is paid in full."
        return (
            f"Payment of {paid:,.2f} {invoice.currency} recorded; {invoice.outstanding:,.2f} "
            f"{invoice.currency} is still outstanding."
        )

    return _after_invoice(
        request, session, principal, invoice_id, outcome, section="pay", form=form, done=done
    )


# --- spend --------------------------------------------------------------------------------------


def _dimensions(request: Request) -> dict[str, str]:
    """The groupings that mean something to the viewer; the first is the default."""
    if _provider_only(request):
        keys: tuple[str, ...] = PROVIDER_SPEND
    elif OrganizationKind.PROVIDER.value in _kinds(request):
        keys = (*SPONSOR_SPEND, "sponsor")
    else:
        keys = SPONSOR_SPEND
    return {key: SPEND_LABELS[key] for key in keys}


def _dimension(request: Request, by: str | None) -> str:
    dimensions = _dimensions(request)
    return by if by in dimensions else next(iter(dimensions))


def _spend_charts(report: SpendReport, noun: str) -> list[dict[str, Any]]:
    """One stacked bar chart per currency: paid + invoiced unpaid + accrued + remaining adds up
    to the committed value of each key."""
    by_currency: dict[str, list[Any]] = defaultdict(list)
    for row in report.rows:
        by_currency[row.currency].append(row)
    label = SPEND_LABELS[report.by]
    charts = []
    for currency, rows in sorted(by_currency.items()):
        keys = [r.key for r in rows]
        parts = (
            ("Paid", [r.paid for r in rows], "#1f7a3e"),
            ("Invoiced, unpaid", [r.invoiced - r.paid for r in rows], "#d08c00"),
            ("Accrued (accepted, not invoiced)", [r.accrued for r in rows], "#6f42c1"),
            ("Remaining", [r.remaining for r in rows], "#adb5bd"),
        )
        traces = [
            {
                "type": "bar",
                "name": name,
                "x": keys,
                "y": [float(v) for v in values],
                "marker": {"color": color},
                "hovertemplate": "%{x}<br>" + name + ": %{y:,.2f} " + currency + "<extra></extra>",
            }
            for name, values, color in parts
        ]
        if any(r.budget is not None for r in rows):
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": "Budget",
                    "x": keys,
                    "y": [None if r.budget is None else float(r.budget) for r in rows],
                    "marker": {
                        "symbol": "line-ew-open",
                        "size": 80,
                        "color": "#dc3545",
                        "line": {"width": 4, "color": "#dc3545"},
                    },
                    "hovertemplate": "%{x}<br>Budget: %{y:,.2f} " + currency + "<extra></extra>",
                }
            )
        charts.append(
            {
                "id": f"spend-chart-{currency}",
                "currency": currency,
                "figure": _figure(
                    f"{noun} by {label.lower()} ({currency}): committed, split by where it stands",
                    label,
                    f"Amount ({currency})",
                    traces,
                    barmode="stack",
                ),
            }
        )
    return charts


SPEND_HEADERS = ("Currency", "Committed", "Accrued", "Invoiced", "Paid", "Remaining")


@router.get("/spend")
def spend_page(
    request: Request, session: DbSession, principal: PageUser, by: str | None = None
) -> Response:
    by = _dimension(request, by)
    report = service.spend(session, principal, by=by)
    noun = "Revenue" if _provider_only(request) else "Spend"
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in report.rows:
        for name in ("committed", "accrued", "invoiced", "paid", "remaining"):
            totals[row.currency][name] += getattr(row, name)
    return render(
        request,
        "contracts/spend.html",
        {
            "report": report,
            "by": by,
            "dimensions": _dimensions(request),
            "noun": noun,
            "totals": {c: dict(v) for c, v in sorted(totals.items())},
            "has_budget": any(r.budget is not None for r in report.rows),
            "charts": _spend_charts(report, noun),
            "plotly_js": PLOTLY_JS,
            "active": "spend",
        },
    )


def _spend_export(
    request: Request, session: Session, principal: Principal, by: str | None, *, excel: bool
) -> Response:
    by = _dimension(request, by)
    report = service.spend(session, principal, by=by)
    with_budget = any(r.budget is not None for r in report.rows)
    headers = (
        SPEND_LABELS[by],
        *SPEND_HEADERS,
        *(("Budget", "Budget left", "Budget used (%)") if with_budget else ()),
    )

    def amount(value: Decimal | None) -> Any:
        if value is None:
            return None if excel else ""
        return float(value) if excel else f"{value:.2f}"

    rows = [
        (
            r.key,
            r.currency,
            *(amount(v) for v in (r.committed, r.accrued, r.invoiced, r.paid, r.remaining)),
            *(
                (amount(r.budget), amount(r.budget_left), r.budget_used_percent)
                if with_budget
                else ()
            ),
        )
        for r in report.rows
    ]
    if excel:
        return xlsx_response(f"opencxo-spend-by-{by}.xlsx", f"Spend by {by}", headers, rows)
    return csv_response(f"opencxo-spend-by-{by}.csv", headers, rows)


@router.get("/spend.csv")
def spend_csv(
    request: Request, session: DbSession, principal: PageUser, by: str | None = None
) -> Response:
    return _spend_export(request, session, principal, by, excel=False)


@router.get("/spend.xlsx")
def spend_xlsx(
    request: Request, session: DbSession, principal: PageUser, by: str | None = None
) -> Response:
    return _spend_export(request, session, principal, by, excel=True)
