"""From a production order to its released batch in real Chromium.

The CDMO's planner creates an order for sponsor B's API-B (30 kg: one batch of 40 kg × 0.90 ×
0.97 = 34.92 kg), plans it, solves the plant's schedule (2 s) and reads the Gantt and the
operations; then executes the batch: starts it, records both steps (unit, start, end, yield),
completes it with the quantity made and records a QC result for each of API-B's three release
tests. QA signs the release (password and meaning); the banner shows who signed, when and what
it means, and the certificate of analysis lists the results. Sponsor B opens the certificate;
sponsor A gets 404 at the batch. The database holds the released batch and its signature row.

The live server, the browser and the helpers are those of the sourcing walk
(``tests/sourcing_web/test_browser.py``); the plant is the manufacturing tests' ``plant``
(``tests/manufacturing/conftest.py``) with two more API-B tests (``walk_plant``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from opencxo.core.signatures import Signature
from opencxo.core.types import utcnow
from opencxo.manufacturing.models import Batch, BatchStep, ProductionOrder, QcResult, Schedule
from tests.browser_support import record_request_failure
from tests.factories import PASSWORD
from tests.manufacturing.conftest import TODAY, PlantWorld
from tests.sourcing_web import test_browser as sourcing_walk
from tests.sourcing_web.test_browser import WIDTH, Problems, _log_in, _shot

pytestmark = pytest.mark.browser

# The fixtures of the sourcing walk, as fixtures of this module.
live_server = sourcing_walk.live_server
browser = sourcing_walk.browser

ORDER = "PO-B-7"
BATCH_URL = re.compile(r"/mfg/batches/([0-9a-f-]{36})")
MINUTE = "%Y-%m-%dT%H:%M"  # what a datetime-local input takes


@pytest.fixture
def walker(browser: Browser, live_server: str) -> Iterator[tuple[Page, Problems]]:
    """One browser for everybody in turn (each logs out for the next); confirmation dialogs
    are accepted, as a person would."""
    problems = Problems()
    context = browser.new_context(
        base_url=live_server, viewport={"width": WIDTH, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()

    def on_response(response: Response) -> None:
        # The walk's one expected refusal: sponsor A at sponsor B's batch (404).
        expected = response.status == 404 and BATCH_URL.search(response.url)
        if response.status >= 400 and not expected:
            problems.failed.append(f"{response.status} {response.url}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.console.append(message.text)

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("requestfailed", lambda request: record_request_failure(problems.failed, request))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page, problems
    context.close()


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))


def test_order_to_released_batch(
    walker: tuple[Page, Problems], walk_plant: PlantWorld, engine: Engine, tmp_path: Path
) -> None:
    page, problems = walker
    world = walk_plant
    due = TODAY + timedelta(days=25)

    # --- the planner creates the order
    _log_in(page, world.emails["planner"])
    page.goto("/mfg/orders/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("New production order")
    form = page.get_by_test_id("order-form")
    form.get_by_label("Product", exact=True).select_option(value=str(world.products["API-B"]))
    form.get_by_label("Plant", exact=True).select_option(value=str(world.plant_id))
    form.get_by_label("Quantity (product unit)").fill("30")
    form.get_by_label("Due date").fill(due.isoformat())
    form.get_by_label("Priority (1–10)").fill("5")
    form.get_by_label("Order number").fill(ORDER)
    _shot(page, tmp_path, "mfg-order-form")
    form.get_by_role("button", name="Create order").click()

    expect(page.get_by_role("alert").first).to_contain_text(f"Order {ORDER} created.")
    expect(page.get_by_role("heading", level=1)).to_contain_text(ORDER)
    expect(page.get_by_test_id("order-facts")).to_contain_text("30 kg of API-B")
    expect(page.get_by_test_id("order-facts")).to_contain_text("for Sponsor B Pharma")
    expect(page.get_by_test_id("batches-empty")).to_be_visible()
    with Session(engine) as db:
        order = db.scalars(select(ProductionOrder).where(ProductionOrder.number == ORDER)).one()
        order_id = order.id
        assert (order.product_id, order.sponsor_id) == (
            world.products["API-B"],
            world.sponsor_b_id,
        )
        assert (order.quantity, order.due_date, order.priority) == (Decimal("30"), due, 5)

    # --- plans its batches: 30 kg in one batch of 34.92 kg (no intermediate for API-B)
    page.get_by_test_id("plan-batches").get_by_role("button", name="Plan batches").click()
    expect(page.get_by_role("alert").first).to_contain_text("Planned: the order has 1 batches")
    rows = page.get_by_test_id("batch-row")
    expect(rows).to_have_count(1)
    with Session(engine) as db:
        [batch] = db.scalars(select(Batch).where(Batch.order_id == order_id)).all()
        batch_id, number = batch.id, batch.batch_number
        assert batch.product_id == world.products["API-B"]
        assert batch.planned_quantity == Decimal("34.920")
        assert batch.status == "planned"
    assert re.fullmatch(r"API-B-\d{2,4}-0001", number), number
    expect(rows.first).to_contain_text(number)
    expect(rows.first).to_contain_text("API-B")
    _shot(page, tmp_path, "mfg-order-planned")

    # --- the plant's schedule: solve for 2 s (the test app runs the job in the request)
    page.get_by_test_id("order-facts").get_by_role("link", name="Main plant").click()
    page.get_by_test_id("schedule-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Schedule of Main plant")
    expect(page.get_by_test_id("no-schedule")).to_be_visible()
    solve = page.get_by_test_id("solve-form")
    solve.get_by_label("Time limit (s)").fill("2")
    solve.get_by_label("Workers").fill("1")
    solve.get_by_test_id("solve-submit").click()
    expect(page).to_have_url(re.compile(r"/mfg/schedules/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("schedule-progress")).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("solver-status")).to_have_text(re.compile("OPTIMAL|FEASIBLE"))

    page.get_by_role("navigation", name="breadcrumb").get_by_role(
        "link", name="Main plant schedule"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Schedule of Main plant")
    expect(page.get_by_test_id("schedule-kpis")).to_contain_text("Done")
    gantt = page.locator("#plant-gantt.js-plotly-plot")
    expect(gantt.locator(".main-svg").first).to_be_visible()
    expect(gantt.locator(".gtitle")).to_contain_text("Main plant: schedule by unit")
    operations = page.get_by_test_id("operations").locator("tbody tr")
    expect(operations).to_have_count(2)  # the batch's two steps; the other orders are unplanned
    expect(operations.nth(0)).to_contain_text(number)
    expect(operations.nth(0)).to_contain_text(ORDER)
    expect(operations.nth(0)).to_contain_text("1 Salt formation")
    expect(operations.nth(1)).to_contain_text("2 Drying")
    expect(page.get_by_test_id("no-late-orders")).to_be_visible()
    _shot(page, tmp_path, "mfg-schedule")
    with Session(engine) as db:
        schedule = db.scalars(select(Schedule).where(Schedule.is_current)).one()
        assert schedule.status == "done"
        assert schedule.solver_status in ("OPTIMAL", "FEASIBLE")

    # --- back to the order, to its batch
    page.goto(f"/mfg/orders/{order_id}")
    page.get_by_test_id("batch-row").get_by_role("link", name=number).click()
    expect(page).to_have_url(re.compile(rf"/mfg/batches/{batch_id}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Batch {number}")

    # start it two days ago, so every step lies in the past
    started = (utcnow() - timedelta(days=2)).replace(second=0, microsecond=0)
    start_form = page.get_by_test_id("start-form")
    start_form.get_by_label("Started at (UTC; empty: now)").fill(started.strftime(MINUTE))
    start_form.get_by_role("button", name="Start").click()
    expect(page.get_by_role("alert").first).to_contain_text("Batch started")
    expect(page.get_by_test_id("step-row")).to_have_count(2)

    steps = [
        (1, "R-102", started, started + timedelta(hours=14), "0.91"),
        (2, "D-301", started + timedelta(hours=15), started + timedelta(hours=27), "0.97"),
    ]
    for sequence, unit, begins, ends, fraction in steps:
        page.get_by_text(f"Record step {sequence}", exact=True).click()
        step = page.locator(f"#step-{sequence}")
        step.get_by_label("Unit").select_option(value=str(world.units[unit]))
        step.get_by_label("Start (UTC)").fill(begins.strftime(MINUTE))
        step.get_by_label("End (UTC)").fill(ends.strftime(MINUTE))
        step.get_by_label("Yield").fill(fraction)
        step.get_by_label("Performed by").fill("L. Operator")
        step.get_by_role("button", name=f"Save step {sequence}").click()
        expect(page.get_by_role("alert").first).to_contain_text(f"Step {sequence} recorded.")
        row = page.get_by_test_id("step-row").nth(sequence - 1)
        expect(row).to_contain_text(unit)
        expect(row).to_contain_text(fraction)
    _shot(page, tmp_path, "mfg-batch-in-progress")

    complete = page.get_by_test_id("complete-form")
    complete.get_by_label("Actual quantity (kg)").fill("31.4")
    complete.get_by_role("button", name="Complete").click()
    expect(page.get_by_role("alert").first).to_contain_text("Batch completed")
    expect(page.get_by_test_id("batch-header")).to_contain_text("31.4")

    # QC: one result per release test of API-B
    today = utcnow().date().isoformat()
    expect(page.get_by_test_id("missing-results")).to_contain_text("Assay")
    results = [("Assay", "100.2", None), ("Water (KF)", "0.31", None), ("Appearance", None, "true")]
    for test, value, conforms in results:
        page.get_by_text(f"Record {test}", exact=True).click()
        qc = page.locator(f"#qc-{world.specifications[f'API-B/{test}']}")
        if value is not None:
            qc.get_by_label(re.compile(r"^Value")).fill(value)
        else:
            qc.get_by_label("Conforms?").select_option(value=conforms)
            qc.get_by_label("Observation").fill("White crystalline powder")
        qc.get_by_label("Tested on").fill(today)
        qc.get_by_label("Analyst").fill("M. Chemist")
        qc.get_by_role("button", name="Save result").click()
        expect(page.get_by_role("alert").first).to_contain_text(f"{test} recorded.")
    expect(page.get_by_test_id("missing-results")).to_have_count(0)
    expect(page.get_by_test_id("qc-row")).to_have_count(3)
    expect(page.locator("body")).to_contain_text("QA can release it")
    _shot(page, tmp_path, "mfg-batch-completed")
    _log_out(page)

    # --- QA releases with the e-signature
    _log_in(page, world.emails["qa"])
    page.goto(f"/mfg/batches/{batch_id}")
    release = page.get_by_test_id("release-form")
    expect(release.get_by_label("Meaning of your signature")).to_have_value("released")
    release.get_by_label("Your password (e-signature)").fill(PASSWORD)
    release.get_by_role("button", name="Sign and release").click()
    expect(page.get_by_role("alert").first).to_contain_text("Batch released with your e-signature")
    banner = page.get_by_test_id("disposition-banner")
    expect(banner).to_contain_text("Released by QA")
    expect(banner).to_contain_text(f"e-signed by Test User <{world.emails['qa']}> on {today}")
    expect(banner.get_by_test_id("signature-meaning")).to_have_text("released")
    expect(page.get_by_test_id("signature")).to_have_count(1)
    _shot(page, tmp_path, "mfg-batch-released")

    page.get_by_test_id("coa-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Certificate of analysis")
    expect(page.get_by_test_id("coa-batch")).to_have_text(number)
    tests = page.get_by_test_id("coa-test")
    expect(tests).to_have_count(3)
    expect(tests.nth(0)).to_contain_text("Assay")
    expect(tests.nth(0)).to_contain_text("100.2")
    expect(tests.nth(1)).to_contain_text("0.31")
    for i in range(3):
        expect(tests.nth(i).locator("td").last).to_have_text("yes")
    expect(page.get_by_test_id("coa-facts")).to_contain_text("31.4 kg")
    expect(page.get_by_test_id("coa-facts")).to_contain_text("Sponsor B Pharma")
    expect(page.get_by_test_id("coa-signature")).to_contain_text(
        f"Released by Test User <{world.emails['qa']}>"
    )
    _shot(page, tmp_path, "mfg-coa")
    _log_out(page)

    # --- the product's sponsor reads the certificate; the other sponsor sees nothing
    _log_in(page, world.emails["other_sponsor"])
    answer = page.goto(f"/mfg/batches/{batch_id}/coa")
    assert answer is not None and answer.status == 200
    expect(page.get_by_test_id("coa-batch")).to_have_text(number)
    expect(page.get_by_test_id("coa-test")).to_have_count(3)
    _log_out(page)
    _log_in(page, world.emails["sponsor"])
    answer = page.goto(f"/mfg/batches/{batch_id}")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_contain_text("Not found")
    expect(page.locator("body")).not_to_contain_text(number)

    # --- the database: the batch released under QA's signature, with its record
    with Session(engine) as db:
        batch = db.get(Batch, batch_id)
        assert batch is not None
        assert (batch.status, batch.actual_quantity) == ("released", Decimal("31.4"))
        assert batch.started_at == started
        db_steps = db.scalars(
            select(BatchStep).where(BatchStep.batch_id == batch_id).order_by(BatchStep.sequence)
        ).all()
        assert [
            (s.unit_id, s.started_at, s.ended_at, s.actual_yield_fraction) for s in db_steps
        ] == [
            (world.units[unit], begins, ends, Decimal(fraction))
            for _, unit, begins, ends, fraction in steps
        ]
        qc_rows = db.scalars(select(QcResult).where(QcResult.batch_id == batch_id)).all()
        assert len(qc_rows) == 3 and not any(r.out_of_specification for r in qc_rows)
        signature = db.get(Signature, batch.disposition_signature_id)
        assert signature is not None
        assert (signature.entity_id, signature.meaning, signature.signer_email) == (
            str(batch_id),
            "released",
            world.emails["qa"],
        )
        assert signature.organization_id == world.provider_id
        assert len(signature.record_sha256) == 64
    assert isinstance(batch_id, uuid.UUID)
    assert problems.failed == []
    # Chromium logs the one expected refusal (sponsor A at B's batch) as a failed load.
    assert problems.console == [
        "Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
