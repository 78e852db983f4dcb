"""Chaos on the real local stack: parts die mid-promotion, promotions race, calls fail.

Every case asserts, from the promotion's recorded Temporal history, that no platform
step (deploy, set_weight to one weight, promote, rollback) completed twice, and that
the load generator saw no errors beyond the ones the case itself causes. Each case
prints its figures (run with `-s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from rollway import stack
from rollway.models import ActionInput, ApprovalInput, Outcome, PromotionResult
from rollway.platform.local.haproxy import HAProxy
from rollway.spec import PipelineSpec
from tests.support import chaos as harness
from tests.support.chaos import PRODUCTION, ChaosStack, Load
from workflows.promotion import PromotionWorkflow

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

CASE_BUDGET = 150.0  # seconds; every case is bounded by asyncio, not by a signal


def _frontend(cs: ChaosStack, spec: PipelineSpec) -> str:
    url = harness.platform(cs.home, spec).status(PRODUCTION).frontend_url
    assert url is not None
    return url


def _served(cs: ChaosStack, spec: PipelineSpec) -> dict[str, int]:
    return harness.platform(cs.home, spec).haproxy.weights("demo.production")


async def test_worker_sigkill_mid_soak_a_new_worker_resumes(
    chaos_process: ChaosStack, artifacts: Path
) -> None:
    cs = chaos_process
    spec = harness.chaos_pipeline(artifacts, [(20, 8), (50, 4)])
    async with asyncio.timeout(CASE_BUDGET), Load(cs.home, _frontend(cs, spec), "w") as load:
        h = await harness.start_promotion(cs.client, spec, "v2")
        await harness.approve_when_asked(h)
        # Mid-soak, right after an analysis completed (no analysis in flight to time out).
        await harness.wait_state(
            h,
            "analysed once at 20%",
            lambda s: s.canary is not None and s.canary.weight == 20 and s.canary.analyses,
        )
        killed_at, killed_wall = time.monotonic(), time.time()
        cs.kill_worker()
        await asyncio.sleep(2.0)  # nothing runs the promotion now
        ready_s = await cs.start_worker()
        result = await harness.finish(h, 90)
        resumed_s = time.monotonic() - killed_at
    cs_calls = await harness.calls(h)
    completed = harness.assert_no_step_twice(cs_calls)
    harness.figures(
        "worker SIGKILL mid-soak",
        outcome=result.outcome.value,
        kill_to_end_s=round(resumed_s, 1),
        new_worker_ready_s=round(ready_s, 1),
        platform_writes=sum(completed.values()),
        retried_attempts=harness.attempts_beyond_first(cs_calls),
        errors_from_kill_s=_relative(load.error_times(), killed_wall),
        load_errors_at_s=harness.errors_near(load, cs_calls),
        load=load.final,
    )
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert _served(cs, spec) == {"v2": 100}
    assert load.errors() == 0, load.final
    assert completed["set_weight production weight=20"] == 1
    assert completed["set_weight production weight=50"] == 1
    assert completed["promote production"] == 1


def _relative(times: list[float], origin: float) -> list[float]:
    return [round(t - origin, 1) for t in times]


def _production(cs_calls: list[harness.Call], name: str) -> harness.Call:
    return next(c for c in cs_calls if c.key.startswith(f"{name} production"))


async def test_temporal_killed_and_restarted_mid_canary_the_promotion_continues(
    chaos: ChaosStack, artifacts: Path
) -> None:
    cs = chaos
    spec = harness.chaos_pipeline(artifacts, [(20, 8), (50, 4)])
    port = cs.part_port("temporal")
    async with asyncio.timeout(CASE_BUDGET), Load(cs.home, _frontend(cs, spec), "t") as load:
        h = await harness.start_promotion(cs.client, spec, "v2")
        await harness.approve_when_asked(h)
        await harness.wait_state(
            h,
            "analysed once at 20%",
            lambda s: s.canary is not None and s.canary.weight == 20 and s.canary.analyses,
        )
        harness.kill_group(cs.part_pid("temporal"))
        killed = time.monotonic()
        await asyncio.sleep(3.0)  # the server is gone: timers, polls and queries wait
        await asyncio.to_thread(stack.up, cs.home, worker=False)
        down_s = time.monotonic() - killed
        assert cs.part_port("temporal") == port, "restarted on another port"
        result = await harness.finish(h, 120)
        end_s = time.monotonic() - killed
    cs_calls = await harness.calls(h)
    completed = harness.assert_no_step_twice(cs_calls)
    harness.figures(
        "Temporal dev server SIGKILL mid-canary",
        outcome=result.outcome.value,
        server_down_s=round(down_s, 1),
        kill_to_end_s=round(end_s, 1),
        platform_writes=sum(completed.values()),
        retried_attempts=harness.attempts_beyond_first(cs_calls),
        load_errors_at_s=harness.errors_near(load, cs_calls),
        load=load.final,
    )
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert _served(cs, spec) == {"v2": 100}
    assert load.errors() == 0, load.final
    assert completed["promote production"] == 1


async def test_prometheus_killed_and_restarted_never_promotes_without_a_passing_analysis(
    chaos: ChaosStack, artifacts: Path
) -> None:
    cs = chaos
    spec = harness.chaos_pipeline(artifacts, [(20, 6), (50, 4)])
    port = cs.part_port("prometheus")
    async with asyncio.timeout(CASE_BUDGET), Load(cs.home, _frontend(cs, spec), "p") as load:
        h = await harness.start_promotion(cs.client, spec, "v2")
        await harness.approve_when_asked(h)
        await harness.wait_state(
            h,
            "analysed once at 20%",
            lambda s: s.canary is not None and s.canary.weight == 20 and s.canary.analyses,
        )
        harness.kill_group(cs.part_pid("prometheus"))
        killed = time.time()
        # Longer than the step's remaining soak: the soak ends while metrics are missing.
        await asyncio.sleep(8.0)
        held = await harness.state_of(h)
        await asyncio.to_thread(stack.up, cs.home, worker=False)
        restarted = time.time()
        assert cs.part_port("prometheus") == port, "restarted on another port"
        result = await harness.finish(h, 120)
    cs_calls = await harness.calls(h)
    completed = harness.assert_no_step_twice(cs_calls)
    # An analysis that raised (after its retries) counts as not passing, like in the workflow.
    analyses = [c for c in cs_calls if c.name == "analyze" and c.outcome != "open"]
    during = [c for c in analyses if killed <= c.scheduled_at <= restarted]
    first_pass_after = min(
        (c.ended_at or 0 for c in analyses if c.scheduled_at > restarted and _passed(c)),
        default=None,
    )
    harness.figures(
        "Prometheus SIGKILL mid-canary",
        outcome=result.outcome.value,
        prometheus_down_s=round(restarted - killed, 1),
        analyses_while_down=[c.result["status"] if c.result else c.outcome for c in during],
        analysis_said=next((c.result["message"][:120] for c in during if c.result), None),
        first_pass_after_restart_s=round((first_pass_after or restarted) - restarted, 1),
        weight_while_down=held.canary.weight if held.canary else None,
        load_errors_at_s=harness.errors_near(load, cs_calls),
        load=load.final,
    )
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert during, "no analysis ran while Prometheus was down"
    assert not any(_passed(c) for c in during), [c.result for c in during]
    # Held at 20 % while metrics were missing, although the soak had ended.
    assert held.canary is not None and held.canary.weight == 20, harness.timeline(held)
    assert first_pass_after is not None
    # Every ramp step and the promotion came after a passing analysis, none in the outage.
    for name in ("set_weight production weight=50", "promote production"):
        write = next(c for c in cs_calls if c.key == name)
        assert write.scheduled_at >= first_pass_after, f"{name} before a passing analysis"
        before = [c for c in analyses if (c.ended_at or 0) <= write.scheduled_at]
        assert before and _passed(before[-1]), f"{name} not right after a passing analysis"
    assert _served(cs, spec) == {"v2": 100}
    assert completed["promote production"] == 1
    assert load.errors() == 0, load.final


def _passed(c: harness.Call) -> bool:
    return c.outcome == "completed" and c.result is not None and c.result["status"] == "pass"


async def test_haproxy_master_killed_mid_canary_traffic_comes_back(
    chaos: ChaosStack, artifacts: Path
) -> None:
    cs = chaos
    spec = harness.chaos_pipeline(artifacts, [(20, 8), (50, 4)])
    hap = HAProxy(cs.home)
    async with asyncio.timeout(CASE_BUDGET), Load(cs.home, _frontend(cs, spec), "h") as load:
        h = await harness.start_promotion(cs.client, spec, "v2")
        await harness.approve_when_asked(h)
        await harness.wait_state(
            h,
            "analysed once at 20%",
            lambda s: s.canary is not None and s.canary.weight == 20 and s.canary.analyses,
        )
        before = hap.weights("demo.production")
        master = hap.master_pid()
        assert master is not None
        os.kill(master, signal.SIGKILL)
        killed = time.time()
        restarted_s = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pid = hap.master_pid()
            if pid is not None and pid != master and hap.running():
                restarted_s = time.time() - killed
                break
            await asyncio.sleep(0.05)
        after = hap.weights("demo.production")
        result = await harness.finish(h, 120)
    cs_calls = await harness.calls(h)
    completed = harness.assert_no_step_twice(cs_calls)
    window = load.error_window()
    harness.figures(
        "HAProxy master SIGKILL mid-canary",
        outcome=result.outcome.value,
        haproxy_back_after_s=round(restarted_s, 2) if restarted_s is not None else None,
        weights_before=before,
        weights_after_restart=after,
        error_seconds=round(window[1] - window[0], 2) if window else 0,
        errors_from_kill_s=_relative(load.error_times(), killed),
        load_errors_at_s=harness.errors_near(load, cs_calls),
        load=load.final,
    )
    assert restarted_s is not None, "HAProxy was not restarted within 30s"
    assert after == before, "the restarted HAProxy lost the canary's weights"
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert _served(cs, spec) == {"v2": 100}
    assert completed["promote production"] == 1
    # The case's own errors: only while HAProxy was down (sampling resolution 0.25 s).
    # Stats are dumped once a second and sampled every 0.25 s: allow 2.5 s of lag.
    late = [t for t in load.error_times() if t > killed + restarted_s + 2.5]
    assert not late, f"errors after HAProxy was back: {_relative(late, killed)}"


async def _approve_all(handles: list[WorkflowHandle[Any, PromotionResult]]) -> None:
    """Approve each promotion whenever it waits for approval, until all have ended."""
    approved: set[str] = set()
    while True:
        running = 0
        for h in handles:
            s = await harness.state_of(h)
            if s.outcome != Outcome.RUNNING:
                continue
            running += 1
            if s.stage.value == "approval" and h.id not in approved:
                with contextlib.suppress(WorkflowUpdateFailedError):
                    await h.execute_update(
                        "approve",
                        ApprovalInput(by="chaos-approver", comment="ok"),
                    )
                approved.add(h.id)
        if not running:
            return
        await asyncio.sleep(0.1)


def _staging_window(cs_calls: list[harness.Call]) -> tuple[float, float]:
    """From this promotion's staging deploy being scheduled to its staging promote ending."""
    deploy = next(c for c in cs_calls if c.key.startswith("deploy staging"))
    promote = next(c for c in cs_calls if c.key == "promote staging")
    assert promote.ended_at is not None
    return deploy.scheduled_at, promote.ended_at


async def test_two_promotions_of_one_service_started_at_once_end_consistent(
    chaos: ChaosStack, artifacts: Path
) -> None:
    cs = chaos
    spec = harness.chaos_pipeline(artifacts, [(20, 4)])
    async with asyncio.timeout(CASE_BUDGET), Load(cs.home, _frontend(cs, spec), "r") as load:
        ha, hb = await asyncio.gather(
            harness.start_promotion(cs.client, spec, "v2"),
            harness.start_promotion(cs.client, spec, "v7"),
        )
        await _approve_all([ha, hb])
        ra, rb = await harness.finish(ha, 60), await harness.finish(hb, 60)
    results = {"v2": (ha, ra), "v7": (hb, rb)}
    histories = {v: await harness.calls(h) for v, (h, _) in results.items()}
    outcomes = {v: r.outcome.value for v, (_, r) in results.items()}
    for cs_calls in histories.values():
        harness.assert_no_step_twice(cs_calls)
    # Staging: each deployed its own version and smoke-tested exactly that process.
    windows = {}
    for v, cs_calls in histories.items():
        deploys = [c for c in cs_calls if c.key.startswith("deploy staging")]
        if not deploys:  # superseded before staging (never wrote it)
            continue
        deploy = deploys[0]
        assert deploy.input["version"] == v and deploy.result is not None
        assert deploy.result["canary"]["version"] == v
        smoke = next(c for c in cs_calls if c.name == "smoke_test")
        assert smoke.input["base_url"] == deploy.result["canary"]["endpoint"], (
            f"{v} smoke-tested {smoke.input['base_url']}, deployed "
            f"{deploy.result['canary']['endpoint']}"
        )
        windows[v] = _staging_window(cs_calls)
    # ... one at a time: the two staging windows never overlap.
    if len(windows) == 2:
        (a0, a1), (b0, b1) = windows.values()
        assert a1 <= b0 or b1 <= a0, f"staging writes overlapped: {windows}"
    promoted = [v for v, o in outcomes.items() if o == "promoted"]
    last = max(
        promoted, key=lambda v: _production(histories[v], "promote").ended_at or 0, default=None
    )
    harness.figures(
        "two promotions at once",
        outcomes=outcomes,
        staging_windows_s={v: round(w[1] - w[0], 1) for v, w in windows.items()},
        staging_order=sorted(windows, key=lambda v: windows[v][0]),
        production_serves=_served(cs, spec),
        load_errors_at_s=harness.errors_near(load, histories[last] if last else []),
        load=load.final,
    )
    # One promoted; the other superseded, or queued and then promoted after it.
    assert sorted(outcomes.values()) in (["promoted", "superseded"], ["promoted", "promoted"])
    for v, o in outcomes.items():
        prod = [c for c in harness.platform_writes(histories[v]) if " production" in c.key]
        if o == "superseded":
            assert not prod, f"superseded {v} wrote production: {harness.describe(prod)}"
    assert last is not None and _served(cs, spec) == {last: 100}
    status = harness.platform(cs.home, spec).status(harness.STAGING)
    assert (
        status.stable is not None
        and status.stable.version == sorted(windows, key=lambda v: windows[v][0])[-1]
    ), "staging runs the version promoted there last"
    assert load.errors() == 0, load.final


async def test_abort_during_promote_reports_what_the_platform_serves(
    chaos: ChaosStack, artifacts: Path
) -> None:
    cs = chaos
    spec = harness.chaos_pipeline(artifacts, [(20, 4)])
    # The promote call retires v1 after a drain: long enough for an abort to land inside it.
    spec.environments["production"].platform.drain = timedelta(seconds=3)  # type: ignore[union-attr]
    async with asyncio.timeout(CASE_BUDGET), Load(cs.home, _frontend(cs, spec), "a") as load:
        h = await harness.start_promotion(cs.client, spec, "v2")
        await harness.approve_when_asked(h)
        await harness.wait_state(
            h, "promoting", lambda s: s.stage.value == "promoting", every=0.05, timeout=90
        )
        deadline = time.monotonic() + 30
        while not await harness.running_activity(h, "promote"):
            assert time.monotonic() < deadline, "promote never ran"
            await asyncio.sleep(0.05)
        await h.signal(PromotionWorkflow.abort_signal, ActionInput(by="chaos", reason="abort"))
        result = await harness.finish(h, 60)
    cs_calls = await harness.calls(h)
    completed = harness.assert_no_step_twice(cs_calls)
    state = result.state
    assert state is not None
    promote = _production(cs_calls, "promote")
    # When the server recorded the abort, against when promote ran (history times).
    aborted = next(t for name, t in await harness.signals(h) if name == "abort")
    serves = _served(cs, spec)
    status = harness.platform(cs.home, spec).status(PRODUCTION)
    harness.figures(
        "abort during promote",
        outcome=result.outcome.value,
        reason=result.reason,
        abort_after_promote_scheduled_s=round(aborted - promote.scheduled_at, 2),
        promote_call=promote.outcome,
        state_traffic=state.traffic,
        haproxy=serves,
        writes_after_abort=[
            c.key for c in harness.platform_writes(cs_calls) if c.scheduled_at > aborted
        ],
        load_errors_at_s=harness.errors_near(load, cs_calls),
        load=load.final,
    )
    assert promote.ended_at is not None
    assert promote.scheduled_at <= aborted <= promote.ended_at, "the abort missed promote"
    # The abort waited for the running call; the outcome is what the platform serves.
    assert promote.outcome == "completed", harness.describe(cs_calls)
    assert state.traffic == {PRODUCTION.label(): serves}, (state.traffic, serves)
    assert status.stable is not None and state.stable_version == status.stable.version
    assert result.stable_version == status.stable.version
    if serves == {"v2": 100}:
        assert result.outcome == Outcome.PROMOTED, result.reason
    else:
        assert serves == {"v1": 100} and result.outcome in (Outcome.ABORTED, Outcome.ROLLED_BACK)
    assert completed["promote production"] == 1
    assert load.errors() == 0, load.final


async def test_rollback_that_fails_then_succeeds_shows_stuck_then_rolled_back(
    chaos: ChaosStack, artifacts: Path
) -> None:
    cs = chaos
    spec = harness.chaos_pipeline(artifacts, [(20, 60)])
    hap = HAProxy(cs.home)
    hidden = hap.admin_sock.with_name("admin.sock.hidden")
    async with asyncio.timeout(CASE_BUDGET), Load(cs.home, _frontend(cs, spec), "b") as load:
        h = await harness.start_promotion(cs.client, spec, "v2")
        await harness.approve_when_asked(h)
        await harness.wait_state(
            h,
            "analysed once at 20%",
            lambda s: s.canary is not None and s.canary.weight == 20 and s.canary.analyses,
        )
        # HAProxy's runtime API goes away (HAProxy itself keeps serving 80/20).
        os.rename(hap.admin_sock, hidden)
        try:
            asked = time.monotonic()
            await h.signal(
                PromotionWorkflow.rollback_signal, ActionInput(by="chaos", reason="drill")
            )
            stuck = await harness.wait_state(
                h,
                "rollback_stuck",
                lambda s: s.stage.value == "rollback_stuck" and s.rollback_error,
                timeout=60,
            )
            stuck_after_s = time.monotonic() - asked
            during_stuck = hap.weights("demo.production")  # socket hidden: read via file
        finally:
            os.rename(hidden, hap.admin_sock)
        restored = time.monotonic()
        result = await harness.finish(h, 60)
        done_after_s = time.monotonic() - restored
    cs_calls = await harness.calls(h)
    completed = harness.assert_no_step_twice(cs_calls)
    rollbacks = [c for c in cs_calls if c.key == "rollback production"]
    failed_attempts = sum(c.attempt for c in rollbacks if c.outcome == "failed") + sum(
        c.attempt - 1 for c in rollbacks if c.outcome == "completed"
    )
    state = result.state
    assert state is not None
    harness.figures(
        "rollback fails N times then succeeds",
        outcome=result.outcome.value,
        failed_attempts=failed_attempts,
        escalation_levels_used=len(rollbacks),
        stuck_after_s=round(stuck_after_s, 1),
        rolled_back_after_restore_s=round(done_after_s, 1),
        rollback_error=stuck.rollback_error,
        state_traffic=state.traffic,
        load_errors_at_s=harness.errors_near(load, cs_calls),
        load=load.final,
    )
    assert during_stuck == {}, "the runtime API answered while hidden"
    # The error names the failing call (its text is the innermost cause: the OSError).
    assert (stuck.rollback_error or "").startswith("rollback of demo/production: ")
    assert stuck.outcome == Outcome.RUNNING
    assert result.outcome == Outcome.ROLLED_BACK, result.reason
    assert state.rollback_error is None
    assert failed_attempts >= 5, harness.describe(rollbacks)
    assert [c.outcome for c in rollbacks][-1] == "completed" and len(rollbacks) >= 2
    assert completed["rollback production"] == 1
    assert any(e.stage == "rollback_stuck" for e in state.timeline)
    assert state.traffic == {PRODUCTION.label(): {"v1": 100}}
    assert _served(cs, spec) == {"v1": 100}
    assert load.errors() == 0, load.final
