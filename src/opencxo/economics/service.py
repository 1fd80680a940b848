"""Use cases of economics: value a scenario, compare two, rank the inputs, choose a portfolio.

The service fills every figure a scenario leaves out from the published reference data, turns it
into the engine's inputs and the engine's results into reports; it names the field behind any
error so that a file, a form and an API body get the same message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel

# Re-exported: the web pages, the CLI and the demo parse scenario files through this service.
from opencxo.core.documents import parse as parse
from opencxo.core.documents import read_file as read_file
from opencxo.core.errors import Invalid, NotFound
from opencxo.core.types import utcnow
from opencxo.economics import reference
from opencxo.economics.engine.compare import (
    OutsourcingTerms,
    compare,
    outsource,
    several_vendors,
)
from opencxo.economics.engine.cost import CostPerApproval, cost_per_approval
from opencxo.economics.engine.model import (
    Exclusivity,
    InputError,
    Phase,
    ProgramScenario,
    Revenue,
    Triangular,
)
from opencxo.economics.engine.portfolio import PortfolioOption, choose_portfolio
from opencxo.economics.engine.rnpv import RnpvResult, simulate
from opencxo.economics.engine.sensitivity import tornado
from opencxo.economics.schemas import (
    MAX_PHASE_YEARS,
    PHASE_ORDER,
    ComparisonReport,
    DeltaRead,
    OptionRead,
    PhaseUsed,
    PortfolioInput,
    PortfolioReport,
    ScenarioInput,
    Spread,
    TornadoBarRead,
    TornadoReport,
    Uncertain,
    ValuationReport,
    ValuationRequest,
    YearBandRead,
)

Progress = Callable[[int, int], None]

COST_PRESET = "dimasi2016"
# The preset's clinical phases in order, then the regulatory review (no published cost: 0).
_PRESET_PHASES = {"phase_1": 0, "phase_2": 1, "phase_3": 2}
DURATION_SPREAD = 0.25  # default duration: triangular ±25 % around the published mean
COST_SPREAD = 0.30  # default cost: triangular ±30 % around the published mean
DAYS_PER_YEAR = 365.25
PHASE_LABELS = {
    "phase_1": "Phase I",
    "phase_2": "Phase II",
    "phase_3": "Phase III",
    "regulatory": "Regulatory review",
}


# --- reading files ------------------------------------------------------------------------------


def load_scenario(path: Path) -> ScenarioInput:
    return parse(ScenarioInput, read_file(path), what=path.name)


def load_portfolio(path: Path) -> PortfolioInput:
    return parse(PortfolioInput, read_file(path), what=path.name)


# --- building the engine's inputs ---------------------------------------------------------------


class ValuationContext(BaseModel):
    """What a built scenario carries besides the engine's inputs: for the report."""

    valuation_date: date
    phases: list[PhaseUsed]
    citations: list[str]
    loss_years: float


def _spread(value: Uncertain) -> Triangular:
    if isinstance(value, Spread):
        return Triangular(value.low, value.mode, value.high)
    return Triangular.fixed(float(value))


def _around(mean: float, share: float) -> Spread:
    return Spread(low=mean * (1 - share), mode=mean, high=mean * (1 + share))


def _as_spread(value: Uncertain) -> Spread:
    if isinstance(value, Spread):
        return value
    return Spread(low=float(value), mode=float(value), high=float(value))


def _field_of(error: InputError, phase: str | None = None) -> str:
    names = {
        "peak_sales_musd": "revenue.peak_sales_musd",
        "years_to_peak": "revenue.years_to_peak",
        "shape": "revenue.shape",
        "loss_years_from_now": "exclusivity",
        "erosion": "exclusivity.erosion",
        "extension_years": "exclusivity.extension_years",
    }
    if phase is not None:
        return f"phases.{phase}.{error.argument}"
    return names.get(error.argument, error.argument)


def _phase_defaults(
    spec: ScenarioInput,
) -> tuple[dict[str, float], dict[str, float], dict[str, float], list[str], str]:
    """Probabilities, durations [years] and costs [$M] by phase, with the citations used."""
    try:
        success = reference.phase_success(spec.therapeutic_area)
    except NotFound as error:
        raise Invalid(error.message, field_errors={"therapeutic_area": error.message}) from None
    durations_area = spec.therapeutic_area
    if durations_area not in reference.phase_duration_areas():
        durations_area = reference.ALL_INDICATIONS
    durations = reference.phase_durations(durations_area)
    preset = reference.cost_preset(COST_PRESET)
    probabilities: dict[str, float] = dict(zip(PHASE_ORDER, success.probabilities, strict=True))
    years = {
        "phase_1": durations.phase1_years,
        "phase_2": durations.phase2_years,
        "phase_3": durations.phase3_years,
        "regulatory": durations.regulatory_years,
    }
    costs = {
        name: preset.inputs.phases[i].cost_per_entrant_musd for name, i in _PRESET_PHASES.items()
    }
    costs["regulatory"] = 0.0
    citations = [success.citation, durations.citation, preset.citation]
    return probabilities, years, costs, citations, durations_area


def build(
    spec: ScenarioInput, *, today: date | None = None
) -> tuple[ProgramScenario, ValuationContext]:
    """The engine's scenario for ``spec``, defaults filled in, transforms applied."""
    valuation_date = spec.valuation_date or today or utcnow().date()
    remaining = PHASE_ORDER[PHASE_ORDER.index(spec.current_phase) :]
    for section in ("phases", "outsourcing"):
        for name in getattr(spec, section):
            if name not in remaining:
                message = (
                    f"the program is in {PHASE_LABELS[spec.current_phase]}; "
                    f"{PHASE_LABELS[name]} is behind it"
                )
                raise Invalid(message, field_errors={f"{section}.{name}": message})
    probabilities, years, costs, citations, durations_area = _phase_defaults(spec)
    phases: list[Phase] = []
    used: list[PhaseUsed] = []
    for name in remaining:
        given = spec.phases.get(name)
        sources = []
        probability = probabilities[name]
        if given and given.success_probability is not None:
            probability = given.success_probability
            sources.append("success probability: scenario")
        else:
            sources.append(f"success probability: BIO 2011–2020, {spec.therapeutic_area}")
        if given and given.duration_years is not None:
            duration = _as_spread(given.duration_years)
            sources.append("duration: scenario")
            _check_duration(name, duration)
        else:
            duration = _around(years[name], DURATION_SPREAD)
            sources.append(f"duration: BIO 2011–2020 mean, {durations_area}, ±25 %")
        if given and given.cost_musd is not None:
            cost = _as_spread(given.cost_musd)
            sources.append("cost: scenario")
        elif name == "regulatory":
            cost = _as_spread(0.0)
            sources.append("cost: none published (0)")
        else:
            cost = _around(costs[name], COST_SPREAD)
            sources.append("cost: DiMasi 2016 mean per entrant (2013 $), ±30 %")
        concentration = given.success_concentration if given else None
        try:
            phases.append(
                Phase(
                    name=name,
                    success_probability=probability,
                    success_concentration=concentration,
                    duration_years=_spread(duration),
                    cost_musd=_spread(cost),
                    start_delay_years=given.start_delay_years if given else 0.0,
                )
            )
        except InputError as error:
            raise Invalid(str(error), field_errors={_field_of(error, name): str(error)}) from None
        used.append(
            PhaseUsed(
                name=name,
                success_probability=probability,
                success_concentration=concentration,
                duration_years=duration,
                cost_musd=cost,
                sources=sources,
            )
        )
    exclusivity_spec = spec.exclusivity
    if exclusivity_spec.patent_expiry is not None:
        loss_years = (exclusivity_spec.patent_expiry - valuation_date).days / DAYS_PER_YEAR
        if loss_years < 0:
            message = (
                f"the patent expired on {exclusivity_spec.patent_expiry.isoformat()}, before the "
                f"valuation date {valuation_date.isoformat()}"
            )
            raise Invalid(message, field_errors={"exclusivity.patent_expiry": message})
    else:
        assert exclusivity_spec.loss_years_from_now is not None  # one of the two, by the schema
        loss_years = exclusivity_spec.loss_years_from_now
    if exclusivity_spec.erosion is not None:
        erosion = tuple(exclusivity_spec.erosion)
    else:
        curve = reference.erosion_curve(spec.molecule_type)
        erosion = curve.brand_share_by_year
        citations.append(curve.citation)
    preset = reference.cost_preset(COST_PRESET)
    discount_rate = (
        spec.discount_rate if spec.discount_rate is not None else preset.inputs.discount_rate
    )
    try:
        scenario = ProgramScenario(
            name=spec.name,
            phases=tuple(phases),
            revenue=Revenue(
                peak_sales_musd=_spread(spec.revenue.peak_sales_musd),
                years_to_peak=spec.revenue.years_to_peak,
                shape=spec.revenue.shape,
            ),
            exclusivity=Exclusivity(
                loss_years_from_now=loss_years,
                erosion=erosion,
                extension_years=exclusivity_spec.extension_years,
            ),
            cogs_share=spec.cogs_share,
            tax_rate=spec.tax_rate,
            discount_rate=discount_rate,
            horizon_years=spec.horizon_years,
            launch_cost_musd=spec.launch_cost_musd,
        )
        if spec.outsourcing:
            scenario = outsource(
                scenario,
                {
                    name: OutsourcingTerms(
                        cost_multiplier=terms.cost_multiplier,
                        fixed_cost_avoided_musd=terms.fixed_cost_avoided_musd,
                        months_saved=terms.months_saved,
                    )
                    for name, terms in spec.outsourcing.items()
                },
            )
        if spec.several_vendors is not None:
            scenario = several_vendors(
                scenario,
                coordination_overhead_share=spec.several_vendors.coordination_overhead_share,
                handoff_delay_months=spec.several_vendors.handoff_delay_months,
            )
    except InputError as error:
        field = _field_of(error)
        if error.context.startswith("OutsourcingTerms"):
            field = "outsourcing"
        raise Invalid(str(error), field_errors={field: str(error)}) from None
    context = ValuationContext(
        valuation_date=valuation_date,
        phases=used,
        citations=list(dict.fromkeys(citations)),
        loss_years=loss_years + exclusivity_spec.extension_years,
    )
    return scenario, context


# --- use cases ----------------------------------------------------------------------------------


def cost_per_approval_of(
    preset: str, discount_rate: float | None = None
) -> tuple[reference.CostPreset, CostPerApproval]:
    """DiMasi's cost per approved drug for a published preset, optionally at another rate."""
    chosen = reference.cost_preset(preset)
    inputs = chosen.inputs
    if discount_rate is not None:
        try:
            inputs = dataclasses.replace(inputs, discount_rate=discount_rate)
        except ValueError as error:
            raise Invalid(str(error), field_errors={"discount_rate": str(error)}) from None
    return chosen, cost_per_approval(inputs)


def _check_duration(phase: str, duration: Spread) -> None:
    """A phase's duration at most MAX_PHASE_YEARS years: more is a typo (the longest published
    phase means are a few years), and it would carry the launch date past the calendar."""
    if duration.high > MAX_PHASE_YEARS:
        field = f"phases.{phase}.duration_years"
        message = f"{field} = {duration.high:g} must be <= {MAX_PHASE_YEARS:g} years"
        raise Invalid(message, field_errors={field: message})


def _launch_date(valuation_date: date, years: float | None) -> date | None:
    if years is None:
        return None
    try:
        return valuation_date + timedelta(days=round(years * DAYS_PER_YEAR))
    except (OverflowError, ValueError):
        message = (
            f"the launch, {years:g} years after the valuation date {valuation_date.isoformat()}, "
            f"falls past {date.max.isoformat()}: shorten phases.*.duration_years (at most "
            f"{MAX_PHASE_YEARS:g} years each) or start_delay_years"
        )
        raise Invalid(message, field_errors={"phases": message}) from None


def _report(
    spec: ScenarioInput, context: ValuationContext, result: RnpvResult, seed: int
) -> ValuationReport:
    return ValuationReport(
        scenario=spec.name,
        trials=result.trials,
        seed=seed,
        valuation_date=context.valuation_date,
        phases=context.phases,
        rnpv_mean_musd=result.rnpv_mean_musd,
        rnpv_standard_error_musd=result.rnpv_standard_error_musd,
        rnpv_p05_musd=result.rnpv_p05_musd,
        rnpv_p50_musd=result.rnpv_p50_musd,
        rnpv_p95_musd=result.rnpv_p95_musd,
        probability_of_approval=result.probability_of_approval,
        analytic_probability_of_approval=result.analytic_probability_of_approval,
        expected_cost_musd=result.expected_cost_musd,
        expected_cost_pv_musd=result.expected_cost_pv_musd,
        expected_cost_by_year_musd=list(result.expected_cost_by_year_musd),
        launch_years_mean=result.launch_years_mean,
        launch_years_p05=result.launch_years_p05,
        launch_years_p50=result.launch_years_p50,
        launch_years_p95=result.launch_years_p95,
        launch_year_histogram=list(result.launch_year_histogram),
        launch_date_p50=_launch_date(context.valuation_date, result.launch_years_p50),
        exclusivity_ends_years=context.loss_years,
        expected_protected_years=result.expected_protected_years,
        expected_protected_sales_musd=result.expected_protected_sales_musd,
        cash_flow_fan=[
            YearBandRead(
                year=b.year,
                mean_musd=b.mean_musd,
                p10_musd=b.p10_musd,
                p50_musd=b.p50_musd,
                p90_musd=b.p90_musd,
            )
            for b in result.cash_flow_fan
        ],
        npv_sample_musd=list(result.npv_sample_musd),
        citations=context.citations,
    )


def value_scenario(
    spec: ScenarioInput,
    request: ValuationRequest,
    *,
    progress: Progress | None = None,
    today: date | None = None,
) -> ValuationReport:
    """rNPV and its distribution by Monte Carlo, on ``request.seed``."""
    scenario, context = build(spec, today=today)
    result = simulate(scenario, request.trials, request.seed, progress=progress)
    return _report(spec, context, result, request.seed)


def compare_scenarios(
    base: ScenarioInput,
    alternative: ScenarioInput,
    request: ValuationRequest,
    *,
    progress: Progress | None = None,
    today: date | None = None,
) -> ComparisonReport:
    """Two ways to run the same program on the same random draws: deltas with 95 % CIs."""
    if base.current_phase != alternative.current_phase:
        message = (
            f"both scenarios must start in the same phase ({base.current_phase} vs "
            f"{alternative.current_phase}) to share their random draws"
        )
        raise Invalid(message, field_errors={"current_phase": message})
    first, _ = build(base, today=today)
    second, _ = build(alternative, today=today)
    result = compare(first, second, request.trials, request.seed, progress=progress)
    return ComparisonReport(
        base=base.name,
        alternative=alternative.name,
        trials=result.trials,
        seed=request.seed,
        confidence=result.confidence,
        deltas=[
            DeltaRead(
                name=d.name,
                unit=d.unit,
                base=d.base,
                alternative=d.alternative,
                difference=d.difference,
                standard_error=d.standard_error,
                ci_low=d.ci_low,
                ci_high=d.ci_high,
            )
            for d in result.deltas
        ],
    )


def sensitivity(
    spec: ScenarioInput,
    request: ValuationRequest,
    *,
    swing: float = 0.2,
    progress: Progress | None = None,
    today: date | None = None,
) -> TornadoReport:
    """One input at a time between its low and high value, on common random numbers."""
    scenario, _ = build(spec, today=today)
    result = tornado(scenario, request.trials, request.seed, swing=swing, progress=progress)
    return TornadoReport(
        scenario=spec.name,
        trials=result.trials,
        seed=request.seed,
        swing=result.swing,
        base_rnpv_musd=result.base_rnpv_musd,
        bars=[
            TornadoBarRead(
                parameter=b.parameter,
                label=b.label,
                base_value=b.base_value,
                low_value=b.low_value,
                high_value=b.high_value,
                rnpv_low_musd=b.rnpv_low_musd,
                rnpv_high_musd=b.rnpv_high_musd,
                range_musd=b.range_musd,
            )
            for b in result.bars
        ],
    )


def portfolio(
    spec: PortfolioInput, *, progress: Progress | None = None, today: date | None = None
) -> PortfolioReport:
    """Value every option of every program, then fund the best set within the yearly budgets."""
    years = len(spec.budget_by_year_musd)
    total = sum(len(p.options) for p in spec.programs)
    options: list[PortfolioOption] = []
    results: list[tuple[str, str, RnpvResult]] = []
    names: set[tuple[str, str]] = set()
    for i, program in enumerate(spec.programs):
        for j, option in enumerate(program.options):
            if (program.program, option.name) in names:
                message = f"{program.program} has two options named {option.name!r}"
                raise Invalid(message, field_errors={f"programs.{i}.options.{j}.name": message})
            names.add((program.program, option.name))
            try:
                scenario, _ = build(option, today=today)
            except Invalid as error:
                prefix = f"programs.{i}.options.{j}"
                raise Invalid(
                    f"{program.program} / {option.name}: {error.message}",
                    field_errors={f"{prefix}.{k}": v for k, v in error.field_errors.items()},
                ) from None
            result = simulate(scenario, spec.trials, spec.seed)
            results.append((program.program, option.name, result))
            spend = tuple(result.expected_cost_by_year_musd[:years])
            options.append(
                PortfolioOption(
                    program=program.program,
                    name=option.name,
                    expected_value_musd=result.rnpv_mean_musd,
                    probability_of_approval=result.probability_of_approval,
                    spend_by_year_musd=spend,
                )
            )
            if progress is not None:
                progress(len(results), total)
    chosen = choose_portfolio(options, tuple(spec.budget_by_year_musd))
    funded: Mapping[str, str | None] = {c.program: c.option for c in chosen.choices}
    return PortfolioReport(
        name=spec.name,
        status=chosen.status,
        objective_musd=chosen.objective_musd,
        bound_musd=chosen.bound_musd,
        wall_time_s=chosen.wall_time_s,
        budget_by_year_musd=list(chosen.budget_by_year_musd),
        spend_by_year_musd=list(chosen.spend_by_year_musd),
        funded=dict(funded),
        expected_approvals=chosen.expected_approvals,
        approvals_pmf=list(chosen.approvals_pmf),
        options=[
            OptionRead(
                program=program,
                option=name,
                rnpv_mean_musd=result.rnpv_mean_musd,
                probability_of_approval=result.probability_of_approval,
                expected_cost_musd=result.expected_cost_musd,
                spend_by_year_musd=list(result.expected_cost_by_year_musd[:years]),
                chosen=funded.get(program) == name,
            )
            for program, name, result in results
        ],
        computed_at=utcnow(),
    )
