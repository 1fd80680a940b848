"""Molecules and reactions from SMILES with RDKit: weights, formulas, atom economy, depictions.

Molecular weights are RDKit's average molecular weights (IUPAC standard atomic weights, implicit
hydrogens included), in g/mol. A reaction SMILES is ``reactants>agents>products``; molecules are
separated by ``.``, and a parenthesised group such as ``(CC[O-].[Na+])`` is one molecule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors, rdChemReactions, rdMolDescriptors
from rdkit.Chem.Draw import rdMolDraw2D


class ChemistryError(ValueError):
    """A structure or reaction that cannot be read or cannot be right; the message says which."""


@dataclass(frozen=True)
class Molecule:
    """One molecule (or one grouped salt) read from SMILES.

    Attributes
    ----------
    smiles : str
        RDKit's canonical SMILES, so two spellings of one structure compare equal.
    formula : str
        Hill formula with charge, e.g. ``C13H18O2``.
    molecular_weight_g_per_mol : float
        Average molecular weight, g/mol.
    atoms : tuple of (str, int)
        Element symbol and count, hydrogens included, sorted by symbol.
    """

    smiles: str
    formula: str
    molecular_weight_g_per_mol: float
    atoms: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Reaction:
    """A reaction SMILES split into molecules; the first product is the desired one."""

    reactants: tuple[Molecule, ...]
    agents: tuple[Molecule, ...]
    products: tuple[Molecule, ...]

    @property
    def desired_product(self) -> Molecule:
        return self.products[0]


@dataclass(frozen=True)
class AtomEconomy:
    """Trost's atom economy of one reaction.

    Attributes
    ----------
    atom_economy_percent : float
        ``100 · MW(desired product) / Σ MW(reactants)``.
    product_weight_g_per_mol : float
        MW of the desired product.
    reactants_weight_g_per_mol : float
        Σ MW of the reactants (each as often as it is written).
    """

    atom_economy_percent: float
    product_weight_g_per_mol: float
    reactants_weight_g_per_mol: float


@lru_cache(maxsize=4096)
def molecule(smiles: str) -> Molecule:
    """Read one molecule from SMILES.

    Parameters
    ----------
    smiles : str
        A SMILES string; ``.`` joins the ions of a salt into one entry.

    Returns
    -------
    Molecule

    Raises
    ------
    ChemistryError
        If the text is empty, RDKit cannot read or sanitise it, or its molecular weight is 0
        (dummy atoms ``*`` only: nothing to weigh).

    Examples
    --------
    >>> round(molecule("CC(C)Cc1ccc(C(C)C(=O)O)cc1").molecular_weight_g_per_mol, 2)
    206.29
    """
    text = smiles.strip()
    if not text:
        raise ChemistryError("the SMILES is empty")
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(text)
    if mol is None:
        raise ChemistryError(f"'{text}' is not a valid SMILES")
    return _from_mol(mol)


def _from_mol(parsed: Chem.Mol) -> Molecule:
    canonical = Chem.MolToSmiles(parsed)
    # Re-read the canonical SMILES so every spelling sums its weight in the same atom order.
    mol = Chem.MolFromSmiles(canonical)
    weight = float(Descriptors.MolWt(mol))  # type: ignore[attr-defined]
    if not weight > 0:
        # Every amount in moles divides by the weight: a structure of dummy atoms has none.
        raise ChemistryError(
            f"'{canonical}' has a molecular weight of 0 (only dummy atoms '*'); write the real "
            "structure"
        )
    with_hydrogens = Chem.AddHs(mol)
    counts = Counter(atom.GetSymbol() for atom in with_hydrogens.GetAtoms())
    return Molecule(
        smiles=canonical,
        formula=rdMolDescriptors.CalcMolFormula(mol),
        molecular_weight_g_per_mol=weight,
        atoms=tuple(sorted(counts.items())),
    )


@lru_cache(maxsize=4096)
def reaction(reaction_smiles: str) -> Reaction:
    """Read a reaction SMILES ``reactants>agents>products``.

    Raises
    ------
    ChemistryError
        If it has no ``>`` separators, no reactant or product, or a molecule that cannot be read.

    Examples
    --------
    >>> len(reaction("CC(=O)O.OCC>>CC(=O)OCC.O").products)
    2
    """
    text = reaction_smiles.strip()
    if text.count(">") != 2:
        raise ChemistryError(
            f"'{text}' is not a reaction SMILES: write reactants>>products "
            "(or reactants>agents>products)"
        )
    try:
        with rdBase.BlockLogs():
            parsed = rdChemReactions.ReactionFromSmarts(text, useSmiles=True)
    except ValueError as error:
        raise ChemistryError(f"'{text}' is not a valid reaction SMILES: {_reason(error)}") from None
    reactants = _templates(parsed.GetReactants(), "reactant")
    agents = _templates(parsed.GetAgents(), "agent")
    products = _templates(parsed.GetProducts(), "product")
    if not reactants:
        raise ChemistryError(f"'{text}' has no reactant left of '>>'")
    if not products:
        raise ChemistryError(f"'{text}' has no product right of '>>'")
    return Reaction(reactants=reactants, agents=agents, products=products)


def _reason(error: ValueError) -> str:
    return str(error).split(":", 1)[-1].strip()


def _templates(templates: Iterable[Chem.Mol], what: str) -> tuple[Molecule, ...]:
    molecules = []
    for position, template in enumerate(templates, start=1):
        template.UpdatePropertyCache(strict=False)
        smiles = Chem.MolToSmiles(template)
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            raise ChemistryError(f"{what} {position} ('{smiles}') is not a valid molecule")
        molecules.append(_from_mol(mol))
    return tuple(molecules)


def atom_economy(reaction_smiles: str) -> AtomEconomy:
    """Atom economy of a reaction SMILES: everything left of ``>>`` over the first product.

    Notes
    -----
    ``AE = 100 · MW(P₁) / Σᵢ MW(Rᵢ)``; agents (between the two ``>``: catalysts, solvents) are not
    reactants and do not count. A reactant written twice counts twice (``2 H₂O`` is ``O.O``).

    References
    ----------
    B. M. Trost, "The atom economy — a search for synthetic efficiency", Science 254 (1991) 1471.

    Examples
    --------
    >>> round(atom_economy("C=C.[H][H]>[Pd]>CC").atom_economy_percent, 1)
    100.0
    """
    parsed = reaction(reaction_smiles)
    return atom_economy_of(
        parsed.desired_product.molecular_weight_g_per_mol,
        [m.molecular_weight_g_per_mol for m in parsed.reactants],
    )


def atom_economy_of(product_weight: float, reactant_weights: list[float]) -> AtomEconomy:
    """Atom economy from the product's weight and each stoichiometric reactant's (g/mol)."""
    total = float(sum(reactant_weights))
    if total <= 0:
        raise ChemistryError("atom economy needs at least one stoichiometric reactant")
    return AtomEconomy(
        atom_economy_percent=100.0 * product_weight / total,
        product_weight_g_per_mol=product_weight,
        reactants_weight_g_per_mol=total,
    )


def element_counts(molecules: tuple[Molecule, ...] | list[Molecule]) -> Counter[str]:
    """Atoms by element over several molecules (hydrogens included)."""
    total: Counter[str] = Counter()
    for item in molecules:
        total.update(dict(item.atoms))
    return total


def format_counts(counts: Counter[str]) -> str:
    """``C12H16O`` style text of element counts (carbon, hydrogen, then alphabetical)."""
    order = sorted(counts, key=lambda symbol: (symbol != "C", symbol != "H", symbol))
    return "".join(f"{s}{counts[s] if counts[s] != 1 else ''}" for s in order if counts[s])


def depict_svg(smiles: str, *, width_px: int = 260, height_px: int = 180) -> str:
    """An SVG drawing of a molecule (or of every molecule of a reaction SMILES).

    Raises
    ------
    ChemistryError
        If the structure cannot be read, or the size is not between 50 and 2,000 pixels.
    """
    for name, value in (("width_px", width_px), ("height_px", height_px)):
        if not 50 <= value <= 2000:
            raise ChemistryError(f"{name} must be between 50 and 2000 pixels, got {value}")
    text = smiles.strip()
    drawer = rdMolDraw2D.MolDraw2DSVG(width_px, height_px)
    if ">" in text:
        with rdBase.BlockLogs():
            reaction(text)  # the clear message for a bad reaction
            parsed = rdChemReactions.ReactionFromSmarts(text, useSmiles=True)
        drawer.DrawReaction(parsed)
    else:
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(text)
        if mol is None:
            raise ChemistryError(f"'{text}' is not a valid SMILES")
        rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    return str(drawer.GetDrawingText())
