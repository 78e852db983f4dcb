"""Human decisions and overrides: small functions the workflow's handlers delegate to.

Each `*_refusal` returns why a decision is refused (or None); the update validators
raise it, the signal handlers record it. Accepted decisions change the state and
set `flags.changed` so a waiting stage re-evaluates.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        ActionInput,
        ApprovalInput,
        ApprovalRecord,
        Outcome,
        Stage,
    )
    from rollway.policy import check_approval
    from rollway.release_control import OverrideInput
    from workflows.promotion.approval import approval_policy
    from workflows.promotion.context import Promotion


def approval_refusal(p: Promotion, inp: ApprovalInput, kind: str = "approve") -> str | None:
    if p.state.outcome != Outcome.RUNNING:
        return f"the promotion has ended ({p.state.outcome.value})"
    if p.controlled:
        return _policy_refusal(p, inp, kind)
    if p.state.stage != Stage.APPROVAL:
        return f"the promotion is not awaiting approval (stage: {p.state.stage.value})"
    if any(a.by == inp.by for a in p.state.approvals):
        return f"{inp.by} has already decided on this promotion"
    return None


def _policy_refusal(p: Promotion, inp: ApprovalInput, kind: str) -> str | None:
    """The release policy's approval rules (groups, separation of duties, quorum)."""
    awaiting = p.state.stage in (Stage.APPROVAL, Stage.GATE)
    if awaiting and p.release.emergency_approved([inp.by]) and kind == "approve":
        return None  # the incident commander's emergency approval
    check = check_approval(
        approval_policy(p),
        p.directory,
        by=inp.by,
        author=p.inp.author,
        already_approved_by=[a.by for a in p.state.approvals],
        kind=kind,  # type: ignore[arg-type]
        awaiting=awaiting,
        extra_requirements=p.extras,
    )
    return None if check.accepted else check.reason


def decide(p: Promotion, inp: ApprovalInput, decision: str) -> None:
    """Record an approval or rejection, or its refusal."""
    refusal = approval_refusal(p, inp, decision)
    if refusal is not None:
        if p.controlled:
            p.keeper.audit(inp.by, decision, accepted=False, reason=refusal)
        else:
            p.keeper.log(f"{decision} refused: {refusal}", by=inp.by)
        return
    p.state.approvals.append(
        ApprovalRecord(by=inp.by, at=workflow.now(), decision=decision, comment=inp.comment)
    )
    if p.controlled:
        p.keeper.audit(inp.by, decision, reason=inp.comment)
        p.flags.changed = True
    else:
        p.keeper.log(f"{decision}d" + (f": {inp.comment}" if inp.comment else ""), by=inp.by)


def request_abort(p: Promotion, inp: ActionInput) -> None:
    """Abort or roll back: the running stage stops at its next check."""
    if p.flags.abort_request is None and p.state.outcome == Outcome.RUNNING:
        p.flags.abort_request = inp
        if p.controlled:
            p.keeper.audit(inp.by, "rollback", reason=inp.reason or "no reason given")
        else:
            p.keeper.log(f"rollback requested: {inp.reason or 'no reason given'}", by=inp.by)


def pause(p: Promotion, inp: ActionInput) -> None:
    if p.state.canary is not None and not p.state.canary.paused:
        p.state.canary.paused = True
        p.keeper.log(f"paused: {inp.reason or 'no reason given'}", by=inp.by)


def resume(p: Promotion, inp: ActionInput) -> None:
    if p.state.canary is not None and p.state.canary.paused:
        p.state.canary.paused = False
        p.state.canary.consecutive_inconclusive = 0
        p.keeper.log("resumed", by=inp.by)


def override_refusal(p: Promotion, inp: OverrideInput) -> str | None:
    """Only an active incident's commander or a release manager may override."""
    if not p.controlled:
        return "this promotion predates overrides"
    if p.state.outcome != Outcome.RUNNING:
        return f"the promotion has ended ({p.state.outcome.value})"
    if p.release.snapshot.commander_of(inp.by) is not None:
        return None
    if p.directory.is_member(inp.by, "release-manager"):
        return None
    active = ", ".join(f"{i.id} (IC {i.commander})" for i in p.release.snapshot.incidents)
    return (
        f"{inp.by} may not override: only an active incident's commander "
        f"({active or 'no active incident'}) or a member of 'release-manager' may"
    )


def apply_override(p: Promotion, inp: OverrideInput) -> None:
    """Bypass the gate, roll back, pause, resume, skip a soak or promote now."""
    refusal = override_refusal(p, inp)
    if refusal is not None:
        p.keeper.audit(inp.by, f"override {inp.kind}", accepted=False, reason=refusal)
        return
    p.keeper.audit(inp.by, f"override {inp.kind}", reason=inp.reason)
    action = ActionInput(by=inp.by, reason=inp.reason)
    if inp.kind == "bypass_gate":
        p.flags.bypass_by = inp.by
    elif inp.kind == "rollback":
        request_abort(p, ActionInput(by=inp.by, reason=f"override: {inp.reason}"))
    elif inp.kind == "pause":
        pause(p, action)
    elif inp.kind == "resume":
        resume(p, action)
    elif inp.kind == "skip_soak":
        p.flags.skip_soak = True
    elif inp.kind == "promote_now":
        p.flags.promote_now = True
    p.flags.changed = True
