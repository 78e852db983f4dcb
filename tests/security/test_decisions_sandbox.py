"""Decision verification runs inside Temporal's workflow sandbox.

`cryptography` (under `sshsig`) is a Rust extension that the sandbox cannot re-import
(`SystemError: bad argument to internal function`), and it imports modules lazily while
verifying (RSA), so passing imports through in the workflow module is not enough: the
worker must pass `SANDBOX_PASSTHROUGH` through (`with_passthrough_modules`).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from rollway.security import SANDBOX_PASSTHROUGH
from rollway.security.decisions import Refusal
from rollway.security.signing import new_payload, sign_decision
from tests.support.security.keys import Key
from tests.support.security.sandbox_decision_workflow import (
    VerifyCall,
    VerifyDecisionWorkflow,
)

WF = "promote-demo-4f2a9c1"


async def test_verify_in_workflow_sandbox(
    ts_env: WorkflowEnvironment, keys: dict[str, Key], allowed_signers: str
) -> None:
    now = await ts_env.get_current_time()
    good = sign_decision(
        new_payload("approve", WF, "alice", now=now, ttl=timedelta(hours=1)), keys["alice"].private
    )
    rsa = sign_decision(
        new_payload("approve", WF, "bob", now=now, ttl=timedelta(hours=1)), keys["bob"].private
    )
    forged = sign_decision(
        new_payload("approve", WF, "alice", now=now, ttl=timedelta(hours=1)),
        keys["mallory"].private,
    )
    queue = f"decisions-{uuid.uuid4()}"
    async with Worker(
        ts_env.client,
        task_queue=queue,
        workflows=[VerifyDecisionWorkflow],
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
        ),
        workflow_failure_exception_types=[Exception],  # fail fast instead of retrying the task
    ):
        results = [
            await ts_env.client.execute_workflow(
                VerifyDecisionWorkflow.run,
                VerifyCall(
                    decision=d,
                    allowed_signers=allowed_signers,
                    workflow_id=WF,
                    action="approve",
                    seen_nonces=seen,
                ),
                id=f"verify-{uuid.uuid4()}",
                task_queue=queue,
            )
            for d, seen in ((good, []), (rsa, []), (forged, []), (good, [good.nonce]))
        ]
    assert results[0].verified is not None and results[0].verified.principal == "alice"
    assert results[1].verified is not None and results[1].verified.principal == "bob"
    assert results[2].refused is not None and results[2].refused.reason == Refusal.WRONG_KEY
    assert results[3].refused is not None and results[3].refused.reason == Refusal.REPLAYED
