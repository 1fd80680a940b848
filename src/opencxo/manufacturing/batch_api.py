"""JSON API of manufacturing batch records: steps, materials and genealogy, deviations, QC results, QA disposition, certificate of analysis — thin: parse, call the service, return."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["manufacturing"])
