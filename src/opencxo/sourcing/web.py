"""HTML pages of sourcing: programs, RFPs, bids, comparison and award."""

from __future__ import annotations

from fastapi import APIRouter

from opencxo.core.http import CsrfProtected

router = APIRouter(dependencies=[CsrfProtected])
