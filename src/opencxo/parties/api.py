"""JSON API of the parties capability — thin: parse, call the service, return."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from opencxo.core.http import ApiPrincipal, DbSession
from opencxo.core.pagination import Page, PageParams
from opencxo.core.schemas import AuditEventRead
from opencxo.parties import service
from opencxo.parties.models import OrganizationKind, QualificationStatus, ServiceLine
from opencxo.parties.schemas import (
    CapabilityCreate,
    CapabilityRead,
    CertificationCreate,
    CertificationRead,
    DirectoryHit,
    DisruptionCreate,
    DisruptionRead,
    DisruptionUpdate,
    InspectionCreate,
    InspectionRead,
    OrganizationCreate,
    OrganizationRead,
    OrganizationSummary,
    OrganizationUpdate,
    ProviderProfile,
    QualificationCreate,
    QualificationRead,
    QualificationUpdate,
    SiteCreate,
    SiteRead,
)

router = APIRouter()
Pages = Annotated[PageParams, Query()]


@router.get("/catalog", tags=["parties"])
def service_catalog(principal: ApiPrincipal) -> dict[str, object]:
    """The versioned service catalog every capability and RFP lot refers to."""
    catalog = service.catalog()
    return {
        "version": catalog.version,
        "stages": catalog.stages,
        "entries": [e.__dict__ for e in catalog.entries],
    }


@router.get("/organizations", response_model=Page[OrganizationSummary], tags=["parties"])
def list_organizations(
    session: DbSession,
    principal: ApiPrincipal,
    params: Pages,
    kind: OrganizationKind | None = None,
    q: str | None = Query(None, max_length=100),
) -> Page[OrganizationSummary]:
    return service.list_organizations(session, principal, kind=kind, q=q, params=params)


@router.post(
    "/organizations",
    response_model=OrganizationRead,
    status_code=status.HTTP_201_CREATED,
    tags=["parties"],
)
def create_organization(
    body: OrganizationCreate, session: DbSession, principal: ApiPrincipal
) -> OrganizationRead:
    return service.create_organization(session, principal, body)


@router.get("/organizations/{organization_id}", response_model=OrganizationRead, tags=["parties"])
def get_organization(
    organization_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> OrganizationRead:
    return service.get_organization(session, principal, organization_id)


@router.patch("/organizations/{organization_id}", response_model=OrganizationRead, tags=["parties"])
def update_organization(
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    session: DbSession,
    principal: ApiPrincipal,
) -> OrganizationRead:
    return service.update_organization(session, principal, organization_id, body)


@router.get(
    "/organizations/{organization_id}/history",
    response_model=list[AuditEventRead],
    tags=["parties"],
)
def organization_history(
    organization_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[AuditEventRead]:
    return [
        AuditEventRead.model_validate(e)
        for e in service.organization_history(session, principal, organization_id)
    ]


@router.post(
    "/organizations/{organization_id}/sites",
    response_model=SiteRead,
    status_code=status.HTTP_201_CREATED,
    tags=["parties"],
)
def add_site(
    organization_id: uuid.UUID, body: SiteCreate, session: DbSession, principal: ApiPrincipal
) -> SiteRead:
    return service.add_site(session, principal, organization_id, body)


@router.delete("/sites/{site_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["parties"])
def remove_site(site_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> None:
    service.remove_site(session, principal, site_id)


@router.get("/providers", response_model=Page[DirectoryHit], tags=["directory"])
def search_providers(
    session: DbSession,
    principal: ApiPrincipal,
    params: Pages,
    q: str | None = Query(None, max_length=100, description="free text: name, service, city"),
    service_code: str | None = Query(None, description="a service catalog code, e.g. CMC-GMPAPI"),
    country: str | None = Query(None, max_length=2, description="ISO 3166-1 alpha-2"),
    region: str | None = None,
    certification: str | None = Query(None, description="a standard held and valid, e.g. GMP"),
    service_line: ServiceLine | None = None,
) -> Page[DirectoryHit]:
    """The provider directory: every filter must match; results are ranked, best first."""
    return service.search_directory(
        session,
        principal,
        q=q,
        service_code=service_code,
        country=country,
        region=region,
        certification=certification,
        service_line=service_line.value if service_line else None,
        params=params,
    )


@router.get("/providers/{provider_id}", response_model=ProviderProfile, tags=["directory"])
def provider_profile(
    provider_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> ProviderProfile:
    return service.provider_profile(session, principal, provider_id)


@router.post(
    "/providers/{provider_id}/capabilities",
    response_model=CapabilityRead,
    status_code=status.HTTP_201_CREATED,
    tags=["directory"],
)
def add_capability(
    provider_id: uuid.UUID, body: CapabilityCreate, session: DbSession, principal: ApiPrincipal
) -> CapabilityRead:
    return service.add_capability(session, principal, provider_id, body)


@router.delete(
    "/capabilities/{capability_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["directory"]
)
def remove_capability(
    capability_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> None:
    service.remove_capability(session, principal, capability_id)


@router.post(
    "/providers/{provider_id}/certifications",
    response_model=CertificationRead,
    status_code=status.HTTP_201_CREATED,
    tags=["directory"],
)
def add_certification(
    provider_id: uuid.UUID, body: CertificationCreate, session: DbSession, principal: ApiPrincipal
) -> CertificationRead:
    return service.add_certification(session, principal, provider_id, body)


@router.post(
    "/providers/{provider_id}/inspections",
    response_model=InspectionRead,
    status_code=status.HTTP_201_CREATED,
    tags=["directory"],
)
def add_inspection(
    provider_id: uuid.UUID, body: InspectionCreate, session: DbSession, principal: ApiPrincipal
) -> InspectionRead:
    return service.add_inspection(session, principal, provider_id, body)


@router.get("/qualifications", response_model=Page[QualificationRead], tags=["qualifications"])
def list_qualifications(
    session: DbSession,
    principal: ApiPrincipal,
    params: Pages,
    status: QualificationStatus | None = None,
    provider_id: uuid.UUID | None = None,
) -> Page[QualificationRead]:
    """Your sponsor organisations' qualifications of providers (nobody else sees them)."""
    return service.list_qualifications(
        session, principal, status=status, provider_id=provider_id, params=params
    )


@router.post(
    "/qualifications",
    response_model=QualificationRead,
    status_code=status.HTTP_201_CREATED,
    tags=["qualifications"],
)
def create_qualification(
    body: QualificationCreate, session: DbSession, principal: ApiPrincipal
) -> QualificationRead:
    return service.create_qualification(session, principal, body)


@router.get(
    "/qualifications/{qualification_id}", response_model=QualificationRead, tags=["qualifications"]
)
def get_qualification(
    qualification_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> QualificationRead:
    return service.get_qualification(session, principal, qualification_id)


@router.patch(
    "/qualifications/{qualification_id}", response_model=QualificationRead, tags=["qualifications"]
)
def update_qualification(
    qualification_id: uuid.UUID,
    body: QualificationUpdate,
    session: DbSession,
    principal: ApiPrincipal,
) -> QualificationRead:
    return service.update_qualification(session, principal, qualification_id, body)


@router.get(
    "/qualifications/{qualification_id}/history",
    response_model=list[AuditEventRead],
    tags=["qualifications"],
)
def qualification_history(
    qualification_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> list[AuditEventRead]:
    return [
        AuditEventRead.model_validate(e)
        for e in service.qualification_history(session, principal, qualification_id)
    ]


# --- disruptions: events on a country or region, private to the declaring organisation ----------


@router.get("/disruptions", response_model=list[DisruptionRead], tags=["disruptions"])
def list_disruptions(session: DbSession, principal: ApiPrincipal) -> list[DisruptionRead]:
    """Your organisations' declared disruptions, newest start first (nobody else sees them)."""
    return service.list_disruptions(session, principal)


@router.post(
    "/disruptions",
    response_model=DisruptionRead,
    status_code=status.HTTP_201_CREATED,
    tags=["disruptions"],
)
def declare_disruption(
    body: DisruptionCreate, session: DbSession, principal: ApiPrincipal
) -> DisruptionRead:
    """Declare a disruption on one country or one region; it flags bids from providers located
    there in your RFP comparisons."""
    return service.declare_disruption(session, principal, body)


@router.get("/disruptions/{disruption_id}", response_model=DisruptionRead, tags=["disruptions"])
def get_disruption(
    disruption_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> DisruptionRead:
    return service.get_disruption(session, principal, disruption_id)


@router.put("/disruptions/{disruption_id}", response_model=DisruptionRead, tags=["disruptions"])
def update_disruption(
    disruption_id: uuid.UUID,
    body: DisruptionUpdate,
    session: DbSession,
    principal: ApiPrincipal,
) -> DisruptionRead:
    """Replace every field (name the version you read); end a disruption by setting ``ends_on``."""
    return service.update_disruption(session, principal, disruption_id, body)


@router.delete(
    "/disruptions/{disruption_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["disruptions"]
)
def delete_disruption(
    disruption_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> None:
    service.delete_disruption(session, principal, disruption_id)
