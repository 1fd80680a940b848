"""JSON API of clinical operations — thin: parse, call the service, return."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from opencxo.clinical import forecasting, importing, service
from opencxo.clinical.models import StudyStatus
from opencxo.clinical.schemas import (
    EnrollmentCreate,
    EnrollmentRead,
    ImportResult,
    SiteCreate,
    SiteRead,
    SiteTransition,
    SiteUpdate,
    StudyCountryInput,
    StudyCountryRead,
    StudyCreate,
    StudyEnrollment,
    StudyForecastRead,
    StudyListItem,
    StudyRead,
    StudyUpdate,
)
from opencxo.core.http import ApiPrincipal, DbSession
from opencxo.core.pagination import Page, PageParams
from opencxo.parties.schemas import DisruptionRead

router = APIRouter(tags=["clinical"])


@router.get("/studies", response_model=Page[StudyListItem])
def list_studies(
    session: DbSession,
    principal: ApiPrincipal,
    params: Annotated[PageParams, Query()],
    status: StudyStatus | None = None,
) -> Page[StudyListItem]:
    """The studies your organisation sponsors or runs as their CRO."""
    return service.list_studies(session, principal, params=params, status=status)


@router.post("/studies", response_model=StudyRead, status_code=status.HTTP_201_CREATED)
def create_study(body: StudyCreate, session: DbSession, principal: ApiPrincipal) -> StudyRead:
    """Create a study of one of your programs; a work order makes its provider the CRO."""
    return service.create_study(session, principal, body)


@router.get("/studies/{study_id}", response_model=StudyRead)
def get_study(study_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> StudyRead:
    """The study with its summary: enrolled to date, % of target, sites by status and country."""
    return service.get_study(session, principal, study_id)


@router.put("/studies/{study_id}", response_model=StudyRead)
def update_study(
    study_id: uuid.UUID, body: StudyUpdate, session: DbSession, principal: ApiPrincipal
) -> StudyRead:
    return service.update_study(session, principal, study_id, body)


@router.get("/studies/{study_id}/countries", response_model=list[StudyCountryRead])
def list_countries(
    study_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[StudyCountryRead]:
    return service.list_countries(session, principal, study_id)


@router.post("/studies/{study_id}/countries", response_model=StudyCountryRead)
def set_country(
    study_id: uuid.UUID, body: StudyCountryInput, session: DbSession, principal: ApiPrincipal
) -> StudyCountryRead:
    """Add a country to the plan, or change its planned sites and patients."""
    return service.set_country(session, principal, study_id, body)


@router.delete("/studies/{study_id}/countries/{country_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_country(
    study_id: uuid.UUID, country_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    service.remove_country(session, principal, study_id, country_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/studies/{study_id}/sites", response_model=list[SiteRead])
def list_sites(study_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> list[SiteRead]:
    return service.list_sites(session, principal, study_id)


@router.post(
    "/studies/{study_id}/sites", response_model=SiteRead, status_code=status.HTTP_201_CREATED
)
def create_site(
    study_id: uuid.UUID, body: SiteCreate, session: DbSession, principal: ApiPrincipal
) -> SiteRead:
    return service.create_site(session, principal, study_id, body)


@router.get("/studies/{study_id}/enrollment", response_model=StudyEnrollment)
def study_enrollment(
    study_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> StudyEnrollment:
    """Every enrollment record of the study, and the cumulative number enrolled by date."""
    return service.study_enrollment(session, principal, study_id)


@router.get("/studies/{study_id}/disruptions", response_model=list[DisruptionRead])
def study_disruptions(
    study_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[DisruptionRead]:
    """Your organisation's disruptions in the study's countries during the study."""
    return service.study_disruptions(session, principal, study_id)


@router.get("/studies/{study_id}/forecast", response_model=StudyForecastRead)
def study_forecast(
    study_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    paths: Annotated[int, Query(description="Monte Carlo paths, 100 to 100,000")] = (
        forecasting.DEFAULT_PATHS
    ),
    seed: Annotated[int, Query(description="random seed: same seed, same answer")] = (
        forecasting.DEFAULT_SEED
    ),
    deadline: Annotated[
        date | None, Query(description="default: the planned last patient in")
    ] = None,
    as_of: Annotated[date | None, Query(description="default: today")] = None,
) -> StudyForecastRead:
    """Poisson–gamma enrollment forecast (completion date P10/P50/P90, probability of the target
    by the deadline, cumulative bands) with and without the disruptions of the study's
    countries, on the same seed."""
    return forecasting.study_forecast(
        session, principal, study_id, as_of=as_of, deadline=deadline, paths=paths, seed=seed
    )


@router.post("/studies/{study_id}/imports", response_model=ImportResult)
async def import_file(
    study_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    file: Annotated[UploadFile, File(description="CSV or XLSX; see docs/clinical-import.md")],
) -> ImportResult:
    """Import sites or enrollment (per date counts or per subject) from CSV or XLSX. A bad row
    refuses the whole file: the 422 lists every bad row with its number and reason."""
    content = await file.read()
    # In the thread pool: the import blocks on the database, which must not stall the event loop.
    return await run_in_threadpool(
        importing.import_file, session, principal, study_id, file.filename or "", content
    )


@router.get("/study-sites/{site_id}", response_model=SiteRead)
def get_site(site_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> SiteRead:
    return service.get_site(session, principal, site_id)


@router.put("/study-sites/{site_id}", response_model=SiteRead)
def update_site(
    site_id: uuid.UUID, body: SiteUpdate, session: DbSession, principal: ApiPrincipal
) -> SiteRead:
    return service.update_site(session, principal, site_id, body)


@router.post("/study-sites/{site_id}/status", response_model=SiteRead)
def change_site_status(
    site_id: uuid.UUID, body: SiteTransition, session: DbSession, principal: ApiPrincipal
) -> SiteRead:
    """planned → activating → active ⇄ on_hold → closed; any other step answers 409."""
    return service.change_site_status(session, principal, site_id, body)


@router.get("/study-sites/{site_id}/enrollment", response_model=list[EnrollmentRead])
def list_enrollment(
    site_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[EnrollmentRead]:
    return service.list_enrollment(session, principal, site_id)


@router.post(
    "/study-sites/{site_id}/enrollment",
    response_model=EnrollmentRead,
    status_code=status.HTTP_201_CREATED,
)
def add_enrollment(
    site_id: uuid.UUID, body: EnrollmentCreate, session: DbSession, principal: ApiPrincipal
) -> EnrollmentRead:
    """The site's counts for one date (that day or period, not cumulative)."""
    return service.add_enrollment(session, principal, site_id, body)
