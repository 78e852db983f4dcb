"""RollbackWorkflow on the real local stack: real HAProxy, Prometheus, processes and traffic.

On the stack, the module promotes v1 (a first release: straight to 100 %, no canary),
then v2 and v4 through their canaries under steady load, and rolls back between them.
At the end, the failure paths on a time-skipping server over FakeWorld's platform.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from rollway.models import ApprovalInput, Outcome
from rollway.rollback import (
    ReleaseHistory,
    RollbackInput,
    RollbackResult,
    VerifiedRelease,
    pick_target,
)
from rollway.spec import PipelineSpec
from rollway.spec_loader import parse_pipeline
from tests.histories.record import save_history
from tests.support.fake_world import FakeWorld
from tests.support.local_stack import (
    PRODUCTION,
    LocalStack,
    approve_when_asked,
    fast_pipeline,
    finish,
    load,
    local_stack,
    platform,
    promote,
    stack_home,
)
from tests.support.promotions import pipeline, wait_until
from tests.support.temporal_servers import bounded
from workflows.promotion import PromotionWorkflow
from workflows.release_control import ReleaseControlWorkflow
from workflows.rollback import RollbackWorkflow

__all__ = ["local_stack", "stack_home"]  # the session's real stack, as fixtures

pytestmark = pytest.mark.timeout(240)


async def _promoted(stack: LocalStack, version: str, spec: PipelineSpec) -> None:
    h = await promote(stack, version, spec)
    await approve_when_asked(stack.client, h)
    result = await finish(h)
    assert result.outcome == Outcome.PROMOTED, result.reason


@pytest.fixture(scope="module")
async def released(local_stack: LocalStack) -> AsyncIterator[PipelineSpec]:
    """v1 (first release, no canary), then v2 and v4 through passing canaries; load runs on."""
    spec = fast_pipeline()
    await _promoted(local_stack, "v1", spec)
    url = platform(local_stack, spec).status(PRODUCTION).frontend_url
    assert url is not None
    async with load(url, local_stack.home / "load-rollback.json"):
        await _promoted(local_stack, "v2", spec)
        await _promoted(local_stack, "v4", spec)
        yield spec


async def _start(
    stack: LocalStack, spec: PipelineSpec, **fields: Any
) -> WorkflowHandle[Any, RollbackResult]:
    inp = RollbackInput(services=["demo"], pipeline=spec, **{"by": "pytest", **fields})
    return await stack.client.start_workflow(
        RollbackWorkflow.run,
        inp,
        id=f"rollback-demo-production-{uuid.uuid4().hex[:8]}",
        task_queue=stack.task_queue,
    )


async def _rollback(stack: LocalStack, spec: PipelineSpec, **fields: Any) -> RollbackResult:
    handle = await _start(stack, spec, **fields)
    return await asyncio.wait_for(handle.result(), 120)


def _serves(url: str) -> set[str]:
    """The versions answering through HAProxy in 20 requests."""
    return {httpx.get(url, timeout=5).text.strip() for _ in range(20)}


def _frontend(stack: LocalStack, spec: PipelineSpec) -> str:
    url = platform(stack, spec).status(PRODUCTION).frontend_url
    assert url is not None
    return url


async def test_rollback_to_previous_puts_traffic_on_the_older_verified_release(
    local_stack: LocalStack, released: PipelineSpec
) -> None:
    spec = released
    url = _frontend(local_stack, spec)
    assert _serves(url) == {"hello from v4"}
    stats_file = local_stack.home / "load-rollback-previous.json"
    async with load(url, stats_file, rps=30):
        handle = await _start(local_stack, spec, previous=True, reason="pager")
        result = await asyncio.wait_for(handle.result(), 120)
        await asyncio.sleep(1.0)
    save_history(await handle.fetch_history(), "rollback-to-previous")

    assert result.outcome == "rolled_back", result.reason
    state = result.state
    assert state.target is not None and state.target.version == "v2"
    assert state.target.canary_passed and state.from_version == "v4"
    assert _serves(url) == {"hello from v2"}, "HAProxy must send every request to v2"
    plat = platform(local_stack, spec)
    assert plat.haproxy.weights("demo.production") == {"v2": 100}, "v4 must be retired"
    status = plat.status(PRODUCTION)
    assert status.stable is not None and status.stable.version == "v2"
    assert state.traffic == {"demo/production": {"v2": 100}}
    # Verified after the switch by the pipeline's smoke checks and its metrics.
    assert state.verification == "passed", [e.message for e in state.timeline]
    assert any("smoke checks through the front door passed" in e.message for e in state.timeline)
    # The lock was taken and given back; no request failed while traffic moved.
    assert state.lock == "granted"
    stats = json.loads(stats_file.read_text())
    assert stats.get("connection_errors", 0) == 0, stats
    assert stats.get("status_503", 0) == 0 and stats.get("status_500", 0) == 0, stats
    assert stats["version_v2"] > 0 and stats["version_v4"] > 0
    assert state.started_at and state.traffic_moved_at
    moved_s = (state.traffic_moved_at - state.started_at).total_seconds()
    print(f"\nrollback to previous: workflow start -> 100% on v2 in {moved_s:.1f}s")
    # `rollway status <id>` reads it like a promotion.
    shown = await local_stack.client.get_workflow_handle(handle.id).query(
        PromotionWorkflow.query_state
    )
    assert shown.outcome == Outcome.ROLLED_BACK and shown.version == "v2"

    # A second --previous steps further back (v1 never passed a canary), never forward.
    again = await _rollback(local_stack, spec, previous=True)
    assert again.outcome == "rejected"
    assert "v1, did not" in again.reason and "--force" in again.reason, again.reason
    assert _serves(url) == {"hello from v2"}


async def test_a_target_that_never_passed_a_canary_is_refused(
    local_stack: LocalStack, released: PipelineSpec
) -> None:
    url = _frontend(local_stack, released)
    before = _serves(url)
    result = await _rollback(local_stack, released, to_version="v1")
    assert result.outcome == "rejected"
    assert "v1 never passed a canary" in result.reason, result.reason
    assert "a member of 'release-manager' may force it" in result.reason
    unknown = await _rollback(local_stack, released, to_version="v9")
    assert unknown.outcome == "rejected"
    assert "v9 was never promoted here" in unknown.reason and "v4" in unknown.reason
    assert _serves(url) == before, "a refused rollback touches nothing"


async def test_force_is_for_release_managers_only_and_audited(
    local_stack: LocalStack,
    released: PipelineSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    groups = tmp_path / "groups.yaml"
    groups.write_text("groups:\n  release-manager: [rita]\n")
    monkeypatch.setenv("ROLLWAY_GROUPS_FILE", str(groups))
    url = _frontend(local_stack, released)
    before = _serves(url)

    refused = await _rollback(local_stack, released, to_version="v1", force=True, by="mallory")
    assert refused.outcome == "rejected"
    assert "mallory may not rollback" in refused.reason and "'release-manager'" in refused.reason
    people = [(a.by, a.accepted) for a in refused.state.audit if a.by != "rollway"]
    assert people == [("mallory", False)]  # "rollway" loaded the pipeline
    assert _serves(url) == before

    forced = await _rollback(
        local_stack, released, to_version="v1", force=True, by="rita", reason="v2 leaks"
    )
    assert forced.outcome == "rolled_back", forced.reason
    assert forced.state.forced
    # Her request (a release manager may roll back), then her force.
    rita = [a for a in forced.state.audit if a.by != "rollway"]
    assert [(a.by, a.accepted) for a in rita] == [("rita", True), ("rita", True)]
    assert "never passed a canary" in rita[1].reason
    assert _serves(url) == {"hello from v1"}
    # Back to a verified release for the next test.
    back = await _rollback(local_stack, released, to_version="v4", by="rita")
    assert back.outcome == "rolled_back", back.reason
    assert _serves(url) == {"hello from v4"}


async def test_a_running_promotion_holding_the_lock_refuses_or_makes_it_wait(
    local_stack: LocalStack, released: PipelineSpec
) -> None:
    url = _frontend(local_stack, released)
    holder = await promote(local_stack, "v5", released)
    await wait_until(holder, lambda s: s.stage.value == "approval" and s.lock == "granted")

    refused = await _rollback(local_stack, released, to_version="v2")
    assert refused.outcome == "rejected"
    assert f"held by {holder.id}" in refused.reason, refused.reason
    assert f"rollway rollback {holder.id}" in refused.reason
    assert _serves(url) == {"hello from v4"}

    waiting = await _start(
        local_stack, released, to_version="v2", lock_timeout=timedelta(seconds=90)
    )
    state = await wait_until(waiting, lambda s: s.lock.startswith("queued behind"))
    assert state.lock == f"queued behind {holder.id}"
    await holder.signal(
        PromotionWorkflow.reject_signal, ApprovalInput(by="pytest", comment="rollback first")
    )
    result = await asyncio.wait_for(waiting.result(), 120)
    assert result.outcome == "rolled_back", result.reason
    assert _serves(url) == {"hello from v2"}
    assert (await finish(holder)).outcome == Outcome.REJECTED


# --- the same workflow on a time-skipping server, over FakeWorld's in-memory platform ----


def _release(version: str, passed: bool = True) -> VerifiedRelease:
    return VerifiedRelease(
        version=version,
        commit=f"{version}c0ffee",
        artifact=f"/artifacts/{version}",
        environment="production",
        workflow_id=f"promote-demo-{version}c0ffee",
        canary_passed=passed,
        how="passed its canary" if passed else "went to 100% with no canary analysis",
    )


async def _fake_rollback(
    client: Client, world: FakeWorld, **fields: Any
) -> tuple[RollbackResult, WorkflowHandle[Any, RollbackResult]]:
    queue = f"tq-{uuid.uuid4()}"
    control = f"release-control-{queue}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RollbackWorkflow, ReleaseControlWorkflow],
        activities=world.activities(),
    ):
        handle = await client.start_workflow(
            RollbackWorkflow.run,
            RollbackInput(
                services=["demo"],
                pipeline=parse_pipeline(pipeline()),
                by="ops",  # an owner of the test pipelines (FakeWorld's groups)
                release_control=control,
                **fields,
            ),
            id=f"rollback-demo-production-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        try:
            return await handle.result(), handle
        finally:
            await bounded(client.get_workflow_handle(control).terminate())


@pytest.mark.timeout(60)
async def test_a_target_failing_its_smoke_checks_never_gets_traffic(ts_client: Client) -> None:
    world = FakeWorld(stable={"production": "v3"}, fail={"smoke": "GET /: status 500"})
    world.releases = ReleaseHistory(releases=[_release("v3"), _release("v2")])
    result, _ = await _fake_rollback(ts_client, world, previous=True)
    assert result.outcome == "failed"
    assert "smoke checks of v2 failed" in result.reason and "GET /: status 500" in result.reason
    assert "traffic untouched on v3" in result.reason
    assert not any(c.startswith("weight:") for c in world.calls), world.calls
    assert world.calls.index("rollback:production") > world.calls.index("deploy:production")
    assert world.stable["production"] == "v3" and "production" not in world.canary
    assert result.state.traffic == {"demo/production": {"v3": 100}}


@pytest.mark.timeout(60)
async def test_failing_metrics_after_the_switch_fail_the_rollback_and_say_what_serves(
    ts_client: Client,
) -> None:
    world = FakeWorld(stable={"production": "v3"}, verdicts=["inconclusive", "fail"])
    world.releases = ReleaseHistory(releases=[_release("v3"), _release("v2")])
    result, _ = await _fake_rollback(ts_client, world, to_version="v2")
    assert result.outcome == "failed"
    assert result.reason.startswith("v2 serves 100% but its metrics fail"), result.reason
    assert result.state.verification == "failed"
    assert [m.name for m in result.state.rollback_metrics] == ["success-rate"]
    assert world.calls[-2:] == ["analyze:100:inconclusive", "analyze:100:fail"]
    assert world.stable["production"] == "v2"  # no automatic roll forward: a human decides


def test_previous_steps_back_past_the_current_release_never_forward() -> None:
    history = ReleaseHistory(
        releases=[_release("v5"), _release("v4", passed=False), _release("v3"), _release("v2")]
    )
    assert pick_target(history, "v5", None).release == _release("v3")
    assert pick_target(history, "v3", None).release == _release("v2")
    assert pick_target(history, "v2", None).refusal == (
        "nothing to roll back to: no release before v2 here"
    )
    forced = pick_target(history, "v5", "v4")
    assert forced.needs_force and forced.release == _release("v4", passed=False)
    assert pick_target(history, "v7", None).release == _release("v5")  # unknown current
