"""A real TLS endpoint in front of the Temporal dev server: HAProxy on loopback.

HAProxy terminates TLS (HTTP/2 by ALPN) and speaks h2c to the dev server, the way a
load balancer fronts a production Temporal cluster. Three frontends:

- `tls`: server-authenticated TLS;
- `mtls`: TLS that requires a client certificate signed by the test CA;
- `apikey`: TLS that refuses requests without `authorization: Bearer <API_KEY>`.

The certificates come from a throwaway CA made with `cryptography`; the server
certificate names only `temporal.test`, so every client must set the server name.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAME = "temporal.test"
API_KEY = "rollway-test-key"


@dataclass
class Pki:
    ca: Path
    server: Path  # certificate + key, as HAProxy wants them
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    server: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(folder: Path) -> Pki:
    ca, ca_key = _ca("rollway test CA")
    server, server_key = _leaf(SERVER_NAME, ca, ca_key, server=True)
    client, client_key = _leaf("rollway-worker", ca, ca_key, server=False)
    other, _ = _ca("some other CA")
    pem = serialization.Encoding.PEM
    pki = Pki(
        ca=folder / "ca.pem",
        server=folder / "server.pem",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
        other_ca=folder / "other-ca.pem",
    )
    pki.ca.write_bytes(ca.public_bytes(pem))
    pki.server.write_bytes(server.public_bytes(pem) + _pem_key(server_key))
    pki.client_cert.write_bytes(client.public_bytes(pem))
    pki.client_key.write_bytes(_pem_key(client_key))
    pki.other_ca.write_bytes(other.public_bytes(pem))
    return pki


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"haproxy exited {proc.returncode}: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"haproxy did not listen on {port}: {log.read_text()}")


@dataclass
class Proxy:
    tls: str
    mtls: str
    apikey: str


@contextmanager
def haproxy_tls(folder: Path, pki: Pki, upstream: str) -> Iterator[Proxy]:
    """HAProxy terminating TLS on three loopback ports in front of `upstream` (h2c)."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        pytest.fail("haproxy is required by the TLS tests: apt-get install haproxy", pytrace=False)
    ports = [free_port() for _ in range(3)]
    cfg = folder / "haproxy.cfg"
    cfg.write_text(
        f"""global
    maxconn 256

defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s

frontend tls
    bind 127.0.0.1:{ports[0]} ssl crt {pki.server} alpn h2
    default_backend temporal

frontend mtls
    bind 127.0.0.1:{ports[1]} ssl crt {pki.server} alpn h2 ca-file {pki.ca} verify required
    default_backend temporal

frontend apikey
    bind 127.0.0.1:{ports[2]} ssl crt {pki.server} alpn h2
    http-request deny deny_status 401 unless {{ req.hdr(authorization) -m str "Bearer {API_KEY}" }}
    default_backend temporal

backend temporal
    server dev {upstream} proto h2
"""
    )
    log = folder / "haproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-f", str(cfg), "-db"], stdout=out, stderr=out)
    try:
        for port in ports:
            _wait_listening(port, proc, log)
        yield Proxy(*(f"127.0.0.1:{p}" for p in ports))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
