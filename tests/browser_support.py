"""What the browser walks count as a broken request."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, Request, Response


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


def watch(page: Page, failed: list[str], console: list[str]) -> None:
    """Record on ``page`` every answer ≥ 400 and failed request in ``failed`` and every console
    error in ``console`` — what a walk asserts empty at its end."""

    def on_response(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.append(message.text)

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("requestfailed", lambda request: record_request_failure(failed, request))
