"""Every SELECT of batch records; lists are scoped by :func:`opencxo.manufacturing.access.read_filter`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from opencxo.manufacturing.models import (
    Batch,
    BatchStep,
    BomLine,
    Deviation,
    EquipmentUnit,
    GmpGrade,
    MaterialConsumption,
    Product,
    ProductionOrder,
    QcResult,
    Recipe,
    RecipeStep,
    Specification,
)

BATCH_SORTS = ("batch_number", "status", "product", "manufactured_on", "updated_at")


def batch(session: Session, batch_id: uuid.UUID) -> Batch | None:
    return session.get(Batch, batch_id)


def batch_by_number(session: Session, provider_id: uuid.UUID, number: str) -> Batch | None:
    return session.execute(
        select(Batch).where(Batch.provider_id == provider_id, Batch.batch_number == number)
    ).scalar_one_or_none()


def batches_by_number(
    session: Session, number: str, visible: ColumnElement[bool]
) -> Sequence[Batch]:
    """Batches with this number the principal reads (one per provider at most)."""
    return (
        session.execute(select(Batch).where(Batch.batch_number == number, visible)).scalars().all()
    )


def batches_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Batch]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(Batch).where(Batch.id.in_(wanted))).scalars().all()
    return {b.id: b for b in rows}


def _order_by(column: str, descending: bool) -> list[Any]:
    keys: dict[str, Any] = {
        "batch_number": Batch.batch_number,
        "status": Batch.status,
        "product": Product.code,
        "manufactured_on": Batch.manufactured_on,
        "updated_at": Batch.updated_at,
    }
    key = keys.get(column, Batch.batch_number)
    return [key.desc() if descending else key.asc(), Batch.batch_number.asc()]


def batches(
    session: Session,
    visible: ColumnElement[bool],
    *,
    status: str | None = None,
    product_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
    sponsor_id: uuid.UUID | None = None,
    offset: int = 0,
    limit: int | None = None,
    sort: tuple[str, bool] = ("batch_number", False),
) -> tuple[Sequence[Batch], int]:
    query = select(Batch).join(Product, Product.id == Batch.product_id).where(visible)
    if status:
        query = query.where(Batch.status == status)
    if product_id:
        query = query.where(Batch.product_id == product_id)
    if order_id:
        query = query.where(Batch.order_id == order_id)
    if sponsor_id:
        query = query.where(Batch.sponsor_id == sponsor_id)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        session.execute(query.order_by(*_order_by(*sort)).offset(offset).limit(limit))
        .scalars()
        .all()
    )
    return rows, total


def products(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Product]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(Product).where(Product.id.in_(wanted))).scalars().all()
    return {p.id: p for p in rows}


def orders(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ProductionOrder]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = (
        session.execute(select(ProductionOrder).where(ProductionOrder.id.in_(wanted)))
        .scalars()
        .all()
    )
    return {o.id: o for o in rows}


def order(session: Session, order_id: uuid.UUID) -> ProductionOrder | None:
    return session.get(ProductionOrder, order_id)


def batches_of_order(session: Session, order_id: uuid.UUID) -> Sequence[Batch]:
    return session.execute(select(Batch).where(Batch.order_id == order_id)).scalars().all()


def recipe(session: Session, recipe_id: uuid.UUID) -> Recipe | None:
    return session.get(Recipe, recipe_id)


def recipe_steps(session: Session, recipe_id: uuid.UUID) -> Sequence[RecipeStep]:
    return (
        session.execute(
            select(RecipeStep)
            .where(RecipeStep.recipe_id == recipe_id)
            .order_by(RecipeStep.sequence)
        )
        .scalars()
        .all()
    )


def bom_lines(session: Session, recipe_id: uuid.UUID) -> Sequence[BomLine]:
    return (
        session.execute(
            select(BomLine).where(BomLine.recipe_id == recipe_id).order_by(BomLine.position)
        )
        .scalars()
        .all()
    )


def steps(session: Session, batch_id: uuid.UUID) -> Sequence[BatchStep]:
    return (
        session.execute(
            select(BatchStep).where(BatchStep.batch_id == batch_id).order_by(BatchStep.sequence)
        )
        .scalars()
        .all()
    )


def step(session: Session, batch_id: uuid.UUID, sequence: int) -> BatchStep | None:
    return session.execute(
        select(BatchStep).where(BatchStep.batch_id == batch_id, BatchStep.sequence == sequence)
    ).scalar_one_or_none()


def units(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, EquipmentUnit]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = (
        session.execute(select(EquipmentUnit).where(EquipmentUnit.id.in_(wanted))).scalars().all()
    )
    return {u.id: u for u in rows}


def unit(session: Session, unit_id: uuid.UUID) -> EquipmentUnit | None:
    return session.get(EquipmentUnit, unit_id)


def active_units(
    session: Session, provider_id: uuid.UUID, plant_id: uuid.UUID, classes: Iterable[str]
) -> Sequence[EquipmentUnit]:
    return (
        session.execute(
            select(EquipmentUnit)
            .where(
                EquipmentUnit.provider_id == provider_id,
                EquipmentUnit.plant_id == plant_id,
                EquipmentUnit.active.is_(True),
                EquipmentUnit.gmp_grade == GmpGrade.GMP.value,
                EquipmentUnit.equipment_class.in_(list(set(classes))),
            )
            .order_by(EquipmentUnit.code)
        )
        .scalars()
        .all()
    )


def consumptions(session: Session, batch_id: uuid.UUID) -> Sequence[MaterialConsumption]:
    """What the batch consumed, in the order it was recorded."""
    return (
        session.execute(
            select(MaterialConsumption)
            .where(MaterialConsumption.batch_id == batch_id)
            .order_by(MaterialConsumption.created_at, MaterialConsumption.id)
        )
        .scalars()
        .all()
    )


def consumptions_of_input(
    session: Session, input_batch_id: uuid.UUID
) -> Sequence[MaterialConsumption]:
    """Where the batch went: every consumption of it by another batch."""
    return (
        session.execute(
            select(MaterialConsumption)
            .where(MaterialConsumption.input_batch_id == input_batch_id)
            .order_by(MaterialConsumption.created_at, MaterialConsumption.id)
        )
        .scalars()
        .all()
    )


def consumption(session: Session, consumption_id: uuid.UUID) -> MaterialConsumption | None:
    return session.get(MaterialConsumption, consumption_id)


def deviations(session: Session, batch_id: uuid.UUID) -> Sequence[Deviation]:
    return (
        session.execute(
            select(Deviation).where(Deviation.batch_id == batch_id).order_by(Deviation.opened_at)
        )
        .scalars()
        .all()
    )


def deviation(session: Session, deviation_id: uuid.UUID) -> Deviation | None:
    return session.get(Deviation, deviation_id)


def deviation_numbers(session: Session, provider_id: uuid.UUID, prefix: str) -> Sequence[str]:
    return (
        session.execute(
            select(Deviation.number)
            .join(Batch, Batch.id == Deviation.batch_id)
            .where(Batch.provider_id == provider_id, Deviation.number.like(f"{prefix}%"))
        )
        .scalars()
        .all()
    )


def open_deviation_counts(session: Session, batch_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    ids = list(batch_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Deviation.batch_id, func.count())
        .where(Deviation.batch_id.in_(ids), Deviation.closed_at.is_(None))
        .group_by(Deviation.batch_id)
    ).all()
    return {batch_id: int(n) for batch_id, n in rows}


def batches_with_oos(session: Session, batch_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(batch_ids)
    if not ids:
        return set()
    rows = session.execute(
        select(QcResult.batch_id)
        .where(QcResult.batch_id.in_(ids), QcResult.out_of_specification.is_(True))
        .distinct()
    ).scalars()
    return set(rows)


def specifications(session: Session, product_id: uuid.UUID) -> Sequence[Specification]:
    return (
        session.execute(
            select(Specification)
            .where(Specification.product_id == product_id)
            .order_by(Specification.position, Specification.test)
        )
        .scalars()
        .all()
    )


def specification(session: Session, specification_id: uuid.UUID) -> Specification | None:
    return session.get(Specification, specification_id)


def qc_results(session: Session, batch_id: uuid.UUID) -> dict[uuid.UUID, QcResult]:
    rows = session.execute(select(QcResult).where(QcResult.batch_id == batch_id)).scalars().all()
    return {r.specification_id: r for r in rows}


def products_and_sponsors(
    session: Session, visible: ColumnElement[bool]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    rows = session.execute(
        select(Batch.product_id, Batch.sponsor_id).where(visible).distinct()
    ).all()
    return {p for p, _ in rows}, {s for _, s in rows}
