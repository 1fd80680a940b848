"""Web pages of process chemistry: stored routes (list, import, the route's figures, steps,
raw-material needs and COGS tornado, a revised route file, the hand-over to manufacturing), the
comparison of routes, and the material library (searched by name, CAS number or hazard).

Thin, like ``api.py``: every page reads and writes through
:mod:`opencxo.process_chemistry.stored`. Pages need ``chemistry:read``; changes
``chemistry:write`` (the service checks it: 403 page); a route or material of another
organisation is the 404 of an unknown id. Forms answer in place on an error (the input kept,
each message next to its field) and redirect with a flash message after a change. Each chart
has a title, axis units and the table behind it (shown, and as CSV / Excel downloads).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData as MultipartForm
from starlette.datastructures import UploadFile

from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.documents import parse_upload
from opencxo.core.errors import Invalid, NotFound, NotPermitted, OpenCXOError, check_version
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import PageParams
from opencxo.manufacturing import service as manufacturing
from opencxo.process_chemistry import service, stored
from opencxo.process_chemistry.records import (
    MAX_COMPARED,
    ChooseRoute,
    CompareRequest,
    MaterialCreate,
    MaterialRead,
    MaterialUpdate,
    RouteImport,
    RouteRead,
    RouteUpdate,
)
from opencxo.process_chemistry.schemas import (
    ComparisonReport,
    EvaluationReport,
    Hazard,
    InputEntry,
    SensitivityReport,
)
from opencxo.web.charts import plotly_figure as figure
from opencxo.web.deps import FormData, PageUser, blank_to_none
from opencxo.web.exports import csv_response, xlsx_response
from opencxo.web.pages import PLOTLY_JS
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]
READ = Permission.CHEMISTRY_READ
WRITE = Permission.CHEMISTRY_WRITE
FORMATS = ("csv", "xlsx")
ROUTE_TABLES = ("steps", "materials", "tornado")
COMPARE_TABLES = ("metrics", "pmi", "cogs", "atom-economy", "yield")
HAZARDS = [h.value for h in Hazard]
# GHS pictogram codes of the hazards (shown as the badge's title).
GHS = {h.value: f"GHS{n:02d}" for n, h in enumerate(Hazard, start=1)}
MAX_PRODUCTS = 500  # products offered in a picker (kg products of the organisation)
MAX_PRODUCTION_KG = Decimal("1000000000")
R = TypeVar("R")
Table = tuple[str, tuple[str, ...], list[tuple[Any, ...]]]


# --- helpers ------------------------------------------------------------------------------------


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(text).strip())
    except (ValueError, AttributeError):
        return None


def _reader(principal: Principal) -> None:
    """Every page of process chemistry needs ``chemistry:read`` in some organisation."""
    principal.require(READ)


def _writer(principal: Principal) -> None:
    """The forms that create (import, new material) need ``chemistry:write`` somewhere."""
    principal.require(READ)
    if not stored.readable(principal) & principal.organizations_with(WRITE):
        raise NotPermitted(f"your role does not grant {WRITE.value}")


def _number(value: Decimal | float | None) -> str:
    """A decimal as a person types it: no trailing zeros, no exponent."""
    if value is None:
        return ""
    number = Decimal(str(value)).normalize()
    return f"{number:f}"


def _writable_organizations(request: Request, principal: Principal) -> list[tuple[str, str]]:
    """(id, name) of the organisations where the principal keeps materials and routes."""
    return [
        (str(o.id), o.name)
        for o in getattr(request.state, "organizations", [])
        if principal.can(WRITE, o.id) and o.id in stored.readable(principal)
    ]


def _products(session: Session, principal: Principal) -> list[tuple[str, str]]:
    """(id, "CODE — name") of the products the principal's chemistry organisations make in kg:
    the products a route can make."""
    orgs = stored.readable(principal)
    if not orgs:
        return []
    found: list[tuple[str, str]] = []
    number = 1
    while len(found) < MAX_PRODUCTS:
        page = manufacturing.list_products(
            session, principal, params=PageParams(page=number, page_size=100, sort="code")
        )
        found += [
            (str(p.id), f"{p.code} — {p.name}")
            for p in page.items
            if p.provider_id in orgs and p.unit.value == "kg"
        ]
        if number >= page.pages:
            break
        number += 1
    return found


def _outcome(session: Session, action: Callable[[], R]) -> tuple[R | None, dict[str, str], int]:
    """Run a use case: its result, or the messages for the form and the status to answer.

    Not-found and not-permitted errors propagate (they answer with an error page)."""
    try:
        return action(), {}, 200
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        return None, exc.field_errors or {"form": exc.message}, exc.status_code


def _validated(
    model: type[BaseModel], data: dict[str, Any]
) -> tuple[BaseModel | None, dict[str, str]]:
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(field, str(error["msg"]).removeprefix("Value error, "))
        return None, errors


def _download(filename: str, text: str, media_type: str) -> Response:
    """A text file as a download; the name survives non-ASCII characters (RFC 6266 / 5987)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return Response(
        text,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )


def _table_response(name: str, fmt: str, table: Table) -> Response:
    title, headers, rows = table
    if fmt == "xlsx":
        return xlsx_response(f"{name}.xlsx", title, headers, rows)
    return csv_response(f"{name}.csv", headers, rows)


def _split_name(name: str, allowed: Sequence[str]) -> tuple[str, str]:
    table, _, fmt = name.rpartition(".")
    if fmt not in FORMATS or table not in allowed:
        raise NotFound(f"no such download: {name}")
    return table, fmt


def _slug(text: str) -> str:
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in slug.split("-") if part)[:60] or "route"


# --- the numbers of a route ---------------------------------------------------------------------


def amount_text(item: InputEntry) -> str:
    """The amount of an input as the route file states it."""
    if item.kg_per_kg is not None:
        return f"{_number(item.kg_per_kg)} kg/kg"
    if item.litres_per_kg is not None:
        return f"{_number(item.litres_per_kg)} L/kg"
    text = f"{_number(item.equivalents)} equiv"
    if item.coefficient != 1:
        text += f" (coefficient {_number(item.coefficient)})"
    return text


def steps_table(report: EvaluationReport) -> Table:
    headers = (
        "Step", "Name", "Yield (%)", "Atom economy (%)", "PMI of the step (kg/kg)",
        "Cumulative PMI (kg/kg)", f"Raw-material cost ({report.currency}/kg)",
        f"Conversion cost ({report.currency}/kg)",
    )  # fmt: skip
    rows = [
        (
            s.id,
            s.name,
            round(s.yield_fraction * 100, 4),
            None if s.atom_economy_percent is None else round(s.atom_economy_percent, 4),
            round(s.pmi_step, 6),
            round(s.pmi_cumulative, 6),
            float(s.raw_material_cost_per_kg),
            float(s.conversion_cost_per_kg),
        )
        for s in report.steps
    ]
    return "Steps", headers, rows


def materials_table(report: EvaluationReport) -> Table:
    cur = report.currency
    headers = (
        "Material", "Roles", "kg per kg of product", f"kg for {_number(report.production_kg)} kg",
        f"Cost per kg of product ({cur})", f"Cost for {_number(report.production_kg)} kg ({cur})",
    )  # fmt: skip
    rows = [
        (
            m.material,
            ", ".join(m.roles),
            round(m.kg_per_kg_product, 6),
            round(m.kg_for_production, 3),
            float(m.cost_per_kg_product),
            float(m.cost_for_production),
        )
        for m in report.materials
    ]
    return "Raw materials", headers, rows


def tornado_table(report: SensitivityReport) -> Table:
    cur = report.currency
    headers = (
        "Input", "Kind", "Base value", "Low value", "High value", f"COGS at low ({cur}/kg)",
        f"COGS at high ({cur}/kg)", f"Swing ({cur}/kg)", "PMI at low (kg/kg)",
        "PMI at high (kg/kg)",
    )  # fmt: skip
    rows = [
        (
            b.label,
            b.kind,
            round(b.base_value, 6),
            round(b.low_value, 6),
            round(b.high_value, 6),
            float(b.cogs_at_low),
            float(b.cogs_at_high),
            float(abs(b.cogs_at_high - b.cogs_at_low)),
            round(b.pmi_at_low, 6),
            round(b.pmi_at_high, 6),
        )
        for b in report.bars
    ]
    return "COGS sensitivity", headers, rows


def tornado_chart(report: SensitivityReport) -> dict[str, Any]:
    """COGS per kg with each input at its low and its high value, the widest bar on top.

    The chart shows the ``TORNADO_BARS`` widest bars with labels cut to ``TORNADO_LABEL``
    characters (the whole label is in the hover and every bar is in the table below it).
    """
    # The service sorts the widest first; Plotly draws upwards.
    bars = list(reversed(report.bars[:TORNADO_BARS]))
    base = float(report.base_cogs_per_kg)
    cur = report.currency
    labels = [_short(b.label, TORNADO_LABEL) for b in bars]
    traces = []
    for side, name, color in (("low", "Input at its low value", "#0d6efd"),
                              ("high", "Input at its high value", "#fd7e14")):  # fmt: skip
        values = [float(getattr(b, f"cogs_at_{side}")) for b in bars]
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": name,
                "y": labels,
                "x": [v - base for v in values],
                "base": base,
                "marker": {"color": color},
                "customdata": [
                    [getattr(b, f"{side}_value"), v, b.label]
                    for b, v in zip(bars, values, strict=True)
                ],
                "hovertemplate": "%{customdata[2]}<br>at %{customdata[0]:.4g}: "
                "%{customdata[1]:,.2f} " + cur + "/kg<extra></extra>",
            }
        )
    shown = "" if len(report.bars) <= TORNADO_BARS else f", the {TORNADO_BARS} largest"
    return figure(
        f"What moves the cost of goods: yields ±{report.yield_change:g}, prices "
        f"±{report.price_change:.0%} (base {base:,.2f} {cur}/kg{shown})",
        f"Cost of goods ({cur} per kg of product)",
        "",
        traces,
        barmode="overlay",
        height=max(360, 30 * len(bars) + 160),
        margin={"l": 20, "t": 80},
        yaxis={"automargin": True},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
    )


TORNADO_BARS = 15
TORNADO_LABEL = 48


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- the comparison -----------------------------------------------------------------------------


def _metric_text(metric: str, value: float | None, currency: str) -> str:
    if value is None:
        return "—"
    if metric in ("step_count", "longest_linear_sequence"):
        return f"{value:.0f}"
    if metric == "overall_yield":
        return f"{value * 100:.1f} %"
    if metric == "atom_economy_percent":
        return f"{value:.1f} %"
    if metric.endswith("_per_kg"):
        return f"{value:,.2f} {currency}/kg"
    return f"{value:,.2f}"


def compare_rows(report: ComparisonReport) -> list[dict[str, Any]]:
    """The comparison table: each metric in the service's order, the best value(s) marked."""
    rows = []
    for row in report.rows:
        unit = "%" if row.metric == "overall_yield" else row.unit
        rows.append(
            {
                "metric": row.metric,
                "label": row.label,
                "unit": "" if row.metric.endswith("_per_kg") else unit,
                "better": row.better,
                "cells": [
                    (_metric_text(row.metric, v, report.currency), i in row.best)
                    for i, v in enumerate(row.values)
                ],
            }
        )
    return rows


def compare_tables(report: ComparisonReport) -> dict[str, Table]:
    names = [r.name for r in report.routes]
    cur = report.currency
    metrics = (
        "Metrics",
        ("Metric", "Unit", "Better", *names, "Best"),
        [
            (
                row.label,
                "%" if row.metric == "overall_yield" else row.unit,
                row.better,
                *[
                    None if v is None else (v * 100 if row.metric == "overall_yield" else v)
                    for v in row.values
                ],
                ", ".join(names[i] for i in row.best),
            )
            for row in report.rows
        ],
    )
    r = report.routes
    return {
        "metrics": metrics,
        "pmi": (
            "PMI and E-factor",
            ("Route", "PMI (kg/kg)", "E-factor (kg/kg)", "E-factor without water (kg/kg)"),
            [
                (x.name, round(x.pmi, 6), round(x.e_factor, 6), round(x.e_factor_without_water, 6))
                for x in r
            ],
        ),
        "cogs": (
            "Cost of goods",
            ("Route", f"Raw materials ({cur}/kg)", f"Conversion ({cur}/kg)", f"COGS ({cur}/kg)"),
            [
                (
                    x.name,
                    float(x.raw_material_cost_per_kg),
                    float(x.conversion_cost_per_kg),
                    float(x.cogs_per_kg),
                )
                for x in r
            ],
        ),
        "atom-economy": (
            "Atom economy",
            ("Route", "Atom economy (%)", "Atom economy with recovery (%)"),
            [
                (
                    x.name,
                    _round(x.atom_economy_percent),
                    _round(x.atom_economy_with_recovery_percent),
                )
                for x in r
            ],
        ),
        "yield": (
            "Overall yield and LLS",
            ("Route", "Overall yield (%)", "Longest linear sequence (steps)", "Steps"),
            [
                (x.name, round(x.overall_yield * 100, 4), x.longest_linear_sequence, x.step_count)
                for x in r
            ],
        ),
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _wrapped(text: str, width: int = 22) -> str:
    """A route's name on lines of about ``width`` characters, for a horizontal axis label."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def compare_charts(report: ComparisonReport) -> dict[str, dict[str, Any]]:
    """The comparison's charts; route names wrapped under the bars, legends on top."""
    charts = _compare_charts(report)
    for chart in charts.values():
        layout = chart["layout"]
        layout["xaxis"] = {**layout["xaxis"], "tickangle": 0, "automargin": True}
        layout["legend"] = {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0}
        layout["margin"] = {**layout["margin"], "t": 90}
        layout["height"] = 420
    return charts


def _compare_charts(report: ComparisonReport) -> dict[str, dict[str, Any]]:
    names = [_wrapped(r.name) for r in report.routes]
    r = report.routes
    cur = report.currency

    def bars(name: str, values: Sequence[float | None], color: str, **extra: Any) -> dict[str, Any]:
        return {"type": "bar", "name": name, "x": names, "y": list(values),
                "marker": {"color": color}, **extra}  # fmt: skip

    return {
        "pmi": figure(
            "Process mass intensity and E-factor (lower is greener)",
            "Route",
            "kg per kg of product",
            [
                bars("PMI", [x.pmi for x in r], "#0d6efd"),
                bars("E-factor", [x.e_factor for x in r], "#6f42c1"),
                bars("E-factor without water", [x.e_factor_without_water for x in r], "#20c997"),
            ],
            barmode="group",
        ),
        "cogs": figure(
            f"Cost of goods per kg: raw materials and conversion ({cur})",
            "Route",
            f"{cur} per kg of product",
            [
                bars("Raw materials", [float(x.raw_material_cost_per_kg) for x in r], "#0d6efd"),
                bars("Conversion", [float(x.conversion_cost_per_kg) for x in r], "#fd7e14"),
            ],
            barmode="stack",
        ),
        "atom-economy": figure(
            "Atom economy of the net equation (higher is better)",
            "Route",
            "Atom economy (%)",
            [
                bars("Atom economy", [x.atom_economy_percent for x in r], "#198754"),
                bars(
                    "With recovered by-products",
                    [x.atom_economy_with_recovery_percent for x in r],
                    "#a3cfbb",
                ),
            ],
            barmode="group",
            yaxis={"range": [0, 100]},
        ),
        "yield": figure(
            "Overall yield and longest linear sequence",
            "Route",
            "Overall yield (%)",
            [
                bars(
                    "Overall yield (%)",
                    [x.overall_yield * 100 for x in r],
                    "#198754",
                    offsetgroup="yield",
                ),
                bars(
                    "Longest linear sequence (steps)",
                    [x.longest_linear_sequence for x in r],
                    "#6c757d",
                    offsetgroup="lls",
                    yaxis="y2",
                ),
            ],
            barmode="group",
            yaxis={"range": [0, 100]},
            yaxis2={
                "title": {"text": "Longest linear sequence (steps)"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "dtick": 1,
            },
            margin={"r": 80},
        ),
    }


def _compare_ids(ids: Sequence[str]) -> tuple[list[uuid.UUID], str | None]:
    """The routes to compare, each once, in the order given; or what is wrong with the pick."""
    chosen: list[uuid.UUID] = []
    for text in ids:
        value = _uuid(text)
        if value is None:
            return [], f"'{text}' is not a route id; pick the routes on the route list"
        if value not in chosen:
            chosen.append(value)
    if len(chosen) < 2 or len(chosen) > MAX_COMPARED:
        return chosen, (
            f"pick 2 to {MAX_COMPARED} routes to compare (you picked {len(chosen)}): tick them on "
            "the route list, then Compare"
        )
    return chosen, None


# --- routes: list and import --------------------------------------------------------------------


@router.get("/chem/routes")
def routes_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    product_id: str = "",
    q: str = "",
) -> Response:
    _reader(principal)
    product = _uuid(product_id)
    text = q.strip()[:200]
    page = stored.list_routes(session, principal, params, product_id=product, q=text or None)
    return render(
        request,
        "process_chemistry/routes.html",
        {
            "page": page,
            "sort": params.sort or "",
            "q": q,
            "product_id": str(product) if product else "",
            "products": _products(session, principal),
            "filtered": bool(product or text),
            "can_import": bool(_writable_organizations(request, principal)),
            "max_compared": MAX_COMPARED,
            "active": "chem-routes",
        },
    )


def _import_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "process_chemistry/import.html",
        {
            "form": form or {},
            "errors": errors or {},
            "file_fields": _file_fields(errors or {}),
            "products": _products(session, principal),
            "org_choices": _writable_organizations(request, principal),
            "active": "chem-routes",
        },
        status_code=status_code,
    )


@router.get("/chem/routes/import")
def import_page(
    request: Request, session: DbSession, principal: PageUser, product_id: str = ""
) -> Response:
    _writer(principal)
    return _import_page(request, session, principal, form={"product_id": product_id})


def _file_fields(errors: dict[str, str]) -> list[tuple[str, str]]:
    """The fields of the route file a refusal names: (field, message), listed under the file."""
    return [(k.removeprefix("file:"), v) for k, v in errors.items() if k.startswith("file:")]


def _file_errors(error: OpenCXOError) -> dict[str, str]:
    """The refusal as messages of the file field: the whole message next to it, then each
    field of the file it names."""
    choices = ("product_id", "organization_id")
    if error.field_errors and all(k in choices for k in error.field_errors):
        return dict(error.field_errors)  # the file is fine: the product or organisation is not
    errors = {"file": error.message}
    for key, message in error.field_errors.items():
        if key in choices:
            errors[key] = message
        elif key != "file":
            errors[f"file:{key.removeprefix('route.')}"] = message
    return errors


async def _file_of(data: MultipartForm) -> tuple[str, bytes] | None:
    """The form's file (name, bytes), None when none was chosen."""
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    return upload.filename, await upload.read()


@router.post("/chem/routes/import")
async def import_route(request: Request, session: DbSession, principal: PageUser) -> Response:
    data = await request.form()
    form = {k: v for k, v in data.items() if isinstance(v, str) and k != "csrf_token"}
    file = await _file_of(data)
    # Only the upload is read on the event loop; the use case blocks on the database and runs
    # in the thread pool (on the loop it would stall every request, the lock holder's too).
    return await run_in_threadpool(_import_route, request, session, principal, form, file)


def _import_route(
    request: Request,
    session: Session,
    principal: Principal,
    form: dict[str, str],
    file: tuple[str, bytes] | None,
) -> Response:
    filename = "the file"
    try:
        if file is None:
            message = "choose a route file (YAML or JSON, format opencxo-route/1)"
            raise Invalid(message, field_errors={"file": message})
        filename, content = file
        parsed = parse_upload(content, filename, expected="format, name, materials, steps")
        route = service.parse_route(parsed, what=filename)
        body, errors = _validated(RouteImport, {
            "route": route,
            "product_id": form.get("product_id") or None,
            "organization_id": form.get("organization_id") or None,
        })  # fmt: skip
        if body is None:
            message = next(iter(errors.values()))
            raise Invalid(message, field_errors=errors)
        assert isinstance(body, RouteImport)
        created = stored.import_route(session, principal, body)
    except OpenCXOError as error:
        if error.status_code in (401, 403, 404):
            raise
        session.rollback()
        return _import_page(
            request, session, principal, form=form, errors=_file_errors(error),
            status_code=error.status_code,
        )  # fmt: skip
    flash(
        request,
        f"Route {created.name} imported from {filename}: PMI {created.pmi:.2f} kg/kg, "
        f"COGS {created.cogs_per_kg:,.2f} {created.currency}/kg.",
    )
    return _redirect(f"/chem/routes/{created.id}")


# --- the route page -----------------------------------------------------------------------------


def _parameters(
    production_kg: str, yield_change: str, price_change: str
) -> tuple[dict[str, str], Decimal | None, float, float, dict[str, str]]:
    """The page's query parameters: values to show, the values to use, and errors."""
    values = {
        "production_kg": production_kg.strip(),
        "yield_change": yield_change.strip() or _number(service.DEFAULT_YIELD_CHANGE),
        "price_change": price_change.strip() or _number(service.DEFAULT_PRICE_CHANGE),
    }
    errors: dict[str, str] = {}
    quantity: Decimal | None = None
    if values["production_kg"]:
        try:
            quantity = Decimal(values["production_kg"])
            if not (quantity.is_finite() and 0 < quantity <= MAX_PRODUCTION_KG):
                raise InvalidOperation
        except InvalidOperation:
            errors["production_kg"] = "a quantity of product in kg, above 0 (e.g. 250)"
            quantity = None
    changes = {"yield_change": service.DEFAULT_YIELD_CHANGE,
               "price_change": service.DEFAULT_PRICE_CHANGE}  # fmt: skip
    limits = {
        "yield_change": (0.5, "an absolute change of each yield above 0 and at most 0.5 "
                              "(0.05 moves 85 % to 80 % and 90 %)"),
        "price_change": (0.99, "a relative change of each price above 0 and below 1 "
                               "(0.2 for ±20 %)"),
    }  # fmt: skip
    for name, (top, message) in limits.items():
        try:
            number = float(values[name])
            if not (math.isfinite(number) and 0 < number <= top):
                raise ValueError
            changes[name] = number
        except ValueError:
            errors[name] = message
    return values, quantity, changes["yield_change"], changes["price_change"], errors


def _plants(session: Session, principal: Principal, route: RouteRead) -> list[tuple[str, str]]:
    """The plants the route's product may be made at: (id, name)."""
    if route.product_id is None:
        return []
    try:
        plants = manufacturing.recipe_plants(session, principal, route.product_id)
    except (NotFound, NotPermitted):
        return []
    return [(str(p.id), p.name) for p in plants]


def _route_page(
    request: Request,
    session: Session,
    principal: Principal,
    route_id: uuid.UUID,
    *,
    production_kg: str = "",
    yield_change: str = "",
    price_change: str = "",
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    form_name: str = "",
    status_code: int = 200,
) -> Response:
    _reader(principal)
    route = stored.get_route(session, principal, route_id)
    values, quantity, yields, prices, query_errors = _parameters(
        production_kg, yield_change, price_change
    )
    report = stored.evaluation(session, principal, route_id, quantity)
    tornado = stored.sensitivity(
        session, principal, route_id, yield_change=yields, price_change=prices
    )
    steps = {s.id: s for s in route.spec.steps}
    can_write = principal.can(WRITE, route.organization_id)
    query = f"?production_kg={quote(_number(report.production_kg))}"
    sensitivity_query = f"?yield_change={yields:g}&price_change={prices:g}"
    return render(
        request,
        "process_chemistry/route.html",
        {
            "route": route,
            "report": report,
            "tornado": tornado,
            "tornado_chart": tornado_chart(tornado) if tornado.bars else None,
            "tornado_table": tornado_table(tornado),
            "materials_table": materials_table(report),
            "specs": steps,
            "amount_text": amount_text,
            "values": values,
            "production": _number(report.production_kg),
            "query_errors": query_errors,
            "needs_query": query,
            "sensitivity_query": sensitivity_query,
            "can_write": can_write,
            "can_choose": can_write
            and principal.can(Permission.MANUFACTURING_WRITE, route.organization_id),
            "plants": _plants(session, principal, route) if can_write else [],
            "products": _products(session, principal) if can_write else [],
            "errors": errors or {},
            "file_fields": _file_fields(errors or {}) if form_name == "file" else [],
            "form": form or {},
            "form_name": form_name,
            "plotly_js": PLOTLY_JS,
            "active": "chem-routes",
        },
        status_code=422 if query_errors and status_code == 200 else status_code,
    )


@router.get("/chem/routes/{route_id}")
def route_page(
    route_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PageUser,
    production_kg: str = "",
    yield_change: str = "",
    price_change: str = "",
) -> Response:
    return _route_page(
        request, session, principal, route_id, production_kg=production_kg,
        yield_change=yield_change, price_change=price_change,
    )  # fmt: skip


@router.get("/chem/routes/{route_id}/tables/{name}")
def route_table(
    route_id: uuid.UUID,
    name: str,
    session: DbSession,
    principal: PageUser,
    production_kg: Annotated[Decimal | None, Query(gt=0, le=MAX_PRODUCTION_KG)] = None,
    yield_change: Annotated[float, Query(gt=0, le=0.5)] = service.DEFAULT_YIELD_CHANGE,
    price_change: Annotated[float, Query(gt=0, lt=1)] = service.DEFAULT_PRICE_CHANGE,
) -> Response:
    """The table behind the route page's tables and chart, as CSV or Excel."""
    _reader(principal)
    table, fmt = _split_name(name, ROUTE_TABLES)
    route = stored.get_route(session, principal, route_id)
    file = f"opencxo-{_slug(route.name)}-{table}"
    if table == "tornado":
        report = stored.sensitivity(
            session, principal, route_id, yield_change=yield_change, price_change=price_change
        )
        return _table_response(file, fmt, tornado_table(report))
    evaluation = stored.evaluation(session, principal, route_id, production_kg)
    make = steps_table if table == "steps" else materials_table
    return _table_response(file, fmt, make(evaluation))


@router.get("/chem/routes/{route_id}/export.{fmt}")
def export_route(
    route_id: uuid.UUID, fmt: str, session: DbSession, principal: PageUser
) -> Response:
    """The route file with its materials from the library (YAML or JSON)."""
    _reader(principal)
    if fmt not in stored.EXPORT_FORMATS:
        raise NotFound(f"no such export: {fmt}")
    filename, text = stored.export_route(session, principal, route_id, fmt)
    return _download(filename, text, "application/json" if fmt == "json" else "application/yaml")


@router.post("/chem/routes/{route_id}/choose")
def choose_route(
    route_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    """Use the route for manufacturing: the product's recipe at the plant is created from it
    (or replaced)."""
    body, errors = _validated(ChooseRoute, blank_to_none(
        {"plant_id": form.get("plant_id", ""), "version": form.get("version", "")}
    ))  # fmt: skip
    status = 422
    chosen = None
    if body is not None:
        assert isinstance(body, ChooseRoute)
        chosen, errors, status = _outcome(
            session, lambda: stored.choose_route(session, principal, route_id, body)
        )
    if chosen is None:
        return _route_page(
            request, session, principal, route_id, errors=errors, form=form,
            form_name="choose", status_code=status,
        )  # fmt: skip
    recipe = chosen.recipe
    what = "replaced" if chosen.recipe_replaced else "created"
    flash(
        request,
        f"Route {chosen.route.name} is now used for {recipe.product_code} at {recipe.plant_name}: "
        f"its recipe there was {what} from the route (batch size "
        f"{_number(recipe.batch_size)} kg, {len(recipe.steps)} steps, "
        f"{len(recipe.bom)} raw materials).",
    )
    return _redirect(f"/chem/routes/{route_id}#manufacturing")


@router.post("/chem/routes/{route_id}/product")
def link_product(
    route_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    """Link the route to the manufacturing product it makes (or unlink it)."""
    product_text = str(form.get("product_id", "")).strip()
    product_id = _uuid(product_text)
    errors: dict[str, str] = {}
    status = 422
    result = None
    try:
        version = int(str(form.get("version", "")))
    except ValueError:
        version = 0
    if product_text and product_id is None:
        errors = {"product_id": "choose a product from the list"}
    elif version < 1:
        errors = {"form": "the form lacks the route's version; reload the page"}
    else:
        route = stored.route_file(session, principal, route_id)
        body = RouteUpdate(version=version, route=route, product_id=product_id)
        result, errors, status = _outcome(
            session, lambda: stored.update_route(session, principal, route_id, body)
        )
    if result is None:
        return _route_page(
            request, session, principal, route_id, errors=errors, form=form,
            form_name="product", status_code=status,
        )  # fmt: skip
    if result.product_id is None:
        flash(request, f"Route {result.name} no longer names a product.")
    else:
        flash(request, f"Route {result.name} makes {result.product_code} — {result.product_name}.")
    return _redirect(f"/chem/routes/{route_id}#manufacturing")


# --- replace the route file ---------------------------------------------------------------------


def _replace_errors(error: OpenCXOError) -> dict[str, str]:
    """A refusal of the revised file as the route page shows it: a stale version above the form,
    the file's faults next to the file field (each field it names listed under it)."""
    if error.status_code == 409 and not error.field_errors:
        return {"form": f"{error.message}. The page below shows the route as it is now."}
    errors = _file_errors(error)
    for key in ("product_id", "organization_id"):  # the route keeps its product: not the file's
        if key in errors:
            errors["form"] = errors.pop(key)
    return errors


def _figures_changed(before: RouteRead, after: RouteRead) -> str:
    """PMI and COGS before → after, e.g. ``PMI 13.15 → 12.28 kg/kg, COGS 26.92 → 25.27 USD/kg``."""
    if before.currency == after.currency:
        cogs = f"{before.cogs_per_kg:,.2f} → {after.cogs_per_kg:,.2f} {after.currency}/kg"
    else:
        cogs = (
            f"{before.cogs_per_kg:,.2f} {before.currency}/kg → "
            f"{after.cogs_per_kg:,.2f} {after.currency}/kg"
        )
    return f"PMI {before.pmi:.2f} → {after.pmi:.2f} kg/kg, COGS {cogs}"


@router.post("/chem/routes/{route_id}/file")
async def replace_route_file(
    route_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    """Replace the route file with a revised one, under the rules of an import (``PUT
    /chem/routes/{id}``); the route keeps its product. Nothing changes on a refusal."""
    data = await request.form()
    version = _version({k: v for k, v in data.items() if isinstance(v, str)})
    file = await _file_of(data)
    # the use case in the thread pool, as for an import
    return await run_in_threadpool(
        _replace_route_file, route_id, request, session, principal, version, file
    )


def _replace_route_file(
    route_id: uuid.UUID,
    request: Request,
    session: Session,
    principal: Principal,
    version: int | None,
    file: tuple[str, bytes] | None,
) -> Response:
    _reader(principal)
    route = stored.get_route(session, principal, route_id)
    principal.require(WRITE, route.organization_id)
    filename = "the file"
    updated: RouteRead | None = None
    errors: dict[str, str] = {}
    status = 422
    if version is None or version < 1:
        errors = {"form": "the form lacks the route's version; reload the page"}
    else:
        try:
            # A stale page first: its file was edited from an older version of the route.
            check_version("route", route.version, version)
            if file is None:
                message = "choose the revised route file (YAML or JSON, format opencxo-route/1)"
                raise Invalid(message, field_errors={"file": message})
            filename, content = file
            parsed = parse_upload(content, filename, expected="format, name, materials, steps")
            body = RouteUpdate(
                version=version,
                route=service.parse_route(parsed, what=filename),
                product_id=route.product_id,
            )
            updated = stored.update_route(session, principal, route_id, body)
        except OpenCXOError as error:
            if error.status_code in (401, 403, 404):
                raise
            session.rollback()
            errors, status = _replace_errors(error), error.status_code
    if updated is None:
        return _route_page(
            request, session, principal, route_id, errors=errors, form_name="file",
            status_code=status,
        )  # fmt: skip
    said = f"Route {updated.name} updated from {filename}: {_figures_changed(route, updated)}."
    if updated.chosen:
        said += " Its recipe stays as it was until you use the route for manufacturing again."
    flash(request, said)
    return _redirect(f"/chem/routes/{route_id}")


# --- delete, with a confirmation page -----------------------------------------------------------


def _confirm_page(
    request: Request,
    *,
    kind: str,
    name: str,
    action: str,
    back: str,
    version: int,
    consequences: list[str],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "process_chemistry/confirm_delete.html",
        {
            "kind": kind,
            "name": name,
            "action": action,
            "back": back,
            "version": version,
            "consequences": consequences,
            "error": error,
            "active": "chem-materials" if kind == "material" else "chem-routes",
        },
        status_code=status_code,
    )


def _route_consequences(route: RouteRead) -> list[str]:
    said = [
        f"The route file and its evaluation are deleted; its {len(route.materials)} materials "
        "stay in your library."
    ]
    if route.chosen:
        said.append(
            "It is the chosen route of its product: the manufacturing recipe made from it stays."
        )
    return said


@router.get("/chem/routes/{route_id}/delete")
def delete_route_page(
    route_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    _reader(principal)
    route = stored.get_route(session, principal, route_id)
    principal.require(WRITE, route.organization_id)
    return _confirm_page(
        request, kind="route", name=route.name, action=f"/chem/routes/{route_id}/delete",
        back=f"/chem/routes/{route_id}", version=route.version,
        consequences=_route_consequences(route),
    )  # fmt: skip


def _version(form: dict[str, Any]) -> int | None:
    try:
        return int(str(form.get("version", "")))
    except ValueError:
        return None


@router.post("/chem/routes/{route_id}/delete")
def delete_route(
    route_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    route = stored.get_route(session, principal, route_id)
    _, errors, status = _outcome(
        session,
        lambda: stored.delete_route(session, principal, route_id, version=_version(form)),
    )
    if errors:
        current = stored.get_route(session, principal, route_id)
        return _confirm_page(
            request, kind="route", name=current.name, action=f"/chem/routes/{route_id}/delete",
            back=f"/chem/routes/{route_id}", version=current.version,
            consequences=_route_consequences(current), error="; ".join(errors.values()),
            status_code=status,
        )  # fmt: skip
    flash(request, f"Route {route.name} deleted.")
    return _redirect("/chem/routes")


# --- compare ------------------------------------------------------------------------------------


@router.get("/chem/compare")
def compare_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    ids: Annotated[list[str] | None, Query()] = None,
) -> Response:
    _reader(principal)
    chosen, problem = _compare_ids(ids or [])
    report: ComparisonReport | None = None
    status_code = 200 if not ids else 422
    if problem is None:
        try:
            report = stored.compare(session, principal, CompareRequest(route_ids=chosen))
            status_code = 200
        except Invalid as error:
            problem = error.message
            status_code = 422
    depictions: list[str | None] = []
    if report is not None:
        for r in report.routes:
            final = next((s for s in r.steps if s.id == r.final_step), None)
            depictions.append(final.product_smiles if final else None)
    query = "?" + "&".join(f"ids={i}" for i in chosen)
    return render(
        request,
        "process_chemistry/compare.html",
        {
            "report": report,
            "ids": [str(i) for i in chosen],
            "problem": problem if ids else None,
            "rows": compare_rows(report) if report else [],
            "tables": compare_tables(report) if report else {},
            "charts": compare_charts(report) if report else {},
            "depictions": depictions,
            "query": query,
            "plotly_js": PLOTLY_JS,
            "active": "chem-routes",
        },
        status_code=status_code,
    )


@router.get("/chem/compare/tables/{name}")
def compare_table(
    name: str,
    session: DbSession,
    principal: PageUser,
    ids: Annotated[list[str] | None, Query()] = None,
) -> Response:
    _reader(principal)
    table, fmt = _split_name(name, COMPARE_TABLES)
    chosen, problem = _compare_ids(ids or [])
    if problem is not None:
        raise Invalid(problem)
    report = stored.compare(session, principal, CompareRequest(route_ids=chosen))
    return _table_response(f"opencxo-route-comparison-{table}", fmt, compare_tables(report)[table])


# --- depictions ---------------------------------------------------------------------------------


@router.get("/chem/depict.svg")
def depict(
    principal: PageUser,
    smiles: Annotated[str, Query(min_length=1, max_length=4000)],
    width: Annotated[int, Query(ge=50, le=2000)] = 260,
    height: Annotated[int, Query(ge=50, le=2000)] = 180,
) -> Response:
    """An RDKit drawing of a molecule or reaction SMILES (422 page for one that cannot be read).

    The same SMILES always draws the same picture: the browser keeps it for a day."""
    svg = stored.depiction(principal, smiles, width_px=width, height_px=height)
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=86400"},
    )


# --- materials ----------------------------------------------------------------------------------


@router.get("/chem/materials")
def materials_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    params: Pages,
    q: str = "",
    hazard: str = "",
) -> Response:
    _reader(principal)
    text = q.strip()[:200]
    # An unknown hazard filters nothing, like an unknown product on the route list.
    chosen = Hazard(hazard) if hazard in HAZARDS else None
    page = stored.list_materials(session, principal, params, q=text or None, hazard=chosen)
    return render(
        request,
        "process_chemistry/materials.html",
        {
            "page": page,
            "sort": params.sort or "",
            "q": q,
            "hazard": chosen.value if chosen else "",
            "hazards": [(h, f"{h} ({GHS[h]})") for h in HAZARDS],
            "filtered": bool(text or chosen),
            "can_create": bool(_writable_organizations(request, principal)),
            "ghs": GHS,
            "active": "chem-materials",
        },
    )


def _material_form_values(material: MaterialRead) -> dict[str, Any]:
    return {
        "name": material.name,
        "smiles": material.smiles or "",
        "cas": material.cas or "",
        "price_per_kg": _number(material.price_per_kg),
        "currency": material.currency,
        "density_kg_per_l": _number(material.density_kg_per_l),
        "hazards": [h.value for h in material.hazards],
        "notes": material.notes,
        "version": material.version,
    }


def _material_form(
    request: Request,
    principal: Principal,
    *,
    material: MaterialRead | None = None,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    if form is None:
        form = _material_form_values(material) if material else {"currency": "USD", "hazards": []}
    return render(
        request,
        "process_chemistry/material_form.html",
        {
            "material": material,
            "form": form,
            "errors": errors or {},
            "hazards": HAZARDS,
            "ghs": GHS,
            "org_choices": _writable_organizations(request, principal) if not material else [],
            "can_write": material is None or principal.can(WRITE, material.organization_id),
            "active": "chem-materials",
        },
        status_code=status_code,
    )


def _material_data(form: dict[str, Any]) -> dict[str, Any]:
    """The material form as a body: blank means none, hazards a list, notes kept as typed."""
    fields = ("name", "smiles", "cas", "price_per_kg", "currency", "density_kg_per_l")
    data: dict[str, Any] = blank_to_none({k: str(form.get(k, "")).strip() for k in fields})
    hazards = form.get("hazards", [])
    data["hazards"] = [hazards] if isinstance(hazards, str) else list(hazards)
    data["hazards"] = [h for h in data["hazards"] if h]
    data["notes"] = str(form.get("notes", ""))
    return data


def _required(data: dict[str, Any]) -> dict[str, str]:
    """The fields a material cannot be without, each with what to write."""
    messages = {
        "name": "a material needs a name",
        "price_per_kg": "the price per kg (0 for a material you do not pay for)",
        "currency": "the ISO 4217 code of the price, e.g. USD",
    }
    return {k: m for k, m in messages.items() if data.get(k) is None}


def _form_kept(form: dict[str, Any]) -> dict[str, Any]:
    hazards = form.get("hazards", [])
    return {**form, "hazards": [hazards] if isinstance(hazards, str) else list(hazards)}


@router.get("/chem/materials/new")
def new_material_page(request: Request, principal: PageUser) -> Response:
    _writer(principal)
    return _material_form(request, principal)


@router.post("/chem/materials")
def create_material(
    request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    data = _material_data(form)
    data["organization_id"] = str(form.get("organization_id", "")).strip() or None
    errors = _required(data)
    body, more = _validated(MaterialCreate, {k: v for k, v in data.items() if v is not None})
    errors = {**more, **errors}
    status, created = 422, None
    if body is not None and not errors:
        assert isinstance(body, MaterialCreate)
        created, errors, status = _outcome(
            session, lambda: stored.create_material(session, principal, body)
        )
    if created is None:
        return _material_form(
            request, principal, form=_form_kept(form), errors=errors, status_code=status
        )
    flash(request, f"Material {created.name} added to your library.")
    return _redirect(f"/chem/materials?q={quote(created.name)}")


@router.get("/chem/materials/{material_id}")
def material_page(
    material_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    _reader(principal)
    material = stored.get_material(session, principal, material_id)
    return _material_form(request, principal, material=material)


@router.post("/chem/materials/{material_id}")
def update_material(
    material_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    material = stored.get_material(session, principal, material_id)
    data = _material_data(form)
    data["version"] = str(form.get("version", "")).strip() or None
    errors = _required(data)
    body, more = _validated(MaterialUpdate, data)
    errors = {**more, **errors}
    status, updated = 422, None
    if body is not None and not errors:
        assert isinstance(body, MaterialUpdate)
        updated, errors, status = _outcome(
            session, lambda: stored.update_material(session, principal, material_id, body)
        )
    if updated is None:
        if status == 409 and "form" in errors:
            errors["form"] += " Your input is kept below: check it against the current values."
        current = (
            stored.get_material(session, principal, material_id) if status == 409 else material
        )
        return _material_form(
            request, principal, material=current, form=_form_kept(form), errors=errors,
            status_code=status,
        )  # fmt: skip
    said = f"Material {updated.name} saved."
    if updated.used_by:
        said += f" The routes using it were evaluated again: {', '.join(updated.used_by)}."
    flash(request, said)
    return _redirect(f"/chem/materials/{material_id}")


def _material_consequences(material: MaterialRead) -> list[str]:
    if material.used_by:
        return [
            f"It is used by {len(material.used_by)} route(s): {', '.join(material.used_by)}. "
            "A material a route uses cannot be deleted."
        ]
    return ["No route uses it; routes imported later that charge it will need it in their file."]


@router.get("/chem/materials/{material_id}/delete")
def delete_material_page(
    material_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    _reader(principal)
    material = stored.get_material(session, principal, material_id)
    principal.require(WRITE, material.organization_id)
    return _confirm_page(
        request, kind="material", name=material.name,
        action=f"/chem/materials/{material_id}/delete", back=f"/chem/materials/{material_id}",
        version=material.version, consequences=_material_consequences(material),
    )  # fmt: skip


@router.post("/chem/materials/{material_id}/delete")
def delete_material(
    material_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PageUser,
    form: FormData,
) -> Response:
    material = stored.get_material(session, principal, material_id)
    _, errors, status = _outcome(
        session,
        lambda: stored.delete_material(session, principal, material_id, version=_version(form)),
    )
    if errors:
        current = stored.get_material(session, principal, material_id)
        return _confirm_page(
            request, kind="material", name=current.name,
            action=f"/chem/materials/{material_id}/delete",
            back=f"/chem/materials/{material_id}", version=current.version,
            consequences=_material_consequences(current), error="; ".join(errors.values()),
            status_code=status,
        )  # fmt: skip
    flash(request, f"Material {material.name} deleted from your library.")
    return _redirect("/chem/materials")
