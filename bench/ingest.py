"""Ingest CPU cost: CPU seconds of ffmpeg per camera-minute, full decode (`fps` mode, the baseline) vs
keyframes only, over K looped H.264 RTSP streams served by the GStreamer test server.

    .venv/bin/python bench/ingest.py [--cameras 4] [--seconds 30] [--fps 0.5] [--height 1080]

The clip is vtest.avi scaled to the given height at 25 fps with a keyframe every 2 s, transcoded once into
data/bench-cache. CPU is read from /proc for each ffmpeg process (user + system), so the RTSP server's own
cost is not counted. Prints the machine, a table and the keyframe/full-decode ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.sampler import FfmpegSampler
from ingest.testing import VTEST_AVI, RtspServer, transcode_to_h264
from sharpeyes.settings import PROJECT_ROOT

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(server: RtspServer, mounts: list[str], mode: str, fps: float, seconds: float) -> tuple[float, int]:
    samplers = [FfmpegSampler(f"bench{i}", server.url(m), fps=fps, mode=mode) for i, m in enumerate(mounts)]  # type: ignore[arg-type]
    counts = [0] * len(samplers)
    cpu = [0.0] * len(samplers)

    def consume(i: int) -> None:
        s = samplers[i]
        for _ in s.frames():
            counts[i] += 1
            if s.proc is not None:
                cpu[i] = cpu_seconds(s.proc.pid)

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(len(samplers))]
    for t in threads:
        t.start()
    time.sleep(seconds)
    for i, s in enumerate(samplers):
        if s.proc is not None:
            cpu[i] = max(cpu[i], cpu_seconds(s.proc.pid))
        s.close()
    for t in threads:
        t.join(5)
    per_cam_minute = sum(cpu) / len(samplers) / (seconds / 60)
    return per_cam_minute, sum(counts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--fps", type=float, default=0.5)
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args()

    width = args.height * 16 // 9 // 2 * 2
    clip = transcode_to_h264(VTEST_AVI, PROJECT_ROOT / "data" / "bench-cache" / f"vtest-{args.height}p25.mp4",
                             fps=25, gop=50, width=width, height=args.height, duration_s=20)
    mounts = [f"cam{i}" for i in range(args.cameras)]
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; {args.cameras} streams "
          f"{width}x{args.height}@25 H.264 GOP 2 s, sampling {args.fps:g} fps, {args.seconds:g} s per mode")
    rows = []
    with RtspServer({m: clip for m in mounts}) as server:
        for mode in ("fps", "keyframes"):
            cpu, frames = measure(server, mounts, mode, args.fps, args.seconds)
            rows.append((mode, cpu, frames))
    base = rows[0][1]
    print("baseline: fps mode (full decode + select)")
    print(f"{'mode':<10}{'CPU-s/cam-min':>15}{'frames':>8}{'vs base':>9}")
    for mode, cpu, frames in rows:
        print(f"{mode:<10}{cpu:>15.2f}{frames:>8}{cpu / base:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
