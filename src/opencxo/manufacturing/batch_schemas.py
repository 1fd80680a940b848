"""Request and response bodies of batch records: execution, materials and genealogy, deviations,
QC results, QA disposition and the certificate of analysis."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from opencxo.manufacturing.models import (
    QUANTITY_DIGITS,
    BatchStatus,
    DeviationSeverity,
    QuantityUnit,
)
from opencxo.manufacturing.schemas import in_years


def _utc(value: datetime) -> datetime:
    """A time without a zone is taken as UTC (what the forms and the API document)."""
    in_years(value)  # before the conversion, which may overflow
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Instant = Annotated[datetime, AfterValidator(_utc)]


def _stripped(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


# --- requests -----------------------------------------------------------------------------------


class Versioned(BaseModel):
    version: int = Field(ge=1, description="the batch's version you read (stale: 409)")


class BatchStart(Versioned):
    started_at: Instant | None = Field(None, description="default: now (UTC)")


class StepRecord(Versioned):
    unit_id: uuid.UUID = Field(description="an active unit of the step's equipment class")
    started_at: Instant
    ended_at: Instant | None = None
    actual_yield_fraction: Decimal | None = Field(None, gt=0, le=1, max_digits=12)
    performed_by: str | None = Field(None, max_length=200)
    notes: str = Field("", max_length=5000)

    @model_validator(mode="after")
    def _order(self) -> StepRecord:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at must not be before started_at")
        return self

    @field_validator("performed_by")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return _stripped(value)


class BatchComplete(Versioned):
    actual_quantity: Decimal = Field(gt=0, max_digits=QUANTITY_DIGITS, decimal_places=6)
    completed_at: Instant | None = Field(None, description="default: now (UTC)")


class MaterialCreate(BaseModel):
    """A consumed batch of the plant (``input_batch_number``) or a purchased lot
    (``supplier_lot`` with ``material_name``) — one of the two."""

    input_batch_number: str | None = Field(None, max_length=40)
    supplier_lot: str | None = Field(None, max_length=80)
    material_name: str | None = Field(
        None, max_length=200, description="default for a batch: its product's name"
    )
    quantity: Decimal = Field(gt=0, max_digits=QUANTITY_DIGITS, decimal_places=6)
    unit: QuantityUnit | None = Field(None, description="default: the input product's unit, or kg")
    version: int | None = Field(None, ge=1, description="the batch's version (optional)")

    @field_validator("input_batch_number", "supplier_lot", "material_name")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return _stripped(value)

    @model_validator(mode="after")
    def _one_source(self) -> MaterialCreate:
        if (self.input_batch_number is None) == (self.supplier_lot is None):
            raise ValueError("give either input_batch_number or supplier_lot, not both or neither")
        return self


class DeviationCreate(BaseModel):
    description: str = Field(min_length=3, max_length=5000)
    severity: DeviationSeverity
    version: int | None = Field(None, ge=1, description="the batch's version (optional)")

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class DeviationClose(BaseModel):
    version: int = Field(ge=1, description="the deviation's version you read")
    resolution: str = Field(min_length=3, max_length=5000, description="root cause and CAPA")

    @field_validator("resolution")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class QcRecord(BaseModel):
    """A result: ``value`` for a numeric specification; ``conforms`` (and optionally
    ``text_result``) for a text criterion."""

    value: Decimal | None = Field(None, max_digits=QUANTITY_DIGITS, decimal_places=6)
    text_result: str | None = Field(None, max_length=200)
    conforms: bool | None = None
    tested_on: date
    analyst: str = Field(min_length=1, max_length=200)
    version: int | None = Field(None, ge=1, description="the batch's version (optional)")

    @field_validator("text_result")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return _stripped(value)


class BatchRelease(Versioned):
    password: str = Field(min_length=1, max_length=200, description="your password (e-signature)")


class BatchReject(BatchRelease):
    reason: str = Field(min_length=3, max_length=5000)

    @field_validator("reason")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


# --- responses ----------------------------------------------------------------------------------


class BatchListItem(BaseModel):
    id: uuid.UUID
    batch_number: str
    status: BatchStatus
    product_id: uuid.UUID
    product_code: str
    product_name: str
    order_id: uuid.UUID
    order_number: str
    sponsor_id: uuid.UUID
    sponsor_name: str
    planned_quantity: Decimal
    actual_quantity: Decimal | None
    unit: str
    started_at: datetime | None
    completed_at: datetime | None
    manufactured_on: date | None
    disposed_at: datetime | None
    out_of_specification: bool = Field(description="some QC result is out of specification")
    open_deviations: int
    updated_at: datetime
    version: int


class SignatureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    signer_name: str
    signer_email: str
    meaning: str
    signed_at: datetime
    record_sha256: str


class BatchStepRead(BaseModel):
    sequence: int
    operation: str
    equipment_class: str
    planned_hours: Decimal | None
    planned_yield_fraction: Decimal | None
    unit_id: uuid.UUID | None
    unit_code: str | None
    started_at: datetime | None
    ended_at: datetime | None
    actual_hours: Decimal | None
    actual_yield_fraction: Decimal | None
    performed_by: str | None
    notes: str


class MaterialRead(BaseModel):
    id: uuid.UUID
    material_name: str
    input_batch_id: uuid.UUID | None
    input_batch_number: str | None
    input_product_code: str | None
    supplier_lot: str | None
    quantity: Decimal
    unit: str
    recorded_at: datetime


class GenealogyLink(BaseModel):
    """One neighbour of a batch: an input (a batch of the plant or a supplier lot) or a batch
    that consumed it."""

    batch_id: uuid.UUID | None
    batch_number: str | None
    product_code: str | None
    product_name: str | None
    status: str | None
    supplier_lot: str | None = None
    material_name: str
    quantity: Decimal
    unit: str


class GenealogyNode(GenealogyLink):
    children: list[GenealogyNode] = Field(default_factory=list)
    repeated: bool = Field(False, description="already shown higher up this branch (a cycle)")


class GenealogyRead(BaseModel):
    batch_id: uuid.UUID
    batch_number: str
    upstream: list[GenealogyNode] = Field(description="what it was made from, recursively")
    downstream: list[GenealogyNode] = Field(description="what consumed it, recursively")


class DeviationRead(BaseModel):
    id: uuid.UUID
    batch_id: uuid.UUID
    number: str
    description: str
    severity: DeviationSeverity
    opened_at: datetime
    closed_at: datetime | None
    resolution: str | None
    version: int
    is_open: bool


class QcResultRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    value: Decimal | None
    text_result: str | None
    conforms: bool | None
    out_of_specification: bool
    tested_on: date
    analyst: str
    lower_limit: Decimal | None
    upper_limit: Decimal | None


class QcLine(BaseModel):
    """A specification line of the product with the batch's result (None: not tested yet)."""

    specification_id: uuid.UUID
    test: str
    method: str
    lower_limit: Decimal | None
    upper_limit: Decimal | None
    result_unit: str
    acceptance_text: str | None
    numeric: bool
    result: QcResultRead | None


class DispositionRead(BaseModel):
    decision: str | None = Field(description="released, rejected or None while undecided")
    disposed_at: datetime | None
    reason: str | None
    signature: SignatureRead | None


class BatchRead(BatchListItem):
    product_kind: str
    recipe_id: uuid.UUID
    plant_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    expiry_date: date | None
    steps: list[BatchStepRead]
    materials: list[MaterialRead]
    made_from: list[GenealogyLink]
    used_in: list[GenealogyLink]
    bom: list[str] = Field(description="the recipe's components, as 'name (code)' or name")
    deviations: list[DeviationRead]
    qc: list[QcLine]
    missing_results: list[str] = Field(description="tests of the specification with no result")
    out_of_specification_tests: list[str]
    release_blockers: list[str] = Field(description="why QA cannot release it now; empty: can")
    disposition: DispositionRead
    signatures: list[SignatureRead]


class CoaProduct(BaseModel):
    name: str
    code: str
    kind: str
    dosage_form: str | None
    strength: str | None


class CoaTest(BaseModel):
    test: str
    method: str
    lower_limit: Decimal | None
    upper_limit: Decimal | None
    acceptance: str = Field(description="the limits in words, e.g. '98.0 – 102.0 %'")
    result: str = Field(description="the result in words, e.g. '99.6 %' or 'Conforms'")
    value: Decimal | None
    unit: str
    conforms: bool
    tested_on: date
    analyst: str


class CertificateDelivery(BaseModel):
    """A released batch's certificate of analysis as the deliverable of a milestone of the work
    order behind its production order."""

    milestone_id: uuid.UUID
    version: int | None = Field(None, ge=1, description="the milestone's version (optional)")
    note: str = Field("", max_length=500)


class MilestoneChoice(BaseModel):
    """A milestone the certificate can be delivered to (planned, or rejected and open again)."""

    id: uuid.UUID
    position: int
    label: str
    version: int


class CoaRead(BaseModel):
    batch_id: uuid.UUID
    batch_number: str
    product: CoaProduct
    order_number: str
    manufactured_on: date
    expiry_date: date | None
    shelf_life_months: int | None
    quantity: Decimal
    unit: str
    tests: list[CoaTest]
    release: SignatureRead
    manufacturer: str
    sponsor: str
