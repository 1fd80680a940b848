"""Trust and parties, found in a QA pass (2026-12-05): the operator's user management, a
profile's web address, exports that a spreadsheet must not run, who is offered the
qualification form, e-mail addresses and dates of things that have happened."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.auth.models import Membership, User
from opencxo.models import Organization, Qualification
from tests.factories import operator
from tests.web.conftest import World, csrf, login, new_user

FIELD_ERROR = re.compile(r'data-field-error="(\w+)">([^<]+)<')


def _events(session: Session) -> int:
    session.expire_all()
    return session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def test_the_operator_adds_the_first_user_of_an_organisation_they_do_not_belong_to(
    client: TestClient, session: Session, world: World
) -> None:
    operator(session)
    session.commit()
    login(client, "operator@test.example")
    manage = client.get(f"/organizations/{world.provider.id}/manage")
    members_url = f"/organizations/{world.provider.id}/members"
    assert f'href="{members_url}" data-testid="members-link"' in manage.text

    page = client.get(members_url)
    assert page.status_code == 200
    assert 'Users <small class="text-muted">· Shanghai API Works</small>' in page.text
    # The form posted to "/organizations//members" (404) for anyone not a member.
    assert f'action="{members_url}"' in page.text
    response = client.post(
        members_url,
        data={
            "csrf_token": csrf(client, members_url),
            "email": "first@shanghai-api.example",
            "full_name": "First Admin",
            "role": "admin",
            "password": "long-enough-pass",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == members_url
    member = session.execute(
        select(Membership).join(User).where(User.email == "first@shanghai-api.example")
    ).scalar_one()
    assert (member.organization_id, member.role) == (world.provider.id, "admin")


def _provider_admin(client: TestClient, session: Session, world: World) -> str:
    new_user(session, world.provider.id, "admin", "admin@shanghai-api.example")
    login(client, "admin@shanghai-api.example")
    return f"/organizations/{world.provider.id}/manage"


def _profile_form(world: World, **changes: str) -> dict[str, object]:
    return {
        "version": "1",
        "name": "Shanghai API Works",
        "country": "CN",
        "city": "Shanghai",
        "service_lines[]": ["CDMO"],
        "regions_served[]": ["Asia-Pacific"],
        "description": "Kilo-lab to commercial API manufacturing.",
        **changes,
    }


def test_a_website_that_is_not_a_web_address_is_refused_and_never_linked(
    client: TestClient, session: Session, world: World
) -> None:
    manage = _provider_admin(client, session, world)
    events = _events(session)
    for website in ("javascript:alert(document.cookie)", "JavaScript://x%0aalert(1)", "ftp://x"):
        response = client.post(
            f"/organizations/{world.provider.id}/profile",
            data={"csrf_token": csrf(client, manage), **_profile_form(world, website=website)},
        )
        assert response.status_code == 422, website
        assert FIELD_ERROR.findall(response.text) == [
            ("website", "use a web address starting with https:// (or http://)")
        ]
    assert _events(session) == events

    response = client.post(
        f"/organizations/{world.provider.id}/profile",
        data={
            "csrf_token": csrf(client, manage),
            **_profile_form(world, website=" https://shanghai-api.example "),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = client.get(f"/providers/{world.provider.id}")
    assert (
        '<a href="https://shanghai-api.example" rel="noopener noreferrer" '
        'data-testid="website">https://shanghai-api.example</a>' in page.text
    )

    # A value stored before the check is shown as text, not as a link that runs.
    session.execute(
        Organization.__table__.update()
        .where(Organization.id == world.provider.id)
        .values(website="javascript:alert(1)")
    )
    session.commit()
    page = client.get(f"/providers/{world.provider.id}")
    assert '<span data-testid="website">javascript:alert(1)</span>' in page.text
    assert 'href="javascript:' not in page.text


def test_the_api_refuses_a_javascript_website(
    client: TestClient, session: Session, world: World
) -> None:
    from tests.factories import make_token

    user = new_user(session, world.provider.id, "admin", "api-admin@shanghai-api.example")
    token = make_token(session, user=user)
    session.commit()
    response = client.patch(
        f"/api/v1/organizations/{world.provider.id}",
        json={"version": 1, "website": "javascript:alert(1)"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "website",
            "message": "Value error, use a web address starting with https:// (or http://)",
        }
    ]


def test_the_audit_csv_keeps_a_typed_formula_as_text(
    client: TestClient, session: Session, world: World
) -> None:
    """Anyone can type a formula as a login e-mail; the operator's spreadsheet must not run it."""
    response = client.post(
        "/login",
        data={
            "email": '=HYPERLINK("http://evil.example","x")',
            "password": "wrong",
            "csrf_token": csrf(client),
        },
    )
    assert response.status_code == 401
    operator(session)
    session.commit()
    login(client, "operator@test.example")
    export = client.get("/audit.csv?action=login_failed")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["actor"], r["entity_id"]) for r in rows] == [
        ('\'=hyperlink("http://evil.example","x")', "-")
    ]


def test_the_directory_workbook_keeps_a_name_starting_with_equals_as_text(
    client: TestClient, session: Session, world: World
) -> None:
    session.execute(
        Organization.__table__.update()
        .where(Organization.id == world.provider.id)
        .values(name="=1+1 Works")
    )
    session.commit()
    login(client, world.manager.email)
    export = client.get("/providers.xlsx?sort=name")
    sheet = load_workbook(io.BytesIO(export.content)).active
    assert sheet is not None
    cell = sheet["A2"]
    assert (cell.value, cell.data_type) == ("=1+1 Works", "s")


def test_only_who_may_record_a_qualification_is_offered_the_form(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.sponsor.id, "viewer", "viewer@acme.example")
    login(client, "viewer@acme.example")
    listing = client.get("/qualifications")
    assert listing.status_code == 200
    assert 'href="/qualifications/new"' not in listing.text
    refused = client.get(f"/qualifications/new?provider_id={world.other_provider.id}")
    assert refused.status_code == 403
    assert (
        "recording a qualification needs qualifications:write in a sponsor organisation"
        in refused.text
    )
    assert 'action="/qualifications"' not in refused.text

    login(client, world.manager.email)
    assert 'href="/qualifications/new"' in client.get("/qualifications").text
    assert client.get("/qualifications/new").status_code == 200


def test_a_new_member_needs_a_real_e_mail_address(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.sponsor.id, "admin", "admin@acme.example")
    login(client, "admin@acme.example")
    members = f"/organizations/{world.sponsor.id}/members"
    users = session.execute(select(func.count()).select_from(User)).scalar_one()
    for email in ("a b@acme.example", "@@@", "someone@", "x@acme", "x@.example", "x@acme."):
        response = client.post(
            members,
            data={
                "csrf_token": csrf(client, members),
                "email": email,
                "full_name": "Someone",
                "role": "viewer",
                "password": "long-enough-pass",
            },
        )
        assert response.status_code == 422, email
        assert FIELD_ERROR.findall(response.text) == [
            ("email", "not an e-mail address (name@example.com)")
        ]
    session.expire_all()
    assert session.execute(select(func.count()).select_from(User)).scalar_one() == users


def test_signature_and_audit_dates_cannot_be_in_the_future(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, world.manager.email)
    url = f"/qualifications/{world.qualification.id}"
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    expires = (date.today() + timedelta(days=365)).isoformat()
    events = _events(session)
    form = {"version": "1", "status": "approved", "expires_on": expires, "reason": "typo"}
    response = client.post(
        url,
        data={"csrf_token": csrf(client, url), **form, "cda_signed_on": tomorrow},
    )
    assert response.status_code == 422
    assert FIELD_ERROR.findall(response.text) == [
        (
            "cda_signed_on",
            f"cannot be after today ({date.today().isoformat()}); record it once it has happened",
        )
    ]
    assert f'value="{tomorrow}"' in response.text  # the input is kept
    assert _events(session) == events

    created = client.post(
        "/qualifications",
        data={
            "csrf_token": csrf(client, "/qualifications/new"),
            "provider_id": str(world.other_provider.id),
            "status": "conditional",
            "last_audit_on": tomorrow,
            "audit_findings": "",
        },
    )
    assert created.status_code == 422
    assert [f for f, _ in FIELD_ERROR.findall(created.text)] == ["last_audit_on"]
    session.expire_all()
    assert session.execute(select(func.count()).select_from(Qualification)).scalar_one() == 1

    today = date.today().isoformat()
    saved = client.post(
        url,
        data={"csrf_token": csrf(client, url), **form, "cda_signed_on": today},
        follow_redirects=False,
    )
    assert saved.status_code == 303


def test_a_new_api_token_is_not_kept_in_plain_text_by_the_idempotency_store(
    client: TestClient, session: Session, world: World
) -> None:
    """Tokens are stored hashed; the Idempotency-Key store kept the answer, token and all,
    for 24 h. A retry now learns that the token was made, not the token."""
    from opencxo.core.idempotency import IdempotencyRecord
    from tests.factories import make_token

    token = make_token(session, user=world.manager)
    session.commit()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "new-token-1"}
    created = client.post("/api/v1/tokens", json={"name": "ERP export"}, headers=headers)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    plain = created.json()["token"]
    session.expire_all()
    record = session.execute(select(IdempotencyRecord)).scalar_one()
    assert (record.status_code, record.content_type, record.body) == (201, "withheld", b"")

    retried = client.post("/api/v1/tokens", json={"name": "ERP export"}, headers=headers)
    assert retried.status_code == 409
    assert retried.json()["title"] == "Answer not kept"
    assert plain not in retried.text
    names = [t["name"] for t in client.get("/api/v1/tokens", headers=headers).json()]
    assert names == ["ERP export", "test"]  # one token made, not two

    # Other answers are replayed as before.
    other = {"Authorization": f"Bearer {token}", "Idempotency-Key": "me-1"}
    first = client.post(
        f"/api/v1/organizations/{world.sponsor.id}/members",
        json={"email": "new@acme.example", "full_name": "New", "role": "viewer", "password": "x"},
        headers=other,
    )
    again = client.post(
        f"/api/v1/organizations/{world.sponsor.id}/members",
        json={"email": "new@acme.example", "full_name": "New", "role": "viewer", "password": "x"},
        headers=other,
    )
    assert (first.status_code, again.status_code) == (403, 403)
    assert again.headers["idempotent-replayed"] == "true"


def test_removing_a_member_records_who_was_removed(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.sponsor.id, "admin", "admin@acme.example")
    login(client, "admin@acme.example")
    members = f"/organizations/{world.sponsor.id}/members"
    member = session.execute(
        select(Membership).where(Membership.user_id == world.manager.id)
    ).scalar_one()
    member_id = member.id
    response = client.post(
        f"/memberships/{member_id}/remove",
        data={"csrf_token": csrf(client, members)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    session.expire_all()
    event = session.execute(
        select(AuditEvent).where(
            AuditEvent.entity_id == str(member_id), AuditEvent.action == "delete"
        )
    ).scalar_one()
    assert (event.action, event.before, event.after) == (
        "delete",
        {"user": "manager@acme.example", "user_id": str(world.manager.id), "role": "manager"},
        None,
    )


def test_a_certificate_or_inspection_at_a_foreign_site_names_the_site_id_field(
    client: TestClient, session: Session, world: World
) -> None:
    from tests.factories import make_token

    user = new_user(session, world.provider.id, "admin", "api-admin@shanghai-api.example")
    headers = {"Authorization": f"Bearer {make_token(session, user=user)}"}
    session.commit()
    foreign = "00000000-0000-0000-0000-000000000007"
    for path, body in [
        ("certifications", {"standard": "GMP", "issuer": "NMPA", "site_id": foreign}),
        ("inspections", {"authority": "FDA", "inspected_on": "2025-01-01", "outcome": "NAI",
                         "site_id": foreign}),
    ]:  # fmt: skip
        response = client.post(
            f"/api/v1/providers/{world.provider.id}/{path}", json=body, headers=headers
        )
        assert response.status_code == 422, path
        assert response.json()["errors"] == [
            {"field": "site_id", "message": "choose sites of this organisation"}
        ]
