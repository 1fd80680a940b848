"""Use cases of stored process chemistry: the material library, routes, and choosing a route.

The numbers come from :mod:`opencxo.process_chemistry.service` (route files, no database); this
module keeps an organisation's materials and routes, assembles a stored route's file (its spec
plus the library materials it names), keeps each route's evaluation in summary columns, and hands
a chosen route over to manufacturing as the product's recipe.

Tenancy: materials and routes are private to their organisation (usually a CDMO); another
organisation gets the 404 of an unknown id. ``chemistry:read`` reads, ``chemistry:write`` changes.
Choosing a route also writes a manufacturing recipe, so it takes ``manufacturing:write`` as
:mod:`opencxo.manufacturing.service` demands. Services flush, never commit: the request (or the
CLI command) owns the transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from opencxo.core import audit
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted, check_version
from opencxo.core.pagination import Page, PageParams
from opencxo.core.types import utcnow
from opencxo.manufacturing import service as manufacturing
from opencxo.manufacturing.schemas import ProductRead, RecipeInput, RecipeUpdate
from opencxo.process_chemistry import engine, repository, service
from opencxo.process_chemistry.models import ChemMaterial, ChemRoute
from opencxo.process_chemistry.records import (
    MAX_COMPARED,
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
    MaterialEntry,
    RecipePlan,
    RouteFile,
    SensitivityReport,
)

READ = Permission.CHEMISTRY_READ
WRITE = Permission.CHEMISTRY_WRITE
MATERIAL_FIELDS = (
    "name", "smiles", "cas", "price_per_kg", "currency", "density_kg_per_l", "hazards", "notes",
)  # fmt: skip
SUMMARY_FIELDS = (
    "step_count", "longest_linear_sequence", "overall_yield", "pmi", "e_factor",
    "atom_economy_percent", "cogs_per_kg", "currency",
)  # fmt: skip
ROUTE_FIELDS = ("name", "product_id", "spec", *SUMMARY_FIELDS)
# What a material gives a route's numbers: a change of any re-evaluates the routes using it.
EVALUATED_FIELDS = ("smiles", "price_per_kg", "density_kg_per_l")
EXPORT_FORMATS = ("yaml", "json")
# Recipe steps and BOM lines take at most 6 decimals (manufacturing's NUMERIC(18, 6)).
_MICRO = Decimal("0.000001")


# --- helpers ------------------------------------------------------------------------------------


def readable(principal: Principal) -> frozenset[uuid.UUID]:
    """The principal's organisations whose materials and routes it reads."""
    return principal.organizations_with(READ) & principal.organization_ids


def _organization_for(principal: Principal, organization_id: uuid.UUID | None) -> uuid.UUID:
    """The organisation acting: the one named, or the principal's only one with write."""
    if organization_id is not None:
        if organization_id not in principal.organization_ids:
            raise NotFound("no such organisation")
        principal.require(WRITE, organization_id)
        return organization_id
    candidates = principal.organizations_with(WRITE) & principal.organization_ids
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        raise NotPermitted(
            f"you need {WRITE.value} in an organisation to keep materials and routes"
        )
    message = "required when you belong to several organisations with chemistry:write"
    raise Invalid(
        "you belong to several organisations; say which one keeps it (organization_id)",
        field_errors={"organization_id": message},
    )


def _number(value: Decimal | None) -> str:
    """A decimal as a person writes it: 2.10 for money-like values, 0.792 otherwise."""
    if value is None:
        return "(none)"
    if value == value.quantize(Decimal("0.01")):
        return f"{value:.2f}"
    return format(value.normalize(), "f")


def _canonical(smiles: str | None) -> str | None:
    """The canonical SMILES (``None`` for none, the text itself if it cannot be read)."""
    if not smiles:
        return None
    try:
        return engine.molecule(smiles).smiles
    except engine.ChemistryError:
        return smiles.strip()


def _checked_smiles(smiles: str | None, field: str) -> None:
    if not smiles:
        return
    try:
        engine.molecule(smiles)
    except engine.ChemistryError as error:
        message = str(error)
        if "write the" not in message:  # the engine's message may say what to write already
            message += "; write the structure as SMILES (e.g. Cc1ccccc1 for toluene)"
        raise Invalid(message, field_errors={field: message}) from None


def _prefixed(error: Invalid, prefix: str = "route") -> Invalid:
    return Invalid(
        error.message,
        field_errors={
            (k if k == prefix or k.startswith(f"{prefix}.") else f"{prefix}.{k}"): v
            for k, v in error.field_errors.items()
        },
    )


def _hazards(values: Iterable[Hazard | str]) -> list[str]:
    """GHS pictograms once each, in the order of :class:`Hazard`."""
    wanted = {str(Hazard(v)) for v in values}
    return [h.value for h in Hazard if h.value in wanted]


def _unreadable(what: str, error: ValidationError, fix: str, field: str) -> Invalid:
    """Stored values a route file no longer accepts (e.g. kept before 15 significant digits
    were the limit, rounded by SQLite): a 422 naming each value and what to do."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])} is {_shown(e.get('input'))}: {e['msg']}"
        for e in error.errors(include_url=False)
    )
    message = f"{what} holds values a route cannot use ({problems}); {fix}"
    return Invalid(message, field_errors={field: message})


def _shown(value: object) -> str:
    if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
        return format(Decimal(str(value)).normalize(), "f")
    return repr(value)


def _entry_data(row: ChemMaterial) -> dict[str, Any]:
    return {
        "name": row.name,
        "smiles": row.smiles,
        "cas": row.cas,
        "price_per_kg": row.price_per_kg,
        "density_kg_per_l": row.density_kg_per_l,
        "hazards": list(row.hazards),
    }


def _entry(row: ChemMaterial) -> MaterialEntry:
    try:
        return MaterialEntry.model_validate(_entry_data(row))
    except ValidationError as error:
        fix = "correct it in the material library"
        raise _unreadable(f"material '{row.name}'", error, fix, "material") from None


def _used_names(route: RouteFile) -> list[str]:
    """The materials the route's steps charge, in order of first use."""
    names: list[str] = []
    for step in route.steps:
        for item in step.inputs:
            if item.material is not None and item.material not in names:
                names.append(item.material)
    return names


def _spec(row: ChemRoute) -> RouteFile:
    try:
        return RouteFile.model_validate(row.spec)
    except ValidationError as error:
        fix = "save the route again with those values corrected"
        raise _unreadable(f"stored route '{row.name}'", error, fix, "route") from None


def _spec_names(spec: Any) -> list[str]:
    """The materials a stored spec charges, read without validating it (see :func:`_usage`)."""
    names: list[str] = []
    steps = spec.get("steps") if isinstance(spec, dict) else None
    for step in steps if isinstance(steps, list) else []:
        inputs = step.get("inputs") if isinstance(step, dict) else None
        for item in inputs if isinstance(inputs, list) else []:
            name = item.get("material") if isinstance(item, dict) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def _spec_data(route: RouteFile) -> dict[str, Any]:
    data = service.route_data(route)
    data.pop("materials", None)
    return data


def _evaluated(route: RouteFile) -> EvaluationReport:
    try:
        return service.evaluate(route)
    except Invalid as error:
        raise _prefixed(error) from None


def _apply_report(row: ChemRoute, report: EvaluationReport) -> None:
    row.step_count = report.step_count
    row.longest_linear_sequence = report.longest_linear_sequence
    row.overall_yield = report.overall_yield
    row.pmi = report.pmi
    row.e_factor = report.e_factor
    row.atom_economy_percent = report.atom_economy_percent
    row.cogs_per_kg = report.cogs_per_kg
    row.currency = report.currency
    row.evaluated_at = utcnow()


def _usage(
    session: Session, orgs: frozenset[uuid.UUID], organization_id: uuid.UUID
) -> dict[str, list[ChemRoute]]:
    """Material name → the organisation's routes that use it (by route name)."""
    used: dict[str, list[ChemRoute]] = {}
    for row in repository.routes_of_organization(session, orgs, organization_id):
        # Names only: a route with a value it can no longer use still uses its materials.
        for name in _spec_names(row.spec):
            used.setdefault(name, []).append(row)
    return used


def _route_list(rows: Sequence[ChemRoute]) -> str:
    return ", ".join(f"'{r.name}'" for r in rows)


# --- materials ----------------------------------------------------------------------------------


def _material(session: Session, principal: Principal, material_id: uuid.UUID) -> ChemMaterial:
    found = repository.material(session, readable(principal), material_id)
    if found is None:
        raise NotFound("no such material")
    return found


def _writable_material(
    session: Session, principal: Principal, material_id: uuid.UUID
) -> ChemMaterial:
    found = _material(session, principal, material_id)
    principal.require(WRITE, found.organization_id)
    return found


def _material_read(row: ChemMaterial, used_by: Sequence[ChemRoute]) -> MaterialRead:
    return MaterialRead(
        id=row.id,
        organization_id=row.organization_id,
        name=row.name,
        smiles=row.smiles,
        cas=row.cas,
        price_per_kg=row.price_per_kg,
        currency=row.currency,
        density_kg_per_l=row.density_kg_per_l,
        hazards=[Hazard(h) for h in row.hazards],
        notes=row.notes,
        used_by=sorted(r.name for r in used_by),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_material_name(
    session: Session, principal: Principal, organization_id: uuid.UUID, name: str
) -> None:
    if repository.materials_named(session, readable(principal), organization_id, [name]):
        message = f"a material named '{name}' is in your library already; update it instead"
        raise Conflict(message, field_errors={"name": "already in the library"})


def list_materials(
    session: Session,
    principal: Principal,
    params: PageParams,
    q: str | None = None,
    hazard: Hazard | None = None,
) -> Page[MaterialRead]:
    """The library of the principal's organisations (name or CAS containing ``q``; carrying the
    GHS pictogram ``hazard``); sortable by name, price or updated_at."""
    orgs = readable(principal)
    rows, total = repository.materials(
        session,
        orgs,
        q=q,
        hazard=hazard.value if hazard is not None else None,
        sort=params.sort_key(repository.MATERIAL_SORTS, "name"),
        offset=params.offset,
        limit=params.page_size,
    )
    usage = {org: _usage(session, orgs, org) for org in {r.organization_id for r in rows}}
    items = [_material_read(r, usage[r.organization_id].get(r.name, [])) for r in rows]
    return Page.of(items, total=total, params=params)


def get_material(session: Session, principal: Principal, material_id: uuid.UUID) -> MaterialRead:
    row = _material(session, principal, material_id)
    used = _usage(session, readable(principal), row.organization_id).get(row.name, [])
    return _material_read(row, used)


def create_material(session: Session, principal: Principal, data: MaterialCreate) -> MaterialRead:
    organization_id = _organization_for(principal, data.organization_id)
    _checked_smiles(data.smiles, "smiles")
    _check_material_name(session, principal, organization_id, data.name)
    row = ChemMaterial(
        organization_id=organization_id,
        name=data.name,
        smiles=data.smiles,
        cas=data.cas,
        price_per_kg=data.price_per_kg,
        currency=data.currency,
        density_kg_per_l=data.density_kg_per_l,
        hazards=_hazards(data.hazards),
        notes=data.notes,
        created_by_id=principal.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(session, action="create", entity_type="chem_material", entity_id=row.id,
                 actor=principal, organization_id=organization_id,
                 after=audit.snapshot(row, MATERIAL_FIELDS))  # fmt: skip
    return _material_read(row, [])


def update_material(
    session: Session, principal: Principal, material_id: uuid.UUID, data: MaterialUpdate
) -> MaterialRead:
    """Change a material; every route of the organisation that uses it is evaluated again and
    its summary refreshed. A change that would make a route invalid changes nothing."""
    row = _writable_material(session, principal, material_id)
    check_version("material", row.version, data.version)
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    for required in ("name", "price_per_kg", "currency", "hazards", "notes"):
        if required in changes and changes[required] is None:
            del changes[required]  # these cannot be cleared: absent means unchanged
    if "hazards" in changes:
        changes["hazards"] = _hazards(changes["hazards"])
    changes = {k: v for k, v in changes.items() if getattr(row, k) != v}
    if "smiles" in changes:
        _checked_smiles(changes["smiles"], "smiles")
    orgs = readable(principal)
    users = _usage(session, orgs, row.organization_id).get(row.name, [])
    if "name" in changes:
        if users:
            message = (
                f"material '{row.name}' is used by {_route_list(users)}, which name it; keep its "
                "name (or import those routes again with the new name first)"
            )
            raise Invalid(message, field_errors={"name": message})
        _check_material_name(session, principal, row.organization_id, changes["name"])
    if "currency" in changes:
        others = [r for r in users if r.currency != changes["currency"]]
        if others:
            message = (
                f"material '{row.name}' is used by {_route_list(others)}, priced in "
                f"{others[0].currency}; a material is priced in the currency of its routes"
            )
            raise Invalid(message, field_errors={"currency": message})
    reevaluate = users if any(k in changes for k in EVALUATED_FIELDS) else []
    reports = _reevaluated(session, orgs, row, changes, reevaluate)

    before = audit.snapshot(row, MATERIAL_FIELDS)
    for key, value in changes.items():
        setattr(row, key, value)
    if changes:
        row.updated_at = utcnow()
        session.flush()
        audit.record(session, action="update", entity_type="chem_material", entity_id=row.id,
                     actor=principal, organization_id=row.organization_id, before=before,
                     after=audit.snapshot(row, MATERIAL_FIELDS))  # fmt: skip
    for route_row, report in reports:
        summary = audit.snapshot(route_row, SUMMARY_FIELDS)
        _apply_report(route_row, report)
        session.flush()
        audit.record(session, action="re-evaluate", entity_type="chem_route",
                     entity_id=route_row.id, actor=principal,
                     organization_id=route_row.organization_id, before=summary,
                     after=audit.snapshot(route_row, SUMMARY_FIELDS),
                     reason=f"material '{row.name}' changed")  # fmt: skip
    return _material_read(row, users)


def _reevaluated(
    session: Session,
    orgs: frozenset[uuid.UUID],
    row: ChemMaterial,
    changes: dict[str, Any],
    routes: Sequence[ChemRoute],
) -> list[tuple[ChemRoute, EvaluationReport]]:
    """Each route evaluated with the changed material; Invalid naming every route it breaks."""
    if not routes:
        return []
    current = _entry_data(row)  # not validated: the change may correct a stored value
    try:
        candidate = MaterialEntry.model_validate({**current, **{
            k: v for k, v in changes.items() if k in current
        }})  # fmt: skip
    except ValidationError as error:
        fix = "correct those fields in the same change"
        raise _unreadable(f"material '{row.name}'", error, fix, "material") from None
    reports: list[tuple[ChemRoute, EvaluationReport]] = []
    broken: list[str] = []
    for route_row in routes:
        route = _assembled(session, orgs, route_row, override=candidate)
        try:
            reports.append((route_row, service.evaluate(route)))
        except Invalid as error:
            broken.append(f"route '{route_row.name}': {error.message}")
    if broken:
        field = next((k for k in EVALUATED_FIELDS if k in changes), "material")
        message = (
            f"this change to '{row.name}' would make {len(broken)} route(s) invalid, so nothing "
            f"was changed — {'; '.join(broken)}; fix those routes first or change the material "
            "differently"
        )
        raise Invalid(message, field_errors={field: message})
    return reports


# --- materials of a route file ------------------------------------------------------------------


def _difference(entry: MaterialEntry, currency: str, row: ChemMaterial) -> list[str]:
    """How a file's material differs from the library's material of the same name."""
    found: list[str] = []
    if _canonical(entry.smiles) != _canonical(row.smiles):
        found.append(f"smiles {entry.smiles or '(none)'} vs {row.smiles or '(none)'}")
    if entry.price_per_kg != row.price_per_kg:
        found.append(f"price_per_kg {_number(entry.price_per_kg)} vs {_number(row.price_per_kg)}")
    if currency != row.currency:
        found.append(f"currency {currency} vs {row.currency}")
    if entry.density_kg_per_l != row.density_kg_per_l:
        found.append(
            f"density_kg_per_l {_number(entry.density_kg_per_l)} vs {_number(row.density_kg_per_l)}"
        )
    if (entry.cas or None) != row.cas:
        found.append(f"cas {entry.cas or '(none)'} vs {row.cas or '(none)'}")
    mine, theirs = _hazards(entry.hazards), _hazards(row.hazards)
    if mine != theirs:
        found.append(f"hazards {', '.join(mine) or '(none)'} vs {', '.join(theirs) or '(none)'}")
    return found


def _resolved(
    session: Session, principal: Principal, organization_id: uuid.UUID, route: RouteFile
) -> tuple[RouteFile, list[MaterialEntry]]:
    """The route file with the library's materials, and the file's materials new to the
    library; Invalid listing every material that differs and every material nowhere to find."""
    listed = {m.name for m in route.materials}
    used = _used_names(route)
    library = repository.materials_named(
        session, readable(principal), organization_id, listed | set(used)
    )
    errors: dict[str, str] = {}
    messages: list[str] = []

    def refuse(field: str, message: str) -> None:
        errors.setdefault(field, message)
        messages.append(message)

    seen: set[str] = set()
    new: list[MaterialEntry] = []
    for i, entry in enumerate(route.materials):
        if entry.name in seen:
            refuse(f"route.materials.{i}.name", f"material '{entry.name}' is listed twice")
            continue
        seen.add(entry.name)
        row = library.get(entry.name)
        if row is None:
            try:
                _checked_smiles(entry.smiles, f"route.materials.{i}.smiles")
            except Invalid as error:
                refuse(f"route.materials.{i}.smiles", f"material '{entry.name}': {error.message}")
            new.append(entry)
            continue
        differences = _difference(entry, route.currency, row)
        if differences:
            refuse(
                f"route.materials.{i}",
                f"material '{entry.name}' differs from your library: {', '.join(differences)}; "
                "rename it in the file or update the library first",
            )
    for step in route.steps:
        for item in step.inputs:
            name = item.material
            if name is None or name in listed:
                continue
            if name not in library:
                refuse(
                    f"route.steps.{step.id}",
                    f"step '{step.id}' charges material '{name}', which is neither in the file's "
                    "materials nor in your library; add it to the file's materials",
                )
            elif library[name].currency != route.currency:
                refuse(
                    f"route.steps.{step.id}",
                    f"step '{step.id}' charges material '{name}', priced in "
                    f"{library[name].currency} in your library, but the route is in "
                    f"{route.currency}; use one currency",
                )
    if errors:
        raise Invalid("\n".join(messages), field_errors=errors)
    entries = {m.name: m for m in new} | {name: _entry(row) for name, row in library.items()}
    return route.model_copy(update={"materials": [entries[n] for n in used]}), new


def _assembled(
    session: Session,
    orgs: frozenset[uuid.UUID],
    row: ChemRoute,
    *,
    override: MaterialEntry | None = None,
) -> RouteFile:
    """A stored route's file: its spec and the library materials it uses (``override`` in
    place of the library's material of the same name)."""
    spec = _spec(row)
    used = _used_names(spec)
    library = repository.materials_named(session, orgs, row.organization_id, used)
    entries = {
        name: _entry(material)
        for name, material in library.items()
        if override is None or name != override.name
    }
    if override is not None:
        entries[override.name] = override
    missing = [n for n in used if n not in entries]
    if missing:
        message = (
            f"route '{row.name}' charges {', '.join(repr(n) for n in missing)}, no longer in the "
            "library; add them to the library again"
        )
        raise Invalid(message, field_errors={"route": message})
    return spec.model_copy(update={"materials": [entries[n] for n in used]})


def _create_materials(
    session: Session,
    principal: Principal,
    organization_id: uuid.UUID,
    currency: str,
    entries: Sequence[MaterialEntry],
    route_name: str,
) -> None:
    for entry in entries:
        row = ChemMaterial(
            organization_id=organization_id,
            name=entry.name,
            smiles=entry.smiles,
            cas=entry.cas,
            price_per_kg=entry.price_per_kg,
            currency=currency,
            density_kg_per_l=entry.density_kg_per_l,
            hazards=_hazards(entry.hazards),
            notes="",
            created_by_id=principal.user_id,
        )
        session.add(row)
        session.flush()
        audit.record(session, action="create", entity_type="chem_material", entity_id=row.id,
                     actor=principal, organization_id=organization_id,
                     after=audit.snapshot(row, MATERIAL_FIELDS),
                     reason=f"imported with route '{route_name}'")  # fmt: skip


# --- routes -------------------------------------------------------------------------------------


def _route(session: Session, principal: Principal, route_id: uuid.UUID) -> ChemRoute:
    found = repository.route(session, readable(principal), route_id)
    if found is None:
        raise NotFound("no such route")
    return found


def _writable_route(session: Session, principal: Principal, route_id: uuid.UUID) -> ChemRoute:
    found = _route(session, principal, route_id)
    principal.require(WRITE, found.organization_id)
    return found


def _products(
    session: Session, principal: Principal, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, ProductRead]:
    found: dict[uuid.UUID, ProductRead] = {}
    for product_id in {i for i in ids if i is not None}:
        try:
            found[product_id] = manufacturing.get_product(session, principal, product_id)
        except (NotFound, NotPermitted):
            continue
    return found


def _summary_fields(row: ChemRoute, products: dict[uuid.UUID, ProductRead]) -> dict[str, Any]:
    product = products.get(row.product_id) if row.product_id else None
    return {
        "id": row.id,
        "organization_id": row.organization_id,
        "name": row.name,
        "product_id": row.product_id,
        "product_code": product.code if product else None,
        "product_name": product.name if product else None,
        "step_count": row.step_count,
        "longest_linear_sequence": row.longest_linear_sequence,
        "overall_yield": row.overall_yield,
        "pmi": row.pmi,
        "e_factor": row.e_factor,
        "atom_economy_percent": row.atom_economy_percent,
        "cogs_per_kg": row.cogs_per_kg,
        "currency": row.currency,
        "evaluated_at": row.evaluated_at,
        "chosen": row.chosen,
        "chosen_at": row.chosen_at,
        "recipe_id": row.recipe_id,
        "version": row.version,
        "updated_at": row.updated_at,
    }


def _route_read(session: Session, principal: Principal, row: ChemRoute) -> RouteRead:
    spec = _spec(row)
    return RouteRead(
        **_summary_fields(row, _products(session, principal, [row.product_id])),
        spec=spec,
        materials=_used_names(spec),
        created_at=row.created_at,
        created_by_id=row.created_by_id,
    )


def _checked_product(
    session: Session,
    principal: Principal,
    organization_id: uuid.UUID,
    product_id: uuid.UUID | None,
) -> None:
    """The product a route makes: one the organisation makes, counted in kg."""
    if product_id is None:
        return
    message = "choose a product your organisation makes (see GET /mfg/products)"
    try:
        product = manufacturing.get_product(session, principal, product_id)
    except (NotFound, NotPermitted):
        raise Invalid(message, field_errors={"product_id": message}) from None
    if product.provider_id != organization_id:
        raise Invalid(message, field_errors={"product_id": message})
    if product.unit.value != "kg":
        unit_message = (
            f"{product.code} is counted in {product.unit.value}; a route makes kilograms of a "
            "substance: choose an intermediate or API counted in kg"
        )
        raise Invalid(unit_message, field_errors={"product_id": unit_message})


def _check_route_name(
    session: Session,
    principal: Principal,
    organization_id: uuid.UUID,
    name: str,
    but: uuid.UUID | None = None,
) -> None:
    found = repository.route_named(session, readable(principal), organization_id, name)
    if found is not None and found.id != but:
        raise Conflict(
            f"a route named '{name}' exists; choose another name (or update that route)",
            field_errors={"route.name": "already used by another route"},
        )


def import_route(session: Session, principal: Principal, body: RouteImport) -> RouteRead:
    """Store a route file: its new materials join the library, its evaluation is kept."""
    organization_id = _organization_for(principal, body.organization_id)
    _checked_product(session, principal, organization_id, body.product_id)
    route = body.route
    _check_route_name(session, principal, organization_id, route.name)
    assembled, new = _resolved(session, principal, organization_id, route)
    report = _evaluated(assembled)
    _create_materials(session, principal, organization_id, route.currency, new, route.name)
    row = ChemRoute(
        organization_id=organization_id,
        product_id=body.product_id,
        name=route.name,
        spec=_spec_data(route),
        chosen=False,
        created_by_id=principal.user_id,
    )
    _apply_report(row, report)
    session.add(row)
    session.flush()
    audit.record(session, action="create", entity_type="chem_route", entity_id=row.id,
                 actor=principal, organization_id=organization_id,
                 after=audit.snapshot(row, ROUTE_FIELDS))  # fmt: skip
    return _route_read(session, principal, row)


def update_route(
    session: Session, principal: Principal, route_id: uuid.UUID, body: RouteUpdate
) -> RouteRead:
    """Replace the route file (and the product it makes), under the rules of an import. A route
    moved to another product is no longer the chosen one."""
    row = _writable_route(session, principal, route_id)
    check_version("route", row.version, body.version)
    _checked_product(session, principal, row.organization_id, body.product_id)
    route = body.route
    _check_route_name(session, principal, row.organization_id, route.name, but=row.id)
    assembled, new = _resolved(session, principal, row.organization_id, route)
    report = _evaluated(assembled)
    _create_materials(session, principal, row.organization_id, route.currency, new, route.name)
    before = audit.snapshot(row, ROUTE_FIELDS)
    if body.product_id != row.product_id:
        row.chosen, row.chosen_at, row.recipe_id = False, None, None
    row.product_id = body.product_id
    row.name = route.name
    row.spec = _spec_data(route)
    _apply_report(row, report)
    row.updated_at = utcnow()
    session.flush()
    audit.record(session, action="update", entity_type="chem_route", entity_id=row.id,
                 actor=principal, organization_id=row.organization_id, before=before,
                 after=audit.snapshot(row, ROUTE_FIELDS))  # fmt: skip
    return _route_read(session, principal, row)


def delete_route(
    session: Session, principal: Principal, route_id: uuid.UUID, *, version: int | None = None
) -> None:
    """Delete a stored route; its materials stay in the library, a recipe made from it stays."""
    row = _writable_route(session, principal, route_id)
    check_version("route", row.version, version)
    before = audit.snapshot(row, ROUTE_FIELDS)
    row_id, organization_id = row.id, row.organization_id
    # the row first, then the audit chain: the lock order of every update (the other way round
    # a deletion and a concurrent save can deadlock on PostgreSQL)
    session.delete(row)
    session.flush()
    audit.record(session, action="delete", entity_type="chem_route", entity_id=row_id,
                 actor=principal, organization_id=organization_id, before=before)  # fmt: skip


def delete_material(
    session: Session, principal: Principal, material_id: uuid.UUID, *, version: int | None = None
) -> None:
    """Delete a material no route uses (409 naming the routes that use it)."""
    row = _writable_material(session, principal, material_id)
    check_version("material", row.version, version)
    users = _usage(session, readable(principal), row.organization_id).get(row.name, [])
    if users:
        raise Conflict(
            f"material '{row.name}' is used by {_route_list(users)}; remove it from those routes "
            "first"
        )
    before = audit.snapshot(row, MATERIAL_FIELDS)
    row_id, organization_id = row.id, row.organization_id
    # the row first, then the audit chain: the lock order of every update (the other way round
    # a deletion and a concurrent save can deadlock on PostgreSQL)
    session.delete(row)
    session.flush()
    audit.record(session, action="delete", entity_type="chem_material", entity_id=row_id,
                 actor=principal, organization_id=organization_id, before=before)  # fmt: skip


def list_routes(
    session: Session,
    principal: Principal,
    params: PageParams,
    *,
    product_id: uuid.UUID | None = None,
    q: str | None = None,
) -> Page[RouteSummary]:
    """Routes of the principal's organisations; sortable by name, pmi, cogs, lls, steps, yield,
    atom_economy or updated_at (prefix '-' for descending)."""
    rows, total = repository.routes(
        session,
        readable(principal),
        product_id=product_id,
        q=q,
        sort=params.sort_key(repository.ROUTE_SORTS, "name"),
        offset=params.offset,
        limit=params.page_size,
    )
    products = _products(session, principal, [r.product_id for r in rows])
    items = [RouteSummary(**_summary_fields(r, products)) for r in rows]
    return Page.of(items, total=total, params=params)


def get_route(session: Session, principal: Principal, route_id: uuid.UUID) -> RouteRead:
    return _route_read(session, principal, _route(session, principal, route_id))


def route_named(session: Session, principal: Principal, name: str) -> RouteRead:
    """A readable route by its exact name (the CLI names routes)."""
    found = repository.routes_named(session, readable(principal), name.strip())
    if not found:
        raise NotFound(f"no route named '{name}'; see 'opencxo chem routes'")
    if len(found) > 1:
        raise Invalid(f"several of your organisations have a route named '{name}'")
    return _route_read(session, principal, found[0])


def route_file(session: Session, principal: Principal, route_id: uuid.UUID) -> RouteFile:
    """The stored route as a route file: its spec and the library materials it uses."""
    return _assembled(session, readable(principal), _route(session, principal, route_id))


def export_route(
    session: Session, principal: Principal, route_id: uuid.UUID, fmt: str = "yaml"
) -> tuple[str, str]:
    """The route file to download: (file name, text) in YAML or JSON."""
    if fmt not in EXPORT_FORMATS:
        message = f"format must be one of {', '.join(EXPORT_FORMATS)}"
        raise Invalid(message, field_errors={"format": message})
    route = route_file(session, principal, route_id)
    slug = "".join(c if c.isalnum() else "-" for c in route.name.lower()).strip("-")[:60]
    filename = f"{slug or 'route'}.{fmt}"
    if fmt == "json":
        return filename, json.dumps(service.route_data(route), indent=2, ensure_ascii=False)
    return filename, service.to_yaml(route)


def evaluation(
    session: Session,
    principal: Principal,
    route_id: uuid.UUID,
    production_kg: Decimal | None = None,
) -> EvaluationReport:
    """Every figure of a stored route with today's library (computed, not stored)."""
    route = route_file(session, principal, route_id)
    try:
        return service.evaluate(route, production_kg=production_kg)
    except Invalid as error:
        raise _prefixed(error) from None


def sensitivity(
    session: Session,
    principal: Principal,
    route_id: uuid.UUID,
    yield_change: float = service.DEFAULT_YIELD_CHANGE,
    price_change: float = service.DEFAULT_PRICE_CHANGE,
) -> SensitivityReport:
    route = route_file(session, principal, route_id)
    return service.sensitivity(route, yield_change=yield_change, price_change=price_change)


def compare(
    session: Session, principal: Principal, route_ids: Sequence[uuid.UUID] | CompareRequest
) -> ComparisonReport:
    """Stored routes side by side (2 to 6), each evaluated with today's library."""
    ids = list(route_ids.route_ids if isinstance(route_ids, CompareRequest) else route_ids)
    if not 2 <= len(ids) <= MAX_COMPARED:
        message = f"choose 2 to {MAX_COMPARED} routes to compare (you chose {len(ids)})"
        raise Invalid(message, field_errors={"route_ids": message})
    return service.compare([evaluation(session, principal, i) for i in ids])


# --- the chosen route becomes the product's recipe ----------------------------------------------


def _micro(value: Decimal) -> Decimal:
    return value.quantize(_MICRO)


def _recipe_input(row: ChemRoute, body: ChooseRoute, plan: RecipePlan) -> RecipeInput:
    """The plan as manufacturing's recipe input; Invalid naming each figure a recipe cannot hold
    (a batch of the output ÷ the product of tiny yields, a step run thousands of times)."""
    data = {
        "plant_id": body.plant_id,
        "batch_size": _micro(plan.batch_size_kg),
        "description": f"From process chemistry route '{row.name}'.",
        "steps": [
            {
                "operation": (s.operation or "Step")[:120],
                "equipment_class": s.equipment_class,
                "duration_hours": _micro(s.duration_hours),
                "yield_fraction": _micro(s.yield_fraction),
            }
            for s in plan.steps
        ],
        "bom": [
            {"material_name": line.material_name,
             "quantity_per_batch": _micro(line.quantity_per_batch_kg)}
            for line in plan.bom
        ],
    }  # fmt: skip
    try:
        return RecipeInput.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{_recipe_figure(plan, e['loc'])} would be {_shown(e.get('input'))}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        message = (
            f"route '{row.name}' cannot become a plant recipe ({problems}); {service.RECIPE_FIX}"
        )
        raise Invalid(message, field_errors={"route": message}) from None


def _recipe_figure(plan: RecipePlan, loc: tuple[int | str, ...]) -> str:
    """A recipe field in the chemist's words: the batch size, a step's hours, a material's kg."""
    match loc:
        case ("steps", int(i), "duration_hours", *_):
            return f"the hours of step '{plan.steps[i].operation}' per batch"
        case ("bom", int(i), "quantity_per_batch", *_):
            return f"the kg of '{plan.bom[i].material_name}' per batch"
        case ("batch_size", *_):
            return "the batch size (kg)"
    return ".".join(str(part) for part in loc)


def choose_route(
    session: Session, principal: Principal, route_id: uuid.UUID, body: ChooseRoute
) -> RouteChosen:
    """Make the route the one its product is made by at a plant: the product's recipe there is
    created from the route (or replaced), the product's other routes are no longer chosen."""
    row = _writable_route(session, principal, route_id)
    check_version("route", row.version, body.version)
    if row.product_id is None:
        message = (
            f"route '{row.name}' makes no product yet; link it to a manufacturing product "
            "(product_id) first"
        )
        raise Invalid(message, field_errors={"product_id": message})
    try:
        plan = service.recipe_plan(route_file(session, principal, route_id))
    except Invalid as error:
        raise _prefixed(error) from None
    product = manufacturing.get_product(session, principal, row.product_id)
    existing = next((r for r in product.recipes if r.plant_id == body.plant_id), None)
    recipe_input = _recipe_input(row, body, plan)
    if existing is not None:
        update = RecipeUpdate(**recipe_input.model_dump(), version=existing.version)
        recipe = manufacturing.update_recipe(session, principal, existing.id, update)
    else:
        recipe = manufacturing.create_recipe(session, principal, row.product_id, recipe_input)
    orgs = readable(principal)
    for other in repository.chosen_routes_of_product(session, orgs, row.product_id):
        if other.id == row.id:
            continue
        other.chosen, other.chosen_at = False, None
        session.flush()
        audit.record(session, action="unchoose", entity_type="chem_route", entity_id=other.id,
                     actor=principal, organization_id=other.organization_id,
                     before={"chosen": True}, after={"chosen": False},
                     reason=f"route '{row.name}' was chosen for the product")  # fmt: skip
    before = audit.snapshot(row, ("chosen", "recipe_id"))
    row.chosen, row.chosen_at, row.recipe_id = True, utcnow(), recipe.id
    session.flush()
    audit.record(session, action="choose", entity_type="chem_route", entity_id=row.id,
                 actor=principal, organization_id=row.organization_id, before=before,
                 after={**audit.snapshot(row, ("chosen", "recipe_id", "product_id")),
                        "plant_id": str(body.plant_id), "recipe_replaced": existing is not None})  # fmt: skip
    return RouteChosen(
        route=_route_read(session, principal, row),
        recipe=recipe,
        recipe_replaced=existing is not None,
    )


# --- route files the caller keeps (nothing stored) ----------------------------------------------


def evaluate_file(
    principal: Principal, route: RouteFile, production_kg: Decimal | None = None
) -> EvaluationReport:
    principal.require(READ)
    return service.evaluate(route, production_kg=production_kg)


def sensitivity_file(
    principal: Principal,
    route: RouteFile,
    *,
    yield_change: float = service.DEFAULT_YIELD_CHANGE,
    price_change: float = service.DEFAULT_PRICE_CHANGE,
) -> SensitivityReport:
    principal.require(READ)
    return service.sensitivity(route, yield_change=yield_change, price_change=price_change)


def atom_economy(principal: Principal, reaction_smiles: str) -> AtomEconomyReport:
    principal.require(READ)
    return service.atom_economy(reaction_smiles)


def depiction(principal: Principal, smiles: str, *, width_px: int, height_px: int) -> str:
    principal.require(READ)
    return service.depiction(smiles, width_px=width_px, height_px=height_px)


def route_schema(principal: Principal) -> dict[str, Any]:
    principal.require(READ)
    return service.route_schema()
