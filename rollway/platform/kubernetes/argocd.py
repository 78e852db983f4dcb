"""Sync an Argo CD Application to a revision through the Kubernetes API.

As the argocd CLI does, the sync is requested by setting `operation.sync.revision`
on the Application resource; the Argo CD application controller runs it and
reports in `status`. Done means `status.sync.status == Synced`,
`status.health.status == Healthy` and `status.operationState.phase == Succeeded`
for our operation's revision.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection
from typing import Any

from kubernetes import client as k8s

from rollway.models import ArgoCDSyncResult
from rollway.platform.base import Heartbeat, PlatformError, no_heartbeat
from rollway.platform.kubernetes.client import APPLICATION, KubeClient, Obj

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
FAILED_PHASES = ("Failed", "Error")


def _get(obj: Obj, *path: str) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def _op_revision(app: Obj) -> str | None:
    rev = _get(app, "status", "operationState", "operation", "sync", "revision")
    return str(rev) if rev is not None else None


def _result(app: Obj, revision: str) -> ArgoCDSyncResult:
    meta = app.get("metadata") or {}
    return ArgoCDSyncResult(
        application=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        revision=revision,
        synced_revision=str(_get(app, "status", "sync", "revision") or ""),
        sync_status=str(_get(app, "status", "sync", "status") or ""),
        health_status=str(_get(app, "status", "health", "status") or ""),
        phase=str(_get(app, "status", "operationState", "phase") or ""),
        message=str(_get(app, "status", "operationState", "message") or ""),
    )


def _done(app: Obj, revision: str) -> bool:
    if _op_revision(app) != revision:
        return False
    if _get(app, "status", "operationState", "phase") != "Succeeded":
        return False
    if _get(app, "status", "sync", "status") != "Synced":
        return False
    if _get(app, "status", "health", "status") != "Healthy":
        return False
    return not (_SHA_RE.match(revision) and _get(app, "status", "sync", "revision") != revision)


def _messages(app: Obj) -> str:
    """The Application's own words: operation message, failed resources, health, conditions."""
    parts: list[str] = []
    op = _get(app, "status", "operationState") or {}
    if op:
        parts.append(f"operation {op.get('phase', '?')}: {op.get('message', '')}".strip())
        for res in _get(op, "syncResult", "resources") or []:
            if res.get("status") not in (None, "Synced") or res.get("hookPhase") in FAILED_PHASES:
                what = f"{res.get('kind')}/{res.get('name')}"
                parts.append(f"{what}: {res.get('status')} {res.get('message', '')}".strip())
    sync = _get(app, "status", "sync", "status")
    health = _get(app, "status", "health") or {}
    parts.append(
        f"sync {sync or 'Unknown'}, health {health.get('status', 'Unknown')}"
        + (f" ({health['message']})" if health.get("message") else "")
    )
    for cond in _get(app, "status", "conditions") or []:
        parts.append(f"{cond.get('type')}: {cond.get('message')}")
    return "; ".join(p for p in parts if p)


def sync_application(
    api_client: k8s.ApiClient | KubeClient,
    *,
    name: str,
    namespace: str,
    revision: str,
    timeout_s: float,
    poll_s: float = 2.0,
    heartbeat: Heartbeat = no_heartbeat,
    pin_target_revision: bool = True,
    allowed_namespaces: Collection[str] | None = None,
    cluster: str = "default",
    sleep: Callable[[float], None] = time.sleep,
) -> ArgoCDSyncResult:
    """Sync Application `namespace/name` to `revision` and wait until it is Synced and Healthy.

    Idempotent: an Application already synced at `revision` is left alone, and an
    operation for `revision` already in flight is waited for. Raises a retryable
    `PlatformError` if another revision's sync is running, a non-retryable one if the
    operation fails or `timeout_s` passes (with the Application's own messages).
    """
    if isinstance(api_client, KubeClient):
        kube = api_client
    else:
        kube = KubeClient(
            api_client, cluster=cluster, allowed_namespaces=allowed_namespaces or [namespace]
        )
    where = f"Argo CD Application '{name}' in namespace '{namespace}' on cluster '{kube.cluster}'"
    app = kube.require(APPLICATION, namespace, name, hint="check argocd.application")
    if _done(app, revision):
        return _result(app, revision)

    def build(cur: Obj | None) -> Obj:
        if cur is None:
            raise PlatformError(f"{where} disappeared", retryable=True)
        running = cur.get("operation")
        if running:
            rev = _get(running, "sync", "revision")
            if rev == revision:
                return cur  # our sync is queued already
            raise PlatformError(
                f"{where}: another sync (revision '{rev}') is in progress; retry when it ends",
                retryable=True,
            )
        if _get(cur, "status", "operationState", "phase") in ("Running", "Terminating"):
            raise PlatformError(
                f"{where}: an operation for revision '{_op_revision(cur)}' is still running",
                retryable=True,
            )
        if pin_target_revision:
            source = _get(cur, "spec", "source")
            if not isinstance(source, dict):
                raise PlatformError(
                    f"{where} has no spec.source (multi-source apps are not supported); set "
                    "argocd.pin_target_revision: false",
                    retryable=False,
                )
            source["targetRevision"] = revision
        cur["operation"] = {
            "initiatedBy": {"username": "rollway"},
            "info": [{"name": "Reason", "value": f"rollway: sync to {revision}"}],
            "sync": {"revision": revision},
        }
        return cur

    kube.apply(APPLICATION, namespace, name, build)
    deadline = time.monotonic() + timeout_s
    while True:
        app = kube.require(APPLICATION, namespace, name)
        if _done(app, revision):
            return _result(app, revision)
        phase = _get(app, "status", "operationState", "phase")
        if _op_revision(app) == revision and phase in FAILED_PHASES and not app.get("operation"):
            raise PlatformError(
                f"{where}: sync to '{revision}' failed: {_messages(app)}", retryable=False
            )
        if time.monotonic() >= deadline:
            raise PlatformError(
                f"{where} did not become Synced and Healthy at '{revision}' within "
                f"{timeout_s:.0f}s: {_messages(app)}",
                retryable=False,
            )
        heartbeat(f"{name}: {_messages(app)}")
        sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
