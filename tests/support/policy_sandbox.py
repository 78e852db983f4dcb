"""A tiny workflow that runs the policy functions inside Temporal's workflow sandbox."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio import workflow

from rollway.policy import GateDecision, ReleasePolicy, evaluate_gate


class GateCall(BaseModel):
    policy: ReleasePolicy
    at: datetime
    hotfix: bool = False


class GateResult(BaseModel):
    decision: GateDecision
    next_open: datetime
    now_decision_open: bool


@workflow.defn(sandboxed=True)
class PolicyGateWorkflow:
    @workflow.run
    async def run(self, call: GateCall) -> GateResult:
        return GateResult(
            decision=evaluate_gate(call.policy, call.at, hotfix=call.hotfix),
            next_open=call.policy.windows.next_open(call.at),
            now_decision_open=evaluate_gate(call.policy, workflow.now()).open in (True, False),
        )
