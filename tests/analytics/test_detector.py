"""The real detector (default model, exported backend) on ultralytics' own sample images, through
:meth:`Detector.detect`, the code path the hub uses; plus model-path errors and offline configuration.

Reference boxes are approximate hand-checked positions of the persons; a detection matches one at IoU ≥ 0.5, which
absorbs the small differences between the PyTorch and OpenVINO backends.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import ultralytics

from analytics.detections import Detections
from analytics.detector import Detector, ModelError, available_backends, configure_offline, model_source
from analytics.labels import DEFAULT_MODEL_LABELS
from analytics.tracker import iou_matrix
from sharpeyes.settings import PROJECT_ROOT, DetectorSettings

ASSETS = Path(ultralytics.__file__).parent / "assets"

# bus.jpg shows four persons; the fourth, cut by the left edge, overlaps the first a lot, so an NMS IoU of 0.5
# would merge the two (the default is ultralytics' 0.7, which keeps both).
BUS_PERSONS = np.array(
    [[40, 385, 220, 905], [215, 395, 350, 885], [670, 300, 810, 885], [0, 378, 187, 908]], np.float32
)
ZIDANE_PERSONS = np.array([[700, 0, 1280, 720], [15, 170, 1150, 720]], np.float32)


def image(name: str) -> np.ndarray:
    img = cv2.imread(str(ASSETS / name))  # BGR, as ingest frames are
    assert img is not None, f"{ASSETS / name} missing"
    return img


def assert_matches(d: Detections, reference: np.ndarray) -> None:
    """Every detection is a person and the detections match the reference boxes one to one (IoU ≥ 0.5)."""
    assert d.classes == ["person"] * len(d)
    assert len(d) == len(reference), d.xyxy
    ious = iou_matrix(d.xyxy, reference)
    assert sorted(int(j) for j in ious.argmax(axis=1)) == list(range(len(reference))), ious
    assert (ious.max(axis=1) >= 0.5).all(), ious


def test_bus_persons(detector: Detector) -> None:
    d = detector.detect(image("bus.jpg"))
    assert_matches(d, BUS_PERSONS)
    assert ((d.confidence >= 0.35) & (d.confidence <= 1.0)).all()


def test_zidane_persons(detector: Detector) -> None:
    assert_matches(detector.detect(image("zidane.jpg")), ZIDANE_PERSONS)


def test_detections_are_untracked_model_labels(detector: Detector) -> None:
    d = detector.detect(image("zidane.jpg"))
    assert d.tracker_id is None
    assert set(d.labels) <= detector.class_names == {"Normal", "Fall"}
    assert detector.labels is DEFAULT_MODEL_LABELS and d.model_labels is DEFAULT_MODEL_LABELS


def test_blank_frame_gives_nothing(detector: Detector) -> None:
    for blank in (np.zeros((480, 640, 3), np.uint8), np.full((720, 1280, 3), 255, np.uint8)):
        assert len(detector.detect(blank)) == 0


def test_batch_matches_single(detector: Detector) -> None:
    # a batch shares one letterbox shape, so batch frames of one size (as one camera's, or one model's input)
    for name, reference in (("bus.jpg", BUS_PERSONS), ("zidane.jpg", ZIDANE_PERSONS)):
        img = image(name)
        single = detector.detect(img)
        batch = detector.detect_batch([img, img.copy()])
        assert [len(d) for d in batch] == [len(reference)] * 2
        for batched in batch:
            np.testing.assert_allclose(batched.xyxy, single.xyxy, atol=2.0)


def test_backend_is_openvino_when_available(detector: Detector) -> None:
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed")
    assert detector.backend == "openvino"
    assert detector.device == "cpu"


# Run in a fresh interpreter: the socket guard is installed before anything imports ultralytics, whose import
# itself probes the network (``ultralytics.utils.ONLINE``: a DNS lookup of one.one.one.one unless YOLO_OFFLINE).
_OFFLINE_CHILD = r"""
import ipaddress, json, socket, subprocess, sys
from pathlib import Path

attempts = []

def _local(host):
    if host in (None, "", "localhost", b"localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host).split("%")[0])
    except ValueError:
        return False  # a name: resolving it is a network access
    return ip.is_loopback or ip.is_unspecified

def _refuse(what, host):
    attempts.append(f"{what} {host!r}")
    raise OSError(f"network blocked in this test: {what} {host!r}")

def _inet(sock):
    return sock.family in (socket.AF_INET, socket.AF_INET6)

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
_getaddrinfo, _create_connection = socket.getaddrinfo, socket.create_connection
_gethostbyname, _popen_init = socket.gethostbyname, subprocess.Popen.__init__

def connect(self, address):
    if _inet(self) and not _local(address[0]):
        _refuse("connect", address)
    return _connect(self, address)

def connect_ex(self, address):
    if _inet(self) and not _local(address[0]):
        attempts.append(f"connect_ex {address!r}")
        return 111  # ECONNREFUSED
    return _connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    if not _local(host):
        _refuse("getaddrinfo", host)
    return _getaddrinfo(host, *args, **kwargs)

def gethostbyname(host):
    if not _local(host):
        _refuse("gethostbyname", host)
    return _gethostbyname(host)

def create_connection(address, *args, **kwargs):
    if not _local(address[0]):
        _refuse("create_connection", address)
    return _create_connection(address, *args, **kwargs)

def popen_init(self, args, *rest, **kwargs):
    if "pip" in str(args):  # YOLO_AUTOINSTALL: ultralytics pip-installs what an export lacks
        _refuse("subprocess", args)
    _popen_init(self, args, *rest, **kwargs)

socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.getaddrinfo, socket.create_connection, socket.gethostbyname = getaddrinfo, create_connection, gethostbyname
subprocess.Popen.__init__ = popen_init

root, models = Path(sys.argv[1]), Path(sys.argv[2])
sys.path.insert(0, str(root))
import cv2
from analytics.detector import Detector, export_model
from sharpeyes.settings import DetectorSettings

settings = DetectorSettings(imgsz=320)
exported = export_model(settings, models)  # ultralytics' export, into an empty folder
detector = Detector(settings, models)
import ultralytics
from ultralytics.utils import ONLINE

found = detector.detect(cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg")))
print(json.dumps({"attempts": attempts, "exported": sorted(exported), "backend": detector.backend,
                  "persons": found.classes.count("person"), "online": ONLINE}))
"""


def test_ultralytics_is_offline(tmp_path: Path) -> None:
    """Export (ultralytics' real export path, into an empty folder), load and predict with every non-loopback
    socket refused and recorded: nothing may try to connect, resolve a name or pip-install. The child starts without
    the YOLO_* variables this test session sets, so the detector's own :func:`configure_offline` is what keeps
    ultralytics offline (without YOLO_OFFLINE its import resolves one.one.one.one, which is recorded here), and
    without pytest's markers (ultralytics turns its telemetry off under pytest, not in the hub)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("YOLO_", "OPENVINO_TELEMETRY")) and k not in ("PYTEST_CURRENT_TEST", "GITHUB_ACTIONS")}
    proc = subprocess.run([sys.executable, "-c", _OFFLINE_CHILD, str(PROJECT_ROOT), str(tmp_path / "data" / "models")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=280, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []
    assert result["online"] is False
    fastest = [b for b in available_backends() if b != "pytorch"][:1]
    assert result["exported"] == sorted(["pytorch", *fastest])
    assert result["backend"] == (fastest or ["pytorch"])[0]
    assert result["persons"] >= 3  # bus.jpg at imgsz 320: the persons are found


def test_configure_offline_sets_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    configure_offline(tmp_path / "ultralytics")
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert os.environ["YOLO_AUTOINSTALL"] == "false"
    assert os.environ["YOLO_CONFIG_DIR"] == str(tmp_path / "ultralytics")
    assert (tmp_path / "ultralytics").is_dir()


def test_missing_operator_model_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "mine.pt"
    settings = DetectorSettings(model=str(missing))  # type: ignore[call-arg]
    with pytest.raises(ModelError, match=r"model file .*mine\.pt not found \(SHARPEYES_DETECTOR__MODEL\)"):
        model_source(settings, tmp_path / "models")
    with pytest.raises(ModelError, match="not found"):
        Detector(settings, tmp_path / "models")


def test_operator_model_must_be_a_pt_file(tmp_path: Path) -> None:
    onnx = tmp_path / "mine.onnx"
    onnx.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"must be an ultralytics \.pt file"):
        model_source(DetectorSettings(model=str(onnx)), tmp_path)  # type: ignore[call-arg]


def test_operator_model_source(tmp_path: Path) -> None:
    pt = tmp_path / "site-a.pt"
    pt.write_bytes(b"")
    assert model_source(DetectorSettings(model=str(pt)), tmp_path) == ("site-a", pt)  # type: ignore[call-arg]


def test_unknown_model_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model named 'yolo11n'.*sharpeyes model import"):
        model_source(DetectorSettings(model="yolo11n"), tmp_path / "models")  # type: ignore[call-arg]


def test_requested_backend_without_export_is_a_clear_error(tmp_path: Path) -> None:
    pt = tmp_path / "site-a.pt"
    pt.write_bytes(b"")
    settings = DetectorSettings(model=str(pt), backend="openvino")  # type: ignore[call-arg]
    with pytest.raises(ModelError, match="sharpeyes model export"):
        Detector(settings, tmp_path / "models")
