"""Sourcing fixes of the QA pass of 2026-12-05 (docs/decisions.md, "Sourcing and contracts: QA
fixes")."""

from __future__ import annotations

from typing import Any

from opencxo.core.signatures import Signature
from opencxo.sourcing.models import Award
from tests.sourcing.conftest import API_LOT, MONITORING_LOT, Market, offer


def _closed(market: Market, *lines: tuple[str, str, int]) -> tuple[dict, str, str, str]:
    """A closed two-lot RFP with Apex's bid on both lots: (rfp, lot 1, lot 2, bid id)."""
    rfp = market.open_rfp(lots=[API_LOT, MONITORING_LOT])
    lot1, lot2 = (lot["id"] for lot in rfp["lots"])
    bid = market.bid(
        rfp,
        "apex",
        offer(lot1, *(lines or (("1000.00", "USD", 30),))),
        offer(lot2, ("2000.00", "USD", 30)),
    )
    market.pass_deadline(rfp)
    return rfp, lot1, lot2, bid["id"]


def test_an_award_without_the_version_it_was_read_at_is_a_422_naming_it(market: Market) -> None:
    rfp, lot1, _, bid_id = _closed(market)
    before = market.read(rfp)
    refused = market.problem(market.award(rfp, lot1, bid_id, version=None), 422)
    assert refused["errors"] == [{"field": "version", "message": "Field required"}]
    assert market.count(Award) == 0 and market.count(Signature) == 0
    assert market.read(rfp) == before


def test_an_award_at_a_stale_version_is_a_409_and_changes_nothing(market: Market) -> None:
    rfp, lot1, _, bid_id = _closed(market)
    stale = market.read(rfp)["version"]
    market.set_rates(rfp, {"EUR": "1.08"})  # a colleague's change since the comparison was read
    before = market.read(rfp)
    events = len(market.audit_events())
    refused = market.problem(market.award(rfp, lot1, bid_id, version=stale), 409)
    assert refused["detail"] == (
        f"RFP was changed by someone else (version {stale + 1}, you sent {stale}); "
        "reload it and apply your change again"
    )
    assert market.count(Award) == 0 and market.count(Signature) == 0
    assert len(market.audit_events()) == events
    assert market.read(rfp) == before
    assert market.ok(market.award(rfp, lot1, bid_id, version=stale + 1), 201)["amount"] == (
        "1000.00"
    )


def test_the_rate_an_awarded_offer_was_priced_at_cannot_change(market: Market) -> None:
    """Lot 1 is awarded on a bid in EUR and USD at EUR 1.10; lot 2 still waits. A new EUR rate
    would price the work order's milestones at it while the award (and its signature) stays at
    the old one: the last milestone absorbed the whole difference (-400.00 USD here)."""
    rfp, lot1, _, bid_id = _closed(market, ("1000.00", "EUR", 30), ("500.00", "USD", 60))
    market.set_rates(rfp, {"EUR": "1.10"})
    award = market.ok(market.award(rfp, lot1, bid_id), 201)
    assert (award["amount"], award["currency"]) == ("1600.00", "USD")

    version = market.read(rfp)["version"]
    body = {"version": version, "rates": {"EUR": "2.00", "INR": "0.012"}}
    refused = market.problem(market.put(f"/rfps/{rfp['id']}/exchange-rates", "sponsor", body), 409)
    assert refused["detail"] == (
        "lot 1 is awarded at EUR 1.10; that rate can no longer change (rates of other "
        "currencies can)"
    )
    assert market.read(rfp)["exchange_rates"] == {"EUR": "1.10"}
    assert market.read(rfp)["version"] == version
    # A currency no award was priced in still takes its rate; the awarded one may be repeated.
    kept = market.set_rates(rfp, {"EUR": "1.10", "INR": "0.012"})
    assert kept["exchange_rates"] == {"EUR": "1.10", "INR": "0.012"}
    removed = market.put(
        f"/rfps/{rfp['id']}/exchange-rates",
        "sponsor",
        {"version": kept["version"], "rates": {"INR": "0.012"}},
    )
    assert market.problem(removed, 409)["detail"].startswith("lot 1 is awarded at EUR 1.10")

    work_order = market.ok(market.post("/work-orders", "sponsor", {"award_id": award["id"]}), 201)
    assert (work_order["currency"], work_order["total_value"]) == ("USD", "1600.00")
    assert [m["amount"] for m in work_order["milestones"]] == ["1100.00", "500.00"]


def test_changing_a_drafts_base_currency_drops_the_rates_entered_against_the_old_one(
    market: Market,
) -> None:
    """1 INR = 0.012 USD kept after the base became EUR read as 1 INR = 0.012 EUR."""
    draft = market.draft()

    def edit(**changes: str) -> dict[str, Any]:
        body = market.rfp_body(**changes) | {"version": market.read(draft)["version"]}
        del body["program_id"]
        return market.document(market.put(f"/rfps/{draft['id']}", "sponsor", body))

    market.set_rates(draft, {"INR": "0.012"})
    edited = edit(base_currency="EUR")
    assert (edited["base_currency"], edited["exchange_rates"]) == ("EUR", {})
    update = market.audit_events("update")[-1]
    assert (update.before["exchange_rates"], update.after["exchange_rates"]) == (
        {"INR": "0.012"},
        {},
    )
    market.set_rates(draft, {"INR": "0.011"})
    assert edit(base_currency="EUR", title="Renamed")["exchange_rates"] == {"INR": "0.011"}
