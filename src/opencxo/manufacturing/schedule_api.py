"""JSON API of manufacturing schedules: solve requests (background jobs), progress, stop, the Gantt's operations — thin: parse, call the service, return."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["manufacturing"])
