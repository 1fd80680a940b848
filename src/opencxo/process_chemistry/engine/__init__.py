"""Pure numerics of process chemistry (RDKit, NumPy): structures, atom economy, route metrics.

:mod:`.molecules` reads SMILES and reaction SMILES (weights, formulas, atom economy, SVG);
:mod:`.route` evaluates a route — a tree of steps — for convergent PMI, E-factor, net atom economy,
overall yield, longest linear sequence, cost of goods, raw-material needs and sensitivity.
"""

from .molecules import (
    AtomEconomy,
    ChemistryError,
    Molecule,
    Reaction,
    atom_economy,
    depict_svg,
    molecule,
    reaction,
)
from .route import (
    Material,
    MaterialNeed,
    MaterialQuantity,
    PlannedStep,
    RecipePlan,
    Role,
    Route,
    RouteError,
    RouteResult,
    Sensitivity,
    SensitivityBar,
    Step,
    StepInput,
    StepResult,
    evaluate,
    recipe_plan,
    requirements,
    sensitivity,
)

__all__ = [
    "AtomEconomy",
    "ChemistryError",
    "Material",
    "MaterialNeed",
    "MaterialQuantity",
    "Molecule",
    "PlannedStep",
    "Reaction",
    "RecipePlan",
    "Role",
    "Route",
    "RouteError",
    "RouteResult",
    "Sensitivity",
    "SensitivityBar",
    "Step",
    "StepInput",
    "StepResult",
    "atom_economy",
    "depict_svg",
    "evaluate",
    "molecule",
    "reaction",
    "recipe_plan",
    "requirements",
    "sensitivity",
]
