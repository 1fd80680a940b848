"""In-app notifications to an organisation's members (invited, awarded, signature needed …)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import String, Text, Uuid, func, select, update
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
    read_at: Mapped[datetime | None]


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
    session: Session, organization_ids: Iterable[uuid.UUID], *, limit: int = 50
) -> Sequence[Notification]:
    return (
        session.execute(
            select(Notification)
            .where(Notification.organization_id.in_(list(organization_ids)))
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )


def unread_count(session: Session, organization_ids: Iterable[uuid.UUID]) -> int:
    return session.execute(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.organization_id.in_(list(organization_ids)),
            Notification.read_at.is_(None),
        )
    ).scalar_one()


def mark_read(session: Session, organization_ids: Iterable[uuid.UUID]) -> None:
    session.execute(
        update(Notification)
        .where(
            Notification.organization_id.in_(list(organization_ids)),
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
