"""An independent check of a schedule against its problem.

It reads only :class:`~.model.Problem` and the scheduled operations (never the solver's
CP-SAT model), so a modelling mistake in :mod:`.solver` shows up here as a violation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .model import OpRef, Problem, ScheduledOperation

__all__ = ["CheckReport", "check_schedule"]


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_schedule` found.

    Attributes
    ----------
    violations
        Every broken rule, in words (empty: the schedule is valid).
    makespan
        Latest end of any scheduled operation (0 for none).
    weighted_tardiness
        Σ weight × max(0, end of the job's last operation − due), over jobs with a due date
        whose last operation is scheduled.
    """

    violations: tuple[str, ...]
    makespan: int
    weighted_tardiness: int

    @property
    def ok(self) -> bool:
        return not self.violations


def check_schedule(problem: Problem, operations: Iterable[ScheduledOperation]) -> CheckReport:
    """Verify ``operations`` against every rule of ``problem``.

    Checks: each operation scheduled exactly once, on an eligible unit, for that unit's
    duration; no two operations overlap on a unit; consecutive operations on a unit are at
    least the changeover time apart; job order and cross-job precedences (with their lags);
    release dates; no operation inside a downtime of its unit; frozen operations unchanged.

    Returns
    -------
    CheckReport
        The violations in words, the makespan and the weighted tardiness recomputed.
    """
    ops = list(operations)
    violations: list[str] = []
    by_ref: dict[OpRef, ScheduledOperation] = {}
    counts: dict[OpRef, int] = defaultdict(int)
    for s in ops:
        counts[s.ref] += 1
        by_ref[s.ref] = s
    for ref, n in counts.items():
        jr, kr = ref
        if not (0 <= jr < len(problem.jobs) and 0 <= kr < len(problem.jobs[jr].operations)):
            violations.append(f"operation {ref} does not exist in the problem")
        elif n > 1:
            violations.append(f"{problem.op_name(ref)} is scheduled {n} times")
    for j, job in enumerate(problem.jobs):
        for k, op in enumerate(job.operations):
            found = by_ref.get((j, k))
            name = problem.op_name((j, k))
            if found is None:
                violations.append(f"{name} is not scheduled")
                continue
            s = found
            duration = op.duration_on(s.unit)
            if duration is None:
                violations.append(f"{name} runs on {problem.unit_name(s.unit)}, not eligible")
            elif s.end - s.start != duration:
                violations.append(
                    f"{name} lasts {s.end - s.start} on {problem.unit_name(s.unit)}, "
                    f"its duration there is {duration}"
                )
            if s.start < job.release:
                violations.append(f"{name} starts at {s.start}, before the release {job.release}")
            if k > 0 and (j, k - 1) in by_ref and by_ref[(j, k - 1)].end > s.start:
                violations.append(
                    f"{name} starts at {s.start} before {problem.op_name((j, k - 1))} "
                    f"ends at {by_ref[(j, k - 1)].end}"
                )
    for p in problem.precedences:
        a, b = by_ref.get(p.before), by_ref.get(p.after)
        if a is not None and b is not None and b.start < a.end + p.min_lag:
            lag = f" + lag {p.min_lag}" if p.min_lag else ""
            violations.append(
                f"{problem.op_name(p.after)} starts at {b.start}, before "
                f"{problem.op_name(p.before)} ends at {a.end}{lag}"
            )
    per_unit: dict[int, list[ScheduledOperation]] = defaultdict(list)
    for s in by_ref.values():
        if 0 <= s.job < len(problem.jobs):
            per_unit[s.unit].append(s)
    for unit, seq in per_unit.items():
        seq.sort(key=lambda s: (s.start, s.end))
        matrix = problem.changeover_matrix(unit)
        uname = problem.unit_name(unit)
        for i, cur in enumerate(seq):
            for other in seq[i + 1 :]:
                if other.start >= cur.end:
                    break
                violations.append(
                    f"{problem.op_name(cur.ref)} [{cur.start}, {cur.end}) and "
                    f"{problem.op_name(other.ref)} [{other.start}, {other.end}) overlap on {uname}"
                )
            if matrix is not None and i + 1 < len(seq):
                nxt = seq[i + 1]
                fam_a = problem.jobs[cur.job].family
                fam_b = problem.jobs[nxt.job].family
                need = matrix.time(fam_a, fam_b) if max(fam_a, fam_b) < matrix.families else 0
                if nxt.start >= cur.end and nxt.start - cur.end < need:
                    violations.append(
                        f"changeover on {uname}: {problem.op_name(nxt.ref)} starts "
                        f"{nxt.start - cur.end} after {problem.op_name(cur.ref)} ends, "
                        f"needs {need}"
                    )
        for d in problem.downtimes:
            if d.unit != unit:
                continue
            for s in seq:
                if s.start < d.end and d.start < s.end:
                    violations.append(
                        f"{problem.op_name(s.ref)} [{s.start}, {s.end}) runs during the "
                        f"{d.reason} of {uname} [{d.start}, {d.end})"
                    )
    for f in problem.frozen:
        got = by_ref.get(f.ref)
        if got is not None and (got.unit, got.start, got.end) != (f.unit, f.start, f.end):
            violations.append(
                f"{problem.op_name(f.ref)} is frozen to {problem.unit_name(f.unit)} "
                f"[{f.start}, {f.end}) but scheduled on {problem.unit_name(got.unit)} "
                f"[{got.start}, {got.end})"
            )
    makespan = max((s.end for s in by_ref.values()), default=0)
    tardiness = 0
    for j, job in enumerate(problem.jobs):
        last = by_ref.get((j, len(job.operations) - 1))
        if job.due is not None and last is not None:
            tardiness += job.weight * max(0, last.end - job.due)
    return CheckReport(tuple(violations), makespan, tardiness)
