"""Every SELECT over users, memberships and API tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, selectinload

from opencxo.core.auth.models import ApiToken, Membership, User


def user_by_email(session: Session, email: str) -> User | None:
    return session.execute(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).scalar_one_or_none()


def user_by_id(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def memberships_of_user(session: Session, user_id: uuid.UUID) -> Sequence[Membership]:
    return session.execute(select(Membership).where(Membership.user_id == user_id)).scalars().all()


def memberships_of_organization(
    session: Session, organization_id: uuid.UUID
) -> Sequence[Membership]:
    return (
        session.execute(
            select(Membership)
            .where(Membership.organization_id == organization_id)
            .options(selectinload(Membership.user))
            .join(User)
            .order_by(User.full_name)
        )
        .scalars()
        .all()
    )


def membership(session: Session, membership_id: uuid.UUID) -> Membership | None:
    return session.get(Membership, membership_id)


def membership_of(
    session: Session, user_id: uuid.UUID, organization_id: uuid.UUID
) -> Membership | None:
    return session.execute(
        select(Membership).where(
            Membership.user_id == user_id, Membership.organization_id == organization_id
        )
    ).scalar_one_or_none()


def token_by_digest(session: Session, digest: str) -> ApiToken | None:
    return session.execute(
        select(ApiToken).where(ApiToken.token_sha256 == digest)
    ).scalar_one_or_none()


def tokens_of_user(session: Session, user_id: uuid.UUID) -> Sequence[ApiToken]:
    return (
        session.execute(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc())
        )
        .scalars()
        .all()
    )


# --- the platform operator's overview ---------------------------------------------------------


def count_users(session: Session, *, now: datetime) -> tuple[int, int, int]:
    """Users that are active, deactivated, and locked by the login throttle at ``now``."""
    active, deactivated, locked = session.execute(
        select(
            func.count(case((User.is_active.is_(True), 1))),
            func.count(case((User.is_active.is_(False), 1))),
            func.count(case((User.locked_until > now, 1))),
        ).select_from(User)
    ).one()
    return int(active), int(deactivated), int(locked)


def users_locked_at(session: Session, *, now: datetime, limit: int) -> Sequence[User]:
    """Accounts still locked at ``now``, the latest lock first."""
    return (
        session.execute(
            select(User)
            .where(User.locked_until > now)
            .order_by(User.locked_until.desc(), User.email)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def deactivated_users(session: Session, *, limit: int) -> Sequence[User]:
    return (
        session.execute(
            select(User).where(User.is_active.is_(False)).order_by(User.email).limit(limit)
        )
        .scalars()
        .all()
    )


def memberships_of_users(session: Session, user_ids: Iterable[uuid.UUID]) -> Sequence[Membership]:
    ids = list(user_ids)
    if not ids:
        return []
    return (
        session.execute(
            select(Membership)
            .where(Membership.user_id.in_(ids))
            .order_by(Membership.created_at, Membership.id)
        )
        .scalars()
        .all()
    )
