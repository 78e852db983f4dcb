"""Named PromQL queries for the metric sources users have.

Placeholders, filled by `render`: `${service}`, `${environment}`, `${version}`
(the canary), `${stable}`, `${interval}` (a PromQL range such as `30s`),
and for HAProxy `${proxy}`/`${server}`/`${stable_server}` (the local platform's
backend and server names, see `rollway.platform.local.names`).
Each template also has a `samples` query: how many requests the value rests on,
so a check over too few requests is inconclusive rather than a pass.
"""

from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    """A named query: `query` gives the value, `samples` the request count behind it."""

    query: str
    description: str
    samples: str | None = None
    unit: str = ""


_HAPROXY_TOTAL = (
    'sum(increase(haproxy_server_http_responses_total{proxy="${proxy}",server="${server}"}'
    "[${interval}]))"
)
_HTTP_TOTAL = (
    'sum(increase(http_request_duration_seconds_count{service="${service}",'
    'environment="${environment}",version="${version}"}[${interval}]))'
)

TEMPLATES: dict[str, Template] = {
    "haproxy-success-rate": Template(
        query=(
            'sum(increase(haproxy_server_http_responses_total{proxy="${proxy}",server="${server}",'
            'code!="5xx"}[${interval}])) / ' + _HAPROXY_TOTAL
        ),
        description="Share of the canary's responses that are not 5xx, counted by HAProxy.",
        samples=_HAPROXY_TOTAL,
        unit="ratio",
    ),
    "haproxy-error-rate": Template(
        query=(
            'sum(increase(haproxy_server_http_responses_total{proxy="${proxy}",server="${server}",'
            'code="5xx"}[${interval}])) / ' + _HAPROXY_TOTAL
        ),
        description="Share of the canary's responses that are 5xx, counted by HAProxy.",
        samples=_HAPROXY_TOTAL,
        unit="ratio",
    ),
    "haproxy-avg-response-time": Template(
        query=(
            'max(haproxy_server_response_time_average_seconds{proxy="${proxy}",server="${server}"})'
        ),
        description="HAProxy's average response time of the canary (last 1024 requests).",
        samples=_HAPROXY_TOTAL,
        unit="seconds",
    ),
    "http-p99-latency": Template(
        query=(
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
            '{service="${service}",environment="${environment}",version="${version}"}'
            "[${interval}])))"
        ),
        description="p99 request latency from the service's own Prometheus histogram.",
        samples=_HTTP_TOTAL,
        unit="seconds",
    ),
    "http-p95-latency": Template(
        query=(
            "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket"
            '{service="${service}",environment="${environment}",version="${version}"}'
            "[${interval}])))"
        ),
        description="p95 request latency from the service's own Prometheus histogram.",
        samples=_HTTP_TOTAL,
        unit="seconds",
    ),
    "http-success-rate": Template(
        query=(
            'sum(increase(http_requests_total{service="${service}",environment="${environment}",'
            'version="${version}",code!~"5.."}[${interval}])) / '
            'sum(increase(http_requests_total{service="${service}",environment="${environment}",'
            'version="${version}"}[${interval}]))'
        ),
        description="Share of non-5xx responses from the service's own request counter.",
        samples=(
            'sum(increase(http_requests_total{service="${service}",environment="${environment}",'
            'version="${version}"}[${interval}]))'
        ),
        unit="ratio",
    ),
    "istio-success-rate": Template(
        query=(
            'sum(rate(istio_requests_total{reporter="destination",destination_workload='
            '"${service}-canary",response_code!~"5.*"}[${interval}])) / '
            'sum(rate(istio_requests_total{reporter="destination",destination_workload='
            '"${service}-canary"}[${interval}]))'
        ),
        description="Istio: share of non-5xx requests to the canary workload.",
        samples=(
            'sum(increase(istio_requests_total{reporter="destination",destination_workload='
            '"${service}-canary"}[${interval}]))'
        ),
        unit="ratio",
    ),
    "istio-p99-latency": Template(
        query=(
            "histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket"
            '{reporter="destination",destination_workload="${service}-canary"}[${interval}]))) '
            "/ 1000"
        ),
        description="Istio: p99 latency of the canary workload, in seconds.",
        unit="seconds",
    ),
    "linkerd-success-rate": Template(
        query=(
            'sum(rate(response_total{deployment="${service}-canary",direction="inbound",'
            'classification!="failure"}[${interval}])) / sum(rate(response_total{deployment='
            '"${service}-canary",direction="inbound"}[${interval}]))'
        ),
        description="Linkerd: share of successful inbound responses of the canary.",
        samples=(
            'sum(increase(response_total{deployment="${service}-canary",direction="inbound"}'
            "[${interval}]))"
        ),
        unit="ratio",
    ),
    "nginx-success-rate": Template(
        query=(
            'sum(rate(nginx_ingress_controller_requests{service="${service}-canary",'
            'status!~"5.*"}[${interval}])) / sum(rate(nginx_ingress_controller_requests'
            '{service="${service}-canary"}[${interval}]))'
        ),
        description="NGINX ingress: share of non-5xx requests to the canary Service.",
        samples=(
            'sum(increase(nginx_ingress_controller_requests{service="${service}-canary"}'
            "[${interval}]))"
        ),
        unit="ratio",
    ),
    "process-cpu-utilisation": Template(
        query=(
            'max(rate(process_cpu_seconds_total{service="${service}",environment="${environment}",'
            'version="${version}"}[${interval}]))'
        ),
        description="CPU cores used by the canary's process (compare with its limit).",
        unit="cores",
    ),
    "process-memory-bytes": Template(
        query=(
            'max(process_resident_memory_bytes{service="${service}",environment="${environment}",'
            'version="${version}"})'
        ),
        description="Resident memory of the canary's process.",
        unit="bytes",
    ),
}


def render(text: str, variables: dict[str, str]) -> str:
    """Fill `${name}` placeholders; a missing variable is a clear error."""
    try:
        return string.Template(text).substitute(variables)
    except KeyError:
        raise ValueError(
            f"query uses placeholder {{e.args[0]}} that this platform does not provide; "
            f"available: {', '.join(sorted(variables))}"
        ) from None
