"""Fixtures of the contracts tests: a small market and a helper that drives the JSON API from an
RFP to an award, a work order, milestones, invoices and payments, as any of its people.

Market: sponsor Northwind (US) with two managers (``sponsor``, ``sponsor2``: both may sign and
pay), a member (may write contracts, not sign or pay) and a viewer; sponsor Contoso (DE) with an
admin. Providers Apex Chem (CN; GMP API and clinical monitoring) with an admin (``provider``) and
a viewer, and Borealis Labs (IN; GMP API) with an admin (``other_provider``). Northwind has
approved both providers.

Every person has the password ``PASSWORD``; argon2 runs at its lowest cost. Deliverables are
stored under a temporary ``OPENCXO_FILES_DIR``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

import opencxo.models
from opencxo.contracts.models import ChangeOrder, Invoice, Milestone, WorkOrder
from opencxo.core.audit import AuditEvent
from opencxo.core.types import utcnow
from opencxo.sourcing.models import Rfp
from tests.factories import (
    PASSWORD,
    make_organization,
    make_provider,
    make_qualification,
    make_token,
    make_user,
)

API = "/api/v1"
TODAY = utcnow().date()
# A fixed start in the future: every due date below is exact and none is overdue.
START = date(2030, 1, 7)
LOTS: dict[str, dict[str, Any]] = {
    "CMC-GMPAPI": {
        "title": "API 40 kg",
        "service_code": "CMC-GMPAPI",
        "scope": {"quantity_kg": 40, "grade": "GMP", "target_delivery_date": "2030-06-01"},
    },
    "CLIN-MONITOR": {
        "title": "Monitoring",
        "service_code": "CLIN-MONITOR",
        "scope": {"phase": "II", "patients": 240, "countries": "US, DE, PL"},
    },
}
# (description, amount, currency, due offset in days)
Line = tuple[str, str, str, int]
LINES: tuple[Line, ...] = (
    ("Process transfer", "1000.10", "USD", 30),
    ("Validation batch", "2000.20", "USD", 90),
    ("Delivery 40 kg", "3000.30", "USD", 150),
)
# The bidding user of each provider.
BIDDER = {"apex": "provider", "borealis": "other_provider"}


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


def digest(record: dict[str, Any]) -> str:
    """SHA-256 of a signed record's canonical JSON, computed independently of the code."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class Deal:
    client: TestClient
    engine: Engine
    ids: dict[str, uuid.UUID]  # organisations by short name
    tokens: dict[str, str]  # people by short name
    emails: dict[str, str]
    _programs: dict[str, str] = field(default_factory=dict, repr=False)

    # --- raw calls ------------------------------------------------------------------------------

    def headers(self, actor: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[actor]}"} if actor else {}

    def call(
        self, method: str, path: str, actor: str | None, body: dict[str, Any] | None = None
    ) -> Response:
        response: Response = self.client.request(
            method, API + path, json=body, headers=self.headers(actor)
        )
        return response

    def get(self, path: str, actor: str | None) -> Response:
        return self.call("GET", path, actor)

    def post(self, path: str, actor: str | None, body: dict[str, Any]) -> Response:
        return self.call("POST", path, actor, body)

    @staticmethod
    def ok(response: Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    @staticmethod
    def problem(response: Response, status: int) -> dict[str, Any]:
        """The problem document of a refused call (RFC 9457), checked for its status."""
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body: dict[str, Any] = response.json()
        assert body["status"] == status
        return body

    # --- sourcing: up to an award ---------------------------------------------------------------

    def msa_body(self, **changes: str) -> dict[str, Any]:
        """The sponsor's MSA with Borealis (MSA-NW-BOR-7, 2029–2034), with ``changes``."""
        return {
            "provider_id": str(self.ids["borealis"]),
            "reference": "MSA-NW-BOR-7",
            "terms": "Negotiated terms: net 60, IP to the sponsor, quality agreement QA-12.",
            "effective_date": "2029-01-01",
            "expiry_date": "2034-12-31",
        } | changes

    def program(self, name: str = "NW-101") -> str:
        if name not in self._programs:
            body = {
                "name": name,
                "modality": "small_molecule",
                "therapeutic_area": "Oncology",
                "indication": "NSCLC",
                "phase": "phase_2",
            }
            self._programs[name] = self.ok(self.post("/programs", "sponsor", body), 201)["id"]
        return self._programs[name]

    def award(
        self,
        *,
        provider: str = "apex",
        lines: tuple[Line, ...] = LINES,
        start: date = START,
        service: str = "CMC-GMPAPI",
        program: str = "NW-101",
        rates: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Program → RFP → invite → publish → bid → submit → deadline passed → e-signed award."""
        bidder = BIDDER[provider]
        rfp = self.ok(
            self.post(
                "/rfps",
                "sponsor",
                {
                    "program_id": self.program(program),
                    "title": f"{service} for {program}",
                    "bid_deadline": (utcnow() + timedelta(days=7)).isoformat(),
                    "lots": [LOTS[service]],
                },
            ),
            201,
        )
        path = f"/rfps/{rfp['id']}"
        rfp = self.ok(
            self.post(f"{path}/invitations", "sponsor", {"provider_id": str(self.ids[provider])}),
            201,
        )
        rfp = self.ok(self.post(f"{path}/publish", "sponsor", {"version": rfp["version"]}))
        offer = {
            "lot_id": rfp["lots"][0]["id"],
            "start_date": start.isoformat(),
            "duration_days": max(1, *(line[3] for line in lines)),
            "lines": [
                {
                    "description": description,
                    "deliverable": f"{description} report",
                    "amount": amount,
                    "currency": currency,
                    "due_offset_days": offset,
                }
                for description, amount, currency, offset in lines
            ],
        }
        bid = self.ok(self.call("PUT", f"{path}/bid", bidder, {"lots": [offer]}))
        bid = self.ok(self.post(f"{path}/bid/submit", bidder, {"version": bid["version"]}))
        with self.engine.begin() as connection:
            connection.execute(
                update(Rfp)
                .where(Rfp.id == uuid.UUID(rfp["id"]))
                .values(bid_deadline=utcnow() - timedelta(minutes=5))
            )
        if rates:
            version = self.ok(self.get(path, "sponsor"))["version"]
            self.ok(
                self.call(
                    "PUT",
                    f"{path}/exchange-rates",
                    "sponsor",
                    {"version": version, "rates": rates},
                )
            )
        award: dict[str, Any] = self.ok(
            self.post(
                f"{path}/lots/{rfp['lots'][0]['id']}/award",
                "sponsor",
                {
                    "bid_id": bid["id"],
                    "version": self.ok(self.get(path, "sponsor"))["version"],
                    "password": PASSWORD,
                },
            ),
            201,
        )
        return award

    # --- work orders ----------------------------------------------------------------------------

    def draft(self, *, terms: int = 30, **award: Any) -> dict[str, Any]:
        """A draft work order made from a fresh award."""
        body = {"award_id": self.award(**award)["id"], "payment_terms_days": terms}
        return dict(self.ok(self.post("/work-orders", "sponsor", body), 201))

    def read(self, work_order: dict[str, Any], actor: str = "sponsor") -> dict[str, Any]:
        return dict(self.ok(self.get(f"/work-orders/{work_order['id']}", actor)))

    def send(self, work_order: dict[str, Any], actor: str = "sponsor") -> Response:
        version = self.read(work_order)["version"]
        return self.post(
            f"/work-orders/{work_order['id']}/send-for-signature", actor, {"version": version}
        )

    def sign(
        self,
        work_order: dict[str, Any],
        actor: str,
        *,
        password: str = PASSWORD,
        meaning: str | None = None,
    ) -> Response:
        body = {"password": password} | ({"meaning": meaning} if meaning else {})
        return self.post(f"/work-orders/{work_order['id']}/sign", actor, body)

    def pending(self, **kwargs: Any) -> dict[str, Any]:
        return dict(self.ok(self.send(self.draft(**kwargs))))

    def active(self, **kwargs: Any) -> dict[str, Any]:
        """A work order both parties have signed."""
        work_order = self.pending(**kwargs)
        self.ok(self.sign(work_order, "sponsor"))
        return dict(self.ok(self.sign(work_order, BIDDER[kwargs.get("provider", "apex")])))

    def transition(
        self, work_order: dict[str, Any], action: str, actor: str = "sponsor", **extra: Any
    ) -> Response:
        version = self.read(work_order)["version"]
        return self.post(
            f"/work-orders/{work_order['id']}/{action}", actor, {"version": version, **extra}
        )

    # --- milestones -----------------------------------------------------------------------------

    def milestone(
        self, work_order: dict[str, Any], position: int, actor: str = "sponsor"
    ) -> dict[str, Any]:
        found = [m for m in self.read(work_order, actor)["milestones"] if m["position"] == position]
        assert len(found) == 1
        return dict(found[0])

    def submit(
        self,
        milestone: dict[str, Any],
        *,
        actor: str | None = "provider",
        files: list[tuple[str, bytes, str]] | None = None,
        note: str = "done",
        version: int | None = None,
    ) -> Response:
        uploads = [("report.pdf", b"%PDF-1.4 milestone report", "application/pdf")]
        response: Response = self.client.post(
            f"{API}/milestones/{milestone['id']}/submit",
            data={"version": str(version or milestone["version"]), "note": note},
            files=[("files", upload) for upload in (uploads if files is None else files)],
            headers=self.headers(actor),
        )
        return response

    def decide(
        self,
        milestone: dict[str, Any],
        *,
        accept: bool = True,
        actor: str = "sponsor",
        reason: str = "",
        password: str = PASSWORD,
        version: int | None = None,
    ) -> Response:
        body = {
            "version": version or milestone["version"],
            "accept": accept,
            "reason": reason,
            "password": password,
        }
        return self.post(f"/milestones/{milestone['id']}/decision", actor, body)

    def accept(self, work_order: dict[str, Any], position: int) -> dict[str, Any]:
        """Submit (as the provider) and accept (as the sponsor) one milestone."""
        submitted = self.ok(self.submit(self.milestone(work_order, position)))
        return dict(self.ok(self.decide(submitted)))

    # --- invoices -------------------------------------------------------------------------------

    def invoice(self, invoice_id: str, actor: str = "sponsor") -> dict[str, Any]:
        return dict(self.ok(self.get(f"/invoices/{invoice_id}", actor)))

    def issue(
        self, invoice_id: str, *, number: str, issued_on: date, actor: str = "provider"
    ) -> Response:
        version = self.invoice(invoice_id)["version"]
        body = {"version": version, "number": number, "issued_on": issued_on.isoformat()}
        return self.post(f"/invoices/{invoice_id}/issue", actor, body)

    def pay(
        self, invoice_id: str, amount: str, *, paid_on: date = START, actor: str = "sponsor"
    ) -> Response:
        version = self.invoice(invoice_id)["version"]
        body = {"version": version, "amount": amount, "paid_on": paid_on.isoformat()}
        return self.post(f"/invoices/{invoice_id}/payments", actor, body)

    # --- what the database holds ----------------------------------------------------------------

    def count(self, model: type[Any], *where: Any) -> int:
        with self.engine.connect() as connection:
            query = select(func.count()).select_from(model)
            if where:
                query = query.where(*where)
            return int(connection.execute(query).scalar_one())

    def state(self) -> dict[str, Any]:
        """Row counts of every table, and the status and version of every contract record:
        what a refused call must leave as it was."""
        with self.engine.connect() as connection:
            counts = {
                table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in opencxo.models.Base.metadata.sorted_tables
            }
            records = {
                model.__tablename__: sorted(
                    (str(row.id), row.status, row.version)
                    for row in connection.execute(select(model.id, model.status, model.version))
                )
                for model in (WorkOrder, Milestone, ChangeOrder, Invoice)
            }
        return {"counts": counts, "records": records}

    def audit_events(
        self, action: str | None = None, entity_id: str | None = None
    ) -> list[AuditEvent]:
        query = select(AuditEvent).order_by(AuditEvent.sequence)
        if action:
            query = query.where(AuditEvent.action == action)
        if entity_id:
            query = query.where(AuditEvent.entity_id == entity_id)
        with Session(self.engine) as session:
            return list(session.execute(query).scalars().all())


@pytest.fixture
def deal(client: TestClient, engine: Engine, session: Session) -> Deal:
    northwind = make_organization(session, name="Northwind Therapeutics", country="US")
    contoso = make_organization(session, name="Contoso Pharma", country="DE")
    apex = make_provider(
        session, name="Apex Chem", country="CN", service_codes=("CMC-GMPAPI", "CLIN-MONITOR")
    )
    borealis = make_provider(session, name="Borealis Labs", country="IN")
    people = {
        "sponsor": (northwind.id, "manager", "buyer@northwind.example"),
        "sponsor2": (northwind.id, "manager", "second@northwind.example"),
        "sponsor_member": (northwind.id, "member", "member@northwind.example"),
        "sponsor_viewer": (northwind.id, "viewer", "viewer@northwind.example"),
        "other_sponsor": (contoso.id, "admin", "admin@contoso.example"),
        "provider": (apex.id, "admin", "sales@apex.example"),
        "provider_viewer": (apex.id, "viewer", "viewer@apex.example"),
        "other_provider": (borealis.id, "admin", "ops@borealis.example"),
    }
    users = {
        name: make_user(session, organization_id=org, role=role, email=email)
        for name, (org, role, email) in people.items()
    }
    for provider in (apex, borealis):
        make_qualification(session, sponsor_user=users["sponsor"], provider_id=provider.id)
    tokens = {name: make_token(session, user=user) for name, user in users.items()}
    session.commit()
    return Deal(
        client=client,
        engine=engine,
        ids={
            "northwind": northwind.id,
            "contoso": contoso.id,
            "apex": apex.id,
            "borealis": borealis.id,
        },
        tokens=tokens,
        emails={name: email for name, (_, _, email) in people.items()},
    )
