"""Template rendering with the layout's context: the user, CSRF token, navigation, flash messages."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import Response

from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.geography import country_name
from opencxo.core.http import csrf_token

_TEMPLATE_PACKAGES = (
    "opencxo.web",
    "opencxo.accounts",
    "opencxo.parties",
    "opencxo.sourcing",
    "opencxo.contracts",
    "opencxo.economics",
    "opencxo.clinical",
    "opencxo.manufacturing",
    "opencxo.process_chemistry",
)


def _loader() -> ChoiceLoader:
    return ChoiceLoader(
        [
            FileSystemLoader(str(resources.files(pkg).joinpath("templates")))
            for pkg in _TEMPLATE_PACKAGES
        ]
    )


def _fmt_date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _money(value: Any, currency: str | None = None) -> str:
    """An amount to the cent with thousands separators, e.g. ``1,234.50 USD``."""
    if value is None or value == "":
        return "—"
    text = f"{Decimal(str(value)):,.2f}"
    return f"{text} {currency}" if currency else text


def _label(value: Any) -> str:
    text = str(getattr(value, "value", value) or "")
    return text.replace("_", " ").capitalize() if text.islower() else text


environment = Environment(loader=_loader(), autoescape=select_autoescape(["html"]))
environment.filters["date"] = _fmt_date
environment.filters["country"] = country_name
environment.filters["label"] = _label
environment.filters["money"] = _money
# Templates show a link only to those the page's own check lets in:
# ``principal.can(Permission.X)`` is the predicate behind the handler's ``principal.require``.
environment.globals["Permission"] = Permission
templates = Jinja2Templates(env=environment)


def flash(request: Request, message: str, category: str = "success") -> None:
    # Assign a new list: Starlette's session notices assignments, not a list changed in place,
    # so a second message queued before the first is shown would otherwise be lost.
    waiting = list(request.session.get("flash", []))
    request.session["flash"] = [*waiting, {"message": message, "category": category}]


def query_with(request: Request, **changes: Any) -> str:
    """The current query string with some parameters replaced (for pagination and sorting)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    status_code: int = 200,
) -> Response:
    principal = principal or getattr(request.state, "principal", None)
    messages = request.session.pop("flash", []) if "session" in request.scope else []
    full = {
        "principal": principal,
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "messages": messages,
        "query_with": lambda **kw: query_with(request, **kw),
        "organizations": getattr(request.state, "organizations", []),
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, full, status_code=status_code)
