"""Request and response bodies of clinical operations: studies, countries, sites, enrollment."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from opencxo.clinical.models import SiteStatus, StudyPhase, StudyStatus
from opencxo.core.dates import EARLIEST_DATE, LATEST_DATE
from opencxo.core.geography import is_country
from opencxo.core.types import ISO_4217_CURRENCIES


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


#: The dates a study, a site or an enrollment record may carry: a typo such as 0001-01-01 or
#: 9999-12-31 is refused at input (422) rather than breaking every chart, report and forecast.
PlanDate = Annotated[
    date,
    Field(
        ge=EARLIEST_DATE,
        le=LATEST_DATE,
        description=f"between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}",
    ),
]


def _country(value: str) -> str:
    code = value.strip().upper()
    if not is_country(code):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


# --- studies ------------------------------------------------------------------------------------


class StudyFields(BaseModel):
    code: str = Field(min_length=2, max_length=40, description="the protocol number")
    title: str = Field(min_length=3, max_length=300)
    phase: StudyPhase
    indication: str = Field("", max_length=300)
    target_enrollment: int = Field(gt=0, le=1_000_000, description="patients to enroll")
    planned_first_patient_in: PlanDate | None = None
    planned_last_patient_in: PlanDate | None = None
    work_order_id: uuid.UUID | None = Field(
        None, description="the CRO contract; sets the CRO provider"
    )
    provider_id: uuid.UUID | None = Field(
        None, description="the CRO running the study (the work order's provider when one is given)"
    )
    description: str = Field("", max_length=20000)

    @field_validator("code", "title")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _dates(self) -> StudyFields:
        first, last = self.planned_first_patient_in, self.planned_last_patient_in
        if first and last and last < first:
            raise ValueError("planned_last_patient_in must be on or after planned_first_patient_in")
        return self


class StudyCreate(StudyFields):
    program_id: uuid.UUID
    status: StudyStatus = StudyStatus.PLANNED


class StudyUpdate(StudyFields):
    version: int
    status: StudyStatus


class StudyCountryInput(BaseModel):
    country: str = Field(min_length=2, max_length=2)
    planned_sites: int = Field(0, ge=0, le=10_000)
    planned_patients: int = Field(0, ge=0, le=1_000_000)

    _code = field_validator("country")(_country)


class StudyCountryRead(ORMModel):
    id: uuid.UUID
    country: str
    planned_sites: int
    planned_patients: int


class CountryTotals(BaseModel):
    """One country of a study: its plan next to what its sites did."""

    country: str
    planned_sites: int
    planned_patients: int
    sites: int
    active_sites: int
    screened: int
    enrolled: int


class StudySummary(BaseModel):
    """What a study has done so far: enrollment against the target, sites by status."""

    target_enrollment: int
    screened: int
    enrolled: int
    screen_failed: int
    withdrawn: int
    percent_of_target: float
    sites_total: int
    sites_by_status: dict[str, int]
    by_country: list[CountryTotals]
    first_patient_in: date | None
    last_record_on: date | None


class StudyListItem(BaseModel):
    id: uuid.UUID
    code: str
    title: str
    phase: StudyPhase
    status: StudyStatus
    sponsor_name: str
    provider_name: str | None
    program_name: str
    target_enrollment: int
    enrolled: int
    percent_of_target: float
    sites: int
    planned_last_patient_in: date | None
    updated_at: datetime


class StudyRead(BaseModel):
    id: uuid.UUID
    sponsor_id: uuid.UUID
    sponsor_name: str
    program_id: uuid.UUID
    program_name: str
    work_order_id: uuid.UUID | None
    work_order_number: str | None
    provider_id: uuid.UUID | None
    provider_name: str | None
    code: str
    title: str
    phase: StudyPhase
    indication: str
    target_enrollment: int
    planned_first_patient_in: date | None
    planned_last_patient_in: date | None
    status: StudyStatus
    description: str
    countries: list[StudyCountryRead]
    summary: StudySummary
    viewer_role: str = Field(description="sponsor or provider: the side the caller acts for")
    version: int
    updated_at: datetime


# --- sites --------------------------------------------------------------------------------------


class SiteFields(BaseModel):
    code: str = Field(min_length=1, max_length=40, description="the site number, e.g. US-001")
    name: str = Field(min_length=2, max_length=200)
    institution: str = Field("", max_length=200)
    country: str = Field(min_length=2, max_length=2)
    city: str = Field("", max_length=100)
    investigator: str = Field("", max_length=200)
    provider_id: uuid.UUID | None = Field(None, description="the CRO managing the site")
    planned_activation_date: PlanDate | None = None
    monthly_cost: Decimal | None = Field(
        None, ge=0, max_digits=16, decimal_places=2, description="cost per month while open"
    )
    cost_per_patient: Decimal | None = Field(None, ge=0, max_digits=16, decimal_places=2)
    cost_currency: str | None = Field(
        None, validate_default=True, description="ISO 4217; required with a cost"
    )

    _code = field_validator("country")(_country)

    @field_validator("code", "name")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("cost_currency")
    @classmethod
    def _cost_currency(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value or not value.strip():
            costs = (info.data.get("monthly_cost"), info.data.get("cost_per_patient"))
            if any(c is not None for c in costs):
                raise ValueError("give the currency of the site's costs")
            return None
        code = value.strip().upper()
        if code not in ISO_4217_CURRENCIES:
            raise ValueError("use an ISO 4217 currency code such as USD, EUR, CNY or INR")
        return code


class SiteCreate(SiteFields):
    status: SiteStatus = SiteStatus.PLANNED
    actual_activation_date: PlanDate | None = None


class SiteUpdate(SiteFields):
    version: int


class SiteTransition(BaseModel):
    version: int
    status: SiteStatus
    on: PlanDate | None = Field(
        None, description="activation date when the site becomes active (default: today)"
    )
    reason: str = Field("", max_length=2000)


class SiteTotals(BaseModel):
    screened: int = 0
    enrolled: int = 0
    screen_failed: int = 0
    withdrawn: int = 0
    last_record_on: date | None = None


class SiteRead(ORMModel):
    id: uuid.UUID
    study_id: uuid.UUID
    code: str
    name: str
    institution: str
    country: str
    city: str
    investigator: str
    provider_id: uuid.UUID | None
    provider_name: str | None = None
    planned_activation_date: date | None
    actual_activation_date: date | None
    status: SiteStatus
    monthly_cost: Decimal | None = None
    cost_per_patient: Decimal | None = None
    cost_currency: str | None = None
    totals: SiteTotals = Field(default_factory=SiteTotals)
    allowed_transitions: list[SiteStatus] = Field(default_factory=list)
    version: int


# --- enrollment ---------------------------------------------------------------------------------


class EnrollmentCreate(BaseModel):
    on_date: PlanDate
    screened: int = Field(0, ge=0, le=100_000)
    enrolled: int = Field(0, ge=0, le=100_000)
    screen_failed: int = Field(0, ge=0, le=100_000)
    withdrawn: int = Field(0, ge=0, le=100_000)


class EnrollmentRead(ORMModel):
    id: uuid.UUID
    site_id: uuid.UUID
    on_date: date
    screened: int
    enrolled: int
    screen_failed: int
    withdrawn: int


class EnrollmentRow(BaseModel):
    """One imported or generated record, naming its site by code."""

    site_code: str
    on_date: date
    screened: int = 0
    enrolled: int = 0
    screen_failed: int = 0
    withdrawn: int = 0


class CumulativePoint(BaseModel):
    on_date: date
    enrolled: int = Field(description="patients enrolled on this date, all sites")
    cumulative: int = Field(description="patients enrolled up to and including this date")


class StudyEnrollment(BaseModel):
    study_id: uuid.UUID
    records: list[EnrollmentRow]
    cumulative: list[CumulativePoint]


# --- imports ------------------------------------------------------------------------------------


class RowError(BaseModel):
    row: int = Field(description="the row number in the file (the header is row 1)")
    column: str | None = None
    message: str


class ImportResult(BaseModel):
    kind: str = Field(description="sites, enrollment (per date counts) or subjects (per subject)")
    rows: int
    sites_created: int = 0
    sites_updated: int = 0
    records_created: int = 0


# --- enrollment forecast ------------------------------------------------------------------------

MAX_FORECAST_PATHS = 100_000


class ForecastBandPoint(BaseModel):
    """Cumulative enrollment (all sites, patients) forecast for one date."""

    on_date: date
    day: float = Field(description="days after the as-of date")
    mean: float
    p10: float
    p50: float
    p90: float


class ForecastDisruption(BaseModel):
    """A disruption as the forecast applied it (days relative to the as-of date)."""

    id: uuid.UUID
    title: str
    cause: str
    place: str = Field(description="the country code or region it applies to")
    starts_on: date
    ends_on: date | None = Field(description="last day (inclusive); None: still open")
    enrollment_multiplier: float
    freeze_activations: bool


class ForecastScenario(BaseModel):
    """One forecast run: with the disruptions applied, or without them."""

    disruptions_applied: bool
    completion_date_p10: date | None = Field(description="None: beyond the 5-year horizon")
    completion_date_p50: date | None
    completion_date_p90: date | None
    completion_date_mean: date | None
    fraction_not_reached: float = Field(description="share of paths not done within the horizon")
    probability_by_deadline: float | None
    cumulative: list[ForecastBandPoint]


class StudyForecastRead(BaseModel):
    """The Poisson–gamma enrollment forecast of a study, with and without its disruptions.

    α, β are fitted on the open sites (``basis`` ``fitted``; ``fitted_alpha_fixed`` when only α
    could not be estimated, e.g. one site, and is fixed at 2), or come from the design-stage
    prior of 0.5 patients per site per month with α = 2 when nobody has enrolled yet
    (``design_stage``). β is a rate in days: the mean rate is α/β patients per site per day.
    """

    study_id: uuid.UUID
    study_code: str
    as_of: date
    deadline: date | None
    target: int
    enrolled_to_date: int
    sites_open: int
    sites_planned: int
    sites_closed: int
    sites_without_plan: int = Field(description="not open and no planned activation date: ignored")
    basis: str
    alpha: float
    beta_days: float
    mean_rate_per_site_per_month: float
    alpha_standard_error: float | None
    beta_standard_error_days: float | None
    parameter_uncertainty: bool
    paths: int
    seed: int
    disruptions: list[ForecastDisruption]
    with_disruptions: ForecastScenario | None = Field(
        description="None when not asked for (with_disruptions=false)"
    )
    without_disruptions: ForecastScenario
