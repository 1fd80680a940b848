"""Use cases of clinical operations: studies, their countries and sites, and enrollment actuals.

A study is the sponsor's; when a CRO runs it (the provider of its work order, or named directly)
the CRO sees it too and works on it: countries, sites, enrollment and imports may be written by
either party, the study itself only by the sponsor. Anyone else gets the 404 of an unknown id.

Site: planned → activating → active ⇄ on hold → closed (see ``SITE_TRANSITIONS``); any other step
answers 409. Enrollment is recorded per site and date, only from the site's activation on and
never in the future.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from opencxo.clinical import repository
from opencxo.clinical.models import (
    SITE_TRANSITIONS,
    EnrollmentRecord,
    SiteStatus,
    Study,
    StudyCountry,
    StudyPhase,
    StudySite,
    StudyStatus,
)
from opencxo.clinical.schemas import (
    CountryTotals,
    CumulativePoint,
    EnrollmentCreate,
    EnrollmentRead,
    EnrollmentRow,
    SiteCreate,
    SiteRead,
    SiteTotals,
    SiteTransition,
    SiteUpdate,
    StudyCountryInput,
    StudyCountryRead,
    StudyCreate,
    StudyEnrollment,
    StudyListItem,
    StudyRead,
    StudySummary,
    StudyUpdate,
)
from opencxo.contracts import service as contracts
from opencxo.core import audit
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted, check_version
from opencxo.core.pagination import Page, PageParams
from opencxo.core.types import utc_today, utcnow
from opencxo.parties import service as parties
from opencxo.parties.schemas import DisruptionRead
from opencxo.sourcing import service as sourcing

STUDY_FIELDS = (
    "code", "title", "phase", "indication", "target_enrollment", "planned_first_patient_in",
    "planned_last_patient_in", "status", "work_order_id", "provider_id", "description",
)  # fmt: skip
SITE_FIELDS = (
    "code", "name", "institution", "country", "city", "investigator", "provider_id",
    "planned_activation_date", "actual_activation_date", "status", "monthly_cost",
    "cost_per_patient", "cost_currency",
)  # fmt: skip
COUNT_FIELDS = ("screened", "enrolled", "screen_failed", "withdrawn")
ACTIVATED = (SiteStatus.ACTIVE, SiteStatus.ON_HOLD, SiteStatus.CLOSED)


# --- access -------------------------------------------------------------------------------------


def _study(session: Session, principal: Principal, study_id: uuid.UUID) -> Study:
    """The study if the principal's organisation is its sponsor or CRO; else 404."""
    found = repository.study(session, study_id, principal.organization_ids)
    if found is None:
        raise NotFound("no such study")
    return found


def side(principal: Principal, study: Study) -> uuid.UUID:
    """The organisation the principal acts for on the study (the sponsor first)."""
    if study.sponsor_id in principal.organization_ids:
        return study.sponsor_id
    assert study.provider_id is not None
    return study.provider_id


def _readable(session: Session, principal: Principal, study_id: uuid.UUID) -> Study:
    study = _study(session, principal, study_id)
    principal.require(Permission.STUDIES_READ, side(principal, study))
    return study


def _writable(session: Session, principal: Principal, study_id: uuid.UUID) -> Study:
    study = _study(session, principal, study_id)
    principal.require(Permission.STUDIES_WRITE, side(principal, study))
    return study


def _site(session: Session, principal: Principal, site_id: uuid.UUID) -> tuple[StudySite, Study]:
    site = repository.site(session, site_id)
    study = repository.study(session, site.study_id, principal.organization_ids) if site else None
    if site is None or study is None:
        raise NotFound("no such site")
    return site, study


def _audit(
    session: Session,
    principal: Principal,
    study: Study,
    *,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    audit.record(
        session,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=principal,
        organization_id=side(principal, study),
        before=before,
        after=after,
        reason=reason,
    )


# --- studies ------------------------------------------------------------------------------------


def _names(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    return {o.id: o.name for o in parties.organizations_named_by_id(session, wanted)}


def _check_provider(session: Session, provider_id: uuid.UUID, field: str) -> None:
    found = parties.organizations_named_by_id(session, [provider_id])
    if not found or found[0].kind != "provider":
        raise Invalid("no such provider", field_errors={field: "choose a provider organisation"})


def _contract(
    session: Session,
    principal: Principal,
    sponsor_id: uuid.UUID,
    program_id: uuid.UUID,
    data: StudyCreate | StudyUpdate,
) -> uuid.UUID | None:
    """The CRO of the study: the work order's provider (the work order must be the sponsor's and
    of the same program), else the provider named."""
    if data.work_order_id is None:
        if data.provider_id is not None:
            _check_provider(session, data.provider_id, "provider_id")
        return data.provider_id
    try:
        work_order = contracts.get_work_order(session, principal, data.work_order_id)
    except (NotFound, NotPermitted):
        raise Invalid(
            "no such work order", field_errors={"work_order_id": "choose one of your work orders"}
        ) from None
    if work_order.sponsor_id != sponsor_id:
        raise Invalid(
            "the work order is not the study's sponsor's",
            field_errors={"work_order_id": "choose a work order of the study's sponsor"},
        )
    if work_order.program_id != program_id:
        raise Invalid(
            "the work order is for another program",
            field_errors={"work_order_id": "choose a work order of the study's program"},
        )
    if data.provider_id is not None and data.provider_id != work_order.provider_id:
        raise Invalid(
            "the CRO is the work order's provider",
            field_errors={"provider_id": f"the work order is with {work_order.provider_name}"},
        )
    return work_order.provider_id


def _totals_by_site(session: Session, sites: Sequence[StudySite]) -> dict[uuid.UUID, SiteTotals]:
    raw = repository.site_totals(session, [s.id for s in sites])
    return {
        site_id: SiteTotals(
            screened=s, enrolled=e, screen_failed=f, withdrawn=w, last_record_on=last
        )
        for site_id, (s, e, f, w, last) in raw.items()
    }


def _percent(enrolled: int, target: int) -> float:
    return round(100.0 * enrolled / target, 1) if target else 0.0


def _summary(session: Session, study: Study) -> StudySummary:
    sites = repository.sites(session, study.id)
    totals = _totals_by_site(session, sites)
    empty = SiteTotals()
    by_status = {s.value: 0 for s in SiteStatus}
    countries: dict[str, dict[str, int]] = defaultdict(Counter)
    for c in study.countries:
        countries[c.country]["planned_sites"] += c.planned_sites
        countries[c.country]["planned_patients"] += c.planned_patients
    for site in sites:
        by_status[site.status] += 1
        t = totals.get(site.id, empty)
        row = countries[site.country]
        row["sites"] += 1
        row["active_sites"] += int(site.status == SiteStatus.ACTIVE)
        row["screened"] += t.screened
        row["enrolled"] += t.enrolled
    sums = {name: sum(getattr(t, name) for t in totals.values()) for name in COUNT_FIELDS}
    records = repository.records_of_study(session, study.id)
    first_in = next((r.on_date for r, _ in records if r.enrolled > 0), None)
    return StudySummary(
        target_enrollment=study.target_enrollment,
        **sums,
        percent_of_target=_percent(sums["enrolled"], study.target_enrollment),
        sites_total=len(sites),
        sites_by_status=by_status,
        by_country=[
            CountryTotals(
                country=code,
                **{k: row.get(k, 0) for k in ("planned_sites", "planned_patients", "sites")},
                active_sites=row.get("active_sites", 0),
                screened=row.get("screened", 0),
                enrolled=row.get("enrolled", 0),
            )
            for code, row in sorted(countries.items())
        ],
        first_patient_in=first_in,
        last_record_on=records[-1][0].on_date if records else None,
    )


def _program_name(session: Session, principal: Principal, program_id: uuid.UUID) -> str | None:
    """The program's name when the viewer may see the program (the sponsor's people)."""
    found = sourcing.programs_named(session, principal, [program_id])
    return found[0].name if found else None


def _work_order_number(
    session: Session, principal: Principal, work_order_id: uuid.UUID | None
) -> str | None:
    if work_order_id is None:
        return None
    try:
        return contracts.get_work_order(session, principal, work_order_id).number
    except (NotFound, NotPermitted):
        return None


def _study_read(session: Session, principal: Principal, study: Study) -> StudyRead:
    names = _names(session, [study.sponsor_id, study.provider_id])
    return StudyRead(
        id=study.id,
        sponsor_id=study.sponsor_id,
        sponsor_name=names.get(study.sponsor_id, ""),
        program_id=study.program_id,
        program_name=_program_name(session, principal, study.program_id) or "—",
        work_order_id=study.work_order_id,
        work_order_number=_work_order_number(session, principal, study.work_order_id),
        provider_id=study.provider_id,
        provider_name=names.get(study.provider_id) if study.provider_id else None,
        code=study.code,
        title=study.title,
        phase=StudyPhase(study.phase),
        indication=study.indication,
        target_enrollment=study.target_enrollment,
        planned_first_patient_in=study.planned_first_patient_in,
        planned_last_patient_in=study.planned_last_patient_in,
        status=StudyStatus(study.status),
        description=study.description,
        countries=[StudyCountryRead.model_validate(c) for c in study.countries],
        summary=_summary(session, study),
        viewer_role="sponsor" if study.sponsor_id in principal.organization_ids else "provider",
        version=study.version,
        updated_at=study.updated_at,
    )


def get_study(session: Session, principal: Principal, study_id: uuid.UUID) -> StudyRead:
    return _study_read(session, principal, _readable(session, principal, study_id))


def list_studies(
    session: Session,
    principal: Principal,
    *,
    params: PageParams,
    status: StudyStatus | None = None,
) -> Page[StudyListItem]:
    readable = principal.organizations_with(Permission.STUDIES_READ)
    rows, total = repository.studies(
        session,
        readable,
        status=status.value if status else None,
        offset=params.offset,
        limit=params.page_size,
        sort=params.sort_key(repository.STUDY_SORTS, "code"),
    )
    sites = repository.sites_of_studies(session, [r.id for r in rows])
    totals = _totals_by_site(session, sites)
    enrolled: Counter[uuid.UUID] = Counter()
    site_count: Counter[uuid.UUID] = Counter()
    for site in sites:
        site_count[site.study_id] += 1
        enrolled[site.study_id] += totals.get(site.id, SiteTotals()).enrolled
    names = _names(session, [r.sponsor_id for r in rows] + [r.provider_id for r in rows])
    programs = {
        p.id: p.name
        for p in sourcing.programs_named(session, principal, [r.program_id for r in rows])
    }
    items = [
        StudyListItem(
            id=r.id,
            code=r.code,
            title=r.title,
            phase=StudyPhase(r.phase),
            status=StudyStatus(r.status),
            sponsor_name=names.get(r.sponsor_id, ""),
            provider_name=names.get(r.provider_id) if r.provider_id else None,
            program_name=programs.get(r.program_id, "—"),
            target_enrollment=r.target_enrollment,
            enrolled=enrolled[r.id],
            percent_of_target=_percent(enrolled[r.id], r.target_enrollment),
            sites=site_count[r.id],
            planned_last_patient_in=r.planned_last_patient_in,
            updated_at=r.updated_at,
        )
        for r in rows
    ]
    return Page.of(items, total=total, params=params)


def create_study(session: Session, principal: Principal, data: StudyCreate) -> StudyRead:
    try:
        program = sourcing.get_program(session, principal, data.program_id)
    except (NotFound, NotPermitted):
        raise NotFound("no such program") from None
    sponsor_id = program.sponsor_id
    principal.require(Permission.STUDIES_WRITE, sponsor_id)
    if repository.study_by_code(session, sponsor_id, data.code) is not None:
        raise Conflict(
            f"a study numbered {data.code!r} exists", field_errors={"code": "already used"}
        )
    provider_id = _contract(session, principal, sponsor_id, program.id, data)
    study = Study(
        sponsor_id=sponsor_id,
        program_id=program.id,
        **data.model_dump(include=set(STUDY_FIELDS) - {"provider_id"}),
        provider_id=provider_id,
    )
    session.add(study)
    session.flush()
    _audit(
        session, principal, study, action="create", entity_type="study", entity_id=study.id,
        after=audit.snapshot(study, STUDY_FIELDS),
    )  # fmt: skip
    return _study_read(session, principal, study)


def update_study(
    session: Session, principal: Principal, study_id: uuid.UUID, data: StudyUpdate
) -> StudyRead:
    """Change a study (its sponsor only)."""
    study = _writable(session, principal, study_id)
    if side(principal, study) != study.sponsor_id:
        raise NotPermitted("only the sponsor changes the study; the CRO keeps its sites")
    check_version("study", study.version, data.version)
    if data.code != study.code and repository.study_by_code(session, study.sponsor_id, data.code):
        raise Conflict(
            f"a study numbered {data.code!r} exists", field_errors={"code": "already used"}
        )
    provider_id = _contract(session, principal, study.sponsor_id, study.program_id, data)
    before = audit.snapshot(study, STUDY_FIELDS)
    for name, value in data.model_dump(include=set(STUDY_FIELDS) - {"provider_id"}).items():
        setattr(study, name, value)
    study.provider_id = provider_id
    after = audit.snapshot(study, STUDY_FIELDS)
    if after != before:
        study.updated_at = utcnow()
        session.flush()
        _audit(
            session, principal, study, action="update", entity_type="study",
            entity_id=study.id, before=before, after=after,
        )  # fmt: skip
    return _study_read(session, principal, study)


# --- countries ----------------------------------------------------------------------------------


def list_countries(
    session: Session, principal: Principal, study_id: uuid.UUID
) -> list[StudyCountryRead]:
    study = _readable(session, principal, study_id)
    return [StudyCountryRead.model_validate(c) for c in study.countries]


def set_country(
    session: Session, principal: Principal, study_id: uuid.UUID, data: StudyCountryInput
) -> StudyCountryRead:
    """Add a country to the study's plan, or change its planned sites and patients."""
    study = _writable(session, principal, study_id)
    row = repository.country(session, study.id, data.country)
    before = audit.snapshot(row, ("planned_sites", "planned_patients")) if row else None
    if row is None:
        row = StudyCountry(study_id=study.id, **data.model_dump())
        study.countries.append(row)
    else:
        row.planned_sites, row.planned_patients = data.planned_sites, data.planned_patients
    session.flush()
    _audit(
        session, principal, study, action="update" if before else "create",
        entity_type="study_country", entity_id=row.id, before=before,
        after=audit.snapshot(row, ("country", "planned_sites", "planned_patients")),
    )  # fmt: skip
    return StudyCountryRead.model_validate(row)


def remove_country(
    session: Session, principal: Principal, study_id: uuid.UUID, country_id: uuid.UUID
) -> None:
    study = _writable(session, principal, study_id)
    row = repository.country_by_id(session, country_id)
    if row is None or row.study_id != study.id:
        raise NotFound("no such country in this study")
    before = audit.snapshot(row, ("country", "planned_sites", "planned_patients"))
    study.countries.remove(row)
    session.flush()
    _audit(
        session, principal, study, action="delete", entity_type="study_country",
        entity_id=country_id, before=before,
    )  # fmt: skip


# --- sites --------------------------------------------------------------------------------------


def _site_reads(session: Session, study: Study, sites: Sequence[StudySite]) -> list[SiteRead]:
    totals = _totals_by_site(session, sites)
    names = _names(session, [s.provider_id for s in sites])
    reads = []
    for site in sites:
        read = SiteRead.model_validate(site)
        read.provider_name = names.get(site.provider_id) if site.provider_id else None
        read.totals = totals.get(site.id, SiteTotals())
        read.allowed_transitions = sorted(
            SITE_TRANSITIONS[SiteStatus(site.status)], key=list(SiteStatus).index
        )
        reads.append(read)
    return reads


def list_sites(session: Session, principal: Principal, study_id: uuid.UUID) -> list[SiteRead]:
    study = _readable(session, principal, study_id)
    return _site_reads(session, study, repository.sites(session, study.id))


def get_site(session: Session, principal: Principal, site_id: uuid.UUID) -> SiteRead:
    site, study = _site(session, principal, site_id)
    principal.require(Permission.STUDIES_READ, side(principal, study))
    return _site_reads(session, study, [site])[0]


def _check_activation(status: SiteStatus, actual: date | None, today: date) -> None:
    if status in (SiteStatus.ACTIVE, SiteStatus.ON_HOLD) and actual is None:
        raise Invalid(
            f"a site that is {status.value.replace('_', ' ')} has an activation date",
            field_errors={"actual_activation_date": "required for an active or on-hold site"},
        )
    if status in (SiteStatus.PLANNED, SiteStatus.ACTIVATING) and actual is not None:
        raise Invalid(
            f"a {status.value} site is not activated yet",
            field_errors={"actual_activation_date": "leave empty until the site is active"},
        )
    if actual is not None and actual > today:
        raise Invalid(
            "the activation date is in the future",
            field_errors={"actual_activation_date": f"must be on or before {today.isoformat()}"},
        )


def _site_provider(
    session: Session, study: Study, provider_id: uuid.UUID | None
) -> uuid.UUID | None:
    if provider_id is None:
        return study.provider_id
    _check_provider(session, provider_id, "provider_id")
    return provider_id


def create_site(
    session: Session, principal: Principal, study_id: uuid.UUID, data: SiteCreate
) -> SiteRead:
    study = _writable(session, principal, study_id)
    if repository.site_by_code(session, study.id, data.code) is not None:
        raise Conflict(
            f"site {data.code} exists in this study", field_errors={"code": "already used"}
        )
    _check_activation(data.status, data.actual_activation_date, utc_today())
    site = StudySite(
        study_id=study.id,
        **data.model_dump(include=set(SITE_FIELDS) - {"provider_id"}),
        provider_id=_site_provider(session, study, data.provider_id),
    )
    session.add(site)
    session.flush()
    _audit(
        session, principal, study, action="create", entity_type="study_site",
        entity_id=site.id, after=audit.snapshot(site, SITE_FIELDS),
    )  # fmt: skip
    return _site_reads(session, study, [site])[0]


def update_site(
    session: Session, principal: Principal, site_id: uuid.UUID, data: SiteUpdate
) -> SiteRead:
    """Change a site's details (its status changes through ``change_site_status``)."""
    site, study = _site(session, principal, site_id)
    principal.require(Permission.STUDIES_WRITE, side(principal, study))
    check_version("site", site.version, data.version)
    if data.code != site.code and repository.site_by_code(session, study.id, data.code):
        raise Conflict(
            f"site {data.code} exists in this study", field_errors={"code": "already used"}
        )
    before = audit.snapshot(site, SITE_FIELDS)
    for name, value in data.model_dump(include=set(SITE_FIELDS) - {"provider_id"}).items():
        setattr(site, name, value)
    site.provider_id = _site_provider(session, study, data.provider_id)
    after = audit.snapshot(site, SITE_FIELDS)
    if after != before:
        site.updated_at = utcnow()
        session.flush()
        _audit(
            session, principal, study, action="update", entity_type="study_site",
            entity_id=site.id, before=before, after=after,
        )  # fmt: skip
    return _site_reads(session, study, [site])[0]


def change_site_status(
    session: Session, principal: Principal, site_id: uuid.UUID, data: SiteTransition
) -> SiteRead:
    site, study = _site(session, principal, site_id)
    principal.require(Permission.STUDIES_WRITE, side(principal, study))
    check_version("site", site.version, data.version)
    current = SiteStatus(site.status)
    if data.status not in SITE_TRANSITIONS[current]:
        allowed = ", ".join(s.value for s in SITE_TRANSITIONS[current]) or "nothing"
        raise Conflict(
            f"a site that is {current.value.replace('_', ' ')} cannot become "
            f"{data.status.value.replace('_', ' ')} (it may become: {allowed})"
        )
    today = utc_today()
    before = audit.snapshot(site, ("status", "actual_activation_date"))
    if data.status == SiteStatus.ACTIVE and site.actual_activation_date is None:
        on = data.on or today
        if on > today:
            raise Invalid(
                "the activation date is in the future",
                field_errors={"on": f"must be on or before {today.isoformat()}"},
            )
        site.actual_activation_date = on
    if data.status == SiteStatus.PLANNED:
        site.actual_activation_date = None
    site.status = data.status.value
    site.updated_at = utcnow()
    session.flush()
    _audit(
        session, principal, study, action=data.status.value, entity_type="study_site",
        entity_id=site.id, before=before,
        after=audit.snapshot(site, ("status", "actual_activation_date")),
        reason=data.reason or None,
    )  # fmt: skip
    return _site_reads(session, study, [site])[0]


# --- enrollment ---------------------------------------------------------------------------------


def enrollment_refusal(site: SiteRead | StudySite, on_date: date, *, today: date) -> str | None:
    """Why counts of ``on_date`` cannot be recorded for the site, or None."""
    if on_date > today:
        return f"the date {on_date.isoformat()} is in the future"
    activated = site.actual_activation_date
    if activated is None:
        return f"site {site.code} is not activated yet (status {site.status})"
    if on_date < activated:
        return f"site {site.code} was activated on {activated.isoformat()}, after this date"
    return None


def list_enrollment(
    session: Session, principal: Principal, site_id: uuid.UUID
) -> list[EnrollmentRead]:
    site, study = _site(session, principal, site_id)
    principal.require(Permission.STUDIES_READ, side(principal, study))
    return [EnrollmentRead.model_validate(r) for r in repository.records_of_site(session, site.id)]


def add_enrollment(
    session: Session, principal: Principal, site_id: uuid.UUID, data: EnrollmentCreate
) -> EnrollmentRead:
    site, study = _site(session, principal, site_id)
    principal.require(Permission.STUDIES_WRITE, side(principal, study))
    refusal = enrollment_refusal(site, data.on_date, today=utc_today())
    if refusal:
        raise Invalid(refusal, field_errors={"on_date": refusal})
    if (site.id, data.on_date) in repository.record_dates(session, [site.id]):
        raise Conflict(
            f"site {site.code} already has counts for {data.on_date.isoformat()}",
            field_errors={"on_date": "already recorded: choose another date"},
        )
    record = EnrollmentRecord(site_id=site.id, **data.model_dump())
    session.add(record)
    session.flush()
    _audit(
        session, principal, study, action="create", entity_type="enrollment_record",
        entity_id=record.id,
        after={"site": site.code, **audit.snapshot(record, ("on_date", *COUNT_FIELDS))},
    )  # fmt: skip
    return EnrollmentRead.model_validate(record)


def record_enrollment(
    session: Session,
    principal: Principal,
    study_id: uuid.UUID,
    rows: Sequence[EnrollmentRow],
    *,
    source: str,
) -> int:
    """Record many counts at once (an import): all or none, one audit event for the batch.

    The rows should have been checked already (``enrollment_refusal``, unknown sites, dates
    recorded before); any row that still fails refuses the whole batch.
    """
    study = _writable(session, principal, study_id)
    sites = {s.code: s for s in repository.sites(session, study.id)}
    taken = repository.record_dates(session, [s.id for s in sites.values()])
    today = utc_today()
    records = []
    for row in rows:
        site = sites.get(row.site_code)
        if site is None:
            raise Invalid(f"no site {row.site_code} in this study")
        refusal = enrollment_refusal(site, row.on_date, today=today)
        if refusal:
            raise Invalid(refusal)
        if (site.id, row.on_date) in taken:
            raise Conflict(f"site {site.code} already has counts for {row.on_date.isoformat()}")
        taken.add((site.id, row.on_date))
        records.append(
            EnrollmentRecord(
                site_id=site.id, on_date=row.on_date, **row.model_dump(include=set(COUNT_FIELDS))
            )
        )
    session.add_all(records)
    session.flush()
    _audit(
        session, principal, study, action="import", entity_type="study", entity_id=study.id,
        after={
            "enrollment_records": len(records),
            **{name: sum(getattr(r, name) for r in records) for name in COUNT_FIELDS},
        },
        reason=source,
    )  # fmt: skip
    return len(records)


def study_enrollment(
    session: Session, principal: Principal, study_id: uuid.UUID
) -> StudyEnrollment:
    """Every record of the study and the cumulative number enrolled by date."""
    study = _readable(session, principal, study_id)
    records = repository.records_of_study(session, study.id)
    per_day: Counter[date] = Counter()
    for record, _ in records:
        per_day[record.on_date] += record.enrolled
    cumulative, running = [], 0
    for day in sorted(per_day):
        running += per_day[day]
        cumulative.append(CumulativePoint(on_date=day, enrolled=per_day[day], cumulative=running))
    return StudyEnrollment(
        study_id=study.id,
        records=[
            EnrollmentRow(
                site_code=code,
                on_date=r.on_date,
                **{name: getattr(r, name) for name in COUNT_FIELDS},
            )
            for r, code in records
        ],
        cumulative=cumulative,
    )


# --- disruptions (read from parties) ------------------------------------------------------------


def study_disruptions(
    session: Session, principal: Principal, study_id: uuid.UUID
) -> list[DisruptionRead]:
    """The disruptions of the viewer's own organisation that touch the study's countries
    during the study (disruptions are private to whoever declared them)."""
    study = _readable(session, principal, study_id)
    organization_id = side(principal, study)
    if not principal.can(Permission.DISRUPTIONS_READ, organization_id):
        return []
    countries = {c.country for c in study.countries} | {
        s.country for s in repository.sites(session, study.id)
    }
    start = study.planned_first_patient_in or study.created_at.date()
    found: dict[uuid.UUID, DisruptionRead] = {}
    for country in sorted(countries):
        for d in parties.disruptions_covering(session, organization_id, country, start, None):
            found[d.id] = d
    return sorted(found.values(), key=lambda d: (d.starts_on, d.title))
