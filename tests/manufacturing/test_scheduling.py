"""Scheduling a plant: the engine problem built from rows, the job, stop, infeasibility and
re-scheduling after a breakdown (the job run in-process; the API and the worker elsewhere)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import sessionmaker

from opencxo.core.audit import AuditEvent
from opencxo.core.errors import Conflict, NotFound, NotPermitted
from opencxo.manufacturing import planning, scheduling
from opencxo.manufacturing.engine import ScheduledOperation as EngineOp
from opencxo.manufacturing.engine import check_schedule
from opencxo.manufacturing.models import (
    Batch,
    BatchStep,
    ChangeoverOverride,
    EquipmentUnit,
    MaintenanceWindow,
    ProductionOrder,
    Schedule,
    ScheduledOperation,
)
from opencxo.manufacturing.schedule_schemas import BreakdownRequest, ScheduleRequest
from tests.manufacturing.conftest import PlantWorld

YY = date.today().strftime("%y")
HORIZON = scheduling.horizon_start_at(datetime.now(UTC))


def _plan_all(plant: PlantWorld) -> None:
    for number in ("PO-A-1", "PO-B-1"):
        planning.plan_order(plant.session, plant["cdmo"], plant.orders[number])
    plant.session.commit()


def _solve(plant: PlantWorld, engine: Engine, **request: object) -> Schedule:
    read = scheduling.request_schedule(
        plant.session,
        plant["cdmo"],
        plant.plant_id,
        ScheduleRequest(**{"time_limit_s": 5, "workers": 1, **request}),  # type: ignore[arg-type]
    )
    plant.session.commit()
    scheduling.run_schedule(read.id, sessionmaker(bind=engine, expire_on_commit=False))
    plant.session.expire_all()
    schedule = plant.session.get(Schedule, read.id)
    assert schedule is not None
    return schedule


def _engine_ops(built: scheduling.PlantProblem, rows: list[ScheduledOperation]) -> list[EngineOp]:
    """Stored rows back to engine operations (to run the independent checker on them)."""
    minutes = built.unit_minutes
    out = []
    for row in rows:
        ref = built.ref_of(row.batch_id, row.step_sequence)
        assert ref is not None
        unit = built.unit_ids.index(row.unit_id)
        start = int((row.starts_at - built.horizon_start).total_seconds() // (60 * minutes))
        end = int((row.ends_at - built.horizon_start).total_seconds() // (60 * minutes))
        out.append(EngineOp(ref[0], ref[1], unit, max(0, start), end))
    return out


# --- the problem ---------------------------------------------------------------------------------


def test_the_problem_has_eligible_units_changeovers_due_dates_and_fifo_precedences(
    plant: PlantWorld,
) -> None:
    _plan_all(plant)
    plant.session.add(
        ChangeoverOverride(
            provider_id=plant.provider_id,
            plant_id=plant.plant_id,
            equipment_class="reactor",
            from_product_id=plant.products["INT-1"],
            to_product_id=plant.products["API-1"],
            hours=Decimal("12.5"),
        )
    )
    plant.session.commit()

    built = scheduling.build_plant_problem(
        plant.session, plant_id=plant.plant_id, provider_id=plant.provider_id, horizon_start=HORIZON
    )

    p = built.problem
    assert built.unit_codes == ["D-301", "F-201", "G-401", "P-501", "R-101", "R-102"]
    # 3 API-1 + 3 INT-1 of PO-A-1, 2 API-B of PO-B-1 (40 / 34.92 kg → 2)
    assert built.job_numbers == [
        f"API-1-{YY}-0001", f"API-1-{YY}-0002", f"API-1-{YY}-0003",
        f"API-B-{YY}-0001", f"API-B-{YY}-0002",
        f"INT-1-{YY}-0001", f"INT-1-{YY}-0002", f"INT-1-{YY}-0003",
    ]  # fmt: skip
    api1 = p.jobs[0]
    # Deprotection on either reactor for 12 h, Filtration on F-201 8 h, Drying on D-301 10 h
    assert [[(m.unit, m.duration) for m in op.modes] for op in api1.operations] == [
        [(4, 12), (5, 12)],
        [(1, 8)],
        [(0, 10)],
    ]
    # families by product code: API-1, API-B, INT-1
    assert built.families == [plant.products[c] for c in ("API-1", "API-B", "INT-1")]
    reactor = p.changeover_matrix(4)
    assert reactor is not None
    assert reactor.matrix == ((2, 8, 8), (8, 2, 8), (13, 8, 2))  # 12.5 h INT-1 → API-1, rounded up
    assert built.change_hours[4][2][0] == Decimal("12.5")
    dryer = p.changeover_matrix(0)
    assert dryer is not None and dryer.matrix == ((1, 3, 3), (3, 1, 3), (3, 3, 1))
    # due: end of the due date, in hours from the horizon; intermediates have none
    order = plant.session.get(ProductionOrder, plant.orders["PO-A-1"])
    assert order is not None
    due_hours = int((scheduling.due_end(order) - HORIZON).total_seconds() // 3600)
    assert [j.due for j in p.jobs[:3]] == [due_hours] * 3
    assert [j.weight for j in p.jobs[:3]] == [3, 3, 3]
    assert [j.due for j in p.jobs[5:]] == [None] * 3
    assert [j.weight for j in p.jobs[3:5]] == [1, 1]
    # FIFO: each API batch needs 60 kg; INT batches make 85.5 kg each
    assert built.precedence_pairs == [
        (f"INT-1-{YY}-0001", f"API-1-{YY}-0001"),
        (f"INT-1-{YY}-0001", f"API-1-{YY}-0002"),
        (f"INT-1-{YY}-0002", f"API-1-{YY}-0002"),
        (f"INT-1-{YY}-0002", f"API-1-{YY}-0003"),
        (f"INT-1-{YY}-0003", f"API-1-{YY}-0003"),
    ]
    assert [(pr.before, pr.after) for pr in p.precedences] == [
        ((5, 1), (0, 0)), ((5, 1), (1, 0)), ((6, 1), (1, 0)), ((6, 1), (2, 0)), ((7, 1), (2, 0)),
    ]  # fmt: skip


def test_maintenance_and_release_dates_become_downtimes_and_releases(plant: PlantWorld) -> None:
    _plan_all(plant)
    order = plant.session.get(ProductionOrder, plant.orders["PO-B-1"])
    assert order is not None
    order.release_date = date.today() + timedelta(days=2)
    plant.session.add(
        MaintenanceWindow(
            unit_id=plant.units["D-301"],
            starts_at=HORIZON + timedelta(hours=5, minutes=30),
            ends_at=HORIZON + timedelta(hours=9, minutes=10),
        )
    )
    plant.session.add(  # over before the horizon: left out
        MaintenanceWindow(
            unit_id=plant.units["D-301"],
            starts_at=HORIZON - timedelta(days=3),
            ends_at=HORIZON - timedelta(days=2),
        )
    )
    plant.session.commit()
    built = scheduling.build_plant_problem(
        plant.session, plant_id=plant.plant_id, provider_id=plant.provider_id, horizon_start=HORIZON
    )
    assert [(d.unit, d.start, d.end) for d in built.problem.downtimes] == [(0, 5, 10)]
    opens = datetime.combine(order.release_date, datetime.min.time(), UTC)
    hours = (opens - HORIZON).total_seconds() / 3600
    assert 24 <= hours <= 48  # 24 when the horizon starts at midnight (a run after 23:00)
    assert [j.release for j in built.problem.jobs[3:5]] == [int(hours)] * 2
    assert built.problem.jobs[0].release == 0


# --- the job ---------------------------------------------------------------------------------------


def test_a_solve_stores_a_checked_schedule_and_marks_orders_scheduled(
    plant: PlantWorld, engine: Engine
) -> None:
    _plan_all(plant)
    schedule = _solve(plant, engine)

    assert schedule.status == "done"
    assert schedule.solver_status in ("OPTIMAL", "FEASIBLE")
    assert schedule.is_current
    assert schedule.improvements and schedule.improvements[0]["phase"] in (
        "weighted_tardiness",
        "makespan",
    )
    rows = plant.session.scalars(
        select(ScheduledOperation).where(ScheduledOperation.schedule_id == schedule.id)
    ).all()
    # 3 API-1 × 3 steps + 3 INT-1 × 2 + 2 API-B × 2
    assert len(rows) == 19
    built = scheduling.build_plant_problem(
        plant.session,
        plant_id=plant.plant_id,
        provider_id=plant.provider_id,
        horizon_start=schedule.horizon_start,
    )
    assert check_schedule(built.problem, _engine_ops(built, list(rows))).ok
    assert schedule.makespan_hours == max(
        (r.ends_at - schedule.horizon_start).total_seconds() / 3600 for r in rows
    )
    statuses = {o.number: o.status for o in plant.session.scalars(select(ProductionOrder)).all()}
    assert statuses == {"PO-A-1": "scheduled", "PO-B-1": "scheduled"}
    # the changeover before an operation is the cleaning after its predecessor on the unit
    by_unit: dict[uuid.UUID, list[ScheduledOperation]] = {}
    for r in rows:
        by_unit.setdefault(r.unit_id, []).append(r)
    dryer = sorted(by_unit[plant.units["D-301"]], key=lambda r: r.starts_at)
    batches = {b.id: b for b in plant.session.scalars(select(Batch)).all()}
    assert dryer[0].changeover_hours == 0
    for before, after in itertools.pairwise(dryer):
        same = batches[before.batch_id].product_id == batches[after.batch_id].product_id
        assert after.changeover_hours == (Decimal(1) if same else Decimal(3))
        assert after.starts_at >= before.ends_at + timedelta(hours=float(after.changeover_hours))
    actions = plant.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.entity_id == str(schedule.id))
        .order_by(AuditEvent.sequence)
    ).all()
    assert list(actions) == ["requested", "done"]


def test_a_second_solve_becomes_current_and_warm_starts_from_the_first(
    plant: PlantWorld, engine: Engine
) -> None:
    _plan_all(plant)
    first = _solve(plant, engine)
    second = _solve(plant, engine)
    assert second.warm_start_from_id == first.id
    plant.session.refresh(first)
    assert (first.is_current, second.is_current) == (False, True)
    cold = _solve(plant, engine, warm_start=False)
    assert cold.warm_start_from_id is None


def test_a_stop_requested_before_the_solver_polls_ends_with_the_best_schedule_so_far(
    plant: PlantWorld, engine: Engine
) -> None:
    _plan_all(plant)
    read = scheduling.request_schedule(
        plant.session, plant["cdmo"], plant.plant_id, ScheduleRequest(time_limit_s=60, workers=1)
    )
    plant.session.execute(
        update(Schedule).where(Schedule.id == read.id).values(stop_requested=True)
    )
    plant.session.commit()
    started = datetime.now(UTC)
    scheduling.run_schedule(read.id, sessionmaker(bind=engine, expire_on_commit=False))
    assert (datetime.now(UTC) - started).total_seconds() < 30
    plant.session.expire_all()
    schedule = plant.session.get(Schedule, read.id)
    assert schedule is not None
    assert schedule.status == "done"
    assert schedule.message is not None and schedule.message.startswith("stopped on request")
    assert schedule.wall_time_s is not None and schedule.wall_time_s < 30


def test_stopping_a_queued_solve_ends_it_and_a_finished_one_answers_409(
    plant: PlantWorld, engine: Engine
) -> None:
    _plan_all(plant)
    read = scheduling.request_schedule(
        plant.session, plant["cdmo"], plant.plant_id, ScheduleRequest(time_limit_s=5, workers=1)
    )
    with pytest.raises(NotPermitted):
        scheduling.stop_schedule(plant.session, plant["viewer"], read.id)
    with pytest.raises(NotFound):
        scheduling.stop_schedule(plant.session, plant["sponsor"], read.id)
    stopped = scheduling.stop_schedule(plant.session, plant["cdmo"], read.id)
    plant.session.commit()
    assert (stopped.status, stopped.solver_status, stopped.stop_requested) == (
        "done",
        "UNKNOWN",
        True,
    )
    assert stopped.message == "stopped before it started"
    scheduling.run_schedule(read.id, sessionmaker(bind=engine))  # nothing left to claim
    with pytest.raises(Conflict):
        scheduling.stop_schedule(plant.session, plant["cdmo"], read.id)
    assert plant.session.scalars(select(ScheduledOperation)).all() == []


def test_one_solve_per_plant_at_a_time_and_an_abandoned_one_is_failed(plant: PlantWorld) -> None:
    _plan_all(plant)
    request = ScheduleRequest(time_limit_s=5, workers=1)
    first = scheduling.request_schedule(plant.session, plant["cdmo"], plant.plant_id, request)
    with pytest.raises(Conflict, match="already queued"):
        scheduling.request_schedule(plant.session, plant["cdmo"], plant.plant_id, request)
    # Its worker took it and died: "running" 5 s + 300 s after it started is abandoned.
    long_ago = datetime.now(UTC) - timedelta(seconds=5 + scheduling.ABANDONED_AFTER_S + 1)
    plant.session.execute(
        update(Schedule)
        .where(Schedule.id == first.id)
        .values(status="running", started_at=long_ago)
    )
    second = scheduling.request_schedule(plant.session, plant["cdmo"], plant.plant_id, request)
    plant.session.commit()
    plant.session.expire_all()
    abandoned = plant.session.get(Schedule, first.id)
    assert abandoned is not None
    assert (abandoned.status, abandoned.is_current) == ("failed", False)
    assert abandoned.message is not None and "job worker stopped" in abandoned.message
    assert second.status == "queued"


def test_a_step_without_an_active_unit_is_explained(plant: PlantWorld, engine: Engine) -> None:
    _plan_all(plant)
    dryer = plant.session.get(EquipmentUnit, plant.units["F-201"])
    assert dryer is not None
    dryer.active = False
    plant.session.commit()

    schedule = _solve(plant, engine)

    assert (schedule.status, schedule.solver_status, schedule.is_current) == (
        "done",
        "INFEASIBLE",
        False,
    )
    assert (
        f"batch API-1-{YY}-0001 step 2 (Filtration) needs a unit of class 'filter_dryer', "
        "and the plant has no active GMP filter_dryer unit: add one or re-activate one"
    ) in schedule.reasons
    assert len(schedule.reasons) == 6  # step 2 of 3 API-1 and 3 INT-1 batches
    statuses = {o.status for o in plant.session.scalars(select(ProductionOrder)).all()}
    assert statuses == {"open"}


def test_a_breakdown_reschedules_around_the_unit_and_keeps_started_steps(
    plant: PlantWorld, engine: Engine
) -> None:
    _plan_all(plant)
    first = _solve(plant, engine)
    batch = plant.session.scalars(
        select(Batch).where(Batch.batch_number == f"INT-1-{YY}-0001")
    ).one()
    began = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    batch.status = "in_progress"
    batch.steps = [
        BatchStep(sequence=1, operation="Coupling", unit_id=plant.units["R-101"], started_at=began)
    ]
    plant.session.commit()
    until = datetime.now(UTC) + timedelta(days=2)

    read = scheduling.record_breakdown(
        plant.session,
        plant["cdmo"],
        plant.units["R-102"],
        BreakdownRequest(until=until, reason="agitator seal", time_limit_s=5, workers=1),
    )
    plant.session.commit()
    scheduling.run_schedule(read.id, sessionmaker(bind=engine, expire_on_commit=False))
    plant.session.expire_all()

    second = plant.session.get(Schedule, read.id)
    assert second is not None
    assert second.warm_start_from_id == first.id
    assert second.solver_status in ("OPTIMAL", "FEASIBLE") and second.is_current
    window = plant.session.scalars(
        select(MaintenanceWindow).where(MaintenanceWindow.unit_id == plant.units["R-102"])
    ).one()
    assert window.reason == "breakdown: agitator seal"
    rows = plant.session.scalars(
        select(ScheduledOperation).where(ScheduledOperation.schedule_id == second.id)
    ).all()
    kept = [r for r in rows if r.batch_id == batch.id and r.step_sequence == 1]
    assert [(k.unit_id, k.starts_at) for k in kept] == [(plant.units["R-101"], began)]
    # the 10 h step started 3 h ago ends 7 h from now (rounded up to the time unit)
    assert kept[0].ends_at - second.horizon_start <= timedelta(hours=7)
    assert kept[0].ends_at - second.horizon_start > timedelta(hours=6)
    for r in rows:
        if r.unit_id == plant.units["R-102"]:
            assert r.ends_at <= window.starts_at or r.starts_at >= window.ends_at
    assert len(rows) == 19


# --- the command line ------------------------------------------------------------------------------


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENCXO_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "opencxo.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_plans_and_solves_synchronously(plant: PlantWorld, database_url: str) -> None:
    email = plant.emails["cdmo"]
    planned = _cli(
        database_url, "mfg", "plan", str(plant.orders["PO-A-1"]), "--as", email, "--json"
    )
    assert planned.returncode == 0, planned.stderr
    doc = json.loads(planned.stdout)
    assert [b["batch_number"] for b in doc["batches"]][:1] == [f"API-1-{YY}-0001"]
    assert len(doc["batches"]) == 6

    solved = _cli(
        database_url, "mfg", "schedule", str(plant.plant_id), "--as", email,
        "--time-limit", "10", "--workers", "1", "--no-warm-start", "--json",
    )  # fmt: skip
    assert solved.returncode == 0, solved.stderr
    result = json.loads(solved.stdout)
    assert set(result) == {
        "schedule_id", "status", "solver_status", "objective_name", "objective", "bound", "gap",
        "makespan_hours", "weighted_tardiness", "wall_time_s", "operations", "is_current",
        "late_orders", "reasons", "message",
    }  # fmt: skip
    assert (result["status"], result["operations"], result["is_current"]) == ("done", 15, True)
    assert result["solver_status"] in ("OPTIMAL", "FEASIBLE")
    assert result["late_orders"] == []
    assert result["weighted_tardiness"] == 0

    refused = _cli(
        database_url, "mfg", "schedule", str(plant.plant_id), "--as", plant.emails["other_sponsor"]
    )
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: plant not found"


def test_development_units_never_run_production_batches(plant: PlantWorld) -> None:
    _plan_all(plant)
    reactor = plant.session.get(EquipmentUnit, plant.units["R-102"])
    assert reactor is not None
    reactor.gmp_grade = "non_gmp"
    plant.session.commit()
    built = scheduling.build_plant_problem(
        plant.session, plant_id=plant.plant_id, provider_id=plant.provider_id, horizon_start=HORIZON
    )
    r101, r102 = built.unit_codes.index("R-101"), built.unit_codes.index("R-102")
    reactor_modes = {
        m.unit for job in built.problem.jobs for op in job.operations for m in op.modes
    } & {r101, r102}
    assert reactor_modes == {r101}
