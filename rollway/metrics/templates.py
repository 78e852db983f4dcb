"""Named PromQL queries for the metric sources users have.

Placeholders, filled by `render`: `${service}`, `${environment}`, `${version}`
(the canary), `${stable}`, `${interval}` (a PromQL range such as `30s`),
for HAProxy `${proxy}`/`${server}`/`${stable_server}` (the local platform's
backend and server names, see `rollway.platform.local.names`), for meshes and
ingresses `${workload}`/`${stable_workload}` (`<service>-canary`/`<service>`)
and `${namespace}`, plus any `analysis.variables` of the pipeline (e.g.
`${cpu_limit}` in cores and `${memory_limit}` in bytes for the saturation
templates).

Each threshold template also has a `samples` query: how many requests the value
rests on, so a check over too few requests is inconclusive rather than a pass.

`COUNT_SOURCES` and `HISTOGRAM_SOURCES` are the cumulative counters the
sequential judge reads per arm (canary, baseline): they are rendered once with
the canary's `${version}`/`${server}`/`${workload}` and once with the baseline's.
"""

from __future__ import annotations

import re
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


_OTEL_TOTAL = (
    'sum(increase(http_server_request_duration_seconds_count{service="${service}",'
    'environment="${environment}",version="${version}"}[${interval}]))'
)
_ISTIO_TOTAL = (
    'sum(increase(istio_requests_total{reporter="destination",destination_workload='
    '"${workload}"}[${interval}]))'
)
_LINKERD_TOTAL = (
    'sum(increase(response_total{deployment="${workload}",direction="inbound"}[${interval}]))'
)
_NGINX_TOTAL = (
    'sum(increase(nginx_ingress_controller_requests{service="${workload}"}[${interval}]))'
)
_K8S_POD = 'namespace="${namespace}",pod=~"${workload}-.*"'


def _quantile(q: float, bucket: str, selector: str, scale: str = "") -> str:
    return (
        f"histogram_quantile({q}, sum by (le) (rate({bucket}{{{selector}}}[${{interval}}])))"
        + scale
    )


_HTTP_SEL = 'service="${service}",environment="${environment}",version="${version}"'

TEMPLATES.update(
    {
        "http-error-rate": Template(
            query=(
                f'sum(increase(http_requests_total{{{_HTTP_SEL},code=~"5.."}}[${{interval}}])) / '
                f"sum(increase(http_requests_total{{{_HTTP_SEL}}}[${{interval}}]))"
            ),
            description="Share of 5xx responses from the service's own request counter.",
            samples=f"sum(increase(http_requests_total{{{_HTTP_SEL}}}[${{interval}}]))",
            unit="ratio",
        ),
        "http-server-error-rate": Template(
            query=(
                "sum(increase(http_server_request_duration_seconds_count"
                f'{{{_HTTP_SEL},http_response_status_code=~"5.."}}[${{interval}}])) / '
                + _OTEL_TOTAL
            ),
            description="OpenTelemetry semantic conventions: share of 5xx server responses.",
            samples=_OTEL_TOTAL,
            unit="ratio",
        ),
        "http-server-p99-latency": Template(
            query=_quantile(0.99, "http_server_request_duration_seconds_bucket", _HTTP_SEL),
            description="OpenTelemetry semantic conventions: p99 server request duration.",
            samples=_OTEL_TOTAL,
            unit="seconds",
        ),
        "istio-error-rate": Template(
            query=(
                'sum(increase(istio_requests_total{reporter="destination",destination_workload='
                '"${workload}",response_code=~"5.*"}[${interval}])) / ' + _ISTIO_TOTAL
            ),
            description="Istio: share of 5xx requests to the canary workload.",
            samples=_ISTIO_TOTAL,
            unit="ratio",
        ),
        "linkerd-p99-latency": Template(
            query=_quantile(
                0.99,
                "response_latency_ms_bucket",
                'deployment="${workload}",direction="inbound"',
                " / 1000",
            ),
            description="Linkerd: p99 inbound latency of the canary, in seconds.",
            samples=_LINKERD_TOTAL,
            unit="seconds",
        ),
        "nginx-error-rate": Template(
            query=(
                'sum(increase(nginx_ingress_controller_requests{service="${workload}",'
                'status=~"5.*"}[${interval}])) / ' + _NGINX_TOTAL
            ),
            description="NGINX ingress: share of 5xx requests to the canary Service.",
            samples=_NGINX_TOTAL,
            unit="ratio",
        ),
        "nginx-p99-latency": Template(
            query=_quantile(
                0.99,
                "nginx_ingress_controller_request_duration_seconds_bucket",
                'service="${workload}"',
            ),
            description="NGINX ingress: p99 request duration of the canary Service.",
            samples=_NGINX_TOTAL,
            unit="seconds",
        ),
        # --- saturation against limits (seed 001: CPU < 80 %, memory < 85 %) ---
        "process-cpu-of-limit": Template(
            query=(
                f"max(rate(process_cpu_seconds_total{{{_HTTP_SEL}}}[${{interval}}])) "
                "/ ${cpu_limit}"
            ),
            description="Canary process CPU as a fraction of `${cpu_limit}` cores (max 0.8).",
            unit="ratio",
        ),
        "process-memory-of-limit": Template(
            query=f"max(process_resident_memory_bytes{{{_HTTP_SEL}}}) / ${{memory_limit}}",
            description="Canary resident memory as a fraction of `${memory_limit}` bytes.",
            unit="ratio",
        ),
        "container-cpu-of-limit": Template(
            query=(
                "max(sum by (pod) (rate(container_cpu_usage_seconds_total"
                f'{{{_K8S_POD},container!=""}}[${{interval}}])) / sum by (pod) '
                f'(kube_pod_container_resource_limits{{{_K8S_POD},resource="cpu"}}))'
            ),
            description="Kubernetes: busiest canary pod's CPU over its limit (cAdvisor + KSM).",
            unit="ratio",
        ),
        "container-memory-of-limit": Template(
            query=(
                "max(sum by (pod) (container_memory_working_set_bytes"
                f'{{{_K8S_POD},container!=""}}) / sum by (pod) '
                f'(kube_pod_container_resource_limits{{{_K8S_POD},resource="memory"}}))'
            ),
            description="Kubernetes: largest canary pod's working set over its memory limit.",
            unit="ratio",
        ),
    }
)
TEMPLATES["istio-p99-latency"] = Template(
    query=_quantile(
        0.99,
        "istio_request_duration_milliseconds_bucket",
        'reporter="destination",destination_workload="${workload}"',
        " / 1000",
    ),
    description="Istio: p99 latency of the canary workload, in seconds.",
    samples=_ISTIO_TOTAL,
    unit="seconds",
)


@dataclass(frozen=True)
class CountSource:
    """Cumulative counters for one arm: `errors` (bad events) among `total` requests."""

    errors: str
    total: str
    description: str


@dataclass(frozen=True)
class HistogramSource:
    """A cumulative histogram for one arm, `sum by (le)`; `scale` converts bounds to seconds."""

    buckets: str
    description: str
    scale: float = 1.0


COUNT_SOURCES: dict[str, CountSource] = {
    "haproxy": CountSource(
        errors='sum(haproxy_server_http_responses_total{proxy="${proxy}",server="${server}",code="5xx"})',
        total='sum(haproxy_server_http_responses_total{proxy="${proxy}",server="${server}"})',
        description="HAProxy 5xx vs all responses per server (local platform).",
    ),
    "http": CountSource(
        errors=f'sum(http_requests_total{{{_HTTP_SEL},code=~"5.."}})',
        total=f"sum(http_requests_total{{{_HTTP_SEL}}})",
        description="The service's own `http_requests_total`, 5xx vs all, per version.",
    ),
    "http-server": CountSource(
        errors=(
            "sum(http_server_request_duration_seconds_count"
            f'{{{_HTTP_SEL},http_response_status_code=~"5.."}})'
        ),
        total=f"sum(http_server_request_duration_seconds_count{{{_HTTP_SEL}}})",
        description="OpenTelemetry `http.server.request.duration` counts, 5xx vs all.",
    ),
    "istio": CountSource(
        errors=(
            'sum(istio_requests_total{reporter="destination",destination_workload="${workload}",'
            'response_code=~"5.*"})'
        ),
        total='sum(istio_requests_total{reporter="destination",destination_workload="${workload}"})',
        description="Istio destination-side requests per workload, 5xx vs all.",
    ),
    "linkerd": CountSource(
        errors=(
            'sum(response_total{deployment="${workload}",direction="inbound",'
            'classification="failure"})'
        ),
        total='sum(response_total{deployment="${workload}",direction="inbound"})',
        description="Linkerd inbound responses per deployment, failures vs all.",
    ),
    "nginx": CountSource(
        errors='sum(nginx_ingress_controller_requests{service="${workload}",status=~"5.*"})',
        total='sum(nginx_ingress_controller_requests{service="${workload}"})',
        description="NGINX ingress requests per backend Service, 5xx vs all.",
    ),
}

HISTOGRAM_SOURCES: dict[str, HistogramSource] = {
    "http": HistogramSource(
        buckets=f"sum by (le) (http_request_duration_seconds_bucket{{{_HTTP_SEL}}})",
        description="The service's own `http_request_duration_seconds` histogram per version.",
    ),
    "http-server": HistogramSource(
        buckets=f"sum by (le) (http_server_request_duration_seconds_bucket{{{_HTTP_SEL}}})",
        description="OpenTelemetry `http.server.request.duration` histogram per version.",
    ),
    "istio": HistogramSource(
        buckets=(
            "sum by (le) (istio_request_duration_milliseconds_bucket"
            '{reporter="destination",destination_workload="${workload}"})'
        ),
        description="Istio request duration per workload (milliseconds).",
        scale=0.001,
    ),
    "linkerd": HistogramSource(
        buckets=(
            'sum by (le) (response_latency_ms_bucket{deployment="${workload}",direction="inbound"})'
        ),
        description="Linkerd inbound response latency per deployment (milliseconds).",
        scale=0.001,
    ),
    "nginx": HistogramSource(
        buckets=(
            "sum by (le) (nginx_ingress_controller_request_duration_seconds_bucket"
            '{service="${workload}"})'
        ),
        description="NGINX ingress request duration per backend Service.",
    ),
}


def _missing(name: str, variables: dict[str, str]) -> ValueError:
    return ValueError(
        f"query uses placeholder ${{{name}}} that this platform does not provide "
        f"(add it to analysis.variables); available: {', '.join(sorted(variables))}"
    )


def fill(text: str, variables: dict[str, str]) -> str:
    """Fill `${name}` placeholders in plain text (not PromQL), e.g. a version label."""
    try:
        return string.Template(text).substitute(variables)
    except KeyError as e:
        raise _missing(str(e.args[0]), variables) from None


_PLACEHOLDER = re.compile(r"\$(?:\{(?P<braced>[_A-Za-z][_A-Za-z0-9]*)\}|(?P<dollar>\$))")
_REGEX_META = re.compile(r"([\\.+*?()|\[\]{}^$])")
_BARE_VALUE = re.compile(r"[A-Za-z0-9_.:]+")
_STRING_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_string(value: str, quote: str = '"') -> str:
    """`value` as the inside of a PromQL string literal delimited by `quote`."""
    out = []
    for ch in value:
        if ch in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[ch])
        elif ch == quote:
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def escape_regex(value: str) -> str:
    """`value` matched literally by a PromQL (RE2) regular expression."""
    return _REGEX_META.sub(r"\\\1", value)


def _substitute(name: str, value: str, quote: str | None, regex: bool) -> str:
    if quote is None:
        if not _BARE_VALUE.fullmatch(value):
            raise ValueError(
                f"placeholder ${{{name}}} stands outside a quoted string in the query, so its "
                f"value must be a number, a duration or a name (letters, digits, _ . :); "
                f"got {value!r}: quote the placeholder or fix the value"
            )
        return value
    literal = escape_regex(value) if regex else value
    if quote == "`":
        if "`" in literal:
            raise ValueError(
                f"placeholder ${{{name}}} is inside a `raw string` and its value contains a "
                f"backtick: use a double-quoted string in the query"
            )
        return literal
    return escape_string(literal, quote)


def render(text: str, variables: dict[str, str]) -> str:
    """Fill the `${name}` placeholders of a PromQL query, each value escaped for its place.

    Inside a string literal (`version="${version}"`) a value is escaped as PromQL string
    content, and inside a regex matcher's string (`pod=~"${workload}-.*"`) its regex
    metacharacters are escaped first, so a value can never end the string or the
    selector (a version such as `x"} or vector(1) or x{a="` stays one label value).
    Outside strings (`[${interval}]`, `/ ${cpu_limit}`) a value must be a number, a
    duration or a name. `$$` is a literal `$`. A missing variable is a clear error.
    """
    out: list[str] = []
    quote: str | None = None
    regex = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$":
            m = _PLACEHOLDER.match(text, i)
            if m is None:
                raise ValueError(f"bad placeholder at {text[i : i + 12]!r}: write ${{name}} or $$")
            if m.group("dollar"):
                out.append("$")
            else:
                name = m.group("braced")
                if name not in variables:
                    raise _missing(name, variables)
                out.append(_substitute(name, str(variables[name]), quote, regex))
            i = m.end()
            continue
        if quote is None:
            if ch in "\"'`":
                quote = ch
                regex = "".join(out).rstrip().endswith(("=~", "!~"))
        elif ch == "\\" and quote != "`" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        elif ch == quote:
            quote = None
        out.append(ch)
        i += 1
    return "".join(out)
