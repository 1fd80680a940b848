"""Background jobs on a huey queue: solves and big simulations never block a request.

* The queue comes from the settings: a SQLite file beside the database by default (no extra
  server), Redis with ``OPENCXO_JOBS_URL=redis://…``; ``OPENCXO_JOBS_IMMEDIATE=true`` (the
  default in the test environment) runs each job in the enqueuing process instead.
* A capability declares a job with :func:`job` (in its ``tasks.py``) and a service enqueues
  it with :func:`enqueue_after_commit`: the job is sent only once the caller's transaction has
  committed (the boundary owns the transaction; a rolled-back request enqueues nothing, and
  the job never reads rows that are not yet there).
* A job opens its own sessions with :func:`job_sessions`: the configured database in a worker;
  in immediate mode, the database the enqueuing session committed to.
* ``opencxo worker`` runs :func:`run_worker` (the huey consumer, thread workers).

This module imports no capability; the command that starts a worker imports the ``tasks``
modules so that their jobs are registered before the consumer starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from opencxo.core.settings import Settings, get_settings

__all__ = [
    "Job",
    "configure",
    "enqueue_after_commit",
    "get_huey",
    "job",
    "job_sessions",
    "jobs_url_for",
    "reset",
    "run_worker",
]

log = logging.getLogger(__name__)

_PENDING_KEY = "opencxo.jobs.pending"


@dataclass(frozen=True)
class Job:
    """A function that runs in the background; its arguments must be JSON/pickle-able."""

    name: str
    func: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        """Run the job here and now (what a worker does)."""
        return self.func(*args)


_JOBS: dict[str, Job] = {}


def job(func: Callable[..., Any]) -> Job:
    """Declare a background job (decorator); its name is its module and function name."""
    declared = Job(f"{func.__module__}.{func.__qualname__}", func)
    _JOBS[declared.name] = declared
    return declared


# --- the queue ------------------------------------------------------------------------------


def jobs_url_for(settings: Settings) -> str:
    """The queue's URL: ``OPENCXO_JOBS_URL``, else a SQLite file beside a SQLite database
    (``<name>-jobs.db``), else ``var/jobs.db``."""
    if settings.jobs_url:
        return settings.jobs_url
    if settings.is_sqlite:
        database = settings.database_url.split("///", 1)[-1]
        if database and database != ":memory:":
            path = Path(database)
            return f"sqlite:///{path.with_name(f'{path.stem}-jobs.db')}"
    return f"sqlite:///{Path('var') / 'jobs.db'}"


def huey_for(settings: Settings) -> Huey:
    """A huey instance for these settings (results are not kept: jobs write their outcome to
    the database)."""
    if settings.run_jobs_immediately:
        return Huey("opencxo", results=False, immediate=True)
    url = jobs_url_for(settings)
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey("opencxo", results=False, url=url)
    filename = Path(url.removeprefix("sqlite:///"))
    filename.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("opencxo", results=False, filename=str(filename))


@dataclass
class _State:
    huey: Huey | None = None
    wrappers: dict[str, TaskWrapper] | None = None


_state = _State()


def configure(settings: Settings) -> Huey:
    """Use the queue of ``settings`` from now on (the app, the worker and tests call it)."""
    _state.huey = huey_for(settings)
    _state.wrappers = {}
    return _state.huey


def reset() -> None:
    """Forget the configured queue (the next use configures it from the environment)."""
    _state.huey = None
    _state.wrappers = None


def get_huey() -> Huey:
    """The configured queue (from the environment's settings when nobody configured one)."""
    if _state.huey is None:
        return configure(get_settings())
    return _state.huey


def _wrapper(job_: Job) -> TaskWrapper:
    huey = get_huey()
    wrappers = _state.wrappers if _state.wrappers is not None else {}
    _state.wrappers = wrappers
    found = wrappers.get(job_.name)
    if found is None:
        found = huey.task()(job_.func)  # huey names it <module>.<function>, like Job
        wrappers[job_.name] = found
    return found


# --- the database of a job ---------------------------------------------------------------------

_JOB_ENGINE: ContextVar[Engine | None] = ContextVar("opencxo_job_engine", default=None)


def job_sessions() -> sessionmaker[Session]:
    """Sessions of the job's database (each use is a unit of work of the job's own)."""
    engine = _JOB_ENGINE.get()
    if engine is None:
        from opencxo.core.db import get_engine

        engine = get_engine()
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def _job_engine(engine: Engine | None) -> Iterator[None]:
    token = _JOB_ENGINE.set(engine)
    try:
        yield
    finally:
        _JOB_ENGINE.reset(token)


# --- enqueue after commit ----------------------------------------------------------------------


def enqueue_after_commit(session: Session, job_: Job, *args: Any) -> None:
    """Send ``job_(*args)`` to the queue once ``session`` commits (never, if it rolls back)."""
    pending: list[tuple[Job, tuple[Any, ...]]] = session.info.setdefault(_PENDING_KEY, [])
    pending.append((job_, args))


def enqueue_now(job_: Job, *args: Any, engine: Engine | None = None) -> None:
    """Send a job at once (the caller has committed what it needs). In immediate mode it runs
    here against ``engine`` (default: the configured database)."""
    wrapper = _wrapper(job_)
    if get_huey().immediate:
        with _job_engine(engine):
            try:
                wrapper(*args)
            except Exception:  # a job reports its own failure; never break the caller
                log.exception("job %s failed", job_.name)
        return
    wrapper(*args)


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    for job_, args in pending:
        enqueue_now(job_, *args, engine=engine)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(_PENDING_KEY, None)


# --- the worker -------------------------------------------------------------------------------


def run_worker(settings: Settings, *, workers: int | None = None) -> None:
    """Run the consumer until SIGINT (graceful) or SIGTERM (immediate); every declared job
    must be imported before."""
    if settings.run_jobs_immediately:
        raise RuntimeError(
            "jobs run in the enqueuing process (OPENCXO_JOBS_IMMEDIATE); a worker has nothing "
            "to do: set OPENCXO_JOBS_IMMEDIATE=false"
        )
    huey = configure(settings)
    for declared in _JOBS.values():
        _wrapper(declared)
    consumer = huey.create_consumer(
        workers=workers or settings.jobs_workers, worker_type="thread", periodic=False
    )
    log.info("job worker on %s with %s jobs", jobs_url_for(settings), len(_JOBS))
    consumer.run()
