"""The process-chemistry pages through the real app and the migrated database: the route list
(sorting, filters, empty state, compare picks), the import form (its errors next to the file
field, nothing saved), the route page (figures of the hand-computed aspirin route, steps with
their depictions, raw-material needs, the COGS tornado, tables as CSV), the comparison, the
material library (create, edit with a stale version, delete refused while used, the hazard
filter), replacing a route's file (new figures, a refused file, a stale page), deleting a
route, choosing a route for manufacturing, and who may do what (anonymous, another
organisation, a viewer, a chemist)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from opencxo.manufacturing.models import Recipe
from opencxo.process_chemistry import stored
from opencxo.process_chemistry.models import ChemMaterial, ChemRoute
from tests.factories import make_user
from tests.process_chemistry.conftest import ChemWorld, amide_route, aspirin_route, store
from tests.web.conftest import csrf_of, login

ROUTES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "routes"


def page(client: TestClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.text
    return response.text


def shown_as(html: str, name: str) -> str:
    """The text of the element with ``data-testid=name`` (its first occurrence)."""
    match = re.search(rf'data-testid="{re.escape(name)}"[^>]*>([^<]*)<', html)
    assert match, f"no {name} on the page"
    return match.group(1).strip()


def count(session: Any, model: Any) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


# --- the route list -----------------------------------------------------------------------------


def test_an_empty_list_says_what_to_do(client: TestClient, chem: ChemWorld) -> None:
    login(client, chem.emails["chemist"])
    html = page(client, "/chem/routes")
    assert 'data-testid="empty-state"' in html
    assert (
        'href="/chem/routes/import"' in html and "docs/examples/routes/ibuprofen-boots.yaml" in html
    )
    assert 'href="/chem/materials"' in html  # the Materials button
    assert 'data-testid="nav-chem-routes"' in html  # the navigation entry
    materials = page(client, "/chem/materials")
    assert 'data-testid="empty-state"' in materials and "Import a route" in materials


def test_the_list_sorts_filters_and_offers_compare(client: TestClient, chem: ChemWorld) -> None:
    aspirin = store(chem, aspirin_route(), product="ASP")
    amide = store(chem, amide_route(), product="BZA")
    store(chem, aspirin_route() | {"name": "Other CDMO aspirin"}, who="other")
    login(client, chem.emails["chemist"])
    html = page(client, "/chem/routes")
    assert html.count('data-testid="route-row"') == 2  # not the other organisation's
    assert "Other CDMO aspirin" not in html
    row = html[html.index('data-route="Aspirin via Kolbe-Schmitt"') :]
    row = row[: row.index("</tr>")]
    assert 'data-col="pmi">13.15<' in row and 'data-col="e-factor">12.15<' in row
    assert 'data-col="yield">72.0 %<' in row and 'data-col="cogs">26.92 USD<' in row
    assert ">ASP</a>" in row
    assert f'name="ids" value="{aspirin.id}"' in html and 'data-testid="compare-button"' in html
    ascending = page(client, "/chem/routes?sort=pmi")
    descending = page(client, "/chem/routes?sort=-pmi")
    first = "Aspirin via Kolbe" if aspirin.pmi < amide.pmi else "Benzanilide convergent"
    second = "Benzanilide convergent" if first.startswith("Aspirin") else "Aspirin via Kolbe"
    assert ascending.index(first) < ascending.index(second)
    assert descending.index(second) < descending.index(first)
    assert 'aria-sort="descending"' in descending
    filtered = page(client, f"/chem/routes?product_id={chem.products['BZA']}")
    assert filtered.count('data-testid="route-row"') == 1 and "Benzanilide convergent" in filtered
    searched = page(client, "/chem/routes?q=kolbe")
    assert searched.count('data-testid="route-row"') == 1
    nothing = page(client, "/chem/routes?q=no-such-route")
    assert "No route matches these filters." in nothing
    paged = page(client, "/chem/routes?page_size=1&sort=name")
    assert paged.count('data-testid="route-row"') == 1 and "Page 1 of 2" in paged


# --- import -------------------------------------------------------------------------------------


def _import(client: TestClient, token: str, name: str, content: bytes, **data: str) -> Any:
    return client.post(
        "/chem/routes/import",
        data={"csrf_token": token, **data},
        files={"file": (name, content, "application/yaml")},
        follow_redirects=False,
    )


def test_import_a_route_file(client: TestClient, chem: ChemWorld) -> None:
    login(client, chem.emails["chemist"])
    html = page(client, "/chem/routes/import")
    assert "ASP — Aspirin" in html and "TAB" not in html  # kg products only
    assert "OTH" not in html  # not another organisation's product
    content = yaml.safe_dump(aspirin_route()).encode()
    response = _import(
        client, csrf_of(html), "aspirin.yaml", content, product_id=str(chem.products["ASP"])
    )
    assert response.status_code == 303, response.text
    route_id = response.headers["location"].rsplit("/", 1)[1]
    shown = page(client, response.headers["location"])
    assert (
        "Route Aspirin via Kolbe-Schmitt imported from aspirin.yaml: PMI 13.15 kg/kg, "
        "COGS 26.92 USD/kg." in shown
    )
    row = chem.session.get(ChemRoute, uuid.UUID(route_id))
    assert row is not None and row.product_id == chem.products["ASP"]


def test_an_invalid_route_file_is_refused_next_to_the_file_field(
    client: TestClient, chem: ChemWorld
) -> None:
    login(client, chem.emails["chemist"])
    token = csrf_of(page(client, "/chem/routes/import"))
    broken = aspirin_route()
    broken["steps"][1]["inputs"][0]["intermediate"] = "S9"  # no such step
    response = _import(client, token, "broken.yaml", yaml.safe_dump(broken).encode())
    assert response.status_code == 422
    error = response.text[response.text.index('data-field-error="file"') :]
    assert "S2" in error[:600] and "S9" in error[:600]  # the message names the step
    assert 'class="form-control is-invalid" type="file"' in response.text
    assert "Kestrel CDMO</span>" in response.text  # the layout keeps the user's organisation
    yield_bad = aspirin_route()
    yield_bad["steps"][0]["yield_fraction"] = "1.5"
    response = _import(
        client, token, "yield.yaml", yaml.safe_dump(yield_bad).encode(),
        product_id=str(chem.products["ASP"]),
    )  # fmt: skip
    assert response.status_code == 422
    assert 'data-field-error="file"' in response.text and "yield_fraction" in response.text
    assert f'<option value="{chem.products["ASP"]}" selected' in response.text  # input kept
    tablets = _import(
        client, token, "aspirin.yaml", yaml.safe_dump(aspirin_route()).encode(),
        product_id=str(chem.products["TAB"]),
    )  # fmt: skip
    assert tablets.status_code == 422 and 'data-field-error="file"' not in tablets.text
    assert 'data-field-error="product_id"' in tablets.text and "counted in units" in tablets.text
    not_yaml = _import(client, token, "x.yaml", b"{ this is: [not yaml")
    assert not_yaml.status_code == 422 and "is not valid YAML or JSON" in not_yaml.text
    no_file = client.post("/chem/routes/import", data={"csrf_token": token})
    assert no_file.status_code == 422 and "choose a route file" in no_file.text
    assert count(chem.session, ChemRoute) == 0 and count(chem.session, ChemMaterial) == 0


# --- the route page -----------------------------------------------------------------------------


def test_the_route_page_shows_the_figures_and_steps(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route(), product="ASP")
    login(client, chem.emails["chemist"])
    html = page(client, f"/chem/routes/{route.id}")
    assert shown_as(html, "figure-pmi") == "13.15 kg/kg"
    assert shown_as(html, "figure-pmi-without-water") == "8.75 kg/kg"
    assert shown_as(html, "figure-e-factor") == "12.15 kg/kg"
    assert shown_as(html, "figure-e-factor-without-water") == "7.75 kg/kg"
    assert shown_as(html, "figure-overall-yield") == "72.0 %"
    assert shown_as(html, "figure-lls") == "2 steps"
    assert shown_as(html, "figure-steps") == "2"
    assert shown_as(html, "figure-raw-material-cost") == "15.72 USD/kg"
    assert shown_as(html, "figure-conversion-cost") == "11.20 USD/kg"
    assert shown_as(html, "figure-cogs") == "26.92 USD/kg"
    assert shown_as(html, "figure-atom-economy").endswith(" %")
    # the steps in running order, each with its reaction drawn and its inputs as stated
    assert html.index('data-step="S1"') < html.index('data-step="S2"')
    s1 = html[html.index('data-step="S1"') : html.index('data-step="S2"')]
    assert "/chem/depict.svg?smiles=Oc1ccccc1.O%3DC%3DO%3E%3EOC%28%3DO%29c1ccccc1O" in s1
    assert shown_as(s1, "step-yield") == "80.0 %"
    assert (
        shown_as(s1, "step-pmi") == "8.70 kg/kg"
        and shown_as(s1, "step-pmi-cumulative") == "8.70 kg/kg"
    )
    assert "5 L/kg" in s1 and "0.85 kg/kg" in s1 and ">solvent<" in s1
    s2 = html[html.index('data-step="S2"') :]
    assert shown_as(s2, "step-pmi-cumulative") == "13.15 kg/kg"
    assert "Carboxylation" in s2[: s2.index("step-inputs") + 800]  # the intermediate, by name
    # raw materials for the file's 100 kg: toluene 6.96 kg/kg → 696 kg
    needs = html[html.index('data-testid="materials-needed"') :]
    toluene = needs[needs.index('data-material="Toluene"') :]
    assert 'data-col="kg">696.0<' in toluene and 'data-col="cost">1,322.40 USD<' in toluene
    assert shown_as(html, "total-cost") == "1,572.00 USD"
    # the tornado: its chart, its table, its downloads
    assert 'id="tornado-chart"' in html and "/assets/plotly.min.js" in html
    assert 'data-testid="tornado-table"' in html
    assert "/chem/routes/" + str(route.id) + "/tables/tornado.csv?yield_change=0.05" in html
    assert f'href="/chem/routes/{route.id}/export.yaml"' in html


def test_needs_and_sensitivity_take_their_parameters(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route())
    login(client, chem.emails["chemist"])
    html = page(
        client, f"/chem/routes/{route.id}?production_kg=250&yield_change=0.1&price_change=0.5"
    )
    assert "Raw materials for 250 kg of product" in html
    toluene = html[html.index('data-material="Toluene"') :]
    assert 'data-col="kg">1,740.0<' in toluene
    assert 'name="yield_change" value="0.1"' in html and 'name="price_change" value="0.5"' in html
    assert "±50 %" in html
    bad = page(client, f"/chem/routes/{route.id}?production_kg=-3&yield_change=0.9", 422)
    assert 'data-field-error="production_kg"' in bad and 'data-field-error="yield_change"' in bad
    assert 'value="-3"' in bad  # the input is kept
    table = client.get(f"/chem/routes/{route.id}/tables/materials.csv?production_kg=250")
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(table.text)))
    assert rows[0][0] == "Material" and "kg for 250 kg" in rows[0]
    toluene_row = next(r for r in rows if r[0] == "Toluene")
    assert float(toluene_row[3]) == pytest.approx(1740.0)
    tornado = client.get(f"/chem/routes/{route.id}/tables/tornado.csv?price_change=0.5")
    lines = list(csv.reader(io.StringIO(tornado.text)))
    swings = [float(r[7]) for r in lines[1:]]
    assert swings == sorted(swings, reverse=True) and len(swings) >= 8
    assert client.get(f"/chem/routes/{route.id}/tables/tornado.xlsx").status_code == 200
    assert client.get(f"/chem/routes/{route.id}/tables/steps.csv").text.startswith("Step,Name")
    assert client.get(f"/chem/routes/{route.id}/tables/nothing.csv").status_code == 404


def test_export_the_route_file(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route())
    login(client, chem.emails["viewer"])
    as_yaml = client.get(f"/chem/routes/{route.id}/export.yaml")
    assert as_yaml.status_code == 200 and "attachment" in as_yaml.headers["content-disposition"]
    assert yaml.safe_load(as_yaml.text)["name"] == "Aspirin via Kolbe-Schmitt"
    as_json = client.get(f"/chem/routes/{route.id}/export.json")
    assert len(json.loads(as_json.text)["materials"]) == 6
    assert client.get(f"/chem/routes/{route.id}/export.xml").status_code == 404


def test_the_depiction_is_svg_and_a_bad_smiles_says_so(client: TestClient, chem: ChemWorld) -> None:
    login(client, chem.emails["viewer"])
    svg = client.get("/chem/depict.svg", params={"smiles": "CC(=O)Oc1ccccc1C(=O)O"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text and "max-age" in svg.headers["cache-control"]
    reaction = client.get("/chem/depict.svg", params={"smiles": "CC(=O)O.OCC>>CC(=O)OCC.O"})
    assert reaction.status_code == 200 and "<svg" in reaction.text
    bad = client.get("/chem/depict.svg", params={"smiles": "C1CC(("})
    assert bad.status_code == 422 and "is not a valid SMILES" in bad.text
    assert bad.headers["content-type"].startswith("text/html")
    assert client.get("/chem/depict.svg", params={"smiles": "C", "width": 5}).status_code == 422


# --- compare ------------------------------------------------------------------------------------


def test_compare_routes(client: TestClient, chem: ChemWorld) -> None:
    aspirin = store(chem, aspirin_route())
    amide = store(chem, amide_route())
    login(client, chem.emails["chemist"])
    html = page(client, f"/chem/compare?ids={aspirin.id}&ids={amide.id}")
    assert html.count('data-testid="metric"') == 10
    metrics = re.findall(r'data-metric="([a-z_]+)"', html)
    assert metrics[:4] == ["pmi", "e_factor", "e_factor_without_water", "atom_economy_percent"]
    pmi_row = html[html.index('data-metric="pmi"') :]
    pmi_row = pmi_row[: pmi_row.index("</tr>")]
    best = 0 if aspirin.pmi < amide.pmi else 1
    winner, loser = (aspirin, amide) if best == 0 else (amide, aspirin)
    assert f'data-col="{best}" data-route="{winner.name}" data-best="true"' in pmi_row
    assert f'data-route="{loser.name}" data-best' not in pmi_row
    assert f'href="/chem/routes/{aspirin.id}"' in html and f'href="/chem/routes/{amide.id}"' in html
    assert html.count('data-testid="product-depiction"') == 2
    for chart in ("pmi-chart", "cogs-chart", "atom-economy-chart", "yield-chart"):
        assert f'id="{chart}"' in html
    data = json.loads(re.search(r'id="cogs-chart-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert data["layout"]["title"]["text"].startswith("Cost of goods per kg")
    assert data["layout"]["yaxis"]["title"]["text"] == "USD per kg of product"
    table = client.get(f"/chem/compare/tables/metrics.csv?ids={aspirin.id}&ids={amide.id}")
    rows = list(csv.reader(io.StringIO(table.text)))
    assert rows[0] == ["Metric", "Unit", "Better", aspirin.name, amide.name, "Best"]
    assert rows[1][0] == "PMI" and float(rows[1][3]) == pytest.approx(13.15)


def test_compare_needs_two_routes_of_one_currency(client: TestClient, chem: ChemWorld) -> None:
    aspirin = store(chem, aspirin_route())
    euro = amide_route() | {"currency": "EUR"}
    euro["materials"] = [m for m in euro["materials"] if m["name"] not in ("Toluene", "Water")]
    euro["materials"] += [
        {"name": "Toluene (EUR)", "price_per_kg": "1.8", "density_kg_per_l": "0.87"},
        {"name": "Water (EUR)", "price_per_kg": "0.01"},
    ]
    for step in euro["steps"]:
        for item in step["inputs"]:
            if item.get("material") in ("Toluene", "Water"):
                item["material"] += " (EUR)"
    amide = store(chem, euro)
    login(client, chem.emails["chemist"])
    empty = page(client, "/chem/compare")
    assert 'data-testid="empty-state"' in empty and "Tick two to six routes" in empty
    one = page(client, f"/chem/compare?ids={aspirin.id}", 422)
    assert "pick 2 to 6 routes to compare (you picked 1)" in one
    mixed = page(client, f"/chem/compare?ids={aspirin.id}&ids={amide.id}", 422)
    assert "routes priced in different currencies cannot be compared" in mixed
    assert client.get(f"/chem/compare?ids={aspirin.id}&ids={uuid.uuid4()}").status_code == 404


# --- materials ----------------------------------------------------------------------------------


def test_material_library_create_edit_and_stale_version(
    client: TestClient, chem: ChemWorld
) -> None:
    login(client, chem.emails["chemist"])
    form = page(client, "/chem/materials/new")
    token = csrf_of(form)
    bad = client.post("/chem/materials", data={
        "csrf_token": token, "name": "Ethanol", "smiles": "C(C", "cas": "64-17-5",
        "price_per_kg": "0.9", "currency": "USD", "hazards": ["flammable"]})  # fmt: skip
    assert bad.status_code == 422 and 'data-field-error="smiles"' in bad.text
    assert 'value="Ethanol"' in bad.text and 'value="flammable" id="hz-2" checked' in bad.text
    assert "Kestrel CDMO</span>" in bad.text
    cas = client.post("/chem/materials", data={
        "csrf_token": token, "name": "Ethanol", "cas": "64-17-7", "price_per_kg": "",
        "currency": "USD"})  # fmt: skip
    assert cas.status_code == 422
    assert 'data-field-error="cas"' in cas.text and "wrong check digit" in cas.text
    assert 'data-field-error="price_per_kg"' in cas.text
    done = client.post("/chem/materials", data={
        "csrf_token": token, "name": "Ethanol", "smiles": "CCO", "cas": "64-17-5",
        "price_per_kg": "0.90", "currency": "USD", "density_kg_per_l": "0.789",
        "hazards": ["flammable", "harmful"], "notes": "denatured"})  # fmt: skip
    assert done.status_code == 200 and "Material Ethanol added to your library." in done.text
    assert done.text.count('data-testid="material-row"') == 1
    assert 'data-hazard="flammable"' in done.text and "0.90 USD" in done.text
    assert 'data-testid="material-depiction"' in done.text
    duplicate = client.post("/chem/materials", data={
        "csrf_token": token, "name": "Ethanol", "price_per_kg": "1", "currency": "USD"})  # fmt: skip
    assert duplicate.status_code == 409 and 'data-field-error="name"' in duplicate.text
    material = chem.session.execute(select(ChemMaterial)).scalar_one()
    edit = page(client, f"/chem/materials/{material.id}")
    assert 'value="0.9"' in edit and 'value="0.789"' in edit and "denatured" in edit
    saved = client.post(f"/chem/materials/{material.id}", data={
        "csrf_token": token, "version": "1", "name": "Ethanol", "smiles": "CCO",
        "cas": "64-17-5", "price_per_kg": "1.10", "currency": "USD", "density_kg_per_l": "",
        "hazards": "flammable", "notes": ""})  # fmt: skip
    assert saved.status_code == 200 and "Material Ethanol saved." in saved.text
    chem.session.expire_all()
    material = chem.session.execute(select(ChemMaterial)).scalar_one()
    assert material.version == 2 and material.density_kg_per_l is None and material.notes == ""
    assert material.hazards == ["flammable"]
    stale = client.post(f"/chem/materials/{material.id}", data={
        "csrf_token": token, "version": "1", "name": "Ethanol", "smiles": "CCO",
        "cas": "64-17-5", "price_per_kg": "2.50", "currency": "USD"})  # fmt: skip
    assert stale.status_code == 409
    assert "material was changed by someone else (version 2, you sent 1)" in stale.text
    assert 'value="2.50"' in stale.text  # the input is kept
    chem.session.expire_all()
    assert chem.session.get(ChemMaterial, material.id).price_per_kg == Decimal("1.1")  # type: ignore[union-attr]


def test_a_used_material_is_not_deleted_and_a_price_change_reevaluates(
    client: TestClient, chem: ChemWorld
) -> None:
    route = store(chem, aspirin_route())
    login(client, chem.emails["chemist"])
    listing = page(client, "/chem/materials?sort=-price")
    assert listing.count('data-testid="material-row"') == 6
    assert listing.index('data-material="Acetic anhydride"') > listing.index(
        'data-material="Phenol"'
    )
    toluene = chem.session.execute(
        select(ChemMaterial).where(ChemMaterial.name == "Toluene")
    ).scalar_one()
    confirm = page(client, f"/chem/materials/{toluene.id}/delete")
    assert "Delete the material Toluene?" in confirm and "Aspirin via Kolbe-Schmitt" in confirm
    refused = client.post(f"/chem/materials/{toluene.id}/delete", data={
        "csrf_token": csrf_of(confirm), "version": "1"})  # fmt: skip
    assert refused.status_code == 409
    assert "is used by 'Aspirin via Kolbe-Schmitt'" in unescape(refused.text)
    saved = client.post(f"/chem/materials/{toluene.id}", data={
        "csrf_token": csrf_of(confirm), "version": "1", "name": "Toluene", "smiles": "Cc1ccccc1",
        "cas": "108-88-3", "price_per_kg": "2.90", "currency": "USD", "density_kg_per_l": "0.87",
        "hazards": ["flammable", "health hazard", "harmful"]})  # fmt: skip
    assert "The routes using it were evaluated again: Aspirin via Kolbe-Schmitt." in saved.text
    # 6.96 kg of toluene per kg at 1.00 more: COGS 26.92 + 6.96 = 33.88
    assert shown_as(page(client, f"/chem/routes/{route.id}"), "figure-cogs") == "33.88 USD/kg"
    spare = store(chem, amide_route())
    stored.delete_route(chem.session, chem["chemist"], spare.id)
    chem.session.commit()
    palladium = chem.session.execute(
        select(ChemMaterial).where(ChemMaterial.name == "Palladium on carbon")
    ).scalar_one()
    gone = client.post(f"/chem/materials/{palladium.id}/delete", data={
        "csrf_token": csrf_of(confirm), "version": str(palladium.version)},
        follow_redirects=False)  # fmt: skip
    assert gone.status_code == 303 and gone.headers["location"] == "/chem/materials"
    assert "Material Palladium on carbon deleted" in page(client, "/chem/materials")


def test_filter_the_library_by_hazard(client: TestClient, chem: ChemWorld) -> None:
    store(chem, aspirin_route())
    store(chem, amide_route())
    login(client, chem.emails["viewer"])

    def names(html: str) -> list[str]:
        return re.findall(r'data-testid="material-row" data-material="([^"]+)"', html)

    html = page(client, "/chem/materials")
    assert len(names(html)) == 14 and '<option value="">Any hazard</option>' in html
    assert '<option value="explosive" >explosive (GHS01)</option>' in html
    assert '<option value="environmental" >environmental (GHS09)</option>' in html
    corrosive = page(client, "/chem/materials?hazard=corrosive")
    assert names(corrosive) == [
        "Acetic anhydride", "Phenol", "Sulfuric acid", "Thionyl chloride", "Triethylamine",
    ]  # fmt: skip
    assert '<option value="corrosive" selected>corrosive (GHS05)</option>' in corrosive
    assert 'href="/chem/materials">Clear</a>' in corrosive
    # "harmful" is not "health hazard"; the search and the hazard together
    assert names(page(client, "/chem/materials?hazard=harmful")) == ["Benzoic acid", "Toluene"]
    both = page(client, "/chem/materials?q=acid&hazard=corrosive")
    assert names(both) == ["Sulfuric acid"] and 'value="acid"' in both
    # sorting and paging keep the filter
    paged = page(client, "/chem/materials?hazard=corrosive&page_size=2&sort=-price")
    assert names(paged) == ["Thionyl chloride", "Triethylamine"] and "Page 1 of 3" in paged
    assert "hazard=corrosive&amp;page_size=2&amp;sort=-price&amp;page=2" in paged  # Next
    assert 'href="?hazard=corrosive&amp;page_size=2&amp;sort=price&amp;page=1"' in paged  # Price
    second = page(client, "/chem/materials?hazard=corrosive&page_size=2&sort=-price&page=2")
    assert names(second) == ["Phenol", "Acetic anhydride"]
    assert '<option value="corrosive" selected>' in second
    nothing = page(client, "/chem/materials?hazard=explosive")
    assert names(nothing) == [] and "No material carries the hazard explosive." in nothing
    unknown = page(client, "/chem/materials?hazard=radioactive")  # filters nothing
    assert len(names(unknown)) == 14 and " selected>" not in unknown


# --- replace the route file ---------------------------------------------------------------------


def _replace(client: TestClient, route_id: Any, token: str, version: str, content: bytes) -> Any:
    return client.post(
        f"/chem/routes/{route_id}/file",
        data={"csrf_token": token, "version": version},
        files={"file": ("aspirin-v2.yaml", content, "application/yaml")},
        follow_redirects=False,
    )


def _edited(client: TestClient, route_id: Any) -> bytes:
    """The route's YAML as downloaded, a litre of toluene less per kg in S2: 0.87 kg/kg less,
    0.87 × 1.90 = 1.653 USD/kg cheaper (PMI 13.15 → 12.28, COGS 26.92 → 25.267)."""
    data = yaml.safe_load(client.get(f"/chem/routes/{route_id}/export.yaml").text)
    toluene = next(i for i in data["steps"][1]["inputs"] if i.get("material") == "Toluene")
    assert toluene["litres_per_kg"] == 4
    toluene["litres_per_kg"] = 3
    return yaml.safe_dump(data, allow_unicode=True).encode()


def test_replace_the_route_file(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route(), product="ASP")
    login(client, chem.emails["chemist"])
    html = page(client, f"/chem/routes/{route.id}")
    form = html[html.index('data-testid="replace-file-form"') :]
    assert f'action="/chem/routes/{route.id}/file#route-file"' in html
    assert 'name="version" value="1"' in form and 'type="file"' in form
    assert (
        f'<a href="/chem/routes/{route.id}/export.yaml">Download the YAML</a>, edit it, upload'
        " it here" in form
    )
    response = _replace(client, route.id, csrf_of(html), "1", _edited(client, route.id))
    assert (
        response.status_code == 303 and response.headers["location"] == f"/chem/routes/{route.id}"
    )
    shown = page(client, response.headers["location"])
    assert (
        "Route Aspirin via Kolbe-Schmitt updated from aspirin-v2.yaml: "
        "PMI 13.15 → 12.28 kg/kg, COGS 26.92 → 25.27 USD/kg." in shown
    )
    assert shown_as(shown, "figure-pmi") == "12.28 kg/kg"
    assert shown_as(shown, "figure-pmi-without-water") == "7.88 kg/kg"
    assert shown_as(shown, "figure-e-factor") == "11.28 kg/kg"
    assert shown_as(shown, "figure-raw-material-cost") == "14.07 USD/kg"
    assert shown_as(shown, "figure-conversion-cost") == "11.20 USD/kg"
    assert shown_as(shown, "figure-cogs") == "25.27 USD/kg"
    toluene = shown[shown.index('data-material="Toluene"') :]
    assert 'data-col="kg">609.0<' in toluene  # 6.09 kg/kg for the file's 100 kg
    assert "version 2 ·" in shown and 'name="version" value="2"' in shown
    chem.session.expire_all()
    row = chem.session.get(ChemRoute, route.id)
    assert row is not None and (row.version, row.cogs_per_kg) == (2, Decimal("25.2670"))
    assert row.pmi == pytest.approx(12.28, rel=1e-12)
    assert row.product_id == chem.products["ASP"]  # the route keeps its product


def test_a_refused_route_file_changes_nothing(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route(), product="ASP")
    login(client, chem.emails["chemist"])
    token = csrf_of(page(client, f"/chem/routes/{route.id}"))
    broken = aspirin_route()
    broken["steps"][1]["inputs"][0]["intermediate"] = "S9"  # no such step
    refused = _replace(client, route.id, token, "1", yaml.safe_dump(broken).encode())
    assert refused.status_code == 422
    card = refused.text[refused.text.index('data-testid="replace-file"') :]
    assert 'class="form-control form-control-sm is-invalid" type="file"' in card
    error = card[card.index('data-field-error="file"') :]
    assert "S2" in error[:600] and "S9" in error[:600]  # the message names the step
    assert shown_as(refused.text, "figure-pmi") == "13.15 kg/kg"  # the page: the route as it was
    assert "Kestrel CDMO</span>" in refused.text
    differs = aspirin_route()
    differs["materials"][4]["price_per_kg"] = "2.50"  # Toluene, 1.90 in the library
    conflict = _replace(client, route.id, token, "1", yaml.safe_dump(differs).encode())
    assert conflict.status_code == 422
    error = conflict.text[conflict.text.index('data-field-error="file"') :]
    assert (
        "material &#39;Toluene&#39; differs from your library: price_per_kg 2.50 vs 1.90" in error
    )
    no_file = client.post(
        f"/chem/routes/{route.id}/file", data={"csrf_token": token, "version": "1"}
    )
    assert no_file.status_code == 422 and "choose the revised route file" in no_file.text
    chem.session.expire_all()
    row = chem.session.get(ChemRoute, route.id)
    assert row is not None and (row.version, row.cogs_per_kg) == (1, Decimal("26.9200"))
    assert row.spec["steps"][1]["inputs"][0]["intermediate"] == "S1"
    assert row.product_id == chem.products["ASP"]
    assert count(chem.session, ChemMaterial) == 6  # the file's materials joined nothing


# 5000 "[" then 5000 "]": about 10 KB, well under the upload limit, too deep for any parser.
TOO_DEEP = b"[" * 5000 + b"]" * 5000


def test_a_too_deeply_nested_route_file_is_refused_and_changes_nothing(
    client: TestClient, chem: ChemWorld
) -> None:
    login(client, chem.emails["chemist"])
    token = csrf_of(page(client, "/chem/routes/import"))
    imported = _import(client, token, "deep.yaml", TOO_DEEP)
    assert imported.status_code == 422
    error = imported.text[imported.text.index('data-field-error="file"') :]
    assert "deep.yaml is too deeply nested to read" in error[:600]
    assert count(chem.session, ChemRoute) == 0 and count(chem.session, ChemMaterial) == 0
    route = store(chem, aspirin_route(), product="ASP")
    replaced = _replace(client, route.id, token, "1", TOO_DEEP)
    assert replaced.status_code == 422
    card = replaced.text[replaced.text.index('data-testid="replace-file"') :]
    error = card[card.index('data-field-error="file"') :]
    assert "aspirin-v2.yaml is too deeply nested to read" in error[:600]
    chem.session.expire_all()
    row = chem.session.get(ChemRoute, route.id)
    assert row is not None and (row.version, row.cogs_per_kg) == (1, Decimal("26.9200"))


def test_a_route_file_on_a_stale_page_answers_409(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route())
    login(client, chem.emails["chemist"])
    token = csrf_of(page(client, f"/chem/routes/{route.id}"))
    edited = _edited(client, route.id)
    assert _replace(client, route.id, token, "1", edited).status_code == 303
    stale = _replace(client, route.id, token, "1", yaml.safe_dump(aspirin_route()).encode())
    assert stale.status_code == 409
    card = stale.text[stale.text.index('data-testid="replace-file"') :]
    message = shown_as(card, "form-error")
    assert message.startswith("route was changed by someone else (version 2, you sent 1)")
    assert 'name="version" value="2"' in card  # the form now sends the current version
    assert shown_as(stale.text, "figure-cogs") == "25.27 USD/kg"
    chem.session.expire_all()
    row = chem.session.get(ChemRoute, route.id)
    assert row is not None and (row.version, row.cogs_per_kg) == (2, Decimal("25.2670"))


def test_only_a_chemist_of_the_organisation_replaces_the_file(
    client: TestClient, chem: ChemWorld
) -> None:
    route = store(chem, aspirin_route())
    content = yaml.safe_dump(aspirin_route() | {"production_kg": 500}).encode()
    login(client, chem.emails["viewer"])
    html = page(client, f"/chem/routes/{route.id}")
    assert 'data-testid="replace-file"' not in html
    assert _replace(client, route.id, csrf_of(html), "1", content).status_code == 403
    login(client, chem.emails["other"])
    token = csrf_of(page(client, "/chem/routes"))
    refused = _replace(client, route.id, token, "1", content)
    assert refused.status_code == 404 and "no such route" in refused.text
    chem.session.expire_all()
    row = chem.session.get(ChemRoute, route.id)
    assert row is not None and row.version == 1 and row.spec["production_kg"] == 100


# --- delete a route, choose a route ---------------------------------------------------------------


def test_delete_a_route_after_confirming(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route())
    login(client, chem.emails["chemist"])
    confirm = page(client, f"/chem/routes/{route.id}/delete")
    assert "Delete the route Aspirin via Kolbe-Schmitt?" in confirm
    assert 'name="version" value="1"' in confirm
    stale = client.post(f"/chem/routes/{route.id}/delete", data={
        "csrf_token": csrf_of(confirm), "version": "7"})  # fmt: skip
    assert stale.status_code == 409 and "version 1, you sent 7" in stale.text
    done = client.post(f"/chem/routes/{route.id}/delete", data={
        "csrf_token": csrf_of(confirm), "version": "1"})  # fmt: skip
    assert done.status_code == 200 and "Route Aspirin via Kolbe-Schmitt deleted." in done.text
    assert count(chem.session, ChemRoute) == 0
    assert count(chem.session, ChemMaterial) == 6  # its materials stay


def test_choose_a_route_for_manufacturing(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route())
    login(client, chem.emails["chemist"])
    html = page(client, f"/chem/routes/{route.id}")
    assert 'data-testid="no-product"' in html and 'data-testid="choose-form"' not in html
    linked = client.post(f"/chem/routes/{route.id}/product", data={
        "csrf_token": csrf_of(html), "version": "1",
        "product_id": str(chem.products["TAB"])})  # fmt: skip
    assert linked.status_code == 422 and "counted in units" in linked.text
    linked = client.post(f"/chem/routes/{route.id}/product", data={
        "csrf_token": csrf_of(html), "version": "1",
        "product_id": str(chem.products["ASP"])})  # fmt: skip
    assert "Route Aspirin via Kolbe-Schmitt makes ASP — Aspirin." in linked.text
    assert f'<option value="{chem.plant_id}" selected>{chem.plant_name}</option>' in linked.text
    no_plant = client.post(f"/chem/routes/{route.id}/choose", data={
        "csrf_token": csrf_of(html), "version": "2", "plant_id": ""})  # fmt: skip
    assert no_plant.status_code == 422 and 'data-field-error="plant_id"' in no_plant.text
    chosen = client.post(f"/chem/routes/{route.id}/choose", data={
        "csrf_token": csrf_of(html), "version": "2", "plant_id": str(chem.plant_id)})  # fmt: skip
    assert chosen.status_code == 200, chosen.text
    assert "its recipe there was created from the route" in chosen.text
    assert f"for ASP at {chem.plant_name}" in chosen.text
    recipe = chem.session.execute(select(Recipe)).scalar_one()
    assert f'href="/mfg/recipes/{recipe.id}"' in chosen.text
    assert 'data-testid="chosen-badge"' in chosen.text
    again = client.post(f"/chem/routes/{route.id}/choose", data={
        "csrf_token": csrf_of(html), "version": "3", "plant_id": str(chem.plant_id)})  # fmt: skip
    assert "its recipe there was replaced from the route" in again.text
    stale = client.post(f"/chem/routes/{route.id}/choose", data={
        "csrf_token": csrf_of(html), "version": "1", "plant_id": str(chem.plant_id)})  # fmt: skip
    assert stale.status_code == 409 and 'data-testid="form-error"' in stale.text
    assert count(chem.session, Recipe) == 1
    listing = page(client, "/chem/routes")
    assert 'data-testid="chosen-badge"' in listing


# --- who may do what ----------------------------------------------------------------------------


def test_anonymous_is_sent_to_log_in(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route())
    for path in ("/chem/routes", f"/chem/routes/{route.id}", "/chem/materials",
                 "/chem/depict.svg?smiles=C", "/chem/compare"):  # fmt: skip
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_another_organisation_gets_404(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route(), product="ASP")
    toluene = chem.session.execute(
        select(ChemMaterial).where(ChemMaterial.name == "Toluene")
    ).scalar_one()
    login(client, chem.emails["other"])
    listing = page(client, "/chem/routes")
    assert 'data-testid="empty-state"' in listing
    token = csrf_of(listing)
    for path in (f"/chem/routes/{route.id}", f"/chem/routes/{route.id}/delete",
                 f"/chem/routes/{route.id}/export.yaml", f"/chem/materials/{toluene.id}",
                 f"/chem/routes/{route.id}/tables/steps.csv"):  # fmt: skip
        assert client.get(path).status_code == 404, path
    posts = {
        f"/chem/routes/{route.id}/delete": {"version": "1"},
        f"/chem/routes/{route.id}/choose": {"version": "1", "plant_id": str(chem.plant_id)},
        f"/chem/materials/{toluene.id}/delete": {"version": "1"},
        f"/chem/materials/{toluene.id}": {"version": "1", "name": "X", "price_per_kg": "1",
                                          "currency": "USD"},
    }  # fmt: skip
    for path, data in posts.items():
        response = client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 404, path
        assert "Not found" in response.text or "no such" in response.text
    assert count(chem.session, ChemRoute) == 1 and count(chem.session, Recipe) == 0


def test_a_viewer_reads_but_may_not_change(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route(), product="ASP")
    toluene = chem.session.execute(
        select(ChemMaterial).where(ChemMaterial.name == "Toluene")
    ).scalar_one()
    login(client, chem.emails["viewer"])
    listing = page(client, "/chem/routes")
    assert listing.count('data-testid="route-row"') == 1
    assert 'data-testid="import-route"' not in listing
    html = page(client, f"/chem/routes/{route.id}")
    assert 'data-testid="choose-form"' not in html and 'data-testid="delete-route"' not in html
    material = page(client, f"/chem/materials/{toluene.id}")
    assert 'data-testid="read-only"' in material and 'data-testid="delete-material"' not in material
    token = csrf_of(html)
    assert client.get("/chem/routes/import").status_code == 403
    assert client.get("/chem/materials/new").status_code == 403
    assert client.get(f"/chem/routes/{route.id}/delete").status_code == 403
    refused = _import(client, token, "a.yaml", yaml.safe_dump(amide_route()).encode())
    assert refused.status_code == 403
    for path, data in {
        f"/chem/routes/{route.id}/delete": {"version": "1"},
        f"/chem/routes/{route.id}/choose": {"version": "1", "plant_id": str(chem.plant_id)},
        f"/chem/routes/{route.id}/product": {"version": "1", "product_id": ""},
        f"/chem/materials/{toluene.id}/delete": {"version": "1"},
        f"/chem/materials/{toluene.id}": {"version": "1", "name": "Toluene",
                                          "price_per_kg": "9", "currency": "USD"},
        "/chem/materials": {"name": "Acetone", "price_per_kg": "1", "currency": "USD"},
    }.items():  # fmt: skip
        response = client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 403, path
    chem.session.expire_all()
    assert count(chem.session, ChemRoute) == 1 and count(chem.session, Recipe) == 0
    assert count(chem.session, ChemMaterial) == 6
    assert chem.session.get(ChemMaterial, toluene.id).price_per_kg == Decimal("1.9")  # type: ignore[union-attr]


def test_a_user_without_chemistry_read_gets_403(client: TestClient, chem: ChemWorld) -> None:
    route = store(chem, aspirin_route())
    make_user(chem.session, organization_id=None, email="nobody@test.example")
    chem.session.commit()
    login(client, "nobody@test.example")
    assert 'data-testid="nav-chem-routes"' not in page(client, "/")
    for path in ("/chem/routes", "/chem/materials", "/chem/compare",
                 "/chem/depict.svg?smiles=C", f"/chem/routes/{route.id}"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 403, path
        assert "chemistry:read" in response.text
