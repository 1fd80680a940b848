"""Keyword-only factories that build test data through the real services (audit included)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy.orm import Session

from opencxo.core.auth import service as auth
from opencxo.core.auth.models import User
from opencxo.core.auth.principal import Principal
from opencxo.parties import service as parties
from opencxo.parties.schemas import (
    CapabilityCreate,
    CertificationCreate,
    InspectionCreate,
    OrganizationCreate,
    OrganizationRead,
    QualificationCreate,
    QualificationRead,
    SiteCreate,
)
from opencxo.sourcing import service as sourcing
from opencxo.sourcing.schemas import ProgramCreate, ProgramRead

PASSWORD = "correct-horse-battery"


def operator(session: Session) -> Principal:
    """A platform operator acting from the console, created on first use."""
    user = auth.repository.user_by_email(session, "operator@test.example")
    if user is None:
        user = auth.create_user(
            session,
            actor=None,
            email="operator@test.example",
            full_name="Test Operator",
            password=PASSWORD,
            is_operator=True,
        )
    return auth.principal_for(session, user)


def make_organization(
    session: Session,
    *,
    name: str | None = None,
    kind: str = "sponsor",
    country: str = "US",
    service_lines: list[str] | None = None,
    sponsor_kind: str | None = None,
    regions_served: list[str] | None = None,
    description: str = "",
) -> OrganizationRead:
    data = OrganizationCreate(
        name=name or f"Org {uuid.uuid4().hex[:8]}",
        kind=kind,  # type: ignore[arg-type]
        country=country,
        city="Somewhere",
        sponsor_kind=(sponsor_kind or "biotech") if kind == "sponsor" else None,  # type: ignore[arg-type]
        service_lines=service_lines or (["CRO"] if kind == "provider" else []),  # type: ignore[arg-type]
        regions_served=regions_served or [],
        description=description,
    )
    return parties.create_organization(session, operator(session), data)


def make_user(
    session: Session,
    *,
    organization_id: uuid.UUID | None,
    role: str = "member",
    email: str | None = None,
    password: str = PASSWORD,
) -> User:
    email = email or f"user-{uuid.uuid4().hex[:8]}@test.example"
    if organization_id is None:
        return auth.create_user(
            session, actor=None, email=email, full_name="Test User", password=password
        )
    auth.add_member(
        session,
        operator(session),
        organization_id,
        email=email,
        full_name="Test User",
        role=role,
        password=password,
    )
    user = auth.repository.user_by_email(session, email)
    assert user is not None
    return user


def principal_of(session: Session, user: User) -> Principal:
    return auth.principal_for(session, user)


def make_people(
    session: Session, *, roles: dict[str, tuple[uuid.UUID, str]]
) -> tuple[dict[str, Principal], dict[str, str]]:
    """One user per name with the given (organisation, role): their principals and e-mails."""
    people: dict[str, Principal] = {}
    emails: dict[str, str] = {}
    for name, (organization_id, role) in roles.items():
        email = f"{name}-{uuid.uuid4().hex[:6]}@test.example"
        user = make_user(session, organization_id=organization_id, role=role, email=email)
        people[name] = principal_of(session, user)
        emails[name] = email
    return people, emails


def make_token(session: Session, *, user: User) -> str:
    _, plain = auth.create_token(session, auth.principal_for(session, user), name="test")
    return plain


def make_provider(
    session: Session,
    *,
    name: str | None = None,
    country: str = "CN",
    service_codes: tuple[str, ...] = ("CMC-GMPAPI",),
    standards: tuple[str, ...] = ("GMP",),
    certificate_valid_until: date | None = None,
    inspection_outcome: str | None = "NAI",
    regions_served: list[str] | None = None,
    service_lines: list[str] | None = None,
    description: str = "",
) -> OrganizationRead:
    op = operator(session)
    provider = make_organization(
        session,
        name=name,
        kind="provider",
        country=country,
        service_lines=service_lines or ["CDMO"],
        regions_served=regions_served,
        description=description,
    )
    site = parties.add_site(
        session,
        op,
        provider.id,
        SiteCreate(name="Main plant", site_type="plant", country=country, city="Plant City"),  # type: ignore[arg-type]
    )
    for code in service_codes:
        parties.add_capability(
            session,
            op,
            provider.id,
            CapabilityCreate(service_code=code, site_ids=[site.id], standards=list(standards)),  # type: ignore[arg-type]
        )
    for standard in standards:
        parties.add_certification(
            session,
            op,
            provider.id,
            CertificationCreate(
                standard=standard,  # type: ignore[arg-type]
                issuer="Authority",
                valid_until=certificate_valid_until or date.today() + timedelta(days=365),
            ),
        )
    if inspection_outcome:
        parties.add_inspection(
            session,
            op,
            provider.id,
            InspectionCreate(
                authority="FDA",
                inspected_on=date.today() - timedelta(days=90),
                outcome=inspection_outcome,  # type: ignore[arg-type]
            ),
        )
    return provider


def make_qualification(
    session: Session,
    *,
    sponsor_user: User,
    provider_id: uuid.UUID,
    status: str = "approved",
) -> QualificationRead:
    return parties.create_qualification(
        session,
        auth.principal_for(session, sponsor_user),
        QualificationCreate(
            provider_id=provider_id,
            status=status,  # type: ignore[arg-type]
            expires_on=date.today() + timedelta(days=365),
            audit_findings="findings on file" if status != "approved" else "",
        ),
    )


def make_program(session: Session, principal: Principal, **fields: object) -> ProgramRead:
    """A sponsor's program: NWT-204, a Phase II small molecule in ulcerative colitis, unless
    ``fields`` say otherwise."""
    values: dict[str, object] = {
        "name": "NWT-204",
        "modality": "small_molecule",
        "therapeutic_area": "Gastroenterology",
        "indication": "Ulcerative colitis",
        "phase": "phase_2",
        **fields,
    }
    return sourcing.create_program(session, principal, ProgramCreate.model_validate(values))
