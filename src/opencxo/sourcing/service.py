"""Use cases of sourcing: programs, the RFP lifecycle, invitations, Q&A, sealed bids, comparison,
award.

Sealing: before the bid deadline only the bidding provider reads its bid; the sponsor learns that a
bid exists; other providers learn nothing. The deadline is enforced on the clock, not on a stored
status, and a published RFP past its deadline is closed the first time anyone looks at it.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from opencxo.core import audit, files, notifications, signatures
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted, check_version
from opencxo.core.files import StoredFile
from opencxo.core.pagination import Page, PageParams
from opencxo.core.signatures import SignatureMeaning
from opencxo.core.types import utcnow
from opencxo.parties import service as parties
from opencxo.parties.schemas import TrackRecord
from opencxo.sourcing import repository
from opencxo.sourcing.models import (
    Award,
    Bid,
    BidLine,
    BidLot,
    BidStatus,
    Invitation,
    Lot,
    Program,
    Question,
    Rfp,
    RfpStatus,
)
from opencxo.sourcing.schemas import (
    AnswerCreate,
    AttachmentRead,
    AwardCreate,
    AwardRead,
    BidInput,
    BidLineRead,
    BidLotRead,
    BidRead,
    BidReceipt,
    CancelRfp,
    Comparison,
    ComparisonRow,
    ExchangeRates,
    FinishAward,
    InvitationCreate,
    InvitationRead,
    LotComparison,
    LotRead,
    MatchSuggestion,
    MyOutcome,
    ProgramCreate,
    ProgramRead,
    ProgramUpdate,
    QuestionCreate,
    QuestionRead,
    RfpCreate,
    RfpRead,
    RfpSummary,
    RfpUpdate,
    SignatureRead,
    Transition,
    Weights,
)
from opencxo.sourcing.scope import validate_scope

CENT = Decimal("0.01")
PROGRAM_FIELDS = (
    "name",
    "modality",
    "therapeutic_area",
    "indication",
    "phase",
    "patent_expiry",
    "description",
    "budget_amount",
    "budget_currency",
)
RFP_FIELDS = ("title", "status", "bid_deadline", "program_id", "base_currency")
QUALITY_BY_QUALIFICATION = {"approved": 100.0, "conditional": 60.0, None: 50.0, "expired": 40.0}
PRICE_OUTLIER = Decimal("0.30")  # ± 30 % from the lot's median price, with three bids or more


# --- programs -----------------------------------------------------------------------------------


def _sponsor_for(
    session: Session, principal: Principal, permission: Permission, sponsor_id: uuid.UUID | None
) -> uuid.UUID:
    """The sponsor organisation acting: the given one, or the principal's only sponsor."""
    allowed = principal.organizations_with(permission)
    sponsors = {o.id for o in parties.my_organizations(session, principal) if o.kind == "sponsor"}
    if sponsor_id is not None:
        if sponsor_id not in principal.organization_ids:
            raise NotFound("no such sponsor")
        if sponsor_id not in sponsors:
            raise Invalid(
                "only a sponsor organisation does this",
                field_errors={"sponsor_id": "not a sponsor"},
            )
        if sponsor_id not in allowed and not principal.is_operator:
            raise NotPermitted(f"your role does not grant {permission.value}")
        return sponsor_id
    candidates = sponsors & allowed if not principal.is_operator else sponsors
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        raise NotPermitted(f"you need {permission.value} in a sponsor organisation")
    raise Invalid(
        "you belong to several sponsors; say which one",
        field_errors={"sponsor_id": "required when you belong to several sponsors"},
    )


def _program(session: Session, principal: Principal, program_id: uuid.UUID) -> Program:
    found = repository.program(session, program_id, principal.organization_ids)
    if found is None:
        raise NotFound("no such program")
    return found


def list_programs(
    session: Session, principal: Principal, *, params: PageParams
) -> Page[ProgramRead]:
    rows, total = repository.programs(
        session,
        principal.organizations_with(Permission.PROGRAMS_READ)
        | (principal.organization_ids if principal.is_operator else frozenset()),
        offset=params.offset,
        limit=params.page_size,
        sort=params.sort_key(tuple(repository.PROGRAM_SORTS), "name"),
    )
    return Page.of([ProgramRead.model_validate(r) for r in rows], total=total, params=params)


def get_program(session: Session, principal: Principal, program_id: uuid.UUID) -> ProgramRead:
    found = _program(session, principal, program_id)
    principal.require(Permission.PROGRAMS_READ, found.sponsor_id)
    return ProgramRead.model_validate(found)


def create_program(session: Session, principal: Principal, data: ProgramCreate) -> ProgramRead:
    sponsor_id = _sponsor_for(session, principal, Permission.PROGRAMS_WRITE, data.sponsor_id)
    if repository.program_by_name(session, sponsor_id, data.name) is not None:
        raise Conflict(
            f"a program named {data.name!r} exists", field_errors={"name": "already used"}
        )
    program = Program(
        sponsor_id=sponsor_id,
        owner_user_id=principal.user_id,
        **data.model_dump(include=set(PROGRAM_FIELDS)),
    )
    session.add(program)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="program",
        entity_id=program.id,
        actor=principal,
        organization_id=sponsor_id,
        after=audit.snapshot(program, PROGRAM_FIELDS),
    )
    return ProgramRead.model_validate(program)


def update_program(
    session: Session, principal: Principal, program_id: uuid.UUID, data: ProgramUpdate
) -> ProgramRead:
    program = _program(session, principal, program_id)
    principal.require(Permission.PROGRAMS_WRITE, program.sponsor_id)
    check_version("program", program.version, data.version)
    before = audit.snapshot(program, PROGRAM_FIELDS)
    for name, value in data.model_dump(include=set(PROGRAM_FIELDS)).items():
        setattr(program, name, value)
    after = audit.snapshot(program, PROGRAM_FIELDS)
    if after != before:
        session.flush()
        audit.record(
            session,
            action="update",
            entity_type="program",
            entity_id=program.id,
            actor=principal,
            organization_id=program.sponsor_id,
            before=before,
            after=after,
        )
    return ProgramRead.model_validate(program)


# --- RFPs: reading, with the deadline enforced --------------------------------------------------


def _close_if_due(session: Session, rfp: Rfp) -> None:
    """A published RFP closes at its deadline; whoever looks first records it."""
    if rfp.status == RfpStatus.PUBLISHED and rfp.bid_deadline <= utcnow():
        rfp.status = RfpStatus.CLOSED.value
        rfp.closed_at = rfp.bid_deadline
        session.flush()
        audit.record(
            session,
            action="close",
            entity_type="rfp",
            entity_id=rfp.id,
            actor=None,
            actor_label="system (bid deadline)",
            organization_id=rfp.sponsor_id,
            before={"status": "published"},
            after={"status": "closed"},
        )
        submitted = len(repository.submitted_bids(session, rfp.id))
        notifications.notify(
            session,
            [rfp.sponsor_id],
            kind="rfp_closed",
            message=f"“{rfp.title}” closed with {submitted} bid(s); compare them now.",
            link=f"/rfps/{rfp.id}",
        )


def close_due_rfps(session: Session) -> int:
    """Close every published RFP whose deadline has passed (for a scheduler or the CLI)."""
    due = repository.published_past_deadline(session, utcnow())
    for rfp in due:
        _close_if_due(session, rfp)
    return len(due)


def _rfp(session: Session, principal: Principal, rfp_id: uuid.UUID) -> Rfp:
    found = repository.rfp(session, rfp_id, principal.organization_ids)
    if found is None:
        raise NotFound("no such RFP")
    _close_if_due(session, found)
    return found


def _is_sponsor(principal: Principal, rfp: Rfp) -> bool:
    return rfp.sponsor_id in principal.organization_ids


def _my_invited_provider(principal: Principal, rfp: Rfp) -> uuid.UUID | None:
    invited = {i.provider_id for i in rfp.invitations}
    mine = sorted(invited & principal.organization_ids)
    return mine[0] if mine else None


def _deadline_passed(rfp: Rfp) -> bool:
    return rfp.bid_deadline <= utcnow()


def _lot_read(lot: Lot) -> LotRead:
    entry = parties.catalog().get(lot.service_code)
    return LotRead(
        id=lot.id,
        number=lot.number,
        title=lot.title,
        service_code=lot.service_code,
        service_name=entry.name if entry else lot.service_code,
        scope=lot.scope,
    )


def _rfp_read(session: Session, principal: Principal, rfp: Rfp) -> RfpRead:
    sponsor_view = _is_sponsor(principal, rfp)
    sponsor = parties.get_organization(session, principal, rfp.sponsor_id)
    invitations: list[InvitationRead] | None = None
    bids_received: int | None = None
    if sponsor_view:
        submitted = {b.provider_id: b for b in repository.submitted_bids(session, rfp.id)}
        invitations = [
            InvitationRead(
                provider_id=i.provider_id,
                provider_name=i.provider.name,
                country=i.provider.country,
                warning=i.warning,
                invited_at=i.created_at,
                bid_received=i.provider_id in submitted,
            )
            for i in sorted(rfp.invitations, key=lambda i: i.provider.name)
        ]
        bids_received = len(submitted)
    show_budget = sponsor_view or rfp.budget_shared
    weights = Weights(
        price=rfp.weight_price,
        time=rfp.weight_time,
        quality=rfp.weight_quality,
        risk=rfp.weight_risk,
    )
    return RfpRead(
        id=rfp.id,
        sponsor_id=rfp.sponsor_id,
        sponsor_name=sponsor.name,
        program_id=rfp.program_id if sponsor_view else None,
        program_name=rfp.program.name if sponsor_view else None,
        therapeutic_area=rfp.program.therapeutic_area,
        phase=rfp.program.phase,
        title=rfp.title,
        background=rfp.background,
        status=RfpStatus(rfp.status),
        bid_deadline=rfp.bid_deadline,
        deadline_passed=_deadline_passed(rfp),
        weights=weights,
        required_certifications=list(rfp.required_certifications),
        allowed_countries=list(rfp.allowed_countries),
        excluded_countries=list(rfp.excluded_countries),
        budget_amount=rfp.budget_amount if show_budget else None,
        budget_currency=rfp.budget_currency if show_budget else None,
        budget_shared=rfp.budget_shared,
        base_currency=rfp.base_currency,
        exchange_rates=dict(rfp.exchange_rates) if sponsor_view else {},
        lots=[_lot_read(lot) for lot in rfp.lots],
        attachments=_attachment_reads(rfp.attachments),
        invitations=invitations,
        bids_received=bids_received,
        published_at=rfp.published_at,
        closed_at=rfp.closed_at,
        cancelled_reason=rfp.cancelled_reason,
        unawarded_reason=rfp.unawarded_reason,
        version=rfp.version,
        viewer_role="sponsor" if sponsor_view else "invited provider",
    )


def get_rfp(session: Session, principal: Principal, rfp_id: uuid.UUID) -> RfpRead:
    rfp = _rfp(session, principal, rfp_id)
    owner = rfp.sponsor_id if _is_sponsor(principal, rfp) else _my_invited_provider(principal, rfp)
    principal.require(Permission.RFPS_READ, owner)
    return _rfp_read(session, principal, rfp)


def list_rfps(
    session: Session,
    principal: Principal,
    *,
    status: RfpStatus | None,
    program_id: uuid.UUID | None = None,
    params: PageParams,
) -> Page[RfpSummary]:
    readable = principal.organizations_with(Permission.RFPS_READ)
    for rfp in repository.published_past_deadline(session, utcnow()):
        if rfp.sponsor_id in readable or any(i.provider_id in readable for i in rfp.invitations):
            _close_if_due(session, rfp)
    rows, total = repository.rfps(
        session,
        readable,
        status=status.value if status else None,
        program_id=program_id,
        offset=params.offset,
        limit=params.page_size,
        sort=params.sort_key(repository.RFP_SORTS, "-bid_deadline"),
    )
    my_bids = {b.rfp_id: b.status for b in repository.bids_of_providers(session, readable)}
    names = {
        o.id: o.name
        for o in parties.organizations_named_by_id(session, {r.sponsor_id for r in rows})
    }
    items = [
        RfpSummary(
            id=r.id,
            title=r.title,
            sponsor_name=names.get(r.sponsor_id, ""),
            program_name=r.program.name if r.sponsor_id in readable else None,
            status=RfpStatus(r.status),
            bid_deadline=r.bid_deadline,
            lots=len(r.lots),
            my_bid_status=BidStatus(my_bids[r.id]) if r.id in my_bids else None,
            created_at=r.created_at,
        )
        for r in rows
    ]
    return Page.of(items, total=total, params=params)


# --- RFPs: the sponsor's side -------------------------------------------------------------------


def _sponsor_rfp(
    session: Session, principal: Principal, rfp_id: uuid.UUID, permission: Permission
) -> Rfp:
    rfp = _rfp(session, principal, rfp_id)
    if not _is_sponsor(principal, rfp):
        # An invited provider may read the RFP, but nothing of the sponsor's side exists for it.
        raise NotFound("no such RFP")
    principal.require(permission, rfp.sponsor_id)
    return rfp


def _require_status(rfp: Rfp, *allowed: RfpStatus, action: str) -> None:
    if rfp.status not in {s.value for s in allowed}:
        raise Conflict(
            f"cannot {action} an RFP that is {rfp.status} "
            f"(only when {' or '.join(s.value for s in allowed)})"
        )


def _apply_fields(rfp: Rfp, data: RfpCreate | RfpUpdate) -> None:
    if data.bid_deadline <= utcnow():
        raise Invalid(
            "the bid deadline must be in the future", field_errors={"bid_deadline": "in the past"}
        )
    overlap = set(data.allowed_countries) & set(data.excluded_countries)
    if overlap:
        raise Invalid(
            f"{', '.join(sorted(overlap))} both allowed and excluded",
            field_errors={"excluded_countries": "a country cannot be allowed and excluded"},
        )
    lots = []
    for number, lot in enumerate(data.lots, start=1):
        if parties.catalog().get(lot.service_code) is None:
            raise Invalid(
                f"lot {number}: unknown service code {lot.service_code!r}",
                field_errors={f"lots.{number}.service_code": "choose a catalog service"},
            )
        lots.append(
            (
                number,
                lot.title,
                lot.service_code,
                validate_scope(lot.service_code, lot.scope, lot=number),
            )
        )
    rfp.title = data.title
    rfp.background = data.background
    rfp.bid_deadline = data.bid_deadline
    rfp.weight_price = data.weights.price
    rfp.weight_time = data.weights.time
    rfp.weight_quality = data.weights.quality
    rfp.weight_risk = data.weights.risk
    rfp.required_certifications = [c.value for c in data.required_certifications]
    rfp.allowed_countries = list(data.allowed_countries)
    rfp.excluded_countries = list(data.excluded_countries)
    rfp.budget_amount = data.budget_amount
    rfp.budget_currency = data.budget_currency
    rfp.budget_shared = data.budget_shared
    rfp.base_currency = data.base_currency
    existing = {lot.number: lot for lot in rfp.lots}
    for number, title, code, scope in lots:
        kept = existing.pop(number, None)
        if kept is None:
            rfp.lots.append(Lot(number=number, title=title, service_code=code, scope=scope))
        else:
            kept.title, kept.service_code, kept.scope = title, code, scope
    for stale in existing.values():
        rfp.lots.remove(stale)


def create_rfp(session: Session, principal: Principal, data: RfpCreate) -> RfpRead:
    program = repository.program(session, data.program_id, principal.organization_ids)
    if program is None:
        raise Invalid("no such program", field_errors={"program_id": "choose one of your programs"})
    principal.require(Permission.RFPS_WRITE, program.sponsor_id)
    rfp = Rfp(sponsor_id=program.sponsor_id, program_id=program.id, status=RfpStatus.DRAFT.value)
    rfp.program = program
    rfp.lots = []
    _apply_fields(rfp, data)
    session.add(rfp)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="rfp",
        entity_id=rfp.id,
        actor=principal,
        organization_id=rfp.sponsor_id,
        after={**audit.snapshot(rfp, RFP_FIELDS), "lots": [lot.service_code for lot in rfp.lots]},
    )
    return _rfp_read(session, principal, rfp)


def update_rfp(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: RfpUpdate
) -> RfpRead:
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_WRITE)
    check_version("RFP", rfp.version, data.version)
    _require_status(rfp, RfpStatus.DRAFT, action="edit")
    before = audit.snapshot(rfp, RFP_FIELDS)
    after: dict[str, object] = {}
    if data.base_currency != rfp.base_currency and rfp.exchange_rates:
        # Each rate is the value of one unit in the old base currency: kept under the new one,
        # every converted price would be off by the two bases' ratio.
        before["exchange_rates"], after["exchange_rates"] = dict(rfp.exchange_rates), {}
        rfp.exchange_rates = {}
    _apply_fields(rfp, data)
    rfp.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        action="update",
        entity_type="rfp",
        entity_id=rfp.id,
        actor=principal,
        organization_id=rfp.sponsor_id,
        before=before,
        after={**audit.snapshot(rfp, RFP_FIELDS), **after},
    )
    return _rfp_read(session, principal, rfp)


def _transition(
    session: Session, principal: Principal, rfp: Rfp, to: RfpStatus, *, reason: str | None = None
) -> None:
    audit.change_status(
        session,
        rfp,
        to.value,
        entity_type="rfp",
        actor=principal,
        organization_id=rfp.sponsor_id,
        reason=reason,
    )


def publish_rfp(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: Transition
) -> RfpRead:
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_WRITE)
    check_version("RFP", rfp.version, data.version)
    _require_status(rfp, RfpStatus.DRAFT, action="publish")
    if rfp.bid_deadline <= utcnow():
        raise Invalid(
            "the bid deadline has passed; set a new one before publishing",
            field_errors={"bid_deadline": "in the past"},
        )
    if not rfp.invitations:
        raise Invalid("invite at least one provider before publishing")
    rfp.published_at = utcnow()
    _transition(session, principal, rfp, RfpStatus.PUBLISHED)
    notifications.notify(
        session,
        [i.provider_id for i in rfp.invitations],
        kind="invited",
        message=f"You are invited to bid on “{rfp.title}” by {rfp.bid_deadline:%Y-%m-%d %H:%M} UTC.",
        link=f"/rfps/{rfp.id}",
    )
    return _rfp_read(session, principal, rfp)


def cancel_rfp(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: CancelRfp
) -> RfpRead:
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_WRITE)
    check_version("RFP", rfp.version, data.version)
    _require_status(rfp, RfpStatus.DRAFT, RfpStatus.PUBLISHED, RfpStatus.CLOSED, action="cancel")
    if repository.awards(session, rfp.id):
        raise Conflict(
            "lots of this RFP are already awarded under e-signature; it cannot be cancelled"
        )
    rfp.cancelled_reason = data.reason
    _transition(session, principal, rfp, RfpStatus.CANCELLED, reason=data.reason)
    if rfp.published_at is not None:
        notifications.notify(
            session,
            [i.provider_id for i in rfp.invitations],
            kind="rfp_cancelled",
            message=f"“{rfp.title}” was cancelled: {data.reason}",
            link=f"/rfps/{rfp.id}",
        )
    return _rfp_read(session, principal, rfp)


def _keep_awarded_rates(session: Session, rfp: Rfp, rates: dict[str, Decimal]) -> None:
    """Refuse new rates that would change (or drop) the rate an awarded offer was priced at.

    The award's amount is signed at those rates, and the work order converts the offer's lines
    at them (``awarded_work``): a new rate would make the milestones disagree with the award.
    """
    awards = repository.awards(session, rfp.id)
    if not awards:
        return
    bids = {b.id: b for b in repository.submitted_bids(session, rfp.id)}
    numbers = {lot.id: lot.number for lot in rfp.lots}
    for award in sorted(awards, key=lambda a: numbers[a.lot_id]):
        bid = bids.get(award.bid_id)
        offer = next((bl for bl in bid.lots if bl.lot_id == award.lot_id), None) if bid else None
        used = {line.currency for line in offer.lines} if offer else set()
        for currency in sorted(used - {rfp.base_currency}):
            old = rfp.exchange_rates.get(currency)
            if old is not None and rates.get(currency) != Decimal(old):
                raise Conflict(
                    f"lot {numbers[award.lot_id]} is awarded at {currency} {old}; that rate can "
                    "no longer change (rates of other currencies can)"
                )


def set_exchange_rates(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: ExchangeRates
) -> RfpRead:
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_WRITE)
    check_version("RFP", rfp.version, data.version)
    _require_status(
        rfp,
        RfpStatus.DRAFT,
        RfpStatus.PUBLISHED,
        RfpStatus.CLOSED,
        action="change the exchange rates of",
    )
    _keep_awarded_rates(session, rfp, data.rates)
    before = dict(rfp.exchange_rates)
    rfp.exchange_rates = {
        code: str(rate) for code, rate in data.rates.items() if code != rfp.base_currency
    }
    rfp.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        action="update",
        entity_type="rfp",
        entity_id=rfp.id,
        actor=principal,
        organization_id=rfp.sponsor_id,
        before={"exchange_rates": before},
        after={"exchange_rates": rfp.exchange_rates},
    )
    return _rfp_read(session, principal, rfp)


# --- invitations --------------------------------------------------------------------------------


def _eligibility(
    session: Session, principal: Principal, rfp: Rfp, provider_id: uuid.UUID
) -> tuple[bool, str, str | None]:
    """Whether a provider may be invited, the warning to show, and its qualification status."""
    qualification = parties.qualification_of(session, principal, rfp.sponsor_id, provider_id)
    status = qualification.status.value if qualification else None
    if qualification and qualification.expired:
        status = "expired"
    profile = parties.provider_profile(session, principal, provider_id)
    countries = {profile.country} | {s.country for s in profile.sites}
    if status == "disqualified":
        return False, "disqualified by your organisation", status
    if rfp.excluded_countries and countries <= set(rfp.excluded_countries):
        return False, "every site is in an excluded country", status
    if rfp.allowed_countries and not countries & set(rfp.allowed_countries):
        return False, "no site in an allowed country", status
    warnings = []
    if status == "conditional":
        warnings.append("conditionally qualified")
    elif status == "expired":
        warnings.append("qualification expired")
    elif status is None:
        warnings.append("not yet qualified")
    today = utcnow().date()
    valid = {
        c.standard
        for c in profile.certifications
        if c.valid_until is None or c.valid_until >= today
    }
    missing = [c for c in rfp.required_certifications if c not in valid]
    if missing:
        warnings.append(f"no valid {', '.join(missing)} certificate")
    return True, "; ".join(warnings), status


def suggest_providers(
    session: Session, principal: Principal, rfp_id: uuid.UUID
) -> list[MatchSuggestion]:
    """Providers offering at least one lot's service, best matches (most lots) first."""
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_READ)
    matched: dict[uuid.UUID, list[int]] = defaultdict(list)
    names: dict[uuid.UUID, tuple[str, str]] = {}
    for lot in rfp.lots:
        hits = parties.search_directory(
            session,
            principal,
            service_code=lot.service_code,
            params=PageParams(page=1, page_size=100),
            unpaged=True,
        )
        for hit in hits.items:
            matched[hit.organization.id].append(lot.number)
            names[hit.organization.id] = (hit.organization.name, hit.organization.country)
    invited = {i.provider_id for i in rfp.invitations}
    suggestions = []
    for provider_id, lots in matched.items():
        if provider_id in invited:
            continue
        can_invite, warning, status = _eligibility(session, principal, rfp, provider_id)
        suggestions.append(
            MatchSuggestion(
                provider_id=provider_id,
                provider_name=names[provider_id][0],
                country=names[provider_id][1],
                matched_lots=lots,
                qualification_status=status,
                can_invite=can_invite,
                warning=warning,
            )
        )
    order = {"approved": 0, "conditional": 1, None: 2, "expired": 3, "disqualified": 4}
    suggestions.sort(
        key=lambda s: (
            not s.can_invite,
            -len(s.matched_lots),
            order.get(s.qualification_status, 5),
            s.provider_name,
        )
    )
    return suggestions


def invite(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: InvitationCreate
) -> RfpRead:
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_WRITE)
    _require_status(rfp, RfpStatus.DRAFT, RfpStatus.PUBLISHED, action="invite providers to")
    if rfp.status == RfpStatus.PUBLISHED and _deadline_passed(rfp):
        raise Conflict("the bid deadline has passed")
    try:
        provider = parties.provider_profile(session, principal, data.provider_id)
    except NotFound:
        raise Invalid(
            "no such provider", field_errors={"provider_id": "choose a provider"}
        ) from None
    if any(i.provider_id == provider.id for i in rfp.invitations):
        raise Conflict(f"{provider.name} is already invited")
    can_invite, warning, _ = _eligibility(session, principal, rfp, provider.id)
    if not can_invite:
        raise Invalid(
            f"{provider.name} cannot be invited: {warning}", field_errors={"provider_id": warning}
        )
    if "conditionally qualified" in warning and not data.acknowledge_warning:
        raise Invalid(
            f"{provider.name} is only conditionally qualified; confirm to invite anyway",
            field_errors={"acknowledge_warning": "confirm the warning"},
        )
    invitation = Invitation(rfp_id=rfp.id, provider_id=provider.id, warning=warning)
    rfp.invitations.append(invitation)
    session.flush()
    session.refresh(invitation, ["provider"])
    audit.record(
        session,
        action="invite",
        entity_type="rfp",
        entity_id=rfp.id,
        actor=principal,
        organization_id=rfp.sponsor_id,
        after={"provider": provider.name, "warning": warning},
    )
    if rfp.status == RfpStatus.PUBLISHED:
        notifications.notify(
            session,
            [provider.id],
            kind="invited",
            message=f"You are invited to bid on “{rfp.title}” by {rfp.bid_deadline:%Y-%m-%d %H:%M} UTC.",
            link=f"/rfps/{rfp.id}",
        )
    return _rfp_read(session, principal, rfp)


# --- questions and answers ----------------------------------------------------------------------


def list_questions(session: Session, principal: Principal, rfp_id: uuid.UUID) -> list[QuestionRead]:
    """The sponsor sees every question; an invitee sees its own and every answered one."""
    rfp = _rfp(session, principal, rfp_id)
    sponsor_view = _is_sponsor(principal, rfp)
    mine = _my_invited_provider(principal, rfp)
    return [
        QuestionRead(
            id=q.id,
            question=q.question,
            answer=q.answer,
            asked_at=q.created_at,
            answered_at=q.answered_at,
            asked_by_you=q.asked_by_provider_id == mine,
            version=q.version,
        )
        for q in repository.questions(session, rfp.id)
        if sponsor_view or q.answer is not None or q.asked_by_provider_id == mine
    ]


def ask(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: QuestionCreate
) -> QuestionRead:
    rfp = _rfp(session, principal, rfp_id)
    provider_id = _my_invited_provider(principal, rfp)
    if provider_id is None:
        raise NotPermitted("only invited providers ask questions")
    principal.require(Permission.BIDS_WRITE, provider_id)
    _require_status(rfp, RfpStatus.PUBLISHED, action="ask about")
    question = Question(rfp_id=rfp.id, asked_by_provider_id=provider_id, question=data.question)
    session.add(question)
    session.flush()
    audit.record(
        session,
        action="ask",
        entity_type="rfp_question",
        entity_id=question.id,
        actor=principal,
        organization_id=provider_id,
        after={"rfp_id": str(rfp.id), "question": data.question},
    )
    notifications.notify(
        session,
        [rfp.sponsor_id],
        kind="question",
        message=f"A question on “{rfp.title}” awaits an answer.",
        link=f"/rfps/{rfp.id}",
    )
    return QuestionRead(
        id=question.id,
        question=question.question,
        answer=None,
        asked_at=question.created_at,
        answered_at=None,
        asked_by_you=True,
        version=question.version,
    )


def answer(
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    question_id: uuid.UUID,
    data: AnswerCreate,
) -> QuestionRead:
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_WRITE)
    question = repository.question(session, question_id)
    if question is None or question.rfp_id != rfp.id:
        raise NotFound("no such question")
    check_version("question", question.version, data.version)
    _require_status(rfp, RfpStatus.PUBLISHED, action="answer questions on")
    question.answer = data.answer
    question.answered_at = utcnow()
    session.flush()
    audit.record(
        session,
        action="answer",
        entity_type="rfp_question",
        entity_id=question.id,
        actor=principal,
        organization_id=rfp.sponsor_id,
        after={"answer": data.answer},
    )
    notifications.notify(
        session,
        [i.provider_id for i in rfp.invitations],
        kind="question_answered",
        message=f"A question on “{rfp.title}” was answered for all invitees.",
        link=f"/rfps/{rfp.id}",
    )
    return QuestionRead(
        id=question.id,
        question=question.question,
        answer=question.answer,
        asked_at=question.created_at,
        answered_at=question.answered_at,
        asked_by_you=False,
        version=question.version,
    )


# --- sealed bids --------------------------------------------------------------------------------


def _totals(lines: Sequence[BidLine]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        totals[line.currency] += line.amount
    return dict(sorted(totals.items()))


def _bid_read(bid: Bid, rfp: Rfp) -> BidRead:
    numbers = {lot.id: lot.number for lot in rfp.lots}
    return BidRead(
        id=bid.id,
        rfp_id=bid.rfp_id,
        provider_id=bid.provider_id,
        provider_name=bid.provider.name,
        status=BidStatus(bid.status),
        submitted_at=bid.submitted_at,
        notes=bid.notes,
        version=bid.version,
        lots=[
            BidLotRead(
                lot_id=bl.lot_id,
                lot_number=numbers.get(bl.lot_id, 0),
                start_date=bl.start_date,
                duration_days=bl.duration_days,
                assumptions=bl.assumptions,
                lines=[BidLineRead.model_validate(line) for line in bl.lines],
                totals=_totals(bl.lines),
            )
            for bl in sorted(bid.lots, key=lambda bl: numbers.get(bl.lot_id, 0))
        ],
        attachments=_attachment_reads(bid.attachments),
    )


def _bidder(session: Session, principal: Principal, rfp_id: uuid.UUID) -> tuple[Rfp, uuid.UUID]:
    rfp = _rfp(session, principal, rfp_id)
    provider_id = _my_invited_provider(principal, rfp)
    if provider_id is None:
        raise (
            NotFound("no such RFP")
            if not _is_sponsor(principal, rfp)
            else NotPermitted("sponsors do not bid on their own RFPs")
        )
    return rfp, provider_id


def _open_for_bids(rfp: Rfp) -> None:
    if rfp.status == RfpStatus.PUBLISHED and not _deadline_passed(rfp):
        return
    if rfp.status in (RfpStatus.PUBLISHED, RfpStatus.CLOSED, RfpStatus.AWARDED) or _deadline_passed(
        rfp
    ):
        raise Conflict(
            f"the bid deadline passed at {rfp.bid_deadline:%Y-%m-%d %H:%M} UTC; bids are frozen "
            "and late submissions are refused"
        )
    raise Conflict(f"this RFP is {rfp.status}; it does not take bids")


def my_bid(session: Session, principal: Principal, rfp_id: uuid.UUID) -> BidRead:
    rfp, provider_id = _bidder(session, principal, rfp_id)
    principal.require(Permission.BIDS_READ, provider_id)
    bid = repository.bid_of(session, rfp.id, provider_id)
    if bid is None:
        raise NotFound("you have not started a bid on this RFP")
    return _bid_read(bid, rfp)


def save_bid(session: Session, principal: Principal, rfp_id: uuid.UUID, data: BidInput) -> BidRead:
    """Create or revise the provider's bid (a draft, or a submitted bid being revised)."""
    rfp, provider_id = _bidder(session, principal, rfp_id)
    principal.require(Permission.BIDS_WRITE, provider_id)
    _open_for_bids(rfp)
    lots = {lot.id: lot for lot in rfp.lots}
    unknown = [str(bl.lot_id) for bl in data.lots if bl.lot_id not in lots]
    if unknown:
        raise Invalid(
            "lot(s) not in this RFP: " + ", ".join(unknown), field_errors={"lots": "unknown lot"}
        )
    if len({bl.lot_id for bl in data.lots}) != len(data.lots):
        raise Invalid("each lot appears once in a bid", field_errors={"lots": "duplicate lot"})
    bid = repository.bid_of(session, rfp.id, provider_id)
    if bid is None:
        if data.version is not None:
            raise Conflict("there is no bid to revise; omit the version to start one")
        bid = Bid(rfp_id=rfp.id, provider_id=provider_id, status=BidStatus.DRAFT.value, lots=[])
        session.add(bid)
        action = "create"
    else:
        if data.version is None:
            raise Conflict("you already have a bid on this RFP; send its version to revise it")
        check_version("bid", bid.version, data.version)
        if bid.status == BidStatus.WITHDRAWN:
            bid.status = BidStatus.DRAFT.value
        action = "revise" if bid.status == BidStatus.SUBMITTED else "update"
    bid.notes = data.notes
    bid.lots.clear()
    session.flush()
    for offer in data.lots:
        bid.lots.append(
            BidLot(
                lot_id=offer.lot_id,
                start_date=offer.start_date,
                duration_days=offer.duration_days,
                assumptions=offer.assumptions,
                lines=[
                    BidLine(position=n, **line.model_dump())
                    for n, line in enumerate(offer.lines, start=1)
                ],
            )
        )
    bid.updated_at = utcnow()
    session.flush()
    session.refresh(bid, ["provider"])
    # The audit trail records that the bid changed, not its sealed content.
    audit.record(
        session,
        action=action,
        entity_type="bid",
        entity_id=bid.id,
        actor=principal,
        organization_id=provider_id,
        after={"rfp_id": str(rfp.id), "status": bid.status, "lots": len(bid.lots)},
    )
    return _bid_read(bid, rfp)


def _set_bid_status(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: Transition, to: BidStatus
) -> BidRead:
    rfp, provider_id = _bidder(session, principal, rfp_id)
    principal.require(Permission.BIDS_WRITE, provider_id)
    _open_for_bids(rfp)
    bid = repository.bid_of(session, rfp.id, provider_id)
    if bid is None:
        raise NotFound("you have not started a bid on this RFP")
    check_version("bid", bid.version, data.version)
    allowed_from = {
        BidStatus.SUBMITTED: {BidStatus.DRAFT},
        BidStatus.WITHDRAWN: {BidStatus.DRAFT, BidStatus.SUBMITTED},
    }
    if BidStatus(bid.status) not in allowed_from[to]:
        raise Conflict(f"a {bid.status} bid cannot be {to.value}")
    if to == BidStatus.SUBMITTED and not bid.lots:
        raise Invalid("a bid offers at least one lot")
    before = bid.status
    bid.status = to.value
    bid.submitted_at = utcnow() if to == BidStatus.SUBMITTED else None
    bid.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        action=to.value,
        entity_type="bid",
        entity_id=bid.id,
        actor=principal,
        organization_id=provider_id,
        before={"status": before},
        after={"status": bid.status},
    )
    if to == BidStatus.SUBMITTED:
        notifications.notify(
            session,
            [rfp.sponsor_id],
            kind="bid_received",
            message=f"A bid arrived on “{rfp.title}” (sealed until the deadline).",
            link=f"/rfps/{rfp.id}",
        )
    return _bid_read(bid, rfp)


def submit_bid(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: Transition
) -> BidRead:
    return _set_bid_status(session, principal, rfp_id, data, BidStatus.SUBMITTED)


def withdraw_bid(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: Transition
) -> BidRead:
    return _set_bid_status(session, principal, rfp_id, data, BidStatus.WITHDRAWN)


def received_bids(
    session: Session, principal: Principal, rfp_id: uuid.UUID
) -> list[BidReceipt] | list[BidRead]:
    """The sponsor's view of the bids: receipts until the deadline, the bids after it."""
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_READ)
    bids = sorted(repository.submitted_bids(session, rfp.id), key=lambda b: b.provider.name)
    if not _deadline_passed(rfp):
        return [
            BidReceipt(
                provider_id=b.provider_id,
                provider_name=b.provider.name,
                submitted_at=b.submitted_at,
            )
            for b in bids
        ]
    return [_bid_read(b, rfp) for b in bids]


# --- comparison and award -----------------------------------------------------------------------


def _rate(rfp: Rfp, currency: str) -> Decimal:
    if currency == rfp.base_currency:
        return Decimal(1)
    if currency not in rfp.exchange_rates:
        raise Invalid(
            f"enter an exchange rate for {currency} → {rfp.base_currency} to compare the bids",
            field_errors={"rates": f"missing {currency}"},
        )
    return Decimal(rfp.exchange_rates[currency])


def _check_rates(rfp: Rfp, bids: Sequence[Bid]) -> None:
    """Name every currency that still needs a rate, all at once."""
    used = {line.currency for bid in bids for bl in bid.lots for line in bl.lines}
    missing = sorted(used - set(rfp.exchange_rates) - {rfp.base_currency})
    if missing:
        raise Invalid(
            f"enter exchange rates for {', '.join(missing)} → {rfp.base_currency} to compare the bids",
            field_errors={"rates": "missing " + ", ".join(missing)},
        )


def _in_base(rfp: Rfp, lines: Sequence[BidLine]) -> Decimal:
    return sum(((line.amount * _rate(rfp, line.currency)) for line in lines), Decimal(0)).quantize(
        CENT, ROUND_HALF_UP
    )


def quality_score(qualification_score: float, record: TrackRecord) -> float:
    """Half the sponsor's qualification, half the provider's history with this sponsor.

    The history part is the mean of the on-time rate of accepted milestones and the first-pass
    acceptance rate of submissions (whichever exist); with no history, quality is the
    qualification score alone.
    """
    parts = [p for p in (record.on_time_percent, record.first_pass_percent) if p is not None]
    if not parts:
        return qualification_score
    return 0.5 * qualification_score + 0.5 * sum(parts) / len(parts)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _days_after(start: date, days: int) -> date:
    """``start`` plus ``days``, held at the last representable date: a bid stored before its
    dates were bounded (start 9999-12-31) still compares, its work simply never ends."""
    try:
        return start + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def compare(session: Session, principal: Principal, rfp_id: uuid.UUID) -> Comparison:
    """Per lot: price in one currency, duration, quality, risk flags and the weighted score."""
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_READ)
    if not _deadline_passed(rfp) or rfp.status in (RfpStatus.DRAFT, RfpStatus.PUBLISHED):
        raise Conflict("bids are sealed until the deadline; compare them once the RFP has closed")
    weights = Weights(
        price=rfp.weight_price,
        time=rfp.weight_time,
        quality=rfp.weight_quality,
        risk=rfp.weight_risk,
    )
    awards = {a.lot_id: a for a in repository.awards(session, rfp.id)}
    bids = repository.submitted_bids(session, rfp.id)
    _check_rates(rfp, bids)
    today = utcnow().date()
    history = parties.track_records(
        session, principal, rfp.sponsor_id, (b.provider_id for b in bids)
    )
    lots: list[LotComparison] = []
    for lot in rfp.lots:
        offers = [(bid, bl) for bid in bids for bl in bid.lots if bl.lot_id == lot.id]
        prices = {bid.id: _in_base(rfp, bl.lines) for bid, bl in offers}
        median = (
            Decimal(statistics.median(prices.values())).quantize(CENT, ROUND_HALF_UP)
            if prices
            else None
        )
        cheapest = min(prices.values(), default=Decimal(0))
        fastest = min((bl.duration_days for _, bl in offers), default=0)
        rows = []
        for bid, bl in offers:
            qualification = parties.qualification_of(
                session, principal, rfp.sponsor_id, bid.provider_id
            )
            status = (
                None
                if qualification is None
                else ("expired" if qualification.expired else qualification.status.value)
            )
            profile = parties.provider_profile(session, principal, bid.provider_id)
            flags: list[str] = []
            if len(offers) == 1:
                flags.append("single bidder")
            work_ends = _days_after(bl.start_date, bl.duration_days)
            for standard in rfp.required_certifications:
                expiries = [
                    c.valid_until
                    for c in profile.certifications
                    if c.standard == standard and (c.valid_until is None or c.valid_until >= today)
                ]
                if not expiries:
                    flags.append(f"no valid {standard} certificate")
                elif all(e is not None and e < work_ends for e in expiries):
                    flags.append(f"{standard} certificate expires before the work ends")
            for disruption in parties.disruptions_covering(
                session, rfp.sponsor_id, profile.country, bl.start_date, work_ends
            ):
                flags.append(f"{disruption.place} under a declared disruption: {disruption.title}")
            price = prices[bid.id]
            if median and len(offers) >= 3 and abs(price - median) / median > PRICE_OUTLIER:
                flags.append(
                    f"price {'below' if price < median else 'above'} the median by more than 30%"
                )
            record = history[bid.provider_id]
            quality = quality_score(QUALITY_BY_QUALIFICATION.get(status, 0.0), record)
            price_score = float(cheapest / price * 100) if price else 0.0
            time_score = fastest / bl.duration_days * 100
            risk_score = max(0.0, 100.0 - 25.0 * len(flags))
            weighted = (
                weights.price * price_score
                + weights.time * time_score
                + weights.quality * quality
                + weights.risk * risk_score
            ) / 100
            rows.append(
                ComparisonRow(
                    bid_id=bid.id,
                    provider_id=bid.provider_id,
                    provider_name=bid.provider.name,
                    country=profile.country,
                    price=price,
                    duration_days=bl.duration_days,
                    start_date=bl.start_date,
                    qualification_status=status,
                    quality_score=round(quality, 1),
                    on_time_percent=_rounded(record.on_time_percent),
                    first_pass_percent=_rounded(record.first_pass_percent),
                    milestones_delivered=record.milestones_accepted,
                    price_score=round(price_score, 1),
                    time_score=round(time_score, 1),
                    risk_score=round(risk_score, 1),
                    risk_flags=flags,
                    weighted_score=round(weighted, 2),
                    rank=0,
                    awarded=lot.id in awards and awards[lot.id].bid_id == bid.id,
                )
            )
        rows.sort(key=lambda r: (-r.weighted_score, r.price, r.provider_name))
        for rank, row in enumerate(rows, start=1):
            row.rank = rank
        lots.append(
            LotComparison(
                lot_id=lot.id,
                lot_number=lot.number,
                title=lot.title,
                service_code=lot.service_code,
                base_currency=rfp.base_currency,
                median_price=median,
                rows=rows,
                awarded_bid_id=awards[lot.id].bid_id if lot.id in awards else None,
            )
        )
    return Comparison(rfp_id=rfp.id, weights=weights, base_currency=rfp.base_currency, lots=lots)


def _award_read(session: Session, principal: Principal, award: Award, rfp: Rfp) -> AwardRead:
    signature = next(s for s in signatures.signatures_of(session, "award", award.id))
    numbers = {lot.id: lot.number for lot in rfp.lots}
    provider = parties.get_organization(session, principal, award.provider_id)
    return AwardRead(
        id=award.id,
        rfp_id=award.rfp_id,
        lot_id=award.lot_id,
        lot_number=numbers[award.lot_id],
        bid_id=award.bid_id,
        provider_id=award.provider_id,
        provider_name=provider.name,
        amount=award.amount,
        currency=award.currency,
        rationale=award.rationale,
        signature=SignatureRead.model_validate(signature),
    )


def award_lot(
    session: Session, principal: Principal, rfp_id: uuid.UUID, lot_id: uuid.UUID, data: AwardCreate
) -> AwardRead:
    """Give one lot to one bid, e-signed; the RFP is awarded when every lot is."""
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_AWARD)
    _require_status(rfp, RfpStatus.CLOSED, action="award")
    # The comparison the sponsor signs from was read at this version: new exchange rates (new
    # amounts) or another award since, and the signature would cover what nobody looked at.
    check_version("RFP", rfp.version, data.version)
    lot = next((lot for lot in rfp.lots if lot.id == lot_id), None)
    if lot is None:
        raise NotFound("no such lot")
    if any(a.lot_id == lot.id for a in repository.awards(session, rfp.id)):
        raise Conflict(f"lot {lot.number} is already awarded")
    bid = next((b for b in repository.submitted_bids(session, rfp.id) if b.id == data.bid_id), None)
    offer = next((bl for bl in bid.lots if bl.lot_id == lot.id), None) if bid else None
    if bid is None or offer is None:
        raise Invalid(
            "that bid did not offer this lot", field_errors={"bid_id": "choose a bid on this lot"}
        )
    qualification = parties.qualification_of(session, principal, rfp.sponsor_id, bid.provider_id)
    if qualification is not None and qualification.status.value == "disqualified":
        raise Invalid(
            f"{bid.provider.name} is disqualified; it cannot be awarded",
            field_errors={"bid_id": "disqualified"},
        )
    try:
        meaning = SignatureMeaning(data.meaning)
    except ValueError:
        raise Invalid(
            "unknown signature meaning", field_errors={"meaning": "use awarded or approved"}
        ) from None
    amount = _in_base(rfp, offer.lines)
    # Every award bumps the RFP's version, before anything else is written (the RFP row, then
    # the audit chain: the order every RFP transition takes). Of an award and a cancellation,
    # an award and the finish of the award, or two awards at once, the second fails here (409)
    # instead of both passing their checks: no cancelled RFP holding an e-signed award, no RFP
    # left closed with every lot awarded.
    rfp.updated_at = utcnow()
    session.flush()
    award_id = uuid.uuid4()
    signature = signatures.sign(
        session,
        principal,
        password=data.password,
        meaning=meaning,
        entity_type="award",
        entity_id=award_id,
        organization_id=rfp.sponsor_id,
        record={
            "rfp_id": rfp.id,
            "lot_id": lot.id,
            "bid_id": bid.id,
            "bid_version": bid.version,
            "amount": amount,
            "currency": rfp.base_currency,
        },
    )
    award = Award(
        id=award_id,
        rfp_id=rfp.id,
        lot_id=lot.id,
        bid_id=bid.id,
        provider_id=bid.provider_id,
        amount=amount,
        currency=rfp.base_currency,
        signature_id=signature.id,
        rationale=data.rationale,
    )
    session.add(award)
    session.flush()
    audit.record(
        session,
        action="award",
        entity_type="rfp",
        entity_id=rfp.id,
        actor=principal,
        organization_id=rfp.sponsor_id,
        after={
            "lot": lot.number,
            "provider": bid.provider.name,
            "amount": amount,
            "currency": rfp.base_currency,
        },
        reason=data.rationale or None,
    )
    notifications.notify(
        session,
        [bid.provider_id],
        kind="awarded",
        message=f"You won lot {lot.number} of “{rfp.title}”.",
        link=f"/rfps/{rfp.id}",
    )
    losers = {
        b.provider_id
        for b in repository.submitted_bids(session, rfp.id)
        if b.id != bid.id and any(bl.lot_id == lot.id for bl in b.lots)
    }
    notifications.notify(
        session,
        losers,
        kind="not_awarded",
        message=f"Lot {lot.number} of “{rfp.title}” went to another bidder.",
        link=f"/rfps/{rfp.id}",
    )
    if {a.lot_id for a in repository.awards(session, rfp.id)} == {lot.id for lot in rfp.lots}:
        _transition(session, principal, rfp, RfpStatus.AWARDED)
    return _award_read(session, principal, award, rfp)


def finish_award(
    session: Session, principal: Principal, rfp_id: uuid.UUID, data: FinishAward
) -> RfpRead:
    """End the award with some lots awarded and the rest left without an award."""
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_AWARD)
    check_version("RFP", rfp.version, data.version)
    _require_status(rfp, RfpStatus.CLOSED, action="finish the award of")
    awarded = {a.lot_id for a in repository.awards(session, rfp.id)}
    if not awarded:
        raise Conflict("no lot is awarded yet: award at least one lot first, or cancel the RFP")
    left = [lot for lot in rfp.lots if lot.id not in awarded]
    numbers = ", ".join(str(lot.number) for lot in left)
    rfp.unawarded_reason = data.reason
    _transition(
        session,
        principal,
        rfp,
        RfpStatus.AWARDED,
        reason=f"lot(s) {numbers} not awarded: {data.reason}",
    )
    for lot in left:
        bidders = {
            b.provider_id
            for b in repository.submitted_bids(session, rfp.id)
            if any(bl.lot_id == lot.id for bl in b.lots)
        }
        notifications.notify(
            session,
            bidders,
            kind="not_awarded",
            message=f"Lot {lot.number} of “{rfp.title}” was not awarded: {data.reason}",
            link=f"/rfps/{rfp.id}",
        )
    return _rfp_read(session, principal, rfp)


def list_awards(session: Session, principal: Principal, rfp_id: uuid.UUID) -> list[AwardRead]:
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_READ)
    numbers = {lot.id: lot.number for lot in rfp.lots}
    awards = sorted(repository.awards(session, rfp.id), key=lambda a: numbers[a.lot_id])
    return [_award_read(session, principal, a, rfp) for a in awards]


def my_outcome(session: Session, principal: Principal, rfp_id: uuid.UUID) -> list[MyOutcome]:
    """A bidder learns, per lot it bid on, whether it won — nothing about the others."""
    rfp, provider_id = _bidder(session, principal, rfp_id)
    bid = repository.bid_of(session, rfp.id, provider_id)
    if bid is None or bid.status != BidStatus.SUBMITTED:
        return []
    awards = {a.lot_id: a for a in repository.awards(session, rfp.id)}
    offered = {bl.lot_id for bl in bid.lots}
    return [
        MyOutcome(
            lot_id=lot.id,
            lot_number=lot.number,
            outcome="awarded"
            if lot.id in awards and awards[lot.id].bid_id == bid.id
            else (
                "pending"
                if lot.id not in awards and rfp.status == RfpStatus.CLOSED
                else "not_awarded"
            ),
        )
        for lot in rfp.lots
        if lot.id in offered
    ]


# --- for contracts: what an award commits to ----------------------------------------------------


@dataclass(frozen=True)
class AwardedWork:
    """An award as the basis of a work order: who, what, from when, priced how."""

    award_id: uuid.UUID
    rfp_title: str
    lot_title: str
    service_code: str
    sponsor_id: uuid.UUID
    provider_id: uuid.UUID
    program_id: uuid.UUID
    start_date: date
    currency: str
    lines: list[tuple[str, str, Decimal, int]]  # description, deliverable, amount, due offset days


def awarded_work(session: Session, principal: Principal, award_id: uuid.UUID) -> AwardedWork:
    """The winning offer behind an award, in one currency (the RFP's base currency when the
    bid's lines mix currencies)."""
    award = repository.award(session, award_id)
    if award is None:
        raise NotFound("no such award")
    try:
        rfp = _sponsor_rfp(session, principal, award.rfp_id, Permission.RFPS_READ)
    except NotFound:
        raise NotFound("no such award") from None
    lot = next(lot for lot in rfp.lots if lot.id == award.lot_id)
    bid = next(b for b in repository.submitted_bids(session, rfp.id) if b.id == award.bid_id)
    offer = next(bl for bl in bid.lots if bl.lot_id == lot.id)
    currencies = {line.currency for line in offer.lines}
    single = next(iter(currencies)) if len(currencies) == 1 else None
    lines = [
        (
            line.description,
            line.deliverable,
            line.amount
            if single
            else (line.amount * _rate(rfp, line.currency)).quantize(CENT, ROUND_HALF_UP),
            line.due_offset_days,
        )
        for line in offer.lines
    ]
    if single is None and lines:
        # Rounding each converted line may miss the award's total by a cent: the last line
        # absorbs the difference, so the work order is worth exactly what was awarded.
        drift = award.amount - sum((line[2] for line in lines), Decimal(0))
        description, deliverable, amount, offset = lines[-1]
        lines[-1] = (description, deliverable, amount + drift, offset)
    return AwardedWork(
        award_id=award.id,
        rfp_title=rfp.title,
        lot_title=lot.title,
        service_code=lot.service_code,
        sponsor_id=rfp.sponsor_id,
        provider_id=award.provider_id,
        program_id=rfp.program_id,
        start_date=offer.start_date,
        currency=single or rfp.base_currency,
        lines=lines,
    )


def programs_named(
    session: Session, principal: Principal, program_ids: Iterable[uuid.UUID]
) -> Sequence[Program]:
    """The principal's programs among the given ids (for other capabilities' reports)."""
    wanted = set(program_ids)
    return [
        p
        for p in repository.programs(session, principal.organization_ids, offset=0, limit=10_000)[0]
        if p.id in wanted
    ]


def program_budgets(session: Session, principal: Principal) -> list[ProgramRead]:
    """The programs with an outsourcing budget that the principal's sponsors may read."""
    rows, _ = repository.programs(
        session, principal.organizations_with(Permission.PROGRAMS_READ), offset=0, limit=10_000
    )
    return [ProgramRead.model_validate(p) for p in rows if p.budget_amount is not None]


DEADLINE_REMINDER = timedelta(hours=48)


def remind_deadlines(session: Session) -> int:
    """Tell invitees without a submitted bid that a deadline is less than 48 hours away (once)."""
    sent = 0
    now = utcnow()
    for rfp in repository.published_before(session, now + DEADLINE_REMINDER):
        if rfp.bid_deadline <= now:
            continue
        submitted = {b.provider_id for b in repository.submitted_bids(session, rfp.id)}
        waiting = [i.provider_id for i in rfp.invitations if i.provider_id not in submitted]
        sent += notifications.notify_once(
            session,
            waiting,
            kind="deadline_near",
            message=f"Bids on “{rfp.title}” close at {rfp.bid_deadline:%Y-%m-%d %H:%M} UTC.",
            link=f"/rfps/{rfp.id}",
        )
    return sent


# --- attachments --------------------------------------------------------------------------------
#
# An RFP's documents are the sponsor's: added while it is a draft or open for bids, removed only
# from a draft (once published, invitees may have read them). A bid's documents are sealed like
# the bid: its provider adds and removes them until the deadline; the sponsor reads them only
# after it. Everyone else gets the 404 of an unknown id.


def _attachment_reads(stored: Iterable[StoredFile]) -> list[AttachmentRead]:
    ordered = sorted(stored, key=lambda f: (f.uploaded_at, f.filename, str(f.id)))
    return [AttachmentRead.model_validate(f) for f in ordered]


def _attached(stored: Iterable[StoredFile], file_id: uuid.UUID) -> StoredFile:
    found = next((f for f in stored if f.id == file_id), None)
    if found is None:
        raise NotFound("no such document")
    return found


def _file_record(stored: StoredFile) -> dict[str, object]:
    return {"document": stored.filename, "sha256": stored.sha256, "size_bytes": stored.size_bytes}


def add_rfp_attachment(
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    filename: str,
    content_type: str,
    content: bytes,
) -> AttachmentRead:
    """Attach a document to a draft or open RFP; invitees of an open one are told."""
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_WRITE)
    _require_status(rfp, RfpStatus.DRAFT, RfpStatus.PUBLISHED, action="add documents to")
    stored = files.store(
        session,
        organization_id=rfp.sponsor_id,
        uploaded_by=principal.user_id,
        filename=filename,
        content_type=content_type,
        content=content,
    )
    rfp.attachments.append(stored)
    session.flush()
    audit.record(
        session,
        action="attach",
        entity_type="rfp",
        entity_id=rfp.id,
        actor=principal,
        organization_id=rfp.sponsor_id,
        after=_file_record(stored),
    )
    if rfp.status == RfpStatus.PUBLISHED:
        notifications.notify(
            session,
            [i.provider_id for i in rfp.invitations],
            kind="rfp_document_added",
            message=f"A document was added to “{rfp.title}”: {stored.filename}.",
            link=f"/rfps/{rfp.id}#documents",
        )
    return AttachmentRead.model_validate(stored)


def remove_rfp_attachment(
    session: Session, principal: Principal, rfp_id: uuid.UUID, file_id: uuid.UUID
) -> AttachmentRead:
    """Take a document off a draft RFP (a published RFP's documents stay: invitees read them);
    returns what was removed."""
    rfp = _sponsor_rfp(session, principal, rfp_id, Permission.RFPS_WRITE)
    stored = _attached(rfp.attachments, file_id)
    _require_status(rfp, RfpStatus.DRAFT, action="remove documents from")
    removed, record = AttachmentRead.model_validate(stored), _file_record(stored)
    rfp.attachments.remove(stored)
    session.flush()
    # The row goes; the bytes stay in the content-addressed store (another row may share them).
    session.delete(stored)
    session.flush()
    audit.record(
        session,
        action="detach",
        entity_type="rfp",
        entity_id=rfp.id,
        actor=principal,
        organization_id=rfp.sponsor_id,
        before=record,
    )
    return removed


def rfp_attachment(
    session: Session, principal: Principal, rfp_id: uuid.UUID, file_id: uuid.UUID
) -> tuple[StoredFile, bytes]:
    """An RFP document's bytes, re-checked against their SHA-256: for the sponsor, and for the
    invitees once the RFP is published (before that the RFP does not exist for them)."""
    rfp = _rfp(session, principal, rfp_id)
    owner = rfp.sponsor_id if _is_sponsor(principal, rfp) else _my_invited_provider(principal, rfp)
    principal.require(Permission.RFPS_READ, owner)
    stored = _attached(rfp.attachments, file_id)
    return stored, files.read_verified(stored)


def _my_editable_bid(session: Session, principal: Principal, rfp_id: uuid.UUID) -> Bid:
    """The principal's own bid, while it may still change (the rules of ``save_bid``)."""
    rfp, provider_id = _bidder(session, principal, rfp_id)
    principal.require(Permission.BIDS_WRITE, provider_id)
    _open_for_bids(rfp)
    bid = repository.bid_of(session, rfp.id, provider_id)
    if bid is None:
        raise NotFound("you have not started a bid on this RFP")
    return bid


def add_bid_attachment(
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    filename: str,
    content_type: str,
    content: bytes,
) -> AttachmentRead:
    """Attach a document to one's own bid before the deadline; it stays sealed with the bid."""
    bid = _my_editable_bid(session, principal, rfp_id)
    stored = files.store(
        session,
        organization_id=bid.provider_id,
        uploaded_by=principal.user_id,
        filename=filename,
        content_type=content_type,
        content=content,
    )
    bid.attachments.append(stored)
    session.flush()
    # Like ``save_bid``: the trail records that the bid changed (and the file's hash), not what
    # the sealed document is called.
    audit.record(
        session,
        action="attach",
        entity_type="bid",
        entity_id=bid.id,
        actor=principal,
        organization_id=bid.provider_id,
        after={"rfp_id": str(rfp_id), "sha256": stored.sha256, "size_bytes": stored.size_bytes},
    )
    return AttachmentRead.model_validate(stored)


def remove_bid_attachment(
    session: Session, principal: Principal, rfp_id: uuid.UUID, file_id: uuid.UUID
) -> AttachmentRead:
    """Take a document off one's own bid before the deadline; returns what was removed."""
    bid = _my_editable_bid(session, principal, rfp_id)
    stored = _attached(bid.attachments, file_id)
    removed = AttachmentRead.model_validate(stored)
    record = {"rfp_id": str(rfp_id), "sha256": stored.sha256, "size_bytes": stored.size_bytes}
    bid.attachments.remove(stored)
    session.flush()
    session.delete(stored)
    session.flush()
    audit.record(
        session,
        action="detach",
        entity_type="bid",
        entity_id=bid.id,
        actor=principal,
        organization_id=bid.provider_id,
        before=record,
    )
    return removed


def bid_attachment(
    session: Session,
    principal: Principal,
    rfp_id: uuid.UUID,
    bid_id: uuid.UUID,
    file_id: uuid.UUID,
) -> tuple[StoredFile, bytes]:
    """A bid document's bytes, re-checked against their SHA-256: for the bidder at any time, for
    the sponsor once the deadline passed (a submitted bid only). Sealed for everyone else: the
    same 404 as an unknown document."""
    rfp = _rfp(session, principal, rfp_id)
    bid: Bid | None = None
    provider_id = _my_invited_provider(principal, rfp)
    if provider_id is not None and principal.can(Permission.BIDS_READ, provider_id):
        mine = repository.bid_of(session, rfp.id, provider_id)
        bid = mine if mine is not None and mine.id == bid_id else None
    if (
        bid is None
        and _is_sponsor(principal, rfp)
        and _deadline_passed(rfp)
        and principal.can(Permission.RFPS_READ, rfp.sponsor_id)
    ):
        bid = next((b for b in repository.submitted_bids(session, rfp.id) if b.id == bid_id), None)
    stored = _attached(bid.attachments if bid is not None else (), file_id)
    return stored, files.read_verified(stored)
