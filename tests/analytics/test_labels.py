"""ModelLabels: what a model's class names mean (persons, persons on the ground), for the default model by its
metadata and for any other model from its class names; and how detections, tracks and the detector carry it."""

from __future__ import annotations

import numpy as np

from analytics.detections import Detections, canonical_class
from analytics.detector import DEFAULT_MODEL, labels_of
from analytics.labels import DEFAULT_MODEL_LABELS, ModelLabels
from analytics.tracker import ByteTracker

COCO = ModelLabels.from_names(["person", "bicycle", "car", "dog", "suitcase"])


def test_default_model_metadata() -> None:
    assert DEFAULT_MODEL_LABELS.person_labels == {"Normal", "Fall"}
    assert DEFAULT_MODEL_LABELS.fallen_labels == {"Fall"}
    assert labels_of(DEFAULT_MODEL, ["Normal", "Fall"]) is DEFAULT_MODEL_LABELS
    # reading the default model's names gives the same meaning: the two cannot drift apart unnoticed
    assert ModelLabels.from_names(["Normal", "Fall"]) == DEFAULT_MODEL_LABELS


def test_coco_model_has_persons_and_no_fallen_labels() -> None:
    assert COCO.person_labels == {"person"} and COCO.fallen_labels == frozenset()
    assert [COCO.canonical(n) for n in ("person", "car", "Fall")] == ["person", "car", "Fall"]
    assert labels_of("yolo11n", ["person", "car"]) == ModelLabels.from_names(["person", "car"])


def test_fallen_and_upright_names_of_other_models() -> None:
    fall_model = ModelLabels.from_names(["person", "fallen", "bicycle"])
    assert fall_model.person_labels == {"person", "fallen"} and fall_model.fallen_labels == {"fallen"}
    assert ModelLabels.from_names(["normal", "fall"]).person_labels == {"normal", "fall"}
    # 'normal' is an upright person only next to a fallen class; alone it is the model's own word
    assert ModelLabels.from_names(["normal", "defect"]).person_labels == frozenset()


def test_default_model_with_other_names_is_read_by_name() -> None:
    assert labels_of(DEFAULT_MODEL, ["person", "car"]) == ModelLabels.from_names(["person", "car"])


def test_detections_and_tracks_carry_their_models_labels() -> None:
    d = Detections(np.array([[0, 0, 10, 30], [50, 0, 60, 30]], np.float32), np.array([0.9, 0.8], np.float32),
                   ["Normal", "person"], model_labels=COCO)
    assert d.classes == ["Normal", "person"]  # 'Normal' is no COCO class of a person
    assert d[np.array([True, False])].model_labels is COCO
    assert canonical_class("Normal") == "person" and canonical_class("Normal", COCO) == "Normal"
    assert Detections().model_labels is DEFAULT_MODEL_LABELS  # detections made without a model: the default's
    tracker = ByteTracker()
    tracked = tracker.update(d, 0.0)
    assert tracked.model_labels is COCO
    assert sorted(tr.cls for tr in tracker.tracks.values()) == ["Normal", "person"]
