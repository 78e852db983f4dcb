"""Values substituted into PromQL are escaped: a hostile version cannot rewrite a query.

Checked against a real `prometheus` (Debian's, as `./dev` installs it) that scrapes
itself, so its own parser and evaluator decide what a rendered query means.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from rollway.home import free_port
from rollway.metrics.prometheus import PrometheusProvider
from rollway.metrics.templates import COUNT_SOURCES, HISTOGRAM_SOURCES, TEMPLATES, render
from tests.support.binaries import require_binary

# Ends the label value and the selector, then ORs in a constant 1: unescaped, the
# success-rate query becomes `... or vector(1) ...` and every canary passes.
HOSTILE = 'x"}[1m])) or vector(1) or sum(increase(up{job="'
AWKWARD = ["a\\b", 'q"uote', "single'quote", "back`tick", "new\nline", "tab\t", "é-ünicode", "$"]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_binary("prometheus", "apt-get install -y prometheus (./dev installs it)")
    home = tmp_path_factory.mktemp("prom")
    port = free_port()
    config = home / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(home / "log").open("w"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v1/query", params={"query": "up"}).json()["data"][
                    "result"
                ]:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"prometheus did not start: {(home / 'log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def variables(version: str) -> dict[str, str]:
    return {
        "service": "demo",
        "environment": "production",
        "version": version,
        "stable": "v1",
        "interval": "1m",
        "proxy": "demo.production",
        "server": version,
        "stable_server": "v1",
        "workload": version,
        "stable_workload": "demo",
        "namespace": "prod",
        "cpu_limit": "0.5",
        "memory_limit": "536870912",
    }


def query(url: str, q: str) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/query", params={"query": q})


def test_unescaped_hostile_version_would_pass_any_canary(prometheus: str) -> None:
    """The attack is real: raw substitution turns the success rate into a constant 1."""
    raw = TEMPLATES["haproxy-success-rate"].query.replace("${interval}", "1m")
    raw = raw.replace("${proxy}", "demo.production").replace("${server}", HOSTILE)
    assert PrometheusProvider(prometheus).value(raw) == 1.0


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_with_a_hostile_version_is_one_valid_query_without_data(
    prometheus: str, name: str
) -> None:
    provider = PrometheusProvider(prometheus)
    t = TEMPLATES[name]
    for text in filter(None, (t.query, t.samples)):
        q = render(text, variables(HOSTILE))
        assert provider.value(q) is None, f"{name}: {q}"


@pytest.mark.parametrize("source", sorted(COUNT_SOURCES))
def test_sequential_counters_with_a_hostile_version_match_nothing(
    prometheus: str, source: str
) -> None:
    provider = PrometheusProvider(prometheus)
    for text in (COUNT_SOURCES[source].errors, COUNT_SOURCES[source].total):
        assert provider.value(render(text, variables(HOSTILE))) is None
    if source in HISTOGRAM_SOURCES:
        q = render(HISTOGRAM_SOURCES[source].buckets, variables(HOSTILE))
        assert provider.vector(q, "le") == {}


@pytest.mark.parametrize("value", [HOSTILE, *AWKWARD])
def test_a_value_reaches_prometheus_exactly_as_given(prometheus: str, value: str) -> None:
    """Prometheus' own parser reads the escaped literal back as the original value."""
    for quote in ('"', "'"):
        q = render(
            f"label_replace(vector(1), {quote}x{quote}, {quote}${{v}}{quote}, '', '')", {"v": value}
        )
        body = query(prometheus, q).json()
        assert body["status"] == "success", (q, body)
        assert body["data"]["result"][0]["metric"]["x"] == value


def test_a_real_series_is_still_selected_by_its_label(prometheus: str) -> None:
    """Escaping keeps ordinary values working: the self-scrape's job label matches."""
    provider = PrometheusProvider(prometheus)
    assert provider.value(render('sum(up{job="${job}"})', {"job": "self"})) == 1.0
    assert provider.value(render('sum(up{job=~"${job}"})', {"job": "self"})) == 1.0
    assert (
        provider.value(render('sum(up{job="${job}"})', {"job": 'self"} or vector(7) or up{job="'}))
        is None
    )


def test_regex_matchers_match_the_value_literally(prometheus: str) -> None:
    provider = PrometheusProvider(prometheus)
    assert provider.value(render('sum(up{job=~"${job}"})', {"job": "s.*"})) is None
    assert provider.value(render('sum(up{job=~"${job}|.*"})', {"job": "nope"})) == 1.0
    assert provider.value(render('sum(up{job!~"${job}"})', {"job": ".*"})) == 1.0


def test_values_outside_strings_must_be_numbers_durations_or_names() -> None:
    assert render("rate(x[${interval}]) / ${cpu}", {"interval": "30s", "cpu": "0.5"}) == (
        "rate(x[30s]) / 0.5"
    )
    with pytest.raises(ValueError, match=r"\$\{cpu\} stands outside a quoted string"):
        render("x / ${cpu}", {"cpu": "1 or vector(1)"})
    with pytest.raises(ValueError, match="backtick"):
        render("x{a=`${v}`}", {"v": "a`b"})
    with pytest.raises(ValueError, match=r"\$\{missing\}.*analysis.variables"):
        render('x{a="${missing}"}', {})
