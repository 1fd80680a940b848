"""What every ``opencxo`` command shares: one-line errors, the configured settings, one
transaction per command, and the acting user of commands that change or read tenant data."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import ValidationError

from opencxo.core.errors import OpenCXOError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from opencxo.core.auth.principal import Principal
    from opencxo.core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def user_errors(func: F) -> F:
    """Turn a user's mistake into one line on stderr and exit code 1, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OpenCXOError as exc:
            raise fail(exc.message) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise fail(f"{where}: {first['msg']}" if where else str(first["msg"])) from None

    return wrapper  # type: ignore[return-value]


def settings() -> Settings:
    from opencxo.core.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise fail(f"configuration: OPENCXO_{field.upper()}: {first['msg']}") from None


def unit_of_work_from_settings() -> AbstractContextManager[Session]:
    """One transaction against the configured database, with every model mapped."""
    import opencxo.models  # noqa: F401 - registers every table, so relationships resolve
    from opencxo.core.db import get_engine, unit_of_work

    settings()
    return unit_of_work(get_engine())


def acting_principal(session: Session, email: str) -> Principal:
    """The user a command acts as (``--as EMAIL``): that user's memberships and permissions
    apply exactly as in the web UI and the API."""
    from opencxo.core.auth import repository as auth_repository
    from opencxo.core.auth import service as auth

    user = auth_repository.user_by_email(session, email.strip().lower())
    if user is None or not user.is_active:
        raise fail(f"--as {email}: no active user with that email")
    return auth.principal_for(session, user)
