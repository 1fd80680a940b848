"""Clinical service: studies scoped to their sponsor and CRO, sites and their status steps,
enrollment and the totals, audit events, stale versions."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from opencxo.clinical import service
from opencxo.clinical.schemas import (
    EnrollmentCreate,
    SiteTransition,
    SiteUpdate,
    StudyCountryInput,
    StudyCreate,
    StudyUpdate,
)
from opencxo.core.audit import AuditEvent, verify_chain
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted
from opencxo.core.pagination import PageParams
from opencxo.parties import service as parties
from opencxo.parties.schemas import DisruptionCreate
from tests.clinical.conftest import Clinic, days

ALL = PageParams(page=1, page_size=100)


def _audit_count(clinic: Clinic) -> int:
    return clinic.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def test_a_study_with_a_work_order_is_shared_with_its_cro_and_nobody_else(clinic: Clinic) -> None:
    study = clinic.study()
    assert study.provider_id == clinic.cro_id
    assert study.provider_name == "Corvane Clinical Research"
    assert study.work_order_number is not None
    assert study.viewer_role == "sponsor"

    seen_by_cro = service.get_study(clinic.session, clinic["cro"], study.id)
    assert seen_by_cro.viewer_role == "provider"
    assert [
        s.code for s in service.list_studies(clinic.session, clinic["cro"], params=ALL).items
    ] == [study.code]
    for outsider in ("stranger", "other_cro"):
        with pytest.raises(NotFound, match="no such study"):
            service.get_study(clinic.session, clinic[outsider], study.id)
        assert service.list_studies(clinic.session, clinic[outsider], params=ALL).total == 0
    # an unknown id answers the same
    with pytest.raises(NotFound, match="no such study"):
        service.get_study(clinic.session, clinic["stranger"], uuid.uuid4())


def test_a_study_without_a_cro_is_the_sponsors_alone(clinic: Clinic) -> None:
    study = clinic.study(with_work_order=False)
    assert study.provider_id is None
    with pytest.raises(NotFound):
        service.get_study(clinic.session, clinic["cro"], study.id)


def test_the_program_must_be_the_sponsors(clinic: Clinic) -> None:
    data = StudyCreate(
        program_id=clinic.program_id, code="X-1", title="Someone else's", phase="phase_2",  # type: ignore[arg-type]
        target_enrollment=10,
    )  # fmt: skip
    with pytest.raises(NotFound, match="no such program"):
        service.create_study(clinic.session, clinic["stranger"], data)
    with pytest.raises(NotPermitted):
        service.create_study(clinic.session, clinic["viewer"], data)


def test_the_work_order_must_be_the_sponsors(clinic: Clinic) -> None:
    data = StudyCreate(
        program_id=clinic.program_id, work_order_id=uuid.uuid4(), code="X-2", title="Bad contract",
        phase="phase_2", target_enrollment=10,  # type: ignore[arg-type]
    )  # fmt: skip
    with pytest.raises(Invalid) as caught:
        service.create_study(clinic.session, clinic["manager"], data)
    assert "work_order_id" in caught.value.field_errors
    # the work order names its provider: another CRO is refused
    data = data.model_copy(
        update={"work_order_id": clinic.work_order_id, "provider_id": clinic.other_cro_id}
    )
    with pytest.raises(Invalid) as caught:
        service.create_study(clinic.session, clinic["manager"], data)
    assert "provider_id" in caught.value.field_errors


def test_duplicate_code_and_stale_version_answer_409(clinic: Clinic) -> None:
    study = clinic.study()
    with pytest.raises(Conflict):
        clinic.study()
    fields = {
        "code": study.code, "title": "Renamed", "phase": "phase_2", "target_enrollment": 250,
        "work_order_id": clinic.work_order_id, "status": "enrolling",
        "planned_first_patient_in": study.planned_first_patient_in,
        "planned_last_patient_in": study.planned_last_patient_in,
    }  # fmt: skip
    updated = service.update_study(
        clinic.session, clinic["manager"], study.id, StudyUpdate(**fields, version=study.version)
    )
    assert updated.title == "Renamed" and updated.target_enrollment == 250
    assert updated.version == study.version + 1
    with pytest.raises(Conflict, match="changed by someone else"):
        service.update_study(
            clinic.session,
            clinic["manager"],
            study.id,
            StudyUpdate(**fields, version=study.version),
        )
    # the CRO keeps sites, not the study itself
    with pytest.raises(NotPermitted):
        service.update_study(
            clinic.session, clinic["cro"], study.id, StudyUpdate(**fields, version=updated.version)
        )


def test_sites_move_only_by_the_allowed_steps(clinic: Clinic) -> None:
    study = clinic.study()
    site_id = clinic.site(study.id, "US-001")
    site = service.get_site(clinic.session, clinic["manager"], site_id)
    assert site.status == "planned"
    assert site.provider_id == clinic.cro_id  # the study's CRO by default
    with pytest.raises(Conflict, match="cannot become on hold"):
        service.change_site_status(
            clinic.session,
            clinic["cro"],
            site_id,
            SiteTransition(version=site.version, status="on_hold"),  # type: ignore[arg-type]
        )
    site = service.change_site_status(
        clinic.session,
        clinic["cro"],
        site_id,
        SiteTransition(version=site.version, status="activating"),  # type: ignore[arg-type]
    )
    site = service.change_site_status(
        clinic.session, clinic["cro"], site_id,
        SiteTransition(version=site.version, status="active", on=days(-30)),  # type: ignore[arg-type]
    )  # fmt: skip
    assert site.actual_activation_date == days(-30)
    site = service.change_site_status(
        clinic.session,
        clinic["cro"],
        site_id,
        SiteTransition(version=site.version, status="closed"),  # type: ignore[arg-type]
    )
    assert site.allowed_transitions == []
    with pytest.raises(Conflict):
        service.change_site_status(
            clinic.session,
            clinic["cro"],
            site_id,
            SiteTransition(version=site.version, status="active"),  # type: ignore[arg-type]
        )
    # a stale version is refused too
    with pytest.raises(Conflict, match="changed by someone else"):
        service.change_site_status(
            clinic.session,
            clinic["cro"],
            site_id,
            SiteTransition(version=1, status="closed"),  # type: ignore[arg-type]
        )


def test_site_update_and_permissions(clinic: Clinic) -> None:
    study = clinic.study()
    site_id = clinic.site(study.id, "DE-001", country="DE")
    site = service.get_site(clinic.session, clinic["cro"], site_id)
    body = SiteUpdate(
        **site.model_dump(include={"code", "name", "institution", "country", "city",
                                   "planned_activation_date"}),
        investigator="Dr. Neu", version=site.version,
    )  # fmt: skip
    saved = service.update_site(clinic.session, clinic["manager"], site_id, body)
    assert saved.investigator == "Dr. Neu"
    with pytest.raises(NotPermitted):
        service.update_site(clinic.session, clinic["cro_viewer"], site_id, body)
    with pytest.raises(NotFound, match="no such site"):
        service.get_site(clinic.session, clinic["other_cro"], site_id)


def test_enrollment_counts_and_totals(clinic: Clinic) -> None:
    study = clinic.study()
    service.set_country(
        clinic.session, clinic["manager"], study.id,
        StudyCountryInput(country="us", planned_sites=2, planned_patients=30),
    )  # fmt: skip
    us1 = clinic.site(study.id, "US-001", activated=days(-90))
    us2 = clinic.site(study.id, "US-002", activated=days(-60))
    pl1 = clinic.site(study.id, "PL-001", country="PL", activated=days(-60))
    clinic.site(study.id, "PL-002", country="PL")
    for site_id, on, enrolled in ((us1, -60, 3), (us1, -30, 2), (us2, -30, 4), (pl1, -10, 1)):
        service.add_enrollment(
            clinic.session, clinic["cro"], site_id,
            EnrollmentCreate(on_date=days(on), screened=enrolled + 1, enrolled=enrolled,
                             screen_failed=1),
        )  # fmt: skip
    summary = service.get_study(clinic.session, clinic["manager"], study.id).summary
    assert summary.enrolled == 10
    assert summary.screened == 14
    assert summary.screen_failed == 4
    assert summary.percent_of_target == pytest.approx(100 * 10 / 240, abs=0.05)
    assert summary.sites_by_status["active"] == 3
    assert summary.sites_by_status["planned"] == 1
    assert summary.first_patient_in == days(-60)
    by_country = {c.country: c for c in summary.by_country}
    assert by_country["US"].enrolled == 9 and by_country["US"].planned_patients == 30
    assert by_country["PL"].sites == 2 and by_country["PL"].active_sites == 1
    site = service.get_site(clinic.session, clinic["manager"], us1)
    assert site.totals.enrolled == 5 and site.totals.last_record_on == days(-30)
    cumulative = service.study_enrollment(clinic.session, clinic["manager"], study.id).cumulative
    assert [(p.on_date, p.cumulative) for p in cumulative] == [
        (days(-60), 3), (days(-30), 9), (days(-10), 10),
    ]  # fmt: skip


def test_enrollment_is_refused_before_activation_in_the_future_and_twice(clinic: Clinic) -> None:
    study = clinic.study()
    planned = clinic.site(study.id, "US-009")
    active = clinic.site(study.id, "US-010", activated=days(-20))
    with pytest.raises(Invalid, match="not activated"):
        service.add_enrollment(
            clinic.session, clinic["cro"], planned, EnrollmentCreate(on_date=days(-1), enrolled=1)
        )
    with pytest.raises(Invalid, match="activated on"):
        service.add_enrollment(
            clinic.session, clinic["cro"], active, EnrollmentCreate(on_date=days(-30), enrolled=1)
        )
    with pytest.raises(Invalid, match="future"):
        service.add_enrollment(
            clinic.session, clinic["cro"], active, EnrollmentCreate(on_date=days(1), enrolled=1)
        )
    service.add_enrollment(
        clinic.session, clinic["cro"], active, EnrollmentCreate(on_date=days(-1), enrolled=1)
    )
    with pytest.raises(Conflict, match="already has counts"):
        service.add_enrollment(
            clinic.session, clinic["cro"], active, EnrollmentCreate(on_date=days(-1), enrolled=2)
        )
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        EnrollmentCreate(on_date=days(-1), enrolled=-1)


def test_every_write_is_audited_and_the_chain_holds(clinic: Clinic) -> None:
    before = _audit_count(clinic)
    study = clinic.study()
    site_id = clinic.site(study.id, "US-001", activated=days(-10))
    service.add_enrollment(
        clinic.session, clinic["cro"], site_id, EnrollmentCreate(on_date=days(-1), enrolled=1)
    )
    country = service.set_country(
        clinic.session, clinic["cro"], study.id, StudyCountryInput(country="US", planned_sites=1)
    )
    service.remove_country(clinic.session, clinic["manager"], study.id, country.id)
    assert _audit_count(clinic) == before + 5
    events = (
        clinic.session.execute(select(AuditEvent).order_by(AuditEvent.sequence.desc()).limit(5))
        .scalars()
        .all()
    )
    assert {e.entity_type for e in events} == {
        "study", "study_site", "enrollment_record", "study_country",
    }  # fmt: skip
    cro_event = next(e for e in events if e.entity_type == "study_site")
    assert cro_event.organization_id == clinic.cro_id
    clinic.session.commit()
    assert verify_chain(clinic.session).ok


def test_the_disruptions_panel_reads_the_viewers_own_disruptions(clinic: Clinic) -> None:
    study = clinic.study()
    clinic.site(study.id, "PL-001", country="PL", activated=days(-100))
    parties.declare_disruption(
        clinic.session, clinic["manager"],
        DisruptionCreate(title="Epidemic in Poland", cause="epidemic", country="PL",  # type: ignore[arg-type]
                         starts_on=days(-21)),
    )  # fmt: skip
    parties.declare_disruption(
        clinic.session, clinic["manager"],
        DisruptionCreate(title="Typhoon", cause="natural_disaster", country="KR",  # type: ignore[arg-type]
                         starts_on=days(-5)),
    )  # fmt: skip
    titles = [
        d.title for d in service.study_disruptions(clinic.session, clinic["manager"], study.id)
    ]
    assert titles == ["Epidemic in Poland"]
    # the sponsor's disruptions are private: the CRO sees only its own
    assert service.study_disruptions(clinic.session, clinic["cro"], study.id) == []
