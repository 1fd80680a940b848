"""Schemathesis over /api/v1/openapi.json: no request the schema allows may get a 5xx.

One test per API operation (so pytest-xdist spreads them), run in-process against the ASGI app.
The caller is a platform operator who is also admin of a sponsor, so every route is reachable.
Generated ids that are well-formed UUIDs are pointed at seeded records, and a PATCH carries the
record's current version, so most examples get past "not found" and "stale" into the use case.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from opencxo.app import create_app
from opencxo.core.auth import repository as auth_repository
from opencxo.core.auth import service as auth
from opencxo.core.auth.models import Membership
from opencxo.core.settings import Settings
from opencxo.models import Capability, Organization, Qualification, Site
from tests.conftest import TEST_SECRET
from tests.factories import (
    make_organization,
    make_provider,
    make_qualification,
    make_token,
    make_user,
    operator,
)

API = "/api/v1"
# The schema is read once, at collection, from an app that never touches its (unused) database.
SCHEMA = schemathesis.openapi.from_asgi(
    f"{API}/openapi.json",
    create_app(
        Settings(database_url="sqlite:///:memory:", environment="test", secret_key=TEST_SECRET)
    ),
)


@pytest.fixture(scope="module")
def api_app(database_url: str) -> Iterator[FastAPI]:
    """The app under test, on the test database; one per worker."""
    app = create_app(
        Settings(database_url=database_url, environment="test", secret_key=TEST_SECRET)
    )
    yield app
    app.state.engine.dispose()


@dataclass(frozen=True)
class World:
    token: str
    targets: dict[str, list[str]]  # id parameter name -> seeded ids to point it at
    versioned: dict[str, type[Any]]  # path parameter of a PATCH -> its versioned model


@pytest.fixture
def world(session: Session) -> World:
    sponsor = make_organization(session, name="Fuzz Sponsor")
    provider = make_provider(session, name="Fuzz Provider", service_codes=("CMC-GMPAPI",))
    other = make_provider(session, name="Other Provider", country="IN")
    op_user = auth_repository.user_by_email(session, operator(session).email)
    assert op_user is not None
    make_user(session, organization_id=sponsor.id, role="admin", email=op_user.email)
    viewer = make_user(session, organization_id=sponsor.id, role="viewer")
    qualification = make_qualification(session, sponsor_user=op_user, provider_id=provider.id)
    token = make_token(session, user=op_user)
    spare, _ = auth.create_token(session, auth.principal_for(session, op_user), name="spare")
    site = session.scalars(select(Site.id).where(Site.organization_id == provider.id)).one()
    capability = session.scalars(
        select(Capability.id).where(Capability.provider_id == provider.id)
    ).one()
    membership = session.scalars(select(Membership.id).where(Membership.user_id == viewer.id)).one()
    session.commit()
    ids = {
        "organization_id": [provider.id, sponsor.id],
        "provider_id": [provider.id, other.id, sponsor.id],
        "sponsor_id": [sponsor.id],
        "site_id": [site],
        "site_ids": [site],
        "capability_id": [capability],
        "qualification_id": [qualification.id],
        "membership_id": [membership],
        "token_id": [spare.id],  # never the token the caller uses
    }
    return World(
        token=token,
        targets={name: [str(i) for i in values] for name, values in ids.items()},
        versioned={
            "organization_id": Organization,
            "qualification_id": Qualification,
            "membership_id": Membership,
        },
    )


def _aim(world: World, name: str, value: Any) -> Any:
    """A well-formed UUID for a known id parameter becomes a seeded record's id."""
    if isinstance(value, list):
        return [_aim(world, name, v) for v in value]
    choices = world.targets.get(name)
    if not choices or not isinstance(value, str):
        return value
    try:
        generated = uuid.UUID(value)
    except ValueError:
        return value
    return choices[generated.int % len(choices)]


def _current_version(engine: Engine, model: type[Any], record_id: str) -> int | None:
    with engine.connect() as connection:
        return connection.execute(
            select(model.version).where(model.id == uuid.UUID(record_id))
        ).scalar_one_or_none()


def aim_at_seeded_records(case: schemathesis.Case[Any], world: World, engine: Engine) -> None:
    params = case.path_parameters or {}
    for name, value in params.items():
        params[name] = _aim(world, name, value)
    if isinstance(case.body, dict):
        for name, value in case.body.items():
            case.body[name] = _aim(world, name, value)
        if case.method == "PATCH" and isinstance(case.body.get("version"), int):
            for name, model in world.versioned.items():
                if name in params and params[name] in world.targets[name]:
                    current = _current_version(engine, model, params[name])
                    case.body["version"] = current if current is not None else 1


@SCHEMA.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(
    case: schemathesis.Case[Any], api_app: FastAPI, world: World, engine: Engine
) -> None:
    aim_at_seeded_records(case, world, engine)
    case.call_and_validate(
        app=api_app,
        headers={"Authorization": f"Bearer {world.token}"},
        checks=[not_a_server_error],
    )
