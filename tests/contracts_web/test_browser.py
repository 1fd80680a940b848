"""From RFP to invoice in real Chromium: the sponsor publishes an RFP, the provider bids, the
sponsor compares and awards; then the contract: the sponsor drafts the work order from the award,
sends it for signature and signs it, the provider signs (the work order becomes active) and submits
its first milestone with a deliverable file, the sponsor downloads it and accepts the milestone
(e-signed), the invoice appears for both, the provider issues it with its number.

The app, the live server and the browser are those of the sourcing walk
(``tests/sourcing_web/test_browser.py``); each person has a browser context of their own."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    expect,
)
from sqlalchemy import Engine, update

from opencxo.core.types import utcnow
from opencxo.sourcing.models import Rfp
from tests.browser_support import record_request_failure
from tests.factories import PASSWORD
from tests.sourcing_web import test_browser as sourcing_walk
from tests.sourcing_web.test_browser import WIDTH, Actor, Problems, _log_in, _shot

pytestmark = pytest.mark.browser

# The fixtures of the sourcing walk, as fixtures of this module.
live_server = sourcing_walk.live_server
browser = sourcing_walk.browser
sourcing_world = sourcing_walk.sourcing_world

REPORT = b"%PDF-1.4\n% OpenCXO test: tech transfer report\n"
REPORT_SHA = hashlib.sha256(REPORT).hexdigest()
TODAY = date.today()
WO_NUMBER = f"WO-{TODAY:%Y}-0001"
INVOICE_NUMBER = re.compile(r"^SAW-\d{4}-\d{4}$")
SIGNED_AT = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"


@pytest.fixture
def actors(browser: Browser, live_server: str) -> Iterator[tuple[Actor, Actor, Problems]]:
    """The sponsor's manager and the provider's, each at a browser with its own cookies."""
    problems = Problems()
    made: list[Actor] = []
    for _ in range(2):
        context = browser.new_context(
            base_url=live_server,
            viewport={"width": WIDTH, "height": 900},
            locale="en-GB",
            accept_downloads=True,
        )
        context.set_default_timeout(15_000)
        page = context.new_page()

        def on_response(response: Response) -> None:
            # The walk's one expected refusal: signing the work order with a wrong password.
            if response.status >= 400 and not (
                response.status == 422 and response.url.endswith("/sign")
            ):
                problems.failed.append(f"{response.status} {response.url}")

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.console.append(message.text)

        page.on("response", on_response)
        page.on("console", on_console)
        # (a link that answers with a file turns into a download: Chromium cancels the
        # navigation it started, net::ERR_ABORTED, which the shared rule does not count)
        page.on("requestfailed", lambda request: record_request_failure(problems.failed, request))
        made.append(Actor(page, context))
    yield made[0], made[1], problems
    for actor in made:
        actor.context.close()


def _status(page: Page) -> Locator:
    """The status badge of the work order (or invoice) in the page's header card."""
    return page.locator(
        '[data-testid="work-order-header"] [data-status], [data-testid="invoice-header"] [data-status]'
    )


def _milestone(page: Page, position: int) -> Locator:
    return page.locator(f'tr[data-testid="milestone-row"][data-milestone="{position}"]')


def _milestone_actions(page: Page, position: int) -> Locator:
    """The row of forms under a milestone (submit, or review and decide)."""
    return page.locator(f"tr#milestone-{position} + tr.milestone-actions")


def _award_a_lot(s: Page, p: Page, engine: Engine) -> str:
    """The sourcing part, briefly: a program, an RFP with one lot, the approved provider invited;
    a sealed bid of 120,000.00 + 480,000.50 USD; the deadline passes; compare and award. Returns
    the RFP's address."""
    _log_in(s, "manager@acme.example")
    s.get_by_role("link", name="Programs").click()
    s.get_by_role("link", name="Create your first program").click()
    s.get_by_label("Name").fill("NW-101")
    s.get_by_label("Modality").select_option("small_molecule")
    s.get_by_label("Current phase").select_option("phase_2")
    s.get_by_label("Therapeutic area").fill("Oncology")
    s.get_by_label("Indication").fill("Non-small-cell lung cancer")
    s.get_by_role("button", name="Create program").click()
    expect(s.get_by_role("alert")).to_contain_text("Program NW-101 created.")

    s.get_by_role("link", name="New RFP").click()
    s.get_by_label("Title", exact=True).fill("Phase II API supply")
    deadline = (utcnow() + timedelta(days=14)).strftime("%Y-%m-%dT17:00")
    s.get_by_label("Bid deadline").fill(deadline)
    s.locator("#lot-1-title").fill("API 40 kg")
    s.locator("#lot-1-service").select_option("CMC-GMPAPI")
    expect(s.get_by_label("Quantity (kg)")).to_be_visible()  # swapped in by HTMX
    s.get_by_label("Quantity (kg)").fill("40")
    s.get_by_label("Grade").select_option("GMP")
    s.get_by_label("Target delivery").fill("2027-06-01")
    s.get_by_role("button", name="Save draft").click()
    expect(s.get_by_test_id("rfp-status")).to_have_text("Draft")
    rfp_url = s.url
    suggestion = s.locator('[data-testid="suggestion"][data-provider="Shanghai API Works"]')
    suggestion.get_by_role("button", name="Invite").click()
    expect(s.get_by_role("alert")).to_contain_text("Shanghai API Works invited.")
    s.get_by_test_id("publish").click()
    expect(s.get_by_test_id("rfp-status")).to_have_text("Published")

    _log_in(p, "bids@shanghai.example")
    p.get_by_role("link", name="RFPs & bids").click()
    p.get_by_role("link", name="Phase II API supply").click()
    p.get_by_label("Start date").fill("2027-01-04")
    p.get_by_label("Duration (days)").fill("150")
    p.get_by_label("Lot 1 line 1 description").fill("Process transfer")
    p.get_by_label("Lot 1 line 1 deliverable").fill("Transfer report")
    p.get_by_label("Lot 1 line 1 amount").fill("120000")
    p.get_by_label("Lot 1 line 1 due offset").fill("30")
    p.get_by_label("Lot 1 line 2 description").fill("Delivery of 40 kg")
    p.get_by_label("Lot 1 line 2 deliverable").fill("CoA and batch record")
    p.get_by_label("Lot 1 line 2 amount").fill("480000.50")
    p.get_by_label("Lot 1 line 2 due offset").fill("150")
    p.get_by_test_id("submit-bid").click()
    expect(p.get_by_test_id("my-bid-status")).to_have_text("Submitted")

    rfp_id = uuid.UUID(rfp_url.rsplit("/", 1)[1])
    with engine.begin() as connection:
        connection.execute(
            update(Rfp).where(Rfp.id == rfp_id).values(bid_deadline=utcnow() - timedelta(minutes=1))
        )

    s.reload()
    expect(s.get_by_test_id("rfp-status")).to_have_text("Closed")
    s.get_by_test_id("comparison-link").click()
    expect(s.get_by_test_id("comparison-lot-1")).to_contain_text("600,000.50")
    form = s.get_by_test_id("award-form-1")
    form.get_by_label("Rationale").fill("Approved supplier, single GMP bid")
    form.get_by_label("Your password (e-signature)").fill(PASSWORD)
    form.get_by_role("button", name="Award and sign").click()
    expect(s.get_by_role("alert")).to_contain_text(
        "Lot 1 awarded to Shanghai API Works for 600,000.50 USD — signed by Test User (awarded)"
    )
    return rfp_url


def test_award_to_work_order_to_milestone_to_invoice(
    actors: tuple[Actor, Actor, Problems],
    sourcing_world: None,
    engine: Engine,
    tmp_path: Path,
) -> None:
    sponsor, provider, problems = actors
    s, p = sponsor.page, provider.page
    rfp_url = _award_a_lot(s, p, engine)

    # --- the sponsor drafts the work order from the award (net 45 days) ------------------------
    s.goto(rfp_url)
    expect(s.get_by_test_id("rfp-status")).to_have_text("Awarded")
    contract = s.get_by_test_id("contract")
    contract.get_by_label("Payment terms (net days)").fill("45")
    contract.get_by_role("button", name="Draft work order").click()
    expect(s.get_by_role("alert")).to_have_text(
        f"Work order {WO_NUMBER} drafted from the award: 2 milestone(s), 600,000.50 USD, net 45 "
        "days. Check it, then send it for signature."
    )
    expect(s.get_by_test_id("wo-number")).to_have_text(WO_NUMBER)
    expect(_status(s)).to_have_text("Draft")
    expect(s.get_by_test_id("total-value")).to_have_text("600,000.50 USD")
    expect(s.get_by_test_id("payment-terms")).to_have_text("net 45 days from the invoice date")
    expect(s.get_by_test_id("sponsor")).to_have_text("Acme Therapeutics")
    expect(s.get_by_test_id("provider")).to_have_text("Shanghai API Works")
    expect(s.locator("#milestones tbody tr[data-testid=milestone-row]")).to_have_count(2)
    expect(_milestone(s, 1)).to_contain_text("Process transfer")
    expect(_milestone(s, 1)).to_contain_text("Deliverable: Transfer report")
    expect(_milestone(s, 1)).to_contain_text("2027-02-03")  # the start plus 30 days
    expect(_milestone(s, 1).locator("td").nth(3)).to_have_text("120,000.00 USD")
    expect(_milestone(s, 2).locator("td").nth(3)).to_have_text("480,000.50 USD")
    expect(_milestone(s, 1).locator("[data-status]")).to_have_text("Planned")
    work_order_url = s.url

    # The award now links to its work order instead of offering a second one.
    s.goto(rfp_url)
    expect(s.get_by_test_id("contract")).to_have_text("Open the work order →")
    s.get_by_role("link", name="Open the work order →").click()
    expect(s.get_by_test_id("wo-number")).to_have_text(WO_NUMBER)

    # --- sent for signature; the sponsor signs (a wrong password first: an error, input kept) --
    s.get_by_test_id("send-for-signature").click()
    expect(s.get_by_role("alert")).to_have_text(
        f"{WO_NUMBER} sent for signature to Acme Therapeutics and Shanghai API Works."
    )
    expect(_status(s)).to_have_text("Pending signature")
    expect(s.get_by_test_id("awaiting")).to_have_text(
        "Awaiting signature from Acme Therapeutics, Shanghai API Works."
    )
    form = s.get_by_test_id("sign-form")
    form.get_by_label("Your password (e-signature)").fill("not-my-password")
    form.get_by_label("Meaning of your signature").select_option("approved")
    form.get_by_role("button", name="Sign work order").click()
    expect(s.locator('[data-field-error="password"]')).to_have_text(
        "the password is wrong; a signature needs your own password"
    )
    form = s.get_by_test_id("sign-form")
    expect(form.get_by_label("Meaning of your signature")).to_have_value("approved")
    expect(form.get_by_label("Your password (e-signature)")).to_have_value("")
    form.get_by_label("Your password (e-signature)").fill(PASSWORD)
    form.get_by_label("Meaning of your signature").select_option("executed")
    form.get_by_role("button", name="Sign work order").click()
    expect(s.get_by_role("alert")).to_have_text(
        re.compile(
            rf"^\s*{WO_NUMBER} signed by Test User \(executed\) at {SIGNED_AT}\. "
            r"Awaiting signature from Shanghai API Works\.\s*$"
        )
    )
    expect(_status(s)).to_have_text("Pending signature")
    signatures = s.get_by_test_id("wo-signatures").get_by_test_id("signature")
    expect(signatures).to_have_count(1)
    expect(signatures.first).to_contain_text("Acme Therapeutics")
    expect(signatures.first).to_contain_text("Test User <manager@acme.example>")
    expect(signatures.first).to_contain_text("executed")
    expect(s.get_by_test_id("sign-form")).to_have_count(0)  # signed once is enough

    # --- the provider finds it in its work orders and signs: the work order is active ----------
    p.get_by_role("link", name="Work orders").click()
    row = p.get_by_test_id("work-order-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Acme Therapeutics")
    expect(row.locator("[data-status]")).to_have_text("Pending signature")
    expect(row.get_by_test_id("value")).to_have_text("600,000.50 USD")
    row.get_by_role("link", name=WO_NUMBER).click()
    expect(p.get_by_test_id("awaiting")).to_have_text("Awaiting signature from Shanghai API Works.")
    form = p.get_by_test_id("sign-form")
    form.get_by_label("Your password (e-signature)").fill(PASSWORD)
    form.get_by_label("Meaning of your signature").select_option("approved")
    form.get_by_role("button", name="Sign work order").click()
    expect(p.get_by_role("alert")).to_have_text(
        re.compile(
            rf"^\s*{WO_NUMBER} signed by Test User \(approved\) at {SIGNED_AT}\. "
            r"Both parties have signed: the work order is active\.\s*$"
        )
    )
    expect(_status(p)).to_have_text("Active")
    expect(p.get_by_test_id("wo-signatures").get_by_test_id("signature")).to_have_count(2)

    # --- the provider submits milestone 1 with its deliverable ---------------------------------
    actions = _milestone_actions(p, 1)
    actions.get_by_text("Submit as complete").click()
    actions.get_by_label("Deliverable files").set_input_files(
        {"name": "transfer-report.pdf", "mimeType": "application/pdf", "buffer": REPORT}
    )
    actions.get_by_label("Note to the sponsor").fill("Report of the three demonstration batches")
    actions.get_by_role("button", name="Submit milestone").click()
    expect(p.get_by_role("alert")).to_have_text(
        "Milestone 1 submitted for the sponsor's review with transfer-report.pdf "
        f"(SHA-256 {REPORT_SHA[:12]}…)."
    )
    expect(_milestone(p, 1).locator("[data-status]")).to_have_text("Submitted")
    deliverable = _milestone(p, 1).get_by_test_id("deliverable")
    expect(deliverable).to_contain_text(f"transfer-report.pdf {len(REPORT)} bytes")
    expect(deliverable).to_contain_text(f"SHA-256 {REPORT_SHA[:12]}…")
    expect(deliverable).to_contain_text("Report of the three demonstration batches")
    expect(_milestone(p, 2).locator("[data-status]")).to_have_text("Planned")
    _shot(p, tmp_path, "work-order-provider")

    # --- the sponsor downloads the deliverable and accepts the milestone (e-signed) -----------
    s.goto(work_order_url)
    expect(_status(s)).to_have_text("Active")
    expect(_milestone(s, 1).locator("[data-status]")).to_have_text("Submitted")
    with s.expect_download() as download:
        _milestone(s, 1).get_by_role("link", name="transfer-report.pdf").click()
    assert download.value.suggested_filename == "transfer-report.pdf"
    assert Path(download.value.path()).read_bytes() == REPORT

    decide = _milestone_actions(s, 1)
    expect(decide.get_by_test_id("decide-milestone")).to_have_attribute("open", "")
    decide.get_by_label("Your password (e-signature)").fill(PASSWORD)
    decide.get_by_role("button", name="Accept and sign").click()
    expect(s.get_by_role("alert")).to_have_text(
        re.compile(
            rf"^\s*Milestone 1 accepted and signed by Test User at {SIGNED_AT}\. Its invoice of "
            r"120,000\.00 USD is drafted for the provider to issue\.\s*$"
        )
    )
    expect(_milestone(s, 1).locator("[data-status]")).to_have_text("Accepted")
    expect(_milestone(s, 1).get_by_test_id("milestone-signature")).to_have_text(
        re.compile(rf"^\s*accepted by Test User, {SIGNED_AT}\s*$")
    )
    expect(s.get_by_test_id("work-order-header")).to_contain_text("1 of 2 accepted")
    expect(_milestone(s, 2).get_by_test_id("invoice-link")).to_have_count(0)
    _shot(s, tmp_path, "work-order-sponsor")

    # --- the invoice appears: on the work order, on its own page, in the invoices list ---------
    _milestone(s, 1).get_by_test_id("invoice-link").click()
    expect(s.get_by_test_id("invoice-number")).to_have_text("Draft invoice")
    expect(_status(s)).to_have_text("Draft")
    expect(s.get_by_test_id("amount")).to_have_text("120,000.00 USD")
    expect(s.get_by_test_id("outstanding")).to_have_text("120,000.00 USD")
    expect(s.get_by_test_id("next-step")).to_have_text(
        "You accepted this milestone. Shanghai API Works now issues the invoice; "
        "you can pay it once it is issued."
    )
    s.get_by_role("link", name="Invoices").first.click()
    invoice = s.get_by_test_id("invoice-row")
    expect(invoice).to_have_count(1)
    cells = invoice.locator("td")
    expect(cells.nth(0)).to_have_text("Draft — not issued")
    expect(cells.nth(1)).to_have_text(WO_NUMBER)
    expect(cells.nth(2)).to_have_text("1. Process transfer")
    expect(cells.nth(3)).to_have_text("Draft")
    expect(cells.nth(4)).to_have_text("120,000.00 USD")
    expect(cells.nth(5)).to_have_text("0.00 USD")
    expect(cells.nth(6)).to_have_text("120,000.00 USD")

    # --- the provider issues it with its own number; the sponsor sees it due -------------------
    p.get_by_role("link", name="Invoices").first.click()
    p.get_by_role("link", name="Draft — not issued").click()
    p.get_by_label("Invoice number").fill("SAW-2027-0042")
    expect(p.get_by_label("Issue date")).to_have_value(TODAY.isoformat())
    p.get_by_role("button", name="Issue invoice").click()
    due = TODAY + timedelta(days=45)
    expect(p.get_by_role("alert")).to_have_text(
        f"Invoice SAW-2027-0042 issued for 120,000.00 USD, due on {due.isoformat()}."
    )
    expect(p.get_by_test_id("invoice-number")).to_have_text("Invoice SAW-2027-0042")
    expect(_status(p)).to_have_text("Issued")

    s.reload()
    invoice = s.get_by_test_id("invoice-row")
    cells = invoice.locator("td")
    expect(cells.nth(0)).to_have_text(INVOICE_NUMBER)
    expect(cells.nth(0)).to_have_text("SAW-2027-0042")
    expect(cells.nth(3)).to_have_text("Issued")
    expect(cells.nth(4)).to_have_text("120,000.00 USD")
    expect(cells.nth(6)).to_have_text("120,000.00 USD")
    expect(cells.nth(7)).to_have_text(due.isoformat())
    expect(s.get_by_test_id("outstanding-USD")).to_have_text("120,000.00")
    _shot(s, tmp_path, "invoices-sponsor")

    s.goto(work_order_url)
    expect(_milestone(s, 1).get_by_test_id("invoice-link")).to_have_attribute(
        "href", re.compile(r"^/invoices/[0-9a-f-]{36}$")
    )
    s.get_by_role("link", name="Work orders").first.click()
    row = s.get_by_test_id("work-order-row")
    expect(row.locator("[data-status]")).to_have_text("Active")
    expect(row.get_by_test_id("value")).to_have_text("600,000.50 USD")
    expect(row.get_by_test_id("paid")).to_have_text("0.00 USD")
    _shot(s, tmp_path, "work-orders-sponsor")

    assert problems.failed == []
    # Chromium logs the one expected refusal (the wrong password) as a failed load.
    assert problems.console == [
        "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ]
