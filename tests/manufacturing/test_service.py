"""Manufacturing master data and orders through the service: validation messages, BOM cycles,
sponsor isolation, stale versions and the audit trail."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from opencxo.core.audit import AuditEvent
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted
from opencxo.core.pagination import PageParams
from opencxo.manufacturing import service
from opencxo.manufacturing.models import (
    Batch,
    BatchStep,
    OrderStatus,
    ProductKind,
)
from opencxo.manufacturing.schemas import (
    BomLineInput,
    ChangeoverInput,
    ChangeoverKey,
    CleaningTimeInput,
    MaintenanceWindowCreate,
    OrderCancel,
    OrderCreate,
    OrderUpdate,
    ProductCreate,
    ProductUpdate,
    RecipeInput,
    RecipeStepInput,
    RecipeUpdate,
    SpecificationCreate,
    SpecificationUpdate,
    UnitCreate,
    UnitUpdate,
)
from tests.manufacturing.conftest import TODAY, PlantWorld

ALL = PageParams(page=1, page_size=100)


def events(world: PlantWorld, entity_type: str) -> list[AuditEvent]:
    return list(
        world.session.execute(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type)
            .order_by(AuditEvent.sequence)
        ).scalars()
    )


def step(cls: str = "reactor", hours: str = "5", y: str = "0.9") -> RecipeStepInput:
    return RecipeStepInput(
        operation="Op",
        equipment_class=cls,
        duration_hours=Decimal(hours),
        yield_fraction=Decimal(y),
    )


# --- plants and units ----------------------------------------------------------------------------


def test_plants_list_units_and_hide_from_sponsors(plant: PlantWorld) -> None:
    s = plant.session
    plants = service.list_plants(s, plant["viewer"])
    main = next(p for p in plants if p.id == plant.plant_id)
    assert (main.unit_count, main.inactive_unit_count, main.provider_name) == (6, 0, "Kestrel CDMO")
    assert service.list_plants(s, plant["sponsor"]) == []
    with pytest.raises(NotFound):
        service.get_plant(s, plant["sponsor"], plant.plant_id)
    with pytest.raises(NotFound):
        service.get_plant(s, plant["other_cdmo"], plant.plant_id)
    read = service.get_plant(s, plant["cdmo"], plant.plant_id)
    assert read.equipment_classes == [
        "dryer", "filter_dryer", "granulator", "reactor", "tablet_press"
    ]  # fmt: skip
    assert {c.equipment_class: c.product_change_hours for c in read.cleaning_times}["reactor"] == 8


def test_unit_lifecycle_validation_and_audit(plant: PlantWorld) -> None:
    s, admin = plant.session, plant["cdmo"]
    with pytest.raises(Conflict) as dup:
        service.add_unit(s, admin, plant.plant_id, UnitCreate(
            code="R-101", name="x", equipment_class="reactor", capacity=Decimal(1),
            capacity_unit="L"))  # fmt: skip
    assert dup.value.field_errors == {"code": "already used in this plant; choose another code"}
    with pytest.raises(ValueError, match="equipment class 'Big Reactor'"):
        UnitCreate(code="X", name="x", equipment_class="Big Reactor", capacity=Decimal(1),
                   capacity_unit="L")  # fmt: skip
    with pytest.raises(ValueError, match="greater than 0"):
        UnitCreate(code="X", name="x", equipment_class="reactor", capacity=Decimal(0),
                   capacity_unit="L")  # fmt: skip
    with pytest.raises(NotPermitted):
        service.add_unit(s, plant["viewer"], plant.plant_id, UnitCreate(
            code="R-103", name="x", equipment_class="reactor", capacity=Decimal(1),
            capacity_unit="L"))  # fmt: skip
    unit = service.add_unit(s, admin, plant.plant_id, UnitCreate(
        code="R-103", name="Reactor 3", equipment_class="Reactor", capacity=Decimal(1000),
        capacity_unit="L", gmp_grade="non_gmp"))  # type: ignore[arg-type]  # fmt: skip
    assert (unit.equipment_class, unit.gmp_grade.value, unit.version) == ("reactor", "non_gmp", 1)
    changed = service.update_unit(s, admin, unit.id, UnitUpdate(version=1, active=False))
    assert (changed.active, changed.version) == (False, 2)
    with pytest.raises(Conflict, match=r"version 2, you sent 1"):
        service.update_unit(s, admin, unit.id, UnitUpdate(version=1, name="y"))
    window = service.add_maintenance(s, admin, unit.id, MaintenanceWindowCreate(
        starts_at=datetime(2030, 1, 1, 8, tzinfo=UTC),
        ends_at=datetime(2030, 1, 1, 18, tzinfo=UTC)))  # fmt: skip
    assert service.get_unit(s, admin, unit.id).maintenance_windows[0].id == window.id
    service.delete_maintenance(s, admin, window.id)
    service.delete_unit(s, admin, unit.id)
    assert [e.action for e in events(plant, "equipment_unit")] == ["create", "update", "delete"]
    assert [e.action for e in events(plant, "maintenance_window")] == ["create", "delete"]
    assert events(plant, "equipment_unit")[1].before["active"] is True  # type: ignore[index]


def test_maintenance_window_must_end_after_it_starts_and_be_utc() -> None:
    with pytest.raises(ValueError, match="ends_at must be after starts_at"):
        MaintenanceWindowCreate(starts_at=datetime(2030, 1, 2, tzinfo=UTC),
                                ends_at=datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip
    with pytest.raises(ValueError, match="time zone"):
        MaintenanceWindowCreate(starts_at=datetime(2030, 1, 1), ends_at=datetime(2030, 1, 2))
    from datetime import timezone

    window = MaintenanceWindowCreate(
        starts_at=datetime(2030, 1, 1, 10, tzinfo=timezone(timedelta(hours=2))),
        ends_at=datetime(2030, 1, 1, 12, tzinfo=UTC),
    )
    assert window.starts_at == datetime(2030, 1, 1, 8, tzinfo=UTC)


def test_a_used_unit_cannot_be_deleted_only_deactivated(plant: PlantWorld) -> None:
    s = plant.session
    batch = Batch(provider_id=plant.provider_id, sponsor_id=plant.sponsor_a_id,
                  order_id=plant.orders["PO-A-1"], product_id=plant.products["API-1"],
                  recipe_id=plant.recipes["API-1"], batch_number="B-1",
                  planned_quantity=Decimal(39))  # fmt: skip
    batch.steps = [BatchStep(sequence=1, operation="Deprotection", unit_id=plant.units["R-101"])]
    s.add(batch)
    s.flush()
    with pytest.raises(
        Conflict, match=r"R-101 is used by a batch record .*\(set active to false\)"
    ):
        service.delete_unit(s, plant["cdmo"], plant.units["R-101"])


def test_cleaning_times_upsert_and_changeovers(plant: PlantWorld) -> None:
    s, admin = plant.session, plant["cdmo"]
    row = service.set_cleaning_time(s, admin, plant.plant_id, "reactor", CleaningTimeInput(
        same_product_hours=Decimal(3), product_change_hours=Decimal(12)))  # fmt: skip
    assert (row.same_product_hours, row.product_change_hours, row.version) == (3, 12, 2)
    new = service.set_cleaning_time(s, admin, plant.plant_id, "coater", CleaningTimeInput(
        same_product_hours=Decimal(0), product_change_hours=Decimal(2), version=0))  # fmt: skip
    assert new.version == 1
    # "Add" (version 0) when another user added the class's times meanwhile: refused, kept.
    with pytest.raises(Conflict, match="coater has cleaning times already"):
        service.set_cleaning_time(s, admin, plant.plant_id, "coater", CleaningTimeInput(
            same_product_hours=Decimal(5), product_change_hours=Decimal(5), version=0))  # fmt: skip
    with pytest.raises(Conflict, match="cleaning times of dryer-x were removed"):
        service.set_cleaning_time(s, admin, plant.plant_id, "dryer-x", CleaningTimeInput(
            same_product_hours=Decimal(5), product_change_hours=Decimal(5), version=3))  # fmt: skip
    coater = {
        c.equipment_class: c for c in service.get_plant(s, admin, plant.plant_id).cleaning_times
    }
    assert (coater["coater"].same_product_hours, coater["coater"].version) == (0, 1)
    assert "dryer-x" not in coater
    with pytest.raises(Invalid) as bad:
        service.set_cleaning_time(s, admin, plant.plant_id, "Bad Class!", CleaningTimeInput(
            same_product_hours=Decimal(0), product_change_hours=Decimal(2)))  # fmt: skip
    assert "equipment_class" in bad.value.field_errors
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        CleaningTimeInput(same_product_hours=Decimal(-1), product_change_hours=Decimal(2))
    with pytest.raises(Conflict):
        service.set_cleaning_time(s, admin, plant.plant_id, "reactor", CleaningTimeInput(
            same_product_hours=Decimal(1), product_change_hours=Decimal(1), version=1))  # fmt: skip
    override = ChangeoverInput(from_product_id=plant.products["API-B"],
                               to_product_id=plant.products["API-1"],
                               equipment_class="reactor", hours=Decimal(24))  # fmt: skip
    read = service.set_changeover(s, admin, plant.plant_id, override)
    assert (read.from_product_code, read.to_product_code, read.hours) == ("API-B", "API-1", 24)
    again = service.set_changeover(
        s, admin, plant.plant_id, override.model_copy(update={"hours": Decimal(30)})
    )
    assert again.id == read.id and again.hours == 30
    assert service.get_plant(s, admin, plant.plant_id).changeovers[0].hours == 30
    with pytest.raises(Invalid) as same:
        service.set_changeover(s, admin, plant.plant_id, override.model_copy(
            update={"to_product_id": plant.products["API-B"]}))  # fmt: skip
    assert "same-product cleaning time" in same.value.field_errors["to_product_id"]
    service.delete_changeover(
        s, admin, plant.plant_id, ChangeoverKey.model_validate(override.model_dump())
    )
    with pytest.raises(NotFound):
        service.delete_changeover(
            s, admin, plant.plant_id, ChangeoverKey.model_validate(override.model_dump())
        )
    assert [e.action for e in events(plant, "changeover_override")] == [
        "create",
        "update",
        "delete",
    ]
    assert [e.action for e in events(plant, "cleaning_time")] == ["update", "create"]


# --- products and specifications -----------------------------------------------------------------


def test_product_rules(plant: PlantWorld) -> None:
    s, admin = plant.session, plant["cdmo"]
    base = {"code": "TAB-2", "name": "Tablets", "kind": "drug_product", "unit": "units",
            "sponsor_id": plant.sponsor_a_id}  # fmt: skip
    with pytest.raises(Invalid) as drug:
        service.create_product(s, admin, ProductCreate.model_validate(base))
    assert set(drug.value.field_errors) == {"dosage_form", "strength"}
    with pytest.raises(Invalid) as sponsor:
        service.create_product(s, admin, ProductCreate.model_validate(
            {**base, "sponsor_id": plant.other_provider_id, "dosage_form": "tablet",
             "strength": "5 mg"}))  # fmt: skip
    assert sponsor.value.field_errors == {"sponsor_id": "choose a sponsor organisation"}
    with pytest.raises(Conflict):
        service.create_product(s, admin, ProductCreate.model_validate({**base, "code": "API-1",
                               "kind": "api"}))  # fmt: skip
    with pytest.raises(NotPermitted):
        service.create_product(
            s, plant["sponsor"], ProductCreate.model_validate({**base, "kind": "api"})
        )
    product = service.create_product(s, admin, ProductCreate.model_validate(
        {**base, "dosage_form": "tablet", "strength": "5 mg"}))  # fmt: skip
    assert (product.sponsor_name, product.provider_name, product.viewer_role) == (
        "Sponsor A Bio",
        "Kestrel CDMO",
        "provider",
    )
    with pytest.raises(Invalid):
        service.update_product(s, admin, product.id, ProductUpdate(version=1, strength=""))
    updated = service.update_product(
        s, admin, product.id, ProductUpdate(version=1, kind=ProductKind.API, strength="")
    )
    assert (updated.kind, updated.strength, updated.version) == (ProductKind.API, None, 2)
    with pytest.raises(Conflict, match="version 2, you sent 1"):
        service.update_product(s, admin, product.id, ProductUpdate(version=1, name="x"))
    assert [e.action for e in events(plant, "product")] == ["create", "update"]


def test_sponsor_isolation_of_products(plant: PlantWorld) -> None:
    s = plant.session
    api1 = plant.products["API-1"]
    mine = service.list_products(s, plant["sponsor"], params=ALL)
    assert {p.code for p in mine.items} == {"INT-1", "API-1", "TAB-1"}
    assert all(p.recipe_count == 0 for p in mine.items)  # recipes are the plant's
    assert {p.code for p in service.list_products(s, plant["other_sponsor"], params=ALL).items} == {
        "API-B"
    }
    assert service.list_products(s, plant["other_cdmo"], params=ALL).total == 0
    read = service.get_product(s, plant["sponsor"], api1)
    assert (read.viewer_role, read.recipes, len(read.specifications)) == ("sponsor", [], 3)
    with pytest.raises(NotFound):
        service.get_product(s, plant["other_sponsor"], api1)
    with pytest.raises(NotPermitted):
        service.update_product(s, plant["sponsor"], api1, ProductUpdate(version=1, name="x"))
    with pytest.raises(NotFound):
        service.update_product(s, plant["other_sponsor"], api1, ProductUpdate(version=1, name="x"))
    with pytest.raises(NotFound):
        service.get_recipe(s, plant["sponsor"], plant.recipes["API-1"])
    filtered = service.list_products(
        s, plant["cdmo"], params=PageParams(sort="-code"), kind=ProductKind.API
    )
    assert [p.code for p in filtered.items] == ["API-B", "API-1"]


def test_specification_kinds(plant: PlantWorld) -> None:
    s, admin, api1 = plant.session, plant["cdmo"], plant.products["API-1"]
    with pytest.raises(Invalid) as both:
        service.add_specification(s, admin, api1, SpecificationCreate(
            test="Color", method="Visual", upper_limit=Decimal(1), acceptance_text="White"))  # fmt: skip
    assert "acceptance_text" in both.value.field_errors
    with pytest.raises(Invalid) as neither:
        service.add_specification(
            s, admin, api1, SpecificationCreate(test="Color", method="Visual")
        )
    assert "lower_limit" in neither.value.field_errors
    with pytest.raises(Invalid) as crossed:
        service.add_specification(s, admin, api1, SpecificationCreate(
            test="pH", method="USP", lower_limit=Decimal(7), upper_limit=Decimal(5)))  # fmt: skip
    assert crossed.value.field_errors == {"upper_limit": "must be at least the lower limit (7)"}
    with pytest.raises(Conflict):
        service.add_specification(s, admin, api1, SpecificationCreate(
            test="Assay", method="x", lower_limit=Decimal(1)))  # fmt: skip
    spec = service.add_specification(s, admin, api1, SpecificationCreate(
        test="Appearance", method="Visual", acceptance_text="White powder"))  # fmt: skip
    assert spec.position == 3
    with pytest.raises(Invalid):  # a limit added to a text test: both kinds
        service.update_specification(s, admin, spec.id, SpecificationUpdate(
            version=1, lower_limit=Decimal(1)))  # fmt: skip
    turned = service.update_specification(s, admin, spec.id, SpecificationUpdate(
        version=1, lower_limit=Decimal(1), acceptance_text=None))  # fmt: skip
    assert (turned.lower_limit, turned.acceptance_text) == (1, None)
    with pytest.raises(NotPermitted):
        service.delete_specification(s, plant["sponsor"], spec.id)
    service.delete_specification(s, admin, spec.id)
    assert [e.action for e in events(plant, "specification")] == ["create", "update", "delete"]


# --- recipes -------------------------------------------------------------------------------------


def test_recipe_read_derives_output_and_cycle(plant: PlantWorld) -> None:
    recipe = service.get_recipe(plant.session, plant["viewer"], plant.recipes["API-1"])
    # 50 × 0.85 × 0.95 × 0.98 = 39.5675 (kg, exact: planning divides by it)
    assert recipe.output_per_batch == Decimal("39.5675")
    assert recipe.cycle_hours == Decimal(30)
    assert [b.component_code for b in recipe.bom] == ["INT-1"]
    assert recipe.plant_name == "Main plant"


def test_recipe_validation_names_fields(plant: PlantWorld) -> None:
    s, admin = plant.session, plant["cdmo"]
    product = service.create_product(s, admin, ProductCreate(
        code="INT-2", name="Second intermediate", kind=ProductKind.INTERMEDIATE,
        sponsor_id=plant.sponsor_a_id))  # fmt: skip
    data = RecipeInput(plant_id=plant.plant_id, batch_size=Decimal(100), steps=[
        step(), step("reactor", "0", "1.2"), step("centrifuge")])  # fmt: skip
    with pytest.raises(Invalid) as bad:
        service.create_recipe(s, admin, product.id, data)
    errors = bad.value.field_errors
    assert errors["steps[1].duration_hours"] == "must be greater than 0 hours"
    assert errors["steps[1].yield_fraction"] == "must be above 0 and at most 1 (e.g. 0.95)"
    assert errors["steps[2].equipment_class"] == (
        "Main plant has no unit in service of class 'centrifuge'; its classes: dryer, "
        "filter_dryer, granulator, reactor, tablet_press"
    )
    with pytest.raises(Invalid) as empty:
        service.create_recipe(
            s, admin, product.id, RecipeInput(plant_id=plant.plant_id, batch_size=Decimal(1))
        )
    assert empty.value.field_errors == {"steps": "add at least one step"}
    with pytest.raises(Invalid) as foreign:
        service.create_recipe(s, admin, product.id, RecipeInput(
            plant_id=plant.plant_id, batch_size=Decimal(1), steps=[step()],
            bom=[BomLineInput(component_product_id=uuid.uuid4(), quantity_per_batch=Decimal(1))]))  # fmt: skip
    assert foreign.value.field_errors == {
        "bom[0].component_product_id": "choose a product of the same provider"
    }
    made = service.create_recipe(s, admin, product.id, RecipeInput(
        plant_id=plant.plant_id, batch_size=Decimal(80), steps=[step("reactor", "4", "0.5")],
        bom=[BomLineInput(material_name="Ethanol", quantity_per_batch=Decimal(20))]))  # fmt: skip
    assert (made.output_per_batch, made.cycle_hours) == (Decimal("40.000"), Decimal(4))
    with pytest.raises(Conflict):
        service.create_recipe(s, admin, product.id, RecipeInput(
            plant_id=plant.plant_id, batch_size=Decimal(1), steps=[step()]))  # fmt: skip
    assert [e.action for e in events(plant, "recipe")] == ["create"]


def test_bom_cycles_are_refused_with_the_chain(plant: PlantWorld) -> None:
    s, admin = plant.session, plant["cdmo"]
    recipe = service.get_recipe(s, admin, plant.recipes["INT-1"])
    # INT-1 consuming TAB-1 closes TAB-1 → API-1 → INT-1 → TAB-1.
    data = RecipeUpdate(
        version=recipe.version, plant_id=plant.plant_id, batch_size=Decimal(100),
        steps=[step()],
        bom=[BomLineInput(component_product_id=plant.products["TAB-1"], quantity_per_batch=Decimal(1),
                          unit="units")],  # type: ignore[arg-type]
    )  # fmt: skip
    with pytest.raises(Invalid) as cycle:
        service.update_recipe(s, admin, recipe.id, data)
    assert cycle.value.field_errors == {
        "bom[0].component_product_id": "INT-1 would consume itself: INT-1 → TAB-1 → API-1 → INT-1"
    }
    itself = data.model_copy(update={"bom": [BomLineInput(
        component_product_id=plant.products["INT-1"], quantity_per_batch=Decimal(1))]})  # fmt: skip
    with pytest.raises(Invalid, match="INT-1 → INT-1"):
        service.update_recipe(s, admin, recipe.id, itself)
    # A whole replacement: new steps, no BOM; the version moves on.
    replaced = service.update_recipe(s, admin, recipe.id, data.model_copy(update={"bom": []}))
    assert (len(replaced.steps), replaced.bom, replaced.version) == (1, [], recipe.version + 1)
    with pytest.raises(Conflict, match="version"):
        service.update_recipe(s, admin, recipe.id, data.model_copy(update={"bom": []}))


# --- orders --------------------------------------------------------------------------------------


def order_data(plant: PlantWorld, **changes: object) -> OrderCreate:
    return OrderCreate.model_validate({
        "product_id": plant.products["API-1"], "plant_id": plant.plant_id,
        "quantity": "120", "due_date": TODAY + timedelta(days=60), "priority": 5, **changes,
    })  # fmt: skip


def test_create_order_numbers_and_reads(plant: PlantWorld) -> None:
    s, admin = plant.session, plant["cdmo"]
    first = service.create_order(s, admin, order_data(plant))
    second = service.create_order(s, admin, order_data(plant, priority=1))
    year = datetime.now(UTC).year
    assert (first.number, second.number) == (f"PO-{year}-001", f"PO-{year}-002")
    assert (first.sponsor_name, first.product_code, first.plant_name, first.status) == (
        "Sponsor A Bio",
        "API-1",
        "Main plant",
        OrderStatus.OPEN,
    )
    assert first.batches == [] and first.batch_count == 0
    with pytest.raises(Conflict):
        service.create_order(s, admin, order_data(plant, number=first.number))
    assert service.next_order_number(s, plant.provider_id, date(1999, 5, 1)) == "PO-1999-001"
    assert len(events(plant, "production_order")) == 2


def test_create_order_validation(plant: PlantWorld) -> None:
    s, admin = plant.session, plant["cdmo"]
    with pytest.raises(ValueError, match="release_date must be on or before due_date"):
        order_data(plant, release_date=TODAY + timedelta(days=61))
    with pytest.raises(ValueError, match="less than or equal to 10"):
        order_data(plant, priority=11)
    with pytest.raises(ValueError, match="greater than 0"):
        order_data(plant, quantity="0")
    other_plant = service.readable_plants(s, plant["other_cdmo"])[0].id
    with pytest.raises(Invalid) as foreign:
        service.create_order(s, admin, order_data(plant, plant_id=other_plant))
    assert "plant_id" in foreign.value.field_errors
    from opencxo.parties.models import Site

    second = Site(organization_id=plant.provider_id, name="Second plant", site_type="plant",
                  country="DE", city="Berlin")  # fmt: skip
    s.add(second)
    s.flush()
    s.expire_all()
    with pytest.raises(Invalid) as no_recipe:
        service.create_order(s, admin, order_data(plant, plant_id=second.id))
    assert no_recipe.value.field_errors["plant_id"].startswith(
        "Second plant has no recipe for API-1"
    )
    with pytest.raises(Invalid) as wo:
        service.create_order(s, admin, order_data(plant, work_order_id=uuid.uuid4()))
    assert wo.value.field_errors == {"work_order_id": "choose a work order of your organisation"}
    with pytest.raises(NotPermitted):
        service.create_order(s, plant["sponsor"], order_data(plant))
    with pytest.raises(NotFound):
        service.create_order(s, plant["other_sponsor"], order_data(plant))
    with pytest.raises(NotPermitted):
        service.create_order(s, plant["viewer"], order_data(plant))


def test_sponsors_see_only_their_orders_and_cannot_write(plant: PlantWorld) -> None:
    s = plant.session
    a_order, b_order = plant.orders["PO-A-1"], plant.orders["PO-B-1"]
    assert [o.number for o in service.list_orders(s, plant["sponsor"], params=ALL).items] == [
        "PO-A-1"
    ]
    assert [o.number for o in service.list_orders(s, plant["other_sponsor"], params=ALL).items] == [
        "PO-B-1"
    ]
    assert service.list_orders(s, plant["other_cdmo"], params=ALL).total == 0
    assert [o.number for o in service.list_orders(s, plant["cdmo"], params=ALL).items] == [
        "PO-B-1",
        "PO-A-1",
    ]
    read = service.get_order(s, plant["sponsor"], a_order)
    assert (read.viewer_role, read.quantity, read.unit.value) == ("sponsor", Decimal(80), "kg")
    with pytest.raises(NotFound):
        service.get_order(s, plant["sponsor"], b_order)
    with pytest.raises(NotPermitted):
        service.update_order(s, plant["sponsor"], a_order, OrderUpdate(version=1, priority=9))
    with pytest.raises(NotFound):
        service.cancel_order(s, plant["other_sponsor"], a_order, OrderCancel(version=1))


def test_order_filters_and_sorts(plant: PlantWorld) -> None:
    s, admin = plant.session, plant["cdmo"]
    by_priority = service.list_orders(s, admin, params=PageParams(sort="-priority"))
    assert [o.number for o in by_priority.items] == ["PO-A-1", "PO-B-1"]
    by_product = service.list_orders(s, admin, params=PageParams(sort="product"))
    assert [o.product_code for o in by_product.items] == ["API-1", "API-B"]
    soon = service.list_orders(s, admin, params=ALL, due_before=TODAY + timedelta(days=25))
    assert [o.number for o in soon.items] == ["PO-B-1"]
    later = service.list_orders(s, admin, params=ALL, due_after=TODAY + timedelta(days=25),
                                sponsor_id=plant.sponsor_a_id, plant_id=plant.plant_id)  # fmt: skip
    assert [o.number for o in later.items] == ["PO-A-1"]
    assert service.list_orders(s, admin, params=ALL, status=OrderStatus.CANCELLED).total == 0


def test_update_and_cancel_order(plant: PlantWorld) -> None:
    s, admin, order_id = plant.session, plant["cdmo"], plant.orders["PO-A-1"]
    with pytest.raises(Invalid) as late:
        service.update_order(
            s, admin, order_id, OrderUpdate(version=1, release_date=TODAY + timedelta(days=90))
        )
    assert "release_date" in late.value.field_errors
    changed = service.update_order(
        s, admin, order_id, OrderUpdate(version=1, quantity=Decimal(100), priority=8)
    )
    assert (changed.quantity, changed.priority, changed.version) == (100, 8, 2)
    with pytest.raises(Conflict, match="version 2, you sent 1"):
        service.update_order(s, admin, order_id, OrderUpdate(version=1, priority=1))
    batch = Batch(provider_id=plant.provider_id, sponsor_id=plant.sponsor_a_id, order_id=order_id,
                  product_id=plant.products["API-1"], recipe_id=plant.recipes["API-1"],
                  batch_number="B-7", planned_quantity=Decimal("39.568"), status="in_progress")  # fmt: skip
    s.add(batch)
    s.flush()
    s.expire_all()
    read = service.get_order(s, plant["sponsor"], order_id)
    assert [(b.batch_number, b.status.value, b.planned_quantity) for b in read.batches] == [
        ("B-7", "in_progress", Decimal("39.568"))
    ]
    with pytest.raises(Conflict, match="batch B-7 of order PO-A-1 is in progress"):
        service.cancel_order(s, admin, order_id, OrderCancel(version=2))
    batch.status = "completed"
    planned = Batch(provider_id=plant.provider_id, sponsor_id=plant.sponsor_a_id,
                    order_id=order_id, product_id=plant.products["API-1"],
                    recipe_id=plant.recipes["API-1"], batch_number="B-8",
                    planned_quantity=Decimal("39.568"), status="planned")  # fmt: skip
    s.add(planned)
    s.flush()
    s.expire_all()
    cancelled = service.cancel_order(
        s, admin, order_id, OrderCancel(version=2, reason="demand fell")
    )
    assert cancelled.status == OrderStatus.CANCELLED
    # the made batch stays; the planned one will never be made and is gone
    assert [b.batch_number for b in cancelled.batches] == ["B-7"]
    assert s.scalars(select(Batch.batch_number).where(Batch.order_id == order_id)).all() == ["B-7"]
    with pytest.raises(Conflict, match="cancelled"):
        service.update_order(s, admin, order_id, OrderUpdate(version=3, priority=1))
    actions = [(e.action, e.reason) for e in events(plant, "production_order")]
    assert actions == [("update", None), ("cancel", "demand fell")]
