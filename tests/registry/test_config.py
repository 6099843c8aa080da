"""Camera YAML: valid files load; each kind of bad input is a clear error naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.config import CameraConfigError, load_camera_configs, load_camera_file
from sharpeyes.settings import PROJECT_ROOT
from sharpeyes.urls import validate_stream_url
from tests.support.registry import registry_with_cameras

GOOD = """\
jurisdictions:
  - code: "140429100901"
    name: 测试村
    parent: "140429100"
    synthetic: true
cameras:
  - id: "14042900001325000101"
    name: test camera
    jurisdiction: "140429100901"
    stream: rtsp://127.0.0.1:8554/cam
    sampling: {mode: keyframes, fps: 1}
    rules:
      - type: crowd_gathering
        name: crowd
        zone: [[0, 0], [1, 0], [1, 1]]
        min_count: 3
"""

KNOWN = {"140429", "140429100", "140429101"}


def write(tmp_path: Path, text: str, name: str = "cams.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def only_issue(exc: CameraConfigError) -> str:
    assert len(exc.issues) == 1, exc.issues
    return str(exc.issues[0])


def assert_one_issue(path: Path, line: int, field: str, words: str) -> None:
    """Loading ``path`` fails with exactly one issue, at ``line`` and ``field``, saying ``words``."""
    with pytest.raises(CameraConfigError) as info:
        load_camera_file(path)
    msg = only_issue(info.value)
    assert msg.startswith(f"{path}:{line}: {field}: "), msg
    assert words in msg


def test_good_file_loads(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    loaded = load_camera_configs(tmp_path, KNOWN)
    (_path, cam), = loaded.cameras
    assert cam.id == "14042900001325000101" and cam.sampling.mode == "keyframes"
    assert cam.rules[0].type == "crowd_gathering" and cam.rules[0].min_count == 3
    assert loaded.jurisdictions[0][1].synthetic is True


def test_node_label_pins_a_camera(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("fps: 1}\n", "fps: 1}\n    node_label: gpu-a.1\n"))
    (_path, cam), = load_camera_configs(tmp_path, KNOWN).cameras
    assert cam.node_label == "gpu-a.1"
    write(tmp_path, GOOD)
    (_path, cam), = load_camera_configs(tmp_path, KNOWN).cameras
    assert cam.node_label is None  # unset: any node


def test_motion_regions_per_camera(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("fps: 1}\n", "fps: 1}\n    motion_regions: false\n"))
    (_path, cam), = load_camera_configs(tmp_path, KNOWN).cameras
    assert cam.motion_regions is False
    write(tmp_path, GOOD)
    (_path, cam), = load_camera_configs(tmp_path, KNOWN).cameras
    assert cam.motion_regions is None  # unset: the hub's analytics.motion.regions


def test_shipped_demo_config_is_valid() -> None:
    reg = registry_with_cameras(PROJECT_ROOT / "camera_configs")
    assert len(reg.cameras()) >= 1


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("fps: 1}", "fps: fast}", 11, "cameras[0].sampling.fps", "valid number"),
        ("name: 测试村", "name: " + "村" * 101, 3, "jurisdictions[0].name", "at most 100 characters"),
        ("    name: test camera\n", "    name: test camera\n    colour: red\n", 9, "cameras[0].colour", "unknown key"),
        ('"14042900001325000101"', '"14042900001395000101"', 7, "cameras[0].id", "digits 11-13"),
        ('"14042900001325000101"', '"1404290000132500010"', 7, "cameras[0].id", "20 digits"),
        ("rtsp://127.0.0.1:8554/cam", "file:///etc/passwd", 10, "cameras[0].stream", "scheme 'file' not allowed"),
        ("rtsp://127.0.0.1:8554/cam", "-i /etc/passwd", 10, "cameras[0].stream", "ffmpeg option"),
        ("rtsp://127.0.0.1:8554/cam", "rtsp://admin:12345@10.0.0.1/x", 10, "cameras[0].stream", "credentials"),
        ("min_count: 3", "min_count: 1", 16, "cameras[0].rules[0].min_count", "greater than or equal to 2"),
        ("[[0, 0], [1, 0], [1, 1]]", "[[0, 0], [1, 0]]", 15, "cameras[0].rules[0].zone", "at least 3"),
        ("fps: 1}\n", "fps: 1}\n    detector_model: ../../etc/x\n", 12, "cameras[0].detector_model", "pattern"),
        ("fps: 1}\n", "fps: 1}\n    node_label: GPU nodes\n", 12, "cameras[0].node_label", "pattern"),
        ("fps: 1}\n", "fps: 1}\n    node_label: " + "g" * 65 + "\n", 12, "cameras[0].node_label", "pattern"),
        ("fps: 1}\n", "fps: 1}\n    node_label: 3\n", 12, "cameras[0].node_label", "valid string"),
        ("fps: 1}\n", "fps: 1}\n    motion_regions: sometimes\n", 12, "cameras[0].motion_regions", "valid boolean"),
    ],
)
def test_bad_input_names_file_line_field(tmp_path: Path, old: str, new: str, line: int, field: str,
                                         words: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    assert_one_issue(path, line, field, words)


WITH_KEY_POINT = GOOD + """\
key_points:
  - id: test-gate
    name: 测试小学 校门
    kind: school
    jurisdiction: "140429100901"
    longitude: 112.8700
    latitude: 36.8400
    synthetic: true
"""  # key_points: on line 17, its id on 18


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("latitude: 36.8400", "latitude: 95", 23, "key_points[0].latitude", "less than or equal to 90"),
        ("longitude: 112.8700", "longitude: -181", 22, "key_points[0].longitude", "greater than or equal to -180"),
        ("kind: school", "kind: park", 20, "key_points[0].kind", "'crossroads'"),
        ("id: test-gate", "id: Test Gate", 18, "key_points[0].id", "pattern"),
        ('jurisdiction: "140429100901"\n    longitude', 'jurisdiction: "1404291"\n    longitude', 21,
         "key_points[0].jurisdiction", "6, 9 or 12-digit"),
        ("latitude: 36.8400\n", "latitude: 36.8400\n    radius: 3\n", 24, "key_points[0].radius", "unknown key"),
    ],
)
def test_bad_key_point_names_file_line_field(tmp_path: Path, old: str, new: str, line: int, field: str,
                                             words: str) -> None:
    assert WITH_KEY_POINT.count(old) == 1
    path = write(tmp_path, WITH_KEY_POINT.replace(old, new))
    assert_one_issue(path, line, field, words)


def test_key_point_cross_checks(tmp_path: Path) -> None:
    write(tmp_path, WITH_KEY_POINT)
    (_path, point), = load_camera_configs(tmp_path, KNOWN).key_points
    assert (point.id, point.kind, point.latitude, point.synthetic) == ("test-gate", "school", 36.84, True)
    path = write(tmp_path, WITH_KEY_POINT.replace('jurisdiction: "140429100901"\n    longitude',
                                                  'jurisdiction: "140429100777"\n    longitude'))
    with pytest.raises(CameraConfigError) as info:
        load_camera_configs(tmp_path, KNOWN)
    assert only_issue(info.value) == (f"{path}:18: key_points.jurisdiction: unknown jurisdiction 140429100777 "
                                      "for key point test-gate")
    other = write(tmp_path, "key_points:\n  - {id: test-gate, name: x, kind: other, jurisdiction: '140429', "
                  "longitude: 112.9, latitude: 36.9}\n", "b.yaml")
    write(tmp_path, WITH_KEY_POINT)
    with pytest.raises(CameraConfigError) as info:
        load_camera_configs(tmp_path, KNOWN)
    assert only_issue(info.value) == f"{path}:18: key_points.id: duplicate key point id test-gate (also in {other})"


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    name: test camera", "    name: [unclosed"))
    with pytest.raises(CameraConfigError) as info:
        load_camera_file(path)
    msg = only_issue(info.value)
    assert msg.startswith(f"{path}:") and "YAML syntax error" in msg
    assert info.value.issues[0].line is not None and 8 <= info.value.issues[0].line <= 11


def test_cross_file_checks(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD.split("cameras:")[0].replace("140429100901", "140429100902") + "cameras:\n"
          + GOOD.split("cameras:")[1], "b.yaml")
    with pytest.raises(CameraConfigError) as info:
        load_camera_configs(tmp_path, KNOWN)
    text = str(info.value)
    assert "duplicate camera id 14042900001325000101" in text and "b.yaml:8" in text


def test_unknown_jurisdiction_and_county_mismatch(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace('jurisdiction: "140429100901"', 'jurisdiction: "140429100777"'))
    with pytest.raises(CameraConfigError, match="unknown jurisdiction 140429100777"):
        load_camera_configs(tmp_path, KNOWN)
    write(tmp_path, GOOD.replace('"14042900001325000101"', '"14042200001325000101"'))
    with pytest.raises(CameraConfigError, match="encodes county 140422"):
        load_camera_configs(tmp_path, KNOWN)


def test_invalid_file_writes_nothing(tmp_path: Path) -> None:
    reg = registry_with_cameras()
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, "cameras:\n  - id: nope\n", "b.yaml")
    with pytest.raises(CameraConfigError):
        reg.sync_camera_configs(tmp_path)
    assert reg.cameras() == []


@pytest.mark.parametrize("url", ["rtsp://h/x", "rtsps://h:322/x", "http://h/a.flv", "https://h/a.m3u8"])
def test_allowed_urls(url: str) -> None:
    assert validate_stream_url(url) == url


@pytest.mark.parametrize("url", ["", "file:/x", "concat:a|b", "rtsp:///x", "rtsp://h/x y", "-f lavfi",
                                 "udp://h:1234", "subfile,,start,0,end,0,,:/etc/passwd"])
def test_refused_urls(url: str) -> None:
    with pytest.raises(ValueError):
        validate_stream_url(url)


def test_duplicate_key_is_refused_with_both_lines(tmp_path: Path) -> None:
    again = '    name: test camera\n    id: "14042900001325000199"\n'
    path = write(tmp_path, GOOD.replace("    name: test camera\n", again))
    assert_one_issue(path, 9, "cameras[0].id", "duplicate key (first at line 7)")
    twice = GOOD.replace("sampling: {mode: keyframes, fps: 1}", "sampling: {fps: 1, mode: fps, fps: 2}")
    flow = write(tmp_path, twice, "flow.yaml")
    assert_one_issue(flow, 11, "cameras[0].sampling.fps", "duplicate key (first at line 11)")


def test_duplicate_key_check_visits_an_aliased_node_once(tmp_path: Path) -> None:
    bomb = "a: &a {x: 1, x: 2}\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b]\n"
    with pytest.raises(CameraConfigError) as info:
        load_camera_file(write(tmp_path, bomb))
    assert [(i.line, i.field) for i in info.value.issues] == [(1, "a.x")]


def test_many_problems_show_the_first_twenty_and_a_count(tmp_path: Path) -> None:
    cameras = "".join(f'  - {{id: "1404290000132500{n:04d}", name: c{n}, jurisdiction: "140429100", stream: x}}\n'
                      for n in range(2000))
    with pytest.raises(CameraConfigError) as info:
        load_camera_file(write(tmp_path, "cameras:\n" + cameras))
    assert len(info.value.issues) >= 2000  # every problem is kept for callers
    lines = str(info.value).splitlines()
    assert len(lines) == 22 and lines[0] == "invalid camera configuration:"
    assert lines[1].startswith(f"  {tmp_path / 'cams.yaml'}:2: cameras[0].stream")
    assert lines[-1] == f"  … and {len(info.value.issues) - 20} more ({len(info.value.issues)} problems in all)"
