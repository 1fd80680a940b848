"""Organisations, their sites, provider capabilities, certificates, inspections, qualifications."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opencxo.core.db import Base, IdMixin, TimestampMixin, VersionedMixin


class OrganizationKind(StrEnum):
    SPONSOR = "sponsor"
    PROVIDER = "provider"


class SponsorKind(StrEnum):
    PHARMA = "pharma"
    BIOTECH = "biotech"
    MEDICAL_INSTITUTION = "medical_institution"
    DEVICE_COMPANY = "device_company"


class ServiceLine(StrEnum):
    CRO = "CRO"
    CMO = "CMO"
    CDMO = "CDMO"


class SiteType(StrEnum):
    LAB = "lab"
    PLANT = "plant"
    CLINICAL_SITE = "clinical_site"
    OFFICE = "office"


class CertificationStandard(StrEnum):
    GLP = "GLP"
    GMP = "GMP"
    GCP = "GCP"
    GDP = "GDP"
    ISO_13485 = "ISO 13485"
    ISO_17025 = "ISO 17025"
    ISO_9001 = "ISO 9001"
    CAP = "CAP"
    AAALAC = "AAALAC"


class InspectionOutcome(StrEnum):
    """FDA-style classification: no action, voluntary action, official action indicated."""

    NAI = "NAI"
    VAI = "VAI"
    OAI = "OAI"


class QualificationStatus(StrEnum):
    APPROVED = "approved"
    CONDITIONAL = "conditional"
    DISQUALIFIED = "disqualified"


class AuditOutcome(StrEnum):
    PASSED = "passed"
    PASSED_WITH_FINDINGS = "passed_with_findings"
    FAILED = "failed"


class Organization(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    sponsor_kind: Mapped[str | None] = mapped_column(String(30))
    service_lines: Mapped[list[str]] = mapped_column(JSON, default=list)
    country: Mapped[str] = mapped_column(String(2), index=True)
    city: Mapped[str] = mapped_column(String(100), default="")
    regions_served: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str] = mapped_column(String(300), default="")

    sites: Mapped[list[Site]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", order_by="Site.name"
    )
    capabilities: Mapped[list[Capability]] = relationship(
        back_populates="provider", cascade="all, delete-orphan"
    )
    certifications: Mapped[list[Certification]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )
    inspections: Mapped[list[Inspection]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )


class Site(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    site_type: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2), index=True)
    city: Mapped[str] = mapped_column(String(100))

    organization: Mapped[Organization] = relationship(back_populates="sites")


capability_sites = Table(
    "capability_sites",
    Base.metadata,
    Column("capability_id", ForeignKey("capabilities.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)


class Capability(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One catalog service offered by one provider, at some of its sites."""

    __tablename__ = "capabilities"
    __table_args__ = (UniqueConstraint("provider_id", "service_code"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    service_code: Mapped[str] = mapped_column(String(40), index=True)
    standards: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity_notes: Mapped[str] = mapped_column(Text, default="")
    lead_time_weeks: Mapped[int | None]

    provider: Mapped[Organization] = relationship(back_populates="capabilities")
    sites: Mapped[list[Site]] = relationship(secondary=capability_sites, order_by="Site.name")


class Certification(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "certifications"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    standard: Mapped[str] = mapped_column(String(20), index=True)
    issuer: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(100), default="")
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]

    organization: Mapped[Organization] = relationship(back_populates="certifications")
    site: Mapped[Site | None] = relationship()


class Inspection(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "inspections"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    authority: Mapped[str] = mapped_column(String(20))
    inspected_on: Mapped[date]
    outcome: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text, default="")

    organization: Mapped[Organization] = relationship(back_populates="inspections")
    site: Mapped[Site | None] = relationship()


class Qualification(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One sponsor's standing of one provider; seen by that sponsor only."""

    __tablename__ = "qualifications"
    __table_args__ = (UniqueConstraint("sponsor_id", "provider_id"),)

    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    cda_signed_on: Mapped[date | None]
    msa_signed_on: Mapped[date | None]
    quality_agreement_signed_on: Mapped[date | None]
    last_audit_on: Mapped[date | None]
    last_audit_outcome: Mapped[str | None] = mapped_column(String(30))
    audit_findings: Mapped[str] = mapped_column(Text, default="")
    expires_on: Mapped[date | None]
    notes: Mapped[str] = mapped_column(Text, default="")

    provider: Mapped[Organization] = relationship(foreign_keys=[provider_id])
    sponsor: Mapped[Organization] = relationship(foreign_keys=[sponsor_id])


class DisruptionCause(StrEnum):
    EPIDEMIC = "epidemic"
    NATURAL_DISASTER = "natural_disaster"
    CONFLICT = "conflict"
    REGULATORY = "regulatory"
    SUPPLY = "supply"
    OTHER = "other"


class Disruption(IdMixin, TimestampMixin, VersionedMixin, Base):
    """An event declared on a country or a region, private to the organisation that declared it.

    Sourcing flags bids from providers located there; the clinical forecast applies the
    enrollment multiplier (0 = suspended) and the activation freeze to sites there.
    """

    __tablename__ = "disruptions"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    cause: Mapped[str] = mapped_column(String(30))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(40))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    enrollment_multiplier: Mapped[float] = mapped_column(Float, default=0.0)
    freeze_activations: Mapped[bool] = mapped_column(default=True)
    notes: Mapped[str] = mapped_column(Text, default="")


class PerformanceKind(StrEnum):
    MILESTONE_ACCEPTED = "milestone_accepted"
    DELIVERABLE_REJECTED = "deliverable_rejected"


class PerformanceRecord(IdMixin, TimestampMixin, Base):
    """One outcome of a provider's work for a sponsor: the sponsor's private track record.

    Written by contracts when a milestone is accepted or its deliverables rejected; read by the
    sponsor's bid comparison (quality score) and qualification pages.
    """

    __tablename__ = "performance_records"
    __table_args__ = (Index("ix_performance_records_pair", "sponsor_id", "provider_id"),)

    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str] = mapped_column(String(200))
    subject_id: Mapped[uuid.UUID]
    due_on: Mapped[date]
    delivered_on: Mapped[date]
