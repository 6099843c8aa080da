"""ByteTracker and iou_matrix: stable ids for overlapping boxes, new ids for new objects, expiry after max_age_s."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.detections import Detections
from analytics.tracker import ByteTracker, iou_matrix


def dets(*boxes: tuple[float, float, float, float], label: str = "person") -> Detections:
    return Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9, np.float32), [label] * len(boxes)
    )


def ids(d: Detections) -> list[int]:
    assert d.tracker_id is not None
    return [int(i) for i in d.tracker_id]


def test_iou_matrix_known_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 10]], np.float32)
    m = iou_matrix(a, b)
    assert m.shape == (3, 4)
    np.testing.assert_allclose(m[0], [1.0, 50 / 150, 0.0, 0.5], rtol=1e-6)
    # corner overlap: 5×5 of two 10×10 boxes → 25 / 175
    np.testing.assert_allclose(iou_matrix(a[:1], np.array([[5, 5, 15, 15]], np.float32)), [[25 / 175]], rtol=1e-6)
    # containment: a 4×4 box inside a 10×10 → 16/100
    np.testing.assert_allclose(iou_matrix(np.array([[2, 2, 6, 6]], np.float32), a[:1]), [[0.16]], rtol=1e-6)


def test_iou_matrix_is_symmetric_and_handles_empty() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (5, 2))
    a = np.hstack([xy, xy + rng.uniform(1, 50, (5, 2))]).astype(np.float32)
    np.testing.assert_allclose(iou_matrix(a, a[:3]), iou_matrix(a[:3], a).T, rtol=1e-6)
    np.testing.assert_allclose(np.diag(iou_matrix(a, a)), 1.0, rtol=1e-6)
    assert iou_matrix(a, np.zeros((0, 4), np.float32)).shape == (5, 0)
    assert iou_matrix(np.zeros((0, 4), np.float32), a).shape == (0, 5)


def test_iou_matrix_degenerate_boxes_are_zero() -> None:
    z = np.array([[5, 5, 5, 5]], np.float32)  # zero area
    assert iou_matrix(z, z)[0, 0] == 0.0


def test_moving_box_keeps_its_id() -> None:
    tr = ByteTracker()
    first = ids(tr.update(dets((100, 100, 200, 300)), 0.0))
    seen = set(first)
    for step in range(1, 10):  # 20 px per frame on a 100 px wide box: IoU ≈ 0.67 between frames
        x = 100 + 20 * step
        seen.update(ids(tr.update(dets((x, 100, x + 100, 300)), float(step))))
    assert seen == set(first)
    assert tr.tracks[first[0]].hits == 10


def test_new_object_gets_new_id() -> None:
    tr = ByteTracker()
    (a,) = ids(tr.update(dets((100, 100, 200, 300)), 0.0))
    b_ids = ids(tr.update(dets((105, 100, 205, 300), (600, 100, 700, 300)), 1.0))
    assert b_ids[0] == a
    assert b_ids[1] != a
    assert len(set(ids(tr.update(dets((110, 100, 210, 300), (600, 100, 700, 300)), 2.0)))) == 2


def test_jump_without_overlap_is_a_new_id() -> None:
    tr = ByteTracker()
    (a,) = ids(tr.update(dets((100, 100, 200, 300)), 0.0))
    (b,) = ids(tr.update(dets((600, 100, 700, 300)), 1.0))  # 500 px = 3.5 box sizes in one step
    assert a != b


def test_id_expires_after_max_age() -> None:
    tr = ByteTracker(max_age_s=3.0)
    box = (100, 100, 200, 300)
    (a,) = ids(tr.update(dets(box), 0.0))
    tr.update(dets(), 1.0)
    (again,) = ids(tr.update(dets(box), 3.0))  # 3 s unseen: still within max_age_s
    assert again == a
    tr.update(dets(), 4.0)
    (late,) = ids(tr.update(dets(box), 6.5))  # 3.5 s unseen: expired
    assert late != a
    assert a not in tr.tracks


def test_ids_are_never_reused() -> None:
    tr = ByteTracker(max_age_s=0.5)
    got = [ids(tr.update(dets((0, 0, 10, 10)), float(t)))[0] for t in range(5)]
    assert got == sorted(set(got))
    assert len(got) == 5


def test_crossing_objects_keep_distinct_ids() -> None:
    """Two people pass each other at different depths (rows offset by half a box): each frame's own-track IoU
    (≈ 0.67) beats the cross IoU (≤ 0.33), so greedy best-first matching keeps both ids through the crossing."""
    tr = ByteTracker()
    traj_a = range(0, 220, 20)  # left → right, y 0..200
    traj_b = range(200, -20, -20)  # right → left, y 100..300
    out = [ids(tr.update(dets((xa, 0, xa + 100, 200), (xb, 100, xb + 100, 300)), float(t)))
           for t, (xa, xb) in enumerate(zip(traj_a, traj_b, strict=True))]
    a0, b0 = out[0]
    assert a0 != b0
    assert all(pair == [a0, b0] for pair in out), out


def test_identical_crossing_boxes_never_share_an_id() -> None:
    """Same row, same size: when the boxes coincide IoU cannot tell them apart (ids may swap, a known limit of
    IoU-only tracking) but one id is never given to two detections of a frame."""
    tr = ByteTracker()
    for t, (xa, xb) in enumerate(zip(range(0, 240, 40), range(200, -40, -40), strict=True)):
        got = ids(tr.update(dets((xa, 0, xa + 100, 200), (xb, 0, xb + 100, 200)), float(t)))
        assert len(set(got)) == 2
    assert set(tr.tracks) == {1, 2}


def test_swap_of_detection_order_does_not_swap_ids() -> None:
    tr = ByteTracker()
    a, b = ids(tr.update(dets((0, 0, 100, 100), (500, 0, 600, 100)), 0.0))
    assert ids(tr.update(dets((505, 0, 605, 100), (5, 0, 105, 100)), 1.0)) == [b, a]


def test_one_track_is_matched_to_one_detection_only() -> None:
    """A split (two detections overlapping one track): the better match keeps the id, the other is new."""
    tr = ByteTracker()
    (a,) = ids(tr.update(dets((0, 0, 100, 100)), 0.0))
    got = ids(tr.update(dets((20, 0, 120, 100), (2, 0, 102, 100)), 1.0))
    assert got[1] == a
    assert got[0] != a


def test_below_iou_threshold_is_not_matched_by_iou() -> None:
    tr = ByteTracker(match_thresh=0.5, max_relative_distance=0.0)
    (a,) = ids(tr.update(dets((0, 0, 100, 100)), 0.0))
    (b,) = ids(tr.update(dets((40, 0, 140, 100)), 1.0))  # IoU 60/140 ≈ 0.43
    assert b != a


def test_sparse_sampling_walker_matched_by_distance() -> None:
    """At 1 fps a walker (40×100 px box) moves ~45 px: no overlap left, same person by relative distance."""
    tr = ByteTracker()
    (a,) = ids(tr.update(dets((100, 100, 140, 200)), 0.0))
    (b,) = ids(tr.update(dets((145, 102, 185, 202)), 1.0))  # IoU 0, centre 45 px, size 63 px → 0.71
    assert b == a
    (c,) = ids(tr.update(dets((320, 100, 360, 200)), 2.0))  # 175 px away → 2.8 sizes: someone else
    assert c != a


def test_distance_match_requires_similar_size() -> None:
    tr = ByteTracker()
    (a,) = ids(tr.update(dets((100, 100, 140, 200)), 0.0))
    (b,) = ids(tr.update(dets((150, 100, 250, 300)), 1.0))  # 5× the area: not the same object
    assert b != a


@pytest.mark.parametrize("n", [0, 3])
def test_update_returns_same_boxes_with_ids(n: int) -> None:
    tr = ByteTracker()
    d = dets(*[(10 * i, 0, 10 * i + 5, 5) for i in range(n)])
    out = tr.update(d, 0.0)
    np.testing.assert_array_equal(out.xyxy, d.xyxy)
    assert out.labels == d.labels
    assert out.tracker_id is not None and len(out.tracker_id) == n
    assert len(set(ids(out))) == n


def test_tracks_carry_dwell_time_and_bottom_centre_path() -> None:
    tr = ByteTracker()
    for t in range(5):
        tr.update(dets((100 + 10 * t, 100, 140 + 10 * t, 200)), 10.0 + t)
    (track,) = tr.tracks.values()
    assert (track.first_seen, track.last_seen, track.dwell_s, track.hits) == (10.0, 14.0, 4.0, 5)
    assert [(x, y) for _, x, y in track.path] == [(120 + 10 * t, 200) for t in range(5)]
    assert track.cls == "person" and track.labels == {"person": 5}


def test_label_change_keeps_the_track_but_class_change_does_not() -> None:
    tr = ByteTracker()
    (a,) = ids(tr.update(dets((100, 100, 140, 200), label="Normal"), 0.0))
    (b,) = ids(tr.update(dets((100, 150, 200, 200), label="Fall"), 1.0))  # same person, now on the ground
    assert b == a
    (c,) = ids(tr.update(dets((100, 150, 200, 200), label="dog"), 2.0))
    assert c != a


def _scene(red_x: float, black_x: float) -> tuple[np.ndarray, Detections]:
    """A grey frame with a red-shirted and a black-shirted person (40×100 px boxes), both at y 100..200."""
    img = np.full((400, 800, 3), 128, np.uint8)
    img[100:200, int(red_x):int(red_x) + 40] = (30, 30, 220)  # BGR red
    img[100:200, int(black_x):int(black_x) + 40] = (20, 20, 20)
    return img, dets((red_x, 100, red_x + 40, 200), (black_x, 100, black_x + 40, 200))


def test_appearance_keeps_ids_when_two_people_swap_places_at_1_fps() -> None:
    """Two walkers 60 px apart pass each other between samples: by distance alone the nearest-box assignment
    swaps them; their colours keep each on its own track."""
    tr = ByteTracker()
    img, d = _scene(300, 360)
    red, black = ids(tr.update(d, 0.0, img))
    img, d = _scene(350, 310)  # red moved right 50 px, black left 50 px: each is now nearer the other's old box
    assert ids(tr.update(d, 1.0, img)) == [red, black]
    blind = ByteTracker(appearance_weight=0.0)
    img, d = _scene(300, 360)
    r0, b0 = ids(blind.update(d, 0.0, img))
    img, d = _scene(350, 310)
    assert ids(blind.update(d, 1.0, img)) == [b0, r0]  # without appearance the ids swap: the test can fail
