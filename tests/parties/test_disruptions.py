"""Declared disruptions: the JSON API (validation, versions, privacy, roles, audit) and
``disruptions_covering``, which sourcing's bid comparison asks about a provider's country."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted
from opencxo.parties import service as parties
from opencxo.parties.models import Disruption
from opencxo.parties.schemas import DisruptionCreate, DisruptionEnd, DisruptionRead
from tests.factories import make_organization, make_token, make_user, principal_of

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Sponsors:
    """Sponsor A (a manager, a member, a viewer) and sponsor B (an admin), by their API headers."""

    a: uuid.UUID
    b: uuid.UUID
    headers: dict[str, dict[str, str]]


@pytest.fixture
def sponsors(session: Session) -> Sponsors:
    a = make_organization(session, name="Sponsor A", country="US")
    b = make_organization(session, name="Sponsor B", country="DE")
    users = {
        "a_manager": make_user(session, organization_id=a.id, role="manager"),
        "a_member": make_user(session, organization_id=a.id, role="member"),
        "a_viewer": make_user(session, organization_id=a.id, role="viewer"),
        "b_admin": make_user(session, organization_id=b.id, role="admin"),
    }
    headers = {name: bearer(make_token(session, user=user)) for name, user in users.items()}
    session.commit()
    return Sponsors(a.id, b.id, headers)


FLU = {
    "title": "Influenza epidemic, Germany",
    "cause": "epidemic",
    "country": "DE",
    "starts_on": "2026-01-10",
    "ends_on": "2026-02-10",
    "enrollment_multiplier": 0.5,
    "freeze_activations": False,
    "notes": "RKI surveillance report week 2",
}


def declare(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post(f"{API}/disruptions", json={**FLU, **changes}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def disruption_events(engine: Engine, disruption_id: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.entity_id == disruption_id)
                .order_by(AuditEvent.sequence)
            ).scalars()
        )


def disruption_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Disruption)) or 0)


def audit_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


# --- declaring --------------------------------------------------------------------------------


def test_declare_by_country(client: TestClient, sponsors: Sponsors, engine: Engine) -> None:
    created = declare(client, sponsors.headers["a_member"])
    assert uuid.UUID(created.pop("id"))
    assert created.pop("updated_at")
    assert created == {
        "organization_id": str(sponsors.a),
        "title": "Influenza epidemic, Germany",
        "cause": "epidemic",
        "country": "DE",
        "region": None,
        "starts_on": "2026-01-10",
        "ends_on": "2026-02-10",
        "enrollment_multiplier": 0.5,
        "freeze_activations": False,
        "notes": "RKI surveillance report week 2",
        "version": 1,
    }


def test_declare_by_region_with_the_defaults(client: TestClient, sponsors: Sponsors) -> None:
    body = {
        "title": "Typhoon season",
        "cause": "natural_disaster",
        "region": "Asia-Pacific",
        "starts_on": "2026-07-01",
    }
    response = client.post(f"{API}/disruptions", json=body, headers=sponsors.headers["a_manager"])
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["country"], created["region"]) == (None, "Asia-Pacific")
    # open-ended, enrollment suspended, activations frozen: the cautious defaults
    assert created["ends_on"] is None
    assert created["enrollment_multiplier"] == 0.0
    assert created["freeze_activations"] is True
    assert created["notes"] == ""


def test_a_country_code_is_normalised(client: TestClient, sponsors: Sponsors) -> None:
    assert declare(client, sponsors.headers["a_member"], country=" de ")["country"] == "DE"


def test_declaring_writes_an_audit_event(
    client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    created = declare(client, sponsors.headers["a_member"])
    (event,) = disruption_events(engine, created["id"])
    assert (event.action, event.entity_type, event.organization_id) == (
        "create",
        "disruption",
        sponsors.a,
    )
    assert event.before is None
    assert event.after == {
        "title": "Influenza epidemic, Germany",
        "cause": "epidemic",
        "country": "DE",
        "region": None,
        "starts_on": "2026-01-10",
        "ends_on": "2026-02-10",
        "enrollment_multiplier": 0.5,
        "freeze_activations": False,
        "notes": "RKI surveillance report week 2",
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"region": "Europe"}, "country", "give a country or a region, not both"),
        ({"country": None}, "country", "give a country or a region, not both"),
        ({"country": ""}, "country", "give a country or a region, not both"),
        ({"ends_on": "2026-01-09"}, "ends_on", "must be on or after 2026-01-10"),
    ],
    ids=["both", "neither", "blank-country", "ends-before-start"],
)
def test_business_rules_answer_422_naming_the_field(
    changes: dict[str, Any],
    field: str,
    message: str,
    client: TestClient,
    sponsors: Sponsors,
    engine: Engine,
) -> None:
    before = audit_count(engine)
    response = client.post(
        f"{API}/disruptions", json={**FLU, **changes}, headers=sponsors.headers["a_member"]
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": field, "message": message}]
    assert disruption_count(engine) == 0
    assert audit_count(engine) == before


def test_ending_on_the_day_it_starts_is_allowed(client: TestClient, sponsors: Sponsors) -> None:
    one_day = declare(client, sponsors.headers["a_member"], ends_on=FLU["starts_on"])
    assert one_day["ends_on"] == one_day["starts_on"] == "2026-01-10"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "Germany"}, "country"),
        ({"country": "DEU"}, "country"),
        ({"country": None, "region": "Atlantis"}, "region"),
        ({"country": None, "region": "europe"}, "region"),  # regions are named exactly
        ({"enrollment_multiplier": -0.01}, "enrollment_multiplier"),
        ({"enrollment_multiplier": 1.01}, "enrollment_multiplier"),
        ({"cause": "alien_invasion"}, "cause"),
        ({"title": ""}, "title"),
        ({"starts_on": None}, "starts_on"),
        ({"starts_on": "0001-01-01"}, "starts_on"),  # a typo: outside 1900–2199
        ({"ends_on": "9999-12-31"}, "ends_on"),
    ],
)
def test_malformed_input_answers_422_naming_the_field(
    changes: dict[str, Any], field: str, client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    response = client.post(
        f"{API}/disruptions", json={**FLU, **changes}, headers=sponsors.headers["a_member"]
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert disruption_count(engine) == 0


@pytest.mark.parametrize(("multiplier", "words"), [(0, 0.0), (1, 1.0)])
def test_multiplier_bounds_are_inclusive(
    multiplier: int, words: float, client: TestClient, sponsors: Sponsors
) -> None:
    created = declare(client, sponsors.headers["a_member"], enrollment_multiplier=multiplier)
    assert created["enrollment_multiplier"] == words


def test_a_member_of_two_organisations_names_the_declaring_one(
    client: TestClient, session: Session, sponsors: Sponsors
) -> None:
    other = make_organization(session, name="Sponsor C")
    user = make_user(session, organization_id=sponsors.a, role="member")
    make_user(session, organization_id=other.id, role="member", email=user.email)
    assert principal_of(session, user).organization_ids == {sponsors.a, other.id}
    headers = bearer(make_token(session, user=user))
    session.commit()

    unnamed = client.post(f"{API}/disruptions", json=FLU, headers=headers)
    assert unnamed.status_code == 422, unnamed.text
    assert unnamed.json()["errors"] == [
        {"field": "organization_id", "message": "choose your organisation"}
    ]
    named = declare(client, headers, organization_id=str(other.id))
    assert named["organization_id"] == str(other.id)
    # an organisation the user does not belong to is unknown
    refused = client.post(
        f"{API}/disruptions", json={**FLU, "organization_id": str(sponsors.b)}, headers=headers
    )
    assert refused.status_code == 404
    assert refused.json()["detail"] == "no such organisation"


# --- reading, updating, closing, deleting --------------------------------------------------------


def test_list_shows_only_your_organisations_disruptions_newest_first(
    client: TestClient, sponsors: Sponsors
) -> None:
    old = declare(
        client, sponsors.headers["a_member"], title="Old", starts_on="2025-05-01", ends_on=None
    )
    new = declare(
        client, sponsors.headers["a_member"], title="New", starts_on="2026-03-01", ends_on=None
    )
    b_own = declare(client, sponsors.headers["b_admin"], title="B's own")

    def listed(actor: str) -> list[str]:
        response = client.get(f"{API}/disruptions", headers=sponsors.headers[actor])
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()]

    assert listed("a_viewer") == [new["id"], old["id"]]
    assert listed("a_manager") == [new["id"], old["id"]]
    assert listed("b_admin") == [b_own["id"]]


def test_update_replaces_every_field_and_bumps_the_version(
    client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    created = declare(client, sponsors.headers["a_member"])
    url = f"{API}/disruptions/{created['id']}"
    body = {
        **FLU,
        "version": 1,
        "country": None,
        "region": "Europe",
        "ends_on": None,
        "enrollment_multiplier": 0.25,
    }
    response = client.put(url, json=body, headers=sponsors.headers["a_manager"])
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["country"], updated["region"], updated["ends_on"]) == (None, "Europe", None)
    assert updated["enrollment_multiplier"] == 0.25
    assert updated["version"] == 2
    assert client.get(url, headers=sponsors.headers["a_viewer"]).json() == updated

    _, update = disruption_events(engine, created["id"])
    assert update.action == "update"
    before, after = update.before or {}, update.after or {}
    changed = {k: (before[k], v) for k, v in after.items() if before[k] != v}
    assert changed == {
        "country": ("DE", None),
        "region": (None, "Europe"),
        "ends_on": ("2026-02-10", None),
        "enrollment_multiplier": (0.5, 0.25),
    }


def test_closing_a_disruption_is_an_update_of_ends_on(
    client: TestClient, sponsors: Sponsors
) -> None:
    created = declare(client, sponsors.headers["a_member"], ends_on=None)
    body = {**FLU, "version": 1, "ends_on": "2026-03-31"}
    response = client.put(
        f"{API}/disruptions/{created['id']}", json=body, headers=sponsors.headers["a_member"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["ends_on"] == "2026-03-31"


def test_an_update_that_changes_nothing_keeps_the_version_and_writes_no_event(
    client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    created = declare(client, sponsors.headers["a_member"])
    response = client.put(
        f"{API}/disruptions/{created['id']}",
        json={**FLU, "version": 1},
        headers=sponsors.headers["a_member"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    assert len(disruption_events(engine, created["id"])) == 1


def test_update_breaking_a_rule_answers_422_and_changes_nothing(
    client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    created = declare(client, sponsors.headers["a_member"])
    url = f"{API}/disruptions/{created['id']}"
    response = client.put(
        url, json={**FLU, "version": 1, "region": "Europe"}, headers=sponsors.headers["a_member"]
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "country"
    assert client.get(url, headers=sponsors.headers["a_member"]).json() == created


def test_a_stale_version_answers_409_and_changes_nothing(
    client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    created = declare(client, sponsors.headers["a_member"])
    url = f"{API}/disruptions/{created['id']}"
    first = client.put(
        url, json={**FLU, "version": 1, "title": "Flu wave"}, headers=sponsors.headers["a_member"]
    )
    assert first.status_code == 200, first.text
    events = audit_count(engine)

    stale = client.put(
        url,
        json={**FLU, "version": 1, "title": "Overwritten"},
        headers=sponsors.headers["a_manager"],
    )
    assert stale.status_code == 409
    assert "(version 2, you sent 1)" in stale.json()["detail"]
    current = client.get(url, headers=sponsors.headers["a_member"]).json()
    assert (current["title"], current["version"]) == ("Flu wave", 2)
    assert audit_count(engine) == events


def test_delete_removes_it_and_writes_an_audit_event(
    client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    created = declare(client, sponsors.headers["a_member"])
    url = f"{API}/disruptions/{created['id']}"
    response = client.delete(url, headers=sponsors.headers["a_manager"])
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(url, headers=sponsors.headers["a_manager"]).status_code == 404
    assert disruption_count(engine) == 0
    create, delete = disruption_events(engine, created["id"])
    assert (delete.action, delete.organization_id, delete.after) == ("delete", sponsors.a, None)
    assert delete.before == create.after


# --- privacy and roles ---------------------------------------------------------------------------


def test_another_organisations_disruption_answers_404_like_an_unknown_id(
    client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    created = declare(client, sponsors.headers["a_member"])
    intruder = sponsors.headers["b_admin"]
    before, events = disruption_count(engine), audit_count(engine)
    for method, body in [
        ("GET", None),
        ("PUT", {**FLU, "version": 1, "title": "Hijacked"}),
        ("DELETE", None),
    ]:
        answers = [
            client.request(method, f"{API}/disruptions/{target}", json=body, headers=intruder)
            for target in (created["id"], uuid.uuid4())
        ]
        assert [a.status_code for a in answers] == [404, 404], method
        assert (
            answers[0].json()
            == answers[1].json()
            == {
                "type": "about:blank",
                "title": "Not found",
                "status": 404,
                "detail": "no such disruption",
            }
        )
    assert (disruption_count(engine), audit_count(engine)) == (before, events)
    still = client.get(f"{API}/disruptions/{created['id']}", headers=sponsors.headers["a_member"])
    assert still.json() == created


def test_a_viewer_reads_but_cannot_write(
    client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    created = declare(client, sponsors.headers["a_member"])
    viewer = sponsors.headers["a_viewer"]
    url = f"{API}/disruptions/{created['id']}"
    events = audit_count(engine)
    assert client.get(url, headers=viewer).status_code == 200
    answers = [
        client.post(f"{API}/disruptions", json=FLU, headers=viewer),
        client.post(
            f"{API}/disruptions", json={**FLU, "organization_id": str(sponsors.a)}, headers=viewer
        ),
        client.put(url, json={**FLU, "version": 1, "title": "Changed"}, headers=viewer),
        client.delete(url, headers=viewer),
    ]
    assert [a.status_code for a in answers] == [403, 403, 403, 403]
    assert {a.json()["detail"] for a in answers} == {"your role does not grant disruptions:write"}
    assert disruption_count(engine) == 1
    assert audit_count(engine) == events
    assert client.get(url, headers=viewer).json() == created


def test_anonymous_callers_are_refused(client: TestClient, sponsors: Sponsors) -> None:
    assert client.get(f"{API}/disruptions").status_code == 401
    assert client.post(f"{API}/disruptions", json=FLU).status_code == 401


# --- disruptions_covering: what sourcing's bid comparison flags -----------------------------------


@pytest.fixture
def covering(session: Session, sponsors: Sponsors) -> Sponsors:
    """A: a strike in Germany (March 2026), a flu wave in Europe (10 Jan – 10 Feb 2026) and an
    open-ended export halt in China from May 2026. B: its own open-ended German disruption."""
    a = principal_of(session, make_user(session, organization_id=sponsors.a, role="member"))
    b = principal_of(session, make_user(session, organization_id=sponsors.b, role="member"))
    for principal, body in [
        (
            a,
            {
                "title": "Germany strike",
                "cause": "other",
                "country": "DE",
                "starts_on": date(2026, 3, 1),
                "ends_on": date(2026, 3, 31),
            },
        ),
        (
            a,
            {
                "title": "Europe flu",
                "cause": "epidemic",
                "region": "Europe",
                "starts_on": date(2026, 1, 10),
                "ends_on": date(2026, 2, 10),
            },
        ),
        (
            a,
            {
                "title": "China export halt",
                "cause": "regulatory",
                "country": "CN",
                "starts_on": date(2026, 5, 1),
            },
        ),
        (
            b,
            {
                "title": "B's Germany",
                "cause": "conflict",
                "country": "DE",
                "starts_on": date(2020, 1, 1),
            },
        ),
    ]:
        parties.declare_disruption(session, principal, DisruptionCreate.model_validate(body))
    session.commit()
    return sponsors


@pytest.mark.parametrize(
    ("country", "start", "end", "expected"),
    [
        # a country match, well inside the window
        ("DE", date(2026, 3, 10), date(2026, 3, 20), ["Germany strike"]),
        # a region match: Europe covers Germany and France, newest start first
        ("DE", date(2026, 1, 1), date(2026, 12, 31), ["Germany strike", "Europe flu"]),
        ("FR", date(2026, 2, 1), date(2026, 2, 1), ["Europe flu"]),
        ("FR", date(2026, 3, 10), date(2026, 3, 20), []),  # the strike is Germany's only
        # work ending the day the disruption starts is covered; the day before is not
        ("DE", date(2026, 2, 20), date(2026, 3, 1), ["Germany strike"]),
        ("DE", date(2026, 2, 20), date(2026, 2, 28), []),
        # a disruption ending the day work starts covers it; ended the day before, it does not
        ("DE", date(2026, 2, 10), date(2026, 2, 15), ["Europe flu"]),
        ("DE", date(2026, 2, 11), date(2026, 2, 28), []),
        ("DE", date(2026, 4, 1), None, []),  # open-ended work after both German events
        # an open-ended disruption covers everything from its start on
        ("CN", date(2030, 1, 1), date(2030, 6, 30), ["China export halt"]),
        ("CN", date(2026, 5, 1), date(2026, 5, 1), ["China export halt"]),
        ("CN", date(2026, 4, 1), date(2026, 4, 30), []),
        ("CN", date(2020, 1, 1), None, ["China export halt"]),  # open-ended work too
        ("cn", date(2030, 1, 1), None, ["China export halt"]),  # codes are case-blind
        # a country disruption does not spread to its region
        ("JP", date(2026, 6, 1), date(2026, 6, 30), []),
        ("US", date(2020, 1, 1), None, []),
    ],
)
def test_disruptions_covering(
    country: str,
    start: date,
    end: date | None,
    expected: list[str],
    session: Session,
    covering: Sponsors,
) -> None:
    found = parties.disruptions_covering(session, covering.a, country, start, end)
    assert [d.title for d in found] == expected


def test_disruptions_covering_reads_only_the_organisation_asked_about(
    session: Session, covering: Sponsors
) -> None:
    found = parties.disruptions_covering(session, covering.b, "DE", date(2026, 3, 1), None)
    assert [(d.title, d.organization_id) for d in found] == [("B's Germany", covering.b)]
    assert [d.place for d in found] == ["DE"]


# --- end_disruption: the "end today" use case of the disruptions and study pages ------------------


def _member_and_viewer(session: Session, sponsors: Sponsors) -> tuple[Principal, Principal]:
    member = make_user(session, organization_id=sponsors.a, role="member")
    viewer = make_user(session, organization_id=sponsors.a, role="viewer")
    return principal_of(session, member), principal_of(session, viewer)


def _open(session: Session, principal: Principal, **changes: Any) -> DisruptionRead:
    body = {**FLU, "starts_on": date(2026, 3, 1), "ends_on": None, **changes}
    return parties.declare_disruption(session, principal, DisruptionCreate.model_validate(body))


def test_end_disruption_sets_ends_on_to_today_and_nothing_else(
    session: Session, sponsors: Sponsors
) -> None:
    member, _ = _member_and_viewer(session, sponsors)
    flu = _open(session, member)
    ended = parties.end_disruption(
        session, member, flu.id, DisruptionEnd(version=1), today=date(2026, 3, 20)
    )
    assert ended.ends_on == date(2026, 3, 20) and ended.version == 2
    fields = set(parties.DISRUPTION_FIELDS) - {"ends_on"}
    assert ended.model_dump(include=fields) == flu.model_dump(include=fields)
    events = list(
        session.execute(
            select(AuditEvent)
            .where(AuditEvent.entity_id == str(flu.id))
            .order_by(AuditEvent.sequence)
        ).scalars()
    )
    assert [e.action for e in events] == ["create", "update"]
    assert (events[1].before or {})["ends_on"] is None
    assert (events[1].after or {})["ends_on"] == "2026-03-20"
    # ending it again the same day changes nothing (and writes nothing)
    again = parties.end_disruption(
        session, member, flu.id, DisruptionEnd(version=2), today=date(2026, 3, 20)
    )
    assert (again.ends_on, again.version) == (date(2026, 3, 20), 2)
    # a planned end later than today is brought forward
    later = _open(session, member, title="Strike", ends_on=date(2026, 6, 30))
    assert parties.end_disruption(
        session, member, later.id, DisruptionEnd(version=1), today=date(2026, 4, 1)
    ).ends_on == date(2026, 4, 1)


def test_end_disruption_refuses_what_an_update_would_refuse(
    session: Session, sponsors: Sponsors
) -> None:
    member, viewer = _member_and_viewer(session, sponsors)
    flu = _open(session, member)
    today = date(2026, 3, 20)
    with pytest.raises(Conflict, match=r"\(version 1, you sent 3\)"):
        parties.end_disruption(session, member, flu.id, DisruptionEnd(version=3), today=today)
    with pytest.raises(Invalid) as starts_later:
        parties.end_disruption(
            session, member, flu.id, DisruptionEnd(version=1), today=date(2026, 2, 1)
        )
    assert starts_later.value.field_errors == {"ends_on": "must be on or after 2026-03-01"}
    with pytest.raises(NotPermitted):
        parties.end_disruption(session, viewer, flu.id, DisruptionEnd(version=1), today=today)
    outsider = principal_of(session, make_user(session, organization_id=sponsors.b, role="admin"))
    with pytest.raises(NotFound):
        parties.end_disruption(session, outsider, flu.id, DisruptionEnd(version=1), today=today)
    # one that already ended is left alone: ending it "today" would extend it
    past = _open(session, member, title="Strike", ends_on=date(2026, 3, 10))
    with pytest.raises(Conflict, match="already ended on 2026-03-10"):
        parties.end_disruption(session, member, past.id, DisruptionEnd(version=1), today=today)
    stored = {d.title: (d.ends_on, d.version) for d in parties.list_disruptions(session, member)}
    assert stored == {
        FLU["title"]: (None, 1),
        "Strike": (date(2026, 3, 10), 1),
    }


# --- the shared calendar range (core.dates: 1900-01-01 … 2199-12-31) -----------------------------

OUT_OF_RANGE = "Value error, use a date between 1900-01-01 and 2199-12-31"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"starts_on": "1899-12-31"}, "starts_on"),
        ({"starts_on": "0001-01-01", "ends_on": None}, "starts_on"),
        ({"ends_on": "2200-01-01"}, "ends_on"),
        ({"ends_on": "9999-12-31"}, "ends_on"),
    ],
    ids=["day-before-1900", "year-1", "day-after-2199", "year-9999"],
)
def test_dates_outside_the_calendar_answer_422_saying_the_range(
    changes: dict[str, Any], field: str, client: TestClient, sponsors: Sponsors, engine: Engine
) -> None:
    member = sponsors.headers["a_member"]
    events = audit_count(engine)
    declared = client.post(f"{API}/disruptions", json={**FLU, **changes}, headers=member)
    assert declared.status_code == 422, declared.text
    assert declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["errors"] == [{"field": field, "message": OUT_OF_RANGE}]
    assert (disruption_count(engine), audit_count(engine)) == (0, events)

    created = declare(client, member)
    events = audit_count(engine)
    url = f"{API}/disruptions/{created['id']}"
    updated = client.put(url, json={**FLU, **changes, "version": 1}, headers=member)
    assert updated.status_code == 422, updated.text
    assert updated.json()["errors"] == [{"field": field, "message": OUT_OF_RANGE}]
    assert client.get(url, headers=member).json() == created
    assert audit_count(engine) == events


def test_the_first_and_last_days_of_the_calendar_are_accepted(
    client: TestClient, sponsors: Sponsors
) -> None:
    longest = declare(
        client, sponsors.headers["a_member"], starts_on="1900-01-01", ends_on="2199-12-31"
    )
    assert (longest["starts_on"], longest["ends_on"]) == ("1900-01-01", "2199-12-31")


def test_dates_stored_before_the_range_still_read(
    client: TestClient, sponsors: Sponsors, engine: Engine, session: Session
) -> None:
    """Rows kept before the check (year 1, year 9999) list and read; ending one "today" is a
    422 naming the stored date (it used to be a 500); saving corrected dates works."""
    member = sponsors.headers["a_member"]
    created = declare(client, member, ends_on=None)
    session.execute(
        update(Disruption)
        .where(Disruption.id == uuid.UUID(created["id"]))
        .values(starts_on=date(1, 1, 1), ends_on=date(9999, 12, 31))
    )
    session.commit()
    url = f"{API}/disruptions/{created['id']}"
    read = client.get(url, headers=member)
    assert read.status_code == 200, read.text
    assert (read.json()["starts_on"], read.json()["ends_on"]) == ("0001-01-01", "9999-12-31")
    assert [d["id"] for d in client.get(f"{API}/disruptions", headers=member).json()] == [
        created["id"]
    ]
    covering = parties.disruptions_covering(session, sponsors.a, "DE", date(2026, 1, 1), None)
    assert [d.title for d in covering] == [FLU["title"]]

    events = audit_count(engine)
    principal = principal_of(session, make_user(session, organization_id=sponsors.a))
    with pytest.raises(Invalid) as ended:
        parties.end_disruption(
            session, principal, uuid.UUID(created["id"]), DisruptionEnd(version=1)
        )
    session.rollback()
    assert ended.value.field_errors == {
        "starts_on": "the stored value 0001-01-01 is no longer accepted (use a date between "
        "1900-01-01 and 2199-12-31); edit the disruption to correct it, then end it"
    }
    assert audit_count(engine) == events

    fixed = client.put(url, json={**FLU, "version": 1}, headers=member)
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["starts_on"], fixed.json()["ends_on"]) == ("2026-01-10", "2026-02-10")
