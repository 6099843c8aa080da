"""``sharpeyes user …`` and ``sharpeyes token …``: accounts and API tokens from the command line.

A password never comes from the command line (it would show in ``ps`` and the shell history): ``--password-env
VAR``, ``--password-stdin`` or ``--ask-password``. An API token's secret is printed once, when it is created.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from events.archive import Archive
from identity.store import IdentityError, IdentityStore
from registry.store import Registry
from sharpeyes.settings import Settings

log = logging.getLogger(__name__)

CREATE_ADMIN = "sharpeyes user add NAME --role admin --jurisdiction CODE --ask-password"
"""How an operator creates the first admin (the hub's log and its page say so while there is none)."""


def open_store(settings: Settings | None = None) -> IdentityStore:
    """The identity store of the configured database (the registry is initialised first: scopes need the tree)."""
    settings = settings or Settings()
    registry = Registry(settings.effective_database_url)
    registry.init()
    registry.close()
    store = IdentityStore(settings.effective_database_url)
    store.init()
    return store


def _logged(action: str, target: str, jurisdiction: str | None = None) -> None:
    """Write an account change made at the console to the access log (who: the OS user, authenticated by the
    machine; the hub's accounts are not involved)."""
    settings = Settings()
    archive = Archive(settings.effective_database_url)
    try:
        archive.init()
        archive.log_access(user=f"console:{getpass.getuser()}", unit="", reason="", action=action, target=target,
                           center=jurisdiction, outcome="allowed")
    finally:
        archive.close()


def _password(args: argparse.Namespace) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise IdentityError(f"password: environment variable {args.password_env} is not set")
        return value
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise IdentityError("password: the two entries differ")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    store = open_store()
    view = store.add_user(args.name, role=args.role, jurisdiction=args.jurisdiction, password=_password(args),
                          unit=args.unit or "", display_name=args.display_name or "")
    _logged("user_add", view.login, view.jurisdiction)
    print(f"user {view.login} added: {view.role} of {view.jurisdiction}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    for u in open_store().users():
        state = "enabled" if u.enabled else "disabled"
        last = u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "never"
        print(f"{u.login:<20} {u.role:<10} {u.jurisdiction:<12} {state:<8} last login {last}  {u.display_name}"
              f"  {u.unit}")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    open_store().set_password(args.name, _password(args))
    _logged("user_passwd", args.name)
    print(f"password of {args.name} changed; their sessions ended")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    open_store().set_enabled(args.name, args.enable)
    _logged("user_enable" if args.enable else "user_disable", args.name)
    print(f"user {args.name} {'enabled' if args.enable else 'disabled; their sessions ended'}")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    open_store().remove_user(args.name)
    _logged("user_remove", args.name)
    print(f"user {args.name} removed")
    return 0


def cmd_token_add(args: argparse.Namespace) -> int:
    secret = open_store().add_token(args.name, role=args.role, jurisdiction=args.jurisdiction, unit=args.unit or "",
                                    created_by=os.environ.get("USER", ""))
    _logged("token_add", args.name, args.jurisdiction)
    print(f"token {args.name} created; its secret is shown once, store it now:\n{secret}")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    for t in open_store().tokens():
        state = f"revoked {t.revoked_at.isoformat(timespec='seconds')}" if t.revoked_at else "active"
        print(f"{t.name:<20} {t.role:<10} {t.jurisdiction:<12} {state}  {t.unit}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    open_store().revoke_token(args.name)
    _logged("token_revoke", args.name)
    print(f"token {args.name} revoked")
    return 0


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except IdentityError as exc:
            print(f"sharpeyes {args.command}: {exc}", file=sys.stderr)
            return 2

    return run


def _account_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", required=True, choices=["operator", "technician", "auditor", "admin"])
    p.add_argument("--jurisdiction", required=True, metavar="CODE", help="civil code of the node the role covers")
    p.add_argument("--unit", help="单位 (shown in the access log)")


def _password_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    g.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")
    g.add_argument("--ask-password", action="store_true", help="prompt for the password (the default)")


def register_identity_commands(sub: Any) -> None:
    """Add ``user`` and ``token`` to the ``sharpeyes`` parser's subparsers."""
    usub = sub.add_parser("user", help="accounts: add, list, passwd, disable, remove").add_subparsers(
        dest="user_command", required=True)
    p = usub.add_parser("add", help="add an account")
    p.add_argument("name", help="login name")
    _account_options(p)
    p.add_argument("--display-name", help="name shown in the header and the access log")
    _password_options(p)
    p.set_defaults(func=_guard(cmd_user_add))
    usub.add_parser("list", help="list accounts (never a password)").set_defaults(func=_guard(cmd_user_list))
    p = usub.add_parser("passwd", help="change a password (ends the user's sessions)")
    p.add_argument("name")
    _password_options(p)
    p.set_defaults(func=_guard(cmd_user_passwd))
    for verb, enable in (("disable", False), ("enable", True)):
        p = usub.add_parser(verb, help=f"{verb} an account")
        p.add_argument("name")
        p.set_defaults(func=_guard(cmd_user_disable), enable=enable)
    p = usub.add_parser("remove", help="remove an account")
    p.add_argument("name")
    p.set_defaults(func=_guard(cmd_user_remove))

    tsub = sub.add_parser("token", help="API tokens for machine clients: add, list, revoke").add_subparsers(
        dest="token_command", required=True)
    p = tsub.add_parser("add", help="create a token (its secret is printed once)")
    p.add_argument("name")
    _account_options(p)
    p.set_defaults(func=_guard(cmd_token_add))
    tsub.add_parser("list", help="list tokens (never a secret)").set_defaults(func=_guard(cmd_token_list))
    p = tsub.add_parser("revoke", help="revoke a token")
    p.add_argument("name")
    p.set_defaults(func=_guard(cmd_token_revoke))
