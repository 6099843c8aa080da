"""Roles, the permissions each grants, and the principal a request acts as.

Owns only the vocabulary: which role may do what. Scope (which jurisdictions) is the principal's node and its
subtree, resolved by :class:`identity.store.IdentityStore`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    """综治中心值班员: reads and acts on events delivered to their center; reads those of the centers below."""
    TECHNICIAN = "technician"
    """Registers, probes, edits, disables and removes cameras in the subtree; no event content or snapshots."""
    AUDITOR = "auditor"
    """The four-all audit and the access log of the subtree; read-only; no snapshots."""
    ADMIN = "admin"
    """Users and everything else."""


class Permission(StrEnum):
    EVENTS_READ = "events:read"
    EVENTS_ACT = "events:act"
    SNAPSHOTS_READ = "snapshots:read"
    CAMERAS_READ = "cameras:read"
    CAMERAS_WRITE = "cameras:write"
    CAMERAS_EXPORT = "cameras:export"
    AUDIT_READ = "audit:read"
    ACCESS_LOG_READ = "access_log:read"
    OPS_READ = "ops:read"
    USERS_ADMIN = "users:admin"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset({Permission.EVENTS_READ, Permission.EVENTS_ACT, Permission.SNAPSHOTS_READ,
                              Permission.CAMERAS_READ}),
    Role.TECHNICIAN: frozenset({Permission.CAMERAS_READ, Permission.CAMERAS_WRITE, Permission.CAMERAS_EXPORT,
                                Permission.OPS_READ}),
    Role.AUDITOR: frozenset({Permission.AUDIT_READ, Permission.ACCESS_LOG_READ, Permission.CAMERAS_READ,
                             Permission.EVENTS_READ, Permission.OPS_READ}),
    Role.ADMIN: frozenset(Permission),
}
"""What each role may do (deny by default: a permission not listed is refused)."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a person logged in, or an API token an admin issued (same fields)."""

    login: str
    display_name: str
    unit: str
    role: Role
    jurisdiction: str
    scope: frozenset[str] = field(default_factory=frozenset)
    """The jurisdiction node and every node below it."""
    kind: str = "user"
    """``user`` (password login) or ``token`` (API token)."""

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def sees(self, code: str | None) -> bool:
        """True when ``code`` (a jurisdiction or center code) is in the principal's subtree; admins see all."""
        return self.role is Role.ADMIN or (code is not None and code in self.scope)

    @property
    def permissions(self) -> list[str]:
        return sorted(p.value for p in ROLE_PERMISSIONS[self.role])
