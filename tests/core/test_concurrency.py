"""Concurrent writers lose nothing and keep the audit chain whole (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent, verify_chain
from opencxo.core.db import unit_of_work
from opencxo.models import Organization
from tests.factories import make_organization, operator

WRITERS = 6
EACH = 8


def test_parallel_creates_all_land_with_an_intact_chain(engine: Engine, session: Session) -> None:
    operator(session)
    session.commit()
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        for n in range(EACH):
            try:
                with unit_of_work(engine) as uow:
                    make_organization(uow, name=f"Parallel {writer}-{n}")
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert (
        session.execute(select(func.count()).select_from(Organization)).scalar_one()
        == WRITERS * EACH
    )
    # one event for the operator, one per organisation
    assert (
        session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        == 1 + WRITERS * EACH
    )
    result = verify_chain(session)
    assert result.ok, result.problem
    assert result.events_checked == 1 + WRITERS * EACH
