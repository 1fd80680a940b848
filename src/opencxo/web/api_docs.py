"""The JSON API's interactive documentation: Swagger UI served from the app's own static files.

FastAPI's default ``docs_url`` page loads Swagger UI from a CDN; this one loads the
``swagger-ui-dist`` files that ``make assets`` copies from the npm registry's package into
``static/vendor/swagger-ui`` (like Bootstrap and htmx), so the page works offline. ReDoc stays
off: it would need a bundle that is not vendored.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.requests import Request

SWAGGER_UI_STATIC = "/static/vendor/swagger-ui"
SWAGGER_UI_JS = f"{SWAGGER_UI_STATIC}/swagger-ui-bundle.js"
SWAGGER_UI_CSS = f"{SWAGGER_UI_STATIC}/swagger-ui.css"
SWAGGER_UI_FAVICON = f"{SWAGGER_UI_STATIC}/favicon-32x32.png"


def add_swagger_ui(app: FastAPI, *, path: str) -> None:
    """Serve Swagger UI for ``app.openapi_url`` at ``path``.

    A plain route outside the schema, as FastAPI adds its own ``docs_url`` page: it is the
    schema's viewer, not an API operation.
    """
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the API docs page needs the app's openapi_url")
    title = f"{app.title} - Swagger UI"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=title,
            swagger_js_url=root + SWAGGER_UI_JS,
            swagger_css_url=root + SWAGGER_UI_CSS,
            swagger_favicon_url=root + SWAGGER_UI_FAVICON,
            # No validator badge: it would send the schema to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.add_route(path, swagger_ui, include_in_schema=False)
