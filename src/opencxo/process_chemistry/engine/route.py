"""A synthetic route as a tree of steps, and the numbers process chemists compare routes on.

Every input of a step is stated per kilogram of that step's isolated product *at the step's stated
yield*: as kilograms, as litres (with the material's density) or as molar equivalents (with both
structures). At another yield ``y`` every input of the step — raw materials and intermediates —
scales by ``y₀ / y``: a worse yield needs more of everything for the same kilogram of product.
Conversion cost scales the same way (a batch of the same size gives less product).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from .molecules import (
    ChemistryError,
    Molecule,
    element_counts,
    format_counts,
    molecule,
    reaction,
)

FloatArray = npt.NDArray[np.float64]


class Role(StrEnum):
    """What an input does in a step; only ``reactant`` counts towards atom economy."""

    REACTANT = "reactant"
    REAGENT = "reagent"
    CATALYST = "catalyst"
    SOLVENT = "solvent"
    WORKUP = "work-up"
    WATER = "water"


class RouteError(ValueError):
    """A route that cannot be evaluated; ``step`` names the step at fault (``None``: the route)."""

    def __init__(self, message: str, *, step: str | None = None) -> None:
        super().__init__(f"step '{step}': {message}" if step else message)
        self.step = step


@dataclass(frozen=True)
class Material:
    """A raw material (anything bought, not made in the route).

    Attributes
    ----------
    name : str
        Unique within the route.
    price_per_kg : float
        Purchase price per kilogram, in the route's currency.
    smiles : str or None
        Structure, needed for equivalents and for atom economy when the material is a reactant.
    density_kg_per_l : float or None
        Needed when an input is stated in litres.
    """

    name: str
    price_per_kg: float
    smiles: str | None = None
    density_kg_per_l: float | None = None


@dataclass(frozen=True)
class StepInput:
    """One charge to a step: a raw material (``material``) or another step's product (``intermediate``).

    Exactly one of ``kg_per_kg``, ``litres_per_kg`` and ``equivalents`` states the amount per kg of
    the step's product at its stated yield. ``coefficient`` is the stoichiometric coefficient used
    for atom economy when the step has no reaction SMILES.
    """

    role: Role
    material: str | None = None
    intermediate: str | None = None
    kg_per_kg: float | None = None
    litres_per_kg: float | None = None
    equivalents: float | None = None
    coefficient: float = 1.0


@dataclass(frozen=True)
class Step:
    """One reaction step.

    Attributes
    ----------
    id : str
        Unique key; other steps charge this step's product as ``StepInput(intermediate=id)``.
    yield_fraction : float
        Isolated yield in (0, 1].
    reaction_smiles : str or None
        ``reactants>agents>products``; the first product is the step's product. Without it,
        ``product_smiles`` may give the product's structure.
    cycle_time_h : float
        Hours the equipment is occupied per batch.
    batch_output_kg : float or None
        Kilograms of product per batch at the stated yield (needed when ``cycle_time_h`` > 0).
    recovered_byproducts : tuple of str
        SMILES of by-products recovered and sold or reused (atom economy "with recovery").
    """

    id: str
    yield_fraction: float
    inputs: tuple[StepInput, ...]
    name: str = ""
    reaction_smiles: str | None = None
    product_smiles: str | None = None
    cycle_time_h: float = 0.0
    batch_output_kg: float | None = None
    equipment_class: str | None = None
    recovered_byproducts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """A route: materials, steps (a tree whose root is the one step no other step consumes)."""

    name: str
    materials: tuple[Material, ...]
    steps: tuple[Step, ...]
    equipment_rates_per_h: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    """Figures of one step (per kg of the step's own product).

    ``pmi_step`` counts every input of the step (intermediates by their mass);
    ``pmi_cumulative`` is the convergent PMI down to raw materials.
    """

    id: str
    name: str
    depth: int
    yield_fraction: float
    product_smiles: str | None
    product_weight_g_per_mol: float | None
    atom_economy_percent: float | None
    pmi_step: float
    pmi_cumulative: float
    raw_material_cost_per_kg: float
    conversion_cost_per_kg: float


@dataclass(frozen=True)
class MaterialNeed:
    """Kilograms of one raw material (all roles) per kg of final product, and its cost."""

    material: str
    kg_per_kg_product: float
    cost_per_kg_product: float
    roles: tuple[str, ...]


@dataclass(frozen=True)
class RouteResult:
    """The evaluated route; money in the route's currency, masses in kg per kg of final product.

    Attributes
    ----------
    pmi : float
        Convergent process mass intensity of the final step.
    e_factor, e_factor_without_water : float
        ``PMI − 1`` and the same without inputs of role ``water``.
    atom_economy_percent : float or None
        Of the net equation (every step's stoichiometric reactants that are not made in the route);
        ``None`` when a step lacks structures. ``atom_economy_with_recovery_percent`` also counts
        the recovered by-products as product.
    overall_yield : float
        Product of the yields along the longest linear sequence (the lowest such product on ties).
    longest_linear_sequence : int
        Steps on the longest path from a raw material to the final product.
    """

    name: str
    final_step: str
    steps: tuple[StepResult, ...]
    pmi: float
    pmi_without_water: float
    e_factor: float
    e_factor_without_water: float
    atom_economy_percent: float | None
    atom_economy_with_recovery_percent: float | None
    atom_economy_note: str | None
    overall_yield: float
    longest_linear_sequence: int
    step_count: int
    raw_material_cost_per_kg: float
    conversion_cost_per_kg: float
    cogs_per_kg: float
    materials: tuple[MaterialNeed, ...]


@dataclass(frozen=True)
class _Prepared:
    """A validated route in arrays: steps in dependency order (children before parents)."""

    route: Route
    order: tuple[int, ...]
    final: int
    depth: tuple[int, ...]
    longest_path: tuple[tuple[int, ...], ...]
    stated_yield: FloatArray
    raw: FloatArray  # (steps, materials) kg per kg of step product at the stated yield
    water: FloatArray  # (steps, materials) the water-role part of ``raw``
    charges: FloatArray  # (steps, steps) kg of step j charged per kg of step i at its stated yield
    conversion: FloatArray  # (steps,) currency per kg of step product at the stated yield
    prices: FloatArray  # (materials,)
    roles: tuple[tuple[str, ...], ...]  # per material, the roles it has anywhere in the route
    products: tuple[Molecule | None, ...]
    step_atom_economy: tuple[float | None, ...]


def prepare(route: Route) -> _Prepared:
    """Validate a route and turn it into arrays (see :func:`evaluate`).

    Raises
    ------
    RouteError
        Naming the step at fault: an unknown material or step, a cycle, more than one final step,
        a yield outside (0, 1], an amount that is not positive or not stated exactly once, an
        invalid SMILES, an unbalanced or impossible reaction, inputs too light for their product.
    """
    if not route.steps:
        raise RouteError("a route needs at least one step")
    materials = {m.name: i for i, m in enumerate(route.materials)}
    if len(materials) != len(route.materials):
        duplicates = [n for n, c in Counter(m.name for m in route.materials).items() if c > 1]
        raise RouteError(f"material '{duplicates[0]}' is listed twice")
    for material in route.materials:
        if not math.isfinite(material.price_per_kg) or material.price_per_kg < 0:
            raise RouteError(f"material '{material.name}': price_per_kg must be ≥ 0")
        if material.density_kg_per_l is not None and not material.density_kg_per_l > 0:
            raise RouteError(f"material '{material.name}': density_kg_per_l must be > 0")
    index = {s.id: i for i, s in enumerate(route.steps)}
    if len(index) != len(route.steps):
        duplicates = [n for n, c in Counter(s.id for s in route.steps).items() if c > 1]
        raise RouteError("the step id is used twice", step=duplicates[0])
    consumers: dict[int, int] = {}
    for i, step in enumerate(route.steps):
        for item in step.inputs:
            if item.intermediate is None:
                continue
            if item.intermediate not in index:
                raise RouteError(f"no step '{item.intermediate}' makes this input", step=step.id)
            child = index[item.intermediate]
            if child == i:
                raise RouteError("a step cannot consume its own product", step=step.id)
            if child in consumers and consumers[child] != i:
                raise RouteError(
                    f"its product is charged to both '{route.steps[consumers[child]].id}' and "
                    f"'{step.id}'; a route is a tree (split the step)",
                    step=item.intermediate,
                )
            consumers[child] = i
    finals = [i for i in range(len(route.steps)) if i not in consumers]
    if len(finals) != 1:
        names = ", ".join(route.steps[i].id for i in finals) or "none"
        raise RouteError(
            f"a route has exactly one final step (consumed by no other step); found: {names}"
        )
    final = finals[0]
    order = _post_order(route, index, final)
    if len(order) != len(route.steps):
        cut_off = [s.id for i, s in enumerate(route.steps) if i not in set(order)]
        raise RouteError("the steps form a cycle and never reach the final step", step=cut_off[0])

    products = tuple(_step_product(step) for step in route.steps)
    n_steps, n_materials = len(route.steps), len(route.materials)
    raw = np.zeros((n_steps, n_materials))
    water = np.zeros((n_steps, n_materials))
    charges = np.zeros((n_steps, n_steps))
    conversion = np.zeros(n_steps)
    stated = np.zeros(n_steps)
    roles: list[set[str]] = [set() for _ in route.materials]
    for i, step in enumerate(route.steps):
        if not (math.isfinite(step.yield_fraction) and 0 < step.yield_fraction <= 1):
            raise RouteError(f"yield must be in (0, 1], got {step.yield_fraction:g}", step=step.id)
        stated[i] = step.yield_fraction
        if not step.inputs:
            raise RouteError("a step needs at least one input", step=step.id)
        for item in step.inputs:
            kg = _input_kg(route, step, item, materials, index, products[i], products)
            if item.intermediate is not None:
                charges[i, index[item.intermediate]] += kg
            else:
                assert item.material is not None
                column = materials[item.material]
                raw[i, column] += kg
                roles[column].add(str(item.role))
                if item.role == Role.WATER:
                    water[i, column] += kg
        total = raw[i].sum() + charges[i].sum()
        if total < 1 - 1e-9:
            raise RouteError(
                f"its inputs add up to {total:.3g} kg per kg of product; a kilogram of product "
                "cannot come from less than a kilogram of inputs",
                step=step.id,
            )
        conversion[i] = _conversion_cost(route, step)
        _check_reaction(step, products, index)

    depth, paths = _depths(route, index, order)
    return _Prepared(
        route=route,
        order=tuple(order),
        final=final,
        depth=tuple(depth),
        longest_path=tuple(paths),
        stated_yield=stated,
        raw=raw,
        water=water,
        charges=charges,
        conversion=conversion,
        prices=np.array([m.price_per_kg for m in route.materials], dtype=float),
        roles=tuple(tuple(sorted(r)) for r in roles),
        products=products,
        step_atom_economy=tuple(
            _step_atom_economy(step, products[i], route, materials, index, products)
            for i, step in enumerate(route.steps)
        ),
    )


def _post_order(route: Route, index: Mapping[str, int], final: int) -> list[int]:
    order: list[int] = []
    seen: set[int] = set()
    stack: list[tuple[int, bool]] = [(final, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for item in route.steps[node].inputs:
            if item.intermediate is not None:
                stack.append((index[item.intermediate], False))
    return order


def _depths(
    route: Route, index: Mapping[str, int], order: Sequence[int]
) -> tuple[list[int], list[tuple[int, ...]]]:
    """Longest chain of steps ending at each step, and that chain (lowest yield on ties)."""
    depth = [0] * len(route.steps)
    path: list[tuple[int, ...]] = [()] * len(route.steps)
    for node in order:
        best: tuple[int, ...] = ()
        for item in route.steps[node].inputs:
            if item.intermediate is None:
                continue
            candidate = path[index[item.intermediate]]
            if len(candidate) > len(best) or (
                len(candidate) == len(best) and _yield_of(route, candidate) < _yield_of(route, best)
            ):
                best = candidate
        path[node] = (*best, node)
        depth[node] = len(path[node])
    return depth, path


def _yield_of(route: Route, path: Sequence[int]) -> float:
    return math.prod(route.steps[i].yield_fraction for i in path)


def _structure(text: str, what: str, step: Step) -> Molecule:
    try:
        return molecule(text)
    except ChemistryError as error:
        raise RouteError(f"{what}: {error}", step=step.id) from None


def _step_product(step: Step) -> Molecule | None:
    if step.reaction_smiles:
        try:
            parsed = reaction(step.reaction_smiles)
        except ChemistryError as error:
            raise RouteError(f"reaction_smiles: {error}", step=step.id) from None
        if step.product_smiles:
            declared = _structure(step.product_smiles, "product_smiles", step)
            if declared.smiles != parsed.desired_product.smiles:
                raise RouteError(
                    f"product_smiles '{step.product_smiles}' is not the first product of its "
                    "reaction SMILES",
                    step=step.id,
                )
        return parsed.desired_product
    if step.product_smiles:
        return _structure(step.product_smiles, "product_smiles", step)
    return None


def _input_name(item: StepInput) -> str:
    return f"intermediate '{item.intermediate}'" if item.intermediate else f"'{item.material}'"


def _input_kg(
    route: Route,
    step: Step,
    item: StepInput,
    materials: Mapping[str, int],
    index: Mapping[str, int],
    product: Molecule | None,
    products: Sequence[Molecule | None],
) -> float:
    """Kilograms of the input per kg of the step's product at the stated yield."""
    if (item.material is None) == (item.intermediate is None):
        raise RouteError("each input names either a material or an intermediate", step=step.id)
    if item.material is not None and item.material not in materials:
        raise RouteError(
            f"material '{item.material}' is not in the route's materials", step=step.id
        )
    name = _input_name(item)
    stated = [
        (label, value)
        for label, value in (
            ("kg_per_kg", item.kg_per_kg),
            ("litres_per_kg", item.litres_per_kg),
            ("equivalents", item.equivalents),
        )
        if value is not None
    ]
    if len(stated) != 1:
        raise RouteError(
            f"input {name}: state its amount once, as kg_per_kg, litres_per_kg or equivalents",
            step=step.id,
        )
    label, value = stated[0]
    if not (math.isfinite(value) and value > 0):
        raise RouteError(f"input {name}: {label} must be > 0, got {value:g}", step=step.id)
    if not (math.isfinite(item.coefficient) and item.coefficient > 0):
        raise RouteError(f"input {name}: coefficient must be > 0", step=step.id)
    material = route.materials[materials[item.material]] if item.material is not None else None
    if label == "kg_per_kg":
        kg = value
    elif label == "litres_per_kg":
        if material is None or material.density_kg_per_l is None:
            raise RouteError(
                f"input {name} is stated in litres; give the material's density_kg_per_l",
                step=step.id,
            )
        kg = value * material.density_kg_per_l
    else:
        own = _input_structure(item, material, index, products)
        if own is None or product is None:
            missing = "the input's SMILES" if own is None else "the step's product structure"
            raise RouteError(
                f"input {name} is stated in equivalents; that needs {missing}", step=step.id
            )
        _check_weight(own, f"input {name}", step)
        _check_weight(product, "the step's product", step)
        # moles of product = moles of limiting reagent × yield
        kg = (
            value
            * own.molecular_weight_g_per_mol
            / (product.molecular_weight_g_per_mol * step.yield_fraction)
        )
    own = _input_structure(item, material, index, products)
    if item.role == Role.REACTANT and own is not None and product is not None:
        _check_weight(own, f"input {name}", step)
        moles = kg * product.molecular_weight_g_per_mol / own.molecular_weight_g_per_mol
        coefficient = item.coefficient
        if step.reaction_smiles:  # ``O.O``: water's coefficient is 2
            written = sum(m.smiles == own.smiles for m in reaction(step.reaction_smiles).reactants)
            coefficient = max(coefficient, float(written))
        if moles < coefficient * (1 - 1e-6):
            raise RouteError(
                f"reactant {name} supplies {moles:.3g} mol per mol of product; the reaction "
                f"needs at least {coefficient:g} (impossible above 100 % yield)",
                step=step.id,
            )
    return kg


def _check_weight(structure: Molecule, what: str, step: Step) -> None:
    """Amounts in moles divide by the molecular weight: refuse a structure without one."""
    weight = structure.molecular_weight_g_per_mol
    if not (math.isfinite(weight) and weight > 0):
        raise RouteError(
            f"{what}: structure '{structure.smiles}' has a molecular weight of {weight:g} g/mol; "
            "it must be > 0 (write the real structure)",
            step=step.id,
        )


def _input_structure(
    item: StepInput,
    material: Material | None,
    index: Mapping[str, int],
    products: Sequence[Molecule | None],
) -> Molecule | None:
    if item.intermediate is not None:
        return products[index[item.intermediate]]
    if material is not None and material.smiles:
        try:
            return molecule(material.smiles)
        except ChemistryError as error:
            raise RouteError(f"material '{material.name}': {error}") from None
    return None


def _conversion_cost(route: Route, step: Step) -> float:
    if not (math.isfinite(step.cycle_time_h) and step.cycle_time_h >= 0):
        raise RouteError("cycle_time_h must be ≥ 0", step=step.id)
    if step.cycle_time_h == 0:
        return 0.0
    if step.batch_output_kg is None or not step.batch_output_kg > 0:
        raise RouteError(
            "a cycle time needs batch_output_kg > 0 (kg of product per batch)", step=step.id
        )
    if not step.equipment_class:
        raise RouteError("a cycle time needs the equipment_class it occupies", step=step.id)
    rate = route.equipment_rates_per_h.get(step.equipment_class)
    if rate is None:
        raise RouteError(
            f"no equipment rate for '{step.equipment_class}'; add it to the route's equipment_rates",
            step=step.id,
        )
    if not (math.isfinite(rate) and rate >= 0):
        raise RouteError(f"equipment rate of '{step.equipment_class}' must be ≥ 0")
    return step.cycle_time_h * rate / step.batch_output_kg


def _check_reaction(
    step: Step, products: Sequence[Molecule | None], index: Mapping[str, int]
) -> None:
    """A complete equation must balance; a product-only one must be possible from its reactants."""
    if not step.reaction_smiles:
        if step.recovered_byproducts:
            raise RouteError(
                "recovered_byproducts need the step's reaction_smiles (they must be among its "
                "by-products)",
                step=step.id,
            )
        return
    parsed = reaction(step.reaction_smiles)
    left = element_counts(parsed.reactants)
    if len(parsed.products) > 1:
        right = element_counts(parsed.products)
        if left != right:
            raise RouteError(
                f"the reaction is not balanced: reactants {format_counts(left)}, "
                f"products {format_counts(right)} (list only the desired product if by-products "
                "are left out)",
                step=step.id,
            )
    else:
        product = element_counts(parsed.products)
        short = {e: n - left.get(e, 0) for e, n in product.items() if n > left.get(e, 0)}
        if short:
            missing = ", ".join(f"{n} {e}" for e, n in sorted(short.items()))
            raise RouteError(
                f"the product needs atoms no reactant supplies ({missing} short): impossible",
                step=step.id,
            )
    reactant_smiles = {m.smiles for m in parsed.reactants}
    for item in step.inputs:
        if item.intermediate is None:
            continue
        made = products[index[item.intermediate]]
        if made is not None and made.smiles not in reactant_smiles:
            raise RouteError(
                f"the product of step '{item.intermediate}' ({made.smiles}) is charged but is not "
                "a reactant of the reaction SMILES",
                step=step.id,
            )
    for text in step.recovered_byproducts:
        recovered = _structure(text, "recovered_byproducts", step)
        if recovered.smiles not in {m.smiles for m in parsed.products[1:]}:
            raise RouteError(
                f"recovered by-product '{text}' is not a by-product of the reaction SMILES",
                step=step.id,
            )


def _stoichiometric_reactants(
    step: Step,
    route: Route,
    materials: Mapping[str, int],
    index: Mapping[str, int],
    products: Sequence[Molecule | None],
) -> list[tuple[Molecule, float]] | None:
    """The step's stoichiometric reactants with coefficients; ``None`` if a structure is missing."""
    if step.reaction_smiles:
        return [(m, 1.0) for m in reaction(step.reaction_smiles).reactants]
    found: list[tuple[Molecule, float]] = []
    for item in step.inputs:
        if item.role != Role.REACTANT:
            continue
        material = route.materials[materials[item.material]] if item.material is not None else None
        structure = _input_structure(item, material, index, products)
        if structure is None:
            return None
        found.append((structure, item.coefficient))
    return found or None


def _step_atom_economy(
    step: Step,
    product: Molecule | None,
    route: Route,
    materials: Mapping[str, int],
    index: Mapping[str, int],
    products: Sequence[Molecule | None],
) -> float | None:
    reactants = _stoichiometric_reactants(step, route, materials, index, products)
    if product is None or reactants is None:
        return None
    total = sum(m.molecular_weight_g_per_mol * c for m, c in reactants)
    return 100.0 * product.molecular_weight_g_per_mol / total


def _net_atom_economy(prepared: _Prepared) -> tuple[float | None, float | None, str | None]:
    """Atom economy of the net equation: all steps' reactants not made within the route."""
    route = prepared.route
    final_product = prepared.products[prepared.final]
    if final_product is None:
        return None, None, f"step '{route.steps[prepared.final].id}' has no product structure"
    unknown = [route.steps[i].id for i, p in enumerate(prepared.products) if p is None]
    if unknown:
        # Without its structure an intermediate cannot be told apart from a bought reactant.
        return None, None, f"step '{unknown[0]}' has no product structure"
    materials = {m.name: i for i, m in enumerate(route.materials)}
    index = {s.id: i for i, s in enumerate(route.steps)}
    made = {
        p.smiles for i, p in enumerate(prepared.products) if p is not None and i != prepared.final
    }
    total = 0.0
    recovered = 0.0
    for i in prepared.order:
        step = route.steps[i]
        reactants = _stoichiometric_reactants(step, route, materials, index, prepared.products)
        if reactants is None:
            return None, None, f"step '{step.id}' lacks the structures of its reactants"
        total += sum(m.molecular_weight_g_per_mol * c for m, c in reactants if m.smiles not in made)
        recovered += sum(molecule(s).molecular_weight_g_per_mol for s in step.recovered_byproducts)
    product_weight = final_product.molecular_weight_g_per_mol
    return (
        100.0 * product_weight / total,
        100.0 * (product_weight + recovered) / total,
        None,
    )


@dataclass(frozen=True)
class _Figures:
    pmi: FloatArray  # per step, cumulative
    pmi_without_water: FloatArray
    raw_cost: FloatArray
    conversion_cost: FloatArray
    needs: FloatArray  # (materials,) kg per kg of final product


def _figures(prepared: _Prepared, yields: FloatArray, prices: FloatArray) -> _Figures:
    """Cumulative (convergent) figures per step for the given yields and prices.

    Notes
    -----
    With ``f = y₀ / y`` per step, the kilograms of each raw material per kg of a step's product
    are ``D(s) = f_s · (R(s) + Σ_j C(s, j) · D(j))`` and ``PMI_cum(s) = Σ D(s)`` — the ACS GCI
    convergent PMI mass balance, for every raw material at once.
    """
    factor = prepared.stated_yield / yields
    n_steps, n_materials = prepared.raw.shape
    demand = np.zeros((n_steps, n_materials))
    water = np.zeros(n_steps)
    conversion = np.zeros(n_steps)
    for node in prepared.order:
        children = prepared.charges[node]
        demand[node] = factor[node] * (prepared.raw[node] + children @ demand)
        water[node] = factor[node] * (prepared.water[node].sum() + children @ water)
        conversion[node] = factor[node] * (prepared.conversion[node] + children @ conversion)
    pmi = demand.sum(axis=1)
    return _Figures(
        pmi=pmi,
        pmi_without_water=pmi - water,
        raw_cost=demand @ prices,
        conversion_cost=conversion,
        needs=demand[prepared.final],
    )


def _step_pmi(prepared: _Prepared) -> FloatArray:
    result: FloatArray = prepared.raw.sum(axis=1) + prepared.charges.sum(axis=1)
    return result


def evaluate(route: Route) -> RouteResult:
    """Evaluate a route: PMI, E-factor, atom economy, yield, longest linear sequence, COGS.

    Parameters
    ----------
    route : Route

    Returns
    -------
    RouteResult

    Raises
    ------
    RouteError
        See :func:`prepare`.

    Notes
    -----
    Convergent PMI per step ``PMI_cum(s) = raw(s) + Σ_j c(s, j) · PMI_cum(j)`` (kg per kg);
    E-factor ``= PMI − 1``; COGS per kg ``= Σ_m D_m · price_m + conversion``, the conversion cost
    of a step being ``cycle_time_h · rate_per_h / batch_output_kg`` carried up the tree the same way.

    References
    ----------
    C. Jimenez-Gonzalez et al., "Using the right green yardstick: why process mass intensity is
    used in the pharmaceutical industry to drive more sustainable processes", Org. Process Res.
    Dev. 15 (2011) 912. R. A. Sheldon, "The E factor", Green Chem. 19 (2017) 18.

    Examples
    --------
    >>> r = Route("one", (Material("A", 2.0),), (Step("s", 0.5, (StepInput(Role.REACTANT, "A", kg_per_kg=4.0),)),))
    >>> evaluate(r).pmi, evaluate(r).cogs_per_kg
    (4.0, 8.0)
    """
    return _result(prepare(route))


def _result(prepared: _Prepared) -> RouteResult:
    route = prepared.route
    figures = _figures(prepared, prepared.stated_yield, prepared.prices)
    step_pmi = _step_pmi(prepared)
    final = prepared.final
    atom_economy, with_recovery, note = _net_atom_economy(prepared)
    steps = tuple(
        StepResult(
            id=route.steps[i].id,
            name=route.steps[i].name or route.steps[i].id,
            depth=prepared.depth[i],
            yield_fraction=route.steps[i].yield_fraction,
            product_smiles=p.smiles if (p := prepared.products[i]) is not None else None,
            product_weight_g_per_mol=p.molecular_weight_g_per_mol if p is not None else None,
            atom_economy_percent=prepared.step_atom_economy[i],
            pmi_step=float(step_pmi[i]),
            pmi_cumulative=float(figures.pmi[i]),
            raw_material_cost_per_kg=float(figures.raw_cost[i]),
            conversion_cost_per_kg=float(figures.conversion_cost[i]),
        )
        for i in prepared.order
    )
    materials = tuple(
        MaterialNeed(
            material=m.name,
            kg_per_kg_product=float(figures.needs[j]),
            cost_per_kg_product=float(figures.needs[j] * prepared.prices[j]),
            roles=prepared.roles[j],
        )
        for j, m in enumerate(route.materials)
        if figures.needs[j] > 0
    )
    pmi = float(figures.pmi[final])
    pmi_dry = float(figures.pmi_without_water[final])
    raw_cost = float(figures.raw_cost[final])
    conversion = float(figures.conversion_cost[final])
    return RouteResult(
        name=route.name,
        final_step=route.steps[final].id,
        steps=steps,
        pmi=pmi,
        pmi_without_water=pmi_dry,
        e_factor=pmi - 1.0,
        e_factor_without_water=pmi_dry - 1.0,
        atom_economy_percent=atom_economy,
        atom_economy_with_recovery_percent=with_recovery,
        atom_economy_note=note,
        overall_yield=_yield_of(route, prepared.longest_path[final]),
        longest_linear_sequence=prepared.depth[final],
        step_count=len(route.steps),
        raw_material_cost_per_kg=raw_cost,
        conversion_cost_per_kg=conversion,
        cogs_per_kg=raw_cost + conversion,
        materials=materials,
    )


@dataclass(frozen=True)
class SensitivityBar:
    """One bar of the tornado: COGS and PMI at the low and the high value of one input.

    ``kind`` is ``yield`` (``key`` a step id) or ``price`` (``key`` a material name); ``low_value``
    and ``high_value`` are the yield fractions or prices per kg tried.
    """

    kind: str
    key: str
    base_value: float
    low_value: float
    high_value: float
    cogs_at_low: float
    cogs_at_high: float
    pmi_at_low: float
    pmi_at_high: float

    @property
    def cogs_swing(self) -> float:
        return abs(self.cogs_at_high - self.cogs_at_low)

    @property
    def pmi_swing(self) -> float:
        return abs(self.pmi_at_high - self.pmi_at_low)


@dataclass(frozen=True)
class Sensitivity:
    """Tornado of COGS and PMI, bars sorted by COGS swing (largest first)."""

    base_cogs_per_kg: float
    base_pmi: float
    yield_change: float
    price_change: float
    bars: tuple[SensitivityBar, ...]


def sensitivity(
    route: Route, *, yield_change: float = 0.05, price_change: float = 0.2
) -> Sensitivity:
    """How COGS and PMI move with each step's yield and each material's price.

    Parameters
    ----------
    route : Route
    yield_change : float
        Absolute change of each yield, in (0, 0.5]; the low side stops at a tenth of the stated
        yield and the high side at 1.
    price_change : float
        Relative change of each price, in (0, 1): price × (1 ± price_change).

    Returns
    -------
    Sensitivity

    Raises
    ------
    RouteError
        If the route is invalid, or a change is out of its range.
    """
    if not (math.isfinite(yield_change) and 0 < yield_change <= 0.5):
        raise RouteError(f"yield_change must be in (0, 0.5], got {yield_change:g}")
    if not (math.isfinite(price_change) and 0 < price_change < 1):
        raise RouteError(f"price_change must be in (0, 1), got {price_change:g}")
    prepared = prepare(route)
    final = prepared.final
    base = _figures(prepared, prepared.stated_yield, prepared.prices)
    bars: list[SensitivityBar] = []
    for i, step in enumerate(route.steps):
        stated = float(prepared.stated_yield[i])
        low = max(stated - yield_change, stated / 10)
        high = min(stated + yield_change, 1.0)
        figures = []
        for value in (low, high):
            yields = prepared.stated_yield.copy()
            yields[i] = value
            figures.append(_figures(prepared, yields, prepared.prices))
        bars.append(
            SensitivityBar(
                kind="yield",
                key=step.id,
                base_value=stated,
                low_value=low,
                high_value=high,
                cogs_at_low=_cogs(figures[0], final),
                cogs_at_high=_cogs(figures[1], final),
                pmi_at_low=float(figures[0].pmi[final]),
                pmi_at_high=float(figures[1].pmi[final]),
            )
        )
    base_pmi = float(base.pmi[final])
    for j, material in enumerate(route.materials):
        if base.needs[j] <= 0 or prepared.prices[j] <= 0:
            continue
        price = float(prepared.prices[j])
        low_price, high_price = price * (1 - price_change), price * (1 + price_change)
        # COGS is linear in each price: no need to re-run the tree.
        others = _cogs(base, final) - float(base.needs[j]) * price
        bars.append(
            SensitivityBar(
                kind="price",
                key=material.name,
                base_value=price,
                low_value=low_price,
                high_value=high_price,
                cogs_at_low=others + float(base.needs[j]) * low_price,
                cogs_at_high=others + float(base.needs[j]) * high_price,
                pmi_at_low=base_pmi,
                pmi_at_high=base_pmi,
            )
        )
    bars.sort(key=lambda bar: (-bar.cogs_swing, -bar.pmi_swing, bar.kind, bar.key))
    return Sensitivity(
        base_cogs_per_kg=_cogs(base, final),
        base_pmi=base_pmi,
        yield_change=yield_change,
        price_change=price_change,
        bars=tuple(bars),
    )


def _cogs(figures: _Figures, final: int) -> float:
    return float(figures.raw_cost[final] + figures.conversion_cost[final])


@dataclass(frozen=True)
class MaterialQuantity:
    """Kilograms of one raw material for a production quantity, and what they cost."""

    material: str
    kg: float
    cost: float
    roles: tuple[str, ...]


def requirements(result: RouteResult, production_kg: float) -> tuple[MaterialQuantity, ...]:
    """Kilograms and cost of each raw material for ``production_kg`` of final product.

    Raises
    ------
    RouteError
        If ``production_kg`` is not a positive number.
    """
    if not (math.isfinite(production_kg) and production_kg > 0):
        raise RouteError(f"production_kg must be > 0, got {production_kg:g}")
    return tuple(
        MaterialQuantity(
            material=need.material,
            kg=need.kg_per_kg_product * production_kg,
            cost=need.cost_per_kg_product * production_kg,
            roles=need.roles,
        )
        for need in result.materials
    )


@dataclass(frozen=True)
class PlannedStep:
    """One step as a plant recipe step: hours of its equipment class per batch of final product."""

    id: str
    operation: str
    equipment_class: str
    duration_h: float
    yield_fraction: float
    runs_per_batch: float


@dataclass(frozen=True)
class RecipePlan:
    """A route as one plant recipe producing ``output_per_batch_kg`` of final product per batch.

    Steps are in the order they run (every branch before the step that consumes it); a step's
    duration is its cycle time × the number of its own batches one final batch needs. ``bom``
    lists raw materials in kg per final batch. ``batch_size_kg`` is the output before yields
    (``output / Π yields``), the way a manufacturing recipe states its batch size.
    """

    output_per_batch_kg: float
    batch_size_kg: float
    steps: tuple[PlannedStep, ...]
    bom: tuple[tuple[str, float], ...]


def recipe_plan(route: Route) -> RecipePlan:
    """The route as a plant recipe (for the hand-over to manufacturing).

    Raises
    ------
    RouteError
        If a step has no cycle time, batch output or equipment class (a plant needs all three).
    """
    prepared = prepare(route)
    final = prepared.final
    needed = np.zeros(len(route.steps))  # kg of each step's product per kg of final product
    needed[final] = 1.0
    for node in reversed(prepared.order):
        needed += prepared.charges[node] * needed[node]
    for step in route.steps:
        if step.cycle_time_h <= 0 or not step.batch_output_kg or not step.equipment_class:
            raise RouteError(
                "a plant recipe needs the step's cycle_time_h, batch_output_kg and equipment_class",
                step=step.id,
            )
    output = float(route.steps[final].batch_output_kg or 0.0)
    steps = []
    for node in prepared.order:
        step = route.steps[node]
        runs = float(needed[node]) * output / float(step.batch_output_kg or 1.0)
        steps.append(
            PlannedStep(
                id=step.id,
                operation=step.name or step.id,
                equipment_class=str(step.equipment_class),
                duration_h=step.cycle_time_h * runs,
                yield_fraction=step.yield_fraction,
                runs_per_batch=runs,
            )
        )
    needs = _figures(prepared, prepared.stated_yield, prepared.prices).needs
    return RecipePlan(
        output_per_batch_kg=output,
        batch_size_kg=output / math.prod(s.yield_fraction for s in route.steps),
        steps=tuple(steps),
        bom=tuple(
            (m.name, float(needs[j]) * output)
            for j, m in enumerate(route.materials)
            if needs[j] > 0
        ),
    )
