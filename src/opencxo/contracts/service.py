"""Use cases of contracts and money.

Work order: draft → pending_signature → active (both parties signed) → completed | terminated.
Milestone: planned → submitted (with deliverables) → accepted (e-signed; its invoice is drafted in
the same transaction) | rejected (→ submitted again). Invoice: draft → issued → paid (payments may
be partial). Change orders amend milestones once both parties have signed them.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from opencxo.contracts import repository
from opencxo.contracts.models import (
    ChangeOrder,
    ChangeOrderStatus,
    Deliverable,
    Invoice,
    InvoiceStatus,
    Milestone,
    MilestoneStatus,
    Msa,
    Payment,
    WorkOrder,
    WorkOrderStatus,
)
from opencxo.contracts.schemas import (
    EARLIEST_DATE,
    LATEST_DATE,
    ChangeOrderCreate,
    ChangeOrderRead,
    DeliverableRead,
    InvoiceIssue,
    InvoiceRead,
    MilestoneDecision,
    MilestoneRead,
    MsaCreate,
    MsaRead,
    PaymentCreate,
    PaymentRead,
    SignatureRead,
    SignIn,
    SpendReport,
    SpendRow,
    Terminate,
    Transition,
    ValuePoint,
    WorkOrderFromAward,
    WorkOrderRead,
    WorkOrderSummary,
)
from opencxo.core import audit, files, notifications, signatures
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.db import hold
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted, check_version
from opencxo.core.files import StoredFile
from opencxo.core.pagination import Page, PageParams
from opencxo.core.signatures import Signature, SignatureMeaning
from opencxo.core.types import utc_today, utcnow
from opencxo.parties import service as parties
from opencxo.sourcing import service as sourcing

ZERO = Decimal("0.00")
DEFAULT_MSA_YEARS = 5


def _meaning(value: str) -> SignatureMeaning:
    try:
        return SignatureMeaning(value)
    except ValueError:
        raise Invalid(
            f"unknown signature meaning {value!r}",
            field_errors={"meaning": "use " + ", ".join(m.value for m in SignatureMeaning)},
        ) from None


# --- MSAs ---------------------------------------------------------------------------------------


def create_msa(session: Session, principal: Principal, data: MsaCreate) -> MsaRead:
    sponsor_id = data.sponsor_id or _only_sponsor(session, principal)
    if sponsor_id not in principal.organization_ids:
        raise NotFound("no such sponsor")
    principal.require(Permission.CONTRACTS_WRITE, sponsor_id)
    try:
        provider = parties.provider_profile(session, principal, data.provider_id)
    except NotFound:
        raise Invalid(
            "no such provider", field_errors={"provider_id": "choose a provider"}
        ) from None
    if repository.msa_of_pair(session, sponsor_id, provider.id) is not None:
        raise Conflict(f"there is already an MSA with {provider.name}")
    msa = Msa(
        sponsor_id=sponsor_id,
        provider_id=provider.id,
        **data.model_dump(include={"reference", "terms", "effective_date", "expiry_date"}),
    )
    session.add(msa)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="msa",
        entity_id=msa.id,
        actor=principal,
        organization_id=sponsor_id,
        after={"provider": provider.name, "reference": msa.reference},
    )
    return MsaRead.model_validate(msa)


def _only_sponsor(session: Session, principal: Principal) -> uuid.UUID:
    sponsors = [o.id for o in parties.my_organizations(session, principal) if o.kind == "sponsor"]
    if not sponsors:
        raise NotPermitted("only a sponsor organisation creates MSAs with its providers")
    if len(sponsors) != 1:
        raise Invalid("say which sponsor", field_errors={"sponsor_id": "required"})
    return sponsors[0]


def list_msas(session: Session, principal: Principal) -> list[MsaRead]:
    return [MsaRead.model_validate(m) for m in repository.msas(session, principal.organization_ids)]


# --- work orders --------------------------------------------------------------------------------


def _work_order(
    session: Session, principal: Principal, work_order_id: uuid.UUID, *, what: str = "work order"
) -> WorkOrder:
    """The work order if the principal is party to it; else 404 naming ``what`` was asked for,
    so a real id of another organisation answers exactly like an unknown one."""
    found = repository.work_order(session, work_order_id, principal.organization_ids)
    if found is None:
        raise NotFound(f"no such {what}")
    return found


def _side(principal: Principal, work_order: WorkOrder) -> uuid.UUID:
    """The organisation the principal acts for on this work order (sponsor first)."""
    if work_order.sponsor_id in principal.organization_ids:
        return work_order.sponsor_id
    return work_order.provider_id


def _value(work_order: WorkOrder) -> Decimal:
    return sum((m.amount for m in work_order.milestones if not m.removed), ZERO)


def _signature_reads(rows: Sequence[Signature]) -> list[SignatureRead]:
    return [SignatureRead.model_validate(s) for s in rows]


def _awaiting(signed: Sequence[Signature], parties_needed: dict[uuid.UUID, str]) -> list[str]:
    done = {s.organization_id for s in signed}
    return [name for org, name in parties_needed.items() if org not in done]


def _names(session: Session, work_order: WorkOrder) -> dict[uuid.UUID, str]:
    return {
        o.id: o.name
        for o in parties.organizations_named_by_id(
            session, [work_order.sponsor_id, work_order.provider_id]
        )
    }


def _milestone_read(
    session: Session, milestone: Milestone, currency: str, today: date
) -> MilestoneRead:
    invoice = repository.invoice_of_milestone(session, milestone.id)
    return MilestoneRead(
        id=milestone.id,
        position=milestone.position,
        description=milestone.description,
        deliverable=milestone.deliverable,
        amount=milestone.amount,
        currency=currency,
        due_date=milestone.due_date,
        status=MilestoneStatus(milestone.status),
        overdue=milestone.due_date < today
        and milestone.status in (MilestoneStatus.PLANNED, MilestoneStatus.REJECTED),
        submitted_at=milestone.submitted_at,
        decided_at=milestone.decided_at,
        rejection_reason=milestone.rejection_reason,
        invoice_id=invoice.id if invoice else None,
        deliverables=[
            DeliverableRead(
                id=d.id,
                filename=d.file.filename,
                content_type=d.file.content_type,
                size_bytes=d.file.size_bytes,
                sha256=d.file.sha256,
                note=d.note,
                uploaded_at=d.file.uploaded_at,
            )
            for d in milestone.deliverables
        ],
        signatures=_signature_reads(signatures.signatures_of(session, "milestone", milestone.id)),
        version=milestone.version,
    )


def _value_history(session: Session, work_order: WorkOrder) -> list[ValuePoint]:
    applied = [
        c
        for c in repository.change_orders(session, work_order.id)
        if c.status == ChangeOrderStatus.APPLIED
    ]
    start = applied[0].value_before if applied else _value(work_order)
    points = [ValuePoint(at=work_order.created_at, value=start, change="work order")]
    points += [
        ValuePoint(
            at=c.applied_at or c.updated_at, value=c.value_after, change=f"change order {c.number}"
        )
        for c in applied
    ]
    return points


def _work_order_read(
    session: Session, principal: Principal, work_order: WorkOrder
) -> WorkOrderRead:
    names = _names(session, work_order)
    signed = signatures.signatures_of(session, "work_order", work_order.id)
    today = utc_today()
    return WorkOrderRead(
        id=work_order.id,
        number=work_order.number,
        title=work_order.title,
        service_code=work_order.service_code,
        msa=MsaRead.model_validate(work_order.msa),
        sponsor_id=work_order.sponsor_id,
        sponsor_name=names.get(work_order.sponsor_id, ""),
        provider_id=work_order.provider_id,
        provider_name=names.get(work_order.provider_id, ""),
        program_id=work_order.program_id,
        award_id=work_order.award_id,
        status=WorkOrderStatus(work_order.status),
        currency=work_order.currency,
        payment_terms_days=work_order.payment_terms_days,
        start_date=work_order.start_date,
        total_value=_value(work_order),
        milestones=[
            _milestone_read(session, m, work_order.currency, today)
            for m in work_order.milestones
            if not m.removed
        ],
        signatures=_signature_reads(signed),
        awaiting_signature_from=_awaiting(signed, names)
        if work_order.status == WorkOrderStatus.PENDING_SIGNATURE
        else [],
        termination_reason=work_order.termination_reason,
        value_history=_value_history(session, work_order),
        version=work_order.version,
        viewer_role="sponsor"
        if work_order.sponsor_id in principal.organization_ids
        else "provider",
    )


def get_work_order(
    session: Session, principal: Principal, work_order_id: uuid.UUID
) -> WorkOrderRead:
    work_order = _work_order(session, principal, work_order_id)
    principal.require(Permission.CONTRACTS_READ, _side(principal, work_order))
    return _work_order_read(session, principal, work_order)


def list_work_orders(
    session: Session, principal: Principal, *, status: WorkOrderStatus | None, params: PageParams
) -> Page[WorkOrderSummary]:
    readable = principal.organizations_with(Permission.CONTRACTS_READ)
    sort = params.sort_key(repository.WORK_ORDER_SORTS, "-number")
    party_names: dict[uuid.UUID, str] = {}
    if sort[0] in repository.PARTY_SORTS:
        party_ids = repository.parties_of_work_orders(
            session, readable, status=status.value if status else None
        )
        party_names = {o.id: o.name for o in parties.organizations_named_by_id(session, party_ids)}
    rows, total = repository.work_orders(
        session,
        readable,
        status=status.value if status else None,
        offset=params.offset,
        limit=params.page_size,
        sort=sort,
        party_names=party_names,
    )
    invoices = repository.invoices_of_work_orders(session, [r.id for r in rows])
    paid: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
    for invoice in invoices:
        paid[invoice.work_order_id] += sum((p.amount for p in invoice.payments), ZERO)
    names = {
        o.id: o.name
        for o in parties.organizations_named_by_id(
            session, {r.sponsor_id for r in rows} | {r.provider_id for r in rows}
        )
    }
    items = [
        WorkOrderSummary(
            id=r.id,
            number=r.number,
            title=r.title,
            sponsor_name=names.get(r.sponsor_id, ""),
            provider_name=names.get(r.provider_id, ""),
            status=WorkOrderStatus(r.status),
            currency=r.currency,
            total_value=_value(r),
            paid=paid[r.id],
            updated_at=r.updated_at,
        )
        for r in rows
    ]
    return Page.of(items, total=total, params=params)


def _days_after(day: date, days: int) -> date | None:
    """``day`` plus ``days``, or None when that leaves the business date range (or what a
    ``date`` can hold: rows stored before dates were bounded may be anywhere)."""
    try:
        end = day + timedelta(days=days)
    except OverflowError:
        return None
    return end if EARLIEST_DATE <= end <= LATEST_DATE else None


def _years_after(day: date, years: int) -> date:
    """The same day ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def work_orders_of_awards(
    session: Session, principal: Principal, award_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Award id → its work order's id, for the awards that have one and the principal may see."""
    found = {}
    for award_id in award_ids:
        work_order = repository.work_order_for_award(session, award_id)
        if (
            work_order is not None
            and {work_order.sponsor_id, work_order.provider_id} & principal.organization_ids
        ):
            found[award_id] = work_order.id
    return found


def create_from_award(
    session: Session, principal: Principal, data: WorkOrderFromAward
) -> WorkOrderRead:
    """Draft the work order an award commits to, under the pair's MSA (made with standard
    terms when the pair has none yet)."""
    work = sourcing.awarded_work(session, principal, data.award_id)
    principal.require(Permission.CONTRACTS_WRITE, work.sponsor_id)
    if repository.work_order_for_award(session, work.award_id) is not None:
        raise Conflict("this award already has its work order")
    due_dates = [
        due
        for *_, offset in work.lines
        if (due := _days_after(work.start_date, offset)) is not None
    ]
    if not EARLIEST_DATE <= work.start_date <= LATEST_DATE or len(due_dates) < len(work.lines):
        raise Invalid(
            f"the awarded bid starts on {work.start_date} and its milestones would fall due "
            f"outside {EARLIEST_DATE} … {LATEST_DATE}; this bid's dates cannot become a work "
            "order",
            field_errors={"award_id": f"the bid's dates leave {EARLIEST_DATE} … {LATEST_DATE}"},
        )
    msa = repository.msa_of_pair(session, work.sponsor_id, work.provider_id)
    if msa is None:
        today = utc_today()
        msa = Msa(
            sponsor_id=work.sponsor_id,
            provider_id=work.provider_id,
            reference=f"MSA-{today:%Y}-{str(work.provider_id)[:4].upper()}",
            terms="Standard OpenCXO master services terms: confidentiality, quality agreement, "
            "GxP compliance, intellectual property to the sponsor, payment on accepted milestones.",
            effective_date=today,
            expiry_date=_years_after(today, DEFAULT_MSA_YEARS),
        )
        session.add(msa)
        session.flush()
        audit.record(
            session,
            action="create",
            entity_type="msa",
            entity_id=msa.id,
            actor=principal,
            organization_id=work.sponsor_id,
            after={"reference": msa.reference},
            reason="made with the first work order",
        )
    prefix = f"WO-{utc_today():%Y}-"
    number = f"{prefix}{repository.count_work_orders_numbered(session, prefix) + 1:04d}"
    work_order = WorkOrder(
        msa_id=msa.id,
        sponsor_id=work.sponsor_id,
        provider_id=work.provider_id,
        program_id=work.program_id,
        award_id=work.award_id,
        number=number,
        title=f"{work.rfp_title} — {work.lot_title}",
        service_code=work.service_code,
        status=WorkOrderStatus.DRAFT.value,
        currency=work.currency,
        payment_terms_days=data.payment_terms_days,
        start_date=work.start_date,
        milestones=[
            Milestone(
                position=n,
                description=description,
                deliverable=deliverable,
                amount=amount,
                due_date=due_date,
            )
            for n, ((description, deliverable, amount, _), due_date) in enumerate(
                zip(work.lines, due_dates, strict=True), start=1
            )
        ],
    )
    work_order.msa = msa
    session.add(work_order)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="work_order",
        entity_id=work_order.id,
        actor=principal,
        organization_id=work.sponsor_id,
        after={"number": number, "value": _value(work_order), "currency": work_order.currency},
    )
    return _work_order_read(session, principal, work_order)


def _require(work_order: WorkOrder, *allowed: WorkOrderStatus, action: str) -> None:
    if work_order.status not in {s.value for s in allowed}:
        raise Conflict(
            f"cannot {action} a work order that is {work_order.status.replace('_', ' ')}"
        )


def _set_status(
    session: Session,
    principal: Principal,
    work_order: WorkOrder,
    to: WorkOrderStatus,
    reason: str | None = None,
) -> None:
    audit.change_status(
        session,
        work_order,
        to.value,
        entity_type="work_order",
        actor=principal,
        organization_id=_side(principal, work_order),
        reason=reason,
    )


def send_for_signature(
    session: Session, principal: Principal, work_order_id: uuid.UUID, data: Transition
) -> WorkOrderRead:
    work_order = _work_order(session, principal, work_order_id)
    if work_order.sponsor_id not in principal.organization_ids:
        raise NotPermitted("the sponsor sends a work order for signature")
    principal.require(Permission.CONTRACTS_WRITE, work_order.sponsor_id)
    check_version("work order", work_order.version, data.version)
    _require(work_order, WorkOrderStatus.DRAFT, action="send for signature")
    _set_status(session, principal, work_order, WorkOrderStatus.PENDING_SIGNATURE)
    notifications.notify(
        session,
        [work_order.sponsor_id, work_order.provider_id],
        kind="signature_needed",
        message=f"Work order {work_order.number} awaits signatures.",
        link=f"/work-orders/{work_order.id}",
    )
    return _work_order_read(session, principal, work_order)


def _contract_record(work_order: WorkOrder) -> dict[str, Any]:
    """What a work-order signature covers: parties, currency and every milestone."""
    return {
        "number": work_order.number,
        "sponsor_id": work_order.sponsor_id,
        "provider_id": work_order.provider_id,
        "currency": work_order.currency,
        "payment_terms_days": work_order.payment_terms_days,
        "milestones": [
            (m.position, m.description, m.amount, m.due_date)
            for m in work_order.milestones
            if not m.removed
        ],
    }


def sign_work_order(
    session: Session, principal: Principal, work_order_id: uuid.UUID, data: SignIn
) -> WorkOrderRead:
    """Each party signs once; the work order becomes active with the second signature."""
    work_order = _work_order(session, principal, work_order_id)
    side = _side(principal, work_order)
    principal.require(Permission.CONTRACTS_SIGN, side)
    _require(work_order, WorkOrderStatus.PENDING_SIGNATURE, action="sign")
    # The work order's row before the signature's audit event (the lock order of every other
    # write to it: a termination meanwhile makes this 409, not a deadlock); the signatures are
    # read under it.
    hold(session, work_order)
    signed = signatures.signatures_of(session, "work_order", work_order.id)
    if any(s.organization_id == side for s in signed):
        raise Conflict("your organisation has already signed this work order")
    signatures.sign(
        session,
        principal,
        password=data.password,
        meaning=_meaning(data.meaning),
        entity_type="work_order",
        entity_id=work_order.id,
        organization_id=side,
        record=_contract_record(work_order),
    )
    # Every signature bumps the work order's version: of two parties signing at once, the
    # second fails (409) instead of both missing each other's signature and leaving it pending.
    work_order.updated_at = utcnow()
    session.flush()
    if {s.organization_id for s in signed} | {side} >= {
        work_order.sponsor_id,
        work_order.provider_id,
    }:
        _set_status(session, principal, work_order, WorkOrderStatus.ACTIVE)
        notifications.notify(
            session,
            [work_order.sponsor_id, work_order.provider_id],
            kind="contract_active",
            message=f"Work order {work_order.number} is signed by both parties and active.",
            link=f"/work-orders/{work_order.id}",
        )
    return _work_order_read(session, principal, work_order)


def terminate(
    session: Session, principal: Principal, work_order_id: uuid.UUID, data: Terminate
) -> WorkOrderRead:
    work_order = _work_order(session, principal, work_order_id)
    side = _side(principal, work_order)
    principal.require(Permission.CONTRACTS_SIGN, side)
    check_version("work order", work_order.version, data.version)
    _require(
        work_order, WorkOrderStatus.ACTIVE, WorkOrderStatus.PENDING_SIGNATURE, action="terminate"
    )
    work_order.termination_reason = data.reason
    _set_status(session, principal, work_order, WorkOrderStatus.TERMINATED, data.reason)
    return _work_order_read(session, principal, work_order)


def complete(
    session: Session, principal: Principal, work_order_id: uuid.UUID, data: Transition
) -> WorkOrderRead:
    work_order = _work_order(session, principal, work_order_id)
    if work_order.sponsor_id not in principal.organization_ids:
        raise NotPermitted("the sponsor completes a work order")
    principal.require(Permission.CONTRACTS_SIGN, work_order.sponsor_id)
    check_version("work order", work_order.version, data.version)
    _require(work_order, WorkOrderStatus.ACTIVE, action="complete")
    open_milestones = [
        m.position
        for m in work_order.milestones
        if not m.removed and m.status != MilestoneStatus.ACCEPTED
    ]
    if open_milestones:
        raise Conflict(f"milestone(s) {open_milestones} are not accepted yet")
    _set_status(session, principal, work_order, WorkOrderStatus.COMPLETED)
    return _work_order_read(session, principal, work_order)


# --- milestones and deliverables ---------------------------------------------------------------


def _milestone(
    session: Session, principal: Principal, milestone_id: uuid.UUID
) -> tuple[Milestone, WorkOrder]:
    milestone = repository.milestone(session, milestone_id)
    if milestone is None or milestone.removed:
        raise NotFound("no such milestone")
    work_order = _work_order(session, principal, milestone.work_order_id, what="milestone")
    return milestone, work_order


def submit_milestone(
    session: Session,
    principal: Principal,
    milestone_id: uuid.UUID,
    *,
    version: int,
    note: str,
    uploads: Iterable[tuple[str, str, bytes]],
) -> MilestoneRead:
    """The provider reports a milestone complete, with its deliverables (name, type, bytes)."""
    milestone, work_order = _milestone(session, principal, milestone_id)
    if work_order.provider_id not in principal.organization_ids:
        raise NotPermitted("the provider submits milestones")
    principal.require(Permission.CONTRACTS_WRITE, work_order.provider_id)
    check_version("milestone", milestone.version, version)
    _require(work_order, WorkOrderStatus.ACTIVE, action="submit milestones of")
    if milestone.status not in (MilestoneStatus.PLANNED, MilestoneStatus.REJECTED):
        raise Conflict(
            f"milestone {milestone.position} is {milestone.status}; it cannot be submitted"
        )
    uploads = list(uploads)
    if not uploads and not milestone.deliverables:
        raise Invalid(
            "attach at least one deliverable",
            field_errors={"files": "attach the deliverable files"},
        )
    for filename, content_type, content in uploads:
        stored = files.store(
            session,
            organization_id=work_order.provider_id,
            uploaded_by=principal.user_id,
            filename=filename,
            content_type=content_type,
            content=content,
        )
        milestone.deliverables.append(Deliverable(file_id=stored.id, note=note))
    milestone.status = MilestoneStatus.SUBMITTED.value
    milestone.submitted_at = utcnow()
    milestone.rejection_reason = None
    session.flush()
    session.refresh(milestone, ["deliverables"])
    audit.record(
        session,
        action="submit",
        entity_type="milestone",
        entity_id=milestone.id,
        actor=principal,
        organization_id=work_order.provider_id,
        after={
            "status": "submitted",
            "files": [(d.file.filename, d.file.sha256) for d in milestone.deliverables],
        },
    )
    notifications.notify(
        session,
        [work_order.sponsor_id],
        kind="milestone_submitted",
        message=f"Milestone {milestone.position} of {work_order.number} was submitted for review.",
        link=f"/work-orders/{work_order.id}",
    )
    return _milestone_read(session, milestone, work_order.currency, utc_today())


def decide_milestone(
    session: Session, principal: Principal, milestone_id: uuid.UUID, data: MilestoneDecision
) -> MilestoneRead:
    """The sponsor accepts (e-signed; the invoice is drafted at once) or rejects with a reason."""
    milestone, work_order = _milestone(session, principal, milestone_id)
    if work_order.sponsor_id not in principal.organization_ids:
        raise NotPermitted("the sponsor accepts or rejects milestones")
    principal.require(Permission.CONTRACTS_SIGN, work_order.sponsor_id)
    check_version("milestone", milestone.version, data.version)
    if milestone.status != MilestoneStatus.SUBMITTED:
        raise Conflict(
            f"milestone {milestone.position} is {milestone.status}; only a submitted milestone is decided"
        )
    hold(session, milestone)  # before the signature
    meaning = SignatureMeaning.ACCEPTED if data.accept else SignatureMeaning.REJECTED
    signatures.sign(
        session,
        principal,
        password=data.password,
        meaning=meaning,
        entity_type="milestone",
        entity_id=milestone.id,
        organization_id=work_order.sponsor_id,
        record={
            "milestone": milestone.id,
            "amount": milestone.amount,
            "currency": work_order.currency,
            "deliverables": [d.file.sha256 for d in milestone.deliverables],
            "accept": data.accept,
        },
    )
    milestone.status = (MilestoneStatus.ACCEPTED if data.accept else MilestoneStatus.REJECTED).value
    milestone.decided_at = utcnow()
    milestone.rejection_reason = None if data.accept else data.reason
    # The version column makes a concurrent decision on the same milestone fail here (409).
    session.flush()
    assert milestone.submitted_at is not None  # a submitted milestone has its time
    parties.record_performance(
        session,
        sponsor_id=work_order.sponsor_id,
        provider_id=work_order.provider_id,
        accepted=data.accept,
        subject_id=milestone.id,
        reference=f"{work_order.number} milestone {milestone.position}",
        due_on=milestone.due_date,
        delivered_on=milestone.submitted_at.date(),
    )
    if data.accept:
        session.add(
            Invoice(
                milestone_id=milestone.id,
                work_order_id=work_order.id,
                amount=milestone.amount,
                currency=work_order.currency,
                status=InvoiceStatus.DRAFT.value,
            )
        )
        session.flush()
    audit.record(
        session,
        action="accept" if data.accept else "reject",
        entity_type="milestone",
        entity_id=milestone.id,
        actor=principal,
        organization_id=work_order.sponsor_id,
        after={"status": milestone.status},
        reason=data.reason or None,
    )
    notifications.notify(
        session,
        [work_order.provider_id],
        kind="milestone_accepted" if data.accept else "milestone_rejected",
        message=f"Milestone {milestone.position} of {work_order.number} was {milestone.status}"
        + ("" if data.accept else f": {data.reason}"),
        link=f"/work-orders/{work_order.id}",
    )
    return _milestone_read(session, milestone, work_order.currency, utc_today())


def download_deliverable(
    session: Session, principal: Principal, deliverable_id: uuid.UUID
) -> tuple[StoredFile, bytes]:
    """A deliverable's bytes, re-checked against their SHA-256."""
    deliverable = repository.deliverable(session, deliverable_id)
    if deliverable is None:
        raise NotFound("no such deliverable")
    try:
        _milestone(session, principal, deliverable.milestone_id)
    except NotFound:
        raise NotFound("no such deliverable") from None
    return deliverable.file, files.read_verified(deliverable.file)


# --- change orders ------------------------------------------------------------------------------


def _change_order_read(
    session: Session, work_order: WorkOrder, change: ChangeOrder
) -> ChangeOrderRead:
    signed = signatures.signatures_of(session, "change_order", change.id)
    return ChangeOrderRead(
        id=change.id,
        number=change.number,
        reason=change.reason,
        changes=change.changes,
        status=ChangeOrderStatus(change.status),
        value_before=change.value_before,
        value_after=change.value_after,
        signatures=_signature_reads(signed),
        awaiting_signature_from=_awaiting(signed, _names(session, work_order))
        if change.status == ChangeOrderStatus.PENDING
        else [],
        proposed_by_organization_id=change.proposed_by_organization_id,
        created_at=change.created_at,
        applied_at=change.applied_at,
        version=change.version,
    )


def list_change_orders(
    session: Session, principal: Principal, work_order_id: uuid.UUID
) -> list[ChangeOrderRead]:
    work_order = _work_order(session, principal, work_order_id)
    return [
        _change_order_read(session, work_order, c)
        for c in repository.change_orders(session, work_order.id)
    ]


def propose_change(
    session: Session, principal: Principal, work_order_id: uuid.UUID, data: ChangeOrderCreate
) -> ChangeOrderRead:
    work_order = _work_order(session, principal, work_order_id)
    side = _side(principal, work_order)
    principal.require(Permission.CONTRACTS_WRITE, side)
    check_version("work order", work_order.version, data.version)
    _require(work_order, WorkOrderStatus.ACTIVE, action="change")
    existing = repository.change_orders(session, work_order.id)
    if any(c.status == ChangeOrderStatus.PENDING for c in existing):
        raise Conflict("another change order is waiting for signatures; sign or withdraw it first")
    current = {m.id: m for m in work_order.milestones if not m.removed}
    value_after = _value(work_order)
    diff: list[dict[str, Any]] = []
    named: dict[uuid.UUID, int] = {}  # milestone → the change that names it
    for n, change in enumerate(data.changes, start=1):
        if change.milestone_id is not None and change.action != "add":
            if change.milestone_id in named:
                first = named[change.milestone_id]
                raise Invalid(
                    f"changes {first} and {n} name the same milestone; "
                    "put everything that changes one milestone into a single change",
                    field_errors={f"changes.{n}.milestone_id": f"already named by change {first}"},
                )
            named[change.milestone_id] = n
        if change.action == "add":
            value_after += change.amount or ZERO
            diff.append(
                {
                    "action": "add",
                    "description": change.description,
                    "deliverable": change.deliverable or "",
                    "amount": str(change.amount),
                    "due_date": change.due_date.isoformat() if change.due_date else None,
                }
            )
            continue
        milestone = current.get(change.milestone_id) if change.milestone_id else None
        if milestone is None:
            raise Invalid(
                f"change {n}: no such milestone on this work order",
                field_errors={f"changes.{n}.milestone_id": "not on this work order"},
            )
        if (
            milestone.status != MilestoneStatus.PLANNED
            and milestone.status != MilestoneStatus.REJECTED
        ):
            raise Invalid(
                f"change {n}: milestone {milestone.position} is {milestone.status} and can no longer change",
                field_errors={f"changes.{n}.milestone_id": "already submitted or accepted"},
            )
        if change.action == "remove":
            value_after -= milestone.amount
            diff.append(
                {
                    "action": "remove",
                    "milestone_id": str(milestone.id),
                    "position": milestone.position,
                    "before": {"amount": str(milestone.amount)},
                }
            )
            continue
        before = {
            "description": milestone.description,
            "deliverable": milestone.deliverable,
            "amount": str(milestone.amount),
            "due_date": milestone.due_date.isoformat(),
        }
        after = dict(before)
        for name in ("description", "deliverable", "amount", "due_date"):
            value = getattr(change, name)
            if value is not None:
                after[name] = value.isoformat() if isinstance(value, date) else str(value)
        value_after += Decimal(after["amount"]) - milestone.amount
        diff.append(
            {
                "action": "change",
                "milestone_id": str(milestone.id),
                "position": milestone.position,
                "before": before,
                "after": after,
            }
        )
    if value_after < ZERO:
        raise Invalid("the change would make the work order's value negative")
    change_order = ChangeOrder(
        work_order_id=work_order.id,
        number=len(existing) + 1,
        reason=data.reason,
        changes=diff,
        status=ChangeOrderStatus.PENDING.value,
        value_before=_value(work_order),
        value_after=value_after,
        proposed_by_organization_id=side,
    )
    session.add(change_order)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="change_order",
        entity_id=change_order.id,
        actor=principal,
        organization_id=side,
        after={"work_order": work_order.number, "changes": diff, "value_after": value_after},
        reason=data.reason,
    )
    other = work_order.provider_id if side == work_order.sponsor_id else work_order.sponsor_id
    notifications.notify(
        session,
        [other],
        kind="signature_needed",
        message=f"Change order {change_order.number} on {work_order.number} awaits your signature.",
        link=f"/work-orders/{work_order.id}",
    )
    return _change_order_read(session, work_order, change_order)


def _apply(work_order: WorkOrder, change_order: ChangeOrder) -> None:
    by_id = {str(m.id): m for m in work_order.milestones}
    position = max((m.position for m in work_order.milestones), default=0)
    for change in change_order.changes:
        if change["action"] == "add":
            position += 1
            work_order.milestones.append(
                Milestone(
                    position=position,
                    description=change["description"],
                    deliverable=change["deliverable"],
                    amount=Decimal(change["amount"]),
                    due_date=date.fromisoformat(change["due_date"]),
                )
            )
        elif change["action"] == "remove":
            by_id[change["milestone_id"]].removed = True
        else:
            milestone = by_id[change["milestone_id"]]
            after = change["after"]
            milestone.description = after["description"]
            milestone.deliverable = after["deliverable"]
            milestone.amount = Decimal(after["amount"])
            milestone.due_date = date.fromisoformat(after["due_date"])


def _still_applicable(work_order: WorkOrder, change_order: ChangeOrder) -> None:
    """A change order may only touch milestones that are still open when it is signed: one
    submitted or accepted since the proposal (its invoice drafted) can no longer change."""
    by_id = {str(m.id): m for m in work_order.milestones}
    for change in change_order.changes:
        if change["action"] == "add":
            continue
        milestone = by_id.get(change["milestone_id"])
        if milestone is None or milestone.removed:
            raise Conflict(
                f"change order {change_order.number} names a milestone that no longer exists"
            )
        if milestone.status not in (MilestoneStatus.PLANNED, MilestoneStatus.REJECTED):
            raise Conflict(
                f"milestone {milestone.position} is {milestone.status} since change order "
                f"{change_order.number} was proposed; the change can no longer apply"
            )


def withdraw_change(
    session: Session, principal: Principal, change_order_id: uuid.UUID, data: Transition
) -> ChangeOrderRead:
    """The proposing party withdraws a change order nobody has fully signed yet."""
    change_order = repository.change_order(session, change_order_id)
    if change_order is None:
        raise NotFound("no such change order")
    work_order = _work_order(session, principal, change_order.work_order_id, what="change order")
    side = _side(principal, work_order)
    principal.require(Permission.CONTRACTS_WRITE, side)
    check_version("change order", change_order.version, data.version)
    if change_order.proposed_by_organization_id != side:
        raise NotPermitted("only the party that proposed a change order withdraws it")
    if change_order.status != ChangeOrderStatus.PENDING:
        raise Conflict(f"change order {change_order.number} is {change_order.status}")
    change_order.status = ChangeOrderStatus.WITHDRAWN.value
    session.flush()
    audit.record(
        session,
        action="withdraw",
        entity_type="change_order",
        entity_id=change_order.id,
        actor=principal,
        organization_id=side,
        before={"status": "pending"},
        after={"status": "withdrawn"},
    )
    return _change_order_read(session, work_order, change_order)


def sign_change_order(
    session: Session, principal: Principal, change_order_id: uuid.UUID, data: SignIn
) -> ChangeOrderRead:
    change_order = repository.change_order(session, change_order_id)
    if change_order is None:
        raise NotFound("no such change order")
    work_order = _work_order(session, principal, change_order.work_order_id, what="change order")
    side = _side(principal, work_order)
    principal.require(Permission.CONTRACTS_SIGN, side)
    if change_order.status != ChangeOrderStatus.PENDING:
        raise Conflict(f"change order {change_order.number} is {change_order.status}")
    _require(work_order, WorkOrderStatus.ACTIVE, action="change")
    # Every row the signature may change, before its audit event (see sign_work_order): the
    # change order, its work order and the milestones it names.
    named = {c.get("milestone_id") for c in change_order.changes}
    hold(
        session,
        change_order,
        work_order,
        *(m for m in work_order.milestones if str(m.id) in named),
    )
    _still_applicable(work_order, change_order)
    signed = signatures.signatures_of(session, "change_order", change_order.id)
    if any(s.organization_id == side for s in signed):
        raise Conflict("your organisation has already signed this change order")
    signatures.sign(
        session,
        principal,
        password=data.password,
        meaning=_meaning(data.meaning),
        entity_type="change_order",
        entity_id=change_order.id,
        organization_id=side,
        record={
            "work_order": work_order.number,
            "changes": change_order.changes,
            "value_after": change_order.value_after,
        },
    )
    # As for work orders: two parties signing at once cannot both miss the other's signature.
    change_order.updated_at = utcnow()
    session.flush()
    if {s.organization_id for s in signed} | {side} >= {
        work_order.sponsor_id,
        work_order.provider_id,
    }:
        _apply(work_order, change_order)
        change_order.status = ChangeOrderStatus.APPLIED.value
        change_order.applied_at = utcnow()
        work_order.updated_at = (
            utcnow()
        )  # bumps the work order's version: readers of the old one get 409
        session.flush()
        audit.record(
            session,
            action="apply",
            entity_type="change_order",
            entity_id=change_order.id,
            actor=principal,
            organization_id=side,
            before={"value": change_order.value_before},
            after={"value": change_order.value_after},
        )
    return _change_order_read(session, work_order, change_order)


# --- invoices and payments ----------------------------------------------------------------------


def _invoice_read(session: Session, invoice: Invoice, work_order: WorkOrder) -> InvoiceRead:
    paid = sum((p.amount for p in invoice.payments), ZERO)
    milestone = next(m for m in work_order.milestones if m.id == invoice.milestone_id)
    return InvoiceRead(
        id=invoice.id,
        work_order_id=work_order.id,
        work_order_number=work_order.number,
        milestone_id=milestone.id,
        milestone=f"{milestone.position}. {milestone.description}",
        number=invoice.number,
        amount=invoice.amount,
        currency=invoice.currency,
        status=InvoiceStatus(invoice.status),
        issued_on=invoice.issued_on,
        due_on=invoice.due_on,
        paid=paid,
        outstanding=invoice.amount - paid,
        overdue=invoice.status == InvoiceStatus.ISSUED
        and invoice.due_on is not None
        and invoice.due_on < utc_today(),
        payments=[PaymentRead.model_validate(p) for p in invoice.payments],
        version=invoice.version,
    )


def _invoice(
    session: Session, principal: Principal, invoice_id: uuid.UUID
) -> tuple[Invoice, WorkOrder]:
    invoice = repository.invoice(session, invoice_id)
    if invoice is None:
        raise NotFound("no such invoice")
    return invoice, _work_order(session, principal, invoice.work_order_id, what="invoice")


def list_invoices(
    session: Session, principal: Principal, *, status: InvoiceStatus | None = None
) -> list[InvoiceRead]:
    orders, _ = repository.work_orders(
        session, principal.organizations_with(Permission.CONTRACTS_READ)
    )
    by_id = {o.id: o for o in orders}
    rows = [
        _invoice_read(session, i, by_id[i.work_order_id])
        for i in repository.invoices_of_work_orders(session, by_id)
        if status is None or i.status == status
    ]
    return sorted(rows, key=lambda r: (r.due_on or date.max, r.work_order_number))


def get_invoice(session: Session, principal: Principal, invoice_id: uuid.UUID) -> InvoiceRead:
    invoice, work_order = _invoice(session, principal, invoice_id)
    return _invoice_read(session, invoice, work_order)


def issue_invoice(
    session: Session, principal: Principal, invoice_id: uuid.UUID, data: InvoiceIssue
) -> InvoiceRead:
    invoice, work_order = _invoice(session, principal, invoice_id)
    if work_order.provider_id not in principal.organization_ids:
        raise NotPermitted("the provider issues invoices")
    principal.require(Permission.CONTRACTS_WRITE, work_order.provider_id)
    check_version("invoice", invoice.version, data.version)
    if invoice.status != InvoiceStatus.DRAFT:
        raise Conflict(f"invoice {invoice.number} is already {invoice.status}")
    # Numbers are unique per work order (a constraint): say so next to the field rather than
    # let the database refuse it with a page that loses the form.
    if any(
        other.number == data.number and other.id != invoice.id
        for other in repository.invoices_of_work_orders(session, [work_order.id])
    ):
        raise Conflict(
            f"invoice number {data.number} is already used on {work_order.number}",
            field_errors={"number": "already used on this work order"},
        )
    terms = work_order.payment_terms_days
    due_on = _days_after(data.issued_on, terms)
    if due_on is None:
        latest = LATEST_DATE - timedelta(days=terms)
        raise Invalid(
            f"issued on {data.issued_on} with net {terms} days, the invoice would fall due after "
            f"{LATEST_DATE}; give an issue date on or before {latest}",
            field_errors={"issued_on": f"on or before {latest}"},
        )
    invoice.number = data.number
    invoice.issued_on = data.issued_on
    invoice.due_on = due_on
    invoice.status = InvoiceStatus.ISSUED.value
    session.flush()
    audit.record(
        session,
        action="issue",
        entity_type="invoice",
        entity_id=invoice.id,
        actor=principal,
        organization_id=work_order.provider_id,
        after={
            "number": invoice.number,
            "amount": invoice.amount,
            "currency": invoice.currency,
            "due_on": invoice.due_on,
        },
    )
    notifications.notify(
        session,
        [work_order.sponsor_id],
        kind="invoice_issued",
        message=f"Invoice {invoice.number} of {invoice.amount:,.2f} {invoice.currency} is due on {invoice.due_on}.",
        link=f"/invoices/{invoice.id}",
    )
    return _invoice_read(session, invoice, work_order)


def record_payment(
    session: Session, principal: Principal, invoice_id: uuid.UUID, data: PaymentCreate
) -> InvoiceRead:
    invoice, work_order = _invoice(session, principal, invoice_id)
    if work_order.sponsor_id not in principal.organization_ids:
        raise NotPermitted("the sponsor records payments")
    principal.require(Permission.PAYMENTS_WRITE, work_order.sponsor_id)
    check_version("invoice", invoice.version, data.version)
    if invoice.status != InvoiceStatus.ISSUED:
        raise Conflict(f"only an issued invoice is paid (this one is {invoice.status})")
    if invoice.issued_on is not None and data.paid_on < invoice.issued_on:
        raise Invalid(
            f"a payment of invoice {invoice.number} is made once it is issued",
            field_errors={"paid_on": f"on or after its issue date, {invoice.issued_on}"},
        )
    outstanding = invoice.amount - sum((p.amount for p in invoice.payments), ZERO)
    if data.amount > outstanding:
        raise Invalid(
            f"the payment exceeds the outstanding {outstanding:,.2f} {invoice.currency}",
            field_errors={"amount": f"at most {outstanding}"},
        )
    invoice.payments.append(
        Payment(amount=data.amount, paid_on=data.paid_on, reference=data.reference)
    )
    if data.amount == outstanding:
        invoice.status = InvoiceStatus.PAID.value
    invoice.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        action="pay",
        entity_type="invoice",
        entity_id=invoice.id,
        actor=principal,
        organization_id=work_order.sponsor_id,
        after={"amount": data.amount, "status": invoice.status},
    )
    notifications.notify(
        session,
        [work_order.provider_id],
        kind="payment",
        message=f"{data.amount:,.2f} {invoice.currency} paid on invoice {invoice.number}.",
        link=f"/invoices/{invoice.id}",
    )
    return _invoice_read(session, invoice, work_order)


# --- spend --------------------------------------------------------------------------------------

SPEND_DIMENSIONS = ("program", "provider", "sponsor", "stage", "country")


def spend(session: Session, principal: Principal, *, by: str) -> SpendReport:
    """Committed, accrued (accepted, not invoiced), invoiced, paid and remaining, per key and
    currency, over the work orders of the principal's organisations that were signed."""
    if by not in SPEND_DIMENSIONS:
        raise Invalid(
            f"spend by one of {', '.join(SPEND_DIMENSIONS)}",
            field_errors={"by": "unknown dimension"},
        )
    orders, _ = repository.work_orders(
        session, principal.organizations_with(Permission.CONTRACTS_READ)
    )
    signed = [
        o
        for o in orders
        if o.status
        in (WorkOrderStatus.ACTIVE, WorkOrderStatus.COMPLETED, WorkOrderStatus.TERMINATED)
    ]
    invoices = {
        i.milestone_id: i
        for i in repository.invoices_of_work_orders(session, [o.id for o in signed])
    }
    organizations = {
        o.id: o
        for o in parties.organizations_named_by_id(
            session, {o.provider_id for o in signed} | {o.sponsor_id for o in signed}
        )
    }
    programs = {
        p.id: p.name
        for p in sourcing.programs_named(session, principal, {o.program_id for o in signed})
    }
    catalog = parties.catalog()
    totals: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: defaultdict(lambda: ZERO)
    )
    # Budget vs actual: a budget is compared with work in its own currency only; a program
    # with a budget and nothing signed yet still gets its row.
    budgets: dict[tuple[str, str], Decimal] = {}
    if by == "program":
        for program in sourcing.program_budgets(session, principal):
            if program.budget_amount is None or program.budget_currency is None:
                continue
            budgets[(program.name, program.budget_currency)] = program.budget_amount
            totals[(program.name, program.budget_currency)]["committed"] += ZERO
    for order in signed:
        entry = catalog.get(order.service_code)
        key = {
            "program": programs.get(order.program_id, "—"),
            "provider": organizations[order.provider_id].name
            if order.provider_id in organizations
            else "—",
            "sponsor": organizations[order.sponsor_id].name
            if order.sponsor_id in organizations
            else "—",
            "stage": catalog.stages.get(entry.stage, entry.stage) if entry else "—",
            "country": organizations[order.provider_id].country
            if order.provider_id in organizations
            else "—",
        }[by]
        row = totals[(key, order.currency)]
        for milestone in order.milestones:
            if milestone.removed:
                continue
            row["committed"] += milestone.amount
            invoice = invoices.get(milestone.id)
            if invoice is None:
                continue
            if invoice.status == InvoiceStatus.DRAFT:
                row["accrued"] += invoice.amount
            else:
                row["invoiced"] += invoice.amount
                row["paid"] += sum((p.amount for p in invoice.payments), ZERO)
    rows = [
        SpendRow(
            key=key,
            currency=currency,
            committed=v["committed"],
            accrued=v["accrued"],
            invoiced=v["invoiced"],
            paid=v["paid"],
            remaining=v["committed"] - v["accrued"] - v["invoiced"],
            **_against_budget(budgets.get((key, currency)), v["committed"]),
        )
        for (key, currency), v in sorted(totals.items())
    ]
    return SpendReport(by=by, rows=rows)


def _against_budget(budget: Decimal | None, committed: Decimal) -> dict[str, Any]:
    if budget is None:
        return {}
    return {
        "budget": budget,
        "budget_left": budget - committed,
        "budget_used_percent": round(float(committed / budget * 100), 1),
    }


def flag_overdue_invoices(session: Session) -> int:
    """Tell both parties once when an issued invoice passes its due date unpaid."""
    sent = 0
    today = utc_today()
    for invoice, work_order in repository.issued_invoices_due_before(session, today):
        sent += notifications.notify_once(
            session,
            [work_order.sponsor_id, work_order.provider_id],
            kind="invoice_overdue",
            message=f"Invoice {invoice.number} on {work_order.number} was due on {invoice.due_on} and is unpaid.",
            link=f"/invoices/{invoice.id}",
        )
    return sent
