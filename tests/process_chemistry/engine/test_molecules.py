"""Molecules and reactions from SMILES: weights against IUPAC atomic weights, atom economy by hand."""

from __future__ import annotations

import re

import pytest
from numpy.testing import assert_allclose

from opencxo.process_chemistry.engine import (
    ChemistryError,
    Molecule,
    atom_economy,
    depict_svg,
    molecule,
    reaction,
)

# IUPAC standard atomic weights (conventional values), g/mol — independent of RDKit.
ATOMIC_WEIGHT = {
    "C": 12.011,
    "H": 1.008,
    "O": 15.999,
    "N": 14.007,
    "Cl": 35.453,
    "Na": 22.990,
    "Br": 79.904,
}


def formula_weight(formula: str) -> float:
    """Molecular weight of a formula such as ``C13H18O2`` from the IUPAC atomic weights."""
    parts = re.findall(r"([A-Z][a-z]?)(\d*)", formula)
    assert "".join(f"{e}{n}" for e, n in parts) == formula, formula
    return sum(ATOMIC_WEIGHT[e] * (int(n) if n else 1) for e, n in parts)


IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"


# --------------------------------------------------------------------------------------------
# molecule()
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("CCO", "OCC"),
        (IBUPROFEN, "OC(=O)C(C)c1ccc(cc1)CC(C)C"),
        (IBUPROFEN, "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O"),  # Kekulé spelling
        ("CC[O-].[Na+]", "[Na+].[O-]CC"),
    ],
)
def test_two_spellings_are_one_molecule(first: str, second: str) -> None:
    a, b = molecule(first), molecule(second)
    assert a.smiles == b.smiles
    assert a.formula == b.formula
    assert a.atoms == b.atoms
    # The weight is summed atom by atom in input order: equal up to rounding, not bit for bit.
    assert_allclose(a.molecular_weight_g_per_mol, b.molecular_weight_g_per_mol, rtol=1e-12)


def test_canonical_smiles_of_ethanol() -> None:
    assert molecule("OCC").smiles == "CCO"


def test_ibuprofen_weight_formula_and_atoms() -> None:
    ibuprofen = molecule(IBUPROFEN)
    assert isinstance(ibuprofen, Molecule)
    assert ibuprofen.formula == "C13H18O2"
    assert ibuprofen.atoms == (("C", 13), ("H", 18), ("O", 2))
    expected = 13 * 12.011 + 18 * 1.008 + 2 * 15.999  # 206.285
    assert_allclose(ibuprofen.molecular_weight_g_per_mol, expected, rtol=1e-9)
    assert round(ibuprofen.molecular_weight_g_per_mol, 2) in (206.28, 206.29)


@pytest.mark.parametrize(
    ("smiles", "formula", "atoms"),
    [
        ("CCO", "C2H6O", (("C", 2), ("H", 6), ("O", 1))),
        ("CC(=O)O", "C2H4O2", (("C", 2), ("H", 4), ("O", 2))),
        ("CC(=O)OC(C)=O", "C4H6O3", (("C", 4), ("H", 6), ("O", 3))),
        ("CC(C)Cc1ccccc1", "C10H14", (("C", 10), ("H", 14))),
        ("ClCC(=O)OCC", "C4H7ClO2", (("C", 4), ("Cl", 1), ("H", 7), ("O", 2))),
        ("CC[O-].[Na+]", "C2H5NaO", (("C", 2), ("H", 5), ("Na", 1), ("O", 1))),
        ("NO", "H3NO", (("H", 3), ("N", 1), ("O", 1))),
        ("CC(C#N)c1ccc(CC(C)C)cc1", "C13H17N", (("C", 13), ("H", 17), ("N", 1))),
        ("Brc1ccc(Br)nc1", "C5H3Br2N", (("Br", 2), ("C", 5), ("H", 3), ("N", 1))),
        ("O", "H2O", (("H", 2), ("O", 1))),
    ],
)
def test_formula_atoms_and_weight(
    smiles: str, formula: str, atoms: tuple[tuple[str, int], ...]
) -> None:
    made = molecule(smiles)
    assert made.formula == formula
    assert made.atoms == atoms
    assert_allclose(made.molecular_weight_g_per_mol, formula_weight(formula), rtol=1e-9)


@pytest.mark.parametrize(
    ("smiles", "formula", "atoms", "weight"),
    [
        ("[OH3+]", "H3O+", (("H", 3), ("O", 1)), 3 * 1.008 + 15.999),
        ("[H][H]", "H2", (("H", 2),), 2 * 1.008),
        ("[H+]", "H+", (("H", 1),), 1.008),
        ("[C-]#[O+]", "CO", (("C", 1), ("O", 1)), 12.011 + 15.999),
        ("[Na+].[Cl-]", "ClNa", (("Cl", 1), ("Na", 1)), 35.453 + 22.990),
    ],
)
def test_ions_and_explicit_hydrogens(
    smiles: str, formula: str, atoms: tuple[tuple[str, int], ...], weight: float
) -> None:
    made = molecule(smiles)
    assert made.formula == formula
    assert made.atoms == atoms
    assert_allclose(made.molecular_weight_g_per_mol, weight, rtol=1e-9)


@pytest.mark.parametrize("bad", ["C1CC", "foo", "C(C)(C)(C)(C)C", "c1cccc1"])
def test_invalid_smiles_names_the_text(bad: str) -> None:
    with pytest.raises(ChemistryError, match=re.escape(f"'{bad}' is not a valid SMILES")):
        molecule(bad)


def test_chemistry_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a valid SMILES"):
        molecule("C1CC")


@pytest.mark.parametrize("empty", ["", "   ", "\t\n"])
def test_empty_smiles(empty: str) -> None:
    with pytest.raises(ChemistryError, match="empty"):
        molecule(empty)


def test_surrounding_whitespace_is_ignored() -> None:
    assert molecule("  CCO \n").smiles == "CCO"


# --------------------------------------------------------------------------------------------
# reaction()
# --------------------------------------------------------------------------------------------


def test_reaction_splits_reactants_agents_products() -> None:
    parsed = reaction("CC(=O)O.OCC>OS(=O)(=O)O>CC(=O)OCC.O")
    assert [m.smiles for m in parsed.reactants] == ["CC(=O)O", "CCO"]
    assert [m.smiles for m in parsed.agents] == ["O=S(=O)(O)O"]
    assert [m.smiles for m in parsed.products] == ["CCOC(C)=O", "O"]
    assert parsed.desired_product == molecule("CCOC(C)=O")


@pytest.mark.parametrize("text", ["CCO", "CC>CC", "CC>>CC>>CC", "CC(=O)O.OCC"])
def test_not_a_reaction(text: str) -> None:
    with pytest.raises(ChemistryError, match="is not a reaction SMILES"):
        reaction(text)


def test_reaction_without_product() -> None:
    with pytest.raises(ChemistryError, match="has no product right of '>>'"):
        reaction("CC(=O)O.OCC>>")


def test_reaction_without_reactant() -> None:
    with pytest.raises(ChemistryError, match="has no reactant left of '>>'"):
        reaction(">>CCOC(C)=O")


def test_reaction_with_unreadable_molecule() -> None:
    with pytest.raises(ChemistryError, match=re.escape("C1CC")):
        reaction("C1CC.O>>CCC")


def test_reaction_with_impossible_valence() -> None:
    with pytest.raises(ChemistryError, match=r"product 1 .* is not a valid molecule"):
        reaction("CC>>C(C)(C)(C)(C)C")


def test_parenthesised_group_is_one_molecule() -> None:
    darzens = (
        "CC(=O)c1ccc(CC(C)C)cc1.ClCC(=O)OCC.(CC[O-].[Na+])"
        ">>CCOC(=O)C1OC1(C)c1ccc(CC(C)C)cc1.([Na+].[Cl-]).CCO"
    )
    parsed = reaction(darzens)
    assert len(parsed.reactants) == 3
    assert parsed.reactants[2].formula == "C2H5NaO"
    assert_allclose(parsed.reactants[2].molecular_weight_g_per_mol, formula_weight("C2H5NaO"))
    assert len(parsed.products) == 3
    assert parsed.products[1].atoms == (("Cl", 1), ("Na", 1))
    # Without the parentheses the ions are separate molecules.
    ungrouped = reaction("ClCC(=O)OCC.CC[O-].[Na+]>>CC")
    assert len(ungrouped.reactants) == 3


# --------------------------------------------------------------------------------------------
# atom_economy()
# --------------------------------------------------------------------------------------------

ACETIC_ACID = formula_weight("C2H4O2")  # 60.052
ETHANOL = formula_weight("C2H6O")  # 46.069
ETHYL_ACETATE = formula_weight("C4H8O2")  # 88.106


def test_esterification_atom_economy() -> None:
    result = atom_economy("CC(=O)O.OCC>>CC(=O)OCC.O")
    expected = 100 * ETHYL_ACETATE / (ACETIC_ACID + ETHANOL)
    assert_allclose(result.atom_economy_percent, expected, rtol=1e-9)
    assert_allclose(result.atom_economy_percent, 83.0241, atol=5e-4)
    assert_allclose(result.product_weight_g_per_mol, 88.106, rtol=1e-9)
    assert_allclose(result.reactants_weight_g_per_mol, 106.121, rtol=1e-9)


def test_agents_do_not_count() -> None:
    plain = atom_economy("CC(=O)O.OCC>>CC(=O)OCC.O")
    catalysed = atom_economy("CC(=O)O.OCC>OS(=O)(=O)O.c1ccccc1>CC(=O)OCC.O")
    assert_allclose(catalysed.atom_economy_percent, plain.atom_economy_percent, rtol=1e-12)
    assert_allclose(catalysed.reactants_weight_g_per_mol, ACETIC_ACID + ETHANOL, rtol=1e-9)


def test_water_written_twice_counts_twice() -> None:
    nitrile = formula_weight("C13H17N")
    water = formula_weight("H2O")
    ibuprofen = formula_weight("C13H18O2")
    twice = atom_economy(f"CC(C#N)c1ccc(CC(C)C)cc1.O.O>>{IBUPROFEN}.N")
    once = atom_economy(f"CC(C#N)c1ccc(CC(C)C)cc1.O>>{IBUPROFEN}")
    assert_allclose(twice.reactants_weight_g_per_mol, nitrile + 2 * water, rtol=1e-9)
    assert_allclose(twice.atom_economy_percent, 100 * ibuprofen / (nitrile + 2 * water), rtol=1e-9)
    assert_allclose(once.atom_economy_percent, 100 * ibuprofen / (nitrile + water), rtol=1e-9)


def test_addition_has_full_atom_economy() -> None:
    assert_allclose(atom_economy("C=C.[H][H]>[Pd]>CC").atom_economy_percent, 100.0, rtol=1e-12)


def test_first_product_is_the_desired_one() -> None:
    water_wanted = atom_economy("CC(=O)O.OCC>>O.CC(=O)OCC")
    expected = 100 * formula_weight("H2O") / (ACETIC_ACID + ETHANOL)
    assert_allclose(water_wanted.atom_economy_percent, expected, rtol=1e-9)


def test_atom_economy_of_a_bad_reaction() -> None:
    with pytest.raises(ChemistryError, match="not a reaction SMILES"):
        atom_economy("CCO")


# --------------------------------------------------------------------------------------------
# depict_svg()
# --------------------------------------------------------------------------------------------


def test_depict_molecule() -> None:
    svg = depict_svg(IBUPROFEN, width_px=300, height_px=120)
    assert "<svg" in svg
    assert svg.rstrip().endswith("</svg>")
    assert "width='300px'" in svg
    assert "height='120px'" in svg


def test_depict_reaction() -> None:
    svg = depict_svg("CC(=O)O.OCC>OS(=O)(=O)O>CC(=O)OCC.O")
    assert "<svg" in svg
    assert svg.rstrip().endswith("</svg>")
    # A reaction draws more than one of its molecules.
    assert len(svg) > len(depict_svg("CCO"))


@pytest.mark.parametrize(
    ("width", "height", "name"),
    [
        (49, 180, "width_px"),
        (2001, 180, "width_px"),
        (260, 49, "height_px"),
        (260, 5000, "height_px"),
    ],
)
def test_depict_rejects_bad_sizes(width: int, height: int, name: str) -> None:
    with pytest.raises(ChemistryError, match=f"{name} must be between 50 and 2000"):
        depict_svg("CCO", width_px=width, height_px=height)


def test_depict_accepts_the_size_limits() -> None:
    assert "<svg" in depict_svg("CCO", width_px=50, height_px=2000)


@pytest.mark.parametrize("bad", ["C1CC", "foo"])
def test_depict_rejects_bad_smiles(bad: str) -> None:
    with pytest.raises(ChemistryError, match=re.escape(f"'{bad}' is not a valid SMILES")):
        depict_svg(bad)


def test_depict_rejects_bad_reaction() -> None:
    with pytest.raises(ChemistryError, match="has no product"):
        depict_svg("CCO>>")


@pytest.mark.parametrize("dummy", ["*", "[*]", "[2*]", "*.*"])
def test_a_structure_of_dummy_atoms_has_no_weight_and_is_refused(dummy: str) -> None:
    with pytest.raises(ChemistryError, match=r"has a molecular weight of 0 \(only dummy atoms"):
        molecule(dummy)
    with pytest.raises(ChemistryError, match="has a molecular weight of 0"):
        reaction(f"{dummy}.CCO>>CCO")
    assert molecule("C*").molecular_weight_g_per_mol > 0  # an R group on a real atom weighs
