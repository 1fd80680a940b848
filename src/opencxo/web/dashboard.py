"""What the dashboard shows a user: the work waiting for them in each capability they may read.

Each panel asks the capability's own service (so it sees exactly what the user's pages show,
tenant by tenant) and keeps the few rows that want action: RFPs to bid on or to award,
contracts to sign, milestones to review, invoices due, studies' enrolment, the plants'
schedules with their late orders, batches waiting for QA. A row is marked urgent when this
user's role can act on it (sign, review, award, bid, dispose) or when it is late. A panel the
user's roles do not grant is left out; an empty one says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.orm import Session

from opencxo.clinical import service as clinical
from opencxo.clinical.models import StudyStatus
from opencxo.contracts import service as contracts
from opencxo.contracts.models import InvoiceStatus, MilestoneStatus, WorkOrderStatus
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.pagination import PageParams
from opencxo.core.types import utcnow
from opencxo.manufacturing import batch_records, scheduling
from opencxo.manufacturing import service as manufacturing
from opencxo.manufacturing.models import BatchStatus, OrderStatus
from opencxo.sourcing import service as sourcing
from opencxo.sourcing.models import BidStatus, RfpStatus

__all__ = ["Overview", "overview"]

#: Rows a panel lists (its page has the rest).
SHOWN = 6
#: Active work orders whose milestones are read for the contracts panel.
WORK_ORDERS_READ = 25


@dataclass(frozen=True)
class Row:
    """One line of a panel: what, a link, a short state, and whether it is urgent."""

    label: str
    href: str
    detail: str
    urgent: bool = False


@dataclass
class Panel:
    key: str
    title: str
    href: str
    empty: str
    rows: list[Row] = field(default_factory=list)
    total: int = 0  # rows before the cut to SHOWN
    figures: list[tuple[str, str]] = field(default_factory=list)  # (label, value)

    def add(self, row: Row) -> None:
        self.total += 1
        if len(self.rows) < SHOWN:
            self.rows.append(row)


@dataclass(frozen=True)
class Overview:
    panels: list[Panel]


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _rfps(session: Session, principal: Principal) -> Panel:
    panel = Panel("rfps", "RFPs", "/rfps", "No open RFPs: nothing to bid on, compare or award.")
    # the open ones only: a page of every status would fill up with old awarded RFPs
    rfps = [
        rfp
        for status in (RfpStatus.PUBLISHED, RfpStatus.CLOSED)
        for rfp in sourcing.list_rfps(
            session, principal, status=status, params=PageParams(page=1, page_size=100)
        ).items
    ]
    now = utcnow()
    for rfp in sorted(rfps, key=lambda r: r.bid_deadline):
        status = RfpStatus(rfp.status)
        sponsor_side = rfp.program_name is not None  # programs show only on one's own RFPs
        if status == RfpStatus.PUBLISHED:
            if sponsor_side:
                detail = f"bids due {rfp.bid_deadline:%Y-%m-%d %H:%M} UTC"
            elif rfp.my_bid_status == BidStatus.SUBMITTED:
                detail = "your bid is in"
            else:
                detail = f"your bid is due {rfp.bid_deadline:%Y-%m-%d %H:%M} UTC"
            urgent = (
                not sponsor_side
                and rfp.my_bid_status != BidStatus.SUBMITTED
                and principal.can(Permission.BIDS_WRITE)
                and (rfp.bid_deadline - now).total_seconds() < 7 * 86_400
            )
            panel.add(Row(rfp.title, f"/rfps/{rfp.id}", detail, urgent))
        elif status == RfpStatus.CLOSED and sponsor_side:
            panel.add(
                Row(
                    rfp.title,
                    f"/rfps/{rfp.id}/comparison",
                    "closed: compare and award",
                    principal.can(Permission.RFPS_AWARD),
                )
            )
    return panel


def _contracts(session: Session, principal: Principal) -> Panel:
    panel = Panel(
        "contracts", "Contracts", "/work-orders", "No contract waits for a signature or a review."
    )
    for status in (WorkOrderStatus.PENDING_SIGNATURE, WorkOrderStatus.ACTIVE):
        page = contracts.list_work_orders(
            session, principal, status=status, params=PageParams(page=1, page_size=WORK_ORDERS_READ)
        )
        for summary in page.items:
            order = contracts.get_work_order(session, principal, summary.id)
            href = f"/work-orders/{order.id}"
            sponsor = order.viewer_role == "sponsor"
            my_side = order.sponsor_id if sponsor else order.provider_id
            can_sign = principal.can(Permission.CONTRACTS_SIGN, my_side)
            if status == WorkOrderStatus.PENDING_SIGNATURE:
                waiting = ", ".join(order.awaiting_signature_from) or "the parties"
                mine = order.sponsor_name if sponsor else order.provider_name
                panel.add(
                    Row(f"{order.number} {order.title}", href, f"awaits signature: {waiting}",
                        can_sign and mine in order.awaiting_signature_from)
                )  # fmt: skip
                continue
            for milestone in order.milestones:
                if milestone.status == MilestoneStatus.SUBMITTED:
                    detail = "submitted: to review" if sponsor else "submitted: with the sponsor"
                    panel.add(
                        Row(f"{order.number} milestone {milestone.position}: {milestone.description}",
                            href, detail, sponsor and can_sign)
                    )  # fmt: skip
                elif milestone.status == MilestoneStatus.PLANNED and milestone.overdue:
                    panel.add(
                        Row(f"{order.number} milestone {milestone.position}: {milestone.description}",
                            href, f"overdue since {milestone.due_date:%Y-%m-%d}", True)
                    )  # fmt: skip
    return panel


def _invoices(session: Session, principal: Principal) -> Panel:
    panel = Panel("invoices", "Invoices", "/invoices", "No invoice is outstanding.")
    outstanding: dict[str, Decimal] = defaultdict(Decimal)
    overdue = 0
    for invoice in contracts.list_invoices(session, principal, status=InvoiceStatus.ISSUED):
        if invoice.outstanding <= 0:
            continue
        outstanding[invoice.currency] += invoice.outstanding
        overdue += invoice.overdue
        due = f"due {invoice.due_on:%Y-%m-%d}" if invoice.due_on else "issued"
        panel.add(
            Row(f"{invoice.number or 'draft'} · {invoice.work_order_number}", f"/invoices/{invoice.id}",
                f"{_money(invoice.outstanding, invoice.currency)} {'overdue, was ' if invoice.overdue else ''}{due}",
                invoice.overdue)
        )  # fmt: skip
    panel.figures = [
        *((f"Outstanding ({currency})", f"{amount:,.2f}") for currency, amount in sorted(outstanding.items())),
        ("Overdue", str(overdue)),
    ]  # fmt: skip
    return panel


def _studies(session: Session, principal: Principal) -> Panel:
    panel = Panel("studies", "Studies", "/studies", "No study is enrolling.")
    page = clinical.list_studies(
        session, principal, params=PageParams(page=1, page_size=100), status=StudyStatus.ENROLLING
    )
    for study in page.items:
        panel.add(
            Row(f"{study.code} {study.title}", f"/studies/{study.id}",
                f"{study.enrolled} of {study.target_enrollment} enrolled "
                f"({study.percent_of_target:.0f} %) at {study.sites} sites")
        )  # fmt: skip
    return panel


def _plants(session: Session, principal: Principal) -> Panel:
    panel = Panel("plants", "Plant schedules", "/mfg/plants", "No plant has a schedule yet.")
    for plant in manufacturing.list_plants(session, principal):
        current = scheduling.current_schedule(session, principal, plant.id)
        if current is None:
            continue
        late = len(current.late_orders)
        makespan = f"{current.makespan_hours:,.0f} h" if current.makespan_hours is not None else "—"
        detail = f"{current.solver_status or current.status}, makespan {makespan}, " + (
            f"{late} late order{'s' if late != 1 else ''}" if late else "nothing late"
        )
        panel.add(Row(plant.name, f"/mfg/plants/{plant.id}/schedule", detail, late > 0))
    return panel


def _orders(session: Session, principal: Principal) -> Panel:
    """A sponsor's production orders at its CDMOs (late ones first)."""
    panel = Panel("orders", "Production orders", "/mfg/orders", "No open production order.")
    rows = []
    for status in (OrderStatus.OPEN, OrderStatus.SCHEDULED, OrderStatus.IN_PROGRESS):
        rows += manufacturing.list_orders(
            session, principal, params=PageParams(page=1, page_size=100), status=status
        ).items
    for order in sorted(rows, key=lambda o: (not o.is_late, o.due_date)):
        finish = f", finishes {order.scheduled_finish:%Y-%m-%d}" if order.scheduled_finish else ""
        panel.add(
            Row(f"{order.number} {order.product_code}", f"/mfg/orders/{order.id}",
                f"due {order.due_date:%Y-%m-%d}{finish}{' · late' if order.is_late else ''}",
                order.is_late)
        )  # fmt: skip
    return panel


def _batches(session: Session, principal: Principal, provider: bool) -> Panel:
    if provider:
        panel = Panel("batches", "Batches for QA", "/mfg/batches?status=completed",
                      "No batch waits for a QA disposition.")  # fmt: skip
        statuses = [BatchStatus.COMPLETED]
    else:
        panel = Panel(
            "batches", "Batches", "/mfg/batches", "No batch has been released or rejected yet."
        )
        statuses = [BatchStatus.RELEASED, BatchStatus.REJECTED]
    batches = [
        batch
        for status in statuses
        for batch in batch_records.list_batches(
            session, principal, params=PageParams(page=1, page_size=100), status=status
        ).items
    ]
    if not provider:  # the newest decisions first
        batches.sort(key=lambda b: b.disposed_at or b.updated_at, reverse=True)
    for batch in batches:
        if provider:
            problems = []
            if batch.out_of_specification:
                problems.append("out of specification")
            if batch.open_deviations:
                problems.append(f"{batch.open_deviations} open deviation(s)")
            detail = "awaits disposition" + (f": {', '.join(problems)}" if problems else "")
            urgent = principal.can(Permission.BATCHES_RELEASE)
        else:
            when = f" {batch.disposed_at:%Y-%m-%d}" if batch.disposed_at else ""
            detail = f"{BatchStatus(batch.status).value}{when}"
            urgent = batch.status == BatchStatus.REJECTED
        panel.add(
            Row(
                f"{batch.batch_number} {batch.product_code}",
                f"/mfg/batches/{batch.id}",
                detail,
                urgent,
            )
        )
    return panel


def _provides_manufacturing(session: Session, principal: Principal) -> bool:
    return bool(manufacturing.list_plants(session, principal))


def overview(session: Session, principal: Principal) -> Overview:
    panels: list[Panel] = []
    if not principal.roles:
        # the platform operator, a member of no organisation: no work of a tenant is theirs
        return Overview(panels)
    if principal.can(Permission.RFPS_READ):
        panels.append(_rfps(session, principal))
    if principal.can(Permission.CONTRACTS_READ):
        panels.append(_contracts(session, principal))
        panels.append(_invoices(session, principal))
    if principal.can(Permission.STUDIES_READ):
        panels.append(_studies(session, principal))
    if principal.can(Permission.MANUFACTURING_READ):
        provider = _provides_manufacturing(session, principal)
        if provider:
            panels.append(_plants(session, principal))
        else:
            panels.append(_orders(session, principal))
        panels.append(_batches(session, principal, provider))
    return Overview(panels)
