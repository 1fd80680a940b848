"""Contracts fixes of the QA pass of 2026-12-05 (docs/decisions.md, "Sourcing and contracts: QA
fixes")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from opencxo.core.types import utcnow
from tests.contracts.conftest import START, TODAY, Deal, days


def test_an_invoice_number_used_on_the_work_order_is_refused_next_to_its_field(
    deal: Deal,
) -> None:
    """Invoice numbers are unique per work order; the database refused the second one with a
    409 naming no field, and the page lost the form."""
    work_order = deal.active()
    first = deal.accept(work_order, 1)["invoice_id"]
    second = deal.accept(work_order, 2)["invoice_id"]
    deal.ok(deal.issue(first, number="INV-001", issued_on=START))
    before = deal.invoice(second)

    refused = deal.problem(deal.issue(second, number="INV-001", issued_on=START), 409)
    assert refused["detail"] == f"invoice number INV-001 is already used on {work_order['number']}"
    assert refused["errors"] == [{"field": "number", "message": "already used on this work order"}]
    assert deal.invoice(second) == before
    assert deal.ok(deal.issue(second, number="INV-002", issued_on=START))["number"] == "INV-002"


def test_an_msa_ending_before_it_starts_names_the_expiry_date(deal: Deal) -> None:
    """The rule was a model validator: the 422 named the field "body"."""
    body = deal.msa_body(effective_date="2030-01-01", expiry_date="2029-12-31")
    refused = deal.problem(deal.post("/msas", "sponsor", body), 422)
    assert refused["errors"] == [
        {
            "field": "expiry_date",
            "message": "Value error, the expiry date must be after the effective date",
        }
    ]
    assert deal.ok(deal.get("/msas", "sponsor")) == []


def test_a_provider_asking_for_an_msa_is_told_only_a_sponsor_makes_one(deal: Deal) -> None:
    """It was a 422 asking it to "say which sponsor", as if it could."""
    refused = deal.problem(deal.post("/msas", "provider", deal.msa_body()), 403)
    assert refused["detail"] == "only a sponsor organisation creates MSAs with its providers"
    assert deal.ok(deal.get("/msas", "provider")) == []


@pytest.fixture
def local_date_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server's local zone set where its date is not the UTC date right now (+14 h in the
    UTC afternoon, −12 h in the morning)."""
    zone = "Etc/GMT-14" if utcnow().hour >= 12 else "Etc/GMT+12"
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    assert date.today() != utcnow().date()
    yield
    monkeypatch.undo()
    time.tzset()


def test_overdue_follows_the_utc_date_not_the_servers_local_one(
    deal: Deal, local_date_not_utc: None
) -> None:
    lines = (("Kick-off", "100.00", "USD", 0), ("Report", "200.00", "USD", 10))
    work_order = deal.active(start=days(-10), lines=lines, terms=30)
    invoice_id = deal.accept(work_order, 2)["invoice_id"]
    issued = deal.ok(deal.issue(invoice_id, number="K-2", issued_on=days(-30)))
    # due today (UTC): not overdue, whatever the server's clock zone says
    assert (issued["due_on"], issued["overdue"]) == (TODAY.isoformat(), False)
    assert [(m["due_date"], m["overdue"]) for m in deal.ok(deal.get(
        f"/work-orders/{work_order['id']}", "sponsor"))["milestones"]] == [
        (days(-10).isoformat(), True), (TODAY.isoformat(), False),
    ]  # fmt: skip


def test_a_payment_dated_before_its_invoice_was_issued_is_refused(deal: Deal) -> None:
    invoice_id = deal.accept(deal.active(), 1)["invoice_id"]
    deal.ok(deal.issue(invoice_id, number="P-1", issued_on=START))
    early = deal.pay(invoice_id, "10.00", paid_on=START - timedelta(days=1))
    assert early.status_code == 422
    assert early.json()["errors"] == [
        {"field": "paid_on", "message": f"on or after its issue date, {START}"}
    ]
    assert deal.invoice(invoice_id)["payments"] == []
    on_the_day = deal.ok(deal.pay(invoice_id, "10.00", paid_on=START))
    assert [p["paid_on"] for p in on_the_day["payments"]] == [START.isoformat()]
