"""Human decisions and overrides: small functions the workflow's handlers delegate to.

Each `*_refusal` returns why a decision is refused (or None); the update validators
raise it, the signal handlers record it. Accepted decisions change the state and
set `flags.changed` so a waiting stage re-evaluates.

Executions with the `signed-decisions` patch go through the `*_signed` functions:
every decision is authenticated first (signed by `by`, or unsigned where the
environment accepts that, see `workflows/signed_decisions.py`), then authorized
(approvals by the release policy; rollback, abort, pause and resume by the service's
owners, release managers or an active incident's commander), and every refusal is
audited with its reason.
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
    from rollway.policy import GroupDirectory, check_approval
    from rollway.release_control import OverrideInput
    from rollway.security.authorization import accepts_unsigned, action_refusal
    from rollway.security.decisions import SignedDecision
    from workflows.promotion import options
    from workflows.promotion.approval import approval_policy
    from workflows.promotion.calls import activity
    from workflows.promotion.context import Promotion
    from workflows.signed_decisions import Authenticated


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
    _override(p, inp)


def _override(p: Promotion, inp: OverrideInput) -> None:
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


# --- executions with the `signed-decisions` patch ----------------------------------------

PRE_PRODUCTION = (Stage.PENDING, Stage.BUILD, Stage.SCAN, Stage.STAGING)


def decision_environment(p: Promotion, action: str) -> str:
    """The environment a decision acts on, whose policy says if it may be unsigned.

    Abort and rollback act on staging while the promotion is still there; every
    other decision (approve, reject, pause, resume, overrides) acts on production.
    """
    staging = p.spec.staging
    if action in ("abort", "rollback") and staging is not None and p.state.stage in PRE_PRODUCTION:
        return staging.environment
    return p.spec.canary.environment


async def authenticate(
    p: Promotion, signed: SignedDecision | None, by: str, action: str, comment: str
) -> Authenticated:
    # A decision that arrives before the worker has loaded the pipeline (catalog
    # promotions) waits for it: the pipeline says whether unsigned decisions count.
    await workflow.wait_condition(lambda: p.has_spec or p.state.outcome != Outcome.RUNNING)
    if not p.has_spec:
        return Authenticated(
            refusal=f"the promotion has ended ({p.state.outcome.value}) before its pipeline "
            "was loaded",
            how="",
        )
    where = decision_environment(p, action)
    return await p.guard.authenticate(
        signed=signed,
        by=by,
        action=action,
        comment=comment,
        unsigned_accepted=accepts_unsigned(p.spec, where),
        where=where,
    )


def _with_how(text: str, how: str) -> str:
    return f"{text} ({how})" if text else how


def ended_refusal(p: Promotion) -> str | None:
    if p.state.outcome != Outcome.RUNNING:
        return f"the promotion has ended ({p.state.outcome.value})"
    return None


async def decide_signed(p: Promotion, inp: ApprovalInput, decision: str) -> str | None:
    """Authenticate, then apply the approval policy; record the decision or its refusal."""
    if (ended := ended_refusal(p)) is not None:
        return ended
    auth = await authenticate(p, inp.signed, inp.by, decision, inp.comment)
    refusal = auth.refusal or approval_refusal(p, inp, decision)
    if refusal is not None:
        p.keeper.audit(inp.by, decision, accepted=False, reason=refusal)
        return refusal
    p.state.approvals.append(
        ApprovalRecord(by=inp.by, at=workflow.now(), decision=decision, comment=inp.comment)
    )
    p.keeper.audit(inp.by, decision, reason=_with_how(inp.comment, auth.how))
    p.flags.changed = True
    return None


async def load_actors(p: Promotion) -> None:
    """The groups file, read once at the start: who may roll back, abort, pause, resume.

    Also records, per environment, whether unsigned decisions are accepted (the state
    says so, for `rollway status` and for the CLI to know when it must sign).
    """
    for env in p.spec.environments:
        p.state.unsigned_decisions[env] = "accepted" if accepts_unsigned(p.spec, env) else "refused"
    p.actors = await activity(
        p, "load_groups", p.inp.service, GroupDirectory, options.PLATFORM, what="groups"
    )


async def _authorize_action(p: Promotion, by: str, action: str) -> str | None:
    """Owners, release managers or the active incident's commander."""
    await workflow.wait_condition(
        lambda: p.actors is not None or p.state.outcome != Outcome.RUNNING
    )
    if p.actors is None:
        return f"the promotion has ended ({p.state.outcome.value})"
    incident = p.release.snapshot.commander_of(by)
    return action_refusal(
        p.actors,
        by,
        action,
        owners=p.spec.owners,
        commander_of=incident.id if incident is not None else None,
    )


async def act_signed(p: Promotion, inp: ActionInput, action: str) -> str | None:
    """Abort, rollback, pause or resume: authenticated, authorized, audited."""
    if (ended := ended_refusal(p)) is not None:
        return ended
    auth = await authenticate(p, inp.signed, inp.by, action, inp.reason)
    refusal = auth.refusal or await _authorize_action(p, inp.by, action)
    if refusal is None and (ended := ended_refusal(p)) is not None:
        return ended
    if refusal is None and action in ("pause", "resume") and p.state.canary is None:
        refusal = f"{action} applies to the canary; the promotion is at {p.state.stage.value}"
    if refusal is not None:
        p.keeper.audit(inp.by, action, accepted=False, reason=refusal)
        return refusal
    p.keeper.audit(inp.by, action, reason=_with_how(inp.reason or "no reason given", auth.how))
    if action in ("abort", "rollback"):
        if p.flags.abort_request is None:
            p.flags.abort_request = inp
    elif action == "pause":
        pause(p, inp)
    else:
        resume(p, inp)
    return None


async def override_signed(p: Promotion, inp: OverrideInput) -> str | None:
    """An override: authenticated, then only an incident commander or a release manager."""
    auth = await authenticate(p, inp.signed, inp.by, f"override:{inp.kind}", inp.reason)
    refusal = auth.refusal or override_refusal(p, inp)
    if refusal is not None:
        p.keeper.audit(inp.by, f"override {inp.kind}", accepted=False, reason=refusal)
        return refusal
    p.keeper.audit(inp.by, f"override {inp.kind}", reason=_with_how(inp.reason, auth.how))
    _override(p, inp)
    return None
