"""Use cases of batch records: executing a batch's recipe, the materials it consumed (genealogy,
both directions), deviations, QC results against the product's specification, the QA
disposition with an e-signature, and the certificate of analysis.

A batch moves planned → in_progress (``start``) → completed (``complete``, every step ended) →
released or rejected (QA, e-signed). Any other step answers 409 naming the batch's state and
what it allows. The provider writes with ``manufacturing:write``; only ``batches:release``
disposes; the batch's sponsor reads the batch, its record and its certificate; anyone else gets
the 404 of an unknown id.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import MAXYEAR, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from opencxo.contracts import service as contracts
from opencxo.contracts.schemas import MilestoneRead, WorkOrderRead
from opencxo.core import audit
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.db import hold
from opencxo.core.errors import Conflict, Invalid, NotFound, check_version
from opencxo.core.pagination import Page, PageParams
from opencxo.core.signatures import Signature, SignatureMeaning, sign, signatures_of
from opencxo.core.types import utcnow
from opencxo.manufacturing import access
from opencxo.manufacturing import batch_repository as repository
from opencxo.manufacturing.batch_schemas import (
    BatchComplete,
    BatchListItem,
    BatchRead,
    BatchReject,
    BatchRelease,
    BatchStart,
    BatchStepRead,
    CertificateDelivery,
    CoaProduct,
    CoaRead,
    CoaTest,
    DeviationClose,
    DeviationCreate,
    DeviationRead,
    DispositionRead,
    GenealogyLink,
    GenealogyNode,
    GenealogyRead,
    MaterialCreate,
    MaterialRead,
    MilestoneChoice,
    QcLine,
    QcRecord,
    QcResultRead,
    SignatureRead,
    StepRecord,
)
from opencxo.manufacturing.models import (
    Batch,
    BatchStatus,
    BatchStep,
    Deviation,
    GmpGrade,
    MaterialConsumption,
    OrderStatus,
    Product,
    QcResult,
    Specification,
)
from opencxo.parties import service as parties

ENTITY = "mfg_batch"
BATCH_FIELDS = (
    "batch_number", "status", "actual_quantity", "started_at", "completed_at", "manufactured_on",
    "disposition_reason", "disposed_at", "disposition_signature_id",
)  # fmt: skip
STEP_FIELDS = (
    "unit_id",
    "started_at",
    "ended_at",
    "actual_yield_fraction",
    "performed_by",
    "notes",
)
QC_FIELDS = ("value", "text_result", "conforms", "out_of_specification", "tested_on", "analyst")
DISPOSED = (BatchStatus.RELEASED.value, BatchStatus.REJECTED.value)
# What each state allows, in words, for the 409 of an action the state does not allow.
ALLOWED: dict[str, str] = {
    BatchStatus.PLANNED: "start it, record materials",
    BatchStatus.IN_PROGRESS: "record steps, materials and deviations, complete it",
    BatchStatus.COMPLETED: "record QC results and deviations, release or reject it (QA)",
    BatchStatus.RELEASED: "read its record and certificate of analysis",
    BatchStatus.REJECTED: "read its record",
}
MAX_TREE_DEPTH = 25
#: How far past the server's clock a recorded time may lie (a client's clock runs a little
#: ahead); a later one is a typo, and a batch "started" in the future could record no step.
CLOCK_SKEW = timedelta(minutes=5)
#: Step numbers a path may name: recipes have at most 100 steps; a larger integer would not
#: even fit the database's column.
MAX_STEP_SEQUENCE = 1000


def _not_in_future(**times: datetime | None) -> None:
    """422 naming each time that lies in the future: a batch record states what happened."""
    now = utcnow()
    errors = {
        name: f"{value:%Y-%m-%d %H:%M} UTC is in the future; record what happened, at "
        f"{now:%Y-%m-%d %H:%M} UTC or earlier"
        for name, value in times.items()
        if value is not None and value > now + CLOCK_SKEW
    }
    if errors:
        raise Invalid("; ".join(f"{k}: {v}" for k, v in errors.items()), field_errors=errors)


# --- access -------------------------------------------------------------------------------------


def _batch(session: Session, principal: Principal, batch_id: uuid.UUID) -> Batch:
    """The batch if the principal reads it (its provider, or its sponsor); else 404."""
    found = repository.batch(session, batch_id)
    if found is None:
        raise NotFound("batch not found")
    access.require_readable(principal, "batch", found.provider_id, found.sponsor_id)
    return found


def _writable(
    session: Session,
    principal: Principal,
    batch_id: uuid.UUID,
    permission: Permission = Permission.MANUFACTURING_WRITE,
) -> Batch:
    found = repository.batch(session, batch_id)
    if found is None:
        raise NotFound("batch not found")
    access.require(principal, permission, "batch", found.provider_id, found.sponsor_id)
    return found


def _require_state(batch: Batch, action: str, *states: str) -> None:
    if batch.status not in states:
        wanted = " or ".join(s.replace("_", " ") for s in states)
        raise Conflict(
            f"batch {batch.batch_number} is {batch.status.replace('_', ' ')}: {action} needs a "
            f"{wanted} batch; now you can {ALLOWED[batch.status]}"
        )


def _audit(
    session: Session,
    principal: Principal,
    batch: Batch,
    *,
    action: str,
    entity_type: str = ENTITY,
    entity_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    audit.record(
        session,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id or batch.id,
        actor=principal,
        organization_id=batch.provider_id,
        before=before,
        after=after,
        reason=reason,
    )


def _touch(session: Session, batch: Batch) -> None:
    """A change to the record bumps the batch's version (a stale form then answers 409)."""
    batch.updated_at = utcnow()
    session.flush()


def _names(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {o.id: o.name for o in parties.organizations_named_by_id(session, set(ids))}


def _batch_label(product: Product | None) -> tuple[str | None, str | None]:
    return (product.code, product.name) if product else (None, None)


# --- lists --------------------------------------------------------------------------------------


def _list_items(session: Session, rows: Sequence[Batch]) -> list[BatchListItem]:
    products = repository.products(session, [b.product_id for b in rows])
    orders = repository.orders(session, [b.order_id for b in rows])
    names = _names(session, {b.sponsor_id for b in rows})
    ids = [b.id for b in rows]
    oos = repository.batches_with_oos(session, ids)
    open_devs = repository.open_deviation_counts(session, ids)
    return [
        BatchListItem(
            id=b.id,
            batch_number=b.batch_number,
            status=BatchStatus(b.status),
            product_id=b.product_id,
            product_code=products[b.product_id].code,
            product_name=products[b.product_id].name,
            order_id=b.order_id,
            order_number=orders[b.order_id].number,
            sponsor_id=b.sponsor_id,
            sponsor_name=names.get(b.sponsor_id, "—"),
            planned_quantity=b.planned_quantity,
            actual_quantity=b.actual_quantity,
            unit=products[b.product_id].unit,
            started_at=b.started_at,
            completed_at=b.completed_at,
            manufactured_on=b.manufactured_on,
            disposed_at=b.disposed_at,
            out_of_specification=b.id in oos,
            open_deviations=open_devs.get(b.id, 0),
            updated_at=b.updated_at,
            version=b.version,
        )
        for b in rows
    ]


def list_batches(
    session: Session,
    principal: Principal,
    *,
    params: PageParams,
    status: BatchStatus | None = None,
    product_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
    sponsor_id: uuid.UUID | None = None,
    everything: bool = False,
) -> Page[BatchListItem]:
    """Batches the principal reads: all of its plants' (provider) or those made for it
    (sponsor). ``everything`` ignores the page (for downloads)."""
    visible = access.read_filter(principal, Batch.provider_id, Batch.sponsor_id)
    rows, total = repository.batches(
        session,
        visible,
        status=status.value if status else None,
        product_id=product_id,
        order_id=order_id,
        sponsor_id=sponsor_id,
        offset=0 if everything else params.offset,
        limit=None if everything else params.page_size,
        sort=params.sort_key(repository.BATCH_SORTS, "-updated_at"),
    )
    return Page.of(_list_items(session, rows), total=total, params=params)


def find_batch(session: Session, principal: Principal, batch_number: str) -> uuid.UUID:
    """The id of the batch with this number the principal reads (for the CLI)."""
    visible = access.read_filter(principal, Batch.provider_id, Batch.sponsor_id)
    found = repository.batches_by_number(session, batch_number.strip(), visible)
    if not found:
        raise NotFound(f"no batch {batch_number} that you can read")
    if len(found) > 1:
        raise Conflict(f"several providers have a batch {batch_number}; use its id")
    return found[0].id


# --- the batch record ---------------------------------------------------------------------------


def _signature(signature: Signature | None) -> SignatureRead | None:
    return SignatureRead.model_validate(signature) if signature else None


def _step_reads(session: Session, batch: Batch) -> list[BatchStepRead]:
    recipe_steps = {s.sequence: s for s in repository.recipe_steps(session, batch.recipe_id)}
    rows = repository.steps(session, batch.id)
    units = repository.units(session, [s.unit_id for s in rows if s.unit_id])
    out = []
    sequences = sorted(set(recipe_steps) | {s.sequence for s in rows})
    by_sequence = {s.sequence: s for s in rows}
    for sequence in sequences:
        planned = recipe_steps.get(sequence)
        done: BatchStep | None = by_sequence.get(sequence)
        hours = None
        if done and done.started_at and done.ended_at:
            hours = Decimal(round((done.ended_at - done.started_at).total_seconds() / 3600, 2))
            hours = hours.quantize(Decimal("0.01"))
        out.append(
            BatchStepRead(
                sequence=sequence,
                operation=done.operation if done else planned.operation,  # type: ignore[union-attr]
                equipment_class=planned.equipment_class if planned else "",
                planned_hours=planned.duration_hours if planned else None,
                planned_yield_fraction=planned.yield_fraction if planned else None,
                unit_id=done.unit_id if done else None,
                unit_code=units[done.unit_id].code if done and done.unit_id else None,
                started_at=done.started_at if done else None,
                ended_at=done.ended_at if done else None,
                actual_hours=hours,
                actual_yield_fraction=done.actual_yield_fraction if done else None,
                performed_by=done.performed_by if done else None,
                notes=done.notes if done else "",
            )
        )
    return out


def _readable_ids(principal: Principal, batches: Iterable[Batch]) -> set[uuid.UUID]:
    """Batches of a genealogy the principal may see (a sponsor sees only its own)."""
    visible = access.readers(principal)
    return {b.id for b in batches if b.provider_id in visible or b.sponsor_id in visible}


def _made_from(
    session: Session, principal: Principal, batch: Batch
) -> tuple[list[MaterialRead], list[GenealogyLink]]:
    rows = repository.consumptions(session, batch.id)
    inputs = repository.batches_by_ids(
        session, [r.input_batch_id for r in rows if r.input_batch_id]
    )
    products = repository.products(session, [b.product_id for b in inputs.values()])
    readable = _readable_ids(principal, inputs.values())
    materials, links = [], []
    for r in rows:
        source = inputs.get(r.input_batch_id) if r.input_batch_id else None
        shown = source if source is not None and source.id in readable else None
        code, name = _batch_label(products.get(shown.product_id) if shown else None)
        materials.append(
            MaterialRead(
                id=r.id,
                material_name=r.material_name,
                input_batch_id=shown.id if shown else None,
                input_batch_number=shown.batch_number if shown else None,
                input_product_code=code,
                supplier_lot=r.supplier_lot,
                quantity=r.quantity,
                unit=r.unit,
                recorded_at=r.created_at,
            )
        )
        if source is not None and shown is None:
            continue  # another sponsor's batch: not shown to this sponsor
        links.append(
            GenealogyLink(
                batch_id=shown.id if shown else None,
                batch_number=shown.batch_number if shown else None,
                product_code=code,
                product_name=name,
                status=shown.status if shown else None,
                supplier_lot=r.supplier_lot,
                material_name=r.material_name,
                quantity=r.quantity,
                unit=r.unit,
            )
        )
    return materials, links


def _used_in(session: Session, principal: Principal, batch: Batch) -> list[GenealogyLink]:
    rows = repository.consumptions_of_input(session, batch.id)
    users = repository.batches_by_ids(session, [r.batch_id for r in rows])
    products = repository.products(session, [b.product_id for b in users.values()])
    readable = _readable_ids(principal, users.values())
    links = []
    for r in rows:
        user = users[r.batch_id]
        if user.id not in readable:
            continue
        code, name = _batch_label(products.get(user.product_id))
        links.append(
            GenealogyLink(
                batch_id=user.id,
                batch_number=user.batch_number,
                product_code=code,
                product_name=name,
                status=user.status,
                material_name=r.material_name,
                quantity=r.quantity,
                unit=r.unit,
            )
        )
    return links


def _deviation_read(d: Deviation) -> DeviationRead:
    return DeviationRead(
        id=d.id,
        batch_id=d.batch_id,
        number=d.number,
        description=d.description,
        severity=d.severity,
        opened_at=d.opened_at,
        closed_at=d.closed_at,
        resolution=d.resolution,
        version=d.version,
        is_open=d.closed_at is None,
    )


def _judged_limits(spec: Specification, result: QcResult | None) -> dict[str, Decimal | None]:
    """The limits a result was judged against: those copied into it when recorded, else (no
    result, or one without copied limits) the specification's."""
    if result is not None and (result.lower_limit is not None or result.upper_limit is not None):
        return {"lower_limit": result.lower_limit, "upper_limit": result.upper_limit}
    return {"lower_limit": spec.lower_limit, "upper_limit": spec.upper_limit}


def _qc_lines(session: Session, batch: Batch) -> list[QcLine]:
    """The product's specification lines with the batch's results; a line with a result shows
    the limits the result was judged against (copied when it was recorded), not the line's
    current ones, so a later change of the specification never contradicts the OOS flag."""
    results = repository.qc_results(session, batch.id)
    return [
        QcLine(
            specification_id=s.id,
            test=s.test,
            method=s.method,
            **_judged_limits(s, results.get(s.id)),
            result_unit=s.result_unit,
            acceptance_text=s.acceptance_text,
            numeric=s.acceptance_text is None,
            result=QcResultRead.model_validate(results[s.id]) if s.id in results else None,
        )
        for s in repository.specifications(session, batch.product_id)
    ]


def _blockers(
    batch: Batch, qc: Sequence[QcLine], deviations: Sequence[Deviation]
) -> tuple[list[str], list[str], list[str]]:
    """(what blocks release, tests without a result, tests out of specification)."""
    missing = [line.test for line in qc if line.result is None]
    oos = [line.test for line in qc if line.result is not None and line.result.out_of_specification]
    open_devs = [f"{d.number} ({d.severity})" for d in deviations if d.closed_at is None]
    blockers = []
    if batch.status != BatchStatus.COMPLETED:
        blockers.append(f"the batch is {batch.status.replace('_', ' ')}, not completed")
    if missing:
        blockers.append(f"no QC result for {', '.join(missing)}")
    if oos:
        blockers.append(f"out of specification: {', '.join(oos)}")
    if open_devs:
        blockers.append(f"open deviation {', '.join(open_devs)}")
    return blockers, missing, oos


def _expiry(manufactured_on: date | None, months: int | None) -> date | None:
    """The manufacturing date plus the shelf life; the month's last day when it is shorter."""
    if manufactured_on is None or months is None:
        return None
    total = manufactured_on.month - 1 + months
    year, month = manufactured_on.year + total // 12, total % 12 + 1
    if year > MAXYEAR:  # only a record stored before the input checks: no calendar date
        return None
    return date(year, month, min(manufactured_on.day, calendar.monthrange(year, month)[1]))


def get_batch(session: Session, principal: Principal, batch_id: uuid.UUID) -> BatchRead:
    """The batch record: header, steps, materials and genealogy, deviations, QC against the
    specification, the disposition and its signature."""
    batch = _batch(session, principal, batch_id)
    item = _list_items(session, [batch])[0]
    product = repository.products(session, [batch.product_id])[batch.product_id]
    recipe = repository.recipe(session, batch.recipe_id)
    assert recipe is not None
    materials, made_from = _made_from(session, principal, batch)
    deviations = repository.deviations(session, batch.id)
    qc = _qc_lines(session, batch)
    blockers, missing, oos = _blockers(batch, qc, deviations)
    signatures = [SignatureRead.model_validate(s) for s in signatures_of(session, ENTITY, batch.id)]
    disposition_signature = next(
        (s for s in signatures if s.id == batch.disposition_signature_id), None
    )
    bom_products = repository.products(
        session,
        [
            b.component_product_id
            for b in repository.bom_lines(session, recipe.id)
            if b.component_product_id
        ],
    )
    bom = [
        f"{b.material_name} ({bom_products[b.component_product_id].code})"
        if b.component_product_id
        else b.material_name
        for b in repository.bom_lines(session, recipe.id)
    ]
    return BatchRead(
        **item.model_dump(),
        product_kind=product.kind,
        recipe_id=batch.recipe_id,
        plant_id=recipe.plant_id,
        provider_id=batch.provider_id,
        provider_name=_names(session, [batch.provider_id]).get(batch.provider_id, "—"),
        expiry_date=_expiry(batch.manufactured_on, product.shelf_life_months),
        steps=_step_reads(session, batch),
        materials=materials,
        made_from=made_from,
        used_in=_used_in(session, principal, batch),
        bom=bom,
        deviations=[_deviation_read(d) for d in deviations],
        qc=qc,
        missing_results=missing,
        out_of_specification_tests=oos,
        release_blockers=blockers,
        disposition=DispositionRead(
            decision=batch.status if batch.status in DISPOSED else None,
            disposed_at=batch.disposed_at,
            reason=batch.disposition_reason,
            signature=disposition_signature,
        ),
        signatures=signatures,
    )


# --- execution ----------------------------------------------------------------------------------


def start_batch(
    session: Session, principal: Principal, batch_id: uuid.UUID, body: BatchStart
) -> BatchRead:
    """planned → in_progress; the recipe's steps become the batch's steps to record."""
    batch = _writable(session, principal, batch_id)
    _require_state(batch, "start", BatchStatus.PLANNED)
    check_version(f"batch {batch.batch_number}", batch.version, body.version)
    _not_in_future(started_at=body.started_at)
    existing = {s.sequence for s in repository.steps(session, batch.id)}
    for planned in repository.recipe_steps(session, batch.recipe_id):
        if planned.sequence not in existing:
            session.add(
                BatchStep(batch_id=batch.id, sequence=planned.sequence, operation=planned.operation)
            )
    before = audit.snapshot(batch, BATCH_FIELDS)
    batch.status = BatchStatus.IN_PROGRESS.value
    batch.started_at = body.started_at or utcnow()
    _touch(session, batch)
    _audit(session, principal, batch, action="start", before=before,
           after=audit.snapshot(batch, BATCH_FIELDS))  # fmt: skip
    session.expire(batch, ["steps"])
    return get_batch(session, principal, batch.id)


def record_step(
    session: Session, principal: Principal, batch_id: uuid.UUID, sequence: int, body: StepRecord
) -> BatchRead:
    """What happened at one step: the unit (an active GMP unit of the step's equipment class in
    the recipe's plant), start and end, yield, who performed it."""
    batch = _writable(session, principal, batch_id)
    _require_state(batch, "recording a step", BatchStatus.IN_PROGRESS)
    check_version(f"batch {batch.batch_number}", batch.version, body.version)
    if not 1 <= sequence <= MAX_STEP_SEQUENCE:
        raise NotFound(f"batch {batch.batch_number} has no step {sequence}")
    step = repository.step(session, batch.id, sequence)
    planned = {s.sequence: s for s in repository.recipe_steps(session, batch.recipe_id)}.get(
        sequence
    )
    if step is None or planned is None:
        raise NotFound(f"batch {batch.batch_number} has no step {sequence}")
    recipe = repository.recipe(session, batch.recipe_id)
    assert recipe is not None
    unit = repository.unit(session, body.unit_id)
    if (
        unit is None
        or unit.provider_id != batch.provider_id
        or unit.plant_id != recipe.plant_id
        or not unit.active
        or unit.gmp_grade != GmpGrade.GMP.value  # batches are GMP manufacture
        or unit.equipment_class != planned.equipment_class
    ):
        eligible = repository.active_units(
            session, batch.provider_id, recipe.plant_id, [planned.equipment_class]
        )
        codes = ", ".join(u.code for u in eligible) or "none — add one to the plant"
        raise Invalid(
            f"step {sequence} ({planned.operation}) runs on an active GMP "
            f"{planned.equipment_class} of the recipe's plant",
            field_errors={"unit_id": f"choose an active GMP {planned.equipment_class}: {codes}"},
        )
    _not_in_future(started_at=body.started_at, ended_at=body.ended_at)
    if batch.started_at and body.started_at < batch.started_at:
        raise Invalid(
            "a step cannot start before its batch",
            field_errors={
                "started_at": f"the batch started {batch.started_at:%Y-%m-%d %H:%M} UTC; "
                "choose that time or later"
            },
        )
    before = audit.snapshot(step, STEP_FIELDS)
    step.unit_id = unit.id
    step.started_at = body.started_at
    step.ended_at = body.ended_at
    step.actual_yield_fraction = body.actual_yield_fraction
    step.performed_by = body.performed_by
    step.notes = body.notes
    _touch(session, batch)
    _audit(session, principal, batch, action="record_step", entity_type="mfg_batch_step",
           entity_id=step.id, before=before, after={"sequence": sequence,
                                                    **audit.snapshot(step, STEP_FIELDS)})  # fmt: skip
    return get_batch(session, principal, batch.id)


def complete_batch(
    session: Session, principal: Principal, batch_id: uuid.UUID, body: BatchComplete
) -> BatchRead:
    """in_progress → completed once every step has ended; sets the output and the
    manufacturing date (the completion's UTC date)."""
    batch = _writable(session, principal, batch_id)
    _require_state(batch, "completing", BatchStatus.IN_PROGRESS)
    check_version(f"batch {batch.batch_number}", batch.version, body.version)
    steps = repository.steps(session, batch.id)
    still_open = [f"{s.sequence} {s.operation}" for s in steps if s.ended_at is None]
    if still_open:
        raise Conflict(
            f"batch {batch.batch_number} cannot be completed: these steps have not ended: "
            f"{', '.join(still_open)}"
        )
    _not_in_future(completed_at=body.completed_at)
    completed_at = body.completed_at or utcnow()
    last_end = max((s.ended_at for s in steps if s.ended_at), default=batch.started_at)
    if last_end is not None and completed_at < last_end:
        raise Invalid(
            "a batch completes after its last step ends",
            field_errors={
                "completed_at": f"the last step ended {last_end:%Y-%m-%d %H:%M} UTC; "
                "choose that time or later"
            },
        )
    before = audit.snapshot(batch, BATCH_FIELDS)
    batch.status = BatchStatus.COMPLETED.value
    batch.actual_quantity = body.actual_quantity
    batch.completed_at = completed_at
    batch.manufactured_on = completed_at.date()
    _touch(session, batch)
    _audit(session, principal, batch, action="complete", before=before,
           after=audit.snapshot(batch, BATCH_FIELDS))  # fmt: skip
    return get_batch(session, principal, batch.id)


# --- materials and genealogy --------------------------------------------------------------------


def _check_quantity_left(
    session: Session, source: Batch, product: Product, body: MaterialCreate
) -> None:
    """A batch can give no more than it made: its actual quantity less what other records
    already consumed, in its product's unit."""
    number = source.batch_number
    if body.unit is not None and body.unit.value != product.unit:
        raise Invalid(
            f"{number} is counted in {product.unit}, not {body.unit.value}",
            field_errors={"unit": f"use {product.unit}, the unit of {product.code}"},
        )
    made = Decimal(source.actual_quantity or 0)
    consumed = sum(
        (Decimal(c.quantity) for c in repository.consumptions_of_input(session, source.id)),
        Decimal(0),
    )
    left = made - consumed
    if body.quantity > left:
        unit = product.unit
        raise Invalid(
            f"{number} has {_num(left)} {unit} left ({_num(made)} {unit} made, "
            f"{_num(consumed)} {unit} already consumed); {_num(body.quantity)} {unit} is too much",
            field_errors={"quantity": f"at most {_num(left)} {unit} of {number}"},
        )


def add_material(
    session: Session, principal: Principal, batch_id: uuid.UUID, body: MaterialCreate
) -> BatchRead:
    """Record a consumed material: a released batch of a product on the recipe's bill of
    materials, or a supplier lot."""
    batch = _writable(session, principal, batch_id)
    _require_state(batch, "recording materials", BatchStatus.PLANNED, BatchStatus.IN_PROGRESS)
    check_version(f"batch {batch.batch_number}", batch.version, body.version)
    consumption = MaterialConsumption(batch_id=batch.id, quantity=body.quantity)
    if body.input_batch_number is not None:
        number = body.input_batch_number
        source = repository.batch_by_number(session, batch.provider_id, number)
        if source is None:
            raise Invalid(
                f"no batch {number} at this plant's provider",
                field_errors={"input_batch_number": f"no batch {number}; check the number"},
            )
        if source.id == batch.id:
            raise Invalid(
                "a batch cannot consume itself",
                field_errors={"input_batch_number": "choose another batch"},
            )
        if source.status != BatchStatus.RELEASED:
            raise Invalid(
                f"{number} is not released (it is {source.status.replace('_', ' ')})",
                field_errors={
                    "input_batch_number": f"{number} is not released; only released batches "
                    "may be consumed"
                },
            )
        lines = repository.bom_lines(session, batch.recipe_id)
        components = {line.component_product_id for line in lines if line.component_product_id}
        products = repository.products(session, [source.product_id, *components])
        product = products[source.product_id]
        if source.product_id not in components:
            listed = ", ".join(
                f"{line.material_name} ({products[line.component_product_id].code})"
                if line.component_product_id
                else line.material_name
                for line in lines
            )
            raise Invalid(
                f"{number} is {product.code} ({product.name}), which the recipe's bill of "
                f"materials does not list; it lists: {listed or 'nothing'}",
                field_errors={
                    "input_batch_number": f"choose a batch of {listed or 'a BOM component'}"
                },
            )
        _check_quantity_left(session, source, product, body)
        consumption.input_batch_id = source.id
        consumption.material_name = body.material_name or product.name
        consumption.unit = product.unit
        _touch(session, source)  # two records drawing on the same batch at once: one gets 409
    else:
        if body.material_name is None:
            raise Invalid(
                "a supplier lot needs the material's name",
                field_errors={"material_name": "name the material, e.g. Toluene"},
            )
        consumption.supplier_lot = body.supplier_lot
        consumption.material_name = body.material_name
        consumption.unit = body.unit.value if body.unit else "kg"
    session.add(consumption)
    session.flush()
    _touch(session, batch)
    _audit(session, principal, batch, action="consume", entity_type="mfg_material",
           entity_id=consumption.id,
           after={"batch": batch.batch_number, "input_batch": body.input_batch_number,
                  "supplier_lot": consumption.supplier_lot,
                  "material_name": consumption.material_name,
                  "quantity": consumption.quantity, "unit": consumption.unit})  # fmt: skip
    return get_batch(session, principal, batch.id)


def remove_material(session: Session, principal: Principal, consumption_id: uuid.UUID) -> BatchRead:
    """Take back a wrongly recorded material, while the batch is not yet completed."""
    consumption = repository.consumption(session, consumption_id)
    if consumption is None:
        raise NotFound("material consumption not found")
    batch = _writable(session, principal, consumption.batch_id)
    _require_state(batch, "removing a material", BatchStatus.PLANNED, BatchStatus.IN_PROGRESS)
    before = {
        "batch": batch.batch_number,
        "input_batch_id": consumption.input_batch_id,
        "supplier_lot": consumption.supplier_lot,
        "material_name": consumption.material_name,
        "quantity": consumption.quantity,
        "unit": consumption.unit,
    }
    session.delete(consumption)
    session.flush()
    _touch(session, batch)
    _audit(session, principal, batch, action="remove", entity_type="mfg_material",
           entity_id=consumption_id, before=before)  # fmt: skip
    return get_batch(session, principal, batch.id)


def _node(
    session: Session,
    principal: Principal,
    link: MaterialConsumption,
    neighbour: Batch | None,
    products: dict[uuid.UUID, Product],
) -> GenealogyNode:
    code, name = _batch_label(products.get(neighbour.product_id) if neighbour else None)
    return GenealogyNode(
        batch_id=neighbour.id if neighbour else None,
        batch_number=neighbour.batch_number if neighbour else None,
        product_code=code,
        product_name=name,
        status=neighbour.status if neighbour else None,
        supplier_lot=link.supplier_lot,
        material_name=link.material_name,
        quantity=link.quantity,
        unit=link.unit,
    )


def _tree(
    session: Session,
    principal: Principal,
    root: Batch,
    *,
    upstream: bool,
) -> list[GenealogyNode]:
    """The genealogy tree on one side of ``root``: children of a node are its own inputs
    (upstream) or consumers (downstream). A batch already on the branch is marked ``repeated``
    and not expanded again, so a cycle (impossible through the API, but not in the database)
    cannot loop."""

    def expand(batch: Batch, branch: frozenset[uuid.UUID], depth: int) -> list[GenealogyNode]:
        if upstream:
            links = repository.consumptions(session, batch.id)
            ids = [c.input_batch_id for c in links if c.input_batch_id]
        else:
            links = repository.consumptions_of_input(session, batch.id)
            ids = [c.batch_id for c in links]
        neighbours = repository.batches_by_ids(session, ids)
        readable = _readable_ids(principal, neighbours.values())
        products = repository.products(session, [b.product_id for b in neighbours.values()])
        nodes = []
        for link in links:
            other_id = link.input_batch_id if upstream else link.batch_id
            neighbour = neighbours.get(other_id) if other_id else None
            if neighbour is not None and neighbour.id not in readable:
                continue
            node = _node(session, principal, link, neighbour, products)
            if neighbour is not None:
                if neighbour.id in branch or depth >= MAX_TREE_DEPTH:
                    node.repeated = True
                else:
                    node.children = expand(neighbour, branch | {neighbour.id}, depth + 1)
            nodes.append(node)
        return nodes

    return expand(root, frozenset({root.id}), 1)


def genealogy(session: Session, principal: Principal, batch_id: uuid.UUID) -> GenealogyRead:
    """Everything the batch was made from and everything made from it, recursively."""
    batch = _batch(session, principal, batch_id)
    return GenealogyRead(
        batch_id=batch.id,
        batch_number=batch.batch_number,
        upstream=_tree(session, principal, batch, upstream=True),
        downstream=_tree(session, principal, batch, upstream=False),
    )


# --- deviations ---------------------------------------------------------------------------------


def _next_deviation_number(session: Session, provider_id: uuid.UUID, on: date) -> str:
    prefix = f"DEV-{on:%y}-"
    numbers = repository.deviation_numbers(session, provider_id, prefix)
    used = [int(n.removeprefix(prefix)) for n in numbers if n.removeprefix(prefix).isdigit()]
    return f"{prefix}{max(used, default=0) + 1:03d}"


def open_deviation(
    session: Session, principal: Principal, batch_id: uuid.UUID, body: DeviationCreate
) -> DeviationRead:
    """Record a deviation (numbered DEV-<yy>-<NNN> per provider); it blocks release until closed."""
    batch = _writable(session, principal, batch_id)
    _require_state(batch, "recording a deviation", BatchStatus.IN_PROGRESS, BatchStatus.COMPLETED)
    check_version(f"batch {batch.batch_number}", batch.version, body.version)
    now = utcnow()
    deviation = Deviation(
        batch_id=batch.id,
        number=_next_deviation_number(session, batch.provider_id, now.date()),
        description=body.description,
        severity=body.severity.value,
        opened_at=now,
    )
    session.add(deviation)
    session.flush()
    _touch(session, batch)
    _audit(session, principal, batch, action="open", entity_type="mfg_deviation",
           entity_id=deviation.id,
           after={"batch": batch.batch_number, "number": deviation.number,
                  "severity": deviation.severity, "description": deviation.description})  # fmt: skip
    return _deviation_read(deviation)


def close_deviation(
    session: Session, principal: Principal, deviation_id: uuid.UUID, body: DeviationClose
) -> DeviationRead:
    deviation = repository.deviation(session, deviation_id)
    if deviation is None:
        raise NotFound("deviation not found")
    # QA approves the closure of a deviation in GMP practice; production may close it too.
    owner = repository.batch(session, deviation.batch_id)
    closer = (
        Permission.BATCHES_RELEASE
        if owner is not None and principal.can(Permission.BATCHES_RELEASE, owner.provider_id)
        else Permission.MANUFACTURING_WRITE
    )
    batch = _writable(session, principal, deviation.batch_id, closer)
    if deviation.closed_at is not None:
        raise Conflict(f"deviation {deviation.number} was closed on {deviation.closed_at:%Y-%m-%d}")
    check_version(f"deviation {deviation.number}", deviation.version, body.version)
    deviation.closed_at = utcnow()
    deviation.resolution = body.resolution
    session.flush()
    _touch(session, batch)
    _audit(session, principal, batch, action="close", entity_type="mfg_deviation",
           entity_id=deviation.id, before={"closed_at": None},
           after={"number": deviation.number, "closed_at": deviation.closed_at,
                  "resolution": deviation.resolution})  # fmt: skip
    return _deviation_read(deviation)


# --- QC results ---------------------------------------------------------------------------------


def out_of_specification(value: Decimal, lower: Decimal | None, upper: Decimal | None) -> bool:
    """A numeric result is out of specification when below the lower or above the upper limit;
    a value equal to a limit conforms."""
    return (lower is not None and value < lower) or (upper is not None and value > upper)


def record_qc(
    session: Session,
    principal: Principal,
    batch_id: uuid.UUID,
    specification_id: uuid.UUID,
    body: QcRecord,
) -> QcLine:
    """Record (or correct) the batch's result against one specification line; the limits in
    force are copied into the result and the OOS flag computed."""
    batch = _writable(session, principal, batch_id)
    spec: Specification | None = repository.specification(session, specification_id)
    if spec is None or spec.product_id != batch.product_id:
        raise NotFound("specification not found for this batch's product")
    _require_state(batch, "recording a QC result", BatchStatus.COMPLETED)
    check_version(f"batch {batch.batch_number}", batch.version, body.version)
    if batch.manufactured_on and body.tested_on < batch.manufactured_on:
        raise Invalid(
            "a batch is tested after it is made",
            field_errors={"tested_on": f"the batch was made on {batch.manufactured_on}; "
                          "choose that date or later"},
        )  # fmt: skip
    if body.tested_on > utcnow().date():
        raise Invalid("a test date cannot be in the future",
                      field_errors={"tested_on": "choose today or an earlier date"})  # fmt: skip
    if spec.acceptance_text is None:
        if body.value is None:
            raise Invalid(
                f"{spec.test} is a numeric test: give the measured value",
                field_errors={"value": f"enter the result in {spec.result_unit or 'its unit'}"},
            )
        oos = out_of_specification(body.value, spec.lower_limit, spec.upper_limit)
        values: dict[str, Any] = {"value": body.value, "text_result": None, "conforms": not oos}
    else:
        if body.conforms is None:
            raise Invalid(
                f"{spec.test} is judged against '{spec.acceptance_text}': say whether it conforms",
                field_errors={"conforms": "choose conforms or does not conform"},
            )
        oos = not body.conforms
        text = body.text_result or ("Conforms" if body.conforms else "Does not conform")
        values = {"value": None, "text_result": text, "conforms": body.conforms}
    result = repository.qc_results(session, batch.id).get(spec.id)
    before = audit.snapshot(result, QC_FIELDS) if result else None
    if result is None:
        result = QcResult(batch_id=batch.id, specification_id=spec.id)
        session.add(result)
    for name, value in values.items():
        setattr(result, name, value)
    result.out_of_specification = oos
    result.tested_on = body.tested_on
    result.analyst = body.analyst.strip()
    result.lower_limit = spec.lower_limit
    result.upper_limit = spec.upper_limit
    session.flush()
    _touch(session, batch)
    _audit(session, principal, batch, action="record_qc", entity_type="mfg_qc_result",
           entity_id=result.id, before=before,
           after={"batch": batch.batch_number, "test": spec.test,
                  **audit.snapshot(result, QC_FIELDS)})  # fmt: skip
    return next(line for line in _qc_lines(session, batch) if line.specification_id == spec.id)


# --- QA disposition -----------------------------------------------------------------------------


def _signed_record(
    batch: Batch, product: Product, qc: Sequence[QcLine], decision: str
) -> dict[str, Any]:
    """Exactly what QA signs: the batch's identity, its quantities and its QC results."""
    return {
        "batch_id": batch.id,
        "batch_number": batch.batch_number,
        "product_code": product.code,
        "decision": decision,
        "planned_quantity": batch.planned_quantity,
        "actual_quantity": batch.actual_quantity,
        "unit": product.unit,
        "manufactured_on": batch.manufactured_on,
        "qc_results": [
            {
                "test": line.test,
                "value": line.result.value if line.result else None,
                "text_result": line.result.text_result if line.result else None,
                "out_of_specification": line.result.out_of_specification if line.result else None,
            }
            for line in qc
        ],
    }


def _complete_order_if_done(session: Session, principal: Principal, batch: Batch) -> None:
    """The order is completed once every batch of its product is released or rejected and
    the released output covers the ordered quantity (after a rejection the order stays open:
    planning it again makes up the shortfall)."""
    order = repository.order(session, batch.order_id)
    if order is None or order.status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED):
        return
    finals = [b for b in repository.batches_of_order(session, order.id)
              if b.product_id == order.product_id]  # fmt: skip
    released = sum(
        (Decimal(b.actual_quantity or 0) for b in finals if b.status == BatchStatus.RELEASED),
        Decimal(0),
    )
    if finals and all(b.status in DISPOSED for b in finals) and released >= order.quantity:
        audit.change_status(
            session,
            order,
            OrderStatus.COMPLETED.value,
            entity_type="mfg_order",
            actor=principal,
            organization_id=order.provider_id,
            reason=f"every batch of {order.number} is dispositioned; {released} released",
        )


def _dispose(
    session: Session,
    principal: Principal,
    batch: Batch,
    *,
    decision: BatchStatus,
    password: str,
    reason: str | None,
) -> BatchRead:
    product = repository.products(session, [batch.product_id])[batch.product_id]
    qc = _qc_lines(session, batch)
    meaning = (
        SignatureMeaning.RELEASED if decision is BatchStatus.RELEASED else SignatureMeaning.REJECTED
    )
    signature = sign(
        session,
        principal,
        password=password,
        meaning=meaning,
        entity_type=ENTITY,
        entity_id=batch.id,
        organization_id=batch.provider_id,
        record=_signed_record(batch, product, qc, decision.value),
    )
    before = audit.snapshot(batch, BATCH_FIELDS)
    batch.status = decision.value
    batch.disposed_at = signature.signed_at
    batch.disposition_reason = reason
    batch.disposition_signature_id = signature.id
    _touch(session, batch)
    _audit(session, principal, batch, action=decision.value, before=before,
           after=audit.snapshot(batch, BATCH_FIELDS), reason=reason)  # fmt: skip
    _complete_order_if_done(session, principal, batch)
    return get_batch(session, principal, batch.id)


def release_batch(
    session: Session, principal: Principal, batch_id: uuid.UUID, body: BatchRelease
) -> BatchRead:
    """QA releases a completed batch with its e-signature: every specification has a result,
    none is out of specification, no deviation is open."""
    batch = _writable(session, principal, batch_id, Permission.BATCHES_RELEASE)
    _require_state(batch, "release", BatchStatus.COMPLETED)
    check_version(f"batch {batch.batch_number}", batch.version, body.version)
    # The batch row is held before anything is checked or signed: a deviation opened or a QC
    # result recorded meanwhile is seen (409), and the row comes before the signature's audit
    # event, the lock order of every other write to the record.
    hold(session, batch)
    qc = _qc_lines(session, batch)
    blockers, _, _ = _blockers(batch, qc, repository.deviations(session, batch.id))
    if blockers:
        raise Conflict(f"batch {batch.batch_number} cannot be released: {'; '.join(blockers)}")
    return _dispose(session, principal, batch, decision=BatchStatus.RELEASED,
                    password=body.password, reason=None)  # fmt: skip


def reject_batch(
    session: Session, principal: Principal, batch_id: uuid.UUID, body: BatchReject
) -> BatchRead:
    """QA rejects a completed batch with its e-signature and the reason."""
    batch = _writable(session, principal, batch_id, Permission.BATCHES_RELEASE)
    _require_state(batch, "rejection", BatchStatus.COMPLETED)
    check_version(f"batch {batch.batch_number}", batch.version, body.version)
    hold(session, batch)  # as for a release
    return _dispose(session, principal, batch, decision=BatchStatus.REJECTED,
                    password=body.password, reason=body.reason)  # fmt: skip


# --- certificate of analysis --------------------------------------------------------------------


def _limits(line: QcLine) -> str:
    if line.acceptance_text is not None:
        return line.acceptance_text
    unit = f" {line.result_unit}" if line.result_unit else ""
    low, high = line.lower_limit, line.upper_limit
    if low is not None and high is not None:
        return f"{_num(low)} – {_num(high)}{unit}"
    if low is not None:
        return f"≥ {_num(low)}{unit}"
    if high is not None:
        return f"≤ {_num(high)}{unit}"
    return "report the result"


def _num(value: Decimal) -> str:
    """A decimal as written on a certificate: no trailing zeros beyond the first decimal."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def certificate(session: Session, principal: Principal, batch_id: uuid.UUID) -> CoaRead:
    """The certificate of analysis of a released batch (the sponsor reads its own)."""
    batch = _batch(session, principal, batch_id)
    if batch.status != BatchStatus.RELEASED:
        raise Conflict(
            f"batch {batch.batch_number} is {batch.status.replace('_', ' ')}: a certificate of "
            "analysis is issued for released batches only"
        )
    product = repository.products(session, [batch.product_id])[batch.product_id]
    order = repository.order(session, batch.order_id)
    signature = next(
        (s for s in signatures_of(session, ENTITY, batch.id)
         if s.id == batch.disposition_signature_id),
        None,
    )  # fmt: skip
    # A test added to the specification after the release was not part of it: the
    # certificate states the results QA signed, and stays valid.
    added_later = {
        s.id
        for s in repository.specifications(session, batch.product_id)
        if signature is not None and s.created_at > signature.signed_at
    }
    lines = [
        line
        for line in _qc_lines(session, batch)
        if line.result is not None or line.specification_id not in added_later
    ]
    untested = [line.test for line in lines if line.result is None]
    if signature is None or untested or batch.manufactured_on is None:
        missing = "its release signature" if signature is None else (
            f"results for {', '.join(untested)}" if untested else "its manufacturing date"
        )  # fmt: skip
        raise Conflict(
            f"batch {batch.batch_number} is marked released but lacks {missing}; a certificate "
            "needs a batch released by QA through OpenCXO"
        )
    names = _names(session, [batch.provider_id, batch.sponsor_id])
    tests = []
    for line in lines:
        result = line.result
        assert result is not None  # checked above
        unit = f" {line.result_unit}" if line.result_unit else ""
        tests.append(
            CoaTest(
                test=line.test,
                method=line.method,
                lower_limit=result.lower_limit,
                upper_limit=result.upper_limit,
                acceptance=_limits(line),
                result=f"{_num(result.value)}{unit}" if result.value is not None
                else (result.text_result or ""),
                value=result.value,
                unit=line.result_unit,
                conforms=not result.out_of_specification,
                tested_on=result.tested_on,
                analyst=result.analyst,
            )
        )  # fmt: skip
    assert batch.manufactured_on is not None
    assert batch.actual_quantity is not None
    return CoaRead(
        batch_id=batch.id,
        batch_number=batch.batch_number,
        product=CoaProduct(
            name=product.name,
            code=product.code,
            kind=product.kind,
            dosage_form=product.dosage_form,
            strength=product.strength,
        ),
        order_number=order.number if order else "",
        manufactured_on=batch.manufactured_on,
        expiry_date=_expiry(batch.manufactured_on, product.shelf_life_months),
        shelf_life_months=product.shelf_life_months,
        quantity=batch.actual_quantity,
        unit=product.unit,
        tests=tests,
        release=SignatureRead.model_validate(signature),
        manufacturer=names.get(batch.provider_id, "—"),
        sponsor=names.get(batch.sponsor_id, "—"),
    )


# --- the certificate as a milestone's deliverable (DOMAIN: a released batch delivers) -----------


def _work_order_of(session: Session, principal: Principal, batch: Batch) -> WorkOrderRead:
    order = repository.order(session, batch.order_id)
    if order is None or order.work_order_id is None:
        number = order.number if order is not None else str(batch.order_id)
        raise Conflict(
            f"order {number} is not linked to a work order: link it on the order page to "
            "deliver the batch against a milestone"
        )
    return contracts.get_work_order(session, principal, order.work_order_id)


def milestone_choices(
    session: Session, principal: Principal, batch_id: uuid.UUID
) -> list[MilestoneChoice]:
    """The milestones a released batch's certificate can go to; none when the batch is not
    released, its order has no active work order or the principal cannot submit milestones."""
    batch = _batch(session, principal, batch_id)
    order = repository.order(session, batch.order_id)
    if (
        batch.status != BatchStatus.RELEASED
        or order is None
        or order.work_order_id is None
        or not principal.can(Permission.MANUFACTURING_WRITE, batch.provider_id)
        or not principal.can(Permission.CONTRACTS_WRITE, batch.provider_id)
    ):
        return []
    work_order = _work_order_of(session, principal, batch)
    if work_order.status != "active":  # contracts takes milestones of active work orders only
        return []
    return [
        MilestoneChoice(
            id=m.id,
            position=m.position,
            label=f"{work_order.number} · milestone {m.position}: {m.description}"
            + (" (rejected: submit again)" if m.status == "rejected" else ""),
            version=m.version,
        )
        for m in work_order.milestones
        if m.status in ("planned", "rejected")  # the states contracts lets the provider submit
    ]


def deliver_certificate(
    session: Session,
    principal: Principal,
    batch_id: uuid.UUID,
    body: CertificateDelivery,
    render_pdf: Callable[[CoaRead], tuple[str, bytes]],
) -> MilestoneRead:
    """Submit a released batch's certificate of analysis (``render_pdf`` gives its file name and
    PDF bytes) as the deliverable of a milestone of the work order behind the batch's order;
    the sponsor then accepts or rejects the milestone as any other."""
    batch = _writable(session, principal, batch_id)
    work_order = _work_order_of(session, principal, batch)
    coa = certificate(session, principal, batch_id)  # 409 unless released through OpenCXO
    milestone = next((m for m in work_order.milestones if m.id == body.milestone_id), None)
    if milestone is None:
        raise Invalid(
            f"that milestone is not one of work order {work_order.number}'s",
            field_errors={"milestone_id": f"choose a milestone of {work_order.number}"},
        )
    filename, pdf = render_pdf(coa)
    note = body.note or (
        f"Certificate of analysis of batch {batch.batch_number} "
        f"({coa.product.code}, {_num(coa.quantity)} {coa.unit}), released by QA"
    )
    return contracts.submit_milestone(
        session,
        principal,
        milestone.id,
        version=body.version if body.version is not None else milestone.version,
        note=note,
        uploads=[(filename, "application/pdf", pdf)],
    )


# --- for the web forms --------------------------------------------------------------------------


def eligible_units(
    session: Session, principal: Principal, batch_id: uuid.UUID
) -> dict[int, list[tuple[uuid.UUID, str]]]:
    """Per step: the active units (id, "code · name") a step may run on — for writers only."""
    batch = _batch(session, principal, batch_id)
    if not principal.can(Permission.MANUFACTURING_WRITE, batch.provider_id):
        return {}
    recipe = repository.recipe(session, batch.recipe_id)
    assert recipe is not None
    steps = repository.recipe_steps(session, batch.recipe_id)
    units = repository.active_units(
        session, batch.provider_id, recipe.plant_id, [s.equipment_class for s in steps]
    )
    return {
        s.sequence: [(u.id, f"{u.code} · {u.name}") for u in units
                     if u.equipment_class == s.equipment_class]
        for s in steps
    }  # fmt: skip


def filter_options(
    session: Session, principal: Principal
) -> tuple[list[tuple[uuid.UUID, str]], list[tuple[uuid.UUID, str]]]:
    """The products and sponsors of the batches the principal reads (for the list's filters)."""
    visible = access.read_filter(principal, Batch.provider_id, Batch.sponsor_id)
    product_ids, sponsor_ids = repository.products_and_sponsors(session, visible)
    products = repository.products(session, product_ids)
    names = _names(session, sponsor_ids)
    return (
        sorted(((p.id, f"{p.code} · {p.name}") for p in products.values()), key=lambda x: x[1]),
        sorted(((i, names.get(i, "—")) for i in sponsor_ids), key=lambda x: x[1]),
    )
