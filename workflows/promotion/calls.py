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

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        DeployInput,
        Outcome,
        PlatformInput,
        WaitReadyInput,
    )
    from rollway.platform.base import DeploymentStatus, Target
    from workflows.promotion import options
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
    return await activity(
        p, name, inp, DeploymentStatus, options.PLATFORM, what=name.replace("_", " "), on_error=inp
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
    await workflow.execute_activity(
        "rollback", env, result_type=DeploymentStatus, **options.ROLLBACK
    )
    p.keeper.log(f"{env.target.label()}: canary at 0%, stable untouched")
