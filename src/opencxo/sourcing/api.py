"""JSON API of sourcing — thin: parse, call the service, return."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from opencxo.core import files
from opencxo.core.http import ApiPrincipal, DbSession, attachment
from opencxo.core.pagination import Page, PageParams
from opencxo.sourcing import service
from opencxo.sourcing.models import RfpStatus
from opencxo.sourcing.schemas import (
    AnswerCreate,
    AttachmentRead,
    AwardCreate,
    AwardRead,
    BidInput,
    BidRead,
    BidReceipt,
    CancelRfp,
    Comparison,
    ExchangeRates,
    FinishAward,
    InvitationCreate,
    MatchSuggestion,
    MyOutcome,
    ProgramCreate,
    ProgramRead,
    ProgramUpdate,
    QuestionCreate,
    QuestionRead,
    RfpCreate,
    RfpRead,
    RfpSummary,
    RfpUpdate,
    Transition,
)

router = APIRouter()
Pages = Annotated[PageParams, Query()]


@router.get("/programs", response_model=Page[ProgramRead], tags=["programs"])
def list_programs(session: DbSession, principal: ApiPrincipal, params: Pages) -> Page[ProgramRead]:
    return service.list_programs(session, principal, params=params)


@router.post(
    "/programs", response_model=ProgramRead, status_code=status.HTTP_201_CREATED, tags=["programs"]
)
def create_program(body: ProgramCreate, session: DbSession, principal: ApiPrincipal) -> ProgramRead:
    return service.create_program(session, principal, body)


@router.get("/programs/{program_id}", response_model=ProgramRead, tags=["programs"])
def get_program(program_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> ProgramRead:
    return service.get_program(session, principal, program_id)


@router.put("/programs/{program_id}", response_model=ProgramRead, tags=["programs"])
def update_program(
    program_id: uuid.UUID, body: ProgramUpdate, session: DbSession, principal: ApiPrincipal
) -> ProgramRead:
    return service.update_program(session, principal, program_id, body)


@router.get("/rfps", response_model=Page[RfpSummary], tags=["rfps"])
def list_rfps(
    session: DbSession,
    principal: ApiPrincipal,
    params: Pages,
    status: RfpStatus | None = None,
    program_id: uuid.UUID | None = None,
) -> Page[RfpSummary]:
    """RFPs of your sponsor organisations, and RFPs your provider organisations are invited to."""
    return service.list_rfps(
        session, principal, status=status, program_id=program_id, params=params
    )


@router.post("/rfps", response_model=RfpRead, status_code=status.HTTP_201_CREATED, tags=["rfps"])
def create_rfp(body: RfpCreate, session: DbSession, principal: ApiPrincipal) -> RfpRead:
    return service.create_rfp(session, principal, body)


@router.get("/rfps/{rfp_id}", response_model=RfpRead, tags=["rfps"])
def get_rfp(rfp_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> RfpRead:
    return service.get_rfp(session, principal, rfp_id)


@router.put("/rfps/{rfp_id}", response_model=RfpRead, tags=["rfps"])
def update_rfp(
    rfp_id: uuid.UUID, body: RfpUpdate, session: DbSession, principal: ApiPrincipal
) -> RfpRead:
    """Edit a draft RFP (title, lots, weights, deadline …)."""
    return service.update_rfp(session, principal, rfp_id, body)


@router.post("/rfps/{rfp_id}/publish", response_model=RfpRead, tags=["rfps"])
def publish_rfp(
    rfp_id: uuid.UUID, body: Transition, session: DbSession, principal: ApiPrincipal
) -> RfpRead:
    return service.publish_rfp(session, principal, rfp_id, body)


@router.post("/rfps/{rfp_id}/cancel", response_model=RfpRead, tags=["rfps"])
def cancel_rfp(
    rfp_id: uuid.UUID, body: CancelRfp, session: DbSession, principal: ApiPrincipal
) -> RfpRead:
    return service.cancel_rfp(session, principal, rfp_id, body)


@router.post("/rfps/{rfp_id}/finish-award", response_model=RfpRead, tags=["award"])
def finish_award(
    rfp_id: uuid.UUID, body: FinishAward, session: DbSession, principal: ApiPrincipal
) -> RfpRead:
    """Close the award: the lots still without an award stay unawarded (their bidders are told)."""
    return service.finish_award(session, principal, rfp_id, body)


@router.put("/rfps/{rfp_id}/exchange-rates", response_model=RfpRead, tags=["rfps"])
def set_exchange_rates(
    rfp_id: uuid.UUID, body: ExchangeRates, session: DbSession, principal: ApiPrincipal
) -> RfpRead:
    return service.set_exchange_rates(session, principal, rfp_id, body)


@router.get("/rfps/{rfp_id}/suggestions", response_model=list[MatchSuggestion], tags=["rfps"])
def suggest_providers(
    rfp_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[MatchSuggestion]:
    """Providers matching the lots' services, with their qualification and any warning."""
    return service.suggest_providers(session, principal, rfp_id)


@router.post(
    "/rfps/{rfp_id}/invitations",
    response_model=RfpRead,
    status_code=status.HTTP_201_CREATED,
    tags=["rfps"],
)
def invite(
    rfp_id: uuid.UUID, body: InvitationCreate, session: DbSession, principal: ApiPrincipal
) -> RfpRead:
    return service.invite(session, principal, rfp_id, body)


@router.get("/rfps/{rfp_id}/questions", response_model=list[QuestionRead], tags=["rfps"])
def list_questions(
    rfp_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[QuestionRead]:
    return service.list_questions(session, principal, rfp_id)


@router.post(
    "/rfps/{rfp_id}/questions",
    response_model=QuestionRead,
    status_code=status.HTTP_201_CREATED,
    tags=["rfps"],
)
def ask(
    rfp_id: uuid.UUID, body: QuestionCreate, session: DbSession, principal: ApiPrincipal
) -> QuestionRead:
    """An invited provider asks; the sponsor answers to every invitee without naming the asker."""
    return service.ask(session, principal, rfp_id, body)


@router.post(
    "/rfps/{rfp_id}/questions/{question_id}/answer", response_model=QuestionRead, tags=["rfps"]
)
def answer(
    rfp_id: uuid.UUID,
    question_id: uuid.UUID,
    body: AnswerCreate,
    session: DbSession,
    principal: ApiPrincipal,
) -> QuestionRead:
    return service.answer(session, principal, rfp_id, question_id, body)


@router.get("/rfps/{rfp_id}/bid", response_model=BidRead, tags=["bids"])
def my_bid(rfp_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> BidRead:
    """Your organisation's bid on this RFP."""
    return service.my_bid(session, principal, rfp_id)


@router.put("/rfps/{rfp_id}/bid", response_model=BidRead, tags=["bids"])
def save_bid(
    rfp_id: uuid.UUID, body: BidInput, session: DbSession, principal: ApiPrincipal
) -> BidRead:
    """Create or revise your bid until the deadline (send the version you read to revise)."""
    return service.save_bid(session, principal, rfp_id, body)


@router.post("/rfps/{rfp_id}/bid/submit", response_model=BidRead, tags=["bids"])
def submit_bid(
    rfp_id: uuid.UUID, body: Transition, session: DbSession, principal: ApiPrincipal
) -> BidRead:
    return service.submit_bid(session, principal, rfp_id, body)


@router.post("/rfps/{rfp_id}/bid/withdraw", response_model=BidRead, tags=["bids"])
def withdraw_bid(
    rfp_id: uuid.UUID, body: Transition, session: DbSession, principal: ApiPrincipal
) -> BidRead:
    return service.withdraw_bid(session, principal, rfp_id, body)


@router.get("/rfps/{rfp_id}/bid/outcome", response_model=list[MyOutcome], tags=["bids"])
def my_outcome(rfp_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> list[MyOutcome]:
    return service.my_outcome(session, principal, rfp_id)


@router.get("/rfps/{rfp_id}/bids", response_model=list[BidRead] | list[BidReceipt], tags=["bids"])
def received_bids(
    rfp_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[BidRead] | list[BidReceipt]:
    """The sponsor's view: receipts (who has bid) until the deadline, full bids after it."""
    return service.received_bids(session, principal, rfp_id)


@router.get("/rfps/{rfp_id}/comparison", response_model=Comparison, tags=["award"])
def compare(rfp_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Comparison:
    return service.compare(session, principal, rfp_id)


@router.get("/rfps/{rfp_id}/awards", response_model=list[AwardRead], tags=["award"])
def list_awards(rfp_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> list[AwardRead]:
    return service.list_awards(session, principal, rfp_id)


@router.post(
    "/rfps/{rfp_id}/lots/{lot_id}/award",
    response_model=AwardRead,
    status_code=status.HTTP_201_CREATED,
    tags=["award"],
)
def award_lot(
    rfp_id: uuid.UUID,
    lot_id: uuid.UUID,
    body: AwardCreate,
    session: DbSession,
    principal: ApiPrincipal,
) -> AwardRead:
    """Award one lot to one bid; e-signed with your password."""
    return service.award_lot(session, principal, rfp_id, lot_id, body)


# --- attachments --------------------------------------------------------------------------------

Upload = Annotated[UploadFile, File(description="the document (at most 50 MiB, not empty)")]


async def _read(upload: UploadFile) -> tuple[str, str, bytes]:
    """The upload's name, type and bytes; one byte past the limit is enough to refuse it."""
    content = await upload.read(files.MAX_FILE_BYTES + 1)
    return upload.filename or "", upload.content_type or "", content


@router.post(
    "/rfps/{rfp_id}/attachments",
    response_model=AttachmentRead,
    status_code=status.HTTP_201_CREATED,
    tags=["rfps"],
)
async def add_rfp_attachment(
    rfp_id: uuid.UUID, file: Upload, session: DbSession, principal: ApiPrincipal
) -> AttachmentRead:
    """Attach a document to a draft or published RFP (multipart ``file``); the invitees of a
    published RFP are notified."""
    filename, content_type, content = await _read(file)
    return await run_in_threadpool(
        service.add_rfp_attachment, session, principal, rfp_id, filename, content_type, content
    )


@router.delete(
    "/rfps/{rfp_id}/attachments/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["rfps"],
)
def remove_rfp_attachment(
    rfp_id: uuid.UUID, file_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> None:
    """Remove a document from a draft RFP (a published RFP's documents stay)."""
    service.remove_rfp_attachment(session, principal, rfp_id, file_id)


@router.get("/rfps/{rfp_id}/attachments/{file_id}", tags=["rfps"], response_class=Response)
def download_rfp_attachment(
    rfp_id: uuid.UUID, file_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    """The document, after re-checking its SHA-256 (409 if it was altered)."""
    stored, content = service.rfp_attachment(session, principal, rfp_id, file_id)
    return attachment(stored, content)


@router.post(
    "/rfps/{rfp_id}/bid/attachments",
    response_model=AttachmentRead,
    status_code=status.HTTP_201_CREATED,
    tags=["bids"],
)
async def add_bid_attachment(
    rfp_id: uuid.UUID, file: Upload, session: DbSession, principal: ApiPrincipal
) -> AttachmentRead:
    """Attach a document to your bid until the deadline (multipart ``file``); sealed with it."""
    filename, content_type, content = await _read(file)
    return await run_in_threadpool(
        service.add_bid_attachment, session, principal, rfp_id, filename, content_type, content
    )


@router.delete(
    "/rfps/{rfp_id}/bid/attachments/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["bids"],
)
def remove_bid_attachment(
    rfp_id: uuid.UUID, file_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> None:
    """Remove a document from your bid until the deadline."""
    service.remove_bid_attachment(session, principal, rfp_id, file_id)


@router.get(
    "/rfps/{rfp_id}/bids/{bid_id}/attachments/{file_id}", tags=["bids"], response_class=Response
)
def download_bid_attachment(
    rfp_id: uuid.UUID,
    bid_id: uuid.UUID,
    file_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
) -> Response:
    """A bid's document: for the bidder, and for the sponsor once the deadline passed."""
    stored, content = service.bid_attachment(session, principal, rfp_id, bid_id, file_id)
    return attachment(stored, content)
