"""Process chemistry in real Chromium: a chemist of Kestrel CDMO imports the two ibuprofen routes
(Boots and BHC, ``docs/examples/routes``) through the import page, ticks both on the route list
and compares them — the table marks BHC's atom economy (77.5 %) best and the four Plotly charts
draw — then opens the BHC route: its three reactions are drawn by RDKit and the COGS tornado
draws. No failed request, no console error, no horizontal overflow.

The live server, the browser and the helpers are those of the sourcing walk; the world is the
stored-chemistry tests' ``chem`` (``tests/process_chemistry/conftest.py``), committed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import watch
from tests.process_chemistry.conftest import ChemWorld
from tests.sourcing_web import test_browser as sourcing_walk
from tests.sourcing_web.test_browser import WIDTH, Problems, _log_in, _shot

pytestmark = pytest.mark.browser

live_server = sourcing_walk.live_server
browser = sourcing_walk.browser

ROUTES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "routes"
BOOTS = "Ibuprofen — Boots (1960s)"
BHC = "Ibuprofen — BHC (1992)"


@pytest.fixture
def walker(browser: Browser, live_server: str) -> Iterator[tuple[Page, Problems]]:
    problems = Problems()
    context = browser.new_context(
        base_url=live_server, viewport={"width": WIDTH, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()

    watch(page, problems.failed, problems.console)
    yield page, problems
    context.close()


def _import(page: Page, file: Path, name: str) -> None:
    page.goto("/chem/routes")
    page.get_by_test_id("import-route").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import a route")
    page.get_by_label("Route file").set_input_files(str(file))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.get_by_role("alert").filter(has_text=f"Route {name} imported")).to_be_visible()


def _drawn(page: Page, selector: str, count: int) -> None:
    """``count`` RDKit drawings, each loaded (scrolled into view: they load lazily)."""
    images = page.locator(selector)
    expect(images).to_have_count(count)
    for index in range(count):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0


def test_import_compare_and_read_the_ibuprofen_routes(
    walker: tuple[Page, Problems], chem: ChemWorld, tmp_path: Path
) -> None:
    page, problems = walker
    _log_in(page, chem.emails["chemist"])
    page.get_by_test_id("nav-chem-routes").click()
    expect(page.get_by_test_id("empty-state")).to_contain_text("ibuprofen-boots.yaml")

    _import(page, ROUTES / "ibuprofen-boots.yaml", BOOTS)
    _import(page, ROUTES / "ibuprofen-bhc.yaml", BHC)

    page.goto("/chem/routes")
    expect(page.get_by_test_id("route-row")).to_have_count(2)
    page.get_by_label(f"Compare {BOOTS}").check()
    page.get_by_label(f"Compare {BHC}").check()
    page.get_by_test_id("compare-button").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compare routes")
    atom_economy = page.locator("[data-metric=atom_economy_percent]")
    expect(atom_economy.locator(f"td[data-route='{BHC}']")).to_contain_text("77.5 %")
    expect(atom_economy.locator(f"td[data-route='{BHC}']")).to_have_attribute("data-best", "true")
    expect(atom_economy.locator(f"td[data-route='{BOOTS}']")).to_contain_text("40.1 %")
    expect(atom_economy.locator(f"td[data-route='{BOOTS}']")).not_to_have_attribute(
        "data-best", "true"
    )
    expect(page.locator(".js-plotly-plot")).to_have_count(4)
    expect(page.locator("#pmi-chart svg.main-svg").first).to_be_visible()
    _drawn(page, "[data-testid=product-depiction]", 2)
    _shot(page, tmp_path, "chemistry-compare")

    page.get_by_role("link", name=BHC).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(BHC)
    expect(page.get_by_test_id("figure-atom-economy")).to_have_text("77.5 %")
    expect(page.get_by_test_id("step")).to_have_count(3)
    _drawn(page, "[data-testid=step-depiction]", 3)
    expect(page.locator("#tornado-chart svg.main-svg").first).to_be_visible()
    _shot(page, tmp_path, "chemistry-route")

    assert problems.failed == [] and problems.console == []
