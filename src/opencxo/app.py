"""create_app(): database, sessions, middleware, the JSON API under /api/v1 and the web UI."""

from __future__ import annotations

import logging
from importlib import resources

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from opencxo.accounts import api as accounts_api
from opencxo.accounts import web as accounts_web
from opencxo.clinical import api as clinical_api
from opencxo.clinical import recovery_api as clinical_recovery_api
from opencxo.clinical import recovery_web as clinical_recovery_web
from opencxo.clinical import report_api as clinical_report_api
from opencxo.clinical import report_web as clinical_report_web
from opencxo.clinical import web as clinical_web
from opencxo.contracts import api as contracts_api
from opencxo.contracts import web as contracts_web
from opencxo.core.db import make_engine, session_factory
from opencxo.core.errors import OpenCXOError
from opencxo.core.idempotency import IdempotencyMiddleware
from opencxo.core.settings import Settings, get_settings
from opencxo.economics import api as economics_api
from opencxo.economics import web as economics_web
from opencxo.manufacturing import api as manufacturing_api
from opencxo.manufacturing import batch_api as manufacturing_batch_api
from opencxo.manufacturing import batch_web as manufacturing_batch_web
from opencxo.manufacturing import schedule_api as manufacturing_schedule_api
from opencxo.manufacturing import schedule_web as manufacturing_schedule_web
from opencxo.manufacturing import web as manufacturing_web
from opencxo.parties import api as parties_api
from opencxo.parties import web as parties_web
from opencxo.process_chemistry import api as process_chemistry_api
from opencxo.process_chemistry import web as process_chemistry_web
from opencxo.sourcing import api as sourcing_api
from opencxo.sourcing import web as sourcing_web
from opencxo.web import errors as web_errors
from opencxo.web import pages
from opencxo.web.api_docs import add_swagger_ui

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)

    app = FastAPI(
        title="OpenCXO",
        version="0.1.0",
        description="Pharmaceutical R&D and manufacturing outsourcing: parties, sourcing, contracts, "
        "clinical, manufacturing, process chemistry and economics. Authenticate with "
        "`Authorization: Bearer <token>` (create one under *My tokens* or with "
        "`opencxo tokens create`). Errors are RFC 9457 problem details.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        # FastAPI's own docs pages load their scripts from a CDN: Swagger UI is served from the
        # vendored swagger-ui-dist instead (below); ReDoc is not vendored, so it stays off.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions

    app.add_middleware(IdempotencyMiddleware, sessions=sessions, prefix=API_PREFIX)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="opencxo_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.environment == "production",
    )

    app.add_exception_handler(OpenCXOError, web_errors.handle_opencxo_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, web_errors.handle_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StaleDataError, web_errors.handle_stale_data)
    app.add_exception_handler(IntegrityError, web_errors.handle_integrity_error)
    app.add_exception_handler(DataError, web_errors.handle_data_error)
    app.add_exception_handler(StarletteHTTPException, web_errors.handle_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, web_errors.handle_unexpected)

    for router in (
        accounts_api.router,
        parties_api.router,
        sourcing_api.router,
        contracts_api.router,
        economics_api.router,
        clinical_api.router,
        clinical_report_api.router,
        clinical_recovery_api.router,
        manufacturing_api.router,
        manufacturing_schedule_api.router,
        manufacturing_batch_api.router,
        process_chemistry_api.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    add_swagger_ui(app, path=f"{API_PREFIX}/docs")
    for router in (
        pages.router,
        accounts_web.router,
        parties_web.router,
        sourcing_web.router,
        contracts_web.router,
        economics_web.router,
        clinical_web.router,
        clinical_report_web.router,
        clinical_recovery_web.router,
        manufacturing_web.router,
        manufacturing_schedule_web.router,
        manufacturing_batch_web.router,
        process_chemistry_web.router,
    ):
        app.include_router(router, include_in_schema=False)

    static = resources.files("opencxo.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
