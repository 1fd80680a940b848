"""The scenario and portfolio files (YAML or JSON) and what the valuations answer.

A scenario names only what differs from the published defaults: phase probabilities and
durations come from BIO/Informa/QLS 2011–2020 for the therapeutic area, phase costs from DiMasi
et al. 2016, the erosion after loss of exclusivity from the molecule type's curve. See
``docs/economics-scenarios.md`` for a commented example.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PhaseName = Literal["phase_1", "phase_2", "phase_3", "regulatory"]
PHASE_ORDER: tuple[PhaseName, ...] = ("phase_1", "phase_2", "phase_3", "regulatory")
MoleculeType = Literal["small_molecule", "biologic"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Magnitudes are bounded so that nothing a form or a file can hold overflows the engine's
#: arithmetic (a million $M is a trillion dollars; a century is past every horizon).
MAX_MUSD = 1_000_000.0
MAX_YEARS = 100.0
#: The longest a development phase may last (BIO 2011–2020 phase means are 1.3–3.6 years): more
#: is a typo, and it carries the launch date past the calendar. Checked by the service when it
#: builds the scenario, so a scenario stored before this bound still loads and gets a 422.
MAX_PHASE_YEARS = 50.0
Finite = Annotated[float, Field(ge=-MAX_MUSD, le=MAX_MUSD, allow_inf_nan=False)]


class Spread(_Strict):
    """A triangular distribution: lowest, most likely and highest value."""

    low: Finite
    mode: Finite
    high: Finite

    @model_validator(mode="after")
    def _ordered(self) -> Spread:
        if not self.low <= self.mode <= self.high:
            raise ValueError(f"needs low ≤ mode ≤ high, got {self.low}, {self.mode}, {self.high}")
        return self


# A number means a fixed value; {low, mode, high} a triangular spread.
Uncertain = Finite | Spread


class PhaseInput(_Strict):
    """Overrides for one phase; anything left out takes the published default."""

    success_probability: float | None = Field(None, gt=0, le=1)
    success_concentration: float | None = Field(
        None,
        gt=0,
        le=1e6,
        description="Beta α+β around the success probability; omit for a fixed one",
    )
    duration_years: Uncertain | None = None
    cost_musd: Uncertain | None = None
    start_delay_years: float = Field(0.0, ge=0, le=MAX_YEARS)


class OutsourcingInput(_Strict):
    """How a CRO/CDMO changes a phase relative to running it in-house."""

    cost_multiplier: float = Field(1.0, gt=0, le=100)
    fixed_cost_avoided_musd: float = Field(0.0, ge=0, le=MAX_MUSD)
    months_saved: float = Field(0.0, ge=-12 * MAX_YEARS, le=12 * MAX_YEARS)


class SeveralVendorsInput(_Strict):
    """Several vendors instead of one integrated provider."""

    coordination_overhead_share: float = Field(ge=0, le=1)
    handoff_delay_months: float = Field(ge=0, le=12 * MAX_YEARS)


class RevenueInput(_Strict):
    peak_sales_musd: Uncertain
    years_to_peak: float = Field(gt=0, le=MAX_YEARS)
    shape: float = Field(
        6.0, ge=0, le=100, description="steepness of the S-shaped uptake; 0 = linear"
    )


class ExclusivityInput(_Strict):
    """When exclusivity ends: years from the valuation date, or the patent expiry date."""

    loss_years_from_now: float | None = Field(None, ge=0, le=MAX_YEARS)
    patent_expiry: date | None = None
    extension_years: float = Field(
        0.0, ge=0, le=MAX_YEARS, description="e.g. patent term extension, SPC"
    )
    erosion: list[Annotated[float, Field(ge=0, le=1)]] | None = Field(
        None, max_length=100, description="brand share of pre-LoE sales in year 1, 2, … after entry"
    )

    @model_validator(mode="after")
    def _one_date(self) -> ExclusivityInput:
        if (self.loss_years_from_now is None) == (self.patent_expiry is None):
            raise ValueError("give loss_years_from_now or patent_expiry (one of them)")
        return self


class ScenarioInput(_Strict):
    """One way to develop and sell one program."""

    name: str = Field(min_length=1, max_length=200)
    program_id: uuid.UUID | None = Field(None, description="the program it values, if any")
    therapeutic_area: str = Field("all_indications", description="BIO area for the defaults")
    molecule_type: MoleculeType = "small_molecule"
    current_phase: PhaseName
    valuation_date: date | None = Field(None, description="defaults to today")
    phases: dict[PhaseName, PhaseInput] = Field(default_factory=dict)
    revenue: RevenueInput
    exclusivity: ExclusivityInput
    cogs_share: float = Field(0.15, ge=0, lt=1)
    tax_rate: float = Field(0.21, ge=0, lt=1)
    discount_rate: float | None = Field(
        None, ge=0, le=1, description="real annual rate; defaults to DiMasi 2016's 10.5 %"
    )
    horizon_years: int = Field(30, ge=1, le=100)
    launch_cost_musd: float = Field(0.0, ge=0, le=MAX_MUSD)
    outsourcing: dict[PhaseName, OutsourcingInput] = Field(default_factory=dict)
    several_vendors: SeveralVendorsInput | None = None


class ValuationRequest(_Strict):
    trials: int = Field(100_000, ge=1_000, le=10_000_000)
    seed: int = Field(2026, ge=0)


# --- answers ------------------------------------------------------------------------------------


class PhaseUsed(BaseModel):
    """A phase as valued, defaults filled in, with where each figure came from."""

    name: str
    success_probability: float
    success_concentration: float | None
    duration_years: Spread
    cost_musd: Spread
    sources: list[str]


class YearBandRead(BaseModel):
    year: int
    mean_musd: float
    p10_musd: float
    p50_musd: float
    p90_musd: float


class ValuationReport(BaseModel):
    scenario: str
    trials: int
    seed: int
    valuation_date: date
    phases: list[PhaseUsed]
    rnpv_mean_musd: float
    rnpv_standard_error_musd: float
    rnpv_p05_musd: float
    rnpv_p50_musd: float
    rnpv_p95_musd: float
    probability_of_approval: float
    analytic_probability_of_approval: float
    expected_cost_musd: float
    expected_cost_pv_musd: float
    expected_cost_by_year_musd: list[float]
    launch_years_mean: float | None
    launch_years_p05: float | None
    launch_years_p50: float | None
    launch_years_p95: float | None
    launch_year_histogram: list[int]
    launch_date_p50: date | None
    exclusivity_ends_years: float
    expected_protected_years: float
    expected_protected_sales_musd: float
    cash_flow_fan: list[YearBandRead]
    npv_sample_musd: list[float] = Field(description="up to 10,000 trial NPVs, for a histogram")
    citations: list[str]


class DeltaRead(BaseModel):
    name: str
    unit: str
    base: float
    alternative: float
    difference: float
    standard_error: float
    ci_low: float
    ci_high: float


class ComparisonReport(BaseModel):
    base: str
    alternative: str
    trials: int
    seed: int
    confidence: float
    deltas: list[DeltaRead]


class TornadoBarRead(BaseModel):
    parameter: str
    label: str
    base_value: float
    low_value: float
    high_value: float
    rnpv_low_musd: float
    rnpv_high_musd: float
    range_musd: float


class TornadoReport(BaseModel):
    scenario: str
    trials: int
    seed: int
    swing: float
    base_rnpv_musd: float
    bars: list[TornadoBarRead]


# --- portfolio ----------------------------------------------------------------------------------


class PortfolioProgramInput(_Strict):
    """One program and the ways it could be run (funding none of them is always possible)."""

    program: str = Field(min_length=1, max_length=200)
    options: list[ScenarioInput] = Field(min_length=1)


class PortfolioInput(_Strict):
    name: str = Field("Portfolio", min_length=1, max_length=200)
    budget_by_year_musd: list[Annotated[float, Field(le=MAX_MUSD, allow_inf_nan=False)]] = Field(
        min_length=1, max_length=50
    )
    programs: list[PortfolioProgramInput] = Field(min_length=1, max_length=200)
    trials: int = Field(20_000, ge=1_000, le=1_000_000)
    seed: int = Field(2026, ge=0)

    @field_validator("budget_by_year_musd")
    @classmethod
    def _budgets(cls, value: list[float]) -> list[float]:
        if any(v < 0 for v in value):
            raise ValueError("every year's budget must be ≥ 0")
        return value


class OptionRead(BaseModel):
    program: str
    option: str
    rnpv_mean_musd: float
    probability_of_approval: float
    expected_cost_musd: float
    spend_by_year_musd: list[float]
    chosen: bool


class PortfolioReport(BaseModel):
    name: str
    status: str
    objective_musd: float
    bound_musd: float
    wall_time_s: float
    budget_by_year_musd: list[float]
    spend_by_year_musd: list[float]
    funded: dict[str, str | None]
    expected_approvals: float
    approvals_pmf: list[float]
    options: list[OptionRead]
    computed_at: datetime
