"""QA's defects on the demo, through the JSON API: absurd dates, site offers the recovery engine
refuses, and a disruption that contradicts a site's observed enrolments. Bad input answers a 422
that says what to fix and changes nothing; stored data never answers a 500."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from opencxo.clinical import service
from opencxo.clinical.report_pdf import _months
from opencxo.clinical.schemas import EnrollmentCreate
from opencxo.core.audit import AuditEvent
from opencxo.models import EnrollmentRecord, RecoveryPlan, SiteOffer, Study, StudySite
from opencxo.parties.models import Disruption
from tests.clinical.conftest import Clinic, days
from tests.clinical.test_forecasting import SUSPENDED_FOR
from tests.clinical.test_recovery_api import API, body, count, problem, tokens
from tests.clinical.test_recovery_service import recovery_world
from tests.web.conftest import login

TOO_EARLY = "Input should be greater than or equal to 1900-01-01"
TOO_LATE = "Input should be less than or equal to 2199-12-31"


def _errors(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["field"], e["message"]) for e in answer["errors"]]


# --- 1. dates out of any plan's range -----------------------------------------------------------


def test_dates_outside_1900_to_2199_are_refused_and_change_nothing(
    client: TestClient, clinic: Clinic
) -> None:
    who = tokens(clinic)
    study = clinic.study()
    site_id = clinic.site(study.id, "US-001", activated=days(-30))
    clinic.session.commit()

    def counts() -> tuple[int, ...]:
        return tuple(count(clinic, m) for m in (Study, StudySite, EnrollmentRecord, AuditEvent))

    before = counts()
    new_study = {
        "program_id": str(clinic.program_id), "code": "NWT-204-999", "title": "Far out",
        "phase": "phase_2", "target_enrollment": 10,
        "planned_first_patient_in": "0001-01-01", "planned_last_patient_in": "9999-12-31",
    }  # fmt: skip
    refused = problem(client.post(f"{API}/studies", json=new_study, headers=who["manager"]), 422)
    assert _errors(refused) == [
        ("planned_first_patient_in", TOO_EARLY),
        ("planned_last_patient_in", TOO_LATE),
    ]
    site = {
        "code": "US-009", "name": "Old site", "country": "US", "status": "active",
        "actual_activation_date": "0001-01-01", "planned_activation_date": "9999-12-31",
    }  # fmt: skip
    refused = problem(
        client.post(f"{API}/studies/{study.id}/sites", json=site, headers=who["cro"]), 422
    )
    assert _errors(refused) == [
        ("planned_activation_date", TOO_LATE),
        ("actual_activation_date", TOO_EARLY),
    ]
    refused = problem(
        client.post(f"{API}/study-sites/{site_id}/enrollment",
                    json={"on_date": "1899-12-31", "enrolled": 1}, headers=who["cro"]),
        422,
    )  # fmt: skip
    assert _errors(refused) == [("on_date", TOO_EARLY)]
    refused = problem(
        client.post(f"{API}/study-sites/{site_id}/status",
                    json={"version": 1, "status": "on_hold", "on": "2200-01-01"}, headers=who["cro"]),
        422,
    )  # fmt: skip
    assert _errors(refused) == [("on", TOO_LATE)]
    assert counts() == before
    # the boundaries themselves are dates
    ok = {**new_study, "planned_first_patient_in": "1900-01-01",
          "planned_last_patient_in": "2199-12-31"}  # fmt: skip
    assert client.post(f"{API}/studies", json=ok, headers=who["manager"]).status_code == 201


def test_the_pdf_of_a_study_stored_with_absurd_dates_renders(
    client: TestClient, clinic: Clinic
) -> None:
    """Rows stored before the dates were bounded: 0001-01-01 → 9999-12-31, a site open since
    0001-01-01. The PDF's month ticks no longer step past year 9999 (was a 500)."""
    who = tokens(clinic)
    study = clinic.study()
    site_id = clinic.site(study.id, "US-001", activated=days(-30))
    service.add_enrollment(
        clinic.session, clinic["cro"], site_id, EnrollmentCreate(on_date=days(-10), enrolled=2)
    )
    s = clinic.session
    s.execute(update(Study).where(Study.id == study.id).values(
        planned_first_patient_in=date(1, 1, 1), planned_last_patient_in=date(9999, 12, 31)))  # fmt: skip
    s.execute(update(StudySite).where(StudySite.id == site_id).values(
        actual_activation_date=date(1, 1, 1)))  # fmt: skip
    s.commit()
    for url in (f"{API}/studies/{study.id}/report.pdf?paths=1000",):
        pdf = client.get(url, headers=who["manager"])
        assert pdf.status_code == 200, pdf.text
        assert pdf.content.startswith(b"%PDF-")


def test_month_ticks_cover_the_whole_calendar_in_at_most_8_steps() -> None:
    ticks = _months(date(1, 1, 1), date(9999, 12, 31))
    assert 1 <= len(ticks) <= 8
    assert [date.fromordinal(int(t)).month for t in ticks] == [1] * len(ticks)
    assert date.fromordinal(int(ticks[-1])) <= date(9999, 12, 31)
    # short spans keep their ticks: every 1, 2, 3, 6, 12 or 24 months, first of the month
    assert [date.fromordinal(int(t)) for t in _months(date(2026, 1, 15), date(2026, 4, 2))] == [
        date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1),
    ]  # fmt: skip
    assert len(_months(date(2020, 1, 1), date(2034, 12, 31))) == 8  # 180 months: every 24
    assert _months(date(2026, 5, 2), date(2026, 5, 1)) == []


# --- 2. site offers the recovery engine refuses -------------------------------------------------


def test_site_offer_figures_are_bounded_by_the_engine_and_a_stored_one_is_a_422(
    client: TestClient, clinic: Clinic
) -> None:
    study_id, offers = recovery_world(clinic)
    who = tokens(clinic)
    offer = {
        "name": "Huge network", "country": "CZ", "expected_rate_per_site_per_month": 0.7,
        "activation_lag_days": 60, "startup_cost_per_site": "99999999999999.99",
        "monthly_cost_per_site": "2600.00", "cost_per_patient": "1000000000000.01",
        "capacity_sites": 1001,
    }  # fmt: skip
    offers_before = count(clinic, SiteOffer)
    refused = problem(client.post(f"{API}/site-offers", json=offer, headers=who["cro"]), 422)
    assert _errors(refused) == [
        ("startup_cost_per_site", "Input should be less than or equal to 1000000000000.00"),
        ("cost_per_patient", "Input should be less than or equal to 1000000000000.00"),
        ("capacity_sites", "Input should be less than or equal to 1000"),
    ]
    assert count(clinic, SiteOffer) == offers_before
    at_bound = {**offer, "startup_cost_per_site": "1000000000000.00",
                "cost_per_patient": "11000.00", "capacity_sites": 4}  # fmt: skip
    assert client.post(f"{API}/site-offers", json=at_bound, headers=who["cro"]).status_code == 201

    # an offer stored before the bound: the plan is refused with a 422 naming it, nothing stored
    clinic.session.execute(update(SiteOffer).where(SiteOffer.id == offers["CZ"]).values(
        startup_cost_per_site=Decimal("99999999999999.99")))  # fmt: skip
    clinic.session.commit()
    name = clinic.session.get(SiteOffer, offers["CZ"]).name  # type: ignore[union-attr]
    plans_before = count(clinic, RecoveryPlan)
    answer = problem(
        client.post(f"{API}/studies/{study_id}/recovery-plans", json=body(),
                    headers=who["manager"]),
        422,
    )  # fmt: skip
    text = f"site offer {name!r}: startup_cost_per_site = 99999999999999.99 must be <= 1e+12"
    assert answer["detail"] == (
        f"cannot plan a recovery: {text}; correct the offer under Site offers"
    )
    assert _errors(answer) == [("offers", text)]
    assert count(clinic, RecoveryPlan) == plans_before


# --- 4. a disruption declared over a site's observed enrolments ---------------------------------


def test_a_suspension_declared_before_a_site_enrolled_leaves_the_forecast_working(
    client: TestClient, clinic: Clinic
) -> None:
    """DE open for half a year with 4 enrolled; a US site opens 20 days ago and enrols 2; the
    sponsor then declares US suspended from 65 days ago (multiplier 0, open-ended). The 2 US
    patients are facts: the forecast fits on them, and expects no further US enrollment."""
    who = tokens(clinic)
    study = clinic.study()
    de = clinic.site(study.id, "DE-001", country="DE", activated=days(-187))
    us = clinic.site(study.id, "US-001", activated=days(-20))
    for site, on, n in ((de, -120, 4), (us, -15, 2)):
        service.add_enrollment(
            clinic.session, clinic["cro"], site, EnrollmentCreate(on_date=days(on), enrolled=n)
        )
    clinic.session.commit()
    declared = client.post(
        f"{API}/disruptions",
        json={"title": "US hold", "cause": "regulatory", "country": "US",
              "starts_on": days(-65).isoformat(), "enrollment_multiplier": 0},
        headers=who["manager"],
    )  # fmt: skip
    assert declared.status_code == 201, declared.text
    forecast = client.get(
        f"{API}/studies/{study.id}/forecast?paths=1000&seed=3", headers=who["manager"]
    )
    assert forecast.status_code == 200, forecast.text
    found = forecast.json()
    assert found["basis"] == "fitted" and found["enrolled_to_date"] == 6
    assert [d["place"] for d in found["disruptions"]] == ["US"]
    # the suspension slows the forecast: fewer patients by the last point with it than without
    with_it, without = found["with_disruptions"], found["without_disruptions"]
    assert with_it["cumulative"][-1]["mean"] < without["cumulative"][-1]["mean"]
    assert (
        client.get(
            f"/api/v1/studies/{study.id}/report?paths=1000", headers=who["manager"]
        ).status_code
        == 200
    )


# --- 5. disruptions at the ends of the calendar ---------------------------------------------------


def test_disruptions_at_the_ends_of_the_calendar_leave_every_figure_working(
    client: TestClient, clinic: Clinic
) -> None:
    """Disruptions declared through the API on the first and last days accepted (1900-01-01,
    2199-12-31): a US one lasting all 300 years, a German suspension open since 1900, a Polish
    one until 2199 and a European one from 2199 on, freezing two planned sites. Exposures are
    weighted from 1900, activations frozen until 2200: the forecast, the study's disruptions,
    the report and its PDF, a recovery plan and the study page all answer, and so they do for
    dates stored before the check (years 1 and 9999)."""
    study_id, _ = recovery_world(clinic)
    clinic.site(study_id, "US-009")  # planned, frozen by the US disruption
    clinic.site(study_id, "DE-009", country="DE")
    clinic.session.commit()
    who = tokens(clinic)
    bodies = [
        {"title": "US, 1900–2199", "country": "US", "starts_on": "1900-01-01",
         "ends_on": "2199-12-31", "enrollment_multiplier": 0.5},
        {"title": "Germany since 1900", "country": "DE", "starts_on": "1900-01-01"},
        {"title": "Poland until 2199", "country": "PL", "starts_on": days(-5).isoformat(),
         "ends_on": "2199-12-31"},
        {"title": "Europe from 2199", "region": "Europe", "starts_on": "2199-12-31"},
    ]  # fmt: skip
    ids = []
    for declared_body in bodies:
        declared = client.post(
            f"{API}/disruptions",
            json={"cause": "other", "freeze_activations": True, **declared_body},
            headers=who["manager"],
        )
        assert declared.status_code == 201, declared.text
        ids.append(declared.json()["id"])
    login(client, clinic.emails["manager"])

    def every_figure() -> dict[str, Any]:
        manager = who["manager"]
        forecast = client.get(
            f"{API}/studies/{study_id}/forecast?paths=1000&seed=3", headers=manager
        )
        assert forecast.status_code == 200, forecast.text
        listed = client.get(f"{API}/studies/{study_id}/disruptions", headers=manager)
        assert listed.status_code == 200, listed.text
        assert len(listed.json()) == 5  # and recovery_world's epidemic in Poland
        report = client.get(f"{API}/studies/{study_id}/report?paths=1000", headers=manager)
        assert report.status_code == 200, report.text
        assert len(report.json()["disruptions"]) == 5
        pdf = client.get(f"{API}/studies/{study_id}/report.pdf?paths=1000", headers=manager)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        plan = client.post(
            f"{API}/studies/{study_id}/recovery-plans", json=body(paths=1000), headers=manager
        )
        assert plan.status_code == 201, plan.text
        assert client.get(f"/studies/{study_id}").status_code == 200
        found: dict[str, Any] = forecast.json()
        return found

    found = every_figure()
    assert found["sites_planned"] == 2
    with_them, without = found["with_disruptions"], found["without_disruptions"]
    assert with_them["completion_date_p50"] > without["completion_date_p50"]

    # dates stored before the check: year 1 and year 9999
    for disruption_id, dates in zip(
        ids,
        [
            {"starts_on": date(1, 1, 1), "ends_on": date(9999, 12, 31)},
            {"starts_on": date(1, 1, 1)},
            {"ends_on": date(9999, 12, 31)},
            {"starts_on": date(9999, 12, 31)},
        ],
        strict=True,
    ):
        clinic.session.execute(
            update(Disruption).where(Disruption.id == uuid.UUID(disruption_id)).values(**dates)
        )
    clinic.session.commit()
    again = every_figure()
    assert [(d["title"], d["starts_on"], d["ends_on"]) for d in again["disruptions"]] == [
        ("Germany since 1900", "0001-01-01", None),
        ("US, 1900–2199", "0001-01-01", "9999-12-31"),
        ("Epidemic in Poland", days(-SUSPENDED_FOR).isoformat(), None),
        ("Poland until 2199", days(-5).isoformat(), "9999-12-31"),
        ("Europe from 2199", "9999-12-31", None),
    ]
