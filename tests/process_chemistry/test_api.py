"""The process-chemistry API over HTTP: route files evaluated without storing, the library and
stored routes with problem documents naming the fields, downloads, and choosing a route."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import yaml
from fastapi.testclient import TestClient

from opencxo.core.auth import repository as auth_repository
from tests.factories import make_token
from tests.process_chemistry.conftest import (
    ASPIRIN_COGS,
    ASPIRIN_PMI,
    ChemWorld,
    amide_route,
    aspirin_route,
)

API = "/api/v1"
PROBLEM = "application/problem+json"


def headers(chem: ChemWorld, who: str) -> dict[str, str]:
    user = auth_repository.user_by_email(chem.session, chem.emails[who])
    assert user is not None
    token = make_token(chem.session, user=user)
    chem.session.commit()
    return {"Authorization": f"Bearer {token}"}


def materials_named(client: TestClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    """Every material of the library, by name."""
    page = client.get(f"{API}/chem/materials", headers=auth, params={"sort": "name"}).json()
    items: list[dict[str, Any]] = page["items"]
    return items


def errors_of(problem: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in problem.get("errors", [])}


def test_route_files_are_evaluated_without_storing(client: TestClient, chem: ChemWorld) -> None:
    viewer = headers(chem, "viewer")
    evaluated = client.post(
        f"{API}/chem/evaluate", json=aspirin_route(), params={"production_kg": 250}, headers=viewer
    )
    assert evaluated.status_code == 200, evaluated.text
    report = evaluated.json()
    assert Decimal(report["cogs_per_kg"]) == ASPIRIN_COGS
    assert report["pmi"] == ASPIRIN_PMI or abs(report["pmi"] - ASPIRIN_PMI) < 1e-9
    toluene = next(m for m in report["materials"] if m["material"] == "Toluene")
    assert abs(toluene["kg_for_production"] - 1740) < 1e-9  # 6.96 kg/kg × 250 kg

    tornado = client.post(f"{API}/chem/sensitivity", json=aspirin_route(), headers=viewer,
                          params={"price_change": 0.1})  # fmt: skip
    assert tornado.status_code == 200
    bar = next(b for b in tornado.json()["bars"] if b["key"] == "Toluene")
    assert Decimal(bar["cogs_at_high"]) - Decimal(bar["cogs_at_low"]) == Decimal("2.6448")
    out_of_range = client.post(f"{API}/chem/sensitivity", json=aspirin_route(), headers=viewer,
                               params={"yield_change": 0.7})  # fmt: skip
    assert out_of_range.status_code == 422

    ae = client.post(f"{API}/chem/atom-economy", headers=viewer,
                     json={"reaction_smiles": "Oc1ccccc1.O=C=O>>OC(=O)c1ccccc1O"})  # fmt: skip
    assert ae.status_code == 200 and abs(ae.json()["atom_economy_percent"] - 100) < 1e-9
    schema = client.get(f"{API}/chem/route-schema", headers=viewer)
    assert schema.status_code == 200 and "steps" in schema.json()["properties"]

    svg = client.get(f"{API}/chem/depict", params={"smiles": "Oc1ccccc1", "width": 120},
                     headers=viewer)  # fmt: skip
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "<svg" in svg.text and "width='120px'" in svg.text
    bad = client.get(f"{API}/chem/depict", params={"smiles": "C1CC("}, headers=viewer)
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    assert errors_of(bad.json()) == {"smiles": "'C1CC(' is not a valid SMILES"}

    broken = aspirin_route()
    broken["steps"][0]["inputs"][0]["kg_per_kg"] = "0.5"
    refused = client.post(f"{API}/chem/evaluate", json=broken, headers=viewer)
    assert refused.status_code == 422
    assert list(errors_of(refused.json())) == ["steps.S1"]
    assert client.get(f"{API}/chem/routes", headers=viewer).json()["total"] == 0
    assert client.get(f"{API}/chem/depict", params={"smiles": "C"}).status_code == 401


def test_import_read_export_and_the_library(client: TestClient, chem: ChemWorld) -> None:
    chemist = headers(chem, "chemist")
    made = client.post(f"{API}/chem/routes", headers=chemist, json={
        "route": aspirin_route(), "product_id": str(chem.products["ASP"])})  # fmt: skip
    assert made.status_code == 201, made.text
    route = made.json()
    assert (route["product_code"], route["step_count"], route["version"]) == ("ASP", 2, 1)
    assert Decimal(route["cogs_per_kg"]) == ASPIRIN_COGS
    assert route["spec"]["materials"] == []
    again = client.post(f"{API}/chem/routes", headers=chemist, json={"route": aspirin_route()})
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM

    conflicting = amide_route()
    next(m for m in conflicting["materials"] if m["name"] == "Toluene")["price_per_kg"] = 2.1
    refused = client.post(f"{API}/chem/routes", headers=chemist, json={"route": conflicting})
    assert refused.status_code == 422
    assert errors_of(refused.json()) == {
        "route.materials.8": "material 'Toluene' differs from your library: price_per_kg 2.10 "
        "vs 1.90; rename it in the file or update the library first"
    }

    viewer = headers(chem, "viewer")
    for fmt, load in (("yaml", yaml.safe_load), ("json", json.loads)):
        download = client.get(f"{API}/chem/routes/{route['id']}/export", headers=viewer,
                              params={"format": fmt})  # fmt: skip
        assert download.status_code == 200
        assert download.headers["content-disposition"] == (
            f'attachment; filename="aspirin-via-kolbe-schmitt.{fmt}"'
        )
        exported = load(download.text)
        assert [m["name"] for m in exported["materials"]] == route["materials"]
        assert exported["materials"][2] == {
            "name": "Toluene", "smiles": "Cc1ccccc1", "cas": "108-88-3", "price_per_kg": 1.9,
            "density_kg_per_l": 0.87, "hazards": ["flammable", "harmful", "health hazard"],
        }  # fmt: skip
    assert client.get(f"{API}/chem/routes/{route['id']}/export", headers=viewer,
                      params={"format": "xml"}).status_code == 422  # fmt: skip

    materials = client.get(f"{API}/chem/materials", headers=viewer,
                           params={"sort": "-price", "page_size": 2}).json()  # fmt: skip
    assert materials["total"] == 6
    assert [m["name"] for m in materials["items"]] == ["Phenol", "Toluene"]
    toluene = materials["items"][1]
    assert toluene["used_by"] == ["Aspirin via Kolbe-Schmitt"]
    health = client.get(f"{API}/chem/materials", headers=viewer,
                        params={"hazard": "health hazard", "sort": "name"}).json()  # fmt: skip
    assert [m["name"] for m in health["items"]] == [
        m["name"] for m in materials_named(client, viewer) if "health hazard" in m["hazards"]
    ]
    assert "Toluene" in [m["name"] for m in health["items"]]
    unknown = client.get(f"{API}/chem/materials", headers=viewer, params={"hazard": "sticky"})
    assert unknown.status_code == 422

    stale = client.patch(f"{API}/chem/materials/{toluene['id']}", headers=chemist,
                         json={"version": 2, "price_per_kg": "2.10"})  # fmt: skip
    assert stale.status_code == 409 and "(version 1, you sent 2)" in stale.json()["detail"]
    denied = client.patch(f"{API}/chem/materials/{toluene['id']}", headers=viewer,
                          json={"version": 1, "price_per_kg": "2.10"})  # fmt: skip
    assert denied.status_code == 403
    changed = client.patch(f"{API}/chem/materials/{toluene['id']}", headers=chemist,
                           json={"version": 1, "price_per_kg": "2.10"})  # fmt: skip
    assert changed.status_code == 200 and changed.json()["version"] == 2
    read = client.get(f"{API}/chem/routes/{route['id']}", headers=viewer).json()
    assert Decimal(read["cogs_per_kg"]) == Decimal("28.312")  # 26.92 + 6.96 × 0.20
    evaluation = client.get(f"{API}/chem/routes/{route['id']}/evaluation", headers=viewer,
                            params={"production_kg": "10"}).json()  # fmt: skip
    assert Decimal(evaluation["cogs_per_kg"]) == Decimal("28.312")
    assert Decimal(evaluation["production_kg"]) == 10

    used = client.delete(f"{API}/chem/materials/{toluene['id']}", headers=chemist)
    assert used.status_code == 409
    assert used.json()["detail"] == (
        "material 'Toluene' is used by 'Aspirin via Kolbe-Schmitt'; remove it from those routes "
        "first"
    )
    spare = client.post(f"{API}/chem/materials", headers=chemist, json={
        "name": "Acetone", "price_per_kg": "0.95", "cas": "67-64-2"})  # fmt: skip
    assert spare.status_code == 422
    assert errors_of(spare.json())["cas"].endswith(
        "CAS number '67-64-2' has a wrong check digit (expected 1)"
    )
    spare = client.post(f"{API}/chem/materials", headers=chemist, json={
        "name": "Acetone", "price_per_kg": "0.95", "cas": "67-64-1"})  # fmt: skip
    assert spare.status_code == 201
    gone = client.delete(f"{API}/chem/materials/{spare.json()['id']}", headers=chemist,
                         params={"version": 1})  # fmt: skip
    assert gone.status_code == 204


def test_compare_choose_and_delete_over_http(client: TestClient, chem: ChemWorld) -> None:
    chemist = headers(chem, "chemist")
    aspirin = client.post(f"{API}/chem/routes", headers=chemist, json={
        "route": aspirin_route(), "product_id": str(chem.products["ASP"])}).json()  # fmt: skip
    amide = client.post(f"{API}/chem/routes", headers=chemist, json={"route": amide_route()}).json()
    compared = client.post(f"{API}/chem/routes/compare", headers=chemist,
                           json={"route_ids": [aspirin["id"], amide["id"]]})  # fmt: skip
    assert compared.status_code == 200
    assert next(r for r in compared.json()["rows"] if r["metric"] == "pmi")["best"] == [0]
    one = client.post(f"{API}/chem/routes/compare", headers=chemist,
                      json={"route_ids": [aspirin["id"]]})  # fmt: skip
    assert one.status_code == 422

    listed = client.get(f"{API}/chem/routes", headers=chemist, params={"sort": "-lls"}).json()
    assert [r["name"] for r in listed["items"]] == [
        "Aspirin via Kolbe-Schmitt", "Benzanilide convergent",  # both 2: then by name
    ]  # fmt: skip

    chosen = client.post(f"{API}/chem/routes/{aspirin['id']}/choose", headers=chemist,
                         json={"plant_id": str(chem.plant_id), "version": 1})  # fmt: skip
    assert chosen.status_code == 200, chosen.text
    body = chosen.json()
    assert body["route"]["chosen"] is True and body["recipe_replaced"] is False
    assert (body["recipe"]["batch_size"], len(body["recipe"]["bom"])) == ("208.333000", 6)
    recipe = client.get(f"{API}/mfg/recipes/{body['recipe']['id']}", headers=chemist)
    assert [s["duration_hours"] for s in recipe.json()["steps"]] == ["6.000000", "8.000000"]
    other = headers(chem, "other")
    hidden = client.post(f"{API}/chem/routes/{aspirin['id']}/choose", headers=other,
                         json={"plant_id": str(chem.plant_id), "version": 2})  # fmt: skip
    assert hidden.status_code == 404 and hidden.json()["detail"] == "no such route"
    assert client.get(f"{API}/chem/routes/{aspirin['id']}", headers=other).status_code == 404
    no_product = client.post(f"{API}/chem/routes/{amide['id']}/choose", headers=chemist,
                             json={"plant_id": str(chem.plant_id), "version": 1})  # fmt: skip
    assert no_product.status_code == 422 and list(errors_of(no_product.json())) == ["product_id"]

    stale = client.delete(f"{API}/chem/routes/{aspirin['id']}", headers=chemist,
                          params={"version": 1})  # fmt: skip
    assert stale.status_code == 409
    deleted = client.delete(f"{API}/chem/routes/{aspirin['id']}", headers=chemist,
                            params={"version": 2})  # fmt: skip
    assert deleted.status_code == 204
    # the recipe made from it stays: it is manufacturing's now
    assert (
        client.get(f"{API}/mfg/recipes/{body['recipe']['id']}", headers=chemist).status_code == 200
    )

    moved = amide_route()
    moved["name"] = "Benzanilide, renamed"
    updated = client.put(f"{API}/chem/routes/{amide['id']}", headers=chemist, json={
        "version": 1, "route": moved, "product_id": str(chem.products["BZA"])})  # fmt: skip
    assert updated.status_code == 200, updated.text
    assert (updated.json()["name"], updated.json()["product_code"]) == (
        "Benzanilide, renamed", "BZA",
    )  # fmt: skip
