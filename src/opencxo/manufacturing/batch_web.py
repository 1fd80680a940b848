"""Web pages of manufacturing batch records and certificates of analysis — thin: same services as the API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
