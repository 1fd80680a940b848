"""The dashboard's "Waiting for you" panels: each capability's rows that want action, urgent
only where this user's role can act, each tenant seeing its own side; empty panels say so."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from opencxo.demo.loader import load_demo_world
from tests.factories import operator
from tests.web.conftest import World, login

_PANEL = re.compile(r'data-testid="panel-(\w+)"')
_ROW = re.compile(
    r'data-urgent="(yes|no)">\s*<a href="([^"]+)"[^>]*>([^<]+)</a>\s*'
    r'<div class="small text-muted">(?:<i [^>]*></i> )?([^<]+)</div>'
)
_EMPTY = re.compile(r'<div class="empty-state small">([^<]+)</div>')
_FIGURE = re.compile(
    r'<div class="text-muted small">([^<]+)</div><div class="fw-semibold">([^<]+)<'
)


@dataclass(frozen=True)
class Line:
    label: str
    detail: str
    href: str
    urgent: bool


def _panels(page: str) -> dict[str, tuple[list[Line], str | None, dict[str, str]]]:
    """Each panel's rows, empty-state text and figures, in page order."""
    overview = page[page.index('data-testid="overview"') : page.index("Providers and qualif")]
    marks = list(_PANEL.finditer(overview))
    panels = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        chunk = overview[mark.end() : following.start() if following else len(overview)]
        rows = [
            Line(html.unescape(label), html.unescape(detail).strip(), href, urgent == "yes")
            for urgent, href, label, detail in _ROW.findall(chunk)
        ]
        empty = _EMPTY.search(chunk)
        figures = {html.unescape(k): v for k, v in _FIGURE.findall(chunk)}
        panels[mark.group(1)] = (rows, empty.group(1) if empty else None, figures)
    return panels


def test_a_new_sponsor_sees_every_panel_empty_and_saying_so(
    client: TestClient, world: World
) -> None:
    login(client, "manager@acme.example")
    panels = _panels(client.get("/").text)
    assert {key: (rows, empty) for key, (rows, empty, _) in panels.items()} == {
        "rfps": ([], "No open RFPs: nothing to bid on, compare or award."),
        "contracts": ([], "No contract waits for a signature or a review."),
        "invoices": ([], "No invoice is outstanding."),
        "studies": ([], "No study is enrolling."),
        "orders": ([], "No open production order."),
        "batches": ([], "No batch has been released or rejected yet."),
    }
    assert panels["invoices"][2] == {"Overdue": "0"}


def test_the_demo_dashboards_show_each_side_its_work(client: TestClient, session: Session) -> None:
    load_demo_world(session)
    session.commit()

    # the sponsor's outsourcing lead: the milestone to review, the late order first
    login(client, "manager@northwind.example", "demo-pass-2026")
    panels = _panels(client.get("/").text)
    assert list(panels) == ["rfps", "contracts", "invoices", "studies", "orders", "batches"]
    rfps, _, _ = panels["rfps"]
    assert [(r.label, r.detail.startswith("bids due "), r.urgent) for r in rfps] == [
        ("NWT-204 chronic toxicology to support Phase III", True, False)
    ]
    contracts, _, _ = panels["contracts"]
    assert [(r.label[:26], r.detail, r.urgent) for r in contracts] == [
        ("WO-2026-0002 milestone 3: ", "submitted: to review", True)
    ]
    invoices, _, figures = panels["invoices"]
    assert figures == {"Outstanding (USD)": "640,000.00", "Overdue": "0"}
    assert [(r.label, r.detail[:21]) for r in invoices] == [
        ("EBP-INV-05870 · WO-2026-0002", "640,000.00 USD due 20")
    ]
    studies, _, _ = panels["studies"]
    assert [r.detail for r in studies] == ["124 of 240 enrolled (52 %) at 44 sites"]
    orders, _, _ = panels["orders"]
    assert [(r.label, r.detail.endswith("· late"), r.urgent) for r in orders] == [
        ("PO-2026-033 NWT-204", True, True),
        ("PO-2026-031 NWT-204", False, False),
    ]
    batches, _, _ = panels["batches"]  # Northwind's own, the newest decision first
    assert [(r.label, r.detail.split()[0]) for r in batches] == [
        ("CB-2311 NWT-204", "released"),
        ("CB-2307 NWT-204", "released"),
        ("NWT-204-I3-26-0001 NWT-204-I3", "released"),
    ]

    # a board observer sees the same rows, none urgent: a viewer cannot sign or award
    client.cookies.clear()
    login(client, "viewer@northwind.example", "demo-pass-2026")
    contracts, _, _ = _panels(client.get("/").text)["contracts"]
    assert [(r.detail, r.urgent) for r in contracts] == [("submitted: to review", False)]

    # the CDMO's project manager: its side of the same milestone, its plant's late order,
    # its bid to make; no sponsor's production-order panel
    client.cookies.clear()
    login(client, "pm@eastbridge.example", "demo-pass-2026")
    panels = _panels(client.get("/").text)
    assert list(panels) == ["rfps", "contracts", "invoices", "studies", "plants", "batches"]
    rfps, _, _ = panels["rfps"]
    assert [r.detail.startswith("your bid is due ") for r in rfps] == [True]
    contracts, _, _ = panels["contracts"]
    assert [(r.detail, r.urgent) for r in contracts] == [("submitted: with the sponsor", False)]
    plants, _, _ = panels["plants"]
    assert [(r.label, r.detail, r.urgent) for r in plants] == [
        ("Changzhou API Plant", plants[0].detail, True)
    ]
    assert plants[0].detail.endswith(", 1 late order")
    assert plants[0].href.endswith("/schedule")
    assert panels["studies"][1] == "No study is enrolling."  # the study is another CRO's
    assert panels["batches"] == ([], "No batch waits for a QA disposition.", {})


def test_the_platform_operator_has_no_tenant_work_panels(
    client: TestClient, session: Session, world: World
) -> None:
    operator(session)  # a member of no organisation
    session.commit()
    login(client, "operator@test.example")
    page = client.get("/").text
    assert 'data-testid="overview"' not in page
    assert "Waiting for you" not in page
    assert 'data-testid="platform"' in page  # their own row instead (test_dashboard_operator)
    assert 'data-testid="kpi-approved"' in page  # the directory's figures stay
