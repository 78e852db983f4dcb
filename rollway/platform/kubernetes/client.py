"""A thin, safe layer over the official client: raw dicts, retries, RBAC-aware errors.

Every write goes through `KubeClient.apply`: read, build the desired object
from the current one, compare, and send only the difference as a JSON merge
patch carrying `metadata.resourceVersion` (an optimistic-concurrency
precondition). A 409 re-reads and rebuilds. 429/5xx/network errors retry with
backoff; 401/403/404 fail at once, naming the object and the RBAC verb.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s

from rollway.platform.base import PlatformError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
"""A Kubernetes object as the API server returns it (camelCase JSON)."""

FIELD_MANAGER = "rollway"
MERGE_PATCH = "application/merge-patch+json"
CONFLICT_RETRIES = 8


@dataclass(frozen=True)
class Kind:
    """An API resource: group, version, plural (what RBAC rules name) and kind."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """`plural.group` as kubectl and RBAC errors print it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


DEPLOYMENT = Kind("apps", "v1", "deployments", "Deployment")
REPLICASET = Kind("apps", "v1", "replicasets", "ReplicaSet")
SERVICE = Kind("", "v1", "services", "Service")
HTTPROUTE = Kind("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")
APPLICATION = Kind("argoproj.io", "v1alpha1", "applications", "Application")


def virtual_service_kind(version: str) -> Kind:
    return Kind("networking.istio.io", version, "virtualservices", "VirtualService")


def destination_rule_kind(version: str) -> Kind:
    return Kind("networking.istio.io", version, "destinationrules", "DestinationRule")


class _Conflict(Exception):
    """409: the object changed since it was read (or already exists, on create)."""


_SERVER_META = (
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)


def merge_patch(current: Obj, desired: Obj) -> Obj:
    """The JSON merge patch (RFC 7386) turning `current` into `desired`.

    `status` and server-managed metadata are ignored; lists are replaced whole
    (as merge patch does). Empty result = nothing to write.
    """

    def diff(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            out: Obj = {}
            for key in b:
                if key not in a:
                    out[key] = b[key]
                else:
                    d = diff(a[key], b[key])
                    if d is not _SAME:
                        out[key] = d
            for key in a:
                if key not in b:
                    out[key] = None
            return out if out else _SAME
        return _SAME if a == b else b

    a = {k: v for k, v in current.items() if k != "status"}
    b = {k: v for k, v in desired.items() if k != "status"}
    for obj in (a, b):
        if isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in _SERVER_META}
    result = diff(a, b)
    return {} if result is _SAME else dict(result)


_SAME: Any = object()


def _server_message(exc: k8s.ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return (exc.body or exc.reason or "").strip()[:300]
    if isinstance(body, dict):
        return str(body.get("message") or exc.reason or "")[:300]
    return str(exc.reason or "")


class KubeClient:
    """CRUD on raw dicts for one cluster, with retries and a namespace guard."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        *,
        cluster: str,
        allowed_namespaces: Collection[str],
        retries: int = 5,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_client = api_client
        self.cluster = cluster
        self.allowed_namespaces = frozenset(allowed_namespaces)
        self._retries = retries
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._core = k8s.CoreV1Api(api_client)
        self._apps = k8s.AppsV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)

    # --- reads -----------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        """The object, or None if it does not exist."""
        return self._call(
            "get", kind, namespace, name, lambda: self._read(kind, namespace, name), missing_ok=True
        )

    def require(self, kind: Kind, namespace: str, name: str, hint: str = "") -> Obj:
        """The object; a non-retryable error naming it (and `hint`) if it does not exist."""
        obj = self.get(kind, namespace, name)
        if obj is None:
            raise PlatformError(
                f"{kind.kind} '{name}' not found in namespace '{namespace}' on {self._where()}"
                + (f": {hint}" if hint else ""),
                retryable=False,
            )
        return obj

    def list(self, kind: Kind, namespace: str, label_selector: str = "") -> list[Obj]:
        result = self._call(
            "list", kind, namespace, "", lambda: self._list(kind, namespace, label_selector)
        )
        assert result is not None
        items = result.get("items") or []
        return [i for i in items if isinstance(i, dict)]

    # --- writes ----------------------------------------------------------------------

    def apply(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        build: Callable[[Obj | None], Obj | None],
    ) -> Obj | None:
        """Make the object equal to `build(current)`: create, patch the difference, or nothing.

        `build` gets a deep copy of the current object (None if absent) and returns
        the desired object, or None to leave things as they are. It is called again
        after a 409. Returns the object after the write (or as it was).
        """
        for _ in range(CONFLICT_RETRIES):
            current = self.get(kind, namespace, name)
            desired = build(copy.deepcopy(current) if current is not None else None)
            if desired is None:
                return current
            try:
                if current is None:
                    desired.setdefault("apiVersion", kind.api_version)
                    desired.setdefault("kind", kind.kind)
                    meta = desired.setdefault("metadata", {})
                    meta["name"], meta["namespace"] = name, namespace
                    return self._write("create", kind, namespace, name, desired)
                patch = merge_patch(current, desired)
                if not patch:
                    return current
                patch.setdefault("metadata", {})["resourceVersion"] = current.get(
                    "metadata", {}
                ).get("resourceVersion")
                return self._write("patch", kind, namespace, name, patch)
            except _Conflict:
                log.info(
                    "conflict on %s %s/%s (%s); re-reading",
                    kind.resource,
                    namespace,
                    name,
                    self._where(),
                )
                continue
        raise PlatformError(
            f"{kind.kind} '{name}' in namespace '{namespace}' on {self._where()} kept changing "
            f"under us ({CONFLICT_RETRIES} conflicts in a row); another controller may be "
            "fighting over it",
            retryable=True,
        )

    def _write(self, verb: str, kind: Kind, namespace: str, name: str, body: Obj) -> Obj:
        if namespace not in self.allowed_namespaces:
            raise PlatformError(
                f"refusing to {verb} {kind.resource} '{name}' in namespace '{namespace}' on "
                f"{self._where()}: not in allowed_namespaces {sorted(self.allowed_namespaces)}",
                retryable=False,
            )
        log.info("%s %s %s/%s on %s", verb, kind.resource, namespace, name, self._where())
        if verb == "create":
            fn: Callable[[], Any] = lambda: self._create(kind, namespace, body)  # noqa: E731
        else:
            fn = lambda: self._patch(kind, namespace, name, body)  # noqa: E731
        result = self._call(verb, kind, namespace, name, fn, conflict_raises=True)
        assert result is not None
        return result

    # --- error handling ----------------------------------------------------------------

    def _where(self) -> str:
        return f"cluster '{self.cluster}'"

    def _call(
        self,
        verb: str,
        kind: Kind,
        namespace: str,
        name: str,
        fn: Callable[[], Any],
        *,
        missing_ok: bool = False,
        conflict_raises: bool = False,
    ) -> Obj | None:
        what = f"{kind.resource} '{name}'" if name else kind.resource
        delay = self._backoff_s
        last = ""
        for attempt in range(self._retries + 1):
            try:
                response = fn()
                data = response.data
                return json.loads(data) if data else {}
            except k8s.ApiException as exc:
                status = int(exc.status or 0)
                message = _server_message(exc)
                if status == 404 and missing_ok:
                    return None
                if status == 409 and conflict_raises:
                    raise _Conflict(message) from exc
                if status == 401:
                    raise PlatformError(
                        f"401 Unauthorized: cannot {verb} {what} in namespace '{namespace}' on "
                        f"{self._where()}: the credentials were rejected (expired token or wrong "
                        f"kubeconfig context?). Server said: {message}",
                        retryable=False,
                    ) from exc
                if status == 403:
                    group = kind.group or '"" (core)'
                    raise PlatformError(
                        f"403 Forbidden: cannot {verb} {what} in namespace '{namespace}' on "
                        f"{self._where()}: grant RBAC verb '{verb}' on resource '{kind.plural}' "
                        f"in apiGroup {group} to Rollway's service account (see deploy/rbac/). "
                        f"Server said: {message}",
                        retryable=False,
                    ) from exc
                if status == 404:
                    raise PlatformError(
                        f"404 Not Found: cannot {verb} {what} in namespace '{namespace}' on "
                        f"{self._where()}: the object (or the {kind.kind} API, "
                        f"{kind.api_version}, if its CRD is not installed) does not exist. "
                        f"Server said: {message}",
                        retryable=False,
                    ) from exc
                if status == 429 or status >= 500:
                    last = f"{status} {exc.reason}: {message}"
                    retry_after = (exc.headers or {}).get("Retry-After") if exc.headers else None
                    wait = delay
                    if retry_after:
                        with contextlib.suppress(ValueError):
                            wait = max(wait, float(retry_after))
                    if attempt < self._retries:
                        log.warning(
                            "%s %s on %s: %s; retrying in %.2fs",
                            verb,
                            what,
                            self._where(),
                            last,
                            wait,
                        )
                        self._sleep(min(wait, 30.0))
                        delay = min(delay * 2, 30.0)
                        continue
                    raise PlatformError(
                        f"cannot {verb} {what} in namespace '{namespace}' on {self._where()}: "
                        f"{last} (after {self._retries} retries)",
                        retryable=True,
                    ) from exc
                raise PlatformError(
                    f"{status} {exc.reason}: cannot {verb} {what} in namespace '{namespace}' on "
                    f"{self._where()}: {message}",
                    retryable=False,
                ) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                if attempt < self._retries:
                    log.warning(
                        "%s %s on %s: %s; retrying in %.2fs", verb, what, self._where(), last, delay
                    )
                    self._sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                raise PlatformError(
                    f"cannot reach the API server of {self._where()} to {verb} {what}: {last}",
                    retryable=True,
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # --- dispatch to the official client ------------------------------------------------

    def _read(self, kind: Kind, namespace: str, name: str) -> Any:
        opts: dict[str, Any] = {"_preload_content": False}
        if kind == DEPLOYMENT:
            return self._apps.read_namespaced_deployment(name, namespace, **opts)
        if kind == SERVICE:
            return self._core.read_namespaced_service(name, namespace, **opts)
        if kind == REPLICASET:
            return self._apps.read_namespaced_replica_set(name, namespace, **opts)
        return self._custom.get_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, name, **opts
        )

    def _list(self, kind: Kind, namespace: str, label_selector: str) -> Any:
        opts: dict[str, Any] = {"_preload_content": False}
        if label_selector:
            opts["label_selector"] = label_selector
        if kind == DEPLOYMENT:
            return self._apps.list_namespaced_deployment(namespace, **opts)
        if kind == REPLICASET:
            return self._apps.list_namespaced_replica_set(namespace, **opts)
        if kind == SERVICE:
            return self._core.list_namespaced_service(namespace, **opts)
        return self._custom.list_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, **opts
        )

    def _create(self, kind: Kind, namespace: str, body: Obj) -> Any:
        opts: dict[str, Any] = {"_preload_content": False, "field_manager": FIELD_MANAGER}
        if kind == DEPLOYMENT:
            return self._apps.create_namespaced_deployment(namespace, body, **opts)  # type: ignore[arg-type]
        if kind == SERVICE:
            return self._core.create_namespaced_service(namespace, body, **opts)  # type: ignore[arg-type]
        return self._custom.create_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, body, **opts
        )

    def _patch(self, kind: Kind, namespace: str, name: str, body: Obj) -> Any:
        opts: dict[str, Any] = {
            "_preload_content": False,
            "field_manager": FIELD_MANAGER,
            "_content_type": MERGE_PATCH,
        }
        if kind == DEPLOYMENT:
            return self._apps.patch_namespaced_deployment(name, namespace, body, **opts)
        if kind == SERVICE:
            return self._core.patch_namespaced_service(name, namespace, body, **opts)
        return self._custom.patch_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, name, body, **opts
        )
