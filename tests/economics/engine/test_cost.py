"""Cost per approved drug (DiMasi method) and the BIO likelihood of approval, against published
figures, with hypothesis properties and input validation."""

from __future__ import annotations

import csv
import dataclasses
import doctest
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from opencxo.economics import reference
from opencxo.economics.engine import cost
from opencxo.economics.engine.cost import (
    CostInputs,
    Phase,
    capitalization_factor,
    cost_per_approval,
    loa,
)

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "reference"


@pytest.fixture(scope="module")
def dimasi() -> reference.CostPreset:
    return reference.cost_preset("dimasi2016")


# --- DiMasi, Grabowski & Hansen (2016) ----------------------------------------------------------


def test_dimasi_published_figures(dimasi: reference.CostPreset) -> None:
    result = cost_per_approval(dimasi.inputs)
    assert abs(result.success_rate * 100 - 11.83) < 0.01
    assert_allclose(result.expected_clinical_cost_per_entrant_musd, 114.2, rtol=1e-3)
    assert_allclose(result.out_of_pocket_clinical_musd, 965, rtol=0.01)
    assert_allclose(result.out_of_pocket_total_musd, 1395, rtol=0.01)
    assert_allclose(result.capitalized_preclinical_musd, 1098, rtol=0.01)
    published = dimasi.published_musd
    assert_allclose(result.out_of_pocket_clinical_musd, published["out_of_pocket_clinical"], 0.01)
    assert_allclose(result.out_of_pocket_total_musd, published["out_of_pocket_total"], 0.01)
    assert_allclose(result.capitalized_preclinical_musd, published["capitalized_preclinical"], 0.01)


def test_dimasi_capitalized_clinical_with_phases_end_to_end(dimasi: reference.CostPreset) -> None:
    """Phases end to end give $1,529.4M, not the published $1,460M (docs/economics.md explains);
    asserted to 0.1 so any change of inputs or method is noticed."""
    result = cost_per_approval(dimasi.inputs)
    assert round(result.capitalized_clinical_musd, 1) == 1529.4
    assert round(result.capitalized_total_musd, 1) == 2628.0
    assert_allclose(
        result.capitalized_total_musd,
        result.capitalized_clinical_musd + result.capitalized_preclinical_musd,
    )


def test_dimasi_breakdown_adds_up(dimasi: reference.CostPreset) -> None:
    result = cost_per_approval(dimasi.inputs)
    reach = [phase.probability_of_reaching for phase in result.phases]
    assert_allclose(reach, [1.0, 0.5952, 0.5952 * 0.3552, 0.5952 * 0.3552 * 0.6195])
    assert_allclose(
        sum(phase.out_of_pocket_per_approval_musd for phase in result.phases),
        result.out_of_pocket_clinical_musd,
    )
    assert_allclose(
        sum(phase.capitalized_per_approval_musd for phase in result.phases),
        result.capitalized_clinical_musd,
    )
    factors = [phase.capitalization_factor for phase in result.phases]
    assert factors == sorted(factors, reverse=True)  # earlier spending compounds longer


def test_capitalization_factor_hand_computed() -> None:
    # One year of spending ending one year before approval at 10 %:
    # (1.1^1) * (1.1 - 1) / ln(1.1)
    expected = 1.1 * 0.1 / math.log(1.1)
    assert_allclose(capitalization_factor(0.0, 12.0, 24.0, 0.10), expected, rtol=1e-12)
    assert_allclose(capitalization_factor(0.0, 12.0, 24.0, 0.0), 1.0)


def test_zero_discount_rate_capitalized_equals_out_of_pocket(
    dimasi: reference.CostPreset,
) -> None:
    result = cost_per_approval(dataclasses.replace(dimasi.inputs, discount_rate=0.0))
    assert_allclose(result.capitalized_clinical_musd, result.out_of_pocket_clinical_musd)
    assert_allclose(result.capitalized_preclinical_musd, result.out_of_pocket_preclinical_musd)
    assert_allclose(result.capitalized_total_musd, result.out_of_pocket_total_musd)


def test_docstring_examples_run() -> None:
    failures, tried = doctest.testmod(cost)
    assert tried > 0 and failures == 0


# --- BIO / Informa / QLS 2011–2020 ----------------------------------------------------------------


def _bio_rows() -> list[dict[str, str]]:
    text = (REFERENCE / "bio-2011-2020-phase-success.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def test_bio_all_indications_loa_product_is_7_87_percent() -> None:
    row = next(row for row in _bio_rows() if row["area"] == "all_indications")
    transitions = [
        float(row[c]) / 100 for c in ("p1_to_p2", "p2_to_p3", "p3_to_nda", "nda_to_approval")
    ]
    assert round(loa(transitions) * 100, 2) == 7.87
    assert round(reference.phase_success().loa * 100, 2) == 7.87


@pytest.mark.parametrize("row", _bio_rows(), ids=lambda row: row["area"])
def test_bio_loa_by_area_matches_published_within_rounding(row: dict[str, str]) -> None:
    record = reference.phase_success(row["area"])
    # the published LOA is rounded to 0.1 percentage point
    assert abs(record.loa * 100 - float(row["loa_from_p1"])) <= 0.05 + 1e-9
    assert record.published_loa == pytest.approx(float(row["loa_from_p1"]) / 100)


def test_bio_durations_all_indications_add_up_to_10_5_years() -> None:
    durations = reference.phase_durations()
    parts = (
        durations.phase1_years,
        durations.phase2_years,
        durations.phase3_years,
        durations.regulatory_years,
    )
    assert sum(parts) == pytest.approx(durations.total_years) == pytest.approx(10.5)
    assert "2011–2020" in durations.citation


def test_unknown_reference_names_the_known_ones() -> None:
    with pytest.raises(reference.UnknownReference, match=r"known: all_indications, .*oncology"):
        reference.phase_success("astrology")
    with pytest.raises(reference.UnknownReference, match="dimasi2016"):
        reference.cost_preset("dimasi2003")
    with pytest.raises(reference.UnknownReference, match="small_molecule"):
        reference.erosion_curve("peptide")


def test_reference_records_carry_citations(dimasi: reference.CostPreset) -> None:
    assert "DiMasi" in dimasi.citation and "Journal of Health Economics" in dimasi.citation
    assert "BIO" in reference.phase_success("oncology").citation
    for curve in reference.erosion_curves().values():
        assert curve.citation and curve.derivation


def test_erosion_curves_fall_and_biologics_erode_slower() -> None:
    small = reference.erosion_curve("small_molecule")
    biologic = reference.erosion_curve("biologic")
    for curve in (small, biologic):
        shares = np.array(curve.brand_share_by_year)
        assert np.all((shares > 0) & (shares <= 1))
        assert np.all(np.diff(shares) <= 0)
        assert curve.share_in_year(50) == shares[-1]
    assert small.share_in_year(2) <= 0.25  # brand unit share ~10–25% by month 12
    assert 0.2 <= biologic.share_in_year(3) <= 0.5  # ~40–50% of volume at ~40% lower price
    for year in range(1, 9):
        assert biologic.share_in_year(year) >= small.share_in_year(year)


# --- properties -----------------------------------------------------------------------------------


@st.composite
def cost_inputs(draw: st.DrawFn) -> CostInputs:
    count = draw(st.integers(1, 5))
    phases = []
    for index in range(count):
        phases.append(
            Phase(
                name=f"P{index}",
                cost_per_entrant_musd=draw(st.floats(0.0, 500.0)),
                transition_probability=draw(st.floats(0.01, 1.0)),
                start_offset_months=draw(st.floats(0.0, 120.0)),
                length_months=draw(st.floats(0.5, 60.0)),
            )
        )
    last_end = max(phase.end_offset_months for phase in phases)
    return CostInputs(
        phases=tuple(phases),
        preclinical_cost_per_approval_musd=draw(st.floats(0.0, 1000.0)),
        preclinical_period_months=draw(st.floats(0.5, 60.0)),
        time_to_approval_months=last_end + draw(st.floats(0.0, 36.0)),
        discount_rate=draw(st.floats(0.0, 0.3)),
    )


@settings(max_examples=200, deadline=None)
@given(inputs=cost_inputs(), lower=st.floats(0.0, 0.5), step=st.floats(1e-4, 0.5))
def test_capitalized_cost_rises_with_the_discount_rate(
    inputs: CostInputs, lower: float, step: float
) -> None:
    low = cost_per_approval(dataclasses.replace(inputs, discount_rate=lower))
    high = cost_per_approval(dataclasses.replace(inputs, discount_rate=lower + step))
    assert high.capitalized_total_musd >= low.capitalized_total_musd * (1 - 1e-12)
    assert low.capitalized_total_musd >= low.out_of_pocket_total_musd * (1 - 1e-12)
    if low.out_of_pocket_total_musd > 1e-6:
        assert high.capitalized_total_musd > low.capitalized_total_musd


@settings(max_examples=200, deadline=None)
@given(inputs=cost_inputs(), data=st.data())
def test_higher_success_rate_lowers_cost_per_approval(
    inputs: CostInputs, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(inputs.phases) - 1))
    phase = inputs.phases[index]
    better = data.draw(st.floats(phase.transition_probability, 1.0))
    phases = list(inputs.phases)
    phases[index] = dataclasses.replace(phase, transition_probability=better)
    before = cost_per_approval(inputs)
    after = cost_per_approval(dataclasses.replace(inputs, phases=tuple(phases)))
    assert after.success_rate >= before.success_rate
    assert after.out_of_pocket_clinical_musd <= before.out_of_pocket_clinical_musd * (1 + 1e-12)
    assert after.capitalized_clinical_musd <= before.capitalized_clinical_musd * (1 + 1e-12)


# --- validation -----------------------------------------------------------------------------------

GOOD_PHASE = {
    "name": "Phase II",
    "cost_per_entrant_musd": 58.6,
    "transition_probability": 0.3552,
    "start_offset_months": 19.8,
    "length_months": 30.3,
}


@pytest.mark.parametrize(
    ("argument", "value", "bound"),
    [
        ("transition_probability", 0.0, "(0, 1]"),
        ("transition_probability", 1.2, "(0, 1]"),
        ("transition_probability", float("nan"), "finite"),
        ("length_months", 0.0, "> 0"),
        ("length_months", -3.0, "> 0"),
        ("start_offset_months", -1.0, "below 0"),
        ("cost_per_entrant_musd", -5.0, "below 0"),
        ("cost_per_entrant_musd", "lots", "not a number"),
    ],
)
def test_bad_phase_names_argument_value_and_bound(argument: str, value: object, bound: str) -> None:
    with pytest.raises(ValueError) as caught:
        Phase(**{**GOOD_PHASE, argument: value})  # type: ignore[arg-type]
    message = str(caught.value)
    assert argument in message and "Phase II" in message
    assert str(value) in message and bound in message


@pytest.mark.parametrize(
    ("argument", "value", "bound"),
    [
        ("discount_rate", -0.01, "[0, 1]"),
        ("discount_rate", 10.5, "[0, 1]"),
        ("preclinical_period_months", 0.0, "> 0"),
        ("preclinical_cost_per_approval_musd", -1.0, "below 0"),
        ("time_to_approval_months", 50.0, "time_to_approval_months = 50.0"),
        ("time_to_approval_months", math.inf, "finite"),
        ("phases", (), "at least one"),
    ],
)
def test_bad_inputs_name_argument_value_and_bound(
    dimasi: reference.CostPreset, argument: str, value: object, bound: str
) -> None:
    with pytest.raises(ValueError) as caught:
        dataclasses.replace(dimasi.inputs, **{argument: value})  # type: ignore[arg-type]
    message = str(caught.value)
    assert argument in message and bound in message


def test_loa_rejects_bad_probabilities() -> None:
    with pytest.raises(ValueError, match=r"probabilities\[1\] = 1.5 is outside \(0, 1\]"):
        loa([0.5, 1.5])
    with pytest.raises(ValueError, match="empty"):
        loa([])
    with pytest.raises(TypeError, match="CostInputs"):
        cost_per_approval("dimasi2016")  # type: ignore[arg-type]
