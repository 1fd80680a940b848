"""Every SELECT of sourcing, scoped to what the reading organisations may see."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from opencxo.sourcing.models import (
    Award,
    Bid,
    BidLot,
    BidStatus,
    Invitation,
    Phase,
    Program,
    Question,
    Rfp,
    RfpStatus,
)


def program(
    session: Session, program_id: uuid.UUID, sponsor_ids: Iterable[uuid.UUID]
) -> Program | None:
    return session.execute(
        select(Program).where(Program.id == program_id, Program.sponsor_id.in_(list(sponsor_ids)))
    ).scalar_one_or_none()


def program_by_name(session: Session, sponsor_id: uuid.UUID, name: str) -> Program | None:
    return session.execute(
        select(Program).where(
            Program.sponsor_id == sponsor_id, func.lower(Program.name) == name.strip().lower()
        )
    ).scalar_one_or_none()


def _lifecycle(column: Any, steps: type[StrEnum]) -> ColumnElement[int]:
    """A status or phase column ranked in the order its enum lists the steps (not by spelling)."""
    return case(
        {step.value: rank for rank, step in enumerate(steps)}, value=column, else_=len(steps)
    )


def _ordered(column: SQLColumnExpression[Any], descending: bool) -> ColumnElement[Any]:
    """Ascending or descending, empty values last either way (as on every backend)."""
    return (column.desc() if descending else column.asc()).nulls_last()


# Sort keys of the lists (``?sort=key`` or ``-key``); text sorts without regard to case.
PROGRAM_SORTS: dict[str, SQLColumnExpression[Any]] = {
    "name": func.lower(Program.name),
    "modality": Program.modality,
    "phase": _lifecycle(Program.phase, Phase),
    "patent_expiry": Program.patent_expiry,
    "updated_at": Program.updated_at,
}
RFP_SORTS = ("title", "program", "status", "bid_deadline", "created_at")


def programs(
    session: Session,
    sponsor_ids: Iterable[uuid.UUID],
    *,
    offset: int,
    limit: int,
    sort: tuple[str, bool] = ("name", False),
) -> tuple[Sequence[Program], int]:
    query = select(Program).where(Program.sponsor_id.in_(list(sponsor_ids)))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    column, descending = sort
    rows = (
        session.execute(
            query.order_by(
                _ordered(PROGRAM_SORTS[column], descending),
                func.lower(Program.name),
                Program.id,
            )
            .offset(offset)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    return rows, total


def _rfp_query() -> Select[Rfp]:
    return select(Rfp).options(
        selectinload(Rfp.lots),
        selectinload(Rfp.invitations).selectinload(Invitation.provider),
        selectinload(Rfp.program),
        selectinload(Rfp.attachments),
    )


def _visible(organization_ids: list[uuid.UUID]) -> object:
    """The sponsor's own RFPs, and any RFP an organisation is invited to once it was published
    (a draft cancelled before publication stays the sponsor's own)."""
    invited = select(Invitation.rfp_id).where(Invitation.provider_id.in_(organization_ids))
    return or_(
        Rfp.sponsor_id.in_(organization_ids),
        (Rfp.id.in_(invited))
        & (Rfp.status != RfpStatus.DRAFT.value)
        & Rfp.published_at.is_not(None),
    )


def rfp(session: Session, rfp_id: uuid.UUID, organization_ids: Iterable[uuid.UUID]) -> Rfp | None:
    ids = list(organization_ids)
    return session.execute(
        _rfp_query().where(Rfp.id == rfp_id, _visible(ids))  # type: ignore[arg-type]
    ).scalar_one_or_none()


def rfps(
    session: Session,
    organization_ids: Iterable[uuid.UUID],
    *,
    status: str | None,
    program_id: uuid.UUID | None,
    offset: int,
    limit: int,
    sort: tuple[str, bool] = ("bid_deadline", True),
) -> tuple[Sequence[Rfp], int]:
    """The visible RFPs, a page of them in the order of ``sort`` (a key of ``RFP_SORTS``, and
    whether descending). A program's name ranks only the organisations' own RFPs: the sponsor's
    program stays hidden from the providers it invites, in the order as on the page."""
    ids = list(organization_ids)
    query = select(Rfp).where(_visible(ids))  # type: ignore[arg-type]
    if status:
        query = query.where(Rfp.status == status)
    if program_id:
        query = query.where(Rfp.program_id == program_id)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    column, descending = sort
    keys: dict[str, SQLColumnExpression[Any]] = {
        "title": func.lower(Rfp.title),
        "program": case((Rfp.sponsor_id.in_(ids), func.lower(Program.name)), else_=None),
        "status": _lifecycle(Rfp.status, RfpStatus),
        "bid_deadline": Rfp.bid_deadline,
        "created_at": Rfp.created_at,
    }
    if column == "program":
        query = query.join(Program, Program.id == Rfp.program_id)
    rows = (
        session.execute(
            query.options(selectinload(Rfp.lots), selectinload(Rfp.program))
            .order_by(_ordered(keys[column], descending), Rfp.bid_deadline.desc(), Rfp.id)
            .offset(offset)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    return rows, total


def published_past_deadline(session: Session, now: object) -> Sequence[Rfp]:
    return (
        session.execute(
            select(Rfp).where(Rfp.status == RfpStatus.PUBLISHED.value, Rfp.bid_deadline <= now)
        )
        .scalars()
        .all()
    )


def bid_of(session: Session, rfp_id: uuid.UUID, provider_id: uuid.UUID) -> Bid | None:
    return session.execute(
        select(Bid)
        .where(Bid.rfp_id == rfp_id, Bid.provider_id == provider_id)
        .options(selectinload(Bid.lots).selectinload(BidLot.lines), selectinload(Bid.provider))
    ).scalar_one_or_none()


def bids_of_providers(session: Session, provider_ids: Iterable[uuid.UUID]) -> Sequence[Bid]:
    return (
        session.execute(select(Bid).where(Bid.provider_id.in_(list(provider_ids)))).scalars().all()
    )


def submitted_bids(session: Session, rfp_id: uuid.UUID) -> Sequence[Bid]:
    return (
        session.execute(
            select(Bid)
            .where(Bid.rfp_id == rfp_id, Bid.status == BidStatus.SUBMITTED.value)
            .options(selectinload(Bid.lots).selectinload(BidLot.lines), selectinload(Bid.provider))
        )
        .scalars()
        .all()
    )


def questions(session: Session, rfp_id: uuid.UUID) -> Sequence[Question]:
    return (
        session.execute(
            select(Question).where(Question.rfp_id == rfp_id).order_by(Question.created_at)
        )
        .scalars()
        .all()
    )


def question(session: Session, question_id: uuid.UUID) -> Question | None:
    return session.get(Question, question_id)


def awards(session: Session, rfp_id: uuid.UUID) -> Sequence[Award]:
    return session.execute(select(Award).where(Award.rfp_id == rfp_id)).scalars().all()


def award(session: Session, award_id: uuid.UUID) -> Award | None:
    return session.get(Award, award_id)


def published_before(session: Session, moment: object) -> Sequence[Rfp]:
    """Published RFPs whose deadline falls before ``moment``, with their invitations."""
    return (
        session.execute(
            select(Rfp)
            .where(Rfp.status == RfpStatus.PUBLISHED.value, Rfp.bid_deadline <= moment)
            .options(selectinload(Rfp.invitations))
        )
        .scalars()
        .all()
    )
