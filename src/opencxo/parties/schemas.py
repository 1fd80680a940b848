"""Request and response bodies of the parties capability."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from opencxo.core.dates import EARLIEST_DATE, LATEST_DATE
from opencxo.core.geography import REGIONS, is_country
from opencxo.parties.models import (
    AuditOutcome,
    CertificationStandard,
    DisruptionCause,
    InspectionOutcome,
    OrganizationKind,
    QualificationStatus,
    ServiceLine,
    SiteType,
    SponsorKind,
)

INSPECTION_AUTHORITIES = (
    "FDA",
    "EMA",
    "MHRA",
    "NMPA",
    "PMDA",
    "MFDS",
    "CDSCO",
    "ANVISA",
    "TGA",
    "HC",
)


def _calendar_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"use a date between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


CalendarDate = Annotated[date, AfterValidator(_calendar_date)]
"""A date entered here: within ``EARLIEST_DATE`` … ``LATEST_DATE`` (year 1 or 9999 is a typo,
and a disruption's dates feed clinical forecasts that count days from them)."""


def _country(value: str) -> str:
    value = value.strip().upper()
    if not is_country(value):
        raise ValueError("use an ISO 3166-1 alpha-2 country code such as US, CN, IN, DE or KR")
    return value


def _website(value: str) -> str:
    """Blank, or an http(s) address: the profile page links it, and a ``javascript:`` link
    would run in every reader's session."""
    value = value.strip()
    if not value:
        return ""
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in {"http", "https"} or not rest or rest[0] in "/?#" or " " in value:
        raise ValueError("use a web address starting with https:// (or http://)")
    return value


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SiteCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    site_type: SiteType
    country: str
    city: str = Field(min_length=1, max_length=100)

    _check_country = field_validator("country")(_country)


class SiteRead(ORMModel):
    id: uuid.UUID
    name: str
    site_type: SiteType
    country: str
    city: str


class OrganizationBase(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    sponsor_kind: SponsorKind | None = None
    service_lines: list[ServiceLine] = Field(default_factory=list)
    country: str
    city: str = Field("", max_length=100)
    regions_served: list[str] = Field(default_factory=list)
    description: str = Field("", max_length=5000)
    website: str = Field("", max_length=300)

    _check_country = field_validator("country")(_country)
    _check_website = field_validator("website")(_website)

    @field_validator("regions_served")
    @classmethod
    def _known_regions(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in REGIONS]
        if unknown:
            raise ValueError(f"unknown region(s) {unknown}; choose from {list(REGIONS)}")
        return value


class OrganizationCreate(OrganizationBase):
    kind: OrganizationKind


class OrganizationUpdate(BaseModel):
    version: int = Field(description="the version you read; a stale version answers 409")
    name: str | None = Field(None, min_length=2, max_length=200)
    sponsor_kind: SponsorKind | None = None
    service_lines: list[ServiceLine] | None = None
    country: str | None = None
    city: str | None = Field(None, max_length=100)
    regions_served: list[str] | None = None
    description: str | None = Field(None, max_length=5000)
    website: str | None = Field(None, max_length=300)

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str | None) -> str | None:
        return None if value is None else _country(value)

    @field_validator("website")
    @classmethod
    def _check_website(cls, value: str | None) -> str | None:
        return None if value is None else _website(value)

    @field_validator("regions_served")
    @classmethod
    def _known_regions(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            OrganizationBase._known_regions(value)
        return value


class OrganizationSummary(ORMModel):
    id: uuid.UUID
    name: str
    kind: OrganizationKind
    sponsor_kind: SponsorKind | None
    service_lines: list[ServiceLine]
    country: str
    city: str


class OrganizationRead(OrganizationSummary):
    regions_served: list[str]
    description: str
    website: str
    version: int
    sites: list[SiteRead]


class CapabilityCreate(BaseModel):
    service_code: str
    site_ids: list[uuid.UUID] = Field(default_factory=list)
    standards: list[CertificationStandard] = Field(default_factory=list)
    capacity_notes: str = Field("", max_length=2000)
    lead_time_weeks: int | None = Field(None, ge=0, le=520)


class InspectionRead(ORMModel):
    id: uuid.UUID
    site_id: uuid.UUID | None
    authority: str
    inspected_on: date
    outcome: InspectionOutcome
    summary: str


class CapabilityRead(ORMModel):
    id: uuid.UUID
    service_code: str
    service_name: str
    stage: str
    service_line: ServiceLine
    standards: list[str]
    capacity_notes: str
    lead_time_weeks: int | None
    sites: list[SiteRead]
    last_inspection: InspectionRead | None


class CertificationCreate(BaseModel):
    standard: CertificationStandard
    issuer: str = Field(min_length=1, max_length=200)
    reference: str = Field("", max_length=100)
    site_id: uuid.UUID | None = None
    valid_from: CalendarDate | None = None
    valid_until: CalendarDate | None = None


class CertificationRead(ORMModel):
    id: uuid.UUID
    standard: str
    issuer: str
    reference: str
    site_id: uuid.UUID | None
    valid_from: date | None
    valid_until: date | None


class InspectionCreate(BaseModel):
    authority: str = Field(description="FDA, EMA, MHRA, NMPA, PMDA, MFDS, CDSCO, ANVISA, TGA or HC")
    inspected_on: CalendarDate
    outcome: InspectionOutcome
    site_id: uuid.UUID | None = None
    summary: str = Field("", max_length=5000)

    @field_validator("authority")
    @classmethod
    def _known_authority(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in INSPECTION_AUTHORITIES:
            raise ValueError(
                f"unknown authority; choose one of {', '.join(INSPECTION_AUTHORITIES)}"
            )
        return value


class ProviderProfile(OrganizationRead):
    capabilities: list[CapabilityRead]
    certifications: list[CertificationRead]
    inspections: list[InspectionRead]


class DirectoryHit(BaseModel):
    organization: OrganizationSummary
    score: float
    reasons: list[str]
    capability_codes: list[str]
    valid_certifications: list[str]
    latest_inspection: InspectionRead | None


class QualificationFields(BaseModel):
    status: QualificationStatus
    cda_signed_on: CalendarDate | None = None
    msa_signed_on: CalendarDate | None = None
    quality_agreement_signed_on: CalendarDate | None = None
    last_audit_on: CalendarDate | None = None
    last_audit_outcome: AuditOutcome | None = None
    audit_findings: str = Field("", max_length=10000)
    expires_on: CalendarDate | None = None
    notes: str = Field("", max_length=10000)


class QualificationCreate(QualificationFields):
    provider_id: uuid.UUID
    sponsor_id: uuid.UUID | None = Field(
        None, description="your sponsor organisation; needed only if you belong to several"
    )


class QualificationUpdate(BaseModel):
    """A partial update: fields left out keep their value; a date sent as null is cleared."""

    version: int = Field(description="the version you read; a stale version answers 409")
    reason: str = Field("", max_length=1000, description="why the qualification changed")
    status: QualificationStatus | None = None
    cda_signed_on: CalendarDate | None = None
    msa_signed_on: CalendarDate | None = None
    quality_agreement_signed_on: CalendarDate | None = None
    last_audit_on: CalendarDate | None = None
    last_audit_outcome: AuditOutcome | None = None
    audit_findings: str | None = Field(None, max_length=10000)
    expires_on: CalendarDate | None = None
    notes: str | None = Field(None, max_length=10000)

    @field_validator("status")
    @classmethod
    def _status_required(cls, value: QualificationStatus | None) -> QualificationStatus:
        if value is None:
            raise ValueError("a qualification always has a status")
        return value


class QualificationRead(ORMModel):
    id: uuid.UUID
    sponsor_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    status: QualificationStatus
    cda_signed_on: date | None
    msa_signed_on: date | None
    quality_agreement_signed_on: date | None
    last_audit_on: date | None
    last_audit_outcome: AuditOutcome | None
    audit_findings: str
    expires_on: date | None
    notes: str
    version: int
    updated_at: datetime
    expired: bool


# --- disruptions -------------------------------------------------------------------------------


class DisruptionFields(BaseModel):
    title: str = Field(
        min_length=1, max_length=200, description="e.g. “Influenza epidemic, Europe”"
    )
    cause: DisruptionCause
    country: str | None = Field(
        None, description="ISO 3166-1 alpha-2 code; give a country or a region, not both"
    )
    region: str | None = Field(None, description="one of the platform's regions")
    starts_on: CalendarDate
    ends_on: CalendarDate | None = Field(
        None, description="leave empty while the disruption is open"
    )
    enrollment_multiplier: float = Field(
        0.0, ge=0.0, le=1.0, description="enrollment rate factor while it lasts; 0 = suspended"
    )
    freeze_activations: bool = Field(True, description="no new sites open while it lasts")
    notes: str = Field("", max_length=10000)

    @field_validator("country")
    @classmethod
    def _valid_country(cls, value: str | None) -> str | None:
        return _country(value) if value else None

    @field_validator("region")
    @classmethod
    def _valid_region(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value not in REGIONS:
            raise ValueError(f"use one of: {', '.join(REGIONS)}")
        return value


class DisruptionCreate(DisruptionFields):
    organization_id: uuid.UUID | None = Field(
        None, description="the declaring organisation; needed only if you belong to several"
    )


class DisruptionUpdate(DisruptionFields):
    version: int = Field(description="the version you read; a stale version answers 409")


class DisruptionEnd(BaseModel):
    """End a disruption today: its other fields stay as they are."""

    version: int = Field(description="the version you read; a stale version answers 409")


class DisruptionRead(ORMModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    title: str
    cause: DisruptionCause
    country: str | None
    region: str | None
    starts_on: date
    ends_on: date | None
    enrollment_multiplier: float
    freeze_activations: bool
    notes: str
    version: int
    updated_at: datetime

    @property
    def place(self) -> str:
        """Where it applies, in words: a country code or a region name."""
        return self.country or self.region or ""

    def covers(self, country: str, region: str | None, start: date, end: date | None) -> bool:
        """Whether it applies to ``country`` (in ``region``) at any time in [start, end]."""
        here = self.country == country or (self.region is not None and self.region == region)
        overlaps = (self.ends_on is None or self.ends_on >= start) and (
            end is None or self.starts_on <= end
        )
        return here and overlaps


# --- track record (sponsor-private) --------------------------------------------------------------


class TrackRecord(BaseModel):
    """A provider's delivery history with one sponsor, from its contracts' milestones."""

    provider_id: uuid.UUID
    milestones_accepted: int
    accepted_on_time: int
    rejections: int

    @property
    def on_time_percent(self) -> float | None:
        if not self.milestones_accepted:
            return None
        return 100.0 * self.accepted_on_time / self.milestones_accepted

    @property
    def first_pass_percent(self) -> float | None:
        """Share of submissions accepted (each rejection is a failed submission)."""
        submissions = self.milestones_accepted + self.rejections
        if not submissions:
            return None
        return 100.0 * self.milestones_accepted / submissions
