"""Our own LNS for big changeover models (lns.py) and the unit-window bound: schedules stay
valid for the checker, improvements are reported and the stop flag is honoured; the bound
never exceeds the optimum and beats one window for all units where units serve different
stages."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencxo.manufacturing.engine import (
    Changeovers,
    Downtime,
    Improvement,
    Job,
    Mode,
    Operation,
    Problem,
    check_schedule,
    solve,
)
from opencxo.manufacturing.engine import solver as solver_module
from opencxo.manufacturing.engine.assignment_bound import assignment_bound
from opencxo.manufacturing.engine.lns import critical_path, left_shift
from opencxo.manufacturing.engine.solver import (
    _graph,
    _greedy,
    _heads_tails,
    _makespan_lb,
    _unit_set_bound,
)

from .test_solver import _brute_force_makespan


def _plantlet(seed: int = 1, jobs: int = 14) -> Problem:
    """Two stages of two interchangeable units each, three products, changeovers everywhere,
    one maintenance window, releases."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(jobs):
        ops = (
            Operation((Mode(0, int(rng.integers(2, 6))), Mode(1, int(rng.integers(2, 6))))),
            Operation((Mode(2, int(rng.integers(2, 6))), Mode(3, int(rng.integers(2, 6))))),
        )
        out.append(Job(ops, release=int(rng.integers(0, 10)), family=int(rng.integers(0, 3))))
    changeovers = tuple(
        Changeovers(
            u,
            tuple(
                tuple(1 if a == b else int(rng.integers(2, 6)) for b in range(3)) for a in range(3)
            ),
        )
        for u in range(4)
    )
    return Problem(4, tuple(out), changeovers=changeovers, downtimes=(Downtime(2, 10, 14),))


def test_lns_runs_on_big_models_and_stays_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solver_module, "BIG_CIRCUITS", 0)  # every changeover model is "big"
    problem = _plantlet()
    seen: list[Improvement] = []
    result = solve(problem, time_limit_s=4, workers=1, on_improvement=seen.append)
    assert result.has_schedule
    report = check_schedule(problem, result.operations)
    assert report.ok, report.violations
    assert report.makespan == result.makespan
    assert result.makespan_bound is not None and result.makespan_bound <= result.makespan
    values = [i.objective for i in seen]
    assert values == sorted(values, reverse=True)  # each one better than the one before
    assert values[-1] == result.makespan
    greedy = _greedy(problem, _graph(problem))
    assert greedy is not None
    assert result.makespan <= max(s.end for s in greedy)


def test_lns_keeps_the_tardiness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solver_module, "BIG_CIRCUITS", 0)
    base = _plantlet(seed=2)
    jobs = tuple(
        Job(j.operations, release=j.release, due=30 + 3 * i, weight=1 + i % 2, family=j.family)
        for i, j in enumerate(base.jobs)
    )
    problem = Problem(4, jobs, changeovers=base.changeovers, downtimes=base.downtimes)
    result = solve(problem, time_limit_s=4, workers=1)
    assert result.has_schedule
    report = check_schedule(problem, result.operations)
    assert report.ok, report.violations
    assert report.weighted_tardiness == result.weighted_tardiness


def test_lns_honours_the_stop_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solver_module, "BIG_CIRCUITS", 0)
    problem = _plantlet(seed=3, jobs=30)
    started = time.perf_counter()
    result = solve(
        problem, time_limit_s=60, workers=1, should_stop=lambda: time.perf_counter() > started + 1
    )
    assert time.perf_counter() - started < 10
    assert result.stopped
    assert check_schedule(problem, result.operations).ok


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_left_shift_is_valid_and_never_later(seed: int) -> None:
    problem = _plantlet(seed=seed, jobs=8)
    graph = _graph(problem)
    ops = _greedy(problem, graph, False, 0.01)
    assert ops is not None
    # delay every operation by a little (same units, same order): still valid
    delayed = [
        type(s)(s.job, s.operation, s.unit, s.start + 3 * i, s.end + 3 * i)
        for i, s in enumerate(sorted(ops, key=lambda s: s.start))
    ]
    delayed.sort(key=lambda s: s.ref)
    if not check_schedule(problem, delayed).ok:
        return  # the delay ran into the maintenance window
    shifted = left_shift(problem, graph.preds, delayed)
    assert check_schedule(problem, shifted).ok
    by_ref = {s.ref: s for s in delayed}
    assert all(s.start <= by_ref[s.ref].start and s.unit == by_ref[s.ref].unit for s in shifted)
    path = critical_path(problem, graph.preds, {s.ref: s for s in shifted})
    assert {problem.jobs[r[0]] for r in path[:1]}  # ends with the latest operation
    assert max(s.end for s in shifted) == {s.ref: s for s in shifted}[path[0]].end


# --------------------------------------------------------------------------- the bound


@st.composite
def _staged(draw: st.DrawFn) -> Problem:
    """Up to 3 units, at most 4 operations, eligible sets drawn, releases (heads) and second
    steps (tails), changeovers on every unit: where one window per unit matters."""
    units = draw(st.integers(2, 3))
    n_jobs = draw(st.integers(1, 3))
    jobs = []
    budget = 4
    for j in range(n_jobs):
        n_ops = draw(st.integers(1, max(1, min(2, budget - (n_jobs - j - 1)))))
        budget -= n_ops
        ops = []
        for _ in range(n_ops):
            eligible = draw(
                st.lists(st.integers(0, units - 1), min_size=1, max_size=units, unique=True)
            )
            ops.append(Operation(tuple(Mode(u, draw(st.integers(1, 6))) for u in eligible)))
        jobs.append(
            Job(tuple(ops), release=draw(st.integers(0, 8)), family=draw(st.integers(0, 1)))
        )
    changeovers = tuple(
        Changeovers(u, tuple(tuple(draw(st.integers(0, 4)) for _ in range(2)) for _ in range(2)))
        for u in range(units)
    )
    downtimes = tuple(
        Downtime(u, s, s + draw(st.integers(1, 4)))
        for u in range(units)
        if draw(st.booleans())
        for s in [draw(st.integers(0, 10))]
    )
    return Problem(units, tuple(jobs), changeovers=changeovers, downtimes=downtimes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_staged())
def test_unit_window_bound_never_exceeds_the_optimum(problem: Problem) -> None:
    assert _makespan_lb(problem, _graph(problem)) <= _brute_force_makespan(problem)


def test_unit_windows_beat_one_window_for_all() -> None:
    """Unit 0 may only take the early work (a 10 h second step follows it), unit 1 only the
    late work (released at 10), unit 2 both: with 6 + 6 operations of 4 h, unit 0 is free
    only in [0, T − 10] and unit 1 in [10, T], so 3T − 20 ≥ 48 and T ≥ 23, where one window
    for all gives max(10 + 24/2, 10 + 24/2, 48/3) = 22."""
    early = [
        Job((Operation((Mode(0, 4), Mode(2, 4))), Operation((Mode(3 + i, 10),)))) for i in range(6)
    ]
    late = [Job((Operation((Mode(1, 4), Mode(2, 4))),), release=10) for _ in range(6)]
    plain = Problem(9, (*early, *late))
    zero = tuple(Changeovers(u, ((0,),)) for u in range(3))
    with_windows = Problem(9, (*early, *late), changeovers=zero)
    head, tail, _ = _heads_tails(plain, _graph(plain))
    assert _unit_set_bound(plain, head, tail) == 22  # no changeovers: one window for all
    assert assignment_bound(plain, head, tail) == 23  # the assignment relaxation sees it too
    assert _makespan_lb(with_windows, _graph(with_windows)) == 23
    result = solve(with_windows, time_limit_s=10, workers=1)
    assert check_schedule(with_windows, result.operations).ok
    assert result.makespan is not None and result.makespan >= 23


def test_lns_keeps_frozen_operations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solver_module, "BIG_CIRCUITS", 0)
    problem = _plantlet(seed=4)
    first = solve(problem, time_limit_s=2, workers=1)
    frozen = tuple(sorted(first.operations, key=lambda s: s.start)[:5])
    again = Problem(
        problem.units,
        problem.jobs,
        changeovers=problem.changeovers,
        downtimes=problem.downtimes,
        frozen=frozen,
    )
    result = solve(again, time_limit_s=3, workers=1)
    assert result.has_schedule
    assert check_schedule(again, result.operations).ok
    by_ref = {s.ref: s for s in result.operations}
    assert all(by_ref[f.ref] == f for f in frozen)


def test_lns_starts_from_a_better_warm_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solver_module, "BIG_CIRCUITS", 0)
    problem = _plantlet(seed=5, jobs=20)
    good = solve(problem, time_limit_s=4, workers=1)
    assert good.makespan is not None
    # a short run from that schedule is at least as good as it
    again = solve(problem, time_limit_s=0.5, workers=1, hint=good.operations)
    assert again.makespan is not None and again.makespan <= good.makespan
    assert check_schedule(problem, again.operations).ok
