"""``sharpeyes`` command line: run the hub, check configuration, export models, list cameras, four-all audit,
the database's schema (``sharpeyes db upgrade|current|check``), accounts and API tokens (``sharpeyes user …``,
``sharpeyes token …``: ``identity/cli.py``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import MetaData

from sharpeyes.keys import CENTER_GROUP
from sharpeyes.node import Roles
from sharpeyes.settings import Settings

if TYPE_CHECKING:
    from sharpeyes.hub import Hub

log = logging.getLogger("sharpeyes")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "demo", False):
        overrides["demo"] = {"enabled": True}
    if getattr(args, "port", None) is not None:
        overrides["api"] = {"port": args.port}
    return Settings(**overrides)  # type: ignore[arg-type]


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for noisy in ("uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_run(args: argparse.Namespace) -> int:
    """All in one: cameras, singletons (under the lock when cluster.leases shares the cameras), API and web app."""
    settings = _settings(args)
    return _serve(settings, Roles(singletons="locked" if settings.cluster.leases else "here"))


def cmd_worker(args: argparse.Namespace) -> int:
    """A worker node: ingest and analytics of the cameras it leases (cluster.leases is on), liveness and metrics."""
    settings = _settings(args)
    settings = settings.model_copy(update={"cluster": settings.cluster.model_copy(update={"leases": True})})
    return _serve(settings, Roles(cameras=True, api=False, singletons="locked" if args.singletons else "none"))


def cmd_api(args: argparse.Namespace) -> int:
    """An API node: the API and the web app, no cameras."""
    return _serve(_settings(args), Roles(cameras=False, api=True,
                                         singletons="locked" if args.singletons else "none"))


def _serve(settings: Settings, roles: Roles) -> int:
    import uvicorn

    from api.app import create_app, create_worker_app
    from sharpeyes.hub import Hub

    _setup_logging(settings.log_level)
    # SIGTERM (systemd, docker, timeout) stops the hub like Ctrl-C. uvicorn captures both while serving and
    # re-raises them after shutdown: with the default SIGTERM action that would kill us before hub.stop()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        hub = Hub(settings, roles)  # opens Redis, the registry and the archive; closes them itself when that fails
        try:
            hub.start()
            _print_demo_accounts(hub)
            app = create_app(hub.api_deps()) if roles.api else create_worker_app(hub.api_deps())
            # proxy headers (X-Forwarded-Proto/-For) are trusted from FORWARDED_ALLOW_IPS only (default 127.0.0.1):
            # behind a TLS reverse proxy on this machine the session cookie is then marked Secure
            config = uvicorn.Config(app, host=settings.api.host, port=settings.api.port,
                                    log_level="warning", access_log=False, proxy_headers=True)
            server = uvicorn.Server(config)
            what = "web UI" if roles.api else "worker node: health"
            log.info("hub ready (%s): %s http://%s:%d/%s (Ctrl-C stops)", _describe(roles), what,
                     settings.api.host, settings.api.port, "" if roles.api else "api/health")
            server.run()  # returns on SIGINT/SIGTERM (then raises KeyboardInterrupt: the captured signal re-raised)
        finally:
            hub.stop()
    except KeyboardInterrupt:
        log.info("interrupted")
    return 0


def _describe(roles: Roles) -> str:
    parts = [name for name, on in (("cameras", roles.cameras), ("api", roles.api)) if on]
    if roles.singletons != "none":
        parts.append("singletons" + (" under the lock" if roles.singletons == "locked" else ""))
    return ", ".join(parts)


def _print_demo_accounts(hub: Hub) -> None:
    """The demo accounts created by this start, with their passwords, once on stdout (never in the log); else
    where they are kept."""
    if not hub.settings.demo.enabled:
        return
    if hub.demo_accounts:
        print(f"\nDemo accounts (passwords shown once; also in {hub.demo_accounts_file}, mode 0600):")
        print(f"  {'login':<13} {'password':<18} {'role':<11} jurisdiction")
        for account, password in hub.demo_accounts:
            print(f"  {account.login:<13} {password:<18} {account.role:<11} {account.jurisdiction}  "
                  f"{account.display_name}")
        print(flush=True)
    else:
        print(f"Demo accounts and their passwords: {hub.demo_accounts_file}", flush=True)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the camera configs, and refuse cameras naming a model that is not there or rules needing classes
    their model lacks (a default model not exported yet is skipped, with a warning)."""
    from analytics.model_check import refuse_unserved_rules
    from registry.store import Registry

    settings = _settings(args)
    _setup_logging("WARNING")
    reg = Registry("sqlite://")
    try:
        reg.init()
        ids = reg.sync_camera_configs(settings.camera_configs)
        refuse_unserved_rules(settings, reg.cameras(enabled_only=True), {}, strict_default=False)
    finally:
        reg.close()
    print(f"{settings.camera_configs}: {len(ids)} camera(s) valid")
    return 0


def cmd_model_export(args: argparse.Namespace) -> int:
    from analytics.detector import export_model

    settings = _settings(args)
    _setup_logging(settings.log_level)
    formats = args.format or None
    calibration = Path(args.calibration) if args.calibration else None
    out = export_model(settings.detector, settings.model_dir, formats, int8=args.int8, calibration=calibration,
                       calibration_frames=args.calibration_frames, force_int8=args.int8 and calibration is not None)
    for fmt, path in out.items():
        print(f"{fmt}: {path}")
    return 0


def cmd_model_import(args: argparse.Namespace) -> int:
    from analytics.models import import_model

    settings = _settings(args)
    _setup_logging(settings.log_level)
    info = import_model(Path(args.file), settings.model_dir, settings.detector, name=args.name, force=args.force,
                        formats=args.format or None, int8=args.int8,
                        calibration=Path(args.calibration) if args.calibration else None)
    print(f"model {info.name}: {len(info.classes)} classes ({', '.join(info.classes[:12])}"
          f"{', …' if len(info.classes) > 12 else ''}), exported to {', '.join(info.exported) or 'nothing (PyTorch)'}")
    print(f"use it for a camera with `detector_model: {info.name}` in its YAML, or "
          f"`sharpeyes camera update ID --set detector_model={info.name}`")
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    from analytics.models import list_models

    settings = _settings(args)
    _setup_logging("WARNING")
    print(f"  {'name':<24} {'exports at ' + str(settings.detector.imgsz):<24} {'runs as':<24} classes")
    for info in list_models(settings.model_dir, settings.detector):
        mark = "*" if info.default else " "
        classes = ", ".join(info.classes[:8]) + (f", … ({len(info.classes)})" if len(info.classes) > 8 else "")
        print(f"{mark} {info.name:<24} {','.join(info.exported) or 'pytorch':<24} {info.runtime:<24} {classes}")
    return 0


def cmd_cameras(args: argparse.Namespace) -> int:
    from registry.store import Registry

    settings = _settings(args)
    _setup_logging("WARNING")
    reg = Registry(settings.effective_database_url)
    reg.init()
    for cam in reg.cameras():
        print(f"{cam.id}  {cam.jurisdiction_code:<12}  {cam.sample_mode}@{cam.sample_fps:g}  {cam.name}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Four-all (四全) audit of the registry and archive over a window, as HTML, JSON or CSV."""
    from zoneinfo import ZoneInfo

    from audit.fourall import build_report, resolve_window
    from audit.report import to_csv, to_html, to_json
    from events.archive import Archive
    from registry.store import Registry

    settings = _settings(args)
    _setup_logging("WARNING")
    start, end = resolve_window(days=args.days, since=args.since, until=args.until, tz=ZoneInfo(settings.timezone))
    reg = Registry(settings.effective_database_url)
    archive = Archive(settings.effective_database_url)
    try:
        reg.init()
        archive.init()
        report = build_report(reg, archive, settings, start, end)
    finally:
        archive.close()
        reg.close()
    text = {"json": to_json, "csv": to_csv, "html": to_html}[args.format](report)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"audit {start.isoformat()} .. {end.isoformat()}: {report.status} -> {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _model_metadata() -> list[MetaData]:
    """The models of every table in the hub's database (registry, archive, identity)."""
    from events.archive import ArchiveBase
    from identity.models import IdentityBase
    from registry.models import Base

    return [Base.metadata, ArchiveBase.metadata, IdentityBase.metadata]


def cmd_db(args: argparse.Namespace) -> int:
    """``db upgrade``: migrate the database (DATABASE_URL, else the SQLite file in data_dir) to this release's schema
    (the hub does it at start too); ``db current``: the revision it is at; ``db check``: whether the database and
    this release's models agree (exit 1 listing the differences); ``db revision``: the next migration file,
    autogenerated from the models against a scratch database."""
    from sharpeyes import migrate
    from sharpeyes.connections import make_engine, redacted_database_url

    settings = _settings(args)
    _setup_logging(settings.log_level if args.db_command == "upgrade" else "WARNING")
    url = settings.effective_database_url
    if args.db_command == "revision":  # against a scratch database at the head unless --against names one
        scratch = tempfile.TemporaryDirectory(prefix="sharpeyes-revision-")
        url = args.against or f"sqlite:///{scratch.name}/scratch.db"
    where = redacted_database_url(url)
    engine = make_engine(url)
    try:
        if args.db_command == "upgrade":
            before = migrate.current(engine)
            after = migrate.upgrade(engine, args.revision)
            print(f"{where}: {before or '(none)'} -> {after}" if before != after else f"{where}: at {after} already")
            return 0
        if args.db_command == "revision":
            path = migrate.new_revision(engine, _model_metadata(), args.message)
            print(f"{path}: review it (autogenerate misses renames and data moves), then commit it")
            return 0
        rev = migrate.current(engine)
        if args.db_command == "current":
            head = migrate.head()
            state = "head" if rev == head else f"behind {head}: run `sharpeyes db upgrade`" if rev else \
                "not migrated: run `sharpeyes db upgrade`"
            print(f"{where}: {rev or '(none)'} ({state})")
            return 0
        diff = migrate.schema_diff(engine, _model_metadata())
        if diff:
            print(f"{where} (revision {rev or '(none)'}) differs from this release's models:", file=sys.stderr)
            for item in diff:
                print(f"  {item}", file=sys.stderr)
            return 1
        print(f"{where}: revision {rev}, schema matches this release's models")
        return 0
    finally:
        engine.dispose()


def _iso_datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date/time: {text!r}") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def cmd_consume(args: argparse.Namespace) -> int:
    """Print (and ack) the events of one center's stream as a consumer of its group."""
    import threading

    import redis

    from events.consumer import CenterConsumer
    from sharpeyes.connections import redis_connect_url
    from sharpeyes.keys import Keys
    from sharpeyes.schema import Event
    from sharpeyes.urls import redact_url

    settings = _settings(args)
    _setup_logging("WARNING")
    if not settings.redis_url:
        print("sharpeyes consume: REDIS_URL is not set: point it at the hub's Redis (the embedded one is private "
              "to `sharpeyes run`)", file=sys.stderr)
        return 2
    url = redis_connect_url(settings.redis_url, settings.redis)  # with the password: never printed as such
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"sharpeyes consume: cannot reach Redis at {redact_url(url)}: {exc}", file=sys.stderr)
        return 1

    def show(event: Event) -> None:
        when = event.occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        extra = "".join(f" {k}={v}" for k, v in (("zone", event.zone), ("rule", event.rule)) if v)
        print(f"{when} {event.type.value} {event.severity.value} {event.camera_id} {event.id}{extra}", flush=True)

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        stop.set()  # first: finish the entry at hand (printed and acked), then exit

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    consumer = CenterConsumer(client, args.center, show, keys=Keys(settings.key_prefix), group=args.group,
                              consumer=args.consumer, block_ms=500)
    try:
        consumer.run(stop, max_handled=args.count)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        client.close()
    return 0


def _int8_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--int8", action="store_true",
                   help="also quantise the OpenVINO export to INT8 (NNCF post-training quantisation, offline)")
    p.add_argument("--calibration", metavar="DIR",
                   help="INT8 calibration frames: a folder of images/videos of your cameras, or one video "
                   "(default: the demo footage); given, the INT8 export is redone")


SINGLETONS_HELP = ("also take part in running the archiver, SLA escalator, retention and WVP bridge: one node at a "
                   "time among those given --singletons runs them, under a Redis lock (give it to two for failover)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sharpeyes", description="Sharp Eyes Hub")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the hub (registry, ingest, analytics, events, API)")
    run.add_argument("--demo", action="store_true", help="serve the demo footage over a local RTSP server")
    run.add_argument("--port", type=int, help="HTTP port (default 8000)")
    run.set_defaults(func=cmd_run)
    wrk = sub.add_parser("worker", help="a worker node: ingest and analytics of the cameras it leases (many nodes "
                         "share one Redis and one database); serves /api/health and /metrics only")
    wrk.add_argument("--port", type=int, help="HTTP port of /api/health and /metrics (default 8000)")
    wrk.add_argument("--singletons", action="store_true", help=SINGLETONS_HELP)
    wrk.set_defaults(func=cmd_worker)
    api = sub.add_parser("api", help="an API node: the API and the web app, no cameras")
    api.add_argument("--port", type=int, help="HTTP port (default 8000)")
    api.add_argument("--singletons", action="store_true", help=SINGLETONS_HELP)
    api.set_defaults(func=cmd_api)
    chk = sub.add_parser("check-config", help="validate camera_configs/*.yaml")
    chk.set_defaults(func=cmd_check)
    model = sub.add_parser("model", help="detector models")
    msub = model.add_subparsers(dest="model_command", required=True)
    exp = msub.add_parser("export", help="export the configured model to the fastest available backend (offline)")
    exp.add_argument("--format", action="append", choices=["openvino", "onnx"], help="format(s) to export")
    _int8_arguments(exp)
    exp.add_argument("--calibration-frames", type=_positive_int, default=120, metavar="N",
                     help="calibration frames read from the source (default 120)")
    exp.set_defaults(func=cmd_model_export)
    imp = msub.add_parser("import", help="add an operator's ultralytics detection model (.pt), exported offline; "
                          "cameras select it with detector_model")
    imp.add_argument("file", help="ultralytics .pt checkpoint (e.g. a COCO yolo11n.pt copied onto this machine)")
    imp.add_argument("--name", help="name cameras use (default: from the file name, e.g. yolo11n)")
    imp.add_argument("--force", action="store_true", help="replace an imported model of the same name")
    imp.add_argument("--format", action="append", choices=["openvino", "onnx"], help="format(s) to export")
    _int8_arguments(imp)
    imp.set_defaults(func=cmd_model_import)
    lst = msub.add_parser("list", help="models the hub can load (* = the default), their exports and classes")
    lst.set_defaults(func=cmd_model_list)
    cams = sub.add_parser("cameras", help="list registered cameras")
    cams.set_defaults(func=cmd_cameras)
    con = sub.add_parser("consume", help="print and ack one center's events (a consumer of its group)")
    con.add_argument("--center", required=True, metavar="CODE", help="civil code of the center's jurisdiction")
    con.add_argument("--group", default=CENTER_GROUP, help=f"consumer group (default: {CENTER_GROUP})")
    con.add_argument("--consumer", help="consumer name (default: <hostname>-<pid>)")
    con.add_argument("--count", type=_positive_int, metavar="N", help="exit after N events")
    con.set_defaults(func=cmd_consume)
    aud = sub.add_parser("audit", help="four-all (四全) audit: coverage, sharing, availability, control")
    aud.add_argument("--days", type=_positive_int, default=30, metavar="N",
                     help="window of the last N days, ending at --until or now (default 30)")
    aud.add_argument("--since", type=_iso_datetime, metavar="ISO",
                     help="window start (ISO 8601; without offset: the hub's timezone); overrides --days")
    aud.add_argument("--until", type=_iso_datetime, metavar="ISO", help="window end (ISO 8601; default now)")
    aud.add_argument("--format", choices=["json", "csv", "html"], default="html", help="report format (default html)")
    aud.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE (default: stdout)")
    aud.set_defaults(func=cmd_audit)
    db = sub.add_parser("db", help="the SQL database's schema: upgrade (migrate), current revision, check, revision")
    dsub = db.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser("upgrade", help="migrate DATABASE_URL (or data_dir/sharpeyes.db) to this release's schema; "
                         "a database made before migrations is adopted in place")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    dsub.add_parser("current", help="the revision the database is at")
    dsub.add_parser("check", help="compare the database with this release's models (exit 1 on a difference)")
    rev = dsub.add_parser("revision", help="(developers) write the next migration, autogenerated from the models, "
                          "into sharpeyes/migrations/versions")
    rev.add_argument("message", help="what the revision does, e.g. 'add cameras.lease_owner'")
    rev.add_argument("--against", metavar="URL", help="database to compare with (brought to the head first; "
                     "default: a scratch SQLite file; PostgreSQL compares types more closely)")
    db.set_defaults(func=cmd_db)
    from registry.cli import register_camera_commands  # sharpeyes camera probe|add|list|show|remove|import|export

    register_camera_commands(sub)
    from identity.cli import register_identity_commands  # sharpeyes user add|list|…, sharpeyes token add|list|revoke

    register_identity_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from registry.config import CameraConfigError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CameraConfigError as exc:
        print(f"sharpeyes: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # the database refused or is unreachable: the driver's words, not the URL
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        print(f"sharpeyes: database error: {detail[0] if detail else type(exc).__name__}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print(f"sharpeyes: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"sharpeyes: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
