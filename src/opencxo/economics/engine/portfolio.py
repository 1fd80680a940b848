"""Portfolio decisions: which programs to fund, and how, under a yearly budget.

Each program offers options (don't fund; fund in-house; fund with some phases outsourced …),
each with an expected value, a probability of approval and an expected spend per year — the
summaries of a Monte Carlo valuation. Choosing at most one option per program so that the
expected spend stays within each year's budget and the total expected value is largest is a
multiple-choice knapsack; it is solved exactly as a mixed-integer programme with HiGHS (through
``scipy.optimize.milp``), not by ranking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

__all__ = [
    "PortfolioChoice",
    "PortfolioOption",
    "PortfolioResult",
    "approvals_distribution",
    "choose_portfolio",
    "dollars",
]


@dataclass(frozen=True)
class PortfolioOption:
    """One way to run one program.

    Parameters
    ----------
    program : str
        The program's name; options of the same program exclude each other.
    name : str
        The option, e.g. ``"in-house"`` or ``"outsource Phase II"``.
    expected_value_musd : float
        Expected (risk-adjusted) net present value, $M.
    probability_of_approval : float
        In [0, 1].
    spend_by_year_musd : tuple[float, ...]
        Expected development spend in year 1, 2, … of the plan, $M (shorter tuples are padded
        with zeros).
    """

    program: str
    name: str
    expected_value_musd: float
    probability_of_approval: float
    spend_by_year_musd: tuple[float, ...]

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability_of_approval <= 1.0:
            raise ValueError(
                f"probability_of_approval of {self.program}/{self.name} is "
                f"{self.probability_of_approval}; it must lie in [0, 1]"
            )
        for year, spend in enumerate(self.spend_by_year_musd, start=1):
            if spend < 0 or not np.isfinite(spend):
                raise ValueError(
                    f"spend_by_year_musd of {self.program}/{self.name} in year {year} is "
                    f"{spend}; it must be a finite amount ≥ 0"
                )
        if not np.isfinite(self.expected_value_musd):
            raise ValueError(f"expected_value_musd of {self.program}/{self.name} is not finite")


@dataclass(frozen=True)
class PortfolioChoice:
    program: str
    option: str | None  # None: not funded
    expected_value_musd: float
    probability_of_approval: float


@dataclass(frozen=True)
class PortfolioResult:
    """The solver's answer, never ``None``.

    ``status`` is ``"optimal"``, ``"infeasible"`` (only when even funding nothing breaks a
    budget, which cannot happen with spends ≥ 0) or ``"time_limit"`` with the best plan found.
    """

    status: str
    objective_musd: float
    bound_musd: float
    wall_time_s: float
    choices: tuple[PortfolioChoice, ...]
    spend_by_year_musd: tuple[float, ...]
    budget_by_year_musd: tuple[float, ...]
    approvals_pmf: tuple[float, ...]  # P(k approvals), k = 0 … number of funded programs

    @property
    def expected_approvals(self) -> float:
        return float(sum(k * p for k, p in enumerate(self.approvals_pmf)))


def dollars(musd: NDArray[np.float64]) -> NDArray[np.float64]:
    """$M amounts as whole dollars (nearest), the unit budgets are checked in."""
    return np.rint(np.asarray(musd, dtype=np.float64) * 1e6)


def approvals_distribution(probabilities: NDArray[np.float64] | list[float]) -> NDArray[np.float64]:
    """Exact distribution of the number of approvals among independent programs.

    Parameters
    ----------
    probabilities : array of float
        Each funded program's probability of approval.

    Returns
    -------
    numpy.ndarray
        ``pmf[k]`` = P(exactly k approvals), k = 0 … n (Poisson-binomial).

    Notes
    -----
    Built by convolving the Bernoulli distributions one at a time:
    :math:`f_{j}(k) = f_{j-1}(k)(1-p_j) + f_{j-1}(k-1)p_j`.

    Examples
    --------
    >>> approvals_distribution([0.5, 0.5]).tolist()
    [0.25, 0.5, 0.25]
    """
    pmf = np.array([1.0])
    for p in np.asarray(probabilities, dtype=np.float64):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability {p} must lie in [0, 1]")
        pmf = np.convolve(pmf, np.array([1.0 - p, p]))
    return pmf


def choose_portfolio(
    options: list[PortfolioOption],
    budget_by_year_musd: tuple[float, ...],
    *,
    time_limit_s: float = 10.0,
) -> PortfolioResult:
    """Fund at most one option per program, maximising expected value within yearly budgets.

    Parameters
    ----------
    options : list of PortfolioOption
        Every option of every program (not funding is always allowed and needs no option).
    budget_by_year_musd : tuple of float
        The spend allowed in year 1, 2, …, $M; spend beyond the last budget year is not limited.
        Spend and budget are compared in whole dollars (each rounded to the nearest dollar).
    time_limit_s : float
        HiGHS's time limit.

    Returns
    -------
    PortfolioResult

    Raises
    ------
    ValueError
        No options, a negative budget, or two options with the same program and name.

    Notes
    -----
    With :math:`x_o \\in \\{0,1\\}` for option :math:`o`:

    .. math:: \\max \\sum_o v_o x_o \\quad \\text{s.t.} \\quad
              \\sum_{o \\in P} x_o \\le 1 \\;\\forall P, \\qquad
              \\sum_o s_{o,t} x_o \\le B_t \\;\\forall t.

    Options with a negative expected value are never chosen (not funding is worth 0).

    References
    ----------
    Kellerer, Pferschy & Pisinger (2004), *Knapsack Problems*, ch. 11 (multiple-choice
    knapsack). Huangfu & Hall (2018), Parallelizing the dual revised simplex method,
    Math. Prog. Comp. 10:119–142 (HiGHS).

    Examples
    --------
    >>> a = PortfolioOption("A", "in-house", 100.0, 0.5, (60.0,))
    >>> b = PortfolioOption("B", "in-house", 80.0, 0.5, (50.0,))
    >>> c = PortfolioOption("C", "in-house", 70.0, 0.5, (50.0,))
    >>> [c.program for c in choose_portfolio([a, b, c], (100.0,)).choices if c.option]
    ['B', 'C']
    """
    if not options:
        raise ValueError("options is empty; give at least one program option")
    if any(b < 0 or not np.isfinite(b) for b in budget_by_year_musd):
        raise ValueError(f"budget_by_year_musd {budget_by_year_musd} must be finite amounts ≥ 0")
    keys = [(o.program, o.name) for o in options]
    if len(set(keys)) != len(keys):
        raise ValueError("two options share a program and a name; name each option once")
    started = time.perf_counter()
    programs = list(dict.fromkeys(o.program for o in options))
    years = len(budget_by_year_musd)
    values = np.array([o.expected_value_musd for o in options])
    spend = np.zeros((years, len(options)))
    for j, option in enumerate(options):
        known = option.spend_by_year_musd[:years]
        spend[: len(known), j] = known
    one_each = np.array([[1.0 if o.program == p else 0.0 for o in options] for p in programs])
    constraints = [LinearConstraint(one_each, -np.inf, 1.0)]
    if years:
        # In whole dollars: integer coefficients make any overrun at least $1, far above the
        # solver's feasibility tolerance (~1e-7), so "within budget" is exact to the dollar.
        constraints.append(
            LinearConstraint(
                dollars(spend), -np.inf, dollars(np.array(budget_by_year_musd, dtype=np.float64))
            )
        )
    solved = milp(
        c=-values,
        constraints=constraints,
        integrality=np.ones(len(options)),
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": time_limit_s},
    )
    wall = time.perf_counter() - started
    if solved.x is None:
        return PortfolioResult(
            status="infeasible",
            objective_musd=0.0,
            bound_musd=0.0,
            wall_time_s=wall,
            choices=tuple(PortfolioChoice(p, None, 0.0, 0.0) for p in programs),
            spend_by_year_musd=tuple(0.0 for _ in range(years)),
            budget_by_year_musd=tuple(budget_by_year_musd),
            approvals_pmf=(1.0,),
        )
    chosen = np.round(solved.x).astype(bool)
    by_program = {options[j].program: options[j] for j in np.flatnonzero(chosen)}
    choices = tuple(
        PortfolioChoice(
            program=p,
            option=by_program[p].name if p in by_program else None,
            expected_value_musd=by_program[p].expected_value_musd if p in by_program else 0.0,
            probability_of_approval=by_program[p].probability_of_approval
            if p in by_program
            else 0.0,
        )
        for p in programs
    )
    objective = float(values[chosen].sum())
    bound = float(-solved.mip_dual_bound) if solved.mip_dual_bound is not None else objective
    pmf = approvals_distribution([o.probability_of_approval for o in by_program.values()])
    return PortfolioResult(
        status="optimal" if solved.status == 0 else "time_limit",
        objective_musd=objective,
        bound_musd=bound,
        wall_time_s=wall,
        choices=choices,
        spend_by_year_musd=tuple(float(x) for x in spend[:, chosen].sum(axis=1)),
        budget_by_year_musd=tuple(budget_by_year_musd),
        approvals_pmf=tuple(float(x) for x in pmf),
    )
