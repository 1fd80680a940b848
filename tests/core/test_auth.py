"""Passwords, throttled logins, tokens, roles and optimistic locking through the real services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.auth import service as auth
from opencxo.core.auth.models import ApiToken, User
from opencxo.core.auth.permissions import ROLE_PERMISSIONS, Permission, Role
from opencxo.core.errors import Conflict, Invalid, NotAuthenticated, NotFound, TooManyAttempts
from opencxo.core.types import utcnow
from tests.factories import PASSWORD, make_organization, make_user, principal_of


@pytest.mark.real_password_hashing
def test_password_is_stored_as_argon2_hash(session: Session) -> None:
    user = make_user(session, organization_id=None)
    # argon2id at argon2-cffi's default cost (RFC 9106's low-memory choice), not the tests' own.
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in user.password_hash
    with pytest.raises(Invalid, match="at least 10"):
        auth.create_user(session, actor=None, email="x@y.example", full_name="X", password="short")


def test_failed_logins_slow_down_then_lock_and_are_audited(session: Session) -> None:
    user = make_user(session, organization_id=None, email="slow@test.example")
    for n in range(1, 4):
        outcome = auth.authenticate(session, email="slow@test.example", password="wrong-password")
        assert isinstance(outcome.error, NotAuthenticated)
        assert user.failed_login_count == n
    # The 4th attempt comes too soon after the 3rd failure: refused without checking.
    outcome = auth.authenticate(session, email="slow@test.example", password=PASSWORD)
    assert isinstance(outcome.error, TooManyAttempts)
    assert outcome.error.retry_after_s == 1
    # Once the wait is over, failures continue up to the lock-out.
    for n in range(4, 7):
        user.last_failed_login_at = utcnow() - timedelta(seconds=60)
        outcome = auth.authenticate(session, email="slow@test.example", password="wrong-password")
        assert user.failed_login_count == n
    assert user.locked_until is not None
    user.last_failed_login_at = utcnow() - timedelta(seconds=600)
    outcome = auth.authenticate(session, email="slow@test.example", password=PASSWORD)
    assert isinstance(outcome.error, TooManyAttempts)
    assert "locked" in outcome.error.message
    failed = (
        session.execute(select(AuditEvent).where(AuditEvent.action == "login_failed"))
        .scalars()
        .all()
    )
    assert len(failed) == 6
    # After the lock expires the right password works and resets the counter.
    user.locked_until = utcnow() - timedelta(seconds=1)
    outcome = auth.authenticate(session, email="SLOW@test.example ", password=PASSWORD)
    assert outcome.error is None and outcome.user is user
    assert user.failed_login_count == 0


def test_unknown_user_gets_the_same_message_as_a_wrong_password(session: Session) -> None:
    make_user(session, organization_id=None, email="known@test.example")
    unknown = auth.authenticate(session, email="nobody@test.example", password=PASSWORD)
    wrong = auth.authenticate(session, email="known@test.example", password="wrong-password")
    assert unknown.error is not None and wrong.error is not None
    assert unknown.error.message == wrong.error.message == "e-mail or password is wrong"


def test_tokens_are_hashed_revocable_and_personal(session: Session) -> None:
    org = make_organization(session)
    alice = make_user(session, organization_id=org.id, role="member")
    bob = make_user(session, organization_id=org.id, role="admin")
    token, plain = auth.create_token(session, principal_of(session, alice), name="ERP export")
    stored = session.execute(select(ApiToken)).scalar_one()
    assert plain.startswith("ocx_") and plain not in stored.token_sha256
    assert stored.token_prefix == plain[:10]
    resolved = auth.principal_for_token(session, plain)
    assert resolved is not None and resolved.user_id == alice.id
    assert resolved.roles == {org.id: Role.MEMBER}
    with pytest.raises(NotFound):
        auth.revoke_token(session, principal_of(session, bob), token.id)
    auth.revoke_token(session, principal_of(session, alice), token.id)
    assert auth.principal_for_token(session, plain) is None
    with pytest.raises(Conflict, match="already revoked"):
        auth.revoke_token(session, principal_of(session, alice), token.id)


def test_role_permission_map() -> None:
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert Permission.QUALIFICATIONS_WRITE in ROLE_PERMISSIONS[Role.QA]
    assert Permission.QUALIFICATIONS_WRITE not in ROLE_PERMISSIONS[Role.MEMBER]
    assert Permission.ORGANIZATIONS_WRITE not in ROLE_PERMISSIONS[Role.VIEWER]
    assert all(":" in p.value for p in Permission)


def test_stale_role_change_is_refused_and_changes_nothing(session: Session) -> None:
    org = make_organization(session)
    admin = make_user(session, organization_id=org.id, role="admin")
    member_user = make_user(session, organization_id=org.id, role="member")
    admin_principal = principal_of(session, admin)
    membership = next(
        m
        for m in auth.list_members(session, admin_principal, org.id)
        if m.user_id == member_user.id
    )
    auth.change_role(session, admin_principal, membership.id, role="qa", expected_version=1)
    assert membership.version == 2
    with pytest.raises(Conflict, match="version 2, you sent 1"):
        auth.change_role(session, admin_principal, membership.id, role="viewer", expected_version=1)
    assert membership.role == "qa"
    with pytest.raises(Invalid, match="unknown role"):
        auth.change_role(session, admin_principal, membership.id, role="boss", expected_version=2)


def test_members_of_another_organisation_are_not_found(session: Session) -> None:
    mine = make_organization(session)
    theirs = make_organization(session)
    admin = make_user(session, organization_id=mine.id, role="admin")
    make_user(session, organization_id=theirs.id, role="member")
    with pytest.raises(NotFound):
        auth.list_members(session, principal_of(session, admin), theirs.id)
    assert session.execute(select(User)).scalars().all()
