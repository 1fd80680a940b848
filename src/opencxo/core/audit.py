"""Append-only, hash-chained audit trail (21 CFR Part 11 style).

Each event stores the SHA-256 of its predecessor and of its own canonical content; a one-row
``audit_chain_head`` records the last sequence number and hash, so a row changed, inserted or
deleted behind the application's back — the last one included — breaks verification.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
    Uuid,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from opencxo.core.auth.principal import Principal
from opencxo.core.db import Base
from opencxo.core.types import utcnow

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sequence: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), unique=True)
    occurred_at: Mapped[datetime]
    # Explicit types: a ForeignKey alone takes its type from the target table, which is
    # unknown when only this module is imported (and the value would come back as text).
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str] = mapped_column(String(254))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), index=True)
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    previous_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The single row naming the newest event; updating it serialises concurrent appends."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    last_hash: Mapped[str] = mapped_column(String(64))


def jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The audit-ready picture of a record: the named attributes, JSON-safe."""
    return {name: jsonable(getattr(obj, name)) for name in fields}


def _event_digest(previous_hash: str, sequence: int, content: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"previous_hash": previous_hash, "sequence": sequence, **content},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _content(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "occurred_at": event.occurred_at.isoformat(),
        "actor_user_id": str(event.actor_user_id) if event.actor_user_id else None,
        "actor_label": event.actor_label,
        "organization_id": str(event.organization_id) if event.organization_id else None,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
    }


def record(
    session: Session,
    *,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | str,
    actor: Principal | None,
    actor_label: str | None = None,
    organization_id: uuid.UUID | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction."""
    head = session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(last_sequence=AuditChainHead.last_sequence + 1)
        .returning(AuditChainHead.last_sequence, AuditChainHead.last_hash)
    ).one_or_none()
    if head is None:
        raise RuntimeError("audit chain head missing: run `opencxo db upgrade`")
    sequence, previous_hash = head
    event = AuditEvent(
        id=uuid.uuid4(),
        sequence=sequence,
        occurred_at=utcnow(),
        actor_user_id=actor.user_id if actor else None,
        actor_label=actor_label or (actor.email if actor else "system"),
        organization_id=organization_id,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=jsonable(dict(before)) if before is not None else None,
        after=jsonable(dict(after)) if after is not None else None,
        reason=reason,
        previous_hash=previous_hash,
    )
    event.hash = _event_digest(previous_hash, sequence, _content(event))
    session.add(event)
    session.execute(
        update(AuditChainHead).where(AuditChainHead.id == 1).values(last_hash=event.hash)
    )
    session.flush()
    return event


def change_status(
    session: Session,
    item: Any,
    to: str,
    *,
    entity_type: str,
    actor: Principal | None,
    organization_id: uuid.UUID,
    reason: str | None = None,
) -> None:
    """Move a versioned record to a new status (the version bumps on flush) and audit the step;
    the action is the new status."""
    before = item.status
    item.status = to
    item.updated_at = utcnow()
    session.flush()
    record(
        session,
        action=to,
        entity_type=entity_type,
        entity_id=item.id,
        actor=actor,
        organization_id=organization_id,
        before={"status": before},
        after={"status": to},
        reason=reason,
    )


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    events_checked: int
    first_bad_sequence: int | None = None
    first_bad_event_id: str | None = None
    problem: str | None = None


def verify_chain(session: Session) -> VerificationResult:
    """Walk the chain in order and report the first event that does not hold."""
    head = session.get(AuditChainHead, 1)
    if head is None:
        return VerificationResult(False, 0, problem="audit chain head is missing")
    previous_hash = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    events: Sequence[AuditEvent] = (
        session.execute(select(AuditEvent).order_by(AuditEvent.sequence)).scalars().all()
    )
    for event in events:
        checked += 1

        def bad(
            problem: str, event: AuditEvent = event, checked: int = checked
        ) -> VerificationResult:
            return VerificationResult(False, checked, event.sequence, str(event.id), problem)

        if event.sequence != expected_sequence:
            return bad(f"sequence {event.sequence} where {expected_sequence} was expected")
        if event.previous_hash != previous_hash:
            return bad("previous_hash does not match the preceding event (removed or inserted)")
        if _event_digest(previous_hash, event.sequence, _content(event)) != event.hash:
            return bad("content does not match its hash (changed)")
        previous_hash = event.hash
        expected_sequence += 1
    if head.last_sequence != expected_sequence - 1 or head.last_hash != previous_hash:
        return VerificationResult(
            False,
            checked,
            head.last_sequence,
            None,
            f"the chain ends at event {expected_sequence - 1} but the head records "
            f"event {head.last_sequence} (events removed from the end)",
        )
    return VerificationResult(True, checked)


@dataclass(frozen=True)
class ChainSummary:
    events: int  # as the chain's head counts them
    newest_at: datetime | None


def chain_summary(session: Session) -> ChainSummary:
    """How many events the trail holds and when the newest happened, read from the chain's head
    and that one event (two lookups, not a walk of the chain: ``verify_chain`` is the check)."""
    last = session.execute(
        select(AuditChainHead.last_sequence).where(AuditChainHead.id == 1)
    ).scalar_one_or_none()
    if not last:
        return ChainSummary(0, None)
    newest = session.execute(
        select(AuditEvent.occurred_at).where(AuditEvent.sequence == last)
    ).scalar_one_or_none()
    return ChainSummary(int(last), newest)


def events_for_entity(session: Session, entity_type: str, entity_id: str) -> Sequence[AuditEvent]:
    return (
        session.execute(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.sequence.desc())
        )
        .scalars()
        .all()
    )


def events_of_organization(
    session: Session, organization_id: uuid.UUID, entity_types: Iterable[str], *, limit: int = 200
) -> Sequence[AuditEvent]:
    """Changes to an organisation's own records of the given kinds, newest first."""
    return (
        session.execute(
            select(AuditEvent)
            .where(
                AuditEvent.organization_id == organization_id,
                AuditEvent.entity_type.in_(list(entity_types)),
            )
            .order_by(AuditEvent.sequence.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )


def events_for_organizations(
    session: Session,
    organization_ids: Iterable[uuid.UUID] | None,
    *,
    offset: int,
    limit: int | None,
    entity_type: str | None = None,
    action: str | None = None,
) -> tuple[Sequence[AuditEvent], int]:
    """Events of the given organisations (None: all), newest first, with the total count."""
    query = select(AuditEvent)
    if organization_ids is not None:
        query = query.where(AuditEvent.organization_id.in_(list(organization_ids)))
    if entity_type:
        query = query.where(AuditEvent.entity_type == entity_type)
    if action:
        query = query.where(AuditEvent.action == action)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        session.execute(query.order_by(AuditEvent.sequence.desc()).offset(offset).limit(limit))
        .scalars()
        .all()
    )
    return rows, total
