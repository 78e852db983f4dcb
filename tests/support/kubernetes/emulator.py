"""kmock's `KubernetesEmulator`, taught the API-server behaviour Rollway relies on.

kmock stores objects and serves get/list/create/merge-patch/delete. This subclass
adds what a real API server does and kmock does not:

- metadata: uid, resourceVersion (bumped on every change), generation (bumped on
  spec changes only), creationTimestamp;
- optimistic concurrency: a patch carrying a stale `metadata.resourceVersion` -> 409;
- status subresources: PATCH /status changes only `status`; PATCH on the object
  ignores `status` (for kinds that have the subresource);
- `labelSelector` on lists (equality-based);
- only JSON merge patches are accepted (415 otherwise), so a strategic-merge or
  JSON patch sent by mistake cannot pass silently;
- RBAC denials (403 with the API server's message) and injected faults (429/5xx).

It runs in a background thread with its own event loop (`EmulatorThread`), so
the synchronous `kubernetes` client (and a controller thread) can talk to it.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import attrs
import kmock
from kmock._internal import dicts as kmock_dicts
from kmock._internal import rendering

STATUS_SUBRESOURCE = {"deployments", "replicasets", "services", "httproutes"}
"""Kinds whose `status` is written only through /status (Argo CD Applications: not)."""

KEEP_REQUESTS = 20

RESOURCES = [
    "v1/services",
    "apps/v1/deployments",
    "apps/v1/replicasets",
    "gateway.networking.k8s.io/v1/httproutes",
    "networking.istio.io/v1/virtualservices",
    "networking.istio.io/v1/destinationrules",
    "argoproj.io/v1alpha1/applications",
]


@dataclass
class Fault:
    """Fail the next `times` requests matching verb and resource with `status`."""

    verb: str
    plural: str
    status: int
    times: int = 1


def kube_verb(request: rendering.Request) -> str:
    """The RBAC verb of a request, as the API server's authorizer names it."""
    method = str(getattr(request.method, "value", request.method)).upper()
    if method == "GET":
        if request.params.get("watch") == "true":
            return "watch"
        return "get" if request.name else "list"
    return {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(
        method, method.lower()
    )


def _match_selector(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """A `KubernetesEmulator` with resource versions, generations, 409s, RBAC and faults."""

    user: str = "system:serviceaccount:rollway:rollway"
    denied: set[tuple[str, str]] = attrs.field(factory=set)
    faults: list[Fault] = attrs.field(factory=list)
    _rv: int = attrs.field(default=1000, init=False)
    _guard: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for resource in RESOURCES:
            self.resources[resource] = kmock.ResourceInfo(namespaced=True)

    # --- test controls (called from the test thread) -----------------------------------

    def deny(self, verb: str, plural: str) -> None:
        with self._guard:
            self.denied.add((verb, plural))

    def inject(self, verb: str, plural: str, status: int, times: int = 1) -> None:
        with self._guard:
            self.faults.append(Fault(verb, plural, status, times))

    # --- request handling ---------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    async def _handle(self, request: rendering.Request) -> Any:
        # kmock matches each request against every request seen so far (O(n) per request);
        # the tests record requests client-side, so keep only the recent ones here.
        del self._requests[:-KEEP_REQUESTS]
        if request.resource is not None and request.resource.plural:
            verb = kube_verb(request)
            plural = str(request.resource.plural)
            group = str(request.resource.group or "")
            with self._guard:
                denied = (verb, plural) in self.denied
                fault = next(
                    (
                        f
                        for f in self.faults
                        if f.verb == verb and f.plural == plural and f.times > 0
                    ),
                    None,
                )
                if fault is not None:
                    fault.times -= 1
            if denied:
                what = f"{plural}.{group}" if group else plural
                name = f' "{request.name}"' if request.name else ""
                raise kmock.KubernetesError(
                    status=403,
                    reason="Forbidden",
                    message=f'{what}{name} is forbidden: User "{self.user}" cannot {verb} '
                    f'resource "{plural}" in API group "{group}" in the namespace '
                    f'"{request.namespace}"',
                    details={"name": request.name, "group": group, "kind": plural},
                )
            if fault is not None:
                reason = "TooManyRequests" if fault.status == 429 else "InternalError"
                raise kmock.KubernetesError(
                    status=fault.status,
                    reason=reason,
                    message=f"injected {fault.status}",
                    details={},
                )
            if verb == "update":
                raise kmock.KubernetesError(
                    status=405,
                    reason="MethodNotAllowed",
                    message="this emulator does not implement PUT",
                )
            if request.action == kmock.action.CREATE:
                self._prepare_create(request)
            elif request.action == kmock.action.UPDATE:
                self._prepare_patch(request, plural, group)
        return await super()._handle(request)

    def _prepare_create(self, request: rendering.Request) -> None:
        data = request.data
        if not isinstance(data, dict):
            raise kmock.KubernetesError(status=400, reason="BadRequest", message="not an object")
        meta = data.setdefault("metadata", {})
        if request.namespace:
            meta["namespace"] = request.namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta["resourceVersion"] = self._next_rv()
        meta["generation"] = 1
        meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )

    def _prepare_patch(self, request: rendering.Request, plural: str, group: str) -> None:
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != "application/merge-patch+json":
            raise kmock.KubernetesError(
                status=415,
                reason="UnsupportedMediaType",
                message=f"this emulator applies JSON merge patches only, got '{content_type}'",
            )
        data = request.data
        if not isinstance(data, dict):
            raise kmock.KubernetesError(status=400, reason="BadRequest", message="not an object")
        key: Any = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return  # kmock answers 404
        current = copy.deepcopy(self.objects[key].raw)
        cur_meta = current.get("metadata") or {}
        wanted_rv = (data.get("metadata") or {}).get("resourceVersion")
        if wanted_rv is not None and str(wanted_rv) != str(cur_meta.get("resourceVersion")):
            what = f"{plural}.{group}" if group else plural
            raise kmock.KubernetesError(
                status=409,
                reason="Conflict",
                message=f'Operation cannot be fulfilled on {what} "{request.name}": the object '
                "has been modified; please apply your changes to the latest version and try again",
                details={"name": request.name, "group": group, "kind": plural},
            )
        if plural in STATUS_SUBRESOURCE:
            if request.subresource == "status":
                for k in list(data):
                    if k not in ("status", "metadata"):
                        del data[k]
                data["metadata"] = {}
            else:
                data.pop("status", None)
        merged = dict(kmock_dicts.patch_dict(copy.deepcopy(current), data))
        meta = data.setdefault("metadata", {})
        if _strip(merged) == _strip(current):
            meta["resourceVersion"] = cur_meta.get("resourceVersion")
            return
        meta["resourceVersion"] = self._next_rv()
        if merged.get("spec") != current.get("spec"):
            meta["generation"] = int(cur_meta.get("generation") or 1) + 1

    async def _serve_list(self, request: rendering.Request) -> Any:
        result = await super()._serve_list(request)
        selector = request.params.get("labelSelector")
        if selector and isinstance(result, dict):
            result["items"] = [
                i
                for i in result["items"]
                if _match_selector(((i.get("metadata") or {}).get("labels") or {}), selector)
            ]
        return result


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    (obj.get("metadata") or {}).pop("resourceVersion", None)
    return obj


class EmulatorThread:
    """A `ClusterEmulator` served over HTTP from a background thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.emulator: ClusterEmulator | None = None
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"kmock-{name}", daemon=True)

    def start(self) -> EmulatorThread:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"emulator {self.name} did not start: {self._error!r}")
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with ClusterEmulator() as emulator, kmock.Server(emulator) as server:
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
