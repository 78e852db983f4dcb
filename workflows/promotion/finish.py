"""Promotion and rollback: the canary to 100 % (old stable retired), or back to 0 %."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        Outcome,
        PlatformInput,
        Stage,
        WaveState,
        WeightInput,
    )
    from rollway.platform.base import DeploymentStatus, Target, VersionStatus
    from workflows.promotion import options
    from workflows.promotion.calls import call, platform_input, rollback_target, undo
    from workflows.promotion.context import Promotion, Stop, cause


async def promote(p: Promotion, env: PlatformInput) -> None:
    """Activities `set_weight` 100 and `promote`: the canary becomes stable."""
    p.keeper.enter(Stage.PROMOTING, f"promoting {p.inp.version} to 100%")
    await call(p, "set_weight", WeightInput(**env.model_dump(), weight=100))
    status = await call(p, "promote", env)
    if p.state.canary:
        p.state.canary.weight = 100
    retired = p.state.stable_version
    p.state.stable_version = status.stable.version if status.stable else p.inp.version
    if (wave := wave_state(p, env.target)) is not None:
        wave.status, wave.version, wave.weight = "promoted", p.inp.version, 100
    p.flags.promoted_reason = f"{p.inp.version} serves 100%" + (
        f"; {retired} retired" if retired else ""
    )


async def auto_rollback(p: Promotion, env: PlatformInput, reason: str) -> None:
    """Activity `rollback` (weight 0 first); ends the promotion `rolled_back`."""
    p.keeper.enter(Stage.ROLLING_BACK, f"rolling back: {reason}")
    await rollback_target(p, env)
    if p.state.canary:
        p.state.canary.weight = 0
    if (wave := wave_state(p, env.target)) is not None:
        wave.status, wave.weight = "rolled_back", 0
    raise Stop(Outcome.ROLLED_BACK, reason)


async def undo_waves(
    p: Promotion, done: list[tuple[PlatformInput, str | None]], stop: Stop
) -> None:
    """Activity `undo`: a later wave failed, so every earlier cluster returns to its previous version."""
    undone = []
    for env, previous in reversed(done):
        await undo(p, env, previous)
        if (wave := wave_state(p, env.target)) is not None:
            wave.status, wave.version = "undone", previous
        undone.append(f"{env.target.cluster} -> {previous}")
    p.keeper.log("earlier waves returned to their previous version: " + ", ".join(undone))
    stop.reason += f"; earlier waves undone ({', '.join(undone)})"


def wave_state(p: Promotion, target: Target) -> WaveState | None:
    return next((w for w in p.state.waves if w.cluster == target.cluster), None)


async def record_traffic(p: Promotion) -> None:
    """After an abort or failure: read what really serves traffic, and say that.

    The platform is the truth. A canary the abort came too late for (it already
    serves 100 %) is reported promoted; a canary still holding traffic after a
    failed rollback makes the outcome `failed`, naming its weight.
    """
    if p.state.canary is None or p.state.outcome == Outcome.PROMOTED:
        return
    environment = p.spec.canary.environment
    promoted_everywhere, stuck = True, []
    for cluster in p.spec.environments[environment].clusters:
        env = platform_input(
            p, Target(service=p.inp.service, environment=environment, cluster=cluster)
        )
        try:
            status = await workflow.execute_activity(
                "platform_status", env, result_type=DeploymentStatus, **options.PLATFORM_CALL
            )
        except ActivityError as e:
            p.keeper.log(f"{env.target.label()}: could not read what serves traffic: {cause(e)}")
            promoted_everywhere = False
            continue
        p.state.traffic[env.target.label()] = traffic_of(status)
        if status.stable is not None:
            p.state.stable_version = status.stable.version
        promoted_everywhere &= _runs_this_build(p, status.stable)
        if status.canary is not None and status.canary.weight > 0:
            stuck.append(f"{env.target.label()} {status.canary.version} at {status.canary.weight}%")
    if promoted_everywhere and p.state.outcome in (Outcome.ABORTED, Outcome.ROLLED_BACK):
        p.state.reason = f"{p.inp.version} already served 100% when this came: {p.state.reason}"
        p.state.outcome = Outcome.PROMOTED
    elif stuck:
        p.state.outcome = Outcome.FAILED
        p.state.reason = f"canary still serves traffic ({', '.join(stuck)}): {p.state.reason}"


def traffic_of(status: DeploymentStatus) -> dict[str, int]:
    """Weight per version; two builds of one label are told apart by the platform's names."""
    serving = [v for v in (status.stable, status.canary) if v is not None]
    same_label = len({v.version for v in serving}) < len(serving)
    return {(v.instance or v.role) if same_label else v.version: v.weight for v in serving}


def _runs_this_build(p: Promotion, stable: VersionStatus | None) -> bool:
    """The stable is this promotion's build: its label and, where known, its instance."""
    if stable is None or stable.version != p.inp.version:
        return False
    canary_instance = p.flags.instances[0]
    return not canary_instance or not stable.instance or stable.instance == canary_instance
