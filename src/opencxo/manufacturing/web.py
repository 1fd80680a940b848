"""Web pages of manufacturing master data (plants and units, products and recipes, orders) — thin: same services as the API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
