"""Every SELECT of the parties capability; tenant-owned rows are scoped to the principal."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from opencxo.parties.models import (
    Capability,
    Certification,
    Disruption,
    Inspection,
    Organization,
    OrganizationKind,
    PerformanceKind,
    PerformanceRecord,
    Qualification,
    Site,
)


def _with_profile(query: Select[Organization]) -> Select[Organization]:
    return query.options(
        selectinload(Organization.sites),
        selectinload(Organization.capabilities).selectinload(Capability.sites),
        selectinload(Organization.certifications),
        selectinload(Organization.inspections),
    )


def organization(session: Session, organization_id: uuid.UUID) -> Organization | None:
    return session.execute(
        _with_profile(select(Organization).where(Organization.id == organization_id))
    ).scalar_one_or_none()


def organization_by_name(session: Session, name: str) -> Organization | None:
    return session.execute(
        select(Organization).where(func.lower(Organization.name) == name.strip().lower())
    ).scalar_one_or_none()


def organizations_by_ids(
    session: Session, organization_ids: Iterable[uuid.UUID]
) -> Sequence[Organization]:
    ids = list(organization_ids)
    if not ids:
        return []
    return (
        session.execute(
            select(Organization).where(Organization.id.in_(ids)).order_by(Organization.name)
        )
        .scalars()
        .all()
    )


ORGANIZATION_SORTS = {
    "name": Organization.name,
    "kind": Organization.kind,
    "country": Organization.country,
    "city": Organization.city,
}
QUALIFICATION_SORTS = {
    "provider": Organization.name,
    "status": Qualification.status,
    "expires_on": Qualification.expires_on,
    "last_audit_on": Qualification.last_audit_on,
    "updated_at": Qualification.updated_at,
}


def organizations(
    session: Session,
    *,
    kind: str | None,
    q: str | None,
    offset: int,
    limit: int,
    sort: tuple[str, bool] = ("name", False),
) -> tuple[Sequence[Organization], int]:
    query = select(Organization)
    if kind:
        query = query.where(Organization.kind == kind)
    if q:
        pattern = f"%{q.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(Organization.name).like(pattern),
                func.lower(Organization.city).like(pattern),
            )
        )
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    column = ORGANIZATION_SORTS[sort[0]]
    order = column.desc() if sort[1] else column.asc()
    rows = (
        session.execute(query.order_by(order, Organization.name).offset(offset).limit(limit))
        .scalars()
        .all()
    )
    return rows, total


def providers_for_directory(
    session: Session, *, service_codes: Iterable[str] | None, standard: str | None
) -> Sequence[Organization]:
    """Providers with their profiles loaded, narrowed in SQL by capability and certificate."""
    query = select(Organization).where(Organization.kind == OrganizationKind.PROVIDER.value)
    if service_codes is not None:
        query = query.where(
            Organization.id.in_(
                select(Capability.provider_id).where(
                    Capability.service_code.in_(list(service_codes))
                )
            )
        )
    if standard:
        query = query.where(
            Organization.id.in_(
                select(Certification.organization_id).where(Certification.standard == standard)
            )
        )
    return (
        session.execute(_with_profile(query).order_by(Organization.name)).scalars().unique().all()
    )


def site(session: Session, site_id: uuid.UUID) -> Site | None:
    return session.get(Site, site_id)


def sites_by_ids(session: Session, site_ids: Iterable[uuid.UUID]) -> Sequence[Site]:
    ids = list(site_ids)
    if not ids:
        return []
    return session.execute(select(Site).where(Site.id.in_(ids))).scalars().all()


def capability(session: Session, capability_id: uuid.UUID) -> Capability | None:
    return session.get(Capability, capability_id)


def certification(session: Session, certification_id: uuid.UUID) -> Certification | None:
    return session.get(Certification, certification_id)


def inspection(session: Session, inspection_id: uuid.UUID) -> Inspection | None:
    return session.get(Inspection, inspection_id)


def qualification_for_sponsors(
    session: Session, qualification_id: uuid.UUID, sponsor_ids: Iterable[uuid.UUID]
) -> Qualification | None:
    return session.execute(
        select(Qualification)
        .where(
            Qualification.id == qualification_id, Qualification.sponsor_id.in_(list(sponsor_ids))
        )
        .options(selectinload(Qualification.provider))
    ).scalar_one_or_none()


def qualification_of_pair(
    session: Session, sponsor_id: uuid.UUID, provider_id: uuid.UUID
) -> Qualification | None:
    return session.execute(
        select(Qualification).where(
            Qualification.sponsor_id == sponsor_id, Qualification.provider_id == provider_id
        )
    ).scalar_one_or_none()


def qualifications_for_sponsors(
    session: Session,
    sponsor_ids: Iterable[uuid.UUID],
    *,
    status: str | None,
    provider_id: uuid.UUID | None,
    offset: int,
    limit: int | None,
    sort: tuple[str, bool] = ("provider", False),
) -> tuple[Sequence[Qualification], int]:
    query = (
        select(Qualification)
        .join(Qualification.provider)
        .where(Qualification.sponsor_id.in_(list(sponsor_ids)))
    )
    if status:
        query = query.where(Qualification.status == status)
    if provider_id:
        query = query.where(Qualification.provider_id == provider_id)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        session.execute(
            query.options(selectinload(Qualification.provider))
            .order_by(
                QUALIFICATION_SORTS[sort[0]].desc()
                if sort[1]
                else QUALIFICATION_SORTS[sort[0]].asc(),
                Organization.name,
            )
            .offset(offset)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    return rows, total


def count_organizations(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Organization.kind, func.count()).group_by(Organization.kind)
    ).all()
    return {str(kind): int(count) for kind, count in rows}


def newest_organizations(session: Session, *, limit: int) -> Sequence[Organization]:
    return (
        session.execute(
            select(Organization)
            .order_by(Organization.created_at.desc(), Organization.name)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def disruption_for(
    session: Session, disruption_id: uuid.UUID, organization_ids: Iterable[uuid.UUID]
) -> Disruption | None:
    return session.execute(
        select(Disruption).where(
            Disruption.id == disruption_id,
            Disruption.organization_id.in_(list(organization_ids)),
        )
    ).scalar_one_or_none()


def disruptions_of(session: Session, organization_ids: Iterable[uuid.UUID]) -> Sequence[Disruption]:
    """Newest first, so the current events lead."""
    return (
        session.execute(
            select(Disruption)
            .where(Disruption.organization_id.in_(list(organization_ids)))
            .order_by(Disruption.starts_on.desc(), Disruption.title)
        )
        .scalars()
        .all()
    )


def performance_counts(
    session: Session, sponsor_id: uuid.UUID, provider_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int, int]]:
    """Per provider: (milestones accepted, accepted on or before the due date, rejections)."""
    accepted = PerformanceRecord.kind == PerformanceKind.MILESTONE_ACCEPTED.value
    rows = session.execute(
        select(
            PerformanceRecord.provider_id,
            func.count().filter(accepted),
            func.count().filter(
                accepted, PerformanceRecord.delivered_on <= PerformanceRecord.due_on
            ),
            func.count().filter(
                PerformanceRecord.kind == PerformanceKind.DELIVERABLE_REJECTED.value
            ),
        )
        .where(
            PerformanceRecord.sponsor_id == sponsor_id,
            PerformanceRecord.provider_id.in_(list(provider_ids)),
        )
        .group_by(PerformanceRecord.provider_id)
    ).all()
    return {provider: (int(a), int(on_time), int(r)) for provider, a, on_time, r in rows}
