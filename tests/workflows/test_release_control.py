"""Release control on the time-skipping server: windows, freezes, incidents, locks, overrides.

Each test has a time-skipping server of its own (`ts_env`) and first skips to the
next instant it needs (e.g. the next Friday 15:00 in New York) and starts from there.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from rollway.models import ApprovalInput, Outcome
from rollway.release_control import (
    DeclareIncidentInput,
    OverrideInput,
    ResolveIncidentInput,
)
from tests.histories.record import save_history
from tests.support.promotions import query_state, wait_until
from tests.support.release_control import (
    FRI,
    MON,
    NY,
    SAT,
    SEED_000,
    SEED_004,
    SUN,
    THU,
    TUE,
    WED,
    policy_pipeline,
    release_run,
    skip_to,
)


async def test_friday_afternoon_waits_for_a_vp(ts_env: WorkflowEnvironment) -> None:
    await skip_to(ts_env, FRI, 15, 0)
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_004))
        state = await wait_until(h, lambda s: s.stage.value == "approval")
        assert state.gate is not None and state.gate.open
        assert any("vp-engineering" in n for n in state.gate.approvals_needed)
        await h.signal("approve", ApprovalInput(by="rm-ann"))  # not a VP: refused, recorded
        await h.signal("approve", ApprovalInput(by="vp-carol", comment="ok for Friday"))
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert result.state is not None
    assert [a.by for a in result.state.approvals] == ["vp-carol"]
    refused = [a for a in result.state.audit if not a.accepted]
    assert refused and refused[0].by == "rm-ann" and "vp-engineering" in refused[0].reason


async def test_thursday_after_hours_waits_until_monday_nine(ts_env: WorkflowEnvironment) -> None:
    start = await skip_to(ts_env, THU, 16, 30)
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_000))
        await wait_until(h, lambda s: s.stage.value == "approval")
        await h.signal("approve", ApprovalInput(by="rm-ann"))
        await h.signal("approve", ApprovalInput(by="rm-bob"))
        state = await wait_until(h, lambda s: s.stage.value == "gate")
        await h.signal("approve", ApprovalInput(by="rm-cat"))  # a third approval is a no-op
        monday_nine = (start + timedelta(days=4)).replace(hour=9, minute=0, tzinfo=NY)
        assert state.gate is not None and state.gate.wait_until == monday_nine
        assert "outside deploy window" in state.gate.reasons[0]
        result = await h.result()
        save_history(await h.fetch_history(), "release-control-gate-waits-promoted")
    assert result.outcome == Outcome.PROMOTED
    assert result.state is not None
    assert [a.by for a in result.state.approvals] == ["rm-ann", "rm-bob"]
    third = [e for e in result.state.audit if e.by == "rm-cat"]
    assert third and not third[0].accepted and "already" in third[0].reason
    canary_at = next(e.at for e in result.state.timeline if e.message.startswith("canary at"))
    assert canary_at >= monday_nine


async def test_dst_window_opens_at_nine_local(ts_env: WorkflowEnvironment) -> None:
    now = (await ts_env.get_current_time()).astimezone(NY)
    march = datetime(now.year + (now.month >= 3), 3, 1, tzinfo=NY)
    dst_sunday = march + timedelta(days=(6 - march.weekday()) % 7 + 7)  # second Sunday
    await skip_to(ts_env, THU, 16, 30, after=dst_sunday - timedelta(days=6))
    async with release_run(ts_env) as run:
        spec = policy_pipeline(SEED_000 | {"approvals": {"required": 0}})
        h = await run.start(spec)
        state = await wait_until(h, lambda s: s.stage.value == "gate")
        assert state.gate is not None and state.gate.wait_until is not None
        opens = state.gate.wait_until.astimezone(NY)
        assert (opens.hour, opens.minute, opens.weekday()) == (9, 0, MON)
        assert opens.utcoffset() == timedelta(hours=-4), "after the change: EDT"
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED


async def test_last_week_of_a_quarter_is_frozen(ts_env: WorkflowEnvironment) -> None:
    now = (await ts_env.get_current_time()).astimezone(NY)
    ends = [
        datetime(y, m, d, tzinfo=NY)
        for y in (now.year, now.year + 1)
        for m, d in ((3, 31), (6, 30), (9, 30), (12, 31))
    ]
    quarter_end = next(e for e in ends if e - timedelta(days=6) > now + timedelta(days=1))
    week = quarter_end - timedelta(days=6)
    day = next(
        week + timedelta(days=i) for i in range(7) if (week + timedelta(days=i)).weekday() <= THU
    )
    await skip_to(ts_env, day.weekday(), 10, 0, after=day - timedelta(days=1))
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_000 | {"approvals": {"required": 0}}))
        state = await wait_until(h, lambda s: s.stage.value == "gate")
        assert state.gate is not None and any("last week of Q" in r for r in state.gate.reasons)
        assert state.gate.wait_until is not None and state.gate.wait_until > quarter_end
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED


async def test_sev2_mid_canary_halts_and_resolving_resumes(ts_env: WorkflowEnvironment) -> None:
    await skip_to(ts_env, MON, 10, 0)
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_004))
        await wait_until(
            h,
            lambda s: s.stage.value == "canary" and s.canary is not None and s.canary.weight == 25,
        )
        await run.control_update(
            "declare_incident",
            DeclareIncidentInput(id="INC-42", severity="sev2", commander="ic-ivy", by="pager"),
        )
        await ts_env.sleep(timedelta(minutes=30))  # far past the first step's soak
        state = await query_state(h)
        assert state.halted_by is not None and "INC-42" in state.halted_by
        assert state.canary is not None and state.canary.weight == 25
        assert "weight:production:50" not in run.world.calls
        assert len(state.canary.analyses) >= 20, "analysis keeps running while halted"
        await run.control_update("resolve_incident", ResolveIncidentInput(id="INC-42", by="ic-ivy"))
        result = await h.result()
        save_history(await h.fetch_history(), "release-control-incident-halt-resume")
        control = run.client.get_workflow_handle(run.control)
        save_history(await control.fetch_history(), "release-control-workflow")
    assert result.outcome == Outcome.PROMOTED
    assert result.state is not None
    actions = [e.action for e in result.state.audit]
    assert "halt canary at 25%" in actions and "resume canary" in actions


async def test_new_promotions_wait_while_a_sev1_is_active(ts_env: WorkflowEnvironment) -> None:
    await skip_to(ts_env, TUE, 10, 0)
    async with release_run(ts_env) as run:
        await run.control_update(
            "declare_incident",
            DeclareIncidentInput(id="INC-7", severity="SEV-1", commander="ic-ivy", by="pager"),
        )
        h = await run.start(policy_pipeline(SEED_004))
        state = await wait_until(h, lambda s: s.stage.value == "gate")
        assert state.gate is not None and any("SEV-1" in r for r in state.gate.reasons)
        assert "deploy:production" not in run.world.calls
        await run.control_update("resolve_incident", ResolveIncidentInput(id="INC-7", by="pager"))
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED


async def test_incident_commander_forces_a_rollback(ts_env: WorkflowEnvironment) -> None:
    await skip_to(ts_env, MON, 11, 0)
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_004))
        await wait_until(h, lambda s: s.stage.value == "canary")
        await run.control_update(
            "declare_incident",
            DeclareIncidentInput(id="INC-9", severity="SEV-1", commander="ic-ivy", by="pager"),
        )
        await wait_until(h, lambda s: "INC-9" in (s.halted_by or ""))  # the promotion knows
        await h.execute_update(
            "override",
            OverrideInput(by="ic-ivy", kind="rollback", reason="suspected cause of INC-9"),
        )
        result = await h.result()
        save_history(await h.fetch_history(), "release-control-ic-override-rollback")
    assert result.outcome == Outcome.ROLLED_BACK
    assert "ic-ivy" in result.reason and "INC-9" in result.reason
    assert run.world.calls[-1] == "rollback:production"


async def test_override_by_someone_else_is_refused_with_a_reason(
    ts_env: WorkflowEnvironment,
) -> None:
    await skip_to(ts_env, WED, 10, 0)
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_004))
        await wait_until(h, lambda s: s.stage.value == "canary")
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(
                "override",
                OverrideInput(by="mallory", kind="promote_now", reason="I am in a hurry"),
            )
        assert "may not override" in str(err.value.cause)
        await h.signal("override", OverrideInput(by="mallory", kind="promote_now", reason="again"))
        # A release manager may skip the rest of the soak.
        await h.execute_update(
            "override",
            OverrideInput(by="relmgr-rita", kind="promote_now", reason="verified by hand"),
        )
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED
    assert result.state is not None
    refused = [e for e in result.state.audit if e.by == "mallory"]
    assert refused and not refused[0].accepted and "release-manager" in refused[0].reason
    assert "weight:production:50" not in run.world.calls, "promote_now skipped the ramp"


async def test_self_approval_is_refused(ts_env: WorkflowEnvironment) -> None:
    await skip_to(ts_env, TUE, 11, 0)
    async with release_run(ts_env) as run:
        spec = policy_pipeline(
            SEED_004 | {"approvals": {"required": 1, "groups": ["release-managers"]}}
        )
        h = await run.start(spec, author="rm-ann")
        await wait_until(h, lambda s: s.stage.value == "approval")
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update("approve", ApprovalInput(by="rm-ann"))
        assert "author" in str(err.value.cause)
        await h.execute_update("approve", ApprovalInput(by="rm-bob"))
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED


async def test_two_commits_racing_yield_one_in_production(ts_env: WorkflowEnvironment) -> None:
    await skip_to(ts_env, WED, 11, 0)
    async with release_run(ts_env) as run:
        spec = policy_pipeline(
            SEED_004 | {"approvals": {"required": 1, "groups": ["release-managers"]}}
        )
        first, second = await asyncio.gather(
            run.start(spec, commit="aaaaaaa1", version="v2"),
            run.start(spec, commit="bbbbbbb2", version="v3"),
        )
        done = await wait_until(first, lambda s: True)
        for _ in range(50):
            states = [await query_state(first), await query_state(second)]
            if any(s.outcome == Outcome.SUPERSEDED for s in states):
                break
            await asyncio.sleep(0.2)
        loser = next(s for s in states if s.outcome == Outcome.SUPERSEDED)
        winner_handle = second if loser.commit == "aaaaaaa1" else first
        await winner_handle.signal("approve", ApprovalInput(by="rm-cat"))
        result = await winner_handle.result()
        loser_handle = first if winner_handle is second else second
        await loser_handle.result()
        save_history(await loser_handle.fetch_history(), "release-control-superseded")
        save_history(await winner_handle.fetch_history(), "release-control-race-winner")
        del done
    assert result.outcome == Outcome.PROMOTED
    assert loser.superseded_by == winner_handle.id
    assert result.state is not None and loser.commit not in result.state.commit
    assert run.world.calls.count("deploy:production") == 1


async def test_hotfix_bypasses_the_weekend_with_a_team_lead(ts_env: WorkflowEnvironment) -> None:
    await skip_to(ts_env, SAT, 11, 0)
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_004), hotfix=True)
        state = await wait_until(h, lambda s: s.stage.value == "approval")
        assert state.gate is not None and state.gate.path == "hotfix"
        await h.signal("approve", ApprovalInput(by="tl-tina", comment="hotfix for INC-3"))
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED
    assert result.state is not None and result.state.finished_at is not None
    assert result.state.finished_at.astimezone(NY).weekday() in (SAT, SUN)


async def test_emergency_deploy_at_three_on_sunday(ts_env: WorkflowEnvironment) -> None:
    await skip_to(ts_env, SUN, 3, 0)
    async with release_run(ts_env) as run:
        await run.control_update(
            "declare_incident",
            DeclareIncidentInput(id="INC-1", severity="SEV-1", commander="ic-ivy", by="pager"),
        )
        h = await run.start(policy_pipeline(SEED_000))
        await wait_until(h, lambda s: s.stage.value == "approval")
        await h.signal("approve", ApprovalInput(by="ic-ivy", comment="this is the fix"))
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert result.state is not None and result.state.gate is not None
    assert result.state.gate.path == "emergency"
    assert result.state.finished_at is not None
    assert result.state.finished_at.astimezone(NY).weekday() == SUN


async def test_a_terminated_lock_holder_does_not_block_the_service(
    ts_env: WorkflowEnvironment,
) -> None:
    await skip_to(ts_env, MON, 14, 0)
    async with release_run(ts_env) as run:
        spec = policy_pipeline(SEED_004)
        first = await run.start(spec, commit="ccccccc1")
        # Holds the lock, past approval. Terminated once idle (canary traffic set, on its
        # soak timer): terminating a run with a task in flight leaks a time-skipping lock
        # in the test server (temporalio/sdk-java#1138) and time would stop skipping.
        await wait_until(first, lambda s: s.canary is not None and s.canary.weight > 0)
        await first.terminate("operator gave up")
        second = await run.start(spec, commit="ddddddd2", version="v3")
        result = await second.result()
    assert result.outcome == Outcome.PROMOTED, result.reason
