"""Outsourcing decisions: scenario transforms and paired comparisons on common random numbers.

:func:`outsource` (in-house vs CRO/CDMO per phase) and :func:`several_vendors` (integrated
single provider vs several vendors) turn a :class:`~opencxo.economics.engine.model.ProgramScenario`
into another; :func:`compare` values two scenarios on the same draws and reports each difference
with a confidence interval from the paired per-trial differences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

from .model import FloatArray, InputError, Phase, ProgramScenario, bounded, real
from .rnpv import (
    DEFAULT_CHUNK_TRIALS,
    FAN_SAMPLE_TRIALS,
    Draws,
    Progress,
    RngLike,
    RnpvResult,
    _check_shape,
    _fan_sample,
    _Grid,
    _Reducer,
    _run_chunk,
    draw_uniforms,
)

__all__ = [
    "DELTA_NAMES",
    "Comparison",
    "Delta",
    "OutsourcingTerms",
    "compare",
    "compare_draws",
    "outsource",
    "several_vendors",
]

MONTHS_PER_YEAR = 12.0

#: Names of the deltas of a :class:`Comparison`, in order, with their units.
DELTA_NAMES: tuple[tuple[str, str], ...] = (
    ("rnpv_musd", "$M"),
    ("probability_of_approval", "probability"),
    ("expected_cost_musd", "$M"),
    ("expected_cost_pv_musd", "$M"),
    ("expected_protected_years", "years"),
    ("expected_protected_sales_musd", "$M"),
    ("launch_years", "years"),
)


# --------------------------------------------------------------------------------------------
# Scenario transforms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OutsourcingTerms:
    """How handing one phase to a CRO/CDMO changes it, relative to running it in-house.

    Parameters
    ----------
    cost_multiplier
        Factor on the phase's cost distribution (> 0; e.g. 0.9 for a 10 % cheaper provider,
        1.15 for a provider margin). Default 1.
    fixed_cost_avoided_musd
        In-house fixed cost (staff, facility) not incurred when outsourcing, $M, subtracted from
        the phase cost after the multiplier; >= 0, at most the multiplied low cost. Default 0.
    months_saved
        Months by which the provider shortens the phase (negative: lengthens); every duration
        draw moves by this amount, so it must stay below the phase's shortest duration.
        Default 0.

    Raises
    ------
    InputError
        An argument outside its bound.
    """

    cost_multiplier: float = 1.0
    fixed_cost_avoided_musd: float = 0.0
    months_saved: float = 0.0

    def __post_init__(self) -> None:
        context = "OutsourcingTerms"
        object.__setattr__(
            self,
            "cost_multiplier",
            bounded("cost_multiplier", self.cost_multiplier, context, gt=0.0),
        )
        object.__setattr__(
            self,
            "fixed_cost_avoided_musd",
            bounded("fixed_cost_avoided_musd", self.fixed_cost_avoided_musd, context, ge=0.0),
        )
        object.__setattr__(self, "months_saved", real("months_saved", self.months_saved, context))

    def apply(self, phase: Phase) -> Phase:
        """``phase`` run by the provider (see :func:`outsource`)."""
        context = f"OutsourcingTerms for phase {phase.name!r}"
        cost = phase.cost_musd.scaled(self.cost_multiplier)
        if self.fixed_cost_avoided_musd > cost.low:
            raise InputError(
                "fixed_cost_avoided_musd",
                self.fixed_cost_avoided_musd,
                f"must be <= the phase's low cost after the multiplier ({cost.low:g} $M)",
                context,
            )
        cost = cost.shifted(-self.fixed_cost_avoided_musd)
        saved_years = self.months_saved / MONTHS_PER_YEAR
        if saved_years >= phase.duration_years.low:
            raise InputError(
                "months_saved",
                self.months_saved,
                f"must be < the phase's shortest duration "
                f"({phase.duration_years.low * MONTHS_PER_YEAR:g} months)",
                context,
            )
        duration = phase.duration_years.shifted(-saved_years)
        return replace(phase, cost_musd=cost, duration_years=duration)


def _phase_index(scenario: ProgramScenario, key: int | str) -> int:
    if isinstance(key, str):
        names = [phase.name for phase in scenario.phases]
        if names.count(key) != 1:
            raise InputError("phase", key, f"must name exactly one phase of {names}")
        return names.index(key)
    if isinstance(key, bool) or not isinstance(key, int | np.integer):
        raise InputError("phase", key, "must be a phase index or name")
    if not 0 <= int(key) < len(scenario.phases):
        raise InputError("phase", key, f"must be in [0, {len(scenario.phases) - 1}]")
    return int(key)


def outsource(
    scenario: ProgramScenario, terms: Mapping[int | str, OutsourcingTerms]
) -> ProgramScenario:
    """The scenario with some phases run by a CRO/CDMO instead of in-house.

    Parameters
    ----------
    scenario
        The in-house scenario.
    terms
        Per phase (index from 0, or name) the :class:`OutsourcingTerms`.

    Returns
    -------
    ProgramScenario
        A new scenario; ``scenario`` is unchanged.

    Raises
    ------
    InputError
        An unknown phase, or terms the phase cannot take.

    Notes
    -----
    For an outsourced phase with multiplier :math:`m`, fixed cost avoided :math:`F` and
    :math:`\\Delta` months saved, each draw of cost and duration becomes

    .. math::
        C' = m\\,C - F, \\qquad D' = D - \\Delta / 12,

    exactly, trial by trial (the triangular quantile commutes with scaling and shifting), so on
    common random numbers the comparison isolates the effect of the terms. A shorter phase
    brings launch forward, and with it the sales, while the loss of exclusivity stays put:
    months saved become protected sales before the cliff.

    Examples
    --------
    >>> from opencxo.economics.engine.model import (
    ...     Exclusivity, Phase, ProgramScenario, Revenue, Triangular, fixed)
    >>> s = ProgramScenario(
    ...     phases=(Phase(name="Phase III", success_probability=0.6,
    ...                   duration_years=Triangular(2.5, 3.0, 4.0), cost_musd=fixed(200.0)),),
    ...     revenue=Revenue(peak_sales_musd=fixed(800.0), years_to_peak=5.0),
    ...     exclusivity=Exclusivity(loss_years_from_now=12.0, erosion=(0.2,)),
    ...     cogs_share=0.15, tax_rate=0.21, discount_rate=0.1, horizon_years=20)
    >>> cro = outsource(s, {"Phase III": OutsourcingTerms(
    ...     cost_multiplier=0.9, fixed_cost_avoided_musd=10.0, months_saved=6.0)})
    >>> cro.phases[0].cost_musd.low, cro.phases[0].duration_years.low
    (170.0, 2.0)
    """
    phases = list(scenario.phases)
    for key, term in terms.items():
        if not isinstance(term, OutsourcingTerms):
            raise InputError(f"terms[{key!r}]", term, "must be OutsourcingTerms")
        index = _phase_index(scenario, key)
        phases[index] = term.apply(phases[index])
    return replace(scenario, phases=tuple(phases))


def several_vendors(
    scenario: ProgramScenario,
    *,
    coordination_overhead_share: float,
    handoff_delay_months: float,
) -> ProgramScenario:
    """The scenario run by several vendors instead of one integrated provider.

    Parameters
    ----------
    scenario
        The integrated (single-provider) scenario.
    coordination_overhead_share
        Extra cost of coordinating several vendors, as a share of every phase's cost, >= 0.
    handoff_delay_months
        Idle months at each hand-off between consecutive phases (added to each later phase's
        ``start_delay_years``), >= 0.

    Returns
    -------
    ProgramScenario
        A new scenario; ``scenario`` is unchanged.

    Raises
    ------
    InputError
        An argument outside its bound.

    Notes
    -----
    Each cost draw becomes :math:`C (1 + o)`; with :math:`n` phases the launch moves by
    :math:`(n - 1)\\,h / 12` years on every trial.

    Examples
    --------
    >>> from opencxo.economics.engine.model import (
    ...     Exclusivity, Phase, ProgramScenario, Revenue, fixed)
    >>> p = Phase(name="P", success_probability=0.5, duration_years=fixed(2.0),
    ...           cost_musd=fixed(100.0))
    >>> s = ProgramScenario(
    ...     phases=(p, replace(p, name="Q")),
    ...     revenue=Revenue(peak_sales_musd=fixed(800.0), years_to_peak=5.0),
    ...     exclusivity=Exclusivity(loss_years_from_now=12.0, erosion=(0.2,)),
    ...     cogs_share=0.15, tax_rate=0.21, discount_rate=0.1, horizon_years=20)
    >>> v = several_vendors(s, coordination_overhead_share=0.05, handoff_delay_months=3)
    >>> v.phases[1].cost_musd.low, v.phases[1].start_delay_years
    (105.0, 0.25)
    """
    context = "several_vendors"
    overhead = bounded("coordination_overhead_share", coordination_overhead_share, context, ge=0.0)
    delay_years = (
        bounded("handoff_delay_months", handoff_delay_months, context, ge=0.0) / MONTHS_PER_YEAR
    )
    phases = tuple(
        replace(
            phase,
            cost_musd=phase.cost_musd.scaled(1.0 + overhead),
            start_delay_years=phase.start_delay_years + (delay_years if i else 0.0),
        )
        for i, phase in enumerate(scenario.phases)
    )
    return replace(scenario, phases=phases)


# --------------------------------------------------------------------------------------------
# Paired comparison
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delta:
    """One row of the comparison table: ``alternative - base`` with a confidence interval.

    Attributes
    ----------
    name, unit
        Quantity (see :data:`DELTA_NAMES`) and its unit.
    base, alternative
        Means over the paired trials.
    difference
        ``alternative - base``, the mean paired difference.
    standard_error
        Standard error of ``difference`` from the paired differences.
    ci_low, ci_high
        Normal confidence interval at the comparison's ``confidence``.
    pairs
        Trials paired: all of them, except for ``launch_years`` (trials approved in both; when
        there are none, every number of that row is NaN).
    """

    name: str
    unit: str
    base: float
    alternative: float
    difference: float
    standard_error: float
    ci_low: float
    ci_high: float
    pairs: int


@dataclass(frozen=True)
class Comparison:
    """Two scenarios valued on the same draws.

    Attributes
    ----------
    base, alternative
        Each scenario's full result.
    deltas
        One :class:`Delta` per name of :data:`DELTA_NAMES`, in that order.
    confidence
        Confidence level of the intervals.
    trials
        Trials (shared).
    """

    base: RnpvResult
    alternative: RnpvResult
    deltas: tuple[Delta, ...]
    confidence: float
    trials: int

    def delta(self, name: str) -> Delta:
        """The delta called ``name``."""
        for delta in self.deltas:
            if delta.name == name:
                return delta
        raise InputError("name", name, f"must be one of {[n for n, _ in DELTA_NAMES]}")


class _Paired:
    """Streaming mean and variance of paired differences (Chan et al. merge of chunks)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.base = 0.0
        self.alternative = 0.0

    def add(self, base: FloatArray, alternative: FloatArray) -> None:
        k = int(base.size)
        if not k:
            return
        diff = alternative - base
        mean = float(diff.mean())
        m2 = float(((diff - mean) ** 2).sum())
        total = self.n + k
        step = mean - self.mean
        self.mean += step * k / total
        self.m2 += m2 + step * step * self.n * k / total
        self.n = total
        self.base += float(base.sum())
        self.alternative += float(alternative.sum())

    def delta(self, name: str, unit: str, z: float) -> Delta:
        n = self.n
        if n == 0:
            nan = math.nan
            return Delta(name, unit, nan, nan, nan, nan, nan, nan, 0)
        se = math.sqrt(self.m2 / (n - 1) / n) if n > 1 else 0.0
        return Delta(
            name=name,
            unit=unit,
            base=self.base / n,
            alternative=self.alternative / n,
            difference=self.mean,
            standard_error=se,
            ci_low=self.mean - z * se,
            ci_high=self.mean + z * se,
            pairs=n,
        )


def compare_draws(
    base: ProgramScenario,
    alternative: ProgramScenario,
    draws: Draws,
    *,
    confidence: float = 0.95,
    fan_sample_trials: int = FAN_SAMPLE_TRIALS,
    progress: Progress | None = None,
) -> Comparison:
    """Value ``base`` and ``alternative`` on the same ``draws`` and pair the trials.

    Parameters
    ----------
    base, alternative
        Scenarios with the same number of phases (the draws' ``n_phases``).
    draws
        From :func:`~opencxo.economics.engine.rnpv.draw_uniforms`.
    confidence
        Level of the intervals, in (0, 1); default 0.95.
    fan_sample_trials, progress
        As for :func:`~opencxo.economics.engine.rnpv.evaluate`.

    Returns
    -------
    Comparison

    Raises
    ------
    InputError
        Scenarios of different shapes or a bad argument.

    Notes
    -----
    *Same draws* means: trial :math:`j` of both scenarios uses the same uniforms, and phase
    :math:`i` of one is paired with phase :math:`i` of the other (by position; names may
    differ). Each uniform drives the same quantile of the corresponding distribution, so a
    scenario that only changes a parameter moves every trial monotonically. For each quantity
    with per-trial values :math:`a_j, b_j` the difference is :math:`\\bar d` of
    :math:`d_j = b_j - a_j` with standard error :math:`s_d / \\sqrt{n}` and interval
    :math:`\\bar d \\pm z_{(1+c)/2}\\, s_d / \\sqrt{n}`; the positive correlation of
    :math:`a_j` and :math:`b_j` makes it far narrower than for independent runs. Launch dates
    are paired over the trials approved in both scenarios.

    References
    ----------
    Glasserman, P. (2003). *Monte Carlo Methods in Financial Engineering*, Springer, sec. 4.2
    (common random numbers). Chan, T. F., Golub, G. H., LeVeque, R. J. (1983). Algorithms for
    computing the sample variance. *The American Statistician* 37(3), 242-247.

    Examples
    --------
    See :func:`compare`.
    """
    _check_shape(base, draws, "base")
    _check_shape(alternative, draws, "alternative")
    level = bounded("confidence", confidence, "compare", gt=0.0, lt=1.0)
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    fan_sample = _fan_sample(fan_sample_trials)
    grids = (_Grid.of(base), _Grid.of(alternative))
    reducers = (
        _Reducer(base, draws.trials, fan_sample),
        _Reducer(alternative, draws.trials, fan_sample),
    )
    paired = {name: _Paired() for name, _ in DELTA_NAMES}
    for chunk in draws.chunks():
        sample = fan_sample if chunk.index == 0 else 0
        a = _run_chunk(base, grids[0], chunk, sample=sample)
        b = _run_chunk(alternative, grids[1], chunk, sample=sample)
        reducers[0].add(chunk.start, a)
        reducers[1].add(chunk.start, b)
        paired["rnpv_musd"].add(a.npv, b.npv)
        paired["probability_of_approval"].add(
            a.approved.astype(np.float64), b.approved.astype(np.float64)
        )
        paired["expected_cost_musd"].add(a.cost, b.cost)
        paired["expected_cost_pv_musd"].add(a.cost_pv, b.cost_pv)
        paired["expected_protected_years"].add(a.protected_years, b.protected_years)
        paired["expected_protected_sales_musd"].add(a.protected_sales, b.protected_sales)
        both = a.approved & b.approved
        paired["launch_years"].add(a.launch[both], b.launch[both])
        if progress is not None:
            progress(chunk.start + chunk.size, draws.trials)
    return Comparison(
        base=reducers[0].result(),
        alternative=reducers[1].result(),
        deltas=tuple(paired[name].delta(name, unit, z) for name, unit in DELTA_NAMES),
        confidence=level,
        trials=draws.trials,
    )


def compare(
    base: ProgramScenario,
    alternative: ProgramScenario,
    trials: int,
    rng: RngLike = None,
    *,
    confidence: float = 0.95,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    fan_sample_trials: int = FAN_SAMPLE_TRIALS,
    progress: Progress | None = None,
) -> Comparison:
    """Compare two scenarios on common random numbers: the table of deltas with intervals.

    Parameters
    ----------
    base, alternative
        Scenarios with the same number of phases.
    trials
        Number of trials (shared).
    rng
        Generator, non-negative int seed or None.
    confidence, chunk_trials, fan_sample_trials, progress
        See :func:`compare_draws` and :func:`~opencxo.economics.engine.rnpv.draw_uniforms`.

    Returns
    -------
    Comparison

    Raises
    ------
    InputError
        Scenarios of different shapes or a bad argument.

    Notes
    -----
    See :func:`compare_draws`.

    Examples
    --------
    >>> from opencxo.economics.engine.model import (
    ...     Exclusivity, Phase, ProgramScenario, Revenue, Triangular, fixed)
    >>> s = ProgramScenario(
    ...     phases=(Phase(name="Phase III", success_probability=0.6,
    ...                   duration_years=Triangular(2.5, 3.0, 4.0),
    ...                   cost_musd=Triangular(150, 200, 300)),
    ...             Phase(name="NDA", success_probability=0.9,
    ...                   duration_years=fixed(1.0), cost_musd=fixed(5.0))),
    ...     revenue=Revenue(peak_sales_musd=Triangular(400, 800, 1500), years_to_peak=5.0),
    ...     exclusivity=Exclusivity(loss_years_from_now=12.0, erosion=(0.2, 0.1)),
    ...     cogs_share=0.15, tax_rate=0.21, discount_rate=0.10, horizon_years=25)
    >>> cro = outsource(s, {0: OutsourcingTerms(months_saved=6.0)})
    >>> c = compare(s, cro, 20_000, rng=3)
    >>> d = c.delta("launch_years")
    >>> round(d.difference, 9), round(d.ci_low, 9), round(d.ci_high, 9)
    (-0.5, -0.5, -0.5)
    >>> c.delta("expected_protected_years").difference > 0
    True
    """
    draws = draw_uniforms(len(base.phases), trials, rng, chunk_trials=chunk_trials)
    return compare_draws(
        base,
        alternative,
        draws,
        confidence=confidence,
        fan_sample_trials=fan_sample_trials,
        progress=progress,
    )
