"""The master-data and order API over HTTP: problem documents naming the fields, derived
recipe values, list filters and the sponsor's view."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from opencxo.core.auth import repository as auth_repository
from tests.factories import make_token
from tests.manufacturing.conftest import TODAY, PlantWorld

API = "/api/v1"


def headers(plant: PlantWorld, who: str) -> dict[str, str]:
    user = auth_repository.user_by_email(plant.session, plant.emails[who])
    assert user is not None
    token = make_token(plant.session, user=user)
    plant.session.commit()
    return {"Authorization": f"Bearer {token}"}


def errors_of(problem: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in problem.get("errors", [])}


def test_recipe_over_http(client: TestClient, plant: PlantWorld) -> None:
    cdmo = headers(plant, "cdmo")
    product = client.post(f"{API}/mfg/products", headers=cdmo, json={
        "code": "INT-9", "name": "New intermediate", "kind": "intermediate",
        "sponsor_id": str(plant.sponsor_a_id)})  # fmt: skip
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]
    body = {"plant_id": str(plant.plant_id), "batch_size": "200", "steps": [
        {"operation": "Reaction", "equipment_class": "reactor", "duration_hours": "8",
         "yield_fraction": "0.9"},
        {"operation": "Coating", "equipment_class": "coater", "duration_hours": "3"}]}  # fmt: skip
    bad = client.post(f"{API}/mfg/products/{product_id}/recipes", headers=cdmo, json=body)
    assert bad.status_code == 422
    assert errors_of(bad.json())["steps[1].equipment_class"].endswith(
        "its classes: dryer, filter_dryer, granulator, reactor, tablet_press"
    )
    body["steps"][1]["equipment_class"] = "dryer"
    body["steps"][0]["duration_hours"] = "8761"  # longer than a year: a typo
    too_long = client.post(f"{API}/mfg/products/{product_id}/recipes", headers=cdmo, json=body)
    assert too_long.status_code == 422
    assert errors_of(too_long.json()) == {
        "steps.0.duration_hours": "Input should be less than or equal to 8760"
    }
    body["steps"][0]["duration_hours"] = "8"
    made = client.post(f"{API}/mfg/products/{product_id}/recipes", headers=cdmo, json=body)
    assert made.status_code == 201, made.text
    recipe = made.json()
    # 200 × 0.9 × 1 = 180; 8 + 3 = 11 hours
    assert (recipe["output_per_batch"], recipe["cycle_hours"], recipe["plant_name"]) == (
        "180.000000",
        "11.000",
        "Main plant",
    )
    again = client.post(f"{API}/mfg/products/{product_id}/recipes", headers=cdmo, json=body)
    assert again.status_code == 409
    read = client.get(f"{API}/mfg/products/{product_id}", headers=cdmo).json()
    assert [r["id"] for r in read["recipes"]] == [recipe["id"]]
    sponsor = client.get(f"{API}/mfg/products/{product_id}", headers=headers(plant, "sponsor"))
    assert sponsor.status_code == 200 and sponsor.json()["recipes"] == []
    assert (
        client.get(
            f"{API}/mfg/recipes/{recipe['id']}", headers=headers(plant, "sponsor")
        ).status_code
        == 404
    )


def test_quantities_keep_every_digit_they_accept(client: TestClient, plant: PlantWorld) -> None:
    # SQLite stores NUMERIC as a double: 15 significant digits come back exactly, 16 do not
    cdmo = headers(plant, "cdmo")
    product = client.post(f"{API}/mfg/products", headers=cdmo, json={
        "code": "INT-8", "name": "Bulk intermediate", "kind": "intermediate",
        "sponsor_id": str(plant.sponsor_a_id)})  # fmt: skip
    product_id = product.json()["id"]
    body = {"plant_id": str(plant.plant_id), "batch_size": "9999999999.999999", "steps": [
        {"operation": "Reaction", "equipment_class": "reactor", "duration_hours": "8"}]}  # fmt: skip
    too_precise = client.post(f"{API}/mfg/products/{product_id}/recipes", headers=cdmo, json=body)
    assert too_precise.status_code == 422
    assert errors_of(too_precise.json()) == {
        "batch_size": "Decimal input should have no more than 15 digits in total"
    }
    body["batch_size"] = "999999999.999999"
    made = client.post(f"{API}/mfg/products/{product_id}/recipes", headers=cdmo, json=body)
    assert made.status_code == 201, made.text
    read = client.get(f"{API}/mfg/products/{product_id}", headers=cdmo).json()
    assert [r["batch_size"] for r in read["recipes"]] == ["999999999.999999"]


def test_orders_over_http(client: TestClient, plant: PlantWorld) -> None:
    cdmo = headers(plant, "planner")
    due = (TODAY + timedelta(days=10)).isoformat()
    created = client.post(f"{API}/mfg/orders", headers=cdmo, json={
        "product_id": str(plant.products["TAB-1"]), "plant_id": str(plant.plant_id),
        "quantity": "1000000", "due_date": due, "priority": 10, "number": "PO-TAB-1"})  # fmt: skip
    assert created.status_code == 201, created.text
    order = created.json()
    assert (order["unit"], order["sponsor_name"], order["status"], order["version"]) == (
        "units",
        "Sponsor A Bio",
        "open",
        1,
    )
    listed = client.get(f"{API}/mfg/orders", headers=cdmo,
                        params={"sort": "-priority", "due_before": due}).json()  # fmt: skip
    assert [o["number"] for o in listed["items"]] == ["PO-TAB-1"]
    stale = client.patch(
        f"{API}/mfg/orders/{order['id']}", headers=cdmo, json={"version": 2, "priority": 1}
    )
    assert stale.status_code == 409 and "(version 1, you sent 2)" in stale.json()["detail"]
    sponsor = headers(plant, "sponsor")
    assert (
        client.get(f"{API}/mfg/orders/{order['id']}", headers=sponsor).json()["viewer_role"]
        == "sponsor"
    )
    denied = client.post(
        f"{API}/mfg/orders/{order['id']}/cancel", headers=sponsor, json={"version": 1}
    )
    assert denied.status_code == 403
    hidden = client.get(f"{API}/mfg/orders/{order['id']}", headers=headers(plant, "other_sponsor"))
    assert hidden.status_code == 404
    bad = client.post(f"{API}/mfg/orders", headers=cdmo, json={
        "product_id": str(plant.products["TAB-1"]), "plant_id": str(plant.plant_id),
        "quantity": "-5", "due_date": due})  # fmt: skip
    assert bad.status_code == 422
    far = client.post(f"{API}/mfg/orders", headers=cdmo, json={
        "product_id": str(plant.products["TAB-1"]), "plant_id": str(plant.plant_id),
        "quantity": "5", "due_date": "9999-12-31"})  # fmt: skip
    assert far.status_code == 422
    assert errors_of(far.json()) == {"due_date": "Value error, must be in the years 1900–2199"}


def test_plant_over_http(client: TestClient, plant: PlantWorld) -> None:
    viewer = headers(plant, "viewer")
    plants = client.get(f"{API}/mfg/plants", headers=viewer).json()
    assert [p["unit_count"] for p in plants if p["id"] == str(plant.plant_id)] == [6]
    detail = client.get(f"{API}/mfg/plants/{plant.plant_id}", headers=viewer).json()
    assert len(detail["units"]) == 6 and len(detail["cleaning_times"]) == 5
    cdmo = headers(plant, "cdmo")
    unit = plant.units["R-102"]
    spec = client.post(f"{API}/mfg/units/{unit}/maintenance", headers=cdmo, json={
        "starts_at": "2031-05-01T10:00:00+02:00", "ends_at": "2031-05-01T20:00:00Z"})  # fmt: skip
    assert spec.status_code == 201 and spec.json()["starts_at"].startswith("2031-05-01T08:00:00")
    naive = client.post(f"{API}/mfg/units/{unit}/maintenance", headers=cdmo, json={
        "starts_at": "2031-05-01T10:00:00", "ends_at": "2031-05-01T20:00:00"})  # fmt: skip
    assert naive.status_code == 422
    for starts in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"):
        typo = client.post(f"{API}/mfg/units/{unit}/maintenance", headers=cdmo, json={
            "starts_at": starts, "ends_at": "2031-05-01T20:00:00Z"})  # fmt: skip
        assert typo.status_code == 422
        assert errors_of(typo.json()) == {
            "starts_at": "Value error, must be in the years 1900–2199"
        }
    never_back = client.post(f"{API}/mfg/units/{unit}/breakdown", headers=cdmo,
                             json={"until": "9999-12-31T23:00:00-05:00"})  # fmt: skip
    assert never_back.status_code == 422
    assert errors_of(never_back.json()) == {"until": "Value error, must be in the years 1900–2199"}
    changed = client.patch(
        f"{API}/mfg/units/{unit}", headers=cdmo, json={"version": 1, "active": False}
    )
    assert changed.json()["active"] is False
    after = client.get(f"{API}/mfg/plants", headers=viewer).json()
    assert [
        (p["unit_count"], p["inactive_unit_count"]) for p in after if p["id"] == str(plant.plant_id)
    ] == [(5, 1)]
    cleaning = client.put(f"{API}/mfg/plants/{plant.plant_id}/cleaning-times/Reactor", headers=cdmo,
                          json={"same_product_hours": "2.5", "product_change_hours": "9"})  # fmt: skip
    assert cleaning.status_code == 200 and cleaning.json()["equipment_class"] == "reactor"
    endless = client.put(f"{API}/mfg/plants/{plant.plant_id}/cleaning-times/reactor", headers=cdmo,
                         json={"same_product_hours": "2.5", "product_change_hours": "9000"})  # fmt: skip
    assert endless.status_code == 422
    assert errors_of(endless.json()) == {
        "product_change_hours": "Input should be less than or equal to 8760"
    }
