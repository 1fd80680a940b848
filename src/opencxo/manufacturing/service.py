"""Use cases of manufacturing master data and production orders.

A plant is a ``plant`` site (parties) of a provider (the CDMO). The provider reads and, with
``manufacturing:write``, writes its plants' units, maintenance, cleaning and changeover times,
its products, specifications, recipes and production orders. The sponsor a product or order is
made for reads that product (with its specifications) and that order (with its batches), never
the plant's rows or recipes (the CDMO's process), never another sponsor's anything. Everyone
else gets the 404 of an unknown id (see :mod:`opencxo.manufacturing.access`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from opencxo.contracts import service as contracts
from opencxo.core import audit
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted, check_version
from opencxo.core.pagination import Page, PageParams
from opencxo.core.types import utcnow
from opencxo.manufacturing import access, planning, repository, scheduling
from opencxo.manufacturing.models import (
    BatchStatus,
    BomLine,
    ChangeoverOverride,
    CleaningTime,
    EquipmentUnit,
    MaintenanceWindow,
    OrderStatus,
    Product,
    ProductionOrder,
    ProductKind,
    Recipe,
    RecipeStep,
    Specification,
)
from opencxo.manufacturing.schemas import (
    BomLineRead,
    ChangeoverInput,
    ChangeoverKey,
    ChangeoverRead,
    CleaningTimeInput,
    CleaningTimeRead,
    MaintenanceWindowCreate,
    MaintenanceWindowRead,
    OrderBatch,
    OrderCancel,
    OrderCreate,
    OrderListItem,
    OrderRead,
    OrderUpdate,
    PlantRead,
    PlantSummary,
    ProductCreate,
    ProductListItem,
    ProductRead,
    ProductUpdate,
    RecipeInput,
    RecipeRead,
    RecipeStepRead,
    RecipeUpdate,
    SpecificationCreate,
    SpecificationRead,
    SpecificationUpdate,
    UnitCreate,
    UnitRead,
    UnitUpdate,
    clean_equipment_class,
)
from opencxo.parties import service as parties

WRITE = Permission.MANUFACTURING_WRITE
UNIT_FIELDS = (
    "code",
    "name",
    "equipment_class",
    "capacity",
    "capacity_unit",
    "gmp_grade",
    "active",
)
PRODUCT_FIELDS = (
    "code", "name", "kind", "unit", "sponsor_id", "dosage_form", "strength", "description",
    "shelf_life_months",
)  # fmt: skip
SPEC_FIELDS = (
    "position", "test", "method", "lower_limit", "upper_limit", "result_unit", "acceptance_text",
)  # fmt: skip
ORDER_FIELDS = (
    "number", "product_id", "plant_id", "quantity", "due_date", "release_date", "priority",
    "status", "notes", "work_order_id",
)  # fmt: skip
# Output per batch to the gram (or the tablet, in thousandths): finer than any balance reads.
OUTPUT_QUANTUM = Decimal("0.001")
CLOSED_ORDER = (OrderStatus.COMPLETED.value, OrderStatus.CANCELLED.value)


def _audit(
    session: Session,
    principal: Principal,
    provider_id: uuid.UUID,
    *,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    audit.record(
        session,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=principal,
        organization_id=provider_id,
        before=before,
        after=after,
        reason=reason,
    )


def _names(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    return {o.id: o.name for o in parties.organizations_named_by_id(session, wanted)}


# --- plants --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plant:
    """A plant site of a provider, as the manufacturing side needs it."""

    id: uuid.UUID
    name: str
    country: str
    city: str
    provider_id: uuid.UUID
    provider_name: str


def _plants_of(session: Session, provider_ids: Iterable[uuid.UUID]) -> list[Plant]:
    plants = []
    for org in parties.organizations_named_by_id(session, set(provider_ids)):
        if org.kind != "provider":
            continue
        plants += [
            Plant(s.id, s.name, s.country, s.city, org.id, org.name)
            for s in org.sites
            if s.site_type == "plant"
        ]
    return sorted(plants, key=lambda p: (p.provider_name, p.name.casefold()))


def _site_names(session: Session, provider_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Every site of the providers by id (the plant an order names, whoever reads it)."""
    return {
        s.id: s.name
        for org in parties.organizations_named_by_id(session, set(provider_ids))
        for s in org.sites
    }


def readable_plants(session: Session, principal: Principal) -> list[Plant]:
    """The plants of the providers whose manufacturing rows the principal reads."""
    return _plants_of(session, access.readers(principal))


def _plant(session: Session, principal: Principal, plant_id: uuid.UUID) -> Plant:
    for plant in readable_plants(session, principal):
        if plant.id == plant_id:
            return plant
    raise NotFound("plant not found")


def _writable_plant(session: Session, principal: Principal, plant_id: uuid.UUID) -> Plant:
    plant = _plant(session, principal, plant_id)
    access.require(principal, WRITE, "plant", plant.provider_id)
    return plant


def _unit_read(unit: EquipmentUnit) -> UnitRead:
    return UnitRead.model_validate(unit)


def list_plants(session: Session, principal: Principal) -> list[PlantSummary]:
    plants = readable_plants(session, principal)
    units = repository.units_of_plants(session, [p.id for p in plants])
    return [
        PlantSummary(
            **vars(p),
            unit_count=sum(1 for u in units if u.plant_id == p.id and u.active),
            inactive_unit_count=sum(1 for u in units if u.plant_id == p.id and not u.active),
        )
        for p in plants
    ]


def _changeover_read(row: ChangeoverOverride, codes: dict[uuid.UUID, str]) -> ChangeoverRead:
    return ChangeoverRead(
        id=row.id,
        equipment_class=row.equipment_class,
        from_product_id=row.from_product_id,
        from_product_code=codes.get(row.from_product_id, "?"),
        to_product_id=row.to_product_id,
        to_product_code=codes.get(row.to_product_id, "?"),
        hours=row.hours,
    )


def get_plant(session: Session, principal: Principal, plant_id: uuid.UUID) -> PlantRead:
    """The plant with its units (maintenance windows included), cleaning times and overrides."""
    plant = _plant(session, principal, plant_id)
    units = repository.units_of_plants(session, [plant.id])
    overrides = repository.changeovers(session, plant.id)
    products = repository.products_by_ids(
        session, [o.from_product_id for o in overrides] + [o.to_product_id for o in overrides]
    )
    codes = {p.id: p.code for p in products}
    return PlantRead(
        **vars(plant),
        unit_count=sum(1 for u in units if u.active),
        inactive_unit_count=sum(1 for u in units if not u.active),
        units=[_unit_read(u) for u in units],
        equipment_classes=sorted({u.equipment_class for u in units if u.active}),
        cleaning_times=[
            CleaningTimeRead.model_validate(c) for c in repository.cleaning_times(session, plant.id)
        ],
        changeovers=[_changeover_read(o, codes) for o in overrides],
    )


def _unit(session: Session, principal: Principal, unit_id: uuid.UUID) -> EquipmentUnit:
    unit = repository.unit(session, unit_id)
    if unit is None:
        raise NotFound("equipment unit not found")
    access.require_readable(principal, "equipment unit", unit.provider_id)
    return unit


def _writable_unit(session: Session, principal: Principal, unit_id: uuid.UUID) -> EquipmentUnit:
    unit = _unit(session, principal, unit_id)
    access.require(principal, WRITE, "equipment unit", unit.provider_id)
    return unit


def _unique_code(session: Session, plant: Plant | uuid.UUID, code: str) -> None:
    plant_id = plant.id if isinstance(plant, Plant) else plant
    if repository.unit_by_code(session, plant_id, code) is not None:
        raise Conflict(
            f"the plant has a unit coded {code!r} already",
            field_errors={"code": "already used in this plant; choose another code"},
        )


def add_unit(
    session: Session, principal: Principal, plant_id: uuid.UUID, data: UnitCreate
) -> UnitRead:
    plant = _writable_plant(session, principal, plant_id)
    _unique_code(session, plant, data.code)
    unit = EquipmentUnit(
        provider_id=plant.provider_id,
        plant_id=plant.id,
        **data.model_dump(),
    )
    unit.gmp_grade = data.gmp_grade.value
    unit.maintenance_windows = []
    session.add(unit)
    session.flush()
    _audit(session, principal, plant.provider_id, action="create", entity_type="equipment_unit",
           entity_id=unit.id, after=audit.snapshot(unit, UNIT_FIELDS))  # fmt: skip
    return _unit_read(unit)


def get_unit(session: Session, principal: Principal, unit_id: uuid.UUID) -> UnitRead:
    return _unit_read(_unit(session, principal, unit_id))


def update_unit(
    session: Session, principal: Principal, unit_id: uuid.UUID, data: UnitUpdate
) -> UnitRead:
    """Change a unit; ``active=false`` takes it out of service (the scheduler skips it)."""
    unit = _writable_unit(session, principal, unit_id)
    check_version("equipment unit", unit.version, data.version)
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    for name in ("code", "name", "equipment_class", "capacity", "capacity_unit", "gmp_grade"):
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} cannot be empty", field_errors={name: "give a value"})
    if changes.get("active") is None:
        changes.pop("active", None)
    if "code" in changes and changes["code"] != unit.code:
        _unique_code(session, unit.plant_id, changes["code"])
    before = audit.snapshot(unit, UNIT_FIELDS)
    for name, value in changes.items():
        setattr(unit, name, getattr(value, "value", value))
    after = audit.snapshot(unit, UNIT_FIELDS)
    if after != before:
        session.flush()
        _audit(session, principal, unit.provider_id, action="update",
               entity_type="equipment_unit", entity_id=unit.id, before=before, after=after)  # fmt: skip
    return _unit_read(unit)


def delete_unit(session: Session, principal: Principal, unit_id: uuid.UUID) -> None:
    """Remove a unit never used; one a schedule or batch record names is deactivated instead."""
    unit = _writable_unit(session, principal, unit_id)
    used_by = repository.unit_in_use(session, unit.id)
    if used_by is not None:
        raise Conflict(
            f"{unit.code} is used by {used_by} and is kept for its history; take it out of "
            "service instead (set active to false)"
        )
    before = audit.snapshot(unit, UNIT_FIELDS)
    provider_id = unit.provider_id
    session.delete(unit)
    session.flush()
    _audit(session, principal, provider_id, action="delete", entity_type="equipment_unit",
           entity_id=unit_id, before=before)  # fmt: skip


def add_maintenance(
    session: Session, principal: Principal, unit_id: uuid.UUID, data: MaintenanceWindowCreate
) -> MaintenanceWindowRead:
    unit = _writable_unit(session, principal, unit_id)
    window = MaintenanceWindow(
        unit_id=unit.id, starts_at=data.starts_at, ends_at=data.ends_at, reason=data.reason
    )
    session.add(window)
    session.flush()
    _audit(session, principal, unit.provider_id, action="create",
           entity_type="maintenance_window", entity_id=window.id,
           after={"unit": unit.code, **audit.snapshot(window, ("starts_at", "ends_at", "reason"))})  # fmt: skip
    return MaintenanceWindowRead.model_validate(window)


def delete_maintenance(session: Session, principal: Principal, window_id: uuid.UUID) -> None:
    window = repository.maintenance_window(session, window_id)
    if window is None:
        raise NotFound("maintenance window not found")
    unit = window.unit
    access.require(principal, WRITE, "maintenance window", unit.provider_id)
    before = {"unit": unit.code, **audit.snapshot(window, ("starts_at", "ends_at", "reason"))}
    unit.maintenance_windows.remove(window)
    session.flush()
    _audit(session, principal, unit.provider_id, action="delete",
           entity_type="maintenance_window", entity_id=window_id, before=before)  # fmt: skip


def _class_of(text: str, field: str = "equipment_class") -> str:
    try:
        return clean_equipment_class(text)
    except ValueError as exc:
        raise Invalid(str(exc), field_errors={field: str(exc)}) from None


CLEANING_FIELDS = ("equipment_class", "same_product_hours", "product_change_hours")


def set_cleaning_time(
    session: Session,
    principal: Principal,
    plant_id: uuid.UUID,
    equipment_class_name: str,
    data: CleaningTimeInput,
) -> CleaningTimeRead:
    """Create or replace the cleaning times of one equipment class in the plant."""
    plant = _writable_plant(session, principal, plant_id)
    name = _class_of(equipment_class_name)
    row = repository.cleaning_time(session, plant.id, name)
    if row is None:
        if data.version:
            raise Conflict(f"the cleaning times of {name} were removed; reload the plant")
        row = CleaningTime(
            provider_id=plant.provider_id,
            plant_id=plant.id,
            equipment_class=name,
            same_product_hours=data.same_product_hours,
            product_change_hours=data.product_change_hours,
        )
        session.add(row)
        session.flush()
        _audit(session, principal, plant.provider_id, action="create",
               entity_type="cleaning_time", entity_id=row.id,
               after=audit.snapshot(row, CLEANING_FIELDS))  # fmt: skip
        return CleaningTimeRead.model_validate(row)
    if data.version == 0:
        raise Conflict(
            f"{name} has cleaning times already (added meanwhile?); reload the plant and edit "
            "its row"
        )
    check_version("cleaning time", row.version, data.version)
    before = audit.snapshot(row, CLEANING_FIELDS)
    row.same_product_hours = data.same_product_hours
    row.product_change_hours = data.product_change_hours
    session.flush()
    after = audit.snapshot(row, CLEANING_FIELDS)
    if after != before:
        _audit(session, principal, plant.provider_id, action="update",
               entity_type="cleaning_time", entity_id=row.id, before=before, after=after)  # fmt: skip
    return CleaningTimeRead.model_validate(row)


def _own_product(
    session: Session, provider_id: uuid.UUID, product_id: uuid.UUID, field: str
) -> Product:
    product = repository.product(session, product_id)
    if product is None or product.provider_id != provider_id:
        raise Invalid("no such product", field_errors={field: "choose one of the plant's products"})
    return product


def set_changeover(
    session: Session, principal: Principal, plant_id: uuid.UUID, data: ChangeoverInput
) -> ChangeoverRead:
    """Create or replace a product-to-product changeover time on one equipment class."""
    plant = _writable_plant(session, principal, plant_id)
    source = _own_product(session, plant.provider_id, data.from_product_id, "from_product_id")
    target = _own_product(session, plant.provider_id, data.to_product_id, "to_product_id")
    if source.id == target.id:
        raise Invalid(
            "a changeover is between two different products",
            field_errors={"to_product_id": "the same product follows itself: set the class's "
                          "same-product cleaning time instead"},
        )  # fmt: skip
    row = repository.changeover(session, plant.id, data.equipment_class, source.id, target.id)
    codes = {source.id: source.code, target.id: target.code}
    fields = ("equipment_class", "from_product_id", "to_product_id", "hours")
    if row is None:
        row = ChangeoverOverride(
            provider_id=plant.provider_id,
            plant_id=plant.id,
            equipment_class=data.equipment_class,
            from_product_id=source.id,
            to_product_id=target.id,
            hours=data.hours,
        )
        session.add(row)
        session.flush()
        _audit(session, principal, plant.provider_id, action="create",
               entity_type="changeover_override", entity_id=row.id,
               after=audit.snapshot(row, fields))  # fmt: skip
    elif row.hours != data.hours:
        before = audit.snapshot(row, fields)
        row.hours = data.hours
        session.flush()
        _audit(session, principal, plant.provider_id, action="update",
               entity_type="changeover_override", entity_id=row.id, before=before,
               after=audit.snapshot(row, fields))  # fmt: skip
    return _changeover_read(row, codes)


def delete_changeover(
    session: Session, principal: Principal, plant_id: uuid.UUID, key: ChangeoverKey
) -> None:
    plant = _writable_plant(session, principal, plant_id)
    row = repository.changeover(
        session, plant.id, key.equipment_class, key.from_product_id, key.to_product_id
    )
    if row is None:
        raise NotFound("changeover override not found")
    before = audit.snapshot(row, ("equipment_class", "from_product_id", "to_product_id", "hours"))
    row_id = row.id
    session.delete(row)
    session.flush()
    _audit(session, principal, plant.provider_id, action="delete",
           entity_type="changeover_override", entity_id=row_id, before=before)  # fmt: skip


# --- products ------------------------------------------------------------------------------------


def _product(session: Session, principal: Principal, product_id: uuid.UUID) -> Product:
    product = repository.product(session, product_id)
    if product is None:
        raise NotFound("product not found")
    access.require_readable(principal, "product", product.provider_id, product.sponsor_id)
    return product


def _writable_product(session: Session, principal: Principal, product_id: uuid.UUID) -> Product:
    product = _product(session, principal, product_id)
    access.require(principal, WRITE, "product", product.provider_id, product.sponsor_id)
    return product


def _viewer_role(principal: Principal, provider_id: uuid.UUID) -> str:
    return "provider" if access.is_provider_side(principal, provider_id) else "sponsor"


def writable_provider_ids(session: Session, principal: Principal) -> set[uuid.UUID]:
    """The principal's provider organisations where it holds ``manufacturing:write``."""
    writable = access.writable_providers(principal) & principal.organization_ids
    return {
        o.id for o in parties.organizations_named_by_id(session, writable) if o.kind == "provider"
    }


def acting_provider(
    session: Session, principal: Principal, provider_id: uuid.UUID | None = None
) -> uuid.UUID:
    """The provider a new product or order belongs to: the one named, or the principal's only
    provider organisation with ``manufacturing:write``."""
    providers = writable_provider_ids(session, principal)
    if provider_id is not None:
        if provider_id not in providers:
            raise NotPermitted("you cannot write manufacturing data of that provider")
        return provider_id
    if not providers:
        raise NotPermitted("only a provider (CDMO) with manufacturing:write adds products")
    if len(providers) > 1:
        raise Invalid(
            "you belong to several providers",
            field_errors={"provider_id": "choose the provider the product is made by"},
        )
    return next(iter(providers))


def _check_sponsor(session: Session, sponsor_id: uuid.UUID) -> None:
    found = parties.organizations_named_by_id(session, [sponsor_id])
    if not found or found[0].kind != "sponsor":
        raise Invalid(
            "no such sponsor", field_errors={"sponsor_id": "choose a sponsor organisation"}
        )


def _check_drug_product(kind: str, dosage_form: str | None, strength: str | None) -> None:
    if kind != ProductKind.DRUG_PRODUCT.value:
        return
    missing = {
        name: f"a drug product needs its {label}"
        for name, label, value in (
            ("dosage_form", "dosage form (tablet, capsule …)", dosage_form),
            ("strength", "strength (50 mg …)", strength),
        )
        if not value
    }
    if missing:
        raise Invalid("; ".join(missing.values()), field_errors=missing)


def _unique_product_code(session: Session, provider_id: uuid.UUID, code: str) -> None:
    if repository.product_by_code(session, provider_id, code) is not None:
        raise Conflict(
            f"a product coded {code!r} exists",
            field_errors={"code": "already used; choose another"},
        )


def _product_item(
    product: Product,
    names: dict[uuid.UUID, str],
    recipes: int,
    specifications: int,
) -> dict[str, Any]:
    return {
        "id": product.id,
        "code": product.code,
        "name": product.name,
        "kind": product.kind,
        "unit": product.unit,
        "dosage_form": product.dosage_form,
        "strength": product.strength,
        "provider_id": product.provider_id,
        "provider_name": names.get(product.provider_id, ""),
        "sponsor_id": product.sponsor_id,
        "sponsor_name": names.get(product.sponsor_id, ""),
        "recipe_count": recipes,
        "specification_count": specifications,
        "updated_at": product.updated_at,
    }


def _product_read(session: Session, principal: Principal, product: Product) -> ProductRead:
    role = _viewer_role(principal, product.provider_id)
    recipes = (
        [_recipe_read(session, r) for r in repository.recipes_of_product(session, product.id)]
        if role == "provider"
        else []
    )
    names = _names(session, [product.provider_id, product.sponsor_id])
    return ProductRead(
        **_product_item(product, names, len(recipes), len(product.specifications)),
        description=product.description,
        shelf_life_months=product.shelf_life_months,
        specifications=[SpecificationRead.model_validate(s) for s in product.specifications],
        recipes=recipes,
        viewer_role=role,
        version=product.version,
    )


def get_product(session: Session, principal: Principal, product_id: uuid.UUID) -> ProductRead:
    return _product_read(session, principal, _product(session, principal, product_id))


def list_products(
    session: Session,
    principal: Principal,
    *,
    params: PageParams,
    kind: ProductKind | None = None,
    sponsor_id: uuid.UUID | None = None,
    q: str | None = None,
) -> Page[ProductListItem]:
    scope = access.read_filter(principal, Product.provider_id, Product.sponsor_id)
    rows, total = repository.products(
        session,
        scope,
        kind=kind.value if kind else None,
        sponsor_id=sponsor_id,
        q=q,
        offset=params.offset,
        limit=params.page_size,
        sort=params.sort_key(repository.PRODUCT_SORTS, "code"),
    )
    ids = [r.id for r in rows]
    recipes = repository.recipe_counts(session, ids)
    specs = repository.specification_counts(session, ids)
    names = _names(session, [r.provider_id for r in rows] + [r.sponsor_id for r in rows])
    items = [
        ProductListItem(
            **_product_item(
                r,
                names,
                recipes.get(r.id, 0) if access.is_provider_side(principal, r.provider_id) else 0,
                specs.get(r.id, 0),
            )
        )
        for r in rows
    ]
    return Page.of(items, total=total, params=params)


def product_sponsors(session: Session, principal: Principal) -> list[tuple[uuid.UUID, str]]:
    """The sponsors of the products the principal reads (for a filter), by name."""
    scope = access.read_filter(principal, Product.provider_id, Product.sponsor_id)
    names = _names(session, repository.sponsors_of_products(session, scope))
    return sorted(names.items(), key=lambda item: item[1].casefold())


def sponsor_choices(session: Session, principal: Principal) -> list[tuple[uuid.UUID, str]]:
    """Sponsor organisations (a product may be made for any), by name."""
    page = parties.list_organizations(
        session, principal, kind="sponsor", q=None, params=PageParams(page=1, page_size=100)
    )
    return [(o.id, o.name) for o in page.items]


def create_product(session: Session, principal: Principal, data: ProductCreate) -> ProductRead:
    provider_id = acting_provider(session, principal, data.provider_id)
    _check_sponsor(session, data.sponsor_id)
    _check_drug_product(data.kind.value, data.dosage_form, data.strength)
    _unique_product_code(session, provider_id, data.code)
    product = Product(
        provider_id=provider_id,
        **data.model_dump(exclude={"provider_id", "kind", "unit"}),
        kind=data.kind.value,
        unit=data.unit.value,
    )
    product.specifications = []
    session.add(product)
    session.flush()
    _audit(session, principal, provider_id, action="create", entity_type="product",
           entity_id=product.id, after=audit.snapshot(product, PRODUCT_FIELDS))  # fmt: skip
    return _product_read(session, principal, product)


def update_product(
    session: Session, principal: Principal, product_id: uuid.UUID, data: ProductUpdate
) -> ProductRead:
    product = _writable_product(session, principal, product_id)
    check_version("product", product.version, data.version)
    changes = {
        k: getattr(v, "value", v)
        for k, v in data.model_dump(exclude_unset=True, exclude={"version"}).items()
    }
    for name in ("code", "name", "kind", "unit", "sponsor_id", "description"):
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} cannot be empty", field_errors={name: "give a value"})
    if "code" in changes and changes["code"] != product.code:
        _unique_product_code(session, product.provider_id, changes["code"])
    if "sponsor_id" in changes and changes["sponsor_id"] != product.sponsor_id:
        _check_sponsor(session, changes["sponsor_id"])
        if repository.orders_of_product_exist(session, product.id):
            raise Conflict(
                "the product has production orders for its sponsor; it cannot change sponsor",
                field_errors={"sponsor_id": "orders exist for the current sponsor"},
            )
    merged = {name: changes.get(name, getattr(product, name)) for name in PRODUCT_FIELDS}
    _check_drug_product(merged["kind"], merged["dosage_form"], merged["strength"])
    before = audit.snapshot(product, PRODUCT_FIELDS)
    for name, value in changes.items():
        setattr(product, name, value)
    after = audit.snapshot(product, PRODUCT_FIELDS)
    if after != before:
        session.flush()
        _audit(session, principal, product.provider_id, action="update", entity_type="product",
               entity_id=product.id, before=before, after=after)  # fmt: skip
    return _product_read(session, principal, product)


# --- specifications ------------------------------------------------------------------------------


def _check_specification(values: dict[str, Any]) -> None:
    """Exactly one kind: numeric limits (either may be open) or a text criterion."""
    low, high, text = values["lower_limit"], values["upper_limit"], values["acceptance_text"]
    numeric = low is not None or high is not None
    if numeric and text:
        raise Invalid(
            "a specification is numeric (limits) or text (acceptance criterion), not both",
            field_errors={"acceptance_text": "leave empty for a test with numeric limits, or "
                          "clear the limits for a text criterion"},
        )  # fmt: skip
    if not numeric and not text:
        raise Invalid(
            "give a lower and/or upper limit, or an acceptance text",
            field_errors={"lower_limit": "give a lower and/or upper limit, or an acceptance text"},
        )
    if low is not None and high is not None and low > high:
        raise Invalid(
            f"the lower limit {low} is above the upper limit {high}",
            field_errors={"upper_limit": f"must be at least the lower limit ({low})"},
        )


def _spec(session: Session, principal: Principal, spec_id: uuid.UUID) -> Specification:
    spec = repository.specification(session, spec_id)
    if spec is None:
        raise NotFound("specification not found")
    _writable_product(session, principal, spec.product_id)
    return spec


def add_specification(
    session: Session, principal: Principal, product_id: uuid.UUID, data: SpecificationCreate
) -> SpecificationRead:
    product = _writable_product(session, principal, product_id)
    values = data.model_dump()
    _check_specification(values)
    if repository.specification_by_test(session, product.id, data.test) is not None:
        raise Conflict(
            f"{product.code} has a {data.test!r} test already",
            field_errors={"test": "already specified; edit that line instead"},
        )
    if values["position"] is None:
        values["position"] = max((s.position for s in product.specifications), default=-1) + 1
    spec = Specification(product_id=product.id, **values)
    product.specifications.append(spec)
    session.flush()
    _audit(session, principal, product.provider_id, action="create",
           entity_type="specification", entity_id=spec.id,
           after={"product": product.code, **audit.snapshot(spec, SPEC_FIELDS)})  # fmt: skip
    return SpecificationRead.model_validate(spec)


def update_specification(
    session: Session, principal: Principal, spec_id: uuid.UUID, data: SpecificationUpdate
) -> SpecificationRead:
    spec = _spec(session, principal, spec_id)
    # Release specifications decide QA's disposition: an edit made from an out-of-date page
    # must not silently undo another's (409, as for every versioned record).
    check_version(f"specification {spec.test!r}", spec.version, data.version)
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if "result_unit" in changes and changes["result_unit"] is None:
        changes["result_unit"] = ""  # a unitless result ("conforms", a count)
    for name in ("test", "method", "position"):
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} cannot be empty", field_errors={name: "give a value"})
    if "acceptance_text" in changes and changes["acceptance_text"] is not None:
        changes["acceptance_text"] = changes["acceptance_text"].strip() or None
    merged = {name: changes.get(name, getattr(spec, name)) for name in SPEC_FIELDS}
    _check_specification(merged)
    if (
        "test" in changes
        and changes["test"] != spec.test
        and repository.specification_by_test(session, spec.product_id, changes["test"])
    ):
        raise Conflict(
            f"the product has a {changes['test']!r} test already",
            field_errors={"test": "already specified"},
        )
    before = audit.snapshot(spec, SPEC_FIELDS)
    for name, value in changes.items():
        setattr(spec, name, value)
    after = audit.snapshot(spec, SPEC_FIELDS)
    if after != before:
        session.flush()
        _audit(session, principal, spec.product.provider_id, action="update",
               entity_type="specification", entity_id=spec.id, before=before, after=after)  # fmt: skip
    return SpecificationRead.model_validate(spec)


def delete_specification(session: Session, principal: Principal, spec_id: uuid.UUID) -> None:
    spec = _spec(session, principal, spec_id)
    if repository.specification_has_results(session, spec.id):
        raise Conflict(
            f"batches have QC results against {spec.test!r}; the line stays with their records"
        )
    product = spec.product
    before = {"product": product.code, **audit.snapshot(spec, SPEC_FIELDS)}
    product.specifications.remove(spec)
    session.flush()
    _audit(session, principal, product.provider_id, action="delete",
           entity_type="specification", entity_id=spec_id, before=before)  # fmt: skip


# --- recipes -------------------------------------------------------------------------------------


def _recipe_read(session: Session, recipe: Recipe, plant_name: str | None = None) -> RecipeRead:
    wanted = [recipe.product_id] + [
        b.component_product_id for b in recipe.bom_lines if b.component_product_id
    ]
    products = {p.id: p for p in repository.products_by_ids(session, wanted)}
    product = products[recipe.product_id]
    if plant_name is None:
        plant_name = _site_names(session, [recipe.provider_id]).get(recipe.plant_id, "?")
    return RecipeRead(
        id=recipe.id,
        product_id=product.id,
        product_code=product.code,
        product_name=product.name,
        product_unit=product.unit,
        plant_id=recipe.plant_id,
        plant_name=plant_name,
        batch_size=recipe.batch_size,
        description=recipe.description,
        steps=[RecipeStepRead.model_validate(s) for s in recipe.steps],
        bom=[
            BomLineRead(
                position=b.position,
                component_product_id=b.component_product_id,
                component_code=(
                    products[b.component_product_id].code if b.component_product_id else None
                ),
                material_name=b.material_name,
                quantity_per_batch=b.quantity_per_batch,
                unit=b.unit,
            )
            for b in recipe.bom_lines
        ],
        output_per_batch=planning.output_per_batch(recipe, product.unit),
        cycle_hours=sum((s.duration_hours for s in recipe.steps), Decimal(0)).quantize(
            OUTPUT_QUANTUM
        ),
        version=recipe.version,
        updated_at=recipe.updated_at,
    )


def _cycle(
    edges: Sequence[tuple[uuid.UUID, uuid.UUID]], start: uuid.UUID, target: uuid.UUID
) -> list[uuid.UUID] | None:
    """A path of components from ``start`` to ``target`` (both included), if there is one."""
    graph: dict[uuid.UUID, set[uuid.UUID]] = {}
    for parent, child in edges:
        graph.setdefault(parent, set()).add(child)
    stack: list[list[uuid.UUID]] = [[start]]
    seen: set[uuid.UUID] = set()
    while stack:
        path = stack.pop()
        node = path[-1]
        if node == target:
            return path
        if node in seen:
            continue
        seen.add(node)
        stack += [[*path, child] for child in sorted(graph.get(node, ()), key=str)]
    return None


def _validated_recipe(
    session: Session,
    product: Product,
    plant: Plant,
    data: RecipeInput,
    replacing: Recipe | None = None,
) -> tuple[list[RecipeStep], list[BomLine]]:
    """The recipe's steps and BOM lines, or 422 naming every field to fix."""
    errors: dict[str, str] = {}
    if data.batch_size <= 0:
        errors["batch_size"] = "must be greater than 0"
    if not data.steps:
        errors["steps"] = "add at least one step"
    units = repository.units_of_plants(session, [plant.id])
    classes = sorted({u.equipment_class for u in units if u.active})
    steps = []
    for i, step in enumerate(data.steps):
        where = f"steps[{i}]"
        if not step.operation:
            errors[f"{where}.operation"] = "name the operation"
        if step.equipment_class not in classes:
            having = ", ".join(classes) if classes else "no unit in service yet"
            errors[f"{where}.equipment_class"] = (
                f"{plant.name} has no unit in service of class {step.equipment_class!r}; "
                f"its classes: {having}"
            )
        if step.duration_hours <= 0:
            errors[f"{where}.duration_hours"] = "must be greater than 0 hours"
        if not Decimal(0) < step.yield_fraction <= Decimal(1):
            errors[f"{where}.yield_fraction"] = "must be above 0 and at most 1 (e.g. 0.95)"
        steps.append(
            RecipeStep(
                sequence=i + 1,
                operation=step.operation,
                equipment_class=step.equipment_class,
                duration_hours=step.duration_hours,
                yield_fraction=step.yield_fraction,
            )
        )
    # Every other recipe's edges (this product's other plants' too), then this recipe's.
    edges = [
        e
        for e in repository.bom_edges(session, product.provider_id)
        if replacing is None or e[0] != product.id
    ]
    if replacing is not None:
        edges += [
            (product.id, c)
            for r in repository.recipes_of_product(session, product.id)
            if r.id != replacing.id
            for c in (b.component_product_id for b in r.bom_lines)
            if c is not None
        ]
    lines = []
    for j, line in enumerate(data.bom):
        where = f"bom[{j}]"
        name = line.material_name
        if line.quantity_per_batch <= 0:
            errors[f"{where}.quantity_per_batch"] = "must be greater than 0"
        if line.component_product_id is not None:
            component = repository.product(session, line.component_product_id)
            if component is None or component.provider_id != product.provider_id:
                errors[f"{where}.component_product_id"] = "choose a product of the same provider"
            elif component.sponsor_id != product.sponsor_id:
                # One sponsor's material in another's product: its batches would carry the
                # first sponsor's product onto the second's records (and its IP into them).
                errors[f"{where}.component_product_id"] = (
                    f"{component.code} is made for another sponsor; choose a product made for "
                    f"the sponsor of {product.code}"
                )
            else:
                name = name or component.name
                if line.unit.value != component.unit:
                    # planning adds the line to the component's need as it is: kg and
                    # tablets do not convert
                    errors[f"{where}.unit"] = (
                        f"{component.code} is counted in {component.unit}: give the quantity "
                        f"in {component.unit}"
                    )
                path = _cycle([*edges, (product.id, component.id)], component.id, product.id)
                if path is not None:
                    codes = {p.id: p.code for p in repository.products_by_ids(session, path)}
                    chain = " → ".join(codes[p] for p in [product.id, *path])
                    errors[f"{where}.component_product_id"] = (
                        f"{product.code} would consume itself: {chain}"
                    )
                else:
                    edges.append((product.id, component.id))
        if not name and line.component_product_id is None:
            errors[f"{where}.material_name"] = "name the material (or choose a product)"
        lines.append(
            BomLine(
                position=j,
                component_product_id=line.component_product_id,
                material_name=name,
                quantity_per_batch=line.quantity_per_batch,
                unit=line.unit.value,
            )
        )
    if errors:
        raise Invalid("; ".join(f"{k}: {v}" for k, v in errors.items()), field_errors=errors)
    return steps, lines


def _recipe_snapshot(recipe: Recipe) -> dict[str, Any]:
    return {
        **audit.snapshot(recipe, ("product_id", "plant_id", "batch_size", "description")),
        "steps": [
            audit.snapshot(s, ("sequence", "operation", "equipment_class", "duration_hours",
                               "yield_fraction"))
            for s in recipe.steps
        ],
        "bom": [
            audit.snapshot(b, ("component_product_id", "material_name", "quantity_per_batch",
                               "unit"))
            for b in recipe.bom_lines
        ],
    }  # fmt: skip


def _recipe_plant(
    session: Session, principal: Principal, product: Product, plant_id: uuid.UUID
) -> Plant:
    for plant in _plants_of(session, [product.provider_id]):
        if plant.id == plant_id:
            return plant
    raise Invalid(
        "no such plant", field_errors={"plant_id": "choose a plant of the product's provider"}
    )


def create_recipe(
    session: Session, principal: Principal, product_id: uuid.UUID, data: RecipeInput
) -> RecipeRead:
    product = _writable_product(session, principal, product_id)
    plant = _recipe_plant(session, principal, product, data.plant_id)
    if repository.recipe_for(session, product.id, plant.id) is not None:
        raise Conflict(
            f"{product.code} has a recipe at {plant.name} already; edit that one",
            field_errors={"plant_id": "this plant has a recipe for the product already"},
        )
    steps, lines = _validated_recipe(session, product, plant, data)
    recipe = Recipe(
        provider_id=product.provider_id,
        product_id=product.id,
        plant_id=plant.id,
        batch_size=data.batch_size,
        description=data.description,
    )
    recipe.steps = steps
    recipe.bom_lines = lines
    session.add(recipe)
    session.flush()
    _audit(session, principal, product.provider_id, action="create", entity_type="recipe",
           entity_id=recipe.id, after=_recipe_snapshot(recipe))  # fmt: skip
    return _recipe_read(session, recipe, plant.name)


def _recipe(session: Session, principal: Principal, recipe_id: uuid.UUID) -> Recipe:
    recipe = repository.recipe(session, recipe_id)
    if recipe is None:
        raise NotFound("recipe not found")
    # The process is the CDMO's: the sponsor reads the product, not how the plant makes it.
    access.require_readable(principal, "recipe", recipe.provider_id)
    return recipe


def get_recipe(session: Session, principal: Principal, recipe_id: uuid.UUID) -> RecipeRead:
    return _recipe_read(session, _recipe(session, principal, recipe_id))


def update_recipe(
    session: Session, principal: Principal, recipe_id: uuid.UUID, data: RecipeUpdate
) -> RecipeRead:
    """Replace the whole recipe (steps and BOM too)."""
    recipe = _recipe(session, principal, recipe_id)
    access.require(principal, WRITE, "recipe", recipe.provider_id)
    check_version("recipe", recipe.version, data.version)
    product = _product(session, principal, recipe.product_id)
    plant = _recipe_plant(session, principal, product, data.plant_id)
    if plant.id != recipe.plant_id and repository.recipe_for(session, product.id, plant.id):
        raise Conflict(
            f"{product.code} has a recipe at {plant.name} already",
            field_errors={"plant_id": "this plant has a recipe for the product already"},
        )
    steps, lines = _validated_recipe(session, product, plant, data, replacing=recipe)
    before = _recipe_snapshot(recipe)
    # Old rows go first: the new ones reuse their (recipe, sequence) keys.
    recipe.steps.clear()
    recipe.bom_lines.clear()
    session.flush()
    recipe.plant_id = plant.id
    recipe.batch_size = data.batch_size
    recipe.description = data.description
    recipe.steps = steps
    recipe.bom_lines = lines
    recipe.updated_at = utcnow()  # bumps the version even when only the steps changed
    session.flush()
    _audit(session, principal, recipe.provider_id, action="update", entity_type="recipe",
           entity_id=recipe.id, before=before, after=_recipe_snapshot(recipe))  # fmt: skip
    return _recipe_read(session, recipe, plant.name)


def recipe_plants(session: Session, principal: Principal, product_id: uuid.UUID) -> list[Plant]:
    """The plants a recipe of the product may be made in (its provider's)."""
    product = _product(session, principal, product_id)
    return _plants_of(session, [product.provider_id])


def provider_products(
    session: Session, principal: Principal, provider_id: uuid.UUID
) -> list[tuple[uuid.UUID, str]]:
    """The provider's products (id, "CODE — name") for pickers; empty unless provider-side."""
    if not access.is_provider_side(principal, provider_id):
        return []
    return [
        (p.id, f"{p.code} — {p.name}")
        for p in repository.products_of_providers(session, [provider_id])
    ]


# --- production orders ---------------------------------------------------------------------------


def _order(session: Session, principal: Principal, order_id: uuid.UUID) -> ProductionOrder:
    order = repository.order(session, order_id)
    if order is None:
        raise NotFound("production order not found")
    access.require_readable(principal, "production order", order.provider_id, order.sponsor_id)
    return order


def _writable_order(session: Session, principal: Principal, order_id: uuid.UUID) -> ProductionOrder:
    order = _order(session, principal, order_id)
    access.require(principal, WRITE, "production order", order.provider_id, order.sponsor_id)
    return order


def _check_work_order(
    session: Session,
    principal: Principal,
    work_order_id: uuid.UUID,
    provider_id: uuid.UUID,
    sponsor_id: uuid.UUID,
) -> None:
    try:
        work_order = contracts.get_work_order(session, principal, work_order_id)
    except (NotFound, NotPermitted):
        raise Invalid(
            "no such work order",
            field_errors={"work_order_id": "choose a work order of your organisation"},
        ) from None
    if work_order.provider_id != provider_id:
        raise Invalid(
            "the work order is with another provider",
            field_errors={"work_order_id": "choose a work order whose provider runs the plant"},
        )
    if work_order.sponsor_id != sponsor_id:
        raise Invalid(
            "the work order is another sponsor's",
            field_errors={
                "work_order_id": f"choose a work order of the product's sponsor, not "
                f"{work_order.sponsor_name}'s"
            },
        )


def _order_plant(session: Session, product: Product, plant_id: uuid.UUID) -> Plant:
    """The plant, which must be the product's provider's and have a recipe for it."""
    plant = next((p for p in _plants_of(session, [product.provider_id]) if p.id == plant_id), None)
    if plant is None:
        raise Invalid(
            "no such plant", field_errors={"plant_id": "choose a plant of the product's provider"}
        )
    if repository.recipe_for(session, product.id, plant.id) is None:
        raise Invalid(
            f"{plant.name} has no recipe for {product.code}",
            field_errors={
                "plant_id": f"{plant.name} has no recipe for {product.code}: add one on the "
                "product's page, or choose a plant that has one"
            },
        )
    return plant


def next_order_number(session: Session, provider_id: uuid.UUID, today: date | None = None) -> str:
    """``PO-<year>-<NNN>``: one more than the provider's highest number of the year."""
    prefix = f"PO-{(today or utcnow().date()).year}-"
    used = [
        int(n.removeprefix(prefix))
        for n in repository.order_numbers_like(session, provider_id, prefix)
        if n.removeprefix(prefix).isdigit()
    ]
    return f"{prefix}{max(used, default=0) + 1:03d}"


def _order_items(
    session: Session, principal: Principal, rows: Sequence[ProductionOrder]
) -> list[OrderRead]:
    batches = repository.batches_of_orders(session, [r.id for r in rows])
    products = {
        p.id: p
        for p in repository.products_by_ids(
            session, [r.product_id for r in rows] + [b.product_id for b in batches]
        )
    }
    names = _names(session, [r.sponsor_id for r in rows])
    plants = _site_names(session, {r.provider_id for r in rows})
    finishes = scheduling.scheduled_finishes(session, [r.id for r in rows])
    result = []
    for r in rows:
        product = products[r.product_id]
        mine = [b for b in batches if b.order_id == r.id]
        result.append(
            OrderRead(
                id=r.id,
                number=r.number,
                provider_id=r.provider_id,
                product_id=r.product_id,
                product_code=product.code,
                product_name=product.name,
                unit=product.unit,
                sponsor_id=r.sponsor_id,
                sponsor_name=names.get(r.sponsor_id, ""),
                plant_id=r.plant_id,
                plant_name=plants.get(r.plant_id, "?"),
                quantity=r.quantity,
                due_date=r.due_date,
                release_date=r.release_date,
                priority=r.priority,
                status=r.status,
                batch_count=len(mine),
                updated_at=r.updated_at,
                scheduled_finish=finishes.get(r.id),
                is_late=r.id in finishes
                and r.status not in CLOSED_ORDER
                and finishes[r.id] > scheduling.due_end(r),
                notes=r.notes,
                work_order_id=r.work_order_id,
                work_order_number=None,
                batches=[
                    OrderBatch.model_validate(b).model_copy(
                        update={"product_code": products[b.product_id].code}
                    )
                    for b in mine
                ],
                viewer_role=_viewer_role(principal, r.provider_id),
                version=r.version,
            )
        )
    return result


def _order_read(session: Session, principal: Principal, order: ProductionOrder) -> OrderRead:
    read = _order_items(session, principal, [order])[0]
    if order.work_order_id is not None:
        try:
            read.work_order_number = contracts.get_work_order(
                session, principal, order.work_order_id
            ).number
        except (NotFound, NotPermitted):
            read.work_order_number = None
    return read


def get_order(session: Session, principal: Principal, order_id: uuid.UUID) -> OrderRead:
    return _order_read(session, principal, _order(session, principal, order_id))


def list_orders(
    session: Session,
    principal: Principal,
    *,
    params: PageParams,
    status: OrderStatus | None = None,
    product_id: uuid.UUID | None = None,
    sponsor_id: uuid.UUID | None = None,
    plant_id: uuid.UUID | None = None,
    due_before: date | None = None,
    due_after: date | None = None,
) -> Page[OrderListItem]:
    rows, total = repository.orders(
        session,
        access.read_filter(principal, ProductionOrder.provider_id, ProductionOrder.sponsor_id),
        status=status.value if status else None,
        product_id=product_id,
        sponsor_id=sponsor_id,
        plant_id=plant_id,
        due_before=due_before,
        due_after=due_after,
        offset=params.offset,
        limit=params.page_size,
        sort=params.sort_key(repository.ORDER_SORTS, "due_date"),
    )
    fields = set(OrderListItem.model_fields)
    items = [
        OrderListItem(**r.model_dump(include=fields))
        for r in _order_items(session, principal, rows)
    ]
    return Page.of(items, total=total, params=params)


def create_order(session: Session, principal: Principal, data: OrderCreate) -> OrderRead:
    product = _writable_product(session, principal, data.product_id)
    plant = _order_plant(session, product, data.plant_id)
    if data.work_order_id is not None:
        _check_work_order(
            session, principal, data.work_order_id, product.provider_id, product.sponsor_id
        )
    number = data.number or next_order_number(session, product.provider_id)
    if repository.order_by_number(session, product.provider_id, number) is not None:
        raise Conflict(
            f"an order numbered {number!r} exists",
            field_errors={"number": "already used; leave empty for the next number"},
        )
    order = ProductionOrder(
        provider_id=product.provider_id,
        sponsor_id=product.sponsor_id,
        plant_id=plant.id,
        product_id=product.id,
        work_order_id=data.work_order_id,
        number=number,
        quantity=data.quantity,
        due_date=data.due_date,
        release_date=data.release_date,
        priority=data.priority,
        status=OrderStatus.OPEN.value,
        notes=data.notes,
    )
    session.add(order)
    session.flush()
    _audit(session, principal, product.provider_id, action="create",
           entity_type="production_order", entity_id=order.id,
           after=audit.snapshot(order, ORDER_FIELDS))  # fmt: skip
    return _order_read(session, principal, order)


def update_order(
    session: Session, principal: Principal, order_id: uuid.UUID, data: OrderUpdate
) -> OrderRead:
    order = _writable_order(session, principal, order_id)
    check_version("production order", order.version, data.version)
    if order.status in CLOSED_ORDER:
        raise Conflict(f"order {order.number} is {order.status}; it can no longer change")
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if "notes" in changes and changes["notes"] is None:
        changes["notes"] = ""
    for name in ("plant_id", "quantity", "due_date", "priority"):
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} cannot be empty", field_errors={name: "give a value"})
    product = _product(session, principal, order.product_id)
    if "plant_id" in changes and changes["plant_id"] != order.plant_id:
        _order_plant(session, product, changes["plant_id"])
    due = changes.get("due_date", order.due_date)
    release = changes.get("release_date", order.release_date)
    if release is not None and release > due:
        raise Invalid(
            "the release date is after the due date",
            field_errors={"release_date": f"must be on or before the due date ({due})"},
        )
    if changes.get("work_order_id") is not None and changes["work_order_id"] != order.work_order_id:
        _check_work_order(
            session, principal, changes["work_order_id"], order.provider_id, order.sponsor_id
        )
    before = audit.snapshot(order, ORDER_FIELDS)
    for name, value in changes.items():
        setattr(order, name, value)
    after = audit.snapshot(order, ORDER_FIELDS)
    if after != before:
        session.flush()
        _audit(session, principal, order.provider_id, action="update",
               entity_type="production_order", entity_id=order.id, before=before, after=after)  # fmt: skip
    return _order_read(session, principal, order)


def cancel_order(
    session: Session, principal: Principal, order_id: uuid.UUID, data: OrderCancel
) -> OrderRead:
    """Cancel an order none of whose batches is running; its planned batches are dropped."""
    order = _writable_order(session, principal, order_id)
    check_version("production order", order.version, data.version)
    if order.status in CLOSED_ORDER:
        raise Conflict(f"order {order.number} is {order.status} already")
    running = [b.batch_number for b in order.batches if b.status == BatchStatus.IN_PROGRESS.value]
    if running:
        raise Conflict(
            f"batch {', '.join(running)} of order {order.number} is in progress; finish or "
            "reject it before cancelling the order"
        )
    before = audit.snapshot(order, ORDER_FIELDS)
    order.status = OrderStatus.CANCELLED.value
    # Batches not started will never be made: drop them (their schedule slots go with them).
    dropped = [b for b in order.batches if b.status == BatchStatus.PLANNED.value]
    for batch in dropped:
        session.delete(batch)
    session.flush()
    session.expire(order, ["batches"])
    if dropped:
        before["dropped_planned_batches"] = sorted(b.batch_number for b in dropped)
    _audit(session, principal, order.provider_id, action="cancel",
           entity_type="production_order", entity_id=order.id, before=before,
           after=audit.snapshot(order, ORDER_FIELDS), reason=data.reason or None)  # fmt: skip
    return _order_read(session, principal, order)


def order_choices(
    session: Session, principal: Principal
) -> tuple[list[tuple[uuid.UUID, str]], list[Plant]]:
    """What a new order can name: the writable providers' products, and their plants."""
    providers = writable_provider_ids(session, principal)
    products = [
        (p.id, f"{p.code} — {p.name}") for p in repository.products_of_providers(session, providers)
    ]
    return products, _plants_of(session, providers)


def product_by_code(session: Session, principal: Principal, code: str) -> ProductRead:
    """A product the principal reads, by its code (CLI); 404 if none, 422 if several."""
    scope = access.read_filter(principal, Product.provider_id, Product.sponsor_id)
    rows, _ = repository.products(session, scope, q=code, limit=100)
    exact = [r for r in rows if r.code == code]
    if not exact:
        raise NotFound(f"no product coded {code!r}")
    if len(exact) > 1:
        raise Invalid(f"several providers have a product coded {code!r}")
    return _product_read(session, principal, exact[0])


def plant_named(session: Session, principal: Principal, name_or_id: str) -> Plant:
    """A readable plant by its id or its name (case-insensitive)."""
    plants = readable_plants(session, principal)
    found = [p for p in plants if str(p.id) == name_or_id.strip()] or [
        p for p in plants if p.name.casefold() == name_or_id.strip().casefold()
    ]
    if not found:
        raise NotFound(f"no plant {name_or_id!r}")
    if len(found) > 1:
        raise Invalid(f"several plants are named {name_or_id!r}; give its id")
    return found[0]
