"""Canary ramp and soak: per cluster wave, step by step, judged by analysis.

Each step sets the canary's weight (`set_weight`), soaks while `analyze` runs every
interval, and completes only on a passing analysis; `failure_limit` failures in a
row roll back, `inconclusive_limit` pause for a human, an incident holds the ramp.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.durations import format_duration
    from rollway.models import (
        AnalysisInput,
        AnalysisResult,
        AnalysisSegment,
        CanaryState,
        Outcome,
        PlatformInput,
        Stage,
        WaveState,
        WeightInput,
    )
    from rollway.platform.base import Target
    from workflows.promotion import notify, options
    from workflows.promotion.calls import call, deploy, platform_input
    from workflows.promotion.context import Promotion, Stop, cause, same_release
    from workflows.promotion.finish import auto_rollback, promote, undo_waves, wave_state


async def canary(p: Promotion, artifact: str) -> None:
    """The production ramp, cluster by cluster (one wave unless the environment has more)."""
    spec = p.spec.canary
    p.keeper.enter(Stage.CANARY, f"canary in {spec.environment}")
    p.state.canary = CanaryState(environment=spec.environment, steps=[s.weight for s in spec.steps])
    clusters = p.spec.environments[spec.environment].clusters
    p.state.waves = [WaveState(cluster=c) for c in clusters if c is not None]
    done: list[tuple[PlatformInput, str | None]] = []
    for cluster in clusters:
        env = platform_input(
            p, Target(service=p.inp.service, environment=spec.environment, cluster=cluster)
        )
        try:
            previous = await _wave(p, env, artifact)
        except Stop as stop:
            if done:
                await undo_waves(p, done, stop)
            raise
        done.append((env, previous))
    raise Stop(Outcome.PROMOTED, p.flags.promoted_reason)


async def _wave(p: Promotion, env: PlatformInput, artifact: str) -> str | None:
    """Canary and promotion in one target; returns the stable version it replaced."""
    c = p.state.canary
    assert c is not None
    wave = wave_state(p, env.target)
    before = await call(p, "platform_status", env)
    p.state.stable_version = before.stable.version if before.stable else None
    if wave is not None:
        wave.status, wave.version = "canary", p.state.stable_version
    rebuilt = (
        before.stable is not None
        and before.stable.artifact not in ("", artifact)
        and p.state.stable_version == p.inp.version
        and before.canary is None
        # A rebuild of the stable label is a new release (it used to be refused).
        and workflow.patched("distinct-builds")
    )
    if rebuilt:
        assert before.stable is not None
        p.keeper.log(
            f"{p.inp.version} runs in {env.target.label()} built from another artifact "
            f"({before.stable.artifact}): commit {p.inp.commit[:12]} is a new release of "
            "that label and gets a canary of its own"
        )
    elif p.state.stable_version == p.inp.version and before.canary is None:
        if p.honest:
            same_release(p, before, artifact)
        p.flags.promoted_reason = f"{p.inp.version} is already the stable version"
        if wave is not None:
            wave.status = "promoted"
        return None
    previous = p.state.stable_version
    status = await deploy(p, env, artifact)
    p.flags.instances = (
        status.canary.instance if status.canary else "",
        status.stable.instance if status.stable else "",
    )
    if status.stable is None:
        p.keeper.log("no stable version yet: the first version goes straight to 100%")
        await promote(p, env)
        return None
    canary_from = workflow.now()
    p.flags.segments = []
    for i, step in enumerate(p.spec.canary.steps):
        if p.flags.abort_request is not None:
            await auto_rollback(p, env, p.abort_reason())
        if p.flags.promote_now:
            break
        c.step = i
        await call(p, "set_weight", WeightInput(**env.model_dump(), weight=step.weight))
        p.flags.segments.append(AnalysisSegment(weight=step.weight, started_at=workflow.now()))
        c.weight = step.weight
        if wave is not None:
            wave.weight = step.weight
        p.keeper.log(f"canary at {step.weight}%, soaking {format_duration(step.soak)}")
        notify.canary_step(p)
        reason = await _soak(p, env, step.soak, canary_from)
        if reason is not None:
            await auto_rollback(p, env, reason)
    await promote(p, env)
    return previous


async def _soak(
    p: Promotion, env: PlatformInput, soak: timedelta, canary_from: datetime
) -> str | None:
    """Soak one step, analysing every interval. Returns a rollback reason or None."""
    analysis = p.spec.canary.analysis
    c = p.state.canary
    assert c is not None
    interval = analysis.interval.total_seconds()
    end = workflow.now() + soak
    need_pass = analysis.active and soak > timedelta(0)
    last: AnalysisResult | None = None
    while True:
        p.flags.changed = False
        await p.release.sync()
        remaining = (end - workflow.now()).total_seconds()
        done_soaking = remaining <= 0 and (not need_pass or (last and last.status == "pass"))
        if p.flags.promote_now or p.flags.skip_soak:
            p.flags.skip_soak = False
            return None
        if done_soaking and not c.paused and not _halted(p):
            return None
        wait = interval if remaining <= 0 or c.paused else min(interval, remaining)
        await _wait_watching_control(p, wait)
        if p.flags.abort_request is not None:
            return p.abort_reason()
        if not analysis.active or workflow.now() < canary_from + analysis.initial_delay:
            continue
        last = await _analyse(p, env, interval)
        if c.consecutive_failures >= analysis.failure_limit:
            p.state.rollback_metrics = [m for m in last.metrics if m.status == "fail"]
            return f"analysis failed {c.consecutive_failures} time(s) in a row: {last.message}"
        if c.consecutive_inconclusive >= analysis.inconclusive_limit and not c.paused:
            c.paused = True
            p.keeper.log(
                f"paused: analysis inconclusive {c.consecutive_inconclusive} times in a row "
                f"({last.message}); traffic held at {c.weight}%. Resume with `rollway resume`."
            )
            notify.paused(p, last.message)


async def _wait_watching_control(p: Promotion, seconds: float) -> None:
    """Wait `seconds` (or until an abort); read release control as soon as it signals."""
    due = workflow.now() + timedelta(seconds=seconds)
    while (left := (due - workflow.now()).total_seconds()) > 0:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: p.flags.abort_request is not None or p.release.wake_for_sync(),
                timeout=p.release.wait_limit(left),
            )
        if p.flags.abort_request is not None:
            return
        if p.release.needs_sync():
            await p.release.sync()
            _halted(p)  # the state names a halting incident as soon as it is known


def _halted(p: Promotion) -> bool:
    """An active incident holds the canary at its step boundary (analysis stays armed)."""
    inc = p.release.halting_incident() if p.controlled and not p.flags.emergency else None
    c = p.state.canary
    label = f"{inc.severity} {inc.id} (IC {inc.commander})" if inc else None
    if label != p.flags.halt_logged:
        if label is not None and c is not None:
            p.keeper.audit("rollway", f"halt canary at {c.weight}%", reason=f"incident {label}")
        elif p.flags.halt_logged is not None:
            p.keeper.audit(
                "rollway", "resume canary", reason=f"incident {p.flags.halt_logged} resolved"
            )
        p.flags.halt_logged = label
        p.state.halted_by = label
    return inc is not None


async def _analyse(p: Promotion, env: PlatformInput, interval: float) -> AnalysisResult:
    """Activity `analyze`: one judgement of canary against stable over the last window."""
    c = p.state.canary
    assert c is not None
    segments = p.flags.segments
    inp = AnalysisInput(
        target=env.target,
        environment=env.environment,
        canary_version=p.inp.version,
        stable_version=p.state.stable_version,
        weight=c.weight,
        analysis=p.spec.canary.analysis,
        window_s=max(interval, 5.0),
        segments=list(segments),
        canary_started_at=segments[0].started_at if segments else None,
        canary_instance=p.flags.instances[0] or None,
        stable_instance=p.flags.instances[1] or None,
    )
    try:
        result: AnalysisResult = await workflow.execute_activity(
            "analyze", inp, result_type=AnalysisResult, **options.ANALYSIS
        )
    except ActivityError as e:
        result = AnalysisResult(weight=c.weight, status="error", message=cause(e))
    p.keeper.record_analysis(result)
    if result.status == "fail":
        c.consecutive_failures += 1
        c.consecutive_inconclusive = 0
    elif result.status == "pass":
        c.consecutive_failures = c.consecutive_inconclusive = 0
    else:
        c.consecutive_inconclusive += 1
    return result
