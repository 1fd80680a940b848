"""``opencxo db backup`` and ``opencxo db restore`` on real database files made by the
migrations (SQLite in tmp_path; PostgreSQL when OPENCXO_TEST_DATABASE_URL points at it and the
client tools are installed)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from click.testing import Result
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from opencxo.cli import app
from opencxo.core.audit import AuditChainHead, AuditEvent, verify_chain
from opencxo.core.auth.models import User
from opencxo.core.db import make_engine, unit_of_work
from opencxo.core.settings import get_settings
from opencxo.models import Base, Organization
from tests.conftest import ROOT
from tests.factories import make_organization, make_provider, make_qualification, make_user

runner = CliRunner()
SCRIPTS = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
HEAD = SCRIPTS.get_current_head()
PREVIOUS = SCRIPTS.get_revision(HEAD).down_revision
BASE_EVENTS = 10  # audit events of _populate
PG_BASE = os.environ.get("OPENCXO_TEST_DATABASE_URL", "")


def _migrate(path: Path, revision: str = "head") -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    command.upgrade(config, revision)


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file made by ``alembic upgrade head``; each test copies it (closed, so the
    copy is the whole database)."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    _migrate(path)
    assert not path.with_name("migrated.db-wal").exists()
    return path


def _fresh(migrated: Path, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated, path)
    return path


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_engines() -> Iterator[list[Engine]]:
    """Engines a test opens on its files, disposed at its end."""
    engines: list[Engine] = []
    yield engines
    for engine in engines:
        engine.dispose()


def _engine(engines: list[Engine], path: Path) -> Engine:
    engine = make_engine(_url(path))
    engines.append(engine)
    return engine


def _populate(engine: Engine, *, sponsor: str = "Northwind Test") -> None:
    """An operator, a sponsor with a manager, a provider with capabilities and certificates,
    and the sponsor's qualification of it, written through the services (audited)."""
    with unit_of_work(engine) as session:
        org = make_organization(session, name=sponsor)
        provider = make_provider(session, name=f"{sponsor} Provider")
        manager = make_user(
            session,
            organization_id=org.id,
            role="manager",
            email=f"m@{sponsor.replace(' ', '')[:5]}.test".lower(),
        )
        make_qualification(session, sponsor_user=manager, provider_id=provider.id)


def _picture(engine: Engine) -> dict[str, Any]:
    """What a database holds: rows per table and a few rows in full."""
    with Session(engine) as session:
        counts = {
            table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }
        organizations = session.execute(
            select(Organization.id, Organization.name, Organization.kind).order_by(
                Organization.name
            )
        ).all()
        users = session.execute(select(User.email, User.is_operator).order_by(User.email)).all()
        events = session.execute(
            select(AuditEvent.sequence, AuditEvent.action, AuditEvent.hash).order_by(
                AuditEvent.sequence
            )
        ).all()
        head = session.get(AuditChainHead, 1)
        assert head is not None
        return {
            "counts": counts,
            "organizations": organizations,
            "users": users,
            "events": events,
            "head": (head.last_sequence, head.last_hash),
        }


def cli(monkeypatch: pytest.MonkeyPatch, database_url: str, *args: str) -> Result:
    monkeypatch.setenv("OPENCXO_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        return runner.invoke(app, list(args))
    finally:
        get_settings.cache_clear()


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def _leftovers(directory: Path) -> list[str]:
    """Temporary files or directories a backup or restore left in ``directory``."""
    return [name for name in os.listdir(directory) if name.startswith(".")]


def _sqlite_state(path: Path) -> tuple[list[tuple[str]], str, str]:
    """integrity_check rows, journal mode and Alembic revision of a file, read-only."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchall()
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        connection.close()
    return integrity, mode, revision


# --- SQLite --------------------------------------------------------------------------------


@pytest.fixture
def live(migrated: Path, tmp_path: Path, sqlite_engines: list[Engine]) -> Path:
    """A migrated database file holding the populated world (see ``_populate``)."""
    path = _fresh(migrated, tmp_path / "live.db")
    _populate(_engine(sqlite_engines, path))
    return path


def test_backup_while_another_thread_writes_is_one_consistent_verified_snapshot(
    migrated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_engines: list[Engine],
) -> None:
    live = _fresh(migrated, tmp_path / "var" / "opencxo.db")
    engine = _engine(sqlite_engines, live)
    _populate(engine)
    stop = threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            try:
                with unit_of_work(engine) as session:
                    make_organization(session, name=f"Concurrent {n:04d}")
            except BaseException as exc:
                failures.append(exc)
                return
            n += 1
            written.append(n)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(written) < 5 and writer.is_alive():
            stop.wait(0.01)
        before = len(written)
        (tmp_path / "backups").mkdir()
        copy = tmp_path / "backups" / "opencxo-backup.db"
        result = cli(monkeypatch, _url(live), "db", "backup", str(copy), "--json")
        after = len(written)
        while len(written) < after + 3 and writer.is_alive():
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join()
    assert failures == []
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    # The copy opens clean: integrity ok, one self-contained file at this code's head.
    assert _sqlite_state(copy) == ([("ok",)], "delete", HEAD)
    assert sorted(os.listdir(tmp_path / "backups")) == ["opencxo-backup.db"]
    copy_engine = _engine(sqlite_engines, copy)
    with Session(copy_engine) as session:
        verified = verify_chain(session)
        concurrent = session.execute(
            select(func.count()).where(Organization.name.like("Concurrent %"))
        ).scalar_one()
        last = session.execute(
            select(AuditEvent.hash).order_by(AuditEvent.sequence.desc()).limit(1)
        ).scalar_one()
    # Writes landed before and after the snapshot; each is wholly in it or wholly out: the
    # base data makes 10 events (operator, sponsor, provider with its site, capability,
    # certificate and inspection, manager, membership, qualification) and every concurrent
    # organisation one more.
    assert before <= concurrent <= after < len(written)
    assert verified.ok, verified.problem
    assert verified.events_checked == BASE_EVENTS + concurrent
    assert report == {
        "path": str(copy),
        "size_bytes": copy.stat().st_size,
        "database": "sqlite",
        "source": str(live),
        "revision": HEAD,
        "at_head": True,
        "audit_events": BASE_EVENTS + concurrent,
        "chain_head_hash": last,
        "taken_at": report["taken_at"],
        "duration_s": report["duration_s"],
        "checks": [
            "the copy: PRAGMA integrity_check ok",
            f"the copy: revision {HEAD} known to this code",
            f"the copy: audit chain verifies ({BASE_EVENTS + concurrent} events)",
        ],
    }
    assert report["taken_at"].endswith("Z") and len(report["taken_at"]) == 20
    assert 0 < report["duration_s"] < 60


def test_backup_then_restore_round_trips_every_row(
    live: Path,
    migrated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_engines: list[Engine],
) -> None:
    live_engine = _engine(sqlite_engines, live)
    original = _picture(live_engine)
    copy = tmp_path / "backup.db"
    backed_up = cli(monkeypatch, _url(live), "db", "backup", str(copy))
    assert backed_up.exit_code == 0, backed_up.output
    assert backed_up.stdout.splitlines()[:6] == [
        f"backup written: {copy}",
        f"  database:     sqlite {live}",
        f"  size:         {copy.stat().st_size} bytes",
        f"  revision:     {HEAD} (the newest)",
        "  audit events: 10",
        f"  chain head:   {original['head'][1]}",
    ]

    target = _fresh(migrated, tmp_path / "other" / "opencxo.db")  # migrated, empty
    restored = cli(monkeypatch, _url(target), "db", "restore", str(copy), "--json")
    assert restored.exit_code == 0, restored.output
    report = json.loads(restored.stdout)
    assert {k: v for k, v in report.items() if k not in ("restored_at", "duration_s")} == {
        "path": str(copy),
        "database": "sqlite",
        "target": str(target),
        "revision_in_file": HEAD,
        "revision": HEAD,
        "upgraded": False,
        "replaced_rows": 0,
        "audit_events": BASE_EVENTS,
        "chain_head_hash": original["head"][1],
        "checks": [
            "the file: PRAGMA integrity_check ok",
            f"the file: revision {HEAD} known to this code",
            "the file: audit chain verifies",
            f"the restored database: integrity ok, revision {HEAD}, audit chain verifies",
        ],
    }
    restored_picture = _picture(_engine(sqlite_engines, target))
    assert restored_picture == original
    counts = original["counts"]
    assert (counts["users"], counts["organizations"], counts["qualifications"]) == (2, 2, 1)
    assert counts["audit_events"] == BASE_EVENTS
    assert [name for _, name, _ in original["organizations"]] == [
        "Northwind Test",
        "Northwind Test Provider",
    ]
    assert original["users"] == [("m@north.test", False), ("operator@test.example", True)]
    assert _leftovers(target.parent) == []
    verified = cli(monkeypatch, _url(target), "audit", "verify")
    assert verified.stdout == "audit trail intact: 10 events verified\n"


def test_restore_refuses_a_tampered_backup_and_changes_nothing(
    live: Path,
    migrated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_engines: list[Engine],
) -> None:
    copy = tmp_path / "backup.db"
    assert cli(monkeypatch, _url(live), "db", "backup", str(copy)).exit_code == 0
    # One audit row's payload changed behind the application's back, in the copy only.
    with sqlite3.connect(copy) as connection:
        connection.execute(
            "UPDATE audit_events SET after = json_set(after, '$.name', 'Mallory Pharma') "
            "WHERE sequence = 2"
        )
        event_id = connection.execute("SELECT id FROM audit_events WHERE sequence = 2").fetchone()[
            0
        ]
    connection.close()
    event_id = str(uuid.UUID(event_id))

    target = _fresh(migrated, tmp_path / "target" / "opencxo.db")
    target_engine = _engine(sqlite_engines, target)
    _populate(target_engine, sponsor="Keep Me")
    before = _picture(target_engine)
    target_engine.dispose()

    result = cli(monkeypatch, _url(target), "db", "restore", str(copy), "--yes")
    assert _one_line_error(result) == (
        f"error: {copy}: the audit chain does not verify: event 2 (id {event_id}): "
        "content does not match its hash (changed); nothing was restored\n"
    )
    assert _picture(target_engine) == before
    assert [name for _, name, _ in before["organizations"]] == ["Keep Me", "Keep Me Provider"]
    assert _leftovers(target.parent) == []  # no staging directory left behind


def test_a_database_whose_chain_is_broken_is_copied_as_evidence_and_the_backup_fails(
    live: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sqlite3.connect(live) as connection:
        connection.execute(
            "UPDATE audit_events SET after = json_set(after, '$.name', 'Mallory Pharma') "
            "WHERE sequence = 3"
        )
    connection.close()
    copy = tmp_path / "evidence.db"
    result = cli(monkeypatch, _url(live), "db", "backup", str(copy))
    assert result.exit_code != 0
    message = _one_line_error(result)
    assert message.startswith(
        f"error: the copy of {live}: the audit chain does not verify: event 3"
    )
    assert message.endswith(
        f"; the copy is kept at {copy} as evidence (a restore refuses it): investigate with "
        "opencxo audit verify\n"
    )
    with sqlite3.connect(copy) as kept:  # the database as it was, tampered row included
        names = kept.execute("SELECT json_extract(after, '$.name') FROM audit_events "
                             "WHERE sequence = 3").fetchone()  # fmt: skip
    kept.close()
    assert names == ("Mallory Pharma",)
    assert _leftovers(tmp_path) == []


def test_backup_refuses_to_overwrite_a_file_without_force(
    live: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "backups").mkdir()
    existing = tmp_path / "backups" / "monday.db"
    existing.write_bytes(b"last week's backup")

    refused = cli(monkeypatch, _url(live), "db", "backup", str(existing))
    assert _one_line_error(refused) == f"error: {existing} exists; use --force to replace it\n"
    assert existing.read_bytes() == b"last week's backup"
    assert os.listdir(tmp_path / "backups") == ["monday.db"]

    replaced = cli(monkeypatch, _url(live), "db", "backup", str(existing), "--force", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.stdout)["audit_events"] == BASE_EVENTS
    assert _sqlite_state(existing) == ([("ok",)], "delete", HEAD)
    assert os.listdir(tmp_path / "backups") == ["monday.db"]


def test_restore_into_a_database_that_is_not_empty_needs_yes(
    live: Path,
    migrated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_engines: list[Engine],
) -> None:
    live_engine = _engine(sqlite_engines, live)
    copy = tmp_path / "backup.db"
    assert cli(monkeypatch, _url(live), "db", "backup", str(copy)).exit_code == 0
    target = _fresh(migrated, tmp_path / "target.db")
    target_engine = _engine(sqlite_engines, target)
    with unit_of_work(target_engine) as session:
        make_organization(session, name="Already Here")
    before = _picture(target_engine)

    refused = cli(monkeypatch, _url(target), "db", "restore", str(copy))
    assert _one_line_error(refused) == (
        f"error: the database {target} is not empty (4 rows in 3 tables: 2 audit_events, "
        "1 organizations, 1 users); --yes replaces all of it with the backup; "
        "nothing was restored\n"
    )
    assert _picture(target_engine) == before

    replaced = cli(monkeypatch, _url(target), "db", "restore", str(copy), "--yes", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.stdout)["replaced_rows"] == 4
    assert _picture(target_engine) == _picture(live_engine)


def test_an_older_backup_is_upgraded_and_restored_into_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old.db"
    _migrate(old, PREVIOUS)
    copy = tmp_path / "old-backup.db"
    backed_up = cli(monkeypatch, _url(old), "db", "backup", str(copy), "--json")
    assert backed_up.exit_code == 0, backed_up.output
    assert {k: json.loads(backed_up.stdout)[k] for k in ("revision", "at_head")} == {
        "revision": PREVIOUS,
        "at_head": False,
    }

    target = tmp_path / "new-machine" / "var" / "opencxo.db"  # nothing there yet
    restored = cli(monkeypatch, _url(target), "db", "restore", str(copy), "--json")
    assert restored.exit_code == 0, restored.output
    report = json.loads(restored.stdout)
    assert (report["revision_in_file"], report["revision"], report["upgraded"]) == (
        PREVIOUS,
        HEAD,
        True,
    )
    assert _sqlite_state(target)[0::2] == ([("ok",)], HEAD)
    assert _sqlite_state(copy)[2] == PREVIOUS  # the backup file itself is only read


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (
            "UPDATE alembic_version SET version_num = 'ffffffffffff'",
            "is at revision ffffffffffff, which this version of OpenCXO does not know (newest "
            "here: {head}); it was made by a newer OpenCXO: upgrade first",
        ),
        ("DROP TABLE alembic_version", "has no Alembic revision: not an OpenCXO database"),
        ("not a database", "is not a SQLite database"),
    ],
)
def test_restore_refuses_a_file_it_cannot_trust(
    migrated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_engines: list[Engine],
    spoil: str,
    problem: str,
) -> None:
    bad = tmp_path / "bad.db"
    if spoil.startswith(("UPDATE", "DROP")):
        _fresh(migrated, bad)
        with sqlite3.connect(bad) as connection:
            connection.execute(spoil)
        connection.close()
    else:
        bad.write_text(spoil)
    target = _fresh(migrated, tmp_path / "target.db")
    target_engine = _engine(sqlite_engines, target)
    _populate(target_engine)
    before = _picture(target_engine)
    result = cli(monkeypatch, _url(target), "db", "restore", str(bad), "--yes")
    assert _one_line_error(result) == (
        f"error: {bad} {problem.format(head=HEAD)}; nothing was restored\n"
    )
    assert _picture(target_engine) == before


def _without(tool: str, tmp_path: Path) -> dict[str, str]:
    """The environment with a PATH on which ``tool`` is not found."""
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    return {**os.environ, "PATH": str(empty)}


@pytest.mark.parametrize(
    ("verb", "tool", "nothing"),
    [("backup", "pg_dump", "written"), ("restore", "pg_restore", "restored")],
)
def test_a_missing_postgresql_client_tool_is_one_clear_line(
    tmp_path: Path, verb: str, tool: str, nothing: str
) -> None:
    file = tmp_path / "out" / "opencxo.dump"
    file.parent.mkdir()
    if verb == "restore":
        file.write_bytes(b"PGDMP")
    listing = sorted(os.listdir(file.parent))
    env = {
        **_without(tool, tmp_path),
        "OPENCXO_DATABASE_URL": "postgresql://opencxo:s3cret@127.0.0.1:1/opencxo",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "db", verb, str(file)],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr == (
        f"error: {tool} not found on PATH: install the PostgreSQL client tools (Debian/Ubuntu: "
        "apt-get install postgresql-client, of the server's major version or newer); "
        f"nothing was {nothing}\n"
    )
    assert sorted(os.listdir(file.parent)) == listing


# --- PostgreSQL ----------------------------------------------------------------------------

on_postgresql = pytest.mark.skipif(
    not PG_BASE.startswith("postgresql")
    or shutil.which("pg_dump") is None
    or shutil.which("pg_restore") is None,
    reason="needs OPENCXO_TEST_DATABASE_URL=postgresql://… and pg_dump / pg_restore on PATH",
)


@pytest.fixture
def second_postgres_database(database_url: str) -> Iterator[str]:
    """An empty database (no tables) beside the test database, dropped afterwards."""
    url = make_url(database_url)
    name = f"{url.database}_restored"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _scratch_databases(engine: Engine) -> list[str]:
    """Scratch databases a restore into ``engine``'s database left behind."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                text("SELECT datname FROM pg_database WHERE starts_with(datname, :prefix)"),
                {"prefix": f"{engine.url.database}_restore_check_"},
            ).scalars()
        )


@on_postgresql
def test_postgresql_backup_and_restore_round_trip_and_refuse_a_tampered_dump(
    engine: Engine,
    database_url: str,
    second_postgres_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _populate(engine)
    original = _picture(engine)
    dump = tmp_path / "opencxo.dump"
    backed_up = cli(monkeypatch, database_url, "db", "backup", str(dump), "--json")
    assert backed_up.exit_code == 0, backed_up.output
    report = json.loads(backed_up.stdout)
    assert dump.read_bytes()[:5] == b"PGDMP"
    assert (report["size_bytes"], report["revision"], report["at_head"]) == (
        dump.stat().st_size,
        HEAD,
        True,
    )
    assert (report["audit_events"], report["chain_head_hash"]) == (BASE_EVENTS, original["head"][1])
    assert os.listdir(tmp_path) == ["opencxo.dump"]

    # Into an empty database (no --yes needed): every row comes back.
    restored = cli(monkeypatch, second_postgres_database, "db", "restore", str(dump), "--json")
    assert restored.exit_code == 0, restored.output
    restored_report = json.loads(restored.stdout)
    assert (restored_report["replaced_rows"], restored_report["audit_events"]) == (0, BASE_EVENTS)
    assert restored_report["checks"] == [
        f"the file: revision {HEAD} known to this code",
        "the file: audit chain verifies (restored into a scratch database)",
        f"the restored database: revision {HEAD}, audit chain verifies",
    ]
    second = create_engine(second_postgres_database)
    try:
        assert _picture(second) == original

        # A dump whose audit row was changed (made with pg_dump itself: `db backup` refuses
        # a database whose chain does not verify) is refused; the target keeps its rows.
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE audit_events SET reason = 'backdated' WHERE sequence = 3")
            )
        refused_backup = cli(monkeypatch, database_url, "db", "backup", str(dump), "--force")
        assert "does not verify: event 3: content does not match its hash (changed)" in (
            _one_line_error(refused_backup)
        )
        tampered = tmp_path / "tampered.dump"
        url = make_url(database_url)
        libpq = {"PGHOST": url.host, "PGPORT": url.port, "PGUSER": url.username,
                 "PGPASSWORD": url.password, "PGDATABASE": url.database}  # fmt: skip
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={tampered}", "--no-password"],
            check=True, capture_output=True,
            env={**os.environ, **{k: str(v) for k, v in libpq.items() if v}},
        )  # fmt: skip
        refused = cli(
            monkeypatch, second_postgres_database, "db", "restore", str(tampered), "--yes"
        )
        message = _one_line_error(refused)
        assert message.startswith(f"error: {tampered}: the audit chain does not verify: event 3")
        assert message.endswith("content does not match its hash (changed); nothing was restored\n")
        assert _picture(second) == original
        assert _scratch_databases(second) == []

        # Not empty now: refused without --yes.
        not_empty = cli(monkeypatch, second_postgres_database, "db", "restore", str(dump))
        assert "is not empty (" in _one_line_error(not_empty)

        # A table the archive lacks would survive --clean: refused, even with --yes.
        with second.begin() as connection:
            connection.execute(text("CREATE TABLE zz_local_notes (note text)"))
        extra = cli(monkeypatch, second_postgres_database, "db", "restore", str(dump), "--yes")
        assert _one_line_error(extra).endswith(
            "has tables the backup does not (zz_local_notes); restore into an empty database "
            "(dropdb, createdb) instead; nothing was restored\n"
        )
        assert _picture(second) == original
    finally:
        second.dispose()
