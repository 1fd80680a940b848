"""Bodies and answers of the stored scenarios, valuations and portfolios (API, web).

The scenario and portfolio files themselves are :class:`ScenarioInput` and :class:`PortfolioInput`
(``schemas.py``); this module wraps them with what storing adds: the owning sponsor, a version for
optimistic locking, timestamps — and the per-request limits of the API and the web UI.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from opencxo.economics.schemas import (
    OutsourcingInput,
    PhaseName,
    PortfolioInput,
    PortfolioReport,
    ScenarioInput,
    SeveralVendorsInput,
    ValuationReport,
    ValuationRequest,
)

# A request of the API or the web UI simulates at most this many trials (the CLI has no limit).
MAX_TRIALS = 200_000
MAX_SEED = 2**63 - 1  # a BIGINT column


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(ValuationRequest):
    """A valuation asked over the API or the web: at most 200,000 trials, to stay fast."""

    trials: int = Field(
        20_000, ge=1_000, le=MAX_TRIALS, description="Monte Carlo trials (at most 200,000)"
    )
    seed: int = Field(2026, ge=0, le=MAX_SEED)


class TornadoRequest(RunRequest):
    swing: float = Field(0.2, gt=0, lt=1, description="each input ± this share of its value")


class CompareRequest(RunRequest):
    base_id: uuid.UUID
    alternative_id: uuid.UUID


class ScenarioCreate(_Strict):
    sponsor_id: uuid.UUID | None = Field(
        None, description="the sponsor it belongs to; needed only if you belong to several"
    )
    spec: ScenarioInput


class VariantCreate(_Strict):
    """A copy of a stored scenario with some phases run by a CRO/CDMO (or several vendors)."""

    name: str = Field(min_length=1, max_length=200)
    outsourcing: dict[PhaseName, OutsourcingInput] = Field(default_factory=dict)
    several_vendors: SeveralVendorsInput | None = None


class ScenarioUpdate(_Strict):
    version: int = Field(ge=1)
    spec: ScenarioInput


class ValuationSummary(BaseModel):
    id: uuid.UUID
    scenario_version: int
    trials: int
    seed: int
    rnpv_mean_musd: float
    probability_of_approval: float
    created_at: datetime


class ValuationRead(ValuationSummary):
    scenario_id: uuid.UUID
    created_by_id: uuid.UUID | None
    report: ValuationReport


class ScenarioSummary(BaseModel):
    id: uuid.UUID
    sponsor_id: uuid.UUID
    program_id: uuid.UUID | None
    program_name: str | None
    name: str
    current_phase: str
    therapeutic_area: str
    version: int
    updated_at: datetime
    latest: ValuationSummary | None


class ScenarioRead(ScenarioSummary):
    spec: ScenarioInput
    created_at: datetime
    created_by_id: uuid.UUID | None


class PortfolioCreate(_Strict):
    sponsor_id: uuid.UUID | None = None
    spec: PortfolioInput


class PortfolioUpdate(_Strict):
    version: int = Field(ge=1)
    spec: PortfolioInput


class PortfolioSummary(BaseModel):
    id: uuid.UUID
    sponsor_id: uuid.UUID
    name: str
    programs: int
    options: int
    version: int
    updated_at: datetime
    run_at: datetime | None
    objective_musd: float | None


class PortfolioRead(PortfolioSummary):
    spec: PortfolioInput
    report: PortfolioReport | None
    created_at: datetime
