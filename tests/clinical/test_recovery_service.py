"""Recovery plans (``opencxo.clinical.recovery``): CRO site offers and who sees them, proposing
a plan from the study's disrupted forecast (the same plan as the engine's), accepting it (sites
made, sites closed, all or nothing), rejecting it, and who may do what."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from numpy.testing import assert_allclose
from pydantic import ValidationError
from sqlalchemy import func, select

from opencxo.clinical import forecasting, recovery, service
from opencxo.clinical.engine.fit import DAYS_PER_MONTH
from opencxo.clinical.engine.recovery import (
    CandidateOffer,
    RecoveryProblem,
    SiteCost,
    plan_recovery,
)
from opencxo.clinical.recovery_schemas import (
    RecoveryDecision,
    RecoveryRequest,
    SiteOfferCreate,
    SiteOfferUpdate,
)
from opencxo.clinical.schemas import SiteCreate, SiteTransition, SiteUpdate, StudyCreate
from opencxo.core.audit import AuditEvent
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted
from opencxo.core.pagination import PageParams
from opencxo.models import StudySite
from tests.clinical.conftest import TODAY, Clinic, days
from tests.clinical.test_forecasting import _demo_like

PATHS = 2_000
SEED = 11
DEADLINE = 250  # days from today (the study's planned last patient in is in 150 days)
# name, country, rate / site / month, lag days, start-up, monthly, per patient, capacity
CORVANE_OFFERS = [
    ("Corvane Czech GI network", "CZ", 0.8, 45, "30000.00", "2500.00", "10000.00", 6),
    ("Corvane Hungary IBD centres", "HU", 0.6, 60, "25000.00", "2200.00", "9000.00", 3),
]
VISTULA_OFFER = ("Vistula Romania sites", "RO", 0.9, 90, "18000.00", "1800.00", "8000.00", 6)
EURO_OFFER = ("Corvane Spain (EUR)", "ES", 1.0, 30, "20000.00", "2000.00", "9000.00", 5)


def offer_body(spec: tuple[object, ...], **changes: object) -> SiteOfferCreate:
    name, country, rate, lag, startup, monthly, patient, capacity = spec
    fields = {
        "name": name,
        "country": country,
        "expected_rate_per_site_per_month": rate,
        "activation_lag_days": lag,
        "startup_cost_per_site": startup,
        "monthly_cost_per_site": monthly,
        "cost_per_patient": patient,
        "capacity_sites": capacity,
        "currency": "USD",
        "therapeutic_areas": ["Gastroenterology"],
        **changes,
    }
    return SiteOfferCreate.model_validate(fields)


def set_costs(clinic: Clinic, study_id: uuid.UUID, code: str, monthly: str, patient: str) -> None:
    site = next(
        s for s in service.list_sites(clinic.session, clinic["cro"], study_id) if s.code == code
    )
    fields = site.model_dump(
        include={"code", "name", "institution", "country", "city", "investigator", "provider_id",
                 "planned_activation_date"}
    )  # fmt: skip
    service.update_site(
        clinic.session,
        clinic["cro"],
        site.id,
        SiteUpdate(
            **fields,
            monthly_cost=Decimal(monthly),
            cost_per_patient=Decimal(patient),
            cost_currency="USD",
            version=site.version,
        ),
    )


def recovery_world(clinic: Clinic) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """The forecast tests' study (9 open sites in US, DE, PL, 128 of 240 enrolled, its 2 planned
    PL sites closed, Poland suspended by the sponsor's epidemic, planned last patient in 150 days); costs on
    the open US and Polish sites (USD); Corvane (the CRO) offers CZ and HU sites in USD and ES sites in EUR,
    Vistula (another CRO) RO sites in USD."""
    study_id = _demo_like(clinic)
    for site in service.list_sites(clinic.session, clinic["cro"], study_id):
        if site.code in ("PL-004", "PL-005"):  # never opened: dropped when the epidemic began
            service.change_site_status(
                clinic.session, clinic["cro"], site.id,
                SiteTransition(version=site.version, status="closed", reason="epidemic"),  # type: ignore[arg-type]
            )  # fmt: skip
    for code in ("US-001", "US-002", "US-003", "US-004"):
        set_costs(clinic, study_id, code, "4000.00", "14000.00")
    for code in ("PL-001", "PL-002", "PL-003"):
        set_costs(clinic, study_id, code, "3000.00", "9000.00")
    offers = {}
    for spec in CORVANE_OFFERS:
        offers[spec[1]] = recovery.create_site_offer(
            clinic.session, clinic["cro"], offer_body(spec)
        ).id
    offers["ES"] = recovery.create_site_offer(
        clinic.session, clinic["cro"], offer_body(EURO_OFFER, currency="EUR")
    ).id
    offers["RO"] = recovery.create_site_offer(
        clinic.session, clinic["other_cro"], offer_body(VISTULA_OFFER)
    ).id
    clinic.session.commit()
    return study_id, offers


def request(**changes: object) -> RecoveryRequest:
    return RecoveryRequest.model_validate(
        {"paths": PATHS, "seed": SEED, "deadline": days(DEADLINE), **changes}
    )


def engine_offers(offers: dict[str, uuid.UUID]) -> tuple[CandidateOffer, ...]:
    """The USD offers the sponsor reads (the EUR one left out), as the engine sees them."""
    usd = [CORVANE_OFFERS[0], CORVANE_OFFERS[1], VISTULA_OFFER]
    return tuple(
        CandidateOffer(
            offer_id=str(offers[c]), country=c, region="Europe",
            expected_rate_per_site_per_month=rate, activation_lag_days=float(lag),
            startup_cost_per_site=float(a), monthly_cost_per_site=float(m),
            cost_per_patient=float(p), capacity_sites=cap,
        )
        for _, c, rate, lag, a, m, p, cap in usd
    )  # fmt: skip


#: The USD costs of recovery_world's sites: (monthly, per patient).
SITE_COSTS = {
    **{f"PL-00{i}": (3000.0, 9000.0) for i in range(1, 4)},
    **{f"US-00{i}": (4000.0, 14000.0) for i in range(1, 5)},
}


def engine_costs(closing_cost: float = 0.0) -> tuple[SiteCost, ...]:
    return tuple(
        SiteCost(site_id=code, monthly_cost=m, cost_per_patient=p, closing_cost=closing_cost)
        for code, (m, p) in SITE_COSTS.items()
    )


# --- offers -------------------------------------------------------------------------------------


def test_offers_are_the_providers_and_a_directory_for_sponsors(clinic: Clinic) -> None:
    study_id, offers = recovery_world(clinic)
    del study_id
    s = clinic.session
    everything = PageParams(page=1, page_size=100)
    mine = recovery.list_site_offers(s, clinic["cro"], params=everything)
    assert [o.country for o in mine.items] == ["CZ", "ES", "HU"]
    assert {o.provider_name for o in mine.items} == {"Corvane Clinical Research"}
    # sponsors (this one and any other) read every active offer; the other CRO only its own
    for sponsor in ("manager", "viewer", "stranger"):
        seen = recovery.list_site_offers(s, clinic[sponsor], params=everything)
        assert [o.country for o in seen.items] == ["CZ", "ES", "HU", "RO"], sponsor
    theirs = recovery.list_site_offers(s, clinic["other_cro"], params=everything)
    assert [o.country for o in theirs.items] == ["RO"]
    with pytest.raises(NotFound):
        recovery.get_site_offer(s, clinic["other_cro"], offers["CZ"])
    # filters and sorting (money sorts as numbers)
    usd = recovery.list_site_offers(s, clinic["manager"], params=everything, currency="usd")
    assert [o.country for o in usd.items] == ["CZ", "HU", "RO"]
    by_cost = recovery.list_site_offers(
        s, clinic["manager"], params=PageParams(page=1, page_size=100, sort="-startup")
    )
    assert [o.startup_cost_per_site for o in by_cost.items] == [
        Decimal("30000.00"), Decimal("25000.00"), Decimal("20000.00"), Decimal("18000.00"),
    ]  # fmt: skip
    assert (
        recovery.list_site_offers(s, clinic["manager"], params=everything, country="ro").total == 1
    )
    assert (
        recovery.list_site_offers(
            s, clinic["manager"], params=everything, therapeutic_area="oncology"
        ).total
        == 0
    )


def test_the_provider_edits_and_withdraws_its_offer(clinic: Clinic) -> None:
    _, offers = recovery_world(clinic)
    s = clinic.session
    current = recovery.get_site_offer(s, clinic["cro"], offers["CZ"])
    body = SiteOfferUpdate.model_validate(
        {**current.model_dump(), "capacity_sites": 6, "active": False}
    )
    changed = recovery.update_site_offer(s, clinic["cro"], offers["CZ"], body)
    assert (changed.capacity_sites, changed.active, changed.version) == (6, False, 2)
    events = s.execute(
        select(AuditEvent.action)
        .where(AuditEvent.entity_id == str(offers["CZ"]))
        .order_by(AuditEvent.sequence)
    ).scalars()
    assert list(events) == ["create", "deactivate"]
    # withdrawn: gone from the sponsors' directory, still the provider's
    with pytest.raises(NotFound):
        recovery.get_site_offer(s, clinic["manager"], offers["CZ"])
    assert recovery.get_site_offer(s, clinic["cro"], offers["CZ"]).active is False
    with pytest.raises(Conflict, match="version 2, you sent 1"):
        recovery.update_site_offer(s, clinic["cro"], offers["CZ"], body)
    # a sponsor sees the active offer but may not change it; the CRO's viewer neither
    active = recovery.get_site_offer(s, clinic["manager"], offers["HU"])
    same = SiteOfferUpdate.model_validate({**active.model_dump(), "capacity_sites": 1})
    for who in ("manager", "cro_viewer"):
        with pytest.raises(NotPermitted):
            recovery.update_site_offer(s, clinic[who], offers["HU"], same)
    with pytest.raises(NotFound):  # another CRO does not even see it
        recovery.update_site_offer(s, clinic["other_cro"], offers["HU"], same)


def test_who_may_offer_sites_and_bad_offers_name_the_field(clinic: Clinic) -> None:
    s = clinic.session
    spec = CORVANE_OFFERS[0]
    with pytest.raises(NotPermitted, match="provider organisation"):
        recovery.create_site_offer(s, clinic["manager"], offer_body(spec))
    with pytest.raises(NotPermitted):
        recovery.create_site_offer(s, clinic["cro_viewer"], offer_body(spec))
    with pytest.raises(NotPermitted):  # for another provider
        recovery.create_site_offer(
            s, clinic["cro"], offer_body(spec, provider_id=clinic.other_cro_id)
        )
    with pytest.raises(Invalid) as sponsor:
        recovery.create_site_offer(
            s, clinic["cro"], offer_body(spec, provider_id=clinic.sponsor_id)
        )
    assert sponsor.value.field_errors == {"provider_id": "choose a provider organisation"}
    for field, value in (
        ("capacity_sites", 0),
        ("capacity_sites", 1001),
        ("expected_rate_per_site_per_month", 0),
        ("activation_lag_days", -1),
        ("country", "XX"),
        ("currency", "DOLLARS"),
        ("cost_per_patient", "-1"),
        ("startup_cost_per_site", "1.005"),
    ):
        with pytest.raises(ValidationError) as bad:
            offer_body(spec, **{field: value})
        assert bad.value.errors()[0]["loc"] == (field,), field
    areas = offer_body(spec, therapeutic_areas=" Immunology, gastroenterology ,,Immunology")
    assert areas.therapeutic_areas == ["Immunology", "gastroenterology"]


# --- proposing ----------------------------------------------------------------------------------


def test_the_plan_is_the_engines_on_the_studys_disrupted_forecast(clinic: Clinic) -> None:
    study_id, offers = recovery_world(clinic)
    s = clinic.session
    plan = recovery.propose_recovery_plan(s, clinic["manager"], study_id, request())
    # the engine on the same inputs: the forecast's (with the sponsor's disruptions), the USD
    # offers the sponsor reads (the EUR one left out) and the USD site costs
    study = service.get_study(s, clinic["manager"], study_id)
    prepared = forecasting.study_inputs(s, clinic["manager"], study, deadline=days(DEADLINE))
    expected = plan_recovery(
        RecoveryProblem(prepared.inputs, engine_offers(offers), engine_costs(), confidence=0.8),
        paths=PATHS,
        rng=SEED,
    )
    assert plan.outcome == expected.status == "met"
    assert plan.status == "proposed" and plan.viewer_role == "sponsor"
    assert plan.probability_before == round(expected.probability_before, 6)
    assert plan.probability_after == round(expected.probability_after, 6)
    assert plan.probability_before < 0.8 <= plan.probability_after
    assert_allclose(plan.probability_approximation, expected.probability_approximation, atol=1e-6)
    by_offer = {str(a.offer_id): a for a in plan.added}
    assert {k: a.sites for k, a in by_offer.items()} == {
        a.offer_id: a.sites for a in expected.added
    }
    for choice in expected.added:
        added = by_offer[choice.offer_id]
        assert added.cost == Decimal(f"{choice.cost:.2f}")
        assert_allclose(
            added.expected_patients_by_deadline, choice.expected_patients_by_deadline, atol=1e-3
        )
        assert added.provider_name in {"Corvane Clinical Research", "Vistula Clinical Sites"}
    assert [c.code for c in plan.closed] == [c.site_id for c in expected.closed]
    assert plan.sites_added == sum(a.sites for a in expected.added) > 0
    # money: exact decimals that add up
    assert plan.added_cost == sum((a.cost for a in plan.added), Decimal("0.00"))
    assert plan.savings == sum((c.saving for c in plan.closed), Decimal("0.00"))
    assert plan.net_cost == plan.added_cost - plan.savings
    assert_allclose(float(plan.net_cost), expected.net_cost, atol=0.01 * (1 + len(plan.closed)))
    # the suspended Polish sites enroll nothing by the deadline and cost money: closed
    assert {c.code for c in plan.closed} >= {"PL-001", "PL-002", "PL-003"}
    assert all(c.expected_patients_lost < 0.5 for c in plan.closed if c.country == "PL")
    # dates and the chart's data
    c_before, c_after = expected.before.completion, expected.after.completion
    assert plan.completion_before.p50 == expected.before.date_of(c_before.p50_days)
    assert plan.completion_after.p50 == expected.after.date_of(c_after.p50_days)
    assert plan.completion_after.p90 == expected.after.date_of(c_after.p90_days)
    assert plan.completion_after.p50 is not None and plan.completion_before.p50 is not None
    assert plan.completion_after.p50 < plan.completion_before.p50
    bands = plan.distribution
    assert 10 < len(bands.before) <= 120 and 10 < len(bands.after) <= 120
    assert bands.before[0].p50 == 128 and bands.before[0].on_date == TODAY
    assert bands.after[0].p50 == 128  # the closed sites' patients still count
    assert [p.p50 for p in bands.after] == sorted(p.p50 for p in bands.after)
    shares = [b.after for b in bands.histogram]
    assert 10 <= len(shares) <= 41 and abs(sum(shares) + bands.not_reached_after - 1) < 1e-3
    assert plan.offers_considered == 3 and plan.offers_skipped_currency == 1
    assert "1 active offer in other currencies was left out" in plan.message
    assert (plan.target, plan.enrolled_to_date, plan.deadline) == (240, 128, days(DEADLINE))
    assert plan.created_by_name and plan.organization_name == "Northwind Therapeutics"
    assert plan.closing_cost_per_site == Decimal("0.00")  # no close-out cost by default
    # same seed, same plan
    again = recovery.propose_recovery_plan(s, clinic["manager"], study_id, request())
    assert again.model_dump(exclude={"id", "created_at", "updated_at", "wall_time_s"}) == (
        plan.model_dump(exclude={"id", "created_at", "updated_at", "wall_time_s"})
    )
    event = s.execute(select(AuditEvent).where(AuditEvent.entity_id == str(plan.id))).scalar_one()
    assert event.action == "propose" and event.after is not None
    assert event.after["sites_added"] == plan.sites_added


def test_a_closure_saves_its_costs_to_the_deadline_less_the_close_out(clinic: Clinic) -> None:
    """Each closure's saving is monthly cost × months to the deadline + cost per patient ×
    patients expected by then − the close-out cost, to the cent: the engine's, on the same
    inputs with the close-out cost on every site cost."""
    study_id, offers = recovery_world(clinic)
    s = clinic.session
    plan = recovery.propose_recovery_plan(
        s, clinic["manager"], study_id, request(closing_cost_per_site="5000")
    )
    assert plan.closing_cost_per_site == Decimal("5000.00")
    study = service.get_study(s, clinic["manager"], study_id)
    prepared = forecasting.study_inputs(s, clinic["manager"], study, deadline=days(DEADLINE))
    expected = plan_recovery(
        RecoveryProblem(
            prepared.inputs, engine_offers(offers), engine_costs(5000.0), confidence=0.8
        ),
        paths=PATHS,
        rng=SEED,
    )
    assert plan.outcome == expected.status == "met"
    assert [c.code for c in plan.closed] == [c.site_id for c in expected.closed]
    assert {c.code for c in plan.closed} >= {"PL-001", "PL-002", "PL-003"}
    assert prepared.inputs.deadline_day is not None
    months = prepared.inputs.deadline_day / DAYS_PER_MONTH  # open sites: every day until then
    for stored, closure in zip(plan.closed, expected.closed, strict=True):
        monthly, per_patient = SITE_COSTS[stored.code]
        saving = monthly * months + per_patient * closure.expected_patients_lost - 5000.0
        assert stored.saving == Decimal(f"{saving:.2f}") == Decimal(f"{closure.saving:.2f}")
    assert plan.savings == sum((c.saving for c in plan.closed), Decimal("0.00"))
    assert plan.net_cost == plan.added_cost - plan.savings
    assert_allclose(float(plan.net_cost), expected.net_cost, atol=0.01 * (1 + len(plan.closed)))
    # a close-out dearer than what a suspended Polish site costs until the deadline: kept open
    dear = recovery.propose_recovery_plan(
        s, clinic["manager"], study_id, request(closing_cost_per_site="30000.00")
    )
    assert dear.closing_cost_per_site == Decimal("30000.00")
    assert not {c.code for c in dear.closed} & {"PL-001", "PL-002", "PL-003"}
    assert all(c.saving > 0 for c in dear.closed)
    event = s.execute(select(AuditEvent).where(AuditEvent.entity_id == str(plan.id))).scalar_one()
    assert event.after is not None and event.after["closing_cost_per_site"] == "5000.00 USD"


def test_no_closing_and_the_currency_choose_what_the_plan_may_use(clinic: Clinic) -> None:
    study_id, offers = recovery_world(clinic)
    s = clinic.session
    plan = recovery.propose_recovery_plan(
        s, clinic["manager"], study_id, request(allow_closing=False)
    )
    assert plan.closed == [] and plan.savings == 0 and not plan.allow_closing
    euro = recovery.propose_recovery_plan(s, clinic["manager"], study_id, request(currency="EUR"))
    assert {a.offer_id for a in euro.added} <= {offers["ES"]}
    assert euro.offers_considered == 1 and euro.offers_skipped_currency == 3
    assert euro.closed == []  # no site has costs in EUR


def test_bad_requests_name_the_field(clinic: Clinic) -> None:
    study_id, _ = recovery_world(clinic)
    s = clinic.session
    manager = clinic["manager"]
    cases = [
        (request(deadline=TODAY), "deadline", "not after the as-of date"),
        (request(as_of=days(1)), "as_of", "in the future"),
        (request(currency="JPY"), "currency", "no active site offer in JPY"),
    ]
    for body, field, message in cases:
        with pytest.raises(Invalid, match=message) as refused:
            recovery.propose_recovery_plan(s, manager, study_id, body)
        assert field in refused.value.field_errors
    for field, value in (("confidence", 0.3), ("confidence", 0.995), ("paths", 999),
                         ("paths", 100_001), ("currency", "XYZ"), ("seed", -1),
                         ("closing_cost_per_site", "-0.01"),
                         ("closing_cost_per_site", "10000000.01"),
                         ("closing_cost_per_site", "1.005")):  # fmt: skip
        with pytest.raises(ValidationError) as bad:
            request(**{field: value})
        assert bad.value.errors()[0]["loc"] == (field,)
    # a study without a planned last patient in needs a deadline
    other = service.create_study(
        s, manager,
        StudyCreate(program_id=clinic.program_id, code="NWT-204-301", title="Open-label extension",
                    phase="phase_3", target_enrollment=100),  # type: ignore[arg-type]
    )  # fmt: skip
    with pytest.raises(Invalid) as no_deadline:
        recovery.propose_recovery_plan(s, manager, other.id, request(deadline=None))
    assert "deadline" in no_deadline.value.field_errors
    with pytest.raises(Invalid, match="no open or planned site"):
        recovery.propose_recovery_plan(s, manager, other.id, request(deadline=days(100)))
    assert s.execute(select(func.count()).select_from(recovery.RecoveryPlan)).scalar_one() == 0


def test_the_cro_proposes_with_its_own_offers_and_disruptions(clinic: Clinic) -> None:
    study_id, offers = recovery_world(clinic)
    s = clinic.session
    ours = recovery.propose_recovery_plan(s, clinic["manager"], study_id, request())
    theirs = recovery.propose_recovery_plan(s, clinic["cro"], study_id, request())
    assert theirs.organization_name == "Corvane Clinical Research"
    assert theirs.viewer_role == "provider"
    assert {a.offer_id for a in theirs.added} <= {offers["CZ"], offers["HU"]}
    assert (theirs.offers_considered, theirs.offers_skipped_currency) == (2, 1)  # its own only
    # the sponsor's epidemic is private to the sponsor: the CRO's plan does not know of it
    assert theirs.probability_before > ours.probability_before
    sponsor_sees = recovery.list_recovery_plans(s, clinic["manager"], study_id)
    assert [p.id for p in sponsor_sees] == [theirs.id, ours.id]
    assert [p.id for p in recovery.list_recovery_plans(s, clinic["cro"], study_id)] == [theirs.id]
    assert recovery.get_recovery_plan(s, clinic["manager"], theirs.id).id == theirs.id
    with pytest.raises(NotFound, match="no such recovery plan"):
        recovery.get_recovery_plan(s, clinic["cro"], ours.id)
    for outsider in ("stranger", "other_cro"):
        with pytest.raises(NotFound):
            recovery.get_recovery_plan(s, clinic[outsider], ours.id)
        with pytest.raises(NotFound):
            recovery.list_recovery_plans(s, clinic[outsider], study_id)
        with pytest.raises(NotFound):
            recovery.propose_recovery_plan(s, clinic[outsider], study_id, request())
        with pytest.raises(NotFound):
            recovery.latest_recovery_plan(s, clinic[outsider], study_id)
    for viewer in ("viewer", "cro_viewer"):
        with pytest.raises(NotPermitted):
            recovery.propose_recovery_plan(s, clinic[viewer], study_id, request())


# --- deciding -----------------------------------------------------------------------------------


def _sites(clinic: Clinic, study_id: uuid.UUID) -> dict[str, StudySite]:
    rows = clinic.session.execute(select(StudySite).where(StudySite.study_id == study_id))
    return {s.code: s for s in rows.scalars()}


def test_accepting_creates_the_sites_and_closes_the_closures(clinic: Clinic) -> None:
    study_id, offers = recovery_world(clinic)
    s = clinic.session
    assert recovery.latest_recovery_plan(s, clinic["manager"], study_id) is None
    older = recovery.propose_recovery_plan(s, clinic["manager"], study_id, request(seed=3))
    plan = recovery.propose_recovery_plan(s, clinic["manager"], study_id, request())
    latest = recovery.latest_recovery_plan(s, clinic["manager"], study_id)
    assert latest is not None and latest.id == plan.id  # the newest proposed
    before = _sites(clinic, study_id)
    events = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    accepted = recovery.accept_recovery_plan(
        s, clinic["manager"], plan.id, RecoveryDecision(version=plan.version, reason="go")
    )
    s.commit()
    assert accepted.status == "accepted" and accepted.decision_reason == "go"
    assert accepted.decided_at is not None and accepted.decided_by_name
    after = _sites(clinic, study_id)
    new = {code: site for code, site in after.items() if code not in before}
    assert len(new) == plan.sites_added
    offer_rows = {o: recovery.get_site_offer(s, clinic["manager"], i) for o, i in offers.items()}
    for added in accepted.added:
        assert len(added.site_codes) == added.sites
        offer = next(o for o in offer_rows.values() if o.id == added.offer_id)
        for n, code in enumerate(added.site_codes, start=1):
            assert code == f"{offer.country}-R{n:02d}"
            site = new[code]
            assert site.status == "planned" and site.country == offer.country
            assert site.provider_id == offer.provider_id
            assert site.planned_activation_date == TODAY + timedelta(days=offer.activation_lag_days)
            assert (site.monthly_cost, site.cost_per_patient, site.cost_currency) == (
                offer.monthly_cost_per_site, offer.cost_per_patient, "USD",
            )  # fmt: skip
    closed = {c.code for c in plan.closed}
    assert closed and all(after[code].status == "closed" for code in closed)
    assert all(after[c].status == before[c].status for c in before if c not in closed)
    # one audit event per site made and per site closed, the plan, the plan superseded
    added_events = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() - events
    assert added_events == len(new) + len(closed) + 2
    superseded = recovery.get_recovery_plan(s, clinic["manager"], older.id)
    assert superseded.status == "superseded"
    latest = recovery.latest_recovery_plan(s, clinic["manager"], study_id)
    assert latest is not None and latest.id == plan.id and latest.status == "accepted"
    # decided once: a second accept (even with the current version) and a reject answer 409
    with pytest.raises(Conflict, match="only a proposed plan"):
        recovery.accept_recovery_plan(
            s, clinic["manager"], plan.id, RecoveryDecision(version=accepted.version)
        )
    with pytest.raises(Conflict, match="only a proposed plan"):
        recovery.reject_recovery_plan(
            s, clinic["manager"], older.id, RecoveryDecision(version=superseded.version)
        )
    # a second recovery numbers its sites on
    again = recovery.propose_recovery_plan(s, clinic["manager"], study_id, request(seed=5))
    accepted_again = recovery.accept_recovery_plan(
        s, clinic["manager"], again.id, RecoveryDecision(version=again.version)
    )
    codes = [c for a in accepted_again.added for c in a.site_codes]
    assert len(codes) == len(set(codes)) and not set(codes) & set(after)


def test_accept_changes_nothing_when_a_closure_is_closed_already(clinic: Clinic) -> None:
    study_id, _ = recovery_world(clinic)
    s = clinic.session
    plan = recovery.propose_recovery_plan(s, clinic["manager"], study_id, request())
    assert plan.closed
    target = plan.closed[-1]
    site = service.get_site(s, clinic["cro"], target.site_id)
    service.change_site_status(
        s,
        clinic["cro"],
        site.id,
        SiteTransition(version=site.version, status="closed"),  # type: ignore[arg-type]
    )
    s.commit()
    before = {code: (r.status, r.version) for code, r in _sites(clinic, study_id).items()}
    events = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    with pytest.raises(Conflict, match=f"site {target.code} is closed already"):
        recovery.accept_recovery_plan(
            s, clinic["manager"], plan.id, RecoveryDecision(version=plan.version)
        )
    # checked before anything is written: no site made, none closed, the plan still proposed
    s.flush()
    assert {c: (r.status, r.version) for c, r in _sites(clinic, study_id).items()} == before
    assert s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == events
    assert recovery.get_recovery_plan(s, clinic["manager"], plan.id).status == "proposed"


def test_a_withdrawn_offer_or_a_stale_version_refuses_the_accept(clinic: Clinic) -> None:
    study_id, offers = recovery_world(clinic)
    s = clinic.session
    plan = recovery.propose_recovery_plan(s, clinic["manager"], study_id, request())
    with pytest.raises(Conflict, match="changed by someone else"):
        recovery.accept_recovery_plan(
            s, clinic["manager"], plan.id, RecoveryDecision(version=plan.version + 1)
        )
    used = plan.added[0].offer_id
    owner = clinic["cro"] if used in (offers["CZ"], offers["HU"]) else clinic["other_cro"]
    offer = recovery.get_site_offer(s, owner, used)
    recovery.update_site_offer(
        s, owner, used, SiteOfferUpdate.model_validate({**offer.model_dump(), "active": False})
    )
    with pytest.raises(Conflict, match="was withdrawn"):
        recovery.accept_recovery_plan(
            s, clinic["manager"], plan.id, RecoveryDecision(version=plan.version)
        )


def test_only_the_sponsor_decides(clinic: Clinic) -> None:
    study_id, _ = recovery_world(clinic)
    s = clinic.session
    plan = recovery.propose_recovery_plan(s, clinic["cro"], study_id, request())
    decision = RecoveryDecision(version=plan.version)
    for who in ("cro", "viewer"):
        for act in (recovery.accept_recovery_plan, recovery.reject_recovery_plan):
            with pytest.raises(NotPermitted):
                act(s, clinic[who], plan.id, decision)
    with pytest.raises(NotFound):
        recovery.accept_recovery_plan(s, clinic["stranger"], plan.id, decision)
    rejected = recovery.reject_recovery_plan(
        s, clinic["manager"], plan.id, RecoveryDecision(version=plan.version, reason="too dear")
    )
    assert (rejected.status, rejected.decision_reason) == ("rejected", "too dear")
    assert recovery.latest_recovery_plan(s, clinic["cro"], study_id) is None
    assert len(_sites(clinic, study_id)) == 11  # nothing made


# --- site costs ---------------------------------------------------------------------------------


def test_site_costs_are_kept_with_their_currency(clinic: Clinic) -> None:
    study = clinic.study()
    s = clinic.session
    created = service.create_site(
        s, clinic["cro"], study.id,
        SiteCreate(code="CZ-001", name="Praha GI", country="CZ", monthly_cost=Decimal("2500.00"),
                   cost_per_patient=Decimal("9000"), cost_currency="usd"),
    )  # fmt: skip
    assert (created.monthly_cost, created.cost_per_patient, created.cost_currency) == (
        Decimal("2500.00"), Decimal("9000.00"), "USD",
    )  # fmt: skip
    with pytest.raises(ValidationError) as missing:
        SiteCreate(code="CZ-002", name="Brno GI", country="CZ", monthly_cost=Decimal("1"))
    assert missing.value.errors()[0]["loc"] == ("cost_currency",)
    with pytest.raises(ValidationError):
        SiteCreate(code="CZ-002", name="Brno GI", country="CZ", cost_per_patient=Decimal("-1"),
                   cost_currency="USD")  # fmt: skip
