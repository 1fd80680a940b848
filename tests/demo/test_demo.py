"""The demo world: what the issue asks of it, loaded twice without loading anything twice."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencxo.core.audit import verify_chain
from opencxo.core.auth import service as auth
from opencxo.core.geography import region_of
from opencxo.demo.loader import load_demo_world
from opencxo.models import Base, Organization, Qualification


def _counts(session: Session) -> dict[str, int]:
    return {
        t.name: session.execute(select(func.count()).select_from(t)).scalar_one()
        for t in Base.metadata.sorted_tables
    }


def test_demo_world_is_complete_and_idempotent(session: Session) -> None:
    first = load_demo_world(session)
    session.commit()
    assert first.organizations >= 21
    counts = _counts(session)

    second = load_demo_world(session)
    session.commit()
    assert not second.created_anything
    assert _counts(session) == counts

    organizations = session.execute(select(Organization)).scalars().all()
    sponsors = [o for o in organizations if o.kind == "sponsor"]
    providers = [o for o in organizations if o.kind == "provider"]
    assert len(sponsors) >= 6
    assert {o.sponsor_kind for o in sponsors} == {
        "pharma", "biotech", "medical_institution", "device_company",
    }  # fmt: skip
    assert len(providers) >= 15
    countries = {o.country for o in providers}
    assert {"CN", "IN", "US", "KR"} <= countries
    assert any(region_of(c) == "Europe" for c in countries)
    assert {line for o in providers for line in o.service_lines} == {"CRO", "CMO", "CDMO"}
    assert all(o.sites for o in providers)
    assert all(o.capabilities for o in providers)

    statuses = Counter(q.status for q in session.execute(select(Qualification)).scalars())
    assert set(statuses) == {"approved", "conditional", "disqualified"}
    # Every organisation has someone who can log in.
    for organization in organizations:
        assert auth.repository.memberships_of_organization(session, organization.id)
    assert verify_chain(session).ok


def test_demo_logins_work(session: Session) -> None:
    report = load_demo_world(session)
    session.commit()
    emails = {email for _, _, email, _ in report.logins}
    assert {
        "manager@northwind.example",
        "qa@northwind.example",
        "operator@opencxo.example",
    } <= emails
    for _, _, email, password in report.logins[:3]:
        outcome = auth.authenticate(session, email=email, password=password)
        assert outcome.error is None, email
