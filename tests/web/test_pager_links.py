"""The pager of every list: its links lead to valid pages and keep the list's sort and filters;
Previous on the first page and Next on the last are disabled and lead nowhere."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.conftest import World, login, new_user

PAGER = re.compile(r'<nav aria-label="pages">(.*?)</nav>', re.S)
ITEM = re.compile(r'<li class="page-item[^"]*">(.*?)</li>', re.S)


def _pager_items(page_html: str) -> dict[str, str]:
    """The pager's Previous and Next items by label."""
    pager = PAGER.search(page_html)
    assert pager, "the page has no pager"
    items: dict[str, str] = {}
    for item in ITEM.findall(pager.group(1)):
        for label in ("Previous", "Next"):
            if f">{label}<" in item:
                items[label] = item
    assert set(items) == {"Previous", "Next"}, pager.group(1)
    return items


def _href(item: str) -> str | None:
    match = re.search(r'href="([^"]*)"', item)
    return html.unescape(match.group(1)) if match else None


def _params(href: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(href).query, keep_blank_values=True).items()}


def _assert_disabled(item: str) -> None:
    assert _href(item) is None, item
    assert 'aria-disabled="true"' in item, item


def _walk(client: TestClient, path: str, query: str, pages: int, kept: dict[str, str]) -> None:
    """Follow Next from page 1 to the last page and Previous back, checking every link."""
    url = f"{path}?{query}"
    seen = []
    for number in range(1, pages + 1):
        response = client.get(url)
        assert response.status_code == 200, (url, response.text[:500])
        assert f"Page {number} of {pages}" in response.text
        items = _pager_items(response.text)
        seen.append(items)
        if number == 1:
            _assert_disabled(items["Previous"])
        if number == pages:
            _assert_disabled(items["Next"])
            break
        href = _href(items["Next"])
        assert href is not None and href.startswith("?")
        assert _params(href) == {**kept, "page": str(number + 1)}, href
        url = f"{path}{href}"
    # and back: Previous of the last page leads to the one before, filters kept
    previous = _href(seen[-1]["Previous"])
    assert previous is not None
    assert _params(previous) == {**kept, "page": str(pages - 1)}
    assert client.get(f"{path}{previous}").status_code == 200


def test_organisations_pager_keeps_sort_and_filters_and_never_links_page_0(
    client: TestClient, world: World
) -> None:
    login(client, "manager@acme.example")
    kept = {"kind": "provider", "sort": "-name", "page_size": "1", "q": ""}
    _walk(client, "/organizations", "kind=provider&sort=-name&page_size=1&q=", 2, kept)
    first = client.get("/organizations?kind=provider&sort=-name&page_size=1").text
    assert "page=0" not in first


def test_audit_pager_keeps_the_filter_and_never_links_page_0(
    client: TestClient, session: Session, world: World
) -> None:
    for n in range(3):
        new_user(session, world.sponsor.id, "viewer", f"viewer{n}@acme.example")
    new_user(session, world.sponsor.id, "qa", "qa@acme.example")
    login(client, "qa@acme.example")
    counted = client.get("/audit?entity_type=membership&page_size=100").text
    total = int(re.search(r"(\d+) in all", counted).group(1))  # type: ignore[union-attr]
    assert total >= 3
    kept = {"entity_type": "membership", "page_size": "1"}
    _walk(client, "/audit", "entity_type=membership&page_size=1", total, kept)
    assert "page=0" not in client.get("/audit?entity_type=membership&page_size=1").text


def test_a_page_past_the_end_disables_next_and_links_back(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/organizations?kind=provider&page_size=1&page=5")
    assert response.status_code == 200
    items = _pager_items(response.text)
    _assert_disabled(items["Next"])
    previous = _href(items["Previous"])
    assert previous is not None and "page=4" in previous
    assert client.get(f"/organizations{previous}").status_code == 200
