"""Access control of the JSON API: every route, four actors, and denied calls change nothing.

The table ``ROUTES`` names every route under /api/v1 with the status each actor gets:

* anonymous — no credentials: 401 everywhere;
* another organisation — the admin of sponsor B: sponsor-private objects (A's qualifications,
  members, memberships, tokens, programs, RFPs, bids, comparisons, awards) and what only the
  parties of a work order see (the work order, its milestones, deliverables, change orders and
  invoices) answer 404, public organisation profiles answer 403 to writes and 200 to reads;
* the same organisation without the permission — usually A's (or P's) viewer: 403 on writes;
* the same organisation with the permission: 2xx.

A denied call (any 4xx) must leave every table as it was and append no audit event; a read must
change nothing either; a permitted write must append its audit events. The only columns ignored
are ``api_tokens.last_used_at`` and ``updated_at``: bookkeeping of the caller's own credential.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from opencxo.clinical import recovery
from opencxo.clinical import service as clinical
from opencxo.clinical.recovery_schemas import RecoveryRequest, SiteOfferCreate
from opencxo.clinical.schemas import SiteCreate, StudyCountryInput, StudyCreate
from opencxo.contracts import service as contracts
from opencxo.contracts.schemas import (
    ChangeOrderCreate,
    InvoiceIssue,
    MilestoneChange,
    MilestoneDecision,
    SignIn,
    WorkOrderFromAward,
    WorkOrderRead,
)
from opencxo.contracts.schemas import Transition as ContractTransition
from opencxo.core.audit import AuditEvent
from opencxo.core.auth import repository as auth_repository
from opencxo.core.auth import service as auth
from opencxo.core.auth.models import User
from opencxo.core.pagination import PageParams
from opencxo.core.types import utcnow
from opencxo.economics import stored as economics
from opencxo.economics.records import PortfolioCreate, RunRequest, ScenarioCreate
from opencxo.economics.schemas import PortfolioInput, ScenarioInput
from opencxo.manufacturing.models import (
    Batch,
    BatchStep,
    ChangeoverOverride,
    CleaningTime,
    Deviation,
    EquipmentUnit,
    MaintenanceWindow,
    Product,
    ProductionOrder,
    Recipe,
    RecipeStep,
    Schedule,
    ScheduledOperation,
    Specification,
)
from opencxo.models import Base, Capability, Qualification, Rfp, Site
from opencxo.parties import service as parties
from opencxo.parties.schemas import DisruptionCreate
from opencxo.process_chemistry import stored as chemistry
from opencxo.process_chemistry.records import MaterialCreate, RouteImport
from opencxo.process_chemistry.schemas import RouteFile
from opencxo.sourcing import service as sourcing
from opencxo.sourcing.schemas import (
    AwardCreate,
    BidInput,
    BidLineInput,
    BidLotInput,
    InvitationCreate,
    LotInput,
    ProgramCreate,
    QuestionCreate,
    RfpCreate,
    Transition,
)
from tests.factories import (
    PASSWORD,
    make_organization,
    make_provider,
    make_qualification,
    make_token,
    make_user,
    operator,
)

API = "/api/v1"
PROBLEM = "application/problem+json"
ACTORS = ("anonymous", "other_organisation", "without_permission", "with_permission")
OTHER_ORGANISATION = "b_admin"
DOCUMENTATION = {f"{API}/openapi.json", f"{API}/docs"}
IN_A_YEAR = (date.today() + timedelta(days=365)).isoformat()


# --- the scenario -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Sponsor A (admin, viewer, qa), sponsor B (admin), provider P (admin, viewer; a site and a
    capability), provider Q (no users); A has qualified P and declared a ``disruption`` on
    Asia-Pacific. ``ids`` and ``tokens`` by name.

    Sourcing (see ``_sourcing``): A's program and RFPs with P invited — a draft, an open one
    (P's question and draft bid) and a closed one (P's submitted bid), each RFP and bid with a
    document; a route walk gets only the RFP its path names. Contracts (see ``_contracts``): work orders between A and P in the
    states a route names. ``versions`` holds the current version of what a write must name."""

    ids: dict[str, uuid.UUID]
    tokens: dict[str, str]
    emails: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)


API_LOT = {
    "title": "API 40 kg",
    "service_code": "CMC-GMPAPI",
    "scope": {"quantity_kg": 40, "grade": "GMP", "target_delivery_date": "2027-06-01"},
}


RFP_STATES = ("rfp_draft", "rfp_open", "rfp_closed", "rfp_partial")
DOCUMENT = ("spec.pdf", "application/pdf", b"%PDF-1.4 specification")  # name, type, bytes


def _sourcing(
    session: Session, a_admin: User, p_admin: User, provider_p: uuid.UUID, wanted: set[str]
) -> tuple[dict[str, uuid.UUID], dict[str, int]]:
    """A's program, and the wanted RFPs (each with P invited and a single lot):

    * ``rfp_draft`` — a draft with A's document ``draft_document``;
    * ``rfp_open`` — published, with A's document ``open_document``; P's question (``question``)
      and P's draft bid on ``open_lot``, with P's document ``open_bid_document``;
    * ``rfp_closed`` — closed at its deadline; P's submitted bid ``closed_bid`` on ``closed_lot``,
      with P's document ``closed_bid_document``.
    * ``rfp_partial`` — closed with two lots, the first awarded to P, the second without a bid.
    """
    sponsor = auth.principal_for(session, a_admin)
    bidder = auth.principal_for(session, p_admin)
    program = sourcing.create_program(
        session,
        sponsor,
        ProgramCreate(
            name="NW-101",
            modality="small_molecule",
            therapeutic_area="Oncology",
            indication="NSCLC",
            phase="phase_2",
        ),
    )
    ids: dict[str, uuid.UUID] = {"program": program.id}
    versions: dict[str, int] = {}

    def rfp(name: str, *, publish: bool) -> tuple[uuid.UUID, uuid.UUID]:
        body = RfpCreate(
            program_id=program.id,
            title=name.replace("_", " "),
            bid_deadline=utcnow() + timedelta(days=7),
            lots=[LotInput(**API_LOT)],
        )
        created = sourcing.create_rfp(session, sponsor, body)
        sourcing.invite(session, sponsor, created.id, InvitationCreate(provider_id=provider_p))
        versions[name] = 1
        if publish:
            versions[name] = sourcing.publish_rfp(
                session, sponsor, created.id, Transition(version=1)
            ).version
        ids[name] = created.id
        return created.id, created.lots[0].id

    def bid(rfp_id: uuid.UUID, lot_id: uuid.UUID, *, submit: bool) -> tuple[uuid.UUID, int]:
        line = BidLineInput(
            description="Delivery", amount="100000.00", currency="USD", due_offset_days=90
        )
        offer = BidLotInput(lot_id=lot_id, start_date=date.today(), duration_days=90, lines=[line])
        saved = sourcing.save_bid(session, bidder, rfp_id, BidInput(lots=[offer]))
        if submit:
            saved = sourcing.submit_bid(session, bidder, rfp_id, Transition(version=saved.version))
        return saved.id, saved.version

    def document(rfp_id: uuid.UUID, name: str, *, bid: bool = False) -> None:
        """A document on the RFP (A's) or on P's bid; neither changes their version."""
        attach = sourcing.add_bid_attachment if bid else sourcing.add_rfp_attachment
        ids[name] = attach(session, bidder if bid else sponsor, rfp_id, *DOCUMENT).id

    if "rfp_draft" in wanted:
        draft_rfp, _ = rfp("rfp_draft", publish=False)
        document(draft_rfp, "draft_document")
    if "rfp_open" in wanted:
        open_rfp, ids["open_lot"] = rfp("rfp_open", publish=True)
        document(open_rfp, "open_document")
        ids["question"] = sourcing.ask(
            session, bidder, open_rfp, QuestionCreate(question="Micronised API?")
        ).id
        _, versions["open_bid"] = bid(open_rfp, ids["open_lot"], submit=False)
        document(open_rfp, "open_bid_document", bid=True)
    if "rfp_closed" in wanted:
        closed_rfp, ids["closed_lot"] = rfp("rfp_closed", publish=True)
        ids["closed_bid"], _ = bid(closed_rfp, ids["closed_lot"], submit=True)
        document(closed_rfp, "closed_bid_document", bid=True)
        session.execute(
            update(Rfp)
            .where(Rfp.id == closed_rfp)
            .values(bid_deadline=utcnow() - timedelta(minutes=1))
        )
        assert sourcing.close_due_rfps(session) == 1
        versions["rfp_closed"] += 1  # closing bumps the version
    if "rfp_partial" in wanted:
        body = RfpCreate(
            program_id=program.id,
            title="rfp partial",
            bid_deadline=utcnow() + timedelta(days=7),
            lots=[LotInput(**API_LOT), LotInput(**(API_LOT | {"title": "API 10 kg"}))],
        )
        partial = sourcing.create_rfp(session, sponsor, body)
        sourcing.invite(session, sponsor, partial.id, InvitationCreate(provider_id=provider_p))
        sourcing.publish_rfp(session, sponsor, partial.id, Transition(version=1))
        first_lot = partial.lots[0].id
        partial_bid, _ = bid(partial.id, first_lot, submit=True)
        session.execute(
            update(Rfp)
            .where(Rfp.id == partial.id)
            .values(bid_deadline=utcnow() - timedelta(minutes=1))
        )
        assert sourcing.close_due_rfps(session) == 1
        sourcing.award_lot(
            session,
            sponsor,
            partial.id,
            first_lot,
            AwardCreate(
                bid_id=partial_bid,
                version=sourcing.get_rfp(session, sponsor, partial.id).version,
                password=PASSWORD,
            ),
        )
        ids["rfp_partial"] = partial.id
        versions["rfp_partial"] = sourcing.get_rfp(session, sponsor, partial.id).version
    return ids, versions


CONTRACT_STATES = (
    "award",
    "wo_draft",
    "wo_pending",
    "wo_active",
    "wo_done",
    "milestone",
    "submitted",
    "deliverable",
    "invoice_draft",
    "invoice_issued",
    "change_order",
)
# The milestones of the active work order ``wo_active``, by position: what each becomes.
ON_ACTIVE = ("milestone", "submitted", "invoice_draft", "invoice_issued")
DELIVERABLE = ("report.pdf", b"%PDF-1.4 milestone report", "application/pdf")  # as uploaded
UPLOAD = (DELIVERABLE[0], DELIVERABLE[2], DELIVERABLE[1])  # as the service takes it


def _contracts(
    session: Session,
    a_admin: User,
    p_admin: User,
    provider_p: uuid.UUID,
    program: uuid.UUID,
    wanted: set[str],
) -> tuple[dict[str, uuid.UUID], dict[str, int]]:
    """Work orders between A and P, each from its own awarded RFP, in the wanted states:

    * ``award`` — an award of P's bid that has no work order yet;
    * ``wo_draft``, ``wo_pending`` — a draft, and one sent for signature (nobody signed);
    * ``wo_active`` — signed by both, with four milestones: ``milestone`` (planned),
      ``submitted`` (with its ``deliverable``), ``invoice_draft`` (accepted: its invoice is
      drafted) and ``invoice_issued`` (accepted, invoice issued by P) — each built only when
      wanted — and ``change_order``, A's pending proposal to add a milestone;
    * ``wo_done`` — active, its only milestone accepted: ready to complete.
    """
    sponsor = auth.principal_for(session, a_admin)
    bidder = auth.principal_for(session, p_admin)
    ids: dict[str, uuid.UUID] = {}
    versions: dict[str, int] = {}

    def award(title: str, lines: int) -> uuid.UUID:
        """Program's RFP → P invited → published → P's bid submitted → closed → awarded."""
        rfp = sourcing.create_rfp(
            session,
            sponsor,
            RfpCreate(
                program_id=program,
                title=title,
                bid_deadline=utcnow() + timedelta(days=7),
                lots=[LotInput(**API_LOT)],
            ),
        )
        lot = rfp.lots[0].id
        sourcing.invite(session, sponsor, rfp.id, InvitationCreate(provider_id=provider_p))
        sourcing.publish_rfp(session, sponsor, rfp.id, Transition(version=1))
        offer = BidLotInput(
            lot_id=lot,
            start_date=date.today(),
            duration_days=30 * lines,
            lines=[
                BidLineInput(
                    description=f"Milestone {n}",
                    deliverable=f"Report {n}",
                    amount="1000.00",
                    currency="USD",
                    due_offset_days=30 * n,
                )
                for n in range(1, lines + 1)
            ],
        )
        bid = sourcing.save_bid(session, bidder, rfp.id, BidInput(lots=[offer]))
        bid = sourcing.submit_bid(session, bidder, rfp.id, Transition(version=bid.version))
        session.execute(
            update(Rfp).where(Rfp.id == rfp.id).values(bid_deadline=utcnow() - timedelta(minutes=1))
        )
        assert sourcing.close_due_rfps(session) == 1
        version = sourcing.get_rfp(session, sponsor, rfp.id).version
        awarded = sourcing.award_lot(
            session,
            sponsor,
            rfp.id,
            lot,
            AwardCreate(bid_id=bid.id, version=version, password=PASSWORD),
        )
        return awarded.id

    def work_order(name: str, *, lines: int = 1, until: str = "active") -> WorkOrderRead:
        body = WorkOrderFromAward(award_id=award(name.replace("_", " "), lines))
        made = contracts.create_from_award(session, sponsor, body)
        ids[name] = made.id
        if until == "draft":
            return made
        version = ContractTransition(version=made.version)
        made = contracts.send_for_signature(session, sponsor, made.id, version)
        if until == "pending":
            return made
        contracts.sign_work_order(session, sponsor, made.id, SignIn(password=PASSWORD))
        return contracts.sign_work_order(session, bidder, made.id, SignIn(password=PASSWORD))

    def accept(milestone: uuid.UUID, version: int, *, issue: bool = False) -> uuid.UUID:
        """Submit (P) and accept (A) a milestone; its draft invoice, issued by P if asked."""
        submitted = contracts.submit_milestone(
            session, bidder, milestone, version=version, note="done", uploads=[UPLOAD]
        )
        decision = MilestoneDecision(version=submitted.version, accept=True, password=PASSWORD)
        invoice = contracts.decide_milestone(session, sponsor, milestone, decision).invoice_id
        assert invoice is not None
        if issue:
            version = contracts.get_invoice(session, bidder, invoice).version
            issued = InvoiceIssue(version=version, number="P-0001", issued_on=date.today())
            contracts.issue_invoice(session, bidder, invoice, issued)
        return invoice

    if "award" in wanted:
        ids["award"] = award("awarded", 1)
    if "wo_draft" in wanted:
        work_order("wo_draft", until="draft")
    if "wo_pending" in wanted:
        work_order("wo_pending", until="pending")
    if wanted & {"wo_active", "change_order", "deliverable", *ON_ACTIVE}:
        active = work_order("wo_active", lines=len(ON_ACTIVE))
        milestones = dict(zip(ON_ACTIVE, active.milestones, strict=True))
        ids["milestone"], ids["submitted"] = milestones["milestone"].id, milestones["submitted"].id
        if wanted & {"submitted", "deliverable"}:
            submitted = contracts.submit_milestone(
                session,
                bidder,
                ids["submitted"],
                version=milestones["submitted"].version,
                note="done",
                uploads=[UPLOAD],
            )
            ids["deliverable"] = submitted.deliverables[0].id
        for name in ("invoice_draft", "invoice_issued"):
            if name in wanted:
                milestone = milestones[name]
                issue = name == "invoice_issued"
                ids[name] = accept(milestone.id, milestone.version, issue=issue)
        if "change_order" in wanted:
            proposal = ChangeOrderCreate(
                version=contracts.get_work_order(session, sponsor, active.id).version,
                reason="Add a stability study",
                changes=[
                    MilestoneChange(
                        action="add",
                        description="Stability study",
                        amount="500.00",
                        due_date=date.today() + timedelta(days=200),
                    )
                ],
            )
            ids["change_order"] = contracts.propose_change(session, sponsor, active.id, proposal).id
    if "wo_done" in wanted:
        done = work_order("wo_done")
        accept(done.milestones[0].id, done.milestones[0].version)

    # the versions a write names, as they are now
    for name in ("wo_draft", "wo_active", "wo_done"):
        if name in ids:
            versions[name] = contracts.get_work_order(session, sponsor, ids[name]).version
    if "wo_active" in ids:
        current = contracts.get_work_order(session, sponsor, ids["wo_active"]).milestones
        versions["milestone"], versions["submitted"] = (m.version for m in current[:2])
    for name in ("invoice_draft", "invoice_issued"):
        if name in wanted:
            versions[name] = contracts.get_invoice(session, sponsor, ids[name]).version
    if "change_order" in wanted:
        (proposed,) = contracts.list_change_orders(session, sponsor, ids["wo_active"])
        versions["change_order"] = proposed.version
    return ids, versions


def _clinical(
    session: Session, a_admin: User, provider_p: uuid.UUID, program: uuid.UUID
) -> dict[str, uuid.UUID]:
    """A's study of the program with P as its CRO (named directly, no work order): a planned
    country ``study_country`` (US) and an active site ``study_site`` (activated 30 days ago)."""
    sponsor = auth.principal_for(session, a_admin)
    study = clinical.create_study(
        session,
        sponsor,
        StudyCreate(program_id=program, provider_id=provider_p, code="NW-101-201",
                    title="Phase II in NSCLC", phase="phase_2", target_enrollment=120),  # type: ignore[arg-type]
    )  # fmt: skip
    country = clinical.set_country(
        session, sponsor, study.id, StudyCountryInput(country="US", planned_sites=3)
    )
    site = clinical.create_site(
        session,
        sponsor,
        study.id,
        SiteCreate(code="US-001", name="Boston GI", country="US", status="active",  # type: ignore[arg-type]
                   actual_activation_date=date.today() - timedelta(days=30)),
    )  # fmt: skip
    return {"study": study.id, "study_country": country.id, "study_site": site.id}


def _manufacturing(
    session: Session, provider_p: uuid.UUID, sponsor_a: uuid.UUID
) -> dict[str, uuid.UUID]:
    """P's plant ``mfg_plant`` (a site of its own, so that "Main plant" stays deletable) making A's API: unit ``mfg_unit`` (a reactor) with a
    maintenance window ``mfg_maintenance``, the reactor's cleaning times ``mfg_cleaning``,
    product ``mfg_product`` with specification ``mfg_spec``, recipe ``mfg_recipe`` (one reactor
    step), order ``mfg_order`` for 45 kg due in 30 days, its completed batch ``mfg_batch``
    (one step done, an open minor deviation ``mfg_deviation``, no QC result yet) and a finished
    schedule ``mfg_schedule`` holding the batch's one operation. Rows, not services: the
    routes under test are the services' only callers here."""
    plant = Site(organization_id=provider_p, name="API plant", site_type="plant", country="CN",
                 city="Suzhou")  # fmt: skip
    session.add(plant)
    session.flush()
    now = utcnow().replace(microsecond=0)
    unit = EquipmentUnit(provider_id=provider_p, plant_id=plant.id, code="R-101",
                         name="Reactor 1", equipment_class="reactor", capacity=Decimal(4000),
                         capacity_unit="L")  # fmt: skip
    unit.maintenance_windows = [
        MaintenanceWindow(starts_at=now + timedelta(days=10), ends_at=now + timedelta(days=11))
    ]
    cleaning = CleaningTime(provider_id=provider_p, plant_id=plant.id, equipment_class="reactor",
                            same_product_hours=Decimal(2), product_change_hours=Decimal(8))  # fmt: skip
    product = Product(provider_id=provider_p, sponsor_id=sponsor_a, code="API-1",
                      name="Velorasib", kind="api", unit="kg", shelf_life_months=24)  # fmt: skip
    product.specifications = [
        Specification(
            test="Assay",
            method="HPLC",
            lower_limit=Decimal(98),
            upper_limit=Decimal(102),
            result_unit="%",
        )
    ]
    session.add_all([unit, cleaning, product])
    session.flush()
    recipe = Recipe(provider_id=provider_p, product_id=product.id, plant_id=plant.id,
                    batch_size=Decimal(50))  # fmt: skip
    recipe.steps = [RecipeStep(sequence=1, operation="Reaction", equipment_class="reactor",
                               duration_hours=Decimal(12), yield_fraction=Decimal("0.9"))]  # fmt: skip
    session.add(recipe)
    session.flush()
    order = ProductionOrder(provider_id=provider_p, sponsor_id=sponsor_a, plant_id=plant.id,
                            product_id=product.id, number="PO-1", quantity=Decimal(45),
                            due_date=date.today() + timedelta(days=30), priority=2)  # fmt: skip
    session.add(order)
    session.flush()
    batch = Batch(provider_id=provider_p, sponsor_id=sponsor_a, order_id=order.id,
                  product_id=product.id, recipe_id=recipe.id, batch_number="B-0001",
                  planned_quantity=Decimal(45), actual_quantity=Decimal("44.1"),
                  status="completed", started_at=now - timedelta(days=2),
                  completed_at=now - timedelta(days=1), manufactured_on=date.today())  # fmt: skip
    batch.steps = [BatchStep(sequence=1, operation="Reaction", unit_id=unit.id,
                             started_at=now - timedelta(days=2), ended_at=now - timedelta(days=1),
                             actual_yield_fraction=Decimal("0.98"))]  # fmt: skip
    session.add(batch)
    session.flush()
    deviation = Deviation(batch_id=batch.id, number="DEV-1", description="Stirrer stopped 5 min",
                          severity="minor", opened_at=now - timedelta(days=1))  # fmt: skip
    schedule = Schedule(provider_id=provider_p, plant_id=plant.id, status="done",
                        is_current=True, horizon_start=now - timedelta(days=3),
                        time_limit_s=10.0, workers=1, started_at=now - timedelta(days=3),
                        finished_at=now - timedelta(days=3), solver_status="OPTIMAL",
                        objective_name="makespan", objective=12.0, bound=12.0, gap=0.0,
                        makespan_hours=12.0, weighted_tardiness=0.0, wall_time_s=0.1)  # fmt: skip
    schedule.operations = [
        ScheduledOperation(
            batch_id=batch.id,
            step_sequence=1,
            unit_id=unit.id,
            starts_at=now - timedelta(days=2),
            ends_at=now - timedelta(days=2) + timedelta(hours=12),
        )
    ]
    session.add_all([deviation, schedule])
    session.flush()
    batch_record_ids = _batch_records(session, batch, unit, now)
    # Master data and orders: an intermediate of A's with no recipe yet (a recipe to create) and
    # a specification no result uses, a dryer nothing uses (a unit to delete), an override from
    # the intermediate to the API, and an open order ``mfg_open_order`` (PO-2) with no batch.
    intermediate = Product(provider_id=provider_p, sponsor_id=sponsor_a, code="INT-1",
                           name="Boc-amine", kind="intermediate", unit="kg")  # fmt: skip
    spare = EquipmentUnit(provider_id=provider_p, plant_id=plant.id, code="D-301", name="Dryer",
                          equipment_class="dryer", capacity=Decimal(300), capacity_unit="kg")  # fmt: skip
    intermediate.specifications = [
        Specification(test="Identity", method="IR", acceptance_text="Conforms to reference")
    ]
    open_order = ProductionOrder(provider_id=provider_p, sponsor_id=sponsor_a, plant_id=plant.id,
                                 product_id=product.id, number="PO-2", quantity=Decimal(90),
                                 due_date=date.today() + timedelta(days=60))  # fmt: skip
    session.add_all([intermediate, spare, open_order])
    session.flush()
    session.add(ChangeoverOverride(provider_id=provider_p, plant_id=plant.id,
                                   equipment_class="reactor", from_product_id=intermediate.id,
                                   to_product_id=product.id, hours=Decimal(16)))  # fmt: skip
    session.flush()
    # Schedules: a solve still waiting for a worker (a solve to stop), at P's other plant: a
    # plant runs one solve at a time, and the API plant's routes request new ones.
    pilot = Site(organization_id=provider_p, name="Pilot plant", site_type="plant",
                 country="CN", city="Suzhou")  # fmt: skip
    session.add(pilot)
    session.flush()
    queued = Schedule(provider_id=provider_p, plant_id=pilot.id, status="queued",
                      horizon_start=now, time_limit_s=5.0, workers=1)  # fmt: skip
    session.add(queued)
    session.flush()
    return {
        "mfg_schedule_queued": queued.id,
        "mfg_intermediate": intermediate.id,
        "mfg_intermediate_spec": intermediate.specifications[0].id,
        "mfg_open_order": open_order.id,
        "mfg_spare_unit": spare.id,
        "mfg_plant": plant.id,
        "mfg_unit": unit.id,
        "mfg_maintenance": unit.maintenance_windows[0].id,
        "mfg_cleaning": cleaning.id,
        "mfg_product": product.id,
        "mfg_spec": product.specifications[0].id,
        "mfg_recipe": recipe.id,
        "mfg_order": order.id,
        "mfg_batch": batch.id,
        "mfg_deviation": deviation.id,
        "mfg_schedule": schedule.id,
        **batch_record_ids,
    }


def _batch_records(
    session: Session, batch: Batch, unit: EquipmentUnit, now: datetime
) -> dict[str, uuid.UUID]:
    """More batches of ``mfg_batch``'s order, one per state the batch-record routes need:
    ``mfg_batch_planned``; ``mfg_batch_running`` (in progress, its one step ended, a supplier
    lot ``mfg_material`` consumed); ``mfg_batch_ready`` (completed, its one result in
    specification, no deviation: releasable) and ``mfg_batch_released`` (released, signed by
    P's admin). ``mfg_step_sequence`` is the step a route records (a number, not an id)."""
    from opencxo.core.auth.models import Membership
    from opencxo.core.signatures import Signature
    from opencxo.manufacturing.models import MaterialConsumption, QcResult

    def copy(number: str, status: str) -> Batch:
        row = Batch(provider_id=batch.provider_id, sponsor_id=batch.sponsor_id,
                    order_id=batch.order_id, product_id=batch.product_id,
                    recipe_id=batch.recipe_id, batch_number=number,
                    planned_quantity=Decimal(45), status=status)  # fmt: skip
        if status != "planned":
            row.started_at = now - timedelta(days=2)
            row.steps = [BatchStep(sequence=1, operation="Reaction", unit_id=unit.id,
                                   started_at=now - timedelta(days=2),
                                   ended_at=now - timedelta(days=1))]  # fmt: skip
        if status in ("completed", "released"):
            row.completed_at = now - timedelta(days=1)
            row.manufactured_on = row.completed_at.date()
            row.actual_quantity = Decimal(44)
        session.add(row)
        session.flush()
        return row

    planned, running = copy("B-0002", "planned"), copy("B-0003", "in_progress")
    ready, released = copy("B-0004", "completed"), copy("B-0005", "released")
    material = MaterialConsumption(batch_id=running.id, material_name="Toluene",
                                   supplier_lot="TOL-1", quantity=Decimal(100), unit="kg")  # fmt: skip
    session.add(material)
    spec_id = session.execute(
        select(Specification.id).where(Specification.product_id == batch.product_id)
    ).scalar_one()
    for row in (ready, released):
        session.add(QcResult(batch_id=row.id, specification_id=spec_id, value=Decimal("99.5"),
                             out_of_specification=False, tested_on=date.today(),
                             analyst="Lab", lower_limit=Decimal(98), upper_limit=Decimal(102)))  # fmt: skip
    signer = session.execute(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == batch.provider_id, Membership.role == "admin")
        .limit(1)
    ).scalar_one()  # fmt: skip
    signature = Signature(entity_type="mfg_batch", entity_id=str(released.id),
                          organization_id=batch.provider_id, signer_user_id=signer.id,
                          signer_name=signer.full_name, signer_email=signer.email,
                          meaning="released", signed_at=now, record_sha256="0" * 64)  # fmt: skip
    session.add(signature)
    session.flush()
    released.disposition_signature_id = signature.id
    released.disposed_at = now
    session.flush()
    return {
        "mfg_batch_planned": planned.id,
        "mfg_batch_running": running.id,
        "mfg_batch_ready": ready.id,
        "mfg_batch_released": released.id,
        "mfg_material": material.id,
        "mfg_step_sequence": 1,  # type: ignore[dict-item]  # a path number, not an id
    }


ECONOMICS_SPEC: dict[str, Any] = {
    "name": "NW-101 base case",
    "current_phase": "phase_2",
    "therapeutic_area": "oncology",
    "revenue": {"peak_sales_musd": 500, "years_to_peak": 5},
    "exclusivity": {"loss_years_from_now": 12},
}
ECONOMICS_PORTFOLIO: dict[str, Any] = {
    "name": "A's plan",
    "budget_by_year_musd": [60, 60],
    "trials": 1000,
    "programs": [{"program": "NW-101", "options": [ECONOMICS_SPEC]}],
}


def _economics(session: Session, a_admin: User) -> dict[str, uuid.UUID]:
    """A's stored valuation scenario (valued once, 1,000 trials) and portfolio (never run)."""
    sponsor = auth.principal_for(session, a_admin)
    spec = ScenarioInput.model_validate(ECONOMICS_SPEC)
    scenario = economics.create_scenario(session, sponsor, ScenarioCreate(spec=spec))
    economics.run_valuation(session, sponsor, scenario.id, RunRequest(trials=1000, seed=1))
    portfolio = economics.create_portfolio(
        session, sponsor, PortfolioCreate(spec=PortfolioInput.model_validate(ECONOMICS_PORTFOLIO))
    )
    return {"valuation_scenario": scenario.id, "portfolio": portfolio.id}


# A one-step route of P's (methyl benzoate on a reactor): evaluated, choosable at the API plant.
CHEM_ROUTE: dict[str, Any] = {
    "name": "Methyl benzoate, route A",
    "currency": "USD",
    "equipment_rates": {"reactor": 150},
    "materials": [
        {"name": "Benzoic acid", "smiles": "OC(=O)c1ccccc1", "price_per_kg": 3},
        {"name": "Methanol", "smiles": "CO", "price_per_kg": 0.4},
        {"name": "Toluene", "smiles": "Cc1ccccc1", "price_per_kg": 1.9, "density_kg_per_l": 0.87},
    ],
    "steps": [
        {"id": "S1", "name": "Esterification", "yield_fraction": 0.9, "cycle_time_h": 12,
         "reaction_smiles": "OC(=O)c1ccccc1.CO>>COC(=O)c1ccccc1.O", "batch_output_kg": 100,
         "equipment_class": "reactor", "inputs": [
            {"material": "Benzoic acid", "role": "reactant", "kg_per_kg": 1.0},
            {"material": "Methanol", "role": "reactant", "kg_per_kg": 0.5},
            {"material": "Toluene", "role": "solvent", "litres_per_kg": 4}]},
    ],
}  # fmt: skip


def _chemistry(session: Session, p_admin: User, product_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """P's stored route ``chem_route`` making A's API (``mfg_product``), its materials in P's
    library (``chem_material``: toluene, which the route uses) and an unused material
    ``chem_spare`` (acetone, a material to delete)."""
    cdmo = auth.principal_for(session, p_admin)
    route = chemistry.import_route(session, cdmo, RouteImport(
        route=RouteFile.model_validate(CHEM_ROUTE), product_id=product_id))  # fmt: skip
    spare = chemistry.create_material(
        session, cdmo, MaterialCreate(name="Acetone", smiles="CC(C)=O", price_per_kg=Decimal(1))
    )
    library = chemistry.list_materials(session, cdmo, PageParams(page=1, page_size=100), q="Tol")
    return {"chem_route": route.id, "chem_material": library.items[0].id, "chem_spare": spare.id}


def _named(request: pytest.FixtureRequest) -> set[str]:
    """The scenario objects a route walk names (by path or ``needs``); none elsewhere."""
    callspec = getattr(request.node, "callspec", None)
    route = callspec.params.get("route") if callspec else None
    return set(route.params.values()) | set(route.needs) if isinstance(route, Route) else set()


def _walks(request: pytest.FixtureRequest, prefix: str) -> bool:
    """The test walks a route whose path starts with ``prefix``."""
    callspec = getattr(request.node, "callspec", None)
    route = callspec.params.get("route") if callspec else None
    return isinstance(route, Route) and route.path.startswith(prefix)


def _wanted(request: pytest.FixtureRequest) -> set[str] | None:
    """What of sourcing and contracts the test needs: a route walk, the RFPs and contract
    states its path names (and ``needs``), and nothing of either elsewhere (they would cost
    half the setup); any other test, every RFP and no contract."""
    callspec = getattr(request.node, "callspec", None)
    route = callspec.params.get("route") if callspec else None
    if not isinstance(route, Route):
        return set(RFP_STATES)
    named = set(route.params.values()) | set(route.needs)
    needs_program = route.path.startswith(
        ("/programs", "/rfps", "/studies", "/study-sites", "/recovery-plans")
    )
    if not needs_program and not named & set(CONTRACT_STATES):
        return None
    return named & {*RFP_STATES, *CONTRACT_STATES}


@pytest.fixture
def scenario(request: pytest.FixtureRequest, session: Session) -> Scenario:
    sponsor_a = make_organization(session, name="Sponsor A", country="US")
    sponsor_b = make_organization(session, name="Sponsor B", country="DE")
    provider_p = make_provider(session, name="Provider P", country="CN")
    provider_q = make_provider(session, name="Provider Q", country="IN")
    users = {
        "a_admin": make_user(session, organization_id=sponsor_a.id, role="admin"),
        "a_viewer": make_user(session, organization_id=sponsor_a.id, role="viewer"),
        "a_qa": make_user(session, organization_id=sponsor_a.id, role="qa"),
        "b_admin": make_user(session, organization_id=sponsor_b.id, role="admin"),
        "p_admin": make_user(session, organization_id=provider_p.id, role="admin"),
        "p_viewer": make_user(session, organization_id=provider_p.id, role="viewer"),
        "p_qa": make_user(session, organization_id=provider_p.id, role="qa"),
    }
    qualification = make_qualification(
        session, sponsor_user=users["a_admin"], provider_id=provider_p.id
    )
    disruption = parties.declare_disruption(
        session,
        auth.principal_for(session, users["a_admin"]),
        DisruptionCreate(title="Flooding", cause="natural_disaster", region="Asia-Pacific",
                         starts_on=date.today(), enrollment_multiplier=0.5),  # type: ignore[arg-type]
    )  # fmt: skip
    tokens = {name: make_token(session, user=user) for name, user in users.items()}
    op_user = auth_repository.user_by_email(session, operator(session).email)
    assert op_user is not None
    tokens["operator"] = make_token(session, user=op_user)
    spare, tokens["a_admin_spare"] = auth.create_token(
        session, auth.principal_for(session, users["a_admin"]), name="spare"
    )
    wanted = _wanted(request)
    sourcing_ids, versions = (
        ({}, {})
        if wanted is None
        else _sourcing(
            session, users["a_admin"], users["p_admin"], provider_p.id, wanted & set(RFP_STATES)
        )
    )
    if wanted and wanted & set(CONTRACT_STATES):
        contract_ids, contract_versions = _contracts(
            session,
            users["a_admin"],
            users["p_admin"],
            provider_p.id,
            sourcing_ids["program"],
            wanted & set(CONTRACT_STATES),
        )
        sourcing_ids.update(contract_ids)
        versions.update(contract_versions)
    if "program" in sourcing_ids:
        sourcing_ids.update(
            _clinical(session, users["a_admin"], provider_p.id, sourcing_ids["program"])
        )
    sourcing_ids["site_offer"] = recovery.create_site_offer(
        session,
        auth.principal_for(session, users["p_admin"]),
        SiteOfferCreate.model_validate(SITE_OFFER),
    ).id
    if "recovery_plan" in _named(request):
        plan = recovery.propose_recovery_plan(
            session,
            auth.principal_for(session, users["a_admin"]),
            sourcing_ids["study"],
            RecoveryRequest.model_validate(RECOVERY_REQUEST),
        )
        sourcing_ids["recovery_plan"] = plan.id
        versions["recovery_plan"] = plan.version
    economics_ids = _economics(session, users["a_admin"])
    manufacturing_ids = _manufacturing(session, provider_p.id, sponsor_a.id)
    if _walks(request, "/chem"):  # P's library and routes: only the routes under /chem use them
        manufacturing_ids.update(
            _chemistry(session, users["p_admin"], manufacturing_ids["mfg_product"])
        )
    if "wo_active" in sourcing_ids:  # A's order at P's plant runs under the active work order
        session.execute(
            update(ProductionOrder)
            .where(ProductionOrder.id == manufacturing_ids["mfg_order"])
            .values(work_order_id=sourcing_ids["wo_active"])
        )
    qa_membership = auth_repository.membership_of(session, users["a_qa"].id, sponsor_a.id)
    assert qa_membership is not None
    site = session.execute(
        select(Site).where(Site.organization_id == provider_p.id, Site.name == "Main plant")
    ).scalar_one()
    capability = session.execute(
        select(Capability).where(Capability.provider_id == provider_p.id)
    ).scalar_one()
    session.commit()
    return Scenario(
        ids={
            "sponsor_a": sponsor_a.id,
            "sponsor_b": sponsor_b.id,
            "provider_p": provider_p.id,
            "provider_q": provider_q.id,
            "qualification": qualification.id,
            "qa_membership": qa_membership.id,
            "spare_token": spare.id,
            "site": site.id,
            "capability": capability.id,
            "disruption": disruption.id,
            **sourcing_ids,
            **economics_ids,
            **manufacturing_ids,
        },
        tokens=tokens,
        emails={name: user.email for name, user in users.items()},
        versions=versions,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the route table ----------------------------------------------------------------------------

Body = Callable[[Scenario], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    # anonymous, another organisation, same organisation without the permission, with it
    statuses: tuple[int, int, int, int]
    params: dict[str, str] = field(default_factory=dict)  # path parameter -> scenario id
    body: Body | None = None
    without: str = "a_viewer"  # the same-organisation actor who lacks the permission
    with_: str = "a_admin"  # the actor who holds it
    records: int = 0  # audit events a successful write appends
    needs: tuple[str, ...] = ()  # scenario states to build beyond those ``params`` name
    form: bool = False  # the body is a multipart form, sent with one deliverable file
    upload: str = "files"  # the form field that carries the file
    file: tuple[str, bytes, str] = DELIVERABLE  # the file a form sends: name, bytes, type

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, scenario: Scenario) -> str:
        values = {name: scenario.ids[source] for name, source in self.params.items()}
        return API + self.path.format(**values)

    def actor(self, role: str) -> str | None:
        return {
            "anonymous": None,
            "other_organisation": OTHER_ORGANISATION,
            "without_permission": self.without,
            "with_permission": self.with_,
        }[role]

    def expected(self, role: str) -> int:
        return self.statuses[ACTORS.index(role)]


def rfp_body(scenario: Scenario, *, title: str) -> dict[str, Any]:
    return {
        "program_id": str(scenario.ids["program"]),
        "title": title,
        "bid_deadline": (utcnow() + timedelta(days=14)).isoformat(),
        "lots": [API_LOT],
    }


def open_offer(scenario: Scenario) -> dict[str, Any]:
    """P's offer on the open RFP's lot."""
    return {
        "lot_id": str(scenario.ids["open_lot"]),
        "start_date": date.today().isoformat(),
        "duration_days": 60,
        "lines": [
            {"description": "Delivery", "amount": "95000.00", "currency": "USD",
             "due_offset_days": 60}
        ],
    }  # fmt: skip


PROGRAM = {
    "name": "NW-101",
    "modality": "small_molecule",
    "therapeutic_area": "Oncology",
    "indication": "NSCLC",
    "phase": "phase_2",
}
PROGRAM_ID = {"program_id": "program"}
DRAFT_RFP = {"rfp_id": "rfp_draft"}
OPEN_RFP = {"rfp_id": "rfp_open"}
CLOSED_RFP = {"rfp_id": "rfp_closed"}
AS_P: dict[str, Any] = {"without": "p_viewer", "with_": "p_admin"}
ORG_A = {"organization_id": "sponsor_a"}
ORG_P = {"organization_id": "provider_p"}
PROVIDER_P = {"provider_id": "provider_p"}
READ_BY_ALL = (401, 200, 200, 200)
MFG_PLANT = {"plant_id": "mfg_plant"}
MFG_PRODUCT = {"product_id": "mfg_product"}
MFG_ORDER = {"order_id": "mfg_order"}
MFG_RECIPE_ID = {"recipe_id": "mfg_recipe"}
MFG_RECIPE: dict[str, Any] = {
    "batch_size": "100",
    "steps": [{"operation": "Coupling", "equipment_class": "reactor", "duration_hours": "10",
               "yield_fraction": "0.9"}],
    "bom": [{"material_name": "Toluene", "quantity_per_batch": "400"}],
}  # fmt: skip


MFG_UNIT = {"code": "R-102", "name": "Reactor 2", "equipment_class": "reactor",
            "capacity": "2500", "capacity_unit": "L"}  # fmt: skip
MFG_TABLET = {"code": "TAB-1", "name": "Velorasib 50 mg", "kind": "drug_product",
              "unit": "units", "dosage_form": "tablet", "strength": "50 mg"}  # fmt: skip


def mfg_order(s: Scenario) -> dict[str, Any]:
    """A new order of A's API in P's plant (which has its recipe)."""
    return {"product_id": str(s.ids["mfg_product"]), "plant_id": str(s.ids["mfg_plant"]),
            "quantity": "90", "due_date": IN_A_YEAR, "priority": 4}  # fmt: skip


def mfg_changeover(s: Scenario) -> dict[str, Any]:
    """The key of the scenario's changeover override (intermediate → API on reactors)."""
    return {"from_product_id": str(s.ids["mfg_intermediate"]),
            "to_product_id": str(s.ids["mfg_product"]), "equipment_class": "reactor"}  # fmt: skip


@dataclass(frozen=True)
class ClassRoute(Route):
    """A route whose path also names an equipment class: text ("reactor"), not a scenario id."""

    def url(self, scenario: Scenario) -> str:
        values = {name: scenario.ids[source] for name, source in self.params.items()}
        return API + self.path.format(equipment_class="reactor", **values)


@dataclass(frozen=True)
class QueryRoute(Route):
    """A route called with a query string its answer needs (``?smiles=…``)."""

    query: str = ""

    def url(self, scenario: Scenario) -> str:
        return f"{super().url(scenario)}?{self.query}"


CHEM_ROUTE_ID = {"route_id": "chem_route"}
CHEM_MATERIAL = {"material_id": "chem_material"}


def chem_route_body(s: Scenario, *, name: str) -> dict[str, Any]:
    return {"route": {**CHEM_ROUTE, "name": name}, "product_id": str(s.ids["mfg_product"])}


ACTIVE_WO = {"work_order_id": "wo_active"}
DISRUPTION = {"disruption_id": "disruption"}
SCENARIO = {"scenario_id": "valuation_scenario"}
PORTFOLIO = {"portfolio_id": "portfolio"}
STUDY = {"study_id": "study"}
STUDY_SITE = {"site_id": "study_site"}
SITE_OFFER_ID = {"offer_id": "site_offer"}
RECOVERY_PLAN = {"plan_id": "recovery_plan"}
MFG_BATCH = {"batch_id": "mfg_batch"}
MFG_RELEASED = {"batch_id": "mfg_batch_released"}
SITE_OFFER: dict[str, Any] = {
    "name": "Provider P Vietnam sites",
    "country": "VN",
    "expected_rate_per_site_per_month": 0.8,
    "activation_lag_days": 30,
    "startup_cost_per_site": "20000.00",
    "monthly_cost_per_site": "2000.00",
    "cost_per_patient": "9000.00",
    "capacity_sites": 1,
}
# 120 patients in 200 days from one new site and one site of P's: unreachable, so the plan
# takes every offer (one site) whatever the simulation draws
RECOVERY_REQUEST: dict[str, Any] = {
    "deadline": (date.today() + timedelta(days=200)).isoformat(),
    "paths": 1000,
}

ROUTES: tuple[Route, ...] = (
    # accounts: yourself, your tokens, your organisation's members, the audit log
    Route("GET", "/me", READ_BY_ALL),
    Route("GET", "/tokens", READ_BY_ALL),
    Route(
        "POST",
        "/tokens",
        (401, 201, 201, 201),  # every signed-in user may issue tokens for themself
        body=lambda s: {"name": "ci pipeline"},
        records=1,
    ),
    Route(
        "DELETE",
        "/tokens/{token_id}",
        (401, 404, 404, 200),  # only the owner (A's admin) sees the token
        params={"token_id": "spare_token"},
        records=1,
    ),
    Route("GET", "/organizations/{organization_id}/members", (401, 404, 403, 200), ORG_A),
    Route(
        "POST",
        "/organizations/{organization_id}/members",
        (401, 404, 403, 201),
        ORG_A,
        body=lambda s: {
            "email": "new.colleague@test.example",
            "full_name": "New Colleague",
            "role": "member",
            "password": "a-long-enough-password",
        },
        records=2,  # the new user and the membership
    ),
    Route(
        "PATCH",
        "/memberships/{membership_id}",
        (401, 404, 403, 200),
        {"membership_id": "qa_membership"},
        body=lambda s: {"role": "member", "version": 1},
        records=1,
    ),
    Route(
        "DELETE",
        "/memberships/{membership_id}",
        (401, 404, 403, 204),
        {"membership_id": "qa_membership"},
        records=1,
    ),
    # B's admin reads B's own trail (200); A's viewer lacks audit:read; A's QA holds it.
    Route("GET", "/audit-events", (401, 200, 403, 200), with_="a_qa"),
    # parties: the catalog and organisation profiles (public to every signed-in user)
    Route("GET", "/catalog", READ_BY_ALL),
    Route("GET", "/organizations", READ_BY_ALL),
    Route(
        "POST",
        "/organizations",
        (401, 403, 403, 201),  # platform operators only: even A's admin is refused
        body=lambda s: {
            "name": "New Sponsor",
            "kind": "sponsor",
            "sponsor_kind": "pharma",
            "country": "FR",
        },
        without="a_admin",
        with_="operator",
        records=1,
    ),
    Route("GET", "/organizations/{organization_id}", READ_BY_ALL, ORG_A),
    Route(
        "PATCH",
        "/organizations/{organization_id}",
        (401, 403, 403, 200),
        ORG_A,
        body=lambda s: {"version": 1, "city": "Boston"},
        records=1,
    ),
    Route("GET", "/organizations/{organization_id}/history", READ_BY_ALL, ORG_A),
    Route(
        "POST",
        "/organizations/{organization_id}/sites",
        (401, 403, 403, 201),
        ORG_P,
        body=lambda s: {
            "name": "Second lab",
            "site_type": "lab",
            "country": "CN",
            "city": "Suzhou",
        },
        records=1,
        without="p_viewer",
        with_="p_admin",
    ),
    Route(
        "DELETE",
        "/sites/{site_id}",
        (401, 403, 403, 204),
        {"site_id": "site"},
        records=1,
        without="p_viewer",
        with_="p_admin",
    ),
    # the provider directory and provider profiles
    Route("GET", "/providers", READ_BY_ALL),
    Route("GET", "/providers/{provider_id}", READ_BY_ALL, PROVIDER_P),
    Route(
        "POST",
        "/providers/{provider_id}/capabilities",
        (401, 403, 403, 201),
        PROVIDER_P,
        body=lambda s: {
            "service_code": "CMC-GMPINT",
            "site_ids": [str(s.ids["site"])],
            "standards": ["GMP"],
        },
        records=1,
        without="p_viewer",
        with_="p_admin",
    ),
    Route(
        "DELETE",
        "/capabilities/{capability_id}",
        (401, 403, 403, 204),
        {"capability_id": "capability"},
        records=1,
        without="p_viewer",
        with_="p_admin",
    ),
    Route(
        "POST",
        "/providers/{provider_id}/certifications",
        (401, 403, 403, 201),
        PROVIDER_P,
        body=lambda s: {"standard": "ISO 9001", "issuer": "TÜV", "valid_until": IN_A_YEAR},
        records=1,
        without="p_viewer",
        with_="p_admin",
    ),
    Route(
        "POST",
        "/providers/{provider_id}/inspections",
        (401, 403, 403, 201),
        PROVIDER_P,
        body=lambda s: {"authority": "EMA", "inspected_on": "2025-01-15", "outcome": "VAI"},
        records=1,
        without="p_viewer",
        with_="p_admin",
    ),
    # qualifications: private to the sponsor that holds them; A's QA holds qualifications:write
    Route("GET", "/qualifications", READ_BY_ALL, with_="a_qa"),
    Route(
        "POST",
        "/qualifications",
        (401, 404, 403, 201),  # B cannot act for sponsor A
        body=lambda s: {
            "provider_id": str(s.ids["provider_q"]),
            "sponsor_id": str(s.ids["sponsor_a"]),
            "status": "conditional",
            "audit_findings": "two minor observations",
        },
        with_="a_qa",
        records=1,
    ),
    Route(
        "GET",
        "/qualifications/{qualification_id}",
        (401, 404, 200, 200),  # every role of A may read A's qualifications
        {"qualification_id": "qualification"},
        with_="a_qa",
    ),
    Route(
        "PATCH",
        "/qualifications/{qualification_id}",
        (401, 404, 403, 200),
        {"qualification_id": "qualification"},
        body=lambda s: {"version": 1, "status": "approved", "expires_on": "2031-06-30"},
        with_="a_qa",
        records=1,
    ),
    Route(
        "GET",
        "/qualifications/{qualification_id}/history",
        (401, 404, 200, 200),
        {"qualification_id": "qualification"},
        with_="a_qa",
    ),
    # sourcing: A's programs and RFPs are A's (B gets 404); P, invited, reads the published RFPs
    # and works on its own bid (P's viewer lacks bids:write), never on A's side of the RFP.
    Route("GET", "/programs", READ_BY_ALL),
    Route(
        "POST",
        "/programs",
        (401, 404, 403, 201),  # B cannot act for sponsor A
        body=lambda s: {**PROGRAM, "name": "NW-202", "sponsor_id": str(s.ids["sponsor_a"])},
        records=1,
    ),
    Route("GET", "/programs/{program_id}", (401, 404, 200, 200), PROGRAM_ID),
    Route(
        "PUT",
        "/programs/{program_id}",
        (401, 404, 403, 200),
        PROGRAM_ID,
        body=lambda s: {**PROGRAM, "phase": "phase_3", "version": 1},
        records=1,
    ),
    Route("GET", "/rfps", READ_BY_ALL),
    Route(
        "POST",
        "/rfps",
        (401, 422, 403, 201),  # A's program is unknown to B: 422, as for any unknown program
        body=lambda s: rfp_body(s, title="Second RFP"),
        records=1,
    ),
    Route("GET", "/rfps/{rfp_id}", (401, 404, 200, 200), OPEN_RFP, with_="p_admin"),
    Route(
        "PUT",
        "/rfps/{rfp_id}",
        (401, 404, 403, 200),
        DRAFT_RFP,
        body=lambda s: {**rfp_body(s, title="Draft RFP, edited"), "version": 1},
        records=1,
    ),
    Route(
        "POST",
        "/rfps/{rfp_id}/publish",
        (401, 404, 403, 200),
        DRAFT_RFP,
        body=lambda s: {"version": s.versions["rfp_draft"]},
        records=1,
    ),
    Route(
        "POST",
        "/rfps/{rfp_id}/cancel",
        (401, 404, 403, 200),
        DRAFT_RFP,
        body=lambda s: {"version": s.versions["rfp_draft"], "reason": "Program paused"},
        records=1,
    ),
    Route(
        "PUT",
        "/rfps/{rfp_id}/exchange-rates",
        (401, 404, 403, 200),
        CLOSED_RFP,
        body=lambda s: {"version": s.versions["rfp_closed"], "rates": {"EUR": "1.08"}},
        records=1,
    ),
    Route("GET", "/rfps/{rfp_id}/suggestions", (401, 404, 200, 200), DRAFT_RFP),
    Route(
        "POST",
        "/rfps/{rfp_id}/invitations",
        (401, 404, 403, 201),
        DRAFT_RFP,
        body=lambda s: {"provider_id": str(s.ids["provider_q"])},
        records=1,
    ),
    Route("GET", "/rfps/{rfp_id}/questions", (401, 404, 200, 200), OPEN_RFP, with_="p_admin"),
    Route(
        "POST",
        "/rfps/{rfp_id}/questions",
        (401, 404, 403, 201),
        OPEN_RFP,
        body=lambda s: {"question": "Which polymorph?"},
        without="p_viewer",
        with_="p_admin",
        records=1,
    ),
    Route(
        "POST",
        "/rfps/{rfp_id}/questions/{question_id}/answer",
        (401, 404, 403, 200),
        {**OPEN_RFP, "question_id": "question"},
        body=lambda s: {"answer": "Form II.", "version": 1},
        records=1,
    ),
    Route("GET", "/rfps/{rfp_id}/bid", (401, 404, 200, 200), OPEN_RFP, **AS_P),
    Route(
        "PUT",
        "/rfps/{rfp_id}/bid",
        (401, 404, 403, 200),
        OPEN_RFP,
        body=lambda s: {"version": s.versions["open_bid"], "lots": [open_offer(s)]},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/rfps/{rfp_id}/bid/submit",
        (401, 404, 403, 200),
        OPEN_RFP,
        body=lambda s: {"version": s.versions["open_bid"]},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/rfps/{rfp_id}/bid/withdraw",
        (401, 404, 403, 200),
        OPEN_RFP,
        body=lambda s: {"version": s.versions["open_bid"]},
        records=1,
        **AS_P,
    ),
    Route("GET", "/rfps/{rfp_id}/bid/outcome", (401, 404, 200, 200), CLOSED_RFP, **AS_P),
    # documents: A's on its RFPs (added while draft or open, removed only from a draft; read by
    # the invitees once published), P's on its bid (until the deadline; A reads them after it)
    Route(
        "POST",
        "/rfps/{rfp_id}/attachments",
        (401, 404, 403, 201),
        DRAFT_RFP,
        form=True,
        upload="file",
        records=1,
    ),
    Route(
        "DELETE",
        "/rfps/{rfp_id}/attachments/{file_id}",
        (401, 404, 403, 204),
        {**DRAFT_RFP, "file_id": "draft_document"},
        records=1,
    ),
    Route(
        "GET",
        "/rfps/{rfp_id}/attachments/{file_id}",
        (401, 404, 200, 200),  # A's viewer; P, invited, once it is published
        {**OPEN_RFP, "file_id": "open_document"},
        with_="p_admin",
    ),
    Route(
        "POST",
        "/rfps/{rfp_id}/bid/attachments",
        (401, 404, 403, 201),
        OPEN_RFP,
        form=True,
        upload="file",
        records=1,
        **AS_P,
    ),
    Route(
        "DELETE",
        "/rfps/{rfp_id}/bid/attachments/{file_id}",
        (401, 404, 403, 204),
        {**OPEN_RFP, "file_id": "open_bid_document"},
        records=1,
        **AS_P,
    ),
    Route(
        "GET",
        "/rfps/{rfp_id}/bids/{bid_id}/attachments/{file_id}",
        (401, 404, 200, 200),  # A's viewer and admin, after the deadline
        {**CLOSED_RFP, "bid_id": "closed_bid", "file_id": "closed_bid_document"},
    ),
    Route("GET", "/rfps/{rfp_id}/bids", (401, 404, 200, 200), CLOSED_RFP),
    Route("GET", "/rfps/{rfp_id}/comparison", (401, 404, 200, 200), CLOSED_RFP),
    Route("GET", "/rfps/{rfp_id}/awards", (401, 404, 200, 200), CLOSED_RFP),
    Route(
        "POST",
        "/rfps/{rfp_id}/finish-award",
        (401, 404, 403, 200),  # A's viewer lacks rfps:award
        {"rfp_id": "rfp_partial"},
        body=lambda s: {"version": s.versions["rfp_partial"], "reason": "no bid for lot 2"},
        records=1,  # the RFP awarded, with the reason
    ),
    Route(
        "POST",
        "/rfps/{rfp_id}/lots/{lot_id}/award",
        (401, 404, 403, 201),  # A's viewer lacks rfps:award
        {**CLOSED_RFP, "lot_id": "closed_lot"},
        body=lambda s: {
            "bid_id": str(s.ids["closed_bid"]),
            "version": s.versions["rfp_closed"],
            "password": PASSWORD,
        },
        records=3,  # the signature, the award, and the RFP awarded (its only lot)
    ),
    # contracts: a work order is its two parties' (B gets 404 for it and everything under it);
    # the sponsor sends, completes, decides milestones and pays, the provider submits milestones
    # and issues invoices (the other party's 403: see test_the_other_party_is_refused). Every
    # role reads; members write, managers and admins sign and pay (A's, P's viewer: neither).
    Route("GET", "/msas", READ_BY_ALL, needs=("wo_draft",)),
    Route(
        "POST",
        "/msas",
        (401, 404, 403, 201),  # B cannot act for sponsor A
        body=lambda s: {
            "provider_id": str(s.ids["provider_q"]),
            "sponsor_id": str(s.ids["sponsor_a"]),
            "reference": "MSA-2026-Q",
            "terms": "Confidentiality, quality agreement, GxP compliance.",
            "effective_date": date.today().isoformat(),
            "expiry_date": IN_A_YEAR,
        },
        records=1,
    ),
    Route("GET", "/work-orders", READ_BY_ALL, needs=("wo_active",)),
    Route(
        "POST",
        "/work-orders",
        (401, 404, 403, 201),  # A's award is unknown to B
        body=lambda s: {"award_id": str(s.ids["award"]), "payment_terms_days": 45},
        needs=("award",),
        records=2,  # the MSA made with the pair's first work order, and the work order
    ),
    Route("GET", "/work-orders/{work_order_id}", (401, 404, 200, 200), ACTIVE_WO, **AS_P),
    Route(
        "POST",
        "/work-orders/{work_order_id}/send-for-signature",
        (401, 404, 403, 200),
        {"work_order_id": "wo_draft"},
        body=lambda s: {"version": s.versions["wo_draft"]},
        records=1,
    ),
    Route(
        "POST",
        "/work-orders/{work_order_id}/sign",
        (401, 404, 403, 200),  # P's viewer lacks contracts:sign
        {"work_order_id": "wo_pending"},
        body=lambda s: {"password": PASSWORD},
        records=1,  # P's signature (A has not signed: it stays pending)
        **AS_P,
    ),
    Route(
        "POST",
        "/work-orders/{work_order_id}/terminate",
        (401, 404, 403, 200),
        ACTIVE_WO,
        body=lambda s: {"version": s.versions["wo_active"], "reason": "Program stopped"},
        records=1,
    ),
    Route(
        "POST",
        "/work-orders/{work_order_id}/complete",
        (401, 404, 403, 200),
        {"work_order_id": "wo_done"},
        body=lambda s: {"version": s.versions["wo_done"]},
        records=1,
    ),
    Route(
        "GET",
        "/work-orders/{work_order_id}/change-orders",
        (401, 404, 200, 200),
        ACTIVE_WO,
        needs=("change_order",),
        **AS_P,
    ),
    Route(
        "POST",
        "/work-orders/{work_order_id}/change-orders",
        (401, 404, 403, 201),
        ACTIVE_WO,
        body=lambda s: {
            "version": s.versions["wo_active"],
            "reason": "Add a stability study",
            "changes": [
                {
                    "action": "add",
                    "description": "Stability study",
                    "amount": "500.00",
                    "due_date": IN_A_YEAR,
                }
            ],
        },
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/change-orders/{change_order_id}/sign",
        (401, 404, 403, 200),
        {"change_order_id": "change_order"},
        body=lambda s: {"password": PASSWORD},
        records=1,  # P's signature (A, who proposed it, has not signed: it stays pending)
        **AS_P,
    ),
    Route(
        "POST",
        "/change-orders/{change_order_id}/withdraw",
        (401, 404, 403, 200),
        {"change_order_id": "change_order"},
        body=lambda s: {"version": s.versions["change_order"]},
        records=1,
    ),
    Route(
        "POST",
        "/milestones/{milestone_id}/submit",
        (401, 404, 403, 200),
        {"milestone_id": "milestone"},
        body=lambda s: {"version": str(s.versions["milestone"]), "note": "Transfer report"},
        form=True,
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/milestones/{milestone_id}/decision",
        (401, 404, 403, 200),  # A's viewer lacks contracts:sign
        {"milestone_id": "submitted"},
        body=lambda s: {"version": s.versions["submitted"], "accept": True, "password": PASSWORD},
        records=2,  # the signature and the acceptance (the drafted invoice is not audited)
    ),
    Route(
        "GET",
        "/deliverables/{deliverable_id}/download",
        (401, 404, 200, 200),
        {"deliverable_id": "deliverable"},
    ),
    Route("GET", "/invoices", READ_BY_ALL, needs=("invoice_issued",), **AS_P),
    Route("GET", "/invoices/{invoice_id}", (401, 404, 200, 200), {"invoice_id": "invoice_issued"}),
    Route(
        "POST",
        "/invoices/{invoice_id}/issue",
        (401, 404, 403, 200),
        {"invoice_id": "invoice_draft"},
        body=lambda s: {
            "version": s.versions["invoice_draft"],
            "number": "P-0002",
            "issued_on": date.today().isoformat(),
        },
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/invoices/{invoice_id}/payments",
        (401, 404, 403, 200),  # A's viewer lacks payments:write
        {"invoice_id": "invoice_issued"},
        body=lambda s: {
            "version": s.versions["invoice_issued"],
            "amount": "400.00",
            "paid_on": date.today().isoformat(),
        },
        records=1,
    ),
    Route("GET", "/spend", READ_BY_ALL, needs=("invoice_issued",)),
    # disruptions: private to the declaring organisation (B gets 404, as for an unknown id);
    # every role of A reads them, A's viewer lacks disruptions:write
    Route("GET", "/disruptions", READ_BY_ALL),
    Route(
        "POST",
        "/disruptions",
        (401, 404, 403, 201),  # B cannot declare for sponsor A
        body=lambda s: {
            "organization_id": str(s.ids["sponsor_a"]),
            "title": "Influenza epidemic",
            "cause": "epidemic",
            "country": "DE",
            "starts_on": date.today().isoformat(),
        },
        records=1,
    ),
    Route("GET", "/disruptions/{disruption_id}", (401, 404, 200, 200), DISRUPTION),
    Route(
        "PUT",
        "/disruptions/{disruption_id}",
        (401, 404, 403, 200),
        DISRUPTION,
        body=lambda s: {
            "version": 1,
            "title": "Flooding",
            "cause": "natural_disaster",
            "region": "Asia-Pacific",
            "starts_on": date.today().isoformat(),
            "ends_on": IN_A_YEAR,
            "enrollment_multiplier": 0.5,
        },
        records=1,
    ),
    Route("DELETE", "/disruptions/{disruption_id}", (401, 404, 403, 204), DISRUPTION, records=1),
    # economics: A's stored scenarios and portfolios (B gets 404); every role of A reads and
    # computes (compare, tornado), A's viewer lacks programs:write to store or run
    Route(
        "POST",
        "/economics/rnpv",
        READ_BY_ALL,  # a file the caller keeps: nobody's data, nothing stored
        body=lambda s: ECONOMICS_SPEC,
    ),
    Route("GET", "/scenarios", READ_BY_ALL),
    Route(
        "POST",
        "/scenarios",
        (401, 404, 403, 201),  # B cannot act for sponsor A
        body=lambda s: {
            "sponsor_id": str(s.ids["sponsor_a"]),
            "spec": {**ECONOMICS_SPEC, "name": "NW-101 with a CRO"},
        },
        records=1,
    ),
    Route(
        "POST",
        "/scenarios/compare",
        (401, 404, 200, 200),
        body=lambda s: {
            "base_id": str(s.ids["valuation_scenario"]),
            "alternative_id": str(s.ids["valuation_scenario"]),
            "trials": 1000,
        },
    ),
    Route("GET", "/scenarios/{scenario_id}", (401, 404, 200, 200), SCENARIO),
    Route(
        "PUT",
        "/scenarios/{scenario_id}",
        (401, 404, 403, 200),
        SCENARIO,
        body=lambda s: {"version": 1, "spec": {**ECONOMICS_SPEC, "cogs_share": 0.2}},
        records=1,
    ),
    Route("DELETE", "/scenarios/{scenario_id}", (401, 404, 403, 204), SCENARIO, records=1),
    Route(
        "POST",
        "/scenarios/{scenario_id}/valuations",
        (401, 404, 403, 201),
        SCENARIO,
        body=lambda s: {"trials": 1000, "seed": 7},
        records=1,
    ),
    Route("GET", "/scenarios/{scenario_id}/valuations/latest", (401, 404, 200, 200), SCENARIO),
    Route(
        "POST",
        "/scenarios/{scenario_id}/variants",
        (401, 404, 403, 201),
        SCENARIO,
        body=lambda s: {
            "name": "with a CRO",
            "outsourcing": {"phase_2": {"cost_multiplier": 1.05, "months_saved": 3}},
        },
        records=1,
    ),
    Route(
        "POST",
        "/scenarios/{scenario_id}/tornado",
        (401, 404, 200, 200),
        SCENARIO,
        body=lambda s: {"trials": 1000},
    ),
    Route("GET", "/portfolios", READ_BY_ALL),
    Route(
        "POST",
        "/portfolios",
        (401, 404, 403, 201),
        body=lambda s: {
            "sponsor_id": str(s.ids["sponsor_a"]),
            "spec": {**ECONOMICS_PORTFOLIO, "name": "A's second plan"},
        },
        records=1,
    ),
    Route("GET", "/portfolios/{portfolio_id}", (401, 404, 200, 200), PORTFOLIO),
    Route(
        "PUT",
        "/portfolios/{portfolio_id}",
        (401, 404, 403, 200),
        PORTFOLIO,
        body=lambda s: {"version": 1, "spec": {**ECONOMICS_PORTFOLIO, "budget_by_year_musd": [80]}},
        records=1,
    ),
    Route("DELETE", "/portfolios/{portfolio_id}", (401, 404, 403, 204), PORTFOLIO, records=1),
    Route("POST", "/portfolios/{portfolio_id}/run", (401, 404, 403, 200), PORTFOLIO, records=1),
    # clinical: A's study with P as its CRO (B gets 404); both parties read, A's viewer and P's
    # viewer lack studies:write; the CRO writes sites, enrollment and imports
    Route("GET", "/studies", READ_BY_ALL),
    Route(
        "POST",
        "/studies",
        (401, 404, 403, 201),  # B gets the 404 of an unknown program
        body=lambda s: {
            "program_id": str(s.ids["program"]),
            "code": "NW-101-301",
            "title": "Phase III",
            "phase": "phase_3",
            "target_enrollment": 600,
        },
        records=1,
    ),
    Route("GET", "/studies/{study_id}", (401, 404, 200, 200), STUDY),
    Route(
        "PUT",
        "/studies/{study_id}",
        (401, 404, 403, 200),
        STUDY,
        body=lambda s: {
            "version": 1,
            "code": "NW-101-201",
            "title": "Phase IIb in NSCLC",
            "phase": "phase_2",
            "target_enrollment": 150,
            "status": "enrolling",
            "provider_id": str(s.ids["provider_p"]),
        },
        records=1,
    ),
    Route("GET", "/studies/{study_id}/countries", (401, 404, 200, 200), STUDY),
    Route(
        "POST",
        "/studies/{study_id}/countries",
        (401, 404, 403, 200),
        STUDY,
        body=lambda s: {"country": "DE", "planned_sites": 2, "planned_patients": 20},
        records=1,
    ),
    Route(
        "DELETE",
        "/studies/{study_id}/countries/{country_id}",
        (401, 404, 403, 204),
        {**STUDY, "country_id": "study_country"},
        records=1,
    ),
    Route("GET", "/studies/{study_id}/sites", (401, 404, 200, 200), STUDY, **AS_P),
    Route(
        "POST",
        "/studies/{study_id}/sites",
        (401, 404, 403, 201),
        STUDY,
        body=lambda s: {"code": "US-002", "name": "Houston GI", "country": "US"},
        records=1,
        **AS_P,
    ),
    Route("GET", "/studies/{study_id}/enrollment", (401, 404, 200, 200), STUDY),
    Route("GET", "/studies/{study_id}/disruptions", (401, 404, 200, 200), STUDY),
    Route("GET", "/studies/{study_id}/forecast", (401, 404, 200, 200), STUDY),
    Route("GET", "/studies/{study_id}/report", (401, 404, 200, 200), STUDY),
    Route("GET", "/studies/{study_id}/report.pdf", (401, 404, 200, 200), STUDY),
    Route(
        "POST",
        "/studies/{study_id}/imports",
        (401, 404, 403, 200),
        STUDY,
        form=True,
        upload="file",
        file=("sites.csv", b"code,name,country\nDE-001,Berlin GI,DE\n", "text/csv"),
        records=1,  # the one site it adds
        **AS_P,
    ),
    Route("GET", "/study-sites/{site_id}", (401, 404, 200, 200), STUDY_SITE),
    Route(
        "PUT",
        "/study-sites/{site_id}",
        (401, 404, 403, 200),
        STUDY_SITE,
        body=lambda s: {
            "version": 1,
            "code": "US-001",
            "name": "Boston GI Center",
            "country": "US",
            "investigator": "Dr. Lee",
        },
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/study-sites/{site_id}/status",
        (401, 404, 403, 200),
        STUDY_SITE,
        body=lambda s: {"version": 1, "status": "on_hold", "reason": "PI on leave"},
        records=1,
    ),
    Route("GET", "/study-sites/{site_id}/enrollment", (401, 404, 200, 200), STUDY_SITE, **AS_P),
    Route(
        "POST",
        "/study-sites/{site_id}/enrollment",
        (401, 404, 403, 201),
        STUDY_SITE,
        body=lambda s: {
            "on_date": (date.today() - timedelta(days=1)).isoformat(),
            "screened": 2,
            "enrolled": 1,
        },
        records=1,
        **AS_P,
    ),
    # recovery plans: P's site offers are a directory for sponsors (B reads them; B's writes
    # answer 403); A's plans of its study (B gets 404); only A (the sponsor) decides
    Route("GET", "/site-offers", READ_BY_ALL),
    Route(
        "POST",
        "/site-offers",
        (401, 403, 403, 201),  # B is no provider; P's viewer lacks studies:write
        body=lambda s: SITE_OFFER,
        records=1,
        **AS_P,
    ),
    Route("GET", "/site-offers/{offer_id}", READ_BY_ALL, SITE_OFFER_ID),
    Route(
        "PUT",
        "/site-offers/{offer_id}",
        (401, 403, 403, 200),
        SITE_OFFER_ID,
        body=lambda s: {**SITE_OFFER, "capacity_sites": 2, "version": 1},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/studies/{study_id}/recovery-plans",
        (401, 404, 403, 201),
        STUDY,
        body=lambda s: RECOVERY_REQUEST,
        records=1,
    ),
    Route("GET", "/studies/{study_id}/recovery-plans", (401, 404, 200, 200), STUDY),
    Route("GET", "/recovery-plans/{plan_id}", (401, 404, 200, 200), RECOVERY_PLAN),
    Route(
        "POST",
        "/recovery-plans/{plan_id}/accept",
        (401, 404, 403, 200),
        RECOVERY_PLAN,
        body=lambda s: {"version": s.versions["recovery_plan"]},
        records=2,  # the one site of P's offer (the plan is unreachable: every offer), the plan
    ),
    Route(
        "POST",
        "/recovery-plans/{plan_id}/reject",
        (401, 404, 403, 200),
        RECOVERY_PLAN,
        body=lambda s: {"version": s.versions["recovery_plan"], "reason": "too dear"},
        records=1,
    ),
    # manufacturing: P (the CDMO) owns the plant and its master data; A (the sponsor of the
    # product, order and batch) reads its own; B gets 404; P's viewer lacks the write
    # permission. Each part's routes go under its heading.
    # manufacturing — master data and orders
    Route("GET", "/mfg/plants", READ_BY_ALL, **AS_P),
    Route("GET", "/mfg/plants/{plant_id}", (401, 404, 200, 200), MFG_PLANT, **AS_P),
    Route(
        "POST",
        "/mfg/plants/{plant_id}/units",
        (401, 404, 403, 201),
        MFG_PLANT,
        body=lambda s: MFG_UNIT,
        records=1,
        **AS_P,
    ),
    Route(
        "PATCH",
        "/mfg/units/{unit_id}",
        (401, 404, 403, 200),
        {"unit_id": "mfg_unit"},
        body=lambda s: {"version": 1, "active": False},
        records=1,
        **AS_P,
    ),
    Route(
        "DELETE",
        "/mfg/units/{unit_id}",
        (401, 404, 403, 204),
        {"unit_id": "mfg_spare_unit"},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/units/{unit_id}/maintenance",
        (401, 404, 403, 201),
        {"unit_id": "mfg_unit"},
        body=lambda s: {"starts_at": "2031-01-01T08:00:00Z", "ends_at": "2031-01-02T08:00:00Z"},
        records=1,
        **AS_P,
    ),
    Route(
        "DELETE",
        "/mfg/maintenance/{window_id}",
        (401, 404, 403, 204),
        {"window_id": "mfg_maintenance"},
        records=1,
        **AS_P,
    ),
    ClassRoute(
        "PUT",
        "/mfg/plants/{plant_id}/cleaning-times/{equipment_class}",
        (401, 404, 403, 200),
        MFG_PLANT,
        body=lambda s: {"same_product_hours": "3", "product_change_hours": "10"},
        records=1,
        **AS_P,
    ),
    Route(
        "PUT",
        "/mfg/plants/{plant_id}/changeovers",
        (401, 404, 403, 200),
        MFG_PLANT,
        body=lambda s: {**mfg_changeover(s), "hours": "20"},
        records=1,
        **AS_P,
    ),
    Route(
        "DELETE",
        "/mfg/plants/{plant_id}/changeovers",
        (401, 404, 403, 204),
        MFG_PLANT,
        body=mfg_changeover,
        records=1,
        **AS_P,
    ),
    Route("GET", "/mfg/products", READ_BY_ALL, **AS_P),
    Route(
        "POST",
        "/mfg/products",
        (401, 403, 403, 201),  # B is no provider; P's viewer lacks manufacturing:write
        body=lambda s: {**MFG_TABLET, "sponsor_id": str(s.ids["sponsor_a"])},
        records=1,
        **AS_P,
    ),
    # A (the product's sponsor: its viewer and admin) reads its product and order
    Route("GET", "/mfg/products/{product_id}", (401, 404, 200, 200), MFG_PRODUCT),
    Route(
        "PATCH",
        "/mfg/products/{product_id}",
        (401, 404, 403, 200),
        MFG_PRODUCT,
        body=lambda s: {"version": 1, "name": "Velorasib free base"},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/products/{product_id}/specifications",
        (401, 404, 403, 201),
        MFG_PRODUCT,
        body=lambda s: {"test": "Water", "method": "KF", "upper_limit": "0.5", "result_unit": "%"},
        records=1,
        **AS_P,
    ),
    Route(
        "PATCH",
        "/mfg/specifications/{spec_id}",
        (401, 404, 403, 200),
        {"spec_id": "mfg_spec"},
        body=lambda s: {"version": 1, "lower_limit": "97.5"},
        records=1,
        **AS_P,
    ),
    Route(
        "DELETE",
        "/mfg/specifications/{spec_id}",
        (401, 404, 403, 204),
        {"spec_id": "mfg_intermediate_spec"},  # no QC result refers to it
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/products/{product_id}/recipes",
        (401, 404, 403, 201),
        {"product_id": "mfg_intermediate"},
        body=lambda s: {**MFG_RECIPE, "plant_id": str(s.ids["mfg_plant"])},
        records=1,
        **AS_P,
    ),
    Route("GET", "/mfg/recipes/{recipe_id}", (401, 404, 200, 200), MFG_RECIPE_ID, **AS_P),
    Route(
        "PUT",
        "/mfg/recipes/{recipe_id}",
        (401, 404, 403, 200),
        MFG_RECIPE_ID,
        body=lambda s: {**MFG_RECIPE, "plant_id": str(s.ids["mfg_plant"]), "version": 1},
        records=1,
        **AS_P,
    ),
    Route("GET", "/mfg/orders", READ_BY_ALL, **AS_P),
    Route(
        "POST",
        "/mfg/orders",
        (401, 404, 403, 201),  # B cannot see A's product
        body=mfg_order,
        records=1,
        **AS_P,
    ),
    Route("GET", "/mfg/orders/{order_id}", (401, 404, 200, 200), MFG_ORDER),
    Route(
        "PATCH",
        "/mfg/orders/{order_id}",
        (401, 404, 403, 200),
        MFG_ORDER,
        body=lambda s: {"version": 1, "priority": 9},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/orders/{order_id}/cancel",
        (401, 404, 403, 200),
        {"order_id": "mfg_open_order"},  # no batch in progress
        body=lambda s: {"version": 1, "reason": "demand fell"},
        records=1,
        **AS_P,
    ),
    # manufacturing — schedules
    # P plans A's order and solves its plant (the job runs in-process, after the commit, in
    # tests); schedules are P's alone (B and A's people get 404); A reads its order's slots
    QueryRoute(
        "POST",
        "/mfg/orders/{order_id}/plan",
        (401, 404, 403, 200),
        MFG_ORDER,
        query="version=1",
        records=1,  # the plan (B-0002, not started, is replaced by nothing: the order is made)
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/plants/{plant_id}/schedules",
        (401, 404, 403, 202),
        MFG_PLANT,
        body=lambda s: {"time_limit_s": 1, "workers": 1, "warm_start": True},
        records=3,  # requested; then the job: PO-1 open → scheduled, solve done
        **AS_P,
    ),
    Route("GET", "/mfg/plants/{plant_id}/schedules", (401, 404, 200, 200), MFG_PLANT, **AS_P),
    Route(
        "GET",
        "/mfg/schedules/{schedule_id}",
        (401, 404, 200, 200),
        {"schedule_id": "mfg_schedule"},
        **AS_P,
    ),
    Route(
        "GET",
        "/mfg/schedules/{schedule_id}/operations",
        (401, 404, 200, 200),
        {"schedule_id": "mfg_schedule"},
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/schedules/{schedule_id}/stop",
        (401, 404, 403, 200),
        {"schedule_id": "mfg_schedule_queued"},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/units/{unit_id}/breakdown",
        (401, 404, 403, 202),
        {"unit_id": "mfg_unit"},
        body=lambda s: {
            "until": (utcnow() + timedelta(days=2)).isoformat(),
            "reason": "seal",
            "time_limit_s": 1,
            "workers": 1,
        },
        records=4,  # the window, the request; then the job: PO-1 → scheduled, solve done
        **AS_P,
    ),
    Route("GET", "/mfg/orders/{order_id}/schedule", (401, 404, 200, 200), MFG_ORDER),
    # manufacturing — batch records
    # the batches of A's order at P: A reads them and their certificates; P's viewer reads but
    # neither executes nor disposes; P's QA disposes (with its e-signature)
    Route("GET", "/mfg/batches", READ_BY_ALL),
    Route("GET", "/mfg/batches/{batch_id}", (401, 404, 200, 200), MFG_BATCH),
    Route("GET", "/mfg/batches/{batch_id}/genealogy", (401, 404, 200, 200), MFG_BATCH),
    Route(
        "POST",
        "/mfg/batches/{batch_id}/start",
        (401, 404, 403, 200),
        {"batch_id": "mfg_batch_planned"},
        body=lambda s: {"version": 1},
        records=1,
        **AS_P,
    ),
    Route(
        "PUT",
        "/mfg/batches/{batch_id}/steps/{sequence}",
        (401, 404, 403, 200),
        {"batch_id": "mfg_batch_running", "sequence": "mfg_step_sequence"},
        body=lambda s: {
            "version": 1,
            "unit_id": str(s.ids["mfg_unit"]),
            "started_at": (utcnow() - timedelta(hours=13)).isoformat(),
            "ended_at": (utcnow() - timedelta(hours=1)).isoformat(),
            "actual_yield_fraction": "0.97",
            "performed_by": "J. Park",
        },
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/batches/{batch_id}/complete",
        (401, 404, 403, 200),
        {"batch_id": "mfg_batch_running"},
        body=lambda s: {"version": 1, "actual_quantity": "43.5"},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/batches/{batch_id}/materials",
        (401, 404, 403, 201),
        {"batch_id": "mfg_batch_running"},
        body=lambda s: {"supplier_lot": "TOL-2", "material_name": "Toluene", "quantity": "50"},
        records=1,
        **AS_P,
    ),
    Route(
        "DELETE",
        "/mfg/materials/{consumption_id}",
        (401, 404, 403, 200),
        {"consumption_id": "mfg_material"},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/batches/{batch_id}/deviations",
        (401, 404, 403, 201),
        MFG_BATCH,
        body=lambda s: {"description": "Label torn", "severity": "minor"},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/deviations/{deviation_id}/close",
        (401, 404, 403, 200),
        {"deviation_id": "mfg_deviation"},
        body=lambda s: {"version": 1, "resolution": "Stirrer restarted; no impact"},
        records=1,
        **AS_P,
    ),
    Route(
        "PUT",
        "/mfg/batches/{batch_id}/qc/{specification_id}",
        (401, 404, 403, 200),
        {"batch_id": "mfg_batch", "specification_id": "mfg_spec"},
        body=lambda s: {"value": "99.1", "tested_on": date.today().isoformat(), "analyst": "Lab"},
        records=1,
        **AS_P,
    ),
    Route(
        "POST",
        "/mfg/batches/{batch_id}/release",
        (401, 404, 403, 200),
        {"batch_id": "mfg_batch_ready"},
        body=lambda s: {"version": 1, "password": PASSWORD},
        records=2,  # the signature, the release
        without="p_viewer",
        with_="p_qa",
    ),
    Route(
        "POST",
        "/mfg/batches/{batch_id}/reject",
        (401, 404, 403, 200),
        MFG_BATCH,
        body=lambda s: {"version": 1, "password": PASSWORD, "reason": "open deviation"},
        records=2,  # the signature, the rejection
        without="p_viewer",
        with_="p_qa",
    ),
    Route("GET", "/mfg/batches/{batch_id}/coa", (401, 404, 200, 200), MFG_RELEASED),
    Route("GET", "/mfg/batches/{batch_id}/coa.pdf", (401, 404, 200, 200), MFG_RELEASED),
    Route(
        "GET",
        "/mfg/batches/{batch_id}/milestones",
        (401, 404, 200, 200),
        MFG_RELEASED,
        needs=("wo_active", "milestone"),
    ),
    Route(
        "POST",
        "/mfg/batches/{batch_id}/deliver",
        (401, 404, 403, 200),
        MFG_RELEASED,
        body=lambda s: {"milestone_id": str(s.ids["milestone"])},
        records=1,  # the milestone's submission (it names the stored certificate)
        needs=("wo_active", "milestone"),
        **AS_P,
    ),
    # process chemistry: route files the caller keeps are computed for anyone signed in; P's
    # library and stored routes are P's (B gets 404), P's viewer lacks chemistry:write
    Route("GET", "/chem/route-schema", READ_BY_ALL),
    Route(
        "POST",
        "/chem/atom-economy",
        READ_BY_ALL,
        body=lambda s: {"reaction_smiles": "OC(=O)c1ccccc1.CO>>COC(=O)c1ccccc1.O"},
    ),
    Route("POST", "/chem/evaluate", READ_BY_ALL, body=lambda s: CHEM_ROUTE),
    Route("POST", "/chem/sensitivity", READ_BY_ALL, body=lambda s: CHEM_ROUTE),
    QueryRoute("GET", "/chem/depict", READ_BY_ALL, query="smiles=CCO"),
    Route("GET", "/chem/materials", READ_BY_ALL, **AS_P),
    Route(
        "POST",
        "/chem/materials",
        (401, 404, 403, 201),  # B cannot add to P's library
        body=lambda s: {
            "organization_id": str(s.ids["provider_p"]),
            "name": "Ethanol",
            "smiles": "CCO",
            "price_per_kg": "0.80",
            "density_kg_per_l": "0.789",
        },
        records=1,
        **AS_P,
    ),
    Route("GET", "/chem/materials/{material_id}", (401, 404, 200, 200), CHEM_MATERIAL, **AS_P),
    Route(
        "PATCH",
        "/chem/materials/{material_id}",
        (401, 404, 403, 200),
        CHEM_MATERIAL,
        body=lambda s: {"version": 1, "price_per_kg": "2.10"},
        records=2,  # the material, and the route that uses it evaluated again
        **AS_P,
    ),
    Route(
        "DELETE",
        "/chem/materials/{material_id}",
        (401, 404, 403, 204),
        {"material_id": "chem_spare"},
        records=1,
        **AS_P,
    ),
    Route("GET", "/chem/routes", READ_BY_ALL, **AS_P),
    Route(
        "POST",
        "/chem/routes",
        (401, 404, 403, 201),  # B cannot store routes in P's library
        body=lambda s: {
            **chem_route_body(s, name="Methyl benzoate, route B"),
            "organization_id": str(s.ids["provider_p"]),
        },
        records=1,  # its materials are in the library already
        **AS_P,
    ),
    Route(
        "POST",
        "/chem/routes/compare",
        (401, 404, 200, 200),
        body=lambda s: {"route_ids": [str(s.ids["chem_route"])] * 2},
        **AS_P,
    ),
    Route("GET", "/chem/routes/{route_id}", (401, 404, 200, 200), CHEM_ROUTE_ID, **AS_P),
    Route(
        "PUT",
        "/chem/routes/{route_id}",
        (401, 404, 403, 200),
        CHEM_ROUTE_ID,
        body=lambda s: {**chem_route_body(s, name="Methyl benzoate, route A2"), "version": 1},
        records=1,
        **AS_P,
    ),
    Route(
        "DELETE", "/chem/routes/{route_id}", (401, 404, 403, 204), CHEM_ROUTE_ID, records=1, **AS_P
    ),
    Route("GET", "/chem/routes/{route_id}/export", (401, 404, 200, 200), CHEM_ROUTE_ID, **AS_P),
    Route("GET", "/chem/routes/{route_id}/evaluation", (401, 404, 200, 200), CHEM_ROUTE_ID, **AS_P),
    Route(
        "GET", "/chem/routes/{route_id}/sensitivity", (401, 404, 200, 200), CHEM_ROUTE_ID, **AS_P
    ),
    Route(
        "POST",
        "/chem/routes/{route_id}/choose",
        (401, 404, 403, 200),
        CHEM_ROUTE_ID,
        body=lambda s: {"plant_id": str(s.ids["mfg_plant"]), "version": 1},
        records=2,  # the API plant's recipe of the product replaced, the route chosen
        **AS_P,
    ),
)

WRITES = {"POST", "PATCH", "PUT", "DELETE"}
# POSTs that compute an answer and store nothing (a body too rich for a query string): reads.
COMPUTATIONS = {
    "POST /economics/rnpv",
    "POST /scenarios/compare",
    "POST /scenarios/{scenario_id}/tornado",
    "POST /chem/atom-economy",
    "POST /chem/evaluate",
    "POST /chem/sensitivity",
    "POST /chem/routes/compare",
}
# Writes another organisation may make without a 403/404, and why.
OTHER_ORGANISATION_WRITES = {
    "POST /tokens": "tokens are scoped to their owner",
    "POST /rfps": "another sponsor's program answers 422 exactly like an unknown program",
}


# --- what "nothing changed" means -----------------------------------------------------------------

IGNORED_COLUMNS = {("api_tokens", "last_used_at"), ("api_tokens", "updated_at")}


def snapshot(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table (as text, sorted), from a fresh connection."""
    picture: dict[str, list[tuple[str, ...]]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in IGNORED_COLUMNS]
            rows = connection.execute(select(*columns)).all()
            picture[table.name] = sorted(tuple(repr(v) for v in row) for row in rows)
    return picture


def row_counts(picture: dict[str, list[tuple[str, ...]]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in picture.items()}


def audit_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def assert_unchanged(engine: Engine, before: dict[str, list[tuple[str, ...]]], audit: int) -> None:
    assert_same(before, snapshot(engine), audit, audit_count(engine))


def assert_same(
    before: dict[str, list[tuple[str, ...]]],
    after: dict[str, list[tuple[str, ...]]],
    audit_before: int,
    audit_after: int,
    who: str = "",
) -> None:
    assert row_counts(after) == row_counts(before), who
    assert audit_after == audit_before, who
    changed = [name for name in before if before[name] != after[name]]
    assert changed == [], f"{who}: tables changed: {changed}"


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"] == "about:blank"
    titles = {401: "Not authenticated", 403: "Not permitted", 404: "Not found", 409: "Conflict"}
    if status in titles:
        assert problem["title"] == titles[status]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    return dict(problem)


def call(
    client: TestClient,
    route: Route,
    scenario: Scenario,
    actor: str | None,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    headers = bearer(scenario.tokens[actor]) if actor else {}
    headers.update(extra_headers or {})
    body = route.body(scenario) if route.body else None
    if route.form:
        response: Response = client.request(
            route.method,
            route.url(scenario),
            data=body,
            files=[(route.upload, route.file)],
            headers=headers,
        )
    else:
        response = client.request(route.method, route.url(scenario), json=body, headers=headers)
    return response


# --- the four-actor walk --------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.key)
def test_route_answers_each_actor_and_denials_change_nothing(
    route: Route, client: TestClient, scenario: Scenario, engine: Engine
) -> None:
    """The four actors in turn on one scenario (building it is most of the cost): a refusal or
    a read leaves every table as it was, so the next actor finds the same world; a permitted
    write appends its audit events and is the new starting point. The actor with the
    permission goes last."""
    before = snapshot(engine)
    audit_before = audit_count(engine)
    for role in ACTORS:
        response = call(client, route, scenario, route.actor(role))

        expected = route.expected(role)
        assert response.status_code == expected, f"{role}: {response.text}"
        after = snapshot(engine)
        audit_after = audit_count(engine)
        if expected >= 400:
            assert_problem(response, expected)
            assert_same(before, after, audit_before, audit_after, role)
        elif route.method not in WRITES or route.key in COMPUTATIONS:
            assert_same(before, after, audit_before, audit_after, role)
        else:
            assert audit_after == audit_before + route.records, role
            assert after != before, role
        before, audit_before = after, audit_after


def served_api_routes(app: FastAPI) -> set[str]:
    """Every JSON API route as "METHOD /path", from the router and from the OpenAPI document.

    FastAPI no longer flattens included routers into ``app.routes``; ``iter_route_contexts``
    yields their effective (prefixed) routes. Routes hidden from the schema are still found.
    """
    served: set[str] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if not path.startswith(API + "/"):
            continue
        if not isinstance(context.original_route, APIRoute):
            assert path in DOCUMENTATION, path  # only the schema and its viewer are not API routes
            continue
        served |= {f"{method} {path.removeprefix(API)}" for method in context.methods or ()}
    for path, operations in app.openapi()["paths"].items():
        served |= {f"{method.upper()} {path.removeprefix(API)}" for method in operations}
    return served


def test_every_api_route_is_in_the_access_table(client: TestClient) -> None:
    """A new route must be added to ROUTES (and so get its four-actor test)."""
    served = served_api_routes(client.app)  # type: ignore[arg-type]
    table = [r.key for r in ROUTES]
    assert len(table) == len(set(table)), "a route is listed twice"
    assert sorted(served - set(table)) == [], "routes missing from ROUTES"
    assert sorted(set(table) - served) == [], "ROUTES lists routes the app does not serve"
    assert len(served) == len(ROUTES) >= 28


def test_the_table_covers_each_route_with_a_denial_and_a_success() -> None:
    for route in ROUTES:
        assert route.statuses[0] == 401, route.key
        assert 200 <= route.statuses[3] < 300, route.key
        if route.method in WRITES and route.key not in COMPUTATIONS:
            assert route.records > 0, route.key
            # a write is refused to another organisation (but for the listed exceptions)
            assert route.statuses[1] in (403, 404) or route.key in OTHER_ORGANISATION_WRITES, (
                route.key
            )


# --- another organisation's private objects ------------------------------------------------------


@pytest.mark.parametrize("intruder", ["b_admin", "p_admin"])
def test_another_organisations_qualification_answers_404(
    intruder: str, client: TestClient, scenario: Scenario, engine: Engine
) -> None:
    """B's admin, and even the qualified provider's admin, cannot see A's qualification of P —
    and its 404 is the same as for an id that does not exist (no existence oracle)."""
    headers = bearer(scenario.tokens[intruder])
    real = f"{API}/qualifications/{scenario.ids['qualification']}"
    unknown = f"{API}/qualifications/{uuid.uuid4()}"
    before, audit_before = snapshot(engine), audit_count(engine)
    for suffix, method, body in [
        ("", "GET", None),
        ("", "PATCH", {"version": 1, "status": "disqualified", "notes": "hostile"}),
        ("/history", "GET", None),
    ]:
        answers = [
            client.request(method, url + suffix, json=body, headers=headers)
            for url in (real, unknown)
        ]
        problems = [assert_problem(answer, 404) for answer in answers]
        assert problems[0] == problems[1]
        assert problems[0]["detail"] == "no such qualification"
    assert_unchanged(engine, before, audit_before)


SPONSOR_SIDE = [
    ("GET", "/rfps/{rfp_draft}", None),
    ("GET", "/rfps/{rfp_draft}/questions", None),
    ("POST", "/rfps/{rfp_draft}/publish", {"version": 1}),
    ("GET", "/rfps/{rfp_open}/suggestions", None),
    ("POST", "/rfps/{rfp_open}/invitations", {"provider_id": "{provider_q}"}),
    ("GET", "/rfps/{rfp_closed}/bids", None),
    ("GET", "/rfps/{rfp_closed}/comparison", None),
    ("GET", "/rfps/{rfp_closed}/awards", None),
    ("PUT", "/rfps/{rfp_closed}/exchange-rates", {"version": 3, "rates": {"EUR": "1.08"}}),
]


@pytest.mark.parametrize("intruder", ["b_admin", "p_admin"])
def test_the_sponsors_side_of_sourcing_answers_404_like_an_unknown_rfp(
    intruder: str, client: TestClient, scenario: Scenario, engine: Engine
) -> None:
    """B sees nothing of A's RFPs; P, though invited, sees neither the draft nor A's side of the
    published ones (suggestions, invitations, bids, comparison, awards, rates) — and each 404 is
    the one an unknown RFP gets (no existence oracle)."""
    headers = bearer(scenario.tokens[intruder])
    before, audit_before = snapshot(engine), audit_count(engine)
    ids = {name: str(value) for name, value in scenario.ids.items()}
    for method, path, body in SPONSOR_SIDE:
        json = {k: v.format(**ids) if isinstance(v, str) else v for k, v in (body or {}).items()}
        real = client.request(method, API + path.format(**ids), json=body and json, headers=headers)
        unknown = {name: str(uuid.uuid4()) for name in ids}
        fake = client.request(
            method, API + path.format(**unknown), json=body and json, headers=headers
        )
        problems = [assert_problem(answer, 404) for answer in (real, fake)]
        assert (
            problems[0]
            == problems[1]
            == {
                "type": "about:blank",
                "title": "Not found",
                "status": 404,
                "detail": "no such RFP",
            }
        ), (method, path)
    assert_unchanged(engine, before, audit_before)


def test_another_sponsors_program_is_refused_like_an_unknown_one(
    client: TestClient, scenario: Scenario, engine: Engine
) -> None:
    headers = bearer(scenario.tokens["b_admin"])
    before, audit_before = snapshot(engine), audit_count(engine)
    answers = [
        client.post(f"{API}/rfps", json={**rfp_body(scenario, title="Hijack"),
                                         "program_id": str(program)}, headers=headers)
        for program in (scenario.ids["program"], uuid.uuid4())
    ]  # fmt: skip
    problems = [assert_problem(answer, 422) for answer in answers]
    assert problems[0] == problems[1]
    assert problems[0]["errors"] == [
        {"field": "program_id", "message": "choose one of your programs"}
    ]
    assert (
        client.get(f"{API}/programs/{scenario.ids['program']}", headers=headers).status_code == 404
    )
    assert_unchanged(engine, before, audit_before)


def test_listing_qualifications_never_shows_another_sponsors(
    client: TestClient, scenario: Scenario
) -> None:
    ids = scenario.ids
    created = client.post(
        f"{API}/qualifications",
        json={
            "provider_id": str(ids["provider_p"]),
            "status": "conditional",
            "audit_findings": "B's own audit",
        },
        headers=bearer(scenario.tokens["b_admin"]),
    )
    assert created.status_code == 201, created.text
    b_qualification = created.json()["id"]
    assert created.json()["sponsor_id"] == str(ids["sponsor_b"])

    def listed(actor: str, query: str = "") -> tuple[int, list[tuple[str, str]]]:
        response = client.get(
            f"{API}/qualifications{query}", headers=bearer(scenario.tokens[actor])
        )
        assert response.status_code == 200, response.text
        page = response.json()
        return page["total"], [(q["id"], q["sponsor_id"]) for q in page["items"]]

    b_only = (1, [(b_qualification, str(ids["sponsor_b"]))])
    a_only = (1, [(str(ids["qualification"]), str(ids["sponsor_a"]))])
    assert listed("b_admin") == b_only
    assert listed("b_admin", f"?provider_id={ids['provider_p']}") == b_only
    assert listed("b_admin", "?status=approved") == (0, [])  # A's approved one stays hidden
    assert listed("a_viewer") == a_only
    assert listed("a_qa", "?status=approved") == a_only
    assert listed("p_admin") == (0, [])  # the provider never sees how sponsors rate it


def test_audit_log_of_another_organisation_shows_only_its_own_events(
    client: TestClient, scenario: Scenario, engine: Engine
) -> None:
    response = client.get(
        f"{API}/audit-events?page_size=100", headers=bearer(scenario.tokens["b_admin"])
    )
    assert response.status_code == 200, response.text
    page = response.json()
    with engine.connect() as connection:
        b_events = connection.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.organization_id == scenario.ids["sponsor_b"])
        ).scalar_one()
    assert page["total"] == b_events == 2  # B's creation and its admin's membership
    assert {e["organization_id"] for e in page["items"]} == {str(scenario.ids["sponsor_b"])}


# --- the parties of a work order ----------------------------------------------------------------

# Writes only one party of a work order makes, and the other party's admin, who reads the work
# order and holds every permission, but gets 403 for them.
OTHER_PARTY = {
    "POST /work-orders/{work_order_id}/send-for-signature": "p_admin",
    "POST /work-orders/{work_order_id}/complete": "p_admin",
    "POST /milestones/{milestone_id}/decision": "p_admin",
    "POST /invoices/{invoice_id}/payments": "p_admin",
    "POST /change-orders/{change_order_id}/withdraw": "p_admin",  # only its proposer (A)
    "POST /milestones/{milestone_id}/submit": "a_admin",
    "POST /invoices/{invoice_id}/issue": "a_admin",
}


def _routes(keys: Any) -> list[Route]:
    return [r for r in ROUTES if r.key in keys]


@pytest.mark.parametrize("route", _routes(OTHER_PARTY), ids=lambda r: r.key)
def test_the_other_party_is_refused(
    route: Route, client: TestClient, scenario: Scenario, engine: Engine
) -> None:
    before, audit_before = snapshot(engine), audit_count(engine)
    assert_problem(call(client, route, scenario, OTHER_PARTY[route.key]), 403)
    assert_unchanged(engine, before, audit_before)


# Another organisation's 404 for a work order, and for what hangs under it, against an unknown id.
NOT_A_PARTY = {
    "POST /work-orders": "no such award",
    "GET /work-orders/{work_order_id}": "no such work order",
    "POST /work-orders/{work_order_id}/sign": "no such work order",
    "GET /work-orders/{work_order_id}/change-orders": "no such work order",
    "POST /milestones/{milestone_id}/decision": "no such milestone",
    "GET /deliverables/{deliverable_id}/download": "no such deliverable",
    "GET /invoices/{invoice_id}": "no such invoice",
    "POST /change-orders/{change_order_id}/withdraw": "no such change order",
    "GET /chem/routes/{route_id}": "no such route",
    "POST /chem/routes/{route_id}/choose": "no such route",
    "PATCH /chem/materials/{material_id}": "no such material",
}


@pytest.mark.parametrize(
    "route",
    [pytest.param(r) for r in _routes(NOT_A_PARTY)],
    ids=lambda r: r.key,
)
def test_another_organisation_gets_the_404_of_an_unknown_id(
    route: Route, client: TestClient, scenario: Scenario, engine: Engine
) -> None:
    """B learns nothing of A's and P's work order: each 404 is the one an unknown id gets."""
    before, audit_before = snapshot(engine), audit_count(engine)
    real = call(client, route, scenario, OTHER_ORGANISATION)
    named = {*route.params.values(), *route.needs}  # the object the call names, by path or body
    unknown_ids = {**scenario.ids, **{source: uuid.uuid4() for source in named}}
    unknown = Scenario(ids=unknown_ids, tokens=scenario.tokens, versions=scenario.versions)
    fake = call(client, route, unknown, OTHER_ORGANISATION)
    assert_unchanged(engine, before, audit_before)
    problems = [assert_problem(answer, 404) for answer in (real, fake)]
    assert problems[1]["detail"] == NOT_A_PARTY[route.key]
    assert problems[0] == problems[1]


# --- credentials --------------------------------------------------------------------------------


def test_a_revoked_token_answers_401(client: TestClient, scenario: Scenario) -> None:
    spare = bearer(scenario.tokens["a_admin_spare"])
    owner = bearer(scenario.tokens["a_admin"])
    spare_id = str(scenario.ids["spare_token"])
    assert client.get(f"{API}/me", headers=spare).json()["email"] == scenario.emails["a_admin"]

    revoked = client.delete(f"{API}/tokens/{spare_id}", headers=owner)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["id"] == spare_id
    assert revoked.json()["revoked_at"] is not None

    refused = client.get(f"{API}/me", headers=spare)
    assert assert_problem(refused, 401)["detail"] == "the API token is unknown or revoked"
    # the owner's other token still works and lists the revocation
    listed = {t["id"]: t["revoked_at"] for t in client.get(f"{API}/tokens", headers=owner).json()}
    assert listed[spare_id] == revoked.json()["revoked_at"]
    again = client.delete(f"{API}/tokens/{spare_id}", headers=owner)
    assert assert_problem(again, 409)["detail"] == "this token is already revoked"


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"Authorization": "Bearer ocx_not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "unknown", "basic", "empty"],
)
def test_missing_or_unknown_credentials_answer_401(
    header: dict[str, str], client: TestClient, scenario: Scenario
) -> None:
    assert_problem(client.get(f"{API}/me", headers=header), 401)


# --- idempotent POSTs and optimistic locking -----------------------------------------------------


def _qualifications_of(engine: Engine, sponsor: uuid.UUID, provider: uuid.UUID) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count())
                .select_from(Qualification)
                .where(Qualification.sponsor_id == sponsor, Qualification.provider_id == provider)
            ).scalar_one()
        )


def test_a_retried_post_with_the_same_idempotency_key_creates_one_row(
    client: TestClient, scenario: Scenario, engine: Engine
) -> None:
    route = next(r for r in ROUTES if r.key == "POST /qualifications")
    key = {"Idempotency-Key": "qualify-q-2026-001"}
    audit_before = audit_count(engine)

    first = call(client, route, scenario, "a_qa", key)
    second = call(client, route, scenario, "a_qa", key)

    assert first.status_code == second.status_code == 201, first.text
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _qualifications_of(engine, scenario.ids["sponsor_a"], scenario.ids["provider_q"]) == 1
    assert audit_count(engine) == audit_before + 1

    # the same key with another body is refused and changes nothing
    before, audit_now = snapshot(engine), audit_count(engine)
    reused = client.post(
        f"{API}/qualifications",
        json={**route.body(scenario), "status": "disqualified"},  # type: ignore[misc]
        headers={**bearer(scenario.tokens["a_qa"]), **key},
    )
    assert reused.status_code == 422
    assert reused.headers["content-type"] == PROBLEM
    assert reused.json()["title"] == "Idempotency-Key reused"
    assert_unchanged(engine, before, audit_now)


def test_idempotency_keys_are_scoped_to_the_caller(client: TestClient, scenario: Scenario) -> None:
    key = {"Idempotency-Key": "shared-key"}
    answers = [
        client.post(
            f"{API}/tokens", json={"name": "laptop"}, headers={**bearer(scenario.tokens[a]), **key}
        )
        for a in ("a_admin", "b_admin")
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["token"] != answers[1].json()["token"]
    assert ["idempotent-replayed" in a.headers for a in answers] == [False, False]


@pytest.mark.parametrize(
    ("actor", "path", "change"),
    [
        ("a_qa", "/qualifications/{qualification}", {"status": "approved",
                                                      "expires_on": "2031-06-30"}),
        ("a_admin", "/organizations/{sponsor_a}", {"city": "Boston"}),
        ("a_admin", "/memberships/{qa_membership}", {"role": "member"}),
    ],
    ids=["qualification", "organization", "membership"],
)  # fmt: skip
def test_a_patch_with_a_stale_version_answers_409_and_changes_nothing(
    actor: str,
    path: str,
    change: dict[str, Any],
    client: TestClient,
    scenario: Scenario,
    engine: Engine,
) -> None:
    url = API + path.format(**scenario.ids)
    headers = bearer(scenario.tokens[actor])
    fresh = client.patch(url, json={**change, "version": 1}, headers=headers)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["version"] == 2

    before, audit_before = snapshot(engine), audit_count(engine)
    stale = client.patch(url, json={**change, "version": 1}, headers=headers)
    problem = assert_problem(stale, 409)
    assert "(version 2, you sent 1)" in problem["detail"]
    assert_unchanged(engine, before, audit_before)
