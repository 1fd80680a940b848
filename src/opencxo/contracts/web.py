"""HTML pages of contracts and money."""

from __future__ import annotations

from fastapi import APIRouter

from opencxo.core.http import CsrfProtected

router = APIRouter(dependencies=[CsrfProtected])
