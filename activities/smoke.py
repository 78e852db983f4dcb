"""HTTP smoke checks against a freshly deployed version."""

from __future__ import annotations

import time

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.models import SmokeInput, SmokeResult
from rollway.spec import SmokeCheck


def _check_once(client: httpx.Client, base_url: str, check: SmokeCheck) -> str | None:
    """None if the check passes, else what was wrong."""
    url = base_url.rstrip("/") + check.path
    try:
        r = client.request(check.method, url, timeout=check.timeout.total_seconds())
    except httpx.HTTPError as e:
        return f"{check.method} {check.path}: {type(e).__name__}: {e}"
    if r.status_code != check.expect_status:
        return (
            f"{check.method} {check.path}: status {r.status_code}, expected {check.expect_status}"
        )
    if check.contains and check.contains not in r.text:
        return f"{check.method} {check.path}: body lacks '{check.contains}'"
    return None


@activity.defn(name="smoke_test")
def smoke_test(inp: SmokeInput) -> SmokeResult:
    """Run every check, each up to `retries` times; fail (non-retryable) listing what failed."""
    results, failures = [], []
    with httpx.Client() as client:
        for check in inp.checks:
            problem: str | None = "not run"
            for attempt in range(inp.retries + 1):
                problem = _check_once(client, inp.base_url, check)
                if problem is None:
                    break
                activity.heartbeat(f"{check.path}: attempt {attempt + 1} failed: {problem}")
                time.sleep(1.0)
            if problem is None:
                results.append(f"{check.method} {check.path}: ok")
            else:
                failures.append(problem)
    if failures:
        raise ApplicationError(
            "smoke checks failed: " + "; ".join(failures), type="SmokeFailed", non_retryable=True
        )
    return SmokeResult(passed=True, results=results)
