"""Recovery plans of a disrupted study, and the CRO site offers they draw on.

**Offers.** A provider publishes what sites it can open (one country, an expected rate, an
activation lag, start-up, monthly and per-patient costs, a capacity). The provider's people with
``studies:write`` create, change and deactivate their own offers; sponsors read every *active*
offer (a directory, like capabilities); a provider reads only its own. Writes to another
organisation's visible offer answer 403, an offer one cannot see answers 404.

**Plans.** Proposing a plan (the study's sponsor or its CRO, ``studies:write``) builds the study's
forecast inputs exactly as the forecast does (:func:`opencxo.clinical.forecasting.study_inputs`:
the proposer's own disruptions, which are private to it), takes the active offers the proposing
side can read in the request's currency (others are counted and left out: no exchange rates),
the costs of the study's sites in that currency (closing one costs the request's close-out cost
per site, so a closure saves its monthly and per-patient costs less that), and asks the engine
(:func:`opencxo.clinical.engine.recovery.plan_recovery`) for the cheapest plan whose simulated
P(target by the deadline) reaches the confidence. The plan is stored ``proposed``, with what the
offers and sites were then. The sponsor reads every plan of its study, the CRO the plans it
proposed. Only the sponsor (who pays) accepts or rejects: accepting creates the new sites
(planned, opening on the accept date + the offer's lag, managed by the offer's provider) and
closes the plan's closures in one transaction, and supersedes the study's other proposed plans.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from opencxo.clinical import forecasting, repository, service
from opencxo.clinical.engine.fit import InputError
from opencxo.clinical.engine.forecast import Forecast
from opencxo.clinical.engine.recovery import (
    CandidateOffer,
    RecoveryProblem,
    SiteCost,
    plan_recovery,
)
from opencxo.clinical.engine.recovery import RecoveryPlan as EnginePlan
from opencxo.clinical.models import (
    SITE_TRANSITIONS,
    RecoveryOutcome,
    RecoveryPlan,
    RecoveryPlanStatus,
    SiteOffer,
    SiteStatus,
    Study,
    StudySite,
)
from opencxo.clinical.recovery_schemas import (
    CompletionDates,
    RecoveryAddition,
    RecoveryBandPoint,
    RecoveryClosure,
    RecoveryDecision,
    RecoveryDistribution,
    RecoveryHistogramBin,
    RecoveryPlanRead,
    RecoveryRequest,
    SiteOfferCreate,
    SiteOfferRead,
    SiteOfferUpdate,
)
from opencxo.clinical.schemas import SiteCreate, SiteTransition, StudyRead
from opencxo.core import audit
from opencxo.core.auth import repository as users
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted, check_version
from opencxo.core.geography import region_of
from opencxo.core.pagination import Page, PageParams, paginate
from opencxo.core.types import CENT, utc_today, utcnow
from opencxo.parties import service as parties

__all__ = [
    "MAX_CHART_POINTS",
    "OFFER_SORTS",
    "accept_recovery_plan",
    "create_site_offer",
    "get_recovery_plan",
    "get_site_offer",
    "latest_recovery_plan",
    "list_recovery_plans",
    "list_site_offers",
    "propose_recovery_plan",
    "reject_recovery_plan",
    "update_site_offer",
]

#: Called with (step done, steps in total, what is being done).
Progress = Callable[[int, int, str], None]

OFFER_FIELDS = (
    "provider_id", "name", "country", "city", "expected_rate_per_site_per_month",
    "activation_lag_days", "startup_cost_per_site", "monthly_cost_per_site", "cost_per_patient",
    "currency", "capacity_sites", "therapeutic_areas", "notes", "active",
)  # fmt: skip
OFFER_SORTS = ("country", "name", "provider", "rate", "lag", "startup", "monthly",
               "per_patient", "capacity", "updated_at")  # fmt: skip
#: Points of each cumulative band kept for the plan's chart.
MAX_CHART_POINTS = 120
HISTOGRAM_BINS = 40


def _money(value: float) -> Decimal:
    """A float amount of the engine to the cent (half-even, as Decimal's quantize)."""
    return Decimal(repr(round(float(value), 2))).quantize(CENT)


def _names(session: Session, ids: Sequence[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    return {o.id: o.name for o in parties.organizations_named_by_id(session, wanted)}


# --- site offers --------------------------------------------------------------------------------


def _kinds(session: Session, principal: Principal) -> dict[uuid.UUID, str]:
    """The principal's organisations and their kind (sponsor / provider)."""
    return {
        o.id: str(o.kind)
        for o in parties.organizations_named_by_id(session, principal.organization_ids)
    }


def _offer_scope(session: Session, principal: Principal) -> tuple[set[uuid.UUID], bool]:
    """(providers whose every offer the principal reads, whether it reads every active offer)."""
    if principal.is_operator:
        return set(), True
    kinds = _kinds(session, principal)
    own = {
        org
        for org, kind in kinds.items()
        if kind == "provider" and principal.can(Permission.STUDIES_READ, org)
    }
    directory = any(
        kind == "sponsor" and principal.can(Permission.STUDIES_READ, org)
        for org, kind in kinds.items()
    )
    return own, directory


def _visible(offer: SiteOffer, own: set[uuid.UUID], directory: bool) -> bool:
    return offer.provider_id in own or (directory and offer.active)


def _offer_read(offer: SiteOffer, names: dict[uuid.UUID, str]) -> SiteOfferRead:
    read = SiteOfferRead.model_validate(offer)
    read.provider_name = names.get(offer.provider_id, "")
    return read


def _sort_key(sort: str) -> Callable[[SiteOfferRead], Any]:
    keys: dict[str, Callable[[SiteOfferRead], Any]] = {
        "country": lambda o: o.country,
        "name": lambda o: o.name.lower(),
        "provider": lambda o: o.provider_name.lower(),
        "rate": lambda o: o.expected_rate_per_site_per_month,
        "lag": lambda o: o.activation_lag_days,
        "startup": lambda o: o.startup_cost_per_site,
        "monthly": lambda o: o.monthly_cost_per_site,
        "per_patient": lambda o: o.cost_per_patient,
        "capacity": lambda o: o.capacity_sites,
        "updated_at": lambda o: o.updated_at,
    }
    return keys[sort]


def list_site_offers(
    session: Session,
    principal: Principal,
    *,
    params: PageParams,
    country: str | None = None,
    provider_id: uuid.UUID | None = None,
    active: bool | None = None,
    currency: str | None = None,
    therapeutic_area: str | None = None,
) -> Page[SiteOfferRead]:
    """Offers the principal may read: its providers' own (active or not) and, for sponsors,
    every active offer. Sorted in Python (money sorts as numbers on every backend)."""
    own, directory = _offer_scope(session, principal)
    if principal.is_operator:
        rows = repository.site_offers(
            session,
            everyone_active=True,
            provider_ids=None,
            country=country.upper() if country else None,
            provider_id=provider_id,
            active=active,
            currency=currency.upper() if currency else None,
        )
    else:
        rows = repository.site_offers(
            session,
            provider_ids=own,
            everyone_active=directory,
            country=country.upper() if country else None,
            provider_id=provider_id,
            active=active,
            currency=currency.upper() if currency else None,
        )
    if therapeutic_area:
        wanted = therapeutic_area.strip().lower()
        rows = [
            r
            for r in rows
            if not r.therapeutic_areas or wanted in {a.lower() for a in r.therapeutic_areas}
        ]
    names = _names(session, [r.provider_id for r in rows])
    reads = [_offer_read(r, names) for r in rows]
    column, descending = params.sort_key(OFFER_SORTS, "country")
    reads.sort(key=lambda o: (o.country, o.name.lower()))
    reads.sort(key=_sort_key(column), reverse=descending)
    page, total = paginate(reads, params)
    return Page.of(page, total=total, params=params)


def _offer(session: Session, principal: Principal, offer_id: uuid.UUID) -> SiteOffer:
    offer = repository.site_offer(session, offer_id)
    if offer is None:
        raise NotFound("no such site offer")
    own, directory = _offer_scope(session, principal)
    if not _visible(offer, own, directory):
        raise NotFound("no such site offer")
    return offer


def get_site_offer(session: Session, principal: Principal, offer_id: uuid.UUID) -> SiteOfferRead:
    offer = _offer(session, principal, offer_id)
    return _offer_read(offer, _names(session, [offer.provider_id]))


def _acting_provider(
    session: Session, principal: Principal, provider_id: uuid.UUID | None
) -> uuid.UUID:
    kinds = _kinds(session, principal)
    if provider_id is not None:
        found = parties.organizations_named_by_id(session, [provider_id])
        if not found:
            raise NotFound("no such provider")
        if found[0].kind != "provider":
            raise Invalid(
                "only a provider organisation offers sites",
                field_errors={"provider_id": "choose a provider organisation"},
            )
        principal.require(Permission.STUDIES_WRITE, provider_id)
        return provider_id
    mine = [
        org
        for org, kind in kinds.items()
        if kind == "provider" and principal.can(Permission.STUDIES_WRITE, org)
    ]
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise NotPermitted("you need studies:write in a provider organisation to offer sites")
    raise Invalid(
        "you belong to several providers; say which one offers the sites",
        field_errors={"provider_id": "required when you belong to several providers"},
    )


def create_site_offer(
    session: Session, principal: Principal, data: SiteOfferCreate
) -> SiteOfferRead:
    provider_id = _acting_provider(session, principal, data.provider_id)
    offer = SiteOffer(provider_id=provider_id, **data.model_dump(exclude={"provider_id"}))
    session.add(offer)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="site_offer",
        entity_id=offer.id,
        actor=principal,
        organization_id=provider_id,
        after=audit.snapshot(offer, OFFER_FIELDS),
    )
    return _offer_read(offer, _names(session, [provider_id]))


def update_site_offer(
    session: Session, principal: Principal, offer_id: uuid.UUID, data: SiteOfferUpdate
) -> SiteOfferRead:
    """Change (or deactivate: ``active`` false) one of your provider's offers."""
    offer = _offer(session, principal, offer_id)
    principal.require(Permission.STUDIES_WRITE, offer.provider_id)
    check_version("site offer", offer.version, data.version)
    before = audit.snapshot(offer, OFFER_FIELDS)
    for name, value in data.model_dump(exclude={"version"}).items():
        setattr(offer, name, value)
    after = audit.snapshot(offer, OFFER_FIELDS)
    if after != before:
        offer.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            action="deactivate" if before["active"] and not offer.active else "update",
            entity_type="site_offer",
            entity_id=offer.id,
            actor=principal,
            organization_id=offer.provider_id,
            before=before,
            after=after,
        )
    return _offer_read(offer, _names(session, [offer.provider_id]))


# --- plans: access ------------------------------------------------------------------------------


def _study(session: Session, principal: Principal, study_id: uuid.UUID) -> Study:
    found = repository.study(session, study_id, principal.organization_ids)
    if found is None:
        raise NotFound("no such study")
    return found


def _plan_visible_to(plan: RecoveryPlan, study: Study, acting_for: uuid.UUID) -> bool:
    """The sponsor sees every plan of its study, the CRO the plans it proposed."""
    return acting_for == study.sponsor_id or plan.organization_id == acting_for


def _plan(session: Session, principal: Principal, plan_id: uuid.UUID) -> tuple[RecoveryPlan, Study]:
    plan = repository.recovery_plan(session, plan_id)
    study = repository.study(session, plan.study_id, principal.organization_ids) if plan else None
    if plan is None or study is None:
        raise NotFound("no such recovery plan")
    if not _plan_visible_to(plan, study, service.side(principal, study)):
        raise NotFound("no such recovery plan")
    return plan, study


# --- plans: reading -----------------------------------------------------------------------------


def _dates(result: Sequence[Any]) -> CompletionDates:
    p10, p50, p90 = result
    return CompletionDates(p10=p10, p50=p50, p90=p90)


def _plan_read(
    session: Session, principal: Principal, plan: RecoveryPlan, study: Study
) -> RecoveryPlanRead:
    people = {
        user_id: user.full_name
        for user_id in {plan.created_by_id, plan.decided_by_id}
        if user_id is not None and (user := users.user_by_id(session, user_id)) is not None
    }
    added = [RecoveryAddition.model_validate(a) for a in plan.added]
    return RecoveryPlanRead(
        id=plan.id,
        study_id=study.id,
        study_code=study.code,
        organization_id=plan.organization_id,
        organization_name=_names(session, [plan.organization_id]).get(plan.organization_id, ""),
        created_by_name=people.get(plan.created_by_id) if plan.created_by_id else None,
        created_at=plan.created_at,
        as_of=plan.as_of,
        deadline=plan.deadline,
        confidence=plan.confidence,
        allow_closing=plan.allow_closing,
        closing_cost_per_site=plan.closing_cost_per_site,
        currency=plan.currency,
        paths=plan.paths,
        seed=plan.seed,
        target=plan.target,
        enrolled_to_date=plan.enrolled_to_date,
        offers_considered=plan.offers_considered,
        offers_skipped_currency=plan.offers_skipped_currency,
        status=RecoveryPlanStatus(plan.status),
        outcome=RecoveryOutcome(plan.outcome),
        message=plan.message,
        added=added,
        closed=[RecoveryClosure.model_validate(c) for c in plan.closed],
        sites_added=sum(a.sites for a in added),
        added_cost=plan.added_cost,
        savings=plan.savings,
        net_cost=plan.net_cost,
        probability_before=plan.probability_before,
        probability_after=plan.probability_after,
        probability_approximation=plan.probability_approximation,
        completion_before=_dates(
            (plan.completion_p10_before, plan.completion_p50_before, plan.completion_p90_before)
        ),
        completion_after=_dates(
            (plan.completion_p10_after, plan.completion_p50_after, plan.completion_p90_after)
        ),
        distribution=RecoveryDistribution.model_validate(plan.distribution or {}),
        rounds=plan.rounds,
        wall_time_s=plan.wall_time_s,
        decided_by_name=people.get(plan.decided_by_id) if plan.decided_by_id else None,
        decided_at=plan.decided_at,
        decision_reason=plan.decision_reason,
        viewer_role="sponsor" if study.sponsor_id in principal.organization_ids else "provider",
        version=plan.version,
        updated_at=plan.updated_at,
    )


def _visible_plans(session: Session, principal: Principal, study: Study) -> Sequence[RecoveryPlan]:
    acting_for = service.side(principal, study)
    principal.require(Permission.STUDIES_READ, acting_for)
    only = None if acting_for == study.sponsor_id else [acting_for]
    return repository.recovery_plans(session, study.id, only)


def list_recovery_plans(
    session: Session, principal: Principal, study_id: uuid.UUID
) -> list[RecoveryPlanRead]:
    """The study's plans the principal may read, newest first."""
    study = _study(session, principal, study_id)
    return [
        _plan_read(session, principal, p, study) for p in _visible_plans(session, principal, study)
    ]


def get_recovery_plan(
    session: Session, principal: Principal, plan_id: uuid.UUID
) -> RecoveryPlanRead:
    plan, study = _plan(session, principal, plan_id)
    principal.require(Permission.STUDIES_READ, service.side(principal, study))
    return _plan_read(session, principal, plan, study)


def latest_recovery_plan(
    session: Session, principal: Principal, study_id: uuid.UUID
) -> RecoveryPlanRead | None:
    """The study's accepted plan (the newest, if several), else its newest proposed plan, else
    None — among the plans the principal may read.

    Raises
    ------
    NotFound
        A study the principal cannot see.
    """
    study = _study(session, principal, study_id)
    plans = _visible_plans(session, principal, study)
    for wanted in (RecoveryPlanStatus.ACCEPTED, RecoveryPlanStatus.PROPOSED):
        found = next((p for p in plans if p.status == wanted), None)
        if found is not None:
            return _plan_read(session, principal, found, study)
    return None


# --- plans: proposing ---------------------------------------------------------------------------


def _bands(result: Forecast, offset: int, until_day: float | None) -> list[RecoveryBandPoint]:
    """The cumulative bands up to ``until_day`` (all when None), thinned to at most
    :data:`MAX_CHART_POINTS` points (the first and last kept), to 0.001 patient."""
    points = [b for b in result.cumulative if until_day is None or b.day <= until_day]
    if len(points) > MAX_CHART_POINTS:
        keep = np.unique(np.linspace(0, len(points) - 1, MAX_CHART_POINTS).round().astype(int))
        points = [points[int(i)] for i in keep]
    return [
        RecoveryBandPoint(
            on_date=result.date_of(b.day) or result.as_of,
            day=round(b.day, 3),
            mean=round(b.mean + offset, 3),
            p10=round(b.p10 + offset, 3),
            p50=round(b.p50 + offset, 3),
            p90=round(b.p90 + offset, 3),
        )
        for b in points
    ]


def _histogram(before: Forecast, after: Forecast) -> list[RecoveryHistogramBin]:
    """Shares of the simulated paths reaching the target in each of up to
    :data:`HISTOGRAM_BINS` bins of whole days (paths beyond the horizon count in no bin)."""
    samples = [np.asarray(f.completion_days_sample, dtype=np.float64) for f in (before, after)]
    finite = np.concatenate([s[np.isfinite(s)] for s in samples])
    if finite.size == 0:
        return []
    low = math.floor(float(np.quantile(finite, 0.001)))
    high = math.ceil(float(np.quantile(finite, 0.999))) + 1
    width = max(1, math.ceil((high - low) / HISTOGRAM_BINS))
    edges = np.arange(low, high + width, width, dtype=np.float64)
    shares = []
    for s in samples:
        counts, _ = np.histogram(np.clip(s[np.isfinite(s)], low, edges[-1] - 1e-9), bins=edges)
        shares.append(counts / max(s.size, 1))
    return [
        RecoveryHistogramBin(
            start=before.as_of + timedelta(days=int(edges[i])),
            end=before.as_of + timedelta(days=int(edges[i + 1])),
            before=round(float(shares[0][i]), 6),
            after=round(float(shares[1][i]), 6),
        )
        for i in range(len(edges) - 1)
    ]


def _until(results: Sequence[Forecast], deadline_day: float) -> float | None:
    ends = [r.completion.p90_days for r in results]
    if any(e is None for e in ends):
        return None
    last = max([e for e in ends if e is not None] + [deadline_day])
    return last + max(30.0, 0.1 * last)


def _completion(result: Forecast) -> tuple[date | None, date | None, date | None]:
    c = result.completion
    return result.date_of(c.p10_days), result.date_of(c.p50_days), result.date_of(c.p90_days)


def _offers_for(session: Session, study: Study, acting_for: uuid.UUID) -> Sequence[SiteOffer]:
    """The active offers the proposing side reads: the sponsor every one, the CRO its own."""
    if acting_for == study.sponsor_id:
        return repository.site_offers(session, everyone_active=True)
    return repository.site_offers(session, provider_ids=[acting_for], active=True)


def _site_costs(
    rows: Sequence[StudySite], engine_ids: set[str], currency: str, closing_cost: Decimal
) -> list[SiteCost]:
    """The engine's costs of the study's sites with costs in ``currency`` (the others cost
    nothing and are never closed); closing one costs ``closing_cost`` once."""
    costs = []
    for s in rows:
        if s.code not in engine_ids or s.cost_currency != currency:
            continue
        if s.monthly_cost is None and s.cost_per_patient is None:
            continue
        costs.append(
            SiteCost(
                site_id=s.code,
                monthly_cost=float(s.monthly_cost or 0),
                cost_per_patient=float(s.cost_per_patient or 0),
                closable=s.status != SiteStatus.CLOSED,
                closing_cost=float(closing_cost),
            )
        )
    return costs


ENGINE_FIELDS = {
    "confidence": "confidence",
    "paths": "paths",
    "deadline_day": "deadline",
    "closing_cost": "closing_cost_per_site",
}


def propose_recovery_plan(
    session: Session,
    principal: Principal,
    study_id: uuid.UUID,
    data: RecoveryRequest,
    *,
    progress: Progress | None = None,
) -> RecoveryPlanRead:
    """Plan the cheapest sites to add (and close) so that P(target by the deadline) reaches the
    confidence, verified by simulation, and store the plan as proposed.

    Raises
    ------
    NotFound
        A study the principal cannot see.
    NotPermitted
        No ``studies:write`` on the principal's side of the study.
    Invalid
        No deadline, a deadline not after the as-of date, an as-of date in the future, no active
        offer in the currency, no site to forecast, the target reached, an input the engine
        refuses.
    """
    row = _study(session, principal, study_id)
    acting_for = service.side(principal, row)
    principal.require(Permission.STUDIES_WRITE, acting_for)
    study: StudyRead = service.get_study(session, principal, study_id)
    today = utc_today()
    as_of = data.as_of or today
    if as_of > today:
        raise Invalid(
            "the as-of date is in the future",
            field_errors={"as_of": f"on or before {today.isoformat()}"},
        )
    deadline = data.deadline or study.planned_last_patient_in
    if deadline is None:
        raise Invalid(
            "the study has no planned last patient in: give a deadline",
            field_errors={"deadline": "required (the study has no planned last patient in)"},
        )
    if deadline <= as_of:
        raise Invalid(
            f"the deadline {deadline.isoformat()} is not after the as-of date {as_of.isoformat()}",
            field_errors={"deadline": f"after {as_of.isoformat()}"},
        )
    offers = _offers_for(session, row, acting_for)
    usable = [o for o in offers if o.currency == data.currency]
    skipped = len(offers) - len(usable)
    if not usable:
        other = sorted({o.currency for o in offers})
        hint = f" (active offers are in {', '.join(other)})" if other else ""
        who = (
            "providers publish them under Site offers"
            if acting_for == row.sponsor_id
            else "publish your sites under Site offers"
        )
        raise Invalid(
            f"no active site offer in {data.currency}{hint}: {who}",
            field_errors={"currency": f"no active offer in {data.currency}{hint}"},
        )
    prepared = forecasting.study_inputs(session, principal, study, as_of=as_of, deadline=deadline)
    engine_ids = {s.site_id for s in prepared.inputs.sites}
    problem_offers = tuple(_candidate(o) for o in usable)
    try:
        problem = RecoveryProblem(
            inputs=prepared.inputs,
            offers=problem_offers,
            site_costs=tuple(
                _site_costs(prepared.rows, engine_ids, data.currency, data.closing_cost_per_site)
            ),
            confidence=data.confidence,
            allow_closing=data.allow_closing,
        )
        result = plan_recovery(problem, paths=data.paths, rng=data.seed, progress=progress)
    except InputError as exc:
        field = ENGINE_FIELDS.get(exc.argument)
        text = " ".join(str(exc).split())
        raise Invalid(
            f"cannot plan a recovery: {text}", field_errors={field: text} if field else None
        ) from None
    except ValueError as exc:
        raise Invalid(f"cannot plan a recovery: {' '.join(str(exc).split())}") from None
    plan = _store(
        session, principal, row, acting_for, data, prepared, usable, skipped, result, as_of,
        deadline,
    )  # fmt: skip
    return _plan_read(session, principal, plan, row)


def _candidate(offer: SiteOffer) -> CandidateOffer:
    """The engine's view of a stored offer; an offer the engine refuses (stored before the
    schema bounded its figures) is a 422 naming the offer and its field, never a 500."""
    try:
        return CandidateOffer(
            offer_id=str(offer.id),
            country=offer.country,
            region=region_of(offer.country),
            expected_rate_per_site_per_month=offer.expected_rate_per_site_per_month,
            activation_lag_days=float(offer.activation_lag_days),
            startup_cost_per_site=float(offer.startup_cost_per_site),
            monthly_cost_per_site=float(offer.monthly_cost_per_site),
            cost_per_patient=float(offer.cost_per_patient),
            capacity_sites=offer.capacity_sites,
        )
    except InputError as exc:
        stored = getattr(offer, exc.argument, exc.value)
        text = f"site offer {offer.name!r}: {exc.argument} = {stored} {exc.bound}"
        raise Invalid(
            f"cannot plan a recovery: {text}; correct the offer under Site offers",
            field_errors={"offers": text},
        ) from None


def _store(
    session: Session,
    principal: Principal,
    study: Study,
    acting_for: uuid.UUID,
    data: RecoveryRequest,
    prepared: forecasting.StudyInputs,
    offers: Sequence[SiteOffer],
    skipped: int,
    result: EnginePlan,
    as_of: date,
    deadline: date,
) -> RecoveryPlan:
    by_id = {str(o.id): o for o in offers}
    providers = _names(session, [o.provider_id for o in offers])
    added = []
    for choice in result.added:
        if choice.sites <= 0:
            continue
        o = by_id[choice.offer_id]
        added.append(
            RecoveryAddition(
                offer_id=o.id,
                offer_name=o.name,
                provider_id=o.provider_id,
                provider_name=providers.get(o.provider_id, ""),
                country=o.country,
                city=o.city,
                sites=choice.sites,
                expected_patients_by_deadline=round(choice.expected_patients_by_deadline, 3),
                cost=_money(choice.cost),
                activation_lag_days=o.activation_lag_days,
                expected_rate_per_site_per_month=o.expected_rate_per_site_per_month,
                startup_cost_per_site=o.startup_cost_per_site,
                monthly_cost_per_site=o.monthly_cost_per_site,
                cost_per_patient=o.cost_per_patient,
            ).model_dump(mode="json")
        )
    sites_by_code = {s.code: s for s in prepared.rows}
    closed = []
    for closure in result.closed:
        site = sites_by_code[closure.site_id]
        closed.append(
            RecoveryClosure(
                site_id=site.id,
                code=site.code,
                name=site.name,
                country=site.country,
                expected_patients_lost=round(closure.expected_patients_lost, 3),
                saving=_money(closure.saving),
            ).model_dump(mode="json")
        )
    added_cost = sum((Decimal(a["cost"]) for a in added), Decimal("0.00"))
    savings = sum((Decimal(c["saving"]) for c in closed), Decimal("0.00"))
    # The bands count all patients: those of the sites closed before (and, after the plan, of
    # the sites it closes) count towards the total but are not in the engine's runs.
    offset = prepared.closed_patients
    lost = sum(prepared.enrolled[sites_by_code[c.site_id].id] for c in result.closed)
    until = _until([result.before, result.after], prepared.deadline_day or 0.0)
    distribution = RecoveryDistribution(
        before=_bands(result.before, offset, until),
        after=_bands(result.after, offset + lost, until),
        histogram=_histogram(result.before, result.after),
        not_reached_before=round(result.before.completion.fraction_not_reached, 6),
        not_reached_after=round(result.after.completion.fraction_not_reached, 6),
    )
    message = result.message
    if skipped:
        message += (
            f" {skipped} active offer{'s' if skipped != 1 else ''} in other currencies "
            f"{'were' if skipped != 1 else 'was'} left out (no exchange rates)."
        )
    before_dates, after_dates = _completion(result.before), _completion(result.after)
    plan = RecoveryPlan(
        study_id=study.id,
        organization_id=acting_for,
        created_by_id=principal.user_id,
        as_of=as_of,
        deadline=deadline,
        confidence=data.confidence,
        allow_closing=data.allow_closing,
        closing_cost_per_site=data.closing_cost_per_site.quantize(CENT),
        currency=data.currency,
        paths=data.paths,
        seed=data.seed,
        target=study.target_enrollment,
        enrolled_to_date=prepared.enrolled_to_date,
        offers_considered=len(offers),
        offers_skipped_currency=skipped,
        status=RecoveryPlanStatus.PROPOSED.value,
        outcome=RecoveryOutcome(result.status).value,
        message=message,
        added=added,
        closed=closed,
        added_cost=added_cost,
        savings=savings,
        net_cost=added_cost - savings,
        probability_before=round(result.probability_before, 6),
        probability_after=round(result.probability_after, 6),
        probability_approximation=round(result.probability_approximation, 6),
        completion_p10_before=before_dates[0],
        completion_p50_before=before_dates[1],
        completion_p90_before=before_dates[2],
        completion_p10_after=after_dates[0],
        completion_p50_after=after_dates[1],
        completion_p90_after=after_dates[2],
        distribution=distribution.model_dump(mode="json"),
        rounds=result.rounds,
        wall_time_s=round(result.wall_time_s, 3),
        decision_reason="",
    )
    session.add(plan)
    session.flush()
    audit.record(
        session,
        action="propose",
        entity_type="recovery_plan",
        entity_id=plan.id,
        actor=principal,
        organization_id=acting_for,
        after={
            "study": study.code,
            "outcome": plan.outcome,
            "deadline": deadline,
            "confidence": plan.confidence,
            "sites_added": sum(a["sites"] for a in added),
            "sites_closed": [c["code"] for c in closed],
            "closing_cost_per_site": f"{plan.closing_cost_per_site} {plan.currency}",
            "net_cost": f"{plan.net_cost} {plan.currency}",
            "probability_before": plan.probability_before,
            "probability_after": plan.probability_after,
        },
    )
    return plan


# --- plans: deciding ----------------------------------------------------------------------------


def _decidable(
    session: Session, principal: Principal, plan_id: uuid.UUID, data: RecoveryDecision, verb: str
) -> tuple[RecoveryPlan, Study]:
    plan, study = _plan(session, principal, plan_id)
    if service.side(principal, study) != study.sponsor_id:
        raise NotPermitted(f"only the sponsor {verb}s a recovery plan (the sponsor pays for it)")
    principal.require(Permission.STUDIES_WRITE, study.sponsor_id)
    check_version("recovery plan", plan.version, data.version)
    if plan.status != RecoveryPlanStatus.PROPOSED:
        raise Conflict(f"the plan is {plan.status}: only a proposed plan can be {verb}ed")
    return plan, study


def _site_code(country: str, taken: set[str]) -> str:
    """The next free recovery site number of the country: ``BR-R01``, ``BR-R02`` …"""
    n = 1
    while f"{country}-R{n:02d}" in taken:
        n += 1
    code = f"{country}-R{n:02d}"
    taken.add(code)
    return code


def accept_recovery_plan(
    session: Session, principal: Principal, plan_id: uuid.UUID, data: RecoveryDecision
) -> RecoveryPlanRead:
    """Accept a proposed plan (the sponsor only), in one transaction: its new sites are created
    (planned; opening on today + the offer's lag; managed by the offer's provider; the offer's
    costs), its closures closed, the plan accepted and the study's other proposed plans
    superseded. Everything is checked before anything is written.

    Raises
    ------
    NotFound
        A plan the principal cannot see.
    NotPermitted
        The CRO's side, or no ``studies:write`` at the sponsor.
    Conflict
        A stale version, a plan not proposed, a closure whose site is closed already (or can no
        longer close), an offer withdrawn since.
    """
    plan, study = _decidable(session, principal, plan_id, data, "accept")
    rows = {s.id: s for s in repository.sites(session, study.id)}
    closures: list[StudySite] = []
    for c in plan.closed:
        site = rows.get(uuid.UUID(c["site_id"]))
        if site is None:
            raise Conflict(f"site {c['code']} is no longer in the study: propose a new plan")
        if site.status == SiteStatus.CLOSED:
            raise Conflict(
                f"site {site.code} is closed already: the plan is out of date, propose a new one"
            )
        if SiteStatus.CLOSED not in SITE_TRANSITIONS[SiteStatus(site.status)]:
            raise Conflict(f"site {site.code} can no longer be closed: propose a new plan")
        closures.append(site)
    for a in plan.added:
        offer = repository.site_offer(session, uuid.UUID(a["offer_id"]))
        if offer is None or not offer.active:
            raise Conflict(
                f"the offer {a['offer_name']} of {a['provider_name']} was withdrawn: "
                "propose a new plan"
            )
    today = utc_today()
    taken = {s.code for s in rows.values()}
    added = []
    for a in plan.added:
        codes = []
        for n in range(a["sites"]):
            code = _site_code(a["country"], taken)
            created = service.create_site(
                session,
                principal,
                study.id,
                SiteCreate(
                    code=code,
                    name=f"{a['offer_name']} — site {n + 1} of {a['sites']}"[:200],
                    institution=a["provider_name"][:200],
                    country=a["country"],
                    city=a["city"],
                    provider_id=uuid.UUID(a["provider_id"]),
                    planned_activation_date=today + timedelta(days=int(a["activation_lag_days"])),
                    monthly_cost=Decimal(a["monthly_cost_per_site"]),
                    cost_per_patient=Decimal(a["cost_per_patient"]),
                    cost_currency=plan.currency,
                ),
            )
            codes.append(created.code)
        added.append({**a, "site_codes": codes})
    reason = f"recovery plan of {plan.created_at.date().isoformat()} accepted"
    for site in closures:
        service.change_site_status(
            session,
            principal,
            site.id,
            SiteTransition(version=site.version, status=SiteStatus.CLOSED, reason=reason),
        )
    plan.added = added
    _decide(session, principal, plan, study, RecoveryPlanStatus.ACCEPTED, data.reason)
    for other in repository.recovery_plans(session, study.id):
        if other.id != plan.id and other.status == RecoveryPlanStatus.PROPOSED:
            audit.change_status(
                session,
                other,
                RecoveryPlanStatus.SUPERSEDED.value,
                entity_type="recovery_plan",
                actor=principal,
                organization_id=study.sponsor_id,
                reason=f"plan {plan.id} accepted",
            )
    return _plan_read(session, principal, plan, study)


def reject_recovery_plan(
    session: Session, principal: Principal, plan_id: uuid.UUID, data: RecoveryDecision
) -> RecoveryPlanRead:
    """Reject a proposed plan (the sponsor only); nothing else changes."""
    plan, study = _decidable(session, principal, plan_id, data, "reject")
    _decide(session, principal, plan, study, RecoveryPlanStatus.REJECTED, data.reason)
    return _plan_read(session, principal, plan, study)


def _decide(
    session: Session,
    principal: Principal,
    plan: RecoveryPlan,
    study: Study,
    status: RecoveryPlanStatus,
    reason: str,
) -> None:
    """Record the sponsor's decision on the plan (who, when, why) and its audit event."""
    plan.decided_by_id = principal.user_id
    plan.decided_at = utcnow()
    plan.decision_reason = reason
    audit.change_status(
        session,
        plan,
        status.value,
        entity_type="recovery_plan",
        actor=principal,
        organization_id=study.sponsor_id,
        reason=reason or None,
    )
