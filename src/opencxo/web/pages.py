"""The dashboard, and shared assets that come from installed Python packages."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from opencxo.core.auth.permissions import Permission
from opencxo.core.http import DbSession
from opencxo.core.pagination import PageParams
from opencxo.parties import service as parties
from opencxo.parties.models import QualificationStatus
from opencxo.web.dashboard import overview
from opencxo.web.deps import PageUser
from opencxo.web.rendering import render

router = APIRouter()


@router.get("/")
def dashboard(request: Request, session: DbSession, principal: PageUser) -> Response:
    everything = PageParams(page=1, page_size=100)
    qualifications = parties.list_qualifications(session, principal, status=None, params=everything)
    by_status = {s.value: 0 for s in QualificationStatus}
    for q in qualifications.items:
        by_status[q.status] += 1
    expiring = [
        q for q in qualifications.items if q.expired or q.status == QualificationStatus.CONDITIONAL
    ]
    providers = parties.search_directory(session, principal, params=PageParams(page=1, page_size=5))
    return render(
        request,
        "dashboard.html",
        {
            "active": "dashboard",
            "by_status": by_status,
            "qualification_total": qualifications.total,
            "attention": expiring[:8],
            "provider_total": providers.total,
            "top_providers": providers.items,
            "can_read_audit": principal.can(Permission.AUDIT_READ),
            "overview": overview(session, principal),
        },
    )


# Plotly's JavaScript is served from the installed plotly package (no CDN); pages load it from
# PLOTLY_JS.
PLOTLY_JS = "/assets/plotly.min.js"


@lru_cache(maxsize=1)
def _plotly_js() -> Path:
    return Path(str(resources.files("plotly").joinpath("package_data/plotly.min.js")))


@router.get(PLOTLY_JS, include_in_schema=False)
def plotly_js() -> Response:
    return FileResponse(
        _plotly_js(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=604800"},
    )
