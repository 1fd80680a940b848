"""Use cases of process chemistry on route files: evaluate, compare, sensitivity, atom economy.

These need no database: the CLI runs them on files, and the stored routes (``stored.py``) run them
on the route files they keep. Engine errors come back as :class:`~opencxo.core.errors.Invalid`
naming the step (``field_errors`` key ``steps.<id>``), so a file, a form and an API body read alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from opencxo.core.documents import parse, read_file
from opencxo.core.errors import Invalid
from opencxo.process_chemistry import engine
from opencxo.process_chemistry.engine import ChemistryError, RouteError
from opencxo.process_chemistry.schemas import (
    MAX_COST_PER_KG,
    AtomEconomyReport,
    ComparisonReport,
    ComparisonRow,
    EvaluationReport,
    MaterialNeedReport,
    RecipePlan,
    RecipePlanLine,
    RecipePlanStep,
    RouteFile,
    SensitivityBarReport,
    SensitivityReport,
    StepEntry,
    StepReport,
)

_CENT = Decimal("0.0001")

DEFAULT_YIELD_CHANGE = 0.05
DEFAULT_PRICE_CHANGE = 0.2


def money(value: float) -> Decimal:
    """A float amount from the engine as Decimal to 1/100 of a cent (money stays Decimal here on)."""
    return Decimal(repr(value)).quantize(_CENT, rounding=ROUND_HALF_UP)


# --- files ----------------------------------------------------------------------------------------


def parse_route(data: Any, *, what: str = "the route") -> RouteFile:
    """Validate plain data as a route file (every bad field named)."""
    return parse(RouteFile, data, what=what)


def load_route(path: Path) -> RouteFile:
    """Read and validate a route file (``.yaml``, ``.yml`` or ``.json``)."""
    return parse_route(read_file(path), what=path.name)


def route_data(route: RouteFile) -> dict[str, Any]:
    """The route file as plain data (decimals as numbers), to store or write out."""
    data: dict[str, Any] = _plain(route.model_dump(mode="python", exclude_none=True))
    return data


def _plain(value: Any) -> Any:
    """Decimals as numbers and enums as their text: a route file reads better that way."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


def to_yaml(route: RouteFile) -> str:
    return yaml.safe_dump(route_data(route), sort_keys=False, allow_unicode=True)


def route_schema() -> dict[str, Any]:
    """The JSON Schema of a route file."""
    return RouteFile.model_json_schema()


# --- engine ---------------------------------------------------------------------------------------


def to_engine(route: RouteFile) -> engine.Route:
    """The engine's route from a validated route file."""
    return engine.Route(
        name=route.name,
        materials=tuple(
            engine.Material(
                name=m.name,
                price_per_kg=float(m.price_per_kg),
                smiles=m.smiles,
                density_kg_per_l=float(m.density_kg_per_l) if m.density_kg_per_l else None,
            )
            for m in route.materials
        ),
        steps=tuple(
            engine.Step(
                id=s.id,
                name=s.name,
                yield_fraction=float(s.yield_fraction),
                reaction_smiles=s.reaction_smiles,
                product_smiles=s.product_smiles,
                cycle_time_h=float(s.cycle_time_h),
                batch_output_kg=float(s.batch_output_kg) if s.batch_output_kg else None,
                equipment_class=s.equipment_class,
                recovered_byproducts=tuple(s.recovered_byproducts),
                inputs=tuple(
                    engine.StepInput(
                        role=i.role,
                        material=i.material,
                        intermediate=i.intermediate,
                        kg_per_kg=_float(i.kg_per_kg),
                        litres_per_kg=_float(i.litres_per_kg),
                        equivalents=_float(i.equivalents),
                        coefficient=float(i.coefficient),
                    )
                    for i in s.inputs
                ),
            )
            for s in route.steps
        ),
        equipment_rates_per_h={k: float(v) for k, v in route.equipment_rates.items()},
    )


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def invalid(error: RouteError | ChemistryError, *, what: str) -> Invalid:
    """The engine's error as a 422 naming the step (or the route)."""
    step = getattr(error, "step", None)
    field = f"steps.{step}" if step else "route"
    return Invalid(f"{what}: {error}", field_errors={field: str(error)})


def evaluate(route: RouteFile, *, production_kg: Decimal | None = None) -> EvaluationReport:
    """Every figure of a route (see :func:`opencxo.process_chemistry.engine.evaluate`)."""
    try:
        result = engine.evaluate(to_engine(route))
        quantity = production_kg if production_kg is not None else route.production_kg
        needs = engine.requirements(result, float(quantity))
    except (RouteError, ChemistryError) as error:
        raise invalid(error, what=route.name) from None
    check_figures(route, result)
    _check_requirements(route, needs, quantity)
    return EvaluationReport(
        name=route.name,
        product=route.product,
        currency=route.currency,
        final_step=result.final_step,
        step_count=result.step_count,
        longest_linear_sequence=result.longest_linear_sequence,
        overall_yield=result.overall_yield,
        pmi=result.pmi,
        pmi_without_water=result.pmi_without_water,
        e_factor=result.e_factor,
        e_factor_without_water=result.e_factor_without_water,
        atom_economy_percent=result.atom_economy_percent,
        atom_economy_with_recovery_percent=result.atom_economy_with_recovery_percent,
        atom_economy_note=result.atom_economy_note,
        raw_material_cost_per_kg=money(result.raw_material_cost_per_kg),
        conversion_cost_per_kg=money(result.conversion_cost_per_kg),
        cogs_per_kg=money(result.cogs_per_kg),
        production_kg=quantity,
        steps=[
            StepReport(
                id=s.id,
                name=s.name,
                depth=s.depth,
                yield_fraction=s.yield_fraction,
                product_smiles=s.product_smiles,
                product_weight_g_per_mol=s.product_weight_g_per_mol,
                atom_economy_percent=s.atom_economy_percent,
                pmi_step=s.pmi_step,
                pmi_cumulative=s.pmi_cumulative,
                raw_material_cost_per_kg=money(s.raw_material_cost_per_kg),
                conversion_cost_per_kg=money(s.conversion_cost_per_kg),
            )
            for s in result.steps
        ],
        materials=[
            MaterialNeedReport(
                material=need.material,
                roles=list(need.roles),
                kg_per_kg_product=need.kg_per_kg_product,
                kg_for_production=total.kg,
                cost_per_kg_product=money(need.cost_per_kg_product),
                cost_for_production=money(total.cost),
            )
            for need, total in zip(result.materials, needs, strict=True)
        ],
    )


def sensitivity(
    route: RouteFile,
    *,
    yield_change: float = DEFAULT_YIELD_CHANGE,
    price_change: float = DEFAULT_PRICE_CHANGE,
) -> SensitivityReport:
    """Tornado of COGS and PMI: each step's yield ± ``yield_change``, each price × (1 ± change)."""
    try:
        base = engine.evaluate(to_engine(route))
        result = engine.sensitivity(
            to_engine(route), yield_change=yield_change, price_change=price_change
        )
    except (RouteError, ChemistryError) as error:
        field = "yield_change" if "yield_change" in str(error) else "price_change"
        if "_change" in str(error):
            raise Invalid(str(error), field_errors={field: str(error)}) from None
        raise invalid(error, what=route.name) from None
    # The bars move one yield (down to a tenth) or one price (by less than 100 %) from figures
    # checked here: their costs stay within what Decimal holds; only masses can still overflow.
    check_figures(route, base)
    names = {s.id: s.name or s.id for s in route.steps}
    order = {s.id: i for i, s in enumerate(route.steps)}
    broken = [
        bar
        for bar in result.bars
        if not all(
            math.isfinite(f)
            for f in (bar.cogs_at_low, bar.cogs_at_high, bar.pmi_at_low, bar.pmi_at_high)
        )
    ]
    if broken:  # a yield a tenth of a step's (masses ×10) past what a float holds
        bar = min(broken, key=lambda b: order.get(b.key, len(order)))
        what = f"step '{bar.key}' at a yield of" if bar.kind == "yield" else f"{bar.key} at"
        message = (
            f"with {what} {bar.low_value:g} the route would need more kg of raw materials per kg "
            "of product than can be computed; lower the amounts of its inputs"
        )
        raise Invalid(f"{route.name}: {message}", field_errors={"route": message})
    return SensitivityReport(
        name=route.name,
        currency=route.currency,
        base_cogs_per_kg=money(result.base_cogs_per_kg),
        base_pmi=result.base_pmi,
        yield_change=yield_change,
        price_change=price_change,
        bars=[
            SensitivityBarReport(
                kind=bar.kind,
                key=bar.key,
                label=(
                    f"yield of {names.get(bar.key, bar.key)}"
                    if bar.kind == "yield"
                    else f"price of {bar.key}"
                ),
                base_value=bar.base_value,
                low_value=bar.low_value,
                high_value=bar.high_value,
                cogs_at_low=money(bar.cogs_at_low),
                cogs_at_high=money(bar.cogs_at_high),
                pmi_at_low=bar.pmi_at_low,
                pmi_at_high=bar.pmi_at_high,
            )
            for bar in result.bars
        ],
    )


# --- figures out of range -----------------------------------------------------------------------


def check_figures(route: RouteFile, result: engine.RouteResult) -> None:
    """Refuse (422) a route whose figures leave what can be computed or kept.

    Each input has its limit (15 digits), but their products do not: the largest price × the
    largest amount, a cycle time × an equipment rate ÷ the smallest batch, amounts in
    equivalents ÷ the smallest yield, compounded over the steps. Every cost per kg must stay
    below :data:`~opencxo.process_chemistry.schemas.MAX_COST_PER_KG` (what the stored COGS
    column holds) and every mass balance finite. The first step out of range, raw materials
    first, is named with what to change.
    """
    entries = {s.id: s for s in route.steps}
    for step in result.steps:  # in the engine's order: a step after the steps it charges
        entry = entries[step.id]
        if not math.isfinite(step.pmi_cumulative):
            raise _out_of_range(
                route,
                step.id,
                "needs more kg of raw materials per kg of its product than can be computed",
                _amounts_fix(entry, prices=False),
            )
        raw, conversion = step.raw_material_cost_per_kg, step.conversion_cost_per_kg
        total = raw + conversion
        if _cost_within(total):
            continue
        # what to change: each part out of range on its own, else the larger one
        raw_over, conversion_over = not _cost_within(raw), not _cost_within(conversion)
        if not (raw_over or conversion_over):
            raw_over = raw >= conversion
            conversion_over = not raw_over
        fixes = []
        if raw_over:
            fixes.append(_amounts_fix(entry))
        if conversion_over:
            fixes.append(
                "shorten a cycle_time_h, raise a batch_output_kg or lower an equipment rate "
                "(a conversion cost per kg is cycle time × rate ÷ batch output, here and in the "
                "steps whose products it charges)"
            )
        fix = "; ".join(fixes)
        currency = route.currency
        raise _out_of_range(
            route,
            step.id,
            f"would cost {_cost(total)} {currency} per kg of its product (raw materials "
            f"{_cost(raw)}, conversion {_cost(conversion)}): a cost per kg must stay below "
            f"{MAX_COST_PER_KG:,} {currency}",
            fix,
        )


def _cost_within(value: float) -> bool:
    """Whether a cost per kg can be reported and kept: finite and below ``MAX_COST_PER_KG`` once
    rounded to 1/100 of a cent (checked on the float first, so that ``money`` cannot fail)."""
    return (
        math.isfinite(value) and value < float(MAX_COST_PER_KG) and money(value) < MAX_COST_PER_KG
    )


def _cost(value: float) -> str:
    return f"{value:,.2f}" if math.isfinite(value) and abs(value) < 1e15 else f"{value:.3g}"


def _amounts_fix(step: StepEntry, *, prices: bool = True) -> str:
    what = "a price or an amount" if prices else "an amount"
    fix = f"lower {what} (kg_per_kg, litres_per_kg, equivalents) of its inputs"
    if any(item.equivalents is not None for item in step.inputs):
        fix += (
            f", or correct its yield_fraction ({step.yield_fraction}): amounts in equivalents "
            "are divided by it"
        )
    return fix


def _out_of_range(route: RouteFile, step_id: str, problem: str, fix: str) -> Invalid:
    message = f"step '{step_id}' {problem}; {fix}"
    return Invalid(f"{route.name}: {message}", field_errors={f"steps.{step_id}": message})


def _check_requirements(
    route: RouteFile, needs: Sequence[engine.MaterialQuantity], production_kg: Decimal
) -> None:
    """The raw materials for ``production_kg``: each route figure is in range, but times a
    large production it may still not be a number."""
    for need in needs:
        if not (math.isfinite(need.kg) and math.isfinite(need.cost)):
            message = (
                f"material '{need.material}' would need more kg than can be computed for "
                f"{production_kg} kg of product; lower production_kg"
            )
            raise Invalid(f"{route.name}: {message}", field_errors={"production_kg": message})


# Metric, label, unit, which way is better — the comparison table and its charts, in this order.
COMPARISON_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("pmi", "PMI", "kg/kg", "lower"),
    ("e_factor", "E-factor", "kg/kg", "lower"),
    ("e_factor_without_water", "E-factor without water", "kg/kg", "lower"),
    ("atom_economy_percent", "Atom economy", "%", "higher"),
    ("step_count", "Steps", "", "lower"),
    ("longest_linear_sequence", "Longest linear sequence", "steps", "lower"),
    ("overall_yield", "Overall yield", "fraction", "higher"),
    ("raw_material_cost_per_kg", "Raw-material cost", "per kg", "lower"),
    ("conversion_cost_per_kg", "Conversion cost", "per kg", "lower"),
    ("cogs_per_kg", "Cost of goods", "per kg", "lower"),
)


def compare(reports: Sequence[EvaluationReport]) -> ComparisonReport:
    """Evaluated routes side by side, each metric marking the best route(s)."""
    if len(reports) < 2:
        raise Invalid("compare needs at least two routes", field_errors={"routes": "pick two"})
    currencies = {r.currency for r in reports}
    if len(currencies) > 1:
        listing = ", ".join(f"{r.name}: {r.currency}" for r in reports)
        raise Invalid(
            f"routes priced in different currencies cannot be compared ({listing})",
            field_errors={"routes": "use one currency"},
        )
    rows = []
    for metric, label, unit, better in COMPARISON_METRICS:
        values = [_metric(r, metric) for r in reports]
        known = [v for v in values if v is not None]
        target = (min if better == "lower" else max)(known) if known else None
        best = [
            i
            for i, v in enumerate(values)
            if v is not None and target is not None and math.isclose(v, target, rel_tol=1e-9)
        ]
        if unit == "per kg":
            unit = f"{reports[0].currency}/kg"
        rows.append(
            ComparisonRow(
                metric=metric, label=label, unit=unit, better=better, values=values, best=best
            )
        )
    return ComparisonReport(routes=list(reports), rows=rows, currency=reports[0].currency)


def _metric(report: EvaluationReport, metric: str) -> float | None:
    value = getattr(report, metric)
    return None if value is None else float(value)


def compare_files(routes: Sequence[RouteFile]) -> ComparisonReport:
    return compare([evaluate(r) for r in routes])


def atom_economy(reaction_smiles: str) -> AtomEconomyReport:
    """Atom economy of one reaction SMILES (everything left of ``>>`` against the first product)."""
    try:
        parsed = engine.reaction(reaction_smiles)
        result = engine.atom_economy(reaction_smiles)
    except ChemistryError as error:
        raise Invalid(str(error), field_errors={"reaction_smiles": str(error)}) from None
    return AtomEconomyReport(
        reaction_smiles=reaction_smiles.strip(),
        atom_economy_percent=result.atom_economy_percent,
        desired_product_smiles=parsed.desired_product.smiles,
        desired_product_formula=parsed.desired_product.formula,
        product_weight_g_per_mol=result.product_weight_g_per_mol,
        reactants_weight_g_per_mol=result.reactants_weight_g_per_mol,
        reactants=[m.smiles for m in parsed.reactants],
        byproducts=[m.smiles for m in parsed.products[1:]],
    )


def depiction(smiles: str, *, width_px: int = 260, height_px: int = 180) -> str:
    """An SVG drawing of a molecule or reaction SMILES."""
    try:
        return engine.depict_svg(smiles, width_px=width_px, height_px=height_px)
    except ChemistryError as error:
        raise Invalid(str(error), field_errors={"smiles": str(error)}) from None


_QUANTITY = Decimal("0.001")

#: What to change when a route's batch does not fit a manufacturing recipe.
RECIPE_FIX = (
    "raise the steps' yields (a recipe's batch size is the output ÷ the product of the yields), "
    "lower batch_output_kg or shorten the cycle times"
)


def _quantity(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_QUANTITY, rounding=ROUND_HALF_UP)


def recipe_plan(route: RouteFile) -> RecipePlan:
    """The route as one plant recipe (hand-over to manufacturing): steps and bill of materials.

    Durations and quantities are rounded to 1/1000 (hours, kg); a step's yield is kept as stated.
    """
    try:
        plan = engine.recipe_plan(to_engine(route))
    except (RouteError, ChemistryError) as error:
        raise invalid(error, what=route.name) from None
    figures = [("batch size", plan.batch_size_kg), ("output per batch", plan.output_per_batch_kg)]
    figures += [(f"step '{s.id}' hours per batch", s.duration_h) for s in plan.steps]
    figures += [(f"kg of '{name}' per batch", kg) for name, kg in plan.bom]
    for what, value in figures:
        # a recipe holds 9 digits before the point; past 10¹⁵ the figure is no Decimal to round
        if not (math.isfinite(value) and abs(value) < 1e15):
            message = (
                f"route '{route.name}' cannot become a plant recipe: its {what} would be "
                f"{value:.3g}"
            )
            raise Invalid(
                f"{message}; {RECIPE_FIX}", field_errors={"route": f"{message}; {RECIPE_FIX}"}
            )
    yields = {s.id: s.yield_fraction for s in route.steps}
    return RecipePlan(
        batch_size_kg=_quantity(plan.batch_size_kg),
        output_per_batch_kg=_quantity(plan.output_per_batch_kg),
        steps=[
            RecipePlanStep(
                operation=step.operation,
                equipment_class=step.equipment_class,
                duration_hours=max(_quantity(step.duration_h), _QUANTITY),
                yield_fraction=yields[step.id],
                runs_per_batch=step.runs_per_batch,
            )
            for step in plan.steps
        ],
        bom=[
            RecipePlanLine(material_name=name, quantity_per_batch_kg=_quantity(kg))
            for name, kg in plan.bom
        ],
    )
