"""Make sure an environment's release-control workflow runs (start it if not)."""

from __future__ import annotations

from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy

from rollway.release_control import ControlSnapshot, EnsureControlInput, ReleaseControlState


@activity.defn(name="ensure_release_control")
async def ensure_release_control(inp: EnsureControlInput) -> str:
    """Start `ReleaseControlWorkflow` unless it already runs; idempotent. Returns its run id."""
    handle = await activity.client().start_workflow(
        "ReleaseControlWorkflow",
        ReleaseControlState(snapshot=ControlSnapshot(environment=inp.environment)),
        id=inp.workflow_id,
        task_queue=activity.info().task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return handle.result_run_id or ""
