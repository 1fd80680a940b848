"""What the browser walks count as a broken request."""

from __future__ import annotations

from playwright.sync_api import Request


def request_failure_is_a_problem(request: Request) -> bool:
    """A failed request is a problem unless navigation cut off a background fetch.

    Every page loads its notification badge by HTMX on load; when the walk moves on before
    that fetch answers (a slow, busy CI machine), Chromium aborts it (``net::ERR_ABORTED``).
    That is the browser leaving the page, not a broken link; anything else still counts.
    """
    cut_off_by_navigation = request.failure == "net::ERR_ABORTED" and request.resource_type in {
        "xhr",
        "fetch",
    }
    return not cut_off_by_navigation


def record_request_failure(failed: list[str], request: Request, who: str = "") -> None:
    """Add ``request`` to ``failed`` when its failure is a problem (see above)."""
    if request_failure_is_a_problem(request):
        prefix = f"{who}: " if who else ""
        failed.append(f"{prefix}failed {request.url}: {request.failure}")
