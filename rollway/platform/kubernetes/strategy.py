"""What every strategy shares: the per-call context and small Deployment helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from rollway.platform.base import (
    DeploymentStatus,
    DeployRequest,
    Heartbeat,
    Target,
    VersionRole,
    VersionStatus,
    no_heartbeat,
)
from rollway.platform.kubernetes.client import DEPLOYMENT, SERVICE, KubeClient, Obj
from rollway.platform.kubernetes.config import KubernetesPlatformConfig, render_name
from rollway.platform.kubernetes.objects import (
    ARTIFACT_ANNOTATION,
    image_of,
    progress,
    replicas_of,
    service_body,
    template_annotations,
    version_of,
    wait_deployment,
)


@dataclass
class Ctx:
    """Everything one platform call needs: the cluster, namespace, target and config."""

    kube: KubeClient
    namespace: str
    target: Target
    cfg: KubernetesPlatformConfig
    sleep: Callable[[float], None] = field(default=time.sleep)

    @property
    def service(self) -> str:
        return self.target.service

    def name(self, template: str) -> str:
        return render_name(template, self.target.service)

    @property
    def poll_s(self) -> float:
        return self.cfg.poll_interval.total_seconds()

    @property
    def rollout_timeout_s(self) -> float:
        """How long promote/undo wait for a Deployment: its progress deadline, plus slack."""
        return self.cfg.progress_deadline.total_seconds() + 30.0

    # --- Deployment helpers ------------------------------------------------------------

    def get_deployment(self, name: str) -> Obj | None:
        return self.kube.get(DEPLOYMENT, self.namespace, name)

    def scale(self, name: str, replicas: int) -> Obj | None:
        """Set spec.replicas (no write if already so; nothing if the Deployment is absent)."""

        def build(cur: Obj | None) -> Obj | None:
            if cur is None:
                return None
            cur["spec"]["replicas"] = replicas
            return cur

        return self.kube.apply(DEPLOYMENT, self.namespace, name, build)

    def wait(
        self,
        name: str,
        *,
        timeout_s: float | None = None,
        heartbeat: Heartbeat = no_heartbeat,
        expect_version: str | None = None,
    ) -> Obj:
        return wait_deployment(
            self.kube,
            self.namespace,
            name,
            timeout_s=self.rollout_timeout_s if timeout_s is None else timeout_s,
            poll_s=self.poll_s,
            heartbeat=heartbeat,
            expect_version=expect_version,
            sleep=self.sleep,
        )

    def ensure_service(self, name: str, selector: dict[str, str]) -> Obj | None:
        """Create the Service, or set its selector (one write, only if it differs)."""

        def build(cur: Obj | None) -> Obj:
            if cur is None:
                return service_body(service=self.service, selector=selector, cfg=self.cfg)
            cur["spec"]["selector"] = dict(selector)
            return cur

        return self.kube.apply(SERVICE, self.namespace, name, build)

    def version_status(
        self, dep: Obj, role: VersionRole, weight: int, endpoint: str | None, message: str = ""
    ) -> VersionStatus:
        state = progress(dep)
        artifact = template_annotations(dep).get(ARTIFACT_ANNOTATION) or image_of(
            dep, self.cfg.container
        )
        return VersionStatus(
            version=version_of(dep) or image_of(dep, self.cfg.container) or "unknown",
            role=role,
            artifact=artifact,
            ready=state.ready,
            desired=replicas_of(dep),
            available=state.available,
            weight=max(0, min(100, weight)),
            endpoint=endpoint,
            message=state.failed or message,
        )


class Strategy(Protocol):
    """One deployment strategy; the platform resolves the cluster and calls these."""

    def deploy(self, ctx: Ctx, request: DeployRequest) -> DeploymentStatus: ...

    def wait_ready(
        self, ctx: Ctx, version: str, timeout_s: float, heartbeat: Heartbeat
    ) -> DeploymentStatus: ...

    def set_weight(self, ctx: Ctx, weight: int) -> DeploymentStatus: ...

    def promote(self, ctx: Ctx) -> DeploymentStatus: ...

    def rollback(self, ctx: Ctx) -> DeploymentStatus: ...

    def undo(self, ctx: Ctx, to_version: str | None) -> DeploymentStatus: ...

    def status(self, ctx: Ctx) -> DeploymentStatus: ...
