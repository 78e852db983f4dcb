"""Platform activities: each is one idempotent call on the environment's platform."""

from __future__ import annotations

from temporalio import activity

from activities.errors import platform_errors
from rollway.models import (
    ArgoCDSyncResult,
    ArgoSyncInput,
    DeployInput,
    PlatformInput,
    UndoInput,
    WaitReadyInput,
    WeightInput,
)
from rollway.platform.base import DeploymentStatus, DeployRequest, Platform, PlatformError
from rollway.platform.kubernetes import KubernetesPlatform
from rollway.platform.registry import platform_for


def _platform(inp: PlatformInput) -> Platform:
    return platform_for(inp.environment, inp.run)


@activity.defn(name="deploy", no_thread_cancel_exception=True)
def deploy(inp: DeployInput) -> DeploymentStatus:
    """Start the version as canary at 0 % (a retry finds it already started)."""
    with platform_errors():
        req = DeployRequest(
            target=inp.target, version=inp.version, artifact=inp.artifact, commit=inp.commit
        )
        return _platform(inp).deploy(req)


@activity.defn(name="wait_ready")
def wait_ready(inp: WaitReadyInput) -> DeploymentStatus:
    """Wait until the canary answers its health check; heartbeats while waiting."""
    with platform_errors():
        return _platform(inp).wait_ready(
            inp.target, inp.version, inp.timeout_s, lambda msg: activity.heartbeat(msg)
        )


@activity.defn(name="set_weight", no_thread_cancel_exception=True)
def set_weight(inp: WeightInput) -> DeploymentStatus:
    with platform_errors():
        return _platform(inp).set_weight(inp.target, inp.weight)


@activity.defn(name="promote", no_thread_cancel_exception=True)
def promote(inp: PlatformInput) -> DeploymentStatus:
    with platform_errors():
        return _platform(inp).promote(inp.target)


@activity.defn(name="rollback", no_thread_cancel_exception=True)
def rollback(inp: PlatformInput) -> DeploymentStatus:
    """Stable to 100 % in the first write, then the canary is stopped."""
    with platform_errors():
        return _platform(inp).rollback(inp.target)


@activity.defn(name="platform_status")
def platform_status(inp: PlatformInput) -> DeploymentStatus:
    with platform_errors():
        return _platform(inp).status(inp.target)


@activity.defn(name="undo", no_thread_cancel_exception=True)
def undo(inp: UndoInput) -> DeploymentStatus:
    """Return stable to its previous version (an earlier wave that must be rolled back)."""
    with platform_errors():
        return _platform(inp).undo(inp.target, inp.to_version)


@activity.defn(name="argocd_sync")
def argocd_sync(inp: ArgoSyncInput) -> ArgoCDSyncResult:
    """Staging through Argo CD: sync the Application to the commit, wait Synced and Healthy."""
    with platform_errors():
        platform = _platform(inp)
        if not isinstance(platform, KubernetesPlatform):
            raise PlatformError(
                f"{inp.target.label()}: Argo CD staging needs the kubernetes platform",
                retryable=False,
            )
        return platform.sync_argocd(inp.target, inp.revision, lambda m: activity.heartbeat(m))
