"""Values the API must refuse with a 422 saying what to fix, changing nothing — and stored values
it can no longer use, read back with a 422 instead of a 500 (QA findings on the demo).

SQLite keeps NUMERIC(18, 6) columns and JSON numbers as binary floating point (15 significant
digits): a route file's decimals are limited to 15 digits so that what is accepted reads back
unchanged (docs/decisions.md).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from opencxo.manufacturing.models import Recipe
from opencxo.process_chemistry.models import ChemMaterial, ChemRoute
from tests.process_chemistry.conftest import ChemWorld, amide_route, aspirin_route
from tests.process_chemistry.test_api import API, PROBLEM, errors_of, headers
from tests.web.conftest import login

BHC = Path(__file__).resolve().parents[2] / "docs" / "examples" / "routes" / "ibuprofen-bhc.yaml"
TOO_LONG = "999999999999.999999"  # 18 digits: SQLite reads it back as 1000000000000
LONGEST = "999999999.999999"  # 15 digits: exact


def ibuprofen_route() -> dict[str, Any]:
    route: dict[str, Any] = yaml.safe_load(BHC.read_text(encoding="utf-8"))
    return route


def counts(chem: ChemWorld) -> tuple[int, int]:
    chem.session.expire_all()
    return tuple(  # type: ignore[return-value]
        int(chem.session.execute(select(func.count()).select_from(m)).scalar_one())
        for m in (ChemRoute, ChemMaterial)
    )


def test_a_structure_without_weight_is_refused(client: TestClient, chem: ChemWorld) -> None:
    chemist = headers(chem, "chemist")
    route = ibuprofen_route()
    route["materials"][0]["smiles"] = "*"
    weightless = (
        "material 'isobutylbenzene': '*' has a molecular weight of 0 (only dummy atoms '*'); "
        "write the real structure"
    )

    evaluated = client.post(f"{API}/chem/evaluate", json=route, headers=chemist)
    assert evaluated.status_code == 422, evaluated.text
    assert evaluated.headers["content-type"] == PROBLEM
    assert evaluated.json()["detail"] == f"Ibuprofen — BHC (1992): {weightless}"
    assert errors_of(evaluated.json()) == {"route": weightless}

    stored = client.post(f"{API}/chem/routes", json={"route": route}, headers=chemist)
    assert stored.status_code == 422, stored.text
    assert errors_of(stored.json()) == {"route.materials.0.smiles": weightless}

    material = client.post(f"{API}/chem/materials", headers=chemist,
                           json={"name": "Dummy", "smiles": "[2*]", "price_per_kg": "1"})  # fmt: skip
    assert material.status_code == 422, material.text
    assert errors_of(material.json()) == {
        "smiles": "'[2*]' has a molecular weight of 0 (only dummy atoms '*'); write the real "
        "structure"
    }
    assert counts(chem) == (0, 0)


def test_decimals_beyond_fifteen_digits_are_refused(client: TestClient, chem: ChemWorld) -> None:
    chemist = headers(chem, "chemist")
    cases: list[tuple[str, list[str | int]]] = [
        ("route.production_kg", ["production_kg"]),
        ("route.materials.0.price_per_kg", ["materials", 0, "price_per_kg"]),
        ("route.materials.4.density_kg_per_l", ["materials", 4, "density_kg_per_l"]),
        ("route.equipment_rates.reactor", ["equipment_rates", "reactor"]),
        ("route.steps.0.batch_output_kg", ["steps", 0, "batch_output_kg"]),
    ]
    for field, path in cases:
        route = aspirin_route()
        holder: Any = route
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = TOO_LONG
        refused = client.post(f"{API}/chem/routes", json={"route": route}, headers=chemist)
        assert refused.status_code == 422, (field, refused.text)
        assert errors_of(refused.json()) == {
            field: "Decimal input should have no more than 15 digits in total"
        }
    whole = aspirin_route()
    whole["production_kg"] = "1000000000000"
    refused = client.post(f"{API}/chem/routes", json={"route": whole}, headers=chemist)
    assert refused.status_code == 422
    assert errors_of(refused.json()) == {
        "route.production_kg": "Decimal input should have no more than 9 digits before the "
        "decimal point"
    }
    material = client.post(f"{API}/chem/materials", headers=chemist,
                           json={"name": "Gold", "price_per_kg": TOO_LONG})  # fmt: skip
    assert material.status_code == 422
    assert errors_of(material.json()) == {
        "price_per_kg": "Decimal input should have no more than 15 digits in total"
    }
    assert counts(chem) == (0, 0)


def test_fifteen_digits_read_back_exactly(client: TestClient, chem: ChemWorld) -> None:
    chemist = headers(chem, "chemist")
    route = aspirin_route()
    route["production_kg"] = LONGEST
    route["materials"][0]["price_per_kg"] = LONGEST
    made = client.post(f"{API}/chem/routes", headers=chemist, json={
        "route": route, "product_id": str(chem.products["ASP"])})  # fmt: skip
    assert made.status_code == 201, made.text
    route_id = made.json()["id"]
    read = client.get(f"{API}/chem/routes/{route_id}", headers=chemist)
    assert read.status_code == 200 and read.json()["spec"]["production_kg"] == LONGEST
    phenol = client.get(f"{API}/chem/materials", headers=chemist, params={"q": "Phenol"})
    assert phenol.json()["items"][0]["price_per_kg"] == LONGEST
    other = client.post(f"{API}/chem/routes", headers=chemist, json={"route": amide_route()})
    assert other.status_code == 201
    for path in ("evaluation", "sensitivity", "export"):
        answer = client.get(f"{API}/chem/routes/{route_id}/{path}", headers=chemist)
        assert answer.status_code == 200, (path, answer.text)
    compared = client.post(f"{API}/chem/routes/compare", headers=chemist,
                           json={"route_ids": [route_id, other.json()["id"]]})  # fmt: skip
    assert compared.status_code == 200, compared.text
    chosen = client.post(f"{API}/chem/routes/{route_id}/choose", headers=chemist,
                         json={"plant_id": str(chem.plant_id), "version": 1})  # fmt: skip
    assert chosen.status_code == 200, chosen.text


def _all_refused(
    client: TestClient, who: dict[str, str], route_id: str, paths: tuple[str, ...], detail: str
) -> None:
    """Each of the route's ``paths`` answers 422 with ``detail``."""
    for path in paths:
        answer = client.get(f"{API}/chem/routes/{route_id}{path}", headers=who)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["detail"] == detail


def test_stored_values_out_of_range_answer_what_to_fix(client: TestClient, chem: ChemWorld) -> None:
    """Values stored before the limit (SQLite rounded them to 1e12) give a 422, not a 500."""
    # ten digits before the point: over the limit, yet exact in NUMERIC(18, 6) on every backend
    # (PostgreSQL refuses 1e12 itself)
    TOO_BIG = 1_234_567_890  # noqa: N806
    chemist = headers(chem, "chemist")
    made = client.post(f"{API}/chem/routes", headers=chemist, json={
        "route": aspirin_route(), "product_id": str(chem.products["ASP"])})  # fmt: skip
    other = client.post(f"{API}/chem/routes", headers=chemist, json={"route": amide_route()})
    assert made.status_code == 201 and other.status_code == 201
    route_id, other_id = made.json()["id"], other.json()["id"]
    chem.session.execute(
        update(ChemMaterial).where(ChemMaterial.name == "Phenol").values(price_per_kg=TOO_BIG)
    )
    chem.session.commit()

    phenol = (
        "material 'Phenol' holds values a route cannot use (price_per_kg is 1234567890: "
        "Decimal input should have no more than 9 digits before the decimal point); correct it "
        "in the material library"
    )
    _all_refused(client, chemist, route_id, ("/evaluation", "/sensitivity", "/export"), phenol)
    compared = client.post(f"{API}/chem/routes/compare", headers=chemist,
                           json={"route_ids": [route_id, other_id]})  # fmt: skip
    assert compared.status_code == 422 and compared.json()["detail"] == phenol
    chosen = client.post(f"{API}/chem/routes/{route_id}/choose", headers=chemist,
                         json={"plant_id": str(chem.plant_id), "version": 1})  # fmt: skip
    assert chosen.status_code == 422 and chosen.json()["detail"] == phenol
    listed = client.get(f"{API}/chem/materials", headers=chemist, params={"q": "Phenol"})
    assert listed.status_code == 200
    assert listed.json()["items"][0]["used_by"] == ["Aspirin via Kolbe-Schmitt"]
    login(client, chem.emails["chemist"])
    web_page = client.get(f"/chem/routes/{route_id}")
    assert web_page.status_code == 422 and "correct it in the material library" in web_page.text

    # correcting the material makes the route usable again
    material_id = listed.json()["items"][0]["id"]
    fixed = client.patch(f"{API}/chem/materials/{material_id}", headers=chemist,
                         json={"version": 1, "price_per_kg": "2.00"})  # fmt: skip
    assert fixed.status_code == 200, fixed.text
    again = client.get(f"{API}/chem/routes/{route_id}/evaluation", headers=chemist)
    assert again.status_code == 200

    # a route spec kept with production_kg rounded to 1e12 (a JSON float); the change of
    # Phenol re-evaluated the route (version 2)
    row = chem.session.get(ChemRoute, uuid.UUID(route_id))
    assert row is not None
    chem.session.execute(
        update(ChemRoute)
        .where(ChemRoute.id == row.id)
        .values(spec={**row.spec, "production_kg": 1e12})
    )
    chem.session.commit()
    spec = (
        "stored route 'Aspirin via Kolbe-Schmitt' holds values a route cannot use (production_kg "
        "is 1000000000000: Decimal input should have no more than 9 digits before the decimal "
        "point); save the route again with those values corrected"
    )
    _all_refused(client, chemist, route_id, ("", "/evaluation", "/export"), spec)
    assert client.get(f"{API}/chem/materials", headers=chemist).status_code == 200
    replaced = client.put(f"{API}/chem/routes/{route_id}", headers=chemist, json={
        "version": 2, "route": aspirin_route(), "product_id": str(chem.products["ASP"])})  # fmt: skip
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["spec"]["production_kg"] == "100"


def test_an_input_charged_twice_in_a_step_is_refused(client: TestClient, chem: ChemWorld) -> None:
    chemist = headers(chem, "chemist")
    route = aspirin_route()
    route["steps"][0]["inputs"].append(dict(route["steps"][0]["inputs"][2]))  # toluene again
    twice = (
        "Value error, material 'Toluene' as solvent is charged twice in this step; state it once "
        "with the total amount"
    )
    evaluated = client.post(f"{API}/chem/evaluate", json=route, headers=chemist)
    assert evaluated.status_code == 422
    assert errors_of(evaluated.json()) == {"steps.0.inputs": twice}
    stored = client.post(f"{API}/chem/routes", json={"route": route}, headers=chemist)
    assert stored.status_code == 422
    assert errors_of(stored.json()) == {"route.steps.0.inputs": twice}
    assert counts(chem) == (0, 0)

    intermediate = aspirin_route()
    intermediate["steps"][1]["inputs"].append(
        {"intermediate": "S1", "role": "reagent", "kg_per_kg": "0.1"}
    )
    refused = client.post(f"{API}/chem/evaluate", json=intermediate, headers=chemist)
    assert errors_of(refused.json()) == {
        "steps.1.inputs": "Value error, intermediate 'S1' is charged twice in this step; state it "
        "once with the total amount"
    }
    # one material in two roles is two charges (methanol as reactant and as solvent)
    two_roles = aspirin_route()
    two_roles["steps"][1]["inputs"].append({"material": "Toluene", "role": "work-up",
                                            "kg_per_kg": "1"})  # fmt: skip
    assert client.post(f"{API}/chem/evaluate", json=two_roles, headers=chemist).status_code == 200


# --- figures past what can be kept: the largest accepted inputs multiplied --------------------

TINY = "0.000001"  # the smallest yield (and batch output) a route file accepts


def costly_route(*, price: str = "1", **step: Any) -> dict[str, Any]:
    """One step making methyl ethyl ether from priced ethanol (1 kg per kg unless ``step`` says
    otherwise), the reactor at the largest accepted rate, 1 kg to produce."""
    charge = {"material": "Ethanol", "role": "reagent", "kg_per_kg": "1"}
    charge.update(step.pop("charge", {}))
    return {
        "format": "opencxo-route/1", "name": "Costly ether", "currency": "USD",
        "production_kg": "1", "equipment_rates": {"reactor": LONGEST},
        "materials": [{"name": "Ethanol", "smiles": "CCO", "price_per_kg": price}],
        "steps": [{"id": "S1", "product_smiles": "CCOC", "yield_fraction": "1",
                   "inputs": [charge], **step}],
    }  # fmt: skip


RAISE_AMOUNTS = "lower a price or an amount (kg_per_kg, litres_per_kg, equivalents) of its inputs"
CONVERSION = (
    "shorten a cycle_time_h, raise a batch_output_kg or lower an equipment rate (a conversion "
    "cost per kg is cycle time × rate ÷ batch output, here and in the steps whose products it "
    "charges)"
)


def test_costs_past_what_can_be_kept_are_refused_naming_the_step(
    client: TestClient, chem: ChemWorld
) -> None:
    """The largest price × the largest amount ÷ the smallest yield (or a cycle time × rate ÷
    the smallest batch) is each input within its limit, and a COGS of 10²⁴ per kg: it was a
    500 (the Decimal could not be rounded to 1/100 of a cent) or, just past 10¹², a COGS that
    SQLite kept as a float and PostgreSQL's NUMERIC(18, 6) could not hold. Now a 422 naming the
    step and what to change, with nothing stored; 10¹² less 1/100 of a cent is still kept."""
    chemist = headers(chem, "chemist")
    cost_ceiling = "a cost per kg must stay below 1,000,000,000,000 USD"
    cases = {
        "equivalents": (
            costly_route(
                price=LONGEST,
                yield_fraction=TINY,
                charge={"kg_per_kg": None, "equivalents": LONGEST},
            ),
            f"step 'S1' would cost 7.67e+23 USD per kg of its product (raw materials 7.67e+23, "
            f"conversion 0.00): {cost_ceiling}; {RAISE_AMOUNTS}, or correct its yield_fraction "
            "(0.000001): amounts in equivalents are divided by it",
        ),
        "conversion": (
            costly_route(cycle_time_h=LONGEST, batch_output_kg=TINY, equipment_class="reactor"),
            f"step 'S1' would cost 1e+24 USD per kg of its product (raw materials 1.00, "
            f"conversion 1e+24): {cost_ceiling}; {CONVERSION}",
        ),
        "just past 10¹²": (
            costly_route(price=LONGEST, charge={"kg_per_kg": "1000.001"}),
            "step 'S1' would cost 1,000,001,000,000.00 USD per kg of its product (raw materials "
            f"1,000,001,000,000.00, conversion 0.00): {cost_ceiling}; {RAISE_AMOUNTS}",
        ),
    }
    for case, (route, message) in cases.items():
        evaluated = client.post(f"{API}/chem/evaluate", json=route, headers=chemist)
        assert evaluated.status_code == 422, (case, evaluated.text)
        assert evaluated.headers["content-type"] == PROBLEM
        assert evaluated.json()["detail"] == f"Costly ether: {message}", case
        assert errors_of(evaluated.json()) == {"steps.S1": message}, case
        tornado = client.post(f"{API}/chem/sensitivity", json=route, headers=chemist)
        assert tornado.status_code == 422, (case, tornado.text)
        assert errors_of(tornado.json()) == {"steps.S1": message}, case
        stored = client.post(f"{API}/chem/routes", json={"route": route}, headers=chemist)
        assert stored.status_code == 422, (case, stored.text)
        assert errors_of(stored.json()) == {"route.steps.S1": message}, case
        assert counts(chem) == (0, 0), case

    # 10¹² less a tenth of a cent: evaluated, stored and read back on every backend
    kept = costly_route(price=LONGEST, charge={"kg_per_kg": "1000"})
    made = client.post(f"{API}/chem/routes", json={"route": kept}, headers=chemist)
    assert made.status_code == 201, made.text
    assert Decimal(made.json()["cogs_per_kg"]) == Decimal("999999999999.999")
    read = client.get(f"{API}/chem/routes/{made.json()['id']}/evaluation", headers=chemist)
    assert read.status_code == 200 and read.json()["cogs_per_kg"] == "999999999999.9990"
    assert counts(chem) == (1, 1)


def test_a_price_change_that_puts_a_route_past_the_limit_changes_nothing(
    client: TestClient, chem: ChemWorld
) -> None:
    chemist = headers(chem, "chemist")
    made = client.post(f"{API}/chem/routes", headers=chemist,
                       json={"route": costly_route(charge={"kg_per_kg": "1000.001"})})  # fmt: skip
    assert made.status_code == 201, made.text
    assert Decimal(made.json()["cogs_per_kg"]) == Decimal("1000.001")
    (ethanol,) = client.get(f"{API}/chem/materials", headers=chemist).json()["items"]
    refused = client.patch(f"{API}/chem/materials/{ethanol['id']}", headers=chemist,
                           json={"version": 1, "price_per_kg": LONGEST})  # fmt: skip
    assert refused.status_code == 422, refused.text
    step = (
        "Costly ether: step 'S1' would cost 1,000,001,000,000.00 USD per kg of its product (raw "
        "materials 1,000,001,000,000.00, conversion 0.00): a cost per kg must stay below "
        f"1,000,000,000,000 USD; {RAISE_AMOUNTS}"
    )
    assert errors_of(refused.json()) == {
        "price_per_kg": "this change to 'Ethanol' would make 1 route(s) invalid, so nothing was "
        f"changed — route 'Costly ether': {step}; fix those routes first or change the material "
        "differently"
    }
    (unchanged,) = client.get(f"{API}/chem/materials", headers=chemist).json()["items"]
    assert (Decimal(unchanged["price_per_kg"]), unchanged["version"]) == (1, 1)
    route = client.get(f"{API}/chem/routes/{made.json()['id']}", headers=chemist).json()
    assert (Decimal(route["cogs_per_kg"]), route["version"]) == (Decimal("1000.001"), 1)


def test_a_stored_route_past_the_limit_reads_and_answers_what_to_fix(
    client: TestClient, chem: ChemWorld
) -> None:
    """A price stored before the check (straight into the table) that takes a route past the
    limit: the route and the library still read; its figures answer a 422, not a 500."""
    chemist = headers(chem, "chemist")
    made = client.post(f"{API}/chem/routes", headers=chemist,
                       json={"route": costly_route(charge={"kg_per_kg": "2000"})})  # fmt: skip
    assert made.status_code == 201, made.text
    route_id = made.json()["id"]
    chem.session.execute(
        update(ChemMaterial).where(ChemMaterial.name == "Ethanol").values(price_per_kg=LONGEST)
    )
    chem.session.commit()
    message = (
        "Costly ether: step 'S1' would cost 2,000,000,000,000.00 USD per kg of its product (raw "
        "materials 2,000,000,000,000.00, conversion 0.00): a cost per kg must stay below "
        f"1,000,000,000,000 USD; {RAISE_AMOUNTS}"
    )
    _all_refused(client, chemist, route_id, ("/evaluation", "/sensitivity"), message)
    assert client.get(f"{API}/chem/routes/{route_id}", headers=chemist).status_code == 200
    assert client.get(f"{API}/chem/routes", headers=chemist).json()["total"] == 1
    assert client.get(f"{API}/chem/materials", headers=chemist).status_code == 200
    login(client, chem.emails["chemist"])
    page = client.get(f"/chem/routes/{route_id}")
    assert page.status_code == 422 and "a cost per kg must stay below" in page.text


def test_a_batch_a_recipe_cannot_hold_is_refused_when_choosing(
    client: TestClient, chem: ChemWorld
) -> None:
    """The largest batch output ÷ the smallest yield is a batch of 10¹⁵ kg: choosing the route
    for manufacturing was a 500 (manufacturing's recipe refused it); now a 422 saying what to
    change, and no recipe is written."""
    chemist = headers(chem, "chemist")
    route = costly_route(cycle_time_h="1", batch_output_kg=LONGEST, equipment_class="reactor",
                         yield_fraction=TINY)  # fmt: skip
    route["equipment_rates"] = {"reactor": "0"}
    made = client.post(f"{API}/chem/routes", headers=chemist,
                       json={"route": route, "product_id": str(chem.products["ASP"])})  # fmt: skip
    assert made.status_code == 201, made.text
    recipes = chem.session.execute(select(func.count()).select_from(Recipe)).scalar_one()
    chosen = client.post(f"{API}/chem/routes/{made.json()['id']}/choose", headers=chemist,
                         json={"plant_id": str(chem.plant_id), "version": 1})  # fmt: skip
    assert chosen.status_code == 422, chosen.text
    assert chosen.json()["detail"] == (
        "route 'Costly ether' cannot become a plant recipe (the batch size (kg) would be "
        "999999999999999.1: Decimal input should have no more than 15 digits in total; the kg of "
        "'Ethanol' per batch would be 1000000000: Decimal input should have no more than 9 digits "
        "before the decimal point); raise the steps' yields (a recipe's batch size is the output "
        "÷ the product of the yields), lower batch_output_kg or shorten the cycle times"
    )
    assert list(errors_of(chosen.json())) == ["route"]
    chem.session.expire_all()
    assert chem.session.execute(select(func.count()).select_from(Recipe)).scalar_one() == recipes
    again = client.get(f"{API}/chem/routes/{made.json()['id']}", headers=chemist).json()
    assert (again["chosen"], again["version"]) == (False, 1)


def test_a_tornado_bar_past_what_can_be_computed_is_refused(
    client: TestClient, chem: ChemWorld
) -> None:
    """35 steps charging the largest amount of the step before: 10³⁰⁸ kg per kg, still a number,
    but at a tenth of a yield the tornado's PMI is not (it was a 500: infinity is no JSON)."""
    chemist = headers(chem, "chemist")
    route = costly_route(price="0", yield_fraction="0.06", charge={"kg_per_kg": "100"})
    route["steps"] += [
        {"id": f"S{i}", "yield_fraction": "0.06",
         "inputs": [{"intermediate": f"S{i - 1}", "role": "reactant", "kg_per_kg": LONGEST}]}
        for i in range(2, 36)
    ]  # fmt: skip
    evaluated = client.post(f"{API}/chem/evaluate", json=route, headers=chemist)
    assert evaluated.status_code == 200 and evaluated.json()["pmi"] > 1e307
    tornado = client.post(f"{API}/chem/sensitivity", json=route, headers=chemist)
    assert tornado.status_code == 422, tornado.text
    message = (
        "with step 'S1' at a yield of 0.01 the route would need more kg of raw materials per kg "
        "of product than can be computed; lower the amounts of its inputs"
    )
    assert tornado.json()["detail"] == f"Costly ether: {message}"
    assert errors_of(tornado.json()) == {"route": message}
