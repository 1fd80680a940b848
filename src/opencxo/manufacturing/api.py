"""JSON API of manufacturing master data: products, specifications, plant units, maintenance, cleaning and changeovers, recipes, BOM, production orders — thin: parse, call the service, return."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["manufacturing"])
