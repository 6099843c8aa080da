"""What one hub process runs (:class:`Roles`), chosen by the command that starts it; a core contract with no
behaviour (``sharpeyes.hub`` and ``sharpeyes.components`` act on it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Roles:
    """What one process runs: ``sharpeyes run`` everything; ``sharpeyes worker`` the cameras (ingest and analytics
    of those it leases); ``sharpeyes api`` the API and web app. ``singletons`` (archiver, SLA escalator, retention,
    platform bridge): ``here`` (a single hub), ``locked`` (only while this node holds the singleton lock,
    ``sharpeyes.singletons``) or ``none``."""

    cameras: bool = True
    api: bool = True
    singletons: Literal["here", "locked", "none"] = "here"
