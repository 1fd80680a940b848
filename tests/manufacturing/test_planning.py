"""Planning an order into batches: counts, quantities, numbers, the BOM explosion, re-planning."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from opencxo.core.audit import AuditEvent
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted
from opencxo.manufacturing import planning, service
from opencxo.manufacturing.models import Batch, BatchStep, ProductionOrder, Recipe
from tests.manufacturing.conftest import PlantWorld

API_OUT = Decimal("50") * Decimal("0.85") * Decimal("0.95") * Decimal("0.98")  # 39.5675 kg
INT_OUT = Decimal("100") * Decimal("0.90") * Decimal("0.95")  # 85.5 kg
YY = date.today().strftime("%y")


def _plan(plant: PlantWorld, number: str = "PO-A-1", who: str = "cdmo") -> list:
    batches = planning.plan_order(plant.session, plant[who], plant.orders[number])
    plant.session.commit()
    return batches


def test_an_order_becomes_batches_of_its_product_and_of_the_intermediate_it_needs(
    plant: PlantWorld,
) -> None:
    assert Decimal("39.567500") == API_OUT
    batches = _plan(plant)

    api = [b for b in batches if b.product_code == "API-1"]
    inter = [b for b in batches if b.product_code == "INT-1"]
    # 80 kg / 39.5675 kg = 2.02 → 3 batches; they need 3 × 60 = 180 kg INT-1: 180 / 85.5 → 3
    assert [b.batch_number for b in api] == [
        f"API-1-{YY}-0001",
        f"API-1-{YY}-0002",
        f"API-1-{YY}-0003",
    ]
    assert [b.batch_number for b in inter] == [
        f"INT-1-{YY}-0001",
        f"INT-1-{YY}-0002",
        f"INT-1-{YY}-0003",
    ]
    assert {b.planned_quantity for b in api} == {Decimal("39.5675")}
    assert {b.planned_quantity for b in inter} == {Decimal("85.5")}
    assert {b.status for b in batches} == {"planned"}
    assert {b.unit for b in batches} == {"kg"}
    rows = plant.session.scalars(select(Batch)).all()
    assert len(rows) == 6
    assert {r.sponsor_id for r in rows} == {plant.sponsor_a_id}
    assert {r.provider_id for r in rows} == {plant.provider_id}
    assert {r.order_id for r in rows} == {plant.orders["PO-A-1"]}
    assert {r.recipe_id for r in rows if r.product_id == plant.products["INT-1"]} == {
        plant.recipes["INT-1"]
    }
    events = plant.session.scalars(select(AuditEvent).where(AuditEvent.action == "planned")).all()
    assert len(events) == 1
    assert events[0].after["planned_batches"][0] == f"API-1-{YY}-0001"


def test_a_tablet_order_explodes_two_levels(plant: PlantWorld) -> None:
    order = ProductionOrder(
        provider_id=plant.provider_id,
        sponsor_id=plant.sponsor_a_id,
        plant_id=plant.plant_id,
        product_id=plant.products["TAB-1"],
        number="PO-A-TAB",
        quantity=Decimal("500000"),
        due_date=date.today(),
        priority=1,
    )
    plant.session.add(order)
    plant.session.commit()
    batches = planning.plan_order(plant.session, plant["cdmo"], order.id)
    counts = {
        code: sum(1 for b in batches if b.product_code == code)
        for code in ("TAB-1", "API-1", "INT-1")
    }
    # TAB: 200000 × 0.98 × 0.99 = 194040 units → 500000 / 194040 → 3 batches
    # API: 3 × 10 kg = 30 kg / 39.5675 → 1 batch; INT: 1 × 60 kg / 85.5 → 1 batch
    assert counts == {"TAB-1": 3, "API-1": 1, "INT-1": 1}
    assert {b.planned_quantity for b in batches if b.product_code == "TAB-1"} == {Decimal("194040")}


def test_a_batch_counted_in_units_makes_whole_units(plant: PlantWorld) -> None:
    recipe = plant.session.get(Recipe, plant.recipes["TAB-1"])
    assert recipe is not None
    recipe.steps[0].yield_fraction = Decimal("0.9871")
    order = ProductionOrder(
        provider_id=plant.provider_id, sponsor_id=plant.sponsor_a_id, plant_id=plant.plant_id,
        product_id=plant.products["TAB-1"], number="PO-A-TAB", quantity=Decimal("500000"),
        due_date=date.today(), priority=1,
    )  # fmt: skip
    plant.session.add(order)
    plant.session.commit()
    batches = planning.plan_order(plant.session, plant["cdmo"], order.id)
    # 200000 × 0.9871 × 0.99 = 195445.8 tablets: a batch makes 195445, not a fraction more
    assert [b.planned_quantity for b in batches if b.product_code == "TAB-1"] == [
        Decimal("195445")
    ] * 3
    read = service.get_recipe(plant.session, plant["cdmo"], plant.recipes["TAB-1"])
    assert read.output_per_batch == Decimal("195445")


def test_replanning_replaces_planned_batches_and_keeps_started_ones(plant: PlantWorld) -> None:
    _plan(plant)
    first = plant.session.scalars(
        select(Batch).where(Batch.batch_number == f"API-1-{YY}-0001")
    ).one()
    first.status = "completed"
    first.actual_quantity = Decimal("30")
    first.steps = [BatchStep(sequence=1, operation="Deprotection")]
    plant.session.commit()

    batches = _plan(plant)

    api = [b for b in batches if b.product_code == "API-1"]
    # kept 30 kg; the shortfall of 50 kg needs ceil(50 / 39.5675) = 2 new batches
    assert [(b.batch_number, b.status) for b in api] == [
        (f"API-1-{YY}-0001", "completed"),
        (f"API-1-{YY}-0004", "planned"),
        (f"API-1-{YY}-0005", "planned"),
    ]
    # 3 API batches still need 180 kg INT-1 → 3 new ones (the old planned ones are gone)
    inter = [b.batch_number for b in batches if b.product_code == "INT-1"]
    assert inter == [f"INT-1-{YY}-0004", f"INT-1-{YY}-0005", f"INT-1-{YY}-0006"]
    assert (
        plant.session.scalar(select(Batch).where(Batch.batch_number == f"INT-1-{YY}-0001")) is None
    )


def test_an_order_of_too_many_batches_is_refused_and_changes_nothing(plant: PlantWorld) -> None:
    before = sorted(b.batch_number for b in _plan(plant))
    order = plant.session.get(ProductionOrder, plant.orders["PO-A-1"])
    assert order is not None
    # 600 × 39.5675 kg: 600 API-1 batches, which need 36,000 kg INT-1 → 422 batches
    order.quantity = API_OUT * 600
    plant.session.commit()
    with pytest.raises(Invalid) as info:
        _plan(plant)
    assert str(info.value) == (
        "this order would need 1022 new batches (API-1 600, INT-1 422); at most 1000 can be "
        "planned at once: check the quantity and the recipes' batch sizes, or split the order"
    )
    assert info.value.field_errors == {"quantity": "needs more than 1000 batches"}
    plant.session.rollback()
    assert sorted(plant.session.scalars(select(Batch.batch_number)).all()) == before
    order.quantity = API_OUT * 500  # 500 + ceil(30,000 / 85.5) = 851: planned
    plant.session.commit()
    assert len(_plan(plant)) == 851


def test_cancelled_orders_are_not_planned(plant: PlantWorld) -> None:
    order = plant.session.get(ProductionOrder, plant.orders["PO-A-1"])
    assert order is not None
    order.status = "cancelled"
    plant.session.commit()
    with pytest.raises(Conflict):
        _plan(plant)
    assert plant.session.scalars(select(Batch)).all() == []


def test_only_the_providers_writers_plan(plant: PlantWorld) -> None:
    with pytest.raises(NotPermitted):
        _plan(plant, who="viewer")
    with pytest.raises(NotPermitted):
        _plan(plant, who="sponsor")  # A sees its order, never writes plant rows
    with pytest.raises(NotFound):
        _plan(plant, who="other_sponsor")
    with pytest.raises(NotFound):
        _plan(plant, who="other_cdmo")
