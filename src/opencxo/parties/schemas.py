"""Request and response bodies of the parties capability."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opencxo.core.geography import REGIONS, is_country
from opencxo.parties.models import (
    AuditOutcome,
    CertificationStandard,
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


def _country(value: str) -> str:
    value = value.strip().upper()
    if not is_country(value):
        raise ValueError("use an ISO 3166-1 alpha-2 country code such as US, CN, IN, DE or KR")
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
    valid_from: date | None = None
    valid_until: date | None = None


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
    inspected_on: date
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
    cda_signed_on: date | None = None
    msa_signed_on: date | None = None
    quality_agreement_signed_on: date | None = None
    last_audit_on: date | None = None
    last_audit_outcome: AuditOutcome | None = None
    audit_findings: str = Field("", max_length=10000)
    expires_on: date | None = None
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
    cda_signed_on: date | None = None
    msa_signed_on: date | None = None
    quality_agreement_signed_on: date | None = None
    last_audit_on: date | None = None
    last_audit_outcome: AuditOutcome | None = None
    audit_findings: str | None = Field(None, max_length=10000)
    expires_on: date | None = None
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
