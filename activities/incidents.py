"""Activity `open_incident`: open an incident in every configured tool (idempotent)."""

from __future__ import annotations

import os

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.incidents.report import OpenIncidentInput, OpenIncidentResult
from rollway.incidents.sinks import open_everywhere
from rollway.security.redact import redact


@activity.defn(name="open_incident")
def open_incident(inp: OpenIncidentInput) -> OpenIncidentResult:
    """Open the incident everywhere; retry (all sinks deduplicate) while one may recover."""
    results = open_everywhere(inp.sinks, inp.report, os.environ)
    for r in results:
        r.error = redact(r.error)
    retry = [r for r in results if r.status == "failed" and r.error.startswith("retryable: ")]
    if retry:
        raise ApplicationError(
            "; ".join(f"{r.sink}: {r.error.removeprefix('retryable: ')}" for r in retry),
            type="IncidentSinkUnavailable",
        )
    failed = [r for r in results if r.status == "failed"]
    if failed and len(failed) == len(results):
        raise ApplicationError(
            "; ".join(f"{r.sink}: {r.error}" for r in failed),
            type="IncidentSinkRefused",
            non_retryable=True,
        )
    return OpenIncidentResult(results=results)
