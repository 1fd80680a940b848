"""A makespan lower bound from a linear relaxation of the unit assignment.

The unit-set bound (``solver._unit_set_bound``) gives every operation of a set of units its
*shortest* duration there, as if each could run on its fastest unit; on a plant where the fast
unit of a class cannot take everything, the work that must go to slower units is not counted.
Here the assignment is a variable: ``x[o, u] ≥ 0`` is the share of operation ``o`` run on unit
``u``, ``Σ_u x[o, u] = 1``. For each unit ``u`` and thresholds ``a`` (a head) and ``b`` (a
tail), the operations with head ``≥ a`` and tail ``≥ b`` that run on ``u`` all lie inside
``[a, T − b]``, so

- ``Σ (duration + least changeover into its product on u) · x ≤ T − a − b + c_max`` (the
  first of them may have its changeover before ``a``: ``c_max`` is the largest of those
  changeovers), and
- ``Σ duration · x ≤ T − a − b − (maintenance of u inside [a, T − b])`` (a changeover may run
  during maintenance, an operation may not).

Every schedule is a 0/1 point of this linear programme, so its least ``T`` (HiGHS, rounded up)
is a lower bound on the makespan. The maintenance term depends on ``T``: it is computed at a
``T`` known to be a lower bound and the programme re-solved with the larger value until it is
stable, so it never counts maintenance the schedule could avoid.

On the benchmark's plant it is 372 h where the unit-set and window bounds give 360 h: the
dryers' fast unit cannot dry both the intermediates and the APIs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

import numpy as np
from scipy import optimize, sparse

from .model import OpRef, Problem

__all__ = ["assignment_bound"]

#: Thresholds per unit and axis (heads, tails): all distinct values up to this many, else
#: this many quantiles. 48 × 48 keeps the plant's programme near 10,000 rows (about 1 s).
MAX_CUTS = 48
#: Skip the programme when it would have more non-zeros than this (a bound, not a must).
MAX_NONZEROS = 3_000_000


def assignment_bound(
    problem: Problem,
    head: Mapping[OpRef, int],
    tail: Mapping[OpRef, int],
    at_least: int = 0,
) -> int:
    """The least makespan of the assignment relaxation (module docstring), or ``at_least``
    when that is larger or the programme cannot be solved. ``head`` and ``tail`` are valid
    earliest starts and least work after each operation; ``at_least`` a valid lower bound."""
    frozen = {f.ref: f for f in problem.frozen}
    least_in = problem.least_changeovers_in()
    # one column per (operation, unit it may run on)
    col_op: list[int] = []
    col_unit: list[int] = []
    col_plain: list[int] = []
    col_setup: list[int] = []
    col_head: list[int] = []
    col_tail: list[int] = []
    op_index = 0
    for j, job in enumerate(problem.jobs):
        for k, op in enumerate(job.operations):
            r = (j, k)
            if r in frozen:
                modes = [(frozen[r].unit, frozen[r].end - frozen[r].start)]
            else:
                modes = [(m.unit, m.duration) for m in op.modes]
            if not modes:
                continue
            for unit, duration in modes:
                col_op.append(op_index)
                col_unit.append(unit)
                col_plain.append(duration)
                col_setup.append(least_in.get((unit, job.family), 0))
                col_head.append(head[r])
                col_tail.append(tail[r])
            op_index += 1
    if not col_op:
        return at_least
    units = np.asarray(col_unit, dtype=np.int64)
    plain = np.asarray(col_plain, dtype=np.float64)
    setup = np.asarray(col_setup, dtype=np.float64)
    heads = np.asarray(col_head, dtype=np.int64)
    tails = np.asarray(col_tail, dtype=np.int64)
    downs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d in problem.downtimes:
        downs[d.unit].append((d.start, d.end))

    rows: list[np.ndarray] = []  # column indices of each window's operations
    work_rhs: list[float] = []  # −a − b + c_max
    windows: list[tuple[int, int, int]] = []  # (unit, a, b) of each row
    nonzeros = 0
    for unit in np.unique(units):
        on_unit = np.flatnonzero(units == unit)
        seen: set[bytes] = set()
        for a in _cuts(heads[on_unit]):
            by_head = on_unit[heads[on_unit] >= a]
            for b in _cuts(tails[by_head])[::-1]:  # largest tail first: the smallest sets
                members = by_head[tails[by_head] >= b]
                key = members.tobytes()
                if key in seen:  # the same operations with a smaller a + b: weaker
                    continue
                seen.add(key)
                rows.append(members)
                work_rhs.append(float(-a - b + setup[members].max()))
                windows.append((int(unit), int(a), int(b)))
                nonzeros += 2 * len(members)
        if nonzeros > MAX_NONZEROS:
            return at_least
    n_cols = len(col_op)
    n_rows = len(rows)
    row_index = np.concatenate([np.full(len(m), i) for i, m in enumerate(rows)])
    col_index = np.concatenate(rows)
    t_column = np.full(n_rows, n_cols)
    minus_one = -np.ones(n_rows)
    work = sparse.csr_matrix(
        (
            np.concatenate([(plain + setup)[col_index], minus_one]),
            (np.concatenate([row_index, np.arange(n_rows)]), np.concatenate([col_index, t_column])),
        ),
        shape=(n_rows, n_cols + 1),
    )
    processing = sparse.csr_matrix(
        (
            np.concatenate([plain[col_index], minus_one]),
            (np.concatenate([row_index, np.arange(n_rows)]), np.concatenate([col_index, t_column])),
        ),
        shape=(n_rows, n_cols + 1),
    )
    a_ub = sparse.vstack([work, processing], format="csr")
    a_eq = sparse.csr_matrix(
        (np.ones(n_cols), (np.asarray(col_op), np.arange(n_cols))),
        shape=(op_index, n_cols + 1),
    )
    b_eq = np.ones(op_index)
    objective = np.zeros(n_cols + 1)
    objective[n_cols] = 1.0
    bounds = [(0.0, 1.0)] * n_cols + [(0.0, None)]
    best = at_least
    guess = at_least
    for _ in range(2 * len(problem.downtimes) + 2):
        processing_rhs = [
            float(-a - b - _downtime_inside(downs[unit], a, guess - b)) for unit, a, b in windows
        ]
        solution = optimize.linprog(
            objective,
            A_ub=a_ub,
            b_ub=np.asarray(work_rhs + processing_rhs),
            A_eq=a_eq,
            b_eq=b_eq,
            bounds=bounds,
            method="highs",
        )
        if solution.status != 0:
            return best
        value = math.ceil(float(solution.fun) - 1e-6)
        best = max(best, value)
        if value <= guess or not problem.downtimes:
            return best
        guess = value
    return best


def _cuts(values: np.ndarray) -> np.ndarray:
    distinct = np.unique(values)
    if len(distinct) <= MAX_CUTS:
        return distinct
    return np.unique(np.quantile(values, np.linspace(0.0, 1.0, MAX_CUTS), method="lower"))


def _downtime_inside(windows: list[tuple[int, int]], start: int, end: int) -> int:
    return sum(max(0, min(we, end) - max(ws, start)) for ws, we in windows)
