"""What the browser walks count as a broken request."""

from __future__ import annotations

from playwright.sync_api import Request


def request_failure_is_a_problem(request: Request) -> bool:
    """A failed request is a problem unless the browser itself cancelled it.

    When a walk moves on (a click, a redirect, a ``goto``) while the page is still loading a
    script, a stylesheet or its notification badge (HTMX on load), Chromium cancels those
    requests: ``net::ERR_ABORTED``. That happens on a slow, busy CI machine and says nothing
    about the app. A broken link or asset is an answer ≥ 400, which the walks check separately,
    and a refused connection or a reset (``net::ERR_CONNECTION_…``) still counts here.
    """
    return request.failure != "net::ERR_ABORTED"


def record_request_failure(failed: list[str], request: Request, who: str = "") -> None:
    """Add ``request`` to ``failed`` when its failure is a problem (see above)."""
    if request_failure_is_a_problem(request):
        prefix = f"{who}: " if who else ""
        failed.append(f"{prefix}failed {request.url}: {request.failure}")
