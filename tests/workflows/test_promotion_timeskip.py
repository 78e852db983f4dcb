"""PromotionWorkflow on the time-skipping server, with same-named test activities."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from rollway.models import (
    ActionInput,
    ApprovalInput,
    Outcome,
)
from tests.histories.record import save_history
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline, query_state, running, wait_stage, wait_until


async def test_happy_path_runs_every_stage_in_order(ts_client: Client) -> None:
    world = FakeWorld()
    started = time.monotonic()
    async with running(ts_client, world, pipeline()) as h:
        await wait_stage(h, "approval")
        await h.signal("approve", ApprovalInput(by="alice", comment="lgtm"))
        result = await h.result()
        state = result.state
        assert state is not None
        save_history(await h.fetch_history(), "timeskip-happy-path")
    assert result.outcome == Outcome.PROMOTED
    assert world.stable["production"] == "v2" and world.stable["staging"] == "v2"
    order = [c for c in world.calls if not c.startswith("analyze")]
    assert order == [
        "build",
        "scan_gate",
        "deploy:staging",
        "wait_ready:staging",
        "smoke",
        "weight:staging:100",
        "promote:staging",
        "deploy:production",
        "wait_ready:production",
        "weight:production:5",
        "weight:production:25",
        "weight:production:50",
        "weight:production:100",
        "promote:production",
    ]
    # 15 analyses per 15-minute step at a 1-minute interval: 45 minutes of soak in total.
    assert len([c for c in world.calls if c.startswith("analyze")]) == 45
    # Skipped, not slept: a margin for a loaded machine, still 45x under real time.
    assert time.monotonic() - started < 60, "45 minutes of soak must be skipped"
    assert [a.by for a in state.approvals] == ["alice"]
    assert state.canary is not None
    assert state.canary.weight == 100 and state.stable_version == "v2"


async def test_thirty_minute_soak_costs_milliseconds(ts_client: Client) -> None:
    world = FakeWorld()
    spec = pipeline(approval=None, staging=None, scan=None)
    spec["canary"]["steps"] = [{"weight": 5, "soak": "30m"}]
    started = time.monotonic()
    async with running(ts_client, world, spec) as h:
        result = await h.result()
    elapsed = time.monotonic() - started
    assert result.outcome == Outcome.PROMOTED
    # Not a speed target: a soak that really waited would take 30 minutes, not 4.
    assert elapsed < 240, f"a 30-minute soak took {elapsed:.1f}s of wall time"


async def test_rejection_ends_without_touching_production(ts_client: Client) -> None:
    world = FakeWorld()
    async with running(ts_client, world, pipeline()) as h:
        await wait_stage(h, "approval")
        await h.signal("reject", ApprovalInput(by="bob", comment="not today"))
        result = await h.result()
        save_history(await h.fetch_history(), "timeskip-rejected")
    assert result.outcome == Outcome.REJECTED
    assert "bob" in result.reason and "not today" in result.reason
    assert not any(c.endswith(":production") or ":production:" in c for c in world.calls)


async def test_approval_before_the_gate_is_refused_and_recorded(ts_client: Client) -> None:
    world = FakeWorld(fail={"build": "compiler exploded"})
    async with running(ts_client, world, pipeline()) as h:
        await h.signal("approve", ApprovalInput(by="early"))
        result = await h.result()
        state = result.state
        assert state is not None
    assert result.outcome == Outcome.FAILED
    assert state.approvals == []
    assert any("refused" in e.message and e.by == "early" for e in state.timeline)


async def test_approval_timeout_rejects(ts_client: Client) -> None:
    world = FakeWorld()
    async with running(ts_client, world, pipeline(approval={"required": 1, "timeout": "4h"})) as h:
        result = await h.result()
    assert result.outcome == Outcome.REJECTED and "no approval within" in result.reason


async def test_two_failed_analyses_roll_back_automatically(ts_client: Client) -> None:
    world = FakeWorld(verdicts=["pass", "fail", "fail"])
    async with running(ts_client, world, pipeline(approval=None)) as h:
        result = await h.result()
        state = result.state
        assert state is not None
        save_history(await h.fetch_history(), "timeskip-auto-rollback")
    assert result.outcome == Outcome.ROLLED_BACK
    assert "2 time(s) in a row" in result.reason
    assert world.calls[-1] == "rollback:production"
    assert world.stable["production"] == "v1" and "production" not in world.canary
    assert state.rollback_metrics[0].name == "success-rate"
    assert state.rollback_metrics[0].value == 0.9


async def test_a_single_failure_below_the_limit_does_not_roll_back(ts_client: Client) -> None:
    world = FakeWorld(verdicts=["fail", "pass", "fail", "pass"])
    async with running(ts_client, world, pipeline(approval=None)) as h:
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED


async def test_abort_signal_mid_canary_rolls_back(ts_client: Client) -> None:
    world = FakeWorld()
    async with running(ts_client, world, pipeline(approval=None)) as h:
        # Once the canary has traffic (soaking), not while its deploy is in flight: the
        # time-skipping test server answers the cancel of a running activity with
        # ACTIVITY_UNKNOWN and the workflow task never completes (the real server does).
        await wait_until(h, lambda s: s.canary is not None and s.canary.weight > 0)
        await h.signal("abort", ActionInput(by="carol", reason="pager went off"))
        result = await h.result()
        save_history(await h.fetch_history(), "timeskip-manual-rollback")
    assert result.outcome == Outcome.ROLLED_BACK
    assert result.reason == "manual rollback by carol: pager went off"
    assert "rollback:production" in world.calls and "promote:production" not in world.calls


async def test_abort_before_canary_aborts(ts_client: Client) -> None:
    world = FakeWorld()
    async with running(ts_client, world, pipeline()) as h:
        await wait_stage(h, "approval")
        await h.signal("abort", ActionInput(by="dave"))
        result = await h.result()
    assert result.outcome == Outcome.ABORTED
    assert not any("production" in c for c in world.calls)


async def test_build_failure_is_reported_with_its_message(ts_client: Client) -> None:
    world = FakeWorld(fail={"build": "exit 2; log tail: error[E0425]"})
    async with running(ts_client, world, pipeline()) as h:
        result = await h.result()
    assert result.outcome == Outcome.FAILED
    assert "build failed" in result.reason and "E0425" in result.reason
    assert world.calls == ["build"]


async def test_blocked_scan_stops_before_staging(ts_client: Client) -> None:
    world = FakeWorld(scan_passed=False)
    async with running(ts_client, world, pipeline()) as h:
        result = await h.result()
    assert result.outcome == Outcome.FAILED and "B602" in result.reason
    assert world.calls == ["build", "scan_gate"]


async def test_smoke_failure_rolls_staging_back(ts_client: Client) -> None:
    world = FakeWorld(fail={"smoke": "GET /healthz: status 503"})
    async with running(ts_client, world, pipeline()) as h:
        result = await h.result()
        save_history(await h.fetch_history(), "timeskip-smoke-failed")
    assert result.outcome == Outcome.FAILED and "503" in result.reason
    assert world.calls[-1] == "rollback:staging"
    assert world.stable["staging"] == "v1"


async def test_readiness_failure_in_production_rolls_back(ts_client: Client) -> None:
    world = FakeWorld(fail={"deploy:production": "port in use"})
    async with running(ts_client, world, pipeline(approval=None, staging=None)) as h:
        result = await h.result()
    assert result.outcome == Outcome.FAILED and "port in use" in result.reason
    assert world.calls[-1] == "rollback:production"


async def test_inconclusive_pauses_and_never_promotes(ts_env: WorkflowEnvironment) -> None:
    world = FakeWorld(verdicts=["inconclusive"] * 500)
    spec = pipeline(approval=None, staging=None)
    async with running(ts_env.client, world, spec) as h:
        await wait_stage(h, "canary")
        await ts_env.sleep(timedelta(hours=2))  # far past every soak: only a pass may advance
        state = await query_state(h)
        assert state.canary is not None
        assert state.canary.paused and state.canary.weight == 5 and state.canary.step == 0
        assert "promote:production" not in world.calls
        assert any("inconclusive 3 times" in e.message for e in state.timeline)
        await h.signal("abort", ActionInput(by="eve", reason="no data"))
        result = await h.result()
    assert result.outcome == Outcome.ROLLED_BACK


async def test_first_version_goes_straight_to_full_traffic(ts_client: Client) -> None:
    world = FakeWorld(stable={})
    async with running(ts_client, world, pipeline(approval=None, staging=None)) as h:
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED
    assert world.calls[-2:] == ["weight:production:100", "promote:production"]
    assert not any(c.startswith("analyze") for c in world.calls)


def two_cluster_pipeline() -> dict[str, Any]:
    spec = pipeline(approval=None, staging=None, scan=None)
    spec["run"] = None
    spec["environments"] = {
        "staging": {"platform": {"kind": "kubernetes", "namespace": "shop"}},
        "production": {
            "platform": {
                "kind": "kubernetes",
                "namespace": "shop",
                "clusters": [
                    {"name": "us-east-1", "context": "us-east-1"},
                    {"name": "eu-west-1", "context": "eu-west-1"},
                ],
            }
        },
    }
    return spec


async def test_waves_roll_cluster_by_cluster(ts_client: Client) -> None:
    world = FakeWorld()
    async with running(ts_client, world, two_cluster_pipeline()) as h:
        result = await h.result()
        save_history(await h.fetch_history(), "timeskip-waves-promoted")
    assert result.outcome == Outcome.PROMOTED, result.reason
    deploys = [c for c in world.calls if c.startswith("deploy:")]
    assert deploys == ["deploy:production@us-east-1", "deploy:production@eu-west-1"]
    assert world.stable["production@us-east-1"] == "v2"
    assert world.stable["production@eu-west-1"] == "v2"
    assert result.state is not None
    assert [(w.cluster, w.status, w.version) for w in result.state.waves] == [
        ("us-east-1", "promoted", "v2"),
        ("eu-west-1", "promoted", "v2"),
    ]


async def test_a_failed_wave_rolls_back_it_and_every_earlier_one(ts_client: Client) -> None:
    # First wave: 45 passing analyses; second wave fails twice in a row.
    world = FakeWorld(verdicts=["pass"] * 45 + ["fail", "fail"])
    async with running(ts_client, world, two_cluster_pipeline()) as h:
        result = await h.result()
        save_history(await h.fetch_history(), "timeskip-wave-failed-undone")
    assert result.outcome == Outcome.ROLLED_BACK
    assert "earlier waves undone (us-east-1 -> v1)" in result.reason
    assert world.calls[-2:] == ["rollback:production@eu-west-1", "undo:production@us-east-1:v1"]
    assert world.stable["production@us-east-1"] == "v1"
    assert "production@eu-west-1" not in world.canary
    assert result.state is not None
    assert [(w.cluster, w.status) for w in result.state.waves] == [
        ("us-east-1", "undone"),
        ("eu-west-1", "rolled_back"),
    ]
