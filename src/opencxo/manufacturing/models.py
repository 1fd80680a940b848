"""The plant side of a CMO/CDMO: products and their specifications, recipes and bills of
materials, equipment units, cleaning and changeover times, maintenance, production orders,
batches and their records (steps, materials with genealogy, deviations, QC results, QA
disposition), and the schedules the CP-SAT engine makes.

Ownership: every row belongs to the provider (the CDMO, ``provider_id``) that runs the plant.
Products, orders and batches also name the sponsor (the client) they are made for: the sponsor
reads those, and the schedule slots of its own batches, and nothing of other sponsors.

Quantities: ``Decimal`` with the unit in a column beside them (``kg`` or ``units``); durations
in hours (``Decimal``); instants are UTC; plan dates (due, release) are dates.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opencxo.core.db import Base, IdMixin, TimestampMixin, VersionedMixin

# Quantities and hours: exact decimals, wide enough for tonnes in grams and years in hours.
Quantity = Numeric(18, 6)
#: The significant digits a ``Quantity`` keeps on every backend: SQLite stores NUMERIC as a
#: double, exact to 15 digits (999,999,999.999999), so the schemas accept no more.
QUANTITY_DIGITS = 15


class ProductKind(StrEnum):
    INTERMEDIATE = "intermediate"
    API = "api"
    DRUG_PRODUCT = "drug_product"


class QuantityUnit(StrEnum):
    KG = "kg"
    UNITS = "units"  # tablets, capsules, vials


class GmpGrade(StrEnum):
    GMP = "gmp"  # qualified for GMP production
    NON_GMP = "non_gmp"  # development / pilot only


class OrderStatus(StrEnum):
    OPEN = "open"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class BatchStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"  # executed, waiting for QA
    RELEASED = "released"
    REJECTED = "rejected"


class DeviationSeverity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class ScheduleStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # the solver answered (see solver_status)
    FAILED = "failed"  # an error outside the solver; message says what


class Product(IdMixin, TimestampMixin, VersionedMixin, Base):
    """What the plant makes for a sponsor: an intermediate, an API or a drug product."""

    __tablename__ = "mfg_products"
    __table_args__ = (UniqueConstraint("provider_id", "code"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id"), index=True
    )
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(10), default=QuantityUnit.KG.value)
    dosage_form: Mapped[str | None] = mapped_column(String(60))  # drug products: "tablet"
    strength: Mapped[str | None] = mapped_column(String(60))  # drug products: "50 mg"
    description: Mapped[str] = mapped_column(Text, default="")
    # Shelf life from the manufacturing date, printed on the certificate of analysis.
    shelf_life_months: Mapped[int | None] = mapped_column(Integer)

    specifications: Mapped[list[Specification]] = relationship(
        back_populates="product",
        cascade="all, delete-orphan",
        order_by="Specification.position",
    )


class Specification(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One release test of a product: numeric limits (either may be open) or a text criterion."""

    __tablename__ = "mfg_specifications"
    __table_args__ = (UniqueConstraint("product_id", "test"),)

    product_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_products.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    test: Mapped[str] = mapped_column(String(120))  # "Assay (HPLC)"
    method: Mapped[str] = mapped_column(String(120))  # "USP <621>", "in-house HPLC-07"
    lower_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    upper_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    result_unit: Mapped[str] = mapped_column(String(20), default="")  # "%", "ppm"
    # A non-numeric criterion ("Conforms to reference spectrum"); None for numeric tests.
    acceptance_text: Mapped[str | None] = mapped_column(String(200))

    product: Mapped[Product] = relationship(back_populates="specifications")


class EquipmentUnit(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A reactor, dryer, granulator, press … in one plant."""

    __tablename__ = "mfg_equipment_units"
    __table_args__ = (UniqueConstraint("plant_id", "code"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    plant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(40))  # "R-101"
    name: Mapped[str] = mapped_column(String(200))
    equipment_class: Mapped[str] = mapped_column(String(60), index=True)  # "reactor"
    capacity: Mapped[Decimal] = mapped_column(Quantity)
    capacity_unit: Mapped[str] = mapped_column(String(20))  # "L", "kg", "units/h"
    gmp_grade: Mapped[str] = mapped_column(String(20), default=GmpGrade.GMP.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    maintenance_windows: Mapped[list[MaintenanceWindow]] = relationship(
        back_populates="unit",
        cascade="all, delete-orphan",
        order_by="MaintenanceWindow.starts_at",
    )


class MaintenanceWindow(IdMixin, TimestampMixin, Base):
    __tablename__ = "mfg_maintenance_windows"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="window_positive"),)

    unit_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_equipment_units.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200), default="preventive maintenance")

    unit: Mapped[EquipmentUnit] = relationship(back_populates="maintenance_windows")


class CleaningTime(IdMixin, TimestampMixin, VersionedMixin, Base):
    """Cleaning between two batches on a unit of one equipment class in one plant: after a
    batch of the same product, and after another product (full changeover)."""

    __tablename__ = "mfg_cleaning_times"
    __table_args__ = (UniqueConstraint("plant_id", "equipment_class"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    plant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    equipment_class: Mapped[str] = mapped_column(String(60))
    same_product_hours: Mapped[Decimal] = mapped_column(Quantity)
    product_change_hours: Mapped[Decimal] = mapped_column(Quantity)


class ChangeoverOverride(IdMixin, TimestampMixin, Base):
    """A product-to-product changeover that differs from the class's default (a potent product
    followed by anything needs a longer clean, say)."""

    __tablename__ = "mfg_changeover_overrides"
    __table_args__ = (
        UniqueConstraint("plant_id", "equipment_class", "from_product_id", "to_product_id"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    plant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    equipment_class: Mapped[str] = mapped_column(String(60))
    from_product_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_products.id", ondelete="CASCADE")
    )
    to_product_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_products.id", ondelete="CASCADE")
    )
    hours: Mapped[Decimal] = mapped_column(Quantity)


class Recipe(IdMixin, TimestampMixin, VersionedMixin, Base):
    """How one product is made in one plant: a batch of ``batch_size`` (input scale, in the
    product's unit) runs the steps in order; its output is ``batch_size`` × the product of the
    step yields."""

    __tablename__ = "mfg_recipes"
    __table_args__ = (
        UniqueConstraint("product_id", "plant_id"),
        CheckConstraint("batch_size > 0", name="batch_size_positive"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_products.id", ondelete="CASCADE"), index=True
    )
    plant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    batch_size: Mapped[Decimal] = mapped_column(Quantity)
    description: Mapped[str] = mapped_column(Text, default="")

    steps: Mapped[list[RecipeStep]] = relationship(
        back_populates="recipe", cascade="all, delete-orphan", order_by="RecipeStep.sequence"
    )
    bom_lines: Mapped[list[BomLine]] = relationship(
        back_populates="recipe", cascade="all, delete-orphan", order_by="BomLine.position"
    )


class RecipeStep(IdMixin, TimestampMixin, Base):
    __tablename__ = "mfg_recipe_steps"
    __table_args__ = (
        UniqueConstraint("recipe_id", "sequence"),
        CheckConstraint("duration_hours > 0", name="duration_positive"),
        CheckConstraint("yield_fraction > 0 AND yield_fraction <= 1", name="yield_in_range"),
    )

    recipe_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_recipes.id", ondelete="CASCADE"), index=True
    )
    sequence: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 …
    operation: Mapped[str] = mapped_column(String(120))  # "Reaction", "Crystallisation"
    equipment_class: Mapped[str] = mapped_column(String(60))
    duration_hours: Mapped[Decimal] = mapped_column(Quantity)
    yield_fraction: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(1))

    recipe: Mapped[Recipe] = relationship(back_populates="steps")


class BomLine(IdMixin, TimestampMixin, Base):
    """A component a batch of the recipe consumes: another product of the plant (an
    intermediate, the API) or a purchased raw material (``component_product_id`` empty)."""

    __tablename__ = "mfg_bom_lines"
    __table_args__ = (CheckConstraint("quantity_per_batch > 0", name="quantity_positive"),)

    recipe_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_recipes.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    component_product_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("mfg_products.id"), index=True
    )
    material_name: Mapped[str] = mapped_column(String(200))  # the product's name or "Toluene"
    quantity_per_batch: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(10), default=QuantityUnit.KG.value)

    recipe: Mapped[Recipe] = relationship(back_populates="bom_lines")


class ProductionOrder(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "mfg_production_orders"
    __table_args__ = (
        UniqueConstraint("provider_id", "number"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("priority >= 1 AND priority <= 10", name="priority_range"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id"), index=True
    )
    plant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("sites.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("mfg_products.id"), index=True)
    # The contract behind the order (a work order of an awarded lot), when there is one.
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("work_orders.id"), index=True
    )
    number: Mapped[str] = mapped_column(String(40))  # "PO-2027-001"
    quantity: Mapped[Decimal] = mapped_column(Quantity)  # in the product's unit
    due_date: Mapped[date]
    release_date: Mapped[date | None]  # earliest start (materials available)
    # Weight of a day late in the scheduling objective: 1 (routine) … 10 (critical).
    priority: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.OPEN.value, index=True)
    notes: Mapped[str] = mapped_column(Text, default="")

    batches: Mapped[list[Batch]] = relationship(
        back_populates="order", order_by="Batch.batch_number"
    )


class Batch(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One execution of a recipe. Batches of an order's product and the batches of
    intermediates they need (the bill of materials, exploded) belong to the order."""

    __tablename__ = "mfg_batches"
    __table_args__ = (UniqueConstraint("provider_id", "batch_number"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id"), index=True
    )
    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_production_orders.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("mfg_products.id"), index=True)
    recipe_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("mfg_recipes.id"), index=True)
    batch_number: Mapped[str] = mapped_column(String(40))  # "B-API-27-0001"
    planned_quantity: Mapped[Decimal] = mapped_column(Quantity)  # expected output
    actual_quantity: Mapped[Decimal | None] = mapped_column(Quantity)  # output, when completed
    status: Mapped[str] = mapped_column(String(20), default=BatchStatus.PLANNED.value, index=True)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    manufactured_on: Mapped[date | None]  # for the CoA and the expiry date
    disposition_reason: Mapped[str | None] = mapped_column(Text)
    disposed_at: Mapped[datetime | None]
    disposition_signature_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("signatures.id")
    )

    order: Mapped[ProductionOrder] = relationship(back_populates="batches")
    steps: Mapped[list[BatchStep]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", order_by="BatchStep.sequence"
    )


class BatchStep(IdMixin, TimestampMixin, Base):
    """What happened at one recipe step of a batch."""

    __tablename__ = "mfg_batch_steps"
    __table_args__ = (UniqueConstraint("batch_id", "sequence"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_batches.id", ondelete="CASCADE"), index=True
    )
    sequence: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(120))
    unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), ForeignKey("mfg_equipment_units.id"))
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    actual_yield_fraction: Mapped[Decimal | None] = mapped_column(Quantity)
    performed_by: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")

    batch: Mapped[Batch] = relationship(back_populates="steps")


class MaterialConsumption(IdMixin, TimestampMixin, Base):
    """A material a batch consumed: a batch of the plant (genealogy, both directions) or a
    purchased lot (``supplier_lot``)."""

    __tablename__ = "mfg_material_consumptions"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_batches.id", ondelete="CASCADE"), index=True
    )
    input_batch_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("mfg_batches.id"), index=True
    )
    material_name: Mapped[str] = mapped_column(String(200))
    supplier_lot: Mapped[str | None] = mapped_column(String(80))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(10), default=QuantityUnit.KG.value)


class Deviation(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "mfg_deviations"
    __table_args__ = (UniqueConstraint("batch_id", "number"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_batches.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(40))  # "DEV-27-014"
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(20))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)  # root cause and CAPA when closed


class QcResult(IdMixin, TimestampMixin, Base):
    """A test result of a batch against one specification line; ``out_of_specification`` is
    computed when recorded (the limits in force then are kept with it)."""

    __tablename__ = "mfg_qc_results"
    __table_args__ = (UniqueConstraint("batch_id", "specification_id"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_batches.id", ondelete="CASCADE"), index=True
    )
    specification_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("mfg_specifications.id"))
    value: Mapped[Decimal | None] = mapped_column(Quantity)
    text_result: Mapped[str | None] = mapped_column(String(200))  # "Conforms"
    conforms: Mapped[bool | None] = mapped_column(Boolean)  # for text criteria
    out_of_specification: Mapped[bool] = mapped_column(Boolean, default=False)
    tested_on: Mapped[date]
    analyst: Mapped[str] = mapped_column(String(200))
    lower_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    upper_limit: Mapped[Decimal | None] = mapped_column(Quantity)


class Schedule(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One solve of a plant's open batches: the request, its progress and the solver's answer.
    Time zero of the solve is ``horizon_start``; the engine counts in ``time_unit_minutes``."""

    __tablename__ = "mfg_schedules"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    plant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20), default=ScheduleStatus.QUEUED.value)
    # The plant's schedule in force (the latest finished solve with a schedule).
    is_current: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    horizon_start: Mapped[datetime]
    time_unit_minutes: Mapped[int] = mapped_column(Integer, default=60)
    time_limit_s: Mapped[float]
    workers: Mapped[int] = mapped_column(Integer, default=2)
    warm_start_from_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("mfg_schedules.id")
    )
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    solver_status: Mapped[str | None] = mapped_column(String(20))
    objective_name: Mapped[str | None] = mapped_column(String(30))
    objective: Mapped[float | None]
    bound: Mapped[float | None]
    gap: Mapped[float | None]
    makespan_hours: Mapped[float | None]
    weighted_tardiness: Mapped[float | None]
    wall_time_s: Mapped[float | None]
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Each improving solution: {"wall_time_s", "phase", "objective", "bound"}.
    improvements: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    message: Mapped[str | None] = mapped_column(Text)  # why it failed, in words

    operations: Mapped[list[ScheduledOperation]] = relationship(
        back_populates="schedule",
        cascade="all, delete-orphan",
        order_by="ScheduledOperation.starts_at",
    )


class ScheduledOperation(IdMixin, Base):
    __tablename__ = "mfg_scheduled_operations"

    schedule_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_schedules.id", ondelete="CASCADE"), index=True
    )
    batch_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("mfg_batches.id", ondelete="CASCADE"), index=True
    )
    step_sequence: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("mfg_equipment_units.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Cleaning/changeover on the unit right before this operation (hours; 0 when none).
    changeover_hours: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))

    schedule: Mapped[Schedule] = relationship(back_populates="operations")
