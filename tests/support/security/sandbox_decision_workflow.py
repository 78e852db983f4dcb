"""A tiny workflow that verifies a signed decision inside Temporal's workflow sandbox."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from rollway.security.decisions import Refused, SignedDecision, Verified, verify_decision
    from rollway.security.ssh_verifier import SshDecisionVerifier


class VerifyCall(BaseModel):
    decision: SignedDecision
    allowed_signers: str
    workflow_id: str
    action: str
    seen_nonces: list[str] = []


class VerifyResult(BaseModel):
    verified: Verified | None = None
    refused: Refused | None = None


@workflow.defn(sandboxed=True)
class VerifyDecisionWorkflow:
    @workflow.run
    async def run(self, call: VerifyCall) -> VerifyResult:
        result = verify_decision(
            call.decision,
            [SshDecisionVerifier(call.allowed_signers)],
            workflow_id=call.workflow_id,
            action=call.action,
            now=workflow.now(),
            seen_nonces=set(call.seen_nonces),
        )
        if isinstance(result, Verified):
            return VerifyResult(verified=result)
        return VerifyResult(refused=result)
