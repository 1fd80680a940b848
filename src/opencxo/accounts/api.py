"""JSON API: who am I, API tokens, organisation members, the audit log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from opencxo.accounts import service
from opencxo.core.auth import service as auth
from opencxo.core.http import ApiPrincipal, DbSession
from opencxo.core.pagination import Page, PageParams
from opencxo.core.schemas import (
    AuditEventRead,
    MemberAdd,
    MembershipRead,
    MeRead,
    RoleChange,
    TokenCreate,
    TokenCreated,
    TokenRead,
)

router = APIRouter(tags=["accounts"])


@router.get("/me", response_model=MeRead)
def me(principal: ApiPrincipal) -> MeRead:
    return service.me(principal)


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(session: DbSession, principal: ApiPrincipal) -> list[TokenRead]:
    return [TokenRead.model_validate(t) for t in auth.list_tokens(session, principal)]


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(
    body: TokenCreate, session: DbSession, principal: ApiPrincipal, response: Response
) -> TokenCreated:
    token, plain = auth.create_token(session, principal, name=body.name)
    # The plain token is shown once: not cached, and not kept by the Idempotency-Key store.
    response.headers["Cache-Control"] = "no-store"
    return TokenCreated(**TokenRead.model_validate(token).model_dump(), token=plain)


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> TokenRead:
    return TokenRead.model_validate(auth.revoke_token(session, principal, token_id))


@router.get("/organizations/{organization_id}/members", response_model=list[MembershipRead])
def list_members(
    organization_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[MembershipRead]:
    return service.members(session, principal, organization_id)


@router.post(
    "/organizations/{organization_id}/members",
    response_model=MembershipRead,
    status_code=status.HTTP_201_CREATED,
)
def add_member(
    organization_id: uuid.UUID, body: MemberAdd, session: DbSession, principal: ApiPrincipal
) -> MembershipRead:
    return service.add_member(session, principal, organization_id, body)


@router.patch("/memberships/{membership_id}", response_model=MembershipRead)
def change_role(
    membership_id: uuid.UUID, body: RoleChange, session: DbSession, principal: ApiPrincipal
) -> MembershipRead:
    return service.change_role(session, principal, membership_id, body)


@router.delete("/memberships/{membership_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(membership_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> None:
    auth.remove_member(session, principal, membership_id)


@router.get("/audit-events", response_model=Page[AuditEventRead])
def audit_events(
    session: DbSession,
    principal: ApiPrincipal,
    params: Annotated[PageParams, Query()],
    entity_type: str | None = None,
    action: str | None = None,
) -> Page[AuditEventRead]:
    return service.audit_log(
        session, principal, params=params, entity_type=entity_type, action=action
    )
