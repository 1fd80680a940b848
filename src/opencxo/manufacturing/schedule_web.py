"""Web pages of manufacturing schedules (solve with progress and stop, Gantt) — thin: same services as the API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
