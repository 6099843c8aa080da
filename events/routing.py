"""Routing policy (data, not code): which centers receive an event, by severity and type.

A camera's path is [county, township, village]; each tier maps to the node of that tier on the path, or, when
that node hosts no center, to the nearest ancestor that does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from sharpeyes.schema import Event, EventType, Severity
from sharpeyes.strict import StrictModel

Tier = Literal["village", "township", "county"]
_TIER_LEN: dict[str, tuple[int, ...]] = {"county": (6,), "township": (9,), "village": (12, 15)}


class RoutingPolicy(StrictModel):
    severity_tiers: dict[Severity, list[Tier]] = Field(description="Tiers receiving events of each severity.")
    type_tiers: dict[EventType, list[Tier]] = Field(
        default_factory=dict, description="Overrides by event type (take precedence over severity)."
    )
    sla_s: dict[Severity, float] = Field(
        default_factory=dict,
        description="Seconds an event may stay unacknowledged before it is escalated one tier up (once).",
    )

    @classmethod
    def load(cls, path: Path | None = None) -> RoutingPolicy:
        """The policy in ``path``, or the built-in ``events/routing.yaml``. Errors name the file and field."""
        return cls.from_yaml_file(path, package="events", default="routing.yaml")

    def tiers(self, event_type: EventType, severity: Severity) -> list[Tier]:
        if event_type in self.type_tiers:
            return self.type_tiers[event_type]
        return self.severity_tiers.get(severity, ["village"])


class Router:
    """Resolves an event to center codes, given which jurisdiction nodes host a center."""

    def __init__(self, policy: RoutingPolicy, center_codes: set[str]) -> None:
        self.policy = policy
        self.center_codes = set(center_codes)

    def centers_for(self, event: Event) -> list[str]:
        path = event.civil_codes
        out: list[str] = []
        for tier in self.policy.tiers(event.type, event.severity):
            # deepest node of this tier's level or above
            idx = max((i for i, c in enumerate(path) if len(c) <= max(_TIER_LEN[tier])), default=-1)
            while idx >= 0 and path[idx] not in self.center_codes:
                idx -= 1
            if idx >= 0 and path[idx] not in out:
                out.append(path[idx])
        return out

    def escalation_target(self, event: Event, reached: list[str]) -> str | None:
        """The center one tier above the highest center ``reached`` on the event's path, or None at the top."""
        path = event.civil_codes
        indices = [path.index(c) for c in reached if c in path]
        if not indices:
            return None
        idx = min(indices) - 1
        while idx >= 0 and path[idx] not in self.center_codes:
            idx -= 1
        return path[idx] if idx >= 0 else None
