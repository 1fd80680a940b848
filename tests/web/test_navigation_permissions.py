"""The navigation offers "Audit log" and "Users" only to those the pages themselves let in."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.conftest import World, login, new_user


def _nav(page_html: str) -> str:
    return page_html.split('<aside class="sidebar', 1)[1].split("</aside>", 1)[0]


@pytest.mark.parametrize(
    ("role", "sees_audit", "sees_users"),
    [
        ("admin", True, True),
        ("manager", False, True),
        ("qa", True, False),
        ("member", False, False),
        ("viewer", False, False),
    ],
)
def test_the_navigation_links_only_pages_the_user_may_open(
    client: TestClient,
    session: Session,
    world: World,
    role: str,
    sees_audit: bool,
    sees_users: bool,
) -> None:
    email = f"{role}-nav@acme.example"
    new_user(session, world.sponsor.id, role, email)
    login(client, email)
    nav = _nav(client.get("/").text)
    members = f"/organizations/{world.sponsor.id}/members"
    links = {"/audit": ('href="/audit"' in nav), members: (f'href="{members}"' in nav)}
    assert links == {"/audit": sees_audit, members: sees_users}
    # The link is shown exactly when the page answers; a hidden one would have been a 403.
    for path, shown in links.items():
        status = client.get(path).status_code
        assert status == (200 if shown else 403), (role, path, status)
