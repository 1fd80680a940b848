"""Recovery plans and site offers through the JSON API: propose (201), read, accept and reject
with their versions, problem details for refusals; tenant isolation answers 404."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from opencxo.core.auth import repository as users
from opencxo.models import RecoveryPlan, StudySite
from tests.clinical.conftest import Clinic, days
from tests.clinical.test_recovery_service import DEADLINE, PATHS, SEED, recovery_world
from tests.factories import make_token

API = "/api/v1"
PROBLEM = "application/problem+json"


def tokens(clinic: Clinic) -> dict[str, dict[str, str]]:
    out = {}
    for name, email in clinic.emails.items():
        user = users.user_by_email(clinic.session, email)
        assert user is not None
        out[name] = {"Authorization": f"Bearer {make_token(clinic.session, user=user)}"}
    clinic.session.commit()
    return out


def body(**changes: Any) -> dict[str, Any]:
    return {"paths": PATHS, "seed": SEED, "deadline": days(DEADLINE).isoformat(), **changes}


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    found: dict[str, Any] = response.json()
    return found


def count(clinic: Clinic, model: Any) -> int:
    clinic.session.expire_all()
    return int(clinic.session.execute(select(func.count()).select_from(model)).scalar_one())


def test_propose_read_and_accept_through_the_api(client: TestClient, clinic: Clinic) -> None:
    study_id, _ = recovery_world(clinic)
    who = tokens(clinic)
    made = client.post(
        f"{API}/studies/{study_id}/recovery-plans", json=body(), headers=who["manager"]
    )
    assert made.status_code == 201, made.text
    plan = made.json()
    assert plan["status"] == "proposed" and plan["outcome"] == "met"
    assert plan["probability_before"] < 0.8 <= plan["probability_after"]
    assert isinstance(plan["net_cost"], str) and plan["currency"] == "USD"  # exact decimals
    assert plan["closing_cost_per_site"] == "0.00"  # no close-out cost unless asked
    assert plan["added"] and all(isinstance(a["cost"], str) for a in plan["added"])
    for key in ("completion_before", "completion_after", "distribution"):
        assert key in plan
    listed = client.get(f"{API}/studies/{study_id}/recovery-plans", headers=who["manager"])
    assert [p["id"] for p in listed.json()] == [plan["id"]]
    assert (
        client.get(f"{API}/recovery-plans/{plan['id']}", headers=who["viewer"]).status_code == 200
    )
    # the CRO did not propose it: it does not see it; nor do outsiders
    for outsider in ("cro", "stranger", "other_cro"):
        answer = problem(
            client.get(f"{API}/recovery-plans/{plan['id']}", headers=who[outsider]), 404
        )
        assert answer["detail"] == "no such recovery plan"
    unknown = problem(
        client.get(f"{API}/recovery-plans/{uuid.uuid4()}", headers=who["stranger"]), 404
    )
    assert unknown["detail"] == "no such recovery plan"
    for outsider in ("stranger", "other_cro"):
        problem(client.get(f"{API}/studies/{study_id}/recovery-plans", headers=who[outsider]), 404)
        problem(
            client.post(
                f"{API}/studies/{study_id}/recovery-plans", json=body(), headers=who[outsider]
            ),
            404,
        )

    sites_before = count(clinic, StudySite)
    accept = f"{API}/recovery-plans/{plan['id']}/accept"
    stale = problem(
        client.post(accept, json={"version": plan["version"] + 1}, headers=who["manager"]), 409
    )
    assert "changed by someone else" in stale["detail"]
    problem(client.post(accept, json={"version": plan["version"]}, headers=who["viewer"]), 403)
    assert count(clinic, StudySite) == sites_before
    done = client.post(accept, json={"version": plan["version"], "reason": "approved by the board"},
                       headers=who["manager"])  # fmt: skip
    assert done.status_code == 200, done.text
    accepted = done.json()
    assert accepted["status"] == "accepted"
    codes = [c for a in accepted["added"] for c in a["site_codes"]]
    assert len(codes) == plan["sites_added"] == count(clinic, StudySite) - sites_before
    sites = {
        s["code"]: s
        for s in client.get(f"{API}/studies/{study_id}/sites", headers=who["cro"]).json()
    }
    for code in codes:
        assert sites[code]["status"] == "planned" and sites[code]["cost_currency"] == "USD"
    for closure in accepted["closed"]:
        assert sites[closure["code"]]["status"] == "closed"
    again = problem(
        client.post(accept, json={"version": accepted["version"]}, headers=who["manager"]), 409
    )
    assert "only a proposed plan" in again["detail"]


def test_refusals_are_problem_details_naming_the_field(client: TestClient, clinic: Clinic) -> None:
    study_id, _ = recovery_world(clinic)
    who = tokens(clinic)
    url = f"{API}/studies/{study_id}/recovery-plans"
    low = problem(client.post(url, json=body(confidence=0.2), headers=who["manager"]), 422)
    assert [e["field"] for e in low["errors"]] == ["confidence"]
    few = problem(client.post(url, json=body(paths=10), headers=who["manager"]), 422)
    assert [e["field"] for e in few["errors"]] == ["paths"]
    for cost in ("-1", -0.01, "10000000.01", "12.345"):
        refused = problem(
            client.post(url, json=body(closing_cost_per_site=cost), headers=who["manager"]), 422
        )
        assert [e["field"] for e in refused["errors"]] == ["closing_cost_per_site"], cost
    yen = problem(client.post(url, json=body(currency="JPY"), headers=who["manager"]), 422)
    assert (
        yen["errors"][0]["field"] == "currency" and "no active site offer in JPY" in yen["detail"]
    )
    early = problem(
        client.post(url, json=body(deadline=days(0).isoformat()), headers=who["manager"]), 422
    )
    assert early["errors"][0]["field"] == "deadline"
    problem(client.post(url, json=body(), headers=who["viewer"]), 403)
    assert count(clinic, RecoveryPlan) == 0
    # the CRO proposes (201) but may not decide (403)
    made = client.post(url, json=body(closing_cost_per_site="6000.5"), headers=who["cro"])
    assert made.status_code == 201, made.text
    plan = made.json()
    assert plan["closing_cost_per_site"] == "6000.50"
    for verb in ("accept", "reject"):
        refused = problem(
            client.post(f"{API}/recovery-plans/{plan['id']}/{verb}", json={"version": plan["version"]},
                        headers=who["cro"]),
            403,
        )  # fmt: skip
        assert "only the sponsor" in refused["detail"]
    rejected = client.post(f"{API}/recovery-plans/{plan['id']}/reject",
                           json={"version": plan["version"], "reason": "too dear"}, headers=who["manager"])  # fmt: skip
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"


def test_site_offers_through_the_api(client: TestClient, clinic: Clinic) -> None:
    who = tokens(clinic)
    offer = {
        "name": "Corvane Czech GI network", "country": "cz", "expected_rate_per_site_per_month": 0.7,
        "activation_lag_days": 60, "startup_cost_per_site": "28000.00",
        "monthly_cost_per_site": "2600.00", "cost_per_patient": "11000.00", "capacity_sites": 4,
        "therapeutic_areas": ["Gastroenterology"], "notes": "GCP-trained coordinators",
    }  # fmt: skip
    made = client.post(f"{API}/site-offers", json=offer, headers=who["cro"])
    assert made.status_code == 201, made.text
    created = made.json()
    assert (created["country"], created["currency"], created["provider_name"]) == (
        "CZ", "USD", "Corvane Clinical Research",
    )  # fmt: skip
    url = f"{API}/site-offers/{created['id']}"
    assert client.get(url, headers=who["manager"]).json()["id"] == created["id"]
    problem(client.get(url, headers=who["other_cro"]), 404)
    problem(client.put(url, json={**offer, "version": 1}, headers=who["manager"]), 403)
    problem(client.post(f"{API}/site-offers", json=offer, headers=who["manager"]), 403)
    problem(client.post(f"{API}/site-offers", json=offer, headers=who["cro_viewer"]), 403)
    bad = problem(
        client.post(f"{API}/site-offers", json={**offer, "capacity_sites": 0}, headers=who["cro"]),
        422,
    )
    assert [e["field"] for e in bad["errors"]] == ["capacity_sites"]
    listed = client.get(f"{API}/site-offers?country=CZ&active=true", headers=who["stranger"]).json()
    assert [o["id"] for o in listed["items"]] == [created["id"]]
    withdrawn = client.put(url, json={**offer, "active": False, "version": 1}, headers=who["cro"])
    assert withdrawn.status_code == 200 and withdrawn.json()["active"] is False
    problem(client.get(url, headers=who["manager"]), 404)
    assert client.get(f"{API}/site-offers", headers=who["manager"]).json()["total"] == 0
    mine = client.get(f"{API}/site-offers?active=false", headers=who["cro"]).json()
    assert [o["id"] for o in mine["items"]] == [created["id"]]
    problem(client.put(url, json={**offer, "version": 1}, headers=who["cro"]), 409)
