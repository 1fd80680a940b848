"""The API docs page (Swagger UI) loads nothing from another host: its script, style sheet and
icon are the vendored swagger-ui-dist files the app serves itself."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

ASSET = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"')


def test_the_api_docs_page_loads_only_local_assets(client: TestClient) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "SwaggerUIBundle" in page
    assert re.search(r"https?://", page) is None, re.findall(r"https?://[^\s\"']+", page)
    assets = ASSET.findall(page)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert asset.startswith("/static/vendor/swagger-ui/"), asset
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        assert fetched.content, asset
    # the schema the page reads is served too
    assert "url: '/api/v1/openapi.json'" in page
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_the_docs_pages_are_not_in_the_schema_and_redoc_is_off(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert not any(p.endswith(("/docs", "/redoc")) for p in paths)
    assert client.get("/api/v1/redoc").status_code == 404
    assert client.get("/docs").status_code == 404
