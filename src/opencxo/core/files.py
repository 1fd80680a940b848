"""Stored files (attachments, deliverables): content-addressed on disk, SHA-256 checked on read."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, Integer, String, Uuid
from sqlalchemy.orm import Mapped, Session, mapped_column

from opencxo.core.db import Base, IdMixin
from opencxo.core.errors import Conflict, Invalid
from opencxo.core.settings import get_settings
from opencxo.core.types import utcnow

MAX_FILE_BYTES = 50 * 1024 * 1024


class StoredFile(IdMixin, Base):
    __tablename__ = "stored_files"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid(), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size_bytes: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_at: Mapped[datetime]
    uploaded_by: Mapped[uuid.UUID] = mapped_column(Uuid())


def _path(sha256: str) -> Path:
    root = Path(get_settings().files_dir)
    return root / sha256[:2] / sha256


def store(
    session: Session,
    *,
    organization_id: uuid.UUID,
    uploaded_by: uuid.UUID,
    filename: str,
    content_type: str,
    content: bytes,
) -> StoredFile:
    """Keep a file's bytes under their SHA-256 and record who uploaded what."""
    name = Path(filename or "").name.strip()
    if not name:
        raise Invalid("the file needs a name", field_errors={"file": "choose a file"})
    if not content:
        raise Invalid(f"{name} is empty", field_errors={"file": "the file is empty"})
    if len(content) > MAX_FILE_BYTES:
        raise Invalid(
            f"{name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
            field_errors={"file": "too large"},
        )
    digest = hashlib.sha256(content).hexdigest()
    path = _path(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{uuid.uuid4().hex}.part")
        temporary.write_bytes(content)
        temporary.replace(path)  # atomic: a reader never sees half a file
    stored = StoredFile(
        organization_id=organization_id,
        filename=name[:255],
        content_type=(content_type or "application/octet-stream")[:120],
        size_bytes=len(content),
        sha256=digest,
        uploaded_at=utcnow(),
        uploaded_by=uploaded_by,
    )
    session.add(stored)
    session.flush()
    return stored


def read_verified(stored: StoredFile) -> bytes:
    """The file's bytes, refused if they no longer match the recorded SHA-256."""
    path = _path(stored.sha256)
    if not path.exists():
        raise Conflict(f"{stored.filename} is missing from the file store")
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != stored.sha256:
        raise Conflict(f"{stored.filename} does not match its recorded SHA-256; it was altered")
    return content
