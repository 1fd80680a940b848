"""Batch records through the service: execution, materials and genealogy, deviations, QC with
the OOS rule, QA disposition with e-signature, the certificate, and who may do what."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from opencxo.core.audit import AuditEvent
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted
from opencxo.core.pagination import PageParams
from opencxo.core.signatures import Signature
from opencxo.core.types import utcnow
from opencxo.manufacturing import batch_records as service
from opencxo.manufacturing.batch_schemas import (
    BatchComplete,
    BatchRead,
    BatchReject,
    BatchRelease,
    BatchStart,
    DeviationClose,
    DeviationCreate,
    MaterialCreate,
    QcRecord,
    StepRecord,
)
from opencxo.manufacturing.models import Batch, BatchStatus, ProductionOrder
from tests.factories import PASSWORD
from tests.manufacturing.batch_helpers import PASSING, add_results, consume, make_batch
from tests.manufacturing.conftest import PlantWorld

TODAY = date.today()


def _count(world: PlantWorld, model: type) -> int:
    return int(world.session.execute(select(func.count()).select_from(model)).scalar_one())


def _qc(world: PlantWorld, batch: Batch, test: str, **values: object) -> object:
    body = QcRecord.model_validate({"tested_on": TODAY, "analyst": "A. Chen", **values})
    spec = world.specifications[f"API-1/{test}"]
    return service.record_qc(world.session, world["cdmo"], batch.id, spec, body)


# --- OOS --------------------------------------------------------------------------------------


def test_a_value_equal_to_a_limit_conforms() -> None:
    low, high = Decimal("98.0"), Decimal("102.0")
    assert not service.out_of_specification(Decimal("98.0"), low, high)
    assert not service.out_of_specification(Decimal("102.0"), low, high)
    assert service.out_of_specification(Decimal("97.999999"), low, high)
    assert service.out_of_specification(Decimal("102.000001"), low, high)
    assert not service.out_of_specification(Decimal("-5"), None, Decimal("0.5"))
    assert service.out_of_specification(Decimal("0.51"), None, Decimal("0.5"))
    assert not service.out_of_specification(Decimal("1e6"), Decimal(0), None)


def test_qc_results_flag_oos_and_keep_the_limits(plant: PlantWorld) -> None:
    batch = make_batch(plant, "API-1", "B-API-1", status="completed")
    on_limit = _qc(plant, batch, "Water", value="0.5")
    assert on_limit.result.out_of_specification is False  # type: ignore[attr-defined]
    assert on_limit.result.upper_limit == Decimal("0.5")  # type: ignore[attr-defined]
    above = _qc(plant, batch, "Water", value="0.500001")
    assert above.result.out_of_specification is True  # type: ignore[attr-defined]
    low = _qc(plant, batch, "Assay", value="98.0")
    assert low.result.out_of_specification is False  # type: ignore[attr-defined]
    assert (low.result.lower_limit, low.result.upper_limit) == (Decimal("98.0"), Decimal("102.0"))  # type: ignore[attr-defined]
    text = _qc(plant, batch, "Identity", conforms=False)
    assert text.result.out_of_specification is True  # type: ignore[attr-defined]
    assert text.result.text_result == "Does not conform"  # type: ignore[attr-defined]

    with pytest.raises(Invalid) as numeric:
        _qc(plant, batch, "Assay", text_result="fine", conforms=True)
    assert numeric.value.field_errors == {"value": "enter the result in %"}
    with pytest.raises(Invalid) as textual:
        _qc(plant, batch, "Identity", value="1")
    assert textual.value.field_errors == {"conforms": "choose conforms or does not conform"}

    record = service.get_batch(plant.session, plant["cdmo"], batch.id)
    assert record.out_of_specification_tests == ["Water", "Identity"]
    assert record.missing_results == []
    assert record.out_of_specification is True


def test_qc_only_on_completed_batches(plant: PlantWorld) -> None:
    batch = make_batch(plant, "API-1", "B-API-1", status="in_progress")
    with pytest.raises(Conflict) as refused:
        _qc(plant, batch, "Assay", value="99")
    assert refused.value.message == (
        "batch B-API-1 is in progress: recording a QC result needs a completed batch; now you "
        "can record steps, materials and deviations, complete it"
    )


# --- execution --------------------------------------------------------------------------------


def test_start_record_steps_and_complete(plant: PlantWorld) -> None:
    s, cdmo = plant.session, plant["cdmo"]
    batch = make_batch(plant, "API-1", "B-API-1")
    # started three days ago, so that every step and the completion below lie in the past
    three_days_ago = utcnow() - timedelta(days=3)
    started = service.start_batch(s, cdmo, batch.id,
                                  BatchStart(version=1, started_at=three_days_ago))  # fmt: skip
    assert started.status == "in_progress" and started.version == 2
    assert [(x.sequence, x.operation, x.equipment_class) for x in started.steps] == [
        (1, "Deprotection", "reactor"),
        (2, "Filtration", "filter_dryer"),
        (3, "Drying", "dryer"),
    ]
    with pytest.raises(Conflict) as twice:
        service.start_batch(s, cdmo, batch.id, BatchStart(version=2))
    assert twice.value.message.startswith("batch B-API-1 is in progress: start needs a planned")

    t0 = started.started_at
    assert t0 is not None

    def step(seq: int, unit: str, version: int, hours: int = 5, **extra: object) -> object:
        body = StepRecord.model_validate({
            "version": version, "unit_id": plant.units[unit],
            "started_at": t0 + timedelta(hours=seq * 10),
            "ended_at": t0 + timedelta(hours=seq * 10 + hours), **extra,
        })  # fmt: skip
        return service.record_step(s, cdmo, batch.id, seq, body)

    with pytest.raises(Invalid) as wrong_class:
        step(2, "R-101", 2)
    assert wrong_class.value.field_errors == {"unit_id": "choose an active GMP filter_dryer: F-201"}
    with pytest.raises(Conflict) as stale:
        step(1, "R-102", 1)
    assert "(version 2, you sent 1)" in stale.value.message
    record = step(1, "R-102", 2, actual_yield_fraction="0.86", performed_by="J. Park")
    assert record.steps[0].unit_code == "R-102"  # type: ignore[attr-defined]
    assert record.steps[0].actual_hours == Decimal("5.00")  # type: ignore[attr-defined]

    with pytest.raises(Conflict) as open_steps:
        service.complete_batch(s, cdmo, batch.id, BatchComplete(version=3, actual_quantity=40))
    assert open_steps.value.message == (
        "batch B-API-1 cannot be completed: these steps have not ended: 2 Filtration, 3 Drying"
    )
    step(2, "F-201", 3)
    step(3, "D-301", 4)
    done = service.complete_batch(
        s,
        cdmo,
        batch.id,
        BatchComplete(
            version=5, actual_quantity=Decimal("39.5"), completed_at=t0 + timedelta(hours=40)
        ),
    )
    assert done.status == "completed" and done.actual_quantity == Decimal("39.5")
    assert done.manufactured_on == (t0 + timedelta(hours=40)).date()
    assert done.missing_results == ["Assay", "Water", "Identity"]


def test_a_step_before_the_batch_started_and_an_end_before_its_start_are_refused(
    plant: PlantWorld,
) -> None:
    batch = make_batch(plant, "API-1", "B-API-1")
    started = service.start_batch(plant.session, plant["cdmo"], batch.id, BatchStart(version=1))
    assert started.started_at is not None
    early = StepRecord(version=2, unit_id=plant.units["R-101"],
                       started_at=started.started_at - timedelta(hours=1))  # fmt: skip
    with pytest.raises(Invalid) as refused:
        service.record_step(plant.session, plant["cdmo"], batch.id, 1, early)
    assert list(refused.value.field_errors) == ["started_at"]
    with pytest.raises(ValueError, match="ended_at must not be before started_at"):
        StepRecord(version=2, unit_id=plant.units["R-101"], started_at=utcnow(),
                   ended_at=utcnow() - timedelta(hours=1))  # fmt: skip
    with pytest.raises(NotFound, match="has no step 9"):
        service.record_step(plant.session, plant["cdmo"], batch.id, 9, early)


# --- materials and genealogy -------------------------------------------------------------------


def test_genealogy_both_directions_and_recursive(plant: PlantWorld) -> None:
    s, cdmo = plant.session, plant["cdmo"]
    intermediate = make_batch(plant, "INT-1", "B-INT-1", status="released", planned="100")
    api = make_batch(plant, "API-1", "B-API-1", status="in_progress")
    service.add_material(s, cdmo, api.id, MaterialCreate(input_batch_number="B-INT-1", quantity=60))
    record = service.add_material(
        s, cdmo, api.id,
        MaterialCreate(supplier_lot="TFA-2291", material_name="Trifluoroacetic acid",
                       quantity=Decimal("12.5")),
    )  # fmt: skip
    assert [
        (m.input_batch_number, m.material_name, m.quantity, m.unit) for m in record.materials
    ] == [
        ("B-INT-1", "Boc-amine intermediate", Decimal(60), "kg"),
        (None, "Trifluoroacetic acid", Decimal("12.5"), "kg"),
    ]
    assert [(g.batch_number, g.supplier_lot) for g in record.made_from] == [
        ("B-INT-1", None),
        (None, "TFA-2291"),
    ]
    upstream = service.get_batch(s, cdmo, intermediate.id)
    assert [(u.batch_number, u.product_code, u.quantity) for u in upstream.used_in] == [
        ("B-API-1", "API-1", Decimal(60))
    ]

    # the API batch is released and made into tablets: the tree runs INT → API → TAB
    api.status, api.actual_quantity = "released", Decimal(45)
    tablets = make_batch(plant, "TAB-1", "B-TAB-1", status="planned", planned="200000")
    service.add_material(
        s, cdmo, tablets.id, MaterialCreate(input_batch_number="B-API-1", quantity=10)
    )
    down = service.genealogy(s, cdmo, intermediate.id).downstream
    assert [n.batch_number for n in down] == ["B-API-1"]
    assert [n.batch_number for n in down[0].children] == ["B-TAB-1"]
    up = service.genealogy(s, cdmo, tablets.id).upstream
    assert [n.batch_number for n in up] == ["B-API-1"]
    assert [(n.batch_number, n.supplier_lot) for n in up[0].children] == [
        ("B-INT-1", None),
        (None, "TFA-2291"),
    ]

    # a cycle written behind the application's back does not loop
    consume(plant, intermediate, tablets)
    tree = service.genealogy(s, cdmo, intermediate.id)
    cyclic = tree.upstream[0]
    assert cyclic.batch_number == "B-TAB-1"
    api_node = cyclic.children[0]
    assert api_node.batch_number == "B-API-1"
    back = next(c for c in api_node.children if c.batch_number == "B-INT-1")
    assert back.repeated is True and back.children == []


def test_material_rules(plant: PlantWorld) -> None:
    s, cdmo = plant.session, plant["cdmo"]
    make_batch(plant, "INT-1", "B-INT-2", status="completed")
    make_batch(plant, "API-B", "B-APIB-1", status="released", order="PO-B-1")
    api = make_batch(plant, "API-1", "B-API-1", status="in_progress")

    def add(**body: object) -> None:
        service.add_material(
            s, cdmo, api.id, MaterialCreate.model_validate({"quantity": 1, **body})
        )

    with pytest.raises(Invalid) as unreleased:
        add(input_batch_number="B-INT-2")
    assert unreleased.value.message == "B-INT-2 is not released (it is completed)"
    with pytest.raises(Invalid) as not_in_bom:
        add(input_batch_number="B-APIB-1")
    assert not_in_bom.value.message == (
        "B-APIB-1 is API-B (Tenoxiprant hydrochloride), which the recipe's bill of materials "
        "does not list; it lists: Boc-amine intermediate (INT-1)"
    )
    with pytest.raises(Invalid) as unknown:
        add(input_batch_number="B-NOPE")
    assert unknown.value.field_errors == {"input_batch_number": "no batch B-NOPE; check the number"}
    with pytest.raises(Invalid) as unnamed:
        add(supplier_lot="L-1")
    assert set(unnamed.value.field_errors) == {"material_name"}
    with pytest.raises(ValueError, match="either input_batch_number or supplier_lot"):
        MaterialCreate(quantity=Decimal(1))

    record = service.add_material(
        s, cdmo, api.id, MaterialCreate(supplier_lot="L-1", material_name="Toluene", quantity=5)
    )
    removed = service.remove_material(s, cdmo, record.materials[0].id)
    assert removed.materials == []
    again = service.add_material(
        s, cdmo, api.id, MaterialCreate(supplier_lot="L-2", material_name="Toluene", quantity=5)
    )
    api.status = "completed"
    s.flush()
    with pytest.raises(Conflict, match="removing a material needs a planned or in progress"):
        service.remove_material(s, cdmo, again.materials[0].id)


def test_a_batch_gives_no_more_than_it_made(plant: PlantWorld) -> None:
    s, cdmo = plant.session, plant["cdmo"]
    make_batch(plant, "INT-1", "B-INT-1", status="released", planned="100", actual="92.5")
    first = make_batch(plant, "API-1", "B-API-1", status="in_progress")
    second = make_batch(plant, "API-1", "B-API-2", status="planned")

    def take(batch_id: uuid.UUID, quantity: str, unit: str | None = None) -> BatchRead:
        body = {"input_batch_number": "B-INT-1", "quantity": quantity, "unit": unit}
        return service.add_material(s, cdmo, batch_id, MaterialCreate.model_validate(body))

    record = take(first.id, "60")
    with pytest.raises(Invalid) as too_much:
        take(second.id, "32.6")
    assert too_much.value.message == (
        "B-INT-1 has 32.5 kg left (92.5 kg made, 60.0 kg already consumed); 32.6 kg is too much"
    )
    assert too_much.value.field_errors == {"quantity": "at most 32.5 kg of B-INT-1"}
    with pytest.raises(Invalid) as wrong_unit:
        take(second.id, "1", unit="units")
    assert wrong_unit.value.field_errors == {"unit": "use kg, the unit of INT-1"}
    assert service.get_batch(s, cdmo, second.id).materials == []  # nothing recorded

    assert take(second.id, "32.5").materials[0].quantity == Decimal("32.5")  # all that is left
    with pytest.raises(Invalid, match=re.escape("has 0.0 kg left")):
        take(second.id, "0.000001")
    # taking back a wrong entry gives the quantity back
    service.remove_material(s, cdmo, record.materials[0].id)
    assert take(second.id, "60").materials[-1].quantity == Decimal(60)


# --- deviations ---------------------------------------------------------------------------------


def test_deviations_are_numbered_per_provider_and_closed(plant: PlantWorld) -> None:
    s, cdmo = plant.session, plant["cdmo"]
    one = make_batch(plant, "API-1", "B-API-1", status="in_progress")
    two = make_batch(plant, "API-B", "B-APIB-1", status="completed", order="PO-B-1")
    yy = utcnow().strftime("%y")
    first = service.open_deviation(
        s, cdmo, one.id, DeviationCreate(description="Stirrer stop", severity="minor")
    )  # type: ignore[arg-type]
    second = service.open_deviation(
        s, cdmo, two.id, DeviationCreate(description="Temp excursion", severity="major")
    )  # type: ignore[arg-type]
    assert (first.number, second.number) == (f"DEV-{yy}-001", f"DEV-{yy}-002")
    with pytest.raises(Conflict):
        service.close_deviation(s, cdmo, first.id, DeviationClose(version=2, resolution="done"))
    closed = service.close_deviation(
        s, cdmo, first.id, DeviationClose(version=1, resolution="Motor replaced; CAPA-7")
    )
    assert closed.is_open is False and closed.resolution == "Motor replaced; CAPA-7"
    with pytest.raises(Conflict, match=r"deviation DEV-\d\d-001 was closed on"):
        service.close_deviation(s, cdmo, first.id, DeviationClose(version=2, resolution="again"))
    planned = make_batch(plant, "API-1", "B-API-9")
    with pytest.raises(Conflict, match="is planned: recording a deviation needs"):
        service.open_deviation(
            s, cdmo, planned.id, DeviationCreate(description="x y z", severity="minor")
        )  # type: ignore[arg-type]


# --- QA disposition -----------------------------------------------------------------------------


def test_release_is_blocked_by_missing_results_oos_and_open_deviations(plant: PlantWorld) -> None:
    s, qa = plant.session, plant["qa"]
    batch = make_batch(plant, "API-1", "B-API-1", status="completed", actual="80")
    deviation = service.open_deviation(
        s,
        plant["cdmo"],
        batch.id,
        DeviationCreate(description="Stirrer stop", severity="minor"),  # type: ignore[arg-type]
    )
    _qc(plant, batch, "Assay", value="97.9")
    version = s.get(Batch, batch.id).version  # type: ignore[union-attr]
    with pytest.raises(Conflict) as blocked:
        service.release_batch(s, qa, batch.id, BatchRelease(version=version, password=PASSWORD))
    assert blocked.value.message == (
        "batch B-API-1 cannot be released: no QC result for Water, Identity; "
        f"out of specification: Assay; open deviation {deviation.number} (minor)"
    )
    _qc(plant, batch, "Assay", value="102.0")
    _qc(plant, batch, "Water", value="0.1")
    _qc(plant, batch, "Identity", conforms=True)
    version = s.get(Batch, batch.id).version  # type: ignore[union-attr]
    with pytest.raises(Conflict) as only_deviation:
        service.release_batch(s, qa, batch.id, BatchRelease(version=version, password=PASSWORD))
    assert only_deviation.value.message == (
        f"batch B-API-1 cannot be released: open deviation {deviation.number} (minor)"
    )
    service.close_deviation(
        s, plant["cdmo"], deviation.id, DeviationClose(version=1, resolution="ok, no impact")
    )
    version = s.get(Batch, batch.id).version  # type: ignore[union-attr]
    released = service.release_batch(
        s, qa, batch.id, BatchRelease(version=version, password=PASSWORD)
    )
    assert released.status == "released" and released.release_blockers == [
        "the batch is released, not completed"
    ]
    signature = released.disposition.signature
    assert signature is not None
    assert (signature.meaning, signature.signer_email) == ("released", plant.emails["qa"])
    assert released.disposition.decision == "released"
    assert released.disposition.disposed_at == signature.signed_at
    assert re.fullmatch(r"[0-9a-f]{64}", signature.record_sha256)
    # the order's one API batch is disposed and its 80 kg cover the order: completed
    order = s.get(ProductionOrder, plant.orders["PO-A-1"])
    assert order is not None and order.status == "completed"


def test_an_order_stays_open_until_released_output_covers_its_quantity(plant: PlantWorld) -> None:
    s, qa = plant.session, plant["qa"]
    order = s.get(ProductionOrder, plant.orders["PO-A-1"])  # 80 kg
    assert order is not None
    rejected = make_batch(plant, "API-1", "B-API-1", status="completed", actual="45")
    add_results(plant, rejected, PASSING)
    service.reject_batch(
        s, qa, rejected.id, BatchReject(version=rejected.version, password=PASSWORD,
                                        reason="foreign particles")
    )  # fmt: skip
    short = make_batch(plant, "API-1", "B-API-2", status="completed", actual="79.9")
    add_results(plant, short, PASSING)
    service.release_batch(s, qa, short.id, BatchRelease(version=short.version, password=PASSWORD))
    s.refresh(order)
    assert order.status == "open"  # 79.9 kg released of 80: planning again makes the rest
    last = make_batch(plant, "API-1", "B-API-3", status="completed", actual="0.1")
    add_results(plant, last, PASSING)
    service.release_batch(s, qa, last.id, BatchRelease(version=last.version, password=PASSWORD))
    s.refresh(order)
    assert order.status == "completed"


def test_a_wrong_password_changes_nothing(plant: PlantWorld) -> None:
    s = plant.session
    batch = make_batch(plant, "API-1", "B-API-1", status="completed")
    add_results(plant, batch, PASSING)
    s.commit()
    audits, signatures = _count(plant, AuditEvent), _count(plant, Signature)
    with pytest.raises(Invalid) as wrong:
        service.release_batch(s, plant["qa"], batch.id, BatchRelease(version=1, password="nope"))
    assert wrong.value.field_errors == {"password": "enter your password to sign"}
    s.rollback()  # the boundary rolls back on any error
    assert s.get(Batch, batch.id).status == "completed"  # type: ignore[union-attr]
    assert (_count(plant, AuditEvent), _count(plant, Signature)) == (audits, signatures)


def test_rejection_needs_a_reason_and_is_signed(plant: PlantWorld) -> None:
    s = plant.session
    batch = make_batch(plant, "API-1", "B-API-1", status="completed")
    make_batch(plant, "API-1", "B-API-2", status="planned")
    _qc(plant, batch, "Assay", value="90")
    with pytest.raises(ValueError, match="reason"):
        BatchReject(version=1, password=PASSWORD, reason="")
    version = s.get(Batch, batch.id).version  # type: ignore[union-attr]
    rejected = service.reject_batch(
        s, plant["qa"], batch.id,
        BatchReject(version=version, password=PASSWORD, reason="Assay 90 % (OOS)"),
    )  # fmt: skip
    assert (rejected.status, rejected.disposition.reason) == ("rejected", "Assay 90 % (OOS)")
    assert rejected.disposition.signature.meaning == "rejected"  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="is rejected: a certificate of analysis is issued"):
        service.certificate(s, plant["sponsor"], batch.id)
    # another API batch of the order is still planned: the order is not completed
    assert s.get(ProductionOrder, plant.orders["PO-A-1"]).status == "open"  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="is rejected: release needs a completed batch"):
        service.release_batch(s, plant["qa"], batch.id, BatchRelease(version=9, password=PASSWORD))


# --- certificate --------------------------------------------------------------------------------


def test_certificate_of_a_released_batch(plant: PlantWorld) -> None:
    s = plant.session
    batch = make_batch(plant, "API-1", "B-API-1", status="completed", actual="41.2")
    add_results(plant, batch, PASSING)
    with pytest.raises(Conflict, match="is completed: a certificate of analysis"):
        service.certificate(s, plant["cdmo"], batch.id)
    service.release_batch(s, plant["qa"], batch.id, BatchRelease(version=1, password=PASSWORD))
    coa = service.certificate(s, plant["sponsor"], batch.id)
    made = batch.manufactured_on
    assert made is not None
    assert coa.manufactured_on == made
    leap_day = (made.month, made.day) == (2, 29)
    assert coa.expiry_date == date(made.year + 2, made.month, 28 if leap_day else made.day)
    assert (coa.quantity, coa.unit) == (Decimal("41.2"), "kg")
    assert (coa.manufacturer, coa.sponsor) == ("Kestrel CDMO", "Sponsor A Bio")
    assert (coa.product.code, coa.product.kind) == ("API-1", "api")
    assert [(t.test, t.method, t.acceptance, t.result, t.conforms) for t in coa.tests] == [
        ("Assay", "HPLC-07", "98.0 – 102.0 %", "99.6 %", True),
        ("Water", "Karl Fischer", "≤ 0.5 %", "0.2 %", True),
        ("Identity", "IR", "Conforms to reference spectrum", "Conforms", True),
    ]
    assert (coa.release.meaning, coa.release.signer_email) == ("released", plant.emails["qa"])


def test_expiry_adds_the_shelf_life_in_months() -> None:
    assert service._expiry(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert service._expiry(date(2026, 11, 15), 24) == date(2028, 11, 15)
    assert service._expiry(date(2026, 3, 1), None) is None


# --- who may do what ----------------------------------------------------------------------------


def test_sponsor_isolation_and_permissions(plant: PlantWorld) -> None:
    s = plant.session
    mine = make_batch(plant, "API-1", "B-API-1", status="completed")
    theirs = make_batch(plant, "API-B", "B-APIB-1", status="completed", order="PO-B-1")
    running = make_batch(plant, "API-1", "B-API-2", status="in_progress")
    add_results(plant, mine, PASSING)
    service.release_batch(s, plant["qa"], mine.id, BatchRelease(version=1, password=PASSWORD))

    assert service.get_batch(s, plant["sponsor"], mine.id).batch_number == "B-API-1"
    assert service.certificate(s, plant["sponsor"], mine.id).batch_number == "B-API-1"
    for outsider in ("other_sponsor", "other_cdmo"):
        with pytest.raises(NotFound):
            service.get_batch(s, plant[outsider], mine.id)
        with pytest.raises(NotFound):
            service.certificate(s, plant[outsider], mine.id)
    listed = service.list_batches(s, plant["sponsor"], params=PageParams())
    assert [b.batch_number for b in listed.items] == ["B-API-1", "B-API-2"]
    assert service.list_batches(s, plant["other_sponsor"], params=PageParams()).total == 1

    with pytest.raises(NotPermitted):  # the sponsor reads, never writes
        service.open_deviation(
            s, plant["sponsor"], running.id, DeviationCreate(description="xyz", severity="minor")
        )  # type: ignore[arg-type]
    with pytest.raises(NotFound):  # another sponsor's batch
        service.get_batch(s, plant["sponsor"], theirs.id)
    with pytest.raises(NotPermitted):  # QA disposes but does not execute
        service.open_deviation(
            s, plant["qa"], theirs.id, DeviationCreate(description="xyz", severity="minor")
        )  # type: ignore[arg-type]
    with pytest.raises(NotPermitted):  # the planner executes but does not release
        service.reject_batch(
            s,
            plant["planner"],
            theirs.id,
            BatchReject(version=1, password=PASSWORD, reason="bad batch"),
        )
    with pytest.raises(NotPermitted):
        service.reject_batch(
            s,
            plant["viewer"],
            theirs.id,
            BatchReject(version=1, password=PASSWORD, reason="bad batch"),
        )


def test_list_filters_sorts_and_flags(plant: PlantWorld) -> None:
    s, cdmo = plant.session, plant["cdmo"]
    a = make_batch(plant, "API-1", "B-2", status="completed")
    make_batch(plant, "INT-1", "B-1", status="released")
    make_batch(plant, "API-B", "B-3", order="PO-B-1")
    _qc(plant, a, "Water", value="0.9")
    service.open_deviation(s, cdmo, a.id, DeviationCreate(description="Leak", severity="critical"))  # type: ignore[arg-type]

    def numbers(**kw: object) -> list[str]:
        sort = kw.pop("sort", "batch_number")
        page = service.list_batches(s, cdmo, params=PageParams(sort=sort), **kw)  # type: ignore[arg-type]
        return [b.batch_number for b in page.items]

    assert numbers() == ["B-1", "B-2", "B-3"]
    assert numbers(sort="-batch_number") == ["B-3", "B-2", "B-1"]
    assert numbers(sort="product") == ["B-2", "B-3", "B-1"]  # API-1, API-B, INT-1
    assert numbers(status=BatchStatus.COMPLETED) == ["B-2"]
    assert numbers(sponsor_id=plant.sponsor_b_id) == ["B-3"]
    assert numbers(product_id=plant.products["INT-1"]) == ["B-1"]
    assert numbers(order_id=plant.orders["PO-B-1"]) == ["B-3"]
    flagged = {b.batch_number: (b.out_of_specification, b.open_deviations)
               for b in service.list_batches(s, cdmo, params=PageParams()).items}  # fmt: skip
    assert flagged == {"B-1": (False, 0), "B-2": (True, 1), "B-3": (False, 0)}
    assert service.find_batch(s, plant["sponsor"], "B-2") == a.id
    with pytest.raises(NotFound):
        service.find_batch(s, plant["sponsor"], "B-3")


def test_qa_closes_a_deviation_and_a_viewer_cannot(plant: PlantWorld) -> None:
    s = plant.session
    batch = make_batch(plant, "API-1", "B-API-1", status="completed")
    deviation = service.open_deviation(
        s,
        plant["planner"],
        batch.id,
        DeviationCreate(description="Stirrer stop", severity="minor"),  # type: ignore[arg-type]
    )
    with pytest.raises(NotPermitted):
        service.close_deviation(
            s, plant["viewer"], deviation.id, DeviationClose(version=1, resolution="no impact")
        )
    closed = service.close_deviation(
        s, plant["qa"], deviation.id, DeviationClose(version=1, resolution="no impact")
    )
    assert (closed.is_open, closed.resolution) == (False, "no impact")
