"""The policy functions run inside Temporal's workflow sandbox and give the same answers.

Regression guard: in the sandbox `zoneinfo.ZoneInfo` is a restricted proxy whose instances
`datetime` rejects; `rollway.policy` must still work there.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from rollway.policy import ReleasePolicy, evaluate_gate
from tests.support.policy_sandbox import GateCall, PolicyGateWorkflow

NY = ZoneInfo("America/New_York")


async def test_gate_in_workflow_sandbox(
    ts_env: WorkflowEnvironment, seed000: ReleasePolicy
) -> None:
    at = datetime(2026, 3, 26, 16, 30, tzinfo=NY)  # Thursday after hours, in the Q1 freeze
    queue = f"policy-{uuid.uuid4()}"
    async with Worker(
        ts_env.client,
        task_queue=queue,
        workflows=[PolicyGateWorkflow],
        workflow_failure_exception_types=[Exception],  # fail fast instead of retrying the task
    ):
        result = await ts_env.client.execute_workflow(
            PolicyGateWorkflow.run,
            GateCall(policy=seed000, at=at),
            id=f"policy-gate-{uuid.uuid4()}",
            task_queue=queue,
        )
    expected = evaluate_gate(seed000, at)
    assert result.decision.open is False
    assert result.decision.reasons == expected.reasons
    assert result.decision.wait_until == expected.wait_until == datetime(2026, 4, 1, 9, tzinfo=NY)
    assert result.next_open == seed000.windows.next_open(at)
    assert result.now_decision_open
