"""Bodies and answers of the stored material library and routes (API, web, CLI).

The route file itself is :class:`~opencxo.process_chemistry.schemas.RouteFile`; this module wraps
it with what storing adds: the owning organisation, the manufacturing product the route makes,
a version for optimistic locking, the stored evaluation (summary) and timestamps.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opencxo.manufacturing.schemas import RecipeRead
from opencxo.process_chemistry.schemas import (
    STORED_DIGITS,
    STORED_PLACES,
    Hazard,
    RouteFile,
    valid_cas,
    valid_currency,
)

MAX_COMPARED = 6

# Stored in NUMERIC(18, 6): 15 significant digits survive SQLite's floating point exactly.
Price = Annotated[Decimal, Field(ge=0, max_digits=STORED_DIGITS, decimal_places=STORED_PLACES)]
Density = Annotated[Decimal, Field(gt=0, max_digits=STORED_DIGITS, decimal_places=STORED_PLACES)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- materials -----------------------------------------------------------------------------------


class _MaterialFields(_Strict):
    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if not text:
            raise ValueError("a material needs a name")
        return text

    @field_validator("smiles", check_fields=False)
    @classmethod
    def _smiles(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("cas", check_fields=False)
    @classmethod
    def _cas(cls, value: str | None) -> str | None:
        return valid_cas(value) if value else None

    @field_validator("currency", check_fields=False)
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return valid_currency(value) if value is not None else None


class MaterialCreate(_MaterialFields):
    organization_id: uuid.UUID | None = Field(
        None, description="the library it belongs to; needed only if you belong to several"
    )
    name: str = Field(min_length=1, max_length=200, description="unique in the library")
    smiles: str | None = Field(None, max_length=2000, description="structure (SMILES)")
    cas: str | None = Field(None, description="CAS registry number, e.g. 108-88-3")
    price_per_kg: Price
    currency: str = Field("USD", description="ISO 4217 code of the price")
    density_kg_per_l: Density | None = None
    hazards: list[Hazard] = Field(default_factory=list, description="GHS pictograms")
    notes: str = Field("", max_length=20_000)


class MaterialUpdate(_MaterialFields):
    """Only the fields sent change; send ``null`` to clear smiles, cas or density."""

    version: int = Field(ge=1)
    name: str | None = Field(None, min_length=1, max_length=200)
    smiles: str | None = Field(None, max_length=2000)
    cas: str | None = None
    price_per_kg: Price | None = None
    currency: str | None = None
    density_kg_per_l: Density | None = None
    hazards: list[Hazard] | None = None
    notes: str | None = Field(None, max_length=20_000)


class MaterialRead(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    smiles: str | None
    cas: str | None
    price_per_kg: Decimal
    currency: str
    density_kg_per_l: Decimal | None
    hazards: list[Hazard]
    notes: str
    used_by: list[str] = Field(description="names of the routes that use it")
    version: int
    created_at: datetime
    updated_at: datetime


# --- routes --------------------------------------------------------------------------------------


class RouteImport(_Strict):
    route: RouteFile
    product_id: uuid.UUID | None = Field(
        None, description="the manufacturing product it makes (a product of the organisation)"
    )
    organization_id: uuid.UUID | None = Field(
        None, description="the organisation keeping it; needed only if you belong to several"
    )


class RouteUpdate(_Strict):
    version: int = Field(ge=1)
    route: RouteFile
    product_id: uuid.UUID | None = None


class RouteSummary(BaseModel):
    """A stored route and its evaluation when last saved (money in ``currency``)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    product_id: uuid.UUID | None
    product_code: str | None
    product_name: str | None
    step_count: int
    longest_linear_sequence: int
    overall_yield: float
    pmi: float
    e_factor: float
    atom_economy_percent: float | None
    cogs_per_kg: Decimal
    currency: str
    evaluated_at: datetime
    chosen: bool
    chosen_at: datetime | None
    recipe_id: uuid.UUID | None
    version: int
    updated_at: datetime


class RouteRead(RouteSummary):
    spec: RouteFile = Field(description="the route file without its materials (the library's)")
    materials: list[str] = Field(description="the library materials its steps use")
    created_at: datetime
    created_by_id: uuid.UUID | None


class ChooseRoute(_Strict):
    plant_id: uuid.UUID = Field(description="the plant whose recipe for the product it becomes")
    version: int = Field(ge=1, description="the route's version")


class RouteChosen(BaseModel):
    """The chosen route and the manufacturing recipe it now supplies."""

    route: RouteRead
    recipe: RecipeRead
    recipe_replaced: bool = Field(description="the plant had a recipe for the product before")


class CompareRequest(_Strict):
    route_ids: list[uuid.UUID] = Field(min_length=2, max_length=MAX_COMPARED)


class AtomEconomyRequest(_Strict):
    reaction_smiles: str = Field(min_length=1, max_length=4000)
