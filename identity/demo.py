"""Demo accounts for ``sharpeyes run --demo``: one per role on the demo jurisdictions, random passwords.

The passwords are printed once, when the accounts are created, and kept in ``data/demo-accounts.txt`` (mode 0600)
so a newcomer can log in at once; a later start reuses the accounts and the file.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from identity.store import IdentityStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoAccount:
    login: str
    role: str
    jurisdiction: str
    unit: str
    display_name: str


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("admin", "admin", "140429", "武乡县综治中心", "管理员"),
    DemoAccount("op-village", "operator", "140429100001", "示范社区综治中心", "社区值班员"),
    DemoAccount("op-fengzhou", "operator", "140429100", "丰州镇综治中心", "丰州镇值班员"),
    DemoAccount("op-hongshui", "operator", "140429101", "洪水镇综治中心", "洪水镇值班员"),
    DemoAccount("op-county", "operator", "140429", "武乡县综治中心", "县中心值班员"),
    DemoAccount("tech", "technician", "140429", "县公安局科技通信科", "运维技术员"),
    DemoAccount("auditor", "auditor", "140429", "县委政法委", "审计员"),
)


def ensure_demo_accounts(store: IdentityStore, path: Path) -> list[tuple[DemoAccount, str]]:
    """Create the demo accounts that are missing (and whose jurisdiction exists); append them with their passwords
    to ``path`` (created 0600). Returns the accounts created now, with their passwords."""
    created: list[tuple[DemoAccount, str]] = []
    known = {u.login for u in store.users()}
    for acc in DEMO_ACCOUNTS:
        if acc.login in known or not store.node_exists(acc.jurisdiction):
            continue
        password = secrets.token_urlsafe(12)
        store.add_user(acc.login, role=acc.role, jurisdiction=acc.jurisdiction, password=password, unit=acc.unit,
                       display_name=acc.display_name)
        created.append((acc, password))
    if created:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            for acc, password in created:
                f.write(f"{acc.login}\t{password}\t{acc.role}\t{acc.jurisdiction}\t{acc.unit}\n")
        os.chmod(path, 0o600)
    return created

