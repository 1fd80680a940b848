"""Use cases of stored economics: scenarios, their valuations, comparisons, portfolios.

The numbers come from :mod:`opencxo.economics.service` (pure, no database); this module keeps the
scenario and portfolio files per sponsor, stores each valuation with its report, and writes the
audit trail. Tenancy follows the programs: a sponsor's scenarios are private to it (another
organisation gets the 404 of an unknown id), ``programs:read`` reads them and ``programs:write``
changes or values them. Services flush, never commit: the request owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from opencxo.core import audit, documents
from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import Conflict, Invalid, NotFound, NotPermitted, check_version
from opencxo.core.pagination import Page, PageParams, paginate
from opencxo.core.types import utcnow
from opencxo.economics import reference, service
from opencxo.economics.models import Portfolio, Valuation, ValuationScenario
from opencxo.economics.records import (
    MAX_TRIALS,
    CompareRequest,
    PortfolioCreate,
    PortfolioRead,
    PortfolioSummary,
    PortfolioUpdate,
    RunRequest,
    ScenarioCreate,
    ScenarioRead,
    ScenarioSummary,
    ScenarioUpdate,
    TornadoRequest,
    ValuationRead,
    ValuationSummary,
    VariantCreate,
)
from opencxo.economics.schemas import (
    ComparisonReport,
    PortfolioInput,
    PortfolioReport,
    ScenarioInput,
    TornadoReport,
    ValuationReport,
)
from opencxo.parties import service as parties
from opencxo.sourcing import service as sourcing

SCENARIO_FIELDS = ("name", "program_id", "spec")
PORTFOLIO_FIELDS = ("name", "spec")
SCENARIO_SORTS = ("name", "program", "phase", "updated_at", "rnpv", "poa")

# A program's phase (sourcing) → the phase a valuation starts from. Before the clinic, the
# valuation starts at Phase I (the pre-human costs are sunk or out of scope); a marketed program
# has nothing left to develop, so the form does not guess.
PROGRAM_PHASES = {
    "discovery": "phase_1",
    "preclinical": "phase_1",
    "phase_1": "phase_1",
    "phase_2": "phase_2",
    "phase_3": "phase_3",
    "submission": "regulatory",
}
# Programs name their therapeutic area in free text; these name the BIO 2011–2020 area.
AREA_SYNONYMS = {
    "immunology": "autoimmune",
    "immunology_and_inflammation": "autoimmune",
    "inflammation": "autoimmune",
    "autoimmune_disease": "autoimmune",
    "gastrointestinal": "gastroenterology",
    "gi": "gastroenterology",
    "cns": "neurology",
    "neuroscience": "neurology",
    "infectious_diseases": "infectious_disease",
    "infectious": "infectious_disease",
    "metabolism": "metabolic",
    "cardiology": "cardiovascular",
    "cardiometabolic": "cardiovascular",
    "rare_diseases": "rare_disease",
    "haematology": "hematology",
    "endocrinology": "endocrine",
    "vaccine": "vaccines",
}


# --- helpers ------------------------------------------------------------------------------------


def _readable(principal: Principal) -> frozenset[uuid.UUID]:
    return principal.organization_ids


def _sponsor_for(
    session: Session, principal: Principal, permission: Permission, sponsor_id: uuid.UUID | None
) -> uuid.UUID:
    """The sponsor acting: the one named, or the principal's only sponsor with the permission."""
    sponsors = {o.id for o in parties.my_organizations(session, principal) if o.kind == "sponsor"}
    if sponsor_id is not None:
        if sponsor_id not in principal.organization_ids:
            raise NotFound("no such sponsor")
        if sponsor_id not in sponsors:
            message = "only a sponsor organisation keeps valuation scenarios"
            raise Invalid(message, field_errors={"sponsor_id": "not a sponsor"})
        principal.require(permission, sponsor_id)
        return sponsor_id
    candidates = {s for s in sponsors if principal.can(permission, s)}
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        raise NotPermitted(f"you need {permission.value} in a sponsor organisation")
    raise Invalid(
        "you belong to several sponsors; say which one",
        field_errors={"sponsor_id": "required when you belong to several sponsors"},
    )


def _prefixed(error: Invalid, prefix: str) -> Invalid:
    return Invalid(
        error.message, field_errors={f"{prefix}.{k}": v for k, v in error.field_errors.items()}
    )


def _checked_spec(spec: ScenarioInput, prefix: str = "spec") -> None:
    """The business rules a file's schema cannot see (a phase behind the current one, an expired
    patent, an unknown therapeutic area): the service builds the engine's inputs."""
    try:
        service.build(spec)
    except Invalid as error:
        raise _prefixed(error, prefix) from None


def _spec_json(spec: ScenarioInput | PortfolioInput) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)


def _capped(request: RunRequest) -> None:
    if request.trials > MAX_TRIALS:  # the schema says so too; this guards service callers
        message = f"at most {MAX_TRIALS:,} trials per request; use the CLI for more"
        raise Invalid(message, field_errors={"trials": message})


def parse_upload(content: bytes, filename: str) -> Any:
    """The plain data of an uploaded YAML or JSON scenario or portfolio file."""
    return documents.parse_upload(content, filename, expected="name, current_phase, revenue, …")


def to_yaml(spec: ScenarioInput | PortfolioInput) -> str:
    """A stored file as YAML, to download, edit and upload again."""
    return yaml.safe_dump(_spec_json(spec), sort_keys=False, allow_unicode=True)


# --- program defaults (for the scenario form) ---------------------------------------------------


def bio_area(therapeutic_area: str) -> str:
    """The BIO 2011–2020 area for a program's free-text therapeutic area, or all indications."""
    key = "_".join(therapeutic_area.strip().lower().replace("&", " and ").replace("-", " ").split())
    areas = reference.phase_success_areas()
    if key in areas:
        return key
    mapped = AREA_SYNONYMS.get(key)
    return mapped if mapped in areas else reference.ALL_INDICATIONS


def program_defaults(
    session: Session, principal: Principal, program_id: uuid.UUID
) -> dict[str, Any]:
    """What the scenario form pre-fills from a program: current phase, BIO area, patent expiry,
    molecule type. Only a suggestion shown in the form: the user sees and may change each."""
    program = sourcing.get_program(session, principal, program_id)
    return {
        "program_id": str(program.id),
        "program_name": program.name,
        "current_phase": PROGRAM_PHASES.get(str(program.phase), ""),
        "therapeutic_area": bio_area(program.therapeutic_area),
        "program_area": program.therapeutic_area,
        "molecule_type": "biologic" if str(program.modality) == "biologic" else "small_molecule",
        "patent_expiry": program.patent_expiry.isoformat() if program.patent_expiry else "",
    }


def my_programs(session: Session, principal: Principal) -> list[tuple[uuid.UUID, str]]:
    """The programs the principal may attach a scenario to, as (id, name), by name."""
    page = sourcing.list_programs(session, principal, params=PageParams(page=1, page_size=100))
    return [
        (p.id, p.name) for p in page.items if principal.can(Permission.PROGRAMS_WRITE, p.sponsor_id)
    ]


# --- scenarios ----------------------------------------------------------------------------------


def _scenario(session: Session, principal: Principal, scenario_id: uuid.UUID) -> ValuationScenario:
    found = session.get(ValuationScenario, scenario_id)
    if found is None or found.sponsor_id not in _readable(principal):
        raise NotFound("no such scenario")
    principal.require(Permission.PROGRAMS_READ, found.sponsor_id)
    return found


def _latest(
    session: Session, scenario_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ValuationSummary]:
    ids = list(scenario_ids)
    if not ids:
        return {}
    newest = (
        select(Valuation.scenario_id, func.max(Valuation.created_at).label("at"))
        .where(Valuation.scenario_id.in_(ids))
        .group_by(Valuation.scenario_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Valuation.id,
            Valuation.scenario_id,
            Valuation.scenario_version,
            Valuation.trials,
            Valuation.seed,
            Valuation.rnpv_mean_musd,
            Valuation.probability_of_approval,
            Valuation.created_at,
        ).join(
            newest,
            (Valuation.scenario_id == newest.c.scenario_id) & (Valuation.created_at == newest.c.at),
        )
    ).all()
    return {
        r.scenario_id: ValuationSummary(
            id=r.id,
            scenario_version=r.scenario_version,
            trials=r.trials,
            seed=r.seed,
            rnpv_mean_musd=r.rnpv_mean_musd,
            probability_of_approval=r.probability_of_approval,
            created_at=r.created_at,
        )
        for r in rows
    }


def _program_names(
    session: Session, principal: Principal, program_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    wanted = {p for p in program_ids if p is not None}
    if not wanted:
        return {}
    return {p.id: p.name for p in sourcing.programs_named(session, principal, wanted)}


def _summary_fields(
    row: ValuationScenario, spec: ScenarioInput, names: dict[uuid.UUID, str]
) -> dict[str, Any]:
    return {
        "id": row.id,
        "sponsor_id": row.sponsor_id,
        "program_id": row.program_id,
        "program_name": names.get(row.program_id) if row.program_id else None,
        "name": row.name,
        "current_phase": spec.current_phase,
        "therapeutic_area": spec.therapeutic_area,
        "version": row.version,
        "updated_at": row.updated_at,
    }


def _scenario_read(session: Session, principal: Principal, row: ValuationScenario) -> ScenarioRead:
    spec = ScenarioInput.model_validate(row.spec)
    names = _program_names(session, principal, [row.program_id])
    return ScenarioRead(
        **_summary_fields(row, spec, names),
        latest=_latest(session, [row.id]).get(row.id),
        spec=spec,
        created_at=row.created_at,
        created_by_id=row.created_by_id,
    )


def list_scenarios(
    session: Session,
    principal: Principal,
    *,
    params: PageParams,
    program_id: uuid.UUID | None = None,
) -> Page[ScenarioSummary]:
    """The scenarios of the principal's sponsors, optionally of one program; sortable by name,
    program, phase, last change, latest rNPV or probability of approval."""
    sponsors = principal.organizations_with(Permission.PROGRAMS_READ) & _readable(principal)
    query = select(ValuationScenario).where(ValuationScenario.sponsor_id.in_(sponsors))
    if program_id is not None:
        query = query.where(ValuationScenario.program_id == program_id)
    rows = session.execute(query).scalars().all()
    latest = _latest(session, [r.id for r in rows])
    names = _program_names(session, principal, [r.program_id for r in rows])
    items = [
        ScenarioSummary(
            **_summary_fields(r, ScenarioInput.model_validate(r.spec), names),
            latest=latest.get(r.id),
        )
        for r in rows
    ]
    column, descending = params.sort_key(SCENARIO_SORTS, "name")

    def key(item: ScenarioSummary) -> tuple[bool, Any]:
        value: Any = {
            "name": item.name.lower(),
            "program": (item.program_name or "").lower(),
            "phase": item.current_phase,
            "updated_at": item.updated_at,
            "rnpv": item.latest.rnpv_mean_musd if item.latest else None,
            "poa": item.latest.probability_of_approval if item.latest else None,
        }[column]
        # rows without a value (never valued) sort last either way
        return (value is None) != descending, value if value is not None else 0

    items.sort(key=lambda i: i.name.lower())
    items.sort(key=key, reverse=descending)
    shown, total = paginate(items, params)
    return Page.of(shown, total=total, params=params)


def get_scenario(session: Session, principal: Principal, scenario_id: uuid.UUID) -> ScenarioRead:
    return _scenario_read(session, principal, _scenario(session, principal, scenario_id))


def _check_program(
    session: Session, principal: Principal, sponsor_id: uuid.UUID, spec: ScenarioInput
) -> None:
    if spec.program_id is None:
        return
    message = "choose one of your programs"
    try:
        program = sourcing.get_program(session, principal, spec.program_id)
    except (NotFound, NotPermitted):
        raise Invalid(message, field_errors={"spec.program_id": message}) from None
    if program.sponsor_id != sponsor_id:
        raise Invalid(message, field_errors={"spec.program_id": message})


def _check_name(
    session: Session, sponsor_id: uuid.UUID, name: str, but: uuid.UUID | None = None
) -> None:
    query = select(ValuationScenario.id).where(
        ValuationScenario.sponsor_id == sponsor_id, ValuationScenario.name == name
    )
    found = session.execute(query).scalar_one_or_none()
    if found is not None and found != but:
        raise Conflict(
            f"a scenario named {name!r} exists; choose another name",
            field_errors={"spec.name": "already used by another scenario"},
        )


def create_scenario(session: Session, principal: Principal, data: ScenarioCreate) -> ScenarioRead:
    sponsor_id = _sponsor_for(session, principal, Permission.PROGRAMS_WRITE, data.sponsor_id)
    spec = data.spec
    _checked_spec(spec)
    _check_program(session, principal, sponsor_id, spec)
    _check_name(session, sponsor_id, spec.name)
    row = ValuationScenario(
        sponsor_id=sponsor_id,
        program_id=spec.program_id,
        name=spec.name,
        spec=_spec_json(spec),
        created_by_id=principal.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="valuation_scenario",
        entity_id=row.id,
        actor=principal,
        organization_id=sponsor_id,
        after=audit.snapshot(row, SCENARIO_FIELDS),
    )
    return _scenario_read(session, principal, row)


def create_variant(
    session: Session, principal: Principal, scenario_id: uuid.UUID, data: VariantCreate
) -> ScenarioRead:
    """A new scenario: the stored one with its outsourcing terms replaced by ``data``'s."""
    base = _scenario(session, principal, scenario_id)
    principal.require(Permission.PROGRAMS_WRITE, base.sponsor_id)
    if not data.outsourcing and data.several_vendors is None:
        message = "outsource at least one phase, or describe the several vendors"
        raise Invalid(message, field_errors={"outsourcing": message})
    spec = ScenarioInput.model_validate(base.spec).model_copy(
        update={
            "name": data.name,
            "outsourcing": data.outsourcing,
            "several_vendors": data.several_vendors,
        }
    )
    try:
        return create_scenario(
            session, principal, ScenarioCreate(sponsor_id=base.sponsor_id, spec=spec)
        )
    except Invalid as error:
        # The variant's own fields, not the copied file's: "spec.outsourcing…" → "outsourcing…".
        raise Invalid(
            error.message,
            field_errors={k.removeprefix("spec."): v for k, v in error.field_errors.items()},
        ) from None


def update_scenario(
    session: Session, principal: Principal, scenario_id: uuid.UUID, data: ScenarioUpdate
) -> ScenarioRead:
    row = _scenario(session, principal, scenario_id)
    principal.require(Permission.PROGRAMS_WRITE, row.sponsor_id)
    check_version("scenario", row.version, data.version)
    spec = data.spec
    _checked_spec(spec)
    _check_program(session, principal, row.sponsor_id, spec)
    _check_name(session, row.sponsor_id, spec.name, but=row.id)
    before = audit.snapshot(row, SCENARIO_FIELDS)
    row.name, row.program_id, row.spec = spec.name, spec.program_id, _spec_json(spec)
    row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        action="update",
        entity_type="valuation_scenario",
        entity_id=row.id,
        actor=principal,
        organization_id=row.sponsor_id,
        before=before,
        after=audit.snapshot(row, SCENARIO_FIELDS),
    )
    return _scenario_read(session, principal, row)


def delete_scenario(
    session: Session, principal: Principal, scenario_id: uuid.UUID, *, version: int | None = None
) -> None:
    """Remove a scenario and its valuations (the audit trail keeps what it was)."""
    row = _scenario(session, principal, scenario_id)
    principal.require(Permission.PROGRAMS_WRITE, row.sponsor_id)
    check_version("scenario", row.version, version)
    valuations = session.execute(
        select(func.count()).select_from(Valuation).where(Valuation.scenario_id == row.id)
    ).scalar_one()
    before = {**audit.snapshot(row, SCENARIO_FIELDS), "valuations": valuations}
    scenario_id, sponsor_id = row.id, row.sponsor_id
    # The row first (its version checked by the DELETE), then the audit chain: the order every
    # update takes. The other way round, a delete and a concurrent save each hold the lock the
    # other waits for (PostgreSQL ends one with a deadlock error, a 500, instead of a 409).
    session.execute(delete(Valuation).where(Valuation.scenario_id == row.id))
    session.delete(row)
    session.flush()
    audit.record(
        session,
        action="delete",
        entity_type="valuation_scenario",
        entity_id=scenario_id,
        actor=principal,
        organization_id=sponsor_id,
        before=before,
    )


# --- valuations ---------------------------------------------------------------------------------


def _valuation_read(row: Valuation) -> ValuationRead:
    return ValuationRead(
        id=row.id,
        scenario_id=row.scenario_id,
        scenario_version=row.scenario_version,
        trials=row.trials,
        seed=row.seed,
        rnpv_mean_musd=row.rnpv_mean_musd,
        probability_of_approval=row.probability_of_approval,
        created_at=row.created_at,
        created_by_id=row.created_by_id,
        report=ValuationReport.model_validate(row.report),
    )


def run_valuation(
    session: Session, principal: Principal, scenario_id: uuid.UUID, request: RunRequest
) -> ValuationRead:
    """Value the scenario as it is now and keep the report (one row, one audit event)."""
    row = _scenario(session, principal, scenario_id)
    principal.require(Permission.PROGRAMS_WRITE, row.sponsor_id)
    _capped(request)
    spec = ScenarioInput.model_validate(row.spec)
    try:
        report = service.value_scenario(spec, request)
    except Invalid as error:
        raise _prefixed(error, "spec") from None
    valuation = Valuation(
        scenario_id=row.id,
        scenario_version=row.version,
        trials=report.trials,
        seed=request.seed,
        report=report.model_dump(mode="json"),
        rnpv_mean_musd=report.rnpv_mean_musd,
        probability_of_approval=report.probability_of_approval,
        created_by_id=principal.user_id,
    )
    session.add(valuation)
    session.flush()
    audit.record(
        session,
        action="value",
        entity_type="valuation",
        entity_id=valuation.id,
        actor=principal,
        organization_id=row.sponsor_id,
        after={
            "scenario_id": str(row.id),
            "scenario_version": row.version,
            "trials": report.trials,
            "seed": request.seed,
            "rnpv_mean_musd": report.rnpv_mean_musd,
            "probability_of_approval": report.probability_of_approval,
        },
    )
    return _valuation_read(valuation)


def latest_valuation(
    session: Session, principal: Principal, scenario_id: uuid.UUID
) -> ValuationRead | None:
    """The scenario's newest valuation, or None if it was never valued."""
    row = _scenario(session, principal, scenario_id)
    found = session.execute(
        select(Valuation)
        .where(Valuation.scenario_id == row.id)
        .order_by(Valuation.created_at.desc(), Valuation.id)
        .limit(1)
    ).scalar_one_or_none()
    return _valuation_read(found) if found is not None else None


def compare(session: Session, principal: Principal, request: CompareRequest) -> ComparisonReport:
    """Two stored scenarios on the same random draws (not stored: computed on demand)."""
    _capped(request)
    base = ScenarioInput.model_validate(_scenario(session, principal, request.base_id).spec)
    other = ScenarioInput.model_validate(_scenario(session, principal, request.alternative_id).spec)
    return service.compare_scenarios(base, other, request)


def tornado(
    session: Session, principal: Principal, scenario_id: uuid.UUID, request: TornadoRequest
) -> TornadoReport:
    """One input at a time between its low and high value (not stored: computed on demand)."""
    _capped(request)
    spec = ScenarioInput.model_validate(_scenario(session, principal, scenario_id).spec)
    try:
        return service.sensitivity(spec, request, swing=request.swing)
    except Invalid as error:
        raise _prefixed(error, "spec") from None


def value_spec(principal: Principal, spec: ScenarioInput, request: RunRequest) -> ValuationReport:
    """A scenario that is not stored (an API user's own file): valued, nothing kept."""
    principal.require(Permission.PROGRAMS_READ)
    _capped(request)
    return service.value_scenario(spec, request)


# --- portfolios ---------------------------------------------------------------------------------


def _portfolio(session: Session, principal: Principal, portfolio_id: uuid.UUID) -> Portfolio:
    found = session.get(Portfolio, portfolio_id)
    if found is None or found.sponsor_id not in _readable(principal):
        raise NotFound("no such portfolio")
    principal.require(Permission.PROGRAMS_READ, found.sponsor_id)
    return found


def _portfolio_summary_fields(row: Portfolio, spec: PortfolioInput) -> dict[str, Any]:
    objective = row.report.get("objective_musd") if row.report else None
    return {
        "id": row.id,
        "sponsor_id": row.sponsor_id,
        "name": row.name,
        "programs": len(spec.programs),
        "options": sum(len(p.options) for p in spec.programs),
        "version": row.version,
        "updated_at": row.updated_at,
        "run_at": row.run_at,
        "objective_musd": objective,
    }


def _portfolio_read(row: Portfolio) -> PortfolioRead:
    spec = PortfolioInput.model_validate(row.spec)
    return PortfolioRead(
        **_portfolio_summary_fields(row, spec),
        spec=spec,
        report=PortfolioReport.model_validate(row.report) if row.report else None,
        created_at=row.created_at,
    )


def _checked_portfolio(spec: PortfolioInput) -> None:
    if spec.trials > MAX_TRIALS:
        message = f"at most {MAX_TRIALS:,} trials per option here; use the CLI for more"
        raise Invalid(message, field_errors={"spec.trials": message})
    for i, program in enumerate(spec.programs):
        for j, option in enumerate(program.options):
            _checked_spec(option, f"spec.programs.{i}.options.{j}")


def _check_portfolio_name(
    session: Session, sponsor_id: uuid.UUID, name: str, but: uuid.UUID | None = None
) -> None:
    query = select(Portfolio.id).where(Portfolio.sponsor_id == sponsor_id, Portfolio.name == name)
    found = session.execute(query).scalar_one_or_none()
    if found is not None and found != but:
        raise Conflict(
            f"a portfolio named {name!r} exists; choose another name",
            field_errors={"spec.name": "already used by another portfolio"},
        )


def list_portfolios(session: Session, principal: Principal) -> list[PortfolioSummary]:
    sponsors = principal.organizations_with(Permission.PROGRAMS_READ) & _readable(principal)
    rows = session.execute(
        select(Portfolio).where(Portfolio.sponsor_id.in_(sponsors)).order_by(Portfolio.name)
    ).scalars()
    return [
        PortfolioSummary(**_portfolio_summary_fields(r, PortfolioInput.model_validate(r.spec)))
        for r in rows
    ]


def get_portfolio(session: Session, principal: Principal, portfolio_id: uuid.UUID) -> PortfolioRead:
    return _portfolio_read(_portfolio(session, principal, portfolio_id))


def create_portfolio(
    session: Session, principal: Principal, data: PortfolioCreate
) -> PortfolioRead:
    sponsor_id = _sponsor_for(session, principal, Permission.PROGRAMS_WRITE, data.sponsor_id)
    _checked_portfolio(data.spec)
    _check_portfolio_name(session, sponsor_id, data.spec.name)
    row = Portfolio(
        sponsor_id=sponsor_id,
        name=data.spec.name,
        spec=_spec_json(data.spec),
        created_by_id=principal.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        action="create",
        entity_type="valuation_portfolio",
        entity_id=row.id,
        actor=principal,
        organization_id=sponsor_id,
        after=audit.snapshot(row, PORTFOLIO_FIELDS),
    )
    return _portfolio_read(row)


def update_portfolio(
    session: Session, principal: Principal, portfolio_id: uuid.UUID, data: PortfolioUpdate
) -> PortfolioRead:
    """Replace the file; the last run's report no longer answers it and is cleared."""
    row = _portfolio(session, principal, portfolio_id)
    principal.require(Permission.PROGRAMS_WRITE, row.sponsor_id)
    check_version("portfolio", row.version, data.version)
    _checked_portfolio(data.spec)
    _check_portfolio_name(session, row.sponsor_id, data.spec.name, but=row.id)
    before = audit.snapshot(row, PORTFOLIO_FIELDS)
    row.name, row.spec, row.report, row.run_at = data.spec.name, _spec_json(data.spec), None, None
    row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        action="update",
        entity_type="valuation_portfolio",
        entity_id=row.id,
        actor=principal,
        organization_id=row.sponsor_id,
        before=before,
        after=audit.snapshot(row, PORTFOLIO_FIELDS),
    )
    return _portfolio_read(row)


def delete_portfolio(
    session: Session, principal: Principal, portfolio_id: uuid.UUID, *, version: int | None = None
) -> None:
    row = _portfolio(session, principal, portfolio_id)
    principal.require(Permission.PROGRAMS_WRITE, row.sponsor_id)
    check_version("portfolio", row.version, version)
    before = audit.snapshot(row, PORTFOLIO_FIELDS)
    portfolio_id, sponsor_id = row.id, row.sponsor_id
    session.delete(row)  # the row, then the audit chain (see delete_scenario)
    session.flush()
    audit.record(
        session,
        action="delete",
        entity_type="valuation_portfolio",
        entity_id=portfolio_id,
        actor=principal,
        organization_id=sponsor_id,
        before=before,
    )


def run_portfolio(session: Session, principal: Principal, portfolio_id: uuid.UUID) -> PortfolioRead:
    """Value every option, choose what to fund within the budgets, and keep the report."""
    row = _portfolio(session, principal, portfolio_id)
    principal.require(Permission.PROGRAMS_WRITE, row.sponsor_id)
    spec = PortfolioInput.model_validate(row.spec)
    _checked_portfolio(spec)
    try:
        report = service.portfolio(spec)
    except Invalid as error:
        raise _prefixed(error, "spec") from None
    row.report = report.model_dump(mode="json")
    row.run_at = report.computed_at
    session.flush()
    audit.record(
        session,
        action="run",
        entity_type="valuation_portfolio",
        entity_id=row.id,
        actor=principal,
        organization_id=row.sponsor_id,
        after={
            "status": report.status,
            "objective_musd": report.objective_musd,
            "funded": report.funded,
            "expected_approvals": report.expected_approvals,
        },
    )
    return _portfolio_read(row)


def scenarios_of_program(
    session: Session, principal: Principal, program_id: uuid.UUID
) -> Sequence[ScenarioSummary]:
    """The program's scenarios (for the card on the program's page)."""
    sourcing.get_program(session, principal, program_id)  # 404 for another sponsor's program
    params = PageParams(page=1, page_size=100, sort="name")
    return list_scenarios(session, principal, params=params, program_id=program_id).items
