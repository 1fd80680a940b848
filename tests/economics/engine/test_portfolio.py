"""Portfolio choice under yearly budgets (HiGHS MILP) and the distribution of approvals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencxo.economics.engine.portfolio import (
    PortfolioOption,
    approvals_distribution,
    choose_portfolio,
    dollars,
)


def test_the_optimiser_beats_ranking_by_value_or_by_value_per_dollar() -> None:
    # Ranking by value or by value/spend funds A and then nothing fits (100); B + C is worth 150.
    options = [
        PortfolioOption("A", "in-house", 100.0, 0.30, (60.0,)),
        PortfolioOption("B", "in-house", 80.0, 0.25, (50.0,)),
        PortfolioOption("C", "in-house", 70.0, 0.20, (50.0,)),
    ]
    result = choose_portfolio(options, (100.0,))
    assert result.status == "optimal"
    assert [(c.program, c.option) for c in result.choices] == [
        ("A", None), ("B", "in-house"), ("C", "in-house"),
    ]  # fmt: skip
    assert result.objective_musd == 150.0
    assert result.bound_musd == pytest.approx(150.0)
    assert result.spend_by_year_musd == (100.0,)
    assert result.approvals_pmf == pytest.approx((0.75 * 0.8, 0.25 * 0.8 + 0.75 * 0.2, 0.05))
    assert result.expected_approvals == pytest.approx(0.45)


def test_one_option_per_program_and_every_year_within_budget() -> None:
    options = [
        PortfolioOption("NWT-204", "in-house", 420.0, 0.30, (90.0, 120.0, 60.0)),
        PortfolioOption("NWT-204", "CRO for Phase II", 465.0, 0.30, (70.0, 150.0, 20.0)),
        PortfolioOption("VLT-1190", "in-house", 300.0, 0.20, (40.0, 40.0, 40.0)),
        PortfolioOption("VLT-1190", "integrated CRDMO", 280.0, 0.20, (30.0, 30.0, 30.0)),
        PortfolioOption("LT-5512", "in-house", -15.0, 0.10, (5.0,)),
    ]
    result = choose_portfolio(options, (120.0, 180.0, 100.0))
    chosen = {c.program: c.option for c in result.choices}
    # 465 + 280 = 745 fits (100, 180, 50); 465 + 300 needs 190 in year 2.
    assert chosen == {
        "NWT-204": "CRO for Phase II",
        "VLT-1190": "integrated CRDMO",
        "LT-5512": None,
    }
    assert result.objective_musd == 745.0
    assert result.spend_by_year_musd == (100.0, 180.0, 50.0)


def test_bad_inputs_name_what_to_fix() -> None:
    with pytest.raises(ValueError, match=r"probability_of_approval of A/x is 1\.5"):
        PortfolioOption("A", "x", 1.0, 1.5, ())
    with pytest.raises(ValueError, match="in year 2 is -1"):
        PortfolioOption("A", "x", 1.0, 0.5, (1.0, -1.0))
    with pytest.raises(ValueError, match="options is empty"):
        choose_portfolio([], (1.0,))
    option = PortfolioOption("A", "x", 1.0, 0.5, (1.0,))
    with pytest.raises(ValueError, match="share a program and a name"):
        choose_portfolio([option, option], (1.0,))
    with pytest.raises(ValueError, match="budget_by_year_musd"):
        choose_portfolio([PortfolioOption("A", "x", 1.0, 0.5, (1.0,))], (-1.0,))


def test_the_approvals_distribution_is_exact() -> None:
    pmf = approvals_distribution([0.1, 0.5, 0.9])
    assert pmf.tolist() == pytest.approx([0.045, 0.455, 0.455, 0.045])
    assert approvals_distribution([]).tolist() == [1.0]


option_strategy = st.tuples(
    st.integers(0, 3),  # program
    st.floats(-50, 500, allow_nan=False),  # value
    st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=2),  # spend by year
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(option_strategy, min_size=1, max_size=7),
    st.tuples(st.floats(0, 200), st.floats(0, 200)),
)
def test_the_optimum_matches_exhaustive_search(raw: list, budget: tuple[float, float]) -> None:
    options = [
        PortfolioOption(f"P{p}", f"o{i}", value, 0.5, tuple(spend))
        for i, (p, value, spend) in enumerate(raw)
    ]
    best = 0.0
    for picks in itertools.product([False, True], repeat=len(options)):
        chosen = [o for o, pick in zip(options, picks, strict=True) if pick]
        if len({o.program for o in chosen}) < len(chosen):
            continue
        # The engine's unit: whole dollars (each amount rounded to the nearest dollar).
        spend = [dollars(np.array([o.spend_by_year_musd[t] for o in chosen])).sum() for t in (0, 1)]
        if all(spend[t] <= dollars(np.array(budget[t])) for t in (0, 1)):
            best = max(best, sum(o.expected_value_musd for o in chosen))
    result = choose_portfolio(options, budget)
    assert math.isclose(result.objective_musd, best, rel_tol=1e-6, abs_tol=1e-6)
    picked = [
        o for o in options if (o.program, o.name) in {(c.program, c.option) for c in result.choices}
    ]
    for t in (0, 1):
        spent = dollars(np.array([o.spend_by_year_musd[t] for o in picked])).sum()
        assert spent <= dollars(np.array(budget[t]))


def test_budgets_hold_to_the_dollar() -> None:
    # $0.06 over a zero budget rounds to nothing; $0.60 is a dollar over and is refused.
    under = PortfolioOption("P", "a", 1.0, 0.5, (0.0, 5.96e-8))
    over = PortfolioOption("P", "a", 1.0, 0.5, (0.0, 6e-7))
    assert choose_portfolio([under], (0.0, 0.0)).objective_musd == 1.0
    assert choose_portfolio([over], (0.0, 0.0)).objective_musd == 0.0
