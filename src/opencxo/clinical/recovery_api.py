"""JSON API of recovery plans and CRO site offers — thin: parse, call the service, return."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from opencxo.clinical import recovery
from opencxo.clinical.recovery_schemas import (
    RecoveryDecision,
    RecoveryPlanRead,
    RecoveryRequest,
    SiteOfferCreate,
    SiteOfferRead,
    SiteOfferUpdate,
)
from opencxo.core.http import ApiPrincipal, DbSession
from opencxo.core.pagination import Page, PageParams

router = APIRouter(tags=["clinical"])


@router.get("/site-offers", response_model=Page[SiteOfferRead])
def list_site_offers(
    session: DbSession,
    principal: ApiPrincipal,
    params: Annotated[PageParams, Query()],
    country: Annotated[str | None, Query(max_length=2, description="ISO 3166-1 alpha-2")] = None,
    provider_id: uuid.UUID | None = None,
    active: bool | None = None,
    currency: Annotated[str | None, Query(max_length=3)] = None,
    therapeutic_area: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[SiteOfferRead]:
    """Sites CROs can open for a study: sponsors read every active offer, a provider its own
    (active or not). Sort by country, name, provider, rate, lag, startup, monthly, per_patient,
    capacity or updated_at (``-`` for descending)."""
    return recovery.list_site_offers(
        session,
        principal,
        params=params,
        country=country,
        provider_id=provider_id,
        active=active,
        currency=currency,
        therapeutic_area=therapeutic_area,
    )


@router.post("/site-offers", response_model=SiteOfferRead, status_code=status.HTTP_201_CREATED)
def create_site_offer(
    body: SiteOfferCreate, session: DbSession, principal: ApiPrincipal
) -> SiteOfferRead:
    """Offer sites in one country (your provider organisation; ``studies:write``)."""
    return recovery.create_site_offer(session, principal, body)


@router.get("/site-offers/{offer_id}", response_model=SiteOfferRead)
def get_site_offer(
    offer_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> SiteOfferRead:
    return recovery.get_site_offer(session, principal, offer_id)


@router.put("/site-offers/{offer_id}", response_model=SiteOfferRead)
def update_site_offer(
    offer_id: uuid.UUID, body: SiteOfferUpdate, session: DbSession, principal: ApiPrincipal
) -> SiteOfferRead:
    """Change an offer of yours; ``active: false`` withdraws it from new plans."""
    return recovery.update_site_offer(session, principal, offer_id, body)


@router.post(
    "/studies/{study_id}/recovery-plans",
    response_model=RecoveryPlanRead,
    status_code=status.HTTP_201_CREATED,
)
def propose_recovery_plan(
    study_id: uuid.UUID, body: RecoveryRequest, session: DbSession, principal: ApiPrincipal
) -> RecoveryPlanRead:
    """The cheapest sites to add (from the active offers in ``currency``) and to close so that
    P(target by the deadline) reaches ``confidence``, verified by simulation; stored as
    proposed. Uses your organisation's disruptions (they are private to it)."""
    return recovery.propose_recovery_plan(session, principal, study_id, body)


@router.get("/studies/{study_id}/recovery-plans", response_model=list[RecoveryPlanRead])
def list_recovery_plans(
    study_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[RecoveryPlanRead]:
    """The study's plans, newest first (the sponsor sees all, the CRO those it proposed)."""
    return recovery.list_recovery_plans(session, principal, study_id)


@router.get("/recovery-plans/{plan_id}", response_model=RecoveryPlanRead)
def get_recovery_plan(
    plan_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> RecoveryPlanRead:
    return recovery.get_recovery_plan(session, principal, plan_id)


@router.post("/recovery-plans/{plan_id}/accept", response_model=RecoveryPlanRead)
def accept_recovery_plan(
    plan_id: uuid.UUID, body: RecoveryDecision, session: DbSession, principal: ApiPrincipal
) -> RecoveryPlanRead:
    """The sponsor accepts: the new sites are created (planned), the closures closed, the
    study's other proposed plans superseded — all or nothing."""
    return recovery.accept_recovery_plan(session, principal, plan_id, body)


@router.post("/recovery-plans/{plan_id}/reject", response_model=RecoveryPlanRead)
def reject_recovery_plan(
    plan_id: uuid.UUID, body: RecoveryDecision, session: DbSession, principal: ApiPrincipal
) -> RecoveryPlanRead:
    return recovery.reject_recovery_plan(session, principal, plan_id, body)
