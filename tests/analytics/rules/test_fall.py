"""The fall rule (``analytics/rules/fall.py``) on hand-made tracks: the default model's ``Normal`` (upright) and
``Fall`` (on the ground), and the fallen labels of other models.
"""

from __future__ import annotations

from analytics.detections import Detections
from analytics.labels import DEFAULT_MODEL_LABELS, ModelLabels
from analytics.rules import Fall
from registry.rules import FallRule
from sharpeyes.schema import EventType, Severity
from tests.analytics.rules.sequences import at, changes, dets, statuses


def fall_rule(**kw: object) -> Fall:
    return Fall(FallRule(type="fall", name="fall", min_duration_s=2, min_frames=2, **kw))  # type: ignore[arg-type]


LYING = (300.0, 560.0, 460.0, 620.0)  # 160×60 px: a person on the ground (long side 16 % of the frame)


def test_fall_on_a_persistent_person_sized_track_fires_once() -> None:
    upright = dets([at(380, 620)], [1], ["Normal"])
    fallen = dets([LYING], [1], ["Fall"])
    frames = [(0.0, upright), (1.0, upright)] + [(float(t), fallen) for t in range(2, 10)]
    out = changes(fall_rule(), frames)
    assert [(t, inc.status) for t, inc in out] == [(4.0, "started")]
    assert out[0][1].type is EventType.FALL and out[0][1].severity is Severity.CRITICAL
    assert out[0][1].detail == {"fallen_s": 2.0, "frames": 3}


def test_a_single_fall_frame_is_not_a_fall() -> None:
    up = dets([at(380, 620)], [1], ["Normal"])
    frames = [(0.0, up), (1.0, dets([LYING], [1], ["Fall"]))] + [(float(t), up) for t in range(2, 10)]
    assert statuses(fall_rule(), frames) == []


def test_small_fall_box_is_not_a_person() -> None:
    dog = (300.0, 590.0, 340.0, 620.0)  # 40×30 px: the model's 'Fall' on a dog
    frames = [(float(t), dets([dog], [1], ["Fall"])) for t in range(10)]
    assert statuses(fall_rule(require_upright_before=False), frames) == []
    big = [(float(t), dets([LYING], [1], ["Fall"])) for t in range(10)]
    assert statuses(fall_rule(require_upright_before=False), big) == [(2.0, "started")]  # the size gate alone


def test_something_that_never_stood_up_does_not_fall() -> None:
    """vtest.avi: the default model calls a jacket lying on the lawn 'Fall' in almost every frame."""
    jacket = [(float(t), dets([LYING], [1], ["Fall"])) for t in range(30)]
    assert statuses(fall_rule(), jacket) == []


def test_upright_elsewhere_or_long_ago_is_not_a_fall() -> None:
    far_up = dets([at(900, 300)], [1], ["Normal"])  # 600 px away from where the track then lies
    fallen = dets([LYING], [1], ["Fall"])
    assert statuses(fall_rule(), [(0.0, far_up)] + [(float(t), fallen) for t in range(1, 10)]) == []
    near_up = dets([at(380, 620)], [1], ["Normal"])
    long_ago = [(0.0, near_up)] + [(float(t), dets([], [])) for t in range(1, 3)] + \
        [(float(t), fallen) for t in range(12, 20)]
    assert statuses(fall_rule(), long_ago) == []  # upright 12 s before: beyond upright_window_s (10 s)


def test_fall_box_much_smaller_than_the_same_track_upright_is_not_a_fall() -> None:
    tall = dets([at(380, 900, w=120, h=400)], [1], ["Normal"])  # 400 px tall upright
    small = dets([(350.0, 840.0, 470.0, 900.0)], [1], ["Fall"])  # long side 120 < 0.5 × 400
    frames = [(0.0, tall)] + [(float(t), small) for t in range(1, 10)]
    assert statuses(fall_rule(), frames) == []


def test_fall_ends_when_the_person_is_up() -> None:
    fallen, up = dets([LYING], [1], ["Fall"]), dets([at(380, 620)], [1], ["Normal"])
    frames = [(-1.0, up)] + [(float(t), fallen) for t in range(0, 4)] + [(float(t), up) for t in range(4, 20)]
    out = changes(fall_rule(clear_after_s=5), frames)
    assert [(t, inc.status) for t, inc in out] == [(2.0, "started"), (8.0, "ended")]


# ------------------------------------------------------------------------------------------ labels of the model


FALL_MODEL = ModelLabels.from_names(["person", "fallen"])  # an operator's person/fall model
COCO = ModelLabels.from_names(["person", "car", "dog"])


def test_fallen_labels_come_from_the_detections_model() -> None:
    """Without ``fall_labels`` the rule uses the fallen labels of the model that made the detections, not a
    constant ``Fall``: another model's ``fallen`` is a fall, and a COCO model has none to fire on."""
    def frames(model: ModelLabels, up: str, down: str) -> list[tuple[float, Detections]]:
        return ([(0.0, dets([at(380, 620)], [1], [up], model))]
                + [(float(t), dets([LYING], [1], [down], model)) for t in range(1, 10)])

    assert statuses(fall_rule(), frames(FALL_MODEL, "person", "fallen")) == [(3.0, "started")]
    assert statuses(fall_rule(), frames(COCO, "person", "person")) == []
    assert statuses(fall_rule(), frames(DEFAULT_MODEL_LABELS, "Normal", "Fall")) == [(3.0, "started")]


def test_fall_labels_in_the_rule_override_the_models() -> None:
    model = ModelLabels.from_names(["person", "fall", "fallen"])
    seq = [(0.0, dets([at(380, 620)], [1], ["person"], model))]
    seq += [(float(t), dets([LYING], [1], ["fall"], model)) for t in range(1, 10)]
    assert statuses(fall_rule(), seq) == [(3.0, "started")]
    assert statuses(fall_rule(fall_labels=["fallen"]), seq) == []  # only 'fallen' is a fall for this rule
