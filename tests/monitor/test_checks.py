"""The monitor's checks against real local servers: HTTP, TLS certificates, DNS, Prometheus' API."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rollway.metrics.prometheus import PrometheusProvider
from rollway.monitor.checks import run_checks
from rollway.monitor.spec import MonitorSpec
from rollway.spec_loader import SpecError, parse_pipeline
from tests.support.promotions import pipeline


class _Handler(BaseHTTPRequestHandler):
    """`/healthz` 200, `/broken` 503, and Prometheus' `/api/v1/query` (vector of one sample)."""

    value = "0.9995"

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/query"):
            body = json.dumps(
                {
                    "status": "success",
                    "data": {
                        "resultType": "vector",
                        "result": [{"metric": {}, "value": [1796000000, type(self).value]}],
                    },
                }
            ).encode()
            status = 200
        else:
            status = 200 if self.path == "/healthz" else 503
            body = b"ok" if status == 200 else b"down"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def _serve(tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture
def http_port() -> Iterator[int]:
    server, port = _serve()
    yield port
    server.shutdown()
    server.server_close()


def _certificate(tmp_path: Path, days: float) -> tuple[Path, Path]:
    """A self-signed certificate for localhost that expires in `days`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _monitor(checks: list[dict[str, object]]) -> MonitorSpec:
    return MonitorSpec.model_validate({"checks": checks})


def test_http_and_dns_checks(http_port: int) -> None:
    spec = _monitor(
        [
            {"kind": "http", "name": "health", "url": f"http://127.0.0.1:{http_port}/healthz"},
            {"kind": "http", "name": "broken", "url": f"http://127.0.0.1:{http_port}/broken"},
            {"kind": "dns", "name": "dns", "host": "localhost"},
            {"kind": "dns", "name": "nowhere", "host": "no-such-host.invalid"},
        ]
    )
    results = {r.name: r for r in run_checks(spec.checks, lambda: PrometheusProvider("http://x"))}
    assert results["health"].ok and "200" in results["health"].detail
    assert not results["broken"].ok and "503, expected 200" in results["broken"].detail
    assert results["dns"].ok and "127.0.0.1" in results["dns"].detail
    assert not results["nowhere"].ok and "does not resolve" in results["nowhere"].detail


def test_certificate_expiry_is_caught_before_it_happens(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, days=3)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server, port = _serve(tls)
    try:
        base = {"kind": "certificate", "host": "localhost", "port": port, "ca_file": str(cert)}
        spec = _monitor(
            [
                {**base, "name": "soon", "min_days": 14},
                {**base, "name": "fine", "min_days": 1},
                {**base, "name": "untrusted", "ca_file": None},
            ]
        )
        results = {r.name: r for r in run_checks(spec.checks, lambda: PrometheusProvider("x"))}
    finally:
        server.shutdown()
        server.server_close()
    assert not results["soon"].ok
    assert "in 3.0 days (< 14): renew it" in results["soon"].detail
    assert results["fine"].ok
    assert not results["untrusted"].ok and "not trusted" in results["untrusted"].detail


def test_prometheus_bounds_through_the_real_client(http_port: int) -> None:
    prom = f"http://127.0.0.1:{http_port}"
    spec = _monitor(
        [
            {"kind": "prometheus", "name": "sla", "query": "avg(up)", "min": 0.999},
            {"kind": "prometheus", "name": "strict", "query": "avg(up)", "min": 0.9999},
        ]
    )
    results = {r.name: r for r in run_checks(spec.checks, lambda: PrometheusProvider(prom))}
    assert results["sla"].ok
    assert not results["strict"].ok and "0.9995 < min 0.9999" in results["strict"].detail


def test_bad_monitor_specs_name_the_field() -> None:
    cases = {
        "every": {
            "business_hours": {"every": "7m"},
            "checks": [{"kind": "dns", "name": "d", "host": "a"}],
        },
        "timezone": {
            "timezone": "Mars/Olympus",
            "checks": [{"kind": "dns", "name": "d", "host": "a"}],
        },
        "min and/or max": {"checks": [{"kind": "prometheus", "name": "p", "query": "up"}]},
        "end (9) must be after start": {
            "business_hours": {"start": 9, "end": 9},
            "checks": [{"kind": "dns", "name": "d", "host": "a"}],
        },
    }
    for expected, monitor in cases.items():
        with pytest.raises(SpecError) as err:
            parse_pipeline(pipeline(monitor=monitor))
        assert expected in str(err.value), (expected, str(err.value))
