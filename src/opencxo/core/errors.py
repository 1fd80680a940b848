"""Typed errors raised by services; each carries the HTTP status the boundary answers with."""

from __future__ import annotations

from collections.abc import Mapping


class OpenCXOError(Exception):
    """Base of every error a user can cause; ``message`` says what to fix."""

    status_code = 400
    title = "Bad request"

    def __init__(self, message: str, *, field_errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors: dict[str, str] = dict(field_errors or {})


class NotAuthenticated(OpenCXOError):
    status_code = 401
    title = "Not authenticated"


class NotPermitted(OpenCXOError):
    status_code = 403
    title = "Not permitted"


class NotFound(OpenCXOError):
    status_code = 404
    title = "Not found"


class Conflict(OpenCXOError):
    """A stale version, a duplicate, or an action the record's state does not allow."""

    status_code = 409
    title = "Conflict"


class Invalid(OpenCXOError):
    """A business rule the input breaks; ``field_errors`` name the fields."""

    status_code = 422
    title = "Invalid input"


class TooManyAttempts(OpenCXOError):
    status_code = 429
    title = "Too many attempts"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


STALE_RECORD = "the record was changed by someone else while you worked; reload and try again"
"""What a write answers when its record changed since it was read (whoever notices it)."""


def check_version(entity: str, current: int, expected: int | None) -> None:
    """Refuse a write based on an out-of-date read (optimistic locking)."""
    if expected is not None and expected != current:
        raise Conflict(
            f"{entity} was changed by someone else (version {current}, you sent {expected}); "
            "reload it and apply your change again"
        )
