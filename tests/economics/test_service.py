"""Scenario files → engine inputs (published defaults, each figure's source) and the use cases."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from opencxo.core.errors import Invalid
from opencxo.economics import service
from opencxo.economics.schemas import PortfolioInput, ScenarioInput, ValuationRequest

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
TODAY = date(2026, 11, 25)
MINIMAL: dict[str, Any] = {
    "name": "Minimal",
    "therapeutic_area": "gastroenterology",
    "current_phase": "phase_2",
    "revenue": {"peak_sales_musd": 800, "years_to_peak": 5},
    "exclusivity": {"loss_years_from_now": 12},
}


def spec(**changes: Any) -> ScenarioInput:
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return service.parse(ScenarioInput, data, what="scenario")


def test_defaults_come_from_the_reference_files_and_say_so() -> None:
    scenario, context = service.build(spec(), today=TODAY)
    assert [p.name for p in scenario.phases] == ["phase_2", "phase_3", "regulatory"]
    # BIO 2011–2020, gastroenterology: II→III 34.2 %, III→NDA 57.1 %, NDA→approval 90.9 %.
    assert [p.success_probability for p in scenario.phases] == pytest.approx([0.342, 0.571, 0.909])
    assert scenario.analytic_probability_of_approval == pytest.approx(0.342 * 0.571 * 0.909)
    # No BIO durations for gastroenterology: all indications (3.6, 3.3, 1.3 years), ±25 %.
    phase_2 = scenario.phases[0]
    assert (
        phase_2.duration_years.low,
        phase_2.duration_years.mode,
        phase_2.duration_years.high,
    ) == pytest.approx((2.7, 3.6, 4.5))
    # DiMasi 2016 Phase II cost per entrant, $58.6M, ±30 %; no published regulatory cost.
    assert (phase_2.cost_musd.low, phase_2.cost_musd.mode, phase_2.cost_musd.high) == pytest.approx(
        (41.02, 58.6, 76.18)
    )
    assert scenario.phases[2].cost_musd.high == 0.0
    # DiMasi's 10.5 % real cost of capital; the small-molecule erosion curve.
    assert scenario.discount_rate == 0.105
    assert scenario.exclusivity.erosion == (0.46, 0.11, 0.06, 0.05, 0.05)
    assert context.phases[0].sources == [
        "success probability: BIO 2011–2020, gastroenterology",
        "duration: BIO 2011–2020 mean, all_indications, ±25 %",
        "cost: DiMasi 2016 mean per entrant (2013 $), ±30 %",
    ]
    assert any("DiMasi" in c for c in context.citations)
    assert any("BIO" in c or "Informa" in c for c in context.citations)


def test_a_patent_expiry_date_counts_from_the_valuation_date() -> None:
    scenario, context = service.build(
        spec(exclusivity={"patent_expiry": "2038-03-14", "extension_years": 2}), today=TODAY
    )
    years = (date(2038, 3, 14) - TODAY).days / 365.25
    assert scenario.exclusivity.loss_years_from_now == pytest.approx(years)
    assert context.loss_years == pytest.approx(years + 2)


@pytest.mark.parametrize(
    ("changes", "field", "needle"),
    [
        ({"therapeutic_area": "astrology"}, "therapeutic_area", "oncology"),
        ({"exclusivity": {"patent_expiry": "2020-01-01"}}, "exclusivity.patent_expiry", "expired"),
        ({"phases": {"phase_1": {"success_probability": 0.5}}}, "phases.phase_1", "behind it"),
        ({"outsourcing": {"phase_1": {"months_saved": 2}}}, "outsourcing.phase_1", "behind it"),
        (
            {"phases": {"phase_3": {"duration_years": 0}}},
            "phases.phase_3.duration_years",
            "duration",
        ),
        ({"outsourcing": {"phase_2": {"months_saved": 60}}}, "outsourcing", "months_saved"),
    ],
)
def test_bad_scenarios_name_the_field(changes: dict[str, Any], field: str, needle: str) -> None:
    with pytest.raises(Invalid) as caught:
        service.build(spec(**changes), today=TODAY)
    assert field in caught.value.field_errors
    assert needle in caught.value.field_errors[field]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({k: v for k, v in MINIMAL.items() if k != "revenue"}, "revenue"),
        (
            MINIMAL
            | {
                "revenue": {"peak_sales_musd": {"low": 9, "mode": 5, "high": 7}, "years_to_peak": 5}
            },
            "revenue.peak_sales_musd",
        ),
        (MINIMAL | {"exclusivity": {}}, "exclusivity"),
        (MINIMAL | {"current_phase": "phase_4"}, "current_phase"),
        (MINIMAL | {"tax": 0.2}, "tax"),
    ],
)
def test_files_that_do_not_fit_the_schema_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        service.parse(ScenarioInput, data, what="nwt.yaml")
    assert any(key.startswith(field) for key in caught.value.field_errors), (
        caught.value.field_errors
    )
    assert caught.value.message.startswith("nwt.yaml is not valid — ")


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(Invalid, match=r"broken\.yaml is not valid YAML or JSON"):
        service.load_scenario(broken)
    with pytest.raises(service.NotFound, match="cannot read"):
        service.load_scenario(tmp_path / "missing.yaml")


def test_the_same_seed_gives_the_same_report() -> None:
    request = ValuationRequest(trials=20_000, seed=11)
    first = service.value_scenario(spec(), request, today=TODAY)
    assert service.value_scenario(spec(), request, today=TODAY) == first
    other = service.value_scenario(spec(), ValuationRequest(trials=20_000, seed=12), today=TODAY)
    assert other.rnpv_mean_musd != first.rnpv_mean_musd
    assert first.probability_of_approval == pytest.approx(
        first.analytic_probability_of_approval, abs=3 * (0.177 * 0.823 / 20_000) ** 0.5
    )
    assert sum(first.expected_cost_by_year_musd) == pytest.approx(first.expected_cost_musd)


def test_months_saved_by_a_cro_turn_into_protected_sales() -> None:
    in_house = service.load_scenario(EXAMPLES / "nwt-204-in-house.yaml")
    with_cro = service.load_scenario(EXAMPLES / "nwt-204-outsourced.yaml")
    report = service.compare_scenarios(in_house, with_cro, ValuationRequest(trials=50_000, seed=3))
    deltas = {d.name: d for d in report.deltas}
    # 4 + 6 months saved on every draw: launch exactly 10 months earlier.
    assert deltas["launch_years"].difference == pytest.approx(-10 / 12)
    for name in ("expected_protected_years", "expected_protected_sales_musd", "rnpv_musd"):
        assert deltas[name].ci_low > 0, name
    assert deltas["probability_of_approval"].difference == 0.0
    with pytest.raises(Invalid, match="same phase"):
        service.compare_scenarios(
            in_house, spec(current_phase="phase_3"), ValuationRequest(trials=1_000, seed=1)
        )


def test_the_tornado_covers_every_phase_and_is_widest_first() -> None:
    report = service.sensitivity(spec(), ValuationRequest(trials=5_000, seed=1), today=TODAY)
    ranges = [bar.range_musd for bar in report.bars]
    assert ranges == sorted(ranges, reverse=True)
    assert {bar.parameter for bar in report.bars} >= {
        f"phases[{i}].{field}" for i in range(3) for field in ("success_probability", "cost_musd")
    }


def test_the_portfolio_funds_the_best_options_within_each_years_budget() -> None:
    data = yaml.safe_load((EXAMPLES / "portfolio.yaml").read_text(encoding="utf-8"))
    report = service.portfolio(service.parse(PortfolioInput, data, what="portfolio.yaml"))
    assert report.status == "optimal"
    assert all(
        s <= b + 1e-9
        for s, b in zip(report.spend_by_year_musd, report.budget_by_year_musd, strict=True)
    )
    chosen = [o for o in report.options if o.chosen]
    assert report.objective_musd == pytest.approx(sum(o.rnpv_mean_musd for o in chosen))
    assert report.funded == {
        o.program: (o.option if o.chosen else report.funded[o.program]) for o in report.options
    }
    # Every option that was left out either loses value or would break a budget with the rest.
    for option in report.options:
        if option.chosen or option.rnpv_mean_musd <= 0:
            continue
        others = [o for o in chosen if o.program != option.program]
        spend = [
            sum(v)
            for v in zip(
                option.spend_by_year_musd, *(o.spend_by_year_musd for o in others), strict=True
            )
        ]
        value = option.rnpv_mean_musd + sum(o.rnpv_mean_musd for o in others)
        assert value <= report.objective_musd + 1e-9 or any(
            s > b for s, b in zip(spend, report.budget_by_year_musd, strict=True)
        )
    assert sum(report.approvals_pmf) == pytest.approx(1.0)
    twice = copy.deepcopy(data)
    twice["programs"][0]["options"][1]["name"] = "in-house"
    with pytest.raises(Invalid, match="two options named 'in-house'"):
        service.portfolio(service.parse(PortfolioInput, twice, what="p"))
