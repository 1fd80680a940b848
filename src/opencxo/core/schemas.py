"""Response bodies owned by the shared kernel: identity, tokens, the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sequence: int
    occurred_at: datetime
    actor_label: str
    organization_id: uuid.UUID | None
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, object] | None
    after: dict[str, object] | None
    reason: str | None
    previous_hash: str
    hash: str


class MembershipRead(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    full_name: str
    role: str
    version: int


NOT_AN_EMAIL = "not an e-mail address (name@example.com)"


def email_address(value: str) -> str:
    """A login e-mail as email-validator reads it (syntax only: no DNS lookup at run time; the
    special-use ``.test`` domain allowed, which tests and demos log in with)."""
    try:
        checked = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        raise ValueError(NOT_AN_EMAIL) from None
    return str(checked.normalized)


class MemberAdd(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    full_name: str = Field("", max_length=200)
    role: str = Field(description="admin, manager, member, qa or viewer")
    password: str | None = Field(None, description="initial password when the user is new")

    @field_validator("email")
    @classmethod
    def _an_email_address(cls, value: str) -> str:
        return email_address(value)


class RoleChange(BaseModel):
    role: str
    version: int


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    token_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="shown once; store it now")


class MeRead(BaseModel):
    user_id: uuid.UUID
    email: str
    full_name: str
    is_operator: bool
    memberships: dict[str, str] = Field(description="organisation id → role")
