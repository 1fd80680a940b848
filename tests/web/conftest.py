"""Fixtures of the web UI tests: a small world (a sponsor, two providers, a qualification) and
helpers that read the CSRF token off a page and log in through the real form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from opencxo.core.auth.models import User
from opencxo.parties.schemas import OrganizationRead, QualificationRead
from tests.factories import (
    PASSWORD,
    make_organization,
    make_provider,
    make_qualification,
    make_user,
)

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_FIELD.search(html)
    assert match, "the page has no csrf_token field"
    return match.group(1)


def csrf(client: TestClient, path: str = "/login") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


def login(client: TestClient, email: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/login",
        data={"email": email, "password": password, "next": "/", "csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"


@dataclass
class World:
    sponsor: OrganizationRead
    manager: User
    provider: OrganizationRead
    other_provider: OrganizationRead
    qualification: QualificationRead


@pytest.fixture
def world(session: Session) -> World:
    """Acme Therapeutics (sponsor, a manager) has approved Shanghai API Works (GMP API, CN);
    Lyon Clinical Services (a European CRO) is in the directory but not qualified."""
    sponsor = make_organization(session, name="Acme Therapeutics", country="US")
    manager = make_user(
        session, organization_id=sponsor.id, role="manager", email="manager@acme.example"
    )
    provider = make_provider(
        session,
        name="Shanghai API Works",
        country="CN",
        service_codes=("CMC-GMPAPI", "CMC-GMPINT"),
        standards=("GMP",),
        service_lines=["CDMO"],
        regions_served=["Asia-Pacific"],
        description="Kilo-lab to commercial API manufacturing.",
    )
    other_provider = make_provider(
        session,
        name="Lyon Clinical Services",
        country="FR",
        service_codes=("CLIN-MONITOR",),
        standards=("GCP",),
        service_lines=["CRO"],
        regions_served=["Europe"],
    )
    qualification = make_qualification(session, sponsor_user=manager, provider_id=provider.id)
    session.commit()
    return World(sponsor, manager, provider, other_provider, qualification)


def new_user(session: Session, organization_id: uuid.UUID, role: str, email: str) -> User:
    user = make_user(session, organization_id=organization_id, role=role, email=email)
    session.commit()
    return user
