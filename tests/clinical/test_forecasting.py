"""The study forecast service (``opencxo.clinical.forecasting``): a study's rows → engine inputs,
the forecast with and without the disruptions of its countries, access and bounds."""

from __future__ import annotations

import uuid

import pytest
from numpy.testing import assert_allclose

from opencxo.clinical import forecasting, service
from opencxo.clinical.engine.fit import fit_poisson_gamma
from opencxo.clinical.schemas import EnrollmentCreate
from opencxo.core.errors import Invalid, NotFound
from opencxo.parties import service as parties
from opencxo.parties.schemas import DisruptionCreate
from tests.clinical.conftest import TODAY, Clinic, days

PATHS = 4_000
# code, country, activated (days before today), patients (one record, on the activation day + 10)
OPEN_SITES = [
    ("US-001", "US", 300, 22), ("US-002", "US", 280, 15), ("US-003", "US", 260, 9),
    ("US-004", "US", 240, 18), ("DE-001", "DE", 250, 12), ("DE-002", "DE", 220, 7),
    ("PL-001", "PL", 270, 20), ("PL-002", "PL", 230, 14), ("PL-003", "PL", 200, 11),
]  # fmt: skip
SUSPENDED_FOR = 40  # Poland suspended (multiplier 0) for the last 40 days, still open


def _demo_like(clinic: Clinic, *, disruption: bool = True) -> uuid.UUID:
    """A study of 9 open sites in US, DE and PL (128 of 240 enrolled) and 2 planned PL sites;
    optionally Poland suspended from 40 days ago, open-ended, activations frozen."""
    study = clinic.study()
    for code, country, ago, patients in OPEN_SITES:
        site_id = clinic.site(study.id, code, country=country, activated=days(-ago))
        service.add_enrollment(
            clinic.session,
            clinic["cro"],
            site_id,
            EnrollmentCreate(on_date=days(-ago + 10), enrolled=patients),
        )
    for code in ("PL-004", "PL-005"):
        clinic.site(study.id, code, country="PL")  # planned 200 days ago: overdue
    if disruption:
        parties.declare_disruption(
            clinic.session,
            clinic["manager"],
            DisruptionCreate(
                title="Epidemic in Poland",
                cause="epidemic",  # type: ignore[arg-type]
                country="PL",
                starts_on=days(-SUSPENDED_FOR),
                enrollment_multiplier=0.0,
                freeze_activations=True,
            ),
        )
    clinic.session.commit()
    return study.id


def test_alpha_beta_are_the_fit_on_the_open_sites_counts_and_exposures(clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    result = forecasting.study_forecast(clinic.session, clinic["manager"], study_id, paths=PATHS)
    counts = [n for *_, n in OPEN_SITES]
    # exposure: days since activation, less the suspended days of the Polish sites
    exposures = [ago - (SUSPENDED_FOR if c == "PL" else 0) for _, c, ago, _ in OPEN_SITES]
    fit = fit_poisson_gamma(counts, exposures)
    assert result.basis == "fitted"
    assert_allclose([result.alpha, result.beta_days], [fit.alpha, fit.beta_days], rtol=1e-12)
    assert_allclose(result.mean_rate_per_site_per_month, fit.mean_rate_per_month, rtol=1e-12)
    assert result.enrolled_to_date == sum(counts) == 128
    assert (result.sites_open, result.sites_planned, result.sites_closed) == (9, 2, 0)
    assert result.target == 240 and result.as_of == TODAY
    assert result.deadline == days(150)  # the planned last patient in
    assert [d.title for d in result.disruptions] == ["Epidemic in Poland"]


def test_a_suspended_country_delays_completion_and_lowers_the_probability(clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    first = forecasting.study_forecast(clinic.session, clinic["manager"], study_id, paths=PATHS)
    plain = first.without_disruptions
    assert plain.completion_date_p50 is not None
    # a deadline at the undisrupted median makes both probabilities informative
    result = forecasting.study_forecast(
        clinic.session,
        clinic["manager"],
        study_id,
        paths=PATHS,
        deadline=plain.completion_date_p50,
    )
    hit, miss = result.with_disruptions, result.without_disruptions
    assert hit is not None and hit.disruptions_applied and not miss.disruptions_applied
    assert hit.completion_date_p50 is not None and miss.completion_date_p50 is not None
    assert hit.completion_date_p50 > miss.completion_date_p50
    assert hit.probability_by_deadline is not None and miss.probability_by_deadline is not None
    assert 0.3 < miss.probability_by_deadline < 0.7
    assert hit.probability_by_deadline < miss.probability_by_deadline
    # the bands start at the enrolled count and never fall
    for scenario in (hit, miss):
        p50 = [p.p50 for p in scenario.cumulative]
        assert p50[0] == 128 and p50 == sorted(p50)
        assert scenario.cumulative[0].on_date == TODAY


def test_same_seed_same_answer_and_without_disruptions_only_on_request(clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    run = lambda **kw: forecasting.study_forecast(  # noqa: E731
        clinic.session, clinic["manager"], study_id, paths=PATHS, **kw
    )
    a, b = run(seed=7), run(seed=7)
    assert a.model_dump() == b.model_dump()
    assert run(seed=8).model_dump() != a.model_dump()
    only = run(seed=7, with_disruptions=False)
    assert only.with_disruptions is None and only.disruptions == []
    # disruptions ignored altogether: the fit's exposures are the plain days since activation
    assert only.beta_days != a.beta_days
    assert only.without_disruptions.completion_date_p50 is not None


def test_no_disruption_gives_identical_runs(clinic: Clinic) -> None:
    study_id = _demo_like(clinic, disruption=False)
    result = forecasting.study_forecast(clinic.session, clinic["manager"], study_id, paths=PATHS)
    assert result.disruptions == []
    assert result.with_disruptions is not None
    assert result.with_disruptions.cumulative == result.without_disruptions.cumulative


def test_design_stage_prior_when_nobody_has_enrolled(clinic: Clinic) -> None:
    study = clinic.study()
    clinic.site(study.id, "US-001", activated=days(-10))
    clinic.site(study.id, "US-002")
    result = forecasting.study_forecast(clinic.session, clinic["cro"], study.id, paths=PATHS)
    assert result.basis == "design_stage"
    assert_allclose(result.mean_rate_per_site_per_month, 0.5)
    assert result.alpha == 2.0 and result.alpha_standard_error is None


def test_another_sponsor_gets_404_and_bounds_answer_422(clinic: Clinic) -> None:
    study_id = _demo_like(clinic)
    with pytest.raises(NotFound):
        forecasting.study_forecast(clinic.session, clinic["stranger"], study_id, paths=PATHS)
    with pytest.raises(NotFound):
        forecasting.study_forecast(clinic.session, clinic["other_cro"], study_id, paths=PATHS)
    with pytest.raises(Invalid) as too_many:
        forecasting.study_forecast(clinic.session, clinic["manager"], study_id, paths=100_001)
    assert too_many.value.status_code == 422
    with pytest.raises(Invalid):
        forecasting.study_forecast(clinic.session, clinic["manager"], study_id, paths=99)
    with pytest.raises(Invalid):
        forecasting.study_forecast(
            clinic.session, clinic["manager"], study_id, paths=PATHS, as_of=days(1)
        )
    # the CRO reads the forecast too (without the sponsor's private disruptions)
    cro = forecasting.study_forecast(clinic.session, clinic["cro"], study_id, paths=PATHS)
    assert cro.disruptions == [] and cro.enrolled_to_date == 128


def test_a_study_without_sites_answers_422(clinic: Clinic) -> None:
    study = clinic.study()
    with pytest.raises(Invalid, match="no open or planned site"):
        forecasting.study_forecast(clinic.session, clinic["manager"], study.id, paths=PATHS)


def test_the_forecast_is_remembered_until_the_data_change(clinic: Clinic) -> None:
    """Reloading the page (same data, same seed) reuses both simulations; a new enrollment
    record is new data, so the forecast runs again and counts it."""
    study_id = _demo_like(clinic)
    run = lambda: forecasting.study_forecast(  # noqa: E731
        clinic.session, clinic["manager"], study_id, paths=PATHS, seed=7
    )
    forecasting._forecast.cache_clear()
    first = run()
    assert forecasting._forecast.cache_info().misses == 2  # with and without the disruption
    assert run().model_dump() == first.model_dump()
    assert forecasting._forecast.cache_info().hits == 2
    site = next(s for s in service.list_sites(clinic.session, clinic["cro"], study_id))
    service.add_enrollment(
        clinic.session, clinic["cro"], site.id, EnrollmentCreate(on_date=TODAY, enrolled=5)
    )
    clinic.session.commit()
    third = run()
    assert forecasting._forecast.cache_info().misses == 4
    assert third.enrolled_to_date == first.enrolled_to_date + 5
