"""Make sure an environment's release-control workflow runs (start it if not)."""

from __future__ import annotations

from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy

from rollway.release_control import (
    ControlSnapshot,
    ControlView,
    ControlViewInput,
    EnsureControlInput,
    ReleaseControlState,
)


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


@activity.defn(name="read_release_control")
async def read_release_control(inp: ControlViewInput) -> ControlView:
    """Read release control's state for one promotion (the trusted path; signals only wake).

    A signal's sender is not known to the workflow, so whatever a `release_control`
    or `lock` signal carries is ignored: the promotion reads the truth here.
    """
    handle = activity.client().get_workflow_handle(inp.control_id)
    view: ControlView = await handle.query("view", inp, result_type=ControlView)
    return view
