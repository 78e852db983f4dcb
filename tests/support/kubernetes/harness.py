"""Test harness: the same tests against the kmock emulator or a real cluster.

`KubeEnv` gives each test two clusters, "east" and "west":

- emulator mode (default): two `ClusterEmulator`s, each with its own
  `FakeControllers` thread; namespace "shop" in both.
- real mode (`ROLLWAY_KUBE_REAL=1` or `--kube-real`): the current kubeconfig
  context (or ROLLWAY_KUBE_CONTEXT_EAST / _WEST), with a fresh namespace per
  cluster that is deleted afterwards.

The platform's API clients record every request (`RecordingApiClient`), so tests
assert the exact writes in both modes.
"""

from __future__ import annotations

import copy
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from rollway.platform.base import Platform, Target
from rollway.platform.kubernetes import ClusterConfig, KubernetesPlatform, KubernetesPlatformConfig
from rollway.platform.kubernetes.client import (
    APPLICATION,
    DEPLOYMENT,
    HTTPROUTE,
    SERVICE,
    Kind,
    KubeClient,
    Obj,
    destination_rule_kind,
    virtual_service_kind,
)
from tests.support.kubernetes.controllers import FakeControllers
from tests.support.kubernetes.emulator import EmulatorThread

VIRTUALSERVICE = virtual_service_kind("v1")
DESTINATIONRULE = destination_rule_kind("v1")
__all__ = [
    "APPLICATION",
    "DEPLOYMENT",
    "DESTINATIONRULE",
    "HTTPROUTE",
    "SERVICE",
    "VIRTUALSERVICE",
    "Call",
    "KubeEnv",
    "TestCluster",
]


@dataclass
class Call:
    """One HTTP request the platform made."""

    method: str
    path: str
    query: str
    body: Any
    status: int = 0

    @property
    def is_write(self) -> bool:
        return self.method != "GET"

    @property
    def rbac(self) -> tuple[str, str, str]:
        """(verb, apiGroup, resource) as an RBAC rule names this request."""
        parts = self.path.strip("/").split("/")
        if parts[0] == "api":
            group, rest = "", parts[2:]
        else:
            group, rest = parts[1], parts[3:]
        if rest and rest[0] == "namespaces" and len(rest) > 2:
            rest = rest[2:]
        plural = rest[0]
        named = len(rest) > 1
        verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(
            self.method, "get" if named else "list"
        )
        return verb, group, plural

    @property
    def resource(self) -> str:
        """`plural/name` (or `plural`) of the request path, e.g. `deployments/shop-canary`."""
        parts = self.path.strip("/").split("/")
        if "namespaces" in parts:
            parts = parts[parts.index("namespaces") + 2 :]
        return "/".join(parts)


class RecordingApiClient(k8s.ApiClient):
    """An ApiClient that records requests and can run a hook before the next write."""

    def __init__(self, configuration: k8s.Configuration) -> None:
        super().__init__(configuration)
        self.calls: list[Call] = []
        self.before_write: Callable[[Call], bool] | None = None

    def call_api(
        self,
        method: str,
        url: str,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> Any:
        parts = urlsplit(url)
        call = Call(method.upper(), parts.path, parts.query, copy.deepcopy(body))
        self.calls.append(call)
        if call.is_write and self.before_write is not None and self.before_write(call):
            self.before_write = None  # the hook ran its course
        response = super().call_api(
            method,
            url,
            header_params=header_params,
            body=body,
            post_params=post_params,
            _request_timeout=_request_timeout,
        )
        call.status = int(response.status)
        return response

    def writes(self, since: int = 0, *, failed: bool = False) -> list[Call]:
        """Successful writes since a mark (with `failed`: the rejected ones too)."""
        return [c for c in self.calls[since:] if c.is_write and (failed or 200 <= c.status < 300)]


@dataclass
class Images:
    v1: str
    v2: str
    v3: str
    broken: str


EMULATOR_IMAGES = Images(
    v1="registry.example.com/shop@sha256:" + "1" * 64,
    v2="registry.example.com/shop@sha256:" + "2" * 64,
    v3="registry.example.com/shop@sha256:" + "3" * 64,
    broken="registry.invalid/shop@sha256:" + "d" * 64,
)
REAL_IMAGES = Images(
    v1=os.environ.get("ROLLWAY_KUBE_IMAGE_V1", "registry.k8s.io/pause:3.9"),
    v2=os.environ.get("ROLLWAY_KUBE_IMAGE_V2", "registry.k8s.io/pause:3.10"),
    v3=os.environ.get("ROLLWAY_KUBE_IMAGE_V3", "registry.k8s.io/pause:3.8"),
    broken="registry.invalid/rollway/broken:1",
)


@dataclass
class TestCluster:
    """One cluster as the tests see it."""

    __test__ = False

    name: str
    namespace: str
    api: RecordingApiClient
    admin: k8s.ApiClient
    argocd_namespace: str
    emulator: EmulatorThread | None = None
    controllers: FakeControllers | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def kube(self) -> KubeClient:
        """An unrestricted client for reading state and creating fixtures."""
        return KubeClient(
            self.admin,
            cluster=self.name,
            retries=2,
            backoff_s=0.05,
            allowed_namespaces=[self.namespace, self.argocd_namespace],
        )

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        obj = self.kube.get(kind, namespace or self.namespace, name)
        assert obj is not None, f"{kind.kind} {name} does not exist on {self.name}"
        return obj

    def exists(self, kind: Kind, name: str) -> bool:
        return self.kube.get(kind, self.namespace, name) is not None

    def create(self, kind: Kind, body: Obj, namespace: str | None = None) -> Obj:
        ns = namespace or self.namespace
        name = body["metadata"]["name"]
        result = self.kube.apply(kind, ns, name, lambda cur: copy.deepcopy(body))
        assert result is not None
        return result

    def patch(self, kind: Kind, name: str, patch: Obj) -> None:
        def build(cur: Obj | None) -> Obj:
            assert cur is not None
            from kmock._internal.dicts import patch_dict

            return dict(patch_dict(cur, patch))

        self.kube.apply(kind, self.namespace, name, build)

    def mark(self) -> int:
        return len(self.api.calls)

    def writes(self, since: int = 0, *, failed: bool = False) -> list[Call]:
        return self.api.writes(since, failed=failed)


class KubeEnv:
    """Two clusters, images, and platform/config builders for one test."""

    def __init__(self, real: bool) -> None:
        self.real = real
        self.images = REAL_IMAGES if real else EMULATOR_IMAGES
        self.clusters: dict[str, TestCluster] = {}
        self.argocd_namespace = os.environ.get("ROLLWAY_KUBE_ARGOCD_NS", "argocd")
        self.timeout_s = 180.0 if real else 20.0

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> KubeEnv:
        suffix = uuid.uuid4().hex[:6]
        for name in ("east", "west"):
            if self.real:
                self.clusters[name] = self._real_cluster(name, f"rollway-e2e-{suffix}-{name}")
            else:
                self.clusters[name] = self._emulated_cluster(name)
        return self

    def stop(self) -> None:
        # Reverse order: kmock's servers patch aiohttp's resolver and must exit LIFO.
        for cluster in reversed(self.clusters.values()):
            for fn in reversed(cluster.cleanup):
                try:
                    fn()
                except Exception as exc:  # cleanup must not hide the test's result
                    print(f"cleanup on {cluster.name} failed: {exc}")

    def _emulated_cluster(self, name: str) -> TestCluster:
        server = EmulatorThread(name).start()
        cfg = k8s.Configuration()
        cfg.host = server.url
        api = RecordingApiClient(cfg)
        admin_cfg = k8s.Configuration()
        admin_cfg.host = server.url
        admin = k8s.ApiClient(admin_cfg)
        controllers = FakeControllers(k8s.ApiClient(admin_cfg), name)
        controllers.unready_images.add(EMULATOR_IMAGES.broken)  # an image that cannot start
        controllers.start()
        cluster = TestCluster(name, "shop", api, admin, self.argocd_namespace, server, controllers)
        cluster.cleanup += [server.stop, controllers.stop]
        return cluster

    def _real_cluster(self, name: str, namespace: str) -> TestCluster:
        context = os.environ.get(f"ROLLWAY_KUBE_CONTEXT_{name.upper()}") or None
        admin: k8s.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            context=context
        )
        cfg = copy.copy(admin.configuration)
        api = RecordingApiClient(cfg)
        core = k8s.CoreV1Api(admin)
        core.create_namespace(
            {
                "metadata": {  # type: ignore[arg-type]
                    "name": namespace,
                    "labels": {"rollway.dev/e2e": "true"},
                }
            }
        )
        cluster = TestCluster(name, namespace, api, admin, self.argocd_namespace)

        def delete() -> None:
            core.delete_namespace(namespace)

        cluster.cleanup.append(delete)
        return cluster

    # --- platform ---------------------------------------------------------------------

    def config(
        self, clusters: tuple[str, ...] = ("east",), **overrides: Any
    ) -> KubernetesPlatformConfig:
        east = self.clusters["east"]
        namespaces = [c.namespace for c in self.clusters.values()]
        values: dict[str, Any] = {
            "namespace": east.namespace,
            "allowed_namespaces": sorted({*namespaces, self.argocd_namespace}),
            "replicas": 4,
            "progress_deadline": "120s" if self.real else "30s",
            "poll_interval": "50ms",
            "api_backoff": "10ms",
            "api_retries": 3,
            "clusters": [
                ClusterConfig(name=n, context=n, namespace=self.clusters[n].namespace)
                for n in clusters
            ],
        }
        values.update(overrides)
        return KubernetesPlatformConfig.model_validate(values)

    def factory(self, cluster: ClusterConfig | None) -> k8s.ApiClient:
        assert cluster is not None, "tests always name their clusters"
        return self.clusters[cluster.name].api

    def platform(self, config: KubernetesPlatformConfig) -> KubernetesPlatform:
        return KubernetesPlatform(config, self.factory)

    @staticmethod
    def target(cluster: str | None = None, service: str = "shop") -> Target:
        return Target(service=service, environment="prod", cluster=cluster)

    def fail_new_pods(self, cluster: str, image: str, keep_pods: int) -> None:
        """Make new pods of `image` never become ready on one cluster.

        Emulator: the fake controller marks the image unready. Real cluster: a
        ResourceQuota caps the namespace at its current `keep_pods` pods, so the
        new ReplicaSet cannot create any and the rollout times out.
        """
        c = self.clusters[cluster]
        if c.controllers is not None:
            c.controllers.unready_images.add(image)
            return
        k8s.CoreV1Api(c.admin).create_namespaced_resource_quota(
            c.namespace,
            {  # type: ignore[arg-type]
                "metadata": {"name": "no-new-pods"},
                "spec": {"hard": {"pods": str(keep_pods)}},
            },
        )

    # --- real-mode helpers ------------------------------------------------------------

    def has_api(self, cluster: str, group_version: str, plural: str) -> bool:
        """Whether the (real) cluster serves a resource; always True on the emulator."""
        if not self.real:
            return True
        group, version = group_version.split("/")
        try:
            resources = k8s.CustomObjectsApi(self.clusters[cluster].admin).get_api_resources(
                group, version
            )
        except k8s.ApiException:
            return False
        return any(r.name == plural for r in resources.resources)

    def restricted_api(self, cluster: TestCluster, rules: list[Obj]) -> RecordingApiClient:
        """Real mode: an ApiClient impersonating a service account bound to `rules` only."""
        ns = cluster.namespace
        rbac = k8s.RbacAuthorizationV1Api(cluster.admin)
        core = k8s.CoreV1Api(cluster.admin)
        sa: Any = {"metadata": {"name": "rollway-limited"}}
        role: Any = {"metadata": {"name": "rollway-limited"}, "rules": rules}
        core.create_namespaced_service_account(ns, sa)
        rbac.create_namespaced_role(ns, role)
        binding: Any = {
            "metadata": {"name": "rollway-limited"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "rollway-limited",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "rollway-limited", "namespace": ns}],
        }
        rbac.create_namespaced_role_binding(ns, binding)
        api = RecordingApiClient(copy.copy(cluster.admin.configuration))
        api.set_default_header(
            "Impersonate-User",  # type: ignore[no-untyped-call]
            f"system:serviceaccount:{ns}:rollway-limited",
        )
        return api


def establish(
    platform: Platform, target: Target, version: str, image: str, timeout_s: float = 60.0
) -> None:
    """Deploy, wait and promote `version`: the starting point of most tests."""
    from rollway.platform.base import DeployRequest, no_heartbeat

    platform.deploy(DeployRequest(target=target, version=version, artifact=image))
    platform.wait_ready(target, version, timeout_s, no_heartbeat)
    platform.promote(target)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def env_iter(real: bool) -> Iterator[KubeEnv]:
    env = KubeEnv(real).start()
    try:
        yield env
    finally:
        env.stop()
