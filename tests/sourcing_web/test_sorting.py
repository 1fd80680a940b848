"""Sortable columns of the program and RFP lists: the web page (its column headers and its rows)
and the JSON API, which share one service and one set of sort keys.

Three programs and three RFPs, made so that every key orders them differently from its
neighbours: text sorts without regard to case, a phase or a status in the order of its lifecycle
(not its spelling), an empty patent expiry last in either direction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from opencxo.core.auth.models import User
from opencxo.core.types import utcnow
from opencxo.sourcing.models import Invitation, Program, Rfp
from tests.factories import make_organization, make_provider, make_token, make_user
from tests.web.conftest import login

PROGRAM_ROW = re.compile(r'<tr data-testid="program-row"><td><a href="/programs/[^"]+">([^<]+)</a>')
RFP_ROW = re.compile(r'<tr data-testid="rfp-row"><td><a href="/rfps/[^"]+">([^<]+)</a>')


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


@dataclass
class Lists:
    manager: User  # Acme's manager: the sponsor's view
    bidder: User  # Shanghai's manager: invited to two of the RFPs


@pytest.fixture
def lists(session: Session) -> Lists:
    """Acme's programs alpha, Beta and Gamma, and its RFPs R1, R2 and R3 (Shanghai invited to the
    published R1 and R2); a rival's program that nobody here may see."""
    acme = make_organization(session, name="Acme Therapeutics", country="US")
    manager = make_user(session, organization_id=acme.id, role="manager", email="m@acme.example")
    shanghai = make_provider(
        session, name="Shanghai API Works", country="CN", service_codes=("CMC-GMPAPI",)
    )
    bidder = make_user(
        session, organization_id=shanghai.id, role="manager", email="bids@shanghai.example"
    )
    rival = make_organization(session, name="Rival Pharma", country="GB")

    def program(
        name: str, modality: str, phase: str, patent: date | None, updated: str, sponsor=acme.id
    ) -> Program:
        row = Program(
            sponsor_id=sponsor,
            name=name,
            modality=modality,
            therapeutic_area="Oncology",
            indication="NSCLC",
            phase=phase,
            patent_expiry=patent,
            updated_at=_at(updated),
        )
        session.add(row)
        return row

    alpha = program("alpha", "small_molecule", "phase_2", date(2035, 6, 30), "2026-03-01")
    beta = program("Beta", "biologic", "discovery", None, "2026-02-01")
    gamma = program("Gamma", "vaccine", "preclinical", date(2030, 1, 1), "2026-01-01")
    program("Rival's secret", "biologic", "phase_3", None, "2026-04-01", sponsor=rival.id)
    session.flush()

    now = utcnow()

    def rfp(title: str, on: Program, status: str, days: int, created: str) -> Rfp:
        row = Rfp(
            sponsor_id=acme.id,
            program_id=on.id,
            title=title,
            status=status,
            bid_deadline=now + timedelta(days=days),
            published_at=None if status == "draft" else now - timedelta(days=1),
            created_at=_at(created),
        )
        session.add(row)
        return row

    r1 = rfp("api supply", beta, "closed", 10, "2026-01-03")
    r2 = rfp("Bioassay", alpha, "published", 20, "2026-01-01")
    rfp("Clinical pack", gamma, "draft", 5, "2026-01-02")
    session.flush()
    session.add_all([Invitation(rfp_id=r.id, provider_id=shanghai.id) for r in (r1, r2)])
    session.commit()
    return Lists(manager, bidder)


@pytest.fixture
def page_of(client: TestClient, lists: Lists) -> Callable[[str, str], str]:
    """The HTML of a page for a user (logged in once each, own cookie jar)."""
    clients: dict[str, TestClient] = {}

    def get(email: str, path: str) -> str:
        if email not in clients:
            clients[email] = TestClient(client.app)
            login(clients[email], email)
        response = clients[email].get(path)
        assert response.status_code == 200, response.text
        return response.text

    return get


@pytest.fixture
def api_of(client: TestClient, session: Session, lists: Lists) -> Callable[[User, str], dict]:
    tokens: dict[uuid.UUID, str] = {}

    def get(user: User, path: str) -> dict:
        if user.id not in tokens:
            tokens[user.id] = make_token(session, user=user)
            session.commit()
        response = client.get(
            f"/api/v1{path}", headers={"Authorization": f"Bearer {tokens[user.id]}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    return get


PROGRAM_ORDERS = {
    "name": ["alpha", "Beta", "Gamma"],
    "-name": ["Gamma", "Beta", "alpha"],
    "modality": ["Beta", "alpha", "Gamma"],  # biologic, small molecule, vaccine
    "-modality": ["Gamma", "alpha", "Beta"],
    "phase": ["Beta", "Gamma", "alpha"],  # discovery, preclinical, phase 2
    "-phase": ["alpha", "Gamma", "Beta"],
    "patent_expiry": ["Gamma", "alpha", "Beta"],  # 2030, 2035, none
    "-patent_expiry": ["alpha", "Gamma", "Beta"],  # none stays last
    "updated_at": ["Gamma", "Beta", "alpha"],
    "-updated_at": ["alpha", "Beta", "Gamma"],
}


@pytest.mark.parametrize(("sort", "expected"), list(PROGRAM_ORDERS.items()))
def test_program_list_sorts_on_the_page_and_in_the_api(
    page_of: Callable[[str, str], str],
    api_of: Callable[[User, str], dict],
    lists: Lists,
    sort: str,
    expected: list[str],
) -> None:
    html = page_of("m@acme.example", f"/programs?sort={sort}")
    assert PROGRAM_ROW.findall(html) == expected
    column = sort.removeprefix("-")
    direction = "descending" if sort.startswith("-") else "ascending"
    assert f'data-sort="{column}"\n   aria-sort="{direction}"' in html
    assert [p["name"] for p in api_of(lists.manager, f"/programs?sort={sort}")["items"]] == expected


def test_program_list_default_unknown_key_and_paging(
    page_of: Callable[[str, str], str], api_of: Callable[[User, str], dict], lists: Lists
) -> None:
    by_name = ["alpha", "Beta", "Gamma"]
    assert PROGRAM_ROW.findall(page_of("m@acme.example", "/programs")) == by_name
    assert PROGRAM_ROW.findall(page_of("m@acme.example", "/programs?sort=-sponsor_id")) == by_name
    assert [p["name"] for p in api_of(lists.manager, "/programs?sort=bogus")["items"]] == by_name
    # A header links to its key (ascending first, then descending), back to page 1.
    html = page_of("m@acme.example", "/programs?sort=phase&page=1")
    assert 'href="?sort=-phase&amp;page=1" data-sort="phase"' in html
    assert 'href="?sort=modality&amp;page=1" data-sort="modality"' in html
    # The sort holds across pages.
    second = api_of(lists.manager, "/programs?sort=-patent_expiry&page=2&page_size=2")
    assert [p["name"] for p in second["items"]] == ["Beta"]
    assert second["total"] == 3
    assert PROGRAM_ROW.findall(
        page_of("m@acme.example", "/programs?sort=-patent_expiry&page=1&page_size=2")
    ) == ["alpha", "Gamma"]


def test_program_list_shows_the_sorted_columns(
    page_of: Callable[[str, str], str], lists: Lists
) -> None:
    html = page_of("m@acme.example", "/programs?sort=name")
    rows = re.findall(r'<tr data-testid="program-row">(.*?)</tr>', html, re.S)
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)
    ]
    assert cells == [
        "alpha",
        "Small molecule",
        "Oncology",
        "NSCLC",
        "Phase 2",
        "2035-06-30",
        "2026-03-01",
    ]


RFP_ORDERS = {
    "title": ["api supply", "Bioassay", "Clinical pack"],
    "-title": ["Clinical pack", "Bioassay", "api supply"],
    "program": ["Bioassay", "api supply", "Clinical pack"],  # alpha, Beta, Gamma
    "-program": ["Clinical pack", "api supply", "Bioassay"],
    "status": ["Clinical pack", "Bioassay", "api supply"],  # draft, published, closed
    "-status": ["api supply", "Bioassay", "Clinical pack"],
    "bid_deadline": ["Clinical pack", "api supply", "Bioassay"],  # in 5, 10, 20 days
    "-bid_deadline": ["Bioassay", "api supply", "Clinical pack"],
    "created_at": ["Bioassay", "Clinical pack", "api supply"],
    "-created_at": ["api supply", "Clinical pack", "Bioassay"],
}


@pytest.mark.parametrize(("sort", "expected"), list(RFP_ORDERS.items()))
def test_rfp_list_sorts_on_the_page_and_in_the_api(
    page_of: Callable[[str, str], str],
    api_of: Callable[[User, str], dict],
    lists: Lists,
    sort: str,
    expected: list[str],
) -> None:
    html = page_of("m@acme.example", f"/rfps?sort={sort}")
    assert RFP_ROW.findall(html) == expected
    column = sort.removeprefix("-")
    direction = "descending" if sort.startswith("-") else "ascending"
    assert f'data-sort="{column}"\n   aria-sort="{direction}"' in html
    assert [r["title"] for r in api_of(lists.manager, f"/rfps?sort={sort}")["items"]] == expected


def test_rfp_list_default_filter_and_program_column(
    page_of: Callable[[str, str], str], api_of: Callable[[User, str], dict], lists: Lists
) -> None:
    newest_deadline_first = ["Bioassay", "api supply", "Clinical pack"]
    assert RFP_ROW.findall(page_of("m@acme.example", "/rfps")) == newest_deadline_first
    assert RFP_ROW.findall(page_of("m@acme.example", "/rfps?sort=lots")) == newest_deadline_first
    listed = api_of(lists.manager, "/rfps?sort=title")["items"]
    assert [(r["title"], r["program_name"]) for r in listed] == [
        ("api supply", "Beta"),
        ("Bioassay", "alpha"),
        ("Clinical pack", "Gamma"),
    ]
    assert [r["created_at"][:10] for r in listed] == ["2026-01-03", "2026-01-01", "2026-01-02"]
    # A status filter keeps the sort, and a sort keeps the filter.
    html = page_of("m@acme.example", "/rfps?sort=-title&status=draft")
    assert RFP_ROW.findall(html) == ["Clinical pack"]
    assert 'href="/rfps?sort=-title&amp;status=published"' in html
    assert 'href="?sort=title&amp;status=draft&amp;page=1" data-sort="title"' in html


def test_provider_sorts_its_invitations_without_seeing_the_programs(
    page_of: Callable[[str, str], str], api_of: Callable[[User, str], dict], lists: Lists
) -> None:
    html = page_of("bids@shanghai.example", "/rfps?sort=title")
    assert RFP_ROW.findall(html) == ["api supply", "Bioassay"]
    assert 'data-sort="program"' not in html and "alpha" not in html and "Beta" not in html
    # The sponsor's programs do not order a provider's list: it stays by deadline.
    for sort in ("program", "-program"):
        listed = api_of(lists.bidder, f"/rfps?sort={sort}")["items"]
        assert [(r["title"], r["program_name"]) for r in listed] == [
            ("Bioassay", None),
            ("api supply", None),
        ]
    assert RFP_ROW.findall(page_of("bids@shanghai.example", "/rfps?sort=-bid_deadline")) == [
        "Bioassay",
        "api supply",
    ]
    assert RFP_ROW.findall(page_of("bids@shanghai.example", "/rfps?sort=bid_deadline")) == [
        "api supply",
        "Bioassay",
    ]
