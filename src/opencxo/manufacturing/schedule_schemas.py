"""Schemas of planning (order → batches) and scheduling (solve requests, progress, the Gantt's
operations). Hours and weighted tardiness (priority × hours late) are in hours, instants UTC."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from opencxo.manufacturing.schemas import in_years

# --- planning ------------------------------------------------------------------------------


class PlannedBatchRead(BaseModel):
    """A batch of an order after planning (the order's own product or an intermediate)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    batch_number: str
    order_id: uuid.UUID
    product_id: uuid.UUID
    product_code: str
    recipe_id: uuid.UUID
    planned_quantity: Decimal
    unit: str
    status: str
    version: int


# --- scheduling requests -----------------------------------------------------------------------


class ScheduleRequest(BaseModel):
    """Solve the plant's open batches in the background."""

    model_config = ConfigDict(extra="forbid")

    time_limit_s: float = Field(30.0, ge=1, le=600, description="seconds, 1 to 600")
    workers: int = Field(2, ge=1, le=8, description="CP-SAT workers (threads), 1 to 8")
    warm_start: bool = Field(True, description="start from the plant's current schedule")


class BreakdownRequest(BaseModel):
    """A unit broke down now and is unavailable until ``until``: the plant is re-scheduled
    (warm start, started operations kept)."""

    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime = Field(description="UTC instant the unit is back")

    _year = field_validator("until")(in_years)
    reason: str = Field("breakdown", min_length=1, max_length=200)
    time_limit_s: float = Field(30.0, ge=1, le=600)
    workers: int = Field(2, ge=1, le=8)

    @field_validator("reason")
    @classmethod
    def _stripped(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("say what happened, e.g. 'agitator seal failure'")
        return value


# --- scheduling results ------------------------------------------------------------------------


class ImprovementRead(BaseModel):
    """A better solution found during the solve (objective in hours or priority × hours)."""

    wall_time_s: float
    phase: str
    objective: float
    bound: float


class LateOrder(BaseModel):
    order_id: uuid.UUID
    order_number: str
    sponsor_name: str
    due_date: date
    finish: datetime
    days_late: float


class ScheduleListItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    plant_id: uuid.UUID
    status: str
    solver_status: str | None
    is_current: bool
    stop_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    time_limit_s: float
    workers: int
    warm_start_from_id: uuid.UUID | None
    objective_name: str | None
    objective: float | None
    bound: float | None
    gap: float | None
    makespan_hours: float | None
    weighted_tardiness: float | None
    wall_time_s: float | None
    message: str | None
    version: int


class ScheduleRead(ScheduleListItem):
    """A solve: its request, progress (elapsed, improvements) and result."""

    plant_name: str
    horizon_start: datetime
    time_unit_minutes: int
    requested_by_user_id: uuid.UUID | None
    elapsed_s: float
    reasons: list[str]
    improvements: list[ImprovementRead]
    operation_count: int
    late_orders: list[LateOrder]

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


class ScheduledOperationRead(BaseModel):
    """One slot of the Gantt: a batch's step on a unit."""

    id: uuid.UUID
    schedule_id: uuid.UUID
    batch_id: uuid.UUID
    batch_number: str
    product_id: uuid.UUID
    product_code: str
    product_name: str
    order_id: uuid.UUID
    order_number: str
    sponsor_id: uuid.UUID
    sponsor_name: str
    unit_id: uuid.UUID
    unit_code: str
    step_sequence: int
    operation: str
    starts_at: datetime
    ends_at: datetime
    changeover_hours: Decimal
    late: bool


class OrderScheduleRead(BaseModel):
    """The slots of one order's batches in the plant's current schedule (what its sponsor
    sees)."""

    order_id: uuid.UUID
    order_number: str
    schedule_id: uuid.UUID | None
    solved_at: datetime | None
    operations: list[ScheduledOperationRead]


def improvement_dicts(items: list[dict[str, Any]]) -> list[ImprovementRead]:
    return [ImprovementRead.model_validate(i) for i in items]
