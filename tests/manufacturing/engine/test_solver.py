"""The CP-SAT scheduler: standard instances, plant features, infeasibility in words, warm
start, frozen operations, stop flag; every schedule passes the independent checker and tiny
random instances match a brute-force enumeration."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from pathlib import Path

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
    ModelError,
    Operation,
    Precedence,
    Problem,
    ScheduledOperation,
    check_schedule,
    read_instance,
    solve,
)

DATA = Path(__file__).parent / "data"


def test_ft06_optimal_makespan_55() -> None:
    problem = read_instance(DATA / "ft06", "jssp")
    result = solve(problem, time_limit_s=30, workers=2)
    assert result.status == "OPTIMAL"
    assert result.makespan == 55 == result.makespan_bound
    assert result.gap == 0.0
    assert result.objective_name == "makespan"
    assert len(result.operations) == 36
    report = check_schedule(problem, result.operations)
    assert report.ok, report.violations
    assert report.makespan == 55


def test_mk01_feasible_and_valid() -> None:
    problem = read_instance(DATA / "mk01.txt", "fjsp")
    result = solve(problem, time_limit_s=10, workers=2)
    assert result.status in ("OPTIMAL", "FEASIBLE")
    assert result.makespan is not None and result.makespan >= 40  # the proved optimum
    assert result.makespan_bound is not None and result.makespan_bound <= 40
    assert check_schedule(problem, result.operations).ok
    # improvements are timed, in order, and end at the answer
    times = [i.wall_time_s for i in result.improvements]
    assert times == sorted(times)
    assert result.improvements[-1].objective == result.makespan


def _one_unit(*jobs: Job, **kw: object) -> Problem:
    return Problem(units=1, jobs=jobs, **kw)  # type: ignore[arg-type]


def test_weighted_tardiness_comes_before_makespan() -> None:
    # A first gives makespan 7 with B 2 late; B first (released at 3) gives 10, nobody late
    a = Job((Operation((Mode(0, 5),)),), name="A", due=100)
    b = Job((Operation((Mode(0, 2),)),), name="B", release=3, due=5, weight=4)
    result = solve(_one_unit(a, b), time_limit_s=10, workers=1)
    assert result.status == "OPTIMAL"
    assert (result.weighted_tardiness, result.makespan) == (0, 10)
    assert result.weighted_tardiness_bound == 0
    assert result.objective_name == "makespan"
    phases = {i.phase for i in result.improvements}
    assert phases == {"weighted_tardiness", "makespan"}


def test_a_batch_late_even_alone_bounds_the_tardiness_from_the_first_schedule() -> None:
    # C needs A's product (A ends at 2 + 6 = 8 at the earliest, then a lag of 3) and takes 4 or
    # 9 h: it ends at 15 at the earliest, 5 h after its due date, weight 3 -> at least 15.
    # B (due 20) is late only if scheduled badly. The bound holds from the first (list)
    # schedule on, before any search, and the list schedule that reaches it proves phase 1.
    a = Job((Operation((Mode(0, 6), Mode(1, 8))),), name="A", release=2)
    b = Job((Operation((Mode(0, 5),)),), name="B", due=20)
    c = Job((Operation((Mode(1, 4), Mode(0, 9))),), name="C", due=10, weight=3)
    problem = Problem(units=2, jobs=(a, b, c), precedences=(Precedence((0, 0), (2, 0), 3),))
    result = solve(problem, time_limit_s=10, workers=1)
    first = result.improvements[0]
    assert (first.phase, first.bound) == ("weighted_tardiness", 15.0)
    assert (result.weighted_tardiness, result.weighted_tardiness_bound) == (15, 15)
    assert result.status == "OPTIMAL"
    assert result.makespan == 15
    assert check_schedule(problem, result.operations).ok


def test_changeovers_group_the_families() -> None:
    jobs = tuple(Job((Operation((Mode(0, 1),)),), family=f) for f in (0, 1, 0, 1))
    problem = _one_unit(*jobs, changeovers=(Changeovers(0, ((0, 5), (5, 0))),))
    result = solve(problem, time_limit_s=10, workers=1)
    assert result.status == "OPTIMAL"
    assert result.makespan == 1 + 1 + 5 + 1 + 1
    assert check_schedule(problem, result.operations).ok


def test_maintenance_and_cross_job_precedence() -> None:
    intermediate = Job((Operation((Mode(0, 4), Mode(1, 6))),), name="INT")
    api = Job((Operation((Mode(0, 3),)), Operation((Mode(1, 2),))), name="API")
    problem = Problem(
        units=2,
        jobs=(intermediate, api),
        precedences=(Precedence((0, 0), (1, 0), min_lag=2),),
        downtimes=(Downtime(0, 5, 9),),
    )
    result = solve(problem, time_limit_s=10, workers=1)
    assert result.status == "OPTIMAL"
    # INT on unit 0 [0, 4); API op 0 cannot start before 6 and not in [5, 9): 9..12; op 1 12..14
    assert result.makespan == 14
    assert check_schedule(problem, result.operations).ok


def test_overlapping_maintenance_windows_are_one_window() -> None:
    # a breakdown [20, 30) inside planned maintenance [10, 50): the unit is down 10..50
    jobs = (Job((Operation((Mode(0, 5),)),), name="A"), Job((Operation((Mode(0, 15),)),), name="B"))
    problem = _one_unit(*jobs, downtimes=(Downtime(0, 10, 50), Downtime(0, 20, 30, "breakdown")))
    result = solve(problem, time_limit_s=10, workers=1)
    assert result.status == "OPTIMAL"
    # A fits before the window (0..5), B (15 h) does not fit in [5, 10): it runs 50..65
    assert (result.makespan, result.makespan_bound) == (65, 65)
    assert check_schedule(problem, result.operations).ok


@pytest.mark.parametrize(
    ("problem", "words"),
    [
        (_one_unit(Job((Operation(()),), name="X")), "X operation 0 has no eligible unit"),
        (
            _one_unit(
                Job((Operation((Mode(0, 1),)),), name="A"),
                Job((Operation((Mode(0, 1),)),), name="B"),
                precedences=(Precedence((0, 0), (1, 0)), Precedence((1, 0), (0, 0))),
            ),
            "the precedences form a cycle: ",
        ),
        (
            _one_unit(
                Job((Operation((Mode(0, 3),)),), name="A"),
                downtimes=(Downtime(0, 2, 6),),
                frozen=(ScheduledOperation(0, 0, 0, 0, 3),),
            ),
            "A operation 0 is frozen at [0, 3) on unit 0, overlapping its maintenance [2, 6)",
        ),
        (
            _one_unit(
                Job((Operation((Mode(0, 3),)),), name="A", release=5),
                frozen=(ScheduledOperation(0, 0, 0, 2, 5),),
            ),
            "frozen to start at 2, before its job's release 5",
        ),
        (
            _one_unit(
                Job((Operation((Mode(0, 3),)),), name="A"),
                Job((Operation((Mode(0, 3),)),), name="B"),
                frozen=(ScheduledOperation(0, 0, 0, 0, 3), ScheduledOperation(1, 0, 0, 2, 5)),
            ),
            "are frozen overlapping on unit 0",
        ),
        (
            _one_unit(
                Job((Operation((Mode(0, 3),)),), name="A"),
                frozen=(ScheduledOperation(0, 0, 0, 0, 4),),
            ),
            "is frozen for 4, its duration on unit 0 is 3",
        ),
    ],
)
def test_infeasible_with_the_reason(problem: Problem, words: str) -> None:
    result = solve(problem, time_limit_s=5, workers=1)
    assert result.status == "INFEASIBLE"
    assert any(words in r for r in result.reasons), result.reasons
    assert result.operations == () and result.makespan is None


def test_infeasible_found_by_search_is_explained() -> None:
    # both fit alone, not together before the frozen op at 4 (B must precede it, lag 0)
    problem = _one_unit(
        Job((Operation((Mode(0, 3),)),), name="A"),
        Job((Operation((Mode(0, 3),)),), name="B"),
        Job((Operation((Mode(0, 1),)),), name="C"),
        precedences=(Precedence((0, 0), (2, 0)), Precedence((1, 0), (2, 0))),
        frozen=(ScheduledOperation(2, 0, 0, 4, 5),),
    )
    result = solve(problem, time_limit_s=5, workers=1)
    assert result.status == "INFEASIBLE"
    assert result.reasons and "CP-SAT proved it" in result.reasons[0]


def test_input_errors_name_the_argument() -> None:
    with pytest.raises(ModelError, match="Mode: duration = 0 must be >= 1"):
        Mode(0, 0)
    with pytest.raises(ModelError, match=r"unit = 3 must be < units \(2\)"):
        Problem(2, (Job((Operation((Mode(3, 1),)),)),))
    with pytest.raises(ModelError, match="names job 4"):
        Problem(1, (Job((Operation((Mode(0, 1),)),)),), precedences=(Precedence((4, 0), (0, 0)),))
    with pytest.raises(ModelError, match=r"family = 2 must be < 2"):
        _one_unit(
            Job((Operation((Mode(0, 1),)),), family=2),
            changeovers=(Changeovers(0, ((0, 1), (1, 0))),),
        )
    with pytest.raises(ModelError, match="time_limit_s"):
        solve(_one_unit(Job((Operation((Mode(0, 1),)),))), time_limit_s=0)
    with pytest.raises(ModelError, match=r"parameters\['no_such_parameter'\]"):
        solve(_one_unit(Job((Operation((Mode(0, 1),)),))), parameters={"no_such_parameter": 1})
    with pytest.raises(ModelError, match="workers"):
        solve(_one_unit(Job((Operation((Mode(0, 1),)),))), workers=0)


def test_warm_start_is_used() -> None:
    problem = read_instance(DATA / "ft06", "jssp")
    optimal = solve(problem, time_limit_s=30, workers=2).operations
    result = solve(problem, time_limit_s=30, workers=1, hint=optimal)
    # the first solution is the greedy schedule; CP-SAT's first is the hint (makespan 55)
    assert result.improvements[0].objective > 55
    assert result.improvements[1].objective == 55
    assert result.makespan == 55


def test_frozen_prefix_reschedule() -> None:
    problem = read_instance(DATA / "mk01.txt", "fjsp")
    first = solve(problem, time_limit_s=5, workers=2)
    frozen = tuple(s for s in first.operations if s.start < 12)
    assert frozen
    result = solve(replace(problem, frozen=frozen), time_limit_s=5, workers=2)
    assert result.has_schedule
    by_ref = {s.ref: s for s in result.operations}
    assert all(by_ref[f.ref] == f for f in frozen)
    assert check_schedule(replace(problem, frozen=frozen), result.operations).ok
    assert result.makespan is not None and first.makespan is not None
    assert result.makespan >= (first.makespan_bound or 0)


def _random_jssp(jobs: int, machines: int, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    return Problem(
        machines,
        tuple(
            Job(
                tuple(
                    Operation((Mode(int(m), int(rng.integers(1, 100))),))
                    for m in rng.permutation(machines)
                )
            )
            for _ in range(jobs)
        ),
    )


def test_stop_flag_stops_the_search() -> None:
    problem = _random_jssp(30, 10, seed=1)  # far from provable in a few seconds
    stop = threading.Event()
    seen: list[Improvement] = []

    def record(event: Improvement) -> None:
        seen.append(event)
        if len(seen) >= 3:
            stop.set()

    t0 = time.perf_counter()
    result = solve(
        problem, time_limit_s=60, workers=2, on_improvement=record, should_stop=stop.is_set
    )
    assert time.perf_counter() - t0 < 20
    assert result.stopped
    assert result.status == "FEASIBLE"
    assert check_schedule(problem, result.operations).ok


def test_stop_before_any_solution_polls_the_flag() -> None:
    problem = _random_jssp(30, 10, seed=2)
    t0 = time.perf_counter()
    result = solve(
        problem, time_limit_s=60, workers=2, should_stop=lambda: time.perf_counter() - t0 > 1
    )
    assert time.perf_counter() - t0 < 15
    assert result.stopped
    assert result.has_schedule  # the greedy schedule at least


# --------------------------------------------------------------------------- brute force


def _earliest(
    problem: Problem,
    units: dict[tuple[int, int], int],
    orders: dict[int, tuple[tuple[int, int], ...]],
) -> dict[tuple[int, int], tuple[int, int]] | None:
    """Earliest (start, end) of every op for a given unit assignment and order per unit;
    None when the orders contradict the precedences."""
    preds: dict[tuple[int, int], list[tuple[tuple[int, int], int]]] = {r: [] for r in units}
    for j, job in enumerate(problem.jobs):
        for k in range(1, len(job.operations)):
            preds[(j, k)].append(((j, k - 1), 0))
    for p in problem.precedences:
        preds[p.after].append((p.before, p.min_lag))
    for u, order in orders.items():
        m = problem.changeover_matrix(u)
        for a, b in itertools.pairwise(order):
            gap = m.time(problem.jobs[a[0]].family, problem.jobs[b[0]].family) if m else 0
            preds[b].append((a, gap))
    times: dict[tuple[int, int], tuple[int, int]] = {}
    pending = set(units)
    while pending:
        ready = [r for r in pending if all(p in times for p, _ in preds[r])]
        if not ready:
            return None
        for r in ready:
            d = problem.jobs[r[0]].operations[r[1]].duration_on(units[r])
            assert d is not None
            s = max([problem.jobs[r[0]].release] + [times[p][1] + lag for p, lag in preds[r]])
            moved = True
            while moved:
                moved = False
                for dt in problem.downtimes:
                    if dt.unit == units[r] and s < dt.end and dt.start < s + d:
                        s, moved = dt.end, True
            times[r] = (s, s + d)
            pending.discard(r)
    return times


def _brute_force(problem: Problem) -> tuple[int, int]:
    refs = [(j, k) for j, job in enumerate(problem.jobs) for k in range(len(job.operations))]
    best = (1 << 60, 1 << 60)
    for choice in itertools.product(*[problem.jobs[j].operations[k].modes for j, k in refs]):
        units = {r: m.unit for r, m in zip(refs, choice, strict=True)}
        per_unit = {u: [r for r in refs if units[r] == u] for u in set(units.values())}
        for perms in itertools.product(*[itertools.permutations(v) for v in per_unit.values()]):
            times = _earliest(problem, units, dict(zip(per_unit, perms, strict=True)))
            if times is None:
                continue
            wt = sum(
                job.weight * max(0, times[(j, len(job.operations) - 1)][1] - job.due)
                for j, job in enumerate(problem.jobs)
                if job.due is not None
            )
            best = min(best, (wt, max(e for _, e in times.values())))
    return best


@st.composite
def tiny_problems(draw: st.DrawFn) -> Problem:
    units = draw(st.integers(1, 2))
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
            ops.append(Operation(tuple(Mode(u, draw(st.integers(1, 5))) for u in eligible)))
        due = draw(st.none() | st.integers(1, 15))
        jobs.append(
            Job(
                tuple(ops),
                release=draw(st.integers(0, 4)),
                due=due,
                weight=draw(st.integers(0, 2)),
                family=draw(st.integers(0, 1)),
            )
        )
    precedences: tuple[Precedence, ...] = ()
    if n_jobs > 1 and draw(st.booleans()):
        a, b = draw(st.permutations(range(n_jobs)))[:2]
        precedences = (
            Precedence(
                (a, draw(st.integers(0, len(jobs[a].operations) - 1))),
                (b, draw(st.integers(0, len(jobs[b].operations) - 1))),
                draw(st.integers(0, 2)),
            ),
        )
    changeovers = tuple(
        Changeovers(u, tuple(tuple(draw(st.integers(0, 4)) for _ in range(2)) for _ in range(2)))
        for u in range(units)
        if draw(st.booleans())
    )
    # up to two windows a unit, which may overlap (a breakdown inside planned maintenance)
    downtimes = tuple(
        Downtime(u, s, s + draw(st.integers(1, 4)))
        for u in range(units)
        for _ in range(draw(st.integers(0, 2)))
        for s in [draw(st.integers(0, 8))]
    )
    return Problem(units, tuple(jobs), precedences, changeovers, downtimes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_problems())
def test_tiny_instances_match_brute_force(problem: Problem) -> None:
    result = solve(problem, time_limit_s=10, workers=1)
    assert result.status == "OPTIMAL", result
    report = check_schedule(problem, result.operations)
    assert report.ok, report.violations
    assert (report.weighted_tardiness, report.makespan) == (
        result.weighted_tardiness,
        result.makespan,
    )
    assert (result.weighted_tardiness, result.makespan) == _brute_force(problem)


def _brute_force_makespan(problem: Problem) -> int:
    """The least makespan over every assignment and order (tardiness ignored)."""
    refs = [(j, k) for j, job in enumerate(problem.jobs) for k in range(len(job.operations))]
    best = 1 << 60
    for choice in itertools.product(*[problem.jobs[j].operations[k].modes for j, k in refs]):
        units = {r: m.unit for r, m in zip(refs, choice, strict=True)}
        per_unit = {u: [r for r in refs if units[r] == u] for u in set(units.values())}
        for perms in itertools.product(*[itertools.permutations(v) for v in per_unit.values()]):
            times = _earliest(problem, units, dict(zip(per_unit, perms, strict=True)))
            if times is not None:
                best = min(best, max(e for _, e in times.values()))
    return best


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_problems())
def test_static_makespan_bound_is_valid(problem: Problem) -> None:
    from opencxo.manufacturing.engine.solver import _graph, _makespan_lb

    assert _makespan_lb(problem, _graph(problem)) <= _brute_force_makespan(problem)


def test_static_bound_counts_changeovers_and_maintenance() -> None:
    # three batches of one product on one unit, 2 h cleaning between them, 3 h of maintenance
    jobs = tuple(Job((Operation((Mode(0, 1),)),)) for _ in range(3))
    problem = _one_unit(
        *jobs, changeovers=(Changeovers(0, ((2,),)),), downtimes=(Downtime(0, 1, 4),)
    )
    from opencxo.manufacturing.engine.solver import _graph, _makespan_lb

    # 1 + 2 + 1 + 2 + 1 = 7 of work and cleaning (a cleaning may run during maintenance:
    # [0, 1) maintenance and cleaning [4, 5) cleaning [7, 8) is optimal)
    assert _makespan_lb(problem, _graph(problem)) == 7
    result = solve(problem, time_limit_s=10, workers=1)
    assert result.status == "OPTIMAL"
    assert result.makespan == 8
    # processing alone (3) plus the maintenance inside its window (3)
    no_cleaning = _one_unit(*jobs, downtimes=(Downtime(0, 1, 4),))
    assert _makespan_lb(no_cleaning, _graph(no_cleaning)) == 6


def test_plain_job_shop_is_the_textbook_model() -> None:
    from ortools.sat.python import cp_model

    from opencxo.manufacturing.engine.baseline import build_textbook, is_plain_job_shop
    from opencxo.manufacturing.engine.solver import _build_plain

    problem = read_instance(DATA / "ft06", "jssp")
    assert is_plain_job_shop(problem)
    assert not is_plain_job_shop(read_instance(DATA / "mk01.txt", "fjsp"))
    ours, textbook = cp_model.CpModel(), cp_model.CpModel()
    _build_plain(problem, ours, 0)
    build_textbook(problem, textbook)
    assert str(ours.Proto()) == str(textbook.Proto())
    assert len(str(ours.Proto())) > 1000
