"""The manufacturing part of the demo world (``manufacturing.yaml``): Eastbridge's Changzhou
plant, its products and recipes, orders made and dispositioned (released batches, one
rejected), open orders planned into batches and scheduled by the CP-SAT engine.

Everything goes through the services (validation, audit trail, e-signatures) in the load's one
transaction; only what a load cannot do live is set afterwards: the recorded batch numbers of
the milestones (CB-2307, CB-2311) and the dates of past signatures.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opencxo.core.auth.principal import Principal
from opencxo.core.signatures import Signature
from opencxo.manufacturing import batch_records, planning, scheduling, service
from opencxo.manufacturing.batch_schemas import (
    BatchComplete,
    BatchReject,
    BatchRelease,
    BatchStart,
    DeviationClose,
    DeviationCreate,
    MaterialCreate,
    QcRecord,
    StepRecord,
)
from opencxo.manufacturing.models import Batch, Deviation, MaterialConsumption, Product, Recipe
from opencxo.manufacturing.schedule_schemas import ScheduleRequest
from opencxo.manufacturing.schemas import (
    BomLineInput,
    ChangeoverInput,
    CleaningTimeInput,
    MaintenanceWindowCreate,
    OrderCreate,
    ProductCreate,
    RecipeInput,
    RecipeStepInput,
    SpecificationCreate,
    UnitCreate,
)
from opencxo.parties.models import Site

Raw = dict[str, Any]
# Shifts start at 06:00 UTC (14:00 in Changzhou); QC takes two days, QA review two more.
SHIFT_START = time(6, 0, tzinfo=UTC)
QC_DAYS = 2
QA_DAYS = 4


@dataclass
class _Plant:
    provider_id: uuid.UUID
    plant_id: uuid.UUID
    planner: Principal
    qa: Principal
    password: str
    units: dict[str, uuid.UUID] = field(default_factory=dict)  # by code
    unit_classes: dict[str, list[uuid.UUID]] = field(default_factory=dict)  # GMP units by class
    products: dict[str, uuid.UUID] = field(default_factory=dict)  # by code


def _at(today: date, days: int, hours: float = 0) -> datetime:
    return datetime.combine(today + timedelta(days=days), SHIFT_START) + timedelta(hours=hours)


def load_manufacturing(
    session: Session,
    data: Raw,
    today: date,
    password: str,
    counts: Counter[str],
    *,
    principal: Callable[[Session, str], Principal],
    organization_id: Callable[[Session, str], uuid.UUID],
    work_order_id: Callable[[Session, Principal, str], uuid.UUID],
) -> None:
    """Create the plant's world unless its products exist already (a second load adds
    nothing). ``principal``, ``organization_id`` and ``work_order_id`` are the loader's
    look-ups (by e-mail, by name, by a work order's title as the sponsor sees it)."""
    provider_id = organization_id(session, data["provider"])
    known = session.scalars(select(Product.id).where(Product.provider_id == provider_id)).first()
    if known is not None:
        return
    plant_id = session.execute(
        select(Site.id).where(Site.organization_id == provider_id, Site.name == data["plant"])
    ).scalar_one()
    plant = _Plant(
        provider_id=provider_id,
        plant_id=plant_id,
        planner=principal(session, data["planner"]),
        qa=principal(session, data["qa"]),
        password=password,
    )
    _units(session, plant, data, today, counts)
    _products(session, plant, data, organization_id, counts)
    _recipes(session, plant, data, counts)
    for spec in data["history"]:
        _history(session, plant, spec, today, counts, principal, work_order_id)
    for spec in data["orders"]:
        order = _order(session, plant, spec, today, counts)
        planning.plan_order(session, plant.planner, order, today=today)
    _schedule(session, plant, data["schedule"], counts)


def _units(session: Session, plant: _Plant, data: Raw, today: date, counts: Counter[str]) -> None:
    for spec in data["units"]:
        unit = service.add_unit(
            session,
            plant.planner,
            plant.plant_id,
            UnitCreate(
                code=spec["code"],
                name=spec["name"],
                equipment_class=spec["class"],
                capacity=Decimal(str(spec["capacity"])),
                capacity_unit=spec["capacity_unit"],
                gmp_grade=spec.get("gmp_grade", "gmp"),
            ),
        )
        plant.units[unit.code] = unit.id
        if unit.gmp_grade == "gmp":
            plant.unit_classes.setdefault(unit.equipment_class, []).append(unit.id)
        counts["equipment_units"] += 1
    for spec in data["maintenance"]:
        starts = _at(today, spec["starts_in_days"])
        service.add_maintenance(
            session,
            plant.planner,
            plant.units[spec["unit"]],
            MaintenanceWindowCreate(
                starts_at=starts,
                ends_at=starts + timedelta(hours=spec["hours"]),
                reason=spec["reason"],
            ),
        )
    for equipment_class, (same, change) in data["cleaning"].items():
        service.set_cleaning_time(
            session,
            plant.planner,
            plant.plant_id,
            equipment_class,
            CleaningTimeInput(
                same_product_hours=Decimal(str(same)), product_change_hours=Decimal(str(change))
            ),
        )


def _products(
    session: Session,
    plant: _Plant,
    data: Raw,
    organization_id: Callable[[Session, str], uuid.UUID],
    counts: Counter[str],
) -> None:
    for spec in data["products"]:
        product = service.create_product(
            session,
            plant.planner,
            ProductCreate(
                code=spec["code"],
                name=spec["name"],
                kind=spec["kind"],
                unit=spec["unit"],
                sponsor_id=organization_id(session, spec["sponsor"]),
                provider_id=plant.provider_id,
                dosage_form=spec.get("dosage_form"),
                strength=spec.get("strength"),
                shelf_life_months=spec.get("shelf_life_months"),
            ),
        )
        plant.products[product.code] = product.id
        counts["products"] += 1
        for test in spec["specifications"]:
            service.add_specification(
                session,
                plant.planner,
                product.id,
                SpecificationCreate(
                    test=test["test"],
                    method=test["method"],
                    lower_limit=Decimal(test["lower"]) if "lower" in test else None,
                    upper_limit=Decimal(test["upper"]) if "upper" in test else None,
                    result_unit=test.get("unit", ""),
                    acceptance_text=test.get("text"),
                ),
            )
    for spec in data["changeover_overrides"]:
        service.set_changeover(
            session,
            plant.planner,
            plant.plant_id,
            ChangeoverInput(
                equipment_class=spec["class"],
                from_product_id=plant.products[spec["from"]],
                to_product_id=plant.products[spec["to"]],
                hours=Decimal(str(spec["hours"])),
            ),
        )


def _recipes(session: Session, plant: _Plant, data: Raw, counts: Counter[str]) -> None:
    for spec in data["recipes"]:
        service.create_recipe(
            session,
            plant.planner,
            plant.products[spec["product"]],
            RecipeInput(
                plant_id=plant.plant_id,
                batch_size=Decimal(str(spec["batch_size"])),
                steps=[
                    RecipeStepInput(
                        operation=step["operation"],
                        equipment_class=step["class"],
                        duration_hours=Decimal(str(step["hours"])),
                        yield_fraction=Decimal(step["yield"]),
                    )
                    for step in spec["steps"]
                ],
                bom=[
                    BomLineInput(
                        component_product_id=plant.products[line["product"]]
                        if "product" in line
                        else None,
                        material_name=line.get("material", ""),
                        quantity_per_batch=Decimal(str(line["quantity"])),
                        unit=line["unit"],
                    )
                    for line in spec["bom"]
                ],
            ),
        )
        counts["recipes"] += 1


def _order(
    session: Session,
    plant: _Plant,
    spec: Raw,
    today: date,
    counts: Counter[str],
    work_order: uuid.UUID | None = None,
) -> uuid.UUID:
    order = service.create_order(
        session,
        plant.planner,
        OrderCreate(
            number=spec["number"],
            product_id=plant.products[spec["product"]],
            plant_id=plant.plant_id,
            quantity=Decimal(str(spec["quantity"])),
            due_date=today + timedelta(days=spec["due_in_days"]),
            priority=spec["priority"],
            notes=spec.get("notes", ""),
            work_order_id=work_order,
        ),
    )
    counts["production_orders"] += 1
    return order.id


def _history(
    session: Session,
    plant: _Plant,
    spec: Raw,
    today: date,
    counts: Counter[str],
    principal: Callable[[Session, str], Principal],
    work_order_id: Callable[[Session, Principal, str], uuid.UUID],
) -> None:
    work_order = None
    if "work_order" in spec:
        product = session.get(Product, plant.products[spec["product"]])
        assert product is not None
        sponsor = _sponsor_user(session, product.sponsor_id, principal)
        work_order = work_order_id(session, sponsor, spec["work_order"])
    order_id = _order(session, plant, spec, today, counts, work_order)
    planned = planning.plan_order(session, plant.planner, order_id, today=today)
    made: dict[str, list[str]] = {}  # product code → batch numbers, in execution order
    executed: set[uuid.UUID] = set()
    for code, batch_specs in spec["batches"].items():
        for batch_spec in batch_specs:
            if batch_spec.get("replan"):
                planned = planning.plan_order(session, plant.planner, order_id, today=today)
            waiting = [
                b
                for b in planned
                if b.product_code == code and b.status == "planned" and b.id not in executed
            ]
            if not waiting:
                raise ValueError(
                    f"demo order {spec['number']}: no planned {code} batch left for "
                    f"{batch_spec}; the recipe's output and the order quantity disagree"
                )
            number = _execute(session, plant, waiting[0].id, batch_spec, made, today)
            made.setdefault(code, []).append(number)
            executed.add(waiting[0].id)
            counts["batches"] += 1


def _sponsor_user(
    session: Session, sponsor_id: uuid.UUID, principal: Callable[[Session, str], Principal]
) -> Principal:
    from opencxo.core.auth.models import Membership, User

    email = (
        session.execute(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.organization_id == sponsor_id, Membership.role.in_(("admin", "manager"))
            )
            .order_by(Membership.role, User.email)
        )
        .scalars()
        .first()
    )
    assert email is not None, "the demo sponsor has no admin or manager"
    return principal(session, email)


def _version(session: Session, plant: _Plant, batch_id: uuid.UUID) -> int:
    return batch_records.get_batch(session, plant.planner, batch_id).version


def _execute(
    session: Session,
    plant: _Plant,
    batch_id: uuid.UUID,
    spec: Raw,
    made: dict[str, list[str]],
    today: date,
) -> str:
    """Run one batch through its record: steps, materials, QC, deviation, disposition."""
    if "number" in spec:  # the batch numbers the milestones' documents already carry
        session.execute(
            update(Batch).where(Batch.id == batch_id).values(batch_number=spec["number"])
        )
        session.expire_all()
    batch = session.get(Batch, batch_id)
    assert batch is not None
    recipe = session.get(Recipe, batch.recipe_id)
    assert recipe is not None
    start = _at(today, spec["started_in_days"])
    batch_records.start_batch(
        session,
        plant.planner,
        batch_id,
        BatchStart(version=_version(session, plant, batch_id), started_at=start),
    )
    for line in recipe.bom_lines:
        if line.component_product_id is None:
            lot = f"{line.material_name.split()[0].upper()[:6]}-{start:%y%m}{line.position + 1:02d}"
            source: Raw = {"supplier_lot": lot, "material_name": line.material_name}
        else:
            component = session.get(Product, line.component_product_id)
            assert component is not None
            numbers = made[component.code]
            for index in spec.get("consumes", [0]):
                source = {"input_batch_number": numbers[index]}
        batch_records.add_material(
            session,
            plant.planner,
            batch_id,
            MaterialCreate(quantity=line.quantity_per_batch, unit=line.unit, **source),
        )
    # Recorded at the start of the batch, not at load time.
    session.execute(
        update(MaterialConsumption)
        .where(MaterialConsumption.batch_id == batch_id)
        .values(created_at=start, updated_at=start)
    )
    moment = start
    for step in recipe.steps:
        unit = _unit_for(session, plant, step.equipment_class, spec)
        ends = moment + timedelta(hours=float(step.duration_hours))
        batch_records.record_step(
            session,
            plant.planner,
            batch_id,
            step.sequence,
            StepRecord(
                version=_version(session, plant, batch_id),
                unit_id=unit,
                started_at=moment,
                ended_at=ends,
                actual_yield_fraction=step.yield_fraction,
                performed_by="Shift B, Changzhou" if step.sequence % 2 else "Shift A, Changzhou",
            ),
        )
        moment = ends + timedelta(hours=2)  # transfer and line clearance
    if "deviation" in spec:
        deviation = batch_records.open_deviation(
            session,
            plant.planner,
            batch_id,
            DeviationCreate(
                description=spec["deviation"]["description"],
                severity=spec["deviation"]["severity"],
            ),
        )
        batch_records.close_deviation(
            session,
            plant.qa,
            deviation.id,
            DeviationClose(version=deviation.version, resolution=spec["deviation"]["resolution"]),
        )
        # Opened during the batch's last step, closed by QA the day after it ended.
        session.execute(
            update(Deviation)
            .where(Deviation.id == deviation.id)
            .values(opened_at=moment - timedelta(hours=8), closed_at=moment + timedelta(days=1))
        )
    batch_records.complete_batch(
        session,
        plant.planner,
        batch_id,
        BatchComplete(
            version=_version(session, plant, batch_id),
            actual_quantity=Decimal(spec["output"]),
            completed_at=moment,
        ),
    )
    tested_on = (moment + timedelta(days=QC_DAYS)).date()
    product = session.get(Product, batch.product_id)
    assert product is not None
    for specification in product.specifications:
        given = spec.get("results", {}).get(specification.test)
        if specification.acceptance_text is not None:
            record = QcRecord(
                text_result="Conforms", conforms=True, tested_on=tested_on, analyst="Zhao Min"
            )
        else:
            record = QcRecord(
                value=Decimal(given) if given else _typical(specification),
                tested_on=tested_on,
                analyst="Zhao Min",
            )
        batch_records.record_qc(session, plant.planner, batch_id, specification.id, record)
    version = _version(session, plant, batch_id)
    if "reject" in spec:
        batch_records.reject_batch(
            session,
            plant.qa,
            batch_id,
            BatchReject(version=version, password=plant.password, reason=spec["reject"].strip()),
        )
    else:
        batch_records.release_batch(
            session, plant.qa, batch_id, BatchRelease(version=version, password=plant.password)
        )
    _backdate_disposition(session, batch_id, moment + timedelta(days=QA_DAYS))
    session.expire_all()
    refreshed = session.get(Batch, batch_id)
    assert refreshed is not None
    return refreshed.batch_number


def _unit_for(session: Session, plant: _Plant, equipment_class: str, spec: Raw) -> uuid.UUID:
    """The first GMP unit of the class (the deviation's batch dried on D-302)."""
    units = plant.unit_classes[equipment_class]
    if "deviation" in spec and equipment_class == "dryer":
        return plant.units["D-302"]
    del session
    return units[0]


def _typical(specification: Any) -> Decimal:
    """A believable passing result: the middle of two limits, else 60 % of the upper limit or
    101 % of the lower one."""
    low, high = specification.lower_limit, specification.upper_limit
    if low is not None and high is not None:
        return ((Decimal(low) + Decimal(high)) / 2).quantize(Decimal("0.1"))
    if high is not None:
        return (Decimal(high) * Decimal("0.6")).quantize(Decimal("0.01"))
    assert low is not None
    return (Decimal(low) * Decimal("1.01")).quantize(Decimal("0.1"))


def _backdate_disposition(session: Session, batch_id: uuid.UUID, when: datetime) -> None:
    """A past batch was signed in the past: its disposition and signature carry that date."""
    batch = session.get(Batch, batch_id)
    assert batch is not None
    assert batch.disposition_signature_id is not None
    session.execute(
        update(Signature)
        .where(Signature.id == batch.disposition_signature_id)
        .values(signed_at=when)
    )
    session.execute(update(Batch).where(Batch.id == batch_id).values(disposed_at=when))


def _schedule(session: Session, plant: _Plant, spec: Raw, counts: Counter[str]) -> None:
    queued = scheduling.request_schedule(
        session,
        plant.planner,
        plant.plant_id,
        ScheduleRequest(
            time_limit_s=spec["time_limit_s"], workers=spec["workers"], warm_start=False
        ),
    )
    scheduling.solve_in_session(session, queued.id)
    counts["schedules"] += 1


__all__ = ["load_manufacturing"]
