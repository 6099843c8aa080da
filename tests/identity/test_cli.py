"""``sharpeyes user …`` / ``sharpeyes token …`` through the real entry point on a data folder of the test's own, and
what ``sharpeyes run --demo`` prints about the demo accounts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from events.archive import Archive
from identity.cli import open_store
from identity.demo import DemoAccount
from sharpeyes.cli import _print_demo_accounts, main
from sharpeyes.settings import Settings
from tests.support.env import use_data_dir

SECRET = "Cli-Test-Secret-2024"


def test_user_and_token_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    use_data_dir(monkeypatch, tmp_path)
    monkeypatch.setenv("PW", SECRET)
    assert main(["user", "add", "zhang", "--role", "operator", "--jurisdiction", "140429100",
                 "--unit", "丰州镇综治中心", "--password-env", "PW"]) == 0
    with pytest.raises(SystemExit):  # argparse refuses an unknown role
        main(["user", "add", "li", "--role", "boss", "--jurisdiction", "140429"])
    assert main(["user", "add", "wang", "--role", "admin", "--jurisdiction", "999999", "--password-env", "PW"]) == 2
    assert main(["user", "list"]) == 0
    assert main(["token", "add", "prom", "--role", "technician", "--jurisdiction", "140429"]) == 0
    out = capsys.readouterr()
    assert "zhang" in out.out and "operator" in out.out and "丰州镇综治中心" in out.out
    assert "jurisdiction: no node '999999'" in out.err
    secret = out.out.strip().splitlines()[-1]
    assert secret.startswith("se_") and SECRET not in out.out + out.err
    store = open_store()
    try:
        assert store.authenticate("zhang", SECRET).jurisdiction == "140429100"
        assert store.token_principal(secret) is not None
        assert main(["token", "revoke", "prom"]) == 0 and store.token_principal(secret) is None
        assert main(["user", "disable", "zhang"]) == 0 and not store.get_user("zhang").enabled  # type: ignore[union-attr]
    finally:
        store.close()
    archive = Archive(Settings().effective_database_url)
    try:  # account changes at the console are in the access log, by the OS user
        changes = [(e.action, e.target, e.user.startswith("console:")) for e in reversed(archive.access_log())]
        assert changes == [("user_add", "zhang", True), ("token_add", "prom", True), ("token_revoke", "prom", True),
                           ("user_disable", "zhang", True)]
    finally:
        archive.close()


def test_run_demo_prints_the_accounts_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "demo-accounts.txt"
    account = DemoAccount("op-village", "operator", "140429100001", "示范社区综治中心", "社区值班员")
    hub = SimpleNamespace(settings=SimpleNamespace(demo=SimpleNamespace(enabled=True)),
                          demo_accounts=[(account, "s3cret-once")], demo_accounts_file=file)
    _print_demo_accounts(hub)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "op-village" in out and "s3cret-once" in out and "operator" in out and "140429100001" in out
    assert str(file) in out
    hub.demo_accounts = []  # a later start: the accounts exist, only the file is named
    _print_demo_accounts(hub)  # type: ignore[arg-type]
    assert capsys.readouterr().out.strip() == f"Demo accounts and their passwords: {file}"
