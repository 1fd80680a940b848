"""The independent checker catches every kind of violation (each mutation of a valid
schedule breaks exactly the rule it targets)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from opencxo.manufacturing.engine import (
    Changeovers,
    Downtime,
    Job,
    Mode,
    Operation,
    Precedence,
    Problem,
    ScheduledOperation,
    check_schedule,
)


def _problem(frozen: tuple[ScheduledOperation, ...] = ()) -> Problem:
    """Two units; an intermediate batch (family 0) feeding an API batch (family 1)."""
    return Problem(
        units=2,
        jobs=(
            Job(
                (Operation((Mode(0, 3), Mode(1, 4))), Operation((Mode(1, 2),))),
                name="INT",
                family=0,
                due=20,
                weight=2,
            ),
            Job(
                (Operation((Mode(0, 2),)), Operation((Mode(1, 3),))),
                name="API",
                release=1,
                family=1,
                due=10,
                weight=3,
            ),
        ),
        precedences=(Precedence((0, 1), (1, 1), min_lag=1),),
        changeovers=(Changeovers(0, ((1, 4), (4, 1))), Changeovers(1, ((0, 2), (2, 0)))),
        downtimes=(Downtime(0, 20, 25),),
        frozen=frozen,
        unit_names=("R1", "R2"),
    )


VALID = (
    ScheduledOperation(0, 0, 0, 0, 3),
    ScheduledOperation(0, 1, 1, 3, 5),
    ScheduledOperation(1, 0, 0, 7, 9),  # 3 + changeover 4
    ScheduledOperation(1, 1, 1, 9, 12),  # INT op 1 ends 5, lag 1, changeover 2 -> >= 7; job -> 9
)


def _with(index: int, **changes: int) -> list[ScheduledOperation]:
    ops = list(VALID)
    ops[index] = replace(ops[index], **changes)
    return ops


def test_valid_schedule_and_recomputed_objectives() -> None:
    report = check_schedule(_problem(), VALID)
    assert report.ok, report.violations
    assert report.makespan == 12
    assert report.weighted_tardiness == 3 * (12 - 10)  # API late by 2, INT on time


@pytest.mark.parametrize(
    ("ops", "words"),
    [
        (list(VALID[1:]), "INT operation 0 is not scheduled"),
        ([*VALID, VALID[0]], "scheduled 2 times"),
        ([*VALID, ScheduledOperation(5, 0, 0, 0, 1)], "does not exist"),
        (_with(1, unit=0, start=3, end=5), "not eligible"),
        (_with(0, end=4), "lasts 4 on R1, its duration there is 3"),
        (_with(2, start=1, end=3), "overlap on R1"),
        (_with(2, start=5, end=7), "changeover on R1"),
        (_with(1, start=2, end=4), "before INT operation 0 ends"),
        (_with(3, start=7, end=10), "API operation 0 ends at 9"),
        (_with(2, start=20, end=22), "during the maintenance of R1"),
    ],
)
def test_each_violation_is_caught(ops: list[ScheduledOperation], words: str) -> None:
    report = check_schedule(_problem(), ops)
    assert not report.ok
    assert any(words in v for v in report.violations), report.violations


def test_cross_job_precedence_with_lag() -> None:
    # API op 1 at 5: INT op 1 ends at 5, so the lag of 1 is missing (its job order breaks too)
    ops = [VALID[0], VALID[1], replace(VALID[2], start=7, end=9), replace(VALID[3], start=5, end=8)]
    report = check_schedule(_problem(), ops)
    assert any("+ lag 1" in v for v in report.violations), report.violations


def test_release_date() -> None:
    problem = replace(_problem(), jobs=(_problem().jobs[0], replace(_problem().jobs[1], release=8)))
    report = check_schedule(problem, VALID)
    assert any("before the release 8" in v for v in report.violations)


def test_frozen_operation_moved() -> None:
    problem = _problem(frozen=(ScheduledOperation(0, 0, 1, 0, 4),))
    report = check_schedule(problem, VALID)
    assert any("is frozen to R2 [0, 4)" in v for v in report.violations), report.violations
