"""Rules turn tracked detections into incidents, and each incident into one event that is updated, not many.

One module per rule family, the configuration models in ``registry/rules.py``: ``base`` (Incident, Rule, Zone,
schedules, the model-class check), ``zone`` (intrusion, loitering, crowd gathering), ``line`` (line crossing),
``fall`` and ``stationary`` (illegal parking, left object). :func:`build_rules` makes a camera's rule objects.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from analytics.rules.base import Incident, Rule, RuleClassError, Zone, check_rule_classes, in_schedule
from analytics.rules.fall import Fall
from analytics.rules.line import LineCrossing
from analytics.rules.stationary import IllegalParking, LeftObject
from analytics.rules.zone import CrowdGathering, Loitering, ZoneIntrusion
from registry.rules import (
    AnyRule,
    CrowdGatheringRule,
    FallRule,
    IllegalParkingRule,
    LeftObjectRule,
    LineCrossingRule,
    LoiteringRule,
    ZoneIntrusionRule,
)

__all__ = ["CrowdGathering", "Fall", "IllegalParking", "Incident", "LeftObject", "LineCrossing", "Loitering",
           "Rule", "RuleClassError", "Zone", "ZoneIntrusion", "build_rules", "check_rule_classes", "in_schedule"]

_RULES: dict[type, type[Rule]] = {
    ZoneIntrusionRule: ZoneIntrusion,
    LoiteringRule: Loitering,
    CrowdGatheringRule: CrowdGathering,
    LineCrossingRule: LineCrossing,
    FallRule: Fall,
    IllegalParkingRule: IllegalParking,
    LeftObjectRule: LeftObject,
}


def build_rules(configs: list[AnyRule], tz: ZoneInfo | None = None) -> list[Rule]:
    """One rule object per config, evaluating schedules in ``tz`` (the hub's timezone; UTC when unset)."""
    return [_RULES[type(cfg)](cfg, tz) for cfg in configs]  # type: ignore[arg-type]
