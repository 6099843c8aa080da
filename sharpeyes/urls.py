"""Stream URLs and the credentials that travel with them: shared by the registry (which stores URLs without
credentials) and ingest (which injects them into ffmpeg's argv only).

Owns URL validation, credential injection and redaction. It stores nothing and decrypts nothing: the vault
(``registry/vault.py``) does that.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import ConfigDict, Field, SecretStr

from sharpeyes.strict import StrictModel

ALLOWED_STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
_UNSAFE_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")


def validate_stream_url(url: str) -> str:
    """Accept only network sources ffmpeg may open safely; anything else is a clear ``ValueError``."""
    if not isinstance(url, str) or not url:
        raise ValueError("stream URL must be a non-empty string")
    if url.startswith("-"):
        raise ValueError(f"stream URL {url!r} starts with '-': it would be read as an ffmpeg option")
    if _UNSAFE_URL_CHARS.search(url):
        raise ValueError("stream URL must not contain whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_STREAM_SCHEMES:
        raise ValueError(
            f"stream URL scheme {parts.scheme or '(none)'!r} not allowed; "
            f"use one of {', '.join(ALLOWED_STREAM_SCHEMES)}"
        )
    if not parts.hostname:
        raise ValueError(f"stream URL {url!r} has no host")
    if parts.username or parts.password:
        raise ValueError("stream URL must not carry credentials; they are never stored in clear")
    return url


DEFAULT_PASSWORDS: frozenset[tuple[str, str]] = frozenset({
    ("admin", "admin"), ("admin", "12345"), ("admin", "123456"), ("admin", "888888"), ("admin", "password"),
    ("admin", "1234"), ("root", "root"), ("root", "pass"), ("user", "user"), ("666666", "666666"),
    ("888888", "888888"), ("admin", "admin123"), ("admin", "Admin123"),
})
"""Factory defaults of common camera brands (any user with an empty password counts as default too)."""

_USERINFO_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


class Credentials(StrictModel):
    """A user name and password for one camera; the password is masked in repr, str and JSON dumps."""

    model_config = ConfigDict(frozen=True)

    username: str = Field(max_length=128, description="Device user name (ONVIF and RTSP).")
    password: SecretStr = Field(description="Device password; only revealed where the device is contacted.")

    @property
    def is_default(self) -> bool:
        return is_default_password(self.username, self.password.get_secret_value())


def is_default_password(username: str, password: str) -> bool:
    """True for an empty password or a known factory default such as admin/admin or admin/12345."""
    return password == "" or (username.lower(), password) in DEFAULT_PASSWORDS


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """Return ``url`` without ``user:pass@`` and the credentials it carried (None when it had none)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rsplit("@", 1)[1]
    clean = urlunsplit(parts._replace(netloc=host))
    creds = Credentials(username=unquote(parts.username or ""), password=SecretStr(unquote(parts.password or "")))
    return clean, creds


def inject_credentials(url: str, creds: Credentials | None) -> str:
    """``url`` with ``user:pass@`` inserted (percent-encoded). Only for the argv of a process about to be spawned."""
    if creds is None or not creds.username:
        return url
    parts = urlsplit(url)
    userinfo = quote(creds.username, safe="")
    password = creds.password.get_secret_value()
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def redact(text: str, *secrets: str) -> str:
    """Remove ``user:pass@`` from URLs in ``text`` and every occurrence of the given secrets (and their
    percent-encoded form)."""
    out = _USERINFO_RE.sub(r"\g<scheme>***@", text)
    for s in secrets:
        if s:
            out = out.replace(s, "***")
            enc = quote(s, safe="")
            if enc != s:
                out = out.replace(enc, "***")
    return out


def redact_url(url: str) -> str:
    """``url`` for logs: its user info replaced by ``***`` (``redis://:secret@host`` → ``redis://***@host``, an ACL
    user name kept: ``redis://bridge:***@host``), whatever characters the password holds."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    rest = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
    for secret in {parts.password or "", unquote(parts.password or "")} - {""}:
        rest = rest.replace(secret, "***")  # e.g. repeated in the query string
    return f"{parts.scheme}://{user + ':' if user else ''}***@{host}{rest}"
