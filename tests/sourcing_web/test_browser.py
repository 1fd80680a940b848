"""Sourcing end to end in real Chromium: a sponsor creates a program and an RFP, invites and
publishes; a provider bids; the deadline passes; the sponsor compares (with the Plotly chart) and
awards with an e-signature; the provider sees that it won."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from opencxo.core.settings import Settings
from opencxo.core.types import utcnow
from opencxo.sourcing.models import Rfp
from tests.browser_support import record_request_failure
from tests.factories import (
    PASSWORD,
    make_organization,
    make_provider,
    make_qualification,
    make_user,
)
from tests.live_server import serving

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
WIDTH = 1280

if not CHROMIUM.exists():
    pytest.skip("no Chromium at /usr/bin/chromium", allow_module_level=True)

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    expect,
    sync_playwright,
)


@pytest.fixture
def live_server(settings: Settings, engine: Engine) -> Iterator[str]:
    """The real app on 127.0.0.1 in a background thread; stopped before the database is wiped."""
    with serving(settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Problems:
    """What the pages complained about: failed requests and console errors."""

    failed: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@dataclass
class Actor:
    page: Page
    context: BrowserContext


@pytest.fixture
def actors(browser: Browser, live_server: str) -> Iterator[tuple[Actor, Actor, Problems]]:
    """Two people at two browsers (own cookies): the sponsor's manager and the provider's."""
    problems = Problems()
    made: list[Actor] = []
    for _ in range(2):
        context = browser.new_context(
            base_url=live_server, viewport={"width": WIDTH, "height": 900}, locale="en-GB"
        )
        context.set_default_timeout(15_000)
        page = context.new_page()

        def on_response(response: Response) -> None:
            # The walk's one expected refusal is the award with a wrong password (422).
            if response.status >= 400 and not (
                response.status == 422 and response.url.endswith("/award")
            ):
                problems.failed.append(f"{response.status} {response.url}")

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.console.append(message.text)

        page.on("response", on_response)
        page.on("console", on_console)
        page.on("requestfailed", lambda request: record_request_failure(problems.failed, request))
        made.append(Actor(page, context))
    yield made[0], made[1], problems
    for actor in made:
        actor.context.close()


@pytest.fixture
def sourcing_world(session: Session) -> None:
    """Acme Therapeutics (a manager) has approved Shanghai API Works (GMP API, CN; a manager)."""
    sponsor = make_organization(session, name="Acme Therapeutics", country="US")
    manager = make_user(
        session, organization_id=sponsor.id, role="manager", email="manager@acme.example"
    )
    provider = make_provider(
        session, name="Shanghai API Works", country="CN", service_codes=("CMC-GMPAPI",)
    )
    make_user(session, organization_id=provider.id, role="manager", email="bids@shanghai.example")
    make_qualification(session, sponsor_user=manager, provider_id=provider.id)
    session.commit()


def _log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Test User")


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    """A full-page screenshot; kept in $OPENCXO_SCREENSHOTS when set, for a person to look at."""
    page.wait_for_load_state("networkidle")
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, f"{name}: the screenshot is (nearly) blank"
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= WIDTH, f"{name} overflows horizontally: {scroll_width}px"
    keep = os.environ.get("OPENCXO_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)


def test_publish_bid_compare_award(
    actors: tuple[Actor, Actor, Problems],
    sourcing_world: None,
    engine: Engine,
    live_server: str,
    tmp_path: Path,
) -> None:
    sponsor, provider, problems = actors
    s = sponsor.page

    # --- the sponsor: a program, then an RFP with a lot whose scope fields follow the service
    _log_in(s, "manager@acme.example")
    s.get_by_role("link", name="Programs").click()
    expect(s.get_by_test_id("programs-empty")).to_be_visible()
    s.get_by_role("link", name="Create your first program").click()
    s.get_by_label("Name").fill("NW-101")
    s.get_by_label("Modality").select_option("small_molecule")
    s.get_by_label("Current phase").select_option("phase_2")
    s.get_by_label("Therapeutic area").fill("Oncology")
    s.get_by_label("Indication").fill("Non-small-cell lung cancer")
    s.get_by_role("button", name="Create program").click()
    expect(s.get_by_test_id("program-name")).to_have_text("NW-101")
    expect(s.get_by_role("alert")).to_contain_text("Program NW-101 created.")

    s.get_by_role("link", name="New RFP").click()
    expect(s.get_by_label("Program")).to_have_value(re.compile(r"^[0-9a-f-]{36}$"))
    s.get_by_label("Title", exact=True).fill("Phase II API supply")
    s.get_by_label("Background").fill("40 kg of GMP API for the Phase II study.")
    deadline = (utcnow() + timedelta(days=14)).strftime("%Y-%m-%dT17:00")
    s.get_by_label("Bid deadline").fill(deadline)
    s.get_by_label("Time zone of the deadline").select_option("Europe/Paris")
    s.get_by_label("Price (%)").fill("50")
    expect(s.get_by_test_id("weight-sum")).to_have_text("110")
    s.get_by_label("Price (%)").fill("40")
    expect(s.get_by_test_id("weight-sum")).to_have_text("100")
    s.get_by_label("GMP", exact=True).check()

    s.evaluate("window.__notReloaded = true")
    s.locator("#lot-1-title").fill("API 40 kg")
    s.locator("#lot-1-service").select_option("CMC-GMPAPI")
    expect(s.get_by_label("Quantity (kg)")).to_be_visible()  # swapped in by HTMX
    s.get_by_label("Quantity (kg)").fill("40")
    s.get_by_label("Grade").select_option("GMP")
    s.get_by_label("Target delivery").fill("2027-06-01")
    s.get_by_role("button", name="Add lot").click()
    expect(s.get_by_test_id("lot-2")).to_be_visible()
    # HTMX wires up swapped-in content once it settles (then drops the htmx-added class).
    expect(s.get_by_test_id("lot-2")).not_to_have_class(re.compile("htmx-added"))
    s.locator("#lot-2-service").select_option("PRE-GLPTOX")
    expect(s.get_by_label("Species")).to_be_visible()
    s.get_by_role("button", name="Remove lot 2").click()
    expect(s.get_by_test_id("lot-2")).to_have_count(0)
    assert s.evaluate("window.__notReloaded") is True
    s.get_by_role("button", name="Save draft").click()

    expect(s.get_by_test_id("rfp-title")).to_contain_text("Phase II API supply")
    expect(s.get_by_test_id("rfp-status")).to_have_text("Draft")
    expect(s.get_by_role("alert")).to_contain_text("saved as a draft")
    rfp_url = s.url
    rfp_id = rfp_url.rsplit("/", 1)[1]

    # --- invite the suggested, approved provider and publish
    suggestion = s.locator('[data-testid="suggestion"][data-provider="Shanghai API Works"]')
    suggestion.get_by_role("button", name="Invite").click()
    expect(s.get_by_role("alert")).to_contain_text("Shanghai API Works invited.")
    expect(s.get_by_test_id("invitations")).to_contain_text("Shanghai API Works")
    s.get_by_test_id("publish").click()
    expect(s.get_by_test_id("rfp-status")).to_have_text("Published")
    expect(s.get_by_test_id("bids-received")).to_have_text("0 of 1")

    # --- the provider: the bell counts the invitation; a bid on the lot, submitted
    p = provider.page
    _log_in(p, "bids@shanghai.example")
    expect(p.get_by_test_id("unread-count")).to_have_text("1")
    p.get_by_role("link", name="RFPs & bids").click()
    expect(p.get_by_test_id("rfps")).to_contain_text("Phase II API supply")
    expect(p.get_by_test_id("my-bid-status")).to_contain_text("not started")
    p.get_by_role("link", name="Phase II API supply").click()
    expect(p.get_by_test_id("rfp-title")).to_contain_text("Phase II API supply")
    p.get_by_label("Start date").fill("2027-01-04")
    p.get_by_label("Duration (days)").fill("150")
    p.get_by_label("Assumptions").fill("Starting material supplied by the sponsor")
    p.get_by_label("Lot 1 line 1 description").fill("Process transfer")
    p.get_by_label("Lot 1 line 1 amount").fill("120000")
    p.get_by_label("Lot 1 line 1 due offset").fill("30")
    p.get_by_label("Lot 1 line 2 description").fill("Delivery of 40 kg")
    p.get_by_label("Lot 1 line 2 amount").fill("480000.50")
    p.get_by_label("Lot 1 line 2 due offset").fill("150")
    p.get_by_test_id("submit-bid").click()
    expect(p.get_by_role("alert")).to_contain_text("Bid submitted.")
    expect(p.get_by_test_id("my-bid-status")).to_have_text("Submitted")
    _shot(p, tmp_path, "rfp-provider")

    # The sponsor sees the tick, not the bid.
    s.reload()
    expect(s.get_by_test_id("bids-received")).to_have_text("1 of 1")
    assert "480,000.50" not in s.content() and "Process transfer" not in s.content()
    _shot(s, tmp_path, "rfp-sponsor")

    # --- the deadline passes
    with engine.begin() as connection:
        connection.execute(
            update(Rfp)
            .where(Rfp.id == uuid.UUID(rfp_id))
            .values(bid_deadline=utcnow() - timedelta(minutes=1))
        )

    # --- the sponsor compares (chart, export) and awards with an e-signature
    s.reload()
    expect(s.get_by_test_id("rfp-status")).to_have_text("Closed")
    s.get_by_test_id("comparison-link").click()
    expect(s.get_by_role("heading", level=1)).to_contain_text("Compare bids")
    expect(s.locator("#score-chart .main-svg").first).to_be_visible()
    expect(s.locator("#score-chart .gtitle")).to_contain_text("Weighted score per lot")
    expect(s.locator("#score-chart .xtitle")).to_have_text("Provider")
    expect(s.locator("#score-chart .ytitle")).to_contain_text("Weighted score")
    expect(s.locator("#score-chart .point")).to_have_count(1)
    expect(s.get_by_test_id("comparison-lot-1")).to_contain_text("600,000.50")
    expect(s.get_by_test_id("export")).to_have_attribute("href", f"/rfps/{rfp_id}/comparison.xlsx")
    _shot(s, tmp_path, "comparison")

    form = s.get_by_test_id("award-form-1")
    form.get_by_label("Rationale").fill("Approved supplier, single GMP bid")
    form.get_by_label("Your password (e-signature)").fill("not-my-password")
    form.get_by_role("button", name="Award and sign").click()
    error = s.locator('[data-field-error="password"]')
    expect(error).to_have_text("the password is wrong; a signature needs your own password")
    form = s.get_by_test_id("award-form-1")
    expect(form.get_by_label("Rationale")).to_have_value("Approved supplier, single GMP bid")
    form.get_by_label("Your password (e-signature)").fill(PASSWORD)
    form.get_by_role("button", name="Award and sign").click()
    expect(s.get_by_role("alert")).to_contain_text(
        "Lot 1 awarded to Shanghai API Works for 600,000.50 USD — signed by Test User (awarded)"
    )
    expect(s.get_by_test_id("award-1")).to_contain_text("E-signed by Test User")
    _shot(s, tmp_path, "comparison-awarded")
    s.goto(rfp_url)
    expect(s.get_by_test_id("rfp-status")).to_have_text("Awarded")
    expect(s.get_by_test_id("signature")).to_contain_text("awarded")

    # --- the provider learns it won
    p.reload()
    expect(p.get_by_test_id("outcome")).to_have_text("Awarded")
    expect(p.get_by_test_id("unread-count")).to_have_text("2")
    _shot(p, tmp_path, "rfp-provider-awarded")

    assert problems.failed == []
    # Chromium logs the one expected refusal (the wrong password) as a failed load.
    assert problems.console == [
        "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ]
