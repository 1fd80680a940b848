"""JSON API of manufacturing planning and schedules: plan an order's batches, solve requests
(background jobs), progress, stop, the Gantt's operations, breakdowns — thin: parse, call the
service, return."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from opencxo.core.http import ApiPrincipal, DbSession
from opencxo.core.pagination import Page, PageParams
from opencxo.manufacturing import planning, scheduling, tasks
from opencxo.manufacturing.models import ScheduleStatus
from opencxo.manufacturing.schedule_schemas import (
    BreakdownRequest,
    OrderScheduleRead,
    PlannedBatchRead,
    ScheduledOperationRead,
    ScheduleListItem,
    ScheduleRead,
    ScheduleRequest,
)

router = APIRouter(tags=["manufacturing"])


@router.post("/mfg/orders/{order_id}/plan", response_model=list[PlannedBatchRead])
def plan_order(
    order_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    version: Annotated[int, Query(ge=1, description="the order's version you read (stale: 409)")],
) -> list[PlannedBatchRead]:
    """Derive the order's batches (quantity ÷ output per batch, rounded up; intermediates from
    the bill of materials). Not-started batches are replaced; started ones are kept. Planning
    changes the order's version."""
    return planning.plan_order(session, principal, order_id, version=version)


@router.post(
    "/mfg/plants/{plant_id}/schedules",
    response_model=ScheduleRead,
    status_code=status.HTTP_202_ACCEPTED,
)
def request_schedule(
    plant_id: uuid.UUID, body: ScheduleRequest, session: DbSession, principal: ApiPrincipal
) -> ScheduleRead:
    """Queue a CP-SAT solve of the plant's open batches; it runs as a background job (poll
    ``GET /mfg/schedules/{id}`` for its progress)."""
    return tasks.start_schedule(session, principal, plant_id, body)


@router.get("/mfg/plants/{plant_id}/schedules", response_model=Page[ScheduleListItem])
def list_schedules(
    plant_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    params: Annotated[PageParams, Query()],
    status: ScheduleStatus | None = None,
) -> Page[ScheduleListItem]:
    """The plant's solves, newest first."""
    return scheduling.list_schedules(
        session, principal, plant_id, params=params, status=status.value if status else None
    )


@router.get("/mfg/schedules/{schedule_id}", response_model=ScheduleRead)
def get_schedule(
    schedule_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> ScheduleRead:
    """Status, progress (elapsed, improving objective) and result of a solve."""
    return scheduling.get_schedule(session, principal, schedule_id)


@router.post("/mfg/schedules/{schedule_id}/stop", response_model=ScheduleRead)
def stop_schedule(
    schedule_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> ScheduleRead:
    """Stop a queued or running solve (the best schedule so far is kept); 409 when finished."""
    return scheduling.stop_schedule(session, principal, schedule_id)


@router.get("/mfg/schedules/{schedule_id}/operations", response_model=list[ScheduledOperationRead])
def schedule_operations(
    schedule_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[ScheduledOperationRead]:
    """Every scheduled operation: batch, product, order, sponsor, unit, step, times (UTC),
    the changeover before it and whether its order is late."""
    return scheduling.schedule_operations(session, principal, schedule_id)


@router.post(
    "/mfg/units/{unit_id}/breakdown",
    response_model=ScheduleRead,
    status_code=status.HTTP_202_ACCEPTED,
)
def record_breakdown(
    unit_id: uuid.UUID, body: BreakdownRequest, session: DbSession, principal: ApiPrincipal
) -> ScheduleRead:
    """The unit is down from now until ``until``: a maintenance window and a re-schedule of its
    plant (warm start; started steps stay where they are)."""
    return tasks.start_breakdown_reschedule(session, principal, unit_id, body)


@router.get("/mfg/orders/{order_id}/schedule", response_model=OrderScheduleRead)
def order_schedule(
    order_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> OrderScheduleRead:
    """The order's slots in its plant's current schedule (the sponsor's view)."""
    return scheduling.order_schedule(session, principal, order_id)
