"""The assignment bound: the linear relaxation of which unit runs what (validity against brute
force is checked with the other static bounds in test_solver.py and test_lns.py)."""

from __future__ import annotations

from pathlib import Path

from opencxo.manufacturing.engine import (
    Changeovers,
    Downtime,
    Job,
    Mode,
    Operation,
    Problem,
    check_schedule,
    read_instance,
    solve,
)
from opencxo.manufacturing.engine.assignment_bound import assignment_bound
from opencxo.manufacturing.engine.solver import _graph, _heads_tails, _unit_set_bound

DATA = Path(__file__).parent / "data"


def _bounds(problem: Problem) -> tuple[int, int]:
    head, tail, _ = _heads_tails(problem, _graph(problem))
    return _unit_set_bound(problem, head, tail), assignment_bound(problem, head, tail)


def test_a_slow_unit_counts_at_its_own_speed() -> None:
    """Four 2 h / 4 h operations on a fast and a slow unit: the unit-set bound gives each its
    fastest duration (8 / 2 = 4); the relaxation puts 8/3 of them on the fast unit and 4/3 on
    the slow one, both busy 16/3, so T ≥ 6, the optimum (three on the fast unit)."""
    problem = Problem(2, tuple(Job((Operation((Mode(0, 2), Mode(1, 4))),)) for _ in range(4)))
    assert _bounds(problem) == (4, 6)
    result = solve(problem, time_limit_s=10, workers=1)
    assert result.status == "OPTIMAL"
    assert result.makespan == 6 == result.makespan_bound


def test_changeovers_and_maintenance_count() -> None:
    """One unit, three 3 h operations, two of product A and one of B (same product 1 h, the
    other 5 h), maintenance in [4, 8). Work: 3 · (3 + 1) minus the first changeover = 11;
    processing: 9 plus the 4 h of maintenance inside [0, T], so T ≥ 13. The optimum is 15:
    B [0, 3), A [8, 11) (its 5 h changeover runs during the maintenance), A [12, 15); starting
    with A, the second A cannot fit before the maintenance and B costs 5 h after it (19)."""
    matrix = ((1, 5), (5, 1))
    jobs = (
        Job((Operation((Mode(0, 3),)),), family=0),
        Job((Operation((Mode(0, 3),)),), family=0),
        Job((Operation((Mode(0, 3),)),), family=1),
    )
    problem = Problem(
        1, jobs, changeovers=(Changeovers(0, matrix),), downtimes=(Downtime(0, 4, 8),)
    )
    assert _bounds(problem)[1] == 13
    result = solve(problem, time_limit_s=10, workers=1)
    assert check_schedule(problem, result.operations).ok
    assert result.makespan == 15


def test_mk04_is_proved_by_the_relaxation() -> None:
    """Brandimarte mk04: the unit-set bound is 52, the relaxation 60, the known optimum."""
    problem = read_instance(DATA / "mk04.txt", "fjsp")
    assert _bounds(problem) == (52, 60)
