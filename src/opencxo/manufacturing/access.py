"""Who may read and write manufacturing rows — one rule for every part of the capability.

* The provider (the CDMO, ``provider_id``) reads everything of its plants with
  ``manufacturing:read`` and writes with ``manufacturing:write``; QA disposition takes
  ``batches:release``.
* The sponsor named on a product, order or batch (``sponsor_id``) reads that row, and the
  schedule slots of its own batches; nothing of other sponsors, nothing of the plant's
  other rows.
* Anyone else gets 404 (existence does not leak); a party without the permission gets 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, false, or_
from sqlalchemy.orm import InstrumentedAttribute

from opencxo.core.auth.permissions import Permission
from opencxo.core.auth.principal import Principal
from opencxo.core.errors import NotFound, NotPermitted


def readers(principal: Principal) -> frozenset[uuid.UUID]:
    """Organisations whose manufacturing rows the principal may read."""
    return principal.organizations_with(Permission.MANUFACTURING_READ)


def read_filter(
    principal: Principal,
    provider_column: InstrumentedAttribute[uuid.UUID],
    sponsor_column: InstrumentedAttribute[uuid.UUID] | None = None,
) -> ColumnElement[bool]:
    """WHERE clause: rows the principal's provider runs, or (given a sponsor column) rows made
    for the principal's sponsor organisation."""
    ids = list(readers(principal))
    if not ids:
        return false()
    if sponsor_column is None:
        return provider_column.in_(ids)
    return or_(provider_column.in_(ids), sponsor_column.in_(ids))


def is_provider_side(principal: Principal, provider_id: uuid.UUID) -> bool:
    """The principal belongs to the provider that runs the row (reads it whole)."""
    return provider_id in principal.organization_ids


def require_readable(
    principal: Principal,
    what: str,
    provider_id: uuid.UUID,
    sponsor_id: uuid.UUID | None = None,
) -> None:
    """404 unless the principal reads rows of this provider (or is the row's sponsor)."""
    visible = readers(principal)
    if provider_id in visible or (sponsor_id is not None and sponsor_id in visible):
        return
    raise NotFound(f"{what} not found")


def require(
    principal: Principal,
    permission: Permission,
    what: str,
    provider_id: uuid.UUID,
    sponsor_id: uuid.UUID | None = None,
) -> None:
    """404 when the principal cannot see the row at all; 403 when it sees it but its role in
    the provider lacks ``permission`` (a sponsor never writes plant rows)."""
    require_readable(principal, what, provider_id, sponsor_id)
    if not principal.can(permission, provider_id):
        raise NotPermitted(f"your role does not grant {permission.value} at this plant's provider")


def writable_providers(principal: Principal) -> frozenset[uuid.UUID]:
    return principal.organizations_with(Permission.MANUFACTURING_WRITE)


def only_provider(principal: Principal, candidates: Iterable[uuid.UUID]) -> uuid.UUID | None:
    """The one provider among ``candidates`` the principal belongs to, if exactly one."""
    mine = [c for c in candidates if c in principal.organization_ids]
    return mine[0] if len(mine) == 1 else None
