"""The real UI in real Chromium: the app served by uvicorn, driven through Playwright."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from opencxo.core.settings import Settings
from tests.browser_support import watch
from tests.factories import PASSWORD
from tests.live_server import serving
from tests.web.conftest import World

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
    Page,
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
    """What the page complained about: failed requests and console errors."""

    failed: list[str]
    console: list[str]


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[tuple[Page, Problems]]:
    context = browser.new_context(
        base_url=live_server, viewport={"width": WIDTH, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems = Problems(failed=[], console=[])

    watch(page, problems.failed, problems.console)
    yield page, problems
    context.close()


def _log_in(page: Page, email: str) -> None:
    page.goto("/")
    assert page.url.endswith("/login?next=/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Test User")


def _results(page: Page) -> list[str]:
    return page.locator(
        '[data-testid="directory-results"] tbody tr td:first-child a'
    ).all_inner_texts()


def test_sign_in_search_open_a_provider_and_sign_out(
    page: tuple[Page, Problems], world: World, live_server: str
) -> None:
    p, problems = page
    _log_in(p, "manager@acme.example")
    assert p.url == f"{live_server}/"

    p.get_by_role("link", name="Provider directory").click()
    expect(p.get_by_role("heading", level=1)).to_have_text("Provider directory")
    assert sorted(_results(p)) == ["Lyon Clinical Services", "Shanghai API Works"]

    # A marker on the window survives only if the page is updated in place (HTMX), not reloaded.
    p.evaluate("window.__notReloaded = true")
    p.get_by_label("Search").press_sequentially("Lyon", delay=30)
    expect(p.locator('[data-testid="directory-results"] tbody tr')).to_have_count(1)
    assert _results(p) == ["Lyon Clinical Services"]
    assert p.evaluate("window.__notReloaded") is True
    # hx-push-url: the address bar holds the search, so it can be bookmarked and reloaded.
    expect(p).to_have_url(re.compile(r"/providers\?(.*&)?q=Lyon(&|$)"))

    # Clear the search and choose a capability instead: the change event refreshes the results.
    p.get_by_label("Search").fill("")
    p.get_by_label("Capability").select_option(label="GMP API manufacturing")
    expect(p.locator('[data-testid="directory-results"] tbody tr')).to_have_count(1)
    expect(p.locator('[data-testid="directory-results"]')).to_contain_text("Shanghai API Works")
    assert _results(p) == ["Shanghai API Works"]
    assert p.evaluate("window.__notReloaded") is True
    assert "service_code=CMC-GMPAPI" in p.url

    # A capability nobody offers: the empty state says what to do next.
    p.get_by_label("Capability").select_option("CLIN-PH1")
    expect(p.get_by_test_id("directory-empty")).to_contain_text("Remove a filter")
    p.get_by_label("Capability").select_option("CMC-GMPAPI")

    p.get_by_role("link", name="Shanghai API Works").click()
    expect(p).to_have_url(f"{live_server}/providers/{world.provider.id}")
    expect(p.get_by_test_id("provider-name")).to_have_text("Shanghai API Works")
    panel = p.get_by_test_id("qualification-panel")
    expect(panel.locator(".badge-status-approved")).to_have_text("Approved")
    expires = world.qualification.expires_on.isoformat()  # type: ignore[union-attr]
    expect(panel).to_contain_text(f"Expires {expires}")
    panel.get_by_role("link", name="Open qualification →").click()
    expect(p).to_have_url(f"{live_server}/qualifications/{world.qualification.id}")
    expect(p.get_by_test_id("qualification-status")).to_have_text("Approved")

    p.get_by_role("button", name="Log out").click()
    expect(p).to_have_url(f"{live_server}/login")
    expect(p.get_by_role("alert")).to_contain_text("You have logged out of every browser session.")
    p.goto("/providers")
    assert p.url == f"{live_server}/login?next=/providers"
    expect(p.get_by_role("button", name="Log in")).to_be_visible()

    assert problems.failed == []
    assert problems.console == []


def test_pages_fit_1280_pixels_and_load_their_styles(
    page: tuple[Page, Problems], world: World, tmp_path: Path
) -> None:
    p, problems = page
    _log_in(p, "manager@acme.example")
    for name, path in [
        ("dashboard", "/"),
        ("directory", "/providers"),
        ("provider", f"/providers/{world.provider.id}"),
        ("qualification", f"/qualifications/{world.qualification.id}"),
    ]:
        p.goto(path)
        p.wait_for_load_state("networkidle")
        shot = tmp_path / f"{name}.png"
        p.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000, f"{name}: the screenshot is (nearly) blank"
        scroll_width = p.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= WIDTH, f"{name} overflows horizontally: {scroll_width}px"
        # Bootstrap is served and applied: the navbar is the primary blue, not unstyled.
        navbar_colour = p.locator("nav.navbar").evaluate("e => getComputedStyle(e).backgroundColor")
        assert navbar_colour == "rgb(13, 110, 253)", f"{name}: navbar is {navbar_colour}"
        assert p.evaluate("typeof window.htmx") == "object", f"{name}: htmx did not load"
    assert problems.failed == []
    assert problems.console == []
