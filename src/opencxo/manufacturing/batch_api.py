"""JSON API of manufacturing batch records: steps, materials and genealogy, deviations, QC results, QA disposition, certificate of analysis — thin: parse, call the service, return."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from opencxo.contracts.schemas import MilestoneRead
from opencxo.core.http import ApiPrincipal, DbSession
from opencxo.core.pagination import Page, PageParams
from opencxo.manufacturing import batch_pdf
from opencxo.manufacturing import batch_records as service
from opencxo.manufacturing.batch_schemas import (
    BatchComplete,
    BatchListItem,
    BatchRead,
    BatchReject,
    BatchRelease,
    BatchStart,
    CertificateDelivery,
    CoaRead,
    DeviationClose,
    DeviationCreate,
    DeviationRead,
    GenealogyRead,
    MaterialCreate,
    MilestoneChoice,
    QcLine,
    QcRecord,
    StepRecord,
)
from opencxo.manufacturing.models import BatchStatus

router = APIRouter(tags=["manufacturing"])


@router.get("/mfg/batches", response_model=Page[BatchListItem])
def list_batches(
    session: DbSession,
    principal: ApiPrincipal,
    params: Annotated[PageParams, Query()],
    status: BatchStatus | None = None,
    product_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
    sponsor_id: uuid.UUID | None = None,
) -> Page[BatchListItem]:
    """Batches of your plants (provider) or made for you (sponsor). Sorts: batch_number,
    status, product, manufactured_on, updated_at (prefix '-' for descending)."""
    return service.list_batches(
        session,
        principal,
        params=params,
        status=status,
        product_id=product_id,
        order_id=order_id,
        sponsor_id=sponsor_id,
    )


@router.get("/mfg/batches/{batch_id}", response_model=BatchRead)
def get_batch(batch_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> BatchRead:
    """The batch record: steps, materials and genealogy, deviations, QC results against every
    specification line, what blocks release, and the QA disposition with its signature."""
    return service.get_batch(session, principal, batch_id)


@router.post("/mfg/batches/{batch_id}/start", response_model=BatchRead)
def start_batch(
    batch_id: uuid.UUID, body: BatchStart, session: DbSession, principal: ApiPrincipal
) -> BatchRead:
    """planned → in_progress; the recipe's steps become the batch's steps."""
    return service.start_batch(session, principal, batch_id, body)


@router.put("/mfg/batches/{batch_id}/steps/{sequence}", response_model=BatchRead)
def record_step(
    batch_id: uuid.UUID,
    sequence: int,
    body: StepRecord,
    session: DbSession,
    principal: ApiPrincipal,
) -> BatchRead:
    """Record a step: unit, start, end, yield, who performed it."""
    return service.record_step(session, principal, batch_id, sequence, body)


@router.post("/mfg/batches/{batch_id}/complete", response_model=BatchRead)
def complete_batch(
    batch_id: uuid.UUID, body: BatchComplete, session: DbSession, principal: ApiPrincipal
) -> BatchRead:
    """in_progress → completed, once every step has ended (409 names the open steps)."""
    return service.complete_batch(session, principal, batch_id, body)


@router.post(
    "/mfg/batches/{batch_id}/materials",
    response_model=BatchRead,
    status_code=status.HTTP_201_CREATED,
)
def add_material(
    batch_id: uuid.UUID, body: MaterialCreate, session: DbSession, principal: ApiPrincipal
) -> BatchRead:
    """A consumed material: a released batch of a BOM component, or a supplier lot."""
    return service.add_material(session, principal, batch_id, body)


@router.delete("/mfg/materials/{consumption_id}", response_model=BatchRead)
def remove_material(
    consumption_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> BatchRead:
    """Remove a recorded material while its batch is not yet completed."""
    return service.remove_material(session, principal, consumption_id)


@router.get("/mfg/batches/{batch_id}/genealogy", response_model=GenealogyRead)
def genealogy(batch_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> GenealogyRead:
    """Upstream (made from) and downstream (used in) trees, recursively."""
    return service.genealogy(session, principal, batch_id)


@router.post(
    "/mfg/batches/{batch_id}/deviations",
    response_model=DeviationRead,
    status_code=status.HTTP_201_CREATED,
)
def open_deviation(
    batch_id: uuid.UUID, body: DeviationCreate, session: DbSession, principal: ApiPrincipal
) -> DeviationRead:
    """Record a deviation (numbered DEV-<yy>-<NNN>); it blocks release until closed."""
    return service.open_deviation(session, principal, batch_id, body)


@router.post("/mfg/deviations/{deviation_id}/close", response_model=DeviationRead)
def close_deviation(
    deviation_id: uuid.UUID, body: DeviationClose, session: DbSession, principal: ApiPrincipal
) -> DeviationRead:
    return service.close_deviation(session, principal, deviation_id, body)


@router.put("/mfg/batches/{batch_id}/qc/{specification_id}", response_model=QcLine)
def record_qc(
    batch_id: uuid.UUID,
    specification_id: uuid.UUID,
    body: QcRecord,
    session: DbSession,
    principal: ApiPrincipal,
) -> QcLine:
    """Record a QC result of a completed batch; the OOS flag is computed against the limits."""
    return service.record_qc(session, principal, batch_id, specification_id, body)


@router.post("/mfg/batches/{batch_id}/release", response_model=BatchRead)
def release_batch(
    batch_id: uuid.UUID, body: BatchRelease, session: DbSession, principal: ApiPrincipal
) -> BatchRead:
    """QA release with e-signature (batches:release): every result in, none OOS, no open
    deviation."""
    return service.release_batch(session, principal, batch_id, body)


@router.post("/mfg/batches/{batch_id}/reject", response_model=BatchRead)
def reject_batch(
    batch_id: uuid.UUID, body: BatchReject, session: DbSession, principal: ApiPrincipal
) -> BatchRead:
    """QA rejection with e-signature and reason (batches:release)."""
    return service.reject_batch(session, principal, batch_id, body)


@router.get("/mfg/batches/{batch_id}/coa", response_model=CoaRead)
def certificate(batch_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> CoaRead:
    """The certificate of analysis of a released batch (409 otherwise)."""
    return service.certificate(session, principal, batch_id)


@router.get(
    "/mfg/batches/{batch_id}/coa.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def certificate_pdf(batch_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Response:
    """The certificate of analysis as a PDF (A4, the same bytes for the same certificate)."""
    return batch_pdf.coa_pdf_response(service.certificate(session, principal, batch_id))


@router.get("/mfg/batches/{batch_id}/milestones", response_model=list[MilestoneChoice])
def milestone_choices(
    batch_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[MilestoneChoice]:
    """The milestones the released batch's certificate can be delivered to."""
    return service.milestone_choices(session, principal, batch_id)


@router.post("/mfg/batches/{batch_id}/deliver", response_model=MilestoneRead)
def deliver_certificate(
    batch_id: uuid.UUID, body: CertificateDelivery, session: DbSession, principal: ApiPrincipal
) -> MilestoneRead:
    """Submit the released batch's certificate of analysis (PDF) as the deliverable of a
    milestone of the work order behind its order."""
    return service.deliver_certificate(session, principal, batch_id, body, batch_pdf.coa_file)
