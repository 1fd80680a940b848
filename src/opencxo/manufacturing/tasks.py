"""Background jobs of manufacturing: a plant's schedule solve.

The boundary (an API route, a web form) calls :func:`start_schedule` or
:func:`start_breakdown_reschedule`: the service queues the solve in the request's transaction
and the job is sent once that transaction commits (never for a rolled-back request).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from opencxo.core import jobs
from opencxo.core.auth.principal import Principal
from opencxo.manufacturing import scheduling
from opencxo.manufacturing.schedule_schemas import BreakdownRequest, ScheduleRead, ScheduleRequest


@jobs.job
def solve_schedule(schedule_id: str) -> None:
    """Solve a queued schedule (see :func:`opencxo.manufacturing.scheduling.run_schedule`)."""
    scheduling.run_schedule(uuid.UUID(schedule_id), jobs.job_sessions())


def start_schedule(
    session: Session, principal: Principal, plant_id: uuid.UUID, body: ScheduleRequest
) -> ScheduleRead:
    schedule = scheduling.request_schedule(session, principal, plant_id, body)
    jobs.enqueue_after_commit(session, solve_schedule, str(schedule.id))
    return schedule


def start_breakdown_reschedule(
    session: Session, principal: Principal, unit_id: uuid.UUID, body: BreakdownRequest
) -> ScheduleRead:
    schedule = scheduling.record_breakdown(session, principal, unit_id, body)
    jobs.enqueue_after_commit(session, solve_schedule, str(schedule.id))
    return schedule
