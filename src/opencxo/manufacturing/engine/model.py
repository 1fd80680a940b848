"""The scheduling problem: a flexible job shop with what a multipurpose plant needs.

A *job* is a batch: operations in sequence, each run on exactly one of its alternative
*modes* (a unit and the duration there). On top of the textbook flexible job shop:

- release date, due date and weight per job (weighted tardiness is the first objective);
- cross-job precedences (an intermediate batch's step finishes before the API batch that
  consumes it starts, with an optional minimum lag);
- sequence-dependent changeovers per unit, from a matrix keyed by the jobs' *family*
  (product): when operation ``b`` follows ``a`` directly on unit ``u``, ``b`` starts at least
  ``matrix[family(a)][family(b)]`` after ``a`` ends (the diagonal is the same-product clean);
- unit downtimes (maintenance windows), during which nothing runs on the unit;
- frozen operations: fixed to a unit and a start (re-scheduling after a breakdown keeps what
  has started).

Time is an integer number of the caller's time units (minutes, hours: the service decides).
Units, jobs and operations are referred to by their index. Every dataclass is frozen and
validated at construction; an invalid value raises :class:`ModelError` naming the argument.
A problem that is well formed but cannot be scheduled (an operation without a mode, a cycle
of precedences, a frozen operation inside a maintenance window) is *not* an error: the solver
answers ``INFEASIBLE`` with the reason in words.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Changeovers",
    "Downtime",
    "Job",
    "Mode",
    "ModelError",
    "OpRef",
    "Operation",
    "Precedence",
    "Problem",
    "ScheduledOperation",
]

#: An operation, as ``(job index, operation index within the job)``.
OpRef = tuple[int, int]

#: The largest time value accepted (keeps every sum well inside CP-SAT's 64-bit domains).
MAX_TIME = 10**9

#: The most units a problem may have.
MAX_UNITS = 100_000


class ModelError(ValueError):
    """An invalid scheduling input, naming the argument, the value and the bound.

    Examples
    --------
    >>> str(ModelError("duration", -1, "must be >= 0", "Mode"))
    'Mode: duration = -1 must be >= 0'
    """

    def __init__(self, argument: str, value: object, bound: str, context: str = "") -> None:
        self.argument = argument
        self.value = value
        self.bound = bound
        self.context = context
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}{argument} = {value!r} {bound}")


def _whole(argument: str, value: object, context: str, ge: int = 0, le: int = MAX_TIME) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelError(argument, value, "must be an integer", context)
    if value < ge:
        raise ModelError(argument, value, f"must be >= {ge}", context)
    if value > le:
        raise ModelError(argument, value, f"must be <= {le}", context)
    return value


def _ref(argument: str, value: object, context: str) -> OpRef:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
    ):
        raise ModelError(argument, value, "must be a (job, operation) pair of integers", context)
    return (value[0], value[1])


@dataclass(frozen=True)
class Mode:
    """One way to run an operation: on ``unit`` for ``duration`` time units (>= 1)."""

    unit: int
    duration: int

    def __post_init__(self) -> None:
        _whole("unit", self.unit, "Mode")
        _whole("duration", self.duration, "Mode", ge=1)


@dataclass(frozen=True)
class Operation:
    """A step of a job; ``modes`` are its alternatives (at most one per unit).

    An operation with no mode is well formed but unschedulable (the solver says so).
    """

    modes: tuple[Mode, ...]
    name: str = ""

    def __post_init__(self) -> None:
        context = f"Operation {self.name!r}" if self.name else "Operation"
        if not isinstance(self.modes, tuple) or not all(isinstance(m, Mode) for m in self.modes):
            raise ModelError("modes", self.modes, "must be a tuple of Mode", context)
        units = [m.unit for m in self.modes]
        if len(set(units)) != len(units):
            raise ModelError("modes", units, "must name each unit at most once", context)

    def duration_on(self, unit: int) -> int | None:
        """The duration on ``unit``, or None when the unit is not eligible."""
        for mode in self.modes:
            if mode.unit == unit:
                return mode.duration
        return None


@dataclass(frozen=True)
class Job:
    """A batch: operations run in this order, each starting after the previous one ends.

    Parameters
    ----------
    operations
        The steps, in order (at least one).
    name
        For messages and results.
    release
        Earliest start of the first operation (time units, >= 0).
    due
        Due date of the last operation's end (time units), or None (never tardy).
    weight
        Cost per time unit of tardiness (>= 0); tardiness = max(0, end - due).
    family
        Product (family) index into the changeover matrices (>= 0).
    """

    operations: tuple[Operation, ...]
    name: str = ""
    release: int = 0
    due: int | None = None
    weight: int = 1
    family: int = 0

    def __post_init__(self) -> None:
        context = f"Job {self.name!r}" if self.name else "Job"
        if (
            not isinstance(self.operations, tuple)
            or not self.operations
            or not all(isinstance(o, Operation) for o in self.operations)
        ):
            raise ModelError(
                "operations", self.operations, "must be a non-empty tuple of Operation", context
            )
        _whole("release", self.release, context)
        if self.due is not None:
            _whole("due", self.due, context)
        _whole("weight", self.weight, context, le=10**6)
        _whole("family", self.family, context, le=10**6)


@dataclass(frozen=True)
class Precedence:
    """Operation ``before`` ends at least ``min_lag`` time units before ``after`` starts."""

    before: OpRef
    after: OpRef
    min_lag: int = 0

    def __post_init__(self) -> None:
        _ref("before", self.before, "Precedence")
        _ref("after", self.after, "Precedence")
        _whole("min_lag", self.min_lag, "Precedence")


@dataclass(frozen=True)
class Changeovers:
    """Sequence-dependent changeover times on ``unit``.

    ``matrix[a][b]`` is the time between the end of an operation of family ``a`` and the start
    of the next operation of family ``b`` on the unit (the diagonal: cleaning between two
    batches of the same product). Square, one row per family, entries >= 0.
    """

    unit: int
    matrix: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        context = f"Changeovers of unit {self.unit}"
        _whole("unit", self.unit, "Changeovers")
        rows = self.matrix
        if not isinstance(rows, tuple) or not rows:
            raise ModelError("matrix", rows, "must be a non-empty tuple of rows", context)
        for a, row in enumerate(rows):
            if not isinstance(row, tuple) or len(row) != len(rows):
                raise ModelError(f"matrix[{a}]", row, f"must be a tuple of {len(rows)}", context)
            for b, value in enumerate(row):
                _whole(f"matrix[{a}][{b}]", value, context)

    @property
    def families(self) -> int:
        return len(self.matrix)

    def time(self, before: int, after: int) -> int:
        return self.matrix[before][after]


@dataclass(frozen=True)
class Downtime:
    """Unit ``unit`` is unavailable from ``start`` (inclusive) to ``end`` (exclusive)."""

    unit: int
    start: int
    end: int
    reason: str = "maintenance"

    def __post_init__(self) -> None:
        _whole("unit", self.unit, "Downtime")
        _whole("start", self.start, "Downtime")
        _whole("end", self.end, "Downtime", ge=self.start + 1)


@dataclass(frozen=True)
class ScheduledOperation:
    """Operation ``operation`` of job ``job`` on ``unit`` from ``start`` to ``end``."""

    job: int
    operation: int
    unit: int
    start: int
    end: int

    def __post_init__(self) -> None:
        _whole("job", self.job, "ScheduledOperation")
        _whole("operation", self.operation, "ScheduledOperation")
        _whole("unit", self.unit, "ScheduledOperation")
        _whole("start", self.start, "ScheduledOperation")
        _whole("end", self.end, "ScheduledOperation", ge=self.start)

    @property
    def ref(self) -> OpRef:
        return (self.job, self.operation)


@dataclass(frozen=True)
class Problem:
    """A scheduling problem.

    Parameters
    ----------
    units
        Number of units (machines); modes name units ``0 .. units - 1``.
    jobs
        The batches.
    precedences
        Cross-job (or extra in-job) precedences.
    changeovers
        At most one matrix per unit; a unit without one has no changeover time. Every family
        used by a job on that unit must be a row of its matrix.
    downtimes
        Maintenance windows.
    frozen
        Operations fixed to a unit and a start (their end must be start + the duration of
        that unit's mode).
    name
        For messages and results.
    unit_names
        Optional names of the units (for messages), one per unit.

    Raises
    ------
    ModelError
        A reference to a unit, job or operation that does not exist, or a family missing
        from a changeover matrix.
    """

    units: int
    jobs: tuple[Job, ...]
    precedences: tuple[Precedence, ...] = ()
    changeovers: tuple[Changeovers, ...] = ()
    downtimes: tuple[Downtime, ...] = ()
    frozen: tuple[ScheduledOperation, ...] = ()
    name: str = ""
    unit_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        context = f"Problem {self.name!r}" if self.name else "Problem"
        _whole("units", self.units, context, ge=1, le=MAX_UNITS)
        if not isinstance(self.jobs, tuple) or not all(isinstance(j, Job) for j in self.jobs):
            raise ModelError("jobs", self.jobs, "must be a tuple of Job", context)
        for j, job in enumerate(self.jobs):
            for k, op in enumerate(job.operations):
                for mode in op.modes:
                    if mode.unit >= self.units:
                        raise ModelError(
                            f"jobs[{j}].operations[{k}] unit", mode.unit,
                            f"must be < units ({self.units})", context,
                        )  # fmt: skip
        for name, items, kind in (
            ("precedences", self.precedences, Precedence),
            ("changeovers", self.changeovers, Changeovers),
            ("downtimes", self.downtimes, Downtime),
            ("frozen", self.frozen, ScheduledOperation),
        ):
            if not isinstance(items, tuple) or not all(isinstance(i, kind) for i in items):
                raise ModelError(name, items, f"must be a tuple of {kind.__name__}", context)
        for i, p in enumerate(self.precedences):
            self._check_ref(f"precedences[{i}].before", p.before, context)
            self._check_ref(f"precedences[{i}].after", p.after, context)
        seen_units: set[int] = set()
        for i, c in enumerate(self.changeovers):
            if c.unit >= self.units:
                raise ModelError(
                    f"changeovers[{i}].unit", c.unit, f"must be < {self.units}", context
                )
            if c.unit in seen_units:
                raise ModelError(f"changeovers[{i}].unit", c.unit, "has a second matrix", context)
            seen_units.add(c.unit)
            for j, job in enumerate(self.jobs):
                on_unit = any(m.unit == c.unit for op in job.operations for m in op.modes)
                if on_unit and job.family >= c.families:
                    raise ModelError(
                        f"jobs[{j}].family", job.family,
                        f"must be < {c.families} (rows of the changeover matrix of unit {c.unit})",
                        context,
                    )  # fmt: skip
        for i, d in enumerate(self.downtimes):
            if d.unit >= self.units:
                raise ModelError(f"downtimes[{i}].unit", d.unit, f"must be < {self.units}", context)
        frozen_refs: set[OpRef] = set()
        for i, f in enumerate(self.frozen):
            self._check_ref(f"frozen[{i}]", f.ref, context)
            if f.unit >= self.units:
                raise ModelError(f"frozen[{i}].unit", f.unit, f"must be < {self.units}", context)
            if f.ref in frozen_refs:
                raise ModelError(f"frozen[{i}]", f.ref, "is frozen twice", context)
            frozen_refs.add(f.ref)
        if self.unit_names is not None and (
            not isinstance(self.unit_names, tuple) or len(self.unit_names) != self.units
        ):
            raise ModelError("unit_names", self.unit_names, f"must be {self.units} names", context)

    def _check_ref(self, argument: str, ref: OpRef, context: str) -> None:
        job, op = ref
        if not 0 <= job < len(self.jobs):
            raise ModelError(
                argument, ref, f"names job {job}, not in 0..{len(self.jobs) - 1}", context
            )
        if not 0 <= op < len(self.jobs[job].operations):
            raise ModelError(
                argument, ref,
                f"names operation {op}; job {job} has {len(self.jobs[job].operations)}", context,
            )  # fmt: skip

    # -- helpers shared by the solver and the checker (pure look-ups, no modelling) --

    def unit_name(self, unit: int) -> str:
        return self.unit_names[unit] if self.unit_names is not None else f"unit {unit}"

    def op_name(self, ref: OpRef) -> str:
        job = self.jobs[ref[0]]
        op = job.operations[ref[1]]
        job_label = job.name or f"job {ref[0]}"
        op_label = op.name or f"operation {ref[1]}"
        return f"{job_label} {op_label}"

    def changeover_matrix(self, unit: int) -> Changeovers | None:
        for c in self.changeovers:
            if c.unit == unit:
                return c
        return None

    def least_changeovers_in(self) -> dict[tuple[int, int], int]:
        """``(unit, family) ->`` the least changeover into that family on that unit, from any
        family that can run there (frozen operations where they are frozen), the same-product
        clean included: what any operation of the family needs before it at least. Units
        without a matrix are absent (no changeover)."""
        frozen = {f.ref: f.unit for f in self.frozen}
        families_on: dict[int, set[int]] = {}
        for j, job in enumerate(self.jobs):
            for k, op in enumerate(job.operations):
                units = [frozen[(j, k)]] if (j, k) in frozen else [m.unit for m in op.modes]
                for u in units:
                    families_on.setdefault(u, set()).add(job.family)
        return {
            (c.unit, fam): min(c.time(a, fam) for a in families)
            for c in self.changeovers
            for families in [families_on.get(c.unit, set())]
            for fam in families
        }

    @property
    def operation_count(self) -> int:
        return sum(len(j.operations) for j in self.jobs)

    @property
    def has_due_dates(self) -> bool:
        return any(j.due is not None and j.weight > 0 for j in self.jobs)
