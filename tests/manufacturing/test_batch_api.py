"""Batch records over HTTP: problem details of the state machine and the QA signature, the
genealogy endpoint and the certificate (JSON and PDF) as the sponsor reads them."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi.testclient import TestClient

from opencxo.core.auth.models import User
from tests.factories import PASSWORD, make_token
from tests.manufacturing.batch_helpers import PASSING, add_results, make_batch
from tests.manufacturing.conftest import PlantWorld

API = "/api/v1/mfg"


def _headers(plant: PlantWorld, who: str) -> dict[str, str]:
    user = plant.session.get(User, plant[who].user_id)
    assert user is not None
    return {"Authorization": f"Bearer {make_token(plant.session, user=user)}"}


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


def test_state_machine_and_signature_problems(client: TestClient, plant: PlantWorld) -> None:
    planned = make_batch(plant, "API-1", "B-API-1")
    done = make_batch(plant, "API-1", "B-API-2", status="completed")
    cdmo, qa = _headers(plant, "cdmo"), _headers(plant, "qa")
    plant.session.commit()

    wrong_state = client.post(f"{API}/batches/{done.id}/start", json={"version": 1}, headers=cdmo)
    assert _problem(wrong_state, 409)["detail"] == (
        "batch B-API-2 is completed: start needs a planned batch; now you can record QC results "
        "and deviations, release or reject it (QA)"
    )
    stale = client.post(f"{API}/batches/{planned.id}/start", json={"version": 7}, headers=cdmo)
    assert "(version 1, you sent 7)" in _problem(stale, 409)["detail"]
    for when in ("9999-12-20T00:00:00Z", "0001-01-01T00:00:00+05:00", "1899-12-31T23:59:00"):
        typo = client.post(f"{API}/batches/{planned.id}/start",
                           json={"version": 1, "started_at": when}, headers=cdmo)  # fmt: skip
        assert _problem(typo, 422)["errors"] == [
            {"field": "started_at", "message": "Value error, must be in the years 1900–2199"}
        ]
    started = client.post(f"{API}/batches/{planned.id}/start", json={"version": 1}, headers=cdmo)
    assert started.status_code == 200 and started.json()["version"] == 2

    blocked = client.post(f"{API}/batches/{done.id}/release",
                          json={"version": 1, "password": PASSWORD}, headers=qa)  # fmt: skip
    assert _problem(blocked, 409)["detail"] == (
        "batch B-API-2 cannot be released: no QC result for Assay, Water, Identity"
    )
    add_results(plant, done, PASSING)
    plant.session.commit()
    wrong = client.post(f"{API}/batches/{done.id}/release",
                        json={"version": 1, "password": "guess"}, headers=qa)  # fmt: skip
    assert _problem(wrong, 422)["errors"] == [
        {"field": "password", "message": "enter your password to sign"}
    ]
    assert client.get(f"{API}/batches/{done.id}", headers=qa).json()["status"] == "completed"
    no_reason = client.post(f"{API}/batches/{done.id}/reject",
                            json={"version": 1, "password": PASSWORD}, headers=qa)  # fmt: skip
    assert _problem(no_reason, 422)["errors"][0]["field"] == "reason"

    released = client.post(f"{API}/batches/{done.id}/release",
                           json={"version": 1, "password": PASSWORD}, headers=qa)  # fmt: skip
    assert released.status_code == 200, released.text
    body = released.json()
    assert body["disposition"]["decision"] == "released"
    assert body["disposition"]["signature"]["signer_email"] == plant.emails["qa"]
    assert [s["meaning"] for s in body["signatures"]] == ["released"]


def test_genealogy_and_certificate_for_the_sponsor(client: TestClient, plant: PlantWorld) -> None:
    intermediate = make_batch(plant, "INT-1", "B-INT-1", status="released", actual="75")
    api = make_batch(plant, "API-1", "B-API-1", status="in_progress")
    cdmo, sponsor, other = (_headers(plant, w) for w in ("cdmo", "sponsor", "other_sponsor"))
    plant.session.commit()
    added = client.post(f"{API}/batches/{api.id}/materials",
                        json={"input_batch_number": "B-INT-1", "quantity": "60"}, headers=cdmo)  # fmt: skip
    assert added.status_code == 201, added.text
    assert added.json()["made_from"][0]["batch_number"] == "B-INT-1"
    tree = client.get(f"{API}/batches/{intermediate.id}/genealogy", headers=sponsor).json()
    assert [n["batch_number"] for n in tree["downstream"]] == ["B-API-1"]
    assert tree["upstream"] == []
    assert (
        client.get(f"{API}/batches/{intermediate.id}/genealogy", headers=other).status_code == 404
    )
    material = added.json()["materials"][0]["id"]
    assert client.delete(f"{API}/materials/{material}", headers=sponsor).status_code == 403
    assert client.delete(f"{API}/materials/{material}", headers=other).status_code == 404

    unsigned = client.get(f"{API}/batches/{intermediate.id}/coa", headers=sponsor)
    assert _problem(unsigned, 409)["detail"] == (
        "batch B-INT-1 is marked released but lacks its release signature; a certificate needs "
        "a batch released by QA through OpenCXO"
    )
    done = make_batch(plant, "API-1", "B-API-2", status="completed", actual="40")
    add_results(plant, done, PASSING)
    plant.session.commit()
    qa = _headers(plant, "qa")
    plant.session.commit()
    signed = client.post(f"{API}/batches/{done.id}/release",
                         json={"version": 1, "password": PASSWORD}, headers=qa)  # fmt: skip
    assert signed.status_code == 200, signed.text
    certificate = client.get(f"{API}/batches/{done.id}/coa", headers=sponsor)
    assert certificate.status_code == 200, certificate.text
    doc = certificate.json()
    assert doc["product"] == {"name": "Velorasib free base", "code": "API-1", "kind": "api",
                              "dosage_form": None, "strength": None}  # fmt: skip
    made = date.fromisoformat(doc["manufactured_on"])
    assert doc["expiry_date"].startswith(str(made.year + 2))
    assert doc["release"]["meaning"] == "released"
    assert client.get(f"{API}/batches/{done.id}/coa", headers=other).status_code == 404
    first = client.get(f"{API}/batches/{done.id}/coa.pdf", headers=sponsor)
    second = client.get(f"{API}/batches/{done.id}/coa.pdf", headers=sponsor)
    assert first.headers["content-type"] == "application/pdf"
    assert first.content.startswith(b"%PDF") and first.content == second.content
    assert 'filename="CoA-B-API-2.pdf"' in first.headers["content-disposition"]
