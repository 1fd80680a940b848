"""JSON API of contracts and money — thin: parse, call the service, return."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from opencxo.contracts import service
from opencxo.contracts.models import InvoiceStatus, WorkOrderStatus
from opencxo.contracts.schemas import (
    ChangeOrderCreate,
    ChangeOrderRead,
    InvoiceIssue,
    InvoiceRead,
    MilestoneDecision,
    MilestoneRead,
    MsaCreate,
    MsaRead,
    PaymentCreate,
    SignIn,
    SpendReport,
    Terminate,
    Transition,
    WorkOrderFromAward,
    WorkOrderRead,
    WorkOrderSummary,
)
from opencxo.core.http import ApiPrincipal, DbSession, attachment
from opencxo.core.pagination import Page, PageParams

router = APIRouter()


@router.get("/msas", response_model=list[MsaRead], tags=["contracts"])
def list_msas(session: DbSession, principal: ApiPrincipal) -> list[MsaRead]:
    return service.list_msas(session, principal)


@router.post(
    "/msas", response_model=MsaRead, status_code=status.HTTP_201_CREATED, tags=["contracts"]
)
def create_msa(body: MsaCreate, session: DbSession, principal: ApiPrincipal) -> MsaRead:
    return service.create_msa(session, principal, body)


@router.get("/work-orders", response_model=Page[WorkOrderSummary], tags=["contracts"])
def list_work_orders(
    session: DbSession,
    principal: ApiPrincipal,
    params: Annotated[PageParams, Query()],
    status: WorkOrderStatus | None = None,
) -> Page[WorkOrderSummary]:
    return service.list_work_orders(session, principal, status=status, params=params)


@router.post(
    "/work-orders",
    response_model=WorkOrderRead,
    status_code=status.HTTP_201_CREATED,
    tags=["contracts"],
)
def create_work_order(
    body: WorkOrderFromAward, session: DbSession, principal: ApiPrincipal
) -> WorkOrderRead:
    """Draft the work order of an award, with the winning bid's milestones."""
    return service.create_from_award(session, principal, body)


@router.get("/work-orders/{work_order_id}", response_model=WorkOrderRead, tags=["contracts"])
def get_work_order(
    work_order_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> WorkOrderRead:
    return service.get_work_order(session, principal, work_order_id)


@router.post(
    "/work-orders/{work_order_id}/send-for-signature",
    response_model=WorkOrderRead,
    tags=["contracts"],
)
def send_for_signature(
    work_order_id: uuid.UUID, body: Transition, session: DbSession, principal: ApiPrincipal
) -> WorkOrderRead:
    return service.send_for_signature(session, principal, work_order_id, body)


@router.post("/work-orders/{work_order_id}/sign", response_model=WorkOrderRead, tags=["contracts"])
def sign_work_order(
    work_order_id: uuid.UUID, body: SignIn, session: DbSession, principal: ApiPrincipal
) -> WorkOrderRead:
    """E-sign for your organisation (password again); active once both parties have signed."""
    return service.sign_work_order(session, principal, work_order_id, body)


@router.post(
    "/work-orders/{work_order_id}/terminate", response_model=WorkOrderRead, tags=["contracts"]
)
def terminate(
    work_order_id: uuid.UUID, body: Terminate, session: DbSession, principal: ApiPrincipal
) -> WorkOrderRead:
    return service.terminate(session, principal, work_order_id, body)


@router.post(
    "/work-orders/{work_order_id}/complete", response_model=WorkOrderRead, tags=["contracts"]
)
def complete(
    work_order_id: uuid.UUID, body: Transition, session: DbSession, principal: ApiPrincipal
) -> WorkOrderRead:
    return service.complete(session, principal, work_order_id, body)


@router.get(
    "/work-orders/{work_order_id}/change-orders",
    response_model=list[ChangeOrderRead],
    tags=["contracts"],
)
def list_change_orders(
    work_order_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[ChangeOrderRead]:
    return service.list_change_orders(session, principal, work_order_id)


@router.post(
    "/work-orders/{work_order_id}/change-orders",
    response_model=ChangeOrderRead,
    status_code=status.HTTP_201_CREATED,
    tags=["contracts"],
)
def propose_change(
    work_order_id: uuid.UUID, body: ChangeOrderCreate, session: DbSession, principal: ApiPrincipal
) -> ChangeOrderRead:
    return service.propose_change(session, principal, work_order_id, body)


@router.post(
    "/change-orders/{change_order_id}/sign", response_model=ChangeOrderRead, tags=["contracts"]
)
def sign_change_order(
    change_order_id: uuid.UUID, body: SignIn, session: DbSession, principal: ApiPrincipal
) -> ChangeOrderRead:
    """Both parties sign; the change applies with the second signature."""
    return service.sign_change_order(session, principal, change_order_id, body)


@router.post(
    "/change-orders/{change_order_id}/withdraw", response_model=ChangeOrderRead, tags=["contracts"]
)
def withdraw_change(
    change_order_id: uuid.UUID, body: Transition, session: DbSession, principal: ApiPrincipal
) -> ChangeOrderRead:
    """The proposing party withdraws a pending change order."""
    return service.withdraw_change(session, principal, change_order_id, body)


@router.post("/milestones/{milestone_id}/submit", response_model=MilestoneRead, tags=["milestones"])
async def submit_milestone(
    milestone_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    version: Annotated[int, Form()],
    files: Annotated[list[UploadFile], File(description="the deliverable files")],
    note: Annotated[str, Form(max_length=5000)] = "",
) -> MilestoneRead:
    """Submit a milestone as complete with its deliverables (multipart form)."""
    uploads = [(f.filename or "", f.content_type or "", await f.read()) for f in files]
    # The use case blocks on the database (a row lock, SQLite's write lock): in the thread
    # pool, not on the event loop, where it would stall every other request — the one holding
    # the lock included.
    return await run_in_threadpool(
        service.submit_milestone,
        session,
        principal,
        milestone_id,
        version=version,
        note=note,
        uploads=uploads,
    )


@router.post(
    "/milestones/{milestone_id}/decision", response_model=MilestoneRead, tags=["milestones"]
)
def decide_milestone(
    milestone_id: uuid.UUID, body: MilestoneDecision, session: DbSession, principal: ApiPrincipal
) -> MilestoneRead:
    """Accept (e-signed; drafts the invoice) or reject with a reason."""
    return service.decide_milestone(session, principal, milestone_id, body)


@router.get("/deliverables/{deliverable_id}/download", tags=["milestones"], response_class=Response)
def download_deliverable(
    deliverable_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    """The file, after re-checking its SHA-256 (409 if it was altered)."""
    stored, content = service.download_deliverable(session, principal, deliverable_id)
    return attachment(stored, content)


@router.get("/invoices", response_model=list[InvoiceRead], tags=["money"])
def list_invoices(
    session: DbSession, principal: ApiPrincipal, status: InvoiceStatus | None = None
) -> list[InvoiceRead]:
    return service.list_invoices(session, principal, status=status)


@router.get("/invoices/{invoice_id}", response_model=InvoiceRead, tags=["money"])
def get_invoice(invoice_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> InvoiceRead:
    return service.get_invoice(session, principal, invoice_id)


@router.post("/invoices/{invoice_id}/issue", response_model=InvoiceRead, tags=["money"])
def issue_invoice(
    invoice_id: uuid.UUID, body: InvoiceIssue, session: DbSession, principal: ApiPrincipal
) -> InvoiceRead:
    return service.issue_invoice(session, principal, invoice_id, body)


@router.post("/invoices/{invoice_id}/payments", response_model=InvoiceRead, tags=["money"])
def record_payment(
    invoice_id: uuid.UUID, body: PaymentCreate, session: DbSession, principal: ApiPrincipal
) -> InvoiceRead:
    return service.record_payment(session, principal, invoice_id, body)


@router.get("/spend", response_model=SpendReport, tags=["money"])
def spend(
    session: DbSession,
    principal: ApiPrincipal,
    by: Annotated[
        str, Query(description="program, provider, sponsor, stage or country")
    ] = "program",
) -> SpendReport:
    return service.spend(session, principal, by=by)
