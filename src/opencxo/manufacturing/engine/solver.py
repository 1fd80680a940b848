"""CP-SAT model and solve of a :class:`~.model.Problem`.

Model
-----
- A plain job shop (one mode per operation, nothing else) is built by
  :func:`.baseline.build_textbook`: the textbook model itself, without a hint of ours.
- Otherwise each operation has a start variable; each of its modes is an optional fixed-size interval
  on that start with a presence literal, exactly one literal true (an operation with a single
  mode gets a plain fixed-size interval and no literal, so the classic job shop is the
  textbook model). Its end is ``start + Σ duration_m · present_m``.
- ``AddNoOverlap`` per unit over its modes' intervals and its downtimes (fixed intervals).
- Sequence-dependent changeovers: on a unit with a non-zero changeover matrix, an
  ``AddCircuit`` over a depot and the unit's candidate modes: arc ``i → j`` true means ``j``
  directly follows ``i`` and enforces ``start_j ≥ end_i + matrix[fam_i][fam_j]``; the
  self-loop of a mode is its absence. Units without changeovers (every unit of the standard
  instances) get no circuit at all. Arcs that contradict a precedence inside a job are
  left out.
- Pools: units linked by operations that may run on either form a pool; a pool of several
  units gets a redundant ``AddCumulative`` of that capacity over one interval per operation
  (its workload bound, which the optional intervals hide from CP-SAT).
- Job order and cross-job precedences are linear inequalities; release dates, frozen
  operations and the heads and tails of the precedence graph (longest chains of shortest
  durations) narrow the start domains.
- The makespan's lower bound: the longest chain, or the unit-set bound with changeovers and
  maintenance (:func:`_unit_set_bound`; with changeovers also with a window per unit,
  :func:`_unit_windows_bound`), or (except on a plain job shop) the linear relaxation of the
  unit assignment (:mod:`.assignment_bound`), whichever is largest.
- Big models (more than ``BIG_CIRCUITS`` changeover arcs): the makespan is improved by our own
  large-neighbourhood search on small models around the schedule (:mod:`.lns`), not by the
  full model, which CP-SAT barely moves at that size.
- Horizon: with makespan as the only objective (or a greedy schedule without tardiness), the
  makespan of the best greedy schedule (insertion list schedules that respect every
  constraint, with load balancing; see :func:`_greedy_search`), which is also the first
  solution reported, the complete hint, and the answer if CP-SAT finds nothing better in
  time; otherwise a safe bound (latest fixed time + Σ longest duration and changeover of every
  operation + Σ lags), because a schedule of least tardiness may end after the greedy one.

Objective (lexicographic, in two solves)
----------------------------------------
1. minimise the weighted tardiness ``Σ w_j max(0, C_j − d_j)`` (skipped when no job has a due
   date and a positive weight), with at most 75 % of the time limit; proved without a search
   when the greedy schedule has no tardiness;
2. add ``Σ w_j T_j ≤`` the best value found and minimise the makespan, hinted with the
   first solution, for the remaining time.

A weighted sum ``W · tardiness + makespan`` with ``W > horizon`` would also be exactly
lexicographic, but its coefficients are of the order of the horizon squared, which weakens
CP-SAT's linear relaxation and makes the reported gap meaningless for the makespan. Two solves
keep each objective's bound and gap readable; the price is that phase 2 only starts once
phase 1 has proved its optimum or used its share of the time.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from ortools.sat.python import cp_model

from .assignment_bound import assignment_bound
from .baseline import build_textbook, is_plain_job_shop
from .checker import CheckReport, check_schedule
from .lns import improve
from .model import MAX_TIME, Downtime, OpRef, Problem, ScheduledOperation
from .time_indexed_bound import time_indexed_bound

__all__ = ["Improvement", "SolveResult", "Status", "solve"]

Status = Literal["OPTIMAL", "FEASIBLE", "INFEASIBLE", "UNKNOWN", "MODEL_INVALID"]
Phase = Literal["weighted_tardiness", "makespan"]

#: Share of the time limit the tardiness phase may use when it cannot prove its optimum.
TARDINESS_SHARE = 0.75
#: With due dates, the list schedules tried first (see :func:`_greedy`), within
#: ``min(GREEDY_BUDGET_S, GREEDY_SHARE * time limit)`` seconds.
GREEDY_BLENDS = (0.01, 0.02)
GREEDY_BUDGET_S = 8.0
GREEDY_SHARE = 0.15
#: Above this many changeover arcs CP-SAT's presolve does not probe.
BIG_CIRCUITS = 20_000
#: The time-indexed bound's programmes end this long before the time limit (HiGHS may
#: overrun its own limit a little).
PROVER_MARGIN_S = 1.0
#: Load balancing of the list schedules: penalty step per unit of lateness against the pool.
BALANCE_STEP = 0.2


@dataclass(frozen=True)
class Improvement:
    """A better solution found: seconds since the solve started, which objective, its value
    and CP-SAT's best bound at that moment."""

    wall_time_s: float
    phase: Phase
    objective: float
    bound: float


@dataclass(frozen=True)
class SolveResult:
    """The answer of :func:`solve`; never None, whatever happened.

    Attributes
    ----------
    status
        ``OPTIMAL`` (both objectives proved), ``FEASIBLE`` (a schedule, not proved optimal),
        ``INFEASIBLE`` (proved: no schedule exists), ``UNKNOWN`` (no schedule found in time or
        stopped before one), ``MODEL_INVALID`` (the work adds up to more than the solver's
        time range, ``model.MAX_TIME``, said in ``reasons``; otherwise a bug: CP-SAT refused
        the model).
    reasons
        Why it is infeasible (or invalid), in words; empty otherwise.
    objective_name, objective, bound, gap
        The objective that decides the status: the weighted tardiness while it is not proved
        optimal, else the makespan. ``gap = (objective − bound) / max(1, objective)``.
    makespan, makespan_bound
        Latest end, and a proved lower bound on it (given the weighted tardiness found).
    weighted_tardiness, weighted_tardiness_bound
        Σ weight × tardiness and its proved lower bound (0 and 0 without due dates).
    wall_time_s
        Seconds for the whole solve, both phases.
    operations
        Every operation's unit, start and end (empty without a schedule), sorted by job and
        operation.
    improvements
        Each improving solution, in order (what a progress display shows).
    stopped
        The caller's stop flag ended the search.
    """

    status: Status
    reasons: tuple[str, ...]
    objective_name: Phase
    objective: float | None
    bound: float | None
    gap: float | None
    makespan: int | None
    makespan_bound: int | None
    weighted_tardiness: int | None
    weighted_tardiness_bound: int | None
    wall_time_s: float
    operations: tuple[ScheduledOperation, ...]
    improvements: tuple[Improvement, ...] = ()
    stopped: bool = False

    @property
    def has_schedule(self) -> bool:
        return self.status in ("OPTIMAL", "FEASIBLE")


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class _Graph:
    preds: dict[OpRef, list[tuple[OpRef, int]]]
    succs: dict[OpRef, list[tuple[OpRef, int]]]
    order: list[OpRef]  # topological; shorter than the op count when there is a cycle


def _graph(problem: Problem) -> _Graph:
    preds: dict[OpRef, list[tuple[OpRef, int]]] = defaultdict(list)
    succs: dict[OpRef, list[tuple[OpRef, int]]] = defaultdict(list)
    refs = [(j, k) for j, job in enumerate(problem.jobs) for k in range(len(job.operations))]
    for j, job in enumerate(problem.jobs):
        for k in range(1, len(job.operations)):
            preds[(j, k)].append(((j, k - 1), 0))
            succs[(j, k - 1)].append(((j, k), 0))
    for p in problem.precedences:
        preds[p.after].append((p.before, p.min_lag))
        succs[p.before].append((p.after, p.min_lag))
    indegree = {r: len(preds[r]) for r in refs}
    ready = [r for r in refs if indegree[r] == 0]
    order: list[OpRef] = []
    while ready:
        r = ready.pop()
        order.append(r)
        for s, _ in succs[r]:
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    return _Graph(dict(preds), dict(succs), order)


def _cycle(problem: Problem, graph: _Graph) -> list[OpRef]:
    """One cycle of precedences (the graph has one when the topological order is short)."""
    done = set(graph.order)
    colour: dict[OpRef, int] = {}
    for root in ((j, k) for j, job in enumerate(problem.jobs) for k in range(len(job.operations))):
        if root in done or root in colour:
            continue
        stack: list[tuple[OpRef, int]] = [(root, 0)]
        path: list[OpRef] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                colour[node] = 1
                path.append(node)
            nexts = graph.succs.get(node, [])
            if i < len(nexts):
                stack.append((node, i + 1))
                nxt = nexts[i][0]
                if colour.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if nxt not in colour:
                    stack.append((nxt, 0))
            else:
                colour[node] = 2
                path.pop()
    return []


def _infeasibility_reasons(problem: Problem, graph: _Graph) -> list[str]:
    """Reasons found without search: each one alone makes the problem infeasible."""
    reasons: list[str] = []
    for j, job in enumerate(problem.jobs):
        for k, op in enumerate(job.operations):
            if not op.modes:
                reasons.append(f"{problem.op_name((j, k))} has no eligible unit")
    if len(graph.order) < problem.operation_count:
        cycle = _cycle(problem, graph)
        reasons.append(
            "the precedences form a cycle: " + " → ".join(problem.op_name(r) for r in cycle)
        )
    frozen = {f.ref: f for f in problem.frozen}
    for f in problem.frozen:
        name = problem.op_name(f.ref)
        job = problem.jobs[f.job]
        duration = job.operations[f.operation].duration_on(f.unit)
        if duration is None:
            reasons.append(f"{name} is frozen on {problem.unit_name(f.unit)}, not eligible for it")
        elif f.end - f.start != duration:
            reasons.append(
                f"{name} is frozen for {f.end - f.start}, its duration on "
                f"{problem.unit_name(f.unit)} is {duration}"
            )
        if f.start < job.release:
            reasons.append(
                f"{name} is frozen to start at {f.start}, before its job's release {job.release}"
            )
        for d in problem.downtimes:
            if d.unit == f.unit and f.start < d.end and d.start < f.end:
                reasons.append(
                    f"{name} is frozen at [{f.start}, {f.end}) on {problem.unit_name(f.unit)}, "
                    f"overlapping its {d.reason} [{d.start}, {d.end})"
                )
    frozen_list = sorted(problem.frozen, key=lambda f: (f.unit, f.start))
    for a, b in itertools.pairwise(frozen_list):
        if a.unit == b.unit and b.start < a.end:
            reasons.append(
                f"{problem.op_name(a.ref)} and {problem.op_name(b.ref)} are frozen overlapping "
                f"on {problem.unit_name(a.unit)}"
            )
    for after, plist in graph.preds.items():
        for before, lag in plist:
            fa, fb = frozen.get(before), frozen.get(after)
            if fa is not None and fb is not None and fb.start < fa.end + lag:
                reasons.append(
                    f"{problem.op_name(after)} is frozen to start at {fb.start}, before "
                    f"{problem.op_name(before)} (frozen) ends at {fa.end}"
                    + (f" + lag {lag}" if lag else "")
                )
    return reasons


def _max_setup(problem: Problem, unit: int) -> int:
    matrix = problem.changeover_matrix(unit)
    return max((max(row) for row in matrix.matrix), default=0) if matrix is not None else 0


def _heads_tails(
    problem: Problem, graph: _Graph
) -> tuple[dict[OpRef, int], dict[OpRef, int], dict[OpRef, int]]:
    """Earliest starts, least work after each operation, shortest durations."""
    frozen = {f.ref: f for f in problem.frozen}
    mindur = {
        (j, k): min((m.duration for m in op.modes), default=0)
        for j, job in enumerate(problem.jobs)
        for k, op in enumerate(job.operations)
    }
    for ref, f in frozen.items():
        mindur[ref] = f.end - f.start
    head: dict[OpRef, int] = {}
    for r in graph.order:
        h = problem.jobs[r[0]].release
        for p, lag in graph.preds.get(r, []):
            h = max(h, head[p] + mindur[p] + lag)
        if r in frozen:
            h = frozen[r].start
        head[r] = h
    tail: dict[OpRef, int] = {}
    for r in reversed(graph.order):
        tail[r] = max((lag + mindur[s] + tail[s] for s, lag in graph.succs.get(r, [])), default=0)
    return head, tail, mindur


def _pools(problem: Problem) -> list[list[int]]:
    """Units linked by operations that may run on either (union-find over the modes)."""
    parent = list(range(problem.units))

    def find(u: int) -> int:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    for job in problem.jobs:
        for op in job.operations:
            for a, b in itertools.pairwise(op.modes):
                parent[find(a.unit)] = find(b.unit)
    pools: dict[int, list[int]] = defaultdict(list)
    for u in range(problem.units):
        pools[find(u)].append(u)
    return list(pools.values())


def _merged_downtimes(problem: Problem) -> Problem:
    """The problem with each unit's overlapping or touching maintenance windows merged into
    one (a breakdown inside a planned window, say): the same unavailable hours, but fixed
    intervals that overlap would make a unit's no-overlap infeasible, and the bounds would
    count the shared hours twice."""
    by_unit: dict[int, list[Downtime]] = defaultdict(list)
    for d in problem.downtimes:
        by_unit[d.unit].append(d)
    merged: list[Downtime] = []
    for unit in sorted(by_unit):
        windows = sorted(by_unit[unit], key=lambda d: (d.start, d.end))
        current = windows[0]
        for d in windows[1:]:
            if d.start <= current.end:
                reason = (
                    current.reason
                    if d.reason in current.reason
                    else f"{current.reason}; {d.reason}"
                )
                current = Downtime(unit, current.start, max(current.end, d.end), reason)
            else:
                merged.append(current)
                current = d
        merged.append(current)
    if len(merged) == len(problem.downtimes):
        return problem
    return replace(problem, downtimes=tuple(merged))


def _safe_horizon(problem: Problem) -> int:
    """A time no schedule of least tardiness needs to pass: the latest release, frozen end or
    maintenance end, then every operation one after another at its longest with the largest
    changeover before it, and every lag."""
    return (
        max(
            [j.release for j in problem.jobs]
            + [f.end for f in problem.frozen]
            + [d.end for d in problem.downtimes]
        )
        + sum(
            max((m.duration + _max_setup(problem, m.unit) for m in op.modes), default=0)
            for job in problem.jobs
            for op in job.operations
        )
        + sum(p.min_lag for p in problem.precedences)
    )


def _unit_set_bound(
    problem: Problem,
    head: Mapping[OpRef, int],
    tail: Mapping[OpRef, int],
    max_subset_units: int = 8,
) -> int:
    """A lower bound on the makespan from sets of units, changeovers included.

    For a set ``S`` of ``n`` units, the operations that can only run on ``S``, with head
    ``>= a`` and tail ``>= b``, all run inside ``[a, T − b]`` on ``n`` units. Each occupies its
    unit for its duration plus the changeover before it, at least
    ``min over S of (duration + least changeover into its family on that unit)``; the first
    of them on each unit may have its changeover outside the window, so ``n`` times the
    largest such changeover is taken off. Hence
    ``T ≥ a + b + (W − n·c_max) / n``. Changeovers may run during maintenance (only
    operations may not), so the maintenance windows that lie inside ``[a, a + b + P/n]`` count
    with the processing time ``P`` alone: ``T ≥ a + b + (P + downtime) / n``. Maximised over
    ``a``, ``b`` and the sets:
    the operations' own eligible sets, each pool, and (pools of at most ``max_subset_units``
    units) every subset of a pool. Frozen operations count with their unit and duration.
    """
    frozen = {f.ref: f for f in problem.frozen}
    least_in = problem.least_changeovers_in()
    # per operation: eligible units and (unit -> duration + least changeover into it)
    items: list[tuple[OpRef, dict[int, int], dict[int, int]]] = []
    for j, job in enumerate(problem.jobs):
        for k, op in enumerate(job.operations):
            r = (j, k)
            if r in frozen:
                f = frozen[r]
                durations = {f.unit: f.end - f.start}
            else:
                durations = {m.unit: m.duration for m in op.modes}
            if not durations:
                continue
            setups = {u: least_in.get((u, job.family), 0) for u in durations}
            items.append((r, durations, setups))
    sets: set[frozenset[int]] = {frozenset(d) for _, d, _ in items}
    for pool in _pools(problem):
        sets.add(frozenset(pool))
        if 1 < len(pool) <= max_subset_units:
            for n in range(1, len(pool)):
                sets.update(frozenset(c) for c in itertools.combinations(pool, n))
    downs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d in problem.downtimes:
        downs[d.unit].append((d.start, d.end))
    best = 0
    for unit_set in sets:
        chosen = [
            (head[r], tail[r], min(d[u] + st[u] for u in d), max(st.values()), min(d.values()))
            for r, d, st in items
            if unit_set.issuperset(d)
        ]
        if not chosen:
            continue
        n = len(unit_set)
        members = sorted(unit_set)
        eligible = np.array(
            [[u in d for u in members] for _, d, _ in items if unit_set.issuperset(d)], dtype=bool
        )
        heads = np.array([c[0] for c in chosen], dtype=np.int64)
        tails = np.array([c[1] for c in chosen], dtype=np.int64)
        work = np.array([c[2] for c in chosen], dtype=np.int64)
        plain = np.array([c[4] for c in chosen], dtype=np.int64)
        c_max = max(c[3] for c in chosen)
        windows = [w for u in unit_set for w in downs[u]]
        for a in np.unique(heads):
            mask = heads >= a
            order = np.argsort(-tails[mask], kind="stable")
            t_sorted = tails[mask][order]
            w_cum = np.cumsum(work[mask][order])
            # the prefix ending with the last operation of each tail value
            last = np.r_[t_sorted[1:] != t_sorted[:-1], True]
            b = t_sorted[last]
            need = np.maximum(0, w_cum[last] - n * c_max)
            lb = a + b + -(-need // n)
            if windows:
                # a changeover may run during maintenance: then count the processing alone
                p_cum = np.cumsum(plain[mask][order])[last]
                reach = a + b + -(-p_cum // n)
                for _ in range(2 * len(windows) + 2):  # T ≥ reach: windows in [a, reach − b]
                    down = np.zeros_like(lb)
                    for ws, we in windows:
                        down += np.maximum(0, np.minimum(we, reach - b) - np.maximum(ws, a))
                    reach = a + b + -(-(p_cum + down) // n)
                lb = np.maximum(lb, reach)
            if n > 1 and problem.changeovers:
                lb = np.maximum(
                    lb,
                    _unit_windows_bound(
                        heads[mask][order], t_sorted, eligible[mask][order], last,
                        work[mask][order], plain[mask][order], c_max,
                        [downs[u] for u in members],
                    ),
                )  # fmt: skip
            best = max(best, int(lb.max()))
    return best


def _least_t(need: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Per row, the least ``T`` with ``Σ_u max(0, T − s_u) ≥ need`` (``s`` huge for a unit
    that takes no part): that sum is the largest over ``k`` of ``Σ`` over the ``k`` smallest
    ``s_u`` of ``(T − s_u)``, so the answer is the least over ``k`` of
    ``(need + Σ_{i≤k} s_(i)) / k`` (rounded up)."""
    s_sorted = np.sort(s, axis=1)
    k = np.arange(1, s.shape[1] + 1, dtype=np.int64)
    with np.errstate(over="ignore"):
        cand = -(-(need[:, None] + np.cumsum(s_sorted, axis=1)) // k[None, :])
    return np.asarray(cand.min(axis=1))


def _unit_windows_bound(
    heads: np.ndarray,
    tails: np.ndarray,
    eligible: np.ndarray,
    last: np.ndarray,
    work: np.ndarray,
    plain: np.ndarray,
    c_max: int,
    downs: Sequence[Sequence[tuple[int, int]]],
) -> np.ndarray:
    """The unit-set bound with a window per unit (see :func:`_unit_set_bound`).

    The operations (sorted by decreasing tail; each prefix ending at ``last`` is a candidate
    set) that may run on unit ``u`` run inside ``[a_u, T − b_u]``, ``a_u`` the least head and
    ``b_u`` the least tail among them, so ``u`` offers at most ``max(0, T − a_u − b_u)``
    (minus its maintenance inside that window, for the processing alone), plus one changeover
    before ``a_u``. When some units can only take the operations that come early (long tails)
    or late (long heads), this is stronger than one window for all.
    """
    inf = np.int64(1) << np.int64(40)
    a_u = np.minimum.accumulate(np.where(eligible, heads[:, None], inf), axis=0)[last]
    b_u = np.minimum.accumulate(np.where(eligible, tails[:, None], inf), axis=0)[last]
    used = a_u < inf
    n_used = used.sum(axis=1)
    s_u = np.where(used, a_u + b_u, inf)
    need = np.cumsum(work)[last] - n_used * c_max
    lb = np.where(need > 0, _least_t(need, s_u), 0)
    if any(downs):
        p_cum = np.cumsum(plain)[last]
        reach = _least_t(p_cum, s_u)
        for _ in range(2 * sum(len(w) for w in downs) + 2):
            shifted = s_u.copy()
            for i, windows in enumerate(downs):
                for ws, we in windows:
                    overlap = np.maximum(
                        0, np.minimum(we, reach - b_u[:, i]) - np.maximum(ws, a_u[:, i])
                    )
                    shifted[:, i] += np.where(used[:, i], overlap, 0)
            new = _least_t(p_cum, shifted)
            if np.array_equal(new, reach):
                break
            reach = new
        lb = np.maximum(lb, reach)
    return np.asarray(lb)


# --------------------------------------------------------------------------- greedy


def _greedy(
    problem: Problem,
    graph: _Graph,
    due_first: bool = False,
    blend: float | None = None,
    penalty: Mapping[int, int] | None = None,
) -> list[ScheduledOperation] | None:
    """An insertion list schedule: repeatedly place the ready operation (and unit) that can
    finish first (ties: earlier due date; ``due_first``: least latest start first, the due
    dates carried back along the precedences, then earliest finish), in the earliest gap that
    respects downtimes and changeovers to both neighbours. None when it gets stuck (frozen
    operations can block it).

    ``blend``: the key is the finish time plus ``blend`` times the latest start (due dates
    carried back), so a little slack breaks the near ties of earliest finish in favour of the
    urgent operations. Tiny changes of ``blend`` change the schedule a lot (list scheduling is
    chaotic), so :func:`solve` tries a few values and keeps the best.
    """
    inf = 1 << 62
    mindur = {
        (j, k): min((m.duration for m in op.modes), default=0)
        for j, job in enumerate(problem.jobs)
        for k, op in enumerate(job.operations)
    }
    latest_start: dict[OpRef, int] = {}
    for r in reversed(graph.order):
        job = problem.jobs[r[0]]
        finish = job.due if job.due is not None and r[1] == len(job.operations) - 1 else inf
        for nxt, lag in graph.succs.get(r, []):
            finish = min(finish, latest_start[nxt] - lag)
        latest_start[r] = finish - mindur[r] if finish < inf else inf
    # per unit: (start, end, family or -1 for a downtime)
    blocks: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for d in problem.downtimes:
        blocks[d.unit].append((d.start, d.end, -1))
    placed: dict[OpRef, ScheduledOperation] = {}
    for f in problem.frozen:
        placed[f.ref] = f
        blocks[f.unit].append((f.start, f.end, problem.jobs[f.job].family))
    for b in blocks.values():
        b.sort()
    matrices = {c.unit: c for c in problem.changeovers}

    def setup(unit: int, a: int, b: int) -> int:
        m = matrices.get(unit)
        return 0 if m is None or a < 0 or b < 0 else m.time(a, b)

    def slot(unit: int, earliest: int, duration: int, family: int) -> int:
        s = earliest
        moved = True
        while moved:
            moved = False
            for bs, be, bf in blocks[unit]:
                after_gap = setup(unit, bf, family)
                before_gap = setup(unit, family, bf)
                if be + after_gap <= s or s + duration + before_gap <= bs:
                    continue
                s = be + after_gap
                moved = True
        return s

    remaining = {r: len(graph.preds.get(r, [])) for r in graph.order}
    for r in placed:
        for nxt, _ in graph.succs.get(r, []):
            remaining[nxt] -= 1
    ready = [r for r, n in remaining.items() if n == 0 and r not in placed]
    while ready:
        best: tuple[int, int, int, int] | None = None
        chosen = (0, 0, 0)  # start, end, unit of the best
        best_ref: OpRef | None = None
        for r in ready:
            j, k = r
            job = problem.jobs[j]
            est = job.release
            for p, lag in graph.preds.get(r, []):
                if p not in placed:
                    return None
                est = max(est, placed[p].end + lag)
            for mode in job.operations[k].modes:
                at = slot(mode.unit, est, mode.duration, job.family)
                due = job.due if job.due is not None else inf
                if blend is not None:
                    slack = min(latest_start[r], inf >> 1)
                    extra = penalty.get(mode.unit, 0) if penalty else 0
                    key = (round(at + mode.duration + extra + blend * slack), due, at, mode.unit)
                elif due_first:
                    key = (latest_start[r], at + mode.duration, at, mode.unit)
                else:
                    key = (at + mode.duration, due, at, mode.unit)
                if best is None or key < best:
                    best, best_ref = key, r
                    chosen = (at, at + mode.duration, mode.unit)
        if best is None or best_ref is None:
            return None
        start, end, unit = chosen
        placed[best_ref] = ScheduledOperation(best_ref[0], best_ref[1], unit, start, end)
        blocks[unit].append((start, end, problem.jobs[best_ref[0]].family))
        blocks[unit].sort()
        ready.remove(best_ref)
        for nxt, _ in graph.succs.get(best_ref, []):
            remaining[nxt] -= 1
            if remaining[nxt] == 0 and nxt not in placed:
                ready.append(nxt)
    if len(placed) < problem.operation_count:
        return None
    return sorted(placed.values(), key=lambda s: s.ref)


def _greedy_search(
    problem: Problem,
    graph: _Graph,
    deadline: float,
    found: Callable[[list[ScheduledOperation], CheckReport], None],
) -> tuple[list[ScheduledOperation] | None, CheckReport | None]:
    """The best list schedule (least weighted tardiness, then makespan) found before
    ``deadline`` (``time.perf_counter()``; the first rule always runs). ``found`` is called with
    each better one.

    Without due dates: earliest finish only. With due dates: earliest finish with a little
    slack (``GREEDY_BLENDS``), least latest start first, then rounds of load balancing: each
    unit of a pool gets a penalty (added to the finish times it offers) that grows with how
    much later than its pool's average it finished in the previous round, so the flexible
    operations move away from the units that end the schedule.
    """
    best: list[ScheduledOperation] | None = None
    best_check: CheckReport | None = None

    def attempt(ops: list[ScheduledOperation] | None) -> None:
        nonlocal best, best_check
        check = check_schedule(problem, ops) if ops is not None else None
        if ops is None or check is None or not check.ok:
            return  # defensive: never hint or bound from a wrong schedule
        key = (check.weighted_tardiness, check.makespan)
        if best_check is None or key < (best_check.weighted_tardiness, best_check.makespan):
            best, best_check = ops, check
            found(ops, check)

    if not problem.has_due_dates:
        attempt(_greedy(problem, graph))
        return best, best_check
    rules: list[tuple[bool, float | None]] = [
        (False, GREEDY_BLENDS[0]),
        (True, None),
        *((False, b) for b in GREEDY_BLENDS[1:]),
    ]
    for due_first, blend in rules:
        if best is not None and time.perf_counter() > deadline:
            return best, best_check
        attempt(_greedy(problem, graph, due_first, blend))
    pools = [pool for pool in _pools(problem) if len(pool) > 1]
    penalty: dict[int, int] = defaultdict(int)
    last = best
    while pools and last is not None and time.perf_counter() <= deadline:
        ends: dict[int, int] = defaultdict(int)
        for s in last:
            ends[s.unit] = max(ends[s.unit], s.end)
        for pool in pools:
            mean = sum(ends[u] for u in pool) / len(pool)
            for u in pool:
                penalty[u] += round(BALANCE_STEP * (ends[u] - mean))
        last = _greedy(problem, graph, False, GREEDY_BLENDS[0], penalty)
        attempt(last)
    return best, best_check


# --------------------------------------------------------------------------- CP-SAT


@dataclass
class _Vars:
    start: dict[OpRef, cp_model.IntVar]
    end: dict[OpRef, cp_model.LinearExprT]
    present: dict[tuple[OpRef, int], cp_model.IntVar]  # (op, unit) -> literal (multi-mode)
    mode_unit: dict[OpRef, int]  # single-mode ops: their unit
    arcs: dict[int, dict[tuple[int, int], cp_model.IntVar]]  # unit -> (node i, node j) -> lit
    nodes: dict[int, list[OpRef]]  # unit -> op of node i (node 0 is the depot)
    tardiness: list[tuple[int, cp_model.IntVar, int, OpRef]]  # (weight, var, due, last op)
    makespan: cp_model.IntVar
    makespan_lb: int
    weighted_tardiness: cp_model.LinearExprT
    sizes: dict[OpRef, cp_model.IntVar]


def _redundant_cumulatives(
    problem: Problem,
    model: cp_model.CpModel,
    master: dict[OpRef, cp_model.IntervalVar],
    single: dict[OpRef, tuple[int, cp_model.IntervalVar]],
) -> None:
    """Units linked by operations that may run on either form a pool; each pool of several
    units is a cumulative resource of that many units over the operations' own intervals
    (whatever unit they get) and its downtimes. Implied by the per-unit no-overlaps, it gives
    CP-SAT the pool's workload bound that the optional intervals hide. A job shop (one unit
    per operation) has no pool and no such constraint."""
    parent = list(range(problem.units))

    def find(u: int) -> int:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    for job in problem.jobs:
        for op in job.operations:
            for a, b in itertools.pairwise(op.modes):
                parent[find(a.unit)] = find(b.unit)
    pools: dict[int, list[int]] = defaultdict(list)
    for u in range(problem.units):
        pools[find(u)].append(u)
    members: dict[int, list[cp_model.IntervalVar]] = defaultdict(list)
    flexible: dict[int, int] = defaultdict(int)
    for r, interval in master.items():
        root = find(problem.jobs[r[0]].operations[r[1]].modes[0].unit)
        members[root].append(interval)
        flexible[root] += 1
    for unit, interval in single.values():
        members[find(unit)].append(interval)
    for d in problem.downtimes:
        members[find(d.unit)].append(
            model.new_fixed_size_interval_var(d.start, d.end - d.start, f"pool_down_u{d.unit}")
        )
    for root, units in pools.items():
        if len(units) > 1 and flexible[root] and len(members[root]) > len(units):
            model.add_cumulative(members[root], [1] * len(members[root]), len(units))


def _makespan_lb(problem: Problem, graph: _Graph) -> int:
    """The largest of the longest chain of shortest durations, the unit-set bound and (except
    on a plain job shop, where it adds nothing to CP-SAT's own) the assignment bound."""
    problem = _merged_downtimes(problem)  # (solve's already is) no window counted twice
    head, tail, mindur = _heads_tails(problem, graph)
    static = max(
        max((head[r] + mindur[r] + tail[r] for r in graph.order), default=0),
        _unit_set_bound(problem, head, tail),
    )
    if is_plain_job_shop(problem):
        return static
    return assignment_bound(problem, head, tail, static)


def _tardiness_lb(problem: Problem, graph: _Graph) -> int:
    """Each job's tardiness if its last operation ended at its earliest (the release and the
    shortest chain before it), weighted: a batch that cannot be on time even alone is late by
    at least that much in every schedule."""
    head, _, mindur = _heads_tails(problem, graph)
    total = 0
    for j, job in enumerate(problem.jobs):
        if job.due is not None:
            last = (j, len(job.operations) - 1)
            total += job.weight * max(0, head[last] + mindur[last] - job.due)
    return total


def _build(
    problem: Problem, graph: _Graph, horizon: int, model: cp_model.CpModel, makespan_lb: int
) -> _Vars:
    head, tail, mindur = _heads_tails(problem, graph)
    frozen = {f.ref: f for f in problem.frozen}
    start: dict[OpRef, cp_model.IntVar] = {}
    end: dict[OpRef, cp_model.LinearExprT] = {}
    present: dict[tuple[OpRef, int], cp_model.IntVar] = {}
    mode_unit: dict[OpRef, int] = {}
    intervals: dict[int, list[cp_model.IntervalVar]] = defaultdict(list)
    # one interval per multi-mode operation whatever its unit (for the redundant cumulative)
    master: dict[OpRef, cp_model.IntervalVar] = {}
    sizes: dict[OpRef, cp_model.IntVar] = {}
    fixed_master: dict[OpRef, tuple[int, cp_model.IntervalVar]] = {}  # one unit: (unit, interval)
    # per unit: (op, duration, presence literal or None when certain)
    candidates: dict[int, list[tuple[OpRef, int, cp_model.IntVar | None]]] = defaultdict(list)
    window: dict[OpRef, tuple[int, int]] = {f.ref: (f.start, f.start) for f in problem.frozen}
    for j, job in enumerate(problem.jobs):
        for k, op in enumerate(job.operations):
            r = (j, k)
            name = f"j{j}o{k}"
            if r in frozen:
                f = frozen[r]
                s = model.new_constant(f.start)
                start[r] = s
                end[r] = f.end
                mode_unit[r] = f.unit
                fixed = model.new_fixed_size_interval_var(f.start, f.end - f.start, f"fixed_{name}")
                intervals[f.unit].append(fixed)
                fixed_master[r] = (f.unit, fixed)
                candidates[f.unit].append((r, f.end - f.start, None))
                continue
            lo = head[r]
            hi = max(lo, horizon - mindur[r] - tail[r])
            window[r] = (lo, hi)
            s = model.new_int_var(lo, hi, f"s_{name}")
            start[r] = s
            if len(op.modes) == 1:
                mode = op.modes[0]
                mode_unit[r] = mode.unit
                single = model.new_fixed_size_interval_var(s, mode.duration, f"i_{name}")
                intervals[mode.unit].append(single)
                fixed_master[r] = (mode.unit, single)
                candidates[mode.unit].append((r, mode.duration, None))
                end[r] = s + mode.duration
                continue
            lits = []
            for mode in op.modes:
                lit = model.new_bool_var(f"p_{name}_u{mode.unit}")
                present[(r, mode.unit)] = lit
                lits.append(lit)
                intervals[mode.unit].append(
                    model.new_optional_fixed_size_interval_var(
                        s, mode.duration, lit, f"i_{name}_u{mode.unit}"
                    )
                )
                candidates[mode.unit].append((r, mode.duration, lit))
            model.add_exactly_one(lits)
            durations = [m.duration for m in op.modes]
            e = model.new_int_var(lo + min(durations), hi + max(durations), f"e_{name}")
            size = model.new_int_var_from_domain(
                cp_model.Domain.from_values(sorted(set(durations))), f"d_{name}"
            )
            model.add(size == sum(m.duration * lit for m, lit in zip(op.modes, lits, strict=True)))
            model.add(e == s + size)
            end[r] = e
            master[r] = model.new_interval_var(s, size, e, f"m_{name}")
            sizes[r] = size
    for d in problem.downtimes:
        intervals[d.unit].append(
            model.new_fixed_size_interval_var(d.start, d.end - d.start, f"down_u{d.unit}")
        )
    _redundant_cumulatives(problem, model, master, fixed_master)
    for unit_intervals in intervals.values():
        if len(unit_intervals) > 1:
            model.add_no_overlap(unit_intervals)
    for after, plist in graph.preds.items():
        for before, lag in plist:
            model.add(start[after] >= end[before] + lag)
    # changeovers: a circuit per unit whose matrix is not all zero
    arcs_by_unit: dict[int, dict[tuple[int, int], cp_model.IntVar]] = {}
    nodes_by_unit: dict[int, list[OpRef]] = {}
    for c in problem.changeovers:
        cand = candidates.get(c.unit, [])
        if not cand or _max_setup(problem, c.unit) == 0:
            continue
        arcs: dict[tuple[int, int], cp_model.IntVar] = {}
        arc_list: list[tuple[int, int, cp_model.LiteralT]] = []
        empty = model.new_bool_var(f"empty_u{c.unit}")
        arcs[(0, 0)] = empty
        arc_list.append((0, 0, empty))
        for i, (ri, dur_i, lit_i) in enumerate(cand, start=1):
            first = model.new_bool_var(f"first_u{c.unit}_{i}")
            last = model.new_bool_var(f"last_u{c.unit}_{i}")
            arcs[(0, i)] = first
            arcs[(i, 0)] = last
            arc_list += [(0, i, first), (i, 0, last)]
            if lit_i is not None:
                arc_list.append((i, i, ~lit_i))
            fam_i = problem.jobs[ri[0]].family
            for jn, (rj, _, _) in enumerate(cand, start=1):
                if jn == i or (rj[0] == ri[0] and rj[1] < ri[1]):
                    continue  # same op, or against the job's order
                gap = c.time(fam_i, problem.jobs[rj[0]].family)
                if window[ri][0] + dur_i + gap > window[rj][1]:
                    continue  # j cannot start late enough to follow i
                lit = model.new_bool_var(f"arc_u{c.unit}_{i}_{jn}")
                arcs[(i, jn)] = lit
                arc_list.append((i, jn, lit))
                model.add(start[rj] >= end[ri] + gap).only_enforce_if(lit)
        model.add_circuit(arc_list)
        arcs_by_unit[c.unit] = arcs
        nodes_by_unit[c.unit] = [r for r, _, _ in cand]
    # the static bound goes into the model only where CP-SAT cannot see it (changeovers); on a
    # flexible job shop the pool cumulatives give CP-SAT as much, and the model stays as it was
    path_lb = max((head[r] + mindur[r] + tail[r] for r in graph.order), default=0)
    lb = min(horizon, makespan_lb if problem.changeovers else path_lb)
    makespan = model.new_int_var(lb, horizon, "makespan")
    for j, job in enumerate(problem.jobs):
        model.add(makespan >= end[(j, len(job.operations) - 1)])
    tardiness: list[tuple[int, cp_model.IntVar, int, OpRef]] = []
    for j, job in enumerate(problem.jobs):
        if job.due is None or job.weight == 0:
            continue
        last_op: OpRef = (j, len(job.operations) - 1)
        t = model.new_int_var(0, max(0, horizon - job.due), f"t_{j}")
        model.add(t >= end[last_op] - job.due)
        tardiness.append((job.weight, t, job.due, last_op))
    weighted = sum(w * t for w, t, _, _ in tardiness) if tardiness else 0
    return _Vars(
        start, end, present, mode_unit, arcs_by_unit, nodes_by_unit, tardiness, makespan, lb,
        weighted, sizes,
    )  # fmt: skip


def _build_plain(problem: Problem, model: cp_model.CpModel, makespan_lb: int) -> _Vars:
    """A plain job shop: the textbook model itself (:func:`.baseline.build_textbook`)."""
    start, end, makespan = build_textbook(problem, model)
    mode_unit = {
        (j, k): op.modes[0].unit
        for j, job in enumerate(problem.jobs)
        for k, op in enumerate(job.operations)
    }
    ends: dict[OpRef, cp_model.LinearExprT] = dict(end)
    # makespan_lb is only reported (the model is left as the textbook has it)
    return _Vars(start, ends, {}, mode_unit, {}, {}, [], makespan, makespan_lb, 0, {})


def _hint(
    problem: Problem, model: cp_model.CpModel, v: _Vars, ops: Sequence[ScheduledOperation]
) -> None:
    """Hint every variable from ``ops`` (the ones it does not cover stay unhinted)."""
    model.clear_hints()  # type: ignore[no-untyped-call]
    by_ref = {s.ref: s for s in ops}
    frozen = {f.ref for f in problem.frozen}
    for r, var in v.start.items():
        s = by_ref.get(r)
        if s is not None and r not in frozen:
            model.add_hint(var, s.start)
    for (r, unit), lit in v.present.items():
        s = by_ref.get(r)
        if s is not None:
            model.add_hint(lit, s.unit == unit)
    for r, e in v.end.items():
        s = by_ref.get(r)
        if s is not None and isinstance(e, cp_model.IntVar):
            model.add_hint(e, s.end)
            if r in v.sizes:
                model.add_hint(v.sizes[r], s.end - s.start)
    for unit, arcs in v.arcs.items():
        nodes = v.nodes[unit]
        index = {r: i for i, r in enumerate(nodes, start=1)}
        seq = sorted(
            (by_ref[r] for r in nodes if r in by_ref and by_ref[r].unit == unit),
            key=lambda s: (s.start, s.end),
        )
        path = [0, *(index[s.ref] for s in seq), 0]
        chosen = set(itertools.pairwise(path))
        for key, lit in arcs.items():
            model.add_hint(lit, key in chosen)
    if len(by_ref) == problem.operation_count:
        model.add_hint(v.makespan, max(s.end for s in ops))
        for _, t, due, last in v.tardiness:
            model.add_hint(t, max(0, by_ref[last].end - due))


class _Callback(cp_model.CpSolverSolutionCallback):
    def __init__(
        self,
        phase: Phase,
        t0: float,
        improvements: list[Improvement],
        on_improvement: Callable[[Improvement], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        super().__init__()
        self.phase: Phase = phase
        self.t0 = t0
        self.improvements = improvements
        self.on_improvement = on_improvement
        self.should_stop = should_stop
        self.stopped = False

    def on_solution_callback(self) -> None:
        event = Improvement(
            round(time.perf_counter() - self.t0, 4),
            self.phase,
            self.objective_value,
            self.best_objective_bound,
        )
        self.improvements.append(event)
        if self.on_improvement is not None:
            self.on_improvement(event)
        if self.should_stop is not None and self.should_stop():
            self.stopped = True
            self.stop_search()


_STATUS: dict[object, Status] = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.UNKNOWN: "UNKNOWN",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
}


def _run(
    model: cp_model.CpModel,
    callback: _Callback,
    time_limit_s: float,
    workers: int,
    seed: int,
    log: bool,
    extra: Mapping[str, object],
) -> tuple[Status, cp_model.CpSolver, bool]:
    solver = cp_model.CpSolver()
    for key, value in extra.items():
        setattr(solver.parameters, key, value)
    solver.parameters.max_time_in_seconds = max(0.01, time_limit_s)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    solver.parameters.log_search_progress = log
    done = threading.Event()
    watcher_stopped = threading.Event()
    should_stop = callback.should_stop
    watcher = None
    if should_stop is not None:

        def watch() -> None:
            while not done.wait(0.05):
                if should_stop():
                    watcher_stopped.set()
                    solver.stop_search()
                    return

        watcher = threading.Thread(target=watch, name="cp-sat-stop", daemon=True)
        watcher.start()
    try:
        status = solver.solve(model, callback)
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    return _STATUS.get(status, "UNKNOWN"), solver, callback.stopped or watcher_stopped.is_set()


def _extract(problem: Problem, v: _Vars, solver: cp_model.CpSolver) -> list[ScheduledOperation]:
    out = []
    for j, job in enumerate(problem.jobs):
        for k, op in enumerate(job.operations):
            r = (j, k)
            s = int(solver.value(v.start[r]))
            if r in v.mode_unit:
                unit = v.mode_unit[r]
            else:
                unit = next(
                    m.unit for m in op.modes if solver.boolean_value(v.present[(r, m.unit)])
                )
            out.append(ScheduledOperation(j, k, unit, s, int(solver.value(v.end[r]))))
    return out


def _gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None:
        return None
    return max(0.0, (objective - bound) / max(1.0, abs(objective)))


def solve(
    problem: Problem,
    *,
    time_limit_s: float = 60.0,
    workers: int = 2,
    seed: int = 0,
    hint: Sequence[ScheduledOperation] = (),
    on_improvement: Callable[[Improvement], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    log_search: bool = False,
    parameters: Mapping[str, object] | None = None,
) -> SolveResult:
    """Schedule ``problem``: least weighted tardiness, then least makespan.

    Parameters
    ----------
    problem
        What to schedule.
    time_limit_s
        Wall-clock limit for both phases together (> 0).
    workers
        CP-SAT workers (threads), >= 1.
    seed
        CP-SAT's random seed (with several workers the search is still not deterministic).
    hint
        A previous schedule (warm start): CP-SAT starts from it and repairs what no longer
        fits; may be partial. Without one the greedy schedule is the hint.
    on_improvement
        Called (in the solver's thread) with each improving solution.
    should_stop
        Polled every 50 ms and on each solution; when it returns True the search stops and the
        best schedule so far is returned (``stopped`` set).
    log_search
        Print CP-SAT's search log.
    parameters
        Further CP-SAT parameters by name (``SatParameters`` fields), for experiments.

    Returns
    -------
    SolveResult

    Raises
    ------
    ModelError
        ``time_limit_s`` or ``workers`` out of range, or an unknown CP-SAT parameter.

    Examples
    --------
    >>> from opencxo.manufacturing.engine import Job, Mode, Operation, Problem, solve
    >>> p = Problem(2, (Job((Operation((Mode(0, 3),)), Operation((Mode(1, 2),)))),
    ...                 Job((Operation((Mode(1, 4),)), Operation((Mode(0, 1),))))))
    >>> r = solve(p, time_limit_s=5, workers=1)
    >>> r.status, r.makespan
    ('OPTIMAL', 5)
    """
    from .model import ModelError

    if not isinstance(time_limit_s, int | float) or not 0 < time_limit_s <= 86_400 * 7:
        raise ModelError("time_limit_s", time_limit_s, "must be in (0, 604800]", "solve")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise ModelError("workers", workers, "must be an integer in 1..256", "solve")
    extra = dict(parameters or {})
    known = cp_model.CpSolver().parameters
    for pname, value in extra.items():
        try:
            setattr(known, pname, value)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ModelError(
                f"parameters[{pname!r}]", value, f"is refused by CP-SAT ({exc})", "solve"
            ) from None
    t0 = time.perf_counter()
    problem = _merged_downtimes(problem)
    graph = _graph(problem)
    phase1: Phase = "weighted_tardiness" if problem.has_due_dates else "makespan"

    def result(status: Status, reasons: Sequence[str] = (), stopped: bool = False) -> SolveResult:
        """A result without a schedule."""
        return SolveResult(
            status=status, reasons=tuple(reasons), objective_name=phase1, objective=None,
            bound=None, gap=None, makespan=None, makespan_bound=None, weighted_tardiness=None,
            weighted_tardiness_bound=None, wall_time_s=round(time.perf_counter() - t0, 4),
            operations=(), improvements=tuple(improvements), stopped=stopped,
        )  # fmt: skip

    improvements: list[Improvement] = []
    reasons = _infeasibility_reasons(problem, graph)
    if reasons:
        return result("INFEASIBLE", reasons)
    if problem.operation_count == 0:
        return SolveResult("OPTIMAL", (), phase1, 0, 0, 0.0, 0, 0, 0, 0, 0.0, ())
    safe = _safe_horizon(problem)
    if safe > MAX_TIME:
        # no schedule could be stored: a time past MAX_TIME is refused (ScheduledOperation)
        return result(
            "MODEL_INVALID",
            [
                f"the work to schedule (releases, durations, changeovers and lags) adds up to "
                f"{safe} time units, more than the {MAX_TIME} the solver handles: schedule "
                "fewer batches at once or use a coarser time unit"
            ],
        )
    static_lb = _makespan_lb(problem, graph)
    tardiness_lb = _tardiness_lb(problem, graph)

    def found(ops: list[ScheduledOperation], check: CheckReport) -> None:
        # each better list schedule is reported at once, before the model is even built
        event = Improvement(
            round(time.perf_counter() - t0, 4),
            phase1,
            float(check.weighted_tardiness if phase1 == "weighted_tardiness" else check.makespan),
            float(
                min(tardiness_lb, check.weighted_tardiness)
                if phase1 == "weighted_tardiness"
                else min(static_lb, check.makespan)
            ),
        )
        improvements.append(event)
        if on_improvement is not None:
            on_improvement(event)

    # the budget counts from here: the static bounds took their time already (seconds on a
    # big plant), and the LNS's result depends on the list schedule it starts from
    greedy_budget = min(GREEDY_BUDGET_S, GREEDY_SHARE * time_limit_s)
    greedy, greedy_check = _greedy_search(
        problem, graph, time.perf_counter() + greedy_budget, found
    )
    # makespan only, or the greedy schedule's tardiness at its lower bound (so the tardiness
    # phase is proved without a search and the makespan phase keeps it there): no optimum
    # ends after the greedy schedule; otherwise a schedule of least tardiness may end later
    tardiness_proved = greedy_check is not None and greedy_check.weighted_tardiness <= tardiness_lb
    horizon = (
        max(s.end for s in greedy)
        if greedy is not None and (phase1 == "makespan" or tardiness_proved)
        else safe
    )
    makespan_lb = min(horizon, static_lb)
    model = cp_model.CpModel()
    if is_plain_job_shop(problem):
        # the textbook model, variable for variable, and no hint of our own: on a classic job
        # shop our time to optimal is the yardstick's (the greedy schedule is still the first
        # answer and the fallback)
        v = _build_plain(problem, model, makespan_lb)
        start_hint = list(hint)
    else:
        v = _build(problem, graph, horizon, model, makespan_lb)
        start_hint = list(hint) if hint else (greedy or [])
    if start_hint:
        _hint(problem, model, v, start_hint)
    if (
        sum(len(a) for a in v.arcs.values()) > BIG_CIRCUITS
        and "cp_model_probing_level" not in extra
    ):
        # probing tens of thousands of arc literals costs CP-SAT's presolve many seconds (three
        # rounds of ~7 s on the plant) for little: the search starts from the hint sooner
        extra["cp_model_probing_level"] = 0
    if phase1 == "weighted_tardiness":
        # a proved bound: CP-SAT stops as soon as a schedule reaches it
        model.add(v.weighted_tardiness >= tardiness_lb)
        model.minimize(v.weighted_tardiness)
        budget = time_limit_s * TARDINESS_SHARE
    else:
        model.minimize(v.makespan)
        budget = time_limit_s
    solver: cp_model.CpSolver | None = None
    status: Status
    # a big model (changeover circuits of tens of thousands of arcs): the makespan is improved
    # by our own LNS on small models around the schedule (lns.py), not by the full model
    big = sum(len(a) for a in v.arcs.values()) > BIG_CIRCUITS

    def lns(
        ops: list[ScheduledOperation], wt_cap: int | None
    ) -> tuple[list[ScheduledOperation], int, bool, int]:
        """Our LNS from ``ops``; meanwhile a thread proves what it can of the time-indexed bound
        (HiGHS releases the GIL). Returns the schedule, its makespan, stopped, the bound."""

        def run(
            sub: cp_model.CpModel, limit: float, sub_seed: int
        ) -> tuple[str, cp_model.CpSolver | None, bool]:
            cb = _Callback("makespan", t0, [], None, should_stop)
            return _run(sub, cb, limit, workers, sub_seed, False, dict(parameters or {}))

        proved = [makespan_lb]  # raised by the prover thread as it proves more

        def report(makespan: int) -> None:
            # the bound proved so far, so a progress chart shows the gap closing from both sides
            event = Improvement(
                round(time.perf_counter() - t0, 4), "makespan", float(makespan), float(proved[0])
            )
            improvements.append(event)
            if on_improvement is not None:
                on_improvement(event)

        if len(hint) == problem.operation_count:
            # the caller's warm start, when it is complete, valid and better, is where to start
            own = sorted(hint, key=lambda s: s.ref)
            check = check_schedule(problem, own)
            if (
                check.ok
                and (wt_cap is None or check.weighted_tardiness <= wt_cap)
                and check.makespan < max(s.end for s in ops)
            ):
                ops = own
                report(check.makespan)
        head, tail, _ = _heads_tails(problem, graph)
        pools = _pools(problem)
        prover = threading.Thread(
            target=time_indexed_bound,
            args=(problem, pools, head, tail, makespan_lb, max(s.end for s in ops)),
            kwargs={
                "deadline": t0 + time_limit_s - PROVER_MARGIN_S,
                "on_bound": lambda b: proved.__setitem__(0, b),
            },
            # not a daemon: a stopped solve returns at once and the programme in progress ends
            # by its own time limit (a daemon thread still inside HiGHS when the interpreter
            # exits aborts the process)
            daemon=False,
        )
        prover.start()
        out = improve(
            problem, graph.preds, head, ops, wt_cap, makespan_lb, t0 + time_limit_s,
            workers=workers, seed=seed, pools=pools, run=run, report=report,
            should_stop=should_stop, proved=lambda: proved[0],
        )  # fmt: skip
        if not out.stopped and out.makespan > proved[0]:
            prover.join()  # HiGHS keeps to the time limit it was given
        return out.operations, out.makespan, out.stopped, proved[0]

    if phase1 == "weighted_tardiness" and tardiness_proved:
        # the greedy schedule is no later than every batch must be: phase 1 is proved optimal
        # without a search
        status, stopped = "OPTIMAL", False
    elif phase1 == "makespan" and big and greedy is not None:
        ops, makespan, stopped, proved = lns(greedy, None)
        bound = min(makespan, proved)
        return SolveResult(
            "OPTIMAL" if makespan <= bound else "FEASIBLE", (), "makespan", float(makespan),
            float(bound), _gap(makespan, bound), makespan, bound, 0, 0,
            round(time.perf_counter() - t0, 4), tuple(ops), tuple(improvements), stopped,
        )  # fmt: skip
    else:
        cb = _Callback(phase1, t0, improvements, on_improvement, should_stop)
        status, solver, stopped = _run(model, cb, budget, workers, seed, log_search, extra)
    if status == "MODEL_INVALID":
        return result("MODEL_INVALID", [model.validate() or "CP-SAT refused the model"])
    if status == "INFEASIBLE":
        return result(
            "INFEASIBLE",
            [
                "no schedule meets every constraint (CP-SAT proved it): check the frozen "
                "operations, cross-job precedences with lags, and downtimes that leave "
                "no room before a frozen operation"
            ],
            stopped=stopped,
        )
    if status == "UNKNOWN" and greedy is None:
        return result("UNKNOWN", [], stopped=stopped)
    if solver is None or status == "UNKNOWN":  # the greedy schedule stands
        assert greedy is not None
        assert greedy_check is not None
        if solver is not None:
            status = "FEASIBLE"
        ops = greedy
        wt = greedy_check.weighted_tardiness
        first_bound = tardiness_lb if v.tardiness else v.makespan_lb
    else:
        ops = _extract(problem, v, solver)
        wt = round(solver.value(v.weighted_tardiness)) if v.tardiness else 0
        first_bound = int(solver.best_objective_bound)
        if v.tardiness:
            first_bound = max(first_bound, tardiness_lb)
    if phase1 == "makespan":
        makespan = max(s.end for s in ops)
        bound = max(first_bound, makespan_lb)  # both proved
        return SolveResult(
            status, (), "makespan", float(makespan), float(bound), _gap(makespan, bound),
            makespan, bound, 0, 0, round(time.perf_counter() - t0, 4), tuple(ops),
            tuple(improvements), stopped,
        )  # fmt: skip
    wt_bound = first_bound
    wt_optimal = status == "OPTIMAL"
    makespan = max(s.end for s in ops)
    ms_bound = v.makespan_lb
    remaining = time_limit_s - (time.perf_counter() - t0)
    final_status: Status = "FEASIBLE"
    if not stopped and remaining > 0.05 and big:
        ops, makespan, stopped, proved = lns(ops, wt)
        ms_bound = min(makespan, proved)
        if wt_optimal and makespan <= ms_bound:
            final_status = "OPTIMAL"
    elif not stopped and remaining > 0.05:
        model.add(v.weighted_tardiness <= wt)
        model.minimize(v.makespan)
        _hint(problem, model, v, ops)
        cb2 = _Callback("makespan", t0, improvements, on_improvement, should_stop)
        status2, solver2, stopped = _run(model, cb2, remaining, workers, seed, log_search, extra)
        if status2 in ("OPTIMAL", "FEASIBLE"):
            ops = _extract(problem, v, solver2)
            makespan = max(s.end for s in ops)
            ms_bound = max(int(solver2.best_objective_bound), makespan_lb)
            if status2 == "OPTIMAL" and wt_optimal:
                final_status = "OPTIMAL"
    name: Phase = "makespan" if wt_optimal else "weighted_tardiness"
    objective, bound = (makespan, ms_bound) if wt_optimal else (wt, wt_bound)
    return SolveResult(
        final_status, (), name, float(objective), float(bound), _gap(objective, bound),
        makespan, ms_bound, wt, wt_bound, round(time.perf_counter() - t0, 4), tuple(ops),
        tuple(improvements), stopped,
    )  # fmt: skip
