"""A makespan lower bound from a time-indexed linear relaxation of the busiest pool of units.

The window bounds (``solver._unit_set_bound``, :mod:`.assignment_bound`) count work against
the length of a window and let it be split at will; they do not see that an operation cannot
straddle a maintenance window, nor how each operation's own earliest start and tail fit
together with everyone else's. A time-indexed programme does: for the operations that can
only run on one pool of units (the busiest: most work per unit), ``y[o, u, t] ≥ 0`` is the
share of operation ``o`` that starts on unit ``u`` at time ``t``, over the starts that a
schedule of makespan ``T`` allows (``head ≤ t``, ``t + duration + tail ≤ T``, no overlap with
the unit's maintenance), ``Σ y = 1`` per operation, and at every hour ``τ`` each unit holds at
most one operation *with the changeover before it*: ``[t − least changeover into its product,
t + duration)``. (Consecutive operations on a unit are at least that changeover apart, so
those extended intervals never overlap in a schedule; a changeover may run during maintenance,
so only the operation itself avoids it.) Every schedule of makespan ``≤ T`` gives a 0/1 point,
so when the programme is infeasible (HiGHS) the makespan is at least ``T + 1``. A bisection
over ``T``, as far as the time allows, gives the bound.

On the benchmark's plant (the three dryers, 120 operations, about 50,000 columns, 15–25 s a
programme on one core) it is infeasible up to 389 h: the makespan is at least 390 h, where the
assignment bound says 371 h.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse

from .model import OpRef, Problem

__all__ = ["busiest_pool", "feasible_at", "time_indexed_bound"]

#: Skip a programme with more columns than this (memory and time, not correctness).
MAX_COLUMNS = 200_000


@dataclass(frozen=True)
class _Item:
    ref: OpRef
    modes: tuple[tuple[int, int, int], ...]  # (unit, duration, least changeover into it)
    head: int
    tail: int
    fixed_start: int | None  # a frozen operation


def _items(
    problem: Problem, pool: frozenset[int], head: Mapping[OpRef, int], tail: Mapping[OpRef, int]
) -> list[_Item]:
    """The operations that can only run on ``pool`` (frozen ones: where they are frozen)."""
    frozen = {f.ref: f for f in problem.frozen}
    least_in = problem.least_changeovers_in()
    items = []
    for j, job in enumerate(problem.jobs):
        for k, op in enumerate(job.operations):
            r = (j, k)
            modes: tuple[tuple[int, int, int], ...]
            if r in frozen:
                f = frozen[r]
                modes = ((f.unit, f.end - f.start, least_in.get((f.unit, job.family), 0)),)
                start: int | None = f.start
            else:
                modes = tuple(
                    (m.unit, m.duration, least_in.get((m.unit, job.family), 0)) for m in op.modes
                )
                start = None
            if modes and all(u in pool for u, _, _ in modes):
                items.append(_Item(r, modes, head[r], tail[r], start))
    return items


def busiest_pool(
    problem: Problem, pools: Sequence[Sequence[int]], head: Mapping[OpRef, int],
    tail: Mapping[OpRef, int],
) -> frozenset[int] | None:  # fmt: skip
    """The pool with the most work per unit (shortest duration plus least changeover of the
    operations that can only run there, plus its maintenance), None without operations."""
    best: tuple[float, frozenset[int]] | None = None
    downtime: dict[int, int] = defaultdict(int)
    for d in problem.downtimes:
        downtime[d.unit] += d.end - d.start
    for members in pools:
        pool = frozenset(members)
        items = _items(problem, pool, head, tail)
        if not items:
            continue
        work = sum(min(p + c for _, p, c in it.modes) for it in items)
        load = (work + sum(downtime[u] for u in pool)) / len(pool)
        if best is None or load > best[0]:
            best = (load, pool)
    return None if best is None else best[1]


def feasible_at(
    problem: Problem,
    pool: frozenset[int],
    head: Mapping[OpRef, int],
    tail: Mapping[OpRef, int],
    makespan: int,
    time_limit_s: float = 60.0,
) -> bool | None:
    """Whether the time-indexed programme of ``pool`` admits makespan ``makespan``: False
    proves every schedule ends later; None when it was not decided (too big, out of time)."""
    items = _items(problem, pool, head, tail)
    if not items:
        return True
    downs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d in problem.downtimes:
        downs[d.unit].append((d.start, d.end))
    units = sorted(pool)
    row_of_unit = {u: i for i, u in enumerate(units)}
    col_item: list[np.ndarray] = []
    col_unit: list[np.ndarray] = []
    col_start: list[np.ndarray] = []
    col_from: list[np.ndarray] = []
    col_to: list[np.ndarray] = []
    for index, it in enumerate(items):
        any_column = False
        for unit, duration, setup in it.modes:
            last = makespan - it.tail - duration
            if it.fixed_start is not None:
                starts = np.array([it.fixed_start]) if it.fixed_start <= last else np.array([])
            else:
                starts = np.arange(it.head, last + 1)
            for ws, we in downs[unit]:
                starts = starts[(starts + duration <= ws) | (starts >= we)]
            if len(starts) == 0:
                continue
            any_column = True
            n = len(starts)
            col_item.append(np.full(n, index))
            col_unit.append(np.full(n, row_of_unit[unit]))
            col_start.append(starts)
            col_from.append(np.maximum(0, starts - setup))
            col_to.append(starts + duration)
        if not any_column:
            return False  # this operation fits nowhere before the makespan
    item_of = np.concatenate(col_item)
    unit_of = np.concatenate(col_unit)
    cover_from = np.concatenate(col_from)
    cover_to = np.concatenate(col_to)
    n_cols = len(item_of)
    if n_cols > MAX_COLUMNS:
        return None
    # each column covers the hours [from, to) of its unit: one non-zero per hour
    lengths = cover_to - cover_from
    columns = np.repeat(np.arange(n_cols), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    hours = np.repeat(cover_from, lengths) + offsets
    rows = np.repeat(unit_of, lengths) * makespan + hours
    capacity = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, columns)), shape=(len(units) * makespan, n_cols)
    )
    once = sparse.csr_matrix(
        (np.ones(n_cols), (item_of, np.arange(n_cols))), shape=(len(items), n_cols)
    )
    deadline = time.perf_counter() + time_limit_s
    # the interior point method is the fast one here (the dual simplex took minutes on the
    # plant) but reports a solve error on some tiny infeasible programmes: then the simplex
    for method in ("highs-ipm", "highs-ds"):
        left = deadline - time.perf_counter()
        if left < 0.1:
            return None
        solution = optimize.linprog(
            np.zeros(n_cols),
            A_ub=capacity,
            b_ub=np.ones(len(units) * makespan),
            A_eq=once,
            b_eq=np.ones(len(items)),
            bounds=(0.0, 1.0),
            method=method,
            options={"time_limit": left},
        )
        if solution.status == 2:
            return False
        if solution.status == 0:
            return True
        if solution.status == 1:  # out of time
            return None
    return None


def time_indexed_bound(
    problem: Problem,
    pools: Sequence[Sequence[int]],
    head: Mapping[OpRef, int],
    tail: Mapping[OpRef, int],
    lower: int,
    upper: int,
    deadline: float,
    on_bound: Callable[[int], None] | None = None,
) -> int:
    """The largest ``T + 1`` proved (programme infeasible at ``T``) by a bisection in
    ``[lower, upper)`` before ``deadline`` (``time.perf_counter()``); ``lower`` (a valid bound)
    when nothing more is proved. Each probe sits an eighth of the way up the open range (a
    programme takes seconds, so only a few fit): an infeasible probe raises the bound, a
    feasible one only lowers the top, and the answer is usually nearer the bottom (the top is
    a schedule's makespan). ``on_bound`` is called with each better bound as soon as it is proved."""
    pool = busiest_pool(problem, pools, head, tail)
    best = lower
    if pool is None:
        return best
    top = upper  # the programme is known (or assumed) feasible at top
    while best < top:
        left = deadline - time.perf_counter()
        if left < 1.0:
            break
        probe = best + max(0, (top - best) // 8)
        answer = feasible_at(problem, pool, head, tail, probe, left)
        if answer is None:
            break
        if answer:
            top = probe
        else:
            best = probe + 1
            if on_bound is not None:
                on_bound(best)
    return best
