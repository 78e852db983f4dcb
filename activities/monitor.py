"""Health monitor activities: run the checks, declare the incident in release control."""

from __future__ import annotations

import os

from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from rollway.home import home
from rollway.metrics.prometheus import MetricQueryError, PrometheusProvider
from rollway.monitor.checks import run_checks
from rollway.monitor.report import CheckResults, ChecksInput, DeclareMonitorIncident
from rollway.release_control import ControlSnapshot, ReleaseControlState
from rollway.security.redact import redact
from rollway.stack import prometheus_url


def _prometheus() -> PrometheusProvider:
    """The worker's Prometheus, as for analysis (a prometheus check fails without one)."""
    url = os.environ.get("ROLLWAY_PROMETHEUS_URL") or prometheus_url(home())
    if not url:
        raise MetricQueryError(
            "no Prometheus configured: set ROLLWAY_PROMETHEUS_URL or `rollway up`"
        )
    return PrometheusProvider(url)


@activity.defn(name="run_health_checks")
def run_health_checks(inp: ChecksInput) -> CheckResults:
    """Every check once; a failing check is a result, not an activity failure."""
    results = run_checks(inp.checks, _prometheus)
    for r in results:
        r.detail = redact(r.detail)
    return CheckResults(results=results)


@activity.defn(name="declare_monitor_incident")
async def declare_monitor_incident(inp: DeclareMonitorIncident) -> str:
    """Declare the monitor's incident (idempotent: an active one with its id is kept)."""
    client = activity.client()
    await client.start_workflow(
        "ReleaseControlWorkflow",
        ReleaseControlState(snapshot=ControlSnapshot(environment=inp.environment)),
        id=inp.control_id,
        task_queue=activity.info().task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    try:
        await client.get_workflow_handle(inp.control_id).execute_update(
            "declare_incident", inp.incident, result_type=ControlSnapshot
        )
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type == "Duplicate":
            return f"incident {inp.incident.id} already active in {inp.environment}"
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
        raise ApplicationError(
            f"release control refused incident {inp.incident.id}: {message}", non_retryable=True
        ) from None
    return f"declared {inp.incident.severity} {inp.incident.id} in {inp.environment}"
