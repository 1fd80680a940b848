"""Every capability's models, imported so Alembic and the mappers see them all."""

from opencxo.core.audit import AuditChainHead, AuditEvent
from opencxo.core.auth.models import ApiToken, Membership, User
from opencxo.core.db import Base
from opencxo.core.idempotency import IdempotencyRecord
from opencxo.parties.models import (
    Capability,
    Certification,
    Inspection,
    Organization,
    Qualification,
    Site,
)

__all__ = [
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "Capability",
    "Certification",
    "IdempotencyRecord",
    "Inspection",
    "Membership",
    "Organization",
    "Qualification",
    "Site",
    "User",
]
