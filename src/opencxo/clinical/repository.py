"""Every SELECT of clinical operations, scoped to the study's sponsor and its CRO."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from opencxo.clinical.models import (
    EnrollmentRecord,
    RecoveryPlan,
    SiteOffer,
    Study,
    StudyCountry,
    StudySite,
)

STUDY_SORTS = ("code", "title", "phase", "status", "target", "lpi", "updated_at")


def _party(ids: list[uuid.UUID]) -> ColumnElement[bool]:
    return or_(Study.sponsor_id.in_(ids), Study.provider_id.in_(ids))


def _study_query() -> Select[Study]:
    return select(Study).options(selectinload(Study.countries))


def study(
    session: Session, study_id: uuid.UUID, organization_ids: Iterable[uuid.UUID]
) -> Study | None:
    ids = list(organization_ids)
    found: Study | None = session.execute(
        _study_query().where(Study.id == study_id, _party(ids))
    ).scalar_one_or_none()
    return found


def study_by_code(session: Session, sponsor_id: uuid.UUID, code: str) -> Study | None:
    return session.execute(
        select(Study).where(Study.sponsor_id == sponsor_id, Study.code == code)
    ).scalar_one_or_none()


def _order(column: str, descending: bool) -> list[Any]:
    keys: dict[str, Any] = {
        "code": Study.code,
        "title": func.lower(Study.title),
        "phase": Study.phase,
        "status": Study.status,
        "target": Study.target_enrollment,
        "lpi": Study.planned_last_patient_in,
        "updated_at": Study.updated_at,
    }
    key = keys.get(column, Study.code)
    return [key.desc() if descending else key.asc(), Study.code.asc()]


def studies(
    session: Session,
    organization_ids: Iterable[uuid.UUID],
    *,
    status: str | None = None,
    offset: int = 0,
    limit: int | None = None,
    sort: tuple[str, bool] = ("code", False),
) -> tuple[Sequence[Study], int]:
    ids = list(organization_ids)
    query = select(Study).where(_party(ids))
    if status:
        query = query.where(Study.status == status)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        session.execute(query.order_by(*_order(*sort)).offset(offset).limit(limit)).scalars().all()
    )
    return rows, total


def country(session: Session, study_id: uuid.UUID, code: str) -> StudyCountry | None:
    return session.execute(
        select(StudyCountry).where(StudyCountry.study_id == study_id, StudyCountry.country == code)
    ).scalar_one_or_none()


def country_by_id(session: Session, country_id: uuid.UUID) -> StudyCountry | None:
    return session.get(StudyCountry, country_id)


def site(session: Session, site_id: uuid.UUID) -> StudySite | None:
    return session.get(StudySite, site_id)


def sites(session: Session, study_id: uuid.UUID) -> Sequence[StudySite]:
    return (
        session.execute(
            select(StudySite).where(StudySite.study_id == study_id).order_by(StudySite.code)
        )
        .scalars()
        .all()
    )


def sites_of_studies(session: Session, study_ids: Iterable[uuid.UUID]) -> Sequence[StudySite]:
    ids = list(study_ids)
    if not ids:
        return []
    return session.execute(select(StudySite).where(StudySite.study_id.in_(ids))).scalars().all()


def site_by_code(session: Session, study_id: uuid.UUID, code: str) -> StudySite | None:
    return session.execute(
        select(StudySite).where(StudySite.study_id == study_id, StudySite.code == code)
    ).scalar_one_or_none()


def site_totals(
    session: Session, site_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int, int, int, date | None]]:
    """Site id → (screened, enrolled, screen_failed, withdrawn, last record date)."""
    ids = list(site_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(
            EnrollmentRecord.site_id,
            func.coalesce(func.sum(EnrollmentRecord.screened), 0),
            func.coalesce(func.sum(EnrollmentRecord.enrolled), 0),
            func.coalesce(func.sum(EnrollmentRecord.screen_failed), 0),
            func.coalesce(func.sum(EnrollmentRecord.withdrawn), 0),
            func.max(EnrollmentRecord.on_date),
        )
        .where(EnrollmentRecord.site_id.in_(ids))
        .group_by(EnrollmentRecord.site_id)
    ).all()
    return {site_id: (int(s), int(e), int(f), int(w), last) for site_id, s, e, f, w, last in rows}


def records_of_site(session: Session, site_id: uuid.UUID) -> Sequence[EnrollmentRecord]:
    return (
        session.execute(
            select(EnrollmentRecord)
            .where(EnrollmentRecord.site_id == site_id)
            .order_by(EnrollmentRecord.on_date)
        )
        .scalars()
        .all()
    )


def records_of_study(
    session: Session, study_id: uuid.UUID
) -> Sequence[tuple[EnrollmentRecord, str]]:
    """Every record of the study's sites with its site's code, oldest first."""
    rows = session.execute(
        select(EnrollmentRecord, StudySite.code)
        .join(StudySite, StudySite.id == EnrollmentRecord.site_id)
        .where(StudySite.study_id == study_id)
        .order_by(EnrollmentRecord.on_date, StudySite.code)
    ).all()
    return [(record, code) for record, code in rows]


def record_dates(session: Session, site_ids: Iterable[uuid.UUID]) -> set[tuple[uuid.UUID, date]]:
    ids = list(site_ids)
    if not ids:
        return set()
    rows = session.execute(
        select(EnrollmentRecord.site_id, EnrollmentRecord.on_date).where(
            EnrollmentRecord.site_id.in_(ids)
        )
    ).all()
    return {(site_id, on_date) for site_id, on_date in rows}


# --- recovery plans: CRO site offers and the plans ----------------------------------------------


def site_offer(session: Session, offer_id: uuid.UUID) -> SiteOffer | None:
    return session.get(SiteOffer, offer_id)


def site_offers(
    session: Session,
    *,
    provider_ids: Iterable[uuid.UUID] | None = None,
    everyone_active: bool = False,
    country: str | None = None,
    provider_id: uuid.UUID | None = None,
    active: bool | None = None,
    currency: str | None = None,
) -> Sequence[SiteOffer]:
    """Offers of ``provider_ids`` (any state) and, with ``everyone_active``, every active offer;
    narrowed by the filters."""
    own = list(provider_ids or [])
    scope: list[ColumnElement[bool]] = []
    if own:
        scope.append(SiteOffer.provider_id.in_(own))
    if everyone_active:
        scope.append(SiteOffer.active.is_(True))
    if not scope:
        return []
    query = select(SiteOffer).where(or_(*scope))
    if country:
        query = query.where(SiteOffer.country == country)
    if provider_id is not None:
        query = query.where(SiteOffer.provider_id == provider_id)
    if active is not None:
        query = query.where(SiteOffer.active.is_(active))
    if currency:
        query = query.where(SiteOffer.currency == currency)
    return session.execute(query.order_by(SiteOffer.country, SiteOffer.name)).scalars().all()


def recovery_plan(session: Session, plan_id: uuid.UUID) -> RecoveryPlan | None:
    return session.get(RecoveryPlan, plan_id)


def recovery_plans(
    session: Session, study_id: uuid.UUID, organization_ids: Iterable[uuid.UUID] | None = None
) -> Sequence[RecoveryPlan]:
    """The study's plans, newest first; only those proposed by ``organization_ids`` if given."""
    query = select(RecoveryPlan).where(RecoveryPlan.study_id == study_id)
    if organization_ids is not None:
        query = query.where(RecoveryPlan.organization_id.in_(list(organization_ids)))
    return (
        session.execute(query.order_by(RecoveryPlan.created_at.desc(), RecoveryPlan.id))
        .scalars()
        .all()
    )
