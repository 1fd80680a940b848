"""The server-rendered pages through the real app: login, CSRF, every page, forms and their errors."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.auth.models import ApiToken, Membership, User
from opencxo.core.types import utcnow
from opencxo.parties.models import Qualification
from tests.factories import PASSWORD, make_organization, make_provider
from tests.web.conftest import World, csrf, csrf_of, login, new_user

TODAY = date.today()


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def _qualification_row(session: Session, world: World) -> Qualification:
    session.expire_all()
    row = session.get(Qualification, world.qualification.id)
    assert row is not None
    return row


# --- logging in and out -----------------------------------------------------------------------


def test_login_page_carries_a_csrf_token_and_the_target(client: TestClient) -> None:
    response = client.get("/login?next=/qualifications")
    assert response.status_code == 200
    assert len(csrf_of(response.text)) >= 32
    assert 'name="next" value="/qualifications"' in response.text
    assert 'data-testid="login-error"' not in response.text


def test_wrong_password_stays_on_the_login_page_with_the_error(
    client: TestClient, session: Session, world: World
) -> None:
    response = client.post(
        "/login",
        data={
            "email": "manager@acme.example",
            "password": "not-the-password",
            "next": "/providers",
            "csrf_token": csrf(client),
        },
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "location" not in response.headers
    error = re.search(r'data-testid="login-error">([^<]*)<', response.text)
    assert error and error.group(1) == "e-mail or password is wrong"
    # The e-mail is kept, the password is not, the target survives.
    assert 'value="manager@acme.example"' in response.text
    assert "not-the-password" not in response.text
    assert 'name="next" value="/providers"' in response.text
    # No session was opened, and the failure was counted.
    assert client.get("/", follow_redirects=False).status_code == 303
    session.expire_all()
    assert session.get(User, world.manager.id).failed_login_count == 1  # type: ignore[union-attr]


def test_unknown_user_gets_the_same_message(client: TestClient, world: World) -> None:
    response = client.post(
        "/login",
        data={"email": "nobody@acme.example", "password": PASSWORD, "csrf_token": csrf(client)},
    )
    assert response.status_code == 401
    assert "e-mail or password is wrong" in response.text


def test_login_redirects_to_the_target_and_opens_a_session(
    client: TestClient, session: Session, world: World
) -> None:
    response = client.post(
        "/login",
        data={
            "email": "manager@acme.example",
            "password": PASSWORD,
            "next": "/qualifications",
            "csrf_token": csrf(client),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/qualifications"
    page = client.get("/")
    assert page.status_code == 200
    assert 'data-testid="current-user"' in page.text
    assert "Acme Therapeutics" in page.text
    session.expire_all()
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_id == str(world.manager.id))
    ).all()
    assert "login" in actions


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/"])
def test_login_never_redirects_off_site(client: TestClient, world: World, target: str) -> None:
    response = client.post(
        "/login",
        data={
            "email": "manager@acme.example",
            "password": PASSWORD,
            "next": target,
            "csrf_token": csrf(client),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/", "/login?next=/"),
        ("/qualifications", "/login?next=/qualifications"),
        ("/account/tokens", "/login?next=/account/tokens"),
        ("/audit", "/login?next=/audit"),
    ],
)
def test_pages_require_login(client: TestClient, path: str, location: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == location


def test_the_login_target_keeps_every_query_parameter(client: TestClient, world: World) -> None:
    response = client.get("/providers?q=api&country=CN", follow_redirects=False)
    assert response.status_code == 303
    login_page = client.get(response.headers["location"])
    assert 'name="next" value="/providers?q=api&amp;country=CN"' in login_page.text


def test_logout_ends_the_session(client: TestClient, session: Session, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.post(
        "/logout", data={"csrf_token": csrf(client, "/")}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert "You have logged out of every browser session." in client.get("/login").text
    assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=/"


def test_repeated_failed_logins_slow_down_then_lock_the_account(
    client: TestClient, session: Session, world: World
) -> None:
    def attempt(password: str) -> tuple[int, str]:
        response = client.post(
            "/login",
            data={"email": "manager@acme.example", "password": password, "csrf_token": token},
            follow_redirects=False,
        )
        return response.status_code, response.text

    token = csrf(client)
    # login_slowdown_after=3: three plain failures, then the next attempt must wait 2^0 s,
    # even with the right password.
    for _ in range(3):
        assert attempt("wrong-password-123")[0] == 401
    status, text = attempt(PASSWORD)
    assert status == 429
    assert re.search(r"too many failed logins; wait \d+ s before trying again", text)
    assert client.get("/", follow_redirects=False).status_code == 303

    # login_lockout_after=6: the sixth failure locks the account for 15 minutes.
    session.expire_all()
    user = session.get(User, world.manager.id)
    assert user is not None and user.failed_login_count == 3
    user.failed_login_count = 5
    user.last_failed_login_at = utcnow() - timedelta(hours=1)
    session.commit()
    assert attempt("wrong-password-123")[0] == 401
    status, text = attempt(PASSWORD)
    assert status == 429
    match = re.search(r"account locked after repeated failed logins; try again in (\d+) s", text)
    assert match and 14 * 60 < int(match.group(1)) <= 15 * 60
    assert client.get("/", follow_redirects=False).status_code == 303
    session.expire_all()
    assert session.get(User, world.manager.id).locked_until is not None  # type: ignore[union-attr]


# --- CSRF -------------------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(client: TestClient, world: World) -> None:
    client.get("/login")
    response = client.post("/login", data={"email": "manager@acme.example", "password": PASSWORD})
    assert response.status_code == 403
    assert "Form expired" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_posts_without_the_session_csrf_token_change_nothing(
    client: TestClient, session: Session, world: World, token: str | None
) -> None:
    login(client, "manager@acme.example")
    extra = {} if token is None else {"csrf_token": token}
    other = make_provider(session, name="Boston Biologics", country="US")
    session.commit()
    before_events = _count(session, AuditEvent)

    response = client.post("/account/tokens", data={"name": "sneaky", **extra})
    assert response.status_code == 403
    assert "this form has expired or did not come from OpenCXO" in response.text

    response = client.post(
        "/qualifications",
        data={"provider_id": str(other.id), "status": "conditional", **extra},
    )
    assert response.status_code == 403
    response = client.post(
        f"/qualifications/{world.qualification.id}",
        data={"status": "disqualified", "audit_findings": "x", "version": "1", **extra},
    )
    assert response.status_code == 403
    response = client.post(
        f"/organizations/{world.sponsor.id}/members",
        data={"email": "x@acme.example", "role": "viewer", "password": PASSWORD, **extra},
    )
    assert response.status_code == 403
    response = client.post("/logout", data=extra, follow_redirects=False)
    assert response.status_code == 403

    assert _count(session, ApiToken) == 0
    assert _count(session, Qualification) == 1
    assert _qualification_row(session, world).status == "approved"
    assert _count(session, AuditEvent) == before_events
    assert client.get("/").status_code == 200  # still logged in


def test_the_csrf_header_works_for_htmx(client: TestClient, session: Session, world: World) -> None:
    login(client, "manager@acme.example")
    token = csrf(client, "/account/tokens")
    response = client.post(
        "/account/tokens", data={"name": "via header"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 201
    assert _count(session, ApiToken) == 1


# --- every page renders -----------------------------------------------------------------------


def test_dashboard(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/")
    assert response.status_code == 200
    assert '<h1 class="h3 mb-3">Welcome, Test User</h1>' in response.text
    assert re.search(r'data-testid="kpi-approved">1<', response.text)
    assert re.search(r'data-testid="kpi-conditional">0<', response.text)
    assert "Shanghai API Works" in response.text
    # A sponsor sees qualifications in the navigation.
    assert 'href="/qualifications"' in response.text
    assert "My organisation" in response.text


def test_directory_lists_every_provider(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/providers")
    assert response.status_code == 200
    assert 'data-testid="directory-filters"' in response.text
    assert f'href="/providers/{world.provider.id}">Shanghai API Works<' in response.text
    assert f'href="/providers/{world.other_provider.id}">Lyon Clinical Services<' in response.text
    assert "2 in all" in response.text


def test_directory_filters(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get(
        "/providers?q=API&service_code=CMC-GMPAPI&country=cn&region=Asia-Pacific"
        "&certification=GMP&service_line=CDMO"
    )
    assert response.status_code == 200
    assert "Shanghai API Works" in response.text
    assert "Lyon Clinical Services" not in response.text
    assert "1 in all" in response.text
    # The chosen filters stay chosen.
    assert '<option value="CMC-GMPAPI" selected>' in response.text
    assert 'id="q" name="q" value="API"' in response.text
    assert "<option selected>Asia-Pacific</option>" in response.text

    europe = client.get("/providers?region=Europe&certification=GCP")
    assert "Lyon Clinical Services" in europe.text
    assert "Shanghai API Works" not in europe.text

    nothing = client.get("/providers?service_code=CMC-GMPAPI&country=FR")
    assert nothing.status_code == 200
    assert 'data-testid="directory-empty"' in nothing.text
    assert 'data-testid="directory-results"' not in nothing.text


def test_directory_unknown_capability_says_what_is_wrong(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/providers?service_code=NOPE")
    assert response.status_code == 200
    assert 'data-testid="directory-error"' in response.text
    assert "choose a code from the service catalog" in response.text


def test_htmx_request_gets_only_the_results_fragment(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/providers?service_code=CLIN-MONITOR", headers={"HX-Request": "true"})
    assert response.status_code == 200
    text = response.text
    assert "<html" not in text
    assert "<nav" not in text.replace('<nav aria-label="pages"', "")
    assert 'data-testid="directory-filters"' not in text
    assert 'data-testid="directory-results"' in text
    assert "Lyon Clinical Services" in text
    assert "Shanghai API Works" not in text


def test_provider_profile_shows_the_sponsor_qualification(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get(f"/providers/{world.provider.id}")
    assert response.status_code == 200
    assert 'data-testid="provider-name">Shanghai API Works<' in response.text
    panel = response.text.split('data-testid="qualification-panel"')[1].split("Capabilities")[0]
    assert '<span class="badge badge-status-approved">Approved</span>' in panel
    assert f"Expires {world.qualification.expires_on.isoformat()}" in panel  # type: ignore[union-attr]
    assert f'href="/qualifications/{world.qualification.id}"' in panel
    assert "Record a qualification" not in panel
    assert "GMP API manufacturing" in response.text
    assert "CMC-GMPAPI" in response.text


def test_provider_profile_without_qualification_offers_to_record_one(
    client: TestClient, world: World
) -> None:
    login(client, "manager@acme.example")
    response = client.get(f"/providers/{world.other_provider.id}")
    assert response.status_code == 200
    panel = response.text.split('data-testid="qualification-panel"')[1].split("Capabilities")[0]
    assert "You have not qualified this provider yet." in panel
    assert f'href="/qualifications/new?provider_id={world.other_provider.id}"' in panel


def test_unknown_provider_is_a_404_page(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/providers/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "<html" in response.text
    assert "Not found" in response.text


def test_organizations(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/organizations")
    assert response.status_code == 200
    assert f'href="/organizations/{world.sponsor.id}">Acme Therapeutics<' in response.text
    assert f'href="/providers/{world.provider.id}">Shanghai API Works<' in response.text
    sponsors = client.get("/organizations?kind=sponsor")
    assert "Acme Therapeutics" in sponsors.text
    assert "Shanghai API Works" not in sponsors.text
    own = client.get(f"/organizations/{world.sponsor.id}")
    assert own.status_code == 200
    assert '<h1 class="h3 mb-1">Acme Therapeutics</h1>' in own.text


def test_qualifications_list(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/qualifications")
    assert response.status_code == 200
    assert f'href="/qualifications/{world.qualification.id}">Shanghai API Works<' in response.text
    disqualified = client.get("/qualifications?status=disqualified")
    assert "Shanghai API Works" not in disqualified.text
    assert "No qualifications with status disqualified." in disqualified.text


def test_new_qualification_form(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get(f"/qualifications/new?provider_id={world.other_provider.id}")
    assert response.status_code == 200
    assert f'<option value="{world.other_provider.id}" selected>' in response.text
    for field in ("status", "expires_on", "cda_signed_on", "last_audit_outcome", "notes"):
        assert f'<label class="form-label" for="{field}">' in response.text
    assert 'data-field-error="' not in response.text


def test_qualification_detail(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get(f"/qualifications/{world.qualification.id}")
    assert response.status_code == 200
    assert 'name="version" value="1"' in response.text
    assert '<option value="approved" selected>' in response.text
    assert 'data-testid="history"' in response.text


def test_tokens_page(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/account/tokens")
    assert response.status_code == 200
    assert "You have no API tokens." in response.text


def test_members_page(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get(f"/organizations/{world.sponsor.id}/members")
    assert response.status_code == 200
    assert "<td>manager@acme.example</td>" in response.text
    # A manager reads the users but does not manage them.
    assert "Add a user" not in response.text


def test_audit_log_for_a_qa_user(client: TestClient, session: Session, world: World) -> None:
    new_user(session, world.sponsor.id, "qa", "qa@acme.example")
    login(client, "qa@acme.example")
    response = client.get("/audit")
    assert response.status_code == 200
    table = response.text.split('data-testid="audit-events"')[1]
    assert "<td>create</td>" in table
    assert "qualification" in table
    filtered = client.get("/audit?entity_type=qualification")
    assert filtered.status_code == 200
    assert "membership" not in filtered.text.split('data-testid="audit-events"')[1]


def test_audit_log_is_refused_without_the_permission(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/audit")
    assert response.status_code == 403
    assert "Not permitted" in response.text


# --- qualification forms ----------------------------------------------------------------------


def test_create_a_qualification_through_the_form(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    token = csrf(client, "/qualifications/new")
    expires = TODAY + timedelta(days=200)
    response = client.post(
        "/qualifications",
        data={
            "csrf_token": token,
            "provider_id": str(world.other_provider.id),
            "status": "conditional",
            "expires_on": expires.isoformat(),
            "cda_signed_on": "2025-01-15",
            "last_audit_on": "2025-02-01",
            "last_audit_outcome": "passed_with_findings",
            "audit_findings": "Two minor findings on data integrity.",
            "notes": "",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    session.expire_all()
    created = session.scalars(
        select(Qualification).where(Qualification.provider_id == world.other_provider.id)
    ).one()
    assert response.headers["location"] == f"/qualifications/{created.id}"
    assert created.sponsor_id == world.sponsor.id
    assert created.status == "conditional"
    assert created.expires_on == expires
    assert created.cda_signed_on == date(2025, 1, 15)
    assert created.last_audit_outcome == "passed_with_findings"
    assert created.audit_findings == "Two minor findings on data integrity."

    page = client.get(response.headers["location"])
    assert "Qualification of Lyon Clinical Services recorded as conditional." in page.text
    assert 'data-testid="qualification-status"><span class="badge badge-status-conditional">' in (
        page.text
    )
    # The confirmation is shown once.
    assert "recorded as conditional" not in client.get(response.headers["location"]).text


def test_approved_without_expiry_keeps_the_input_and_marks_the_field(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    response = client.post(
        "/qualifications",
        data={
            "csrf_token": csrf(client, "/qualifications/new"),
            "provider_id": str(world.other_provider.id),
            "status": "approved",
            "expires_on": "",
            "msa_signed_on": "2025-03-01",
            "audit_findings": "Clean audit <no findings>",
            "notes": "Approved by QA board",
        },
    )
    assert response.status_code == 422
    html = response.text
    # The message sits right after the expiry input, which is marked invalid.
    assert re.search(
        r'<input class="form-control is-invalid" type="date" id="expires_on" name="expires_on"'
        r' value="">\s*<div class="invalid-feedback d-block" data-field-error="expires_on">'
        r"set the date the approval lapses</div>",
        html,
    )
    assert html.count("data-field-error=") == 1
    # Nothing the user typed is lost.
    assert f'<option value="{world.other_provider.id}" selected>' in html
    assert '<option value="approved" selected>' in html
    assert 'id="msa_signed_on" name="msa_signed_on" value="2025-03-01"' in html
    assert ">Clean audit &lt;no findings&gt;</textarea>" in html
    assert ">Approved by QA board</textarea>" in html
    assert _count(session, Qualification) == 1


def test_a_malformed_date_is_a_field_error(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    response = client.post(
        "/qualifications",
        data={
            "csrf_token": csrf(client, "/qualifications/new"),
            "provider_id": str(world.other_provider.id),
            "status": "conditional",
            "cda_signed_on": "31/02/2025",
        },
    )
    assert response.status_code == 422
    assert 'data-field-error="cda_signed_on"' in response.text
    assert 'value="31/02/2025"' in response.text
    assert _count(session, Qualification) == 1


def test_a_second_qualification_of_the_same_provider_is_refused(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    response = client.post(
        "/qualifications",
        data={
            "csrf_token": csrf(client, "/qualifications/new"),
            "provider_id": str(world.provider.id),
            "status": "conditional",
        },
    )
    assert response.status_code == 409
    assert 'data-field-error="provider_id">already qualified<' in response.text
    assert _count(session, Qualification) == 1


def test_update_a_qualification_through_the_form(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    page = client.get(f"/qualifications/{world.qualification.id}")
    response = client.post(
        f"/qualifications/{world.qualification.id}",
        data={
            "csrf_token": csrf_of(page.text),
            "version": "1",
            "status": "conditional",
            "expires_on": world.qualification.expires_on.isoformat(),  # type: ignore[union-attr]
            "audit_findings": "Major finding on cleaning validation.",
            "reason": "Re-audit in March",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    row = _qualification_row(session, world)
    assert (row.status, row.version) == ("conditional", 2)
    page = client.get(f"/qualifications/{world.qualification.id}")
    assert "Qualification of Shanghai API Works saved (version 2)." in page.text
    assert "Re-audit in March" in page.text.split('data-testid="history"')[1]


def test_a_stale_version_is_a_conflict_and_keeps_the_input(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    page = client.get(f"/qualifications/{world.qualification.id}")
    token = csrf_of(page.text)
    expires = world.qualification.expires_on.isoformat()  # type: ignore[union-attr]

    def save(version: str, notes: str) -> tuple[int, str]:
        response = client.post(
            f"/qualifications/{world.qualification.id}",
            data={
                "csrf_token": token,
                "version": version,
                "status": "approved",
                "expires_on": expires,
                "notes": notes,
            },
            follow_redirects=False,
        )
        return response.status_code, response.text

    # Someone else saves version 1 first...
    assert save("1", "First edit")[0] == 303
    # ...then this user submits the form they loaded at version 1.
    status, html = save("1", "My late edit")
    assert status == 409
    error = re.search(r'data-testid="form-error">([^<]*)<', html)
    assert error
    assert error.group(1) == (
        "qualification was changed by someone else (version 2, you sent 1); "
        "reload it and apply your change again"
    )
    assert ">My late edit</textarea>" in html
    # The form now carries the current version, so re-submitting applies the edit.
    assert 'name="version" value="2"' in html
    row = _qualification_row(session, world)
    assert (row.notes, row.version) == ("First edit", 2)


# --- visibility across organisations ----------------------------------------------------------


def test_a_provider_user_cannot_see_a_sponsor_qualification(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.provider.id, "admin", "boss@shanghai.example")
    login(client, "boss@shanghai.example")

    response = client.get(f"/qualifications/{world.qualification.id}")
    assert response.status_code == 404
    assert '<p class="mb-3" data-testid="error-detail">no such qualification</p>' in response.text
    assert "Shanghai API Works" in client.get("/").text  # the user's own company badge
    assert (
        "Approved"
        not in client.get(f"/providers/{world.provider.id}")
        .text.split('data-testid="qualification-panel"')[1]
        .split("Capabilities")[0]
    )
    listing = client.get("/qualifications")
    assert f"/qualifications/{world.qualification.id}" not in listing.text

    response = client.post(
        f"/qualifications/{world.qualification.id}",
        data={
            "csrf_token": csrf(client, "/"),
            "version": "1",
            "status": "disqualified",
            "audit_findings": "tampering",
        },
    )
    assert response.status_code == 404
    assert _qualification_row(session, world).status == "approved"


def test_a_provider_user_sees_a_provider_navigation(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.provider.id, "member", "staff@shanghai.example")
    login(client, "staff@shanghai.example")
    response = client.get("/")
    assert response.status_code == 200
    assert "My company" in response.text
    assert 'href="/qualifications"' not in response.text


def test_another_sponsor_does_not_see_the_qualification(
    client: TestClient, session: Session, world: World
) -> None:
    rival = make_organization(session, name="Rival Pharma")
    new_user(session, rival.id, "manager", "manager@rival.example")
    login(client, "manager@rival.example")
    assert client.get(f"/qualifications/{world.qualification.id}").status_code == 404
    profile = client.get(f"/providers/{world.provider.id}")
    panel = profile.text.split('data-testid="qualification-panel"')[1].split("Capabilities")[0]
    assert "You have not qualified this provider yet." in panel
    assert re.search(r'data-testid="kpi-approved">0<', client.get("/").text)


# --- API tokens -------------------------------------------------------------------------------


def test_create_and_revoke_an_api_token(client: TestClient, session: Session, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.post(
        "/account/tokens",
        data={"name": "ERP export", "csrf_token": csrf(client, "/account/tokens")},
    )
    assert response.status_code == 201
    shown = re.search(
        r'data-testid="new-token">.*?<code class="fs-6 user-select-all">([^<]+)</code>',
        response.text,
        re.S,
    )
    assert shown
    plain = shown.group(1)
    assert "Token “ERP export” created." in response.text

    session.expire_all()
    stored = session.scalars(select(ApiToken)).one()
    assert stored.name == "ERP export"
    assert stored.user_id == world.manager.id
    assert stored.token_sha256 == hashlib.sha256(plain.encode()).hexdigest()
    assert plain.startswith(stored.token_prefix)
    # The plain token works against the API...
    api = TestClient(client.app)
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
    assert me.status_code == 200
    assert me.json()["email"] == "manager@acme.example"

    # ...and is never shown again.
    listing = client.get("/account/tokens")
    assert plain not in listing.text
    assert f"<code>{stored.token_prefix}…</code>" in listing.text
    assert '<span class="badge bg-success">active</span>' in listing.text

    response = client.post(
        f"/account/tokens/{stored.id}/revoke",
        data={"csrf_token": csrf_of(listing.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account/tokens"
    listing = client.get("/account/tokens")
    assert "Token “ERP export” revoked; it no longer works." in listing.text
    assert '<span class="badge bg-secondary">revoked' in listing.text
    assert f"/account/tokens/{stored.id}/revoke" not in listing.text
    session.expire_all()
    assert session.get(ApiToken, stored.id).revoked_at is not None  # type: ignore[union-attr]
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401


def test_a_token_needs_a_name(client: TestClient, session: Session, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.post(
        "/account/tokens", data={"name": "  ", "csrf_token": csrf(client, "/account/tokens")}
    )
    assert response.status_code == 422
    assert 'data-field-error="name">required<' in response.text
    assert 'data-testid="new-token"' not in response.text
    assert _count(session, ApiToken) == 0


def test_another_users_token_cannot_be_revoked(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    client.post(
        "/account/tokens", data={"name": "mine", "csrf_token": csrf(client, "/account/tokens")}
    )
    session.expire_all()
    token_id = session.scalars(select(ApiToken.id)).one()
    new_user(session, world.sponsor.id, "admin", "admin@acme.example")
    other = TestClient(client.app)
    login(other, "admin@acme.example")
    response = other.post(
        f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf(other, "/account/tokens")}
    )
    assert response.status_code == 404
    session.expire_all()
    assert session.get(ApiToken, token_id).revoked_at is None  # type: ignore[union-attr]


# --- members ----------------------------------------------------------------------------------


def test_an_admin_adds_a_member(client: TestClient, session: Session, world: World) -> None:
    new_user(session, world.sponsor.id, "admin", "admin@acme.example")
    login(client, "admin@acme.example")
    page = client.get(f"/organizations/{world.sponsor.id}/members")
    assert "Add a user" in page.text
    response = client.post(
        f"/organizations/{world.sponsor.id}/members",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "newhire@acme.example",
            "full_name": "Nora Newhire",
            "role": "qa",
            "password": "a-long-initial-password",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/organizations/{world.sponsor.id}/members"
    page = client.get(response.headers["location"])
    assert "newhire@acme.example added as qa." in page.text
    assert "<td>Nora Newhire</td><td>newhire@acme.example</td>" in page.text
    session.expire_all()
    user = session.scalars(select(User).where(User.email == "newhire@acme.example")).one()
    membership = session.scalars(select(Membership).where(Membership.user_id == user.id)).one()
    assert (membership.organization_id, membership.role) == (world.sponsor.id, "qa")
    # The new user can log in with the initial password.
    newcomer = TestClient(client.app)
    login(newcomer, "newhire@acme.example", "a-long-initial-password")


def test_adding_a_new_member_without_password_keeps_the_input(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.sponsor.id, "admin", "admin@acme.example")
    login(client, "admin@acme.example")
    members_before = _count(session, Membership)
    response = client.post(
        f"/organizations/{world.sponsor.id}/members",
        data={
            "csrf_token": csrf(client, f"/organizations/{world.sponsor.id}/members"),
            "email": "newhire@acme.example",
            "full_name": "Nora Newhire",
            "role": "viewer",
            "password": "",
        },
    )
    assert response.status_code == 422
    assert 'data-field-error="password">required for a new user<' in response.text
    assert 'id="m-email" name="email" value="newhire@acme.example"' in response.text
    assert 'id="m-name" name="full_name" value="Nora Newhire"' in response.text
    assert '<option value="viewer" selected>' in response.text
    assert _count(session, Membership) == members_before


def test_a_manager_cannot_add_members(client: TestClient, session: Session, world: World) -> None:
    login(client, "manager@acme.example")
    members_before = _count(session, Membership)
    response = client.post(
        f"/organizations/{world.sponsor.id}/members",
        data={
            "csrf_token": csrf(client, "/"),
            "email": "newhire@acme.example",
            "role": "admin",
            "password": "a-long-initial-password",
        },
    )
    assert response.status_code == 403
    assert (
        '<p class="mb-3" data-testid="error-detail">your role does not grant users:manage</p>'
        in response.text
    )
    assert _count(session, Membership) == members_before
