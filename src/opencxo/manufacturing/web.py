"""Web pages of manufacturing master data (plants and units, products, specifications and
recipes, production orders) — thin: the same services as the API.

Forms answer in place on an error (422/409, the input kept, each message next to its field)
and redirect with a flash message after a change. Sponsors read their products and orders;
every write form is shown to the provider's writers only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from opencxo.contracts import service as contracts
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import OpenCXOError
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import MAX_PAGE, PageParams
from opencxo.manufacturing import service
from opencxo.manufacturing.models import GmpGrade, OrderStatus, ProductKind, QuantityUnit
from opencxo.manufacturing.schemas import (
    ChangeoverInput,
    ChangeoverKey,
    CleaningTimeInput,
    MaintenanceWindowCreate,
    OrderCancel,
    OrderCreate,
    OrderRead,
    OrderUpdate,
    ProductCreate,
    ProductRead,
    ProductUpdate,
    RecipeInput,
    RecipeRead,
    RecipeUpdate,
    SpecificationCreate,
    SpecificationUpdate,
    UnitCreate,
    UnitUpdate,
)
from opencxo.web.deps import FormData, PageUser, blank_to_none, run_form, submit_form
from opencxo.web.exports import xlsx_response
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]
WRITE = Permission.MANUFACTURING_WRITE
STEP_ROWS = 12  # blank rows of the recipe editor (blank rows are ignored)
BOM_ROWS = 8
ORDER_HEADERS = (
    "Number", "Product code", "Product", "Sponsor", "Plant", "Quantity", "Unit", "Due date",
    "Release date", "Priority", "Status", "Batches", "Updated (UTC)",
)  # fmt: skip
R = TypeVar("R")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except (ValueError, AttributeError):
        return None


def _form_of(model: BaseModel) -> dict[str, Any]:
    """A record as form values: decimals without trailing zeros, everything else as JSON."""
    values = model.model_dump(mode="json")
    for name, value in model.model_dump().items():
        if isinstance(value, Decimal):
            values[name] = f"{value.normalize():f}"
    return values


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


# --- plants --------------------------------------------------------------------------------------


@router.get("/mfg/plants")
def plants_page(request: Request, session: DbSession, principal: PageUser) -> Response:
    return render(
        request,
        "manufacturing/plants.html",
        {"plants": service.list_plants(session, principal), "active": "plants"},
    )


def _plant_page(
    request: Request,
    session: Session,
    principal: Principal,
    plant_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    form_name: str = "",
    status_code: int = 200,
) -> Response:
    plant = service.get_plant(session, principal, plant_id)
    return render(
        request,
        "manufacturing/plant.html",
        {
            "plant": plant,
            "can_write": principal.can(WRITE, plant.provider_id),
            "products": service.provider_products(session, principal, plant.provider_id),
            "grades": [g.value for g in GmpGrade],
            "errors": errors or {},
            "form": form or {},
            "form_name": form_name,
            "active": "plants",
        },
        status_code=status_code,
    )


def plant_form_errors(
    request: Request,
    session: Session,
    principal: Principal,
    plant_id: uuid.UUID,
    *,
    form: dict[str, Any],
    form_name: str,
    errors: dict[str, str],
    status_code: int,
) -> Response:
    """The plant page with one of its forms open again: what was typed and what to fix."""
    return _plant_page(
        request, session, principal, plant_id, errors=errors, form=form, form_name=form_name,
        status_code=status_code,
    )  # fmt: skip


@router.get("/mfg/plants/{plant_id}")
def plant_page(
    plant_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    return _plant_page(request, session, principal, plant_id)


def _plant_form(
    request: Request,
    session: Session,
    principal: Principal,
    plant_id: uuid.UUID,
    form: dict[str, Any],
    form_name: str,
    model: type[BaseModel],
    action: Callable[[Any], Any],
    done: Callable[[Any], str],
    anchor: str,
) -> Response:
    """Run one of the plant page's forms: back to the page with a flash, or the page again with
    the errors next to the form that failed."""
    return submit_form(
        request, session, model, form, action, done=done,
        location=f"/mfg/plants/{plant_id}#{anchor}",
        page_again=lambda outcome: _plant_page(
            request, session, principal, plant_id, errors=outcome.errors, form=form,
            form_name=form_name, status_code=outcome.status_code,
        ),
    )  # fmt: skip


@router.post("/mfg/plants/{plant_id}/units")
def add_unit(
    plant_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _plant_form(
        request, session, principal, plant_id, form, "unit", UnitCreate,
        lambda body: service.add_unit(session, principal, plant_id, body),
        lambda unit: f"Unit {unit.code} added.", "units",
    )  # fmt: skip


def _unit_form(
    request: Request,
    session: Session,
    principal: Principal,
    unit_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    unit = service.get_unit(session, principal, unit_id)
    plant = service.get_plant(session, principal, unit.plant_id)
    if form is None:
        form = _form_of(unit)
    return render(
        request,
        "manufacturing/unit_form.html",
        {
            "unit": unit,
            "plant": plant,
            "grades": [g.value for g in GmpGrade],
            "errors": errors or {},
            "form": form,
            "active": "plants",
        },
        status_code=status_code,
    )


@router.get("/mfg/units/{unit_id}/edit")
def edit_unit_page(
    unit_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    return _unit_form(request, session, principal, unit_id)


@router.post("/mfg/units/{unit_id}")
def update_unit(
    unit_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    data = {**form, "active": form.get("active") == "on"}
    outcome = run_form(
        session,
        UnitUpdate,
        data,
        lambda body: service.update_unit(session, principal, unit_id, body),
    )
    if outcome.result is None:
        return _unit_form(
            request, session, principal, unit_id, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    flash(request, f"Unit {outcome.result.code} saved.")
    return _redirect(f"/mfg/plants/{outcome.result.plant_id}#units")


@router.post("/mfg/units/{unit_id}/active")
def set_unit_active(
    unit_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    """Take a unit out of service, or back in."""
    unit = service.get_unit(session, principal, unit_id)
    return _plant_form(
        request, session, principal, unit.plant_id, form, f"unit-{unit_id}", UnitUpdate,
        lambda body: service.update_unit(session, principal, unit_id, body),
        lambda u: f"Unit {u.code} {'back in service' if u.active else 'taken out of service'}.",
        "units",
    )  # fmt: skip


@router.post("/mfg/units/{unit_id}/delete")
def delete_unit(
    unit_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    unit = service.get_unit(session, principal, unit_id)
    try:
        service.delete_unit(session, principal, unit_id)
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        return _plant_page(
            request, session, principal, unit.plant_id, errors={"form": exc.message},
            form_name=f"unit-{unit_id}", status_code=exc.status_code,
        )  # fmt: skip
    flash(request, f"Unit {unit.code} deleted.")
    return _redirect(f"/mfg/plants/{unit.plant_id}#units")


@router.post("/mfg/units/{unit_id}/maintenance")
def add_maintenance(
    unit_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    unit = service.get_unit(session, principal, unit_id)
    # The form's datetime-local inputs are read as UTC (the page says so).
    data = {
        **form,
        **{k: f"{form[k]}:00+00:00" if len(form.get(k) or "") == 16 else form.get(k)
           for k in ("starts_at", "ends_at")},
        "reason": form.get("reason") or "preventive maintenance",
    }  # fmt: skip
    return _plant_form(
        request, session, principal, unit.plant_id, data, f"maintenance-{unit_id}",
        MaintenanceWindowCreate,
        lambda body: service.add_maintenance(session, principal, unit_id, body),
        lambda w: f"Maintenance of {unit.code} planned.", "units",
    )  # fmt: skip


@router.post("/mfg/maintenance/{window_id}/delete")
def delete_maintenance(
    window_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    plant_id = _uuid(str(form.get("plant_id", "")))
    service.delete_maintenance(session, principal, window_id)
    flash(request, "Maintenance window deleted.")
    return _redirect(f"/mfg/plants/{plant_id}#units" if plant_id else "/mfg/plants")


@router.post("/mfg/plants/{plant_id}/cleaning-times")
def set_cleaning_time(
    plant_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    name = str(form.get("equipment_class", "")).strip()
    return _plant_form(
        request, session, principal, plant_id, form, f"cleaning-{name or 'new'}",
        CleaningTimeInput,
        lambda body: service.set_cleaning_time(session, principal, plant_id, name, body),
        lambda row: f"Cleaning times of {row.equipment_class} saved.", "cleaning",
    )  # fmt: skip


@router.post("/mfg/plants/{plant_id}/changeovers")
def set_changeover(
    plant_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _plant_form(
        request, session, principal, plant_id, form, "changeover", ChangeoverInput,
        lambda body: service.set_changeover(session, principal, plant_id, body),
        lambda row: f"Changeover {row.from_product_code} → {row.to_product_code} on "
        f"{row.equipment_class}: {row.hours.normalize():f} h saved.",
        "changeovers",
    )  # fmt: skip


@router.post("/mfg/plants/{plant_id}/changeovers/delete")
def delete_changeover(
    plant_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _plant_form(
        request, session, principal, plant_id, form, "changeover", ChangeoverKey,
        lambda body: service.delete_changeover(session, principal, plant_id, body),
        lambda _: "Changeover override removed; the class's default applies again.",
        "changeovers",
    )  # fmt: skip


# --- products ------------------------------------------------------------------------------------


def _is_writer(session: Session, principal: Principal) -> bool:
    """The principal writes manufacturing data of one of its provider organisations."""
    return bool(service.writable_provider_ids(session, principal))


@router.get("/mfg/products")
def products_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    kind: str = "",
    sponsor_id: str = "",
    q: str = "",
) -> Response:
    chosen_kind = ProductKind(kind) if kind in {k.value for k in ProductKind} else None
    sponsor = _uuid(sponsor_id)
    page = service.list_products(
        session, principal, params=params, kind=chosen_kind, sponsor_id=sponsor,
        q=q.strip()[:100] or None,
    )  # fmt: skip
    return render(
        request,
        "manufacturing/products.html",
        {
            "page": page,
            "sort": params.sort or "",
            "kind": chosen_kind.value if chosen_kind else "",
            "kinds": [k.value for k in ProductKind],
            "sponsor_id": str(sponsor) if sponsor else "",
            "sponsors": service.product_sponsors(session, principal),
            "q": q,
            "filtered": bool(chosen_kind or sponsor or q.strip()),
            "can_create": _is_writer(session, principal),
            "active": "products",
        },
    )


def _product_form(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    product: ProductRead | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    if form is None:
        form = _form_of(product) if product else {"kind": "api", "unit": "kg"}
    return render(
        request,
        "manufacturing/product_form.html",
        {
            "product": product,
            "kinds": [k.value for k in ProductKind],
            "units": [u.value for u in QuantityUnit],
            "sponsors": service.sponsor_choices(session, principal),
            "errors": errors or {},
            "form": form,
            "active": "products",
        },
        status_code=status_code,
    )


@router.get("/mfg/products/new")
def new_product_page(request: Request, session: DbSession, principal: PageUser) -> Response:
    return _product_form(request, session, principal)


@router.post("/mfg/products")
def create_product(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session, ProductCreate, form, lambda body: service.create_product(session, principal, body)
    )
    if outcome.result is None:
        return _product_form(
            request, session, principal, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    flash(request, f"Product {outcome.result.code} created. Add its specifications and a recipe.")
    return _redirect(f"/mfg/products/{outcome.result.id}")


@router.get("/mfg/products/{product_id}/edit")
def edit_product_page(
    product_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    product = service.get_product(session, principal, product_id)
    return _product_form(request, session, principal, product=product)


@router.post("/mfg/products/{product_id}")
def update_product(
    product_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session,
        ProductUpdate,
        form,
        lambda body: service.update_product(session, principal, product_id, body),
    )
    if outcome.result is None:
        product = service.get_product(session, principal, product_id)
        return _product_form(
            request, session, principal, product=product, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    flash(request, f"Product {outcome.result.code} saved.")
    return _redirect(f"/mfg/products/{product_id}")


def _product_page(
    request: Request,
    session: Session,
    principal: Principal,
    product_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    form_name: str = "",
    status_code: int = 200,
) -> Response:
    product = service.get_product(session, principal, product_id)
    return render(
        request,
        "manufacturing/product.html",
        {
            "product": product,
            "can_write": principal.can(WRITE, product.provider_id),
            "errors": errors or {},
            "form": form or {},
            "form_name": form_name,
            "active": "products",
        },
        status_code=status_code,
    )


@router.get("/mfg/products/{product_id}")
def product_page(
    product_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    return _product_page(request, session, principal, product_id)


def _spec_form(
    request: Request,
    session: Session,
    principal: Principal,
    product_id: uuid.UUID,
    form: dict[str, Any],
    form_name: str,
    model: type[BaseModel],
    action: Callable[[Any], Any],
    message: str,
) -> Response:
    return submit_form(
        request, session, model, form, action, done=message.format,
        location=f"/mfg/products/{product_id}#specifications",
        page_again=lambda outcome: _product_page(
            request, session, principal, product_id, errors=outcome.errors, form=form,
            form_name=form_name, status_code=outcome.status_code,
        ),
    )  # fmt: skip


@router.post("/mfg/products/{product_id}/specifications")
def add_specification(
    product_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    return _spec_form(
        request, session, principal, product_id, form, "spec-new", SpecificationCreate,
        lambda body: service.add_specification(session, principal, product_id, body),
        "Specification {0.test} added.",
    )  # fmt: skip


@router.post("/mfg/specifications/{spec_id}")
def update_specification(
    spec_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    product_id = _uuid(str(form.pop("product_id", ""))) or uuid.uuid4()
    return _spec_form(
        request, session, principal, product_id, form, f"spec-{spec_id}", SpecificationUpdate,
        lambda body: service.update_specification(session, principal, spec_id, body),
        "Specification {0.test} saved.",
    )  # fmt: skip


@router.post("/mfg/specifications/{spec_id}/delete")
def delete_specification(
    spec_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    product_id = _uuid(str(form.get("product_id", ""))) or uuid.uuid4()
    try:
        service.delete_specification(session, principal, spec_id)
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        return _product_page(
            request, session, principal, product_id, errors={"form": exc.message},
            form_name=f"spec-{spec_id}", status_code=exc.status_code,
        )  # fmt: skip
    flash(request, "Specification deleted.")
    return _redirect(f"/mfg/products/{product_id}#specifications")


# --- recipes -------------------------------------------------------------------------------------


@router.get("/mfg/recipes/{recipe_id}")
def recipe_page(
    recipe_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    recipe = service.get_recipe(session, principal, recipe_id)
    product = service.get_product(session, principal, recipe.product_id)
    return render(
        request,
        "manufacturing/recipe.html",
        {
            "recipe": recipe,
            "product": product,
            "can_write": principal.can(WRITE, product.provider_id),
            "active": "products",
        },
    )


def _recipe_rows(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int], dict[str, int]]:
    """The recipe as the editor sent it, blank rows left out, and each kept row's row on the
    form (``steps[k]`` of the body is row ``steps[n]`` of the editor)."""
    body: dict[str, Any] = {
        k: form.get(k, "") for k in ("plant_id", "batch_size", "description", "version")
    }
    maps: dict[str, dict[str, int]] = {"steps": {}, "bom": {}}
    fields = {
        "steps": ("operation", "equipment_class", "duration_hours", "yield_fraction"),
        "bom": ("component_product_id", "material_name", "quantity_per_batch", "unit"),
    }
    defaults = {"yield_fraction", "unit"}  # prefilled: a row with only these is blank
    for part, names in fields.items():
        rows: list[dict[str, Any]] = []
        for n in range(STEP_ROWS if part == "steps" else BOM_ROWS):
            row = {name: str(form.get(f"{part}-{n}-{name}", "")).strip() for name in names}
            if not any(v for k, v in row.items() if k not in defaults):
                continue
            maps[part][str(len(rows))] = n
            rows.append(blank_to_none(row))
        body[part] = rows
    for row in body["bom"]:
        row["material_name"] = row.get("material_name") or ""
    return body, maps["steps"], maps["bom"]


def _form_errors(
    errors: dict[str, str], steps: dict[str, int], bom: dict[str, int]
) -> dict[str, str]:
    """Errors keyed as the editor's rows: ``steps[1].x`` of the body → its row on the form."""
    shown = {}
    for key, message in errors.items():
        for part, rows in (("steps", steps), ("bom", bom)):
            if key.startswith(f"{part}["):
                index, _, rest = key[len(part) + 1 :].partition("]")
                key = f"{part}[{rows.get(index, index)}]{rest}"
        shown[key] = message
    return shown


def _validate_recipe(
    session: Session, model: type[RecipeInput], body: dict[str, Any], action: Callable[[Any], R]
) -> tuple[R | None, dict[str, str], int]:
    try:
        parsed = model.model_validate(blank_to_none(body, model))
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            loc = [str(p) for p in error["loc"]]
            if len(loc) >= 3 and loc[0] in ("steps", "bom"):
                key = f"{loc[0]}[{loc[1]}].{loc[2]}"
            else:
                key = loc[0] if loc else "form"
            errors.setdefault(key, str(error["msg"]).removeprefix("Value error, "))
        return None, errors, 422
    try:
        return action(parsed), {}, 200
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        return None, exc.field_errors or {"form": exc.message}, exc.status_code


def _recipe_editor(
    request: Request,
    session: Session,
    principal: Principal,
    product_id: uuid.UUID,
    *,
    recipe: RecipeRead | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    product = service.get_product(session, principal, product_id)
    plants = service.recipe_plants(session, principal, product_id)
    if form is None:
        form = {"plant_id": str(plants[0].id) if len(plants) == 1 else ""}
        if recipe is not None:
            form = {
                "plant_id": str(recipe.plant_id),
                "batch_size": f"{recipe.batch_size.normalize():f}",
                "description": recipe.description,
                "version": recipe.version,
            }
            for n, s in enumerate(recipe.steps):
                form |= {
                    f"steps-{n}-operation": s.operation,
                    f"steps-{n}-equipment_class": s.equipment_class,
                    f"steps-{n}-duration_hours": f"{s.duration_hours.normalize():f}",
                    f"steps-{n}-yield_fraction": f"{s.yield_fraction.normalize():f}",
                }
            for n, b in enumerate(recipe.bom):
                form |= {
                    f"bom-{n}-component_product_id": str(b.component_product_id or ""),
                    f"bom-{n}-material_name": "" if b.component_product_id else b.material_name,
                    f"bom-{n}-quantity_per_batch": f"{b.quantity_per_batch.normalize():f}",
                    f"bom-{n}-unit": b.unit.value,
                }
    classes = sorted(
        {
            u.equipment_class
            for p in plants
            for u in service.get_plant(session, principal, p.id).units
            if u.active
        }
    )
    return render(
        request,
        "manufacturing/recipe_form.html",
        {
            "product": product,
            "recipe": recipe,
            "plants": plants,
            "classes": classes,
            "components": [
                c
                for c in service.provider_products(session, principal, product.provider_id)
                if c[0] != product.id
            ],
            "units": [u.value for u in QuantityUnit],
            "step_rows": STEP_ROWS,
            "bom_rows": BOM_ROWS,
            "errors": errors or {},
            "form": form,
            "active": "products",
        },
        status_code=status_code,
    )


@router.get("/mfg/products/{product_id}/recipes/new")
def new_recipe_page(
    product_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    return _recipe_editor(request, session, principal, product_id)


@router.post("/mfg/products/{product_id}/recipes")
def create_recipe(
    product_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    body, steps, bom = _recipe_rows(form)
    body.pop("version", None)
    result, errors, code = _validate_recipe(
        session, RecipeInput, body,
        lambda data: service.create_recipe(session, principal, product_id, data),
    )  # fmt: skip
    if result is None:
        return _recipe_editor(
            request, session, principal, product_id, errors=_form_errors(errors, steps, bom),
            form=form, status_code=code,
        )  # fmt: skip
    flash(request, f"Recipe of {result.product_code} at {result.plant_name} created.")
    return _redirect(f"/mfg/recipes/{result.id}")


@router.get("/mfg/recipes/{recipe_id}/edit")
def edit_recipe_page(
    recipe_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    recipe = service.get_recipe(session, principal, recipe_id)
    return _recipe_editor(request, session, principal, recipe.product_id, recipe=recipe)


@router.post("/mfg/recipes/{recipe_id}")
def update_recipe(
    recipe_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    recipe = service.get_recipe(session, principal, recipe_id)
    body, steps, bom = _recipe_rows(form)
    result, errors, code = _validate_recipe(
        session, RecipeUpdate, body,
        lambda data: service.update_recipe(session, principal, recipe_id, data),
    )  # fmt: skip
    if result is None:
        return _recipe_editor(
            request, session, principal, recipe.product_id, recipe=recipe,
            errors=_form_errors(errors, steps, bom), form=form, status_code=code,
        )  # fmt: skip
    flash(request, f"Recipe of {result.product_code} at {result.plant_name} saved.")
    return _redirect(f"/mfg/recipes/{result.id}")


# --- orders --------------------------------------------------------------------------------------


def _order_rows(items: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (o.number, o.product_code, o.product_name, o.sponsor_name, o.plant_name,
         float(o.quantity), o.unit.value, o.due_date, o.release_date, o.priority,
         o.status.value, o.batch_count, o.updated_at)
        for o in items
    ]  # fmt: skip


@router.get("/mfg/orders")
def orders_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    status: str = "",
    product_id: str = "",
    sponsor_id: str = "",
    plant_id: str = "",
    due_before: str = "",
    due_after: str = "",
    format: str = "",
) -> Response:
    filters: dict[str, Any] = {
        "status": OrderStatus(status) if status in {s.value for s in OrderStatus} else None,
        "product_id": _uuid(product_id),
        "sponsor_id": _uuid(sponsor_id),
        "plant_id": _uuid(plant_id),
        "due_before": _day(due_before),
        "due_after": _day(due_after),
    }
    if format == "xlsx":
        everything: list[Any] = []
        for number in range(1, MAX_PAGE + 1):
            chunk = service.list_orders(
                session, principal, params=PageParams(page=number, page_size=100,
                                                      sort=params.sort), **filters
            )  # fmt: skip
            everything += chunk.items
            if number >= chunk.pages:
                break
        return xlsx_response("production-orders.xlsx", "Production orders", ORDER_HEADERS,
                             _order_rows(everything))  # fmt: skip
    page = service.list_orders(session, principal, params=params, **filters)
    products, plants = service.order_choices(session, principal)
    return render(
        request,
        "manufacturing/orders.html",
        {
            "page": page,
            "sort": params.sort or "",
            "statuses": [s.value for s in OrderStatus],
            "filter": {
                k: ("" if v is None else str(getattr(v, "value", v))) for k, v in filters.items()
            },
            "filtered": any(v is not None for v in filters.values()),
            "sponsors": service.product_sponsors(session, principal),
            "products": products,
            "plants": plants,
            "can_create": bool(products),
            "active": "orders",
        },
    )


def _work_orders(session: Session, principal: Principal) -> list[Any]:
    """The work orders the principal sees (an order may name one of its provider's)."""
    everything = PageParams(page=1, page_size=100)
    return list(
        contracts.list_work_orders(session, principal, status=None, params=everything).items
    )


def _order_form(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    products, plants = service.order_choices(session, principal)
    return render(
        request,
        "manufacturing/order_form.html",
        {
            "products": products,
            "plants": plants,
            "work_orders": _work_orders(session, principal),
            "errors": errors or {},
            "form": form or {"priority": "1"},
            "active": "orders",
        },
        status_code=status_code,
    )


@router.get("/mfg/orders/new")
def new_order_page(
    request: Request, session: DbSession, principal: PageUser, product_id: str = ""
) -> Response:
    return _order_form(
        request, session, principal, form={"priority": "1", "product_id": product_id}
    )


@router.post("/mfg/orders")
def create_order(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session, OrderCreate, form, lambda body: service.create_order(session, principal, body)
    )
    if outcome.result is None:
        return _order_form(
            request, session, principal, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    flash(request, f"Order {outcome.result.number} created. Plan its batches next.")
    return _redirect(f"/mfg/orders/{outcome.result.id}")


def _product_units(
    session: Session, principal: Principal, product_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The unit (kg, units) of each product the viewer may read; the others are left out."""
    units = {}
    for product_id in product_ids:
        try:
            units[product_id] = service.get_product(session, principal, product_id).unit.value
        except OpenCXOError:
            continue
    return units


def _order_page(
    request: Request,
    session: Session,
    principal: Principal,
    order_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    order: OrderRead = service.get_order(session, principal, order_id)
    can_write = principal.can(WRITE, order.provider_id)
    plants = service.order_choices(session, principal)[1] if can_write else []
    if form is None:
        form = _form_of(order)
    return render(
        request,
        "manufacturing/order.html",
        {
            "order": order,
            # the unit of each batch's product (an intermediate's may differ from the order's)
            "batch_units": _product_units(
                session, principal, {b.product_id for b in order.batches}
            ),
            "can_write": can_write,
            "is_open": order.status.value not in ("completed", "cancelled"),
            "plants": [p for p in plants if p.provider_id == order.provider_id],
            "work_orders": _work_orders(session, principal) if can_write else [],
            "errors": errors or {},
            "form": form,
            "active": "orders",
        },
        status_code=status_code,
    )


@router.get("/mfg/orders/{order_id}")
def order_page(
    order_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    return _order_page(request, session, principal, order_id)


@router.post("/mfg/orders/{order_id}")
def update_order(
    order_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session, OrderUpdate, form,
        lambda body: service.update_order(session, principal, order_id, body),
    )  # fmt: skip
    if outcome.result is None:
        return _order_page(
            request, session, principal, order_id, errors=outcome.errors, form=form,
            status_code=outcome.status_code,
        )  # fmt: skip
    flash(request, f"Order {outcome.result.number} saved.")
    return _redirect(f"/mfg/orders/{order_id}")


@router.post("/mfg/orders/{order_id}/cancel")
def cancel_order(
    order_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    outcome = run_form(
        session, OrderCancel, form,
        lambda body: service.cancel_order(session, principal, order_id, body),
    )  # fmt: skip
    if outcome.result is None:
        return _order_page(
            request, session, principal, order_id,
            errors={"cancel": outcome.errors.get("form") or "; ".join(outcome.errors.values())},
            status_code=outcome.status_code,
        )  # fmt: skip
    flash(request, f"Order {outcome.result.number} cancelled.")
    return _redirect(f"/mfg/orders/{order_id}")
