"""A real coturn (``turnserver``) for a test, with TURN REST authentication (``--use-auth-secret``).

It listens on one address (the server side of a test network), on a free port for UDP and TCP, and
relays from a small port range on the same address. With ``tls=True`` it also takes TURN over TLS
on another port, with a self-signed certificate for that address (``cert_file``: a client trusts
it through ``SSL_CERT_FILE``); DTLS is off. rtserver is configured
with ``turn.urls`` as ``--ice-servers`` and ``turn.secret`` as ``--turn-secret``; a test client
computes its own credentials with ``rest_credentials``. ``stop()`` ends it (the fixture's finalizer).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from netns import free_port_range
from redis_server import die_with_parent

__all__ = ["REALM", "TurnServer", "rest_credentials", "self_signed_certificate", "turnserver_available"]

REALM = "rtserver.test"
START_TIMEOUT_S = 10.0
RELAY_PORTS = 20


def turnserver_available() -> bool:
    return shutil.which("turnserver") is not None


def rest_credentials(secret: str, user: str, ttl_s: float = 3600.0, *, now: float | None = None) -> tuple[str, str]:
    """TURN REST API credentials (draft-uberti-behave-turn-rest, as coturn checks them):
    username ``"<expiry unix time>:<user>"``, password base64(HMAC-SHA1(secret, username))."""
    username = f"{int((time.time() if now is None else now) + ttl_s)}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def _udp_and_tcp_free_port(host: str) -> int:
    """coturn listens on one port number for both UDP and TCP."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, socket.socket(socket.AF_INET,
                                                                                    socket.SOCK_DGRAM) as udp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no port free for both UDP and TCP on {host}")


def self_signed_certificate(ip: str, cert_file: Path, key_file: Path) -> None:
    """A certificate for ``ip`` (in its subjectAltName, which TLS clients check) that is its own
    issuer and may act as one (CA:TRUE), so it can be the only trusted certificate of a client."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


class TurnServer:
    def __init__(self, host: str, workdir: Path, *, tls: bool = False):
        self.host = host
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.secret = secrets.token_urlsafe(24)
        self.port = _udp_and_tcp_free_port(host)
        self.relay_ports = free_port_range([host], RELAY_PORTS)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "turnserver.log"
        self.tls_port: int | None = None
        self.cert_file = self.dir / "turn-cert.pem"
        if tls:
            self.tls_port = free_port_range([host], 1, socket.SOCK_STREAM)[0]
            self_signed_certificate(host, self.cert_file, self.dir / "turn-key.pem")

    @property
    def tls_url(self) -> str:
        assert self.tls_port is not None, "started without tls=True"
        return f"turns:{self.host}:{self.tls_port}?transport=tcp"

    @property
    def urls(self) -> list[str]:
        return [f"turn:{self.host}:{self.port}?transport=udp", f"turn:{self.host}:{self.port}?transport=tcp"]

    def credentials(self, user: str, ttl_s: float = 3600.0) -> tuple[str, str]:
        return rest_credentials(self.secret, user, ttl_s)

    def _args(self) -> list[str]:
        return ["turnserver", "-n",  # -n: no configuration file, only these options
                "--listening-ip", self.host, "--listening-port", str(self.port),
                "--relay-ip", self.host, "--external-ip", self.host,
                "--min-port", str(self.relay_ports[0]), "--max-port", str(self.relay_ports[-1]),
                "--use-auth-secret", f"--static-auth-secret={self.secret}", "--realm", REALM,
                "--no-cli", "--no-dtls", "--no-rfc5780", "--no-stun-backward-compatibility",
                *(["--no-tls"] if self.tls_port is None else
                  ["--tls-listening-port", str(self.tls_port), "--cert", str(self.cert_file),
                   "--pkey", str(self.dir / "turn-key.pem")]),
                # rtserver's media, the peer, listens on this same test address: allow it explicitly.
                "--allowed-peer-ip", self.host, "--allow-loopback-peers",
                "--db", str(self.dir / "turndb"), "--pidfile", str(self.dir / "turnserver.pid"),
                "--log-file", "stdout", "--simple-log", "--verbose"]

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self._args(), cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"turnserver exited {self.proc.returncode}: {self.log_tail()}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise AssertionError(f"turnserver on {self.host}:{self.port} not listening in {START_TIMEOUT_S} s: "
                             f"{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"
