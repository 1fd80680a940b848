"""JSON API of manufacturing master data: plants and their equipment units, maintenance,
cleaning and changeover times, products and specifications, recipes with their BOM, and
production orders — thin: parse, call the service, return."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from opencxo.core.http import ApiPrincipal, DbSession
from opencxo.core.pagination import Page, PageParams
from opencxo.manufacturing import service
from opencxo.manufacturing.models import OrderStatus, ProductKind
from opencxo.manufacturing.schemas import (
    ChangeoverInput,
    ChangeoverKey,
    ChangeoverRead,
    CleaningTimeInput,
    CleaningTimeRead,
    MaintenanceWindowCreate,
    MaintenanceWindowRead,
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
    RecipeUpdate,
    SpecificationCreate,
    SpecificationRead,
    SpecificationUpdate,
    UnitCreate,
    UnitRead,
    UnitUpdate,
)

router = APIRouter(tags=["manufacturing"])
Pages = Annotated[PageParams, Query()]
NO_CONTENT = status.HTTP_204_NO_CONTENT


# --- plants --------------------------------------------------------------------------------------


@router.get("/mfg/plants", response_model=list[PlantSummary])
def list_plants(session: DbSession, principal: ApiPrincipal) -> list[PlantSummary]:
    """The plants of your provider organisations, with their units in and out of service."""
    return service.list_plants(session, principal)


@router.get("/mfg/plants/{plant_id}", response_model=PlantRead)
def get_plant(plant_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> PlantRead:
    """The plant's units (with maintenance windows), cleaning times and changeover overrides."""
    return service.get_plant(session, principal, plant_id)


@router.post(
    "/mfg/plants/{plant_id}/units", response_model=UnitRead, status_code=status.HTTP_201_CREATED
)
def add_unit(
    plant_id: uuid.UUID, body: UnitCreate, session: DbSession, principal: ApiPrincipal
) -> UnitRead:
    return service.add_unit(session, principal, plant_id, body)


@router.patch("/mfg/units/{unit_id}", response_model=UnitRead)
def update_unit(
    unit_id: uuid.UUID, body: UnitUpdate, session: DbSession, principal: ApiPrincipal
) -> UnitRead:
    """Change a unit; ``active: false`` takes it out of service."""
    return service.update_unit(session, principal, unit_id, body)


@router.delete("/mfg/units/{unit_id}", status_code=NO_CONTENT)
def delete_unit(unit_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Response:
    """Remove a unit; 409 when a schedule or batch record names it (deactivate it instead)."""
    service.delete_unit(session, principal, unit_id)
    return Response(status_code=NO_CONTENT)


@router.post(
    "/mfg/units/{unit_id}/maintenance",
    response_model=MaintenanceWindowRead,
    status_code=status.HTTP_201_CREATED,
)
def add_maintenance(
    unit_id: uuid.UUID, body: MaintenanceWindowCreate, session: DbSession, principal: ApiPrincipal
) -> MaintenanceWindowRead:
    return service.add_maintenance(session, principal, unit_id, body)


@router.delete("/mfg/maintenance/{window_id}", status_code=NO_CONTENT)
def delete_maintenance(
    window_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    service.delete_maintenance(session, principal, window_id)
    return Response(status_code=NO_CONTENT)


@router.put(
    "/mfg/plants/{plant_id}/cleaning-times/{equipment_class}", response_model=CleaningTimeRead
)
def set_cleaning_time(
    plant_id: uuid.UUID,
    equipment_class: str,
    body: CleaningTimeInput,
    session: DbSession,
    principal: ApiPrincipal,
) -> CleaningTimeRead:
    """Create or replace the class's cleaning hours after the same and after another product."""
    return service.set_cleaning_time(session, principal, plant_id, equipment_class, body)


@router.put("/mfg/plants/{plant_id}/changeovers", response_model=ChangeoverRead)
def set_changeover(
    plant_id: uuid.UUID, body: ChangeoverInput, session: DbSession, principal: ApiPrincipal
) -> ChangeoverRead:
    """Create or replace a product-to-product changeover time on one equipment class."""
    return service.set_changeover(session, principal, plant_id, body)


@router.delete("/mfg/plants/{plant_id}/changeovers", status_code=NO_CONTENT)
def delete_changeover(
    plant_id: uuid.UUID, body: ChangeoverKey, session: DbSession, principal: ApiPrincipal
) -> Response:
    """Remove an override (the body names it); the class's default applies again."""
    service.delete_changeover(session, principal, plant_id, body)
    return Response(status_code=NO_CONTENT)


# --- products ------------------------------------------------------------------------------------


@router.get("/mfg/products", response_model=Page[ProductListItem])
def list_products(
    session: DbSession,
    principal: ApiPrincipal,
    params: Pages,
    kind: ProductKind | None = None,
    sponsor_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=100, description="in code or name")] = None,
) -> Page[ProductListItem]:
    """Products your plants make, or (for a sponsor) those made for you."""
    return service.list_products(
        session, principal, params=params, kind=kind, sponsor_id=sponsor_id, q=q
    )


@router.post("/mfg/products", response_model=ProductRead, status_code=status.HTTP_201_CREATED)
def create_product(body: ProductCreate, session: DbSession, principal: ApiPrincipal) -> ProductRead:
    return service.create_product(session, principal, body)


@router.get("/mfg/products/{product_id}", response_model=ProductRead)
def get_product(product_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> ProductRead:
    """The product, its specifications and (for the provider) its recipes per plant."""
    return service.get_product(session, principal, product_id)


@router.patch("/mfg/products/{product_id}", response_model=ProductRead)
def update_product(
    product_id: uuid.UUID, body: ProductUpdate, session: DbSession, principal: ApiPrincipal
) -> ProductRead:
    return service.update_product(session, principal, product_id, body)


@router.post(
    "/mfg/products/{product_id}/specifications",
    response_model=SpecificationRead,
    status_code=status.HTTP_201_CREATED,
)
def add_specification(
    product_id: uuid.UUID, body: SpecificationCreate, session: DbSession, principal: ApiPrincipal
) -> SpecificationRead:
    """A numeric test (lower and/or upper limit) or a text criterion, not both."""
    return service.add_specification(session, principal, product_id, body)


@router.patch("/mfg/specifications/{spec_id}", response_model=SpecificationRead)
def update_specification(
    spec_id: uuid.UUID, body: SpecificationUpdate, session: DbSession, principal: ApiPrincipal
) -> SpecificationRead:
    return service.update_specification(session, principal, spec_id, body)


@router.delete("/mfg/specifications/{spec_id}", status_code=NO_CONTENT)
def delete_specification(
    spec_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    service.delete_specification(session, principal, spec_id)
    return Response(status_code=NO_CONTENT)


# --- recipes -------------------------------------------------------------------------------------


@router.post(
    "/mfg/products/{product_id}/recipes",
    response_model=RecipeRead,
    status_code=status.HTTP_201_CREATED,
)
def create_recipe(
    product_id: uuid.UUID, body: RecipeInput, session: DbSession, principal: ApiPrincipal
) -> RecipeRead:
    """The product's recipe in one plant: every step's class must be among the plant's units in
    service; a BOM may not make the product consume itself."""
    return service.create_recipe(session, principal, product_id, body)


@router.get("/mfg/recipes/{recipe_id}", response_model=RecipeRead)
def get_recipe(recipe_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> RecipeRead:
    return service.get_recipe(session, principal, recipe_id)


@router.put("/mfg/recipes/{recipe_id}", response_model=RecipeRead)
def update_recipe(
    recipe_id: uuid.UUID, body: RecipeUpdate, session: DbSession, principal: ApiPrincipal
) -> RecipeRead:
    """Replace the whole recipe, steps and BOM included."""
    return service.update_recipe(session, principal, recipe_id, body)


# --- orders --------------------------------------------------------------------------------------


@router.get("/mfg/orders", response_model=Page[OrderListItem])
def list_orders(
    session: DbSession,
    principal: ApiPrincipal,
    params: Pages,
    status: OrderStatus | None = None,
    product_id: uuid.UUID | None = None,
    sponsor_id: uuid.UUID | None = None,
    plant_id: uuid.UUID | None = None,
    due_before: Annotated[date | None, Query(description="due on or before")] = None,
    due_after: Annotated[date | None, Query(description="due on or after")] = None,
) -> Page[OrderListItem]:
    """Production orders of your plants, or (for a sponsor) those made for you."""
    return service.list_orders(
        session,
        principal,
        params=params,
        status=status,
        product_id=product_id,
        sponsor_id=sponsor_id,
        plant_id=plant_id,
        due_before=due_before,
        due_after=due_after,
    )


@router.post("/mfg/orders", response_model=OrderRead, status_code=status.HTTP_201_CREATED)
def create_order(body: OrderCreate, session: DbSession, principal: ApiPrincipal) -> OrderRead:
    """An order for a product in a plant that has its recipe; numbered PO-<year>-<NNN> unless
    a number is given."""
    return service.create_order(session, principal, body)


@router.get("/mfg/orders/{order_id}", response_model=OrderRead)
def get_order(order_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> OrderRead:
    return service.get_order(session, principal, order_id)


@router.patch("/mfg/orders/{order_id}", response_model=OrderRead)
def update_order(
    order_id: uuid.UUID, body: OrderUpdate, session: DbSession, principal: ApiPrincipal
) -> OrderRead:
    return service.update_order(session, principal, order_id, body)


@router.post("/mfg/orders/{order_id}/cancel", response_model=OrderRead)
def cancel_order(
    order_id: uuid.UUID, body: OrderCancel, session: DbSession, principal: ApiPrincipal
) -> OrderRead:
    return service.cancel_order(session, principal, order_id, body)
