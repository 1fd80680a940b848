"""What the dashboard shows a user: the work waiting for them in each capability they may read.

Each panel asks the capability's own service (so it sees exactly what the user's pages show,
tenant by tenant) and keeps the few rows that want action: RFPs to bid on or to award,
contracts to sign, milestones to review, invoices due, studies' enrolment, the plants'
schedules with their late orders, batches waiting for QA. A row is marked urgent when this
user's role can act on it (sign, review, award, bid, dispose) or when it is late. A panel the
user's roles do not grant is left out; an empty one says so.

The platform operator, a member of no organisation, gets a row of their own instead: how many
organisations and users there are (accounts locked by the login throttle or deactivated listed
with a link to their organisation's users), the audit trail's size and newest event, and how to
back up. Each figure comes from its owner's service: parties, core auth, core audit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from opencxo.clinical import service as clinical
from opencxo.clinical.models import StudyStatus
from opencxo.contracts import service as contracts
from opencxo.contracts.models import InvoiceStatus, MilestoneStatus, WorkOrderStatus
from opencxo.core import audit
from opencxo.core.auth import service as auth
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.pagination import PageParams
from opencxo.core.settings import get_settings
from opencxo.core.types import utcnow
from opencxo.manufacturing import batch_records, scheduling
from opencxo.manufacturing import service as manufacturing
from opencxo.manufacturing.models import BatchStatus, OrderStatus
from opencxo.parties import service as parties
from opencxo.parties.models import OrganizationKind
from opencxo.sourcing import service as sourcing
from opencxo.sourcing.models import BidStatus, RfpStatus

__all__ = ["Overview", "overview"]

#: Rows a panel lists (its page has the rest).
SHOWN = 6
#: Active work orders whose milestones are read for the contracts panel.
WORK_ORDERS_READ = 25
#: The newest organisations the operator's panel lists.
NEWEST_ORGANIZATIONS = 5


@dataclass(frozen=True)
class Row:
    """One line of a panel: what, a link ("" for none), a short state, and whether it is urgent."""

    label: str
    href: str
    detail: str
    urgent: bool = False


@dataclass(frozen=True)
class Figure:
    """A number at the top of a panel, linked to the list it counts when there is one."""

    label: str
    value: str
    href: str = ""


@dataclass(frozen=True)
class Note:
    """A line of advice under a panel's rows: ``text``, then ``command`` as code, then ``tail``."""

    text: str
    command: str = ""
    tail: str = ""


@dataclass
class Panel:
    key: str
    title: str
    href: str  # "" when the panel has no page of its own
    empty: str  # "" when a panel without rows needs no word
    rows: list[Row] = field(default_factory=list)
    total: int = 0  # rows before the cut to SHOWN
    figures: list[Figure] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.total += 1
        if len(self.rows) < SHOWN:
            self.rows.append(row)


@dataclass(frozen=True)
class Overview:
    panels: list[Panel]  # the tenant work waiting for this user
    platform: list[Panel] = field(default_factory=list)  # the platform operator's


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
        *(Figure(f"Outstanding ({currency})", f"{amount:,.2f}") for currency, amount in sorted(outstanding.items())),
        Figure("Overdue", str(overdue)),
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


# --- the platform operator --------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _organizations(session: Session, principal: Principal) -> Panel:
    panel = Panel("organizations", "Organisations", "/organizations",
                  "No organisation is registered yet: register the first sponsor or provider.")  # fmt: skip
    counts = parties.organization_counts(session, principal)
    panel.figures = [
        Figure("Sponsors", str(counts[OrganizationKind.SPONSOR]), "/organizations?kind=sponsor"),
        Figure("Providers", str(counts[OrganizationKind.PROVIDER]), "/organizations?kind=provider"),
    ]
    for organization in parties.newest_organizations(
        session, principal, limit=NEWEST_ORGANIZATIONS
    ):
        panel.add(
            Row(organization.name, f"/organizations/{organization.id}",
                f"{organization.kind.value}, registered {organization.registered_at:%Y-%m-%d}")
        )  # fmt: skip
    panel.total = sum(counts.values())  # "All N →" when the list is longer than the panel
    return panel


def _users(session: Session, principal: Principal) -> Panel:
    """Counts of users; the accounts locked now (urgent), then the deactivated ones, each linked
    to the users page of their first organisation (a user of none has no page to link)."""
    panel = Panel("users", "Users", "", "No account is locked or deactivated.")
    counts = auth.user_counts(session, principal)
    panel.figures = [
        Figure("Active", str(counts.active)),
        Figure("Deactivated", str(counts.deactivated)),
        Figure("Locked now", str(counts.locked)),
    ]
    locked = auth.locked_accounts(session, principal, limit=SHOWN)
    shown = {account.user_id for account in locked}
    deactivated = [
        account
        for account in auth.deactivated_accounts(session, principal, limit=SHOWN)
        if account.user_id not in shown  # a deactivated account can be locked as well
    ]
    names = {
        organization.id: organization.name
        for organization in parties.organizations_named_by_id(
            session, {o for account in [*locked, *deactivated] for o in account.organization_ids}
        )
    }

    def where(account: auth.AccountStanding) -> tuple[str, str]:
        if not account.organization_ids:
            return "", " · no organisation"
        first = account.organization_ids[0]
        more = len(account.organization_ids) - 1
        name = names.get(first, "an organisation") + (f" and {more} more" if more else "")
        return f"/organizations/{first}/members", f" · {name}"

    for account in locked:
        href, name = where(account)
        assert account.locked_until is not None
        state = "" if account.is_active else ", deactivated"
        panel.add(
            Row(account.email, href,
                f"locked until {_when(account.locked_until)} after {account.failed_login_count} "
                f"failed logins{state}{name}", True)
        )  # fmt: skip
    for account in deactivated:
        href, name = where(account)
        panel.add(Row(account.email, href, f"deactivated{name}"))
    if counts.locked:
        minutes = get_settings().login_lockout_minutes
        panel.notes = [
            Note(f"A lock ends by itself {minutes} minutes after the last failed login, or at "
                 "once when you set a new password:", "opencxo users set-password --email …")
        ]  # fmt: skip
    return panel


def _audit(session: Session) -> Panel:
    panel = Panel("audit", "Audit trail", "/audit", "")
    summary = audit.chain_summary(session)
    panel.figures = [
        Figure("Events", f"{summary.events:,}", "/audit"),
        Figure("Newest", _when(summary.newest_at) if summary.newest_at else "none yet"),
    ]
    # verifying reads every event: the console's job, not each dashboard load's
    panel.notes = [
        Note("To check that no event was changed or removed, run", "opencxo audit verify",
             " at the console: it reads the whole chain and names the first bad event.")
    ]  # fmt: skip
    return panel


def _backups() -> Panel:
    # OpenCXO keeps no record of backups, so the panel says how, not when
    panel = Panel("backups", "Backups", "", "")
    panel.notes = [
        Note("Back up the database while the app keeps serving:", "opencxo db backup FILE",
             " (a verified copy: integrity, revision and audit chain)."),
        Note("Then copy the stored files directory,", "OPENCXO_FILES_DIR", "."),
        Note("Restore with the app stopped:", "opencxo db restore FILE", "."),
        Note("OpenCXO keeps no record of backups: schedule the command and watch its exit "
             "status. See “Backups” in the README."),
    ]  # fmt: skip
    return panel


def _platform(session: Session, principal: Principal) -> list[Panel]:
    return [
        _organizations(session, principal),
        _users(session, principal),
        _audit(session),
        _backups(),
    ]


def overview(session: Session, principal: Principal) -> Overview:
    panels: list[Panel] = []
    platform = _platform(session, principal) if principal.is_operator else []
    if not principal.roles:
        # the platform operator, a member of no organisation: no work of a tenant is theirs
        return Overview(panels, platform)
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
    return Overview(panels, platform)
