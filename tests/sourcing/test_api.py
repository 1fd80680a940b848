"""The sourcing JSON API end to end: programs, the RFP and bid state machines, sealed bids, the
weighted comparison (money exact to the cent), invitations, Q&A and the e-signed award.

Every expected number is worked out by hand in the test from the prices, rates and weights."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from opencxo.core.audit import AuditEvent
from opencxo.core.notifications import Notification
from opencxo.core.signatures import Signature, record_digest
from opencxo.parties.models import Certification, Qualification
from opencxo.sourcing.models import Award, Bid, Rfp
from tests.sourcing.conftest import (
    API_LOT,
    MONITORING_LOT,
    TODAY,
    Market,
    in_days,
    offer,
)

TITLE = "Phase II API supply"


def lot_ids(rfp: dict[str, Any]) -> list[str]:
    return [lot["id"] for lot in rfp["lots"]]


def api_lot(title: str) -> dict[str, Any]:
    return {**API_LOT, "title": title}


# --- programs -----------------------------------------------------------------------------------


def test_a_program_is_created_listed_and_edited_by_its_sponsor_only(market: Market) -> None:
    program = market.program()
    assert {k: program[k] for k in ("name", "modality", "phase", "patent_expiry", "version")} == {
        "name": "NW-101",
        "modality": "small_molecule",
        "phase": "phase_2",
        "patent_expiry": "2034-06-30",
        "version": 1,
    }
    assert program["sponsor_id"] == str(market.ids["northwind"])

    fields = ("modality", "therapeutic_area", "indication", "phase", "patent_expiry")
    body = {k: program[k] for k in fields}
    duplicate = market.post("/programs", "sponsor", {**body, "name": "nw-101"})
    assert market.problem(duplicate, 409)["detail"] == "a program named 'nw-101' exists"
    # a provider is no sponsor; another sponsor cannot act for Northwind nor see its programs
    provider = market.post("/programs", "apex", {**body, "name": "X-1"})
    assert market.problem(provider, 403)["detail"] == (
        "you need programs:write in a sponsor organisation"
    )
    foreign = {**body, "name": "X-1", "sponsor_id": str(market.ids["northwind"])}
    assert market.problem(market.post("/programs", "other_sponsor", foreign), 404)["detail"] == (
        "no such sponsor"
    )
    assert market.ok(market.get("/programs", "other_sponsor"))["total"] == 0
    assert market.get(f"/programs/{program['id']}", "other_sponsor").status_code == 404

    body = {**body, "name": "NW-101", "phase": "phase_3", "version": 1}
    edited = market.ok(market.put(f"/programs/{program['id']}", "sponsor", body))
    assert (edited["phase"], edited["version"]) == ("phase_3", 2)
    stale = market.put(f"/programs/{program['id']}", "sponsor", body)
    assert market.problem(stale, 409)["detail"].startswith(
        "program was changed by someone else (version 2, you sent 1)"
    )
    listed = market.ok(market.get("/programs", "sponsor_viewer"))
    assert [(p["name"], p["phase"]) for p in listed["items"]] == [("NW-101", "phase_3")]


# --- the RFP state machine ----------------------------------------------------------------------


def test_rfp_goes_draft_published_closed_awarded_and_refuses_illegal_transitions(
    market: Market,
) -> None:
    rfp = market.draft(lots=[API_LOT, MONITORING_LOT])
    url = f"/rfps/{rfp['id']}"
    lot1, lot2 = lot_ids(rfp)
    assert (rfp["status"], rfp["version"], rfp["published_at"]) == ("draft", 1, None)
    assert [(lot["number"], lot["service_name"], lot["scope"]) for lot in rfp["lots"]] == [
        (1, "GMP API manufacturing", {"quantity_kg": 40.0, "grade": "GMP",
                                      "target_delivery_date": "2027-06-01"}),
        (2, "Clinical monitoring", {"phase": "II", "patients": 240,
                                    "countries": ["US", "DE", "PL"]}),
    ]  # fmt: skip

    nobody = market.post(f"{url}/publish", "sponsor", {"version": 1})
    assert market.problem(nobody, 422)["detail"] == "invite at least one provider before publishing"
    market.invite(rfp, "apex")
    published = market.publish(rfp)
    assert (published["status"], published["version"]) == ("published", 2)
    assert published["published_at"] is not None
    assert market.notifications("apex", "invited") == [
        f"You are invited to bid on “{TITLE}” by {rfp['bid_deadline'][:10]} "
        f"{rfp['bid_deadline'][11:16]} UTC."
    ]

    twice = market.post(f"{url}/publish", "sponsor", {"version": 2})
    assert market.problem(twice, 409)["detail"] == (
        "cannot publish an RFP that is published (only when draft)"
    )
    edit = market.put(url, "sponsor", {**market.rfp_body(), "version": 2})
    assert (
        market.problem(edit, 409)["detail"]
        == "cannot edit an RFP that is published (only when draft)"
    )
    stale = market.post(f"{url}/cancel", "sponsor", {"version": 1, "reason": "stale read"})
    assert market.problem(stale, 409)["detail"] == (
        "RFP was changed by someone else (version 2, you sent 1); reload it and apply your change "
        "again"
    )
    bid = market.bid(
        rfp,
        "apex",
        offer(lot1, ("100000.00", "USD", 150)),
        offer(lot2, ("50000.00", "USD", 100), duration=100),
    )
    early = market.award(rfp, lot1, bid["id"])
    assert market.problem(early, 409)["detail"] == (
        "cannot award an RFP that is published (only when closed)"
    )

    deadline = market.pass_deadline(rfp)
    closed = market.read(rfp)  # the first read after the deadline closes it
    stamp = deadline.isoformat().replace("+00:00", "Z")
    assert (closed["status"], closed["closed_at"], closed["deadline_passed"]) == (
        "closed",
        stamp,
        True,
    )
    assert closed["version"] == 3
    market.read(rfp, "apex")
    [close] = market.audit_events("close")  # recorded once, by the system
    assert (close.actor_user_id, close.actor_label, close.before, close.after) == (
        None,
        "system (bid deadline)",
        {"status": "published"},
        {"status": "closed"},
    )
    assert market.notifications("northwind", "rfp_closed") == [
        f"“{TITLE}” closed with 1 bid(s); compare them now."
    ]
    republish = market.post(f"{url}/publish", "sponsor", {"version": 3})
    assert market.problem(republish, 409)["detail"] == (
        "cannot publish an RFP that is closed (only when draft)"
    )
    late_invite = market.post(
        f"{url}/invitations", "sponsor", {"provider_id": str(market.ids["borealis"])}
    )
    assert market.problem(late_invite, 409)["detail"] == (
        "cannot invite providers to an RFP that is closed (only when draft or published)"
    )

    assert market.award(rfp, lot1, bid["id"]).status_code == 201
    assert market.read(rfp)["status"] == "closed"  # one lot of two awarded
    again = market.award(rfp, lot1, bid["id"])
    assert market.problem(again, 409)["detail"] == "lot 1 is already awarded"
    assert market.award(rfp, lot2, bid["id"]).status_code == 201
    awarded = market.read(rfp)
    # each award bumps the version (3 → 4 → 5), the last one's transition too (→ 6)
    assert (awarded["status"], awarded["version"]) == ("awarded", 6)

    cancel = market.post(f"{url}/cancel", "sponsor", {"version": 6, "reason": "too late now"})
    assert market.problem(cancel, 409)["detail"] == (
        "cannot cancel an RFP that is awarded (only when draft or published or closed)"
    )
    third = market.award(rfp, lot2, bid["id"])
    assert market.problem(third, 409)["detail"] == (
        "cannot award an RFP that is awarded (only when closed)"
    )
    assert market.count(Award) == 2
    assert [e.action for e in market.audit_events() if e.entity_type == "rfp"] == [
        "create", "invite", "published", "close", "award", "award", "awarded",
    ]  # fmt: skip


def test_rfp_is_cancelled_from_draft_published_or_closed_and_then_takes_nothing(
    market: Market,
) -> None:
    draft = market.draft()
    market.invite(draft, "apex")
    reason = {"version": 1, "reason": "Program paused"}
    cancelled = market.ok(market.post(f"/rfps/{draft['id']}/cancel", "sponsor", reason))
    assert (cancelled["status"], cancelled["cancelled_reason"]) == ("cancelled", "Program paused")
    assert market.notifications("apex", "rfp_cancelled") == []  # never published: never told
    again = market.post(f"/rfps/{draft['id']}/cancel", "sponsor", {**reason, "version": 2})
    assert market.problem(again, 409)["detail"] == (
        "cannot cancel an RFP that is cancelled (only when draft or published or closed)"
    )
    publish = market.post(f"/rfps/{draft['id']}/publish", "sponsor", {"version": 2})
    assert market.problem(publish, 409)["detail"] == (
        "cannot publish an RFP that is cancelled (only when draft)"
    )
    assert market.get(f"/rfps/{draft['id']}", "apex").status_code == 404  # a draft, cancelled

    live = market.open_rfp(invite=("apex", "borealis"))
    lot = lot_ids(live)[0]
    bid = market.bid(live, "apex", offer(lot, ("1000.00", "USD", 10)))
    body = {"version": 2, "reason": "Scope moved in-house"}
    assert market.ok(market.post(f"/rfps/{live['id']}/cancel", "sponsor", body))["status"] == (
        "cancelled"
    )
    told = [f"“{TITLE}” was cancelled: Scope moved in-house"]
    assert market.notifications("apex", "rfp_cancelled") == told
    assert market.notifications("borealis", "rfp_cancelled") == told
    seen = market.read(live, "apex")
    assert (seen["status"], seen["cancelled_reason"]) == ("cancelled", "Scope moved in-house")
    refused = market.save_bid(
        live, "apex", offer(lot, ("900.00", "USD", 10)), version=bid["version"]
    )
    assert market.problem(refused, 409)["detail"] == "this RFP is cancelled; it does not take bids"
    compare = market.get(f"/rfps/{live['id']}/comparison", "sponsor")
    assert market.problem(compare, 409)["detail"] == (
        "bids are sealed until the deadline; compare them once the RFP has closed"
    )

    closed = market.open_rfp()
    market.pass_deadline(closed)
    version = market.read(closed)["version"]
    body = {"version": version, "reason": "No acceptable offer"}
    assert market.ok(market.post(f"/rfps/{closed['id']}/cancel", "sponsor", body))["status"] == (
        "cancelled"
    )


def test_a_draft_is_edited_with_its_version_and_the_deadline_keeps_its_instant(
    market: Market,
) -> None:
    rfp = market.draft(lots=[API_LOT, MONITORING_LOT])
    body = market.rfp_body(
        title="Phase II API only",
        bid_deadline="2030-01-15T17:00:00+01:00",
        weights={"price": 55, "time": 15, "quality": 20, "risk": 10},
        lots=[api_lot("API 60 kg")],
        version=1,
    )
    edited = market.ok(market.put(f"/rfps/{rfp['id']}", "sponsor", body))
    assert edited["bid_deadline"] == "2030-01-15T16:00:00Z"
    assert edited["weights"] == {"price": 55, "time": 15, "quality": 20, "risk": 10}
    assert [(lot["number"], lot["title"]) for lot in edited["lots"]] == [(1, "API 60 kg")]
    assert edited["lots"][0]["id"] == rfp["lots"][0]["id"]  # lot 1 kept, lot 2 removed
    assert (edited["title"], edited["version"]) == ("Phase II API only", 2)
    stale = market.put(f"/rfps/{rfp['id']}", "sponsor", body)
    assert market.problem(stale, 409)["detail"].startswith("RFP was changed by someone else")
    viewer = market.put(f"/rfps/{rfp['id']}", "sponsor_viewer", {**body, "version": 2})
    assert market.problem(viewer, 403)["detail"] == "your role does not grant rfps:write"


# --- RFP input rules ----------------------------------------------------------------------------

BAD_RFPS = [
    ({"weights": {"price": 50, "time": 20, "quality": 10, "risk": 10}}, "weights",
     "Value error, the weights must sum to 100 (they sum to 90)"),
    ({"lots": [{**API_LOT, "scope": {"grade": "GMP", "target_delivery_date": "2027-06-01"}}]},
     "lots.1.scope.quantity_kg", "Quantity (kg) is required for this service"),
    ({"lots": [API_LOT, {**MONITORING_LOT, "scope": {"phase": "II", "countries": "US"}}]},
     "lots.2.scope.patients", "Patients is required for this service"),
    ({"lots": [API_LOT, {**MONITORING_LOT, "scope": {"phase": "II", "patients": 0,
                                                      "countries": "US"}}]},
     "lots.2.scope.patients", "Patients: must be at least 1"),
    ({"lots": [API_LOT, {**MONITORING_LOT, "scope": {"phase": "II", "patients": 240.5,
                                                      "countries": "US"}}]},
     "lots.2.scope.patients", "Patients: enter a whole number"),
    ({"lots": [{**API_LOT, "scope": {**API_LOT["scope"], "quantity_kg": "inf"}}]},
     "lots.1.scope.quantity_kg", "Quantity (kg): enter a finite number"),
    ({"lots": [{**API_LOT, "scope": {**API_LOT["scope"], "grade": "food"}}]},
     "lots.1.scope.grade", "Grade: choose one of GMP, non-GMP"),
    ({"lots": [API_LOT, {**MONITORING_LOT, "scope": {"phase": "II", "patients": 10,
                                                      "countries": "US, XX"}}]},
     "lots.2.scope.countries",
     "Countries: use ISO country codes separated by commas, e.g. US, DE, CN"),
    ({"lots": [{**API_LOT, "scope": {**API_LOT["scope"], "colour": "white"}}]},
     "lots.1.scope.colour", "not a scope field of this service"),
    ({"lots": [{**API_LOT, "service_code": "CMC-NOPE"}]},
     "lots.1.service_code", "choose a catalog service"),
    ({"bid_deadline": "2030-01-15T17:00:00"}, "bid_deadline",
     "Value error, give the deadline with its time zone, e.g. 2026-12-31T17:00:00Z"),
    ({"bid_deadline": in_days(-1)}, "bid_deadline", "in the past"),
    ({"allowed_countries": ["DE", "US"], "excluded_countries": ["us"]}, "excluded_countries",
     "a country cannot be allowed and excluded"),
    ({"allowed_countries": ["ZZ"]}, "allowed_countries",
     "Value error, not ISO 3166-1 alpha-2 country codes: ZZ"),
    ({"budget_amount": "100.00", "budget_currency": "DOLLARS"}, "budget_currency",
     "Value error, use an ISO 4217 currency code such as USD, EUR, CNY or INR"),
    ({"lots": []}, "lots", "List should have at least 1 item after validation, not 0"),
]  # fmt: skip


def test_an_invalid_rfp_is_refused_naming_the_field(market: Market) -> None:
    """One market for every case (each would cost a fixture); the failing case names itself."""
    for change, field, message in BAD_RFPS:
        refused = market.post("/rfps", "sponsor", market.rfp_body(**change))
        assert refused.status_code == 422, (field, refused.text)
        assert {"field": field, "message": message} in refused.json()["errors"], refused.text
    assert market.count(Rfp) == 0


def test_a_program_of_another_sponsor_cannot_carry_an_rfp(market: Market) -> None:
    refused = market.post("/rfps", "other_sponsor", market.rfp_body())
    assert market.problem(refused, 422)["errors"] == [
        {"field": "program_id", "message": "choose one of your programs"}
    ]
    assert market.post("/rfps", "sponsor_viewer", market.rfp_body()).status_code == 403
    assert market.count(Rfp) == 0


# --- the bid state machine ----------------------------------------------------------------------


def test_bid_goes_draft_submitted_revised_withdrawn_and_back(market: Market) -> None:
    rfp = market.open_rfp(invite=("apex",))
    [lot] = lot_ids(rfp)
    url = f"/rfps/{rfp['id']}"
    none_yet = market.get(f"{url}/bid", "apex")
    assert market.problem(none_yet, 404)["detail"] == "you have not started a bid on this RFP"
    assert market.transition_bid(rfp, "apex", "submit", 1).status_code == 404
    revise_nothing = market.save_bid(rfp, "apex", offer(lot, ("1.00", "USD", 1)), version=1)
    assert market.problem(revise_nothing, 409)["detail"] == (
        "there is no bid to revise; omit the version to start one"
    )

    draft = market.ok(
        market.save_bid(
            rfp, "apex", offer(lot, ("100000.00", "USD", 30), ("250000.50", "USD", 150))
        )
    )
    assert (draft["status"], draft["submitted_at"], draft["provider_name"]) == (
        "draft",
        None,
        "Apex Chem",
    )
    assert draft["lots"][0]["totals"] == {"USD": "350000.50"}
    assert market.ok(market.get(f"{url}/bids", "sponsor")) == []  # a draft is not received
    assert market.notifications("northwind", "bid_received") == []

    submitted = market.ok(market.transition_bid(rfp, "apex", "submit", draft["version"]))
    assert submitted["status"] == "submitted"
    assert submitted["submitted_at"] is not None
    twice = market.transition_bid(rfp, "apex", "submit", submitted["version"])
    assert market.problem(twice, 409)["detail"] == "a submitted bid cannot be submitted"
    assert market.notifications("northwind", "bid_received") == [
        f"A bid arrived on “{TITLE}” (sealed until the deadline)."
    ]

    revised = market.ok(
        market.save_bid(
            rfp,
            "apex",
            offer(lot, ("90000.00", "USD", 30), ("240000.00", "EUR", 150)),
            version=submitted["version"],
        )
    )
    assert (revised["status"], revised["submitted_at"]) == ("submitted", submitted["submitted_at"])
    assert revised["lots"][0]["totals"] == {"EUR": "240000.00", "USD": "90000.00"}
    assert [line["amount"] for line in revised["lots"][0]["lines"]] == ["90000.00", "240000.00"]
    stale = market.save_bid(
        rfp, "apex", offer(lot, ("1.00", "USD", 1)), version=submitted["version"]
    )
    assert market.problem(stale, 409)["detail"].startswith("bid was changed by someone else")

    withdrawn = market.ok(market.transition_bid(rfp, "apex", "withdraw", revised["version"]))
    assert (withdrawn["status"], withdrawn["submitted_at"]) == ("withdrawn", None)
    assert market.ok(market.get(f"{url}/bids", "sponsor")) == []
    sponsor_view = market.read(rfp)
    assert (sponsor_view["bids_received"], sponsor_view["invitations"][0]["bid_received"]) == (
        0,
        False,
    )
    for action, message in (
        ("withdraw", "a withdrawn bid cannot be withdrawn"),
        ("submit", "a withdrawn bid cannot be submitted"),
    ):
        refused = market.transition_bid(rfp, "apex", action, withdrawn["version"])
        assert market.problem(refused, 409)["detail"] == message

    redrafted = market.ok(
        market.save_bid(
            rfp, "apex", offer(lot, ("95000.00", "USD", 30)), version=withdrawn["version"]
        )
    )
    assert redrafted["status"] == "draft"
    resubmitted = market.ok(market.transition_bid(rfp, "apex", "submit", redrafted["version"]))
    assert resubmitted["status"] == "submitted"
    assert market.ok(market.get(f"{url}/bids", "sponsor"))[0]["provider_name"] == "Apex Chem"

    trail = [e for e in market.audit_events() if e.entity_type == "bid"]
    assert [e.action for e in trail] == [
        "create", "submitted", "revise", "withdrawn", "update", "submitted",
    ]  # fmt: skip
    assert trail[0].after == {"rfp_id": rfp["id"], "status": "draft", "lots": 1}  # no prices


def test_a_bid_offers_only_lots_of_the_rfp_each_once_and_within_its_duration(
    market: Market,
) -> None:
    rfp = market.open_rfp()
    [lot] = lot_ids(rfp)
    stranger = str(uuid.uuid4())
    unknown = market.save_bid(rfp, "apex", offer(stranger, ("1.00", "USD", 1)))
    assert market.problem(unknown, 422)["detail"] == f"lot(s) not in this RFP: {stranger}"
    twice = market.save_bid(
        rfp, "apex", offer(lot, ("1.00", "USD", 1)), offer(lot, ("2.00", "USD", 1))
    )
    assert market.problem(twice, 422)["detail"] == "each lot appears once in a bid"
    overdue = market.save_bid(
        rfp, "apex", offer(lot, ("1.00", "USD", 10), ("2.00", "USD", 151), duration=150)
    )
    assert market.problem(overdue, 422)["errors"] == [
        {
            "field": "lots.0",
            "message": "Value error, price line(s) [2] fall due after the offer's duration",
        }
    ]
    cents = market.save_bid(rfp, "apex", offer(lot, ("1.005", "USD", 1)))
    assert market.problem(cents, 422)["errors"][0]["field"] == "lots.0.lines.0.amount"
    sponsor = market.save_bid(rfp, "sponsor", offer(lot, ("1.00", "USD", 1)))
    assert market.problem(sponsor, 403)["detail"] == "sponsors do not bid on their own RFPs"
    assert market.count(Bid) == 0


def test_late_submissions_and_revisions_are_refused_with_the_deadline(market: Market) -> None:
    rfp = market.open_rfp(invite=("apex", "borealis"))
    [lot] = lot_ids(rfp)
    draft = market.ok(market.save_bid(rfp, "apex", offer(lot, ("100000.00", "USD", 150))))
    submitted = market.bid(rfp, "borealis", offer(lot, ("90000.00", "USD", 150)))
    deadline = market.pass_deadline(rfp)
    message = (
        f"the bid deadline passed at {deadline:%Y-%m-%d %H:%M} UTC; bids are frozen and late "
        "submissions are refused"
    )
    attempts = [
        market.transition_bid(rfp, "apex", "submit", draft["version"]),
        market.save_bid(rfp, "apex", offer(lot, ("1.00", "USD", 1)), version=draft["version"]),
        market.save_bid(
            rfp, "borealis", offer(lot, ("1.00", "USD", 1)), version=submitted["version"]
        ),
        market.transition_bid(rfp, "borealis", "withdraw", submitted["version"]),
    ]
    assert [market.problem(a, 409)["detail"] for a in attempts] == [message] * 4
    assert market.ok(market.get(f"/rfps/{rfp['id']}/bid", "apex")) == draft
    assert market.ok(market.get(f"/rfps/{rfp['id']}/bids", "sponsor")) == [submitted]


# --- the sealed-bid visibility matrix -----------------------------------------------------------

BIDDERS = {"apex": ("Apex Chem", "100000.00"), "borealis": ("Borealis Labs", "90000.00")}


@pytest.mark.parametrize("after", [False, True], ids=["before the deadline", "after the deadline"])
def test_sealed_bid_visibility_matrix(after: bool, market: Market) -> None:
    """Who reads which bid: the bidder its own, the sponsor receipts then bids, nobody else."""
    rfp = market.open_rfp(invite=("apex", "borealis", "cobalt"))
    [lot] = lot_ids(rfp)
    bids = {
        name: market.bid(rfp, name, offer(lot, (amount, "USD", 150)))
        for name, (_, amount) in BIDDERS.items()
    }
    if after:
        market.pass_deadline(rfp)
    url = f"/rfps/{rfp['id']}"

    # "my bid": each bidder reads its own bid, and only its own
    for name, (provider, amount) in BIDDERS.items():
        mine = market.ok(market.get(f"{url}/bid", name))
        assert mine == bids[name]
        assert (mine["provider_name"], mine["lots"][0]["lines"][0]["amount"]) == (provider, amount)
    refusals = {
        "cobalt": (404, "you have not started a bid on this RFP"),
        "sponsor": (403, "sponsors do not bid on their own RFPs"),
        "sponsor_viewer": (403, "sponsors do not bid on their own RFPs"),
        "other_sponsor": (404, "no such RFP"),
        None: (401, "send an API token as 'Authorization: Bearer <token>'"),
    }
    for actor, (status, detail) in refusals.items():
        assert market.problem(market.get(f"{url}/bid", actor), status)["detail"] == detail, actor

    # the sponsor's view: who has bid before the deadline, the bids after it
    for sponsor in ("sponsor", "sponsor_viewer"):
        received = market.ok(market.get(f"{url}/bids", sponsor))
        if after:
            assert received == [bids["apex"], bids["borealis"]]
        else:
            assert received == [
                {"provider_id": str(market.ids[name]), "provider_name": provider,
                 "submitted_at": bids[name]["submitted_at"]}
                for name, (provider, _) in BIDDERS.items()
            ]  # fmt: skip
    comparison = market.get(f"{url}/comparison", "sponsor")
    if after:
        rows = market.ok(comparison)["lots"][0]["rows"]
        assert [(r["provider_name"], r["price"]) for r in rows] == [
            ("Apex Chem", "100000.00"),  # approved: quality 100 outweighs 10 % on price
            ("Borealis Labs", "90000.00"),
        ]
    else:
        assert market.problem(comparison, 409)["detail"] == (
            "bids are sealed until the deadline; compare them once the RFP has closed"
        )
    # everyone else: the sponsor's side does not exist for them
    for path in ("/bids", "/comparison", "/awards"):
        for actor in ("apex", "borealis", "cobalt", "other_sponsor"):
            refused = market.problem(market.get(url + path, actor), 404)
            assert refused["detail"] == "no such RFP", (path, actor)
        assert market.get(url + path, None).status_code == 401

    # the RFP itself: the sponsor counts bids; invitees learn nothing about each other
    assert market.read(rfp)["bids_received"] == 2
    for invitee in ("apex", "borealis", "cobalt"):
        response = market.get(url, invitee)
        view = market.ok(response)
        assert (view["invitations"], view["bids_received"]) == (None, None)
        others = {"Apex Chem", "Borealis Labs", "Cobalt Synthesis"} - {
            {"apex": "Apex Chem", "borealis": "Borealis Labs", "cobalt": "Cobalt Synthesis"}[
                invitee
            ]
        }
        assert not any(name in response.text for name in others)
        assert "100000" not in response.text and "90000" not in response.text
    assert market.get(url, "other_sponsor").status_code == 404
    assert market.get(url, None).status_code == 401


def test_the_provider_view_hides_budget_program_and_invitees(market: Market) -> None:
    rfp = market.open_rfp(
        invite=("apex", "borealis"), budget_amount="750000.00", budget_currency="usd"
    )
    sponsor_view = market.read(rfp)
    assert (sponsor_view["budget_amount"], sponsor_view["budget_currency"]) == ("750000.00", "USD")
    assert (sponsor_view["program_name"], sponsor_view["viewer_role"]) == ("NW-101", "sponsor")
    assert [i["provider_name"] for i in sponsor_view["invitations"]] == [
        "Apex Chem",
        "Borealis Labs",
    ]

    response = market.get(f"/rfps/{rfp['id']}", "apex")
    view = market.ok(response)
    assert {k: view[k] for k in (
        "viewer_role", "sponsor_name", "therapeutic_area", "phase", "budget_amount",
        "budget_currency", "budget_shared", "program_id", "program_name", "invitations",
        "bids_received", "exchange_rates",
    )} == {
        "viewer_role": "invited provider", "sponsor_name": "Northwind Therapeutics",
        "therapeutic_area": "Oncology", "phase": "phase_2", "budget_amount": None,
        "budget_currency": None, "budget_shared": False, "program_id": None,
        "program_name": None, "invitations": None, "bids_received": None, "exchange_rates": {},
    }  # fmt: skip
    for secret in ("750000", "NW-101", "Borealis", str(market.ids["borealis"])):
        assert secret not in response.text

    shared = market.open_rfp(
        title="Shared budget RFP",
        budget_amount="500000.00",
        budget_currency="EUR",
        budget_shared=True,
    )
    view = market.read(shared, "apex")
    assert (view["budget_amount"], view["budget_currency"], view["budget_shared"]) == (
        "500000.00",
        "EUR",
        True,
    )
    assert view["program_name"] is None


def test_a_draft_rfp_is_404_to_invitees_and_a_published_one_is_read_by_invitees_only(
    market: Market,
) -> None:
    draft = market.draft()
    market.invite(draft, "apex")
    url = f"/rfps/{draft['id']}"
    for path in ("", "/questions", "/bid"):
        assert market.problem(market.get(url + path, "apex"), 404)["detail"] == "no such RFP"
    assert market.ok(market.get("/rfps", "apex"))["total"] == 0

    market.publish(draft)
    listed = market.ok(market.get("/rfps", "apex"))
    assert [
        (r["title"], r["status"], r["my_bid_status"], r["sponsor_name"]) for r in listed["items"]
    ] == [(TITLE, "published", None, "Northwind Therapeutics")]
    assert market.read(draft, "apex")["status"] == "published"
    for outsider in ("borealis", "other_sponsor"):
        assert market.ok(market.get("/rfps", outsider))["total"] == 0
        for path in ("", "/questions", "/bid", "/bid/outcome"):
            refused = market.problem(market.get(url + path, outsider), 404)
            assert refused["detail"] == "no such RFP", (outsider, path)
    unknown = market.problem(market.get(f"/rfps/{uuid.uuid4()}", "borealis"), 404)
    assert unknown["detail"] == "no such RFP"  # the same answer: no existence oracle


# --- money and the weighted comparison ----------------------------------------------------------


def test_comparison_converts_with_the_sponsors_rates_and_scores_exactly(market: Market) -> None:
    """Lot 1 (API), weights 50/10/30/10, rates EUR 1.09 and INR 0.012 to USD:

    * Apex (approved, quality 100): 120,000.00 + 480,000.50 USD + 1,000.25 EUR in 150 days
      → 600,000.50 + 1,090.2725 = 601,090.7725 → 601,090.77 USD
    * Borealis (not qualified, 50): 50,000,000 INR in 120 days → 600,000.00 USD
    * Cobalt (conditional, 60): 500,000.00 + 100.50 EUR in 200 days → 545,109.545 → 545,109.55
      (ROUND_HALF_UP; half-even would give .54)

    median 600,000.00; cheapest 545,109.55; fastest 120 days; no risk flag (risk 100).
    price score = 100 × 545,109.55 / price; time score = 100 × 120 / days;
    weighted = (50 price + 10 time + 30 quality + 10 risk) / 100:

    * Apex: price 90.68672773 → (4534.336386 + 10·80 + 30·100 + 10·100)/100 = 93.34
    * Borealis: price 90.85159167 → (4542.579583 + 10·100 + 30·50 + 1000)/100 = 80.43
    * Cobalt: price 100 → (5000 + 10·60 + 30·60 + 1000)/100 = 84.00

    Lot 2 (monitoring): Apex alone, 900,000 EUR → 981,000.00 USD in 400 days from day 60; its
    GMP certificate ends on day 365: flags single bidder + certificate → risk 50 →
    (5000 + 1000 + 3000 + 500)/100 = 95.00.
    """
    rfp = market.open_rfp(
        invite=("apex", "borealis", "cobalt"),
        lots=[API_LOT, MONITORING_LOT],
        weights={"price": 50, "time": 10, "quality": 30, "risk": 10},
    )
    lot1, lot2 = lot_ids(rfp)
    apex = market.bid(
        rfp,
        "apex",
        offer(lot1, ("120000.00", "USD", 30), ("480000.50", "USD", 150), ("1000.25", "EUR", 150)),
        offer(lot2, ("900000.00", "EUR", 400), start=60, duration=400),
    )
    borealis = market.bid(rfp, "borealis", offer(lot1, ("50000000", "INR", 120), duration=120))
    cobalt = market.bid(
        rfp, "cobalt", offer(lot1, ("500000.00", "EUR", 100), ("100.50", "EUR", 200), duration=200)
    )
    assert apex["lots"][0]["totals"] == {"EUR": "1000.25", "USD": "600000.50"}
    assert apex["lots"][1]["totals"] == {"EUR": "900000.00"}
    assert borealis["lots"][0]["totals"] == {"INR": "50000000.00"}
    assert cobalt["lots"][0]["totals"] == {"EUR": "500100.50"}
    market.pass_deadline(rfp)
    url = f"/rfps/{rfp['id']}"

    none_set = market.problem(market.get(f"{url}/comparison", "sponsor"), 422)
    assert none_set["detail"] == "enter exchange rates for EUR, INR → USD to compare the bids"
    assert none_set["errors"] == [{"field": "rates", "message": "missing EUR, INR"}]
    market.set_rates(rfp, {"INR": "0.012"})
    missing = market.problem(market.get(f"{url}/comparison", "sponsor"), 422)
    assert missing["detail"] == "enter exchange rates for EUR → USD to compare the bids"
    assert missing["errors"] == [{"field": "rates", "message": "missing EUR"}]
    refused = market.problem(market.award(rfp, lot1, apex["id"]), 422)
    assert refused["errors"] == [{"field": "rates", "message": "missing EUR"}]
    assert market.count(Award) == market.count(Signature) == 0

    rated = market.set_rates(rfp, {"eur": "1.09", "INR": "0.012", "USD": "1"})
    assert rated["exchange_rates"] == {"EUR": "1.09", "INR": "0.012"}  # the base needs none
    assert market.read(rfp, "apex")["exchange_rates"] == {}
    comparison = market.ok(market.get(f"{url}/comparison", "sponsor"))
    assert (comparison["base_currency"], comparison["weights"]) == (
        "USD",
        {"price": 50, "time": 10, "quality": 30, "risk": 10},
    )
    first, second = comparison["lots"]
    assert (first["lot_number"], first["median_price"], first["awarded_bid_id"]) == (
        1,
        "600000.00",
        None,
    )
    keys = ("provider_name", "price", "duration_days", "qualification_status", "quality_score",
            "price_score", "time_score", "risk_score", "risk_flags", "weighted_score", "rank")  # fmt: skip
    assert [tuple(row[k] for k in keys) for row in first["rows"]] == [
        ("Apex Chem", "601090.77", 150, "approved", 100.0, 90.7, 80.0, 100.0, [], 93.34, 1),
        ("Cobalt Synthesis", "545109.55", 200, "conditional", 60.0, 100.0, 60.0, 100.0, [], 84.0, 2),
        ("Borealis Labs", "600000.00", 120, None, 50.0, 90.9, 100.0, 100.0, [], 80.43, 3),
    ]  # fmt: skip
    assert [row["bid_id"] for row in first["rows"]] == [apex["id"], cobalt["id"], borealis["id"]]
    assert [row["country"] for row in first["rows"]] == ["CN", "DE", "IN"]
    assert (second["median_price"], len(second["rows"])) == ("981000.00", 1)
    assert tuple(second["rows"][0][k] for k in keys) == (
        "Apex Chem", "981000.00", 400, "approved", 100.0, 100.0, 100.0, 50.0,
        ["single bidder", "GMP certificate expires before the work ends"], 95.0, 1,
    )  # fmt: skip

    award = market.ok(market.award(rfp, lot1, cobalt["id"], rationale="Fastest to GMP"), 201)
    assert (award["amount"], award["currency"], award["provider_name"]) == (
        "545109.55",
        "USD",
        "Cobalt Synthesis",
    )
    after = market.ok(market.get(f"{url}/comparison", "sponsor"))["lots"][0]
    assert after["awarded_bid_id"] == cobalt["id"]
    assert [row["awarded"] for row in after["rows"]] == [False, True, False]


def test_the_median_of_an_even_number_of_prices_rounds_half_up(market: Market) -> None:
    """Two prices 100.01 and 100.04: the median 100.025 is 100.03 (not banker's 100.02)."""
    rfp = market.open_rfp(invite=("apex", "borealis"))
    [lot] = lot_ids(rfp)
    market.bid(rfp, "apex", offer(lot, ("100.01", "USD", 10)))
    market.bid(rfp, "borealis", offer(lot, ("100.04", "USD", 10)))
    market.pass_deadline(rfp)
    comparison = market.ok(market.get(f"/rfps/{rfp['id']}/comparison", "sponsor"))
    assert comparison["lots"][0]["median_price"] == "100.03"


def test_exchange_rates_are_positive_iso_currencies(market: Market) -> None:
    rfp = market.open_rfp()
    url = f"/rfps/{rfp['id']}/exchange-rates"
    for rates, message in (
        ({"EUR": "0"}, "Value error, the rate for EUR must be positive"),
        ({"EUR": "-1.2"}, "Value error, the rate for EUR must be positive"),
        ({"XYZ": "1.5"}, "Value error, use an ISO 4217 currency code such as USD, EUR, CNY or INR"),
    ):
        refused = market.put(url, "sponsor", {"version": 2, "rates": rates})
        assert market.problem(refused, 422)["errors"] == [{"field": "rates", "message": message}]
    viewer = market.put(url, "sponsor_viewer", {"version": 2, "rates": {"EUR": "1.1"}})
    assert market.problem(viewer, 403)["detail"] == "your role does not grant rfps:write"
    assert market.put(url, "apex", {"version": 2, "rates": {"EUR": "1.1"}}).status_code == 404
    assert market.read(rfp)["exchange_rates"] == {}


# --- risk flags ---------------------------------------------------------------------------------


def test_risk_flags_single_bidder_expiring_certificate_and_price_far_from_the_median(
    market: Market,
) -> None:
    """Weights 40/20/25/15 (the default); every offer starts on day 30.

    * lot 1: 70,000 / 100,000 / 130,000.01 — median 100,000: Apex exactly 30 % below is not
      flagged, Cobalt 30.00001 % above is; Apex ends on day 100, the last day of its certificate:
      not flagged either.
    * lot 2: 69,999.99 / 100,000 / 130,000 — Apex below by more than 30 % and ending on day 101
      (certificate expires before the work ends); Cobalt exactly 30 % above: not flagged.
    * lot 3: two bids, ten times apart: no median flag below three bids.
    * lot 4: Cobalt alone: single bidder.

    Borealis's only GMP certificate expired yesterday (no valid GMP certificate); Cobalt's
    qualification expired yesterday (quality 40). Risk = 100 − 25 per flag.
    """
    lots = [api_lot(f"API campaign {n}") for n in (1, 2, 3, 4)]
    rfp = market.open_rfp(invite=("apex", "borealis", "cobalt"), lots=lots)
    l1, l2, l3, l4 = lot_ids(rfp)
    market.bid(
        rfp,
        "apex",
        offer(l1, ("70000.00", "USD", 70), duration=70),
        offer(l2, ("69999.99", "USD", 71), duration=71),
        offer(l3, ("10000.00", "USD", 70), duration=70),
    )
    market.bid(
        rfp,
        "borealis",
        offer(l1, ("100000.00", "USD", 70), duration=70),
        offer(l2, ("100000.00", "USD", 70), duration=70),
        offer(l3, ("100000.00", "USD", 70), duration=70),
    )
    market.bid(
        rfp,
        "cobalt",
        offer(l1, ("130000.01", "USD", 70), duration=70),
        offer(l2, ("130000.00", "USD", 70), duration=70),
        offer(l4, ("50000.00", "USD", 70), duration=70),
    )
    with market.engine.begin() as connection:
        connection.execute(
            update(Certification)
            .where(Certification.organization_id == market.ids["apex"])
            .values(valid_until=TODAY + timedelta(days=100))
        )
        connection.execute(
            update(Certification)
            .where(Certification.organization_id == market.ids["borealis"])
            .values(valid_until=TODAY - timedelta(days=1))
        )
        connection.execute(
            update(Qualification)
            .where(Qualification.provider_id == market.ids["cobalt"])
            .values(expires_on=TODAY - timedelta(days=1))
        )
    market.pass_deadline(rfp)

    comparison = market.ok(market.get(f"/rfps/{rfp['id']}/comparison", "sponsor"))
    found = {
        (lot["lot_number"], row["provider_name"].split()[0]): (
            row["risk_flags"],
            row["risk_score"],
            row["qualification_status"],
            row["quality_score"],
        )
        for lot in comparison["lots"]
        for row in lot["rows"]
    }
    no_gmp = ["no valid GMP certificate"]
    assert found == {
        (1, "Apex"): ([], 100.0, "approved", 100.0),
        (1, "Borealis"): (no_gmp, 75.0, None, 50.0),
        (1, "Cobalt"): (["price above the median by more than 30%"], 75.0, "expired", 40.0),
        (2, "Apex"): (["GMP certificate expires before the work ends",
                       "price below the median by more than 30%"], 50.0, "approved", 100.0),
        (2, "Borealis"): (no_gmp, 75.0, None, 50.0),
        (2, "Cobalt"): ([], 100.0, "expired", 40.0),
        (3, "Apex"): ([], 100.0, "approved", 100.0),
        (3, "Borealis"): (no_gmp, 75.0, None, 50.0),
        (4, "Cobalt"): (["single bidder"], 75.0, "expired", 40.0),
    }  # fmt: skip
    assert [lot["median_price"] for lot in comparison["lots"]] == [
        "100000.00", "100000.00", "55000.00", "50000.00",
    ]  # fmt: skip
    # lot 1 in full: cheapest 70,000, all 70 days (time 100)
    # Apex: (40·100 + 20·100 + 25·100 + 15·100)/100 = 100.00
    # Borealis: price 70.0 → (2800 + 2000 + 25·50 + 15·75)/100 = 71.75
    # Cobalt: price 100 × 70,000 / 130,000.01 = 53.8461497 → (2153.84599 + 2000 + 1000 + 1125)/100
    lot1 = {row["provider_name"]: row for row in comparison["lots"][0]["rows"]}
    assert [(name, row["price_score"], row["weighted_score"], row["rank"]) for name, row in
            lot1.items()] == [
        ("Apex Chem", 100.0, 100.0, 1),
        ("Borealis Labs", 70.0, 71.75, 2),
        ("Cobalt Synthesis", 53.8, 62.79, 3),
    ]  # fmt: skip


# --- invitations and suggestions ---------------------------------------------------------------


def test_invitation_rules_disqualified_conditional_and_duplicates(market: Market) -> None:
    rfp = market.draft()
    url = f"/rfps/{rfp['id']}/invitations"

    def invite(provider: str | uuid.UUID, **extra: Any) -> Any:
        target = market.ids[provider] if isinstance(provider, str) else provider
        return market.post(url, "sponsor", {"provider_id": str(target), **extra})

    disqualified = market.problem(invite("delta"), 422)
    assert disqualified["detail"] == (
        "Delta Pharma Services cannot be invited: disqualified by your organisation"
    )
    assert disqualified["errors"] == [
        {"field": "provider_id", "message": "disqualified by your organisation"}
    ]
    assert (
        market.problem(invite("delta", acknowledge_warning=True), 422)["errors"][0]["field"]
        == "provider_id"
    )
    conditional = market.problem(invite("cobalt"), 422)
    assert conditional["detail"] == (
        "Cobalt Synthesis is only conditionally qualified; confirm to invite anyway"
    )
    assert conditional["errors"] == [
        {"field": "acknowledge_warning", "message": "confirm the warning"}
    ]
    assert market.read(rfp)["invitations"] == []
    assert market.audit_events("invite") == []

    invited = market.ok(invite("cobalt", acknowledge_warning=True), 201)
    assert [(i["provider_name"], i["country"], i["warning"], i["bid_received"])
            for i in invited["invitations"]] == [
        ("Cobalt Synthesis", "DE", "conditionally qualified", False)
    ]  # fmt: skip
    duplicate = market.problem(invite("cobalt", acknowledge_warning=True), 409)
    assert duplicate["detail"] == "Cobalt Synthesis is already invited"
    unqualified = market.ok(invite("borealis"), 201)
    assert [(i["provider_name"], i["warning"]) for i in unqualified["invitations"]] == [
        ("Borealis Labs", "not yet qualified"),
        ("Cobalt Synthesis", "conditionally qualified"),
    ]
    for stranger in (uuid.uuid4(), market.ids["contoso"]):
        assert market.problem(invite(stranger), 422)["errors"] == [
            {"field": "provider_id", "message": "choose a provider"}
        ]
    assert market.problem(
        market.post(url, "sponsor_viewer", {"provider_id": str(market.ids["apex"])}), 403
    )["detail"] == ("your role does not grant rfps:write")
    assert len(market.audit_events("invite")) == 2


def test_invitation_follows_countries_and_warns_of_missing_certificates(market: Market) -> None:
    excluded = market.draft(title="No Indian sites", excluded_countries=["IN"])
    refused = market.post(
        f"/rfps/{excluded['id']}/invitations",
        "sponsor",
        {"provider_id": str(market.ids["borealis"])},
    )
    assert market.problem(refused, 422)["detail"] == (
        "Borealis Labs cannot be invited: every site is in an excluded country"
    )
    allowed = market.draft(title="German sites only", allowed_countries=["DE"])
    refused = market.post(
        f"/rfps/{allowed['id']}/invitations", "sponsor", {"provider_id": str(market.ids["apex"])}
    )
    assert market.problem(refused, 422)["detail"] == (
        "Apex Chem cannot be invited: no site in an allowed country"
    )
    glp = market.draft(title="GLP required", required_certifications=["GLP", "GMP"])
    invited = market.invite(glp, "apex")
    assert invited["invitations"][0]["warning"] == "no valid GLP certificate"
    both = market.invite(glp, "borealis")
    assert {i["provider_name"]: i["warning"] for i in both["invitations"]} == {
        "Apex Chem": "no valid GLP certificate",
        "Borealis Labs": "not yet qualified; no valid GLP certificate",
    }


def test_suggestions_list_matched_lots_best_first_and_drop_the_invited(market: Market) -> None:
    rfp = market.draft(lots=[API_LOT, MONITORING_LOT])
    url = f"/rfps/{rfp['id']}/suggestions"
    fields = ("provider_name", "country", "matched_lots", "qualification_status", "can_invite",
              "warning")  # fmt: skip
    suggested = market.ok(market.get(url, "sponsor_viewer"))
    assert [tuple(s[f] for f in fields) for s in suggested] == [
        ("Apex Chem", "CN", [1, 2], "approved", True, ""),
        ("Cobalt Synthesis", "DE", [1], "conditional", True, "conditionally qualified"),
        ("Borealis Labs", "IN", [1], None, True, "not yet qualified"),
        ("Delta Pharma Services", "US", [1], "disqualified", False,
         "disqualified by your organisation"),
    ]  # fmt: skip
    assert suggested[0]["provider_id"] == str(market.ids["apex"])
    market.invite(rfp, "apex")
    assert [s["provider_name"] for s in market.ok(market.get(url, "sponsor"))] == [
        "Cobalt Synthesis",
        "Borealis Labs",
        "Delta Pharma Services",
    ]
    market.publish(rfp)
    assert market.problem(market.get(url, "apex"), 404)["detail"] == "no such RFP"
    assert market.get(url, "other_sponsor").status_code == 404


# --- questions and answers ----------------------------------------------------------------------


def test_questions_are_answered_to_every_invitee_without_naming_the_asker(market: Market) -> None:
    rfp = market.open_rfp(invite=("apex", "borealis"))
    url = f"/rfps/{rfp['id']}/questions"
    asked = market.ok(market.post(url, "apex", {"question": "Is the API micronised?"}), 201)
    assert (asked["answer"], asked["asked_by_you"], asked["version"]) == (None, True, 1)

    assert market.ok(market.get(url, "borealis")) == []  # unanswered: the asker's own
    assert market.ok(market.get(url, "apex")) == [asked]
    assert market.ok(market.get(url, "sponsor")) == [{**asked, "asked_by_you": False}]
    assert market.notifications("northwind", "question") == [
        f"A question on “{TITLE}” awaits an answer."
    ]
    not_a_bidder = market.post(url, "sponsor", {"question": "Can a sponsor ask?"})
    assert market.problem(not_a_bidder, 403)["detail"] == "only invited providers ask questions"
    assert market.post(url, "cobalt", {"question": "Can I ask too?"}).status_code == 404
    assert market.get(url, "cobalt").status_code == 404
    assert market.get(url, "other_sponsor").status_code == 404

    answer_url = f"{url}/{asked['id']}/answer"
    viewer = market.post(answer_url, "sponsor_viewer", {"answer": "No.", "version": 1})
    assert market.problem(viewer, 403)["detail"] == "your role does not grant rfps:write"
    by_provider = market.post(answer_url, "apex", {"answer": "Yes.", "version": 1})
    assert market.problem(by_provider, 404)["detail"] == "no such RFP"
    unknown = market.post(f"{url}/{uuid.uuid4()}/answer", "sponsor", {"answer": "?", "version": 1})
    assert market.problem(unknown, 404)["detail"] == "no such question"
    answered = market.ok(
        market.post(answer_url, "sponsor", {"answer": "No, it is supplied unmilled.", "version": 1})
    )
    assert (answered["answer"], answered["version"]) == ("No, it is supplied unmilled.", 2)
    stale = market.post(answer_url, "sponsor", {"answer": "Changed.", "version": 1})
    assert market.problem(stale, 409)["detail"].startswith("question was changed by someone else")

    response = market.get(url, "borealis")
    [seen] = market.ok(response)
    assert seen == {
        "id": asked["id"],
        "question": "Is the API micronised?",
        "answer": "No, it is supplied unmilled.",
        "asked_at": asked["asked_at"],
        "answered_at": answered["answered_at"],
        "asked_by_you": False,
        "version": 2,
    }
    assert "Apex" not in response.text and str(market.ids["apex"]) not in response.text
    assert market.ok(market.get(url, "apex")) == [{**seen, "asked_by_you": True}]
    told = [f"A question on “{TITLE}” was answered for all invitees."]
    assert market.notifications("apex", "question_answered") == told
    assert market.notifications("borealis", "question_answered") == told

    market.pass_deadline(rfp)
    late = market.post(url, "borealis", {"question": "Is there still time?"})
    assert market.problem(late, 409)["detail"] == (
        "cannot ask about an RFP that is closed (only when published)"
    )


# --- award --------------------------------------------------------------------------------------


def _closed_with_two_bids(market: Market) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Two lots; Apex bids both (USD, then EUR), Borealis lot 1 (INR); closed, rates entered."""
    rfp = market.open_rfp(invite=("apex", "borealis"), lots=[API_LOT, MONITORING_LOT])
    lot1, lot2 = lot_ids(rfp)
    apex = market.bid(
        rfp,
        "apex",
        offer(lot1, ("120000.00", "USD", 30), ("480000.50", "USD", 150)),
        offer(lot2, ("900000.00", "EUR", 300), duration=300),
    )
    borealis = market.bid(rfp, "borealis", offer(lot1, ("50000000.00", "INR", 120), duration=120))
    market.pass_deadline(rfp)
    market.set_rates(rfp, {"EUR": "1.09", "INR": "0.012"})
    return rfp, apex, borealis


def test_a_wrong_password_awards_nothing(market: Market) -> None:
    rfp, apex, _ = _closed_with_two_bids(market)
    lot1 = lot_ids(rfp)[0]
    before = market.read(rfp)
    counts = (market.count(AuditEvent), market.count(Notification), market.count(Signature))

    refused = market.problem(market.award(rfp, lot1, apex["id"], password="not-my-password"), 422)
    assert refused["detail"] == "the password is wrong; a signature needs your own password"
    assert refused["errors"] == [{"field": "password", "message": "enter your password to sign"}]
    assert market.count(Award) == 0
    assert (market.count(AuditEvent), market.count(Notification), market.count(Signature)) == counts
    assert market.read(rfp) == before

    viewer = market.award(rfp, lot1, apex["id"], actor="sponsor_viewer")
    assert market.problem(viewer, 403)["detail"] == "your role does not grant rfps:award"
    meaning = market.award(rfp, lot1, apex["id"], meaning="because")
    assert market.problem(meaning, 422)["errors"] == [
        {"field": "meaning", "message": "use awarded or approved"}
    ]
    for outsider in ("apex", "borealis", "other_sponsor"):
        refused = market.problem(market.award(rfp, lot1, apex["id"], actor=outsider), 404)
        assert refused["detail"] == "no such RFP"
    assert market.count(Award) == 0
    assert (market.count(AuditEvent), market.count(Notification), market.count(Signature)) == counts


def test_award_is_e_signed_tells_winner_and_losers_and_closes_the_rfp(market: Market) -> None:
    rfp, apex, borealis = _closed_with_two_bids(market)
    lot1, lot2 = lot_ids(rfp)
    url = f"/rfps/{rfp['id']}"
    wrong_lot = market.problem(market.award(rfp, lot2, borealis["id"]), 422)
    assert (wrong_lot["detail"], wrong_lot["errors"]) == (
        "that bid did not offer this lot",
        [{"field": "bid_id", "message": "choose a bid on this lot"}],
    )
    audit_before = market.count(AuditEvent)

    award = market.ok(
        market.award(rfp, lot1, apex["id"], rationale="Approved supplier, on time"), 201
    )
    signature = award.pop("signature")
    assert award == {
        "id": award["id"],
        "rfp_id": rfp["id"],
        "lot_id": lot1,
        "lot_number": 1,
        "bid_id": apex["id"],
        "provider_id": str(market.ids["apex"]),
        "provider_name": "Apex Chem",
        "amount": "600000.50",
        "currency": "USD",
        "rationale": "Approved supplier, on time",
    }
    assert (signature["signer_name"], signature["signer_email"], signature["meaning"]) == (
        "Test User",
        "buyer@northwind.example",
        "awarded",
    )
    assert re.fullmatch(r"[0-9a-f]{64}", signature["record_sha256"])
    assert signature["record_sha256"] == record_digest(
        {
            "rfp_id": uuid.UUID(rfp["id"]),
            "lot_id": uuid.UUID(lot1),
            "bid_id": uuid.UUID(apex["id"]),
            "bid_version": apex["version"],
            "amount": Decimal("600000.50"),
            "currency": "USD",
        }
    )
    new_events = market.audit_events()[audit_before:]
    assert [(e.action, e.entity_type) for e in new_events] == [("sign", "award"), ("award", "rfp")]
    sign = new_events[0]
    assert sign.entity_id == award["id"]
    assert sign.after == {
        "meaning": "awarded",
        "signer": "buyer@northwind.example",
        "record_sha256": signature["record_sha256"],
    }
    assert new_events[1].after == {
        "lot": 1,
        "provider": "Apex Chem",
        "amount": "600000.50",
        "currency": "USD",
    }
    assert new_events[1].reason == "Approved supplier, on time"

    assert market.ok(market.get(f"{url}/bid/outcome", "borealis")) == [
        {"lot_id": lot1, "lot_number": 1, "outcome": "not_awarded"}
    ]
    assert market.ok(market.get(f"{url}/bid/outcome", "apex")) == [
        {"lot_id": lot1, "lot_number": 1, "outcome": "awarded"},
        {"lot_id": lot2, "lot_number": 2, "outcome": "pending"},
    ]
    for loser_path in ("/awards", "/bids", "/comparison"):
        assert market.problem(market.get(url + loser_path, "borealis"), 404)["detail"] == (
            "no such RFP"
        )
    loser_view = market.get(f"{url}/bid", "borealis")
    assert market.ok(loser_view) == borealis
    assert "Apex" not in loser_view.text and "600000.50" not in loser_view.text
    assert market.notifications("apex", "awarded") == [f"You won lot 1 of “{TITLE}”."]
    assert market.notifications("borealis", "not_awarded") == [
        f"Lot 1 of “{TITLE}” went to another bidder."
    ]
    assert market.read(rfp)["status"] == "closed"

    audit_before = market.count(AuditEvent)
    second = market.ok(market.award(rfp, lot2, apex["id"]), 201)
    assert (second["amount"], second["lot_number"]) == ("981000.00", 2)  # 900,000 EUR × 1.09
    assert [(e.action, e.entity_type) for e in market.audit_events()[audit_before:]] == [
        ("sign", "award"),
        ("award", "rfp"),
        ("awarded", "rfp"),
    ]
    assert market.read(rfp)["status"] == "awarded"
    assert market.read(rfp, "borealis")["status"] == "awarded"
    assert market.notifications("apex", "awarded") == [
        f"You won lot 1 of “{TITLE}”.",
        f"You won lot 2 of “{TITLE}”.",
    ]
    assert len(market.notifications("borealis", "not_awarded")) == 1  # it did not bid on lot 2
    assert market.ok(market.get(f"{url}/bid/outcome", "apex")) == [
        {"lot_id": lot1, "lot_number": 1, "outcome": "awarded"},
        {"lot_id": lot2, "lot_number": 2, "outcome": "awarded"},
    ]
    awards = market.ok(market.get(f"{url}/awards", "sponsor_viewer"))
    assert sorted(
        (a["lot_number"], a["provider_name"], a["amount"], a["signature"]["signer_email"])
        for a in awards
    ) == [
        (1, "Apex Chem", "600000.50", "buyer@northwind.example"),
        (2, "Apex Chem", "981000.00", "buyer@northwind.example"),
    ]
    assert market.count(Signature) == 2


def test_a_provider_disqualified_after_bidding_cannot_be_awarded(market: Market) -> None:
    rfp = market.open_rfp(invite=("apex",))
    [lot] = lot_ids(rfp)
    bid = market.bid(rfp, "apex", offer(lot, ("1000.00", "USD", 10)))
    market.pass_deadline(rfp)
    with market.engine.begin() as connection:
        connection.execute(
            update(Qualification)
            .where(Qualification.provider_id == market.ids["apex"])
            .values(status="disqualified")
        )
    refused = market.problem(market.award(rfp, lot, bid["id"]), 422)
    assert refused["detail"] == "Apex Chem is disqualified; it cannot be awarded"
    assert market.count(Award) == market.count(Signature) == 0
