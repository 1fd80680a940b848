"""Every SELECT of contracts, scoped to the organisations that are party to them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    SQLColumnExpression,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session, selectinload

from opencxo.contracts.models import (
    ChangeOrder,
    Deliverable,
    Invoice,
    InvoiceStatus,
    Milestone,
    Msa,
    WorkOrder,
    WorkOrderStatus,
)


def _party(model: type[Msa] | type[WorkOrder], ids: list[uuid.UUID]) -> ColumnElement[bool]:
    return or_(model.sponsor_id.in_(ids), model.provider_id.in_(ids))


def msa_of_pair(session: Session, sponsor_id: uuid.UUID, provider_id: uuid.UUID) -> Msa | None:
    return session.execute(
        select(Msa).where(Msa.sponsor_id == sponsor_id, Msa.provider_id == provider_id)
    ).scalar_one_or_none()


def msas(session: Session, organization_ids: Iterable[uuid.UUID]) -> Sequence[Msa]:
    ids = list(organization_ids)
    return (
        session.execute(select(Msa).where(_party(Msa, ids)).order_by(Msa.effective_date.desc()))
        .scalars()
        .all()
    )


def _work_order_query() -> Select[WorkOrder]:
    return select(WorkOrder).options(
        selectinload(WorkOrder.msa),
        selectinload(WorkOrder.milestones)
        .selectinload(Milestone.deliverables)
        .selectinload(Deliverable.file),
    )


def work_order(
    session: Session, work_order_id: uuid.UUID, organization_ids: Iterable[uuid.UUID]
) -> WorkOrder | None:
    ids = list(organization_ids)
    result: WorkOrder | None = session.execute(
        _work_order_query().where(WorkOrder.id == work_order_id, _party(WorkOrder, ids))
    ).scalar_one_or_none()
    return result


def work_order_for_award(session: Session, award_id: uuid.UUID) -> WorkOrder | None:
    return session.execute(
        select(WorkOrder).where(WorkOrder.award_id == award_id)
    ).scalar_one_or_none()


# Sort keys of the work-order list (``?sort=key`` or ``-key``).
WORK_ORDER_SORTS = ("number", "title", "sponsor", "provider", "status", "value", "updated_at")
PARTY_SORTS = ("sponsor", "provider")  # ranked by the names the caller passes in


def _work_order_order(
    column: str, descending: bool, party_names: Mapping[uuid.UUID, str]
) -> list[ColumnElement[Any]]:
    """The ORDER BY of one sort key, ties broken by the number (newest first)."""
    keys: list[SQLColumnExpression[Any]]
    if column == "value":
        # Value of the milestones still in the contract; amounts of one currency compare.
        value = (
            select(func.coalesce(func.sum(cast(Milestone.amount, Numeric(18, 2))), 0))
            .where(Milestone.work_order_id == WorkOrder.id, Milestone.removed.is_(False))
            .correlate(WorkOrder)
            .scalar_subquery()
        )
        keys = [WorkOrder.currency, value]
    elif column in PARTY_SORTS:
        ranked = sorted(party_names, key=lambda i: (party_names[i].casefold(), str(i)))
        party = WorkOrder.sponsor_id if column == "sponsor" else WorkOrder.provider_id
        rank = {organization_id: n for n, organization_id in enumerate(ranked)}
        keys = [case(rank, value=party, else_=len(rank)) if rank else WorkOrder.number]
    elif column == "title":
        keys = [func.lower(WorkOrder.title)]
    elif column == "status":
        steps = {s.value: n for n, s in enumerate(WorkOrderStatus)}
        keys = [case(steps, value=WorkOrder.status, else_=len(steps))]
    elif column == "updated_at":
        keys = [WorkOrder.updated_at]
    else:
        keys = [WorkOrder.number]
    ordered = [k.desc() if descending else k.asc() for k in keys]
    return [*ordered, WorkOrder.number.desc()]


def work_orders(
    session: Session,
    organization_ids: Iterable[uuid.UUID],
    *,
    status: str | None = None,
    offset: int = 0,
    limit: int | None = None,
    sort: tuple[str, bool] = ("number", True),
    party_names: Mapping[uuid.UUID, str] | None = None,
) -> tuple[Sequence[WorkOrder], int]:
    """The work orders the organisations are party to; ``sort`` is a key of
    ``WORK_ORDER_SORTS`` and whether descending. Sponsors and providers are organisations of
    parties: sorting by them needs their names (``party_names``, id → name)."""
    ids = list(organization_ids)
    query = select(WorkOrder).where(_party(WorkOrder, ids))
    if status:
        query = query.where(WorkOrder.status == status)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        session.execute(
            query.options(selectinload(WorkOrder.milestones))
            .order_by(*_work_order_order(*sort, party_names or {}))
            .offset(offset)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    return rows, total


def parties_of_work_orders(
    session: Session, organization_ids: Iterable[uuid.UUID], *, status: str | None = None
) -> set[uuid.UUID]:
    """Every sponsor and provider of the work orders the organisations are party to."""
    ids = list(organization_ids)
    query = select(WorkOrder.sponsor_id, WorkOrder.provider_id).where(_party(WorkOrder, ids))
    if status:
        query = query.where(WorkOrder.status == status)
    return {party for pair in session.execute(query.distinct()).all() for party in pair}


def count_work_orders_numbered(session: Session, prefix: str) -> int:
    return session.execute(
        select(func.count()).select_from(WorkOrder).where(WorkOrder.number.like(f"{prefix}%"))
    ).scalar_one()


def milestone(session: Session, milestone_id: uuid.UUID) -> Milestone | None:
    return session.get(Milestone, milestone_id)


def deliverable(session: Session, deliverable_id: uuid.UUID) -> Deliverable | None:
    return session.execute(
        select(Deliverable)
        .where(Deliverable.id == deliverable_id)
        .options(selectinload(Deliverable.file))
    ).scalar_one_or_none()


def invoice_of_milestone(session: Session, milestone_id: uuid.UUID) -> Invoice | None:
    return session.execute(
        select(Invoice).where(Invoice.milestone_id == milestone_id)
    ).scalar_one_or_none()


def invoices_of_work_orders(
    session: Session, work_order_ids: Iterable[uuid.UUID]
) -> Sequence[Invoice]:
    ids = list(work_order_ids)
    if not ids:
        return []
    return (
        session.execute(
            select(Invoice)
            .where(Invoice.work_order_id.in_(ids))
            .options(selectinload(Invoice.payments))
        )
        .scalars()
        .all()
    )


def invoice(session: Session, invoice_id: uuid.UUID) -> Invoice | None:
    return session.execute(
        select(Invoice).where(Invoice.id == invoice_id).options(selectinload(Invoice.payments))
    ).scalar_one_or_none()


def change_orders(session: Session, work_order_id: uuid.UUID) -> Sequence[ChangeOrder]:
    return (
        session.execute(
            select(ChangeOrder)
            .where(ChangeOrder.work_order_id == work_order_id)
            .order_by(ChangeOrder.number)
        )
        .scalars()
        .all()
    )


def change_order(session: Session, change_order_id: uuid.UUID) -> ChangeOrder | None:
    return session.get(ChangeOrder, change_order_id)


def issued_invoices_due_before(session: Session, day: date) -> Sequence[tuple[Invoice, WorkOrder]]:
    rows = session.execute(
        select(Invoice, WorkOrder)
        .join(WorkOrder, WorkOrder.id == Invoice.work_order_id)
        .where(Invoice.status == InvoiceStatus.ISSUED.value, Invoice.due_on < day)
    ).all()
    return [(invoice, work_order) for invoice, work_order in rows]
