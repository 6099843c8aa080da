"""The chaos run: a real hub (``sharpeyes run``, embedded Redis, real detector) on K cameras of the RTSP test
server, an independent recording consumer per center, and a schedule of faults; at the end the events the hub
accepted (its journal) are compared with what each center received and what the archive holds.

    .venv/bin/python bench/chaos.py [--cameras 4] [--gap 20] [--no-disk]

Faults, ``--gap`` seconds apart: SIGKILL of the embedded redis-server, SIGKILL of a center consumer, the RTSP server
stopped for 12 s, SIGKILL of the whole hub (restarted), and the data folder's disk filled for 10 s (a 512 MiB tmpfs
mounted over it; needs root, else ``--no-disk`` and the fault is skipped). Prints a row per fault and ends with
``chaos: produced N, delivered N, archived N, lost L, duplicated D, max recovery S s``. See tests/support/chaos.py
for what each figure counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# run as a script, sys.path[0] is bench/, where bench/queue.py would shadow the stdlib's queue module
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.demo import VTEST_AVI, transcode_to_h264
from sharpeyes.settings import PROJECT_ROOT
from tests.support.chaos import ChaosWorld


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--gap", type=float, default=20.0, help="seconds of normal running between faults")
    ap.add_argument("--no-disk", action="store_true", help="skip the disk-full fault")
    args = ap.parse_args()
    os.environ.setdefault("SHARPEYES_LOG_LEVEL", "INFO")
    clip = transcode_to_h264(VTEST_AVI, PROJECT_ROOT / "data" / "test-cache" / "vtest-h264.mp4")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; {args.cameras} cameras, "
          f"faults every {args.gap:.0f} s")
    with tempfile.TemporaryDirectory(prefix="sharpeyes-chaos-") as tmp:
        work = Path(tmp)
        mounted = False
        if not args.no_disk:
            mounted = _mount_tmpfs(work / "data", "512m")
            if not mounted:
                print("  (cannot mount a tmpfs here: the disk-full fault is skipped)")
        world = ChaosWorld(work, clip, args.cameras)
        t0 = time.monotonic()
        try:
            world.start()
            print(f"  hub up in {time.monotonic() - t0:.1f} s")
            time.sleep(args.gap)
            world.kill_redis()
            time.sleep(args.gap)
            world.kill_recorder()
            time.sleep(args.gap)
            world.cut_camera()
            time.sleep(args.gap)
            world.kill_hub()
            if mounted:
                time.sleep(args.gap)
                world.fill_disk()
            time.sleep(args.gap)
            world.stop_hub()
            world.start_hub()
            world.settle()
            tally = world.tally()
        finally:
            world.close()
            if mounted:
                subprocess.run(["umount", "-l", str(work / "data")], check=False)
    print(f"\n{'fault':<36}{'recovery s':>11}{'spooled':>9}{'replayed':>10}  note")
    for r in world.rows:
        print(f"{r.fault:<36}{r.recovery_s:>11.1f}{r.spooled:>9}{r.replayed:>10}  {r.note}")
    print(f"per center (unique ids received): {tally.per_center}; redeliveries removed by dedupe: "
          f"{tally.redelivered}; run {time.monotonic() - t0:.0f} s")
    if tally.missing:
        print(f"missing: {tally.missing[:20]}")
    print(f"camera cut: every camera offline {world.offline_s:.1f} s after the cut (target <= 30 s), online "
          f"again as the table says; availability ledger within {world.ledger_error_s:.1f} s of what was observed")
    print(tally.line(max(r.recovery_s for r in world.rows)))
    return 0 if tally.lost == 0 and tally.duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
