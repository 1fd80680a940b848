"""A makespan lower bound from an arc-time-indexed linear relaxation of the busiest pool of units.

The window bounds (``solver._unit_set_bound``, :mod:`.assignment_bound`) count work against
the length of a window and let it be split at will; they do not see that an operation cannot
straddle a maintenance window, how each operation's own head and tail fit with everyone
else's, nor that a unit switching products pays the product changeover. This programme does,
for the operations that can only run on one pool of units (the busiest: most work per unit).

Each unit of the pool is a path through a time-expanded network (the *arc-time-indexed*
formulation of Pessoa, Uchoa and Poggi de Aragão, 2010, with the nodes keyed by product rather
than by operation, because the changeovers depend only on the products): node ``(t, f)`` means
"the unit finished an operation of product ``f`` at time ``t`` and is free". From it the unit
waits an hour (to ``(t + 1, f)``) or starts an operation of product ``g`` and duration ``d`` at
``s = t + changeover[f][g]``, arriving at ``(s + d, g)``; the unit's first operation starts from
the source with no changeover. ``x ≥ 0`` is the flow on an arc, one unit of flow per unit of
the pool. ``y[o, u, s] ≥ 0`` is the share of operation ``o`` starting on ``u`` at ``s``, over
the starts a makespan ``T`` allows (``head ≤ s``, ``s + duration + tail ≤ T``, no overlap with
the unit's maintenance; a changeover may run through it, as in the model), ``Σ y = 1`` per
operation, and at every ``(u, product, duration, s)`` the flow that starts such an operation
equals the shares that start there. Every schedule of makespan ``≤ T`` is a 0/1 point (each
unit's sequence is a path), so when the programme is infeasible (HiGHS) every schedule ends
after ``T``. A fractional flow is a mix of whole unit sequences, each paying its own
changeovers: where a time-indexed programme with per-hour capacities would let a unit dry
half of one product and half of another in the same hours without a switch, here each
sequence that mixes products pays for the switches. A bisection over ``T``, as far as the time
allows, gives the bound.

On the benchmark's plant (the three dryers, 120 operations, ~66,000 columns, ~5 s a
programme) it is infeasible up to 393 h: the makespan is at least 394 h, where the
time-indexed programme with per-hour capacities said 390 h and the assignment bound 371 h.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

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


class _Programme:
    """The sparse equality system ``A x = b`` being assembled (coordinates, one column at a
    time or in blocks)."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.n_rows = 0
        self.n_cols = 0
        self.rhs: dict[int, float] = {}

    def new_rows(self, count: int) -> int:
        first = self.n_rows
        self.n_rows += count
        return first

    def add_columns(self, entries: Sequence[tuple[np.ndarray, float]]) -> None:
        """Columns that have, for each ``(row indices, value)`` in ``entries``, ``value`` in
        the given row (the arrays are aligned: one column per position)."""
        count = len(entries[0][0])
        if count == 0:
            return
        index = np.arange(self.n_cols, self.n_cols + count)
        for rows, value in entries:
            self.rows.append(rows)
            self.cols.append(index)
            self.vals.append(np.full(count, value))
        self.n_cols += count

    def matrix(self) -> sparse.csr_matrix:
        return sparse.csr_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_rows, self.n_cols),
        )

    def b(self) -> np.ndarray:
        out = np.zeros(self.n_rows)
        for row, value in self.rhs.items():
            out[row] = value
        return out


def _starts(first: int, last: int, duration: int, downs: Sequence[tuple[int, int]]) -> np.ndarray:
    """The starts in ``[first, last]`` whose operation does not overlap a maintenance window."""
    starts = np.arange(first, last + 1)
    for ws, we in downs:
        starts = starts[(starts + duration <= ws) | (starts >= we)]
    return starts


def _window(item: _Item, duration: int, makespan: int) -> tuple[int, int]:
    """The first and last start of ``item`` that end, with its tail, by ``makespan`` (a frozen
    operation: its own start, or an empty window when that ends too late)."""
    last = makespan - item.tail - duration
    if item.fixed_start is not None:
        return item.fixed_start, min(item.fixed_start, last)
    return item.head, last


def _programme(
    problem: Problem, pool: frozenset[int], items: Sequence[_Item], makespan: int
) -> _Programme | Literal["no room", "too big"]:
    """The arc-time-indexed system at ``makespan``; ``"no room"`` when some operation has no
    start at all (so the programme is infeasible), ``"too big"`` past ``MAX_COLUMNS``."""
    downs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d in problem.downtimes:
        downs[d.unit].append((d.start, d.end))
    matrices = {unit: problem.changeover_matrix(unit) for unit in pool}

    def product(item: int, unit: int) -> int:
        # without a changeover matrix the products are all alike on the unit
        return problem.jobs[items[item].ref[0]].family if matrices[unit] is not None else 0

    # per unit: {(product, duration): the starts some operation of that kind may take}
    kinds: dict[int, dict[tuple[int, int], np.ndarray]] = {}
    size = 0
    for unit in sorted(pool):
        windows: dict[tuple[int, int], list[int]] = {}  # kind -> [first start, last start]
        for i, it in enumerate(items):
            for u, duration, _ in it.modes:
                if u != unit:
                    continue
                first, last = _window(it, duration, makespan)
                window = windows.setdefault((product(i, unit), duration), [first, last])
                window[0], window[1] = min(window[0], first), max(window[1], last)
        if not windows:
            continue
        kinds[unit] = {
            kind: _starts(first, last, kind[1], downs[unit])
            for kind, (first, last) in windows.items()
        }
        n_products = len({p for p, _ in windows})
        size += sum(len(s) for s in kinds[unit].values()) * (n_products + 2)
        size += (makespan + 1) * n_products * 2
    if size > MAX_COLUMNS:
        return "too big"
    prog = _Programme()
    link_rows: dict[tuple[int, int, int], tuple[int, np.ndarray]] = {}
    for unit, unit_kinds in kinds.items():
        matrix = matrices[unit]
        products = sorted({p for p, _ in unit_kinds})
        slot = {p: k for k, p in enumerate(products)}
        width = len(products)
        source = prog.new_rows(1)
        prog.rhs[source] = -1.0  # inflow − outflow: one unit of flow leaves the source
        node0 = prog.new_rows((makespan + 1) * width)  # node (t, product): node0 + t·width + slot
        one = np.zeros(1, dtype=np.int64)
        prog.add_columns([(one + source, -1.0)])  # the unit stays idle
        for (after, duration), starts in unit_kinds.items():
            if len(starts) == 0:
                continue
            link0 = prog.new_rows(len(starts))
            link_rows[(unit, after, duration)] = (link0, starts)
            link = link0 + np.arange(len(starts))
            arrive = node0 + (starts + duration) * width + slot[after]
            # the unit's first operation, then one after each product with its changeover
            prog.add_columns([(np.full(len(starts), source), -1.0), (arrive, 1.0), (link, 1.0)])
            for before in products:
                setup = matrix.time(before, after) if matrix is not None else 0
                ok = starts >= setup
                leave = node0 + (starts[ok] - setup) * width + slot[before]
                prog.add_columns([(leave, -1.0), (arrive[ok], 1.0), (link[ok], 1.0)])
        hours = np.arange(makespan)
        for k in range(width):
            wait_from = node0 + hours * width + k
            prog.add_columns([(wait_from, -1.0), (wait_from + width, 1.0)])
            prog.add_columns([(one + node0 + makespan * width + k, -1.0)])  # to the sink
    cover0 = prog.new_rows(len(items))
    for i, it in enumerate(items):
        prog.rhs[cover0 + i] = 1.0
        placed = False
        for unit, duration, _ in it.modes:
            if (unit, product(i, unit), duration) not in link_rows:
                continue
            link0, starts = link_rows[(unit, product(i, unit), duration)]
            first, last = _window(it, duration, makespan)
            at = np.flatnonzero((starts >= first) & (starts <= last))
            if len(at):
                placed = True
                prog.add_columns([(link0 + at, -1.0), (np.full(len(at), cover0 + i), 1.0)])
        if not placed:
            return "no room"
    return prog


def feasible_at(
    problem: Problem,
    pool: frozenset[int],
    head: Mapping[OpRef, int],
    tail: Mapping[OpRef, int],
    makespan: int,
    time_limit_s: float = 60.0,
) -> bool | None:
    """Whether the arc-time-indexed programme of ``pool`` admits makespan ``makespan``: False
    proves every schedule ends later; None when it was not decided (too big, out of time)."""
    items = _items(problem, pool, head, tail)
    if not items:
        return True
    prog = _programme(problem, pool, items, makespan)
    if isinstance(prog, str):
        return False if prog == "no room" else None
    a_eq = prog.matrix()
    b_eq = prog.b()
    deadline = time.perf_counter() + time_limit_s
    # the interior point method is the fast one here (the dual simplex took minutes on the
    # plant) but reports a solve error on some tiny infeasible programmes: then the simplex
    for method in ("highs-ipm", "highs-ds"):
        left = deadline - time.perf_counter()
        if left < 0.1:
            return None
        solution = optimize.linprog(
            np.zeros(prog.n_cols),
            A_eq=a_eq,
            b_eq=b_eq,
            bounds=(0.0, None),
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
    when nothing more is proved. A programme takes seconds, so only a few fit: while the top
    is still the schedule's makespan (usually far above the answer) each probe sits an eighth
    of the way up the open range; once a programme was feasible the answer is near that top,
    and the probes halve the range. An infeasible probe raises the bound, a feasible one only
    lowers the top. ``on_bound`` is called with each better bound as soon as it is proved."""
    pool = busiest_pool(problem, pools, head, tail)
    best = lower
    if pool is None:
        return best
    top = upper  # the programme is known (or assumed) feasible at top
    top_is_feasible_programme = False
    while best < top:
        left = deadline - time.perf_counter()
        if left < 1.0:
            break
        step = (top - best) // 2 if top_is_feasible_programme else (top - best) // 8
        probe = best + max(0, step)
        answer = feasible_at(problem, pool, head, tail, probe, left)
        if answer is None:
            break
        if answer:
            top = probe
            top_is_feasible_programme = True
        else:
            best = probe + 1
            if on_bound is not None:
                on_bound(best)
    return best
