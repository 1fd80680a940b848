"""Request and response bodies of contracts and money."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from opencxo.contracts.models import (
    ChangeOrderStatus,
    InvoiceStatus,
    MilestoneStatus,
    WorkOrderStatus,
)
from opencxo.core.dates import EARLIEST_DATE as EARLIEST_DATE
from opencxo.core.dates import LATEST_DATE as LATEST_DATE
from opencxo.sourcing.schemas import BusinessDate as BusinessDate

MONEY = {"max_digits": 16, "decimal_places": 2}


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SignatureRead(ORMModel):
    signer_name: str
    signer_email: str
    organization_id: uuid.UUID
    meaning: str
    signed_at: datetime
    record_sha256: str


class SignIn(BaseModel):
    """An e-signature: your password again and what the signature means."""

    password: str = Field(min_length=1)
    meaning: str = Field("executed", description="executed, approved, reviewed, accepted …")


class MsaCreate(BaseModel):
    provider_id: uuid.UUID
    sponsor_id: uuid.UUID | None = None
    reference: str = Field(min_length=2, max_length=60)
    terms: str = Field(min_length=10, max_length=50000)
    effective_date: BusinessDate
    expiry_date: BusinessDate

    @field_validator("expiry_date")
    @classmethod
    def _after_effective(cls, value: date, info: ValidationInfo) -> date:
        effective = info.data.get("effective_date")
        if effective is not None and value <= effective:
            raise ValueError("the expiry date must be after the effective date")
        return value


class MsaRead(ORMModel):
    id: uuid.UUID
    sponsor_id: uuid.UUID
    provider_id: uuid.UUID
    reference: str
    terms: str
    effective_date: date
    expiry_date: date
    version: int


class WorkOrderFromAward(BaseModel):
    award_id: uuid.UUID
    payment_terms_days: int = Field(30, ge=0, le=180, description="net days")


class MilestoneRead(BaseModel):
    id: uuid.UUID
    position: int
    description: str
    deliverable: str
    amount: Decimal
    currency: str
    due_date: date
    status: MilestoneStatus
    overdue: bool
    submitted_at: datetime | None
    decided_at: datetime | None
    rejection_reason: str | None
    invoice_id: uuid.UUID | None
    deliverables: list[DeliverableRead]
    signatures: list[SignatureRead]
    version: int


class DeliverableRead(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    note: str
    uploaded_at: datetime


class WorkOrderSummary(BaseModel):
    id: uuid.UUID
    number: str
    title: str
    sponsor_name: str
    provider_name: str
    status: WorkOrderStatus
    currency: str
    total_value: Decimal
    paid: Decimal
    updated_at: datetime


class WorkOrderRead(BaseModel):
    id: uuid.UUID
    number: str
    title: str
    service_code: str
    msa: MsaRead
    sponsor_id: uuid.UUID
    sponsor_name: str
    provider_id: uuid.UUID
    provider_name: str
    program_id: uuid.UUID
    award_id: uuid.UUID | None
    status: WorkOrderStatus
    currency: str
    payment_terms_days: int
    start_date: date
    total_value: Decimal
    milestones: list[MilestoneRead]
    signatures: list[SignatureRead]
    awaiting_signature_from: list[str]
    termination_reason: str | None
    value_history: list[ValuePoint]
    version: int
    viewer_role: str


class ValuePoint(BaseModel):
    at: datetime
    value: Decimal
    change: str


class Transition(BaseModel):
    version: int


class Terminate(BaseModel):
    version: int
    reason: str = Field(min_length=3, max_length=5000)


class MilestoneDecision(SignIn):
    version: int
    accept: bool
    reason: str = Field("", max_length=5000, description="required when rejecting")
    meaning: str = "accepted"

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> MilestoneDecision:
        if not self.accept and len(self.reason.strip()) < 3:
            raise ValueError("say why the milestone is rejected")
        return self


class MilestoneChange(BaseModel):
    """One change in a change order: add a milestone, or change or remove an existing one."""

    action: str = Field(description="add, change or remove")
    milestone_id: uuid.UUID | None = None
    description: str | None = Field(None, max_length=300)
    deliverable: str | None = Field(None, max_length=300)
    amount: Decimal | None = Field(None, gt=0, **MONEY)  # type: ignore[call-overload]
    due_date: BusinessDate | None = None

    @model_validator(mode="after")
    def _shape(self) -> MilestoneChange:
        if self.action not in {"add", "change", "remove"}:
            raise ValueError("action must be add, change or remove")
        if self.action == "add" and (
            not self.description or self.amount is None or self.due_date is None
        ):
            raise ValueError("a new milestone needs a description, an amount and a due date")
        if self.action in {"change", "remove"} and self.milestone_id is None:
            raise ValueError("say which milestone (milestone_id)")
        return self


class ChangeOrderCreate(BaseModel):
    version: int = Field(description="the work order version you read")
    reason: str = Field(min_length=5, max_length=5000)
    changes: list[MilestoneChange] = Field(min_length=1, max_length=50)


class ChangeOrderRead(BaseModel):
    id: uuid.UUID
    number: int
    reason: str
    changes: list[dict[str, Any]]
    status: ChangeOrderStatus
    value_before: Decimal
    value_after: Decimal
    signatures: list[SignatureRead]
    awaiting_signature_from: list[str]
    proposed_by_organization_id: uuid.UUID
    created_at: datetime
    applied_at: datetime | None
    version: int


class InvoiceIssue(BaseModel):
    version: int
    number: str = Field(min_length=1, max_length=40, description="your invoice number")
    issued_on: BusinessDate


class PaymentCreate(BaseModel):
    version: int = Field(description="the invoice version you read")
    amount: Decimal = Field(gt=0, **MONEY)  # type: ignore[call-overload]
    paid_on: BusinessDate
    reference: str = Field("", max_length=100)


class PaymentRead(ORMModel):
    id: uuid.UUID
    amount: Decimal
    paid_on: date
    reference: str


class InvoiceRead(BaseModel):
    id: uuid.UUID
    work_order_id: uuid.UUID
    work_order_number: str
    milestone_id: uuid.UUID
    milestone: str
    number: str | None
    amount: Decimal
    currency: str
    status: InvoiceStatus
    issued_on: date | None
    due_on: date | None
    paid: Decimal
    outstanding: Decimal
    overdue: bool
    payments: list[PaymentRead]
    version: int


class SpendRow(BaseModel):
    key: str
    currency: str
    committed: Decimal
    accrued: Decimal
    invoiced: Decimal
    paid: Decimal
    remaining: Decimal
    budget: Decimal | None = Field(
        None, description="the program's outsourcing budget, when it is in this row's currency"
    )
    budget_left: Decimal | None = Field(None, description="budget minus committed")
    budget_used_percent: float | None = Field(None, description="committed ÷ budget × 100")


class SpendReport(BaseModel):
    by: str
    rows: list[SpendRow]


MilestoneRead.model_rebuild()
WorkOrderRead.model_rebuild()
