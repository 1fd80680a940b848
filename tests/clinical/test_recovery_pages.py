"""The recovery pages through the real app: the study's recovery page (form, plans, empty
states), the plan page (outcome, probabilities, costs, tables, charts, downloads, the decision
with its confirmation step and version), and the site offers pages."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from opencxo.clinical import recovery, service
from opencxo.clinical.recovery_web import DISTRIBUTION_HEADERS, PLAN_HEADERS
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
