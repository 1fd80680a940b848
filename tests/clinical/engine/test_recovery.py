"""Recovery plan: optimal under the moment-matched constraint, verified by simulation."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from opencxo.clinical.engine import recovery
from opencxo.clinical.engine.fit import DAYS_PER_MONTH, InputError
from opencxo.clinical.engine.forecast import (
    ActivationDelay,
    Disruption,
    ForecastInputs,
    Site,
    forecast,
)
from opencxo.clinical.engine.recovery import (
    CandidateOffer,
    RecoveryProblem,
    SiteCost,
    plan_recovery,
)

AS_OF = date(2026, 1, 1)
EPIDEMIC = Disruption(-30.0, None, 0.0, freeze_activations=True, country="PL", cause="epidemic")


def study(target: int = 100, deadline: float = 240.0, **changes: object) -> ForecastInputs:
    """Ten sites open 200 days with 4 patients each, half of them in Poland (suspended)."""
    sites = tuple(
        Site(f"S{i}", "PL" if i < 5 else "FR", enrolled=4, activation_day=-200.0) for i in range(10)
    )
    base: dict[str, object] = {
        "sites": sites,
        "as_of": AS_OF,
        "target": target,
        "alpha": 2.0,
        "beta_days": 100.0,
        "deadline_day": deadline,
        "disruptions": (EPIDEMIC,),
    }
    base.update(changes)
    return ForecastInputs(**base)  # type: ignore[arg-type]


OFFERS = (
    CandidateOffer("CZ", "CZ", 1.0, 30.0, 20_000.0, 2_000.0, 12_000.0, capacity_sites=10),
    CandidateOffer("BR", "BR", 1.5, 90.0, 30_000.0, 1_500.0, 8_000.0, capacity_sites=10),
)


def test_a_planned_site_with_its_own_rate_enrolls_at_that_rate() -> None:
    """Mean count of a planned site with its own expected rate: r × days open (exact)."""
    rate = 1.2 / DAYS_PER_MONTH
    inputs = ForecastInputs(
        (Site("A", "FR", planned_activation_day=30.0, expected_rate_per_day=rate),),
        AS_OF,
        target=1_000,
        alpha=2.0,
        beta_days=100.0,
        deadline_day=200.0,
    )
    result = forecast(inputs, 40_000, rng=3)
    band = next(b for b in result.cumulative if b.day == 200.0)
    assert band.mean == pytest.approx(rate * 170.0, rel=0.02)
    nodes = recovery._delay_nodes(None)
    moments = recovery._site_moments(inputs.sites[0], inputs, 200.0, nodes)
    assert moments.mean == pytest.approx(rate * 170.0, rel=1e-12)
    # Var(N) = μ + r²(1 + 1/α)E² − μ² = μ + μ²/α for a fixed exposure.
    assert moments.variance == pytest.approx(moments.mean + moments.mean**2 / 2.0, rel=1e-12)


def test_moments_match_a_simulation_with_delays_and_a_freeze() -> None:
    """The quadrature moments of a planned site under an activation delay and a freeze agree
    with the Monte Carlo mean of the forecast engine (within its sampling error)."""
    freeze = Disruption(0.0, 80.0, 0.5, freeze_activations=True, country="FR")
    inputs = ForecastInputs(
        (Site("A", "FR", planned_activation_day=20.0, expected_rate_per_day=0.05),),
        AS_OF,
        target=1_000,
        alpha=3.0,
        beta_days=60.0,
        deadline_day=300.0,
        disruptions=(freeze,),
        activation_delay=ActivationDelay(mean_days=40.0, sd_days=30.0),
    )
    result = forecast(inputs, 100_000, rng=5)
    band = next(b for b in result.cumulative if b.day == 300.0)
    nodes = recovery._delay_nodes(inputs.activation_delay)
    moments = recovery._site_moments(inputs.sites[0], inputs, 300.0, nodes)
    assert moments.mean == pytest.approx(band.mean, rel=0.01)


def test_the_plan_reaches_the_confidence_and_the_simulation_confirms_it() -> None:
    plan = plan_recovery(RecoveryProblem(study(), OFFERS, confidence=0.8), 20_000, rng=1)
    assert plan.status == "met"
    assert plan.probability_before < 0.001  # half the sites suspended, the rest too slow
    assert plan.probability_after >= 0.8
    assert plan.probability_approximation == pytest.approx(plan.probability_after, abs=0.05)
    added = {a.offer_id: a.sites for a in plan.added}
    # Brazil: more patients per dollar despite the longer lag.
    assert added == {"BR": 7}
    assert plan.closed == ()
    assert (
        plan.net_cost
        == pytest.approx(plan.added_cost)
        == pytest.approx(sum(a.cost for a in plan.added))
    )
    # The new forecast includes the sites: the target is reached earlier.
    assert plan.after.completion.p50_days is not None
    before_p50 = plan.before.completion.p50_days
    assert before_p50 is None or plan.after.completion.p50_days < before_p50
    assert plan.message.startswith("Adding 7 site(s) raises the probability")


def test_one_seed_one_plan() -> None:
    problem = RecoveryProblem(study(), OFFERS, confidence=0.8)
    first = plan_recovery(problem, 5_000, rng=11)
    second = plan_recovery(problem, 5_000, rng=11)
    assert first.added == second.added
    assert first.probability_after == second.probability_after


def test_a_suspended_country_is_never_chosen_however_cheap() -> None:
    """An offer in Poland (suspended, activations frozen, open-ended) adds no patient."""
    cheap = CandidateOffer("PL", "PL", 3.0, 10.0, 100.0, capacity_sites=20)
    plan = plan_recovery(RecoveryProblem(study(), (*OFFERS, cheap), confidence=0.8), 5_000, rng=1)
    assert "PL" not in {a.offer_id for a in plan.added}


def test_expensive_suspended_sites_are_closed_and_their_patients_still_count() -> None:
    """Polish sites cost 3,000 a month and enroll nothing until the deadline: closing them
    saves 8 months of fees less the close-out; their 20 patients still count."""
    costs = tuple(SiteCost(f"S{i}", monthly_cost=3_000.0, closing_cost=5_000.0) for i in range(5))
    plan = plan_recovery(RecoveryProblem(study(), OFFERS, costs, confidence=0.8), 20_000, rng=1)
    assert sorted(c.site_id for c in plan.closed) == ["S0", "S1", "S2", "S3", "S4"]
    months = 240.0 / DAYS_PER_MONTH
    for closure in plan.closed:
        assert closure.expected_patients_lost == 0.0
        assert closure.saving == pytest.approx(3_000.0 * months - 5_000.0, rel=1e-12)
    assert plan.savings == pytest.approx(5 * (3_000.0 * months - 5_000.0))
    assert plan.net_cost == pytest.approx(plan.added_cost - plan.savings)
    assert plan.after.enrolled_to_date == 20  # the French sites' patients
    assert plan.after.target == 80  # the Polish sites' 20 patients count towards the 100
    assert plan.probability_after >= 0.8


def test_closing_is_refused_when_not_allowed_or_not_closable() -> None:
    costs = tuple(SiteCost(f"S{i}", monthly_cost=3_000.0, closable=i != 0) for i in range(5))
    plan = plan_recovery(RecoveryProblem(study(), OFFERS, costs, confidence=0.8), 5_000, rng=1)
    assert "S0" not in {c.site_id for c in plan.closed}
    assert len(plan.closed) == 4
    kept = plan_recovery(
        RecoveryProblem(study(), OFFERS, costs, confidence=0.8, allow_closing=False), 5_000, rng=1
    )
    assert kept.closed == ()


def test_already_met() -> None:
    plan = plan_recovery(RecoveryProblem(study(target=52), OFFERS, confidence=0.8), 5_000, rng=1)
    assert plan.status == "already_met"
    assert plan.added == () and plan.net_cost == 0.0
    assert plan.probability_after == plan.probability_before >= 0.8


def test_unreachable_says_what_every_offer_gives() -> None:
    plan = plan_recovery(RecoveryProblem(study(target=400), OFFERS, confidence=0.8), 5_000, rng=1)
    assert plan.status == "unreachable"
    assert {a.offer_id: a.sites for a in plan.added} == {"CZ": 10, "BR": 10}
    assert plan.probability_after < 0.8
    assert plan.message.startswith("Even all 20 candidate sites reach the target")


def _brute_force(data: recovery._Data, z: float) -> float:
    """The cheapest decision meeting the same constraint, by enumeration."""
    best = math.inf
    ranges = [range(int(c) + 1) for c in data.capacity] + [range(2)] * data.close_mean.size
    n = data.offer_mean.size
    for choice in itertools.product(*ranges):
        x, y = np.array(choice[:n], float), np.array(choice[n:], float)
        mean = data.base_mean + data.offer_mean @ x - data.close_mean @ y
        sd = math.sqrt(data.base_variance + data.offer_variance @ x)
        if mean - z * sd >= data.needed - 1e-9:
            best = min(best, float(data.offer_cost @ x - data.close_saving @ y))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_the_programme_finds_the_optimum_of_its_constraint(seed: int) -> None:
    """On small random problems the MILP's cost equals the enumerated optimum (within the
    solver's 0.01 % gap) and its decision meets the constraint."""
    rng = np.random.default_rng(seed)
    sites = tuple(
        Site(
            f"S{i}",
            ("PL", "FR", "DE")[i % 3],
            enrolled=int(rng.integers(0, 8)),
            activation_day=-float(rng.integers(60, 300)),
        )
        for i in range(8)
    )
    inputs = ForecastInputs(
        sites,
        AS_OF,
        target=sum(s.enrolled for s in sites) + int(rng.integers(15, 35)),
        alpha=float(rng.uniform(0.8, 4.0)),
        beta_days=float(rng.uniform(50.0, 120.0)),
        deadline_day=float(rng.integers(200, 400)),
        disruptions=(EPIDEMIC,),
    )
    offers = tuple(
        CandidateOffer(
            f"O{j}",
            ("CZ", "BR", "ES")[j],
            float(rng.uniform(0.5, 2.0)),
            float(rng.integers(10, 120)),
            float(rng.integers(5_000, 60_000)),
            float(rng.integers(0, 4_000)),
            float(rng.integers(0, 20_000)),
            capacity_sites=4,
        )
        for j in range(3)
    )
    costs = tuple(
        SiteCost(
            f"S{i}",
            monthly_cost=float(rng.integers(0, 5_000)),
            cost_per_patient=float(rng.integers(0, 20_000)),
            closing_cost=float(rng.integers(0, 10_000)),
        )
        for i in range(4)
    )
    problem = RecoveryProblem(inputs, offers, costs, confidence=0.8)
    data = recovery._data(problem, float(inputs.deadline_day or 0))
    z = recovery._quantile(0.8)
    decision, _ = recovery._solve(data, z, 10.0)
    optimum = _brute_force(data, z)
    if decision is None:
        assert optimum == math.inf
        return
    x, y = np.array(decision[0], float), np.array(decision[1], float)
    mean = data.base_mean + data.offer_mean @ x - data.close_mean @ y
    assert mean - z * math.sqrt(data.base_variance + data.offer_variance @ x) >= data.needed - 1e-9
    cost = float(data.offer_cost @ x - data.close_saving @ y)
    assert cost <= optimum + 1e-4 * abs(optimum) + 1e-6


@pytest.mark.parametrize(
    ("change", "argument"),
    [
        ({"inputs": study(deadline_day=None)}, "deadline_day"),
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": 0.0}, "confidence"),
        ({"offers": (OFFERS[0], OFFERS[0])}, "offers"),
        ({"site_costs": (SiteCost("nope"),)}, "site_costs"),
    ],
)
def test_bad_problems_name_the_argument(change: dict[str, object], argument: str) -> None:
    problem = replace(RecoveryProblem(study(), OFFERS), **change)  # type: ignore[arg-type]
    with pytest.raises(InputError) as raised:
        plan_recovery(problem, 1_000, rng=1)
    assert raised.value.argument == argument


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expected_rate_per_site_per_month", 0.0),
        ("activation_lag_days", -1.0),
        ("startup_cost_per_site", -5.0),
        ("capacity_sites", 0),
    ],
)
def test_bad_offers_name_the_field(field: str, value: object) -> None:
    arguments: dict[str, object] = {
        "offer_id": "X",
        "country": "CZ",
        "expected_rate_per_site_per_month": 1.0,
        "activation_lag_days": 30.0,
        "startup_cost_per_site": 1_000.0,
    }
    arguments[field] = value
    with pytest.raises(InputError) as raised:
        CandidateOffer(**arguments)  # type: ignore[arg-type]
    assert raised.value.argument == field


def test_an_open_site_cannot_carry_an_expected_rate() -> None:
    with pytest.raises(InputError) as raised:
        Site("A", "FR", enrolled=1, activation_day=-10.0, expected_rate_per_day=0.1)
    assert raised.value.argument == "expected_rate_per_day"


def test_a_cheaper_mix_when_the_target_is_safe_already_says_so() -> None:
    """Expensive French sites and a cheap Czech offer: already safe, the plan swaps sites to
    save money and says it keeps the probability above the confidence."""
    costs = tuple(
        SiteCost(f"S{i}", monthly_cost=20_000.0, cost_per_patient=30_000.0) for i in range(5, 10)
    )
    cheap = CandidateOffer("CZ", "CZ", 1.5, 0.0, 1_000.0, 100.0, 1_000.0, capacity_sites=10)
    plan = plan_recovery(
        RecoveryProblem(study(target=52), (cheap,), costs, confidence=0.8), 5_000, rng=1
    )
    assert plan.status == "met"
    assert plan.probability_before >= 0.8 and plan.probability_after >= 0.8
    assert plan.closed and plan.net_cost < 0
    assert plan.message.startswith("The target is reached by the deadline with probability")
    assert f"costs {-plan.net_cost:,.0f} less" in plan.message
