"""Background jobs (opencxo.core.jobs): where the queue lives, enqueue only after the commit,
immediate mode, and the worker's refusal when there is nothing to do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from opencxo.core import jobs
from opencxo.core.settings import Settings
from tests.conftest import TEST_SECRET

SEEN: list[tuple[str, int]] = []


@jobs.job
def _record(label: str) -> None:
    """A job that reads the database it runs against (the enqueuer's, in immediate mode)."""
    with jobs.job_sessions()() as session:
        SEEN.append((label, session.execute(text("SELECT 1")).scalar_one()))


def _settings(database_url: str, **changes: object) -> Settings:
    values: dict[str, object] = {"environment": "test", **changes}
    return Settings(database_url=database_url, secret_key=TEST_SECRET, **values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    SEEN.clear()
    yield
    jobs.reset()


def test_the_queue_lives_beside_the_database_unless_configured() -> None:
    assert (
        jobs.jobs_url_for(_settings("sqlite:////srv/opencxo/data/plant.db"))
        == "sqlite:////srv/opencxo/data/plant-jobs.db"
    )
    assert (
        jobs.jobs_url_for(_settings("sqlite:///var/opencxo.db")) == "sqlite:///var/opencxo-jobs.db"
    )
    assert jobs.jobs_url_for(_settings("postgresql://u:p@db/opencxo")) == "sqlite:///var/jobs.db"
    assert (
        jobs.jobs_url_for(_settings("sqlite:///x.db", jobs_url="redis://cache:6379/2"))
        == "redis://cache:6379/2"
    )
    with pytest.raises(ValueError, match="OPENCXO_JOBS_URL"):
        _settings("sqlite:///x.db", jobs_url="amqp://rabbit")


def test_jobs_run_in_process_in_tests_only_by_default() -> None:
    assert _settings("sqlite:///x.db").run_jobs_immediately is True
    assert _settings("sqlite:///x.db", environment="development").run_jobs_immediately is False
    assert (
        _settings(
            "sqlite:///x.db", environment="development", jobs_immediate=True
        ).run_jobs_immediately
        is True
    )


def test_a_job_is_sent_after_the_commit_and_never_after_a_rollback(
    engine: Engine, database_url: str
) -> None:
    jobs.configure(_settings(database_url, jobs_immediate=True))
    with Session(engine) as session:
        jobs.enqueue_after_commit(session, _record, "committed")
        session.execute(text("SELECT 1"))
        assert SEEN == []  # not before the commit
        session.commit()
        assert SEEN == [("committed", 1)]

        jobs.enqueue_after_commit(session, _record, "rolled back")
        session.execute(text("SELECT 1"))
        session.rollback()
        session.commit()
        assert SEEN == [("committed", 1)]


def test_without_immediate_mode_the_job_waits_in_the_sqlite_queue(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    queue = tmp_path / "queue" / "jobs.db"
    huey = jobs.configure(
        _settings(database_url, jobs_immediate=False, jobs_url=f"sqlite:///{queue}")
    )
    with Session(engine) as session:
        jobs.enqueue_after_commit(session, _record, "later")
        session.execute(text("SELECT 1"))
        session.commit()
    assert SEEN == []
    assert queue.exists()
    assert huey.pending_count() == 1
    task = huey.dequeue()
    assert task is not None and task.name == "_record" and task.args == ("later",)


def test_the_worker_refuses_to_run_in_immediate_mode(database_url: str) -> None:
    with pytest.raises(RuntimeError, match="OPENCXO_JOBS_IMMEDIATE"):
        jobs.run_worker(_settings(database_url, jobs_immediate=True))
