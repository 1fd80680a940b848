"""The disruptions page through the real app: the list and its empty state, declaring through the
form, inline errors that keep what was typed, editing, ending today, deleting."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.parties import service as parties
from opencxo.parties.models import Disruption
from opencxo.parties.schemas import DisruptionCreate
from tests.factories import make_organization, principal_of
from tests.web.conftest import World, csrf, csrf_of, login, new_user

TODAY = date.today()


def _disruptions(session: Session) -> list[Disruption]:
    session.expire_all()
    return list(session.execute(select(Disruption).order_by(Disruption.title)).scalars())


def _events(session: Session, action: str) -> int:
    session.expire_all()
    query = select(func.count()).select_from(AuditEvent)
    return int(
        session.scalar(
            query.where(AuditEvent.entity_type == "disruption", AuditEvent.action == action)
        )
        or 0
    )


def _declare(session: Session, world: World, **fields: Any) -> Disruption:
    body = {"title": "Flu", "cause": "epidemic", "country": "DE", "starts_on": TODAY, **fields}
    created = parties.declare_disruption(
        session, principal_of(session, world.manager), DisruptionCreate.model_validate(body)
    )
    session.commit()
    row = session.get(Disruption, created.id)
    assert row is not None
    return row


def _field_error(html: str, name: str) -> str | None:
    match = re.search(rf'data-field-error="{name}">([^<]*)<', html)
    return match.group(1) if match else None


def _flash(html: str) -> list[str]:
    return [m.strip() for m in re.findall(r'role="alert">([^<]*)<', html)]


def _row(html: str, disruption: Disruption) -> str:
    start = html.index(f'data-disruption="{disruption.id}"')
    return html[start : html.index("</tr>", start)]


FORM = {
    "title": "Typhoon Haikui",
    "cause": "natural_disaster",
    "country": "TW",
    "region": "",
    "starts_on": "2026-09-01",
    "ends_on": "",
    "enrollment_multiplier": "0.5",
    "notes": "Hospitals in Kaohsiung closed to new patients",
}


@pytest.fixture
def manager(client: TestClient, world: World) -> World:
    login(client, "manager@acme.example")
    return world


# --- the list ----------------------------------------------------------------------------------


def test_empty_state_says_what_to_do(client: TestClient, manager: World) -> None:
    response = client.get("/disruptions")
    assert response.status_code == 200
    html = response.text
    assert 'data-testid="empty-state"' in html
    assert "No disruptions declared." in html
    assert "declare it below" in html
    assert 'href="#declare"' in html
    assert 'data-testid="declare-form"' in html
    # the page explains what a disruption does
    purpose = html.split('data-testid="disruptions-purpose">')[1].split("</p>")[0]
    assert "bids from providers located there are flagged" in purpose
    assert "enrollment forecasts" in purpose
    # the sponsor's navigation leads here, and marks it as the current page
    assert 'class="nav-link active" href="/disruptions"' in html


def test_a_provider_user_has_no_disruptions_link(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.provider.id, "member", "planner@shanghai.example")
    login(client, "planner@shanghai.example")
    assert 'href="/disruptions"' not in client.get("/").text
    login(client, "manager@acme.example")
    assert 'href="/disruptions"' in client.get("/").text


def test_list_shows_each_disruption_in_words(
    client: TestClient, session: Session, manager: World
) -> None:
    ongoing = _declare(session, manager, title="Strike", starts_on=TODAY - timedelta(days=3))
    ended = _declare(
        session,
        manager,
        title="Flu wave",
        country=None,
        region="Europe",
        starts_on=TODAY - timedelta(days=60),
        ends_on=TODAY - timedelta(days=1),
        enrollment_multiplier=0.5,
        freeze_activations=False,
    )
    coming = _declare(
        session,
        manager,
        title="Election",
        cause="conflict",
        country="BR",
        starts_on=TODAY + timedelta(days=10),
        ends_on=TODAY + timedelta(days=20),
        enrollment_multiplier=1,
    )
    html = client.get("/disruptions").text
    assert 'data-testid="empty-state"' not in html
    strike = _row(html, ongoing)
    assert f'href="/disruptions/{ongoing.id}">Strike</a>' in strike
    assert 'data-state="open">open<' in strike
    assert "<td>Epidemic</td>" in strike
    assert "<td>Germany</td>" in strike
    assert "open-ended" in strike
    assert 'data-testid="multiplier">suspended<' in strike
    assert "frozen" in strike
    assert "End today" in strike
    flu = _row(html, ended)
    assert 'data-state="ended">ended<' in flu
    assert 'Europe <span class="small text-muted">(region)</span>' in flu
    assert f"<td>{(TODAY - timedelta(days=1)).isoformat()}</td>" in flu
    assert 'data-testid="multiplier">50 % of normal<' in flu
    assert "continue" in flu
    assert "End today" not in flu
    election = _row(html, coming)
    assert 'data-state="upcoming">upcoming<' in election
    assert "<td>Brazil</td>" in election
    assert 'data-testid="multiplier">unaffected<' in election
    assert "End today" not in election


def test_columns_sort_and_states_filter(
    client: TestClient, session: Session, manager: World
) -> None:
    _declare(session, manager, title="Bravo", starts_on=TODAY - timedelta(days=5))
    _declare(
        session,
        manager,
        title="alpha",
        starts_on=TODAY - timedelta(days=9),
        ends_on=TODAY - timedelta(days=2),
        enrollment_multiplier=0.8,
    )
    _declare(
        session,
        manager,
        title="Charlie",
        starts_on=TODAY + timedelta(days=1),
        enrollment_multiplier=0.3,
    )

    def titles(query: str) -> list[str]:
        response = client.get(f"/disruptions{query}")
        assert response.status_code == 200, response.text
        return re.findall(r'href="/disruptions/[0-9a-f-]+">([^<]+)</a>', response.text)

    assert titles("") == ["Charlie", "Bravo", "alpha"]  # newest start first
    assert titles("?sort=title") == ["alpha", "Bravo", "Charlie"]  # case-blind
    assert titles("?sort=-title") == ["Charlie", "Bravo", "alpha"]
    assert titles("?sort=multiplier") == ["Bravo", "Charlie", "alpha"]
    assert titles("?sort=ends_on") == ["alpha", "Bravo", "Charlie"]  # open-ended last, by title
    assert titles("?sort=nonsense") == ["Charlie", "Bravo", "alpha"]
    assert titles("?state=open") == ["Bravo"]
    assert titles("?state=upcoming") == ["Charlie"]
    assert titles("?state=ended&sort=title") == ["alpha"]
    html = client.get("/disruptions?sort=title").text
    assert re.search(r'data-sort="title"\s+aria-sort="ascending"', html)
    assert 'href="?sort=-title&amp;page=1" data-sort="title"' in html


def test_filtered_empty_state_offers_the_whole_list(
    client: TestClient, session: Session, manager: World
) -> None:
    _declare(session, manager, starts_on=TODAY - timedelta(days=5))
    html = client.get("/disruptions?state=ended").text
    assert "None of your 1 disruption is ended." in html
    assert 'href="/disruptions">Show them all</a>' in html


def test_another_organisations_disruptions_stay_hidden(
    client: TestClient, session: Session, manager: World
) -> None:
    other = make_organization(session, name="Globex Pharma")
    rival = new_user(session, other.id, "admin", "admin@globex.example")
    hidden = parties.declare_disruption(
        session,
        principal_of(session, rival),
        DisruptionCreate(title="Globex secret", cause="other", country="US", starts_on=TODAY),  # type: ignore[arg-type]
    )
    session.commit()
    assert "Globex secret" not in client.get("/disruptions").text
    response = client.get(f"/disruptions/{hidden.id}")
    assert response.status_code == 404
    assert "Globex secret" not in response.text
    token = csrf(client, "/disruptions")
    refused = client.post(f"/disruptions/{hidden.id}/delete", data={"csrf_token": token})
    assert refused.status_code == 404
    assert [d.title for d in _disruptions(session)] == ["Globex secret"]


# --- declaring --------------------------------------------------------------------------------


def test_declare_through_the_form(client: TestClient, session: Session, manager: World) -> None:
    data = {**FORM, "csrf_token": csrf(client, "/disruptions")}  # freeze left unticked
    response = client.post("/disruptions", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    (created,) = _disruptions(session)
    assert response.headers["location"] == f"/disruptions/{created.id}"
    assert (created.organization_id, created.title, created.cause) == (
        manager.sponsor.id,
        "Typhoon Haikui",
        "natural_disaster",
    )
    assert (created.country, created.region) == ("TW", None)
    assert (created.starts_on, created.ends_on) == (date(2026, 9, 1), None)
    assert created.enrollment_multiplier == 0.5
    assert created.freeze_activations is False  # an unticked box means "no"
    assert created.notes == "Hospitals in Kaohsiung closed to new patients"
    assert _events(session, "create") == 1

    page = client.get(response.headers["location"])
    assert _flash(page.text) == ["Disruption “Typhoon Haikui” declared."]
    assert "Natural disaster · Taiwan ·" in page.text


def test_the_form_starts_with_todays_date_and_the_cautious_defaults(
    client: TestClient, manager: World
) -> None:
    html = client.get("/disruptions").text
    assert f'id="starts_on" name="starts_on" value="{TODAY.isoformat()}"' in html
    assert re.search(r'name="enrollment_multiplier"\s+value="0"', html)
    assert re.search(r'name="freeze_activations" value="on"\s+checked', html)


def test_declare_with_a_ticked_freeze_and_a_region(
    client: TestClient, session: Session, manager: World
) -> None:
    data = {**FORM, "country": "", "region": "Asia-Pacific", "freeze_activations": "on"}
    response = client.post(
        "/disruptions", data={**data, "csrf_token": csrf(client, "/disruptions")}
    )
    assert response.status_code == 200  # followed to the disruption's page
    (created,) = _disruptions(session)
    assert (created.country, created.region, created.freeze_activations) == (
        None,
        "Asia-Pacific",
        True,
    )


OUT_OF_RANGE = "use a date between 1900-01-01 and 2199-12-31"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"region": "Europe"}, "country", "give a country or a region, not both"),
        ({"country": ""}, "country", "give a country or a region, not both"),
        ({"ends_on": "2026-08-31"}, "ends_on", "must be on or after 2026-09-01"),
        ({"enrollment_multiplier": "1.5"}, "enrollment_multiplier", "1"),
        ({"enrollment_multiplier": ""}, "enrollment_multiplier", "number"),
        ({"title": ""}, "title", "at least 1 character"),
        ({"starts_on": ""}, "starts_on", "date"),
        ({"country": "ZZ"}, "country", "ISO 3166-1 alpha-2"),
        ({"starts_on": "0001-01-01"}, "starts_on", OUT_OF_RANGE),
        ({"ends_on": "9999-12-31"}, "ends_on", OUT_OF_RANGE),
    ],
    ids=[
        "both",
        "neither",
        "ends-before-start",
        "multiplier",
        "no-multiplier",
        "title",
        "start",
        "country",
        "year-1",
        "year-9999",
    ],
)
def test_an_error_shows_next_to_its_field_and_keeps_the_input(
    changes: dict[str, str],
    field: str,
    message: str,
    client: TestClient,
    session: Session,
    manager: World,
) -> None:
    events = _events(session, "create")
    data = {**FORM, **changes, "csrf_token": csrf(client, "/disruptions")}
    response = client.post("/disruptions", data=data)
    assert response.status_code == 422
    html = response.text
    error = _field_error(html, field)
    assert error is not None and message in error, html
    assert re.findall(r'data-field-error="([^"]+)"', html) == [field]  # only that field
    assert re.search(rf'is-invalid"[^>]*id="{field}"', html)
    # everything typed is still there
    form = html.split('data-testid="declare-form"')[1]
    assert f'value="{data["title"]}"' in form
    assert '<option value="natural_disaster" selected>' in form
    if data["country"] == "TW":
        assert '<option value="TW" selected>Taiwan (TW)</option>' in form
    if data["region"]:
        assert f'<option value="{data["region"]}" selected>' in form
    assert f'value="{data["starts_on"]}"' in form
    assert f'value="{data["ends_on"]}"' in form
    assert f'value="{data["enrollment_multiplier"]}"' in form
    assert ">Hospitals in Kaohsiung closed to new patients</textarea>" in form
    assert not re.search(r'name="freeze_activations" value="on"\s+checked', form)
    assert _disruptions(session) == []
    assert _events(session, "create") == events


def test_a_viewer_sees_the_list_but_no_form(
    client: TestClient, session: Session, world: World
) -> None:
    _declare(session, world, title="Strike")
    new_user(session, world.sponsor.id, "viewer", "viewer@acme.example")
    login(client, "viewer@acme.example")
    html = client.get("/disruptions").text
    assert "Strike" in html
    assert 'data-testid="declare-form"' not in html
    assert "End today" not in html
    refused = client.post("/disruptions", data={**FORM, "csrf_token": csrf(client, "/disruptions")})
    assert refused.status_code == 403
    assert [d.title for d in _disruptions(session)] == ["Strike"]


# --- editing, ending, deleting -----------------------------------------------------------------


def test_the_edit_page_shows_the_current_values(
    client: TestClient, session: Session, manager: World
) -> None:
    flu = _declare(
        session, manager, title="Flu", region="Europe", country=None, notes="Week 2 report"
    )
    html = client.get(f"/disruptions/{flu.id}").text
    form = html.split('data-testid="edit-form"')[1]
    assert 'name="version" value="1"' in form
    assert re.search(r'id="title" name="title" maxlength="200" required\s+value="Flu"', form)
    assert '<option value="Europe" selected>Europe</option>' in form
    assert '<option value="">— none (a region instead) —</option>' in form
    assert ">Week 2 report</textarea>" in form
    assert re.search(r'name="freeze_activations" value="on"\s+checked', form)
    assert "flag bids from providers located in Europe" in html


def test_edit_saves_and_confirms(client: TestClient, session: Session, manager: World) -> None:
    flu = _declare(session, manager, title="Flu")
    data = {**FORM, "version": "1", "csrf_token": csrf(client, f"/disruptions/{flu.id}")}
    response = client.post(f"/disruptions/{flu.id}", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/disruptions/{flu.id}"
    (saved,) = _disruptions(session)
    assert (saved.title, saved.country, saved.version) == ("Typhoon Haikui", "TW", 2)
    assert saved.freeze_activations is False
    assert _flash(client.get(f"/disruptions/{flu.id}").text) == [
        "Disruption “Typhoon Haikui” saved."
    ]
    assert _events(session, "update") == 1


def test_edit_error_keeps_the_input(client: TestClient, session: Session, manager: World) -> None:
    flu = _declare(session, manager, title="Flu")
    data = {**FORM, "version": "1", "enrollment_multiplier": "-1"}
    response = client.post(
        f"/disruptions/{flu.id}",
        data={**data, "csrf_token": csrf(client, f"/disruptions/{flu.id}")},
    )
    assert response.status_code == 422
    assert _field_error(response.text, "enrollment_multiplier") is not None
    assert 'value="Typhoon Haikui"' in response.text
    assert 'value="-1"' in response.text
    assert _disruptions(session)[0].title == "Flu"


def test_an_edit_outside_the_calendar_keeps_the_input(
    client: TestClient, session: Session, manager: World
) -> None:
    flu = _declare(session, manager, title="Flu")
    data = {**FORM, "version": "1", "starts_on": "1899-12-31", "ends_on": "2200-01-01"}
    response = client.post(
        f"/disruptions/{flu.id}",
        data={**data, "csrf_token": csrf(client, f"/disruptions/{flu.id}")},
    )
    assert response.status_code == 422
    assert _field_error(response.text, "starts_on") == OUT_OF_RANGE
    assert _field_error(response.text, "ends_on") == OUT_OF_RANGE
    assert 'value="1899-12-31"' in response.text and 'value="2200-01-01"' in response.text
    (kept,) = _disruptions(session)
    assert (kept.title, kept.starts_on, kept.version) == ("Flu", TODAY, 1)
    assert _events(session, "update") == 0


def test_a_disruption_stored_before_the_calendar_check_still_shows(
    client: TestClient, session: Session, manager: World
) -> None:
    """Dates kept before the check (year 1, year 9999): the list and the edit page show them;
    ending it today says which date to correct (it was a 500) and changes nothing."""
    old = _declare(session, manager, title="Old strike")
    session.execute(
        update(Disruption)
        .where(Disruption.id == old.id)
        .values(starts_on=date(1, 1, 1), ends_on=date(9999, 12, 31))
    )
    session.commit()
    listing = client.get("/disruptions")
    assert listing.status_code == 200
    assert "Old strike" in _row(listing.text, old)
    edit = client.get(f"/disruptions/{old.id}")
    assert edit.status_code == 200 and 'value="0001-01-01"' in edit.text
    data = {"version": "1", "back": "list", "csrf_token": csrf_of(edit.text)}
    response = client.post(f"/disruptions/{old.id}/end", data=data)
    assert response.status_code == 200
    assert _flash(response.text) == [
        "“Old strike” was not ended: the stored value 0001-01-01 is no longer accepted (use a "
        "date between 1900-01-01 and 2199-12-31); edit the disruption to correct it, then end it"
    ]
    (kept,) = _disruptions(session)
    assert (kept.starts_on, kept.ends_on, kept.version) == (date(1, 1, 1), date(9999, 12, 31), 1)
    assert _events(session, "update") == 0


def test_a_stale_edit_answers_409_with_the_reason(
    client: TestClient, session: Session, manager: World
) -> None:
    flu = _declare(session, manager, title="Flu")
    token = csrf(client, f"/disruptions/{flu.id}")
    first = {**FORM, "title": "First", "version": "1", "csrf_token": token}
    assert client.post(f"/disruptions/{flu.id}", data=first).status_code == 200
    second = {**FORM, "title": "Second", "version": "1", "csrf_token": token}
    response = client.post(f"/disruptions/{flu.id}", data=second)
    assert response.status_code == 409
    error = response.text.split('data-testid="form-error">')[1].split("<")[0]
    assert "(version 2, you sent 1)" in error
    assert 'value="Second"' in response.text  # the typed input survives
    assert _disruptions(session)[0].title == "First"


def test_end_today_from_the_list(client: TestClient, session: Session, manager: World) -> None:
    strike = _declare(session, manager, title="Strike", starts_on=TODAY - timedelta(days=3))
    data = {"version": "1", "back": "list", "csrf_token": csrf(client, "/disruptions")}
    response = client.post(f"/disruptions/{strike.id}/end", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/disruptions"
    (ended,) = _disruptions(session)
    assert (ended.ends_on, ended.version, ended.title) == (TODAY, 2, "Strike")
    html = client.get("/disruptions").text
    assert _flash(html) == ["Disruption “Strike” ended today."]
    row = _row(html, strike)
    assert 'data-state="open">ends today<' in row  # still in force until the day is over
    assert "End today" not in row
    assert _events(session, "update") == 1


def test_end_today_from_the_disruption_page(
    client: TestClient, session: Session, manager: World
) -> None:
    strike = _declare(session, manager, title="Strike", starts_on=TODAY)
    page = client.get(f"/disruptions/{strike.id}").text
    assert f"End today ({TODAY.isoformat()})" in page
    data = {"version": "1", "csrf_token": csrf(client, f"/disruptions/{strike.id}")}
    response = client.post(f"/disruptions/{strike.id}/end", data=data, follow_redirects=False)
    assert response.headers["location"] == f"/disruptions/{strike.id}"
    assert _disruptions(session)[0].ends_on == TODAY


def test_end_today_refuses_a_disruption_that_starts_later(
    client: TestClient, session: Session, manager: World
) -> None:
    coming = _declare(session, manager, title="Election", starts_on=TODAY + timedelta(days=5))
    assert "End today" not in client.get(f"/disruptions/{coming.id}").text
    data = {"version": "1", "csrf_token": csrf(client, "/disruptions")}
    response = client.post(f"/disruptions/{coming.id}/end", data=data)
    assert response.status_code == 200
    start = (TODAY + timedelta(days=5)).isoformat()
    assert _flash(response.text) == [f"“Election” was not ended: must be on or after {start}"]
    assert _disruptions(session)[0].ends_on is None


def test_end_today_with_a_stale_version_changes_nothing(
    client: TestClient, session: Session, manager: World
) -> None:
    strike = _declare(session, manager, title="Strike")
    data = {"version": "7", "csrf_token": csrf(client, "/disruptions")}
    response = client.post(f"/disruptions/{strike.id}/end", data=data)
    assert "was not ended" in _flash(response.text)[0]
    assert "(version 1, you sent 7)" in _flash(response.text)[0]
    assert _disruptions(session)[0].ends_on is None


def test_delete_confirms_and_returns_to_the_list(
    client: TestClient, session: Session, manager: World
) -> None:
    strike = _declare(session, manager, title="Strike")
    page = client.get(f"/disruptions/{strike.id}").text
    assert f'action="/disruptions/{strike.id}/delete"' in page
    assert "return confirm('Delete this disruption?" in page
    data = {"csrf_token": csrf_of(page)}
    response = client.post(f"/disruptions/{strike.id}/delete", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/disruptions"
    assert _disruptions(session) == []
    assert _events(session, "delete") == 1
    html = client.get("/disruptions").text
    assert _flash(html) == ["Disruption “Strike” deleted."]
    assert 'data-testid="empty-state"' in html
