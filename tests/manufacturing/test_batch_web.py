"""Batch pages through the real app: the list, the record with its forms (provider, QA), the
read-only views of the sponsor, and the printable certificate."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from opencxo.manufacturing.models import Batch, ProductionOrder, QcResult
from tests.factories import PASSWORD
from tests.manufacturing.batch_helpers import PASSING, add_results, make_batch
from tests.manufacturing.conftest import PlantWorld
from tests.web.conftest import csrf_of, login


def _as(client: TestClient, plant: PlantWorld, who: str) -> TestClient:
    client.cookies.clear()
    login(client, plant.emails[who])
    return client


def test_list_filters_sorts_excel_and_empty_state(client: TestClient, plant: PlantWorld) -> None:
    _as(client, plant, "cdmo")
    empty = client.get("/mfg/batches")
    assert empty.status_code == 200
    assert 'data-testid="empty-state"' in empty.text and "/mfg/orders" in empty.text

    done = make_batch(plant, "API-1", "B-API-1", status="completed")
    make_batch(plant, "INT-1", "B-INT-1", status="released")
    make_batch(plant, "API-B", "B-APIB-1", order="PO-B-1")
    plant.session.add(QcResult(batch_id=done.id, specification_id=plant.specifications["API-1/Water"],
                               value=1, out_of_specification=True, tested_on=done.manufactured_on,
                               analyst="Lab"))  # fmt: skip
    plant.session.commit()

    page = client.get("/mfg/batches?sort=batch_number")
    assert re.findall(r'href="/mfg/batches/[^"]+">(B-[^<]+)</a>', page.text) == [
        "B-API-1", "B-APIB-1", "B-INT-1",
    ]  # fmt: skip
    assert page.text.count('data-testid="oos"') == 1
    released = client.get("/mfg/batches?status=released")
    assert re.findall(r'href="/mfg/batches/[^"]+">(B-[^<]+)</a>', released.text) == ["B-INT-1"]
    by_product = client.get(f"/mfg/batches?product_id={plant.products['API-B']}")
    assert re.findall(r'href="/mfg/batches/[^"]+">(B-[^<]+)</a>', by_product.text) == ["B-APIB-1"]
    none = client.get("/mfg/batches?status=rejected")
    assert "No batch matches these filters." in none.text

    sheet = client.get("/mfg/batches.xlsx?sort=-batch_number")
    assert sheet.status_code == 200
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("Batch", "Product", "Product name")
    assert [r[0] for r in rows[1:]] == ["B-INT-1", "B-APIB-1", "B-API-1"]
    assert rows[3][12] == "yes"  # B-API-1 is out of specification

    # the sponsor sees its own batches only
    _as(client, plant, "sponsor")
    mine = client.get("/mfg/batches?sort=batch_number")
    assert re.findall(r'href="/mfg/batches/[^"]+">(B-[^<]+)</a>', mine.text) == [
        "B-API-1",
        "B-INT-1",
    ]
    assert "B-APIB-1" not in mine.text


def test_provider_executes_through_the_forms(client: TestClient, plant: PlantWorld) -> None:
    batch = make_batch(plant, "API-1", "B-API-1")
    plant.session.commit()
    _as(client, plant, "planner")
    page = client.get(f"/mfg/batches/{batch.id}")
    assert page.status_code == 200
    assert 'data-testid="start-form"' in page.text
    assert 'data-testid="release-form"' not in page.text  # the planner is no QA
    started = client.post(f"/mfg/batches/{batch.id}/start",
                          data={"csrf_token": csrf_of(page.text), "version": "1", "started_at": ""}, follow_redirects=False)  # fmt: skip
    assert started.status_code == 303
    record = client.get(started.headers["location"].split("#")[0])
    assert "Batch started" in record.text
    assert record.text.count('data-testid="step-form"') == 3

    # a wrong unit: the form comes back with the error next to the field and the input kept
    wrong = client.post(
        f"/mfg/batches/{batch.id}/steps/2",
        data={"csrf_token": csrf_of(record.text), "version": "2",
              "unit_id": str(plant.units["R-101"]), "started_at": "2099-01-01T08:00",
              "ended_at": "2099-01-01T10:00", "performed_by": "J. Park", "notes": "kept note"},
    )  # fmt: skip
    assert wrong.status_code == 422
    assert 'data-field-error="unit_id">choose an active GMP filter_dryer: F-201' in wrong.text
    assert 'value="kept note"' in wrong.text

    # a deviation and a material
    deviation = client.post(f"/mfg/batches/{batch.id}/deviations",
                            data={"csrf_token": csrf_of(record.text), "description": "Stirrer stop",
                                  "severity": "major"}, follow_redirects=False)  # fmt: skip
    assert deviation.status_code == 303
    lot = client.post(f"/mfg/batches/{batch.id}/materials",
                      data={"csrf_token": csrf_of(record.text), "supplier_lot": "",
                            "input_batch_number": "B-NONE", "quantity": "3"})  # fmt: skip
    assert lot.status_code == 422
    assert 'data-field-error="input_batch_number">no batch B-NONE; check the number' in lot.text
    make_batch(plant, "INT-1", "B-INT-9", status="released", actual="20")
    plant.session.commit()
    too_much = client.post(f"/mfg/batches/{batch.id}/materials",
                           data={"csrf_token": csrf_of(record.text), "supplier_lot": "",
                                 "input_batch_number": "B-INT-9", "quantity": "25", "unit": ""})  # fmt: skip
    assert too_much.status_code == 422
    assert 'data-field-error="quantity">at most 20.0 kg of B-INT-9' in too_much.text
    in_units = client.post(f"/mfg/batches/{batch.id}/materials",
                           data={"csrf_token": csrf_of(record.text), "supplier_lot": "",
                                 "input_batch_number": "B-INT-9", "quantity": "5", "unit": "units"})  # fmt: skip
    assert 'data-field-error="unit">use kg, the unit of INT-1' in in_units.text
    after = client.get(f"/mfg/batches/{batch.id}")
    assert "Stirrer stop" in after.text and 'data-testid="close-deviation-form"' in after.text


def test_qa_signs_the_release_and_the_banner_shows_it(
    client: TestClient, plant: PlantWorld
) -> None:
    batch = make_batch(plant, "API-1", "B-API-1", status="completed", actual="80")
    add_results(plant, batch, PASSING)
    plant.session.commit()
    _as(client, plant, "qa")
    page = client.get(f"/mfg/batches/{batch.id}")
    assert 'data-testid="release-form"' in page.text and 'value="released" readonly' in page.text
    assert "confirm('Release batch B-API-1" in page.text
    assert 'data-testid="start-form"' not in page.text

    wrong = client.post(f"/mfg/batches/{batch.id}/release",
                        data={"csrf_token": csrf_of(page.text), "version": "1",
                              "password": "wrong", "meaning": "released"})  # fmt: skip
    assert wrong.status_code == 422
    assert 'data-field-error="password">enter your password to sign' in wrong.text
    plant.session.expire_all()
    assert plant.session.get(Batch, batch.id).status == "completed"  # type: ignore[union-attr]

    signed = client.post(f"/mfg/batches/{batch.id}/release",
                         data={"csrf_token": csrf_of(page.text), "version": "1",
                               "password": PASSWORD, "meaning": "released"},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303
    record = client.get(f"/mfg/batches/{batch.id}")
    banner = re.search(r'data-testid="disposition-banner">(.*?)</div>', record.text, re.S)
    assert banner is not None
    assert "Released" in banner.group(1) and plant.emails["qa"] in banner.group(1)
    assert 'data-testid="signature-meaning">released<' in banner.group(1)
    assert 'data-testid="coa-link"' in record.text

    coa = client.get(f"/mfg/batches/{batch.id}/coa")
    assert coa.status_code == 200
    assert "@media print" in coa.text and 'data-testid="print"' in coa.text
    assert re.findall(r'data-testid="coa-test"><td>([^<]+)</td>', coa.text) == [
        "Assay", "Water", "Identity",
    ]  # fmt: skip
    assert "98.0 – 102.0 %" in coa.text and "99.6 %" in coa.text
    pdf = client.get(f"/mfg/batches/{batch.id}/coa.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(f"/mfg/batches/{batch.id}/coa.pdf").content == pdf.content
    order = plant.session.get(ProductionOrder, plant.orders["PO-A-1"])
    plant.session.refresh(order)
    assert order is not None and order.status == "completed"


def test_the_sponsor_reads_its_record_and_certificate_only(
    client: TestClient, plant: PlantWorld
) -> None:
    batch = make_batch(plant, "API-1", "B-API-1", status="completed")
    add_results(plant, batch, PASSING)
    other = make_batch(plant, "API-B", "B-APIB-1", status="completed", order="PO-B-1")
    plant.session.commit()
    _as(client, plant, "sponsor")
    page = client.get(f"/mfg/batches/{batch.id}")
    assert page.status_code == 200
    for form in ("start-form", "qc-form", "deviation-form", "release-form", "reject-form"):
        assert f'data-testid="{form}"' not in page.text
    assert "Waiting for QA" in page.text
    assert client.get(f"/mfg/batches/{other.id}").status_code == 404
    assert client.get(f"/mfg/batches/{batch.id}/coa").status_code == 409  # not released yet
    forbidden = client.post(f"/mfg/batches/{batch.id}/deviations",
                            data={"csrf_token": csrf_of(page.text), "description": "mine",
                                  "severity": "minor"})  # fmt: skip
    assert forbidden.status_code == 403
