"""Bugs found by the QA pass of manufacturing (2026-12-05), one test each: exports that wrote
quantities as text, a BOM line in a unit its component is not counted in, certificates that a
later specification change broke or contradicted, batch times in the future, and inputs that
answered 500."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from opencxo.core.errors import Invalid, NotFound
from opencxo.core.types import utcnow
from opencxo.manufacturing import batch_records, planning, service
from opencxo.manufacturing.batch_schemas import (
    BatchComplete,
    BatchRelease,
    BatchStart,
    QcRecord,
    StepRecord,
)
from opencxo.manufacturing.models import Batch, ProductionOrder
from opencxo.manufacturing.schedule_schemas import ScheduledOperationRead
from opencxo.manufacturing.schedule_web import OPERATION_HEADERS, _operation_rows
from opencxo.manufacturing.schemas import (
    BomLineInput,
    OrderCreate,
    RecipeRead,
    RecipeStepInput,
    RecipeUpdate,
    SpecificationCreate,
    SpecificationUpdate,
)
from opencxo.web.exports import xlsx_response
from tests.factories import PASSWORD
from tests.manufacturing.batch_helpers import PASSING, add_results, make_batch
from tests.manufacturing.conftest import PlantWorld
from tests.web.conftest import csrf_of, login

# --- exports: quantities are number cells -------------------------------------------------------


def test_the_batch_export_writes_quantities_as_numbers(
    client: TestClient, plant: PlantWorld
) -> None:
    make_batch(plant, "API-1", "B-API-1", status="completed", planned="39.5675", actual="38.25")
    plant.session.commit()
    login(client, plant.emails["cdmo"])
    sheet = client.get("/mfg/batches.xlsx")
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0][6:9] == ("Planned quantity", "Actual quantity", "Unit")
    assert rows[1][6:9] == (39.5675, 38.25, "kg")  # were the text '39.567500', '38.250000'


def test_the_schedule_export_writes_changeover_hours_as_numbers() -> None:
    start = datetime(2027, 3, 1, 8, tzinfo=UTC)
    operation = ScheduledOperationRead(
        id=uuid.uuid4(), schedule_id=uuid.uuid4(), batch_id=uuid.uuid4(),
        batch_number="API-1-27-0001", product_id=uuid.uuid4(), product_code="API-1",
        product_name="Velorasib", order_id=uuid.uuid4(), order_number="PO-A-1",
        sponsor_id=uuid.uuid4(), sponsor_name="Sponsor A Bio", unit_id=uuid.uuid4(),
        unit_code="R-101", step_sequence=1, operation="Deprotection", starts_at=start,
        ends_at=start + timedelta(hours=12), changeover_hours=Decimal("8.000000"), late=False,
    )  # fmt: skip
    sheet = xlsx_response("s.xlsx", "Schedule", OPERATION_HEADERS, _operation_rows([operation]))
    rows = list(load_workbook(io.BytesIO(sheet.body)).active.iter_rows(values_only=True))
    assert rows[0][9:11] == ("Hours", "Changeover before (h)")
    assert rows[1][9:11] == (12, 8)  # the changeover was the text '8.000000'


# --- a BOM line is in its component's unit -----------------------------------------------------


def _api_1_with_bom(plant: PlantWorld, bom: list[BomLineInput]) -> tuple[RecipeRead, RecipeUpdate]:
    """API-1's recipe as read, and an update of it that keeps everything but the BOM."""
    recipe = service.get_recipe(plant.session, plant["cdmo"], plant.recipes["API-1"])
    steps = [RecipeStepInput.model_validate(step.model_dump()) for step in recipe.steps]
    body = RecipeUpdate(plant_id=plant.plant_id, batch_size=recipe.batch_size,
                        version=recipe.version, steps=steps, bom=bom)  # fmt: skip
    return recipe, body


def test_a_bom_line_of_a_product_must_use_the_products_unit(plant: PlantWorld) -> None:
    s, cdmo = plant.session, plant["cdmo"]
    # INT-1 is counted in kg: 60 "units" of it would be planned as 60 kg
    recipe, body = _api_1_with_bom(plant, [BomLineInput(
        component_product_id=plant.products["INT-1"], quantity_per_batch=Decimal(60), unit="units",
    )])  # fmt: skip
    with pytest.raises(Invalid) as refused:
        service.update_recipe(s, cdmo, recipe.id, body)
    assert refused.value.field_errors == {
        "bom[0].unit": "INT-1 is counted in kg: give the quantity in kg"
    }
    # a purchased material takes any unit; the component line in kg is accepted
    body.bom = [
        BomLineInput(component_product_id=plant.products["INT-1"], quantity_per_batch=Decimal(60)),
        BomLineInput(material_name="Capsule shells", quantity_per_batch=Decimal(5), unit="units"),
    ]
    saved = service.update_recipe(s, cdmo, recipe.id, body)
    assert [(b.component_code, b.unit.value) for b in saved.bom] == [
        ("INT-1", "kg"),
        (None, "units"),
    ]


def test_a_bom_line_may_not_consume_another_sponsors_product(plant: PlantWorld) -> None:
    s, cdmo = plant.session, plant["cdmo"]
    # API-B is sponsor B's: its batches would be planned on sponsor A's order
    recipe, body = _api_1_with_bom(plant, [BomLineInput(
        component_product_id=plant.products["API-B"], quantity_per_batch=Decimal(5),
    )])  # fmt: skip
    with pytest.raises(Invalid) as refused:
        service.update_recipe(s, cdmo, recipe.id, body)
    assert refused.value.field_errors == {
        "bom[0].component_product_id": "API-B is made for another sponsor; choose a product made "
        "for the sponsor of API-1"
    }
    assert service.get_recipe(s, cdmo, recipe.id).version == recipe.version


def test_the_recipe_editor_shows_the_unit_error_next_to_the_line(
    client: TestClient, plant: PlantWorld
) -> None:
    plant.session.commit()
    login(client, plant.emails["cdmo"])
    recipe_id = plant.recipes["API-1"]
    token = csrf_of(client.get(f"/mfg/recipes/{recipe_id}/edit").text)
    page = client.post(f"/mfg/recipes/{recipe_id}", data={
        "csrf_token": token, "version": "1", "plant_id": str(plant.plant_id), "batch_size": "50",
        "steps-0-operation": "Deprotection", "steps-0-equipment_class": "reactor",
        "steps-0-duration_hours": "12", "steps-0-yield_fraction": "0.85",
        "bom-2-component_product_id": str(plant.products["INT-1"]),
        "bom-2-quantity_per_batch": "60", "bom-2-unit": "units",
    })  # fmt: skip
    assert page.status_code == 422
    assert (
        'data-field-error="bom[2].unit">INT-1 is counted in kg: give the quantity in kg</div>'
        in page.text
    )


# --- the certificate states what QA released ----------------------------------------------------


def _released(plant: PlantWorld, *, through_the_service: bool = False) -> Batch:
    """B-API-1 released on passing results (recorded by the service: limits copied)."""
    batch = make_batch(plant, "API-1", "B-API-1", status="completed", actual="41.2")
    if not through_the_service:
        add_results(plant, batch, PASSING)
    else:
        for test, value in PASSING.items():
            body = QcRecord.model_validate({
                "tested_on": batch.manufactured_on, "analyst": "A. Chen", "version": batch.version,
                **({"value": value} if value is not None else {"conforms": True})})  # fmt: skip
            batch_records.record_qc(plant.session, plant["cdmo"], batch.id,
                                    plant.specifications[f"API-1/{test}"], body)  # fmt: skip
    batch_records.release_batch(
        plant.session, plant["qa"], batch.id, BatchRelease(version=batch.version, password=PASSWORD)
    )
    return batch


def test_a_test_added_to_the_specification_after_the_release_leaves_the_certificate_valid(
    plant: PlantWorld,
) -> None:
    batch = _released(plant)
    service.add_specification(plant.session, plant["cdmo"], plant.products["API-1"],
                              SpecificationCreate(test="Residual Pd", method="ICP-MS",
                                                  upper_limit=Decimal(10), result_unit="ppm"))  # fmt: skip
    # was 409 "is marked released but lacks results for Residual Pd"
    coa = batch_records.certificate(plant.session, plant["sponsor"], batch.id)
    assert [t.test for t in coa.tests] == ["Assay", "Water", "Identity"]


def test_the_certificate_and_the_record_show_the_limits_the_result_was_judged_against(
    plant: PlantWorld,
) -> None:
    batch = _released(plant, through_the_service=True)
    water = plant.specifications["API-1/Water"]
    service.update_specification(plant.session, plant["cdmo"], water,
                                 SpecificationUpdate(version=1, upper_limit=Decimal("0.1")))  # fmt: skip
    coa = batch_records.certificate(plant.session, plant["sponsor"], batch.id)
    line = next(t for t in coa.tests if t.test == "Water")
    # 0.2 % conformed to ≤ 0.5 %; the certificate printed "≤ 0.1 %" beside it
    assert (line.acceptance, line.result, line.conforms) == ("≤ 0.5 %", "0.2 %", True)
    record = batch_records.get_batch(plant.session, plant["cdmo"], batch.id)
    shown = next(q for q in record.qc if q.test == "Water")
    assert (shown.lower_limit, shown.upper_limit) == (None, Decimal("0.5"))
    # a result stored without its limits (before they were copied) shows the line's
    other = make_batch(plant, "API-1", "B-API-2", status="completed")
    add_results(plant, other, PASSING)
    old = batch_records.get_batch(plant.session, plant["cdmo"], other.id)
    assert [(q.test, q.upper_limit) for q in old.qc][:2] == [
        ("Assay", Decimal("102.0")),
        ("Water", Decimal("0.1")),
    ]


# --- a batch record states what happened: no time in the future --------------------------------


def test_batch_times_in_the_future_are_refused(plant: PlantWorld) -> None:
    s, cdmo = plant.session, plant["cdmo"]
    batch = make_batch(plant, "API-1", "B-API-1")
    later = utcnow() + timedelta(days=1)
    with pytest.raises(Invalid) as start:
        batch_records.start_batch(s, cdmo, batch.id, BatchStart(version=1, started_at=later))
    assert list(start.value.field_errors) == ["started_at"]
    assert "is in the future" in start.value.field_errors["started_at"]

    started = batch_records.start_batch(s, cdmo, batch.id, BatchStart(version=1))
    assert started.started_at is not None
    with pytest.raises(Invalid) as step:
        batch_records.record_step(s, cdmo, batch.id, 1, StepRecord(
            version=2, unit_id=plant.units["R-101"], started_at=started.started_at,
            ended_at=later))  # fmt: skip
    assert list(step.value.field_errors) == ["ended_at"]
    version = 2
    for sequence, unit in ((1, "R-101"), (2, "F-201"), (3, "D-301")):
        version = batch_records.record_step(s, cdmo, batch.id, sequence, StepRecord(
            version=version, unit_id=plant.units[unit], started_at=started.started_at,
            ended_at=started.started_at)).version  # fmt: skip
    with pytest.raises(Invalid) as complete:
        batch_records.complete_batch(s, cdmo, batch.id, BatchComplete(
            version=version, actual_quantity=Decimal(40), completed_at=later))  # fmt: skip
    assert list(complete.value.field_errors) == ["completed_at"]
    # a client's clock a minute ahead is no typo
    done = batch_records.complete_batch(s, cdmo, batch.id, BatchComplete(
        version=version, actual_quantity=Decimal(40),
        completed_at=utcnow() + timedelta(minutes=1)))  # fmt: skip
    assert done.status == "completed"


def test_a_step_number_past_any_recipe_is_404_not_500(
    client: TestClient, plant: PlantWorld
) -> None:
    batch = make_batch(plant, "API-1", "B-API-1")
    s = plant.session
    batch_records.start_batch(s, plant["cdmo"], batch.id, BatchStart(version=1))
    body = StepRecord(version=2, unit_id=plant.units["R-101"], started_at=utcnow())
    with pytest.raises(NotFound, match="has no step 99999999999999999999"):
        batch_records.record_step(s, plant["cdmo"], batch.id, 99999999999999999999, body)
    s.commit()
    login(client, plant.emails["cdmo"])
    token = csrf_of(client.get(f"/mfg/batches/{batch.id}").text)
    page = client.post(f"/mfg/batches/{batch.id}/steps/99999999999999999999", data={
        "csrf_token": token, "version": "2", "unit_id": str(plant.units["R-101"]),
        "started_at": "2026-01-01T00:00"})  # fmt: skip
    assert page.status_code == 404


# --- forms -------------------------------------------------------------------------------------


def test_a_plan_form_with_a_non_ascii_digit_version_is_refused_not_500(
    client: TestClient, plant: PlantWorld
) -> None:
    plant.session.commit()
    login(client, plant.emails["cdmo"])
    order_id = plant.orders["PO-A-1"]
    token = csrf_of(client.get(f"/mfg/orders/{order_id}").text)
    r = client.post(f"/mfg/orders/{order_id}/plan", data={"csrf_token": token, "version": "²"})
    assert r.status_code == 200  # back on the order page, with the reason
    assert "the form lacks the order&#39;s version" in r.text
    order = plant.session.get(ProductionOrder, order_id)
    assert order is not None
    plant.session.refresh(order)
    assert order.version == 1 and not planning.order_batches(plant.session, order)


def test_a_release_date_after_the_due_date_is_named_on_its_field(
    client: TestClient, plant: PlantWorld
) -> None:
    with pytest.raises(ValueError) as refused:
        OrderCreate(product_id=uuid.uuid4(), plant_id=plant.plant_id, quantity=Decimal(1),
                    due_date=date(2031, 1, 10), release_date=date(2031, 2, 1))  # fmt: skip
    assert [e["loc"] for e in refused.value.errors()] == [("release_date",)]  # type: ignore[attr-defined]
    plant.session.commit()
    login(client, plant.emails["cdmo"])
    token = csrf_of(client.get("/mfg/orders/new").text)
    page = client.post("/mfg/orders", data={
        "csrf_token": token, "product_id": str(plant.products["API-1"]),
        "plant_id": str(plant.plant_id), "quantity": "12", "due_date": "2031-01-10",
        "release_date": "2031-02-01", "priority": "2"})  # fmt: skip
    assert page.status_code == 422
    assert (
        'data-field-error="release_date">release_date must be on or before due_date</div>'
        in page.text
    )
    assert 'value="12"' in page.text  # the input is kept
