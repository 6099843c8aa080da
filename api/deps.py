"""What the HTTP API is given by whoever serves it: the hub's own settings, registry, archive, identity store,
Redis client...

Owns the one :class:`ApiDeps` record every router is built from (and that ``create_app`` keeps on
``app.state.api_deps`` for the request dependencies of ``api/auth.py``), so the API reads exactly what the hub it
serves uses (never settings, a vault or a database of its own from the environment). Builds nothing itself; must
not import the composition root (``sharpeyes.hub``, ``sharpeyes.components``, ``sharpeyes.cli``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis

from events.archive import Archive
from events.escalation import Escalator
from identity.store import IdentityStore
from registry.service import CameraService
from registry.store import Registry
from sharpeyes.keys import Keys
from sharpeyes.settings import Settings
from sharpeyes.supervisor import Supervisor


@dataclass(frozen=True)
class ApiDeps:
    """The parts the API reads and acts through, all owned (opened and closed) by the caller."""

    settings: Settings
    """The hub's settings: the audit's targets, retention and timezone."""
    registry: Registry
    """Jurisdictions, centers and cameras."""
    cameras: CameraService
    """Camera registration (the same code path as the CLI), with the hub's vault."""
    redis: redis.Redis
    """The hub's Redis: event streams and camera states."""
    keys: Keys
    """Redis key names (the hub's prefix)."""
    archive: Archive
    """Archived events, their action log, and the access log."""
    snapshot_dir: Path
    """Folder of the event snapshots served under ``/snapshots/``."""
    identity: IdentityStore
    """Accounts, sessions and API tokens: who a request acts as, and the jurisdiction subtree it may see."""
    escalator: Escalator | None = None
    """Escalation by hand; ``None`` where escalation is not running in this process (503)."""
    supervisor: Supervisor | None = None
    """The hub's workers, for ``/api/health``; ``None``: no workers reported."""
