"""Scheduling a plant: its open orders' batches → the CP-SAT engine → stored operations.

The problem (:func:`build_plant_problem`)
-----------------------------------------
* Jobs: the planned and in-progress batches of the plant's open, scheduled and in-progress
  orders (batch-number order). Operations: the recipe steps not yet ended; modes: every
  active unit of the step's equipment class at the plant, for the step's duration.
* Time: integer units of ``Schedule.time_unit_minutes`` (default 60) from ``horizon_start``
  (the solve's start rounded up to the hour); durations and changeovers are rounded up.
* A step that has started and not ended is *frozen* on its recorded unit, from its recorded
  start (time 0 when that is before the horizon) for what is left of its duration.
* Family = product; changeovers per unit from the CleaningTime of its class (diagonal
  ``same_product_hours``, elsewhere ``product_change_hours``, ChangeoverOverride rows replace
  pairs). Downtimes: maintenance windows ending after the horizon start (a window is clipped
  to after an operation already running on the unit: a breakdown stops the unit once the
  running step is over).
* Release: start of the order's release date (UTC); due: end of the order's due date, for
  batches of the order's own product only; weight: the order's priority.
* Precedences: a consumer batch needs its BOM quantity of a component from the component's
  batches of the same order, allocated first-in first-out (both in batch-number order); each
  contributing component batch's last operation precedes the consumer's first operation.

The job (:func:`run_schedule`) solves with its own short sessions: it claims the queued
schedule, writes progress (≤ 2 writes/s), polls ``stop_requested`` (≤ every 0.5 s), checks the
answer with :func:`~opencxo.manufacturing.engine.check_schedule` and stores it. Objectives and
improvements are stored in hours (makespan) or priority × hours (weighted tardiness).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from opencxo.core import audit
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound
from opencxo.core.pagination import Page, PageParams
from opencxo.core.types import utcnow
from opencxo.manufacturing import access
from opencxo.manufacturing.engine import (
    Changeovers,
    Downtime,
    Improvement,
    Job,
    Mode,
    Operation,
    Precedence,
    Problem,
    ScheduledOperation,
    SolveResult,
    check_schedule,
    solve,
)
from opencxo.manufacturing.models import (
    Batch,
    BatchStatus,
    ChangeoverOverride,
    CleaningTime,
    EquipmentUnit,
    GmpGrade,
    MaintenanceWindow,
    OrderStatus,
    Product,
    ProductionOrder,
    Recipe,
    Schedule,
    ScheduleStatus,
)
from opencxo.manufacturing.models import ScheduledOperation as StoredOperation
from opencxo.manufacturing.schedule_schemas import (
    BreakdownRequest,
    ImprovementRead,
    LateOrder,
    OrderScheduleRead,
    ScheduledOperationRead,
    ScheduleListItem,
    ScheduleRead,
    ScheduleRequest,
)
from opencxo.parties.models import Organization, Site

log = logging.getLogger(__name__)

OPEN_ORDERS = (OrderStatus.OPEN.value, OrderStatus.SCHEDULED.value, OrderStatus.IN_PROGRESS.value)
SCHEDULABLE = (BatchStatus.PLANNED.value, BatchStatus.IN_PROGRESS.value)
FINISHED = (ScheduleStatus.DONE.value, ScheduleStatus.FAILED.value)
SEED = 0
PROGRESS_WRITE_INTERVAL_S = 0.5
STOP_POLL_INTERVAL_S = 0.5
SORTS = ("created_at", "status", "objective", "wall_time_s", "makespan_hours")
# A running solve this long past its time limit lost its worker (stopped or crashed mid-solve).
ABANDONED_AFTER_S = 300.0


# --------------------------------------------------------------------------- time


#: The longest breakdown one report re-schedules around (a year).
MAX_BREAKDOWN = timedelta(days=366)


def horizon_start_at(now: datetime) -> datetime:
    """``now`` rounded up to the hour (UTC)."""
    now = now.astimezone(UTC)
    floor = now.replace(minute=0, second=0, microsecond=0)
    return floor if floor == now else floor + timedelta(hours=1)


def _units_ceil(seconds: float | Decimal, unit_minutes: int) -> int:
    return math.ceil(Decimal(str(seconds)) / (unit_minutes * 60))


def _units_floor(seconds: float | Decimal, unit_minutes: int) -> int:
    return math.floor(Decimal(str(seconds)) / (unit_minutes * 60))


def _hours_units(hours: Decimal, unit_minutes: int) -> int:
    return math.ceil(Decimal(hours) * 60 / unit_minutes)


def due_end(order: ProductionOrder) -> datetime:
    """The end of the order's due date (UTC midnight after it)."""
    return datetime.combine(order.due_date + timedelta(days=1), datetime.min.time(), UTC)


# --------------------------------------------------------------------------- the problem


@dataclass
class PlantProblem:
    """The engine's problem and what maps it back to rows."""

    problem: Problem
    horizon_start: datetime
    unit_minutes: int
    unit_ids: list[uuid.UUID]
    unit_codes: list[str]
    families: list[uuid.UUID]  # product id of each family index
    job_batches: list[uuid.UUID]  # batch id of each job
    job_numbers: list[str]
    job_steps: list[list[int]]  # recipe step sequence of each operation of each job
    # hours of changeover on a unit (by index) from family a to b; absent: no cleaning data
    change_hours: dict[int, list[list[Decimal]]] = field(default_factory=dict)
    actual_starts: dict[tuple[int, int], datetime] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    precedence_pairs: list[tuple[str, str]] = field(default_factory=list)  # component → consumer

    def ref_of(self, batch_id: uuid.UUID, step_sequence: int) -> tuple[int, int] | None:
        for j, bid in enumerate(self.job_batches):
            if bid == batch_id:
                steps = self.job_steps[j]
                return (j, steps.index(step_sequence)) if step_sequence in steps else None
        return None

    def at(self, t: int) -> datetime:
        return self.horizon_start + timedelta(minutes=t * self.unit_minutes)


def _fifo_pairs(
    consumers: Sequence[Batch], components: Sequence[Batch], quantity: Decimal
) -> list[tuple[Batch, Batch]]:
    """(component, consumer) pairs: each consumer takes ``quantity`` from the components in
    order, first in first out."""
    pairs: list[tuple[Batch, Batch]] = []
    left = [
        Decimal(c.actual_quantity if c.actual_quantity is not None else c.planned_quantity)
        for c in components
    ]
    i = 0
    for consumer in consumers:
        need = Decimal(quantity)
        while need > 0 and i < len(components):
            take = min(need, left[i])
            if take > 0:
                pairs.append((components[i], consumer))
            need -= take
            left[i] -= take
            if left[i] <= 0:
                i += 1
    return pairs


def build_plant_problem(
    session: Session,
    *,
    plant_id: uuid.UUID,
    provider_id: uuid.UUID,
    horizon_start: datetime,
    unit_minutes: int = 60,
) -> PlantProblem:
    """The plant's open batches as an engine problem (see the module's docstring)."""
    units = list(
        session.scalars(
            select(EquipmentUnit)
            .where(EquipmentUnit.plant_id == plant_id, EquipmentUnit.provider_id == provider_id)
            .order_by(EquipmentUnit.code)
        ).all()
    )
    unit_index = {u.id: i for i, u in enumerate(units)}
    active_by_class: dict[str, list[int]] = defaultdict(list)
    for i, unit in enumerate(units):
        # Production orders are GMP manufacture: development (non-GMP) units never run them.
        if unit.active and unit.gmp_grade == GmpGrade.GMP.value:
            active_by_class[unit.equipment_class].append(i)
    orders = {
        o.id: o
        for o in session.scalars(
            select(ProductionOrder).where(
                ProductionOrder.plant_id == plant_id,
                ProductionOrder.provider_id == provider_id,
                ProductionOrder.status.in_(OPEN_ORDERS),
            )
        ).all()
    }
    batches = list(
        session.scalars(
            select(Batch)
            .where(Batch.order_id.in_(list(orders)), Batch.status != BatchStatus.REJECTED.value)
            .options(selectinload(Batch.steps))
            .order_by(Batch.batch_number)
        ).all()
    )
    recipe_ids = {b.recipe_id for b in batches}
    recipes = {
        r.id: r
        for r in session.scalars(
            select(Recipe)
            .where(Recipe.id.in_(list(recipe_ids)))
            .options(selectinload(Recipe.steps), selectinload(Recipe.bom_lines))
        ).all()
    }
    products = {
        p.id: p
        for p in session.scalars(
            select(Product).where(Product.id.in_(list({b.product_id for b in batches})))
        ).all()
    }
    scheduled = [b for b in batches if b.status in SCHEDULABLE]
    families = sorted({b.product_id for b in scheduled}, key=lambda pid: products[pid].code)
    family_of = {pid: i for i, pid in enumerate(families)}
    horizon_start = horizon_start.astimezone(UTC)

    def offset_seconds(at: datetime) -> float:
        return (at.astimezone(UTC) - horizon_start).total_seconds()

    jobs: list[Job] = []
    job_batches: list[uuid.UUID] = []
    job_numbers: list[str] = []
    job_steps: list[list[int]] = []
    frozen: list[ScheduledOperation] = []
    actual_starts: dict[tuple[int, int], datetime] = {}
    reasons: list[str] = []
    started_batches: set[uuid.UUID] = set()
    for batch in scheduled:
        order = orders[batch.order_id]
        recipe = recipes[batch.recipe_id]
        recorded = {s.sequence: s for s in batch.steps}
        j = len(jobs)
        operations: list[Operation] = []
        sequences: list[int] = []
        started = False
        for step in recipe.steps:
            done = recorded.get(step.sequence)
            if done is not None and done.ended_at is not None:
                started = True
                continue
            name = f"step {step.sequence} {step.operation} ({step.equipment_class})"
            duration = _hours_units(step.duration_hours, unit_minutes)
            k = len(operations)
            if (
                done is not None
                and done.started_at is not None
                and done.unit_id is not None
                and done.unit_id in unit_index
            ):
                started = True
                u = unit_index[done.unit_id]
                begin = offset_seconds(done.started_at)
                if begin <= 0:
                    start = 0
                    left = begin + float(step.duration_hours) * 3600
                    length = max(1, _units_ceil(left, unit_minutes))
                else:
                    start = _units_floor(begin, unit_minutes)
                    length = duration
                operations.append(Operation((Mode(u, length),), name))
                frozen.append(ScheduledOperation(j, k, u, start, start + length))
                actual_starts[(j, k)] = done.started_at
            else:
                if done is not None and done.started_at is not None:
                    started = True
                modes = tuple(Mode(u, duration) for u in active_by_class[step.equipment_class])
                if not modes:
                    reasons.append(
                        f"batch {batch.batch_number} step {step.sequence} ({step.operation}) "
                        f"needs a unit of class '{step.equipment_class}', and the plant has no "
                        f"active GMP {step.equipment_class} unit: add one or re-activate one"
                    )
                operations.append(Operation(modes, name))
            sequences.append(step.sequence)
        if not operations:
            continue  # every step has ended
        if started:
            started_batches.add(batch.id)
        release = 0
        if not started and order.release_date is not None:
            opens = datetime.combine(order.release_date, datetime.min.time(), UTC)
            release = max(0, _units_ceil(offset_seconds(opens), unit_minutes))
        due = None
        if batch.product_id == order.product_id:
            due = max(0, _units_floor(offset_seconds(due_end(order)), unit_minutes))
        jobs.append(
            Job(
                tuple(operations),
                name=batch.batch_number,
                release=release,
                due=due,
                weight=order.priority,
                family=family_of[batch.product_id],
            )
        )
        job_batches.append(batch.id)
        job_numbers.append(batch.batch_number)
        job_steps.append(sequences)

    # changeovers
    cleaning = {
        c.equipment_class: c
        for c in session.scalars(
            select(CleaningTime).where(
                CleaningTime.plant_id == plant_id, CleaningTime.provider_id == provider_id
            )
        ).all()
    }
    overrides = session.scalars(
        select(ChangeoverOverride).where(
            ChangeoverOverride.plant_id == plant_id, ChangeoverOverride.provider_id == provider_id
        )
    ).all()
    change_hours: dict[int, list[list[Decimal]]] = {}
    changeovers: list[Changeovers] = []
    if families:
        for i, unit in enumerate(units):
            clean = cleaning.get(unit.equipment_class)
            if clean is None:
                continue
            hours = [
                [
                    Decimal(clean.same_product_hours if a == b else clean.product_change_hours)
                    for b in range(len(families))
                ]
                for a in range(len(families))
            ]
            for o in overrides:
                if (
                    o.equipment_class == unit.equipment_class
                    and o.from_product_id in family_of
                    and o.to_product_id in family_of
                ):
                    hours[family_of[o.from_product_id]][family_of[o.to_product_id]] = Decimal(
                        o.hours
                    )
            change_hours[i] = hours
            matrix = tuple(tuple(_hours_units(h, unit_minutes) for h in row) for row in hours)
            changeovers.append(Changeovers(i, matrix))

    # downtimes (clipped to after a frozen operation on the unit)
    windows = session.scalars(
        select(MaintenanceWindow)
        .where(
            MaintenanceWindow.unit_id.in_(list(unit_index)),
            MaintenanceWindow.ends_at > horizon_start,
        )
        .order_by(MaintenanceWindow.starts_at)
    ).all()
    downtimes: list[Downtime] = []
    for w in windows:
        u = unit_index[w.unit_id]
        start = max(0, _units_floor(offset_seconds(w.starts_at), unit_minutes))
        end = _units_ceil(offset_seconds(w.ends_at), unit_minutes)
        for f in sorted((f for f in frozen if f.unit == u), key=lambda f: f.start):
            if f.start < end and start < f.end:
                if f.start <= start:
                    start = f.end
                else:
                    end = f.start
        if end > start:
            downtimes.append(Downtime(u, start, end, w.reason))

    # precedences: FIFO allocation of component batches to consumer batches, per order
    job_of = {bid: j for j, bid in enumerate(job_batches)}
    precedences: list[Precedence] = []
    pairs_named: list[tuple[str, str]] = []
    by_order_product: dict[tuple[uuid.UUID, uuid.UUID], list[Batch]] = defaultdict(list)
    for b in batches:
        by_order_product[(b.order_id, b.product_id)].append(b)
    seen: set[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = set()
    for (order_id, _product_id), consumers in by_order_product.items():
        recipe = recipes[consumers[0].recipe_id]
        for line in recipe.bom_lines:
            component = line.component_product_id
            if component is None or (order_id, component) not in by_order_product:
                continue
            supply = by_order_product[(order_id, component)]
            for comp, cons in _fifo_pairs(consumers, supply, Decimal(line.quantity_per_batch)):
                key = (order_id, comp.id, cons.id)
                if key in seen:
                    continue
                seen.add(key)
                jc, jp = job_of.get(comp.id), job_of.get(cons.id)
                if jc is None or jp is None or cons.id in started_batches:
                    continue  # done, or already running: nothing left to order
                last = len(jobs[jc].operations) - 1
                precedences.append(Precedence((jc, last), (jp, 0)))
                pairs_named.append((comp.batch_number, cons.batch_number))

    problem = Problem(
        units=max(1, len(units)),
        jobs=tuple(jobs),
        precedences=tuple(precedences),
        changeovers=tuple(changeovers),
        downtimes=tuple(downtimes),
        frozen=tuple(frozen),
        name="plant",
        unit_names=tuple(u.code for u in units) if units else ("(no unit)",),
    )
    return PlantProblem(
        problem=problem,
        horizon_start=horizon_start,
        unit_minutes=unit_minutes,
        unit_ids=[u.id for u in units],
        unit_codes=[u.code for u in units],
        families=families,
        job_batches=job_batches,
        job_numbers=job_numbers,
        job_steps=job_steps,
        change_hours=change_hours,
        actual_starts=actual_starts,
        reasons=reasons,
        precedence_pairs=pairs_named,
    )


def warm_start_hint(
    session: Session, built: PlantProblem, schedule_id: uuid.UUID | None
) -> list[ScheduledOperation]:
    """The operations of a stored schedule, mapped onto ``built`` (those that still fit)."""
    if schedule_id is None:
        return []
    rows = session.scalars(
        select(StoredOperation).where(StoredOperation.schedule_id == schedule_id)
    ).all()
    unit_index = {uid: i for i, uid in enumerate(built.unit_ids)}
    frozen = {f.ref for f in built.problem.frozen}
    hint: list[ScheduledOperation] = []
    for row in rows:
        ref = built.ref_of(row.batch_id, row.step_sequence)
        u = unit_index.get(row.unit_id)
        if ref is None or u is None or ref in frozen:
            continue
        duration = built.problem.jobs[ref[0]].operations[ref[1]].duration_on(u)
        seconds = (row.starts_at.astimezone(UTC) - built.horizon_start).total_seconds()
        if duration is None or seconds < 0:
            continue
        start = _units_ceil(seconds, built.unit_minutes)
        hint.append(ScheduledOperation(ref[0], ref[1], u, start, start + duration))
    return hint


# --------------------------------------------------------------------------- reading


def _plant(session: Session, plant_id: uuid.UUID) -> Site:
    plant = session.get(Site, plant_id)
    if plant is None:
        raise NotFound("plant not found")
    return plant


@dataclass(frozen=True)
class PlantSummary:
    id: uuid.UUID
    name: str
    provider_id: uuid.UUID
    can_write: bool


def plant_summary(session: Session, principal: Principal, plant_id: uuid.UUID) -> PlantSummary:
    """The plant's name and whether the principal may solve it (404 for anyone but its
    provider's people)."""
    plant = _plant(session, plant_id)
    access.require_readable(principal, "plant", plant.organization_id)
    return PlantSummary(
        plant.id,
        plant.name,
        plant.organization_id,
        principal.can(Permission.MANUFACTURING_WRITE, plant.organization_id),
    )


def _schedule(session: Session, principal: Principal, schedule_id: uuid.UUID) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("schedule not found")
    access.require_readable(principal, "schedule", schedule.provider_id)
    return schedule


def _elapsed(schedule: Schedule) -> float:
    if schedule.started_at is None:
        return 0.0
    end = schedule.finished_at or utcnow()
    return round(max(0.0, (end - schedule.started_at).total_seconds()), 1)


def _operation_rows(
    session: Session, schedule_id: uuid.UUID, order_id: uuid.UUID | None = None
) -> list[ScheduledOperationRead]:
    query = _joined(session, schedule_id)
    if order_id is not None:
        query = query.where(Batch.order_id == order_id)
    rows = session.execute(query).all()
    recipe_steps = {
        (r.id, s.sequence): s.operation
        for r in session.scalars(
            select(Recipe)
            .where(Recipe.id.in_({b.recipe_id for _, b, *_ in rows}))
            .options(selectinload(Recipe.steps))
        ).all()
        for s in r.steps
    }
    # an order is late when its own product's last operation ends after its due date
    late = {o.order_id for o in _late(rows)}
    return [
        ScheduledOperationRead(
            id=op.id,
            schedule_id=op.schedule_id,
            batch_id=batch.id,
            batch_number=batch.batch_number,
            product_id=product.id,
            product_code=product.code,
            product_name=product.name,
            order_id=order.id,
            order_number=order.number,
            sponsor_id=sponsor.id,
            sponsor_name=sponsor.name,
            unit_id=unit.id,
            unit_code=unit.code,
            step_sequence=op.step_sequence,
            operation=recipe_steps.get((batch.recipe_id, op.step_sequence), ""),
            starts_at=op.starts_at,
            ends_at=op.ends_at,
            changeover_hours=op.changeover_hours,
            late=order.id in late,
        )
        for op, batch, product, order, sponsor, unit in rows
    ]


def _late(rows: Sequence[Any]) -> list[LateOrder]:
    """Late orders among joined (operation, batch, product, order, sponsor, unit) rows."""
    finish: dict[uuid.UUID, datetime] = {}
    orders: dict[uuid.UUID, tuple[ProductionOrder, str]] = {}
    for op, batch, _product, order, sponsor, _unit in rows:
        if batch.product_id == order.product_id:
            finish[order.id] = max(finish.get(order.id, op.ends_at), op.ends_at)
            orders[order.id] = (order, sponsor.name)
    out = []
    for order_id, end in finish.items():
        order, sponsor_name = orders[order_id]
        late_by = (end - due_end(order)).total_seconds()
        if late_by > 0:
            out.append(
                LateOrder(
                    order_id=order.id,
                    order_number=order.number,
                    sponsor_name=sponsor_name,
                    due_date=order.due_date,
                    finish=end,
                    days_late=round(late_by / 86400, 2),
                )
            )
    return sorted(out, key=lambda o: (-o.days_late, o.order_number))


def _joined(session: Session, schedule_id: uuid.UUID) -> Any:
    return (
        select(StoredOperation, Batch, Product, ProductionOrder, Organization, EquipmentUnit)
        .join(Batch, Batch.id == StoredOperation.batch_id)
        .join(Product, Product.id == Batch.product_id)
        .join(ProductionOrder, ProductionOrder.id == Batch.order_id)
        .join(Organization, Organization.id == Batch.sponsor_id)
        .join(EquipmentUnit, EquipmentUnit.id == StoredOperation.unit_id)
        .where(StoredOperation.schedule_id == schedule_id)
        .order_by(StoredOperation.starts_at, EquipmentUnit.code)
    )


def scheduled_finishes(
    session: Session, order_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When each order's own product is finished in its plant's current schedule (orders
    without a slot there are absent)."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(Batch.order_id, func.max(StoredOperation.ends_at))
        .join(Batch, Batch.id == StoredOperation.batch_id)
        .join(ProductionOrder, ProductionOrder.id == Batch.order_id)
        .join(Schedule, Schedule.id == StoredOperation.schedule_id)
        .where(
            Schedule.is_current.is_(True),
            Batch.order_id.in_(list(order_ids)),
            Batch.product_id == ProductionOrder.product_id,
        )
        .group_by(Batch.order_id)
    ).all()
    return {row[0]: row[1] for row in rows}


def late_orders(session: Session, schedule_id: uuid.UUID) -> list[LateOrder]:
    """Orders whose own product finishes after the end of their due date, latest first."""
    return _late(session.execute(_joined(session, schedule_id)).all())


def _read(session: Session, schedule: Schedule) -> ScheduleRead:
    plant = session.get(Site, schedule.plant_id)
    count = session.scalar(
        select(func.count())
        .select_from(StoredOperation)
        .where(StoredOperation.schedule_id == schedule.id)
    )
    return ScheduleRead(
        **ScheduleListItem.model_validate(schedule).model_dump(),
        plant_name=plant.name if plant else "",
        horizon_start=schedule.horizon_start,
        time_unit_minutes=schedule.time_unit_minutes,
        requested_by_user_id=schedule.requested_by_user_id,
        elapsed_s=_elapsed(schedule),
        reasons=list(schedule.reasons or []),
        improvements=[ImprovementRead.model_validate(i) for i in schedule.improvements or []],
        operation_count=count or 0,
        late_orders=late_orders(session, schedule.id) if count else [],
    )


def get_schedule(session: Session, principal: Principal, schedule_id: uuid.UUID) -> ScheduleRead:
    return _read(session, _schedule(session, principal, schedule_id))


def list_schedules(
    session: Session,
    principal: Principal,
    plant_id: uuid.UUID,
    *,
    params: PageParams,
    status: str | None = None,
) -> Page[ScheduleListItem]:
    """The plant's solves, newest first unless sorted otherwise."""
    plant = _plant(session, plant_id)
    access.require_readable(principal, "plant", plant.organization_id)
    column, descending = params.sort_key(SORTS, "-created_at")
    where = [Schedule.plant_id == plant_id, Schedule.provider_id == plant.organization_id]
    if status:
        where.append(Schedule.status == status)
    total = session.scalar(select(func.count()).select_from(Schedule).where(*where)) or 0
    order = getattr(Schedule, column)
    rows = session.scalars(
        select(Schedule)
        .where(*where)
        .order_by(order.desc() if descending else order.asc(), Schedule.created_at.desc())
        .offset(params.offset)
        .limit(params.page_size)
    ).all()
    return Page.of([ScheduleListItem.model_validate(r) for r in rows], total=total, params=params)


def current_schedule(
    session: Session, principal: Principal, plant_id: uuid.UUID
) -> ScheduleRead | None:
    plant = _plant(session, plant_id)
    access.require_readable(principal, "plant", plant.organization_id)
    schedule = session.scalars(
        select(Schedule).where(
            Schedule.plant_id == plant_id,
            Schedule.provider_id == plant.organization_id,
            Schedule.is_current.is_(True),
        )
    ).first()
    return _read(session, schedule) if schedule else None


def schedule_operations(
    session: Session, principal: Principal, schedule_id: uuid.UUID
) -> list[ScheduledOperationRead]:
    schedule = _schedule(session, principal, schedule_id)
    return _operation_rows(session, schedule.id)


def order_schedule(
    session: Session, principal: Principal, order_id: uuid.UUID
) -> OrderScheduleRead:
    """The order's slots in its plant's current schedule: what the sponsor may see."""
    order = session.get(ProductionOrder, order_id)
    if order is None:
        raise NotFound("order not found")
    access.require_readable(principal, "order", order.provider_id, order.sponsor_id)
    schedule = session.scalars(
        select(Schedule).where(
            Schedule.plant_id == order.plant_id,
            Schedule.provider_id == order.provider_id,
            Schedule.is_current.is_(True),
        )
    ).first()
    return OrderScheduleRead(
        order_id=order.id,
        order_number=order.number,
        schedule_id=schedule.id if schedule else None,
        solved_at=schedule.finished_at if schedule else None,
        operations=_operation_rows(session, schedule.id, order.id) if schedule else [],
    )


# --------------------------------------------------------------------------- writing


def request_schedule(
    session: Session, principal: Principal, plant_id: uuid.UUID, body: ScheduleRequest
) -> ScheduleRead:
    """Queue a solve of the plant (the boundary enqueues the job after its commit)."""
    plant = _plant(session, plant_id)
    access.require(principal, Permission.MANUFACTURING_WRITE, "plant", plant.organization_id)
    _fail_abandoned(session, plant_id)
    busy = session.scalars(
        select(Schedule).where(
            Schedule.plant_id == plant_id,
            Schedule.status.in_((ScheduleStatus.QUEUED.value, ScheduleStatus.RUNNING.value)),
        )
    ).first()
    if busy is not None:
        # Two solves of one plant would race to become current; one at a time.
        raise Conflict(
            f"a solve of this plant is already {busy.status} (requested "
            f"{busy.created_at:%Y-%m-%d %H:%M} UTC): wait for it or stop it first"
        )
    current = None
    if body.warm_start:
        current = session.scalars(
            select(Schedule.id).where(
                Schedule.plant_id == plant_id,
                Schedule.provider_id == plant.organization_id,
                Schedule.is_current.is_(True),
            )
        ).first()
    now = utcnow()
    schedule = Schedule(
        provider_id=plant.organization_id,
        plant_id=plant_id,
        requested_by_user_id=principal.user_id,
        status=ScheduleStatus.QUEUED.value,
        horizon_start=horizon_start_at(now),
        time_unit_minutes=60,
        time_limit_s=float(body.time_limit_s),
        workers=body.workers,
        warm_start_from_id=current,
        reasons=[],
        improvements=[],
    )
    session.add(schedule)
    session.flush()
    audit.record(
        session,
        action="requested",
        entity_type="schedule",
        entity_id=schedule.id,
        actor=principal,
        organization_id=plant.organization_id,
        after={
            "plant_id": plant_id,
            "time_limit_s": schedule.time_limit_s,
            "workers": schedule.workers,
            "warm_start_from_id": current,
        },
    )
    return _read(session, schedule)


def _fail_abandoned(session: Session, plant_id: uuid.UUID) -> None:
    """Mark failed the plant's solves still "running" long after their time limit: their
    worker stopped mid-solve (a restart, a crash) and nothing else will finish them."""
    now = utcnow()
    running = session.scalars(
        select(Schedule).where(
            Schedule.plant_id == plant_id, Schedule.status == ScheduleStatus.RUNNING.value
        )
    ).all()
    for schedule in running:
        started = schedule.started_at or schedule.created_at
        if (now - started).total_seconds() <= schedule.time_limit_s + ABANDONED_AFTER_S:
            continue
        schedule.status = ScheduleStatus.FAILED.value
        schedule.finished_at = now
        schedule.is_current = False
        schedule.message = (
            "the job worker stopped while this solve was running (no answer "
            f"{int(ABANDONED_AFTER_S // 60)} minutes after its time limit); start a new solve"
        )
        audit.record(
            session,
            action=ScheduleStatus.FAILED.value,
            entity_type="schedule",
            entity_id=schedule.id,
            actor=None,
            actor_label="scheduling",
            organization_id=schedule.provider_id,
            after={"message": schedule.message},
        )
    session.flush()


def record_breakdown(
    session: Session, principal: Principal, unit_id: uuid.UUID, body: BreakdownRequest
) -> ScheduleRead:
    """The unit is down from now until ``body.until``: a maintenance window, then a
    re-schedule of its plant (warm start from the current schedule; started steps stay)."""
    unit = session.get(EquipmentUnit, unit_id)
    if unit is None:
        raise NotFound("equipment unit not found")
    access.require(principal, Permission.MANUFACTURING_WRITE, "equipment unit", unit.provider_id)
    now = utcnow().replace(microsecond=0)
    until = body.until.astimezone(UTC)
    if until <= now:
        raise Invalid(
            "the unit must be back after now",
            field_errors={"until": "give a UTC instant after now"},
        )
    if until > now + MAX_BREAKDOWN:
        # Longer is no breakdown: take the unit out of service instead.
        raise Invalid(
            f"a breakdown lasts at most {MAX_BREAKDOWN.days} days; a unit out for longer is "
            "taken out of service (Deactivate)",
            field_errors={"until": f"at most {MAX_BREAKDOWN.days} days from now"},
        )
    reason = (
        body.reason
        if body.reason.lower().startswith("breakdown")
        else (f"breakdown: {body.reason}")
    )
    window = MaintenanceWindow(unit_id=unit.id, starts_at=now, ends_at=until, reason=reason[:200])
    session.add(window)
    session.flush()
    audit.record(
        session,
        action="breakdown",
        entity_type="maintenance_window",
        entity_id=window.id,
        actor=principal,
        organization_id=unit.provider_id,
        after={"unit": unit.code, "starts_at": now, "ends_at": until, "reason": window.reason},
    )
    return request_schedule(
        session,
        principal,
        unit.plant_id,
        ScheduleRequest(time_limit_s=body.time_limit_s, workers=body.workers, warm_start=True),
    )


def stop_schedule(session: Session, principal: Principal, schedule_id: uuid.UUID) -> ScheduleRead:
    """Ask a queued or running solve to stop (a queued one ends at once); 409 when finished.
    The running job keeps the best schedule found so far."""
    schedule = _schedule(session, principal, schedule_id)
    access.require(principal, Permission.MANUFACTURING_WRITE, "schedule", schedule.provider_id)
    if schedule.status in FINISHED:
        raise Conflict(f"this solve has already finished ({schedule.status}); nothing to stop")
    now = utcnow()
    # Plain UPDATEs (no version bump): the job writes the same row from its own sessions.
    ended = session.execute(
        update(Schedule)
        .where(Schedule.id == schedule.id, Schedule.status == ScheduleStatus.QUEUED.value)
        .values(
            status=ScheduleStatus.DONE.value,
            stop_requested=True,
            solver_status="UNKNOWN",
            finished_at=now,
            message="stopped before it started",
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not ended:
        session.execute(
            update(Schedule)
            .where(Schedule.id == schedule.id)
            .values(stop_requested=True)
            .execution_options(synchronize_session=False)
        )
    audit.record(
        session,
        action="stop_requested",
        entity_type="schedule",
        entity_id=schedule.id,
        actor=principal,
        organization_id=schedule.provider_id,
        before={"status": schedule.status},
    )
    session.expire(schedule)
    return _read(session, schedule)


# --------------------------------------------------------------------------- the job


def improvement_item(event: Improvement, hours_per_unit: float) -> dict[str, Any]:
    """An improving solution as stored and shown: objective and bound in hours."""
    return {
        "wall_time_s": round(event.wall_time_s, 3),
        "phase": event.phase,
        "objective": round(event.objective * hours_per_unit, 4),
        "bound": round(event.bound * hours_per_unit, 4),
    }


@dataclass
class _Progress:
    """Progress of a running solve: improvements written at most every 0.5 s, the stop flag
    read at most every 0.5 s (each from a short session of its own)."""

    sessions: sessionmaker[Session]
    schedule_id: uuid.UUID
    hours_per_unit: float
    listener: Callable[[float, dict[str, Any]], None] | None = None
    improvements: list[dict[str, Any]] = field(default_factory=list)
    _written: float = 0.0
    _polled: float = 0.0
    _stop: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def improved(self, event: Improvement) -> None:
        item = improvement_item(event, self.hours_per_unit)
        with self._lock:
            self.improvements.append(item)
            if self.listener is not None:
                self.listener(event.wall_time_s, item)
            now = time.monotonic()
            if now - self._written >= PROGRESS_WRITE_INTERVAL_S:
                self._written = now
                self.flush()

    def flush(self) -> None:
        with self.sessions() as s:
            s.execute(
                update(Schedule)
                .where(Schedule.id == self.schedule_id)
                .values(improvements=list(self.improvements))
            )
            s.commit()

    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self._stop and now - self._polled >= STOP_POLL_INTERVAL_S:
            self._polled = now
            with self.sessions() as s:
                self._stop = bool(
                    s.scalar(select(Schedule.stop_requested).where(Schedule.id == self.schedule_id))
                )
        return self._stop


def _claim(sessions: sessionmaker[Session], schedule_id: uuid.UUID) -> bool:
    """queued → running (atomic: a stop of a queued solve may win the race)."""
    now = utcnow()
    with sessions() as s:
        claimed = s.execute(
            update(Schedule)
            .where(Schedule.id == schedule_id, Schedule.status == ScheduleStatus.QUEUED.value)
            .values(
                status=ScheduleStatus.RUNNING.value,
                started_at=now,
                horizon_start=horizon_start_at(now),
            )
        ).rowcount  # type: ignore[attr-defined]
        s.commit()
    return bool(claimed)


def _fail(sessions: sessionmaker[Session], schedule_id: uuid.UUID, message: str) -> None:
    with sessions() as s:
        s.execute(
            update(Schedule)
            .where(Schedule.id == schedule_id)
            .values(
                status=ScheduleStatus.FAILED.value,
                finished_at=utcnow(),
                message=message[:2000],
                is_current=False,
            )
        )
        audit.record(
            s,
            action=ScheduleStatus.FAILED.value,
            entity_type="schedule",
            entity_id=schedule_id,
            actor=None,
            actor_label="scheduling job",
            organization_id=s.scalar(
                select(Schedule.provider_id).where(Schedule.id == schedule_id)
            ),
            after={"message": message[:500]},
        )
        s.commit()


def _store(
    sessions: sessionmaker[Session],
    schedule_id: uuid.UUID,
    built: PlantProblem,
    result: SolveResult | None,
    improvements: list[dict[str, Any]],
) -> None:
    """Write the answer and commit: see :func:`_store_in`."""
    with sessions() as s:
        _store_in(s, schedule_id, built, result, improvements)
        s.commit()


def _store_in(
    s: Session,
    schedule_id: uuid.UUID,
    built: PlantProblem,
    result: SolveResult | None,
    improvements: list[dict[str, Any]],
) -> None:
    """Write the answer: fields, operations, the plant's current schedule, order statuses
    (flushed, not committed)."""
    hours = built.unit_minutes / 60
    schedule = s.get(Schedule, schedule_id)
    assert schedule is not None
    schedule.status = ScheduleStatus.DONE.value
    schedule.finished_at = utcnow()
    schedule.improvements = list(improvements)
    if result is None:  # refused before the search: a step without a unit
        schedule.solver_status = "INFEASIBLE"
        schedule.reasons = list(built.reasons)
        schedule.message = "no schedule: some steps have no unit to run on"
        schedule.wall_time_s = 0.0
    else:
        schedule.solver_status = result.status
        schedule.reasons = list(result.reasons)
        schedule.objective_name = result.objective_name
        schedule.objective = None if result.objective is None else result.objective * hours
        schedule.bound = None if result.bound is None else result.bound * hours
        schedule.gap = result.gap
        schedule.makespan_hours = None if result.makespan is None else result.makespan * hours
        schedule.weighted_tardiness = (
            None if result.weighted_tardiness is None else result.weighted_tardiness * hours
        )
        schedule.wall_time_s = result.wall_time_s
        if result.stopped:
            schedule.message = (
                "stopped on request; the best schedule found so far is kept"
                if result.has_schedule
                else "stopped on request before a schedule was found"
            )
        elif result.status == "UNKNOWN":
            schedule.message = "no schedule found within the time limit; allow more time"
        elif result.status == "MODEL_INVALID":
            schedule.message = "the solver cannot take this plan as it is (see below)"
    scheduled_orders: set[uuid.UUID] = set()
    if result is not None and result.has_schedule:
        report = check_schedule(built.problem, result.operations)
        if not report.ok:
            raise RuntimeError(
                "the solver's schedule breaks the plant's rules (a bug): "
                + "; ".join(report.violations[:5])
            )
        per_unit: dict[int, list[ScheduledOperation]] = defaultdict(list)
        for op in result.operations:
            per_unit[op.unit].append(op)
        for unit, ops in per_unit.items():
            ops.sort(key=lambda o: (o.start, o.end))
            matrix = built.change_hours.get(unit)
            previous: ScheduledOperation | None = None
            for op in ops:
                change = Decimal(0)
                if previous is not None and matrix is not None:
                    a = built.problem.jobs[previous.job].family
                    b = built.problem.jobs[op.job].family
                    change = matrix[a][b]
                previous = op
                s.add(
                    StoredOperation(
                        schedule_id=schedule.id,
                        batch_id=built.job_batches[op.job],
                        step_sequence=built.job_steps[op.job][op.operation],
                        unit_id=built.unit_ids[unit],
                        starts_at=built.actual_starts.get(op.ref, built.at(op.start)),
                        ends_at=built.at(op.end),
                        changeover_hours=change,
                    )
                )
        for old in s.scalars(
            select(Schedule).where(
                Schedule.plant_id == schedule.plant_id,
                Schedule.is_current.is_(True),
                Schedule.id != schedule.id,
            )
        ).all():
            old.is_current = False
        schedule.is_current = True
        scheduled_orders = set(
            s.scalars(select(Batch.order_id).where(Batch.id.in_(set(built.job_batches)))).all()
        )
    s.flush()
    for order in s.scalars(
        select(ProductionOrder).where(
            ProductionOrder.id.in_(scheduled_orders),
            ProductionOrder.status == OrderStatus.OPEN.value,
        )
    ).all():
        audit.change_status(
            s,
            order,
            OrderStatus.SCHEDULED.value,
            entity_type="production_order",
            actor=None,
            organization_id=order.provider_id,
            reason=f"scheduled by solve {schedule.id}",
        )
    audit.record(
        s,
        action=ScheduleStatus.DONE.value,
        entity_type="schedule",
        entity_id=schedule.id,
        actor=None,
        actor_label="scheduling job",
        organization_id=schedule.provider_id,
        after={
            "solver_status": schedule.solver_status,
            "objective_name": schedule.objective_name,
            "objective": schedule.objective,
            "makespan_hours": schedule.makespan_hours,
            "weighted_tardiness": schedule.weighted_tardiness,
            "is_current": schedule.is_current,
        },
    )


def run_schedule(
    schedule_id: uuid.UUID,
    sessions: sessionmaker[Session],
    *,
    listener: Callable[[float, dict[str, Any]], None] | None = None,
) -> None:
    """The job: claim the queued solve, build the problem, solve, check, store. Every outcome
    ends in the row (``done`` with the solver's status, or ``failed`` with a message)."""
    if not _claim(sessions, schedule_id):
        return  # already taken, stopped or unknown
    try:
        with sessions() as s:
            schedule = s.get(Schedule, schedule_id)
            assert schedule is not None
            built = build_plant_problem(
                s,
                plant_id=schedule.plant_id,
                provider_id=schedule.provider_id,
                horizon_start=schedule.horizon_start,
                unit_minutes=schedule.time_unit_minutes,
            )
            hint = warm_start_hint(s, built, schedule.warm_start_from_id)
            time_limit_s, workers = schedule.time_limit_s, schedule.workers
        progress = _Progress(sessions, schedule_id, built.unit_minutes / 60, listener)
        result = None
        if not built.reasons:
            result = solve(
                built.problem,
                time_limit_s=time_limit_s,
                workers=workers,
                seed=SEED,
                hint=hint,
                on_improvement=progress.improved,
                should_stop=progress.should_stop,
            )
        _store(sessions, schedule_id, built, result, progress.improvements)
    except Exception as exc:
        log.exception("schedule %s failed", schedule_id)
        _fail(sessions, schedule_id, f"{type(exc).__name__}: {exc}")


def solve_in_session(session: Session, schedule_id: uuid.UUID) -> ScheduleRead:
    """Run a queued solve inside the caller's transaction, without progress rows: for a
    caller that owns one transaction for everything (the demo load). The job and the CLI use
    :func:`run_schedule`, which commits its progress as it goes."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None or schedule.status != ScheduleStatus.QUEUED.value:
        raise Conflict("only a queued solve can run")
    now = utcnow()
    schedule.status = ScheduleStatus.RUNNING.value
    schedule.started_at = now
    schedule.horizon_start = horizon_start_at(now)
    session.flush()
    built = build_plant_problem(
        session,
        plant_id=schedule.plant_id,
        provider_id=schedule.provider_id,
        horizon_start=schedule.horizon_start,
        unit_minutes=schedule.time_unit_minutes,
    )
    hint = warm_start_hint(session, built, schedule.warm_start_from_id)
    improvements: list[dict[str, Any]] = []
    hours = built.unit_minutes / 60
    result = None
    if not built.reasons:
        result = solve(
            built.problem,
            time_limit_s=schedule.time_limit_s,
            workers=schedule.workers,
            seed=SEED,
            hint=hint,
            on_improvement=lambda found: improvements.append(improvement_item(found, hours)),
        )
    _store_in(session, schedule_id, built, result, improvements)
    session.flush()
    return _read(session, schedule)
