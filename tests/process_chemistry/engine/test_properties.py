"""Properties of route evaluation on randomly generated valid routes (trees of 1–8 steps)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from opencxo.process_chemistry.engine import (
    Material,
    Role,
    Route,
    Step,
    StepInput,
    evaluate,
    molecule,
    requirements,
    sensitivity,
)

SETTINGS = settings(max_examples=60, deadline=None)

MATERIAL_SMILES = ["CCO", "CC(=O)O", "c1ccccc1", "CC(C)Cc1ccccc1", "O", "NN", "ClCC(=O)OCC", "CO"]
PRODUCT_SMILES = [
    "CC(=O)c1ccc(CC(C)C)cc1",
    "CC(O)c1ccc(CC(C)C)cc1",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "COC(=O)c1ccccc1",
    "NNC(=O)c1ccccc1",
    "CCOC(C)=O",
]
RAW_ROLES = [Role.REACTANT, Role.REAGENT, Role.CATALYST, Role.SOLVENT, Role.WORKUP, Role.WATER]

amounts = st.floats(0.01, 20.0, allow_nan=False)
yields = st.floats(0.05, 1.0, exclude_min=True, allow_nan=False)


@dataclass(frozen=True)
class Case:
    route: Route
    structures: bool


@st.composite
def routes(draw: st.DrawFn) -> Case:
    """A valid random route: step ``s0`` is final, every other step feeds an earlier one."""
    n_steps = draw(st.integers(1, 8))
    parents = [draw(st.integers(0, k - 1)) for k in range(1, n_steps)]
    structures = draw(st.booleans())
    n_materials = draw(st.integers(1, 5))
    materials = tuple(
        Material(
            f"m{j}",
            draw(st.floats(0.0, 1000.0, allow_nan=False)),
            smiles=MATERIAL_SMILES[draw(st.integers(0, len(MATERIAL_SMILES) - 1))]
            if structures
            else None,
        )
        for j in range(n_materials)
    )
    steps = []
    for k in range(n_steps):
        # The first raw input alone weighs ≥ 1 kg per kg, so no yield makes the step too light;
        # with structures, raw reactants are charged in equivalents (≥ 1 mol per mol).
        inputs = [StepInput(Role.SOLVENT, material="m0", kg_per_kg=draw(st.floats(1.0, 20.0)))]
        for _ in range(draw(st.integers(0, 3))):
            name = f"m{draw(st.integers(0, n_materials - 1))}"
            if structures and draw(st.booleans()):
                inputs.append(
                    StepInput(Role.REACTANT, material=name, equivalents=draw(st.floats(1.0, 3.0)))
                )
            else:
                role = draw(st.sampled_from([r for r in RAW_ROLES if r is not Role.REACTANT]))
                if not structures:
                    role = draw(st.sampled_from(RAW_ROLES))
                inputs.append(StepInput(role, material=name, kg_per_kg=draw(amounts)))
        for child, parent in enumerate(parents, start=1):
            if parent == k:
                if structures:
                    charge = StepInput(
                        Role.REACTANT,
                        intermediate=f"s{child}",
                        equivalents=draw(st.floats(1.0, 2.0)),
                    )
                else:
                    charge = StepInput(
                        Role.REACTANT,
                        intermediate=f"s{child}",
                        kg_per_kg=draw(st.floats(0.05, 5.0)),
                    )
                inputs.append(charge)
        timed = draw(st.booleans())
        steps.append(
            Step(
                f"s{k}",
                draw(yields),
                tuple(inputs),
                product_smiles=PRODUCT_SMILES[draw(st.integers(0, len(PRODUCT_SMILES) - 1))]
                if structures
                else None,
                cycle_time_h=draw(st.floats(0.5, 48.0)) if timed else 0.0,
                batch_output_kg=draw(st.floats(1.0, 500.0)) if timed else None,
                equipment_class="reactor" if timed else None,
            )
        )
    order = draw(st.permutations(range(n_steps)))
    route = Route(
        "random",
        materials,
        tuple(steps[i] for i in order),
        equipment_rates_per_h={"reactor": draw(st.floats(0.0, 2000.0))},
    )
    return Case(route, structures)


# --------------------------------------------------------------------------------------------
# An independent, recursive mass balance (no arrays, no shared code with the engine)
# --------------------------------------------------------------------------------------------


def _weight(smiles: str | None) -> float:
    assert smiles is not None
    return molecule(smiles).molecular_weight_g_per_mol


def _kg(route: Route, step: Step, item: StepInput) -> float:
    if item.kg_per_kg is not None:
        return item.kg_per_kg
    assert item.equivalents is not None
    if item.intermediate is not None:
        own = _weight(next(s for s in route.steps if s.id == item.intermediate).product_smiles)
    else:
        own = _weight(next(m for m in route.materials if m.name == item.material).smiles)
    return item.equivalents * own / (_weight(step.product_smiles) * step.yield_fraction)


def reference(route: Route, step_id: str) -> tuple[dict[str, float], float]:
    """kg of each raw material and conversion cost per kg of ``step_id``'s product."""
    step = next(s for s in route.steps if s.id == step_id)
    needs: dict[str, float] = {}
    conversion = 0.0
    if step.cycle_time_h > 0:
        assert step.batch_output_kg is not None and step.equipment_class is not None
        rate = route.equipment_rates_per_h[step.equipment_class]
        conversion = step.cycle_time_h * rate / step.batch_output_kg
    for item in step.inputs:
        kg = _kg(route, step, item)
        if item.intermediate is not None:
            child_needs, child_conversion = reference(route, item.intermediate)
            for name, amount in child_needs.items():
                needs[name] = needs.get(name, 0.0) + kg * amount
            conversion += kg * child_conversion
        else:
            assert item.material is not None
            needs[item.material] = needs.get(item.material, 0.0) + kg
    return needs, conversion


def prices(route: Route) -> dict[str, float]:
    return {m.name: m.price_per_kg for m in route.materials}


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(routes())
def test_convergent_pmi_and_cost_match_a_recursive_mass_balance(case: Case) -> None:
    route = case.route
    result = evaluate(route)
    for step in result.steps:
        needs, conversion = reference(route, step.id)
        assert_allclose(step.pmi_cumulative, sum(needs.values()), rtol=1e-9)
        cost = sum(kg * prices(route)[name] for name, kg in needs.items())
        assert_allclose(step.raw_material_cost_per_kg, cost, rtol=1e-9, atol=1e-9)
        assert_allclose(step.conversion_cost_per_kg, conversion, rtol=1e-9, atol=1e-9)
    needs, conversion = reference(route, "s0")
    assert result.final_step == "s0"
    assert_allclose(result.pmi, sum(needs.values()), rtol=1e-9)
    assert_allclose(result.conversion_cost_per_kg, conversion, rtol=1e-9, atol=1e-9)
    got = {m.material: m.kg_per_kg_product for m in result.materials}
    assert set(got) == {name for name, kg in needs.items() if kg > 0}
    for name, kg in got.items():
        assert_allclose(kg, needs[name], rtol=1e-9)


@SETTINGS
@given(routes())
def test_pmi_is_at_least_one_at_every_step(case: Case) -> None:
    result = evaluate(case.route)
    for step in result.steps:
        assert step.pmi_step >= 1 - 1e-9
        assert step.pmi_cumulative >= 1 - 1e-9
        assert step.pmi_cumulative >= step.pmi_step - 1e-9 * step.pmi_step
    assert result.pmi >= 1 - 1e-9


@SETTINGS
@given(routes())
def test_final_pmi_is_the_sum_of_material_needs(case: Case) -> None:
    result = evaluate(case.route)
    assert_allclose(sum(m.kg_per_kg_product for m in result.materials), result.pmi, rtol=1e-9)
    assert_allclose(
        sum(m.cost_per_kg_product for m in result.materials),
        result.raw_material_cost_per_kg,
        rtol=1e-9,
        atol=1e-9,
    )
    final = next(s for s in result.steps if s.id == result.final_step)
    assert final.pmi_cumulative == result.pmi


@SETTINGS
@given(routes())
def test_e_factor_is_pmi_minus_one(case: Case) -> None:
    result = evaluate(case.route)
    assert_allclose(result.e_factor, result.pmi - 1, rtol=1e-12, atol=1e-12)
    assert_allclose(
        result.e_factor_without_water, result.pmi_without_water - 1, rtol=1e-12, atol=1e-12
    )
    assert result.pmi_without_water <= result.pmi + 1e-9 * result.pmi
    water = sum(
        m.kg_per_kg_product for m in result.materials if m.roles == (str(Role.WATER),)
    )  # materials used only as process water
    assert result.pmi - result.pmi_without_water >= water - 1e-9 * result.pmi
    assert_allclose(
        result.cogs_per_kg, result.raw_material_cost_per_kg + result.conversion_cost_per_kg
    )


@SETTINGS
@given(routes(), st.floats(0.0, 50.0))
def test_scaling_every_price_scales_raw_material_cost(case: Case, k: float) -> None:
    base = evaluate(case.route)
    materials = tuple(replace(m, price_per_kg=m.price_per_kg * k) for m in case.route.materials)
    scaled = evaluate(replace(case.route, materials=materials))
    assert_allclose(
        scaled.raw_material_cost_per_kg, k * base.raw_material_cost_per_kg, rtol=1e-9, atol=1e-9
    )
    assert_allclose(scaled.conversion_cost_per_kg, base.conversion_cost_per_kg, rtol=1e-12)
    assert scaled.pmi == base.pmi
    for a, b in zip(base.steps, scaled.steps, strict=True):
        assert_allclose(
            b.raw_material_cost_per_kg, k * a.raw_material_cost_per_kg, rtol=1e-9, atol=1e-9
        )


def _scaled_raw_inputs(route: Route, k: float) -> Route:
    """Every raw-material input ×k, however it is stated (intermediate charges unchanged)."""

    def scaled(item: StepInput) -> StepInput:
        if item.intermediate is not None:
            return item
        return replace(
            item,
            kg_per_kg=None if item.kg_per_kg is None else item.kg_per_kg * k,
            litres_per_kg=None if item.litres_per_kg is None else item.litres_per_kg * k,
            equivalents=None if item.equivalents is None else item.equivalents * k,
        )

    steps = tuple(replace(s, inputs=tuple(scaled(i) for i in s.inputs)) for s in route.steps)
    return replace(route, steps=steps)


@SETTINGS
@given(routes(), st.floats(1.0, 50.0))
def test_scaling_every_raw_input_scales_its_cost_and_mass_linearly(case: Case, k: float) -> None:
    base = evaluate(case.route)
    scaled = evaluate(_scaled_raw_inputs(case.route, k))
    assert_allclose(
        scaled.raw_material_cost_per_kg, k * base.raw_material_cost_per_kg, rtol=1e-9, atol=1e-9
    )
    assert_allclose(scaled.pmi, k * base.pmi, rtol=1e-9)
    assert_allclose(scaled.conversion_cost_per_kg, base.conversion_cost_per_kg, rtol=1e-12)
    for a, b in zip(base.materials, scaled.materials, strict=True):
        assert a.material == b.material
        assert_allclose(b.kg_per_kg_product, k * a.kg_per_kg_product, rtol=1e-9)


@SETTINGS
@given(routes(), st.floats(1e-3, 1e6), st.floats(1e-3, 1e6))
def test_requirements_are_linear_in_production(case: Case, first: float, second: float) -> None:
    result = evaluate(case.route)
    a = requirements(result, first)
    b = requirements(result, second)
    assert [q.material for q in a] == [m.material for m in result.materials]
    for qa, qb, need in zip(a, b, result.materials, strict=True):
        assert_allclose(qa.kg, need.kg_per_kg_product * first, rtol=1e-12)
        assert_allclose(qb.kg * first, qa.kg * second, rtol=1e-9)
        assert_allclose(qb.cost * first, qa.cost * second, rtol=1e-9, atol=1e-9)
    assert_allclose(sum(q.kg for q in a), result.pmi * first, rtol=1e-9)


@SETTINGS
@given(routes(), st.data())
def test_raising_one_yield_never_raises_pmi_or_cogs(case: Case, data: st.DataObject) -> None:
    route = case.route
    base = evaluate(route)
    index = data.draw(st.integers(0, len(route.steps) - 1))
    step = route.steps[index]
    higher = data.draw(st.floats(step.yield_fraction, 1.0))
    steps = tuple(replace(s, yield_fraction=higher) if s is step else s for s in route.steps)
    raised = evaluate(replace(route, steps=steps))
    # Inputs in kg are per kg at the stated yield; inputs in equivalents fall with the yield.
    assert raised.pmi <= base.pmi * (1 + 1e-9)
    assert raised.cogs_per_kg <= base.cogs_per_kg * (1 + 1e-9) + 1e-9
    assert raised.overall_yield >= base.overall_yield * (1 - 1e-9)
    # The same question asked of the tornado: the high side of every yield bar.
    tornado = sensitivity(route, yield_change=data.draw(st.floats(0.01, 0.5)))
    for bar in (b for b in tornado.bars if b.kind == "yield"):
        assert bar.low_value <= bar.base_value <= bar.high_value <= 1.0
        assert bar.low_value >= bar.base_value / 10 * (1 - 1e-12)
        assert bar.pmi_at_high <= tornado.base_pmi * (1 + 1e-9) <= bar.pmi_at_low * (1 + 2e-9)
        assert bar.cogs_at_high <= tornado.base_cogs_per_kg * (1 + 1e-9) + 1e-9
        assert tornado.base_cogs_per_kg <= bar.cogs_at_low * (1 + 1e-9) + 1e-9


@SETTINGS
@given(routes())
def test_tornado_is_sorted_and_price_bars_are_linear(case: Case) -> None:
    result = evaluate(case.route)
    tornado = sensitivity(case.route)
    assert_allclose(tornado.base_pmi, result.pmi, rtol=1e-12)
    assert_allclose(tornado.base_cogs_per_kg, result.cogs_per_kg, rtol=1e-12)
    swings = [b.cogs_swing for b in tornado.bars]
    assert swings == sorted(swings, reverse=True)
    assert {b.key for b in tornado.bars if b.kind == "yield"} == {s.id for s in case.route.steps}
    needs = {m.material: m.kg_per_kg_product for m in result.materials}
    priced = {m.name for m in case.route.materials if m.price_per_kg > 0 and m.name in needs}
    assert {b.key for b in tornado.bars if b.kind == "price"} == priced
    for bar in (b for b in tornado.bars if b.kind == "price"):
        change = 0.2 * bar.base_value * needs[bar.key]
        scale = max(tornado.base_cogs_per_kg, 1.0)
        assert_allclose(
            bar.cogs_at_high - tornado.base_cogs_per_kg, change, rtol=1e-9, atol=1e-12 * scale
        )
        assert_allclose(
            tornado.base_cogs_per_kg - bar.cogs_at_low, change, rtol=1e-9, atol=1e-12 * scale
        )
        assert bar.pmi_at_low == bar.pmi_at_high == tornado.base_pmi


@SETTINGS
@given(routes())
def test_longest_linear_sequence_and_overall_yield(case: Case) -> None:
    route = case.route
    result = evaluate(route)
    by_id = {s.id: s for s in route.steps}

    def chains(step_id: str) -> list[list[str]]:
        children = [i.intermediate for i in by_id[step_id].inputs if i.intermediate is not None]
        if not children:
            return [[step_id]]
        return [[*chain, step_id] for child in children for chain in chains(child)]

    every = chains("s0")
    longest = max(len(c) for c in every)
    assert result.longest_linear_sequence == longest
    lowest = min(
        _product(by_id[s].yield_fraction for s in chain) for chain in every if len(chain) == longest
    )
    assert_allclose(result.overall_yield, lowest, rtol=1e-12)
    assert result.step_count == len(route.steps)


def _product(values: Iterable[float]) -> float:
    total = 1.0
    for value in values:
        total *= value
    return total
