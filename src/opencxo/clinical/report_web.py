"""HTML pages of the study status report: the printable page and its PDF.

Thin, like ``web.py``: both call :func:`opencxo.clinical.report.study_report`; the page adds the
Plotly chart of enrollment against plan with the forecast fan, the PDF comes from
``report_pdf``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opencxo.clinical import forecasting, report
from opencxo.clinical.page_helpers import (
    enrollment_layout,
    fan_traces,
    forecast_options,
    plan_trace,
    target_trace,
)
from opencxo.clinical.report_pdf import report_pdf_response
from opencxo.clinical.report_schemas import StudyReport
from opencxo.core.errors import Invalid
from opencxo.core.http import CsrfProtected, DbSession
from opencxo.web.deps import PageUser
from opencxo.web.pages import PLOTLY_JS
from opencxo.web.rendering import render

router = APIRouter(dependencies=[CsrfProtected])


def _chart(found: StudyReport) -> dict[str, Any]:
    """Cumulative enrollment against the straight-line plan, with the forecast's P10–P90 fan and
    median (with the disruptions) and the median without them."""
    h, e, f = found.header, found.enrollment, found.forecast
    traces: list[dict[str, Any]] = []
    if e.cumulative:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": "#0d6efd", "width": 3},
                "name": "Enrolled (actual, cumulative)",
                "x": [p.on_date.isoformat() for p in e.cumulative] + [e.as_of.isoformat()],
                "y": [p.cumulative for p in e.cumulative] + [e.enrolled],
                "hovertemplate": "%{x}<br>%{y} patients<extra></extra>",
            }
        )
    first, last = h.planned_first_patient_in, h.planned_last_patient_in
    dates = [p.on_date for p in e.cumulative] + [e.as_of]
    if first and last and last > first:
        traces.append(plan_trace(first, last, h.target_enrollment))
        dates += [first, last]
    if f is not None:
        band = (f.with_disruptions or f.without_disruptions).cumulative
        label = "with disruptions" if f.disruptions else "(no disruption declared)"
        traces += fan_traces(
            band, label, color="#fd7e14", fill="rgba(253, 126, 20, 0.2)", prefix="Forecast "
        )
        dates += [p.on_date for p in band]
        if f.disruptions:
            plain = f.without_disruptions.cumulative
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "line": {"color": "#198754", "width": 2, "dash": "dash"},
                    "name": "Forecast median without disruptions",
                    "x": [p.on_date.isoformat() for p in plain],
                    "y": [p.p50 for p in plain],
                    "hovertemplate": "%{x}<br>median without disruptions: %{y:.0f}<extra></extra>",
                }
            )
            dates += [p.on_date for p in plain]
    traces.append(target_trace(h.target_enrollment, min(dates), max(dates)))
    return {
        "data": traces,
        "layout": {
            **enrollment_layout(f"{h.code}: enrollment against plan as of {e.as_of.isoformat()}"),
            "width": 680,  # fits an A4 page when printed
            "height": 470,
            "margin": {"t": 50, "l": 60, "r": 10, "b": 40},
            "legend": {"orientation": "h", "y": -0.17, "yanchor": "top"},
            "shapes": [
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": e.as_of.isoformat(),
                    "x1": e.as_of.isoformat(),
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#adb5bd", "dash": "dot"},
                }
            ],
        },
    }


def _scenarios(found: StudyReport) -> list[tuple[str, Any]]:
    f = found.forecast
    if f is None:
        return []
    if f.disruptions and f.with_disruptions is not None:
        return [
            ("With disruptions", f.with_disruptions),
            ("Without disruptions", f.without_disruptions),
        ]
    return [("No disruption declared", f.without_disruptions)]


@router.get("/studies/{study_id}/report")
def report_page(
    request: Request,
    study_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    as_of: str = "",
    deadline: str = "",
    paths: str = "",
    seed: str = "",
) -> Response:
    options, errors, form = forecast_options(as_of=as_of, deadline=deadline, paths=paths, seed=seed)
    found = report.study_report(session, principal, study_id, **options)
    return render(
        request,
        "clinical/report.html",
        {
            "report": found,
            "h": found.header,
            "figure": _chart(found),
            "scenarios": _scenarios(found),
            "errors": errors,
            "form": form,
            "query": str(request.url.query),
            "defaults": {"paths": forecasting.DEFAULT_PATHS, "seed": forecasting.DEFAULT_SEED},
            "plotly_js": PLOTLY_JS,
            "active": "studies",
        },
    )


@router.get("/studies/{study_id}/report.pdf")
def report_pdf(
    study_id: uuid.UUID,
    session: DbSession,
    principal: PageUser,
    as_of: str = "",
    deadline: str = "",
    paths: str = "",
    seed: str = "",
) -> Response:
    options, errors, _ = forecast_options(as_of=as_of, deadline=deadline, paths=paths, seed=seed)
    if errors:
        raise Invalid(
            "bad report options: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            field_errors=errors,
        )
    return report_pdf_response(report.study_report(session, principal, study_id, **options))
