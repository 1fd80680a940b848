"""Use cases of the accounts area, shared by its API, web pages and CLI."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from opencxo.core import audit
from opencxo.core.auth import service as auth
from opencxo.core.auth.models import Membership
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.pagination import Page, PageParams
from opencxo.core.schemas import AuditEventRead, MemberAdd, MembershipRead, MeRead, RoleChange


def me(principal: Principal) -> MeRead:
    return MeRead(
        user_id=principal.user_id,
        email=principal.email,
        full_name=principal.full_name,
        is_operator=principal.is_operator,
        memberships={str(org): role.value for org, role in principal.roles.items()},
    )


def _read(member: Membership) -> MembershipRead:
    return MembershipRead(
        id=member.id,
        organization_id=member.organization_id,
        user_id=member.user_id,
        email=member.user.email,
        full_name=member.user.full_name,
        role=member.role,
        version=member.version,
    )


def members(
    session: Session, principal: Principal, organization_id: uuid.UUID
) -> list[MembershipRead]:
    return [_read(m) for m in auth.list_members(session, principal, organization_id)]


def members_and_inactive(
    session: Session, principal: Principal, organization_id: uuid.UUID
) -> tuple[list[MembershipRead], frozenset[uuid.UUID]]:
    """The organisation's members, and which of them are deactivated users."""
    rows = auth.list_members(session, principal, organization_id)
    return [_read(m) for m in rows], frozenset(m.user_id for m in rows if not m.user.is_active)


def add_member(
    session: Session, principal: Principal, organization_id: uuid.UUID, body: MemberAdd
) -> MembershipRead:
    member = auth.add_member(
        session,
        principal,
        organization_id,
        email=body.email,
        full_name=body.full_name,
        role=body.role,
        password=body.password,
    )
    session.refresh(member)
    return _read(member)


def change_role(
    session: Session, principal: Principal, membership_id: uuid.UUID, body: RoleChange
) -> MembershipRead:
    return _read(
        auth.change_role(
            session, principal, membership_id, role=body.role, expected_version=body.version
        )
    )


def audit_log(
    session: Session,
    principal: Principal,
    *,
    params: PageParams,
    entity_type: str | None = None,
    action: str | None = None,
    unpaged: bool = False,
) -> Page[AuditEventRead]:
    """The audit trail of the organisations where the principal holds audit:read."""
    principal.require(Permission.AUDIT_READ)
    # An operator reads the whole platform's trail; others read their organisations'.
    organizations = (
        None if principal.is_operator else principal.organizations_with(Permission.AUDIT_READ)
    )
    rows, total = audit.events_for_organizations(
        session,
        organizations,
        offset=0 if unpaged else params.offset,
        limit=None if unpaged else params.page_size,
        entity_type=entity_type,
        action=action,
    )
    return Page.of([AuditEventRead.model_validate(r) for r in rows], total=total, params=params)
