"""Detections: shape checks, boolean indexing, class filtering, ground anchors and event-object conversion."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.detections import Detections, canonical_class


def make(boxes: list[list[float]], labels: list[str], ids: list[int] | None = None,
         conf: list[float] | None = None) -> Detections:
    return Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(conf if conf is not None else [0.9] * len(boxes), np.float32),
        list(labels),
        None if ids is None else np.asarray(ids, np.int64),
    )


def test_empty_by_default() -> None:
    d = Detections()
    assert len(d) == 0
    assert d.xyxy.shape == (0, 4)
    assert d.anchors().shape == (0, 2)
    assert d.to_event_objects() == []
    assert len(d.of_classes({"person"})) == 0


@pytest.mark.parametrize(
    ("n_conf", "n_labels"),
    [(1, 2), (2, 1), (3, 2)],
)
def test_mismatched_lengths_raise(n_conf: int, n_labels: int) -> None:
    with pytest.raises(ValueError, match="same length"):
        Detections(np.zeros((2, 4), np.float32), np.zeros(n_conf, np.float32), ["person"] * n_labels)


def test_mismatched_tracker_id_length_raises() -> None:
    with pytest.raises(ValueError, match="tracker_id"):
        Detections(np.zeros((2, 4), np.float32), np.zeros(2, np.float32), ["a", "b"], np.array([1]))


def test_boolean_indexing_keeps_rows_aligned() -> None:
    d = make([[0, 0, 1, 1], [10, 10, 20, 20], [5, 5, 6, 6]], ["a", "b", "c"], ids=[7, 8, 9], conf=[0.1, 0.2, 0.3])
    sub = d[[True, False, True]]
    assert len(sub) == 2
    assert sub.labels == ["a", "c"]
    np.testing.assert_array_equal(sub.tracker_id, [7, 9])
    np.testing.assert_allclose(sub.confidence, [0.1, 0.3])
    np.testing.assert_array_equal(sub.xyxy, [[0, 0, 1, 1], [5, 5, 6, 6]])
    assert len(d[np.zeros(3, bool)]) == 0
    # the original is untouched
    assert d.labels == ["a", "b", "c"]


def test_boolean_indexing_without_tracker_ids() -> None:
    d = make([[0, 0, 1, 1], [2, 2, 3, 3]], ["a", "b"])
    assert d[np.array([False, True])].tracker_id is None


def test_canonical_classes() -> None:
    assert canonical_class("Normal") == "person"
    assert canonical_class("Fall") == "person"
    assert canonical_class("car") == "car"
    d = make([[0, 0, 1, 1]] * 4, ["Normal", "Fall", "person", "car"])
    assert d.classes == ["person", "person", "person", "car"]
    assert d.labels == ["Normal", "Fall", "person", "car"]  # model names are kept


def test_of_classes_filters_by_canonical_class() -> None:
    d = make([[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3], [3, 3, 4, 4]], ["Normal", "car", "Fall", "dog"],
             ids=[1, 2, 3, 4])
    persons = d.of_classes({"person"})
    assert persons.labels == ["Normal", "Fall"]
    np.testing.assert_array_equal(persons.tracker_id, [1, 3])
    assert d.of_classes(["car", "dog"]).labels == ["car", "dog"]
    assert len(d.of_classes(set())) == 0
    assert len(d.of_classes({"Normal"})) == 0  # filtering is by canonical class, not model label


def test_anchors_are_bottom_centre() -> None:
    d = make([[10, 20, 30, 100], [0, 0, 1000, 1000]], ["person", "person"])
    np.testing.assert_allclose(d.anchors(), [[20, 100], [500, 1000]])


def test_to_event_objects_rounds_and_carries_track_ids() -> None:
    d = make([[10.04, 20.06, 30.149, 40.96], [1, 2, 3, 4]], ["Normal", "car"], ids=[42, 7], conf=[0.87654, 0.5])
    objs = d.to_event_objects()
    assert [o.cls for o in objs] == ["person", "car"]
    assert objs[0].confidence == 0.877
    assert objs[0].box == [10.0, 20.1, 30.1, 41.0]
    assert [o.track_id for o in objs] == [42, 7]
    assert all(type(o.track_id) is int for o in objs)


def test_to_event_objects_without_tracking_has_no_track_id() -> None:
    objs = make([[1, 2, 3, 4]], ["person"]).to_event_objects()
    assert objs[0].track_id is None
