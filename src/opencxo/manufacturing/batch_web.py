"""Web pages of manufacturing batch records and certificates of analysis — thin: same services as the API.

The list (filters, sorts, an Excel download), the batch record page with an inline form per
action (provider users with ``manufacturing:write``) and the QA signature forms (users with
``batches:release``), and the printable certificate of analysis. Sponsors read their own
batches and certificates; every form posts here and comes back to the record with a flash.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from opencxo.contracts.schemas import MilestoneRead
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import PageParams
from opencxo.manufacturing import access, batch_pdf
from opencxo.manufacturing import batch_records as service
from opencxo.manufacturing.batch_schemas import (
    BatchComplete,
    BatchReject,
    BatchRelease,
    BatchStart,
    CertificateDelivery,
    DeviationClose,
    DeviationCreate,
    MaterialCreate,
    QcRecord,
    StepRecord,
)
from opencxo.manufacturing.models import BatchStatus, DeviationSeverity
from opencxo.web.deps import FormData, PageUser, run_form, submit_form
from opencxo.web.exports import xlsx_response
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]
EXPORT_HEADERS = (
    "Batch", "Product", "Product name", "Order", "Sponsor", "Status", "Planned quantity",
    "Actual quantity", "Unit", "Started (UTC)", "Completed (UTC)", "Manufactured on",
    "Out of specification", "Open deviations", "Disposed (UTC)",
)  # fmt: skip


def _number(value: Decimal | None) -> float | None:
    """A quantity as a number cell (a ``Decimal`` would be written as text, which Excel
    neither sums nor sorts as a number); 15 digits at most, so a float keeps it exactly."""
    return None if value is None else float(value)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# --- the list -----------------------------------------------------------------------------------


def _filters(status: str, product_id: str, sponsor_id: str, order_id: str) -> dict[str, Any]:
    return {
        "status": BatchStatus(status) if status in {s.value for s in BatchStatus} else None,
        "product_id": _uuid(product_id),
        "sponsor_id": _uuid(sponsor_id),
        "order_id": _uuid(order_id),
    }


@router.get("/mfg/batches")
def batches_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    status: str = "",
    product_id: str = "",
    sponsor_id: str = "",
    order_id: str = "",
) -> Response:
    chosen = _filters(status, product_id, sponsor_id, order_id)
    page = service.list_batches(session, principal, params=params, **chosen)
    products, sponsors = service.filter_options(session, principal)
    return render(
        request,
        "manufacturing/batches.html",
        {
            "page": page,
            "sort": params.sort or "",
            "status": chosen["status"].value if chosen["status"] else "",
            "statuses": [s.value for s in BatchStatus],
            "product_id": str(chosen["product_id"] or ""),
            "sponsor_id": str(chosen["sponsor_id"] or ""),
            "order_id": str(chosen["order_id"] or ""),
            "products": products,
            "sponsors": sponsors,
            "is_provider": bool(access.writable_providers(principal))
            or any(o.kind == "provider" for o in getattr(request.state, "organizations", [])),
            "active": "batches",
        },
    )


@router.get("/mfg/batches.xlsx")
def batches_export(
    session: DbSession,
    principal: PageUser,
    params: Pages,
    status: str = "",
    product_id: str = "",
    sponsor_id: str = "",
    order_id: str = "",
) -> Response:
    """Every batch the filters select (not just one page), for Excel."""
    chosen = _filters(status, product_id, sponsor_id, order_id)
    page = service.list_batches(session, principal, params=params, everything=True, **chosen)
    rows = [
        (b.batch_number, b.product_code, b.product_name, b.order_number, b.sponsor_name,
         b.status.value, _number(b.planned_quantity), _number(b.actual_quantity), b.unit,
         b.started_at,
         b.completed_at, b.manufactured_on, "yes" if b.out_of_specification else "no",
         b.open_deviations, b.disposed_at)
        for b in page.items
    ]  # fmt: skip
    return xlsx_response("batches.xlsx", "Batches", EXPORT_HEADERS, rows)


# --- the batch record ---------------------------------------------------------------------------


def _batch_page(
    request: Request,
    session: Session,
    principal: Principal,
    batch_id: uuid.UUID,
    *,
    section: str = "",
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    batch = service.get_batch(session, principal, batch_id)
    return render(
        request,
        "manufacturing/batch.html",
        {
            "b": batch,
            "genealogy": service.genealogy(session, principal, batch_id),
            "units": service.eligible_units(session, principal, batch_id),
            "milestones": service.milestone_choices(session, principal, batch_id),
            "can_write": principal.can(Permission.MANUFACTURING_WRITE, batch.provider_id),
            "can_release": principal.can(Permission.BATCHES_RELEASE, batch.provider_id),
            "severities": [s.value for s in DeviationSeverity],
            "section": section,
            "errors": errors or {},
            "form": form or {},
            "active": "batches",
        },
        status_code=status_code,
    )


@router.get("/mfg/batches/{batch_id}")
def batch_page(
    batch_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    return _batch_page(request, session, principal, batch_id)


def _act(
    request: Request,
    session: Session,
    principal: Principal,
    batch_id: uuid.UUID,
    *,
    section: str,
    model: type[BaseModel],
    form: dict[str, Any],
    action: Callable[[Any], object],
    done: str | Callable[[Any], str],
) -> Response:
    """Run one form of the record page: back to the record with a flash, or the page again with
    the errors next to the fields and the input kept."""
    return submit_form(
        request, session, model, form, action, done=done,
        location=f"/mfg/batches/{batch_id}#{section}",
        page_again=lambda outcome: _batch_page(
            request, session, principal, batch_id, section=section, errors=outcome.errors,
            form=form, status_code=outcome.status_code,
        ),
    )  # fmt: skip


@router.post("/mfg/batches/{batch_id}/start")
def start(
    batch_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _act(request, session, principal, batch_id, section="start", model=BatchStart,
                form=form, done="Batch started: record each step as it runs.",
                action=lambda body: service.start_batch(session, principal, batch_id, body))  # fmt: skip


@router.post("/mfg/batches/{batch_id}/steps/{sequence}")
def record_step(
    batch_id: uuid.UUID,
    sequence: int,
    request: Request,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    return _act(request, session, principal, batch_id, section=f"step-{sequence}",
                model=StepRecord, form=form, done=f"Step {sequence} recorded.",
                action=lambda body: service.record_step(session, principal, batch_id, sequence,
                                                        body))  # fmt: skip


@router.post("/mfg/batches/{batch_id}/complete")
def complete(
    batch_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _act(request, session, principal, batch_id, section="complete", model=BatchComplete,
                form=form, done="Batch completed: record the QC results for QA.",
                action=lambda body: service.complete_batch(session, principal, batch_id, body))  # fmt: skip


@router.post("/mfg/batches/{batch_id}/materials")
def add_material(
    batch_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _act(request, session, principal, batch_id, section="materials", model=MaterialCreate,
                form=form, done="Material recorded.",
                action=lambda body: service.add_material(session, principal, batch_id, body))  # fmt: skip


@router.post("/mfg/batches/{batch_id}/deliver")
def deliver_certificate(
    batch_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    def done(milestone: MilestoneRead) -> str:
        return (
            f"Certificate submitted as the deliverable of milestone {milestone.position}; "
            "the sponsor is asked to accept it."
        )

    return _act(request, session, principal, batch_id, section="deliver",
                model=CertificateDelivery, form=form, done=done,
                action=lambda body: service.deliver_certificate(session, principal, batch_id, body,
                                                                batch_pdf.coa_file))  # fmt: skip


@router.post("/mfg/batches/{batch_id}/materials/{consumption_id}/delete")
def remove_material(
    batch_id: uuid.UUID,
    consumption_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PageUser,
) -> Response:
    outcome = run_form(session, BaseModel, {},
                       lambda _: service.remove_material(session, principal, consumption_id))  # fmt: skip
    if outcome.errors:
        return _batch_page(request, session, principal, batch_id, section="materials",
                           errors=outcome.errors, status_code=outcome.status_code)  # fmt: skip
    flash(request, "Material removed.")
    return RedirectResponse(f"/mfg/batches/{batch_id}#materials", status_code=303)


@router.post("/mfg/batches/{batch_id}/deviations")
def open_deviation(
    batch_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    def action(body: DeviationCreate) -> object:
        deviation = service.open_deviation(session, principal, batch_id, body)
        flash(request, f"Deviation {deviation.number} recorded; it blocks release until closed.")
        return deviation

    outcome = run_form(session, DeviationCreate, form, action)
    if outcome.errors:
        return _batch_page(request, session, principal, batch_id, section="deviations",
                           errors=outcome.errors, form=form, status_code=outcome.status_code)  # fmt: skip
    return RedirectResponse(f"/mfg/batches/{batch_id}#deviations", status_code=303)


@router.post("/mfg/batches/{batch_id}/deviations/{deviation_id}/close")
def close_deviation(
    batch_id: uuid.UUID,
    deviation_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    return _act(request, session, principal, batch_id, section=f"close-{deviation_id}",
                model=DeviationClose, form=form, done="Deviation closed.",
                action=lambda body: service.close_deviation(session, principal, deviation_id,
                                                            body))  # fmt: skip


@router.post("/mfg/batches/{batch_id}/qc/{specification_id}")
def record_qc(
    batch_id: uuid.UUID,
    specification_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    data = dict(form)
    if data.get("conforms") not in ("true", "false"):
        data.pop("conforms", None)

    def action(body: QcRecord) -> object:
        line = service.record_qc(session, principal, batch_id, specification_id, body)
        oos = line.result is not None and line.result.out_of_specification
        flash(request, f"{line.test} recorded" + (": OUT OF SPECIFICATION." if oos else "."),
              "warning" if oos else "success")  # fmt: skip
        return line

    outcome = run_form(session, QcRecord, data, action)
    if outcome.errors:
        return _batch_page(request, session, principal, batch_id, section=f"qc-{specification_id}",
                           errors=outcome.errors, form=form, status_code=outcome.status_code)  # fmt: skip
    return RedirectResponse(f"/mfg/batches/{batch_id}#qc", status_code=303)


@router.post("/mfg/batches/{batch_id}/release")
def release(
    batch_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _act(request, session, principal, batch_id, section="release", model=BatchRelease,
                form={k: v for k, v in form.items() if k != "meaning"},
                done="Batch released with your e-signature. Its certificate of analysis is ready.",
                action=lambda body: service.release_batch(session, principal, batch_id, body))  # fmt: skip


@router.post("/mfg/batches/{batch_id}/reject")
def reject(
    batch_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _act(request, session, principal, batch_id, section="reject", model=BatchReject,
                form={k: v for k, v in form.items() if k != "meaning"},
                done="Batch rejected with your e-signature.",
                action=lambda body: service.reject_batch(session, principal, batch_id, body))  # fmt: skip


# --- certificate of analysis --------------------------------------------------------------------


@router.get("/mfg/batches/{batch_id}/coa")
def coa_page(
    batch_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    coa = service.certificate(session, principal, batch_id)
    return render(request, "manufacturing/coa.html", {"coa": coa, "active": "batches"})


@router.get("/mfg/batches/{batch_id}/coa.pdf")
def coa_pdf(batch_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    return batch_pdf.coa_pdf_response(service.certificate(session, principal, batch_id))
