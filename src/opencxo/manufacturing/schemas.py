"""Request and response bodies of manufacturing master data and production orders: plants and
their equipment units, maintenance windows, cleaning and changeover times, products and their
specifications, recipes with their bills of materials, and production orders.

Quantities are ``Decimal`` in the unit named beside them; durations in hours; instants UTC.
Business rules that need the database (a class the plant has, a unique code, a BOM cycle) are
the service's; the shapes and ranges a single field can check are here.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from opencxo.core.dates import EARLIEST_DATE, LATEST_DATE
from opencxo.manufacturing.models import (
    QUANTITY_DIGITS,
    BatchStatus,
    GmpGrade,
    OrderStatus,
    ProductKind,
    QuantityUnit,
)

# An equipment class is a short lowercase name shared by units and recipe steps: "reactor",
# "filter_dryer", "tablet-press".
EQUIPMENT_CLASS = re.compile(r"^[a-z][a-z0-9_-]{0,59}$")
EQUIPMENT_CLASS_HINT = "lowercase letters, digits, '_' or '-', starting with a letter"
Hours = Decimal
#: The longest step, clean or changeover accepted: a year (a longer one is a typo, and the
#: scheduler's time range must hold a whole plan of them).
MAX_HOURS = Decimal(8760)


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def clean_equipment_class(value: str) -> str:
    """The class as stored (trimmed, lowercase); ``ValueError`` naming the rule otherwise."""
    text = value.strip().lower()
    if not EQUIPMENT_CLASS.match(text):
        raise ValueError(f"equipment class {value!r}: use {EQUIPMENT_CLASS_HINT}")
    return text


#: The years a date or time entered here may fall in: outside them it is a typo, and year
#: 9999 plus a day, a shelf life or a time zone offset is no date at all.
FIRST_YEAR, LAST_YEAR = EARLIEST_DATE.year, LATEST_DATE.year


_Day = TypeVar("_Day", date, datetime)


def in_years(value: _Day) -> _Day:
    """``value`` when its year is in ``FIRST_YEAR``–``LAST_YEAR`` (a validator)."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be in the years {FIRST_YEAR}–{LAST_YEAR}")
    return value


def _optional_in_years(value: date | None) -> date | None:
    return None if value is None else in_years(value)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give the time zone (e.g. 2027-03-01T08:00:00Z)")
    return in_years(value).astimezone(UTC)  # the year first: the conversion may overflow


def _strip(value: str) -> str:
    return value.strip()


# --- plants, units, maintenance, cleaning -------------------------------------------------------


class MaintenanceWindowCreate(BaseModel):
    starts_at: datetime = Field(description="UTC (an offset is converted)")
    ends_at: datetime = Field(description="UTC; after starts_at")
    reason: str = Field("preventive maintenance", max_length=200)

    _tz = field_validator("starts_at", "ends_at")(_utc)

    @model_validator(mode="after")
    def _order(self) -> MaintenanceWindowCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class MaintenanceWindowRead(ORMModel):
    id: uuid.UUID
    unit_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str


class UnitCreate(BaseModel):
    code: str = Field(min_length=1, max_length=40, description="unique in the plant, e.g. R-101")
    name: str = Field(min_length=1, max_length=200)
    equipment_class: str = Field(min_length=1, max_length=60, description=EQUIPMENT_CLASS_HINT)
    capacity: Decimal = Field(gt=0, max_digits=QUANTITY_DIGITS, decimal_places=6)
    capacity_unit: str = Field(min_length=1, max_length=20, description='"L", "kg", "units/h"')
    gmp_grade: GmpGrade = GmpGrade.GMP

    _text = field_validator("code", "name", "capacity_unit")(_strip)
    _class = field_validator("equipment_class")(clean_equipment_class)


class UnitUpdate(BaseModel):
    """Only the fields sent change; ``active=false`` takes a unit out of service (kept for its
    history) where deleting it is refused."""

    version: int
    code: str | None = Field(None, min_length=1, max_length=40)
    name: str | None = Field(None, min_length=1, max_length=200)
    equipment_class: str | None = Field(None, min_length=1, max_length=60)
    capacity: Decimal | None = Field(None, gt=0, max_digits=QUANTITY_DIGITS, decimal_places=6)
    capacity_unit: str | None = Field(None, min_length=1, max_length=20)
    gmp_grade: GmpGrade | None = None
    active: bool | None = None

    @field_validator("code", "name", "capacity_unit")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else value.strip()

    @field_validator("equipment_class")
    @classmethod
    def _class(cls, value: str | None) -> str | None:
        return None if value is None else clean_equipment_class(value)


class UnitRead(ORMModel):
    id: uuid.UUID
    plant_id: uuid.UUID
    code: str
    name: str
    equipment_class: str
    capacity: Decimal
    capacity_unit: str
    gmp_grade: GmpGrade
    active: bool
    version: int
    maintenance_windows: list[MaintenanceWindowRead]


class CleaningTimeInput(BaseModel):
    same_product_hours: Hours = Field(
        ge=0, le=MAX_HOURS, max_digits=QUANTITY_DIGITS, decimal_places=6
    )
    product_change_hours: Hours = Field(
        ge=0, le=MAX_HOURS, max_digits=QUANTITY_DIGITS, decimal_places=6
    )
    version: int | None = Field(
        None,
        ge=0,
        description="of the row being replaced, when known; 0 to add the class's times only if "
        "it has none yet",
    )


class CleaningTimeRead(ORMModel):
    id: uuid.UUID
    equipment_class: str
    same_product_hours: Decimal
    product_change_hours: Decimal
    version: int


class ChangeoverKey(BaseModel):
    from_product_id: uuid.UUID
    to_product_id: uuid.UUID
    equipment_class: str = Field(min_length=1, max_length=60)

    _class = field_validator("equipment_class")(clean_equipment_class)


class ChangeoverInput(ChangeoverKey):
    hours: Hours = Field(ge=0, le=MAX_HOURS, max_digits=QUANTITY_DIGITS, decimal_places=6)


class ChangeoverRead(BaseModel):
    id: uuid.UUID
    equipment_class: str
    from_product_id: uuid.UUID
    from_product_code: str
    to_product_id: uuid.UUID
    to_product_code: str
    hours: Decimal


class PlantSummary(BaseModel):
    id: uuid.UUID
    name: str
    country: str
    city: str
    provider_id: uuid.UUID
    provider_name: str
    unit_count: int = Field(description="units in service")
    inactive_unit_count: int


class PlantRead(PlantSummary):
    units: list[UnitRead]
    equipment_classes: list[str] = Field(description="classes of the units in service")
    cleaning_times: list[CleaningTimeRead]
    changeovers: list[ChangeoverRead]


# --- products and specifications ----------------------------------------------------------------


class SpecificationCreate(BaseModel):
    """A numeric test (``lower_limit`` and/or ``upper_limit``) or a text criterion
    (``acceptance_text``), exactly one of the two."""

    test: str = Field(min_length=1, max_length=120)
    method: str = Field(min_length=1, max_length=120)
    lower_limit: Decimal | None = Field(None, max_digits=QUANTITY_DIGITS, decimal_places=6)
    upper_limit: Decimal | None = Field(None, max_digits=QUANTITY_DIGITS, decimal_places=6)
    result_unit: str = Field("", max_length=20)
    acceptance_text: str | None = Field(None, max_length=200)
    position: int | None = Field(None, ge=0, le=10_000, description="default: last")

    @field_validator("test", "method", "result_unit")
    @classmethod
    def _text(cls, value: str) -> str:
        return value.strip()

    @field_validator("acceptance_text")
    @classmethod
    def _criterion(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class SpecificationUpdate(BaseModel):
    """Only the fields sent change; send ``null`` to clear a limit or the criterion."""

    version: int = Field(description="the version you read; a stale version answers 409")
    test: str | None = Field(None, min_length=1, max_length=120)
    method: str | None = Field(None, min_length=1, max_length=120)
    lower_limit: Decimal | None = Field(None, max_digits=QUANTITY_DIGITS, decimal_places=6)
    upper_limit: Decimal | None = Field(None, max_digits=QUANTITY_DIGITS, decimal_places=6)
    result_unit: str | None = Field(None, max_length=20)
    acceptance_text: str | None = Field(None, max_length=200)
    position: int | None = Field(None, ge=0, le=10_000)


class SpecificationRead(ORMModel):
    id: uuid.UUID
    product_id: uuid.UUID
    position: int
    test: str
    method: str
    lower_limit: Decimal | None
    upper_limit: Decimal | None
    result_unit: str
    acceptance_text: str | None
    version: int


class ProductCreate(BaseModel):
    code: str = Field(min_length=1, max_length=40, description="unique per provider")
    name: str = Field(min_length=1, max_length=200)
    kind: ProductKind
    unit: QuantityUnit = QuantityUnit.KG
    sponsor_id: uuid.UUID = Field(description="the sponsor organisation the product is made for")
    provider_id: uuid.UUID | None = Field(
        None, description="the CDMO; needed only when you belong to more than one"
    )
    dosage_form: str | None = Field(None, max_length=60, description="drug products: tablet …")
    strength: str | None = Field(None, max_length=60, description="drug products: 50 mg …")
    description: str = Field("", max_length=20_000)
    shelf_life_months: int | None = Field(None, ge=1, le=240)

    @field_validator("code", "name")
    @classmethod
    def _text(cls, value: str) -> str:
        return value.strip()

    @field_validator("dosage_form", "strength")
    @classmethod
    def _optional(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


class ProductUpdate(BaseModel):
    """Only the fields sent change."""

    version: int
    code: str | None = Field(None, min_length=1, max_length=40)
    name: str | None = Field(None, min_length=1, max_length=200)
    kind: ProductKind | None = None
    unit: QuantityUnit | None = None
    sponsor_id: uuid.UUID | None = None
    dosage_form: str | None = Field(None, max_length=60)
    strength: str | None = Field(None, max_length=60)
    description: str | None = Field(None, max_length=20_000)
    shelf_life_months: int | None = Field(None, ge=1, le=240)

    @field_validator("code", "name")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else value.strip()

    @field_validator("dosage_form", "strength")
    @classmethod
    def _optional(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


class ProductListItem(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    kind: ProductKind
    unit: QuantityUnit
    dosage_form: str | None
    strength: str | None
    provider_id: uuid.UUID
    provider_name: str
    sponsor_id: uuid.UUID
    sponsor_name: str
    recipe_count: int = Field(description="plants with a recipe (0 for the sponsor)")
    specification_count: int
    updated_at: datetime


# --- recipes -------------------------------------------------------------------------------------


class RecipeStepInput(BaseModel):
    operation: str = Field(min_length=1, max_length=120)
    equipment_class: str = Field(min_length=1, max_length=60)
    duration_hours: Decimal = Field(
        le=MAX_HOURS,
        max_digits=QUANTITY_DIGITS,
        decimal_places=6,
        description="> 0, at most 8760 (a year)",
    )
    yield_fraction: Decimal = Field(
        Decimal(1), max_digits=QUANTITY_DIGITS, decimal_places=6, description="in (0, 1]"
    )

    @field_validator("operation")
    @classmethod
    def _text(cls, value: str) -> str:
        return value.strip()

    @field_validator("equipment_class")
    @classmethod
    def _class(cls, value: str) -> str:
        return value.strip().lower()


class BomLineInput(BaseModel):
    component_product_id: uuid.UUID | None = Field(
        None, description="another product of the provider; empty for a purchased material"
    )
    material_name: str = Field("", max_length=200, description="default: the product's name")
    quantity_per_batch: Decimal = Field(
        max_digits=QUANTITY_DIGITS, decimal_places=6, description="> 0"
    )
    unit: QuantityUnit = QuantityUnit.KG

    @field_validator("material_name")
    @classmethod
    def _text(cls, value: str) -> str:
        return value.strip()


class RecipeInput(BaseModel):
    plant_id: uuid.UUID
    batch_size: Decimal = Field(
        max_digits=QUANTITY_DIGITS,
        decimal_places=6,
        description="input scale per batch, product's unit",
    )
    description: str = Field("", max_length=20_000)
    steps: list[RecipeStepInput] = Field(default_factory=list, max_length=100)
    bom: list[BomLineInput] = Field(default_factory=list, max_length=100)


class RecipeUpdate(RecipeInput):
    version: int


class RecipeStepRead(ORMModel):
    sequence: int
    operation: str
    equipment_class: str
    duration_hours: Decimal
    yield_fraction: Decimal


class BomLineRead(BaseModel):
    position: int
    component_product_id: uuid.UUID | None
    component_code: str | None
    material_name: str
    quantity_per_batch: Decimal
    unit: QuantityUnit


class RecipeRead(BaseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    product_code: str
    product_name: str
    product_unit: QuantityUnit
    plant_id: uuid.UUID
    plant_name: str
    batch_size: Decimal
    description: str
    steps: list[RecipeStepRead]
    bom: list[BomLineRead]
    output_per_batch: Decimal = Field(description="batch_size × the product of the step yields")
    cycle_hours: Decimal = Field(description="the sum of the step durations")
    version: int
    updated_at: datetime


class ProductRead(ProductListItem):
    description: str
    shelf_life_months: int | None
    specifications: list[SpecificationRead]
    recipes: list[RecipeRead] = Field(description="empty for the sponsor: recipes are the plant's")
    viewer_role: str = Field(description="provider or sponsor: the side the caller reads as")
    version: int


# --- production orders ---------------------------------------------------------------------------


class OrderCreate(BaseModel):
    product_id: uuid.UUID
    plant_id: uuid.UUID = Field(description="a plant with a recipe for the product")
    quantity: Decimal = Field(
        gt=0, max_digits=QUANTITY_DIGITS, decimal_places=6, description="product unit"
    )
    due_date: date
    release_date: date | None = Field(None, description="earliest start; on or before due_date")
    priority: int = Field(1, ge=1, le=10, description="1 routine … 10 critical")
    notes: str = Field("", max_length=20_000)
    work_order_id: uuid.UUID | None = None
    number: str | None = Field(None, max_length=40, description="default: PO-<year>-<NNN>")

    _years = field_validator("due_date", "release_date")(_optional_in_years)

    @field_validator("number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @field_validator("release_date")
    @classmethod
    def _by_due_date(cls, value: date | None, info: ValidationInfo) -> date | None:
        # a field's check (not the model's), so the 422 names release_date and the form shows
        # the message next to it; due_date is validated first (declared first)
        due = info.data.get("due_date")
        if value is not None and due is not None and value > due:
            raise ValueError("release_date must be on or before due_date")
        return value


class OrderUpdate(BaseModel):
    """Only the fields sent change (send ``work_order_id: null`` to unlink)."""

    version: int
    plant_id: uuid.UUID | None = None
    quantity: Decimal | None = Field(None, gt=0, max_digits=QUANTITY_DIGITS, decimal_places=6)
    due_date: date | None = None
    release_date: date | None = None
    priority: int | None = Field(None, ge=1, le=10)
    notes: str | None = Field(None, max_length=20_000)
    work_order_id: uuid.UUID | None = None

    _years = field_validator("due_date", "release_date")(_optional_in_years)


class OrderCancel(BaseModel):
    version: int
    reason: str = Field("", max_length=2000)


class OrderBatch(ORMModel):
    id: uuid.UUID
    batch_number: str
    status: BatchStatus
    planned_quantity: Decimal
    actual_quantity: Decimal | None = None
    product_id: uuid.UUID
    product_code: str = Field("", description="the order's product or an intermediate it needs")


class OrderListItem(BaseModel):
    id: uuid.UUID
    number: str
    provider_id: uuid.UUID
    product_id: uuid.UUID
    product_code: str
    product_name: str
    unit: QuantityUnit
    sponsor_id: uuid.UUID
    sponsor_name: str
    plant_id: uuid.UUID
    plant_name: str
    quantity: Decimal
    due_date: date
    release_date: date | None
    priority: int
    status: OrderStatus
    batch_count: int
    updated_at: datetime
    scheduled_finish: datetime | None = Field(
        None, description="end of the order's last batch in the plant's current schedule"
    )
    is_late: bool = Field(False, description="the current schedule finishes after the due date")


class OrderRead(OrderListItem):
    notes: str
    work_order_id: uuid.UUID | None
    work_order_number: str | None
    batches: list[OrderBatch]
    viewer_role: str = Field(description="provider or sponsor: the side the caller reads as")
    version: int
