"""The contract and money pages through the real app: each party's view of a work order, the
e-signature, milestone, change-order, invoice and payment forms, the spend view and its exports.

World (``tests/web/conftest.py``): Acme Therapeutics (sponsor; a manager) has approved Shanghai
API Works (provider; here with a manager and a viewer). Lyon Clinical Services (another provider,
one admin) is party to nothing. The fixtures below reach an awarded lot, and an active work order,
through the sourcing and contracts services.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opencxo.contracts import service as contracts
from opencxo.contracts.models import ChangeOrder, Invoice, Payment, WorkOrder
from opencxo.contracts.schemas import SignIn, Transition, WorkOrderFromAward, WorkOrderRead
from opencxo.core.settings import get_settings
from opencxo.core.signatures import Signature
from opencxo.core.types import utcnow
from opencxo.sourcing import service as sourcing
from opencxo.sourcing.models import Rfp
from opencxo.sourcing.schemas import (
    AwardCreate,
    BidInput,
    InvitationCreate,
    LotInput,
    ProgramCreate,
    RfpCreate,
)
from opencxo.sourcing.schemas import Transition as RfpTransition
from tests.factories import PASSWORD, principal_of
from tests.web import conftest as web_fixtures
from tests.web.conftest import World, csrf_of, login, new_user

world = web_fixtures.world  # the small world of the web tests, as a fixture of this module

TODAY = date.today()
START = TODAY - timedelta(days=60)  # milestone 1 (day 30) is overdue, milestone 2 (day 150) is not
REPORT = b"%PDF-1.4 tech transfer report\n"
REPORT_SHA = hashlib.sha256(REPORT).hexdigest()


@dataclass
class Deal:
    world: World
    award_id: uuid.UUID
    sponsor: TestClient  # Acme's manager
    provider: TestClient  # Shanghai's manager
    outsider: TestClient  # Lyon's admin
    provider_viewer: TestClient  # Shanghai's viewer (reads, cannot sign or write)


@pytest.fixture
def deal(client: TestClient, session: Session, world: World) -> Deal:
    """An e-signed award: lot "API 40 kg" of Acme's RFP to Shanghai API Works, two milestones
    (120,000.00 and 480,000.50 USD), started 60 days ago."""
    manager = new_user(session, world.provider.id, "manager", "pm@shanghai.example")
    new_user(session, world.provider.id, "viewer", "viewer@shanghai.example")
    new_user(session, world.other_provider.id, "admin", "admin@lyon.example")
    sponsor = principal_of(session, world.manager)
    bidder = principal_of(session, manager)
    program = sourcing.create_program(
        session,
        sponsor,
        ProgramCreate(
            name="NW-101",
            modality="small_molecule",  # type: ignore[arg-type]
            therapeutic_area="Oncology",
            indication="NSCLC",
            phase="phase_2",  # type: ignore[arg-type]
        ),
    )
    rfp = sourcing.create_rfp(
        session,
        sponsor,
        RfpCreate(
            program_id=program.id,
            title="Phase II API supply",
            bid_deadline=utcnow() + timedelta(days=7),
            lots=[
                LotInput(
                    title="API 40 kg",
                    service_code="CMC-GMPAPI",
                    scope={"quantity_kg": 40, "grade": "GMP", "target_delivery_date": "2027-06-01"},
                )
            ],
        ),
    )
    rfp = sourcing.invite(session, sponsor, rfp.id, InvitationCreate(provider_id=world.provider.id))
    rfp = sourcing.publish_rfp(session, sponsor, rfp.id, RfpTransition(version=rfp.version))
    lot_id = rfp.lots[0].id
    bid = sourcing.save_bid(
        session,
        bidder,
        rfp.id,
        BidInput.model_validate(
            {
                "lots": [
                    {
                        "lot_id": lot_id,
                        "start_date": START,
                        "duration_days": 150,
                        "lines": [
                            {"description": "Process transfer", "deliverable": "Transfer report",
                             "amount": "120000.00", "currency": "USD", "due_offset_days": 30},
                            {"description": "Delivery 40 kg", "deliverable": "CoA and batch record",
                             "amount": "480000.50", "currency": "USD", "due_offset_days": 150},
                        ],
                    }
                ]
            }
        ),
    )  # fmt: skip
    bid = sourcing.submit_bid(session, bidder, rfp.id, RfpTransition(version=bid.version))
    session.execute(
        update(Rfp).where(Rfp.id == rfp.id).values(bid_deadline=utcnow() - timedelta(minutes=5))
    )
    session.expire_all()
    version = sourcing.get_rfp(session, sponsor, rfp.id).version  # read, and so closed
    award = sourcing.award_lot(
        session,
        sponsor,
        rfp.id,
        lot_id,
        AwardCreate(bid_id=bid.id, version=version, password=PASSWORD),
    )
    session.commit()

    def signed_in(email: str) -> TestClient:
        other = TestClient(client.app)
        login(other, email)
        return other

    login(client, "manager@acme.example")
    return Deal(
        world=world,
        award_id=award.id,
        sponsor=client,
        provider=signed_in("pm@shanghai.example"),
        outsider=signed_in("admin@lyon.example"),
        provider_viewer=signed_in("viewer@shanghai.example"),
    )


def _draft(session: Session, deal: Deal, *, terms: int = 45) -> WorkOrderRead:
    sponsor = principal_of(session, deal.world.manager)
    work_order = contracts.create_from_award(
        session, sponsor, WorkOrderFromAward(award_id=deal.award_id, payment_terms_days=terms)
    )
    session.commit()
    return work_order


@pytest.fixture
def active(session: Session, deal: Deal) -> WorkOrderRead:
    """The award's work order, sent for signature and signed by both parties (net 45 days)."""
    work_order = _draft(session, deal)
    sponsor = principal_of(session, deal.world.manager)
    contracts.send_for_signature(
        session, sponsor, work_order.id, Transition(version=work_order.version)
    )
    contracts.sign_work_order(session, sponsor, work_order.id, SignIn(password=PASSWORD))
    provider = principal_of(session, _user(session, "pm@shanghai.example"))
    work_order = contracts.sign_work_order(
        session, provider, work_order.id, SignIn(password=PASSWORD, meaning="approved")
    )
    session.commit()
    assert work_order.status == "active"
    return work_order


def _user(session: Session, email: str):  # type: ignore[no-untyped-def]
    from opencxo.core.auth.models import User

    return session.execute(select(User).where(User.email == email)).scalar_one()


def _count(session: Session, model: type, *where: object) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def _text(page: str) -> str:
    """The page's visible text on one line: tags removed, whitespace collapsed."""
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace(" .", ".").strip()
    return html.unescape(text)


def _field_error(page: str, field: str) -> str:
    match = re.search(rf'data-field-error="{re.escape(field)}">([^<]*)<', page)
    assert match, f"no error shown next to {field}"
    return html.unescape(match.group(1))


def _post(client: TestClient, page: str, action: str, data: dict[str, str], **kw: object):  # type: ignore[no-untyped-def]
    """Submit a form of ``page`` (its CSRF token) without following the redirect."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False, **kw)  # type: ignore[arg-type]


def _flash(client: TestClient, path: str) -> str:
    page = client.get(path)
    match = re.search(r'class="alert alert-success[^"]*" role="alert">([^<]*)<', page.text)
    assert match, "no confirmation shown"
    return html.unescape(match.group(1).strip())


def _submit(deal: Deal, work_order: WorkOrderRead, position: int = 1, **files: bytes):  # type: ignore[no-untyped-def]
    """The provider's submit form of a milestone, as on the page (its current version)."""
    milestone = work_order.milestones[position - 1]
    page = f"/work-orders/{work_order.id}"
    text = deal.provider.get(page).text
    action = f"{page}/milestones/{milestone.id}/submit"
    version = re.search(rf'action="{action}".*?name="version" value="(\d+)"', text, re.DOTALL)
    assert version, "no submit form for this milestone"
    uploads = [("files", (name, content, "application/pdf")) for name, content in files.items()]
    return deal.provider.post(
        action,
        data={"csrf_token": csrf_of(text), "version": version.group(1), "note": "as agreed"},
        files=uploads or [("files", ("", b"", "application/octet-stream"))],
        follow_redirects=False,
    )


def _decide(deal: Deal, work_order: WorkOrderRead, position: int, **data: str):  # type: ignore[no-untyped-def]
    """The sponsor's decision form of a submitted milestone, as on the page."""
    page = f"/work-orders/{work_order.id}"
    text = deal.sponsor.get(page).text
    action = f"{page}/milestones/{work_order.milestones[position - 1].id}/decision"
    version = re.search(rf'action="{action}".*?name="version" value="(\d+)"', text, re.DOTALL)
    assert version, "no decision form for this milestone"
    return deal.sponsor.post(
        action,
        data={"csrf_token": csrf_of(text), "version": version.group(1), **data},
        follow_redirects=False,
    )


def _accepted(session: Session, deal: Deal, active: WorkOrderRead) -> Invoice:
    """Milestone 1 submitted with the report and accepted: its invoice drafted."""
    assert _submit(deal, active, **{"report.pdf": REPORT}).status_code == 303
    assert _decide(deal, active, 1, accept="true", password=PASSWORD).status_code == 303
    session.expire_all()
    invoice = session.execute(select(Invoice)).scalar_one()
    return invoice


def _issued(session: Session, deal: Deal, active: WorkOrderRead) -> Invoice:
    return _issue(session, deal, _accepted(session, deal, active))


def _issue(session: Session, deal: Deal, invoice: Invoice) -> Invoice:
    page = f"/invoices/{invoice.id}"
    response = _post(
        deal.provider, page, f"{page}/issue",
        {"version": str(invoice.version), "number": "INV-001", "issued_on": TODAY.isoformat()},
    )  # fmt: skip
    assert response.status_code == 303, response.text
    session.expire_all()
    return session.get(Invoice, invoice.id)  # type: ignore[return-value]


def _pay(deal: Deal, invoice: Invoice, amount: str, session: Session):  # type: ignore[no-untyped-def]
    session.expire_all()
    version = session.get(Invoice, invoice.id).version  # type: ignore[union-attr]
    page = f"/invoices/{invoice.id}"
    return _post(
        deal.sponsor, page, f"{page}/payments",
        {"version": str(version), "amount": amount, "paid_on": TODAY.isoformat(), "reference": "SWIFT 42"},
    )  # fmt: skip


# --- the work order list ------------------------------------------------------------------------


def test_each_party_lists_the_work_order_with_its_value_and_paid(
    deal: Deal, active: WorkOrderRead
) -> None:
    sponsor = deal.sponsor.get("/work-orders")
    assert sponsor.status_code == 200
    rows = re.findall(r'data-testid="work-order-row">(.*?)</tr>', sponsor.text, re.DOTALL)
    assert len(rows) == 1
    row = _text(rows[0])
    assert row.startswith(f"{active.number} Phase II API supply — API 40 kg Shanghai API Works")
    assert "Active 600,000.50 USD 0.00 USD 0 %" in row
    assert "Acme Therapeutics" not in row  # the sponsor's own name is no column of theirs

    provider = deal.provider.get("/work-orders")
    row = _text(re.findall(r'data-testid="work-order-row">(.*?)</tr>', provider.text, re.DOTALL)[0])
    assert "Acme Therapeutics" in row and "Shanghai API Works" not in row
    assert "Work your clients have awarded you" in provider.text

    filtered = deal.sponsor.get("/work-orders?status=completed")
    assert 'data-testid="work-order-row"' not in filtered.text
    assert "No work orders are completed." in _text(filtered.text)


def test_a_party_to_nothing_sees_the_empty_state(deal: Deal, active: WorkOrderRead) -> None:
    page = deal.outsider.get("/work-orders")
    assert page.status_code == 200
    assert 'data-testid="work-order-row"' not in page.text
    assert "When a sponsor awards you a lot, its work order appears here" in page.text


# --- drafting, sending and signing --------------------------------------------------------------


def test_the_sponsor_drafts_the_work_order_from_the_award(session: Session, deal: Deal) -> None:
    response = _post(
        deal.sponsor, "/work-orders", "/work-orders/from-award",
        {"award_id": str(deal.award_id), "payment_terms_days": "45", "next": "/rfps"},
    )  # fmt: skip
    assert response.status_code == 303
    work_order = session.execute(select(WorkOrder)).scalar_one()
    assert response.headers["location"] == f"/work-orders/{work_order.id}"
    assert _flash(deal.sponsor, response.headers["location"]) == (
        f"Work order {work_order.number} drafted from the award: 2 milestone(s), 600,000.50 USD, "
        "net 45 days. Check it, then send it for signature."
    )
    page = deal.sponsor.get(f"/work-orders/{work_order.id}").text
    assert "net 45 days from the invoice date" in page
    assert 'data-testid="send-for-signature"' in page
    # The provider's view of the draft: nothing to do yet, no button.
    provider = deal.provider.get(f"/work-orders/{work_order.id}").text
    assert "Acme Therapeutics is preparing this work order." in _text(provider)
    assert 'data-testid="send-for-signature"' not in provider

    again = _post(
        deal.sponsor, "/work-orders", "/work-orders/from-award",
        {"award_id": str(deal.award_id), "next": "/rfps"},
    )  # fmt: skip
    assert again.status_code == 303 and again.headers["location"] == "/rfps"
    assert _count(session, WorkOrder) == 1
    flashed = deal.sponsor.get("/work-orders").text
    assert "The work order was not drafted — this award already has its work order" in flashed


def test_send_sign_with_a_wrong_password_then_both_sign(session: Session, deal: Deal) -> None:
    work_order = _draft(session, deal)
    page = f"/work-orders/{work_order.id}"
    response = _post(
        deal.sponsor, page, f"{page}/send-for-signature", {"version": str(work_order.version)}
    )
    assert response.status_code == 303
    assert _flash(deal.sponsor, page) == (
        f"{work_order.number} sent for signature to Acme Therapeutics and Shanghai API Works."
    )
    pending = deal.provider.get(page).text
    assert "Awaiting signature from Acme Therapeutics, Shanghai API Works." in _text(pending)
    assert 'data-testid="sign-form"' in pending

    wrong = _post(
        deal.provider, page, f"{page}/sign", {"password": "not-my-password", "meaning": "approved"}
    )
    assert wrong.status_code == 422
    assert _field_error(wrong.text, "password") == (
        "the password is wrong; a signature needs your own password"
    )
    assert "not-my-password" not in wrong.text
    assert 'value="approved" selected' in wrong.text  # the chosen meaning is kept
    empty = _post(deal.provider, page, f"{page}/sign", {"password": "", "meaning": "executed"})
    assert _field_error(empty.text, "password") == "enter your password to sign"
    assert _count(session, Signature, Signature.entity_type == "work_order") == 0

    assert (
        _post(
            deal.provider, page, f"{page}/sign", {"password": PASSWORD, "meaning": "approved"}
        ).status_code
        == 303
    )
    message = _flash(deal.provider, page)
    assert message.startswith(f"{work_order.number} signed by Test User (approved) at ")
    assert message.endswith("Awaiting signature from Acme Therapeutics.")
    # A viewer of the provider reads the page but gets no signature form.
    assert 'data-testid="sign-form"' not in deal.provider_viewer.get(page).text

    assert (
        _post(
            deal.sponsor, page, f"{page}/sign", {"password": PASSWORD, "meaning": "executed"}
        ).status_code
        == 303
    )
    assert _flash(deal.sponsor, page).endswith(
        "Both parties have signed: the work order is active."
    )
    signatures = re.findall(
        r'data-testid="signature">(.*?)</tr>', deal.sponsor.get(page).text, re.DOTALL
    )
    assert [_text(s).split(" ")[:4] for s in signatures] == [
        ["Shanghai", "API", "Works", "Test"],
        ["Acme", "Therapeutics", "Test", "User"],
    ]
    assert "<pm@shanghai.example> approved" in _text(signatures[0])
    assert "<manager@acme.example> executed" in _text(signatures[1])


def test_the_active_work_order_as_each_party_sees_it(deal: Deal, active: WorkOrderRead) -> None:
    page = f"/work-orders/{active.id}"
    sponsor = deal.sponsor.get(page)
    assert sponsor.status_code == 200
    header = _text(
        sponsor.text.split('data-testid="work-order-header">')[1].split('id="signatures"')[0]
    )
    assert header.startswith(
        f"{active.number} Active you are the sponsor Phase II API supply — API 40 kg"
    )
    assert f"Master services agreement {active.msa.reference} · {TODAY.isoformat()} to " in header
    assert "Total value 600,000.50 USD" in header
    assert "Payment terms net 45 days from the invoice date" in header
    assert "0 of 2 accepted" in header
    rows = [
        _text(r)
        for r in re.findall(r'data-testid="milestone-row"[^>]*>(.*?)</tr>', sponsor.text, re.DOTALL)
    ]
    assert rows == [
        f"1 Process transfer Deliverable: Transfer report {(START + timedelta(days=30)).isoformat()} overdue 120,000.00 USD Planned — —",
        f"2 Delivery 40 kg Deliverable: CoA and batch record {(START + timedelta(days=150)).isoformat()} 480,000.50 USD Planned — —",
    ]
    assert 'data-testid="submit-milestone"' not in sponsor.text  # the provider submits
    assert "Propose a change order" in sponsor.text
    assert "Terminate" in sponsor.text and 'data-testid="complete"' not in sponsor.text

    provider = deal.provider.get(page).text
    assert "you are the provider" in provider
    assert provider.count('data-testid="submit-milestone"') == 2
    assert 'data-testid="decide-milestone"' not in provider
    # A viewer reads everything and may do nothing.
    viewer = deal.provider_viewer.get(page).text
    assert "Process transfer" in viewer and 'data-testid="submit-milestone"' not in viewer
    assert "Propose a change order" not in viewer and "Terminate" not in viewer


# --- milestones, deliverables, acceptance -------------------------------------------------------


def test_submit_download_reject_and_accept(
    session: Session, deal: Deal, active: WorkOrderRead, files_dir: Path
) -> None:
    page = f"/work-orders/{active.id}"
    nothing = _submit(deal, active)
    assert nothing.status_code == 422
    assert _field_error(nothing.text, "files") == "attach the deliverable files"
    assert (
        'data-testid="submit-milestone"' in nothing.text and "as agreed" in nothing.text
    )  # note kept

    response = _submit(deal, active, **{"report.pdf": REPORT})
    assert response.status_code == 303
    assert _flash(deal.provider, page) == (
        f"Milestone 1 submitted for the sponsor's review with report.pdf (SHA-256 {REPORT_SHA[:12]}…)."
    )
    sponsor = deal.sponsor.get(page).text
    deliverable = _text(
        re.search(r'data-testid="deliverable">(.*?)</div>', sponsor, re.DOTALL).group(1)
    )  # type: ignore[union-attr]
    assert deliverable == f"report.pdf {len(REPORT)} bytes · SHA-256 {REPORT_SHA[:12]}… as agreed"
    assert f'title="SHA-256 {REPORT_SHA}"' in sponsor
    link = re.search(r'href="(/deliverables/[0-9a-f-]+/download)"', sponsor).group(1)  # type: ignore[union-attr]
    download = deal.sponsor.get(link)
    assert download.status_code == 200 and download.content == REPORT
    assert download.headers["x-content-sha256"] == REPORT_SHA
    assert download.headers["content-disposition"].startswith('attachment; filename="report.pdf"')
    assert deal.outsider.get(link).status_code == 404

    # Rejecting needs a reason; accepting needs the right password.
    no_reason = _decide(deal, active, 1, accept="false", password=PASSWORD, reason="")
    assert no_reason.status_code == 422
    assert _field_error(no_reason.text, "reason") == "say why the milestone is rejected"
    wrong = _decide(deal, active, 1, accept="true", password="nope", reason="fine")
    assert wrong.status_code == 422
    assert _field_error(wrong.text, "password") == (
        "the password is wrong; a signature needs your own password"
    )
    assert ">fine</textarea>" in wrong.text  # the reason typed is kept
    assert _count(session, Invoice) == 0

    assert (
        _decide(
            deal, active, 1, accept="false", password=PASSWORD, reason="Report unsigned"
        ).status_code
        == 303
    )
    assert _flash(deal.sponsor, page) == "Milestone 1 rejected: Report unsigned"
    provider = deal.provider.get(page).text
    assert "Rejected: Report unsigned" in provider and "Submit again" in provider

    assert _submit(deal, active, **{"report-signed.pdf": REPORT + b"signed"}).status_code == 303
    assert _decide(deal, active, 1, accept="true", password=PASSWORD).status_code == 303
    message = _flash(deal.sponsor, page)
    assert message.startswith("Milestone 1 accepted and signed by Test User at ")
    assert message.endswith("Its invoice of 120,000.00 USD is drafted for the provider to issue.")
    invoice = session.execute(select(Invoice)).scalar_one()
    sponsor = deal.sponsor.get(page).text
    assert f'href="/invoices/{invoice.id}" data-testid="invoice-link"' in sponsor
    assert "accepted by Test User" in _text(sponsor)

    # A file altered behind the application's back is refused with a 409 page.
    stored = files_dir / REPORT_SHA[:2] / REPORT_SHA
    stored.write_bytes(b"tampered")
    altered = deal.sponsor.get(link)
    assert altered.status_code == 409
    assert "report.pdf does not match its recorded SHA-256; it was altered" in altered.text


# --- invoices and payments ----------------------------------------------------------------------


def test_issue_then_pay_partially_to_the_cent(
    session: Session, deal: Deal, active: WorkOrderRead
) -> None:
    invoice = _accepted(session, deal, active)
    page = f"/invoices/{invoice.id}"
    draft = deal.provider.get(page).text
    assert "Draft invoice" in draft and 'action="/invoices/' in draft
    assert "now issues the invoice" in deal.sponsor.get(page).text  # the sponsor waits
    assert "Draft — not issued" in deal.provider.get("/invoices?status=draft").text

    blank = _post(
        deal.provider,
        page,
        f"{page}/issue",
        {"version": str(invoice.version), "number": "", "issued_on": TODAY.isoformat()},
    )
    assert blank.status_code == 422
    assert _field_error(blank.text, "number") == "String should have at least 1 character"
    assert f'value="{TODAY.isoformat()}"' in blank.text

    invoice = _issue(session, deal, invoice)
    due = TODAY + timedelta(days=45)
    assert (
        _flash(deal.provider, page)
        == f"Invoice INV-001 issued for 120,000.00 USD, due on {due.isoformat()}."
    )
    assert _text(
        re.search(r'data-testid="dates">(.*?)</div>', deal.sponsor.get(page).text).group(1)
    ) == (  # type: ignore[union-attr]
        f"{TODAY.isoformat()} · {due.isoformat()}"
    )

    over = _pay(deal, invoice, "120000.01", session)
    assert over.status_code == 422
    assert _field_error(over.text, "amount") == "at most 120000.00"
    assert 'value="120000.01"' in over.text and 'value="SWIFT 42"' in over.text

    assert _pay(deal, invoice, "20000.01", session).status_code == 303
    assert _flash(deal.sponsor, page) == (
        "Payment of 20,000.01 USD recorded; 99,999.99 USD is still outstanding."
    )
    detail = deal.provider.get(page).text
    assert (
        _text(re.search(r'data-testid="outstanding">([^<]*)<', detail).group(1)) == "99,999.99 USD"
    )  # type: ignore[union-attr]
    assert _text(re.search(r'data-testid="payment-row">(.*?)</tr>', detail).group(1)) == (  # type: ignore[union-attr]
        f"{TODAY.isoformat()} SWIFT 42 20,000.01 USD"
    )
    listing = deal.sponsor.get("/invoices").text
    assert (
        _text(re.search(r'data-testid="outstanding-USD">([^<]*)<', listing).group(1)) == "99,999.99"
    )  # type: ignore[union-attr]
    row = _text(re.search(r'data-testid="invoice-row">(.*?)</tr>', listing, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert row == (
        f"INV-001 {active.number} 1. Process transfer Issued 120,000.00 USD 20,000.01 USD "
        f"99,999.99 USD {due.isoformat()}"
    )
    assert 'data-testid="invoice-row"' not in deal.sponsor.get("/invoices?status=overdue").text

    assert _pay(deal, invoice, "99999.99", session).status_code == 303
    assert (
        _flash(deal.sponsor, page)
        == "Payment of 99,999.99 USD recorded; invoice INV-001 is paid in full."
    )
    assert _count(session, Payment) == 2
    assert (
        'action="/invoices/'
        not in deal.sponsor.get(page).text.split('id="payments"')[0].split("Record a payment")[-1]
    )


# --- change orders ------------------------------------------------------------------------------


def test_propose_a_change_order_and_both_sign(
    session: Session, deal: Deal, active: WorkOrderRead
) -> None:
    page = f"/work-orders/{active.id}"
    second = active.milestones[1]
    empty = _post(
        deal.sponsor,
        page,
        f"{page}/change-orders",
        {"version": str(active.version), "reason": "Add 8 sites"},
    )
    assert empty.status_code == 422
    assert (
        _field_error(empty.text, "changes")
        == "choose at least one change: add, change or remove a milestone"
    )
    assert ">Add 8 sites</textarea>" in empty.text

    half = _post(
        deal.sponsor, page, f"{page}/change-orders",
        {"version": str(active.version), "reason": "Add 8 sites", "add.0.description": "Extra batch"},
    )  # fmt: skip
    assert half.status_code == 422
    assert (
        _field_error(half.text, "add.0")
        == "a new milestone needs a description, an amount and a due date"
    )
    assert 'value="Extra batch"' in half.text

    due = (TODAY + timedelta(days=200)).isoformat()
    form = {
        "version": str(active.version),
        "reason": "Add a third batch and raise the delivery price",
        "add.0.description": "Extra batch",
        "add.0.amount": "50000.00",
        "add.0.due_date": due,
        f"ms.{second.id}.action": "change",
        f"ms.{second.id}.amount": "500000.50",
        f"ms.{active.milestones[0].id}.action": "keep",
    }
    assert _post(deal.sponsor, page, f"{page}/change-orders", form).status_code == 303
    assert _flash(deal.sponsor, page) == (
        "Change order 1 proposed: value 600,000.50 → 670,000.50. "
        "It applies once both parties have signed it."
    )
    provider = deal.provider.get(page).text
    change = re.search(r'data-testid="change-order"(.*?)</form>', provider, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert "Value 600,000.50 USD → 670,000.50 USD (+70,000.00)" in _text(change)
    diff = [
        _text(r)
        for r in re.findall(
            r"<tr[^>]*>(.*?)</tr>",
            change.split('data-testid="co-diff"')[1].split("</table>")[0],
            re.DOTALL,
        )
    ][1:]
    assert diff == [
        "changed Milestone 2: Delivery 40 kg Amount: 480,000.50 → 500,000.50 USD",
        f"added Extra batch 50,000.00 USD, due {due}",
    ]
    assert "Awaiting signature from Acme Therapeutics, Shanghai API Works." in _text(change)
    assert "Propose a change order" not in provider  # one pending change at a time

    sign = f"{page}/change-orders/{session.execute(select(ChangeOrder)).scalar_one().id}/sign"
    assert (
        _post(deal.provider, page, sign, {"password": PASSWORD, "meaning": "approved"}).status_code
        == 303
    )
    assert _flash(deal.provider, page) == (
        "Change order 1 signed by Test User (approved). Awaiting signature from Acme Therapeutics."
    )
    wrong = _post(deal.sponsor, page, sign, {"password": "nope", "meaning": "approved"})
    assert (
        wrong.status_code == 422
        and _field_error(wrong.text, "password")
        == "the password is wrong; a signature needs your own password"
    )
    assert (
        _post(deal.sponsor, page, sign, {"password": PASSWORD, "meaning": "approved"}).status_code
        == 303
    )
    assert _flash(deal.sponsor, page) == (
        "Change order 1 signed by Test User (approved). Both parties have signed: applied, "
        "the value is now 670,000.50."
    )
    sponsor = deal.sponsor.get(page).text
    assert "Total value 670,000.50 USD" in _text(sponsor)
    history = [
        _text(r)
        for r in re.findall(
            r"<tr>(.*?)</tr>",
            sponsor.split('data-testid="value-history"')[1].split("</table>")[0],
            re.DOTALL,
        )
    ][1:]
    assert [h.split(" UTC ")[1] for h in history] == [
        "work order 600,000.50 —",
        "change order 1 670,000.50 +70,000.00",
    ]
    assert 'id="value-chart"' in sponsor and '<script src="/assets/plotly.min.js">' in sponsor
    assert "Contract value (USD)" in sponsor  # the chart's axis names its currency
    assert "3 Extra batch" in _text(sponsor)


def test_terminate_needs_a_reason(session: Session, deal: Deal, active: WorkOrderRead) -> None:
    page = f"/work-orders/{active.id}"
    short = _post(
        deal.provider, page, f"{page}/terminate", {"version": str(active.version), "reason": "no"}
    )
    assert short.status_code == 422
    assert _field_error(short.text, "reason") == "String should have at least 3 characters"
    done = _post(
        deal.provider,
        page,
        f"{page}/terminate",
        {"version": str(active.version), "reason": "Plant fire"},
    )
    assert done.status_code == 303
    assert _flash(deal.provider, page) == f"{active.number} terminated: Plant fire"
    sponsor = deal.sponsor.get(page).text
    assert "Terminated: Plant fire" in sponsor and 'data-status="terminated"' in sponsor
    assert "Terminate" not in sponsor.split('id="value-history"')[1]
    stale = _post(
        deal.sponsor, "/work-orders", f"{page}/complete", {"version": str(active.version)}
    )
    assert stale.status_code == 409


# --- spend --------------------------------------------------------------------------------------


def test_spend_page_and_its_exports(session: Session, deal: Deal, active: WorkOrderRead) -> None:
    invoice = _issued(session, deal, active)
    assert _pay(deal, invoice, "20000.00", session).status_code == 303
    for by, key in (("program", "NW-101"), ("provider", "Shanghai API Works"), ("country", "CN")):
        page = deal.sponsor.get(f"/spend?by={by}")
        assert page.status_code == 200
        row = _text(
            re.search(r'data-testid="spend-row"[^>]*>(.*?)</tr>', page.text, re.DOTALL).group(1)
        )  # type: ignore[union-attr]
        assert row == f"{key} USD 600,000.50 0.00 120,000.00 20,000.00 480,000.50", by
    page = deal.sponsor.get("/spend?by=stage").text
    assert '<option value="stage" selected>' in page
    assert 'id="spend-chart-USD"' in page and '<script src="/assets/plotly.min.js">' in page
    assert "Amount (USD)" in page and "Spend by stage (USD)" in page
    # A provider's revenue splits by client (it sees no program names, and every row is its own)
    revenue = deal.provider.get("/spend").text
    assert "Revenue by client" in revenue
    assert re.findall(r'<option value="(\w+)"', revenue) == ["sponsor", "stage"]
    row = _text(re.search(r'data-testid="spend-row"[^>]*>(.*?)</tr>', revenue, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert row == "Acme Therapeutics USD 600,000.50 0.00 120,000.00 20,000.00 480,000.50"
    assert "Revenue by client" in deal.provider.get("/spend?by=program").text
    assert list(csv.reader(io.StringIO(deal.provider.get("/spend.csv").text)))[1][0] == (
        "Acme Therapeutics"
    )
    assert '<option value="program" selected>' in deal.sponsor.get("/spend?by=nonsense").text

    exported = deal.sponsor.get("/spend.csv?by=provider")
    assert exported.status_code == 200
    assert (
        exported.headers["content-disposition"]
        == 'attachment; filename="opencxo-spend-by-provider.csv"'
    )
    assert list(csv.reader(io.StringIO(exported.text))) == [
        ["Provider", "Currency", "Committed", "Accrued", "Invoiced", "Paid", "Remaining"],
        ["Shanghai API Works", "USD", "600000.50", "0.00", "120000.00", "20000.00", "480000.50"],
    ]
    workbook = load_workbook(io.BytesIO(deal.sponsor.get("/spend.xlsx?by=country").content))
    sheet = workbook.active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == (
        "Provider country",
        "Currency",
        "Committed",
        "Accrued",
        "Invoiced",
        "Paid",
        "Remaining",
    )
    assert values[1][:2] == ("CN", "USD")
    assert [Decimal(str(v)).quantize(Decimal("0.01")) for v in values[1][2:]] == [
        Decimal("600000.50"), Decimal("0.00"), Decimal("120000.00"), Decimal("20000.00"), Decimal("480000.50"),
    ]  # fmt: skip
    assert "Nothing to show yet" in deal.outsider.get("/spend").text
    assert list(csv.reader(io.StringIO(deal.outsider.get("/spend.csv").text)))[1:] == []


# --- other organisations ------------------------------------------------------------------------


def test_another_organisation_gets_404_everywhere(
    session: Session, deal: Deal, active: WorkOrderRead
) -> None:
    invoice = _accepted(session, deal, active)
    milestone = active.milestones[1]
    change_orders_before = _count(session, ChangeOrder)
    for path in (
        f"/work-orders/{active.id}",
        f"/invoices/{invoice.id}",
        f"/work-orders/{uuid.uuid4()}",
    ):
        response = deal.outsider.get(path)
        assert response.status_code == 404, path
        assert 'data-testid="error-detail"' in response.text
    token = csrf_of(deal.outsider.get("/work-orders").text)
    for path, data in (
        (f"/work-orders/{active.id}/sign", {"password": PASSWORD}),
        (f"/work-orders/{active.id}/terminate", {"version": str(active.version), "reason": "mine now"}),
        (f"/work-orders/{active.id}/change-orders", {"version": str(active.version), "reason": "mine now",
                                                     f"ms.{milestone.id}.action": "remove"}),
        (f"/invoices/{invoice.id}/issue", {"version": "1", "number": "X-1", "issued_on": TODAY.isoformat()}),
    ):  # fmt: skip
        response = deal.outsider.post(
            path, data={**data, "csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 404, path
    assert _count(session, ChangeOrder) == change_orders_before
    session.expire_all()
    assert session.get(WorkOrder, active.id).status == "active"  # type: ignore[union-attr]
    assert session.get(Invoice, invoice.id).number is None  # type: ignore[union-attr]
    # Anonymous: to the login page.
    anonymous = TestClient(deal.sponsor.app).get(
        f"/work-orders/{active.id}", follow_redirects=False
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_complete_once_every_milestone_is_accepted(
    session: Session, deal: Deal, active: WorkOrderRead
) -> None:
    page = f"/work-orders/{active.id}"
    for position in (1, 2):
        assert 'data-testid="complete"' not in deal.sponsor.get(page).text
        assert _submit(deal, active, position, **{f"m{position}.pdf": REPORT}).status_code == 303
        accepted = _decide(deal, active, position, accept="true", password=PASSWORD)
        assert accepted.status_code == 303
    sponsor = deal.sponsor.get(page).text
    assert "2 of 2 accepted" in _text(sponsor)
    version = re.search(r'/complete".*?name="version" value="(\d+)"', sponsor, re.DOTALL)
    assert version and 'data-testid="complete"' not in deal.provider.get(page).text
    done = _post(deal.sponsor, page, f"{page}/complete", {"version": version.group(1)})
    assert done.status_code == 303
    assert _flash(deal.sponsor, page) == f"{active.number} completed: every milestone is accepted."
    provider = deal.provider.get(page).text
    assert 'data-status="completed"' in provider
    assert "Completed: every milestone was delivered and accepted." in provider
    assert 'data-testid="submit-milestone"' not in provider and "Terminate" not in provider


def test_a_viewer_of_a_party_may_read_but_not_act(
    session: Session, deal: Deal, active: WorkOrderRead
) -> None:
    """Same organisation without the permission: 403 pages, and nothing changes."""
    page = f"/work-orders/{active.id}"
    token = csrf_of(deal.provider_viewer.get(page).text)
    milestone = active.milestones[0]
    for path, data in (
        (f"{page}/terminate", {"version": str(active.version), "reason": "not mine to end"}),
        (f"{page}/change-orders", {"version": str(active.version), "reason": "not mine to change",
                                   f"ms.{milestone.id}.action": "remove"}),
    ):  # fmt: skip
        response = deal.provider_viewer.post(
            path, data={**data, "csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 403, path
        assert "your role does not grant" in response.text
    refused = deal.provider_viewer.post(
        f"{page}/milestones/{milestone.id}/submit",
        data={"csrf_token": token, "version": str(milestone.version)},
        files=[("files", ("x.pdf", REPORT, "application/pdf"))],
        follow_redirects=False,
    )
    assert refused.status_code == 403
    session.expire_all()
    assert session.get(WorkOrder, active.id).status == "active"  # type: ignore[union-attr]
    assert _count(session, ChangeOrder) == 0
    assert not list(Path(get_settings().files_dir).rglob("*"))  # no file stored either


# --- QA fixes (2026-12-05) ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["²", "9" * 5000])
def test_a_milestone_form_with_a_version_no_row_can_have_is_a_422(
    session: Session, deal: Deal, active: WorkOrderRead, version: str
) -> None:
    """``str.isdigit`` takes "²" and 5,000 digits, which ``int()`` refuses: it was a 500."""
    milestone = active.milestones[0]
    page = f"/work-orders/{active.id}"
    response = _post(
        deal.provider, page, f"{page}/milestones/{milestone.id}/submit",
        {"version": version, "note": "as agreed"},
        files=[("files", ("report.pdf", REPORT, "application/pdf"))],
    )  # fmt: skip
    assert response.status_code == 422
    assert "this form is incomplete; reload the page and try again" in response.text
    assert (
        contracts.get_work_order(session, principal_of(session, deal.world.manager), active.id)
        .milestones[0]
        .status
        == "planned"
    )


def test_the_proposer_withdraws_a_pending_change_order(
    session: Session, deal: Deal, active: WorkOrderRead
) -> None:
    page = f"/work-orders/{active.id}"
    form = {
        "version": str(active.version),
        "reason": "Add a batch",
        "add.0.description": "Extra batch",
        "add.0.amount": "50000.00",
        "add.0.due_date": (TODAY + timedelta(days=200)).isoformat(),
    }
    assert _post(deal.sponsor, page, f"{page}/change-orders", form).status_code == 303
    change = session.execute(select(ChangeOrder)).scalar_one()
    withdraw = f"{page}/change-orders/{change.id}/withdraw"
    assert 'data-testid="co-withdraw"' not in deal.provider.get(page).text  # not its proposal
    assert f'action="{withdraw}"' in deal.sponsor.get(page).text

    stale = _post(deal.sponsor, page, withdraw, {"version": str(change.version + 1)})
    assert stale.status_code == 409
    assert "change order was changed by someone else" in stale.text
    refused = _post(deal.provider, page, withdraw, {"version": str(change.version)})
    assert refused.status_code == 403
    session.expire_all()
    assert session.get(ChangeOrder, change.id).status == "pending"  # type: ignore[union-attr]

    assert _post(deal.sponsor, page, withdraw, {"version": str(change.version)}).status_code == 303
    assert _flash(deal.sponsor, page) == "Change order 1 withdrawn; a new one may be proposed."
    session.expire_all()
    assert session.get(ChangeOrder, change.id).status == "withdrawn"  # type: ignore[union-attr]
    after = deal.sponsor.get(page).text
    assert 'data-testid="co-withdraw"' not in after and "Propose a change order" in after
