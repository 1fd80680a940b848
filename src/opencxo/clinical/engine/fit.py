"""Maximum-likelihood fit of the Poisson–gamma recruitment model (Anisimov & Fedorov 2007).

Site ``i`` recruits as a Poisson process of rate ``λ_i ~ Gamma(α, β)`` (shape ``α``, rate
``β``); over an exposure of ``τ_i`` days it enrolls ``k_i`` patients, marginally negative
binomial. :func:`fit_poisson_gamma` maximises that likelihood in ``(log m, log α)`` with
``m = α / β`` the mean rate per site per day, and returns the observed information's inverse
(the asymptotic covariance) that :mod:`.forecast` uses to integrate over parameter uncertainty.

Units: time in days; rates in patients per site per day (``_per_day``), except where a name says
``_per_month`` (a month is ``365.25 / 12`` days).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

__all__ = [
    "ALPHA_MAX",
    "ALPHA_MIN",
    "DAYS_PER_MONTH",
    "FitError",
    "FloatArray",
    "InputError",
    "PoissonGammaFit",
    "fit_poisson_gamma",
    "negative_binomial_log_likelihood",
]

FloatArray = npt.NDArray[np.float64]

#: Days in an average month (365.25 / 12).
DAYS_PER_MONTH = 365.25 / 12.0
#: Bounds of the shape α. At ``ALPHA_MAX`` the gamma is practically a point mass (CV 3 %): the
#: counts are no more dispersed than Poisson.
ALPHA_MIN = 1e-3
ALPHA_MAX = 1e3
_LOG_ALPHA_MIN = math.log(ALPHA_MIN)
_LOG_ALPHA_MAX = math.log(ALPHA_MAX)


class InputError(ValueError):
    """An invalid engine input, naming the argument, the value and the bound.

    Examples
    --------
    >>> str(InputError("alpha", -1.0, "must be > 0", "ForecastInputs"))
    'ForecastInputs: alpha = -1.0 must be > 0'
    """

    def __init__(self, argument: str, value: object, bound: str, context: str = "") -> None:
        self.argument = argument
        self.value = value
        self.bound = bound
        self.context = context
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}{argument} = {value!r} {bound}")


class FitError(ValueError):
    """The data cannot identify the model (no exposure, no patient, a single site)."""


def real(argument: str, value: object, context: str = "") -> float:
    """``value`` as a finite float, or an :class:`InputError` naming ``argument``."""
    if isinstance(value, bool) or not isinstance(value, Real | np.integer | np.floating):
        raise InputError(argument, value, "must be a real number", context)
    number = float(value)
    if not math.isfinite(number):
        raise InputError(argument, value, "must be finite", context)
    return number


def bounded(
    argument: str,
    value: object,
    context: str = "",
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
) -> float:
    """``value`` as a finite float within the given bounds, else an :class:`InputError`."""
    number = real(argument, value, context)
    if ge is not None and not number >= ge:
        raise InputError(argument, value, f"must be >= {ge:g}", context)
    if gt is not None and not number > gt:
        raise InputError(argument, value, f"must be > {gt:g}", context)
    if le is not None and not number <= le:
        raise InputError(argument, value, f"must be <= {le:g}", context)
    return number


def whole(argument: str, value: object, context: str = "", *, ge: int = 0) -> int:
    """``value`` as an int >= ``ge``, else an :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(argument, value, "must be a whole number", context)
    if int(value) < ge:
        raise InputError(argument, value, f"must be >= {ge}", context)
    return int(value)


@dataclass(frozen=True)
class PoissonGammaFit:
    """Maximum-likelihood estimate of the Poisson–gamma model.

    Attributes
    ----------
    alpha
        Shape α of the site-rate gamma (dimensionless; small = heterogeneous sites).
    beta_days
        Rate β of the site-rate gamma, in days (``α / β`` is a rate per day).
    mean_rate_per_day
        ``m = α / β``, mean patients per site per day.
    covariance
        Asymptotic covariance of ``(log m, log α)`` (inverse observed information), row-major.
        When ``alpha_fixed`` the ``log α`` row and column are 0; when ``alpha_at_bound`` they
        hold a one-sided spread (see Notes of :func:`fit_poisson_gamma`).
    alpha_standard_error, beta_standard_error_days, mean_rate_standard_error_per_day
        Delta-method standard errors.
    log_likelihood
        Maximised log-likelihood (with the ``log k!`` terms).
    sites, patients, exposure_days
        Sites with positive exposure used in the fit, their patients and total exposure.
    alpha_at_bound
        True when α reached :data:`ALPHA_MAX` (counts no more dispersed than Poisson); its
        uncertainty is then not in ``covariance``.
    alpha_fixed
        True when α was given, not estimated.
    """

    alpha: float
    beta_days: float
    mean_rate_per_day: float
    covariance: tuple[tuple[float, float], tuple[float, float]]
    alpha_standard_error: float
    beta_standard_error_days: float
    mean_rate_standard_error_per_day: float
    log_likelihood: float
    sites: int
    patients: int
    exposure_days: float
    alpha_at_bound: bool
    alpha_fixed: bool

    @property
    def mean_rate_per_month(self) -> float:
        """Mean patients per site per month."""
        return self.mean_rate_per_day * DAYS_PER_MONTH


def _validate(counts: object, exposures_days: object) -> tuple[FloatArray, FloatArray]:
    k = np.asarray(counts)
    tau = np.asarray(exposures_days, dtype=np.float64)
    if k.ndim != 1:
        raise InputError("counts", k.shape, "must be one-dimensional")
    if tau.shape != k.shape:
        raise InputError("exposures_days", tau.shape, f"must have the shape of counts {k.shape}")
    if k.dtype.kind not in "iuf" or k.dtype == np.bool_:
        raise InputError("counts", k.dtype, "must be numbers")
    kf = k.astype(np.float64)
    bad = ~np.isfinite(kf) | (kf < 0) | (kf != np.round(kf))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"counts[{i}]", k[i].item(), "must be a whole number >= 0")
    bad = ~np.isfinite(tau) | (tau < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"exposures_days[{i}]", float(tau[i]), "must be finite and >= 0")
    bad = (tau == 0) & (kf > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"counts[{i}]", int(kf[i]), "must be 0 for a site with zero exposure")
    keep = tau > 0
    return kf[keep], tau[keep]


def negative_binomial_log_likelihood(
    log_mean_rate: float, log_alpha: float, counts: FloatArray, exposures_days: FloatArray
) -> tuple[float, FloatArray, FloatArray]:
    """Log-likelihood, gradient and Hessian in ``(log m, log α)``.

    Parameters
    ----------
    log_mean_rate
        ``log m``, m in patients per site per day.
    log_alpha
        ``log α``.
    counts, exposures_days
        ``k_i`` and ``τ_i > 0`` (days), validated by the caller.

    Returns
    -------
    tuple
        ``(ℓ, ∇ℓ (2,), ∇²ℓ (2, 2))``.

    Notes
    -----
    With ``a = α``, ``x_i = m τ_i`` and ``D_i = a + x_i``,

    .. math::
        ℓ = Σ_i \\ln Γ(a + k_i) - \\ln Γ(a) - \\ln k_i! + k_i \\ln(x_i / D_i)
            - a \\ln(1 + x_i / a).
    """
    a = math.exp(log_alpha)
    k, tau = counts, exposures_days
    x = math.exp(log_mean_rate) * tau
    d = a + x
    log1p = np.log1p(x / a)
    ll = float(
        np.sum(
            special.gammaln(a + k)
            - special.gammaln(a)
            - special.gammaln(k + 1.0)
            + k * np.log(x / d)
            - a * log1p
        )
    )
    d2 = d * d
    g_mu = float(np.sum(k - (a + k) * x / d))
    dl_da = float(np.sum(special.digamma(a + k) - special.digamma(a) - log1p + (x - k) / d))
    d2l_da2 = float(
        np.sum(
            special.polygamma(1, a + k) - special.polygamma(1, a) + 1.0 / a - 1.0 / d - (x - k) / d2
        )
    )
    h_mumu = -float(np.sum((a + k) * x * a / d2))
    h_mueta = -float(np.sum(a * x * (x - k) / d2))
    h_etaeta = a * dl_da + a * a * d2l_da2
    grad = np.array([g_mu, a * dl_da])
    hess = np.array([[h_mumu, h_mueta], [h_mueta, h_etaeta]])
    return ll, grad, hess


def _start(k: FloatArray, tau: FloatArray) -> tuple[float, float]:
    """Moment estimates: pooled rate, and α from the Pearson over-dispersion."""
    m0 = float(k.sum() / tau.sum())
    expected = m0 * tau
    phi = float(np.sum((k - expected) ** 2 / expected) / (k.size - 1)) if k.size > 1 else 1.0
    alpha0 = float(np.mean(expected)) / (phi - 1.0) if phi > 1.05 else 20.0
    return math.log(m0), math.log(min(max(alpha0, 0.05), 200.0))


def _profile_log_rate(mu: float, eta: float, k: FloatArray, tau: FloatArray) -> float:
    """``log m`` maximising the likelihood at fixed ``log α`` (Newton; the profile is concave)."""
    for _ in range(100):
        _, grad, hess = negative_binomial_log_likelihood(mu, eta, k, tau)
        step = float(np.clip(-grad[0] / hess[0, 0], -5.0, 5.0))
        mu += step
        if abs(step) < 1e-12:
            break
    return mu


def _maximise(mu: float, eta: float, k: FloatArray, tau: FloatArray) -> tuple[float, float] | None:
    """Damped Newton ascent in ``(log m, log α)`` with ``log α`` kept in its bounds.

    Returns None when it does not converge in 200 steps.
    """
    ll, grad, hess = negative_binomial_log_likelihood(mu, eta, k, tau)
    for _ in range(200):
        at_top = eta >= _LOG_ALPHA_MAX - 1e-9 and grad[1] > 0
        if at_top:  # α pinned at its bound: Newton in log m only
            step = np.array([-grad[0] / hess[0, 0], 0.0])
        else:
            information = -hess
            if np.all(np.linalg.eigvalsh(information) > 1e-12):
                step = np.linalg.solve(information, grad)
            else:  # not concave here: scaled gradient ascent
                step = grad / (np.abs(np.diag(hess)) + 1e-8)
        step = np.clip(step, -3.0, 3.0)
        slope = float(grad @ step)
        t = 1.0
        while True:
            new_mu = mu + t * float(step[0])
            new_eta = min(max(eta + t * float(step[1]), _LOG_ALPHA_MIN), _LOG_ALPHA_MAX)
            new_ll, new_grad, new_hess = negative_binomial_log_likelihood(new_mu, new_eta, k, tau)
            if new_ll >= ll + 1e-4 * t * slope or t < 1e-10:
                break
            t /= 2
        moved = max(abs(new_mu - mu), abs(new_eta - eta))
        mu, eta, ll, grad, hess = new_mu, new_eta, new_ll, new_grad, new_hess
        top = eta >= _LOG_ALPHA_MAX - 1e-9 and grad[1] > 0
        scale = float(np.sum(k)) + 1.0
        if moved < 1e-10 or (abs(grad[0]) < 1e-9 * scale and (top or abs(grad[1]) < 1e-9 * scale)):
            return mu, eta
    return None


def fit_poisson_gamma(
    counts: npt.ArrayLike,
    exposures_days: npt.ArrayLike,
    *,
    alpha: float | None = None,
) -> PoissonGammaFit:
    """Fit ``(α, β)`` of the Poisson–gamma model by maximum likelihood.

    Parameters
    ----------
    counts
        Patients enrolled per site, ``k_i`` (whole numbers >= 0).
    exposures_days
        Days each site has been recruiting, ``τ_i >= 0`` (disruptions already applied, see
        :func:`opencxo.clinical.engine.forecast.exposure_days`). Sites with ``τ_i = 0`` carry
        no information and are ignored (their count must be 0).
    alpha
        Fix the shape α and estimate only the mean rate (for a single site or for a shape
        taken from earlier studies). None estimates both.

    Returns
    -------
    PoissonGammaFit
        The estimate, its covariance in ``(log m, log α)`` and standard errors.

    Raises
    ------
    InputError
        Arrays of different shapes, a negative or fractional count, a negative exposure, a count
        at a site with zero exposure, ``alpha`` outside ``[ALPHA_MIN, ALPHA_MAX]``.
    FitError
        No site with positive exposure; no patient at all (the ML mean rate is 0: use a
        design-stage prior rate); a single site without a fixed ``alpha`` (its heterogeneity
        cannot be estimated).

    Notes
    -----
    Marginally :math:`k_i` is negative binomial,

    .. math::
        P(k_i) = \\frac{Γ(α + k_i)}{Γ(α) k_i!}
                 \\left(\\frac{β}{β + τ_i}\\right)^{α} \\left(\\frac{τ_i}{β + τ_i}\\right)^{k_i},

    maximised in :math:`θ = (\\log m, \\log α)`, :math:`m = α/β` (better conditioned than
    :math:`(α, β)`), by damped Newton steps on the analytic Hessian from moment estimates, with
    ``α`` kept in ``[ALPHA_MIN, ALPHA_MAX]`` (L-BFGS-B if Newton does not converge). The
    covariance is the inverse observed information :math:`(-∇^2 ℓ)^{-1}` at the optimum.

    When the counts are no more dispersed than Poisson the likelihood increases towards
    ``α → ∞``: α is then reported at :data:`ALPHA_MAX` with ``alpha_at_bound = True``;
    ``log m`` keeps its variance ``-1 / ∂²ℓ/∂(\\log m)^2``; ``log α`` gets the variance
    ``(\\log α_{max} - \\log α_L)^2`` with ``α_L`` the point below the bound where the profile
    likelihood has dropped by 1/2, so that the forecast's parameter draws (clipped at the bound)
    still explore heterogeneous sites the data do not rule out.

    References
    ----------
    V. V. Anisimov and V. V. Fedorov, "Modelling, prediction and adaptive adjustment of
    recruitment in multicentre trials", Statistics in Medicine 26(27):4958–4975, 2007.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> tau = np.full(400, 300.0)
    >>> k = rng.poisson(rng.gamma(2.0, 1 / 100.0, 400) * tau)
    >>> fit = fit_poisson_gamma(k, tau)
    >>> round(fit.alpha, 1), round(fit.beta_days, -1)
    (2.0, 110.0)
    """
    k, tau = _validate(counts, exposures_days)
    if k.size == 0:
        raise FitError("no site has a positive exposure: nothing to fit; give a prior rate")
    if k.sum() == 0:
        raise FitError(
            "no patient enrolled yet: the mean rate's estimate is 0; give a design-stage "
            "prior rate per site per month"
        )
    fixed = alpha is not None
    if alpha is not None:
        alpha = bounded("alpha", alpha, "fit_poisson_gamma", ge=ALPHA_MIN, le=ALPHA_MAX)
    elif k.size < 2:
        raise FitError(
            "one site cannot show how sites differ: give alpha (the site-rate shape) to fit "
            "the mean rate only"
        )

    mu0, eta0 = _start(k, tau)
    scale = float(k.sum())

    if alpha is not None:
        eta = math.log(alpha)
        mu = _profile_log_rate(mu0, eta, k, tau)
    else:
        found = _maximise(mu0, eta0, k, tau)
        if found is not None:
            mu, eta = found
        else:  # Newton failed: fall back on L-BFGS-B

            def objective(theta: FloatArray) -> tuple[float, FloatArray]:
                ll, grad, _ = negative_binomial_log_likelihood(theta[0], theta[1], k, tau)
                return -ll / scale, -grad / scale

            result = optimize.minimize(
                objective,
                np.array([mu0, eta0]),
                jac=True,
                method="L-BFGS-B",
                bounds=[(mu0 - 30.0, mu0 + 30.0), (_LOG_ALPHA_MIN, _LOG_ALPHA_MAX)],
                options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 500},
            )
            mu, eta = float(result.x[0]), float(result.x[1])
    ll, _grad, hess = negative_binomial_log_likelihood(mu, eta, k, tau)
    at_bound = fixed or eta >= _LOG_ALPHA_MAX - 1e-6
    information = -hess
    if at_bound or not np.all(np.linalg.eigvalsh(information) > 0):
        at_bound = True
        cov = np.array([[1.0 / information[0, 0], 0.0], [0.0, 0.0]])
        if not fixed:
            # One-sided spread of log α from the profile likelihood: the point below the
            # bound where it has dropped by 1/2 (one standard error for a normal).
            def drop(e: float) -> float:
                m_e = _profile_log_rate(mu, e, k, tau)
                return negative_binomial_log_likelihood(m_e, e, k, tau)[0] - ll + 0.5

            if drop(_LOG_ALPHA_MIN) < 0:
                lower = optimize.brentq(drop, _LOG_ALPHA_MIN, eta, xtol=1e-6)
                cov[1, 1] = (eta - lower) ** 2
    else:
        cov = np.linalg.inv(information)
    a = math.exp(eta)
    m = math.exp(mu)
    beta = a / m
    var_log_beta = max(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1], 0.0)
    return PoissonGammaFit(
        alpha=a,
        beta_days=beta,
        mean_rate_per_day=m,
        covariance=(
            (float(cov[0, 0]), float(cov[0, 1])),
            (float(cov[1, 0]), float(cov[1, 1])),
        ),
        alpha_standard_error=a * math.sqrt(max(cov[1, 1], 0.0)),
        beta_standard_error_days=beta * math.sqrt(var_log_beta),
        mean_rate_standard_error_per_day=m * math.sqrt(max(cov[0, 0], 0.0)),
        log_likelihood=ll,
        sites=int(k.size),
        patients=int(k.sum()),
        exposure_days=float(tau.sum()),
        alpha_at_bound=at_bound and not fixed,
        alpha_fixed=fixed,
    )
