"""Use cases of identity: users, logins with throttling, memberships and API tokens."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from opencxo.core import audit
from opencxo.core.auth import repository
from opencxo.core.auth.models import ApiToken, Membership, User
from opencxo.core.auth.passwords import check_password_rules, hash_password, verify_password
from opencxo.core.auth.permissions import Permission, Role
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import (
    Conflict,
    Invalid,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    OpenCXOError,
    TooManyAttempts,
    check_version,
)
from opencxo.core.schemas import NOT_AN_EMAIL, email_address
from opencxo.core.settings import get_settings
from opencxo.core.types import utcnow

TOKEN_PREFIX = "ocx_"
USER_AUDIT_FIELDS = ("email", "full_name", "is_operator", "is_active")


def principal_for(session: Session, user: User) -> Principal:
    roles = {
        m.organization_id: Role(m.role) for m in repository.memberships_of_user(session, user.id)
    }
    return Principal(
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
        is_operator=user.is_operator,
        roles=roles,
    )


def principal_for_user_id(session: Session, user_id: uuid.UUID) -> Principal | None:
    user = repository.user_by_id(session, user_id)
    if user is None or not user.is_active:
        return None
    return principal_for(session, user)


def create_user(
    session: Session,
    *,
    actor: Principal | None,
    email: str,
    full_name: str,
    password: str,
    is_operator: bool = False,
) -> User:
    """Create a user; ``actor`` None means the command line (an operator at the console)."""
    if actor is not None and not actor.is_operator:
        raise Invalid("only a platform operator creates users outside an organisation")
    email = email.strip().lower()
    try:
        email = email_address(email).lower()
    except ValueError:
        raise Invalid(
            "email must be an e-mail address", field_errors={"email": NOT_AN_EMAIL}
        ) from None
    if not full_name.strip():
        raise Invalid("full name is required", field_errors={"full_name": "required"})
    check_password_rules(password)
    if repository.user_by_email(session, email) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(
        email=email,
        full_name=full_name.strip(),
        password_hash=hash_password(password),
        is_operator=is_operator,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="user",
        entity_id=user.id,
        actor=actor,
        actor_label=None if actor else "cli",
        after=audit.snapshot(user, USER_AUDIT_FIELDS),
    )
    return user


@dataclass(frozen=True)
class LoginOutcome:
    """A login's result; the boundary commits (so failures are counted) before raising ``error``."""

    user: User | None
    error: OpenCXOError | None


def _wait_seconds(user: User, now: datetime) -> int:
    settings = get_settings()
    if user.locked_until is not None and user.locked_until > now:
        return math.ceil((user.locked_until - now).total_seconds())
    excess = user.failed_login_count - settings.login_slowdown_after
    if excess >= 0 and user.last_failed_login_at is not None:
        earliest = user.last_failed_login_at + timedelta(seconds=2**excess)
        if earliest > now:
            return math.ceil((earliest - now).total_seconds())
    return 0


def _count_failure(session: Session, user: User, now: datetime, *, action: str, what: str) -> None:
    """One more failed password check: the throttle of logins, shared by every password form."""
    settings = get_settings()
    user.failed_login_count += 1
    user.last_failed_login_at = now
    if user.failed_login_count >= settings.login_lockout_after:
        user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
    session.flush()
    audit.record(
        session,
        action=action,
        entity_type="user",
        entity_id=user.id,
        actor=None,
        actor_label=user.email,
        reason=f"{what} (failure {user.failed_login_count})",
    )


def _throttled(user: User, now: datetime) -> TooManyAttempts | None:
    wait = _wait_seconds(user, now)
    if wait <= 0:
        return None
    locked = user.locked_until is not None and user.locked_until > now
    message = (
        f"account locked after repeated failed logins; try again in {wait} s"
        if locked
        else f"too many failed logins; wait {wait} s before trying again"
    )
    return TooManyAttempts(message, retry_after_s=wait)


DEACTIVATED = "this account is deactivated; ask the platform operator"


def authenticate(session: Session, *, email: str, password: str) -> LoginOutcome:
    """Check a password; slow down, then lock, an account after repeated failures.

    A deactivated account is named as such only to whoever knows its password: to anyone else
    it answers like a wrong password, so the message tells no stranger which accounts exist.
    """
    now = utcnow()
    user = repository.user_by_email(session, email)
    generic = NotAuthenticated("e-mail or password is wrong")
    if user is None:
        audit.record(
            session,
            action="login_failed",
            entity_type="user",
            entity_id="-",
            actor=None,
            actor_label=email.strip().lower()[:254] or "(empty)",
            reason="unknown user",
        )
        return LoginOutcome(None, generic)
    throttled = _throttled(user, now)
    if throttled is not None:
        return LoginOutcome(None, throttled)
    if not verify_password(user.password_hash, password):
        _count_failure(session, user, now, action="login_failed", what="wrong password")
        return LoginOutcome(None, generic)
    if not user.is_active:
        audit.record(
            session,
            action="login_failed",
            entity_type="user",
            entity_id=user.id,
            actor=None,
            actor_label=user.email,
            reason="deactivated account",
        )
        return LoginOutcome(None, NotPermitted(DEACTIVATED))
    user.failed_login_count = 0
    user.last_failed_login_at = None
    user.locked_until = None
    session.flush()
    audit.record(
        session,
        action="login",
        entity_type="user",
        entity_id=user.id,
        actor=principal_for(session, user),
    )
    return LoginOutcome(user, None)


# --- sessions ---------------------------------------------------------------------------------


def session_is_current(session: Session, user_id: uuid.UUID, generation: object) -> bool:
    """Whether a web session issued at ``generation`` is still valid for its user: none is
    once the user logged out, changed the password or was deactivated after it was issued."""
    user = repository.user_by_id(session, user_id)
    if user is None or not user.is_active:
        return False
    # A cookie from before generations existed counts as generation 0.
    if generation is None:
        generation = 0
    return type(generation) is int and generation == user.session_generation


def _end_sessions(session: Session, user: User) -> None:
    """Raise the user's session generation in one statement (no lost update between two
    logouts at once; not a versioned edit, so it never makes a concurrent edit stale)."""
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_generation=User.session_generation + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(user, ["session_generation"])


def log_out(session: Session, principal: Principal) -> None:
    """End every web session of the user: a copy of any of their cookies stops working."""
    user = repository.user_by_id(session, principal.user_id)
    if user is not None:
        _end_sessions(session, user)
    audit.record(
        session,
        action="logout",
        entity_type="user",
        entity_id=principal.user_id,
        actor=principal,
        after={"sessions_ended": "all"},
    )


# --- passwords --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordChangeOutcome:
    """A password change's result; the boundary commits (so a wrong current password is counted
    like a failed login) before it shows ``error``."""

    user: User | None
    error: OpenCXOError | None


def change_password(
    session: Session,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    new_password_again: str,
) -> PasswordChangeOutcome:
    """The signed-in user changes their own password; every other session of theirs ends.

    A wrong current password counts as a failed login and the login throttle applies, so the
    form is no way to guess a password past the lock-out. The caller issues the current
    session a new cookie with the user's new ``session_generation``.
    """
    now = utcnow()
    user = repository.user_by_id(session, principal.user_id)
    if user is None or not user.is_active:
        return PasswordChangeOutcome(None, NotAuthenticated(DEACTIVATED))
    throttled = _throttled(user, now)
    if throttled is not None:
        return PasswordChangeOutcome(None, throttled)
    errors: dict[str, str] = {}
    if not verify_password(user.password_hash, current_password):
        _count_failure(
            session, user, now, action="password_change_failed", what="wrong current password"
        )
        errors["current_password"] = "this is not your current password"
    try:
        check_password_rules(new_password, field="new_password")
    except Invalid as exc:
        errors.update(exc.field_errors or {"new_password": exc.message})
    if new_password != new_password_again:
        errors["new_password_again"] = "the two new passwords differ"
    if errors:
        message = (
            "the current password is wrong"
            if "current_password" in errors
            else "the new password cannot be used"
        )
        return PasswordChangeOutcome(None, Invalid(message, field_errors=errors))
    _set_password(session, user, new_password)
    audit.record(
        session,
        action="password_change",
        entity_type="user",
        entity_id=user.id,
        actor=principal,
        after={"sessions_ended": "others"},
    )
    return PasswordChangeOutcome(user, None)


def _set_password(session: Session, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.failed_login_count = 0
    user.last_failed_login_at = None
    user.locked_until = None
    session.flush()
    _end_sessions(session, user)


def set_password(session: Session, *, email: str, password: str) -> User:
    """The operator at the console sets a user's password (the command line; no web actor).

    Every session of the user ends and a lock-out after failed logins is lifted."""
    user = repository.user_by_email(session, email)
    if user is None:
        raise NotFound(f"no user with e-mail {email.strip().lower()}")
    check_password_rules(password)
    _set_password(session, user, password)
    audit.record(
        session,
        action="password_change",
        entity_type="user",
        entity_id=user.id,
        actor=None,
        actor_label="cli",
        after={"sessions_ended": "all"},
        reason="set by the operator at the command line",
    )
    return user


# --- deactivation -----------------------------------------------------------------------------


def set_active(
    session: Session, actor: Principal | None, user_id: uuid.UUID, *, active: bool
) -> User:
    """Deactivate or reactivate a user; only the platform operator may (``actor`` None is the
    command line). Deactivation ends the user's sessions; their API tokens and signatures are
    refused while the account is inactive (reactivation does not revive old sessions)."""
    if actor is not None and not actor.is_operator:
        raise NotPermitted("only the platform operator deactivates or reactivates users")
    user = repository.user_by_id(session, user_id)
    if user is None:
        raise NotFound("no such user")
    if actor is not None and actor.user_id == user.id and not active:
        raise Invalid("you cannot deactivate yourself")
    if user.is_active == active:
        raise Conflict(f"{user.email} is already {'active' if active else 'deactivated'}")
    # Changed only if still in the other state, in one statement: of two deactivations at
    # once, the second finds it done (409) instead of auditing it twice.
    changed = session.execute(
        update(User)
        .where(User.id == user.id, User.is_active.is_(not active))
        .values(
            is_active=active,
            version=User.version + 1,
            session_generation=User.session_generation + (0 if active else 1),
        )
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", changed).rowcount != 1:
        raise Conflict(f"{user.email} is already {'active' if active else 'deactivated'}")
    session.refresh(user)
    audit.record(
        session,
        action="activate" if active else "deactivate",
        entity_type="user",
        entity_id=user.id,
        actor=actor,
        actor_label=None if actor else "cli",
        before={"email": user.email, "is_active": not active},
        after={"email": user.email, "is_active": active},
    )
    return user


def user_named(session: Session, email: str) -> User:
    user = repository.user_by_email(session, email)
    if user is None:
        raise NotFound(f"no user with e-mail {email.strip().lower()}")
    return user


# --- the platform operator's overview ---------------------------------------------------------


@dataclass(frozen=True)
class UserCounts:
    active: int
    deactivated: int
    locked: int  # by the login throttle, now (deactivated accounts included)


@dataclass(frozen=True)
class AccountStanding:
    """A user the operator may want to look at: locked by the login throttle or deactivated."""

    user_id: uuid.UUID
    email: str
    full_name: str
    is_active: bool
    failed_login_count: int
    locked_until: datetime | None
    organization_ids: tuple[uuid.UUID, ...]  # their memberships, oldest first


def _require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise NotPermitted("only the platform operator sees every user")


def user_counts(session: Session, principal: Principal) -> UserCounts:
    """How many users are active, deactivated and locked out right now (operator only)."""
    _require_operator(principal)
    active, deactivated, locked = repository.count_users(session, now=utcnow())
    return UserCounts(active=active, deactivated=deactivated, locked=locked)


def _standings(session: Session, users: Sequence[User]) -> list[AccountStanding]:
    organizations: dict[uuid.UUID, list[uuid.UUID]] = {user.id: [] for user in users}
    for membership in repository.memberships_of_users(session, organizations):
        organizations[membership.user_id].append(membership.organization_id)
    return [
        AccountStanding(
            user_id=user.id,
            email=user.email,
            full_name=user.full_name,
            is_active=user.is_active,
            failed_login_count=user.failed_login_count,
            locked_until=user.locked_until,
            organization_ids=tuple(organizations[user.id]),
        )
        for user in users
    ]


def locked_accounts(session: Session, principal: Principal, *, limit: int) -> list[AccountStanding]:
    """Accounts the login throttle has locked until a time still to come, the latest lock
    first (operator only). A lock ends by itself, or by ``opencxo users set-password``."""
    _require_operator(principal)
    return _standings(session, repository.users_locked_at(session, now=utcnow(), limit=limit))


def deactivated_accounts(
    session: Session, principal: Principal, *, limit: int
) -> list[AccountStanding]:
    """Deactivated users by e-mail (operator only)."""
    _require_operator(principal)
    return _standings(session, repository.deactivated_users(session, limit=limit))


# --- API tokens -------------------------------------------------------------------------------


def _digest(token: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, principal: Principal, *, name: str) -> tuple[ApiToken, str]:
    """Issue a token for the acting user; the plain text is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid(
            "token name is required (1–100 characters)", field_errors={"name": "required"}
        )
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=principal.user_id, name=name, token_prefix=plain[:10], token_sha256=_digest(plain)
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="api_token",
        entity_id=token.id,
        actor=principal,
        after={"name": name, "token_prefix": token.token_prefix},
    )
    return token, plain


def list_tokens(session: Session, principal: Principal) -> Sequence[ApiToken]:
    return repository.tokens_of_user(session, principal.user_id)


def revoke_token(session: Session, principal: Principal, token_id: uuid.UUID) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != principal.user_id:
        raise NotFound("no such API token")
    if token.revoked_at is not None:
        raise Conflict("this token is already revoked")
    now = utcnow()
    # Revoked only if still live, in one statement: of two revocations at once, the second
    # finds it revoked (409) instead of revoking it again with a second audit event.
    revoked = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if cast("CursorResult[Any]", revoked).rowcount != 1:
        raise Conflict("this token is already revoked")
    audit.record(
        session,
        action="revoke",
        entity_type="api_token",
        entity_id=token.id,
        actor=principal,
        before={"revoked_at": None},
        after={"revoked_at": now.isoformat()},
    )
    session.flush()
    return token


def principal_for_token(session: Session, plain: str) -> Principal | None:
    token = repository.token_by_digest(session, _digest(plain))
    if token is None or token.revoked_at is not None:
        return None
    principal = principal_for_user_id(session, token.user_id)
    now = utcnow()
    # Record use at most once a minute, so reads through the API stay reads.
    if principal is not None and (
        token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1)
    ):
        token.last_used_at = now
    return principal


# --- memberships: "my organisation's users" ---------------------------------------------------


def list_members(
    session: Session, principal: Principal, organization_id: uuid.UUID
) -> Sequence[Membership]:
    if organization_id not in principal.organization_ids and not principal.is_operator:
        raise NotFound("no such organisation")
    principal.require(Permission.USERS_READ, organization_id)
    return repository.memberships_of_organization(session, organization_id)


def add_member(
    session: Session,
    principal: Principal | None,
    organization_id: uuid.UUID,
    *,
    email: str,
    full_name: str,
    role: str,
    password: str | None,
) -> Membership:
    """Add a user to an organisation, creating the user when the e-mail is new.

    ``principal`` None means the command line (an operator at the console), as in
    ``create_user``: the audit trail names "cli", never a made-up user."""
    if principal is not None:
        if organization_id not in principal.organization_ids and not principal.is_operator:
            raise NotFound("no such organisation")
        principal.require(Permission.USERS_MANAGE, organization_id)
    try:
        role_value = Role(role)
    except ValueError:
        raise Invalid(
            f"unknown role {role!r}", field_errors={"role": "choose " + ", ".join(Role)}
        ) from None
    user = repository.user_by_email(session, email)
    if user is None:
        if not password:
            raise Invalid(
                "a new user needs an initial password",
                field_errors={"password": "required for a new user"},
            )
        user = create_user(
            session,
            actor=(
                None
                if principal is None
                else Principal(principal.user_id, principal.email, principal.full_name, True)
            ),
            email=email,
            full_name=full_name,
            password=password,
        )
    elif repository.membership_of(session, user.id, organization_id) is not None:
        raise Conflict(f"{user.email} is already a member of this organisation")
    member = Membership(user_id=user.id, organization_id=organization_id, role=role_value.value)
    session.add(member)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="membership",
        entity_id=member.id,
        actor=principal,
        actor_label=None if principal else "cli",
        organization_id=organization_id,
        after={"user": user.email, "role": role_value.value},
    )
    return member


def _own_membership(session: Session, principal: Principal, membership_id: uuid.UUID) -> Membership:
    member = repository.membership(session, membership_id)
    if member is None or (
        member.organization_id not in principal.organization_ids and not principal.is_operator
    ):
        raise NotFound("no such membership")
    principal.require(Permission.USERS_MANAGE, member.organization_id)
    return member


def change_role(
    session: Session,
    principal: Principal,
    membership_id: uuid.UUID,
    *,
    role: str,
    expected_version: int | None,
) -> Membership:
    member = _own_membership(session, principal, membership_id)
    check_version("membership", member.version, expected_version)
    try:
        new_role = Role(role)
    except ValueError:
        raise Invalid(f"unknown role {role!r}", field_errors={"role": "unknown role"}) from None
    if member.user_id == principal.user_id and new_role is not Role.ADMIN:
        raise Invalid("you cannot take the admin role away from yourself")
    before = {"role": member.role}
    member.role = new_role.value
    session.flush()
    audit.record(
        session,
        action="update",
        entity_type="membership",
        entity_id=member.id,
        actor=principal,
        organization_id=member.organization_id,
        before=before,
        after={"role": member.role},
    )
    return member


def remove_member(session: Session, principal: Principal, membership_id: uuid.UUID) -> None:
    member = _own_membership(session, principal, membership_id)
    if member.user_id == principal.user_id:
        raise Invalid("you cannot remove yourself from your organisation")
    # Who was removed, by e-mail as well as id (as "create" records it): the trail reads alone.
    before = {"user": member.user.email, "user_id": str(member.user_id), "role": member.role}
    member_id, organization_id = member.id, member.organization_id
    # The row first, then the audit chain: the lock order of every update (change_role too);
    # the other way round a removal and a concurrent role change can deadlock on PostgreSQL.
    session.delete(member)
    session.flush()
    audit.record(
        session,
        action="delete",
        entity_type="membership",
        entity_id=member_id,
        actor=principal,
        organization_id=organization_id,
        before=before,
    )
