"""Line crossing (``analytics/rules/line.py``) on hand-made walks across a vertical line (``sequences.VLINE``,
drawn top → bottom: side a is screen-right, side b screen-left).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from analytics.detections import Detections
from analytics.rules import LineCrossing
from registry.rules import LineCrossingRule
from sharpeyes.schema import EventType, Severity
from tests.analytics.rules.sequences import VLINE, at, changes, dets, statuses


def line(direction: str = "both", merge_window_s: float = 5.0, classes: list[str] | None = None) -> LineCrossing:
    return LineCrossing(LineCrossingRule(type="line_crossing", name="gate", line=VLINE, direction=direction,
                                         merge_window_s=merge_window_s, classes=classes or ["person"]))


def walk(tid: int, xs: Sequence[float], y: float = 500, t0: float = 0.0) -> list[tuple[float, Detections]]:
    return [(t0 + k, dets([at(x, y)], [tid])) for k, x in enumerate(xs)]


def test_line_right_to_left_is_a_to_b() -> None:
    rule = line("a_to_b")
    out = changes(rule, walk(1, [700, 600, 400, 300]))
    assert [(t, inc.status) for t, inc in out] == [(2.0, "started")]
    inc = out[0][1]
    assert inc.type is EventType.LINE_CROSSING and inc.severity is Severity.INFO
    assert inc.detail["a_to_b"] == 1 and inc.detail["b_to_a"] == 0
    assert rule.counts == {"a_to_b": 1, "b_to_a": 0}


def test_line_direction_filter() -> None:
    left_to_right = walk(1, [300, 400, 600, 700])
    assert statuses(line("a_to_b"), left_to_right) == []
    assert statuses(line("b_to_a"), left_to_right) == [(2.0, "started")]
    assert statuses(line("both"), left_to_right) == [(2.0, "started")]
    rule = line("a_to_b")
    changes(rule, left_to_right)
    assert rule.counts == {"a_to_b": 0, "b_to_a": 1}  # counted, not reported


def test_line_jitter_on_the_line_is_not_a_crossing() -> None:
    # 500 ± 5 px: within the 1 % hysteresis (14 px) of the line, never on a definite other side
    assert statuses(line(), walk(1, [700, 505, 495, 503, 497, 700])) == []


def test_line_passing_beyond_the_segment_end_does_not_count() -> None:
    assert statuses(line(), walk(1, [700, 600, 400, 300], y=900)) == []  # the line stops at y = 800


def test_line_crossings_close_in_time_are_one_incident_and_it_ends() -> None:
    frames = walk(1, [700, 600, 400, 300]) + walk(2, [700, 600, 400, 300], t0=3.0) + \
        [(float(t), dets([], [])) for t in range(7, 15)]
    out = changes(line(merge_window_s=5.0), sorted(frames, key=lambda f: f[0]))
    assert [(t, inc.status) for t, inc in out] == [(2.0, "started"), (5.0, "updated"), (10.0, "ended")]
    assert len({inc.key for _, inc in out}) == 1
    assert out[-1][1].detail["crossings"] == 2 and out[-1][1].detail["track_ids"] == "1,2"


def test_line_crossings_far_apart_are_two_incidents() -> None:
    frames = walk(1, [700, 600, 400, 300]) + walk(2, [700, 600, 400, 300], t0=20.0)
    out = [(t, inc) for t, inc in changes(line(merge_window_s=5.0), frames) if inc.status == "started"]
    assert [t for t, _ in out] == [2.0, 22.0]
    assert out[0][1].key != out[1][1].key


def test_line_ignores_other_classes() -> None:
    car = [(float(k), dets([at(x, 500)], [1], ["car"])) for k, x in enumerate([700, 600, 400, 300])]
    assert statuses(line(), car) == []
    assert statuses(line(classes=["car"]), car) == [(2.0, "started")]


def test_busy_line_starts_a_new_incident_after_max_incident_s() -> None:
    rule = LineCrossing(LineCrossingRule(type="line_crossing", name="gate", line=VLINE, merge_window_s=5,
                                         max_incident_s=60))
    frames: list[tuple[float, Detections]] = []
    for n in range(40):  # a walker crosses every 3 s for 2 minutes: always within merge_window_s of the last
        frames += walk(100 + n, [700, 300], t0=3.0 * n)
    out = changes(rule, sorted(frames, key=lambda f: f[0]))
    starts = [t for t, inc in out if inc.status == "started"]
    assert starts == [1.0, 61.0]
    ends = [inc for _, inc in out if inc.status == "ended"]
    assert len(ends) == 1 and ends[0].detail["crossings"] == 20  # crossings at 1, 4, …, 58 s
    assert rule.counts == {"a_to_b": 40, "b_to_a": 0}


def test_line_needs_two_distinct_points() -> None:
    with pytest.raises(ValidationError):
        LineCrossingRule(type="line_crossing", name="c", line=[[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValidationError):
        LineCrossingRule(type="line_crossing", name="c", line=[[0.5, 0.5], [1.5, 0.5]])
