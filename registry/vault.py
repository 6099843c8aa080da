"""Credential vault: camera passwords encrypted at rest (Fernet), stream URLs kept free of credentials.

Owns the vault key and the crypto. The key comes from ``SHARPEYES_VAULT_KEY`` (settings ``vault_key``) or from the
key file (settings ``vault_key_file``, default ``data_dir/vault.key``), which is created on first use with mode 0600.
A password is decrypted only where a device is contacted: the ONVIF probe and the ffmpeg command line built at
spawn time (:func:`inject_credentials`). Passwords travel as :class:`pydantic.SecretStr`, whose repr and str are
masked; :func:`redact` scrubs them (and any ``user:pass@`` in a URL) from text that leaves the process.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

log = logging.getLogger(__name__)

class VaultError(RuntimeError):
    """The vault key is missing, unreadable or does not decrypt what is stored; the message holds no secret."""


class Vault:
    """Encrypts and decrypts camera passwords with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise VaultError("vault key is not a valid Fernet key (32 url-safe base64-encoded bytes)") from None

    def __repr__(self) -> str:
        return "Vault(key=***)"

    @classmethod
    def from_key_file(cls, path: Path) -> Vault:
        """Load the key from ``path``, creating it (mode 0600, parent folders too) when it does not exist."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Fernet.generate_key()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it meanwhile
                return cls.from_key_file(path)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key + b"\n")
            log.info("vault: new key created in %s (mode 0600); back it up, passwords are unreadable without it",
                     path)
            return cls(key)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("vault: key file %s is readable by others (mode %o); chmod 600 it", path, mode)
        try:
            return cls(path.read_bytes().strip())
        except OSError as exc:
            raise VaultError(f"cannot read vault key file {path}: {exc.strerror}") from None

    @classmethod
    def from_settings(cls, settings: object) -> Vault:
        """The vault configured by :class:`sharpeyes.settings.Settings` (``vault_key`` wins over the key file)."""
        key = getattr(settings, "vault_key", None)
        if isinstance(key, SecretStr) and key.get_secret_value():
            return cls(key.get_secret_value().encode())
        path = getattr(settings, "vault_key_path", None)
        if not isinstance(path, Path):
            raise VaultError("settings name no vault key or key file")
        return cls.from_key_file(path)

    def encrypt(self, secret: SecretStr | str) -> str:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(token.encode("ascii")).decode("utf-8"))
        except (InvalidToken, ValueError):
            raise VaultError("stored credential does not decrypt with this vault key (key changed?)") from None
