"""``Idempotency-Key`` on API POSTs: a retried POST replays the first answer, creates nothing twice.

The first request with a key claims it (a row in ``idempotency_records``); its response is stored
when it completes. A retry with the same key and the same request gets the stored response; with a
different request, 422; while the first is still running, 409. Keys are scoped to the caller's
credentials, so two users cannot collide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from opencxo.core.db import Base, IdMixin
from opencxo.core.types import utcnow

KEEP_FOR = timedelta(hours=24)
HEADER = "Idempotency-Key"
# Stored instead of the content type of an answer sent with ``Cache-Control: no-store`` (a new
# API token's plain text): its body is not kept, so a secret shown once is not in the database.
WITHHELD = "withheld"


class IdempotencyRecord(IdMixin, Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    status_code: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)


def _problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(json.dumps(body), status, media_type="application/problem+json")


class IdempotencyMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, *, sessions: sessionmaker[Session], prefix: str) -> None:
        super().__init__(app)
        self._sessions = sessions
        self._prefix = prefix

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None or not request.url.path.startswith(self._prefix):
            return await call_next(request)
        if not key or len(key) > 200:
            return _problem(422, "Invalid Idempotency-Key", "use a key of 1–200 characters")
        credentials = request.headers.get("authorization", "")
        scope = hashlib.sha256(credentials.encode()).hexdigest()
        body = await request.body()
        fingerprint = hashlib.sha256(
            request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
        ).hexdigest()
        claimed = await run_in_threadpool(self._claim, scope, key, fingerprint)
        if isinstance(claimed, Response):
            return claimed
        response = await call_next(request)
        content = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        secret = "no-store" in response.headers.get("cache-control", "")
        await run_in_threadpool(
            self._finish,
            scope,
            key,
            response.status_code,
            WITHHELD if secret else response.media_type,
            b"" if secret else content,
        )
        return Response(
            content,
            response.status_code,
            headers={k: v for k, v in response.headers.items() if k != "content-length"},
        )

    def _claim(self, scope: str, key: str, fingerprint: str) -> Response | None:
        with self._sessions() as session:
            session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - KEEP_FOR)
            )
            existing = session.execute(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            ).scalar_one_or_none()
            if existing is None:
                session.add(
                    IdempotencyRecord(
                        scope=scope, key=key, request_sha256=fingerprint, created_at=utcnow()
                    )
                )
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    return _problem(
                        409, "Request in progress", "a request with this key is running"
                    )
                return None
            session.commit()
            if existing.request_sha256 != fingerprint:
                return _problem(
                    422,
                    "Idempotency-Key reused",
                    "this Idempotency-Key was used for a different request; use a new key",
                )
            if existing.status_code is None:
                return _problem(
                    409, "Request in progress", "a request with this Idempotency-Key is running"
                )
            if existing.content_type == WITHHELD:
                return _problem(
                    409,
                    "Answer not kept",
                    f"the request with this Idempotency-Key succeeded ({existing.status_code}); "
                    "its answer held a secret that is shown only once and was not stored. "
                    "List what it created and revoke it if the answer was lost",
                )
            response = Response(
                existing.body or b"", existing.status_code, media_type=existing.content_type
            )
            response.headers["Idempotent-Replayed"] = "true"
            return response

    def _finish(
        self, scope: str, key: str, status: int, content_type: str | None, body: bytes
    ) -> None:
        with self._sessions() as session:
            record = session.execute(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            ).scalar_one()
            if status >= 500:
                session.delete(record)  # let the client retry a failure of ours
            else:
                record.status_code = status
                record.content_type = content_type
                record.body = body
            session.commit()
