"""Pure numerics of manufacturing: the CP-SAT flexible job-shop scheduler (OR-Tools only).

:mod:`.model` holds the problem (jobs, operations with alternative unit modes, cross-job
precedences, changeovers, maintenance, frozen operations); :mod:`.solver` solves it with CP-SAT
(:mod:`.lns`: our own large-neighbourhood search for big changeover models);
:mod:`.checker` verifies a schedule independently of the solver; :mod:`.instances` reads the
classic job-shop and Brandimarte flexible job-shop files; :mod:`.baseline` is the textbook
job-shop model the benchmark compares against.
"""

from .checker import CheckReport, check_schedule
from .instances import InstanceFormatError, parse_fjsp, parse_jssp, read_instance
from .model import (
    Changeovers,
    Downtime,
    Job,
    Mode,
    ModelError,
    Operation,
    Precedence,
    Problem,
    ScheduledOperation,
)
from .solver import Improvement, SolveResult, solve

__all__ = [
    "Changeovers",
    "CheckReport",
    "Downtime",
    "Improvement",
    "InstanceFormatError",
    "Job",
    "Mode",
    "ModelError",
    "Operation",
    "Precedence",
    "Problem",
    "ScheduledOperation",
    "SolveResult",
    "check_schedule",
    "parse_fjsp",
    "parse_jssp",
    "read_instance",
    "solve",
]
