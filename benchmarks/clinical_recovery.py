"""Recovery plan: the optimisation over 300 candidate sites, timed, against a greedy baseline.

Target (issue 5, section 6): recovery optimisation over 300 candidate sites <= 10 s. The study
is the 500-site disrupted study of ``clinical_forecast.py`` (50 sites still to open, a country
suspended with an activation freeze, a region at half speed), every site closable with a
monthly and a per-patient cost; 300 candidate sites (one per offer) in 20 countries with random
rates, lags and costs; confidence 80 %. The whole :func:`plan_recovery` is timed (forecast
before, MILP rounds, verifying simulations of 20,000 paths). In the same run the baseline — add
candidates greedily by cost per expected patient until the simulated probability reaches the
confidence (bisection on how many) — is timed and costed with the same simulations, against our
plan with closures not allowed (the greedy baseline only adds). Prints one JSON document.

    .venv/bin/python benchmarks/clinical_recovery.py [--paths 20000] [--candidates 300]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

import numpy as np
from clinical_forecast import COUNTRIES, inputs_for, study

from opencxo.cli_progress import native_output_to_stderr
from opencxo.clinical.engine.forecast import forecast
from opencxo.clinical.engine.recovery import (
    CandidateOffer,
    RecoveryProblem,
    SiteCost,
    _data,
    _inputs_with,
    plan_recovery,
)

TARGET_S = 10.0


def problem(candidates: int, seed: int) -> RecoveryProblem:
    rng = np.random.default_rng(seed)
    base = inputs_for(study(50), disrupted=True)
    inputs = replace(base, target=base.enrolled_to_date + 3300)
    offers = tuple(
        CandidateOffer(
            offer_id=f"O{j}",
            country=f"N{j % 20:02d}",
            region="LATAM" if j % 20 < 10 else "EU",
            expected_rate_per_site_per_month=float(rng.uniform(0.2, 1.5)),
            activation_lag_days=float(rng.integers(20, 150)),
            startup_cost_per_site=float(rng.integers(10_000, 60_000)),
            monthly_cost_per_site=float(rng.integers(1_000, 5_000)),
            cost_per_patient=float(rng.integers(6_000, 25_000)),
        )
        for j in range(candidates)
    )
    costs = tuple(
        SiteCost(
            s.site_id,
            monthly_cost=float(rng.integers(1_000, 5_000)),
            cost_per_patient=float(rng.integers(6_000, 25_000)),
            closing_cost=float(rng.integers(8_000, 20_000)),
        )
        for s in inputs.sites
    )
    assert len(COUNTRIES) == 20
    return RecoveryProblem(inputs, offers, costs, confidence=0.8)


def greedy(problem: RecoveryProblem, paths: int, seed: int) -> tuple[float, float, int]:
    """Cheapest-per-expected-patient first; the fewest such sites that verify (bisection)."""
    deadline = float(problem.inputs.deadline_day or 0.0)
    data = _data(problem, deadline)
    order = np.argsort(data.offer_cost / np.maximum(data.offer_mean, 1e-12))
    no_closure = (0,) * len(data.close_index)

    def decision(n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        take = np.zeros(len(problem.offers), dtype=int)
        take[order[:n]] = 1
        return tuple(int(v) for v in take), no_closure

    def probability(n: int) -> float:
        inputs = _inputs_with(problem, data, decision(n))
        return float(forecast(inputs, paths, seed).probability_by_deadline or 0.0)

    lo, hi = 0, len(problem.offers)
    while lo < hi:
        mid = (lo + hi) // 2
        if probability(mid) >= problem.confidence:
            hi = mid
        else:
            lo = mid + 1
    cost = float(data.offer_cost @ np.array(decision(lo)[0], dtype=np.float64))
    return cost, probability(lo), lo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=20_000)
    parser.add_argument("--candidates", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    question = problem(args.candidates, args.seed)

    with native_output_to_stderr():  # HiGHS prints debug lines on stdout
        plan_recovery(replace(question, offers=question.offers[:5]), 1000, args.seed)  # warm-up
        started = time.perf_counter()
        plan = plan_recovery(question, args.paths, args.seed)
        seconds = time.perf_counter() - started

        adding_only = plan_recovery(replace(question, allow_closing=False), args.paths, args.seed)
        started = time.perf_counter()
        greedy_cost, greedy_p, greedy_sites = greedy(question, args.paths, args.seed)
        greedy_s = time.perf_counter() - started

    print(
        json.dumps(
            {
                "benchmark": "clinical_recovery",
                "cpu_count": os.cpu_count(),
                "study_sites": len(question.inputs.sites),
                "candidate_sites": sum(o.capacity_sites for o in question.offers),
                "paths": args.paths,
                "confidence": question.confidence,
                "seconds": round(seconds, 3),
                "solver_seconds": round(plan.solver_wall_time_s, 3),
                "rounds": plan.rounds,
                "target_s": TARGET_S,
                "met": seconds <= TARGET_S,
                "status": plan.status,
                "sites_added": sum(a.sites for a in plan.added),
                "sites_closed": len(plan.closed),
                "net_cost": round(plan.net_cost),
                "probability_before": plan.probability_before,
                "probability_after": plan.probability_after,
                "probability_approximation": round(plan.probability_approximation, 4),
                "adding_only": {
                    "seconds": round(adding_only.wall_time_s, 3),
                    "sites_added": sum(a.sites for a in adding_only.added),
                    "cost": round(adding_only.net_cost),
                    "probability_after": adding_only.probability_after,
                },
                "greedy_baseline_adding_only": {
                    "seconds": round(greedy_s, 3),
                    "sites_added": greedy_sites,
                    "cost": round(greedy_cost),
                    "probability_after": greedy_p,
                    "cost_ratio_ours_to_greedy": round(adding_only.net_cost / greedy_cost, 4)
                    if greedy_cost
                    else None,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
