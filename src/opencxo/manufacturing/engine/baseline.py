"""The textbook CP-SAT job-shop model: the benchmark's yardstick, and what the solver builds
for a plain job shop (:func:`build_textbook`), so that the two are the same model.

One interval per operation, ``AddNoOverlap`` per machine, ``start[j, k+1] >= end[j, k]``,
makespan = ``AddMaxEquality`` over the jobs' last ends, horizon = sum of all durations, no
hint, no tuning: the model of the OR-Tools documentation's job-shop example, written here
from its description. Plain job shops only (one mode per operation, nothing else).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from .model import ModelError, Problem

__all__ = ["BaselineResult", "build_textbook", "is_plain_job_shop", "solve_textbook"]


@dataclass(frozen=True)
class BaselineResult:
    """Status name, makespan and bound (None without a solution), wall time in seconds."""

    status: str
    makespan: int | None
    bound: int | None
    wall_time_s: float


def is_plain_job_shop(problem: Problem) -> bool:
    """One mode per operation and nothing else: no precedences across jobs, changeovers,
    downtimes, frozen operations, release or due dates."""
    return (
        not problem.precedences
        and not problem.changeovers
        and not problem.downtimes
        and not problem.frozen
        and all(job.release == 0 and job.due is None for job in problem.jobs)
        and all(len(op.modes) == 1 for job in problem.jobs for op in job.operations)
    )


def build_textbook(
    problem: Problem, model: cp_model.CpModel
) -> tuple[
    dict[tuple[int, int], cp_model.IntVar], dict[tuple[int, int], cp_model.IntVar], cp_model.IntVar
]:
    """Add the textbook job-shop model of a plain job shop to ``model`` (without the
    objective): starts, ends (by ``(job, operation)``) and the makespan variable.

    The solver builds plain job shops with this very function, so its model is the yardstick's
    model, variable for variable.
    """
    horizon = sum(op.modes[0].duration for job in problem.jobs for op in job.operations)
    per_machine: dict[int, list[cp_model.IntervalVar]] = {}
    starts: dict[tuple[int, int], cp_model.IntVar] = {}
    ends: dict[tuple[int, int], cp_model.IntVar] = {}
    last_ends = []
    for j, job in enumerate(problem.jobs):
        previous_end = None
        for k, op in enumerate(job.operations):
            mode = op.modes[0]
            start = model.new_int_var(0, horizon, f"s{j}_{k}")
            end = model.new_int_var(0, horizon, f"e{j}_{k}")
            interval = model.new_interval_var(start, mode.duration, end, f"i{j}_{k}")
            per_machine.setdefault(mode.unit, []).append(interval)
            if previous_end is not None:
                model.add(start >= previous_end)
            previous_end = end
            starts[(j, k)] = start
            ends[(j, k)] = end
        assert previous_end is not None
        last_ends.append(previous_end)
    for intervals in per_machine.values():
        model.add_no_overlap(intervals)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, last_ends)
    return starts, ends, makespan


def solve_textbook(
    problem: Problem, *, time_limit_s: float = 60.0, workers: int = 2, seed: int = 0
) -> BaselineResult:
    """Minimise the makespan of a plain job shop with the textbook model.

    Raises
    ------
    ModelError
        The problem is not a plain job shop (several modes, precedences, downtimes …).
    """
    if not is_plain_job_shop(problem):
        raise ModelError("problem", problem.name, "must be a plain job shop", "solve_textbook")
    t0 = time.perf_counter()
    model = cp_model.CpModel()
    _, _, makespan = build_textbook(problem, model)
    model.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(model)
    wall = time.perf_counter() - t0
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return BaselineResult(
            solver.status_name(status),
            int(solver.objective_value),
            int(solver.best_objective_bound),
            round(wall, 4),
        )
    return BaselineResult(solver.status_name(status), None, None, round(wall, 4))
