"""The acting user and what they may do in which organisation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from opencxo.core.auth.permissions import ROLE_PERMISSIONS, Permission, Role
from opencxo.core.errors import NotPermitted


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    email: str
    full_name: str
    is_operator: bool = False
    roles: dict[uuid.UUID, Role] = field(default_factory=dict)

    @property
    def organization_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(self.roles)

    def can(self, permission: Permission, organization_id: uuid.UUID | None = None) -> bool:
        """True when some membership (or the given organisation's) grants ``permission``."""
        if self.is_operator:
            return True
        if organization_id is not None:
            role = self.roles.get(organization_id)
            return role is not None and permission in ROLE_PERMISSIONS[role]
        return any(permission in ROLE_PERMISSIONS[role] for role in self.roles.values())

    def require(self, permission: Permission, organization_id: uuid.UUID | None = None) -> None:
        if not self.can(permission, organization_id):
            raise NotPermitted(f"your role does not grant {permission.value}")

    def organizations_with(self, permission: Permission) -> frozenset[uuid.UUID]:
        return frozenset(
            org for org, role in self.roles.items() if permission in ROLE_PERMISSIONS[role]
        )
