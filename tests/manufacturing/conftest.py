"""Fixtures of the manufacturing tests: a CDMO plant with units, products, recipes and orders
for two sponsors, built row by row (the services are under test, not used to build).

People (password ``PASSWORD``; argon2 at its lowest cost): the CDMO's admin (``cdmo``), member
(``planner``), QA (``qa``) and viewer (``viewer``); sponsor A's admin (``sponsor``); sponsor B's
admin (``other_sponsor``); another CDMO's admin (``other_cdmo``).

The plant (``Main plant`` of the CDMO): reactors R-101 and R-102, filter-dryer F-201, dryer
D-301, granulator G-401 and tablet press P-501, cleaning times per class. Products: for sponsor
A the intermediate INT-1, the API API-1 (consumes 60 kg INT-1 per batch) and the tablet TAB-1
(consumes 10 kg API-1 per batch); for sponsor B the API API-B. Orders: PO-A-1 (80 kg API-1, due
in 30 days, priority 3) for A and PO-B-1 (40 kg API-B, due in 20 days) for B.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from opencxo.core.auth.principal import Principal
from opencxo.manufacturing.models import (
    BomLine,
    CleaningTime,
    EquipmentUnit,
    Product,
    ProductionOrder,
    Recipe,
    RecipeStep,
    Specification,
)
from opencxo.parties.models import Site
from tests.factories import make_organization, make_people, make_provider

TODAY = date.today()


@dataclass
class PlantWorld:
    session: Session
    provider_id: uuid.UUID
    other_provider_id: uuid.UUID
    sponsor_a_id: uuid.UUID
    sponsor_b_id: uuid.UUID
    plant_id: uuid.UUID
    people: dict[str, Principal]
    emails: dict[str, str]
    units: dict[str, uuid.UUID] = field(default_factory=dict)  # by code
    products: dict[str, uuid.UUID] = field(default_factory=dict)  # by code
    recipes: dict[str, uuid.UUID] = field(default_factory=dict)  # by product code
    specifications: dict[str, uuid.UUID] = field(default_factory=dict)  # "API-1/Assay"
    orders: dict[str, uuid.UUID] = field(default_factory=dict)  # by number

    def __getitem__(self, name: str) -> Principal:
        return self.people[name]


def _recipe(
    session: Session,
    world: PlantWorld,
    product_code: str,
    batch_size: str,
    steps: list[tuple[str, str, str, str]],
    bom: list[tuple[str | None, str, str, str]] = (),  # type: ignore[assignment]
) -> None:
    recipe = Recipe(
        provider_id=world.provider_id,
        product_id=world.products[product_code],
        plant_id=world.plant_id,
        batch_size=Decimal(batch_size),
    )
    recipe.steps = [
        RecipeStep(
            sequence=i,
            operation=operation,
            equipment_class=equipment_class,
            duration_hours=Decimal(hours),
            yield_fraction=Decimal(yield_fraction),
        )
        for i, (operation, equipment_class, hours, yield_fraction) in enumerate(steps, start=1)
    ]
    recipe.bom_lines = [
        BomLine(
            position=i,
            component_product_id=world.products[code] if code else None,
            material_name=name,
            quantity_per_batch=Decimal(quantity),
            unit=unit,
        )
        for i, (code, name, quantity, unit) in enumerate(bom)
    ]
    session.add(recipe)
    session.flush()
    world.recipes[product_code] = recipe.id


@pytest.fixture
def plant(session: Session) -> PlantWorld:
    provider = make_provider(session, name="Kestrel CDMO", service_lines=["CDMO"])
    other = make_provider(session, name="Other CDMO", service_lines=["CMO"])
    sponsor_a = make_organization(session, name="Sponsor A Bio")
    sponsor_b = make_organization(session, name="Sponsor B Pharma")
    plant_site = session.execute(
        select(Site).where(Site.organization_id == provider.id, Site.site_type == "plant")
    ).scalar_one()

    roles = {
        "cdmo": (provider.id, "admin"),
        "planner": (provider.id, "member"),
        "qa": (provider.id, "qa"),
        "viewer": (provider.id, "viewer"),
        "sponsor": (sponsor_a.id, "admin"),
        "other_sponsor": (sponsor_b.id, "admin"),
        "other_cdmo": (other.id, "admin"),
    }
    people, emails = make_people(session, roles=roles)

    world = PlantWorld(
        session=session,
        provider_id=provider.id,
        other_provider_id=other.id,
        sponsor_a_id=sponsor_a.id,
        sponsor_b_id=sponsor_b.id,
        plant_id=plant_site.id,
        people=people,
        emails=emails,
    )

    units = [
        ("R-101", "Reactor 1 (4000 L)", "reactor", "4000", "L"),
        ("R-102", "Reactor 2 (2500 L)", "reactor", "2500", "L"),
        ("F-201", "Filter-dryer 1", "filter_dryer", "1.5", "m2"),
        ("D-301", "Tray dryer", "dryer", "300", "kg"),
        ("G-401", "High-shear granulator", "granulator", "150", "kg"),
        ("P-501", "Rotary tablet press", "tablet_press", "200000", "units/h"),
    ]
    for code, name, equipment_class, capacity, capacity_unit in units:
        unit = EquipmentUnit(
            provider_id=provider.id,
            plant_id=plant_site.id,
            code=code,
            name=name,
            equipment_class=equipment_class,
            capacity=Decimal(capacity),
            capacity_unit=capacity_unit,
        )
        session.add(unit)
        session.flush()
        world.units[code] = unit.id
    for equipment_class, same, change in [
        ("reactor", "2", "8"),
        ("filter_dryer", "1", "4"),
        ("dryer", "1", "3"),
        ("granulator", "1", "4"),
        ("tablet_press", "1", "6"),
    ]:
        session.add(
            CleaningTime(
                provider_id=provider.id,
                plant_id=plant_site.id,
                equipment_class=equipment_class,
                same_product_hours=Decimal(same),
                product_change_hours=Decimal(change),
            )
        )

    products = [
        ("INT-1", "Boc-amine intermediate", "intermediate", sponsor_a.id, "kg", None, None),
        ("API-1", "Velorasib free base", "api", sponsor_a.id, "kg", None, None),
        (
            "TAB-1",
            "Velorasib 50 mg tablets",
            "drug_product",
            sponsor_a.id,
            "units",
            "tablet",
            "50 mg",
        ),
        ("API-B", "Tenoxiprant hydrochloride", "api", sponsor_b.id, "kg", None, None),
    ]
    for code, name, kind, sponsor_id, unit, form, strength in products:
        product = Product(
            provider_id=provider.id,
            sponsor_id=sponsor_id,
            code=code,
            name=name,
            kind=kind,
            unit=unit,
            dosage_form=form,
            strength=strength,
            shelf_life_months=24,
        )
        session.add(product)
        session.flush()
        world.products[code] = product.id
    specs = [
        ("API-1", "Assay", "HPLC-07", "98.0", "102.0", "%", None),
        ("API-1", "Water", "Karl Fischer", None, "0.5", "%", None),
        ("API-1", "Identity", "IR", None, None, "", "Conforms to reference spectrum"),
        ("API-B", "Assay", "HPLC-11", "97.0", "103.0", "%", None),
    ]
    for position, (code, test, method, low, high, unit, text) in enumerate(specs):
        spec = Specification(
            product_id=world.products[code],
            position=position,
            test=test,
            method=method,
            lower_limit=Decimal(low) if low else None,
            upper_limit=Decimal(high) if high else None,
            result_unit=unit,
            acceptance_text=text,
        )
        session.add(spec)
        session.flush()
        world.specifications[f"{code}/{test}"] = spec.id

    _recipe(
        session,
        world,
        "INT-1",
        "100",
        [("Coupling", "reactor", "10", "0.90"), ("Isolation", "filter_dryer", "6", "0.95")],
        [(None, "Toluene", "400", "kg")],
    )
    _recipe(
        session,
        world,
        "API-1",
        "50",
        [
            ("Deprotection", "reactor", "12", "0.85"),
            ("Filtration", "filter_dryer", "8", "0.95"),
            ("Drying", "dryer", "10", "0.98"),
        ],
        [("INT-1", "Boc-amine intermediate", "60", "kg")],
    )
    _recipe(
        session,
        world,
        "TAB-1",
        "200000",
        [("Granulation", "granulator", "6", "0.98"), ("Compression", "tablet_press", "8", "0.99")],
        [("API-1", "Velorasib free base", "10", "kg")],
    )
    _recipe(
        session,
        world,
        "API-B",
        "40",
        [("Salt formation", "reactor", "14", "0.90"), ("Drying", "dryer", "12", "0.97")],
    )

    for number, product_code, sponsor_id, quantity, due_days, priority in [
        ("PO-A-1", "API-1", sponsor_a.id, "80", 30, 3),
        ("PO-B-1", "API-B", sponsor_b.id, "40", 20, 1),
    ]:
        order = ProductionOrder(
            provider_id=provider.id,
            sponsor_id=sponsor_id,
            plant_id=plant_site.id,
            product_id=world.products[product_code],
            number=number,
            quantity=Decimal(quantity),
            due_date=TODAY + timedelta(days=due_days),
            priority=priority,
        )
        session.add(order)
        session.flush()
        world.orders[number] = order.id
    session.commit()
    return world
