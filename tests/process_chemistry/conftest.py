"""Route files of the stored process-chemistry tests, and a CDMO world to keep them in.

``aspirin_route()`` — a 2-step linear route (Kolbe–Schmitt carboxylation of phenol, then
acetylation of salicylic acid), every amount in kg or litres so its figures are hand-computed:

* S1 (yield 0.80, 10 h per 200 kg batch on a reactor at 120/h → 6.0 per kg) per kg of salicylic
  acid: phenol 0.85 kg, CO2 0.5 kg, toluene 5 L × 0.87 kg/L = 4.35 kg, water 3 kg (8.70 kg);
* S2 (yield 0.90, 8 h per 150 kg batch on a reactor → 6.4 per kg) per kg of aspirin: salicylic
  acid (S1) 0.8 kg, acetic anhydride 0.7 kg, sulfuric acid 0.01 kg (catalyst), toluene 4 L =
  3.48 kg, water 2 kg.

Per kg of aspirin: phenol 0.68, CO2 0.4, acetic anhydride 0.7, sulfuric acid 0.01, toluene
3.48 + 0.8 × 4.35 = 6.96, water 2 + 0.8 × 3 = 4.4 kg — PMI 13.15, without water 8.75. Raw
materials 0.68 × 2 + 0.4 × 0.1 + 0.7 × 1.5 + 0.01 × 0.2 + 6.96 × 1.9 + 4.4 × 0.01 = 15.72;
conversion 6.4 + 0.8 × 6.0 = 11.2; COGS 26.92 USD/kg.

``amide_route()`` — a 3-step convergent route to benzanilide: benzoyl chloride (S1, thionyl
chloride) and aniline (S2, hydrogenation of nitrobenzene over Pd/C, hydrogen in equivalents)
coupled in S3. It shares toluene and water with the aspirin route.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from opencxo.core.auth.principal import Principal
from opencxo.manufacturing.models import EquipmentUnit, Product
from opencxo.parties.models import Site
from opencxo.process_chemistry import stored
from opencxo.process_chemistry.records import RouteImport, RouteRead
from opencxo.process_chemistry.schemas import RouteFile
from tests.factories import make_organization, make_people, make_provider

TOLUENE: dict[str, Any] = {
    "name": "Toluene",
    "smiles": "Cc1ccccc1",
    "cas": "108-88-3",
    "price_per_kg": "1.90",
    "density_kg_per_l": "0.87",
    "hazards": ["flammable", "health hazard", "harmful"],
}
WATER: dict[str, Any] = {"name": "Water", "smiles": "O", "cas": "7732-18-5", "price_per_kg": "0.01"}

ASPIRIN_ROUTE: dict[str, Any] = {
    "format": "opencxo-route/1",
    "name": "Aspirin via Kolbe-Schmitt",
    "product": "Acetylsalicylic acid",
    "currency": "USD",
    "production_kg": 100,
    "equipment_rates": {"reactor": "120"},
    "materials": [
        {"name": "Phenol", "smiles": "Oc1ccccc1", "cas": "108-95-2", "price_per_kg": "2.00",
         "hazards": ["acutely toxic", "corrosive", "health hazard"]},
        {"name": "Carbon dioxide", "smiles": "O=C=O", "cas": "124-38-9", "price_per_kg": "0.10",
         "hazards": ["gas under pressure"]},
        {"name": "Acetic anhydride", "smiles": "CC(=O)OC(C)=O", "cas": "108-24-7",
         "price_per_kg": "1.50", "hazards": ["flammable", "corrosive"]},
        {"name": "Sulfuric acid", "smiles": "OS(=O)(=O)O", "cas": "7664-93-9",
         "price_per_kg": "0.20", "hazards": ["corrosive"]},
        TOLUENE,
        WATER,
    ],
    "steps": [
        {
            "id": "S1",
            "name": "Carboxylation",
            "reaction_smiles": "Oc1ccccc1.O=C=O>>OC(=O)c1ccccc1O",
            "yield_fraction": "0.80",
            "cycle_time_h": 10,
            "batch_output_kg": 200,
            "equipment_class": "reactor",
            "inputs": [
                {"material": "Phenol", "role": "reactant", "kg_per_kg": "0.85"},
                {"material": "Carbon dioxide", "role": "reactant", "kg_per_kg": "0.5"},
                {"material": "Toluene", "role": "solvent", "litres_per_kg": 5},
                {"material": "Water", "role": "water", "kg_per_kg": 3},
            ],
        },
        {
            "id": "S2",
            "name": "Acetylation",
            "reaction_smiles": (
                "OC(=O)c1ccccc1O.CC(=O)OC(C)=O>>CC(=O)Oc1ccccc1C(=O)O.CC(=O)O"
            ),
            "yield_fraction": "0.90",
            "cycle_time_h": 8,
            "batch_output_kg": 150,
            "equipment_class": "reactor",
            "inputs": [
                {"intermediate": "S1", "role": "reactant", "kg_per_kg": "0.8"},
                {"material": "Acetic anhydride", "role": "reactant", "kg_per_kg": "0.7"},
                {"material": "Sulfuric acid", "role": "catalyst", "kg_per_kg": "0.01"},
                {"material": "Toluene", "role": "solvent", "litres_per_kg": 4},
                {"material": "Water", "role": "water", "kg_per_kg": 2},
            ],
        },
    ],
}  # fmt: skip

ASPIRIN_PMI = 13.15
ASPIRIN_PMI_WITHOUT_WATER = 8.75
ASPIRIN_COGS = Decimal("26.9200")
ASPIRIN_TOLUENE_KG_PER_KG = Decimal("6.96")

AMIDE_ROUTE: dict[str, Any] = {
    "format": "opencxo-route/1",
    "name": "Benzanilide convergent",
    "product": "Benzanilide",
    "currency": "USD",
    "production_kg": 50,
    "equipment_rates": {"reactor": "120", "hydrogenator": "200"},
    "materials": [
        {"name": "Benzoic acid", "smiles": "OC(=O)c1ccccc1", "cas": "65-85-0",
         "price_per_kg": "3.00", "hazards": ["harmful"]},
        {"name": "Thionyl chloride", "smiles": "O=S(Cl)Cl", "cas": "7719-09-7",
         "price_per_kg": "2.50", "hazards": ["corrosive", "acutely toxic"]},
        {"name": "Nitrobenzene", "smiles": "O=[N+]([O-])c1ccccc1", "cas": "98-95-3",
         "price_per_kg": "1.20", "hazards": ["acutely toxic", "health hazard"]},
        {"name": "Hydrogen", "smiles": "[H][H]", "cas": "1333-74-0", "price_per_kg": "5.00",
         "hazards": ["flammable", "gas under pressure"]},
        {"name": "Palladium on carbon", "price_per_kg": "900"},
        {"name": "Methanol", "smiles": "CO", "cas": "67-56-1", "price_per_kg": "0.40",
         "density_kg_per_l": "0.792", "hazards": ["flammable", "acutely toxic"]},
        {"name": "Triethylamine", "smiles": "CCN(CC)CC", "cas": "121-44-8",
         "price_per_kg": "2.20", "hazards": ["flammable", "corrosive"]},
        {"name": "2-MeTHF", "smiles": "CC1CCCO1", "cas": "96-47-9", "price_per_kg": "4.00",
         "density_kg_per_l": "0.854", "hazards": ["flammable"]},
        TOLUENE,
        WATER,
    ],
    "steps": [
        {
            "id": "S1",
            "name": "Acid chloride",
            "reaction_smiles": "OC(=O)c1ccccc1.O=S(Cl)Cl>>O=C(Cl)c1ccccc1.O=S=O.Cl",
            "yield_fraction": "0.95",
            "cycle_time_h": 6,
            "batch_output_kg": 100,
            "equipment_class": "reactor",
            "inputs": [
                {"material": "Benzoic acid", "role": "reactant", "kg_per_kg": "0.92"},
                {"material": "Thionyl chloride", "role": "reactant", "kg_per_kg": "1.0"},
                {"material": "Toluene", "role": "solvent", "litres_per_kg": 3},
            ],
        },
        {
            "id": "S2",
            "name": "Hydrogenation",
            "reaction_smiles": (
                "O=[N+]([O-])c1ccccc1.[H][H].[H][H].[H][H]>>Nc1ccccc1.O.O"
            ),
            "yield_fraction": "0.95",
            "cycle_time_h": 12,
            "batch_output_kg": 80,
            "equipment_class": "hydrogenator",
            "inputs": [
                {"material": "Nitrobenzene", "role": "reactant", "kg_per_kg": "1.4"},
                {"material": "Hydrogen", "role": "reactant", "equivalents": "3.3",
                 "coefficient": 3},
                {"material": "Palladium on carbon", "role": "catalyst", "kg_per_kg": "0.02"},
                {"material": "Methanol", "role": "solvent", "litres_per_kg": 6},
            ],
        },
        {
            "id": "S3",
            "name": "Amidation",
            "reaction_smiles": "O=C(Cl)c1ccccc1.Nc1ccccc1>>O=C(Nc1ccccc1)c1ccccc1.Cl",
            "yield_fraction": "0.90",
            "cycle_time_h": 10,
            "batch_output_kg": 120,
            "equipment_class": "reactor",
            "inputs": [
                {"intermediate": "S1", "role": "reactant", "kg_per_kg": "0.8"},
                {"intermediate": "S2", "role": "reactant", "kg_per_kg": "0.55"},
                {"material": "Triethylamine", "role": "reagent", "kg_per_kg": "0.6"},
                {"material": "2-MeTHF", "role": "solvent", "litres_per_kg": 8},
                {"material": "Water", "role": "water", "kg_per_kg": 4},
            ],
        },
    ],
}  # fmt: skip


def aspirin_route() -> dict[str, Any]:
    return copy.deepcopy(ASPIRIN_ROUTE)


def amide_route() -> dict[str, Any]:
    return copy.deepcopy(AMIDE_ROUTE)


@dataclass
class ChemWorld:
    """Kestrel CDMO (admin ``cdmo``, member ``chemist``, viewer ``viewer``) with its plant
    ``Main plant`` (two reactors and a hydrogenator) and the products ASP (aspirin, kg) and BZA
    (benzanilide, kg) made for Sponsor A; Other CDMO (admin ``other``) with product OTH; Sponsor
    A's admin ``sponsor``."""

    session: Session
    cdmo_id: uuid.UUID
    other_id: uuid.UUID
    sponsor_id: uuid.UUID
    plant_id: uuid.UUID
    plant_name: str
    people: dict[str, Principal]
    emails: dict[str, str]
    products: dict[str, uuid.UUID] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Principal:
        return self.people[name]


@pytest.fixture
def chem(session: Session) -> ChemWorld:
    cdmo = make_provider(session, name="Kestrel CDMO", service_lines=["CDMO"])
    other = make_provider(session, name="Other CDMO", service_lines=["CDMO"])
    sponsor = make_organization(session, name="Sponsor A Bio")
    plant = session.execute(
        select(Site).where(Site.organization_id == cdmo.id, Site.site_type == "plant")
    ).scalar_one()
    roles = {
        "cdmo": (cdmo.id, "admin"),
        "chemist": (cdmo.id, "member"),
        "viewer": (cdmo.id, "viewer"),
        "other": (other.id, "admin"),
        "sponsor": (sponsor.id, "admin"),
    }
    people, emails = make_people(session, roles=roles)
    world = ChemWorld(
        session=session,
        cdmo_id=cdmo.id,
        other_id=other.id,
        sponsor_id=sponsor.id,
        plant_id=plant.id,
        plant_name=plant.name,
        people=people,
        emails=emails,
    )
    for code, name, equipment_class in [
        ("R-101", "Reactor 1", "reactor"),
        ("R-102", "Reactor 2", "reactor"),
        ("H-201", "Hydrogenator", "hydrogenator"),
    ]:
        session.add(
            EquipmentUnit(provider_id=cdmo.id, plant_id=plant.id, code=code, name=name,
                          equipment_class=equipment_class, capacity=Decimal(2000),
                          capacity_unit="L")
        )  # fmt: skip
    for provider_id, code, name, kind, unit in [
        (cdmo.id, "ASP", "Aspirin", "api", "kg"),
        (cdmo.id, "BZA", "Benzanilide", "intermediate", "kg"),
        (cdmo.id, "TAB", "Aspirin 100 mg tablets", "drug_product", "units"),
        (other.id, "OTH", "Other API", "api", "kg"),
    ]:
        product = Product(provider_id=provider_id, sponsor_id=sponsor.id, code=code, name=name,
                          kind=kind, unit=unit,
                          dosage_form="tablet" if unit == "units" else None,
                          strength="100 mg" if unit == "units" else None)  # fmt: skip
        session.add(product)
        session.flush()
        world.products[code] = product.id
    session.commit()
    return world


def store(
    chem: ChemWorld, data: dict[str, Any], *, who: str = "chemist", product: str | None = None
) -> RouteRead:
    """Import a route file as ``who`` (linked to product code ``product``) and commit."""
    body = RouteImport(
        route=RouteFile.model_validate(data),
        product_id=chem.products[product] if product else None,
    )
    saved = stored.import_route(chem.session, chem[who], body)
    chem.session.commit()
    return saved
