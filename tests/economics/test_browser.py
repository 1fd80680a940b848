"""The economics pages in real Chromium: upload a scenario, run the valuation (three charts
draw), compute the tornado in place (HTMX), make an outsourced variant and read the comparison,
with no failed request and no console error.

The app, the live server and the browser are those of the sourcing walk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import watch
from tests.sourcing_web import test_browser as sourcing_walk
from tests.sourcing_web.test_browser import WIDTH, _log_in, _shot

pytestmark = pytest.mark.browser

live_server = sourcing_walk.live_server
browser = sourcing_walk.browser
sourcing_world = sourcing_walk.sourcing_world

SCENARIO = Path(__file__).resolve().parents[2] / "docs" / "examples" / "nwt-204-in-house.yaml"


@pytest.fixture
def page(browser: Browser, live_server: str, sourcing_world: None) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server, viewport={"width": WIDTH, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    watch(page, problems, problems)  # answers >= 400, failed requests and console errors
    yield page
    context.close()
    assert problems == []


def test_value_a_scenario_and_compare_an_outsourced_variant(page: Page, tmp_path: Path) -> None:
    _log_in(page, "manager@acme.example")
    page.goto("/scenarios")
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    page.goto("/scenarios/new")
    page.locator("input[type=file][name=file]").set_input_files(str(SCENARIO))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("NWT-204 in-house")

    page.get_by_label("Trials").fill("5000")
    page.get_by_role("button", name="Run valuation").click()
    expect(page.locator(".js-plotly-plot")).to_have_count(3)
    expect(page.get_by_text("Valued with 5,000 trials (seed 2026)")).to_be_visible()

    page.get_by_role("button", name="Compute the tornado").click()
    expect(page.locator(".js-plotly-plot")).to_have_count(4)
    _shot(page, tmp_path, "economics-valuation")

    page.locator("#variant summary").click()
    page.get_by_label("Name of the variant").fill("NWT-204 with a CRO")
    page.locator("#phase_3-outsource").check()
    page.locator("input[name='phase_3.months_saved']").fill("6")
    page.get_by_role("button", name="Create the variant and compare").click()
    expect(page.get_by_text("Scenario NWT-204 with a CRO created")).to_be_visible()
    launch = page.locator("[data-name=launch_years] [data-col=difference]")
    expect(launch).to_have_text("-0.50")
    expect(launch).to_have_class("text-end fw-semibold text-success")
    _shot(page, tmp_path, "economics-compare")
