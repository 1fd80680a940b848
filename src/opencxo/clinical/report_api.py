"""JSON API of the study status report — thin: parse, call ``report.study_report``, return."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from opencxo.clinical import forecasting, report
from opencxo.clinical.report_pdf import report_pdf_response
from opencxo.clinical.report_schemas import StudyReport
from opencxo.core.http import ApiPrincipal, DbSession

router = APIRouter(tags=["clinical"])

Paths = Annotated[int, Query(description="Monte Carlo paths of the forecast, 100 to 100,000")]
Seed = Annotated[int, Query(description="random seed of the forecast: same seed, same answer")]
Deadline = Annotated[date | None, Query(description="default: the planned last patient in")]
AsOf = Annotated[date | None, Query(description="the report date; default today")]


@router.get("/studies/{study_id}/report", response_model=StudyReport)
def study_report(
    study_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    paths: Paths = forecasting.DEFAULT_PATHS,
    seed: Seed = forecasting.DEFAULT_SEED,
    deadline: Deadline = None,
    as_of: AsOf = None,
) -> StudyReport:
    """The study status report for the sponsor: enrollment against the straight-line plan (by
    month), the forecast with and without disruptions and its assumptions (or why there is
    none), sites by status and country, disruptions and the latest recovery plan."""
    return report.study_report(
        session, principal, study_id, as_of=as_of, deadline=deadline, paths=paths, seed=seed
    )


@router.get(
    "/studies/{study_id}/report.pdf",
    response_class=Response,
    responses={
        200: {
            "description": "The report as an A4 PDF (an attachment)",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def study_report_pdf(
    study_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    paths: Paths = forecasting.DEFAULT_PATHS,
    seed: Seed = forecasting.DEFAULT_SEED,
    deadline: Deadline = None,
    as_of: AsOf = None,
) -> Response:
    """The study status report as a PDF (the same content as ``/report``)."""
    found = report.study_report(
        session, principal, study_id, as_of=as_of, deadline=deadline, paths=paths, seed=seed
    )
    return report_pdf_response(found)
