"""Rules added after review: no silent bid overwrite, no cancelling an awarded RFP, clinical
scope only for study services, and a budget needs its currency."""

from __future__ import annotations

from tests.sourcing.conftest import API_LOT, Market, offer


def test_a_second_bid_without_its_version_is_refused(market: Market) -> None:
    rfp = market.open_rfp()
    lot = rfp["lots"][0]["id"]
    first = market.ok(market.save_bid(rfp, "apex", offer(lot, ("1000.00", "USD", 30))))
    again = market.problem(market.save_bid(rfp, "apex", offer(lot, ("5.00", "USD", 30))), 409)
    assert again["detail"] == "you already have a bid on this RFP; send its version to revise it"
    kept = market.ok(market.get(f"/rfps/{rfp['id']}/bid", "apex"))
    assert kept["lots"][0]["totals"] == {"USD": "1000.00"}
    assert kept["version"] == first["version"]


def test_an_rfp_with_an_award_cannot_be_cancelled(market: Market) -> None:
    monitoring = {
        "title": "Monitoring",
        "service_code": "CLIN-MONITOR",
        "scope": {"phase": "II", "patients": 120, "countries": "US, DE"},
    }
    rfp = market.open_rfp(lots=[API_LOT, monitoring])
    lot = rfp["lots"][0]["id"]
    bid = market.bid(rfp, "apex", offer(lot, ("1000.00", "USD", 30)))
    market.pass_deadline(rfp)
    market.ok(market.award(rfp, lot, bid["id"]), 201)
    version = market.read(rfp)["version"]
    refused = market.problem(
        market.post(
            f"/rfps/{rfp['id']}/cancel", "sponsor", {"version": version, "reason": "budget cut"}
        ),
        409,
    )
    assert refused["detail"] == (
        "lots of this RFP are already awarded under e-signature; it cannot be cancelled"
    )
    assert market.read(rfp)["status"] == "closed"  # lot 2 is still open for award


def test_medical_writing_takes_free_text_scope(market: Market) -> None:
    body = market.rfp_body(
        lots=[
            {"title": "CSR", "service_code": "CLIN-MEDWRITE", "scope": {"description": "One CSR"}}
        ]
    )
    created = market.document(market.post("/rfps", "sponsor", body), 201)
    assert created["lots"][0]["scope"] == {"description": "One CSR"}


def test_a_budget_names_its_missing_currency(market: Market) -> None:
    refused = market.problem(
        market.post("/rfps", "sponsor", market.rfp_body(budget_amount="250000.00")), 422
    )
    assert refused["errors"] == [
        {
            "field": "budget_currency",
            "message": "Value error, give the currency of the budget amount",
        }
    ]
