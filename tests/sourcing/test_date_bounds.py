"""Business dates are bounded (1900-01-01 … 2199-12-31, spans of at most 3650 days): input
outside is refused naming the field, and a bid stored before the bounds still compares."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import update

from opencxo.sourcing.models import Bid, BidLot, Rfp
from tests.sourcing.conftest import Market, offer

OUT_OF_RANGE = "Value error, use a date between 1900-01-01 and 2199-12-31"


def lot_ids(rfp: dict[str, Any]) -> list[str]:
    return [lot["id"] for lot in rfp["lots"]]


def _dated(lot: str, start: str, duration: int) -> dict[str, Any]:
    body = offer(lot, ("100.00", "USD", 10), duration=duration)
    body["start_date"] = start
    return body


def test_a_bid_starting_or_ending_outside_the_date_range_is_refused(market: Market) -> None:
    rfp = market.open_rfp()
    [lot] = lot_ids(rfp)
    for start in ("9999-12-31", "0001-01-01", "1899-12-31", "2200-01-01"):
        refused = market.save_bid(rfp, "apex", _dated(lot, start, 3650))
        assert market.problem(refused, 422)["errors"] == [
            {"field": "lots.0.start_date", "message": OUT_OF_RANGE}
        ], start
    too_long = market.save_bid(rfp, "apex", _dated(lot, "2199-12-01", 3650))
    assert market.problem(too_long, 422)["errors"] == [
        {
            "field": "lots.0",
            "message": "Value error, the offer would end after 2199-12-31; "
            "start earlier or shorten the duration",
        }
    ]
    longer = market.save_bid(rfp, "apex", _dated(lot, "2030-01-01", 3651))
    assert market.problem(longer, 422)["errors"][0]["field"] == "lots.0.duration_days"
    assert market.count(Bid) == 0
    assert market.count(BidLot) == 0
    # the bounds themselves are fine
    market.ok(market.save_bid(rfp, "apex", _dated(lot, "1900-01-01", 3650)))
    assert market.count(BidLot) == 1


def test_an_rfp_deadline_or_patent_expiry_outside_the_date_range_is_refused(
    market: Market,
) -> None:
    far = market.post("/rfps", "sponsor", market.rfp_body(bid_deadline="9999-12-31T23:00:00-05:00"))
    assert market.problem(far, 422)["errors"] == [
        {"field": "bid_deadline", "message": OUT_OF_RANGE}
    ]
    program = {
        "name": "NW-999",
        "modality": "small_molecule",
        "therapeutic_area": "Oncology",
        "indication": "NSCLC",
        "phase": "phase_2",
        "patent_expiry": "0001-01-01",
    }
    refused = market.post("/programs", "sponsor", program)
    assert market.problem(refused, 422)["errors"] == [
        {"field": "patent_expiry", "message": OUT_OF_RANGE}
    ]
    assert market.count(Rfp) == 0


def test_a_bid_stored_with_dates_at_the_end_of_time_still_compares(market: Market) -> None:
    """A bid saved before dates were bounded: its work 'ends' past date.max, which once made
    the comparison answer 500 (OverflowError)."""
    rfp = market.open_rfp()
    [lot] = lot_ids(rfp)
    bid = market.bid(rfp, "apex", offer(lot, ("100.00", "USD", 10)))
    with market.engine.begin() as connection:
        connection.execute(
            update(BidLot)
            .where(BidLot.bid_id == uuid.UUID(bid["id"]))
            .values(start_date=date(9999, 12, 31), duration_days=3650)
        )
    market.pass_deadline(rfp)
    comparison = market.ok(market.get(f"/rfps/{rfp['id']}/comparison", "sponsor"))
    [row] = comparison["lots"][0]["rows"]
    assert (row["start_date"], row["duration_days"]) == ("9999-12-31", 3650)
    assert "single bidder" in row["risk_flags"]
