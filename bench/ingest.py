"""Ingest CPU cost: CPU seconds of ffmpeg per camera-minute, full decode (`fps` mode, the baseline) vs
keyframes only, over K looped H.264 RTSP streams served by the GStreamer test server; optionally the largest K
each mode sustains without falling behind.

    .venv/bin/python bench/ingest.py [--quick] [--cameras 4] [--seconds 30] [--fps 0.5] [--height 1080]
                                     [--max-k 32 [--min-k 1] [--step-seconds 20]]

The clip is vtest.avi scaled to the given height at 25 fps with a keyframe every 2 s, transcoded once into
data/bench-cache. CPU is read from /proc for each ffmpeg process (user + system), so the RTSP server's own
cost is not counted. Prints the machine, a table and the keyframe/full-decode ratio.

``--max-k N``: for each mode, K = 1 (or ``--min-k``), doubling up to N streams, then two bisection steps between
the last K sustained and the first that fell behind, ``--step-seconds`` each; K is
sustained when the samplers delivered at least 90% of the frames due (K × fps × seconds) and no camera less than
75%, counted after 8 s of warm-up (a decoder that cannot keep up lags behind the live stream and delivers fewer
frames). Prints the largest sustained K per mode. Limits: the criterion counts frames, so a lag that is later made
up in a burst goes unseen; the RTSP server shares the CPUs and, when starved, itself falls behind and then sends
in bursts (more frames than due is the sign). On a small shared machine the result is a lower bound at best.
``--quick``: 2 cameras, 15 s per mode, and with ``--max-k`` at most 8 streams, 15 s per step.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

# run as a script, sys.path[0] is bench/, where bench/queue.py would shadow the stdlib's queue module (torch,
# urllib3 and redis-py import it): replace that entry by the project root
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.demo import VTEST_AVI, RtspServer, transcode_to_h264
from ingest.sampler import FfmpegSampler, StreamError
from sharpeyes.settings import PROJECT_ROOT
from tests.support.media import missing_media_tools

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(server: RtspServer, mounts: list[str], mode: str, fps: float, seconds: float, warmup_s: float = 0.0
            ) -> tuple[float, int, list[int]]:
    """(ffmpeg CPU-s per camera-minute, frames, frames per camera); frames are counted only after ``warmup_s``
    (connection, probing and the burst a client gets on connecting are not counted)."""
    samplers = [FfmpegSampler(f"bench{i}", server.url(m), fps=fps, mode=mode) for i, m in enumerate(mounts)]  # type: ignore[arg-type]
    counts = [0] * len(samplers)
    stalled: list[str] = []
    cpu = [0.0] * len(samplers)
    count_from = time.monotonic() + warmup_s

    def consume(i: int) -> None:
        s = samplers[i]
        try:
            for _ in s.frames():
                if time.monotonic() >= count_from:
                    counts[i] += 1
                if s.proc is not None:
                    cpu[i] = cpu_seconds(s.proc.pid)
        except StreamError as exc:  # a sampler that stalls counts what it delivered; the step then fails
            stalled.append(f"{s.camera_id}: {exc}")

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(len(samplers))]
    for t in threads:
        t.start()
    time.sleep(warmup_s + seconds)
    for i, s in enumerate(samplers):
        if s.proc is not None:
            cpu[i] = max(cpu[i], cpu_seconds(s.proc.pid))
        s.close()
    for t in threads:
        t.join(5)
    if stalled:
        print(f"  {len(stalled)} of {len(samplers)} samplers stalled (first: {stalled[0]})", flush=True)
    per_cam_minute = sum(cpu) / len(samplers) / ((warmup_s + seconds) / 60)
    return per_cam_minute, sum(counts), counts


def sustained(counts: list[int], fps: float, seconds: float) -> bool:
    due = fps * seconds
    return sum(counts) >= 0.9 * due * len(counts) and min(counts) >= 0.75 * due


def largest_k(server: RtspServer, mode: str, fps: float, seconds: float, max_k: int,
              min_k: int = 1, refine: int = 2) -> list[tuple[int, int, bool]]:
    """K doubling from ``min_k`` until a step falls behind, then ``refine`` bisection steps between the last K
    sustained and the first that was not."""
    out = []

    def step(k: int) -> bool:
        # ffprobe, ffmpeg start-up and the burst on connecting are not counted: 8 s of warm-up
        _, _, counts = measure(server, [f"cam{i}" for i in range(k)], mode, fps, seconds, warmup_s=8.0)
        ok = sustained(counts, fps, seconds)
        out.append((k, sum(counts), ok))
        burst = sum(counts) > 1.2 * fps * seconds * k
        print(f"  {mode} K={k}: {sum(counts)} frames (due {fps * seconds * k:.0f}), "
              f"{'sustained' if ok else 'FALLING BEHIND'}"
              f"{' (more than due: the RTSP server on the same CPUs fell behind, then burst)' if burst else ''}",
              flush=True)
        return ok

    good, bad, k = 0, 0, min_k
    while True:
        if not step(k):
            bad = k
            break
        good = k
        if k >= max_k:
            break
        k = min(k * 2, max_k)
    for _ in range(refine if bad and good else 0):
        mid = (good + bad) // 2
        if mid in (good, bad):
            break
        if step(mid):
            good = mid
        else:
            bad = mid
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--fps", type=float, default=0.5)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--max-k", type=int, default=0, help="search the largest sustained K up to this many streams")
    ap.add_argument("--step-seconds", type=float, default=20, help="seconds per K in the --max-k search")
    ap.add_argument("--min-k", type=int, default=1, help="first K of the --max-k search (then doubling)")
    ap.add_argument("--quick", action="store_true", help="2 cameras, 15 s per mode; --max-k at most 8, 15 s each")
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.seconds, args.step_seconds = min(args.cameras, 2), min(args.seconds, 15), 15
        args.max_k = min(args.max_k, 8)

    missing = missing_media_tools()
    if missing:
        print("bench/ingest.py needs: " + "; ".join(missing) + " (`make setup` installs them)", file=sys.stderr)
        return 2
    width = args.height * 16 // 9 // 2 * 2
    clip = transcode_to_h264(VTEST_AVI, PROJECT_ROOT / "data" / "bench-cache" / f"vtest-{args.height}p25.mp4",
                             fps=25, gop=50, width=width, height=args.height, duration_s=20)
    mounts = [f"cam{i}" for i in range(max(args.cameras, args.max_k))]
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; {args.cameras} streams "
          f"{width}x{args.height}@25 H.264 GOP 2 s, sampling {args.fps:g} fps, {args.seconds:g} s per mode")
    rows = []
    with RtspServer({m: clip for m in mounts}) as server:
        for mode in ("fps", "keyframes"):
            cpu, frames, _ = measure(server, mounts[: args.cameras], mode, args.fps, args.seconds)
            rows.append((mode, cpu, frames))
        searches = {mode: largest_k(server, mode, args.fps, args.step_seconds, args.max_k, args.min_k)
                    for mode in ("fps", "keyframes")} if args.max_k else {}
    base = rows[0][1]
    print("baseline: fps mode (full decode + select)")
    print(f"{'mode':<10}{'CPU-s/cam-min':>15}{'frames':>8}{'vs base':>9}")
    for mode, cpu, frames in rows:
        print(f"{mode:<10}{cpu:>15.2f}{frames:>8}{cpu / base:>8.2f}x")
    if searches:
        best = {m: max((k for k, _, ok in r if ok), default=0) for m, r in searches.items()}
        print(f"\nlargest K sustained ({args.step_seconds:g} s per step, K doubling from {args.min_k} up to "
              f"{args.max_k}, then two bisection steps; '>=' when every step was sustained)")
        print(f"{'mode':<10}{'K':>6}{'vs base':>9}")
        for m, k in best.items():
            capped = all(ok for _, _, ok in searches[m])
            ratio = k / best["fps"] if best["fps"] else float("nan")
            print(f"{m:<10}{('>=' if capped else '') + str(k):>6}{ratio:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
