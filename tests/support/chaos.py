"""The chaos run: a real hub (``sharpeyes run`` as a child process, embedded Redis, real detector) on K cameras served
by the RTSP test server, one independent recording consumer per center (a child process each), and faults injected
on a schedule; at the end what the hub accepted (its journal) is compared with what each center received and what
the archive holds. Used by ``bench/chaos.py`` (full schedule) and ``tests/e2e/test_chaos.py`` (a short one).

Counting:

- **produced**: the ids in the hub's journal (``data/journal.db``, table ``accepted``): every event whose
  ``publish`` returned, i.e. that went into Redis or the spool.
- **delivered**: produced events recorded by the consumer of *every* center they were routed to (the centers in the
  event's archived row, else in its firehose entry). A consumer records an event (id and stream entry id, fsynced)
  before it acknowledges it, and dedupes by event id: a redelivery (at least once) is counted, not recorded twice.
- **archived**: produced events with a row in the archive.
- **lost**: produced − delivered. **duplicated**: center-stream entries beyond the first for one event id (the same
  event written twice, which dedupe by id would hide but the publisher must never do).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from events.consumer import CenterConsumer
from ingest.demo import RtspServer
from sharpeyes.keys import Keys
from sharpeyes.proc import free_port
from sharpeyes.schema import Event
from sharpeyes.settings import PROJECT_ROOT

VILLAGE, TOWNSHIP, COUNTY = "140429100901", "140429100", "140429"
CENTERS = (VILLAGE, TOWNSHIP, COUNTY)
GROUP = "chaos"  # the recorders' own consumer group: independent of the hub's

CONFIG_HEAD = """\
jurisdictions:
  - {{code: "{village}", name: 混沌测试村, parent: "{township}", center: true, synthetic: true}}
cameras:
"""
CAMERA = """\
  - id: "{cam}"
    name: chaos camera {n}
    jurisdiction: "{village}"
    stream: {url}
    sampling: {{mode: fps, fps: 2}}
    rules:
      - {{type: line_crossing, name: 通行, line: [[0.5, 0.0], [0.5, 1.0]], merge_window_s: 1, severity: minor}}
      - {{type: zone_intrusion, name: 左侧, zone: [[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]],
          min_duration_s: 1, severity: major}}
"""


def camera_id(n: int) -> str:
    return f"1404290000132500{n + 900:04d}"


# ---------------------------------------------------------------------------------------------- the recorder
def record_main(argv: list[str]) -> int:
    """``python -m tests.support.chaos record REDIS_URL CENTER OUT``: consume the center's stream in group
    :data:`GROUP` as consumer ``recorder-CENTER`` (a fixed name: a restarted recorder re-reads its pending entries)
    and append ``event_id`` lines to OUT (fsynced before the ack); ids already in OUT are acked, counted in
    ``OUT.redelivered``."""
    url, center, out = argv
    path = Path(out)
    seen = set(path.read_text().split()) if path.exists() else set()
    redelivered = path.with_suffix(".redelivered")
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    fh = path.open("a", encoding="utf-8")

    def handle(event: Event) -> None:
        if event.id in seen:
            with redelivered.open("a", encoding="utf-8") as r:
                r.write(event.id + "\n")
            return
        fh.write(event.id + "\n")
        fh.flush()
        os.fsync(fh.fileno())
        seen.add(event.id)

    consumer = CenterConsumer(client, center, handle, group=GROUP, consumer=f"recorder-{center}",
                              claim_idle_ms=5_000, block_ms=500, batch=20)
    stop = _stop_on_sigterm()
    consumer.run(stop, retry_s=0.5)
    return 0


def _stop_on_sigterm() -> Any:
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def hub_health(port: int) -> dict[str, Any] | None:
    """``/api/health`` of the hub on loopback ``port``; None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as resp:
            return dict(json.loads(resp.read()))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _epoch(at: str) -> float:
    """A ledger time as SQLite holds it (ISO text, UTC when naive) → Unix seconds."""
    from datetime import UTC, datetime

    t = datetime.fromisoformat(at)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


# ---------------------------------------------------------------------------------------------- the world
@dataclass
class FaultRow:
    fault: str
    recovery_s: float
    spooled: int = 0
    replayed: int = 0
    note: str = ""


@dataclass
class Tally:
    produced: int
    delivered: int
    archived: int
    lost: int
    duplicated: int
    redelivered: int
    per_center: dict[str, int]
    missing: list[str] = field(default_factory=list)

    def line(self, max_recovery_s: float) -> str:
        return (f"chaos: produced {self.produced}, delivered {self.delivered}, archived {self.archived}, "
                f"lost {self.lost}, duplicated {self.duplicated}, max recovery {max_recovery_s:.1f} s")


class ChaosWorld:
    """Everything the run needs, under ``workdir``; :meth:`close` stops it all."""

    def __init__(self, workdir: Path, clip: Path, cameras: int, *, log: Callable[[str], None] = print) -> None:
        self.workdir = workdir
        self.log = log
        self.data = workdir / "data"
        self.configs = workdir / "camera_configs"
        self.configs.mkdir(parents=True, exist_ok=True)
        self.rtsp = RtspServer({f"cam{i}": clip for i in range(cameras)})
        self.cameras = cameras
        self.api_port = free_port()
        self.redis_port = free_port()
        self.keys = Keys()
        self.hub: subprocess.Popen[bytes] | None = None
        self.hub_log = workdir / "hub.log"
        self.recorders: dict[str, subprocess.Popen[bytes]] = {}
        self.rows: list[FaultRow] = []
        self.offline_s = float("nan")  # set by cut_camera
        self.ledger_error_s = float("nan")
        self.ledger_missing = ""  # which ledger row was missing, when ledger_error_s is inf

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self) -> None:
        self.rtsp.start()
        body = CONFIG_HEAD.format(village=VILLAGE, township=TOWNSHIP)
        for i in range(self.cameras):
            body += CAMERA.format(cam=camera_id(i), n=i, village=VILLAGE, url=self.rtsp.url(f"cam{i}"))
        (self.configs / "chaos.yaml").write_text(body, encoding="utf-8")
        self.start_hub()
        for center in CENTERS:
            self.start_recorder(center)

    # -- the hub ------------------------------------------------------------------------------------------
    def start_hub(self) -> float:
        """Start ``sharpeyes run``; returns the seconds until ``/api/health`` said ok."""
        env = {**os.environ, "SHARPEYES_DATA_DIR": str(self.data), "SHARPEYES_CAMERA_CONFIGS": str(self.configs),
               "SHARPEYES_MODELS_DIR": str(PROJECT_ROOT / "data" / "models"),
               "SHARPEYES_API__PORT": str(self.api_port), "SHARPEYES_EMBEDDED_REDIS__PORT": str(self.redis_port),
               "SHARPEYES_CAMERA_RECONCILE_S": "2"}
        for name in ("REDIS_URL", "SHARPEYES_REDIS_URL", "DATABASE_URL", "SHARPEYES_DATABASE_URL"):
            env.pop(name, None)
        exe = Path(sys.executable).with_name("sharpeyes")
        t0 = time.monotonic()
        with self.hub_log.open("ab") as logf:
            self.hub = subprocess.Popen([str(exe), "run"], stdin=subprocess.DEVNULL, stdout=logf,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.wait_health(120)
        return time.monotonic() - t0

    def health(self) -> dict[str, Any] | None:
        return hub_health(self.api_port)

    def wait_health(self, timeout_s: float, *, since: float | None = None) -> float:
        """Seconds from ``since`` (default: now) until health is ok and nothing waits in the spool."""
        t0 = since if since is not None else time.monotonic()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.hub is not None and self.hub.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.hub.returncode}: see {self.hub_log}")
            h = self.health()
            if h is not None and h.get("status") == "ok" and all(
                    not w.get("backlog") for w in h.get("workers", [])):
                return time.monotonic() - t0
            time.sleep(0.25)
        raise RuntimeError(f"the hub did not report ok within {timeout_s:.0f} s: {self.health()}")

    def redis_pid(self) -> int:
        out = subprocess.run(["pgrep", "-f", f"redis-server.*{self.redis_port}"], capture_output=True, text=True)
        pids = [int(p) for p in out.stdout.split()]
        if not pids:
            raise RuntimeError("the embedded redis-server is not running")
        return pids[0]

    def stop_hub(self, sig: int = signal.SIGTERM) -> None:
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(sig)
            try:
                self.hub.wait(60)
            except subprocess.TimeoutExpired:
                self.hub.kill()
                self.hub.wait()
        self.hub = None

    # -- recorders ----------------------------------------------------------------------------------------
    def start_recorder(self, center: str) -> None:
        self.recorders[center] = subprocess.Popen(
            [sys.executable, "-m", "tests.support.chaos", "record", self.redis_url, center,
             str(self.workdir / f"center-{center}.ids")],
            cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=(self.workdir / f"recorder-{center}.log").open("ab"), start_new_session=True)

    def recorded(self, center: str) -> list[str]:
        path = self.workdir / f"center-{center}.ids"
        return path.read_text().split() if path.exists() else []

    def lag(self, center: str) -> int:
        """Entries of the center's stream not yet acknowledged by its recorder (pending + never read)."""
        client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
        try:
            for g in client.xinfo_groups(self.keys.center_stream(center)):
                if g["name"] in (GROUP, GROUP.encode()):
                    return int(g["pending"]) + int(g.get("lag") or 0)
            return int(client.xlen(self.keys.center_stream(center)))
        except redis.ResponseError:  # no stream yet: nothing routed there
            return 0
        except redis.ConnectionError:  # Redis restarting: not settled
            return 1
        finally:
            client.close()

    # -- faults -------------------------------------------------------------------------------------------
    def _log_counts(self, offset: int) -> tuple[int, int]:
        text = self.hub_log.read_bytes()[offset:].decode("utf-8", "replace")
        spooled = sum(int(line.split("spooled ")[1].split(" ")[0]) for line in text.splitlines()
                      if ": spooled " in line and "waiting for redis" in line)
        replayed = sum(int(line.split("replayed ")[1].split(" ")[0]) for line in text.splitlines()
                       if "spool: replayed " in line)
        return spooled, replayed

    def kill_redis(self, down_s: float = 0.0) -> FaultRow:
        offset = self.hub_log.stat().st_size
        t0 = time.monotonic()
        os.kill(self.redis_pid(), signal.SIGKILL)
        time.sleep(1.0)  # the watchdog polls twice a second: let the hub notice
        rec = self.wait_health(60, since=t0)
        spooled, replayed = self._log_counts(offset)
        return self._row(FaultRow("SIGKILL redis-server", rec, spooled, replayed, "restarted by the hub's watchdog"))

    def kill_recorder(self, center: str = VILLAGE, down_s: float = 2.0) -> FaultRow:
        proc = self.recorders[center]
        proc.kill()
        proc.wait()
        time.sleep(down_s)
        t0 = time.monotonic()
        self.start_recorder(center)
        deadline = t0 + 60
        while self.lag(center) and time.monotonic() < deadline:
            time.sleep(0.25)
        return self._row(FaultRow(f"SIGKILL consumer {center}", time.monotonic() - t0,
                                  note=f"down {down_s:.0f} s; pending re-read by the restarted consumer"))

    def cut_camera(self, down_s: float = 12.0) -> FaultRow:
        """Stop the RTSP server (every camera loses its stream), restore it after ``down_s`` (at least until every
        camera is offline); recovery: from the restore until each camera is online again. Also measured: seconds
        from the cut until every camera is ``offline`` (``offline_s``, target ≤ 30), and how far the availability
        ledger's offline/online rows lie from the moments observed here (``ledger_error_s``)."""
        cut_wall = time.time()
        t_cut = time.monotonic()
        self.rtsp.stop()
        self.offline_s = self._wait_states("offline", 60) - t_cut
        time.sleep(max(0.0, down_s - (time.monotonic() - t_cut)))
        restore_wall = time.time()
        t0 = time.monotonic()
        self.rtsp.start()
        online = self._wait_states("online", 90)
        online_wall = restore_wall + (online - t0)
        self.ledger_error_s = self._ledger_error(cut_wall, cut_wall + self.offline_s, restore_wall, online_wall)
        return self._row(FaultRow("RTSP server stopped", online - t0,
                                  note=f"down {down_s:.0f} s; every camera offline after {self.offline_s:.1f} s, "
                                  f"online again at the recovery; ledger within {self.ledger_error_s:.1f} s"))

    def _wait_states(self, state: str, timeout_s: float) -> float:
        """Monotonic time when every camera's state in Redis is ``state`` (or the timeout passed)."""
        client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                states = [client.hget(self.keys.camera_status(camera_id(i)), "state") for i in range(self.cameras)]
                if all(s == state.encode() for s in states):
                    break
                time.sleep(0.25)
            return time.monotonic()
        finally:
            client.close()

    def _ledger_error(self, cut: float, all_offline: float, restore: float, all_online: float) -> float:
        """Largest distance (s) of each camera's last offline row from [cut, all_offline] and of the online row after
        it from [restore, all_online], read from the hub's availability ledger; inf when a row is missing."""
        import sqlite3

        worst = 0.0
        con = sqlite3.connect(self.data / "sharpeyes.db")
        try:
            for i in range(self.cameras):
                rows = con.execute("SELECT state, at FROM camera_availability WHERE camera_id = ? ORDER BY at, id",
                                   (camera_id(i),)).fetchall()
                times = [(state, _epoch(at)) for state, at in rows]
                off = [t for state, t in times if state == "offline" and t >= cut - 1]
                on = [t for state, t in times if state == "online" and t >= off[-1]] if off else []
                if not on:
                    seen = [(state, round(t - cut, 1)) for state, t in times if t >= cut - 60]
                    self.ledger_missing = (f"camera {camera_id(i)}: no {'online' if off else 'offline'} row; from the "
                                           f"cut, all offline in Redis +{all_offline - cut:.1f} s, restore "
                                           f"+{restore - cut:.1f} s, all online +{all_online - cut:.1f} s; ledger "
                                           f"rows (s from the cut) {seen}")
                    return float("inf")
                for t, lo, hi in ((off[-1], cut, all_offline), (on[0], restore, all_online)):
                    worst = max(worst, lo - t, t - hi, 0.0)
        finally:
            con.close()
        return worst

    def kill_hub(self) -> FaultRow:
        offset = self.hub_log.stat().st_size
        assert self.hub is not None
        os.killpg(self.hub.pid, signal.SIGKILL)  # the hub and everything it started
        self.hub.wait()
        self.hub = None
        rec = self.start_hub()
        spooled, replayed = self._log_counts(offset)
        return self._row(FaultRow("SIGKILL hub (whole process group)", rec, spooled, replayed,
                                  "restarted: spool replayed, open incidents closed"))

    def fill_disk(self, hold_s: float = 10.0) -> FaultRow:
        """Fill the file system under the data folder (a small tmpfs the caller mounted there) for ``hold_s``,
        then free it; recovery: from the freeing until health is ok with nothing left in the spool."""
        offset = self.hub_log.stat().st_size
        filler = self.data / "filler"
        chunk = b"\0" * (1 << 20)
        with filler.open("wb") as fh:
            try:
                while True:
                    fh.write(chunk)
                    fh.flush()
            except OSError:
                pass
        degraded = False
        deadline = time.monotonic() + hold_s
        while time.monotonic() < deadline:
            h = self.health()
            degraded = degraded or (h is not None and h.get("status") != "ok")
            time.sleep(0.5)
        filler.unlink()
        rec = self.wait_health(90)
        spooled, replayed = self._log_counts(offset)
        text = self.hub_log.read_bytes()[offset:].decode("utf-8", "replace")
        flagged = "snapshots cannot be written" in text
        return self._row(FaultRow("data disk full", rec, spooled, replayed,
                                  f"full {hold_s:.0f} s; health degraded while full: {degraded}; "
                                  f"snapshot errors logged: {flagged}"))

    def _row(self, row: FaultRow) -> FaultRow:
        self.rows.append(row)
        self.log(f"  {row.fault}: recovered in {row.recovery_s:.1f} s (spooled {row.spooled}, "
                 f"replayed {row.replayed}) {row.note}")
        return row

    # -- the end ------------------------------------------------------------------------------------------
    def settle(self, timeout_s: float = 60) -> None:
        """Wait until every recorder has acknowledged its whole stream."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(self.lag(c) for c in CENTERS):
            time.sleep(0.5)

    def tally(self) -> Tally:
        produced = self._produced()
        routed = self._routes(produced)
        archived = self._archived()
        got = {c: set(self.recorded(c)) for c in CENTERS}
        delivered = [i for i in produced if all(i in got.get(c, set()) for c in routed.get(i, ()))
                     and i in routed]
        missing = sorted(set(produced) - set(delivered))
        dup = self._duplicated()
        redelivered = sum(len(p.read_text().split()) for p in self.workdir.glob("center-*.redelivered"))
        return Tally(produced=len(produced), delivered=len(delivered), archived=len(set(produced) & archived),
                     lost=len(missing), duplicated=dup, redelivered=redelivered,
                     per_center={c: len(v) for c, v in got.items()}, missing=missing)

    def _produced(self) -> list[str]:
        db = sqlite3.connect(str(self.data / "journal.db"))
        try:
            return [r[0] for r in db.execute("SELECT id FROM accepted ORDER BY id")]
        finally:
            db.close()

    def _archived(self) -> set[str]:
        db = sqlite3.connect(str(self.data / "sharpeyes.db"))
        try:
            return {r[0] for r in db.execute("SELECT id FROM events")}
        finally:
            db.close()

    def _routes(self, ids: list[str]) -> dict[str, tuple[str, ...]]:
        """Event id → the centers it was routed to, from the firehose entries (first states)."""
        client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        out: dict[str, tuple[str, ...]] = {}
        try:
            for _eid, fields in client.xrange(self.keys.firehose):
                if fields.get(b"update") == b"1":
                    continue
                centers = fields.get(b"centers", b"").decode()
                out[fields[b"id"].decode()] = tuple(c for c in centers.split(",") if c)
        finally:
            client.close()
        return out

    def _duplicated(self) -> int:
        client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        dup = 0
        try:
            for center in CENTERS:
                ids = [f[b"id"] for _e, f in client.xrange(self.keys.center_stream(center))]
                dup += len(ids) - len(set(ids))
        finally:
            client.close()
        return dup

    def close(self) -> None:
        for proc in self.recorders.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.stop_hub()
        self.rtsp.stop()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.support.chaos")
    ap.add_argument("command", choices=["record"])
    ap.add_argument("args", nargs="*")
    ns = ap.parse_args(argv)
    return record_main(ns.args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
