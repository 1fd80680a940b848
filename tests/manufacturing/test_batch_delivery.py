"""A released batch's certificate of analysis as the deliverable of a milestone of the work order
behind its production order (DOMAIN: a released batch is the deliverable of a milestone) — the
service, the API, the batch page and ``opencxo mfg deliver``; the sponsor then decides the
milestone in contracts as any other."""

from __future__ import annotations

import hashlib
import json

import pytest
from fastapi.testclient import TestClient

from opencxo.contracts import service as contracts
from opencxo.contracts.models import Milestone
from opencxo.contracts.schemas import MilestoneDecision
from opencxo.core.auth.models import User
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted
from opencxo.manufacturing import batch_pdf
from opencxo.manufacturing import batch_records as service
from opencxo.manufacturing.batch_schemas import BatchRelease, CertificateDelivery
from opencxo.manufacturing.models import Batch
from tests.factories import PASSWORD, make_token
from tests.manufacturing.batch_helpers import (
    PASSING,
    add_results,
    link_active_work_order,
    make_batch,
)
from tests.manufacturing.conftest import PlantWorld
from tests.manufacturing.test_cli_batches import run as run_cli
from tests.web.conftest import csrf_of, login


def _released(plant: PlantWorld, number: str = "B-API-1") -> Batch:
    batch = make_batch(plant, "API-1", number, status="completed", actual="41.2")
    add_results(plant, batch, PASSING)
    service.release_batch(
        plant.session, plant["qa"], batch.id, BatchRelease(version=1, password=PASSWORD)
    )
    return batch


def test_the_certificate_goes_to_a_milestone_and_the_sponsor_sees_it(plant: PlantWorld) -> None:
    s = plant.session
    batch = _released(plant)
    with pytest.raises(Conflict, match="order PO-A-1 is not linked to a work order"):
        service.deliver_certificate(
            s, plant["planner"], batch.id,
            CertificateDelivery(milestone_id=batch.id), batch_pdf.coa_file,
        )  # fmt: skip
    assert service.milestone_choices(s, plant["planner"], batch.id) == []

    work_order = link_active_work_order(plant)
    first, second = sorted(work_order.milestones, key=lambda m: m.position)
    choices = service.milestone_choices(s, plant["planner"], batch.id)
    assert [(c.position, c.label) for c in choices] == [
        (1, "WO-PO-A-1 · milestone 1: GMP API campaign released"),
        (2, "WO-PO-A-1 · milestone 2: Stability data, 3 months"),
    ]
    # only who can write the record and submit milestones is offered a choice
    for reader in ("sponsor", "viewer", "qa"):
        assert service.milestone_choices(s, plant[reader], batch.id) == []

    submitted = service.deliver_certificate(
        s, plant["planner"], batch.id, CertificateDelivery(milestone_id=first.id),
        batch_pdf.coa_file,
    )  # fmt: skip
    assert (submitted.position, submitted.status) == (1, "submitted")
    (deliverable,) = submitted.deliverables
    expected_pdf = batch_pdf.coa_pdf(service.certificate(s, plant["planner"], batch.id))
    assert deliverable.filename == "CoA-B-API-1.pdf"
    assert deliverable.content_type == "application/pdf"
    assert deliverable.sha256 == hashlib.sha256(expected_pdf).hexdigest()
    assert deliverable.note == (
        "Certificate of analysis of batch B-API-1 (API-1, 41.2 kg), released by QA"
    )
    # the sponsor sees the submitted milestone with the certificate on its work order
    seen = contracts.get_work_order(s, plant["sponsor"], work_order.id)
    (on_sponsor_side,) = [m for m in seen.milestones if m.position == 1]
    assert on_sponsor_side.status == "submitted"
    assert [d.filename for d in on_sponsor_side.deliverables] == ["CoA-B-API-1.pdf"]
    # milestone 1 is no longer open for a delivery; milestone 2 still is
    assert [c.position for c in service.milestone_choices(s, plant["planner"], batch.id)] == [2]
    with pytest.raises(Conflict, match="milestone 1 is submitted; it cannot be submitted"):
        service.deliver_certificate(
            s, plant["planner"], batch.id, CertificateDelivery(milestone_id=first.id),
            batch_pdf.coa_file,
        )  # fmt: skip
    with pytest.raises(Conflict, match="changed by someone else"):  # a stale form
        service.deliver_certificate(
            s, plant["planner"], batch.id,
            CertificateDelivery(milestone_id=second.id, version=second.version + 1),
            batch_pdf.coa_file,
        )  # fmt: skip
    assert s.get(Milestone, second.id).status == "planned"  # type: ignore[union-attr]
    # a work order that is no longer active takes no deliveries: none is offered
    work_order.status = "completed"
    s.flush()
    assert service.milestone_choices(s, plant["planner"], batch.id) == []
    with pytest.raises(
        Conflict, match="cannot submit milestones of a work order that is completed"
    ):
        service.deliver_certificate(
            s, plant["planner"], batch.id, CertificateDelivery(milestone_id=second.id),
            batch_pdf.coa_file,
        )  # fmt: skip


def test_deliveries_that_are_refused(plant: PlantWorld) -> None:
    s = plant.session
    work_order = link_active_work_order(plant)
    first = min(work_order.milestones, key=lambda m: m.position)
    running = make_batch(plant, "API-1", "B-API-2", status="in_progress")
    with pytest.raises(Conflict, match="is in progress: a certificate of analysis is issued"):
        service.deliver_certificate(
            s, plant["planner"], running.id, CertificateDelivery(milestone_id=first.id),
            batch_pdf.coa_file,
        )  # fmt: skip
    batch = _released(plant)
    other = link_active_work_order(plant, "PO-B-1")
    foreign = min(other.milestones, key=lambda m: m.position)
    with pytest.raises(Invalid) as not_this_work_order:
        service.deliver_certificate(
            s, plant["planner"], batch.id, CertificateDelivery(milestone_id=foreign.id),
            batch_pdf.coa_file,
        )  # fmt: skip
    assert not_this_work_order.value.field_errors == {
        "milestone_id": "choose a milestone of WO-PO-A-1"
    }
    with pytest.raises(NotPermitted):  # the sponsor reads the batch, it does not deliver it
        service.deliver_certificate(
            s, plant["sponsor"], batch.id, CertificateDelivery(milestone_id=first.id),
            batch_pdf.coa_file,
        )  # fmt: skip
    with pytest.raises(NotFound):
        service.deliver_certificate(
            s, plant["other_cdmo"], batch.id, CertificateDelivery(milestone_id=first.id),
            batch_pdf.coa_file,
        )  # fmt: skip
    assert s.get(Milestone, first.id).status == "planned"  # type: ignore[union-attr]


def test_api_page_and_cli(client: TestClient, plant: PlantWorld, database_url: str) -> None:
    batch = _released(plant)
    second_batch = _released(plant, "B-API-2")
    _released(plant, "B-API-3")
    work_order = link_active_work_order(plant)
    first, second = sorted(work_order.milestones, key=lambda m: m.position)
    user = plant.session.get(User, plant["planner"].user_id)
    assert user is not None
    headers = {"Authorization": f"Bearer {make_token(plant.session, user=user)}"}
    plant.session.commit()

    # API
    choices = client.get(f"/api/v1/mfg/batches/{batch.id}/milestones", headers=headers)
    assert [c["position"] for c in choices.json()] == [1, 2]
    bad = client.post(f"/api/v1/mfg/batches/{batch.id}/deliver",
                      json={"milestone_id": str(batch.id)}, headers=headers)  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"field": "milestone_id", "message": "choose a milestone of WO-PO-A-1"}
    ]
    done = client.post(f"/api/v1/mfg/batches/{batch.id}/deliver",
                       json={"milestone_id": str(first.id), "note": "Campaign 1"},
                       headers=headers)  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "submitted"
    assert [(d["filename"], d["note"]) for d in done.json()["deliverables"]] == [
        ("CoA-B-API-1.pdf", "Campaign 1")
    ]

    # the batch page: a form with the open milestones; the delivery comes back with a flash
    login(client, plant.emails["planner"])
    page = client.get(f"/mfg/batches/{second_batch.id}")
    assert 'data-testid="deliver-form"' in page.text
    assert "WO-PO-A-1 · milestone 2: Stability data, 3 months" in page.text
    assert "milestone 1:" not in page.text
    posted = client.post(f"/mfg/batches/{second_batch.id}/deliver",
                         data={"csrf_token": csrf_of(page.text), "milestone_id": str(second.id),
                               "note": ""}, follow_redirects=True)  # fmt: skip
    assert posted.status_code == 200
    assert "Certificate submitted as the deliverable of milestone 2" in posted.text
    assert 'data-testid="deliver-form"' not in posted.text  # nothing left to deliver to
    client.cookies.clear()
    login(client, plant.emails["sponsor"])
    assert 'data-testid="deliver-form"' not in client.get(f"/mfg/batches/{batch.id}").text

    # the CLI (the test's files directory is in its environment): nothing is open any more
    planner = plant.emails["planner"]
    closed = run_cli(database_url, "deliver", "B-API-3", "--milestone", "1", "--as", planner)
    assert closed.returncode == 1
    assert closed.stderr.strip() == (
        "error: milestone 1 cannot take B-API-3's certificate; the milestones open for a "
        "delivery: none (a released batch whose order has a work order)"
    )
    # the sponsor rejects milestone 2; the CLI delivers batch 3's certificate to it again
    plant.session.expire_all()
    rejection = MilestoneDecision(version=second.version, accept=False, password=PASSWORD,
                                  reason="Wrong batch: send B-API-3", meaning="rejected")  # fmt: skip
    contracts.decide_milestone(plant.session, plant["sponsor"], second.id, rejection)
    plant.session.commit()
    again = run_cli(database_url, "deliver", "B-API-3", "--milestone", "2", "--as", planner,
                    "--json")  # fmt: skip
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["status"] == "submitted"
    assert [d["filename"] for d in doc["deliverables"]] == [
        "CoA-B-API-2.pdf",
        "CoA-B-API-3.pdf",
    ]
