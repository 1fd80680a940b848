"""Stored process chemistry: an organisation's material library and its routes.

A material (``chem_materials``) is a raw material an organisation buys — name, structure, CAS
number, price per kg in one currency, density, GHS hazards — kept once and used by name in every
route of that organisation. A route (``chem_routes``) keeps its route file *without* the materials
list (``spec``): the materials come from the library, so a price changed there changes every
route that uses it. The route's evaluation (the RouteEvaluation of the domain model) is kept in
summary columns, refreshed on every save and every change of a material it uses.

Private to the owning organisation (usually a CDMO): another organisation gets the 404 of an
unknown id. Prices and densities are exact decimals to 6 places (a route file's precision:
``Amount`` keeps whole cents only, and a solvent at 0.055 per kg is common); COGS is a Decimal
to 1/100 of a cent, as :func:`opencxo.process_chemistry.service.money` gives it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from opencxo.core.db import Base, IdMixin, TimestampMixin, VersionedMixin

# A route file's decimals: 18 digits, 6 after the point (prices, densities, COGS).
Exact = Numeric(18, 6)


class ChemMaterial(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A raw material of an organisation's library (routes name it)."""

    __tablename__ = "chem_materials"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # As the user wrote it; compared with other spellings by its canonical form.
    smiles: Mapped[str | None] = mapped_column(String(2000))
    cas: Mapped[str | None] = mapped_column(String(20))
    price_per_kg: Mapped[Decimal] = mapped_column(Exact)
    currency: Mapped[str] = mapped_column(String(3))
    density_kg_per_l: Mapped[Decimal | None] = mapped_column(Exact)
    # GHS pictograms, the values of :class:`opencxo.process_chemistry.schemas.Hazard`.
    hazards: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )


class ChemRoute(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A synthetic route (its file without materials) and its evaluation when last saved."""

    __tablename__ = "chem_routes"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        # The route chosen for a product: at most one.
        Index(
            "uq_chem_routes_chosen_product",
            "product_id",
            unique=True,
            sqlite_where=text("chosen"),
            postgresql_where=text("chosen"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # The manufacturing product the route makes (a product of the same organisation).
    product_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("mfg_products.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The evaluation (RouteEvaluation), refreshed whenever the route or a material changes.
    step_count: Mapped[int] = mapped_column(Integer)
    longest_linear_sequence: Mapped[int] = mapped_column(Integer)
    overall_yield: Mapped[float]
    pmi: Mapped[float]
    e_factor: Mapped[float]
    atom_economy_percent: Mapped[float | None]
    cogs_per_kg: Mapped[Decimal] = mapped_column(Exact)
    currency: Mapped[str] = mapped_column(String(3))
    evaluated_at: Mapped[datetime]
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    chosen_at: Mapped[datetime | None]
    recipe_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("mfg_recipes.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
