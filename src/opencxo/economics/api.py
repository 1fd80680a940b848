"""JSON API of economics — thin: parse, call ``opencxo.economics.stored``, return.

Stored scenarios and portfolios are the sponsor's (another organisation gets 404); a valuation is
kept with its report; comparisons and tornados are computed on demand and not stored. Requests
simulate at most 200,000 trials (the CLI has no limit).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from opencxo.core.errors import NotFound
from opencxo.core.http import ApiPrincipal, DbSession
from opencxo.core.pagination import Page, PageParams
from opencxo.economics import stored
from opencxo.economics.records import (
    MAX_SEED,
    MAX_TRIALS,
    CompareRequest,
    PortfolioCreate,
    PortfolioRead,
    PortfolioSummary,
    PortfolioUpdate,
    RunRequest,
    ScenarioCreate,
    ScenarioRead,
    ScenarioSummary,
    ScenarioUpdate,
    TornadoRequest,
    ValuationRead,
    VariantCreate,
)
from opencxo.economics.schemas import (
    ComparisonReport,
    ScenarioInput,
    TornadoReport,
    ValuationReport,
)

router = APIRouter(tags=["economics"])


@router.post("/economics/rnpv", response_model=ValuationReport)
def rnpv(
    body: ScenarioInput,
    principal: ApiPrincipal,
    trials: Annotated[int, Query(ge=1_000, le=MAX_TRIALS)] = 20_000,
    seed: Annotated[int, Query(ge=0, le=MAX_SEED)] = 2026,
) -> ValuationReport:
    """Value a scenario file you keep yourself; nothing is stored."""
    return stored.value_spec(principal, body, RunRequest(trials=trials, seed=seed))


@router.get("/scenarios", response_model=Page[ScenarioSummary])
def list_scenarios(
    session: DbSession,
    principal: ApiPrincipal,
    params: Annotated[PageParams, Query()],
    program_id: uuid.UUID | None = None,
) -> Page[ScenarioSummary]:
    """Sort by name, program, phase, updated_at, rnpv or poa (prefix '-' for descending)."""
    return stored.list_scenarios(session, principal, params=params, program_id=program_id)


@router.post("/scenarios", response_model=ScenarioRead, status_code=status.HTTP_201_CREATED)
def create_scenario(
    body: ScenarioCreate, session: DbSession, principal: ApiPrincipal
) -> ScenarioRead:
    return stored.create_scenario(session, principal, body)


@router.post(
    "/scenarios/{scenario_id}/variants",
    response_model=ScenarioRead,
    status_code=status.HTTP_201_CREATED,
)
def create_variant(
    scenario_id: uuid.UUID, body: VariantCreate, session: DbSession, principal: ApiPrincipal
) -> ScenarioRead:
    """A copy of the scenario with phases run by a CRO/CDMO: compare the two afterwards."""
    return stored.create_variant(session, principal, scenario_id, body)


@router.post("/scenarios/compare", response_model=ComparisonReport)
def compare(body: CompareRequest, session: DbSession, principal: ApiPrincipal) -> ComparisonReport:
    """Two stored scenarios on the same random draws: deltas with 95 % confidence intervals."""
    return stored.compare(session, principal, body)


@router.get("/scenarios/{scenario_id}", response_model=ScenarioRead)
def get_scenario(
    scenario_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> ScenarioRead:
    return stored.get_scenario(session, principal, scenario_id)


@router.put("/scenarios/{scenario_id}", response_model=ScenarioRead)
def update_scenario(
    scenario_id: uuid.UUID, body: ScenarioUpdate, session: DbSession, principal: ApiPrincipal
) -> ScenarioRead:
    return stored.update_scenario(session, principal, scenario_id, body)


@router.delete("/scenarios/{scenario_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_scenario(
    scenario_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    stored.delete_scenario(session, principal, scenario_id, version=version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/scenarios/{scenario_id}/valuations",
    response_model=ValuationRead,
    status_code=status.HTTP_201_CREATED,
)
def run_valuation(
    scenario_id: uuid.UUID, body: RunRequest, session: DbSession, principal: ApiPrincipal
) -> ValuationRead:
    """Value the scenario (Monte Carlo) and keep the report; the same seed gives the same answer."""
    return stored.run_valuation(session, principal, scenario_id, body)


@router.get("/scenarios/{scenario_id}/valuations/latest", response_model=ValuationRead)
def latest_valuation(
    scenario_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> ValuationRead:
    found = stored.latest_valuation(session, principal, scenario_id)
    if found is None:
        raise NotFound("this scenario has not been valued yet")
    return found


@router.post("/scenarios/{scenario_id}/tornado", response_model=TornadoReport)
def tornado(
    scenario_id: uuid.UUID, body: TornadoRequest, session: DbSession, principal: ApiPrincipal
) -> TornadoReport:
    """One input at a time between its low and high value; computed, not stored."""
    return stored.tornado(session, principal, scenario_id, body)


@router.get("/portfolios", response_model=list[PortfolioSummary])
def list_portfolios(session: DbSession, principal: ApiPrincipal) -> list[PortfolioSummary]:
    return stored.list_portfolios(session, principal)


@router.post("/portfolios", response_model=PortfolioRead, status_code=status.HTTP_201_CREATED)
def create_portfolio(
    body: PortfolioCreate, session: DbSession, principal: ApiPrincipal
) -> PortfolioRead:
    return stored.create_portfolio(session, principal, body)


@router.get("/portfolios/{portfolio_id}", response_model=PortfolioRead)
def get_portfolio(
    portfolio_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> PortfolioRead:
    return stored.get_portfolio(session, principal, portfolio_id)


@router.put("/portfolios/{portfolio_id}", response_model=PortfolioRead)
def update_portfolio(
    portfolio_id: uuid.UUID, body: PortfolioUpdate, session: DbSession, principal: ApiPrincipal
) -> PortfolioRead:
    return stored.update_portfolio(session, principal, portfolio_id, body)


@router.delete("/portfolios/{portfolio_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_portfolio(
    portfolio_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    stored.delete_portfolio(session, principal, portfolio_id, version=version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/portfolios/{portfolio_id}/run", response_model=PortfolioRead)
def run_portfolio(
    portfolio_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> PortfolioRead:
    """Value every option and choose what to fund within the yearly budgets; keeps the report."""
    return stored.run_portfolio(session, principal, portfolio_id)
