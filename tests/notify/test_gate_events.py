"""Approval and release-gate events carry who may approve, the command, and the next opening."""

from __future__ import annotations

import asyncio

from temporalio.testing import WorkflowEnvironment

from rollway.models import ApprovalInput
from rollway.notify.events import NotificationEvent
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline, wait_until
from tests.support.release_control import SAT, SEED_000, release_run, skip_to


async def notified(world: FakeWorld, kind: str) -> NotificationEvent:
    """The event `kind` once the `notify` activity got it (queued after the stage change)."""
    for _ in range(200):
        if found := [i.event for i in world.notified if i.event.kind == kind]:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} notification within 20 s")


async def test_awaiting_approval_then_gate_waiting_until_monday(
    ts_env: WorkflowEnvironment,
) -> None:
    spec = pipeline(
        approval=None,
        environments={
            "staging": {},
            "production": {"policy": {"unsigned_decisions": "accepted", **SEED_000}},
        },
        notifications=[{"kind": "webhook", "url_env": "HOOK_URL"}],
    )
    await skip_to(ts_env, SAT, 10, 0)
    async with release_run(ts_env) as run:
        h = await run.start(spec, author="rm-ann")
        await wait_until(h, lambda s: s.stage.value == "approval")
        approval = await notified(run.world, "awaiting_approval")
        assert approval.details["Still needed"] == "2 more from release-managers"
        # The author may not approve their own change.
        assert approval.details["May approve"] == "release-managers: rm-bob, rm-cat"
        assert approval.command == f"rollway approve {h.id} --by <you>"
        for who in ("rm-bob", "rm-cat"):
            await h.signal("approve", ApprovalInput(by=who))
        await wait_until(h, lambda s: s.stage.value == "gate")
        gate = await notified(run.world, "gate_waiting")
    assert "outside deploy window Mon\u2013Thu 09:00\u201316:00" in gate.details["Why"], (
        gate.details
    )
    assert gate.details["Next opening"].endswith("14:00 UTC")  # Monday 09:00 New York
    assert gate.summary.startswith("waiting at the release gate")
    assert [i.event.kind.value for i in run.world.notified] == [
        "started",
        "awaiting_approval",
        "gate_waiting",
    ]
