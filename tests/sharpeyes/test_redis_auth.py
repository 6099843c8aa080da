"""The hub on a Redis of another machine, as a county deployment runs it: a real redis-server with a password, an ACL
user, and TLS with client certificates; the database on PostgreSQL. The hub connects (its events reach the
server), and the password — in REDIS_URL, in the settings or in a file — appears in no log line, no settings repr
and no error message."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from pydantic import ValidationError

from sharpeyes.cli import main
from sharpeyes.hub import Hub
from sharpeyes.keys import Keys
from sharpeyes.settings import Settings
from tests.support.env import use_data_dir
from tests.support.events import make_event
from tests.support.secure_redis import SecureRedis

PASSWORD = "s3cr:t/p@ss w0rd%"
"""Characters a URL must percent-encode: neither the password nor its encoded form may show anywhere."""


def leaked(text: str, password: str = PASSWORD) -> list[str]:
    return [form for form in {password, quote(password), quote(password, safe="")} if form in text]


@pytest.fixture(scope="module")
def secure_redis() -> Iterator[SecureRedis]:
    try:
        server = SecureRedis(PASSWORD, user_password="acl-" + PASSWORD).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


def hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str | None = None) -> None:
    use_data_dir(monkeypatch, tmp_path / "data")
    (tmp_path / "cams").mkdir()
    monkeypatch.setenv("SHARPEYES_CAMERA_CONFIGS", str(tmp_path / "cams"))
    if database_url:
        monkeypatch.setenv("DATABASE_URL", database_url)


def run_hub_once(server_client: redis.Redis, user: str = "default") -> str:
    """Open a hub from the environment, publish one event through it, check the hub is connected as ``user``, and
    return the settings' repr."""
    settings = Settings()  # type: ignore[call-arg]
    hub = Hub(settings)
    try:
        hub.components.publisher.publish(make_event())
        firehose = Keys(settings.key_prefix).firehose
        assert server_client.xlen(firehose) >= 1  # the event is on the shared server
        clients = server_client.client_list()  # type: ignore[no-untyped-call]
        assert user in {c["user"] for c in clients if c["id"] != str(server_client.client_id())}
    finally:
        hub.stop()
    return f"{settings!r} {settings}"


@pytest.mark.parametrize("where", ["url", "settings", "acl_user_file"])
def test_the_hub_connects_and_never_shows_the_password(where: str, secure_redis: SecureRedis, postgres_url: str,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    hub_env(monkeypatch, tmp_path, postgres_url)
    plain = f"redis://{secure_redis.host_port}/0"
    if where == "url":
        monkeypatch.setenv("REDIS_URL", f"redis://:{quote(PASSWORD, safe='')}@{secure_redis.host_port}/0")
    elif where == "settings":
        monkeypatch.setenv("REDIS_URL", plain)
        monkeypatch.setenv("SHARPEYES_REDIS__PASSWORD", PASSWORD)
    else:
        secret = tmp_path / "redis-password"
        secret.write_text(f"acl-{PASSWORD}\n", encoding="utf-8")
        monkeypatch.setenv("REDIS_URL", plain)
        monkeypatch.setenv("SHARPEYES_REDIS__USERNAME", secure_redis.user)
        monkeypatch.setenv("SHARPEYES_REDIS__PASSWORD_FILE", str(secret))
    caplog.set_level(logging.DEBUG)
    with secure_redis.client() as admin:
        admin.flushall()
        shown = run_hub_once(admin, secure_redis.user if where == "acl_user_file" else "default")
    assert "redis: redis://" in caplog.text and f"@{secure_redis.host_port}/0" in caplog.text
    assert "database postgresql+psycopg://" in caplog.text  # migrated at start, on PostgreSQL
    assert leaked(caplog.text) == [] and leaked(caplog.text, "acl-" + PASSWORD) == []
    assert leaked(shown) == [] and leaked(shown, "acl-" + PASSWORD) == []


def test_a_wrong_password_is_refused_and_not_printed(secure_redis: SecureRedis, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wr0ng:" + PASSWORD
    hub_env(monkeypatch, tmp_path)
    monkeypatch.setenv("REDIS_URL", f"redis://:{quote(wrong, safe='')}@{secure_redis.host_port}/0")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(redis.AuthenticationError) as refused:
        Hub(Settings())  # type: ignore[call-arg]
    assert leaked(str(refused.value), wrong) == [] and leaked(caplog.text, wrong) == []
    assert main(["consume", "--center", "140429", "--count", "1"]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach Redis at redis://***@{secure_redis.host_port}/0" in err and leaked(err, wrong) == []


def test_tls_with_a_client_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    try:
        server = SecureRedis(PASSWORD, tls=True).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        assert server.tls is not None
        secret = tmp_path / "redis-password"
        secret.write_text(PASSWORD, encoding="utf-8")
        hub_env(monkeypatch, tmp_path)
        monkeypatch.setenv("REDIS_URL", f"rediss://{server.host_port}/0")
        monkeypatch.setenv("SHARPEYES_REDIS__PASSWORD_FILE", str(secret))
        monkeypatch.setenv("SHARPEYES_REDIS__CA_FILE", str(server.tls.ca))
        monkeypatch.setenv("SHARPEYES_REDIS__CERT_FILE", str(server.tls.client_cert))
        monkeypatch.setenv("SHARPEYES_REDIS__KEY_FILE", str(server.tls.client_key))
        caplog.set_level(logging.DEBUG)
        with server.client() as admin:
            shown = run_hub_once(admin)
        assert leaked(caplog.text) == [] and leaked(shown) == []
        # the certificates are checked: without the client certificate the server refuses the hub, and without
        # the CA the hub refuses the server
        monkeypatch.delenv("SHARPEYES_REDIS__CERT_FILE")
        monkeypatch.delenv("SHARPEYES_REDIS__KEY_FILE")
        with pytest.raises(redis.ConnectionError):
            Hub(Settings())  # type: ignore[call-arg]
        monkeypatch.setenv("SHARPEYES_REDIS__CERT_FILE", str(server.tls.client_cert))
        monkeypatch.setenv("SHARPEYES_REDIS__KEY_FILE", str(server.tls.client_key))
        monkeypatch.delenv("SHARPEYES_REDIS__CA_FILE")
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            Hub(Settings())  # type: ignore[call-arg]
    finally:
        server.stop()


@pytest.mark.parametrize(("env", "message"), [
    ({"REDIS_URL": "redis://h:6379/0", "SHARPEYES_REDIS__CA_FILE": "{ca}"}, "need a rediss:// redis_url"),
    ({"REDIS_URL": "redis://:pw@h:6379/0", "SHARPEYES_REDIS__PASSWORD": "pw2"}, "in redis_url and in redis.password"),
    ({"REDIS_URL": "redis://a@h:6379/0", "SHARPEYES_REDIS__USERNAME": "b"}, "names another user"),
    ({"SHARPEYES_REDIS__PASSWORD": ":pw"}, "need redis_url"),
    ({"REDIS_URL": "rediss://h:6380/0", "SHARPEYES_REDIS__CERT_FILE": "{ca}"}, "cert_file and key_file go together"),
    ({"REDIS_URL": "rediss://h:6380/0", "SHARPEYES_REDIS__CA_FILE": "/nonexistent.pem"}, "is not a file"),
    ({"REDIS_URL": "http://:pw@h/"}, "is not a redis://"),
])
def test_inconsistent_redis_settings_are_refused(env: dict[str, str], message: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    use_data_dir(monkeypatch, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(ca=ca))
    with pytest.raises(ValidationError, match=message) as refused:
        Settings()  # type: ignore[call-arg]
    assert ":pw" not in str(refused.value)  # the input is not repeated in the error


def test_the_settings_repr_hides_both_urls_passwords(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, redis_url="redis://hub:hunter2-redis@10.0.0.5:6379/0",  # type: ignore[call-arg]
                 database_url="postgresql://hub:hunter2-pg@10.0.0.6/sharpeyes")
    shown = f"{s!r} {s}"
    assert "hunter2" not in shown
    assert "redis://hub:***@10.0.0.5:6379/0" in shown and "postgresql://hub:***@10.0.0.6/sharpeyes" in shown
