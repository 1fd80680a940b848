"""``opencxo mfg plants|products|orders|order-create`` through Typer's runner, against the test
database, acting as the plant world's people."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from opencxo.cli import app
from tests.manufacturing.conftest import TODAY, PlantWorld

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("cli_database")


def mfg(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["mfg", *args])
    return result.exit_code, result.stdout, result.stderr


def test_plants_products_and_orders_as_json(plant: PlantWorld) -> None:
    code, out, _ = mfg("plants", "--as", plant.emails["viewer"], "--json")
    assert code == 0
    main = next(p for p in json.loads(out) if p["id"] == str(plant.plant_id))
    assert (main["name"], main["unit_count"]) == ("Main plant", 6)
    code, out, _ = mfg("products", "--as", plant.emails["sponsor"], "--json")
    assert code == 0 and sorted(p["code"] for p in json.loads(out)) == ["API-1", "INT-1", "TAB-1"]
    code, out, _ = mfg("orders", "--as", plant.emails["other_sponsor"], "--json")
    assert code == 0 and [o["number"] for o in json.loads(out)] == ["PO-B-1"]
    code, out, _ = mfg("orders", "--as", plant.emails["cdmo"], "--status", "cancelled", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = mfg("orders", "--as", plant.emails["cdmo"])
    assert code == 0 and out.splitlines()[0].startswith("PO-B-1") and "80 kg" in out


def test_order_create(plant: PlantWorld) -> None:
    due = (TODAY + timedelta(days=45)).isoformat()
    code, out, err = mfg("order-create", "--as", plant.emails["planner"], "--product", "API-1",
                         "--plant", "main plant", "--quantity", "160", "--due", due,
                         "--priority", "7", "--json")  # fmt: skip
    assert code == 0, err
    order = json.loads(out)
    year = datetime.now(UTC).year
    assert (order["number"], order["quantity"], order["priority"], order["sponsor_name"]) == (
        f"PO-{year}-001",
        "160",
        7,
        "Sponsor A Bio",
    )
    code, out, _ = mfg("orders", "--as", plant.emails["sponsor"], "--status", "open", "--json")
    assert sorted(o["number"] for o in json.loads(out)) == sorted(["PO-A-1", f"PO-{year}-001"])


def test_errors_are_one_line(plant: PlantWorld) -> None:
    due = (TODAY + timedelta(days=45)).isoformat()
    base = ("order-create", "--plant", str(plant.plant_id), "--quantity", "10", "--due", due)
    code, _, err = mfg(*base, "--as", plant.emails["viewer"], "--product", "API-1")
    assert code == 1 and err.startswith("error: your role does not grant manufacturing:write")
    code, _, err = mfg(*base, "--as", plant.emails["other_sponsor"], "--product", "API-1")
    assert code == 1 and err.strip() == "error: no product coded 'API-1'"
    code, _, err = mfg(*base, "--as", "nobody@test.example", "--product", "API-1")
    assert code == 1 and "no active user with that email" in err
    code, _, err = mfg("order-create", "--as", plant.emails["cdmo"], "--product", "API-1",
                       "--plant", "Main plant", "--quantity", "10", "--due", "soon")  # fmt: skip
    assert code == 1 and "--due 'soon' is not a date" in err
    code, _, err = mfg("orders", "--as", plant.emails["cdmo"], "--status", "late")
    assert code == 1 and "--status late: use one of open" in err
    assert "Traceback" not in err
