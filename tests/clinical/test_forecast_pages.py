"""The forecast on the study page (cards, chart data, the form) and its table as downloads."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from opencxo.clinical.web import FORECAST_HEADERS
from tests.clinical.conftest import Clinic
from tests.clinical.test_forecasting import _demo_like
from tests.web.conftest import login


def _figure(html: str, chart_id: str) -> dict[str, Any]:
    match = re.search(rf'id="{chart_id}-data">(.*?)</script>', html, re.S)
    assert match, f"no {chart_id} data on the page"
    figure: dict[str, Any] = json.loads(match.group(1))
    return figure


def test_the_study_page_shows_the_forecast_cards_and_chart(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic)
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study_id}?paths=2000&seed=5")
    assert page.status_code == 200, page.text
    html = page.text
    for testid in (
        "forecast-cards", "forecast-alpha", "forecast-beta", "forecast-rate", "forecast-p50",
        "forecast-p50-without", "forecast-probability", "forecast-probability-without",
        "forecast-disruptions", "forecast-table", "forecast-csv", "forecast-xlsx",
    ):  # fmt: skip
        assert f'data-testid="{testid}"' in html, testid
    assert "Epidemic in Poland" in html
    assert 'name="paths"' in html and 'value="2000"' in html and 'value="5"' in html
    figure = _figure(html, "forecast-chart")
    names = [t["name"] for t in figure["data"]]
    assert names[0] == "Enrolled (actual, cumulative)"
    assert "Forecast P10–P90 with disruptions" in names
    assert "Forecast median with disruptions" in names
    assert "Forecast median without disruptions" in names
    assert any(n.startswith("Target (240") for n in names)
    assert any(n.startswith("Deadline (") for n in names)
    without = next(t for t in figure["data"] if t["name"] == "Forecast median without disruptions")
    assert without["line"]["dash"] == "dash"
    assert without["y"][0] == 128 and without["y"] == sorted(without["y"])
    layout = figure["layout"]
    assert "forecast" in layout["title"]["text"]
    assert layout["yaxis"]["title"]["text"] == "Patients enrolled (cumulative)"
    assert layout["xaxis"]["title"]["text"] == "Date"
    # the export links carry the page's options
    assert f"/studies/{study_id}/forecast.csv?paths=2000&amp;seed=5" in html


def test_bad_form_values_are_shown_next_to_the_field(client: TestClient, clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study_id}?paths=500000&seed=x&deadline=soon")
    assert page.status_code == 200, page.text
    assert page.text.count("is-invalid") == 3
    assert 'data-testid="forecast-cards"' in page.text  # the defaults still forecast


def test_a_study_without_sites_explains_why_there_is_no_forecast(
    client: TestClient, clinic: Clinic
) -> None:
    study = clinic.study()
    clinic.session.commit()
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study.id}")
    assert page.status_code == 200
    assert 'data-testid="forecast-problem"' in page.text and "add its sites" in page.text


def test_the_forecast_table_downloads_as_csv_and_xlsx(client: TestClient, clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    login(client, clinic.emails["manager"])
    response = client.get(f"/studies/{study_id}/forecast.csv?paths=2000&deadline=2030-01-01")
    assert response.status_code == 200, response.text
    assert "NWT-204-201-forecast-" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == FORECAST_HEADERS
    assert len(rows) > 10
    first = rows[1]
    assert first[1] == "0.0" and float(first[3]) == 128 and float(first[7]) == 128
    medians = [float(r[3]) for r in rows[1:] if r[3]]
    assert medians == sorted(medians) and medians[-1] >= 240  # runs past the P90 completion
    excel = client.get(f"/studies/{study_id}/forecast.xlsx?paths=2000")
    assert excel.status_code == 200
    sheet = load_workbook(io.BytesIO(excel.content)).active
    assert sheet is not None
    assert tuple(c.value for c in sheet[1]) == FORECAST_HEADERS
    assert client.get(f"/studies/{study_id}/forecast.csv?paths=10").status_code == 422


def test_another_sponsor_cannot_download_the_forecast(client: TestClient, clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    login(client, clinic.emails["stranger"])
    assert client.get(f"/studies/{study_id}/forecast.csv").status_code == 404
    assert client.get(f"/studies/{study_id}").status_code == 404
