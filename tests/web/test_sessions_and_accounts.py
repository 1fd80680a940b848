"""Sessions end on the server (logout, password change, deactivation), a user changes their own
password, and the platform operator deactivates and reactivates users — real HTTP through the
app, on the schema the migrations made."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.auth import service as auth
from opencxo.core.auth.models import User
from opencxo.core.errors import NotAuthenticated
from opencxo.core.signatures import SignatureMeaning, sign
from tests.factories import PASSWORD, make_token, operator, principal_of
from tests.web.conftest import World, csrf, login, new_user

COOKIE = "opencxo_session"
NEW_PASSWORD = "a-brand-new-passphrase"
LOGOUT_MESSAGE = "You have logged out of every browser session."
DEACTIVATED = "this account is deactivated; ask the platform operator"


@pytest.fixture
def browsers(client: TestClient) -> Iterator[list[TestClient]]:
    """More browsers on the same app, each with its own cookie jar."""
    opened: list[TestClient] = []
    yield opened
    for browser in opened:
        browser.close()


def another_browser(client: TestClient, browsers: list[TestClient]) -> TestClient:
    browser = TestClient(client.app)
    browsers.append(browser)
    return browser


def with_cookie(client: TestClient, browsers: list[TestClient], cookie: str) -> TestClient:
    """A browser holding a copy of a session cookie (as one taken off a shared machine)."""
    browser = another_browser(client, browsers)
    browser.cookies.set(COOKIE, cookie)
    return browser


def signed_in(browser: TestClient) -> bool:
    response = browser.get("/", follow_redirects=False)
    if response.status_code == 303:
        assert response.headers["location"] == "/login?next=/"
        return False
    assert response.status_code == 200, response.text
    return True


def login_answer(browser: TestClient, email: str, password: str) -> tuple[int, str]:
    response = browser.post(
        "/login",
        data={"email": email, "password": password, "next": "/", "csrf_token": csrf(browser)},
        follow_redirects=False,
    )
    return response.status_code, response.text


def events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.execute(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.sequence)
        ).scalars()
    )


def user_row(session: Session, user_id: uuid.UUID) -> User:
    session.expire_all()
    user = session.get(User, user_id)
    assert user is not None
    return user


def log_out(browser: TestClient) -> None:
    response = browser.post(
        "/logout", data={"csrf_token": csrf(browser, "/")}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


# --- logout -------------------------------------------------------------------------------------


def test_a_cookie_copied_before_logout_is_logged_out_after_it(
    client: TestClient, session: Session, world: World, browsers: list[TestClient]
) -> None:
    login(client, "manager@acme.example")
    copy = with_cookie(client, browsers, client.cookies[COOKIE])
    assert signed_in(copy)
    assert copy.get("/notifications/badge").status_code == 200

    log_out(client)
    assert copy.get("/notifications/badge").status_code == 204  # not even the unread count
    assert LOGOUT_MESSAGE in client.get("/login").text
    # The copy still carries a validly signed cookie, but it predates the logout.
    assert not signed_in(copy)
    assert copy.get("/account/tokens", follow_redirects=False).headers["location"] == (
        "/login?next=/account/tokens"
    )
    assert not signed_in(client)

    # A new login is a new session that works; the old copy stays logged out.
    login(client, "manager@acme.example")
    assert signed_in(client)
    assert not signed_in(with_cookie(client, browsers, copy.cookies.get(COOKIE) or ""))
    assert user_row(session, world.manager.id).session_generation == 1
    [logout] = events(session, "logout")
    assert (logout.actor_user_id, logout.actor_label) == (world.manager.id, "manager@acme.example")
    assert logout.after == {"sessions_ended": "all"}


def test_logout_in_one_browser_ends_the_users_other_browsers_only(
    client: TestClient, session: Session, world: World, browsers: list[TestClient]
) -> None:
    new_user(session, world.sponsor.id, "member", "colleague@acme.example")
    laptop = another_browser(client, browsers)
    colleague = another_browser(client, browsers)
    login(client, "manager@acme.example")
    login(laptop, "manager@acme.example")
    login(colleague, "colleague@acme.example")

    log_out(laptop)
    assert not signed_in(client)
    assert not signed_in(laptop)
    assert signed_in(colleague)


# --- password change ----------------------------------------------------------------------------


def change_password(
    browser: TestClient, current: str, new: str, again: str | None = None
) -> tuple[int, str, str | None]:
    response = browser.post(
        "/account/password",
        data={
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
            "csrf_token": csrf(browser, "/account/password"),
        },
        follow_redirects=False,
    )
    return response.status_code, response.text, response.headers.get("location")


def field_error(html: str, field: str) -> str | None:
    marker = f'data-field-error="{field}">'
    if marker not in html:
        return None
    return html.split(marker, 1)[1].split("</div>", 1)[0]


def test_the_sidebar_links_the_password_page(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    page = client.get("/account/password")
    assert page.status_code == 200
    assert 'href="/account/password"' in client.get("/").text
    for name in ("current_password", "new_password", "new_password_again"):
        assert f'name="{name}"' in page.text


def test_a_wrong_current_password_is_a_field_error_and_counts_as_a_failed_login(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    before = user_row(session, world.manager.id).password_hash

    status, html, _ = change_password(client, "not-my-password", NEW_PASSWORD)
    assert status == 422
    assert field_error(html, "current_password") == "this is not your current password"
    assert field_error(html, "new_password") is None
    user = user_row(session, world.manager.id)
    assert (user.password_hash, user.failed_login_count) == (before, 1)
    [failed] = events(session, "password_change_failed")
    assert (failed.actor_user_id, failed.actor_label) == (None, "manager@acme.example")
    assert failed.reason == "wrong current password (failure 1)"
    assert events(session, "password_change") == []
    assert signed_in(client)


def test_the_password_page_is_no_way_around_the_login_throttle(
    client: TestClient, session: Session, world: World, browsers: list[TestClient]
) -> None:
    login(client, "manager@acme.example")
    # login_slowdown_after=3: after three wrong guesses the next one must wait 2^0 s ...
    for _ in range(3):
        assert change_password(client, "guess-number-x", NEW_PASSWORD)[0] == 422
    status, html, _ = change_password(client, PASSWORD, NEW_PASSWORD)
    assert status == 429
    assert "too many failed logins; wait 1 s before trying again" in html
    # ... and the login form counts the same failures.
    browser = another_browser(client, browsers)
    assert login_answer(browser, "manager@acme.example", PASSWORD)[0] == 429
    user = user_row(session, world.manager.id)
    assert (user.failed_login_count, user.password_hash.startswith("$argon2id$")) == (3, True)
    assert len(events(session, "password_change_failed")) == 3


def test_a_mismatch_or_a_weak_new_password_changes_nothing(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    before = user_row(session, world.manager.id).password_hash

    status, html, _ = change_password(client, PASSWORD, NEW_PASSWORD, "a-different-passphrase")
    assert status == 422
    assert field_error(html, "new_password_again") == "the two new passwords differ"
    assert field_error(html, "current_password") is None

    status, html, _ = change_password(client, PASSWORD, "short")
    assert status == 422
    assert field_error(html, "new_password") == "use at least 10 characters"

    user = user_row(session, world.manager.id)
    assert (user.password_hash, user.failed_login_count, user.session_generation) == (before, 0, 0)
    assert events(session, "password_change") == []
    assert events(session, "password_change_failed") == []
    # No password is sent back into the form.
    assert PASSWORD not in html


def test_a_password_change_keeps_this_session_and_ends_the_others(
    client: TestClient, session: Session, world: World, browsers: list[TestClient]
) -> None:
    login(client, "manager@acme.example")
    other = another_browser(client, browsers)
    login(other, "manager@acme.example")
    stolen = with_cookie(client, browsers, client.cookies[COOKIE])

    status, _, location = change_password(client, PASSWORD, NEW_PASSWORD)
    assert (status, location) == (303, "/account/password")
    page = client.get("/account/password")
    assert "Password changed. Your other browser sessions have ended." in page.text
    assert signed_in(client)
    assert not signed_in(other)
    assert not signed_in(stolen)

    fresh = another_browser(client, browsers)
    status, html = login_answer(fresh, "manager@acme.example", PASSWORD)
    assert status == 401
    assert "e-mail or password is wrong" in html
    login(fresh, "manager@acme.example", NEW_PASSWORD)
    assert signed_in(fresh)

    [changed] = events(session, "password_change")
    assert (changed.actor_user_id, changed.actor_label) == (
        world.manager.id,
        "manager@acme.example",
    )
    assert (changed.entity_type, changed.entity_id) == ("user", str(world.manager.id))
    assert (changed.before, changed.after, changed.reason) == (
        None,
        {"sessions_ended": "others"},
        None,
    )
    # No secret anywhere in the trail: neither password nor a hash of one.
    trail = json.dumps([[e.before, e.after, e.reason] for e in events(session, "password_change")])
    stored = user_row(session, world.manager.id).password_hash
    for secret in (PASSWORD, NEW_PASSWORD, stored):
        assert secret not in trail


# --- deactivation -------------------------------------------------------------------------------


def deactivate(
    browser: TestClient, user_id: uuid.UUID, next_path: str, verb: str = "deactivate"
) -> httpx.Response:
    return browser.post(
        f"/users/{user_id}/{verb}",
        data={"csrf_token": csrf(browser, next_path), "next": next_path},
        follow_redirects=False,
    )


def test_the_operator_deactivates_and_reactivates_a_user(
    client: TestClient, session: Session, world: World, browsers: list[TestClient]
) -> None:
    members = f"/organizations/{world.sponsor.id}/members"
    manager = another_browser(client, browsers)
    login(manager, "manager@acme.example")
    token = make_token(session, user=world.manager)
    session.commit()
    api = {"Authorization": f"Bearer {token}"}
    assert manager.get("/api/v1/me", headers=api).status_code == 200

    login(client, "operator@test.example")
    page = client.get(members).text
    assert f'action="/users/{world.manager.id}/deactivate"' in page
    response = deactivate(client, world.manager.id, members)
    assert (response.status_code, response.headers["location"]) == (303, members)
    page = client.get(members).text
    assert "manager@acme.example deactivated; their sessions and API tokens no longer work." in page
    assert 'data-testid="deactivated"' in page
    assert f'action="/users/{world.manager.id}/activate"' in page

    # Everything of the user stops at once: the session, the API token, the login.
    assert not signed_in(manager)
    answer = manager.get("/api/v1/me", headers=api)
    assert answer.status_code == 401
    assert answer.json()["detail"] == "the API token is unknown or revoked"
    status, html = login_answer(another_browser(client, browsers), "manager@acme.example", PASSWORD)
    assert status == 403
    assert DEACTIVATED in html
    # Only to whoever knows the password: a wrong one answers as for anyone.
    status, html = login_answer(
        another_browser(client, browsers), "manager@acme.example", "wrong-password-1"
    )
    assert status == 401
    assert DEACTIVATED not in html and "e-mail or password is wrong" in html
    # An e-signature by the user is refused.
    session.expire_all()
    with pytest.raises(NotAuthenticated, match="your account cannot sign"):
        sign(
            session,
            principal_of(session, world.manager),
            password=PASSWORD,
            meaning=SignatureMeaning.APPROVED,
            entity_type="qualification",
            entity_id=world.qualification.id,
            organization_id=world.sponsor.id,
            record={"id": str(world.qualification.id)},
        )
    session.rollback()

    response = deactivate(client, world.manager.id, members, "activate")
    assert (response.status_code, response.headers["location"]) == (303, members)
    assert "manager@acme.example reactivated; they can log in again." in client.get(members).text
    assert manager.get("/api/v1/me", headers=api).status_code == 200
    # The old session stays ended; a new login works.
    assert not signed_in(manager)
    login(manager, "manager@acme.example")
    assert signed_in(manager)

    operator_id = operator(session).user_id
    done = events(session, "deactivate") + events(session, "activate")
    assert [
        (e.action, e.actor_user_id, e.actor_label, e.entity_id, e.before, e.after) for e in done
    ] == [
        (
            "deactivate",
            operator_id,
            "operator@test.example",
            str(world.manager.id),
            {"email": "manager@acme.example", "is_active": True},
            {"email": "manager@acme.example", "is_active": False},
        ),
        (
            "activate",
            operator_id,
            "operator@test.example",
            str(world.manager.id),
            {"email": "manager@acme.example", "is_active": False},
            {"email": "manager@acme.example", "is_active": True},
        ),
    ]
    [refused] = [e for e in events(session, "login_failed") if e.reason == "deactivated account"]
    assert refused.actor_label == "manager@acme.example"


def test_the_operator_cannot_deactivate_themselves(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "operator@test.example")
    me = operator(session).user_id
    response = deactivate(client, me, "/")
    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert "you cannot deactivate yourself" in client.get("/").text
    assert user_row(session, me).is_active is True
    assert events(session, "deactivate") == []
    assert signed_in(client)


def test_an_admin_may_not_deactivate_a_user(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.sponsor.id, "admin", "admin@acme.example")
    members = f"/organizations/{world.sponsor.id}/members"
    login(client, "admin@acme.example")
    page = client.get(members).text
    assert "/deactivate" not in page
    assert 'action="/memberships/' in page  # an admin removes the membership instead
    response = deactivate(client, world.manager.id, members)
    assert response.status_code == 403
    assert "only the platform operator deactivates or reactivates users" in response.text
    assert user_row(session, world.manager.id).is_active is True
    assert events(session, "deactivate") == []


def test_a_deactivated_users_sessions_end_even_before_the_page_is_reloaded(
    client: TestClient, session: Session, world: World
) -> None:
    """The service alone (CLI or web) ends the sessions: no cookie issued before it works."""
    login(client, "manager@acme.example")
    auth.set_active(session, None, world.manager.id, active=False)
    session.commit()
    assert not signed_in(client)
    auth.set_active(session, None, world.manager.id, active=True)
    session.commit()
    assert not signed_in(client)
    [cli] = events(session, "deactivate")
    assert (cli.actor_user_id, cli.actor_label) == (None, "cli")
