"""Plotly figures as plain data for the pages' charts (rendered by the served plotly.js)."""

from __future__ import annotations

from typing import Any


def plotly_figure(
    title: str, x_title: str, y_title: str, traces: list[dict[str, Any]], **layout: Any
) -> dict[str, Any]:
    """A Plotly figure (data and layout) with a title and both axes named with their unit."""
    base: dict[str, Any] = {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "template": "plotly_white",
        "margin": {"t": 60, "l": 80, "r": 20, "b": 60},
        "height": 360,
        "legend": {"orientation": "h", "y": -0.25},
    }
    for key, value in layout.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return {"data": traces, "layout": base}
