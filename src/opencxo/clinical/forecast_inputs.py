"""Engine sites → forecast inputs: fit α, β on the open sites, or a design-stage prior.

Shared by ``opencxo clinical forecast`` (a sites file) and the study forecast of
:mod:`opencxo.clinical.forecasting` (a study's rows), so both choose the parameters the same way.
Pure: the engine and the standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from opencxo.clinical.engine.fit import PoissonGammaFit, fit_poisson_gamma
from opencxo.clinical.engine.forecast import (
    DEFAULT_HORIZON_DAYS,
    Disruption,
    ForecastInputs,
    Site,
    exposure_days,
)

__all__ = ["DESIGN_STAGE_ALPHA", "build_forecast_inputs", "fit_open_sites"]

#: Shape α assumed at the design stage (no enrollment yet) unless one is given.
DESIGN_STAGE_ALPHA = 2.0


def fit_open_sites(
    sites: Sequence[Site],
    *,
    disruptions: Sequence[Disruption] = (),
    alpha: float | None = None,
) -> PoissonGammaFit:
    """Fit α, β on the open sites: their counts and exposures (days since activation, each
    weighted by the multipliers of the ``disruptions`` that matched the site then).

    Raises
    ------
    FitError
        No patient, no exposure, a single site without a fixed ``alpha``.
    """
    active = [s for s in sites if s.is_active]
    return fit_poisson_gamma(
        [s.enrolled for s in active],
        [exposure_days(s, disruptions) for s in active],
        alpha=alpha,
    )


def build_forecast_inputs(
    sites: Sequence[Site],
    *,
    as_of: date,
    target: int,
    deadline_day: float | None = None,
    disruptions: Sequence[Disruption] = (),
    fit_disruptions: Sequence[Disruption] = (),
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    alpha: float | None = None,
    prior_rate_per_month: float | None = None,
    plug_in: bool = False,
) -> tuple[ForecastInputs, PoissonGammaFit | None]:
    """The forecast inputs and the fit behind them (None at the design stage).

    Design stage — ``prior_rate_per_month`` given and nobody enrolled at an open site: β from
    that rate and α (``alpha`` or :data:`DESIGN_STAGE_ALPHA`). Otherwise α, β are fitted on the
    open sites (:func:`fit_open_sites` with ``fit_disruptions``) and, unless ``plug_in``, their
    covariance corrects the plug-in under-coverage. ``disruptions`` act on the forecast.

    Raises
    ------
    FitError
        The fit is impossible (see :func:`fit_open_sites`).
    InputError
        A value outside its bound (from the engine).
    """
    enrolled_open = sum(s.enrolled for s in sites if s.is_active)
    fit = None
    if prior_rate_per_month is None or enrolled_open > 0:
        fit = fit_open_sites(sites, disruptions=fit_disruptions, alpha=alpha)
    inputs = ForecastInputs(
        sites=tuple(sites),
        as_of=as_of,
        target=target,
        alpha=(DESIGN_STAGE_ALPHA if alpha is None else alpha) if fit is None else fit.alpha,
        beta_days=None if fit is None else fit.beta_days,
        prior_rate_per_site_per_month=prior_rate_per_month if fit is None else None,
        parameter_covariance=None if fit is None or plug_in else fit.covariance,
        deadline_day=deadline_day,
        disruptions=tuple(disruptions),
        horizon_days=horizon_days,
    )
    return inputs, fit
