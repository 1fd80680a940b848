"""The hash-chained audit trail: intact chains verify; tampering with raw SQL is caught."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from opencxo.core import audit
from opencxo.core.audit import AuditEvent, verify_chain
from tests.factories import make_organization


def _three_events(session: Session) -> list[AuditEvent]:
    # operator creation + organisation creation = 2 events; a second organisation = 3.
    make_organization(session, name="Alpha Bio")
    make_organization(session, name="Beta Pharma")
    session.commit()
    events = session.query(AuditEvent).order_by(AuditEvent.sequence).all()
    assert [e.sequence for e in events] == [1, 2, 3]
    return events


def _verify(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENCXO_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "audit", "verify"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_each_event_holds_the_hash_of_the_previous_one(session: Session) -> None:
    events = _three_events(session)
    assert events[0].previous_hash == audit.GENESIS_HASH
    assert events[1].previous_hash == events[0].hash
    assert events[2].previous_hash == events[1].hash
    assert len({e.hash for e in events}) == 3
    result = verify_chain(session)
    assert result.ok and result.events_checked == 3


def test_cli_exits_zero_on_an_intact_log(session: Session, database_url: str) -> None:
    _three_events(session)
    completed = _verify(database_url)
    assert completed.returncode == 0, completed.stderr
    assert "3 events verified" in completed.stdout


@pytest.mark.parametrize(
    ("tamper", "bad_sequence", "problem"),
    [
        ("UPDATE audit_events SET actor_label = 'mallory' WHERE sequence = 2", 2, "changed"),
        ("DELETE FROM audit_events WHERE sequence = 2", 3, "sequence 3 where 2 was expected"),
        ("DELETE FROM audit_events WHERE sequence = 3", 3, "events removed from the end"),
    ],
)
def test_cli_names_the_first_bad_event_after_tampering(
    session: Session,
    engine: Engine,
    database_url: str,
    tamper: str,
    bad_sequence: int,
    problem: str,
) -> None:
    _three_events(session)
    with engine.begin() as connection:
        connection.execute(text(tamper))
    completed = _verify(database_url)
    assert completed.returncode == 1
    assert f"broken at event {bad_sequence}" in completed.stderr
    assert problem in completed.stderr


def test_an_inserted_event_is_caught(session: Session, engine: Engine, database_url: str) -> None:
    events = _three_events(session)
    forged = events[1]
    with engine.begin() as connection:
        # Shift the tail and slip a forged copy of event 2 in as event 3.
        connection.execute(text("UPDATE audit_events SET sequence = 4 WHERE sequence = 3"))
        connection.execute(
            text(
                "INSERT INTO audit_events (id, sequence, occurred_at, actor_label, action, "
                "entity_type, entity_id, previous_hash, hash) VALUES (:id, 3, :at, 'mallory', "
                "'delete', 'organization', :entity, :prev, :hash)"
            ),
            {
                "id": "0" * 32
                if engine.dialect.name == "sqlite"
                else "00000000-0000-0000-0000-000000000000",
                "at": forged.occurred_at,
                "entity": forged.entity_id,
                "prev": "f" * 64,
                "hash": forged.hash,
            },
        )
    completed = _verify(database_url)
    assert completed.returncode == 1
    assert "broken at event 3" in completed.stderr
    assert "removed or inserted" in completed.stderr
