"""Batch rows for the batch-record tests, built directly on the ``plant`` fixture (the services
under test are not used to build them)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from opencxo.contracts.models import Milestone, Msa, WorkOrder
from opencxo.core.types import utcnow
from opencxo.manufacturing.models import (
    Batch,
    BatchStep,
    MaterialConsumption,
    ProductionOrder,
    QcResult,
    RecipeStep,
)
from opencxo.sourcing.models import Program
from tests.manufacturing.conftest import PlantWorld

# A's API-1 results that pass every specification line (Assay, Water, Identity).
PASSING = {"Assay": Decimal("99.6"), "Water": Decimal("0.2"), "Identity": None}


def make_batch(
    world: PlantWorld,
    product_code: str,
    number: str,
    *,
    status: str = "planned",
    order: str = "PO-A-1",
    planned: str = "50",
    actual: str | None = None,
) -> Batch:
    """A batch of ``product_code`` for ``order``; from ``completed`` on, its steps ran yesterday
    on the first unit of each step's class and it was made today."""
    session = world.session
    order_row = session.get(ProductionOrder, world.orders[order])
    assert order_row is not None
    now = utcnow().replace(microsecond=0)
    batch = Batch(
        provider_id=world.provider_id,
        sponsor_id=order_row.sponsor_id,
        order_id=order_row.id,
        product_id=world.products[product_code],
        recipe_id=world.recipes[product_code],
        batch_number=number,
        planned_quantity=Decimal(planned),
        status=status,
    )
    if status != "planned":
        batch.started_at = now - timedelta(days=2)
    if status in ("completed", "released", "rejected"):
        steps = (
            session.execute(
                select(RecipeStep)
                .where(RecipeStep.recipe_id == world.recipes[product_code])
                .order_by(RecipeStep.sequence)
            )
            .scalars()
            .all()
        )
        units = {"reactor": "R-101", "filter_dryer": "F-201", "dryer": "D-301",
                 "granulator": "G-401", "tablet_press": "P-501"}  # fmt: skip
        batch.steps = [
            BatchStep(
                sequence=s.sequence,
                operation=s.operation,
                unit_id=world.units[units[s.equipment_class]],
                started_at=now - timedelta(days=2),
                ended_at=now - timedelta(days=1),
                actual_yield_fraction=s.yield_fraction,
            )
            for s in steps
        ]
        batch.completed_at = now - timedelta(days=1)
        batch.manufactured_on = batch.completed_at.date()
        batch.actual_quantity = Decimal(actual or planned)
    session.add(batch)
    session.flush()
    return batch


def add_results(world: PlantWorld, batch: Batch, results: dict[str, Decimal | None]) -> None:
    """QC rows for ``batch`` by test name (None: a text test that conforms); none is OOS."""
    code = next(c for c, pid in world.products.items() if pid == batch.product_id)
    for test, value in results.items():
        spec_id = world.specifications[f"{code}/{test}"]
        world.session.add(
            QcResult(
                batch_id=batch.id,
                specification_id=spec_id,
                value=value,
                text_result=None if value is not None else "Conforms",
                conforms=None if value is not None else True,
                out_of_specification=False,
                tested_on=utcnow().date(),
                analyst="Lab",
            )
        )
    world.session.flush()


def consume(world: PlantWorld, batch: Batch, source: Batch, quantity: str = "10") -> uuid.UUID:
    """A consumption row: ``batch`` made from ``source`` (no checks: for odd genealogies)."""
    row = MaterialConsumption(
        batch_id=batch.id,
        input_batch_id=source.id,
        material_name="direct row",
        quantity=Decimal(quantity),
        unit="kg",
    )
    world.session.add(row)
    world.session.flush()
    return row.id


def link_active_work_order(world: PlantWorld, order: str = "PO-A-1") -> WorkOrder:
    """An active (signed) work order between the order's sponsor and the CDMO, with two planned
    milestones (1: the API campaign, 2: stability data), behind ``order``."""
    session = world.session
    order_row = session.get(ProductionOrder, world.orders[order])
    assert order_row is not None
    program = Program(sponsor_id=order_row.sponsor_id, name=f"Program of {order}",
                      modality="small_molecule", therapeutic_area="Oncology",
                      indication="NSCLC", phase="phase_2")  # fmt: skip
    msa = Msa(sponsor_id=order_row.sponsor_id, provider_id=world.provider_id,
              reference=f"MSA-{order}", terms="Standard terms",
              effective_date=date(2026, 1, 1), expiry_date=date(2029, 1, 1))  # fmt: skip
    session.add_all([program, msa])
    session.flush()
    work_order = WorkOrder(
        msa_id=msa.id, sponsor_id=order_row.sponsor_id, provider_id=world.provider_id,
        program_id=program.id, number=f"WO-{order}", title="GMP API supply",
        service_code="CMC-GMPAPI", status="active", currency="USD", start_date=date(2026, 1, 5),
        milestones=[
            Milestone(position=1, description="GMP API campaign released",
                      deliverable="Certificate of analysis", amount=Decimal("120000.00"),
                      due_date=date.today() + timedelta(days=30)),
            Milestone(position=2, description="Stability data, 3 months",
                      deliverable="Stability report", amount=Decimal("15000.00"),
                      due_date=date.today() + timedelta(days=90)),
        ],
    )  # fmt: skip
    session.add(work_order)
    session.flush()
    order_row.work_order_id = work_order.id
    session.flush()
    return work_order
