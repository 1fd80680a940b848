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
    PROGRAMS_READ = "programs:read"
    PROGRAMS_WRITE = "programs:write"
    RFPS_READ = "rfps:read"
    RFPS_WRITE = "rfps:write"
    RFPS_AWARD = "rfps:award"
    BIDS_READ = "bids:read"
    BIDS_WRITE = "bids:write"
    CONTRACTS_READ = "contracts:read"
    CONTRACTS_WRITE = "contracts:write"
    CONTRACTS_SIGN = "contracts:sign"
    PAYMENTS_WRITE = "payments:write"
    DISRUPTIONS_READ = "disruptions:read"
    DISRUPTIONS_WRITE = "disruptions:write"
    STUDIES_READ = "studies:read"
    STUDIES_WRITE = "studies:write"
    MANUFACTURING_READ = "manufacturing:read"
    MANUFACTURING_WRITE = "manufacturing:write"
    BATCHES_RELEASE = "batches:release"
    CHEMISTRY_READ = "chemistry:read"
    CHEMISTRY_WRITE = "chemistry:write"


_EVERYONE = {
    Permission.ORGANIZATIONS_READ,
    Permission.QUALIFICATIONS_READ,
    Permission.PROGRAMS_READ,
    Permission.RFPS_READ,
    Permission.BIDS_READ,
    Permission.CONTRACTS_READ,
    Permission.DISRUPTIONS_READ,
    Permission.STUDIES_READ,
    Permission.MANUFACTURING_READ,
    Permission.CHEMISTRY_READ,
}
_SOURCING_WORK = {
    Permission.PROGRAMS_WRITE,
    Permission.RFPS_WRITE,
    Permission.BIDS_WRITE,
    Permission.CONTRACTS_WRITE,
    Permission.DISRUPTIONS_WRITE,
    Permission.STUDIES_WRITE,
    Permission.MANUFACTURING_WRITE,
    Permission.CHEMISTRY_WRITE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MANAGER: frozenset(
        _EVERYONE
        | _SOURCING_WORK
        | {
            Permission.ORGANIZATIONS_WRITE,
            Permission.QUALIFICATIONS_WRITE,
            Permission.USERS_READ,
            Permission.RFPS_AWARD,
            Permission.CONTRACTS_SIGN,
            Permission.PAYMENTS_WRITE,
        }
    ),
    Role.QA: frozenset(
        _EVERYONE
        | {Permission.QUALIFICATIONS_WRITE, Permission.AUDIT_READ, Permission.BATCHES_RELEASE}
    ),
    Role.MEMBER: frozenset(_EVERYONE | _SOURCING_WORK),
    Role.VIEWER: frozenset(_EVERYONE),
}
