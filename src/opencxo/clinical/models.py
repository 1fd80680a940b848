"""Studies, their countries and sites, and the enrollment actuals of each site.

A study belongs to its sponsor and, when a CRO runs it, is shared with that provider: both see it,
nobody else does. Enrollment records are counts per site and date (what happened that day or
period), never cumulative totals.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opencxo.core.db import Base, IdMixin, TimestampMixin, VersionedMixin


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
