"""The route file (YAML or JSON) and the reports of evaluating and comparing routes.

A route file describes one route to one target product: its raw materials (with prices), its
equipment rates and its steps — a tree, each step charging raw materials and other steps'
products. ``RouteFile.model_json_schema()`` is the documented schema (``opencxo chem schema``,
``GET /api/v1/chem/route-schema``; ``docs/process-chemistry.md`` explains every field).
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opencxo.process_chemistry.engine import Role

ROUTE_FORMAT = "opencxo-route/1"

_STEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")
_CAS = re.compile(r"^(\d{2,7})-(\d{2})-(\d)$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

# Every decimal of a route file is stored: in NUMERIC(18, 6) columns (prices, densities) or as a
# JSON number (the route's spec). SQLite keeps both as binary floating point, exact to 15
# significant digits only, so 15 digits (at most 999,999,999.999999) is what is accepted — a
# value accepted is a value read back unchanged (docs/decisions.md).
STORED_DIGITS = 15
STORED_PLACES = 6
#: A cost per kg (of a step's product, of the final product: COGS) stays below this: what the
#: NUMERIC(18, 6) ``cogs_per_kg`` column holds once rounded to 1/100 of a cent. Inputs within
#: their own limits multiply past it (a price of 10⁹ per kg × 10⁹ kg per kg, a conversion cost
#: of 10⁹ h × 10⁹ per hour ÷ 10⁻⁶ kg per batch): such a route is refused naming its step.
MAX_COST_PER_KG = Decimal(10) ** 12
Positive = Annotated[Decimal, Field(gt=0, max_digits=STORED_DIGITS, decimal_places=STORED_PLACES)]
NonNegative = Annotated[
    Decimal, Field(ge=0, max_digits=STORED_DIGITS, decimal_places=STORED_PLACES)
]


class Hazard(StrEnum):
    """GHS hazard pictograms (UN Globally Harmonized System, rev. 10), by what they warn of."""

    EXPLOSIVE = "explosive"  # GHS01
    FLAMMABLE = "flammable"  # GHS02
    OXIDISING = "oxidising"  # GHS03
    GAS_UNDER_PRESSURE = "gas under pressure"  # GHS04
    CORROSIVE = "corrosive"  # GHS05
    ACUTELY_TOXIC = "acutely toxic"  # GHS06
    HARMFUL = "harmful"  # GHS07
    HEALTH_HAZARD = "health hazard"  # GHS08 (CMR, sensitiser)
    ENVIRONMENTAL = "environmental"  # GHS09


def valid_cas(value: str) -> str:
    """A CAS registry number with a correct check digit, e.g. ``64-19-7``."""
    match = _CAS.match(value.strip())
    if not match:
        raise ValueError(f"'{value}' is not a CAS number (digits-digits-check digit, e.g. 64-19-7)")
    digits = (match.group(1) + match.group(2))[::-1]
    check = sum((i + 1) * int(d) for i, d in enumerate(digits)) % 10
    if check != int(match.group(3)):
        raise ValueError(f"CAS number '{value}' has a wrong check digit (expected {check})")
    return value.strip()


def yaml_text(value: object) -> object:
    """YAML reads a bare ``NO`` (hydroxylamine) or ``ON`` as a boolean: say so instead of
    "Input should be a valid string"."""
    if isinstance(value, bool):
        raise ValueError(
            f'YAML read this as {str(value).lower()}: put the SMILES in quotes, e.g. "NO"'
        )
    return value


def valid_currency(value: str) -> str:
    text = value.strip().upper()
    if not _CURRENCY.match(text):
        raise ValueError(f"'{value}' is not an ISO 4217 currency code (three letters, e.g. USD)")
    return text


class MaterialEntry(BaseModel):
    """A raw material: bought, not made in the route."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    smiles: str | None = Field(
        None, max_length=2000, description="structure; needed for equivalents and atom economy"
    )
    cas: str | None = Field(None, description="CAS registry number, e.g. 64-19-7")
    price_per_kg: NonNegative = Field(description="purchase price per kg, in the route's currency")
    density_kg_per_l: Positive | None = Field(None, description="needed for amounts in litres")
    hazards: list[Hazard] = Field(default_factory=list, description="GHS pictograms")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("a material needs a name")
        return text

    @field_validator("smiles", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        return yaml_text(value)

    @field_validator("smiles")
    @classmethod
    def _smiles(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("cas")
    @classmethod
    def _cas(cls, value: str | None) -> str | None:
        return valid_cas(value) if value else None


class InputEntry(BaseModel):
    """One charge to a step: a raw material or another step's product, per kg of step product."""

    model_config = ConfigDict(extra="forbid")

    material: str | None = Field(None, description="a material's name (raw material)")
    intermediate: str | None = Field(None, description="the id of the step that makes it")
    role: Role
    kg_per_kg: Positive | None = Field(None, description="kg per kg of step product")
    litres_per_kg: Positive | None = Field(None, description="L per kg of step product")
    equivalents: Positive | None = Field(
        None, description="mol per mol of the limiting reagent (needs structures)"
    )
    coefficient: Positive = Field(
        Decimal(1), description="stoichiometric coefficient (atom economy without reaction SMILES)"
    )

    @model_validator(mode="after")
    def _one_source_one_amount(self) -> Self:
        if (self.material is None) == (self.intermediate is None):
            raise ValueError("name either a material or an intermediate (a step id)")
        amounts = [a for a in (self.kg_per_kg, self.litres_per_kg, self.equivalents) if a]
        if len(amounts) != 1:
            raise ValueError("state the amount once: kg_per_kg, litres_per_kg or equivalents")
        return self


class StepEntry(BaseModel):
    """One reaction step; its inputs are per kg of its isolated product at its stated yield."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="unique key, e.g. 'S1' or 'coupling'")
    name: str = Field("", max_length=200)
    reaction_smiles: str | None = Field(
        None, max_length=4000, description="reactants>agents>products; first product is the step's"
    )
    product_smiles: str | None = Field(None, max_length=2000)
    yield_fraction: Decimal = Field(
        max_digits=STORED_DIGITS, decimal_places=STORED_PLACES, description="in (0, 1]"
    )
    cycle_time_h: NonNegative = Field(Decimal(0), description="equipment hours per batch")
    batch_output_kg: Positive | None = Field(None, description="kg of product per batch")
    equipment_class: str | None = Field(None, max_length=60)
    recovered_byproducts: list[str] = Field(
        default_factory=list, description="SMILES of by-products recovered (atom economy)"
    )
    inputs: list[InputEntry] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        text = value.strip()
        if not _STEP_ID.match(text):
            raise ValueError(
                f"'{value}' is not a step id: letters, digits, '_', '.', '-', at most 40"
            )
        return text

    @field_validator("yield_fraction")
    @classmethod
    def _yield(cls, value: Decimal) -> Decimal:
        if not (Decimal(0) < value <= Decimal(1)):
            raise ValueError(f"yield_fraction must be in (0, 1] (0.85 for 85 %), got {value}")
        return value

    @field_validator("inputs")
    @classmethod
    def _charged_once(cls, value: list[InputEntry]) -> list[InputEntry]:
        """The same input twice would count its mass twice: state it once with the total amount.
        A material may be charged in two roles (methanol as reactant and as solvent)."""
        seen: set[tuple[str, str, str]] = set()
        for item in value:
            if item.intermediate is not None:
                key = ("intermediate", item.intermediate, "")
                what = f"intermediate '{item.intermediate}'"
            else:
                key = ("material", item.material or "", str(item.role))
                what = f"material '{item.material}' as {item.role}"
            if key in seen:
                raise ValueError(
                    f"{what} is charged twice in this step; state it once with the total amount"
                )
            seen.add(key)
        return value

    @field_validator("reaction_smiles", "product_smiles", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        return yaml_text(value)

    @field_validator("reaction_smiles", "product_smiles", "equipment_class")
    @classmethod
    def _blank(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class RouteFile(BaseModel):
    """A synthetic route to one product (the route file, ``format: opencxo-route/1``)."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(ROUTE_FORMAT, description=f"always '{ROUTE_FORMAT}'")
    name: str = Field(min_length=1, max_length=200)
    product: str = Field("", max_length=200, description="the target product's name")
    description: str = Field("", max_length=4000)
    currency: str = Field("USD", description="ISO 4217 code of every price and rate")
    production_kg: Positive = Field(
        Decimal(100), description="kg of final product to size raw materials for"
    )
    equipment_rates: dict[str, NonNegative] = Field(
        default_factory=dict, description="equipment class → cost per hour"
    )
    materials: list[MaterialEntry] = Field(default_factory=list)
    steps: list[StepEntry] = Field(min_length=1)

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value != ROUTE_FORMAT:
            raise ValueError(f"this is not a route file of format '{ROUTE_FORMAT}'")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return valid_currency(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("a route needs a name")
        return text


# --- reports --------------------------------------------------------------------------------------


class StepReport(BaseModel):
    id: str
    name: str
    depth: int = Field(description="steps on the longest chain ending here")
    yield_fraction: float
    product_smiles: str | None
    product_weight_g_per_mol: float | None
    atom_economy_percent: float | None
    pmi_step: float = Field(description="kg of all inputs per kg of this step's product")
    pmi_cumulative: float = Field(description="convergent PMI down to raw materials")
    raw_material_cost_per_kg: Decimal
    conversion_cost_per_kg: Decimal


class MaterialNeedReport(BaseModel):
    material: str
    roles: list[str]
    kg_per_kg_product: float
    kg_for_production: float
    cost_per_kg_product: Decimal
    cost_for_production: Decimal


class EvaluationReport(BaseModel):
    """Every figure of one route; money in ``currency``, masses in kg per kg of final product."""

    name: str
    product: str
    currency: str
    final_step: str
    step_count: int
    longest_linear_sequence: int
    overall_yield: float
    pmi: float
    pmi_without_water: float
    e_factor: float
    e_factor_without_water: float
    atom_economy_percent: float | None
    atom_economy_with_recovery_percent: float | None
    atom_economy_note: str | None
    raw_material_cost_per_kg: Decimal
    conversion_cost_per_kg: Decimal
    cogs_per_kg: Decimal
    production_kg: Decimal
    steps: list[StepReport]
    materials: list[MaterialNeedReport]


class SensitivityBarReport(BaseModel):
    kind: str = Field(description="'yield' (a step) or 'price' (a material)")
    key: str
    label: str
    base_value: float
    low_value: float
    high_value: float
    cogs_at_low: Decimal
    cogs_at_high: Decimal
    pmi_at_low: float
    pmi_at_high: float


class SensitivityReport(BaseModel):
    """Tornado of COGS (and PMI) per kg, largest COGS swing first."""

    name: str
    currency: str
    base_cogs_per_kg: Decimal
    base_pmi: float
    yield_change: float
    price_change: float
    bars: list[SensitivityBarReport]


class ComparisonRow(BaseModel):
    metric: str
    label: str
    unit: str
    better: str = Field(description="'lower' or 'higher'")
    values: list[float | None]
    best: list[int] = Field(description="indices of the routes best on this metric")


class ComparisonReport(BaseModel):
    """Routes side by side: their evaluations and, per metric, which is best."""

    routes: list[EvaluationReport]
    rows: list[ComparisonRow]
    currency: str


class AtomEconomyReport(BaseModel):
    reaction_smiles: str
    atom_economy_percent: float
    desired_product_smiles: str
    desired_product_formula: str
    product_weight_g_per_mol: float
    reactants_weight_g_per_mol: float
    reactants: list[str]
    byproducts: list[str]


class RecipePlanStep(BaseModel):
    operation: str
    equipment_class: str
    duration_hours: Decimal
    yield_fraction: Decimal
    runs_per_batch: float = Field(description="batches of this step one final batch needs")


class RecipePlanLine(BaseModel):
    material_name: str
    quantity_per_batch_kg: Decimal


class RecipePlan(BaseModel):
    """A route as a plant recipe: steps in running order and raw materials per batch (kg)."""

    batch_size_kg: Decimal = Field(description="output before yields (output ÷ Π step yields)")
    output_per_batch_kg: Decimal
    steps: list[RecipePlanStep]
    bom: list[RecipePlanLine]
