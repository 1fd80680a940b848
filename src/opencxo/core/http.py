"""FastAPI dependencies shared by every capability: the transaction, the principal, CSRF."""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from opencxo.core.auth.principal import Principal
from opencxo.core.auth.service import principal_for_token, principal_for_user_id
from opencxo.core.errors import NotAuthenticated, OpenCXOError
from opencxo.core.files import StoredFile

SESSION_USER_KEY = "user_id"
SESSION_CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(OpenCXOError):
    """A web page was asked for without a session; the web layer redirects to the login page."""

    status_code = 401
    title = "Log in to continue"


class CsrfFailed(OpenCXOError):
    status_code = 403
    title = "Form expired"


def _transaction(request: Request) -> Iterator[Session]:
    """The request is the boundary: it commits on success and rolls back on any error."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    session = sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is sent, so a failed commit is the answer.
DbSession = Annotated[Session, Depends(_transaction, scope="function")]


def _api_principal(request: Request, session: DbSession) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("send an API token as 'Authorization: Bearer <token>'")
    principal = principal_for_token(session, token.strip())
    if principal is None:
        raise NotAuthenticated("the API token is unknown or revoked")
    return principal


ApiPrincipal = Annotated[Principal, Depends(_api_principal)]


def _web_principal(request: Request, session: DbSession) -> Principal:
    raw = request.session.get(SESSION_USER_KEY)
    principal = None
    if raw:
        try:
            principal = principal_for_user_id(session, uuid.UUID(raw))
        except ValueError:
            principal = None
    if principal is None:
        request.session.pop(SESSION_USER_KEY, None)
        raise LoginRequired("log in to continue")
    return principal


WebPrincipal = Annotated[Principal, Depends(_web_principal)]


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_CSRF_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF_KEY] = token
    return str(token)


async def verify_csrf(request: Request) -> None:
    """Every state-changing web request carries the session's CSRF token (form field or header)."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = request.session.get(SESSION_CSRF_KEY)
    if not sent or not expected or not hmac.compare_digest(str(sent), str(expected)):
        raise CsrfFailed("this form has expired or did not come from OpenCXO; reload and try again")


CsrfProtected = Depends(verify_csrf)


def attachment(stored: StoredFile, content: bytes) -> Response:
    """A stored file as a download, with its SHA-256 and a name header that survives quotes and
    non-ASCII names (RFC 6266 / 5987)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in stored.filename
    )
    disposition = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(stored.filename, safe='')}"
    )
    return Response(
        content,
        media_type=stored.content_type,
        headers={"Content-Disposition": disposition, "X-Content-SHA256": stored.sha256},
    )
