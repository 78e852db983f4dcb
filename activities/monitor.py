"""Health monitor activities: run the checks, declare the incident in release control."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from activities.analysis import prometheus_provider
from rollway.monitor.checks import run_checks
from rollway.monitor.report import CheckResults, ChecksInput, DeclareMonitorIncident
from rollway.release_control import ControlSnapshot, ReleaseControlState
from rollway.security.redact import redact


@activity.defn(name="run_health_checks")
def run_health_checks(inp: ChecksInput) -> CheckResults:
    """Every check once; a failing check is a result, not an activity failure."""
    results = run_checks(inp.checks, prometheus_provider)
    for r in results:
        r.detail = redact(r.detail)
    return CheckResults(results=results)


MONITOR_KEY_ENV = "ROLLWAY_MONITOR_KEY"
"""The monitor's SSH key (list its public key as `rollway-monitor` in the allowed signers)."""


async def _signed(inp: DeclareMonitorIncident) -> DeclareMonitorIncident:
    """The declaration signed with the worker's monitor key, when it has one.

    Release control authorizes the monitor like a person: `rollway-monitor` must be in
    the on-call group, and its declaration signed unless the environment accepts
    unsigned ones (ROLLWAY_UNSIGNED_CONTROL).
    """
    key = os.environ.get(MONITOR_KEY_ENV)
    if not key:
        return inp
    from rollway.security.signing import SigningError, new_payload, sign_decision

    incident = inp.incident
    payload = new_payload(
        "incident-declare", inp.control_id, incident.by, comment=incident.signed_text()
    )
    try:
        signed = await asyncio.to_thread(sign_decision, payload, Path(key))
    except SigningError as e:
        raise ApplicationError(
            f"{MONITOR_KEY_ENV}={key}: cannot sign the monitor's declaration: {e}",
            non_retryable=True,
        ) from None
    return inp.model_copy(update={"incident": incident.model_copy(update={"signed": signed})})


@activity.defn(name="declare_monitor_incident")
async def declare_monitor_incident(inp: DeclareMonitorIncident) -> str:
    """Declare the monitor's incident (idempotent: an active one with its id is kept)."""
    inp = await _signed(inp)
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
