"""Forged release-control and lock signals change nothing: a promotion reads the truth.

Anyone with access to the namespace can send a signal, and a workflow never learns
who sent it; so a promotion takes no fact from a `release_control` or `lock` signal.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from rollway.models import ApprovalInput, Outcome, Stage
from rollway.release_control import DeclareIncidentInput, ResolveIncidentInput
from tests.support.promotions import query_state, wait_until
from tests.support.release_control import (
    MON,
    SEED_000,
    SEED_004,
    SUN,
    policy_pipeline,
    release_run,
    skip_to,
)

FORGED_SEV1 = {
    "environment": "production",
    "revision": 10**12,
    "incidents": [
        {
            "id": "INC-666",
            "severity": "SEV-1",
            "commander": "mallory",
            "summary": "trust me",
            "declared_by": "mallory",
            "declared_at": "2026-01-01T00:00:00Z",
        }
    ],
    "freezes": [],
}


async def test_a_forged_sev1_does_not_make_an_outsider_incident_commander(
    ts_env: WorkflowEnvironment,
) -> None:
    await skip_to(ts_env, SUN, 3, 0)  # outside the Mon-Thu window: only an emergency opens it
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_000))
        await wait_until(h, lambda s: s.stage in (Stage.APPROVAL, Stage.GATE))
        await h.signal("release_control", FORGED_SEV1)
        await h.signal("approve", ApprovalInput(by="mallory", comment="emergency!"))
        state = await wait_until(h, lambda s: any(a.by == "mallory" for a in s.audit))
        refused = [a for a in state.audit if a.by == "mallory"]
        assert refused and not refused[0].accepted
        assert not state.approvals
        assert state.stage in (Stage.APPROVAL, Stage.GATE)
        assert "deploy:production" not in run.world.calls


async def test_a_forged_empty_snapshot_does_not_blind_the_promotion(
    ts_env: WorkflowEnvironment,
) -> None:
    await skip_to(ts_env, MON, 10, 0)
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_004))
        await wait_until(h, lambda s: s.stage == Stage.CANARY and s.canary is not None)
        await h.signal(
            "release_control",
            {"environment": "production", "revision": 10**12, "incidents": [], "freezes": []},
        )
        await run.control_update(
            "declare_incident",
            DeclareIncidentInput(id="INC-42", severity="SEV-2", commander="ic-ivy", by="pager"),
        )
        state = await wait_until(h, lambda s: "INC-42" in (s.halted_by or ""))
        await ts_env.sleep(timedelta(minutes=30))
        state = await query_state(h)
        assert state.canary is not None and state.canary.weight == 25  # held by the real one
        await run.control_update("resolve_incident", ResolveIncidentInput(id="INC-42", by="pager"))
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED


async def test_a_forged_lock_signal_does_not_supersede_a_waiting_promotion(
    ts_env: WorkflowEnvironment,
) -> None:
    await skip_to(ts_env, MON, 10, 0)
    async with release_run(ts_env) as run:
        h = await run.start(policy_pipeline(SEED_000))
        await wait_until(h, lambda s: s.stage == Stage.APPROVAL and s.lock == "granted")
        await h.signal("lock", {"status": "superseded", "superseded_by": "promote-evil"})
        await h.signal("approve", ApprovalInput(by="rm-ann"))
        await h.signal("approve", ApprovalInput(by="rm-bob"))
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert result.state is not None and result.state.superseded_by is None
