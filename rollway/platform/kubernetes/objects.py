"""Building and reading Deployments and Services; readiness; revision history."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rollway.platform.base import Heartbeat, PlatformError
from rollway.platform.kubernetes.client import DEPLOYMENT, REPLICASET, KubeClient, Obj
from rollway.platform.kubernetes.config import KubernetesPlatformConfig

NAME_LABEL = "app.kubernetes.io/name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
TRACK_LABEL = "rollway.dev/track"
COLOR_LABEL = "rollway.dev/color"
VERSION_ANNOTATION = "rollway.dev/version"
ARTIFACT_ANNOTATION = "rollway.dev/artifact"
COMMIT_ANNOTATION = "rollway.dev/commit"
UNDONE_ANNOTATION = "rollway.dev/undone-version"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"


def is_digest_pinned(artifact: str) -> bool:
    """`repo@sha256:<64 hex>` (optionally `repo:tag@sha256:…`)."""
    _, sep, digest = artifact.partition("@")
    return bool(sep) and digest.startswith("sha256:") and len(digest) == 71


def image_for(artifact: str) -> str:
    """The image to run for an artifact: the digest form when there is one.

    `repo:tag@sha256:…` runs as `repo@sha256:…` (the tag is informative only).
    """
    if is_digest_pinned(artifact):
        repo, _, digest = artifact.partition("@")
        last = repo.rsplit("/", 1)[-1]
        if ":" in last:
            repo = repo[: repo.rfind(":")]
        return f"{repo}@{digest}"
    return artifact


def looks_like_image(text: str) -> bool:
    return "/" in text or "@" in text or ":" in text


def annotations_of(obj: Obj | None) -> dict[str, str]:
    if not obj:
        return {}
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def template_annotations(dep: Obj | None) -> dict[str, str]:
    if not dep:
        return {}
    meta = ((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return dict(meta.get("annotations") or {})


def version_of(dep: Obj | None) -> str | None:
    """The version a Deployment (or ReplicaSet) runs, from its pod template."""
    return template_annotations(dep).get(VERSION_ANNOTATION)


def replicas_of(dep: Obj | None) -> int:
    if not dep:
        return 0
    value = (dep.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def container_index(template: Obj, container: str | None, where: str) -> int:
    containers = (template.get("spec") or {}).get("containers") or []
    if not containers:
        raise PlatformError(f"{where}: the pod template has no containers", retryable=False)
    if container is None:
        return 0
    for i, c in enumerate(containers):
        if c.get("name") == container:
            return i
    names = ", ".join(str(c.get("name")) for c in containers)
    raise PlatformError(
        f"{where}: no container named '{container}' (containers: {names}); fix 'container' in "
        "the platform config",
        retryable=False,
    )


def image_of(dep: Obj | None, container: str | None) -> str:
    if not dep:
        return ""
    template = (dep.get("spec") or {}).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    if not containers:
        return ""
    for c in containers:
        if container is None or c.get("name") == container:
            return str(c.get("image") or "")
    return ""


def minimal_template(cfg: KubernetesPlatformConfig, service: str) -> Obj:
    """A pod template for a service's first version (no stable to copy from)."""
    return {
        "metadata": {"labels": {NAME_LABEL: service}},
        "spec": {
            "containers": [
                {
                    "name": cfg.container or service,
                    "image": "",
                    "ports": [{"name": "http", "containerPort": cfg.container_port}],
                }
            ]
        },
    }


def make_template(
    base: Obj,
    *,
    labels: dict[str, str],
    image: str,
    version: str,
    artifact: str,
    commit: str,
    container: str | None,
    where: str,
) -> Obj:
    """Copy `base` with pod labels, image and version annotations set."""
    template = copy.deepcopy(base)
    meta = template.setdefault("metadata", {})
    meta.setdefault("labels", {})
    meta["labels"].pop(POD_TEMPLATE_HASH, None)
    meta["labels"].update(labels)
    ann = meta.setdefault("annotations", {})
    ann[VERSION_ANNOTATION] = version
    ann[ARTIFACT_ANNOTATION] = artifact
    if commit:
        ann[COMMIT_ANNOTATION] = commit
    else:
        ann.pop(COMMIT_ANNOTATION, None)
    idx = container_index(template, container, where)
    template["spec"]["containers"][idx]["image"] = image
    return template


def relabel_template(base: Obj, labels: dict[str, str]) -> Obj:
    template = copy.deepcopy(base)
    meta = template.setdefault("metadata", {})
    meta.setdefault("labels", {})
    meta["labels"].pop(POD_TEMPLATE_HASH, None)
    meta["labels"].update(labels)
    return template


def deployment_body(
    *,
    service: str,
    selector: dict[str, str],
    template: Obj,
    replicas: int,
    cfg: KubernetesPlatformConfig,
    strategy: Obj | None = None,
) -> Obj:
    """A new Deployment (name and namespace are set by `KubeClient.apply`)."""
    ann = template.get("metadata", {}).get("annotations", {})
    body: Obj = {
        "metadata": {
            "labels": {NAME_LABEL: service, MANAGED_BY_LABEL: "rollway", **selector},
            "annotations": {
                k: v
                for k, v in ann.items()
                if k in (VERSION_ANNOTATION, ARTIFACT_ANNOTATION, COMMIT_ANNOTATION)
            },
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            "template": template,
            "progressDeadlineSeconds": progress_deadline_seconds(cfg),
            "revisionHistoryLimit": 10,
        },
    }
    if strategy is not None:
        body["spec"]["strategy"] = strategy
    return body


def progress_deadline_seconds(cfg: KubernetesPlatformConfig) -> int:
    return max(1, math.ceil(cfg.progress_deadline.total_seconds()))


def sync_deployment_annotations(dep: Obj) -> None:
    """Mirror the template's version annotations on the Deployment itself (for kubectl)."""
    ann = dep.setdefault("metadata", {}).setdefault("annotations", {})
    tann = template_annotations(dep)
    for key in (VERSION_ANNOTATION, ARTIFACT_ANNOTATION, COMMIT_ANNOTATION):
        if key in tann:
            ann[key] = tann[key]
        else:
            ann.pop(key, None)


def service_body(*, service: str, selector: dict[str, str], cfg: KubernetesPlatformConfig) -> Obj:
    return {
        "metadata": {"labels": {NAME_LABEL: service, MANAGED_BY_LABEL: "rollway"}},
        "spec": {
            "selector": dict(selector),
            "ports": [
                {
                    "name": "http",
                    "port": cfg.service_port,
                    "targetPort": cfg.container_port,
                    "protocol": "TCP",
                }
            ],
        },
    }


def service_url(name: str, namespace: str, cfg: KubernetesPlatformConfig) -> str:
    port = "" if cfg.service_port == 80 else f":{cfg.service_port}"
    return f"http://{name}.{namespace}.svc.cluster.local{port}"


# --- readiness -------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A Deployment's rollout state, as `kubectl rollout status` judges it."""

    ready: bool
    failed: str | None
    desired: int
    updated: int
    available: int
    summary: str


def progress(dep: Obj) -> Progress:
    """Ready = observedGeneration caught up, all replicas updated and available, none old."""
    meta = dep.get("metadata") or {}
    status = dep.get("status") or {}
    desired = replicas_of(dep)
    generation = int(meta.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    failed = None
    for cond in status.get("conditions") or []:
        # A condition from before our last change is stale until the controller catches up.
        if (
            cond.get("type") == "Progressing"
            and cond.get("reason") == "ProgressDeadlineExceeded"
            and observed >= generation
        ):
            failed = str(cond.get("message") or "progress deadline exceeded")
    name = meta.get("name", "?")
    if observed < generation:
        summary = f"{name}: waiting for the controller to observe generation {generation}"
        ready = False
    elif updated < desired:
        summary = f"{name}: {updated} of {desired} replicas updated"
        ready = False
    elif total > updated:
        summary = f"{name}: {total - updated} old replicas pending termination"
        ready = False
    elif available < desired:
        summary = f"{name}: {available} of {updated} updated replicas available"
        ready = False
    else:
        summary = f"{name}: {available}/{desired} ready"
        ready = True
    return Progress(ready and failed is None, failed, desired, updated, available, summary)


def wait_deployment(
    kube: KubeClient,
    namespace: str,
    name: str,
    *,
    timeout_s: float,
    poll_s: float,
    heartbeat: Heartbeat,
    expect_version: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Obj:
    """Poll until the Deployment is ready; fail on ProgressDeadlineExceeded or timeout."""
    deadline = time.monotonic() + timeout_s
    where = f"Deployment '{name}' in namespace '{namespace}' on cluster '{kube.cluster}'"
    while True:
        dep = kube.require(DEPLOYMENT, namespace, name)
        if expect_version is not None and version_of(dep) != expect_version:
            raise PlatformError(
                f"{where} runs version '{version_of(dep)}', not '{expect_version}'; "
                "deploy that version first",
                retryable=False,
            )
        state = progress(dep)
        if state.failed is not None:
            raise PlatformError(
                f"{where} failed: ProgressDeadlineExceeded: {state.failed}", retryable=False
            )
        if state.ready:
            return dep
        if time.monotonic() >= deadline:
            raise PlatformError(
                f"{where} not ready after {timeout_s:.0f}s: {state.summary}", retryable=False
            )
        heartbeat(state.summary)
        sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


# --- revision history (as `kubectl rollout undo`) -----------------------------------------


@dataclass(frozen=True)
class Revision:
    number: int
    version: str | None
    image: str
    template: Obj


def revisions(kube: KubeClient, namespace: str, dep: Obj, container: str | None) -> list[Revision]:
    """The Deployment's ReplicaSets, newest revision first."""
    selector = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    uid = (dep.get("metadata") or {}).get("uid")
    result: list[Revision] = []
    for rs in kube.list(REPLICASET, namespace, label_selector):
        owners = (rs.get("metadata") or {}).get("ownerReferences") or []
        if uid and not any(o.get("uid") == uid for o in owners):
            continue
        if not uid and not any(o.get("name") == dep["metadata"]["name"] for o in owners):
            continue
        raw = annotations_of(rs).get(REVISION_ANNOTATION)
        if raw is None or not raw.isdigit():
            continue
        template = relabel_template((rs.get("spec") or {}).get("template") or {}, {})
        result.append(Revision(int(raw), version_of(rs), image_of(rs, container), template))
    result.sort(key=lambda r: r.number, reverse=True)
    return result


def current_revision(dep: Obj, history: list[Revision]) -> int | None:
    raw = annotations_of(dep).get(REVISION_ANNOTATION)
    if raw and raw.isdigit():
        return int(raw)
    return history[0].number if history else None


def previous_revision(dep: Obj, history: list[Revision]) -> Revision | None:
    """The newest revision older than the current one running a different template."""
    current = current_revision(dep, history)
    template = (dep.get("spec") or {}).get("template") or {}
    for rev in history:
        if current is not None and rev.number >= current:
            continue
        if same_template(rev.template, template):
            continue
        return rev
    return None


def same_template(a: Obj, b: Obj) -> bool:
    def strip(t: Obj) -> Any:
        t = copy.deepcopy(t)
        (t.get("metadata") or {}).get("labels", {}).pop(POD_TEMPLATE_HASH, None)
        return t

    return bool(strip(a) == strip(b))
