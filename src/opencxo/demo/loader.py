"""Load the demo world from ``world.yaml`` through the ordinary service functions.

Every record goes through the same use cases the web and API call, so the demo world has a
complete audit trail. Loading is idempotent: organisations are looked up by name, users by
e-mail and qualifications by (sponsor, provider), and whatever already exists is skipped; an
organisation's sites, capabilities, certificates and inspections are created only together with
the organisation itself. The loader flushes but never commits: the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from typing import Any

import yaml
from sqlalchemy.orm import Session

import opencxo.models  # noqa: F401 - every mapper must be configured before the first query
from opencxo.core.auth import repository as auth_repository
from opencxo.core.auth.models import User
from opencxo.core.auth.principal import Principal
from opencxo.core.auth.service import add_member, create_user, principal_for
from opencxo.parties import repository as parties_repository
from opencxo.parties import service as parties
from opencxo.parties.schemas import (
    CapabilityCreate,
    CertificationCreate,
    InspectionCreate,
    OrganizationCreate,
    QualificationCreate,
    SiteCreate,
)

Raw = dict[str, Any]
Login = tuple[str, str, str, str]

ORGANIZATION_KEYS = frozenset(
    {"name", "kind", "sponsor_kind", "service_lines", "country", "city", "regions_served",
     "description", "website", "members", "sites", "capabilities", "certifications", "inspections"}
)  # fmt: skip
MEMBER_KEYS = frozenset({"email", "full_name", "role", "login"})
SITE_KEYS = frozenset({"name", "site_type", "country", "city"})
CAPABILITY_KEYS = frozenset(
    {"service_code", "sites", "standards", "capacity_notes", "lead_time_weeks"}
)
CERTIFICATION_KEYS = frozenset(
    {"standard", "issuer", "reference", "site", "valid_from", "valid_until_in_days"}
)
INSPECTION_KEYS = frozenset({"authority", "inspected_on", "outcome", "site", "summary"})
QUALIFICATION_KEYS = frozenset(
    {"sponsor", "provider", "recorded_by", "status", "cda_signed_on", "msa_signed_on",
     "quality_agreement_signed_on", "last_audit_on", "last_audit_outcome", "audit_findings",
     "expires_in_days", "notes"}
)  # fmt: skip


@dataclass(frozen=True)
class DemoLoadReport:
    """What one load created (all zero on a second run) and the documented demo logins."""

    organizations: int = 0
    users: int = 0
    sites: int = 0
    capabilities: int = 0
    certifications: int = 0
    inspections: int = 0
    qualifications: int = 0
    memberships: int = 0
    logins: list[Login] = field(default_factory=list)

    @property
    def created_anything(self) -> bool:
        return any(
            (self.organizations, self.users, self.sites, self.capabilities, self.certifications,
             self.inspections, self.qualifications, self.memberships)
        )  # fmt: skip


def read_world() -> Raw:
    """The demo world as plain data, straight from ``world.yaml``."""
    text = resources.files("opencxo.demo").joinpath("world.yaml").read_text(encoding="utf-8")
    world = yaml.safe_load(text)
    if not isinstance(world, dict):
        raise ValueError("world.yaml must hold a mapping")
    return world


def _checked(raw: Raw, allowed: frozenset[str], what: str) -> Raw:
    """``raw`` itself, after refusing keys the loader would silently ignore (typos)."""
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"world.yaml: unknown key(s) {sorted(unknown)} in {what}")
    return raw


def _in_days(days: int | None, today: date) -> date | None:
    return None if days is None else today + timedelta(days=int(days))


def _site_id(site_ids: dict[str, uuid.UUID], name: str, owner: str) -> uuid.UUID:
    if name not in site_ids:
        raise ValueError(f"world.yaml: {owner} has no site named {name!r}")
    return site_ids[name]


def _optional_site_id(
    site_ids: dict[str, uuid.UUID], name: str | None, owner: str
) -> uuid.UUID | None:
    return None if name is None else _site_id(site_ids, name, owner)


# --- users and memberships --------------------------------------------------------------------


def _operator(session: Session, spec: Raw, password: str, counts: Counter[str]) -> Principal:
    user = auth_repository.user_by_email(session, spec["email"])
    if user is None:
        user = create_user(
            session,
            actor=None,
            email=spec["email"],
            full_name=spec["full_name"],
            password=password,
            is_operator=True,
        )
        counts["users"] += 1
    elif not user.is_operator:
        raise ValueError(f"{user.email} exists but is not a platform operator")
    return principal_for(session, user)


def _members(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    members: list[Raw],
    password: str,
    counts: Counter[str],
) -> None:
    for raw in members:
        spec = _checked(raw, MEMBER_KEYS, f"member {raw.get('email')}")
        user = auth_repository.user_by_email(session, spec["email"])
        if user is not None and auth_repository.membership_of(session, user.id, organization_id):
            continue
        add_member(
            session,
            operator,
            organization_id,
            email=spec["email"],
            full_name=spec["full_name"],
            role=spec["role"],
            password=password,
        )
        counts["memberships"] += 1
        if user is None:
            counts["users"] += 1


# --- organisations and their provider profiles ------------------------------------------------


def _organization(
    session: Session, operator: Principal, spec: Raw, counts: Counter[str]
) -> tuple[uuid.UUID, bool]:
    """The organisation's id, and whether this run created it."""
    existing = parties_repository.organization_by_name(session, spec["name"])
    if existing is not None:
        return existing.id, False
    fields = {k: v for k, v in spec.items() if k in OrganizationCreate.model_fields}
    created = parties.create_organization(
        session, operator, OrganizationCreate.model_validate(fields)
    )
    counts["organizations"] += 1
    return created.id, True


def _sites(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    sites: list[Raw],
    counts: Counter[str],
) -> dict[str, uuid.UUID]:
    site_ids: dict[str, uuid.UUID] = {}
    for raw in sites:
        spec = SiteCreate.model_validate(_checked(raw, SITE_KEYS, f"site {raw.get('name')}"))
        site_ids[spec.name] = parties.add_site(session, operator, organization_id, spec).id
        counts["sites"] += 1
    # add_site does not append to a loaded ``Organization.sites`` collection, so a later check in
    # this session could miss the new sites if the organisation is still in the identity map.
    session.expire_all()
    return site_ids


def _capabilities(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    capabilities: list[Raw],
    site_ids: dict[str, uuid.UUID],
    owner: str,
    counts: Counter[str],
) -> None:
    for raw in capabilities:
        spec = _checked(raw, CAPABILITY_KEYS, f"capability {raw.get('service_code')} of {owner}")
        data = CapabilityCreate(
            service_code=spec["service_code"],
            site_ids=[_site_id(site_ids, name, owner) for name in spec.get("sites", [])],
            standards=spec.get("standards", []),
            capacity_notes=spec.get("capacity_notes", ""),
            lead_time_weeks=spec.get("lead_time_weeks"),
        )
        parties.add_capability(session, operator, organization_id, data)
        counts["capabilities"] += 1


def _certifications(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    certifications: list[Raw],
    site_ids: dict[str, uuid.UUID],
    owner: str,
    today: date,
    counts: Counter[str],
) -> None:
    for raw in certifications:
        spec = _checked(raw, CERTIFICATION_KEYS, f"certification {raw.get('reference')} of {owner}")
        data = CertificationCreate(
            standard=spec["standard"],
            issuer=spec["issuer"],
            reference=spec.get("reference", ""),
            site_id=_optional_site_id(site_ids, spec.get("site"), owner),
            valid_from=spec.get("valid_from"),
            valid_until=_in_days(spec.get("valid_until_in_days"), today),
        )
        parties.add_certification(session, operator, organization_id, data)
        counts["certifications"] += 1


def _inspections(
    session: Session,
    operator: Principal,
    organization_id: uuid.UUID,
    inspections: list[Raw],
    site_ids: dict[str, uuid.UUID],
    owner: str,
    counts: Counter[str],
) -> None:
    for raw in inspections:
        spec = _checked(raw, INSPECTION_KEYS, f"inspection {raw.get('inspected_on')} of {owner}")
        data = InspectionCreate(
            authority=spec["authority"],
            inspected_on=spec["inspected_on"],
            outcome=spec["outcome"],
            site_id=_optional_site_id(site_ids, spec.get("site"), owner),
            summary=spec.get("summary", ""),
        )
        parties.add_inspection(session, operator, organization_id, data)
        counts["inspections"] += 1


# --- qualifications ---------------------------------------------------------------------------


def _organization_id(session: Session, name: str) -> uuid.UUID:
    organization = parties_repository.organization_by_name(session, name)
    if organization is None:
        raise ValueError(f"world.yaml: no organisation named {name!r}")
    return organization.id


def _user(session: Session, email: str) -> User:
    user = auth_repository.user_by_email(session, email)
    if user is None:
        raise ValueError(f"world.yaml: no user with e-mail {email!r}")
    return user


def _qualifications(
    session: Session, qualifications: list[Raw], today: date, counts: Counter[str]
) -> None:
    for raw in qualifications:
        what = f"qualification {raw.get('sponsor')} → {raw.get('provider')}"
        spec = _checked(raw, QUALIFICATION_KEYS, what)
        sponsor_id = _organization_id(session, spec["sponsor"])
        provider_id = _organization_id(session, spec["provider"])
        if parties_repository.qualification_of_pair(session, sponsor_id, provider_id) is not None:
            continue
        recorder = principal_for(session, _user(session, spec["recorded_by"]))
        fields = {
            k: v
            for k, v in spec.items()
            if k not in {"sponsor", "provider", "recorded_by", "expires_in_days"}
        }
        data = QualificationCreate.model_validate(
            {
                **fields,
                "sponsor_id": sponsor_id,
                "provider_id": provider_id,
                "expires_on": _in_days(spec.get("expires_in_days"), today),
            }
        )
        parties.create_qualification(session, recorder, data)
        counts["qualifications"] += 1


# --- the whole world --------------------------------------------------------------------------


def _logins(world: Raw) -> list[Login]:
    password: str = world["password"]
    operator: Raw = world["operator"]
    logins: list[Login] = [
        (operator["organization_label"], operator["login"], operator["email"], password)
    ]
    for organization in world["organizations"]:
        for member in organization.get("members", []):
            if member.get("login"):
                logins.append((organization["name"], member["login"], member["email"], password))
    return logins


def load_demo_world(session: Session) -> DemoLoadReport:
    """Create whatever of the demo world is missing; flush, never commit."""
    world = read_world()
    today = date.today()
    password: str = world["password"]
    counts: Counter[str] = Counter()
    operator = _operator(session, world["operator"], password, counts)

    for raw in world["organizations"]:
        spec = _checked(raw, ORGANIZATION_KEYS, f"organisation {raw.get('name')}")
        name: str = spec["name"]
        organization_id, created = _organization(session, operator, spec, counts)
        _members(session, operator, organization_id, spec.get("members", []), password, counts)
        if not created:
            continue
        site_ids = _sites(session, operator, organization_id, spec.get("sites", []), counts)
        _capabilities(
            session, operator, organization_id, spec.get("capabilities", []), site_ids, name, counts
        )
        _certifications(
            session,
            operator,
            organization_id,
            spec.get("certifications", []),
            site_ids,
            name,
            today,
            counts,
        )
        _inspections(
            session, operator, organization_id, spec.get("inspections", []), site_ids, name, counts
        )

    _qualifications(session, world.get("qualifications", []), today, counts)
    session.flush()
    return DemoLoadReport(
        organizations=counts["organizations"],
        users=counts["users"],
        sites=counts["sites"],
        capabilities=counts["capabilities"],
        certifications=counts["certifications"],
        inspections=counts["inspections"],
        qualifications=counts["qualifications"],
        memberships=counts["memberships"],
        logins=_logins(world),
    )
