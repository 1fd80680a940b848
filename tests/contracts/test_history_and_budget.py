"""What contracts feed back into sourcing and the money views: the provider's track record in the
bid comparison's quality score, declared disruptions as risk flags, program budgets against the
committed spend, and finishing an award with lots left unawarded."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opencxo.contracts.models import Milestone
from opencxo.core.notifications import Notification
from opencxo.core.types import utcnow
from opencxo.parties.models import Disruption, PerformanceRecord
from opencxo.sourcing.models import Rfp
from tests.contracts.conftest import BIDDER, LOTS, Deal, days
from tests.factories import PASSWORD
from tests.web.conftest import csrf_of, login


def _closed_rfp(deal: Deal, bids: dict[str, list[str]], *, lots: tuple[str, ...]) -> dict[str, Any]:
    """A Northwind RFP with the given lots, each provider bidding on the lots named (by service
    code) at a price that puts Apex first, its deadline passed."""
    rfp = deal.ok(
        deal.post(
            "/rfps",
            "sponsor",
            {
                "program_id": deal.program(),
                "title": "Second-source API and monitoring",
                "bid_deadline": (utcnow() + timedelta(days=7)).isoformat(),
                "lots": [LOTS[code] for code in lots],
            },
        ),
        201,
    )
    path = f"/rfps/{rfp['id']}"
    for provider in bids:
        rfp = deal.ok(
            deal.post(f"{path}/invitations", "sponsor", {"provider_id": str(deal.ids[provider])}),
            201,
        )
    rfp = deal.ok(deal.post(f"{path}/publish", "sponsor", {"version": rfp["version"]}))
    lot_ids = {lot["service_code"]: lot["id"] for lot in rfp["lots"]}
    for provider, codes in bids.items():
        price = "1000.00" if provider == "apex" else "1100.00"
        offers = [
            {
                "lot_id": lot_ids[code],
                "start_date": days(30).isoformat(),
                "duration_days": 120,
                "lines": [
                    {
                        "description": "All",
                        "amount": price,
                        "currency": "USD",
                        "due_offset_days": 120,
                    }
                ],
            }
            for code in codes
        ]
        bid = deal.ok(deal.call("PUT", f"{path}/bid", BIDDER[provider], {"lots": offers}))
        deal.ok(deal.post(f"{path}/bid/submit", BIDDER[provider], {"version": bid["version"]}))
    with deal.engine.begin() as connection:
        connection.execute(
            update(Rfp)
            .where(Rfp.id == uuid.UUID(rfp["id"]))
            .values(bid_deadline=utcnow() - timedelta(minutes=5))
        )
    return dict(deal.ok(deal.get(path, "sponsor")))


def _rows(deal: Deal, rfp: dict[str, Any]) -> dict[str, dict[str, Any]]:
    comparison = deal.ok(deal.get(f"/rfps/{rfp['id']}/comparison", "sponsor"))
    return {row["provider_name"]: row for row in comparison["lots"][0]["rows"]}


def _build_apex_history(deal: Deal) -> None:
    """Apex, with Northwind: milestone 1 accepted on time; milestone 2 rejected once, then
    accepted on time; milestone 3 submitted after its due date and accepted."""
    work_order = deal.active()
    deal.accept(work_order, 1)
    rejected = deal.ok(deal.submit(deal.milestone(work_order, 2)))
    deal.ok(deal.decide(rejected, accept=False, reason="batch record incomplete"))
    deal.accept(work_order, 2)
    with deal.engine.begin() as connection:
        connection.execute(
            update(Milestone)
            .where(Milestone.work_order_id == uuid.UUID(work_order["id"]), Milestone.position == 3)
            .values(due_date=date.today() - timedelta(days=2))
        )
    deal.accept(work_order, 3)


def test_quality_blends_the_qualification_with_the_history_of_milestones(deal: Deal) -> None:
    _build_apex_history(deal)
    rows = _rows(
        deal,
        _closed_rfp(
            deal, {"apex": ["CMC-GMPAPI"], "borealis": ["CMC-GMPAPI"]}, lots=("CMC-GMPAPI",)
        ),
    )

    apex, borealis = rows["Apex Chem"], rows["Borealis Labs"]
    # 3 accepted, 2 of them on time; 4 submissions, 3 accepted first or later, 1 rejected.
    assert apex["milestones_delivered"] == 3
    assert apex["on_time_percent"] == 66.7
    assert apex["first_pass_percent"] == 75.0
    # Approved (100) half, history half: (66.67 + 75) / 2 = 70.83 → 50 + 35.42.
    assert apex["quality_score"] == 85.4
    # Approved and no history with Northwind: the qualification alone.
    assert borealis["milestones_delivered"] == 0
    assert borealis["on_time_percent"] is None
    assert borealis["first_pass_percent"] is None
    assert borealis["quality_score"] == 100.0
    # Weighted score (price 40, time 20, quality 25, risk 15): Apex is cheapest.
    assert apex["weighted_score"] == round(
        (40 * 100 + 20 * 100 + 25 * 85.41666 + 15 * 100) / 100, 2
    )
    assert borealis["weighted_score"] == round(
        (40 * 1000 / 1100 * 100 + 20 * 100 + 25 * 100 + 15 * 100) / 100, 2
    )


def test_the_track_record_is_private_to_the_sponsor(deal: Deal, session: Session) -> None:
    _build_apex_history(deal)
    records = session.execute(select(PerformanceRecord)).scalars().all()
    assert {(r.sponsor_id, r.provider_id, r.kind) for r in records} == {
        (deal.ids["northwind"], deal.ids["apex"], "milestone_accepted"),
        (deal.ids["northwind"], deal.ids["apex"], "deliverable_rejected"),
    }
    assert sorted(r.kind for r in records) == [
        "deliverable_rejected", "milestone_accepted", "milestone_accepted", "milestone_accepted",
    ]  # fmt: skip


def _disruption(session: Session, organization: uuid.UUID, **fields: Any) -> None:
    defaults: dict[str, Any] = {
        "title": "Epidemic",
        "cause": "epidemic",
        "starts_on": date.today(),
        "ends_on": None,
        "enrollment_multiplier": 0.0,
        "freeze_activations": True,
    }
    session.add(Disruption(organization_id=organization, **(defaults | fields)))
    session.commit()


def test_a_declared_disruption_flags_bids_from_providers_there(
    deal: Deal, session: Session
) -> None:
    northwind, contoso = deal.ids["northwind"], deal.ids["contoso"]
    # Apex is in CN: Northwind's open-ended CN disruption starting the day the work ends counts;
    # one that ended the day before the work starts does not.
    _disruption(session, northwind, title="Avian flu", country="CN", starts_on=days(150))
    _disruption(
        session, northwind, title="Lockdown", country="CN", starts_on=days(-60), ends_on=days(29)
    )
    # Borealis is in IN (Asia-Pacific): a region-wide one of Northwind counts, Contoso's does not.
    _disruption(
        session,
        northwind,
        title="Monsoon floods",
        cause="natural_disaster",
        region="Asia-Pacific",
        starts_on=days(100),
        ends_on=days(110),
    )
    _disruption(session, contoso, title="Contoso's own view", country="IN", starts_on=days(0))

    rows = _rows(
        deal,
        _closed_rfp(
            deal, {"apex": ["CMC-GMPAPI"], "borealis": ["CMC-GMPAPI"]}, lots=("CMC-GMPAPI",)
        ),
    )

    assert rows["Apex Chem"]["risk_flags"] == [
        "CN under a declared disruption: Avian flu",
        "Asia-Pacific under a declared disruption: Monsoon floods",
    ]
    assert rows["Borealis Labs"]["risk_flags"] == [
        "Asia-Pacific under a declared disruption: Monsoon floods"
    ]
    assert rows["Apex Chem"]["risk_score"] == 50.0
    assert rows["Borealis Labs"]["risk_score"] == 75.0


def _spend(deal: Deal, actor: str = "sponsor") -> dict[tuple[str, str], dict[str, Any]]:
    report = deal.ok(deal.get("/spend?by=program", actor))
    return {(row["key"], row["currency"]): row for row in report["rows"]}


def test_spend_by_program_measures_the_committed_value_against_the_budget(deal: Deal) -> None:
    program = deal.program()
    current = deal.ok(deal.get(f"/programs/{program}", "sponsor"))
    body = {k: current[k] for k in ("name", "modality", "therapeutic_area", "indication", "phase")}
    updated = deal.ok(
        deal.call(
            "PUT",
            f"/programs/{program}",
            "sponsor",
            body
            | {
                "version": current["version"],
                "budget_amount": "10000.00",
                "budget_currency": "USD",
            },
        )
    )
    assert (updated["budget_amount"], updated["budget_currency"]) == ("10000.00", "USD")
    deal.ok(
        deal.post(
            "/programs",
            "sponsor",
            body | {"name": "NW-202", "budget_amount": "250000.50", "budget_currency": "EUR"},
        ),
        201,
    )
    work_order = deal.active()  # 1000.10 + 2000.20 + 3000.30 USD under NW-101
    deal.accept(work_order, 1)

    rows = _spend(deal)
    nw101 = rows[("NW-101", "USD")]
    assert (nw101["committed"], nw101["accrued"], nw101["budget"], nw101["budget_left"]) == (
        "6000.60", "1000.10", "10000.00", "3999.40",
    )  # fmt: skip
    assert nw101["budget_used_percent"] == 60.0
    # A budgeted program with nothing signed yet still shows against its budget.
    nw202 = rows[("NW-202", "EUR")]
    assert (nw202["committed"], nw202["budget"], nw202["budget_left"]) == (
        "0.00",
        "250000.50",
        "250000.50",
    )
    assert nw202["budget_used_percent"] == 0.0
    # The provider's revenue view never sees the sponsor's budgets.
    assert all(row["budget"] is None for row in _spend(deal, "provider").values())

    login(deal.client, deal.emails["sponsor"])
    response = deal.client.get("/spend.csv?by=program")
    page = deal.client.get("/spend?by=program").text
    assert "3,999.40" in page
    assert "60.0 %" in page
    assert response.status_code == 200
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0][-3:] == ["Budget", "Budget left", "Budget used (%)"]
    assert [
        "NW-101",
        "USD",
        "6000.60",
        "1000.10",
        "0.00",
        "0.00",
        "5000.50",
        "10000.00",
        "3999.40",
        "60.0",
    ] in table


def test_a_budget_needs_its_currency_and_must_be_positive(deal: Deal) -> None:
    body = {
        "name": "NW-303",
        "modality": "biologic",
        "therapeutic_area": "Immunology",
        "indication": "Psoriasis",
        "phase": "phase_1",
    }
    no_currency = deal.problem(
        deal.post("/programs", "sponsor", body | {"budget_amount": "5"}), 422
    )
    assert "budget_currency" in str(no_currency)
    negative = deal.problem(
        deal.post("/programs", "sponsor", body | {"budget_amount": "-5", "budget_currency": "USD"}),
        422,
    )
    assert "budget_amount" in str(negative)
    assert deal.ok(deal.get("/programs", "sponsor"))["total"] == 0


def test_finishing_an_award_leaves_the_other_lots_unawarded(deal: Deal, session: Session) -> None:
    rfp = _closed_rfp(
        deal,
        {"apex": ["CMC-GMPAPI", "CLIN-MONITOR"], "borealis": ["CMC-GMPAPI"]},
        lots=("CMC-GMPAPI", "CLIN-MONITOR"),
    )
    path = f"/rfps/{rfp['id']}"
    reason = "no acceptable offer for monitoring; re-tender in Q3"

    none_awarded = deal.problem(
        deal.post(f"{path}/finish-award", "sponsor", {"version": rfp["version"], "reason": reason}),
        409,
    )
    assert "award at least one lot" in none_awarded["detail"]

    comparison = deal.ok(deal.get(f"{path}/comparison", "sponsor"))
    api_lot = comparison["lots"][0]
    winner = next(r for r in api_lot["rows"] if r["provider_name"] == "Borealis Labs")
    deal.ok(
        deal.post(
            f"{path}/lots/{api_lot['lot_id']}/award",
            "sponsor",
            {
                "bid_id": winner["bid_id"],
                "version": deal.ok(deal.get(path, "sponsor"))["version"],
                "password": PASSWORD,
            },
        ),
        201,
    )
    version = deal.ok(deal.get(path, "sponsor"))["version"]
    assert deal.problem(
        deal.post(f"{path}/finish-award", "sponsor", {"version": version - 1, "reason": reason}),
        409,
    )
    assert "reason" in str(
        deal.problem(
            deal.post(f"{path}/finish-award", "sponsor", {"version": version, "reason": ""}), 422
        )
    )
    assert (
        deal.post(
            f"{path}/finish-award", "sponsor_member", {"version": version, "reason": reason}
        ).status_code
        == 403
    )
    assert (
        deal.post(
            f"{path}/finish-award", "other_sponsor", {"version": version, "reason": reason}
        ).status_code
        == 404
    )

    finished = deal.ok(
        deal.post(f"{path}/finish-award", "sponsor", {"version": version, "reason": reason})
    )
    assert (finished["status"], finished["unawarded_reason"]) == ("awarded", reason)

    # Apex lost lot 1 to Borealis and lot 2 went to nobody: both read "not awarded".
    outcome = deal.ok(deal.get(f"{path}/bid/outcome", "provider"))
    assert [(o["lot_number"], o["outcome"]) for o in outcome] == [
        (1, "not_awarded"),
        (2, "not_awarded"),
    ]
    assert [
        (o["lot_number"], o["outcome"])
        for o in deal.ok(deal.get(f"{path}/bid/outcome", "other_provider"))
    ] == [(1, "awarded")]
    told = (
        session.execute(
            select(Notification.message)
            .where(
                Notification.organization_id == deal.ids["apex"], Notification.kind == "not_awarded"
            )
            .order_by(Notification.message)
        )
        .scalars()
        .all()
    )
    assert told == [
        "Lot 1 of “Second-source API and monitoring” went to another bidder.",
        f"Lot 2 of “Second-source API and monitoring” was not awarded: {reason}",
    ]
    # Borealis did not bid on lot 2: it is not told about it.
    assert (
        session.execute(
            select(Notification.message).where(
                Notification.organization_id == deal.ids["borealis"],
                Notification.kind == "not_awarded",
            )
        )
        .scalars()
        .all()
        == []
    )
    # Once awarded, neither finishing again nor cancelling is possible.
    version = finished["version"]
    assert (
        deal.post(
            f"{path}/finish-award", "sponsor", {"version": version, "reason": reason}
        ).status_code
        == 409
    )
    assert (
        deal.post(f"{path}/cancel", "sponsor", {"version": version, "reason": reason}).status_code
        == 409
    )


def test_the_rfp_page_finishes_an_award_and_the_program_page_sets_a_budget(deal: Deal) -> None:
    rfp = _closed_rfp(
        deal, {"apex": ["CMC-GMPAPI", "CLIN-MONITOR"]}, lots=("CMC-GMPAPI", "CLIN-MONITOR")
    )
    path = f"/rfps/{rfp['id']}"
    lot = deal.ok(deal.get(f"{path}/comparison", "sponsor"))["lots"][0]
    version = deal.ok(deal.get(path, "sponsor"))["version"]
    body = {"bid_id": lot["rows"][0]["bid_id"], "version": version, "password": PASSWORD}
    deal.ok(deal.post(f"{path}/lots/{lot['lot_id']}/award", "sponsor", body), 201)
    login(deal.client, deal.emails["sponsor"])

    page = deal.client.get(path).text
    assert "Finish the award…" in page
    assert "1 of 2 lots are awarded." in page
    assert 'action="/rfps/' + rfp["id"] + '/cancel"' not in page  # awarded lots: no cancelling
    version = deal.ok(deal.get(path, "sponsor"))["version"]
    token = csrf_of(page)
    refused = deal.client.post(
        f"{path}/finish-award", data={"csrf_token": token, "version": version, "reason": "x"}
    )
    assert refused.status_code == 422
    assert "at least 3 characters" in refused.text
    done = deal.client.post(
        f"{path}/finish-award",
        data={"csrf_token": token, "version": version, "reason": "monitoring re-tendered"},
    )
    assert done.status_code == 200
    assert "Award finished; the bidders on the lots left unawarded have been told." in done.text
    assert "1 of 2 lots awarded; the others were left without an award:" in done.text
    assert "monitoring re-tendered" in done.text

    program = deal.program()
    page = deal.client.get(f"/programs/{program}").text
    current = deal.ok(deal.get(f"/programs/{program}", "sponsor"))
    form = {k: current[k] for k in ("name", "modality", "therapeutic_area", "indication", "phase")}
    form |= {"csrf_token": csrf_of(page), "version": current["version"], "description": ""}
    bad = deal.client.post(f"/programs/{program}", data=form | {"budget_amount": "12.5"})
    assert bad.status_code == 422
    assert "give the currency of the budget" in bad.text
    assert 'value="12.5"' in bad.text  # the typed amount stays in the form
    saved = deal.client.post(
        f"/programs/{program}", data=form | {"budget_amount": "12.5", "budget_currency": "CHF"}
    )
    assert saved.status_code == 200
    assert "12.50 CHF" in saved.text
