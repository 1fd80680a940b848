"""Planning: a production order becomes batches.

For the order's product, ``n = ceil(quantity / output_per_batch)`` batches of its recipe at the
order's plant, where ``output_per_batch = batch_size × Π step yields``. The bill of materials is
exploded: each BOM line whose component is a product with a recipe at the same plant needs
``n × quantity_per_batch`` of it, made by batches of that component for the same order
(recursively, components shared by several products summed).

Re-planning replaces the batches that have not started (status ``planned``); started ones
(in progress, completed, released) are kept and count towards the need with their actual
output (else their planned one); only the shortfall is planned. Rejected batches count for
nothing. Cancelled and completed orders are not planned.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from opencxo.core import audit
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound, check_version
from opencxo.core.types import utc_today, utcnow
from opencxo.manufacturing import access
from opencxo.manufacturing.models import (
    Batch,
    BatchStatus,
    OrderStatus,
    Product,
    ProductionOrder,
    QuantityUnit,
    Recipe,
)
from opencxo.manufacturing.schedule_schemas import PlannedBatchRead

#: The most batches one planning of an order may create (its intermediates included): more
#: is a mistyped quantity or batch size, and would take the request minutes.
MAX_NEW_BATCHES = 1000

__all__ = ["order_batches", "output_per_batch", "plan_order"]


def output_per_batch(recipe: Recipe, unit: str) -> Decimal:
    """``batch_size × Π yield_fraction`` of the recipe's steps in the product's ``unit``: kg to
    the column's six decimals, whole units (tablets, vials) rounded down — a batch makes no
    fraction of a tablet."""
    out = Decimal(recipe.batch_size)
    for step in recipe.steps:
        out *= Decimal(step.yield_fraction)
    if unit == QuantityUnit.UNITS:
        return out.to_integral_value(rounding=ROUND_FLOOR)
    return out.quantize(Decimal("0.000001"))


def _contribution(batch: Batch) -> Decimal:
    if batch.status == BatchStatus.REJECTED.value:
        return Decimal(0)
    if batch.actual_quantity is not None:
        return Decimal(batch.actual_quantity)
    return Decimal(batch.planned_quantity)


def _recipes_at(session: Session, plant_id: uuid.UUID) -> dict[uuid.UUID, Recipe]:
    rows = session.scalars(select(Recipe).where(Recipe.plant_id == plant_id)).all()
    return {r.product_id: r for r in rows}


def _product_order(
    top: uuid.UUID, recipes: dict[uuid.UUID, Recipe], products: dict[uuid.UUID, Product]
) -> list[uuid.UUID]:
    """Products of the order's BOM tree that the plant makes, consumers before components;
    Invalid on a cycle of the bill of materials."""
    order: list[uuid.UUID] = []
    state: dict[uuid.UUID, int] = {}

    def visit(pid: uuid.UUID, path: list[uuid.UUID]) -> None:
        if state.get(pid) == 2:
            return
        if state.get(pid) == 1:
            names = " → ".join(products[p].code for p in [*path, pid] if p in products)
            raise Invalid(
                f"the bills of materials form a cycle ({names}); fix the recipes",
                field_errors={"product_id": "the bills of materials form a cycle"},
            )
        state[pid] = 1
        for line in recipes[pid].bom_lines:
            component = line.component_product_id
            if component is not None and component in recipes:
                visit(component, [*path, pid])
        state[pid] = 2
        order.append(pid)

    visit(top, [])
    order.reverse()  # post-order reversed: every consumer before its components
    return order


def _next_numbers(session: Session, provider_id: uuid.UUID, prefix: str) -> int:
    """The next free serial after ``prefix`` (``API-1-27-``) among the provider's batches."""
    numbers = session.scalars(
        select(Batch.batch_number).where(
            Batch.provider_id == provider_id, Batch.batch_number.like(f"{prefix}%")
        )
    ).all()
    serials = [int(n[len(prefix) :]) for n in numbers if n[len(prefix) :].isdigit()]
    return max(serials, default=0) + 1


def _read(batch: Batch, products: dict[uuid.UUID, Product]) -> PlannedBatchRead:
    product = products[batch.product_id]
    return PlannedBatchRead(
        id=batch.id,
        batch_number=batch.batch_number,
        order_id=batch.order_id,
        product_id=batch.product_id,
        product_code=product.code,
        recipe_id=batch.recipe_id,
        planned_quantity=batch.planned_quantity,
        unit=product.unit,
        status=batch.status,
        version=batch.version,
    )


def order_batches(session: Session, order: ProductionOrder) -> list[Batch]:
    return list(
        session.scalars(
            select(Batch).where(Batch.order_id == order.id).order_by(Batch.batch_number)
        ).all()
    )


def _new_batches(
    order: ProductionOrder,
    sequence: list[uuid.UUID],
    recipes: dict[uuid.UUID, Recipe],
    units: dict[uuid.UUID, str],
    kept: list[Batch],
) -> dict[uuid.UUID, int]:
    """How many new batches of each product (in ``sequence``, consumers first) the order
    needs beyond the ``kept`` ones, each batch's BOM adding to its components' need."""
    need: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    need[order.product_id] = Decimal(order.quantity)
    counts: dict[uuid.UUID, int] = {}
    for pid in sequence:
        recipe = recipes[pid]
        mine = [b for b in kept if b.product_id == pid]
        usable = [b for b in mine if b.status != BatchStatus.REJECTED.value]
        shortfall = need[pid] - sum((_contribution(b) for b in mine), Decimal(0))
        counts[pid] = max(0, math.ceil(shortfall / output_per_batch(recipe, units[pid])))
        total = len(usable) + counts[pid]
        for line in recipe.bom_lines:
            component = line.component_product_id
            if component is not None and component in recipes:
                need[component] += total * Decimal(line.quantity_per_batch)
    return counts


def plan_order(
    session: Session,
    principal: Principal,
    order_id: uuid.UUID,
    *,
    today: date | None = None,
    version: int | None = None,
) -> list[PlannedBatchRead]:
    """(Re-)plan the batches of an order; returns every batch of the order after planning.

    ``version``: the order's version the planner read (the order page sends it); a stale one
    answers 409."""
    order = session.get(ProductionOrder, order_id)
    if order is None:
        raise NotFound("order not found")
    access.require(
        principal, Permission.MANUFACTURING_WRITE, "order", order.provider_id, order.sponsor_id
    )
    check_version(f"production order {order.number}", order.version, version)
    if order.status in (OrderStatus.CANCELLED.value, OrderStatus.COMPLETED.value):
        raise Conflict(f"order {order.number} is {order.status}: there is nothing to plan")
    recipes = _recipes_at(session, order.plant_id)
    products = {
        p.id: p
        for p in session.scalars(
            select(Product).where(Product.provider_id == order.provider_id)
        ).all()
    }
    top = products.get(order.product_id)
    if top is None or order.product_id not in recipes:
        code = top.code if top else "the product"
        raise Invalid(
            f"{code} has no recipe at this order's plant; add a recipe first",
            field_errors={"product_id": f"no recipe for {code} at this plant"},
        )
    sequence = _product_order(order.product_id, recipes, products)
    for pid in sequence:
        if (
            output_per_batch(recipes[pid], products[pid].unit) <= 0
        ):  # pragma: no cover - the constraints forbid it
            raise Invalid(f"the recipe of {products[pid].code} makes nothing")

    existing = order_batches(session, order)
    replaced = [b for b in existing if b.status == BatchStatus.PLANNED.value]
    kept = [b for b in existing if b.status != BatchStatus.PLANNED.value]
    units = {pid: products[pid].unit for pid in sequence}
    counts = _new_batches(order, sequence, recipes, units, kept)
    if sum(counts.values()) > MAX_NEW_BATCHES:
        listed = ", ".join(f"{products[pid].code} {n}" for pid, n in counts.items() if n)
        raise Invalid(
            f"this order would need {sum(counts.values())} new batches ({listed}); at most "
            f"{MAX_NEW_BATCHES} can be planned at once: check the quantity and the recipes' "
            "batch sizes, or split the order",
            field_errors={"quantity": f"needs more than {MAX_NEW_BATCHES} batches"},
        )
    year = (today or utc_today()).strftime("%y")
    next_serial = {
        pid: _next_numbers(session, order.provider_id, f"{products[pid].code}-{year}-")
        for pid in sequence
    }
    # Planning bumps the order's version, before any batch is written: of two plans, a plan
    # and a cancellation or a plan and an edit of the quantity at once, the second fails (409)
    # instead of leaving a cancelled order with planned batches, or batches for a quantity
    # that is no longer the order's.
    order.updated_at = utcnow()
    session.flush()
    for batch in replaced:
        session.delete(batch)
    session.flush()

    created: list[Batch] = []
    for pid in sequence:
        recipe = recipes[pid]
        per_batch = output_per_batch(recipe, products[pid].unit)
        for _ in range(counts[pid]):
            number = f"{products[pid].code}-{year}-{next_serial[pid]:04d}"
            next_serial[pid] += 1
            batch = Batch(
                provider_id=order.provider_id,
                sponsor_id=order.sponsor_id,
                order_id=order.id,
                product_id=pid,
                recipe_id=recipe.id,
                batch_number=number,
                planned_quantity=per_batch,
                status=BatchStatus.PLANNED.value,
            )
            session.add(batch)
            created.append(batch)
    session.flush()
    audit.record(
        session,
        action="planned",
        entity_type="production_order",
        entity_id=order.id,
        actor=principal,
        organization_id=order.provider_id,
        before={"planned_batches": sorted(b.batch_number for b in replaced)},
        after={
            "planned_batches": sorted(b.batch_number for b in created),
            "kept_batches": sorted(b.batch_number for b in kept),
        },
    )
    session.expire(order, ["batches"])
    return [_read(b, products) for b in order_batches(session, order)]
