"""Dependencies of HTML pages: the signed-in user and the organisations the layout shows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from opencxo.core.auth import service as auth
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import OpenCXOError
from opencxo.core.http import SESSION_USER_KEY, DbSession, LoginRequired, WebPrincipal
from opencxo.parties import service as parties
from opencxo.parties.schemas import OrganizationSummary
from opencxo.web.rendering import flash

# The user's session generation when the cookie was issued (``User.session_generation``).
SESSION_GENERATION_KEY = "generation"


def start_session(request: Request, user_id: uuid.UUID, generation: int) -> None:
    """Sign a browser in: a fresh session (no state of a previous one is kept) that stays valid
    until the user's session generation moves on (logout, password change, deactivation)."""
    request.session.clear()
    request.session[SESSION_USER_KEY] = str(user_id)
    request.session[SESSION_GENERATION_KEY] = generation


def _page_user(request: Request, session: DbSession, principal: WebPrincipal) -> Principal:
    # A signed cookie stays readable until it expires; the server ends it by moving the user's
    # session generation on, and a cookie issued before that is treated as logged out.
    if not auth.session_is_current(
        session, principal.user_id, request.session.get(SESSION_GENERATION_KEY)
    ):
        request.session.clear()
        raise LoginRequired("your session has ended; log in again")
    request.state.principal = principal
    # Plain snapshots, not ORM rows: an error page renders the layout after the transaction
    # rolled back and closed, when ORM rows can no longer be read.
    request.state.organizations = [
        OrganizationSummary.model_validate(o) for o in parties.my_organizations(session, principal)
    ]
    return principal


M = TypeVar("M", bound=BaseModel)

PageUser = Annotated[Principal, Depends(_page_user)]


async def _form(request: Request) -> dict[str, Any]:
    """The submitted form as a dict; repeated fields (checkboxes, multi-selects) become lists."""
    form = await request.form()
    data: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        data[key] = (
            values if len(values) > 1 or key.endswith("[]") else (values[0] if values else "")
        )
    return {k.removesuffix("[]"): v for k, v in data.items() if k != "csrf_token"}


FormData = Annotated[dict[str, Any], Depends(_form)]


def blank_to_none(data: dict[str, Any], model: type[BaseModel] | None = None) -> dict[str, Any]:
    """Empty inputs mean "no value", except for plain text fields, where they mean ""."""
    fields = model.model_fields if model is not None else {}

    def blank(name: str) -> str | None:
        field = fields.get(name)
        return "" if field is not None and field.annotation is str else None

    return {k: (blank(k) if v == "" else v) for k, v in data.items()}


def validate_form(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """Validate a form against a schema; on failure, return a message per field."""
    try:
        return model.model_validate(blank_to_none(data, model)), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "form"
            errors.setdefault(field.split(".")[0], str(error["msg"]).removeprefix("Value error, "))
        return None, errors


R = TypeVar("R")


@dataclass(frozen=True)
class FormOutcome(Generic[R]):
    """What a submitted form came to: the use case's result, or errors and the status to answer."""

    result: R | None
    errors: dict[str, str]
    status_code: int


def run_form(
    session: Session, model: type[M], data: dict[str, Any], action: Callable[[M], R]
) -> FormOutcome[R]:
    """Validate a form and run its use case; a business error becomes messages for the form.

    Not-found and not-permitted errors propagate (they answer with an error page, not a form).
    """
    body, errors = validate_form(model, data)
    if body is None:
        return FormOutcome(None, errors, 422)
    try:
        return FormOutcome(action(body), {}, 200)
    except OpenCXOError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        session.rollback()
        return FormOutcome(None, exc.field_errors or {"form": exc.message}, exc.status_code)


def submit_form(
    request: Request,
    session: Session,
    model: type[M],
    data: dict[str, Any],
    action: Callable[[M], R],
    *,
    done: str | Callable[[R], str],
    location: str,
    page_again: Callable[[FormOutcome[R]], Response],
) -> Response:
    """Run a page's form: on success a flash (``done``) and a redirect to ``location`` (POST,
    then GET); else ``page_again`` renders the page with the errors next to the fields and the
    input kept."""
    outcome = run_form(session, model, data, action)
    if outcome.errors:
        return page_again(outcome)
    flash(request, done(outcome.result) if callable(done) else done)  # type: ignore[arg-type]
    return RedirectResponse(location, status_code=303)
