"""Poisson–gamma enrollment forecast: analytic test vector, Monte Carlo properties, disruptions."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from opencxo.clinical.engine.fit import InputError
from opencxo.clinical.engine.forecast import (
    ActivationDelay,
    Disruption,
    ForecastInputs,
    Site,
    analytic_completion,
    exposure_days,
    forecast,
    simulate_trial,
)

AS_OF = date(2025, 1, 1)


def open_sites(n: int = 30, enrolled: int = 6, days_open: float = 200.0) -> tuple[Site, ...]:
    countries = ("FR", "DE", "US")
    return tuple(
        Site(f"S{i}", countries[i % 3], enrolled=enrolled + i % 4, activation_day=-days_open - i)
        for i in range(n)
    )


def inputs(**changes: object) -> ForecastInputs:
    base: dict[str, object] = {
        "sites": open_sites(),
        "as_of": AS_OF,
        "target": 450,
        "alpha": 2.0,
        "beta_days": 80.0,
    }
    base.update(changes)
    return ForecastInputs(**base)  # type: ignore[arg-type]


def test_reference_test_vector() -> None:
    c = analytic_completion(40.0, 60.0, 100)
    assert round(c.mean_days, 2) == 153.85
    assert round(c.p05_days, 2) == 111.42
    assert round(c.p50_days, 2) == 150.75
    assert round(c.p95_days, 2) == 206.79
    assert_allclose(c.cdf([c.p05_days, c.p50_days, c.p95_days]), [0.05, 0.5, 0.95], atol=1e-12)
    assert_allclose(c.quantile(0.5), c.p50_days)


def test_analytic_cdf_is_the_mixture_of_gamma_arrival_times() -> None:
    rng = np.random.default_rng(0)
    rates = rng.gamma(40.0, 1 / 60.0, 400_000)
    t = rng.gamma(100.0, 1.0, rates.size) / rates
    c = analytic_completion(40.0, 60.0, 100)
    assert_allclose(
        np.quantile(t, [0.05, 0.5, 0.95]), [c.p05_days, c.p50_days, c.p95_days], rtol=0.005
    )


@pytest.mark.parametrize("exact", [False, True])
def test_monte_carlo_agrees_with_analytic_beta_prime(exact: bool) -> None:
    result = forecast(inputs(), paths=60_000, rng=11, exact_site_rates=exact)
    a = result.analytic
    assert a is not None
    c = result.completion
    assert c.p10_days is not None and c.p50_days is not None and c.p90_days is not None
    assert_allclose(
        [c.p10_days, c.p50_days, c.p90_days], [a.p10_days, a.p50_days, a.p90_days], rtol=0.01
    )
    assert c.mean_days == pytest.approx(a.mean_days, rel=0.01)
    # The full distribution: Kolmogorov distance on the completion sample.
    sample = np.sort(result.completion_days_sample)
    ecdf = np.arange(1, sample.size + 1) / sample.size
    assert np.max(np.abs(ecdf - a.cdf(sample))) < 0.02


def test_same_seed_same_answer_and_chunking_is_memory_only() -> None:
    first = forecast(inputs(), paths=5000, rng=3)
    second = forecast(inputs(), paths=5000, rng=3)
    assert first.completion == second.completion
    assert first.cumulative == second.cumulative
    other = forecast(inputs(), paths=5000, rng=4)
    assert other.completion != first.completion


def test_cumulative_enrollment_never_falls_and_starts_at_enrolled() -> None:
    planned = tuple(Site(f"P{i}", "IT", planned_activation_day=30.0 * i) for i in range(10))
    result = forecast(
        inputs(
            sites=open_sites() + planned,
            disruptions=(Disruption(50.0, 150.0, 0.3, country="FR"),),
            activation_delay=ActivationDelay(20.0, 10.0),
        ),
        paths=4000,
        rng=5,
    )
    enrolled = result.enrolled_to_date
    first = result.cumulative[0]
    assert first.day == 0.0 and first.p10 == first.p50 == first.p90 == first.mean == enrolled
    for column in ("mean", "p10", "p50", "p90"):
        values = np.array([getattr(b, column) for b in result.cumulative])
        assert np.all(np.diff(values) >= -1e-9), column
    for band in result.cumulative:
        assert band.p10 <= band.p50 <= band.p90


@settings(max_examples=25, deadline=None)
@given(
    multiplier=st.floats(0.0, 1.0),
    start=st.floats(-100.0, 300.0),
    length=st.floats(1.0, 400.0),
    planned=st.lists(st.floats(-50.0, 600.0), max_size=6),
    seed=st.integers(0, 2**32),
)
def test_property_cumulative_is_monotone(
    multiplier: float, start: float, length: float, planned: list[float], seed: int
) -> None:
    sites = open_sites(8) + tuple(
        Site(f"P{i}", "FR", planned_activation_day=d) for i, d in enumerate(planned)
    )
    result = forecast(
        inputs(
            sites=sites,
            target=200,
            disruptions=(
                Disruption(
                    start, start + length, multiplier, freeze_activations=True, country="FR"
                ),
            ),
            horizon_days=900.0,
        ),
        paths=300,
        rng=seed,
        grid_points=41,
    )
    for column in ("mean", "p10", "p50", "p90"):
        values = np.array([getattr(b, column) for b in result.cumulative])
        assert np.all(np.diff(values) >= -1e-9)


def test_suspension_in_a_country_delays_completion_and_lowers_probability() -> None:
    base = inputs(deadline_day=250.0)
    suspended = inputs(
        deadline_day=250.0,
        disruptions=(Disruption(0.0, 120.0, 0.0, country="FR", cause="epidemic"),),
    )
    a = forecast(base, paths=20_000, rng=7)
    b = forecast(suspended, paths=20_000, rng=7)
    assert a.completion.p50_days is not None and b.completion.p50_days is not None
    assert b.completion.p50_days > a.completion.p50_days + 10
    assert a.probability_by_deadline is not None and b.probability_by_deadline is not None
    assert b.probability_by_deadline < a.probability_by_deadline - 0.05
    assert b.analytic is None and a.analytic is not None


def test_activation_freeze_keeps_planned_sites_closed_until_it_ends() -> None:
    planned = (Site("P", "IT", planned_activation_day=10.0),)
    freeze = Disruption(0.0, 200.0, 1.0, freeze_activations=True, country="IT")
    result = forecast(
        ForecastInputs(planned, AS_OF, target=50, alpha=2.0, beta_days=20.0, disruptions=(freeze,)),
        paths=2000,
        rng=1,
    )
    before = [b for b in result.cumulative if b.day <= 200.0]
    assert all(b.mean == 0.0 and b.p90 == 0.0 for b in before)
    after = [b for b in result.cumulative if b.day > 260.0]
    assert after[0].mean > 0
    assert result.completion.p10_days is not None and result.completion.p10_days > 200.0
    # Without the freeze the site opens on day 10.
    free = forecast(
        ForecastInputs(planned, AS_OF, target=50, alpha=2.0, beta_days=20.0), paths=2000, rng=1
    )
    assert free.completion.p50_days is not None and result.completion.p50_days is not None
    assert result.completion.p50_days - free.completion.p50_days == pytest.approx(190.0, abs=25)


def test_open_ended_freeze_never_opens_and_reports_not_reached() -> None:
    planned = (Site("P", "IT", planned_activation_day=10.0),)
    freeze = Disruption(0.0, None, 1.0, freeze_activations=True, region="EU")
    sites = (Site("P", "IT", planned_activation_day=10.0, region="EU"),)
    result = forecast(
        ForecastInputs(
            sites,
            AS_OF,
            target=5,
            alpha=2.0,
            beta_days=20.0,
            disruptions=(freeze,),
            deadline_day=300.0,
        ),
        paths=500,
        rng=1,
    )
    assert result.completion.fraction_not_reached == 1.0
    assert result.completion.p50_days is None and result.completion.mean_days is None
    assert result.probability_by_deadline == 0.0
    assert planned[0].site_id == "P"


def test_design_stage_prior_rate() -> None:
    sites = tuple(Site(f"P{i}", "FR", planned_activation_day=0.0) for i in range(10))
    result = forecast(
        ForecastInputs(sites, AS_OF, target=60, alpha=1000.0, prior_rate_per_site_per_month=1.0),
        paths=4000,
        rng=2,
    )
    # 10 sites x 1 patient/month: 60 patients in about 6 months.
    assert result.completion.p50_days == pytest.approx(6 * 365.25 / 12, rel=0.05)


def test_parameter_uncertainty_widens_the_interval() -> None:
    plug_in = forecast(inputs(), paths=20_000, rng=9)
    corrected = forecast(
        inputs(parameter_covariance=((0.02, 0.0), (0.0, 0.2))), paths=20_000, rng=9
    )
    width = lambda r: r.completion.p90_days - r.completion.p10_days  # noqa: E731
    assert corrected.parameter_uncertainty and corrected.parameter_sets > 1
    assert width(corrected) > 1.1 * width(plug_in)


def test_past_disruption_reduces_exposure() -> None:
    site = Site("A", "FR", enrolled=3, activation_day=-100.0)
    assert exposure_days(site) == 100.0
    assert exposure_days(site, [Disruption(-50.0, -20.0, 0.0, country="FR")]) == 70.0
    assert exposure_days(site, [Disruption(-50.0, None, 0.5)]) == 75.0
    assert exposure_days(site, [Disruption(-50.0, None, 0.5, country="DE")]) == 100.0


def test_target_already_reached() -> None:
    result = forecast(inputs(target=10, deadline_day=5.0), paths=100, rng=1)
    assert result.completion.p90_days == 0.0 and result.probability_by_deadline == 1.0


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda: Site("A", "FR", enrolled=-1, activation_day=-3.0), "enrolled"),
        (lambda: Site("A", "FR", activation_day=5.0), "activation_day"),
        (lambda: Site("A", "FR", enrolled=2), "not open"),
        (lambda: Disruption(10.0, 5.0), "end_day"),
        (lambda: Disruption(0.0, 5.0, 1.5), "enrollment_multiplier"),
        (lambda: inputs(alpha=0.0), "alpha"),
        (lambda: inputs(beta_days=None), "exactly one"),
        (lambda: inputs(prior_rate_per_site_per_month=1.0), "exactly one"),
        (lambda: inputs(target=0), "target"),
        (lambda: inputs(sites=open_sites(2) + open_sites(1)), "unique"),
        (lambda: inputs(parameter_covariance=((1.0, 2.0), (2.0, 1.0))), "positive semi-definite"),
        (lambda: forecast(inputs(), paths=0), "paths"),
        (lambda: forecast(inputs(), paths=10, rng=-1), "rng"),
        (lambda: ActivationDelay(mean_days=0.0, sd_days=3.0), "mean_days"),
    ],
)
def test_validation_names_the_argument(build: object, text: str) -> None:
    with pytest.raises(InputError, match=text):
        build()  # type: ignore[operator]


def test_simulated_trial_sites_at_interim() -> None:
    trial = simulate_trial(np.linspace(0.0, 90.0, 10), 2.0, 100.0, 3000.0, rng=1)
    day = trial.day_of_patient(20)
    sites = trial.sites_at(day)
    assert sum(s.enrolled for s in sites) == 20
    assert all((s.activation_day is None) != (s.planned_activation_day is None) for s in sites)


def test_planned_sites_in_several_disruption_groups_use_their_own_multipliers() -> None:
    """Regression: planned sites in two or more disruption groups (a frozen country, a slowed
    one, an undisturbed one) — each contributes rate × its own disrupted exposure."""
    freeze = Disruption(-30.0, None, 0.0, freeze_activations=True, country="PL")
    half = Disruption(0.0, 100.0, 0.5, country="CZ")
    sites = (
        Site("US1", "US", enrolled=5, activation_day=-100.0),
        Site("PL1", "PL", planned_activation_day=-5.0),
        Site("CZ1", "CZ", planned_activation_day=20.0),
        Site("US2", "US", planned_activation_day=50.0),
    )
    inputs = ForecastInputs(
        sites,
        AS_OF,
        target=100,
        alpha=2.0,
        beta_days=100.0,
        deadline_day=300.0,
        disruptions=(freeze, half),
    )
    result = forecast(inputs, 200_000, rng=1)
    band = next(b for b in result.cumulative if b.day == 300.0)
    prior = 2.0 / 100.0
    expected = (
        5  # enrolled
        + 7 / 200 * 300  # US1: posterior mean (2 + 5) / (100 + 100) over 300 days
        + prior * (0.5 * 80 + 200)  # CZ1: opens day 20, half speed to day 100
        + prior * 250  # US2: opens day 50
    )  # PL1: frozen, never opens
    assert band.mean == pytest.approx(expected, rel=0.005)
