"""Online backups of the database, and restores from them.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies one consistent snapshot in
a single step while the app keeps writing (WAL: readers never block writers). PostgreSQL:
``pg_dump --format=custom`` inside a snapshot exported by this process (the revision and the
audit chain are read in that same snapshot), and ``pg_restore``.

A backup is written into a temporary directory beside its destination and moved into place only
once it is complete and verified: ``PRAGMA integrity_check``, an Alembic revision this code
knows, and the audit chain (``opencxo.core.audit.verify_chain``). A restore checks the file the
same way on a staging copy first (upgrading an older revision there) and changes nothing when a
check fails.

The Alembic scripts are the boundary's business (the CLI knows where ``alembic.ini`` is): the
caller hands in a :class:`Migrations` with the head, the known revisions and the upgrade.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from opencxo.core.audit import AuditChainHead, verify_chain
from opencxo.core.errors import OpenCXOError
from opencxo.core.types import utcnow

NOTHING_RESTORED = "nothing was restored"
NOTHING_WRITTEN = "nothing was written"
# Tables every migrated database holds rows in, empty or not.
_BOOKKEEPING_TABLES = frozenset({"alembic_version", "audit_chain_head"})
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_DUMP_MAGIC = b"PGDMP"
# libpq's environment variables for the query parameters a database URL may carry: the
# connection reaches pg_dump / pg_restore through the environment, never the command line.
_LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "channel_binding": "PGCHANNELBINDING",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
}


class BackupError(OpenCXOError):
    """A backup or restore that cannot be done; ``message`` says why and what to do."""


@dataclass(frozen=True)
class Migrations:
    """What backups need of the Alembic scripts.

    ``head`` is this code's newest revision, ``known`` every revision it has, and
    ``upgrade(url)`` migrates the database at ``url`` to the head.
    """

    head: str
    known: frozenset[str]
    upgrade: Callable[[str], None]


@dataclass(frozen=True)
class BackupReport:
    path: str
    size_bytes: int
    database: Literal["sqlite", "postgresql"]
    source: str
    revision: str
    at_head: bool
    audit_events: int
    chain_head_hash: str
    taken_at: str
    """UTC time of the snapshot (ISO 8601)."""
    duration_s: float
    checks: tuple[str, ...]
    """What was verified, in words."""


@dataclass(frozen=True)
class RestoreReport:
    path: str
    database: Literal["sqlite", "postgresql"]
    target: str
    revision_in_file: str
    revision: str
    upgraded: bool
    replaced_rows: int
    """Rows the target held before (the bookkeeping tables aside)."""
    audit_events: int
    chain_head_hash: str
    restored_at: str
    duration_s: float
    checks: tuple[str, ...]


@dataclass(frozen=True)
class _Chain:
    events: int
    head_hash: str


def backup_database(
    database_url: str, destination: Path, *, migrations: Migrations, force: bool = False
) -> BackupReport:
    """Copy the database at ``database_url`` into ``destination`` (see the module's notes)."""
    with _file_errors():
        if _is_sqlite(database_url):
            return _backup_sqlite(database_url, destination, migrations=migrations, force=force)
        return _backup_postgresql(database_url, destination, migrations=migrations, force=force)


def restore_database(
    database_url: str, source: Path, *, migrations: Migrations, replace: bool = False
) -> RestoreReport:
    """Replace the database at ``database_url`` by the backup ``source``.

    Refused unless the database is empty or ``replace`` is true, and when the file fails a check
    (integrity, a revision this code does not know, the audit chain): then nothing changes.
    """
    with _file_errors():
        if _is_sqlite(database_url):
            return _restore_sqlite(database_url, source, migrations=migrations, replace=replace)
        return _restore_postgresql(database_url, source, migrations=migrations, replace=replace)


# --- shared -------------------------------------------------------------------------------


def _is_sqlite(database_url: str) -> bool:
    return database_url.startswith("sqlite")


def _last_line(output: str) -> str:
    """The last line a tool wrote: its error, without the lines leading up to it."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _stamp(moment: datetime) -> str:
    """ISO 8601 in UTC to the second, with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cause(exc: SQLAlchemyError) -> str:
    """The driver's own message (first line), without SQLAlchemy's statement and links."""
    orig = getattr(exc, "orig", None)
    message = str(orig) if orig is not None else str(exc)
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@contextmanager
def _file_errors() -> Iterator[None]:
    """A file the operating system refuses (permissions, a full disk) as one line."""
    try:
        yield
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise BackupError(f"{where}{exc.strerror or exc}") from None


@contextmanager
def _then(suffix: str) -> Iterator[None]:
    """Re-raise a :class:`BackupError` with ``suffix`` (what did not happen) appended."""
    try:
        yield
    except BackupError as exc:
        raise BackupError(f"{exc.message}; {suffix}") from None


def _check_destination(destination: Path, *, force: bool, forbidden: set[Path]) -> None:
    if destination.is_dir():
        raise BackupError(f"{destination} is a directory; name the backup file to write")
    if not destination.parent.is_dir():
        raise BackupError(f"directory {destination.parent} does not exist; create it first")
    if destination.resolve() in forbidden:
        raise BackupError(f"{destination} is the database itself; name another file")
    if destination.exists() and not force:
        raise BackupError(f"{destination} exists; use --force to replace it")


@contextmanager
def _temporary_directory_beside(path: Path) -> Iterator[Path]:
    """A private directory in ``path``'s directory (same file system, so the final rename is
    atomic), removed with whatever is left in it."""
    try:
        directory = Path(
            tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        )
    except OSError as exc:
        raise BackupError(f"cannot write in {path.parent}: {exc.strerror}") from None
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _fsync(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _move_into_place(written: Path, destination: Path, *, force: bool) -> None:
    """Rename the complete file onto ``destination``; without ``force`` an existing file (even
    one that appeared while the backup ran) is never replaced."""
    _fsync(written)
    try:
        if force:
            os.replace(written, destination)
        else:
            try:
                os.link(written, destination)  # fails when the destination exists
            except FileExistsError:
                raise BackupError(f"{destination} exists; use --force to replace it") from None
            except OSError:  # a file system without hard links
                if destination.exists():
                    raise BackupError(f"{destination} exists; use --force to replace it") from None
                os.replace(written, destination)
    except OSError as exc:
        raise BackupError(f"cannot write {destination}: {exc.strerror}") from None
    _fsync(destination.parent)


def _verified_chain(label: str, engine: Engine) -> _Chain:
    """Verify the audit chain of the database behind ``engine`` with the one function that
    ``opencxo audit verify`` runs; raise naming the first bad event."""
    try:
        with Session(engine) as session:
            result = verify_chain(session)
            head = session.get(AuditChainHead, 1)
            head_hash = head.last_hash if head is not None else ""
    except SQLAlchemyError as exc:
        raise BackupError(f"{label}: the audit chain cannot be read: {_cause(exc)}") from None
    if not result.ok:
        where = (
            f"event {result.first_bad_sequence} (id {result.first_bad_event_id}): "
            if result.first_bad_event_id
            else ""
        )
        raise BackupError(f"{label}: the audit chain does not verify: {where}{result.problem}")
    return _Chain(result.events_checked, head_hash)


def _row_counts(engine: Engine) -> dict[str, int]:
    """Rows of every table but the bookkeeping ones, for the tables that hold any."""
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for name in inspect(connection).get_table_names():
            if name in _BOOKKEEPING_TABLES:
                continue
            rows = connection.execute(select(func.count()).select_from(table(name))).scalar_one()
            if rows:
                counts[name] = int(rows)
    return counts


def _refuse_non_empty(counts: Mapping[str, int], target: str) -> None:
    total = sum(counts.values())
    largest = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{rows} {name}" for name, rows in largest[:4])
    more = f" and {len(largest) - 4} more tables" if len(largest) > 4 else ""
    raise BackupError(
        f"the database {target} is not empty ({total} rows in {len(counts)} tables: "
        f"{shown}{more}); --yes replaces all of it with the backup"
    )


def _upgrade(migrations: Migrations, database_url: str, label: str, revision: str) -> None:
    """Migrate the database at ``database_url`` from ``revision`` to the head (the boundary's
    own upgrade); any failure becomes one line naming the revisions."""
    try:
        migrations.upgrade(database_url)
    except Exception as exc:  # a migration may fail in any way; the message says where
        raise BackupError(
            f"{label}: upgrading revision {revision} to {migrations.head} failed: "
            f"{_last_line(str(exc))}"
        ) from None


def _check_revision(revision: str, label: str, migrations: Migrations) -> None:
    if revision not in migrations.known:
        raise BackupError(
            f"{label} is at revision {revision}, which this version of OpenCXO does not know "
            f"(newest here: {migrations.head}); it was made by a newer OpenCXO: upgrade first"
        )


# --- SQLite --------------------------------------------------------------------------------


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:" or "mode=memory" in database:
        raise BackupError("an in-memory SQLite database has nothing to back up or restore")
    return Path(database)


def _sqlite_connect(path: Path, mode: Literal["ro", "rw", "rwc"]) -> sqlite3.Connection:
    """A connection to the file at ``path``: read-only, read-write, or read-write creating it
    (the first two never create a file)."""
    connection = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=30, check_same_thread=False
    )
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def _sqlite_engine(path: Path) -> Engine:
    return create_engine(
        "sqlite://", creator=lambda: _sqlite_connect(path, "rw"), poolclass=NullPool
    )


def _sqlite_checks(path: Path, label: str, migrations: Migrations) -> str:
    """``PRAGMA integrity_check`` and the Alembic revision of the SQLite file at ``path``."""
    try:
        connection = _sqlite_connect(path, "rw")
        try:
            problems = [str(row[0]) for row in connection.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{label}: PRAGMA integrity_check failed: {problems[0]}")
            try:
                versions = [
                    str(row[0])
                    for row in connection.execute("SELECT version_num FROM alembic_version")
                ]
            except sqlite3.OperationalError:
                raise BackupError(
                    f"{label} has no Alembic revision: not an OpenCXO database"
                ) from None
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{label}: {exc}") from None
    if len(versions) != 1:
        raise BackupError(f"{label} has {len(versions)} Alembic revisions; one was expected")
    _check_revision(versions[0], label, migrations)
    return versions[0]


def _sqlite_chain(path: Path, label: str) -> _Chain:
    engine = _sqlite_engine(path)
    try:
        return _verified_chain(label, engine)
    finally:
        engine.dispose()


def _sqlite_copy(source: Path, copy: Path) -> None:
    """One consistent snapshot of ``source`` into the new file ``copy``: a single backup step
    (one read transaction, so concurrent writers are either wholly in or wholly out), left as
    one self-contained file (rollback journal, not WAL). The source is opened read-only."""
    source_connection = _sqlite_connect(source, "ro")
    try:
        copy_connection = _sqlite_connect(copy, "rwc")
        try:
            source_connection.backup(copy_connection)  # pages=-1: the whole database at once
            mode = copy_connection.execute("PRAGMA journal_mode=DELETE").fetchone()
            if mode is None or str(mode[0]).lower() != "delete":
                raise BackupError(f"cannot take {copy} out of WAL mode")
        finally:
            copy_connection.close()
    finally:
        source_connection.close()


def _refuse_foreign_file(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            start = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    if start.startswith(_PG_DUMP_MAGIC):
        raise BackupError(
            f"{path} is a PostgreSQL (pg_dump) backup; restore it with OPENCXO_DATABASE_URL "
            "pointing at PostgreSQL"
        )
    if start != _SQLITE_MAGIC:
        raise BackupError(f"{path} is not a SQLite database")


def _backup_sqlite(
    database_url: str, destination: Path, *, migrations: Migrations, force: bool
) -> BackupReport:
    database = _sqlite_path(database_url)
    if not database.is_file():
        raise BackupError(f"no database at {database}: nothing to back up")
    resolved = database.resolve()
    forbidden = {resolved, *(resolved.with_name(resolved.name + s) for s in ("-wal", "-shm"))}
    _check_destination(destination, force=force, forbidden=forbidden)
    taken_at = utcnow()
    started = time.monotonic()
    label = f"the copy of {database}"
    broken: BackupError | None = None
    with _then(NOTHING_WRITTEN), _temporary_directory_beside(destination) as directory:
        copy = directory / destination.name
        try:
            _sqlite_copy(database, copy)
        except sqlite3.Error as exc:
            raise BackupError(f"the backup of {database} failed: {exc}") from None
        except OSError as exc:
            raise BackupError(f"cannot write {copy}: {exc.strerror}") from None
        revision = _sqlite_checks(copy, label, migrations)
        try:
            chain = _sqlite_chain(copy, label)
        except BackupError as exc:
            broken = exc  # the database is what it is: keep its copy for the investigation
        _move_into_place(copy, destination, force=force)
    if broken is not None:
        raise BackupError(
            f"{broken.message}; the copy is kept at {destination} as evidence (a restore "
            "refuses it): investigate with opencxo audit verify"
        )
    return BackupReport(
        path=str(destination),
        size_bytes=destination.stat().st_size,
        database="sqlite",
        source=str(database),
        revision=revision,
        at_head=revision == migrations.head,
        audit_events=chain.events,
        chain_head_hash=chain.head_hash,
        taken_at=_stamp(taken_at),
        duration_s=round(time.monotonic() - started, 3),
        checks=(
            "the copy: PRAGMA integrity_check ok",
            f"the copy: revision {revision} known to this code",
            f"the copy: audit chain verifies ({chain.events} events)",
        ),
    )


def _restore_sqlite(
    database_url: str, source: Path, *, migrations: Migrations, replace: bool
) -> RestoreReport:
    target = _sqlite_path(database_url)
    label = str(source)
    with _then(NOTHING_RESTORED):
        if not source.is_file():
            raise BackupError(f"no backup file at {source}")
        if source.resolve() == target.resolve():
            raise BackupError(f"{source} is the configured database itself")
        _refuse_foreign_file(source)
        counts: dict[str, int] = {}
        if target.is_file() and target.stat().st_size > 0:
            engine = _sqlite_engine(target)
            try:
                counts = _row_counts(engine)
            except SQLAlchemyError as exc:
                raise BackupError(f"cannot read the database {target}: {_cause(exc)}") from None
            finally:
                engine.dispose()
            if counts and not replace:
                _refuse_non_empty(counts, str(target))
        restored_at = utcnow()
        started = time.monotonic()
        target.parent.mkdir(parents=True, exist_ok=True)
        with _temporary_directory_beside(target) as directory:
            # Every check runs on a staging copy: the backup file is only read, and the
            # target is touched only once the copy has passed them all.
            staging = directory / "staging.db"
            try:
                _sqlite_copy(source, staging)
            except sqlite3.Error as exc:
                raise BackupError(f"{label} cannot be read: {exc}") from None
            revision_in_file = _sqlite_checks(staging, label, migrations)
            upgraded = revision_in_file != migrations.head
            if upgraded:
                _upgrade(migrations, f"sqlite:///{staging.resolve()}", label, revision_in_file)
            _sqlite_chain(staging, label)
            try:
                staging_connection = _sqlite_connect(staging, "ro")
                try:
                    target_connection = _sqlite_connect(target, "rwc")
                    try:
                        staging_connection.backup(target_connection)
                    finally:
                        target_connection.close()
                finally:
                    staging_connection.close()
            except sqlite3.Error as exc:
                raise BackupError(
                    f"restoring into {target} failed: {exc} (stop the app and try again)"
                ) from None
    after = f"the restored database {target}"
    revision = _sqlite_checks(target, after, migrations)
    chain = _sqlite_chain(target, after)
    return RestoreReport(
        path=str(source),
        database="sqlite",
        target=str(target),
        revision_in_file=revision_in_file,
        revision=revision,
        upgraded=upgraded,
        replaced_rows=sum(counts.values()),
        audit_events=chain.events,
        chain_head_hash=chain.head_hash,
        restored_at=_stamp(restored_at),
        duration_s=round(time.monotonic() - started, 3),
        checks=(
            "the file: PRAGMA integrity_check ok",
            f"the file: revision {revision_in_file} known to this code"
            + (f", upgraded to {migrations.head} before the restore" if upgraded else ""),
            "the file: audit chain verifies",
            f"the restored database: integrity ok, revision {revision}, audit chain verifies",
        ),
    )


# --- PostgreSQL ----------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found on PATH: install the PostgreSQL client tools (Debian/Ubuntu: "
            "apt-get install postgresql-client, of the server's major version or newer)"
        )
    return found


def _libpq_env(url: URL) -> dict[str, str]:
    """The environment that points libpq at ``url``, the password included, so that nothing
    about the connection but the database's name appears on a command line."""
    env = dict(os.environ)
    parts = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    env.update({key: value for key, value in parts.items() if value})
    for name, value in url.query.items():
        variable = _LIBPQ_ENV.get(name)
        if variable is None:
            raise BackupError(
                f"OPENCXO_DATABASE_URL has the parameter {name!r}, which cannot be handed to "
                "pg_dump and pg_restore through the environment; remove it"
            )
        env[variable] = value if isinstance(value, str) else value[-1]
    return env


def _run(command: list[str], env: Mapping[str, str], what: str) -> str:
    """Run a PostgreSQL client tool (never prompting for a password); its standard output."""
    try:
        completed = subprocess.run(  # noqa: S603 - a tool found on PATH, arguments of ours
            [command[0], "--no-password", *command[1:]],
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise BackupError(f"{what}: cannot run {command[0]}: {exc.strerror}") from None
    if completed.returncode != 0:
        raise BackupError(f"{what} failed: {_last_line(completed.stderr)}")
    return completed.stdout


def _pg_engine(url: URL, **options: str) -> Engine:
    return create_engine(url, poolclass=NullPool, **options)


def _pg_display(url: URL) -> str:
    """The database's URL as the operator configured it, without the password."""
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


def _pg_unusable(url: URL, exc: SQLAlchemyError) -> BackupError:
    return BackupError(f"cannot use the database {_pg_display(url)}: {_cause(exc)}")


def _pg_revision(engine: Engine, label: str, migrations: Migrations) -> str:
    with engine.connect() as connection:
        versions = [
            str(v)
            for v in connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        ]
    return _one_revision(versions, label, migrations)


def _one_revision(versions: list[str], label: str, migrations: Migrations) -> str:
    if len(versions) != 1:
        raise BackupError(f"{label} has {len(versions)} Alembic revisions; one was expected")
    _check_revision(versions[0], label, migrations)
    return versions[0]


def _backup_postgresql(
    database_url: str, destination: Path, *, migrations: Migrations, force: bool
) -> BackupReport:
    url = make_url(database_url)
    display = _pg_display(url)
    with _then(NOTHING_WRITTEN):
        pg_dump = _tool("pg_dump")
        pg_restore = _tool("pg_restore")
        env = _libpq_env(url)
        _check_destination(destination, force=force, forbidden=set())
        taken_at = utcnow()
        started = time.monotonic()
        engine = _pg_engine(url)
        try:
            with _temporary_directory_beside(destination) as directory:
                dump = directory / destination.name
                with engine.connect() as plain:
                    connection = plain.execution_options(
                        isolation_level="REPEATABLE READ", postgresql_readonly=True
                    )
                    with connection.begin():
                        # pg_dump runs in the snapshot of this transaction: the revision and
                        # the chain read here are those of the dump.
                        snapshot = connection.execute(
                            text("SELECT pg_export_snapshot()")
                        ).scalar_one()
                        try:
                            versions = [
                                str(v)
                                for v in connection.execute(
                                    text("SELECT version_num FROM alembic_version")
                                ).scalars()
                            ]
                        except ProgrammingError:
                            raise BackupError(
                                f"the database {display} has no Alembic revision: not an "
                                "OpenCXO database (opencxo db upgrade makes one)"
                            ) from None
                        revision = _one_revision(versions, f"the database {display}", migrations)
                        with Session(bind=connection) as session:
                            result = verify_chain(session)
                            head = session.get(AuditChainHead, 1)
                            head_hash = head.last_hash if head is not None else ""
                        if not result.ok:
                            raise BackupError(
                                f"the audit chain of {display} does not verify: event "
                                f"{result.first_bad_sequence}: {result.problem}"
                            )
                        _run(
                            [
                                pg_dump,
                                "--format=custom",
                                f"--snapshot={snapshot}",
                                f"--file={dump}",
                            ],
                            env,
                            "pg_dump",
                        )
                _run([pg_restore, "--list", str(dump)], env, "reading the dump back")
                _move_into_place(dump, destination, force=force)
        except SQLAlchemyError as exc:
            raise _pg_unusable(url, exc) from None
        finally:
            engine.dispose()
    return BackupReport(
        path=str(destination),
        size_bytes=destination.stat().st_size,
        database="postgresql",
        source=display,
        revision=revision,
        at_head=revision == migrations.head,
        audit_events=result.events_checked,
        chain_head_hash=head_hash,
        taken_at=_stamp(taken_at),
        duration_s=round(time.monotonic() - started, 3),
        checks=(
            f"the snapshot dumped: revision {revision} known to this code",
            f"the snapshot dumped: audit chain verifies ({result.events_checked} events)",
            "the archive reads back (pg_restore --list)",
            "not run: PRAGMA integrity_check (SQLite only) and checks of a restored copy",
        ),
    )


def _pg_archive_revision(pg_restore: str, source: Path, env: Mapping[str, str]) -> list[str]:
    """The Alembic revisions stored in a pg_dump archive (its ``alembic_version`` rows)."""
    script = _run(
        [pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(source)],
        env,
        f"reading {source}",
    )
    lines = script.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line and "\\." in lines[index:]:
            return [row.strip() for row in lines[index + 1 : lines.index("\\.", index)]]
    return []


@contextmanager
def _scratch_database(url: URL) -> Iterator[URL | None]:
    """A throwaway database on the target's server to restore into first; None when the user
    may not create databases."""
    name = f"{url.database or 'opencxo'}_restore_check_{secrets.token_hex(4)}"[:63]
    admin = _pg_engine(url, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    try:
        try:
            with admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {quoted}"))
            created = True
        except SQLAlchemyError:
            created = False
        if not created:
            yield None
            return
        try:
            yield url.set(database=name)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        admin.dispose()


def _restore_postgresql(
    database_url: str, source: Path, *, migrations: Migrations, replace: bool
) -> RestoreReport:
    url = make_url(database_url)
    display = _pg_display(url)
    label = str(source)
    checks: list[str] = []
    with _then(NOTHING_RESTORED):
        pg_restore = _tool("pg_restore")
        env = _libpq_env(url)
        if not source.is_file():
            raise BackupError(f"no backup file at {source}")
        try:
            with source.open("rb") as handle:
                start = handle.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise BackupError(f"cannot read {source}: {exc.strerror}") from None
        if start == _SQLITE_MAGIC:
            raise BackupError(
                f"{source} is a SQLite backup; restore it with OPENCXO_DATABASE_URL pointing "
                "at a SQLite file"
            )
        if not start.startswith(_PG_DUMP_MAGIC):
            raise BackupError(f"{source} is not a pg_dump archive")
        listing = _run([pg_restore, "--list", str(source)], env, f"reading {source}")
        archived = {
            (match.group(1), match.group(2))
            for match in re.finditer(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ", listing, re.MULTILINE)
        }
        revision_in_file = _one_revision(
            _pg_archive_revision(pg_restore, source, env), label, migrations
        )
        checks.append(f"the file: revision {revision_in_file} known to this code")
        upgraded = revision_in_file != migrations.head
        restored_at = utcnow()
        started = time.monotonic()
        engine = _pg_engine(url)
        try:
            counts = _row_counts(engine)
            if counts and not replace:
                _refuse_non_empty(counts, display)
            # --clean drops only what the archive holds: a table of a newer schema would stay
            # and break the upgrade of an older backup.
            inspector = inspect(engine)
            schema = inspector.default_schema_name
            extra = sorted(
                name for name in inspector.get_table_names() if (schema, name) not in archived
            )
            if extra:
                raise BackupError(
                    f"the database {display} has tables the backup does not "
                    f"({', '.join(extra[:5])}{' …' if len(extra) > 5 else ''}); restore into "
                    "an empty database (dropdb, createdb) instead"
                )
            with _scratch_database(url) as scratch:
                if scratch is None:
                    checks.append(
                        "the file: audit chain not verified before the restore "
                        "(no right to create a scratch database)"
                    )
                else:
                    _run(
                        [pg_restore, "--no-owner", "--single-transaction", "--exit-on-error",
                         f"--dbname={scratch.database}", str(source)],
                        {**env, "PGDATABASE": str(scratch.database)},
                        f"restoring {source} into a scratch database",
                    )  # fmt: skip
                    if upgraded:
                        _upgrade(
                            migrations,
                            scratch.render_as_string(hide_password=False),
                            label,
                            revision_in_file,
                        )
                    scratch_engine = _pg_engine(scratch)
                    try:
                        _verified_chain(label, scratch_engine)
                    finally:
                        scratch_engine.dispose()
                    checks.append(
                        "the file: audit chain verifies (restored into a scratch database)"
                    )
        except SQLAlchemyError as exc:
            raise _pg_unusable(url, exc) from None
        finally:
            engine.dispose()
    with _then(NOTHING_RESTORED):  # pg_restore's single transaction: all or nothing
        _run(
            [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
             "--exit-on-error", f"--dbname={url.database}", str(source)],
            env,
            f"restoring into {display}",
        )  # fmt: skip
    after = f"the restored database {display}"
    engine = _pg_engine(url)
    try:
        if upgraded:
            with _then("the backup was restored; run opencxo db upgrade"):
                _upgrade(
                    migrations,
                    url.render_as_string(hide_password=False),
                    after,
                    revision_in_file,
                )
            checks.append(f"upgraded to {migrations.head} after the restore")
        revision = _pg_revision(engine, after, migrations)
        chain = _verified_chain(after, engine)
        checks.append(f"the restored database: revision {revision}, audit chain verifies")
    except SQLAlchemyError as exc:
        raise _pg_unusable(url, exc) from None
    finally:
        engine.dispose()
    return RestoreReport(
        path=str(source),
        database="postgresql",
        target=display,
        revision_in_file=revision_in_file,
        revision=revision,
        upgraded=upgraded,
        replaced_rows=sum(counts.values()),
        audit_events=chain.events,
        chain_head_hash=chain.head_hash,
        restored_at=_stamp(restored_at),
        duration_s=round(time.monotonic() - started, 3),
        checks=tuple(checks),
    )
