"""Poisson–gamma enrollment engine: forecast throughput, fit time, vs a per-path Python loop.

Targets (issue 5, section 6): forecast for 500 sites with 100,000 Monte Carlo paths <= 1 s; fit
for 500 sites <= 50 ms. The forecast is timed on two studies of 500 sites: every site open, and
a study with 50 sites still to open (activation delay), a country suspended with an activation
freeze and a region at half speed; both with the parameter-uncertainty correction. In the same
run a straightforward per-path Python loop (same model) is timed on a few hundred paths and
extrapolated. Prints one JSON document.

    .venv/bin/python benchmarks/clinical_forecast.py [--paths 100000] [--naive-paths 300]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from datetime import date

import numpy as np

from opencxo.clinical.engine.fit import fit_poisson_gamma
from opencxo.clinical.engine.forecast import (
    ActivationDelay,
    Disruption,
    ForecastInputs,
    Site,
    exposure_days,
    forecast,
)

TARGET_FORECAST_S = 1.0
TARGET_FIT_S = 0.050
COUNTRIES = [f"C{i:02d}" for i in range(20)]


def study(planned: int, seed: int = 0) -> tuple[Site, ...]:
    """500 sites in 20 countries and 3 regions; the last ``planned`` not open yet."""
    rng = np.random.default_rng(seed)
    sites = []
    for i in range(500):
        country = COUNTRIES[i % 20]
        region = "EU" if i % 20 < 8 else "US" if i % 20 < 14 else "APAC"
        if i < 500 - planned:
            opened = -float(rng.integers(30, 400))
            rate = rng.gamma(2.0, 0.6 / 30.4 / 2.0)
            sites.append(
                Site(f"S{i}", country, int(rng.poisson(rate * -opened)), opened, None, region)
            )
        else:
            sites.append(Site(f"S{i}", country, 0, None, float(rng.integers(0, 200)), region))
    return tuple(sites)


def inputs_for(sites: tuple[Site, ...], *, disrupted: bool) -> ForecastInputs:
    disruptions = (
        (
            Disruption(-30.0, 90.0, 0.0, freeze_activations=True, country="C03", cause="epidemic"),
            Disruption(20.0, 200.0, 0.5, region="APAC", cause="epidemic"),
        )
        if disrupted
        else ()
    )
    active = [s for s in sites if s.is_active]
    fit = fit_poisson_gamma(
        [s.enrolled for s in active], [exposure_days(s, disruptions) for s in active]
    )
    return ForecastInputs.from_fit(
        fit,
        sites=sites,
        as_of=date(2025, 1, 1),
        target=sum(s.enrolled for s in sites) + 3000,
        deadline_day=365.0,
        disruptions=disruptions,
        activation_delay=ActivationDelay(mean_days=30.0, sd_days=20.0) if disrupted else None,
    )


def naive_completion_days(inputs: ForecastInputs, paths: int, seed: int) -> list[float]:
    """The same model, path by path and site by site, in plain Python (cumulative intensity on
    a daily grid, stepped until it passes a Gamma(n, 1) draw)."""
    rng = np.random.default_rng(seed)
    cov = np.asarray(inputs.parameter_covariance or ((0.0, 0.0), (0.0, 0.0)))
    root = np.linalg.cholesky(cov + 1e-18 * np.eye(2))
    m0, a0 = inputs.alpha / inputs.beta, inputs.alpha
    remaining = inputs.target - inputs.enrolled_to_date
    horizon = int(inputs.horizon_days)
    out = []
    for _ in range(paths):
        z = root @ rng.standard_normal(2)
        alpha = a0 * math.exp(z[1])
        beta = alpha / (m0 * math.exp(z[0]))
        rates, openings, sites = [], [], []
        for s in inputs.sites:
            if s.is_active:
                tau = exposure_days(s, inputs.disruptions)
                rates.append(rng.gamma(alpha + s.enrolled, 1.0 / (beta + tau)))
                openings.append(0.0)
            else:
                delay = 0.0
                if inputs.activation_delay is not None:
                    delay = float(inputs.activation_delay.sample((1,), rng)[0])
                opening = max(float(s.planned_activation_day or 0.0) + delay, 0.0)
                for d in inputs.disruptions:
                    if d.freeze_activations and d.matches(s) and d.start_day <= opening < d.end:
                        opening = d.end
                rates.append(rng.gamma(alpha, 1.0 / beta))
                openings.append(opening)
            sites.append(s)
        target = rng.gamma(remaining)
        total = 0.0
        day = 0
        while total < target and day < horizon:
            for rate, opening, s in zip(rates, openings, sites, strict=True):
                if opening <= day:
                    m = 1.0
                    for d in inputs.disruptions:
                        if d.matches(s) and d.start_day <= day < d.end:
                            m *= d.enrollment_multiplier
                    total += rate * m
            day += 1
        out.append(float(day) if total >= target else math.inf)
    return out


def time_forecast(inputs: ForecastInputs, paths: int, seed: int) -> tuple[float, list[float], dict]:
    forecast(inputs, 2000, seed)  # warm-up
    timings = []
    result = None
    for repeat in range(3):
        started = time.perf_counter()
        result = forecast(inputs, paths, seed + repeat)
        timings.append(time.perf_counter() - started)
    assert result is not None
    c = result.completion
    summary = {
        "completion_days_p10_p50_p90": [
            None if v is None else round(v, 1) for v in (c.p10_days, c.p50_days, c.p90_days)
        ],
        "probability_by_deadline": result.probability_by_deadline,
        "parameter_sets": result.parameter_sets,
        "grid_points": len(result.cumulative),
    }
    return min(timings), timings, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--naive-paths", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    # Fit, 500 sites.
    open_study = study(0)
    k = np.array([s.enrolled for s in open_study])
    tau = np.array([exposure_days(s) for s in open_study])
    fit_poisson_gamma(k, tau)
    fit_timings = []
    for _ in range(20):
        started = time.perf_counter()
        fit = fit_poisson_gamma(k, tau)
        fit_timings.append(time.perf_counter() - started)
    fit_s = float(np.median(fit_timings))

    cases = {}
    for name, planned, disrupted in (
        ("all_open", 0, False),
        ("planned_and_disrupted", 50, True),
    ):
        inputs = inputs_for(study(planned), disrupted=disrupted)
        best, timings, summary = time_forecast(inputs, args.paths, args.seed)
        started = time.perf_counter()
        naive = naive_completion_days(inputs, args.naive_paths, args.seed)
        naive_s = time.perf_counter() - started
        naive_per_path = naive_s / args.naive_paths
        finite = [v for v in naive if math.isfinite(v)]
        cases[name] = {
            "sites": len(inputs.sites),
            "sites_planned": planned,
            "disruptions": len(inputs.disruptions),
            "paths": args.paths,
            "seconds_best_of_3": round(best, 3),
            "seconds_each": [round(t, 3) for t in timings],
            "paths_per_s": round(args.paths / best),
            **summary,
            "target_s": TARGET_FORECAST_S,
            "met": best <= TARGET_FORECAST_S,
            "naive_python_loop": {
                "paths": args.naive_paths,
                "seconds": round(naive_s, 2),
                "milliseconds_per_path": round(naive_per_path * 1e3, 2),
                "extrapolated_seconds": round(naive_per_path * args.paths, 1),
                "vectorised_speedup": round(naive_per_path * args.paths / best, 1),
                "completion_days_p50": round(float(np.median(finite)), 1) if finite else None,
            },
        }

    print(
        json.dumps(
            {
                "benchmark": "clinical_forecast",
                "cpu_count": os.cpu_count(),
                "numpy": np.__version__,
                "fit": {
                    "sites": int(k.size),
                    "milliseconds_median_of_20": round(fit_s * 1e3, 2),
                    "alpha": round(fit.alpha, 4),
                    "beta_days": round(fit.beta_days, 2),
                    "target_ms": TARGET_FIT_S * 1e3,
                    "met": fit_s <= TARGET_FIT_S,
                },
                "forecast": cases,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
