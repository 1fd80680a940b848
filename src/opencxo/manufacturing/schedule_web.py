"""Web pages of manufacturing planning and schedules: plan an order, the plant's schedule
(Gantt, KPIs, late orders, operations, solve form, history), a solve's live progress with a
stop button, and the sponsor's fragment of its order's slots — thin: same services as the API.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from opencxo.core.errors import Invalid, OpenCXOError
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.core.pagination import PageParams
from opencxo.manufacturing import planning, scheduling, tasks
from opencxo.manufacturing import web as mfg_web
from opencxo.manufacturing.schedule_schemas import (
    BreakdownRequest,
    ScheduledOperationRead,
    ScheduleRead,
    ScheduleRequest,
)
from opencxo.web.deps import FormData, PageUser, run_form
from opencxo.web.exports import xlsx_response
from opencxo.web.pages import PLOTLY_JS
from opencxo.web.rendering import flash, render

router = APIRouter(dependencies=[CsrfProtected])
Pages = Annotated[PageParams, Query()]

PALETTE = (
    "#0d6efd", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#d63384", "#0dcaf0", "#6c757d",
    "#ffc107", "#dc3545",
)  # fmt: skip
OPERATION_HEADERS = (
    "Unit", "Batch", "Product", "Order", "Sponsor", "Step", "Operation", "Starts (UTC)",
    "Ends (UTC)", "Hours", "Changeover before (h)", "Order late",
)  # fmt: skip


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


def gantt_figure(operations: list[ScheduledOperationRead], title: str) -> dict[str, Any]:
    """Plotly bars per unit (y) over UTC time (x), one trace per product, changeovers as grey
    bars before the operations that have them, operations of late orders outlined in red."""
    units = sorted({o.unit_code for o in operations}, reverse=True)
    traces: list[dict[str, Any]] = []
    changeovers = [o for o in operations if o.changeover_hours > 0]
    if changeovers:
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": "Changeover / cleaning",
                "y": [o.unit_code for o in changeovers],
                "base": [
                    (o.starts_at - timedelta(hours=float(o.changeover_hours))).isoformat()
                    for o in changeovers
                ],
                "x": [_ms(timedelta(hours=float(o.changeover_hours))) for o in changeovers],
                "marker": {"color": "#adb5bd"},
                "customdata": [[f"{o.changeover_hours:g}", o.batch_number] for o in changeovers],
                "hovertemplate": "Changeover %{customdata[0]} h before %{customdata[1]}"
                "<extra></extra>",
            }
        )
    products = sorted({(o.product_code, o.product_name) for o in operations})
    for i, (code, name) in enumerate(products):
        ops = [o for o in operations if o.product_code == code]
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": f"{code} {name}",
                "y": [o.unit_code for o in ops],
                "base": [o.starts_at.isoformat() for o in ops],
                "x": [_ms(o.ends_at - o.starts_at) for o in ops],
                "marker": {
                    "color": PALETTE[i % len(PALETTE)],
                    "line": {
                        "color": ["#dc3545" if o.late else "rgba(0,0,0,0)" for o in ops],
                        "width": [3 if o.late else 0 for o in ops],
                    },
                },
                "customdata": [
                    [
                        o.batch_number,
                        f"{o.step_sequence} {o.operation}",
                        o.order_number + (" (LATE)" if o.late else ""),
                        o.sponsor_name,
                        o.starts_at.strftime("%Y-%m-%d %H:%M"),
                        o.ends_at.strftime("%Y-%m-%d %H:%M"),
                    ]
                    for o in ops
                ],
                "hovertemplate": "<b>%{customdata[0]}</b> step %{customdata[1]}<br>"
                "order %{customdata[2]} · %{customdata[3]}<br>"
                "%{customdata[4]} → %{customdata[5]} UTC<extra></extra>",
            }
        )
    return {
        "data": traces,
        "layout": {
            "title": {"text": title},
            "barmode": "overlay",
            "height": 160 + 34 * max(1, len(units)),
            "margin": {"l": 80, "r": 20, "t": 50, "b": 50},
            "xaxis": {"type": "date", "title": {"text": "Time (UTC)"}},
            "yaxis": {
                "title": {"text": "Equipment unit"},
                "categoryorder": "array",
                "categoryarray": units,
            },
            "legend": {"orientation": "h", "y": -0.25},
        },
    }


_PHASE_UNITS = {
    "weighted_tardiness": ("priority × h", "Weighted tardiness<br>(priority × hours)"),
    "makespan": ("h", "Makespan<br>(hours)"),
}


def progress_figure(schedule: ScheduleRead) -> dict[str, Any]:
    """Each phase's improving objective and its proved bound over the solve, as steps, one
    panel a phase (weighted tardiness above, makespan below, one time axis). A phase's lines
    run on until the next phase starts, the last one's to the end of a finished solve, so a
    plateau shows as one."""
    phases = [p for p in _PHASE_UNITS if any(i.phase == p for i in schedule.improvements)]
    end = schedule.wall_time_s if schedule.finished else None
    traces = []
    layout: dict[str, Any] = {
        "title": {"text": "Improving objective and proved bound"},
        "height": 200 + 140 * len(phases),
        "margin": {"l": 80, "r": 20, "t": 40, "b": 45},
        # the time axis under the lowest panel
        "xaxis": {
            "title": {"text": "Seconds since the solve started"},
            "anchor": "y" if len(phases) < 2 else f"y{len(phases)}",
        },
        "legend": {"orientation": "h", "y": -0.2},
    }
    for index, phase in enumerate(phases):
        items = [i for i in schedule.improvements if i.phase == phase]
        until = (
            min(i.wall_time_s for i in schedule.improvements if i.phase == phases[index + 1])
            if index + 1 < len(phases)
            else end
        )
        x = [i.wall_time_s for i in items]
        objective = [i.objective for i in items]
        bound = [i.bound for i in items]
        if until is not None and until > x[-1]:
            x, objective, bound = [*x, until], [*objective, objective[-1]], [*bound, bound[-1]]
        axis = "y" if index == 0 else f"y{index + 1}"
        unit, title = _PHASE_UNITS[phase]
        label = phase.replace("_", " ")
        traces.append(
            {
                "type": "scatter", "mode": "lines+markers", "line": {"shape": "hv"},
                "name": f"{label} ({unit})", "x": x, "y": objective, "yaxis": axis,
            }
        )  # fmt: skip
        traces.append(
            {
                "type": "scatter", "mode": "lines", "line": {"shape": "hv", "dash": "dot"},
                "name": f"{label}: proved bound", "x": x, "y": bound, "yaxis": axis,
            }
        )  # fmt: skip
        # panels top to bottom in phase order, a small gap between them
        share = 1 / len(phases)
        top = 1 - index * share
        domain = [max(0.0, top - share + (0.08 if index + 1 < len(phases) else 0)), top]
        layout["yaxis" if index == 0 else f"yaxis{index + 1}"] = {
            "title": {"text": title}, "domain": [round(d, 3) for d in domain], "anchor": "x",
        }  # fmt: skip
    return {"data": traces, "layout": layout}


def _operation_rows(operations: list[ScheduledOperationRead]) -> list[list[Any]]:
    return [
        [
            o.unit_code,
            o.batch_number,
            o.product_code,
            o.order_number,
            o.sponsor_name,
            o.step_sequence,
            o.operation,
            o.starts_at,
            o.ends_at,
            round((o.ends_at - o.starts_at).total_seconds() / 3600, 2),
            float(o.changeover_hours),  # a number cell, not the Decimal's text
            "late" if o.late else "",
        ]
        for o in operations
    ]


# --- planning --------------------------------------------------------------------------------


@router.post("/mfg/orders/{order_id}/plan")
def plan_order(
    order_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    raw = str(form.get("version", ""))
    try:
        # [0-9] only: str.isdigit() accepts "²", which int() refuses (a 500)
        if not re.fullmatch(r"[0-9]{1,9}", raw):
            raise Invalid("the form lacks the order's version; reload the page and plan again")
        # The version of the order page the planner looked at: planning from a stale page
        # (the quantity changed since, another plan) is refused.
        batches = planning.plan_order(session, principal, order_id, version=int(raw))
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        flash(request, exc.message, "danger")
    else:
        flash(
            request,
            f"Planned: the order has {len(batches)} batches "
            f"({', '.join(b.batch_number for b in batches[:6])}"
            f"{' …' if len(batches) > 6 else ''}). Schedule the plant next.",
        )
    return RedirectResponse(f"/mfg/orders/{order_id}", status_code=303)


# --- the plant's schedule ------------------------------------------------------------------------


def _plant_page(
    request: Request,
    session: DbSession,
    principal: PageUser,
    plant_id: uuid.UUID,
    params: PageParams,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    plant = scheduling.plant_summary(session, principal, plant_id)
    current = scheduling.current_schedule(session, principal, plant_id)
    operations = scheduling.schedule_operations(session, principal, current.id) if current else []
    history = scheduling.list_schedules(session, principal, plant_id, params=params)
    return render(
        request,
        "manufacturing/schedule.html",
        {
            "plant": plant,
            "schedule": current,
            "operations": operations,
            "gantt_chart": gantt_figure(operations, f"{plant.name}: schedule by unit")
            if operations
            else None,
            "history": history,
            "sort": params.sort or "",
            "errors": errors or {},
            "form": form or {},
            "defaults": ScheduleRequest(),
            "plotly_js": PLOTLY_JS,
            "active": "plants",
        },
        status_code=status_code,
    )


@router.get("/mfg/plants/{plant_id}/schedule")
def plant_schedule_page(
    plant_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, params: Pages
) -> Response:
    return _plant_page(request, session, principal, plant_id, params)


@router.get("/mfg/plants/{plant_id}/schedule.xlsx")
def plant_schedule_xlsx(plant_id: uuid.UUID, session: DbSession, principal: PageUser) -> Response:
    plant = scheduling.plant_summary(session, principal, plant_id)
    current = scheduling.current_schedule(session, principal, plant_id)
    operations = scheduling.schedule_operations(session, principal, current.id) if current else []
    return xlsx_response(
        f"schedule-{plant.name.replace(' ', '-').lower()}.xlsx",
        "Schedule",
        OPERATION_HEADERS,
        _operation_rows(operations),
    )


@router.post("/mfg/plants/{plant_id}/schedules")
def request_schedule(
    plant_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    data = {**form, "warm_start": form.get("warm_start") in ("on", "true", "1", True)}
    outcome = run_form(
        session,
        ScheduleRequest,
        data,
        lambda body: tasks.start_schedule(session, principal, plant_id, body),
    )
    if outcome.result is None:
        return _plant_page(
            request,
            session,
            principal,
            plant_id,
            PageParams(),
            errors=outcome.errors,
            form=form,
            status_code=outcome.status_code,
        )
    flash(request, "Solve queued: it runs in the background; this page shows its progress.")
    return RedirectResponse(f"/mfg/schedules/{outcome.result.id}", status_code=303)


@router.post("/mfg/units/{unit_id}/breakdown")
def record_breakdown(
    unit_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser, form: FormData
) -> Response:
    data = dict(form)
    plant_id = data.pop("plant_id", None)
    until = str(data.get("until") or "")
    if until and "+" not in until[10:] and not until.endswith("Z"):
        data["until"] = f"{until}+00:00"  # the form's datetime-local field is UTC
    outcome = run_form(
        session,
        BreakdownRequest,
        data,
        lambda body: tasks.start_breakdown_reschedule(session, principal, unit_id, body),
    )
    if outcome.result is None:
        try:
            plant = uuid.UUID(str(plant_id))
        except ValueError:
            flash(request, "; ".join(f"{k}: {v}" for k, v in outcome.errors.items()), "danger")
            return RedirectResponse("/mfg/plants", status_code=303)
        # The plant page again, the form open with what was typed and what to fix.
        return mfg_web.plant_form_errors(
            request, session, principal, plant, form=dict(form),
            form_name=f"breakdown-{unit_id}", errors=outcome.errors,
            status_code=outcome.status_code,
        )  # fmt: skip
    flash(request, "Breakdown recorded; the plant is being re-scheduled around it.")
    return RedirectResponse(f"/mfg/schedules/{outcome.result.id}", status_code=303)


# --- one solve ----------------------------------------------------------------------------------


def _run_context(session: DbSession, principal: PageUser, schedule: ScheduleRead) -> dict[str, Any]:
    plant = scheduling.plant_summary(session, principal, schedule.plant_id)
    if schedule.finished:
        fraction = 1.0  # a solve that proved its optimum early is done, not 46 % done
    else:
        fraction = (
            min(1.0, schedule.elapsed_s / schedule.time_limit_s) if schedule.time_limit_s else 0
        )
    return {
        "schedule": schedule,
        "plant": plant,
        "percent": round(100 * fraction),
        "progress_chart": progress_figure(schedule) if schedule.improvements else None,
        "active": "plants",
        "plotly_js": PLOTLY_JS,
    }


@router.get("/mfg/schedules/{schedule_id}")
def schedule_page(
    schedule_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    schedule = scheduling.get_schedule(session, principal, schedule_id)
    operations = (
        scheduling.schedule_operations(session, principal, schedule_id)
        if schedule.operation_count
        else []
    )
    context = _run_context(session, principal, schedule)
    context["operations"] = operations
    context["gantt_chart"] = (
        gantt_figure(operations, f"Solve of {schedule.created_at:%Y-%m-%d %H:%M} UTC by unit")
        if operations
        else None
    )
    return render(request, "manufacturing/schedule_run.html", context)


@router.get("/mfg/schedules/{schedule_id}/progress")
def schedule_progress(
    schedule_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    """The progress panel alone (HTMX polls it every second while the solve runs); once the
    solve is over an HTMX request gets ``HX-Refresh`` so the page shows the result."""
    schedule = scheduling.get_schedule(session, principal, schedule_id)
    response = render(
        request, "manufacturing/_schedule_progress.html", _run_context(session, principal, schedule)
    )
    if schedule.finished and request.headers.get("HX-Request"):
        response.headers["HX-Refresh"] = "true"
    return response


@router.post("/mfg/schedules/{schedule_id}/stop")
def stop_schedule(
    schedule_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    try:
        scheduling.stop_schedule(session, principal, schedule_id)
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        flash(request, exc.message, "warning")
    else:
        flash(request, "Stop requested: the best schedule found so far is kept.")
    return RedirectResponse(f"/mfg/schedules/{schedule_id}", status_code=303)


@router.get("/mfg/schedules/{schedule_id}/operations.xlsx")
def schedule_operations_xlsx(
    schedule_id: uuid.UUID, session: DbSession, principal: PageUser
) -> Response:
    operations = scheduling.schedule_operations(session, principal, schedule_id)
    return xlsx_response(
        f"schedule-{schedule_id}.xlsx", "Schedule", OPERATION_HEADERS, _operation_rows(operations)
    )


# --- the sponsor's view of an order ------------------------------------------------------------


@router.get("/mfg/orders/{order_id}/schedule-fragment")
def order_schedule_fragment(
    order_id: uuid.UUID, request: Request, session: DbSession, principal: PageUser
) -> Response:
    """The order's slots in the current schedule (a fragment for the order page)."""
    view = scheduling.order_schedule(session, principal, order_id)
    return render(
        request,
        "manufacturing/_schedule_order.html",
        {
            "view": view,
            "plotly_js": PLOTLY_JS,
            "gantt_chart": gantt_figure(view.operations, f"{view.order_number}: scheduled batches")
            if view.operations
            else None,
        },
    )
