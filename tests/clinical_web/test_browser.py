"""From the study page to an accepted recovery plan in real Chromium.

A Phase II study of 10 open sites (6 in the US, 4 in Poland) has enrolled 128 of 240 patients;
the sponsor declared an epidemic that suspends Poland (open-ended, activations frozen), so the
forecast with disruptions misses the deadline that the undisrupted one would meet. The CRO offers
sites in Czechia, Hungary and Romania. The sponsor's manager reads the forecast and the
disruptions on the study page, opens the recovery page, asks for a plan (80 %, closing allowed),
reads it (outcome, probabilities, sites to add and close, costs, the Plotly charts) and accepts it
through the confirmation step; the study page then lists the new sites (planned) and the closed
ones, and the database holds exactly the plan's sites. The CRO, meanwhile, sees neither the
sponsor's plan in its list nor a way to accept it, and the plan's address answers 404 (the CRO
reads only the plans it proposed: docs/decisions.md, "recovery plans").

The app, the live server, the browser and the helpers are those of the sourcing walk
(``tests/sourcing_web/test_browser.py``); the people and the CRO work order are the clinical
tests' ``clinic`` (``tests/clinical/conftest.py``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, expect
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from opencxo.clinical import recovery, service
from opencxo.clinical.schemas import EnrollmentCreate, SiteUpdate
from opencxo.models import RecoveryPlan, StudySite
from opencxo.parties import service as parties
from opencxo.parties.schemas import DisruptionCreate
from tests.browser_support import record_request_failure
from tests.clinical import conftest as clinical
from tests.clinical.conftest import Clinic, days
from tests.clinical.test_recovery_service import offer_body
from tests.sourcing_web import test_browser as sourcing_walk
from tests.sourcing_web.test_browser import WIDTH, Actor, Problems, _log_in, _shot

pytestmark = pytest.mark.browser

# The fixtures of the sourcing walk and of the clinical tests, as fixtures of this module.
live_server = sourcing_walk.live_server
browser = sourcing_walk.browser
clinic = clinical.clinic

STUDY = "NWT-204-201"
CRO = "Corvane Clinical Research"
DEADLINE = days(250)  # the planned last patient in is in 150 days
PATHS = "2000"  # per verification: a plan takes well under a second
# code, country, days since activation, enrolled (in two reports)
OPEN_SITES = [
    ("US-001", "US", 300, 18), ("US-002", "US", 280, 12), ("US-003", "US", 270, 16),
    ("US-004", "US", 260, 10), ("US-005", "US", 250, 15), ("US-006", "US", 240, 13),
    ("PL-001", "PL", 290, 14), ("PL-002", "PL", 270, 9), ("PL-003", "PL", 260, 12),
    ("PL-004", "PL", 250, 9),
]  # fmt: skip
SUSPENDED_FOR = 60  # Poland suspended for the last 60 days, still open
# name, country, rate / site / month, lag days, start-up, monthly, per patient, capacity
OFFERS = [
    ("Corvane Czech GI network", "CZ", 1.2, 45, "30000.00", "2500.00", "10000.00", 6),
    ("Corvane Hungary IBD centres", "HU", 0.9, 60, "25000.00", "2200.00", "9000.00", 4),
    ("Corvane Romania sites", "RO", 1.0, 75, "18000.00", "1800.00", "8000.00", 4),
]
COUNTRIES = {"CZ": "Czechia", "HU": "Hungary", "RO": "Romania"}
PLAN_URL = re.compile(r"/recovery-plans/([0-9a-f-]{36})$")
PERCENT = re.compile(r"(\d+(?:\.\d+)?) %")


@pytest.fixture
def disrupted_study(clinic: Clinic) -> uuid.UUID:
    """The study (through the services, as the people would): sites, enrollment, the sponsor's
    epidemic in Poland, USD site costs, and the CRO's three USD site offers."""
    s = clinic.session
    study = clinic.study(code=STUDY)
    for code, country, ago, enrolled in OPEN_SITES:
        site_id = clinic.site(study.id, code, country=country, activated=days(-ago))
        for on_date, n in ((days(-ago + 60), enrolled // 2), (days(-70), enrolled - enrolled // 2)):
            service.add_enrollment(
                s, clinic["cro"], site_id, EnrollmentCreate(on_date=on_date, enrolled=n)
            )
    parties.declare_disruption(
        s,
        clinic["manager"],
        DisruptionCreate(
            title="Epidemic in Poland",
            cause="epidemic",  # type: ignore[arg-type]
            country="PL",
            starts_on=days(-SUSPENDED_FOR),
            enrollment_multiplier=0.0,
            freeze_activations=True,
        ),
    )
    for site in service.list_sites(s, clinic["cro"], study.id):
        # US sites cost no more per patient than the offers, so only the suspended (idle
        # but paid) Polish sites are worth closing; pricier US sites would be swapped out.
        monthly, per_patient = ("2500.00", "9000.00") if site.country == "US" else ("3000.00", "9000.00")  # fmt: skip
        fields = site.model_dump(
            include={"code", "name", "institution", "country", "city", "investigator",
                     "provider_id", "planned_activation_date"}
        )  # fmt: skip
        service.update_site(
            s,
            clinic["cro"],
            site.id,
            SiteUpdate(
                **fields,
                monthly_cost=Decimal(monthly),
                cost_per_patient=Decimal(per_patient),
                cost_currency="USD",
                version=site.version,
            ),
        )
    for spec in OFFERS:
        recovery.create_site_offer(s, clinic["cro"], offer_body(spec))
    s.commit()
    return study.id


@pytest.fixture
def actors(browser: Browser, live_server: str) -> Iterator[tuple[Actor, Actor, Problems]]:
    """The sponsor's manager and the CRO's admin, each at a browser with its own cookies."""
    problems = Problems()
    made: list[Actor] = []
    for who in ("sponsor", "cro"):
        context = browser.new_context(
            base_url=live_server, viewport={"width": WIDTH, "height": 900}, locale="en-GB"
        )
        context.set_default_timeout(15_000)
        page = context.new_page()

        def on_response(response: Response, who: str = who) -> None:
            # The walk's one expected refusal: the CRO opening the sponsor's plan (404).
            expected = who == "cro" and response.status == 404 and PLAN_URL.search(response.url)
            if response.status >= 400 and not expected:
                problems.failed.append(f"{who}: {response.status} {response.url}")

        def on_console(message: ConsoleMessage, who: str = who) -> None:
            if message.type == "error":
                problems.console.append(f"{who}: {message.text}")

        def on_request_failed(request: Request, who: str = who) -> None:
            record_request_failure(problems.failed, request, who)

        page.on("response", on_response)
        page.on("console", on_console)
        page.on("requestfailed", on_request_failed)
        made.append(Actor(page, context))
    yield made[0], made[1], problems
    for actor in made:
        actor.context.close()


def _percentages(text: str) -> list[float]:
    return [float(p) for p in PERCENT.findall(text)]


def _site_status(page: Page, code: str) -> str | None:
    row = page.locator(f'tr[data-testid="site-row"][data-code="{code}"]')
    return row.locator("[data-status]").get_attribute("data-status")


def test_study_page_to_an_accepted_recovery_plan(
    actors: tuple[Actor, Actor, Problems],
    clinic: Clinic,
    disrupted_study: uuid.UUID,
    engine: Engine,
    tmp_path: Path,
) -> None:
    sponsor, cro, problems = actors
    s = sponsor.page
    study_id = disrupted_study

    # --- the sponsor's manager opens the study: the forecast with and without the epidemic
    _log_in(s, clinic.emails["manager"])
    s.get_by_role("link", name="Studies").first.click()
    s.get_by_role("link", name=STUDY).click()
    expect(s.get_by_role("heading", level=1)).to_contain_text(STUDY)
    assert s.url.endswith(f"/studies/{study_id}")
    expect(s.get_by_test_id("enrolled")).to_have_text("128")
    expect(s.get_by_test_id("site-row")).to_have_count(10)
    forecast_form = s.get_by_test_id("forecast-form")
    forecast_form.get_by_label("Deadline").fill(DEADLINE.isoformat())
    forecast_form.get_by_label("Paths").fill(PATHS)
    forecast_form.get_by_role("button", name="Recompute").click()
    expect(forecast_form.get_by_label("Deadline")).to_have_value(DEADLINE.isoformat())
    forecast = s.get_by_test_id("forecast")
    expect(forecast).to_contain_text(f"P(240 patients by {DEADLINE.isoformat()})")
    expect(s.get_by_test_id("forecast-probability-without")).to_contain_text("without disruptions:")
    [with_epidemic] = _percentages(s.get_by_test_id("forecast-probability").inner_text())
    [without] = _percentages(s.get_by_test_id("forecast-probability-without").inner_text())
    assert with_epidemic < 10 < 50 < without, (with_epidemic, without)
    expect(s.get_by_test_id("forecast-p50-without")).to_contain_text("without:")
    expect(s.get_by_test_id("forecast-disruptions")).to_contain_text("Epidemic in Poland (PL, from")
    expect(s.get_by_test_id("forecast-disruptions")).to_contain_text("activations frozen")
    expect(s.locator("#forecast-chart .main-svg").first).to_be_visible()
    disruption = s.get_by_test_id("disruption")
    expect(disruption).to_have_count(1)
    expect(disruption).to_contain_text("Epidemic in Poland")
    expect(disruption).to_contain_text("open-ended")
    expect(disruption.get_by_test_id("multiplier")).to_contain_text("suspended")
    expect(disruption).to_contain_text("frozen")
    _shot(s, tmp_path, "study-disrupted")

    # --- the recovery page: no plan yet; the form asks for one
    s.get_by_test_id("study-actions").get_by_role("link", name="Recovery plan").click()
    expect(s.get_by_role("heading", level=1)).to_have_text(f"Recovery plan for {STUDY}")
    expect(s.get_by_test_id("plans-empty")).to_be_visible()
    form = s.get_by_test_id("recovery-form")
    form.get_by_label("Deadline").fill(DEADLINE.isoformat())
    form.get_by_label("Confidence").fill("0.8")
    form.get_by_label("Allow closing sites").check()
    form.get_by_label("Close-out cost per site").fill("5000")
    paths = form.get_by_label("Paths")
    if paths.count():  # the simulation settings: fewer paths than the default, for speed
        form.get_by_text("Simulation settings").click()
        paths.fill(PATHS)
    form.get_by_role("button", name="Propose a plan").click()

    # --- the plan page
    expect(s).to_have_url(PLAN_URL)
    match = PLAN_URL.search(s.url)
    assert match
    plan_id = uuid.UUID(match.group(1))
    with Session(engine) as db:
        plan = db.get(RecoveryPlan, plan_id)
        assert plan is not None
        assert (plan.status, plan.outcome) == ("proposed", "met")
        assert (plan.deadline, plan.confidence, plan.allow_closing) == (DEADLINE, 0.8, True)
        assert plan.closing_cost_per_site == Decimal("5000.00")
        added = [dict(a) for a in plan.added]
        closed = [c["code"] for c in plan.closed]
        costs = (plan.added_cost, plan.savings, plan.net_cost)
    assert added and {a["country"] for a in added} <= set(COUNTRIES)
    # the suspended Polish sites bring nothing and cost every month: the plan closes them
    assert set(closed) == {"PL-001", "PL-002", "PL-003", "PL-004"}
    sites_added = sum(a["sites"] for a in added)

    flash = s.get_by_role("alert")
    expect(flash).to_contain_text(
        f"Recovery plan proposed: {sites_added} site(s) to add, {len(closed)} to close, "
        f"P(target by {DEADLINE.isoformat()})"
    )
    expect(s.get_by_role("heading", level=1)).to_contain_text(f"Recovery plan for {STUDY}")
    expect(s.get_by_role("heading", level=1).locator("[data-status]")).to_have_text("Proposed")
    outcome = s.get_by_test_id("outcome")
    expect(outcome).to_have_attribute("data-outcome", "met")
    expect(outcome).to_contain_text(
        f"Adding {sites_added} site(s) and closing {len(closed)} raises the probability"
    )
    before, after = _percentages(s.get_by_test_id("probability").inner_text())
    assert before < 80 <= after, (before, after)
    assert before < 10  # well below: the epidemic costs the deadline
    assert before == pytest.approx(with_epidemic, abs=5)  # the study page's forecast, again

    rows = s.get_by_test_id("added-row")
    expect(rows).to_have_count(len(added))
    for a in added:
        row = s.locator(f'tr[data-testid="added-row"][data-offer="{a["offer_id"]}"]')
        cells = row.locator("td")
        expect(cells.nth(0)).to_contain_text(a["offer_name"])
        expect(cells.nth(1)).to_have_text(CRO)
        expect(cells.nth(2)).to_contain_text(f"{COUNTRIES[a['country']]} {a['country']}")
        expect(cells.nth(3)).to_have_text(str(a["sites"]))
        expect(cells.nth(7)).to_have_text(f"{Decimal(a['cost']):,.2f} USD")
    expect(s.get_by_test_id("closed-row")).to_have_count(len(closed))
    for code in closed:
        expect(s.get_by_test_id("closed-table")).to_contain_text(code)
    added_cost, savings, net_cost = costs
    assert added_cost - savings == net_cost and added_cost > 0 and savings > 0
    expect(s.get_by_test_id("added-cost")).to_have_text(f"{added_cost:,.2f} USD")
    expect(s.get_by_test_id("savings")).to_have_text(f"− {savings:,.2f} USD")
    expect(s.get_by_test_id("net-cost")).to_have_text(f"{net_cost:,.2f} USD")
    # the charts, drawn by Plotly: bands and medians before and with the plan, the histogram
    chart = s.locator("#recovery-chart.js-plotly-plot")
    expect(chart.locator(".main-svg").first).to_be_visible()
    expect(chart.locator(".gtitle")).to_contain_text(f"{STUDY}: cumulative enrollment")
    expect(chart.locator(".ytitle")).to_have_text("Patients enrolled (cumulative)")
    expect(chart.locator(".legendtext", has_text="Median with the plan")).to_have_count(1)
    expect(s.locator("#completion-chart.js-plotly-plot .main-svg").first).to_be_visible()
    # the decision waits behind a confirmation step
    expect(s.get_by_test_id("confirm-accept")).to_be_hidden()
    _shot(s, tmp_path, "recovery-plan-proposed")

    # --- the CRO: the sponsor's plan is not in its list, nor at its address
    c = cro.page
    _log_in(c, clinic.emails["cro"])
    c.goto(f"/studies/{study_id}/recovery")
    expect(c.get_by_role("heading", level=1)).to_have_text(f"Recovery plan for {STUDY}")
    expect(c.get_by_test_id("recovery-form")).to_be_visible()  # it may propose its own
    expect(c.get_by_test_id("plans-empty")).to_be_visible()
    expect(c.get_by_test_id("plan-row")).to_have_count(0)
    expect(c.get_by_test_id("accept-step")).to_have_count(0)
    expect(c.locator("body")).to_contain_text(
        "the sponsor sees every plan of the study and decides"
    )
    answer = c.goto(f"/recovery-plans/{plan_id}")
    assert answer is not None and answer.status == 404
    expect(c.get_by_role("heading", level=1)).to_contain_text("Not found")
    expect(c.get_by_test_id("accept-step")).to_have_count(0)
    expect(c.get_by_test_id("confirm-accept")).to_have_count(0)

    # --- the sponsor accepts, through the confirmation step
    s.get_by_test_id("accept-step").get_by_text("Accept this plan…").click()
    accept_form = s.get_by_test_id("accept-form")
    expect(accept_form).to_contain_text(f"Accepting adds {sites_added} planned site(s)")
    expect(accept_form).to_contain_text(f"and closes {', '.join(closed)}")
    expect(accept_form).to_contain_text(f"for a net {net_cost:,.2f} USD")
    accept_form.get_by_label("Note (optional)").fill("Recovery from the Polish epidemic")
    accept_form.get_by_role("button", name="Confirm: accept and add the sites").click()

    expect(s).to_have_url(re.compile(rf"/recovery-plans/{plan_id}$"))
    codes = {a["country"]: [f"{a['country']}-R{n:02d}" for n in range(1, a["sites"] + 1)] for a in added}  # fmt: skip
    new_codes = [code for a in added for code in codes[a["country"]]]
    expect(s.get_by_role("alert")).to_contain_text(
        f"Plan accepted: {sites_added} site(s) added ({', '.join(new_codes)}), "
        f"closed {', '.join(closed)}. The new sites are planned"
    )
    expect(s.get_by_role("heading", level=1).locator("[data-status]")).to_have_attribute(
        "data-status", "accepted"
    )
    expect(s.get_by_role("heading", level=1).locator("[data-status]")).to_have_text("Accepted")
    expect(s.get_by_test_id("decision")).to_contain_text("Accepted by Test User on")
    expect(s.get_by_test_id("decision")).to_contain_text("Recovery from the Polish epidemic")
    expect(s.get_by_test_id("decide")).to_have_count(0)
    for a in added:
        row = s.locator(f'tr[data-testid="added-row"][data-offer="{a["offer_id"]}"]')
        expect(row.locator("td").last).to_have_text(", ".join(codes[a["country"]]))
    _shot(s, tmp_path, "recovery-plan-accepted")

    # --- back on the study page: the new sites are planned, the Polish ones closed
    s.get_by_role("navigation", name="breadcrumb").get_by_role("link", name=STUDY).click()
    expect(s.get_by_role("heading", level=1)).to_contain_text(STUDY)
    expect(s.get_by_test_id("site-row")).to_have_count(10 + sites_added)
    for code in new_codes:
        assert _site_status(s, code) == "planned", code
    expect(s.locator(f'tr[data-code="{new_codes[0]}"] [data-status]')).to_have_text("Planned")
    for code in closed:
        assert _site_status(s, code) == "closed", code
    for code, *_ in OPEN_SITES:
        if code not in closed:
            assert _site_status(s, code) == "active", code
    _shot(s, tmp_path, "study-recovered")

    # --- the database holds exactly the plan's sites, with the offers' costs
    with Session(engine) as db:
        sites = db.scalars(select(StudySite).where(StudySite.study_id == study_id)).all()
        plan = db.get(RecoveryPlan, plan_id)
        assert plan is not None and plan.status == "accepted"
        assert [code for a in plan.added for code in a["site_codes"]] == new_codes
    original = {code for code, *_ in OPEN_SITES}
    made = {site.code: site for site in sites if site.code not in original}
    assert sorted(made) == sorted(new_codes)
    offers = {spec[1]: spec for spec in OFFERS}
    for site in made.values():
        spec = offers[site.country]
        assert (site.status, site.provider_id, site.cost_currency) == (
            "planned",
            clinic.cro_id,
            "USD",
        )
        assert (site.monthly_cost, site.cost_per_patient) == (Decimal(spec[5]), Decimal(spec[6]))
        assert site.planned_activation_date == days(spec[3])
    assert sorted(site.code for site in sites if site.status == "closed") == sorted(closed)

    assert problems.failed == []
    # Chromium logs the one expected refusal (the CRO at the sponsor's plan) as a failed load.
    assert problems.console == [
        "cro: Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
