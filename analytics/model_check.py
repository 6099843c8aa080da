"""Whether each camera's model can serve its rules: the check behind ``sharpeyes check-config`` and the hub's
refusal to start such cameras.

Owns the check only: it reads registry camera records it is given (never the database) and model class names from
the models folder (never loading a model).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from analytics.detector import ModelError, model_labels
from analytics.rules import RuleClassError, check_rule_classes
from registry.config import TypeAdapterRules
from registry.models import Camera
from sharpeyes.settings import Settings

log = logging.getLogger(__name__)


def camera_model_problems(settings: Settings, cameras: Iterable[Camera], labels: dict[str, set[str]], *,
                          strict_default: bool = True) -> list[str]:
    """One line per camera that names a model which is not there, or has rules needing classes its model lacks
    (e.g. illegal parking with the default person/fall model). ``labels`` caches class names per model name;
    with ``strict_default`` off, a default model that cannot be read is skipped (check-config before `make`)."""
    problems: list[str] = []
    for cam in cameras:
        rules = TypeAdapterRules.validate_python(cam.rules)
        if not rules and cam.detector_model is None:
            continue
        name = cam.detector_model or settings.detector.model
        if name not in labels:
            try:
                labels[name] = model_labels(settings.detector.model_copy(update={"model": name}), settings.model_dir)
            except ModelError as exc:
                if cam.detector_model is not None or strict_default:
                    problems.append(f"camera {cam.id}: detector_model {name!r}: {exc}")
                else:
                    log.warning("rule classes of camera %s not checked: %s", cam.id, exc)
                continue
        problems += check_rule_classes(cam.id, rules, labels[name])
    return problems


def refuse_unserved_rules(settings: Settings, cameras: Iterable[Camera], labels: dict[str, set[str]], *,
                          strict_default: bool = True) -> None:
    """Raise :class:`RuleClassError` listing :func:`camera_model_problems`, when there are any."""
    problems = camera_model_problems(settings, cameras, labels, strict_default=strict_default)
    if problems:
        raise RuleClassError("rules refused:\n" + "\n".join(f"  {p}" for p in problems))
