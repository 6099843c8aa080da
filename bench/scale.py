"""Scale-out: the same camera set on 1, 2 and 3 worker nodes (``sharpeyes worker``, camera leases over one Redis,
one PostgreSQL), each worker process pinned to its own CPU where the machine has enough (``taskset -c`` at exec,
so every thread and ffmpeg sampler it starts inherits it; with more workers than CPUs they share round-robin), the
detector at 320 so that the sampling side counts; then one worker SIGKILLed and its cameras taken over by the others.

    .venv/bin/python bench/scale.py [--quick] [--cameras 24] [--seconds 40] [--workers 1 2 3] [--imgsz 320]

The cameras: vtest looped by the RTSP test server, sampled at 2 frames/s each (the cluster test's camera
template, tests/support/chaos.py: a line and a zone rule).

Per configuration, after every camera is held by one worker and online, and a warm-up of 10 s: detected frames/s
(the sum over the workers of the frames their detector ran, from the running totals in their Redis heartbeats,
``sharpeyes:nodes:info``, over the measured window), the cameras sustained (held, online and delivering frames to
a detector at the end of the window), the effective detection interval per camera (cameras / detected fps), and
the longest time any camera was seen sampled by two live workers at once (a handover overlaps for less than one
lease period by design). With the largest worker count, the worker holding the most cameras is SIGKILLed:
``takeover`` is the time until every camera is held by a survivor, sampled there and online again. ``held twice``
counts the cameras seen sampled by two workers for longer than one lease period (the bound; target 0).

The baseline is the one-worker configuration measured in the same run. Last line:
``scale: workers 1->3, detected fps A -> B (ratio R), takeover S s, held twice 0``.
``--quick``: 4 cameras, workers 1 and 2, 15 s windows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.pop(0)  # bench/queue.py must not shadow the stdlib's queue module
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from ingest.demo import VTEST_AVI, transcode_to_h264
from sharpeyes.keys import Keys
from sharpeyes.leases import Membership
from sharpeyes.proc import EmbeddedRedis, free_port
from sharpeyes.settings import PROJECT_ROOT
from tests.support.cluster import Cluster, Watch
from tests.support.postgres import PostgresServer

LEASE_S = 5.0
FPS = 2.0  # frames sampled per camera per second (tests/support/chaos.py CAMERA)


def _model_ready(imgsz: int) -> None:
    """Export the default model at ``imgsz`` once (offline), as ``sharpeyes model export`` does."""
    models = PROJECT_ROOT / "data" / "models"
    if any(models.glob(f"*-{imgsz}_openvino_model")):
        return
    import subprocess

    print(f"exporting the default model at {imgsz} (once)…", flush=True)
    env = {**os.environ, "SHARPEYES_DETECTOR__IMGSZ": str(imgsz), "SHARPEYES_MODELS_DIR": str(models)}
    subprocess.run([str(Path(sys.executable).with_name("sharpeyes")), "model", "export"], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def detected_totals(client: redis.Redis, keys: Keys) -> dict[str, int]:
    return {n.node_id: n.frames_detected for n in Membership(client, keys).alive()}


def measure(cluster: Cluster, watch: Watch, seconds: float) -> tuple[float, int]:
    """Detected frames/s over ``seconds`` (running totals from the heartbeats, which come every lease/3), and the
    cameras sustained at the end."""
    keys = Keys()
    beat = LEASE_S / 3
    time.sleep(beat)
    first, t0 = detected_totals(cluster.client, keys), time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        watch.observe()
        time.sleep(1.0)
    time.sleep(beat)  # the last heartbeat of the window has been written
    last, t1 = detected_totals(cluster.client, keys), time.monotonic()
    fps = sum(last[n] - first.get(n, 0) for n in last) / (t1 - t0)
    holders, ingesting = cluster.holders(), cluster.ingesting()
    sustained = sum(1 for cam in cluster.camera_ids
                    if cam in holders and ingesting.get(cam) == [holders[cam]] and cam in cluster.online())
    return fps, sustained


def run_config(workdir: Path, clip: Path, pg: PostgresServer, args: argparse.Namespace, workers: int,
               kill: bool) -> dict[str, float]:
    folder = workdir / f"w{workers}"
    folder.mkdir()
    rs = EmbeddedRedis(directory=folder / "redis", port=free_port()).start()
    db = pg.create_database()
    cpus = sorted(os.sched_getaffinity(0))
    pins = [{cpus[i % len(cpus)]} for i in range(workers)] if len(cpus) > 1 else None
    cluster = Cluster(folder, clip, rs.url, cameras=args.cameras, nodes=workers, database_url=pg.url(db),
                      lease_ttl_s=LEASE_S, worker_command=("worker", "--singletons"), api_command=None, node_cpus=pins,
                      extra_env={"SHARPEYES_DETECTOR__IMGSZ": str(args.imgsz), "SHARPEYES_LOG_LEVEL": "WARNING"})
    watch = Watch(cluster)
    out: dict[str, float] = {}
    try:
        cluster.start()
        names = {n.name for n in cluster.nodes}
        ready = watch.wait(names, 240)
        time.sleep(10)  # warm-up: the trackers and the motion gates settle, the first heartbeats are in
        fps, sustained = measure(cluster, watch, args.seconds)
        spread = sorted(sum(1 for h in cluster.holders().values() if h == n) for n in names)
        out = {"fps": fps, "sustained": sustained, "ready": ready}
        print(f"{workers} worker(s): cameras {spread}, sustained {sustained}/{args.cameras}, detected "
              f"{fps:.1f} frames/s, every {args.cameras / fps if fps else float('inf'):.1f} s per camera "
              f"(wanted {args.cameras * FPS:.0f}/s), settled in {ready:.0f} s", flush=True)
        if kill:
            victim = max(cluster.nodes, key=lambda n: sum(1 for h in cluster.holders().values() if h == n.name))
            cluster.kill(victim)
            out["takeover"] = watch.wait(names - {victim.name}, 120)
            print(f"SIGKILL {victim.name}: its cameras held, sampled and online on the others in "
                  f"{out['takeover']:.1f} s", flush=True)
        out["overlap"] = watch.worst
        out["twice"] = len(watch.twice)
        return out
    finally:
        cluster.close()
        rs.stop()
        pg.drop_database(db)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cameras", type=int, default=24, help="cameras sampled at 2 frames/s each")
    ap.add_argument("--seconds", type=float, default=40.0, help="measured window per configuration")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--imgsz", type=int, default=320)
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.seconds, args.workers = 4, 15.0, [1, 2]
    _model_ready(args.imgsz)
    clip = transcode_to_h264(VTEST_AVI, PROJECT_ROOT / "data" / "test-cache" / "vtest-h264.mp4")
    print(f"scale: {args.cameras} cameras at {FPS:g} fps, detector at {args.imgsz}, lease {LEASE_S:g} s, "
          f"{os.cpu_count()} CPU(s), workers {args.workers}", flush=True)
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="sharpeyes-scale-") as tmp, PostgresServer() as pg:
        for n in args.workers:
            results[n] = run_config(Path(tmp), clip, pg, args, n, kill=n == max(args.workers) and n > 1)
    lo, hi = min(args.workers), max(args.workers)
    a, b = results[lo]["fps"], results[hi]["fps"]
    twice = sum(int(r["twice"]) for r in results.values())
    print(f"longest double sampling seen: {max(r['overlap'] for r in results.values()):.1f} s "
          f"(bound: one lease, {LEASE_S:g} s)")
    print(f"scale: workers {lo}->{hi}, detected fps {a:.1f} -> {b:.1f} (ratio {b / a if a else 0:.2f}), "
          f"takeover {results[hi].get('takeover', 0.0):.1f} s, held twice {twice}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
