"""Every SELECT of stored process chemistry, scoped to the organisations the caller names.

Callers pass ``orgs``: the principal's organisations holding ``chemistry:read`` (see
:func:`opencxo.process_chemistry.stored.readable`). A row of any other organisation is not
found, exactly like an id that does not exist.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, false, func, or_, select
from sqlalchemy.orm import Session

from opencxo.process_chemistry.models import ChemMaterial, ChemRoute

MATERIAL_SORTS = ("name", "price", "updated_at")
ROUTE_SORTS = ("name", "pmi", "cogs", "lls", "steps", "yield", "atom_economy", "updated_at")

_MATERIAL_COLUMNS: dict[str, Any] = {
    "name": func.lower(ChemMaterial.name),
    "price": ChemMaterial.price_per_kg,
    "updated_at": ChemMaterial.updated_at,
}
_ROUTE_COLUMNS: dict[str, Any] = {
    "name": func.lower(ChemRoute.name),
    "pmi": ChemRoute.pmi,
    "cogs": ChemRoute.cogs_per_kg,
    "lls": ChemRoute.longest_linear_sequence,
    "steps": ChemRoute.step_count,
    "yield": ChemRoute.overall_yield,
    "atom_economy": ChemRoute.atom_economy_percent,
    "updated_at": ChemRoute.updated_at,
}


def _in(column: Any, orgs: Collection[uuid.UUID]) -> ColumnElement[bool]:
    return column.in_(list(orgs)) if orgs else false()


def _like(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has_hazard(hazard: str) -> ColumnElement[bool]:
    """Materials whose ``hazards`` (a JSON list of strings) hold ``hazard``.

    One expression for SQLite and PostgreSQL alike, in the database (no per-dialect JSON
    functions): the column's JSON text holds each element as a quoted JSON string — SQLite keeps
    the text written, PostgreSQL's ``json`` type too. The quotes match a whole element only (the
    values of ``Hazard`` hold no quote); LIKE's wildcards are escaped all the same.
    """
    quoted = json.dumps(hazard).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(ChemMaterial.hazards, Text).like(f"%{quoted}%", escape="\\")


# --- materials -----------------------------------------------------------------------------------


def materials(
    session: Session,
    orgs: Collection[uuid.UUID],
    *,
    q: str | None = None,
    hazard: str | None = None,
    sort: tuple[str, bool] = ("name", False),
    offset: int = 0,
    limit: int = 20,
) -> tuple[Sequence[ChemMaterial], int]:
    """A page of the organisations' materials (name or CAS containing ``q``; carrying the GHS
    ``hazard``) and the total."""
    query = select(ChemMaterial).where(_in(ChemMaterial.organization_id, orgs))
    if q and q.strip():
        pattern = _like(q)
        query = query.where(
            or_(
                func.lower(ChemMaterial.name).like(pattern, escape="\\"),
                func.lower(func.coalesce(ChemMaterial.cas, "")).like(pattern, escape="\\"),
            )
        )
    if hazard:
        query = query.where(_has_hazard(hazard))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    column, descending = sort
    order = _MATERIAL_COLUMNS[column]
    rows = session.execute(
        query.order_by(
            order.desc() if descending else order.asc(),
            func.lower(ChemMaterial.name),
            ChemMaterial.id,
        )
        .offset(offset)
        .limit(limit)
    ).scalars()
    return list(rows), int(total)


def material(
    session: Session, orgs: Collection[uuid.UUID], material_id: uuid.UUID
) -> ChemMaterial | None:
    return session.execute(
        select(ChemMaterial).where(
            ChemMaterial.id == material_id, _in(ChemMaterial.organization_id, orgs)
        )
    ).scalar_one_or_none()


def materials_named(
    session: Session, orgs: Collection[uuid.UUID], organization_id: uuid.UUID, names: Iterable[str]
) -> dict[str, ChemMaterial]:
    """The organisation's materials with these names, by name."""
    wanted = sorted(set(names))
    if not wanted or organization_id not in orgs:
        return {}
    rows = session.execute(
        select(ChemMaterial).where(
            ChemMaterial.organization_id == organization_id, ChemMaterial.name.in_(wanted)
        )
    ).scalars()
    return {r.name: r for r in rows}


# --- routes --------------------------------------------------------------------------------------


def routes(
    session: Session,
    orgs: Collection[uuid.UUID],
    *,
    product_id: uuid.UUID | None = None,
    q: str | None = None,
    sort: tuple[str, bool] = ("name", False),
    offset: int = 0,
    limit: int = 20,
) -> tuple[Sequence[ChemRoute], int]:
    """A page of the organisations' routes (of one product; name containing ``q``), the total."""
    query = select(ChemRoute).where(_in(ChemRoute.organization_id, orgs))
    if product_id is not None:
        query = query.where(ChemRoute.product_id == product_id)
    if q and q.strip():
        query = query.where(func.lower(ChemRoute.name).like(_like(q), escape="\\"))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    column, descending = sort
    order = _ROUTE_COLUMNS[column]
    # Routes without a value (no atom economy) come last either way.
    rows = session.execute(
        query.order_by(
            order.is_(None),
            order.desc() if descending else order.asc(),
            func.lower(ChemRoute.name),
            ChemRoute.id,
        )
        .offset(offset)
        .limit(limit)
    ).scalars()
    return list(rows), int(total)


def route(session: Session, orgs: Collection[uuid.UUID], route_id: uuid.UUID) -> ChemRoute | None:
    return session.execute(
        select(ChemRoute).where(ChemRoute.id == route_id, _in(ChemRoute.organization_id, orgs))
    ).scalar_one_or_none()


def route_named(
    session: Session, orgs: Collection[uuid.UUID], organization_id: uuid.UUID, name: str
) -> ChemRoute | None:
    if organization_id not in orgs:
        return None
    return session.execute(
        select(ChemRoute).where(
            ChemRoute.organization_id == organization_id, ChemRoute.name == name
        )
    ).scalar_one_or_none()


def routes_named(session: Session, orgs: Collection[uuid.UUID], name: str) -> Sequence[ChemRoute]:
    """Routes of any of the organisations with exactly this name (the CLI names routes)."""
    return list(
        session.execute(
            select(ChemRoute)
            .where(_in(ChemRoute.organization_id, orgs), ChemRoute.name == name)
            .order_by(ChemRoute.organization_id)
        ).scalars()
    )


def routes_of_organization(
    session: Session, orgs: Collection[uuid.UUID], organization_id: uuid.UUID
) -> Sequence[ChemRoute]:
    """Every route of one organisation, by name (to find the routes a material is used by)."""
    if organization_id not in orgs:
        return []
    return list(
        session.execute(
            select(ChemRoute)
            .where(ChemRoute.organization_id == organization_id)
            .order_by(ChemRoute.name)
        ).scalars()
    )


def chosen_routes_of_product(
    session: Session, orgs: Collection[uuid.UUID], product_id: uuid.UUID
) -> Sequence[ChemRoute]:
    return list(
        session.execute(
            select(ChemRoute).where(
                _in(ChemRoute.organization_id, orgs),
                ChemRoute.product_id == product_id,
                ChemRoute.chosen.is_(True),
            )
        ).scalars()
    )
