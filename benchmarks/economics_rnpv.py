"""Monte Carlo rNPV engine: throughput, portfolio on two cores, peak memory, vs a per-trial loop.

Targets (issue 4, section 7): one program with 1,000,000 trials in <= 1 s; a portfolio of 50
programs x 100,000 trials in <= 3 s on 2 cores; peak memory < 1 GB at 10,000,000 trials. In the
same run, a straightforward per-trial Python loop on the same draws gives the speed-up (and
checks that both give the same NPVs). Prints one JSON document.

    .venv/bin/python benchmarks/economics_rnpv.py [--trials 1000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from opencxo.economics.engine.model import (
    Exclusivity,
    Phase,
    ProgramScenario,
    Revenue,
    Triangular,
    fixed,
)
from opencxo.economics.engine.rnpv import draw_uniforms, evaluate, simulate

TARGET_SINGLE_S = 1.0
TARGET_PORTFOLIO_S = 3.0
TARGET_MEMORY_BYTES = 1_000_000_000


def program(
    *, first_phase: int = 0, peak_musd: float = 900.0, loss_years: float = 16.0
) -> ProgramScenario:
    """A program from Phase I (or later) with BIO 2011-2020-like probabilities and durations."""
    phases = (
        Phase(
            name="Phase I",
            success_probability=0.52,
            duration_years=Triangular(1.5, 2.3, 3.5),
            cost_musd=Triangular(15, 25, 40),
        ),
        Phase(
            name="Phase II",
            success_probability=0.289,
            success_concentration=40.0,
            duration_years=Triangular(2.5, 3.6, 5.0),
            cost_musd=Triangular(40, 60, 90),
        ),
        Phase(
            name="Phase III",
            success_probability=0.578,
            duration_years=Triangular(2.5, 3.3, 4.5),
            cost_musd=Triangular(150, 250, 400),
        ),
        Phase(
            name="NDA/BLA",
            success_probability=0.906,
            duration_years=Triangular(0.8, 1.3, 2.0),
            cost_musd=fixed(5.0),
        ),
    )
    return ProgramScenario(
        phases=phases[first_phase:],
        revenue=Revenue(
            peak_sales_musd=Triangular(peak_musd / 3, peak_musd, peak_musd * 2.5),
            years_to_peak=5.0,
            shape=6.0,
        ),
        exclusivity=Exclusivity(
            loss_years_from_now=loss_years, extension_years=1.0, erosion=(0.25, 0.12, 0.08, 0.05)
        ),
        cogs_share=0.15,
        tax_rate=0.21,
        discount_rate=0.105,
        horizon_years=30,
        launch_cost_musd=50.0,
    )


def portfolio(n: int) -> list[ProgramScenario]:
    """``n`` programs at different phases, peak sales and patent expiries."""
    return [
        program(first_phase=k % 4, peak_musd=300.0 + 37.0 * k, loss_years=10.0 + (k * 7) % 13)
        for k in range(n)
    ]


# --------------------------------------------------------------------------------------------
# A straightforward per-trial Python loop (same model, same draws)
# --------------------------------------------------------------------------------------------


def _triangular(d: Triangular, u: float) -> float:
    a, m, b = d.low, d.mode, d.high
    if a == b:
        return a
    if u < (m - a) / (b - a):
        return a + math.sqrt(u * (b - a) * (m - a))
    return b - math.sqrt((1 - u) * (b - a) * (b - m))


def _cumulative_uptake(revenue: Revenue, tau: float) -> float:
    t, s = revenue.years_to_peak, revenue.shape
    tc = min(tau, t)
    if s < 1e-5:
        return tc * tc / (2 * t) + (tau - tc)
    l0 = 1 / (1 + math.exp(s / 2))
    z = s * (tc / t - 0.5)
    softplus = max(z, 0.0) + math.log1p(math.exp(-abs(z)))
    sp0 = math.log1p(math.exp(-s / 2))
    return ((t / s) * (softplus - sp0) - tc * l0) / (1 - 2 * l0) + (tau - tc)


def _uptake(revenue: Revenue, tau: float) -> float:
    t, s = revenue.years_to_peak, revenue.shape
    x = min(tau, t) / t
    if s < 1e-5:
        return x
    l0 = 1 / (1 + math.exp(s / 2))
    return (1 / (1 + math.exp(-s * (x - 0.5))) - l0) / (1 - 2 * l0)


def naive_npv(s: ProgramScenario, u: list[float]) -> float:
    """NPV of one trial, year by year, with plain Python floats."""
    from scipy import special

    h = s.horizon_years
    cf = [0.0] * h
    t, alive = 0.0, True
    for i, phase in enumerate(s.phases):
        d = _triangular(phase.duration_years, u[1 + 4 * i])
        c = _triangular(phase.cost_musd, u[2 + 4 * i])
        t += phase.start_delay_years
        if alive:
            for k in range(h):
                overlap = min(t + d, k + 1) - max(t, k)
                if overlap > 0:
                    cf[k] -= c / d * overlap
            p = phase.success_probability
            if phase.is_beta:
                alpha, beta = phase.beta_parameters
                p = float(special.betaincinv(alpha, beta, u[3 + 4 * i]))
            alive = u[4 + 4 * i] < p
        t += d
    if alive:
        revenue, kept = s.revenue, s.exclusivity.erosion
        launch = t
        peak = _triangular(revenue.peak_sales_musd, u[0])
        cliff = max(launch, s.exclusivity.protected_until_years)
        level = peak * _uptake(revenue, cliff - launch)
        for k in range(h):
            sales = 0.0
            lo, hi = max(k, launch), min(k + 1, cliff)
            if hi > lo:
                sales += peak * (
                    _cumulative_uptake(revenue, hi - launch)
                    - _cumulative_uptake(revenue, lo - launch)
                )
            lo = max(k, cliff)
            while lo < k + 1:
                j = int(lo - cliff)
                end = min(k + 1, cliff + j + 1)
                sales += level * kept[min(j, len(kept) - 1)] * (end - lo)
                lo = end
            cf[k] += sales * s.after_tax_margin
        if launch < h:
            cf[int(launch)] -= s.launch_cost_musd
    return sum(cf[k] * (1 + s.discount_rate) ** -(k + 0.5) for k in range(h))


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


def _portfolio_task(args: tuple[ProgramScenario, int, int]) -> tuple[float, float]:
    scenario, trials, seed = args
    r = simulate(scenario, trials, rng=seed)
    return r.rnpv_mean_musd, r.probability_of_approval


def _memory_child(trials: int, seed: int) -> None:
    started = time.perf_counter()
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = simulate(program(), trials, rng=seed)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "baseline_rss_bytes": baseline_kib * 1024,
                "peak_rss_bytes": peak_kib * 1024,
                "seconds": seconds,
                "rnpv_mean_musd": r.rnpv_mean_musd,
                "rnpv_standard_error_musd": r.rnpv_standard_error_musd,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--programs", type=int, default=50)
    parser.add_argument("--portfolio-trials", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-trials", type=int, default=10_000_000)
    parser.add_argument("--naive-trials", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(args.memory_trials, args.seed)
        return

    scenario = program()
    simulate(scenario, 10_000, rng=0)  # warm-up (imports, Beta table)

    # One program.
    timings = []
    for repeat in range(3):
        started = time.perf_counter()
        single = simulate(scenario, args.trials, rng=args.seed + repeat)
        timings.append(time.perf_counter() - started)
    single_s = min(timings)

    # Portfolio, serial and on `workers` processes (pool start-up included).
    programs = portfolio(args.programs)
    tasks = [(p, args.portfolio_trials, args.seed + k) for k, p in enumerate(programs)]
    started = time.perf_counter()
    serial = [_portfolio_task(task) for task in tasks]
    serial_s = time.perf_counter() - started
    started = time.perf_counter()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        parallel = list(pool.map(_portfolio_task, tasks))
    parallel_s = time.perf_counter() - started
    if parallel != serial:
        sys.exit("portfolio: parallel and serial runs differ")

    # Peak memory at 10 million trials, in a fresh process.
    child = subprocess.run(  # noqa: S603 (this script, run by this interpreter)
        [
            sys.executable,
            __file__,
            "--memory-child",
            "--memory-trials",
            str(args.memory_trials),
            "--seed",
            str(args.seed),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    memory = json.loads(child.stdout)

    # The straightforward per-trial loop, on the same draws.
    draws = draw_uniforms(len(scenario.phases), args.naive_trials, args.seed)
    vectorised = evaluate(scenario, draws)
    columns = [column.tolist() for chunk in draws.chunks() for column in chunk.uniforms.T]
    started = time.perf_counter()
    naive = [naive_npv(scenario, u) for u in columns]
    naive_s = time.perf_counter() - started
    compared = min(len(vectorised.npv_sample_musd), len(naive))
    difference = float(
        np.max(np.abs(np.subtract(vectorised.npv_sample_musd[:compared], naive[:compared])))
    )
    naive_per_trial_s = naive_s / args.naive_trials
    vector_per_trial_s = single_s / args.trials

    print(
        json.dumps(
            {
                "benchmark": "economics_rnpv",
                "cpu_count": os.cpu_count(),
                "numpy": np.__version__,
                "single_program": {
                    "phases": len(scenario.phases),
                    "horizon_years": scenario.horizon_years,
                    "trials": args.trials,
                    "seconds_best_of_3": round(single_s, 3),
                    "seconds_each": [round(t, 3) for t in timings],
                    "trials_per_s": round(args.trials / single_s),
                    "rnpv_mean_musd": round(single.rnpv_mean_musd, 3),
                    "rnpv_standard_error_musd": round(single.rnpv_standard_error_musd, 3),
                    "probability_of_approval": round(single.probability_of_approval, 5),
                    "target_s": TARGET_SINGLE_S,
                    "met": single_s <= TARGET_SINGLE_S,
                },
                "portfolio": {
                    "programs": args.programs,
                    "trials_per_program": args.portfolio_trials,
                    "workers": args.workers,
                    "seconds": round(parallel_s, 3),
                    "serial_seconds": round(serial_s, 3),
                    "expected_approvals": round(sum(poa for _, poa in parallel), 3),
                    "total_rnpv_musd": round(sum(v for v, _ in parallel), 1),
                    "target_s": TARGET_PORTFOLIO_S,
                    "met": parallel_s <= TARGET_PORTFOLIO_S,
                },
                "memory": {
                    "trials": args.memory_trials,
                    "seconds": round(memory["seconds"], 2),
                    "peak_rss_mb": round(memory["peak_rss_bytes"] / 1e6, 1),
                    "rss_before_run_mb": round(memory["baseline_rss_bytes"] / 1e6, 1),
                    "rnpv_mean_musd": round(memory["rnpv_mean_musd"], 3),
                    "rnpv_standard_error_musd": round(memory["rnpv_standard_error_musd"], 4),
                    "target_mb": TARGET_MEMORY_BYTES / 1e6,
                    "met": memory["peak_rss_bytes"] < TARGET_MEMORY_BYTES,
                },
                "naive_python_loop": {
                    "trials": args.naive_trials,
                    "seconds": round(naive_s, 2),
                    "microseconds_per_trial": round(naive_per_trial_s * 1e6, 1),
                    "extrapolated_seconds_for_single_program": round(
                        naive_per_trial_s * args.trials, 1
                    ),
                    "vectorised_speedup": round(naive_per_trial_s / vector_per_trial_s, 1),
                    "max_abs_npv_difference_musd": difference,
                    "npvs_compared": compared,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
