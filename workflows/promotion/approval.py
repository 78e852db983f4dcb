"""Production gate: the service's production lock, approvals by policy, the release gate.

Executions without the `release-control` patch wait for plain approvals instead
(`approval`). Both re-evaluate whenever a decision, a snapshot or a lock arrives.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from rollway.durations import format_duration
    from rollway.models import Outcome, Stage
    from rollway.policy import ApprovalPolicy, GroupDirectory, approval_progress
    from workflows.promotion import notify, options
    from workflows.promotion.calls import activity
    from workflows.promotion.context import Promotion, Stop
    from workflows.promotion.locks import await_lock, check_superseded


async def approval(p: Promotion) -> None:
    """Before release control: wait for `required` approvals or a rejection."""
    spec = p.spec.approval
    if spec is None:
        return
    p.state.approvals_required = spec.required
    p.keeper.enter(Stage.APPROVAL, f"waiting for {spec.required} approval(s)")
    timeout = spec.timeout.total_seconds() if spec.timeout else None
    try:
        await workflow.wait_condition(
            lambda: (
                len(p.approvers()) >= spec.required
                or p.rejected() is not None
                or p.flags.abort_request is not None
            ),
            timeout=timeout,
        )
    except TimeoutError:
        assert spec.timeout is not None
        raise Stop(
            Outcome.REJECTED, f"no approval within {format_duration(spec.timeout)}"
        ) from None
    p.check_abort()
    p.check_rejected()
    p.keeper.log("approved by " + ", ".join(a.by for a in p.state.approvals))


async def production_gate(p: Promotion) -> None:
    """The production lock, approvals and the release gate, re-evaluated on every change."""
    await p.release.join()
    await await_lock(p, p.release)
    p.directory = await activity(
        p, "load_groups", p.inp.service, GroupDirectory, options.PLATFORM, what="groups"
    )
    policy = approval_policy(p)
    started, escalated, last_reasons = workflow.now(), False, None
    while True:
        p.flags.changed = False
        await p.release.sync()
        p.check_abort()
        check_superseded(p, p.release)
        p.check_rejected()
        decision = p.release.gate(p.approvers(), bypass=p.flags.bypass_by is not None)
        p.extras = list(decision.extra_approvals)
        progress = approval_progress(
            policy,
            p.directory,
            approved_by=p.approvers(),
            author=p.inp.author,
            extra_requirements=p.extras,
        )
        satisfied = progress.satisfied or (decision.open and decision.path == "emergency")
        p.state.gate = p.release.gate_state(decision, [] if satisfied else progress.still_needed)
        p.state.approvals_required = policy.required + sum(e.count for e in p.extras)
        timeout: float | None = None
        if not satisfied:
            if p.state.stage != Stage.APPROVAL:
                p.keeper.enter(Stage.APPROVAL, f"waiting for approval: {progress.summary}")
                notify.awaiting_approval(p, policy, progress.still_needed)
            if policy.timeout is not None and not escalated:
                left = (started + policy.timeout - workflow.now()).total_seconds()
                if left <= 0 and policy.on_timeout == "reject":
                    raise Stop(
                        Outcome.REJECTED, f"no approval within {format_duration(policy.timeout)}"
                    )
                if left <= 0:
                    escalated = True
                    notify.escalated(p, policy)
                    groups = ", ".join(policy.escalate_to) or "the approvers"
                    p.keeper.audit(
                        "rollway",
                        "escalate approval",
                        reason=f"no decision in {format_duration(policy.timeout)}; "
                        f"escalated to {groups} {notify.escalation_note(p)}",
                    )
                    continue
                timeout = left
        elif not decision.open:
            if decision.reasons != last_reasons:
                last_reasons = decision.reasons
                when = (
                    f"; earliest {decision.wait_until:%Y-%m-%d %H:%M} UTC"
                    if decision.wait_until
                    else ""
                )
                p.keeper.enter(Stage.GATE, "waiting: " + "; ".join(decision.reasons) + when)
                notify.gate_waiting(p, decision.reasons, decision.wait_until)
                p.keeper.audit(
                    "rollway", "hold at release gate", reason="; ".join(decision.reasons)
                )
            timeout = p.release.wait_for(decision)
        else:
            break
        await p.wait_change(p.release.wait_limit(timeout))
    p.flags.emergency = decision.path == "emergency"
    await p.release.enter_production()
    p.keeper.log(
        f"release gate open ({decision.path})"
        + (f": {'; '.join(decision.notes)}" if decision.notes else "")
    )


def approval_policy(p: Promotion) -> ApprovalPolicy:
    """The environment policy's approvals, else the pipeline's `approval:`, else none."""
    if not p.has_spec:  # a decision before the pipeline is loaded: nothing awaits one yet
        return ApprovalPolicy(required=0)
    env_policy = p.spec.environments[p.spec.canary.environment].policy
    if env_policy is not None and (env_policy.approvals.required or env_policy.approvals.groups):
        return env_policy.approvals
    return p.spec.approval or ApprovalPolicy(required=0)
