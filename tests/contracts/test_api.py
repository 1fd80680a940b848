"""The contracts JSON API end to end: work orders from awards, e-signatures, milestones and their
deliverables, change orders, invoices, payments, overdue flags, spend and who may see or do what —
with the exact values a user would see."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import opencxo.contracts.service as contracts_service
from opencxo.contracts.models import Invoice, Payment
from opencxo.core.signatures import Signature
from opencxo.core.types import utcnow
from tests.contracts.conftest import START, TODAY, Deal, days, digest
from tests.factories import PASSWORD

IDS = {"id", "work_order_id", "milestone_id", "version"}
WRONG_PASSWORD = [{"field": "password", "message": "enter your password to sign"}]


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _rows(milestones: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (m["position"], m["description"], m["amount"], m["due_date"], m["status"], m["overdue"])
        for m in milestones
    ]


# --- work orders from awards --------------------------------------------------------------------


def test_a_work_order_is_drafted_from_the_award_under_a_standard_msa(deal: Deal) -> None:
    award = deal.award()
    assert (award["amount"], award["currency"]) == ("6000.60", "USD")

    body = {"award_id": award["id"], "payment_terms_days": 45}
    work_order = deal.ok(deal.post("/work-orders", "sponsor", body), 201)

    assert work_order["number"] == f"WO-{TODAY:%Y}-0001"
    assert work_order["title"] == "CMC-GMPAPI for NW-101 — API 40 kg"
    assert work_order["status"] == "draft"
    assert (work_order["currency"], work_order["payment_terms_days"]) == ("USD", 45)
    assert work_order["start_date"] == "2030-01-07"
    assert (work_order["sponsor_name"], work_order["provider_name"]) == (
        "Northwind Therapeutics",
        "Apex Chem",
    )
    assert work_order["award_id"] == award["id"]
    # start 2030-01-07 + 30, + 90 and + 150 days
    assert _rows(work_order["milestones"]) == [
        (1, "Process transfer", "1000.10", "2030-02-06", "planned", False),
        (2, "Validation batch", "2000.20", "2030-04-07", "planned", False),
        (3, "Delivery 40 kg", "3000.30", "2030-06-06", "planned", False),
    ]
    assert [m["deliverable"] for m in work_order["milestones"]] == [
        "Process transfer report",
        "Validation batch report",
        "Delivery 40 kg report",
    ]
    assert work_order["total_value"] == "6000.60"
    assert Decimal(work_order["total_value"]) == sum(
        Decimal(m["amount"]) for m in work_order["milestones"]
    )
    assert [(p["change"], p["value"]) for p in work_order["value_history"]] == [
        ("work order", "6000.60")
    ]
    assert (work_order["signatures"], work_order["awaiting_signature_from"]) == ([], [])
    assert work_order["viewer_role"] == "sponsor"
    assert deal.read(work_order, "provider")["viewer_role"] == "provider"

    msa = work_order["msa"]
    assert (msa["sponsor_id"], msa["provider_id"]) == (
        str(deal.ids["northwind"]),
        str(deal.ids["apex"]),
    )
    assert msa["reference"] == f"MSA-{TODAY:%Y}-{str(deal.ids['apex'])[:4].upper()}"
    assert msa["effective_date"] == TODAY.isoformat()
    assert msa["expiry_date"] == _years_later(TODAY, 5).isoformat()

    # one work order per award; the pair's next work order reuses its MSA
    deal.problem(deal.post("/work-orders", "sponsor", body), 409)
    second = deal.draft()
    assert second["number"] == f"WO-{TODAY:%Y}-0002"
    assert second["msa"]["id"] == msa["id"]
    assert [m["id"] for m in deal.ok(deal.get("/msas", "provider"))] == [msa["id"]]
    assert deal.ok(deal.get("/msas", "other_sponsor")) == []


def test_a_standard_msa_made_on_29_february_expires_on_28_february(
    deal: Deal, monkeypatch: pytest.MonkeyPatch
) -> None:
    award = deal.award()

    monkeypatch.setattr(contracts_service, "utc_today", lambda: date(2028, 2, 29))
    body = {"award_id": award["id"]}
    work_order = deal.ok(deal.post("/work-orders", "sponsor", body), 201)

    assert work_order["number"] == "WO-2028-0001"
    assert (work_order["msa"]["effective_date"], work_order["msa"]["expiry_date"]) == (
        "2028-02-29",
        "2033-02-28",
    )


def test_an_msa_entered_by_the_sponsor_governs_the_pairs_work_orders(deal: Deal) -> None:
    body = deal.msa_body()
    before = deal.state()
    deal.problem(deal.post("/msas", "sponsor", body | {"expiry_date": "2028-12-31"}), 422)
    deal.problem(deal.post("/msas", "sponsor_viewer", body), 403)
    deal.problem(deal.post("/msas", None, body), 401)
    assert deal.state() == before

    msa = deal.ok(deal.post("/msas", "sponsor", body), 201)
    assert (msa["reference"], msa["effective_date"], msa["expiry_date"]) == (
        "MSA-NW-BOR-7",
        "2029-01-01",
        "2034-12-31",
    )
    assert (
        "already an MSA with Borealis Labs"
        in deal.problem(deal.post("/msas", "sponsor", body), 409)["detail"]
    )

    work_order = deal.draft(provider="borealis", lines=(("All-in", "777.77", "USD", 60),))
    assert work_order["msa"]["id"] == msa["id"]
    assert work_order["msa"]["reference"] == "MSA-NW-BOR-7"
    assert [m["id"] for m in deal.ok(deal.get("/msas", "other_provider"))] == [msa["id"]]
    assert deal.ok(deal.get("/msas", "provider")) == []


def test_a_mixed_currency_bid_becomes_a_work_order_in_the_rfp_base_currency(deal: Deal) -> None:
    award = deal.award(
        lines=(
            ("Tech transfer", "1000.00", "USD", 10),
            ("Batch", "333.33", "EUR", 60),  # × 1.0837 = 361.229721
            ("Release testing", "100.00", "CHF", 90),  # × 1.1234 = 112.34
        ),
        rates={"EUR": "1.0837", "CHF": "1.1234"},
    )
    assert (award["amount"], award["currency"]) == ("1473.57", "USD")
    work_order = deal.ok(deal.post("/work-orders", "sponsor", {"award_id": award["id"]}), 201)

    assert work_order["currency"] == "USD"
    assert [(m["amount"], m["currency"]) for m in work_order["milestones"]] == [
        ("1000.00", "USD"),
        ("361.23", "USD"),
        ("112.34", "USD"),
    ]
    assert work_order["total_value"] == "1473.57"


def test_a_bid_in_one_foreign_currency_stays_in_that_currency(deal: Deal) -> None:
    work_order = deal.draft(
        lines=(("Batch", "400.40", "EUR", 30), ("Report", "600.60", "EUR", 60)),
        rates={"EUR": "1.0837"},
    )
    assert work_order["currency"] == "EUR"
    assert [(m["amount"], m["currency"]) for m in work_order["milestones"]] == [
        ("400.40", "EUR"),
        ("600.60", "EUR"),
    ]
    assert work_order["total_value"] == "1001.00"


# --- the work order's state machine -------------------------------------------------------------


def test_a_work_order_is_active_only_once_both_parties_have_signed(deal: Deal) -> None:
    work_order = deal.draft()
    path = f"/work-orders/{work_order['id']}"

    # a draft is neither signed, completed nor terminated
    assert deal.problem(deal.sign(work_order, "sponsor"), 409)["detail"] == (
        "cannot sign a work order that is draft"
    )
    deal.problem(deal.sign(work_order, "provider"), 409)
    deal.problem(deal.transition(work_order, "complete"), 409)
    deal.problem(deal.transition(work_order, "terminate", reason="not needed"), 409)
    # only the sponsor sends it, from the version it read
    deal.problem(deal.send(work_order, "provider"), 403)
    deal.problem(deal.send(work_order, "sponsor_viewer"), 403)
    stale = deal.post(f"{path}/send-for-signature", "sponsor", {"version": 99})
    assert "changed by someone else" in deal.problem(stale, 409)["detail"]
    assert deal.read(work_order)["status"] == "draft"

    pending = deal.ok(deal.send(work_order))
    assert pending["status"] == "pending_signature"
    assert pending["awaiting_signature_from"] == ["Apex Chem", "Northwind Therapeutics"]
    deal.problem(deal.send(work_order), 409)

    deal.problem(deal.sign(work_order, "provider_viewer"), 403)
    one = deal.ok(deal.sign(work_order, "sponsor"))
    assert one["status"] == "pending_signature"
    assert one["awaiting_signature_from"] == ["Apex Chem"]
    assert [s["signer_email"] for s in one["signatures"]] == ["buyer@northwind.example"]
    # the sponsor has signed: neither the same manager nor another one signs again
    for actor in ("sponsor", "sponsor2"):
        assert deal.problem(deal.sign(work_order, actor), 409)["detail"] == (
            "your organisation has already signed this work order"
        )
    assert len(deal.read(work_order)["signatures"]) == 1

    both = deal.ok(deal.sign(work_order, "provider"))
    assert both["status"] == "active"
    assert both["awaiting_signature_from"] == []
    assert [s["signer_email"] for s in both["signatures"]] == [
        "buyer@northwind.example",
        "sales@apex.example",
    ]
    assert deal.problem(deal.sign(work_order, "provider"), 409)["detail"] == (
        "cannot sign a work order that is active"
    )
    deal.problem(deal.send(work_order), 409)
    assert [e.after for e in deal.audit_events("active", work_order["id"])] == [
        {"status": "active"}
    ]


def test_a_work_order_completes_only_when_every_milestone_is_accepted(deal: Deal) -> None:
    work_order = deal.active()
    assert deal.problem(deal.transition(work_order, "complete"), 409)["detail"] == (
        "milestone(s) [1, 2, 3] are not accepted yet"
    )
    deal.accept(work_order, 1)
    deal.accept(work_order, 3)
    assert deal.problem(deal.transition(work_order, "complete"), 409)["detail"] == (
        "milestone(s) [2] are not accepted yet"
    )
    deal.accept(work_order, 2)
    deal.problem(deal.transition(work_order, "complete", "provider"), 403)
    deal.problem(deal.transition(work_order, "complete", "sponsor_member"), 403)

    completed = deal.ok(deal.transition(work_order, "complete"))
    assert completed["status"] == "completed"
    deal.problem(deal.transition(work_order, "complete"), 409)
    deal.problem(deal.transition(work_order, "terminate", reason="too late"), 409)
    deal.problem(deal.sign(work_order, "sponsor"), 409)


def test_a_terminated_work_order_accepts_no_further_work(deal: Deal) -> None:
    pending = deal.pending()
    deal.ok(deal.sign(pending, "sponsor"))
    # a work order awaiting signatures can be called off
    stopped = deal.ok(deal.transition(pending, "terminate", reason="budget cut"))
    assert (stopped["status"], stopped["termination_reason"]) == ("terminated", "budget cut")
    assert stopped["awaiting_signature_from"] == []
    deal.problem(deal.sign(pending, "provider"), 409)

    work_order = deal.active()
    milestone = deal.milestone(work_order, 1)
    deal.problem(deal.transition(work_order, "terminate", "provider_viewer", reason="x" * 5), 403)
    deal.problem(deal.transition(work_order, "terminate", reason="no"), 422)
    terminated = deal.ok(
        deal.transition(work_order, "terminate", "provider", reason="plant closed for upgrade")
    )
    assert terminated["status"] == "terminated"
    assert terminated["termination_reason"] == "plant closed for upgrade"
    assert [e.reason for e in deal.audit_events("terminated", work_order["id"])] == [
        "plant closed for upgrade"
    ]

    assert deal.problem(deal.submit(milestone), 409)["detail"] == (
        "cannot submit milestones of a work order that is terminated"
    )
    deal.problem(deal.transition(work_order, "complete"), 409)
    deal.problem(deal.transition(work_order, "terminate", reason="again"), 409)
    change = {
        "version": deal.read(work_order)["version"],
        "reason": "more work",
        "changes": [
            {"action": "add", "description": "Extra", "amount": "1.00", "due_date": "2030-09-01"}
        ],
    }
    deal.problem(
        deal.post(f"/work-orders/{work_order['id']}/change-orders", "sponsor", change), 409
    )


# --- e-signatures -------------------------------------------------------------------------------


def test_each_signature_shows_signer_meaning_time_and_the_hash_of_what_was_signed(
    deal: Deal,
) -> None:
    work_order = deal.pending(terms=45)
    record = {
        "number": work_order["number"],
        "sponsor_id": str(deal.ids["northwind"]),
        "provider_id": str(deal.ids["apex"]),
        "currency": "USD",
        "payment_terms_days": 45,
        "milestones": [
            [1, "Process transfer", "1000.10", "2030-02-06"],
            [2, "Validation batch", "2000.20", "2030-04-07"],
            [3, "Delivery 40 kg", "3000.30", "2030-06-06"],
        ],
    }
    unknown = deal.sign(work_order, "sponsor", meaning="maybe")
    assert deal.problem(unknown, 422)["errors"][0]["field"] == "meaning"

    before = utcnow()
    deal.ok(deal.sign(work_order, "sponsor"))
    middle = utcnow()
    signed = deal.ok(deal.sign(work_order, "provider", meaning="approved"))
    after = utcnow()

    sponsor, provider = signed["signatures"]
    assert {k: v for k, v in sponsor.items() if k != "signed_at"} == {
        "signer_name": "Test User",
        "signer_email": "buyer@northwind.example",
        "organization_id": str(deal.ids["northwind"]),
        "meaning": "executed",
        "record_sha256": digest(record),
    }
    assert {k: v for k, v in provider.items() if k != "signed_at"} == {
        "signer_name": "Test User",
        "signer_email": "sales@apex.example",
        "organization_id": str(deal.ids["apex"]),
        "meaning": "approved",
        "record_sha256": digest(record),
    }
    assert before <= _at(sponsor["signed_at"]) <= middle <= _at(provider["signed_at"]) <= after
    # the provider sees the same signatures
    assert deal.read(work_order, "provider")["signatures"] == signed["signatures"]

    events = deal.audit_events("sign", work_order["id"])
    assert [(e.entity_type, e.organization_id, e.actor_label, e.after) for e in events] == [
        (
            "work_order",
            deal.ids["northwind"],
            "buyer@northwind.example",
            {"meaning": "executed", "signer": "buyer@northwind.example",
             "record_sha256": digest(record)},
        ),
        (
            "work_order",
            deal.ids["apex"],
            "sales@apex.example",
            {"meaning": "approved", "signer": "sales@apex.example",
             "record_sha256": digest(record)},
        ),
    ]  # fmt: skip


def test_a_wrong_password_signs_nothing(deal: Deal) -> None:
    work_order = deal.pending()
    before = deal.state()

    refused = deal.problem(deal.sign(work_order, "sponsor", password="not-my-password"), 422)
    assert refused["errors"] == WRONG_PASSWORD
    assert refused["detail"] == "the password is wrong; a signature needs your own password"
    assert deal.state() == before
    assert deal.read(work_order)["status"] == "pending_signature"
    assert deal.read(work_order)["signatures"] == []
    # another person's password is no signature either
    other = deal.sign(work_order, "sponsor2", password=PASSWORD + "x")
    assert deal.problem(other, 422)["errors"] == WRONG_PASSWORD

    active = deal.active()
    submitted = deal.ok(deal.submit(deal.milestone(active, 1)))
    before = deal.state()
    refused = deal.problem(deal.decide(submitted, password="guess"), 422)
    assert refused["errors"] == WRONG_PASSWORD
    assert deal.state() == before
    assert deal.milestone(active, 1)["status"] == "submitted"
    assert deal.count(Invoice) == 0


def test_accepting_a_milestone_is_an_e_signature_over_its_deliverables(deal: Deal) -> None:
    work_order = deal.active()
    content = b"%PDF-1.4 tech transfer report"
    submitted = deal.ok(
        deal.submit(deal.milestone(work_order, 1), files=[("tt.pdf", content, "application/pdf")])
    )
    accepted = deal.ok(deal.decide(submitted))

    record = {
        "milestone": submitted["id"],
        "amount": "1000.10",
        "currency": "USD",
        "deliverables": [hashlib.sha256(content).hexdigest()],
        "accept": True,
    }
    assert [
        (s["signer_email"], s["meaning"], s["record_sha256"]) for s in accepted["signatures"]
    ] == [("buyer@northwind.example", "accepted", digest(record))]
    assert [e.after for e in deal.audit_events("sign", submitted["id"])] == [
        {
            "meaning": "accepted",
            "signer": "buyer@northwind.example",
            "record_sha256": digest(record),
        }
    ]
    assert [e.after for e in deal.audit_events("accept", submitted["id"])] == [
        {"status": "accepted"}
    ]


# --- milestones ---------------------------------------------------------------------------------


def test_milestone_planned_submitted_rejected_resubmitted_accepted(deal: Deal) -> None:
    work_order = deal.active()
    planned = deal.milestone(work_order, 1)

    assert deal.problem(deal.decide(planned), 409)["detail"] == (
        "milestone 1 is planned; only a submitted milestone is decided"
    )
    deal.problem(deal.submit(planned, version=planned["version"] + 1), 409)
    submitted = deal.ok(deal.submit(planned, note="transfer done"))
    assert submitted["status"] == "submitted"
    assert submitted["submitted_at"] is not None
    assert [(d["filename"], d["note"]) for d in submitted["deliverables"]] == [
        ("report.pdf", "transfer done")
    ]
    assert deal.problem(deal.submit(submitted), 409)["detail"] == (
        "milestone 1 is submitted; it cannot be submitted"
    )
    deal.problem(deal.decide(submitted, version=planned["version"]), 409)  # stale read

    no_reason = deal.problem(deal.decide(submitted, accept=False), 422)
    assert "say why the milestone is rejected" in no_reason["detail"]
    rejected = deal.ok(deal.decide(submitted, accept=False, reason="impurity profile missing"))
    assert (rejected["status"], rejected["rejection_reason"], rejected["invoice_id"]) == (
        "rejected",
        "impurity profile missing",
        None,
    )
    assert [s["meaning"] for s in rejected["signatures"]] == ["rejected"]
    assert deal.count(Invoice) == 0
    deal.problem(deal.decide(rejected), 409)

    again = deal.ok(
        deal.submit(rejected, files=[("impurities.csv", b"impurity,ppm\nA,12\n", "text/csv")])
    )
    assert (again["status"], again["rejection_reason"]) == ("submitted", None)
    assert [d["filename"] for d in again["deliverables"]] == ["report.pdf", "impurities.csv"]

    accepted = deal.ok(deal.decide(again))
    assert accepted["status"] == "accepted"
    assert accepted["decided_at"] is not None
    assert accepted["invoice_id"] is not None
    assert [s["meaning"] for s in accepted["signatures"]] == ["rejected", "accepted"]
    deal.problem(deal.decide(accepted), 409)
    deal.problem(deal.decide(accepted, accept=False, reason="changed my mind"), 409)
    deal.problem(deal.submit(accepted), 409)
    assert deal.count(Invoice) == 1


def test_milestones_are_submitted_only_on_an_active_work_order(deal: Deal) -> None:
    work_order = deal.pending()
    milestone = work_order["milestones"][0]
    assert deal.problem(deal.submit(milestone), 409)["detail"] == (
        "cannot submit milestones of a work order that is pending signature"
    )


# --- deliverables -------------------------------------------------------------------------------


def test_deliverables_are_stored_with_their_hash_and_rechecked_on_download(
    deal: Deal, files_dir: Path
) -> None:
    work_order = deal.active()
    report = b"%PDF-1.4 certificate of analysis, batch 7"
    data = b"lot,assay\n7,99.8\n"
    submitted = deal.ok(
        deal.submit(
            deal.milestone(work_order, 1),
            files=[("coa.pdf", report, "application/pdf"), ("assay.csv", data, "text/csv")],
            note="batch 7",
        )
    )
    assert [
        (d["filename"], d["content_type"], d["size_bytes"], d["sha256"], d["note"])
        for d in submitted["deliverables"]
    ] == [
        ("coa.pdf", "application/pdf", 41, hashlib.sha256(report).hexdigest(), "batch 7"),
        ("assay.csv", "text/csv", 17, hashlib.sha256(data).hexdigest(), "batch 7"),
    ]
    pdf, csv = submitted["deliverables"]
    stored = files_dir / pdf["sha256"][:2] / pdf["sha256"]
    assert stored.read_bytes() == report

    for actor in ("sponsor", "provider", "sponsor_viewer"):
        download = deal.get(f"/deliverables/{pdf['id']}/download", actor)
        assert download.status_code == 200
        assert download.content == report
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["x-content-sha256"] == pdf["sha256"]
        assert download.headers["content-disposition"] == (
            "attachment; filename=\"coa.pdf\"; filename*=UTF-8''coa.pdf"
        )

    stored.write_bytes(report.replace(b"batch 7", b"batch 8"))
    altered = deal.problem(deal.get(f"/deliverables/{pdf['id']}/download", "sponsor"), 409)
    assert altered["detail"] == "coa.pdf does not match its recorded SHA-256; it was altered"
    assert deal.get(f"/deliverables/{csv['id']}/download", "sponsor").content == data

    stored.unlink()
    missing = deal.problem(deal.get(f"/deliverables/{pdf['id']}/download", "sponsor"), 409)
    assert missing["detail"] == "coa.pdf is missing from the file store"


def test_an_empty_deliverable_or_none_at_all_is_refused(deal: Deal) -> None:
    work_order = deal.active()
    milestone = deal.milestone(work_order, 1)
    before = deal.state()

    empty = deal.problem(deal.submit(milestone, files=[("empty.pdf", b"", "application/pdf")]), 422)
    assert empty["detail"] == "empty.pdf is empty"
    assert empty["errors"] == [{"field": "file", "message": "the file is empty"}]
    one_empty = [("ok.pdf", b"%PDF ok", "application/pdf"), ("blank.txt", b"", "text/plain")]
    deal.problem(deal.submit(milestone, files=one_empty), 422)
    none = deal.problem(deal.submit(milestone, files=[]), 422)
    assert [e["field"] for e in none["errors"]] == ["files"]

    assert deal.state() == before
    assert deal.milestone(work_order, 1)["status"] == "planned"


# --- change orders ------------------------------------------------------------------------------


def test_a_change_order_applies_once_both_parties_sign_and_keeps_the_value_history(
    deal: Deal,
) -> None:
    work_order = deal.active()
    deal.accept(work_order, 1)
    current = deal.read(work_order)
    m1, m2, m3 = (m["id"] for m in current["milestones"])
    path = f"/work-orders/{work_order['id']}/change-orders"

    def propose(actor: str, *changes: dict[str, Any], version: int | None = None) -> Any:
        body = {
            "version": version or deal.read(work_order)["version"],
            "reason": "Second validation batch moved; final delivery replaced",
            "changes": list(changes),
        }
        return deal.post(path, actor, body)

    accepted_one = propose("sponsor", {"action": "change", "milestone_id": m1, "amount": "1.00"})
    assert deal.problem(accepted_one, 422)["errors"] == [
        {"field": "changes.1.milestone_id", "message": "already submitted or accepted"}
    ]
    deal.problem(propose("sponsor", {"action": "remove", "milestone_id": m3}, version=1), 409)
    deal.problem(propose("sponsor_viewer", {"action": "remove", "milestone_id": m3}), 403)

    changes = (
        {"action": "change", "milestone_id": m2, "amount": "2500.25", "due_date": "2030-05-01"},
        {"action": "remove", "milestone_id": m3},
        {
            "action": "add",
            "description": "Extra batch",
            "amount": "1234.56",
            "due_date": "2030-08-01",
        },
    )
    change = deal.ok(propose("sponsor", *changes), 201)
    # 6000.60 + (2500.25 − 2000.20) − 3000.30 + 1234.56
    assert (change["number"], change["status"]) == (1, "pending")
    assert (change["value_before"], change["value_after"]) == ("6000.60", "4734.91")
    assert change["changes"] == [
        {
            "action": "change",
            "milestone_id": m2,
            "position": 2,
            "before": {"description": "Validation batch", "deliverable": "Validation batch report",
                       "amount": "2000.20", "due_date": "2030-04-07"},
            "after": {"description": "Validation batch", "deliverable": "Validation batch report",
                      "amount": "2500.25", "due_date": "2030-05-01"},
        },
        {"action": "remove", "milestone_id": m3, "position": 3, "before": {"amount": "3000.30"}},
        {"action": "add", "description": "Extra batch", "deliverable": "", "amount": "1234.56",
         "due_date": "2030-08-01"},
    ]  # fmt: skip
    assert change["awaiting_signature_from"] == ["Apex Chem", "Northwind Therapeutics"]
    assert deal.read(work_order)["total_value"] == "6000.60"  # nothing applies before signing
    assert (
        "waiting for signatures"
        in deal.problem(propose("provider", {"action": "remove", "milestone_id": m2}), 409)[
            "detail"
        ]
    )

    sign = f"/change-orders/{change['id']}/sign"
    before = deal.state()
    wrong = deal.problem(deal.post(sign, "sponsor", {"password": "nope"}), 422)
    assert wrong["errors"] == WRONG_PASSWORD
    assert deal.state() == before
    deal.problem(deal.post(sign, "sponsor_member", {"password": PASSWORD}), 403)

    one = deal.ok(deal.post(sign, "sponsor", {"password": PASSWORD, "meaning": "approved"}))
    assert (one["status"], one["awaiting_signature_from"]) == ("pending", ["Apex Chem"])
    deal.problem(deal.post(sign, "sponsor2", {"password": PASSWORD}), 409)
    applied = deal.ok(deal.post(sign, "provider", {"password": PASSWORD, "meaning": "approved"}))
    assert (applied["status"], applied["awaiting_signature_from"]) == ("applied", [])
    assert applied["applied_at"] is not None
    assert [(s["signer_email"], s["meaning"]) for s in applied["signatures"]] == [
        ("buyer@northwind.example", "approved"),
        ("sales@apex.example", "approved"),
    ]
    assert deal.problem(deal.post(sign, "provider", {"password": PASSWORD}), 409)["detail"] == (
        "change order 1 is applied"
    )

    changed = deal.read(work_order)
    assert changed["total_value"] == "4734.91"
    assert _rows(changed["milestones"]) == [
        (1, "Process transfer", "1000.10", "2030-02-06", "accepted", False),
        (2, "Validation batch", "2500.25", "2030-05-01", "planned", False),
        (4, "Extra batch", "1234.56", "2030-08-01", "planned", False),
    ]
    assert [(p["change"], p["value"]) for p in changed["value_history"]] == [
        ("work order", "6000.60"),
        ("change order 1", "4734.91"),
    ]
    assert [c["id"] for c in deal.ok(deal.get(path, "provider"))] == [change["id"]]

    # the provider proposes the next one; the history grows
    extra = changed["milestones"][2]["id"]
    second = deal.ok(
        propose("provider", {"action": "change", "milestone_id": extra, "amount": "1000.00"}), 201
    )
    assert (second["number"], second["value_before"], second["value_after"]) == (
        2,
        "4734.91",
        "4500.35",
    )
    for actor in ("provider", "sponsor"):
        deal.ok(deal.post(f"/change-orders/{second['id']}/sign", actor, {"password": PASSWORD}))
    assert [(p["change"], p["value"]) for p in deal.read(work_order)["value_history"]] == [
        ("work order", "6000.60"),
        ("change order 1", "4734.91"),
        ("change order 2", "4500.35"),
    ]


def test_a_change_order_cannot_apply_to_a_milestone_accepted_after_it_was_proposed(
    deal: Deal,
) -> None:
    work_order = deal.active()
    m2 = deal.milestone(work_order, 2)
    body = {
        "version": deal.read(work_order)["version"],
        "reason": "Validation batch costs more",
        "changes": [{"action": "change", "milestone_id": m2["id"], "amount": "2999.99"}],
    }
    change = deal.ok(
        deal.post(f"/work-orders/{work_order['id']}/change-orders", "sponsor", body), 201
    )
    sign = f"/change-orders/{change['id']}/sign"
    deal.ok(deal.post(sign, "sponsor", {"password": PASSWORD}))

    accepted = deal.accept(work_order, 2)  # its invoice is drafted for 2000.20
    refused = deal.problem(deal.post(sign, "provider", {"password": PASSWORD}), 409)
    assert refused["detail"] == (
        "milestone 2 is accepted since change order 1 was proposed; the change can no longer apply"
    )
    assert deal.milestone(work_order, 2)["amount"] == "2000.20"
    assert deal.invoice(accepted["invoice_id"])["amount"] == "2000.20"
    assert deal.read(work_order)["total_value"] == "6000.60"


# --- invoices and payments ----------------------------------------------------------------------


def test_invoice_draft_issued_paid_with_partial_payments_exact_to_the_cent(deal: Deal) -> None:
    work_order = deal.active(terms=45)
    accepted = deal.accept(work_order, 1)
    invoice_id = accepted["invoice_id"]

    draft = deal.invoice(invoice_id, "provider")
    assert draft["milestone_id"] == accepted["id"]
    assert draft["work_order_id"] == work_order["id"]
    assert {k: v for k, v in draft.items() if k not in IDS} == {
        "number": None,
        "amount": "1000.10",
        "currency": "USD",
        "status": "draft",
        "issued_on": None,
        "due_on": None,
        "paid": "0.00",
        "outstanding": "1000.10",
        "overdue": False,
        "payments": [],
        "milestone": "1. Process transfer",
        "work_order_number": work_order["number"],
    }

    assert deal.problem(deal.pay(invoice_id, "100.00"), 409)["detail"] == (
        "only an issued invoice is paid (this one is draft)"
    )
    deal.problem(deal.issue(invoice_id, number="NW-1", issued_on=START, actor="sponsor"), 403)
    deal.problem(
        deal.issue(invoice_id, number="A-1", issued_on=START, actor="provider_viewer"), 403
    )
    assert deal.count(Payment) == 0

    # 10 February 2030 + net 45 days = 27 March 2030
    issued = deal.ok(deal.issue(invoice_id, number="APX-2030-001", issued_on=date(2030, 2, 10)))
    assert (issued["number"], issued["status"], issued["issued_on"], issued["due_on"]) == (
        "APX-2030-001",
        "issued",
        "2030-02-10",
        "2030-03-27",
    )
    assert date.fromisoformat(issued["due_on"]) - date.fromisoformat(issued["issued_on"]) == (
        timedelta(days=45)
    )
    deal.problem(deal.issue(invoice_id, number="APX-2030-002", issued_on=START), 409)
    deal.problem(deal.pay(invoice_id, "100.00", actor="provider"), 403)
    deal.problem(deal.pay(invoice_id, "100.00", actor="sponsor_member"), 403)

    first = deal.ok(deal.pay(invoice_id, "300.03", paid_on=date(2030, 3, 1)))
    assert (first["status"], first["paid"], first["outstanding"]) == ("issued", "300.03", "700.07")

    before = deal.state()
    over = deal.problem(deal.pay(invoice_id, "700.08", paid_on=date(2030, 3, 10)), 422)
    assert over["detail"] == "the payment exceeds the outstanding 700.07 USD"
    assert over["errors"] == [{"field": "amount", "message": "at most 700.07"}]
    for bad in ("0", "-1.00", "0.001"):
        deal.problem(deal.pay(invoice_id, bad), 422)
    assert deal.state() == before

    second = deal.ok(deal.pay(invoice_id, "700.06", paid_on=date(2030, 3, 20)))
    assert (second["status"], second["paid"], second["outstanding"]) == (
        "issued",
        "1000.09",
        "0.01",
    )
    paid = deal.ok(deal.pay(invoice_id, "0.01", paid_on=date(2030, 3, 27)))
    assert (paid["status"], paid["paid"], paid["outstanding"], paid["overdue"]) == (
        "paid",
        "1000.10",
        "0.00",
        False,
    )
    assert [(p["amount"], p["paid_on"]) for p in paid["payments"]] == [
        ("300.03", "2030-03-01"),
        ("700.06", "2030-03-20"),
        ("0.01", "2030-03-27"),
    ]
    assert deal.problem(deal.pay(invoice_id, "0.01"), 409)["detail"] == (
        "only an issued invoice is paid (this one is paid)"
    )
    assert deal.count(Payment) == 3
    assert [e.after for e in deal.audit_events("pay", invoice_id)] == [
        {"amount": "300.03", "status": "issued"},
        {"amount": "700.06", "status": "issued"},
        {"amount": "0.01", "status": "paid"},
    ]
    summary = deal.ok(deal.get("/work-orders", "sponsor"))["items"]
    assert [(s["number"], s["total_value"], s["paid"]) for s in summary] == [
        (work_order["number"], "6000.60", "1000.10")
    ]


# --- overdue flags ------------------------------------------------------------------------------


def test_overdue_milestones_and_invoices_are_flagged(deal: Deal) -> None:
    lines = (
        ("Kick-off", "100.00", "USD", 0),
        ("Report", "200.00", "USD", 10),
        ("Final", "300.00", "USD", 20),
    )
    work_order = deal.active(start=days(-10), lines=lines, terms=30)
    # due ten days ago, today, in ten days
    assert [(m["due_date"], m["overdue"]) for m in work_order["milestones"]] == [
        (days(-10).isoformat(), True),
        (TODAY.isoformat(), False),
        (days(10).isoformat(), False),
    ]

    late = deal.milestone(work_order, 1)
    submitted = deal.ok(deal.submit(late))
    assert submitted["overdue"] is False  # delivered: the sponsor's turn
    rejected = deal.ok(deal.decide(submitted, accept=False, reason="incomplete"))
    assert rejected["overdue"] is True  # back with the provider, still late
    accepted = deal.ok(deal.decide(deal.ok(deal.submit(rejected))))
    assert accepted["overdue"] is False

    invoice_id = accepted["invoice_id"]
    assert deal.invoice(invoice_id)["overdue"] is False  # a draft is not due
    issued = deal.ok(deal.issue(invoice_id, number="K-1", issued_on=days(-31)))
    assert (issued["due_on"], issued["overdue"]) == (days(-1).isoformat(), True)
    partly = deal.ok(deal.pay(invoice_id, "99.99"))
    assert (partly["outstanding"], partly["overdue"]) == ("0.01", True)
    paid = deal.ok(deal.pay(invoice_id, "0.01"))
    assert (paid["status"], paid["overdue"]) == ("paid", False)

    due_today = deal.accept(work_order, 2)["invoice_id"]
    issued = deal.ok(deal.issue(due_today, number="K-2", issued_on=days(-30)))
    assert (issued["due_on"], issued["overdue"]) == (TODAY.isoformat(), False)
    assert [
        (i["number"], i["status"], i["overdue"]) for i in deal.ok(deal.get("/invoices", "sponsor"))
    ] == [
        ("K-1", "paid", False),
        ("K-2", "issued", False),
    ]
    assert [i["number"] for i in deal.ok(deal.get("/invoices?status=issued", "provider"))] == [
        "K-2"
    ]


# --- spend --------------------------------------------------------------------------------------


def test_spend_by_program_provider_stage_and_country_exact_to_the_cent(deal: Deal) -> None:
    # A: NW-101, Apex (CN), GMP API, USD 1000.10 + 2000.20 + 3000.30
    a = deal.active()
    deal.accept(a, 1)  # accrued 1000.10
    a2 = deal.accept(a, 2)["invoice_id"]
    deal.ok(deal.issue(a2, number="A-2", issued_on=START))  # invoiced 2000.20
    deal.ok(deal.pay(a2, "500.05"))  # paid 500.05
    # B: NW-202, Apex (CN), clinical monitoring, EUR 400.40 + 600.60
    b = deal.active(
        program="NW-202",
        service="CLIN-MONITOR",
        lines=(("Site visits", "400.40", "EUR", 30), ("Close-out", "600.60", "EUR", 60)),
        rates={"EUR": "1.0837"},  # the award needs it; the work order stays in EUR
    )
    b1 = deal.accept(b, 1)["invoice_id"]
    deal.ok(deal.issue(b1, number="B-1", issued_on=START))
    deal.ok(deal.pay(b1, "400.40"))  # invoiced and paid 400.40
    # C: NW-101, Borealis (IN), GMP API, USD 777.77 — signed, nothing done yet
    deal.active(provider="borealis", lines=(("All-in", "777.77", "USD", 60),))
    # D: not signed yet, so not committed
    deal.pending(provider="borealis", program="NW-202", lines=(("Big", "5000.00", "USD", 60),))

    def spend(by: str, actor: str = "sponsor") -> list[tuple[str, ...]]:
        report = deal.ok(deal.get(f"/spend?by={by}", actor))
        assert report["by"] == by
        return [
            (
                r["key"],
                r["currency"],
                r["committed"],
                r["accrued"],
                r["invoiced"],
                r["paid"],
                r["remaining"],
            )
            for r in report["rows"]
        ]

    # key, currency, committed, accrued, invoiced, paid, remaining (committed − accrued − invoiced)
    apex_eur = ("EUR", "1001.00", "0.00", "400.40", "400.40", "600.60")
    apex_usd = ("USD", "6000.60", "1000.10", "2000.20", "500.05", "3000.30")
    borealis_usd = ("USD", "777.77", "0.00", "0.00", "0.00", "777.77")
    usd_101 = ("USD", "6778.37", "1000.10", "2000.20", "500.05", "3778.07")
    assert spend("program") == [("NW-101", *usd_101), ("NW-202", *apex_eur)]
    assert spend("provider") == [
        ("Apex Chem", *apex_eur),
        ("Apex Chem", *apex_usd),
        ("Borealis Labs", *borealis_usd),
    ]
    assert spend("stage") == [
        ("CMC (chemistry, manufacturing and controls)", *usd_101),
        ("Clinical", *apex_eur),
    ]
    assert spend("country") == [("CN", *apex_eur), ("CN", *apex_usd), ("IN", *borealis_usd)]
    # each party sees its own contracts only
    assert spend("provider", "provider") == [("Apex Chem", *apex_eur), ("Apex Chem", *apex_usd)]
    assert spend("country", "other_provider") == [("IN", *borealis_usd)]
    assert spend("sponsor", "provider") == [
        ("Northwind Therapeutics", *apex_eur),
        ("Northwind Therapeutics", *apex_usd),
    ]
    assert spend("program", "other_sponsor") == []
    assert deal.problem(deal.get("/spend?by=colour", "sponsor"), 422)["errors"] == [
        {"field": "by", "message": "unknown dimension"}
    ]


# --- who sees and does what ---------------------------------------------------------------------


def test_outsiders_see_nothing_and_each_party_does_only_its_part(deal: Deal) -> None:
    work_order = deal.active()
    wo = f"/work-orders/{work_order['id']}"
    submitted = deal.ok(deal.submit(deal.milestone(work_order, 1)))
    deliverable = submitted["deliverables"][0]["id"]
    accepted = deal.accept(work_order, 2)
    invoice = accepted["invoice_id"]
    change = deal.ok(
        deal.post(
            f"{wo}/change-orders",
            "sponsor",
            {
                "version": deal.read(work_order)["version"],
                "reason": "Delivery moved",
                "changes": [
                    {
                        "action": "change",
                        "milestone_id": work_order["milestones"][2]["id"],
                        "due_date": "2030-07-01",
                    }
                ],
            },
        ),
        201,
    )
    version = deal.read(work_order)["version"]
    remove = {"action": "remove", "milestone_id": submitted["id"]}
    decision = {"version": submitted["version"], "accept": True, "password": PASSWORD}
    issue = {"version": 1, "number": "X", "issued_on": "2030-01-01"}
    payment = {"version": 1, "amount": "1.00", "paid_on": "2030-01-01"}
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", wo, None),
        ("GET", f"{wo}/change-orders", None),
        ("POST", f"{wo}/send-for-signature", {"version": version}),
        ("POST", f"{wo}/sign", {"password": PASSWORD}),
        ("POST", f"{wo}/terminate", {"version": version, "reason": "outsider"}),
        ("POST", f"{wo}/complete", {"version": version}),
        (
            "POST",
            f"{wo}/change-orders",
            {"version": version, "reason": "x" * 9, "changes": [remove]},
        ),
        ("POST", f"/change-orders/{change['id']}/sign", {"password": PASSWORD}),
        ("POST", f"/milestones/{submitted['id']}/decision", decision),
        ("GET", f"/deliverables/{deliverable}/download", None),
        ("GET", f"/invoices/{invoice}", None),
        ("POST", f"/invoices/{invoice}/issue", issue),
        ("POST", f"/invoices/{invoice}/payments", payment),
    ]
    before = deal.state()
    for method, path, body in calls:
        for actor, status in (("other_sponsor", 404), ("other_provider", 404), (None, 401)):
            response = deal.call(method, path, actor, body)
            assert response.status_code == status, (method, path, actor, response.text)
    for actor, status in (("other_sponsor", 404), ("other_provider", 404), (None, 401)):
        response = deal.submit(work_order["milestones"][2], actor=actor)
        assert response.status_code == status, response.text
    assert deal.ok(deal.get("/work-orders", "other_sponsor"))["items"] == []
    assert deal.ok(deal.get("/work-orders", "other_provider"))["items"] == []
    assert deal.ok(deal.get("/invoices", "other_sponsor")) == []
    assert deal.ok(deal.get("/invoices", "other_provider")) == []
    deal.problem(deal.get("/work-orders", None), 401)

    # each party does its own part only; a role without the permission is refused
    planned = deal.milestone(work_order, 3)
    refused = [
        # the provider neither decides, pays, completes nor sends; the sponsor neither submits
        # nor issues invoices
        deal.decide(submitted, actor="provider"),
        deal.pay(invoice, "1.00", actor="provider"),
        deal.transition(work_order, "complete", "provider"),
        deal.send(work_order, "provider"),
        deal.submit(planned, actor="sponsor"),
        deal.issue(invoice, number="S-1", issued_on=START, actor="sponsor"),
        # roles without contracts:sign / payments:write / contracts:write
        deal.decide(submitted, actor="sponsor_viewer"),
        deal.pay(invoice, "1.00", actor="sponsor_viewer"),
        deal.decide(submitted, actor="sponsor_member"),
        deal.pay(invoice, "1.00", actor="sponsor_member"),
        deal.submit(planned, actor="provider_viewer"),
        deal.issue(invoice, number="V-1", issued_on=START, actor="provider_viewer"),
    ]
    for response in refused:
        deal.problem(response, 403)
    assert deal.state() == before
    assert deal.count(Signature) == 4  # the award, both parties on the work order, one acceptance

    # the permitted reads answer both parties and their viewers
    for actor in ("sponsor", "sponsor_viewer", "provider", "provider_viewer"):
        assert deal.read(work_order, actor)["id"] == work_order["id"]
        assert deal.invoice(invoice, actor)["amount"] == "2000.20"


def test_only_the_sponsor_with_the_permission_drafts_a_work_order(deal: Deal) -> None:
    award = deal.award()
    body = {"award_id": award["id"]}
    before = deal.state()
    deal.problem(deal.post("/work-orders", None, body), 401)
    deal.problem(deal.post("/work-orders", "other_sponsor", body), 404)
    deal.problem(deal.post("/work-orders", "provider", body), 404)
    deal.problem(deal.post("/work-orders", "sponsor_viewer", body), 403)
    assert deal.state() == before
    deal.ok(deal.post("/work-orders", "sponsor_member", body), 201)
