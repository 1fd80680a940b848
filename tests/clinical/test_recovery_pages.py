"""The recovery pages through the real app: the study's recovery page (form, plans, empty
states), the plan page (outcome, probabilities, costs, tables, charts, downloads, the decision
with its confirmation step and version), and the site offers pages."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from opencxo.clinical import recovery, service
from opencxo.clinical.recovery_web import (
    ADDED_HEADERS,
    CLOSED_HEADERS,
    DISTRIBUTION_HEADERS,
    HISTOGRAM_HEADERS,
    PLAN_HEADERS,
)
from opencxo.web.exports import XLSX
from tests.clinical.conftest import Clinic, days
from tests.clinical.test_forecasting import _demo_like
from tests.clinical.test_recovery_service import DEADLINE, PATHS, SEED, recovery_world
from tests.web.conftest import csrf_of, login


def _figure(html: str, chart_id: str) -> dict[str, Any]:
    match = re.search(rf'id="{chart_id}-data">(.*?)</script>', html, re.S)
    assert match, f"no {chart_id} data on the page"
    figure: dict[str, Any] = json.loads(match.group(1))
    return figure


def _propose(client: TestClient, study_id: Any, **changes: str) -> str:
    page = client.get(f"/studies/{study_id}/recovery")
    assert page.status_code == 200, page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "deadline": days(DEADLINE).isoformat(),
        "confidence": "0.8",
        "currency": "USD",
        "allow_closing": "true",
        "paths": str(PATHS),
        "seed": str(SEED),
        **changes,
    }
    answer = client.post(f"/studies/{study_id}/recovery", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    assert location.startswith("/recovery-plans/")
    return location


def test_propose_then_read_the_plan_page(client: TestClient, clinic: Clinic) -> None:
    study_id, _ = recovery_world(clinic)
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study_id}/recovery")
    assert 'data-testid="recovery-form"' in page.text and 'data-testid="plans-empty"' in page.text
    assert f'value="{days(150).isoformat()}"' in page.text  # the planned LPI by default
    location = _propose(client, study_id)
    plan_page = client.get(location)
    assert plan_page.status_code == 200
    html = plan_page.text
    assert "Recovery plan proposed" in html  # the flash message
    for testid in (
        "outcome", "probability", "approximation", "completion-before", "completion-after",
        "costs", "added-cost", "savings", "net-cost", "added-table", "closed-table", "decide",
        "accept-step", "reject-step", "plan-csv", "distribution-csv", "histogram-csv",
    ):  # fmt: skip
        assert f'data-testid="{testid}"' in html, testid
    plan_id = uuid.UUID(location.split("/")[-1])
    plan = recovery.get_recovery_plan(clinic.session, clinic["manager"], plan_id)
    assert f"{100 * plan.probability_before:.1f} % → {100 * plan.probability_after:.1f} %" in html
    assert html.count('data-testid="added-row"') == len(plan.added)
    assert html.count('data-testid="closed-row"') == len(plan.closed)
    assert f'name="version" value="{plan.version}"' in html
    figure = _figure(html, "recovery-chart")
    names = [t["name"] for t in figure["data"]]
    for name in ("Median before the plan", "Median with the plan", "P10–P90 with the plan"):
        assert name in names
    assert any(n.startswith("Target (240") for n in names)
    assert any(n.startswith(f"Deadline ({days(DEADLINE).isoformat()}") for n in names)
    assert figure["layout"]["yaxis"]["title"]["text"] == "Patients enrolled (cumulative)"
    histogram = _figure(html, "completion-chart")
    assert [t["name"] for t in histogram["data"]] == ["Before the plan", "With the plan"]
    assert histogram["layout"]["yaxis"]["title"]["text"] == "Share of paths (%)"
    # the past plans on the study's recovery page
    page = client.get(f"/studies/{study_id}/recovery")
    assert page.text.count('data-testid="plan-row"') == 1
    # downloads
    exported = client.get(f"{location}/plan.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert tuple(rows[0]) == PLAN_HEADERS
    assert [r[0] for r in rows[1:]].count("add") == len(plan.added)
    assert next(r for r in rows if r[0] == "net cost")[6] == str(plan.net_cost)
    table = list(csv.reader(io.StringIO(client.get(f"{location}/distribution.csv").text)))
    assert tuple(table[0]) == DISTRIBUTION_HEADERS and len(table) > 10


def test_the_close_out_cost_on_the_form_and_the_plan_page(
    client: TestClient, clinic: Clinic
) -> None:
    study_id, _ = recovery_world(clinic)
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study_id}/recovery").text
    assert 'name="closing_cost_per_site"' in page and 'value="0"' in page
    assert "Close-out cost per site" in page and "close-out visit, archiving" in page
    location = _propose(client, study_id, closing_cost_per_site="6000")
    html = client.get(location).text
    plan = recovery.get_recovery_plan(
        clinic.session, clinic["manager"], uuid.UUID(location.split("/")[-1])
    )
    assert plan.closing_cost_per_site == Decimal("6000.00") and plan.closed
    assert "close-out cost 6,000.00 USD per site" in html  # next to confidence and currency
    assert "Savings are net of a close-out cost of 6,000.00 USD per site" in html
    assert "Saving (net of close-out)" in html
    rows = list(csv.reader(io.StringIO(client.get(f"{location}/plan.csv").text)))
    assert next(r for r in rows if r[0].startswith("close-out cost"))[6:] == ["6000.00", "USD"]
    # left blank: no close-out cost; negative: refused, naming the field
    blank = client.get(_propose(client, study_id, closing_cost_per_site="")).text
    assert "close-out cost 0.00 USD per site" in blank
    token = csrf_of(client.get(f"/studies/{study_id}/recovery").text)
    answer = client.post(
        f"/studies/{study_id}/recovery",
        data={"csrf_token": token, "deadline": days(DEADLINE).isoformat(), "confidence": "0.8",
              "currency": "USD", "paths": str(PATHS), "closing_cost_per_site": "-5"},
    )  # fmt: skip
    assert answer.status_code == 422
    assert 'data-field-error="closing_cost_per_site"' in answer.text and 'value="-5"' in answer.text


def test_the_plan_as_a_workbook(client: TestClient, clinic: Clinic) -> None:
    """plan.xlsx: the summary with the sites to add and to close, the forecast bands and the
    completion dates, with the plan's exact figures; only for those who see the plan."""
    study_id, _ = recovery_world(clinic)
    login(client, clinic.emails["manager"])
    location = _propose(client, study_id, closing_cost_per_site="6000")
    assert f'href="{location}/plan.xlsx"' in client.get(location).text
    plan = recovery.get_recovery_plan(
        clinic.session, clinic["manager"], uuid.UUID(location.split("/")[-1])
    )
    answer = client.get(f"{location}/plan.xlsx")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == XLSX
    assert f"{plan.study_code}-recovery-plan-" in answer.headers["content-disposition"]
    workbook = load_workbook(io.BytesIO(answer.content))
    assert workbook.sheetnames == ["Plan", "Distribution", "Histogram"]

    def money(value: Any) -> Decimal:
        return Decimal(str(value)).quantize(Decimal("0.01"))

    def day(value: Any) -> date:
        assert isinstance(value, datetime)  # Excel keeps dates as date-times
        return value.date()

    rows = list(workbook["Plan"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Item", "Value", "Unit")
    summary = {r[0]: r[1:3] for r in rows[1 : rows.index((None,) * len(rows[0]))]}
    assert summary["Study"][0] == plan.study_code
    assert (summary["Status"][0], summary["Outcome"][0]) == ("proposed", plan.outcome.value)
    assert day(summary["As of"][0]) == plan.as_of
    assert day(summary["Deadline"][0]) == plan.deadline
    assert summary["Confidence"][0] == plan.confidence == 0.8
    assert summary["Currency"][0] == "USD"
    assert (summary["Target"][0], summary["Enrolled on the as-of date"][0]) == (240, 128)
    assert summary["P(target by deadline) before"][0] == plan.probability_before
    assert summary["P(target by deadline) with the plan"][0] == plan.probability_after
    assert (
        summary["P(target by deadline), normal approximation"][0] == plan.probability_approximation
    )
    assert plan.completion_after.p50 is not None
    assert day(summary["Target reached P50, with the plan"][0]) == plan.completion_after.p50
    for label, value in (
        ("Close-out cost per site", plan.closing_cost_per_site),
        ("Added cost", plan.added_cost),
        ("Savings (net of close-out)", plan.savings),
        ("Net cost", plan.net_cost),
    ):
        assert money(summary[label][0]) == value and summary[label][1] == "USD", label
    assert money(summary["Close-out cost per site"][0]) == Decimal("6000.00")
    assert summary["Sites added"][0] == plan.sites_added > 0
    assert summary["Sites closed"][0] == len(plan.closed) > 0

    def section(title: str) -> list[tuple[Any, ...]]:
        start = next(i for i, r in enumerate(rows) if r[0] == title)
        end = next((i for i in range(start, len(rows)) if rows[i][0] is None), len(rows))
        return rows[start + 1 : end]

    added = section("Sites to add")
    assert added[0][:11] == ADDED_HEADERS[:11]
    assert len(added) == 1 + len(plan.added)
    for row, a in zip(added[1:], plan.added, strict=True):
        assert (row[0], row[1], row[3]) == (a.offer_name, a.provider_name, a.sites)
        assert row[4] == a.expected_rate_per_site_per_month and row[5] == a.activation_lag_days
        assert money(row[6]) == a.startup_cost_per_site
        assert row[9] == a.expected_patients_by_deadline and money(row[10]) == a.cost
    closed = section("Sites to close")
    assert closed[0][:5] == CLOSED_HEADERS
    assert [(r[0], r[3], money(r[4])) for r in closed[1:]] == [
        (c.code, c.expected_patients_lost, c.saving) for c in plan.closed
    ]
    assert sum((money(r[4]) for r in closed[1:]), Decimal("0.00")) == plan.savings
    assert sum((money(r[10]) for r in added[1:]), Decimal("0.00")) == plan.added_cost

    bands = list(workbook["Distribution"].iter_rows(values_only=True))
    assert bands[0] == DISTRIBUTION_HEADERS
    after = {p.day: p for p in plan.distribution.after}
    assert len(bands) - 1 == len({p.day for p in plan.distribution.before} | set(after))
    for row in bands[1:]:
        point = after.get(row[1])
        if point is not None:
            assert day(row[0]) == point.on_date
            assert row[6:10] == (point.p10, point.p50, point.p90, point.mean)
    first = plan.distribution.before[0]
    assert bands[1][2:6] == (first.p10, first.p50, first.p90, first.mean)
    histogram = list(workbook["Histogram"].iter_rows(values_only=True))
    assert histogram[0] == HISTOGRAM_HEADERS
    assert [(day(r[0]), day(r[1]), r[2], r[3]) for r in histogram[1:]] == [
        (b.start, b.end, b.before, b.after) for b in plan.distribution.histogram
    ]
    # as the CSVs: the CRO (which did not propose it) and outsiders get 404
    for who in ("cro", "stranger"):
        client.post("/logout", data={"csrf_token": csrf_of(client.get("/site-offers").text)})
        login(client, clinic.emails[who])
        assert client.get(f"{location}/plan.xlsx").status_code == 404, who
        assert client.get(f"{location}/plan.csv").status_code == 404, who


def test_accept_with_confirmation_and_a_stale_version_answers_409(
    client: TestClient, clinic: Clinic
) -> None:
    study_id, _ = recovery_world(clinic)
    login(client, clinic.emails["manager"])
    location = _propose(client, study_id)
    page = client.get(location).text
    token = csrf_of(page)
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    stale = client.post(
        f"{location}/accept",
        data={"csrf_token": token, "version": str(int(version.group(1)) + 1)},
        follow_redirects=False,
    )
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    done = client.post(
        f"{location}/accept",
        data={"csrf_token": token, "version": version.group(1), "reason": "go"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    accepted = client.get(location).text
    assert "Plan accepted" in accepted and 'data-status="accepted"' in accepted
    assert 'data-testid="decide"' not in accepted
    assert "-R01" in accepted  # the study sites made, in the added table
    again = client.post(
        f"{location}/accept",
        data={"csrf_token": token, "version": str(int(version.group(1)) + 1)},
        follow_redirects=False,
    )
    assert again.status_code == 409 and "only a proposed plan" in again.text


def test_the_cro_proposes_but_does_not_decide(client: TestClient, clinic: Clinic) -> None:
    study_id, _ = recovery_world(clinic)
    login(client, clinic.emails["cro"])
    location = _propose(client, study_id)
    page = client.get(location).text
    assert 'data-testid="decide"' not in page and 'data-testid="sponsor-decides"' in page
    refused = client.post(f"{location}/reject", data={"csrf_token": csrf_of(page), "version": "1"})
    assert refused.status_code == 403


def test_bad_form_values_stay_with_their_message(client: TestClient, clinic: Clinic) -> None:
    study_id, _ = recovery_world(clinic)
    login(client, clinic.emails["manager"])
    token = csrf_of(client.get(f"/studies/{study_id}/recovery").text)
    answer = client.post(
        f"/studies/{study_id}/recovery",
        data={"csrf_token": token, "deadline": days(DEADLINE).isoformat(), "confidence": "0.3",
              "currency": "USD", "paths": str(PATHS)},
    )  # fmt: skip
    assert answer.status_code == 422
    assert 'data-field-error="confidence"' in answer.text and 'value="0.3"' in answer.text
    answer = client.post(
        f"/studies/{study_id}/recovery",
        data={"csrf_token": token, "deadline": days(DEADLINE).isoformat(), "confidence": "0.8",
              "currency": "JPY", "paths": str(PATHS)},
    )  # fmt: skip
    assert answer.status_code == 422
    assert 'data-field-error="currency"' in answer.text and "no active offer in JPY" in answer.text


def test_no_offers_says_who_adds_them(client: TestClient, clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study_id}/recovery")
    assert page.status_code == 200
    assert 'data-testid="no-offers"' in page.text and "Providers publish" in page.text
    offers = client.get("/site-offers")
    assert 'data-testid="offers-empty"' in offers.text and "CRO providers publish" in offers.text
    assert 'data-testid="new-offer"' not in offers.text


def test_a_provider_publishes_and_withdraws_an_offer(client: TestClient, clinic: Clinic) -> None:
    login(client, clinic.emails["cro"])
    empty = client.get("/site-offers")
    assert "You offer no sites yet" in empty.text and 'data-testid="new-offer"' in empty.text
    form = {
        "csrf_token": csrf_of(client.get("/site-offers/new").text),
        "name": "Corvane Czech GI network",
        "country": "CZ",
        "city": "Praha",
        "expected_rate_per_site_per_month": "0.7",
        "activation_lag_days": "60",
        "capacity_sites": "0",
        "currency": "USD",
        "startup_cost_per_site": "28000",
        "monthly_cost_per_site": "2600",
        "cost_per_patient": "11000",
        "therapeutic_areas": "Gastroenterology, Immunology",
        "active": "true",
        "notes": "",
    }
    bad = client.post("/site-offers", data=form)
    assert bad.status_code == 422
    assert 'data-field-error="capacity_sites"' in bad.text and "Praha" in bad.text
    made = client.post("/site-offers", data={**form, "capacity_sites": "4"}, follow_redirects=False)
    assert made.status_code == 303
    listing = client.get("/site-offers").text
    assert "Offer Corvane Czech GI network published." in listing
    assert listing.count('data-testid="offer-row"') == 1 and "28,000.00" in listing
    edit = re.search(r'href="(/site-offers/[0-9a-f-]+/edit)"', listing)
    assert edit
    page = client.get(edit.group(1)).text
    assert 'value="Gastroenterology, Immunology"' in page
    changed = client.post(
        edit.group(1),
        data={**form, "capacity_sites": "4", "active": "false", "version": "1",
              "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )  # fmt: skip
    assert changed.status_code == 303
    assert 'data-status="withdrawn"' in client.get("/site-offers").text
    # the sponsor no longer sees it; the other CRO never did
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/site-offers").text)})
    login(client, clinic.emails["manager"])
    assert 'data-testid="offers-empty"' in client.get("/site-offers").text
    assert client.get(edit.group(1)).status_code == 404


def test_the_site_form_takes_the_sites_costs(client: TestClient, clinic: Clinic) -> None:
    study = clinic.study()
    clinic.session.commit()
    login(client, clinic.emails["cro"])
    page = client.get(f"/studies/{study.id}/sites/new").text
    for name in ("monthly_cost", "cost_per_patient", "cost_currency"):
        assert f'name="{name}"' in page
    form = {"csrf_token": csrf_of(page), "code": "CZ-001", "name": "Praha GI", "country": "CZ",
            "status": "planned", "monthly_cost": "2500", "cost_per_patient": "9000"}  # fmt: skip
    missing = client.post(f"/studies/{study.id}/sites", data=form)
    assert missing.status_code == 422 and 'data-field-error="cost_currency"' in missing.text
    made = client.post(
        f"/studies/{study.id}/sites", data={**form, "cost_currency": "usd"}, follow_redirects=False
    )
    assert made.status_code == 303
    (site,) = service.list_sites(clinic.session, clinic["cro"], study.id)
    assert (site.monthly_cost, site.cost_per_patient, site.cost_currency) == (
        Decimal("2500.00"), Decimal("9000.00"), "USD",
    )  # fmt: skip
    edit = client.get(f"/study-sites/{site.id}/edit").text
    assert 'value="2500.00"' in edit and 'value="USD"' in edit
