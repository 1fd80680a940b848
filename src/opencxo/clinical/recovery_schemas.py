"""Request and response bodies of recovery plans: CRO site offers, the request to plan a
recovery, and the plan (sites to add and close, costs, probabilities, dates, the chart data)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opencxo.clinical.engine.recovery import (
    MAX_OFFER_ACTIVATION_LAG_DAYS,
    MAX_OFFER_CAPACITY_SITES,
    MAX_OFFER_COST,
    MAX_OFFER_RATE_PER_SITE_PER_MONTH,
)
from opencxo.clinical.models import RecoveryOutcome, RecoveryPlanStatus
from opencxo.clinical.schemas import PlanDate
from opencxo.core.geography import is_country
from opencxo.core.types import ISO_4217_CURRENCIES

MONEY: dict[str, Any] = {"max_digits": 16, "decimal_places": 2}
#: An offer's money fields stop where the recovery engine stops (``MAX_OFFER_COST``).
OFFER_MONEY: dict[str, Any] = {**MONEY, "ge": 0, "le": Decimal(f"{MAX_OFFER_COST:.2f}")}
MIN_RECOVERY_PATHS = 1_000
MAX_RECOVERY_PATHS = 100_000
DEFAULT_RECOVERY_PATHS = 20_000
DEFAULT_RECOVERY_SEED = 2026
DEFAULT_CONFIDENCE = 0.8
MAX_CLOSING_COST = Decimal("10000000")


def _currency(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_4217_CURRENCIES:
        raise ValueError("use an ISO 4217 currency code such as USD, EUR, CNY or INR")
    return code


# --- site offers --------------------------------------------------------------------------------


class SiteOfferFields(BaseModel):
    name: str = Field(min_length=2, max_length=200, description="e.g. 'Czech GI network'")
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    city: str = Field("", max_length=100)
    expected_rate_per_site_per_month: float = Field(
        gt=0,
        le=min(100.0, MAX_OFFER_RATE_PER_SITE_PER_MONTH),
        allow_inf_nan=False,
        description="patients per site per month once a site is open",
    )
    activation_lag_days: int = Field(
        ge=0,
        le=int(MAX_OFFER_ACTIVATION_LAG_DAYS),
        description="days from the decision until a site opens",
    )
    startup_cost_per_site: Decimal = Field(**OFFER_MONEY)
    monthly_cost_per_site: Decimal = Field(**OFFER_MONEY)
    cost_per_patient: Decimal = Field(**OFFER_MONEY)
    currency: str = Field("USD", description="ISO 4217")
    capacity_sites: int = Field(
        ge=1, le=MAX_OFFER_CAPACITY_SITES, description="sites the offer holds"
    )
    therapeutic_areas: list[str] = Field(
        default_factory=list, max_length=30, description="empty: any area"
    )
    notes: str = Field("", max_length=5000)
    active: bool = True

    @field_validator("name", "city")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        code = value.strip().upper()
        if not is_country(code):
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return code

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        return _currency(value)

    @field_validator("therapeutic_areas", mode="before")
    @classmethod
    def _areas(cls, value: Any) -> Any:
        """A list, or one comma-separated text (a web form's field)."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            cleaned: list[str] = []
            for item in value:
                text = str(item).strip()
                if len(text) > 100:
                    raise ValueError("a therapeutic area has at most 100 characters")
                if text and text.lower() not in {c.lower() for c in cleaned}:
                    cleaned.append(text)
            return cleaned
        return value


class SiteOfferCreate(SiteOfferFields):
    provider_id: uuid.UUID | None = Field(
        None, description="the offering provider (default: your provider organisation)"
    )


class SiteOfferUpdate(SiteOfferFields):
    version: int


class SiteOfferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str = ""
    name: str
    country: str
    city: str
    expected_rate_per_site_per_month: float
    activation_lag_days: int
    startup_cost_per_site: Decimal
    monthly_cost_per_site: Decimal
    cost_per_patient: Decimal
    currency: str
    capacity_sites: int
    therapeutic_areas: list[str]
    notes: str
    active: bool
    version: int
    updated_at: datetime


# --- recovery plans -----------------------------------------------------------------------------


class RecoveryRequest(BaseModel):
    """What to plan for. Offers in another currency than ``currency`` are left out (no
    exchange rates); the study's sites count with their costs in that currency only."""

    deadline: PlanDate | None = Field(None, description="default: the planned last patient in")
    confidence: float = Field(
        DEFAULT_CONFIDENCE, ge=0.5, le=0.99, description="required P(target by the deadline)"
    )
    allow_closing: bool = Field(True, description="false: only add sites")
    closing_cost_per_site: Decimal = Field(
        Decimal("0.00"),
        ge=0,
        le=MAX_CLOSING_COST,
        description="one-off cost of closing a site (close-out visit, archiving), in the "
        "plan's currency: the savings of a closure are net of it",
        **MONEY,
    )
    currency: str = Field("USD", description="ISO 4217: the offers and site costs compared")
    as_of: PlanDate | None = Field(None, description="default: today (never in the future)")
    paths: int = Field(
        DEFAULT_RECOVERY_PATHS,
        ge=MIN_RECOVERY_PATHS,
        le=MAX_RECOVERY_PATHS,
        description="Monte Carlo paths of each verification",
    )
    seed: int = Field(DEFAULT_RECOVERY_SEED, ge=0, le=2**63 - 1)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        return _currency(value)


class RecoveryDecision(BaseModel):
    version: int
    reason: str = Field("", max_length=2000)


class RecoveryAddition(BaseModel):
    """Sites to open from one offer (the offer as it was when the plan was made)."""

    offer_id: uuid.UUID
    offer_name: str
    provider_id: uuid.UUID
    provider_name: str
    country: str
    city: str
    sites: int
    expected_patients_by_deadline: float
    cost: Decimal = Field(description="start-up, monthly and per-patient cost to the deadline")
    activation_lag_days: int
    expected_rate_per_site_per_month: float
    startup_cost_per_site: Decimal
    monthly_cost_per_site: Decimal
    cost_per_patient: Decimal
    site_codes: list[str] = Field(
        default_factory=list, description="the study sites made when the plan was accepted"
    )


class RecoveryClosure(BaseModel):
    """A study site the plan closes."""

    site_id: uuid.UUID
    code: str
    name: str
    country: str
    expected_patients_lost: float
    saving: Decimal


class RecoveryBandPoint(BaseModel):
    """Cumulative enrollment (all sites, patients) forecast for one date."""

    on_date: date
    day: float
    mean: float
    p10: float
    p50: float
    p90: float


class RecoveryHistogramBin(BaseModel):
    """Share of the simulated paths reaching the target in [start, end)."""

    start: date
    end: date
    before: float
    after: float


class RecoveryDistribution(BaseModel):
    before: list[RecoveryBandPoint] = Field(default_factory=list)
    after: list[RecoveryBandPoint] = Field(default_factory=list)
    histogram: list[RecoveryHistogramBin] = Field(default_factory=list)
    not_reached_before: float = Field(0.0, description="share of paths beyond the horizon")
    not_reached_after: float = 0.0


class CompletionDates(BaseModel):
    p10: date | None = Field(description="None: beyond the 5-year horizon")
    p50: date | None
    p90: date | None


class RecoveryPlanRead(BaseModel):
    id: uuid.UUID
    study_id: uuid.UUID
    study_code: str
    organization_id: uuid.UUID
    organization_name: str = Field(description="the side that proposed it")
    created_by_name: str | None
    created_at: datetime
    as_of: date
    deadline: date
    confidence: float
    allow_closing: bool
    closing_cost_per_site: Decimal = Field(
        description="one-off cost of closing a site; the closures' savings are net of it"
    )
    currency: str
    paths: int
    seed: int
    target: int
    enrolled_to_date: int
    offers_considered: int
    offers_skipped_currency: int = Field(description="active offers left out: other currency")
    status: RecoveryPlanStatus
    outcome: RecoveryOutcome
    message: str
    added: list[RecoveryAddition]
    closed: list[RecoveryClosure]
    sites_added: int
    added_cost: Decimal
    savings: Decimal
    net_cost: Decimal
    probability_before: float
    probability_after: float
    probability_approximation: float = Field(
        description="the moment-matched normal approximation's probability for the plan"
    )
    completion_before: CompletionDates
    completion_after: CompletionDates
    distribution: RecoveryDistribution
    rounds: int
    wall_time_s: float
    decided_by_name: str | None
    decided_at: datetime | None
    decision_reason: str
    viewer_role: str = Field(description="sponsor or provider: the side the caller acts for")
    version: int
    updated_at: datetime
