"""Sortable columns of the work-order list: the web page (its headers and rows) and the JSON API,
which share one service and one set of sort keys.

Acme Therapeutics has three work orders with three providers; Shanghai API Works also works for
Zenith Pharma, so its own list has two sponsors to sort by. The value of a work order is the sum
of the milestones still in it (a removed milestone does not count), compared as numbers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from opencxo.contracts.models import Milestone, Msa, WorkOrder
from opencxo.core.auth.models import User
from opencxo.sourcing.models import Program
from tests.factories import make_organization, make_provider, make_token, make_user
from tests.web.conftest import login

ROW = re.compile(r'<td class="text-nowrap"><a href="/work-orders/[^"]+">(WO-[0-9-]+)</a></td>')


@dataclass
class Contracts:
    manager: User  # Acme's manager
    shanghai: User  # Shanghai's manager


@pytest.fixture
def contracts(session: Session) -> Contracts:
    acme = make_organization(session, name="Acme Therapeutics", country="US")
    zenith = make_organization(session, name="Zenith Pharma", country="DE")
    manager = make_user(session, organization_id=acme.id, role="manager", email="m@acme.example")
    shanghai = make_provider(session, name="Shanghai API Works", country="CN")
    basel = make_provider(session, name="basel bio", country="CH")  # lower case: sorts first
    lyon = make_provider(session, name="Lyon Clinical Services", country="FR")
    shanghai_manager = make_user(
        session, organization_id=shanghai.id, role="manager", email="pm@shanghai.example"
    )
    programs = {}
    for sponsor in (acme, zenith):
        programs[sponsor.id] = Program(
            sponsor_id=sponsor.id,
            name="NW-101",
            modality="small_molecule",
            therapeutic_area="Oncology",
            indication="NSCLC",
            phase="phase_2",
        )
    session.add_all(programs.values())
    session.flush()

    def work_order(
        number: str,
        title: str,
        sponsor_id: uuid.UUID,
        provider_id: uuid.UUID,
        status: str,
        amounts: list[str],
        updated: str,
        removed: str | None = None,
    ) -> None:
        msa = Msa(
            sponsor_id=sponsor_id,
            provider_id=provider_id,
            reference=f"MSA-{number}",
            terms="Standard terms",
            effective_date=date(2026, 1, 1),
            expiry_date=date(2029, 1, 1),
        )
        session.add(msa)
        session.flush()
        milestones = [
            Milestone(
                position=n, description=f"Step {n}", amount=Decimal(a), due_date=date(2026, 6, n)
            )
            for n, a in enumerate(amounts, start=1)
        ]
        if removed:
            milestones.append(
                Milestone(
                    position=len(amounts) + 1,
                    description="Dropped",
                    amount=Decimal(removed),
                    due_date=date(2026, 7, 1),
                    removed=True,
                )
            )
        session.add(
            WorkOrder(
                msa_id=msa.id,
                sponsor_id=sponsor_id,
                provider_id=provider_id,
                program_id=programs[sponsor_id].id,
                number=number,
                title=title,
                service_code="CMC-GMPAPI",
                status=status,
                currency="USD",
                start_date=date(2026, 1, 5),
                milestones=milestones,
                updated_at=datetime.fromisoformat(updated).replace(tzinfo=UTC),
            )
        )

    # 1,000.00 sorts above 120.50 and 130.00 as a number (not as the text "1000.00").
    work_order(
        "WO-2026-0001",
        "api batch",
        acme.id,
        shanghai.id,
        "active",
        ["600.00", "400.00"],
        "2026-01-01",
    )
    work_order(
        "WO-2026-0002", "Tox study", acme.id, basel.id, "draft", ["120.50"], "2026-03-01",
        removed="5000.00",
    )  # fmt: skip
    work_order(
        "WO-2026-0003", "Monitoring", acme.id, lyon.id, "completed", ["130.00"], "2026-02-01"
    )
    work_order(
        "WO-2026-0004", "Zenith work", zenith.id, shanghai.id, "pending_signature", ["10.00"],
        "2026-01-15",
    )  # fmt: skip
    session.commit()
    return Contracts(manager, shanghai_manager)


@pytest.fixture
def page_of(client: TestClient, contracts: Contracts) -> Callable[[str, str], str]:
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
def api_of(
    client: TestClient, session: Session, contracts: Contracts
) -> Callable[[User, str], dict]:
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


def _numbers(items: list[dict]) -> list[str]:
    return [i["number"] for i in items]


SPONSOR_ORDERS = {
    "number": ["WO-2026-0001", "WO-2026-0002", "WO-2026-0003"],
    "-number": ["WO-2026-0003", "WO-2026-0002", "WO-2026-0001"],
    "title": ["WO-2026-0001", "WO-2026-0003", "WO-2026-0002"],  # api, Monitoring, Tox
    "-title": ["WO-2026-0002", "WO-2026-0003", "WO-2026-0001"],
    "provider": ["WO-2026-0002", "WO-2026-0003", "WO-2026-0001"],  # basel, Lyon, Shanghai
    "-provider": ["WO-2026-0001", "WO-2026-0003", "WO-2026-0002"],
    "status": ["WO-2026-0002", "WO-2026-0001", "WO-2026-0003"],  # draft, active, completed
    "-status": ["WO-2026-0003", "WO-2026-0001", "WO-2026-0002"],
    "value": ["WO-2026-0002", "WO-2026-0003", "WO-2026-0001"],  # 120.50, 130.00, 1,000.00
    "-value": ["WO-2026-0001", "WO-2026-0003", "WO-2026-0002"],
    "updated_at": ["WO-2026-0001", "WO-2026-0003", "WO-2026-0002"],
    "-updated_at": ["WO-2026-0002", "WO-2026-0003", "WO-2026-0001"],
}


@pytest.mark.parametrize(("sort", "expected"), list(SPONSOR_ORDERS.items()))
def test_sponsor_sorts_work_orders_on_the_page_and_in_the_api(
    page_of: Callable[[str, str], str],
    api_of: Callable[[User, str], dict],
    contracts: Contracts,
    sort: str,
    expected: list[str],
) -> None:
    html = page_of("m@acme.example", f"/work-orders?sort={sort}")
    assert ROW.findall(html) == expected
    column = sort.removeprefix("-")
    direction = "descending" if sort.startswith("-") else "ascending"
    assert f'data-sort="{column}"\n   aria-sort="{direction}"' in html
    assert _numbers(api_of(contracts.manager, f"/work-orders?sort={sort}")["items"]) == expected


def test_work_order_list_default_unknown_key_filter_and_paging(
    page_of: Callable[[str, str], str], api_of: Callable[[User, str], dict], contracts: Contracts
) -> None:
    newest_first = ["WO-2026-0003", "WO-2026-0002", "WO-2026-0001"]
    assert ROW.findall(page_of("m@acme.example", "/work-orders")) == newest_first
    assert ROW.findall(page_of("m@acme.example", "/work-orders?sort=paid")) == newest_first
    assert _numbers(api_of(contracts.manager, "/work-orders?sort=-bogus")["items"]) == newest_first
    listed = api_of(contracts.manager, "/work-orders?sort=-value")["items"]
    assert [(i["total_value"], i["updated_at"][:10]) for i in listed] == [
        ("1000.00", "2026-01-01"),
        ("130.00", "2026-02-01"),
        ("120.50", "2026-03-01"),  # without the removed 5,000.00
    ]
    html = page_of("m@acme.example", "/work-orders?sort=-value")
    assert '<td class="text-end text-nowrap" data-testid="value">1,000.00 USD</td>' in html
    # The sort holds across pages and with a status filter; the filter keeps the sort.
    second = api_of(contracts.manager, "/work-orders?sort=value&page=2&page_size=2")
    assert (_numbers(second["items"]), second["total"]) == (["WO-2026-0001"], 3)
    assert ROW.findall(page_of("m@acme.example", "/work-orders?sort=value&page=1&page_size=2")) == [
        "WO-2026-0002",
        "WO-2026-0003",
    ]
    html = page_of("m@acme.example", "/work-orders?sort=-title&status=active")
    assert ROW.findall(html) == ["WO-2026-0001"]
    assert 'href="/work-orders?sort=-title&amp;status=draft"' in html
    assert 'href="?sort=title&amp;status=active&amp;page=1" data-sort="title"' in html
    # The sponsor's own list has no sponsor column to sort by.
    assert 'data-sort="sponsor"' not in page_of("m@acme.example", "/work-orders")


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("sponsor", ["WO-2026-0001", "WO-2026-0004"]),  # Acme, Zenith
        ("-sponsor", ["WO-2026-0004", "WO-2026-0001"]),
        ("value", ["WO-2026-0004", "WO-2026-0001"]),
        ("-status", ["WO-2026-0001", "WO-2026-0004"]),  # active after pending signature
    ],
)
def test_provider_sorts_its_work_orders_by_sponsor(
    page_of: Callable[[str, str], str],
    api_of: Callable[[User, str], dict],
    contracts: Contracts,
    sort: str,
    expected: list[str],
) -> None:
    html = page_of("pm@shanghai.example", f"/work-orders?sort={sort}")
    assert ROW.findall(html) == expected
    assert 'data-sort="provider"' not in html
    assert _numbers(api_of(contracts.shanghai, f"/work-orders?sort={sort}")["items"]) == expected
