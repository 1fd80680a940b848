"""Load the demo world from ``world.yaml`` and ``sourcing.yaml`` through the ordinary service
functions.

Every record goes through the same use cases the web and API call, so the demo world has a
complete audit trail. Loading is idempotent: organisations are looked up by name, users by
e-mail and qualifications by (sponsor, provider), and whatever already exists is skipped; an
organisation's sites, capabilities, certificates and inspections are created only together with
the organisation itself. The sourcing part (programs, MSAs, RFPs with their bids and awards, work
orders with their milestones, invoices and change orders) is read back through the services and
moved forward step by step to the state ``sourcing.yaml`` describes, so a second load finds
everything in place and does nothing. The loader flushes but never commits: the caller owns the
transaction.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import numpy as np
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import opencxo.models  # noqa: F401 - every mapper must be configured before the first query
from opencxo.clinical import recovery
from opencxo.clinical import service as clinical
from opencxo.clinical.recovery_schemas import RecoveryRequest, SiteOfferCreate
from opencxo.clinical.schemas import EnrollmentRow, StudyCountryInput, StudyCreate
from opencxo.clinical.schemas import SiteCreate as StudySiteCreate
from opencxo.contracts import service as contracts
from opencxo.contracts.models import (
    ChangeOrderStatus,
    Invoice,
    InvoiceStatus,
    Milestone,
    MilestoneStatus,
    Payment,
    WorkOrder,
    WorkOrderStatus,
)
from opencxo.contracts.schemas import (
    ChangeOrderCreate,
    InvoiceIssue,
    MilestoneChange,
    MilestoneDecision,
    MilestoneRead,
    MsaCreate,
    PaymentCreate,
    SignIn,
    WorkOrderFromAward,
    WorkOrderRead,
)
from opencxo.contracts.schemas import Transition as ContractTransition
from opencxo.core.auth import repository as auth_repository
from opencxo.core.auth.models import User
from opencxo.core.auth.principal import Principal
from opencxo.core.auth.service import add_member, create_user, principal_for
from opencxo.core.errors import NotFound
from opencxo.core.notifications import Notification, NotificationRead
from opencxo.core.pagination import MAX_PAGE_SIZE, PageParams, every_page
from opencxo.core.signatures import Signature, signatures_of
from opencxo.core.types import utc_today
from opencxo.demo.manufacturing import load_manufacturing
from opencxo.demo.process_chemistry import load_process_chemistry
from opencxo.economics import service as economics
from opencxo.economics import stored as economics_store
from opencxo.economics.records import PortfolioCreate, RunRequest, ScenarioCreate
from opencxo.economics.schemas import PortfolioInput, ScenarioInput
from opencxo.parties import repository as parties_repository
from opencxo.parties import service as parties
from opencxo.parties.schemas import (
    CapabilityCreate,
    CertificationCreate,
    DisruptionCreate,
    InspectionCreate,
    OrganizationCreate,
    QualificationCreate,
    SiteCreate,
)
from opencxo.sourcing import service as sourcing
from opencxo.sourcing.models import Award, Bid, BidStatus, Question, Rfp, RfpStatus
from opencxo.sourcing.schemas import (
    AnswerCreate,
    AwardCreate,
    AwardRead,
    BidInput,
    BidRead,
    ExchangeRates,
    InvitationCreate,
    ProgramCreate,
    QuestionCreate,
    RfpCreate,
    RfpRead,
)
from opencxo.sourcing.schemas import Transition as RfpTransition

Raw = dict[str, Any]
Login = tuple[str, str, str, str]

ORGANIZATION_KEYS = frozenset(
    {"name", "kind", "sponsor_kind", "service_lines", "country", "city", "regions_served",
     "description", "website", "members", "sites", "capabilities", "certifications", "inspections"}
)  # fmt: skip
MEMBER_KEYS = frozenset({"email", "full_name", "role", "login"})
SITE_KEYS = frozenset({"name", "site_type", "country", "city"})
CAPABILITY_KEYS = frozenset(
    {"service_code", "sites", "standards", "capacity_notes", "lead_time_weeks"}
)
CERTIFICATION_KEYS = frozenset(
    {"standard", "issuer", "reference", "site", "valid_from", "valid_until_in_days"}
)
INSPECTION_KEYS = frozenset({"authority", "inspected_on", "outcome", "site", "summary"})
QUALIFICATION_KEYS = frozenset(
    {"sponsor", "provider", "recorded_by", "status", "cda_signed_on", "msa_signed_on",
     "quality_agreement_signed_on", "last_audit_on", "last_audit_outcome", "audit_findings",
     "expires_in_days", "notes"}
)  # fmt: skip


@dataclass(frozen=True)
class DemoLoadReport:
    """What one load created (all zero on a second run) and the documented demo logins.

    ``transitions`` counts the steps that create no record of their own kind: invitations,
    publications, closings, exchange rates, bid submissions, answers, milestone decisions and
    signatures of work orders and change orders.
    """

    organizations: int = 0
    users: int = 0
    sites: int = 0
    capabilities: int = 0
    certifications: int = 0
    inspections: int = 0
    qualifications: int = 0
    disruptions: int = 0
    memberships: int = 0
    programs: int = 0
    msas: int = 0
    rfps: int = 0
    questions: int = 0
    bids: int = 0
    awards: int = 0
    work_orders: int = 0
    deliverables: int = 0
    invoices: int = 0
    payments: int = 0
    change_orders: int = 0
    valuation_scenarios: int = 0
    valuations: int = 0
    portfolios: int = 0
    studies: int = 0
    study_sites: int = 0
    enrollment_records: int = 0
    site_offers: int = 0
    recovery_plans: int = 0
    equipment_units: int = 0
    products: int = 0
    recipes: int = 0
    production_orders: int = 0
    batches: int = 0  # executed and dispositioned (planned batches are not counted)
    schedules: int = 0
    routes: int = 0  # process-chemistry routes
    transitions: int = 0
    logins: list[Login] = field(default_factory=list)

    @property
    def created_anything(self) -> bool:
        return any(value for name, value in self.__dict__.items() if name != "logins")


def _read_yaml(name: str) -> Raw:
    text = resources.files("opencxo.demo").joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{name} must hold a mapping")
    return data


def read_world() -> Raw:
    """The demo world's parties as plain data, straight from ``world.yaml``."""
    return _read_yaml("world.yaml")


def read_economics() -> Raw:
    """The demo valuation scenarios and portfolios, from ``economics.yaml``."""
    return _read_yaml("economics.yaml")


def read_clinical() -> Raw:
    return _read_yaml("clinical.yaml")


def read_manufacturing() -> Raw:
    return _read_yaml("manufacturing.yaml")


def read_sourcing() -> Raw:
    """The demo world's programs, RFPs and contracts as plain data, from ``sourcing.yaml``."""
    return _read_yaml("sourcing.yaml")


def _checked(raw: Raw, allowed: frozenset[str], what: str) -> Raw:
    """``raw`` itself, after refusing keys the loader would silently ignore (typos)."""
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"demo data: unknown key(s) {sorted(unknown)} in {what}")
    return raw


def _in_days(days: int | None, today: date) -> date | None:
    return None if days is None else today + timedelta(days=int(days))


def _site_id(site_ids: dict[str, uuid.UUID], name: str, owner: str) -> uuid.UUID:
    if name not in site_ids:
        raise ValueError(f"world.yaml: {owner} has no site named {name!r}")
    return site_ids[name]


def _optional_site_id(
    site_ids: dict[str, uuid.UUID], name: str | None, owner: str
) -> uuid.UUID | None:
    return None if name is None else _site_id(site_ids, name, owner)


# --- users and memberships --------------------------------------------------------------------


def _operator(session: Session, spec: Raw, password: str, counts: Counter[str]) -> Principal:
    user = auth_repository.user_by_email(session, spec["email"])
    if user is None:
        user = create_user(
            session,
            actor=None,
            email=spec["email"],
            full_name=spec["full_name"],
            password=password,
            is_operator=True,
        )
        counts["users"] += 1
    elif not user.is_operator:
        raise ValueError(f"{user.email} exists but is not a platform operator")
    return principal_for(session, user)


def _members(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    members: list[Raw],
    password: str,
    counts: Counter[str],
) -> None:
    for raw in members:
        spec = _checked(raw, MEMBER_KEYS, f"member {raw.get('email')}")
        user = auth_repository.user_by_email(session, spec["email"])
        if user is not None and auth_repository.membership_of(session, user.id, organization_id):
            continue
        add_member(
            session,
            operator,
            organization_id,
            email=spec["email"],
            full_name=spec["full_name"],
            role=spec["role"],
            password=password,
        )
        counts["memberships"] += 1
        if user is None:
            counts["users"] += 1


# --- organisations and their provider profiles ------------------------------------------------


def _organization(
    session: Session, operator: Principal, spec: Raw, counts: Counter[str]
) -> tuple[uuid.UUID, bool]:
    """The organisation's id, and whether this run created it."""
    existing = parties_repository.organization_by_name(session, spec["name"])
    if existing is not None:
        return existing.id, False
    fields = {k: v for k, v in spec.items() if k in OrganizationCreate.model_fields}
    created = parties.create_organization(
        session, operator, OrganizationCreate.model_validate(fields)
    )
    counts["organizations"] += 1
    return created.id, True


def _sites(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    sites: list[Raw],
    counts: Counter[str],
) -> dict[str, uuid.UUID]:
    site_ids: dict[str, uuid.UUID] = {}
    for raw in sites:
        spec = SiteCreate.model_validate(_checked(raw, SITE_KEYS, f"site {raw.get('name')}"))
        site_ids[spec.name] = parties.add_site(session, operator, organization_id, spec).id
        counts["sites"] += 1
    # add_site does not append to a loaded ``Organization.sites`` collection, so a later check in
    # this session could miss the new sites if the organisation is still in the identity map.
    session.expire_all()
    return site_ids


def _capabilities(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    capabilities: list[Raw],
    site_ids: dict[str, uuid.UUID],
    owner: str,
    counts: Counter[str],
) -> None:
    for raw in capabilities:
        spec = _checked(raw, CAPABILITY_KEYS, f"capability {raw.get('service_code')} of {owner}")
        data = CapabilityCreate(
            service_code=spec["service_code"],
            site_ids=[_site_id(site_ids, name, owner) for name in spec.get("sites", [])],
            standards=spec.get("standards", []),
            capacity_notes=spec.get("capacity_notes", ""),
            lead_time_weeks=spec.get("lead_time_weeks"),
        )
        parties.add_capability(session, operator, organization_id, data)
        counts["capabilities"] += 1


def _certifications(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    certifications: list[Raw],
    site_ids: dict[str, uuid.UUID],
    owner: str,
    today: date,
    counts: Counter[str],
) -> None:
    for raw in certifications:
        spec = _checked(raw, CERTIFICATION_KEYS, f"certification {raw.get('reference')} of {owner}")
        data = CertificationCreate(
            standard=spec["standard"],
            issuer=spec["issuer"],
            reference=spec.get("reference", ""),
            site_id=_optional_site_id(site_ids, spec.get("site"), owner),
            valid_from=spec.get("valid_from"),
            valid_until=_in_days(spec.get("valid_until_in_days"), today),
        )
        parties.add_certification(session, operator, organization_id, data)
        counts["certifications"] += 1


def _inspections(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    inspections: list[Raw],
    site_ids: dict[str, uuid.UUID],
    owner: str,
    counts: Counter[str],
) -> None:
    for raw in inspections:
        spec = _checked(raw, INSPECTION_KEYS, f"inspection {raw.get('inspected_on')} of {owner}")
        data = InspectionCreate(
            authority=spec["authority"],
            inspected_on=spec["inspected_on"],
            outcome=spec["outcome"],
            site_id=_optional_site_id(site_ids, spec.get("site"), owner),
            summary=spec.get("summary", ""),
        )
        parties.add_inspection(session, operator, organization_id, data)
        counts["inspections"] += 1


# --- qualifications ---------------------------------------------------------------------------


def _organization_id(session: Session, name: str) -> uuid.UUID:
    organization = parties_repository.organization_by_name(session, name)
    if organization is None:
        raise ValueError(f"demo data: no organisation named {name!r}")
    return organization.id


def _user(session: Session, email: str) -> User:
    user = auth_repository.user_by_email(session, email)
    if user is None:
        raise ValueError(f"demo data: no user with e-mail {email!r}")
    return user


def _qualifications(
    session: Session, qualifications: list[Raw], today: date, counts: Counter[str]
) -> None:
    for raw in qualifications:
        what = f"qualification {raw.get('sponsor')} → {raw.get('provider')}"
        spec = _checked(raw, QUALIFICATION_KEYS, what)
        sponsor_id = _organization_id(session, spec["sponsor"])
        provider_id = _organization_id(session, spec["provider"])
        if parties_repository.qualification_of_pair(session, sponsor_id, provider_id) is not None:
            continue
        recorder = principal_for(session, _user(session, spec["recorded_by"]))
        fields = {
            k: v
            for k, v in spec.items()
            if k not in {"sponsor", "provider", "recorded_by", "expires_in_days"}
        }
        data = QualificationCreate.model_validate(
            {
                **fields,
                "sponsor_id": sponsor_id,
                "provider_id": provider_id,
                "expires_on": _in_days(spec.get("expires_in_days"), today),
            }
        )
        parties.create_qualification(session, recorder, data)
        counts["qualifications"] += 1


DISRUPTION_KEYS = frozenset(
    {"organization", "declared_by", "title", "cause", "country", "region", "starts_in_days",
     "ends_in_days", "enrollment_multiplier", "freeze_activations", "notes"}
)  # fmt: skip


def _disruptions(session: Session, specs: list[Raw], today: date, counts: Counter[str]) -> None:
    for raw in specs:
        spec = _checked(raw, DISRUPTION_KEYS, f"disruption {raw.get('title')}")
        organization_id = _organization_id(session, spec["organization"])
        declarer = principal_for(session, _user(session, spec["declared_by"]))
        if any(d.title == spec["title"] for d in parties.list_disruptions(session, declarer)):
            continue
        fields = {
            k: v
            for k, v in spec.items()
            if k not in {"organization", "declared_by", "starts_in_days", "ends_in_days"}
        }
        data = DisruptionCreate.model_validate(
            {
                **fields,
                "organization_id": organization_id,
                "starts_on": _in_days(spec["starts_in_days"], today),
                "ends_on": _in_days(spec.get("ends_in_days"), today),
            }
        )
        parties.declare_disruption(session, declarer, data)
        counts["disruptions"] += 1


# --- sourcing: programs, MSAs, RFPs, bids and awards -----------------------------------------

PROGRAM_KEYS = frozenset(
    {"sponsor", "created_by", "name", "modality", "therapeutic_area", "indication", "phase",
     "patent_expiry", "description", "budget_amount", "budget_currency"}
)  # fmt: skip
MSA_KEYS = frozenset(
    {"sponsor", "provider", "created_by", "reference", "terms", "effective_date", "expiry_date"}
)
RFP_KEYS = frozenset(
    {"sponsor", "program", "by", "title", "target", "deadline_in_days", "background", "weights",
     "required_certifications", "allowed_countries", "excluded_countries", "budget_amount",
     "budget_currency", "budget_shared", "base_currency", "lots", "invitations", "questions",
     "bids", "exchange_rates", "awards"}
)  # fmt: skip
LOT_KEYS = frozenset({"title", "service_code", "scope"})
INVITATION_KEYS = frozenset({"provider", "acknowledge_warning"})
QUESTION_KEYS = frozenset({"asked_by", "question", "answer"})
BID_KEYS = frozenset({"provider", "by", "status", "notes", "lots"})
BID_LOT_KEYS = frozenset({"lot", "start_in_days", "duration_days", "assumptions", "lines"})
AWARD_KEYS = frozenset({"lot", "provider", "rationale", "work_order"})
WORK_ORDER_KEYS = frozenset(
    {"payment_terms_days", "provider_signer", "provider_worker", "milestones", "change_orders"}
)
MILESTONE_KEYS = frozenset({"position", "target", "files", "note", "invoice", "submitted_in_days"})
INVOICE_KEYS = frozenset({"number", "issued_in_days", "paid_in_days", "payment_reference"})
CHANGE_ORDER_KEYS = frozenset({"reason", "by", "changes"})
CHANGE_KEYS = frozenset(
    {"action", "position", "description", "deliverable", "amount", "due_in_days"}
)
RFP_TARGETS = ("published", "closed", "awarded")
# How far a milestone goes: each stage includes the ones before it.
MILESTONE_STAGES = ("planned", "submitted", "accepted", "invoiced", "paid")
DEADLINE_TIME = time(17, 0)
OPENING_DAYS = 14  # the deadline an RFP is published with before the demo closes it


def _principal(session: Session, email: str) -> Principal:
    return principal_for(session, _user(session, email))


def _day(today: date, days: int) -> date:
    return today + timedelta(days=int(days))


def _deadline(today: date, days: int) -> datetime:
    return datetime.combine(_day(today, days), DEADLINE_TIME, tzinfo=UTC)


def _program_id(
    session: Session, principal: Principal, sponsor_id: uuid.UUID, name: str
) -> uuid.UUID | None:
    programs = every_page(lambda p: sourcing.list_programs(session, principal, params=p))
    wanted = name.strip().lower()
    return next(
        (p.id for p in programs if p.sponsor_id == sponsor_id and p.name.lower() == wanted), None
    )


def _programs(session: Session, specs: list[Raw], counts: Counter[str]) -> None:
    for raw in specs:
        spec = _checked(raw, PROGRAM_KEYS, f"program {raw.get('name')}")
        principal = _principal(session, spec["created_by"])
        sponsor_id = _organization_id(session, spec["sponsor"])
        if _program_id(session, principal, sponsor_id, spec["name"]) is not None:
            continue
        fields = {k: v for k, v in spec.items() if k in ProgramCreate.model_fields}
        sourcing.create_program(
            session, principal, ProgramCreate.model_validate({**fields, "sponsor_id": sponsor_id})
        )
        counts["programs"] += 1


def _msas(session: Session, specs: list[Raw], counts: Counter[str]) -> None:
    for raw in specs:
        spec = _checked(raw, MSA_KEYS, f"MSA {raw.get('reference')}")
        principal = _principal(session, spec["created_by"])
        sponsor_id = _organization_id(session, spec["sponsor"])
        provider_id = _organization_id(session, spec["provider"])
        existing = contracts.list_msas(session, principal)
        if any(m.sponsor_id == sponsor_id and m.provider_id == provider_id for m in existing):
            continue
        data = MsaCreate.model_validate(
            {
                **{k: v for k, v in spec.items() if k in MsaCreate.model_fields},
                "sponsor_id": sponsor_id,
                "provider_id": provider_id,
            }
        )
        contracts.create_msa(session, principal, data)
        counts["msas"] += 1


def _scope(raw: Raw, today: date) -> Raw:
    """A lot's scope; ``<field>_in_days`` becomes the date field ``<field>``."""
    return {
        key.removesuffix("_in_days"): _day(today, value).isoformat()
        if key.endswith("_in_days")
        else value
        for key, value in raw.items()
    }


def _find_rfp(
    session: Session, sponsor: Principal, program_id: uuid.UUID, title: str
) -> RfpRead | None:
    summaries = every_page(
        lambda p: sourcing.list_rfps(session, sponsor, status=None, program_id=program_id, params=p)
    )
    found = next((r for r in summaries if r.title == title), None)
    return None if found is None else sourcing.get_rfp(session, sponsor, found.id)


def _create_rfp(
    session: Session, sponsor: Principal, program_id: uuid.UUID, spec: Raw, today: date
) -> RfpRead:
    # A closed or awarded RFP is published with a deadline ahead and closed later (_close).
    days = spec["deadline_in_days"] if spec["target"] == "published" else OPENING_DAYS
    lots = [_checked(lot, LOT_KEYS, f"lot {lot.get('title')}") for lot in spec["lots"]]
    data = RfpCreate.model_validate(
        {
            **{k: v for k, v in spec.items() if k in RfpCreate.model_fields and k != "lots"},
            "program_id": program_id,
            "bid_deadline": _deadline(today, days),
            "lots": [{**lot, "scope": _scope(lot.get("scope", {}), today)} for lot in lots],
        }
    )
    return sourcing.create_rfp(session, sponsor, data)


def _open_for_bids(rfp: RfpRead) -> bool:
    return rfp.status == RfpStatus.PUBLISHED and not rfp.deadline_passed


def _invitations(
    session: Session, sponsor: Principal, rfp: RfpRead, specs: list[Raw], counts: Counter[str]
) -> RfpRead:
    invited = {i.provider_id for i in rfp.invitations or []}
    for raw in specs:
        spec = _checked(raw, INVITATION_KEYS, f"invitation of {raw.get('provider')}")
        provider_id = _organization_id(session, spec["provider"])
        if provider_id in invited or not (rfp.status == RfpStatus.DRAFT or _open_for_bids(rfp)):
            continue
        data = InvitationCreate(
            provider_id=provider_id, acknowledge_warning=spec.get("acknowledge_warning", False)
        )
        rfp = sourcing.invite(session, sponsor, rfp.id, data)
        counts["transitions"] += 1
    return rfp


def _questions(
    session: Session, sponsor: Principal, rfp: RfpRead, specs: list[Raw], counts: Counter[str]
) -> None:
    asked = {q.question: q for q in sourcing.list_questions(session, sponsor, rfp.id)}
    for raw in specs:
        spec = _checked(raw, QUESTION_KEYS, "question")
        question = asked.get(spec["question"])
        if question is None:
            asker = _principal(session, spec["asked_by"])
            question = sourcing.ask(
                session, asker, rfp.id, QuestionCreate(question=spec["question"])
            )
            counts["questions"] += 1
        if spec.get("answer") and question.answer is None:
            data = AnswerCreate(answer=spec["answer"], version=question.version)
            sourcing.answer(session, sponsor, rfp.id, question.id, data)
            counts["transitions"] += 1


def _my_bid(session: Session, bidder: Principal, rfp_id: uuid.UUID) -> BidRead | None:
    try:
        return sourcing.my_bid(session, bidder, rfp_id)
    except NotFound:
        return None


def _bid_input(rfp: RfpRead, spec: Raw, today: date) -> BidInput:
    lot_ids = {lot.number: lot.id for lot in rfp.lots}
    offers = []
    for raw in spec["lots"]:
        offer = _checked(raw, BID_LOT_KEYS, f"bid of {spec['provider']}")
        offers.append(
            {
                "lot_id": lot_ids[offer["lot"]],
                "start_date": _day(today, offer["start_in_days"]),
                "duration_days": offer["duration_days"],
                "assumptions": offer.get("assumptions", ""),
                "lines": offer["lines"],
            }
        )
    return BidInput.model_validate({"notes": spec.get("notes", ""), "lots": offers})


def _bids(
    session: Session, rfp: RfpRead, specs: list[Raw], today: date, counts: Counter[str]
) -> None:
    for raw in specs:
        spec = _checked(raw, BID_KEYS, f"bid of {raw.get('provider')}")
        if spec["status"] not in ("draft", "submitted"):
            raise ValueError(f"demo data: a bid is draft or submitted, not {spec['status']!r}")
        bidder = _principal(session, spec["by"])
        bid = _my_bid(session, bidder, rfp.id)
        if bid is None:
            bid = sourcing.save_bid(session, bidder, rfp.id, _bid_input(rfp, spec, today))
            counts["bids"] += 1
        if bid.provider_name != spec["provider"]:
            raise ValueError(f"demo data: {spec['by']} does not bid for {spec['provider']}")
        if spec["status"] == "submitted" and bid.status == BidStatus.DRAFT:
            sourcing.submit_bid(session, bidder, rfp.id, RfpTransition(version=bid.version))
            counts["transitions"] += 1


def _close(session: Session, sponsor: Principal, rfp: RfpRead, deadline: datetime) -> RfpRead:
    """Close an RFP whose bids are in, as of ``deadline`` (in the past).

    DEMO-ONLY SHORTCUT. The service refuses to create or publish an RFP whose deadline has
    passed, and rightly offers no way to move a deadline back, but the demo world needs RFPs that
    closed days or months ago. So the RFP was published with a deadline ahead, bid on, and here its
    ``bid_deadline`` is moved into the past by a direct UPDATE (the only write of the loader that
    bypasses the services). Reading it through ``get_rfp`` then lets the service close it the way
    it closes any RFP at its deadline: status, ``closed_at``, the audit event "system (bid
    deadline)" and the sponsor's notification.
    """
    session.execute(update(Rfp).where(Rfp.id == rfp.id).values(bid_deadline=deadline))
    session.expire_all()
    closed = sourcing.get_rfp(session, sponsor, rfp.id)
    if closed.status != RfpStatus.CLOSED:
        raise RuntimeError(f"the demo RFP {rfp.title!r} did not close ({closed.status})")
    return closed


def _story_dates(session: Session, rfp_id: uuid.UUID) -> None:
    """Date what happened around a closed RFP in the demo's past, in the story's order.

    DEMO-ONLY SHORTCUT, like ``_close``: every use case stamps "now", so an RFP whose deadline
    ``_close`` moved months back still showed providers invited, bids submitted, the award and
    the contract signed and milestones accepted on the day the demo was loaded — after the
    deadline, before the work. Here those times are set from the deadline by direct UPDATEs:
    published and invited ``OPENING_DAYS`` before it, questions in the first days, bids in the
    last ones, the award ten days after, the work order signed three and four days later, each
    milestone decided three days after its submission. Only times: what was signed (the
    signatures' record hashes) and the audit trail, which records when the demo was loaded,
    are untouched. The times derive from the deadline alone, so a second load changes nothing.
    """
    rfp = session.get(Rfp, rfp_id)
    assert rfp is not None
    deadline = rfp.bid_deadline
    published = deadline - timedelta(days=OPENING_DAYS)
    rfp.published_at = published
    for n, invitation in enumerate(sorted(rfp.invitations, key=lambda i: i.created_at)):
        invitation.created_at = published + timedelta(minutes=5 * n)
    for n, question in enumerate(
        session.scalars(
            select(Question).where(Question.rfp_id == rfp_id).order_by(Question.created_at)
        )
    ):
        question.created_at = published + timedelta(days=2 + n, hours=3)
        if question.answered_at is not None:
            question.answered_at = question.created_at + timedelta(days=1)
    bids = session.scalars(
        select(Bid)
        .where(Bid.rfp_id == rfp_id, Bid.submitted_at.is_not(None))
        .order_by(Bid.submitted_at)
    ).all()
    for n, bid in enumerate(bids):
        # two days apart, the last the day before the deadline; never before the invitations
        spacing = min(2.0, (OPENING_DAYS - 2) / max(1, len(bids)))
        bid.submitted_at = deadline - timedelta(days=1 + spacing * (len(bids) - 1 - n), hours=5)
        bid.created_at = max(published + timedelta(hours=6), bid.submitted_at - timedelta(days=3))
    awards = session.scalars(select(Award).where(Award.rfp_id == rfp_id).order_by(Award.created_at))
    for n, award in enumerate(awards):
        awarded = deadline + timedelta(days=10, hours=n)
        award.created_at = awarded
        _restamp(session, award.signature_id, awarded)
        work_order = session.scalars(
            select(WorkOrder).where(WorkOrder.award_id == award.id)
        ).first()
        if work_order is None:
            continue
        work_order.created_at = awarded + timedelta(days=1)
        signed = signatures_of(session, "work_order", work_order.id)
        for k, signature in enumerate(
            sorted(signed, key=lambda s: s.organization_id != work_order.sponsor_id)
        ):
            signature.signed_at = awarded + timedelta(days=3 + k)
        for milestone in work_order.milestones:
            if milestone.submitted_at is None or milestone.decided_at is None:
                continue
            milestone.decided_at = milestone.submitted_at + timedelta(days=3)
            for signature in signatures_of(session, "milestone", milestone.id):
                signature.signed_at = milestone.decided_at
    session.flush()
    _date_notifications(session, rfp)


def _date_notifications(session: Session, rfp: Rfp) -> None:
    """Date the notifications about a closed RFP, its work orders and their invoices when what
    they report happened (DEMO-ONLY, after ``_story_dates``): they were all stamped on the day
    of the load, so the bell listed a win, an acceptance and a payment months after the fact.

    One event notifies several organisations at one instant, so a link's notifications of one
    kind, grouped by that instant in order, are matched in order to the events they report: the
    k-th "bid received" to the k-th bid submitted, and so on. Times come from the records
    alone (never later than now), so a second load changes nothing. The invitations name the
    deadline the RFP closed at, and what is older than a month is read.
    """
    now = datetime.now(UTC)
    at_nine = time(9, 0)
    rfp_events: dict[str, list[datetime]] = {
        "invited": sorted({i.created_at for i in rfp.invitations}),
        "bid_received": sorted(
            b.submitted_at
            for b in session.scalars(select(Bid).where(Bid.rfp_id == rfp.id))
            if b.submitted_at is not None
        ),
        "rfp_closed": [rfp.closed_at] if rfp.closed_at is not None else [],
    }
    questions = list(session.scalars(select(Question).where(Question.rfp_id == rfp.id)))
    rfp_events["question"] = sorted(q.created_at for q in questions)
    rfp_events["question_answered"] = sorted(
        q.answered_at for q in questions if q.answered_at is not None
    )
    awards = list(session.scalars(select(Award).where(Award.rfp_id == rfp.id)))
    rfp_events["awarded"] = rfp_events["not_awarded"] = sorted(a.created_at for a in awards)
    _restamp_notifications(session, f"/rfps/{rfp.id}", rfp_events, now)
    # The invitations named the deadline the RFP was published with, before ``_close``.
    deadline_text = f"by {rfp.bid_deadline:%Y-%m-%d %H:%M} UTC."
    for invitation in session.scalars(
        select(Notification).where(
            Notification.link == f"/rfps/{rfp.id}", Notification.kind == "invited"
        )
    ):
        invitation.message = PUBLISHED_DEADLINE.sub(deadline_text, invitation.message)
    for award in awards:
        work_order = session.scalars(
            select(WorkOrder).where(WorkOrder.award_id == award.id)
        ).first()
        if work_order is None:
            continue
        signed = [s.signed_at for s in signatures_of(session, "work_order", work_order.id)]
        milestones = work_order.milestones
        _restamp_notifications(
            session,
            f"/work-orders/{work_order.id}",
            {
                "signature_needed": [work_order.created_at],  # change orders: their own time
                "contract_active": [max(signed)] if len(signed) == 2 else [],
                "milestone_submitted": sorted(
                    m.submitted_at for m in milestones if m.submitted_at is not None
                ),
                "milestone_decided": sorted(
                    m.decided_at for m in milestones if m.decided_at is not None
                ),
            },
            now,
            skip_prefix="Change order",
        )
        for invoice in session.scalars(
            select(Invoice).where(Invoice.work_order_id == work_order.id)
        ):
            payments = session.scalars(select(Payment).where(Payment.invoice_id == invoice.id))
            events = {
                "payment": sorted(datetime.combine(p.paid_on, at_nine, UTC) for p in payments)
            }
            if invoice.issued_on is not None:
                events["invoice_issued"] = [datetime.combine(invoice.issued_on, at_nine, UTC)]
            if invoice.due_on is not None:
                events["invoice_overdue"] = [
                    datetime.combine(invoice.due_on + timedelta(days=1), at_nine, UTC)
                ]
            _restamp_notifications(session, f"/invoices/{invoice.id}", events, now)
    # What the members would have read long ago is read: the bell counts this month's news.
    read_before = now - timedelta(days=READ_AFTER_DAYS)
    old = session.scalars(select(Notification).where(Notification.created_at < read_before)).all()
    members: dict[uuid.UUID, list[uuid.UUID]] = {}
    for notification in old:
        organization = notification.organization_id
        if organization not in members:
            members[organization] = [
                m.user_id
                for m in auth_repository.memberships_of_organization(session, organization)
            ]
        for user_id in members[organization]:
            if session.get(NotificationRead, (notification.id, user_id)) is None:
                session.add(
                    NotificationRead(
                        notification_id=notification.id,
                        user_id=user_id,
                        read_at=notification.created_at + timedelta(days=1),
                    )
                )
    session.flush()


PUBLISHED_DEADLINE = re.compile(r"by \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\.$")
READ_AFTER_DAYS = 30

# A milestone's decision notifies as accepted or rejected: one series of events either way.
DECISION_SERIES = {
    "milestone_accepted": "milestone_decided",
    "milestone_rejected": "milestone_decided",
}


def _restamp_notifications(
    session: Session,
    link: str,
    events: dict[str, list[datetime]],
    now: datetime,
    *,
    skip_prefix: str | None = None,
) -> None:
    series = {**{kind: kind for kind in events}, **DECISION_SERIES}
    notifications = session.scalars(
        select(Notification)
        .where(Notification.link == link, Notification.kind.in_(list(series)))
        .order_by(Notification.created_at, Notification.id)
    ).all()
    groups: dict[tuple[str, datetime], list[Notification]] = {}
    for notification in notifications:
        if skip_prefix is not None and notification.message.startswith(skip_prefix):
            continue
        key = (series[notification.kind], notification.created_at)
        groups.setdefault(key, []).append(notification)
    seen: Counter[str] = Counter()
    for (name, _), group in groups.items():
        times = events.get(name, [])
        if seen[name] < len(times):
            when = min(times[seen[name]] + timedelta(minutes=1), now)
            for notification in group:
                notification.created_at = when
        seen[name] += 1


def _restamp(session: Session, signature_id: uuid.UUID, when: datetime) -> None:
    signature = session.get(Signature, signature_id)
    assert signature is not None
    signature.signed_at = when


def _exchange_rates(
    session: Session, sponsor: Principal, rfp: RfpRead, rates: Raw, counts: Counter[str]
) -> RfpRead:
    wanted = {code: Decimal(str(rate)) for code, rate in rates.items()}
    current = {code: Decimal(rate) for code, rate in rfp.exchange_rates.items()}
    changeable = (RfpStatus.DRAFT, RfpStatus.PUBLISHED, RfpStatus.CLOSED)
    if not wanted or current == wanted or rfp.status not in changeable:
        return rfp
    counts["transitions"] += 1
    return sourcing.set_exchange_rates(
        session, sponsor, rfp.id, ExchangeRates(version=rfp.version, rates=wanted)
    )


def _award(
    session: Session,
    sponsor: Principal,
    rfp: RfpRead,
    spec: Raw,
    awarded: dict[uuid.UUID, AwardRead],
    password: str,
    counts: Counter[str],
) -> AwardRead | None:
    """The lot's award, made now if the RFP is closed and the lot not yet awarded."""
    lot_id = next(lot.id for lot in rfp.lots if lot.number == spec["lot"])
    if lot_id in awarded:
        return awarded[lot_id]
    if rfp.status != RfpStatus.CLOSED:
        return None
    provider_id = _organization_id(session, spec["provider"])
    bids = sourcing.received_bids(session, sponsor, rfp.id)
    bid = next((b for b in bids if isinstance(b, BidRead) and b.provider_id == provider_id), None)
    if bid is None:
        raise ValueError(f"demo data: {spec['provider']} has no bid on {rfp.title!r}")
    data = AwardCreate(
        bid_id=bid.id, version=rfp.version, password=password, rationale=spec.get("rationale", "")
    )
    award = sourcing.award_lot(session, sponsor, rfp.id, lot_id, data)
    counts["awards"] += 1
    awarded[lot_id] = award
    return award


def _rfps(
    session: Session, specs: list[Raw], today: date, password: str, counts: Counter[str]
) -> None:
    for raw in specs:
        spec = _checked(raw, RFP_KEYS, f"RFP {raw.get('title')}")
        if spec["target"] not in RFP_TARGETS:
            raise ValueError(f"demo data: an RFP's target is one of {RFP_TARGETS}")
        sponsor = _principal(session, spec["by"])
        sponsor_id = _organization_id(session, spec["sponsor"])
        program_id = _program_id(session, sponsor, sponsor_id, spec["program"])
        if program_id is None:
            raise ValueError(f"demo data: {spec['sponsor']} has no program {spec['program']!r}")
        rfp = _find_rfp(session, sponsor, program_id, spec["title"])
        if rfp is None:
            rfp = _create_rfp(session, sponsor, program_id, spec, today)
            counts["rfps"] += 1
        rfp = _invitations(session, sponsor, rfp, spec.get("invitations", []), counts)
        if rfp.status == RfpStatus.DRAFT:
            rfp = sourcing.publish_rfp(session, sponsor, rfp.id, RfpTransition(version=rfp.version))
            counts["transitions"] += 1
        if _open_for_bids(rfp):
            _questions(session, sponsor, rfp, spec.get("questions", []), counts)
            _bids(session, rfp, spec.get("bids", []), today, counts)
            if spec["target"] != "published":
                rfp = _close(session, sponsor, rfp, _deadline(today, spec["deadline_in_days"]))
                counts["transitions"] += 1
        rfp = _exchange_rates(session, sponsor, rfp, spec.get("exchange_rates", {}), counts)
        if spec["target"] != "awarded":
            if spec["target"] == "closed":
                _story_dates(session, rfp.id)
            continue
        awarded = {a.lot_id: a for a in sourcing.list_awards(session, sponsor, rfp.id)}
        for award_raw in spec.get("awards", []):
            award_spec = _checked(award_raw, AWARD_KEYS, f"award of lot {award_raw.get('lot')}")
            award = _award(session, sponsor, rfp, award_spec, awarded, password, counts)
            if award is not None and "work_order" in award_spec:
                _work_order(
                    session, sponsor, award, award_spec["work_order"], today, password, counts
                )
            rfp = sourcing.get_rfp(session, sponsor, rfp.id)
        _story_dates(session, rfp.id)


# --- contracts: work orders, milestones, invoices, change orders ------------------------------


def _pdf(title: str, lines: Sequence[str]) -> bytes:
    """A small, valid, deterministic one-page PDF showing ``title`` and ``lines``."""

    def text(value: str) -> str:
        return value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    commands = [f"BT /F1 15 Tf 64 770 Td ({text(title)}) Tj ET"]
    for n, line in enumerate(lines):
        commands.append(f"BT /F1 10 Tf 64 {740 - 16 * n} Td ({text(line)}) Tj ET")
    content = "\n".join(commands).encode("cp1252", errors="replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _deliverables(
    work_order: WorkOrderRead, milestone: MilestoneRead, filenames: list[str], note: str
) -> list[tuple[str, str, bytes]]:
    lines = [
        f"{work_order.number}: {work_order.title}",
        f"{work_order.provider_name} for {work_order.sponsor_name}",
        f"Milestone {milestone.position}: {milestone.description}",
        f"Deliverable: {milestone.deliverable}",
        note,
        "",
        "Demo document generated by OpenCXO; every name and figure is fictional.",
    ]
    return [(name, "application/pdf", _pdf(name.removesuffix(".pdf"), lines)) for name in filenames]


def _find_work_order(
    session: Session, sponsor: Principal, award_id: uuid.UUID
) -> WorkOrderRead | None:
    summaries = every_page(
        lambda p: contracts.list_work_orders(session, sponsor, status=None, params=p)
    )
    for summary in summaries:
        work_order = contracts.get_work_order(session, sponsor, summary.id)
        if work_order.award_id == award_id:
            return work_order
    return None


def _milestone_at(work_order: WorkOrderRead, position: int) -> MilestoneRead:
    found = next((m for m in work_order.milestones if m.position == position), None)
    if found is None:
        raise ValueError(f"demo data: {work_order.number} has no milestone {position}")
    return found


def _signed(
    session: Session,
    work_order: WorkOrderRead,
    sponsor: Principal,
    provider: Principal,
    password: str,
    counts: Counter[str],
) -> WorkOrderRead:
    """The work order sent for signature and signed by both parties."""
    if work_order.status == WorkOrderStatus.DRAFT:
        work_order = contracts.send_for_signature(
            session, sponsor, work_order.id, ContractTransition(version=work_order.version)
        )
        counts["transitions"] += 1
    if work_order.status == WorkOrderStatus.PENDING_SIGNATURE:
        signed = {s.organization_id for s in work_order.signatures}
        for signer, side in ((sponsor, work_order.sponsor_id), (provider, work_order.provider_id)):
            if side not in signed:
                data = SignIn(password=password, meaning="executed")
                work_order = contracts.sign_work_order(session, signer, work_order.id, data)
                counts["transitions"] += 1
    return work_order


def _backdate_submission(session: Session, milestone_id: uuid.UUID, on: date) -> None:
    """Date a milestone's submission in the demo's past.

    DEMO-ONLY SHORTCUT, like ``_close``: a provider submits "now" and no use case may backdate
    it, but the demo's contracts have run for months and their track record (on time or late,
    which the bid comparison's quality score reads) depends on when each milestone was handed
    in. So right after the real submission, ``submitted_at`` is moved back by a direct UPDATE.
    """
    submitted_at = datetime.combine(on, time(10, 0), tzinfo=UTC)
    session.execute(
        update(Milestone).where(Milestone.id == milestone_id).values(submitted_at=submitted_at)
    )
    session.expire_all()


def _milestone(
    session: Session,
    work_order: WorkOrderRead,
    spec: Raw,
    sponsor: Principal,
    worker: Principal,
    today: date,
    password: str,
    counts: Counter[str],
) -> None:
    """Move one milestone forward to its target stage: submitted, accepted, invoiced or paid."""
    if spec["target"] not in MILESTONE_STAGES:
        raise ValueError(f"demo data: a milestone's target is one of {MILESTONE_STAGES}")
    target = MILESTONE_STAGES.index(spec["target"])
    milestone = _milestone_at(work_order, spec["position"])
    if target >= MILESTONE_STAGES.index("submitted") and milestone.status in (
        MilestoneStatus.PLANNED,
        MilestoneStatus.REJECTED,
    ):
        uploads = _deliverables(work_order, milestone, spec.get("files", []), spec.get("note", ""))
        milestone = contracts.submit_milestone(
            session,
            worker,
            milestone.id,
            version=milestone.version,
            note=spec.get("note", ""),
            uploads=uploads,
        )
        counts["deliverables"] += len(uploads)
        if "submitted_in_days" in spec:
            _backdate_submission(session, milestone.id, _day(today, spec["submitted_in_days"]))
    if (
        target >= MILESTONE_STAGES.index("accepted")
        and milestone.status == MilestoneStatus.SUBMITTED
    ):
        decision = MilestoneDecision(version=milestone.version, accept=True, password=password)
        milestone = contracts.decide_milestone(session, sponsor, milestone.id, decision)
        counts["transitions"] += 1
    if target < MILESTONE_STAGES.index("invoiced") or milestone.invoice_id is None:
        return
    invoice_spec = _checked(
        spec["invoice"], INVOICE_KEYS, f"invoice of milestone {spec['position']}"
    )
    invoice = contracts.get_invoice(session, sponsor, milestone.invoice_id)
    if invoice.status == InvoiceStatus.DRAFT:
        data = InvoiceIssue(
            version=invoice.version,
            number=invoice_spec["number"],
            issued_on=_day(today, invoice_spec["issued_in_days"]),
        )
        invoice = contracts.issue_invoice(session, worker, invoice.id, data)
        counts["invoices"] += 1
    if target >= MILESTONE_STAGES.index("paid") and invoice.status == InvoiceStatus.ISSUED:
        payment = PaymentCreate(
            version=invoice.version,
            amount=invoice.outstanding,
            paid_on=_day(today, invoice_spec["paid_in_days"]),
            reference=invoice_spec.get("payment_reference", ""),
        )
        contracts.record_payment(session, sponsor, invoice.id, payment)
        counts["payments"] += 1


def _milestone_change(work_order: WorkOrderRead, raw: Raw, today: date) -> MilestoneChange:
    change = _checked(raw, CHANGE_KEYS, f"change of {work_order.number}")
    position = change.get("position")
    return MilestoneChange(
        action=change["action"],
        milestone_id=None if position is None else _milestone_at(work_order, position).id,
        description=change.get("description"),
        deliverable=change.get("deliverable"),
        amount=Decimal(str(change["amount"])) if "amount" in change else None,
        due_date=_day(today, change["due_in_days"]) if "due_in_days" in change else None,
    )


def _change_order(
    session: Session,
    work_order: WorkOrderRead,
    spec: Raw,
    signers: dict[uuid.UUID, Principal],
    today: date,
    password: str,
    counts: Counter[str],
) -> None:
    """A change order proposed, then signed by both parties (which applies it)."""
    sponsor = signers[work_order.sponsor_id]
    proposed = contracts.list_change_orders(session, sponsor, work_order.id)
    change_order = next((c for c in proposed if c.reason == spec["reason"]), None)
    if change_order is None:
        data = ChangeOrderCreate(
            version=work_order.version,
            reason=spec["reason"],
            changes=[_milestone_change(work_order, raw, today) for raw in spec["changes"]],
        )
        proposer = _principal(session, spec["by"])
        change_order = contracts.propose_change(session, proposer, work_order.id, data)
        counts["change_orders"] += 1
    if change_order.status != ChangeOrderStatus.PENDING:
        return
    signed = {s.organization_id for s in change_order.signatures}
    for side in (work_order.sponsor_id, work_order.provider_id):
        if side not in signed:
            signature = SignIn(password=password, meaning="approved")
            change_order = contracts.sign_change_order(
                session, signers[side], change_order.id, signature
            )
            counts["transitions"] += 1


def _work_order(
    session: Session,
    sponsor: Principal,
    award: AwardRead,
    raw: Raw,
    today: date,
    password: str,
    counts: Counter[str],
) -> None:
    spec = _checked(raw, WORK_ORDER_KEYS, f"work order of {award.provider_name}")
    work_order = _find_work_order(session, sponsor, award.id)
    if work_order is None:
        data = WorkOrderFromAward(
            award_id=award.id, payment_terms_days=spec.get("payment_terms_days", 30)
        )
        work_order = contracts.create_from_award(session, sponsor, data)
        counts["work_orders"] += 1
    provider = _principal(session, spec["provider_signer"])
    work_order = _signed(session, work_order, sponsor, provider, password, counts)
    if work_order.status != WorkOrderStatus.ACTIVE:
        return
    worker = _principal(session, spec["provider_worker"])
    for milestone_raw in spec.get("milestones", []):
        milestone_spec = _checked(
            milestone_raw, MILESTONE_KEYS, f"milestone of {work_order.number}"
        )
        _milestone(session, work_order, milestone_spec, sponsor, worker, today, password, counts)
    signers = {work_order.sponsor_id: sponsor, work_order.provider_id: provider}
    for change_raw in spec.get("change_orders", []):
        change_spec = _checked(
            change_raw, CHANGE_ORDER_KEYS, f"change order of {work_order.number}"
        )
        # Read again: milestones and the version moved on.
        current = contracts.get_work_order(session, sponsor, work_order.id)
        _change_order(session, current, change_spec, signers, today, password, counts)


# --- the whole world --------------------------------------------------------------------------


def _economics(session: Session, data: Raw, counts: Counter[str]) -> None:
    """Stored scenarios (linked to their program by name), each valued once, and portfolios,
    run once; whatever exists by name is left as it is."""
    for raw in data.get("scenarios", []):
        principal = _principal(session, raw["created_by"])
        sponsor_id = _organization_id(session, raw["sponsor"])
        spec = economics.parse(
            ScenarioInput, raw["spec"], what=f"scenario {raw['spec'].get('name')}"
        )
        if raw.get("program"):
            program_id = _program_id(session, principal, sponsor_id, raw["program"])
            if program_id is None:
                raise ValueError(f"economics.yaml: no program {raw['program']!r}")
            spec = spec.model_copy(update={"program_id": program_id})
        existing = {
            s.name: s.id
            for s in economics_store.list_scenarios(
                session, principal, params=PageParams(page=1, page_size=MAX_PAGE_SIZE)
            ).items
            if s.sponsor_id == sponsor_id
        }
        scenario_id = existing.get(spec.name)
        if scenario_id is None:
            body = ScenarioCreate(sponsor_id=sponsor_id, spec=spec)
            scenario_id = economics_store.create_scenario(session, principal, body).id
            counts["valuation_scenarios"] += 1
        wanted = raw.get("valuation")
        if wanted and economics_store.latest_valuation(session, principal, scenario_id) is None:
            request = RunRequest.model_validate(wanted)
            economics_store.run_valuation(session, principal, scenario_id, request)
            counts["valuations"] += 1
    for raw in data.get("portfolios", []):
        principal = _principal(session, raw["created_by"])
        sponsor_id = _organization_id(session, raw["sponsor"])
        portfolio = economics.parse(PortfolioInput, raw["spec"], what="portfolio")
        found = next(
            (
                p
                for p in economics_store.list_portfolios(session, principal)
                if p.sponsor_id == sponsor_id and p.name == portfolio.name
            ),
            None,
        )
        if found is None:
            created = economics_store.create_portfolio(
                session, principal, PortfolioCreate(sponsor_id=sponsor_id, spec=portfolio)
            )
            counts["portfolios"] += 1
            portfolio_id, ran = created.id, False
        else:
            portfolio_id, ran = found.id, found.run_at is not None
        if raw.get("run") and not ran:
            economics_store.run_portfolio(session, principal, portfolio_id)
            counts["transitions"] += 1


# --- clinical: the study, its sites and enrollment, generated from a compact spec --------------

STUDY_KEYS = frozenset(
    {"sponsor", "created_by", "program", "work_order_title", "sites_by", "code", "title", "phase",
     "indication", "target_enrollment", "planned_first_patient_in_days",
     "planned_last_patient_in_days", "status", "description", "generator", "countries",
     "investigators"}
)  # fmt: skip
MONTH_DAYS = 365.25 / 12


@dataclass(frozen=True)
class _DemoSite:
    code: str
    country: str
    city: str
    name: str
    institution: str
    investigator: str
    status: str
    planned_in_days: int
    activated_in_days: int | None
    rate_per_month: float


def _demo_sites(spec: Raw, rng: np.random.Generator) -> list[_DemoSite]:
    """The study's sites: the active ones (activation days and rates drawn from ``rng``) and the
    ones added later, not active yet."""
    gen = spec["generator"]
    first, last = gen["first_activation_in_days"], gen["last_activation_in_days"]
    investigators: list[str] = spec["investigators"]
    mean, shape = gen["rate_per_site_month"], gen["rate_shape"]
    sites: list[_DemoSite] = []
    for country in spec["countries"]:
        cities: list[str] = country["cities"]
        if len(cities) != country["sites"]:
            raise ValueError(f"clinical.yaml: {country['country']} needs {country['sites']} cities")
        for city in cities:
            activated = round(first + (last - first) * float(rng.random()) ** 1.5)
            zero = float(rng.random()) < gen["zero_rate_share"]
            rate = 0.0 if zero else float(rng.gamma(shape, mean / shape))
            sites.append(
                _DemoSite(
                    code="",
                    country=country["country"],
                    city=city,
                    name=country["style"].format(city=city),
                    institution=country["institution"].format(city=city),
                    investigator=f"Dr. {investigators[int(rng.integers(len(investigators)))]}",
                    status="active",
                    planned_in_days=activated - int(rng.integers(0, 21)),
                    activated_in_days=activated,
                    rate_per_month=rate,
                )
            )
        for added in country.get("added", []):
            sites.append(
                _DemoSite(
                    code="",
                    country=country["country"],
                    city=added["city"],
                    name=country["style"].format(city=added["city"]),
                    institution=country["institution"].format(city=added["city"]),
                    investigator=f"Dr. {investigators[int(rng.integers(len(investigators)))]}",
                    status=added.get("status", "planned"),
                    planned_in_days=added["in_days"],
                    activated_in_days=None,
                    rate_per_month=0.0,
                )
            )
    # number the sites per country in order of activation (planned ones last)
    ordered = sorted(
        sites, key=lambda s: (s.country, s.activated_in_days is None, s.activated_in_days or 0)
    )
    numbered: list[_DemoSite] = []
    per_country: Counter[str] = Counter()
    for site in ordered:
        per_country[site.country] += 1
        code = f"{site.country}-{per_country[site.country]:03d}"
        numbered.append(_DemoSite(**{**site.__dict__, "code": code}))
    return numbered


def _multiplier(disruptions: Sequence[Any], country: str, day: date) -> float:
    factor = 1.0
    for d in disruptions:
        if d.country == country and d.starts_on <= day and (d.ends_on is None or day <= d.ends_on):
            factor *= d.enrollment_multiplier
    return factor


def _demo_enrollment(
    spec: Raw,
    sites: Sequence[_DemoSite],
    disruptions: Sequence[Any],
    today: date,
    rng: np.random.Generator,
) -> list[EnrollmentRow]:
    """Reports every ``report_every_days`` from each site's activation up to yesterday (and on
    the eve of a disruption of the site's country)."""
    gen = spec["generator"]
    every: int = gen["report_every_days"]
    fail, withdraw = gen["screen_failure_share"], gen["withdrawal_share"]
    rows = []
    for site in sites:
        if site.activated_in_days is None:
            continue
        start = today + timedelta(days=site.activated_in_days)
        while start < today:
            end = min(start + timedelta(days=every - 1), today - timedelta(days=1))
            # a site reports the day before a disruption of its country begins
            for d in disruptions:
                if d.country == site.country and start < d.starts_on <= end:
                    end = d.starts_on - timedelta(days=1)
            days = (end - start).days + 1
            exposure = sum(
                _multiplier(disruptions, site.country, start + timedelta(days=n))
                for n in range(days)
            )
            screened = int(rng.poisson(site.rate_per_month / (1 - fail) * exposure / MONTH_DAYS))
            enrolled = int(rng.binomial(screened, 1 - fail))
            withdrawn = int(rng.binomial(enrolled, withdraw))
            rows.append(
                EnrollmentRow(
                    site_code=site.code,
                    on_date=end,
                    screened=screened,
                    enrolled=enrolled,
                    screen_failed=screened - enrolled,
                    withdrawn=withdrawn,
                )
            )
            start = end + timedelta(days=1)
    return rows


def _study_list(session: Session, sponsor: Principal) -> list[Any]:
    return every_page(lambda p: clinical.list_studies(session, sponsor, params=p))


def _study_codes(session: Session, sponsor: Principal) -> set[str]:
    return {s.code for s in every_page(lambda p: clinical.list_studies(session, sponsor, params=p))}


def _work_order_titled(session: Session, sponsor: Principal, title: str) -> Any:
    work_orders = every_page(
        lambda p: contracts.list_work_orders(session, sponsor, status=None, params=p)
    )
    return next((w for w in work_orders if w.title == title), None)


def _work_order_id(session: Session, sponsor: Principal, title: str) -> uuid.UUID:
    work_order = _work_order_titled(session, sponsor, title)
    if work_order is None:
        raise ValueError(f"demo data: the sponsor has no work order titled {title!r}")
    return uuid.UUID(str(work_order.id))


def _clinical(session: Session, data: Raw, today: date, counts: Counter[str]) -> None:
    """Each study with its countries, sites and enrollment, all created together (a study that
    exists by its code is left as it is)."""
    for raw in data.get("studies", []):
        spec = _checked(raw, STUDY_KEYS, f"study {raw.get('code')}")
        sponsor = _principal(session, spec["created_by"])
        sponsor_id = _organization_id(session, spec["sponsor"])
        if spec["code"] in _study_codes(session, sponsor):
            continue
        program_id = _program_id(session, sponsor, sponsor_id, spec["program"])
        work_order = _work_order_titled(session, sponsor, spec["work_order_title"])
        if program_id is None or work_order is None:
            raise ValueError(f"clinical.yaml: no program or work order for {spec['code']}")
        study = clinical.create_study(
            session,
            sponsor,
            StudyCreate(
                program_id=program_id,
                work_order_id=work_order.id,
                code=spec["code"],
                title=spec["title"],
                phase=spec["phase"],
                indication=spec["indication"],
                target_enrollment=spec["target_enrollment"],
                planned_first_patient_in=_day(today, spec["planned_first_patient_in_days"]),
                planned_last_patient_in=_day(today, spec["planned_last_patient_in_days"]),
                status=spec["status"],
                description=spec.get("description", ""),
            ),
        )
        counts["studies"] += 1
        for country in spec["countries"]:
            clinical.set_country(
                session,
                sponsor,
                study.id,
                StudyCountryInput(
                    country=country["country"],
                    planned_sites=country["sites"],
                    planned_patients=country["planned_patients"],
                ),
            )
        rng = np.random.default_rng(spec["generator"]["seed"])
        sites = _demo_sites(spec, rng)
        cro = _principal(session, spec["sites_by"])
        costs = {c["country"]: c for c in spec["countries"]}
        for site in sites:
            cost = costs[site.country]
            clinical.create_site(
                session,
                cro,
                study.id,
                StudySiteCreate(
                    code=site.code,
                    name=site.name,
                    institution=site.institution,
                    country=site.country,
                    city=site.city,
                    investigator=site.investigator,
                    planned_activation_date=_day(today, site.planned_in_days),
                    status=site.status,
                    actual_activation_date=_in_days(site.activated_in_days, today),
                    monthly_cost=_amount(cost.get("monthly_cost")),
                    cost_per_patient=_amount(cost.get("cost_per_patient")),
                    cost_currency="USD" if "monthly_cost" in cost else None,
                ),
            )
            counts["study_sites"] += 1
        disruptions = parties.list_disruptions(session, sponsor)
        rows = _demo_enrollment(spec, sites, disruptions, today, rng)
        counts["enrollment_records"] += clinical.record_enrollment(
            session, cro, study.id, rows, source="demo data (seeded)"
        )


def _amount(value: float | int | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


OFFER_KEYS = frozenset(
    {"provider", "created_by", "name", "country", "city", "rate", "lag_days", "startup",
     "monthly", "per_patient", "capacity", "areas", "notes"}
)  # fmt: skip
PLAN_KEYS = frozenset(
    {"study", "proposed_by", "deadline_in_days", "confidence", "currency", "allow_closing",
     "closing_cost_per_site", "paths", "seed"}
)  # fmt: skip


def _site_offers(session: Session, specs: list[Raw], counts: Counter[str]) -> None:
    """CRO site offers (USD), each looked up by its provider and name."""
    for raw in specs:
        spec = _checked(raw, OFFER_KEYS, f"site offer {raw.get('name')}")
        provider = _principal(session, spec["created_by"])
        provider_id = _organization_id(session, spec["provider"])
        mine = recovery.list_site_offers(
            session, provider, params=PageParams(page=1, page_size=MAX_PAGE_SIZE)
        ).items
        if any(o.provider_id == provider_id and o.name == spec["name"] for o in mine):
            continue
        recovery.create_site_offer(
            session,
            provider,
            SiteOfferCreate(
                provider_id=provider_id,
                name=spec["name"],
                country=spec["country"],
                city=spec.get("city", ""),
                expected_rate_per_site_per_month=spec["rate"],
                activation_lag_days=spec["lag_days"],
                startup_cost_per_site=_amount(spec["startup"]) or Decimal("0.00"),
                monthly_cost_per_site=_amount(spec["monthly"]) or Decimal("0.00"),
                cost_per_patient=_amount(spec["per_patient"]) or Decimal("0.00"),
                currency="USD",
                capacity_sites=spec["capacity"],
                therapeutic_areas=spec.get("areas", []),
                notes=spec.get("notes", ""),
            ),
        )
        counts["site_offers"] += 1


def _recovery_plans(session: Session, specs: list[Raw], today: date, counts: Counter[str]) -> None:
    """A proposed recovery plan per study, computed by the engine (seeded) when the study has
    no plan yet."""
    for raw in specs:
        spec = _checked(raw, PLAN_KEYS, f"recovery plan of {raw.get('study')}")
        sponsor = _principal(session, spec["proposed_by"])
        study = next((s for s in _study_list(session, sponsor) if s.code == spec["study"]), None)
        if study is None:
            raise ValueError(f"clinical.yaml: no study {spec['study']} for its recovery plan")
        if recovery.list_recovery_plans(session, sponsor, study.id):
            continue
        recovery.propose_recovery_plan(
            session,
            sponsor,
            study.id,
            RecoveryRequest(
                deadline=_day(today, spec["deadline_in_days"]),
                confidence=spec["confidence"],
                currency=spec["currency"],
                allow_closing=spec["allow_closing"],
                closing_cost_per_site=Decimal(str(spec.get("closing_cost_per_site", 0))),
                paths=spec["paths"],
                seed=spec["seed"],
            ),
        )
        counts["recovery_plans"] += 1


def _logins(world: Raw) -> list[Login]:
    password: str = world["password"]
    operator: Raw = world["operator"]
    logins: list[Login] = [
        (operator["organization_label"], operator["login"], operator["email"], password)
    ]
    for organization in world["organizations"]:
        for member in organization.get("members", []):
            if member.get("login"):
                logins.append((organization["name"], member["login"], member["email"], password))
    return logins


def load_demo_world(session: Session) -> DemoLoadReport:
    """Create whatever of the demo world is missing; flush, never commit."""
    world = read_world()
    today = utc_today()
    password: str = world["password"]
    counts: Counter[str] = Counter()
    operator = _operator(session, world["operator"], password, counts)

    for raw in world["organizations"]:
        spec = _checked(raw, ORGANIZATION_KEYS, f"organisation {raw.get('name')}")
        name: str = spec["name"]
        organization_id, created = _organization(session, operator, spec, counts)
        _members(session, operator, organization_id, spec.get("members", []), password, counts)
        if not created:
            continue
        site_ids = _sites(session, operator, organization_id, spec.get("sites", []), counts)
        _capabilities(
            session, operator, organization_id, spec.get("capabilities", []), site_ids, name, counts
        )
        _certifications(
            session,
            operator,
            organization_id,
            spec.get("certifications", []),
            site_ids,
            name,
            today,
            counts,
        )
        _inspections(
            session, operator, organization_id, spec.get("inspections", []), site_ids, name, counts
        )

    _qualifications(session, world.get("qualifications", []), today, counts)
    _disruptions(session, world.get("disruptions", []), today, counts)

    deals = read_sourcing()
    _programs(session, deals.get("programs", []), counts)
    _msas(session, deals.get("msas", []), counts)
    _rfps(session, deals.get("rfps", []), today, password, counts)
    _economics(session, read_economics(), counts)
    clinical_data = read_clinical()
    _clinical(session, clinical_data, today, counts)
    _site_offers(session, clinical_data.get("site_offers", []), counts)
    _recovery_plans(session, clinical_data.get("recovery_plans", []), today, counts)
    manufacturing_data = read_manufacturing()
    load_manufacturing(
        session,
        manufacturing_data,
        today,
        password,
        counts,
        principal=_principal,
        organization_id=_organization_id,
        work_order_id=_work_order_id,
    )
    load_process_chemistry(
        session,
        manufacturing_data,
        counts,
        principal=_principal,
        organization_id=_organization_id,
    )
    session.flush()
    return DemoLoadReport(
        organizations=counts["organizations"],
        users=counts["users"],
        sites=counts["sites"],
        capabilities=counts["capabilities"],
        certifications=counts["certifications"],
        inspections=counts["inspections"],
        qualifications=counts["qualifications"],
        disruptions=counts["disruptions"],
        memberships=counts["memberships"],
        programs=counts["programs"],
        msas=counts["msas"],
        rfps=counts["rfps"],
        questions=counts["questions"],
        bids=counts["bids"],
        awards=counts["awards"],
        work_orders=counts["work_orders"],
        deliverables=counts["deliverables"],
        invoices=counts["invoices"],
        payments=counts["payments"],
        change_orders=counts["change_orders"],
        valuation_scenarios=counts["valuation_scenarios"],
        valuations=counts["valuations"],
        portfolios=counts["portfolios"],
        studies=counts["studies"],
        study_sites=counts["study_sites"],
        enrollment_records=counts["enrollment_records"],
        site_offers=counts["site_offers"],
        recovery_plans=counts["recovery_plans"],
        equipment_units=counts["equipment_units"],
        products=counts["products"],
        recipes=counts["recipes"],
        production_orders=counts["production_orders"],
        batches=counts["batches"],
        schedules=counts["schedules"],
        routes=counts["routes"],
        transitions=counts["transitions"],
        logins=_logins(world),
    )
