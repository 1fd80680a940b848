"""The parties JSON API end to end: the provider directory, provider profiles, qualifications and
organisation profiles, with the exact values a user would see."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.auth import repository as auth_repository
from opencxo.parties import service as parties
from opencxo.parties.models import Qualification
from opencxo.parties.schemas import SiteCreate
from tests.factories import make_organization, make_provider, make_token, make_user, operator

API = "/api/v1"
TODAY = date.today()


def days(n: int) -> str:
    """An ISO date ``n`` days from today (negative: in the past)."""
    return (TODAY + timedelta(days=n)).isoformat()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def sponsor_id(session: Session) -> uuid.UUID:
    organization = make_organization(session, name="Northwind Therapeutics", country="US")
    session.commit()
    return organization.id


@pytest.fixture
def member(session: Session, sponsor_id: uuid.UUID) -> dict[str, str]:
    """A plain member of the sponsor: enough to search the directory and read profiles."""
    user = make_user(session, organization_id=sponsor_id, role="member")
    token = make_token(session, user=user)
    session.commit()
    return bearer(token)


@pytest.fixture
def op(session: Session) -> dict[str, str]:
    user = auth_repository.user_by_email(session, operator(session).email)
    assert user is not None
    token = make_token(session, user=user)
    session.commit()
    return bearer(token)


# --- the provider directory ------------------------------------------------------------------


@pytest.fixture
def directory(session: Session) -> dict[str, uuid.UUID]:
    """Four providers chosen so every filter selects a different subset.

    Apex (CN, CDMO): GMP API + GMP intermediates, valid GMP, NAI; described as kilogram-scale.
    Borealis (US, CRO, serves Europe): Phase I + monitoring, valid GCP, NAI.
    Cobalt (DE, CDMO): GMP API, GMP certificate expired yesterday, NAI.
    Delta (IN, CMO, a second site in Singapore): drug product, valid GMP, never inspected.
    """
    apex = make_provider(
        session,
        name="Apex API Works",
        country="CN",
        service_codes=("CMC-GMPAPI", "CMC-GMPINT"),
        description="Kilogram-scale small-molecule API campaigns",
    )
    borealis = make_provider(
        session,
        name="Borealis Clinical",
        country="US",
        service_codes=("CLIN-PH1", "CLIN-MONITOR"),
        standards=("GCP",),
        service_lines=["CRO"],
        regions_served=["Europe"],
    )
    cobalt = make_provider(
        session,
        name="Cobalt Synthesis",
        country="DE",
        service_codes=("CMC-GMPAPI",),
        certificate_valid_until=TODAY - timedelta(days=1),
    )
    delta = make_provider(
        session,
        name="Delta Biologics",
        country="IN",
        service_codes=("CMC-DPFORM",),
        inspection_outcome=None,
        service_lines=["CMO"],
    )
    parties.add_site(
        session,
        operator(session),
        delta.id,
        SiteCreate(name="Singapore lab", site_type="lab", country="SG", city="Singapore"),
    )
    session.commit()
    return {"apex": apex.id, "borealis": borealis.id, "cobalt": cobalt.id, "delta": delta.id}


def search(client: TestClient, headers: dict[str, str], query: str) -> dict[str, Any]:
    response = client.get(f"{API}/providers?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ranking(page: dict[str, Any]) -> list[tuple[str, float]]:
    return [(hit["organization"]["name"], hit["score"]) for hit in page["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # no filter: certificates (0.5 each, valid only) + latest inspection (NAI 2); ties by name
        (
            "",
            [
                ("Apex API Works", 2.5),
                ("Borealis Clinical", 2.5),
                ("Cobalt Synthesis", 2.0),
                ("Delta Biologics", 0.5),
            ],
        ),
        # a service: +5 and +0.5 per site offering it
        ("service_code=CMC-GMPAPI", [("Apex API Works", 8.0), ("Cobalt Synthesis", 7.5)]),
        ("service_code=CLIN-MONITOR", [("Borealis Clinical", 8.0)]),
        ("country=US", [("Borealis Clinical", 2.5)]),
        ("country=sg", [("Delta Biologics", 0.5)]),  # a site's country counts; case ignored
        ("country=FR", []),
        # a region matches regions served (Borealis) or a site inside it (Cobalt in DE)
        ("region=Europe", [("Borealis Clinical", 2.5), ("Cobalt Synthesis", 2.0)]),
        ("region=Asia-Pacific", [("Apex API Works", 2.5), ("Delta Biologics", 0.5)]),
        # Cobalt's GMP certificate expired yesterday
        ("certification=GMP", [("Apex API Works", 2.5), ("Delta Biologics", 0.5)]),
        ("certification=GCP", [("Borealis Clinical", 2.5)]),
        ("certification=GLP", []),
        ("service_code=CMC-GMPAPI&certification=GMP", [("Apex API Works", 8.0)]),
        # free text: name +10, each matching catalog service +4, description +2, site city +1
        ("q=apex", [("Apex API Works", 12.5)]),
        ("q=monitoring", [("Borealis Clinical", 6.5)]),
        ("q=GMP", [("Apex API Works", 10.5), ("Cobalt Synthesis", 6.0)]),
        ("q=kilogram", [("Apex API Works", 4.5)]),
        ("q=singapore", [("Delta Biologics", 1.5)]),
        ("q=nothing-like-this", []),
        ("service_line=CRO", [("Borealis Clinical", 2.5)]),
        ("service_line=CMO", [("Delta Biologics", 0.5)]),
        ("service_line=CDMO", [("Apex API Works", 2.5), ("Cobalt Synthesis", 2.0)]),
        ("service_line=CDMO&country=DE", [("Cobalt Synthesis", 2.0)]),
    ],
)
def test_directory_filters_and_scores(
    query: str,
    expected: list[tuple[str, float]],
    client: TestClient,
    member: dict[str, str],
    directory: dict[str, uuid.UUID],
) -> None:
    page = search(client, member, query)
    assert ranking(page) == expected
    assert page["total"] == len(expected)


def test_directory_hit_explains_itself(
    client: TestClient, member: dict[str, str], directory: dict[str, uuid.UUID]
) -> None:
    page = search(client, member, "service_code=CMC-GMPAPI&q=GMP")
    apex, cobalt = page["items"]
    assert apex["organization"] == {
        "id": str(directory["apex"]),
        "name": "Apex API Works",
        "kind": "provider",
        "sponsor_kind": None,
        "service_lines": ["CDMO"],
        "country": "CN",
        "city": "Somewhere",
    }
    assert apex["score"] == 16.0  # 2 text services (8) + service (5.5) + GMP (0.5) + NAI (2)
    assert apex["reasons"] == ["offers 2 matching service(s)", "offers GMP API manufacturing"]
    assert sorted(apex["capability_codes"]) == ["CMC-GMPAPI", "CMC-GMPINT"]
    assert apex["valid_certifications"] == ["GMP"]
    assert apex["latest_inspection"]["authority"] == "FDA"
    assert apex["latest_inspection"]["outcome"] == "NAI"
    assert apex["latest_inspection"]["inspected_on"] == days(-90)
    assert cobalt["score"] == 11.5  # 1 text service (4) + service (5.5) + NAI (2); GMP expired
    assert cobalt["valid_certifications"] == []


def test_directory_rejects_an_unknown_service_code(
    client: TestClient, member: dict[str, str], directory: dict[str, uuid.UUID]
) -> None:
    response = client.get(f"{API}/providers?service_code=CMC-NOPE", headers=member)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "service_code", "message": "choose a code from the service catalog"}
    ]


@pytest.fixture
def inspected(session: Session) -> dict[str, uuid.UUID]:
    """Three providers identical but for their latest FDA inspection; names sort opposite."""
    ids = {
        outcome: make_provider(session, name=name, inspection_outcome=outcome).id
        for outcome, name in [("OAI", "Aardvark Chem"), ("VAI", "Mike Chem"), ("NAI", "Zulu Chem")]
    }
    session.commit()
    return ids


def test_an_official_action_inspection_ranks_a_provider_below_a_clean_one(
    client: TestClient, member: dict[str, str], inspected: dict[str, uuid.UUID]
) -> None:
    page = search(client, member, "service_code=CMC-GMPAPI")
    assert ranking(page) == [("Zulu Chem", 8.0), ("Mike Chem", 7.0), ("Aardvark Chem", 3.0)]
    assert page["items"][2]["reasons"] == [
        "offers GMP API manufacturing",
        "latest FDA inspection: official action indicated",
    ]
    assert page["items"][0]["reasons"] == ["offers GMP API manufacturing"]


def test_only_the_latest_inspection_counts(
    client: TestClient,
    member: dict[str, str],
    op: dict[str, str],
    inspected: dict[str, uuid.UUID],
) -> None:
    added = client.post(
        f"{API}/providers/{inspected['NAI']}/inspections",
        json={"authority": "ema", "inspected_on": days(-10), "outcome": "OAI"},
        headers=op,
    )
    assert added.status_code == 201, added.text
    assert added.json()["authority"] == "EMA"
    page = search(client, member, "")
    assert ranking(page) == [("Mike Chem", 1.5), ("Aardvark Chem", -2.5), ("Zulu Chem", -2.5)]
    zulu = page["items"][2]
    assert zulu["reasons"] == ["latest EMA inspection: official action indicated"]
    assert zulu["latest_inspection"]["inspected_on"] == days(-10)


def test_directory_pages(client: TestClient, member: dict[str, str], session: Session) -> None:
    for n in range(1, 6):
        make_provider(session, name=f"Equal Labs {n}")
    session.commit()

    def names(query: str) -> tuple[list[str], dict[str, int]]:
        page = search(client, member, query)
        counts = {k: page[k] for k in ("total", "page", "page_size", "pages")}
        return [hit["organization"]["name"] for hit in page["items"]], counts

    assert names("page_size=2") == (
        ["Equal Labs 1", "Equal Labs 2"],
        {"total": 5, "page": 1, "page_size": 2, "pages": 3},
    )
    assert names("page_size=2&page=2")[0] == ["Equal Labs 3", "Equal Labs 4"]
    assert names("page_size=2&page=3") == (
        ["Equal Labs 5"],
        {"total": 5, "page": 3, "page_size": 2, "pages": 3},
    )
    assert names("page_size=2&page=4") == (
        [],
        {"total": 5, "page": 4, "page_size": 2, "pages": 3},
    )
    assert names("page_size=5")[1]["pages"] == 1
    for query, field in [
        ("page=0", "query.page"),
        ("page=100001", "query.page"),  # an offset beyond 64 bits was a 500
        ("page_size=101", "query.page_size"),
    ]:
        response = client.get(f"{API}/providers?{query}", headers=member)
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == [field]


def test_organizations_list_filters_by_kind_and_text(
    client: TestClient,
    member: dict[str, str],
    directory: dict[str, uuid.UUID],
    session: Session,
) -> None:
    make_organization(session, name="Biotech Borealis", country="NO")
    session.commit()

    def listed(query: str) -> tuple[int, list[str]]:
        response = client.get(f"{API}/organizations?{query}", headers=member)
        assert response.status_code == 200, response.text
        page = response.json()
        return page["total"], [o["name"] for o in page["items"]]

    assert listed("kind=provider") == (
        4,
        ["Apex API Works", "Borealis Clinical", "Cobalt Synthesis", "Delta Biologics"],
    )
    assert listed("kind=sponsor") == (2, ["Biotech Borealis", "Northwind Therapeutics"])
    assert listed("q=borealis") == (2, ["Biotech Borealis", "Borealis Clinical"])
    assert listed("kind=provider&q=BOREALIS") == (1, ["Borealis Clinical"])
    assert listed("kind=sponsor&page_size=1&page=2") == (2, ["Northwind Therapeutics"])


# --- provider profiles -----------------------------------------------------------------------


def test_provider_profile_shows_capabilities_with_their_last_inspection(
    client: TestClient, member: dict[str, str], op: dict[str, str], session: Session
) -> None:
    provider = make_provider(
        session, name="Profile Pharma", service_codes=("CMC-GMPAPI", "DISC-MEDCHEM")
    )
    session.commit()
    base = f"{API}/providers/{provider.id}"
    profile = client.get(base, headers=member).json()
    plant_id = profile["sites"][0]["id"]

    lab = client.post(
        f"{API}/organizations/{provider.id}/sites",
        json={"name": "Analytical lab", "site_type": "lab", "country": "cn", "city": "Shanghai"},
        headers=op,
    )
    assert lab.status_code == 201, lab.text
    lab_id = lab.json()["id"]
    assert lab.json()["country"] == "CN"
    responses = [
        client.post(
            f"{base}/capabilities",
            json={"service_code": "CMC-ANALDEV", "site_ids": [lab_id],
                  "standards": ["GMP", "ISO 17025"], "lead_time_weeks": 6,
                  "capacity_notes": "two HPLC suites"},
            headers=op,
        ),
        client.post(
            f"{base}/inspections",
            json={"authority": "NMPA", "inspected_on": days(-10), "outcome": "VAI",
                  "site_id": plant_id, "summary": "two observations"},
            headers=op,
        ),
        client.post(
            f"{base}/certifications",
            json={"standard": "ISO 17025", "issuer": "CNAS", "reference": "L1234",
                  "site_id": lab_id, "valid_from": days(-300), "valid_until": days(400)},
            headers=op,
        ),
    ]  # fmt: skip
    assert [r.status_code for r in responses] == [201, 201, 201], [r.text for r in responses]
    nmpa_id = responses[1].json()["id"]

    response = client.get(base, headers=member)
    assert response.status_code == 200
    profile = response.json()
    assert profile["name"] == "Profile Pharma"
    assert profile["kind"] == "provider"
    assert [s["name"] for s in profile["sites"]] == ["Analytical lab", "Main plant"]

    def capability(c: dict[str, Any]) -> tuple[Any, ...]:
        last = c["last_inspection"]
        return (
            c["service_code"],
            c["service_name"],
            c["stage"],
            c["service_line"],
            c["standards"],
            [s["name"] for s in c["sites"]],
            c["lead_time_weeks"],
            (last["authority"], last["outcome"], last["inspected_on"]),
        )

    # catalog order; the plant's capabilities take the plant's NMPA inspection, the lab's
    # capability only the site-less FDA inspection
    assert [capability(c) for c in profile["capabilities"]] == [
        ("DISC-MEDCHEM", "Medicinal chemistry", "discovery", "CRO", ["GMP"], ["Main plant"],
         None, ("NMPA", "VAI", days(-10))),
        ("CMC-ANALDEV", "Analytical development", "cmc", "CDMO", ["GMP", "ISO 17025"],
         ["Analytical lab"], 6, ("FDA", "NAI", days(-90))),
        ("CMC-GMPAPI", "GMP API manufacturing", "cmc", "CMO", ["GMP"], ["Main plant"],
         None, ("NMPA", "VAI", days(-10))),
    ]  # fmt: skip
    assert profile["capabilities"][1]["capacity_notes"] == "two HPLC suites"
    assert [
        (c["standard"], c["issuer"], c["reference"], c["site_id"], c["valid_until"])
        for c in profile["certifications"]
    ] == [
        ("GMP", "Authority", "", None, days(365)),
        ("ISO 17025", "CNAS", "L1234", lab_id, days(400)),
    ]
    assert profile["inspections"][0]["id"] == nmpa_id
    assert [i["authority"] for i in profile["inspections"]] == ["NMPA", "FDA"]
    assert profile["inspections"][0]["summary"] == "two observations"


def test_provider_profile_of_a_sponsor_is_not_found(
    client: TestClient, member: dict[str, str], sponsor_id: uuid.UUID
) -> None:
    response = client.get(f"{API}/providers/{sponsor_id}", headers=member)
    assert response.status_code == 404
    assert response.json()["detail"] == "no such provider"


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("capabilities", {"service_code": "CMC-NOPE"}, 422, "service_code"),
        ("capabilities", {"service_code": "CMC-GMPAPI"}, 409, None),  # already offered
        ("capabilities", {"service_code": "CMC-STAB", "site_ids": [str(uuid.UUID(int=7))]},
         422, "site_ids"),
        ("inspections", {"authority": "FDA", "inspected_on": days(1), "outcome": "NAI"},
         422, "inspected_on"),
        ("inspections", {"authority": "XYZ", "inspected_on": days(-1), "outcome": "NAI"},
         422, "authority"),
        ("certifications", {"standard": "GLP", "issuer": "OECD", "valid_from": days(10),
                            "valid_until": days(5)}, 422, "valid_until"),
    ],
    ids=["unknown-code", "duplicate", "foreign-site", "future-inspection", "unknown-authority",
         "expires-before-valid"],
)  # fmt: skip
def test_provider_profile_writes_are_validated(
    path: str,
    body: dict[str, Any],
    status: int,
    field: str | None,
    client: TestClient,
    op: dict[str, str],
    session: Session,
) -> None:
    provider = make_provider(session, name="Strict Labs")
    session.commit()
    before = client.get(f"{API}/providers/{provider.id}", headers=op).json()
    response = client.post(f"{API}/providers/{provider.id}/{path}", json=body, headers=op)
    assert response.status_code == status, response.text
    if field is not None:
        assert [e["field"] for e in response.json()["errors"]] == [field]
    assert client.get(f"{API}/providers/{provider.id}", headers=op).json() == before


# --- qualifications --------------------------------------------------------------------------


@pytest.fixture
def qa(session: Session, sponsor_id: uuid.UUID) -> dict[str, str]:
    user = make_user(session, organization_id=sponsor_id, role="qa", email="qa@northwind.example")
    token = make_token(session, user=user)
    session.commit()
    return bearer(token)


@pytest.fixture
def provider_id(session: Session) -> uuid.UUID:
    provider = make_provider(session, name="Qualified Labs", country="IN")
    session.commit()
    return provider.id


QUALIFICATION_FIELDS = (
    "status", "cda_signed_on", "msa_signed_on", "quality_agreement_signed_on", "last_audit_on",
    "last_audit_outcome", "audit_findings", "expires_on", "notes",
)  # fmt: skip
EMPTY_QUALIFICATION = dict.fromkeys(QUALIFICATION_FIELDS) | {"audit_findings": "", "notes": ""}


def test_create_qualification(
    client: TestClient, qa: dict[str, str], sponsor_id: uuid.UUID, provider_id: uuid.UUID
) -> None:
    body = {
        "provider_id": str(provider_id),
        "status": "conditional",
        "cda_signed_on": days(-120),
        "msa_signed_on": days(-60),
        "last_audit_on": days(-30),
        "last_audit_outcome": "passed_with_findings",
        "audit_findings": "CAPA open on the water system",
        "expires_on": days(150),
        "notes": "re-audit after CAPA closure",
    }
    response = client.post(f"{API}/qualifications", json=body, headers=qa)
    assert response.status_code == 201, response.text
    created = response.json()
    assert uuid.UUID(created.pop("id"))
    assert created.pop("updated_at")
    assert created == {
        **EMPTY_QUALIFICATION,
        **body,
        "sponsor_id": str(sponsor_id),
        "provider_name": "Qualified Labs",
        "version": 1,
        "expired": False,
    }
    listed = client.get(f"{API}/qualifications", headers=qa).json()
    assert (listed["total"], [q["provider_name"] for q in listed["items"]]) == (
        1,
        ["Qualified Labs"],
    )


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"status": "approved"},
         [{"field": "expires_on", "message": "set the date the approval lapses"}]),
        ({"status": "disqualified"},
         [{"field": "audit_findings", "message": "record the findings or a note"}]),
        ({"status": "conditional", "last_audit_on": days(-10), "expires_on": days(-11)},
         [{"field": "expires_on", "message": "must be on or after the last audit"}]),
    ],
    ids=["approved-without-expiry", "disqualified-without-findings", "expiry-before-audit"],
)  # fmt: skip
def test_qualification_rules_name_the_field(
    body: dict[str, Any],
    errors: list[dict[str, str]],
    client: TestClient,
    qa: dict[str, str],
    provider_id: uuid.UUID,
) -> None:
    response = client.post(
        f"{API}/qualifications", json={"provider_id": str(provider_id), **body}, headers=qa
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == errors
    assert client.get(f"{API}/qualifications", headers=qa).json()["total"] == 0


def test_qualification_input_errors_name_the_field(
    client: TestClient, qa: dict[str, str], sponsor_id: uuid.UUID, provider_id: uuid.UUID
) -> None:
    def fields(body: dict[str, Any]) -> list[str]:
        response = client.post(f"{API}/qualifications", json=body, headers=qa)
        assert response.status_code == 422, response.text
        return [e["field"] for e in response.json()["errors"]]

    assert fields({"provider_id": str(provider_id), "status": "pending"}) == ["status"]
    assert fields({"status": "conditional"}) == ["provider_id"]
    assert fields({"provider_id": str(sponsor_id), "status": "conditional"}) == ["provider_id"]
    assert fields({"provider_id": str(uuid.uuid4()), "status": "conditional"}) == ["provider_id"]
    assert fields(
        {"provider_id": str(provider_id), "status": "conditional", "expires_on": "31/12/2030"}
    ) == ["expires_on"]


def test_a_disqualification_with_a_note_is_enough_and_a_second_one_conflicts(
    client: TestClient, qa: dict[str, str], provider_id: uuid.UUID
) -> None:
    body = {"provider_id": str(provider_id), "status": "disqualified", "notes": "data integrity"}
    first = client.post(f"{API}/qualifications", json=body, headers=qa)
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["notes"]) == ("disqualified", "data integrity")
    second = client.post(f"{API}/qualifications", json=body, headers=qa)
    assert second.status_code == 409
    assert second.json()["errors"] == [{"field": "provider_id", "message": "already qualified"}]


def test_a_qualification_past_its_expiry_is_flagged_expired(
    client: TestClient, qa: dict[str, str], provider_id: uuid.UUID
) -> None:
    response = client.post(
        f"{API}/qualifications",
        json={"provider_id": str(provider_id), "status": "approved", "expires_on": days(-1)},
        headers=qa,
    )
    assert response.status_code == 201, response.text
    assert response.json()["expired"] is True
    fetched = client.get(f"{API}/qualifications/{response.json()['id']}", headers=qa).json()
    assert (fetched["status"], fetched["expired"]) == ("approved", True)


def test_update_qualification_and_its_history(
    client: TestClient, qa: dict[str, str], sponsor_id: uuid.UUID, provider_id: uuid.UUID
) -> None:
    created = client.post(
        f"{API}/qualifications",
        json={"provider_id": str(provider_id), "status": "conditional",
              "audit_findings": "CAPA open", "expires_on": days(90)},
        headers=qa,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    url = f"{API}/qualifications/{created.json()['id']}"
    change = {
        "status": "approved",
        "last_audit_on": days(-5),
        "last_audit_outcome": "passed",
        "audit_findings": "CAPA closed",
        "expires_on": days(700),
    }
    refused = client.patch(url, json={"version": 1, **change, "expires_on": None}, headers=qa)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["expires_on"]

    updated = client.patch(
        url, json={"version": 1, **change, "reason": "re-audit passed"}, headers=qa
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    assert {k: updated.json()[k] for k in change} == change

    # the same values again change nothing and record nothing
    same = client.patch(url, json={"version": 2, **change}, headers=qa)
    assert same.status_code == 200
    assert same.json()["version"] == 2

    history = client.get(f"{url}/history", headers=qa)
    assert history.status_code == 200
    events = history.json()
    assert [e["action"] for e in events] == ["update", "create"]  # newest first
    update, create = events
    assert events[0]["sequence"] > events[1]["sequence"]
    for event in events:
        assert event["entity_type"] == "qualification"
        assert event["entity_id"] == created.json()["id"]
        assert event["organization_id"] == str(sponsor_id)
        assert event["actor_label"] == "qa@northwind.example"
        assert len(event["hash"]) == 64
    created_state = {
        **EMPTY_QUALIFICATION,
        "status": "conditional",
        "audit_findings": "CAPA open",
        "expires_on": days(90),
    }
    assert create["before"] is None
    assert create["after"] == created_state
    assert create["reason"] is None
    assert update["before"] == created_state
    assert update["after"] == {**created_state, **change}
    assert update["reason"] == "re-audit passed"


# --- organisation profiles -------------------------------------------------------------------


@pytest.fixture
def admin(session: Session, sponsor_id: uuid.UUID) -> dict[str, str]:
    user = make_user(
        session, organization_id=sponsor_id, role="admin", email="admin@northwind.example"
    )
    token = make_token(session, user=user)
    session.commit()
    return bearer(token)


def test_organization_patch_with_version_and_history(
    client: TestClient, admin: dict[str, str], sponsor_id: uuid.UUID
) -> None:
    url = f"{API}/organizations/{sponsor_id}"
    change = {"city": "Basel", "website": "https://northwind.example", "regions_served": ["Europe"]}
    response = client.patch(url, json={"version": 1, **change}, headers=admin)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2
    assert {k: updated[k] for k in change} == change
    assert (updated["name"], updated["country"], updated["sponsor_kind"]) == (
        "Northwind Therapeutics",
        "US",
        "biotech",
    )
    assert client.get(url, headers=admin).json() == updated

    stale = client.patch(url, json={"version": 1, "city": "Zürich"}, headers=admin)
    assert stale.status_code == 409
    assert client.get(url, headers=admin).json()["city"] == "Basel"

    events = client.get(f"{url}/history", headers=admin).json()
    assert [e["action"] for e in events] == ["update", "create"]
    update = events[0]
    assert update["actor_label"] == "admin@northwind.example"
    changed = {k for k in update["after"] if update["before"][k] != update["after"][k]}
    assert changed == {"city", "website", "regions_served"}
    assert (update["before"]["city"], update["after"]["city"]) == ("Somewhere", "Basel")
    assert update["after"]["regions_served"] == ["Europe"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "USA"}, "country"),
        ({"regions_served": ["Atlantis"]}, "regions_served"),
        ({"name": "N"}, "name"),
    ],
)
def test_organization_patch_rejects_bad_values_naming_the_field(
    change: dict[str, Any],
    field: str,
    client: TestClient,
    admin: dict[str, str],
    sponsor_id: uuid.UUID,
) -> None:
    url = f"{API}/organizations/{sponsor_id}"
    before = client.get(url, headers=admin).json()
    response = client.patch(url, json={"version": 1, **change}, headers=admin)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    if field == "country":
        assert "ISO 3166-1 alpha-2" in errors[0]["message"]
    assert client.get(url, headers=admin).json() == before


def test_organization_country_is_normalised_to_upper_case(
    client: TestClient, admin: dict[str, str], sponsor_id: uuid.UUID
) -> None:
    response = client.patch(
        f"{API}/organizations/{sponsor_id}", json={"version": 1, "country": " ch "}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["country"] == "CH"


def test_organization_name_must_be_unique(
    client: TestClient, admin: dict[str, str], sponsor_id: uuid.UUID, session: Session
) -> None:
    make_organization(session, name="Contoso Pharma")
    session.commit()
    response = client.patch(
        f"{API}/organizations/{sponsor_id}",
        json={"version": 1, "name": "contoso pharma"},
        headers=admin,
    )
    assert response.status_code == 409
    assert response.json()["errors"] == [{"field": "name", "message": "already taken"}]


def test_a_provider_keeps_at_least_one_service_line(
    client: TestClient, session: Session, provider_id: uuid.UUID
) -> None:
    user = make_user(session, organization_id=provider_id, role="admin")
    headers = bearer(make_token(session, user=user))
    session.commit()
    url = f"{API}/organizations/{provider_id}"
    response = client.patch(url, json={"version": 1, "service_lines": []}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "service_lines", "message": "choose CRO, CMO and/or CDMO"}
    ]
    after = client.get(url, headers=headers).json()
    assert (after["service_lines"], after["version"]) == (["CDMO"], 1)


def test_create_organization_validates_country(client: TestClient, op: dict[str, str]) -> None:
    body = {"name": "Fjord Bio", "kind": "sponsor", "sponsor_kind": "biotech"}
    refused = client.post(f"{API}/organizations", json={**body, "country": "ZZ"}, headers=op)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["country"]
    created = client.post(f"{API}/organizations", json={**body, "country": "no"}, headers=op)
    assert created.status_code == 201, created.text
    assert (created.json()["country"], created.json()["version"]) == ("NO", 1)
    sponsorless = client.post(
        f"{API}/organizations",
        json={"name": "Kindless", "kind": "sponsor", "country": "NO"},
        headers=op,
    )
    assert sponsorless.status_code == 422
    assert [e["field"] for e in sponsorless.json()["errors"]] == ["sponsor_kind"]


def test_a_nul_character_is_invalid_input_not_a_server_error(
    client: TestClient, op: dict[str, str], engine: Engine, sponsor_id: uuid.UUID
) -> None:
    """PostgreSQL cannot store or compare text holding NUL; SQLite can. Neither answers 500."""
    searched = client.get(f"{API}/organizations?q=%00", headers=op)
    renamed = client.patch(
        f"{API}/organizations/{sponsor_id}", json={"version": 1, "city": "Ba\u0000sel"}, headers=op
    )
    if engine.dialect.name == "postgresql":
        for response in (searched, renamed):
            assert response.status_code == 422, response.text
            assert response.json()["title"] == "Invalid input"
        assert client.get(f"{API}/organizations/{sponsor_id}", headers=op).json()["version"] == 1
    else:
        assert searched.status_code == 200  # (SQLite's LIKE reads the pattern up to the NUL)
        assert (renamed.status_code, renamed.json()["city"]) == (200, "Ba\x00sel")


def test_a_partial_qualification_patch_keeps_what_it_leaves_out(
    client: TestClient, qa: dict[str, str], provider_id: uuid.UUID
) -> None:
    created = client.post(
        f"{API}/qualifications",
        json={
            "provider_id": str(provider_id),
            "status": "conditional",
            "cda_signed_on": days(-120),
            "audit_findings": "CAPA open",
            "expires_on": days(90),
        },
        headers=qa,
    ).json()
    url = f"{API}/qualifications/{created['id']}"
    patched = client.patch(url, json={"version": 1, "status": "approved"}, headers=qa)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["status"], body["cda_signed_on"], body["audit_findings"], body["version"]) == (
        "approved",
        days(-120),
        "CAPA open",
        2,
    )
    # The rules apply to the merged record: clearing the expiry of an approval is refused.
    refused = client.patch(url, json={"version": 2, "expires_on": None}, headers=qa)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "expires_on", "message": "set the date the approval lapses"}
    ]
    assert client.get(url, headers=qa).json()["expires_on"] == days(90)
    nulled = client.patch(url, json={"version": 2, "status": None}, headers=qa)
    assert nulled.status_code == 422
    assert nulled.json()["errors"][0]["field"] == "status"


# --- dates within the shared calendar range (core.dates: 1900-01-01 … 2199-12-31) -----------------

OUT_OF_RANGE = "Value error, use a date between 1900-01-01 and 2199-12-31"


def _audit_events(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_profile_dates_outside_the_calendar_are_refused_saying_the_range(
    client: TestClient, op: dict[str, str], session: Session
) -> None:
    provider = make_provider(session, name="Strict Labs")
    session.commit()
    url = f"{API}/providers/{provider.id}"
    before, events = client.get(url, headers=op).json(), _audit_events(session)
    for path, body, fields in [
        ("inspections", {"authority": "FDA", "inspected_on": "1899-12-31", "outcome": "NAI"},
         ["inspected_on"]),
        ("certifications", {"standard": "GLP", "issuer": "OECD", "valid_from": "0001-01-01",
                            "valid_until": "9999-12-31"}, ["valid_from", "valid_until"]),
        ("certifications", {"standard": "GLP", "issuer": "OECD", "valid_until": "2200-01-01"},
         ["valid_until"]),
    ]:  # fmt: skip
        response = client.post(f"{url}/{path}", json=body, headers=op)
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [
            {"field": field, "message": OUT_OF_RANGE} for field in fields
        ]
    assert client.get(url, headers=op).json() == before
    assert _audit_events(session) == events
    # the first and last days are dates like any other
    kept = client.post(f"{url}/certifications", headers=op, json={
        "standard": "GLP", "issuer": "OECD", "valid_from": "1900-01-01",
        "valid_until": "2199-12-31"})  # fmt: skip
    assert kept.status_code == 201, kept.text
    assert client.post(f"{url}/inspections", headers=op, json={
        "authority": "FDA", "inspected_on": "1900-01-01", "outcome": "NAI"}).status_code == 201  # fmt: skip


def test_qualification_dates_outside_the_calendar_are_refused_saying_the_range(
    client: TestClient, qa: dict[str, str], provider_id: uuid.UUID, session: Session
) -> None:
    events = _audit_events(session)
    body = {"provider_id": str(provider_id), "status": "conditional",
            "cda_signed_on": "0001-01-01", "expires_on": "2200-01-01"}  # fmt: skip
    refused = client.post(f"{API}/qualifications", json=body, headers=qa)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "cda_signed_on", "message": OUT_OF_RANGE},
        {"field": "expires_on", "message": OUT_OF_RANGE},
    ]
    assert client.get(f"{API}/qualifications", headers=qa).json()["total"] == 0
    assert _audit_events(session) == events

    created = client.post(
        f"{API}/qualifications",
        json={"provider_id": str(provider_id), "status": "conditional",
              "cda_signed_on": "1900-01-01", "expires_on": "2199-12-31"},
        headers=qa,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    url = f"{API}/qualifications/{created.json()['id']}"
    events = _audit_events(session)
    for change, field in [
        ({"last_audit_on": "9999-12-31"}, "last_audit_on"),
        ({"msa_signed_on": "1899-12-31"}, "msa_signed_on"),
    ]:
        changed = client.patch(url, json={"version": 1, **change}, headers=qa)
        assert changed.status_code == 422, changed.text
        assert changed.json()["errors"] == [{"field": field, "message": OUT_OF_RANGE}]
    assert client.get(url, headers=qa).json() == created.json()
    assert _audit_events(session) == events


def test_a_qualification_date_stored_before_the_range_reads_and_asks_for_a_correction(
    client: TestClient, qa: dict[str, str], provider_id: uuid.UUID, session: Session
) -> None:
    """A date kept before the check (year 1) reads; a change that would keep it is a 422
    naming the stored date (it used to be a 500), and one that corrects it is saved."""
    created = client.post(
        f"{API}/qualifications",
        json={"provider_id": str(provider_id), "status": "conditional", "notes": "CAPA open"},
        headers=qa,
    )
    assert created.status_code == 201, created.text
    qualification_id = created.json()["id"]
    session.execute(
        update(Qualification)
        .where(Qualification.id == uuid.UUID(qualification_id))
        .values(cda_signed_on=date(1, 1, 1))
    )
    session.commit()
    url = f"{API}/qualifications/{qualification_id}"
    read = client.get(url, headers=qa)
    assert read.status_code == 200 and read.json()["cda_signed_on"] == "0001-01-01"
    assert client.get(f"{API}/qualifications", headers=qa).json()["total"] == 1
    events = _audit_events(session)

    kept = client.patch(url, json={"version": 1, "notes": "CAPA closed"}, headers=qa)
    assert kept.status_code == 422, kept.text
    assert kept.json()["errors"] == [
        {
            "field": "cda_signed_on",
            "message": "the stored value 0001-01-01 is no longer accepted (use a date between "
            "1900-01-01 and 2199-12-31); send the corrected date with this change",
        }
    ]
    assert client.get(url, headers=qa).json() == read.json()
    assert _audit_events(session) == events

    fixed = client.patch(
        url, json={"version": 1, "notes": "CAPA closed", "cda_signed_on": days(-30)}, headers=qa
    )
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["cda_signed_on"], fixed.json()["notes"]) == (days(-30), "CAPA closed")
