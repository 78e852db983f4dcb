"""Run a monitor's checks: HTTP status, a Prometheus bound, certificate expiry, DNS.

Each check returns a `CheckResult` and never raises: one broken check must not
hide the others. Synchronous (the activity runs in a thread).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from cryptography import x509

from rollway.metrics.prometheus import MetricQueryError, MetricsProvider
from rollway.monitor.report import CheckResult
from rollway.monitor.spec import CertificateCheck, DnsCheck, HealthCheck, HttpCheck, PrometheusCheck


def run_checks(
    checks: list[HealthCheck],
    prometheus: Callable[[], MetricsProvider],
    now: datetime | None = None,
) -> list[CheckResult]:
    """Every check once, in order."""
    at = now or datetime.now(UTC)
    results = []
    for check in checks:
        try:
            ok, detail = _run(check, prometheus, at)
        except Exception as e:  # a check's own bug is that check failing, not the run
            ok, detail = False, f"{type(e).__name__}: {e}"
        results.append(CheckResult(name=check.name, kind=check.kind, ok=ok, detail=detail[:600]))
    return results


def _run(
    check: HealthCheck, prometheus: Callable[[], MetricsProvider], at: datetime
) -> tuple[bool, str]:
    if isinstance(check, HttpCheck):
        return http_check(check)
    if isinstance(check, PrometheusCheck):
        return prometheus_check(check, prometheus())
    if isinstance(check, CertificateCheck):
        return certificate_check(check, at)
    return dns_check(check)


def http_check(check: HttpCheck) -> tuple[bool, str]:
    try:
        r = httpx.get(check.url, timeout=check.timeout.total_seconds(), follow_redirects=False)
    except httpx.HTTPError as e:
        return False, f"GET {check.url}: {type(e).__name__}: {e}"
    if r.status_code != check.expect_status:
        return False, f"GET {check.url}: {r.status_code}, expected {check.expect_status}"
    return True, f"GET {check.url}: {r.status_code}"


def prometheus_check(check: PrometheusCheck, prom: MetricsProvider) -> tuple[bool, str]:
    try:
        value = prom.value(check.query)
    except MetricQueryError as e:
        return False, f"query failed: {e}"
    if value is None:
        return False, "no data: the query returned nothing (is the service scraped?)"
    if check.min is not None and value < check.min:
        return False, f"{value:.6g} < min {check.min:g}"
    if check.max is not None and value > check.max:
        return False, f"{value:.6g} > max {check.max:g}"
    return True, f"{value:.6g} within bounds"


def certificate_check(check: CertificateCheck, at: datetime) -> tuple[bool, str]:
    context = ssl.create_default_context(cafile=check.ca_file)
    where = f"{check.host}:{check.port}"
    try:
        with (
            socket.create_connection(
                (check.host, check.port), timeout=check.timeout.total_seconds()
            ) as raw,
            context.wrap_socket(raw, server_hostname=check.host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as e:
        return False, f"{where}: certificate not trusted: {e.verify_message}"
    except (OSError, ssl.SSLError) as e:
        return False, f"{where}: {type(e).__name__}: {e}"
    if der is None:
        return False, f"{where}: no certificate presented"
    expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    days = (expires - at).total_seconds() / 86400
    if days < check.min_days:
        return False, (
            f"{where}: certificate expires {expires:%Y-%m-%d %H:%M} UTC, in {days:.1f} days "
            f"(< {check.min_days}): renew it"
        )
    return True, f"{where}: certificate valid {days:.0f} more days"


def dns_check(check: DnsCheck) -> tuple[bool, str]:
    try:
        infos = socket.getaddrinfo(check.host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        return False, f"{check.host} does not resolve: {e.strerror}"
    addresses = sorted({str(i[4][0]) for i in infos})
    return True, f"{check.host} -> {', '.join(addresses[:5])}"
