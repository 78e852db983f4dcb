"""Activity plumbing: every activity the promotion calls goes through here.

A failure (or an abort meanwhile) ends the promotion cleanly with `Stop`; a
platform call that fails after it may have changed traffic rolls the target back.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        DeployInput,
        Outcome,
        PlatformInput,
        Stage,
        UndoInput,
        WaitReadyInput,
    )
    from rollway.platform.base import DeploymentStatus, Target
    from workflows.promotion import notify, options
    from workflows.promotion.context import Promotion, Stop, cause

T = TypeVar("T")


async def activity(
    p: Promotion,
    name: str,
    inp: Any,
    result_type: type[T],
    opts: dict[str, Any],
    *,
    what: str,
    on_error: PlatformInput | None = None,
) -> T:
    """Run an activity; a failure (or an abort meanwhile) ends the promotion cleanly."""
    if p.honest:
        # An abort waits until the call has finished or acknowledged its cancellation.
        opts = {**opts, "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED}
    task = asyncio.ensure_future(
        workflow.execute_activity(name, inp, result_type=result_type, **opts)
    )
    await workflow.wait_condition(lambda: task.done() or p.flags.abort_request is not None)
    if not task.done():
        task.cancel()
    try:
        result: T = await task
    except (ActivityError, asyncio.CancelledError) as e:
        if on_error is not None:
            await rollback_target(p, on_error)
        p.check_abort()
        raise Stop(Outcome.FAILED, f"{what} failed: {cause(e)}") from None
    if p.flags.abort_request is not None and on_error is not None:
        await rollback_target(p, on_error)
    p.check_abort()
    return result


async def call(p: Promotion, name: str, inp: PlatformInput) -> DeploymentStatus:
    """One platform activity (`deploy`, `set_weight`, `promote`, `platform_status`)."""
    opts = options.PLATFORM_CALL if p.honest else options.PLATFORM
    return await activity(
        p, name, inp, DeploymentStatus, opts, what=name.replace("_", " "), on_error=inp
    )


def platform_input(p: Promotion, target: Target) -> PlatformInput:
    return PlatformInput(
        target=target, environment=p.spec.environments[target.environment], run=p.spec.run
    )


async def deploy(p: Promotion, env: PlatformInput, artifact: str) -> DeploymentStatus:
    """Start the version as canary at 0 % and wait until it is ready."""
    status = await call(
        p,
        "deploy",
        DeployInput(
            **env.model_dump(), version=p.inp.version, artifact=artifact, commit=p.inp.commit
        ),
    )
    if status.canary is None:  # already the stable version there
        return status
    ready = p.spec.run.ready_timeout if p.spec.run else timedelta(minutes=5)
    return await activity(
        p,
        "wait_ready",
        WaitReadyInput(**env.model_dump(), version=p.inp.version, timeout_s=ready.total_seconds()),
        DeploymentStatus,
        options.wait_ready_options(ready),
        what="readiness",
        on_error=env,
    )


async def rollback_target(p: Promotion, env: PlatformInput) -> None:
    """Canary weight to 0 and the canary stopped; stable untouched."""
    await must_succeed(p, "rollback", env, f"rollback of {env.target.label()}")
    p.keeper.log(f"{env.target.label()}: canary at 0%, stable untouched")


async def must_succeed(p: Promotion, name: str, inp: PlatformInput, what: str) -> DeploymentStatus:
    """A corrective platform call (`rollback`, `undo`): escalating, bounded, never hidden.

    Each level of `options.ROLLBACK_LEVELS` retries a bounded number of times; while
    it keeps failing the stage is `rollback_stuck` with the last error; when the last
    level fails the promotion ends `failed` (the final re-read records the traffic).
    """
    if not p.honest:
        old: DeploymentStatus = await workflow.execute_activity(
            name, inp, result_type=DeploymentStatus, **options.ROLLBACK
        )
        return old
    error = ""
    for level, opts in enumerate(options.ROLLBACK_LEVELS, start=1):
        try:
            status: DeploymentStatus = await workflow.execute_activity(
                name, inp, result_type=DeploymentStatus, **opts
            )
        except ActivityError as e:
            error = cause(e)
            p.state.rollback_error = f"{what}: {error}"
            p.keeper.enter(
                Stage.ROLLBACK_STUCK,
                f"{what} keeps failing (escalation level {level} of "
                f"{len(options.ROLLBACK_LEVELS)} exhausted): {error}",
            )
            notify.rollback_stuck(p)
            continue
        if p.state.rollback_error is not None:
            p.keeper.log(f"{what} got through at escalation level {level}")
            p.state.rollback_error = None
        return status
    raise Stop(Outcome.FAILED, f"{what} failed after every retry: {error}")


async def undo(p: Promotion, env: PlatformInput, to_version: str | None) -> DeploymentStatus:
    """Return a target's stable to its previous version (an earlier wave)."""
    return await must_succeed(
        p,
        "undo",
        UndoInput(**env.model_dump(), to_version=to_version),
        f"undo of {env.target.label()}",
    )
