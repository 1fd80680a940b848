"""``opencxo chem`` file commands run as a real process (no database needed).

The validation cases of ``shared/reference/green-chemistry.md`` come out of the route files in
``docs/examples/routes`` — structures, not constants.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROUTES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "routes"
BOOTS = ROUTES / "ibuprofen-boots.yaml"
BHC = ROUTES / "ibuprofen-bhc.yaml"
CONVERGENT = ROUTES / "convergent-pmi-example.yaml"

# Textbook molecular weights (IUPAC atomic weights C 12.011, H 1.008, O 15.999, N 14.007,
# Cl 35.453, Na 22.990) — independent of RDKit.
IBUPROFEN = 13 * 12.011 + 18 * 1.008 + 2 * 15.999  # C13H18O2
BOOTS_REACTANTS = (
    (10 * 12.011 + 14 * 1.008)  # isobutylbenzene C10H14
    + (4 * 12.011 + 6 * 1.008 + 3 * 15.999)  # acetic anhydride C4H6O3
    + (4 * 12.011 + 7 * 1.008 + 35.453 + 2 * 15.999)  # ethyl chloroacetate C4H7ClO2
    + (2 * 12.011 + 5 * 1.008 + 15.999 + 22.990)  # sodium ethoxide C2H5ONa
    + (3 * 1.008 + 15.999)  # H3O+
    + (14.007 + 3 * 1.008 + 15.999)  # hydroxylamine NH2OH
    + 2 * (2 * 1.008 + 15.999)  # 2 H2O
)
BHC_REACTANTS = (
    (10 * 12.011 + 14 * 1.008)
    + (4 * 12.011 + 6 * 1.008 + 3 * 15.999)
    + 2 * 1.008  # H2
    + (12.011 + 15.999)  # CO
)
ACETIC_ACID = 2 * 12.011 + 4 * 1.008 + 2 * 15.999


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "chem", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def run_json(*args: str) -> dict[str, object]:
    result = run(*args, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_atom_economy_of_a_reaction_smiles() -> None:
    # BHC step 1 alone: ketone C12H16O over isobutylbenzene + acetic anhydride.
    data = run_json("atom-economy", "CC(C)Cc1ccccc1.CC(=O)OC(C)=O>F>CC(C)Cc1ccc(C(C)=O)cc1.CC(=O)O")
    ketone = 12 * 12.011 + 16 * 1.008 + 15.999
    reactants = (10 * 12.011 + 14 * 1.008) + (4 * 12.011 + 6 * 1.008 + 3 * 15.999)
    assert data["atom_economy_percent"] == pytest.approx(100 * ketone / reactants, abs=0.01)
    assert data["desired_product_formula"] == "C12H16O"
    assert data["byproducts"] == ["CC(=O)O"]


def test_boots_route_atom_economy_is_40_percent_from_structures() -> None:
    data = run_json("evaluate", str(BOOTS))
    assert data["atom_economy_percent"] == pytest.approx(40.0, abs=0.5)
    assert data["atom_economy_percent"] == pytest.approx(
        100 * IBUPROFEN / BOOTS_REACTANTS, abs=0.01
    )
    assert data["longest_linear_sequence"] == 6
    assert data["step_count"] == 6


def test_bhc_route_atom_economy_is_77_percent_and_100_with_the_acetic_acid() -> None:
    data = run_json("evaluate", str(BHC))
    assert data["atom_economy_percent"] == pytest.approx(77.4, abs=0.5)
    assert data["atom_economy_percent"] == pytest.approx(100 * IBUPROFEN / BHC_REACTANTS, abs=0.01)
    assert data["atom_economy_with_recovery_percent"] == pytest.approx(
        100 * (IBUPROFEN + ACETIC_ACID) / BHC_REACTANTS, abs=0.01
    )
    assert data["atom_economy_with_recovery_percent"] == pytest.approx(100.0, abs=0.5)
    assert data["overall_yield"] == pytest.approx(0.95 * 0.98 * 0.96)


def test_convergent_worked_example_gives_pmi_27() -> None:
    data = run_json("evaluate", str(CONVERGENT))
    assert data["pmi"] == pytest.approx(27.0, rel=1e-12)
    assert data["e_factor"] == pytest.approx(26.0, rel=1e-12)
    assert data["longest_linear_sequence"] == 3
    assert data["overall_yield"] == 1.0
    assert data["cogs_per_kg"] == 27.0  # 1 USD per kg of raw material, no conversion cost
    cumulative = {s["id"]: s["pmi_cumulative"] for s in data["steps"]}  # type: ignore[attr-defined]
    assert cumulative == pytest.approx({"A1": 10.0, "B1": 10.0, "B2": 15.2, "C": 27.0})
    # 8 kg of API take 27 × 8 = 216 kg of raw materials (the table's 50 + 40 + 36 + 90).
    (need,) = data["materials"]  # type: ignore[misc]
    assert need["kg_for_production"] == pytest.approx(216.0)


def test_evaluate_prints_every_figure_the_issue_names() -> None:
    data = run_json("evaluate", str(BHC), "--production-kg", "250")
    for key in (
        "pmi",
        "e_factor",
        "atom_economy_percent",
        "overall_yield",
        "longest_linear_sequence",
        "cogs_per_kg",
    ):
        assert isinstance(data[key], int | float), key
    assert data["production_kg"] == 250.0


def test_compare_marks_the_better_route_on_each_metric() -> None:
    data = run_json("compare", str(BOOTS), str(BHC))
    rows = {row["metric"]: row for row in data["rows"]}  # type: ignore[attr-defined]
    assert rows["atom_economy_percent"]["best"] == [1]
    assert rows["step_count"]["values"] == [6.0, 3.0]
    assert rows["step_count"]["best"] == [1]
    assert [r["name"] for r in data["routes"]] == [  # type: ignore[attr-defined]
        "Ibuprofen — Boots (1960s)",
        "Ibuprofen — BHC (1992)",
    ]


def test_sensitivity_lists_each_yield_and_price() -> None:
    data = run_json("sensitivity", str(CONVERGENT), "--yield-change", "0.1")
    bars = data["bars"]
    assert {(b["kind"], b["key"]) for b in bars} == {  # type: ignore[attr-defined]
        ("yield", "A1"),
        ("yield", "B1"),
        ("yield", "B2"),
        ("yield", "C"),
        ("price", "raw materials"),
    }
    # Yields of 1 cannot go higher; the final step at 0.9 scales everything by 1/0.9.
    final = next(b for b in bars if b["key"] == "C")  # type: ignore[attr-defined]
    assert final["high_value"] == 1.0
    assert final["pmi_at_low"] == pytest.approx(27.0 / 0.9)
    # ±20 % on the only price moves COGS by ±20 %; it is the biggest bar (5.4 each side).
    assert bars[0]["key"] == "raw materials"  # type: ignore[index]
    assert bars[0]["cogs_at_high"] == pytest.approx(27.0 * 1.2)  # type: ignore[index]


def test_schema_is_the_json_schema_of_a_route_file() -> None:
    result = run("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["title"] == "RouteFile"
    assert {"materials", "steps", "currency"} <= set(schema["properties"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["steps"][0].update(yield_fraction=1.2), "yield_fraction must be in (0, 1]"),
        (
            lambda d: d["steps"][1]["inputs"][0].update(intermediate="nope"),
            "step 'hydrogenation': no step 'nope' makes this input",
        ),
        (
            lambda d: d["materials"][0].update(smiles="C1CC"),
            "'C1CC' is not a valid SMILES",
        ),
        (
            lambda d: d["steps"][1].update(
                reaction_smiles="CC(C)Cc1ccc(C(C)=O)cc1.[H][H]>>CC(O)c1ccc(CC(C)C)cc1.O"
            ),
            "step 'hydrogenation': the reaction is not balanced",
        ),
    ],
)
def test_bad_routes_are_refused_with_the_step_named(
    tmp_path: Path, change: object, message: str
) -> None:
    data = yaml.safe_load(BHC.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run("evaluate", str(path), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_input_says_what_to_fix(tmp_path: Path) -> None:
    missing = run("evaluate", str(tmp_path / "none.yaml"))
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr
    not_reaction = run("atom-economy", "CCO")
    assert not_reaction.returncode == 1
    assert "write reactants>>products" in not_reaction.stderr
    one = run("compare", str(BHC))
    assert one.returncode == 1
    assert "at least two routes" in one.stderr
    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text(BOOTS.read_text(encoding="utf-8").replace('"NO"', "NO"), encoding="utf-8")
    result = run("evaluate", str(unquoted))
    assert result.returncode == 1
    assert 'put the SMILES in quotes, e.g. "NO"' in result.stderr


TOO_DEEP = b"[" * 5000 + b"]" * 5000  # about 10 KB, too deep for any parser


@pytest.mark.parametrize(
    ("args", "name", "content", "message"),
    [
        (("evaluate",), "deep.yaml", TOO_DEEP, "deep.yaml is too deeply nested to read"),
        (("evaluate", "--json"), "deep.json", TOO_DEEP, "deep.json is too deeply nested to read"),
        (("compare", str(BHC)), "deep.yaml", TOO_DEEP, "deep.yaml is too deeply nested to read"),
        (("sensitivity",), "deep.yaml", TOO_DEEP, "deep.yaml is too deeply nested to read"),
        (
            ("evaluate",),
            "utf16.yaml",
            b"\xff\xfe",
            "utf16.yaml is not UTF-8 text; save it as UTF-8",
        ),
    ],
)
def test_a_too_deep_or_non_utf8_file_is_one_line_and_exit_1(
    tmp_path: Path, args: tuple[str, ...], name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = run(*args, str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}")


def _largest_price_amount_and_smallest_yield(route: dict[str, Any]) -> None:
    """Isobutylbenzene at the largest price a file accepts, charged at the largest number of
    equivalents, in a step at the smallest yield: each value within its limit."""
    route["materials"][0]["price_per_kg"] = "999999999.999999"
    route["steps"][0]["yield_fraction"] = "0.000001"
    route["steps"][0]["inputs"][0]["equivalents"] = "999999999.999999"


@pytest.mark.parametrize("command", ["evaluate", "sensitivity"])
def test_a_cost_no_route_can_keep_is_refused_naming_the_step(tmp_path: Path, command: str) -> None:
    """It was a traceback (the cost of 100 kg, 10²⁶, could not be rounded to 1/100 of a cent)."""
    data = yaml.safe_load(BHC.read_text(encoding="utf-8"))
    _largest_price_amount_and_smallest_yield(data)
    path = tmp_path / "corner.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run(command, str(path), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "error: Ibuprofen — BHC (1992): step 'acylation' would cost 7.62e+23 USD per kg of its "
        "product (raw materials 7.62e+23, conversion 0.00): a cost per kg must stay below "
        "1,000,000,000,000 USD; lower a price or an amount (kg_per_kg, litres_per_kg, "
        "equivalents) of its inputs, or correct its yield_fraction (0.000001): amounts in "
        "equivalents are divided by it"
    )
    assert "Traceback" not in result.stderr
