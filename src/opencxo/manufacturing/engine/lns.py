"""Large-neighbourhood search of our own for the makespan phase of big models.

On a plant with sequence-dependent changeovers on every unit the full CP-SAT model has tens of
thousands of arc literals (the benchmark's plant: ~85,000); with 2 workers CP-SAT needs seconds
to load it and its own LNS barely moves a schedule of that size. Here each step builds a
*small* model around the current schedule and lets CP-SAT re-optimise it for a second or two:

- *free* operations may move to any of their eligible units among the *free units* and take
  any place there; every other operation keeps its unit and its place in its unit's
  sequence, but its start is free too (what ends before the first free operation stays put);
- two kinds of step, alternating at random: a *window* (a pool of interchangeable units, or
  every unit, around an operation of the critical path: the operations with consecutive
  starts there are free and go, in any order, between the fixed operations before and after
  the window: an ``AddCircuit`` whose depot is that gap) and an *insertion* (a sample of the
  critical path and of operations on the same units, anywhere in the schedule, re-inserted
  among the fixed operations of every unit they may run on: a circuit over all of them with
  the fixed ones' order kept);
- every arc carries its changeover (exact, triangle inequality or not); units outside the
  free set are chains of their operations with the changeovers; job order, cross-job
  precedences with lags, release dates, maintenance windows (a no-overlap per unit), frozen
  operations, and ``Σ w·T ≤`` the weighted tardiness found;
- minimise ``jobs × makespan + Σ job completion times`` with the makespan at most the
  current one (a window seldom shortens the makespan by itself; the completion times let
  the schedule compact step by step), hinted with the current schedule.

A step's schedule is shifted left (same units, same orders, every operation as early as
possible), verified by the checker, and taken when its makespan is no worse; a better
makespan is reported. The neighbourhood's size adapts: larger when CP-SAT proves a step
optimal, smaller when it finds nothing. Only stdlib and ortools.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from .checker import check_schedule
from .model import OpRef, Problem, ScheduledOperation

__all__ = ["LnsOutcome", "improve"]

#: Free operations in the first neighbourhood; adapted between these bounds.
FREE_OPS = 40
FREE_OPS_MIN = 12
FREE_OPS_MAX = 160
#: Share of the steps that re-insert operations scattered over the schedule (the others
#: re-optimise a window).
INSERTION_SHARE = 0.5
#: CP-SAT time per step (s).
STEP_S = 1.5


@dataclass(frozen=True)
class LnsOutcome:
    operations: list[ScheduledOperation]
    makespan: int
    steps: int
    improved: int
    stopped: bool


@dataclass
class _Sub:
    start: dict[OpRef, cp_model.IntVar]
    end: dict[OpRef, cp_model.LinearExprT]
    present: dict[OpRef, list[tuple[int, cp_model.IntVar]]]  # several possible units
    unit_of: dict[OpRef, int]  # operations with a single possible unit
    makespan: cp_model.IntVar


def _setup(problem: Problem, unit: int, a: OpRef, b: OpRef) -> int:
    m = problem.changeover_matrix(unit)
    if m is None:
        return 0
    return m.time(problem.jobs[a[0]].family, problem.jobs[b[0]].family)


def _insertion_circuit(
    problem: Problem,
    model: cp_model.CpModel,
    unit: int,
    fixed: Sequence[OpRef],
    cand: Sequence[tuple[OpRef, cp_model.IntVar | None]],
    current: Mapping[OpRef, ScheduledOperation],
    start: Mapping[OpRef, cp_model.IntVar],
    end: Mapping[OpRef, cp_model.LinearExprT],
) -> None:
    """The free operations ``cand`` may go anywhere between the fixed operations of ``unit``,
    which keep their order: one circuit over all of them (node 0 the depot), arcs ``f_i →
    f_{i+1}``, fixed → free, free → fixed, free → free, each with its changeover; the fixed
    operations' order is also a plain time chain, so a tour cannot reorder them."""
    for a, b in itertools.pairwise(fixed):
        model.add(start[b] >= end[a])
    if not cand:
        for a, b in itertools.pairwise(fixed):
            model.add(start[b] >= end[a] + _setup(problem, unit, a, b))
        return
    nodes = [*fixed, *(r for r, _ in cand)]
    index = {r: i for i, r in enumerate(nodes, start=1)}
    m = len(fixed)
    arcs: list[tuple[int, int, cp_model.LiteralT]] = []
    keyed: dict[tuple[int, int], cp_model.IntVar] = {}

    def arc(i: int, j: int) -> None:
        lit = model.new_bool_var("")
        arcs.append((i, j, lit))
        keyed[(i, j)] = lit
        if i and j:
            a, b = nodes[i - 1], nodes[j - 1]
            model.add(start[b] >= end[a] + _setup(problem, unit, a, b)).only_enforce_if(lit)

    if m:
        arc(0, 1)
        arc(m, 0)
    else:
        arc(0, 0)
    for i in range(1, m):
        arc(i, i + 1)
    for k, (rc, lit_c) in enumerate(cand, start=m + 1):
        arc(0, k)
        arc(k, 0)
        if lit_c is not None:
            arcs.append((k, k, ~lit_c))
        for i in range(1, m + 1):
            arc(i, k)
            arc(k, i)
        for k2, (rc2, _) in enumerate(cand, start=m + 1):
            if k2 != k and not (rc2[0] == rc[0] and rc2[1] < rc[1]):
                arc(k, k2)
    model.add_circuit(arcs)
    here = sorted(
        (r for r in nodes if current[r].unit == unit), key=lambda r: (current[r].start, r)
    )
    path = [0, *(index[r] for r in here), 0]
    chosen = set(itertools.pairwise(path))
    for key, lit in keyed.items():
        model.add_hint(lit, key in chosen)


def _build_sub(
    problem: Problem,
    preds: Mapping[OpRef, list[tuple[OpRef, int]]],
    head: Mapping[OpRef, int],
    current: Mapping[OpRef, ScheduledOperation],
    free: set[OpRef],
    free_units: set[int],
    horizon: int,
    wt_cap: int | None,
    model: cp_model.CpModel,
    insertion: bool = False,
) -> _Sub:
    frozen = {f.ref for f in problem.frozen}
    start: dict[OpRef, cp_model.IntVar] = {}
    end: dict[OpRef, cp_model.LinearExprT] = {}
    present: dict[OpRef, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    unit_of: dict[OpRef, int] = {}
    intervals: dict[int, list[cp_model.IntervalVar]] = defaultdict(list)
    candidates: dict[int, list[tuple[OpRef, cp_model.IntVar | None]]] = defaultdict(list)
    # what ends before the window stays where it is (a smaller model, solved faster)
    settled = min((current[r].start for r in free), default=0)
    for r, s in current.items():
        op = problem.jobs[r[0]].operations[r[1]]
        if r in frozen or (r not in free and s.end <= settled):
            var = model.new_constant(s.start)
            start[r], end[r], unit_of[r] = var, s.end, s.unit
            intervals[s.unit].append(
                model.new_fixed_size_interval_var(s.start, s.end - s.start, "")
            )
            continue
        modes = [m for m in op.modes if m.unit in free_units] if r in free else []
        if not modes:
            modes = [m for m in op.modes if m.unit == s.unit]
        hi = max(head[r], horizon - min(m.duration for m in modes))
        var = model.new_int_var(head[r], hi, "")
        start[r] = var
        if len(modes) == 1:
            unit_of[r] = modes[0].unit
            intervals[modes[0].unit].append(
                model.new_fixed_size_interval_var(var, modes[0].duration, "")
            )
            end[r] = var + modes[0].duration
            if r in free:
                candidates[modes[0].unit].append((r, None))
            continue
        lits = []
        for m in modes:
            lit = model.new_bool_var("")
            present[r].append((m.unit, lit))
            lits.append(lit)
            intervals[m.unit].append(
                model.new_optional_fixed_size_interval_var(var, m.duration, lit, "")
            )
            candidates[m.unit].append((r, lit))
        model.add_exactly_one(lits)
        end[r] = var + sum(m.duration * lit for m, lit in zip(modes, lits, strict=True))
    for d in problem.downtimes:
        intervals[d.unit].append(model.new_fixed_size_interval_var(d.start, d.end - d.start, ""))
    for unit_intervals in intervals.values():
        if len(unit_intervals) > 1:
            model.add_no_overlap(unit_intervals)
    for after, plist in preds.items():
        for before, lag in plist:
            model.add(start[after] >= end[before] + lag)
    # the fixed operations of each unit, in their order; on a free unit split around the window
    sequences: dict[int, list[OpRef]] = defaultdict(list)
    for r, s in sorted(current.items(), key=lambda x: (x[1].start, x[1].end)):
        if r not in free:
            sequences[s.unit].append(r)
    window_start: dict[int, int] = {}
    for r in free:
        u = current[r].unit
        window_start[u] = min(window_start.get(u, 1 << 62), current[r].start)
    for u in range(problem.units):
        seq = sequences.get(u, [])
        if u in free_units and insertion:
            _insertion_circuit(problem, model, u, seq, candidates.get(u, []), current, start, end)
            continue
        if u not in free_units:
            for a, b in itertools.pairwise(seq):
                model.add(start[b] >= end[a] + _setup(problem, u, a, b))
            continue
        cut = window_start.get(u)
        if cut is None:  # no free operation on it now: the gap is where the starts cross the window
            cut = min((current[r].start for r in free), default=0)
        earlier = [r for r in seq if current[r].start < cut]
        later = [r for r in seq if current[r].start >= cut]
        for part in (earlier, later):
            for a, b in itertools.pairwise(part):
                model.add(start[b] >= end[a] + _setup(problem, u, a, b))
        last = earlier[-1] if earlier else None
        first = later[0] if later else None
        cand = candidates.get(u, [])
        if not cand:
            if last is not None and first is not None:
                model.add(start[first] >= end[last] + _setup(problem, u, last, first))
            continue
        arcs: list[tuple[int, int, cp_model.LiteralT]] = []
        keyed: dict[tuple[int, int], cp_model.IntVar] = {}
        empty = model.new_bool_var("")
        arcs.append((0, 0, empty))
        keyed[(0, 0)] = empty
        if last is not None and first is not None:
            model.add(start[first] >= end[last] + _setup(problem, u, last, first)).only_enforce_if(
                empty
            )
        for i, (ri, lit_i) in enumerate(cand, start=1):
            into = model.new_bool_var("")
            out = model.new_bool_var("")
            arcs += [(0, i, into), (i, 0, out)]
            keyed[(0, i)], keyed[(i, 0)] = into, out
            if last is not None:
                model.add(start[ri] >= end[last] + _setup(problem, u, last, ri)).only_enforce_if(
                    into
                )
            if first is not None:
                model.add(start[first] >= end[ri] + _setup(problem, u, ri, first)).only_enforce_if(
                    out
                )
            if lit_i is not None:
                arcs.append((i, i, ~lit_i))
            for jn, (rj, _) in enumerate(cand, start=1):
                if jn == i or (rj[0] == ri[0] and rj[1] < ri[1]):
                    continue
                lit = model.new_bool_var("")
                arcs.append((i, jn, lit))
                keyed[(i, jn)] = lit
                model.add(start[rj] >= end[ri] + _setup(problem, u, ri, rj)).only_enforce_if(lit)
        model.add_circuit(arcs)
        # hint the current order of the free operations on this unit
        index = {r: i for i, (r, _) in enumerate(cand, start=1)}
        here = sorted((r for r in index if current[r].unit == u), key=lambda r: current[r].start)
        path = [0, *(index[r] for r in here), 0]
        chosen = set(itertools.pairwise(path))
        for key, lit in keyed.items():
            model.add_hint(lit, key in chosen)
    makespan = model.new_int_var(0, horizon, "makespan")
    for j, job in enumerate(problem.jobs):
        if job.operations:
            model.add(makespan >= end[(j, len(job.operations) - 1)])
    if wt_cap is not None:
        terms = []
        for j, job in enumerate(problem.jobs):
            if job.due is None or job.weight == 0 or not job.operations:
                continue
            t = model.new_int_var(0, max(0, horizon - job.due), "")
            model.add(t >= end[(j, len(job.operations) - 1)] - job.due)
            terms.append(job.weight * t)
        if terms:
            model.add(sum(terms) <= wt_cap)
    # the makespan first; the jobs' completion times as a tie-break that lets the search
    # compact the schedule step by step (a window seldom shortens the makespan by itself)
    lasts = [
        end[(j, len(job.operations) - 1)] for j, job in enumerate(problem.jobs) if job.operations
    ]
    model.minimize(len(lasts) * makespan + cp_model.LinearExpr.sum(lasts))
    model.add_hint(makespan, max(s.end for s in current.values()))
    for r, var in start.items():
        if not isinstance(end[r], int):
            model.add_hint(var, current[r].start)
    for r, options in present.items():
        for u, lit in options:
            model.add_hint(lit, current[r].unit == u)
    return _Sub(start, end, present, unit_of, makespan)


def left_shift(
    problem: Problem,
    preds: Mapping[OpRef, list[tuple[OpRef, int]]],
    operations: Sequence[ScheduledOperation],
) -> list[ScheduledOperation]:
    """The same units and the same order on each unit, every operation as early as its job,
    its precedences, its release, the changeover after the operation before it on its unit
    and the maintenance windows allow (frozen operations stay). Never later than before."""
    frozen = {f.ref for f in problem.frozen}
    by_unit: dict[int, list[ScheduledOperation]] = defaultdict(list)
    for s in operations:
        by_unit[s.unit].append(s)
    before: dict[OpRef, ScheduledOperation] = {}
    for seq in by_unit.values():
        seq.sort(key=lambda s: (s.start, s.end))
        for a, b in itertools.pairwise(seq):
            before[b.ref] = a
    downs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d in problem.downtimes:
        downs[d.unit].append((d.start, d.end))
    old = {s.ref: s for s in operations}
    new: dict[OpRef, ScheduledOperation] = {}
    # in the order of the old starts: every predecessor (job, precedence, unit) starts earlier
    for s in sorted(operations, key=lambda s: (s.start, s.end)):
        r = s.ref
        if r in frozen:
            new[r] = s
            continue
        t = problem.jobs[r[0]].release
        for q, lag in preds.get(r, []):
            t = max(t, new[q].end + lag)
        prev = before.get(r)
        if prev is not None:
            t = max(t, new[prev.ref].end + _setup(problem, s.unit, prev.ref, r))
        duration = s.end - s.start
        moved = True
        while moved:
            moved = False
            for ws, we in downs.get(s.unit, []):
                if t < we and ws < t + duration:
                    t, moved = we, True
        t = min(t, s.start)
        new[r] = ScheduledOperation(r[0], r[1], s.unit, t, t + duration)
    return [new[r] for r in sorted(old)]


def critical_path(
    problem: Problem,
    preds: Mapping[OpRef, list[tuple[OpRef, int]]],
    current: Mapping[OpRef, ScheduledOperation],
) -> list[OpRef]:
    """One chain of operations, each starting as soon as the one before it (in its job, a
    precedence, or on its unit with the changeover) allows, that ends with the makespan."""
    by_unit: dict[int, list[ScheduledOperation]] = defaultdict(list)
    for s in current.values():
        by_unit[s.unit].append(s)
    before: dict[OpRef, ScheduledOperation] = {}
    for seq in by_unit.values():
        seq.sort(key=lambda s: (s.start, s.end))
        for a, b in itertools.pairwise(seq):
            before[b.ref] = a
    r = max(current.values(), key=lambda s: s.end).ref
    path = [r]
    while len(path) <= len(current):
        s = current[r]
        nxt = next((q for q, lag in preds.get(r, []) if current[q].end + lag == s.start), None)
        if nxt is None and r in before:
            a = before[r]
            if a.end + _setup(problem, s.unit, a.ref, r) == s.start:
                nxt = a.ref
        if nxt is None:
            break
        path.append(nxt)
        r = nxt
    return path


def _neighbourhood(
    problem: Problem,
    current: Mapping[OpRef, ScheduledOperation],
    pools: Sequence[Sequence[int]],
    critical: Sequence[OpRef],
    size: int,
    rng: random.Random,
) -> tuple[set[OpRef], set[int]]:
    """Free units (the pool of an operation on the critical path, or every unit) and about
    ``size`` operations on them with consecutive starts around that operation."""
    frozen = {f.ref for f in problem.frozen}
    centre = current[rng.choice(list(critical))]
    pool = next((p for p in pools if centre.unit in p), None)
    units = set(pool) if pool is not None and rng.random() < 0.7 else set(range(problem.units))
    ops = sorted(
        (s for r, s in current.items() if s.unit in units and r not in frozen),
        key=lambda s: (s.start, s.end),
    )
    if not ops:
        return set(), units
    at = next((i for i, s in enumerate(ops) if s.ref == centre.ref), len(ops) - 1)
    lo = max(0, at - int(size * rng.random()))
    hi = min(len(ops) - 1, lo + size - 1)
    t1, t2 = ops[lo].start, ops[hi].start
    free = {s.ref for s in ops if t1 <= s.start <= t2}
    return free, units


def _scattered(
    problem: Problem,
    current: Mapping[OpRef, ScheduledOperation],
    critical: Sequence[OpRef],
    size: int,
    rng: random.Random,
) -> tuple[set[OpRef], set[int]]:
    """Operations anywhere in the schedule, to be re-inserted among the others: a sample of the
    critical path and of the operations that share its units; free units are all the units
    they may run on."""
    frozen = {f.ref for f in problem.frozen}
    crit = [r for r in critical if r not in frozen]
    free = set(rng.sample(crit, min(len(crit), max(1, size // 2))))
    units = {current[r].unit for r in free}
    others = [
        r for r, s in current.items() if s.unit in units and r not in frozen and r not in free
    ]
    free.update(rng.sample(others, min(len(others), size - len(free))))
    eligible = {m.unit for r in free for m in problem.jobs[r[0]].operations[r[1]].modes}
    return free, eligible


def improve(
    problem: Problem,
    preds: Mapping[OpRef, list[tuple[OpRef, int]]],
    head: Mapping[OpRef, int],
    operations: Sequence[ScheduledOperation],
    wt_cap: int | None,
    lower_bound: int,
    deadline: float,
    *,
    workers: int,
    seed: int,
    pools: Sequence[Sequence[int]],
    run: Callable[[cp_model.CpModel, float, int], tuple[str, cp_model.CpSolver | None, bool]],
    report: Callable[[int], None],
    should_stop: Callable[[], bool] | None,
    proved: Callable[[], int] | None = None,
) -> LnsOutcome:
    """Improve the makespan of a valid schedule by LNS until ``deadline``
    (``time.perf_counter()``), keeping its weighted tardiness at most ``wt_cap``.

    ``run(model, time_limit_s, seed)`` solves a step (status, solver, stopped); ``report``
    is called with each better makespan (after the checker accepted it); ``proved()``, when
    given, is a lower bound proved meanwhile (the search stops when it reaches it).
    """
    del workers  # the caller's ``run`` carries them
    rng = random.Random(seed)
    shifted = left_shift(problem, preds, operations)
    if check_schedule(problem, shifted).ok:
        operations = shifted
    current = {s.ref: s for s in operations}
    best = max(s.end for s in operations)
    size = FREE_OPS
    steps = improved = empty_steps = 0
    multi = [list(p) for p in pools if len(p) > 1]
    while best > max(lower_bound, proved() if proved is not None else 0):
        now = time.perf_counter()
        if now > deadline - 0.3 or (should_stop is not None and should_stop()):
            break
        critical = critical_path(problem, preds, current)
        insertion = rng.random() < INSERTION_SHARE
        if insertion:
            free, units = _scattered(problem, current, critical, max(4, size // 3), rng)
        else:
            free, units = _neighbourhood(problem, current, multi, critical, size, rng)
        if not free:
            empty_steps += 1
            if empty_steps > 20:  # nothing to move (everything frozen)
                break
            continue
        model = cp_model.CpModel()
        sub = _build_sub(problem, preds, head, current, free, units, best, wt_cap, model, insertion)
        limit = min(STEP_S, deadline - time.perf_counter())
        if limit <= 0.1:
            break
        status, solver, stopped = run(model, limit, seed + steps)
        steps += 1
        if status == "OPTIMAL":
            size = min(FREE_OPS_MAX, size + max(2, size // 5))
        elif status != "FEASIBLE":
            size = max(FREE_OPS_MIN, size - max(2, size // 5))
        if status in ("OPTIMAL", "FEASIBLE") and solver is not None:
            new = []
            for r, _s in current.items():
                unit = sub.unit_of.get(r)
                if unit is None:
                    unit = next(u for u, lit in sub.present[r] if solver.boolean_value(lit))
                st = int(solver.value(sub.start[r]))
                new.append(ScheduledOperation(r[0], r[1], unit, st, int(solver.value(sub.end[r]))))
            shifted = left_shift(problem, preds, new)
            makespan = max(s.end for s in shifted)
            if makespan <= best and check_schedule(problem, shifted).ok:
                new = shifted
            makespan = max(s.end for s in new)
            if makespan <= best:
                check = check_schedule(problem, new)
                if check.ok and (wt_cap is None or check.weighted_tardiness <= wt_cap):
                    current = {s.ref: s for s in new}
                    if makespan < best:
                        best = makespan
                        improved += 1
                        report(best)
            if status == "FEASIBLE":
                size = max(FREE_OPS_MIN, size - 1)
        if stopped:
            return LnsOutcome(sorted(current.values(), key=lambda s: s.ref), best, steps,
                              improved, True)  # fmt: skip
    stopped = should_stop is not None and should_stop()
    return LnsOutcome(
        sorted(current.values(), key=lambda s: s.ref), best, steps, improved, bool(stopped)
    )
