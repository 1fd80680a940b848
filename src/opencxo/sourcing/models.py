"""Programs, RFPs and their lots, invitations, questions, sealed bids and awards."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opencxo.core.db import Base, IdMixin, TimestampMixin, VersionedMixin
from opencxo.core.files import StoredFile
from opencxo.core.types import Amount

AMOUNT = Amount()


class Modality(StrEnum):
    SMALL_MOLECULE = "small_molecule"
    BIOLOGIC = "biologic"
    CELL_GENE_THERAPY = "cell_gene_therapy"
    VACCINE = "vaccine"
    DEVICE = "device"


class Phase(StrEnum):
    DISCOVERY = "discovery"
    PRECLINICAL = "preclinical"
    PHASE_1 = "phase_1"
    PHASE_2 = "phase_2"
    PHASE_3 = "phase_3"
    SUBMISSION = "submission"
    MARKETED = "marketed"


class RfpStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    AWARDED = "awarded"
    CANCELLED = "cancelled"


class BidStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"


class Program(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "programs"
    __table_args__ = (UniqueConstraint("sponsor_id", "name"),)

    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    modality: Mapped[str] = mapped_column(String(30))
    therapeutic_area: Mapped[str] = mapped_column(String(100))
    indication: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(20))
    patent_expiry: Mapped[date | None]
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), ForeignKey("users.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    # The outsourcing budget the spend view measures actuals against; optional.
    budget_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    budget_currency: Mapped[str | None] = mapped_column(String(3))


rfp_attachments = Table(
    "rfp_attachments",
    Base.metadata,
    Column("rfp_id", Uuid(), ForeignKey("rfps.id", ondelete="CASCADE"), primary_key=True),
    Column("file_id", Uuid(), ForeignKey("stored_files.id"), primary_key=True),
)
bid_attachments = Table(
    "bid_attachments",
    Base.metadata,
    Column("bid_id", Uuid(), ForeignKey("bids.id", ondelete="CASCADE"), primary_key=True),
    Column("file_id", Uuid(), ForeignKey("stored_files.id"), primary_key=True),
)


class Rfp(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A request for proposal; shared by the sponsor and the providers it invites."""

    __tablename__ = "rfps"

    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    background: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=RfpStatus.DRAFT.value, index=True)
    bid_deadline: Mapped[datetime]
    weight_price: Mapped[int] = mapped_column(default=40)
    weight_time: Mapped[int] = mapped_column(default=20)
    weight_quality: Mapped[int] = mapped_column(default=25)
    weight_risk: Mapped[int] = mapped_column(default=15)
    required_certifications: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    excluded_countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    budget_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    budget_currency: Mapped[str | None] = mapped_column(String(3))
    budget_shared: Mapped[bool] = mapped_column(default=False)
    base_currency: Mapped[str] = mapped_column(String(3), default="USD")
    # currency → units of the base currency per one unit of it, entered by the sponsor
    exchange_rates: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_reason: Mapped[str | None] = mapped_column(Text)
    # Why the lots left without an award were not awarded (the sponsor finished the award).
    unawarded_reason: Mapped[str | None] = mapped_column(Text)

    program: Mapped[Program] = relationship()
    lots: Mapped[list[Lot]] = relationship(
        back_populates="rfp", cascade="all, delete-orphan", order_by="Lot.number"
    )
    invitations: Mapped[list[Invitation]] = relationship(
        back_populates="rfp", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[StoredFile]] = relationship(secondary=rfp_attachments)


class Lot(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "lots"
    __table_args__ = (UniqueConstraint("rfp_id", "number"),)

    rfp_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("rfps.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    service_code: Mapped[str] = mapped_column(String(40))
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    rfp: Mapped[Rfp] = relationship(back_populates="lots")


class Invitation(IdMixin, TimestampMixin, Base):
    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("rfp_id", "provider_id"),)

    rfp_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("rfps.id", ondelete="CASCADE"))
    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    warning: Mapped[str] = mapped_column(Text, default="")

    rfp: Mapped[Rfp] = relationship(back_populates="invitations")
    provider: Mapped[Any] = relationship("Organization")


class Question(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A provider's question; the answer goes to every invitee without naming the asker."""

    __tablename__ = "rfp_questions"

    rfp_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("rfps.id", ondelete="CASCADE"), index=True
    )
    asked_by_provider_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("organizations.id"))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]


class Bid(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One provider's sealed offer on an RFP; nobody else reads it before the deadline."""

    __tablename__ = "bids"
    __table_args__ = (UniqueConstraint("rfp_id", "provider_id"),)

    rfp_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("rfps.id", ondelete="CASCADE"), index=True
    )
    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default=BidStatus.DRAFT.value)
    submitted_at: Mapped[datetime | None]
    notes: Mapped[str] = mapped_column(Text, default="")

    lots: Mapped[list[BidLot]] = relationship(back_populates="bid", cascade="all, delete-orphan")
    provider: Mapped[Any] = relationship("Organization")
    attachments: Mapped[list[StoredFile]] = relationship(secondary=bid_attachments)


class BidLot(IdMixin, Base):
    """A bid's offer for one lot: when, how long, on what assumptions, priced by milestone."""

    __tablename__ = "bid_lots"
    __table_args__ = (UniqueConstraint("bid_id", "lot_id"),)

    bid_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("bids.id", ondelete="CASCADE"))
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("lots.id", ondelete="CASCADE"))
    start_date: Mapped[date]
    duration_days: Mapped[int]
    assumptions: Mapped[str] = mapped_column(Text, default="")

    bid: Mapped[Bid] = relationship(back_populates="lots")
    lines: Mapped[list[BidLine]] = relationship(
        back_populates="bid_lot", cascade="all, delete-orphan", order_by="BidLine.position"
    )


class BidLine(IdMixin, Base):
    """A price line tied to a milestone."""

    __tablename__ = "bid_lines"

    bid_lot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("bid_lots.id", ondelete="CASCADE")
    )
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(300))
    deliverable: Mapped[str] = mapped_column(String(300), default="")
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    due_offset_days: Mapped[int]

    bid_lot: Mapped[BidLot] = relationship(back_populates="lines")


class Award(IdMixin, TimestampMixin, Base):
    """One lot given to one bid, e-signed by the sponsor."""

    __tablename__ = "awards"
    __table_args__ = (UniqueConstraint("lot_id"),)

    rfp_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("rfps.id", ondelete="CASCADE"), index=True
    )
    lot_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("lots.id", ondelete="CASCADE"))
    bid_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("bids.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("organizations.id"))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    signature_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("signatures.id"))
    rationale: Mapped[str] = mapped_column(Text, default="")
