"""``sharpeyes camera …`` subcommands: probe, discover, add, update, list, show, remove, import, export, completeness.

Owns argument parsing and printing only; every rule is in :class:`registry.service.CameraService` (shared with the
API). Passwords are never taken from the command line (it shows in ``ps`` and shell history): ``--password-env VAR``,
``--password-stdin`` or an interactive prompt (``--ask-password``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from registry.catalog_xml import catalog_xml
from registry.config import CameraConfigError
from registry.onvif import OnvifError, ProbeResult, ProbeTarget
from registry.service import CameraService, CameraSpec, RegistrationError
from registry.vault import VaultError

log = logging.getLogger(__name__)


def _service() -> CameraService:
    from registry.store import Registry
    from registry.vault import Vault
    from sharpeyes.settings import Settings

    settings = Settings()
    registry = Registry(settings.effective_database_url)
    registry.init()
    return CameraService(registry, Vault.from_settings(settings))


def _password(args: argparse.Namespace) -> SecretStr | None:
    if getattr(args, "password_env", None):
        value = os.environ.get(args.password_env)
        if value is None:
            raise RegistrationError(f"environment variable {args.password_env} is not set")
        return SecretStr(value)
    if getattr(args, "password_stdin", False):
        return SecretStr(sys.stdin.readline().rstrip("\r\n"))
    if getattr(args, "ask_password", False):
        return SecretStr(getpass.getpass("camera password: "))
    return None


def _sets(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, values read as YAML (``ptz_type=3``, ``position={longitude: 112.8, latitude: 36.8}``)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RegistrationError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = yaml.safe_load(value) if value else None
        except yaml.YAMLError:
            raise RegistrationError(f"--set {key}: value is not valid YAML") from None
    return out


def _host_port(value: str, default_port: int = 80) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and "]" not in port:
        return host.strip("[]"), int(port)
    return value, default_port


def _print_probe(result: ProbeResult) -> None:
    d = result.device
    print(f"{result.host}:{result.port}  {d.manufacturer} {d.model}  firmware {d.firmware}  serial {d.serial_number}"
          f"  hardware {d.hardware_id}")
    offset = "unknown" if result.clock_offset_s is None else f"{result.clock_offset_s:+.1f}s"
    print(f"clock offset {offset}  capabilities {', '.join(result.capabilities)}  probe {result.elapsed_s:.2f}s")
    for p in result.profiles:
        mark = "*" if p.token == result.selected_profile else " "
        print(f" {mark} {p.token:<16} {p.encoding:<5} {p.resolution or '?':>10} {p.fps or 0:>5g} fps "
              f"{p.bitrate_kbps or 0:>6} kbit/s  {p.stream_uri or '-'}  snapshot {p.snapshot_uri or '-'}")


def cmd_probe(args: argparse.Namespace) -> int:
    host, port = _host_port(args.host, args.port)
    target = ProbeTarget(host=host, port=port, username=args.user or "", password=_password(args) or SecretStr(""),
                         profile=args.profile, timeout_s=args.timeout)
    result = _service().probe(target) if args.db else _probe_only(target)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        _print_probe(result)
    return 0


def _probe_only(target: ProbeTarget) -> ProbeResult:
    from registry.onvif import probe

    return probe(target)


def cmd_discover(args: argparse.Namespace) -> int:
    from registry.discovery import discover

    target = _host_port(args.target, 3702) if args.target else None
    devices = discover(args.timeout, target=target)
    for d in devices:
        print(f"{d.source:<15} {' '.join(d.xaddrs)}  {d.address}  {' '.join(d.scopes)}")
    print(f"{len(devices)} device(s)")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    data: dict[str, Any] = {}
    if args.from_file:
        loaded = yaml.safe_load(Path(args.from_file).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise RegistrationError(f"{args.from_file}: expected a mapping of camera fields")
        data.update(loaded)
    data.update(_sets(args.set))
    for key in ("id", "name", "jurisdiction", "stream"):
        if getattr(args, key, None) is not None:
            data[key] = getattr(args, key)
    if args.onvif:
        host, port = _host_port(args.onvif)
        data["onvif"] = {"host": host, "port": port, "profile": args.profile}
    if args.user is not None:
        data["username"] = args.user
    password = _password(args)
    if password is not None:
        data["password"] = password
    if args.no_probe:
        data["probe"] = False
    view = _service().register(CameraSpec.model_validate(data), via="cli")
    print(f"registered {view.id}  {view.name}  {view.stream}"
          f"{'  WARNING: default password' if view.default_password else ''}")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    patch = _sets(args.set)
    if args.user is not None:
        patch["username"] = args.user
    password = _password(args)
    if password is not None:
        patch["password"] = password
    if not patch:
        raise RegistrationError("nothing to change (use --set KEY=VALUE, --user, --password-env...)")
    view = _service().update(args.id, patch, via="cli")
    print(f"updated {view.id}  {view.name}")
    return 0


def _console(stderr: bool = False) -> Console:
    """A rich console; when not writing to a terminal, wide enough that piped tables do not wrap."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=200)
    return console


def cmd_list(args: argparse.Namespace) -> int:
    views = _service().list()
    if args.json:
        print(json.dumps([v.model_dump(mode="json") for v in views], ensure_ascii=False, indent=2))
        return 0
    table = Table(title=f"{len(views)} camera(s)", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("ID", "jurisdiction", "credentials", "sampling", "model", "node", "rules", "stream", "name"):
        table.add_column(col, no_wrap=col in ("ID", "jurisdiction"), overflow="fold")
    for v in views:
        cred = "-" if v.username is None else ("[red]DEFAULT-PW[/]" if v.default_password else "vault")
        table.add_row(v.id, v.jurisdiction, cred, f"{v.sampling.mode}@{v.sampling.fps:g}",
                      v.detector_model or "default", v.node_label or "any", str(len(v.rules)), escape(v.stream),
                      escape(v.name) if v.enabled else f"[dim]{escape(v.name)} (disabled)[/]")
    _console().print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    view = _service().get(args.id)
    print(yaml.safe_dump(view.model_dump(mode="json"), allow_unicode=True, sort_keys=False), end="")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    _service().remove(args.id, via="cli")
    print(f"removed {args.id}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    service = _service()
    with Progress(TextColumn("importing {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task(Path(args.file).name, total=None)
        result = service.import_yaml(Path(args.file), lambda done, total: bar.update(task, completed=done,
                                                                                      total=total))
    print(f"{args.file}: {len(result.added)} added, {len(result.updated)} updated, {len(result.unchanged)} unchanged"
          f", {result.jurisdictions} jurisdiction node(s)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    service = _service()
    if args.format == "gb28181":
        return _export_catalog(service, args)
    text = service.export_yaml(args.ids or None)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _export_catalog(service: CameraService, args: argparse.Namespace) -> int:
    """The registry as a GB/T 28181 Catalog XML body; cameras left out are listed on stderr."""
    try:
        export = catalog_xml(service.registry, encoding=args.encoding, device_id=args.device_id, sn=args.sn,
                             ids=args.ids or None)
    except ValueError as exc:
        raise RegistrationError(str(exc)) from None
    for problem in export.problems:
        print(f"sharpeyes camera export: {problem.id or 'catalog'}: {problem.detail}", file=sys.stderr)
    if args.output:
        Path(args.output).write_bytes(export.data)
        print(f"wrote {args.output}: {export.cameras} camera(s), {export.groups} group node(s), {export.encoding}")
    else:
        sys.stdout.buffer.write(export.data)
        sys.stdout.flush()
    return 0


def cmd_completeness(args: argparse.Namespace) -> int:
    report = _service().completeness()
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    table = Table(title="一机一档: incomplete records", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("ID", "filled", "name", "problems"):
        table.add_column(col, no_wrap=col in ("ID", "filled"), overflow="fold",
                         justify="right" if col == "filled" else "left")
    for c in report.cameras:
        if c.complete:
            continue
        problems = [f"missing {', '.join(c.missing)}"] if c.missing else []
        problems += [f"{i.field}: {i.detail}" for i in c.invalid]
        table.add_row(c.camera_id, f"{c.filled_ratio:.0%}", escape(c.name), escape("; ".join(problems)))
    if table.row_count:
        _console().print(table)
    print(f"一机一档 completeness: {report.complete}/{report.total} cameras complete ({report.rate:.1%})")
    return 0


def _password_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--password-env", metavar="VAR", help="read the device password from this environment variable")
    g.add_argument("--password-stdin", action="store_true", help="read the device password from the first stdin line")
    g.add_argument("--ask-password", action="store_true", help="prompt for the device password")


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn expected failures into one clear line on stderr (no traceback, no secret)."""

    def run(args: argparse.Namespace) -> int:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        try:
            return func(args)
        except OnvifError as exc:
            print(f"sharpeyes camera: ONVIF {type(exc).__name__}: {exc}", file=sys.stderr)
            return 3
        except CameraConfigError as exc:
            print(f"sharpeyes camera: {exc}", file=sys.stderr)
            return 2
        except (RegistrationError, VaultError) as exc:
            print(f"sharpeyes camera: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        except ValidationError as exc:  # location and message only: the input may hold a password
            for e in exc.errors(include_url=False):
                where = ".".join(str(p) for p in e["loc"]) or "camera"
                print(f"sharpeyes camera: {where}: {e['msg']}", file=sys.stderr)
            return 2

    return run


def register_camera_commands(sub: Any) -> None:
    """Add ``camera`` and its subcommands to the ``sharpeyes`` parser's subparsers."""
    cam = sub.add_parser("camera", help="register and inspect cameras (ONVIF probe, vault, 一机一档)")
    csub = cam.add_subparsers(dest="camera_command", required=True)

    p = csub.add_parser("probe", help="probe an ONVIF device: identity, profiles, stream/snapshot URIs, clock")
    p.add_argument("host", help="device host or host:port")
    p.add_argument("--port", type=int, default=80, help="ONVIF HTTP port (default 80)")
    p.add_argument("--user", help="ONVIF user name")
    _password_options(p)
    p.add_argument("--profile", help="profile token or name to select (default: main H.264)")
    p.add_argument("--timeout", type=float, default=5.0, help="per-request timeout, seconds")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_guard(cmd_probe), db=False)

    p = csub.add_parser("discover", help="WS-Discovery probe for ONVIF NetworkVideoTransmitters")
    p.add_argument("--timeout", type=float, default=3.0, help="how long to collect replies, seconds")
    p.add_argument("--target", help="send the probe unicast to HOST[:PORT] instead of multicast")
    p.set_defaults(func=_guard(cmd_discover))

    p = csub.add_parser("add", help="register a camera (probes its ONVIF endpoint when --onvif is given)")
    p.add_argument("--id", help="GB/T 28181 ID (default: generated from the jurisdiction)")
    p.add_argument("--name", help="camera name")
    p.add_argument("--jurisdiction", help="civil code of its village/grid or township")
    p.add_argument("--stream", help="stream URL (credentials in it go to the vault)")
    p.add_argument("--onvif", metavar="HOST[:PORT]", help="ONVIF endpoint to probe for stream and catalog fields")
    p.add_argument("--profile", help="ONVIF profile token or name (default: main H.264)")
    p.add_argument("--user", help="device user name")
    _password_options(p)
    p.add_argument("--no-probe", action="store_true", help="do not contact the ONVIF endpoint")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any camera field, e.g. ptz_type=3")
    p.add_argument("--from-file", metavar="YAML", help="camera fields from a YAML mapping")
    p.set_defaults(func=_guard(cmd_add))

    p = csub.add_parser("update", help="change fields or credentials of a camera")
    p.add_argument("id")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any camera field, e.g. address=...")
    p.add_argument("--user", help="device user name")
    _password_options(p)
    p.set_defaults(func=_guard(cmd_update))

    p = csub.add_parser("list", help="list registered cameras")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_guard(cmd_list))

    p = csub.add_parser("show", help="show one camera's record (never its password)")
    p.add_argument("id")
    p.set_defaults(func=_guard(cmd_show))

    p = csub.add_parser("remove", help="remove a camera and its credentials")
    p.add_argument("id")
    p.set_defaults(func=_guard(cmd_remove))

    p = csub.add_parser("import", help="register/update the cameras of a YAML file (all or nothing)")
    p.add_argument("file")
    p.set_defaults(func=_guard(cmd_import))

    p = csub.add_parser("export", help="write cameras as YAML or a GB/T 28181 Catalog (no credentials)")
    p.add_argument("ids", nargs="*", help="camera IDs (default: all)")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.add_argument("--format", choices=["yaml", "gb28181"], default="yaml",
                   help="yaml (camera_configs/ format, default) or gb28181 (Catalog response XML, docs/gb28181.md)")
    p.add_argument("--encoding", choices=["utf-8", "gb18030"], default="utf-8", help="XML encoding (gb28181)")
    p.add_argument("--device-id", help="the platform's 20-digit ID in the XML (default: derived from the county)")
    p.add_argument("--sn", type=int, default=1, help="SN of the Catalog response (gb28181)")
    p.set_defaults(func=_guard(cmd_export))

    p = csub.add_parser("completeness", help="一机一档: missing/invalid fields and the completeness rate")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_guard(cmd_completeness))
