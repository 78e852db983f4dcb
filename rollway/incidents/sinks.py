"""Speak each incident tool's REST API: GitHub issues and PagerDuty Events API v2.

Each is one documented endpoint, called with `httpx` (already a dependency): the
official clients (`githubkit`, `pagerduty`) would add a large import for one POST.
Both calls are idempotent by `IncidentReport.dedup_key`: PagerDuty deduplicates by
it natively; for GitHub the key is written into the issue body as an HTML comment
and an open issue carrying it is reused instead of opening a second one.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from rollway.incidents.report import IncidentReport, SinkResult
from rollway.incidents.spec import GitHubIssueSink, PagerDutySink

TIMEOUT_S = 10.0
GITHUB_API_VERSION = "2022-11-28"


class SinkError(Exception):
    """A sink refused or failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _secret(environ: Mapping[str, str], name: str, what: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise SinkError(
            f"{what}: the worker has no {name} in its environment; set it where the worker "
            "runs (it is never taken from the pipeline or the workflow)",
            retryable=False,
        )
    return value


def _failed(what: str, response: httpx.Response) -> SinkError:
    retryable = response.status_code == 429 or response.status_code >= 500
    try:
        detail = str(response.json().get("message", ""))[:300]
    except ValueError:
        detail = response.text[:300]
    return SinkError(f"{what}: HTTP {response.status_code} {detail}".rstrip(), retryable)


def marker(dedup_key: str) -> str:
    return f"<!-- rollway:dedup={dedup_key} -->"


def github_issue(
    sink: GitHubIssueSink, report: IncidentReport, environ: Mapping[str, str]
) -> SinkResult:
    """Open (or find the already opened) GitHub issue for `report`."""
    what = f"github {sink.repository}"
    headers = {
        "Authorization": f"Bearer {_secret(environ, sink.token_env, what)}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": GITHUB_API_VERSION,
        "User-Agent": "rollway",
    }
    base = f"{sink.api_url}/repos/{sink.repository}/issues"
    tag = marker(report.dedup_key)
    try:
        with httpx.Client(headers=headers, timeout=TIMEOUT_S) as http:
            listed = http.get(
                base, params={"state": "open", "labels": ",".join(sink.labels), "per_page": 100}
            )
            if listed.status_code != 200:
                raise _failed(what, listed)
            for issue in listed.json():
                if tag in (issue.get("body") or ""):
                    return SinkResult(sink=what, status="existing", link=issue.get("html_url", ""))
            created = http.post(
                base, json={"title": report.title, "body": _body(report), "labels": sink.labels}
            )
            if created.status_code != 201:
                raise _failed(what, created)
            return SinkResult(sink=what, status="opened", link=created.json().get("html_url", ""))
    except httpx.HTTPError as e:
        raise SinkError(f"{what}: {type(e).__name__}: {e}", retryable=True) from e


def _body(report: IncidentReport) -> str:
    lines = [
        report.summary or report.title,
        "",
        f"- service: `{report.service}`",
        f"- environment: `{report.environment}`",
        f"- raised by: Rollway {report.source}",
    ]
    lines += [f"- {k}: {v}" for k, v in sorted(report.details.items())]
    return "\n".join(lines) + "\n\n" + marker(report.dedup_key) + "\n"


def pagerduty_alert(
    sink: PagerDutySink, report: IncidentReport, environ: Mapping[str, str]
) -> SinkResult:
    """Trigger a PagerDuty alert for `report` (deduplicated by its key)."""
    what = "pagerduty"
    event = {
        "routing_key": _secret(environ, sink.routing_key_env, what),
        "event_action": "trigger",
        "dedup_key": report.dedup_key,
        "payload": {
            "summary": report.title[:1024],
            "source": f"rollway/{report.service}/{report.environment}",
            "severity": sink.severity,
            "component": report.service,
            "group": report.environment,
            "class": report.source,
            "custom_details": {"summary": report.summary, **report.details},
        },
    }
    try:
        response = httpx.post(f"{sink.events_url}/v2/enqueue", json=event, timeout=TIMEOUT_S)
    except httpx.HTTPError as e:
        raise SinkError(f"{what}: {type(e).__name__}: {e}", retryable=True) from e
    if response.status_code != 202:
        raise _failed(what, response)
    return SinkResult(sink=what, status="opened", link=str(response.json().get("dedup_key", "")))


def open_everywhere(
    sinks: list[GitHubIssueSink | PagerDutySink],
    report: IncidentReport,
    environ: Mapping[str, str],
) -> list[SinkResult]:
    """Every sink once; a failure of one never stops the others."""
    results = []
    for sink in sinks:
        try:
            if isinstance(sink, GitHubIssueSink):
                results.append(github_issue(sink, report, environ))
            else:
                results.append(pagerduty_alert(sink, report, environ))
        except SinkError as e:
            name = f"github {sink.repository}" if isinstance(sink, GitHubIssueSink) else "pagerduty"
            results.append(
                SinkResult(sink=name, status="failed", error=str(e)[:500])
                if not e.retryable
                else SinkResult(sink=name, status="failed", error="retryable: " + str(e)[:480])
            )
    return results
