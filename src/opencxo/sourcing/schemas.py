"""Request and response bodies of sourcing; a provider's view never carries another's bid."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from opencxo.core.dates import EARLIEST_DATE, LATEST_DATE
from opencxo.core.geography import is_country
from opencxo.core.types import ISO_4217_CURRENCIES
from opencxo.parties.models import CertificationStandard
from opencxo.sourcing.models import BidStatus, Modality, Phase, RfpStatus


def _currency(value: str) -> str:
    value = value.strip().upper()
    if value not in ISO_4217_CURRENCIES:
        raise ValueError("use an ISO 4217 currency code such as USD, EUR, CNY or INR")
    return value


def _countries(values: list[str]) -> list[str]:
    codes = [v.strip().upper() for v in values if v.strip()]
    bad = [c for c in codes if not is_country(c)]
    if bad:
        raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}")
    return codes


# The range of business dates (bid start dates, milestone due dates, invoice and payment dates,
# contract terms) and the longest span in days added to one (a bid's duration, a line's due
# offset): a date plus a span stays far inside what ``datetime.date`` can hold, so date arithmetic
# on accepted input never overflows. Contracts reuse these bounds.
MAX_SPAN_DAYS = 3650


def _business_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"use a date between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


BusinessDate = Annotated[date, AfterValidator(_business_date)]
"""A calendar date within ``EARLIEST_DATE`` … ``LATEST_DATE``."""


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- programs -----------------------------------------------------------------------------------


class ProgramFields(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    modality: Modality
    therapeutic_area: str = Field(min_length=2, max_length=100)
    indication: str = Field(min_length=2, max_length=200)
    phase: Phase
    patent_expiry: BusinessDate | None = Field(
        None, description="key patent expiry (loss of exclusivity)"
    )
    description: str = Field("", max_length=5000)
    budget_amount: Decimal | None = Field(
        None, gt=0, max_digits=16, decimal_places=2, description="outsourcing budget, optional"
    )
    budget_currency: str | None = Field(None, validate_default=True)

    @field_validator("budget_currency")
    @classmethod
    def _budget_currency(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            if info.data.get("budget_amount") is not None:
                raise ValueError("give the currency of the budget")
            return None
        return _currency(value)


class ProgramCreate(ProgramFields):
    sponsor_id: uuid.UUID | None = Field(
        None, description="needed only if you belong to several sponsors"
    )


class ProgramUpdate(ProgramFields):
    version: int


class ProgramRead(ORMModel):
    id: uuid.UUID
    sponsor_id: uuid.UUID
    name: str
    modality: Modality
    therapeutic_area: str
    indication: str
    phase: Phase
    patent_expiry: date | None
    owner_user_id: uuid.UUID | None
    description: str
    budget_amount: Decimal | None
    budget_currency: str | None
    updated_at: datetime
    version: int


# --- RFPs ---------------------------------------------------------------------------------------


class LotInput(BaseModel):
    title: str = Field(min_length=2, max_length=200)
    service_code: str
    scope: dict[str, Any] = Field(default_factory=dict, description="fields depend on the service")


class Weights(BaseModel):
    price: int = Field(40, ge=0, le=100)
    time: int = Field(20, ge=0, le=100)
    quality: int = Field(25, ge=0, le=100)
    risk: int = Field(15, ge=0, le=100)

    @model_validator(mode="after")
    def _sum_to_100(self) -> Weights:
        total = self.price + self.time + self.quality + self.risk
        if total != 100:
            raise ValueError(f"the weights must sum to 100 (they sum to {total})")
        return self


class RfpFields(BaseModel):
    title: str = Field(min_length=3, max_length=200)
    background: str = Field("", max_length=20000)
    bid_deadline: datetime = Field(description="timezone-aware, e.g. 2026-12-31T17:00:00+01:00")
    weights: Weights = Field(default_factory=Weights)
    required_certifications: list[CertificationStandard] = Field(default_factory=list)
    allowed_countries: list[str] = Field(default_factory=list, description="empty: any country")
    excluded_countries: list[str] = Field(default_factory=list)
    budget_amount: Decimal | None = Field(None, ge=0, max_digits=16, decimal_places=2)
    budget_currency: str | None = Field(None, validate_default=True)
    budget_shared: bool = Field(False, description="show the budget guidance to invited providers")
    base_currency: str = "USD"
    lots: list[LotInput] = Field(min_length=1, max_length=20)

    @field_validator("bid_deadline")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the deadline with its time zone, e.g. 2026-12-31T17:00:00Z")
        _business_date(value.date())  # also keeps the conversion to UTC from overflowing
        return value.astimezone(UTC)

    @field_validator("allowed_countries", "excluded_countries")
    @classmethod
    def _country_codes(cls, value: list[str]) -> list[str]:
        return _countries(value)

    @field_validator("base_currency")
    @classmethod
    def _base(cls, value: str) -> str:
        return _currency(value)

    @field_validator("budget_currency")
    @classmethod
    def _budget_currency(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            if info.data.get("budget_amount") is not None:
                raise ValueError("give the currency of the budget amount")
            return None
        return _currency(value)


class RfpCreate(RfpFields):
    program_id: uuid.UUID


class RfpUpdate(RfpFields):
    version: int


class ExchangeRates(BaseModel):
    version: int
    rates: dict[str, Decimal] = Field(
        description="currency → value of one unit in the RFP's base currency, e.g. {'EUR': '1.08'}"
    )

    @field_validator("rates")
    @classmethod
    def _positive(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        clean = {}
        for code, rate in value.items():
            if rate <= 0:
                raise ValueError(f"the rate for {code} must be positive")
            clean[_currency(code)] = rate
        return clean


class CancelRfp(BaseModel):
    version: int
    reason: str = Field(min_length=3, max_length=2000)


class FinishAward(BaseModel):
    """Close the award with the lots still open left unawarded (no acceptable bid)."""

    version: int
    reason: str = Field(min_length=3, max_length=2000, description="sent to their bidders")


class Transition(BaseModel):
    version: int


class InvitationCreate(BaseModel):
    provider_id: uuid.UUID
    acknowledge_warning: bool = Field(
        False, description="invite a conditionally qualified provider despite the warning"
    )


class LotRead(ORMModel):
    id: uuid.UUID
    number: int
    title: str
    service_code: str
    service_name: str
    scope: dict[str, Any]


class InvitationRead(BaseModel):
    provider_id: uuid.UUID
    provider_name: str
    country: str
    warning: str
    invited_at: datetime
    bid_received: bool = Field(description="a bid has been submitted (its content stays sealed)")


class AttachmentRead(ORMModel):
    """A document attached to an RFP or a bid: kept under its SHA-256, re-checked on download."""

    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime


class RfpRead(BaseModel):
    """The RFP as the reader may see it (providers get no budget unless shared, no invitee list)."""

    id: uuid.UUID
    sponsor_id: uuid.UUID
    sponsor_name: str
    program_id: uuid.UUID | None
    program_name: str | None
    therapeutic_area: str
    phase: str
    title: str
    background: str
    status: RfpStatus
    bid_deadline: datetime
    deadline_passed: bool
    weights: Weights
    required_certifications: list[str]
    allowed_countries: list[str]
    excluded_countries: list[str]
    budget_amount: Decimal | None
    budget_currency: str | None
    budget_shared: bool
    base_currency: str
    exchange_rates: dict[str, str]
    lots: list[LotRead]
    attachments: list[AttachmentRead] = Field(description="the RFP's documents, oldest first")
    invitations: list[InvitationRead] | None
    bids_received: int | None
    published_at: datetime | None
    closed_at: datetime | None
    cancelled_reason: str | None
    unawarded_reason: str | None = Field(
        None, description="why the lots without an award were left unawarded"
    )
    version: int
    viewer_role: str = Field(description="sponsor or invited provider")


class RfpSummary(BaseModel):
    id: uuid.UUID
    title: str
    sponsor_name: str
    program_name: str | None = Field(None, description="only on the sponsor's own RFPs")
    status: RfpStatus
    bid_deadline: datetime
    lots: int
    my_bid_status: BidStatus | None = None
    created_at: datetime


class MatchSuggestion(BaseModel):
    provider_id: uuid.UUID
    provider_name: str
    country: str
    matched_lots: list[int]
    qualification_status: str | None
    can_invite: bool
    warning: str


class QuestionCreate(BaseModel):
    question: str = Field(min_length=5, max_length=5000)


class AnswerCreate(BaseModel):
    answer: str = Field(min_length=1, max_length=10000)
    version: int


class QuestionRead(BaseModel):
    id: uuid.UUID
    question: str
    answer: str | None
    asked_at: datetime
    answered_at: datetime | None
    asked_by_you: bool
    version: int


# --- bids ---------------------------------------------------------------------------------------


class BidLineInput(BaseModel):
    description: str = Field(min_length=2, max_length=300)
    deliverable: str = Field("", max_length=300)
    amount: Decimal = Field(gt=0, max_digits=16, decimal_places=2)
    currency: str
    due_offset_days: int = Field(ge=0, le=MAX_SPAN_DAYS, description="days after the start date")

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str) -> str:
        return _currency(value)


class BidLotInput(BaseModel):
    lot_id: uuid.UUID
    start_date: BusinessDate
    duration_days: int = Field(ge=1, le=MAX_SPAN_DAYS)
    assumptions: str = Field("", max_length=10000)
    lines: list[BidLineInput] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _lines_within_duration(self) -> BidLotInput:
        late = [
            n for n, line in enumerate(self.lines, 1) if line.due_offset_days > self.duration_days
        ]
        if late:
            raise ValueError(f"price line(s) {late} fall due after the offer's duration")
        # Both bounded above, so the sum cannot overflow.
        if self.start_date + timedelta(days=self.duration_days) > LATEST_DATE:
            raise ValueError(
                f"the offer would end after {LATEST_DATE}; start earlier or shorten the duration"
            )
        return self


class BidInput(BaseModel):
    version: int | None = Field(None, description="the version you read; omit for a new bid")
    notes: str = Field("", max_length=10000)
    lots: list[BidLotInput] = Field(min_length=1, max_length=20)


class BidLineRead(ORMModel):
    position: int
    description: str
    deliverable: str
    amount: Decimal
    currency: str
    due_offset_days: int


class BidLotRead(BaseModel):
    lot_id: uuid.UUID
    lot_number: int
    start_date: date
    duration_days: int
    assumptions: str
    lines: list[BidLineRead]
    totals: dict[str, Decimal] = Field(description="total per currency")


class BidRead(BaseModel):
    id: uuid.UUID
    rfp_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    status: BidStatus
    submitted_at: datetime | None
    notes: str
    lots: list[BidLotRead]
    attachments: list[AttachmentRead] = Field(description="the bid's documents, oldest first")
    version: int


class BidReceipt(BaseModel):
    """What the sponsor sees of a bid before the deadline: that it exists."""

    provider_id: uuid.UUID
    provider_name: str
    submitted_at: datetime | None


# --- comparison and award -----------------------------------------------------------------------


class ComparisonRow(BaseModel):
    bid_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    country: str
    price: Decimal = Field(description="in the RFP's base currency")
    duration_days: int
    start_date: date
    qualification_status: str | None
    quality_score: float = Field(
        description="0–100: the qualification, blended half and half with the provider's history "
        "with this sponsor when it has one"
    )
    on_time_percent: float | None = Field(
        None, description="share of the provider's accepted milestones submitted by their due date"
    )
    first_pass_percent: float | None = Field(
        None, description="share of the provider's milestone submissions accepted first time"
    )
    milestones_delivered: int = 0
    price_score: float
    time_score: float
    risk_score: float
    risk_flags: list[str]
    weighted_score: float
    rank: int
    awarded: bool


class LotComparison(BaseModel):
    lot_id: uuid.UUID
    lot_number: int
    title: str
    service_code: str
    base_currency: str
    median_price: Decimal | None
    rows: list[ComparisonRow]
    awarded_bid_id: uuid.UUID | None


class Comparison(BaseModel):
    rfp_id: uuid.UUID
    weights: Weights
    base_currency: str
    lots: list[LotComparison]


class AwardCreate(BaseModel):
    bid_id: uuid.UUID
    version: int = Field(
        description="the RFP's version you compared the bids at; a stale one answers 409 (the "
        "exchange rates, and so the amounts, may have changed since)",
    )
    password: str = Field(min_length=1, description="your password again: the award is e-signed")
    meaning: str = Field("awarded", description="the signature's meaning")
    rationale: str = Field("", max_length=5000)


class SignatureRead(ORMModel):
    id: uuid.UUID
    signer_name: str
    signer_email: str
    meaning: str
    signed_at: datetime
    record_sha256: str


class AwardRead(BaseModel):
    id: uuid.UUID
    rfp_id: uuid.UUID
    lot_id: uuid.UUID
    lot_number: int
    bid_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    amount: Decimal
    currency: str
    rationale: str
    signature: SignatureRead


class MyOutcome(BaseModel):
    """A bidder's own result per lot: won or not, and nothing of the others."""

    lot_id: uuid.UUID
    lot_number: int
    outcome: str = Field(description="awarded, not_awarded or pending")
