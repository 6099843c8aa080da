"""Credential vault: key file created 0600 and reused, env key, encryption at rest, URL credential handling."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from registry.vault import Vault, VaultError
from sharpeyes.settings import Settings
from sharpeyes.urls import Credentials, inject_credentials, is_default_password, redact, split_credentials


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "vault.key"
    v1 = Vault.from_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = v1.encrypt("p@ss:word/1")
    v2 = Vault.from_key_file(path)  # second run: same key
    assert v2.decrypt(token).get_secret_value() == "p@ss:word/1"
    assert "p@ss" not in token


def test_key_from_settings_env_wins_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("SHARPEYES_VAULT_KEY", key)
    monkeypatch.setenv("SHARPEYES_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert key not in repr(settings)
    vault = Vault.from_settings(settings)
    assert not (tmp_path / "vault.key").exists()
    assert Fernet(key.encode()).decrypt(vault.encrypt("x").encode()) == b"x"
    monkeypatch.delenv("SHARPEYES_VAULT_KEY")
    Vault.from_settings(Settings())
    assert (tmp_path / "vault.key").exists()  # default key file in data_dir


def test_other_key_cannot_decrypt(tmp_path: Path) -> None:
    token = Vault.from_key_file(tmp_path / "a.key").encrypt("secret-1")
    with pytest.raises(VaultError, match="does not decrypt") as err:
        Vault.from_key_file(tmp_path / "b.key").decrypt(token)
    assert "secret-1" not in str(err.value)
    with pytest.raises(VaultError):
        Vault(b"not a key")


def test_secrets_are_masked_in_repr() -> None:
    creds = Credentials(username="admin", password=SecretStr("Hunter2-xyz"))
    assert "Hunter2-xyz" not in repr(creds) and "Hunter2-xyz" not in str(creds)
    assert "Hunter2-xyz" not in creds.model_dump_json()
    key = Fernet.generate_key()
    assert repr(Vault(key)) == "Vault(key=***)" and key.decode() not in repr(Vault(key))


def test_split_and_inject_credentials() -> None:
    clean, creds = split_credentials("rtsp://admin:p%40ss%3Aw@10.0.0.5:554/Streaming/Channels/101")
    assert clean == "rtsp://10.0.0.5:554/Streaming/Channels/101"
    assert creds is not None and creds.username == "admin" and creds.password.get_secret_value() == "p@ss:w"
    assert inject_credentials(clean, creds) == "rtsp://admin:p%40ss%3Aw@10.0.0.5:554/Streaming/Channels/101"
    assert split_credentials("rtsp://10.0.0.5/x") == ("rtsp://10.0.0.5/x", None)
    assert inject_credentials("rtsp://h/x", None) == "rtsp://h/x"


def test_redact() -> None:
    text = "[rtsp @ 0x1] method DESCRIBE failed: 401 rtsp://admin:p%40ss@10.0.0.5/x p@ss"
    out = redact(text, "p@ss")
    assert "p@ss" not in out and "p%40ss" not in out and "rtsp://***@10.0.0.5/x" in out


@pytest.mark.parametrize(("user", "pw", "default"), [
    ("admin", "admin", True), ("admin", "12345", True), ("ADMIN", "12345", True), ("operator", "", True),
    ("admin", "Zq7!long-unique", False), ("operator", "admin", False),
])
def test_default_passwords_flagged(user: str, pw: str, default: bool) -> None:
    assert is_default_password(user, pw) is default
    assert Credentials(username=user, password=SecretStr(pw)).is_default is default
