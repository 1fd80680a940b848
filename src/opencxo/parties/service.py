"""Use cases of the parties capability: organisations, provider profiles, the directory, qualifications.

Organisation profiles are public to every signed-in user (that is what a directory is for);
qualifications are private to the sponsor that holds them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from opencxo.core import audit
from opencxo.core.audit import AuditEvent
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted, check_version
from opencxo.core.geography import countries_in, region_of
from opencxo.core.pagination import Page, PageParams, paginate
from opencxo.core.types import utc_today, utcnow
from opencxo.parties import repository
from opencxo.parties.catalog import ServiceCatalog, service_catalog
from opencxo.parties.models import (
    Capability,
    Certification,
    Disruption,
    Inspection,
    InspectionOutcome,
    Organization,
    OrganizationKind,
    PerformanceKind,
    PerformanceRecord,
    Qualification,
    QualificationStatus,
    Site,
)
from opencxo.parties.schemas import (
    CapabilityCreate,
    CapabilityRead,
    CertificationCreate,
    CertificationRead,
    DirectoryHit,
    DisruptionCreate,
    DisruptionEnd,
    DisruptionFields,
    DisruptionRead,
    DisruptionUpdate,
    InspectionCreate,
    InspectionRead,
    OrganizationCreate,
    OrganizationRead,
    OrganizationSummary,
    OrganizationUpdate,
    ProviderProfile,
    QualificationCreate,
    QualificationFields,
    QualificationRead,
    QualificationUpdate,
    SiteCreate,
    SiteRead,
    TrackRecord,
)

ORGANIZATION_FIELDS = (
    "name", "kind", "sponsor_kind", "service_lines", "country", "city", "regions_served",
    "description", "website",
)  # fmt: skip
QUALIFICATION_FIELDS = (
    "status", "cda_signed_on", "msa_signed_on", "quality_agreement_signed_on", "last_audit_on",
    "last_audit_outcome", "audit_findings", "expires_on", "notes",
)  # fmt: skip
SITE_FIELDS = ("name", "site_type", "country", "city")
DISRUPTION_FIELDS = (
    "title", "cause", "country", "region", "starts_on", "ends_on", "enrollment_multiplier",
    "freeze_activations", "notes",
)  # fmt: skip


def catalog() -> ServiceCatalog:
    return service_catalog()


# --- organisations ----------------------------------------------------------------------------


def _organization(session: Session, organization_id: uuid.UUID) -> Organization:
    organization = repository.organization(session, organization_id)
    if organization is None:
        raise NotFound("no such organisation")
    return organization


def _require_write(principal: Principal, organization_id: uuid.UUID) -> None:
    principal.require(Permission.ORGANIZATIONS_WRITE, organization_id)


def list_organizations(
    session: Session, principal: Principal, *, kind: str | None, q: str | None, params: PageParams
) -> Page[OrganizationSummary]:
    rows, total = repository.organizations(
        session,
        kind=kind,
        q=q,
        offset=params.offset,
        limit=params.page_size,
        sort=params.sort_key(tuple(repository.ORGANIZATION_SORTS), "name"),
    )
    return Page.of(
        [OrganizationSummary.model_validate(r) for r in rows], total=total, params=params
    )


def organization_named(session: Session, name: str) -> Organization:
    organization = repository.organization_by_name(session, name)
    if organization is None:
        raise NotFound(f"no organisation named {name!r}")
    return organization


def organizations_named_by_id(
    session: Session, organization_ids: Iterable[uuid.UUID]
) -> Sequence[Organization]:
    """Organisations by id (their public names and countries), for other capabilities' lists."""
    return repository.organizations_by_ids(session, organization_ids)


def my_organizations(session: Session, principal: Principal) -> Sequence[Organization]:
    return repository.organizations_by_ids(session, principal.organization_ids)


def get_organization(
    session: Session, principal: Principal, organization_id: uuid.UUID
) -> OrganizationRead:
    return OrganizationRead.model_validate(_organization(session, organization_id))


def organization_counts(session: Session, principal: Principal) -> dict[OrganizationKind, int]:
    """How many organisations of each kind are registered (public, as the directory is)."""
    counts = repository.count_organizations(session)
    return {kind: counts.get(kind.value, 0) for kind in OrganizationKind}


@dataclass(frozen=True)
class RegisteredOrganization:
    id: uuid.UUID
    name: str
    kind: OrganizationKind
    registered_at: datetime


def newest_organizations(
    session: Session, principal: Principal, *, limit: int
) -> list[RegisteredOrganization]:
    """The organisations registered last, newest first."""
    return [
        RegisteredOrganization(o.id, o.name, OrganizationKind(o.kind), o.created_at)
        for o in repository.newest_organizations(session, limit=limit)
    ]


def _normalise_lines(kind: str, sponsor_kind: str | None, service_lines: list[str]) -> None:
    if kind == OrganizationKind.SPONSOR and sponsor_kind is None:
        raise Invalid(
            "a sponsor needs a sponsor kind",
            field_errors={
                "sponsor_kind": "choose pharma, biotech, medical_institution or device_company"
            },
        )
    if kind == OrganizationKind.PROVIDER and not service_lines:
        raise Invalid(
            "a provider offers at least one service line",
            field_errors={"service_lines": "choose CRO, CMO and/or CDMO"},
        )


def create_organization(
    session: Session, principal: Principal, data: OrganizationCreate
) -> OrganizationRead:
    if not principal.is_operator:
        raise NotPermitted("only a platform operator registers organisations")
    _normalise_lines(data.kind, data.sponsor_kind, list(data.service_lines))
    if repository.organization_by_name(session, data.name) is not None:
        raise Conflict(
            f"an organisation named {data.name!r} already exists",
            field_errors={"name": "already taken"},
        )
    organization = Organization(
        name=data.name.strip(),
        kind=data.kind.value,
        sponsor_kind=data.sponsor_kind.value if data.sponsor_kind else None,
        service_lines=[line.value for line in data.service_lines]
        if data.kind == "provider"
        else [],
        country=data.country,
        city=data.city,
        regions_served=list(data.regions_served),
        description=data.description,
        website=data.website,
    )
    session.add(organization)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="organization",
        entity_id=organization.id,
        actor=principal,
        organization_id=organization.id,
        after=audit.snapshot(organization, ORGANIZATION_FIELDS),
    )
    return get_organization(session, principal, organization.id)


def update_organization(
    session: Session, principal: Principal, organization_id: uuid.UUID, data: OrganizationUpdate
) -> OrganizationRead:
    organization = _organization(session, organization_id)
    _require_write(principal, organization_id)
    check_version("organisation", organization.version, data.version)
    changes: dict[str, Any] = data.model_dump(
        exclude_unset=True, exclude_none=True, exclude={"version"}
    )
    if "name" in changes and changes["name"] != organization.name:
        other = repository.organization_by_name(session, changes["name"])
        if other is not None and other.id != organization.id:
            raise Conflict("that name is taken", field_errors={"name": "already taken"})
    before = audit.snapshot(organization, ORGANIZATION_FIELDS)
    for name, value in changes.items():
        if name == "service_lines" and value is not None:
            value = [str(v) for v in value]
        setattr(organization, name, value)
    _normalise_lines(organization.kind, organization.sponsor_kind, organization.service_lines)
    after = audit.snapshot(organization, ORGANIZATION_FIELDS)
    if after == before:
        return get_organization(session, principal, organization_id)
    session.flush()
    audit.record(
        session,
        action="update",
        entity_type="organization",
        entity_id=organization.id,
        actor=principal,
        organization_id=organization.id,
        before=before,
        after=after,
    )
    return get_organization(session, principal, organization_id)


def add_site(
    session: Session, principal: Principal, organization_id: uuid.UUID, data: SiteCreate
) -> SiteRead:
    organization = _organization(session, organization_id)
    _require_write(principal, organization_id)
    if any(s.name.lower() == data.name.strip().lower() for s in organization.sites):
        raise Conflict(
            "this organisation already has a site of that name", field_errors={"name": "taken"}
        )
    site = Site(**data.model_dump())
    organization.sites.append(site)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="site",
        entity_id=site.id,
        actor=principal,
        organization_id=organization_id,
        after=audit.snapshot(site, SITE_FIELDS),
    )
    return SiteRead.model_validate(site)


def remove_site(session: Session, principal: Principal, site_id: uuid.UUID) -> uuid.UUID:
    """Remove a site; returns the organisation it belonged to."""
    site = repository.site(session, site_id)
    if site is None:
        raise NotFound("no such site")
    _require_write(principal, site.organization_id)
    before = audit.snapshot(site, SITE_FIELDS)
    organization_id = site.organization_id
    session.delete(site)
    session.flush()  # the row, then the audit chain (the lock order of core.db.hold)
    audit.record(
        session,
        action="delete",
        entity_type="site",
        entity_id=site_id,
        actor=principal,
        organization_id=organization_id,
        before=before,
    )
    return organization_id


# --- provider capabilities, certificates, inspections ----------------------------------------


def _provider(session: Session, organization_id: uuid.UUID) -> Organization:
    organization = _organization(session, organization_id)
    if organization.kind != OrganizationKind.PROVIDER:
        raise NotFound("no such provider")
    return organization


def _latest_inspection(
    inspections: Sequence[Inspection], site_ids: set[uuid.UUID] | None = None
) -> Inspection | None:
    relevant = [
        i for i in inspections if site_ids is None or i.site_id is None or i.site_id in site_ids
    ]
    return max(relevant, key=lambda i: i.inspected_on, default=None)


def _capability_read(capability: Capability, inspections: Sequence[Inspection]) -> CapabilityRead:
    entry = service_catalog().get(capability.service_code)
    latest = _latest_inspection(inspections, {s.id for s in capability.sites})
    return CapabilityRead(
        id=capability.id,
        service_code=capability.service_code,
        service_name=entry.name if entry else capability.service_code,
        stage=entry.stage if entry else "",
        service_line=entry.service_line if entry else "CRO",
        standards=list(capability.standards),
        capacity_notes=capability.capacity_notes,
        lead_time_weeks=capability.lead_time_weeks,
        sites=[SiteRead.model_validate(s) for s in capability.sites],
        last_inspection=InspectionRead.model_validate(latest) if latest else None,
    )


def provider_profile(
    session: Session, principal: Principal, organization_id: uuid.UUID
) -> ProviderProfile:
    provider = _provider(session, organization_id)
    base = OrganizationRead.model_validate(provider).model_dump()
    order = {e.code: n for n, e in enumerate(service_catalog().entries)}
    return ProviderProfile(
        **base,
        capabilities=[
            _capability_read(c, provider.inspections)
            for c in sorted(provider.capabilities, key=lambda c: order.get(c.service_code, 999))
        ],
        certifications=[
            CertificationRead.model_validate(c)
            for c in sorted(provider.certifications, key=lambda c: c.standard)
        ],
        inspections=[
            InspectionRead.model_validate(i)
            for i in sorted(provider.inspections, key=lambda i: i.inspected_on, reverse=True)
        ],
    )


def _own_sites(
    organization: Organization, site_ids: Sequence[uuid.UUID], *, field: str = "site_ids"
) -> list[Site]:
    own = {s.id: s for s in organization.sites}
    unknown = [str(i) for i in site_ids if i not in own]
    if unknown:
        raise Invalid(
            "site(s) not found in this organisation: " + ", ".join(unknown),
            field_errors={field: "choose sites of this organisation"},
        )
    return [own[i] for i in site_ids]


def add_capability(
    session: Session, principal: Principal, organization_id: uuid.UUID, data: CapabilityCreate
) -> CapabilityRead:
    provider = _provider(session, organization_id)
    _require_write(principal, organization_id)
    entry = service_catalog().get(data.service_code)
    if entry is None:
        raise Invalid(
            f"unknown service code {data.service_code!r}",
            field_errors={"service_code": "choose a code from the service catalog"},
        )
    if any(c.service_code == entry.code for c in provider.capabilities):
        raise Conflict(f"this provider already offers {entry.name}")
    capability = Capability(
        provider_id=organization_id,
        service_code=entry.code,
        standards=[s.value for s in data.standards],
        capacity_notes=data.capacity_notes,
        lead_time_weeks=data.lead_time_weeks,
        sites=_own_sites(provider, data.site_ids),
    )
    session.add(capability)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="capability",
        entity_id=capability.id,
        actor=principal,
        organization_id=organization_id,
        after={
            "service_code": capability.service_code,
            "standards": capability.standards,
            "site_ids": [str(s.id) for s in capability.sites],
            "lead_time_weeks": capability.lead_time_weeks,
        },
    )
    return _capability_read(capability, provider.inspections)


def remove_capability(
    session: Session, principal: Principal, capability_id: uuid.UUID
) -> uuid.UUID:
    """Remove a capability; returns the provider it belonged to."""
    capability = repository.capability(session, capability_id)
    if capability is None:
        raise NotFound("no such capability")
    _require_write(principal, capability.provider_id)
    before = {"service_code": capability.service_code}
    provider_id = capability.provider_id
    session.delete(capability)
    session.flush()  # the row, then the audit chain (the lock order of core.db.hold)
    audit.record(
        session,
        action="delete",
        entity_type="capability",
        entity_id=capability_id,
        actor=principal,
        organization_id=provider_id,
        before=before,
    )
    return provider_id


def add_certification(
    session: Session, principal: Principal, organization_id: uuid.UUID, data: CertificationCreate
) -> CertificationRead:
    provider = _provider(session, organization_id)
    _require_write(principal, organization_id)
    if data.site_id is not None:
        _own_sites(provider, [data.site_id], field="site_id")
    if data.valid_from and data.valid_until and data.valid_until < data.valid_from:
        raise Invalid(
            "a certificate cannot expire before it is valid",
            field_errors={"valid_until": "must be on or after valid_from"},
        )
    certification = Certification(organization_id=organization_id, **data.model_dump())
    certification.standard = data.standard.value
    session.add(certification)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="certification",
        entity_id=certification.id,
        actor=principal,
        organization_id=organization_id,
        after=audit.snapshot(certification, ("standard", "issuer", "reference", "valid_until")),
    )
    return CertificationRead.model_validate(certification)


def add_inspection(
    session: Session, principal: Principal, organization_id: uuid.UUID, data: InspectionCreate
) -> InspectionRead:
    provider = _provider(session, organization_id)
    _require_write(principal, organization_id)
    if data.site_id is not None:
        _own_sites(provider, [data.site_id], field="site_id")
    if data.inspected_on > utcnow().date():
        raise Invalid(
            "an inspection date cannot be in the future",
            field_errors={"inspected_on": "use the date the inspection closed"},
        )
    inspection = Inspection(organization_id=organization_id, **data.model_dump())
    inspection.outcome = data.outcome.value
    session.add(inspection)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="inspection",
        entity_id=inspection.id,
        actor=principal,
        organization_id=organization_id,
        after=audit.snapshot(inspection, ("authority", "inspected_on", "outcome")),
    )
    return InspectionRead.model_validate(inspection)


# --- the provider directory -------------------------------------------------------------------

DIRECTORY_SORTS = ("score", "name", "country")


@dataclass(frozen=True)
class _Ranked:
    provider: Organization
    score: float
    reasons: list[str]
    capability_codes: list[str]
    valid_certifications: list[str]
    latest_inspection: Inspection | None

    def hit(self) -> DirectoryHit:
        latest = self.latest_inspection
        return DirectoryHit(
            organization=OrganizationSummary.model_validate(self.provider),
            score=self.score,
            reasons=self.reasons,
            capability_codes=self.capability_codes,
            valid_certifications=self.valid_certifications,
            latest_inspection=InspectionRead.model_validate(latest) if latest else None,
        )


_INSPECTION_POINTS = {
    InspectionOutcome.NAI: 2.0,
    InspectionOutcome.VAI: 1.0,
    InspectionOutcome.OAI: -3.0,
}


def search_directory(
    session: Session,
    principal: Principal,
    *,
    q: str | None = None,
    service_code: str | None = None,
    country: str | None = None,
    region: str | None = None,
    certification: str | None = None,
    service_line: str | None = None,
    params: PageParams,
    unpaged: bool = False,
) -> Page[DirectoryHit]:
    """Providers that match every filter, best first.

    Ranking: a name hit weighs most, then matched capabilities, valid certificates and the latest
    inspection's outcome (an official-action-indicated inspection pulls a provider down).
    """
    cat = service_catalog()
    if service_code and cat.get(service_code) is None:
        raise Invalid(
            f"unknown service code {service_code!r}",
            field_errors={"service_code": "choose a code from the service catalog"},
        )
    text = (q or "").strip().lower()
    codes_for_text = {
        e.code for e in cat.entries if text and (text in e.name.lower() or text in e.code.lower())
    }
    wanted_codes = {service_code} if service_code else None
    country = country.strip().upper() if country else None
    today = utcnow().date()
    ranked: list[_Ranked] = []
    for provider in repository.providers_for_directory(
        session, service_codes=wanted_codes, standard=certification or None
    ):
        site_countries = {s.country for s in provider.sites} | {provider.country}
        if country and country not in site_countries:
            continue
        if (
            region
            and region not in provider.regions_served
            and not (site_countries & countries_in(region))
        ):
            continue
        if service_line and service_line not in provider.service_lines:
            continue
        valid = sorted(
            {
                c.standard
                for c in provider.certifications
                if c.valid_until is None or c.valid_until >= today
            }
        )
        if certification and certification not in valid:
            continue
        provider_codes = [c.service_code for c in provider.capabilities]
        score = 0.0
        reasons: list[str] = []
        if text:
            in_name = text in provider.name.lower()
            in_description = text in provider.description.lower()
            in_city = any(text in s.city.lower() for s in provider.sites)
            text_codes = codes_for_text.intersection(provider_codes)
            if not (in_name or in_description or in_city or text_codes):
                continue
            if in_name:
                score += 10
                reasons.append("name matches")
            if text_codes:
                score += 4 * len(text_codes)
                reasons.append(f"offers {len(text_codes)} matching service(s)")
            if in_description:
                score += 2
                reasons.append("description matches")
            if in_city:
                score += 1
                reasons.append("site city matches")
        if service_code:
            capability = next(c for c in provider.capabilities if c.service_code == service_code)
            score += 5 + 0.5 * len(capability.sites)
            reasons.append(f"offers {cat.get(service_code).name}")  # type: ignore[union-attr]
        score += 0.5 * len(valid)
        latest = _latest_inspection(provider.inspections)
        if latest is not None:
            score += _INSPECTION_POINTS.get(InspectionOutcome(latest.outcome), 0.0)
            if latest.outcome == InspectionOutcome.OAI:
                reasons.append(f"latest {latest.authority} inspection: official action indicated")
        ranked.append(_Ranked(provider, round(score, 2), reasons, provider_codes, valid, latest))
    column, descending = params.sort_key(DIRECTORY_SORTS, "score")
    if column == "score":
        ranked.sort(key=lambda r: (-r.score if not descending else r.score, r.provider.name))
    else:
        ranked.sort(key=lambda r: r.provider.name)  # ties broken by name
        ranked.sort(key=lambda r: str(getattr(r.provider, column)), reverse=descending)
    # Only the rows shown become response objects; ranking needs every match, display does not.
    shown, total = (ranked, len(ranked)) if unpaged else paginate(ranked, params)
    return Page.of([r.hit() for r in shown], total=total, params=params)


# --- qualifications (sponsor-private) ---------------------------------------------------------


def _qualification_read(qualification: Qualification) -> QualificationRead:
    return QualificationRead(
        **{f: getattr(qualification, f) for f in QUALIFICATION_FIELDS},
        id=qualification.id,
        sponsor_id=qualification.sponsor_id,
        provider_id=qualification.provider_id,
        provider_name=qualification.provider.name,
        version=qualification.version,
        updated_at=qualification.updated_at,
        expired=qualification.expires_on is not None and qualification.expires_on < utcnow().date(),
    )


def _readable_sponsors(principal: Principal) -> frozenset[uuid.UUID]:
    if principal.is_operator:
        return principal.organization_ids
    return principal.organizations_with(Permission.QUALIFICATIONS_READ)


def _qualification(
    session: Session, principal: Principal, qualification_id: uuid.UUID
) -> Qualification:
    qualification = repository.qualification_for_sponsors(
        session, qualification_id, principal.organization_ids
    )
    if qualification is None:
        raise NotFound("no such qualification")
    return qualification


def list_qualifications(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    provider_id: uuid.UUID | None = None,
    params: PageParams,
    unpaged: bool = False,
) -> Page[QualificationRead]:
    rows, total = repository.qualifications_for_sponsors(
        session,
        _readable_sponsors(principal),
        status=status,
        provider_id=provider_id,
        offset=0 if unpaged else params.offset,
        limit=None if unpaged else params.page_size,
        sort=params.sort_key(tuple(repository.QUALIFICATION_SORTS), "provider"),
    )
    return Page.of([_qualification_read(r) for r in rows], total=total, params=params)


def get_qualification(
    session: Session, principal: Principal, qualification_id: uuid.UUID
) -> QualificationRead:
    qualification = _qualification(session, principal, qualification_id)
    principal.require(Permission.QUALIFICATIONS_READ, qualification.sponsor_id)
    return _qualification_read(qualification)


def qualification_of(
    session: Session, principal: Principal, sponsor_id: uuid.UUID, provider_id: uuid.UUID
) -> QualificationRead | None:
    """The sponsor's standing of a provider, for gating invitations and awards."""
    if sponsor_id not in principal.organization_ids:
        return None
    qualification = repository.qualification_of_pair(session, sponsor_id, provider_id)
    return _qualification_read(qualification) if qualification else None


def _acting_sponsor(
    session: Session, principal: Principal, sponsor_id: uuid.UUID | None
) -> uuid.UUID:
    writable = principal.organizations_with(Permission.QUALIFICATIONS_WRITE)
    sponsors = {
        o.id
        for o in repository.organizations_by_ids(session, writable)
        if o.kind == OrganizationKind.SPONSOR
    }
    if sponsor_id is not None:
        if sponsor_id not in principal.organization_ids:
            raise NotFound("no such sponsor")
        if sponsor_id not in sponsors:
            if sponsor_id in writable:
                raise Invalid("only a sponsor organisation qualifies providers")
            raise NotPermitted("your role does not grant qualifications:write")
        return sponsor_id
    if len(sponsors) == 1:
        return next(iter(sponsors))
    if not sponsors:
        raise NotPermitted("you need qualifications:write in a sponsor organisation")
    raise Invalid(
        "you belong to several sponsors; say which one",
        field_errors={"sponsor_id": "required when you belong to several sponsors"},
    )


def _check_dates(data: QualificationFields) -> None:
    if data.status == QualificationStatus.APPROVED and data.expires_on is None:
        raise Invalid(
            "an approved qualification needs an expiry date",
            field_errors={"expires_on": "set the date the approval lapses"},
        )
    if (
        data.expires_on is not None
        and data.last_audit_on is not None
        and data.expires_on < data.last_audit_on
    ):
        raise Invalid(
            "the expiry cannot be before the last audit",
            field_errors={"expires_on": "must be on or after the last audit"},
        )
    if data.status == QualificationStatus.DISQUALIFIED and not (data.audit_findings or data.notes):
        raise Invalid(
            "say why the provider is disqualified",
            field_errors={"audit_findings": "record the findings or a note"},
        )


# Dates of things that have happened: a CDA signed or an audit held "next year" is a typo.
PAST_EVENT_FIELDS = (
    "cda_signed_on", "msa_signed_on", "quality_agreement_signed_on", "last_audit_on",
)  # fmt: skip


def _check_past_events(values: dict[str, Any], names: Iterable[str]) -> None:
    today = utcnow().date()
    errors = {
        name: f"cannot be after today ({today.isoformat()}); record it once it has happened"
        for name in names
        if values.get(name) is not None and values[name] > today
    }
    if errors:
        raise Invalid(
            "signature and audit dates cannot be in the future: " + ", ".join(errors),
            field_errors=errors,
        )


def create_qualification(
    session: Session, principal: Principal, data: QualificationCreate
) -> QualificationRead:
    sponsor_id = _acting_sponsor(session, principal, data.sponsor_id)
    provider = repository.organization(session, data.provider_id)
    if provider is None or provider.kind != OrganizationKind.PROVIDER:
        raise Invalid("no such provider", field_errors={"provider_id": "choose a provider"})
    if repository.qualification_of_pair(session, sponsor_id, provider.id) is not None:
        raise Conflict(
            f"{provider.name} already has a qualification; update it instead",
            field_errors={"provider_id": "already qualified"},
        )
    _check_dates(data)
    fields = data.model_dump(include=set(QUALIFICATION_FIELDS))
    _check_past_events(fields, PAST_EVENT_FIELDS)
    qualification = Qualification(sponsor_id=sponsor_id, provider_id=provider.id, **fields)
    qualification.provider = provider
    session.add(qualification)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="qualification",
        entity_id=qualification.id,
        actor=principal,
        organization_id=sponsor_id,
        after=audit.snapshot(qualification, QUALIFICATION_FIELDS),
    )
    return _qualification_read(qualification)


def update_qualification(
    session: Session, principal: Principal, qualification_id: uuid.UUID, data: QualificationUpdate
) -> QualificationRead:
    qualification = _qualification(session, principal, qualification_id)
    principal.require(Permission.QUALIFICATIONS_WRITE, qualification.sponsor_id)
    check_version("qualification", qualification.version, data.version)
    changes = data.model_dump(exclude_unset=True, include=set(QUALIFICATION_FIELDS))
    for text in ("audit_findings", "notes"):
        if text in changes and changes[text] is None:
            changes[text] = ""
    current = {name: getattr(qualification, name) for name in QUALIFICATION_FIELDS}
    try:
        merged = QualificationFields.model_validate({**current, **changes})
    except ValidationError as error:
        raise _stored_values_refused(
            "the qualification", error, "send the corrected date with this change"
        ) from None
    _check_dates(merged)
    # Only the dates this change sets: one stored before the rule does not block other edits.
    _check_past_events(
        changes, [n for n in PAST_EVENT_FIELDS if n in changes and changes[n] != current[n]]
    )
    before = audit.snapshot(qualification, QUALIFICATION_FIELDS)
    for name, value in merged.model_dump(include=set(QUALIFICATION_FIELDS)).items():
        setattr(qualification, name, value)
    after = audit.snapshot(qualification, QUALIFICATION_FIELDS)
    if after == before:
        return _qualification_read(qualification)
    qualification.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        action="update",
        entity_type="qualification",
        entity_id=qualification.id,
        actor=principal,
        organization_id=qualification.sponsor_id,
        before=before,
        after=after,
        reason=data.reason or None,
    )
    return _qualification_read(qualification)


def qualification_history(
    session: Session, principal: Principal, qualification_id: uuid.UUID
) -> Sequence[AuditEvent]:
    qualification = _qualification(session, principal, qualification_id)
    principal.require(Permission.QUALIFICATIONS_READ, qualification.sponsor_id)
    return audit.events_for_entity(session, "qualification", str(qualification.id))


PROFILE_ENTITY_TYPES = ("organization", "site", "capability", "certification", "inspection")


def organization_history(
    session: Session, principal: Principal, organization_id: uuid.UUID
) -> Sequence[AuditEvent]:
    """Changes to an organisation's public profile: itself, its sites, capabilities, certificates
    and inspections (visible to whoever may see the profile)."""
    organization = _organization(session, organization_id)
    return audit.events_of_organization(session, organization.id, PROFILE_ENTITY_TYPES)


def region_label(country: str) -> str:
    return region_of(country) or "Other"


def _stored_values_refused(what: str, error: ValidationError, fix: str) -> Invalid:
    """Values stored before today's checks (a date in year 1 or 9999) that a change would keep:
    a 422 naming each field, its value and what to do, instead of a 500."""
    errors = {
        ".".join(str(part) for part in item["loc"]): (
            f"the stored value {item.get('input')} is no longer accepted "
            f"({str(item['msg']).removeprefix('Value error, ')}); {fix}"
        )
        for item in error.errors(include_url=False)
    }
    listing = "; ".join(f"{field}: {message}" for field, message in errors.items())
    return Invalid(f"{what} cannot be saved as stored — {listing}", field_errors=errors)


# --- disruptions (private to the declaring organisation) ---------------------------------------


def _check_disruption(data: DisruptionFields) -> None:
    if (data.country is None) == (data.region is None):
        raise Invalid(
            "a disruption applies to one country or one region",
            field_errors={"country": "give a country or a region, not both"},
        )
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise Invalid(
            "the disruption ends before it starts",
            field_errors={"ends_on": f"must be on or after {data.starts_on.isoformat()}"},
        )


def _disruption(session: Session, principal: Principal, disruption_id: uuid.UUID) -> Disruption:
    disruption = repository.disruption_for(session, disruption_id, principal.organization_ids)
    if disruption is None:
        raise NotFound("no such disruption")
    return disruption


def list_disruptions(session: Session, principal: Principal) -> list[DisruptionRead]:
    readable = principal.organizations_with(Permission.DISRUPTIONS_READ)
    return [DisruptionRead.model_validate(d) for d in repository.disruptions_of(session, readable)]


def get_disruption(
    session: Session, principal: Principal, disruption_id: uuid.UUID
) -> DisruptionRead:
    disruption = _disruption(session, principal, disruption_id)
    principal.require(Permission.DISRUPTIONS_READ, disruption.organization_id)
    return DisruptionRead.model_validate(disruption)


def declare_disruption(
    session: Session, principal: Principal, data: DisruptionCreate
) -> DisruptionRead:
    writable = principal.organizations_with(Permission.DISRUPTIONS_WRITE)
    if data.organization_id is not None:
        if data.organization_id not in principal.organization_ids:
            raise NotFound("no such organisation")
        principal.require(Permission.DISRUPTIONS_WRITE, data.organization_id)
        organization_id = data.organization_id
    elif len(writable) == 1:
        organization_id = next(iter(writable))
    elif not writable:
        raise NotPermitted("your role does not grant disruptions:write")
    else:
        raise Invalid(
            "you belong to several organisations; say which one declares the disruption",
            field_errors={"organization_id": "choose your organisation"},
        )
    _check_disruption(data)
    disruption = Disruption(
        organization_id=organization_id, **data.model_dump(include=set(DISRUPTION_FIELDS))
    )
    session.add(disruption)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="disruption",
        entity_id=disruption.id,
        actor=principal,
        organization_id=organization_id,
        after=audit.snapshot(disruption, DISRUPTION_FIELDS),
    )
    return DisruptionRead.model_validate(disruption)


def update_disruption(
    session: Session, principal: Principal, disruption_id: uuid.UUID, data: DisruptionUpdate
) -> DisruptionRead:
    """Change a disruption; closing one is an update that sets ``ends_on``."""
    disruption = _disruption(session, principal, disruption_id)
    principal.require(Permission.DISRUPTIONS_WRITE, disruption.organization_id)
    check_version("disruption", disruption.version, data.version)
    _check_disruption(data)
    before = audit.snapshot(disruption, DISRUPTION_FIELDS)
    for name, value in data.model_dump(include=set(DISRUPTION_FIELDS)).items():
        setattr(disruption, name, value)
    after = audit.snapshot(disruption, DISRUPTION_FIELDS)
    if after != before:
        disruption.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            action="update",
            entity_type="disruption",
            entity_id=disruption.id,
            actor=principal,
            organization_id=disruption.organization_id,
            before=before,
            after=after,
        )
    return DisruptionRead.model_validate(disruption)


def end_disruption(
    session: Session,
    principal: Principal,
    disruption_id: uuid.UUID,
    data: DisruptionEnd,
    *,
    today: date | None = None,
) -> DisruptionRead:
    """End a disruption today: an update of ``ends_on`` alone, under the same rules (a stale
    version is 409, one that starts later cannot end today: 422). One that already ended before
    today is left alone (409: ending it "today" would extend it); one ending today is unchanged."""
    today = today or utc_today()
    disruption = _disruption(session, principal, disruption_id)
    principal.require(Permission.DISRUPTIONS_WRITE, disruption.organization_id)
    check_version("disruption", disruption.version, data.version)
    if disruption.ends_on is not None and disruption.ends_on < today:
        raise Conflict(f"the disruption already ended on {disruption.ends_on.isoformat()}")
    fields = DisruptionRead.model_validate(disruption).model_dump(include=set(DISRUPTION_FIELDS))
    try:
        update = DisruptionUpdate.model_validate(
            {**fields, "ends_on": today, "version": data.version}
        )
    except ValidationError as error:
        raise _stored_values_refused(
            "the disruption", error, "edit the disruption to correct it, then end it"
        ) from None
    return update_disruption(session, principal, disruption_id, update)


def delete_disruption(session: Session, principal: Principal, disruption_id: uuid.UUID) -> None:
    disruption = _disruption(session, principal, disruption_id)
    principal.require(Permission.DISRUPTIONS_WRITE, disruption.organization_id)
    before = audit.snapshot(disruption, DISRUPTION_FIELDS)
    session.delete(disruption)
    session.flush()
    audit.record(
        session,
        action="delete",
        entity_type="disruption",
        entity_id=disruption_id,
        actor=principal,
        organization_id=disruption.organization_id,
        before=before,
    )


def disruptions_covering(
    session: Session,
    organization_id: uuid.UUID,
    country: str,
    start: date,
    end: date | None,
) -> list[DisruptionRead]:
    """The organisation's disruptions on ``country`` (or its region) overlapping [start, end].

    For other capabilities' own use cases (bid risk flags, enrollment forecasts), which have
    already checked that the principal acts for ``organization_id``.
    """
    country = country.upper()
    region = region_of(country)
    return [
        read
        for read in map(
            DisruptionRead.model_validate, repository.disruptions_of(session, [organization_id])
        )
        if read.covers(country, region, start, end)
    ]


# --- track record: providers' delivery history with each sponsor -------------------------------


def record_performance(
    session: Session,
    *,
    sponsor_id: uuid.UUID,
    provider_id: uuid.UUID,
    accepted: bool,
    subject_id: uuid.UUID,
    reference: str,
    due_on: date,
    delivered_on: date,
) -> None:
    """Called by contracts, inside its own use case, when a milestone is accepted or rejected."""
    kind = PerformanceKind.MILESTONE_ACCEPTED if accepted else PerformanceKind.DELIVERABLE_REJECTED
    session.add(
        PerformanceRecord(
            sponsor_id=sponsor_id,
            provider_id=provider_id,
            kind=kind.value,
            subject_id=subject_id,
            reference=reference[:200],
            due_on=due_on,
            delivered_on=delivered_on,
        )
    )


def track_records(
    session: Session, principal: Principal, sponsor_id: uuid.UUID, provider_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, TrackRecord]:
    """Each provider's history with this sponsor (empty records for providers without one)."""
    if sponsor_id not in principal.organization_ids:
        raise NotFound("no such sponsor")
    wanted = list(dict.fromkeys(provider_ids))
    counts = repository.performance_counts(session, sponsor_id, wanted)
    return {
        provider: TrackRecord(
            provider_id=provider,
            milestones_accepted=counts.get(provider, (0, 0, 0))[0],
            accepted_on_time=counts.get(provider, (0, 0, 0))[1],
            rejections=counts.get(provider, (0, 0, 0))[2],
        )
        for provider in wanted
    }
