"""Notifications from the promotion: an event at each stage change, sent by `notify`.

Only executions whose pipeline has a `notifications:` section take the
`notifications` patch (asked only then, so a pipeline without one records no marker
and no command: its history is the same as before). Call sites are one line:
`notify.canary_step(p)`; each does nothing when notifications are off.

Delivery never holds or fails the promotion: each target has its own queue of
`notify` activities (in order, so its Slack message is posted before the thread
replies that follow it); a failure after the bounded retries is a warning in the
timeline. The idempotency key is the workflow id, run id and event sequence; the
Slack message's channel and `ts` are kept here after the first post, so later events
update it instead of posting another. `finish` sends the outcome and waits for the
queues to drain (bounded by the retry policy).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.durations import format_duration
    from rollway.models import MetricResult, Outcome, Stage
    from rollway.notify.events import NotificationEvent, NotifyInput, NotifyResult, SlackThread
    from rollway.notify.spec import EventKind, NotificationTarget
    from rollway.policy import ApprovalPolicy

if TYPE_CHECKING:
    from workflows.promotion.context import Promotion

PATCH = "notifications"

# Bounded: about a minute of retries, a few minutes at most with slow answers.
NOTIFY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=2),
    "schedule_to_close_timeout": timedelta(minutes=5),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=5,
    ),
}

OUTCOME_EVENTS = {
    Outcome.PROMOTED: EventKind.PROMOTED,
    Outcome.ROLLED_BACK: EventKind.ROLLED_BACK,
    Outcome.FAILED: EventKind.FAILED,
}


@dataclass
class Notices:
    """The promotion's notification bookkeeping (workflow state, never a secret)."""

    seq: int = 0
    threads: dict[int, SlackThread] = field(default_factory=dict)  # target index -> message
    queues: dict[int, asyncio.Task[None]] = field(default_factory=dict)  # last delivery


def start(p: Promotion) -> None:
    """Turn notifications on (pipelines that have them) and announce the promotion."""
    if not p.spec.notifications or not workflow.patched(PATCH):
        return
    p.notices = Notices()
    emit(
        p,
        EventKind.STARTED,
        f"Promotion of {p.inp.service} {p.inp.version} started",
        f"Requested by {p.inp.requested_by}.",
        {"Commit": p.inp.commit[:12], "Author": p.inp.author or "unknown"},
    )


def awaiting_approval(p: Promotion, policy: ApprovalPolicy, still_needed: list[str]) -> None:
    """Waiting for approvals: who may approve, and the exact command."""
    if p.notices is None:
        return
    wf = workflow.info().workflow_id
    details = {
        "Still needed": "; ".join(still_needed) or "approval",
        "May approve": _approvers(p, policy),
    }
    if policy.timeout is not None:
        details["Times out"] = f"after {format_duration(policy.timeout)} ({policy.on_timeout})"
    emit(
        p,
        EventKind.AWAITING_APPROVAL,
        f"Awaiting approval for {p.spec.canary.environment}",
        f"Reject with `rollway reject {wf} --by <you>`.",
        details,
        command=f"rollway approve {wf} --by <you>",
    )


def escalated(p: Promotion, policy: ApprovalPolicy) -> None:
    """The approval timeout escalated: tell the escalation groups."""
    if p.notices is not None and policy.timeout is not None:
        groups = ", ".join(policy.escalate_to) or "the approvers"
        emit(
            p,
            EventKind.AWAITING_APPROVAL,
            f"Approval escalated to {groups}",
            f"No decision in {format_duration(policy.timeout)}.",
            command=f"rollway approve {workflow.info().workflow_id} --by <you>",
        )


def escalation_note(p: Promotion) -> str:
    """What the audit trail says about telling the escalation groups."""
    if p.notices is None:
        return "(nobody was notified: the pipeline has no `notifications:`)"
    return "(notified: see the timeline for any delivery warning)"


def gate_waiting(p: Promotion, reasons: list[str], wait_until: datetime | None) -> None:
    """Held at the release gate: why, and when it opens next."""
    if p.notices is None:
        return
    details = {"Why": "; ".join(reasons)}
    if wait_until is not None:
        details["Next opening"] = f"{wait_until:%Y-%m-%d %H:%M} UTC"
    emit(p, EventKind.GATE_WAITING, "Waiting at the release gate", "", details)


def canary_step(p: Promotion) -> None:
    """The canary moved to its next step."""
    c = p.state.canary
    if p.notices is None or c is None:
        return
    soak = p.spec.canary.steps[c.step].soak
    emit(
        p,
        EventKind.CANARY_STEP,
        f"Canary at {c.weight}% (step {c.step + 1} of {len(c.steps)})",
        f"Soaking {format_duration(soak)} while analysis runs." if soak else "",
        {"Stable": p.state.stable_version or "none"},
    )


def paused(p: Promotion, last: str) -> None:
    """The canary paused for a human: analysis stayed inconclusive."""
    c = p.state.canary
    if p.notices is not None and c is not None:
        wf = workflow.info().workflow_id
        emit(
            p,
            EventKind.PAUSED,
            f"Canary paused at {c.weight}%",
            f"Analysis inconclusive {c.consecutive_inconclusive} times in a row: {last}. "
            "Traffic is held until someone resumes or rolls back.",
            command=f"rollway resume {wf}",
        )


def rollback_stuck(p: Promotion) -> None:
    """A rollback keeps failing: a human must look."""
    if p.notices is not None:
        emit(
            p,
            EventKind.ROLLBACK_STUCK,
            "Rollback stuck",
            p.state.rollback_error or "",
            {"Traffic": _traffic(p)},
        )


async def finish(p: Promotion) -> None:
    """Send the outcome, then wait until every queued notification is done."""
    n = p.notices
    if n is None:
        return
    s = p.state
    kind = OUTCOME_EVENTS.get(s.outcome, EventKind.ENDED)
    details = {"Outcome": s.outcome.value}
    if s.traffic:
        details["Traffic"] = _traffic(p)
    if s.started_at and s.finished_at:
        details["Took"] = format_duration(s.finished_at - s.started_at)
    metrics = s.rollback_metrics if s.outcome == Outcome.ROLLED_BACK else []
    title = f"{s.service} {s.version} {s.outcome.value.replace('_', ' ')}"
    emit(p, kind, title, s.reason, details, metrics=metrics)
    await workflow.wait_condition(lambda: all(t.done() for t in n.queues.values()))


def emit(
    p: Promotion,
    kind: EventKind,
    title: str,
    text: str = "",
    details: dict[str, str] | None = None,
    *,
    command: str | None = None,
    metrics: list[MetricResult] | None = None,
) -> None:
    """Queue one event for every target that wants it (returns at once)."""
    n = p.notices
    if n is None:
        return
    n.seq += 1
    info = workflow.info()
    event = NotificationEvent(
        kind=kind,
        seq=n.seq,
        at=workflow.now(),
        workflow_id=info.workflow_id,
        service=p.inp.service,
        version=p.inp.version,
        commit=p.inp.commit,
        environment=p.spec.canary.environment,
        title=title,
        text=text,
        summary=summary(p),
        outcome=p.state.outcome.value,
        details=details or {},
        command=command,
        metrics=list(metrics or []),
    )
    for index, target in enumerate(p.spec.notifications):
        if kind in target.events:
            previous = n.queues.get(index)
            n.queues[index] = asyncio.ensure_future(_deliver(p, n, index, target, event, previous))


async def _deliver(
    p: Promotion,
    n: Notices,
    index: int,
    target: NotificationTarget,
    event: NotificationEvent,
    previous: asyncio.Task[None] | None,
) -> None:
    if previous is not None:
        await previous  # in order per target: the message first, then its replies
    info = workflow.info()
    base = f"{info.workflow_id}/{info.run_id}"
    inp = NotifyInput(
        target=target,
        target_index=index,
        event=event,
        key=f"{base}#{event.seq}",
        thread_key=f"{base}#thread-{index}",
        thread=n.threads.get(index),
    )
    try:
        result: NotifyResult = await workflow.execute_activity(
            "notify",
            inp,
            result_type=NotifyResult,
            **NOTIFY,
        )
    except ActivityError as e:
        p.keeper.log(
            f"warning: {target.label()} was not told '{event.kind.value}' "
            f"(event {event.seq}): {_cause(e)}"
        )
        return
    if result.thread is not None:
        n.threads[index] = result.thread


def summary(p: Promotion) -> str:
    """The promotion's status in one line, for the message kept up to date."""
    s = p.state
    if s.outcome != Outcome.RUNNING:
        return f"{s.outcome.value}: {s.reason}" if s.reason else s.outcome.value
    if s.stage == Stage.CANARY and s.canary is not None and s.canary.step >= 0:
        c = s.canary
        return f"canary at {c.weight}% (step {c.step + 1} of {len(c.steps)})" + (
            ", paused" if c.paused else ""
        )
    if s.stage == Stage.APPROVAL:
        approved = len(p.approvers())
        return f"awaiting approval ({approved} of {s.approvals_required})"
    if s.stage == Stage.GATE and s.gate is not None:
        return "waiting at the release gate: " + "; ".join(s.gate.reasons)
    if s.stage == Stage.ROLLBACK_STUCK:
        return f"rollback stuck: {s.rollback_error or ''}"
    return s.stage.value.replace("_", " ")


def _approvers(p: Promotion, policy: ApprovalPolicy) -> str:
    """Members of the groups that count (or anyone), without who already approved."""
    groups = list(policy.groups) + [e.group for e in p.extras if e.group not in policy.groups]
    done = set(p.approvers())
    excluded = set() if policy.allow_author or not p.inp.author else {p.inp.author}
    if not groups:
        return "anyone" + (f" except {p.inp.author} (the author)" if excluded else "")
    parts = []
    for g in groups:
        members = [m for m in p.directory.groups.get(g, []) if m not in done | excluded]
        parts.append(f"{g}: {', '.join(members) or 'nobody left'}")
    return "; ".join(parts)


def _traffic(p: Promotion) -> str:
    return (
        "; ".join(
            f"{where} " + ", ".join(f"{v} {w}%" for v, w in weights.items())
            for where, weights in p.state.traffic.items()
        )
        or "unknown"
    )


def _cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)
