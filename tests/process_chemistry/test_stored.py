"""Stored process chemistry on the migrated database: the library a route file feeds, the stored
evaluation kept up to date by material changes, tenancy, and the hand-over of a chosen route to
manufacturing as the product's recipe. The figures are hand-computed in ``conftest.py``."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted
from opencxo.core.pagination import PageParams
from opencxo.manufacturing import service as manufacturing
from opencxo.process_chemistry import service, stored
from opencxo.process_chemistry.models import ChemMaterial, ChemRoute
from opencxo.process_chemistry.records import (
    ChooseRoute,
    MaterialCreate,
    MaterialUpdate,
    RouteImport,
    RouteUpdate,
)
from opencxo.process_chemistry.schemas import Hazard, RouteFile
from tests.process_chemistry.conftest import (
    ASPIRIN_COGS,
    ASPIRIN_PMI,
    ASPIRIN_PMI_WITHOUT_WATER,
    ChemWorld,
    amide_route,
    aspirin_route,
    store,
)

PAGE = PageParams(page=1, page_size=100)


def library(session: Session) -> dict[str, ChemMaterial]:
    return {m.name: m for m in session.execute(select(ChemMaterial)).scalars()}


def audit_actions(session: Session, entity_type: str) -> list[str]:
    rows = session.execute(
        select(AuditEvent.action)
        .where(AuditEvent.entity_type == entity_type)
        .order_by(AuditEvent.sequence)
    ).scalars()
    return list(rows)


def material_id(chem: ChemWorld, name: str) -> uuid.UUID:
    return library(chem.session)[name].id


def counts(session: Session) -> tuple[int, int, int]:
    return (
        session.execute(select(func.count()).select_from(ChemMaterial)).scalar_one(),
        session.execute(select(func.count()).select_from(ChemRoute)).scalar_one(),
        session.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
    )


# --- import -------------------------------------------------------------------------------------


def test_import_keeps_the_materials_in_the_library_and_the_evaluation(chem: ChemWorld) -> None:
    route = store(chem, aspirin_route(), product="ASP")

    assert (route.name, route.product_code, route.product_name) == (
        "Aspirin via Kolbe-Schmitt", "ASP", "Aspirin",
    )  # fmt: skip
    assert (route.step_count, route.longest_linear_sequence, route.currency) == (2, 2, "USD")
    assert route.overall_yield == pytest.approx(0.8 * 0.9, rel=1e-12)
    assert route.pmi == pytest.approx(ASPIRIN_PMI, rel=1e-12)
    assert route.e_factor == pytest.approx(ASPIRIN_PMI - 1, rel=1e-12)
    # 180.159 / (94.113 + 44.009 + 102.089): the salicylic acid S2 uses is made in S1
    assert route.atom_economy_percent == pytest.approx(100 * 180.159 / 240.211, rel=1e-5)
    assert route.cogs_per_kg == ASPIRIN_COGS
    assert (route.chosen, route.recipe_id, route.version) == (False, None, 1)
    assert route.spec.materials == []  # the library keeps them
    assert route.materials == [
        "Phenol", "Carbon dioxide", "Toluene", "Water", "Acetic anhydride", "Sulfuric acid",
    ]  # fmt: skip

    kept = library(chem.session)
    assert sorted(kept) == sorted(route.materials)
    toluene = kept["Toluene"]
    assert (toluene.price_per_kg, toluene.currency, toluene.density_kg_per_l, toluene.cas) == (
        Decimal("1.9"), "USD", Decimal("0.87"), "108-88-3",
    )  # fmt: skip
    assert toluene.hazards == ["flammable", "harmful", "health hazard"]  # the order of GHS
    assert audit_actions(chem.session, "chem_material") == ["create"] * 6
    assert audit_actions(chem.session, "chem_route") == ["create"]

    # the stored route's file is the one imported (materials first-used first) and evaluates alike
    as_file = stored.route_file(chem.session, chem["viewer"], route.id)
    assert [m.name for m in as_file.materials] == route.materials
    report = stored.evaluation(chem.session, chem["viewer"], route.id, Decimal(250))
    assert report.cogs_per_kg == ASPIRIN_COGS
    assert report.pmi_without_water == pytest.approx(ASPIRIN_PMI_WITHOUT_WATER, rel=1e-12)
    needs = {m.material: m for m in report.materials}
    assert needs["Toluene"].kg_for_production == pytest.approx(6.96 * 250, rel=1e-12)
    assert needs["Toluene"].cost_for_production == Decimal("3306.0000")  # 1740 kg × 1.90
    name, text = stored.export_route(chem.session, chem["viewer"], route.id, "yaml")
    assert name == "aspirin-via-kolbe-schmitt.yaml"
    again = service.evaluate(service.parse_route(yaml.safe_load(text)))
    assert again.cogs_per_kg == ASPIRIN_COGS and again.pmi == pytest.approx(ASPIRIN_PMI)


def test_a_second_route_reuses_the_library_and_may_leave_its_materials_out(
    chem: ChemWorld,
) -> None:
    store(chem, aspirin_route())
    data = amide_route()
    data["materials"] = [m for m in data["materials"] if m["name"] not in ("Toluene", "Water")]
    route = store(chem, data, product="BZA")
    assert (route.step_count, route.longest_linear_sequence) == (3, 2)
    assert route.overall_yield == pytest.approx(0.95 * 0.90, rel=1e-12)
    assert len(library(chem.session)) == 6 + 8  # toluene and water come from the library
    assert audit_actions(chem.session, "chem_material") == ["create"] * 14
    assert "Toluene" in route.materials and "Water" in route.materials


def test_a_material_that_differs_from_the_library_is_refused_naming_each_difference(
    chem: ChemWorld,
) -> None:
    store(chem, aspirin_route())
    before = counts(chem.session)
    data = amide_route()
    toluene = next(m for m in data["materials"] if m["name"] == "Toluene")
    toluene.update(price_per_kg="2.10", density_kg_per_l="0.9", smiles="c1ccccc1C")
    water = next(m for m in data["materials"] if m["name"] == "Water")
    water["hazards"] = ["corrosive"]
    with pytest.raises(Invalid) as caught:
        store(chem, data)
    assert caught.value.message.splitlines() == [
        "material 'Toluene' differs from your library: price_per_kg 2.10 vs 1.90, "
        "density_kg_per_l 0.90 vs 0.87; rename it in the file or update the library first",
        "material 'Water' differs from your library: hazards corrosive vs (none); rename it in "
        "the file or update the library first",
    ]  # the SMILES is another spelling of the same molecule: no difference
    assert sorted(caught.value.field_errors) == ["route.materials.8", "route.materials.9"]
    chem.session.rollback()
    assert counts(chem.session) == before  # not even the amide route's new materials


def test_a_material_neither_in_the_file_nor_in_the_library_is_named(chem: ChemWorld) -> None:
    data = aspirin_route()
    data["steps"][1]["inputs"].append({"material": "Acetone", "role": "work-up", "kg_per_kg": 1})
    with pytest.raises(Invalid) as caught:
        store(chem, data)
    assert caught.value.field_errors == {
        "route.steps.S2": "step 'S2' charges material 'Acetone', which is neither in the file's "
        "materials nor in your library; add it to the file's materials"
    }


def test_an_engine_error_is_the_answer_and_nothing_is_kept(chem: ChemWorld) -> None:
    data = aspirin_route()
    data["steps"][0]["inputs"][0]["kg_per_kg"] = "0.5"  # 0.5 kg phenol: 0.73 mol per mol
    with pytest.raises(Invalid) as caught:
        store(chem, data)
    assert list(caught.value.field_errors) == ["route.steps.S1"]
    assert "reactant 'Phenol' supplies 0.734 mol per mol of product" in caught.value.message
    chem.session.rollback()
    assert counts(chem.session)[:2] == (0, 0)


def test_a_route_name_is_used_once_per_organisation(chem: ChemWorld) -> None:
    store(chem, aspirin_route())
    with pytest.raises(Conflict) as caught:
        store(chem, aspirin_route())
    assert caught.value.message.startswith("a route named 'Aspirin via Kolbe-Schmitt' exists")
    chem.session.rollback()
    store(chem, aspirin_route(), who="other")  # another organisation has its own names


def test_the_product_is_one_the_organisation_makes_in_kg(chem: ChemWorld) -> None:
    for code, expected in [
        ("OTH", "choose a product your organisation makes (see GET /mfg/products)"),
        ("TAB", "TAB is counted in units; a route makes kilograms of a substance: choose an "
                "intermediate or API counted in kg"),
    ]:  # fmt: skip
        with pytest.raises(Invalid) as caught:
            store(chem, aspirin_route(), product=code)
        assert caught.value.field_errors == {"product_id": expected}
        chem.session.rollback()


def test_the_organisation_must_be_said_when_there_are_several(chem: ChemWorld) -> None:
    both = chem["cdmo"]
    assert both.organization_ids == {chem.cdmo_id}
    with pytest.raises(NotFound):
        stored.import_route(chem.session, both, RouteImport(
            route=RouteFile.model_validate(aspirin_route()), organization_id=chem.other_id))  # fmt: skip
    with pytest.raises(NotPermitted):
        stored.import_route(chem.session, chem["viewer"], RouteImport(
            route=RouteFile.model_validate(aspirin_route())))  # fmt: skip


# --- the library ----------------------------------------------------------------------------------


def test_a_price_change_evaluates_every_route_using_it_again(chem: ChemWorld) -> None:
    aspirin = store(chem, aspirin_route())
    amide = store(chem, amide_route())
    toluene = library(chem.session)["Toluene"]

    changed = stored.update_material(
        chem.session, chem["chemist"], toluene.id, MaterialUpdate(version=1, price_per_kg="2.10")
    )
    chem.session.commit()
    assert (changed.price_per_kg, changed.version) == (Decimal("2.10"), 2)
    assert changed.used_by == ["Aspirin via Kolbe-Schmitt", "Benzanilide convergent"]
    after = stored.get_route(chem.session, chem["viewer"], aspirin.id)
    # 6.96 kg toluene per kg × 0.20 more: 26.92 + 1.392
    assert after.cogs_per_kg == Decimal("28.3120")
    assert after.version == 2 and after.evaluated_at > aspirin.evaluated_at
    # 3 L × 0.87 kg/L per kg of S1, 0.8 kg of S1 per kg: 2.088 kg × 0.20 more
    other = stored.get_route(chem.session, chem["viewer"], amide.id)
    assert float(other.cogs_per_kg - amide.cogs_per_kg) == pytest.approx(0.4176, abs=1.1e-4)
    assert audit_actions(chem.session, "chem_route")[-2:] == ["re-evaluate", "re-evaluate"]
    # notes and hazards change no figure: the routes keep their evaluation (and version)
    stored.update_material(chem.session, chem["chemist"], toluene.id,
                           MaterialUpdate(version=2, notes="bulk contract 2027"))  # fmt: skip
    assert stored.get_route(chem.session, chem["viewer"], aspirin.id).version == 2


def test_a_structure_change_that_breaks_a_route_changes_nothing(chem: ChemWorld) -> None:
    aspirin = store(chem, aspirin_route())
    amide = store(chem, amide_route())
    before = counts(chem.session)
    phenol = material_id(chem, "Phenol")
    with pytest.raises(Invalid) as caught:  # naphthol is heavier: 0.85 kg is too few moles
        stored.update_material(chem.session, chem["chemist"], phenol,
                               MaterialUpdate(version=1, smiles="Oc1ccc2ccccc2c1"))  # fmt: skip
    message = caught.value.message
    assert message.startswith(
        "this change to 'Phenol' would make 1 route(s) invalid, so nothing was changed — "
        "route 'Aspirin via Kolbe-Schmitt': Aspirin via Kolbe-Schmitt: step 'S1': reactant "
        "'Phenol' supplies 0.814 mol per mol of product"
    )
    assert list(caught.value.field_errors) == ["smiles"]
    chem.session.rollback()
    hydrogen = material_id(chem, "Hydrogen")
    with pytest.raises(Invalid) as caught:  # hydrogen is charged in equivalents
        stored.update_material(chem.session, chem["chemist"], hydrogen,
                               MaterialUpdate(version=1, smiles=None))  # fmt: skip
    assert "route 'Benzanilide convergent'" in caught.value.message
    assert "is stated in equivalents; that needs the input's SMILES" in caught.value.message
    chem.session.rollback()
    assert counts(chem.session) == before
    assert library(chem.session)["Phenol"].smiles == "Oc1ccccc1"
    assert stored.get_route(chem.session, chem["viewer"], aspirin.id).version == 1
    assert stored.get_route(chem.session, chem["viewer"], amide.id).version == 1


def test_a_used_material_keeps_its_name_currency_and_place(chem: ChemWorld) -> None:
    store(chem, aspirin_route())
    water = material_id(chem, "Water")
    with pytest.raises(Invalid) as caught:
        stored.update_material(chem.session, chem["chemist"], water,
                               MaterialUpdate(version=1, name="Process water"))  # fmt: skip
    assert caught.value.field_errors["name"].startswith(
        "material 'Water' is used by 'Aspirin via Kolbe-Schmitt', which name it"
    )
    with pytest.raises(Invalid) as caught:
        stored.update_material(chem.session, chem["chemist"], water,
                               MaterialUpdate(version=1, currency="EUR"))  # fmt: skip
    assert caught.value.field_errors["currency"] == (
        "material 'Water' is used by 'Aspirin via Kolbe-Schmitt', priced in USD; a material is "
        "priced in the currency of its routes"
    )
    with pytest.raises(Conflict) as refused:
        stored.delete_material(chem.session, chem["chemist"], water, version=1)
    assert refused.value.message == (
        "material 'Water' is used by 'Aspirin via Kolbe-Schmitt'; remove it from those routes first"
    )
    chem.session.rollback()
    spare = stored.create_material(chem.session, chem["chemist"], MaterialCreate(
        name="Acetone", smiles="CC(C)=O", cas="67-64-1", price_per_kg="0.95",
        density_kg_per_l="0.784", hazards=["flammable", "harmful"]))  # fmt: skip
    renamed = stored.update_material(chem.session, chem["chemist"], spare.id,
                                     MaterialUpdate(version=1, name="Acetone (tech.)",
                                                    currency="eur"))  # fmt: skip
    assert (renamed.name, renamed.currency, renamed.version) == ("Acetone (tech.)", "EUR", 2)
    stored.delete_material(chem.session, chem["chemist"], spare.id, version=2)
    assert "Acetone (tech.)" not in library(chem.session)
    assert audit_actions(chem.session, "chem_material")[-3:] == ["create", "update", "delete"]


def test_a_material_is_checked_when_made(chem: ChemWorld) -> None:
    with pytest.raises(Invalid) as caught:
        stored.create_material(chem.session, chem["chemist"], MaterialCreate(
            name="Mystery", smiles="C1CC(", price_per_kg="1"))  # fmt: skip
    assert caught.value.field_errors["smiles"].startswith("'C1CC(' is not a valid SMILES")
    stored.create_material(chem.session, chem["chemist"],
                           MaterialCreate(name="Acetone", price_per_kg="1"))  # fmt: skip
    with pytest.raises(Conflict):
        stored.create_material(chem.session, chem["chemist"],
                               MaterialCreate(name="Acetone", price_per_kg="2"))  # fmt: skip


def test_lists_sort_and_filter(chem: ChemWorld) -> None:
    aspirin = store(chem, aspirin_route(), product="ASP")
    amide = store(chem, amide_route(), product="BZA")
    viewer = chem["viewer"]
    by_price = stored.list_materials(chem.session, viewer, PageParams(sort="-price", page_size=3))
    assert [m.name for m in by_price.items] == ["Palladium on carbon", "Hydrogen", "2-MeTHF"]
    assert (by_price.total, by_price.pages) == (14, 5)
    found = stored.list_materials(chem.session, viewer, PAGE, q="108-88")
    assert [(m.name, m.used_by) for m in found.items] == [
        ("Toluene", ["Aspirin via Kolbe-Schmitt", "Benzanilide convergent"])
    ]
    by_pmi = stored.list_routes(chem.session, viewer, PageParams(sort="-pmi"))
    assert [r.id for r in by_pmi.items] == [amide.id, aspirin.id]  # 18.49 > 13.15
    by_cogs = stored.list_routes(chem.session, viewer, PageParams(sort="cogs"))
    assert by_cogs.items[0].cogs_per_kg == ASPIRIN_COGS
    of_product = stored.list_routes(chem.session, viewer, PAGE, product_id=chem.products["BZA"])
    assert [(r.name, r.product_code) for r in of_product.items] == [
        ("Benzanilide convergent", "BZA")
    ]
    assert stored.list_routes(chem.session, viewer, PAGE, q="KOLBE").total == 1


def test_materials_filter_by_hazard(chem: ChemWorld) -> None:
    store(chem, aspirin_route())
    store(chem, amide_route())
    stored.create_material(chem.session, chem["chemist"], MaterialCreate(
        name="Sodium azide", smiles="[N-]=[N+]=[N-].[Na+]", cas="26628-22-8", price_per_kg="40",
        hazards=[Hazard.ENVIRONMENTAL, Hazard.ACUTELY_TOXIC, Hazard.HEALTH_HAZARD]))  # fmt: skip
    chem.session.commit()
    viewer = chem["viewer"]

    def names(hazard: Hazard, q: str | None = None, params: PageParams = PAGE) -> list[str]:
        page = stored.list_materials(chem.session, viewer, params, q=q, hazard=hazard)
        return [m.name for m in page.items]

    assert names(Hazard.CORROSIVE) == [
        "Acetic anhydride", "Phenol", "Sulfuric acid", "Thionyl chloride", "Triethylamine",
    ]  # fmt: skip
    assert names(Hazard.HARMFUL) == ["Benzoic acid", "Toluene"]  # not "health hazard"
    assert names(Hazard.HEALTH_HAZARD) == ["Nitrobenzene", "Phenol", "Sodium azide", "Toluene"]
    assert names(Hazard.GAS_UNDER_PRESSURE) == ["Carbon dioxide", "Hydrogen"]
    assert names(Hazard.ENVIRONMENTAL) == ["Sodium azide"]
    assert names(Hazard.EXPLOSIVE) == [] and names(Hazard.OXIDISING) == []
    assert names(Hazard.CORROSIVE, q="acid") == ["Sulfuric acid"]
    assert names(Hazard.FLAMMABLE, q="108-") == ["Acetic anhydride", "Toluene"]  # CAS 108-…
    flammable = stored.list_materials(
        chem.session, viewer, PageParams(sort="-price", page_size=4), hazard=Hazard.FLAMMABLE
    )
    assert [m.name for m in flammable.items] == [
        "Hydrogen", "2-MeTHF", "Triethylamine", "Toluene",
    ]  # fmt: skip
    assert (flammable.total, flammable.pages) == (6, 2)
    everything = stored.list_materials(chem.session, viewer, PAGE, hazard=None)
    assert everything.total == 15
    assert (
        stored.list_materials(chem.session, chem["other"], PAGE, hazard=Hazard.FLAMMABLE).total == 0
    )


def test_compare_and_sensitivity_of_stored_routes(chem: ChemWorld) -> None:
    aspirin = store(chem, aspirin_route())
    amide = store(chem, amide_route())
    report = stored.compare(chem.session, chem["viewer"], [aspirin.id, amide.id])
    rows = {r.metric: r for r in report.rows}
    assert rows["pmi"].best == [0] and rows["step_count"].best == [0]
    assert rows["longest_linear_sequence"].best == [0, 1]
    assert rows["overall_yield"].best == [1]  # 0.855 > 0.72
    with pytest.raises(Invalid) as caught:
        stored.compare(chem.session, chem["viewer"], [aspirin.id] * 7)
    assert caught.value.message == "choose 2 to 6 routes to compare (you chose 7)"
    tornado = stored.sensitivity(chem.session, chem["viewer"], aspirin.id, price_change=0.1)
    toluene = next(b for b in tornado.bars if b.key == "Toluene")
    # 6.96 kg × 1.90 × 10 %
    assert toluene.cogs_at_high - toluene.cogs_at_low == Decimal("2.6448")


# --- tenancy and versions -----------------------------------------------------------------------


def test_another_organisation_gets_404_and_a_viewer_403(chem: ChemWorld) -> None:
    route = store(chem, aspirin_route(), product="ASP")
    toluene = material_id(chem, "Toluene")
    other = chem["other"]
    for call in [
        lambda: stored.get_route(chem.session, other, route.id),
        lambda: stored.route_file(chem.session, other, route.id),
        lambda: stored.get_material(chem.session, other, toluene),
        lambda: stored.update_material(chem.session, other, toluene,
                                       MaterialUpdate(version=1, price_per_kg="9")),
        lambda: stored.delete_route(chem.session, other, route.id),
        lambda: stored.choose_route(chem.session, other, route.id,
                                    ChooseRoute(plant_id=chem.plant_id, version=1)),
        lambda: stored.compare(chem.session, other, [route.id, route.id]),
    ]:  # fmt: skip
        with pytest.raises(NotFound):
            call()
    assert stored.list_routes(chem.session, other, PAGE).total == 0
    assert stored.list_materials(chem.session, other, PAGE).total == 0
    assert stored.list_routes(chem.session, chem["sponsor"], PAGE).total == 0
    with pytest.raises(NotPermitted):
        stored.delete_route(chem.session, chem["viewer"], route.id, version=1)
    assert stored.get_route(chem.session, chem["viewer"], route.id).name == route.name


def test_a_stale_version_answers_409(chem: ChemWorld) -> None:
    route = store(chem, aspirin_route())
    data = aspirin_route()
    data["steps"][1]["inputs"][3]["litres_per_kg"] = 3  # a litre of toluene less: 0.87 × 1.90
    updated = stored.update_route(chem.session, chem["chemist"], route.id,
                                  RouteUpdate(version=1, route=RouteFile.model_validate(data)))  # fmt: skip
    assert (updated.version, updated.cogs_per_kg) == (2, Decimal("25.2670"))
    for call in [
        lambda: stored.update_route(chem.session, chem["chemist"], route.id,
                                    RouteUpdate(version=1, route=RouteFile.model_validate(data))),
        lambda: stored.delete_route(chem.session, chem["chemist"], route.id, version=1),
        lambda: stored.choose_route(chem.session, chem["chemist"], route.id,
                                    ChooseRoute(plant_id=chem.plant_id, version=1)),
    ]:  # fmt: skip
        with pytest.raises(Conflict) as caught:
            call()
        assert "(version 2, you sent 1)" in caught.value.message
    toluene = material_id(chem, "Toluene")
    stored.update_material(chem.session, chem["chemist"], toluene,
                           MaterialUpdate(version=1, price_per_kg="2"))  # fmt: skip
    with pytest.raises(Conflict):
        stored.update_material(chem.session, chem["chemist"], toluene,
                               MaterialUpdate(version=1, price_per_kg="3"))  # fmt: skip
    stored.delete_route(chem.session, chem["chemist"], route.id, version=3)
    assert audit_actions(chem.session, "chem_route") == [
        "create", "update", "re-evaluate", "delete",
    ]  # fmt: skip


# --- choosing a route -----------------------------------------------------------------------------


def test_choosing_a_route_makes_the_products_recipe(chem: ChemWorld) -> None:
    route = store(chem, aspirin_route(), product="ASP")
    chosen = stored.choose_route(
        chem.session, chem["chemist"], route.id, ChooseRoute(plant_id=chem.plant_id, version=1)
    )
    chem.session.commit()
    recipe = chosen.recipe
    assert chosen.recipe_replaced is False
    assert (chosen.route.chosen, chosen.route.recipe_id) == (True, recipe.id)
    assert (recipe.product_code, recipe.plant_id) == ("ASP", chem.plant_id)
    # 150 kg of aspirin per batch from 150 / (0.8 × 0.9) kg of input scale
    assert recipe.batch_size == Decimal("208.333")
    # S1 runs 0.8 kg × 150 kg / 200 kg = 0.6 batches of 10 h; S2 one batch of 8 h
    assert [(s.sequence, s.operation, s.equipment_class, s.duration_hours, s.yield_fraction)
            for s in recipe.steps] == [
        (1, "Carboxylation", "reactor", Decimal("6"), Decimal("0.8")),
        (2, "Acetylation", "reactor", Decimal("8"), Decimal("0.9")),
    ]  # fmt: skip
    # kg per kg of aspirin × 150 kg
    assert [(b.material_name, b.quantity_per_batch, b.component_product_id) for b in recipe.bom] == [
        ("Phenol", Decimal("102"), None),
        ("Carbon dioxide", Decimal("60"), None),
        ("Toluene", Decimal("1044"), None),
        ("Water", Decimal("660"), None),
        ("Acetic anhydride", Decimal("105"), None),
        ("Sulfuric acid", Decimal("1.5"), None),
    ]  # fmt: skip
    product = manufacturing.get_product(chem.session, chem["cdmo"], chem.products["ASP"])
    assert [r.id for r in product.recipes] == [recipe.id]
    assert audit_actions(chem.session, "recipe") == ["create"]
    assert audit_actions(chem.session, "chem_route")[-1] == "choose"


def test_choosing_another_route_replaces_the_recipe_and_unmarks_the_first(
    chem: ChemWorld,
) -> None:
    first = store(chem, aspirin_route(), product="ASP")
    data = aspirin_route()
    data["name"] = "Aspirin, better carboxylation"
    data["steps"][0]["yield_fraction"] = "0.85"
    second = store(chem, data, product="ASP")
    made = stored.choose_route(chem.session, chem["chemist"], first.id,
                               ChooseRoute(plant_id=chem.plant_id, version=1)).recipe  # fmt: skip
    again = stored.choose_route(chem.session, chem["chemist"], second.id,
                                ChooseRoute(plant_id=chem.plant_id, version=1))  # fmt: skip
    chem.session.commit()
    assert again.recipe_replaced is True
    assert (again.recipe.id, again.recipe.version) == (made.id, made.version + 1)
    assert again.recipe.batch_size == Decimal("196.078")  # 150 / (0.85 × 0.9)
    assert [s.yield_fraction for s in again.recipe.steps] == [Decimal("0.85"), Decimal("0.9")]
    assert stored.get_route(chem.session, chem["viewer"], first.id).chosen is False
    assert stored.get_route(chem.session, chem["viewer"], second.id).chosen is True
    assert audit_actions(chem.session, "recipe") == ["create", "update"]
    assert audit_actions(chem.session, "chem_route")[-2:] == ["unchoose", "choose"]
    # moving the chosen route to another product unmarks it
    moved = stored.update_route(chem.session, chem["chemist"], second.id, RouteUpdate(
        version=2, route=RouteFile.model_validate(data), product_id=chem.products["BZA"]))  # fmt: skip
    assert (moved.chosen, moved.recipe_id, moved.product_code) == (False, None, "BZA")


def test_choose_needs_a_product_and_passes_manufacturings_refusals_on(chem: ChemWorld) -> None:
    bare = store(chem, aspirin_route())
    with pytest.raises(Invalid) as caught:
        stored.choose_route(chem.session, chem["chemist"], bare.id,
                            ChooseRoute(plant_id=chem.plant_id, version=1))  # fmt: skip
    assert caught.value.field_errors == {
        "product_id": "route 'Aspirin via Kolbe-Schmitt' makes no product yet; link it to a "
        "manufacturing product (product_id) first"
    }
    data = amide_route()
    data["steps"][1]["equipment_class"] = "autoclave"
    data["equipment_rates"]["autoclave"] = "180"
    route = store(chem, data, product="BZA")
    with pytest.raises(Invalid) as caught:
        stored.choose_route(chem.session, chem["chemist"], route.id,
                            ChooseRoute(plant_id=chem.plant_id, version=1))  # fmt: skip
    assert caught.value.field_errors == {  # the branches run first (S2, S1), then S3
        "steps[0].equipment_class": "Main plant has no unit in service of class 'autoclave'; "
        "its classes: hydrogenator, reactor"
    }
    chem.session.rollback()
    assert stored.get_route(chem.session, chem["viewer"], route.id).chosen is False
    with pytest.raises(NotPermitted):
        stored.choose_route(chem.session, chem["viewer"], route.id,
                            ChooseRoute(plant_id=chem.plant_id, version=1))  # fmt: skip
