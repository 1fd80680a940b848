"""Maximum-likelihood fit of the Poisson–gamma model."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import optimize, stats

from opencxo.clinical.engine.fit import (
    ALPHA_MAX,
    FitError,
    InputError,
    fit_poisson_gamma,
    negative_binomial_log_likelihood,
)


def simulate(n: int, alpha: float, beta: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tau = rng.uniform(30.0, 500.0, n)
    rates = rng.gamma(alpha, 1.0 / beta, n)
    return rng.poisson(rates * tau), tau


@pytest.mark.parametrize(
    ("alpha", "beta", "seed"), [(2.0, 120.0, 1), (0.8, 40.0, 2), (6.0, 300.0, 3)]
)
def test_recovers_known_parameters_within_few_standard_errors(
    alpha: float, beta: float, seed: int
) -> None:
    k, tau = simulate(5000, alpha, beta, seed)
    fit = fit_poisson_gamma(k, tau)
    assert abs(fit.alpha - alpha) < 4 * fit.alpha_standard_error
    assert abs(fit.beta_days - beta) < 4 * fit.beta_standard_error_days
    assert fit.alpha_standard_error < 0.2 * alpha
    assert fit.sites == 5000 and fit.patients == int(k.sum())
    assert_allclose(fit.mean_rate_per_day, fit.alpha / fit.beta_days)


def test_likelihood_matches_scipy_negative_binomial_and_gradient() -> None:
    k, tau = simulate(50, 2.0, 100.0, 4)
    alpha, m = 1.7, 0.02
    ll, grad, hess = negative_binomial_log_likelihood(np.log(m), np.log(alpha), k, tau)
    beta = alpha / m
    expected = stats.nbinom.logpmf(k, alpha, beta / (beta + tau)).sum()
    assert_allclose(ll, expected, rtol=1e-10)

    def f(theta: np.ndarray) -> float:
        return negative_binomial_log_likelihood(theta[0], theta[1], k, tau)[0]

    theta = np.array([np.log(m), np.log(alpha)])
    assert_allclose(grad, optimize.approx_fprime(theta, f, 1e-6), rtol=1e-4)
    numeric = np.array(
        [
            optimize.approx_fprime(
                theta,
                lambda t, i=i: negative_binomial_log_likelihood(t[0], t[1], k, tau)[1][i],
                1e-6,
            )
            for i in range(2)
        ]
    )
    assert_allclose(hess, numeric, rtol=1e-4, atol=1e-6)


def test_optimum_agrees_with_generic_optimiser() -> None:
    k, tau = simulate(300, 1.5, 80.0, 5)
    fit = fit_poisson_gamma(k, tau)

    def negative(theta: np.ndarray) -> float:
        return -negative_binomial_log_likelihood(theta[0], theta[1], k, tau)[0]

    best = optimize.minimize(
        negative,
        [np.log(k.sum() / tau.sum()), 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000},
    )
    assert fit.log_likelihood >= -best.fun - 1e-7
    assert_allclose(np.log(fit.alpha), best.x[1], atol=1e-4)


def test_zero_exposure_sites_are_ignored() -> None:
    k, tau = simulate(100, 2.0, 100.0, 6)
    with_idle = fit_poisson_gamma(np.append(k, [0, 0]), np.append(tau, [0.0, 0.0]))
    assert_allclose(with_idle.alpha, fit_poisson_gamma(k, tau).alpha)
    assert with_idle.sites == 100


def test_poisson_counts_put_alpha_at_its_bound_with_one_sided_spread() -> None:
    k = np.full(30, 5)
    fit = fit_poisson_gamma(k, np.full(30, 100.0))
    assert fit.alpha_at_bound and fit.alpha == pytest.approx(ALPHA_MAX)
    assert fit.mean_rate_per_day == pytest.approx(0.05)
    assert fit.covariance[1][1] > 0  # the profile-likelihood spread of log α


def test_fixed_alpha_fits_one_site() -> None:
    fit = fit_poisson_gamma([6], [120.0], alpha=2.0)
    assert fit.alpha_fixed and fit.alpha == 2.0
    assert fit.mean_rate_per_day == pytest.approx(6 / 120)
    assert fit.covariance[1][1] == 0.0


@pytest.mark.parametrize(
    ("counts", "exposures", "error", "text"),
    [
        ([0, 0, 0], [10.0, 20.0, 30.0], FitError, "no patient"),
        ([0, 0], [0.0, 0.0], FitError, "no site has a positive exposure"),
        ([3], [100.0], FitError, "give alpha"),
        ([1, -1], [10.0, 10.0], InputError, "counts[1]"),
        ([1, 1.5], [10.0, 10.0], InputError, "counts[1]"),
        ([1, 2], [10.0, -1.0], InputError, "exposures_days[1]"),
        ([1, 2], [10.0, 0.0], InputError, "zero exposure"),
        ([1, 2, 3], [10.0, 1.0], InputError, "shape"),
    ],
)
def test_edge_cases_raise_clear_errors(
    counts: list[float], exposures: list[float], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text.replace("[", r"\[").replace("]", r"\]")):
        fit_poisson_gamma(counts, exposures)
