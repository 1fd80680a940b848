"""Every SELECT of manufacturing master data and production orders. Lists take the WHERE clause
of :mod:`opencxo.manufacturing.access` (the service builds it), single rows are fetched by id
and checked by the service."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from opencxo.manufacturing.models import (
    Batch,
    BatchStep,
    BomLine,
    ChangeoverOverride,
    CleaningTime,
    EquipmentUnit,
    MaintenanceWindow,
    Product,
    ProductionOrder,
    QcResult,
    Recipe,
    ScheduledOperation,
    Specification,
)

PRODUCT_SORTS = ("code", "name", "kind", "unit", "updated_at")
ORDER_SORTS = ("number", "due_date", "priority", "status", "product", "quantity", "updated_at")


# --- plant ---------------------------------------------------------------------------------------


def units_of_plants(session: Session, plant_ids: Iterable[uuid.UUID]) -> Sequence[EquipmentUnit]:
    ids = list(plant_ids)
    if not ids:
        return []
    return (
        session.execute(
            select(EquipmentUnit)
            .options(selectinload(EquipmentUnit.maintenance_windows))
            .where(EquipmentUnit.plant_id.in_(ids))
            .order_by(EquipmentUnit.equipment_class, EquipmentUnit.code)
        )
        .scalars()
        .all()
    )


def unit(session: Session, unit_id: uuid.UUID) -> EquipmentUnit | None:
    return session.get(EquipmentUnit, unit_id)


def unit_by_code(session: Session, plant_id: uuid.UUID, code: str) -> EquipmentUnit | None:
    return session.execute(
        select(EquipmentUnit).where(EquipmentUnit.plant_id == plant_id, EquipmentUnit.code == code)
    ).scalar_one_or_none()


def unit_in_use(session: Session, unit_id: uuid.UUID) -> str | None:
    """What refers to the unit ("a schedule", "a batch record"), or None."""
    if session.execute(select(exists().where(ScheduledOperation.unit_id == unit_id))).scalar_one():
        return "a schedule"
    if session.execute(select(exists().where(BatchStep.unit_id == unit_id))).scalar_one():
        return "a batch record"
    return None


def maintenance_window(session: Session, window_id: uuid.UUID) -> MaintenanceWindow | None:
    return session.get(MaintenanceWindow, window_id)


def cleaning_times(session: Session, plant_id: uuid.UUID) -> Sequence[CleaningTime]:
    return (
        session.execute(
            select(CleaningTime)
            .where(CleaningTime.plant_id == plant_id)
            .order_by(CleaningTime.equipment_class)
        )
        .scalars()
        .all()
    )


def cleaning_time(
    session: Session, plant_id: uuid.UUID, equipment_class: str
) -> CleaningTime | None:
    return session.execute(
        select(CleaningTime).where(
            CleaningTime.plant_id == plant_id, CleaningTime.equipment_class == equipment_class
        )
    ).scalar_one_or_none()


def changeovers(session: Session, plant_id: uuid.UUID) -> Sequence[ChangeoverOverride]:
    return (
        session.execute(
            select(ChangeoverOverride)
            .where(ChangeoverOverride.plant_id == plant_id)
            .order_by(ChangeoverOverride.equipment_class, ChangeoverOverride.created_at)
        )
        .scalars()
        .all()
    )


def changeover(
    session: Session,
    plant_id: uuid.UUID,
    equipment_class: str,
    from_product_id: uuid.UUID,
    to_product_id: uuid.UUID,
) -> ChangeoverOverride | None:
    return session.execute(
        select(ChangeoverOverride).where(
            ChangeoverOverride.plant_id == plant_id,
            ChangeoverOverride.equipment_class == equipment_class,
            ChangeoverOverride.from_product_id == from_product_id,
            ChangeoverOverride.to_product_id == to_product_id,
        )
    ).scalar_one_or_none()


# --- products ------------------------------------------------------------------------------------


def product(session: Session, product_id: uuid.UUID) -> Product | None:
    return session.get(Product, product_id)


def products_by_ids(session: Session, product_ids: Iterable[uuid.UUID]) -> Sequence[Product]:
    ids = list(set(product_ids))
    if not ids:
        return []
    return session.execute(select(Product).where(Product.id.in_(ids))).scalars().all()


def product_by_code(session: Session, provider_id: uuid.UUID, code: str) -> Product | None:
    return session.execute(
        select(Product).where(Product.provider_id == provider_id, Product.code == code)
    ).scalar_one_or_none()


def products_of_providers(session: Session, provider_ids: Iterable[uuid.UUID]) -> Sequence[Product]:
    ids = list(provider_ids)
    if not ids:
        return []
    return (
        session.execute(select(Product).where(Product.provider_id.in_(ids)).order_by(Product.code))
        .scalars()
        .all()
    )


def _product_order(column: str, descending: bool) -> list[Any]:
    keys: dict[str, Any] = {
        "code": Product.code,
        "name": func.lower(Product.name),
        "kind": Product.kind,
        "unit": Product.unit,
        "updated_at": Product.updated_at,
    }
    key = keys.get(column, Product.code)
    return [key.desc() if descending else key.asc(), Product.code.asc(), Product.id]


def products(
    session: Session,
    scope: ColumnElement[bool],
    *,
    kind: str | None = None,
    sponsor_id: uuid.UUID | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int | None = None,
    sort: tuple[str, bool] = ("code", False),
) -> tuple[Sequence[Product], int]:
    query = select(Product).where(scope)
    if kind:
        query = query.where(Product.kind == kind)
    if sponsor_id is not None:
        query = query.where(Product.sponsor_id == sponsor_id)
    if q:
        pattern = f"%{q.strip().lower()}%"
        query = query.where(
            or_(func.lower(Product.code).like(pattern), func.lower(Product.name).like(pattern))
        )
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        session.execute(query.order_by(*_product_order(*sort)).offset(offset).limit(limit))
        .scalars()
        .all()
    )
    return rows, total


def sponsors_of_products(session: Session, scope: ColumnElement[bool]) -> list[uuid.UUID]:
    rows = session.execute(select(Product.sponsor_id).where(scope).distinct()).scalars().all()
    return list(rows)


def recipe_counts(session: Session, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    ids = list(product_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Recipe.product_id, func.count())
        .where(Recipe.product_id.in_(ids))
        .group_by(Recipe.product_id)
    ).all()
    return {product_id: int(n) for product_id, n in rows}


def specification_counts(
    session: Session, product_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, int]:
    ids = list(product_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Specification.product_id, func.count())
        .where(Specification.product_id.in_(ids))
        .group_by(Specification.product_id)
    ).all()
    return {product_id: int(n) for product_id, n in rows}


def specification(session: Session, spec_id: uuid.UUID) -> Specification | None:
    return session.get(Specification, spec_id)


def specification_by_test(
    session: Session, product_id: uuid.UUID, test: str
) -> Specification | None:
    return session.execute(
        select(Specification).where(
            Specification.product_id == product_id, Specification.test == test
        )
    ).scalar_one_or_none()


def specification_has_results(session: Session, spec_id: uuid.UUID) -> bool:
    return bool(
        session.execute(select(exists().where(QcResult.specification_id == spec_id))).scalar_one()
    )


# --- recipes -------------------------------------------------------------------------------------


def _recipe_query() -> Any:
    return select(Recipe).options(selectinload(Recipe.steps), selectinload(Recipe.bom_lines))


def recipe(session: Session, recipe_id: uuid.UUID) -> Recipe | None:
    found: Recipe | None = session.execute(
        _recipe_query().where(Recipe.id == recipe_id)
    ).scalar_one_or_none()
    return found


def recipe_for(session: Session, product_id: uuid.UUID, plant_id: uuid.UUID) -> Recipe | None:
    found: Recipe | None = session.execute(
        _recipe_query().where(Recipe.product_id == product_id, Recipe.plant_id == plant_id)
    ).scalar_one_or_none()
    return found


def recipes_of_product(session: Session, product_id: uuid.UUID) -> Sequence[Recipe]:
    return (
        session.execute(
            _recipe_query().where(Recipe.product_id == product_id).order_by(Recipe.created_at)
        )
        .scalars()
        .all()
    )


def bom_edges(session: Session, provider_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(product, component product) of every recipe of the provider that consumes another
    product; a product made in several plants contributes each plant's components."""
    rows = session.execute(
        select(Recipe.product_id, BomLine.component_product_id)
        .join(BomLine, BomLine.recipe_id == Recipe.id)
        .where(Recipe.provider_id == provider_id, BomLine.component_product_id.is_not(None))
    ).all()
    return [(p, c) for p, c in rows if c is not None]


def recipe_has_batches(session: Session, recipe_id: uuid.UUID) -> bool:
    return bool(session.execute(select(exists().where(Batch.recipe_id == recipe_id))).scalar_one())


# --- orders --------------------------------------------------------------------------------------


def order(session: Session, order_id: uuid.UUID) -> ProductionOrder | None:
    return session.get(ProductionOrder, order_id)


def order_by_number(
    session: Session, provider_id: uuid.UUID, number: str
) -> ProductionOrder | None:
    return session.execute(
        select(ProductionOrder).where(
            ProductionOrder.provider_id == provider_id, ProductionOrder.number == number
        )
    ).scalar_one_or_none()


def order_numbers_like(session: Session, provider_id: uuid.UUID, prefix: str) -> Sequence[str]:
    return (
        session.execute(
            select(ProductionOrder.number).where(
                ProductionOrder.provider_id == provider_id,
                ProductionOrder.number.like(f"{prefix}%"),
            )
        )
        .scalars()
        .all()
    )


def _order_order(column: str, descending: bool) -> list[Any]:
    keys: dict[str, Any] = {
        "number": ProductionOrder.number,
        "due_date": ProductionOrder.due_date,
        "priority": ProductionOrder.priority,
        "status": ProductionOrder.status,
        "product": Product.code,
        "quantity": ProductionOrder.quantity,
        "updated_at": ProductionOrder.updated_at,
    }
    key = keys.get(column, ProductionOrder.due_date)
    return [key.desc() if descending else key.asc(), ProductionOrder.number.asc()]


def orders(
    session: Session,
    scope: ColumnElement[bool],
    *,
    status: str | None = None,
    product_id: uuid.UUID | None = None,
    sponsor_id: uuid.UUID | None = None,
    plant_id: uuid.UUID | None = None,
    due_before: date | None = None,
    due_after: date | None = None,
    offset: int = 0,
    limit: int | None = None,
    sort: tuple[str, bool] = ("due_date", False),
) -> tuple[Sequence[ProductionOrder], int]:
    query = (
        select(ProductionOrder).join(Product, Product.id == ProductionOrder.product_id).where(scope)
    )
    if status:
        query = query.where(ProductionOrder.status == status)
    if product_id is not None:
        query = query.where(ProductionOrder.product_id == product_id)
    if sponsor_id is not None:
        query = query.where(ProductionOrder.sponsor_id == sponsor_id)
    if plant_id is not None:
        query = query.where(ProductionOrder.plant_id == plant_id)
    if due_before is not None:
        query = query.where(ProductionOrder.due_date <= due_before)
    if due_after is not None:
        query = query.where(ProductionOrder.due_date >= due_after)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        session.execute(query.order_by(*_order_order(*sort)).offset(offset).limit(limit))
        .scalars()
        .all()
    )
    return rows, total


def batches_of_orders(session: Session, order_ids: Iterable[uuid.UUID]) -> Sequence[Batch]:
    ids = list(order_ids)
    if not ids:
        return []
    return (
        session.execute(select(Batch).where(Batch.order_id.in_(ids)).order_by(Batch.batch_number))
        .scalars()
        .all()
    )


def orders_of_product_exist(session: Session, product_id: uuid.UUID) -> bool:
    return bool(
        session.execute(
            select(exists().where(ProductionOrder.product_id == product_id))
        ).scalar_one()
    )
