"""A failure never hides: bounded rollbacks, aborts that wait, traffic read back from the platform.

Time-skipping server with the same-named test activities (`FakeWorld`); the
`honest-failures` patch is on for every new execution.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from rollway.models import ActionInput, ApprovalInput, Outcome, Stage
from tests.histories.record import save_history
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline, running, wait_until


async def test_rollback_that_fails_for_good_ends_failed_with_the_real_traffic(
    ts_client: Client,
) -> None:
    world = FakeWorld(verdicts=["fail", "fail"])
    world.fail["rollback"] = "HAProxy runtime API refused the weight"
    world.fail_cause["rollback"] = "[Errno 111] Connection refused"
    async with running(ts_client, world, pipeline()) as h:
        await wait_until(h, lambda s: s.stage == Stage.APPROVAL)
        await h.signal("approve", ApprovalInput(by="alice"))
        result = await h.result()  # the execution completes: no FAILED run with a stale state
    state = result.state
    assert state is not None
    assert result.outcome == Outcome.FAILED
    assert "rollback of demo/production failed after every retry" in result.reason
    # The whole story, not only the innermost error: what failed, why, and the OS's word.
    assert (
        "PlatformError: HAProxy runtime API refused the weight: "
        "ConnectionRefusedError: [Errno 111] Connection refused (not retryable)"
    ) in result.reason
    assert "canary still serves traffic (demo/production v2 at 5%)" in result.reason
    assert state.stage == Stage.DONE
    assert state.traffic == {"demo/production": {"v1": 95, "v2": 5}}
    assert state.stable_version == "v1"
    stuck = [e for e in state.timeline if e.stage == Stage.ROLLBACK_STUCK]
    assert len(stuck) == 3, [e.message for e in state.timeline]  # one per escalation level
    assert world.calls.count("rollback:production") == 3  # non-retryable: one try per level


async def test_rollback_failing_transiently_is_reported_stuck_then_gets_through(
    ts_client: Client,
) -> None:
    world = FakeWorld(verdicts=["fail", "fail"])
    world.fail_times["rollback"] = 7  # level 1 (5 attempts) exhausted, level 2 succeeds at try 3
    async with running(ts_client, world, pipeline()) as h:
        await wait_until(h, lambda s: s.stage == Stage.APPROVAL)
        await h.signal("approve", ApprovalInput(by="alice"))
        result = await h.result()
    state = result.state
    assert state is not None
    assert result.outcome == Outcome.ROLLED_BACK
    assert world.calls.count("rollback:production") == 8
    messages = [e.message for e in state.timeline]
    assert any("escalation level 1 of 3 exhausted" in m for m in messages), messages
    assert any("got through at escalation level 2" in m for m in messages), messages
    assert state.rollback_error is None
    assert state.traffic == {"demo/production": {"v1": 100}}


async def test_abort_while_promote_runs_reports_what_really_serves(ts_client: Client) -> None:
    world = FakeWorld()
    world.promote_gate = asyncio.Event()
    spec = pipeline(staging=None)
    spec["canary"]["steps"] = [{"weight": 50, "soak": "0s"}]  # no timer to skip
    async with running(ts_client, world, spec) as h:
        await wait_until(h, lambda s: s.stage == Stage.APPROVAL)
        await h.signal("approve", ApprovalInput(by="alice"))
        for _ in range(300):
            if "promote:production" in world.calls:
                break
            await asyncio.sleep(0.05)
        assert "promote:production" in world.calls
        await h.signal("abort", ActionInput(by="bob", reason="changed my mind"))
        await asyncio.sleep(0.5)  # the abort is in; `promote` is still running
        world.promote_gate.set()
        result = await h.result()
    state = result.state
    assert state is not None
    # The abort waited for `promote` to finish; the platform then said v2 serves 100 %.
    assert world.stable["production"] == "v2"
    assert result.outcome == Outcome.PROMOTED
    assert state.stable_version == "v2"
    assert state.traffic == {"demo/production": {"v2": 100}}
    assert "already served 100% when this came" in result.reason
    assert "bob" in result.reason


async def test_same_label_other_artifact_is_a_new_release_not_already_stable(
    ts_client: Client,
) -> None:
    world = FakeWorld(stable={"staging": "v1", "production": "v2"})
    world.stable_artifact["production"] = "/artifacts/v2-0ldc0mm1t"
    async with running(ts_client, world, pipeline(staging=None)) as h:
        await wait_until(h, lambda s: s.stage == Stage.APPROVAL)
        await h.signal("approve", ApprovalInput(by="alice"))
        result = await h.result()
        save_history(await h.fetch_history(), "timeskip-rebuilt-label-promoted")
    # Not "promoted: v2 is already the stable version" while the old build keeps serving:
    # the rebuild gets a canary of its own, ramps and replaces the old build.
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert ("deploy", "production", "v2") in world.writes
    assert ("promote", "production", "v2") in world.writes
    assert world.stable_artifact["production"] == "/artifacts/v2"
    messages = [e.message for e in result.state.timeline] if result.state else []
    assert any(
        "built from another artifact (/artifacts/v2-0ldc0mm1t)" in m and "new release" in m
        for m in messages
    ), messages


async def test_same_label_same_artifact_is_already_stable(ts_client: Client) -> None:
    world = FakeWorld(stable={"staging": "v1", "production": "v2"})
    world.stable_artifact["production"] = "/artifacts/v2"  # this very build
    async with running(ts_client, world, pipeline(staging=None)) as h:
        await wait_until(h, lambda s: s.stage == Stage.APPROVAL)
        await h.signal("approve", ApprovalInput(by="alice"))
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED
    assert "v2 is already the stable version" in result.reason
    assert not [w for w in world.writes if w[0] == "deploy"]  # production untouched
