"""MSAs, work orders and their milestones, change orders, deliverables, invoices and payments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opencxo.core.db import Base, IdMixin, TimestampMixin, VersionedMixin
from opencxo.core.files import StoredFile
from opencxo.core.types import Amount

AMOUNT = Amount()


class WorkOrderStatus(StrEnum):
    DRAFT = "draft"
    PENDING_SIGNATURE = "pending_signature"
    ACTIVE = "active"
    COMPLETED = "completed"
    TERMINATED = "terminated"


class MilestoneStatus(StrEnum):
    PLANNED = "planned"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ChangeOrderStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    WITHDRAWN = "withdrawn"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"  # the milestone is accepted; the provider has not issued the invoice yet
    ISSUED = "issued"
    PAID = "paid"


class Msa(IdMixin, TimestampMixin, VersionedMixin, Base):
    """The master services agreement of one sponsor–provider pair."""

    __tablename__ = "msas"
    __table_args__ = (UniqueConstraint("sponsor_id", "provider_id"),)

    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id"), index=True
    )
    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id"), index=True
    )
    reference: Mapped[str] = mapped_column(String(60))
    terms: Mapped[str] = mapped_column(Text)
    effective_date: Mapped[date]
    expiry_date: Mapped[date]


class WorkOrder(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "work_orders"

    msa_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("msas.id"), index=True)
    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id"), index=True
    )
    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("programs.id"), index=True)
    award_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), ForeignKey("awards.id"), unique=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    service_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=WorkOrderStatus.DRAFT.value, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    payment_terms_days: Mapped[int] = mapped_column(default=30)
    start_date: Mapped[date]
    termination_reason: Mapped[str | None] = mapped_column(Text)

    msa: Mapped[Msa] = relationship()
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="work_order", cascade="all, delete-orphan", order_by="Milestone.position"
    )


class Milestone(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "milestones"

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(300))
    deliverable: Mapped[str] = mapped_column(String(300), default="")
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    due_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(20), default=MilestoneStatus.PLANNED.value)
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    removed: Mapped[bool] = mapped_column(default=False)

    work_order: Mapped[WorkOrder] = relationship(back_populates="milestones")
    deliverables: Mapped[list[Deliverable]] = relationship(
        back_populates="milestone", cascade="all, delete-orphan", order_by="Deliverable.created_at"
    )


class Deliverable(IdMixin, TimestampMixin, Base):
    __tablename__ = "deliverables"

    milestone_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("milestones.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("stored_files.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    milestone: Mapped[Milestone] = relationship(back_populates="deliverables")
    file: Mapped[StoredFile] = relationship()


class ChangeOrder(IdMixin, TimestampMixin, VersionedMixin, Base):
    """An amendment of a work order's milestones; applied once both parties have signed."""

    __tablename__ = "change_orders"
    __table_args__ = (UniqueConstraint("work_order_id", "number"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    reason: Mapped[str] = mapped_column(Text)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=ChangeOrderStatus.PENDING.value)
    value_before: Mapped[Decimal] = mapped_column(AMOUNT)
    value_after: Mapped[Decimal] = mapped_column(AMOUNT)
    proposed_by_organization_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    applied_at: Mapped[datetime | None]


class Invoice(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "invoices"
    # Invoice numbers are the provider's own: unique within a work order, not platform-wide.
    __table_args__ = (UniqueConstraint("work_order_id", "number"),)

    milestone_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("milestones.id"), unique=True
    )
    work_order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("work_orders.id"), index=True
    )
    number: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=InvoiceStatus.DRAFT.value)
    issued_on: Mapped[date | None]
    due_on: Mapped[date | None]

    payments: Mapped[list[Payment]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="Payment.paid_on"
    )


class Payment(IdMixin, TimestampMixin, Base):
    __tablename__ = "payments"

    invoice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    paid_on: Mapped[date]
    reference: Mapped[str] = mapped_column(String(100), default="")

    invoice: Mapped[Invoice] = relationship(back_populates="payments")
