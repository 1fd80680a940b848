"""Fixtures of the sourcing tests: a small market (two sponsors, four providers with different
standings) and a helper that drives the JSON API as any of its people.

Market: sponsor Northwind (US; a manager who may award, a viewer) and sponsor Contoso (DE; an
admin). Providers, each with a GMP certificate valid for a year and one admin user:

* Apex (CN) — GMP API and clinical monitoring; Northwind approved it;
* Borealis (IN) — GMP API; not qualified by Northwind;
* Cobalt (DE) — GMP API; conditionally qualified;
* Delta (US) — GMP API; disqualified.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.notifications import Notification
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
TODAY = date.today()
PROVIDERS = ("apex", "borealis", "cobalt", "delta")
API_LOT: dict[str, Any] = {
    "title": "API 40 kg",
    "service_code": "CMC-GMPAPI",
    "scope": {"quantity_kg": 40, "grade": "GMP", "target_delivery_date": "2027-06-01"},
}
MONITORING_LOT: dict[str, Any] = {
    "title": "Monitoring",
    "service_code": "CLIN-MONITOR",
    "scope": {"phase": "II", "patients": 240, "countries": "US, DE, PL"},
}


def days(n: int) -> str:
    """An ISO date ``n`` days from today."""
    return (TODAY + timedelta(days=n)).isoformat()


def in_days(n: float) -> str:
    """A timezone-aware ISO timestamp ``n`` days from now."""
    return (utcnow() + timedelta(days=n)).isoformat()


def offer(
    lot_id: str, *lines: tuple[str, str, int], start: int = 30, duration: int = 150
) -> dict[str, Any]:
    """A bid's offer for a lot: price lines as (amount, currency, due offset in days)."""
    return {
        "lot_id": lot_id,
        "start_date": days(start),
        "duration_days": duration,
        "assumptions": "as per the RFP",
        "lines": [
            {"description": f"Milestone {n}", "amount": amount, "currency": currency,
             "due_offset_days": due}
            for n, (amount, currency, due) in enumerate(lines, start=1)
        ],
    }  # fmt: skip


@dataclass
class Market:
    client: TestClient
    engine: Engine
    ids: dict[str, uuid.UUID]  # organisations by short name
    tokens: dict[str, str]  # people by short name
    emails: dict[str, str]
    _program: dict[str, Any] | None = field(default=None, repr=False)

    # --- raw calls ------------------------------------------------------------------------------

    def call(
        self, method: str, path: str, actor: str | None, body: dict[str, Any] | None = None
    ) -> Response:
        headers = {"Authorization": f"Bearer {self.tokens[actor]}"} if actor else {}
        response: Response = self.client.request(method, API + path, json=body, headers=headers)
        return response

    def get(self, path: str, actor: str | None) -> Response:
        return self.call("GET", path, actor)

    def post(self, path: str, actor: str | None, body: dict[str, Any]) -> Response:
        return self.call("POST", path, actor, body)

    def put(self, path: str, actor: str | None, body: dict[str, Any]) -> Response:
        return self.call("PUT", path, actor, body)

    @staticmethod
    def ok(response: Response, status: int = 200) -> Any:
        """The JSON body of a call that must answer ``status``."""
        assert response.status_code == status, response.text
        return response.json()

    def document(self, response: Response, status: int = 200) -> dict[str, Any]:
        """The JSON object of a call that must answer ``status``."""
        body: dict[str, Any] = self.ok(response, status)
        return body

    @staticmethod
    def problem(response: Response, status: int) -> dict[str, Any]:
        """The problem document of a refused call (RFC 9457), checked for its status."""
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body: dict[str, Any] = response.json()
        assert body["status"] == status
        return body

    # --- building blocks ------------------------------------------------------------------------

    def program(self) -> dict[str, Any]:
        if self._program is None:
            self._program = self.document(
                self.post(
                    "/programs",
                    "sponsor",
                    {
                        "name": "NW-101",
                        "modality": "small_molecule",
                        "therapeutic_area": "Oncology",
                        "indication": "NSCLC",
                        "phase": "phase_2",
                        "patent_expiry": "2034-06-30",
                    },
                ),
                201,
            )
        return self._program

    def rfp_body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "program_id": self.program()["id"],
            "title": "Phase II API supply",
            "background": "Scale-up for the Phase II trial.",
            "bid_deadline": in_days(7),
            "required_certifications": ["GMP"],
            "lots": [API_LOT],
        }
        body.update(overrides)
        return body

    def draft(self, **overrides: Any) -> dict[str, Any]:
        return self.document(self.post("/rfps", "sponsor", self.rfp_body(**overrides)), 201)

    def invite(self, rfp: dict[str, Any], provider: str, **extra: Any) -> dict[str, Any]:
        body = {"provider_id": str(self.ids[provider]), **extra}
        return self.document(self.post(f"/rfps/{rfp['id']}/invitations", "sponsor", body), 201)

    def read(self, rfp: dict[str, Any], actor: str = "sponsor") -> dict[str, Any]:
        return self.document(self.get(f"/rfps/{rfp['id']}", actor))

    def publish(self, rfp: dict[str, Any]) -> dict[str, Any]:
        version = self.read(rfp)["version"]
        return self.document(
            self.post(f"/rfps/{rfp['id']}/publish", "sponsor", {"version": version})
        )

    def open_rfp(self, invite: tuple[str, ...] = ("apex",), **overrides: Any) -> dict[str, Any]:
        """A published RFP (deadline in a week) with the given providers invited."""
        rfp = self.draft(**overrides)
        for provider in invite:
            self.invite(rfp, provider, acknowledge_warning=provider == "cobalt")
        return self.publish(rfp)

    def save_bid(
        self, rfp: dict[str, Any], actor: str, *offers: dict[str, Any], version: int | None = None
    ) -> Response:
        body: dict[str, Any] = {"notes": f"offer of {actor}", "lots": list(offers)}
        if version is not None:
            body["version"] = version
        return self.put(f"/rfps/{rfp['id']}/bid", actor, body)

    def transition_bid(
        self, rfp: dict[str, Any], actor: str, action: str, version: int
    ) -> Response:
        return self.post(f"/rfps/{rfp['id']}/bid/{action}", actor, {"version": version})

    def bid(self, rfp: dict[str, Any], actor: str, *offers: dict[str, Any]) -> dict[str, Any]:
        """A submitted bid."""
        draft = self.ok(self.save_bid(rfp, actor, *offers))
        return self.document(self.transition_bid(rfp, actor, "submit", draft["version"]))

    def pass_deadline(self, rfp: dict[str, Any]) -> datetime:
        """Move the deadline five minutes into the past (a whole minute, for messages)."""
        deadline = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=5)
        with self.engine.begin() as connection:
            connection.execute(
                update(Rfp).where(Rfp.id == uuid.UUID(rfp["id"])).values(bid_deadline=deadline)
            )
        return deadline

    def set_rates(self, rfp: dict[str, Any], rates: dict[str, str]) -> dict[str, Any]:
        version = self.read(rfp)["version"]
        return self.document(
            self.put(
                f"/rfps/{rfp['id']}/exchange-rates", "sponsor", {"version": version, "rates": rates}
            )
        )

    def award(
        self,
        rfp: dict[str, Any],
        lot_id: str,
        bid_id: str,
        *,
        password: str = PASSWORD,
        actor: str = "sponsor",
        **extra: Any,
    ) -> Response:
        """Award as ``actor``, signing the RFP's version the sponsor reads now unless ``extra``
        names one (``version=None`` leaves it out)."""
        if "version" not in extra:
            extra["version"] = self.read(rfp)["version"]
        elif extra["version"] is None:
            del extra["version"]
        body = {"bid_id": bid_id, "password": password, **extra}
        return self.post(f"/rfps/{rfp['id']}/lots/{lot_id}/award", actor, body)

    # --- what the database holds ----------------------------------------------------------------

    def audit_events(self, action: str | None = None) -> list[AuditEvent]:
        query = select(AuditEvent).order_by(AuditEvent.sequence)
        if action:
            query = query.where(AuditEvent.action == action)
        with Session(self.engine) as session:
            return list(session.execute(query).scalars().all())

    def count(self, model: type[Any]) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(model)).scalar_one())

    def notifications(self, organisation: str, kind: str) -> list[str]:
        """The messages of one kind sent to an organisation, oldest first."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(Notification.message)
                .where(
                    Notification.organization_id == self.ids[organisation],
                    Notification.kind == kind,
                )
                .order_by(Notification.created_at)
            ).scalars()
            return list(rows)


@pytest.fixture
def market(client: TestClient, engine: Engine, session: Session) -> Market:
    northwind = make_organization(session, name="Northwind Therapeutics", country="US")
    contoso = make_organization(session, name="Contoso Pharma", country="DE")
    providers = {
        "apex": make_provider(
            session, name="Apex Chem", country="CN", service_codes=("CMC-GMPAPI", "CLIN-MONITOR")
        ),
        "borealis": make_provider(session, name="Borealis Labs", country="IN"),
        "cobalt": make_provider(session, name="Cobalt Synthesis", country="DE"),
        "delta": make_provider(session, name="Delta Pharma Services", country="US"),
    }
    users = {
        "sponsor": make_user(
            session, organization_id=northwind.id, role="manager", email="buyer@northwind.example"
        ),
        "sponsor_viewer": make_user(session, organization_id=northwind.id, role="viewer"),
        "other_sponsor": make_user(session, organization_id=contoso.id, role="admin"),
    }
    for name, provider in providers.items():
        users[name] = make_user(session, organization_id=provider.id, role="admin")
    for name, status in (
        ("apex", "approved"),
        ("cobalt", "conditional"),
        ("delta", "disqualified"),
    ):
        make_qualification(
            session, sponsor_user=users["sponsor"], provider_id=providers[name].id, status=status
        )
    tokens = {name: make_token(session, user=user) for name, user in users.items()}
    session.commit()
    return Market(
        client=client,
        engine=engine,
        ids={
            "northwind": northwind.id,
            "contoso": contoso.id,
            **{name: p.id for name, p in providers.items()},
        },
        tokens=tokens,
        emails={name: user.email for name, user in users.items()},
    )
