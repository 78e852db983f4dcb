"""The service's environment lock, the same release-control lock promotions take.

The rollback asks for it straight into the stage no newer commit can take away
(`hold`), waits its turn (`queue`) at most `lock_timeout`, and reads every answer
through the `read_release_control` activity: a `lock` signal only wakes it.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from rollway.release_control import (
        ControlView,
        ControlViewInput,
        EnsureControlInput,
        LockDecision,
        LockRelease,
        LockRequest,
    )

WAKE_AT_LEAST_EVERY_S = 5.0
"""Read release control at least this often while waiting, signal or not."""


class EnvironmentLock:
    """Asks the environment's `ReleaseControlWorkflow` for one service's lock."""

    def __init__(self, control_id: str, environment: str, service: str) -> None:
        self.control_id = control_id
        self.environment = environment
        self.service = service
        self.joined = False
        self.woken = False
        self.decision: LockDecision | None = None

    def wake(self) -> None:
        """A `lock` signal came: read release control (its payload is not trusted)."""
        self.woken = True

    async def request(self, commit: str) -> None:
        """Start release control if needed and ask for the lock (queued behind a holder)."""
        await workflow.execute_activity(
            "ensure_release_control",
            EnsureControlInput(workflow_id=self.control_id, environment=self.environment),
            result_type=str,
            start_to_close_timeout=timedelta(seconds=30),
        )
        self.joined = True
        await workflow.get_external_workflow_handle(self.control_id).signal(
            "request_lock",
            LockRequest(
                workflow_id=workflow.info().workflow_id,
                service=self.service,
                commit=commit,
                on_conflict="queue",
                hold=True,
            ),
        )

    async def read(self) -> LockDecision | None:
        """Release control's answer about our lock (`read_release_control` activity)."""
        self.woken = False
        view: ControlView = await workflow.execute_activity(
            "read_release_control",
            ControlViewInput(
                control_id=self.control_id,
                workflow_id=workflow.info().workflow_id,
                service=self.service,
            ),
            result_type=ControlView,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        self.decision = view.lock
        return view.lock

    async def wait(self, seconds: float) -> None:
        """Until release control signals us (since the last read), or `seconds` pass."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self.woken, timeout=max(0.1, min(seconds, WAKE_AT_LEAST_EVERY_S))
            )

    async def leave(self) -> None:
        """Release the lock, or leave the queue (release control hands it on)."""
        if self.joined:
            self.joined = False
            await workflow.get_external_workflow_handle(self.control_id).signal(
                "release_lock",
                LockRelease(workflow_id=workflow.info().workflow_id, service=self.service),
            )
