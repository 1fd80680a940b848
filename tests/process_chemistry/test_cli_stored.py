"""``opencxo chem import|routes|export|materials|choose`` through Typer's runner, against the test
database, acting as the chemistry world's people."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from opencxo.cli import app
from tests.process_chemistry.conftest import ASPIRIN_COGS, ChemWorld, amide_route, aspirin_route

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("cli_database")


def chem_cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["chem", *args])
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_import_list_export_and_choose(chem: ChemWorld, tmp_path: Path) -> None:
    chemist = chem.emails["chemist"]
    aspirin = write(tmp_path / "aspirin.yaml", aspirin_route())
    code, out, err = chem_cli("import", str(aspirin), "--as", chemist, "--product", "ASP")
    assert code == 0, err
    assert out.strip() == (
        "stored route 'Aspirin via Kolbe-Schmitt' making ASP: 2 steps (LLS 2), PMI 13.15 kg/kg, "
        "COGS 26.92 USD/kg"
    )
    amide = write(tmp_path / "amide.yaml", amide_route())
    code, out, err = chem_cli("import", str(amide), "--as", chemist, "--json")
    assert code == 0, err
    assert json.loads(out)["step_count"] == 3

    code, out, _ = chem_cli("routes", "--as", chem.emails["viewer"], "--json")
    assert code == 0
    routes = json.loads(out)
    assert (routes[0]["name"], Decimal(routes[0]["cogs_per_kg"])) == (
        "Aspirin via Kolbe-Schmitt", ASPIRIN_COGS,
    )  # fmt: skip
    code, out, _ = chem_cli("routes", "--as", chem.emails["viewer"])
    assert out.splitlines()[0].startswith("Aspirin via Kolbe-Schmitt")

    code, out, _ = chem_cli("materials", "--as", chem.emails["viewer"], "--json")
    assert code == 0 and len(json.loads(out)) == 14
    code, out, _ = chem_cli("materials", "--as", chem.emails["viewer"])
    assert "Toluene                      1.9 USD/kg, used by 2 route(s)" in out.splitlines()

    target = tmp_path / "out" / "exported.json"
    target.parent.mkdir()
    code, out, err = chem_cli("export", "Aspirin via Kolbe-Schmitt", "--as", chemist,
                              "--format", "json", "--output", str(target))  # fmt: skip
    assert code == 0, err
    exported = json.loads(target.read_text(encoding="utf-8"))
    assert exported["name"] == "Aspirin via Kolbe-Schmitt" and len(exported["materials"]) == 6
    code, out, _ = chem_cli("export", "Aspirin via Kolbe-Schmitt", "--as", chemist)
    assert yaml.safe_load(out)["steps"][0]["id"] == "S1"

    code, out, err = chem_cli("choose", "Aspirin via Kolbe-Schmitt", "--plant", "main plant",
                              "--as", chemist)  # fmt: skip
    assert code == 0, err
    assert out.strip() == (
        "chose 'Aspirin via Kolbe-Schmitt' for ASP: created its recipe at Main plant, batch "
        "208.333 kg, output 149.99976 kg, 2 steps, 6 materials"
    )
    code, out, err = chem_cli("choose", "Aspirin via Kolbe-Schmitt", "--plant", "Main plant",
                              "--as", chemist, "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["recipe_replaced"] is True


def test_mistakes_are_one_line_and_exit_1(chem: ChemWorld, tmp_path: Path) -> None:
    chemist = chem.emails["chemist"]
    code, _, err = chem_cli("export", "No such route", "--as", chemist)
    assert (code, err.strip()) == (
        1,
        "error: no route named 'No such route'; see 'opencxo chem routes'",
    )
    code, _, err = chem_cli("routes", "--as", "nobody@test.example")
    assert (code, err.strip()) == (
        1,
        "error: --as nobody@test.example: no active user with that email",
    )
    aspirin = write(tmp_path / "aspirin.yaml", aspirin_route())
    code, _, err = chem_cli("import", str(aspirin), "--as", chem.emails["viewer"])
    assert (code, err.strip()) == (
        1, "error: you need chemistry:write in an organisation to keep materials and routes",
    )  # fmt: skip
    code, _, err = chem_cli("import", str(aspirin), "--as", chemist, "--product", "NOPE")
    assert (code, err.strip()) == (1, "error: no product coded 'NOPE'")
    code, _, _ = chem_cli("import", str(aspirin), "--as", chemist)
    assert code == 0
    code, _, err = chem_cli("choose", "Aspirin via Kolbe-Schmitt", "--plant", "Main plant",
                            "--as", chemist)  # fmt: skip
    assert code == 1
    assert err.startswith("error: route 'Aspirin via Kolbe-Schmitt' makes no product yet")
    bad = aspirin_route()
    bad["steps"][0]["yield_fraction"] = 1.5
    code, _, err = chem_cli("import", str(write(tmp_path / "bad.yaml", bad)), "--as", chemist)
    assert code == 1 and "steps.0.yield_fraction: yield_fraction must be in (0, 1]" in err
    deep = tmp_path / "deep.yaml"
    deep.write_bytes(b"[" * 5000 + b"]" * 5000)
    code, _, err = chem_cli("import", str(deep), "--as", chemist)
    assert code == 1 and err.startswith("error: deep.yaml is too deeply nested to read")
    assert len(err.strip().splitlines()) == 1
    not_utf8 = tmp_path / "utf16.yaml"
    not_utf8.write_bytes(b"\xff\xfe")
    code, _, err = chem_cli("import", str(not_utf8), "--as", chemist)
    assert (code, err.strip()) == (1, "error: utf16.yaml is not UTF-8 text; save it as UTF-8")
