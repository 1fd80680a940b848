"""Roles and the permissions they grant, named ``capability:verb``."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    MEMBER = "member"
    QA = "qa"
    VIEWER = "viewer"


class Permission(StrEnum):
    ORGANIZATIONS_READ = "organizations:read"
    ORGANIZATIONS_WRITE = "organizations:write"
    QUALIFICATIONS_READ = "qualifications:read"
    QUALIFICATIONS_WRITE = "qualifications:write"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"


_EVERYONE = {Permission.ORGANIZATIONS_READ, Permission.QUALIFICATIONS_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MANAGER: frozenset(
        _EVERYONE
        | {Permission.ORGANIZATIONS_WRITE, Permission.QUALIFICATIONS_WRITE, Permission.USERS_READ}
    ),
    Role.QA: frozenset(_EVERYONE | {Permission.QUALIFICATIONS_WRITE, Permission.AUDIT_READ}),
    Role.MEMBER: frozenset(_EVERYONE),
    Role.VIEWER: frozenset(_EVERYONE),
}
