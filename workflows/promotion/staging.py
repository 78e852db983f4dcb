"""Staging: deploy (or GitOps-sync) the artifact, run the smoke checks, make it stable there."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        ArgoCDSyncResult,
        ArgoSyncInput,
        PlatformInput,
        SmokeInput,
        SmokeResult,
        Stage,
        WeightInput,
    )
    from rollway.platform.base import Target
    from workflows.promotion import options
    from workflows.promotion.calls import (
        activity,
        call,
        deploy,
        platform_input,
        rollback_target,
    )
    from workflows.promotion.context import Promotion, Stop, same_release
    from workflows.promotion.locks import await_lock


async def staging(p: Promotion, artifact: str) -> None:
    """Activities `deploy`, `wait_ready`, `smoke_test`, `set_weight`, `promote`.

    Under the service's staging lock, so a concurrent promotion never replaces the
    version this one deploys, smoke-tests and promotes there.
    """
    stg = p.spec.staging
    if stg is None:
        return
    p.keeper.enter(Stage.STAGING, f"deploying to {stg.environment}")
    lock = p.staging_lock
    if not p.honest or lock is None:
        await _stage(p, artifact, stg.environment)
        return
    await lock.join(subscribe=False, hold=True)
    try:
        await await_lock(p, lock)
        await _stage(p, artifact, stg.environment)
    finally:
        await lock.leave()


async def _stage(p: Promotion, artifact: str, environment: str) -> None:
    stg = p.spec.staging
    assert stg is not None
    env = platform_input(p, Target(service=p.inp.service, environment=environment))
    sync_timeout = env.environment.gitops_sync_timeout
    if sync_timeout is not None:
        await _gitops_staging(p, env, sync_timeout)
        return
    status = await deploy(p, env, artifact)
    if status.canary is not None:
        smoke_url = status.canary.endpoint or status.frontend_url or ""
        try:
            smoke = await activity(
                p,
                "smoke_test",
                SmokeInput(base_url=smoke_url, checks=stg.smoke, retries=stg.retries),
                SmokeResult,
                options.SMOKE,
                what="staging smoke checks",
            )
        except Stop:
            await rollback_target(p, env)
            raise
        p.keeper.log("smoke checks passed: " + ", ".join(smoke.results))
        await call(p, "set_weight", WeightInput(**env.model_dump(), weight=100))
        await call(p, "promote", env)
    elif p.honest:
        same_release(p, status, artifact)
    p.keeper.log(f"{stg.environment} runs {p.inp.version}")


async def _gitops_staging(p: Promotion, env: PlatformInput, sync_timeout: timedelta) -> None:
    """Seeds 000/004: activity `argocd_sync` syncs staging to the commit; then smoke checks."""
    stg = p.spec.staging
    assert stg is not None
    synced = await activity(
        p,
        "argocd_sync",
        ArgoSyncInput(**env.model_dump(), revision=p.inp.commit),
        ArgoCDSyncResult,
        options.argocd_options(sync_timeout),
        what="Argo CD sync",
    )
    p.keeper.log(
        f"Argo CD {synced.application} synced to {synced.synced_revision or synced.revision} "
        f"({synced.health_status})"
    )
    status = await call(p, "platform_status", env)
    if stg.smoke and status.frontend_url:
        smoke = await activity(
            p,
            "smoke_test",
            SmokeInput(base_url=status.frontend_url, checks=stg.smoke, retries=stg.retries),
            SmokeResult,
            options.SMOKE,
            what="staging smoke checks",
        )
        p.keeper.log("smoke checks passed: " + ", ".join(smoke.results))
