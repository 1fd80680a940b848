"""The enrollment forecast of a study: its rows turned into engine inputs, and the results back.

Inputs (all as of ``as_of``, default today):

* **sites** — an activated site (activation on or before ``as_of``) is open from its actual
  activation with the patients its records count up to ``as_of``; a planned or activating site
  (or one activated after ``as_of``) opens at its planned activation date (actual activation
  when ``as_of`` is before it); a site with neither date is ignored; a closed site enrolls no
  more: its patients count towards the total, not towards the forecast (the engine's target is
  reduced by them and the bands shifted back up). An on-hold site counts as open. Each site's
  region is its country's (``core.geography``) so regional disruptions match.
* **parameters** — α, β fitted by maximum likelihood on the open sites (exposures weighted by the
  disruptions that suspended or slowed them); α fixed at 2 when it cannot be estimated (one
  site); with nobody enrolled yet the design-stage prior: 0.5 patients per site per month
  (:data:`DESIGN_STAGE_RATE_PER_MONTH`), α = 2. The fit's covariance corrects the plug-in
  under-coverage.
* **disruptions** — the viewer's organisation's disruptions on the study's countries
  (:func:`opencxo.clinical.service.study_disruptions`: they are private to who declared them);
  a disruption's ``ends_on`` is its last day.

Both forecasts (with and without the disruptions) use the same α, β and the same seed.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from opencxo.clinical import repository, service
from opencxo.clinical.engine.fit import FitError, PoissonGammaFit
from opencxo.clinical.engine.forecast import Disruption, Forecast, ForecastInputs, Site, forecast
from opencxo.clinical.forecast_inputs import DESIGN_STAGE_ALPHA, build_forecast_inputs
from opencxo.clinical.models import SiteStatus, StudySite
from opencxo.clinical.schemas import (
    MAX_FORECAST_PATHS,
    ForecastBandPoint,
    ForecastDisruption,
    ForecastScenario,
    StudyForecastRead,
    StudyRead,
)
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Invalid
from opencxo.core.geography import region_of
from opencxo.core.types import utc_today
from opencxo.parties.schemas import DisruptionRead

__all__ = [
    "DEFAULT_PATHS",
    "DEFAULT_SEED",
    "DESIGN_STAGE_RATE_PER_MONTH",
    "MAX_FORECAST_PATHS",
    "MIN_PATHS",
    "StudyInputs",
    "engine_disruptions",
    "engine_sites",
    "study_forecast",
    "study_inputs",
]

#: Design-stage prior (nobody enrolled yet): mean patients per site per month.
DESIGN_STAGE_RATE_PER_MONTH = 0.5
DEFAULT_PATHS = 20_000
#: Forecasts kept in memory per process (each about 100 kB).
FORECAST_CACHE_SIZE = 64
DEFAULT_SEED = 2026
MIN_PATHS = 100


def engine_sites(
    sites: Sequence[StudySite], enrolled: dict[uuid.UUID, int], as_of: date
) -> tuple[list[Site], int, int]:
    """Engine sites of the study's sites (closed ones left out), the patients of the closed
    sites, and the number of closed sites. ``enrolled``: site id → patients up to ``as_of``."""
    out: list[Site] = []
    closed_patients = closed = 0
    for s in sites:
        if s.status == SiteStatus.CLOSED:
            closed += 1
            closed_patients += enrolled.get(s.id, 0)
            continue
        activated = s.actual_activation_date
        if activated is not None and activated <= as_of:
            out.append(
                Site(
                    site_id=s.code,
                    country=s.country,
                    region=region_of(s.country),
                    enrolled=enrolled.get(s.id, 0),
                    activation_day=float((activated - as_of).days),
                )
            )
            continue
        planned = activated or s.planned_activation_date
        out.append(
            Site(
                site_id=s.code,
                country=s.country,
                region=region_of(s.country),
                planned_activation_day=None if planned is None else float((planned - as_of).days),
            )
        )
    return out, closed_patients, closed


def engine_disruptions(disruptions: Sequence[DisruptionRead], as_of: date) -> list[Disruption]:
    """Engine disruptions (days from ``as_of``; ``ends_on`` is the last day, so the engine's
    exclusive end is the day after)."""
    return [
        Disruption(
            start_day=float((d.starts_on - as_of).days),
            end_day=None if d.ends_on is None else float((d.ends_on - as_of).days + 1),
            enrollment_multiplier=d.enrollment_multiplier,
            freeze_activations=d.freeze_activations,
            country=d.country,
            region=None if d.country else d.region,
            cause=str(d.cause),
        )
        for d in disruptions
    ]


def _inputs(
    sites: Sequence[Site],
    *,
    as_of: date,
    target: int,
    deadline_day: float | None,
    disruptions: Sequence[Disruption],
) -> tuple[ForecastInputs, PoissonGammaFit | None, str]:
    common = {"as_of": as_of, "target": target, "deadline_day": deadline_day}
    try:
        try:
            inputs, fit = build_forecast_inputs(
                sites,
                **common,  # type: ignore[arg-type]
                disruptions=disruptions,
                fit_disruptions=disruptions,
                prior_rate_per_month=DESIGN_STAGE_RATE_PER_MONTH,
            )
            return inputs, fit, "design_stage" if fit is None else "fitted"
        except FitError:
            inputs, fit = build_forecast_inputs(
                sites,
                **common,  # type: ignore[arg-type]
                disruptions=disruptions,
                fit_disruptions=disruptions,
                alpha=DESIGN_STAGE_ALPHA,
                prior_rate_per_month=DESIGN_STAGE_RATE_PER_MONTH,
            )
            return inputs, fit, "fitted_alpha_fixed"
    except ValueError as exc:  # the engine's InputError or FitError: the study's data
        raise Invalid(f"cannot forecast this study: {' '.join(str(exc).split())}") from None


def _scenario(
    result: Forecast, *, applied: bool, offset: int, until_day: float | None
) -> ForecastScenario:
    c = result.completion
    bands = [
        ForecastBandPoint(
            on_date=result.date_of(b.day) or result.as_of,
            day=round(b.day, 3),
            mean=round(b.mean + offset, 3),
            p10=b.p10 + offset,
            p50=b.p50 + offset,
            p90=b.p90 + offset,
        )
        for b in result.cumulative
        if until_day is None or b.day <= until_day
    ]
    return ForecastScenario(
        disruptions_applied=applied,
        completion_date_p10=result.date_of(c.p10_days),
        completion_date_p50=result.date_of(c.p50_days),
        completion_date_p90=result.date_of(c.p90_days),
        completion_date_mean=result.date_of(c.mean_days),
        fraction_not_reached=round(c.fraction_not_reached, 6),
        probability_by_deadline=None
        if result.probability_by_deadline is None
        else round(result.probability_by_deadline, 6),
        cumulative=bands,
    )


def _until(results: Sequence[Forecast], deadline_day: float | None) -> float | None:
    """The last day worth showing: the latest P90 completion or the deadline, plus 10 %."""
    ends = [r.completion.p90_days for r in results]
    if any(e is None for e in ends):
        return None
    last = max([e for e in ends if e is not None] + ([deadline_day] if deadline_day else []))
    return last + max(30.0, 0.1 * last)


@dataclass(frozen=True)
class StudyInputs:
    """A study's rows as forecast inputs (with the viewer's disruptions), and what they came
    from: shared by the forecast and the recovery plan."""

    study: StudyRead
    as_of: date
    deadline: date | None
    deadline_day: float | None
    rows: Sequence[StudySite]
    enrolled: Counter[uuid.UUID]  # site id → patients up to as_of
    sites: list[Site]
    enrolled_to_date: int
    closed_patients: int  # patients of the closed sites (they count, but enroll no more)
    closed: int
    disruption_reads: list[DisruptionRead]
    disruptions: list[Disruption]
    inputs: ForecastInputs
    fit: PoissonGammaFit | None
    basis: str


def study_inputs(
    session: Session,
    principal: Principal,
    study: StudyRead,
    *,
    as_of: date | None = None,
    deadline: date | None = None,
    with_disruptions: bool = True,
) -> StudyInputs:
    """The study's forecast inputs as of ``as_of`` (default today) with the viewer's
    disruptions; ``deadline`` defaults to the planned last patient in.

    Raises
    ------
    Invalid
        ``as_of`` in the future, no site to forecast, the target reached already, data the
        engine refuses.
    """
    today = utc_today()
    as_of = as_of or today
    if as_of > today:
        raise Invalid(
            "the as-of date is in the future",
            field_errors={"as_of": f"on or before {today.isoformat()}"},
        )
    deadline = deadline or study.planned_last_patient_in
    rows = repository.sites(session, study.id)
    enrolled: Counter[uuid.UUID] = Counter()
    codes = {s.code: s.id for s in rows}
    for record, code in repository.records_of_study(session, study.id):
        if record.on_date <= as_of:
            enrolled[codes[code]] += record.enrolled
    sites, closed_patients, closed = engine_sites(rows, enrolled, as_of)
    enrolled_to_date = sum(enrolled.values())
    if not sites:
        raise Invalid("the study has no open or planned site to forecast: add its sites first")
    target = study.target_enrollment - closed_patients
    if enrolled_to_date >= study.target_enrollment:
        raise Invalid(
            f"the target of {study.target_enrollment} patients is reached already "
            f"({enrolled_to_date} enrolled)"
        )
    reads = service.study_disruptions(session, principal, study.id) if with_disruptions else []
    disruptions = engine_disruptions(reads, as_of)
    deadline_day = None if deadline is None else float((deadline - as_of).days)
    inputs, fit, basis = _inputs(
        sites, as_of=as_of, target=target, deadline_day=deadline_day, disruptions=disruptions
    )
    return StudyInputs(
        study=study,
        as_of=as_of,
        deadline=deadline,
        deadline_day=deadline_day,
        rows=rows,
        enrolled=enrolled,
        sites=sites,
        enrolled_to_date=enrolled_to_date,
        closed_patients=closed_patients,
        closed=closed,
        disruption_reads=reads,
        disruptions=disruptions,
        inputs=inputs,
        fit=fit,
        basis=basis,
    )


@functools.lru_cache(maxsize=FORECAST_CACHE_SIZE)
def _forecast(inputs: ForecastInputs, paths: int, seed: int) -> Forecast:
    """The engine's forecast, remembered: same inputs and seed, same result (the engine is
    deterministic), so sorting or paging the study page does not simulate again. The inputs
    are frozen and hashable; a change of sites, records, disruptions or dates is a new key."""
    return forecast(inputs, paths, seed)


def study_forecast(
    session: Session,
    principal: Principal,
    study_id: uuid.UUID,
    *,
    as_of: date | None = None,
    deadline: date | None = None,
    paths: int = DEFAULT_PATHS,
    seed: int = DEFAULT_SEED,
    with_disruptions: bool = True,
) -> StudyForecastRead:
    """Forecast the study's enrollment (Poisson–gamma Monte Carlo) with and without the
    disruptions of its countries.

    Raises
    ------
    NotFound
        A study the principal cannot see.
    Invalid
        ``paths`` outside [100, 100,000], a negative seed, ``as_of`` in the future, no site to
        forecast, the target reached already.
    """
    study = service.get_study(session, principal, study_id)  # 404 / 403 as the study page
    if not MIN_PATHS <= paths <= MAX_FORECAST_PATHS:
        raise Invalid(
            f"paths must be between {MIN_PATHS:,} and {MAX_FORECAST_PATHS:,} (got {paths:,})",
            field_errors={"paths": f"between {MIN_PATHS} and {MAX_FORECAST_PATHS}"},
        )
    if seed < 0:
        raise Invalid("seed must be 0 or more", field_errors={"seed": "0 or more"})
    prepared = study_inputs(
        session,
        principal,
        study,
        as_of=as_of,
        deadline=deadline,
        with_disruptions=with_disruptions,
    )
    as_of, deadline, deadline_day = prepared.as_of, prepared.deadline, prepared.deadline_day
    sites, inputs, fit, basis = prepared.sites, prepared.inputs, prepared.fit, prepared.basis
    disruptions, reads = prepared.disruptions, prepared.disruption_reads
    enrolled_to_date, closed_patients = prepared.enrolled_to_date, prepared.closed_patients
    closed = prepared.closed
    plain = ForecastInputs(
        sites=inputs.sites,
        as_of=inputs.as_of,
        target=inputs.target,
        alpha=inputs.alpha,
        beta_days=inputs.beta_days,
        prior_rate_per_site_per_month=inputs.prior_rate_per_site_per_month,
        parameter_covariance=inputs.parameter_covariance,
        deadline_day=inputs.deadline_day,
        horizon_days=inputs.horizon_days,
    )
    without = _forecast(plain, paths, seed)
    disrupted = _forecast(inputs, paths, seed) if disruptions else None
    results = [without] if disrupted is None else [without, disrupted]
    until = _until(results, deadline_day)
    mean_rate_per_day = inputs.alpha / inputs.beta
    return StudyForecastRead(
        study_id=study.id,
        study_code=study.code,
        as_of=as_of,
        deadline=deadline,
        target=study.target_enrollment,
        enrolled_to_date=enrolled_to_date,
        sites_open=sum(s.is_active for s in sites),
        sites_planned=sum(not s.is_active and s.planned_activation_day is not None for s in sites),
        sites_closed=closed,
        sites_without_plan=sum(not s.is_active and s.planned_activation_day is None for s in sites),
        basis=basis,
        alpha=inputs.alpha,
        beta_days=inputs.beta,
        mean_rate_per_site_per_month=mean_rate_per_day * 365.25 / 12,
        alpha_standard_error=None
        if fit is None or fit.alpha_fixed or not math.isfinite(fit.alpha_standard_error)
        else fit.alpha_standard_error,
        beta_standard_error_days=None
        if fit is None or not math.isfinite(fit.beta_standard_error_days)
        else fit.beta_standard_error_days,
        parameter_uncertainty=without.parameter_uncertainty,
        paths=paths,
        seed=seed,
        disruptions=[
            ForecastDisruption(
                id=d.id,
                title=d.title,
                cause=str(d.cause),
                place=d.place,
                starts_on=d.starts_on,
                ends_on=d.ends_on,
                enrollment_multiplier=d.enrollment_multiplier,
                freeze_activations=d.freeze_activations,
            )
            for d in reads
        ],
        with_disruptions=None
        if not with_disruptions
        else _scenario(disrupted or without, applied=True, offset=closed_patients, until_day=until),
        without_disruptions=_scenario(
            without, applied=False, offset=closed_patients, until_day=until
        ),
    )
