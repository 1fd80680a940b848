"""Documents on the sourcing pages through the real app: the sponsor's Documents card (upload,
list, download, remove in draft), the invitee's download, the bid's sealed documents and the
sponsor's view of them after the deadline — each with its confirmation, errors next to the file
field, and nothing stored when a form is refused."""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opencxo.core.auth.models import User
from opencxo.core.files import StoredFile
from opencxo.core.notifications import Notification
from opencxo.core.types import utcnow
from opencxo.sourcing import service
from opencxo.sourcing.models import Modality, Phase, Rfp
from opencxo.sourcing.schemas import (
    BidInput,
    InvitationCreate,
    LotInput,
    ProgramCreate,
    RfpCreate,
    Transition,
)
from tests.factories import (
    make_organization,
    make_provider,
    make_qualification,
    make_user,
    principal_of,
)
from tests.web.conftest import csrf_of, login

SPEC = b"%PDF-1.4 specification of the API, 40 kg GMP"  # 44 bytes
SPEC_SHA = hashlib.sha256(SPEC).hexdigest()
PROPOSAL = b"%PDF-1.4 technical proposal"  # 27 bytes
PROPOSAL_SHA = hashlib.sha256(PROPOSAL).hexdigest()


@dataclass
class People:
    manager: User  # Acme's manager (the sponsor)
    provider: User  # Shanghai API Works' manager (invited; approved by Acme)
    rival: User  # a manager of another sponsor
    provider_id: uuid.UUID


@pytest.fixture
def people(session: Session) -> People:
    sponsor = make_organization(session, name="Acme Therapeutics", country="US")
    manager = make_user(
        session, organization_id=sponsor.id, role="manager", email="manager@acme.example"
    )
    provider = make_provider(session, name="Shanghai API Works", country="CN")
    provider_user = make_user(
        session, organization_id=provider.id, role="manager", email="bids@shanghai.example"
    )
    make_qualification(session, sponsor_user=manager, provider_id=provider.id)
    rival = make_organization(session, name="Rival Pharma", country="GB")
    rival_manager = make_user(
        session, organization_id=rival.id, role="manager", email="manager@rival.example"
    )
    session.commit()
    return People(manager, provider_user, rival_manager, provider.id)


def _client(client: TestClient, user: User) -> TestClient:
    other = TestClient(client.app)
    login(other, user.email)
    return other


def _rfp(session: Session, people: People, *, publish: bool) -> uuid.UUID:
    sponsor = principal_of(session, people.manager)
    program = service.create_program(
        session,
        sponsor,
        ProgramCreate(
            name="NW-101",
            modality=Modality.SMALL_MOLECULE,
            therapeutic_area="Oncology",
            indication="NSCLC",
            phase=Phase.PHASE_2,
        ),
    )
    rfp = service.create_rfp(
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
    rfp = service.invite(session, sponsor, rfp.id, InvitationCreate(provider_id=people.provider_id))
    if publish:
        service.publish_rfp(session, sponsor, rfp.id, Transition(version=rfp.version))
    session.commit()
    return rfp.id


def _draft_bid(session: Session, people: People, rfp_id: uuid.UUID) -> uuid.UUID:
    principal = principal_of(session, people.provider)
    lot = service.get_rfp(session, principal, rfp_id).lots[0].id
    bid = service.save_bid(
        session,
        principal,
        rfp_id,
        BidInput.model_validate(
            {
                "lots": [
                    {
                        "lot_id": lot,
                        "start_date": "2027-01-04",
                        "duration_days": 120,
                        "lines": [
                            {"description": "Delivery", "amount": "100000.00",
                             "currency": "USD", "due_offset_days": 120}
                        ],
                    }
                ]
            }
        ),
    )  # fmt: skip
    session.commit()
    return bid.id


def _close(session: Session, rfp_id: uuid.UUID) -> datetime:
    """Move the deadline a minute into the past; the RFP closes the first time anyone looks."""
    deadline = utcnow() - timedelta(minutes=1)
    session.execute(update(Rfp).where(Rfp.id == rfp_id).values(bid_deadline=deadline))
    session.commit()
    return deadline


def _by_testid(page: str, testid: str) -> str:
    """The text of the element with this ``data-testid`` (up to its first tag)."""
    match = re.search(rf'data-testid="{re.escape(testid)}">([^<]*)<', page)
    assert match, f"nothing marked {testid}"
    return _text(match.group(1))


def _upload(
    client: TestClient, page: str, action: str, name: str, content: bytes, **extra: Any
) -> Response:
    """The page's upload form, sent with one file (``name`` "" sends the input left empty)."""
    token = csrf_of(client.get(page).text)
    response: Response = client.post(
        action,
        data={"csrf_token": token, **extra},
        files=[("file", (name, content, "application/pdf"))],
        follow_redirects=False,
    )
    return response


def _post(client: TestClient, page: str, action: str) -> Response:
    token = csrf_of(client.get(page).text)
    response: Response = client.post(action, data={"csrf_token": token}, follow_redirects=False)
    return response


def _flash(client: TestClient, path: str) -> str:
    page = client.get(path)
    match = re.search(r'class="alert alert-success[^"]*" role="alert">([^<]*)<', page.text)
    assert match, "no confirmation shown"
    return html.unescape(match.group(1).strip())


def _field_error(page: str, name: str) -> str:
    match = re.search(rf'data-field-error="{re.escape(name)}">([^<]*)<', page)
    assert match, f"no error shown for {name}"
    return html.unescape(match.group(1))


def _text(fragment: str) -> str:
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()
    return html.unescape(text)


def _documents(page: str, testid: str = "documents") -> list[str]:
    """The rows of a document table, as their visible text."""
    table = re.search(rf'<table[^>]*data-testid="{testid}">(.*?)</table>', page, re.DOTALL)
    if table is None:
        return []
    rows = re.findall(r'<tr data-testid="document">(.*?)</tr>', table.group(1), re.DOTALL)
    return [_text(row) for row in rows]


def _links(page: str, prefix: str) -> list[str]:
    return re.findall(rf'href="({re.escape(prefix)}[0-9a-f-]+)"', page)


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


# --- the sponsor's documents --------------------------------------------------------------------


def test_the_sponsor_uploads_lists_downloads_and_removes_a_draft_document(
    client: TestClient, session: Session, people: People
) -> None:
    rfp_id = _rfp(session, people, publish=False)
    sponsor = _client(client, people.manager)
    page = f"/rfps/{rfp_id}"
    action = f"/rfps/{rfp_id}/attachments"
    empty = sponsor.get(page).text
    assert 'data-testid="upload-document"' in empty
    assert _by_testid(empty, "documents-empty") == (
        "No documents yet. Attach the specification, drawings or the quality agreement for the "
        "providers."
    )

    response = _upload(sponsor, page, action, "spec.pdf", SPEC)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/rfps/{rfp_id}#documents"
    assert _flash(sponsor, page) == f"Document spec.pdf added (SHA-256 {SPEC_SHA[:12]}…)."
    listed = sponsor.get(page).text
    rows = _documents(listed)
    assert len(rows) == 1
    assert rows[0].startswith(f"spec.pdf 44 Bytes {SPEC_SHA[:12]}… ")
    assert rows[0].endswith(" Remove")
    assert f'title="SHA-256 {SPEC_SHA}"' in listed
    (link,) = _links(listed, f"/rfps/{rfp_id}/attachments/")
    download = sponsor.get(link)
    assert download.status_code == 200
    assert download.content == SPEC
    assert download.headers["x-content-sha256"] == SPEC_SHA
    assert download.headers["content-disposition"].startswith('attachment; filename="spec.pdf"')
    assert _count(session, StoredFile) == 1

    # Nobody else gets it: the invitee before publication, another sponsor.
    assert _client(client, people.provider).get(link).status_code == 404
    assert _client(client, people.rival).get(link).status_code == 404

    removed = _post(sponsor, page, f"{link}/remove")
    assert removed.status_code == 303, removed.text
    assert removed.headers["location"] == f"/rfps/{rfp_id}#documents"
    assert _flash(sponsor, page) == "Document spec.pdf removed."
    assert _documents(sponsor.get(page).text) == []
    assert _count(session, StoredFile) == 0
    assert sponsor.get(link).status_code == 404


def test_a_refused_upload_shows_the_error_next_to_the_file_and_stores_nothing(
    client: TestClient, session: Session, people: People
) -> None:
    rfp_id = _rfp(session, people, publish=False)
    sponsor = _client(client, people.manager)
    page = f"/rfps/{rfp_id}"
    action = f"/rfps/{rfp_id}/attachments"

    nothing = _upload(sponsor, page, action, "", b"")
    assert nothing.status_code == 422
    assert _field_error(nothing.text, "file") == "choose a file to upload"
    assert 'data-testid="page-error"' not in nothing.text  # the error sits next to the field
    empty = _upload(sponsor, page, action, "empty.pdf", b"")
    assert empty.status_code == 422
    assert _field_error(empty.text, "file") == "the file is empty"

    forged = sponsor.post(
        action,
        data={"csrf_token": "forged"},
        files=[("file", ("spec.pdf", SPEC, "application/pdf"))],
    )
    assert forged.status_code == 403
    assert _count(session, StoredFile) == 0
    assert _documents(sponsor.get(page).text) == []


def test_a_published_rfp_shares_its_documents_and_keeps_them(
    client: TestClient, session: Session, people: People
) -> None:
    rfp_id = _rfp(session, people, publish=True)
    sponsor = _client(client, people.manager)
    provider = _client(client, people.provider)
    page = f"/rfps/{rfp_id}"

    response = _upload(sponsor, page, f"/rfps/{rfp_id}/attachments", "spec.pdf", SPEC)
    assert response.status_code == 303, response.text
    assert _flash(sponsor, page) == (
        f"Document spec.pdf added (SHA-256 {SPEC_SHA[:12]}…); the invited providers were notified."
    )
    sponsor_page = sponsor.get(page).text
    assert 'data-testid="remove-document"' not in sponsor_page  # published documents stay
    (link,) = _links(sponsor_page, f"/rfps/{rfp_id}/attachments/")
    notified = session.execute(
        select(Notification.message).where(Notification.kind == "rfp_document_added")
    ).scalars()
    assert list(notified) == ["A document was added to “Phase II API supply”: spec.pdf."]

    provider_page = provider.get(page).text
    rows = _documents(provider_page)
    assert len(rows) == 1 and rows[0].startswith(f"spec.pdf 44 Bytes {SPEC_SHA[:12]}… ")
    assert _links(provider_page, f"/rfps/{rfp_id}/attachments/") == [link]
    assert 'data-testid="upload-document"' not in provider_page
    assert provider.get(link).content == SPEC
    assert _client(client, people.rival).get(link).status_code == 404

    # A stale remove button (the RFP was published meanwhile) changes nothing.
    token = csrf_of(sponsor_page)
    stale = sponsor.post(f"{link}/remove", data={"csrf_token": token}, follow_redirects=False)
    assert stale.status_code == 409
    assert _by_testid(stale.text, "form-error") == (
        "cannot remove documents from an RFP that is published (only when draft)"
    )
    assert len(_documents(sponsor.get(page).text)) == 1


# --- the bid's documents ------------------------------------------------------------------------


def test_the_bidder_attaches_documents_sealed_until_the_deadline(
    client: TestClient, session: Session, people: People
) -> None:
    rfp_id = _rfp(session, people, publish=True)
    provider = _client(client, people.provider)
    sponsor = _client(client, people.manager)
    page = f"/rfps/{rfp_id}"
    action = f"/rfps/{rfp_id}/bid/attachments"
    no_bid = provider.get(page).text
    assert 'data-testid="upload-bid-document"' not in no_bid
    assert _by_testid(no_bid, "bid-documents-empty") == (
        "Save your bid as a draft first; then attach its documents here."
    )

    bid_id = _draft_bid(session, people, rfp_id)
    response = _upload(provider, page, action, "proposal.pdf", PROPOSAL)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/rfps/{rfp_id}#bid-documents"
    assert _flash(provider, page) == (
        f"proposal.pdf attached to your bid (SHA-256 {PROPOSAL_SHA[:12]}…); it stays sealed "
        "with the bid until the deadline."
    )
    listed = provider.get(page).text
    rows = _documents(listed, "bid-documents")
    assert len(rows) == 1
    assert rows[0].startswith(f"proposal.pdf 27 Bytes {PROPOSAL_SHA[:12]}… ")
    (link,) = _links(listed, f"/rfps/{rfp_id}/bids/{bid_id}/attachments/")
    assert provider.get(link).content == PROPOSAL
    assert sponsor.get(link).status_code == 404  # sealed until the deadline
    assert PROPOSAL_SHA[:12] not in sponsor.get(page).text

    (remove,) = re.findall(r'action="(/rfps/[^"]+/remove)"', listed)
    assert remove == f"/rfps/{rfp_id}/bid/attachments/{link.rsplit('/', 1)[1]}/remove"
    removed = _post(provider, page, remove)
    assert removed.status_code == 303, removed.text
    assert _flash(provider, page) == "proposal.pdf removed from your bid."
    assert _documents(provider.get(page).text, "bid-documents") == []
    assert _count(session, StoredFile) == 0

    again = _upload(provider, page, action, "proposal.pdf", PROPOSAL)
    assert again.status_code == 303
    principal = principal_of(session, people.provider)
    version = service.my_bid(session, principal, rfp_id).version
    service.submit_bid(session, principal, rfp_id, Transition(version=version))
    session.commit()
    stale_form = provider.get(page).text
    deadline = _close(session, rfp_id)

    # After the deadline: frozen for the bidder (a stale form is refused at the top of the page),
    # unsealed for the sponsor, on the comparison page.
    late = provider.post(
        action,
        data={"csrf_token": csrf_of(stale_form)},
        files=[("file", ("late.pdf", b"late", "application/pdf"))],
        follow_redirects=False,
    )
    assert late.status_code == 409
    assert _by_testid(late.text, "page-error") == (
        f"the bid deadline passed at {deadline:%Y-%m-%d %H:%M} UTC; bids are frozen and late "
        "submissions are refused"
    )
    frozen = provider.get(page).text
    assert 'data-testid="upload-bid-document"' not in frozen
    assert 'data-testid="remove-document"' not in frozen
    (link,) = _links(frozen, f"/rfps/{rfp_id}/bids/{bid_id}/attachments/")
    (row,) = _documents(frozen, "bid-documents")
    assert row.startswith(f"proposal.pdf 27 Bytes {PROPOSAL_SHA[:12]}… ")
    assert not row.endswith("Remove")

    comparison = sponsor.get(f"/rfps/{rfp_id}/comparison").text
    assert _links(comparison, f"/rfps/{rfp_id}/bids/{bid_id}/attachments/") == [link]
    assert _documents(comparison, "bid-documents")[0].startswith(
        f"proposal.pdf 27 Bytes {PROPOSAL_SHA[:12]}… "
    )
    download = sponsor.get(link)
    assert (download.status_code, download.content) == (200, PROPOSAL)
    assert download.headers["x-content-sha256"] == PROPOSAL_SHA
    assert _client(client, people.rival).get(link).status_code == 404
