"""What the clinical pages share: the forecast options of a GET form, and the pieces of the
enrollment charts (target line, deadline line, layout) drawn on the study, report and recovery
pages alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from opencxo.clinical import forecasting
from opencxo.core.types import utc_today

__all__ = [
    "BandPoint",
    "deadline_trace",
    "enrollment_layout",
    "fan_traces",
    "forecast_options",
    "plan_trace",
    "target_trace",
]


def forecast_options(
    *, deadline: str, paths: str, seed: str, as_of: str | None = None
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """The forecast options of a page's GET parameters (``as_of`` only where the page has
    it): (options parsed, errors by field, the form as typed). A bad value falls back to its
    default with an error next to its field, so the page still renders."""
    options: dict[str, Any] = {}
    errors: dict[str, str] = {}
    form = {"deadline": deadline, "paths": paths, "seed": seed}
    dates = [("deadline", deadline)]
    if as_of is not None:
        form["as_of"] = as_of
        dates.insert(0, ("as_of", as_of))
    today = utc_today()
    for name, text in dates:
        if not text:
            continue
        try:
            options[name] = date.fromisoformat(text)
        except ValueError:
            errors[name] = "a date, YYYY-MM-DD"
    if options.get("as_of", today) > today:
        del options["as_of"]
        errors["as_of"] = f"on or before {today.isoformat()}"
    for name, text, low, high in (
        ("paths", paths, forecasting.MIN_PATHS, forecasting.MAX_FORECAST_PATHS),
        ("seed", seed, 0, 2**63 - 1),
    ):
        if not text:
            continue
        try:
            value = int(text)
        except ValueError:
            errors[name] = "a whole number"
            continue
        if not low <= value <= high:
            errors[name] = f"between {low:,} and {high:,}"
            continue
        options[name] = value
    return options, errors, form


def target_trace(target: int, start: date, end: date) -> dict[str, Any]:
    """The horizontal target line from ``start`` to ``end``."""
    return {
        "type": "scatter",
        "mode": "lines",
        "line": {"color": "#dc3545", "width": 1.5},
        "name": f"Target ({target} patients)",
        "x": [start.isoformat(), end.isoformat()],
        "y": [target, target],
        "hoverinfo": "skip",
    }


def deadline_trace(deadline: date, target: int) -> dict[str, Any]:
    """The vertical dotted deadline line, up to just above the target."""
    return {
        "type": "scatter",
        "mode": "lines",
        "line": {"color": "#6f42c1", "width": 1.5, "dash": "dot"},
        "name": f"Deadline ({deadline.isoformat()})",
        "x": [deadline.isoformat(), deadline.isoformat()],
        "y": [0, round(target * 1.05)],
        "hoverinfo": "skip",
    }


def enrollment_layout(title: str, *, height: int = 420) -> dict[str, Any]:
    """The layout of a cumulative-enrollment chart (dates across, patients up)."""
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": "Date"}, "type": "date"},
        "yaxis": {"title": {"text": "Patients enrolled (cumulative)"}, "rangemode": "tozero"},
        "template": "plotly_white",
        "margin": {"t": 60, "l": 70, "r": 20, "b": 60},
        "height": height,
        "legend": {"orientation": "h", "y": -0.2},
    }


class BandPoint(Protocol):
    """A point of a forecast band (the forecast's and the recovery plan's alike)."""

    @property
    def on_date(self) -> date: ...

    @property
    def p10(self) -> float: ...

    @property
    def p50(self) -> float: ...

    @property
    def p90(self) -> float: ...


def fan_traces(
    points: Sequence[BandPoint], label: str, *, color: str, fill: str, prefix: str = ""
) -> list[dict[str, Any]]:
    """The P10–P90 fan (P90 edge, P10 edge filled to it) and the median line of a band, named
    ``"{prefix}P10–P90 {label}"`` and ``"{prefix}median {label}"`` (``Median`` without one)."""
    x = [p.on_date.isoformat() for p in points]
    median = f"{prefix}median {label}" if prefix else f"Median {label}"
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"width": 0},
            "name": f"{prefix}P90 {label}",
            "x": x,
            "y": [p.p90 for p in points],
            "showlegend": False,
            "hovertemplate": "%{x}<br>P90: %{y:.0f} patients<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": fill,
            "name": f"{prefix}P10–P90 {label}",
            "x": x,
            "y": [p.p10 for p in points],
            "hovertemplate": "%{x}<br>P10: %{y:.0f} patients<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"color": color, "width": 2},
            "name": median,
            "x": x,
            "y": [p.p50 for p in points],
            "hovertemplate": "%{x}<br>median: %{y:.0f} patients<extra></extra>",
        },
    ]


def plan_trace(first: date, last: date, target: int) -> dict[str, Any]:
    """The straight-line plan: 0 at the planned first patient in, the target at the last."""
    return {
        "type": "scatter",
        "mode": "lines",
        "line": {"dash": "dash", "color": "#6c757d"},
        "name": "Plan (straight line FPI → LPI)",
        "x": [first.isoformat(), last.isoformat()],
        "y": [0, target],
        "hovertemplate": "%{x}<br>plan: %{y:.0f} patients<extra></extra>",
    }
