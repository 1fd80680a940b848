"""Test fixtures: a real database made by the Alembic migrations (SQLite, or PostgreSQL when
OPENCXO_TEST_DATABASE_URL is set), the app, and an HTTP client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

os.environ.setdefault("OPENCXO_ENVIRONMENT", "test")

import opencxo.models
from opencxo.app import create_app
from opencxo.core.audit import GENESIS_HASH, AuditChainHead
from opencxo.core.auth import passwords
from opencxo.core.db import make_engine
from opencxo.core.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]
TEST_SECRET = "test-secret-key-with-enough-entropy-0123456789"


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _postgres_database(base_url: str) -> str:
    url = make_url(base_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    name = f"{url.database or 'opencxo'}_{_worker()}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = os.environ.get("OPENCXO_TEST_DATABASE_URL")
    if base:
        url = _postgres_database(base)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'opencxo.db'}"
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")
    return url


@pytest.fixture(autouse=True)
def files_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Stored files (deliverables, attachments) of this test only: ``core.files`` reads the
    directory from the cached settings, so the cache is cleared around the test."""
    root = tmp_path / "files"
    monkeypatch.setenv("OPENCXO_FILES_DIR", str(root))
    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id at its lowest cost: at the production cost every user a test makes and
    every login it does takes a tenth of a second. Tests of the hashing itself are marked
    ``real_password_hashing``."""
    if request.node.get_closest_marker("real_password_hashing"):
        return
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the CLI's configured settings at the test database (modules running ``opencxo``
    commands in-process use it: ``pytestmark = pytest.mark.usefixtures("cli_database")``)."""
    monkeypatch.setenv("OPENCXO_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from the migrated, empty schema (and a fresh audit chain)."""
    yield
    if "engine" not in request.fixturenames:
        return
    engine: Engine = request.getfixturevalue("engine")
    with engine.begin() as connection:
        for table in reversed(opencxo.models.Base.metadata.sorted_tables):
            if table.name != "audit_chain_head":
                connection.execute(table.delete())
        connection.execute(update(AuditChainHead).values(last_sequence=0, last_hash=GENESIS_HASH))


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.rollback()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, environment="test", secret_key=TEST_SECRET)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client
