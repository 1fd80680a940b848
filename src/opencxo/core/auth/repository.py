"""Every SELECT over users, memberships and API tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
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
