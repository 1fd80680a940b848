"""Concurrency of contracts on the real database (SQLite and PostgreSQL): people acting on the same
record at once never produce two invoices or two acceptances, and two parties signing at once
cannot leave a contract stuck.

The races are made deterministic: both requests run in real threads, each with its own app,
engine and client, and a barrier holds each of them right after it has read the record, so both
act on the same version; their writes then meet in the database.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import opencxo.contracts.service as contracts_service
from opencxo.app import create_app
from opencxo.contracts import repository
from opencxo.contracts.models import Invoice
from opencxo.contracts.schemas import MilestoneDecision
from opencxo.core.audit import verify_chain
from opencxo.core.auth import repository as auth_repository
from opencxo.core.auth import service as auth
from opencxo.core.auth.principal import Principal
from opencxo.core.db import unit_of_work
from opencxo.core.errors import Conflict
from opencxo.core.settings import Settings
from opencxo.core.signatures import Signature
from tests.contracts.conftest import API, Deal
from tests.factories import PASSWORD

STALE = "the record was changed by someone else while you worked; reload and try again"


@pytest.fixture
def clients(settings: Settings) -> Iterator[list[TestClient]]:
    """Two independent clients, each with its own app, engine and connection pool."""
    apps = [create_app(settings), create_app(settings)]
    yield [TestClient(app) for app in apps]
    for app in apps:
        app.state.engine.dispose()


def race(
    deal: Deal,
    clients: list[TestClient],
    monkeypatch: pytest.MonkeyPatch,
    *,
    hold_after: str,
    requests: list[tuple[str, str, dict[str, Any]]],
) -> list[Response]:
    """Send two POSTs (actor, path, body) at once, each held after it ran the contracts service
    function ``hold_after`` until the other has run it too."""
    # Use each token once first: the race itself then writes nothing but the action.
    for client, (actor, _, _) in zip(clients, requests, strict=True):
        assert client.get(f"{API}/msas", headers=deal.headers(actor)).status_code == 200
    barrier = threading.Barrier(len(requests), timeout=30)
    original: Callable[..., Any] = getattr(contracts_service, hold_after)

    def held(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        barrier.wait()
        return found

    monkeypatch.setattr(contracts_service, hold_after, held)
    responses: list[Response | None] = [None] * len(requests)

    def send(n: int) -> None:
        actor, path, body = requests[n]
        responses[n] = clients[n].post(f"{API}{path}", json=body, headers=deal.headers(actor))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.setattr(contracts_service, hold_after, original)
    assert all(r is not None for r in responses)
    return [r for r in responses if r is not None]


def _accepted_signatures(deal: Deal, milestone_id: str) -> list[str]:
    with Session(deal.engine) as session:
        return list(
            session.execute(
                select(Signature.signer_email).where(
                    Signature.entity_type == "milestone",
                    Signature.entity_id == milestone_id,
                    Signature.meaning == "accepted",
                )
            ).scalars()
        )


def test_two_managers_accepting_the_same_milestone_at_once_make_one_invoice(
    deal: Deal, clients: list[TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    work_order = deal.active()
    submitted = deal.ok(deal.submit(deal.milestone(work_order, 1)))
    body = {"version": submitted["version"], "accept": True, "password": PASSWORD}
    path = f"/milestones/{submitted['id']}/decision"

    responses = race(
        deal,
        clients,
        monkeypatch,
        hold_after="_milestone",
        requests=[("sponsor", path, body), ("sponsor2", path, body)],
    )

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["detail"] == STALE
    assert winner["status"] == "accepted"
    assert deal.count(Invoice) == 1
    assert deal.count(Invoice, Invoice.milestone_id == uuid.UUID(submitted["id"])) == 1
    signers = _accepted_signatures(deal, submitted["id"])
    assert signers == [winner["signatures"][0]["signer_email"]]
    assert signers[0] in (deal.emails["sponsor"], deal.emails["sponsor2"])
    assert len(deal.audit_events("accept", submitted["id"])) == 1
    milestone = deal.milestone(work_order, 1)
    assert (milestone["status"], milestone["invoice_id"]) == ("accepted", winner["invoice_id"])
    assert deal.invoice(winner["invoice_id"])["amount"] == "1000.10"
    with Session(deal.engine) as session:
        assert verify_chain(session).ok


def test_a_decision_made_on_a_stale_read_is_refused(deal: Deal, engine: Engine) -> None:
    """Two service calls in separate sessions: both read version N, the first commits, the
    second's write fails — one acceptance, one invoice."""
    work_order = deal.active()
    submitted = deal.ok(deal.submit(deal.milestone(work_order, 1)))
    milestone_id = uuid.UUID(submitted["id"])
    decision = MilestoneDecision(version=submitted["version"], accept=True, password=PASSWORD)

    def principal(session: Session, actor: str) -> Principal:
        user = auth_repository.user_by_email(session, deal.emails[actor])
        assert user is not None
        return auth.principal_for(session, user)

    late = Session(engine, expire_on_commit=False)
    try:
        late_principal = principal(late, "sponsor2")
        read = repository.milestone(late, milestone_id)
        assert read is not None and read.version == submitted["version"]

        with unit_of_work(engine) as first:
            accepted = contracts_service.decide_milestone(
                first, principal(first, "sponsor"), milestone_id, decision
            )
        assert accepted.status == "accepted"

        # The milestone's row is held and its version checked again before the signature:
        # the stale session is refused (409) before it signs anything.
        with pytest.raises(Conflict, match="changed by someone else"):
            contracts_service.decide_milestone(late, late_principal, milestone_id, decision)
        late.rollback()
    finally:
        late.close()

    assert deal.count(Invoice) == 1
    assert _accepted_signatures(deal, submitted["id"]) == [deal.emails["sponsor"]]
    # a fresh read of the same version is refused before anything is signed
    with Session(engine) as session, pytest.raises(Conflict, match="changed by someone else"):
        contracts_service.decide_milestone(
            session, principal(session, "sponsor2"), milestone_id, decision
        )
    assert deal.count(Invoice) == 1


def test_both_parties_signing_at_once_cannot_leave_the_work_order_pending(
    deal: Deal, clients: list[TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    work_order = deal.pending()
    path = f"/work-orders/{work_order['id']}/sign"
    body = {"password": PASSWORD}

    responses = race(
        deal,
        clients,
        monkeypatch,
        hold_after="_work_order",
        requests=[("sponsor", path, body), ("provider", path, body)],
    )

    # one signature lands, the other is refused and simply signs again
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    assert next(r for r in responses if r.status_code == 409).json()["detail"] == STALE
    first = next(r for r in responses if r.status_code == 200).json()
    assert (first["status"], len(first["signatures"])) == ("pending_signature", 1)
    late = (
        "provider"
        if first["signatures"][0]["signer_email"] == deal.emails["sponsor"]
        else "sponsor"
    )
    signed = deal.ok(deal.sign(work_order, late))
    assert signed["status"] == "active"
    assert len(signed["signatures"]) == 2


def test_both_parties_signing_a_change_order_at_once_cannot_leave_it_pending(
    deal: Deal, clients: list[TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    work_order = deal.active()
    body = {
        "version": work_order["version"],
        "reason": "Delivery moved",
        "changes": [
            {
                "action": "change",
                "milestone_id": work_order["milestones"][2]["id"],
                "due_date": "2030-07-01",
            }
        ],
    }
    change = deal.ok(
        deal.post(f"/work-orders/{work_order['id']}/change-orders", "sponsor", body), 201
    )
    path = f"/change-orders/{change['id']}/sign"

    responses = race(
        deal,
        clients,
        monkeypatch,
        hold_after="_work_order",
        requests=[
            ("sponsor", path, {"password": PASSWORD}),
            ("provider", path, {"password": PASSWORD}),
        ],
    )

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    first = next(r for r in responses if r.status_code == 200).json()
    assert (first["status"], len(first["signatures"])) == ("pending", 1)
    late = (
        "provider"
        if first["signatures"][0]["signer_email"] == deal.emails["sponsor"]
        else "sponsor"
    )
    applied = deal.ok(deal.post(path, late, {"password": PASSWORD}))
    assert applied["status"] == "applied"
    assert deal.milestone(work_order, 3)["due_date"] == "2030-07-01"
