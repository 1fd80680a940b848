"""In-app notifications to an organisation's members (invited, awarded, signature needed …)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Select, String, Text, Uuid, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from opencxo.core.db import Base, IdMixin
from opencxo.core.types import utcnow


class Notification(IdMixin, Base):
    __tablename__ = "notifications"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid(), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]


class NotificationRead(Base):
    """One member's reading of an organisation's notification: each member has their own
    "new" marks (one reading them does not read them for the rest of the team)."""

    __tablename__ = "notification_reads"

    notification_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    read_at: Mapped[datetime]


@dataclass(frozen=True)
class InboxItem:
    """A notification as one user sees it: ``read_at`` is theirs (None: new to them)."""

    id: uuid.UUID
    kind: str
    message: str
    link: str
    created_at: datetime
    read_at: datetime | None


def notify(
    session: Session,
    organization_ids: Iterable[uuid.UUID],
    *,
    kind: str,
    message: str,
    link: str = "",
) -> None:
    now = utcnow()
    for organization_id in set(organization_ids):
        session.add(
            Notification(
                organization_id=organization_id,
                kind=kind,
                message=message,
                link=link,
                created_at=now,
            )
        )
    session.flush()


def notify_once(
    session: Session, organization_ids: Iterable[uuid.UUID], *, kind: str, message: str, link: str
) -> int:
    """Notify each organisation that has not yet had this kind of notification for this link
    (reminders run repeatedly); returns how many were sent."""
    wanted = set(organization_ids)
    already = set(
        session.execute(
            select(Notification.organization_id).where(
                Notification.organization_id.in_(list(wanted)),
                Notification.kind == kind,
                Notification.link == link,
            )
        ).scalars()
    )
    fresh = wanted - already
    if fresh:
        notify(session, fresh, kind=kind, message=message, link=link)
    return len(fresh)


def recent(
    session: Session, organization_ids: Iterable[uuid.UUID], user_id: uuid.UUID, *, limit: int = 50
) -> list[InboxItem]:
    """The newest notifications of the user's organisations, each with the user's reading."""
    mine = (
        select(NotificationRead.notification_id, NotificationRead.read_at)
        .where(NotificationRead.user_id == user_id)
        .subquery()
    )
    rows = session.execute(
        select(Notification, mine.c.read_at)
        .outerjoin(mine, mine.c.notification_id == Notification.id)
        .where(Notification.organization_id.in_(list(organization_ids)))
        .order_by(Notification.created_at.desc(), Notification.id)
        .limit(limit)
    ).all()
    return [
        InboxItem(n.id, n.kind, n.message, n.link, n.created_at, read_at) for n, read_at in rows
    ]


def _unread(organization_ids: Iterable[uuid.UUID], user_id: uuid.UUID) -> Select[uuid.UUID]:
    read = select(NotificationRead.notification_id).where(NotificationRead.user_id == user_id)
    return select(Notification.id).where(
        Notification.organization_id.in_(list(organization_ids)), Notification.id.not_in(read)
    )


def unread_count(
    session: Session, organization_ids: Iterable[uuid.UUID], user_id: uuid.UUID
) -> int:
    return session.execute(
        select(func.count()).select_from(_unread(organization_ids, user_id).subquery())
    ).scalar_one()


def mark_read(
    session: Session,
    organization_ids: Iterable[uuid.UUID],
    user_id: uuid.UUID,
    *,
    at: datetime | None = None,
) -> int:
    """Mark every notification of the organisations read for this user; returns how many."""
    ids = session.execute(_unread(organization_ids, user_id)).scalars().all()
    when = at or utcnow()
    session.add_all(NotificationRead(notification_id=i, user_id=user_id, read_at=when) for i in ids)
    session.flush()
    return len(ids)
