"""Contract dates stay within 1900-01-01 … 2199-12-31 (refused naming the field, never a 500),
and a change order names each milestone at most once."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import update

from opencxo.contracts.models import ChangeOrder, Msa, Payment, WorkOrder
from opencxo.sourcing.models import BidLot
from tests.contracts.conftest import Deal
from tests.factories import PASSWORD

OUT_OF_RANGE = "Value error, use a date between 1900-01-01 and 2199-12-31"


def test_an_award_whose_stored_bid_dates_overflow_becomes_no_work_order(deal: Deal) -> None:
    """A bid stored before bid dates were bounded (start 9999-12-31, 3650 days) was awarded;
    drafting its work order once answered 500 (OverflowError)."""
    award = deal.award()
    with deal.engine.begin() as connection:
        connection.execute(
            update(BidLot)
            .where(BidLot.bid_id == uuid.UUID(award["bid_id"]))
            .values(start_date=date(9999, 12, 31), duration_days=3650)
        )
    before = deal.state()
    refused = deal.problem(
        deal.post("/work-orders", "sponsor", {"award_id": award["id"], "payment_terms_days": 30}),
        422,
    )
    assert refused["detail"] == (
        "the awarded bid starts on 9999-12-31 and its milestones would fall due outside "
        "1900-01-01 … 2199-12-31; this bid's dates cannot become a work order"
    )
    assert refused["errors"] == [
        {"field": "award_id", "message": "the bid's dates leave 1900-01-01 … 2199-12-31"}
    ]
    assert deal.state() == before
    assert deal.count(WorkOrder) == 0
    assert deal.count(Msa) == 0


def test_invoice_issue_and_payment_dates_stay_in_range(deal: Deal) -> None:
    work_order = deal.active(terms=45)
    invoice_id = deal.accept(work_order, 1)["invoice_id"]
    before = deal.state()
    for issued_on in (date(9999, 12, 31), date(1, 1, 1), date(1899, 12, 31)):
        refused = deal.problem(deal.issue(invoice_id, number="X", issued_on=issued_on), 422)
        assert refused["errors"] == [{"field": "issued_on", "message": OUT_OF_RANGE}]
    # in range, but net 45 days would fall due after the last date
    late = deal.problem(deal.issue(invoice_id, number="X", issued_on=date(2199, 12, 31)), 422)
    assert late["detail"] == (
        "issued on 2199-12-31 with net 45 days, the invoice would fall due after 2199-12-31; "
        "give an issue date on or before 2199-11-16"
    )
    assert late["errors"] == [{"field": "issued_on", "message": "on or before 2199-11-16"}]
    assert deal.state() == before
    assert deal.invoice(invoice_id)["status"] == "draft"

    last = deal.ok(deal.issue(invoice_id, number="X", issued_on=date(2199, 11, 16)))
    assert (last["issued_on"], last["due_on"]) == ("2199-11-16", "2199-12-31")

    issued = deal.state()
    for paid_on in (date(9999, 12, 31), date(1, 1, 1)):
        refused = deal.problem(deal.pay(invoice_id, "1.00", paid_on=paid_on), 422)
        assert refused["errors"] == [{"field": "paid_on", "message": OUT_OF_RANGE}]
    assert deal.state() == issued
    assert deal.count(Payment) == 0


def test_msa_and_milestone_dates_stay_in_range(deal: Deal) -> None:
    body = deal.msa_body(expiry_date="9999-12-31")
    before = deal.state()
    refused = deal.problem(deal.post("/msas", "sponsor", body), 422)
    assert refused["errors"] == [{"field": "expiry_date", "message": OUT_OF_RANGE}]
    assert deal.state() == before

    work_order = deal.active()
    path = f"/work-orders/{work_order['id']}/change-orders"
    add = {"action": "add", "description": "Extra", "amount": "1.00", "due_date": "0001-01-01"}
    proposal: dict[str, Any] = {
        "version": deal.read(work_order)["version"],
        "reason": "One more batch",
        "changes": [add],
    }
    before = deal.state()
    refused = deal.problem(deal.post(path, "sponsor", proposal), 422)
    assert refused["errors"] == [{"field": "changes.0.due_date", "message": OUT_OF_RANGE}]
    assert deal.state() == before


def _propose(deal: Deal, work_order: dict[str, Any], *changes: dict[str, Any]) -> Any:
    body = {
        "version": deal.read(work_order)["version"],
        "reason": "Final delivery dropped",
        "changes": list(changes),
    }
    return deal.post(f"/work-orders/{work_order['id']}/change-orders", "sponsor", body)


def test_a_change_order_names_each_milestone_once(deal: Deal) -> None:
    """Removing the same milestone twice once subtracted its amount twice from the value."""
    work_order = deal.active()
    m1, m2, m3 = (m["id"] for m in deal.read(work_order)["milestones"])
    before = deal.state()
    remove = {"action": "remove", "milestone_id": m3}
    change = {"action": "change", "milestone_id": m3, "amount": "1.00"}
    for first, second in ((remove, remove), (change, remove), (remove, change), (change, change)):
        refused = deal.problem(_propose(deal, work_order, first, second), 422)
        assert refused["detail"] == (
            "changes 1 and 2 name the same milestone; "
            "put everything that changes one milestone into a single change"
        )
        assert refused["errors"] == [
            {"field": "changes.2.milestone_id", "message": "already named by change 1"}
        ]
    # also when other changes come between
    between = deal.problem(
        _propose(deal, work_order, remove, {"action": "remove", "milestone_id": m1}, change), 422
    )
    assert between["errors"] == [
        {"field": "changes.3.milestone_id", "message": "already named by change 1"}
    ]
    assert deal.state() == before
    assert deal.count(ChangeOrder) == 0

    # once each: 6000.60 − 3000.30
    proposed = deal.ok(_propose(deal, work_order, remove), 201)
    assert (proposed["value_before"], proposed["value_after"]) == ("6000.60", "3000.30")
    sign = f"/change-orders/{proposed['id']}/sign"
    for actor in ("sponsor", "provider"):
        deal.ok(deal.post(sign, actor, {"password": PASSWORD}))
    assert [(p["change"], p["value"]) for p in deal.read(work_order)["value_history"]] == [
        ("work order", "6000.60"),
        ("change order 1", "3000.30"),
    ]
    assert m2 in {m["id"] for m in deal.read(work_order)["milestones"]}
