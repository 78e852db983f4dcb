"""Promotion and rollback: the canary to 100 % (old stable retired), or back to 0 %."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        Outcome,
        PlatformInput,
        Stage,
        UndoInput,
        WaveState,
        WeightInput,
    )
    from rollway.platform.base import DeploymentStatus, Target
    from workflows.promotion import options
    from workflows.promotion.calls import call, rollback_target
    from workflows.promotion.context import Promotion, Stop


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
        await workflow.execute_activity(
            "undo",
            UndoInput(**env.model_dump(), to_version=previous),
            result_type=DeploymentStatus,
            **options.ROLLBACK,
        )
        if (wave := wave_state(p, env.target)) is not None:
            wave.status, wave.version = "undone", previous
        undone.append(f"{env.target.cluster} -> {previous}")
    p.keeper.log("earlier waves returned to their previous version: " + ", ".join(undone))
    stop.reason += f"; earlier waves undone ({', '.join(undone)})"


def wave_state(p: Promotion, target: Target) -> WaveState | None:
    return next((w for w in p.state.waves if w.cluster == target.cluster), None)
