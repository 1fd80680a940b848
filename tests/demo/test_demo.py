"""The demo world: what the issues ask of it, loaded twice without loading anything twice."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencxo.clinical.engine.fit import DAYS_PER_MONTH
from opencxo.contracts import service as contracts
from opencxo.core.audit import verify_chain
from opencxo.core.auth import repository as auth_repository
from opencxo.core.auth import service as auth
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import NotFound
from opencxo.core.geography import region_of
from opencxo.core.notifications import Notification, NotificationRead
from opencxo.core.pagination import PageParams
from opencxo.core.signatures import Signature, signatures_of
from opencxo.core.types import utcnow
from opencxo.demo.loader import DemoLoadReport, load_demo_world
from opencxo.manufacturing import batch_records, scheduling
from opencxo.manufacturing.models import Batch, EquipmentUnit, Product, ProductionOrder
from opencxo.models import (
    Award,
    Base,
    Bid,
    ChangeOrder,
    Invoice,
    Organization,
    Program,
    Qualification,
    Question,
    Rfp,
    WorkOrder,
)
from opencxo.parties import service as parties
from opencxo.parties.models import Site
from opencxo.sourcing import service as sourcing

PASSWORD = "demo-pass-2026"


def _counts(session: Session) -> dict[str, int]:
    return {
        t.name: session.execute(select(func.count()).select_from(t)).scalar_one()
        for t in Base.metadata.sorted_tables
    }


def _loaded(session: Session) -> DemoLoadReport:
    report = load_demo_world(session)
    session.commit()
    return report


def _loaded_twice(session: Session) -> DemoLoadReport:
    """The world, loaded a second time to show that a re-run creates nothing (checked once,
    in the first test: every load costs seconds)."""
    first = load_demo_world(session)
    session.commit()
    counts = _counts(session)
    second = load_demo_world(session)
    session.commit()
    assert not second.created_anything, second
    assert _counts(session) == counts
    return first


def _principal(session: Session, email: str) -> Principal:
    user = auth_repository.user_by_email(session, email)
    assert user is not None, email
    return auth.principal_for(session, user)


def _organization(session: Session, name: str) -> Organization:
    return session.execute(select(Organization).where(Organization.name == name)).scalar_one()


def test_demo_world_is_complete_and_idempotent(session: Session) -> None:
    first = _loaded_twice(session)
    assert first.organizations >= 21
    assert first.created_anything

    organizations = session.execute(select(Organization)).scalars().all()
    sponsors = [o for o in organizations if o.kind == "sponsor"]
    providers = [o for o in organizations if o.kind == "provider"]
    assert len(sponsors) >= 6
    assert {o.sponsor_kind for o in sponsors} == {
        "pharma", "biotech", "medical_institution", "device_company",
    }  # fmt: skip
    assert len(providers) >= 15
    countries = {o.country for o in providers}
    assert {"CN", "IN", "US", "KR"} <= countries
    assert any(region_of(c) == "Europe" for c in countries)
    assert {line for o in providers for line in o.service_lines} == {"CRO", "CMO", "CDMO"}
    assert all(o.sites for o in providers)
    assert all(o.capabilities for o in providers)

    statuses = Counter(q.status for q in session.execute(select(Qualification)).scalars())
    assert set(statuses) == {"approved", "conditional", "disqualified"}
    # Every organisation has someone who can log in.
    for organization in organizations:
        assert auth_repository.memberships_of_organization(session, organization.id)
    assert verify_chain(session).ok
    _story_runs_in_order(session)


def _story_runs_in_order(session: Session) -> None:
    """A closed RFP's invitations, bids, award, contract signatures and milestone decisions are
    dated in the story's order around its (past) deadline, not on the day of the load."""
    closed = session.scalars(select(Rfp).where(Rfp.closed_at.is_not(None))).all()
    assert len(closed) >= 2
    for rfp in closed:
        deadline = rfp.bid_deadline
        assert rfp.published_at == deadline - timedelta(days=14)
        assert rfp.invitations
        assert all(rfp.published_at <= i.created_at < deadline for i in rfp.invitations)
        bids = session.scalars(
            select(Bid).where(Bid.rfp_id == rfp.id, Bid.submitted_at.is_not(None))
        ).all()
        assert bids and all(rfp.published_at < b.submitted_at < deadline for b in bids)
        for award in session.scalars(select(Award).where(Award.rfp_id == rfp.id)):
            awarded = session.get(Signature, award.signature_id)
            assert awarded is not None
            assert (
                deadline + timedelta(days=10) <= awarded.signed_at < deadline + timedelta(days=11)
            )
            order = session.scalars(select(WorkOrder).where(WorkOrder.award_id == award.id)).first()
            if order is None:
                continue
            signed = [s.signed_at for s in signatures_of(session, "work_order", order.id)]
            assert len(signed) == 2
            assert all(awarded.signed_at < t and t.date() < order.start_date for t in signed)
            decided = [m for m in order.milestones if m.decided_at is not None]
            for milestone in decided:
                assert milestone.submitted_at is not None
                assert milestone.decided_at == milestone.submitted_at + timedelta(days=3)
                for signature in signatures_of(session, "milestone", milestone.id):
                    assert signature.signed_at == milestone.decided_at
        _notifications_dated(session, rfp)


def _notifications_dated(session: Session, rfp: Rfp) -> None:
    """The bell tells a closed RFP's story when it happened: a minute after each event."""
    minute = timedelta(minutes=1)

    def when(link: str, kind: str) -> list[datetime]:
        return sorted({n.created_at for n in session.scalars(
            select(Notification).where(Notification.link == link, Notification.kind == kind)
        )})  # fmt: skip

    link = f"/rfps/{rfp.id}"
    assert when(link, "invited") == [rfp.published_at + minute]
    invited = session.scalars(
        select(Notification).where(Notification.link == link, Notification.kind == "invited")
    ).all()
    assert {n.message for n in invited} == {
        f"You are invited to bid on “{rfp.title}” by {rfp.bid_deadline:%Y-%m-%d %H:%M} UTC."
    }
    month_ago = utcnow() - timedelta(days=30)
    for n in invited:  # read by every member a day after, if older than a month
        members = {m.user_id for m in auth_repository.memberships_of_organization(
            session, n.organization_id)}  # fmt: skip
        reads = session.scalars(
            select(NotificationRead).where(NotificationRead.notification_id == n.id)
        ).all()
        if n.created_at < month_ago:
            assert {r.user_id for r in reads} == members and members
            assert {r.read_at for r in reads} == {n.created_at + timedelta(days=1)}
        else:
            assert reads == []
    bids = session.scalars(select(Bid).where(Bid.rfp_id == rfp.id, Bid.submitted_at.is_not(None)))
    assert when(link, "bid_received") == sorted(b.submitted_at + minute for b in bids)
    assert rfp.closed_at is not None and when(link, "rfp_closed") == [rfp.closed_at + minute]
    awards = session.scalars(select(Award).where(Award.rfp_id == rfp.id)).all()
    assert when(link, "awarded") == sorted(a.created_at + minute for a in awards)
    for award in awards:
        order = session.scalars(select(WorkOrder).where(WorkOrder.award_id == award.id)).first()
        if order is None:
            continue
        link = f"/work-orders/{order.id}"
        signed = [s.signed_at for s in signatures_of(session, "work_order", order.id)]
        assert when(link, "contract_active") == [max(signed) + minute]
        decided = sorted(m.decided_at for m in order.milestones if m.decided_at is not None)
        assert when(link, "milestone_accepted") == [t + minute for t in decided]
        for invoice in session.scalars(select(Invoice).where(Invoice.work_order_id == order.id)):
            assert invoice.issued_on is not None
            assert when(f"/invoices/{invoice.id}", "invoice_issued") == [
                datetime.combine(invoice.issued_on, time(9, 1), UTC)
            ]


def test_demo_sourcing_story(session: Session, files_dir: Path) -> None:
    first = _loaded(session)
    assert (first.rfps, first.awards, first.work_orders, first.change_orders) == (3, 2, 2, 1)
    assert first.programs >= 7 and first.bids >= 9 and first.payments >= 1

    # Programs for every sponsor.
    sponsors = session.execute(select(Organization).where(Organization.kind == "sponsor")).scalars()
    with_programs = set(session.execute(select(Program.sponsor_id)).scalars())
    assert {s.id for s in sponsors} <= with_programs

    # One RFP open for bids, one closed with bids to compare, one awarded.
    rfps = {r.status: r for r in session.execute(select(Rfp)).scalars()}
    assert set(rfps) == {"published", "closed", "awarded"}
    northwind = _organization(session, "Northwind Therapeutics")
    manager = _principal(session, "manager@northwind.example")

    open_rfp = rfps["published"]
    assert open_rfp.bid_deadline > utcnow()
    bid_statuses = Counter(
        session.execute(select(Bid.status).where(Bid.rfp_id == open_rfp.id)).scalars()
    )
    assert bid_statuses["draft"] >= 1 and bid_statuses["submitted"] >= 1
    questions = session.execute(select(Question).where(Question.rfp_id == open_rfp.id)).scalars()
    assert any(q.answer for q in questions)

    closed = rfps["closed"]
    assert closed.sponsor_id != northwind.id
    assert closed.bid_deadline < utcnow()
    valtessa = _principal(session, "admin@valtessa.example")
    comparison = sourcing.compare(session, valtessa, closed.id)
    assert [len(lot.rows) for lot in comparison.lots] == [3]
    assert all(lot.awarded_bid_id is None for lot in comparison.lots)
    # Valtessa's declared typhoon season in KR falls inside Hangang's stability work.
    flags = {row.provider_name: row.risk_flags for row in comparison.lots[0].rows}
    typhoon = "KR under a declared disruption: Typhoon season — port and power outages"
    assert typhoon in flags["Hangang Biologics"]
    assert not any(typhoon in f for name, f in flags.items() if name != "Hangang Biologics")

    awarded = rfps["awarded"]
    assert awarded.sponsor_id == northwind.id
    winners = {
        a.lot_id: a.provider_id
        for a in session.execute(select(Award).where(Award.rfp_id == awarded.id)).scalars()
    }
    lots = {lot.number: lot.id for lot in awarded.lots}
    assert winners == {
        lots[1]: _organization(session, "Corvane Clinical Research").id,
        lots[2]: _organization(session, "Eastbridge Pharmatech").id,
    }
    bidders = set(
        session.execute(select(Bid.provider_id).where(Bid.rfp_id == awarded.id)).scalars()
    )
    assert len(bidders) == 4
    for lot in sourcing.compare(session, manager, awarded.id).lots:
        assert any(row.awarded for row in lot.rows)

    # The work orders: both signed by both parties; the API one part-way through.
    orders = {
        o.provider_id: contracts.get_work_order(session, manager, o.id)
        for o in session.execute(select(WorkOrder)).scalars()
    }
    assert len(orders) == 2
    for order in orders.values():
        assert order.status == "active"
        assert {s.organization_id for s in order.signatures} == {
            order.sponsor_id,
            order.provider_id,
        }
    api = orders[_organization(session, "Eastbridge Pharmatech").id]
    assert api.service_code == "CMC-GMPAPI"
    assert [m.status for m in api.milestones[:3]] == ["accepted", "accepted", "submitted"]
    assert all(m.status == "planned" for m in api.milestones[3:])
    invoices = {
        i.milestone_id: i
        for i in session.execute(select(Invoice).where(Invoice.work_order_id == api.id)).scalars()
    }
    assert invoices[api.milestones[0].id].status == "paid"
    assert invoices[api.milestones[1].id].status == "issued"
    assert api.milestones[2].id not in invoices
    issued = contracts.get_invoice(session, manager, invoices[api.milestones[1].id].id)
    assert issued.due_on is not None and issued.due_on >= date.today() and not issued.overdue

    # Deliverables are real files under the configured files dir, and their hashes hold.
    deliverable = api.milestones[2].deliverables[0]
    stored, content = contracts.download_deliverable(session, manager, deliverable.id)
    assert content.startswith(b"%PDF-1.4") and content.endswith(b"%%EOF\n")
    assert hashlib.sha256(content).hexdigest() == stored.sha256
    assert (files_dir / stored.sha256[:2] / stored.sha256).is_file()

    # The change order adding 8 sites to the clinical work order, signed by both and applied.
    clinical = orders[_organization(session, "Corvane Clinical Research").id]
    change = session.execute(
        select(ChangeOrder).where(ChangeOrder.work_order_id == clinical.id)
    ).scalar_one()
    assert change.status == "applied"
    assert "8 sites" in change.reason
    assert change.value_after > change.value_before
    assert clinical.total_value == change.value_after
    assert any("8 additional sites" in m.description for m in clinical.milestones)
    assert [p.change for p in clinical.value_history] == ["work order", "change order 1"]

    # The money adds up in the sponsor's spend view.
    spend = contracts.spend(session, manager, by="program")
    (row,) = spend.rows
    assert row.key == "NWT-204" and row.currency == "USD"
    assert row.paid > 0 and row.invoiced > row.paid
    # Against the program's budget: 11,640,000 + 424,000 (change order) + 1,980,000 committed.
    assert (row.committed, row.budget) == (Decimal("14044000.00"), Decimal("18500000.00"))
    assert (row.budget_left, row.budget_used_percent) == (Decimal("4456000.00"), 75.9)

    # The providers' track record with Northwind, from the dated submissions.
    corvane = _organization(session, "Corvane Clinical Research").id
    eastbridge = _organization(session, "Eastbridge Pharmatech").id
    history = parties.track_records(session, manager, northwind.id, [corvane, eastbridge])
    assert (history[corvane].milestones_accepted, history[corvane].accepted_on_time) == (2, 1)
    assert (history[eastbridge].milestones_accepted, history[eastbridge].accepted_on_time) == (2, 2)
    assert verify_chain(session).ok


def test_demo_parties_see_their_own_side(session: Session) -> None:
    _loaded(session)
    bd = _principal(session, "bd@eastbridge.example")
    mine = sourcing.list_rfps(session, bd, status=None, params=PageParams()).items
    assert {(r.status, r.my_bid_status) for r in mine} == {
        ("published", "draft"),
        ("awarded", "submitted"),
    }
    # The closed big-pharma RFP is not Eastbridge's to see, and its bids stay with the sponsor.
    assert all(r.sponsor_name == "Northwind Therapeutics" for r in mine)


def test_demo_logins_work(session: Session) -> None:
    report = _loaded(session)
    emails = {email for _, _, email, _ in report.logins}
    assert {
        "manager@northwind.example",
        "qa@northwind.example",
        "operator@opencxo.example",
    } <= emails
    for _, _, email, password in report.logins[:3]:
        assert password == PASSWORD
        outcome = auth.authenticate(session, email=email, password=password)
        assert outcome.error is None, email


def test_demo_clinical_study(session: Session) -> None:
    """Northwind's Phase IIb study under Corvane's work order: 40 active sites in the 8 bid
    countries, about half-way to 240, nothing enrolled in Poland since its epidemic began."""
    from datetime import timedelta

    from opencxo.clinical import service as clinical

    report = _loaded(session)
    assert (report.studies, report.study_sites) == (1, 44)
    manager = _principal(session, "manager@northwind.example")
    cro = _principal(session, "admin@corvane.example")
    (listed,) = clinical.list_studies(session, manager, params=PageParams()).items
    study = clinical.get_study(session, cro, listed.id)
    assert study.provider_name == "Corvane Clinical Research" and study.work_order_number
    summary = study.summary
    assert summary.sites_by_status["active"] == 40
    assert {c.country for c in summary.by_country} == {
        "US",
        "CA",
        "GB",
        "DE",
        "ES",
        "PL",
        "HU",
        "CZ",
    }
    assert 0.4 <= summary.enrolled / study.target_enrollment <= 0.6
    sites = clinical.list_sites(session, manager, study.id)
    active = [s for s in sites if s.status == "active"]
    assert 2 <= sum(1 for s in active if s.totals.enrolled == 0) <= 8
    months = [(date.today() - s.actual_activation_date).days / 30.44 for s in active]  # type: ignore[operator]
    rate = summary.enrolled / sum(months)
    assert 0.3 <= rate <= 0.5
    poland = {s.code for s in sites if s.country == "PL"}
    since = date.today() - timedelta(days=21)  # the epidemic began (world.yaml)
    recent = [
        r
        for r in clinical.study_enrollment(session, manager, study.id).records
        if r.site_code in poland and r.on_date >= since
    ]
    assert sum(r.enrolled for r in recent) == 0
    assert [d.country for d in clinical.study_disruptions(session, manager, study.id)] == ["PL"]


def test_demo_recovery_plan(session: Session) -> None:
    """CRO site offers outside Poland and the sponsor's proposed recovery plan: sites added in
    unaffected countries, the suspended Polish sites closed, P(target by the deadline) from
    well below to at least 80 %."""
    from opencxo.clinical import recovery
    from opencxo.clinical import service as clinical

    report = _loaded(session)
    assert (report.site_offers, report.recovery_plans) == (8, 1)
    manager = _principal(session, "manager@northwind.example")
    offers = recovery.list_site_offers(session, manager, params=PageParams(page_size=100))
    assert offers.total == 8
    assert {o.provider_name for o in offers.items} == {
        "Corvane Clinical Research", "Austral Clinical Network", "Vistula Clinical Sites",
    }  # fmt: skip
    assert "PL" not in {o.country for o in offers.items}
    for o in offers.items:
        assert o.active and o.currency == "USD"
        assert 0.3 <= o.expected_rate_per_site_per_month <= 1.2
        assert 30 <= o.activation_lag_days <= 120 and 2 <= o.capacity_sites <= 8
        assert 15_000 <= o.startup_cost_per_site <= 60_000
        assert 1_500 <= o.monthly_cost_per_site <= 5_000
        assert 8_000 <= o.cost_per_patient <= 25_000
    # a provider sees only its own offers
    vistula = _principal(session, "admin@vistula-sites.example")
    mine = recovery.list_site_offers(session, vistula, params=PageParams(page_size=100))
    assert {o.country for o in mine.items} == {"RO", "BG"}

    (listed,) = clinical.list_studies(session, manager, params=PageParams()).items
    sites = clinical.list_sites(session, manager, listed.id)
    assert all(s.cost_currency == "USD" and s.monthly_cost for s in sites)
    plan = recovery.latest_recovery_plan(session, manager, listed.id)
    assert plan is not None
    assert (plan.status, plan.outcome, plan.currency) == ("proposed", "met", "USD")
    assert plan.deadline == date.today() + timedelta(days=180)
    assert plan.probability_before < 0.5 and plan.probability_after >= 0.8
    assert plan.sites_added >= 3 and "PL" not in {a.country for a in plan.added}
    assert {c.country for c in plan.closed} == {"PL"}  # the suspended Polish sites
    assert sorted(c.code for c in plan.closed) == [f"PL-00{i}" for i in range(1, 6)]
    # each saves its 1,500 USD a month to the deadline (it enrolls nothing while suspended),
    # less the close-out cost of 6,000 USD
    assert plan.closing_cost_per_site == Decimal("6000.00")
    for closure in plan.closed:
        assert closure.expected_patients_lost == 0
        assert closure.saving == Decimal(f"{1500 * 180 / DAYS_PER_MONTH - 6000:.2f}") > 0
    assert plan.net_cost == plan.added_cost - plan.savings > 0
    assert plan.completion_after.p50 is not None and plan.completion_before.p50 is not None
    assert plan.completion_after.p50 < plan.completion_before.p50
    assert plan.distribution.before and plan.distribution.after and plan.distribution.histogram
    # the CRO sees the offers it can add, not the sponsor's plan (made with its disruptions)
    cro = _principal(session, "admin@corvane.example")
    assert recovery.latest_recovery_plan(session, cro, listed.id) is None
    assert verify_chain(session).ok


def test_demo_manufacturing_plant(session: Session) -> None:
    """Eastbridge's Changzhou API Plant (manufacturing.yaml): 20 units making two intermediates,
    one API and one tablet for three sponsors; Northwind's campaign released (CB-2307, CB-2311,
    both from one intermediate batch), one Valtessa batch rejected for water, every open order
    scheduled, PO-2026-033 late; each sponsor sees only its own batches."""
    report = _loaded(session)
    assert (
        report.equipment_units, report.products, report.recipes,
        report.production_orders, report.batches, report.schedules,
    ) == (20, 4, 4, 8, 5, 1)  # fmt: skip

    eastbridge = _organization(session, "Eastbridge Pharmatech")
    northwind = _organization(session, "Northwind Therapeutics")
    valtessa = _organization(session, "Valtessa Pharma AG")
    hanbit = _organization(session, "Hanbit Pharmaceutical")
    plant = session.execute(
        select(Site).where(
            Site.organization_id == eastbridge.id, Site.name == "Changzhou API Plant"
        )
    ).scalar_one()
    units = session.scalars(select(EquipmentUnit).where(EquipmentUnit.plant_id == plant.id)).all()
    assert len(units) == 20 and len({u.equipment_class for u in units}) == 10
    products = {p.code: p for p in session.scalars(select(Product))}
    assert {code: (p.kind, p.sponsor_id) for code, p in products.items()} == {
        "NWT-204-I3": ("intermediate", northwind.id),
        "NWT-204": ("api", northwind.id),
        "VLT-3301-KI": ("intermediate", valtessa.id),
        "HB-TAR": ("drug_product", hanbit.id),
    }
    assert products["HB-TAR"].dosage_form == "film-coated tablet"

    pm = _principal(session, "pm@eastbridge.example")
    batches = {b.batch_number: b for b in session.scalars(select(Batch))}
    orders = {o.number: o for o in session.scalars(select(ProductionOrder))}

    # Northwind's campaign: two API batches released, with signature and certificate
    for number, quantity in (("CB-2307", "15.2"), ("CB-2311", "25.4")):
        record = batch_records.get_batch(session, pm, batches[number].id)
        assert (record.status, record.actual_quantity) == ("released", Decimal(quantity))
        assert record.order_number == "PO-2026-012"
        signature = record.disposition.signature
        assert signature is not None
        assert (signature.signer_email, signature.meaning) == ("qa@eastbridge.example", "released")
        coa = batch_records.certificate(session, pm, record.id)
        assert coa.batch_number == number and coa.release.meaning == "released"
        assert coa.tests and all(t.conforms for t in coa.tests)
    # ... both from the one released NWT-204-I3 batch (genealogy, both ways)
    [intermediate] = [b for b in batches.values() if b.batch_number.startswith("NWT-204-I3") and b.status == "released"]  # fmt: skip
    tree = batch_records.genealogy(session, pm, intermediate.id)
    assert sorted(n.batch_number for n in tree.downstream) == ["CB-2307", "CB-2311"]
    for number in ("CB-2307", "CB-2311"):
        upstream = batch_records.genealogy(session, pm, batches[number].id).upstream
        assert [n.batch_number for n in upstream if n.batch_id] == [intermediate.batch_number]

    # Valtessa: one batch rejected for water out of specification, its deviation closed
    [rejected] = [b for b in batches.values() if b.status == "rejected"]
    record = batch_records.get_batch(session, pm, rejected.id)
    assert record.product_code == "VLT-3301-KI" and record.order_number == "PO-2026-014"
    assert record.out_of_specification_tests == ["Water (KF)"]
    water = next(line for line in record.qc if line.test == "Water (KF)")
    assert water.result is not None and water.result.value == Decimal("0.82")
    assert water.result.out_of_specification
    [deviation] = record.deviations
    assert (deviation.severity, deviation.is_open) == ("major", False)
    assert record.disposition.decision == "rejected"
    assert record.disposition.signature is not None
    assert record.disposition.signature.meaning == "rejected"
    assert "Water 0.82 %" in (record.disposition.reason or "")
    assert sorted(b.status for b in batches.values() if b.order_id == orders["PO-2026-014"].id) == [
        "rejected",
        "released",
    ]

    # the current schedule: solved, every open order's batches in it, PO-2026-033 late
    current = scheduling.current_schedule(session, pm, plant.id)
    assert current is not None
    assert current.status == "done" and current.solver_status in ("OPTIMAL", "FEASIBLE")
    scheduled = {o.batch_id for o in scheduling.schedule_operations(session, pm, current.id)}
    open_orders = [o for o in orders.values() if o.status not in ("completed", "cancelled")]
    assert sorted(o.number for o in open_orders) == [
        "PO-2026-029", "PO-2026-030", "PO-2026-031", "PO-2026-033", "PO-2026-035", "PO-2026-036",
    ]  # fmt: skip
    for order in open_orders:
        mine = [b for b in batches.values() if b.order_id == order.id]
        assert mine and all(b.status == "planned" and b.id in scheduled for b in mine), order.number
    assert "PO-2026-033" in [late.order_number for late in current.late_orders]

    # Northwind's admin: its own batches, not Valtessa's
    northwind_admin = _principal(session, "admin@northwind.example")
    visible = batch_records.list_batches(
        session, northwind_admin, params=PageParams(page_size=100)
    ).items
    assert visible and {b.sponsor_id for b in visible} == {northwind.id}
    assert {"CB-2307", "CB-2311"} <= {b.batch_number for b in visible}
    assert batch_records.certificate(session, northwind_admin, batches["CB-2311"].id)
    with pytest.raises(NotFound):
        batch_records.get_batch(session, northwind_admin, rejected.id)

    # the API order is the Eastbridge API work order's
    work_order = session.get(WorkOrder, orders["PO-2026-012"].work_order_id)
    assert work_order is not None
    assert (work_order.provider_id, work_order.sponsor_id) == (eastbridge.id, northwind.id)
    assert work_order.title.startswith("Phase II clinical operations and API supply")


def test_demo_process_chemistry_routes(session: Session) -> None:
    """Eastbridge's chemists keep two routes to NWT-204 (DEMO.md, item 6): the second-generation
    convergent route beats the first-generation linear one on PMI, atom economy and COGS; the
    routes' materials join the library; the sponsor sees none of it; neither route replaced the
    plant's recipe."""
    from opencxo.process_chemistry import stored as chemistry
    from opencxo.process_chemistry.records import CompareRequest

    report = _loaded(session)
    assert report.routes == 2
    chemist = _principal(session, "pm@eastbridge.example")
    routes = chemistry.list_routes(session, chemist, PageParams(sort="name")).items
    assert [(r.name, r.product_code, r.chosen) for r in routes] == [
        ("NWT-204 — generation 1 (linear, discovery route)", "NWT-204", False),
        ("NWT-204 — generation 2 (convergent, process route)", "NWT-204", False),
    ]
    first, second = routes
    assert (first.step_count, first.longest_linear_sequence) == (8, 7)
    assert (second.step_count, second.longest_linear_sequence) == (7, 5)
    assert second.pmi < first.pmi / 3
    assert second.cogs_per_kg < first.cogs_per_kg / 10
    comparison = chemistry.compare(
        session, chemist, CompareRequest(route_ids=[first.id, second.id])
    )
    best = {row.metric: row.best for row in comparison.rows}
    assert best["pmi"] == best["cogs_per_kg"] == best["atom_economy_percent"] == [1]
    final_products = {r.steps[-1].product_smiles for r in comparison.routes}
    assert len(final_products) == 1  # both make the same hydrochloride
    assert chemistry.list_materials(session, chemist, PageParams()).total > 20
    sponsor = _principal(session, "admin@northwind.example")
    assert chemistry.list_routes(session, sponsor, PageParams()).total == 0
    assert [chemistry.get_route(session, chemist, r.id).recipe_id for r in routes] == [None, None]
