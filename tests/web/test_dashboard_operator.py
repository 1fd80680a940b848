"""The platform operator's dashboard row: organisations by kind and the newest registered, users
active, deactivated and locked by the login throttle (linked to their organisation's users), the
audit trail's size and newest event, and how to back up. Nobody else sees it."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.auth import service as auth
from opencxo.core.auth.models import User
from opencxo.core.errors import NotPermitted
from opencxo.core.settings import get_settings
from opencxo.core.types import utcnow
from tests.factories import make_organization, make_user, operator, principal_of
from tests.web.conftest import World, csrf, login

_PANEL = re.compile(r'data-testid="panel-(\w+)"')
_HEADER_LINK = re.compile(
    r'<strong>[^<]+</strong>\s*(?:<a href="([^"]+)" class="small">([^<]+)</a>)?'
)
_ROW = re.compile(
    r'data-urgent="(yes|no)">\s*(?:<a href="([^"]+)"|<span)[^>]*>([^<]+)</(?:a|span)>\s*'
    r'<div class="small text-muted">(?:<i [^>]*></i> )?([^<]+)</div>'
)
_FIGURE = re.compile(
    r'<div class="text-muted small">([^<]+)</div><div class="fw-semibold">'
    r'(?:<a href="([^"]+)">)?([^<]+)<'
)
_EMPTY = re.compile(r'<div class="empty-state small">([^<]+)</div>')
_NOTE = re.compile(r'<p class="mb-1">(.*?)</p>')


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def _platform(page: str) -> dict[str, dict[str, object]]:
    """Each platform panel: its header link, figures (value, link), rows, empty text, notes."""
    start = page.index('data-testid="platform"')
    row = page[start : page.index("Providers and qualif", start)]
    marks = list(_PANEL.finditer(row))
    panels: dict[str, dict[str, object]] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        chunk = row[mark.end() : following.start() if following else len(row)]
        header = _HEADER_LINK.search(chunk)
        assert header is not None
        empty = _EMPTY.search(chunk)
        panels[mark.group(1)] = {
            "link": (header.group(1), header.group(2)) if header.group(1) else None,
            "figures": {
                html.unescape(k): (v, href or None) for k, href, v in _FIGURE.findall(chunk)
            },
            "rows": [
                (html.unescape(label), href or None, html.unescape(detail).strip(), urgent == "yes")
                for urgent, href, label, detail in _ROW.findall(chunk)
            ],
            "empty": empty.group(1) if empty else None,
            "notes": [_text(n) for n in _NOTE.findall(chunk)],
        }
    return panels


def _fail_logins_until_locked(client: TestClient, session: Session, email: str) -> None:
    """The configured number of wrong passwords through the login form, each after the slow-down
    has passed (the throttle would refuse the attempt otherwise), then the lock answers 429."""
    token = csrf(client)
    for _ in range(get_settings().login_lockout_after):
        session.execute(
            User.__table__.update()
            .where(User.email == email)
            .values(last_failed_login_at=utcnow() - timedelta(hours=1))
        )
        session.commit()
        response = client.post(
            "/login",
            data={"email": email, "password": "wrong-password-123", "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 401
    response = client.post(
        "/login",
        data={"email": email, "password": "correct-horse-battery", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 429
    assert "account locked after repeated failed logins" in response.text


def test_the_operator_sees_organisations_users_audit_and_backups(
    client: TestClient, session: Session, world: World
) -> None:
    # two sponsors (Acme, then Borealis, the newest) and two providers (Shanghai, Lyon)
    borealis = make_organization(session, name="Borealis Biotech", country="CA")
    gone = make_user(
        session, organization_id=borealis.id, role="member", email="gone@borealis.example"
    )
    make_user(session, organization_id=world.sponsor.id, role="member", email="bench@acme.example")
    auth.set_active(session, operator(session), gone.id, active=False)
    # the manager was locked once, but the lock has run out: not locked now
    manager = session.get(User, world.manager.id)
    assert manager is not None
    manager.failed_login_count = get_settings().login_lockout_after
    manager.locked_until = utcnow() - timedelta(minutes=1)
    session.commit()
    _fail_logins_until_locked(client, session, "bench@acme.example")

    login(client, "operator@test.example")
    page = client.get("/").text
    assert "The platform" in page
    assert "Waiting for you" not in page  # no tenant work is the operator's
    panels = _platform(page)
    assert list(panels) == ["organizations", "users", "audit", "backups"]
    today = f"{utcnow():%Y-%m-%d}"

    organizations = panels["organizations"]
    assert organizations["link"] == ("/organizations", "Open →")
    assert organizations["figures"] == {
        "Sponsors": ("2", "/organizations?kind=sponsor"),
        "Providers": ("2", "/organizations?kind=provider"),
    }
    assert organizations["rows"] == [
        ("Borealis Biotech", f"/organizations/{borealis.id}", f"sponsor, registered {today}", False),
        ("Lyon Clinical Services", f"/organizations/{world.other_provider.id}",
         f"provider, registered {today}", False),
        ("Shanghai API Works", f"/organizations/{world.provider.id}",
         f"provider, registered {today}", False),
        ("Acme Therapeutics", f"/organizations/{world.sponsor.id}",
         f"sponsor, registered {today}", False),
    ]  # fmt: skip

    # operator, manager, bench active; gone deactivated; bench locked now (the manager's lock ran out)
    session.expire_all()
    bench = auth.user_named(session, "bench@acme.example")
    assert bench.locked_until is not None
    users = panels["users"]
    assert users["link"] is None  # no list of every user to open
    assert users["figures"] == {
        "Active": ("3", None),
        "Deactivated": ("1", None),
        "Locked now": ("1", None),
    }
    lockout = get_settings().login_lockout_after
    assert users["rows"] == [
        ("bench@acme.example", f"/organizations/{world.sponsor.id}/members",
         f"locked until {bench.locked_until:%Y-%m-%d %H:%M} UTC after {lockout} failed logins"
         " · Acme Therapeutics", True),
        ("gone@borealis.example", f"/organizations/{borealis.id}/members",
         "deactivated · Borealis Biotech", False),
    ]  # fmt: skip
    assert users["notes"] == [
        f"A lock ends by itself {get_settings().login_lockout_minutes} minutes after the last "
        "failed login, or at once when you set a new password: "
        "opencxo users set-password --email …"
    ]

    # the chain's size and newest event, as the trail holds them (the page view wrote none)
    events = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    newest = session.execute(select(func.max(AuditEvent.occurred_at))).scalar_one()
    newest_event = session.execute(
        select(AuditEvent).order_by(AuditEvent.sequence.desc()).limit(1)
    ).scalar_one()
    assert (newest_event.action, newest_event.actor_label) == ("login", "operator@test.example")
    audit = panels["audit"]
    assert audit["link"] == ("/audit", "Open →")
    assert audit["figures"] == {
        "Events": (str(events), "/audit"),
        "Newest": (f"{newest:%Y-%m-%d %H:%M} UTC", None),
    }
    assert audit["rows"] == [] and audit["empty"] is None
    assert "opencxo audit verify" in audit["notes"][0]  # type: ignore[index]

    backups = panels["backups"]
    assert backups["link"] is None and backups["figures"] == {} and backups["rows"] == []
    assert backups["notes"] == [
        "Back up the database while the app keeps serving: opencxo db backup FILE "
        "(a verified copy: integrity, revision and audit chain).",
        "Then copy the stored files directory, OPENCXO_FILES_DIR.",
        "Restore with the app stopped: opencxo db restore FILE.",
        "OpenCXO keeps no record of backups: schedule the command and watch its exit status. "
        "See “Backups” in the README.",
    ]
    assert 'data-testid="kpi-approved"' in page  # the directory's figures stay below

    # the links lead somewhere the operator may go
    for href in ("/organizations?kind=sponsor", f"/organizations/{borealis.id}",
                 f"/organizations/{world.sponsor.id}/members", "/audit"):  # fmt: skip
        assert client.get(href, follow_redirects=False).status_code == 200, href


def test_a_fresh_platform_and_a_user_of_no_organisation(
    client: TestClient, session: Session
) -> None:
    op = operator(session)
    loner = make_user(session, organization_id=None, email="loner@test.example")
    auth.set_active(session, op, loner.id, active=False)
    session.commit()
    login(client, "operator@test.example")
    panels = _platform(client.get("/").text)
    organizations = panels["organizations"]
    assert organizations["figures"] == {
        "Sponsors": ("0", "/organizations?kind=sponsor"),
        "Providers": ("0", "/organizations?kind=provider"),
    }
    assert organizations["rows"] == []
    assert organizations["empty"] == (
        "No organisation is registered yet: register the first sponsor or provider."
    )
    users = panels["users"]
    assert users["figures"] == {
        "Active": ("1", None),
        "Deactivated": ("1", None),
        "Locked now": ("0", None),
    }
    # no organisation, so no users page to link: the row is plain text
    assert users["rows"] == [("loner@test.example", None, "deactivated · no organisation", False)]
    assert users["notes"] == []  # no lock, no advice on lifting one
    # operator and loner created, loner deactivated, the operator's login
    assert panels["audit"]["figures"]["Events"] == ("4", "/audit")  # type: ignore[index]


def test_members_of_organisations_never_see_the_platform_row(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    page = client.get("/").text
    assert 'data-testid="platform"' not in page
    assert "The platform" not in page
    for key in ("organizations", "users", "audit", "backups"):
        assert f'data-testid="panel-{key}"' not in page
    assert "opencxo db backup" not in page
    assert re.findall(r'data-testid="panel-(\w+)"', page) == [
        "rfps", "contracts", "invoices", "studies", "orders", "batches"
    ]  # fmt: skip
    # and the services refuse them the operator's figures
    manager = principal_of(session, world.manager)
    for read in (
        lambda: auth.user_counts(session, manager),
        lambda: auth.locked_accounts(session, manager, limit=6),
        lambda: auth.deactivated_accounts(session, manager, limit=6),
    ):
        with pytest.raises(NotPermitted):
            read()
