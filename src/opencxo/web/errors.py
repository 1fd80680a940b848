"""One error story for both faces: RFC 9457 problem details for the API, pages for the web UI."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from opencxo.core.errors import STALE_RECORD, OpenCXOError, TooManyAttempts
from opencxo.core.http import LoginRequired
from opencxo.web.rendering import render

log = logging.getLogger("opencxo.errors")
PROBLEM = "application/problem+json"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _page(request: Request, status: int, title: str, detail: str) -> Response:
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail},
        status_code=status,
    )


def handle_opencxo_error(request: Request, exc: OpenCXOError) -> Response:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else None
    if _is_api(request):
        extra: dict[str, Any] = {}
        if exc.field_errors:
            extra["errors"] = [{"field": f, "message": m} for f, m in exc.field_errors.items()]
        if exc.status_code == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return problem(exc.status_code, exc.title, exc.message, extra=extra, headers=headers)
    if isinstance(exc, LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # Quoted, so a target with several query parameters survives as one ``next`` value.
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    return _page(request, exc.status_code, exc.title, exc.message)


def field_errors_of(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        errors.append(
            {"field": ".".join(location) or "body", "message": str(error.get("msg", "invalid"))}
        )
    return errors


def handle_validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = field_errors_of(exc)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    if _is_api(request):
        return problem(422, "Invalid input", detail, extra={"errors": errors})
    return _page(request, 422, "Invalid input", detail)


def handle_stale_data(request: Request, exc: Exception) -> Response:
    detail = STALE_RECORD
    if _is_api(request):
        return problem(409, "Conflict", detail)
    return _page(request, 409, "Conflict", detail)


def handle_integrity_error(request: Request, exc: Exception) -> Response:
    log.info("integrity error: %s", exc)
    detail = "this would duplicate or orphan a record; reload and check what already exists"
    if _is_api(request):
        return problem(409, "Conflict", detail)
    return _page(request, 409, "Conflict", detail)


def handle_data_error(request: Request, exc: Exception) -> Response:
    """A value the database refuses (a NUL character, a number out of range): the input's fault."""
    log.info("data error: %s", exc)
    detail = "a value cannot be stored (a NUL character, or a number or text too large)"
    if _is_api(request):
        return problem(422, "Invalid input", detail)
    return _page(request, 422, "Invalid input", detail)


def handle_http_exception(request: Request, exc: StarletteHTTPException) -> Response:
    titles = {404: "Not found", 405: "Method not allowed"}
    title = titles.get(exc.status_code, "Error")
    detail = str(exc.detail) if exc.detail else title
    if exc.status_code == 404:
        detail = f"nothing at {request.url.path}"
    if _is_api(request):
        return problem(exc.status_code, title, detail, headers=getattr(exc, "headers", None))
    return _page(request, exc.status_code, title, detail)


def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    detail = "something went wrong on our side; nothing was saved. The error was logged."
    if _is_api(request):
        return problem(500, "Internal error", detail)
    return _page(request, 500, "Internal error", detail)
