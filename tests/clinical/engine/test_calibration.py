"""Calibration (issue 5 §2): the 80 % completion interval covers the truth in 75–85 % of trials.

For each configuration, 1,000 trials are simulated from the model with known α = 2 and mean
rate 0.5 patients per site per month; sites open evenly over the first 180 days; the target is
8 patients per site. At the interim (the day the 25 % or 50 % of the target is reached) the
model is fitted by maximum likelihood and the forecast (with the parameter-uncertainty
correction, 1,000 paths) gives P10 and P90 of the remaining days; the truth is the day the
simulated trial reached its target. Each configuration takes about 10 s; they are separate tests
so that ``pytest -n 2`` shares them out. The plug-in coverage is reported in
``docs/clinical-forecast.md``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from opencxo.clinical.engine.fit import DAYS_PER_MONTH, fit_poisson_gamma
from opencxo.clinical.engine.forecast import ForecastInputs, exposure_days, forecast, simulate_trial

ALPHA = 2.0
RATE_PER_DAY = 0.5 / DAYS_PER_MONTH
BETA_DAYS = ALPHA / RATE_PER_DAY
TRIALS = 1000
PATHS = 1000
HORIZON_DAYS = 4000.0


def coverage(n_sites: int, interim: float, seed: int, *, correct: bool = True) -> float:
    rng = np.random.default_rng(seed)
    opening = np.linspace(0.0, 180.0, n_sites, endpoint=False)
    target = 8 * n_sites
    covered = 0
    for _ in range(TRIALS):
        trial = simulate_trial(opening, ALPHA, BETA_DAYS, HORIZON_DAYS, rng)
        day = trial.day_of_patient(int(np.ceil(interim * target)))
        truth = trial.day_of_patient(target) - day
        sites = trial.sites_at(day)
        active = [s for s in sites if s.is_active]
        fit = fit_poisson_gamma([s.enrolled for s in active], [exposure_days(s) for s in active])
        inputs = ForecastInputs.from_fit(
            fit,
            sites=sites,
            as_of=date(2025, 1, 1),
            target=target,
            correct_parameter_uncertainty=correct,
            horizon_days=HORIZON_DAYS,
        )
        c = forecast(inputs, PATHS, rng, grid_points=61).completion
        low = c.p10_days if c.p10_days is not None else np.inf
        high = c.p90_days if c.p90_days is not None else np.inf
        covered += low <= truth <= high
    return covered / TRIALS


@pytest.mark.parametrize("interim", [0.25, 0.5])
@pytest.mark.parametrize("n_sites", [20, 60, 200])
def test_corrected_80_percent_interval_covers_75_to_85_percent(
    n_sites: int, interim: float
) -> None:
    observed = coverage(n_sites, interim, seed=1000 * n_sites + int(100 * interim))
    assert 0.75 <= observed <= 0.85, f"{n_sites} sites, interim {interim:.0%}: {observed:.3f}"
