"""Studies, their countries and sites, and the enrollment actuals of each site.

A study belongs to its sponsor and, when a CRO runs it, is shared with that provider: both see it,
nobody else does. Enrollment records are counts per site and date (what happened that day or
period), never cumulative totals.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opencxo.core.db import Base, IdMixin, TimestampMixin, VersionedMixin
from opencxo.core.types import Amount


class StudyPhase(StrEnum):
    PHASE_1 = "phase_1"
    PHASE_2 = "phase_2"
    PHASE_3 = "phase_3"
    PHASE_4 = "phase_4"


class StudyStatus(StrEnum):
    PLANNED = "planned"
    ENROLLING = "enrolling"
    ENROLLMENT_COMPLETE = "enrollment_complete"
    CLOSED = "closed"


class SiteStatus(StrEnum):
    PLANNED = "planned"
    ACTIVATING = "activating"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


# The status changes a site may make; anything else answers 409.
SITE_TRANSITIONS: dict[SiteStatus, frozenset[SiteStatus]] = {
    SiteStatus.PLANNED: frozenset({SiteStatus.ACTIVATING, SiteStatus.ACTIVE, SiteStatus.CLOSED}),
    SiteStatus.ACTIVATING: frozenset(
        {SiteStatus.PLANNED, SiteStatus.ACTIVE, SiteStatus.ON_HOLD, SiteStatus.CLOSED}
    ),
    SiteStatus.ACTIVE: frozenset({SiteStatus.ON_HOLD, SiteStatus.CLOSED}),
    SiteStatus.ON_HOLD: frozenset({SiteStatus.ACTIVE, SiteStatus.CLOSED}),
    SiteStatus.CLOSED: frozenset(),
}


class Study(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "studies"
    __table_args__ = (
        UniqueConstraint("sponsor_id", "code"),
        CheckConstraint("target_enrollment > 0", name="target_positive"),
    )

    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("programs.id"), index=True)
    # The CRO contract behind the study, and the CRO (the work order's provider when set).
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("work_orders.id"), index=True
    )
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("organizations.id"), index=True
    )
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    phase: Mapped[str] = mapped_column(String(20))
    indication: Mapped[str] = mapped_column(String(300), default="")
    target_enrollment: Mapped[int]
    planned_first_patient_in: Mapped[date | None]
    planned_last_patient_in: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(30), default=StudyStatus.PLANNED.value)
    description: Mapped[str] = mapped_column(Text, default="")

    countries: Mapped[list[StudyCountry]] = relationship(
        back_populates="study", cascade="all, delete-orphan", order_by="StudyCountry.country"
    )


class StudyCountry(IdMixin, TimestampMixin, Base):
    __tablename__ = "study_countries"
    __table_args__ = (
        UniqueConstraint("study_id", "country"),
        CheckConstraint("planned_sites >= 0", name="planned_sites_not_negative"),
        CheckConstraint("planned_patients >= 0", name="planned_patients_not_negative"),
    )

    study_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("studies.id", ondelete="CASCADE"), index=True
    )
    country: Mapped[str] = mapped_column(String(2))
    planned_sites: Mapped[int] = mapped_column(default=0)
    planned_patients: Mapped[int] = mapped_column(default=0)

    study: Mapped[Study] = relationship(back_populates="countries")


class StudySite(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "study_sites"
    __table_args__ = (UniqueConstraint("study_id", "code"),)

    study_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("studies.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(40))  # the site number used in imports, e.g. US-001
    name: Mapped[str] = mapped_column(String(200))
    institution: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str] = mapped_column(String(2), index=True)
    city: Mapped[str] = mapped_column(String(100), default="")
    investigator: Mapped[str] = mapped_column(String(200), default="")
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("organizations.id"), index=True
    )
    planned_activation_date: Mapped[date | None]
    actual_activation_date: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(20), default=SiteStatus.PLANNED.value)
    # What the site costs from now on (recovery plans weigh it against new sites); optional.
    monthly_cost: Mapped[Decimal | None] = mapped_column(Amount())
    cost_per_patient: Mapped[Decimal | None] = mapped_column(Amount())
    cost_currency: Mapped[str | None] = mapped_column(String(3))


class EnrollmentRecord(IdMixin, TimestampMixin, Base):
    """What one site reported for one date (counts of that day or period, not cumulative)."""

    __tablename__ = "enrollment_records"
    __table_args__ = (
        UniqueConstraint("site_id", "on_date"),
        CheckConstraint(
            "screened >= 0 AND enrolled >= 0 AND screen_failed >= 0 AND withdrawn >= 0",
            name="counts_not_negative",
        ),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("study_sites.id", ondelete="CASCADE"), index=True
    )
    on_date: Mapped[date]
    screened: Mapped[int] = mapped_column(default=0)
    enrolled: Mapped[int] = mapped_column(default=0)
    screen_failed: Mapped[int] = mapped_column(default=0)
    withdrawn: Mapped[int] = mapped_column(default=0)


# --- recovery plans -----------------------------------------------------------------------------


class SiteOffer(IdMixin, TimestampMixin, VersionedMixin, Base):
    """Sites a CRO can open for a sponsor's study in one country: alike, up to a capacity.

    The provider's own record; sponsors read the active offers (a public directory, like
    capabilities), other providers read none of them.
    """

    __tablename__ = "site_offers"
    __table_args__ = (
        CheckConstraint("expected_rate_per_site_per_month > 0", name="rate_positive"),
        CheckConstraint("activation_lag_days >= 0", name="lag_not_negative"),
        CheckConstraint("capacity_sites >= 1 AND capacity_sites <= 1000", name="capacity_range"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2), index=True)
    city: Mapped[str] = mapped_column(String(100), default="")
    expected_rate_per_site_per_month: Mapped[float]
    activation_lag_days: Mapped[int]
    startup_cost_per_site: Mapped[Decimal] = mapped_column(Amount())
    monthly_cost_per_site: Mapped[Decimal] = mapped_column(Amount())
    cost_per_patient: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    capacity_sites: Mapped[int]
    therapeutic_areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True, index=True)


class RecoveryPlanStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class RecoveryOutcome(StrEnum):
    MET = "met"
    ALREADY_MET = "already_met"
    UNREACHABLE = "unreachable"


class RecoveryPlan(IdMixin, TimestampMixin, VersionedMixin, Base):
    """Sites to add (from offers) and to close so that P(target by the deadline) reaches the
    confidence, as the engine proposed it on the day; accepted, it becomes study sites.

    ``added`` and ``closed`` keep what the offers and sites were then (names, rates, costs as
    decimal strings), so the plan reads the same after the offers change. ``distribution``
    holds the chart: cumulative bands before and after, and histograms of the completion date.
    """

    __tablename__ = "recovery_plans"
    __table_args__ = (
        CheckConstraint("confidence > 0 AND confidence < 1", name="confidence_range"),
        CheckConstraint("paths > 0", name="paths_positive"),
    )

    study_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("studies.id", ondelete="CASCADE"), index=True
    )
    # The side that proposed it (the sponsor or the CRO): its disruptions and offers were used.
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    as_of: Mapped[date]
    deadline: Mapped[date]
    confidence: Mapped[float]
    allow_closing: Mapped[bool]
    # One-off cost of closing a site (close-out visit, archiving): the closures' savings are net
    # of it.
    closing_cost_per_site: Mapped[Decimal] = mapped_column(
        Amount(), default=Decimal("0.00"), server_default="0"
    )
    currency: Mapped[str] = mapped_column(String(3))
    paths: Mapped[int]
    seed: Mapped[int] = mapped_column(BigInteger())
    target: Mapped[int]
    enrolled_to_date: Mapped[int]
    offers_considered: Mapped[int]
    offers_skipped_currency: Mapped[int]
    status: Mapped[str] = mapped_column(
        String(20), default=RecoveryPlanStatus.PROPOSED.value, index=True
    )
    outcome: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    added: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    closed: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    added_cost: Mapped[Decimal] = mapped_column(Amount())
    savings: Mapped[Decimal] = mapped_column(Amount())
    net_cost: Mapped[Decimal] = mapped_column(Amount())
    probability_before: Mapped[float]
    probability_after: Mapped[float]
    probability_approximation: Mapped[float]
    completion_p10_before: Mapped[date | None]
    completion_p50_before: Mapped[date | None]
    completion_p90_before: Mapped[date | None]
    completion_p10_after: Mapped[date | None]
    completion_p50_after: Mapped[date | None]
    completion_p90_after: Mapped[date | None]
    distribution: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rounds: Mapped[int]
    wall_time_s: Mapped[float]
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(Text, default="")
