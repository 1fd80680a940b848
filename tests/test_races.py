"""Concurrent writers against the real app on 127.0.0.1: no data is lost, nothing happens twice.

- Two state-changing requests at the same moment (a barrier; one thread and connection each):
  exactly one succeeds, the other answers 409, and the database holds exactly one effect — for
  the money- and compliance-critical transitions (awarding a lot, signing a work order,
  submitting and accepting a milestone, paying an invoice, a batch's QA disposition), and for
  pairs whose checks read what the other writes (an award and a cancellation, a plan and a
  cancellation of an order).
- A request waiting for the database never stalls the server (upload endpoints are ``async``).
- Lock order (PostgreSQL only): a request made while a save of the same record is in flight
  waits for the record's row and answers 409, never a deadlock (a 500).

The app runs under uvicorn in a thread. On SQLite the writers are serialised by the database; on
PostgreSQL (``OPENCXO_TEST_DATABASE_URL``) they really overlap.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from opencxo.clinical import service as clinical
from opencxo.clinical.schemas import StudyCreate
from opencxo.contracts.models import ChangeOrder, Invoice, Payment, WorkOrder
from opencxo.core.audit import AuditChainHead, AuditEvent, verify_chain
from opencxo.core.auth.models import ApiToken, Membership, User
from opencxo.core.settings import Settings
from opencxo.core.signatures import Signature
from opencxo.core.types import utcnow
from opencxo.economics import service as economics
from opencxo.economics import stored
from opencxo.economics.models import Portfolio, ValuationScenario
from opencxo.economics.records import PortfolioCreate, ScenarioCreate
from opencxo.manufacturing.models import Batch, ProductionOrder
from opencxo.parties.models import PerformanceRecord
from opencxo.sourcing.models import Award, Rfp
from tests.contracts.conftest import BIDDER, LINES, LOTS, START, Deal, deal
from tests.factories import (
    PASSWORD,
    make_organization,
    make_program,
    make_token,
    make_user,
    principal_of,
)
from tests.live_server import serving
from tests.manufacturing.batch_helpers import PASSING, add_results, make_batch
from tests.manufacturing.conftest import PlantWorld, plant

__all__ = ["deal", "plant"]  # fixtures of the contracts and manufacturing tests, reused here

API = "/api/v1"
TIMEOUT_S = 30.0
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def live_server(settings: Settings, engine: Engine) -> Iterator[str]:
    """The real app on 127.0.0.1 in a background thread; stopped before the database is wiped.

    On PostgreSQL its connections give up waiting for a lock after a while (``lock_timeout``):
    a request stuck behind another turns into a failed test, not a hung run.
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict({"options": f"-c lock_timeout={int(TIMEOUT_S * 500)}"})
        settings = settings.model_copy(
            update={"database_url": url.render_as_string(hide_password=False)}
        )
    with serving(settings) as url:
        yield url


def race(base_url: str, *requests: Callable[[httpx.Client], httpx.Response]) -> list[int]:
    """Send the requests at the same moment (one thread and connection each); their statuses."""
    barrier = threading.Barrier(len(requests), timeout=TIMEOUT_S)
    statuses: list[int | BaseException] = [0] * len(requests)

    def run(n: int, send: Callable[[httpx.Client], httpx.Response]) -> None:
        with httpx.Client(base_url=base_url, timeout=TIMEOUT_S) as client:
            client.get("/api/v1/openapi.json")  # the connection is open before the barrier
            try:
                barrier.wait()
                statuses[n] = send(client).status_code
            except BaseException as exc:  # reported below, not lost in the thread
                statuses[n] = exc

    threads = [threading.Thread(target=run, args=(n, r)) for n, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S + 5)
    assert not any(t.is_alive() for t in threads), "a request did not finish in time"
    failures = [s for s in statuses if isinstance(s, BaseException)]
    assert not failures, failures
    return sorted(s for s in statuses if isinstance(s, int))


def count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
        )


def chain_ok(engine: Engine) -> None:
    with Session(engine) as session:
        result = verify_chain(session)
    assert result.ok, result.problem


# --- sourcing: awarding a lot -------------------------------------------------------------------


def closed_rfp(
    deal: Deal, services: tuple[str, ...] = ("CMC-GMPAPI",), provider: str = "apex"
) -> tuple[str, list[str], str]:
    """An RFP with a lot per service and one submitted bid on every lot, whose deadline has
    passed: (path, lot ids, bid id)."""
    rfp = deal.ok(
        deal.post(
            "/rfps",
            "sponsor",
            {
                "program_id": deal.program(),
                "title": "Outsourcing for NW-101",
                "bid_deadline": (utcnow() + timedelta(days=7)).isoformat(),
                "lots": [LOTS[service] for service in services],
            },
        ),
        201,
    )
    path = f"/rfps/{rfp['id']}"
    rfp = deal.ok(
        deal.post(f"{path}/invitations", "sponsor", {"provider_id": str(deal.ids[provider])}), 201
    )
    rfp = deal.ok(deal.post(f"{path}/publish", "sponsor", {"version": rfp["version"]}))
    lot_ids = [lot["id"] for lot in rfp["lots"]]
    offers = [
        {
            "lot_id": lot_id,
            "start_date": START.isoformat(),
            "duration_days": 150,
            "lines": [
                {"description": d, "amount": a, "currency": c, "due_offset_days": o}
                for d, a, c, o in LINES
            ],
        }
        for lot_id in lot_ids
    ]
    bid = deal.ok(deal.call("PUT", f"{path}/bid", BIDDER[provider], {"lots": offers}))
    bid = deal.ok(deal.post(f"{path}/bid/submit", BIDDER[provider], {"version": bid["version"]}))
    with deal.engine.begin() as connection:
        connection.execute(
            update(Rfp)
            .where(Rfp.id == uuid.UUID(rfp["id"]))
            .values(bid_deadline=utcnow() - timedelta(minutes=5))
        )
    assert deal.ok(deal.get(path, "sponsor"))["status"] == "closed"  # the first look closes it
    return path, lot_ids, bid["id"]


def test_awarding_a_lot_twice_at_once_awards_it_once(deal: Deal, live_server: str) -> None:
    path, (lot_id,), bid_id = closed_rfp(deal)
    version = deal.ok(deal.get(path, "sponsor"))["version"]
    body = {"bid_id": bid_id, "version": version, "password": PASSWORD}
    headers = deal.headers("sponsor")

    def award(client: httpx.Client) -> httpx.Response:
        return client.post(f"{API}{path}/lots/{lot_id}/award", json=body, headers=headers)

    assert race(live_server, award, award) == [201, 409]
    assert count(deal.engine, Award) == 1
    assert count(deal.engine, Signature, Signature.entity_type == "award") == 1
    assert count(deal.engine, AuditEvent, AuditEvent.action == "award") == 1
    assert deal.ok(deal.get(path, "sponsor"))["status"] == "awarded"
    chain_ok(deal.engine)


def test_an_rfp_is_never_cancelled_with_a_lot_awarded(deal: Deal, live_server: str) -> None:
    """The sponsor cancels the RFP while a colleague awards one of its two lots: one of them
    wins. Never a cancelled RFP holding an e-signed award (cancelling checks there is none)."""
    path, lot_ids, bid_id = closed_rfp(deal, ("CMC-GMPAPI", "CLIN-MONITOR"))
    version = deal.ok(deal.get(path, "sponsor"))["version"]

    def award(client: httpx.Client) -> httpx.Response:
        return client.post(
            f"{API}{path}/lots/{lot_ids[0]}/award",
            json={"bid_id": bid_id, "version": version, "password": PASSWORD},
            headers=deal.headers("sponsor2"),
        )

    def cancel(client: httpx.Client) -> httpx.Response:
        return client.post(
            f"{API}{path}/cancel",
            json={"version": version, "reason": "Budget withdrawn"},
            headers=deal.headers("sponsor"),
        )

    statuses = race(live_server, award, cancel)
    status = deal.ok(deal.get(path, "sponsor"))["status"]
    awards = count(deal.engine, Award)
    assert (status, awards) in (("cancelled", 0), ("closed", 1)), (statuses, status, awards)
    assert sorted(statuses) in ([200, 409], [201, 409]), statuses
    chain_ok(deal.engine)


def test_awarding_the_last_two_lots_at_once_awards_the_rfp(deal: Deal, live_server: str) -> None:
    """Two lots awarded at the same moment (two sponsor users): whatever lands, the RFP is
    awarded exactly when every lot is."""
    path, lot_ids, bid_id = closed_rfp(deal, ("CMC-GMPAPI", "CLIN-MONITOR"))
    version = deal.ok(deal.get(path, "sponsor"))["version"]

    def award(lot_id: str, actor: str) -> Callable[[httpx.Client], httpx.Response]:
        return lambda client: client.post(
            f"{API}{path}/lots/{lot_id}/award",
            json={"bid_id": bid_id, "version": version, "password": PASSWORD},
            headers=deal.headers(actor),
        )

    statuses = race(live_server, award(lot_ids[0], "sponsor"), award(lot_ids[1], "sponsor2"))
    assert statuses in ([201, 201], [201, 409])
    awards = count(deal.engine, Award)
    assert awards == statuses.count(201)
    status = deal.ok(deal.get(path, "sponsor"))["status"]
    assert status == ("awarded" if awards == 2 else "closed")
    chain_ok(deal.engine)


# --- contracts: signing, accepting a milestone, paying an invoice ------------------------------


def test_signing_a_work_order_twice_at_once_signs_it_once(deal: Deal, live_server: str) -> None:
    work_order = deal.pending()
    headers = deal.headers("sponsor")

    def sign(client: httpx.Client) -> httpx.Response:
        return client.post(
            f"{API}/work-orders/{work_order['id']}/sign",
            json={"password": PASSWORD},
            headers=headers,
        )

    assert race(live_server, sign, sign) == [200, 409]
    assert (
        count(
            deal.engine,
            Signature,
            Signature.entity_type == "work_order",
            Signature.entity_id == work_order["id"],
        )
        == 1
    )
    assert deal.read(work_order)["status"] == "pending_signature"
    chain_ok(deal.engine)


def test_both_parties_signing_at_once_never_leave_it_pending(deal: Deal, live_server: str) -> None:
    """Sponsor and provider sign at the same moment: either both land and the work order is
    active, or the second answers 409 — never two signatures on a pending work order."""
    work_order = deal.pending()

    def sign(actor: str) -> Callable[[httpx.Client], httpx.Response]:
        return lambda client: client.post(
            f"{API}/work-orders/{work_order['id']}/sign",
            json={"password": PASSWORD},
            headers=deal.headers(actor),
        )

    statuses = race(live_server, sign("sponsor"), sign("provider"))
    signed = count(
        deal.engine,
        Signature,
        Signature.entity_type == "work_order",
        Signature.entity_id == work_order["id"],
    )
    status = deal.read(work_order)["status"]
    assert (statuses, signed, status) in (
        ([200, 200], 2, "active"),
        ([200, 409], 1, "pending_signature"),
    )
    chain_ok(deal.engine)


def test_accepting_a_milestone_twice_at_once_drafts_one_invoice(
    deal: Deal, live_server: str
) -> None:
    work_order = deal.active()
    submitted = deal.ok(deal.submit(deal.milestone(work_order, 1)))
    body = {"version": submitted["version"], "accept": True, "password": PASSWORD}
    headers = deal.headers("sponsor")

    def accept(client: httpx.Client) -> httpx.Response:
        return client.post(
            f"{API}/milestones/{submitted['id']}/decision", json=body, headers=headers
        )

    assert race(live_server, accept, accept) == [200, 409]
    assert count(deal.engine, Invoice, Invoice.milestone_id == uuid.UUID(submitted["id"])) == 1
    assert (
        count(
            deal.engine,
            Signature,
            Signature.entity_type == "milestone",
            Signature.entity_id == submitted["id"],
        )
        == 1
    )
    assert count(deal.engine, PerformanceRecord) == 1
    chain_ok(deal.engine)


def test_submitting_a_milestone_twice_at_once_records_one_submission(
    deal: Deal, live_server: str
) -> None:
    work_order = deal.active()
    milestone = deal.milestone(work_order, 1)
    headers = deal.headers("provider")

    def submit(client: httpx.Client) -> httpx.Response:
        return client.post(
            f"{API}/milestones/{milestone['id']}/submit",
            data={"version": str(milestone["version"]), "note": "done"},
            files=[("files", ("report.pdf", b"%PDF-1.4 report", "application/pdf"))],
            headers=headers,
        )

    assert race(live_server, submit, submit) == [200, 409]
    read = deal.milestone(work_order, 1)
    assert read["status"] == "submitted"
    assert len(read["deliverables"]) == 1
    events = deal.audit_events("submit", milestone["id"])
    assert len(events) == 1
    chain_ok(deal.engine)


def _issued_invoice(deal: Deal) -> dict[str, Any]:
    work_order = deal.active()
    deal.accept(work_order, 1)
    invoice_id = deal.milestone(work_order, 1)["invoice_id"]
    deal.ok(deal.issue(invoice_id, number="INV-1", issued_on=START))
    return deal.invoice(invoice_id)


def test_paying_an_invoice_twice_at_once_records_one_payment(deal: Deal, live_server: str) -> None:
    invoice = _issued_invoice(deal)
    body = {"version": invoice["version"], "amount": invoice["amount"], "paid_on": "2030-02-01"}
    headers = deal.headers("sponsor")

    def pay(client: httpx.Client) -> httpx.Response:
        return client.post(f"{API}/invoices/{invoice['id']}/payments", json=body, headers=headers)

    assert race(live_server, pay, pay) == [200, 409]
    assert count(deal.engine, Payment, Payment.invoice_id == uuid.UUID(invoice["id"])) == 1
    after = deal.invoice(invoice["id"])
    assert after["status"] == "paid"
    assert after["paid"] == invoice["amount"]
    assert len(deal.audit_events("pay", invoice["id"])) == 1
    chain_ok(deal.engine)


def test_two_partial_payments_at_once_cannot_overpay(deal: Deal, live_server: str) -> None:
    """Two sponsors' users each pay 60 % of an invoice at the same moment: one lands."""
    invoice = _issued_invoice(deal)
    share = f"{float(invoice['amount']) * 0.6:.2f}"
    body = {"version": invoice["version"], "amount": share, "paid_on": "2030-02-01"}

    def pay(actor: str) -> Callable[[httpx.Client], httpx.Response]:
        return lambda client: client.post(
            f"{API}/invoices/{invoice['id']}/payments", json=body, headers=deal.headers(actor)
        )

    assert race(live_server, pay("sponsor"), pay("sponsor2")) == [200, 409]
    after = deal.invoice(invoice["id"])
    assert after["paid"] == share
    assert after["status"] == "issued"
    chain_ok(deal.engine)


def test_a_retried_payment_with_one_idempotency_key_pays_once(deal: Deal, live_server: str) -> None:
    """The same request sent twice at once with one Idempotency-Key: one payment; the other
    answer is the replay or 409 (the first still running)."""
    invoice = _issued_invoice(deal)
    body = {"version": invoice["version"], "amount": invoice["amount"], "paid_on": "2030-02-01"}
    headers = deal.headers("sponsor") | {"Idempotency-Key": f"pay-{invoice['id']}"}

    def pay(client: httpx.Client) -> httpx.Response:
        return client.post(f"{API}/invoices/{invoice['id']}/payments", json=body, headers=headers)

    assert race(live_server, pay, pay) in ([200, 200], [200, 409])
    assert count(deal.engine, Payment, Payment.invoice_id == uuid.UUID(invoice["id"])) == 1
    chain_ok(deal.engine)


# --- manufacturing: QA disposition --------------------------------------------------------------


def _qa_headers(plant: PlantWorld) -> dict[str, str]:
    user = plant.session.get(User, plant["qa"].user_id)
    assert user is not None
    return {"Authorization": f"Bearer {make_token(plant.session, user=user)}"}


@pytest.mark.parametrize(
    ("first", "second"),
    [("release", "release"), ("reject", "reject"), ("release", "reject")],
)
def test_a_batch_is_dispositioned_once(
    plant: PlantWorld, engine: Engine, live_server: str, first: str, second: str
) -> None:
    batch = make_batch(plant, "API-1", "B-API-9", status="completed")
    add_results(plant, batch, PASSING)
    headers = _qa_headers(plant)
    plant.session.commit()
    batch_id, version = batch.id, batch.version

    def dispose(action: str) -> Callable[[httpx.Client], httpx.Response]:
        body: dict[str, Any] = {"version": version, "password": PASSWORD}
        if action == "reject":
            body["reason"] = "Assay trend out of control"
        return lambda client: client.post(
            f"{API}/mfg/batches/{batch_id}/{action}", json=body, headers=headers
        )

    assert race(live_server, dispose(first), dispose(second)) == [200, 409]
    assert count(engine, Signature, Signature.entity_id == str(batch_id)) == 1
    disposed = count(
        engine,
        AuditEvent,
        AuditEvent.entity_id == str(batch_id),
        AuditEvent.action.in_(["released", "rejected"]),
    )
    assert disposed == 1
    with engine.connect() as connection:
        status = connection.execute(select(Batch.status).where(Batch.id == batch_id)).scalar_one()
    assert status in ("released", "rejected")
    chain_ok(engine)


# --- the event loop: a request waiting on the database never stalls the others ---------------
#
# Upload endpoints are ``async`` (they read the file on the event loop); their use case must then
# run in the thread pool. Run on the loop, a use case waiting for a lock (a row another request
# holds, SQLite's write lock) stalls every request of the server — the lock holder's commit
# included: two concurrent milestone submissions hung the server for good on PostgreSQL.

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
RESPONSIVE_S = 3.0


@contextmanager
def writes_held(engine: Engine) -> Iterator[None]:
    """Every write of the app waits while this holds (SQLite: the database's write lock;
    PostgreSQL: the audit chain's head row, which every use case updates)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
            yield
            raw.driver_connection.execute("ROLLBACK")  # type: ignore[union-attr]
        finally:
            raw.close()
        return
    with engine.connect() as connection, connection.begin() as transaction:
        connection.execute(select(AuditChainHead).with_for_update())
        yield
        transaction.rollback()


def _blocked(engine: Engine, within_s: float = 10) -> bool:
    """Whether a request waits for a lock within ``within_s`` (PostgreSQL shows it; on SQLite,
    which does not, a pause and True)."""
    if engine.dialect.name == "sqlite":
        time.sleep(0.5)
        return True
    deadline = time.monotonic() + within_s
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            ).scalar_one()
            connection.rollback()  # the activity view is a snapshot per transaction
            if waiting:
                return True
            time.sleep(0.05)
    return False


def _wait_until_blocked(engine: Engine) -> None:
    if not _blocked(engine):
        pytest.fail("the request never waited for the held lock")


@dataclass
class Sponsor:
    """A sponsor's admin, signed in on the web (cookies, CSRF token) and holding an API token."""

    token: str
    cookies: httpx.Cookies
    csrf: str
    program_id: uuid.UUID
    study_id: uuid.UUID
    scenario_id: uuid.UUID
    portfolio_id: uuid.UUID
    membership_id: uuid.UUID  # of a colleague (a viewer)


@pytest.fixture
def sponsor(session: Session, live_server: str) -> Sponsor:
    organization = make_organization(session, name="Northwind Therapeutics", country="US")
    user = make_user(session, organization_id=organization.id, role="admin")
    admin = principal_of(session, user)
    program = make_program(session, admin)
    study = clinical.create_study(
        session,
        admin,
        StudyCreate(
            program_id=program.id,
            code="NWT-204-201",
            title="Phase IIb in ulcerative colitis",
            phase="phase_2",  # type: ignore[arg-type]
            indication="Ulcerative colitis",
            target_enrollment=240,
        ),
    )
    spec = economics.load_scenario(EXAMPLES / "nwt-204-outsourced.yaml")
    scenario = stored.create_scenario(session, admin, ScenarioCreate(spec=spec))
    plan = economics.load_portfolio(EXAMPLES / "portfolio.yaml").model_copy(
        update={"name": "Northwind plan, as stored"}  # the example's name stays free to upload
    )
    portfolio = stored.create_portfolio(session, admin, PortfolioCreate(spec=plan))
    colleague = make_user(session, organization_id=organization.id, role="viewer")
    membership_id = session.execute(
        select(Membership.id).where(Membership.user_id == colleague.id)
    ).scalar_one()
    token = make_token(session, user=user)
    session.commit()
    with httpx.Client(base_url=live_server) as client:
        client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})  # token now used
        login = client.get("/login")
        response = client.post(
            "/login",
            data={
                "email": user.email,
                "password": PASSWORD,
                "next": "/",
                "csrf_token": CSRF_FIELD.search(login.text).group(1),  # type: ignore[union-attr]
            },
        )
        assert response.status_code == 303, response.text
        page = client.get(f"/studies/{study.id}/import")
        assert page.status_code == 200, page.text
        csrf = CSRF_FIELD.search(page.text).group(1)  # type: ignore[union-attr]
        return Sponsor(
            token,
            client.cookies,
            csrf,
            program.id,
            study.id,
            scenario.id,
            portfolio.id,
            membership_id,
        )


def _upload(
    path: str, filename: str, fields: Callable[[Sponsor], dict[str, str]] | None = None
) -> Callable[[Sponsor], tuple[str, dict[str, Any]]]:
    """A multipart upload of an example file; web paths carry the session and CSRF token."""

    def request(s: Sponsor) -> tuple[str, dict[str, Any]]:
        url = path.format(study=s.study_id, scenario=s.scenario_id)
        data = fields(s) if fields else {}
        files = {"file": (Path(filename).name, (EXAMPLES / filename).read_bytes())}
        if url.startswith(API):
            return url, {"headers": {"Authorization": f"Bearer {s.token}"}, "files": files}
        return url, {"data": {**data, "csrf_token": s.csrf}, "files": files}

    return request


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        pytest.param(
            _upload(API + "/studies/{study}/imports", "clinical-sites.csv"),
            200,
            id="api-clinical-import",
        ),
        pytest.param(
            _upload("/studies/{study}/import", "clinical-sites.csv"), 303, id="web-clinical-import"
        ),
        pytest.param(
            _upload("/scenarios/upload", "nwt-204-in-house.yaml"), 303, id="web-scenario-upload"
        ),
        pytest.param(
            _upload(
                "/scenarios/{scenario}/file", "nwt-204-outsourced.yaml", lambda s: {"version": "1"}
            ),
            303,
            id="web-scenario-file",
        ),
        pytest.param(_upload("/portfolios", "portfolio.yaml"), 303, id="web-portfolio-upload"),
        pytest.param(
            _upload("/chem/routes/import", "routes/ibuprofen-bhc.yaml"),
            303,
            id="web-route-import",
        ),
    ],
)
def test_an_upload_waiting_for_the_database_leaves_the_server_responsive(
    engine: Engine,
    live_server: str,
    sponsor: Sponsor,
    send: Callable[[Sponsor], tuple[str, dict[str, Any]]],
    expected: int,
) -> None:
    url, arguments = send(sponsor)
    answer: list[int | BaseException] = []

    def upload() -> None:
        try:
            with httpx.Client(
                base_url=live_server, timeout=TIMEOUT_S, cookies=sponsor.cookies
            ) as client:
                answer.append(client.post(url, **arguments).status_code)
        except BaseException as exc:  # reported below
            answer.append(exc)

    thread = threading.Thread(target=upload)
    with httpx.Client(base_url=live_server, timeout=TIMEOUT_S) as client:
        # built once and cached: the timed request below measures the event loop, not this
        assert client.get(f"{API}/openapi.json").status_code == 200
    with writes_held(engine):
        thread.start()
        _wait_until_blocked(engine)
        started = time.monotonic()
        try:
            with httpx.Client(base_url=live_server, timeout=RESPONSIVE_S) as client:
                other = client.get(f"{API}/openapi.json")
        except httpx.TimeoutException:
            other = None
        waited = time.monotonic() - started
    thread.join(TIMEOUT_S)
    assert other is not None and other.status_code == 200, (
        f"the server answered nothing for {waited:.1f} s while the upload waited"
    )
    assert answer == [expected]


# --- lock order: the record's row, then the audit chain ---------------------------------------
#
# Every update writes its row, then appends to the audit chain (one head row: appends queue up).
# A delete that appended first and removed its row second took the two locks in the other
# order: deleting while someone saved the same record deadlocked on PostgreSQL, and one of the
# two ended in a 500 instead of the saver winning and the delete answering 409.


def _during_a_save(
    engine: Engine,
    model: Any,
    record_id: uuid.UUID,
    send: Callable[[], httpx.Response],
    **values: Any,
) -> int:
    """The answer to ``send`` made while a save of the record is in flight, as the ORM makes
    it: its row written (the version bumped), its audit event not yet appended. The request,
    sent then, waits for the row; then the save appends to the audit chain — which must not wait
    for the request — and commits."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers: two transactions never hold one lock each")
    answer: list[int | BaseException] = []

    def run() -> None:
        try:
            answer.append(send().status_code)
        except BaseException as exc:  # reported below
            answer.append(exc)

    thread = threading.Thread(target=run)
    with engine.connect() as saver, saver.begin():
        version = saver.execute(select(model.version).where(model.id == record_id)).scalar_one()
        saver.execute(
            update(model).where(model.id == record_id).values(version=version + 1, **values)
        )
        thread.start()
        if not _blocked(engine):
            thread.join(TIMEOUT_S)
            pytest.fail(f"the request did not wait for the record's row; it answered {answer}")
        saver.execute(
            update(AuditChainHead)
            .where(AuditChainHead.id == 1)
            .values(last_sequence=AuditChainHead.last_sequence)
        )
    thread.join(TIMEOUT_S)
    assert len(answer) == 1 and isinstance(answer[0], int), answer
    return answer[0]


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (ValuationScenario, "/scenarios/{id}?version=1"),
        (Portfolio, "/portfolios/{id}?version=1"),
        (Membership, "/memberships/{id}"),
    ],
    ids=["scenario", "portfolio", "membership"],
)
def test_a_delete_during_a_save_of_the_record_answers_409(
    engine: Engine, live_server: str, sponsor: Sponsor, model: Any, path: str
) -> None:
    record_id = {
        ValuationScenario: sponsor.scenario_id,
        Portfolio: sponsor.portfolio_id,
        Membership: sponsor.membership_id,
    }[model]

    def delete() -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=TIMEOUT_S) as client:
            return client.delete(
                API + path.format(id=record_id),
                headers={"Authorization": f"Bearer {sponsor.token}"},
            )

    assert _during_a_save(engine, model, record_id, delete) == 409
    assert count(engine, model, model.id == record_id) == 1


# An e-signature appends to the audit chain before the signed record's row is written: the
# row is now held (or written) first.


def test_an_award_during_a_change_to_the_rfp_answers_409(deal: Deal, live_server: str) -> None:
    path, (lot_id,), bid_id = closed_rfp(deal)
    version = deal.ok(deal.get(path, "sponsor"))["version"]

    def award() -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=TIMEOUT_S) as client:
            return client.post(
                f"{API}{path}/lots/{lot_id}/award",
                json={"bid_id": bid_id, "version": version, "password": PASSWORD},
                headers=deal.headers("sponsor"),
            )

    rfp_id = uuid.UUID(path.rsplit("/", 1)[-1])
    assert _during_a_save(deal.engine, Rfp, rfp_id, award) == 409
    assert count(deal.engine, Award) == 0


def test_a_qa_release_during_a_change_to_the_batch_answers_409(
    plant: PlantWorld, engine: Engine, live_server: str
) -> None:
    batch = make_batch(plant, "API-1", "B-API-9", status="completed")
    add_results(plant, batch, PASSING)
    headers = _qa_headers(plant)
    plant.session.commit()

    def release() -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=TIMEOUT_S) as client:
            return client.post(
                f"{API}/mfg/batches/{batch.id}/release",
                json={"version": 1, "password": PASSWORD},
                headers=headers,
            )

    assert _during_a_save(engine, Batch, batch.id, release) == 409
    assert count(engine, Signature, Signature.entity_id == str(batch.id)) == 0


def test_signing_a_work_order_during_a_change_to_it_answers_409(
    deal: Deal, live_server: str
) -> None:
    work_order = deal.pending()

    def sign() -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=TIMEOUT_S) as client:
            return client.post(
                f"{API}/work-orders/{work_order['id']}/sign",
                json={"password": PASSWORD},
                headers=deal.headers("sponsor"),
            )

    assert _during_a_save(deal.engine, WorkOrder, uuid.UUID(work_order["id"]), sign) == 409
    assert count(deal.engine, Signature, Signature.entity_id == work_order["id"]) == 0


def test_signing_a_change_order_during_a_change_to_it_answers_409(
    deal: Deal, live_server: str
) -> None:
    work_order = deal.active()
    milestone = deal.milestone(work_order, 3)
    proposed = deal.ok(
        deal.post(
            f"/work-orders/{work_order['id']}/change-orders",
            "sponsor",
            {
                "version": deal.read(work_order)["version"],
                "reason": "Scope reduced by the sponsor",
                "changes": [
                    {"action": "change", "milestone_id": milestone["id"], "amount": "2500.00"}
                ],
            },
        ),
        201,
    )

    def sign() -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=TIMEOUT_S) as client:
            return client.post(
                f"{API}/change-orders/{proposed['id']}/sign",
                json={"password": PASSWORD},
                headers=deal.headers("provider"),
            )

    assert _during_a_save(deal.engine, ChangeOrder, uuid.UUID(proposed["id"]), sign) == 409
    assert count(deal.engine, Signature, Signature.entity_id == proposed["id"]) == 0


# --- manufacturing: planning an order while it is cancelled -----------------------------------


def test_an_order_is_never_cancelled_with_planned_batches(
    plant: PlantWorld, engine: Engine, live_server: str
) -> None:
    """The planner plans the order while a colleague cancels it: one of them wins. Never a
    cancelled order holding planned batches (cancelling drops them)."""
    user = plant.session.get(User, plant["cdmo"].user_id)
    assert user is not None
    headers = {"Authorization": f"Bearer {make_token(plant.session, user=user)}"}
    plant.session.commit()
    order_id = plant.orders["PO-A-1"]

    def plan(client: httpx.Client) -> httpx.Response:
        return client.post(f"{API}/mfg/orders/{order_id}/plan?version=1", headers=headers)

    def cancel(client: httpx.Client) -> httpx.Response:
        return client.post(
            f"{API}/mfg/orders/{order_id}/cancel",
            json={"version": 1, "reason": "Sponsor stopped the program"},
            headers=headers,
        )

    statuses = race(live_server, plan, cancel)
    with engine.connect() as connection:
        status = connection.execute(
            select(ProductionOrder.status).where(ProductionOrder.id == order_id)
        ).scalar_one()
    planned = count(engine, Batch, Batch.order_id == order_id, Batch.status == "planned")
    assert statuses == [200, 409], (statuses, status, planned)
    assert (status == "cancelled") == (planned == 0), (statuses, status, planned)
    chain_ok(engine)


def test_planning_during_a_cancellation_of_the_order_answers_409(
    plant: PlantWorld, engine: Engine, live_server: str
) -> None:
    """A cancellation in flight (the order's row written, cancelled): planning waits for it and
    is refused, instead of adding planned batches to the cancelled order."""
    user = plant.session.get(User, plant["cdmo"].user_id)
    assert user is not None
    headers = {"Authorization": f"Bearer {make_token(plant.session, user=user)}"}
    plant.session.commit()
    order_id = plant.orders["PO-A-1"]

    def plan() -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=TIMEOUT_S) as client:
            return client.post(f"{API}/mfg/orders/{order_id}/plan?version=1", headers=headers)

    status = _during_a_save(engine, ProductionOrder, order_id, plan, status="cancelled")
    assert status == 409
    assert count(engine, Batch, Batch.order_id == order_id) == 0


# --- accounts -----------------------------------------------------------------------------------


def test_revoking_a_token_twice_at_once_revokes_it_once(
    session: Session, engine: Engine, live_server: str, sponsor: Sponsor
) -> None:
    user_id = session.execute(
        select(ApiToken.user_id).where(ApiToken.token_prefix == sponsor.token[:10])
    ).scalar_one_or_none()
    user = session.get(User, user_id) if user_id else None
    assert user is not None
    spare = make_token(session, user=user)  # the token to revoke; the sponsor's token acts
    session.commit()
    spare_id = session.execute(
        select(ApiToken.id).where(ApiToken.token_prefix == spare[:10])
    ).scalar_one()
    headers = {"Authorization": f"Bearer {sponsor.token}"}

    def revoke(client: httpx.Client) -> httpx.Response:
        return client.delete(f"{API}/tokens/{spare_id}", headers=headers)

    assert race(live_server, revoke, revoke) == [200, 409]
    revocations = (AuditEvent.entity_id == str(spare_id), AuditEvent.action == "revoke")
    assert count(engine, AuditEvent, *revocations) == 1
