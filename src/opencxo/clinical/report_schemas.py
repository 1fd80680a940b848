"""The study status report (the CRO's deliverable to the sponsor) as data: what the HTML page,
the PDF and the JSON API all show."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from opencxo.clinical.models import (
    RecoveryOutcome,
    RecoveryPlanStatus,
    SiteStatus,
    StudyPhase,
    StudyStatus,
)
from opencxo.clinical.recovery_schemas import CompletionDates, RecoveryAddition, RecoveryClosure
from opencxo.clinical.schemas import CumulativePoint, ForecastDisruption, StudyForecastRead


class ReportFact(BaseModel):
    """One line of a list of facts, already in words: ``label``: ``value``."""

    label: str
    value: str


class ReportHeader(BaseModel):
    study_id: uuid.UUID
    code: str
    title: str
    sponsor_name: str
    provider_name: str | None = Field(description="the CRO running the study")
    program_name: str
    work_order_number: str | None
    phase: StudyPhase
    indication: str
    target_enrollment: int
    planned_first_patient_in: date | None
    planned_last_patient_in: date | None
    status: StudyStatus
    report_date: date = Field(description="the as-of date of every figure in the report")
    viewer_role: str = Field(description="sponsor or provider: the side the reader acts for")


class MonthRow(BaseModel):
    """Enrollment of one calendar month against the straight-line plan."""

    month: str = Field(description="YYYY-MM")
    period_end: date = Field(description="the month's last day, or the report date")
    enrolled: int = Field(description="patients enrolled in the month, all sites")
    cumulative: int = Field(description="patients enrolled up to the period end")
    plan: float | None = Field(description="the plan at the period end; None without FPI/LPI")
    difference: float | None = Field(description="cumulative − plan (negative: behind)")


class EnrollmentSection(BaseModel):
    """Enrollment up to the report date against the straight-line plan from the planned first
    patient in (0) to the planned last patient in (the target)."""

    as_of: date
    target: int
    screened: int
    enrolled: int
    screen_failed: int
    withdrawn: int
    percent_of_target: float
    plan: float | None = Field(description="the plan on the report date")
    difference: float | None = Field(description="enrolled − plan (negative: behind)")
    percent_of_plan: float | None
    first_patient_in: date | None = Field(description="the first date anyone was enrolled")
    last_record_on: date | None
    cumulative: list[CumulativePoint]
    by_month: list[MonthRow]


class StatusRow(BaseModel):
    status: SiteStatus
    sites: int
    screened: int
    enrolled: int


class CountryRow(BaseModel):
    country: str
    country_name: str
    planned_sites: int
    planned_patients: int
    sites: int
    planned: int
    activating: int
    active: int
    on_hold: int
    closed: int
    screened: int
    enrolled: int


class ReportSite(BaseModel):
    code: str
    name: str
    country: str
    investigator: str
    status: SiteStatus
    planned_activation_date: date | None
    actual_activation_date: date | None
    screened: int
    enrolled: int
    last_record_on: date | None


class SitesSection(BaseModel):
    """Sites as they stand now (statuses have no history); counts up to the report date."""

    total: int
    by_status: list[StatusRow]
    by_country: list[CountryRow]
    sites: list[ReportSite]


class RecoveryReport(BaseModel):
    """The study's latest recovery plan (``opencxo.clinical.recovery``: the accepted one, else the
    newest proposed) as the report shows it."""

    plan_id: uuid.UUID
    status: RecoveryPlanStatus
    outcome: RecoveryOutcome
    message: str
    proposed_by: str = Field(description="the organisation that proposed it")
    proposed_at: datetime
    as_of: date
    deadline: date
    confidence: float
    currency: str
    added: list[RecoveryAddition]
    closed: list[RecoveryClosure]
    sites_added: int
    added_cost: Decimal
    savings: Decimal
    net_cost: Decimal
    probability_before: float = Field(description="P(target by the deadline) without the plan")
    probability_after: float = Field(description="P(target by the deadline) with the plan")
    completion_before: CompletionDates
    completion_after: CompletionDates
    decided_by_name: str | None
    decided_at: datetime | None


class StudyReport(BaseModel):
    """The study status report: header, enrollment against plan, the forecast with its
    assumptions (or why there is none), sites by status and country, disruptions, and the
    recovery plan (None: none proposed)."""

    header: ReportHeader
    enrollment: EnrollmentSection
    forecast: StudyForecastRead | None
    forecast_problem: str | None = Field(description="why there is no forecast, when there is none")
    assumptions: list[ReportFact] = Field(description="the forecast's assumptions, in words")
    sites: SitesSection
    disruptions: list[ForecastDisruption] = Field(
        description="the reader's organisation's disruptions in the study's countries"
    )
    recovery: RecoveryReport | None
