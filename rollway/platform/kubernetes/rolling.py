"""Rolling: one Deployment `<service>` updated by its own RollingUpdate.

`deploy` starts the rollout and remembers the version it rolls from (annotation
`rollway.dev/rolling-from`); `wait_ready` watches it to completion; `set_weight`
cannot steer it (no-op); `promote` forgets the old version; `rollback` rolls
back to it (as `kubectl rollout undo`) and waits.
"""

from __future__ import annotations

from rollway.platform.base import (
    DeploymentStatus,
    DeployRequest,
    Heartbeat,
    PlatformError,
    VersionStatus,
)
from rollway.platform.kubernetes.canary import apply_undo
from rollway.platform.kubernetes.client import DEPLOYMENT, Obj
from rollway.platform.kubernetes.config import KubernetesPlatformConfig
from rollway.platform.kubernetes.objects import (
    NAME_LABEL,
    REVISION_ANNOTATION,
    TRACK_LABEL,
    UNDONE_ANNOTATION,
    annotations_of,
    deployment_body,
    image_for,
    image_of,
    make_template,
    minimal_template,
    previous_revision,
    progress,
    progress_deadline_seconds,
    relabel_template,
    revisions,
    service_url,
    sync_deployment_annotations,
    version_of,
)
from rollway.platform.kubernetes.strategy import Ctx

FROM_ANNOTATION = "rollway.dev/rolling-from"
FROM_REVISION_ANNOTATION = "rollway.dev/rolling-from-revision"


class RollingStrategy:
    """The `rolling` strategy."""

    def __init__(self, cfg: KubernetesPlatformConfig) -> None:
        self.cfg = cfg
        self.opts = cfg.rolling_options

    def _labels(self, ctx: Ctx) -> dict[str, str]:
        return {NAME_LABEL: ctx.service, TRACK_LABEL: "stable"}

    def _strategy(self) -> Obj:
        return {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "maxSurge": self.opts.max_surge,
                "maxUnavailable": self.opts.max_unavailable,
            },
        }

    def deploy(self, ctx: Ctx, request: DeployRequest) -> DeploymentStatus:
        name = ctx.service
        image = image_for(request.artifact)
        dep = ctx.get_deployment(name)
        if (
            dep is not None
            and version_of(dep) == request.version
            and image_of(dep, self.cfg.container) == image
        ):
            return self.status(ctx)
        ctx.ensure_service(ctx.service, self._labels(ctx))
        base = (dep or {}).get("spec", {}).get("template") or minimal_template(
            self.cfg, ctx.service
        )
        template = make_template(
            base,
            labels=self._labels(ctx),
            image=image,
            version=request.version,
            artifact=request.artifact,
            commit=request.commit,
            container=self.cfg.container,
            where=f"Deployment '{name}'",
        )

        def build(cur: Obj | None) -> Obj:
            if cur is None:
                return deployment_body(
                    service=ctx.service,
                    selector=self._labels(ctx),
                    template=template,
                    replicas=self.cfg.replicas,
                    cfg=self.cfg,
                    strategy=self._strategy(),
                )
            ann = cur["metadata"].setdefault("annotations", {})
            if FROM_ANNOTATION not in ann:  # keep the original if a rollout is in flight
                ann[FROM_ANNOTATION] = version_of(cur) or ""
                ann[FROM_REVISION_ANNOTATION] = ann.get(REVISION_ANNOTATION, "")
            ann.pop(UNDONE_ANNOTATION, None)
            cur["spec"]["template"] = template
            cur["spec"]["strategy"] = self._strategy()
            cur["spec"]["progressDeadlineSeconds"] = progress_deadline_seconds(self.cfg)
            sync_deployment_annotations(cur)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, name, build)
        return self.status(ctx)

    def wait_ready(
        self, ctx: Ctx, version: str, timeout_s: float, heartbeat: Heartbeat
    ) -> DeploymentStatus:
        ctx.wait(ctx.service, timeout_s=timeout_s, heartbeat=heartbeat, expect_version=version)
        return self.status(ctx)

    def set_weight(self, ctx: Ctx, weight: int) -> DeploymentStatus:
        ctx.kube.require(DEPLOYMENT, ctx.namespace, ctx.service, hint="deploy a version first")
        return self.status(ctx)

    def promote(self, ctx: Ctx) -> DeploymentStatus:
        ctx.wait(ctx.service)

        def build(cur: Obj | None) -> Obj | None:
            if cur is None:
                return None
            ann = cur["metadata"].setdefault("annotations", {})
            ann.pop(FROM_ANNOTATION, None)
            ann.pop(FROM_REVISION_ANNOTATION, None)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, ctx.service, build)
        return self.status(ctx)

    def rollback(self, ctx: Ctx) -> DeploymentStatus:
        name = ctx.service
        dep = ctx.get_deployment(name)
        ann = annotations_of(dep)
        if dep is None or FROM_ANNOTATION not in ann:
            return self.status(ctx)  # nothing in flight
        from_version = ann[FROM_ANNOTATION]
        from_revision = ann.get(FROM_REVISION_ANNOTATION, "")
        template: Obj | None = None
        if from_version:
            history = revisions(ctx.kube, ctx.namespace, dep, self.cfg.container)
            match = [r for r in history if str(r.number) == from_revision] or [
                r for r in history if r.version == from_version
            ]
            if not match:
                raise PlatformError(
                    f"Deployment '{name}' in namespace '{ctx.namespace}' on cluster "
                    f"'{ctx.kube.cluster}': no ReplicaSet of version '{from_version}' is left "
                    "to roll back to (revisionHistoryLimit too low?); use undo with an image",
                    retryable=False,
                )
            template = relabel_template(match[0].template, self._labels(ctx))

        def build(cur: Obj | None) -> Obj | None:
            if cur is None:
                return None
            if template is None:
                cur["spec"]["replicas"] = 0  # the very first version: nothing to return to
            else:
                cur["spec"]["template"] = template
            cann = cur["metadata"].setdefault("annotations", {})
            cann.pop(FROM_ANNOTATION, None)
            cann.pop(FROM_REVISION_ANNOTATION, None)
            sync_deployment_annotations(cur)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, name, build)  # first write: the way back
        ctx.wait(name)
        return self.status(ctx)

    def undo(self, ctx: Ctx, to_version: str | None) -> DeploymentStatus:
        apply_undo(ctx, ctx.service, to_version, self._labels(ctx))
        return self.status(ctx)

    def status(self, ctx: Ctx) -> DeploymentStatus:
        dep = ctx.get_deployment(ctx.service)
        url = service_url(ctx.service, ctx.namespace, self.cfg)
        result = DeploymentStatus(target=ctx.target, frontend_url=self.cfg.frontend_url or url)
        if dep is None:
            return result
        ann = annotations_of(dep)
        if ann.get(FROM_ANNOTATION):
            state = progress(dep)
            total = max(state.desired, int((dep.get("status") or {}).get("replicas") or 0), 1)
            weight = round(100 * min(state.updated, total) / total)
            result.canary = ctx.version_status(
                dep, "canary", weight, url, message=f"rolling update: {state.summary}"
            )
            result.stable = VersionStatus(
                version=ann[FROM_ANNOTATION],
                role="stable",
                ready=True,
                desired=max(0, total - state.updated),
                available=max(0, total - state.updated),
                weight=100 - weight,
                endpoint=url,
            )
            result.previous_stable = ann[FROM_ANNOTATION]
            return result
        result.stable = ctx.version_status(dep, "stable", 100, url)
        prev = previous_revision(dep, revisions(ctx.kube, ctx.namespace, dep, self.cfg.container))
        result.previous_stable = prev.version if prev else None
        return result
