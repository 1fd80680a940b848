"""Stored scenarios, valuations and portfolios: the service (``economics.stored``) and the API.

Sponsor A (admin, viewer) owns a program and scenarios; sponsor B (admin) must not learn they
exist. Valuations are stored with the exact report the pure service computes on the same seed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted
from opencxo.core.pagination import PageParams
from opencxo.economics import service, stored
from opencxo.economics.models import Valuation
from opencxo.economics.records import (
    CompareRequest,
    PortfolioCreate,
    RunRequest,
    ScenarioCreate,
    ScenarioUpdate,
    TornadoRequest,
)
from opencxo.economics.schemas import ScenarioInput, ValuationRequest
from tests.factories import make_organization, make_program, make_token, make_user, principal_of

API = "/api/v1"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@dataclass
class Sponsors:
    a_admin: Any
    a_viewer: Any
    b_admin: Any
    program_id: uuid.UUID
    tokens: dict[str, str]


@pytest.fixture
def sponsors(session: Session) -> Sponsors:
    a = make_organization(session, name="Northwind", country="US")
    b = make_organization(session, name="Rival", country="DE")
    users = {
        "a_admin": make_user(session, organization_id=a.id, role="admin"),
        "a_viewer": make_user(session, organization_id=a.id, role="viewer"),
        "b_admin": make_user(session, organization_id=b.id, role="admin"),
    }
    a_admin = principal_of(session, users["a_admin"])
    program = make_program(session, a_admin)
    tokens = {name: make_token(session, user=user) for name, user in users.items()}
    session.commit()
    return Sponsors(
        a_admin=a_admin,
        a_viewer=principal_of(session, users["a_viewer"]),
        b_admin=principal_of(session, users["b_admin"]),
        program_id=program.id,
        tokens=tokens,
    )


def example(name: str) -> ScenarioInput:
    return service.load_scenario(EXAMPLES / name)


def bearer(s: Sponsors, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {s.tokens[who]}"}


def audit_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


# --- service ------------------------------------------------------------------------------------


def test_create_list_get_update_delete(session: Session, sponsors: Sponsors) -> None:
    spec = example("nwt-204-in-house.yaml").model_copy(update={"program_id": sponsors.program_id})
    created = stored.create_scenario(session, sponsors.a_admin, ScenarioCreate(spec=spec))
    assert created.program_name == "NWT-204"
    assert created.version == 1
    assert created.latest is None
    assert created.spec == spec

    page = stored.list_scenarios(session, sponsors.a_viewer, params=PageParams())
    assert [s.name for s in page.items] == [spec.name]
    assert stored.list_scenarios(session, sponsors.b_admin, params=PageParams()).total == 0
    by_program = stored.list_scenarios(
        session, sponsors.a_admin, params=PageParams(), program_id=uuid.uuid4()
    )
    assert by_program.total == 0

    changed = spec.model_copy(update={"cogs_share": 0.2})
    updated = stored.update_scenario(
        session, sponsors.a_admin, created.id, ScenarioUpdate(version=1, spec=changed)
    )
    assert updated.version == 2
    assert updated.spec.cogs_share == 0.2
    with pytest.raises(Conflict, match=r"version 2, you sent 1"):
        stored.update_scenario(
            session, sponsors.a_admin, created.id, ScenarioUpdate(version=1, spec=spec)
        )

    before = audit_count(session)
    stored.delete_scenario(session, sponsors.a_admin, created.id, version=2)
    assert audit_count(session) == before + 1
    with pytest.raises(NotFound):
        stored.get_scenario(session, sponsors.a_admin, created.id)


def test_tenancy_and_roles(session: Session, sponsors: Sponsors) -> None:
    spec = example("nwt-204-in-house.yaml")
    created = stored.create_scenario(session, sponsors.a_admin, ScenarioCreate(spec=spec))
    for action in (
        lambda p: stored.get_scenario(session, p, created.id),
        lambda p: stored.run_valuation(session, p, created.id, RunRequest(trials=1000)),
        lambda p: stored.delete_scenario(session, p, created.id),
    ):
        with pytest.raises(NotFound) as other:
            action(sponsors.b_admin)
        with pytest.raises(NotFound) as unknown:
            stored.get_scenario(session, sponsors.b_admin, uuid.uuid4())
        assert other.value.message == unknown.value.message == "no such scenario"
    with pytest.raises(NotPermitted):
        stored.run_valuation(session, sponsors.a_viewer, created.id, RunRequest(trials=1000))
    with pytest.raises(NotPermitted):
        stored.create_scenario(
            session,
            sponsors.a_viewer,
            ScenarioCreate(spec=spec.model_copy(update={"name": "Viewer's"})),
        )
    # B cannot attach its scenario to A's program (the answer of an unknown program)
    with pytest.raises(Invalid) as refused:
        stored.create_scenario(
            session,
            sponsors.b_admin,
            ScenarioCreate(spec=spec.model_copy(update={"program_id": sponsors.program_id})),
        )
    assert refused.value.field_errors == {"spec.program_id": "choose one of your programs"}


def test_duplicate_name_is_a_conflict_naming_the_field(
    session: Session, sponsors: Sponsors
) -> None:
    spec = example("nwt-204-in-house.yaml")
    stored.create_scenario(session, sponsors.a_admin, ScenarioCreate(spec=spec))
    with pytest.raises(Conflict) as error:
        stored.create_scenario(session, sponsors.a_admin, ScenarioCreate(spec=spec))
    assert "spec.name" in error.value.field_errors
    # another sponsor may use the same name
    stored.create_scenario(session, sponsors.b_admin, ScenarioCreate(spec=spec))


def test_stored_valuation_equals_the_pure_service_on_the_same_seed(
    session: Session, sponsors: Sponsors
) -> None:
    spec = example("nwt-204-outsourced.yaml")
    created = stored.create_scenario(session, sponsors.a_admin, ScenarioCreate(spec=spec))
    before = audit_count(session)
    valued = stored.run_valuation(
        session, sponsors.a_admin, created.id, RunRequest(trials=5000, seed=11)
    )
    assert audit_count(session) == before + 1
    session.commit()
    session.expire_all()
    expected = service.value_scenario(spec, ValuationRequest(trials=5000, seed=11))
    latest = stored.latest_valuation(session, sponsors.a_viewer, created.id)
    assert latest is not None
    assert latest.id == valued.id
    assert latest.report == expected  # every figure, exactly, after the JSON round trip
    row = session.get(Valuation, valued.id)
    assert row is not None
    assert row.rnpv_mean_musd == expected.rnpv_mean_musd
    assert row.probability_of_approval == expected.probability_of_approval
    assert row.scenario_version == 1
    summary = stored.get_scenario(session, sponsors.a_admin, created.id).latest
    assert summary is not None and summary.rnpv_mean_musd == expected.rnpv_mean_musd


def test_compare_and_tornado_match_the_pure_service(session: Session, sponsors: Sponsors) -> None:
    base, alternative = example("nwt-204-in-house.yaml"), example("nwt-204-outsourced.yaml")
    ids = [
        stored.create_scenario(session, sponsors.a_admin, ScenarioCreate(spec=s)).id
        for s in (base, alternative)
    ]
    request = ValuationRequest(trials=2000, seed=3)
    compared = stored.compare(
        session,
        sponsors.a_viewer,
        CompareRequest(base_id=ids[0], alternative_id=ids[1], trials=2000, seed=3),
    )
    assert compared == service.compare_scenarios(base, alternative, request)
    bars = stored.tornado(session, sponsors.a_viewer, ids[0], TornadoRequest(trials=2000, seed=3))
    assert bars == service.sensitivity(base, request, swing=0.2)


def test_a_spec_the_schema_accepts_but_the_rules_refuse_names_the_field(
    session: Session, sponsors: Sponsors
) -> None:
    spec = example("nwt-204-in-house.yaml").model_copy(update={"current_phase": "phase_3"})
    with pytest.raises(Invalid) as error:
        stored.create_scenario(session, sponsors.a_admin, ScenarioCreate(spec=spec))
    assert list(error.value.field_errors) == ["spec.phases.phase_2"]


def test_program_defaults_prefill_the_form(session: Session, sponsors: Sponsors) -> None:
    defaults = stored.program_defaults(session, sponsors.a_admin, sponsors.program_id)
    assert defaults["current_phase"] == "phase_2"
    assert defaults["therapeutic_area"] == "gastroenterology"
    assert stored.bio_area("Immunology and inflammation") == "autoimmune"
    assert stored.bio_area("Something new") == "all_indications"
    with pytest.raises(NotFound):
        stored.program_defaults(session, sponsors.b_admin, sponsors.program_id)


def test_portfolio_run_is_stored(session: Session, sponsors: Sponsors) -> None:
    spec = service.load_portfolio(EXAMPLES / "portfolio.yaml").model_copy(update={"trials": 2000})
    created = stored.create_portfolio(session, sponsors.a_admin, PortfolioCreate(spec=spec))
    assert created.report is None
    ran = stored.run_portfolio(session, sponsors.a_admin, created.id)
    assert ran.report is not None
    expected = service.portfolio(spec)
    assert ran.report.funded == expected.funded
    assert ran.report.objective_musd == pytest.approx(expected.objective_musd)
    assert stored.get_portfolio(session, sponsors.a_viewer, created.id).report == ran.report
    with pytest.raises(NotFound, match="no such portfolio"):
        stored.get_portfolio(session, sponsors.b_admin, created.id)
    with pytest.raises(NotPermitted):
        stored.run_portfolio(session, sponsors.a_viewer, created.id)
    too_many = spec.model_copy(update={"trials": 500_000})
    with pytest.raises(Invalid) as error:
        stored.create_portfolio(
            session,
            sponsors.a_admin,
            PortfolioCreate(spec=too_many.model_copy(update={"name": "big"})),
        )
    assert list(error.value.field_errors) == ["spec.trials"]


# --- API ----------------------------------------------------------------------------------------


def _spec_json(name: str, **changes: Any) -> dict[str, Any]:
    return {**example(name).model_dump(mode="json", exclude_none=True), **changes}


def test_api_crud_valuation_and_errors(client: TestClient, sponsors: Sponsors) -> None:
    admin, viewer, other = (bearer(sponsors, w) for w in ("a_admin", "a_viewer", "b_admin"))
    body = {"spec": _spec_json("nwt-204-in-house.yaml", program_id=str(sponsors.program_id))}
    created = client.post(f"{API}/scenarios", json=body, headers=admin)
    assert created.status_code == 201, created.text
    scenario = created.json()
    url = f"{API}/scenarios/{scenario['id']}"

    assert client.get(url, headers=viewer).json()["program_name"] == "NWT-204"
    listed = client.get(f"{API}/scenarios?program_id={sponsors.program_id}", headers=viewer)
    assert [s["id"] for s in listed.json()["items"]] == [scenario["id"]]

    # B: the 404 of an unknown id, for every verb
    for method, suffix, payload in [
        ("GET", "", None),
        ("PUT", "", {"version": 1, "spec": body["spec"]}),
        ("DELETE", "", None),
        ("POST", "/valuations", {"trials": 1000}),
        ("GET", "/valuations/latest", None),
        ("POST", "/tornado", {"trials": 1000}),
    ]:
        real = client.request(method, url + suffix, json=payload, headers=other)
        fake = client.request(
            method, f"{API}/scenarios/{uuid.uuid4()}{suffix}", json=payload, headers=other
        )
        assert real.status_code == fake.status_code == 404, (method, suffix)
        assert real.json() == fake.json()

    # the viewer reads but cannot write
    assert (
        client.post(f"{url}/valuations", json={"trials": 1000}, headers=viewer).status_code == 403
    )

    # not valued yet
    assert client.get(f"{url}/valuations/latest", headers=viewer).status_code == 404

    valued = client.post(f"{url}/valuations", json={"trials": 3000, "seed": 5}, headers=admin)
    assert valued.status_code == 201, valued.text
    expected = service.value_scenario(
        example("nwt-204-in-house.yaml").model_copy(update={"program_id": sponsors.program_id}),
        ValuationRequest(trials=3000, seed=5),
    )
    latest = client.get(f"{url}/valuations/latest", headers=viewer).json()
    assert latest["report"]["rnpv_mean_musd"] == expected.rnpv_mean_musd
    assert latest["report"]["npv_sample_musd"] == expected.npv_sample_musd
    assert latest["rnpv_mean_musd"] == expected.rnpv_mean_musd

    # at most 200,000 trials per request
    capped = client.post(f"{url}/valuations", json={"trials": 200_001}, headers=admin)
    assert capped.status_code == 422
    assert capped.json()["errors"][0]["field"] == "trials"

    # stale version
    ok = client.put(url, json={"version": 1, "spec": body["spec"]}, headers=admin)
    assert ok.status_code == 200, ok.text
    stale = client.put(url, json={"version": 1, "spec": body["spec"]}, headers=admin)
    assert stale.status_code == 409
    assert "(version 2, you sent 1)" in stale.json()["detail"]

    deleted = client.delete(f"{url}?version=2", headers=admin)
    assert deleted.status_code == 204
    assert client.get(url, headers=admin).status_code == 404


def test_api_bad_spec_names_the_field(client: TestClient, sponsors: Sponsors) -> None:
    admin = bearer(sponsors, "a_admin")
    # the schema: both ways of ending exclusivity
    spec = _spec_json("nwt-204-in-house.yaml")
    spec["exclusivity"] = {"patent_expiry": "2038-03-14", "loss_years_from_now": 10}
    answer = client.post(f"{API}/scenarios", json={"spec": spec}, headers=admin)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["spec.exclusivity"]
    # the business rule: a patent that expired before the valuation date
    spec = _spec_json("nwt-204-in-house.yaml")
    spec["exclusivity"] = {"patent_expiry": "2020-01-01"}
    answer = client.post(f"{API}/scenarios", json={"spec": spec}, headers=admin)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["spec.exclusivity.patent_expiry"]
    # the stateless valuation
    answer = client.post(f"{API}/economics/rnpv?trials=1000", json=spec, headers=admin)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["exclusivity.patent_expiry"]


def test_api_stateless_rnpv_equals_the_cli_service(client: TestClient, sponsors: Sponsors) -> None:
    spec = _spec_json("nwt-204-outsourced.yaml")
    answer = client.post(
        f"{API}/economics/rnpv?trials=2000&seed=9", json=spec, headers=bearer(sponsors, "b_admin")
    )
    assert answer.status_code == 200, answer.text
    expected = service.value_scenario(
        example("nwt-204-outsourced.yaml"), ValuationRequest(trials=2000, seed=9)
    )
    assert answer.json()["rnpv_mean_musd"] == expected.rnpv_mean_musd
    too_many = client.post(
        f"{API}/economics/rnpv?trials=300000", json=spec, headers=bearer(sponsors, "b_admin")
    )
    assert too_many.status_code == 422


def test_api_compare_and_portfolio(client: TestClient, sponsors: Sponsors) -> None:
    admin = bearer(sponsors, "a_admin")
    ids = [
        client.post(f"{API}/scenarios", json={"spec": _spec_json(n)}, headers=admin).json()["id"]
        for n in ("nwt-204-in-house.yaml", "nwt-204-outsourced.yaml")
    ]
    compared = client.post(
        f"{API}/scenarios/compare",
        json={"base_id": ids[0], "alternative_id": ids[1], "trials": 2000},
        headers=admin,
    )
    assert compared.status_code == 200, compared.text
    rnpv = next(d for d in compared.json()["deltas"] if d["name"] == "rnpv_musd")
    assert rnpv["ci_low"] > 0  # the CRO pays off on the same draws

    portfolio = service.load_portfolio(EXAMPLES / "portfolio.yaml")
    body = {"spec": {**portfolio.model_dump(mode="json", exclude_none=True), "trials": 2000}}
    created = client.post(f"{API}/portfolios", json=body, headers=admin)
    assert created.status_code == 201, created.text
    url = f"{API}/portfolios/{created.json()['id']}"
    ran = client.post(f"{url}/run", headers=admin)
    assert ran.status_code == 200, ran.text
    assert ran.json()["report"]["status"] in ("optimal", "feasible")
    assert client.get(url, headers=admin).json()["report"] == ran.json()["report"]
    assert client.get(url, headers=bearer(sponsors, "b_admin")).status_code == 404


def test_a_phase_of_centuries_is_refused_and_a_stored_one_is_a_422(
    client: TestClient, session: Session, sponsors: Sponsors
) -> None:
    """A phase lasting 10,000 or 1,000,000 years is a typo: refused at input (422 naming the
    field, nothing stored); a scenario stored before the bound gets a 422 on valuation, not a
    500 (the launch date would fall past year 9999)."""
    from opencxo.economics.models import ValuationScenario

    admin = bearer(sponsors, "a_admin")
    expected = "phases.phase_3.duration_years = 10000 must be <= 50 years"
    for years in (10_000, {"low": 2, "mode": 3, "high": 10_000}):
        spec = _spec_json("nwt-204-in-house.yaml")
        spec["phases"]["phase_3"]["duration_years"] = years
        before = audit_count(session)
        made = client.post(f"{API}/scenarios", json={"spec": spec}, headers=admin)
        assert made.status_code == 422, made.text
        assert made.json()["errors"] == [
            {"field": "spec.phases.phase_3.duration_years", "message": expected}
        ]
        session.expire_all()
        assert session.execute(select(func.count()).select_from(ValuationScenario)).scalar() == 0
        assert audit_count(session) == before
    spec = _spec_json("nwt-204-in-house.yaml")
    spec["phases"]["phase_3"]["duration_years"] = 1_000_000
    rnpv = client.post(f"{API}/economics/rnpv?trials=1000", json=spec, headers=admin)
    assert rnpv.status_code == 422, rnpv.text
    assert rnpv.json()["errors"][0]["field"] == "phases.phase_3.duration_years"
    assert "1e+06 must be <= 50 years" in rnpv.json()["detail"]

    # a scenario stored before the bound: its valuation is refused, nothing stored
    made = client.post(f"{API}/scenarios", json={"spec": _spec_json("nwt-204-in-house.yaml")},
                       headers=admin)  # fmt: skip
    assert made.status_code == 201, made.text
    row = session.get(ValuationScenario, uuid.UUID(made.json()["id"]))
    assert row is not None
    stored_spec = dict(row.spec)
    stored_spec["phases"] = {"phase_3": {"duration_years": 10_000}}
    row.spec = stored_spec
    session.commit()
    url = f"{API}/scenarios/{row.id}/valuations"
    valued = client.post(url, json={"trials": 1000}, headers=admin)
    assert valued.status_code == 422, valued.text
    assert valued.json()["errors"] == [
        {"field": "spec.phases.phase_3.duration_years", "message": expected}
    ]
    session.expire_all()
    assert session.execute(select(func.count()).select_from(Valuation)).scalar() == 0
    assert client.get(f"{API}/scenarios/{row.id}", headers=admin).status_code == 200


def test_a_launch_past_the_calendar_is_a_422_naming_the_phases() -> None:
    with pytest.raises(Invalid) as caught:
        service._launch_date(date(9990, 1, 1), 400.0)
    assert caught.value.field_errors == {"phases": caught.value.message}
    assert caught.value.message.startswith(
        "the launch, 400 years after the valuation date 9990-01-01, falls past 9999-12-31"
    )
    assert service._launch_date(date(2026, 1, 1), 1.0) == date(2027, 1, 1)
