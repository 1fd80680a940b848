"""The study status report: what the CRO hands the sponsor, as one :class:`StudyReport`.

Everything is as of the report date (``as_of``, default today): enrollment counts the records up
to it, the plan is the straight line from the planned first patient in (0) to the planned last
patient in (the target), the forecast is :func:`opencxo.clinical.forecasting.study_forecast` on
the same date, seed and paths (with and without the disruptions), and the recovery plan is the
study's latest one. Site statuses have no history: the sites section shows them as they are now.

A study that cannot be forecast (no open or planned site, the target reached) still gets its
report: ``forecast`` is None and ``forecast_problem`` says why. The HTML page
(``report_web``), the PDF (``report_pdf``) and the JSON API (``report_api``) all show this object.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from opencxo.clinical import forecasting, recovery, service
from opencxo.clinical.models import SiteStatus
from opencxo.clinical.report_schemas import (
    CountryRow,
    EnrollmentSection,
    MonthRow,
    RecoveryReport,
    ReportFact,
    ReportHeader,
    ReportSite,
    SitesSection,
    StatusRow,
    StudyReport,
)
from opencxo.clinical.schemas import (
    CumulativePoint,
    ForecastDisruption,
    StudyEnrollment,
    StudyForecastRead,
    StudyRead,
)
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Invalid
from opencxo.core.geography import country_name
from opencxo.core.types import utc_today

__all__ = [
    "plan_on",
    "report_filename",
    "study_report",
]

COUNTS = ("screened", "enrolled", "screen_failed", "withdrawn")
BASIS = {
    "fitted": "fitted on the open sites (maximum likelihood)",
    "fitted_alpha_fixed": "fitted on the open sites with α fixed at 2 (too few sites to fit it)",
    "design_stage": (
        f"design-stage prior: nobody enrolled yet, "
        f"{forecasting.DESIGN_STAGE_RATE_PER_MONTH} patients per site per month, α = 2"
    ),
}


# --- the plan -----------------------------------------------------------------------------------


def plan_on(study: StudyRead, day: date) -> float | None:
    """The straight-line plan on ``day``: 0 at planned FPI, the target at planned LPI (patients,
    one decimal); None without both dates. The study page draws the same line."""
    first, last = study.planned_first_patient_in, study.planned_last_patient_in
    if first is None or last is None or last <= first:
        return None
    share = (day - first).days / (last - first).days
    return round(min(max(share, 0.0), 1.0) * study.target_enrollment, 1)


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _by_month(study: StudyRead, points: Sequence[CumulativePoint], as_of: date) -> list[MonthRow]:
    """One row per calendar month from the first enrollment or the planned FPI (the earlier)
    to the report date."""
    starts = [p.on_date for p in points]
    if study.planned_first_patient_in and study.planned_first_patient_in <= as_of:
        starts.append(study.planned_first_patient_in)
    if not starts:
        return []
    per_month: Counter[str] = Counter()
    for p in points:
        per_month[p.on_date.strftime("%Y-%m")] += p.enrolled
    rows: list[MonthRow] = []
    month, running = min(starts).replace(day=1), 0
    while month <= as_of:
        key = month.strftime("%Y-%m")
        end = min(_month_end(month), as_of)
        running += per_month[key]
        plan = plan_on(study, end)
        rows.append(
            MonthRow(
                month=key,
                period_end=end,
                enrolled=per_month[key],
                cumulative=running,
                plan=plan,
                difference=None if plan is None else round(running - plan, 1),
            )
        )
        month = _month_end(month) + timedelta(days=1)
    return rows


def _enrollment(
    study: StudyRead, enrollment: StudyEnrollment, as_of: date
) -> tuple[EnrollmentSection, dict[str, dict[str, Any]]]:
    """The enrollment section and, per site code, its counts up to the report date."""
    per_site: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for r in enrollment.records:
        if r.on_date > as_of:
            continue
        row = per_site[r.site_code]
        for name in COUNTS:
            row[name] += getattr(r, name)
        row["last_record_on"] = max(r.on_date, row.get("last_record_on") or r.on_date)
    points = [p for p in enrollment.cumulative if p.on_date <= as_of]
    sums = {name: sum(row[name] for row in per_site.values()) for name in COUNTS}
    enrolled = sums["enrolled"]
    plan = plan_on(study, as_of)
    target = study.target_enrollment
    section = EnrollmentSection(
        as_of=as_of,
        target=target,
        **sums,
        percent_of_target=round(100.0 * enrolled / target, 1) if target else 0.0,
        plan=plan,
        difference=None if plan is None else round(enrolled - plan, 1),
        percent_of_plan=round(100.0 * enrolled / plan, 1) if plan else None,
        first_patient_in=next((p.on_date for p in points if p.enrolled > 0), None),
        last_record_on=max(
            (row["last_record_on"] for row in per_site.values() if "last_record_on" in row),
            default=None,
        ),
        cumulative=points,
        by_month=_by_month(study, points, as_of),
    )
    return section, per_site


# --- sites --------------------------------------------------------------------------------------


def _sites(
    study: StudyRead, sites: Sequence[Any], per_site: Mapping[str, Mapping[str, Any]]
) -> SitesSection:
    empty: dict[str, Any] = dict.fromkeys(COUNTS, 0)
    rows = [
        ReportSite(
            code=s.code,
            name=s.name,
            country=s.country,
            investigator=s.investigator,
            status=s.status,
            planned_activation_date=s.planned_activation_date,
            actual_activation_date=s.actual_activation_date,
            screened=per_site.get(s.code, empty)["screened"],
            enrolled=per_site.get(s.code, empty)["enrolled"],
            last_record_on=per_site.get(s.code, empty).get("last_record_on"),
        )
        for s in sorted(sites, key=lambda s: (s.country, s.code))
    ]
    by_status = [
        StatusRow(
            status=status,
            sites=sum(r.status == status for r in rows),
            screened=sum(r.screened for r in rows if r.status == status),
            enrolled=sum(r.enrolled for r in rows if r.status == status),
        )
        for status in SiteStatus
    ]
    countries: dict[str, Counter[str]] = defaultdict(Counter)
    for c in study.countries:
        countries[c.country]["planned_sites"] += c.planned_sites
        countries[c.country]["planned_patients"] += c.planned_patients
    for r in rows:
        row = countries[r.country]
        row["sites"] += 1
        row[r.status.value] += 1
        row["screened"] += r.screened
        row["enrolled"] += r.enrolled
    by_country = [
        CountryRow(
            country=code,
            country_name=country_name(code),
            planned_sites=row["planned_sites"],
            planned_patients=row["planned_patients"],
            sites=row["sites"],
            planned=row[SiteStatus.PLANNED.value],
            activating=row[SiteStatus.ACTIVATING.value],
            active=row[SiteStatus.ACTIVE.value],
            on_hold=row[SiteStatus.ON_HOLD.value],
            closed=row[SiteStatus.CLOSED.value],
            screened=row["screened"],
            enrolled=row["enrolled"],
        )
        for code, row in sorted(countries.items())
    ]
    return SitesSection(total=len(rows), by_status=by_status, by_country=by_country, sites=rows)


# --- the forecast -------------------------------------------------------------------------------


def _assumptions(f: StudyForecastRead) -> list[ReportFact]:
    """The forecast's assumptions in words, in the order a reader checks them."""
    alpha = f"{f.alpha:.3f}"
    if f.alpha_standard_error is not None:
        alpha += f" ± {f.alpha_standard_error:.3f} (standard error)"
    beta = f"{f.beta_days:.1f} days"
    if f.beta_standard_error_days is not None:
        beta += f" ± {f.beta_standard_error_days:.1f} days (standard error)"
    disruptions = (
        "; ".join(f"{d.title} ({d.place})" for d in f.disruptions)
        if f.disruptions
        else "none declared"
    )
    facts = [
        ("As-of date", f.as_of.isoformat()),
        ("Deadline", f.deadline.isoformat() if f.deadline else "none (no planned last patient in)"),
        ("Model", "Poisson–gamma enrollment (Anisimov & Fedorov 2007), 5-year horizon"),
        ("Basis of the site rates", BASIS.get(f.basis, f.basis)),
        ("Site-rate shape α", alpha),
        ("Site-rate rate β", beta),
        ("Mean rate", f"{f.mean_rate_per_site_per_month:.2f} patients per site per month"),
        (
            "Sites",
            f"{f.sites_open} open, {f.sites_planned} planned (open on their planned date), "
            f"{f.sites_closed} closed, {f.sites_without_plan} without a planned date (ignored)",
        ),
        ("Enrolled to date", f"{f.enrolled_to_date:,} of {f.target:,}"),
        (
            "Parameter uncertainty",
            "included: α, β drawn from the fit's covariance on every path"
            if f.parameter_uncertainty
            else "not included: α, β taken as known",
        ),
        ("Monte Carlo", f"{f.paths:,} paths, seed {f.seed}; both runs share the seed"),
        ("Disruptions applied", disruptions),
    ]
    return [ReportFact(label=label, value=value) for label, value in facts]


def _forecast(
    session: Session,
    principal: Principal,
    study_id: uuid.UUID,
    *,
    as_of: date,
    deadline: date | None,
    paths: int,
    seed: int,
) -> tuple[StudyForecastRead | None, str | None]:
    try:
        return (
            forecasting.study_forecast(
                session, principal, study_id, as_of=as_of, deadline=deadline, paths=paths, seed=seed
            ),
            None,
        )
    except Invalid as exc:  # the study's data: no site to forecast, the target reached …
        return None, exc.message


# --- the recovery plan --------------------------------------------------------------------------


def _recovery_section(
    session: Session, principal: Principal, study_id: uuid.UUID
) -> RecoveryReport | None:
    """The study's latest recovery plan among those the principal may read (the accepted one,
    else the newest proposed), None when none is proposed."""
    plan = recovery.latest_recovery_plan(session, principal, study_id)
    if plan is None:
        return None
    return RecoveryReport(
        plan_id=plan.id,
        status=plan.status,
        outcome=plan.outcome,
        message=plan.message,
        proposed_by=plan.organization_name,
        proposed_at=plan.created_at,
        as_of=plan.as_of,
        deadline=plan.deadline,
        confidence=plan.confidence,
        currency=plan.currency,
        added=plan.added,
        closed=plan.closed,
        sites_added=plan.sites_added,
        added_cost=plan.added_cost,
        savings=plan.savings,
        net_cost=plan.net_cost,
        probability_before=plan.probability_before,
        probability_after=plan.probability_after,
        completion_before=plan.completion_before,
        completion_after=plan.completion_after,
        decided_by_name=plan.decided_by_name,
        decided_at=plan.decided_at,
    )


# --- the report ---------------------------------------------------------------------------------


def study_report(
    session: Session,
    principal: Principal,
    study_id: uuid.UUID,
    *,
    as_of: date | None = None,
    deadline: date | None = None,
    paths: int = forecasting.DEFAULT_PATHS,
    seed: int = forecasting.DEFAULT_SEED,
) -> StudyReport:
    """The study status report as of ``as_of`` (default today).

    ``deadline`` (default: the planned last patient in), ``paths`` and ``seed`` are the
    forecast's, as in :func:`opencxo.clinical.forecasting.study_forecast`.

    Raises
    ------
    NotFound
        A study the principal cannot see (another organisation's).
    Invalid
        ``as_of`` in the future, ``paths`` outside [100, 100,000], a negative seed. A study that
        cannot be forecast is not an error: the report says why instead.
    """
    study = service.get_study(session, principal, study_id)
    today = utc_today()
    as_of = as_of or today
    if as_of > today:
        raise Invalid(
            "the report date is in the future",
            field_errors={"as_of": f"on or before {today.isoformat()}"},
        )
    if not forecasting.MIN_PATHS <= paths <= forecasting.MAX_FORECAST_PATHS:
        low, high = forecasting.MIN_PATHS, forecasting.MAX_FORECAST_PATHS
        raise Invalid(
            f"paths must be between {low:,} and {high:,} (got {paths:,})",
            field_errors={"paths": f"between {low} and {high}"},
        )
    if seed < 0:
        raise Invalid("seed must be 0 or more", field_errors={"seed": "0 or more"})
    enrollment, per_site = _enrollment(
        study, service.study_enrollment(session, principal, study_id), as_of
    )
    result, problem = _forecast(
        session, principal, study_id, as_of=as_of, deadline=deadline, paths=paths, seed=seed
    )
    disruptions = service.study_disruptions(session, principal, study_id)
    return StudyReport(
        header=ReportHeader(
            study_id=study.id,
            code=study.code,
            title=study.title,
            sponsor_name=study.sponsor_name,
            provider_name=study.provider_name,
            program_name=study.program_name,
            work_order_number=study.work_order_number,
            phase=study.phase,
            indication=study.indication,
            target_enrollment=study.target_enrollment,
            planned_first_patient_in=study.planned_first_patient_in,
            planned_last_patient_in=study.planned_last_patient_in,
            status=study.status,
            report_date=as_of,
            viewer_role=study.viewer_role,
        ),
        enrollment=enrollment,
        forecast=result,
        forecast_problem=problem,
        assumptions=_assumptions(result) if result else [],
        sites=_sites(study, service.list_sites(session, principal, study_id), per_site),
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
            for d in disruptions
        ],
        recovery=_recovery_section(session, principal, study_id),
    )


def report_filename(report: StudyReport, extension: str = "pdf") -> str:
    """``NWT-204-201-status-2026-12-04.pdf``: the study code (safe characters only) and date."""
    code = "".join(
        c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in report.header.code
    )
    return (
        f"{code.strip('-.') or 'study'}-status-{report.header.report_date.isoformat()}.{extension}"
    )
