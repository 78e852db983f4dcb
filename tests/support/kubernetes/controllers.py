"""Test-side controllers for the emulator: what kube-controller-manager and Argo CD do.

A thread (or `step()` called by hand) that, through the same HTTP API as the
platform:

- Deployment controller: one ReplicaSet per pod-template hash (name
  `<deployment>-<hash>`, label `pod-template-hash`, owner reference), revision
  annotations as the real controller keeps them (a returning template's
  ReplicaSet gets the next revision, as after `kubectl rollout undo`), scaling the
  new ReplicaSet up and the old ones down once the new one is available, and the
  Deployment's status: observedGeneration, replicas, updated/ready/available
  replicas, conditions Available and Progressing - including
  `ProgressDeadlineExceeded` when no progress for `progressDeadlineSeconds`.
- ReplicaSet "pods": one pod becomes ready per tick, unless its image is marked
  unready for this cluster (a crash-looping or unpullable image).
- Argo CD application controller: runs `operation.sync`, removes `operation`, and
  reports `status.sync`, `status.health` and `status.operationState`.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import threading
import time
from typing import Any

from kubernetes import client as k8s

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"
REVISION = "deployment.kubernetes.io/revision"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def template_hash(template: Obj) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _raw(response: Any) -> Obj:
    return dict(json.loads(response.data))


class FakeControllers:
    """Deployment, ReplicaSet and Argo CD controllers for one emulated cluster."""

    def __init__(self, api_client: k8s.ApiClient, name: str, tick_s: float = 0.02) -> None:
        self.name = name
        self.apps = k8s.AppsV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)
        self.tick_s = tick_s
        self.unready_images: set[str] = set()
        self.argo_fail_revisions: set[str] = set()
        self.argo_hang_revisions: set[str] = set()
        self._progress: dict[tuple[str, str], tuple[str, float, tuple[int, ...]]] = {}
        self._exceeded: dict[tuple[str, str], str] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"ctrl-{name}", daemon=True)
        self.errors: list[BaseException] = []

    def start(self) -> FakeControllers:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # keep running; the test sees `errors`
                self.errors.append(exc)
            self._stop.wait(self.tick_s)

    def step(self) -> None:
        """One reconciliation pass over every Deployment and Application."""
        with self._lock:
            deployments = _raw(
                self.apps.list_deployment_for_all_namespaces(_preload_content=False)
            )["items"]
            for dep in deployments:
                self._reconcile_deployment(dep)
            apps = _raw(
                self.custom.list_cluster_custom_object(
                    "argoproj.io", "v1alpha1", "applications", _preload_content=False
                )
            )["items"]
            for app in apps:
                self._reconcile_application(app)

    # --- Deployments -----------------------------------------------------------------

    def _owned(self, dep: Obj) -> list[Obj]:
        ns = dep["metadata"]["namespace"]
        uid = dep["metadata"]["uid"]
        items = _raw(self.apps.list_namespaced_replica_set(ns, _preload_content=False))["items"]
        return [
            rs
            for rs in items
            if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences", []))
        ]

    def _patch_rs(self, rs: Obj, patch: Obj, status: bool = False) -> None:
        ns, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        fn = (
            self.apps.patch_namespaced_replica_set_status
            if status
            else self.apps.patch_namespaced_replica_set
        )
        fn(name, ns, patch, _content_type=MERGE, _preload_content=False)

    def _reconcile_deployment(self, dep: Obj) -> None:
        meta, spec = dep["metadata"], dep["spec"]
        ns, name = meta["namespace"], meta["name"]
        template = spec["template"]
        h = template_hash(template)
        desired = int(spec.get("replicas", 1))
        owned = self._owned(dep)
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned]
        top = max(revisions, default=0)
        new = next(
            (rs for rs in owned if rs["metadata"].get("labels", {}).get("pod-template-hash") == h),
            None,
        )
        if new is None:
            labels = {**template.get("metadata", {}).get("labels", {}), "pod-template-hash": h}
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {})["labels"] = labels
            body: Obj = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{name}-{h}",
                    "namespace": ns,
                    "labels": labels,
                    "annotations": {REVISION: str(top + 1)},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": meta["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "replicas": 0,
                    "selector": {
                        "matchLabels": {**spec["selector"]["matchLabels"], "pod-template-hash": h}
                    },
                    "template": rs_template,
                },
            }
            new = _raw(self.apps.create_namespaced_replica_set(ns, body, _preload_content=False))  # type: ignore[arg-type]
            owned.append(new)
        elif int(new["metadata"].get("annotations", {}).get(REVISION, "0")) < top:
            self._patch_rs(new, {"metadata": {"annotations": {REVISION: str(top + 1)}}})
            new["metadata"].setdefault("annotations", {})[REVISION] = str(top + 1)
        new_rev = new["metadata"]["annotations"][REVISION]
        if meta.get("annotations", {}).get(REVISION) != new_rev:
            self.apps.patch_namespaced_deployment(
                name,
                ns,
                {"metadata": {"annotations": {REVISION: new_rev}}},
                _content_type=MERGE,
                _preload_content=False,
            )

        # Scale: the new ReplicaSet to `desired`; old ones to 0 once it is available.
        new_avail = int(new.get("status", {}).get("availableReplicas", 0))
        if int(new["spec"].get("replicas", 0)) != desired:
            self._patch_rs(new, {"spec": {"replicas": desired}})
            new["spec"]["replicas"] = desired
        for rs in owned:
            if rs is new:
                continue
            if (new_avail >= desired or desired == 0) and int(rs["spec"].get("replicas", 0)):
                self._patch_rs(rs, {"spec": {"replicas": 0}})
                rs["spec"]["replicas"] = 0

        # "Pods": one more becomes ready per tick, unless the image cannot run here.
        for rs in owned:
            want = int(rs["spec"].get("replicas", 0))
            st = rs.get("status") or {}
            ready = int(st.get("readyReplicas", 0))
            images = {c.get("image") for c in rs["spec"]["template"]["spec"]["containers"]}
            can_run = not (images & self.unready_images)
            new_ready = min(want, ready + 1) if can_run else 0
            new_ready = min(new_ready, want)
            rs_status = {
                "replicas": want,
                "readyReplicas": new_ready,
                "availableReplicas": new_ready,
                "observedGeneration": int(rs["metadata"].get("generation", 1)),
            }
            if any(st.get(k) != v for k, v in rs_status.items()):
                self._patch_rs(rs, {"status": rs_status}, status=True)
                rs["status"] = rs_status

        replicas = sum(int(rs["status"].get("replicas", 0)) for rs in owned if rs.get("status"))
        available = sum(
            int(rs["status"].get("availableReplicas", 0)) for rs in owned if rs.get("status")
        )
        updated = int((new.get("status") or {}).get("replicas", 0))
        complete = updated == desired and available == desired and replicas == desired
        counts = (replicas, updated, available)
        key = (ns, name)
        last = self._progress.get(key)
        now = time.monotonic()
        if last is None or last[0] != h or last[2] != counts:
            self._progress[key] = (h, now, counts)
            last = self._progress[key]
        deadline = int(spec.get("progressDeadlineSeconds", 600))
        old_conds = {c["type"]: c for c in (dep.get("status") or {}).get("conditions", [])}
        rs_name = new["metadata"]["name"]
        if complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif self._exceeded.get(key) == h or now - last[1] > deadline:
            # Sticky for this rollout (template), as in the real controller.
            self._exceeded[key] = h
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        conditions = [
            {
                "type": "Available",
                "status": "True" if available >= desired else "False",
                "reason": "MinimumReplicasAvailable"
                if available >= desired
                else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if available >= desired
                else "Deployment does not have minimum availability.",
            },
            {
                "type": "Progressing",
                "status": progressing[0],
                "reason": progressing[1],
                "message": progressing[2],
            },
        ]
        for cond in conditions:
            old = old_conds.get(cond["type"])
            same = old and all(old.get(k) == cond[k] for k in ("status", "reason", "message"))
            cond["lastUpdateTime"] = old["lastUpdateTime"] if same and old else _now()
        status: Obj = {
            "observedGeneration": int(meta.get("generation", 1)),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": available,
            "availableReplicas": available,
            "unavailableReplicas": max(0, replicas - available),
            "conditions": conditions,
        }
        old_status = dep.get("status") or {}
        if any(old_status.get(k) != v for k, v in status.items()):
            self.apps.patch_namespaced_deployment_status(
                name, ns, {"status": status}, _content_type=MERGE, _preload_content=False
            )

    # --- Argo CD Applications ------------------------------------------------------------

    def _reconcile_application(self, app: Obj) -> None:
        meta = app["metadata"]
        ns, name = meta["namespace"], meta["name"]
        op = app.get("operation")
        status = app.get("status") or {}
        state = status.get("operationState") or {}
        if op:
            revision = op["sync"]["revision"]
            patch: Obj = {
                "operation": None,
                "status": {
                    "operationState": {
                        "operation": op,
                        "phase": "Running",
                        "startedAt": _now(),
                        "message": "one or more tasks are running",
                    },
                    "health": {"status": "Progressing"},
                },
            }
            self._patch_app(ns, name, patch)
            return
        if state.get("phase") != "Running":
            return
        op = state["operation"]
        revision = op["sync"]["revision"]
        if revision in self.argo_hang_revisions:
            self._patch_app(
                ns,
                name,
                {
                    "status": {
                        "operationState": {
                            **state,
                            "message": f"waiting for healthy state of apps/Deployment/{name}",
                        },
                        "health": {
                            "status": "Progressing",
                            "message": f'Deployment "{name}" exceeded its progress deadline',
                        },
                    }
                },
            )
            return
        sha = hashlib.sha1(revision.encode()).hexdigest() if len(revision) != 40 else revision
        if revision in self.argo_fail_revisions:
            self._patch_app(
                ns,
                name,
                {
                    "status": {
                        "operationState": {
                            **state,
                            "phase": "Failed",
                            "finishedAt": _now(),
                            "message": "one or more objects failed to apply, reason: Deployment.apps "
                            f'"{name}" is invalid: spec.template.spec.containers[0].image: Required value',
                            "syncResult": {
                                "revision": sha,
                                "resources": [
                                    {
                                        "kind": "Deployment",
                                        "name": name,
                                        "namespace": ns,
                                        "status": "SyncFailed",
                                        "message": "spec.template.spec.containers[0].image: Required value",
                                    }
                                ],
                            },
                        },
                        "sync": {"status": "OutOfSync", "revision": sha},
                        "health": {"status": "Healthy"},
                    }
                },
            )
            return
        self._patch_app(
            ns,
            name,
            {
                "status": {
                    "operationState": {
                        **state,
                        "phase": "Succeeded",
                        "finishedAt": _now(),
                        "message": "successfully synced (all tasks run)",
                        "syncResult": {"revision": sha},
                    },
                    "sync": {"status": "Synced", "revision": sha},
                    "health": {"status": "Healthy"},
                }
            },
        )

    def _patch_app(self, ns: str, name: str, patch: Obj) -> None:
        self.custom.patch_namespaced_custom_object(
            "argoproj.io",
            "v1alpha1",
            ns,
            "applications",
            name,
            patch,
            _content_type=MERGE,
            _preload_content=False,
        )
