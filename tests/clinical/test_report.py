"""The study status report (``opencxo.clinical.report``): its numbers, the printable page, the
PDF, the JSON API, access, and a study that cannot be forecast."""

from __future__ import annotations

import base64
import json
import re
import uuid
import zlib
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opencxo.clinical import forecasting, recovery, report, service
from opencxo.clinical.recovery_schemas import RecoveryRequest, SiteOfferCreate
from opencxo.clinical.report_pdf import report_pdf
from opencxo.clinical.schemas import (
    EnrollmentCreate,
    SiteTransition,
    StudyCountryInput,
    StudyCreate,
)
from opencxo.core.auth import service as auth
from opencxo.core.errors import Invalid, NotFound
from tests.clinical.conftest import TODAY, Clinic, days
from tests.clinical.test_forecasting import _demo_like
from tests.web.conftest import login

PATHS = 2_000
# site, day of the record (relative to today), screened, enrolled, screen failed, withdrawn
RECORDS = [
    ("US-001", -240, 14, 10, 4, 0), ("US-001", -100, 7, 5, 2, 1), ("US-001", -20, 4, 3, 1, 0),
    ("US-002", -150, 9, 8, 1, 0), ("DE-001", -200, 8, 6, 2, 1), ("PL-002", -170, 5, 4, 1, 0),
]  # fmt: skip


def _study(clinic: Clinic) -> uuid.UUID:
    """Target 240, plan FPI today − 300 → LPI today + 150. Sites: US-001 and US-002 active,
    DE-001 on hold, PL-001 planned, PL-002 closed; 36 patients enrolled (26 US, 6 DE, 4 PL).
    Planned countries: US 3 sites / 120 patients, DE 2 / 60, PL 2 / 60."""
    study = clinic.study()
    s = clinic.session
    ids = {
        "US-001": clinic.site(study.id, "US-001", activated=days(-250)),
        "US-002": clinic.site(study.id, "US-002", activated=days(-200)),
        "DE-001": clinic.site(study.id, "DE-001", country="DE", activated=days(-220)),
        "PL-001": clinic.site(study.id, "PL-001", country="PL"),
        "PL-002": clinic.site(study.id, "PL-002", country="PL", activated=days(-180)),
    }
    for code, day, screened, enrolled, failed, withdrawn in RECORDS:
        service.add_enrollment(
            s,
            clinic["cro"],
            ids[code],
            EnrollmentCreate(
                on_date=days(day),
                screened=screened,
                enrolled=enrolled,
                screen_failed=failed,
                withdrawn=withdrawn,
            ),
        )
    for code, status in (("DE-001", "on_hold"), ("PL-002", "closed")):
        version = service.get_site(s, clinic["cro"], ids[code]).version
        service.change_site_status(
            s,
            clinic["cro"],
            ids[code],
            SiteTransition(version=version, status=status),
        )
    for country, sites, patients in (("US", 3, 120), ("DE", 2, 60), ("PL", 2, 60)):
        service.set_country(
            s,
            clinic["manager"],
            study.id,
            StudyCountryInput(country=country, planned_sites=sites, planned_patients=patients),
        )
    s.commit()
    return study.id


def _pdf_text(data: bytes) -> str:
    """The text of a PDF's content streams, without reportlab: plain, or ASCII85 + Flate as
    reportlab compresses them."""
    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\n?endstream", data, re.S):
        if stream.rstrip().endswith(b"~>"):  # ASCII85
            stream = zlib.decompress(base64.a85decode(stream.strip().removesuffix(b"~>")))
        chunks.append(stream)
    return b"\n".join(chunks).decode("latin-1")


def _figure(html: str, chart_id: str) -> dict[str, Any]:
    match = re.search(rf'id="{chart_id}-data">(.*?)</script>', html, re.S)
    assert match, f"no {chart_id} data on the page"
    figure: dict[str, Any] = json.loads(match.group(1))
    return figure


# --- the numbers --------------------------------------------------------------------------------


def test_sites_by_status_and_country_count_the_sites_and_their_patients(clinic: Clinic) -> None:
    study_id = _study(clinic)
    found = report.study_report(clinic.session, clinic["manager"], study_id, paths=PATHS)
    sites = found.sites
    assert sites.total == 5
    by_status = {r.status.value: (r.sites, r.screened, r.enrolled) for r in sites.by_status}
    assert by_status == {
        "planned": (1, 0, 0),
        "activating": (0, 0, 0),
        "active": (2, 14 + 7 + 4 + 9, 10 + 5 + 3 + 8),
        "on_hold": (1, 8, 6),
        "closed": (1, 5, 4),
    }
    rows = {
        c.country: (
            c.planned_sites, c.planned_patients, c.sites, c.planned, c.activating, c.active,
            c.on_hold, c.closed, c.screened, c.enrolled,
        )
        for c in sites.by_country
    }  # fmt: skip
    assert rows == {
        "DE": (2, 60, 1, 0, 0, 0, 1, 0, 8, 6),
        "PL": (2, 60, 2, 1, 0, 0, 0, 1, 5, 4),
        "US": (3, 120, 2, 0, 0, 2, 0, 0, 34, 26),
    }
    assert [c.country_name for c in sites.by_country] == ["Germany", "Poland", "United States"]
    assert [(r.code, r.status.value, r.enrolled) for r in sites.sites] == [
        ("DE-001", "on_hold", 6),
        ("PL-001", "planned", 0),
        ("PL-002", "closed", 4),
        ("US-001", "active", 18),
        ("US-002", "active", 8),
    ]


def test_enrollment_against_the_straight_line_plan_today(clinic: Clinic) -> None:
    study_id = _study(clinic)
    found = report.study_report(clinic.session, clinic["viewer"], study_id, paths=PATHS)
    e = found.enrollment
    assert (e.as_of, e.target) == (TODAY, 240)
    assert (e.screened, e.enrolled, e.screen_failed, e.withdrawn) == (47, 36, 11, 2)
    assert e.percent_of_target == 15.0
    # 300 of the 450 planned days have passed: 2/3 of 240
    assert e.plan == 160.0
    assert e.difference == -124.0
    assert e.percent_of_plan == 22.5
    assert e.first_patient_in == days(-240)
    assert e.last_record_on == days(-20)
    assert [p.cumulative for p in e.cumulative] == [10, 16, 20, 28, 33, 36]


def test_enrollment_on_an_earlier_report_date_counts_only_the_records_until_then(
    clinic: Clinic,
) -> None:
    study_id = _study(clinic)
    as_of = days(-100)
    found = report.study_report(
        clinic.session, clinic["manager"], study_id, as_of=as_of, paths=PATHS
    )
    e = found.enrollment
    assert e.as_of == as_of and found.header.report_date == as_of
    assert e.enrolled == 10 + 5 + 8 + 6 + 4 == 33
    assert e.plan == round(200 / 450 * 240, 1) == 106.7
    assert e.difference == -73.7
    assert e.last_record_on == as_of
    assert {r.code: r.enrolled for r in found.sites.sites}["US-001"] == 15
    assert found.forecast is not None and found.forecast.as_of == as_of


def test_the_by_month_table_runs_from_the_planned_fpi_to_the_report_date(clinic: Clinic) -> None:
    study_id = _study(clinic)
    found = report.study_report(clinic.session, clinic["manager"], study_id, paths=PATHS)
    months = found.enrollment.by_month
    first = days(-300)
    assert months[0].month == f"{first.year}-{first.month:02d}"
    assert months[-1].month == TODAY.strftime("%Y-%m") and months[-1].period_end == TODAY
    span = (TODAY.year - first.year) * 12 + TODAY.month - first.month + 1
    assert len(months) == span
    assert sum(m.enrolled for m in months) == 36
    for m in months:
        assert m.cumulative == sum(n for _, d, _, n, _, _ in RECORDS if days(d) <= m.period_end)
        share = min(max((m.period_end - first).days / 450, 0.0), 1.0)
        assert m.plan == round(share * 240, 1)
        assert m.plan is not None and m.difference == round(m.cumulative - m.plan, 1)
    assert months[-1].plan == 160.0


def test_the_forecast_is_the_forecast_services_with_the_same_seed(clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    found = report.study_report(clinic.session, clinic["manager"], study_id, paths=PATHS, seed=7)
    expected = forecasting.study_forecast(
        clinic.session, clinic["manager"], study_id, paths=PATHS, seed=7
    )
    assert found.forecast == expected
    assert found.forecast_problem is None
    f = found.forecast
    assert f.with_disruptions is not None
    assert f.with_disruptions.completion_date_p50 is not None
    facts = {a.label: a.value for a in found.assumptions}
    assert facts["As-of date"] == TODAY.isoformat()
    assert facts["Deadline"] == days(150).isoformat()
    assert facts["Basis of the site rates"].startswith("fitted on the open sites")
    assert facts["Site-rate shape α"].startswith(f"{f.alpha:.3f} ± ")
    assert facts["Site-rate rate β"].startswith(f"{f.beta_days:.1f} days ± ")
    assert facts["Mean rate"] == f"{f.mean_rate_per_site_per_month:.2f} patients per site per month"
    assert facts["Monte Carlo"] == "2,000 paths, seed 7; both runs share the seed"
    assert facts["Parameter uncertainty"].startswith("included")
    assert facts["Sites"].startswith("9 open, 2 planned")
    assert facts["Disruptions applied"] == "Epidemic in Poland (PL)"
    assert [(d.title, d.place, d.enrollment_multiplier) for d in found.disruptions] == [
        ("Epidemic in Poland", "PL", 0.0)
    ]
    assert found.recovery is None


def test_a_design_stage_forecast_says_so(clinic: Clinic) -> None:
    study = clinic.study()
    clinic.site(study.id, "US-001", activated=days(-10))
    clinic.session.commit()
    found = report.study_report(clinic.session, clinic["manager"], study.id, paths=PATHS)
    facts = {a.label: a.value for a in found.assumptions}
    assert found.forecast is not None and found.forecast.basis == "design_stage"
    assert facts["Basis of the site rates"].startswith("design-stage prior")
    assert "±" not in facts["Site-rate shape α"]


def test_a_study_without_sites_gets_its_report_with_the_reason_instead_of_a_forecast(
    clinic: Clinic,
) -> None:
    study = clinic.study()
    clinic.session.commit()
    found = report.study_report(clinic.session, clinic["manager"], study.id, paths=PATHS)
    assert found.forecast is None and found.assumptions == []
    assert found.forecast_problem is not None and "add its sites" in found.forecast_problem
    assert found.sites.total == 0 and found.enrollment.enrolled == 0
    assert found.enrollment.by_month[-1].cumulative == 0


def test_a_study_that_reached_its_target_gets_its_report(clinic: Clinic) -> None:
    created = service.create_study(
        clinic.session,
        clinic["manager"],
        StudyCreate(
            program_id=clinic.program_id,
            code="NWT-204-101",
            title="Phase I, done",
            phase="phase_1",
            target_enrollment=5,
            planned_first_patient_in=days(-60),
            planned_last_patient_in=days(-10),
        ),
    )
    site = clinic.site(created.id, "US-001", activated=days(-50), actor="manager")
    service.add_enrollment(
        clinic.session, clinic["manager"], site, EnrollmentCreate(on_date=days(-30), enrolled=5)
    )
    clinic.session.commit()
    found = report.study_report(clinic.session, clinic["manager"], created.id, paths=PATHS)
    assert found.forecast is None
    assert found.forecast_problem is not None and "reached already" in found.forecast_problem
    assert found.enrollment.plan == 5.0 and found.enrollment.difference == 0.0
    assert report_pdf(found).startswith(b"%PDF-")


def test_bad_options_and_foreign_organisations_are_refused(clinic: Clinic) -> None:
    study_id = _study(clinic)
    for name in ("stranger", "other_cro"):
        with pytest.raises(NotFound):
            report.study_report(clinic.session, clinic[name], study_id, paths=PATHS)
    with pytest.raises(Invalid) as future:
        report.study_report(clinic.session, clinic["manager"], study_id, as_of=days(1))
    assert "as_of" in future.value.field_errors
    with pytest.raises(Invalid):
        report.study_report(clinic.session, clinic["manager"], study_id, paths=10)
    with pytest.raises(Invalid):
        report.study_report(clinic.session, clinic["manager"], study_id, seed=-1)


# --- the PDF ------------------------------------------------------------------------------------


def test_the_pdf_shows_the_sections_the_study_and_the_p50_date(clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    found = report.study_report(clinic.session, clinic["manager"], study_id, paths=PATHS)
    data = report_pdf(found, compress=False)
    assert data.startswith(b"%PDF-")
    text = _pdf_text(data)
    assert found.forecast is not None and found.forecast.with_disruptions is not None
    p50 = found.forecast.with_disruptions.completion_date_p50
    assert p50 is not None
    for expected in (
        "Study status report", "NWT-204-201", "Corvane Clinical Research",
        "Northwind Therapeutics", "1. Enrollment against plan", "Enrollment by month",
        "2. Enrollment forecast", "Assumptions", "3. Sites", "4. Disruptions",
        "Epidemic in Poland", "5. Recovery plan", "No recovery plan proposed.", p50.isoformat(),
        "Enrolled \\(actual, cumulative\\)", "Forecast P50 without disruptions",
    ):  # fmt: skip
        assert expected in text, expected
    # the document's dates are the report date, so the same report gives the same bytes
    stamp = TODAY.strftime("D:%Y%m%d000000")
    assert f"/CreationDate ({stamp}".encode() in data
    assert report_pdf(found, compress=False) == data
    assert report_pdf(found) == report_pdf(found)


# --- the recovery plan -------------------------------------------------------------------------


def test_the_latest_recovery_plan_is_in_the_report_the_pdf_and_the_page(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic, disruption=False)
    recovery.create_site_offer(
        clinic.session,
        clinic["cro"],
        SiteOfferCreate(
            name="Czech GI network",
            country="CZ",
            city="Prague",
            expected_rate_per_site_per_month=1.5,
            activation_lag_days=30,
            startup_cost_per_site=Decimal("25000"),
            monthly_cost_per_site=Decimal("3000"),
            cost_per_patient=Decimal("8000"),
            capacity_sites=10,
        ),
    )
    plan = recovery.propose_recovery_plan(
        clinic.session, clinic["manager"], study_id, RecoveryRequest(paths=PATHS)
    )
    clinic.session.commit()
    found = report.study_report(clinic.session, clinic["manager"], study_id, paths=PATHS)
    r = found.recovery
    assert r is not None and r.plan_id == plan.id
    assert (r.status, r.outcome, r.message) == (plan.status, plan.outcome, plan.message)
    assert (r.added_cost, r.savings, r.net_cost, r.currency) == (
        plan.added_cost, plan.savings, plan.net_cost, plan.currency,
    )  # fmt: skip
    assert (r.probability_before, r.probability_after) == (
        plan.probability_before,
        plan.probability_after,
    )
    assert (r.completion_before, r.completion_after) == (
        plan.completion_before,
        plan.completion_after,
    )
    assert r.added == plan.added and r.closed == plan.closed
    assert r.proposed_by == "Northwind Therapeutics" and r.deadline == days(150)
    # the CRO reads only the plans it proposed itself
    assert (
        report.study_report(clinic.session, clinic["cro"], study_id, paths=PATHS).recovery is None
    )

    text = _pdf_text(report_pdf(found))
    assert "No recovery plan proposed." not in text
    for expected in ("Czech GI network", f"{plan.net_cost:,.2f} USD", "Sites to add"):
        assert expected in text, expected
    login(client, clinic.emails["manager"])
    html = client.get(f"/studies/{study_id}/report?paths=2000").text
    assert 'data-testid="report-recovery-added"' in html and "Czech GI network" in html
    assert f"{plan.net_cost:,.2f} USD" in html
    assert "No recovery plan proposed." not in html


# --- the page, the PDF download and the API -----------------------------------------------------


def test_the_printable_page_has_every_section_the_chart_and_the_downloads(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic)
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study_id}/report?paths=2000&seed=5")
    assert page.status_code == 200, page.text
    html = page.text
    for testid in (
        "report", "report-header", "report-enrollment", "report-by-month", "report-forecast",
        "report-scenarios", "report-assumptions", "report-sites", "report-sites-by-status",
        "report-sites-by-country", "report-site-list", "report-disruptions", "report-recovery",
        "report-no-recovery", "report-print", "report-pdf",
    ):  # fmt: skip
        assert f'data-testid="{testid}"' in html, testid
    assert "No recovery plan proposed." in html
    assert "@media print" in html and "size: A4" in html and "break-before: page" in html
    assert 'onclick="window.print()"' in html
    assert f'href="/studies/{study_id}/report.pdf?paths=2000&amp;seed=5"' in html
    assert '<script src="/assets/plotly.min.js"></script>' in html and "cdn" not in html.lower()
    found = report.study_report(clinic.session, clinic["manager"], study_id, paths=2000, seed=5)
    assert found.forecast is not None and found.forecast.with_disruptions is not None
    p50 = found.forecast.with_disruptions.completion_date_p50
    assert p50 is not None and p50.isoformat() in html
    figure = _figure(html, "report-chart")
    names = [t["name"] for t in figure["data"]]
    assert names[:2] == ["Enrolled (actual, cumulative)", "Plan (straight line FPI → LPI)"]
    assert "Forecast P10–P90 with disruptions" in names
    assert "Forecast median without disruptions" in names
    assert any(str(n).startswith("Target (240") for n in names)


def test_bad_page_options_are_shown_next_to_their_field(client: TestClient, clinic: Clinic) -> None:
    study_id = _study(clinic)
    login(client, clinic.emails["manager"])
    tomorrow = days(1).isoformat()
    page = client.get(f"/studies/{study_id}/report?paths=5&seed=x&as_of={tomorrow}")
    assert page.status_code == 200, page.text
    assert page.text.count("is-invalid") == 3
    assert 'data-testid="report-scenarios"' in page.text  # the defaults still report
    assert client.get(f"/studies/{study_id}/report.pdf?paths=5").status_code == 422


def test_the_pdf_downloads_with_the_study_code_and_date_in_its_name(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _study(clinic)
    login(client, clinic.emails["cro"])
    response = client.get(f"/studies/{study_id}/report.pdf?paths=2000")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    name = f"NWT-204-201-status-{TODAY.isoformat()}.pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert response.content.startswith(b"%PDF-")
    text = _pdf_text(response.content)
    assert "NWT-204-201" in text and "US-001" in text


def test_a_study_without_sites_renders_the_reason_on_the_page_and_in_the_pdf(
    client: TestClient, clinic: Clinic
) -> None:
    study = clinic.study()
    clinic.session.commit()
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study.id}/report")
    assert page.status_code == 200, page.text
    assert 'data-testid="report-forecast-problem"' in page.text and "add its sites" in page.text
    pdf = client.get(f"/studies/{study.id}/report.pdf")
    assert pdf.status_code == 200
    assert "No forecast: the study has no open or planned site" in _pdf_text(pdf.content)
    api = client.get(
        f"/api/v1/studies/{study.id}/report",
        headers={"Authorization": f"Bearer {_token(clinic, 'manager')}"},
    )
    assert api.status_code == 200
    assert api.json()["forecast"] is None and "add its sites" in api.json()["forecast_problem"]


def test_another_organisation_gets_404_on_the_page_the_pdf_and_the_api(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _study(clinic)
    token = _token(clinic, "stranger")
    for path in ("report", "report.pdf"):
        api = client.get(
            f"/api/v1/studies/{study_id}/{path}", headers={"Authorization": f"Bearer {token}"}
        )
        assert api.status_code == 404, path
        assert api.headers["content-type"] == "application/problem+json"
    login(client, clinic.emails["other_cro"])
    assert client.get(f"/studies/{study_id}/report").status_code == 404
    assert client.get(f"/studies/{study_id}/report.pdf").status_code == 404


def test_the_api_answers_the_report_and_its_pdf(client: TestClient, clinic: Clinic) -> None:
    study_id = _study(clinic)
    headers = {"Authorization": f"Bearer {_token(clinic, 'cro_viewer')}"}
    as_of = days(-100).isoformat()
    response = client.get(
        f"/api/v1/studies/{study_id}/report?paths=2000&seed=3&as_of={as_of}", headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["header"]["code"] == "NWT-204-201"
    assert body["header"]["provider_name"] == "Corvane Clinical Research"
    assert body["header"]["report_date"] == as_of
    assert body["enrollment"]["enrolled"] == 33 and body["enrollment"]["plan"] == 106.7
    assert body["forecast"]["paths"] == 2000 and body["forecast"]["seed"] == 3
    assert body["recovery"] is None
    assert {r["status"]: r["sites"] for r in body["sites"]["by_status"]}["on_hold"] == 1
    pdf = client.get(f"/api/v1/studies/{study_id}/report.pdf?paths=2000", headers=headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert f"NWT-204-201-status-{TODAY.isoformat()}.pdf" in pdf.headers["content-disposition"]
    future = client.get(
        f"/api/v1/studies/{study_id}/report?as_of={days(3).isoformat()}", headers=headers
    )
    assert future.status_code == 422


def _token(clinic: Clinic, name: str) -> str:
    _, plain = auth.create_token(clinic.session, clinic[name], name="report test")
    clinic.session.commit()
    return plain


def test_the_report_filename_keeps_only_safe_characters(clinic: Clinic) -> None:
    study_id = _study(clinic)
    found = report.study_report(clinic.session, clinic["manager"], study_id, paths=PATHS)
    found.header.code = 'A/B "x" ünï'
    found.header.report_date = date(2026, 12, 4)
    assert report.report_filename(found) == "A-B--x---n-status-2026-12-04.pdf"
