"""Blue-green: Deployments `<service>-blue` and `<service>-green`.

The active Service selects one color (`rollway.dev/color`) and records the
promoted one in the annotation `rollway.dev/stable-color`; the preview Service
selects the new color. `set_weight(100)` (or `promote`) switches the active
selector in one write; 0 < weight < 100 is held on preview (no write). After
`promote` the old color stays scaled for `scale_down_delay` (instant `undo`),
then any later call for the target (`status` included) scales it to 0.
"""

from __future__ import annotations

import datetime
import time

from rollway.platform.base import DeploymentStatus, DeployRequest, Heartbeat, PlatformError
from rollway.platform.kubernetes.client import DEPLOYMENT, SERVICE, Obj
from rollway.platform.kubernetes.config import KubernetesPlatformConfig
from rollway.platform.kubernetes.objects import (
    COLOR_LABEL,
    NAME_LABEL,
    annotations_of,
    deployment_body,
    image_for,
    image_of,
    looks_like_image,
    make_template,
    minimal_template,
    progress_deadline_seconds,
    relabel_template,
    replicas_of,
    service_body,
    service_url,
    sync_deployment_annotations,
    version_of,
)
from rollway.platform.kubernetes.strategy import Ctx

STABLE_COLOR_ANNOTATION = "rollway.dev/stable-color"
SCALE_DOWN_AT_ANNOTATION = "rollway.dev/scale-down-at"
UNDONE_ANNOTATION = "rollway.dev/undone-version"
COLORS = ("blue", "green")
NO_COLOR = "none"
"""Selector value matching no pods: the active Service before any promotion."""


def _timestamp(epoch: float) -> str:
    """RFC 3339 UTC with milliseconds, e.g. `2026-05-01T12:00:30.250Z`."""
    dt = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _parse_timestamp(text: str) -> float:
    """Epoch seconds of `_timestamp` output; 0 (due now) if unreadable."""
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def other(color: str | None) -> str:
    return "green" if color == "blue" else "blue"


class BlueGreenStrategy:
    """The `blue-green` strategy."""

    def __init__(self, cfg: KubernetesPlatformConfig) -> None:
        self.cfg = cfg
        self.opts = cfg.blue_green_options

    # --- helpers -----------------------------------------------------------------------

    def dep_name(self, ctx: Ctx, color: str) -> str:
        return f"{ctx.service}-{color}"

    def _labels(self, ctx: Ctx, color: str) -> dict[str, str]:
        return {NAME_LABEL: ctx.service, COLOR_LABEL: color}

    def _active(self, ctx: Ctx) -> Obj | None:
        return ctx.kube.get(SERVICE, ctx.namespace, ctx.name(self.opts.active_service))

    @staticmethod
    def _stable_color(svc: Obj | None) -> str | None:
        color = annotations_of(svc).get(STABLE_COLOR_ANNOTATION)
        return color if color in COLORS else None

    @staticmethod
    def _live_color(svc: Obj | None) -> str | None:
        if svc is None:
            return None
        color = ((svc.get("spec") or {}).get("selector") or {}).get(COLOR_LABEL)
        return color if color in COLORS else None

    def _switch(
        self, ctx: Ctx, live: str, *, stable: str | None = None, undone: str | None = None
    ) -> None:
        """One write on the active Service: selector (and, on promote/undo, the annotations)."""

        def build(cur: Obj | None) -> Obj:
            if cur is None:
                cur = service_body(service=ctx.service, selector={}, cfg=self.cfg)
            cur.setdefault("spec", {})["selector"] = self._labels(ctx, live)
            ann = cur.setdefault("metadata", {}).setdefault("annotations", {})
            if stable is not None:
                ann[STABLE_COLOR_ANNOTATION] = stable
                if undone is None:
                    ann.pop(UNDONE_ANNOTATION, None)
                else:
                    ann[UNDONE_ANNOTATION] = undone
            return cur

        ctx.kube.apply(SERVICE, ctx.namespace, ctx.name(self.opts.active_service), build)

    def _retire(self, ctx: Ctx, color: str) -> None:
        """Keep `color` scaled for the delay (instant undo), then scale it down."""
        delay = self.opts.scale_down_delay.total_seconds()
        if delay <= 0:
            self._set_replicas(ctx, color, 0)
            return
        at = _timestamp(time.time() + delay)

        def build(cur: Obj | None) -> Obj | None:
            if cur is None or replicas_of(cur) == 0:
                return None
            ann = cur["metadata"].setdefault("annotations", {})
            ann.setdefault(SCALE_DOWN_AT_ANNOTATION, at)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, self.dep_name(ctx, color), build)

    def _set_replicas(self, ctx: Ctx, color: str, replicas: int) -> None:
        def build(cur: Obj | None) -> Obj | None:
            if cur is None:
                return None
            cur["spec"]["replicas"] = replicas
            cur["metadata"].setdefault("annotations", {}).pop(SCALE_DOWN_AT_ANNOTATION, None)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, self.dep_name(ctx, color), build)

    def reap(self, ctx: Ctx) -> None:
        """Scale down a retired color whose delay has passed (never the live one)."""
        live = self._live_color(self._active(ctx))
        for color in COLORS:
            if color == live:
                continue
            dep = ctx.get_deployment(self.dep_name(ctx, color))
            at = annotations_of(dep).get(SCALE_DOWN_AT_ANNOTATION)
            if dep is not None and at is not None:
                due = _parse_timestamp(at) <= time.time()
                if due:
                    self._set_replicas(ctx, color, 0)

    def _candidate(self, ctx: Ctx, stable: str | None) -> str:
        return other(stable) if stable else "blue"

    # --- operations ------------------------------------------------------------------

    def deploy(self, ctx: Ctx, request: DeployRequest) -> DeploymentStatus:
        self.reap(ctx)
        svc = self._active(ctx)
        stable = self._stable_color(svc)
        color = self._candidate(ctx, stable)
        name = self.dep_name(ctx, color)
        dep = ctx.get_deployment(name)
        image = image_for(request.artifact)
        if (
            dep is not None
            and version_of(dep) == request.version
            and image_of(dep, self.cfg.container) == image
            and replicas_of(dep) > 0
            and SCALE_DOWN_AT_ANNOTATION not in annotations_of(dep)
        ):
            return self.status(ctx)
        if svc is not None and self._live_color(svc) == color:
            self._switch(ctx, stable or NO_COLOR)  # unpromoted switch: back to stable first
        base_dep = ctx.get_deployment(self.dep_name(ctx, stable)) if stable else None
        base = (base_dep or {}).get("spec", {}).get("template") or minimal_template(
            self.cfg, ctx.service
        )
        template = make_template(
            base,
            labels=self._labels(ctx, color),
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
                    selector=self._labels(ctx, color),
                    template=template,
                    replicas=self.cfg.replicas,
                    cfg=self.cfg,
                )
            cur["spec"]["template"] = template
            cur["spec"]["replicas"] = self.cfg.replicas
            cur["spec"]["progressDeadlineSeconds"] = progress_deadline_seconds(self.cfg)
            cur["metadata"].setdefault("annotations", {}).pop(SCALE_DOWN_AT_ANNOTATION, None)
            sync_deployment_annotations(cur)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, name, build)
        ctx.ensure_service(ctx.name(self.opts.preview_service), self._labels(ctx, color))
        return self.status(ctx)

    def wait_ready(
        self, ctx: Ctx, version: str, timeout_s: float, heartbeat: Heartbeat
    ) -> DeploymentStatus:
        stable = self._stable_color(self._active(ctx))
        color = self._candidate(ctx, stable)
        ctx.wait(
            self.dep_name(ctx, color),
            timeout_s=timeout_s,
            heartbeat=heartbeat,
            expect_version=version,
        )
        return self.status(ctx)

    def set_weight(self, ctx: Ctx, weight: int) -> DeploymentStatus:
        self.reap(ctx)
        stable = self._stable_color(self._active(ctx))
        color = self._candidate(ctx, stable)
        dep = ctx.get_deployment(self.dep_name(ctx, color))
        if dep is None or replicas_of(dep) == 0:
            raise PlatformError(
                f"no new color of '{ctx.service}' runs in namespace '{ctx.namespace}' on cluster "
                f"'{ctx.kube.cluster}'; deploy a version before setting a weight",
                retryable=False,
            )
        if weight >= 100:
            ctx.wait(self.dep_name(ctx, color))
            self._switch(ctx, color)
        elif weight <= 0:
            if self._active(ctx) is not None:
                self._switch(ctx, stable or NO_COLOR)
        else:
            return self.status(
                ctx, f"blue-green: weight {weight}% held on preview (only 0 and 100 switch)"
            )
        return self.status(ctx)

    def promote(self, ctx: Ctx) -> DeploymentStatus:
        self.reap(ctx)
        svc = self._active(ctx)
        stable = self._stable_color(svc)
        color = self._candidate(ctx, stable)
        dep = ctx.get_deployment(self.dep_name(ctx, color))
        if dep is None or replicas_of(dep) == 0 or SCALE_DOWN_AT_ANNOTATION in annotations_of(dep):
            if stable is not None:
                return self.status(ctx)  # promoted already
            raise PlatformError(
                f"nothing to promote for '{ctx.service}' in namespace '{ctx.namespace}' on "
                f"cluster '{ctx.kube.cluster}'; deploy a version first",
                retryable=False,
            )
        ctx.wait(self.dep_name(ctx, color))
        self._switch(ctx, color, stable=color)  # the one write users notice
        if stable is not None:
            self._retire(ctx, stable)
        return self.status(ctx)

    def rollback(self, ctx: Ctx) -> DeploymentStatus:
        svc = self._active(ctx)
        stable = self._stable_color(svc)
        color = self._candidate(ctx, stable)
        if svc is not None and self._live_color(svc) != stable:
            self._switch(ctx, stable or NO_COLOR)  # first write: traffic back to stable
        self._set_replicas(ctx, color, 0)
        self.reap(ctx)
        return self.status(ctx)

    def undo(self, ctx: Ctx, to_version: str | None) -> DeploymentStatus:
        self.reap(ctx)
        svc = self._active(ctx)
        stable = self._stable_color(svc)
        where = f"'{ctx.service}' in namespace '{ctx.namespace}' on cluster '{ctx.kube.cluster}'"
        if stable is None:
            raise PlatformError(f"nothing to undo for {where}: never promoted", retryable=False)
        current = ctx.get_deployment(self.dep_name(ctx, stable))
        back = other(stable)
        back_name = self.dep_name(ctx, back)
        back_dep = ctx.get_deployment(back_name)
        cur_version = version_of(current)
        back_version = version_of(back_dep)
        template: Obj | None = None
        if to_version is None:
            if back_dep is None or back_version == cur_version:
                raise PlatformError(
                    f"no previous version to return to for {where}", retryable=False
                )
            if annotations_of(svc).get(UNDONE_ANNOTATION) == back_version:
                return self.status(ctx)  # a retried undo
        elif to_version in (cur_version, image_of(current, self.cfg.container)):
            return self.status(ctx)
        elif back_dep is not None and to_version in (
            back_version,
            image_of(back_dep, self.cfg.container),
        ):
            pass
        elif looks_like_image(to_version) and current is not None:
            template = make_template(
                current["spec"]["template"],
                labels=self._labels(ctx, back),
                image=image_for(to_version),
                version=to_version,
                artifact=to_version,
                commit="",
                container=self.cfg.container,
                where=f"Deployment '{back_name}'",
            )
        else:
            raise PlatformError(
                f"version '{to_version}' of {where} is neither running nor kept in color "
                f"'{back}'; pass an image reference (repo@sha256:…) to run it",
                retryable=False,
            )
        if back_dep is None and template is None:
            raise PlatformError(f"no previous version to return to for {where}", retryable=False)

        def build(cur: Obj | None) -> Obj:
            if cur is None:
                assert template is not None
                return deployment_body(
                    service=ctx.service,
                    selector=self._labels(ctx, back),
                    template=template,
                    replicas=self.cfg.replicas,
                    cfg=self.cfg,
                )
            if template is not None:
                cur["spec"]["template"] = relabel_template(template, self._labels(ctx, back))
                sync_deployment_annotations(cur)
            cur["spec"]["replicas"] = self.cfg.replicas
            cur["metadata"].setdefault("annotations", {}).pop(SCALE_DOWN_AT_ANNOTATION, None)
            return cur

        ctx.kube.apply(DEPLOYMENT, ctx.namespace, back_name, build)
        ctx.wait(back_name)  # instant when the old color was still scaled
        self._switch(ctx, back, stable=back, undone=cur_version or "")
        self._retire(ctx, stable)
        return self.status(ctx)

    def status(self, ctx: Ctx, message: str = "") -> DeploymentStatus:
        self.reap(ctx)
        svc = self._active(ctx)
        stable = self._stable_color(svc)
        live = self._live_color(svc)
        color = self._candidate(ctx, stable)
        result = DeploymentStatus(
            target=ctx.target,
            frontend_url=self.cfg.frontend_url
            or service_url(ctx.name(self.opts.active_service), ctx.namespace, self.cfg),
        )
        stable_dep = ctx.get_deployment(self.dep_name(ctx, stable)) if stable else None
        cand_dep = ctx.get_deployment(self.dep_name(ctx, color))
        active_candidate = (
            cand_dep is not None
            and replicas_of(cand_dep) > 0
            and SCALE_DOWN_AT_ANNOTATION not in annotations_of(cand_dep)
        )
        if stable_dep is not None:
            result.stable = ctx.version_status(
                stable_dep,
                "stable",
                100 if live == stable else 0,
                service_url(ctx.name(self.opts.active_service), ctx.namespace, self.cfg),
            )
        if cand_dep is not None and active_candidate:
            result.canary = ctx.version_status(
                cand_dep,
                "canary",
                100 if live == color else 0,
                service_url(ctx.name(self.opts.preview_service), ctx.namespace, self.cfg),
                message,
            )
        elif cand_dep is not None and stable is not None:
            result.previous_stable = version_of(cand_dep)
        return result
