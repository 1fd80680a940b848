"""The time-indexed bound: an operation cannot straddle maintenance, and each one's own window
counts. Validity: the programme is feasible at the true optimum (brute force)."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings

from opencxo.manufacturing.engine import (
    Changeovers,
    Downtime,
    Job,
    Mode,
    Operation,
    Problem,
    ScheduledOperation,
    check_schedule,
    solve,
)
from opencxo.manufacturing.engine import solver as solver_module
from opencxo.manufacturing.engine.assignment_bound import assignment_bound
from opencxo.manufacturing.engine.model import OpRef
from opencxo.manufacturing.engine.solver import _graph, _heads_tails, _pools
from opencxo.manufacturing.engine.time_indexed_bound import (
    busiest_pool,
    feasible_at,
    time_indexed_bound,
)

from .test_lns import _staged
from .test_solver import _brute_force_makespan


def _prepared(
    problem: Problem,
) -> tuple[dict[OpRef, int], dict[OpRef, int], list[list[int]], frozenset[int] | None]:
    """Heads, tails, pools and the busiest pool, as the solver computes them."""
    head, tail, _ = _heads_tails(problem, _graph(problem))
    pools = _pools(problem)
    return head, tail, pools, busiest_pool(problem, pools, head, tail)


def _assert_proves(problem: Problem, bound: int, lower: int, upper: int) -> None:
    """The busiest pool is unit 0, its programme is infeasible just below ``bound`` and
    feasible at it, and the bisection from ``[lower, upper)`` ends exactly there."""
    head, tail, pools, pool = _prepared(problem)
    assert pool == frozenset({0})
    assert feasible_at(problem, pool, head, tail, bound - 1) is False
    assert feasible_at(problem, pool, head, tail, bound) is True
    deadline = time.perf_counter() + 30
    assert time_indexed_bound(problem, pools, head, tail, lower, upper, deadline) == bound


def _around_maintenance() -> Problem:
    """One unit, two 3 h operations of one product (1 h clean between them), maintenance in
    [2, 4). Neither fits before the maintenance, so the best is [4, 7), clean, [8, 11): 11.
    The window bounds see 6 h of processing plus 2 h of maintenance: 8."""
    jobs = (Job((Operation((Mode(0, 3),)),)), Job((Operation((Mode(0, 3),)),)))
    return Problem(1, jobs, changeovers=(Changeovers(0, ((1,),)),), downtimes=(Downtime(0, 2, 4),))


def test_no_straddling_the_maintenance() -> None:
    problem = _around_maintenance()
    head, tail, _, _ = _prepared(problem)
    assert assignment_bound(problem, head, tail) == 8
    # at T = 10 the starts 4..7 leave [3, 10): 7 h for two operations of 1 + 3 h
    _assert_proves(problem, 11, 8, 40)


def _a_switch() -> Problem:
    """Unit 0 makes product 0 (3 h, then 2 h on unit 1) and product 1 (3 h); a clean costs 1 h,
    a product switch 4 h. Best: product 0 first, [0, 3), switch, [7, 10): 10. Per-hour
    capacities with the least changeover into each product (1 h) would allow 7: [0, 3) and
    [4, 7). As unit sequences, at 8: product 0 must start by 3 (its tail), so a sequence with
    it holds nothing else (a switch ends the other product at 10 at the earliest; a second
    product-0 operation starts at 4 at the earliest), and one unit of flow cannot cover both.
    At 9 (product 0 may start at 4) half a sequence of product 0 twice and half of product 1
    twice cover each once: the fractional mix this relaxation still allows, so 9, not 10."""
    jobs = (
        Job((Operation((Mode(0, 3),)), Operation((Mode(1, 2),))), family=0),
        Job((Operation((Mode(0, 3),)),), family=1),
    )
    return Problem(2, jobs, changeovers=(Changeovers(0, ((1, 4), (4, 1))),))


def test_a_product_switch_is_paid() -> None:
    problem = _a_switch()
    _assert_proves(problem, 9, 6, 20)
    assert _brute_force_makespan(problem) == 10


def test_a_frozen_operation_that_ends_too_late() -> None:
    """A probe below the end of a frozen operation is infeasible (not an index error)."""
    base = _around_maintenance()
    frozen = (ScheduledOperation(1, 0, 0, 8, 11),)
    problem = Problem(1, base.jobs, changeovers=base.changeovers, downtimes=base.downtimes,
                      frozen=frozen)  # fmt: skip
    _assert_proves(problem, 11, 0, 40)


def test_the_solver_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the LNS path (every changeover model "big") the proved bound closes the gap."""
    monkeypatch.setattr(solver_module, "BIG_CIRCUITS", 0)
    problem = _around_maintenance()
    result = solve(problem, time_limit_s=3, workers=1)
    assert check_schedule(problem, result.operations).ok
    assert result.makespan == 11 == result.makespan_bound
    assert result.status == "OPTIMAL"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_staged())
def test_feasible_at_the_optimum(problem: Problem) -> None:
    optimum = _brute_force_makespan(problem)
    head, tail, _ = _heads_tails(problem, _graph(problem))
    for pool in _pools(problem):
        assert feasible_at(problem, frozenset(pool), head, tail, optimum) is True
    pools = _pools(problem)
    deadline = time.perf_counter() + 30
    assert time_indexed_bound(problem, pools, head, tail, 0, 10 * optimum + 10, deadline) <= optimum


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_staged())
def test_feasible_at_a_schedule_with_frozen_operations(problem: Problem) -> None:
    """Freeze the earlier half of a schedule: that schedule is still a 0/1 point of every pool's
    programme at its own makespan (frozen operations take their own unit and start only)."""
    first = solve(problem, time_limit_s=2, workers=1)
    assert first.operations
    frozen = tuple(
        sorted(first.operations, key=lambda s: (s.start, s.ref))[: len(first.operations) // 2]
    )
    refrozen = Problem(
        problem.units, problem.jobs, problem.precedences, problem.changeovers,
        problem.downtimes, frozen,
    )  # fmt: skip
    assert check_schedule(refrozen, first.operations).ok
    makespan = max(s.end for s in first.operations)
    head, tail, _ = _heads_tails(refrozen, _graph(refrozen))
    pools = _pools(refrozen)
    for pool in pools:
        assert feasible_at(refrozen, frozenset(pool), head, tail, makespan) is True
    deadline = time.perf_counter() + 30
    assert time_indexed_bound(refrozen, pools, head, tail, 0, 10 * makespan, deadline) <= makespan
