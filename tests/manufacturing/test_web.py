"""The master-data and order pages for the CDMO and for sponsors: lists, forms with inline
errors that keep the input, confirmations, the sponsor's read-only view."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.manufacturing.conftest import TODAY, PlantWorld
from tests.web.conftest import csrf_of, login


def page(client: TestClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.text


def test_plant_pages_for_the_cdmo(client: TestClient, plant: PlantWorld) -> None:
    login(client, plant.emails["cdmo"])
    listing = page(client, "/mfg/plants")
    assert "Main plant" in listing and 'data-testid="unit-count">6<' in listing
    html = page(client, f"/mfg/plants/{plant.plant_id}")
    assert html.count('data-testid="unit-row"') == 6
    assert f'href="/mfg/plants/{plant.plant_id}/schedule"' in html
    token = csrf_of(html)
    bad = client.post(f"/mfg/plants/{plant.plant_id}/units", data={
        "csrf_token": token, "code": "R-101", "name": "Dup", "equipment_class": "reactor",
        "capacity": "10", "capacity_unit": "L", "gmp_grade": "gmp"})  # fmt: skip
    assert bad.status_code == 409
    assert 'data-field-error="code">already used in this plant' in bad.text
    assert 'value="Dup"' in bad.text  # the input is kept
    zero = client.post(f"/mfg/plants/{plant.plant_id}/units", data={
        "csrf_token": token, "code": "R-109", "name": "Zero", "equipment_class": "reactor",
        "capacity": "0", "capacity_unit": "L", "gmp_grade": "gmp"})  # fmt: skip
    assert zero.status_code == 422 and 'data-field-error="capacity"' in zero.text
    done = client.post(f"/mfg/plants/{plant.plant_id}/units", data={
        "csrf_token": token, "code": "C-601", "name": "Coater", "equipment_class": "coater",
        "capacity": "100", "capacity_unit": "kg", "gmp_grade": "gmp"})  # fmt: skip
    assert done.status_code == 200 and "Unit C-601 added." in done.text
    assert done.text.count('data-testid="unit-row"') == 7
    cleaning = client.post(f"/mfg/plants/{plant.plant_id}/cleaning-times", data={
        "csrf_token": token, "equipment_class": "coater", "same_product_hours": "-1",
        "product_change_hours": "3"})  # fmt: skip
    assert cleaning.status_code == 422 and 'data-field-error="same_product_hours"' in cleaning.text
    saved = client.post(f"/mfg/plants/{plant.plant_id}/cleaning-times", data={
        "csrf_token": token, "equipment_class": "coater", "same_product_hours": "1",
        "product_change_hours": "3"})  # fmt: skip
    assert "Cleaning times of coater saved." in saved.text
    added_twice = client.post(f"/mfg/plants/{plant.plant_id}/cleaning-times", data={
        "csrf_token": token, "equipment_class": "coater", "same_product_hours": "9",
        "product_change_hours": "9", "version": "0"})  # fmt: skip
    assert added_twice.status_code == 409
    assert "coater has cleaning times already" in added_twice.text
    assert 'value="9"' in added_twice.text  # the input is kept
    override = client.post(f"/mfg/plants/{plant.plant_id}/changeovers", data={
        "csrf_token": token, "equipment_class": "reactor", "hours": "24",
        "from_product_id": str(plant.products["API-B"]),
        "to_product_id": str(plant.products["API-1"])})  # fmt: skip
    assert "Changeover API-B → API-1 on reactor: 24 h saved." in override.text
    unit_id = plant.units["P-501"]
    window = client.post(f"/mfg/units/{unit_id}/maintenance", data={
        "csrf_token": token, "starts_at": "2031-02-01T08:00", "ends_at": "2031-02-01T06:00"})  # fmt: skip
    assert window.status_code == 422 and "ends_at must be after starts_at" in window.text
    window = client.post(f"/mfg/units/{unit_id}/maintenance", data={
        "csrf_token": token, "starts_at": "2031-02-01T08:00", "ends_at": "2031-02-02T08:00"})  # fmt: skip
    assert "Maintenance of P-501 planned." in window.text
    assert "2031-02-01 08:00 UTC → 2031-02-02 08:00 UTC" in window.text
    off = client.post(
        f"/mfg/units/{unit_id}/active",
        data={"csrf_token": token, "version": "1", "active": "false"},
    )
    assert "Unit P-501 taken out of service." in off.text


def test_unit_edit_form_keeps_input(client: TestClient, plant: PlantWorld) -> None:
    login(client, plant.emails["cdmo"])
    unit_id = plant.units["D-301"]
    html = page(client, f"/mfg/units/{unit_id}/edit")
    assert 'value="300"' in html  # the capacity without trailing zeros
    bad = client.post(f"/mfg/units/{unit_id}", data={
        "csrf_token": csrf_of(html), "version": "1", "code": "D-301", "name": "Tray dryer",
        "equipment_class": "Tray Dryer!", "capacity": "300", "capacity_unit": "kg",
        "gmp_grade": "gmp", "active": "on"})  # fmt: skip
    assert bad.status_code == 422
    assert 'data-field-error="equipment_class"' in bad.text and 'value="Tray Dryer!"' in bad.text
    ok = client.post(f"/mfg/units/{unit_id}", data={
        "csrf_token": csrf_of(html), "version": "1", "code": "D-301", "name": "Tray dryer 2",
        "equipment_class": "dryer", "capacity": "350", "capacity_unit": "kg", "gmp_grade": "gmp",
        "active": "on"})  # fmt: skip
    assert "Unit D-301 saved." in ok.text and "Tray dryer 2" in ok.text


def test_products_list_and_product_page(client: TestClient, plant: PlantWorld) -> None:
    login(client, plant.emails["cdmo"])
    listing = page(client, "/mfg/products?kind=api&sort=-code")
    assert listing.count('data-testid="product-row"') == 2
    assert listing.index("API-B") < listing.index("API-1")
    empty = page(client, "/mfg/products?q=nothing-like-this")
    assert 'data-testid="empty-state"' in empty and "No product matches these filters." in empty
    html = page(client, f"/mfg/products/{plant.products['API-1']}")
    assert "98 – 102 %" in html and "≤ 0.5 %" in html and "Conforms to reference spectrum" in html
    assert 'data-testid="output-per-batch">39.5675<' in html
    token = csrf_of(html)
    both = client.post(f"/mfg/products/{plant.products['API-1']}/specifications", data={
        "csrf_token": token, "test": "Color", "method": "Visual", "upper_limit": "2",
        "acceptance_text": "White"})  # fmt: skip
    assert both.status_code == 422 and 'data-field-error="acceptance_text"' in both.text
    assert 'value="Color"' in both.text
    added = client.post(f"/mfg/products/{plant.products['API-1']}/specifications", data={
        "csrf_token": token, "test": "Residue on ignition", "method": "USP 281",
        "upper_limit": "0.1", "result_unit": "%"})  # fmt: skip
    assert "Specification Residue on ignition added." in added.text


def test_product_form_errors(client: TestClient, plant: PlantWorld) -> None:
    login(client, plant.emails["cdmo"])
    html = page(client, "/mfg/products/new")
    response = client.post("/mfg/products", data={
        "csrf_token": csrf_of(html), "code": "TAB-9", "name": "Tablets", "kind": "drug_product",
        "unit": "units", "sponsor_id": str(plant.sponsor_b_id), "dosage_form": "",
        "strength": ""})  # fmt: skip
    assert response.status_code == 422
    assert 'data-field-error="dosage_form"' in response.text and 'value="TAB-9"' in response.text
    created = client.post("/mfg/products", data={
        "csrf_token": csrf_of(html), "code": "TAB-9", "name": "Tablets", "kind": "drug_product",
        "unit": "units", "sponsor_id": str(plant.sponsor_b_id), "dosage_form": "tablet",
        "strength": "10 mg"})  # fmt: skip
    assert created.status_code == 200 and "Product TAB-9 created." in created.text


def test_recipe_editor(client: TestClient, plant: PlantWorld) -> None:
    login(client, plant.emails["cdmo"])
    recipe_id = plant.recipes["API-1"]
    html = page(client, f"/mfg/recipes/{recipe_id}/edit")
    assert 'name="steps-2-operation"' in html and 'value="Drying"' in html
    assert 'name="steps-11-operation"' in html and 'name="bom-7-quantity_per_batch"' in html
    form = {
        "csrf_token": csrf_of(html),
        "version": "1",
        "plant_id": str(plant.plant_id),
        "batch_size": "60",
        "description": "scaled up",
        "steps-0-operation": "Deprotection",
        "steps-0-equipment_class": "reactor",
        "steps-0-duration_hours": "12",
        "steps-0-yield_fraction": "0.9",
        # row 1 blank (ignored); row 3 names a class the plant lacks
        "steps-1-yield_fraction": "1",
        "steps-3-operation": "Milling",
        "steps-3-equipment_class": "mill",
        "steps-3-duration_hours": "2",
        "steps-3-yield_fraction": "1",
        "bom-0-component_product_id": str(plant.products["INT-1"]),
        "bom-0-quantity_per_batch": "70",
        "bom-0-unit": "kg",
    }
    bad = client.post(f"/mfg/recipes/{recipe_id}", data=form)
    assert bad.status_code == 422
    assert 'data-field-error="steps[3].equipment_class"' in bad.text
    assert "has no unit in service of class &#39;mill&#39;" in bad.text
    assert 'value="Milling"' in bad.text
    form["steps-3-equipment_class"] = "dryer"
    ok = client.post(f"/mfg/recipes/{recipe_id}", data=form)
    assert ok.status_code == 200 and "Recipe of API-1 at Main plant saved." in ok.text
    # 60 × 0.9 × 1 = 54
    assert 'data-testid="output-per-batch">54 kg<' in ok.text


def test_orders_for_the_cdmo(client: TestClient, plant: PlantWorld) -> None:
    login(client, plant.emails["cdmo"])
    listing = page(client, "/mfg/orders?sort=-priority")
    assert listing.index("PO-A-1") < listing.index("PO-B-1")
    workbook = client.get("/mfg/orders?format=xlsx&sort=number")
    sheet = load_workbook(BytesIO(workbook.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Number", "Product code", "Product")
    assert [r[0] for r in rows[1:]] == ["PO-A-1", "PO-B-1"] and rows[1][5] == 80
    html = page(client, "/mfg/orders/new")
    form = {"csrf_token": csrf_of(html), "product_id": str(plant.products["API-B"]),
            "plant_id": str(plant.plant_id), "quantity": "50", "priority": "2",
            "due_date": (TODAY + timedelta(days=40)).isoformat(),
            "release_date": (TODAY + timedelta(days=50)).isoformat()}  # fmt: skip
    bad = client.post("/mfg/orders", data=form)
    assert bad.status_code == 422 and "release_date must be on or before due_date" in bad.text
    form["release_date"] = ""
    created = client.post("/mfg/orders", data=form)
    assert created.status_code == 200 and "Plan its batches next." in created.text
    assert 'action="/mfg/orders/' in created.text and 'data-testid="plan-batches"' in created.text
    order_html = page(client, f"/mfg/orders/{plant.orders['PO-A-1']}")
    edit = client.post(f"/mfg/orders/{plant.orders['PO-A-1']}", data={
        "csrf_token": csrf_of(order_html), "version": "1", "quantity": "90",
        "due_date": (TODAY + timedelta(days=30)).isoformat(), "release_date": "", "priority": "4",
        "plant_id": str(plant.plant_id), "work_order_id": "", "notes": ""})  # fmt: skip
    assert "Order PO-A-1 saved." in edit.text and "90 kg of" in edit.text
    cancel = client.post(f"/mfg/orders/{plant.orders['PO-A-1']}/cancel",
                         data={"csrf_token": csrf_of(order_html), "version": "1"})  # fmt: skip
    assert cancel.status_code == 409 and 'data-testid="cancel-error"' in cancel.text
    cancel = client.post(f"/mfg/orders/{plant.orders['PO-A-1']}/cancel",
                         data={"csrf_token": csrf_of(order_html), "version": "2"})  # fmt: skip
    assert (
        "Order PO-A-1 cancelled." in cancel.text and 'data-testid="plan-batches"' not in cancel.text
    )


def test_sponsor_reads_only_its_own(client: TestClient, plant: PlantWorld) -> None:
    login(client, plant.emails["sponsor"])
    products = page(client, "/mfg/products")
    assert "API-1" in products and "API-B" not in products and "New product" not in products
    product = page(client, f"/mfg/products/{plant.products['API-1']}")
    assert 'data-testid="spec-form"' not in product and 'data-testid="recipe"' not in product
    assert 'data-testid="edit-product"' not in product
    orders = page(client, "/mfg/orders")
    assert "PO-A-1" in orders and "PO-B-1" not in orders and 'data-testid="new-order"' not in orders
    order = page(client, f"/mfg/orders/{plant.orders['PO-A-1']}")
    assert (
        'data-testid="plan-batches"' not in order and 'data-testid="order-edit-form"' not in order
    )
    assert client.get(f"/mfg/orders/{plant.orders['PO-B-1']}").status_code == 404
    assert client.get(f"/mfg/products/{plant.products['API-B']}").status_code == 404
    assert client.get(f"/mfg/plants/{plant.plant_id}").status_code == 404
    assert client.get(f"/mfg/recipes/{plant.recipes['API-1']}").status_code == 404
    assert 'data-testid="empty-state"' in page(client, "/mfg/plants")
