"""Clinical web pages through the real app: the studies list, the study page (summary, chart,
sites by country, disruptions, the forecast's place), site forms, enrollment entry and imports."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from opencxo.clinical import service
from opencxo.clinical.schemas import EnrollmentCreate
from opencxo.parties import service as parties
from opencxo.parties.schemas import DisruptionCreate
from tests.clinical.conftest import Clinic, days
from tests.web.conftest import csrf_of, login


def _chart(html: str) -> dict[str, object]:
    match = re.search(r'id="enrollment-chart-data">(.*?)</script>', html, re.S)
    assert match, "no chart data on the page"
    figure: dict[str, object] = json.loads(match.group(1))
    return figure


def test_the_studies_list_has_an_empty_state_then_sortable_rows(
    client: TestClient, clinic: Clinic
) -> None:
    login(client, clinic.emails["manager"])
    page = client.get("/studies")
    assert page.status_code == 200
    assert 'data-testid="empty-state"' in page.text and "Create a study" in page.text
    assert 'href="/studies"' in page.text  # the Clinical → Studies navigation
    clinic.study(code="B-002")
    clinic.study(code="A-001", with_work_order=False)
    clinic.session.commit()
    page = client.get("/studies?sort=-code")
    assert page.status_code == 200
    codes = re.findall(r'<a href="/studies/[0-9a-f-]+">([^<]+)</a>', page.text)
    assert codes == ["B-002", "A-001"]
    assert 'aria-sort="descending"' in page.text


def test_the_study_page_shows_summary_chart_sites_and_disruptions(
    client: TestClient, clinic: Clinic
) -> None:
    study = clinic.study()
    us1 = clinic.site(study.id, "US-001", activated=days(-100))
    clinic.site(study.id, "PL-001", country="PL", activated=days(-80))
    clinic.site(study.id, "PL-002", country="PL")
    service.add_enrollment(
        clinic.session, clinic["cro"], us1, EnrollmentCreate(on_date=days(-50), enrolled=3)
    )
    service.add_enrollment(
        clinic.session, clinic["cro"], us1, EnrollmentCreate(on_date=days(-20), enrolled=2)
    )
    parties.declare_disruption(
        clinic.session, clinic["manager"],
        DisruptionCreate(title="Epidemic in Poland", cause="epidemic", country="PL",  # type: ignore[arg-type]
                         starts_on=days(-21)),
    )  # fmt: skip
    clinic.session.commit()
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study.id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-testid="target">240<' in html
    assert 'data-testid="enrolled">5<' in html
    assert 'data-testid="percent">2.1 %' in html
    assert 'data-testid="forecast"' in html and 'data-testid="forecast-cards"' in html
    assert "Epidemic in Poland" in html and 'href="/disruptions"' in html
    assert 'data-country="PL"' in html and 'data-country="US"' in html
    assert html.count('data-testid="site-row"') == 3
    figure = _chart(html)
    traces = figure["data"]
    assert isinstance(traces, list)
    names = [t["name"] for t in traces]
    assert names[0].startswith("Enrolled") and any("Plan" in n for n in names)
    assert any(n.startswith("Target") for n in names)
    assert traces[0]["y"] == [3, 5]
    layout = figure["layout"]
    assert isinstance(layout, dict) and layout["title"]["text"]
    assert layout["yaxis"]["title"]["text"] == "Patients enrolled (cumulative)"
    export = client.get(f"/studies/{study.id}/enrollment.csv")
    assert export.status_code == 200
    lines = export.text.strip().splitlines()
    assert lines[0].startswith("Date,Enrolled that date,Cumulative enrolled")
    assert lines[-1].split(",")[:3] == [days(-20).isoformat(), "2", "5"]
    assert client.get(f"/studies/{study.id}/enrollment.xlsx").status_code == 200


def test_outsiders_get_404(client: TestClient, clinic: Clinic) -> None:
    study = clinic.study()
    clinic.session.commit()
    login(client, clinic.emails["other_cro"])
    assert client.get(f"/studies/{study.id}").status_code == 404
    assert "NWT-204-201" not in client.get("/studies").text


def test_the_cro_adds_a_site_activates_it_and_records_enrollment(
    client: TestClient, clinic: Clinic
) -> None:
    study = clinic.study()
    clinic.session.commit()
    login(client, clinic.emails["cro"])
    form_page = client.get(f"/studies/{study.id}/sites/new")
    assert form_page.status_code == 200
    token = csrf_of(form_page.text)
    bad = client.post(
        f"/studies/{study.id}/sites",
        data={"csrf_token": token, "code": "DE-001", "name": "Charité GI", "country": "XX",
              "status": "planned"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert 'data-field-error="country"' in bad.text
    assert 'value="Charité GI"' in bad.text  # the input is kept
    made = client.post(
        f"/studies/{study.id}/sites",
        data={"csrf_token": token, "code": "DE-001", "name": "Charité GI", "country": "DE",
              "city": "Berlin", "status": "planned"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303
    site = service.list_sites(clinic.session, clinic["cro"], study.id)[0]
    page = client.get(f"/study-sites/{site.id}")
    assert page.status_code == 200 and 'data-testid="status-form"' in page.text
    moved = client.post(
        f"/study-sites/{site.id}/status",
        data={"csrf_token": token, "version": site.version, "status": "active",
              "on": days(-10).isoformat()},
        follow_redirects=True,
    )  # fmt: skip
    assert "is now active" in moved.text
    wrong = client.post(
        f"/study-sites/{site.id}/enrollment",
        data={"csrf_token": token, "on_date": days(-30).isoformat(), "enrolled": "1"},
    )
    assert wrong.status_code == 422 and "activated on" in wrong.text
    recorded = client.post(
        f"/study-sites/{site.id}/enrollment",
        data={"csrf_token": token, "on_date": days(-2).isoformat(), "screened": "2",
              "enrolled": "1", "screen_failed": "1", "withdrawn": "0"},
        follow_redirects=True,
    )  # fmt: skip
    assert "1 enrolled" in recorded.text
    assert 'data-testid="total-enrolled">1<' in recorded.text
    # a stale status form is refused with the reason, nothing changes
    stale = client.post(
        f"/study-sites/{site.id}/status",
        data={"csrf_token": token, "version": site.version, "status": "closed"},
        follow_redirects=True,
    )
    assert "was not changed" in stale.text
    # the CRO's viewer reads the site but gets no forms
    login(client, clinic.emails["cro_viewer"])
    read_only = client.get(f"/study-sites/{site.id}").text
    assert 'data-testid="total-enrolled">1<' in read_only
    assert 'data-testid="status-form"' not in read_only
    assert 'data-testid="enrollment-form"' not in read_only


def test_the_import_page_lists_every_bad_row_and_imports_nothing(
    client: TestClient, clinic: Clinic
) -> None:
    study = clinic.study()
    clinic.session.commit()
    login(client, clinic.emails["cro"])
    page = client.get(f"/studies/{study.id}/import")
    assert page.status_code == 200
    assert 'href="/clinical/templates/sites.csv"' in page.text
    token = csrf_of(page.text)
    bad = b"code,name,country,status\nUS-001,Boston,US,planned\nUS-002,,US,planned\nUS-003,X,QQ,open\n"
    answer = client.post(
        f"/studies/{study.id}/import",
        data={"csrf_token": token},
        files={"file": ("sites.csv", bad, "text/csv")},
    )
    assert answer.status_code == 422
    assert 'data-row="3"' in answer.text and 'data-row="4"' in answer.text
    assert 'data-row="2"' not in answer.text
    assert "nothing was imported" in answer.text
    assert service.list_sites(clinic.session, clinic["cro"], study.id) == []
    good = client.post(
        f"/studies/{study.id}/import",
        data={"csrf_token": token},
        files={"file": ("sites.csv", b"code,name,country\nUS-001,Boston,US\n", "text/csv")},
        follow_redirects=True,
    )
    assert good.status_code == 200
    assert "1 site(s) added" in good.text
    template = client.get("/clinical/templates/enrollment.csv")
    assert template.status_code == 200 and template.text.startswith("site_code,date,")
    assert client.get("/clinical/templates/nothing.csv").status_code == 404


def test_a_sponsor_creates_a_study_from_the_form(client: TestClient, clinic: Clinic) -> None:
    login(client, clinic.emails["manager"])
    page = client.get("/studies/new")
    assert page.status_code == 200 and "NWT-204" in page.text
    token = csrf_of(page.text)
    missing = client.post("/studies", data={"csrf_token": token, "code": "S-1", "title": "T"})
    assert missing.status_code == 422 and 'data-field-error="program_id"' in missing.text
    made = client.post(
        "/studies",
        data={"csrf_token": token, "program_id": str(clinic.program_id),
              "work_order_id": str(clinic.work_order_id), "code": "NWT-204-202",
              "title": "Open-label extension", "phase": "phase_2", "target_enrollment": "180",
              "planned_first_patient_in": days(30).isoformat(),
              "planned_last_patient_in": days(400).isoformat()},
        follow_redirects=True,
    )  # fmt: skip
    assert made.status_code == 200
    assert "Study NWT-204-202 created" in made.text
    assert "Corvane Clinical Research" in made.text
