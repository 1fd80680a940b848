"""Dependencies of HTML pages: the signed-in user and the organisations the layout shows."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from opencxo.core.auth.principal import Principal
from opencxo.core.http import DbSession, WebPrincipal
from opencxo.parties import service as parties


def _page_user(request: Request, session: DbSession, principal: WebPrincipal) -> Principal:
    request.state.principal = principal
    request.state.organizations = list(parties.my_organizations(session, principal))
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


def blank_to_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if v == "" else v) for k, v in data.items()}


def validate_form(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """Validate a form against a schema; on failure, return a message per field."""
    try:
        return model.model_validate(blank_to_none(data)), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "form"
            errors.setdefault(field.split(".")[0], str(error["msg"]).removeprefix("Value error, "))
        return None, errors
