"""The economics pages through the real app: the scenario list and its empty state, creating a
scenario by upload and by form (errors next to their field, input kept), the valuation page with
its headline numbers, charts and downloads, the comparison, portfolios, and the program's card.

World (``tests/web/conftest.py``): Acme Therapeutics (sponsor; a manager) — here with a program.
"""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from opencxo.economics import service, stored
from opencxo.economics.records import ScenarioCreate
from opencxo.economics.schemas import ValuationRequest
from opencxo.sourcing import service as sourcing
from opencxo.sourcing.schemas import ProgramCreate
from tests.factories import make_organization, make_user, principal_of
from tests.web import conftest as web_fixtures
from tests.web.conftest import World, csrf_of, login, new_user

world = web_fixtures.world

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
IN_HOUSE = (EXAMPLES / "nwt-204-in-house.yaml").read_bytes()
OUTSOURCED = (EXAMPLES / "nwt-204-outsourced.yaml").read_bytes()


@pytest.fixture
def program_id(session: Session, world: World) -> uuid.UUID:
    program = sourcing.create_program(
        session,
        principal_of(session, world.manager),
        ProgramCreate(
            name="NWT-204",
            modality="small_molecule",  # type: ignore[arg-type]
            therapeutic_area="Gastroenterology",
            indication="Ulcerative colitis",
            phase="phase_2",  # type: ignore[arg-type]
            patent_expiry="2038-03-14",  # type: ignore[arg-type]
        ),
    )
    session.commit()
    return program.id


@pytest.fixture
def sponsor(client: TestClient, world: World, program_id: uuid.UUID) -> TestClient:
    login(client, world.manager.email)
    return client


def upload(client: TestClient, content: bytes, name: str = "scenario.yaml") -> object:
    page = client.get("/scenarios/new")
    return client.post(
        "/scenarios/upload",
        data={"csrf_token": csrf_of(page.text)},
        files={"file": (name, content, "application/yaml")},
        follow_redirects=False,
    )


def scenario_id_of(response: object) -> str:
    location = response.headers["location"]  # type: ignore[attr-defined]
    match = re.fullmatch(r"/scenarios/([0-9a-f-]{36})", location)
    assert match, location
    return match.group(1)


def run(client: TestClient, scenario: str, trials: int = 2000, seed: int = 5) -> object:
    page = client.get(f"/scenarios/{scenario}")
    return client.post(
        f"/scenarios/{scenario}/valuations",
        data={"csrf_token": csrf_of(page.text), "trials": str(trials), "seed": str(seed)},
        follow_redirects=False,
    )


def test_navigation_and_empty_state(sponsor: TestClient) -> None:
    page = sponsor.get("/scenarios")
    assert page.status_code == 200
    assert 'href="/scenarios"' in page.text and 'href="/portfolios"' in page.text
    assert 'data-testid="empty-state"' in page.text
    assert "Create a scenario" in page.text
    assert 'data-testid="empty-state"' in sponsor.get("/portfolios").text


def test_providers_do_not_see_the_economics_navigation(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.provider.id, "manager", "pm@shanghai.example")
    login(client, "pm@shanghai.example")
    assert 'href="/portfolios"' not in client.get("/").text


def test_upload_run_and_read_the_valuation(sponsor: TestClient) -> None:
    created = upload(sponsor, IN_HOUSE)
    assert created.status_code == 303  # type: ignore[attr-defined]
    scenario = scenario_id_of(created)
    page = sponsor.get(f"/scenarios/{scenario}")
    assert "NWT-204 in-house" in page.text
    assert 'data-testid="not-valued"' in page.text
    assert page.text.count('data-testid="phase-row"') == 3  # Phase II, III, review

    ran = run(sponsor, scenario)
    assert ran.status_code == 303, ran.text  # type: ignore[attr-defined]
    page = sponsor.get(f"/scenarios/{scenario}")
    expected = service.value_scenario(
        service.load_scenario(EXAMPLES / "nwt-204-in-house.yaml"),
        ValuationRequest(trials=2000, seed=5),
    )
    assert f"{expected.rnpv_mean_musd:,.1f} $M" in html.unescape(page.text)
    assert f"{expected.probability_of_approval * 100:.1f} %" in page.text
    assert page.text.count('data-testid="chart"') == 3  # NPV, fan, launch (tornado on demand)
    assert "NPV across trials" in page.text
    assert "/assets/plotly.min.js" in page.text

    # the tables behind the charts
    npv = sponsor.get(f"/scenarios/{scenario}/tables/npv.csv")
    assert npv.status_code == 200
    rows = list(csv.reader(io.StringIO(npv.text)))
    assert rows[0][:3] == ["NPV from ($M)", "NPV to ($M)", "Trials"]
    assert sum(int(r[2]) for r in rows[1:]) == len(expected.npv_sample_musd)
    fan = sponsor.get(f"/scenarios/{scenario}/tables/cash-flow.xlsx")
    assert fan.status_code == 200
    sheet = load_workbook(io.BytesIO(fan.content)).active
    assert sheet is not None
    assert sheet.cell(1, 1).value == "Year"
    assert sheet.max_row == len(expected.cash_flow_fan) + 1
    assert sponsor.get(f"/scenarios/{scenario}/tables/launch.csv").status_code == 200
    assert sponsor.get(f"/scenarios/{scenario}/tables/nothing.csv").status_code == 404

    # the tornado, on demand: an HTMX fragment, or the whole page without JavaScript
    fragment = sponsor.get(
        f"/scenarios/{scenario}/tornado?trials=1000", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert 'data-testid="tornado"' in fragment.text and "<html" not in fragment.text
    full = sponsor.get(f"/scenarios/{scenario}/tornado?trials=1000")
    assert "<html" in full.text and 'id="tornado-chart"' in full.text
    tornado_csv = sponsor.get(f"/scenarios/{scenario}/tables/tornado.csv?trials=1000")
    assert tornado_csv.text.startswith("Input,Base value")


def test_run_form_refuses_too_many_trials_and_keeps_the_input(sponsor: TestClient) -> None:
    scenario = scenario_id_of(upload(sponsor, IN_HOUSE))
    refused = run(sponsor, scenario, trials=250_000, seed=77)
    assert refused.status_code == 422  # type: ignore[attr-defined]
    text = refused.text  # type: ignore[attr-defined]
    assert 'data-field-error="trials"' in text
    assert "at most 200,000 trials" in text
    assert 'value="250000"' in text and 'value="77"' in text


def test_a_bad_upload_names_the_field(sponsor: TestClient) -> None:
    bad = IN_HOUSE.replace(b"patent_expiry: 2038-03-14", b"patent_expiry: 2020-01-01")
    answer = upload(sponsor, bad, "broken.yaml")
    assert answer.status_code == 422  # type: ignore[attr-defined]
    text = answer.text  # type: ignore[attr-defined]
    assert 'data-file-field="exclusivity.patent_expiry"' in text
    assert "broken.yaml" in text
    garbage = upload(sponsor, b"name: [unclosed", "garbage.yaml")
    assert garbage.status_code == 422  # type: ignore[attr-defined]
    assert "not valid YAML or JSON" in garbage.text  # type: ignore[attr-defined]


# 5000 "[" then 5000 "]": about 10 KB, well under the upload limit, too deep for any parser.
TOO_DEEP = b"[" * 5000 + b"]" * 5000


def test_a_too_deeply_nested_file_is_refused_and_changes_nothing(
    sponsor: TestClient, session: Session, world: World
) -> None:
    answer = upload(sponsor, TOO_DEEP, "deep.yaml")
    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert "deep.yaml is too deeply nested to read" in answer.text  # type: ignore[attr-defined]
    assert 'data-testid="scenario-row"' not in sponsor.get("/scenarios").text

    scenario = scenario_id_of(upload(sponsor, IN_HOUSE))
    page = sponsor.get(f"/scenarios/{scenario}")
    replaced = sponsor.post(
        f"/scenarios/{scenario}/file",
        data={"csrf_token": csrf_of(page.text), "version": "1"},
        files={"file": ("deep.json", TOO_DEEP, "application/json")},
        follow_redirects=False,
    )
    assert replaced.status_code == 422
    assert "The scenario was not replaced" in replaced.text
    assert "deep.json is too deeply nested to read" in replaced.text
    kept = stored.get_scenario(session, principal_of(session, world.manager), uuid.UUID(scenario))
    assert kept.version == 1


def test_create_by_form_with_program_defaults(sponsor: TestClient, program_id: uuid.UUID) -> None:
    form = sponsor.get(f"/scenarios/new?program_id={program_id}")
    text = form.text
    assert 'value="NWT-204 base case"' in text
    assert 'value="2038-03-14"' in text  # the program's patent expiry
    assert '<option value="gastroenterology" selected' in text
    assert '<option value="phase_2" selected' in text
    fragment = sponsor.get(f"/scenarios/new/program-fields?program_id={program_id}")
    assert 'id="program-fields"' in fragment.text and 'value="2038-03-14"' in fragment.text

    data = {
        "csrf_token": csrf_of(text),
        "name": "NWT-204 base case",
        "program_id": str(program_id),
        "current_phase": "phase_2",
        "therapeutic_area": "gastroenterology",
        "molecule_type": "small_molecule",
        "patent_expiry": "2038-03-14",
        "extension_years": "2",
        "peak_low": "650",
        "peak_mode": "1000",
        "peak_high": "1600",
        "years_to_peak": "5",
        "cogs_percent": "10",
        "tax_percent": "21",
        "discount_percent": "10.5",
        "launch_cost_musd": "120",
    }
    # an error next to its field, and every typed value kept
    wrong = sponsor.post("/scenarios", data={**data, "peak_low": "2000"}, follow_redirects=False)
    assert wrong.status_code == 422
    assert 'data-field-error="peak_mode"' in wrong.text
    assert 'value="2000"' in wrong.text and 'value="120"' in wrong.text
    missing = sponsor.post("/scenarios", data={**data, "years_to_peak": ""})
    assert missing.status_code == 422
    assert 'data-field-error="years_to_peak"' in missing.text

    created = sponsor.post("/scenarios", data=data, follow_redirects=False)
    assert created.status_code == 303, created.text
    scenario = scenario_id_of(created)
    read = sponsor.get(f"/scenarios/{scenario}/file.yaml").text
    assert "peak_sales_musd:" in read and "cogs_share: 0.1" in read

    listing = sponsor.get(f"/scenarios?program_id={program_id}")
    assert listing.text.count('data-testid="scenario-row"') == 1
    card = sponsor.get(f"/programs/{program_id}/valuation-scenarios")
    assert "NWT-204 base case" in card.text
    assert 'hx-get="/programs/' in sponsor.get(f"/programs/{program_id}").text

    duplicate = sponsor.post("/scenarios", data=data)
    assert duplicate.status_code == 409
    assert 'data-field-error="name"' in duplicate.text


def test_compare_page(sponsor: TestClient) -> None:
    base = scenario_id_of(upload(sponsor, IN_HOUSE))
    alternative = scenario_id_of(upload(sponsor, OUTSOURCED))
    page = sponsor.get(f"/scenarios/compare?base={base}&alternative={alternative}&trials=2000")
    assert page.status_code == 200
    assert page.text.count('data-testid="delta"') == 7
    assert 'data-testid="cliff-explanation"' in page.text
    assert 'id="compare-chart"' in page.text
    exported = sponsor.get(
        f"/scenarios/compare/deltas.csv?base={base}&alternative={alternative}&trials=2000"
    )
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][0] == "Quantity" and len(rows) == 8
    assert sponsor.get("/scenarios/compare?trials=5").status_code == 422


def test_portfolio_upload_and_run(sponsor: TestClient) -> None:
    page = sponsor.get("/portfolios")
    content = (EXAMPLES / "portfolio.yaml").read_bytes().replace(b"trials: 20000", b"trials: 2000")
    created = sponsor.post(
        "/portfolios",
        data={"csrf_token": csrf_of(page.text)},
        files={"file": ("plan.yaml", content, "application/yaml")},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    url = created.headers["location"]
    page = sponsor.get(url)
    assert 'data-testid="not-run"' in page.text
    ran = sponsor.post(
        f"{url}/run", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert ran.status_code == 303
    page = sponsor.get(url)
    assert 'id="spend-chart"' in page.text and 'id="approvals-chart"' in page.text
    assert 'data-chosen="yes"' in page.text
    options = sponsor.get(f"{url}/tables/options.csv")
    assert options.text.startswith("Program,Option,Funded")
    assert sponsor.get(f"{url}/tables/spend.xlsx").status_code == 200
    assert sponsor.get(f"{url}/tables/approvals.csv").status_code == 200


def test_another_sponsor_gets_404(
    client: TestClient, session: Session, world: World, program_id: uuid.UUID
) -> None:
    spec = service.load_scenario(EXAMPLES / "nwt-204-in-house.yaml")
    created = stored.create_scenario(
        session, principal_of(session, world.manager), ScenarioCreate(spec=spec)
    )
    session.commit()
    rival = make_organization(session, name="Rival Pharma")
    make_user(session, organization_id=rival.id, role="admin", email="admin@rival.example")
    session.commit()
    login(client, "admin@rival.example")
    for path in (
        f"/scenarios/{created.id}",
        f"/scenarios/{created.id}/tables/phases.csv",
        f"/programs/{program_id}/valuation-scenarios",
    ):
        assert client.get(path).status_code == 404, path
    assert "NWT-204" not in client.get("/scenarios").text


def test_an_outsourced_variant_is_made_from_the_form_and_compared(
    sponsor: TestClient, session: Session, world: World
) -> None:
    base = scenario_id_of(upload(sponsor, IN_HOUSE))
    page = sponsor.get(f"/scenarios/{base}")
    assert "Outsource: make a variant and compare" in page.text
    token = csrf_of(page.text)
    form = {
        "csrf_token": token,
        "name": "NWT-204 with a CRO",
        "phase_2.outsource": "1",
        "phase_2.cost_multiplier": "1.08",
        "phase_2.fixed_cost_avoided_musd": "6",
        "phase_2.months_saved": "40",  # longer than Phase II's shortest duration
        "phase_3.cost_multiplier": "0.9",  # not ticked: ignored
    }
    refused = sponsor.post(f"/scenarios/{base}/variant", data=form)
    assert refused.status_code == 422
    assert "months_saved" in html.unescape(refused.text)
    assert 'value="40"' in refused.text  # the typed input stays
    nothing = sponsor.post(f"/scenarios/{base}/variant", data={"csrf_token": token, "name": "x"})
    assert "outsource at least one phase" in html.unescape(nothing.text)

    made = sponsor.post(
        f"/scenarios/{base}/variant",
        data=form | {"phase_2.months_saved": "4"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    location = made.headers["location"]
    match = re.fullmatch(
        rf"/scenarios/compare\?base={base}&alternative=([0-9a-f-]{{36}})", location
    )
    assert match, location
    compared = sponsor.get(location)
    assert compared.status_code == 200
    assert "Scenario NWT-204 with a CRO created" in html.unescape(compared.text)
    # Earlier launch and more protected sales are the good direction: green.
    for name in ("launch_years", "expected_protected_sales_musd"):
        row = re.search(rf'data-name="{name}">.*?data-col="difference"', compared.text, re.S)
        assert row and "text-success" in row.group(0), name
    manager = principal_of(session, world.manager)
    original = stored.get_scenario(session, manager, uuid.UUID(base))
    variant = stored.get_scenario(session, manager, uuid.UUID(match.group(1)))
    assert variant.spec.outsourcing["phase_2"].model_dump() == {
        "cost_multiplier": 1.08,
        "fixed_cost_avoided_musd": 6.0,
        "months_saved": 4.0,
    }
    assert set(variant.spec.outsourcing) == {"phase_2"}
    assert variant.spec.revenue == original.spec.revenue
    assert variant.spec.phases == original.spec.phases


def test_deleting_a_scenario_checks_its_version(sponsor: TestClient) -> None:
    scenario = scenario_id_of(upload(sponsor, IN_HOUSE))
    token = csrf_of(sponsor.get(f"/scenarios/{scenario}").text)
    stale = sponsor.post(
        f"/scenarios/{scenario}/delete", data={"csrf_token": token, "version": "7"}
    )
    assert stale.status_code == 200
    assert "The scenario was not deleted" in html.unescape(stale.text)
    assert sponsor.get(f"/scenarios/{scenario}").status_code == 200
    gone = sponsor.post(f"/scenarios/{scenario}/delete", data={"csrf_token": token, "version": "1"})
    assert "Scenario NWT-204 in-house and its valuations deleted." in html.unescape(gone.text)
    assert sponsor.get(f"/scenarios/{scenario}").status_code == 404
