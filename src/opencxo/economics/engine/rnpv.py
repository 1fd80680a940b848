"""Risk-adjusted NPV of one drug program by Monte Carlo, on common random numbers.

:func:`draw_uniforms` draws every standard uniform a scenario *shape* (its number of phases)
needs; :func:`evaluate` values a scenario on those draws; :func:`simulate` does both. Two
scenarios of the same shape evaluated on the same :class:`Draws` see the same random numbers
(see :mod:`opencxo.economics.engine.compare`). Trials are processed in chunks
(``chunk_trials``, default 65,536), vectorised over trials; only loops over phases, the uptake
years and the erosion steps remain in Python.

The inputs are in :mod:`opencxo.economics.engine.model`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import numpy.typing as npt
from scipy import special

from .model import FloatArray, InputError, ProgramScenario

__all__ = [
    "DEFAULT_CHUNK_TRIALS",
    "FAN_SAMPLE_TRIALS",
    "MAX_TRIALS",
    "NPV_SAMPLE_TRIALS",
    "DrawChunk",
    "Draws",
    "Progress",
    "RngLike",
    "RnpvResult",
    "YearBand",
    "draw_uniforms",
    "evaluate",
    "simulate",
]

RngLike = np.random.Generator | int | None
#: Called after each chunk with (trials done, trials in total).
Progress = Callable[[int, int], None]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_CHUNK_TRIALS = 65_536
MAX_TRIALS = 1_000_000_000
#: Trials (the first ones) whose yearly cash flows give the percentiles of the cash-flow fan.
FAN_SAMPLE_TRIALS = 10_000
#: Trials (the first ones) whose NPVs are returned for a histogram.
NPV_SAMPLE_TRIALS = 10_000
#: Uniforms per phase, in this order: duration, cost, success probability (Beta), success.
ROWS_PER_PHASE = 4
_DURATION, _COST, _PROBABILITY, _SUCCESS = range(ROWS_PER_PHASE)
#: Grid points of the tabulated Beta quantile function (linear interpolation in between).
BETA_GRID = 8192


# --------------------------------------------------------------------------------------------
# Random numbers
# --------------------------------------------------------------------------------------------


def _trial_count(argument: str, value: object, context: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(argument, value, "must be a whole number", context)
    number = int(value)
    if not 1 <= number <= MAX_TRIALS:
        raise InputError(argument, value, f"must be in [1, {MAX_TRIALS:,}]", context)
    return number


def _entropy(rng: object) -> int:
    """Seed entropy for :class:`Draws` from ``rng`` (Generator, non-negative int or None)."""
    if rng is None:
        entropy = np.random.SeedSequence().entropy
        assert isinstance(entropy, int)
        return entropy
    if isinstance(rng, np.random.Generator):
        high, low = rng.integers(0, 2**64, size=2, dtype=np.uint64)
        return (int(high) << 64) | int(low)
    if isinstance(rng, Integral) and not isinstance(rng, bool):
        if int(rng) < 0:
            raise InputError("rng", rng, "must be >= 0 when given as a seed")
        return int(rng)
    raise InputError("rng", rng, "must be a numpy.random.Generator, a non-negative int or None")


@dataclass(frozen=True, eq=False)
class DrawChunk:
    """The uniforms of one chunk of trials.

    Attributes
    ----------
    index
        Chunk number, from 0.
    start
        Index of the chunk's first trial.
    uniforms
        Standard uniforms, shape ``(1 + 4 * n_phases, size)``: row 0 drives peak sales; rows
        ``1 + 4 i + (0, 1, 2, 3)`` drive phase ``i``'s duration, cost, Beta success
        probability and success.
    """

    index: int
    start: int
    uniforms: FloatArray

    @property
    def size(self) -> int:
        """Trials in the chunk."""
        return int(self.uniforms.shape[1])

    @property
    def peak_sales(self) -> FloatArray:
        """Uniforms of the peak sales."""
        row: FloatArray = self.uniforms[0]
        return row

    def phase(self, phase: int, row: int) -> FloatArray:
        """Uniforms of ``phase`` (from 0) for ``row`` 0 duration, 1 cost, 2 probability, 3 success."""
        values: FloatArray = self.uniforms[1 + ROWS_PER_PHASE * phase + row]
        return values


@dataclass(frozen=True)
class Draws:
    """All standard uniforms of ``trials`` trials of a scenario shape, regenerated on demand.

    Chunk ``c`` is drawn from ``PCG64(SeedSequence(entropy, spawn_key=(c,)))`` as one
    ``(1 + 4 * n_phases, size)`` block, so each chunk is bit-identical every time it is asked
    for: the draws are fixed once (by the seed) without holding 10 million trials in memory.
    The rows of phase ``i`` do not depend on how many phases follow it.

    Parameters
    ----------
    n_phases
        Number of phases of the scenarios to evaluate on these draws.
    trials
        Number of trials.
    entropy
        Seed entropy (a non-negative int).
    chunk_trials
        Trials per chunk; a different chunk size gives different (equally valid) draws.

    Raises
    ------
    InputError
        An argument outside its bound.
    """

    n_phases: int
    trials: int
    entropy: int
    chunk_trials: int = DEFAULT_CHUNK_TRIALS

    def __post_init__(self) -> None:
        if (
            isinstance(self.n_phases, bool)
            or not isinstance(self.n_phases, Integral)
            or self.n_phases < 1
        ):
            raise InputError("n_phases", self.n_phases, "must be a whole number >= 1", "Draws")
        _trial_count("trials", self.trials, "Draws")
        _trial_count("chunk_trials", self.chunk_trials, "Draws")
        if isinstance(self.entropy, bool) or not isinstance(self.entropy, Integral):
            raise InputError("entropy", self.entropy, "must be a non-negative int", "Draws")
        if self.entropy < 0:
            raise InputError("entropy", self.entropy, "must be >= 0", "Draws")

    @property
    def n_chunks(self) -> int:
        """Number of chunks."""
        return -(-self.trials // self.chunk_trials)

    def chunk(self, index: int) -> DrawChunk:
        """Chunk ``index`` (0 to ``n_chunks - 1``)."""
        if not 0 <= index < self.n_chunks:
            raise InputError("index", index, f"must be in [0, {self.n_chunks - 1}]", "Draws.chunk")
        start = index * self.chunk_trials
        size = min(self.chunk_trials, self.trials - start)
        seed = np.random.SeedSequence(self.entropy, spawn_key=(index,))
        generator = np.random.Generator(np.random.PCG64(seed))
        uniforms = generator.random((1 + ROWS_PER_PHASE * self.n_phases, size))
        return DrawChunk(index=index, start=start, uniforms=uniforms)

    def chunks(self) -> Iterator[DrawChunk]:
        """All chunks in order."""
        for index in range(self.n_chunks):
            yield self.chunk(index)


def draw_uniforms(
    n_phases: int,
    trials: int,
    rng: RngLike = None,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
) -> Draws:
    """Fix the standard uniforms of ``trials`` trials for scenarios with ``n_phases`` phases.

    Parameters
    ----------
    n_phases
        Number of phases (>= 1).
    trials
        Number of trials, 1 to 10^9.
    rng
        A :class:`numpy.random.Generator` (one 128-bit seed is drawn from it), a non-negative
        int seed, or None for fresh entropy.
    chunk_trials
        Trials per chunk (default 65,536): bounds memory; part of the draws' identity.

    Returns
    -------
    Draws
        A reproducible recipe of the uniforms; iterate :meth:`Draws.chunks`.

    Raises
    ------
    InputError
        An argument outside its bound or an ``rng`` of the wrong type.

    Examples
    --------
    >>> d = draw_uniforms(3, 1000, 7)
    >>> d.chunk(0).uniforms.shape
    (13, 1000)
    >>> bool((d.chunk(0).uniforms == draw_uniforms(3, 1000, 7).chunk(0).uniforms).all())
    True
    """
    return Draws(n_phases=n_phases, trials=trials, entropy=_entropy(rng), chunk_trials=chunk_trials)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearBand:
    """Net cash flow of one calendar year ``[year, year + 1)`` from now, $M (undiscounted)."""

    year: int
    mean_musd: float
    p10_musd: float
    p50_musd: float
    p90_musd: float


@dataclass(frozen=True)
class RnpvResult:
    """Result of a Monte Carlo valuation.

    Attributes
    ----------
    trials
        Number of trials.
    rnpv_mean_musd, rnpv_standard_error_musd
        Mean NPV over all trials (the rNPV), $M, and its Monte Carlo standard error.
    rnpv_p05_musd, rnpv_p50_musd, rnpv_p95_musd
        5th, 50th, 95th percentiles of the trial NPVs, $M.
    probability_of_approval, probability_of_approval_standard_error
        Share of trials that pass every phase, and its standard error.
    analytic_probability_of_approval
        Product of the phases' (mean) success probabilities.
    approval_probability_p05, approval_probability_p95
        5th/95th percentiles of the product of the per-trial success probabilities (the
        epistemic spread when probabilities are Beta-distributed; both equal the analytic value
        when they are fixed), over the first ``fan_sample_trials`` trials.
    expected_cost_musd, expected_cost_pv_musd
        Mean development (phase) cost per trial, undiscounted and discounted, $M; a failure
        stops spending after the failed phase. Excludes the launch cost.
    expected_cost_by_year_musd
        Mean development spend in each calendar year of the horizon, $M, undiscounted (what a
        portfolio's yearly budget is checked against); sums to ``expected_cost_musd`` within
        the horizon.
    launch_years_mean, launch_years_p05, launch_years_p50, launch_years_p95
        Launch date of approved trials, years from now (None when no trial is approved).
    launch_year_histogram
        Number of approved trials launching in year ``k`` (``[k, k + 1)`` from now), k = 0, 1, ...
    expected_protected_years
        Mean over all trials of the years of sales before loss of exclusivity, within the
        horizon (0 for a failed trial).
    expected_protected_sales_musd
        Mean over all trials of the sales (before COGS and tax) before loss of exclusivity within
        the horizon, $M, undiscounted.
    cash_flow_fan
        Per year of the horizon: mean (over all trials) and P10/P50/P90 (over the first
        ``fan_sample_trials`` trials) of the net cash flow.
    fan_sample_trials
        Trials behind the fan's percentiles and the approval-probability percentiles.
    npv_sample_musd
        NPVs of the first (up to 10,000) trials, $M, for a histogram.
    """

    trials: int
    rnpv_mean_musd: float
    rnpv_standard_error_musd: float
    rnpv_p05_musd: float
    rnpv_p50_musd: float
    rnpv_p95_musd: float
    probability_of_approval: float
    probability_of_approval_standard_error: float
    analytic_probability_of_approval: float
    approval_probability_p05: float
    approval_probability_p95: float
    expected_cost_musd: float
    expected_cost_pv_musd: float
    expected_cost_by_year_musd: tuple[float, ...]
    launch_years_mean: float | None
    launch_years_p05: float | None
    launch_years_p50: float | None
    launch_years_p95: float | None
    launch_year_histogram: tuple[int, ...]
    expected_protected_years: float
    expected_protected_sales_musd: float
    cash_flow_fan: tuple[YearBand, ...]
    fan_sample_trials: int
    npv_sample_musd: tuple[float, ...]


# --------------------------------------------------------------------------------------------
# The model on one chunk
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _beta_table(alpha: float, beta: float) -> FloatArray:
    """Beta(alpha, beta) quantiles at ``u = j / BETA_GRID``, j = 0..BETA_GRID (read-only)."""
    u = np.linspace(0.0, 1.0, BETA_GRID + 1)
    table = np.asarray(special.betaincinv(alpha, beta, u), dtype=np.float64)
    table[0], table[-1] = 0.0, 1.0
    table = np.clip(np.maximum.accumulate(table), 0.0, 1.0)
    table.setflags(write=False)
    return table


def _beta_success(
    alpha: float, beta: float, u_probability: FloatArray, u_success: FloatArray
) -> tuple[BoolArray, FloatArray]:
    """Success ``u_success < Q(u_probability)`` for the Beta quantile function ``Q``, exactly.

    ``Q(u)`` lies between the tabulated quantiles around ``u``; only trials whose ``u_success``
    falls in that bracket are settled with the incomplete beta function
    (``u_s < Q(u_p)`` iff ``I(u_s; alpha, beta) < u_p``). Also returns ``Q`` interpolated
    linearly in the table (for reporting the per-trial probability).
    """
    table = _beta_table(alpha, beta)
    x = u_probability * BETA_GRID
    index = x.astype(np.intp)
    np.minimum(index, BETA_GRID - 1, out=index)
    low = table[index]
    high = table[index + 1]
    success = u_success < low
    unsure = np.flatnonzero((u_success >= low) & (u_success < high))
    if unsure.size:
        cdf = np.asarray(special.betainc(alpha, beta, u_success[unsure]), dtype=np.float64)
        success[unsure] = cdf < u_probability[unsure]
    return success, low + (high - low) * (x - index)


@dataclass(frozen=True, eq=False)
class _Grid:
    """Discount weights of the horizon: ``discount[k] = (1 + r)^-(k + 1/2)``, 0 at ``k = H``;
    ``cumulative[k]`` = sum of ``discount[:k]``."""

    horizon: int
    discount: FloatArray
    cumulative: FloatArray

    @classmethod
    def of(cls, scenario: ProgramScenario) -> _Grid:
        horizon = scenario.horizon_years
        discount = np.zeros(horizon + 1)
        discount[:horizon] = (1.0 + scenario.discount_rate) ** -(np.arange(horizon) + 0.5)
        cumulative = np.concatenate(([0.0], np.cumsum(discount[:horizon])))
        return cls(horizon=horizon, discount=discount, cumulative=cumulative)


class _Accumulator:
    """Discounts cash-flow pieces per trial and buckets them into calendar years.

    A *ramp* ``w * U(t)`` is the cumulative cash of a constant rate ``w`` from 0 to ``t``; a
    constant-rate segment ``[a, b]`` is ``ramp(b, w) - ramp(a, w)``. A *lump* is an amount in
    one year. Yearly sums are kept as differences (``delta``) and summed up at the end.
    """

    def __init__(self, grid: _Grid, *, years: bool, sample: int) -> None:
        self.h = grid.horizon
        self.discount = grid.discount
        self.cumulative = grid.cumulative
        self.years = years
        self.delta = np.zeros(self.h + 2)
        self.sample = sample if years else 0
        self.rows = np.arange(self.sample)
        self.sample_delta = np.zeros((self.sample, self.h + 2))

    def ramp(self, t: FloatArray, w: FloatArray) -> FloatArray:
        """``w * W(t)``, the present value of ``w`` per year from 0 to ``t`` (t >= 0)."""
        index = t.astype(np.intp)
        np.minimum(index, self.h, out=index)
        frac = t - index
        value: FloatArray = w * (self.cumulative[index] + self.discount[index] * frac)
        if self.years:
            h = self.h
            wf = w * frac
            below = wf - w
            self.delta[0] += w.sum()
            self.delta[: h + 1] += np.bincount(index, weights=below, minlength=h + 1)
            self.delta[1:] -= np.bincount(index, weights=wf, minlength=h + 1)
            s = self.sample
            if s:
                rows, cols = self.rows, index[:s]
                self.sample_delta[:, 0] += w[:s]
                self.sample_delta[rows, cols] += below[:s]
                self.sample_delta[rows, cols + 1] -= wf[:s]
        return value

    def lump(self, year: IntArray, amount: FloatArray) -> FloatArray:
        """Present value of ``amount`` falling in calendar year ``year`` (mid-year)."""
        index = np.minimum(year, self.h)
        value: FloatArray = amount * self.discount[index]
        if self.years:
            h = self.h
            self.delta[: h + 1] += np.bincount(index, weights=amount, minlength=h + 1)
            self.delta[1:] -= np.bincount(index, weights=amount, minlength=h + 1)
            s = self.sample
            if s:
                rows, cols = self.rows, index[:s]
                self.sample_delta[rows, cols] += amount[:s]
                self.sample_delta[rows, cols + 1] -= amount[:s]
        return value

    def year_sums(self) -> FloatArray:
        """Sum over trials of the net cash flow of each year, $M."""
        return np.cumsum(self.delta)[: self.h]

    def sample_years(self) -> FloatArray:
        """Net cash flow per year of the sampled trials, shape ``(sample, horizon)``."""
        return np.cumsum(self.sample_delta, axis=1)[:, : self.h]


@dataclass(frozen=True, eq=False)
class _ChunkOut:
    """Per-trial outputs of one chunk."""

    npv: FloatArray
    approved: BoolArray
    cost: FloatArray
    cost_pv: FloatArray
    launch: FloatArray
    protected_years: FloatArray
    protected_sales: FloatArray
    year_sums: FloatArray | None
    cost_year_sums: FloatArray | None
    sample_years: FloatArray | None
    sample_approval: FloatArray | None


def _run_chunk(
    scenario: ProgramScenario,
    grid: _Grid,
    chunk: DrawChunk,
    *,
    years: bool = True,
    sample: int = 0,
) -> _ChunkOut:
    """Value ``scenario`` on the uniforms of ``chunk`` (see :func:`evaluate` for the model)."""
    n = chunk.size
    sample = min(sample, n) if years else 0
    acc = _Accumulator(grid, years=years, sample=sample)
    # Development spend alone, per calendar year (for budgets): the same ramps, kept apart.
    spend = _Accumulator(grid, years=years, sample=0)

    def cost_ramp(t: FloatArray, w: FloatArray) -> FloatArray:
        spend.ramp(t, w)
        return acc.ramp(t, w)

    alive = np.ones(n, dtype=bool)
    clock = np.zeros(n)
    cost = np.zeros(n)
    cost_pv = np.zeros(n)
    approval = np.ones(sample)
    pending: tuple[FloatArray, FloatArray] | None = None  # end ramp of the previous phase
    for i, phase in enumerate(scenario.phases):
        duration = phase.duration_years.quantile(chunk.phase(i, _DURATION))
        paid = phase.cost_musd.quantile(chunk.phase(i, _COST)) * alive
        rate = paid / duration
        if phase.start_delay_years:
            clock = clock + phase.start_delay_years
        if pending is not None and pending[0] is clock:
            cost_pv -= cost_ramp(clock, rate - pending[1])
        else:
            if pending is not None:
                cost_pv -= cost_ramp(pending[0], -pending[1])
            cost_pv -= cost_ramp(clock, rate)
        clock = clock + duration
        pending = (clock, rate)
        cost += paid
        if phase.is_beta:
            alpha, beta = phase.beta_parameters
            success, p = _beta_success(
                alpha, beta, chunk.phase(i, _PROBABILITY), chunk.phase(i, _SUCCESS)
            )
            alive &= success
            approval *= p[:sample]
        else:
            alive &= chunk.phase(i, _SUCCESS) < phase.success_probability
            approval *= phase.success_probability
    assert pending is not None
    cost_pv -= cost_ramp(pending[0], -pending[1])

    launch, approved = clock, alive
    revenue, exclusivity = scenario.revenue, scenario.exclusivity
    peak = revenue.peak_sales_musd.quantile(chunk.peak_sales) * approved
    cash = peak * scenario.after_tax_margin
    to_peak = revenue.years_to_peak
    erosion_start = np.maximum(launch, exclusivity.protected_until_years)
    peak_at = launch + to_peak
    uptake_end = np.minimum(erosion_start, peak_at)

    sales_pv = np.zeros(n)
    launch_year = launch.astype(np.intp)
    done = np.zeros(n)
    for j in range(math.ceil(to_peak) + 1):  # calendar years overlapping the uptake
        year = launch_year + j
        upto = np.clip(year + 1.0, launch, uptake_end)
        cumulative = revenue.cumulative_uptake_years(upto - launch)
        sales_pv += acc.lump(year, cash * (cumulative - done))
        done = cumulative
    plateau_end = np.maximum(erosion_start, peak_at)
    sales_pv += acc.ramp(plateau_end, cash) + acc.ramp(peak_at, -cash)
    level = cash * revenue.uptake(uptake_end - launch)
    kept = exclusivity.erosion
    sales_pv += acc.ramp(erosion_start, -kept[0] * level)
    for j in range(1, len(kept)):
        if kept[j - 1] != kept[j]:
            sales_pv += acc.ramp(erosion_start + j, (kept[j - 1] - kept[j]) * level)
    if kept[-1]:
        sales_pv += acc.ramp(np.full(n, float(grid.horizon)), kept[-1] * level)
    npv = sales_pv - cost_pv
    if scenario.launch_cost_musd:
        npv += acc.lump(launch_year, -scenario.launch_cost_musd * approved)

    horizon = float(grid.horizon)
    protected_end = np.minimum(erosion_start, horizon)
    protected_start = np.minimum(launch, horizon)
    protected_years = (protected_end - protected_start) * approved
    protected_sales = peak * revenue.cumulative_uptake_years(protected_end - protected_start)
    return _ChunkOut(
        npv=npv,
        approved=approved,
        cost=cost,
        cost_pv=cost_pv,
        launch=launch,
        protected_years=protected_years,
        protected_sales=protected_sales,
        year_sums=acc.year_sums() if years else None,
        cost_year_sums=-spend.year_sums() if years else None,
        sample_years=acc.sample_years() if sample else None,
        sample_approval=approval if sample else None,
    )


class _Reducer:
    """Combines chunk outputs into an :class:`RnpvResult` (exactly: every NPV is kept)."""

    def __init__(self, scenario: ProgramScenario, trials: int, fan_sample: int) -> None:
        self.scenario = scenario
        self.trials = trials
        self.fan_sample = fan_sample
        self.npv = np.empty(trials)
        self.launches: list[FloatArray] = []
        self.approved = 0
        self.cost = 0.0
        self.cost_pv = 0.0
        self.protected_years = 0.0
        self.protected_sales = 0.0
        self.year_sums = np.zeros(scenario.horizon_years)
        self.cost_year_sums = np.zeros(scenario.horizon_years)
        self.sample_years: FloatArray | None = None
        self.sample_approval: FloatArray | None = None

    def add(self, start: int, out: _ChunkOut) -> None:
        self.npv[start : start + out.npv.size] = out.npv
        self.launches.append(out.launch[out.approved])
        self.approved += int(np.count_nonzero(out.approved))
        self.cost += float(out.cost.sum())
        self.cost_pv += float(out.cost_pv.sum())
        self.protected_years += float(out.protected_years.sum())
        self.protected_sales += float(out.protected_sales.sum())
        if out.year_sums is not None:
            self.year_sums += out.year_sums
        if out.cost_year_sums is not None:
            self.cost_year_sums += out.cost_year_sums
        if out.sample_years is not None:
            self.sample_years = out.sample_years
            self.sample_approval = out.sample_approval

    def result(self) -> RnpvResult:
        n = self.trials
        npv = self.npv
        p05, p50, p95 = (float(v) for v in np.percentile(npv, [5.0, 50.0, 95.0]))
        se = float(npv.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
        poa = self.approved / n
        launches = np.concatenate(self.launches)
        if launches.size:
            l05, l50, l95 = (float(v) for v in np.percentile(launches, [5.0, 50.0, 95.0]))
            launch_mean: float | None = float(launches.mean())
            histogram = tuple(int(c) for c in np.bincount(launches.astype(np.intp)))
            launch_p: tuple[float | None, ...] = (l05, l50, l95)
        else:
            launch_mean, launch_p, histogram = None, (None, None, None), ()
        means = self.year_sums / n
        analytic = self.scenario.analytic_probability_of_approval
        if self.sample_years is not None and self.sample_approval is not None:
            bands = np.percentile(self.sample_years, [10.0, 50.0, 90.0], axis=0)
            fan = tuple(
                YearBand(
                    year=k,
                    mean_musd=float(means[k]),
                    p10_musd=float(bands[0, k]),
                    p50_musd=float(bands[1, k]),
                    p90_musd=float(bands[2, k]),
                )
                for k in range(means.size)
            )
            a05, a95 = (float(v) for v in np.percentile(self.sample_approval, [5.0, 95.0]))
            fan_trials = int(self.sample_years.shape[0])
        else:
            fan, a05, a95, fan_trials = (), analytic, analytic, 0
        return RnpvResult(
            trials=n,
            rnpv_mean_musd=float(npv.mean()),
            rnpv_standard_error_musd=se,
            rnpv_p05_musd=p05,
            rnpv_p50_musd=p50,
            rnpv_p95_musd=p95,
            probability_of_approval=poa,
            probability_of_approval_standard_error=math.sqrt(poa * (1.0 - poa) / n),
            analytic_probability_of_approval=analytic,
            approval_probability_p05=a05,
            approval_probability_p95=a95,
            expected_cost_musd=self.cost / n,
            expected_cost_pv_musd=self.cost_pv / n,
            expected_cost_by_year_musd=tuple(float(v) for v in self.cost_year_sums / n),
            launch_years_mean=launch_mean,
            launch_years_p05=launch_p[0],
            launch_years_p50=launch_p[1],
            launch_years_p95=launch_p[2],
            launch_year_histogram=histogram,
            expected_protected_years=self.protected_years / n,
            expected_protected_sales_musd=self.protected_sales / n,
            cash_flow_fan=fan,
            fan_sample_trials=fan_trials,
            npv_sample_musd=tuple(npv[:NPV_SAMPLE_TRIALS].tolist()),
        )


def _check_shape(scenario: ProgramScenario, draws: Draws, argument: str = "scenario") -> None:
    if not isinstance(scenario, ProgramScenario):
        raise InputError(argument, scenario, "must be a ProgramScenario")
    if not isinstance(draws, Draws):
        raise InputError("draws", draws, "must be Draws (see draw_uniforms)")
    if draws.n_phases != len(scenario.phases):
        raise InputError(
            "draws.n_phases",
            draws.n_phases,
            f"must equal the number of phases of {argument} ({len(scenario.phases)})",
        )


def _fan_sample(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < 1:
        raise InputError("fan_sample_trials", value, "must be a whole number >= 1")
    return int(value)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def evaluate(
    scenario: ProgramScenario,
    draws: Draws,
    *,
    fan_sample_trials: int = FAN_SAMPLE_TRIALS,
    progress: Progress | None = None,
) -> RnpvResult:
    """Value ``scenario`` on fixed ``draws`` (common random numbers).

    Parameters
    ----------
    scenario
        The program.
    draws
        Uniforms from :func:`draw_uniforms` with ``n_phases == len(scenario.phases)``.
    fan_sample_trials
        Trials (the first ones, at most one chunk) whose yearly cash flows give the fan's
        percentiles; default 10,000. The fan's mean always uses every trial.
    progress
        Called after each chunk with ``(trials done, trials in total)``.

    Returns
    -------
    RnpvResult

    Raises
    ------
    InputError
        ``draws`` of another shape, or a bad argument.

    Notes
    -----
    **Timing.** Time 0 is the valuation date, the start of the current phase. Phase :math:`i`
    starts at :math:`S_i = E_{i-1} + \\delta_i` (:math:`\\delta_i` = ``start_delay_years``,
    :math:`E_{-1} = 0`) and ends at :math:`E_i = S_i + D_i`, with :math:`D_i` its triangular
    duration. It is reached if every earlier phase succeeded; then its cost :math:`C_i` is spent
    at the constant rate :math:`C_i / D_i` over :math:`[S_i, E_i]` (all of it, even if the phase
    fails: the outcome is known at its end), and it succeeds when :math:`V_i < p_i`. A failure
    stops all later cash flows. The last phase is the regulatory review; an approved program
    launches at :math:`L = E_{n-1}` and pays ``launch_cost_musd`` in the year of launch.

    **Sales.** With peak sales :math:`P` (triangular), uptake :math:`g` and its integral
    :math:`G` (see :class:`~opencxo.economics.engine.model.Revenue`), protection until
    :math:`Z` = ``loss_years_from_now + extension_years``, erosion from
    :math:`X = \\max(L, Z)` and erosion fractions :math:`e_1, e_2, \\dots` (last one held):

    .. math::
        s(t) = P\\,g(t - L) \\quad (L \\le t < X), \\qquad
        s(t) = P\\,g(X - L)\\,e_{\\lceil t - X \\rceil} \\quad (t \\ge X).

    So erosion applies to the sales level reached at loss of exclusivity, and a later launch
    leaves fewer protected years. After-tax operating cash is
    :math:`s(t)\\,(1 - c)(1 - \\tau)` for COGS share :math:`c` and tax rate :math:`\\tau`.

    **Discounting.** Cash flows are integrated *exactly* into calendar years
    :math:`[k, k+1)`, :math:`k = 0, \\dots, H-1` (:math:`H` = ``horizon_years``; later cash is
    ignored), and each year is discounted at mid-year:

    .. math::
        \\mathrm{NPV} = \\sum_{k=0}^{H-1} (1 + r)^{-(k + 1/2)}\\,CF_k,
        \\qquad \\mathrm{rNPV} = \\mathrm{E}[\\mathrm{NPV}].

    **Simplifications.** Development costs are not tax-deductible (no tax shield, no loss
    carry-forward); no working capital, terminal value, inflation, milestone or royalty income;
    everything proportional to sales sits in ``cogs_share``; tax is paid in the year of the
    sales; probabilities of different phases are independent.

    **Numerics.** Percentiles and the standard error use every trial (all NPVs are kept as
    float64: 80 MB at 10 million trials); launch statistics keep the approved trials' dates.
    A Beta-distributed success is decided exactly (:math:`V < Q(U)`, with :math:`Q` the Beta
    quantile function): a table of 8,193 quantiles brackets :math:`Q(U)` and the regularised
    incomplete beta function settles the few trials inside the bracket.

    References
    ----------
    Stewart, J. J., Allison, P. N., Johnson, R. S. (2001). Putting a price on biotechnology.
    *Nature Biotechnology* 19, 813-817.
    Svennebring, A. M., Wikberg, J. E. S. (2013). Net present value approaches for drug discovery.
    *SpringerPlus* 2, 140.

    Examples
    --------
    >>> from opencxo.economics.engine.model import (
    ...     Exclusivity, Phase, ProgramScenario, Revenue, fixed)
    >>> s = ProgramScenario(
    ...     phases=(Phase(name="NDA", success_probability=1.0, duration_years=fixed(1.0),
    ...                   cost_musd=fixed(10.0)),),
    ...     revenue=Revenue(peak_sales_musd=fixed(100.0), years_to_peak=1.0, shape=0.0),
    ...     exclusivity=Exclusivity(loss_years_from_now=3.0, erosion=(0.0,)),
    ...     cogs_share=0.0, tax_rate=0.0, discount_rate=0.0, horizon_years=5)
    >>> r = evaluate(s, draw_uniforms(1, 100, 0))
    >>> round(r.rnpv_mean_musd, 9), r.probability_of_approval   # -10 + 100 * (0.5 + 1)
    (140.0, 1.0)
    """
    _check_shape(scenario, draws)
    fan_sample = _fan_sample(fan_sample_trials)
    grid = _Grid.of(scenario)
    reducer = _Reducer(scenario, draws.trials, fan_sample)
    for chunk in draws.chunks():
        out = _run_chunk(scenario, grid, chunk, sample=fan_sample if chunk.index == 0 else 0)
        reducer.add(chunk.start, out)
        if progress is not None:
            progress(chunk.start + chunk.size, draws.trials)
    return reducer.result()


def simulate(
    scenario: ProgramScenario,
    trials: int,
    rng: RngLike = None,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    fan_sample_trials: int = FAN_SAMPLE_TRIALS,
    progress: Progress | None = None,
) -> RnpvResult:
    """Monte Carlo rNPV of ``scenario``: :func:`draw_uniforms` then :func:`evaluate`.

    Parameters
    ----------
    scenario
        The program.
    trials
        Number of trials, 1 to 10^9. Memory: 8 bytes per trial (every NPV is kept) plus
        8 per approved trial, plus about 30 MB of working arrays per 65,536-trial chunk
        (10 million trials peak at about 250 MB resident).
    rng
        Generator, non-negative int seed (same seed, same answer) or None.
    chunk_trials, fan_sample_trials, progress
        See :func:`draw_uniforms` and :func:`evaluate`.

    Returns
    -------
    RnpvResult

    Raises
    ------
    InputError
        A bad argument.

    Notes
    -----
    The model is described in :func:`evaluate`. The result depends on the seed, ``trials`` and
    ``chunk_trials`` only.

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
    ...     exclusivity=Exclusivity(loss_years_from_now=14.0, erosion=(0.2, 0.1)),
    ...     cogs_share=0.15, tax_rate=0.21, discount_rate=0.10, horizon_years=25)
    >>> r = simulate(s, 20_000, rng=1)
    >>> abs(r.probability_of_approval - 0.54) < 3 * r.probability_of_approval_standard_error
    True
    """
    draws = draw_uniforms(len(scenario.phases), trials, rng, chunk_trials=chunk_trials)
    return evaluate(scenario, draws, fan_sample_trials=fan_sample_trials, progress=progress)
