"""JSON API of process chemistry — thin: parse, call ``opencxo.process_chemistry.stored``, return.

Route files the caller keeps are evaluated without storing anything (``/chem/evaluate``,
``/chem/sensitivity``, atom economy, depictions, the schema). The material library and the stored
routes are private to their organisation (another organisation gets 404); choosing a route writes
the product's manufacturing recipe at a plant.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from opencxo.core.http import ApiPrincipal, DbSession
from opencxo.core.pagination import Page, PageParams
from opencxo.process_chemistry import stored
from opencxo.process_chemistry.records import (
    AtomEconomyRequest,
    ChooseRoute,
    CompareRequest,
    MaterialCreate,
    MaterialRead,
    MaterialUpdate,
    RouteChosen,
    RouteImport,
    RouteRead,
    RouteSummary,
    RouteUpdate,
)
from opencxo.process_chemistry.schemas import (
    AtomEconomyReport,
    ComparisonReport,
    EvaluationReport,
    Hazard,
    RouteFile,
    SensitivityReport,
)

router = APIRouter(tags=["process chemistry"])

ProductionKg = Annotated[
    Decimal | None,
    Query(
        gt=0,
        max_digits=18,
        decimal_places=6,
        description="kg of final product (default: the file's)",
    ),
]
YieldChange = Annotated[
    float, Query(gt=0, le=0.5, description="absolute change of each step's yield, e.g. 0.05")
]
PriceChange = Annotated[
    float, Query(gt=0, lt=1, description="relative change of each price, e.g. 0.2 for ±20 %")
]
Version = Annotated[int | None, Query(ge=1, description="the version you read (optional)")]


# --- route files you keep (nothing stored) ------------------------------------------------------


@router.get("/chem/route-schema")
def route_schema(principal: ApiPrincipal) -> dict[str, Any]:
    """The JSON Schema of a route file (``format: opencxo-route/1``)."""
    return stored.route_schema(principal)


@router.post("/chem/atom-economy", response_model=AtomEconomyReport)
def atom_economy(body: AtomEconomyRequest, principal: ApiPrincipal) -> AtomEconomyReport:
    """Atom economy of one reaction SMILES (reactants >> desired product first)."""
    return stored.atom_economy(principal, body.reaction_smiles)


@router.post("/chem/evaluate", response_model=EvaluationReport)
def evaluate(
    body: RouteFile, principal: ApiPrincipal, production_kg: ProductionKg = None
) -> EvaluationReport:
    """PMI, E-factor, atom economy, yield, LLS and COGS of a route file; nothing is stored."""
    return stored.evaluate_file(principal, body, production_kg)


@router.post("/chem/sensitivity", response_model=SensitivityReport)
def sensitivity(
    body: RouteFile,
    principal: ApiPrincipal,
    yield_change: YieldChange = 0.05,
    price_change: PriceChange = 0.2,
) -> SensitivityReport:
    """Tornado of COGS and PMI over each step's yield and each material's price; not stored."""
    return stored.sensitivity_file(
        principal, body, yield_change=yield_change, price_change=price_change
    )


@router.get(
    "/chem/depict",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "an SVG drawing"}},
)
def depict(
    principal: ApiPrincipal,
    smiles: Annotated[str, Query(min_length=1, max_length=4000, description="(reaction) SMILES")],
    width: Annotated[int, Query(ge=50, le=2000, description="pixels")] = 260,
    height: Annotated[int, Query(ge=50, le=2000, description="pixels")] = 180,
) -> Response:
    """An SVG drawing of a molecule or a reaction SMILES."""
    svg = stored.depiction(principal, smiles, width_px=width, height_px=height)
    return Response(svg, media_type="image/svg+xml")


# --- the material library -----------------------------------------------------------------------


@router.get("/chem/materials", response_model=Page[MaterialRead])
def list_materials(
    session: DbSession,
    principal: ApiPrincipal,
    params: Annotated[PageParams, Query()],
    q: Annotated[str | None, Query(max_length=200, description="name or CAS contains")] = None,
    hazard: Annotated[
        Hazard | None, Query(description="only materials carrying this GHS pictogram")
    ] = None,
) -> Page[MaterialRead]:
    """Sort by name, price or updated_at (prefix '-' for descending)."""
    return stored.list_materials(session, principal, params, q=q, hazard=hazard)


@router.post("/chem/materials", response_model=MaterialRead, status_code=status.HTTP_201_CREATED)
def create_material(
    body: MaterialCreate, session: DbSession, principal: ApiPrincipal
) -> MaterialRead:
    return stored.create_material(session, principal, body)


@router.get("/chem/materials/{material_id}", response_model=MaterialRead)
def get_material(
    material_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> MaterialRead:
    return stored.get_material(session, principal, material_id)


@router.patch("/chem/materials/{material_id}", response_model=MaterialRead)
def update_material(
    material_id: uuid.UUID, body: MaterialUpdate, session: DbSession, principal: ApiPrincipal
) -> MaterialRead:
    """Change a material; the routes using it are evaluated again (refused if one would break)."""
    return stored.update_material(session, principal, material_id, body)


@router.delete("/chem/materials/{material_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_material(
    material_id: uuid.UUID, session: DbSession, principal: ApiPrincipal, version: Version = None
) -> Response:
    """Delete a material no route uses (409 names the routes that do)."""
    stored.delete_material(session, principal, material_id, version=version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- stored routes ------------------------------------------------------------------------------


@router.get("/chem/routes", response_model=Page[RouteSummary])
def list_routes(
    session: DbSession,
    principal: ApiPrincipal,
    params: Annotated[PageParams, Query()],
    product_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200, description="name contains")] = None,
) -> Page[RouteSummary]:
    """Sort by name, pmi, cogs, lls, steps, yield, atom_economy or updated_at ('-' descending)."""
    return stored.list_routes(session, principal, params, product_id=product_id, q=q)


@router.post("/chem/routes", response_model=RouteRead, status_code=status.HTTP_201_CREATED)
def import_route(body: RouteImport, session: DbSession, principal: ApiPrincipal) -> RouteRead:
    """Store a route file; its new materials join your library (a material that differs from
    the library's is refused, naming each difference)."""
    return stored.import_route(session, principal, body)


@router.post("/chem/routes/compare", response_model=ComparisonReport)
def compare(body: CompareRequest, session: DbSession, principal: ApiPrincipal) -> ComparisonReport:
    """Two to six stored routes side by side, each metric marking the best; not stored."""
    return stored.compare(session, principal, body.route_ids)


@router.get("/chem/routes/{route_id}", response_model=RouteRead)
def get_route(route_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> RouteRead:
    return stored.get_route(session, principal, route_id)


@router.put("/chem/routes/{route_id}", response_model=RouteRead)
def update_route(
    route_id: uuid.UUID, body: RouteUpdate, session: DbSession, principal: ApiPrincipal
) -> RouteRead:
    """Replace the route file and the product it makes (the rules of an import apply)."""
    return stored.update_route(session, principal, route_id, body)


@router.delete("/chem/routes/{route_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_route(
    route_id: uuid.UUID, session: DbSession, principal: ApiPrincipal, version: Version = None
) -> Response:
    stored.delete_route(session, principal, route_id, version=version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/chem/routes/{route_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}, "application/json": {}}}},
)
def export_route(
    route_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    format: Literal["yaml", "json"] = "yaml",
) -> Response:
    """The route file with its materials from the library, as a download."""
    filename, text = stored.export_route(session, principal, route_id, format)
    media = "application/json" if format == "json" else "application/yaml"
    return Response(
        text,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/chem/routes/{route_id}/evaluation", response_model=EvaluationReport)
def route_evaluation(
    route_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    production_kg: ProductionKg = None,
) -> EvaluationReport:
    """Every figure of the stored route with today's library prices; not stored."""
    return stored.evaluation(session, principal, route_id, production_kg)


@router.get("/chem/routes/{route_id}/sensitivity", response_model=SensitivityReport)
def route_sensitivity(
    route_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    yield_change: YieldChange = 0.05,
    price_change: PriceChange = 0.2,
) -> SensitivityReport:
    return stored.sensitivity(
        session, principal, route_id, yield_change=yield_change, price_change=price_change
    )


@router.post("/chem/routes/{route_id}/choose", response_model=RouteChosen)
def choose_route(
    route_id: uuid.UUID, body: ChooseRoute, session: DbSession, principal: ApiPrincipal
) -> RouteChosen:
    """Make this the product's route: its recipe at the plant is created (or replaced) from the
    route, and the product's other routes are no longer chosen."""
    return stored.choose_route(session, principal, route_id, body)
