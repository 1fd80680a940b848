"""Electronic signatures (21 CFR Part 11 style): the signer re-enters the password and states a
meaning; the signature keeps who, when, what it meant and a hash of exactly what was signed."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Uuid, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from opencxo.core import audit
from opencxo.core.auth.models import User
from opencxo.core.auth.passwords import verify_password
from opencxo.core.auth.principal import Principal
from opencxo.core.db import Base, IdMixin
from opencxo.core.errors import Invalid, NotAuthenticated
from opencxo.core.types import utcnow


class SignatureMeaning(StrEnum):
    APPROVED = "approved"
    REVIEWED = "reviewed"
    EXECUTED = "executed"
    AWARDED = "awarded"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RELEASED = "released"


class Signature(IdMixin, Base):
    __tablename__ = "signatures"

    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid(), index=True)
    signer_user_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("users.id"))
    signer_name: Mapped[str] = mapped_column(String(200))
    signer_email: Mapped[str] = mapped_column(String(254))
    meaning: Mapped[str] = mapped_column(String(20))
    signed_at: Mapped[datetime]
    record_sha256: Mapped[str] = mapped_column(String(64))


def record_digest(record: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of what is being signed."""
    canonical = json.dumps(audit.jsonable(dict(record)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sign(
    session: Session,
    principal: Principal,
    *,
    password: str,
    meaning: SignatureMeaning,
    entity_type: str,
    entity_id: uuid.UUID,
    organization_id: uuid.UUID,
    record: Mapping[str, Any],
) -> Signature:
    """Sign a record after re-checking the signer's password; written to the audit trail."""
    user = session.get(User, principal.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("your account cannot sign")
    if not password or not verify_password(user.password_hash, password):
        raise Invalid(
            "the password is wrong; a signature needs your own password",
            field_errors={"password": "enter your password to sign"},
        )
    signature = Signature(
        entity_type=entity_type,
        entity_id=str(entity_id),
        organization_id=organization_id,
        signer_user_id=user.id,
        signer_name=user.full_name,
        signer_email=user.email,
        meaning=meaning.value,
        signed_at=utcnow(),
        record_sha256=record_digest(record),
    )
    session.add(signature)
    session.flush()
    audit.record(
        session,
        action="sign",
        entity_type=entity_type,
        entity_id=entity_id,
        actor=principal,
        organization_id=organization_id,
        after={
            "meaning": signature.meaning,
            "signer": user.email,
            "record_sha256": signature.record_sha256,
        },
    )
    return signature


def signatures_of(session: Session, entity_type: str, entity_id: uuid.UUID) -> Sequence[Signature]:
    return (
        session.execute(
            select(Signature)
            .where(Signature.entity_type == entity_type, Signature.entity_id == str(entity_id))
            .order_by(Signature.signed_at)
        )
        .scalars()
        .all()
    )
