"""Documents of RFPs and bids, through the JSON API and the service: who adds, removes and reads
them in which state, sealed bid documents, the SHA-256 re-checked on every download, and refused
uploads that leave nothing behind."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from httpx import Response
from sqlalchemy.orm import Session

from opencxo.core import files
from opencxo.core.auth import repository as auth_repository
from opencxo.core.errors import Conflict, Invalid, NotFound
from opencxo.core.files import StoredFile
from opencxo.sourcing import service
from opencxo.sourcing.models import Bid, Rfp
from tests.factories import principal_of
from tests.sourcing.conftest import API, API_LOT, Market, offer

SPEC = b"%PDF-1.4 specification of the API, 40 kg GMP"
ADDENDUM = b"Addendum 1: micronised grade accepted.\n"
PROPOSAL = b"%PDF-1.4 technical proposal of Apex"
TITLE = "Phase II API supply"


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def upload(
    market: Market,
    path: str,
    actor: str | None,
    name: str,
    content: bytes,
    content_type: str = "application/pdf",
) -> Response:
    headers = {"Authorization": f"Bearer {market.tokens[actor]}"} if actor else {}
    response: Response = market.client.post(
        API + path, files={"file": (name, content, content_type)}, headers=headers
    )
    return response


def delete(market: Market, path: str, actor: str | None) -> Response:
    return market.call("DELETE", path, actor)


def described(document: dict[str, Any]) -> tuple[str, str, int, str]:
    return (
        document["filename"],
        document["content_type"],
        document["size_bytes"],
        document["sha256"],
    )


def downloaded(market: Market, path: str, actor: str, content: bytes, name: str) -> None:
    """A download that must answer the exact bytes, with their SHA-256 and the file name."""
    response = market.get(path, actor)
    assert response.status_code == 200, response.text
    assert response.content == content
    assert sha(response.content) == sha(content)
    assert response.headers["x-content-sha256"] == sha(content)
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    )


def stored_files(market: Market) -> int:
    return market.count(StoredFile)


# --- the RFP's documents ------------------------------------------------------------------------


def test_rfp_documents_are_added_while_draft_or_open_and_read_by_invitees_once_published(
    market: Market,
) -> None:
    rfp = market.draft()
    url = f"/rfps/{rfp['id']}/attachments"
    for provider in ("apex", "borealis"):
        market.invite(rfp, provider)

    spec = market.document(upload(market, url, "sponsor", "spec.pdf", SPEC), 201)
    assert described(spec) == ("spec.pdf", "application/pdf", 44, sha(SPEC))
    assert set(spec) == {"id", "filename", "content_type", "size_bytes", "sha256", "uploaded_at"}
    draft = market.read(rfp)
    assert draft["attachments"] == [spec]
    assert draft["version"] == 1  # a document does not change the RFP's version
    assert market.notifications("apex", "rfp_document_added") == []  # a draft is not shared yet

    # Before publication the RFP does not exist for the invitees: the 404 of an unknown RFP.
    spec_url = f"{url}/{spec['id']}"
    early = market.problem(market.get(spec_url, "apex"), 404)
    unknown = market.problem(
        market.get(f"/rfps/{uuid.uuid4()}/attachments/{uuid.uuid4()}", "apex"), 404
    )
    assert early == unknown
    assert early["detail"] == "no such RFP"
    downloaded(market, spec_url, "sponsor", SPEC, "spec.pdf")
    downloaded(market, spec_url, "sponsor_viewer", SPEC, "spec.pdf")

    market.publish(rfp)
    addendum = market.document(
        upload(market, url, "sponsor", "addendum.txt", ADDENDUM, "text/plain"), 201
    )
    assert described(addendum) == ("addendum.txt", "text/plain", 39, sha(ADDENDUM))
    message = f"A document was added to “{TITLE}”: addendum.txt."
    assert market.notifications("apex", "rfp_document_added") == [message]
    assert market.notifications("borealis", "rfp_document_added") == [message]
    assert market.notifications("northwind", "rfp_document_added") == []

    for invitee in ("apex", "borealis"):
        assert [d["filename"] for d in market.read(rfp, invitee)["attachments"]] == [
            "spec.pdf",
            "addendum.txt",
        ]
        downloaded(market, spec_url, invitee, SPEC, "spec.pdf")
        downloaded(market, f"{url}/{addendum['id']}", invitee, ADDENDUM, "addendum.txt")
    assert market.read(rfp)["version"] == 2  # published once; the documents changed nothing

    # Not invited, another sponsor: the 404 of an unknown RFP; nobody signed in: 401.
    for outsider in ("cobalt", "other_sponsor"):
        assert market.problem(market.get(spec_url, outsider), 404) == unknown
    assert market.problem(market.get(spec_url, None), 401)["title"] == "Not authenticated"
    # A document of another RFP is unknown here.
    other = market.draft(title="Another RFP")
    assert (
        market.problem(market.get(f"/rfps/{other['id']}/attachments/{spec['id']}", "sponsor"), 404)[
            "detail"
        ]
        == "no such document"
    )

    attached = market.audit_events("attach")
    assert [(e.entity_type, e.entity_id, e.organization_id, e.after) for e in attached] == [
        ("rfp", rfp["id"], market.ids["northwind"],
         {"document": "spec.pdf", "sha256": sha(SPEC), "size_bytes": 44}),
        ("rfp", rfp["id"], market.ids["northwind"],
         {"document": "addendum.txt", "sha256": sha(ADDENDUM), "size_bytes": 39}),
    ]  # fmt: skip


def test_only_the_sponsor_with_rfps_write_adds_documents_and_never_after_the_deadline(
    market: Market,
) -> None:
    rfp = market.open_rfp()
    url = f"/rfps/{rfp['id']}/attachments"
    viewer = market.problem(upload(market, url, "sponsor_viewer", "spec.pdf", SPEC), 403)
    assert viewer["detail"] == "your role does not grant rfps:write"
    invitee = market.problem(upload(market, url, "apex", "spec.pdf", SPEC), 404)
    assert invitee["detail"] == "no such RFP"
    assert (
        market.problem(upload(market, url, "other_sponsor", "spec.pdf", SPEC), 404)["detail"]
        == "no such RFP"
    )
    assert market.problem(upload(market, url, None, "spec.pdf", SPEC), 401)["status"] == 401

    market.pass_deadline(rfp)
    closed = market.problem(upload(market, url, "sponsor", "late.pdf", SPEC), 409)
    assert closed["detail"] == (
        "cannot add documents to an RFP that is closed (only when draft or published)"
    )
    cancelled = market.draft(title="Cancelled RFP")
    market.post(f"/rfps/{cancelled['id']}/cancel", "sponsor", {"version": 1, "reason": "paused"})
    refused = upload(market, f"/rfps/{cancelled['id']}/attachments", "sponsor", "x.pdf", SPEC)
    assert market.problem(refused, 409)["detail"] == (
        "cannot add documents to an RFP that is cancelled (only when draft or published)"
    )
    assert stored_files(market) == 0
    assert market.audit_events("attach") == []


def test_a_document_is_removed_from_a_draft_only(market: Market) -> None:
    rfp = market.draft()
    url = f"/rfps/{rfp['id']}/attachments"
    spec = market.document(upload(market, url, "sponsor", "spec.pdf", SPEC), 201)
    kept = market.document(upload(market, url, "sponsor", "addendum.txt", ADDENDUM), 201)
    spec_url = f"{url}/{spec['id']}"

    assert market.problem(delete(market, spec_url, "sponsor_viewer"), 403)["detail"] == (
        "your role does not grant rfps:write"
    )
    assert market.problem(delete(market, spec_url, "other_sponsor"), 404)["detail"] == (
        "no such RFP"
    )
    assert stored_files(market) == 2

    removed = delete(market, spec_url, "sponsor")
    assert removed.status_code == 204, removed.text
    assert removed.content == b""
    assert market.read(rfp)["attachments"] == [kept]
    assert stored_files(market) == 1
    assert market.problem(market.get(spec_url, "sponsor"), 404)["detail"] == "no such document"
    assert market.problem(delete(market, spec_url, "sponsor"), 404)["detail"] == "no such document"
    (event,) = market.audit_events("detach")
    assert (event.entity_type, event.entity_id, event.before, event.after) == (
        "rfp",
        rfp["id"],
        {"document": "spec.pdf", "sha256": sha(SPEC), "size_bytes": 44},
        None,
    )

    market.invite(rfp, "apex")
    market.publish(rfp)
    published = market.problem(delete(market, f"{url}/{kept['id']}", "sponsor"), 409)
    assert published["detail"] == (
        "cannot remove documents from an RFP that is published (only when draft)"
    )
    assert market.read(rfp, "apex")["attachments"] == [kept]


# --- the bid's documents ------------------------------------------------------------------------


def test_bid_documents_change_only_while_the_bid_may_change(market: Market) -> None:
    rfp = market.open_rfp(invite=("apex", "borealis"))
    lot = rfp["lots"][0]["id"]
    url = f"/rfps/{rfp['id']}/bid/attachments"

    none_yet = market.problem(upload(market, url, "apex", "proposal.pdf", PROPOSAL), 404)
    assert none_yet["detail"] == "you have not started a bid on this RFP"
    sponsor = market.problem(upload(market, url, "sponsor", "proposal.pdf", PROPOSAL), 403)
    assert sponsor["detail"] == "sponsors do not bid on their own RFPs"
    assert (
        market.problem(upload(market, url, "cobalt", "proposal.pdf", PROPOSAL), 404)["detail"]
        == "no such RFP"
    )

    draft = market.ok(market.save_bid(rfp, "apex", offer(lot, ("100000.00", "USD", 90))))
    assert draft["attachments"] == []
    proposal = market.document(upload(market, url, "apex", "proposal.pdf", PROPOSAL), 201)
    assert described(proposal) == ("proposal.pdf", "application/pdf", 35, sha(PROPOSAL))
    bid = market.document(market.get(f"/rfps/{rfp['id']}/bid", "apex"))
    assert (bid["attachments"], bid["version"]) == ([proposal], draft["version"])
    (event,) = market.audit_events("attach")
    # The trail records the hash of the sealed document, not its name.
    assert (event.entity_type, event.entity_id, event.organization_id, event.after) == (
        "bid",
        bid["id"],
        market.ids["apex"],
        {"rfp_id": rfp["id"], "sha256": sha(PROPOSAL), "size_bytes": 35},
    )

    # Another invitee, with a bid of its own, cannot touch Apex's document.
    market.ok(market.save_bid(rfp, "borealis", offer(lot, ("90000.00", "USD", 90))))
    other = market.problem(delete(market, f"{url}/{proposal['id']}", "borealis"), 404)
    assert other["detail"] == "no such document"

    removed = delete(market, f"{url}/{proposal['id']}", "apex")
    assert removed.status_code == 204, removed.text
    assert market.document(market.get(f"/rfps/{rfp['id']}/bid", "apex"))["attachments"] == []
    assert market.problem(delete(market, f"{url}/{proposal['id']}", "apex"), 404)["detail"] == (
        "no such document"
    )
    (detached,) = market.audit_events("detach")
    assert detached.before == {"rfp_id": rfp["id"], "sha256": sha(PROPOSAL), "size_bytes": 35}

    final = market.document(upload(market, url, "apex", "final.pdf", PROPOSAL + b" v2"), 201)
    market.transition_bid(rfp, "apex", "submit", bid["version"])
    # A submitted bid may still change until the deadline, its documents too.
    extra = market.document(upload(market, url, "apex", "cv.txt", b"CV", "text/plain"), 201)

    deadline = market.pass_deadline(rfp)
    frozen = (
        f"the bid deadline passed at {deadline:%Y-%m-%d %H:%M} UTC; bids are frozen "
        "and late submissions are refused"
    )
    late = market.problem(upload(market, url, "apex", "late.pdf", PROPOSAL), 409)
    assert late["detail"] == frozen
    gone = market.problem(delete(market, f"{url}/{extra['id']}", "apex"), 409)
    assert gone["detail"] == frozen
    attachments = market.document(market.get(f"/rfps/{rfp['id']}/bid", "apex"))["attachments"]
    assert [d["filename"] for d in attachments] == ["final.pdf", "cv.txt"]
    assert [a["id"] for a in attachments] == [final["id"], extra["id"]]


@pytest.mark.parametrize("deadline_passed", [False, True], ids=["before", "after"])
def test_bid_documents_are_sealed_until_the_deadline(market: Market, deadline_passed: bool) -> None:
    """The bidder reads its document at any time; the sponsor only after the deadline and only
    a submitted bid's; everyone else never — each refusal the 404 of an unknown document."""
    rfp = market.open_rfp(invite=("apex", "borealis"))
    lot = rfp["lots"][0]["id"]
    url = f"/rfps/{rfp['id']}/bid/attachments"
    submitted = market.bid(rfp, "apex", offer(lot, ("100000.00", "USD", 90)))
    proposal = market.document(upload(market, url, "apex", "proposal.pdf", PROPOSAL), 201)
    drafted = market.ok(market.save_bid(rfp, "borealis", offer(lot, ("90000.00", "USD", 90))))
    note = market.document(upload(market, url, "borealis", "note.txt", b"draft", "text/plain"), 201)
    if deadline_passed:
        market.pass_deadline(rfp)

    path = f"/rfps/{rfp['id']}/bids/{submitted['id']}/attachments/{proposal['id']}"
    draft_path = f"/rfps/{rfp['id']}/bids/{drafted['id']}/attachments/{note['id']}"
    sealed = f"/rfps/{rfp['id']}/bids/{submitted['id']}/attachments/{uuid.uuid4()}"
    no_rfp = f"/rfps/{uuid.uuid4()}/bids/{submitted['id']}/attachments/{proposal['id']}"
    open_to_sponsor = 200 if deadline_passed else 404
    expected = {
        "apex": 200,  # the bidder
        "borealis": 404,  # another invitee
        "sponsor": open_to_sponsor,
        "sponsor_viewer": open_to_sponsor,
        "other_sponsor": 404,
        "cobalt": 404,  # not invited
        None: 401,
    }
    answers = {actor: market.get(path, actor) for actor in expected}
    assert {actor: r.status_code for actor, r in answers.items()} == expected
    for actor, response in answers.items():
        if response.status_code == 200:
            downloaded(market, path, str(actor), PROPOSAL, "proposal.pdf")
        elif response.status_code == 404:
            unknown = no_rfp if actor in ("other_sponsor", "cobalt") else sealed
            assert market.problem(response, 404) == market.problem(market.get(unknown, actor), 404)
    details = {a: r.json()["detail"] for a, r in answers.items() if r.status_code == 404}
    assert details == {
        "borealis": "no such document",
        **({} if deadline_passed else {"sponsor": "no such document",
                                       "sponsor_viewer": "no such document"}),
        "other_sponsor": "no such RFP",
        "cobalt": "no such RFP",
    }  # fmt: skip

    # A bid never submitted stays sealed from the sponsor, even after the deadline.
    assert market.get(draft_path, "borealis").content == b"draft"
    assert market.problem(market.get(draft_path, "sponsor"), 404)["detail"] == "no such document"
    # The sponsor's view of the bids carries the documents once they are unsealed.
    received = market.ok(market.get(f"/rfps/{rfp['id']}/bids", "sponsor"))
    if deadline_passed:
        assert [(b["provider_name"], b["attachments"]) for b in received] == [
            ("Apex Chem", [proposal])
        ]
    else:
        assert [set(b) for b in received] == [{"provider_id", "provider_name", "submitted_at"}]


# --- integrity and refused uploads --------------------------------------------------------------


def test_a_document_altered_or_lost_on_disk_is_refused_on_download(
    market: Market, files_dir: Path
) -> None:
    rfp = market.open_rfp()
    lot = rfp["lots"][0]["id"]
    spec = market.document(
        upload(market, f"/rfps/{rfp['id']}/attachments", "sponsor", "spec.pdf", SPEC), 201
    )
    bid = market.ok(market.save_bid(rfp, "apex", offer(lot, ("100000.00", "USD", 90))))
    proposal = market.document(
        upload(market, f"/rfps/{rfp['id']}/bid/attachments", "apex", "proposal.pdf", PROPOSAL), 201
    )
    spec_url = f"/rfps/{rfp['id']}/attachments/{spec['id']}"
    proposal_url = f"/rfps/{rfp['id']}/bids/{bid['id']}/attachments/{proposal['id']}"
    stored = files_dir / sha(SPEC)[:2] / sha(SPEC)
    assert stored.read_bytes() == SPEC
    downloaded(market, spec_url, "apex", SPEC, "spec.pdf")

    stored.write_bytes(SPEC.replace(b"40 kg", b"60 kg"))
    for actor in ("sponsor", "apex"):
        altered = market.problem(market.get(spec_url, actor), 409)
        assert altered["detail"] == "spec.pdf does not match its recorded SHA-256; it was altered"
    downloaded(market, proposal_url, "apex", PROPOSAL, "proposal.pdf")  # other files unharmed

    stored.unlink()
    missing = market.problem(market.get(spec_url, "apex"), 409)
    assert missing["detail"] == "spec.pdf is missing from the file store"
    (files_dir / sha(PROPOSAL)[:2] / sha(PROPOSAL)).write_bytes(b"tampered")
    assert market.problem(market.get(proposal_url, "apex"), 409)["detail"] == (
        "proposal.pdf does not match its recorded SHA-256; it was altered"
    )


def test_empty_and_oversized_documents_are_refused_and_leave_nothing(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1024 * 1024)  # 1 MiB, to keep the test light
    rfp = market.open_rfp()
    lot = rfp["lots"][0]["id"]
    market.ok(market.save_bid(rfp, "apex", offer(lot, ("100000.00", "USD", 90))))
    audit_before = len(market.audit_events())
    for path, actor in (
        (f"/rfps/{rfp['id']}/attachments", "sponsor"),
        (f"/rfps/{rfp['id']}/bid/attachments", "apex"),
    ):
        empty = market.problem(upload(market, path, actor, "empty.pdf", b""), 422)
        assert (empty["detail"], empty["errors"]) == (
            "empty.pdf is empty",
            [{"field": "file", "message": "the file is empty"}],
        )
        big = market.problem(upload(market, path, actor, "big.bin", b"x" * (1024 * 1024 + 1)), 422)
        assert (big["detail"], big["errors"]) == (
            "big.bin is larger than 1 MiB",
            [{"field": "file", "message": "too large"}],
        )
        nameless = market.problem(upload(market, path, actor, "", b"data"), 422)
        # A part without a file name is no file at all (FastAPI's own validation).
        assert nameless["errors"] == [
            {
                "field": "file",
                "message": "Value error, Expected UploadFile, received: <class 'str'>",
            }
        ]
    assert stored_files(market) == 0
    assert len(market.audit_events()) == audit_before
    assert market.read(rfp)["attachments"] == []
    assert market.notifications("apex", "rfp_document_added") == []

    exact = upload(market, f"/rfps/{rfp['id']}/attachments", "sponsor", "max.bin", b"y" * 1048576)
    assert market.document(exact, 201)["size_bytes"] == 1048576


# --- the service, called directly ---------------------------------------------------------------


def test_the_service_returns_the_bytes_and_raises_typed_errors(
    market: Market, session: Session
) -> None:
    def principal(name: str) -> Any:
        user = auth_repository.user_by_email(session, market.emails[name])
        assert user is not None
        return principal_of(session, user)

    sponsor, apex, borealis = principal("sponsor"), principal("apex"), principal("borealis")
    rfp = market.draft(lots=[API_LOT])
    rfp_id = uuid.UUID(rfp["id"])
    added = service.add_rfp_attachment(
        session, sponsor, rfp_id, "spec.pdf", "application/pdf", SPEC
    )
    assert (added.filename, added.size_bytes, added.sha256) == ("spec.pdf", 44, sha(SPEC))
    stored, content = service.rfp_attachment(session, sponsor, rfp_id, added.id)
    assert (stored.id, content) == (added.id, SPEC)
    with pytest.raises(NotFound, match=r"^no such RFP$"):
        service.rfp_attachment(session, apex, rfp_id, added.id)  # invited? not even: a draft
    with pytest.raises(Invalid) as empty:
        service.add_rfp_attachment(session, sponsor, rfp_id, "e.pdf", "application/pdf", b"")
    assert empty.value.field_errors == {"file": "the file is empty"}
    session.commit()

    market.invite(rfp, "apex")
    market.publish(rfp)
    session.expire_all()
    with pytest.raises(Conflict) as published:
        service.remove_rfp_attachment(session, sponsor, rfp_id, added.id)
    assert published.value.message == (
        "cannot remove documents from an RFP that is published (only when draft)"
    )
    assert service.rfp_attachment(session, apex, rfp_id, added.id)[1] == SPEC
    with pytest.raises(NotFound, match=r"^no such RFP$"):
        service.rfp_attachment(session, borealis, rfp_id, added.id)
    session.rollback()

    lot = rfp["lots"][0]["id"]
    bid = market.bid(rfp, "apex", offer(lot, ("100000.00", "USD", 90)))
    session.expire_all()
    document = service.add_bid_attachment(
        session, apex, rfp_id, "p.pdf", "application/pdf", PROPOSAL
    )
    bid_id = uuid.UUID(bid["id"])
    assert service.bid_attachment(session, apex, rfp_id, bid_id, document.id)[1] == PROPOSAL
    with pytest.raises(NotFound, match=r"^no such document$"):
        service.bid_attachment(session, sponsor, rfp_id, bid_id, document.id)
    removed = service.remove_bid_attachment(session, apex, rfp_id, document.id)
    assert removed == document
    row = session.get(Bid, bid_id)
    assert row is not None and row.attachments == []
    rfp_row = session.get(Rfp, rfp_id)
    assert rfp_row is not None and [f.filename for f in rfp_row.attachments] == ["spec.pdf"]
    session.rollback()
