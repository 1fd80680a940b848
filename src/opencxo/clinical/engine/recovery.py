"""Recovery plan: which sites to add (from CRO offers) and which to close, at least cost, so
that the probability of reaching the enrollment target by a deadline is at least a confidence.

The count enrolled by the deadline is a sum of independent Poisson–gamma counts, one per site:
an open site ``i`` recruits at ``λ_i ~ Gamma(a_i, b_i)`` (its posterior) over its
disruption-weighted exposure ``E_i`` from the as-of date to the deadline; a new site recruits
at ``λ ~ Gamma(α, α / r)`` (its offer's expected rate ``r``) from its opening (the offer's lag,
the activation delay, activation freezes). Each count has mean ``μ = E[λ] E[E]`` and variance
``μ + Var(λ E)``; the sum is matched by its first two moments and the chance constraint
``P(N >= n) >= c`` becomes ``M - z σ >= n - ½`` (``M``, ``σ²`` linear in the decisions). The
square root is replaced by its tangent at the previous solution (an upper bound of a concave
function, so the linear constraint is conservative) and the mixed-integer programme is solved
again until the tangent point stops moving (HiGHS through :func:`scipy.optimize.milp`).

Every candidate plan is then **verified by simulation** with :func:`.forecast.forecast`
(parameter uncertainty, activation delays, freezes and disruptions as in the forecast); when the
simulated probability falls short, ``z`` is raised by the shortfall (in normal quantiles) and
the programme solved again. The plan returned is the cheapest one whose simulated probability
reaches the confidence.

Costs are plain numbers in one currency (the caller's); money stays out of the engine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import optimize, stats

from .fit import DAYS_PER_MONTH, FloatArray, InputError, bounded, whole
from .forecast import (
    ActivationDelay,
    Disruption,
    Forecast,
    ForecastInputs,
    RngLike,
    Site,
    _entropy,
    _multiplier_integral,
    exposure_days,
    forecast,
)

__all__ = [
    "MAX_OFFER_ACTIVATION_LAG_DAYS",
    "MAX_OFFER_CAPACITY_SITES",
    "MAX_OFFER_COST",
    "MAX_OFFER_RATE_PER_SITE_PER_MONTH",
    "CandidateOffer",
    "OfferChoice",
    "RecoveryPlan",
    "RecoveryProblem",
    "SiteClosure",
    "SiteCost",
    "plan_recovery",
]

#: Called with (step done, steps in total, what is being done).
RecoveryProgress = Callable[[int, int, str], None]

#: The bounds of a :class:`CandidateOffer` (the API's site-offer schema reuses them).
MAX_OFFER_RATE_PER_SITE_PER_MONTH = 1000.0
MAX_OFFER_ACTIVATION_LAG_DAYS = 3650.0
MAX_OFFER_COST = 1e12
MAX_OFFER_CAPACITY_SITES = 1000


@dataclass(frozen=True)
class CandidateOffer:
    """Sites a CRO can open for the study: all alike, up to ``capacity_sites`` of them.

    Parameters
    ----------
    offer_id
        Identifier (unique among the offers).
    country, region
        Where the sites are (disruptions match on them as on the study's sites).
    expected_rate_per_site_per_month
        Mean patients per site per month once open (> 0).
    activation_lag_days
        Days from the as-of date until a site opens (>= 0), before the activation delay.
    startup_cost_per_site
        One-off cost of opening a site (>= 0).
    monthly_cost_per_site
        Cost per site per month from its opening to the deadline (>= 0).
    cost_per_patient
        Cost per patient enrolled (>= 0), counted on the patients expected by the deadline.
    capacity_sites
        How many sites the offer holds (>= 1).
    """

    offer_id: str
    country: str
    expected_rate_per_site_per_month: float
    activation_lag_days: float
    startup_cost_per_site: float
    monthly_cost_per_site: float = 0.0
    cost_per_patient: float = 0.0
    capacity_sites: int = 1
    region: str | None = None

    def __post_init__(self) -> None:
        context = f"CandidateOffer {self.offer_id!r}"
        if not isinstance(self.offer_id, str) or not self.offer_id:
            raise InputError("offer_id", self.offer_id, "must be a non-empty string", "Offer")
        if not isinstance(self.country, str) or not self.country:
            raise InputError("country", self.country, "must be a non-empty string", context)
        bounded("expected_rate_per_site_per_month", self.expected_rate_per_site_per_month,
                context, gt=0.0, le=MAX_OFFER_RATE_PER_SITE_PER_MONTH)  # fmt: skip
        bounded("activation_lag_days", self.activation_lag_days, context, ge=0.0,
                le=MAX_OFFER_ACTIVATION_LAG_DAYS)  # fmt: skip
        for name in ("startup_cost_per_site", "monthly_cost_per_site", "cost_per_patient"):
            bounded(name, getattr(self, name), context, ge=0.0, le=MAX_OFFER_COST)
        whole("capacity_sites", self.capacity_sites, context, ge=1)
        if self.capacity_sites > MAX_OFFER_CAPACITY_SITES:
            raise InputError("capacity_sites", self.capacity_sites,
                             f"must be <= {MAX_OFFER_CAPACITY_SITES}", context)  # fmt: skip


@dataclass(frozen=True)
class SiteCost:
    """What an existing site costs from the as-of date on, and whether it may be closed.

    Parameters
    ----------
    site_id
        A ``site_id`` of the problem's :attr:`ForecastInputs.sites`.
    monthly_cost
        Cost per month while it stays open, until the deadline (>= 0).
    cost_per_patient
        Cost per patient it enrolls (>= 0).
    closable
        False: the plan keeps it whatever it costs.
    closing_cost
        One-off cost of closing it (the close-out visit, archiving), >= 0.
    """

    site_id: str
    monthly_cost: float = 0.0
    cost_per_patient: float = 0.0
    closable: bool = True
    closing_cost: float = 0.0

    def __post_init__(self) -> None:
        context = f"SiteCost {self.site_id!r}"
        bounded("monthly_cost", self.monthly_cost, context, ge=0.0, le=1e12)
        bounded("cost_per_patient", self.cost_per_patient, context, ge=0.0, le=1e12)
        bounded("closing_cost", self.closing_cost, context, ge=0.0, le=1e12)


@dataclass(frozen=True)
class RecoveryProblem:
    """A recovery question.

    Parameters
    ----------
    inputs
        The (disrupted) forecast inputs; ``deadline_day`` must be set and > 0.
    offers
        Candidate sites from CRO offers.
    site_costs
        Costs of the existing sites (a site without one costs nothing and is never closed).
    confidence
        Required probability of reaching the target by the deadline, in (0, 1).
    allow_closing
        False: only add sites.
    """

    inputs: ForecastInputs
    offers: tuple[CandidateOffer, ...]
    site_costs: tuple[SiteCost, ...] = ()
    confidence: float = 0.8
    allow_closing: bool = True


@dataclass(frozen=True)
class OfferChoice:
    """Sites taken from one offer."""

    offer_id: str
    sites: int
    expected_patients_by_deadline: float
    cost: float


@dataclass(frozen=True)
class SiteClosure:
    """An existing site the plan closes at the as-of date; ``saving`` is net of its closing
    cost (its monthly and per-patient costs until the deadline, less the close-out)."""

    site_id: str
    expected_patients_lost: float
    saving: float


@dataclass(frozen=True, eq=False)
class RecoveryPlan:
    """The answer.

    Attributes
    ----------
    status
        ``"met"`` (the plan reaches the confidence, verified by simulation), ``"already_met"``
        (nothing needs adding; closures may still save money) or ``"unreachable"`` (even every
        offer falls short: ``added`` is then every offer and ``probability_after`` what it
        reaches).
    message
        One sentence saying so, for people.
    added, closed
        The sites to add per offer, and the sites to close.
    added_cost, savings, net_cost
        Cost of the added sites, what the closures save, and the difference.
    probability_before, probability_after
        Simulated P(target by deadline) without and with the plan (same seed).
    probability_approximation
        The moment-matched approximation's probability for the plan.
    before, after
        The forecasts without and with the plan.
    rounds
        Programmes solved.
    solver_wall_time_s, wall_time_s
        Time in the MILP solver and in all.
    """

    status: Literal["met", "already_met", "unreachable"]
    message: str
    confidence: float
    added: tuple[OfferChoice, ...]
    closed: tuple[SiteClosure, ...]
    added_cost: float
    savings: float
    net_cost: float
    probability_before: float
    probability_after: float
    probability_approximation: float
    before: Forecast
    after: Forecast
    rounds: int
    solver_wall_time_s: float
    wall_time_s: float


# --------------------------------------------------------------------------------------------
# Moments of each site's count by the deadline
# --------------------------------------------------------------------------------------------

#: Quantile nodes of the activation delay used for the moments (deterministic quadrature).
_DELAY_NODES = 32
#: Bounds of the paths of the verifying simulations.
MIN_PATHS, MAX_PATHS = 100, 1_000_000
#: Offers (after expansion to sites) beyond which the problem is refused.
MAX_CANDIDATE_SITES = 20_000
#: Starting points of the tangent iteration on the LP relaxation, fixed points then solved as
#: MILPs, and tangent moves at most per start (see :func:`_solve`).
_TANGENT_STARTS = 6
_MILP_STARTS = 2
_TANGENT_ITERATIONS = 10


@dataclass(frozen=True)
class _Moments:
    """Count by the deadline: mean, variance, and the expected months open until then."""

    mean: float
    variance: float
    months_open: float


def _delay_nodes(delay: ActivationDelay | None) -> FloatArray:
    """Equally weighted quantile nodes of the activation delay (days)."""
    if delay is None or delay.sd_days == 0:
        shift = 0.0 if delay is None else delay.shift_days + delay.mean_days
        return np.array([shift])
    u = (np.arange(_DELAY_NODES) + 0.5) / _DELAY_NODES
    cv2 = (delay.sd_days / delay.mean_days) ** 2
    if delay.family == "gamma":
        x = stats.gamma.ppf(u, 1.0 / cv2, scale=delay.mean_days * cv2)
    else:
        s2 = math.log1p(cv2)
        x = stats.lognorm.ppf(u, math.sqrt(s2), scale=math.exp(math.log(delay.mean_days) - s2 / 2))
    nodes: FloatArray = np.asarray(x, dtype=np.float64) + delay.shift_days
    return nodes


def _opening(planned_day: float, site: Site, delay: float, freezes: Sequence[Disruption]) -> float:
    """The opening day: planned + delay (not before day 0), pushed past matching freezes."""
    day = max(planned_day + delay, 0.0)
    for _ in range(len(freezes) + 1):
        moved = False
        for f in freezes:
            if f.matches(site) and f.start_day <= day < f.end:
                day = f.end
                moved = True
        if not moved:
            break
    return day


def _site_moments(
    site: Site, inputs: ForecastInputs, deadline: float, nodes: FloatArray
) -> _Moments:
    """Moments of the patients ``site`` enrolls between the as-of date and ``deadline``."""
    matching = [d for d in inputs.disruptions if d.matches(site)]
    alpha, beta = float(inputs.alpha), inputs.beta
    if site.is_active:
        a = alpha + site.enrolled
        b = beta + exposure_days(site, inputs.disruptions)
        e = _multiplier_integral(matching, 0.0, deadline)
        mean = a / b * e
        return _Moments(mean, mean + a / b**2 * e * e, deadline / DAYS_PER_MONTH)
    if site.planned_activation_day is None:
        return _Moments(0.0, 0.0, 0.0)
    rate = site.expected_rate_per_day or alpha / beta
    freezes = sorted(
        (d for d in inputs.disruptions if d.freeze_activations), key=lambda d: d.start_day
    )
    openings = np.array(
        [_opening(float(site.planned_activation_day), site, float(x), freezes) for x in nodes]
    )
    exposure = np.array(
        [_multiplier_integral(matching, o, deadline) if o < deadline else 0.0 for o in openings]
    )
    e1, e2 = float(exposure.mean()), float((exposure**2).mean())
    mean = rate * e1
    # Var(λE) = E[λ²] E[E²] - (E[λ] E[E])², with E[λ²] = r² (1 + 1/α) for Gamma(α, α/r).
    variance = mean + rate**2 * (1.0 + 1.0 / alpha) * e2 - mean**2
    months = float(np.maximum(deadline - openings, 0.0).mean()) / DAYS_PER_MONTH
    return _Moments(mean, max(variance, mean), months)


def _offer_site(offer: CandidateOffer, index: int) -> Site:
    return Site(
        site_id=f"+{offer.offer_id}#{index}",
        country=offer.country,
        region=offer.region,
        planned_activation_day=float(offer.activation_lag_days),
        expected_rate_per_day=offer.expected_rate_per_site_per_month / DAYS_PER_MONTH,
    )


def _probability_at_least(needed: float, mean: float, variance: float) -> float:
    """P(N >= needed) for the negative binomial (Poisson when not over-dispersed) matching
    ``mean`` and ``variance`` — the moment-matched approximation."""
    k = math.ceil(needed - 1e-9)
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if variance <= mean * (1 + 1e-9):
        return float(stats.poisson.sf(k - 1, mean))
    size = mean * mean / (variance - mean)
    return float(stats.nbinom.sf(k - 1, size, mean / variance))


# --------------------------------------------------------------------------------------------
# The programme
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    needed: float  # patients still to enroll, minus the continuity half
    base_mean: float
    base_variance: float
    offer_mean: FloatArray  # per site of each offer
    offer_variance: FloatArray
    offer_cost: FloatArray
    capacity: FloatArray
    close_index: tuple[int, ...]  # indices into inputs.sites of the closable sites
    close_mean: FloatArray
    close_variance: FloatArray
    close_saving: FloatArray


_Decision = tuple[tuple[int, ...], tuple[int, ...]]  # (sites per offer, closed flags)


def _solve(data: _Data, z: float, time_limit: float) -> tuple[_Decision | None, float]:
    """The cheapest decision meeting ``M - z σ >= needed`` with σ replaced by its tangent.

    Returns (decision or None when even every offer misses, seconds in the solver). The
    constraint's set is not convex (σ is concave), so the tangent iteration's fixed point
    depends on where it starts: it is run on the LP relaxation (milliseconds) from every offer
    taken (whose σ bounds every plan's) and a ladder of σ down to the base's; the MILP is then
    solved at the best fixed points and iterated there.
    """
    n_offers, n_close = data.offer_mean.size, data.close_mean.size
    cost = np.concatenate([data.offer_cost, -data.close_saving])
    everything = np.concatenate([data.capacity, np.zeros(n_close)])
    mean = data.base_mean + float(data.offer_mean @ data.capacity)
    top = math.sqrt(max(data.base_variance + float(data.offer_variance @ data.capacity), 1e-12))
    if mean - z * top < data.needed - 1e-9:
        return None, 0.0
    low = math.sqrt(max(data.base_variance, 1e-12))
    spent = 0.0
    relaxed: dict[float, float] = {}  # fixed-point σ (rounded) → LP value
    for root in [top, *np.geomspace(low, top, _TANGENT_STARTS)[:-1][::-1]]:
        fixed = _tangent_iteration(
            data, z, float(root), cost, integral=False, time_limit=time_limit
        )
        spent += fixed.seconds
        if fixed.x is not None:
            key = round(fixed.root, 6)
            relaxed[key] = min(relaxed.get(key, math.inf), fixed.value)
    found: list[tuple[float, _Decision]] = []
    for root in sorted(relaxed, key=relaxed.__getitem__)[:_MILP_STARTS]:
        solved = _tangent_iteration(data, z, root, cost, integral=True, time_limit=time_limit)
        spent += solved.seconds
        if solved.x is not None:
            x = solved.x
            found.append(
                (
                    solved.value,
                    (tuple(int(v) for v in x[:n_offers]), tuple(int(v) for v in x[n_offers:])),
                )
            )
    if not found:  # the tangent at every offer always admits that plan
        return (tuple(int(c) for c in everything[:n_offers]), (0,) * n_close), spent
    return min(found)[1], spent


@dataclass(frozen=True)
class _Iterated:
    x: FloatArray | None
    value: float
    root: float
    seconds: float


def _tangent_iteration(
    data: _Data, z: float, root: float, cost: FloatArray, *, integral: bool, time_limit: float
) -> _Iterated:
    """Solve with σ replaced by its tangent at ``root``, move the tangent to the solution's σ,
    repeat until it stays. Every solution meets the true constraint (the tangent is above σ).

    Closures count with their mean lost and their variance kept (conservative: σ only falls
    when a site closes, and the sum's lower quantile cannot rise by removing a site)."""
    n_offers, n_close = data.offer_mean.size, data.close_mean.size
    integrality = np.full(n_offers + n_close, 1 if integral else 0)
    bounds = optimize.Bounds(
        np.zeros(n_offers + n_close), np.concatenate([data.capacity, np.ones(n_close)])
    )
    spent = 0.0
    best: tuple[FloatArray, float, float] | None = None
    for _ in range(_TANGENT_ITERATIONS):
        row = np.concatenate(
            [data.offer_mean - z * data.offer_variance / (2 * root), -data.close_mean]
        )
        rhs = data.needed - data.base_mean + z * (root / 2 + data.base_variance / (2 * root))
        started = time.perf_counter()
        result = optimize.milp(
            cost,
            integrality=integrality,
            bounds=bounds,
            constraints=optimize.LinearConstraint(row[None, :], rhs, np.inf),
            options={"time_limit": time_limit, "mip_rel_gap": 1e-4},
        )
        spent += time.perf_counter() - started
        if result.x is None:
            break
        x = np.round(result.x) if integral else np.asarray(result.x, dtype=np.float64)
        value = float(cost @ x)
        new_root = math.sqrt(
            max(data.base_variance + float(data.offer_variance @ x[:n_offers]), 1e-12)
        )
        if best is None or value < best[1]:
            best = (x, value, new_root)
        if abs(new_root - root) <= 1e-6 * root:
            break
        root = new_root
    if best is None:
        return _Iterated(None, math.inf, root, spent)
    return _Iterated(best[0], best[1], best[2], spent)


def _validate(problem: RecoveryProblem, paths: int, max_rounds: int) -> float:
    context = "RecoveryProblem"
    if not isinstance(problem.inputs, ForecastInputs):
        raise InputError("inputs", problem.inputs, "must be ForecastInputs", context)
    deadline = problem.inputs.deadline_day
    if deadline is None or deadline <= 0:
        raise InputError("deadline_day", deadline, "must be set and after the as-of date", context)
    bounded("confidence", problem.confidence, context, gt=0.0)
    if not problem.confidence < 1.0:
        raise InputError("confidence", problem.confidence, "must be < 1", context)
    ids = [o.offer_id for o in problem.offers]
    if len(set(ids)) != len(ids):
        raise InputError("offers", ids, "offer_id must be unique", context)
    if sum(o.capacity_sites for o in problem.offers) > MAX_CANDIDATE_SITES:
        raise InputError("offers", len(ids), f"hold more than {MAX_CANDIDATE_SITES} sites", context)
    known = {s.site_id for s in problem.inputs.sites}
    costed = [c.site_id for c in problem.site_costs]
    for site_id in costed:
        if site_id not in known:
            raise InputError("site_costs", site_id, "is not a site of the inputs", context)
    if len(set(costed)) != len(costed):
        raise InputError("site_costs", costed, "site_id must be unique", context)
    paths = whole("paths", paths, "plan_recovery", ge=MIN_PATHS)
    if paths > MAX_PATHS:
        raise InputError("paths", paths, f"must be <= {MAX_PATHS:,}", "plan_recovery")
    whole("max_rounds", max_rounds, "plan_recovery", ge=1)
    return float(deadline)


def _data(problem: RecoveryProblem, deadline: float) -> _Data:
    inputs = problem.inputs
    nodes = _delay_nodes(inputs.activation_delay)
    base = [_site_moments(s, inputs, deadline, nodes) for s in inputs.sites]
    offers = [_site_moments(_offer_site(o, 0), inputs, deadline, nodes) for o in problem.offers]
    costs = {c.site_id: c for c in problem.site_costs}
    close_index = tuple(
        i
        for i, s in enumerate(inputs.sites)
        if problem.allow_closing
        and s.site_id in costs
        and costs[s.site_id].closable
        and (s.is_active or s.planned_activation_day is not None)
    )

    def saving(i: int) -> float:
        c, m = costs[inputs.sites[i].site_id], base[i]
        return c.monthly_cost * m.months_open + c.cost_per_patient * m.mean - c.closing_cost

    return _Data(
        needed=inputs.target - inputs.enrolled_to_date - 0.5,
        base_mean=sum(m.mean for m in base),
        base_variance=sum(m.variance for m in base),
        offer_mean=np.array([m.mean for m in offers]),
        offer_variance=np.array([m.variance for m in offers]),
        offer_cost=np.array(
            [
                o.startup_cost_per_site
                + o.monthly_cost_per_site * m.months_open
                + o.cost_per_patient * m.mean
                for o, m in zip(problem.offers, offers, strict=True)
            ]
        ),
        capacity=np.array([float(o.capacity_sites) for o in problem.offers]),
        close_index=close_index,
        close_mean=np.array([base[i].mean for i in close_index]),
        close_variance=np.array([base[i].variance for i in close_index]),
        close_saving=np.array([saving(i) for i in close_index]),
    )


def _inputs_with(problem: RecoveryProblem, data: _Data, decision: _Decision) -> ForecastInputs:
    inputs = problem.inputs
    closing = {data.close_index[j] for j, flag in enumerate(decision[1]) if flag}
    kept = [s for i, s in enumerate(inputs.sites) if i not in closing]
    added = [
        _offer_site(offer, k)
        for offer, count in zip(problem.offers, decision[0], strict=True)
        for k in range(count)
    ]
    lost = sum(inputs.sites[i].enrolled for i in closing)
    return replace(inputs, sites=tuple(kept + added), target=inputs.target - lost)


def _quantile(p: float) -> float:
    return float(stats.norm.ppf(min(max(p, 1e-6), 1 - 1e-6)))


def plan_recovery(
    problem: RecoveryProblem,
    paths: int = 20_000,
    rng: RngLike = None,
    *,
    max_rounds: int = 8,
    time_limit_s: float = 10.0,
    progress: RecoveryProgress | None = None,
) -> RecoveryPlan:
    """The cheapest plan whose simulated P(target by deadline) reaches the confidence.

    Parameters
    ----------
    problem
        Inputs (with the deadline), offers, site costs, confidence.
    paths
        Monte Carlo paths of each verifying forecast (100 to 10^6).
    rng
        Seed (int), generator or None; every forecast (before and each candidate plan) uses the
        same seed, so they differ by the plan only (common random numbers).
    max_rounds
        Programmes solved and verified at most (each with a different ``z``).
    time_limit_s
        Time limit of each MILP solve.
    progress
        Called with (step, steps in total, what is being done).

    Raises
    ------
    InputError
        No deadline or one not after the as-of date, a confidence outside (0, 1), duplicate
        offer ids, a site cost for an unknown site, ``paths`` or ``max_rounds`` out of bounds.

    Examples
    --------
    >>> from datetime import date
    >>> sites = [Site(f"S{i}", "PL", enrolled=4, activation_day=-200.0) for i in range(10)]
    >>> inputs = ForecastInputs(sites, date(2026, 1, 1), target=100, alpha=2.0,
    ...                         beta_days=100.0, deadline_day=240.0)
    >>> offer = CandidateOffer("CZ", "CZ", 1.0, 30.0, 20_000.0, capacity_sites=10)
    >>> plan = plan_recovery(RecoveryProblem(inputs, (offer,), confidence=0.8), 4000, rng=1)
    >>> plan.status, plan.probability_before < 0.8 <= plan.probability_after
    ('met', True)
    """
    started = time.perf_counter()
    deadline = _validate(problem, paths, max_rounds)
    entropy = _entropy(rng)
    steps = max_rounds + 2
    if progress is not None:
        progress(0, steps, "forecast without the plan")
    before = forecast(problem.inputs, paths, entropy)
    p_before = float(before.probability_by_deadline or 0.0)
    data = _data(problem, deadline)
    confidence = float(problem.confidence)

    simulated: dict[_Decision, Forecast] = {}

    def verify(decision: _Decision) -> Forecast:
        if decision not in simulated:
            nothing = not any(decision[0]) and not any(decision[1])
            simulated[decision] = (
                before
                if nothing
                else forecast(_inputs_with(problem, data, decision), paths, entropy)
            )
        return simulated[decision]

    def cost_of(decision: _Decision) -> float:
        return float(data.offer_cost @ np.array(decision[0], dtype=np.float64)) - float(
            data.close_saving @ np.array(decision[1], dtype=np.float64)
        )

    z = _quantile(confidence)
    failed_z, verified_z = -math.inf, math.inf
    history: list[tuple[float, float]] = []  # (z, normal quantile of the simulated probability)
    best: _Decision | None = None
    solver_time = 0.0
    rounds = 0
    for round_index in range(max_rounds):
        if progress is not None:
            progress(round_index + 1, steps, f"optimising and verifying, round {round_index + 1}")
        decision, spent = _solve(data, z, time_limit_s)
        solver_time += spent
        rounds += 1
        if decision is None:  # even every offer misses the approximation's constraint
            failed_z = min(failed_z, z) if math.isfinite(failed_z) else z
            break
        p = float(verify(decision).probability_by_deadline or 0.0)
        if p >= confidence:
            if best is None or cost_of(decision) < cost_of(best):
                best = decision
            verified_z = min(verified_z, z)
        else:
            failed_z = max(failed_z, z)
        wanted, reached = _quantile(confidence), _quantile(p)
        step = wanted - reached  # > 0: short of the confidence
        if best is not None and 0.0 <= -step < 0.05:
            break  # verified, with little to gain by loosening further
        # Secant on z ↦ the simulated probability's normal quantile: it rises more slowly than
        # z where the approximation misses variance (the parameters' uncertainty is common to
        # every site), so a plain step of the shortfall would creep up on the confidence.
        following = z + step
        if history:
            z_last, reached_last = history[-1]
            slope = (reached - reached_last) / (z - z_last) if z != z_last else 0.0
            if slope > 0.05:
                following = z + step / slope
        history.append((z, reached))
        if abs(following - z) < 0.01:
            following = z + math.copysign(0.01, step)
        if not failed_z < following < verified_z:
            following = (
                (failed_z + verified_z) / 2
                if math.isfinite(failed_z) and math.isfinite(verified_z)
                else (failed_z + 0.25 if math.isfinite(failed_z) else verified_z - 0.25)
            )
        if verified_z - failed_z < 0.02:
            break
        z = following

    n_close = len(data.close_index)
    everything: _Decision = (tuple(int(c) for c in data.capacity), (0,) * n_close)
    if best is None:
        if progress is not None:
            progress(steps - 1, steps, "verifying every offer")
        p_all = float(verify(everything).probability_by_deadline or 0.0)
        if p_all >= confidence:
            best = everything
    if progress is not None:
        progress(steps, steps, "done")
    chosen = best or everything
    after = verify(chosen)
    p_after = float(after.probability_by_deadline or 0.0)
    take = np.array(chosen[0], dtype=np.float64)
    close = np.array(chosen[1], dtype=np.float64)
    mean = data.base_mean + float(data.offer_mean @ take) - float(data.close_mean @ close)
    variance = (
        data.base_variance + float(data.offer_variance @ take) - float(data.close_variance @ close)
    )
    added = tuple(
        OfferChoice(
            offer_id=o.offer_id,
            sites=n,
            expected_patients_by_deadline=float(data.offer_mean[i] * n),
            cost=float(data.offer_cost[i] * n),
        )
        for i, (o, n) in enumerate(zip(problem.offers, chosen[0], strict=True))
        if n
    )
    closed = tuple(
        SiteClosure(
            site_id=problem.inputs.sites[data.close_index[j]].site_id,
            expected_patients_lost=float(data.close_mean[j]),
            saving=float(data.close_saving[j]),
        )
        for j, flag in enumerate(chosen[1])
        if flag
    )
    added_cost = sum(a.cost for a in added)
    savings = sum(c.saving for c in closed)
    percent = f"{confidence:.0%}" if round(confidence, 2) == confidence else f"{confidence:.1%}"
    status: Literal["met", "already_met", "unreachable"]
    if best is None:
        status = "unreachable"
        message = (
            f"Even all {int(data.capacity.sum())} candidate sites reach the target by the "
            f"deadline with probability {p_after:.1%} only, short of {percent}: move the "
            "deadline or find more sites."
        )
    elif not added:
        status = "already_met"
        message = (
            f"The target is reached by the deadline with probability {p_before:.1%} already "
            f"(≥ {percent}); no site needs adding"
            + (f", and closing {len(closed)} site(s) saves money." if closed else ".")
        )
    else:
        status = "met"
        change = f"Adding {sum(a.sites for a in added)} site(s)" + (
            f" and closing {len(closed)}" if closed else ""
        )
        if p_before >= confidence:  # a cheaper mix of sites, not a rescue
            message = (
                f"The target is reached by the deadline with probability {p_before:.1%} "
                f"already; {change[0].lower()}{change[1:]} costs {-(added_cost - savings):,.0f} "
                f"less while keeping it at {p_after:.1%} (≥ {percent})."
            )
        else:
            message = (
                f"{change} raises the probability of reaching the target by the deadline from "
                f"{p_before:.1%} to {p_after:.1%} (≥ {percent})."
            )
    return RecoveryPlan(
        status=status,
        message=message,
        confidence=confidence,
        added=added,
        closed=closed,
        added_cost=added_cost,
        savings=savings,
        net_cost=added_cost - savings,
        probability_before=p_before,
        probability_after=p_after,
        probability_approximation=_probability_at_least(data.needed + 0.5, mean, variance),
        before=before,
        after=after,
        rounds=rounds,
        solver_wall_time_s=solver_time,
        wall_time_s=time.perf_counter() - started,
    )
