"""Canary: stable Deployment `<service>`, canary `<service>-canary`, a router between.

Replica-ratio mode: both Deployments sit behind one Service; weight w gives the
canary `ceil(replicas * w / 100)` pods and the stable `replicas - canary` (at
least 1 below 100 %), so the effective weight moves in steps of 100/replicas
and a small weight never means 0 canary pods. Routed modes (Gateway API,
Istio) keep the canary at `canary_replicas` and only change the route.
"""

from __future__ import annotations

import math

from rollway.platform.base import DeploymentStatus, DeployRequest, Heartbeat, PlatformError
from rollway.platform.kubernetes.client import DEPLOYMENT, Obj
from rollway.platform.kubernetes.config import KubernetesPlatformConfig
from rollway.platform.kubernetes.objects import (
    ARTIFACT_ANNOTATION,
    NAME_LABEL,
    TRACK_LABEL,
    UNDONE_ANNOTATION,
    container_index,
    deployment_body,
    image_for,
    image_of,
    looks_like_image,
    make_template,
    minimal_template,
    previous_revision,
    progress_deadline_seconds,
    relabel_template,
    replicas_of,
    revisions,
    service_url,
    sync_deployment_annotations,
    template_annotations,
    version_of,
)
from rollway.platform.kubernetes.strategy import Ctx
from rollway.platform.kubernetes.traffic import GatewayRouter, IstioRouter, ReplicaRouter, Router


def replica_split(replicas: int, weight: int) -> tuple[int, int]:
    """(canary, stable) pod counts for `weight` % in replica-ratio mode.

    The canary count rounds up (5 % of 4 pods is 1 pod, never 0); the stable keeps
    at least one pod until 100 %.
    """
    if weight <= 0:
        return 0, replicas
    if weight >= 100:
        return replicas, 0
    canary = max(1, math.ceil(replicas * weight / 100))
    stable = max(1, replicas - canary)
    return canary, stable


def effective_weight(canary: int, stable: int) -> int:
    return round(100 * canary / (canary + stable)) if canary + stable else 0


class CanaryStrategy:
    """The `canary` strategy over one of the three routers."""

    def __init__(self, cfg: KubernetesPlatformConfig) -> None:
        self.cfg = cfg
        self.opts = cfg.canary_options
        self.replica_mode = self.opts.traffic == "replicas"
        self.replica_router = ReplicaRouter(self.opts)
        self.router: Router
        if self.opts.traffic == "gateway-api":
            self.router = GatewayRouter(self.opts)
        elif self.opts.traffic == "istio":
            self.router = IstioRouter(self.opts)
        else:
            self.router = self.replica_router

    # --- names -----------------------------------------------------------------------

    @staticmethod
    def stable_name(ctx: Ctx) -> str:
        return ctx.service

    @staticmethod
    def canary_name(ctx: Ctx) -> str:
        return f"{ctx.service}-canary"

    def _selector(self, ctx: Ctx, track: str) -> dict[str, str]:
        return {NAME_LABEL: ctx.service, TRACK_LABEL: track}

    def _warm_canary_replicas(self) -> int:
        """Canary pods at weight 0: one warm pod (replica mode) or `canary_replicas`."""
        if self.replica_mode:
            return 1
        return self.opts.canary_replicas or self.cfg.replicas

    # --- operations ------------------------------------------------------------------

    def deploy(self, ctx: Ctx, request: DeployRequest) -> DeploymentStatus:
        canary = ctx.get_deployment(self.canary_name(ctx))
        stable = ctx.get_deployment(self.stable_name(ctx))
        image = image_for(request.artifact)
        if (
            canary is not None
            and version_of(canary) == request.version
            and image_of(canary, self.cfg.container) == image
            and replicas_of(canary) > 0
        ):
            return self.status(ctx)
        if canary is not None and replicas_of(canary) > 0:
            self._traffic(ctx, 0)  # an older canary loses its traffic before it is replaced
        self.router.ensure(ctx)
        base = (stable or {}).get("spec", {}).get("template") or minimal_template(
            self.cfg, ctx.service
        )
        where = f"Deployment '{self.stable_name(ctx)}'"
        template = make_template(
            base,
            labels=self._selector(ctx, "canary"),
            image=image,
            version=request.version,
            artifact=request.artifact,
            commit=request.commit,
            container=self.cfg.container,
            where=where,
        )
        replicas = self._warm_canary_replicas()

        def build(cur: Obj | None) -> Obj:
            if cur is None:
                return deployment_body(
                    service=ctx.service,
                    selector=self._selector(ctx, "canary"),
                    template=template,
                    replicas=replicas,
                    cfg=self.cfg,
                )
            cur["spec"]["template"] = template
            cur["spec"]["replicas"] = replicas
            cur["spec"]["progressDeadlineSeconds"] = progress_deadline_seconds(self.cfg)
            sync_deployment_annotations(cur)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, self.canary_name(ctx), build)
        return self.status(ctx)

    def wait_ready(
        self, ctx: Ctx, version: str, timeout_s: float, heartbeat: Heartbeat
    ) -> DeploymentStatus:
        ctx.wait(
            self.canary_name(ctx), timeout_s=timeout_s, heartbeat=heartbeat, expect_version=version
        )
        return self.status(ctx)

    def set_weight(self, ctx: Ctx, weight: int) -> DeploymentStatus:
        canary = ctx.get_deployment(self.canary_name(ctx))
        if canary is None and weight == 0:
            return self.status(ctx)  # nothing to take traffic from
        if canary is None or (replicas_of(canary) == 0 and weight > 0):
            raise PlatformError(
                f"no canary of '{ctx.service}' runs in namespace '{ctx.namespace}' on cluster "
                f"'{ctx.kube.cluster}'; deploy a version before setting a weight",
                retryable=False,
            )
        self._traffic(ctx, weight)
        return self.status(ctx)

    def _traffic(self, ctx: Ctx, weight: int) -> None:
        if not self.replica_mode:
            self.router.set_weight(ctx, weight)
            return
        stable_name, canary_name = self.stable_name(ctx), self.canary_name(ctx)
        if weight == 0:
            # Selector first: from this write on, no user request reaches the canary.
            self.replica_router.set_open(ctx, False)
            ctx.scale(stable_name, self.cfg.replicas)
            if replicas_of(ctx.get_deployment(canary_name)) > 0:  # a retired canary stays at 0
                ctx.scale(canary_name, self._warm_canary_replicas())
            return
        canary_n, stable_n = replica_split(self.cfg.replicas, weight)
        stable = ctx.get_deployment(stable_name)
        canary = ctx.get_deployment(canary_name)
        # Grow before shrinking so capacity never dips: scale up, wait, then scale down.
        if replicas_of(canary) < canary_n:
            ctx.scale(canary_name, canary_n)
            ctx.wait(canary_name)
        if stable is not None and replicas_of(stable) < stable_n:
            ctx.scale(stable_name, stable_n)
            ctx.wait(stable_name)
        ctx.scale(canary_name, canary_n)
        if stable is not None:
            ctx.scale(stable_name, stable_n)
        self.replica_router.set_open(ctx, True)

    def promote(self, ctx: Ctx) -> DeploymentStatus:
        stable_name, canary_name = self.stable_name(ctx), self.canary_name(ctx)
        canary = ctx.get_deployment(canary_name)
        stable = ctx.get_deployment(stable_name)
        if canary is None or replicas_of(canary) == 0:
            if (
                canary is not None
                and stable is not None
                and version_of(stable) == version_of(canary)
            ):
                return self.status(ctx)  # promoted already
            raise PlatformError(
                f"no canary of '{ctx.service}' to promote in namespace '{ctx.namespace}' on "
                f"cluster '{ctx.kube.cluster}'",
                retryable=False,
            )
        template = relabel_template(canary["spec"]["template"], self._selector(ctx, "stable"))
        artifact = template_annotations(canary).get(ARTIFACT_ANNOTATION, "")
        if artifact:
            idx = container_index(template, self.cfg.container, f"Deployment '{canary_name}'")
            template["spec"]["containers"][idx]["image"] = image_for(artifact)

        def build(cur: Obj | None) -> Obj:
            if cur is None:
                return deployment_body(
                    service=ctx.service,
                    selector=self._selector(ctx, "stable"),
                    template=template,
                    replicas=self.cfg.replicas,
                    cfg=self.cfg,
                )
            cur["spec"]["template"] = template
            cur["spec"]["replicas"] = self.cfg.replicas
            cur["metadata"].setdefault("annotations", {}).pop(UNDONE_ANNOTATION, None)
            sync_deployment_annotations(cur)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, stable_name, build)
        ctx.wait(stable_name)
        # Stable now runs the new version: all traffic to it, then retire the canary.
        if self.replica_mode:
            self.replica_router.set_open(ctx, False)
        else:
            self.router.set_weight(ctx, 0)
        ctx.scale(canary_name, 0)
        return self.status(ctx)

    def rollback(self, ctx: Ctx) -> DeploymentStatus:
        stable_name, canary_name = self.stable_name(ctx), self.canary_name(ctx)
        # First write: 100 % of traffic to stable (a Service selector or a route).
        if self.replica_mode:
            self.replica_router.set_open(ctx, False)
            ctx.scale(stable_name, self.cfg.replicas)
        else:
            self.router.set_weight(ctx, 0)
        ctx.scale(canary_name, 0)
        return self.status(ctx)

    def undo(self, ctx: Ctx, to_version: str | None) -> DeploymentStatus:
        apply_undo(ctx, self.stable_name(ctx), to_version, self._selector(ctx, "stable"))
        return self.status(ctx)

    def status(self, ctx: Ctx) -> DeploymentStatus:
        stable = ctx.get_deployment(self.stable_name(ctx))
        canary = ctx.get_deployment(self.canary_name(ctx))
        active_canary = canary if canary is not None and replicas_of(canary) > 0 else None
        weight = 0
        message = ""
        if active_canary is not None:
            if self.replica_mode:
                if self.replica_router.is_open(ctx):
                    weight = effective_weight(replicas_of(active_canary), replicas_of(stable))
                    message = (
                        f"replica ratio {replicas_of(active_canary)}:{replicas_of(stable)} "
                        f"(weight step {self.cfg.weight_granularity}%)"
                    )
            else:
                weight = self.router.weight(ctx) or 0
        result = DeploymentStatus(
            target=ctx.target,
            frontend_url=self.cfg.frontend_url
            or service_url(ctx.name(self.opts.stable_service), ctx.namespace, self.cfg),
        )
        if stable is not None:
            result.stable = ctx.version_status(
                stable,
                "stable",
                100 - weight if active_canary is not None else 100,
                service_url(ctx.name(self.opts.stable_service), ctx.namespace, self.cfg),
            )
            prev = previous_revision(
                stable, revisions(ctx.kube, ctx.namespace, stable, self.cfg.container)
            )
            result.previous_stable = prev.version if prev else None
        if active_canary is not None:
            result.canary = ctx.version_status(
                active_canary,
                "canary",
                weight,
                service_url(ctx.name(self.opts.canary_service), ctx.namespace, self.cfg),
                message,
            )
        return result


def apply_undo(ctx: Ctx, name: str, to_version: str | None, labels: dict[str, str]) -> None:
    """Return Deployment `name` to `undo_template`'s template (marking what it left), wait."""
    template = undo_template(ctx, name, to_version, labels)
    if template is not None:
        leaving = version_of(ctx.get_deployment(name)) or ""

        def build(cur: Obj | None) -> Obj:
            if cur is None:
                raise PlatformError(f"Deployment '{name}' disappeared", retryable=True)
            cur["spec"]["template"] = template
            cur["metadata"].setdefault("annotations", {})[UNDONE_ANNOTATION] = leaving
            sync_deployment_annotations(cur)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, name, build)
    ctx.wait(name)


def undo_template(
    ctx: Ctx, name: str, to_version: str | None, labels: dict[str, str]
) -> Obj | None:
    """The pod template `undo` returns Deployment `name` to; None if already there.

    Without `to_version`: the newest older ReplicaSet revision (as `kubectl rollout
    undo`). With it: the newest revision running that version (or image); an image
    reference not in the history is set directly.
    """
    dep = ctx.kube.require(DEPLOYMENT, ctx.namespace, name, hint="nothing to undo")
    history = revisions(ctx.kube, ctx.namespace, dep, ctx.cfg.container)
    current = version_of(dep)
    where = f"Deployment '{name}' in namespace '{ctx.namespace}' on cluster '{ctx.kube.cluster}'"
    if to_version is not None:
        if to_version in (current, image_of(dep, ctx.cfg.container)):
            return None
        for rev in history:
            if to_version in (rev.version, rev.image):
                return relabel_template(rev.template, labels)
        if looks_like_image(to_version):
            base = dep["spec"]["template"]
            return make_template(
                base,
                labels=labels,
                image=image_for(to_version),
                version=to_version,
                artifact=to_version,
                commit="",
                container=ctx.cfg.container,
                where=where,
            )
        known = ", ".join(sorted({r.version or r.image for r in history})) or "none"
        raise PlatformError(
            f"{where}: version '{to_version}' is not in the revision history (known: {known}); "
            "pass an image reference (repo@sha256:…) to run it anyway",
            retryable=False,
        )
    prev = previous_revision(dep, history)
    undone = (dep.get("metadata") or {}).get("annotations", {}).get(UNDONE_ANNOTATION)
    if prev is None:
        if undone:
            return None  # undone already, and nothing older to return to
        raise PlatformError(f"{where} has no previous revision to return to", retryable=False)
    if undone and prev.version == undone:
        return None  # a retried undo: we already left that version
    return relabel_template(prev.template, labels)
